//! Separable spatial convolution: one 1D pass per axis, parallel over the lines of the pass.

use super::boundary::Boundary;
use ndarray::{Array3, Axis, Zip};

/// True convolution of every line along `axis` with the odd-length kernel `w`, centred at
/// `w.len() / 2`: `out[p] = sum_j w[j] in[p + c - j]` (scipy `convolve1d`, origin 0).
pub(crate) fn conv_axis(a: &Array3<f64>, axis: usize, w: &[f64], b: Boundary) -> Array3<f64> {
    debug_assert!(w.len() % 2 == 1, "kernels are extended to odd length");
    let c = w.len() / 2;
    // The zeros inserted by the a trous algorithm cost nothing.
    let taps: Vec<(usize, f64)> = w
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(j, v)| (j, *v))
        .collect();
    let mut out = Array3::<f64>::zeros(a.raw_dim());
    Zip::from(out.lanes_mut(Axis(axis)))
        .and(a.lanes(Axis(axis)))
        .par_for_each(|mut o, l| {
            let line: Vec<f64> = l.iter().copied().collect();
            let mut pad = Vec::with_capacity(line.len() + 2 * c);
            b.pad(&line, c, c, &mut pad);
            for (p, op) in o.iter_mut().enumerate() {
                // in[p + c - j] sits at pad[p + 2c - j].
                *op = taps.iter().map(|&(j, v)| v * pad[p + 2 * c - j]).sum();
            }
        });
    out
}

/// Applies the per-axis kernels (None = axis not filtered) one after the other, z first.
pub(crate) fn separable(a: &Array3<f64>, kernels: [Option<&[f64]>; 3], b: Boundary) -> Array3<f64> {
    let mut cur: Option<Array3<f64>> = None;
    for axis in [2, 1, 0] {
        if let Some(w) = kernels[axis] {
            let next = conv_axis(cur.as_ref().unwrap_or(a), axis, w, b);
            cur = Some(next);
        }
    }
    cur.unwrap_or_else(|| a.clone())
}

/// Odd-length copy of a kernel: an even kernel gets a trailing zero, so its centre is
/// `len / 2` of the extended kernel (the convention of the IBSI-2 reference implementation).
pub(crate) fn odd(w: &[f64]) -> Vec<f64> {
    let mut v = w.to_vec();
    if v.len().is_multiple_of(2) {
        v.push(0.0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convolution_flips_the_kernel_and_centres_it() {
        let mut a = Array3::<f64>::zeros((1, 1, 7));
        a[[0, 0, 3]] = 1.0;
        let out = conv_axis(&a, 2, &[1.0, 2.0, 3.0], Boundary::Zero);
        assert_eq!(out.as_slice().unwrap(), &[0., 0., 1., 2., 3., 0., 0.]);
    }
}
