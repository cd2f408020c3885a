//! `tomofuse run CONFIG`: one experiment end to end, from a config file, into a run directory
//! with provenance, cached stages, per-case outputs, metrics and a self-contained report.

pub mod common;
pub mod config;
pub mod engine;
pub mod features;
pub mod models;
pub mod networks;
pub mod plots;
pub mod report;
pub mod rundir;
pub mod summary;

use anyhow::{Context, Result, bail};
use common::Mode;
use config::ExperimentConfig;
use networks::Networks;
use report::{Block, Report};
use rundir::{RunDir, hash_path, sha256_hex, write_json};
use serde::{Deserialize, Serialize};
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
pub type Results = engine::StudyResults;

#[derive(Debug, Serialize)]
struct Metrics<'a> {
    experiment: &'a str,
    profile: &'a str,
    seed: u64,
    results: &'a Results,
    failures: &'a [common::Failure],
}

/// What a run directory was created for (`run.json`): the merge step and shards read it back,
/// so every process of a cluster run uses exactly the same resolved config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    pub config_file: String,
    /// Folder that relative paths of the config (a cohort manifest) are resolved against.
    pub config_dir: PathBuf,
    pub config_sha256: String,
    pub profile: String,
    pub resolved_config: ExperimentConfig,
    /// sha256 of the resolved config: what shards and the merge step must agree on.
    pub resolved_sha256: String,
    /// The number of shards the per-case stages are split into (`--until models --shards N`);
    /// fixed here so that an array task needs only its own index.
    #[serde(default)]
    pub shards: Option<usize>,
}

/// A finished shard (`shards/shard-III-of-NNN.json`): written last, so its presence means every
/// case of the shard has a stored outcome.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardMarker {
    pub shard: common::Shard,
    pub resolved_sha256: String,
    pub cases: Vec<String>,
    pub failures: Vec<common::Failure>,
    pub provenance: serde_json::Value,
}

/// Options of `tomofuse run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub out: Option<PathBuf>,
    pub profile: Option<String>,
    pub shard: Option<common::ShardRequest>,
    /// Stop after the cohort-level models the shards share (`--until models`).
    pub until_models: bool,
    /// With `until_models`: the number of shards to fix in `run.json`.
    pub shards: Option<usize>,
    /// A cohort manifest replacing the config's cohort (`--manifest`).
    pub manifest: Option<PathBuf>,
    pub retry_failed: bool,
}

/// Runs the experiment in `config` (with `profile` overrides) into `out` (default
/// `runs/<name>-<profile>`), with `nets` for every network. Returns the run directory.
pub fn run(config: &Path, opts: &RunOptions, nets: &dyn Networks) -> Result<PathBuf> {
    let mut cfg0 = ExperimentConfig::load(config)?;
    if let Some(m) = &opts.manifest {
        cfg0 = cfg0.with_manifest(m)?;
    }
    let profile = opts
        .profile
        .clone()
        .unwrap_or_else(|| cfg0.cohort.profile.clone());
    let cfg = cfg0.with_profile(&profile).with_context(|| {
        format!(
            "invalid experiment config {}: profile `{profile}`",
            config.display()
        )
    })?;
    let root = opts.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", cfg.experiment.name, profile))
    });
    let cfg_text =
        std::fs::read(config).with_context(|| format!("cannot read {}", config.display()))?;
    let config_dir = config.parent().unwrap_or(Path::new("."));
    let config_dir = std::fs::canonicalize(if config_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        config_dir
    })
    .with_context(|| format!("cannot resolve {}", config_dir.display()))?;
    let mut spec = RunSpec {
        config_file: config.display().to_string(),
        config_dir,
        config_sha256: sha256_hex(&cfg_text),
        profile,
        resolved_sha256: sha256_hex(serde_json::to_string(&cfg)?.as_bytes()),
        resolved_config: cfg,
        shards: opts.shards,
    };
    if opts.shard.is_some() && opts.until_models {
        bail!("--shard and --until cannot be combined");
    }
    let rd = RunDir::create(&root)?;
    let spec_path = rd.path("run.json");
    let old: Option<RunSpec> = match std::fs::read(&spec_path) {
        Ok(b) => Some(
            serde_json::from_slice(&b)
                .with_context(|| format!("cannot parse {}", spec_path.display()))?,
        ),
        Err(_) => None,
    };
    let mode = if let Some(req) = &opts.shard {
        // Shards join a directory prepared by `--until models`; a different config there
        // would silently mix two experiments, and the shard count is the directory's.
        let Some(old) = old else {
            bail!(
                "{}: {} has no run.json: run `tomofuse run CONFIG --out {} --until models --shards N` first",
                req.origin,
                root.display(),
                root.display()
            );
        };
        if old.resolved_sha256 != spec.resolved_sha256 {
            bail!(
                "{} was prepared for a different config (resolved sha256 {} vs {} now); use the same config and profile, or another --out",
                root.display(),
                &old.resolved_sha256[..12],
                &spec.resolved_sha256[..12]
            );
        }
        let shard = req.resolve(old.shards, &spec_path)?;
        Mode::Shard(shard)
    } else {
        if let Some(old) = &old {
            if spec.shards.is_none() {
                spec.shards = old.shards;
            } else if old.shards != spec.shards
                && let Some(done) = finished_shards(&rd)
                    .into_iter()
                    .find(|s| Some(s.count) != spec.shards)
            {
                bail!(
                    "--shards {}: {} already holds finished shards of another partition (shard {}/{}); clear {} or use another --out",
                    spec.shards.unwrap_or_default(),
                    root.display(),
                    done.index,
                    done.count,
                    rd.path("shards").display()
                );
            }
        }
        write_json(&spec_path, &spec)?;
        if opts.until_models {
            Mode::UntilModels
        } else {
            Mode::Full
        }
    };
    execute(&rd, &spec, mode, opts.retry_failed, nets)
}

/// `tomofuse merge RUN_DIR`: checks that every shard finished with the same config, that no
/// case is in two shards and none is missing, then runs the cohort-level stages.
pub fn merge(root: &Path, nets: &dyn Networks) -> Result<PathBuf> {
    let rd = RunDir::create(root)?;
    let spec_path = rd.path("run.json");
    let spec: RunSpec = serde_json::from_slice(
        &std::fs::read(&spec_path)
            .with_context(|| format!("{} is not a run directory (no run.json)", root.display()))?,
    )
    .with_context(|| format!("cannot parse {}", spec_path.display()))?;
    let mut cohort = common::load_cohort(&spec.resolved_config, &spec.config_dir)?;
    common::assign_splits(&spec.resolved_config, &mut cohort)?;
    check_shards(&rd, &spec, &cohort)?;
    execute(&rd, &spec, Mode::Merge, false, nets)
}

/// The shards whose marker is in `shards/` (finished), read from the file names.
fn finished_shards(rd: &RunDir) -> Vec<common::Shard> {
    let Ok(entries) = std::fs::read_dir(rd.path("shards")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let tag = name.strip_prefix("shard-")?.strip_suffix(".json")?;
            let (i, n) = tag.split_once("-of-")?;
            Some(common::Shard {
                index: i.parse().ok()?,
                count: n.parse().ok()?,
            })
        })
        .collect()
}

/// Every problem of the shards at once, or Ok.
fn check_shards(rd: &RunDir, spec: &RunSpec, cohort: &tomofuse_cohort::Cohort) -> Result<()> {
    let dir = rd.path("shards");
    let mut markers: Vec<(String, ShardMarker)> = Vec::new();
    let mut problems = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("no shard has finished: {} does not exist", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("shard-") && name.ends_with(".json")) {
            continue;
        }
        match std::fs::read(e.path())
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(serde_json::from_slice::<ShardMarker>(&b)?))
        {
            Ok(m) => markers.push((name, m)),
            Err(err) => problems.push(format!("{name}: unreadable shard marker: {err:#}")),
        }
    }
    if markers.is_empty() && problems.is_empty() {
        bail!("no shard has finished in {}", dir.display());
    }
    // The partition is run.json's; a directory prepared before `--shards` existed takes the
    // one its markers agree on.
    let counts: std::collections::BTreeSet<usize> =
        markers.iter().map(|(_, m)| m.shard.count).collect();
    let n = match spec.shards {
        Some(n) => Some(n),
        None if counts.len() == 1 => counts.iter().next().copied(),
        None => None,
    };
    if let Some(n) = n {
        for (name, m) in &markers {
            if m.shard.count != n {
                problems.push(format!(
                    "{name}: a shard of another partition ({} shards; run.json says {n}): remove it",
                    m.shard.count
                ));
            }
        }
    } else if counts.len() > 1 {
        problems.push(format!(
            "shards of different partitions are mixed (N = {counts:?}): clear shards/ and rerun with one N"
        ));
    }
    let mut unfinished = Vec::new();
    if let Some(n) = n {
        for i in 0..n {
            if !markers
                .iter()
                .any(|(_, m)| m.shard.index == i && m.shard.count == n)
            {
                unfinished.push(i.to_string());
                problems.push(format!(
                    "shard {i}/{n} has not finished (no shards/shard-{}.json)",
                    common::Shard { index: i, count: n }.tag()
                ));
            }
        }
    }
    if !unfinished.is_empty() {
        problems.push(format!(
            "run the unfinished shard(s) alone, e.g. `sbatch --array={} ...` or `tomofuse run CONFIG --out {} --shard I`, then merge again",
            unfinished.join(","),
            rd.root.display()
        ));
    }
    let markers: Vec<(String, ShardMarker)> = markers
        .into_iter()
        .filter(|(_, m)| n.is_none_or(|n| m.shard.count == n))
        .collect();
    let mut owner: std::collections::BTreeMap<&str, &str> = Default::default();
    for (name, m) in &markers {
        if m.resolved_sha256 != spec.resolved_sha256 {
            problems.push(format!(
                "{name}: run with a different config (resolved sha256 {} vs {})",
                &m.resolved_sha256[..12.min(m.resolved_sha256.len())],
                &spec.resolved_sha256[..12]
            ));
        }
        for c in &m.cases {
            if let Some(prev) = owner.insert(c.as_str(), name.as_str()) {
                problems.push(format!("case {c} is in two shards: {prev} and {name}"));
            }
        }
    }
    let ids: std::collections::BTreeSet<&str> =
        cohort.cases.iter().map(|c| c.id.as_str()).collect();
    let missing: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !owner.contains_key(id))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} case(s) of the cohort are in no finished shard: {}{}",
            missing.len(),
            missing[..missing.len().min(8)].join(", "),
            if missing.len() > 8 { ", ..." } else { "" }
        ));
    }
    for id in owner.keys() {
        if !ids.contains(id) {
            problems.push(format!("case {id} is in a shard but not in the cohort"));
        }
    }
    if problems.is_empty() {
        log::info!(
            "{} shard(s) complete and consistent: {} cases",
            markers.len(),
            owner.len()
        );
        Ok(())
    } else {
        bail!(
            "cannot merge {}:\n  - {}",
            rd.root.display(),
            problems.join("\n  - ")
        )
    }
}

/// Runs the stages `mode` asks for, in the run directory described by `spec`.
fn execute(
    rd: &RunDir,
    spec: &RunSpec,
    mode: Mode,
    retry_failed: bool,
    nets: &dyn Networks,
) -> Result<PathBuf> {
    let t0 = std::time::Instant::now();
    let cfg = &spec.resolved_config;
    let root = rd.root.clone();
    let log_name = match mode {
        Mode::Shard(s) => format!("logs/shard-{}.log", s.tag()),
        Mode::Merge => "logs/merge.log".into(),
        Mode::UntilModels => "logs/models.log".into(),
        Mode::Full => "logs/run.log".into(),
    };
    if let Err(e) = crate::logging::copy_to_file(&rd.path(&log_name)) {
        log::warn!("no log file {log_name}: {e:#}");
    }
    plots::set_dir(&rd.path("figures"));
    log::info!(
        "experiment {} (profile {}, seed {}, {mode:?}) -> {}",
        cfg.experiment.name,
        spec.profile,
        cfg.experiment.seed,
        root.display()
    );

    let mut cohort = common::load_cohort(cfg, &spec.config_dir).with_context(|| {
        format!(
            "{}: cohort.source = {:?}{}",
            spec.config_file,
            cfg.cohort.source,
            cfg.cohort
                .manifest
                .as_ref()
                .map(|m| format!(", cohort.manifest = {m:?}"))
                .unwrap_or_default()
        )
    })?;
    common::assign_splits(cfg, &mut cohort)?;
    let mut input_hashes = Vec::new();
    if cfg.cohort.source == "manifest" {
        let m = spec
            .config_dir
            .join(cfg.cohort.manifest.as_deref().unwrap_or_default());
        input_hashes.push((m.display().to_string(), hash_path(&m)?));
        for (pos, c) in cohort.cases.iter().enumerate() {
            if let Mode::Shard(s) = mode
                && !s.contains(pos)
            {
                continue;
            }
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
    let prov = Provenance {
        tool: "tomofuse",
        version: env!("CARGO_PKG_VERSION"),
        git_commit: env!("TOMOFUSE_GIT_COMMIT"),
        rustc: env!("TOMOFUSE_RUSTC"),
        config_file: spec.config_file.clone(),
        config_sha256: spec.config_sha256.clone(),
        resolved_config: cfg.clone(),
        profile: spec.profile.clone(),
        seed: cfg.experiment.seed,
        cohort: cohort.name.clone(),
        n_cases: cohort.len(),
        input_hashes,
        threads: rayon::current_num_threads(),
    };
    if !matches!(mode, Mode::Shard(_)) {
        write_json(&rd.path("manifest.json"), &prov)?;
    }

    let ctx = common::Ctx {
        cfg,
        rd,
        config_dir: &spec.config_dir,
        failures: Mutex::new(Vec::new()),
        cohort_key: common::cohort_key(&cohort, cfg),
        mode,
        retry_failed,
        plan: std::sync::OnceLock::new(),
        nets,
    };
    let plan = common::plan_stage(&ctx, &cohort)
        .with_context(|| format!("{}: [plan]", spec.config_file))?;
    let _ = ctx.plan.set(plan);
    let mut report = Report::new(&format!("tomofuse: {}", cfg.experiment.name));
    report.push(Block::Paragraph(cfg.experiment.description.clone()));
    cohort_section(&mut report, &cohort);
    let results = engine::run(&ctx, &cohort, &mut report)
        .with_context(|| format!("running {}", spec.config_file))?;
    let mut failures = ctx.failures.lock().map(|f| f.clone()).unwrap_or_default();
    // One order whatever the sharding: by case, then stage.
    failures.sort_by(|a, b| (&a.case_id, &a.stage).cmp(&(&b.case_id, &b.stage)));
    failures.dedup();
    let Some(results) = results else {
        if let Mode::Shard(s) = mode {
            let cases: Vec<String> = cohort
                .cases
                .iter()
                .enumerate()
                .filter(|(pos, _)| s.contains(*pos))
                .map(|(_, c)| c.id.clone())
                .collect();
            let n = cases.len();
            write_json(
                &rd.path(&format!("shards/shard-{}.json", s.tag())),
                &ShardMarker {
                    shard: s,
                    resolved_sha256: spec.resolved_sha256.clone(),
                    cases,
                    failures: failures.clone(),
                    provenance: serde_json::to_value(&prov)?,
                },
            )?;
            eprintln!(
                "shard {}/{} done in {:.1} s: {n} cases, {} failure(s); merge with `tomofuse merge {}` once every shard has finished",
                s.index,
                s.count,
                t0.elapsed().as_secs_f64(),
                failures.len(),
                root.display()
            );
        } else {
            eprintln!(
                "segmentation model ready in {:.1} s: {}",
                t0.elapsed().as_secs_f64(),
                root.display()
            );
        }
        return Ok(root);
    };
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
            profile: &spec.profile,
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

fn print_summary(r: &Results, failures: &[common::Failure]) {
    use summary::f3;
    println!(
        "{:<12} {:>4} {:>16} {:>22} {:>8} {:>8}",
        "set", "n", "Dice mean±SD", "AUC (95% CI)", "sens", "spec"
    );
    for s in &r.sets {
        let (auc, sens, spec) = match &s.classification {
            Some(c) => (
                format!(
                    "{:.3} ({:.3}-{:.3})",
                    c.auc, c.auc_bootstrap.percentile.lower, c.auc_bootstrap.percentile.upper
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
    if let Some(m) = &r.models {
        println!("models evaluated: {}", m.evaluation);
        println!(
            "{:<22} {:>8} {:>10} {:>17} {:>12}",
            "model", "features", "AUC", "95% CI", "p vs fused"
        );
        for m in &m.models {
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
        for f in m.leave_one_centre_out.iter().chain(&m.folds) {
            let auc = |m: &str| {
                f.test_auc
                    .get(m)
                    .filter(|a| a.is_finite())
                    .map_or("-".into(), |a| format!("{a:.3}"))
            };
            println!(
                "{} held out (n={}): fused {}, clinical {}, radiomics {}, deep {}",
                f.centre,
                f.n_test,
                auc("xgb_fused"),
                auc("xgb_clinical"),
                auc("xgb_radiomics"),
                auc("xgb_deep"),
            );
        }
    }
    if !failures.is_empty() {
        println!(
            "{} case failure(s) recorded (see report.html / metrics.json)",
            failures.len()
        );
    }
}
