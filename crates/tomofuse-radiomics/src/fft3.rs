//! Exact spatial autocorrelation sums by FFT, for Moran's I and Geary's C.
//!
//! With `a` the mean-centred intensities on the intensity mask (0 elsewhere), `m` the mask
//! indicator and `w(o) = 1/|o|` (mm) the weight of offset `o`:
//! `sum_{i != j} w_ij a_i a_j = sum_o w(o) R_aa(o)`, and likewise for `R_mm` and the
//! cross-correlation of `a^2` with `m`. The correlations come from zero-padded 3D FFTs, so
//! the cost is O(V log V) instead of O(N^2) voxel pairs.

use rayon::prelude::*;
use rustfft::{FftPlanner, num_complex::Complex};

type C = Complex<f64>;

fn good_size(n: usize) -> usize {
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

/// In-place 3D FFT of `data` with dims `[pz, py, px]`.
fn fft3(data: &mut [C], dims: [usize; 3], inverse: bool) {
    let [pz, py, px] = dims;
    let mut planner = FftPlanner::<f64>::new();
    let plan = |n: usize, p: &mut FftPlanner<f64>| {
        if inverse {
            p.plan_fft_inverse(n)
        } else {
            p.plan_fft_forward(n)
        }
    };
    let fx = plan(px, &mut planner);
    data.par_chunks_mut(px).for_each(|row| fx.process(row));
    // y lines: within each z plane.
    let fy = plan(py, &mut planner);
    data.par_chunks_mut(py * px).for_each(|plane| {
        let mut line = vec![C::new(0.0, 0.0); py];
        for x in 0..px {
            for y in 0..py {
                line[y] = plane[y * px + x];
            }
            fy.process(&mut line);
            for y in 0..py {
                plane[y * px + x] = line[y];
            }
        }
    });
    // z lines: gather per (y, x) in parallel over y, then scatter.
    let fz = plan(pz, &mut planner);
    let src: &[C] = data;
    let cols: Vec<Vec<C>> = (0..py)
        .into_par_iter()
        .map(|y| {
            let mut out = vec![C::new(0.0, 0.0); px * pz];
            let mut line = vec![C::new(0.0, 0.0); pz];
            for x in 0..px {
                for z in 0..pz {
                    line[z] = src[(z * py + y) * px + x];
                }
                fz.process(&mut line);
                out[x * pz..(x + 1) * pz].copy_from_slice(&line);
            }
            out
        })
        .collect();
    for (y, col) in cols.iter().enumerate() {
        for x in 0..px {
            for z in 0..pz {
                data[(z * py + y) * px + x] = col[x * pz + z];
            }
        }
    }
}

/// Largest padded FFT grid (elements) attempted; bigger ROIs report Moran/Geary as NaN.
pub const MAX_FFT_ELEMENTS: usize = 1 << 26;

/// Returns (sum w a_i a_j, sum w, sum_i a_i^2 W_i) over ordered pairs i != j, or None when
/// the padded grid would exceed [`MAX_FFT_ELEMENTS`].
pub fn weighted_sums(
    a: &[f64],
    m: &[f64],
    dims: [usize; 3],
    spacing: [f64; 3],
) -> Option<(f64, f64, f64)> {
    let [nz, ny, nx] = dims;
    let p = [
        good_size(2 * nz - 1),
        good_size(2 * ny - 1),
        good_size(2 * nx - 1),
    ];
    let total = p[0].checked_mul(p[1])?.checked_mul(p[2])?;
    if total > MAX_FFT_ELEMENTS {
        return None;
    }
    let pad = |v: &dyn Fn(usize) -> f64| {
        let mut out = vec![C::new(0.0, 0.0); total];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    out[(z * p[1] + y) * p[2] + x] = C::new(v((z * ny + y) * nx + x), 0.0);
                }
            }
        }
        out
    };
    // Two real signals per complex transform: x + i y. The products below are Hermitian
    // spectra of real correlations, so one inverse transform returns two of them.
    let mut fam = vec![C::new(0.0, 0.0); total];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = (z * ny + y) * nx + x;
                fam[(z * p[1] + y) * p[2] + x] = C::new(a[i], m[i]);
            }
        }
    }
    let mut fa2 = pad(&|i| a[i] * a[i]);
    fft3(&mut fam, p, false);
    fft3(&mut fa2, p, false);
    // Unpack F(a), F(m) from F(a + i m): A[k] = (Z[k] + conj Z[-k]) / 2, M = (Z[k] - conj Z[-k]) / 2i.
    let neg = |k: usize| -> usize {
        let (z, y, x) = (k / (p[1] * p[2]), (k / p[2]) % p[1], k % p[2]);
        let (z2, y2, x2) = ((p[0] - z) % p[0], (p[1] - y) % p[1], (p[2] - x) % p[2]);
        (z2 * p[1] + y2) * p[2] + x2
    };
    let (mut packed, mut ram): (Vec<C>, Vec<C>) = (0..total)
        .into_par_iter()
        .map(|k| {
            let zk = fam[k];
            let zn = fam[neg(k)].conj();
            let fa = (zk + zn) * 0.5;
            let fm = (zk - zn) * C::new(0.0, -0.5);
            let raa = fa.norm_sqr();
            let rmm = fm.norm_sqr();
            (C::new(raa, rmm), fa2[k] * fm.conj())
        })
        .unzip();
    drop((fam, fa2));
    fft3(&mut packed, p, true);
    fft3(&mut ram, p, true);
    let norm = total as f64;
    let mut sums = (0.0, 0.0, 0.0);
    for z in 0..p[0] {
        let dz = if z < nz {
            z as f64
        } else if z + nz > p[0] {
            z as f64 - p[0] as f64
        } else {
            continue;
        };
        for y in 0..p[1] {
            let dy = if y < ny {
                y as f64
            } else if y + ny > p[1] {
                y as f64 - p[1] as f64
            } else {
                continue;
            };
            for x in 0..p[2] {
                let dx = if x < nx {
                    x as f64
                } else if x + nx > p[2] {
                    x as f64 - p[2] as f64
                } else {
                    continue;
                };
                let d = ((dz * spacing[0]).powi(2)
                    + (dy * spacing[1]).powi(2)
                    + (dx * spacing[2]).powi(2))
                .sqrt();
                if d == 0.0 {
                    continue;
                }
                let w = 1.0 / d;
                let k = (z * p[1] + y) * p[2] + x;
                sums.0 += w * packed[k].re / norm;
                sums.1 += w * packed[k].im / norm;
                sums.2 += w * ram[k].re / norm;
            }
        }
    }
    Some(sums)
}
