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

impl PyradImage {
    /// The response of the whole image `a` (`[i, j, k]` = x, y, z) with voxel `spacing`
    /// along i, j, k.
    pub fn apply(&self, a: &Array3<f64>, spacing: [f64; 3]) -> Result<Array3<f64>> {
        let max_abs = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let need_max = |what: &str| -> Result<()> {
            if max_abs > 0.0 && max_abs.is_finite() {
                Ok(())
            } else {
                Err(bad(
                    what,
                    format!("needs a non-zero, finite image (max |x| = {max_abs})"),
                ))
            }
        };
        Ok(match self {
            Self::Square => {
                need_max("square")?;
                let c = 1.0 / max_abs.sqrt();
                a.mapv(|x| (c * x) * (c * x))
            }
            Self::SquareRoot => a.mapv(|x| {
                if x > 0.0 {
                    (x * max_abs).sqrt()
                } else if x < 0.0 {
                    -(-x * max_abs).sqrt()
                } else {
                    x
                }
            }),
            Self::Logarithm => {
                need_max("logarithm")?;
                let l = a.mapv(|x| {
                    if x > 0.0 {
                        (x + 1.0).ln()
                    } else if x < 0.0 {
                        -(-(x - 1.0)).ln()
                    } else {
                        x
                    }
                });
                let lmax = l.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let s = max_abs / lmax;
                l.mapv(|x| x * s)
            }
            Self::Exponential => {
                need_max("exponential")?;
                let c = max_abs.ln() / max_abs;
                a.mapv(|x| (c * x).exp())
            }
            Self::Gradient { use_spacing } => gradient_magnitude(a, spacing, *use_spacing),
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
                laplacian_recursive_gaussian(a, spacing, *sigma)
            }
            Self::Wavelet {
                wavelet,
                approximations,
                band,
            } => {
                let (lo, hi) = wavelet_filters(wavelet).ok_or_else(|| {
                    bad(
                        "wavelet",
                        format!("`{wavelet}` is not a PyWavelets wavelet"),
                    )
                })?;
                swt(a, lo, hi, *approximations, *band)
            }
        })
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

    /// One line: causal plus anti-causal pass, the border values extended to infinity.
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

    /// The pass along `axis`, rounded to float32 as ITK's intermediate images are.
    fn apply(&self, a: &Array3<f64>, axis: usize) -> Array3<f64> {
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
fn laplacian_recursive_gaussian(a: &Array3<f64>, spacing: [f64; 3], sigma: f64) -> Array3<f64> {
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

/// ITK's gradient magnitude: central differences with the border voxel repeated.
fn gradient_magnitude(a: &Array3<f64>, spacing: [f64; 3], use_spacing: bool) -> Array3<f64> {
    let sh = a.shape();
    let n = [sh[0], sh[1], sh[2]];
    let mut out = Array3::<f64>::zeros((n[0], n[1], n[2]));
    for ax in 0..3 {
        let h = if use_spacing { spacing[ax] } else { 1.0 };
        ndarray::Zip::indexed(&mut out).for_each(|(i, j, k), o| {
            let idx = [i, j, k];
            let mut lo = idx;
            let mut up = idx;
            lo[ax] = idx[ax].saturating_sub(1);
            up[ax] = (idx[ax] + 1).min(n[ax] - 1);
            let d = (a[up] - a[lo]) / (2.0 * h);
            *o += d * d;
        });
    }
    out.mapv_inplace(f64::sqrt);
    out
}

/// One circular convolution pass along `axis`: `y[n] = sum_j f[j] x[(n + F/2 - j) mod N]`.
fn conv_axis(a: &Array3<f64>, f: &[f64], axis: usize) -> Array3<f64> {
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
fn swt(
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

#[cfg(test)]
mod tests {
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
