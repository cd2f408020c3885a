//! `tomofuse fuse`: join a clinical table with radiomics/deep-feature tables, select features
//! on the training rows, train XGBoost per modality and fused (stratified k-fold search, early
//! stopping) plus a logistic baseline, and write predictions, the fused model, SHAP
//! explanations and the clinical scores (BISAP, Ranson at admission, MCTSI) where the table has
//! their columns.

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use std::fmt::Write as _;
use std::path::PathBuf;
use tomofuse_fusion::cv::stratified_holdout;
use tomofuse_fusion::explain::{ADDITIVITY_TOL, Shap, gain_ranking, permutation_importance};
use tomofuse_fusion::scores::{ScoreColumns, compute};
use tomofuse_fusion::table::{FeatureTable, TableSpec, join, read_clinical};
use tomofuse_fusion::{
    Embedded, Matrix, Modality, PipelineConfig, check_two_classes, compare_modalities,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SelectionArg {
    Lasso,
    Mrmr,
    None,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Clinical table (.csv or .parquet), one row per case.
    #[arg(long)]
    pub clinical: PathBuf,
    /// Table spec of the clinical table (JSON; see data-schemas/clinical-table.schema.json).
    #[arg(long)]
    pub spec: PathBuf,
    /// Radiomics feature table (.csv or .parquet) keyed by case id.
    #[arg(long)]
    pub radiomics: Option<PathBuf>,
    /// Deep-feature table (.csv or .parquet) keyed by case id.
    #[arg(long)]
    pub deep: Option<PathBuf>,
    /// Case-id column of the feature tables (default: the spec's id column).
    #[arg(long)]
    pub feature_id_col: Option<String>,
    /// Ignore cases in feature tables that the clinical table lacks (default: error).
    #[arg(long)]
    pub allow_extra_ids: bool,
    /// Split label marking the held-out rows (split column of the spec); without a split column
    /// a stratified random holdout of --test-fraction is used.
    #[arg(long, default_value = "test")]
    pub test_split: String,
    #[arg(long, default_value_t = 0.3)]
    pub test_fraction: f64,
    /// Embedded feature selection after the variance and Spearman filters.
    #[arg(long, value_enum, default_value = "lasso")]
    pub selection: SelectionArg,
    /// Maximum number of selected features.
    #[arg(long, default_value_t = 30)]
    pub max_features: usize,
    /// Hyper-parameter candidates tried by stratified k-fold CV.
    #[arg(long, default_value_t = 4)]
    pub n_candidates: usize,
    #[arg(long, default_value_t = 5)]
    pub k_folds: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Full pipeline configuration as JSON (overrides the options above).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder: report.json, predictions.csv, model_fused.json, shap_test.csv.
    #[arg(long)]
    pub out: PathBuf,
}

/// Checks the numeric options before any file is read (the holdout helper would otherwise
/// clamp an out-of-range fraction silently).
fn check_args(args: &Args) -> Result<()> {
    if !(0.05..=0.5).contains(&args.test_fraction) {
        bail!(
            "--test-fraction must be in [0.05, 0.5] (the holdout is one of round(1/f) stratified folds), got {}",
            args.test_fraction
        );
    }
    if args.k_folds < 2 {
        bail!("--k-folds must be >= 2, got {}", args.k_folds);
    }
    if args.n_candidates < 1 {
        bail!("--n-candidates must be >= 1, got {}", args.n_candidates);
    }
    if args.max_features < 1 {
        bail!("--max-features must be >= 1, got {}", args.max_features);
    }
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    check_args(&args)?;
    let spec = TableSpec::from_path(&args.spec)?;
    let clinical = read_clinical(&args.clinical, &spec)?;
    if clinical.outcome.is_empty() {
        bail!("{}: no data rows", clinical.path);
    }
    check_two_classes(&clinical.outcome, &clinical.path)?;
    let id_col = args
        .feature_id_col
        .clone()
        .unwrap_or_else(|| spec.id_column.clone());
    let mut tables = Vec::new();
    if let Some(p) = &args.radiomics {
        tables.push((Modality::Radiomics, FeatureTable::read(p, &id_col, &[])?));
    }
    if let Some(p) = &args.deep {
        tables.push((Modality::Deep, FeatureTable::read(p, &id_col, &[])?));
    }
    let refs: Vec<(Modality, &FeatureTable)> = tables.iter().map(|(m, t)| (*m, t)).collect();
    let ds = join(&clinical, &refs, args.allow_extra_ids)?;

    let all = ds.all_rows();
    let (train, test) = if ds.split.is_some() {
        let test = ds.rows_with_split(&args.test_split);
        if test.is_empty() {
            bail!(
                "{}: no row has split `{}` in column `{}`",
                clinical.path,
                args.test_split,
                spec.split_column.as_deref().unwrap_or("?")
            );
        }
        let train: Vec<usize> = all.iter().copied().filter(|i| !test.contains(i)).collect();
        (train, test)
    } else {
        let (train, test) = stratified_holdout(&ds, &all, args.test_fraction, args.seed);
        (train, test)
    };

    let cfg = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<PipelineConfig>(&text)
                .with_context(|| format!("parsing {}", p.display()))?
        }
        None => {
            let mut c = PipelineConfig {
                n_candidates: args.n_candidates,
                k_folds: args.k_folds,
                seed: args.seed,
                ..PipelineConfig::default()
            };
            c.selection.embedded = match args.selection {
                SelectionArg::Lasso => Embedded::Lasso,
                SelectionArg::Mrmr => Embedded::Mrmr,
                SelectionArg::None => Embedded::None,
            };
            c.selection.max_features = args.max_features;
            c.selection.seed = args.seed;
            c
        }
    };
    log::info!(
        "{} cases ({} train / {} test), {} features; training per-modality and fused models",
        ds.n_rows(),
        train.len(),
        test.len(),
        ds.n_cols()
    );
    let (reports, fused) = compare_modalities(&ds, &train, &test, &cfg)?;
    for r in &reports {
        log::info!(
            "{:16} {:3} features, CV AUC {}, test AUC {:.3}",
            r.name,
            r.selected.len(),
            r.cv_auc.map_or("-".into(), |a| format!("{a:.3}")),
            r.test_auc
        );
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    fused.model.save(&args.out.join("model_fused.json"))?;

    // Explanations of the fused model on the test rows.
    let x = ds.matrix(&test, &fused.cols);
    let m = Matrix::new(&x, test.len(), fused.cols.len())?;
    let shap = Shap::compute(&fused.model, m, ADDITIVITY_TOL)?;
    let labels = ds.labels_bool(&test);
    let perm = permutation_importance(&fused.model, m, &labels, 5, args.seed)?;
    let gain = gain_ranking(&fused.model)?;
    let waterfalls: Vec<_> = (0..test.len().min(20))
        .map(|i| {
            let p = fused.cols.len();
            shap.waterfall(i, &x[i * p..(i + 1) * p], 10)
                .map(|w| (ds.ids[test[i]].clone(), w))
        })
        .collect::<Result<_, _>>()?;
    let mut shap_csv = String::from("case_id");
    for n in &shap.feature_names {
        let _ = write!(shap_csv, ",{n}");
    }
    shap_csv.push_str(",bias,margin\n");
    for (i, &r) in test.iter().enumerate() {
        shap_csv.push_str(&ds.ids[r]);
        for v in shap.row(i) {
            let _ = write!(shap_csv, ",{v}");
        }
        let _ = writeln!(shap_csv, ",{},{}", shap.bias[i], shap.margin[i]);
    }
    std::fs::write(args.out.join("shap_test.csv"), shap_csv)?;

    // Clinical scores where the table has the columns (missing columns -> missing score).
    let (_, scores) = compute(&clinical, &ScoreColumns::default(), false)?;
    let fmt_opt = |v: Option<u8>| v.map_or(String::new(), |v| v.to_string());
    let mut pred = String::from("case_id,y");
    for r in &reports {
        let _ = write!(pred, ",{}", r.name);
    }
    pred.push_str(",bisap,ranson_admission,mctsi\n");
    for (k, &i) in test.iter().enumerate() {
        let _ = write!(pred, "{},{}", ds.ids[i], ds.y[i]);
        for r in &reports {
            let _ = write!(pred, ",{}", r.test_scores[k]);
        }
        let _ = writeln!(
            pred,
            ",{},{},{}",
            fmt_opt(scores.bisap[i]),
            fmt_opt(scores.ranson_admission[i]),
            fmt_opt(scores.mctsi[i])
        );
    }
    std::fs::write(args.out.join("predictions.csv"), pred)?;

    let report = serde_json::json!({
        "clinical": clinical.path,
        "radiomics": args.radiomics,
        "deep": args.deep,
        "n_cases": ds.n_rows(),
        "n_train": train.len(),
        "n_test": test.len(),
        "n_features": ds.n_cols(),
        "config": cfg,
        "models": reports.iter().map(|r| serde_json::json!({
            "name": r.name, "kind": r.kind, "modalities": r.modalities,
            "n_candidate_features": r.n_candidate_features, "selected": r.selected,
            "cv_auc": r.cv_auc, "test_auc": r.test_auc, "best_params": r.best_params,
            "best_iteration": r.best_iteration,
        })).collect::<Vec<_>>(),
        "fused_search": fused.search,
        "explanations": {
            "shap_max_additivity_error": shap.max_additivity_error,
            "mean_abs_shap": shap.global_ranking(),
            "gain": gain,
            "permutation_auc_drop": perm,
            "waterfalls": waterfalls.iter().map(|(id, w)| serde_json::json!({"case_id": id, "waterfall": w})).collect::<Vec<_>>(),
        },
    });
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    log::info!("wrote {}", args.out.display());
    Ok(())
}
