//! `tomofuse run CONFIG [--out DIR] [--profile NAME]`.

use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
pub struct Args {
    /// Experiment config (TOML; see data-schemas/experiment-config.schema.json).
    pub config: PathBuf,
    /// Run directory (default runs/<experiment>-<profile>). An existing one is resumed:
    /// finished stages with the same inputs are skipped.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Size profile: tiny, default, paper, or one of the config's [profiles.*].
    #[arg(long)]
    pub profile: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    crate::experiment::run(&args.config, args.out.as_deref(), args.profile.as_deref())?;
    Ok(())
}
