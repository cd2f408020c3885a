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

/// Mean image intensity (any voxel of the crop, inside the ROI or not) in the sphere.
fn local_mean(
    roi: &Roi,
    rows: &[(isize, isize, isize)],
    ps: &(Vec<f64>, Vec<u32>),
    z: usize,
    y: usize,
    x: usize,
) -> f64 {
    let [nz, ny, nx] = roi.dims;
    let (mut s, mut c) = (0.0, 0u32);
    for &(dz, dy, hw) in rows {
        let (zz, yy) = (z as isize + dz, y as isize + dy);
        if zz < 0 || yy < 0 || zz >= nz as isize || yy >= ny as isize {
            continue;
        }
        let lo = (x as isize - hw).max(0) as usize;
        let hi = ((x as isize + hw).min(nx as isize - 1) + 1) as usize;
        let b = (zz as usize * ny + yy as usize) * (nx + 1);
        s += ps.0[b + hi] - ps.0[b + lo];
        c += ps.1[b + hi] - ps.1[b + lo];
    }
    if c == 0 { f64::NAN } else { s / c as f64 }
}

impl FeatureFamily for LocalIntensity {
    fn name(&self) -> &'static str {
        "local_intensity"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.local_intensity
    }
    fn compute(&self, roi: &Roi, _s: &Settings) -> Vec<Feature> {
        let fam = "local_intensity";
        let rows = sphere_rows(roi.spacing);
        let ps = prefix(roi);
        let [nz, ny, nx] = roi.dims;
        let vmax = roi.values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        // Per voxel of the intensity mask: (is a maximum-intensity voxel, local mean).
        let per: Vec<(bool, f64)> = (0..nz)
            .into_par_iter()
            .flat_map_iter(|z| {
                let (rows, ps) = (&rows, &ps);
                (0..ny).flat_map(move |y| {
                    (0..nx).filter_map(move |x| {
                        let id = roi.idx(z, y, x);
                        roi.int_mask[id]
                            .then(|| (roi.img[id] == vmax, local_mean(roi, rows, ps, z, y, x)))
                    })
                })
            })
            .collect();
        let loc = per
            .iter()
            .filter(|(m, _)| *m)
            .map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        let glob = per
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        vec![
            Feature::new(fam, "loc_peak_loc", None, loc),
            Feature::new(fam, "loc_peak_glob", None, glob),
        ]
    }
}
