//! tomofuse-metrics: statistics for clinical prediction models and segmentation metrics with
//! physical spacing. Light dependencies (ndarray, rayon, rand_chacha, serde); plots behind the
//! `plots` feature.
//!
//! Labels are `bool` (true = event); scores are finite `f64` (any monotone risk score for
//! ROC/AUC/DeLong, probabilities in [0, 1] for calibration). Every function validates its input
//! and returns [`MetricsError`] on empty, mismatched, non-finite or single-class data.

pub mod binary;
pub mod bootstrap;
pub mod calibration;
pub mod classification;
pub mod delong;
mod error;
pub mod localisation;
pub mod permutation;
#[cfg(feature = "plots")]
pub mod plots;
#[cfg(feature = "plots")]
pub mod render;
pub mod roc;
pub mod seg;
pub mod special;
#[cfg(feature = "plots")]
pub mod viewer;

pub use binary::{
    BinaryAccumulator, BinaryReport, BinaryReportOptions, Candidate, ModelComparison, ModelRow,
    ThresholdChoice, binary_report, compare_models,
};
pub use bootstrap::{
    BootstrapCi, BootstrapConfig, DEFAULT_RESAMPLES, Interval, RocBand, bootstrap_auc,
    bootstrap_auc_difference, bootstrap_auc_replicates, bootstrap_roc_band, mean_sd,
    stratified_bootstrap, stratified_mean_ci,
};
pub use calibration::{
    BinStrategy, CalibrationBin, CalibrationFit, DecisionPoint, HosmerLemeshow, brier,
    calibration_curve, calibration_fit, decision_curve, hosmer_lemeshow,
};
pub use classification::{
    ConfusionMatrix, Proportion, ThresholdMetrics, threshold_metrics, wilson,
};
pub use delong::{CiMethod, DelongAuc, DelongPaired, delong, delong_covariance, delong_paired};
pub use error::{MetricsError, Result};
pub use permutation::{Importance, permutation_importance};
pub use roc::{Roc, auc, roc_curve, youden_threshold};
pub use seg::{
    MaskValue, SegmentationAccumulator, SegmentationMetrics, SurfaceDistances, dice, iou,
    segmentation_metrics, segmentation_metrics_masks, surface_distances,
};
