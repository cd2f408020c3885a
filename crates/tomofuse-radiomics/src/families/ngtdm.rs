//! Neighbourhood grey tone difference matrix features (IBSI 3.10), Chebyshev distance 1.
//! Neighbours outside the intensity mask are ignored; voxels without any neighbour in the
//! mask do not contribute.

use super::texture::{dims, pyradiomics_features, pyradiomics_suffix, roi_slices};
use crate::roi::{PaddedGrid, Roi};
use crate::settings::{Convention, Naming, Settings};
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;

pub struct Ngtdm;

const NAMES: [&str; 5] = [
    "coarseness",
    "contrast",
    "busyness",
    "complexity",
    "strength",
];

/// Per grey level: (voxel count n_i, sum of |i - neighbourhood mean| s_i).
#[derive(Debug, Clone)]
pub struct Tone {
    pub n: Vec<f64>,
    pub s: Vec<f64>,
}

pub fn tones(roi: &Roi, zs: std::ops::Range<usize>, d3: bool) -> Tone {
    let mut t = Tone {
        n: vec![0.0; roi.ng],
        s: vec![0.0; roi.ng],
    };
    // Neighbours on the padded grid (level 0 off the crop, as outside the ROI); a 2D
    // neighbourhood stays in its slice, so `zs` needs no test. Row by row: the sums of the
    // levels and of the non-zero levels over the 3 x 3 (x 3) box of every voxel between the
    // row's first and last ROI voxel, one neighbour row at a time (contiguous, vectorised),
    // less the centre; then each ROI voxel in scan order, as before (same integer sums, same
    // order of the additions to `s`).
    let p = roi.padded();
    let nb_rows = p.neighbour_rows(d3);
    let (mut sum, mut cnt) = (Vec::new(), Vec::new());
    for row in p.rows_in(zs) {
        let lo = row[0];
        let n = row[row.len() - 1] + 1 - lo;
        sum.clear();
        sum.resize(n, 0u32);
        cnt.clear();
        cnt.resize(n, 0u32);
        let (sum, cnt) = (&mut sum[..n], &mut cnt[..n]);
        for &o in &nb_rows {
            let s = PaddedGrid::step(lo, o) - 1;
            let w = &p.gl[s..s + n + 2];
            let (l, m, r) = (&w[..n], &w[1..n + 1], &w[2..n + 2]);
            for x in 0..n {
                sum[x] += l[x] + m[x] + r[x];
                cnt[x] += u32::from(l[x] > 0) + u32::from(m[x] > 0) + u32::from(r[x] > 0);
            }
        }
        for &q in row {
            let a = p.gl[q];
            let x = q - lo;
            // The box minus the centre (a > 0).
            let (sum, c) = ((sum[x] - a) as f64, cnt[x] - 1);
            if c > 0 {
                let i = a as usize - 1;
                t.n[i] += 1.0;
                t.s[i] += (a as f64 - sum / c as f64).abs();
            }
        }
    }
    t
}

/// PyRadiomics' NGTDM features: (name, IBSI base tag, index into [`features`]).
pub const PYRADIOMICS: [(&str, &str, usize); 5] = [
    ("Coarseness", "ngt_coarseness", 0),
    ("Contrast", "ngt_contrast", 1),
    ("Busyness", "ngt_busyness", 2),
    ("Complexity", "ngt_complexity", 3),
    ("Strength", "ngt_strength", 4),
];

/// The 5 IBSI NGTDM features (coarseness NaN when every s_i is 0).
pub fn features(t: &Tone) -> [f64; 5] {
    features_with(t, &Convention::IBSI)
}

/// [`features`] under a convention: PyRadiomics reports coarseness 1e6 when every s_i is 0.
pub fn features_with(t: &Tone, conv: &Convention) -> [f64; 5] {
    let nvc: f64 = t.n.iter().sum();
    if nvc <= 0.0 {
        return [f64::NAN; 5];
    }
    let lv: Vec<(f64, f64, f64)> =
        t.n.iter()
            .zip(&t.s)
            .enumerate()
            .filter(|(_, (n, _))| **n > 0.0)
            .map(|(i, (n, s))| ((i + 1) as f64, n / nvc, *s))
            .collect();
    let ngp = lv.len() as f64;
    let sum_ps: f64 = lv.iter().map(|(_, p, s)| p * s).sum();
    let sum_s: f64 = lv.iter().map(|(_, _, s)| s).sum();
    let coarseness = match (sum_ps > 0.0, conv.pyradiomics_degenerate) {
        (true, _) => 1.0 / sum_ps,
        (false, true) => 1e6,
        (false, false) => f64::NAN,
    };
    let (mut c1, mut bden, mut cx, mut st) = (0.0, 0.0, 0.0, 0.0);
    for &(i, pi, si) in &lv {
        for &(j, pj, sj) in &lv {
            c1 += pi * pj * (i - j).powi(2);
            bden += (i * pi - j * pj).abs();
            cx += (i - j).abs() * (pi * si + pj * sj) / (pi + pj);
            st += (pi + pj) * (i - j).powi(2);
        }
    }
    let contrast = if ngp > 1.0 {
        c1 / (ngp * (ngp - 1.0)) * sum_s / nvc
    } else {
        0.0
    };
    let busyness = if bden > 0.0 { sum_ps / bden } else { 0.0 };
    let complexity = cx / nvc;
    let strength = if sum_s > 0.0 { st / sum_s } else { 0.0 };
    [coarseness, contrast, busyness, complexity, strength]
}

impl FeatureFamily for Ngtdm {
    fn name(&self) -> &'static str {
        "ngtdm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.ngtdm
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        let (d2, d25, d3) = dims(s);
        let conv = s.convention();
        let features = |t: &Tone| features_with(t, &conv);
        let mean_vec = |v: &[[f64; 5]]| conv.mean_vec(v);
        let mut out = Vec::new();
        let push = |out: &mut Vec<Feature>, v: &[f64; 5], suffix: &str| match conv.naming {
            Naming::Ibsi => {
                for (n, x) in NAMES.iter().zip(v) {
                    out.push(Feature::new("ngtdm", &format!("ngt_{n}"), Some(suffix), *x));
                }
            }
            Naming::Pyradiomics => {
                if suffix == pyradiomics_suffix(s, false) {
                    out.extend(pyradiomics_features("ngtdm", &PYRADIOMICS, v, suffix));
                }
            }
        };
        if d2 || d25 {
            let ts: Vec<Tone> = roi_slices(roi)
                .into_par_iter()
                .map(|z| tones(roi, z..z + 1, false))
                .collect();
            if d2 {
                let fs: Vec<[f64; 5]> = ts
                    .iter()
                    .filter(|t| t.n.iter().sum::<f64>() > 0.0)
                    .map(&features)
                    .collect();
                push(&mut out, &mean_vec(&fs), "2D");
            }
            if d25 {
                let mut all = Tone {
                    n: vec![0.0; roi.ng],
                    s: vec![0.0; roi.ng],
                };
                for t in &ts {
                    for i in 0..roi.ng {
                        all.n[i] += t.n[i];
                        all.s[i] += t.s[i];
                    }
                }
                push(&mut out, &features(&all), "2_5D");
            }
        }
        if d3 {
            push(&mut out, &features(&tones(roi, 0..roi.dims[0], true)), "3D");
        }
        out
    }
}
