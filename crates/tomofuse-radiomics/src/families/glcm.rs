//! Grey level co-occurrence matrix features (IBSI 3.6): symmetric, Chebyshev distance 1,
//! with the six IBSI aggregations.

use super::texture::{
    DIRS_2D, DIRS_3D, dims, pyradiomics_features, pyradiomics_suffix, roi_slices,
};
use crate::roi::{PaddedGrid, Roi};
use crate::settings::{Convention, Naming, Settings};
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;

pub struct Glcm;

/// Largest grey-level count for the dense GLCM (ng^2 doubles per matrix).
pub const MAX_LEVELS: usize = 2048;

pub const NAMES: [&str; 25] = [
    "joint_max",
    "joint_avg",
    "joint_var",
    "joint_entr",
    "diff_avg",
    "diff_var",
    "diff_entr",
    "sum_avg",
    "sum_var",
    "sum_entr",
    "energy",
    "contrast",
    "dissimilarity",
    "inv_diff",
    "inv_diff_norm",
    "inv_diff_mom",
    "inv_diff_mom_norm",
    "inv_var",
    "corr",
    "auto_corr",
    "clust_tend",
    "clust_shade",
    "clust_prom",
    "info_corr1",
    "info_corr2",
];

/// Symmetric co-occurrence counts (ng x ng, row-major) along `d` for voxels in slices `zs`.
pub fn counts(roi: &Roi, zs: std::ops::Range<usize>, d: [isize; 3]) -> Vec<f64> {
    let ng = roi.ng;
    // The neighbour on the padded grid (level 0 off the crop, as outside the ROI); a 2D
    // direction stays in its slice, so `zs` needs no test. One integer increment per pair
    // (row 0 and column 0 catch the pairs with no neighbour), symmetrised at the end.
    let p = roi.padded();
    let off = p.grid.offset(d);
    let n1 = ng + 1;
    let mut c = vec![0u32; n1 * n1];
    for &q in p.ids_in(zs) {
        let (a, b) = (p.gl[q] as usize, p.gl[PaddedGrid::step(q, off)] as usize);
        c[a * n1 + b] += 1;
    }
    let mut m = vec![0.0; ng * ng];
    for i in 0..ng {
        for j in 0..ng {
            m[i * ng + j] = (c[(i + 1) * n1 + j + 1] + c[(j + 1) * n1 + i + 1]) as f64;
        }
    }
    m
}

fn add(a: &mut [f64], b: &[f64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// The 25 IBSI GLCM features of a count matrix (NaN when it is empty).
pub fn features(m: &[f64], ng: usize) -> [f64; 25] {
    let v = features_with(m, ng, &Convention::IBSI);
    std::array::from_fn(|k| v[k])
}

/// Index of the maximal correlation coefficient in [`features_with`]'s vector.
pub const MCC: usize = 25;

/// PyRadiomics' 24 GLCM features: (name, IBSI base tag, index into [`features_with`]).
pub const PYRADIOMICS: [(&str, &str, usize); 24] = [
    ("Autocorrelation", "cm_auto_corr", 19),
    ("JointAverage", "cm_joint_avg", 1),
    ("ClusterProminence", "cm_clust_prom", 22),
    ("ClusterShade", "cm_clust_shade", 21),
    ("ClusterTendency", "cm_clust_tend", 20),
    ("Contrast", "cm_contrast", 11),
    ("Correlation", "cm_corr", 18),
    ("DifferenceAverage", "cm_diff_avg", 4),
    ("DifferenceEntropy", "cm_diff_entr", 6),
    ("DifferenceVariance", "cm_diff_var", 5),
    ("JointEnergy", "cm_energy", 10),
    ("JointEntropy", "cm_joint_entr", 3),
    ("Imc1", "cm_info_corr1", 23),
    ("Imc2", "cm_info_corr2", 24),
    ("Idm", "cm_inv_diff_mom", 15),
    ("Idmn", "cm_inv_diff_mom_norm", 16),
    ("Id", "cm_inv_diff", 13),
    ("Idn", "cm_inv_diff_norm", 14),
    ("InverseVariance", "cm_inv_var", 17),
    ("MaximumProbability", "cm_joint_max", 0),
    ("SumAverage", "cm_sum_avg", 7),
    ("SumEntropy", "cm_sum_entr", 9),
    ("SumSquares", "cm_joint_var", 2),
    ("MCC", "", MCC),
];

/// The 25 IBSI GLCM features of a count matrix under a convention (entropy logarithm,
/// degenerate values), plus the maximal correlation coefficient at [`MCC`] when the
/// convention names features as PyRadiomics (which reports it; NaN otherwise).
pub fn features_with(m: &[f64], ng: usize, conv: &Convention) -> [f64; 26] {
    let total: f64 = m.iter().sum();
    if total <= 0.0 {
        return [f64::NAN; 26];
    }
    let ngf = ng as f64;
    let mut pi = vec![0.0; ng];
    let mut pd = vec![0.0; ng];
    let mut ps = vec![0.0; 2 * ng + 1];
    let (mut jmax, mut mu, mut energy, mut contrast, mut dis) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    let (mut id, mut idn, mut idm, mut idmn, mut iv, mut ac) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..ng {
        for j in 0..ng {
            let p = m[i * ng + j] / total;
            if p == 0.0 {
                continue;
            }
            let (fi, fj) = ((i + 1) as f64, (j + 1) as f64);
            let k = i.abs_diff(j);
            let fk = k as f64;
            pi[i] += p;
            pd[k] += p;
            ps[i + j + 2] += p;
            jmax = jmax.max(p);
            mu += fi * p;
            energy += p * p;
            contrast += fk * fk * p;
            dis += fk * p;
            id += p / (1.0 + fk);
            idn += p / (1.0 + fk / ngf);
            idm += p / (1.0 + fk * fk);
            idmn += p / (1.0 + fk * fk / (ngf * ngf));
            if k > 0 {
                iv += p / (fk * fk);
            }
            ac += fi * fj * p;
        }
    }
    let (mut var, mut ct, mut cs, mut cp, mut cov) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut hxy1 = 0.0;
    let mut hxy2 = 0.0;
    for i in 0..ng {
        for j in 0..ng {
            let pij = m[i * ng + j] / total;
            let (fi, fj) = ((i + 1) as f64, (j + 1) as f64);
            let pp = pi[i] * pi[j];
            if pp > 0.0 {
                hxy2 += conv.xlog2(pp);
                if pij > 0.0 {
                    hxy1 -= pij * (pp + conv.log_eps).log2();
                }
            }
            if pij == 0.0 {
                continue;
            }
            var += (fi - mu).powi(2) * pij;
            let t = fi + fj - 2.0 * mu;
            ct += t * t * pij;
            cs += t.powi(3) * pij;
            cp += t.powi(4) * pij;
            cov += (fi - mu) * (fj - mu) * pij;
        }
    }
    let diff_avg: f64 = pd.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
    let diff_var: f64 = pd
        .iter()
        .enumerate()
        .map(|(k, p)| (k as f64 - diff_avg).powi(2) * p)
        .sum();
    let sum_avg: f64 = ps.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
    let sum_var: f64 = ps
        .iter()
        .enumerate()
        .map(|(k, p)| (k as f64 - sum_avg).powi(2) * p)
        .sum();
    let hxy = conv.entropy(m.iter().map(|c| c / total));
    let hx = conv.entropy(pi.iter().cloned());
    // Symmetric matrix: the marginal variance equals the joint variance (and HX = HY).
    // PyRadiomics' flat-region values: Correlation 1, Imc1 0, Imc2 0 (NaN below zero).
    let py = conv.pyradiomics_degenerate;
    let corr = match (var > 0.0, py) {
        (true, _) => cov / var,
        (false, true) => 1.0,
        (false, false) => f64::NAN,
    };
    let ic1 = match (hx > 0.0, py) {
        (true, _) => (hxy - hxy1) / hx,
        (false, true) => 0.0,
        (false, false) => f64::NAN,
    };
    let t = 1.0 - (-2.0 * (hxy2 - hxy)).exp();
    let ic2 = match py {
        false => t.max(0.0).sqrt(),
        true if hxy2 == hxy => 0.0,
        true if t < 0.0 => f64::NAN,
        true => t.sqrt(),
    };
    let mcc = match conv.naming {
        Naming::Pyradiomics => mcc(m, total, &pi),
        Naming::Ibsi => f64::NAN,
    };
    [
        jmax,
        mu,
        var,
        hxy,
        diff_avg,
        diff_var,
        conv.entropy(pd.iter().cloned()),
        sum_avg,
        sum_var,
        conv.entropy(ps.iter().cloned()),
        energy,
        contrast,
        dis,
        id,
        idn,
        idm,
        idmn,
        iv,
        corr,
        ac,
        ct,
        cs,
        cp,
        ic1,
        ic2,
        mcc,
    ]
}

/// Maximal correlation coefficient (PyRadiomics' MCC: the square root of the second-largest
/// eigenvalue of `Q = D^-1 P D^-1 P`), over the grey levels present, by the shared
/// [`MccSolver`](crate::util::MccSolver): the largest `|lambda|` of `A - v v^T` (`A` the
/// normalised symmetric matrix), without forming `Q` (an `O(k^3)` product) or all of its
/// eigenvalues. 1 for one level.
fn mcc(m: &[f64], total: f64, px: &[f64]) -> f64 {
    let ng = px.len();
    let idx: Vec<usize> = (0..ng).filter(|&i| px[i] > 0.0).collect();
    let k = idx.len();
    if k < 2 {
        return 1.0;
    }
    let r: Vec<f64> = idx
        .iter()
        .map(|&i| m[i * ng..(i + 1) * ng].iter().sum())
        .collect();
    crate::util::MccSolver::default().mcc(k, total, &r, |x, y| m[idx[x] * ng + idx[y]])
}

/// Appends the features of one aggregation: every IBSI one, or under PyRadiomics naming
/// only the per-direction mean PyRadiomics reports.
fn push(out: &mut Vec<Feature>, v: &[f64; 26], suffix: &str, s: &Settings) {
    match s.convention().naming {
        Naming::Ibsi => {
            for (n, x) in NAMES.iter().zip(v) {
                out.push(Feature::new("glcm", &format!("cm_{n}"), Some(suffix), *x));
            }
        }
        Naming::Pyradiomics => {
            if suffix == pyradiomics_suffix(s, true) {
                out.extend(pyradiomics_features("glcm", &PYRADIOMICS, v, suffix));
            }
        }
    }
}

impl FeatureFamily for Glcm {
    fn name(&self) -> &'static str {
        "glcm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.glcm
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        let ng = roi.ng;
        if ng > MAX_LEVELS {
            let reason = format!(
                "{ng} grey levels exceed the GLCM limit of {MAX_LEVELS}: use a coarser discretisation"
            );
            return NAMES
                .iter()
                .map(|n| Feature::failed("glcm", &format!("cm_{n}"), None, &reason))
                .collect();
        }
        let (d2, d25, d3) = dims(s);
        let conv = s.convention();
        let features = |m: &[f64], ng: usize| features_with(m, ng, &conv);
        let mean_vec = |v: &[[f64; 26]]| conv.mean_vec(v);
        let push = |out: &mut Vec<Feature>, v: &[f64; 26], suffix: &str| push(out, v, suffix, s);
        let mut out = Vec::new();
        if d2 || d25 {
            // Per slice: the 4 directional matrices, their features and the slice-merged
            // ones; directional sums are folded per worker so memory stays at a few
            // matrices per thread whatever the slice count.
            type Acc = (Vec<[f64; 26]>, Vec<[f64; 26]>, Vec<Vec<f64>>);
            let zero = || -> Acc { (Vec::new(), Vec::new(), vec![vec![0.0; ng * ng]; 4]) };
            let (avg, comb, dir_sum) = roi_slices(roi)
                .into_par_iter()
                .fold(zero, |mut acc, z| {
                    let ms: Vec<Vec<f64>> =
                        DIRS_2D.iter().map(|&d| counts(roi, z..z + 1, d)).collect();
                    let mut merged = vec![0.0; ng * ng];
                    for (k, m) in ms.iter().enumerate() {
                        if m.iter().any(|&c| c > 0.0) {
                            acc.0.push(features(m, ng));
                        }
                        add(&mut merged, m);
                        add(&mut acc.2[k], m);
                    }
                    let fm = features(&merged, ng);
                    if fm[0].is_finite() {
                        acc.1.push(fm);
                    }
                    acc
                })
                .reduce(zero, |mut a, b| {
                    a.0.extend(b.0);
                    a.1.extend(b.1);
                    for (x, y) in a.2.iter_mut().zip(&b.2) {
                        add(x, y);
                    }
                    a
                });
            if d2 {
                push(&mut out, &mean_vec(&avg), "2D_avg");
                push(&mut out, &mean_vec(&comb), "2D_comb");
            }
            if d25 {
                let fs: Vec<[f64; 26]> = dir_sum
                    .iter()
                    .filter(|m| m.iter().any(|&c| c > 0.0))
                    .map(|m| features(m, ng))
                    .collect();
                push(&mut out, &mean_vec(&fs), "2_5D_avg");
                if matches!(conv.naming, Naming::Ibsi) {
                    let mut all = vec![0.0; ng * ng];
                    for m in &dir_sum {
                        add(&mut all, m);
                    }
                    push(&mut out, &features(&all, ng), "2_5D_comb");
                }
            }
        }
        if d3 {
            let nz = roi.dims[0];
            let ms: Vec<Vec<f64>> = DIRS_3D.par_iter().map(|&d| counts(roi, 0..nz, d)).collect();
            let fs: Vec<[f64; 26]> = ms
                .iter()
                .filter(|m| m.iter().any(|&c| c > 0.0))
                .map(|m| features(m, ng))
                .collect();
            push(&mut out, &mean_vec(&fs), "3D_avg");
            // PyRadiomics reports only the per-direction mean (`push` would drop the rest).
            if matches!(conv.naming, Naming::Ibsi) {
                let mut all = vec![0.0; ng * ng];
                for m in &ms {
                    add(&mut all, m);
                }
                push(&mut out, &features(&all, ng), "3D_comb");
            }
        }
        out
    }
}
