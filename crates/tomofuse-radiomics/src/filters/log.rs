//! Laplacian of Gaussian. The kernel is the analytic
//! `-(1/s^2) (2 pi s^2)^(-d/2) (d - |x|^2/s^2) exp(-|x|^2 / (2 s^2))` sampled on a box of
//! radius `floor(truncate * s + 0.5)` voxels per axis, without renormalisation (as MIRP, an IBSI-2
//! reference implementation). It is the sum over the filtered axes of a separable product
//! (second derivative of a 1D Gaussian on that axis, Gaussians on the others), so it runs as
//! 1D passes. With a Riesz order it runs in the Fourier domain instead ([`super::riesz`]).

use super::conv::separable;
use super::{LogParams, check_fits, riesz};
use crate::error::Result;
use ndarray::Array3;

/// The 1D Gaussian and its second derivative, sampled at `-r..=r`.
pub(crate) fn kernels_1d(sigma: f64, r: usize) -> (Vec<f64>, Vec<f64>) {
    let norm = 1.0 / (2.0 * std::f64::consts::PI * sigma * sigma).sqrt();
    let s2 = sigma * sigma;
    let g: Vec<f64> = (-(r as isize)..=r as isize)
        .map(|t| norm * (-(t * t) as f64 / (2.0 * s2)).exp())
        .collect();
    let g2 = g
        .iter()
        .zip(-(r as isize)..=r as isize)
        .map(|(v, t)| v * ((t * t) as f64 / (s2 * s2) - 1.0 / s2))
        .collect();
    (g, g2)
}

/// Per-axis sigma (voxels) and kernel radius.
pub(crate) fn geometry(p: &LogParams, spacing: [f64; 3]) -> ([f64; 3], [usize; 3]) {
    let sigma = spacing.map(|s| p.sigma_mm / s);
    let radius = sigma.map(|s| (p.truncate * s + 0.5).floor() as usize);
    (sigma, radius)
}

pub(crate) fn apply(p: &LogParams, a: &Array3<f64>, spacing: [f64; 3]) -> Result<Array3<f64>> {
    let f = p.dims.filtered();
    let (sigma, radius) = geometry(p, spacing);
    for ax in 0..3 {
        if f[ax] {
            check_fits(
                "sigma_mm",
                2 * radius[ax] + 1,
                &a.shape()[ax..=ax],
                [true, false, false],
            )?;
        }
    }
    if let Some(order) = p.riesz {
        return riesz::log_riesz(p, a, sigma, radius, order);
    }
    let k: Vec<(Vec<f64>, Vec<f64>)> = (0..3).map(|ax| kernels_1d(sigma[ax], radius[ax])).collect();
    let mut out = Array3::<f64>::zeros(a.raw_dim());
    for d in (0..3).filter(|&d| f[d]) {
        let ks: [Option<&[f64]>; 3] = std::array::from_fn(|ax| {
            f[ax].then(|| {
                if ax == d {
                    k[ax].1.as_slice()
                } else {
                    k[ax].0.as_slice()
                }
            })
        });
        out += &separable(a, ks, p.boundary);
    }
    Ok(out)
}
