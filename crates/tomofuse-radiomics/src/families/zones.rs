//! Grey level size zone (IBSI 3.8) and distance zone (IBSI 3.9) matrices. Zones are
//! connected voxels of equal grey level (8-connected in 2D, 26-connected in 3D); counts are
//! kept sparse, so memory grows with the number of distinct (level, size) pairs, not with
//! level x maximum zone size.

use super::texture::{
    Sparse, dims, emph, emphasis_features_with, pyradiomics_features, pyradiomics_suffix,
    roi_slices,
};
use crate::roi::{PaddedGrid, Roi};
use crate::settings::{Naming, Settings};
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;

pub struct Glszm;
pub struct Gldzm;

const SZM: [&str; 16] = [
    "sze",
    "lze",
    "lgze",
    "hgze",
    "szlge",
    "szhge",
    "lzlge",
    "lzhge",
    "glnu",
    "glnu_norm",
    "zsnu",
    "zsnu_norm",
    "z_perc",
    "gl_var",
    "zs_var",
    "zs_entr",
];
const DZM: [&str; 16] = [
    "sde",
    "lde",
    "lgze",
    "hgze",
    "sdlge",
    "sdhge",
    "ldlge",
    "ldhge",
    "glnu",
    "glnu_norm",
    "zdnu",
    "zdnu_norm",
    "z_perc",
    "gl_var",
    "zd_var",
    "zd_entr",
];

/// Distance to the ROI edge (IBSI 3.9) in padded index space: 1 for voxels with a face
/// neighbour outside the morphological mask, growing by 1 per face step inward (city-block);
/// 2D uses in-slice neighbours only. 0 outside the mask.
fn edge_distance(roi: &Roi, zs: &std::ops::Range<usize>, pd: &PaddedGrid) -> Vec<u32> {
    let mask = pd.fill(roi, zs, &roi.morph);
    let mut dist = vec![0u32; mask.len()];
    let mut front = Vec::new();
    for (id, &m) in mask.iter().enumerate() {
        if m && pd.faces.iter().any(|&f| !mask[(id as isize + f) as usize]) {
            dist[id] = 1;
            front.push(id);
        }
    }
    let mut d = 1;
    let mut next = Vec::new();
    while !front.is_empty() {
        next.clear();
        for &id in &front {
            for &f in &pd.faces {
                let n = (id as isize + f) as usize;
                if mask[n] && dist[n] == 0 {
                    dist[n] = d + 1;
                    next.push(n);
                }
            }
        }
        std::mem::swap(&mut front, &mut next);
        d += 1;
    }
    dist
}

/// Size-zone and distance-zone matrices of the zones in slices `zs`.
pub fn zone_matrices(
    roi: &Roi,
    zs: std::ops::Range<usize>,
    d3: bool,
    want_dist: bool,
) -> (Sparse, Sparse) {
    let [_, ny, nx] = roi.dims;
    let pd = PaddedGrid::new(ny, nx, zs.len(), d3);
    let dist = if want_dist {
        edge_distance(roi, &zs, &pd)
    } else {
        Vec::new()
    };
    // Grey levels, zeroed as voxels join a zone (0 = background or already in a zone).
    let mut gl = pd.fill(roi, &zs, &roi.gl);
    let mut zones: Vec<(u32, u32, u32)> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..gl.len() {
        let a = gl[start];
        if a == 0 {
            continue;
        }
        gl[start] = 0;
        stack.push(start);
        let mut size = 0u32;
        let mut dmin = u32::MAX;
        while let Some(c) = stack.pop() {
            size += 1;
            if want_dist {
                dmin = dmin.min(dist[c]);
            }
            for &o in &pd.all {
                let n = (c as isize + o) as usize;
                if gl[n] == a {
                    gl[n] = 0;
                    stack.push(n);
                }
            }
        }
        zones.push((a, size, dmin.max(1)));
    }
    let (mut szm, mut dzm) = (Sparse::default(), Sparse::default());
    let add_runs = |m: &mut Sparse, mut keys: Vec<(u32, u32)>| {
        keys.sort_unstable();
        for run in keys.chunk_by(|a, b| a == b) {
            m.add(run[0].0, run[0].1, run.len() as f64);
        }
    };
    add_runs(&mut szm, zones.iter().map(|z| (z.0, z.1)).collect());
    let nv: f64 = zones.iter().map(|z| z.1 as f64).sum();
    szm.nv = nv;
    if want_dist {
        add_runs(&mut dzm, zones.iter().map(|z| (z.0, z.2)).collect());
        dzm.nv = nv;
    }
    (szm, dzm)
}

/// PyRadiomics' 16 GLSZM features: (name, IBSI base tag, index into the emphasis vector).
pub const PYRADIOMICS: [(&str, &str, usize); 16] = [
    ("SmallAreaEmphasis", "szm_sze", emph::SHORT),
    ("LargeAreaEmphasis", "szm_lze", emph::LONG),
    ("GrayLevelNonUniformity", "szm_glnu", emph::GLNU),
    (
        "GrayLevelNonUniformityNormalized",
        "szm_glnu_norm",
        emph::GLNU_NORM,
    ),
    ("SizeZoneNonUniformity", "szm_zsnu", emph::SIZE_NU),
    (
        "SizeZoneNonUniformityNormalized",
        "szm_zsnu_norm",
        emph::SIZE_NU_NORM,
    ),
    ("ZonePercentage", "szm_z_perc", emph::PERC),
    ("GrayLevelVariance", "szm_gl_var", emph::GL_VAR),
    ("ZoneVariance", "szm_zs_var", emph::SIZE_VAR),
    ("ZoneEntropy", "szm_zs_entr", emph::ENTROPY),
    ("LowGrayLevelZoneEmphasis", "szm_lgze", emph::LOW_GL),
    ("HighGrayLevelZoneEmphasis", "szm_hgze", emph::HIGH_GL),
    (
        "SmallAreaLowGrayLevelEmphasis",
        "szm_szlge",
        emph::SHORT_LOW,
    ),
    (
        "SmallAreaHighGrayLevelEmphasis",
        "szm_szhge",
        emph::SHORT_HIGH,
    ),
    ("LargeAreaLowGrayLevelEmphasis", "szm_lzlge", emph::LONG_LOW),
    (
        "LargeAreaHighGrayLevelEmphasis",
        "szm_lzhge",
        emph::LONG_HIGH,
    ),
];

fn compute_zone(roi: &Roi, s: &Settings, dist: bool) -> Vec<Feature> {
    let (fam, prefix, names) = if dist {
        ("gldzm", "dzm", &DZM)
    } else {
        ("glszm", "szm", &SZM)
    };
    let (d2, d25, d3) = dims(s);
    let conv = s.convention();
    let emphasis_features = |m: &Sparse| emphasis_features_with(m, &conv);
    let mean_vec = |v: &[[f64; 17]]| conv.mean_vec(v);
    let mut out = Vec::new();
    let push = |out: &mut Vec<Feature>, v: &[f64; 17], suffix: &str| match conv.naming {
        Naming::Ibsi => {
            for (n, x) in names.iter().zip(v) {
                out.push(Feature::new(
                    fam,
                    &format!("{prefix}_{n}"),
                    Some(suffix),
                    *x,
                ));
            }
        }
        // PyRadiomics has no distance zone class (the family is off under its naming).
        Naming::Pyradiomics => {
            if !dist && suffix == pyradiomics_suffix(s, false) {
                out.extend(pyradiomics_features("glszm", &PYRADIOMICS, v, suffix));
            }
        }
    };
    let pick = |p: (Sparse, Sparse)| if dist { p.1 } else { p.0 };
    if d2 || d25 {
        let ms: Vec<Sparse> = roi_slices(roi)
            .into_par_iter()
            .map(|z| pick(zone_matrices(roi, z..z + 1, false, dist)))
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
        let m = pick(zone_matrices(roi, 0..roi.dims[0], true, dist));
        push(&mut out, &emphasis_features(&m), "3D");
    }
    out
}

impl FeatureFamily for Glszm {
    fn name(&self) -> &'static str {
        "glszm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.glszm
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        compute_zone(roi, s, false)
    }
}

impl FeatureFamily for Gldzm {
    fn name(&self) -> &'static str {
        "gldzm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.gldzm && s.convention().naming == Naming::Ibsi
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        compute_zone(roi, s, true)
    }
}
