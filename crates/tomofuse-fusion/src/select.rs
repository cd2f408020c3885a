//! Feature selection, always fitted on training rows only: a variance filter, a Spearman
//! correlation filter, elastic-net (LASSO) logistic regression and mRMR.
//!
//! The filters run first (cheap, unsupervised or univariate), then at most one embedded method
//! picks the final set. Missing values are ignored by the variance filter, take the middle rank
//! in Spearman, the training mean in the logistic model and their own bin in mRMR.

use crate::dataset::Dataset;
use crate::error::{FusionError, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Embedded {
    None,
    Lasso,
    Mrmr,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectionConfig {
    /// Drop columns whose variance (of standardised-free raw values) is at most this.
    pub min_variance: f64,
    /// Of two columns with |Spearman rho| above this, keep the one more related to the outcome.
    pub max_abs_spearman: f64,
    pub embedded: Embedded,
    /// mRMR: number of features to keep; LASSO: upper bound on the number kept.
    pub max_features: usize,
    /// Elastic-net mixing (1 = LASSO).
    pub l1_ratio: f64,
    /// Folds for choosing the LASSO penalty.
    pub lasso_folds: usize,
    pub seed: u64,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig {
            min_variance: 1e-8,
            max_abs_spearman: 0.9,
            embedded: Embedded::Lasso,
            max_features: 30,
            l1_ratio: 1.0,
            lasso_folds: 3,
            seed: 0,
        }
    }
}

/// What each stage kept (column indices into the dataset).
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    pub after_variance: Vec<usize>,
    pub after_correlation: Vec<usize>,
    pub selected: Vec<usize>,
    /// LASSO: the chosen penalty; otherwise `None`.
    pub lasso_lambda: Option<f64>,
}

/// Runs the configured selection on `rows` (training rows) over candidate `cols`.
pub fn select(
    ds: &Dataset,
    rows: &[usize],
    cols: &[usize],
    cfg: &SelectionConfig,
) -> Result<Selection> {
    let y = ds.labels(rows);
    crate::dataset::check_two_classes(&y, "feature selection (training rows)")?;
    let after_variance = variance_filter(ds, rows, cols, cfg.min_variance);
    let after_correlation = spearman_filter(ds, rows, &after_variance, cfg.max_abs_spearman);
    let (selected, lasso_lambda) = match cfg.embedded {
        Embedded::None => (after_correlation.clone(), None),
        Embedded::Mrmr => (
            mrmr(ds, rows, &after_correlation, cfg.max_features, 5),
            None,
        ),
        Embedded::Lasso => {
            let (sel, lambda) = lasso_select(ds, rows, &after_correlation, cfg)?;
            (sel, Some(lambda))
        }
    };
    Ok(Selection {
        after_variance,
        after_correlation,
        selected,
        lasso_lambda,
    })
}

fn finite(v: &[f32]) -> impl Iterator<Item = f64> + '_ {
    v.iter().filter(|x| !x.is_nan()).map(|&x| x as f64)
}

/// Columns whose variance over the non-missing training values exceeds `min_variance`.
pub fn variance_filter(
    ds: &Dataset,
    rows: &[usize],
    cols: &[usize],
    min_variance: f64,
) -> Vec<usize> {
    cols.par_iter()
        .copied()
        .filter(|&j| {
            let c = ds.column(j, rows);
            let n = finite(&c).count();
            if n < 2 {
                return false;
            }
            let mean = finite(&c).sum::<f64>() / n as f64;
            let var = finite(&c).map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            var > min_variance
        })
        .collect()
}

/// Average ranks (1-based, ties averaged); missing values get the middle rank `(n+1)/2`.
pub fn ranks(v: &[f32]) -> Vec<f64> {
    let n = v.len();
    let mut idx: Vec<usize> = (0..n).filter(|&i| !v[i].is_nan()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![(n as f64 + 1.0) / 2.0; n];
    let mut s = 0;
    while s < idx.len() {
        let mut e = s + 1;
        while e < idx.len() && v[idx[e]] == v[idx[s]] {
            e += 1;
        }
        // Positions s..e share the average of ranks s+1..=e.
        let avg = (s + 1 + e) as f64 / 2.0;
        for &i in &idx[s..e] {
            r[i] = avg;
        }
        s = e;
    }
    r
}

fn centred_unit(r: &[f64]) -> Vec<f64> {
    let n = r.len() as f64;
    let m = r.iter().sum::<f64>() / n;
    let mut c: Vec<f64> = r.iter().map(|x| x - m).collect();
    let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        c.iter_mut().for_each(|x| *x /= norm);
    }
    c
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Spearman correlation filter: columns are visited by decreasing |rho| with the outcome; a
/// column is kept unless its |rho| with an already kept column exceeds `max_abs_rho`.
pub fn spearman_filter(
    ds: &Dataset,
    rows: &[usize],
    cols: &[usize],
    max_abs_rho: f64,
) -> Vec<usize> {
    let y: Vec<f32> = ds.labels(rows).iter().map(|&v| v as f32).collect();
    let ry = centred_unit(&ranks(&y));
    let rc: Vec<Vec<f64>> = cols
        .par_iter()
        .map(|&j| centred_unit(&ranks(&ds.column(j, rows))))
        .collect();
    let mut order: Vec<(usize, f64)> = rc
        .iter()
        .enumerate()
        .map(|(k, r)| (k, dot(r, &ry).abs()))
        .collect();
    // Stable: ties keep column order, so the result is deterministic.
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept: Vec<usize> = Vec::new();
    for (k, _) in order {
        let redundant = kept
            .par_iter()
            .any(|&q| dot(&rc[k], &rc[q]).abs() > max_abs_rho);
        if !redundant {
            kept.push(k);
        }
    }
    kept.sort_unstable();
    kept.into_iter().map(|k| cols[k]).collect()
}

/// Spearman's rho between two columns (missing values at the middle rank).
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    dot(&centred_unit(&ranks(a)), &centred_unit(&ranks(b)))
}

/// Training-set standardisation: `(x - mean) / sd` with missing values set to 0 (the mean).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Standardizer {
    pub fn fit(ds: &Dataset, rows: &[usize], cols: &[usize]) -> Self {
        let (mean, sd) = cols
            .iter()
            .map(|&j| {
                let c = ds.column(j, rows);
                let n = finite(&c).count().max(1);
                let m = finite(&c).sum::<f64>() / n as f64;
                let v = finite(&c).map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
                (m, if v > 0.0 { v.sqrt() } else { 1.0 })
            })
            .unzip();
        Standardizer { mean, sd }
    }

    /// Row-major `rows x cols` standardised matrix in `f64`.
    pub fn transform(&self, ds: &Dataset, rows: &[usize], cols: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for &i in rows {
            let r = ds.row(i);
            for (k, &j) in cols.iter().enumerate() {
                let v = r[j];
                out.push(if v.is_nan() {
                    0.0
                } else {
                    (v as f64 - self.mean[k]) / self.sd[k]
                });
            }
        }
        out
    }
}

/// Elastic-net penalised logistic regression on a standardised row-major matrix `x` (n x p),
/// by accelerated proximal gradient (FISTA). Minimises
/// `mean logloss + lambda * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|^2)`, intercept free.
pub struct ElasticNetLogistic {
    pub intercept: f64,
    pub coef: Vec<f64>,
}

/// Largest singular value squared of `x` (power iteration), for the gradient's Lipschitz bound.
fn spectral_sq(x: &[f64], n: usize, p: usize) -> f64 {
    let mut v = vec![1.0 / (p as f64).sqrt(); p];
    let mut s = 0.0;
    for _ in 0..30 {
        let xv: Vec<f64> = (0..n).map(|i| dot(&x[i * p..(i + 1) * p], &v)).collect();
        let mut w = vec![0.0; p];
        for i in 0..n {
            let r = &x[i * p..(i + 1) * p];
            for (wk, rk) in w.iter_mut().zip(r) {
                *wk += rk * xv[i];
            }
        }
        s = w.iter().map(|a| a * a).sum::<f64>().sqrt();
        if s == 0.0 {
            return 0.0;
        }
        v = w.iter().map(|a| a / s).collect();
    }
    s
}

impl ElasticNetLogistic {
    pub fn fit(
        x: &[f64],
        y: &[u8],
        p: usize,
        lambda: f64,
        l1_ratio: f64,
        warm: Option<&ElasticNetLogistic>,
        max_iter: usize,
    ) -> Self {
        let n = y.len();
        let lip = 0.25 * spectral_sq(x, n, p) / n as f64 + 0.25 + lambda * (1.0 - l1_ratio);
        let step = 1.0 / lip;
        let mut w = warm.map_or(vec![0.0; p], |m| m.coef.clone());
        let mut b = warm.map_or(0.0, |m| m.intercept);
        let (mut zw, mut zb) = (w.clone(), b);
        let mut t = 1.0f64;
        let mut grad = vec![0.0; p];
        for _ in 0..max_iter {
            grad.iter_mut().for_each(|g| *g = 0.0);
            let mut gb = 0.0;
            for i in 0..n {
                let r = &x[i * p..(i + 1) * p];
                let m = zb + dot(r, &zw);
                let prob = 1.0 / (1.0 + (-m).exp());
                let e = prob - y[i] as f64;
                gb += e;
                for (g, rk) in grad.iter_mut().zip(r) {
                    *g += e * rk;
                }
            }
            let inv_n = 1.0 / n as f64;
            let thr = step * lambda * l1_ratio;
            let shrink = 1.0 / (1.0 + step * lambda * (1.0 - l1_ratio));
            let mut new_w = vec![0.0; p];
            for k in 0..p {
                let u = zw[k] - step * grad[k] * inv_n;
                new_w[k] = u.signum() * (u.abs() - thr).max(0.0) * shrink;
            }
            let new_b = zb - step * gb * inv_n;
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let mom = (t - 1.0) / t_next;
            let mut delta = (new_b - b).abs();
            for k in 0..p {
                zw[k] = new_w[k] + mom * (new_w[k] - w[k]);
                delta = delta.max((new_w[k] - w[k]).abs());
            }
            zb = new_b + mom * (new_b - b);
            w = new_w;
            b = new_b;
            t = t_next;
            if delta < 1e-6 {
                break;
            }
        }
        ElasticNetLogistic {
            intercept: b,
            coef: w,
        }
    }

    pub fn margin(&self, x: &[f64], p: usize) -> Vec<f64> {
        x.chunks(p)
            .map(|r| self.intercept + dot(r, &self.coef))
            .collect()
    }
}

/// Stratified fold assignment: fold index per position of `y`, seeded.
pub fn stratified_folds(y: &[u8], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0usize; y.len()];
    let mut offset = 0;
    for class in [0u8, 1] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        idx.shuffle(&mut rng);
        for (r, &i) in idx.iter().enumerate() {
            fold[i] = (r + offset) % k;
        }
        offset += idx.len();
    }
    fold
}

/// LASSO/elastic-net selection: a path of penalties from the smallest one that zeroes every
/// coefficient down to 1 % of it; the penalty with the best cross-validated AUC is refitted on
/// all training rows and its non-zero coefficients are kept (the largest `max_features` by
/// magnitude if there are more).
pub fn lasso_select(
    ds: &Dataset,
    rows: &[usize],
    cols: &[usize],
    cfg: &SelectionConfig,
) -> Result<(Vec<usize>, f64)> {
    if cols.is_empty() {
        return Ok((Vec::new(), 0.0));
    }
    if !(cfg.l1_ratio > 0.0 && cfg.l1_ratio <= 1.0) {
        return Err(FusionError::InvalidArgument {
            name: "l1_ratio",
            reason: format!("{} is not in (0, 1]", cfg.l1_ratio),
        });
    }
    let y = ds.labels(rows);
    let p = cols.len();
    let std = Standardizer::fit(ds, rows, cols);
    let x = std.transform(ds, rows, cols);
    let n = rows.len();
    let ybar = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let mut lmax = 0.0f64;
    for k in 0..p {
        let g: f64 = (0..n)
            .map(|i| x[i * p + k] * (y[i] as f64 - ybar))
            .sum::<f64>()
            / n as f64;
        lmax = lmax.max(g.abs());
    }
    lmax /= cfg.l1_ratio;
    let n_lambda = 12;
    let lambdas: Vec<f64> = (0..n_lambda)
        .map(|i| lmax * (0.01f64).powf((i + 1) as f64 / n_lambda as f64))
        .collect();
    let k = cfg.lasso_folds.max(2);
    let folds = stratified_folds(&y, k, cfg.seed);
    let fold_scores: Vec<Vec<f64>> = (0..k)
        .into_par_iter()
        .map(|f| {
            let tr: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
            let te: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
            // Standardise with the fold's training part only.
            let sub_rows: Vec<usize> = tr.iter().map(|&i| rows[i]).collect();
            let te_rows: Vec<usize> = te.iter().map(|&i| rows[i]).collect();
            let s = Standardizer::fit(ds, &sub_rows, cols);
            let xtr = s.transform(ds, &sub_rows, cols);
            let xte = s.transform(ds, &te_rows, cols);
            let ytr: Vec<u8> = tr.iter().map(|&i| y[i]).collect();
            let yte: Vec<bool> = te.iter().map(|&i| y[i] == 1).collect();
            let mut warm: Option<ElasticNetLogistic> = None;
            lambdas
                .iter()
                .map(|&l| {
                    let m =
                        ElasticNetLogistic::fit(&xtr, &ytr, p, l, cfg.l1_ratio, warm.as_ref(), 300);
                    let s = m.margin(&xte, p);
                    warm = Some(m);
                    tomofuse_metrics::auc(&yte, &s).unwrap_or(0.5)
                })
                .collect()
        })
        .collect();
    let mean_auc: Vec<f64> = (0..n_lambda)
        .map(|l| fold_scores.iter().map(|f| f[l]).sum::<f64>() / k as f64)
        .collect();
    let best = (0..n_lambda)
        .max_by(|&a, &b| mean_auc[a].total_cmp(&mean_auc[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    // Refit along the path up to the chosen penalty (warm starts).
    let mut warm: Option<ElasticNetLogistic> = None;
    for &l in &lambdas[..=best] {
        warm = Some(ElasticNetLogistic::fit(
            &x,
            &y,
            p,
            l,
            cfg.l1_ratio,
            warm.as_ref(),
            500,
        ));
    }
    let model = warm.ok_or_else(|| FusionError::InvalidArgument {
        name: "lasso",
        reason: "empty penalty path".into(),
    })?;
    let mut nz: Vec<(usize, f64)> = model
        .coef
        .iter()
        .enumerate()
        .filter(|(_, c)| c.abs() > 1e-8)
        .map(|(k, c)| (k, c.abs()))
        .collect();
    nz.sort_by(|a, b| b.1.total_cmp(&a.1));
    nz.truncate(cfg.max_features.max(1));
    let mut sel: Vec<usize> = nz.into_iter().map(|(k, _)| cols[k]).collect();
    sel.sort_unstable();
    Ok((sel, lambdas[best]))
}

/// Equal-frequency bins from training values (missing = bin `n_bins`).
fn discretise(v: &[f32], n_bins: usize) -> Vec<u8> {
    let mut sorted: Vec<f32> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    sorted.sort_by(f32::total_cmp);
    let cuts: Vec<f32> = (1..n_bins)
        .filter_map(|b| sorted.get(b * sorted.len() / n_bins).copied())
        .collect();
    v.iter()
        .map(|&x| {
            if x.is_nan() {
                n_bins as u8
            } else {
                cuts.iter().filter(|&&c| x >= c).count() as u8
            }
        })
        .collect()
}

/// Mutual information (nats) between two discrete codes `< 16`.
fn mutual_information(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len() as f64;
    let mut joint = [[0u32; 16]; 16];
    let mut pa = [0u32; 16];
    let mut pb = [0u32; 16];
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = ((x as usize).min(15), (y as usize).min(15));
        joint[x][y] += 1;
        pa[x] += 1;
        pb[y] += 1;
    }
    let mut mi = 0.0;
    for x in 0..16 {
        for y in 0..16 {
            let c = joint[x][y] as f64;
            if c > 0.0 {
                mi += c / n * (c * n / (pa[x] as f64 * pb[y] as f64)).ln();
            }
        }
    }
    mi
}

/// mRMR (Peng et al. 2005, MID form): greedily adds the feature maximising
/// `I(f; y) - mean_s I(f; s)` over the already selected `s`, on equal-frequency bins.
pub fn mrmr(ds: &Dataset, rows: &[usize], cols: &[usize], k: usize, n_bins: usize) -> Vec<usize> {
    let y = ds.labels(rows);
    let codes: Vec<Vec<u8>> = cols
        .par_iter()
        .map(|&j| discretise(&ds.column(j, rows), n_bins))
        .collect();
    let relevance: Vec<f64> = codes.iter().map(|c| mutual_information(c, &y)).collect();
    let mut redundancy = vec![0.0f64; cols.len()];
    let mut chosen: Vec<usize> = Vec::new();
    let mut available = vec![true; cols.len()];
    while chosen.len() < k.min(cols.len()) {
        let s = chosen.len() as f64;
        let best = (0..cols.len()).filter(|&c| available[c]).max_by(|&a, &b| {
            let sa = relevance[a] - if s > 0.0 { redundancy[a] / s } else { 0.0 };
            let sb = relevance[b] - if s > 0.0 { redundancy[b] / s } else { 0.0 };
            sa.total_cmp(&sb).then(b.cmp(&a))
        });
        let Some(best) = best else { break };
        available[best] = false;
        chosen.push(best);
        let cb = &codes[best];
        let upd: Vec<(usize, f64)> = (0..cols.len())
            .into_par_iter()
            .filter(|&c| available[c])
            .map(|c| (c, mutual_information(&codes[c], cb)))
            .collect();
        for (c, mi) in upd {
            redundancy[c] += mi;
        }
    }
    let mut out: Vec<usize> = chosen.into_iter().map(|c| cols[c]).collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties_and_middle_for_missing() {
        let r = ranks(&[3.0, 1.0, f32::NAN, 3.0, 2.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.0, 3.5, 2.0]);
    }

    #[test]
    fn mutual_information_of_identical_binary_is_entropy() {
        let a = [0u8, 1, 0, 1];
        assert!((mutual_information(&a, &a) - 2f64.ln()).abs() < 1e-12);
        let b = [0u8, 0, 1, 1];
        assert!(mutual_information(&a, &b).abs() < 1e-12);
    }
}
