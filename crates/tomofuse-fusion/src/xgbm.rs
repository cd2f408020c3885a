//! XGBoost (libxgboost 3.4 through the `xgb` crate): binary logistic training with optional
//! early stopping on a validation set, prediction, SHAP contributions, gain importance and JSON
//! save/load. Parameters are passed to the library explicitly, every one of them, so a Python
//! `xgboost.train` given [`XgbParams::as_pairs`] trains the very same model.

use crate::error::{FusionError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use xgb::parameters::BoosterParameters;
use xgb::{Booster, DMatrix, PredictConfig, PredictType};

/// Hyper-parameters of the tree booster (XGBoost names and defaults unless noted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct XgbParams {
    pub eta: f64,
    pub max_depth: u32,
    pub min_child_weight: f64,
    pub subsample: f64,
    pub colsample_bytree: f64,
    pub colsample_bynode: f64,
    pub lambda: f64,
    pub alpha: f64,
    pub gamma: f64,
    pub max_bin: u32,
    pub scale_pos_weight: f64,
    /// Boosting rounds (the maximum when early stopping).
    pub n_rounds: u32,
    /// Stop when the validation log-loss has not improved for this many rounds.
    pub early_stopping_rounds: Option<u32>,
    pub seed: u64,
    /// Threads; 0 = all cores.
    pub nthread: u32,
    /// Initial prediction (probability); `None` = the training prevalence, fixed explicitly so
    /// that both bindings start from the same value.
    pub base_score: Option<f64>,
}

impl Default for XgbParams {
    fn default() -> Self {
        XgbParams {
            eta: 0.1,
            max_depth: 3,
            min_child_weight: 1.0,
            subsample: 0.8,
            colsample_bytree: 0.8,
            colsample_bynode: 1.0,
            lambda: 1.0,
            alpha: 0.0,
            gamma: 0.0,
            max_bin: 256,
            scale_pos_weight: 1.0,
            n_rounds: 300,
            early_stopping_rounds: Some(30),
            seed: 0,
            nthread: 0,
            base_score: None,
        }
    }
}

impl XgbParams {
    /// The complete parameter list given to libxgboost (also what the Python cross-check uses).
    /// Parameters the `xgb` crate sets by default are overridden here with XGBoost's own
    /// defaults, so nothing is left implicit.
    pub fn as_pairs(&self, base_score: f64) -> Vec<(String, String)> {
        let kv = |k: &str, v: String| (k.to_string(), v);
        let mut v = vec![
            kv("booster", "gbtree".into()),
            kv("objective", "binary:logistic".into()),
            kv("eval_metric", "logloss".into()),
            kv("tree_method", "hist".into()),
            kv("eta", self.eta.to_string()),
            kv("max_depth", self.max_depth.to_string()),
            kv("min_child_weight", self.min_child_weight.to_string()),
            kv("subsample", self.subsample.to_string()),
            kv("colsample_bytree", self.colsample_bytree.to_string()),
            kv("colsample_bylevel", "1".into()),
            kv("colsample_bynode", self.colsample_bynode.to_string()),
            kv("lambda", self.lambda.to_string()),
            kv("alpha", self.alpha.to_string()),
            kv("gamma", self.gamma.to_string()),
            kv("max_delta_step", "0".into()),
            kv("max_bin", self.max_bin.to_string()),
            kv("max_leaves", "0".into()),
            kv("grow_policy", "depthwise".into()),
            kv("num_parallel_tree", "1".into()),
            kv("process_type", "default".into()),
            kv("refresh_leaf", "1".into()),
            kv("scale_pos_weight", self.scale_pos_weight.to_string()),
            kv("base_score", base_score.to_string()),
            kv("seed", self.seed.to_string()),
            kv("verbosity", "0".into()),
        ];
        if self.nthread > 0 {
            v.push(kv("nthread", self.nthread.to_string()));
        }
        v
    }

    fn check(&self) -> Result<()> {
        let bad = |name: &'static str, reason: &str| {
            Err(FusionError::InvalidArgument {
                name,
                reason: reason.to_string(),
            })
        };
        if !(self.eta > 0.0 && self.eta <= 1.0) {
            return bad("eta", "must be in (0, 1]");
        }
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return bad("subsample", "must be in (0, 1]");
        }
        if !(self.colsample_bytree > 0.0 && self.colsample_bytree <= 1.0) {
            return bad("colsample_bytree", "must be in (0, 1]");
        }
        if self.n_rounds == 0 {
            return bad("n_rounds", "must be >= 1");
        }
        Ok(())
    }
}

/// A dense matrix view: row-major `f32`, `NaN` = missing.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    pub data: &'a [f32],
    pub n_rows: usize,
    pub n_cols: usize,
}

impl<'a> Matrix<'a> {
    pub fn new(data: &'a [f32], n_rows: usize, n_cols: usize) -> Result<Self> {
        if data.len() != n_rows * n_cols || n_rows == 0 {
            return Err(FusionError::LengthMismatch {
                what: "feature matrix".into(),
                got: data.len(),
                expected: n_rows * n_cols,
            });
        }
        Ok(Matrix {
            data,
            n_rows,
            n_cols,
        })
    }

    fn dmatrix(&self, labels: Option<&[u8]>) -> Result<DMatrix> {
        let mut d = DMatrix::from_dense(self.data, self.n_rows)?;
        if let Some(y) = labels {
            if y.len() != self.n_rows {
                return Err(FusionError::LengthMismatch {
                    what: "labels".into(),
                    got: y.len(),
                    expected: self.n_rows,
                });
            }
            let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
            d.set_labels(&yf)?;
        }
        Ok(d)
    }
}

/// A trained booster plus what is needed to use it: feature names and the early-stopping round.
pub struct XgbModel {
    booster: Booster,
    pub feature_names: Vec<String>,
    /// Round (0-based) with the best validation loss when early stopping was used; the model
    /// holds rounds `0..=best_iteration` only.
    pub best_iteration: Option<u32>,
    /// Validation log-loss per round (empty without a validation set).
    pub valid_logloss: Vec<f64>,
    pub base_score: f64,
}

const ATTR_FEATURES: &str = "tomofuse_feature_names";
const ATTR_BEST: &str = "tomofuse_best_iteration";

impl XgbModel {
    /// Trains on `train` with labels `y`; with `valid` and `early_stopping_rounds`, stops when
    /// the validation log-loss has not improved for that many rounds and keeps the best rounds.
    pub fn train(
        train: Matrix,
        y: &[u8],
        feature_names: &[String],
        params: &XgbParams,
        valid: Option<(Matrix, &[u8])>,
    ) -> Result<Self> {
        params.check()?;
        crate::dataset::check_two_classes(y, "XGBoost training set")?;
        if feature_names.len() != train.n_cols {
            return Err(FusionError::LengthMismatch {
                what: "feature names".into(),
                got: feature_names.len(),
                expected: train.n_cols,
            });
        }
        let base_score = params
            .base_score
            .unwrap_or_else(|| y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64);
        let dtrain = train.dmatrix(Some(y))?;
        let dvalid = match valid {
            Some((m, yv)) => {
                if m.n_cols != train.n_cols {
                    return Err(FusionError::LengthMismatch {
                        what: "validation columns".into(),
                        got: m.n_cols,
                        expected: train.n_cols,
                    });
                }
                Some(m.dmatrix(Some(yv))?)
            }
            None => None,
        };
        let mut cached = vec![&dtrain];
        cached.extend(dvalid.as_ref());
        let mut booster = Booster::new_with_cached_dmats(&BoosterParameters::default(), &cached)?;
        for (k, v) in params.as_pairs(base_score) {
            booster.set_param(&k, &v)?;
        }
        let mut losses = Vec::new();
        let mut best: Option<(u32, f64)> = None;
        for round in 0..params.n_rounds {
            booster.update(&dtrain, round as i32)?;
            if let Some(dv) = &dvalid {
                let eval = booster.evaluate(dv)?;
                let loss = eval
                    .get("logloss")
                    .copied()
                    .ok_or_else(|| FusionError::Xgb("evaluation returned no logloss".into()))?
                    as f64;
                losses.push(loss);
                if best.is_none_or(|(_, b)| loss < b) {
                    best = Some((round, loss));
                }
                if let (Some(patience), Some((b, _))) = (params.early_stopping_rounds, best)
                    && round - b >= patience
                {
                    break;
                }
            }
        }
        let best_iteration = match (params.early_stopping_rounds, best) {
            (Some(_), Some((b, _))) => {
                booster = booster.slice(0, b as i32 + 1)?;
                Some(b)
            }
            _ => None,
        };
        let mut model = XgbModel {
            booster,
            feature_names: feature_names.to_vec(),
            best_iteration,
            valid_logloss: losses,
            base_score,
        };
        model.write_attributes()?;
        Ok(model)
    }

    fn write_attributes(&mut self) -> Result<()> {
        let names = serde_json::to_string(&self.feature_names)
            .map_err(|e| FusionError::Xgb(e.to_string()))?;
        self.booster.set_attribute(ATTR_FEATURES, &names)?;
        if let Some(b) = self.best_iteration {
            self.booster.set_attribute(ATTR_BEST, &b.to_string())?;
        }
        Ok(())
    }

    fn check_cols(&self, m: &Matrix) -> Result<()> {
        if m.n_cols != self.feature_names.len() {
            return Err(FusionError::LengthMismatch {
                what: "prediction columns".into(),
                got: m.n_cols,
                expected: self.feature_names.len(),
            });
        }
        Ok(())
    }

    /// Probabilities of the positive class.
    pub fn predict(&self, m: Matrix) -> Result<Vec<f32>> {
        self.check_cols(&m)?;
        let d = m.dmatrix(None)?;
        Ok(self.booster.predict(&d)?)
    }

    /// Raw margins (log-odds).
    pub fn predict_margin(&self, m: Matrix) -> Result<Vec<f32>> {
        self.check_cols(&m)?;
        let d = m.dmatrix(None)?;
        Ok(self.booster.predict_margin(&d)?)
    }

    /// Exact TreeSHAP contributions: `n_rows x (n_cols + 1)`, the last column being the bias;
    /// each row sums to the raw margin.
    pub fn contributions(&self, m: Matrix) -> Result<Vec<f32>> {
        self.check_cols(&m)?;
        let d = m.dmatrix(None)?;
        let cfg = PredictConfig {
            _type: PredictType::PredictContribitions,
            ..Default::default()
        };
        let (v, shape) = self.booster.predict_matrix(&d, &cfg.as_json())?;
        let expected = m.n_rows * (m.n_cols + 1);
        if v.len() != expected {
            return Err(FusionError::Xgb(format!(
                "contributions have shape {shape:?}, expected {} x {}",
                m.n_rows,
                m.n_cols + 1
            )));
        }
        Ok(v)
    }

    /// Per-feature gain from the tree dump: `(total gain, mean gain per split, split count)`,
    /// indexed like the features (features never split on get zeros).
    pub fn gain_importance(&self) -> Result<Vec<(f64, f64, usize)>> {
        let dump = self.booster.dump_model_vec(true)?;
        let mut out = vec![(0.0f64, 0.0f64, 0usize); self.feature_names.len()];
        for tree in &dump {
            for line in tree.lines() {
                let Some((f, gain)) = parse_split(line) else {
                    continue;
                };
                if let Some(slot) = out.get_mut(f) {
                    slot.0 += gain;
                    slot.2 += 1;
                }
            }
        }
        for s in &mut out {
            if s.2 > 0 {
                s.1 = s.0 / s.2 as f64;
            }
        }
        Ok(out)
    }

    /// Number of trees (rounds) in the model.
    pub fn n_trees(&self) -> Result<usize> {
        Ok(self.booster.dump_model_vec(false)?.len())
    }

    /// Saves the model in XGBoost's JSON format (loadable by Python's `Booster(model_file=...)`);
    /// feature names and the best round are stored as model attributes.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.booster.save_buffer(false)?;
        std::fs::write(path, bytes).map_err(|e| FusionError::Io {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// Loads a model saved by [`XgbModel::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| FusionError::Io {
            path: p.clone(),
            source: e,
        })?;
        let booster = Booster::load_buffer(&bytes).map_err(|e| FusionError::Model {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let names = booster
            .get_attribute(ATTR_FEATURES)?
            .ok_or_else(|| FusionError::Model {
                path: p.clone(),
                reason: format!("no `{ATTR_FEATURES}` attribute: not saved by tomofuse"),
            })?;
        let feature_names: Vec<String> =
            serde_json::from_str(&names).map_err(|e| FusionError::Model {
                path: p.clone(),
                reason: format!("bad `{ATTR_FEATURES}`: {e}"),
            })?;
        let best_iteration = booster
            .get_attribute(ATTR_BEST)?
            .and_then(|s| s.parse().ok());
        let base_score = base_score_of(&bytes).unwrap_or(f64::NAN);
        Ok(XgbModel {
            booster,
            feature_names,
            best_iteration,
            valid_logloss: Vec::new(),
            base_score,
        })
    }
}

/// `learner.learner_model_param.base_score` of a JSON model (a string, or "[x]" in XGBoost 3).
fn base_score_of(json: &[u8]) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let s = v
        .pointer("/learner/learner_model_param/base_score")?
        .as_str()?;
    s.trim_matches(|c| c == '[' || c == ']').parse().ok()
}

/// `"0:[f12<0.5] yes=1,no=2,missing=1,gain=3.2,cover=10"` -> `(12, 3.2)`.
fn parse_split(line: &str) -> Option<(usize, f64)> {
    let start = line.find("[f")? + 2;
    let rest = &line[start..];
    let end = rest.find(['<', ']'])?;
    let f: usize = rest[..end].parse().ok()?;
    let g = line.find("gain=")? + 5;
    let tail = &line[g..];
    let gend = tail.find(',').unwrap_or(tail.len());
    Some((f, tail[..gend].parse().ok()?))
}

/// Gain importance keyed by feature name (only features used in a split).
pub fn gain_by_name(model: &XgbModel) -> Result<HashMap<String, f64>> {
    Ok(model
        .gain_importance()?
        .into_iter()
        .zip(&model.feature_names)
        .filter(|((_, _, c), _)| *c > 0)
        .map(|((total, _, _), n)| (n.clone(), total))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dump_lines() {
        assert_eq!(
            parse_split("\t0:[f12<0.5] yes=1,no=2,missing=1,gain=3.25,cover=10"),
            Some((12, 3.25))
        );
        assert_eq!(parse_split("\t\t1:leaf=0.1,cover=3"), None);
    }
}
