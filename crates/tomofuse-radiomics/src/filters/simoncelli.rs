//! Simoncelli non-separable wavelet, defined in the Fourier domain:
//! `cos(pi/2 log2(2 |w| / w_max))` for `w_max / 4 <= |w| <= w_max`, 0 elsewhere, with
//! `w_max = 2^(1 - level)`. Frequencies are on the image's own grid, coordinate
//! `(c - (n-1)/2) / ((n-1)/2)` at fftshift-ed index `c`, as in MIRP (an IBSI-2 reference
//! implementation); the filter is applied by multiplying the image's spectrum, so the image
//! is periodic by construction (no padding) and the response is the real part.

use super::fourier::{C, Plans, fft2, fft3};
use super::riesz::{coord, multiplier};
use super::{Dims, SimoncelliParams, bad};
use crate::error::Result;
use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;

/// The radial profile at distance `d` for level `level`.
pub fn profile(d: f64, level: usize) -> f64 {
    let wmax = 0.5f64.powi(level as i32 - 1);
    if d >= wmax / 4.0 && d <= wmax {
        (std::f64::consts::FRAC_PI_2 * (2.0 * d / wmax).log2()).cos()
    } else {
        0.0
    }
}

pub(crate) fn apply(p: &SimoncelliParams, a: &Array3<f64>) -> Result<Array3<f64>> {
    let shape = [a.shape()[0], a.shape()[1], a.shape()[2]];
    let f = p.dims.filtered();
    for ax in 0..3 {
        if f[ax] && shape[ax] < 2 {
            return Err(bad(
                "image",
                format!("needs at least 2 voxels along every filtered axis, found {shape:?}"),
            ));
        }
    }
    super::check_buffer(shape, std::mem::size_of::<C>())?;
    let filt = |w: [f64; 3]| -> C {
        let d = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        let h = profile(d, p.level);
        match p.riesz {
            Some(o) => multiplier(o, w) * h,
            None => C::new(h, 0.0),
        }
    };
    match p.dims {
        Dims::D3 => {
            let fwd = Plans::new(&shape, false);
            let inv = Plans::new(&shape, true);
            let mut img = a.mapv(|v| C::new(v, 0.0));
            fft3(&mut img, &fwd);
            img.indexed_iter_mut().for_each(|((x, y, z), v)| {
                *v *= filt([coord(x, shape[0]), coord(y, shape[1]), coord(z, shape[2])]);
            });
            fft3(&mut img, &inv);
            let norm = 1.0 / (shape[0] * shape[1] * shape[2]) as f64;
            Ok(img.mapv(|v| v.re * norm))
        }
        Dims::D2 => {
            let (n0, n1) = (shape[0], shape[1]);
            let fwd = Plans::new(&[n0, n1], false);
            let inv = Plans::new(&[n0, n1], true);
            let h =
                Array2::from_shape_fn((n0, n1), |(x, y)| filt([coord(x, n0), coord(y, n1), 0.0]));
            let norm = 1.0 / (n0 * n1) as f64;
            let slices: Vec<Array2<f64>> = (0..shape[2])
                .into_par_iter()
                .map(|s| {
                    let mut img = a.index_axis(Axis(2), s).mapv(|v| C::new(v, 0.0));
                    let mut buf = Vec::new();
                    fft2(&mut img, &fwd, &mut buf);
                    img *= &h;
                    fft2(&mut img, &inv, &mut buf);
                    img.mapv(|v| v.re * norm)
                })
                .collect();
            let mut out = Array3::<f64>::zeros(shape);
            for (s, sl) in slices.into_iter().enumerate() {
                out.index_axis_mut(Axis(2), s).assign(&sl);
            }
            Ok(out)
        }
    }
}
