//! The one stage engine every study runs on. A study is its config: which stages run follows
//! from its sections, never from Rust written for it.
//!
//! plan -> segmentation (`train` | `reference` | `checkpoint`) -> per-split statistics ->
//! the network's class output (`segmentation.class_head`: AUC, threshold from validation,
//! Grad-CAM) -> 3D reconstruction -> features (`[radiomics]`, `[deep_features]`) -> models
//! (`[fusion]`, `[comparisons]`, evaluated as `split.kind` says).

use super::common::{self, CasePrediction, Ctx, Mode};
use super::features::{self, CaseFeatures};
use super::models::{self, ModelResults};
use super::report::Report;
use super::summary::{self, SetSummary};
use anyhow::{Context, Result};
use serde::Serialize;
use tomofuse_cohort::{Cohort, Split};
use tomofuse_metrics::{BinaryReportOptions, BootstrapConfig, ThresholdChoice};

/// Everything a study reports (metrics.json).
#[derive(Debug, Serialize)]
pub struct StudyResults {
    /// Segmentation (and, with a class head, classification) statistics per split.
    pub sets: Vec<SetSummary>,
    /// The class head's operating point, chosen on validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub youden_threshold_from_validation: Option<f64>,
    /// Grad-CAM over every external positive: layer, share of peaks in the target region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gradcam: Option<summary::GradCamResults>,
    /// Surface meshes (PLY) of the predicted segmentation, held-out cases.
    pub meshes: Vec<String>,
    /// The U-Net's training record (none when it came from a checkpoint or the manifest).
    pub seg_history: Option<super::networks::History>,
    /// The `[fusion]` models, when the study has them.
    #[serde(flatten)]
    pub models: Option<ModelResults>,
    pub predictions: Vec<CasePrediction>,
}

/// Runs the study; `None` when this process stops early (`--until models`, a shard).
pub fn run(ctx: &Ctx, cohort: &Cohort, report: &mut Report) -> Result<Option<StudyResults>> {
    let cfg = ctx.cfg;
    let metas = common::metas(cohort);
    let seg = common::segmentation_source(ctx, cohort)?;
    let deep = features::deep_classifier_stage(ctx, cohort)?;
    if ctx.mode == Mode::UntilModels {
        return Ok(None);
    }
    let preds = common::segment_stage(ctx, cohort, &metas, &seg)?;
    let feats: Vec<CaseFeatures> = if cfg.fusion.is_some() {
        features::features_stage(ctx, cohort, &metas, &preds, &seg.key, deep.as_ref())?
    } else {
        Vec::new()
    };
    if let Mode::Shard(s) = ctx.mode {
        let tag = s.tag();
        summary::write_predictions_csv(ctx, &preds, &format!("shards/predictions-{tag}.csv"), &[])?;
        features::write_feature_table(ctx, &feats, &format!("shards/features-{tag}.parquet"))?;
        return Ok(None);
    }
    features::write_feature_table(ctx, &feats, "features.parquet")?;

    let boot = BootstrapConfig {
        n_resamples: cfg.stats.bootstrap,
        seed: cfg.experiment.seed,
        level: cfg.stats.ci_level,
    };
    // The class head's operating point is chosen on validation and applied unchanged to the
    // other sets (None without class probabilities: every set then reports its own Youden).
    let val_threshold = summary::youden_on(&preds, Split::Validation);
    let sets: Vec<SetSummary> = [Split::Train, Split::Validation, Split::External]
        .into_iter()
        .map(|split| {
            let threshold = match val_threshold {
                Some(t) if split != Split::Validation => ThresholdChoice::Value(t),
                _ => ThresholdChoice::Youden,
            };
            let opts = BinaryReportOptions {
                threshold,
                bootstrap: boot,
                ..Default::default()
            };
            summary::summarise_set(&preds, split, &opts)
        })
        .collect();
    let (target, outcome) = (&cfg.experiment.target, &cfg.experiment.outcome);
    let g = &cfg.segmentation;
    let network = match g.source {
        super::config::SegmentationSource::Reference => "reference masks",
        _ if g.class_head => "multitask U-Net",
        _ => "U-Net",
    };
    let title = format!("{target} segmentation ({network})");
    summary::seg_report(report, seg.stage.as_ref(), &sets, &preds, &title);
    let mut gradcam = None;
    if g.class_head {
        let model = seg
            .model
            .as_ref()
            .context("segmentation.class_head needs a network")?;
        summary::class_report(report, &sets, outcome, val_threshold);
        gradcam = summary::gradcam_report(ctx, cohort, model.as_ref(), &preds, report, target);
    }
    let meshes =
        summary::reconstruction_report(ctx, cohort, &preds, report, target, [222, 170, 140]);
    let (model_results, scores) = match cfg.fusion {
        Some(_) => {
            let (r, s) = models::models_stage(ctx, &metas, &feats, report)?;
            (Some(r), s)
        }
        None => (None, Vec::new()),
    };
    summary::write_predictions_csv(ctx, &preds, "predictions.csv", &scores)?;
    Ok(Some(StudyResults {
        sets,
        youden_threshold_from_validation: val_threshold,
        gradcam,
        meshes,
        seg_history: seg.stage.map(|s| s.history),
        models: model_results,
        predictions: preds,
    }))
}
