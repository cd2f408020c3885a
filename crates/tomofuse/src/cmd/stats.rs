//! `tomofuse stats`: ROC/AUC with bootstrap and DeLong CIs, threshold metrics, calibration,
//! decision curve and (with `--compare-col`) the paired DeLong test, from a predictions CSV.

use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use tomofuse_metrics::{
    BinaryReportOptions, BootstrapConfig, CiMethod, ThresholdChoice, binary_report,
    calibration::DecisionPoint,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// CSV with a header row: one case per row.
    #[arg(long)]
    pub predictions: PathBuf,
    /// Outcome column: 0/1, true/false or yes/no (1/true/yes = event).
    #[arg(long)]
    pub label_col: String,
    /// Score column (higher = more likely event); probabilities enable calibration metrics.
    #[arg(long)]
    pub score_col: String,
    /// Second score column for the paired DeLong test and bootstrap AUC difference.
    #[arg(long)]
    pub compare_col: Option<String>,
    /// `youden` (maximise Youden's J on these data) or a fixed value; `score >= threshold` is positive.
    #[arg(long, default_value = "youden")]
    pub threshold: String,
    /// Seed of the bootstrap (ChaCha8).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of stratified bootstrap resamples.
    #[arg(long, default_value_t = tomofuse_metrics::DEFAULT_RESAMPLES)]
    pub bootstrap: usize,
    /// Confidence level of every interval.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// DeLong CI: `plain` (AUC ± z·SE, clipped) or `logit`.
    #[arg(long, default_value = "plain")]
    pub delong_ci: String,
    /// Output JSON file.
    #[arg(long)]
    pub out: PathBuf,
    /// Folder for plots (SVG and PNG): ROC with bootstrap band, confusion matrix, calibration
    /// and decision curve.
    #[arg(long)]
    pub plots: Option<PathBuf>,
}

/// Columns read from the predictions file.
struct Table {
    labels: Vec<bool>,
    scores: Vec<f64>,
    compare: Option<Vec<f64>>,
}

fn column_index(headers: &csv::StringRecord, name: &str, path: &Path) -> Result<usize> {
    headers
        .iter()
        .position(|h| h.trim() == name)
        .ok_or_else(|| {
            anyhow!(
                "{}: unknown column `{name}` (columns: {})",
                path.display(),
                headers
                    .iter()
                    .map(|h| format!("`{}`", h.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

fn parse_label(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" => Some(true),
        "0" | "0.0" | "false" | "no" => Some(false),
        _ => None,
    }
}

fn read_table(path: &Path, label: &str, score: &str, compare: Option<&str>) -> Result<Table> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot open predictions file {}", path.display()))?;
    let headers = rdr
        .headers()
        .with_context(|| format!("{}: cannot read the header row", path.display()))?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        bail!("{}: the file is empty (no header row)", path.display());
    }
    let li = column_index(&headers, label, path)?;
    let si = column_index(&headers, score, path)?;
    let ci = compare
        .map(|c| column_index(&headers, c, path))
        .transpose()?;
    let mut t = Table {
        labels: Vec::new(),
        scores: Vec::new(),
        compare: ci.map(|_| Vec::new()),
    };
    for (k, rec) in rdr.records().enumerate() {
        // Line numbers as a spreadsheet shows them: the header is line 1.
        let line = k + 2;
        let rec =
            rec.with_context(|| format!("{}: malformed CSV at line {line}", path.display()))?;
        let field = |i: usize, name: &str| -> Result<&str> {
            rec.get(i).ok_or_else(|| {
                anyhow!(
                    "{}: line {line} has no value for column `{name}`",
                    path.display()
                )
            })
        };
        let lv = field(li, label)?;
        let l = parse_label(lv).ok_or_else(|| {
            anyhow!(
                "{}: line {line}, column `{label}`: `{lv}` is not a binary outcome (use 0/1, true/false or yes/no)",
                path.display()
            )
        })?;
        let num = |i: usize, name: &str| -> Result<f64> {
            let v = field(i, name)?;
            if v.is_empty() {
                bail!(
                    "{}: line {line}, column `{name}`: missing value (every case needs a score)",
                    path.display()
                );
            }
            let x: f64 = v.parse().map_err(|_| {
                anyhow!(
                    "{}: line {line}, column `{name}`: `{v}` is not a number",
                    path.display()
                )
            })?;
            if !x.is_finite() {
                bail!(
                    "{}: line {line}, column `{name}`: score is {v} (NaN/infinite scores are not allowed)",
                    path.display()
                );
            }
            Ok(x)
        };
        t.labels.push(l);
        t.scores.push(num(si, score)?);
        if let (Some(c), Some(name)) = (ci, compare) {
            let v = num(c, name)?;
            if let Some(cv) = t.compare.as_mut() {
                cv.push(v);
            }
        }
    }
    if t.labels.is_empty() {
        bail!("{}: no data rows", path.display());
    }
    Ok(t)
}

pub fn run(args: Args) -> Result<()> {
    let threshold = match args.threshold.trim().to_ascii_lowercase().as_str() {
        "youden" => ThresholdChoice::Youden,
        v => ThresholdChoice::Value(v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(
            || {
                anyhow!(
                    "--threshold must be `youden` or a finite number, got `{}`",
                    args.threshold
                )
            },
        )?),
    };
    let delong_ci = match args.delong_ci.as_str() {
        "plain" => CiMethod::Plain,
        "logit" => CiMethod::Logit,
        other => bail!("--delong-ci must be `plain` or `logit`, got `{other}`"),
    };
    let table = read_table(
        &args.predictions,
        &args.label_col,
        &args.score_col,
        args.compare_col.as_deref(),
    )?;
    let opts = BinaryReportOptions {
        threshold,
        bootstrap: BootstrapConfig {
            n_resamples: args.bootstrap,
            seed: args.seed,
            level: args.level,
        },
        delong_ci,
        ..Default::default()
    };
    let report = binary_report(
        &table.labels,
        &table.scores,
        table.compare.as_deref(),
        &opts,
    )
    .with_context(|| {
        format!(
            "{}: statistics of score column `{}` against outcome `{}`",
            args.predictions.display(),
            args.score_col,
            args.label_col
        )
    })?;
    log::info!(
        "n = {} ({} events): AUC {:.4} (bootstrap {:.0}% CI {:.4}-{:.4}, DeLong {:.4}-{:.4})",
        report.n,
        report.n_positive,
        report.auc,
        args.level * 100.0,
        report.auc_bootstrap.percentile.lower,
        report.auc_bootstrap.percentile.upper,
        report.auc_delong.ci.lower,
        report.auc_delong.ci.upper
    );
    if let Some(c) = &report.comparison {
        log::info!(
            "vs `{}`: AUC {:.4}, DeLong difference {:+.4}, z = {:.3}, p = {:.3e}",
            args.compare_col.as_deref().unwrap_or(""),
            c.auc,
            c.delong_paired.difference,
            c.delong_paired.z,
            c.delong_paired.p_value
        );
    }
    let doc = serde_json::json!({
        "input": {
            "predictions": args.predictions.display().to_string(),
            "label_col": args.label_col,
            "score_col": args.score_col,
            "compare_col": args.compare_col,
            "threshold": args.threshold,
        },
        "report": report,
    });
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    log::info!("wrote {}", args.out.display());
    if let Some(dir) = &args.plots {
        write_plots(dir, &args, &table, &report)?;
    }
    Ok(())
}

fn write_plots(
    dir: &Path,
    args: &Args,
    table: &Table,
    report: &tomofuse_metrics::BinaryReport,
) -> Result<()> {
    use tomofuse_metrics::plots::*;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create plot folder {}", dir.display()))?;
    let compare_roc = match (&table.compare, &args.compare_col) {
        (Some(c), Some(_)) => Some(tomofuse_metrics::roc_curve(&table.labels, c, true)?),
        _ => None,
    };
    let mut curves = vec![(
        format!("{} (AUC {:.3})", args.score_col, report.auc),
        &report.roc,
    )];
    if let (Some(r), Some(name), Some(cmp)) = (&compare_roc, &args.compare_col, &report.comparison)
    {
        curves.push((format!("{name} (AUC {:.3})", cmp.auc), r));
    }
    for ext in ["svg", "png"] {
        let f = |name: &str| dir.join(format!("{name}.{ext}"));
        plot_roc(&f("roc"), &curves, Some(&report.roc_band))?;
        plot_confusion_matrix(
            &f("confusion_matrix"),
            &report.threshold_metrics.confusion,
            report.threshold_metrics.threshold,
        )?;
        if let Some(p) = &report.probability {
            plot_calibration(&f("calibration"), &p.calibration_curve)?;
            let dc: &[DecisionPoint] = &p.decision_curve;
            plot_decision_curve(&f("decision_curve"), dc)?;
        }
    }
    log::info!("plots in {}", dir.display());
    Ok(())
}
