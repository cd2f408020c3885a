//! `tomofuse run CONFIG [--out DIR] [--profile NAME] [--until models --shards N | --shard I]` and
//! `tomofuse merge RUN_DIR`.

use crate::experiment::{RunOptions, common::ShardRequest, networks::Networks};
use anyhow::{Result, bail};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// Experiment config (TOML; see data-schemas/experiment-config.schema.json).
    pub config: PathBuf,
    /// Run directory (default runs/<experiment>-<profile>). An existing one is resumed:
    /// finished stages and cases with the same inputs are skipped.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Size profile: tiny, default, paper, or one of the config's [profiles.*].
    #[arg(long)]
    pub profile: Option<String>,
    /// Run on this cohort manifest (CSV: case_id, image, mask, outcome and clinical columns)
    /// instead of the config's cohort; see docs/your-cohort.md.
    #[arg(long, value_name = "CSV")]
    pub manifest: Option<PathBuf>,
    /// Process only shard I (0-based) of the per-case stages, then stop; `tomofuse merge` joins
    /// the shards. The number of shards is the one the run directory was prepared with
    /// (`--until models --shards N`); `I/N` is accepted and N checked against it. Without it, a
    /// Slurm array task's own SLURM_ARRAY_TASK_ID, or a Kubernetes Indexed Job's
    /// JOB_COMPLETION_INDEX, is the index. See docs/scale-out.md.
    #[arg(long, value_name = "I[/N]")]
    pub shard: Option<String>,
    /// Stop after this stage. `models`: train the cohort-level models the shards share (the
    /// U-Net; for SAP also the deep classifier), then stop.
    #[arg(long, value_name = "STAGE")]
    pub until: Option<String>,
    /// With `--until models`: the number of shards the per-case stages will be split into,
    /// stored in run.json (every array task and the merge read it from there).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Recompute cases whose stored outcome is a failure (e.g. after fixing an input file).
    #[arg(long)]
    pub retry_failed: bool,
    /// Check the config (every profile) and print it resolved for `--profile` as JSON, with
    /// every default filled in; run nothing.
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Parser, Debug)]
pub struct MergeArgs {
    /// Run directory the shards wrote into.
    pub run_dir: PathBuf,
}

pub fn run(args: Args, nets: &dyn Networks) -> Result<()> {
    if args.print_config {
        let mut cfg = crate::experiment::config::ExperimentConfig::load(&args.config)?;
        if let Some(m) = &args.manifest {
            cfg = cfg.with_manifest(m)?;
        }
        let profile = args
            .profile
            .clone()
            .unwrap_or_else(|| cfg.cohort.profile.clone());
        let cfg = cfg.with_profile(&profile)?;
        let text = serde_json::to_string_pretty(&cfg)?;
        // A closed pipe (`| head`) is the reader's choice, not an error.
        return match writeln!(std::io::stdout().lock(), "{text}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => Ok(r?),
        };
    }
    let until_models = match args.until.as_deref() {
        None => false,
        Some("models") => true,
        Some(other) => bail!(
            "--until `{other}`: the only stage to stop after is `models` (the cohort-level models the shards share)"
        ),
    };
    if let Some(n) = args.shards {
        if !until_models {
            bail!(
                "--shards {n}: the number of shards is fixed when the run directory is prepared; use it with `--until models`"
            );
        }
        if n == 0 {
            bail!("--shards 0: need at least one shard");
        }
    }
    let shard = match (&args.shard, until_models) {
        (Some(s), _) => Some(ShardRequest::parse(s)?),
        (None, false) => {
            let s = ShardRequest::from_env(|k| std::env::var(k).ok())?;
            if let Some(s) = &s {
                log::info!("array job detected: shard {} from {}", s.index, s.origin);
            }
            s
        }
        (None, true) => None,
    };
    crate::experiment::run(
        &args.config,
        &RunOptions {
            out: args.out,
            profile: args.profile,
            shard,
            until_models,
            shards: args.shards,
            manifest: args.manifest,
            retry_failed: args.retry_failed,
        },
        nets,
    )?;
    Ok(())
}

pub fn merge(args: MergeArgs, nets: &dyn Networks) -> Result<()> {
    crate::experiment::merge(&args.run_dir, nets)?;
    Ok(())
}
