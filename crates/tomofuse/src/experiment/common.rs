//! Pipeline steps shared by both studies: cohort loading and checking, splits, network input,
//! U-Net training (cached) and per-case prediction. Each step calls into the crates; the
//! orchestrator only decides order, caching and what happens to a failing case.

use super::config::{ExperimentConfig, Study};
use super::rundir::{RunDir, sha256_hex};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use tomofuse_cohort::{ClinicalValue, Cohort, NiftiIo, Profile, Split};
use tomofuse_core::{Mask, Volume};
use tomofuse_unet::{
    ClassHeadConfig, History, NormKind, SlidingWindowConfig, TrainConfig, TrainedModel, UnetConfig,
};

/// A case the pipeline could not process: reported and skipped, never fatal for the cohort.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub case_id: String,
    pub stage: String,
    pub reason: String,
}

/// Shared state of one run.
pub struct Ctx<'a> {
    pub cfg: &'a ExperimentConfig,
    pub rd: &'a RunDir,
    pub failures: Mutex<Vec<Failure>>,
    /// Hash of the cohort's identity (ids, labels, splits, source) for stage keys.
    pub cohort_key: String,
}

impl Ctx<'_> {
    pub fn fail(&self, case_id: &str, stage: &str, reason: impl std::fmt::Display) {
        let reason = format!("{reason:#}");
        log::warn!("case {case_id}: {stage} failed, skipped: {reason}");
        if let Ok(mut f) = self.failures.lock() {
            f.push(Failure {
                case_id: case_id.into(),
                stage: stage.into(),
                reason,
            });
        }
    }

    /// Stage key: config section + seed + cohort + upstream keys.
    pub fn key<T: Serialize>(&self, section: &T, upstream: &[&str]) -> String {
        let mut s = serde_json::to_string(section).unwrap_or_default();
        s.push_str(&self.cfg.experiment.seed.to_string());
        s.push_str(&self.cohort_key);
        for u in upstream {
            s.push_str(u);
        }
        sha256_hex(s.as_bytes())
    }
}

/// Loads the cohort named by the config: built-in synthetic (generated from the seed) or a
/// manifest of real cases (relative to the config's folder).
pub fn load_cohort(cfg: &ExperimentConfig, config_dir: &Path) -> Result<Cohort> {
    match cfg.cohort.source.as_str() {
        "synthetic" => {
            let profile = Profile::parse(&cfg.cohort.profile)?;
            let study = match cfg.experiment.study {
                Study::Crswnp => "sinus",
                Study::Sap => "sap",
            };
            Ok(tomofuse_cohort::builtin(
                study,
                profile,
                cfg.experiment.seed,
            )?)
        }
        "manifest" => {
            let rel = cfg.cohort.manifest.as_deref().unwrap_or_default();
            let path = config_dir.join(rel);
            let report = tomofuse_cohort::validate_cohort(&path, &NiftiIo);
            if report.n_ok == 0 {
                bail!("no usable case in {}:\n{report}", path.display());
            }
            if !report.is_ok() {
                log::warn!("cohort problems (failing cases are skipped):\n{report}");
            }
            Ok(tomofuse_cohort::read_manifest(&path)?)
        }
        other => bail!("unknown cohort.source `{other}`"),
    }
}

/// Assigns splits as the config says; manifest splits are kept when present.
pub fn assign_splits(cfg: &ExperimentConfig, cohort: &mut Cohort) -> Result<()> {
    let s = &cfg.split;
    let ext_date = s
        .external_after
        .as_deref()
        .map(tomofuse_cohort::Date::parse)
        .transpose()
        .context("split.external_after")?;
    let centres: Vec<&str> = s.test_centres.iter().map(String::as_str).collect();
    cohort.assign_splits(
        s.validation_fraction,
        if s.kind == "random-temporal" {
            ext_date
        } else {
            None
        },
        if s.kind == "by-centre" { &centres } else { &[] },
        cfg.experiment.seed ^ 0x5EED_5B17,
        false,
    )?;
    Ok(())
}

/// A hash of what identifies the cohort, so cached stages are invalidated when it changes.
pub fn cohort_key(cohort: &Cohort, cfg: &ExperimentConfig) -> String {
    let mut s = format!(
        "{}|{}|{}|",
        cohort.name, cfg.cohort.source, cfg.cohort.profile
    );
    for c in &cohort.cases {
        s.push_str(&format!(
            "{}:{:?}:{:?}:{:?};",
            c.id,
            c.label,
            c.split,
            c.date.map(|d| d.days())
        ));
    }
    sha256_hex(s.as_bytes())
}

/// A loaded case ready for the networks.
pub struct Prepared {
    pub id: String,
    pub split: Split,
    pub label: Option<bool>,
    pub centre: Option<String>,
    /// The image in HU, original grid.
    pub hu: Volume<f32>,
    /// Network input: HU windowed to [-1, 1].
    pub input: Volume<f32>,
    /// Binary segmentation target (None when the case has no mask).
    pub target: Option<Mask>,
    pub clinical: BTreeMap<String, ClinicalValue>,
}

/// Loads every case (rendering synthetic ones), in parallel. A case that fails to load or is
/// not finite is recorded in the context and skipped.
pub fn prepare(ctx: &Ctx, cohort: &Cohort) -> Vec<Prepared> {
    let [lo, hi] = ctx.cfg.segmentation.hu_window;
    let (lo, hi) = (lo as f32, hi as f32);
    let out: Vec<Option<Prepared>> = cohort
        .cases
        .par_iter()
        .map(|c| {
            let loaded = match c.load(Some(&NiftiIo)) {
                Ok(l) => l,
                Err(e) => {
                    ctx.fail(&c.id, "load", e);
                    return None;
                }
            };
            let n = loaded.image.data.iter().filter(|v| !v.is_finite()).count();
            if n > 0 {
                ctx.fail(&c.id, "load", format!("{n} non-finite voxels in the image"));
                return None;
            }
            let target = loaded.mask.as_ref().map(|m| cohort.target(m));
            if let Some(t) = &target
                && let Err(e) = loaded.image.same_grid_default(t)
            {
                ctx.fail(&c.id, "load", format!("mask is not on the image grid: {e}"));
                return None;
            }
            let input = match tomofuse_preprocess::intensity::clip(&loaded.image, lo, hi) {
                Ok(v) => v.map(|&x| 2.0 * (x - lo) / (hi - lo) - 1.0),
                Err(e) => {
                    ctx.fail(&c.id, "normalise", e);
                    return None;
                }
            };
            Some(Prepared {
                id: c.id.clone(),
                split: c.split.unwrap_or(Split::Train),
                label: c.label,
                centre: c.centre.clone(),
                hu: loaded.image,
                input,
                target,
                clinical: c.clinical.clone(),
            })
        })
        .collect();
    out.into_iter().flatten().collect()
}

/// The U-Net training configuration derived from the experiment config.
pub fn train_config(cfg: &ExperimentConfig, rd: &RunDir) -> TrainConfig {
    let s = &cfg.segmentation;
    let total = s.epochs * s.steps_per_epoch;
    TrainConfig {
        model: UnetConfig {
            in_channels: 1,
            out_channels: 2,
            channels: s.channels.clone(),
            strides: vec![2; s.channels.len() - 1],
            num_res_units: s.res_units,
            norm: NormKind::Instance,
            class_head: s.class_head.then_some(ClassHeadConfig {
                hidden: 32,
                num_classes: 1,
            }),
        },
        patch: s.patch,
        batch_size: s.batch_size,
        epochs: s.epochs,
        steps_per_epoch: s.steps_per_epoch,
        lr: s.learning_rate,
        min_lr: s.learning_rate * 0.01,
        warmup_steps: (total / 10).clamp(1, 50),
        class_loss_weight: if s.class_head {
            s.class_loss_weight
        } else {
            0.0
        },
        sliding: SlidingWindowConfig {
            roi: s.patch,
            overlap: 0.25,
            ..SlidingWindowConfig::default()
        },
        checkpoint_dir: Some(rd.path("models/unet")),
        ..TrainConfig::default()
    }
}

/// What the segmentation stage leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegStage {
    pub checkpoint: String,
    pub history: History,
    pub n_train: usize,
    pub n_val: usize,
    pub seconds: f64,
}

/// Trains the U-Net on the training split (validation split picks the best epoch), or loads the
/// checkpoint of an identical earlier run.
pub fn segmentation_stage(
    ctx: &Ctx,
    cases: &[Prepared],
) -> Result<(TrainedModel, SegStage, String)> {
    let tc = train_config(ctx.cfg, ctx.rd);
    let key = ctx.key(&tc, &[]);
    let to_case = |p: &Prepared| -> Option<tomofuse_unet::Case> {
        p.target.as_ref().map(|t| tomofuse_unet::Case {
            image: p.input.clone(),
            mask: t.clone(),
            label: p.label,
        })
    };
    let (stage, cached) = ctx.rd.stage("segmentation", &key, || {
        let train: Vec<_> = cases
            .iter()
            .filter(|c| c.split == Split::Train)
            .filter_map(to_case)
            .collect();
        let val: Vec<_> = cases
            .iter()
            .filter(|c| c.split == Split::Validation)
            .filter_map(to_case)
            .collect();
        if train.is_empty() {
            bail!("no training case with a mask");
        }
        log::info!(
            "training the U-Net on {} cases ({} validation), {} epochs x {} steps",
            train.len(),
            val.len(),
            tc.epochs,
            tc.steps_per_epoch
        );
        let t0 = std::time::Instant::now();
        let (model, history) = tomofuse_unet::train(&tc, &train, &val, ctx.cfg.experiment.seed)?;
        let ckpt = ctx.rd.path("models/unet.safetensors");
        model.save(&ckpt)?;
        Ok(SegStage {
            checkpoint: "models/unet.safetensors".into(),
            history,
            n_train: train.len(),
            n_val: val.len(),
            seconds: t0.elapsed().as_secs_f64(),
        })
    })?;
    let model = TrainedModel::load(&ctx.rd.path(&stage.checkpoint))
        .with_context(|| format!("cannot load checkpoint {}", stage.checkpoint))?;
    if cached {
        log::info!("U-Net loaded from {}", stage.checkpoint);
    }
    Ok((model, stage, key))
}

/// One case's segmentation (and class) prediction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CasePrediction {
    pub id: String,
    pub split: String,
    pub label: Option<bool>,
    pub centre: Option<String>,
    pub class_probability: Option<f64>,
    pub dice: Option<f64>,
    pub hd95_mm: Option<f64>,
    pub assd_mm: Option<f64>,
    pub predicted_volume_ml: f64,
    pub mask_file: String,
}

/// Predicts every case with the trained model, writes the predicted masks (NIfTI, the input's
/// geometry) and computes segmentation metrics against the target where there is one.
pub fn predict_stage(
    ctx: &Ctx,
    model: &TrainedModel,
    cases: &[Prepared],
    upstream: &str,
) -> Result<(Vec<CasePrediction>, BTreeMap<String, Mask>)> {
    let key = ctx.key(&"predict", &[upstream]);
    std::fs::create_dir_all(ctx.rd.path("masks"))?;
    let (preds, _) = ctx.rd.stage("predict", &key, || {
        let out: Vec<Option<CasePrediction>> = cases
            .iter()
            .map(|c| match predict_one(ctx, model, c) {
                Ok(p) => Some(p),
                Err(e) => {
                    ctx.fail(&c.id, "predict", e);
                    None
                }
            })
            .collect();
        Ok(out.into_iter().flatten().collect::<Vec<_>>())
    })?;
    let mut masks = BTreeMap::new();
    for p in &preds {
        match tomofuse_io::read_mask(&ctx.rd.path(&p.mask_file)) {
            Ok(m) => {
                masks.insert(p.id.clone(), m);
            }
            Err(e) => ctx.fail(&p.id, "predict", e),
        }
    }
    Ok((preds, masks))
}

fn predict_one(ctx: &Ctx, model: &TrainedModel, c: &Prepared) -> Result<CasePrediction> {
    let pred = model.predict(&c.input)?;
    let mask_file = format!("masks/{}.nii.gz", c.id);
    let path = ctx.rd.path(&mask_file);
    let tmp = ctx.rd.path(&format!("masks/.{}.tmp.nii.gz", c.id));
    tomofuse_io::write_nifti(&tmp, &pred.mask)?;
    std::fs::rename(&tmp, &path)?;
    let sp = pred.mask.geometry.spacing;
    let voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
    let (mut dice, mut hd95, mut assd) = (None, None, None);
    if let Some(t) = &c.target {
        dice = Some(tomofuse_metrics::dice(
            pred.mask.data.view(),
            t.data.view(),
        )?);
        // Surface distances are undefined when either mask is empty: reported as missing.
        if pred.mask.count_nonzero() > 0 && t.count_nonzero() > 0 {
            let m = tomofuse_metrics::segmentation_metrics_masks(&pred.mask, t)?;
            hd95 = Some(m.hd95).filter(|v| v.is_finite());
            assd = Some(m.assd).filter(|v| v.is_finite());
        }
    }
    Ok(CasePrediction {
        id: c.id.clone(),
        split: c.split.as_str().into(),
        label: c.label,
        centre: c.centre.clone(),
        class_probability: pred.class_probability.map(f64::from),
        dice,
        hd95_mm: hd95,
        assd_mm: assd,
        predicted_volume_ml: pred.mask.count_nonzero() as f64 * voxel_ml,
        mask_file,
    })
}
