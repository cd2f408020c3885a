//! Neighbouring grey level dependence matrix features (IBSI 3.11): Chebyshev distance 1,
//! coarseness alpha from the settings; neighbours outside the intensity mask are ignored.

use super::texture::{
    Sparse, dims, emph, emphasis_features_with, pyradiomics_features, pyradiomics_suffix,
    roi_slices,
};
use crate::roi::{PaddedGrid, Roi};
use crate::settings::{Naming, Settings};
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;

pub struct Ngldm;

const NAMES: [&str; 17] = [
    "lde",
    "hde",
    "lgce",
    "hgce",
    "ldlge",
    "ldhge",
    "hdlge",
    "hdhge",
    "glnu",
    "glnu_norm",
    "dcnu",
    "dcnu_norm",
    "dc_perc",
    "gl_var",
    "dc_var",
    "dc_entr",
    "dc_energy",
];

/// PyRadiomics' 14 GLDM features (its GLDM is IBSI's NGLDM, `gldm_a` = alpha): (name, IBSI
/// base tag, index into the emphasis vector).
pub const PYRADIOMICS: [(&str, &str, usize); 14] = [
    ("SmallDependenceEmphasis", "ngl_lde", emph::SHORT),
    ("LargeDependenceEmphasis", "ngl_hde", emph::LONG),
    ("GrayLevelNonUniformity", "ngl_glnu", emph::GLNU),
    ("DependenceNonUniformity", "ngl_dcnu", emph::SIZE_NU),
    (
        "DependenceNonUniformityNormalized",
        "ngl_dcnu_norm",
        emph::SIZE_NU_NORM,
    ),
    ("GrayLevelVariance", "ngl_gl_var", emph::GL_VAR),
    ("DependenceVariance", "ngl_dc_var", emph::SIZE_VAR),
    ("DependenceEntropy", "ngl_dc_entr", emph::ENTROPY),
    ("LowGrayLevelEmphasis", "ngl_lgce", emph::LOW_GL),
    ("HighGrayLevelEmphasis", "ngl_hgce", emph::HIGH_GL),
    (
        "SmallDependenceLowGrayLevelEmphasis",
        "ngl_ldlge",
        emph::SHORT_LOW,
    ),
    (
        "SmallDependenceHighGrayLevelEmphasis",
        "ngl_ldhge",
        emph::SHORT_HIGH,
    ),
    (
        "LargeDependenceLowGrayLevelEmphasis",
        "ngl_hdlge",
        emph::LONG_LOW,
    ),
    (
        "LargeDependenceHighGrayLevelEmphasis",
        "ngl_hdhge",
        emph::LONG_HIGH,
    ),
];

pub fn dependence(roi: &Roi, zs: std::ops::Range<usize>, d3: bool, alpha: u32) -> Sparse {
    let mut m = Sparse::default();
    // Dense (level, count) tallies when small: one increment per voxel instead of a BTreeMap
    // update; converted to the sparse matrix at the end (same integer counts).
    let kmax = if d3 { 26 } else { 8 } + 2;
    let dense_ok = (roi.ng + 1).saturating_mul(kmax) <= 1 << 22;
    let mut dense = if dense_ok {
        vec![0u32; (roi.ng + 1) * kmax]
    } else {
        Vec::new()
    };
    // Neighbours on the padded grid (level 0 off the crop, as outside the ROI); a 2D
    // neighbourhood stays in its slice, so `zs` needs no test. Row by row: for every voxel
    // between the row's first and last ROI voxel, the dependent voxels of its 3 x 3 (x 3)
    // box, one neighbour row at a time (contiguous, vectorised). The centre counts itself
    // (level a > 0, difference 0), which is the `1 +` of the dependence count.
    let p = roi.padded();
    let nb_rows = p.neighbour_rows(d3);
    let mut k = Vec::new();
    for row in p.rows_in(zs) {
        let lo = row[0];
        let n = row[row.len() - 1] + 1 - lo;
        k.clear();
        k.resize(n, 0u32);
        let k = &mut k[..n];
        let cur = &p.gl[lo..lo + n];
        let dep = |g: u32, a: u32| u32::from(g > 0 && g.abs_diff(a) <= alpha);
        for &o in &nb_rows {
            let s = PaddedGrid::step(lo, o) - 1;
            let w = &p.gl[s..s + n + 2];
            let (l, c, r) = (&w[..n], &w[1..n + 1], &w[2..n + 2]);
            for x in 0..n {
                let a = cur[x];
                k[x] += dep(l[x], a) + dep(c[x], a) + dep(r[x], a);
            }
        }
        for &q in row {
            let (a, k) = (p.gl[q], k[q - lo]);
            match dense.get_mut(a as usize * kmax + k as usize) {
                Some(c) if dense_ok => *c += 1,
                _ => m.add(a, k, 1.0),
            }
            m.nv += 1.0;
        }
    }
    for (i, &c) in dense.iter().enumerate() {
        if c > 0 {
            m.add((i / kmax) as u32, (i % kmax) as u32, c as f64);
        }
    }
    m
}

impl FeatureFamily for Ngldm {
    fn name(&self) -> &'static str {
        "ngldm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.ngldm
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        let (d2, d25, d3) = dims(s);
        let alpha = s.texture.ngldm_alpha;
        let conv = s.convention();
        let emphasis_features = |m: &Sparse| emphasis_features_with(m, &conv);
        let mean_vec = |v: &[[f64; 17]]| conv.mean_vec(v);
        let mut out = Vec::new();
        let push = |out: &mut Vec<Feature>, v: &[f64; 17], suffix: &str| match conv.naming {
            Naming::Ibsi => {
                for (n, x) in NAMES.iter().zip(v) {
                    out.push(Feature::new("ngldm", &format!("ngl_{n}"), Some(suffix), *x));
                }
            }
            Naming::Pyradiomics => {
                if suffix == pyradiomics_suffix(s, false) {
                    out.extend(pyradiomics_features("gldm", &PYRADIOMICS, v, suffix));
                }
            }
        };
        if d2 || d25 {
            let ms: Vec<Sparse> = roi_slices(roi)
                .into_par_iter()
                .map(|z| dependence(roi, z..z + 1, false, alpha))
                .collect();
            if d2 {
                let fs: Vec<[f64; 17]> = ms
                    .iter()
                    .filter(|m| !m.is_empty())
                    .map(&emphasis_features)
                    .collect();
                push(&mut out, &mean_vec(&fs), "2D");
            }
            if d25 {
                let mut all = Sparse::default();
                for m in &ms {
                    all.merge(m);
                }
                push(&mut out, &emphasis_features(&all), "2_5D");
            }
        }
        if d3 {
            push(
                &mut out,
                &emphasis_features(&dependence(roi, 0..roi.dims[0], true, alpha)),
                "3D",
            );
        }
        out
    }
}
