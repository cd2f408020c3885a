//! Shared texture machinery: neighbour directions, the "emphasis" feature set common to
//! GLRLM, GLSZM, GLDZM and NGLDM, and averaging of per-matrix feature vectors.

#[cfg(test)]
use crate::roi::PaddedGrid;
use crate::roi::Roi;
use crate::settings::{Convention, Naming};
use std::collections::BTreeMap;

/// The four in-slice directions (dz, dy, dx) of 2D texture.
pub const DIRS_2D: [[isize; 3]; 4] = [[0, 0, 1], [0, 1, -1], [0, 1, 0], [0, 1, 1]];

/// The 13 unique directions of 3D texture (first non-zero component positive).
pub const DIRS_3D: [[isize; 3]; 13] = [
    [0, 0, 1],
    [0, 1, -1],
    [0, 1, 0],
    [0, 1, 1],
    [1, -1, -1],
    [1, -1, 0],
    [1, -1, 1],
    [1, 0, -1],
    [1, 0, 0],
    [1, 0, 1],
    [1, 1, -1],
    [1, 1, 0],
    [1, 1, 1],
];

/// Slices (z) that contain at least one intensity-mask voxel.
pub fn roi_slices(roi: &Roi) -> Vec<usize> {
    let [nz, ny, nx] = roi.dims;
    (0..nz)
        .filter(|&z| {
            roi.gl[z * ny * nx..(z + 1) * ny * nx]
                .iter()
                .any(|&g| g > 0)
        })
        .collect()
}

/// A sparse (grey level, second index) -> count matrix with the voxel count it describes.
#[derive(Debug, Clone, Default)]
pub struct Sparse {
    pub counts: BTreeMap<(u32, u32), f64>,
    /// Number of voxels the matrix was built from (for the percentage features).
    pub nv: f64,
}

impl Sparse {
    pub fn add(&mut self, i: u32, j: u32, c: f64) {
        *self.counts.entry((i, j)).or_insert(0.0) += c;
    }
    pub fn merge(&mut self, o: &Sparse) {
        for (k, v) in &o.counts {
            *self.counts.entry(*k).or_insert(0.0) += v;
        }
        self.nv += o.nv;
    }
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// The 16 emphasis/non-uniformity/variance/entropy features (plus energy, index 16) of a
/// (grey level i, index j) count matrix, in the IBSI order shared by GLRLM, GLSZM, GLDZM
/// and NGLDM.
pub fn emphasis_features(m: &Sparse) -> [f64; 17] {
    emphasis_features_with(m, &Convention::IBSI)
}

/// [`emphasis_features`] under a convention (the entropy's logarithm).
pub fn emphasis_features_with(m: &Sparse, conv: &Convention) -> [f64; 17] {
    let ns: f64 = m.counts.values().sum();
    if ns <= 0.0 {
        return [f64::NAN; 17];
    }
    let mut v = [0.0; 17];
    let mut gi: BTreeMap<u32, f64> = BTreeMap::new();
    let mut gj: BTreeMap<u32, f64> = BTreeMap::new();
    let (mut mu_i, mut mu_j) = (0.0, 0.0);
    for (&(i, j), &c) in &m.counts {
        let (fi, fj) = (i as f64, j as f64);
        let (i2, j2) = (fi * fi, fj * fj);
        v[0] += c / j2;
        v[1] += c * j2;
        v[2] += c / i2;
        v[3] += c * i2;
        v[4] += c / (i2 * j2);
        v[5] += c * i2 / j2;
        v[6] += c * j2 / i2;
        v[7] += c * i2 * j2;
        *gi.entry(i).or_insert(0.0) += c;
        *gj.entry(j).or_insert(0.0) += c;
        mu_i += fi * c / ns;
        mu_j += fj * c / ns;
    }
    for x in v.iter_mut().take(8) {
        *x /= ns;
    }
    let glnu: f64 = gi.values().map(|c| c * c).sum();
    let jnu: f64 = gj.values().map(|c| c * c).sum();
    v[8] = glnu / ns;
    v[9] = glnu / (ns * ns);
    v[10] = jnu / ns;
    v[11] = jnu / (ns * ns);
    v[12] = ns / m.nv;
    let (mut var_i, mut var_j) = (0.0, 0.0);
    for (&(i, j), &c) in &m.counts {
        let p = c / ns;
        var_i += (i as f64 - mu_i).powi(2) * p;
        var_j += (j as f64 - mu_j).powi(2) * p;
    }
    v[13] = var_i;
    v[14] = var_j;
    v[15] = conv.entropy(m.counts.values().map(|c| c / ns));
    v[16] = m.counts.values().map(|c| (c / ns).powi(2)).sum();
    v
}

/// Element-wise mean of feature vectors (NaN when there are none).
pub fn mean_vec<const N: usize>(vs: &[[f64; N]]) -> [f64; N] {
    let mut out = [0.0; N];
    if vs.is_empty() {
        return [f64::NAN; N];
    }
    for v in vs {
        for (o, x) in out.iter_mut().zip(v) {
            *o += x;
        }
    }
    for o in out.iter_mut() {
        *o /= vs.len() as f64;
    }
    out
}

/// Which aggregations the settings ask for: (2D, 2.5D, 3D). PyRadiomics naming computes
/// one: 3D, or 2.5D (in-slice neighbours pooled over slices) with `force2D`.
pub fn dims(s: &crate::Settings) -> (bool, bool, bool) {
    match s.convention().naming {
        Naming::Ibsi => (s.texture.d2, s.texture.d25, s.texture.d3),
        Naming::Pyradiomics if s.pyradiomics.force_2d => (false, true, false),
        Naming::Pyradiomics => (false, false, true),
    }
}

/// The aggregation suffix PyRadiomics reports for a texture family under these settings:
/// the per-direction mean (`avg`, GLCM and GLRLM) or the single matrix (others).
pub fn pyradiomics_suffix(s: &crate::Settings, per_direction: bool) -> &'static str {
    match (s.pyradiomics.force_2d, per_direction) {
        (false, true) => "3D_avg",
        (false, false) => "3D",
        (true, true) => "2_5D_avg",
        (true, false) => "2_5D",
    }
}

/// Features of one family under PyRadiomics naming: `(PyRadiomics name, index into the
/// family's IBSI value vector)`; `values` are the family's values for `suffix`.
pub fn pyradiomics_features(
    class: &str,
    table: &[(&str, &str, usize)],
    values: &[f64],
    suffix: &str,
) -> Vec<crate::Feature> {
    table
        .iter()
        .map(|(name, ibsi_base, k)| {
            crate::Feature::pyradiomics(class, name, ibsi_base, Some(suffix), values[*k])
        })
        .collect()
}

/// Emphasis-feature indices ([`emphasis_features`]) by their role.
pub mod emph {
    pub const SHORT: usize = 0;
    pub const LONG: usize = 1;
    pub const LOW_GL: usize = 2;
    pub const HIGH_GL: usize = 3;
    pub const SHORT_LOW: usize = 4;
    pub const SHORT_HIGH: usize = 5;
    pub const LONG_LOW: usize = 6;
    pub const LONG_HIGH: usize = 7;
    pub const GLNU: usize = 8;
    pub const GLNU_NORM: usize = 9;
    pub const SIZE_NU: usize = 10;
    pub const SIZE_NU_NORM: usize = 11;
    pub const PERC: usize = 12;
    pub const GL_VAR: usize = 13;
    pub const SIZE_VAR: usize = 14;
    pub const ENTROPY: usize = 15;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The padded grid's voxel ids for every slice range are those of a z, y, x scan of
    /// the crop that skips grey level 0, and each holds its voxel's grey level with the
    /// neighbours where a bounds-checked step finds them (level 0 off the crop), on a
    /// scattered ROI with empty rows and slices.
    #[test]
    fn padded_ids_and_steps_equal_the_scan_of_the_crop() {
        let g = tomofuse_core::Geometry::with_spacing([1.0, 1.0, 2.0]).unwrap();
        let n = [9usize, 7, 6];
        let data: Vec<f32> = (0..n[0] * n[1] * n[2]).map(|i| (i % 13) as f32).collect();
        let mask: Vec<u8> = (0..n[0] * n[1] * n[2])
            .map(|i| u8::from((i * 7919) % 5 < 2 && i % 4 != 1))
            .collect();
        let image = tomofuse_core::Volume::from_vec_c(n, data, g).unwrap();
        let mask = tomofuse_core::Volume::from_vec_c(n, mask, g).unwrap();
        let s = crate::Settings::from_toml(
            "discretisation = { method = \"fixed_bin_size\", bin_width = 2.0 }\n",
            "test",
        )
        .unwrap();
        let roi = Roi::build(&image, &mask, 1, &s).unwrap();
        let p = roi.padded();
        let [nz, ny, nx] = roi.dims;
        let level = |z: isize, y: isize, x: isize| -> u32 {
            let inside = (0..nz as isize).contains(&z)
                && (0..ny as isize).contains(&y)
                && (0..nx as isize).contains(&x);
            if inside {
                roi.gl[(z as usize * ny + y as usize) * nx + x as usize]
            } else {
                0
            }
        };
        for zs in [0..nz, 1..2, 2..nz, 0..0, 3..nz - 1] {
            let mut want = Vec::new();
            for z in zs.clone() {
                for y in 0..ny {
                    for x in 0..nx {
                        if roi.gl[(z * ny + y) * nx + x] > 0 {
                            want.push(p.grid.index(z, y, x));
                            for d in DIRS_3D.iter().flat_map(|&d| [d, d.map(|c| -c)]) {
                                let q = PaddedGrid::step(p.grid.index(z, y, x), p.grid.offset(d));
                                let (zz, yy, xx) =
                                    (z as isize + d[0], y as isize + d[1], x as isize + d[2]);
                                assert_eq!(p.gl[q], level(zz, yy, xx), "({z}, {y}, {x}) + {d:?}");
                            }
                        }
                    }
                }
            }
            assert_eq!(p.ids_in(zs.clone()), want, "slices {zs:?}");
        }
    }
}
