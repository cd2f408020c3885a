//! The fusion study in one call: for each feature set (clinical, radiomics, deep, fused),
//! select features on the training rows, search XGBoost hyper-parameters by stratified k-fold
//! CV, refit with early stopping and score the held-out rows; plus a logistic baseline.

use crate::cv::{SearchResult, search, train_with_early_stopping};
use crate::dataset::{Dataset, Modality, check_two_classes};
use crate::error::{FusionError, Result};
use crate::logistic::LogisticModel;
use crate::select::{Selection, SelectionConfig, select};
use crate::xgbm::{Matrix, XgbModel, XgbParams};
use serde::{Deserialize, Serialize};

/// How the fused model's features are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FusedSelection {
    /// One selection over all modalities' columns together (capped at `max_features` in all).
    #[default]
    Joint,
    /// The union of what each single-modality model selected: the fused model differs from the
    /// single-modality models only in combining them, and a modality with many columns
    /// (radiomics) cannot crowd out a small one (clinical indicators) under a shared cap.
    PerModality,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    pub selection: SelectionConfig,
    pub fused_selection: FusedSelection,
    pub xgb: XgbParams,
    /// Hyper-parameter candidates (1 = the base parameters only).
    pub n_candidates: usize,
    pub k_folds: usize,
    /// L2 penalty of the logistic baseline.
    pub logistic_alpha: f64,
    pub seed: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            selection: SelectionConfig::default(),
            fused_selection: FusedSelection::Joint,
            xgb: XgbParams::default(),
            n_candidates: 4,
            k_folds: 5,
            logistic_alpha: 1.0,
            seed: 0,
        }
    }
}

/// Result of one model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    pub name: String,
    pub kind: String,
    pub modalities: Vec<Modality>,
    pub n_candidate_features: usize,
    pub selected: Vec<String>,
    pub cv_auc: Option<f64>,
    pub test_auc: f64,
    pub best_params: Option<XgbParams>,
    pub best_iteration: Option<u32>,
    /// Held-out probabilities, in `test_rows` order.
    pub test_scores: Vec<f64>,
    /// Out-of-fold probabilities of the training rows, in `train` order (the hyper-parameter
    /// search's cross-validation of the chosen parameters); empty for models without one.
    #[serde(skip)]
    pub train_oof: Vec<f64>,
}

impl ModelReport {
    /// Every row's score by row index: out-of-fold for the `train` rows (when the model has
    /// them), held out for the `test` rows, the two sets it was evaluated with.
    pub fn row_scores(&self, train: &[usize], test: &[usize]) -> Vec<(usize, f64)> {
        let oof = train.iter().zip(&self.train_oof);
        let held_out = test.iter().zip(&self.test_scores);
        oof.chain(held_out).map(|(&i, &s)| (i, s)).collect()
    }
}

/// A fitted XGBoost model with its selection and search.
pub struct Fitted {
    pub model: XgbModel,
    pub selection: Selection,
    pub search: SearchResult,
    pub cols: Vec<usize>,
}

/// Selection + search + final fit on `train` over candidate `cols`.
pub fn fit_xgb(
    ds: &Dataset,
    train: &[usize],
    cols: &[usize],
    cfg: &PipelineConfig,
) -> Result<Fitted> {
    let selection = select(ds, train, cols, &cfg.selection)?;
    fit_selected(ds, train, selection, cfg)
}

/// Search + final fit on `train` over an already made selection.
fn fit_selected(
    ds: &Dataset,
    train: &[usize],
    selection: Selection,
    cfg: &PipelineConfig,
) -> Result<Fitted> {
    let sel = selection.selected.clone();
    if sel.is_empty() {
        return Err(FusionError::InvalidArgument {
            name: "selection",
            reason: "no feature survived selection".into(),
        });
    }
    let mut base = cfg.xgb.clone();
    base.seed = cfg.seed;
    let search = search(
        ds,
        train,
        &sel,
        &base,
        cfg.n_candidates,
        cfg.k_folds,
        cfg.seed,
    )?;
    let model = train_with_early_stopping(ds, train, &sel, &search.best)?;
    Ok(Fitted {
        model,
        selection,
        search,
        cols: sel,
    })
}

fn predict(model: &XgbModel, ds: &Dataset, rows: &[usize], cols: &[usize]) -> Result<Vec<f64>> {
    let x = ds.matrix(rows, cols);
    Ok(model
        .predict(Matrix::new(&x, rows.len(), cols.len())?)?
        .into_iter()
        .map(|v| v as f64)
        .collect())
}

/// Evaluates XGBoost on each single modality present and on all of them fused, plus the
/// logistic baseline on the fused selection. Returns the reports and the fused model.
pub fn compare_modalities(
    ds: &Dataset,
    train: &[usize],
    test: &[usize],
    cfg: &PipelineConfig,
) -> Result<(Vec<ModelReport>, Fitted)> {
    check_two_classes(&ds.labels(test), "test rows")?;
    fit_and_score(ds, train, test, cfg)
}

/// [`compare_modalities`] without the test-set check: a test set of one class (a small
/// centre held out in an outer cross-validation) is scored, its `test_auc` is NaN.
fn fit_and_score(
    ds: &Dataset,
    train: &[usize],
    test: &[usize],
    cfg: &PipelineConfig,
) -> Result<(Vec<ModelReport>, Fitted)> {
    check_two_classes(&ds.labels(train), "training rows")?;
    let auc = |labels: &[bool], s: &[f64]| -> Result<f64> {
        if labels.iter().all(|&v| v) || labels.iter().all(|&v| !v) {
            return Ok(f64::NAN);
        }
        Ok(tomofuse_metrics::auc(labels, s)?)
    };
    let labels = ds.labels_bool(test);
    let present: Vec<Modality> = Modality::ALL
        .into_iter()
        .filter(|&m| !ds.columns_of(m).is_empty())
        .collect();
    let mut reports = Vec::new();
    let mut sets: Vec<(String, Vec<Modality>)> = present
        .iter()
        .map(|m| (format!("xgb_{}", m.name()), vec![*m]))
        .collect();
    sets.push(("xgb_fused".into(), present.clone()));
    let mut fused = None;
    let mut single_selected: Vec<usize> = Vec::new();
    for (name, mods) in sets {
        let cols: Vec<usize> = (0..ds.n_cols())
            .filter(|&j| mods.contains(&ds.modality[j]))
            .collect();
        let is_fused = name == "xgb_fused";
        let fit = if is_fused && cfg.fused_selection == FusedSelection::PerModality {
            let mut union = single_selected.clone();
            union.sort_unstable();
            union.dedup();
            let selection = Selection {
                after_variance: union.clone(),
                after_correlation: union.clone(),
                selected: union,
                lasso_lambda: None,
            };
            fit_selected(ds, train, selection, cfg)?
        } else {
            fit_xgb(ds, train, &cols, cfg)?
        };
        if !is_fused {
            single_selected.extend(&fit.cols);
        }
        let scores = predict(&fit.model, ds, test, &fit.cols)?;
        reports.push(ModelReport {
            name: name.clone(),
            kind: "xgboost".into(),
            modalities: mods.clone(),
            n_candidate_features: cols.len(),
            selected: fit.cols.iter().map(|&j| ds.names[j].clone()).collect(),
            cv_auc: Some(fit.search.best_cv_auc),
            test_auc: auc(&labels, &scores)?,
            best_params: Some(fit.search.best.clone()),
            best_iteration: fit.model.best_iteration,
            test_scores: scores,
            train_oof: fit.search.best_oof.clone(),
        });
        if is_fused {
            fused = Some(fit);
        }
    }
    let fused = fused.ok_or_else(|| FusionError::InvalidArgument {
        name: "modalities",
        reason: "no feature columns".into(),
    })?;
    let lr = LogisticModel::fit(ds, train, &fused.cols, cfg.logistic_alpha)?;
    let s = lr.predict(ds, test)?;
    reports.push(ModelReport {
        name: "logistic_fused".into(),
        kind: "logistic".into(),
        modalities: present,
        n_candidate_features: fused.cols.len(),
        selected: fused.cols.iter().map(|&j| ds.names[j].clone()).collect(),
        cv_auc: None,
        test_auc: auc(&labels, &s)?,
        best_params: None,
        best_iteration: None,
        test_scores: s,
        train_oof: Vec::new(),
    });
    Ok((reports, fused))
}

/// One held-out group of [`leave_one_group_out`].
#[derive(Clone, Debug, Serialize)]
pub struct GroupFold {
    pub group: String,
    pub n_test: usize,
    pub n_positive: usize,
    /// Test AUC of every model of [`compare_modalities`] and of every extra score.
    pub test_auc: std::collections::BTreeMap<String, f64>,
}

/// Every model of [`compare_modalities`] refitted with each group (centre, scanner, period)
/// held out in turn and tested on it. `extra_scores(test_rows)` adds fixed scores (clinical
/// scores) evaluated on the same rows. A group whose fit fails (one class only, too few rows)
/// is logged and left out; fewer than two groups give no folds.
pub fn leave_one_group_out(
    ds: &Dataset,
    groups: &[Option<String>],
    cfg: &PipelineConfig,
    extra_scores: impl Fn(&[usize]) -> Vec<(String, Vec<f64>)>,
) -> Vec<GroupFold> {
    let names: std::collections::BTreeSet<&str> =
        groups.iter().filter_map(|c| c.as_deref()).collect();
    if names.len() < 2 || groups.len() != ds.n_rows() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for name in names {
        let (test, train): (Vec<usize>, Vec<usize>) =
            (0..ds.n_rows()).partition(|&i| groups[i].as_deref() == Some(name));
        let reports = match compare_modalities(ds, &train, &test, cfg) {
            Ok((r, _)) => r,
            Err(e) => {
                log::warn!("leave-one-group-out: group {name} left out: {e}");
                continue;
            }
        };
        out.push(group_fold(ds, name, &test, &reports, extra_scores(&test)));
    }
    out
}

/// One held-out group's AUCs: every model's (its `test_auc`) and every extra score's that has
/// one on these rows (a score without, e.g. on a group of one class, is left out).
fn group_fold(
    ds: &Dataset,
    group: &str,
    test: &[usize],
    reports: &[ModelReport],
    extra: Vec<(String, Vec<f64>)>,
) -> GroupFold {
    let y = ds.labels_bool(test);
    let mut test_auc: std::collections::BTreeMap<String, f64> = reports
        .iter()
        .map(|r| (r.name.clone(), r.test_auc))
        .collect();
    for (n, score) in extra {
        if let Ok(a) = tomofuse_metrics::auc(&y, &score) {
            test_auc.insert(n, a);
        }
    }
    GroupFold {
        group: group.to_string(),
        n_test: test.len(),
        n_positive: y.iter().filter(|&&v| v).count(),
        test_auc,
    }
}

/// One held-out fold of [`outer_cross_validation`]: its rows, every model's report (scores of
/// the held-out rows) and the fused model fitted without them.
pub struct OuterFold {
    pub name: String,
    pub test: Vec<usize>,
    pub reports: Vec<ModelReport>,
    pub fused: Fitted,
}

/// An outer cross-validation: every row is scored once, by models that never saw it.
pub struct OuterCv {
    pub folds: Vec<OuterFold>,
    /// The rows scored, in dataset order.
    pub rows: Vec<usize>,
    /// Per model ([`compare_modalities`] order): the out-of-fold score of each of `rows`.
    pub pooled: Vec<(String, Vec<f64>)>,
    /// Per model: the mean number of selected features over the folds.
    pub mean_selected: Vec<f64>,
}

/// Every model of [`compare_modalities`] (selection, search and fit redone per fold) with each
/// fold held out in turn: `fold_of[i]` names row `i`'s fold (a k-fold index or a group such
/// as a centre); rows with `None` are never scored or trained on. A fold whose training rows
/// cannot be fitted is an error naming it; a fold of one class is scored (its own AUC is NaN)
/// and counts in the pooled scores.
pub fn outer_cross_validation(
    ds: &Dataset,
    fold_of: &[Option<String>],
    cfg: &PipelineConfig,
) -> Result<OuterCv> {
    if fold_of.len() != ds.n_rows() {
        return Err(FusionError::InvalidArgument {
            name: "fold_of",
            reason: format!("{} fold labels for {} rows", fold_of.len(), ds.n_rows()),
        });
    }
    let names: std::collections::BTreeSet<&str> =
        fold_of.iter().filter_map(|f| f.as_deref()).collect();
    if names.len() < 2 {
        return Err(FusionError::InvalidArgument {
            name: "folds",
            reason: format!(
                "{} fold(s): an outer cross-validation needs at least 2",
                names.len()
            ),
        });
    }
    let rows: Vec<usize> = (0..ds.n_rows()).filter(|&i| fold_of[i].is_some()).collect();
    let pos: std::collections::BTreeMap<usize, usize> =
        rows.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let mut folds = Vec::new();
    for name in names {
        let (test, train): (Vec<usize>, Vec<usize>) = rows
            .iter()
            .partition(|&&i| fold_of[i].as_deref() == Some(name));
        log::info!(
            "outer cross-validation: fold {name} held out ({} rows, {} for training)",
            test.len(),
            train.len()
        );
        let (reports, fused) =
            fit_and_score(ds, &train, &test, cfg).map_err(|e| FusionError::InvalidArgument {
                name: "folds",
                reason: format!("fold {name}: {e}"),
            })?;
        folds.push(OuterFold {
            name: name.to_string(),
            test,
            reports,
            fused,
        });
    }
    let mut pooled: Vec<(String, Vec<f64>)> = folds[0]
        .reports
        .iter()
        .map(|r| (r.name.clone(), vec![f64::NAN; rows.len()]))
        .collect();
    let mut mean_selected = vec![0.0; pooled.len()];
    for f in &folds {
        for (m, r) in f.reports.iter().enumerate() {
            mean_selected[m] += r.selected.len() as f64 / folds.len() as f64;
            for (&i, &s) in f.test.iter().zip(&r.test_scores) {
                pooled[m].1[pos[&i]] = s;
            }
        }
    }
    Ok(OuterCv {
        folds,
        rows,
        pooled,
        mean_selected,
    })
}

/// SHAP of an outer cross-validation's fused models, pooled over the folds.
#[derive(Clone, Debug, Serialize)]
pub struct PooledExplanation {
    /// Mean |SHAP| per feature over every scored row (each fold's model on its own held-out
    /// rows; a feature a fold did not select contributes 0 there), largest first.
    pub ranking: Vec<(String, f64)>,
    /// Every feature any fold's fused model selected, with the number of folds that did,
    /// most often first (ties by name).
    pub selection_frequency: Vec<(String, usize)>,
    /// Largest |sum of SHAP values + bias - margin| over all folds' rows.
    pub max_additivity_error: f64,
}

impl OuterCv {
    /// Each fold's test AUC of every model and of every extra score (`extra_scores(test_rows)`,
    /// e.g. clinical scores); an extra score without an AUC on a fold (one class) is left out
    /// of that fold, a model's is NaN.
    pub fn fold_aucs<E>(
        &self,
        ds: &Dataset,
        extra_scores: impl Fn(&[usize]) -> std::result::Result<Vec<(String, Vec<f64>)>, E>,
    ) -> std::result::Result<Vec<GroupFold>, E> {
        self.folds
            .iter()
            .map(|f| {
                let extra = extra_scores(&f.test)?;
                Ok(group_fold(ds, &f.name, &f.test, &f.reports, extra))
            })
            .collect()
    }

    /// SHAP of each fold's fused model on its held-out rows, pooled (see [`PooledExplanation`]).
    pub fn pooled_explanation(&self, ds: &Dataset) -> Result<PooledExplanation> {
        let mut shap_sum: std::collections::BTreeMap<String, f64> = Default::default();
        let mut freq: std::collections::BTreeMap<String, usize> = Default::default();
        let mut max_err: f64 = 0.0;
        for f in &self.folds {
            let x = ds.matrix(&f.test, &f.fused.cols);
            let m = Matrix::new(&x, f.test.len(), f.fused.cols.len())?;
            let shap = crate::Shap::compute(&f.fused.model, m, crate::explain::ADDITIVITY_TOL)?;
            max_err = max_err.max(shap.max_additivity_error);
            for (name, mean) in shap.global_ranking() {
                *shap_sum.entry(name).or_default() += mean * f.test.len() as f64;
            }
            for &j in &f.fused.cols {
                *freq.entry(ds.names[j].clone()).or_default() += 1;
            }
        }
        let n = self.rows.len() as f64;
        let mut ranking: Vec<(String, f64)> =
            shap_sum.into_iter().map(|(k, v)| (k, v / n)).collect();
        ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut selection_frequency: Vec<(String, usize)> = freq.into_iter().collect();
        selection_frequency.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(PooledExplanation {
            ranking,
            selection_frequency,
            max_additivity_error: max_err,
        })
    }
}
