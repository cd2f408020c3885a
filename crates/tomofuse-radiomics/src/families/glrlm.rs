//! Grey level run length matrix features (IBSI 3.7), with the six IBSI aggregations.

use super::texture::{
    DIRS_2D, DIRS_3D, Sparse, dims, emph, emphasis_features_with, pyradiomics_features,
    pyradiomics_suffix, roi_slices, voxels_in,
};
use crate::roi::Roi;
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
    let [_, ny, nx] = roi.dims;
    let back = [-d[0], -d[1], -d[2]];
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
    let [nzc, _, _] = roi.dims;
    // Neighbour of (z, y, x) at offset k * dir (k = +-1 steps), when in the crop and in `zs`.
    let zr = (zs.start as isize, zs.end.min(nzc) as isize);
    let (ny_i, nx_i) = (ny as isize, nx as isize);
    let at = |c: [isize; 3]| -> Option<usize> {
        (c[0] >= zr.0 && c[0] < zr.1 && c[1] >= 0 && c[1] < ny_i && c[2] >= 0 && c[2] < nx_i)
            .then(|| ((c[0] * ny_i + c[1]) * nx_i + c[2]) as usize)
    };
    for (id, z, y, x) in voxels_in(roi, zs.clone()) {
        let a = roi.gl[id];
        m.nv += 1.0;
        let c0 = [z as isize, y as isize, x as isize];
        // Only start counting at the first voxel of a run.
        if let Some(p) = at([c0[0] + back[0], c0[1] + back[1], c0[2] + back[2]])
            && roi.gl[p] == a
        {
            continue;
        }
        let (mut len, mut c) = (1u32, c0);
        loop {
            let nc = [c[0] + d[0], c[1] + d[1], c[2] + d[2]];
            match at(nc) {
                Some(n) if roi.gl[n] == a => {
                    len += 1;
                    c = nc;
                }
                _ => break,
            }
        }
        match dense.get_mut(a as usize * maxlen + len as usize) {
            Some(c) if dense_ok => *c += 1,
            _ => m.add(a, len, 1.0),
        }
    }
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
                let mut all = Sparse::default();
                for m in &dir_sum {
                    all.merge(m);
                }
                push(&mut out, &emphasis_features(&all), "2_5D_comb");
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
            let mut all = Sparse::default();
            for m in &ms {
                all.merge(m);
            }
            push(&mut out, &emphasis_features(&all), "3D_comb");
        }
        out
    }
}
