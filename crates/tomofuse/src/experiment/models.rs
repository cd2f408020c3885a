//! The models stage: the design matrix (clinical columns joined with each case's features),
//! every modality's XGBoost model, the fused model and the logistic baseline, compared with
//! the configured scores, evaluated on the held-out cases or by outer cross-validation
//! (`split.kind`), with SHAP explanations of the fused model.

use super::common::{CaseMeta, Ctx};
use super::config::{Evaluation, FusionSection};
use super::features::CaseFeatures;
use super::report::{Block, Report};
use super::summary::f3;
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tomofuse_fusion::{Dataset, Modality, PipelineConfig, Shap, XgbParams};
use tomofuse_metrics::{
    BinaryReportOptions, BootstrapConfig, Candidate, ModelRow, ThresholdChoice,
};

/// What the models stage reports (metrics.json).
#[derive(Debug, Serialize)]
pub struct ModelResults {
    /// `held-out`, `k-fold (K)` or `leave-one-group-out (COLUMN)`.
    pub evaluation: String,
    pub models: Vec<ModelRow>,
    /// The fused model's full statistics on the evaluation cases (pooled out-of-fold scores
    /// under cross-validation).
    pub fused_test: Option<tomofuse_metrics::BinaryReport>,
    /// The fused model's features (held out), or every feature any fold selected with the
    /// number of folds that did (cross-validation), most often first.
    pub selected_features: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selection_frequency: Vec<(String, usize)>,
    pub shap_ranking: Vec<(String, f64)>,
    pub max_shap_additivity_error: f64,
    pub n_train: usize,
    pub n_test: usize,
    /// Held out by centre: each centre in turn as the test set, the others for training
    /// (selection, search and fit redone each time).
    #[serde(default)]
    pub leave_one_centre_out: Vec<CentreFold>,
    /// Cross-validation: every model's AUC within each fold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub folds: Vec<CentreFold>,
}

/// One held-out fold or centre: test AUC of every model and score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CentreFold {
    pub centre: String,
    pub n_test: usize,
    pub n_positive: usize,
    pub test_auc: BTreeMap<String, f64>,
}

impl From<tomofuse_fusion::GroupFold> for CentreFold {
    fn from(f: tomofuse_fusion::GroupFold) -> Self {
        CentreFold {
            centre: f.group,
            n_test: f.n_test,
            n_positive: f.n_positive,
            test_auc: f.test_auc,
        }
    }
}

/// Per case: each model's and score's value, by name (out-of-fold for training cases).
pub type CaseScores = Vec<(String, BTreeMap<String, f64>)>;

/// Fits, evaluates and explains the models; returns the results and every case's scores.
pub fn models_stage(
    ctx: &Ctx,
    metas: &[CaseMeta],
    feats: &[CaseFeatures],
    report: &mut Report,
) -> Result<(ModelResults, CaseScores)> {
    let f = ctx.cfg.fusion.as_ref().context("[fusion] section")?;
    let cmp = &ctx.cfg.comparisons;
    for col in &cmp.columns {
        ensure!(
            metas.iter().any(|m| m.clinical.contains_key(col)),
            "comparisons.columns: no case has a column `{col}`"
        );
    }
    let ds = build_dataset(metas, feats, f)?;
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
    let stats = &ctx.cfg.stats;
    let opts = BinaryReportOptions {
        threshold: ThresholdChoice::Youden,
        bootstrap: BootstrapConfig {
            n_resamples: stats.bootstrap,
            seed: ctx.cfg.experiment.seed,
            level: stats.ci_level,
        },
        ..Default::default()
    };
    let by_id: BTreeMap<&str, &CaseMeta> = metas.iter().map(|c| (c.id.as_str(), c)).collect();
    let comparators = |rows: &[usize]| -> Result<Vec<(String, Vec<f64>)>> {
        let (ok, missing) = tomofuse_fusion::scores::comparators(
            &cmp.scores,
            &cmp.columns,
            &tomofuse_fusion::scores::ScoreColumns::cohort_manifest(),
            rows.len(),
            |i, k| {
                by_id[ds.ids[rows[i]].as_str()]
                    .clinical
                    .get(k)
                    .and_then(|v| v.as_f64())
            },
        )?;
        for n in missing {
            log::warn!("{n} not computable for every evaluated case (missing inputs): left out");
        }
        Ok(ok)
    };
    let evaluation = ctx.cfg.split.evaluation();
    let out = match &evaluation {
        Evaluation::HeldOut => held_out(ctx, &ds, &pcfg, &opts, &comparators, report)?,
        Evaluation::KFold(_) | Evaluation::LeaveOneGroupOut(_) => {
            let fold_of = outer_folds(ctx, &evaluation, &ds, &by_id)?;
            let outcome = &ctx.cfg.experiment.outcome;
            cross_validated(&ds, &fold_of, &pcfg, &opts, &comparators, outcome, report)?
        }
    };
    let (mut results, scores) = out;
    results.evaluation = match evaluation {
        Evaluation::HeldOut => "held-out".into(),
        Evaluation::KFold(k) => format!("k-fold ({k})"),
        Evaluation::LeaveOneGroupOut(c) => format!("leave-one-group-out ({c})"),
    };
    Ok((results, scores))
}

type Comparators<'a> = dyn Fn(&[usize]) -> Result<Vec<(String, Vec<f64>)>> + 'a;

/// Fitted on the training and validation cases, tested on the external ones.
fn held_out(
    ctx: &Ctx,
    ds: &Dataset,
    pcfg: &PipelineConfig,
    opts: &BinaryReportOptions,
    comparators: &Comparators,
    report: &mut Report,
) -> Result<(ModelResults, CaseScores)> {
    let is_test = |i: &usize| ds.split.as_ref().and_then(|s| s[*i].as_deref()) == Some("external");
    let (test, train): (Vec<usize>, Vec<usize>) = (0..ds.n_rows()).partition(is_test);
    if test.is_empty() {
        bail!(
            "no labelled case in the external test set (split: {:?})",
            ctx.cfg.split
        );
    }
    write_design(ctx, ds, &test, "design.parquet")?;
    let (reports, fused) = tomofuse_fusion::compare_modalities(ds, &train, &test, pcfg)?;
    let _ = std::fs::create_dir_all(ctx.rd.path("models"));
    fused
        .model
        .save(&ctx.rd.path("models/xgb_fused.json"))
        .context("saving the fused XGBoost model")?;
    let mut candidates: Vec<Candidate> = reports
        .iter()
        .map(|r| Candidate {
            name: r.name.clone(),
            features: r.selected.len() as f64,
            scores: r.test_scores.clone(),
            cv_auc: r.cv_auc,
        })
        .collect();
    candidates.extend(comparators(&test)?.into_iter().map(score_candidate));
    let table = compare(ds, &test, &candidates, opts)?;

    // Per case: every model's score (out-of-fold for training cases) and the clinical scores.
    let mut case_scores: CaseScores = reports
        .iter()
        .map(|r| {
            let by_id = r
                .row_scores(&train, &test)
                .into_iter()
                .map(|(i, s)| (ds.ids[i].clone(), s))
                .collect();
            (r.name.clone(), by_id)
        })
        .collect();
    case_scores.extend(all_rows_scores(ds, comparators)?);

    let loco = leave_one_centre_out(ds, pcfg, comparators);
    let test_x = ds.matrix(&test, &fused.cols);
    let m = tomofuse_fusion::Matrix::new(&test_x, test.len(), fused.cols.len())?;
    let shap = Shap::compute(&fused.model, m, tomofuse_fusion::explain::ADDITIVITY_TOL)?;
    let ranking = shap.global_ranking();
    let outcome = &ctx.cfg.experiment.outcome;
    models_report(
        report,
        outcome,
        "on the test set",
        &table,
        &ranking,
        shap.max_additivity_error,
    );
    for b in super::plots::shap_svgs(&shap, ds, &test, &fused.cols) {
        report.push(b);
    }
    folds_report(
        report,
        outcome,
        "Leave-one-centre-out: test AUC with each centre held out in turn (models refitted on the other centres)",
        &loco,
    );
    Ok((
        ModelResults {
            evaluation: String::new(),
            models: table.rows,
            fused_test: table.reference,
            selected_features: fused.cols.iter().map(|&j| ds.names[j].clone()).collect(),
            selection_frequency: Vec::new(),
            shap_ranking: ranking,
            max_shap_additivity_error: shap.max_additivity_error,
            n_train: train.len(),
            n_test: test.len(),
            leave_one_centre_out: loco,
            folds: Vec::new(),
        },
        case_scores,
    ))
}

/// Each row's outer fold: a stratified k-fold index, or its value of the grouping column.
fn outer_folds(
    ctx: &Ctx,
    evaluation: &Evaluation,
    ds: &Dataset,
    by_id: &BTreeMap<&str, &CaseMeta>,
) -> Result<Vec<Option<String>>> {
    Ok(match evaluation {
        Evaluation::KFold(k) => tomofuse_fusion::cv::outer_kfold_names(
            &ds.labels_bool(&ds.all_rows()),
            *k,
            ctx.cfg.experiment.seed,
        ),
        Evaluation::LeaveOneGroupOut(col) => {
            let group = |c: &CaseMeta| -> Option<String> {
                if col == "centre" {
                    return c.centre.clone();
                }
                match c.clinical.get(col)? {
                    tomofuse_cohort::ClinicalValue::Num(v) => Some(format!("{v}")),
                    tomofuse_cohort::ClinicalValue::Text(t) => Some(t.clone()),
                    tomofuse_cohort::ClinicalValue::Missing => None,
                }
            };
            let g: Vec<Option<String>> =
                ds.ids.iter().map(|id| group(by_id[id.as_str()])).collect();
            let missing = g.iter().filter(|v| v.is_none()).count();
            ensure!(
                missing < g.len(),
                "split.group_column = {col:?}: no labelled case has a value in that column"
            );
            if missing > 0 {
                log::warn!(
                    "split.group_column = {col:?}: {missing} case(s) without a value are neither trained on nor evaluated"
                );
            }
            g
        }
        Evaluation::HeldOut => bail!("internal: a held-out split has no outer folds"),
    })
}

/// Outer cross-validation: every case scored once by models that never saw it; the table is
/// over the pooled out-of-fold scores, SHAP over each fold's fused model on its own cases.
fn cross_validated(
    ds: &Dataset,
    fold_of: &[Option<String>],
    pcfg: &PipelineConfig,
    opts: &BinaryReportOptions,
    comparators: &Comparators,
    outcome: &str,
    report: &mut Report,
) -> Result<(ModelResults, CaseScores)> {
    let cv = tomofuse_fusion::outer_cross_validation(ds, fold_of, pcfg)?;
    let mut candidates: Vec<Candidate> = cv
        .pooled
        .iter()
        .zip(&cv.mean_selected)
        .enumerate()
        .map(|(m, ((name, scores), &features))| {
            let cvs: Vec<f64> = cv
                .folds
                .iter()
                .filter_map(|f| f.reports[m].cv_auc)
                .collect();
            Candidate {
                name: name.clone(),
                features,
                scores: scores.clone(),
                cv_auc: (!cvs.is_empty()).then(|| cvs.iter().sum::<f64>() / cvs.len() as f64),
            }
        })
        .collect();
    candidates.extend(comparators(&cv.rows)?.into_iter().map(score_candidate));
    let table = compare(ds, &cv.rows, &candidates, opts)?;
    let mut case_scores: CaseScores = cv
        .pooled
        .iter()
        .map(|(name, s)| {
            let by_id = cv
                .rows
                .iter()
                .zip(s)
                .map(|(&i, &v)| (ds.ids[i].clone(), v))
                .collect();
            (name.clone(), by_id)
        })
        .collect();
    case_scores.extend(all_rows_scores(ds, comparators)?);

    let folds: Vec<CentreFold> = cv
        .fold_aucs(ds, comparators)?
        .into_iter()
        .map(CentreFold::from)
        .collect();
    let pooled = cv.pooled_explanation(ds)?;
    let (ranking, frequency, max_err) = (
        pooled.ranking,
        pooled.selection_frequency,
        pooled.max_additivity_error,
    );
    models_report(
        report,
        outcome,
        "pooled over the held-out folds (every case scored by models fitted without it)",
        &table,
        &ranking,
        max_err,
    );
    folds_report(
        report,
        outcome,
        "Outer cross-validation: test AUC within each held-out fold",
        &folds,
    );
    Ok((
        ModelResults {
            evaluation: String::new(),
            models: table.rows,
            fused_test: table.reference,
            selected_features: frequency.iter().map(|(n, _)| n.clone()).collect(),
            selection_frequency: frequency,
            shap_ranking: ranking,
            max_shap_additivity_error: max_err,
            n_train: cv.rows.len(),
            n_test: cv.rows.len(),
            leave_one_centre_out: Vec::new(),
            folds,
        },
        case_scores,
    ))
}

fn score_candidate((name, scores): (String, Vec<f64>)) -> Candidate {
    Candidate {
        name,
        features: 1.0,
        scores,
        cv_auc: None,
    }
}

/// The comparison table against the fused model; candidates without statistics are logged.
fn compare(
    ds: &Dataset,
    rows: &[usize],
    candidates: &[Candidate],
    opts: &BinaryReportOptions,
) -> Result<tomofuse_metrics::ModelComparison> {
    let table =
        tomofuse_metrics::compare_models(&ds.labels_bool(rows), candidates, "xgb_fused", opts)?;
    for (name, why) in &table.skipped {
        log::warn!("statistics of {name} unavailable: {why}");
    }
    Ok(table)
}

/// The comparators of every labelled case, keyed by case id (for predictions.csv).
fn all_rows_scores(ds: &Dataset, comparators: &Comparators) -> Result<CaseScores> {
    let all = ds.all_rows();
    Ok(comparators(&all)?
        .into_iter()
        .map(|(name, v)| {
            let by_id = all
                .iter()
                .zip(v)
                .map(|(&i, s)| (ds.ids[i].clone(), s))
                .collect();
            (name, by_id)
        })
        .collect())
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

/// The design matrix: the cases with an outcome and features, in cohort order; the clinical
/// columns `[fusion]` selects (`clin_` prefixed), then radiomics, then the deep score and deep
/// features, joined by case id (`tomofuse_fusion::join`).
fn build_dataset(
    cases: &[CaseMeta],
    feats: &[CaseFeatures],
    fcfg: &FusionSection,
) -> Result<Dataset> {
    use tomofuse_core::ClinicalRecord;
    use tomofuse_fusion::{ClinicalTable, FeatureTable};
    let by_id: BTreeMap<&str, &CaseFeatures> = feats.iter().map(|f| (f.id.as_str(), f)).collect();
    // Without per-case features (clinical columns only) every labelled case takes part.
    let empty = CaseFeatures {
        id: String::new(),
        radiomics: BTreeMap::new(),
        deep: Vec::new(),
        deep_score: None,
    };
    let rows: Vec<(&CaseMeta, &CaseFeatures)> = cases
        .iter()
        .filter(|c| c.label.is_some())
        .filter_map(|c| match by_id.get(c.id.as_str()) {
            Some(f) => Some((c, *f)),
            None if feats.is_empty() => Some((c, &empty)),
            None => None,
        })
        .collect();
    if rows.is_empty() {
        bail!("no case has both an outcome and features");
    }
    let records: Vec<ClinicalRecord> = rows.iter().map(|(c, _)| c.clinical_record()).collect();
    let clin = tomofuse_fusion::table::select_columns(
        &ClinicalTable::numeric_columns(&records),
        &fcfg.clinical_columns,
        &fcfg.clinical_exclude,
        "fusion.clinical_columns",
    )?;
    let clinical =
        ClinicalTable::from_records("cohort clinical columns", &records, &clin, "clin_")?;
    let rad_names: Vec<String> = rows[0].1.radiomics.keys().cloned().collect();
    let radiomics = FeatureTable::from_rows(
        "radiomics features",
        rad_names.clone(),
        rows.iter()
            .map(|(c, f)| {
                let v = rad_names
                    .iter()
                    .map(|r| f.radiomics.get(r).map_or(f32::NAN, |&v| v as f32))
                    .collect();
                (c.id.clone(), v)
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
            .map(|(c, f)| {
                let mut v: Vec<f32> = Vec::new();
                if has_score {
                    v.push(f.deep_score.map_or(f32::NAN, |v| v as f32));
                }
                v.extend((0..n_deep).map(|d| f.deep.get(d).copied().unwrap_or(f32::NAN)));
                (c.id.clone(), v)
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
    ds: &Dataset,
    pcfg: &PipelineConfig,
    comparators: &Comparators,
) -> Vec<CentreFold> {
    let Some(centre) = ds.centre.as_ref() else {
        return Vec::new();
    };
    tomofuse_fusion::leave_one_group_out(ds, centre, pcfg, |test| {
        comparators(test).unwrap_or_default()
    })
    .into_iter()
    .map(CentreFold::from)
    .collect()
}

fn folds_report(report: &mut Report, outcome: &str, caption: &str, folds: &[CentreFold]) {
    let Some(first) = folds.first() else {
        return;
    };
    let models: Vec<String> = first.test_auc.keys().cloned().collect();
    let mut header = vec!["held out".to_string(), format!("n ({outcome})")];
    header.extend(models.iter().cloned());
    report.push(Block::Table {
        caption: caption.into(),
        header,
        rows: folds
            .iter()
            .map(|f| {
                let mut row = vec![f.centre.clone(), format!("{} ({})", f.n_test, f.n_positive)];
                row.extend(models.iter().map(|m| {
                    f.test_auc
                        .get(m)
                        .filter(|a| a.is_finite())
                        .map_or("-".into(), |a| format!("{a:.3}"))
                }));
                row
            })
            .collect(),
    });
}

fn models_report(
    report: &mut Report,
    outcome: &str,
    evaluated: &str,
    table: &tomofuse_metrics::ModelComparison,
    ranking: &[(String, f64)],
    max_additivity_error: f64,
) {
    report.push(Block::Heading(format!(
        "{outcome}: model comparison {evaluated}"
    )));
    report.push(Block::Table {
        caption: format!("AUC {evaluated} of the fused model, single-modality models, the logistic baseline and the comparators (paired DeLong test against the fused XGBoost model)"),
        header: vec![
            "model".into(),
            "features".into(),
            "CV AUC (train)".into(),
            "AUC".into(),
            "95% CI (bootstrap)".into(),
            "DeLong p vs fused".into(),
        ],
        rows: table
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    if r.features.fract() == 0.0 {
                        format!("{}", r.features)
                    } else {
                        format!("{:.1} (mean)", r.features)
                    },
                    f3(r.cv_auc),
                    format!("{:.3}", r.test_auc),
                    format!("{:.3}-{:.3}", r.auc_ci.0, r.auc_ci.1),
                    r.delong_p_vs_fused.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect(),
    });
    if let Some(f) = &table.reference {
        let m = &f.threshold_metrics.confusion;
        report.push(Block::Table {
            caption: format!(
                "Fused model {evaluated}, Youden threshold {:.3}",
                f.threshold_metrics.threshold
            ),
            header: vec![
                "".into(),
                format!("predicted {outcome}"),
                format!("predicted not {outcome}"),
            ],
            rows: vec![
                vec![outcome.into(), m.tp.to_string(), m.fn_.to_string()],
                vec![format!("not {outcome}"), m.fp.to_string(), m.tn.to_string()],
            ],
        });
        if let Some(svg) = super::plots::roc_svg(f, "ROC, fused model") {
            report.push(Block::Svg {
                caption: format!("ROC of the fused model {evaluated} with its 95% bootstrap band"),
                svg,
            });
        }
        for svg in super::plots::probability_svgs(f, "the fused model") {
            report.push(svg);
        }
    }
    report.push(Block::Table {
        caption: "Global importance: mean |SHAP| of the fused XGBoost model on the evaluated cases"
            .into(),
        header: vec![
            "rank".into(),
            "feature".into(),
            "modality".into(),
            "image type".into(),
            "mean |SHAP|".into(),
        ],
        rows: ranking
            .iter()
            .take(15)
            .enumerate()
            .map(|(i, (n, v))| {
                let (modality, image_type) = feature_origin(n);
                vec![
                    (i + 1).to_string(),
                    n.clone(),
                    modality.into(),
                    image_type.into(),
                    format!("{v:.4}"),
                ]
            })
            .collect(),
    });
    report.push(Block::Paragraph(format!(
        "SHAP additivity: the largest |sum of contributions + bias - margin| over the evaluated cases is {max_additivity_error:.2e}."
    )));
}

/// A design column's modality and, for radiomics, the image type its name carries
/// (`rad_<image type>_<feature>`; IBSI-named features of the original image have none).
fn feature_origin(name: &str) -> (&'static str, &str) {
    if let Some(rest) = name.strip_prefix("rad_") {
        let first = rest.split('_').next().unwrap_or("");
        let simple = [
            "original",
            "square",
            "squareroot",
            "logarithm",
            "exponential",
            "gradient",
        ];
        let image_type = if first.contains('-') || simple.contains(&first) {
            first
        } else {
            "original"
        };
        ("radiomics", image_type)
    } else if name.starts_with("deep_") {
        ("deep", "-")
    } else if name.starts_with("clin_") {
        ("clinical", "-")
    } else {
        ("other", "-")
    }
}

#[cfg(test)]
mod tests {
    /// Image types are read from the column names the radiomics crate writes.
    #[test]
    fn feature_origin_reads_the_image_type() {
        use super::feature_origin;
        assert_eq!(feature_origin("rad_stat_mean"), ("radiomics", "original"));
        assert_eq!(
            feature_origin("rad_log-sigma-2-0-mm-3D_cm_contrast"),
            ("radiomics", "log-sigma-2-0-mm-3D")
        );
        assert_eq!(
            feature_origin("rad_wavelet-HLL_glszm_ZoneEntropy"),
            ("radiomics", "wavelet-HLL")
        );
        assert_eq!(
            feature_origin("rad_original_firstorder_Mean"),
            ("radiomics", "original")
        );
        assert_eq!(feature_origin("clin_crp"), ("clinical", "-"));
        assert_eq!(feature_origin("deep_score"), ("deep", "-"));
    }

    use super::*;
    use tomofuse_cohort::{AbdomenConfig, Profile, abdomen_cohort, scores};

    /// The clinical scores the study reports (`tomofuse_fusion::scores::comparators` with the
    /// cohort-manifest column names) equal the cohort crate's own, independently written
    /// implementation on every synthetic case, and the cohort spans the scores' range (so
    /// agreement is not only on zeros).
    #[test]
    fn reported_scores_equal_the_cohort_crates_independent_implementation() {
        let mut cfg = AbdomenConfig::profile(Profile::Default, 11);
        cfg.n_cases = 1500;
        let cohort = abdomen_cohort(&cfg).unwrap();
        let metas = super::super::common::metas(&cohort);
        let names: Vec<String> = tomofuse_fusion::scores::BUILTIN
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (ours, missing) = tomofuse_fusion::scores::comparators(
            &names,
            &[],
            &tomofuse_fusion::scores::ScoreColumns::cohort_manifest(),
            metas.len(),
            |i, k| metas[i].clinical.get(k).and_then(|v| v.as_f64()),
        )
        .unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(ours.len(), 3);
        let reference: [fn(&tomofuse_cohort::Case) -> Option<u8>; 3] =
            [scores::case_bisap, scores::case_ranson, scores::case_mctsi];
        for ((name, v), f) in ours.iter().zip(reference) {
            let mut seen = BTreeMap::new();
            for (case, got) in cohort.cases.iter().zip(v) {
                let want = f64::from(f(case).expect("every synthetic case has every input"));
                assert_eq!(*got, want, "{name}, case {}", case.id);
                *seen.entry(want as u8).or_insert(0usize) += 1;
            }
            assert!(seen.len() >= 3, "{name} takes only the values {seen:?}");
        }
    }
}
