//! `tomofuse`: the command line. Each subcommand lives in the orchestrator's `cmd/<name>.rs`
//! (crate `tomofuse`) as a clap `Args` struct plus `run(args) -> anyhow::Result<()>`; this file
//! only dispatches, and hands the commands that train or run networks the candle-backed
//! [`networks::CandleNetworks`].

mod networks;

/// mimalloc keeps freed memory for reuse. glibc's malloc unmaps every large block on free, so
/// each training step's tensors (tens of MB each) came back as fresh pages: page faults,
/// zeroing and TLB shootdowns cost about an eighth of a U-Net step (benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tomofuse::{cmd, logging, threads};

#[derive(Parser)]
#[command(
    name = "tomofuse",
    version,
    about = "CT-based clinical prediction models: IO, resampling, 3D segmentation, IBSI radiomics, deep features, fusion and statistics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print shape, geometry (incl. the RAS affine) and intensity statistics of an image.
    Inspect(cmd::inspect::Args),
    /// Convert DICOM/NRRD/NIfTI to NIfTI, or rasterise an RTSTRUCT ROI to a NIfTI mask.
    Convert(cmd::convert::Args),
    /// Run an experiment end to end (cohort, segmentation, features, models, statistics, report).
    Run(cmd::run::Args),
    /// Join the shards of a sharded run (checks every shard finished with the same config, no
    /// case twice, none missing), then run the cohort-level stages: models, statistics, report.
    Merge(cmd::run::MergeArgs),
    /// Check every case of a cohort manifest before any work; report all problems at once.
    ValidateData(cmd::validate_data::Args),
    /// ROC/AUC with bootstrap and DeLong CIs, calibration, decision curve and paired DeLong test from a predictions CSV.
    Stats(cmd::stats::Args),
    /// Resample an image (or mask) to a new spacing or onto a reference grid, on CPU or CUDA.
    Resample(cmd::resample::Args),
    /// IBSI radiomics features of an image region (one case, or a batch from a manifest).
    Radiomics(cmd::radiomics::Args),
    /// Train and evaluate XGBoost on joined clinical + feature tables (fused vs single modalities, SHAP).
    Fuse(cmd::fuse::Args),
    /// Built-in cohorts as files: `cohort export` writes images, masks and manifest.csv.
    Cohort(cmd::cohort::Args),
    // <subcommands: add one variant per line above this marker>
}

fn main() -> ExitCode {
    let budget = threads::init();
    logging::init();
    log::debug!("{} threads ({})", budget.threads, budget.source);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Run(a) => cmd::run::run(a, &networks::CandleNetworks),
        Command::Merge(a) => cmd::run::merge(a, &networks::CandleNetworks),
        Command::ValidateData(a) => cmd::validate_data::run(a),
        Command::Stats(a) => cmd::stats::run(a),
        Command::Resample(a) => cmd::resample::run(a),
        Command::Radiomics(a) => cmd::radiomics::run(a),
        Command::Fuse(a) => cmd::fuse::run(a),
        Command::Cohort(a) => cmd::cohort::run(a),
        // <dispatch: add one arm per line above this marker>
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
