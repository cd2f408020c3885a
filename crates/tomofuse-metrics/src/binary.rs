//! A complete statistics report for a binary prediction (what `tomofuse stats` writes), and an
//! accumulate-then-aggregate collector for batched predictions.

use crate::bootstrap::{
    BootstrapCi, BootstrapConfig, RocBand, bootstrap_auc, bootstrap_auc_difference,
    bootstrap_roc_band,
};
use crate::calibration::{
    BinStrategy, CalibrationBin, CalibrationFit, DecisionPoint, HosmerLemeshow, brier,
    calibration_curve, calibration_fit, decision_curve, hosmer_lemeshow,
};
use crate::classification::{ThresholdMetrics, threshold_metrics};
use crate::delong::{CiMethod, DelongAuc, DelongPaired, delong, delong_paired};
use crate::error::{MetricsError, Result, check_scores, check_two_classes};
use crate::roc::{Roc, auc, roc_curve, youden_threshold};
use serde::Serialize;

/// Where to cut scores for the threshold metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdChoice {
    /// Maximise Youden's J on the data (optimistic on the same data: report it as such).
    Youden,
    /// A fixed, pre-specified threshold.
    Value(f64),
}

/// Options of [`binary_report`].
#[derive(Debug, Clone)]
pub struct BinaryReportOptions {
    pub threshold: ThresholdChoice,
    pub bootstrap: BootstrapConfig,
    pub delong_ci: CiMethod,
    pub calibration_bins: usize,
    pub hosmer_lemeshow_groups: usize,
    pub decision_thresholds: Vec<f64>,
    /// FPR grid points of the bootstrap ROC band.
    pub roc_band_points: usize,
}

impl Default for BinaryReportOptions {
    fn default() -> Self {
        BinaryReportOptions {
            threshold: ThresholdChoice::Youden,
            bootstrap: BootstrapConfig::default(),
            delong_ci: CiMethod::Plain,
            calibration_bins: 10,
            hosmer_lemeshow_groups: 10,
            decision_thresholds: (1..100).map(|i| i as f64 / 100.0).collect(),
            roc_band_points: 101,
        }
    }
}

/// Statistics that need probabilities (scores in [0, 1]).
#[derive(Debug, Clone, Serialize)]
pub struct ProbabilityMetrics {
    pub brier: f64,
    pub calibration: Option<CalibrationFit>,
    pub calibration_curve: Vec<CalibrationBin>,
    pub hosmer_lemeshow: Option<HosmerLemeshow>,
    pub decision_curve: Vec<DecisionPoint>,
}

/// Comparison of the main score against a second one on the same cases.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub auc: f64,
    pub auc_delong: DelongAuc,
    pub delong_paired: DelongPaired,
    /// Paired stratified bootstrap of AUC(main) − AUC(compare).
    pub bootstrap_difference: BootstrapCi,
}

/// Everything `tomofuse stats` reports for one score.
#[derive(Debug, Clone, Serialize)]
pub struct BinaryReport {
    pub n: usize,
    pub n_positive: usize,
    pub n_negative: usize,
    pub auc: f64,
    pub auc_bootstrap: BootstrapCi,
    pub auc_delong: DelongAuc,
    /// Youden's J at its optimum (whatever threshold was chosen).
    pub youden_j: f64,
    pub youden_threshold: f64,
    pub threshold_metrics: ThresholdMetrics,
    pub roc: Roc,
    pub roc_band: RocBand,
    pub probability: Option<ProbabilityMetrics>,
    pub comparison: Option<Comparison>,
    /// Parts that were skipped and why (e.g. scores are not probabilities).
    pub notes: Vec<String>,
}

/// Compute the full report. `compare` is an optional second score for the paired tests.
pub fn binary_report(
    labels: &[bool],
    scores: &[f64],
    compare: Option<&[f64]>,
    opts: &BinaryReportOptions,
) -> Result<BinaryReport> {
    check_scores(labels, scores, "scores")?;
    let (n_pos, n_neg) = check_two_classes(labels)?;
    let mut notes = Vec::new();
    let auc_value = auc(labels, scores)?;
    let auc_bootstrap = bootstrap_auc(labels, scores, &opts.bootstrap)?;
    let auc_delong = delong(labels, scores, opts.bootstrap.level, opts.delong_ci)?;
    let (yt, yj) = youden_threshold(labels, scores)?;
    let thr = match opts.threshold {
        ThresholdChoice::Youden => yt,
        ThresholdChoice::Value(v) => v,
    };
    let threshold_metrics = threshold_metrics(labels, scores, thr, opts.bootstrap.level)?;
    let roc = roc_curve(labels, scores, true)?;
    let grid: Vec<f64> = (0..opts.roc_band_points.max(2))
        .map(|i| i as f64 / (opts.roc_band_points.max(2) - 1) as f64)
        .collect();
    let roc_band = bootstrap_roc_band(labels, scores, &grid, &opts.bootstrap)?;

    let probability = if scores.iter().all(|s| (0.0..=1.0).contains(s)) {
        let calibration = match calibration_fit(labels, scores) {
            Ok(c) => Some(c),
            Err(e) => {
                notes.push(format!("calibration intercept/slope not computed: {e}"));
                None
            }
        };
        let hl = match hosmer_lemeshow(labels, scores, opts.hosmer_lemeshow_groups) {
            Ok(h) => Some(h),
            Err(e) => {
                notes.push(format!("Hosmer-Lemeshow not computed: {e}"));
                None
            }
        };
        Some(ProbabilityMetrics {
            brier: brier(labels, scores)?,
            calibration,
            calibration_curve: calibration_curve(
                labels,
                scores,
                opts.calibration_bins,
                BinStrategy::Uniform,
            )?,
            hosmer_lemeshow: hl,
            decision_curve: decision_curve(labels, scores, &opts.decision_thresholds)?,
        })
    } else {
        notes.push("scores are not probabilities in [0, 1]: Brier, calibration, Hosmer-Lemeshow and decision curve skipped".into());
        None
    };

    let comparison = match compare {
        None => None,
        Some(c) => {
            check_scores(labels, c, "compare scores")?;
            Some(Comparison {
                auc: auc(labels, c)?,
                auc_delong: delong(labels, c, opts.bootstrap.level, opts.delong_ci)?,
                delong_paired: delong_paired(labels, scores, c, opts.bootstrap.level)?,
                bootstrap_difference: bootstrap_auc_difference(labels, scores, c, &opts.bootstrap)?,
            })
        }
    };
    if opts.threshold == ThresholdChoice::Youden {
        notes.push(
            "threshold chosen by Youden's J on these data: threshold metrics are optimistic".into(),
        );
    }
    Ok(BinaryReport {
        n: labels.len(),
        n_positive: n_pos,
        n_negative: n_neg,
        auc: auc_value,
        auc_bootstrap,
        auc_delong,
        youden_j: yj,
        youden_threshold: yt,
        threshold_metrics,
        roc,
        roc_band,
        probability,
        comparison,
        notes,
    })
}

/// Collects (label, score) batches and computes statistics once at the end.
#[derive(Debug, Clone, Default)]
pub struct BinaryAccumulator {
    pub labels: Vec<bool>,
    pub scores: Vec<f64>,
}

impl BinaryAccumulator {
    /// Append one batch.
    pub fn extend(&mut self, labels: &[bool], scores: &[f64]) -> Result<()> {
        if labels.len() != scores.len() {
            return Err(MetricsError::LengthMismatch {
                left: "labels",
                left_len: labels.len(),
                right: "scores",
                right_len: scores.len(),
            });
        }
        self.labels.extend_from_slice(labels);
        self.scores.extend_from_slice(scores);
        Ok(())
    }

    /// AUC of everything collected.
    pub fn auc(&self) -> Result<f64> {
        auc(&self.labels, &self.scores)
    }

    /// Full report of everything collected.
    pub fn report(&self, opts: &BinaryReportOptions) -> Result<BinaryReport> {
        binary_report(&self.labels, &self.scores, None, opts)
    }

    pub fn reset(&mut self) {
        self.labels.clear();
        self.scores.clear();
    }
}

/// One candidate of [`compare_models`]: a model's (or a clinical score's) scores on the
/// evaluation cases.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    /// Features the model uses (1 for a score).
    pub features: f64,
    pub scores: Vec<f64>,
    /// The model's own cross-validated AUC on its training rows, when it has one.
    pub cv_auc: Option<f64>,
}

/// One row of a model comparison table.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub name: String,
    pub features: f64,
    pub test_auc: f64,
    pub auc_ci: (f64, f64),
    /// Paired DeLong test against the reference candidate (None for the reference itself).
    pub delong_p_vs_fused: Option<f64>,
    pub cv_auc: Option<f64>,
}

/// A model comparison: the table, the reference's full report, and the candidates left out.
#[derive(Debug, Clone, Serialize)]
pub struct ModelComparison {
    pub rows: Vec<ModelRow>,
    pub reference: Option<BinaryReport>,
    /// `(candidate, reason)` for each candidate whose statistics could not be computed.
    pub skipped: Vec<(String, String)>,
}

/// The comparison table of a study: every candidate's AUC with its bootstrap CI and a paired
/// DeLong test against `reference` on the same cases, plus the reference's full report. A
/// candidate whose statistics cannot be computed is listed in `skipped`, not in the table.
pub fn compare_models(
    labels: &[bool],
    candidates: &[Candidate],
    reference: &str,
    opts: &BinaryReportOptions,
) -> Result<ModelComparison> {
    let reference_scores = candidates
        .iter()
        .find(|c| c.name == reference)
        .map(|c| c.scores.as_slice())
        .ok_or_else(|| MetricsError::InvalidArgument {
            name: "reference",
            reason: format!("no candidate is named {reference:?}"),
        })?;
    let mut out = ModelComparison {
        rows: Vec::new(),
        reference: None,
        skipped: Vec::new(),
    };
    for c in candidates {
        let is_ref = c.name == reference;
        match binary_report(
            labels,
            &c.scores,
            (!is_ref).then_some(reference_scores),
            opts,
        ) {
            Ok(r) => {
                out.rows.push(ModelRow {
                    name: c.name.clone(),
                    features: c.features,
                    test_auc: r.auc,
                    auc_ci: (
                        r.auc_bootstrap.percentile.lower,
                        r.auc_bootstrap.percentile.upper,
                    ),
                    delong_p_vs_fused: r.comparison.as_ref().map(|c| c.delong_paired.p_value),
                    cv_auc: c.cv_auc,
                });
                if is_ref {
                    out.reference = Some(r);
                }
            }
            Err(e) => out.skipped.push((c.name.clone(), e.to_string())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row's AUC is the plain rank AUC of its scores, the paired p-value is the DeLong
    /// test of that candidate against the reference, the reference has none, and a candidate
    /// with a missing score is reported as skipped instead of breaking the table.
    #[test]
    fn compare_models_rows_match_direct_statistics() {
        let labels: Vec<bool> = (0..40).map(|i| i % 3 == 0).collect();
        let fused: Vec<f64> = (0..40)
            .map(|i| if i % 3 == 0 { 0.6 } else { 0.4 } + (i % 7) as f64 * 0.03)
            .collect();
        let weak: Vec<f64> = (0..40).map(|i| ((i * 13) % 17) as f64).collect();
        let mut broken = weak.clone();
        broken[3] = f64::NAN;
        let cand = |name: &str, scores: &[f64]| Candidate {
            name: name.into(),
            features: 1.0,
            scores: scores.to_vec(),
            cv_auc: None,
        };
        let opts = BinaryReportOptions {
            bootstrap: BootstrapConfig {
                n_resamples: 200,
                ..Default::default()
            },
            ..Default::default()
        };
        let c = compare_models(
            &labels,
            &[
                cand("fused", &fused),
                cand("weak", &weak),
                cand("broken", &broken),
            ],
            "fused",
            &opts,
        )
        .unwrap();
        assert_eq!(c.rows.len(), 2);
        assert_eq!(c.skipped.len(), 1);
        assert_eq!(c.skipped[0].0, "broken");
        assert_eq!(c.rows[0].test_auc, auc(&labels, &fused).unwrap());
        assert_eq!(c.rows[1].test_auc, auc(&labels, &weak).unwrap());
        assert!(c.rows[0].delong_p_vs_fused.is_none());
        let p = delong_paired(&labels, &weak, &fused, 0.95).unwrap().p_value;
        assert_eq!(c.rows[1].delong_p_vs_fused, Some(p));
        assert_eq!(c.reference.as_ref().unwrap().auc, c.rows[0].test_auc);
        assert!(compare_models(&labels, &[cand("weak", &weak)], "fused", &opts).is_err());
    }
}
