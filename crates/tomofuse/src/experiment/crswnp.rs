//! MTLNet on sinus CT: one multitask U-Net segments the sinus region and classifies the
//! endotype; results per split (train, validation, temporal external) as in the study's table.

use super::common::{self, CasePrediction, Ctx, Mode};
use super::report::Report;
use super::summary::{self, SetSummary};
use anyhow::Result;
use serde::Serialize;
use tomofuse_cohort::{Cohort, Split};
use tomofuse_metrics::{BinaryReportOptions, BootstrapConfig, ThresholdChoice};

/// Everything the MTLNet experiment reports (metrics.json).
#[derive(Debug, Serialize)]
pub struct CrswnpResults {
    pub sets: Vec<SetSummary>,
    pub youden_threshold_from_validation: Option<f64>,
    pub predictions: Vec<CasePrediction>,
    /// Grad-CAM over every external positive: layer, share of peaks in the sinus region,
    /// per-case maps.
    pub gradcam: Option<summary::GradCamResults>,
    /// Surface meshes (PLY) of the predicted sinus segmentation, held-out cases.
    pub meshes: Vec<String>,
    /// The U-Net's training record (none when it came from a checkpoint).
    pub seg_history: Option<tomofuse_unet::History>,
}

/// Runs the study; `None` when this process stops early (`--until models`, a shard).
pub fn run(ctx: &Ctx, cohort: &Cohort, report: &mut Report) -> Result<Option<CrswnpResults>> {
    let metas = common::metas(cohort);
    let seg = common::segmentation_source(ctx, cohort)?;
    if ctx.mode == Mode::UntilModels {
        return Ok(None);
    }
    let preds = common::segment_stage(ctx, cohort, &metas, &seg)?;
    let model = anyhow::Context::context(
        seg.model,
        "study crswnp needs a network (segmentation.source)",
    )?;
    if let Mode::Shard(s) = ctx.mode {
        summary::write_predictions_csv(
            ctx,
            &preds,
            &format!("shards/predictions-{}.csv", s.tag()),
            &[],
        )?;
        return Ok(None);
    }
    summary::write_predictions_csv(ctx, &preds, "predictions.csv", &[])?;

    let stats = &ctx.cfg.stats;
    let boot = BootstrapConfig {
        n_resamples: stats.bootstrap,
        seed: ctx.cfg.experiment.seed,
        level: stats.ci_level,
    };
    // The operating point is chosen on validation and applied unchanged to the other sets.
    let val_threshold = summary::youden_on(&preds, Split::Validation);
    let mut sets = Vec::new();
    for split in [Split::Train, Split::Validation, Split::External] {
        let opts = BinaryReportOptions {
            threshold: match val_threshold {
                Some(t) if split != Split::Validation => ThresholdChoice::Value(t),
                _ => ThresholdChoice::Youden,
            },
            bootstrap: boot,
            ..BinaryReportOptions::default()
        };
        sets.push(summary::summarise_set(&preds, split, &opts));
    }

    summary::seg_report(
        report,
        seg.stage.as_ref(),
        &sets,
        &preds,
        "MTLNet: sinus segmentation and eosinophilic CRSwNP",
    );
    summary::class_report(report, &sets, "eosinophilic CRSwNP", val_threshold);
    let cams = summary::gradcam_report(ctx, cohort, &model, &preds, report, "sinus region");
    let meshes =
        summary::reconstruction_report(ctx, cohort, &preds, report, "sinus", [222, 184, 135]);
    Ok(Some(CrswnpResults {
        sets,
        youden_threshold_from_validation: val_threshold,
        predictions: preds,
        gradcam: cams,
        meshes,
        seg_history: seg.stage.map(|s| s.history),
    }))
}
