//! PyRadiomics 3.0.1 compatibility: the features PyRadiomics computes by default (shape,
//! firstorder, glcm, glrlm, glszm, gldm, ngtdm), named `original_<class>_<Feature>` and
//! computed with PyRadiomics' conventions rather than IBSI's:
//!
//! - fixed bin width anchored at zero: `g = floor(x / w) - floor(min / w) + 1`;
//! - texture matrices over the 13 (GLCM, GLRLM) or 26 (GLDM, NGTDM, GLSZM connectivity)
//!   3D neighbours at distance 1; GLCM symmetric, features per direction then averaged
//!   (directions without any pair dropped); grey-level vectors hold the actual grey levels and
//!   `Ng` is the highest level present (Idmn, Idn);
//! - kurtosis not excess (`m4 / m2^2`), variance and PCA covariance divided by N, percentiles
//!   by linear interpolation (numpy), energies with `voxelArrayShift`;
//! - shape from PyRadiomics' own marching cubes (its 128-case triangle table, mirrored for the
//!   complement) on the mask padded by one voxel; diameters over the edge-midpoint vertices;
//!   PCA axes `4 sqrt(lambda)`.
//!
//! Entropies use log2 with `eps = 2^-52` added inside the logarithm, as PyRadiomics does.

use crate::Feature;
use crate::roi::Roi;
use rayon::prelude::*;

const EPS: f64 = f64::EPSILON;

/// PyRadiomics' `triTable` (cshape.c): triangles (edge ids) per cube case 0..127; cases
/// >= 128 use the complement with the volume sign flipped. Corner order follows `GRID`.
#[rustfmt::skip]
const TRI_TABLE: [[i8; 16]; 128] = [
    [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 8, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 8, 3, 1, 9, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 2, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 8, 3, 1, 2, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [9, 2, 10, 0, 2, 9, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [2, 8, 3, 2, 10, 8, 10, 9, 8, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 0, 0, 8, 11, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 0, 11, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 1, 1, 9, 11, 9, 8, 11, -1, -1, -1, -1, -1, -1, -1],
    [3, 10, 1, 11, 10, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [10, 1, 0, 0, 8, 10, 8, 11, 10, -1, -1, -1, -1, -1, -1, -1],
    [9, 0, 3, 3, 11, 9, 11, 10, 9, -1, -1, -1, -1, -1, -1, -1],
    [9, 8, 10, 11, 10, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [4, 7, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 4, 3, 4, 7, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 0, 4, 7, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 4, 1, 4, 7, 1, 7, 3, -1, -1, -1, -1, -1, -1, -1],
    [1, 2, 10, 4, 7, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [3, 4, 7, 3, 0, 4, 1, 2, 10, -1, -1, -1, -1, -1, -1, -1],
    [9, 2, 10, 9, 0, 2, 4, 7, 8, -1, -1, -1, -1, -1, -1, -1],
    [2, 10, 9, 2, 9, 7, 2, 7, 3, 4, 7, 9, -1, -1, -1, -1],
    [4, 7, 8, 11, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [11, 4, 7, 11, 2, 4, 2, 0, 4, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 0, 4, 7, 8, 11, 2, 3, -1, -1, -1, -1, -1, -1, -1],
    [4, 7, 11, 9, 4, 11, 11, 2, 9, 1, 9, 2, -1, -1, -1, -1],
    [3, 10, 1, 11, 10, 3, 4, 7, 8, -1, -1, -1, -1, -1, -1, -1],
    [11, 10, 1, 1, 4, 11, 1, 0, 4, 4, 7, 11, -1, -1, -1, -1],
    [4, 7, 8, 9, 0, 3, 3, 11, 9, 11, 10, 9, -1, -1, -1, -1],
    [4, 7, 11, 4, 11, 9, 9, 11, 10, -1, -1, -1, -1, -1, -1, -1],
    [9, 5, 4, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [9, 5, 4, 0, 8, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 5, 4, 0, 1, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [8, 5, 4, 8, 3, 5, 3, 1, 5, -1, -1, -1, -1, -1, -1, -1],
    [1, 2, 10, 9, 5, 4, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 8, 3, 1, 2, 10, 9, 5, 4, -1, -1, -1, -1, -1, -1, -1],
    [2, 10, 5, 5, 4, 2, 2, 4, 0, -1, -1, -1, -1, -1, -1, -1],
    [2, 10, 5, 3, 2, 5, 3, 5, 4, 8, 3, 4, -1, -1, -1, -1],
    [9, 5, 4, 11, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 0, 0, 8, 11, 9, 5, 4, -1, -1, -1, -1, -1, -1, -1],
    [0, 5, 4, 0, 1, 5, 11, 2, 3, -1, -1, -1, -1, -1, -1, -1],
    [2, 1, 5, 2, 5, 8, 11, 2, 8, 5, 4, 8, -1, -1, -1, -1],
    [3, 10, 1, 11, 10, 3, 9, 5, 4, -1, -1, -1, -1, -1, -1, -1],
    [5, 4, 9, 10, 1, 0, 0, 8, 10, 8, 11, 10, -1, -1, -1, -1],
    [5, 4, 0, 5, 0, 11, 10, 5, 11, 11, 0, 3, -1, -1, -1, -1],
    [5, 4, 8, 10, 5, 8, 11, 10, 8, -1, -1, -1, -1, -1, -1, -1],
    [7, 8, 9, 5, 7, 9, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [3, 0, 9, 5, 3, 9, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1],
    [7, 8, 0, 0, 1, 7, 7, 1, 5, -1, -1, -1, -1, -1, -1, -1],
    [1, 5, 7, 1, 7, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [7, 8, 9, 5, 7, 9, 1, 2, 10, -1, -1, -1, -1, -1, -1, -1],
    [1, 2, 10, 3, 0, 9, 3, 9, 5, 3, 5, 7, -1, -1, -1, -1],
    [0, 2, 8, 8, 2, 5, 8, 5, 7, 2, 10, 5, -1, -1, -1, -1],
    [2, 10, 5, 2, 5, 3, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1],
    [5, 7, 9, 7, 8, 9, 11, 2, 3, -1, -1, -1, -1, -1, -1, -1],
    [5, 7, 9, 9, 7, 2, 2, 0, 9, 11, 2, 7, -1, -1, -1, -1],
    [11, 2, 3, 0, 1, 8, 1, 7, 8, 1, 5, 7, -1, -1, -1, -1],
    [2, 1, 11, 1, 7, 11, 1, 5, 7, -1, -1, -1, -1, -1, -1, -1],
    [7, 8, 9, 5, 7, 9, 3, 10, 1, 11, 10, 3, -1, -1, -1, -1],
    [5, 7, 0, 5, 0, 9, 7, 11, 0, 10, 1, 0, 11, 10, 0, -1],
    [11, 10, 0, 0, 3, 11, 10, 5, 0, 0, 7, 8, 5, 7, 0, -1],
    [11, 10, 5, 5, 7, 11, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [6, 5, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 8, 3, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 0, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 8, 3, 1, 9, 8, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1],
    [1, 6, 5, 1, 2, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, 6, 5, 1, 2, 6, 0, 8, 3, -1, -1, -1, -1, -1, -1, -1],
    [9, 6, 5, 9, 0, 6, 0, 2, 6, -1, -1, -1, -1, -1, -1, -1],
    [5, 9, 8, 5, 8, 2, 5, 2, 6, 8, 3, 2, -1, -1, -1, -1],
    [11, 2, 3, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 0, 0, 8, 11, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 0, 11, 2, 3, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 1, 1, 9, 11, 9, 8, 11, 6, 5, 10, -1, -1, -1, -1],
    [6, 3, 11, 6, 5, 3, 5, 1, 3, -1, -1, -1, -1, -1, -1, -1],
    [0, 8, 11, 0, 11, 5, 0, 5, 1, 5, 11, 6, -1, -1, -1, -1],
    [6, 3, 11, 0, 3, 6, 0, 6, 5, 0, 5, 9, -1, -1, -1, -1],
    [6, 5, 9, 6, 9, 11, 11, 9, 8, -1, -1, -1, -1, -1, -1, -1],
    [4, 7, 8, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 4, 3, 4, 7, 3, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 0, 4, 7, 8, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1],
    [1, 9, 4, 1, 4, 7, 1, 7, 3, 6, 5, 10, -1, -1, -1, -1],
    [4, 7, 8, 1, 6, 5, 1, 2, 6, -1, -1, -1, -1, -1, -1, -1],
    [0, 4, 3, 4, 7, 3, 1, 6, 5, 1, 2, 6, -1, -1, -1, -1],
    [4, 7, 8, 9, 6, 5, 9, 0, 6, 0, 2, 6, -1, -1, -1, -1],
    [7, 3, 9, 4, 7, 9, 3, 2, 9, 5, 9, 6, 2, 6, 9, -1],
    [11, 2, 3, 4, 7, 8, 6, 5, 10, -1, -1, -1, -1, -1, -1, -1],
    [11, 4, 7, 11, 2, 4, 2, 0, 4, 6, 5, 10, -1, -1, -1, -1],
    [1, 9, 0, 11, 2, 3, 4, 7, 8, 6, 5, 10, -1, -1, -1, -1],
    [4, 7, 11, 9, 4, 11, 11, 2, 9, 1, 9, 2, 6, 5, 10, -1],
    [4, 7, 8, 6, 3, 11, 6, 5, 3, 5, 1, 3, -1, -1, -1, -1],
    [5, 1, 11, 5, 11, 6, 1, 0, 11, 4, 7, 11, 0, 4, 11, -1],
    [4, 7, 8, 6, 3, 11, 0, 3, 6, 0, 6, 5, 0, 5, 9, -1],
    [6, 5, 9, 6, 9, 11, 4, 7, 9, 7, 11, 9, -1, -1, -1, -1],
    [10, 4, 9, 6, 4, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [10, 4, 9, 6, 4, 10, 0, 8, 3, -1, -1, -1, -1, -1, -1, -1],
    [0, 1, 10, 10, 6, 0, 6, 4, 0, -1, -1, -1, -1, -1, -1, -1],
    [1, 8, 3, 1, 6, 8, 8, 6, 4, 6, 1, 10, -1, -1, -1, -1],
    [1, 4, 9, 1, 2, 4, 2, 6, 4, -1, -1, -1, -1, -1, -1, -1],
    [1, 4, 9, 1, 2, 4, 2, 6, 4, 0, 8, 3, -1, -1, -1, -1],
    [0, 2, 4, 4, 2, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [8, 3, 2, 8, 2, 4, 4, 2, 6, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 3, 10, 4, 9, 6, 4, 10, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 0, 0, 8, 11, 10, 4, 9, 6, 4, 10, -1, -1, -1, -1],
    [11, 2, 3, 0, 1, 10, 10, 6, 0, 6, 4, 0, -1, -1, -1, -1],
    [6, 4, 1, 6, 1, 10, 1, 4, 8, 11, 2, 1, 1, 8, 11, -1],
    [9, 6, 4, 3, 6, 9, 1, 3, 9, 11, 6, 3, -1, -1, -1, -1],
    [1, 8, 11, 0, 8, 1, 11, 6, 1, 1, 4, 9, 6, 4, 1, -1],
    [6, 3, 11, 0, 3, 6, 6, 4, 0, -1, -1, -1, -1, -1, -1, -1],
    [8, 6, 4, 6, 8, 11, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [6, 7, 10, 7, 8, 10, 8, 9, 10, -1, -1, -1, -1, -1, -1, -1],
    [6, 7, 10, 0, 10, 7, 0, 9, 10, 0, 7, 3, -1, -1, -1, -1],
    [6, 7, 10, 1, 10, 7, 1, 7, 8, 0, 1, 8, -1, -1, -1, -1],
    [6, 7, 10, 1, 10, 7, 1, 7, 3, -1, -1, -1, -1, -1, -1, -1],
    [1, 2, 6, 1, 6, 8, 1, 8, 9, 6, 7, 8, -1, -1, -1, -1],
    [2, 6, 9, 1, 2, 9, 6, 7, 9, 3, 0, 9, 7, 3, 9, -1],
    [0, 7, 8, 7, 0, 6, 6, 0, 2, -1, -1, -1, -1, -1, -1, -1],
    [2, 7, 3, 2, 6, 7, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [11, 2, 3, 6, 7, 10, 7, 8, 10, 8, 9, 10, -1, -1, -1, -1],
    [2, 0, 7, 11, 2, 7, 0, 9, 7, 6, 7, 10, 9, 10, 7, -1],
    [6, 7, 10, 1, 10, 7, 1, 7, 8, 0, 1, 8, 11, 2, 3, -1],
    [11, 2, 1, 1, 7, 11, 10, 6, 1, 1, 6, 7, -1, -1, -1, -1],
    [8, 9, 6, 6, 7, 8, 1, 6, 9, 11, 6, 3, 1, 3, 6, -1],
    [0, 9, 1, 6, 7, 11, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [0, 7, 8, 7, 0, 6, 0, 3, 11, 11, 6, 0, -1, -1, -1, -1],
    [6, 7, 11, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
];

/// Cube corners as (z, y, x) offsets (cshape.c `gridAngles`).
const GRID: [[usize; 3]; 8] = [
    [0, 0, 0],
    [0, 0, 1],
    [0, 1, 1],
    [0, 1, 0],
    [1, 0, 0],
    [1, 0, 1],
    [1, 1, 1],
    [1, 1, 0],
];

/// Edge midpoints as (z, y, x) offsets, doubled (cshape.c `vertList` * 2).
const VERT2: [[i64; 3]; 12] = [
    [0, 0, 1],
    [0, 1, 2],
    [0, 2, 1],
    [0, 1, 0],
    [2, 0, 1],
    [2, 1, 2],
    [2, 2, 1],
    [2, 1, 0],
    [1, 0, 0],
    [1, 0, 2],
    [1, 2, 2],
    [1, 2, 0],
];

/// Options of the compatibility mode that have no IBSI counterpart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PyradOptions {
    /// PyRadiomics `binWidth` (fixed bin size) or None with `bin_count`.
    pub bin_width: Option<f64>,
    /// PyRadiomics `binCount`.
    pub bin_count: Option<u32>,
    /// PyRadiomics `voxelArrayShift` (added before Energy, TotalEnergy, RootMeanSquared).
    pub voxel_array_shift: f64,
}

fn feat(class: &str, name: &str, value: f64) -> Feature {
    let tag = format!("original_{class}_{name}");
    let reason = (!value.is_finite()).then(|| "value is not finite".to_string());
    Feature {
        family: format!("pyradiomics_{class}"),
        name: name.to_string(),
        ibsi_code: String::new(),
        ibsi_tag: tag,
        value,
        reason,
        image_type: crate::image_types::ORIGINAL.to_string(),
    }
}

/// All default PyRadiomics features of the ROI (intensity mask for intensity and texture
/// classes, morphological mask for shape, as PyRadiomics' resegmentation does).
pub fn compute(roi: &Roi, opt: &PyradOptions) -> Vec<Feature> {
    let gl = grey_levels(roi, opt);
    let (shape, rest) = rayon::join(
        || shape(roi),
        || {
            let parts: Vec<Vec<Feature>> = (0..6usize)
                .into_par_iter()
                .map(|k| match k {
                    0 => firstorder(roi, &gl, opt),
                    1 => glcm(roi, &gl),
                    2 => glrlm(roi, &gl),
                    3 => glszm(roi, &gl),
                    4 => gldm(roi, &gl),
                    _ => ngtdm(roi, &gl),
                })
                .collect();
            parts.into_iter().flatten().collect::<Vec<_>>()
        },
    );
    shape.into_iter().chain(rest).collect()
}

/// PyRadiomics grey levels (0 outside the intensity mask) and Ng (the highest level).
struct Levels {
    g: Vec<u32>,
    ng: usize,
}

fn grey_levels(roi: &Roi, opt: &PyradOptions) -> Levels {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in &roi.values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let mut g = vec![0u32; roi.img.len()];
    let mut ng = 0u32;
    for (id, gv) in g.iter_mut().enumerate() {
        if !roi.int_mask[id] {
            continue;
        }
        let x = roi.img[id];
        let b = match (opt.bin_width, opt.bin_count) {
            (Some(w), _) => ((x / w).floor() - (lo / w).floor()) as i64 + 1,
            (None, Some(n)) => {
                if x >= hi || hi == lo {
                    n as i64
                } else {
                    (n as f64 * (x - lo) / (hi - lo)).floor() as i64 + 1
                }
            }
            (None, None) => 1,
        };
        *gv = b.max(1) as u32;
        ng = ng.max(*gv);
    }
    Levels { g, ng: ng as usize }
}

/// numpy's default (linear) percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let f = pos - lo as f64;
    sorted[lo] + f * (sorted[hi] - sorted[lo])
}

fn firstorder(roi: &Roi, gl: &Levels, opt: &PyradOptions) -> Vec<Feature> {
    let c = "firstorder";
    let x = &roi.values;
    let n = x.len() as f64;
    let mut s = x.clone();
    s.sort_by(|a, b| a.total_cmp(b));
    let mean = x.iter().sum::<f64>() / n;
    let m = |k: i32| x.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / n;
    let (m2, m3, m4) = (m(2), m(3), m(4));
    let energy: f64 = x.iter().map(|v| (v + opt.voxel_array_shift).powi(2)).sum();
    let voxvol = roi.spacing[0] * roi.spacing[1] * roi.spacing[2];
    let mut hist = vec![0f64; gl.ng + 1];
    for (id, &g) in gl.g.iter().enumerate() {
        if roi.int_mask[id] {
            hist[g as usize] += 1.0;
        }
    }
    let p: Vec<f64> = hist.iter().filter(|&&h| h > 0.0).map(|h| h / n).collect();
    let (p10, p90) = (percentile(&s, 10.0), percentile(&s, 90.0));
    let robust: Vec<f64> = x
        .iter()
        .cloned()
        .filter(|v| *v >= p10 && *v <= p90)
        .collect();
    let rmean = robust.iter().sum::<f64>() / robust.len() as f64;
    let (min, max) = (s[0], s[s.len() - 1]);
    let (sk, ku) = if m2 == 0.0 {
        (0.0, 0.0)
    } else {
        (m3 / m2.powf(1.5), m4 / (m2 * m2))
    };
    vec![
        feat(c, "Energy", energy),
        feat(c, "TotalEnergy", energy * voxvol),
        feat(
            c,
            "Entropy",
            -p.iter().map(|q| q * (q + EPS).log2()).sum::<f64>(),
        ),
        feat(c, "Minimum", min),
        feat(c, "10Percentile", p10),
        feat(c, "90Percentile", p90),
        feat(c, "Maximum", max),
        feat(c, "Mean", mean),
        feat(c, "Median", percentile(&s, 50.0)),
        feat(
            c,
            "InterquartileRange",
            percentile(&s, 75.0) - percentile(&s, 25.0),
        ),
        feat(c, "Range", max - min),
        feat(
            c,
            "MeanAbsoluteDeviation",
            x.iter().map(|v| (v - mean).abs()).sum::<f64>() / n,
        ),
        feat(
            c,
            "RobustMeanAbsoluteDeviation",
            robust.iter().map(|v| (v - rmean).abs()).sum::<f64>() / robust.len() as f64,
        ),
        feat(c, "RootMeanSquared", (energy / n).sqrt()),
        feat(c, "Skewness", sk),
        feat(c, "Kurtosis", ku),
        feat(c, "Variance", m2),
        feat(c, "Uniformity", p.iter().map(|q| q * q).sum()),
    ]
}

/// Eigenvalues of a symmetric matrix (cyclic Jacobi), ascending.
pub fn sym_eigen(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum::<f64>() + off;
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let cs = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * cs;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = cs * akp - sn * akq;
                    row[q] = sn * akp + cs * akq;
                }
                // p < q: split the rows to update both at once.
                let (head, tail) = a.split_at_mut(q);
                for (apk, aqk) in head[p].iter_mut().zip(tail[0].iter_mut()) {
                    let (x, y) = (*apk, *aqk);
                    *apk = cs * x - sn * y;
                    *aqk = sn * x + cs * y;
                }
            }
        }
    }
    let mut e: Vec<f64> = (0..n).map(|i| a[i][i]).collect();
    e.sort_by(|x, y| x.total_cmp(y));
    e
}

fn shape(roi: &Roi) -> Vec<Feature> {
    let c = "shape";
    let [nz, ny, nx] = roi.dims;
    let sp = roi.spacing;
    // PyRadiomics' table is not watertight at ambiguous cubes, so its signed volume depends
    // on the origin: the corner of the mask cropped to its bounding box (shape ignores
    // `padDistance`), then padded by one voxel.
    let mut bb_lo = [usize::MAX; 3];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if roi.morph[(z * ny + y) * nx + x] {
                    for (a, v) in [z, y, x].into_iter().enumerate() {
                        bb_lo[a] = bb_lo[a].min(v);
                    }
                }
            }
        }
    }
    // Padded-crop index -> PyRadiomics' padded-bounding-box index.
    let off: [f64; 3] = std::array::from_fn(|a| {
        let bb = if bb_lo[a] == usize::MAX { 0 } else { bb_lo[a] };
        -(bb as f64)
    });
    // Padded by one voxel on every side, as PyRadiomics pads the mask.
    let at = |z: usize, y: usize, x: usize| -> bool {
        z >= 1
            && y >= 1
            && x >= 1
            && z <= nz
            && y <= ny
            && x <= nx
            && roi.morph[((z - 1) * ny + (y - 1)) * nx + (x - 1)]
    };
    let (pz, py, px) = (nz + 2, ny + 2, nx + 2);
    let per: Vec<(f64, f64, Vec<[i64; 3]>)> = (0..pz - 1)
        .into_par_iter()
        .map(|iz| {
            let (mut area, mut vol) = (0.0, 0.0);
            let mut verts = Vec::new();
            for iy in 0..py - 1 {
                for ix in 0..px - 1 {
                    let mut cube = 0usize;
                    for (a, o) in GRID.iter().enumerate() {
                        if at(iz + o[0], iy + o[1], ix + o[2]) {
                            cube |= 1 << a;
                        }
                    }
                    let mut sign = 1.0;
                    if cube & 0x80 != 0 {
                        cube ^= 0xff;
                        sign = -1.0;
                    }
                    // Vertices on edges 6, 7, 11 (each lattice edge belongs to one cube).
                    for (corner, edge) in [(6usize, 6usize), (4, 7), (3, 11)] {
                        if cube & (1 << corner) != 0 {
                            let v = VERT2[edge];
                            verts.push([
                                2 * iz as i64 + v[0],
                                2 * iy as i64 + v[1],
                                2 * ix as i64 + v[2],
                            ]);
                        }
                    }
                    if cube == 0 {
                        continue;
                    }
                    let row = &TRI_TABLE[cube];
                    let mut t = 0;
                    while t < 5 && row[3 * t] >= 0 {
                        let pt = |k: usize| -> [f64; 3] {
                            let v = VERT2[row[3 * t + k] as usize];
                            [
                                (iz as f64 + off[0] + v[0] as f64 / 2.0) * sp[0],
                                (iy as f64 + off[1] + v[1] as f64 / 2.0) * sp[1],
                                (ix as f64 + off[2] + v[2] as f64 / 2.0) * sp[2],
                            ]
                        };
                        let (a, b, cc) = (pt(0), pt(1), pt(2));
                        let ab = crate::mesh::cross(a, b);
                        vol += sign * crate::mesh::dot(ab, cc);
                        let cr =
                            crate::mesh::cross(crate::mesh::sub(a, cc), crate::mesh::sub(b, cc));
                        area += 0.5 * crate::mesh::norm(cr);
                        t += 1;
                    }
                }
            }
            (area, vol, verts)
        })
        .collect();
    let (mut area, mut volume) = (0.0, 0.0);
    let mut verts = Vec::new();
    for (a, v, vs) in per {
        area += a;
        volume += v;
        verts.extend(vs);
    }
    volume /= 6.0;
    let diam = diameters(&verts, sp);

    // PCA of the voxel centres (population covariance, as PyRadiomics).
    let mut pts = Vec::new();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if roi.morph[(z * ny + y) * nx + x] {
                    pts.push([z as f64 * sp[0], y as f64 * sp[1], x as f64 * sp[2]]);
                }
            }
        }
    }
    let np = pts.len() as f64;
    let mut mean = [0.0; 3];
    for p in &pts {
        for k in 0..3 {
            mean[k] += p[k] / np;
        }
    }
    let mut cov = vec![vec![0.0; 3]; 3];
    for p in &pts {
        for a in 0..3 {
            for b in 0..3 {
                cov[a][b] += (p[a] - mean[a]) * (p[b] - mean[b]) / np;
            }
        }
    }
    let mut e = sym_eigen(cov);
    for v in e.iter_mut() {
        if *v < 0.0 && *v > -1e-10 {
            *v = 0.0;
        }
    }
    let ax = |v: f64| if v < 0.0 { f64::NAN } else { 4.0 * v.sqrt() };
    let ratio = |a: f64, b: f64| {
        if a < 0.0 || b < 0.0 {
            f64::NAN
        } else {
            (a / b).sqrt()
        }
    };
    let sph = (36.0 * std::f64::consts::PI * volume * volume).cbrt() / area;
    vec![
        feat(c, "Elongation", ratio(e[1], e[2])),
        feat(c, "Flatness", ratio(e[0], e[2])),
        feat(c, "LeastAxisLength", ax(e[0])),
        feat(c, "MajorAxisLength", ax(e[2])),
        feat(c, "Maximum2DDiameterColumn", diam[1]),
        feat(c, "Maximum2DDiameterRow", diam[2]),
        feat(c, "Maximum2DDiameterSlice", diam[0]),
        feat(c, "Maximum3DDiameter", diam[3]),
        feat(c, "MeshVolume", volume),
        feat(c, "MinorAxisLength", ax(e[1])),
        feat(c, "Sphericity", sph),
        feat(c, "SurfaceArea", area),
        feat(c, "SurfaceVolumeRatio", area / volume),
        feat(c, "VoxelVolume", np * sp[0] * sp[1] * sp[2]),
    ]
}

/// Largest vertex distances: within a slice (same z), column (same y), row (same x), and
/// overall. Farthest pairs are convex-hull vertices, so each set is first reduced to its
/// hull candidates (per-plane 2D hull vertices; for 3D also the 3D hull's vertices).
fn diameters(verts: &[[i64; 3]], sp: [f64; 3]) -> [f64; 4] {
    let d2 = |a: &[i64; 3], b: &[i64; 3]| -> f64 {
        (0..3)
            .map(|k| ((a[k] - b[k]) as f64 / 2.0 * sp[k]).powi(2))
            .sum()
    };
    let max_pair = |pts: &[[i64; 3]]| -> f64 {
        (0..pts.len())
            .into_par_iter()
            .map(|i| {
                pts[i + 1..]
                    .iter()
                    .map(|q| d2(&pts[i], q))
                    .fold(0.0f64, f64::max)
            })
            .reduce(|| 0.0, f64::max)
    };
    let mut out = [0.0; 4];
    let cand = crate::mesh::hull_prefilter(&crate::mesh::hull_candidates(verts));
    let hull_pts = match crate::mesh::convex_hull(&cand) {
        Some(faces) => {
            let mut v: Vec<[i64; 3]> = faces.iter().flatten().copied().collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        None => cand,
    };
    out[3] = max_pair(&hull_pts).sqrt();
    for axis in 0..3 {
        // Permute so the plane axis is last (hull_prefilter works per last-coordinate plane).
        let (a, b) = ((axis + 1) % 3, (axis + 2) % 3);
        let perm: Vec<[i64; 3]> = verts.iter().map(|v| [v[a], v[b], v[axis]]).collect();
        let per_plane = crate::mesh::hull_prefilter(&perm);
        let back = |q: &[i64; 3]| {
            let mut v = [0i64; 3];
            v[a] = q[0];
            v[b] = q[1];
            v[axis] = q[2];
            v
        };
        let mut best = 0.0f64;
        for plane in per_plane.chunk_by(|x, y| x[2] == y[2]) {
            let pts: Vec<[i64; 3]> = plane.iter().map(back).collect();
            for i in 0..pts.len() {
                for q in &pts[i + 1..] {
                    best = best.max(d2(&pts[i], q));
                }
            }
        }
        out[axis] = best.sqrt();
    }
    out
}

/// The 13 direction offsets (z, y, x) of one half of the 26-neighbourhood.
fn half_dirs() -> Vec<[i64; 3]> {
    let mut v = Vec::new();
    for dz in -1i64..=1 {
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let o = [dz, dy, dx];
                if o > [0, 0, 0] {
                    v.push(o);
                }
            }
        }
    }
    v
}

fn all_dirs() -> Vec<[i64; 3]> {
    let mut v = half_dirs();
    let neg: Vec<[i64; 3]> = v.iter().map(|o| [-o[0], -o[1], -o[2]]).collect();
    v.extend(neg);
    v
}

/// Neighbour index of `id` at offset `o`, if inside the crop.
#[inline]
fn step(dims: [usize; 3], z: usize, y: usize, x: usize, o: [i64; 3]) -> Option<usize> {
    let (z2, y2, x2) = (z as i64 + o[0], y as i64 + o[1], x as i64 + o[2]);
    if z2 < 0
        || y2 < 0
        || x2 < 0
        || z2 >= dims[0] as i64
        || y2 >= dims[1] as i64
        || x2 >= dims[2] as i64
    {
        return None;
    }
    Some((z2 as usize * dims[1] + y2 as usize) * dims[2] + x2 as usize)
}

fn nanmean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().cloned().filter(|x| !x.is_nan()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

fn glcm(roi: &Roi, gl: &Levels) -> Vec<Feature> {
    let c = "glcm";
    let ng = gl.ng;
    let dims = roi.dims;
    let dirs = half_dirs();
    // One symmetric count matrix per direction (levels 1..=ng at index 0..ng).
    let mats: Vec<Vec<f64>> = dirs
        .par_iter()
        .map(|&o| {
            let mut p = vec![0f64; ng * ng];
            for z in 0..dims[0] {
                for y in 0..dims[1] {
                    for x in 0..dims[2] {
                        let id = (z * dims[1] + y) * dims[2] + x;
                        let a = gl.g[id];
                        if a == 0 {
                            continue;
                        }
                        if let Some(j) = step(dims, z, y, x, o) {
                            let b = gl.g[j];
                            if b != 0 {
                                let (a, b) = (a as usize - 1, b as usize - 1);
                                p[a * ng + b] += 1.0;
                                p[b * ng + a] += 1.0;
                            }
                        }
                    }
                }
            }
            p
        })
        .collect();
    let present: Vec<bool> = {
        let mut v = vec![false; ng];
        for &g in &gl.g {
            if g > 0 {
                v[g as usize - 1] = true;
            }
        }
        v
    };
    let names = [
        "Autocorrelation",
        "JointAverage",
        "ClusterProminence",
        "ClusterShade",
        "ClusterTendency",
        "Contrast",
        "Correlation",
        "DifferenceAverage",
        "DifferenceEntropy",
        "DifferenceVariance",
        "JointEnergy",
        "JointEntropy",
        "Imc1",
        "Imc2",
        "Idm",
        "Idmn",
        "Id",
        "Idn",
        "InverseVariance",
        "MaximumProbability",
        "SumAverage",
        "SumEntropy",
        "SumSquares",
        "MCC",
    ];
    let ngf = ng as f64;
    let per: Vec<Vec<f64>> = mats
        .par_iter()
        .filter_map(|m| {
            let total: f64 = m.iter().sum();
            if total == 0.0 {
                return None;
            }
            let p: Vec<f64> = m.iter().map(|v| v / total).collect();
            let lv = |i: usize| (i + 1) as f64;
            let mut px = vec![0.0; ng];
            let mut py = vec![0.0; ng];
            let (mut ux, mut uy) = (0.0, 0.0);
            let mut sum_k = vec![0.0; 2 * ng + 1];
            let mut diff_k = vec![0.0; ng];
            for i in 0..ng {
                for j in 0..ng {
                    let v = p[i * ng + j];
                    px[i] += v;
                    py[j] += v;
                    ux += lv(i) * v;
                    uy += lv(j) * v;
                    sum_k[i + j + 2] += v;
                    diff_k[i.abs_diff(j)] += v;
                }
            }
            let (mut ac, mut cp, mut cs, mut ct, mut con) = (0.0, 0.0, 0.0, 0.0, 0.0);
            let (mut sx, mut sy, mut cor) = (0.0, 0.0, 0.0);
            let (mut ene, mut hxy, mut hxy1, mut maxp, mut ss) = (0.0, 0.0, 0.0, 0.0f64, 0.0);
            let mut hxy2 = 0.0;
            for i in 0..ng {
                for j in 0..ng {
                    let v = p[i * ng + j];
                    let (a, b) = (lv(i), lv(j));
                    let s = a + b - ux - uy;
                    ac += v * a * b;
                    cp += v * s.powi(4);
                    cs += v * s.powi(3);
                    ct += v * s * s;
                    con += v * (a - b) * (a - b);
                    sx += v * (a - ux) * (a - ux);
                    sy += v * (b - uy) * (b - uy);
                    cor += v * (a - ux) * (b - uy);
                    ene += v * v;
                    hxy -= v * (v + EPS).log2();
                    hxy1 -= v * (px[i] * py[j] + EPS).log2();
                    let q = px[i] * py[j];
                    hxy2 -= q * (q + EPS).log2();
                    maxp = maxp.max(v);
                    ss += v * (a - ux) * (a - ux);
                }
            }
            let (sx, sy) = (sx.sqrt(), sy.sqrt());
            let corr = if sx * sy == 0.0 {
                1.0
            } else {
                cor / (sx * sy + EPS)
            };
            let hx: f64 = -px.iter().map(|v| v * (v + EPS).log2()).sum::<f64>();
            let hy: f64 = -py.iter().map(|v| v * (v + EPS).log2()).sum::<f64>();
            let div = hx.max(hy);
            let imc1 = if div != 0.0 { (hxy - hxy1) / div } else { 0.0 };
            let imc2 = if hxy2 == hxy {
                0.0
            } else {
                let t = 1.0 - (-2.0 * (hxy2 - hxy)).exp();
                if t < 0.0 { f64::NAN } else { t.sqrt() }
            };
            let k = |i: usize| i as f64;
            let da: f64 = (0..ng).map(|i| k(i) * diff_k[i]).sum();
            let de: f64 = -(0..ng)
                .map(|i| diff_k[i] * (diff_k[i] + EPS).log2())
                .sum::<f64>();
            let dv: f64 = (0..ng).map(|i| diff_k[i] * (k(i) - da).powi(2)).sum();
            let idm: f64 = (0..ng).map(|i| diff_k[i] / (1.0 + k(i) * k(i))).sum();
            let idmn: f64 = (0..ng)
                .map(|i| diff_k[i] / (1.0 + k(i) * k(i) / (ngf * ngf)))
                .sum();
            let id: f64 = (0..ng).map(|i| diff_k[i] / (1.0 + k(i))).sum();
            let idn: f64 = (0..ng).map(|i| diff_k[i] / (1.0 + k(i) / ngf)).sum();
            let iv: f64 = (1..ng).map(|i| diff_k[i] / (k(i) * k(i))).sum();
            let sa: f64 = (2..=2 * ng).map(|i| k(i) * sum_k[i]).sum();
            let se: f64 = -(2..=2 * ng)
                .map(|i| sum_k[i] * (sum_k[i] + EPS).log2())
                .sum::<f64>();
            // MCC: Q = D^-1 A with A = P diag(1/py) P^T, D = diag(px), similar to the
            // symmetric D^-1/2 A D^-1/2; sqrt of its second-largest eigenvalue.
            let idx: Vec<usize> = (0..ng).filter(|&i| present[i]).collect();
            let m = idx.len();
            let mut sm = vec![vec![0.0; m]; m];
            for (a, &i) in idx.iter().enumerate() {
                for (b, &j) in idx.iter().enumerate().skip(a) {
                    if px[i] == 0.0 || px[j] == 0.0 {
                        continue;
                    }
                    let mut s = 0.0;
                    for kk in 0..ng {
                        if py[kk] > 0.0 {
                            s += p[i * ng + kk] * p[j * ng + kk] / py[kk];
                        }
                    }
                    let v = s / (px[i] * px[j]).sqrt();
                    sm[a][b] = v;
                    sm[b][a] = v;
                }
            }
            let mcc = if m < 2 {
                1.0
            } else {
                let e = sym_eigen(sm);
                e[m - 2].max(0.0).sqrt()
            };
            Some(vec![
                ac, ux, cp, cs, ct, con, corr, da, de, dv, ene, hxy, imc1, imc2, idm, idmn, id,
                idn, iv, maxp, sa, se, ss, mcc,
            ])
        })
        .collect();
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let col: Vec<f64> = per.iter().map(|r| r[k]).collect();
            feat(c, name, nanmean(&col))
        })
        .collect()
}

/// Features shared by the size-type matrices (GLRLM, GLSZM, GLDM): `p[g][s]` counts with
/// grey level g (1-based at index g-1) and size s (1-based at index s-1).
struct SizeMatrix {
    p: Vec<Vec<f64>>,
}

struct SizeStats {
    sre: f64,
    lre: f64,
    gln: f64,
    glnn: f64,
    rln: f64,
    rlnn: f64,
    glv: f64,
    rv: f64,
    ent: f64,
    lgle: f64,
    hgle: f64,
    srlge: f64,
    srhge: f64,
    lrlge: f64,
    lrhge: f64,
    n: f64,
    np: f64,
}

impl SizeMatrix {
    fn stats(&self) -> Option<SizeStats> {
        let ng = self.p.len();
        let ns = self.p.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut pg = vec![0.0; ng];
        let mut ps = vec![0.0; ns];
        let mut n = 0.0;
        for (g, row) in self.p.iter().enumerate() {
            for (s, &v) in row.iter().enumerate() {
                pg[g] += v;
                ps[s] += v;
                n += v;
            }
        }
        if n == 0.0 {
            return None;
        }
        let i = |g: usize| (g + 1) as f64;
        let j = |s: usize| (s + 1) as f64;
        let mut st = SizeStats {
            sre: 0.0,
            lre: 0.0,
            gln: pg.iter().map(|v| v * v).sum::<f64>() / n,
            glnn: pg.iter().map(|v| v * v).sum::<f64>() / (n * n),
            rln: ps.iter().map(|v| v * v).sum::<f64>() / n,
            rlnn: ps.iter().map(|v| v * v).sum::<f64>() / (n * n),
            glv: 0.0,
            rv: 0.0,
            ent: 0.0,
            lgle: 0.0,
            hgle: 0.0,
            srlge: 0.0,
            srhge: 0.0,
            lrlge: 0.0,
            lrhge: 0.0,
            n,
            np: 0.0,
        };
        let ui: f64 = (0..ng).map(|g| pg[g] / n * i(g)).sum();
        let uj: f64 = (0..ns).map(|s| ps[s] / n * j(s)).sum();
        for (s, &v) in ps.iter().enumerate() {
            st.sre += v / (j(s) * j(s));
            st.lre += v * j(s) * j(s);
            st.rv += v / n * (j(s) - uj).powi(2);
            st.np += v * j(s);
        }
        for (g, &v) in pg.iter().enumerate() {
            st.glv += v / n * (i(g) - ui).powi(2);
            if v > 0.0 {
                st.lgle += v / (i(g) * i(g));
                st.hgle += v * i(g) * i(g);
            }
            for (s, &v) in self.p[g].iter().enumerate() {
                if v == 0.0 {
                    continue;
                }
                let q = v / n;
                st.ent -= q * (q + EPS).log2();
                let (ii, jj) = (i(g) * i(g), j(s) * j(s));
                st.srlge += v / (ii * jj);
                st.srhge += v * ii / jj;
                st.lrlge += v * jj / ii;
                st.lrhge += v * ii * jj;
            }
        }
        for v in [
            &mut st.sre,
            &mut st.lre,
            &mut st.lgle,
            &mut st.hgle,
            &mut st.srlge,
            &mut st.srhge,
            &mut st.lrlge,
            &mut st.lrhge,
        ] {
            *v /= n;
        }
        Some(st)
    }
}

fn add(p: &mut [Vec<f64>], g: u32, size: usize) {
    let row = &mut p[g as usize - 1];
    if row.len() < size {
        row.resize(size, 0.0);
    }
    row[size - 1] += 1.0;
}

fn glrlm(roi: &Roi, gl: &Levels) -> Vec<Feature> {
    let dims = roi.dims;
    let per: Vec<SizeStats> = half_dirs()
        .par_iter()
        .filter_map(|&o| {
            let mut p = vec![Vec::new(); gl.ng];
            let back = [-o[0], -o[1], -o[2]];
            for z in 0..dims[0] {
                for y in 0..dims[1] {
                    for x in 0..dims[2] {
                        let id = (z * dims[1] + y) * dims[2] + x;
                        let g = gl.g[id];
                        if g == 0 {
                            continue;
                        }
                        // Runs start where the previous voxel along the direction differs.
                        if let Some(b) = step(dims, z, y, x, back)
                            && gl.g[b] == g
                        {
                            continue;
                        }
                        let (mut len, mut cz, mut cy, mut cx) = (1usize, z, y, x);
                        while let Some(nid) = step(dims, cz, cy, cx, o) {
                            if gl.g[nid] != g {
                                break;
                            }
                            len += 1;
                            cz = (cz as i64 + o[0]) as usize;
                            cy = (cy as i64 + o[1]) as usize;
                            cx = (cx as i64 + o[2]) as usize;
                        }
                        add(&mut p, g, len);
                    }
                }
            }
            SizeMatrix { p }.stats()
        })
        .collect();
    let c = "glrlm";
    let col = |f: &dyn Fn(&SizeStats) -> f64| nanmean(&per.iter().map(f).collect::<Vec<_>>());
    vec![
        feat(c, "ShortRunEmphasis", col(&|s| s.sre)),
        feat(c, "LongRunEmphasis", col(&|s| s.lre)),
        feat(c, "GrayLevelNonUniformity", col(&|s| s.gln)),
        feat(c, "GrayLevelNonUniformityNormalized", col(&|s| s.glnn)),
        feat(c, "RunLengthNonUniformity", col(&|s| s.rln)),
        feat(c, "RunLengthNonUniformityNormalized", col(&|s| s.rlnn)),
        feat(c, "RunPercentage", col(&|s| s.n / s.np)),
        feat(c, "GrayLevelVariance", col(&|s| s.glv)),
        feat(c, "RunVariance", col(&|s| s.rv)),
        feat(c, "RunEntropy", col(&|s| s.ent)),
        feat(c, "LowGrayLevelRunEmphasis", col(&|s| s.lgle)),
        feat(c, "HighGrayLevelRunEmphasis", col(&|s| s.hgle)),
        feat(c, "ShortRunLowGrayLevelEmphasis", col(&|s| s.srlge)),
        feat(c, "ShortRunHighGrayLevelEmphasis", col(&|s| s.srhge)),
        feat(c, "LongRunLowGrayLevelEmphasis", col(&|s| s.lrlge)),
        feat(c, "LongRunHighGrayLevelEmphasis", col(&|s| s.lrhge)),
    ]
}

fn glszm(roi: &Roi, gl: &Levels) -> Vec<Feature> {
    let dims = roi.dims;
    let dirs = all_dirs();
    let mut seen = vec![false; gl.g.len()];
    let mut p = vec![Vec::new(); gl.ng];
    let mut stack = Vec::new();
    for start in 0..gl.g.len() {
        let g = gl.g[start];
        if g == 0 || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut size = 0usize;
        while let Some(id) = stack.pop() {
            size += 1;
            let x = id % dims[2];
            let y = (id / dims[2]) % dims[1];
            let z = id / (dims[1] * dims[2]);
            for &o in &dirs {
                if let Some(n) = step(dims, z, y, x, o)
                    && !seen[n]
                    && gl.g[n] == g
                {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
        add(&mut p, g, size);
    }
    let c = "glszm";
    let Some(s) = (SizeMatrix { p }).stats() else {
        return Vec::new();
    };
    vec![
        feat(c, "SmallAreaEmphasis", s.sre),
        feat(c, "LargeAreaEmphasis", s.lre),
        feat(c, "GrayLevelNonUniformity", s.gln),
        feat(c, "GrayLevelNonUniformityNormalized", s.glnn),
        feat(c, "SizeZoneNonUniformity", s.rln),
        feat(c, "SizeZoneNonUniformityNormalized", s.rlnn),
        feat(c, "ZonePercentage", s.n / s.np),
        feat(c, "GrayLevelVariance", s.glv),
        feat(c, "ZoneVariance", s.rv),
        feat(c, "ZoneEntropy", s.ent),
        feat(c, "LowGrayLevelZoneEmphasis", s.lgle),
        feat(c, "HighGrayLevelZoneEmphasis", s.hgle),
        feat(c, "SmallAreaLowGrayLevelEmphasis", s.srlge),
        feat(c, "SmallAreaHighGrayLevelEmphasis", s.srhge),
        feat(c, "LargeAreaLowGrayLevelEmphasis", s.lrlge),
        feat(c, "LargeAreaHighGrayLevelEmphasis", s.lrhge),
    ]
}

fn gldm(roi: &Roi, gl: &Levels) -> Vec<Feature> {
    let dims = roi.dims;
    let dirs = all_dirs();
    let mut p = vec![Vec::new(); gl.ng];
    for z in 0..dims[0] {
        for y in 0..dims[1] {
            for x in 0..dims[2] {
                let g = gl.g[(z * dims[1] + y) * dims[2] + x];
                if g == 0 {
                    continue;
                }
                let dep = 1 + dirs
                    .iter()
                    .filter(|&&o| step(dims, z, y, x, o).is_some_and(|n| gl.g[n] == g))
                    .count();
                add(&mut p, g, dep);
            }
        }
    }
    let c = "gldm";
    let Some(s) = (SizeMatrix { p }).stats() else {
        return Vec::new();
    };
    vec![
        feat(c, "SmallDependenceEmphasis", s.sre),
        feat(c, "LargeDependenceEmphasis", s.lre),
        feat(c, "GrayLevelNonUniformity", s.gln),
        feat(c, "DependenceNonUniformity", s.rln),
        feat(c, "DependenceNonUniformityNormalized", s.rlnn),
        feat(c, "GrayLevelVariance", s.glv),
        feat(c, "DependenceVariance", s.rv),
        feat(c, "DependenceEntropy", s.ent),
        feat(c, "LowGrayLevelEmphasis", s.lgle),
        feat(c, "HighGrayLevelEmphasis", s.hgle),
        feat(c, "SmallDependenceLowGrayLevelEmphasis", s.srlge),
        feat(c, "SmallDependenceHighGrayLevelEmphasis", s.srhge),
        feat(c, "LargeDependenceLowGrayLevelEmphasis", s.lrlge),
        feat(c, "LargeDependenceHighGrayLevelEmphasis", s.lrhge),
    ]
}

fn ngtdm(roi: &Roi, gl: &Levels) -> Vec<Feature> {
    let dims = roi.dims;
    let dirs = all_dirs();
    let mut n = vec![0f64; gl.ng];
    let mut s = vec![0f64; gl.ng];
    for z in 0..dims[0] {
        for y in 0..dims[1] {
            for x in 0..dims[2] {
                let g = gl.g[(z * dims[1] + y) * dims[2] + x];
                if g == 0 {
                    continue;
                }
                let (mut sum, mut cnt) = (0.0, 0usize);
                for &o in &dirs {
                    if let Some(nb) = step(dims, z, y, x, o)
                        && gl.g[nb] != 0
                    {
                        sum += gl.g[nb] as f64;
                        cnt += 1;
                    }
                }
                if cnt > 0 {
                    n[g as usize - 1] += 1.0;
                    s[g as usize - 1] += (g as f64 - sum / cnt as f64).abs();
                }
            }
        }
    }
    let lv: Vec<usize> = (0..gl.ng).filter(|&k| n[k] > 0.0).collect();
    let nvp: f64 = n.iter().sum();
    let c = "ngtdm";
    if nvp == 0.0 {
        return Vec::new();
    }
    let p: Vec<f64> = lv.iter().map(|&k| n[k] / nvp).collect();
    let si: Vec<f64> = lv.iter().map(|&k| s[k]).collect();
    let iv: Vec<f64> = lv.iter().map(|&k| (k + 1) as f64).collect();
    let m = lv.len();
    let ngp = m as f64;
    let sum_s: f64 = si.iter().sum();
    let ps: f64 = (0..m).map(|a| p[a] * si[a]).sum();
    let coarse = if ps != 0.0 { 1.0 / ps } else { 1e6 };
    let (mut con, mut absd, mut cplx, mut strn) = (0.0, 0.0, 0.0, 0.0);
    for a in 0..m {
        for b in 0..m {
            let d = iv[a] - iv[b];
            con += p[a] * p[b] * d * d;
            absd += (iv[a] * p[a] - iv[b] * p[b]).abs();
            let den = p[a] + p[b];
            if den > 0.0 {
                cplx += d.abs() * (p[a] * si[a] + p[b] * si[b]) / den;
            }
            strn += (p[a] + p[b]) * d * d;
        }
    }
    let div = ngp * (ngp - 1.0);
    let contrast = if div != 0.0 {
        con * sum_s / nvp / div
    } else {
        0.0
    };
    let busy = if absd != 0.0 { ps / absd } else { 0.0 };
    let strength = if sum_s != 0.0 { strn / sum_s } else { 0.0 };
    vec![
        feat(c, "Coarseness", coarse),
        feat(c, "Contrast", contrast),
        feat(c, "Busyness", busy),
        feat(c, "Complexity", cplx / nvp),
        feat(c, "Strength", strength),
    ]
}
