//! Riesz transform of a filter response, in the Fourier domain: the
//! filter spectrum is multiplied by `(-i)^L sqrt(L! / prod l_a!) prod w_a^(l_a) / |w|^L`,
//! `L = sum l_a`. As in MIRP (an IBSI-2 reference implementation) the frequency coordinate of
//! axis `a` at fftshift-ed index `c` of an `n`-point transform is `(c - (n-1)/2) / ((n-1)/2)`.

use super::fourier::{C, Plans, centric, fft2, fft3};
use super::{Dims, LogParams, RieszOrder};
use crate::error::Result;
use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;

fn factorial(n: u32) -> f64 {
    (1..=n).map(f64::from).product()
}

/// Frequency coordinate of quadrant-order index `m` of an `n`-point transform.
pub(crate) fn coord(m: usize, n: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let h = (n as f64 - 1.0) / 2.0;
    (centric(m, n) as f64 - h) / h
}

/// The Riesz multiplier at frequency coordinates `w` (0 at the origin).
pub(crate) fn multiplier(order: RieszOrder, w: [f64; 3]) -> C {
    let l: u32 = order.iter().sum();
    let r2: f64 = w.iter().map(|v| v * v).sum();
    if r2 == 0.0 {
        return C::new(0.0, 0.0);
    }
    let pre = (factorial(l) / order.iter().map(|&o| factorial(o)).product::<f64>()).sqrt();
    let num: f64 = (0..3).map(|a| w[a].powi(order[a] as i32)).product();
    let v = pre * num / r2.sqrt().powi(l as i32);
    // (-i)^L
    match l % 4 {
        0 => C::new(v, 0.0),
        1 => C::new(0.0, -v),
        2 => C::new(-v, 0.0),
        _ => C::new(0.0, v),
    }
}

/// LoG followed by a Riesz transform: the image padded by the kernel radius (boundary
/// condition), the kernel spectrum on the padded grid times the Riesz multiplier, the real
/// part of the inverse transform cropped back to the image.
pub(crate) fn log_riesz(
    p: &LogParams,
    a: &Array3<f64>,
    sigma: [f64; 3],
    radius: [usize; 3],
    order: RieszOrder,
) -> Result<Array3<f64>> {
    let f = p.dims.filtered();
    let shape = [a.shape()[0], a.shape()[1], a.shape()[2]];
    let r = std::array::from_fn::<usize, 3, _>(|ax| if f[ax] { radius[ax] } else { 0 });
    let ps: [usize; 3] = std::array::from_fn(|ax| shape[ax] + 2 * r[ax]);
    let k1: Vec<(Vec<f64>, Vec<f64>)> = (0..3)
        .map(|ax| super::log::kernels_1d(sigma[ax], r[ax]))
        .collect();
    // Analytic LoG value at kernel index (u0, u1, u2) (centre at r).
    let kval = |u: [usize; 3]| -> f64 {
        (0..3)
            .filter(|&d| f[d])
            .map(|d| {
                (0..3)
                    .filter(|&ax| f[ax])
                    .map(|ax| {
                        if ax == d {
                            k1[ax].1[u[ax]]
                        } else {
                            k1[ax].0[u[ax]]
                        }
                    })
                    .product::<f64>()
            })
            .sum()
    };
    let b = p.boundary;
    super::check_buffer(ps, 2 * std::mem::size_of::<C>())?;
    match p.dims {
        Dims::D3 => {
            let fwd = Plans::new(&ps, false);
            let inv = Plans::new(&ps, true);
            let mut kern = Array3::<C>::zeros(ps);
            for u0 in 0..=2 * r[0] {
                for u1 in 0..=2 * r[1] {
                    for u2 in 0..=2 * r[2] {
                        kern[[u0, u1, u2]] = C::new(kval([u0, u1, u2]), 0.0);
                    }
                }
            }
            fft3(&mut kern, &fwd);
            let mut img = Array3::<C>::from_shape_fn(ps, |(x, y, z)| {
                let idx = [x, y, z];
                let mut src = [0usize; 3];
                for ax in 0..3 {
                    match b.index(idx[ax] as isize - r[ax] as isize, shape[ax]) {
                        Some(i) => src[ax] = i,
                        None => return C::new(0.0, 0.0),
                    }
                }
                C::new(a[src], 0.0)
            });
            fft3(&mut img, &fwd);
            img.indexed_iter_mut().for_each(|((x, y, z), v)| {
                let w = [coord(x, ps[0]), coord(y, ps[1]), coord(z, ps[2])];
                *v *= kern[[x, y, z]] * multiplier(order, w);
            });
            fft3(&mut img, &inv);
            let norm = 1.0 / (ps[0] * ps[1] * ps[2]) as f64;
            Ok(Array3::from_shape_fn(shape, |(x, y, z)| {
                img[[x + 2 * r[0], y + 2 * r[1], z + 2 * r[2]]].re * norm
            }))
        }
        Dims::D2 => {
            let (p0, p1) = (ps[0], ps[1]);
            let fwd = Plans::new(&[p0, p1], false);
            let inv = Plans::new(&[p0, p1], true);
            let mut kern = Array2::<C>::zeros((p0, p1));
            for u0 in 0..=2 * r[0] {
                for u1 in 0..=2 * r[1] {
                    kern[[u0, u1]] = C::new(kval([u0, u1, 0]), 0.0);
                }
            }
            fft2(&mut kern, &fwd, &mut Vec::new());
            let mult = Array2::from_shape_fn((p0, p1), |(x, y)| {
                kern[[x, y]] * multiplier(order, [coord(x, p0), coord(y, p1), 0.0])
            });
            let norm = 1.0 / (p0 * p1) as f64;
            let slices: Vec<Array2<f64>> = (0..shape[2])
                .into_par_iter()
                .map(|s| {
                    let sl = a.index_axis(Axis(2), s);
                    let mut img = Array2::<C>::from_shape_fn((p0, p1), |(x, y)| {
                        match (
                            b.index(x as isize - r[0] as isize, shape[0]),
                            b.index(y as isize - r[1] as isize, shape[1]),
                        ) {
                            (Some(i), Some(j)) => C::new(sl[[i, j]], 0.0),
                            _ => C::new(0.0, 0.0),
                        }
                    });
                    let mut buf = Vec::new();
                    fft2(&mut img, &fwd, &mut buf);
                    img *= &mult;
                    fft2(&mut img, &inv, &mut buf);
                    Array2::from_shape_fn((shape[0], shape[1]), |(x, y)| {
                        img[[x + 2 * r[0], y + 2 * r[1]]].re * norm
                    })
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
