//! Explanations of an XGBoost model: exact TreeSHAP values from libxgboost's native
//! contributions (checked to add up to the raw margin), the global mean |SHAP| ranking, gain
//! importance, permutation importance (AUC drop) and per-patient waterfall data.

use crate::error::{FusionError, Result};
use crate::xgbm::{Matrix, XgbModel};
use serde::Serialize;

/// SHAP values of `n_rows` cases: `values[i * n_features + j]`, plus the bias (expected margin)
/// and the model's raw margin per case.
#[derive(Clone, Debug, Serialize)]
pub struct Shap {
    pub feature_names: Vec<String>,
    pub n_rows: usize,
    pub values: Vec<f64>,
    pub bias: Vec<f64>,
    pub margin: Vec<f64>,
    /// Largest |sum of contributions + bias - margin| over cases.
    pub max_additivity_error: f64,
}

/// Tolerance of the additivity check (margins are `f32` in libxgboost).
pub const ADDITIVITY_TOL: f64 = 1e-4;

impl Shap {
    /// Contributions for `m`; errors if any case's contributions do not add up to its margin
    /// within `tol` (absolute, relative for large margins).
    pub fn compute(model: &XgbModel, m: Matrix, tol: f64) -> Result<Self> {
        let p = m.n_cols;
        let raw = model.contributions(m)?;
        let margin: Vec<f64> = model
            .predict_margin(m)?
            .into_iter()
            .map(|v| v as f64)
            .collect();
        let mut values = Vec::with_capacity(m.n_rows * p);
        let mut bias = Vec::with_capacity(m.n_rows);
        let mut max_err = 0.0f64;
        for (i, row) in raw.chunks(p + 1).enumerate() {
            let contrib: Vec<f64> = row[..p].iter().map(|&v| v as f64).collect();
            let b = row[p] as f64;
            let sum = contrib.iter().sum::<f64>() + b;
            let err = (sum - margin[i]).abs();
            max_err = max_err.max(err);
            if err > tol * margin[i].abs().max(1.0) {
                return Err(FusionError::Additivity {
                    row: i,
                    sum,
                    margin: margin[i],
                });
            }
            values.extend(contrib);
            bias.push(b);
        }
        Ok(Shap {
            feature_names: model.feature_names.clone(),
            n_rows: m.n_rows,
            values,
            bias,
            margin,
            max_additivity_error: max_err,
        })
    }

    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let p = self.n_features();
        &self.values[i * p..(i + 1) * p]
    }

    /// Mean |SHAP| per feature, sorted decreasing: the global importance ranking.
    pub fn global_ranking(&self) -> Vec<(String, f64)> {
        let p = self.n_features();
        let mut mean = vec![0.0f64; p];
        for row in self.values.chunks(p) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v.abs();
            }
        }
        let n = self.n_rows.max(1) as f64;
        let mut out: Vec<(String, f64)> = self
            .feature_names
            .iter()
            .cloned()
            .zip(mean.into_iter().map(|m| m / n))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Waterfall of case `i`: bias, then the `top` largest |contributions| (the rest summed
    /// into one "other features" step), ending at the case's margin.
    pub fn waterfall(&self, i: usize, feature_values: &[f32], top: usize) -> Result<Waterfall> {
        if i >= self.n_rows || feature_values.len() != self.n_features() {
            return Err(FusionError::InvalidArgument {
                name: "waterfall",
                reason: format!(
                    "case {i} of {} or {} values for {} features",
                    self.n_rows,
                    feature_values.len(),
                    self.n_features()
                ),
            });
        }
        let row = self.row(i);
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()).then(a.cmp(&b)));
        let mut steps = Vec::new();
        let mut running = self.bias[i];
        for &j in order.iter().take(top) {
            running += row[j];
            steps.push(WaterfallStep {
                feature: self.feature_names[j].clone(),
                value: feature_values[j],
                shap: row[j],
                cumulative: running,
            });
        }
        let rest: f64 = order.iter().skip(top).map(|&j| row[j]).sum();
        if order.len() > top {
            running += rest;
            steps.push(WaterfallStep {
                feature: format!("{} other features", order.len() - top),
                value: f32::NAN,
                shap: rest,
                cumulative: running,
            });
        }
        Ok(Waterfall {
            base: self.bias[i],
            steps,
            margin: self.margin[i],
            probability: 1.0 / (1.0 + (-self.margin[i]).exp()),
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct WaterfallStep {
    pub feature: String,
    /// The case's feature value (`NaN` = missing or aggregated).
    pub value: f32,
    pub shap: f64,
    /// Margin after this step.
    pub cumulative: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Waterfall {
    pub base: f64,
    pub steps: Vec<WaterfallStep>,
    pub margin: f64,
    pub probability: f64,
}

/// Permutation importance: mean AUC drop over `n_repeats` seeded shuffles of each column of
/// `m` (via `tomofuse_metrics::permutation_importance`), as `(feature, mean drop, sd)` sorted
/// by decreasing drop.
pub fn permutation_importance(
    model: &XgbModel,
    m: Matrix,
    labels: &[bool],
    n_repeats: usize,
    seed: u64,
) -> Result<Vec<(String, f64, f64)>> {
    let x = ndarray::Array2::from_shape_vec(
        (m.n_rows, m.n_cols),
        m.data.iter().map(|&v| v as f64).collect(),
    )
    .map_err(|e| FusionError::InvalidArgument {
        name: "matrix",
        reason: e.to_string(),
    })?;
    let failure = std::cell::Cell::new(None::<String>);
    let imp = tomofuse_metrics::permutation_importance(x.view(), labels, n_repeats, seed, |v| {
        let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let res = Matrix::new(&data, v.nrows(), v.ncols()).and_then(|mm| model.predict(mm));
        match res {
            Ok(p) => p.into_iter().map(|x| x as f64).collect(),
            Err(e) => {
                failure.set(Some(e.to_string()));
                vec![0.5; v.nrows()]
            }
        }
    })?;
    if let Some(e) = failure.take() {
        return Err(FusionError::Xgb(e));
    }
    let mut out: Vec<(String, f64, f64)> = imp
        .into_iter()
        .map(|i| {
            (
                model.feature_names[i.feature].clone(),
                i.mean_drop,
                i.std_drop,
            )
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Gain importance (total gain over all splits on the feature), sorted decreasing; features
/// never split on are left out.
pub fn gain_ranking(model: &XgbModel) -> Result<Vec<(String, f64)>> {
    let mut v: Vec<(String, f64)> = crate::xgbm::gain_by_name(model)?.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(v)
}
