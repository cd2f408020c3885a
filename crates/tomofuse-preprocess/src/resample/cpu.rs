//! CPU kernels: separable 1D passes for diagonal index maps, per-voxel evaluation otherwise.

use super::{IndexMap, Interp, ResampleOptions, bspline, dims, taps};
use ndarray::Array3;
use rayon::prelude::*;

/// Taps of one axis for every output position, `K` per position (unused ones weight 0).
pub(crate) struct AxisTaps {
    pub k: usize,
    pub idx: Vec<u32>,
    pub w: Vec<f32>,
    pub valid: Vec<bool>,
}

pub(crate) fn ntaps(interp: Interp) -> usize {
    match interp {
        Interp::Nearest => 1,
        Interp::Linear => 2,
        Interp::BSpline => 4,
    }
}

pub(crate) fn axis_taps(
    interp: Interp,
    map: &IndexMap,
    axis: usize,
    n_out: usize,
    n_in: usize,
) -> AxisTaps {
    let k = ntaps(interp);
    let mut idx = vec![0u32; n_out * k];
    let mut w = vec![0f32; n_out * k];
    let mut valid = vec![false; n_out];
    for p in 0..n_out {
        let c = map.t[axis] + map.m[axis][axis] * p as f64;
        if let Some((ii, ww)) = taps(interp, c, n_in) {
            valid[p] = true;
            for t in 0..k {
                idx[p * k + t] = ii[t] as u32;
                w[p * k + t] = ww[t] as f32;
            }
        }
    }
    AxisTaps { k, idx, w, valid }
}

/// Separable resampling for a diagonal index map.
pub(crate) fn separable(
    src: &Array3<f32>,
    map: &IndexMap,
    shape: [usize; 3],
    opts: &ResampleOptions,
) -> Array3<f32> {
    let in_shape = dims(src);
    let taps: Vec<AxisTaps> = (0..3)
        .map(|a| axis_taps(opts.interp, map, a, shape[a], in_shape[a]))
        .collect();
    let coeffs;
    let std_src;
    let first: &[f32] = match opts.interp {
        Interp::BSpline => {
            coeffs = bspline::bspline_coefficients(src);
            coeffs
                .as_slice()
                .expect("coefficients are in standard layout")
        }
        _ => {
            std_src = src.as_standard_layout();
            std_src.as_slice().expect("standard layout is contiguous")
        }
    };
    let mut out = fused(first, in_shape, shape, &taps);
    if opts.default_value != 0.0 {
        let fill = opts.default_value;
        let (t0, t1, t2) = (&taps[0].valid, &taps[1].valid, &taps[2].valid);
        out.par_chunks_mut(shape[1] * shape[2])
            .enumerate()
            .for_each(|(i, plane)| {
                for (j, row) in plane.chunks_mut(shape[2]).enumerate() {
                    for (k, v) in row.iter_mut().enumerate() {
                        if !(t0[i] && t1[j] && t2[k]) {
                            *v = fill;
                        }
                    }
                }
            });
    }
    Array3::from_shape_vec(shape, out).unwrap_or_else(|_| Array3::zeros(shape))
}

/// The three 1D passes fused per output plane: each task combines the input planes of its
/// output index along axis 0 into a scratch plane, then runs the axis-1 and axis-2 passes on
/// that plane in the cheaper order and writes the final plane. Only the output buffer is
/// allocated at full size; scratch planes stay in cache.
pub(crate) fn fused(src: &[f32], d: [usize; 3], shape: [usize; 3], taps: &[AxisTaps]) -> Vec<f32> {
    let [_, n1, n2] = d;
    let [_, m1, m2] = shape;
    let mut out = vec![0f32; shape[0] * m1 * m2];
    let y_first = m1 * n2 <= n1 * m2;
    let t0 = &taps[0];
    out.par_chunks_mut(m1 * m2).enumerate().for_each_init(
        || (vec![0f32; n1 * n2], vec![0f32; (m1 * n2).max(n1 * m2)]),
        |(tmp0, tmp1), (p, dst)| {
            if !t0.valid[p] {
                return;
            }
            let plane = n1 * n2;
            tmp0.fill(0.0);
            for m in 0..t0.k {
                let w = t0.w[p * t0.k + m];
                if w != 0.0 {
                    let s = t0.idx[p * t0.k + m] as usize * plane;
                    axpy(tmp0, w, &src[s..s + plane]);
                }
            }
            if y_first {
                let t1buf = &mut tmp1[..m1 * n2];
                rows_pass(tmp0, n2, m1, &taps[1], t1buf);
                cols_pass(t1buf, m1, n2, m2, &taps[2], dst);
            } else {
                let t1buf = &mut tmp1[..n1 * m2];
                cols_pass(tmp0, n1, n2, m2, &taps[2], t1buf);
                rows_pass(t1buf, m2, m1, &taps[1], dst);
            }
        },
    );
    out
}

/// Plane pass along its rows index: `dst[p] = sum_m w[p,m] * src[idx[p,m]]`, rows of `w`.
fn rows_pass(src: &[f32], width: usize, m_out: usize, t: &AxisTaps, dst: &mut [f32]) {
    for (p, drow) in dst.chunks_mut(width).enumerate().take(m_out) {
        drow.fill(0.0);
        for m in 0..t.k {
            let w = t.w[p * t.k + m];
            if w != 0.0 {
                let s = t.idx[p * t.k + m] as usize * width;
                axpy(drow, w, &src[s..s + width]);
            }
        }
    }
}

/// Plane pass along the contiguous axis: per row, gather `t.k` taps per output sample.
fn cols_pass(src: &[f32], rows: usize, n: usize, m_out: usize, t: &AxisTaps, dst: &mut [f32]) {
    match t.k {
        1 => cols_k::<1>(src, rows, n, m_out, t, dst),
        2 => cols_k::<2>(src, rows, n, m_out, t, dst),
        _ => cols_k::<4>(src, rows, n, m_out, t, dst),
    }
}

fn cols_k<const K: usize>(
    src: &[f32],
    rows: usize,
    n: usize,
    m_out: usize,
    t: &AxisTaps,
    dst: &mut [f32],
) {
    let idx = &t.idx[..m_out * K];
    let w = &t.w[..m_out * K];
    for r in 0..rows {
        let srow = &src[r * n..(r + 1) * n];
        let drow = &mut dst[r * m_out..(r + 1) * m_out];
        for ((o, ii), ww) in drow
            .iter_mut()
            .zip(idx.chunks_exact(K))
            .zip(w.chunks_exact(K))
        {
            let mut acc = 0f32;
            for m in 0..K {
                acc += ww[m] * srow[ii[m] as usize];
            }
            *o = acc;
        }
    }
}

#[inline]
fn axpy(dst: &mut [f32], w: f32, src: &[f32]) {
    for (o, s) in dst.iter_mut().zip(src) {
        *o += w * s;
    }
}

/// Per-voxel evaluation for a general (rotated, permuted) index map.
pub(crate) fn general(
    src: &Array3<f32>,
    map: &IndexMap,
    shape: [usize; 3],
    opts: &ResampleOptions,
) -> Array3<f32> {
    let coeffs;
    let s = match opts.interp {
        Interp::BSpline => {
            coeffs = bspline::bspline_coefficients(src);
            &coeffs
        }
        _ => src,
    };
    let std_s = s.as_standard_layout();
    let sl = std_s.as_slice().expect("standard layout is contiguous");
    let n = dims(s);
    let mut out = vec![0f32; shape[0] * shape[1] * shape[2]];
    match ntaps(opts.interp) {
        1 => general_k::<1>(sl, n, map, shape, opts, &mut out),
        2 => general_k::<2>(sl, n, map, shape, opts, &mut out),
        _ => general_k::<4>(sl, n, map, shape, opts, &mut out),
    }
    Array3::from_shape_vec(shape, out).unwrap_or_else(|_| Array3::zeros(shape))
}

/// Per-voxel tensor-product evaluation with `K` taps per axis, rows of the output in parallel.
fn general_k<const K: usize>(
    s: &[f32],
    n: [usize; 3],
    map: &IndexMap,
    shape: [usize; 3],
    opts: &ResampleOptions,
    out: &mut [f32],
) {
    let fill = opts.default_value;
    let (st0, st1) = (n[1] * n[2], n[2]);
    out.par_chunks_mut(shape[2])
        .enumerate()
        .for_each(|(row, drow)| {
            let (i, j) = (row / shape[1], row % shape[1]);
            for (kk, o) in drow.iter_mut().enumerate() {
                let c = map.apply([i as f64, j as f64, kk as f64]);
                let (Some(a), Some(b), Some(cc)) = (
                    taps(opts.interp, c[0], n[0]),
                    taps(opts.interp, c[1], n[1]),
                    taps(opts.interp, c[2], n[2]),
                ) else {
                    *o = fill;
                    continue;
                };
                let mut acc = 0f64;
                for x in 0..K {
                    let bx = a.0[x] * st0;
                    for y in 0..K {
                        let wxy = a.1[x] * b.1[y];
                        if wxy == 0.0 {
                            continue;
                        }
                        let base = bx + b.0[y] * st1;
                        let mut inner = 0f64;
                        for z in 0..K {
                            inner += cc.1[z] * f64::from(s[base + cc.0[z]]);
                        }
                        acc += wxy * inner;
                    }
                }
                *o = acc as f32;
            }
        });
}

/// Nearest neighbour by index gathering (diagonal map), any element type: one write per
/// output voxel, contiguous output rows, per-axis index tables.
pub(crate) fn nearest_separable<T: Copy + Send + Sync>(
    src: &Array3<T>,
    map: &IndexMap,
    shape: [usize; 3],
    default: T,
) -> Array3<T> {
    let n = dims(src);
    let t: Vec<AxisTaps> = (0..3)
        .map(|a| axis_taps(Interp::Nearest, map, a, shape[a], n[a]))
        .collect();
    let std_src = src.as_standard_layout();
    let s = std_src.as_slice().expect("standard layout is contiguous");
    let [_, m1, m2] = shape;
    let mut out: Vec<T> = Vec::with_capacity(shape[0] * m1 * m2);
    out.resize(shape[0] * m1 * m2, default);
    out.par_chunks_mut(m1 * m2)
        .enumerate()
        .for_each(|(i, plane)| {
            if !t[0].valid[i] {
                return;
            }
            let si = t[0].idx[i] as usize * n[1] * n[2];
            for (j, drow) in plane.chunks_mut(m2).enumerate() {
                if !t[1].valid[j] {
                    continue;
                }
                let srow = &s[si + t[1].idx[j] as usize * n[2]..][..n[2]];
                for ((o, &k), &ok) in drow.iter_mut().zip(&t[2].idx).zip(&t[2].valid) {
                    if ok {
                        *o = srow[k as usize];
                    }
                }
            }
        });
    Array3::from_shape_vec(shape, out).unwrap_or_else(|_| Array3::from_elem(shape, default))
}

/// Nearest neighbour per voxel (general map), any element type.
pub(crate) fn nearest_general<T: Copy + Send + Sync>(
    src: &Array3<T>,
    map: &IndexMap,
    shape: [usize; 3],
    default: T,
) -> Array3<T> {
    let n = dims(src);
    let mut out = Array3::from_elem(shape, default);
    out.axis_iter_mut(ndarray::Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut plane)| {
            for ((j, kk), o) in plane.indexed_iter_mut() {
                let c = map.apply([i as f64, j as f64, kk as f64]);
                if let (Some(a), Some(b), Some(cc)) = (
                    taps(Interp::Nearest, c[0], n[0]),
                    taps(Interp::Nearest, c[1], n[1]),
                    taps(Interp::Nearest, c[2], n[2]),
                ) {
                    *o = src[[a.0[0], b.0[0], cc.0[0]]];
                }
            }
        });
    out
}
