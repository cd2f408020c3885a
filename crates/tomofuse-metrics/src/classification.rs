//! Threshold metrics: confusion matrix, sensitivity, specificity, PPV, NPV, accuracy (with
//! Wilson score CIs) and F1. A case is predicted positive when `score >= threshold`
//! (scikit-learn's ROC convention).

use crate::bootstrap::check_level;
use crate::error::{MetricsError, Result, check_scores};
use crate::special::norm_ppf;
use serde::Serialize;

/// 2×2 confusion matrix. scikit-learn's `confusion_matrix(y, y_pred)` is
/// `[[tn, fp], [fn, tp]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ConfusionMatrix {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl ConfusionMatrix {
    /// Count predictions `score >= threshold` against the labels.
    pub fn from_scores(labels: &[bool], scores: &[f64], threshold: f64) -> Result<Self> {
        check_scores(labels, scores, "scores")?;
        if threshold.is_nan() {
            return Err(MetricsError::InvalidArgument {
                name: "threshold",
                reason: "NaN".into(),
            });
        }
        let pred: Vec<bool> = scores.iter().map(|&s| s >= threshold).collect();
        Self::from_predictions(labels, &pred)
    }

    /// Count binary predictions against the labels.
    pub fn from_predictions(labels: &[bool], predicted: &[bool]) -> Result<Self> {
        if labels.is_empty() {
            return Err(MetricsError::Empty { what: "labels" });
        }
        if labels.len() != predicted.len() {
            return Err(MetricsError::LengthMismatch {
                left: "labels",
                left_len: labels.len(),
                right: "predictions",
                right_len: predicted.len(),
            });
        }
        let mut cm = ConfusionMatrix::default();
        for (&y, &p) in labels.iter().zip(predicted) {
            match (y, p) {
                (true, true) => cm.tp += 1,
                (false, true) => cm.fp += 1,
                (false, false) => cm.tn += 1,
                (true, false) => cm.fn_ += 1,
            }
        }
        Ok(cm)
    }

    /// `[[tn, fp], [fn, tp]]`, scikit-learn's layout.
    pub fn as_sklearn(&self) -> [[u64; 2]; 2] {
        [[self.tn, self.fp], [self.fn_, self.tp]]
    }

    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
}

/// A proportion with its Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub successes: u64,
    pub trials: u64,
}

/// Wilson score interval for `successes` out of `trials` (`None` when `trials == 0`, where the
/// proportion is undefined): (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n).
pub fn wilson(successes: u64, trials: u64, level: f64) -> Result<Option<Proportion>> {
    check_level(level)?;
    if successes > trials {
        return Err(MetricsError::InvalidArgument {
            name: "successes",
            reason: format!("{successes} > trials {trials}"),
        });
    }
    if trials == 0 {
        return Ok(None);
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z = norm_ppf(0.5 + level / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Ok(Some(Proportion {
        estimate: p,
        lower: (center - half).max(0.0),
        upper: (center + half).min(1.0),
        successes,
        trials,
    }))
}

/// Metrics at one threshold. A proportion is `None` when its denominator is zero (e.g. PPV
/// when nothing is predicted positive).
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdMetrics {
    pub threshold: f64,
    pub confusion: ConfusionMatrix,
    pub sensitivity: Option<Proportion>,
    pub specificity: Option<Proportion>,
    pub ppv: Option<Proportion>,
    pub npv: Option<Proportion>,
    pub accuracy: Option<Proportion>,
    /// 2TP / (2TP + FP + FN); `None` when that denominator is zero. No Wilson CI: F1 is not a
    /// binomial proportion (bootstrap it with [`crate::stratified_bootstrap`] if needed).
    pub f1: Option<f64>,
    pub level: f64,
}

/// Confusion matrix and derived metrics with Wilson CIs at `threshold`.
pub fn threshold_metrics(
    labels: &[bool],
    scores: &[f64],
    threshold: f64,
    level: f64,
) -> Result<ThresholdMetrics> {
    let cm = ConfusionMatrix::from_scores(labels, scores, threshold)?;
    metrics_from_confusion(cm, threshold, level)
}

/// Derived metrics of a confusion matrix.
pub fn metrics_from_confusion(
    cm: ConfusionMatrix,
    threshold: f64,
    level: f64,
) -> Result<ThresholdMetrics> {
    let f1d = 2 * cm.tp + cm.fp + cm.fn_;
    Ok(ThresholdMetrics {
        threshold,
        confusion: cm,
        sensitivity: wilson(cm.tp, cm.tp + cm.fn_, level)?,
        specificity: wilson(cm.tn, cm.tn + cm.fp, level)?,
        ppv: wilson(cm.tp, cm.tp + cm.fp, level)?,
        npv: wilson(cm.tn, cm.tn + cm.fn_, level)?,
        accuracy: wilson(cm.tp + cm.tn, cm.total(), level)?,
        f1: (f1d > 0).then(|| 2.0 * cm.tp as f64 / f1d as f64),
        level,
    })
}
