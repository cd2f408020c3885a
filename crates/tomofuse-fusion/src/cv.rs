//! Stratified k-fold cross-validation and a small seeded hyper-parameter search for XGBoost.
//! Early stopping never looks at the fold being scored: each training part gives up a
//! stratified slice as the early-stopping set.

use crate::dataset::{Dataset, check_two_classes};
use crate::error::{FusionError, Result};
use crate::select::stratified_folds;
use crate::xgbm::{Matrix, XgbModel, XgbParams};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Splits `rows` into (train, early-stopping) parts, stratified, `frac` to the second.
pub fn stratified_holdout(
    ds: &Dataset,
    rows: &[usize],
    frac: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let y = ds.labels(rows);
    let k = (1.0 / frac.clamp(0.05, 0.5)).round() as usize;
    let folds = stratified_folds(&y, k, seed);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (pos, &r) in rows.iter().enumerate() {
        if folds[pos] == 0 {
            b.push(r)
        } else {
            a.push(r)
        }
    }
    (a, b)
}

/// Trains on `rows` x `cols`, early-stopping on a stratified 20 % of `rows`.
pub fn train_with_early_stopping(
    ds: &Dataset,
    rows: &[usize],
    cols: &[usize],
    params: &XgbParams,
) -> Result<XgbModel> {
    let names: Vec<String> = cols.iter().map(|&j| ds.names[j].clone()).collect();
    if params.early_stopping_rounds.is_none() {
        let x = ds.matrix(rows, cols);
        let y = ds.labels(rows);
        return XgbModel::train(
            Matrix::new(&x, rows.len(), cols.len())?,
            &y,
            &names,
            params,
            None,
        );
    }
    let (tr, es) = stratified_holdout(ds, rows, 0.2, params.seed);
    let (xt, yt) = (ds.matrix(&tr, cols), ds.labels(&tr));
    let (xe, ye) = (ds.matrix(&es, cols), ds.labels(&es));
    check_two_classes(&ye, "early-stopping set")?;
    XgbModel::train(
        Matrix::new(&xt, tr.len(), cols.len())?,
        &yt,
        &names,
        params,
        Some((Matrix::new(&xe, es.len(), cols.len())?, &ye)),
    )
}

/// The fold of each row for K-fold cross-fitting: each class's rows shuffled with one seeded
/// stream (the negatives first, then the positives) and dealt round robin, so every fold holds
/// both classes in proportion and every row gets its score from a model that never saw it.
pub fn cross_fitting_folds(labels: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut fold = vec![0; labels.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rand::seq::SliceRandom::shuffle(idx.as_mut_slice(), &mut rng);
        for (r, i) in idx.into_iter().enumerate() {
            fold[i] = r % k.max(1);
        }
    }
    fold
}

/// The outer folds of a k-fold evaluation, named `fold 1` .. `fold K` for
/// [`crate::outer_cross_validation`]: stratified as [`cross_fitting_folds`], from a stream
/// derived from `seed` so that the outer folds differ from any cross-fitting drawn with the
/// experiment's seed itself.
pub fn outer_kfold_names(labels: &[bool], k: usize, seed: u64) -> Vec<Option<String>> {
    cross_fitting_folds(labels, k, seed ^ 0x0F01_D5ED)
        .into_iter()
        .map(|f| Some(format!("fold {}", f + 1)))
        .collect()
}

/// Out-of-fold probabilities over `rows` (k stratified folds) and the mean fold AUC.
pub fn cross_validate(
    ds: &Dataset,
    rows: &[usize],
    cols: &[usize],
    params: &XgbParams,
    k: usize,
    seed: u64,
) -> Result<(Vec<f64>, f64)> {
    if k < 2 {
        return Err(FusionError::InvalidArgument {
            name: "k_folds",
            reason: "need at least 2 folds".into(),
        });
    }
    let y = ds.labels(rows);
    check_two_classes(&y, "cross-validation rows")?;
    let folds = stratified_folds(&y, k, seed);
    let mut oof = vec![f64::NAN; rows.len()];
    let mut aucs = Vec::with_capacity(k);
    for f in 0..k {
        let tr: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(p, _)| folds[*p] != f)
            .map(|(_, &r)| r)
            .collect();
        let te_pos: Vec<usize> = (0..rows.len()).filter(|&p| folds[p] == f).collect();
        let te: Vec<usize> = te_pos.iter().map(|&p| rows[p]).collect();
        let model = train_with_early_stopping(ds, &tr, cols, params)?;
        let x = ds.matrix(&te, cols);
        let pred = model.predict(Matrix::new(&x, te.len(), cols.len())?)?;
        for (&p, &s) in te_pos.iter().zip(&pred) {
            oof[p] = s as f64;
        }
        let s: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
        aucs.push(tomofuse_metrics::auc(&ds.labels_bool(&te), &s)?);
    }
    Ok((oof, aucs.iter().sum::<f64>() / k as f64))
}

#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub params: XgbParams,
    pub cv_auc: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SearchResult {
    pub best: XgbParams,
    pub best_cv_auc: f64,
    pub trials: Vec<Trial>,
    /// The best candidate's out-of-fold probabilities, in `rows` order: each row scored by the
    /// fold model that did not see it (what a per-case table reports for training cases).
    #[serde(skip)]
    pub best_oof: Vec<f64>,
}

/// Random search over a small grid (depth, learning rate, child weight, row and column
/// subsampling): `n_candidates` seeded draws, the base parameters first; the best mean k-fold
/// AUC wins (ties: the earlier candidate).
pub fn search(
    ds: &Dataset,
    rows: &[usize],
    cols: &[usize],
    base: &XgbParams,
    n_candidates: usize,
    k: usize,
    seed: u64,
) -> Result<SearchResult> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut candidates = vec![base.clone()];
    let depth = [2u32, 3, 4, 5];
    let eta = [0.03, 0.05, 0.1, 0.2];
    let mcw = [1.0, 3.0, 5.0];
    let sub = [0.6, 0.8, 1.0];
    let col = [0.5, 0.8, 1.0];
    while candidates.len() < n_candidates.max(1) {
        let mut p = base.clone();
        p.max_depth = *depth.choose(&mut rng).unwrap_or(&3);
        p.eta = *eta.choose(&mut rng).unwrap_or(&0.1);
        p.min_child_weight = *mcw.choose(&mut rng).unwrap_or(&1.0);
        p.subsample = *sub.choose(&mut rng).unwrap_or(&0.8);
        p.colsample_bytree = *col.choose(&mut rng).unwrap_or(&0.8);
        if !candidates.contains(&p) {
            candidates.push(p);
        }
    }
    let mut trials = Vec::with_capacity(candidates.len());
    let mut oofs = Vec::with_capacity(candidates.len());
    for p in candidates {
        let (oof, auc) = cross_validate(ds, rows, cols, &p, k, seed)?;
        trials.push(Trial {
            params: p,
            cv_auc: auc,
        });
        oofs.push(oof);
    }
    let (best_i, best) = trials
        .iter()
        .enumerate()
        .max_by(|(ia, a), (ib, b)| a.cv_auc.total_cmp(&b.cv_auc).then(ib.cmp(ia)))
        .map(|(i, t)| (i, t.clone()))
        .ok_or_else(|| FusionError::InvalidArgument {
            name: "n_candidates",
            reason: "no candidate".into(),
        })?;
    Ok(SearchResult {
        best: best.params,
        best_cv_auc: best.cv_auc,
        trials,
        best_oof: oofs.swap_remove(best_i),
    })
}

#[cfg(test)]
mod cross_fitting_tests {
    use super::{cross_fitting_folds, outer_kfold_names};

    /// Every fold gets floor or ceil of each class's share, the same seed gives the same folds,
    /// and another seed other ones.
    #[test]
    fn folds_are_stratified_and_seeded() {
        let labels: Vec<bool> = (0..47).map(|i| i % 3 == 0).collect();
        let f = cross_fitting_folds(&labels, 4, 7);
        for class in [false, true] {
            let n = labels.iter().filter(|&&l| l == class).count();
            for k in 0..4 {
                let c = (0..47).filter(|&i| labels[i] == class && f[i] == k).count();
                assert!(
                    c == n / 4 || c == n.div_ceil(4),
                    "class {class}, fold {k}: {c} of {n}"
                );
            }
        }
        assert_eq!(f, cross_fitting_folds(&labels, 4, 7));
        assert_ne!(f, cross_fitting_folds(&labels, 4, 8));
    }

    /// Outer folds are named from 1 and are not the cross-fitting folds of the same seed.
    #[test]
    fn outer_folds_are_named_and_drawn_apart_from_cross_fitting() {
        let labels: Vec<bool> = (0..47).map(|i| i % 3 == 0).collect();
        let names = outer_kfold_names(&labels, 4, 7);
        let names: Vec<String> = names.into_iter().map(Option::unwrap).collect();
        let set: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(set, ["fold 1", "fold 2", "fold 3", "fold 4"].into());
        let inner: Vec<String> = cross_fitting_folds(&labels, 4, 7)
            .iter()
            .map(|f| format!("fold {}", f + 1))
            .collect();
        assert_ne!(names, inner);
    }
}
