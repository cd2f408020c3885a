//! Grey level run length matrix features (IBSI 3.7), with the six IBSI aggregations.

use super::texture::{
    DIRS_2D, DIRS_3D, Sparse, dims, emph, emphasis_features_with, pyradiomics_features,
    pyradiomics_suffix, roi_slices,
};
use crate::roi::{PaddedGrid, Roi};
use crate::settings::{Naming, Settings};
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;

pub struct Glrlm;

/// Per slice: directional feature vectors, slice-merged features, directional matrices.
type SliceRuns = (Vec<[f64; 17]>, [f64; 17], Vec<Sparse>);

pub const NAMES: [&str; 16] = [
    "sre",
    "lre",
    "lgre",
    "hgre",
    "srlge",
    "srhge",
    "lrlge",
    "lrhge",
    "glnu",
    "glnu_norm",
    "rlnu",
    "rlnu_norm",
    "r_perc",
    "gl_var",
    "rl_var",
    "rl_entr",
];

/// Run-length matrix along `d` for voxels in slices `zs`; `nv` = voxels in those slices.
pub fn runs(roi: &Roi, zs: std::ops::Range<usize>, d: [isize; 3]) -> Sparse {
    debug_assert!(
        d[0] == 0 || zs == (0..roi.dims[0]),
        "3D runs span the whole crop"
    );
    let mut m = Sparse::default();
    // Dense (level, length) counts when small: one array increment per run instead of a
    // BTreeMap insertion; converted to the sparse matrix at the end (same integer counts).
    let maxlen = roi.dims.iter().copied().max().unwrap_or(1) + 1;
    let dense_ok = (roi.ng + 1).saturating_mul(maxlen) <= 1 << 22;
    let mut dense = if dense_ok {
        vec![0u32; (roi.ng + 1) * maxlen]
    } else {
        Vec::new()
    };
    // Steps on the padded grid: the border (level 0) ends every run. A run stays in its
    // slice for the 2D directions (dz = 0), so `zs` needs no test. Every direction points
    // forward in scan order (`off > 0`), so the voxel behind has been visited: its run
    // length so far, plus one, is this voxel's, and a run is counted where it ends, by
    // adding 0 or 1 (a run walk, or a test per voxel, mispredicts at every run's end).
    let p = roi.padded();
    let (gl, off) = (&p.gl, p.grid.offset(d));
    debug_assert!(off > 0, "direction {d:?} points backward");
    let mut len = vec![0u32; gl.len()];
    let mut nv = 0usize;
    for &q in p.ids_in(zs) {
        let (back, ahead) = (PaddedGrid::step(q, -off), PaddedGrid::step(q, off));
        let a = gl[q];
        let l = u32::from(gl[back] == a) * len[back] + 1;
        len[q] = l;
        nv += 1;
        let ends = gl[ahead] != a;
        if dense_ok {
            dense[a as usize * maxlen + l as usize] += u32::from(ends);
        } else if ends {
            m.add(a, l, 1.0);
        }
    }
    m.nv = nv as f64;
    for (k, &c) in dense.iter().enumerate() {
        if c > 0 {
            m.add((k / maxlen) as u32, (k % maxlen) as u32, c as f64);
        }
    }
    m
}

/// PyRadiomics' 16 GLRLM features: (name, IBSI base tag, index into the emphasis vector).
pub const PYRADIOMICS: [(&str, &str, usize); 16] = [
    ("ShortRunEmphasis", "rlm_sre", emph::SHORT),
    ("LongRunEmphasis", "rlm_lre", emph::LONG),
    ("GrayLevelNonUniformity", "rlm_glnu", emph::GLNU),
    (
        "GrayLevelNonUniformityNormalized",
        "rlm_glnu_norm",
        emph::GLNU_NORM,
    ),
    ("RunLengthNonUniformity", "rlm_rlnu", emph::SIZE_NU),
    (
        "RunLengthNonUniformityNormalized",
        "rlm_rlnu_norm",
        emph::SIZE_NU_NORM,
    ),
    ("RunPercentage", "rlm_r_perc", emph::PERC),
    ("GrayLevelVariance", "rlm_gl_var", emph::GL_VAR),
    ("RunVariance", "rlm_rl_var", emph::SIZE_VAR),
    ("RunEntropy", "rlm_rl_entr", emph::ENTROPY),
    ("LowGrayLevelRunEmphasis", "rlm_lgre", emph::LOW_GL),
    ("HighGrayLevelRunEmphasis", "rlm_hgre", emph::HIGH_GL),
    ("ShortRunLowGrayLevelEmphasis", "rlm_srlge", emph::SHORT_LOW),
    (
        "ShortRunHighGrayLevelEmphasis",
        "rlm_srhge",
        emph::SHORT_HIGH,
    ),
    ("LongRunLowGrayLevelEmphasis", "rlm_lrlge", emph::LONG_LOW),
    ("LongRunHighGrayLevelEmphasis", "rlm_lrhge", emph::LONG_HIGH),
];

/// Appends one aggregation: every IBSI feature, or under PyRadiomics naming only the
/// per-direction mean PyRadiomics reports.
fn push(out: &mut Vec<Feature>, v: &[f64; 17], suffix: &str, s: &Settings) {
    match s.convention().naming {
        Naming::Ibsi => {
            for (n, x) in NAMES.iter().zip(v) {
                out.push(Feature::new("glrlm", &format!("rlm_{n}"), Some(suffix), *x));
            }
        }
        Naming::Pyradiomics => {
            if suffix == pyradiomics_suffix(s, true) {
                out.extend(pyradiomics_features("glrlm", &PYRADIOMICS, v, suffix));
            }
        }
    }
}

impl FeatureFamily for Glrlm {
    fn name(&self) -> &'static str {
        "glrlm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.glrlm
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        let (d2, d25, d3) = dims(s);
        let conv = s.convention();
        let emphasis_features = |m: &Sparse| emphasis_features_with(m, &conv);
        let mean_vec = |v: &[[f64; 17]]| conv.mean_vec(v);
        let push = |out: &mut Vec<Feature>, v: &[f64; 17], suffix: &str| push(out, v, suffix, s);
        let mut out = Vec::new();
        if d2 || d25 {
            let per_slice: Vec<SliceRuns> = roi_slices(roi)
                .into_par_iter()
                .map(|z| {
                    let ms: Vec<Sparse> = DIRS_2D.iter().map(|&d| runs(roi, z..z + 1, d)).collect();
                    let fs = ms
                        .iter()
                        .filter(|m| !m.is_empty())
                        .map(&emphasis_features)
                        .collect();
                    let mut merged = Sparse::default();
                    for m in &ms {
                        merged.merge(m);
                    }
                    (fs, emphasis_features(&merged), ms)
                })
                .collect();
            let mut dir_sum = vec![Sparse::default(); 4];
            let (mut avg, mut comb) = (Vec::new(), Vec::new());
            for (fs, fm, ms) in &per_slice {
                avg.extend(fs.iter().cloned());
                if fm[0].is_finite() {
                    comb.push(*fm);
                }
                for (acc, m) in dir_sum.iter_mut().zip(ms) {
                    acc.merge(m);
                }
            }
            if d2 {
                push(&mut out, &mean_vec(&avg), "2D_avg");
                push(&mut out, &mean_vec(&comb), "2D_comb");
            }
            if d25 {
                let fs: Vec<[f64; 17]> = dir_sum
                    .iter()
                    .filter(|m| !m.is_empty())
                    .map(&emphasis_features)
                    .collect();
                push(&mut out, &mean_vec(&fs), "2_5D_avg");
                if matches!(conv.naming, Naming::Ibsi) {
                    let mut all = Sparse::default();
                    for m in &dir_sum {
                        all.merge(m);
                    }
                    push(&mut out, &emphasis_features(&all), "2_5D_comb");
                }
            }
        }
        if d3 {
            let nz = roi.dims[0];
            let ms: Vec<Sparse> = DIRS_3D.par_iter().map(|&d| runs(roi, 0..nz, d)).collect();
            let fs: Vec<[f64; 17]> = ms
                .iter()
                .filter(|m| !m.is_empty())
                .map(&emphasis_features)
                .collect();
            push(&mut out, &mean_vec(&fs), "3D_avg");
            // PyRadiomics reports only the per-direction mean (`push` would drop the rest).
            if matches!(conv.naming, Naming::Ibsi) {
                let mut all = Sparse::default();
                for m in &ms {
                    all.merge(m);
                }
                push(&mut out, &emphasis_features(&all), "3D_comb");
            }
        }
        out
    }
}
