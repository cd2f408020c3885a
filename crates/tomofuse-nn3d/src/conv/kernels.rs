//! The three convolution kernels on raw f32 slices: forward, input gradient (also the
//! transposed convolution's forward) and weight gradient, over depth tiles of im2col columns.

use rayon::prelude::*;

pub(super) use crate::storage::SyncPtr;

use crate::error::Nn3dError;

/// Target size of one column tile in f32 elements (1 MiB): each thread builds its tile and
/// multiplies it while it is still in its L2 cache.
const COL_TILE_ELEMS: usize = 256 * 1024;

/// Full geometry of one convolution, in the forward direction (x -> y).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geom {
    pub(super) n: usize,
    pub(super) cin: usize,
    pub(super) cout: usize,
    pub(super) groups: usize,
    /// input spatial size D, H, W
    pub(super) i: [usize; 3],
    /// output spatial size
    pub(super) o: [usize; 3],
    /// kernel size
    pub(super) k: [usize; 3],
    pub(super) stride: usize,
    pub(super) pad: usize,
    pub(super) dil: usize,
}

impl Geom {
    pub(super) fn cin_g(&self) -> usize {
        self.cin / self.groups
    }
    pub(super) fn cout_g(&self) -> usize {
        self.cout / self.groups
    }
    pub(super) fn kvol(&self) -> usize {
        self.k[0] * self.k[1] * self.k[2]
    }
    pub(super) fn kk(&self) -> usize {
        self.cin_g() * self.kvol()
    }
    pub(super) fn s_in(&self) -> usize {
        self.i[0] * self.i[1] * self.i[2]
    }
    pub(super) fn s_out(&self) -> usize {
        self.o[0] * self.o[1] * self.o[2]
    }
    /// 1x1x1, stride 1, no padding: the input itself is the column matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.k == [1, 1, 1] && self.stride == 1 && self.pad == 0
    }
    pub(super) fn weight_shape(&self) -> [usize; 5] {
        [self.cout, self.cin_g(), self.k[0], self.k[1], self.k[2]]
    }

    /// Geometry of conv(x, w) from the input and weight shapes.
    pub(super) fn forward(
        what: &'static str,
        x: &[usize],
        w: &[usize],
        stride: usize,
        pad: usize,
        dil: usize,
        groups: usize,
    ) -> std::result::Result<Self, Nn3dError> {
        if x.len() != 5 {
            return Err(Nn3dError::Rank {
                what,
                expected: 5,
                got: x.to_vec(),
            });
        }
        if w.len() != 5 {
            return Err(Nn3dError::Rank {
                what: "conv3d weight",
                expected: 5,
                got: w.to_vec(),
            });
        }
        if stride == 0 || dil == 0 || groups == 0 {
            return Err(Nn3dError::Config {
                what,
                msg: format!("stride {stride}, dilation {dil} and groups {groups} must be >= 1"),
            });
        }
        let (cout, cin_g) = (w[0], w[1]);
        if !cout.is_multiple_of(groups) || cin_g == 0 {
            return Err(Nn3dError::Config {
                what,
                msg: format!("{cout} output channels not divisible by {groups} groups"),
            });
        }
        if x[1] != cin_g * groups {
            return Err(Nn3dError::Channels {
                what,
                expected: cin_g * groups,
                got: x[1],
            });
        }
        let k = [w[2], w[3], w[4]];
        let i = [x[2], x[3], x[4]];
        let mut o = [0; 3];
        for a in 0..3 {
            let extent = dil * (k[a].max(1) - 1) + 1;
            if i[a] + 2 * pad < extent || k[a] == 0 {
                return Err(Nn3dError::TooSmall {
                    what,
                    size: i,
                    extent: k.map(|kk| dil * (kk.max(1) - 1) + 1),
                    padding: pad,
                });
            }
            o[a] = (i[a] + 2 * pad - extent) / stride + 1;
        }
        Ok(Self {
            n: x[0],
            cin: x[1],
            cout,
            groups,
            i,
            o,
            k,
            stride,
            pad,
            dil,
        })
    }
}

/// Range of output positions `o` in `0..n_out` whose input index `o*s + off` lies in `0..n_in`.
#[inline]
pub(super) fn valid_range(n_out: usize, n_in: usize, s: usize, off: isize) -> (usize, usize) {
    let s_i = s as isize;
    let lo = if off < 0 {
        ((-off + s_i - 1) / s_i) as usize
    } else {
        0
    };
    let last = n_in as isize - 1 - off;
    let hi = if last < 0 {
        0
    } else {
        (last / s_i) as usize + 1
    };
    let hi = hi.min(n_out);
    (lo.min(hi), hi)
}

/// Fills one tile of the column matrix of one group: rows = (input channel, kd, kh, kw) taps,
/// columns = output rows `r0..r1` (a row = fixed (od, oh), `Wo` outputs). `x_g` holds the
/// group's input channels (cin_g * S_in). Parallel over taps when `par`.
pub(super) fn im2col(g: &Geom, x_g: &[f32], col: &mut [f32], r0: usize, r1: usize, par: bool) {
    let p = (r1 - r0) * g.o[2];
    let fill = |(r, row): (usize, &mut [f32])| im2col_row(g, x_g, row, r, r0, r1);
    if par {
        col.par_chunks_mut(p).enumerate().for_each(fill);
    } else {
        col.chunks_mut(p).enumerate().for_each(fill);
    }
}

#[inline]
pub(super) fn im2col_row(g: &Geom, x_g: &[f32], row: &mut [f32], r: usize, r0: usize, r1: usize) {
    let [kd, kh, kw] = g.k;
    let [din, hin, win] = g.i;
    let [_, ho, wo] = g.o;
    let s_in = g.s_in();
    let (s, pad, dil) = (g.stride, g.pad as isize, g.dil);
    let c = r / (kd * kh * kw);
    let rem = r % (kd * kh * kw);
    let (a, b, e) = (rem / (kh * kw), (rem / kw) % kh, rem % kw);
    let xc = &x_g[c * s_in..(c + 1) * s_in];
    let off_w = (e * dil) as isize - pad;
    let (wlo, whi) = valid_range(wo, win, s, off_w);
    let (hlo, hhi) = valid_range(ho, hin, s, (b * dil) as isize - pad);
    if s == 1 && wo == win {
        im2col_row_planes(g, xc, row, [a, b], [hlo, hhi], [wlo, whi], off_w, r0, r1);
        return;
    }
    for (orow, dst) in (r0..r1).zip(row.chunks_mut(wo)) {
        let (od, oh) = (orow / ho, orow % ho);
        let id = (od * s + a * dil) as isize - pad;
        if id < 0 || id >= din as isize || oh < hlo || oh >= hhi {
            dst.fill(0.0);
            continue;
        }
        let ih = (oh * s + b * dil) as isize - pad;
        let xr = &xc[(id as usize * hin + ih as usize) * win..][..win];
        dst[..wlo].fill(0.0);
        dst[whi..].fill(0.0);
        if s == 1 {
            let st = (wlo as isize + off_w) as usize;
            dst[wlo..whi].copy_from_slice(&xr[st..st + (whi - wlo)]);
        } else {
            for (ow, d) in dst.iter_mut().enumerate().take(whi).skip(wlo) {
                *d = xr[(ow as isize * s as isize + off_w) as usize];
            }
        }
    }
}

/// `im2col_row` for stride 1 when output and input rows have the same width (e.g. "same"
/// padding): the valid rows of one output plane then come from consecutive input rows, so
/// they are one copy of the whole run (shifted by the tap's column offset) instead of one
/// short copy per row; the columns the shift wraps across row ends are zeroed after.
#[allow(clippy::too_many_arguments)]
fn im2col_row_planes(
    g: &Geom,
    xc: &[f32],
    row: &mut [f32],
    [a, b]: [usize; 2],
    [hlo, hhi]: [usize; 2],
    [wlo, whi]: [usize; 2],
    off_w: isize,
    r0: usize,
    r1: usize,
) {
    let [din, hin, w] = g.i;
    let ho = g.o[1];
    let (pad, dil) = (g.pad as isize, g.dil as isize);
    let mut orow = r0;
    let mut pos = 0;
    while orow < r1 {
        let (od, oh0) = (orow / ho, orow % ho);
        let oh1 = ho.min(oh0 + (r1 - orow));
        let dst = &mut row[pos..pos + (oh1 - oh0) * w];
        let id = od as isize + a as isize * dil - pad;
        let (v0, v1) = (oh0.max(hlo), oh1.min(hhi));
        if id < 0 || id >= din as isize || v0 >= v1 || wlo >= whi {
            dst.fill(0.0);
        } else {
            let (d0, d1) = ((v0 - oh0) * w, (v1 - oh0) * w);
            dst[..d0 + wlo].fill(0.0);
            dst[d1 - w + whi..].fill(0.0);
            // dst[d0 + j] = x[(id, ih0, 0) + j + off_w] for j in wlo..(v1 - v0 - 1) * w + whi:
            // output column ow of each row reads input column ow + off_w.
            let ih0 = (v0 as isize + b as isize * dil - pad) as usize;
            let src0 = (id as usize * hin + ih0) * w;
            let len = d1 - w + whi - (d0 + wlo);
            let st = (src0 as isize + wlo as isize + off_w) as usize;
            dst[d0 + wlo..d0 + wlo + len].copy_from_slice(&xc[st..st + len]);
            if wlo > 0 || whi < w {
                for r in dst[d0..d1].chunks_mut(w) {
                    r[..wlo].fill(0.0);
                    r[whi..].fill(0.0);
                }
            }
        }
        pos += (oh1 - oh0) * w;
        orow += oh1 - oh0;
    }
}

/// Adds one column tile (output rows `r0..r1`) back into one group's input-gradient channels
/// (the adjoint of `im2col`). Parallel over input channels: each owns `kvol` consecutive rows.
pub(super) fn col2im(g: &Geom, col: &[f32], gx_g: &mut [f32], r0: usize, r1: usize) {
    let p = (r1 - r0) * g.o[2];
    let kvol = g.kvol();
    let [_, kh, kw] = g.k;
    let [din, hin, win] = g.i;
    let [_, ho, wo] = g.o;
    let s_in = g.s_in();
    let (s, pad, dil) = (g.stride, g.pad as isize, g.dil);
    gx_g.par_chunks_mut(s_in)
        .zip(col.par_chunks(kvol * p))
        .for_each(|(gxc, rows)| {
            for (rem, row) in rows.chunks(p).enumerate() {
                let (a, b, e) = (rem / (kh * kw), (rem / kw) % kh, rem % kw);
                let off_w = (e * dil) as isize - pad;
                let (wlo, whi) = valid_range(wo, win, s, off_w);
                let (hlo, hhi) = valid_range(ho, hin, s, (b * dil) as isize - pad);
                for (orow, src) in (r0..r1).zip(row.chunks(wo)) {
                    let (od, oh) = (orow / ho, orow % ho);
                    let id = (od * s + a * dil) as isize - pad;
                    if id < 0 || id >= din as isize || oh < hlo || oh >= hhi {
                        continue;
                    }
                    let ih = (oh * s + b * dil) as isize - pad;
                    let xr = &mut gxc[(id as usize * hin + ih as usize) * win..][..win];
                    if s == 1 {
                        let st = (wlo as isize + off_w) as usize;
                        for (d, v) in xr[st..st + (whi - wlo)].iter_mut().zip(&src[wlo..whi]) {
                            *d += *v;
                        }
                    } else {
                        for (ow, v) in src.iter().enumerate().take(whi).skip(wlo) {
                            xr[(ow as isize * s as isize + off_w) as usize] += *v;
                        }
                    }
                }
            }
        });
}

/// dst[m x n] (+)= lhs[m x k] * rhs[k x n], strides given as (row, column) in elements.
///
/// # Safety
/// The pointers must address matrices of the given sizes and strides; `dst` must not alias.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    dst_cs: usize,
    accumulate: bool,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    rhs_cs: usize,
    par: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let par = if par && m * n * k >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

#[inline]
pub(super) fn epilogue(y: &mut [f32], bias: f32, relu: bool) {
    if relu {
        y.iter_mut().for_each(|a| *a = (*a + bias).max(0.0));
    } else {
        y.iter_mut().for_each(|a| *a += bias);
    }
}

/// One unit of work: batch item, group, output rows r0..r1.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tile {
    n: usize,
    gr: usize,
    r0: usize,
    r1: usize,
}

/// Splits the output into tiles of whole output rows whose column buffer is about
/// `COL_TILE_ELEMS`; returns the tiles and whether to run them in parallel (enough tiles to
/// keep every thread busy) or one after another with parallel im2col and GEMM inside.
pub(super) fn tiles(g: &Geom) -> (Vec<Tile>, bool) {
    let rows = g.o[0] * g.o[1];
    let per_row = (g.kk() * g.o[2]).max(1);
    let tr = (COL_TILE_ELEMS / per_row).clamp(1, rows.max(1));
    let mut v = Vec::new();
    for n in 0..g.n {
        for gr in 0..g.groups {
            let mut r0 = 0;
            while r0 < rows {
                let r1 = (r0 + tr).min(rows);
                v.push(Tile { n, gr, r0, r1 });
                r0 = r1;
            }
        }
    }
    let par = v.len() >= 4 * rayon::current_num_threads();
    (v, par)
}

/// y = conv(x, w). `x`: N*Cin*S_in, `w`: Cout*Cin_g*kvol; returns N*Cout*S_out.
/// With `bias`, adds bias[c] to output channel c (per tile, while the tile is in cache), then
/// applies ReLU if `relu`.
pub(super) fn kernel_fwd(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
) -> Vec<f32> {
    let (s_in, s_out) = (g.s_in(), g.s_out());
    let (cin_g, cout_g, kk) = (g.cin_g(), g.cout_g(), g.kk());
    if super::direct::available(g) {
        return super::direct::fwd(g, x, w, bias, relu);
    }
    let mut y = vec![0f32; g.n * g.cout * s_out];
    if g.is_pointwise() {
        for n in 0..g.n {
            for gr in 0..g.groups {
                let xo = (n * g.cin + gr * cin_g) * s_in;
                let yo = (n * g.cout + gr * cout_g) * s_out;
                // SAFETY: y block is cout_g x s_out, w block cout_g x cin_g, x block cin_g x s_in.
                unsafe {
                    sgemm(
                        cout_g,
                        s_out,
                        cin_g,
                        y[yo..].as_mut_ptr(),
                        s_out,
                        1,
                        false,
                        w[gr * cout_g * kk..].as_ptr(),
                        kk,
                        1,
                        x[xo..].as_ptr(),
                        s_in,
                        1,
                        true,
                    )
                };
            }
        }
        if bias.is_some() || relu {
            y.par_chunks_mut(s_out.max(1))
                .enumerate()
                .for_each(|(i, yc)| {
                    let v = bias.map_or(0.0, |b| b[i % g.cout]);
                    epilogue(yc, v, relu);
                });
        }
        return y;
    }
    let (tl, par) = tiles(g);
    let wo = g.o[2];
    let yp = SyncPtr::new(y.as_mut_ptr());
    let run = |col: &mut Vec<f32>, t: &Tile, inner_par: bool| {
        let p = (t.r1 - t.r0) * wo;
        col.resize(kk * p, 0.0);
        let x_g = &x[(t.n * g.cin + t.gr * cin_g) * s_in..][..cin_g * s_in];
        im2col(g, x_g, col, t.r0, t.r1, inner_par);
        let yo = (t.n * g.cout + t.gr * cout_g) * s_out + t.r0 * wo;
        let yp = yp.get();
        // SAFETY: the destination block (cout_g rows of p values at stride s_out) belongs to
        // this tile alone and lies inside y; col is kk x p; the weight block cout_g x kk.
        unsafe {
            sgemm(
                cout_g,
                p,
                kk,
                yp.add(yo),
                s_out,
                1,
                false,
                w[t.gr * cout_g * kk..].as_ptr(),
                kk,
                1,
                col.as_ptr(),
                p,
                1,
                inner_par,
            )
        };
        if bias.is_some() || relu {
            for co in 0..cout_g {
                let v = bias.map_or(0.0, |b| b[t.gr * cout_g + co]);
                // SAFETY: row co of this tile's block, as above.
                let row = unsafe { std::slice::from_raw_parts_mut(yp.add(yo + co * s_out), p) };
                epilogue(row, v, relu);
            }
        }
    };
    if par {
        tl.par_iter()
            .for_each(|t| with_scratch(|col| run(col, t, false)));
    } else {
        with_scratch(|col| tl.iter().for_each(|t| run(col, t, true)));
    }
    y
}

impl Geom {
    /// For stride 1 with a cubic kernel and `pad <= reach`, the geometry of gx = conv(gy, w')
    /// with w' the flipped, transposed weights ([`transpose_weights`]): the input gradient as a
    /// forward convolution (gather form, so tiles run in parallel without write conflicts).
    /// `None` otherwise (a scalar padding cannot express `reach - pad` per axis).
    pub(super) fn gather_transpose(&self) -> Option<Geom> {
        let reach = self.dil * (self.k[0].max(1) - 1);
        let cubic = self.k[0] == self.k[1] && self.k[1] == self.k[2];
        if self.is_pointwise() || self.stride != 1 || !cubic || self.pad > reach {
            return None;
        }
        Some(Geom {
            n: self.n,
            cin: self.cout,
            cout: self.cin,
            groups: self.groups,
            i: self.o,
            o: self.i,
            k: self.k,
            stride: 1,
            pad: reach - self.pad,
            dil: self.dil,
        })
    }
}

/// w'[gr*cin_g + ci, co, t'] = w[gr*cout_g + co, ci, t], with t' = kvol-1-t when `flip` (the
/// weights of the input gradient's forward form, [`Geom::gather_transpose`]) or t' = t (the
/// direct kernels' gather form, which walks the taps itself).
pub(super) fn transpose_weights(g: &Geom, w: &[f32], flip: bool) -> Vec<f32> {
    let (cin_g, cout_g, kvol) = (g.cin_g(), g.cout_g(), g.kvol());
    let mut wt = vec![0f32; w.len()];
    for gr in 0..g.groups {
        for co in 0..cout_g {
            for ci in 0..cin_g {
                let src = &w[((gr * cout_g + co) * cin_g + ci) * kvol..][..kvol];
                let dst = &mut wt[((gr * cin_g + ci) * cout_g + co) * kvol..][..kvol];
                if flip {
                    dst.iter_mut()
                        .zip(src.iter().rev())
                        .for_each(|(d, s)| *d = *s);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
    wt
}

/// gx = conv^T(gy, w): the gradient of conv(x, w) against x (`g` is the forward geometry).
///
/// Stride 1 with a cubic kernel: a forward convolution of gy with the flipped, transposed
/// weights (gather form: tiles run in parallel without write conflicts). Otherwise GEMM into
/// column tiles + col2im.
pub(super) fn kernel_bwd_input(g: &Geom, gy: &[f32], w: &[f32]) -> Vec<f32> {
    let (cin_g, cout_g, kk) = (g.cin_g(), g.cout_g(), g.kk());
    if let Some(gt) = g.gather_transpose() {
        return kernel_fwd(&gt, gy, &transpose_weights(g, w, true), None, false);
    }
    if super::direct::available(g) {
        return super::direct::bwd_input(g, gy, w);
    }
    let (s_in, s_out) = (g.s_in(), g.s_out());
    let mut gx = vec![0f32; g.n * g.cin * s_in];
    let rows = g.o[0] * g.o[1];
    let tr = (COL_TILE_ELEMS / (kk * g.o[2]).max(1)).clamp(1, rows.max(1));
    let mut col = Vec::new();
    for n in 0..g.n {
        for gr in 0..g.groups {
            let gy_g = &gy[(n * g.cout + gr * cout_g) * s_out..][..cout_g * s_out];
            let w_g = &w[gr * cout_g * kk..][..cout_g * kk];
            let gx_g = &mut gx[(n * g.cin + gr * cin_g) * s_in..][..cin_g * s_in];
            if g.is_pointwise() {
                // SAFETY: gx_g is cin_g x s_in; w_g^T is cin_g x cout_g; gy_g cout_g x s_out.
                unsafe {
                    sgemm(
                        cin_g,
                        s_out,
                        cout_g,
                        gx_g.as_mut_ptr(),
                        s_in,
                        1,
                        false,
                        w_g.as_ptr(),
                        1,
                        kk,
                        gy_g.as_ptr(),
                        s_out,
                        1,
                        true,
                    )
                };
                continue;
            }
            let mut r0 = 0;
            while r0 < rows {
                let r1 = (r0 + tr).min(rows);
                let p = (r1 - r0) * g.o[2];
                col.resize(kk * p, 0.0);
                let gy_t = &gy_g[r0 * g.o[2]..];
                // SAFETY: col is kk x p; w_g^T is kk x cout_g; gy_t rows stride s_out.
                unsafe {
                    sgemm(
                        kk,
                        p,
                        cout_g,
                        col.as_mut_ptr(),
                        p,
                        1,
                        false,
                        w_g.as_ptr(),
                        1,
                        kk,
                        gy_t.as_ptr(),
                        s_out,
                        1,
                        true,
                    )
                };
                col2im(g, &col, gx_g, r0, r1);
                r0 = r1;
            }
        }
    }
    gx
}

/// Both gradients of a convolution that has a [`Geom::gather_transpose`] form, in one pass over
/// tiles of gy's column matrix: each tile `col` (cout_g * kvol rows, taps flipped) gives the
/// input gradient tile wt * col and, against the plain rows of x under it, the weight gradient
/// col * x_tile^T. x needs no column matrix of its own, and gy's is built once, for both GEMMs
/// while it is in cache. The weight gradient sums per fixed chunk of tiles, then the chunks in
/// order, so it does not depend on thread scheduling. Returns (gx, gw).
pub(super) fn kernel_bwd_fused(
    g: &Geom,
    gt: &Geom,
    x: &[f32],
    gy: &[f32],
    w: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    if super::direct::available(g) {
        // The direct kernels need no column matrix for either gradient, so there is nothing
        // to share: each gradient takes its own kernel.
        return (kernel_bwd_input(g, gy, w), kernel_bwd_weight(g, x, gy));
    }
    let (s_in, s_out) = (g.s_in(), g.s_out());
    let (cin_g, cout_g, kvol) = (g.cin_g(), g.cout_g(), g.kvol());
    let kt = gt.kk();
    let wt = transpose_weights(g, w, true);
    let mut gx = vec![0f32; g.n * g.cin * s_in];
    let (tl, par) = tiles(gt);
    let win = g.i[2];
    let gxp = SyncPtr::new(gx.as_mut_ptr());
    // acc: per group, gw' = kt x cin_g (row (co, t'), column ci).
    let run = |col: &mut Vec<f32>, acc: &mut [f32], t: &Tile, inner_par: bool| {
        let p = (t.r1 - t.r0) * win;
        col.resize(kt * p, 0.0);
        let gy_g = &gy[(t.n * g.cout + t.gr * cout_g) * s_out..][..cout_g * s_out];
        im2col(gt, gy_g, col, t.r0, t.r1, inner_par);
        let xo = (t.n * g.cin + t.gr * cin_g) * s_in + t.r0 * win;
        let acc_g = &mut acc[t.gr * kt * cin_g..][..kt * cin_g];
        // SAFETY: the gx block (cin_g rows of p values at stride s_in, from xo) belongs to this
        // tile alone and lies inside gx; the wt block is cin_g x kt; col is kt x p; the x block
        // has the gx block's shape and position; acc_g is kt x cin_g.
        unsafe {
            sgemm(
                cin_g,
                p,
                kt,
                gxp.get().add(xo),
                s_in,
                1,
                false,
                wt[t.gr * cin_g * kt..].as_ptr(),
                kt,
                1,
                col.as_ptr(),
                p,
                1,
                inner_par,
            );
            sgemm(
                kt,
                cin_g,
                p,
                acc_g.as_mut_ptr(),
                cin_g,
                1,
                true,
                col.as_ptr(),
                p,
                1,
                x[xo..].as_ptr(),
                1,
                s_in,
                inner_par,
            );
        }
    };
    let mut acc = vec![0f32; g.cout * kvol * cin_g];
    if par {
        let per = tl.len().div_ceil(WEIGHT_GRAD_CHUNKS);
        let partials: Vec<Vec<f32>> = tl
            .par_chunks(per)
            .map(|ch| {
                let mut a = vec![0f32; acc.len()];
                with_scratch(|col| ch.iter().for_each(|t| run(col, &mut a, t, false)));
                a
            })
            .collect();
        for p in &partials {
            acc.iter_mut().zip(p).for_each(|(a, b)| *a += *b);
        }
    } else {
        with_scratch(|col| tl.iter().for_each(|t| run(col, &mut acc, t, true)));
    }
    let mut gw = vec![0f32; acc.len()];
    for gr in 0..g.groups {
        for co in 0..cout_g {
            for tp in 0..kvol {
                let src = &acc[((gr * cout_g + co) * kvol + tp) * cin_g..][..cin_g];
                for (ci, v) in src.iter().enumerate() {
                    gw[((gr * cout_g + co) * cin_g + ci) * kvol + kvol - 1 - tp] = *v;
                }
            }
        }
    }
    (gx, gw)
}

/// Chunks of tiles whose weight-gradient partials are summed in a fixed order.
const WEIGHT_GRAD_CHUNKS: usize = 8;

thread_local! {
    /// Column tile reused across calls on this thread (a fresh 1 MiB buffer per call costs
    /// page faults).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's column scratch buffer, or a fresh one when it is already in use
/// (a rayon thread can pick up another tile while waiting inside a parallel im2col or GEMM).
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut col) => f(&mut col),
        Err(_) => f(&mut Vec::new()),
    })
}

/// gw = sum over batch and tiles of gy * im2col(x)^T. Tiles are summed in a fixed order
/// (partials per fixed chunk of tiles), so the result does not depend on thread scheduling.
pub(super) fn kernel_bwd_weight(g: &Geom, x: &[f32], gy: &[f32]) -> Vec<f32> {
    if super::direct::available(g) {
        return super::direct::bwd_weight(g, x, gy);
    }
    let (s_in, s_out) = (g.s_in(), g.s_out());
    let (cin_g, cout_g, kk) = (g.cin_g(), g.cout_g(), g.kk());
    let mut gw = vec![0f32; g.cout * kk];
    if g.is_pointwise() {
        for n in 0..g.n {
            for gr in 0..g.groups {
                let xo = (n * g.cin + gr * cin_g) * s_in;
                let yo = (n * g.cout + gr * cout_g) * s_out;
                // SAFETY: gw block cout_g x cin_g; gy block cout_g x s_out; x block^T s_in x cin_g.
                unsafe {
                    sgemm(
                        cout_g,
                        cin_g,
                        s_out,
                        gw[gr * cout_g * kk..].as_mut_ptr(),
                        kk,
                        1,
                        true,
                        gy[yo..].as_ptr(),
                        s_out,
                        1,
                        x[xo..].as_ptr(),
                        1,
                        s_in,
                        true,
                    )
                };
            }
        }
        return gw;
    }
    let (tl, par) = tiles(g);
    let wo = g.o[2];
    // Accumulates tile t into gw_acc (cout x kk, all groups).
    let run = |col: &mut Vec<f32>, gw_acc: &mut [f32], t: &Tile, inner_par: bool| {
        let p = (t.r1 - t.r0) * wo;
        col.resize(kk * p, 0.0);
        let x_g = &x[(t.n * g.cin + t.gr * cin_g) * s_in..][..cin_g * s_in];
        im2col(g, x_g, col, t.r0, t.r1, inner_par);
        let gy_t = &gy[(t.n * g.cout + t.gr * cout_g) * s_out + t.r0 * wo..];
        let gw_g = &mut gw_acc[t.gr * cout_g * kk..][..cout_g * kk];
        // SAFETY: gw_g is cout_g x kk; gy_t cout_g x p (row stride s_out); col^T p x kk.
        unsafe {
            sgemm(
                cout_g,
                kk,
                p,
                gw_g.as_mut_ptr(),
                kk,
                1,
                true,
                gy_t.as_ptr(),
                s_out,
                1,
                col.as_ptr(),
                1,
                p,
                inner_par,
            )
        };
    };
    if par {
        let per = tl.len().div_ceil(WEIGHT_GRAD_CHUNKS);
        let partials: Vec<Vec<f32>> = tl
            .par_chunks(per)
            .map(|ch| {
                let mut acc = vec![0f32; g.cout * kk];
                with_scratch(|col| ch.iter().for_each(|t| run(col, &mut acc, t, false)));
                acc
            })
            .collect();
        for p in &partials {
            for (a, b) in gw.iter_mut().zip(p) {
                *a += *b;
            }
        }
    } else {
        with_scratch(|col| tl.iter().for_each(|t| run(col, &mut gw, t, true)));
    }
    gw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn valid_range_matches_brute_force() {
        for n_out in 0..6 {
            for n_in in 1..7 {
                for s in 1..4 {
                    for off in -5isize..5 {
                        let (lo, hi) = valid_range(n_out, n_in, s, off);
                        let ok: Vec<usize> = (0..n_out)
                            .filter(|&o| {
                                let i = o as isize * s as isize + off;
                                i >= 0 && i < n_in as isize
                            })
                            .collect();
                        let got: Vec<usize> = (lo..hi).collect();
                        assert_eq!(ok, got, "n_out {n_out} n_in {n_in} s {s} off {off}");
                    }
                }
            }
        }
    }
}
