//! 3D pooling and upsampling as candle custom ops (forward and backward kernels, parallel over
//! the N*C planes, so the backward scatters have no races).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::error::Nn3dError;
use crate::storage::f32_slice;

fn dims5(what: &'static str, d: &[usize]) -> Result<[usize; 5]> {
    match d {
        [n, c, a, b, e] => Ok([*n, *c, *a, *b, *e]),
        _ => Err(Nn3dError::Rank {
            what,
            expected: 5,
            got: d.to_vec(),
        }
        .into()),
    }
}

fn prep(what: &'static str, x: &Tensor) -> Result<Tensor> {
    if x.dtype() != DType::F32 {
        return Err(Nn3dError::DType {
            what,
            got: x.dtype(),
        }
        .into());
    }
    dims5(what, x.dims())?;
    x.contiguous()
}

/// Pooling window geometry (cubic kernel, same stride and padding on all axes).
#[derive(Debug, Clone, Copy)]
struct Win {
    k: usize,
    s: usize,
    p: usize,
}

impl Win {
    fn out(&self, what: &'static str, d: [usize; 5]) -> Result<[usize; 5]> {
        if self.k == 0 || self.s == 0 || self.p * 2 > self.k {
            return Err(Nn3dError::Config {
                what,
                msg: format!(
                    "kernel {} and stride {} must be >= 1, padding {} at most half the kernel",
                    self.k, self.s, self.p
                ),
            }
            .into());
        }
        let mut o = d;
        for a in 2..5 {
            if d[a] + 2 * self.p < self.k {
                return Err(Nn3dError::TooSmall {
                    what,
                    size: [d[2], d[3], d[4]],
                    extent: [self.k; 3],
                    padding: self.p,
                }
                .into());
            }
            o[a] = (d[a] + 2 * self.p - self.k) / self.s + 1;
        }
        Ok(o)
    }
}

/// Calls `f(plane_index_in, (od, oh, ow), out_index, window)` style iteration: for each output
/// voxel of one plane, the flat input indices of its window (padding skipped).
#[inline]
fn for_window(
    w: Win,
    i: [usize; 3],
    o: [usize; 3],
    mut f: impl FnMut(usize, &mut dyn FnMut(&mut dyn FnMut(usize))),
) {
    let mut idx = 0;
    for od in 0..o[0] {
        for oh in 0..o[1] {
            for ow in 0..o[2] {
                let d0 = (od * w.s) as isize - w.p as isize;
                let h0 = (oh * w.s) as isize - w.p as isize;
                let w0 = (ow * w.s) as isize - w.p as isize;
                let mut visit = |g: &mut dyn FnMut(usize)| {
                    for a in d0.max(0)..(d0 + w.k as isize).min(i[0] as isize) {
                        for b in h0.max(0)..(h0 + w.k as isize).min(i[1] as isize) {
                            let base = (a as usize * i[1] + b as usize) * i[2];
                            for e in w0.max(0)..(w0 + w.k as isize).min(i[2] as isize) {
                                g(base + e as usize);
                            }
                        }
                    }
                };
                f(idx, &mut visit);
                idx += 1;
            }
        }
    }
}

/// Flat in-plane index of the maximum of the window of output voxel (od, oh, ow); NaN wins,
/// first maximum on ties (PyTorch); usize::MAX for an all-padding window.
#[inline]
fn argmax_at(xp: &[f32], w: Win, i: [usize; 3], od: usize, oh: usize, ow: usize) -> usize {
    let lo = |o: usize| (o * w.s) as isize - w.p as isize;
    let (d0, h0, w0) = (lo(od), lo(oh), lo(ow));
    let range =
        |a: isize, n: usize| (a.max(0) as usize)..((a + w.k as isize).min(n as isize) as usize);
    let mut best = usize::MAX;
    let mut bv = f32::NEG_INFINITY;
    for a in range(d0, i[0]) {
        for b in range(h0, i[1]) {
            let base = (a * i[1] + b) * i[2];
            for j in range(w0, i[2]).map(|e| base + e) {
                let v = xp[j];
                if best == usize::MAX || v > bv || (v.is_nan() && !bv.is_nan()) {
                    best = j;
                    bv = v;
                }
            }
        }
    }
    best
}

/// Calls `f(out_index, argmax)` for every output voxel of one plane.
#[inline]
fn for_argmax(xp: &[f32], w: Win, i: [usize; 3], o: [usize; 3], mut f: impl FnMut(usize, usize)) {
    let mut oi = 0;
    for od in 0..o[0] {
        for oh in 0..o[1] {
            for ow in 0..o[2] {
                f(oi, argmax_at(xp, w, i, od, oh, ow));
                oi += 1;
            }
        }
    }
}

/// relu(a + b) in one pass (residual connections), with backward.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dims() != b.dims() {
        return Err(Nn3dError::Config {
            what: "add_relu",
            msg: format!("shapes differ: {:?} and {:?}", a.dims(), b.dims()),
        }
        .into());
    }
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return Err(Nn3dError::DType {
            what: "add_relu",
            got: if a.dtype() != DType::F32 {
                a.dtype()
            } else {
                b.dtype()
            },
        }
        .into());
    }
    a.contiguous()?.apply_op2(&b.contiguous()?, AddReluOp)
}

struct AddReluOp;

impl CustomOp2 for AddReluOp {
    fn name(&self) -> &'static str {
        "add_relu"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = f32_slice("add_relu", s1, l1)?;
        let b = f32_slice("add_relu", s2, l2)?;
        let mut y = vec![0f32; a.len()];
        y.par_chunks_mut(1 << 16)
            .zip(a.par_chunks(1 << 16).zip(b.par_chunks(1 << 16)))
            .for_each(|(y, (a, b))| {
                for ((o, &p), &q) in y.iter_mut().zip(a).zip(b) {
                    *o = (p + q).max(0.0);
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = (gy * y.gt(0f32)?.to_dtype(DType::F32)?)?;
        Ok((a.track_op().then(|| g.clone()), b.track_op().then_some(g)))
    }
}

struct MaxPoolOp(Win);

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "max_pool3d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = dims5("max_pool3d", l.dims())?;
        let o = self.0.out("max_pool3d", d)?;
        let x = f32_slice("max_pool3d", s, l)?;
        let (si, so) = (d[2] * d[3] * d[4], o[2] * o[3] * o[4]);
        let mut y = vec![0f32; d[0] * d[1] * so];
        y.par_chunks_mut(so.max(1))
            .zip(x.par_chunks(si.max(1)))
            .for_each(|(yp, xp)| {
                for_argmax(
                    xp,
                    self.0,
                    [d[2], d[3], d[4]],
                    [o[2], o[3], o[4]],
                    |oi, j| {
                        yp[oi] = if j == usize::MAX {
                            f32::NEG_INFINITY
                        } else {
                            xp[j]
                        };
                    },
                )
            });
        Ok((CpuStorage::F32(y), Shape::from(o.to_vec())))
    }
    fn bwd(&self, x: &Tensor, _y: &Tensor, gy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(
            &gy.contiguous()?,
            &MaxPoolBwdOp(self.0),
        )?))
    }
}

struct MaxPoolBwdOp(Win);

impl CustomOp2 for MaxPoolBwdOp {
    fn name(&self) -> &'static str {
        "max_pool3d-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = dims5("max_pool3d", l1.dims())?;
        let o = self.0.out("max_pool3d", d)?;
        let x = f32_slice("max_pool3d", s1, l1)?;
        let gy = f32_slice("max_pool3d grad", s2, l2)?;
        let (si, so) = (d[2] * d[3] * d[4], o[2] * o[3] * o[4]);
        let mut gx = vec![0f32; x.len()];
        gx.par_chunks_mut(si.max(1))
            .zip(x.par_chunks(si.max(1)).zip(gy.par_chunks(so.max(1))))
            .for_each(|(gxp, (xp, gyp))| {
                for_argmax(
                    xp,
                    self.0,
                    [d[2], d[3], d[4]],
                    [o[2], o[3], o[4]],
                    |oi, j| {
                        if j != usize::MAX {
                            gxp[j] += gyp[oi];
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(gx), Shape::from(d.to_vec())))
    }
}

/// Window sums divided by `div` (average pooling with div = k^3; nearest-upsampling backward
/// with div = 1).
struct SumPoolOp {
    w: Win,
    div: f32,
}

impl SumPoolOp {
    fn run(&self, what: &'static str, x: &[f32], d: [usize; 5]) -> Result<(Vec<f32>, [usize; 5])> {
        let o = self.w.out(what, d)?;
        let (si, so) = (d[2] * d[3] * d[4], o[2] * o[3] * o[4]);
        let mut y = vec![0f32; d[0] * d[1] * so];
        let inv = 1.0 / self.div;
        y.par_chunks_mut(so.max(1))
            .zip(x.par_chunks(si.max(1)))
            .for_each(|(yp, xp)| {
                for_window(
                    self.w,
                    [d[2], d[3], d[4]],
                    [o[2], o[3], o[4]],
                    |oi, visit| {
                        let mut acc = 0f32;
                        visit(&mut |j| acc += xp[j]);
                        yp[oi] = acc * inv;
                    },
                )
            });
        Ok((y, o))
    }
}

impl CustomOp1 for SumPoolOp {
    fn name(&self) -> &'static str {
        "avg_pool3d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = dims5("avg_pool3d", l.dims())?;
        let x = f32_slice("avg_pool3d", s, l)?;
        let (y, o) = self.run("avg_pool3d", x, d)?;
        Ok((CpuStorage::F32(y), Shape::from(o.to_vec())))
    }
    fn bwd(&self, x: &Tensor, _y: &Tensor, gy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(gy.contiguous()?.apply_op1_no_bwd(&SpreadOp {
            w: self.w,
            scale: 1.0 / self.div,
            in_dims: dims5("avg_pool3d", x.dims())?,
        })?))
    }
}

/// Adjoint of `SumPoolOp`: each output gradient spread over its window times `scale`
/// (padding 0). Also the forward of nearest upsampling (window = scale, scale factor 1).
struct SpreadOp {
    w: Win,
    scale: f32,
    in_dims: [usize; 5],
}

impl CustomOp1 for SpreadOp {
    fn name(&self) -> &'static str {
        "spread3d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = self.in_dims;
        let o = self.w.out("spread3d", d)?;
        if dims5("spread3d", l.dims())? != o {
            return Err(Nn3dError::Config {
                what: "pool3d backward",
                msg: format!("gradient shape {:?} does not match {:?}", l.dims(), o),
            }
            .into());
        }
        let gy = f32_slice("spread3d", s, l)?;
        let (si, so) = (d[2] * d[3] * d[4], o[2] * o[3] * o[4]);
        let mut gx = vec![0f32; d[0] * d[1] * si];
        gx.par_chunks_mut(si.max(1))
            .zip(gy.par_chunks(so.max(1)))
            .for_each(|(gxp, gyp)| {
                for_window(
                    self.w,
                    [d[2], d[3], d[4]],
                    [o[2], o[3], o[4]],
                    |oi, visit| {
                        let v = gyp[oi] * self.scale;
                        visit(&mut |j| gxp[j] += v);
                    },
                )
            });
        Ok((CpuStorage::F32(gx), Shape::from(d.to_vec())))
    }
    fn bwd(&self, _x: &Tensor, _y: &Tensor, gy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(gy.contiguous()?.apply_op1_no_bwd(&SumPoolOp {
            w: self.w,
            div: 1.0 / self.scale,
        })?))
    }
}

/// Max pooling (cubic window, PyTorch `max_pool3d` with ceil_mode false; padding counts as
/// -inf and must be at most half the kernel).
pub fn max_pool3d(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
    let x = prep("max_pool3d", x)?;
    let w = Win {
        k: kernel,
        s: stride,
        p: padding,
    };
    w.out("max_pool3d", dims5("max_pool3d", x.dims())?)?;
    x.apply_op1(MaxPoolOp(w))
}

/// Average pooling without padding (PyTorch `avg_pool3d`, ceil_mode false).
pub fn avg_pool3d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let x = prep("avg_pool3d", x)?;
    let w = Win {
        k: kernel,
        s: stride,
        p: 0,
    };
    w.out("avg_pool3d", dims5("avg_pool3d", x.dims())?)?;
    x.apply_op1(SumPoolOp {
        w,
        div: kernel.pow(3) as f32,
    })
}

/// Global average pooling to [N, C, 1, 1, 1].
pub fn adaptive_avg_pool3d_1(x: &Tensor) -> Result<Tensor> {
    let d = dims5("adaptive_avg_pool3d", x.dims())?;
    if d[2] * d[3] * d[4] == 0 {
        return Err(Nn3dError::TooSmall {
            what: "adaptive_avg_pool3d",
            size: [d[2], d[3], d[4]],
            extent: [1; 3],
            padding: 0,
        }
        .into());
    }
    x.reshape((d[0], d[1], d[2] * d[3] * d[4]))?
        .mean_keepdim(2)?
        .reshape((d[0], d[1], 1, 1, 1))
}

/// Nearest-neighbour upsampling by an integer factor on all three axes.
pub fn upsample_nearest3d(x: &Tensor, scale: usize) -> Result<Tensor> {
    let x = prep("upsample_nearest3d", x)?;
    if scale == 0 {
        return Err(Nn3dError::Config {
            what: "upsample_nearest3d",
            msg: "scale must be >= 1".into(),
        }
        .into());
    }
    let d = dims5("upsample_nearest3d", x.dims())?;
    let out = [d[0], d[1], d[2] * scale, d[3] * scale, d[4] * scale];
    x.apply_op1(NearestOp { scale, out })
}

/// Nearest upsampling: the spread (adjoint of a window sum) with window = stride = scale.
struct NearestOp {
    scale: usize,
    out: [usize; 5],
}

impl CustomOp1 for NearestOp {
    fn name(&self) -> &'static str {
        "upsample_nearest3d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        SpreadOp {
            w: Win {
                k: self.scale,
                s: self.scale,
                p: 0,
            },
            scale: 1.0,
            in_dims: self.out,
        }
        .cpu_fwd(s, l)
    }
    fn bwd(&self, _x: &Tensor, _y: &Tensor, gy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(gy.contiguous()?.apply_op1_no_bwd(&SumPoolOp {
            w: Win {
                k: self.scale,
                s: self.scale,
                p: 0,
            },
            div: 1.0,
        })?))
    }
}

/// Source indices and weights of linear interpolation along one axis (align_corners=false),
/// exactly as PyTorch computes them in f32.
fn lin_coeffs(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale = n_in as f32 / n_out as f32;
    (0..n_out)
        .map(|o| {
            let src = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src as usize).min(n_in - 1);
            let i1 = if i0 < n_in - 1 { i0 + 1 } else { i0 };
            let l1 = src - i0 as f32;
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

struct TrilinearOp {
    out: [usize; 3],
}

struct TrilinearBwdOp {
    in_dims: [usize; 5],
}

type Coeffs = [Vec<(usize, usize, f32, f32)>; 3];

fn tri_coeffs(i: [usize; 3], o: [usize; 3]) -> Coeffs {
    [
        lin_coeffs(i[0], o[0]),
        lin_coeffs(i[1], o[1]),
        lin_coeffs(i[2], o[2]),
    ]
}

/// Visits the 8 (index, weight) pairs of every output voxel of one plane.
#[inline]
fn tri_visit(c: &Coeffs, i: [usize; 3], mut f: impl FnMut(usize, [(usize, f32); 8])) {
    let mut oi = 0;
    for &(d0, d1, a0, a1) in &c[0] {
        for &(h0, h1, b0, b1) in &c[1] {
            for &(w0, w1, e0, e1) in &c[2] {
                let idx = |d: usize, h: usize, w: usize| (d * i[1] + h) * i[2] + w;
                f(
                    oi,
                    [
                        (idx(d0, h0, w0), a0 * b0 * e0),
                        (idx(d0, h0, w1), a0 * b0 * e1),
                        (idx(d0, h1, w0), a0 * b1 * e0),
                        (idx(d0, h1, w1), a0 * b1 * e1),
                        (idx(d1, h0, w0), a1 * b0 * e0),
                        (idx(d1, h0, w1), a1 * b0 * e1),
                        (idx(d1, h1, w0), a1 * b1 * e0),
                        (idx(d1, h1, w1), a1 * b1 * e1),
                    ],
                );
                oi += 1;
            }
        }
    }
}

impl CustomOp1 for TrilinearOp {
    fn name(&self) -> &'static str {
        "upsample_trilinear3d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = dims5("upsample_trilinear3d", l.dims())?;
        let x = f32_slice("upsample_trilinear3d", s, l)?;
        let i = [d[2], d[3], d[4]];
        let c = tri_coeffs(i, self.out);
        let (si, so) = (i[0] * i[1] * i[2], self.out.iter().product::<usize>());
        let mut y = vec![0f32; d[0] * d[1] * so];
        y.par_chunks_mut(so.max(1))
            .zip(x.par_chunks(si.max(1)))
            .for_each(|(yp, xp)| {
                tri_visit(&c, i, |oi, taps| {
                    yp[oi] = taps.iter().map(|&(j, w)| w * xp[j]).sum();
                })
            });
        let [a, b, e] = self.out;
        Ok((CpuStorage::F32(y), Shape::from((d[0], d[1], a, b, e))))
    }
    fn bwd(&self, x: &Tensor, _y: &Tensor, gy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(gy.contiguous()?.apply_op1_no_bwd(
            &TrilinearBwdOp {
                in_dims: dims5("upsample_trilinear3d", x.dims())?,
            },
        )?))
    }
}

impl CustomOp1 for TrilinearBwdOp {
    fn name(&self) -> &'static str {
        "upsample_trilinear3d-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = self.in_dims;
        let od = dims5("upsample_trilinear3d grad", l.dims())?;
        let gy = f32_slice("upsample_trilinear3d grad", s, l)?;
        let i = [d[2], d[3], d[4]];
        let o = [od[2], od[3], od[4]];
        let c = tri_coeffs(i, o);
        let (si, so) = (i[0] * i[1] * i[2], o[0] * o[1] * o[2]);
        let mut gx = vec![0f32; d[0] * d[1] * si];
        gx.par_chunks_mut(si.max(1))
            .zip(gy.par_chunks(so.max(1)))
            .for_each(|(gxp, gyp)| {
                tri_visit(&c, i, |oi, taps| {
                    for (j, w) in taps {
                        gxp[j] += w * gyp[oi];
                    }
                })
            });
        Ok((CpuStorage::F32(gx), Shape::from(d.to_vec())))
    }
}

/// Trilinear upsampling to `size` = [D, H, W] (align_corners=false, PyTorch semantics).
pub fn upsample_trilinear3d(x: &Tensor, size: [usize; 3]) -> Result<Tensor> {
    let x = prep("upsample_trilinear3d", x)?;
    let d = dims5("upsample_trilinear3d", x.dims())?;
    if size.contains(&0) || d[2] * d[3] * d[4] == 0 {
        return Err(Nn3dError::Config {
            what: "upsample_trilinear3d",
            msg: format!("input {:?} and output size {size:?} must be non-empty", d),
        }
        .into());
    }
    x.apply_op1(TrilinearOp { out: size })
}
