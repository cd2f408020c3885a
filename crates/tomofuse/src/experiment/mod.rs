//! `tomofuse run CONFIG`: one experiment end to end, from a config file, into a run directory
//! with provenance, cached stages, per-case outputs, metrics and a self-contained report.

pub mod common;
pub mod config;
pub mod crswnp;
pub mod plots;
pub mod report;
pub mod rundir;
pub mod sap;
pub mod summary;

use anyhow::{Context, Result};
use config::{ExperimentConfig, Study};
use report::{Block, Report};
use rundir::{RunDir, hash_path, sha256_hex, write_json};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Versions, inputs and settings that produced a run (`manifest.json`).
#[derive(Debug, Serialize)]
pub struct Provenance {
    pub tool: &'static str,
    pub version: &'static str,
    pub git_commit: &'static str,
    pub rustc: &'static str,
    pub config_file: String,
    pub config_sha256: String,
    pub resolved_config: ExperimentConfig,
    pub profile: String,
    pub seed: u64,
    pub cohort: String,
    pub n_cases: usize,
    /// sha256 of each input file (manifest cohorts); synthetic cohorts are identified by
    /// their generator, profile and seed.
    pub input_hashes: Vec<(String, String)>,
    pub threads: usize,
}

/// Summary printed at the end and stored in `metrics.json`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Results {
    Crswnp(Box<crswnp::CrswnpResults>),
    Sap(Box<sap::SapResults>),
}

#[derive(Debug, Serialize)]
struct Metrics<'a> {
    experiment: &'a str,
    profile: &'a str,
    seed: u64,
    results: &'a Results,
    failures: &'a [common::Failure],
}

/// Runs the experiment in `config` (with `profile` overrides) into `out` (default
/// `runs/<name>-<profile>`). Returns the run directory.
pub fn run(config: &Path, out: Option<&Path>, profile: Option<&str>) -> Result<PathBuf> {
    let t0 = std::time::Instant::now();
    let cfg0 = ExperimentConfig::load(config)?;
    let profile = profile
        .map(str::to_string)
        .unwrap_or_else(|| cfg0.cohort.profile.clone());
    let cfg = cfg0.with_profile(&profile)?;
    let root = out.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", cfg.experiment.name, profile))
    });
    let rd = RunDir::create(&root)?;
    plots::set_dir(&rd.path("figures"));
    let config_dir = config.parent().unwrap_or(Path::new("."));
    log::info!(
        "experiment {} (profile {profile}, seed {}) -> {}",
        cfg.experiment.name,
        cfg.experiment.seed,
        root.display()
    );

    let mut cohort = common::load_cohort(&cfg, config_dir)?;
    common::assign_splits(&cfg, &mut cohort)?;
    let mut input_hashes = Vec::new();
    if cfg.cohort.source == "manifest" {
        let m = config_dir.join(cfg.cohort.manifest.as_deref().unwrap_or_default());
        input_hashes.push((m.display().to_string(), hash_path(&m)?));
        for c in &cohort.cases {
            if let tomofuse_cohort::Source::Files { image, mask } = &c.source {
                for p in std::iter::once(image).chain(mask.iter()) {
                    match hash_path(p) {
                        Ok(h) => input_hashes.push((p.display().to_string(), h)),
                        Err(e) => log::warn!("cannot hash {}: {e:#}", p.display()),
                    }
                }
            }
        }
    }
    let cfg_text =
        std::fs::read(config).with_context(|| format!("cannot read {}", config.display()))?;
    let prov = Provenance {
        tool: "tomofuse",
        version: env!("CARGO_PKG_VERSION"),
        git_commit: env!("TOMOFUSE_GIT_COMMIT"),
        rustc: env!("TOMOFUSE_RUSTC"),
        config_file: config.display().to_string(),
        config_sha256: sha256_hex(&cfg_text),
        resolved_config: cfg.clone(),
        profile: profile.clone(),
        seed: cfg.experiment.seed,
        cohort: cohort.name.clone(),
        n_cases: cohort.len(),
        input_hashes,
        threads: rayon::current_num_threads(),
    };
    write_json(&rd.path("manifest.json"), &prov)?;

    let ctx = common::Ctx {
        cfg: &cfg,
        rd: &rd,
        failures: Mutex::new(Vec::new()),
        cohort_key: common::cohort_key(&cohort, &cfg),
    };
    let mut report = Report::new(&format!("tomofuse: {}", cfg.experiment.name));
    report.push(Block::Paragraph(cfg.experiment.description.clone()));
    cohort_section(&mut report, &cohort);
    let results = match cfg.experiment.study {
        Study::Crswnp => Results::Crswnp(Box::new(crswnp::run(&ctx, &cohort, &mut report)?)),
        Study::Sap => Results::Sap(Box::new(sap::run(&ctx, &cohort, &mut report)?)),
    };
    let failures = ctx.failures.lock().map(|f| f.clone()).unwrap_or_default();
    if !failures.is_empty() {
        report.push(Block::Heading("Cases that failed and were skipped".into()));
        report.push(Block::Table {
            caption: format!("{} failure(s)", failures.len()),
            header: vec!["case".into(), "stage".into(), "reason".into()],
            rows: failures
                .iter()
                .map(|f| vec![f.case_id.clone(), f.stage.clone(), f.reason.clone()])
                .collect(),
        });
    }
    report.push(Block::Heading("Provenance".into()));
    report.push(Block::Pre(serde_json::to_string_pretty(&prov)?));
    write_json(
        &rd.path("metrics.json"),
        &Metrics {
            experiment: &cfg.experiment.name,
            profile: &profile,
            seed: cfg.experiment.seed,
            results: &results,
            failures: &failures,
        },
    )?;
    rundir::atomic_write(&rd.path("report.html"), report.to_html().as_bytes())?;
    print_summary(&results, &failures);
    eprintln!(
        "done in {:.1} s: {}",
        t0.elapsed().as_secs_f64(),
        rd.path("report.html").display()
    );
    Ok(root)
}

fn cohort_section(report: &mut Report, cohort: &tomofuse_cohort::Cohort) {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in &cohort.cases {
        let k = c
            .split
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "unassigned".into());
        let e = by.entry(k).or_default();
        e.0 += 1;
        if c.label == Some(true) {
            e.1 += 1;
        }
    }
    report.push(Block::Heading("Cohort".into()));
    report.push(Block::Table {
        caption: format!("{}: {} cases", cohort.name, cohort.len()),
        header: vec![
            "set".into(),
            "cases".into(),
            "positive".into(),
            "prevalence".into(),
        ],
        rows: by
            .iter()
            .map(|(k, (n, p))| {
                vec![
                    k.clone(),
                    n.to_string(),
                    p.to_string(),
                    format!("{:.1}%", 100.0 * *p as f64 / (*n).max(1) as f64),
                ]
            })
            .collect(),
    });
}

fn print_summary(results: &Results, failures: &[common::Failure]) {
    use summary::f3;
    match results {
        Results::Crswnp(r) => {
            println!(
                "{:<12} {:>4} {:>16} {:>22} {:>8} {:>8}",
                "set", "n", "Dice mean±SD", "AUC (95% CI)", "sens", "spec"
            );
            for s in &r.sets {
                let (auc, sens, spec) = match &s.classification {
                    Some(c) => (
                        format!(
                            "{:.3} ({:.3}-{:.3})",
                            c.auc,
                            c.auc_bootstrap.percentile.lower,
                            c.auc_bootstrap.percentile.upper
                        ),
                        f3(c.threshold_metrics.sensitivity.as_ref().map(|p| p.estimate)),
                        f3(c.threshold_metrics.specificity.as_ref().map(|p| p.estimate)),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                println!(
                    "{:<12} {:>4} {:>16} {:>22} {:>8} {:>8}",
                    s.set,
                    s.n,
                    format!("{}±{}", f3(s.dice_mean), f3(s.dice_sd)),
                    auc,
                    sens,
                    spec
                );
            }
        }
        Results::Sap(r) => {
            for s in &r.segmentation {
                println!(
                    "segmentation {:<10} n={:<4} Dice {}±{}",
                    s.set,
                    s.n,
                    f3(s.dice_mean),
                    f3(s.dice_sd)
                );
            }
            println!(
                "{:<22} {:>8} {:>10} {:>17} {:>12}",
                "model", "features", "test AUC", "95% CI", "p vs fused"
            );
            for m in &r.models {
                println!(
                    "{:<22} {:>8} {:>10.3} {:>17} {:>12}",
                    m.name,
                    m.features,
                    m.test_auc,
                    format!("{:.3}-{:.3}", m.auc_ci.0, m.auc_ci.1),
                    m.delong_p_vs_fused
                        .map(|p| format!("{p:.4}"))
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
    }
    if !failures.is_empty() {
        println!(
            "{} case failure(s) recorded (see report.html / metrics.json)",
            failures.len()
        );
    }
}
