//! Grey level co-occurrence matrix features (IBSI 3.6): symmetric, Chebyshev distance 1,
//! with the six IBSI aggregations.

use super::texture::{DIRS_2D, DIRS_3D, dims, mean_vec, roi_slices, step};
use crate::roi::Roi;
use crate::settings::Settings;
use crate::util::entropy2;
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
    let [_, ny, nx] = roi.dims;
    let mut m = vec![0.0; ng * ng];
    for z in zs {
        for y in 0..ny {
            for x in 0..nx {
                let a = roi.gl[(z * ny + y) * nx + x] as usize;
                if a == 0 {
                    continue;
                }
                if let Some(n) = step(roi, z, y, x, d) {
                    let b = roi.gl[n] as usize;
                    if b > 0 {
                        m[(a - 1) * ng + b - 1] += 1.0;
                        m[(b - 1) * ng + a - 1] += 1.0;
                    }
                }
            }
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
    let total: f64 = m.iter().sum();
    if total <= 0.0 {
        return [f64::NAN; 25];
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
                hxy2 -= pp * pp.log2();
                if pij > 0.0 {
                    hxy1 -= pij * pp.log2();
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
    let hxy = entropy2(m.iter().map(|c| c / total));
    let hx = entropy2(pi.iter().cloned());
    // Symmetric matrix: the marginal variance equals the joint variance.
    let corr = if var > 0.0 { cov / var } else { f64::NAN };
    let ic1 = if hx > 0.0 {
        (hxy - hxy1) / hx
    } else {
        f64::NAN
    };
    let ic2 = (1.0 - (-2.0 * (hxy2 - hxy)).exp()).max(0.0).sqrt();
    [
        jmax,
        mu,
        var,
        hxy,
        diff_avg,
        diff_var,
        entropy2(pd.iter().cloned()),
        sum_avg,
        sum_var,
        entropy2(ps.iter().cloned()),
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
    ]
}

fn push(out: &mut Vec<Feature>, v: &[f64; 25], suffix: &str) {
    for (n, x) in NAMES.iter().zip(v) {
        out.push(Feature::new("glcm", &format!("cm_{n}"), Some(suffix), *x));
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
        let mut out = Vec::new();
        if d2 || d25 {
            // Per slice: the 4 directional matrices, their features and the slice-merged
            // ones; directional sums are folded per worker so memory stays at a few
            // matrices per thread whatever the slice count.
            type Acc = (Vec<[f64; 25]>, Vec<[f64; 25]>, Vec<Vec<f64>>);
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
                let fs: Vec<[f64; 25]> = dir_sum
                    .iter()
                    .filter(|m| m.iter().any(|&c| c > 0.0))
                    .map(|m| features(m, ng))
                    .collect();
                push(&mut out, &mean_vec(&fs), "2_5D_avg");
                let mut all = vec![0.0; ng * ng];
                for m in &dir_sum {
                    add(&mut all, m);
                }
                push(&mut out, &features(&all, ng), "2_5D_comb");
            }
        }
        if d3 {
            let nz = roi.dims[0];
            let ms: Vec<Vec<f64>> = DIRS_3D.par_iter().map(|&d| counts(roi, 0..nz, d)).collect();
            let fs: Vec<[f64; 25]> = ms
                .iter()
                .filter(|m| m.iter().any(|&c| c > 0.0))
                .map(|m| features(m, ng))
                .collect();
            push(&mut out, &mean_vec(&fs), "3D_avg");
            let mut all = vec![0.0; ng * ng];
            for m in &ms {
                add(&mut all, m);
            }
            push(&mut out, &features(&all, ng), "3D_comb");
        }
        out
    }
}
