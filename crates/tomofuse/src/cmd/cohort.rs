//! `tomofuse cohort export`: a built-in synthetic cohort written as real-cohort files (images,
//! masks, `manifest.csv` with every clinical column), optionally on heterogeneous scanner-like
//! grids, so the manifest path of every study can be exercised without data.

use crate::experiment::config::ExperimentConfig;
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tomofuse_cohort::{ExportFormat, ExportOptions, Profile};

#[derive(Parser, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: CohortCommand,
}

#[derive(Subcommand, Debug)]
pub enum CohortCommand {
    /// Write a built-in cohort as image and mask files plus manifest.csv.
    Export(ExportArgs),
}

#[derive(Parser, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["study", "config"])))]
pub struct ExportArgs {
    /// Built-in cohort: `sap` or `abdomen` (abdominal CT, pancreas), `crswnp` or `sinus` (sinus CT).
    #[arg(long, value_parser = ["sap", "crswnp", "abdomen", "sinus"])]
    pub study: Option<String>,
    /// Take the study, seed and profile from an experiment config instead: the exported
    /// cohort is then exactly the one `tomofuse run CONFIG` generates.
    #[arg(long, conflicts_with = "study")]
    pub config: Option<PathBuf>,
    /// Size profile: tiny, default or paper (default: the config's, else `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Generator seed (default: the config's `experiment.seed`; required with --study).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (created; must be empty or absent).
    #[arg(long)]
    pub out: PathBuf,
    /// Give each case a scanner-like grid: in-plane spacing and slice thickness varied, axes
    /// flipped or permuted as real series are stored (LPS/RAS, feet-first).
    #[arg(long)]
    pub heterogeneous: bool,
    /// File format of images and masks.
    #[arg(long, default_value = "nifti", value_parser = ["nifti", "dicom"])]
    pub format: String,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        CohortCommand::Export(a) => export(a),
    }
}

fn export(a: ExportArgs) -> Result<()> {
    let (study, seed, profile) = match (&a.config, &a.study) {
        (Some(c), _) => {
            let cfg = ExperimentConfig::load(c)?;
            let generator = cfg.cohort.generator.clone().with_context(|| {
                format!(
                    "{}: cohort.generator is not set (abdomen or sinus)",
                    c.display()
                )
            })?;
            (
                generator,
                a.seed.unwrap_or(cfg.experiment.seed),
                a.profile.clone().unwrap_or(cfg.cohort.profile.clone()),
            )
        }
        (None, Some(s)) => {
            let seed = a
                .seed
                .context("--study needs --seed (or use --config to take the experiment's seed)")?;
            (
                s.clone(),
                seed,
                a.profile.clone().unwrap_or("default".into()),
            )
        }
        (None, None) => bail!("give --study or --config"),
    };
    let format: ExportFormat = a
        .format
        .parse()
        .with_context(|| format!("--format {}", a.format))?;
    if a.out.exists()
        && std::fs::read_dir(&a.out)
            .with_context(|| format!("--out {}", a.out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "--out {}: the folder is not empty; choose a new one",
            a.out.display()
        );
    }
    let p = Profile::parse(&profile).with_context(|| format!("--profile {profile}"))?;
    let cohort = tomofuse_cohort::builtin(&study, p, seed)?;
    let t0 = std::time::Instant::now();
    let summary = tomofuse_cohort::export_cohort(
        &cohort,
        &a.out,
        &ExportOptions {
            heterogeneous: a.heterogeneous,
            format,
            seed,
        },
    )?;
    let mut orientations: Vec<&str> = summary
        .cases
        .iter()
        .map(|c| c.axis_codes.as_str())
        .collect();
    orientations.sort_unstable();
    orientations.dedup();
    eprintln!(
        "{} {} cases (profile {profile}, seed {seed}{}) in {:.1} s: {}\n  stored orientations: {}",
        summary.cases.len(),
        study,
        if a.heterogeneous {
            ", heterogeneous grids"
        } else {
            ""
        },
        t0.elapsed().as_secs_f64(),
        summary.manifest.display(),
        orientations.join(", ")
    );
    Ok(())
}
