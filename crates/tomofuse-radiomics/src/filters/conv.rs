//! Separable spatial convolution: one 1D pass per axis, parallel over the lines of the pass.

use super::boundary::Boundary;
use ndarray::{Array3, Axis, Zip};
use rayon::prelude::*;

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
    if axis < 2 {
        return conv_outer(a, axis, &taps, c, b);
    }
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

/// [`conv_axis`] along axis 0 or 1 of a C-ordered array: whole contiguous rows (k) are
/// combined, `out_row = sum_t w_t in_row(shifted)`, so the inner loop is a vectorisable
/// multiply-add instead of a strided gather. The taps are added in the same order as the
/// line version, so both give the same bits.
fn conv_outer(
    a: &Array3<f64>,
    axis: usize,
    taps: &[(usize, f64)],
    c: usize,
    b: Boundary,
) -> Array3<f64> {
    let a = a.as_standard_layout();
    let (n0, n1, n2) = a.dim();
    let src = a.as_slice().expect("standard layout");
    let mut out = Array3::<f64>::zeros((n0, n1, n2));
    let dst = out.as_slice_mut().expect("standard layout");
    let axpy = |o: &mut [f64], s: &[f64], w: f64| {
        for (x, y) in o.iter_mut().zip(s) {
            *x += w * y;
        }
    };
    if axis == 0 {
        let plane = n1 * n2;
        dst.par_chunks_mut(plane).enumerate().for_each(|(i, o)| {
            for &(t, w) in taps {
                if let Some(q) = b.index(i as isize + c as isize - t as isize, n0) {
                    axpy(o, &src[q * plane..(q + 1) * plane], w);
                }
            }
        });
    } else {
        dst.par_chunks_mut(n1 * n2).enumerate().for_each(|(i, pl)| {
            for (j, o) in pl.chunks_mut(n2).enumerate() {
                for &(t, w) in taps {
                    if let Some(q) = b.index(j as isize + c as isize - t as isize, n1) {
                        let r = (i * n1 + q) * n2;
                        axpy(o, &src[r..r + n2], w);
                    }
                }
            }
        });
    }
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
/// `len / 2` of the extended kernel (the convention of MIRP (an IBSI-2 reference implementation)).
pub(crate) fn odd(w: &[f64]) -> Vec<f64> {
    let mut v = w.to_vec();
    if v.len().is_multiple_of(2) {
        v.push(0.0);
    }
    v
}

/// One 1D pass: (axis, odd-length kernel).
pub(crate) type Pass = (usize, Vec<f64>);

/// Runs several chains of 1D passes on the same input and hands each result to `sink` in
/// the order of `chains`. Chains that start with the same passes share them (depth-first
/// over the common prefixes), so pooling over the 24 rotations of a separable filter costs
/// far fewer than 24 x 3 passes; at most one intermediate volume per depth is alive.
pub(crate) fn run_chains(
    a: &Array3<f64>,
    chains: &[Vec<Pass>],
    b: Boundary,
    sink: &mut dyn FnMut(usize, Array3<f64>),
) {
    let idx: Vec<usize> = (0..chains.len()).collect();
    chain_dfs(a, chains, &idx, 0, b, sink);
}

fn chain_dfs(
    a: &Array3<f64>,
    chains: &[Vec<Pass>],
    members: &[usize],
    depth: usize,
    b: Boundary,
    sink: &mut dyn FnMut(usize, Array3<f64>),
) {
    // Chains that end here receive the input itself.
    let (done, open): (Vec<usize>, Vec<usize>) =
        members.iter().partition(|&&m| chains[m].len() == depth);
    for m in done {
        sink(m, a.clone());
    }
    // Group the rest by their pass at this depth, in first-occurrence order.
    let mut groups: Vec<(&Pass, Vec<usize>)> = Vec::new();
    for m in open {
        let p = &chains[m][depth];
        match groups.iter_mut().find(|(q, _)| *q == p) {
            Some((_, g)) => g.push(m),
            None => groups.push((p, vec![m])),
        }
    }
    for ((axis, w), g) in groups {
        let next = conv_axis(a, *axis, w, b);
        chain_dfs(&next, chains, &g, depth + 1, b, sink);
    }
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

    #[test]
    fn row_passes_equal_line_passes_on_every_axis_and_boundary() {
        let a = Array3::from_shape_fn((7, 6, 5), |(i, j, k)| {
            ((i * 31 + j * 17 + k * 7) % 13) as f64 - 6.0
        });
        let w = [0.5, -1.0, 0.0, 2.0, 0.25];
        for b in [
            Boundary::Zero,
            Boundary::Nearest,
            Boundary::Periodic,
            Boundary::Mirror,
        ] {
            for axis in 0..3 {
                let got = conv_axis(&a, axis, &w, b);
                let want = Array3::from_shape_fn(a.raw_dim(), |(i, j, k)| {
                    let p = [i, j, k][axis] as isize;
                    let n = a.shape()[axis];
                    (0..5)
                        .map(|t| {
                            let mut idx = [i, j, k];
                            match b.index(p + 2 - t as isize, n) {
                                Some(q) => {
                                    idx[axis] = q;
                                    w[t] * a[idx]
                                }
                                None => 0.0,
                            }
                        })
                        .sum::<f64>()
                });
                let d = (&got - &want)
                    .mapv(f64::abs)
                    .fold(0.0, |m: f64, &v| m.max(v));
                assert!(d < 1e-12, "axis {axis} {b}: {d}");
            }
        }
    }
}
