//! SAP early warning: pancreas U-Net -> IBSI radiomics on the predicted mask + ResNet50-3D
//! deep features of the pancreas crop + clinical indicators -> selection -> XGBoost, compared
//! with single-modality models and with BISAP, Ranson and MCTSI on a held-out centre.

use super::common::{self, CaseMeta, CasePrediction, Ctx, Mode, Prepared};
use super::config::DeepFeaturesSection;
use super::report::{Block, Report};
use super::summary::{self, SetSummary, f3};
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tomofuse_cohort::{Cohort, Split};
use tomofuse_core::{Mask, Volume};
use tomofuse_fusion::{Dataset, Modality, PipelineConfig, Shap, XgbParams};
use tomofuse_metrics::{BinaryReportOptions, BootstrapConfig, ThresholdChoice};
use tomofuse_resnet3d::train::Classifier;

/// One row of the model comparison on the test centre.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub name: String,
    pub features: usize,
    pub test_auc: f64,
    pub auc_ci: (f64, f64),
    pub delong_p_vs_fused: Option<f64>,
    pub cv_auc: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SapResults {
    pub segmentation: Vec<SetSummary>,
    pub models: Vec<ModelRow>,
    pub fused_test: Option<tomofuse_metrics::BinaryReport>,
    pub selected_features: Vec<String>,
    pub shap_ranking: Vec<(String, f64)>,
    pub max_shap_additivity_error: f64,
    pub n_train: usize,
    pub n_test: usize,
    /// Each centre in turn as the test set, the others for training (selection, search and
    /// fit redone each time): how much the comparison depends on which centre is held out.
    #[serde(default)]
    pub leave_one_centre_out: Vec<CentreFold>,
    pub predictions: Vec<CasePrediction>,
}

/// One fold of the leave-one-centre-out analysis: test AUC of every model and score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CentreFold {
    pub centre: String,
    pub n_test: usize,
    pub n_positive: usize,
    pub test_auc: BTreeMap<String, f64>,
}

/// Features of one case: radiomics (IBSI tag -> value) and the deep vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CaseFeatures {
    id: String,
    /// A feature that could not be computed is NaN; JSON has no NaN, so it is stored as null.
    #[serde(with = "nan_as_null")]
    radiomics: BTreeMap<String, f64>,
    deep: Vec<f32>,
    /// Cross-fitted logit of the fine-tuned ResNet50-3D (None without fine-tuning).
    #[serde(default)]
    deep_score: Option<f64>,
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
struct DeepStage {
    key: String,
    files: Vec<String>,
    fold_of: BTreeMap<String, usize>,
    n_train: usize,
    final_losses: Vec<f64>,
    seconds: f64,
}

/// Runs the study; `None` when this process stops early (`--until models`, a shard).
pub fn run(ctx: &Ctx, cohort: &Cohort, report: &mut Report) -> Result<Option<SapResults>> {
    let metas = common::metas(cohort);
    let seg = common::segmentation_source(ctx, cohort)?;
    let deep = deep_classifier_stage(ctx, cohort)?;
    if ctx.mode == Mode::UntilModels {
        return Ok(None);
    }
    let preds = common::segment_stage(ctx, cohort, &metas, &seg)?;
    let (seg, seg_key) = (seg.stage, seg.key);
    // Features on the predicted masks.
    let feats = features_stage(ctx, cohort, &metas, &preds, &seg_key, deep.as_ref())?;
    if let Mode::Shard(s) = ctx.mode {
        summary::write_predictions_csv(
            ctx,
            &preds,
            &format!("shards/predictions-{}.csv", s.tag()),
            &[],
        )?;
        write_feature_table(ctx, &feats, &format!("shards/features-{}.parquet", s.tag()))?;
        return Ok(None);
    }
    write_feature_table(ctx, &feats, "features.parquet")?;
    let stats = &ctx.cfg.stats;
    let boot = BootstrapConfig {
        n_resamples: stats.bootstrap,
        seed: ctx.cfg.experiment.seed,
        level: stats.ci_level,
    };
    // Segmentation statistics per set (this study's U-Net has no class head).
    let seg_opts = BinaryReportOptions {
        bootstrap: boot,
        ..Default::default()
    };
    let seg_sets: Vec<SetSummary> = [Split::Train, Split::Validation, Split::External]
        .into_iter()
        .map(|s| summary::summarise_set(&preds, s, &seg_opts))
        .collect();
    summary::seg_report(
        report,
        seg.as_ref(),
        &seg_sets,
        &preds,
        "Pancreas segmentation (U-Net)",
    );
    summary::reconstruction_report(ctx, cohort, &preds, report, "pancreas", [230, 160, 150]);

    let fcfg = ctx.cfg.fusion.as_ref().context("[fusion] section")?;
    let cmp = &ctx.cfg.comparisons;
    for col in &cmp.columns {
        ensure!(
            metas.iter().any(|m| m.clinical.contains_key(col)),
            "comparisons.columns: no case has a column `{col}`"
        );
    }
    let ds = build_dataset(&metas, &feats, fcfg)?;
    let train: Vec<usize> = (0..ds.n_rows())
        .filter(|&i| ds.split.as_ref().and_then(|s| s[i].as_deref()) != Some("external"))
        .collect();
    let test: Vec<usize> = (0..ds.n_rows())
        .filter(|&i| ds.split.as_ref().and_then(|s| s[i].as_deref()) == Some("external"))
        .collect();
    if test.is_empty() {
        bail!(
            "no case in the test centre(s) {:?}",
            ctx.cfg.split.test_centres
        );
    }
    write_design(ctx, &ds, &test, "design.parquet")?;
    let f = ctx.cfg.fusion.as_ref().context("[fusion] section")?;
    let mut pcfg = PipelineConfig {
        seed: ctx.cfg.experiment.seed,
        k_folds: f.cv_folds,
        xgb: XgbParams {
            eta: f.learning_rate,
            max_depth: f.max_depth as u32,
            n_rounds: f.n_estimators as u32,
            ..XgbParams::default()
        },
        ..PipelineConfig::default()
    };
    pcfg.selection.max_features = f.max_features;
    pcfg.fused_selection = f.fused_selection;
    let (reports, fused) = tomofuse_fusion::compare_modalities(&ds, &train, &test, &pcfg)?;
    let _ = std::fs::create_dir_all(ctx.rd.path("models"));
    fused
        .model
        .save(&ctx.rd.path("models/xgb_fused.json"))
        .context("saving the fused XGBoost model")?;

    // Clinical scores on the same test cases.
    let y_test = ds.labels_bool(&test);
    let fused_scores = reports
        .iter()
        .find(|r| r.name == "xgb_fused")
        .map(|r| r.test_scores.clone())
        .context("fused model missing")?;
    let mut comparators: Vec<(String, usize, Vec<f64>, Option<f64>)> = reports
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.selected.len(),
                r.test_scores.clone(),
                r.cv_auc,
            )
        })
        .collect();
    for (name, score) in clinical_scores(cmp, &metas, &ds, &test) {
        comparators.push((name, 1, score, None));
    }
    let opts = BinaryReportOptions {
        threshold: ThresholdChoice::Youden,
        bootstrap: boot,
        ..Default::default()
    };
    let mut rows = Vec::new();
    let mut fused_test = None;
    for (name, nfeat, scores, cv) in &comparators {
        let is_fused = name == "xgb_fused";
        let r = tomofuse_metrics::binary_report(
            &y_test,
            scores,
            (!is_fused).then_some(fused_scores.as_slice()),
            &opts,
        );
        match r {
            Ok(r) => {
                rows.push(ModelRow {
                    name: name.clone(),
                    features: *nfeat,
                    test_auc: r.auc,
                    auc_ci: (
                        r.auc_bootstrap.percentile.lower,
                        r.auc_bootstrap.percentile.upper,
                    ),
                    delong_p_vs_fused: r.comparison.as_ref().map(|c| c.delong_paired.p_value),
                    cv_auc: *cv,
                });
                if is_fused {
                    fused_test = Some(r);
                }
            }
            Err(e) => log::warn!("statistics of {name} unavailable: {e}"),
        }
    }

    // Per case: every model's score (out-of-fold for training cases) and the clinical scores.
    let mut case_scores: Vec<(String, BTreeMap<String, f64>)> = reports
        .iter()
        .map(|r| {
            let oof = train.iter().zip(&r.train_oof);
            let held_out = test.iter().zip(&r.test_scores);
            let by_id = oof
                .chain(held_out)
                .map(|(&i, &s)| (ds.ids[i].clone(), s))
                .collect();
            (r.name.clone(), by_id)
        })
        .collect();
    let all: Vec<usize> = (0..ds.n_rows()).collect();
    for (name, v) in clinical_scores(cmp, &metas, &ds, &all) {
        let by_id = all
            .iter()
            .zip(v)
            .map(|(&i, s)| (ds.ids[i].clone(), s))
            .collect();
        case_scores.push((name, by_id));
    }
    summary::write_predictions_csv(ctx, &preds, "predictions.csv", &case_scores)?;

    let loco = leave_one_centre_out(cmp, &metas, &ds, &pcfg);

    // Explanations of the fused model on the test cases.
    let test_x = ds.matrix(&test, &fused.cols);
    let m = tomofuse_fusion::Matrix::new(&test_x, test.len(), fused.cols.len())?;
    let shap = Shap::compute(&fused.model, m, tomofuse_fusion::explain::ADDITIVITY_TOL)?;
    let ranking = shap.global_ranking();
    sap_report(
        report,
        &rows,
        &fused_test,
        &ranking,
        &shap,
        &ds,
        &test,
        &fused.cols,
    );
    loco_report(report, &loco);
    let selected = fused.cols.iter().map(|&j| ds.names[j].clone()).collect();
    Ok(Some(SapResults {
        segmentation: seg_sets,
        models: rows,
        fused_test,
        selected_features: selected,
        shap_ranking: ranking,
        max_shap_additivity_error: shap.max_additivity_error,
        n_train: train.len(),
        n_test: test.len(),
        leave_one_centre_out: loco,
        predictions: preds,
    }))
}

/// Radiomics on the predicted pancreas and ResNet50-3D features of its crop, per case (cases
/// whose prediction failed are skipped; they are already reported).
fn features_stage(
    ctx: &Ctx,
    cohort: &Cohort,
    metas: &[CaseMeta],
    preds: &[CasePrediction],
    upstream: &str,
    deep: Option<&DeepStage>,
) -> Result<Vec<CaseFeatures>> {
    let rcfg = ctx.cfg.radiomics.as_ref().context("[radiomics] section")?;
    // Without [deep_features] the study is radiomics + clinical only.
    let dcfg = ctx.cfg.deep_features.as_ref();
    let deep_key = deep.map_or("", |d| d.key.as_str());
    let key = match dcfg {
        Some(d) => ctx.key(
            &(&rcfg.preset, d.widen_factor, d.crop, d.crop_mm),
            &[upstream, deep_key],
        ),
        None => ctx.key(&(&rcfg.preset, "no-deep-features"), &[upstream]),
    };
    let settings = if rcfg.preset.ends_with(".toml") {
        tomofuse_radiomics::Settings::from_file(std::path::Path::new(&rcfg.preset))?
    } else {
        tomofuse_radiomics::Settings::preset(&rcfg.preset)?
    };
    let by_id: BTreeMap<&str, &CasePrediction> = preds.iter().map(|p| (p.id.as_str(), p)).collect();
    let with_pred: Vec<CaseMeta> = metas
        .iter()
        .filter(|m| by_id.contains_key(m.id.as_str()))
        .cloned()
        .collect();
    // Built on first use: a merge (everything cached) never needs them.
    let mut net: Option<tomofuse_resnet3d::ResNet3d> = None;
    let mut clfs: Option<Vec<Classifier>> = None;
    let feats = common::per_case(ctx, &with_pred, "features", &key, |m| {
        // With a fine-tuned classifier the random network's 512 features are left out: they
        // carry nothing learned and only crowd the feature selection with noise.
        if let (None, None, Some(d)) = (&net, deep, dcfg) {
            // No pretrained MedicalNet weights can be fetched here: a seeded random network.
            net = Some(tomofuse_resnet3d::ResNet3d::seeded_extractor(
                d.widen_factor,
                ctx.cfg.experiment.seed,
            )?);
        }
        if let (Some(d), None) = (deep, &clfs) {
            let mut v = Vec::new();
            for f in &d.files {
                v.push(
                    Classifier::load(ctx.rd.path(f))
                        .with_context(|| format!("cannot load the deep classifier {f}"))?,
                );
            }
            clfs = Some(v);
        }
        let c = common::load_one(ctx, cohort, m.pos)?;
        // On the original grid (radiomics), and on the planned grid for the deep crop.
        let mask = common::predicted_mask(ctx, by_id[m.id.as_str()])?;
        let crop = match dcfg {
            Some(d) => Some(deep_crop(&c.input, &c.grid.mask(&mask)?, d)?),
            None => None,
        };
        let mut f = case_features(&c, &mask, &settings, net.as_ref(), crop.as_ref())?;
        if let (Some(d), Some(clfs), Some(crop)) = (deep, &clfs, &crop) {
            f.deep_score = Some(match d.fold_of.get(&m.id) {
                // A training case: the model of the fold that left it out.
                Some(&k) => f64::from(clfs[k].logit(crop)?),
                // Held out from all: the mean logit of the fold models.
                None => {
                    let mut sum = 0.0;
                    for clf in clfs {
                        sum += f64::from(clf.logit(crop)?);
                    }
                    sum / clfs.len() as f64
                }
            });
        }
        Ok(f)
    })?;
    Ok(feats.into_iter().map(|(_, f)| f).collect())
}

/// Fine-tunes the ResNet50-3D on the training centres' cases (crops around the reference
/// pancreas; outcome as label) with K-fold cross-fitting, so that every training case gets a
/// score from a model that never saw it and no outcome leaks into the fused model's inputs.
/// Cohort-level: runs before the shards (`--until models`), which only load the folds.
fn deep_classifier_stage(ctx: &Ctx, cohort: &Cohort) -> Result<Option<DeepStage>> {
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
    let ft = tomofuse_resnet3d::train::FinetuneConfig {
        epochs: dcfg.finetune_epochs,
        seed: ctx.cfg.experiment.seed,
        augment: tomofuse_resnet3d::train::Augment {
            noise_std,
            ..Default::default()
        },
        ..Default::default()
    };
    let key = ctx.key(
        &(
            "deep-classifier",
            dcfg.crop,
            dcfg.crop_mm,
            dcfg.folds,
            format!("{ft:?}"),
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
                samples.push(tomofuse_resnet3d::train::Sample {
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
            let fold_of: BTreeMap<String, usize> = ids.iter().cloned().zip(folds).collect();
            let _ = std::fs::create_dir_all(ctx.rd.path("models"));
            let mut files = Vec::new();
            let mut final_losses = Vec::new();
            for k in 0..dcfg.folds {
                let train: Vec<_> = samples
                    .iter()
                    .zip(&ids)
                    .filter(|(_, id)| fold_of[*id] != k)
                    .map(|(s, _)| s.clone())
                    .collect();
                log::info!(
                    "fine-tuning the ResNet50-3D, fold {}/{}: {} cases, {} epochs",
                    k + 1,
                    dcfg.folds,
                    train.len(),
                    ft.epochs
                );
                let clf = tomofuse_resnet3d::train::finetune(
                    tomofuse_resnet3d::train::finetune_net_config(),
                    &train,
                    &tomofuse_resnet3d::train::FinetuneConfig {
                        seed: ft.seed.wrapping_add(k as u64),
                        ..ft.clone()
                    },
                )
                .with_context(|| format!("fine-tuning fold {k}"))?;
                let file = format!("models/resnet3d_fold{k}.safetensors");
                clf.save(ctx.rd.path(&file))?;
                final_losses.push(clf.train_losses().last().copied().unwrap_or(f64::NAN));
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
fn write_feature_table(ctx: &Ctx, feats: &[CaseFeatures], rel: &str) -> Result<()> {
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

/// The design matrix every model was fitted on: outcome, test-set flag and every candidate
/// column (clinical, radiomics, deep), so the study can be re-analysed outside tomofuse.
fn write_design(ctx: &Ctx, ds: &Dataset, test: &[usize], rel: &str) -> Result<()> {
    let n = ds.n_rows();
    let mut names = vec!["outcome".to_string(), "test_set".to_string()];
    names.extend(ds.names.iter().cloned());
    let mut columns = Vec::with_capacity(names.len());
    columns.push(ds.y.iter().map(|&v| f32::from(v)).collect());
    let mut is_test = vec![0.0f32; n];
    for &i in test {
        is_test[i] = 1.0;
    }
    columns.push(is_test);
    let all = ds.all_rows();
    for j in 0..ds.n_cols() {
        columns.push(ds.column(j, &all));
    }
    let table = tomofuse_fusion::FeatureTable {
        path: rel.into(),
        ids: ds.ids.clone(),
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
    settings: &tomofuse_radiomics::Settings,
    net: Option<&tomofuse_resnet3d::ResNet3d>,
    crop: Option<&Volume<f32>>,
) -> Result<CaseFeatures> {
    let ex = tomofuse_radiomics::extract(&c.hu, mask, 1, settings)?;
    let radiomics = ex
        .features
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

/// The design matrix: the cases with an outcome and features, in cohort order; the clinical
/// columns `[fusion]` selects (`clin_` prefixed), then radiomics, then the deep score and deep
/// features, joined by case id (`tomofuse_fusion::join`).
fn build_dataset(
    cases: &[CaseMeta],
    feats: &[CaseFeatures],
    fcfg: &super::config::FusionSection,
) -> Result<Dataset> {
    use tomofuse_fusion::{ClinicalTable, FeatureTable};
    let by_id: BTreeMap<&str, &CaseFeatures> = feats.iter().map(|f| (f.id.as_str(), f)).collect();
    let rows: Vec<(&CaseMeta, &CaseFeatures)> = cases
        .iter()
        .filter(|c| c.label.is_some())
        .filter_map(|c| by_id.get(c.id.as_str()).map(|f| (c, *f)))
        .collect();
    if rows.is_empty() {
        bail!("no case has both an outcome and features");
    }
    let numeric: Vec<String> = rows[0]
        .0
        .clinical
        .iter()
        .filter(|(_, v)| v.as_f64().is_some())
        .map(|(k, _)| k.clone())
        .collect();
    let clin = tomofuse_fusion::table::select_columns(
        &numeric,
        &fcfg.clinical_columns,
        &fcfg.clinical_exclude,
        "fusion.clinical_columns",
    )?;
    let value = |c: &CaseMeta, k: &str| {
        c.clinical
            .get(k)
            .and_then(|v| v.as_f64())
            .map_or(f32::NAN, |v| v as f32)
    };
    let clinical = ClinicalTable {
        path: "cohort clinical columns".into(),
        ids: rows.iter().map(|(c, _)| c.id.clone()).collect(),
        outcome: rows
            .iter()
            .map(|(c, _)| u8::from(c.label == Some(true)))
            .collect(),
        split: Some(
            rows.iter()
                .map(|(c, _)| Some(c.split.as_str().to_string()))
                .collect(),
        ),
        centre: Some(rows.iter().map(|(c, _)| c.centre.clone()).collect()),
        date: None,
        names: clin.iter().map(|k| format!("clin_{k}")).collect(),
        units: vec![None; clin.len()],
        columns: clin
            .iter()
            .map(|k| rows.iter().map(|(c, _)| value(c, k)).collect())
            .collect(),
    };
    let rad_names: Vec<String> = rows[0].1.radiomics.keys().cloned().collect();
    let radiomics = FeatureTable::from_rows(
        "radiomics features",
        rad_names.clone(),
        rows.iter()
            .map(|(_, f)| {
                let v = rad_names
                    .iter()
                    .map(|r| f.radiomics.get(r).map_or(f32::NAN, |&v| v as f32))
                    .collect();
                (f.id.clone(), v)
            })
            .collect(),
    )?;
    let has_score = rows.iter().all(|(_, f)| f.deep_score.is_some());
    let n_deep = rows[0].1.deep.len();
    let mut deep_names: Vec<String> = Vec::new();
    if has_score {
        deep_names.push("deep_score".into());
    }
    deep_names.extend((0..n_deep).map(|d| format!("deep_{d:04}")));
    let deep = FeatureTable::from_rows(
        "deep features",
        deep_names,
        rows.iter()
            .map(|(_, f)| {
                let mut v: Vec<f32> = Vec::new();
                if has_score {
                    v.push(f.deep_score.map_or(f32::NAN, |v| v as f32));
                }
                v.extend((0..n_deep).map(|d| f.deep.get(d).copied().unwrap_or(f32::NAN)));
                (f.id.clone(), v)
            })
            .collect(),
    )?;
    Ok(tomofuse_fusion::join(
        &clinical,
        &[(Modality::Radiomics, &radiomics), (Modality::Deep, &deep)],
        false,
    )?)
}

/// Leave-one-centre-out (`tomofuse_fusion::leave_one_group_out` over the centres), with the
/// comparators on each held-out centre. The deep score of a case is the cross-fitted one of
/// the main run (never from a model that saw the case's label), so no outcome leaks in.
fn leave_one_centre_out(
    cmp: &super::config::ComparisonsSection,
    cases: &[CaseMeta],
    ds: &Dataset,
    pcfg: &PipelineConfig,
) -> Vec<CentreFold> {
    let Some(centre) = ds.centre.as_ref() else {
        return Vec::new();
    };
    tomofuse_fusion::leave_one_group_out(ds, centre, pcfg, |test| {
        clinical_scores(cmp, cases, ds, test)
    })
    .into_iter()
    .map(|f| CentreFold {
        centre: f.group,
        n_test: f.n_test,
        n_positive: f.n_positive,
        test_auc: f.test_auc,
    })
    .collect()
}

fn loco_report(report: &mut Report, folds: &[CentreFold]) {
    let Some(first) = folds.first() else {
        return;
    };
    let models: Vec<String> = first.test_auc.keys().cloned().collect();
    let mut header = vec!["held-out centre".to_string(), "n (SAP)".to_string()];
    header.extend(models.iter().cloned());
    report.push(Block::Table {
        caption: "Leave-one-centre-out: test AUC with each centre held out in turn (models refitted on the other centres)".into(),
        header,
        rows: folds
            .iter()
            .map(|f| {
                let mut row = vec![f.centre.clone(), format!("{} ({})", f.n_test, f.n_positive)];
                row.extend(
                    models
                        .iter()
                        .map(|m| f.test_auc.get(m).map_or("-".into(), |a| format!("{a:.3}"))),
                );
                row
            })
            .collect(),
    });
}

/// The comparators of the test cases: the built-in scores `[comparisons]` names (BISAP,
/// Ranson, MCTSI from the cohort's columns) and any cohort column used as a score. A score
/// some test case lacks an input for is logged and left out.
fn clinical_scores(
    cfg: &super::config::ComparisonsSection,
    cases: &[CaseMeta],
    ds: &Dataset,
    test: &[usize],
) -> Vec<(String, Vec<f64>)> {
    let by_id: BTreeMap<&str, &CaseMeta> = cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let Some(rows) = test
        .iter()
        .map(|&i| by_id.get(ds.ids[i].as_str()).copied())
        .collect::<Option<Vec<&CaseMeta>>>()
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let cols = tomofuse_fusion::scores::ScoreColumns::cohort_manifest();
    for name in &cfg.scores {
        let Some(f) = tomofuse_fusion::scores::builtin(name) else {
            continue;
        };
        let v = rows
            .iter()
            .map(|c| f(&score_case(&cols, c)).map_or(f64::NAN, f64::from))
            .collect();
        out.push((name.clone(), v));
    }
    for col in &cfg.columns {
        let v = rows
            .iter()
            .map(|c| {
                c.clinical
                    .get(col)
                    .and_then(|v| v.as_f64())
                    .unwrap_or(f64::NAN)
            })
            .collect();
        out.push((col.clone(), v));
    }
    out.retain(|(n, v): &(String, Vec<f64>)| {
        let ok = v.iter().all(|x| x.is_finite());
        if !ok {
            log::warn!("{n} not computable for every test case (missing inputs): left out");
        }
        ok
    });
    out
}

/// The clinical-score inputs of a case, read from its cohort columns.
fn score_case(
    cols: &tomofuse_fusion::scores::ScoreColumns,
    c: &CaseMeta,
) -> tomofuse_fusion::scores::Case {
    cols.case(|k| c.clinical.get(k).and_then(|v| v.as_f64()))
}

#[allow(clippy::too_many_arguments)]
fn sap_report(
    report: &mut Report,
    rows: &[ModelRow],
    fused: &Option<tomofuse_metrics::BinaryReport>,
    ranking: &[(String, f64)],
    shap: &Shap,
    ds: &Dataset,
    test: &[usize],
    cols: &[usize],
) {
    report.push(Block::Heading(
        "Severe acute pancreatitis: model comparison on the held-out centre".into(),
    ));
    report.push(Block::Table {
        caption: "Test-centre AUC of the fused model, single-modality models, the logistic baseline and the clinical scores (paired DeLong test against the fused XGBoost model)".into(),
        header: vec![
            "model".into(),
            "features".into(),
            "CV AUC (train)".into(),
            "test AUC".into(),
            "95% CI (bootstrap)".into(),
            "DeLong p vs fused".into(),
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.features.to_string(),
                    f3(r.cv_auc),
                    format!("{:.3}", r.test_auc),
                    format!("{:.3}-{:.3}", r.auc_ci.0, r.auc_ci.1),
                    r.delong_p_vs_fused.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect(),
    });
    if let Some(f) = fused {
        let m = &f.threshold_metrics.confusion;
        report.push(Block::Table {
            caption: format!(
                "Fused model, test centre, Youden threshold {:.3}",
                f.threshold_metrics.threshold
            ),
            header: vec![
                "".into(),
                "predicted SAP".into(),
                "predicted non-SAP".into(),
            ],
            rows: vec![
                vec!["SAP".into(), m.tp.to_string(), m.fn_.to_string()],
                vec!["non-SAP".into(), m.fp.to_string(), m.tn.to_string()],
            ],
        });
        if let Some(svg) = super::plots::roc_svg(f, "ROC, fused model, test centre") {
            report.push(Block::Svg {
                caption: "ROC of the fused model on the test centre with its 95% bootstrap band"
                    .into(),
                svg,
            });
        }
        for svg in super::plots::probability_svgs(f, "the fused model on the test centre") {
            report.push(svg);
        }
    }
    report.push(Block::Table {
        caption: "Global importance: mean |SHAP| on the test centre (fused XGBoost)".into(),
        header: vec!["rank".into(), "feature".into(), "mean |SHAP|".into()],
        rows: ranking
            .iter()
            .take(15)
            .enumerate()
            .map(|(i, (n, v))| vec![(i + 1).to_string(), n.clone(), format!("{v:.4}")])
            .collect(),
    });
    report.push(Block::Paragraph(format!(
        "SHAP additivity: the largest |sum of contributions + bias - margin| over test cases is {:.2e}.",
        shap.max_additivity_error
    )));
    for b in super::plots::shap_svgs(shap, ds, test, cols) {
        report.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tomofuse_cohort::{AbdomenConfig, Profile, abdomen_cohort, scores};

    /// The clinical scores the study reports (tomofuse-fusion, fed by [`score_case`] with the cohort-manifest column names) equal the
    /// cohort crate's own, independently written implementation on every synthetic case, and
    /// the cohort spans the scores' range (so agreement is not only on zeros).
    #[test]
    fn reported_scores_equal_the_cohort_crates_independent_implementation() {
        let mut cfg = AbdomenConfig::profile(Profile::Default, 11);
        cfg.n_cases = 1500;
        let cohort = abdomen_cohort(&cfg).unwrap();
        let metas = common::metas(&cohort);
        let mut seen = [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()];
        for (case, meta) in cohort.cases.iter().zip(&metas) {
            let sc = score_case(
                &tomofuse_fusion::scores::ScoreColumns::cohort_manifest(),
                meta,
            );
            let ours = [
                tomofuse_fusion::scores::bisap(&sc),
                tomofuse_fusion::scores::ranson_admission(&sc),
                tomofuse_fusion::scores::mctsi(&sc),
            ];
            let reference = [
                scores::case_bisap(case),
                scores::case_ranson(case),
                scores::case_mctsi(case),
            ];
            assert_eq!(ours, reference, "case {}", case.id);
            for (k, v) in ours.iter().enumerate() {
                *seen[k].entry(v.unwrap()).or_insert(0usize) += 1;
            }
        }
        for (name, s) in ["BISAP", "Ranson", "MCTSI"].iter().zip(&seen) {
            assert!(s.len() >= 3, "{name} takes only the values {s:?}");
        }
    }
}
