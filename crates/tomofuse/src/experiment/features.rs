//! The features stage: radiomics on each case's mask (original grid) and the deep modality
//! on the planned crop (a seeded ResNet50-3D's features, or cross-fitted fine-tuned logits),
//! stored per case and as one Parquet table.

use super::common::{self, CaseMeta, CasePrediction, Ctx, Prepared};
use super::config::DeepFeaturesSection;
use super::networks::{DeepClassifier, DeepExtractor, DeepSample, FinetuneSpec};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tomofuse_cohort::{Cohort, Split};
use tomofuse_core::{Mask, Volume};

/// Features of one case: radiomics (IBSI tag -> value) and the deep vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseFeatures {
    pub id: String,
    /// A feature that could not be computed is NaN; JSON has no NaN, so it is stored as null.
    #[serde(with = "nan_as_null")]
    pub radiomics: BTreeMap<String, f64>,
    pub deep: Vec<f32>,
    /// Cross-fitted logit of the fine-tuned ResNet50-3D (None without fine-tuning).
    #[serde(default)]
    pub deep_score: Option<f64>,
}

/// NaN <-> JSON null for a feature map, so a cached case reads back exactly what was computed.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        m.iter()
            .map(|(k, v)| (k, v.is_finite().then_some(*v)))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
        Ok(m.into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect())
    }
}

/// The fine-tuned deep classifiers: one per fold, and which fold each training case was in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeepStage {
    key: String,
    files: Vec<String>,
    fold_of: BTreeMap<String, usize>,
    n_train: usize,
    final_losses: Vec<f64>,
    seconds: f64,
}

/// Radiomics on each case's mask and ResNet50-3D features of its crop, per case (cases whose
/// segmentation failed are skipped; they are already reported). Either part is optional.
pub fn features_stage(
    ctx: &Ctx,
    cohort: &Cohort,
    metas: &[CaseMeta],
    preds: &[CasePrediction],
    upstream: &str,
    deep: Option<&DeepStage>,
) -> Result<Vec<CaseFeatures>> {
    let radiomics = radiomics_settings(ctx)?;
    // Without [deep_features] the study is radiomics + clinical only.
    let dcfg = ctx.cfg.deep_features.as_ref();
    if radiomics.is_none() && dcfg.is_none() {
        return Ok(Vec::new());
    }
    let deep_key = deep.map_or("", |d| d.key.as_str());
    let rad_id = radiomics.as_ref().map(|(_, id)| id.as_str());
    let key = match dcfg {
        Some(d) => ctx.key(
            &(rad_id, d.widen_factor, d.crop, d.crop_mm),
            &[upstream, deep_key],
        ),
        None => ctx.key(&(rad_id, "no-deep-features"), &[upstream]),
    };
    let settings = radiomics.map(|(s, _)| s);
    let by_id: BTreeMap<&str, &CasePrediction> = preds.iter().map(|p| (p.id.as_str(), p)).collect();
    let with_pred: Vec<CaseMeta> = metas
        .iter()
        .filter(|m| by_id.contains_key(m.id.as_str()))
        .cloned()
        .collect();
    // Built on first use: a merge (everything cached) never needs them.
    let mut net: Option<Box<dyn DeepExtractor>> = None;
    let mut clfs: Option<Box<dyn DeepClassifier>> = None;
    let feats = common::per_case(ctx, &with_pred, "features", &key, |m| {
        // With a fine-tuned classifier the random network's 512 features are left out: they
        // carry nothing learned and only crowd the feature selection with noise.
        if let (None, None, Some(d)) = (&net, deep, dcfg) {
            // No pretrained MedicalNet weights can be fetched here: a seeded random network.
            net = Some(
                ctx.nets
                    .seeded_extractor(d.widen_factor, ctx.cfg.experiment.seed)?,
            );
        }
        if let (Some(d), None) = (deep, &clfs) {
            let files: Vec<_> = d.files.iter().map(|f| ctx.rd.path(f)).collect();
            clfs = Some(
                ctx.nets
                    .load_classifier(&files)
                    .context("cannot load the deep classifier")?,
            );
        }
        let c = common::load_one(ctx, cohort, m.pos)?;
        // On the original grid (radiomics), and on the planned grid for the deep crop.
        let mask = common::predicted_mask(ctx, by_id[m.id.as_str()])?;
        let crop = match dcfg {
            Some(d) => Some(deep_crop(&c.input, &c.grid.mask(&mask)?, d)?),
            None => None,
        };
        let mut f = case_features(&c, &mask, settings.as_ref(), net.as_deref(), crop.as_ref())?;
        if let (Some(d), Some(clfs), Some(crop)) = (deep, &clfs, &crop) {
            // A training case is scored by the fold model that left it out, any other case
            // by the mean of the fold models.
            let fold = d.fold_of.get(&m.id).copied();
            f.deep_score = Some(clfs.held_out_logit(fold, crop)?);
        }
        Ok(f)
    })?;
    Ok(feats.into_iter().map(|(_, f)| f).collect())
}

/// The study's radiomics settings and what identifies them for the stage key: a shipped
/// preset, a settings TOML or a PyRadiomics parameter file (YAML), paths relative to the config.
fn radiomics_settings(ctx: &Ctx) -> Result<Option<(tomofuse_radiomics::Settings, String)>> {
    let Some(r) = ctx.cfg.radiomics.as_ref() else {
        return Ok(None);
    };
    let p = &r.preset;
    let is_file = [".toml", ".yaml", ".yml"].iter().any(|e| p.ends_with(e));
    if !is_file {
        let s = tomofuse_radiomics::Settings::preset(p)
            .with_context(|| format!("radiomics.preset = {p:?}"))?;
        return Ok(Some(orient(r, s, p.clone())));
    }
    let path = ctx.config_dir.join(p);
    let what = || format!("radiomics.preset = {p:?} ({})", path.display());
    let settings = if p.ends_with(".toml") {
        tomofuse_radiomics::Settings::from_file(&path).with_context(what)?
    } else {
        let f = tomofuse_radiomics::settings::pyradiomics_params::from_file(&path)
            .with_context(what)?;
        anyhow::ensure!(
            f.label == 1,
            "{}: setting.label = {}, but the study's masks are binary (label 1)",
            what(),
            f.label
        );
        f.settings
    };
    let bytes = std::fs::read(&path).with_context(what)?;
    Ok(Some(orient(r, settings, super::rundir::sha256_hex(&bytes))))
}

/// Applies `radiomics.orientation` (its codes were checked with the config) and makes it part
/// of the settings' identity.
fn orient(
    r: &super::config::RadiomicsSection,
    mut settings: tomofuse_radiomics::Settings,
    id: String,
) -> (tomofuse_radiomics::Settings, String) {
    let Some(o) = &r.orientation else {
        return (settings, id);
    };
    settings.orientation = Some(o.clone());
    (settings, format!("{id}+orientation={o}"))
}

/// Fine-tunes the ResNet50-3D on the training centres' cases (crops around the reference
/// pancreas; outcome as label) with K-fold cross-fitting, so that every training case gets a
/// score from a model that never saw it and no outcome leaks into the fused model's inputs.
/// Cohort-level: runs before the shards (`--until models`), which only load the folds.
pub fn deep_classifier_stage(ctx: &Ctx, cohort: &Cohort) -> Result<Option<DeepStage>> {
    let Some(dcfg) = ctx.cfg.deep_features.as_ref() else {
        return Ok(None);
    };
    if dcfg.finetune_epochs == 0 {
        return Ok(None);
    }
    // The noise SD is given in HU; crops are in the plan's normalised units.
    let norm = ctx.plan()?.normalisation;
    let noise_std = match norm.kind {
        // Kept in this form so a window plan reproduces earlier runs bit for bit.
        tomofuse_preprocess::plan::NormalisationKind::Window { lo, hi } => {
            dcfg.augment_noise_hu * 2.0 / (hi - lo)
        }
        _ => dcfg.augment_noise_hu * norm.per_hu(),
    };
    let mut ft = FinetuneSpec {
        epochs: dcfg.finetune_epochs,
        seed: ctx.cfg.experiment.seed,
        noise_std,
        checkpoint_dir: None,
        resume: false,
    };
    let key = ctx.key(
        &(
            "deep-classifier",
            dcfg.crop,
            dcfg.crop_mm,
            dcfg.folds,
            ctx.nets.finetune_key(&ft),
            ctx.cfg.segmentation.hu_window,
        ),
        &[],
    );
    let (stage, _) = ctx.model_stage(
        "deep_classifier",
        "fine-tuned deep classifier",
        &key,
        || {
            let t0 = std::time::Instant::now();
            let cases = common::prepare(ctx, cohort, |m| {
                m.label.is_some() && matches!(m.split, Split::Train | Split::Validation)
            });
            let mut samples = Vec::new();
            let mut ids = Vec::new();
            for c in &cases {
                let (Some(t), Some(label)) = (&c.target, c.label) else {
                    continue;
                };
                samples.push(DeepSample {
                    crop: deep_crop(&c.input, t, dcfg)?,
                    label,
                });
                ids.push(c.id.clone());
            }
            drop(cases);
            // Stratified folds: each class shuffled with the seed, dealt round robin.
            let labels: Vec<bool> = samples.iter().map(|s| s.label).collect();
            let folds = tomofuse_fusion::cv::cross_fitting_folds(
                &labels,
                dcfg.folds,
                ctx.cfg.experiment.seed ^ 0xDEE9_F01D,
            );
            // An interrupted fine-tuning of this same stage (same key) continues from each
            // fold's last epoch; anything else starts afresh.
            let ckpt = ctx.rd.path("models/resnet3d");
            ft.resume = common::resume_training(&ckpt, &key)?;
            ft.checkpoint_dir = Some(ckpt);
            let classifiers = ctx
                .nets
                .cross_fit(&ft, samples, &folds, dcfg.folds)
                .context("fine-tuning the deep classifier")?;
            let fold_of: BTreeMap<String, usize> = ids.iter().cloned().zip(folds).collect();
            let _ = std::fs::create_dir_all(ctx.rd.path("models"));
            let mut files = Vec::new();
            let mut final_losses = Vec::new();
            for k in 0..classifiers.folds() {
                let file = format!("models/resnet3d_fold{k}.safetensors");
                classifiers.save_fold(k, &ctx.rd.path(&file))?;
                final_losses.push(
                    classifiers
                        .train_losses(k)
                        .last()
                        .copied()
                        .unwrap_or(f64::NAN),
                );
                files.push(file);
            }
            Ok(DeepStage {
                key: key.clone(),
                files,
                fold_of,
                n_train: ids.len(),
                final_losses,
                seconds: t0.elapsed().as_secs_f64(),
            })
        },
    )?;
    Ok(Some(stage))
}

/// The per-case features as one table (Parquet): radiomics then deep columns, cohort order.
pub fn write_feature_table(ctx: &Ctx, feats: &[CaseFeatures], rel: &str) -> Result<()> {
    let Some(first) = feats.first() else {
        return Ok(());
    };
    let mut names: Vec<String> = first.radiomics.keys().cloned().collect();
    let n_rad = names.len();
    let has_score = feats.iter().all(|f| f.deep_score.is_some());
    if has_score {
        names.push("deep_score".into());
    }
    let n_head = names.len();
    names.extend((0..first.deep.len()).map(|d| format!("deep_{d:04}")));
    let mut columns = vec![Vec::with_capacity(feats.len()); names.len()];
    for f in feats {
        for (j, n) in names[..n_rad].iter().enumerate() {
            columns[j].push(f.radiomics.get(n).map_or(f32::NAN, |&v| v as f32));
        }
        if has_score {
            columns[n_rad].push(f.deep_score.map_or(f32::NAN, |v| v as f32));
        }
        for d in 0..names.len() - n_head {
            columns[n_head + d].push(f.deep.get(d).copied().unwrap_or(f32::NAN));
        }
    }
    let table = tomofuse_fusion::FeatureTable {
        path: rel.into(),
        ids: feats.iter().map(|f| f.id.clone()).collect(),
        names,
        columns,
    };
    super::rundir::atomic_write_with(&ctx.rd.path(rel), |tmp| {
        Ok(table.write_parquet(tmp, "case_id")?)
    })
}

fn case_features(
    c: &Prepared,
    mask: &Mask,
    settings: Option<&tomofuse_radiomics::Settings>,
    net: Option<&dyn DeepExtractor>,
    crop: Option<&Volume<f32>>,
) -> Result<CaseFeatures> {
    let features = match settings {
        Some(s) => tomofuse_radiomics::extract(&c.hu, mask, 1, s)?.features,
        None => Vec::new(),
    };
    let radiomics = features
        .iter()
        // Non-finite values become NaN here, as they read back from the case cache.
        .map(|f| {
            (
                // The image type prefixes filtered features (none for `original`).
                format!("rad_{}", f.column()),
                if f.value.is_finite() {
                    f.value
                } else {
                    f64::NAN
                },
            )
        })
        .collect();
    let deep = match (net, crop) {
        (Some(net), Some(crop)) => net.volume_features(crop)?,
        _ => Vec::new(),
    };
    Ok(CaseFeatures {
        id: c.id.clone(),
        radiomics,
        deep,
        deep_score: None,
    })
}

/// The deep modality's input: a crop of the planned network input around the (planned) mask,
/// `crop_mm` wide when configured (resampled to `crop` voxels), else `crop` planned voxels.
fn deep_crop(input: &Volume<f32>, mask: &Mask, d: &DeepFeaturesSection) -> Result<Volume<f32>> {
    use tomofuse_preprocess::spatial::{crop_around_mask, crop_around_mask_mm};
    Ok(match d.crop_mm {
        Some(mm) => crop_around_mask_mm(input, mask, mm, d.crop)?,
        None => crop_around_mask(input, mask, d.crop)?,
    })
}
