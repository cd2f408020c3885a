//! `tomofuse run CONFIG [--out DIR] [--profile NAME] [--until models | --shard I/N]` and
//! `tomofuse merge RUN_DIR`.

use crate::experiment::{RunOptions, common::Shard};
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
    /// Process only shard I of N (0-based) of the per-case stages, then stop; `tomofuse merge`
    /// joins the shards. Without it, Slurm array (SLURM_ARRAY_TASK_ID/_MIN/_COUNT) and
    /// Kubernetes Indexed Job (JOB_COMPLETION_INDEX + TOMOFUSE_SHARD_COUNT) variables are used
    /// when present. See docs/scale-out.md.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Stop after this stage. `models`: train the cohort-level models the shards share (the
    /// U-Net; for SAP also the deep classifier), then stop.
    #[arg(long, value_name = "STAGE")]
    pub until: Option<String>,
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

pub fn run(args: Args) -> Result<()> {
    if args.print_config {
        let cfg = crate::experiment::config::ExperimentConfig::load(&args.config)?;
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
    let shard = match (&args.shard, until_models) {
        (Some(s), _) => Some(Shard::parse(s)?),
        (None, false) => {
            let s = Shard::from_env(|k| std::env::var(k).ok())?;
            if let Some(s) = s {
                log::info!(
                    "array job detected: shard {}/{} from the scheduler's environment",
                    s.index,
                    s.count
                );
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
            retry_failed: args.retry_failed,
        },
    )?;
    Ok(())
}

pub fn merge(args: MergeArgs) -> Result<()> {
    crate::experiment::merge(&args.run_dir)?;
    Ok(())
}
