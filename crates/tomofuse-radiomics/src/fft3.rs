//! Exact spatial autocorrelation sums by FFT, for Moran's I and Geary's C.
//!
//! With `a` the mean-centred intensities on the intensity mask (0 elsewhere), `m` the mask
//! indicator and `w(o) = 1/|o|` (mm, `w(0) = 0`) the weight of offset `o`, the pair sums are
//! `sum_{i != j} w_ij a_i a_j = sum_i a_i (w * a)_i`, `sum_i m_i (w * m)_i` and
//! `sum_i a_i^2 (w * m)_i`, with `*` the (linear) convolution. On a zero-padded grid of at
//! least `2n - 1` per axis the circular convolution equals the linear one inside the ROI box,
//! so one forward 3D FFT of `a + i m`, a product with the (real, even) spectrum `W` of the
//! weight kernel and one inverse FFT give `w * a + i (w * m)` exactly (up to rounding): O(V
//! log V) instead of O(N^2) voxel pairs.
//!
//! Memory stays at the ROI's z extent: the buffer holds the `nz` z planes of the `py x px`
//! padded plane; the z transform runs on gathered column blocks zero-padded in a small
//! per-thread buffer (forward, product with `W`, inverse, keep the first `nz` values).
//! `W` is computed on one octant (the kernel is even along every axis, so its spectrum is real
//! and even) by three passes of 1D FFTs, two real even lines per complex transform.

use rayon::prelude::*;
use rustfft::{Fft, FftPlanner, num_complex::Complex};
use std::sync::Arc;

type C = Complex<f64>;
type Plan = Arc<dyn Fft<f64>>;

/// Columns gathered per strided line batch: 16 complex values = 4 cache lines.
const BLOCK: usize = 16;

/// Smallest length `>= n` whose prime factors are 2, 3 and 5 (fast mixed-radix sizes).
pub(crate) fn good_size(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut k = m;
        for p in [2, 3, 5] {
            while k.is_multiple_of(p) {
                k /= p;
            }
        }
        if k == 1 {
            return m;
        }
        m += 1;
    }
}

/// Length `>= n` for a transform that lives only in scratch buffers (no memory cost): the next
/// power of two when it is at most 1.3x the smallest 5-smooth size (rustfft's power-of-two
/// kernels are about twice as fast per point as mixed radix).
fn scratch_size(n: usize) -> usize {
    let (g, p2) = (good_size(n), n.max(1).next_power_of_two());
    if p2 * 10 <= g * 13 { p2 } else { g }
}

/// FFT plans for the three axes, forward and inverse.
struct Plans {
    fx: Plan,
    fy: Plan,
    fz: Plan,
    ix: Plan,
    iy: Plan,
    iz: Plan,
    scratch: usize,
}

impl Plans {
    fn new(p: [usize; 3]) -> Self {
        let mut pl = FftPlanner::<f64>::new();
        let (fz, fy, fx) = (
            pl.plan_fft_forward(p[0]),
            pl.plan_fft_forward(p[1]),
            pl.plan_fft_forward(p[2]),
        );
        let (iz, iy, ix) = (
            pl.plan_fft_inverse(p[0]),
            pl.plan_fft_inverse(p[1]),
            pl.plan_fft_inverse(p[2]),
        );
        let scratch = [&fx, &fy, &fz, &ix, &iy, &iz]
            .iter()
            .map(|f| f.get_inplace_scratch_len())
            .max()
            .unwrap_or(0);
        Self {
            fx,
            fy,
            fz,
            ix,
            iy,
            iz,
            scratch,
        }
    }
}

/// Transforms the columns of one `[py][px]` plane along y in place (x blocks gathered into
/// `lines`); with `rows_out` only the first rows are written back.
fn y_pass(
    plane: &mut [C],
    py: usize,
    px: usize,
    rows_out: usize,
    f: &Plan,
    lines: &mut [C],
    s: &mut [C],
) {
    for x0 in (0..px).step_by(BLOCK) {
        let bw = BLOCK.min(px - x0);
        for y in 0..py {
            for (b, &v) in plane[y * px + x0..y * px + x0 + bw].iter().enumerate() {
                lines[b * py + y] = v;
            }
        }
        f.process_with_scratch(&mut lines[..bw * py], s);
        for y in 0..rows_out {
            for (b, v) in plane[y * px + x0..y * px + x0 + bw].iter_mut().enumerate() {
                *v = lines[b * py + y];
            }
        }
    }
}

/// Spectrum of the weight kernel on one octant, `[ky][kx][kz]` with `k <= p / 2` per axis:
/// `W(k) = sum_o w(o) exp(-2 pi i k.o / p)`, real because `w` is even along every axis.
fn kernel_octant(n: [usize; 3], p: [usize; 3], spacing: [f64; 3], plans: &Plans) -> Vec<f64> {
    let [nz, ny, nx] = n;
    let [pz, py, px] = p;
    let h = [pz / 2 + 1, py / 2 + 1, px / 2 + 1];
    let [hz, hy, hx] = h;
    // Two real even lines per complex transform: the spectrum is (W1, W2) = (re, im).
    // Pass x: rows (dz, dy) of offsets, t1 = [dz][dy][kx].
    let mut t1 = vec![0.0; nz * ny * hx];
    t1.par_chunks_mut(ny * hx).enumerate().for_each_init(
        || (vec![C::default(); px], vec![C::default(); plans.scratch]),
        |(line, s), (dz, out)| {
            for dy0 in (0..ny).step_by(2) {
                line.fill(C::default());
                for (part, dy) in [dy0, dy0 + 1].into_iter().enumerate() {
                    if dy >= ny {
                        continue;
                    }
                    let r2 = (dz as f64 * spacing[0]).powi(2) + (dy as f64 * spacing[1]).powi(2);
                    for dx in 0..nx {
                        let d2 = r2 + (dx as f64 * spacing[2]).powi(2);
                        let w = if d2 > 0.0 { 1.0 / d2.sqrt() } else { 0.0 };
                        for g in [dx, (px - dx) % px] {
                            if part == 0 {
                                line[g].re = w;
                            } else {
                                line[g].im = w;
                            }
                        }
                    }
                }
                plans.fx.process_with_scratch(line, s);
                for (kx, v) in line[..hx].iter().enumerate() {
                    out[dy0 * hx + kx] = v.re;
                    if dy0 + 1 < ny {
                        out[(dy0 + 1) * hx + kx] = v.im;
                    }
                }
            }
        },
    );
    // Pass y: t2 = [dz][ky][kx].
    let mut t2 = vec![0.0; nz * hy * hx];
    t2.par_chunks_mut(hy * hx).enumerate().for_each_init(
        || (vec![C::default(); py], vec![C::default(); plans.scratch]),
        |(line, s), (dz, out)| {
            let src = &t1[dz * ny * hx..(dz + 1) * ny * hx];
            for kx0 in (0..hx).step_by(2) {
                line.fill(C::default());
                for dy in 0..ny {
                    let v = C::new(
                        src[dy * hx + kx0],
                        if kx0 + 1 < hx {
                            src[dy * hx + kx0 + 1]
                        } else {
                            0.0
                        },
                    );
                    line[dy] = v;
                    line[(py - dy) % py] = v;
                }
                plans.fy.process_with_scratch(line, s);
                for (ky, v) in line[..hy].iter().enumerate() {
                    out[ky * hx + kx0] = v.re;
                    if kx0 + 1 < hx {
                        out[ky * hx + kx0 + 1] = v.im;
                    }
                }
            }
        },
    );
    drop(t1);
    // Pass z: w_oct = [ky][kx][kz].
    let mut wo = vec![0.0; hy * hx * hz];
    wo.par_chunks_mut(hx * hz).enumerate().for_each_init(
        || (vec![C::default(); pz], vec![C::default(); plans.scratch]),
        |(line, s), (ky, out)| {
            for kx0 in (0..hx).step_by(2) {
                line.fill(C::default());
                for dz in 0..nz {
                    let b = (dz * hy + ky) * hx + kx0;
                    let v = C::new(t2[b], if kx0 + 1 < hx { t2[b + 1] } else { 0.0 });
                    line[dz] = v;
                    line[(pz - dz) % pz] = v;
                }
                plans.fz.process_with_scratch(line, s);
                for (kz, v) in line[..hz].iter().enumerate() {
                    out[kx0 * hz + kz] = v.re;
                    if kx0 + 1 < hx {
                        out[(kx0 + 1) * hz + kz] = v.im;
                    }
                }
            }
        },
    );
    wo
}

/// Largest padded FFT grid (elements) attempted; bigger ROIs report Moran/Geary as NaN.
pub const MAX_FFT_ELEMENTS: usize = 1 << 26;

/// Returns (sum w a_i a_j, sum w, sum_i a_i^2 W_i) over ordered pairs i != j, where `a` and
/// `m` are `[z][y][x]` arrays of `dims` and `W_i = sum_{j != i} w_ij m_j`, or None when the
/// padded grid would exceed [`MAX_FFT_ELEMENTS`].
pub fn weighted_sums(
    a: &[f64],
    m: &[f64],
    dims: [usize; 3],
    spacing: [f64; 3],
) -> Option<(f64, f64, f64)> {
    let [nz, ny, nx] = dims;
    let p = [
        scratch_size(2 * nz - 1),
        good_size(2 * ny - 1),
        good_size(2 * nx - 1),
    ];
    let [pz, py, px] = p;
    let total = pz.checked_mul(py)?.checked_mul(px)?;
    if total > MAX_FFT_ELEMENTS {
        return None;
    }
    let plans = Plans::new(p);
    let plane = py * px;
    // a + i m on the first nz planes of the padded grid.
    let mut d = vec![C::default(); nz * plane];
    let (wo, ()) = rayon::join(
        || kernel_octant(dims, p, spacing, &plans),
        || {
            d.par_chunks_mut(plane).enumerate().for_each_init(
                || {
                    (
                        vec![C::default(); BLOCK * py],
                        vec![C::default(); plans.scratch],
                    )
                },
                |(lines, s), (z, pl)| {
                    for y in 0..ny {
                        let src = (z * ny + y) * nx;
                        for (x, o) in pl[y * px..y * px + nx].iter_mut().enumerate() {
                            *o = C::new(a[src + x], m[src + x]);
                        }
                    }
                    // Rows y >= ny are zero and stay zero under the x transform.
                    plans.fx.process_with_scratch(&mut pl[..ny * px], s);
                    y_pass(pl, py, px, py, &plans.fy, lines, s);
                },
            )
        },
    );
    let [hz, _, hx] = [pz / 2 + 1, py / 2 + 1, px / 2 + 1];
    // z: per y, the rows (z, y) of every plane; column blocks are zero-padded to pz,
    // transformed, multiplied by W, transformed back, and their first nz values kept.
    let mut by_y: Vec<Vec<&mut [C]>> = (0..py).map(|_| Vec::with_capacity(nz)).collect();
    for pl in d.chunks_mut(plane) {
        for (y, row) in pl.chunks_mut(px).enumerate() {
            by_y[y].push(row);
        }
    }
    by_y.into_par_iter().enumerate().for_each_init(
        || {
            (
                vec![C::default(); BLOCK * pz],
                vec![C::default(); plans.scratch],
            )
        },
        |(lines, s), (y, mut rows)| {
            let ky = y.min(py - y);
            for x0 in (0..px).step_by(BLOCK) {
                let bw = BLOCK.min(px - x0);
                lines[..bw * pz].fill(C::default());
                for (z, row) in rows.iter().enumerate() {
                    for (b, &v) in row[x0..x0 + bw].iter().enumerate() {
                        lines[b * pz + z] = v;
                    }
                }
                plans.fz.process_with_scratch(&mut lines[..bw * pz], s);
                for b in 0..bw {
                    let x = x0 + b;
                    let kx = x.min(px - x);
                    let wl = &wo[(ky * hx + kx) * hz..(ky * hx + kx + 1) * hz];
                    let line = &mut lines[b * pz..(b + 1) * pz];
                    for (kz, v) in line.iter_mut().enumerate() {
                        *v *= wl[kz.min(pz - kz)];
                    }
                }
                plans.iz.process_with_scratch(&mut lines[..bw * pz], s);
                for (z, row) in rows.iter_mut().enumerate() {
                    for (b, v) in row[x0..x0 + bw].iter_mut().enumerate() {
                        *v = lines[b * pz + z];
                    }
                }
            }
        },
    );
    // Inverse y and x on the ROI planes, then the sums over the ROI box (per plane, then
    // added in plane order: the same bits whatever the thread count).
    let per_plane: Vec<[f64; 3]> = d
        .par_chunks_mut(plane)
        .enumerate()
        .map_init(
            || {
                (
                    vec![C::default(); BLOCK * py],
                    vec![C::default(); plans.scratch],
                )
            },
            |(lines, s), (z, pl)| {
                y_pass(pl, py, px, ny, &plans.iy, lines, s);
                plans.ix.process_with_scratch(&mut pl[..ny * px], s);
                let mut acc = [0.0; 3];
                for y in 0..ny {
                    let src = (z * ny + y) * nx;
                    for (x, v) in pl[y * px..y * px + nx].iter().enumerate() {
                        let (ai, mi) = (a[src + x], m[src + x]);
                        acc[0] += ai * v.re;
                        acc[1] += mi * v.im;
                        acc[2] += ai * ai * v.im;
                    }
                }
                acc
            },
        )
        .collect();
    let norm = total as f64;
    let s = per_plane
        .iter()
        .fold([0.0; 3], |s, r| [s[0] + r[0], s[1] + r[1], s[2] + r[2]]);
    Some((s[0] / norm, s[1] / norm, s[2] / norm))
}
