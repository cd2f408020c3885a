//! Local intensity features (IBSI 3.2): mean intensity in a 1 cm^3 sphere around voxels.

use crate::roi::{PEAK_RADIUS_MM, Roi};
use crate::settings::Settings;
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;

pub struct LocalIntensity;

/// Rows of the peak sphere: (dz, dy, half-width in x) of voxel centres within the radius.
fn sphere_rows(spacing: [f64; 3]) -> Vec<(isize, isize, isize)> {
    let r = PEAK_RADIUS_MM;
    let ez = (r / spacing[0]).floor() as isize;
    let ey = (r / spacing[1]).floor() as isize;
    let mut v = Vec::new();
    for dz in -ez..=ez {
        for dy in -ey..=ey {
            let rem =
                r * r + 1e-9 - (dz as f64 * spacing[0]).powi(2) - (dy as f64 * spacing[1]).powi(2);
            if rem >= 0.0 {
                v.push((dz, dy, (rem.sqrt() / spacing[2]).floor() as isize));
            }
        }
    }
    v
}

/// Row prefix sums along x of the finite intensities and of their count, so each sphere row
/// costs O(1): `(nx + 1)` entries per (z, y) row.
fn prefix(roi: &Roi) -> (Vec<f64>, Vec<u32>) {
    let [nz, ny, nx] = roi.dims;
    let mut s = vec![0.0; nz * ny * (nx + 1)];
    let mut c = vec![0u32; nz * ny * (nx + 1)];
    for row in 0..nz * ny {
        let (b, o) = (row * (nx + 1), row * nx);
        for x in 0..nx {
            let v = roi.img[o + x];
            let ok = v.is_finite();
            s[b + x + 1] = s[b + x] + if ok { v } else { 0.0 };
            c[b + x + 1] = c[b + x] + u32::from(ok);
        }
    }
    (s, c)
}

/// Sphere sums and voxel counts for the voxels `x0..=x1` of row (z, y): per sphere row, a
/// difference of two prefix sums; the unclipped middle of the range is a plain (vectorised)
/// loop. `sum` and `cnt` are overwritten on `x0..=x1`.
#[allow(clippy::too_many_arguments)]
fn row_sums(
    roi: &Roi,
    rows: &[(isize, isize, isize)],
    ps: &(Vec<f64>, Vec<u32>),
    z: usize,
    y: usize,
    (x0, x1): (usize, usize),
    sum: &mut [f64],
    cnt: &mut [u32],
) {
    let [nz, ny, nx] = roi.dims;
    sum[x0..=x1].fill(0.0);
    cnt[x0..=x1].fill(0);
    for &(dz, dy, hw) in rows {
        let (zz, yy) = (z as isize + dz, y as isize + dy);
        if zz < 0 || yy < 0 || zz >= nz as isize || yy >= ny as isize {
            continue;
        }
        let b = (zz as usize * ny + yy as usize) * (nx + 1);
        let (s, c) = (&ps.0[b..b + nx + 1], &ps.1[b..b + nx + 1]);
        let hw = hw as usize;
        // Unclipped: x - hw >= 0 and x + hw + 1 <= nx.
        let (a, e) = (x0.max(hw), x1.min(nx.saturating_sub(hw + 1)));
        let clipped = |x: usize, sum: &mut [f64], cnt: &mut [u32]| {
            let lo = x.saturating_sub(hw);
            let hi = (x + hw).min(nx - 1) + 1;
            sum[x] += s[hi] - s[lo];
            cnt[x] += c[hi] - c[lo];
        };
        if a > e {
            for x in x0..=x1 {
                clipped(x, sum, cnt);
            }
            continue;
        }
        for x in x0..a {
            clipped(x, sum, cnt);
        }
        for ((o, oc), x) in sum[a..=e].iter_mut().zip(cnt[a..=e].iter_mut()).zip(a..=e) {
            *o += s[x + hw + 1] - s[x - hw];
            *oc += c[x + hw + 1] - c[x - hw];
        }
        for x in e + 1..=x1 {
            clipped(x, sum, cnt);
        }
    }
}

impl FeatureFamily for LocalIntensity {
    fn name(&self) -> &'static str {
        "local_intensity"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.local_intensity && s.convention().naming == crate::Naming::Ibsi
    }
    fn compute(&self, roi: &Roi, _s: &Settings) -> Vec<Feature> {
        let fam = "local_intensity";
        let rows = sphere_rows(roi.spacing);
        let ps = prefix(roi);
        let [nz, ny, nx] = roi.dims;
        let vmax = roi.values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        // Per z plane: (largest local mean at a maximum-intensity voxel, largest local mean).
        let per: Vec<(f64, f64)> = (0..nz)
            .into_par_iter()
            .map(|z| {
                let (mut loc, mut glob) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
                let mut sum = vec![0.0; nx];
                let mut cnt = vec![0u32; nx];
                for y in 0..ny {
                    let m = &roi.int_mask[roi.idx(z, y, 0)..roi.idx(z, y, 0) + nx];
                    let (Some(x0), Some(x1)) =
                        (m.iter().position(|&b| b), m.iter().rposition(|&b| b))
                    else {
                        continue;
                    };
                    row_sums(roi, &rows, &ps, z, y, (x0, x1), &mut sum, &mut cnt);
                    for x in x0..=x1 {
                        if !m[x] {
                            continue;
                        }
                        let v = if cnt[x] == 0 {
                            f64::NAN
                        } else {
                            sum[x] / cnt[x] as f64
                        };
                        glob = glob.max(v);
                        if roi.img[roi.idx(z, y, x)] == vmax {
                            loc = loc.max(v);
                        }
                    }
                }
                (loc, glob)
            })
            .collect();
        let loc = per.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let glob = per.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        vec![
            Feature::new(fam, "loc_peak_loc", None, loc),
            Feature::new(fam, "loc_peak_glob", None, glob),
        ]
    }
}
