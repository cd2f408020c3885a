//! PyRadiomics 3.0.1's image types (`imageoperations.py`), computed as PyRadiomics computes
//! them so that features under [`crate::Convention::PYRADIOMICS`] equal its output:
//!
//! - `square`: `(x / sqrt(max|x|))^2`; `squareroot`: `sign(x) sqrt(|x| max|x|)`;
//!   `logarithm`: `sign(x) log(|x| + 1)` rescaled to the original `max|x|`;
//!   `exponential`: `exp(x log(max|x|) / max|x|)`. `max|x|` is over the whole image.
//! - `gradient`: SimpleITK's gradient magnitude: central differences (divided by the spacing
//!   unless `gradientUseSpacing` is false), the image border repeated (ITK's zero-flux
//!   Neumann condition).
//! - `wavelet-<bands>`: PyRadiomics' `_swt3`: odd axes padded by one voxel (wrap), one level of
//!   `pywt.swtn` per decomposition level on the previous level's approximation (the filters are
//!   not upsampled between levels, as PyRadiomics calls `swtn(level=1)` each time), circular
//!   convolution `y[n] = sum_j f[j] x[(n + F/2 - j) mod N]` (checked against PyWavelets),
//!   cropped back. The band letters are for the x, y, z axes (numpy axes 2, 1, 0); names
//!   `wavelet-HLL` at the first level, `wavelet2-HLL` at the second; the approximation only
//!   at the last level.
//!
//! - `log-sigma-<s>-mm-3D`: SimpleITK's `LaplacianRecursiveGaussian` with
//!   `NormalizeAcrossScale` (PyRadiomics' `getLoGImage`): per axis, ITK's recursive (IIR,
//!   Deriche) second derivative of a Gaussian along it and the zero-order Gaussian along the
//!   other axes in axis order, divided by the spacing squared and summed; the filters extend
//!   the border value to infinity (ITK's boundary coefficients), and ITK's float32
//!   intermediate images are reproduced by rounding after each pass. Coefficients from ITK's
//!   `RecursiveGaussianImageFilter::SetUp` (Deriche's 4th-order fit, checked against
//!   SimpleITK 2.5 to float precision).
//!
//! The local binary patterns (LBP2D, LBP3D) are not implemented: a parameter file that asks
//! for them is an error.

use crate::error::{RadiomicsError, Result};
use ndarray::{Array3, Axis};
use rayon::prelude::*;

/// One PyRadiomics image operation.
#[derive(Debug, Clone, PartialEq)]
pub enum PyradImage {
    /// Gaussian scale in mm.
    Log {
        sigma: f64,
    },
    Square,
    SquareRoot,
    Logarithm,
    Exponential,
    Gradient {
        use_spacing: bool,
    },
    Wavelet {
        /// PyWavelets name (`coif1`).
        wavelet: String,
        /// Levels decomposed before this one (`start_level` + the 0-based level index).
        approximations: usize,
        /// High-pass along x, y, z; None for the approximation (`LLL`).
        band: Option<[bool; 3]>,
    },
}

/// The dec_lo / dec_hi filters of a PyWavelets wavelet name.
pub fn wavelet_filters(name: &str) -> Option<(&'static [f64], &'static [f64])> {
    crate::pywt_filters::FILTERS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, lo, hi)| (*lo, *hi))
}

/// The wavelet names [`wavelet_filters`] knows (PyRadiomics' documented list).
pub fn wavelet_names() -> Vec<&'static str> {
    crate::pywt_filters::FILTERS.iter().map(|f| f.0).collect()
}

fn bad(param: &str, reason: impl Into<String>) -> RadiomicsError {
    RadiomicsError::FilterParam {
        param: param.to_string(),
        reason: reason.into(),
    }
}

/// A box of the image grid: `[lo, hi)` along i, j, k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridBox {
    pub lo: [usize; 3],
    pub hi: [usize; 3],
}

impl GridBox {
    /// The whole grid of an array of this shape.
    pub fn whole(shape: &[usize]) -> Self {
        Self {
            lo: [0; 3],
            hi: [shape[0], shape[1], shape[2]],
        }
    }

    /// Voxels along i, j, k.
    pub fn shape(&self) -> [usize; 3] {
        std::array::from_fn(|a| self.hi[a] - self.lo[a])
    }

    fn check(&self, shape: &[usize]) -> Result<()> {
        if (0..3).any(|a| self.lo[a] >= self.hi[a] || self.hi[a] > shape[a]) {
            return Err(bad(
                "box",
                format!("{self:?} is empty or outside the image {shape:?}"),
            ));
        }
        Ok(())
    }
}

impl PyradImage {
    /// The response of the whole image `a` (`[i, j, k]` = x, y, z) with voxel `spacing`
    /// along i, j, k.
    pub fn apply(&self, a: &Array3<f64>, spacing: [f64; 3]) -> Result<Array3<f64>> {
        self.apply_box(a, spacing, GridBox::whole(a.shape()))
    }

    /// The response of the whole image `a`, computed only on the voxels of `bx` (the array
    /// returned covers `bx`): the same values as [`PyradImage::apply`] there, bit for bit, as
    /// the same operations run in the same order, without the work for the other voxels.
    pub fn apply_box(
        &self,
        a: &Array3<f64>,
        spacing: [f64; 3],
        bx: GridBox,
    ) -> Result<Array3<f64>> {
        bx.check(a.shape())?;
        let max_abs = || a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let need_max = |what: &str, max_abs: f64| -> Result<()> {
            if max_abs > 0.0 && max_abs.is_finite() {
                Ok(())
            } else {
                Err(bad(
                    what,
                    format!("needs a non-zero, finite image (max |x| = {max_abs})"),
                ))
            }
        };
        let inner = || {
            a.slice(ndarray::s![
                bx.lo[0]..bx.hi[0],
                bx.lo[1]..bx.hi[1],
                bx.lo[2]..bx.hi[2]
            ])
        };
        Ok(match self {
            Self::Square => {
                let m = max_abs();
                need_max("square", m)?;
                let c = 1.0 / m.sqrt();
                inner().mapv(|x| (c * x) * (c * x))
            }
            Self::SquareRoot => {
                let m = max_abs();
                inner().mapv(|x| {
                    if x > 0.0 {
                        (x * m).sqrt()
                    } else if x < 0.0 {
                        -(-x * m).sqrt()
                    } else {
                        x
                    }
                })
            }
            Self::Logarithm => {
                let m = max_abs();
                need_max("logarithm", m)?;
                let l = |x: f64| {
                    if x > 0.0 {
                        (x + 1.0).ln()
                    } else if x < 0.0 {
                        -(-(x - 1.0)).ln()
                    } else {
                        x
                    }
                };
                // max |l(x)| is l(max |x|): |l| = ln(|x| + 1) increases with |x| (and
                // x - 1 rounds as -(|x| + 1) for negative x).
                let lmax = l(m).abs();
                let s = m / lmax;
                inner().mapv(|x| l(x) * s)
            }
            Self::Exponential => {
                let m = max_abs();
                need_max("exponential", m)?;
                let c = m.ln() / m;
                inner().mapv(|x| (c * x).exp())
            }
            Self::Gradient { use_spacing } => gradient_magnitude(a, spacing, *use_spacing, bx),
            Self::Log { sigma } => {
                let sh = a.shape();
                if sh.iter().any(|&n| n < 4) {
                    return Err(bad(
                        "sigma",
                        format!(
                            "PyRadiomics' LoG needs >= 4 voxels along every axis, image is {sh:?}"
                        ),
                    ));
                }
                for ax in 0..3 {
                    if (sh[ax] as f64) < (sigma / spacing[ax]).ceil() + 1.0 {
                        return Err(bad(
                            "sigma",
                            format!(
                                "sigma {sigma} mm is too large for the image ({} voxels of {} mm \
                                 along axis {ax}; PyRadiomics skips it)",
                                sh[ax], spacing[ax]
                            ),
                        ));
                    }
                }
                laplacian_recursive_gaussian(a, spacing, *sigma, bx)
            }
            Self::Wavelet {
                wavelet,
                approximations,
                band,
            } => wavelet_bands(a, wavelet, *approximations, &[*band], bx)?
                .pop()
                .expect("one band asked, one returned"),
        })
    }
}

/// Several sub-bands of one PyRadiomics wavelet decomposition (`_swt3`, see the module doc)
/// on the voxels of `bx`, in the order of `bands` (None: the approximation `LLL`). The
/// approximation levels are computed once, and the bands share their passes as a tree: one
/// low and one high pass along i, each followed by both along j, then k (14 passes for the
/// 8 bands instead of 24). Each pass computes only the positions the later passes read, so
/// the values equal the whole-image decomposition's bit for bit.
pub fn wavelet_bands(
    a: &Array3<f64>,
    wavelet: &str,
    approximations: usize,
    bands: &[Option<[bool; 3]>],
    bx: GridBox,
) -> Result<Vec<Array3<f64>>> {
    bx.check(a.shape())?;
    let (lo, hi) = wavelet_filters(wavelet).ok_or_else(|| {
        bad(
            "wavelet",
            format!("`{wavelet}` is not a PyWavelets wavelet"),
        )
    })?;
    if lo.len() != hi.len() {
        return Err(bad(
            "wavelet",
            format!("`{wavelet}`: filters of unequal length"),
        ));
    }
    let sh = [a.shape()[0], a.shape()[1], a.shape()[2]];
    // Wrap padding of odd axes: the extra voxel repeats the first one.
    let np: [usize; 3] = std::array::from_fn(|d| sh[d] + sh[d] % 2);
    // Positions needed along each axis before each of its 1 + approximations passes.
    let passes = approximations + 1;
    let sets: [Vec<Vec<usize>>; 3] = std::array::from_fn(|ax| {
        let mut chain = vec![(bx.lo[ax]..bx.hi[ax]).collect::<Vec<usize>>()];
        for _ in 0..passes {
            let prev = needed_positions(chain.last().expect("not empty"), np[ax], lo.len());
            chain.push(prev);
        }
        chain.reverse();
        chain
    });
    let start = Periodic {
        pos: std::array::from_fn(|ax| sets[ax][0].clone()),
        data: Array3::from_shape_fn(
            (sets[0][0].len(), sets[1][0].len(), sets[2][0].len()),
            |(i, j, k)| {
                a[[
                    sets[0][0][i] % sh[0],
                    sets[1][0][j] % sh[1],
                    sets[2][0][k] % sh[2],
                ]]
            },
        ),
    };
    let mut approx = start;
    for level in 0..approximations {
        for ax in 0..3 {
            approx = approx.pass(lo, ax, &sets[ax][level + 1], np[ax]);
        }
    }
    // The tree: nodes (band letters so far, response), one axis at a time.
    let wanted: Vec<[bool; 3]> = bands.iter().map(|b| b.unwrap_or([false; 3])).collect();
    let mut nodes: Vec<(Vec<bool>, Periodic)> = vec![(Vec::new(), approx)];
    for ax in 0..3 {
        let target = &sets[ax][passes];
        let wanted = &wanted;
        let jobs: Vec<(Vec<bool>, &Periodic)> = nodes
            .iter()
            .flat_map(|(prefix, node)| {
                [false, true].into_iter().filter_map(move |h| {
                    let mut p = prefix.clone();
                    p.push(h);
                    wanted
                        .iter()
                        .any(|w| w[..=ax] == p[..])
                        .then_some((p, node))
                })
            })
            .collect();
        nodes = jobs
            .into_par_iter()
            .map(|(p, node)| {
                let f = if p[ax] { hi } else { lo };
                let out = node.pass(f, ax, target, np[ax]);
                (p, out)
            })
            .collect();
    }
    Ok(wanted
        .iter()
        .map(|w| {
            let (_, node) = nodes
                .iter()
                .find(|(p, _)| p[..] == w[..])
                .expect("every wanted band is a leaf");
            node.data.clone()
        })
        .collect())
}

/// The positions (on a periodic axis of `n` voxels) one circular pass of a filter of
/// `flen` taps reads to give the positions `out`, sorted.
fn needed_positions(out: &[usize], n: usize, flen: usize) -> Vec<usize> {
    let half = flen / 2;
    let mut used = vec![false; n];
    for &m in out {
        for j in 0..flen {
            used[(m + half + n * (1 + j / n.max(1)) - j) % n] = true;
        }
    }
    (0..n).filter(|&p| used[p]).collect()
}

/// Part of a periodic (wrap-padded) image: the values at the positions `pos[a]` along each
/// axis (their product).
struct Periodic {
    pos: [Vec<usize>; 3],
    data: Array3<f64>,
}

impl Periodic {
    /// One circular convolution pass along `axis` (`y[m] = sum_j f[j] x[(m + F/2 - j) mod n]`,
    /// summed in the order of j as the whole-image pass does), giving the positions `out`.
    fn pass(&self, f: &[f64], axis: usize, out: &[usize], n: usize) -> Periodic {
        let half = f.len() / 2;
        let mut at = vec![usize::MAX; n];
        for (i, &p) in self.pos[axis].iter().enumerate() {
            at[p] = i;
        }
        // Input index of each tap of each output position.
        let taps: Vec<usize> = out
            .iter()
            .flat_map(|&m| {
                let at = &at;
                (0..f.len()).map(move |j| at[(m + half + n * (1 + j / n.max(1)) - j) % n])
            })
            .collect();
        debug_assert!(taps.iter().all(|&t| t != usize::MAX));
        let mut shape = [
            self.data.shape()[0],
            self.data.shape()[1],
            self.data.shape()[2],
        ];
        shape[axis] = out.len();
        let mut y = Array3::<f64>::zeros(shape);
        let x = &self.data;
        let fl = f.len();
        match axis {
            0 => {
                // Whole (j, k) planes at a time.
                for (m, tp) in taps.chunks_exact(fl).enumerate() {
                    let mut dst = y.index_axis_mut(Axis(0), m);
                    for (c, &t) in f.iter().zip(tp) {
                        ndarray::Zip::from(&mut dst)
                            .and(&x.index_axis(Axis(0), t))
                            .for_each(|d, &v| *d += c * v);
                    }
                }
            }
            1 => {
                // Whole k rows at a time.
                for o in 0..shape[0] {
                    for (m, tp) in taps.chunks_exact(fl).enumerate() {
                        let mut dst = y.slice_mut(ndarray::s![o, m, ..]);
                        for (c, &t) in f.iter().zip(tp) {
                            ndarray::Zip::from(&mut dst)
                                .and(&x.slice(ndarray::s![o, t, ..]))
                                .for_each(|d, &v| *d += c * v);
                        }
                    }
                }
            }
            _ => {
                for (xr, mut yr) in x.rows().into_iter().zip(y.rows_mut()) {
                    let xr = xr.as_slice().expect("standard layout");
                    for (d, tp) in yr.iter_mut().zip(taps.chunks_exact(fl)) {
                        let mut s = 0.0;
                        for (c, &t) in f.iter().zip(tp) {
                            s += c * xr[t];
                        }
                        *d = s;
                    }
                }
            }
        }
        let mut pos = self.pos.clone();
        pos[axis] = out.to_vec();
        Periodic { pos, data: y }
    }
}

/// `v` lines read as rows: position p of the lines is `data[base + p * stride..][..v]`.
struct Rows<'a> {
    data: &'a [f64],
    base: usize,
    stride: usize,
    v: usize,
}

impl Rows<'_> {
    #[inline(always)]
    fn row(&self, p: usize) -> &[f64] {
        let b = self.base + p * self.stride;
        &self.data[b..b + self.v]
    }
}

/// Coefficients of one ITK recursive Gaussian pass (`RecursiveSeparableImageFilter`).
struct Iir {
    n: [f64; 4],
    d: [f64; 4],
    m: [f64; 4],
    bn: [f64; 4],
    bm: [f64; 4],
}

impl Iir {
    /// Order 0 (smoothing) or 2 (second derivative, scaled by sigma^2 for normalisation
    /// across scale) for `sigma` mm on a `spacing` mm axis.
    fn new(sigma: f64, spacing: f64, second: bool) -> Self {
        let sd = sigma / spacing;
        let (w1, l1, w2, l2) = (0.6681, -1.3932, 2.0787, -1.3732);
        let (c1, c2) = ((w1 / sd).cos(), (w2 / sd).cos());
        let (e1, e2) = ((l1 / sd).exp(), (l2 / sd).exp());
        let d4 = e1 * e1 * e2 * e2;
        let d3 = -2.0 * c1 * e1 * e2 * e2 + -2.0 * c2 * e2 * e1 * e1;
        let d2 = 4.0 * c2 * c1 * e1 * e2 + (e1 * e1 + e2 * e2);
        let d1 = -2.0 * (e2 * c2 + e1 * c1);
        let d = [d1, d2, d3, d4];
        let sum_d = 1.0 + d1 + d2 + d3 + d4;
        let dd = d1 + 2.0 * d2 + 3.0 * d3 + 4.0 * d4;
        let ed = d1 + 4.0 * d2 + 9.0 * d3 + 16.0 * d4;
        // N coefficients (and their sums SN, DN, EN) of one exponential series.
        let ncoef = |a1: f64, b1: f64, a2: f64, b2: f64| {
            let (s1, s2) = ((w1 / sd).sin(), (w2 / sd).sin());
            let n0 = a1 + a2;
            let mut n1 = e2 * (b2 * s2 - (a2 + 2.0 * a1) * c2);
            n1 += e1 * (b1 * s1 - (a1 + 2.0 * a2) * c1);
            let mut n2 = (a1 + a2) * c2 * c1;
            n2 -= b1 * c2 * s1 + b2 * c1 * s2;
            n2 *= 2.0 * e1 * e2;
            n2 += a2 * e1 * e1 + a1 * e2 * e2;
            let mut n3 = e2 * e1 * e1 * (b2 * s2 - a2 * c2);
            n3 += e1 * e2 * e2 * (b1 * s1 - a1 * c1);
            let sn = n0 + n1 + n2 + n3;
            (
                [n0, n1, n2, n3],
                sn,
                n1 + 2.0 * n2 + 3.0 * n3,
                n1 + 4.0 * n2 + 9.0 * n3,
            )
        };
        let (g0, sn0, dn0, en0) = ncoef(1.3530, 1.8151, -0.3531, 0.0902);
        let n: [f64; 4] = if second {
            let (g2, sn2, dn2, en2) = ncoef(-1.3563, 5.2318, 0.3446, -2.2355);
            let beta = -(2.0 * sn2 - sum_d * g2[0]) / (2.0 * sn0 - sum_d * g0[0]);
            let n: [f64; 4] = std::array::from_fn(|k| g2[k] + beta * g0[k]);
            let (sn, dn, en) = (sn2 + beta * sn0, dn2 + beta * dn0, en2 + beta * en0);
            let mut alpha2 =
                en * sum_d * sum_d - ed * sn * sum_d - 2.0 * dn * dd * sum_d + 2.0 * dd * dd * sn;
            alpha2 /= sum_d * sum_d * sum_d;
            let scale = sigma * sigma;
            n.map(|x| x * (scale / alpha2))
        } else {
            let alpha0 = 2.0 * sn0 / sum_d - g0[0];
            g0.map(|x| x * (1.0 / alpha0))
        };
        // Symmetric kernels (orders 0 and 2).
        let m = [
            n[1] - d1 * n[0],
            n[2] - d2 * n[0],
            n[3] - d3 * n[0],
            -d4 * n[0],
        ];
        let (sn, sm) = (n.iter().sum::<f64>(), m.iter().sum::<f64>());
        let sdd = 1.0 + d1 + d2 + d3 + d4;
        Self {
            n,
            d,
            m,
            bn: d.map(|x| x * sn / sdd),
            bm: d.map(|x| x * sm / sdd),
        }
    }

    /// One line: causal plus anti-causal pass, the border values extended to infinity (the
    /// definition [`Iir::lines`] follows; the tests' reference implementation).
    #[cfg(test)]
    fn line(&self, x: &[f64], out: &mut [f64], anti: &mut [f64]) {
        let ln = x.len();
        let (n, d, m, bn, bm) = (&self.n, &self.d, &self.m, &self.bn, &self.bm);
        let v1 = x[0];
        let xa = |i: isize| if i < 0 { v1 } else { x[i as usize] };
        for i in 0..ln {
            let ii = i as isize;
            let mut s = xa(ii) * n[0] + xa(ii - 1) * n[1] + xa(ii - 2) * n[2] + xa(ii - 3) * n[3];
            let mut r = 0.0;
            for k in 0..4 {
                r += if i > k {
                    out[i - 1 - k] * d[k]
                } else {
                    v1 * bn[k]
                };
            }
            s -= r;
            out[i] = s;
        }
        let v2 = x[ln - 1];
        let xb = |i: usize| if i >= ln { v2 } else { x[i] };
        for i in (0..ln).rev() {
            let mut s = xb(i + 1) * m[0] + xb(i + 2) * m[1] + xb(i + 3) * m[2] + xb(i + 4) * m[3];
            let mut r = 0.0;
            for k in 0..4 {
                r += if i + 1 + k < ln {
                    anti[i + 1 + k] * d[k]
                } else {
                    v2 * bm[k]
                };
            }
            s -= r;
            anti[i] = s;
        }
        for (o, a) in out.iter_mut().zip(anti.iter()) {
            *o += *a;
        }
    }

    /// The pass along `axis` of `x` (whole along `axis`), computed and returned only on
    /// `keep` (in `x`'s coordinates), rounded to float32 as ITK's intermediate images are.
    /// The same operations as [`Iir::line`] in the same order (the values are equal bit for
    /// bit), on a vector of lines at a time, and the causal part only up to `keep`'s end and
    /// the anti-causal part only down to its start.
    fn pass(&self, x: &Array3<f64>, axis: usize, keep: GridBox) -> Array3<f64> {
        let sh = [x.shape()[0], x.shape()[1], x.shape()[2]];
        debug_assert!(keep.lo[axis] < keep.hi[axis] && keep.hi[axis] <= sh[axis]);
        // Lines along `axis`, a vector of them along `va` (contiguous unless axis is k), one
        // vector per position along `oa`.
        let va = if axis == 2 { 1 } else { 2 };
        let oa = 3 - axis - va;
        let xs = x.as_slice().expect("standard layout");
        let st = [sh[1] * sh[2], sh[2], 1];
        let out_shape = keep.shape();
        let mut y = Array3::<f64>::zeros(out_shape);
        let ys = y.as_slice_mut().expect("standard layout");
        let yst = [out_shape[1] * out_shape[2], out_shape[2], 1];
        let (l, lo, hi) = (sh[axis], keep.lo[axis], keep.hi[axis]);
        let v = out_shape[va];
        // Lines along k are gathered (their vector axis j is strided); the others are read in
        // place (rows of k are contiguous).
        let mut gathered = if st[va] == 1 {
            Vec::new()
        } else {
            vec![0.0; l * v]
        };
        let mut causal = vec![0.0; hi * v];
        let mut anti = vec![0.0; (l - lo) * v];
        for o in keep.lo[oa]..keep.hi[oa] {
            let base = o * st[oa] + keep.lo[va] * st[va];
            let rows = if st[va] == 1 {
                Rows {
                    data: xs,
                    base,
                    stride: st[axis],
                    v,
                }
            } else {
                for p in 0..l {
                    let b = base + p * st[axis];
                    for (t, r) in gathered[p * v..(p + 1) * v].iter_mut().enumerate() {
                        *r = xs[b + t * st[va]];
                    }
                }
                Rows {
                    data: &gathered,
                    base: 0,
                    stride: v,
                    v,
                }
            };
            self.lines(&rows, l, lo, hi, &mut causal, &mut anti);
            let ybase = (o - keep.lo[oa]) * yst[oa];
            for i in lo..hi {
                let c = &causal[i * v..(i + 1) * v];
                let a = &anti[(i - lo) * v..(i - lo + 1) * v];
                let b = ybase + (i - lo) * yst[axis];
                for t in 0..v {
                    ys[b + t * yst[va]] = (c[t] + a[t]) as f32 as f64;
                }
            }
        }
        y
    }

    /// [`Iir::line`] on `rows.v` lines of length `l` at once (`rows.row(p)[t]`: position p of
    /// line t): the causal part for positions `0..hi` into `causal`, the anti-causal part for
    /// positions `lo..l` into `anti` (position i at row i - lo). Compiled for AVX2 as well and
    /// chosen at run time: wider vectors over the lines, the same operations in the same
    /// order (no fused multiply-add), so the same values.
    fn lines(
        &self,
        rows: &Rows,
        l: usize,
        lo: usize,
        hi: usize,
        causal: &mut [f64],
        anti: &mut [f64],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.lines_avx2(rows, l, lo, hi, causal, anti) };
            return;
        }
        self.lines_any(rows, l, lo, hi, causal, anti);
    }

    /// [`Iir::lines_any`] compiled with AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn lines_avx2(
        &self,
        rows: &Rows,
        l: usize,
        lo: usize,
        hi: usize,
        causal: &mut [f64],
        anti: &mut [f64],
    ) {
        self.lines_any(rows, l, lo, hi, causal, anti);
    }

    /// The body of [`Iir::lines`] for any target.
    #[inline(always)]
    fn lines_any(
        &self,
        rows: &Rows,
        l: usize,
        lo: usize,
        hi: usize,
        causal: &mut [f64],
        anti: &mut [f64],
    ) {
        let (n, d, m, bn, bm) = (&self.n, &self.d, &self.m, &self.bn, &self.bm);
        let v = rows.v;
        let row = |p: usize| rows.row(p);
        // Causal: the first 4 positions read the border value (as Iir::line).
        for i in 0..hi.min(4) {
            for t in 0..v {
                let v1 = row(0)[t];
                let xa = |k: usize| if i >= k { row(i - k)[t] } else { v1 };
                let mut s = xa(0) * n[0] + xa(1) * n[1] + xa(2) * n[2] + xa(3) * n[3];
                let mut r = 0.0;
                for k in 0..4 {
                    r += if i > k {
                        causal[(i - 1 - k) * v + t] * d[k]
                    } else {
                        v1 * bn[k]
                    };
                }
                s -= r;
                causal[i * v + t] = s;
            }
        }
        for i in 4..hi {
            let (done, rest) = causal.split_at_mut(i * v);
            let cur = &mut rest[..v];
            let (c1, c2) = (&done[(i - 1) * v..i * v], &done[(i - 2) * v..(i - 1) * v]);
            let (c3, c4) = (
                &done[(i - 3) * v..(i - 2) * v],
                &done[(i - 4) * v..(i - 3) * v],
            );
            let (x0, x1, x2, x3) = (row(i), row(i - 1), row(i - 2), row(i - 3));
            let (c1, c2, c3, c4) = (&c1[..v], &c2[..v], &c3[..v], &c4[..v]);
            let (x0, x1, x2, x3) = (&x0[..v], &x1[..v], &x2[..v], &x3[..v]);
            let cur = &mut cur[..v];
            for t in 0..v {
                let mut s = x0[t] * n[0] + x1[t] * n[1] + x2[t] * n[2] + x3[t] * n[3];
                let mut r = 0.0;
                r += c1[t] * d[0];
                r += c2[t] * d[1];
                r += c3[t] * d[2];
                r += c4[t] * d[3];
                s -= r;
                cur[t] = s;
            }
        }
        // Anti-causal: the last 4 positions read the border value.
        for i in (lo.max(l.saturating_sub(4))..l).rev() {
            for t in 0..v {
                let v2 = row(l - 1)[t];
                let xb = |j: usize| if j >= l { v2 } else { row(j)[t] };
                let mut s =
                    xb(i + 1) * m[0] + xb(i + 2) * m[1] + xb(i + 3) * m[2] + xb(i + 4) * m[3];
                let mut r = 0.0;
                for k in 0..4 {
                    r += if i + 1 + k < l {
                        anti[(i + 1 + k - lo) * v + t] * d[k]
                    } else {
                        v2 * bm[k]
                    };
                }
                s -= r;
                anti[(i - lo) * v + t] = s;
            }
        }
        for i in (lo..l.saturating_sub(4)).rev() {
            let (cur, done) = anti.split_at_mut((i + 1 - lo) * v);
            let cur = &mut cur[(i - lo) * v..];
            let (a1, a2) = (&done[..v], &done[v..2 * v]);
            let (a3, a4) = (&done[2 * v..3 * v], &done[3 * v..4 * v]);
            let (x1, x2, x3, x4) = (row(i + 1), row(i + 2), row(i + 3), row(i + 4));
            let (a1, a2, a3, a4) = (&a1[..v], &a2[..v], &a3[..v], &a4[..v]);
            let (x1, x2, x3, x4) = (&x1[..v], &x2[..v], &x3[..v], &x4[..v]);
            let cur = &mut cur[..v];
            for t in 0..v {
                let mut s = x1[t] * m[0] + x2[t] * m[1] + x3[t] * m[2] + x4[t] * m[3];
                let mut r = 0.0;
                r += a1[t] * d[0];
                r += a2[t] * d[1];
                r += a3[t] * d[2];
                r += a4[t] * d[3];
                s -= r;
                cur[t] = s;
            }
        }
    }
}

/// SimpleITK's `LaplacianRecursiveGaussian` with `NormalizeAcrossScale` (module doc), on the
/// voxels of `bx`. Per axis `dim`: the second derivative along `dim`, then the smoothing along
/// the other axes in axis order; each pass is computed only where the later ones read it
/// (the first along every line, but only up to / down to `bx` along `dim`; the second only on
/// the lines crossing `bx`; ...), which changes no value.
fn laplacian_recursive_gaussian(
    a: &Array3<f64>,
    spacing: [f64; 3],
    sigma: f64,
    bx: GridBox,
) -> Array3<f64> {
    let sh = [a.shape()[0], a.shape()[1], a.shape()[2]];
    let per_axis: Vec<Array3<f64>> = (0..3usize)
        .into_par_iter()
        .map(|dim| {
            let order = [dim]
                .into_iter()
                .chain((0..3).filter(|&o| o != dim))
                .collect::<Vec<_>>();
            // Extent of the current array: restricted to bx along the axes passed so far.
            let mut keep = GridBox { lo: [0; 3], hi: sh };
            let mut t: Option<Array3<f64>> = None;
            for (step, &ax) in order.iter().enumerate() {
                keep.lo[ax] = bx.lo[ax];
                keep.hi[ax] = bx.hi[ax];
                // In the input's coordinates: axes passed before are already cut to bx.
                let mut local = keep;
                for &done in &order[..step] {
                    local.lo[done] = 0;
                    local.hi[done] = bx.hi[done] - bx.lo[done];
                }
                let iir = Iir::new(sigma, spacing[ax], step == 0);
                t = Some(iir.pass(t.as_ref().unwrap_or(a), ax, local));
            }
            t.expect("three passes")
        })
        .collect();
    let mut cum = Array3::<f64>::zeros(bx.shape());
    for (dim, t) in per_axis.iter().enumerate() {
        let inv = 1.0 / (spacing[dim] * spacing[dim]);
        ndarray::Zip::from(&mut cum)
            .and(t)
            .for_each(|c, &v| *c = (*c + v * inv) as f32 as f64);
    }
    cum
}

/// ITK's gradient magnitude: central differences with the border voxel repeated, on the
/// voxels of `bx`.
fn gradient_magnitude(
    a: &Array3<f64>,
    spacing: [f64; 3],
    use_spacing: bool,
    bx: GridBox,
) -> Array3<f64> {
    let sh = a.shape();
    let n = [sh[0], sh[1], sh[2]];
    let h: [f64; 3] = std::array::from_fn(|ax| if use_spacing { spacing[ax] } else { 1.0 });
    let bs = bx.shape();
    Array3::from_shape_fn((bs[0], bs[1], bs[2]), |(i, j, k)| {
        let idx = [i + bx.lo[0], j + bx.lo[1], k + bx.lo[2]];
        let mut o = 0.0;
        for ax in 0..3 {
            let mut lo = idx;
            let mut up = idx;
            lo[ax] = idx[ax].saturating_sub(1);
            up[ax] = (idx[ax] + 1).min(n[ax] - 1);
            let d = (a[up] - a[lo]) / (2.0 * h[ax]);
            o += d * d;
        }
        o.sqrt()
    })
}

/// The whole-image implementations the box versions are checked against (the code that
/// matched PyRadiomics before the box versions).
#[cfg(test)]
mod reference {
    use super::*;

    impl Iir {
        /// The pass along `axis`, rounded to float32 as ITK's intermediate images are.
        pub(super) fn apply(&self, a: &Array3<f64>, axis: usize) -> Array3<f64> {
            let mut out = Array3::<f64>::zeros(a.raw_dim());
            let n = a.shape()[axis];
            let (mut buf, mut o, mut anti) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            for (src, mut dst) in a
                .lanes(Axis(axis))
                .into_iter()
                .zip(out.lanes_mut(Axis(axis)))
            {
                for (b, v) in buf.iter_mut().zip(src.iter()) {
                    *b = *v;
                }
                self.line(&buf, &mut o, &mut anti);
                for (d, v) in dst.iter_mut().zip(&o) {
                    *d = *v as f32 as f64;
                }
            }
            out
        }
    }

    /// SimpleITK's `LaplacianRecursiveGaussian` with `NormalizeAcrossScale` (module doc).
    pub(super) fn laplacian_recursive_gaussian(
        a: &Array3<f64>,
        spacing: [f64; 3],
        sigma: f64,
    ) -> Array3<f64> {
        let per_axis: Vec<Array3<f64>> = (0..3usize)
            .into_par_iter()
            .map(|dim| {
                let mut t = Iir::new(sigma, spacing[dim], true).apply(a, dim);
                for other in (0..3).filter(|&o| o != dim) {
                    t = Iir::new(sigma, spacing[other], false).apply(&t, other);
                }
                t
            })
            .collect();
        let mut cum = Array3::<f64>::zeros(a.raw_dim());
        for (dim, t) in per_axis.iter().enumerate() {
            let inv = 1.0 / (spacing[dim] * spacing[dim]);
            ndarray::Zip::from(&mut cum)
                .and(t)
                .for_each(|c, &v| *c = (*c + v * inv) as f32 as f64);
        }
        cum
    }

    /// One circular convolution pass along `axis`: `y[n] = sum_j f[j] x[(n + F/2 - j) mod N]`.
    pub(super) fn conv_axis(a: &Array3<f64>, f: &[f64], axis: usize) -> Array3<f64> {
        let mut out = Array3::<f64>::zeros(a.raw_dim());
        let n = a.shape()[axis];
        let half = f.len() / 2;
        let mut buf = vec![0.0; n];
        for (src, mut dst) in a
            .lanes(Axis(axis))
            .into_iter()
            .zip(out.lanes_mut(Axis(axis)))
        {
            for (b, v) in buf.iter_mut().zip(src.iter()) {
                *b = *v;
            }
            for (m, d) in dst.iter_mut().enumerate() {
                let mut s = 0.0;
                for (j, c) in f.iter().enumerate() {
                    // (m + half - j) mod n, without negative intermediates.
                    let idx = (m + half + n * (1 + j / n.max(1)) - j) % n;
                    s += c * buf[idx];
                }
                *d = s;
            }
        }
        out
    }

    /// PyRadiomics' `_swt3` for one band (see the module doc).
    pub(super) fn swt(
        a: &Array3<f64>,
        lo: &[f64],
        hi: &[f64],
        approximations: usize,
        band: Option<[bool; 3]>,
    ) -> Array3<f64> {
        let sh = [a.shape()[0], a.shape()[1], a.shape()[2]];
        let padded_shape: [usize; 3] = std::array::from_fn(|d| sh[d] + sh[d] % 2);
        // Wrap padding of odd axes: the extra voxel repeats the first one.
        let mut data = Array3::from_shape_fn(padded_shape, |(i, j, k)| {
            a[[i % sh[0], j % sh[1], k % sh[2]]]
        });
        for _ in 0..approximations {
            for ax in 0..3 {
                data = conv_axis(&data, lo, ax);
            }
        }
        let bands = band.unwrap_or([false; 3]);
        for (ax, h) in bands.iter().enumerate() {
            data = conv_axis(&data, if *h { hi } else { lo }, ax);
        }
        data.slice(ndarray::s![..sh[0], ..sh[1], ..sh[2]])
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::reference::{conv_axis, laplacian_recursive_gaussian as whole_log, swt};
    use super::*;

    /// Circular convolution against a direct evaluation of the definition on a 1D signal
    /// (odd and even lengths, filters longer than the signal).
    #[test]
    fn circular_convolution_follows_the_definition() {
        for n in [5usize, 8, 3] {
            let x: Vec<f64> = (0..n).map(|i| ((i * 7 + 3) % 11) as f64 - 4.0).collect();
            let a = Array3::from_shape_vec((1, 1, n), x.clone()).unwrap();
            let (lo, _) = wavelet_filters("coif1").unwrap();
            let y = conv_axis(&a, lo, 2);
            let f = lo.len() as i64;
            for m in 0..n {
                let want: f64 = (0..f)
                    .map(|j| {
                        let idx = (m as i64 + f / 2 - j).rem_euclid(n as i64) as usize;
                        lo[j as usize] * x[idx]
                    })
                    .sum();
                assert!((y[[0, 0, m]] - want).abs() < 1e-12, "n {n} m {m}");
            }
        }
    }

    /// A CT-like test image (smooth background, a bright blob, a hard edge, pseudo-noise).
    fn test_image(n: [usize; 3]) -> Array3<f64> {
        Array3::from_shape_fn((n[0], n[1], n[2]), |(i, j, k)| {
            let r2 = (i as f64 - 4.0).powi(2) + (j as f64 - 5.0).powi(2) + (k as f64 - 3.0).powi(2);
            let noise = ((i * 7919 + j * 104_729 + k * 1_299_709) % 97) as f64 - 48.0;
            -900.0 * f64::from(i < 2) + 300.0 * (-r2 / 8.0).exp() + 2.5 * noise + 40.0
        })
    }

    fn crop(a: &Array3<f64>, bx: GridBox) -> Array3<f64> {
        a.slice(ndarray::s![
            bx.lo[0]..bx.hi[0],
            bx.lo[1]..bx.hi[1],
            bx.lo[2]..bx.hi[2]
        ])
        .to_owned()
    }

    fn boxes(n: [usize; 3]) -> Vec<GridBox> {
        vec![
            GridBox::whole(&n),
            GridBox {
                lo: [3, 2, 4],
                hi: [6, 7, 5],
            },
            GridBox {
                lo: [0, 0, 0],
                hi: [2, 1, 3],
            },
            GridBox {
                lo: [n[0] - 1, 1, n[2] - 2],
                hi: n,
            },
        ]
    }

    /// Box responses equal the whole-image responses (the reference implementations) bit
    /// for bit: every wavelet band (one decomposition for all of them, and one band at a
    /// time), with and without a prior approximation level, on odd and even axes.
    #[test]
    fn wavelet_box_equals_the_whole_image_decomposition() {
        let (lo, hi) = wavelet_filters("coif1").unwrap();
        for n in [[9usize, 12, 7], [10, 11, 8]] {
            let a = test_image(n);
            let bands: Vec<Option<[bool; 3]>> = (0..8)
                .map(|b| Some([b & 4 != 0, b & 2 != 0, b & 1 != 0]))
                .chain([None])
                .collect();
            for approximations in [0usize, 1] {
                let whole: Vec<Array3<f64>> = bands
                    .iter()
                    .map(|b| swt(&a, lo, hi, approximations, *b))
                    .collect();
                for bx in boxes(n) {
                    let got = wavelet_bands(&a, "coif1", approximations, &bands, bx).unwrap();
                    for (g, w) in got.iter().zip(&whole) {
                        assert_eq!(
                            g,
                            &crop(w, bx),
                            "{n:?} {bx:?} approximations {approximations}"
                        );
                    }
                    let one = PyradImage::Wavelet {
                        wavelet: "coif1".into(),
                        approximations,
                        band: Some([true, false, true]),
                    };
                    assert_eq!(
                        one.apply_box(&a, [1.0; 3], bx).unwrap(),
                        crop(&whole[5], bx)
                    );
                }
            }
        }
    }

    /// The LoG and gradient on a box equal the whole-image computation bit for bit.
    #[test]
    fn log_and_gradient_box_equal_the_whole_image() {
        let n = [11usize, 9, 10];
        let a = test_image(n);
        let sp = [0.8, 1.1, 2.5];
        for sigma in [1.0, 2.5] {
            let whole = whole_log(&a, sp, sigma);
            for bx in boxes(n) {
                let got = PyradImage::Log { sigma }.apply_box(&a, sp, bx).unwrap();
                assert_eq!(got, crop(&whole, bx), "sigma {sigma} {bx:?}");
            }
        }
        let op = PyradImage::Gradient { use_spacing: true };
        let whole = op.apply(&a, sp).unwrap();
        for bx in boxes(n) {
            assert_eq!(op.apply_box(&a, sp, bx).unwrap(), crop(&whole, bx));
        }
    }

    /// The logarithm's rescaling uses the maximum of |log| over the whole image, also when the
    /// box does not contain the voxel of the maximum.
    #[test]
    fn logarithm_box_uses_the_whole_image_maximum() {
        let n = [11usize, 9, 10];
        let a = test_image(n);
        let l = a.mapv(|x| x.signum() * (x.abs() + 1.0).ln());
        let lmax = l.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let amax = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let bx = GridBox {
            lo: [5, 5, 5],
            hi: [7, 8, 9],
        };
        let got = PyradImage::Logarithm.apply_box(&a, [1.0; 3], bx).unwrap();
        for ((i, j, k), g) in got.indexed_iter() {
            let want = l[[i + 5, j + 5, k + 5]] * amax / lmax;
            assert!((g - want).abs() <= 1e-12 * want.abs(), "{g} vs {want}");
        }
    }

    #[test]
    fn simple_operations_keep_the_maximum() {
        let a = Array3::from_shape_vec((2, 2, 1), vec![-4.0, 0.0, 1.0, 9.0]).unwrap();
        let sq = PyradImage::Square.apply(&a, [1.0; 3]).unwrap();
        assert!((sq[[1, 1, 0]] - 9.0).abs() < 1e-12);
        let sr = PyradImage::SquareRoot.apply(&a, [1.0; 3]).unwrap();
        assert!((sr[[0, 0, 0]] + 6.0).abs() < 1e-12 && (sr[[1, 1, 0]] - 9.0).abs() < 1e-12);
        let lg = PyradImage::Logarithm.apply(&a, [1.0; 3]).unwrap();
        assert!((lg[[1, 1, 0]] - 9.0).abs() < 1e-12);
        let ex = PyradImage::Exponential.apply(&a, [1.0; 3]).unwrap();
        assert!((ex[[1, 1, 0]] - 9.0).abs() < 1e-9 && (ex[[0, 1, 0]] - 1.0).abs() < 1e-12);
    }
}
