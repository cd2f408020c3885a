//! Cubic B-spline: ITK's `BSplineDecompositionImageFilter` (prefilter) and the weights and
//! mirror indexing of `BSplineInterpolateImageFunction`, spline order 3.

use ndarray::{Array3, Axis};
use rayon::prelude::*;

/// The single pole of the cubic B-spline prefilter.
pub(crate) const POLE: f64 = -0.267_949_192_431_122_7; // sqrt(3) - 2
/// ITK's default tolerance for truncating the causal initialisation sum.
const TOLERANCE: f64 = 1e-10;

/// Causal initial coefficient, ITK `SetInitialCausalCoefficient` (mirror boundaries).
fn initial_causal(line: &[f64], z: f64) -> f64 {
    let n = line.len();
    let horizon = (TOLERANCE.ln() / z.abs().ln()).ceil() as usize;
    if horizon < n {
        let mut zn = z;
        let mut sum = line[0];
        for v in &line[1..horizon] {
            sum += zn * v;
            zn *= z;
        }
        sum
    } else {
        let mut zn = z;
        let iz = 1.0 / z;
        let mut z2n = z.powi((n - 1) as i32);
        let mut sum = line[0] + z2n * line[n - 1];
        z2n = z2n * z2n * iz;
        for v in &line[1..n - 1] {
            sum += (zn + z2n) * v;
            zn *= z;
            z2n *= iz;
        }
        sum / (1.0 - zn * zn)
    }
}

/// In-place 1D decomposition of one line (f64 scratch), ITK `DataToCoefficients1D`.
pub(crate) fn decompose_line(line: &mut [f64]) {
    let n = line.len();
    if n < 2 {
        return;
    }
    let z = POLE;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    for v in line.iter_mut() {
        *v *= gain;
    }
    line[0] = initial_causal(line, z);
    for i in 1..n {
        line[i] += z * line[i - 1];
    }
    line[n - 1] = (z / (z * z - 1.0)) * (z * line[n - 2] + line[n - 1]);
    for i in (0..n - 1).rev() {
        line[i] = z * (line[i + 1] - line[i]);
    }
}

/// B-spline coefficients of a whole volume (three separable passes, f32 storage, f64 line
/// scratch), parallel over lines.
pub fn bspline_coefficients(data: &Array3<f32>) -> Array3<f32> {
    let mut c = data.as_standard_layout().into_owned();
    for axis in 0..3 {
        decompose_axis(&mut c, axis);
    }
    c
}

fn decompose_axis(c: &mut Array3<f32>, axis: usize) {
    let [n0, n1, n2] = [c.shape()[0], c.shape()[1], c.shape()[2]];
    if c.shape()[axis] < 2 {
        return;
    }
    match axis {
        // Contiguous lanes: one scalar recursion per lane.
        2 => c
            .as_slice_mut()
            .expect("standard layout")
            .par_chunks_mut(n2)
            .for_each_init(
                || vec![0f64; n2],
                |buf, lane| {
                    for (b, v) in buf.iter_mut().zip(lane.iter()) {
                        *b = f64::from(*v);
                    }
                    decompose_line(buf);
                    for (v, b) in lane.iter_mut().zip(buf.iter()) {
                        *v = *b as f32;
                    }
                },
            ),
        // Axis 1: inside each i-plane the lanes are the columns of an n1 x n2 matrix; recurse
        // over rows with whole contiguous rows as vectors.
        1 => c
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut plane| {
                let mut buf: Vec<f64> = plane.iter().map(|&v| f64::from(v)).collect();
                decompose_bundle(&mut buf, n1, n2);
                for (v, b) in plane.iter_mut().zip(buf.iter()) {
                    *v = *b as f32;
                }
            }),
        // Axis 0: for each j, the rows data[:, j, :] form an n0 x n2 matrix.
        _ => c
            .axis_iter_mut(Axis(1))
            .into_par_iter()
            .for_each(|mut sub| {
                let mut buf: Vec<f64> = sub.iter().map(|&v| f64::from(v)).collect();
                decompose_bundle(&mut buf, n0, n2);
                for (v, b) in sub.iter_mut().zip(buf.iter()) {
                    *v = *b as f32;
                }
            }),
    }
}

/// [`decompose_line`] applied to every column of a row-major `n x w` matrix at once (the same
/// arithmetic per column, in the same order), so the inner loops run over contiguous rows.
pub(crate) fn decompose_bundle(buf: &mut [f64], n: usize, w: usize) {
    if n < 2 {
        return;
    }
    let z = POLE;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    for v in buf.iter_mut() {
        *v *= gain;
    }
    // Causal initialisation of row 0.
    let horizon = (TOLERANCE.ln() / z.abs().ln()).ceil() as usize;
    let mut first = vec![0f64; w];
    if horizon < n {
        first.copy_from_slice(&buf[..w]);
        let mut zn = z;
        for r in 1..horizon {
            for (f, v) in first.iter_mut().zip(&buf[r * w..(r + 1) * w]) {
                *f += zn * v;
            }
            zn *= z;
        }
    } else {
        let iz = 1.0 / z;
        let mut zn = z;
        let mut z2n = z.powi((n - 1) as i32);
        for (col, f) in first.iter_mut().enumerate() {
            *f = buf[col] + z2n * buf[(n - 1) * w + col];
        }
        z2n = z2n * z2n * iz;
        for r in 1..n - 1 {
            for (f, v) in first.iter_mut().zip(&buf[r * w..(r + 1) * w]) {
                *f += (zn + z2n) * v;
            }
            zn *= z;
            z2n *= iz;
        }
        for f in first.iter_mut() {
            *f /= 1.0 - zn * zn;
        }
    }
    buf[..w].copy_from_slice(&first);
    for r in 1..n {
        let (prev, cur) = buf[(r - 1) * w..(r + 1) * w].split_at_mut(w);
        for (c, p) in cur.iter_mut().zip(prev.iter()) {
            *c += z * p;
        }
    }
    {
        let k = z / (z * z - 1.0);
        let (prev, last) = buf[(n - 2) * w..n * w].split_at_mut(w);
        for (l, p) in last.iter_mut().zip(prev.iter()) {
            *l = k * (z * p + *l);
        }
    }
    for r in (0..n - 1).rev() {
        let (cur, next) = buf[r * w..(r + 2) * w].split_at_mut(w);
        for (c, nx) in cur.iter_mut().zip(next.iter()) {
            *c = z * (nx - *c);
        }
    }
}

/// Cubic weights and mirrored indices at continuous index `c` (already known to be inside).
#[inline]
pub(crate) fn cubic_taps(c: f64, n: usize) -> ([usize; 4], [f64; 4]) {
    let base = c.floor() as i64 - 1;
    let w = c - (base + 1) as f64;
    let w3 = w * w * w / 6.0;
    let w0 = 1.0 / 6.0 + 0.5 * w * (w - 1.0) - w3;
    let w2 = w + w0 - 2.0 * w3;
    let w1 = 1.0 - w0 - w2 - w3;
    let mut idx = [0usize; 4];
    if n > 1 {
        let l2 = 2 * n as i64 - 2;
        for (k, slot) in idx.iter_mut().enumerate() {
            let mut i = base + k as i64;
            i = if i < 0 { (-i) % l2 } else { i % l2 };
            if i >= n as i64 {
                i = l2 - i;
            }
            *slot = i.clamp(0, n as i64 - 1) as usize;
        }
    }
    (idx, [w0, w1, w2, w3])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The coefficients must reproduce the samples exactly at integer positions (that is what
    /// the prefilter is for): sum of c[i-1]/6 + 4c[i]/6 + c[i+1]/6 with mirror boundaries.
    /// The bundled (row-vectorised) decomposition equals the per-line one.
    #[test]
    fn bundle_equals_lines() {
        for n in [2usize, 3, 7, 30] {
            let w = 5;
            let m: Vec<f64> = (0..n * w)
                .map(|x| ((x * 7919) % 101) as f64 - 50.0)
                .collect();
            let mut b = m.clone();
            decompose_bundle(&mut b, n, w);
            for col in 0..w {
                let mut line: Vec<f64> = (0..n).map(|r| m[r * w + col]).collect();
                decompose_line(&mut line);
                for r in 0..n {
                    assert!((line[r] - b[r * w + col]).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn interpolating_at_knots() {
        for n in [2usize, 3, 5, 17, 40] {
            let data: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64) - 3.5).collect();
            let mut c = data.clone();
            decompose_line(&mut c);
            for (i, want) in data.iter().enumerate() {
                let (idx, w) = cubic_taps(i as f64, n);
                let v: f64 = (0..4).map(|k| w[k] * c[idx[k]]).sum();
                assert!((v - want).abs() < 1e-8, "n={n} i={i}: {v} vs {want}");
            }
        }
    }
}
