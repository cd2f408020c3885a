//! FFT helpers for filters whose kernel is large (Gabor) or defined in the Fourier domain
//! (Simoncelli, Riesz): complex transforms along the axes of 2D and 3D arrays.

use ndarray::{Array2, Array3, Axis, Zip};
use rustfft::{Fft, FftPlanner, num_complex::Complex};
use std::sync::Arc;

pub(crate) type C = Complex<f64>;

/// Fast FFT lengths: the same 5-smooth sizes as the texture features' FFTs.
pub(crate) use crate::fft3::good_size;

/// Forward or inverse plans for a fixed set of lengths.
pub(crate) struct Plans {
    plans: Vec<(usize, Arc<dyn Fft<f64>>)>,
}

impl Plans {
    pub(crate) fn new(lengths: &[usize], inverse: bool) -> Self {
        let mut planner = FftPlanner::<f64>::new();
        let plans = lengths
            .iter()
            .map(|&n| {
                let p = if inverse {
                    planner.plan_fft_inverse(n)
                } else {
                    planner.plan_fft_forward(n)
                };
                (n, p)
            })
            .collect();
        Self { plans }
    }

    fn get(&self, n: usize) -> &Arc<dyn Fft<f64>> {
        &self
            .plans
            .iter()
            .find(|(m, _)| *m == n)
            .expect("a plan for every axis length")
            .1
    }
}

/// Transforms a 3D array along every axis in place (unnormalised), lines in parallel.
pub(crate) fn fft3(a: &mut Array3<C>, plans: &Plans) {
    for axis in 0..3 {
        let f = plans.get(a.len_of(Axis(axis))).clone();
        Zip::from(a.lanes_mut(Axis(axis))).par_for_each(|mut lane| {
            let mut buf: Vec<C> = lane.iter().copied().collect();
            f.process(&mut buf);
            for (o, v) in lane.iter_mut().zip(buf) {
                *o = v;
            }
        });
    }
}

/// Transforms a 2D array along both axes in place (unnormalised), sequentially: callers
/// parallelise over slices.
pub(crate) fn fft2(a: &mut Array2<C>, plans: &Plans, buf: &mut Vec<C>) {
    for axis in 0..2 {
        let f = plans.get(a.len_of(Axis(axis)));
        for mut lane in a.lanes_mut(Axis(axis)) {
            buf.clear();
            buf.extend(lane.iter().copied());
            f.process(buf);
            for (o, v) in lane.iter_mut().zip(buf.iter()) {
                *o = *v;
            }
        }
    }
}

/// Index of the "centric" (fftshift-ed) position that holds quadrant-order frequency `m` of
/// a length-`n` transform: `fftshift(x)[(m + n / 2) % n] = x[m]`.
#[inline]
pub(crate) fn centric(m: usize, n: usize) -> usize {
    (m + n / 2) % n
}
