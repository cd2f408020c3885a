//! `tomofuse`: the command line. Each subcommand lives in `cmd/<name>.rs` as a clap `Args`
//! struct plus `run(args) -> anyhow::Result<()>`; this file only dispatches.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    // <subcommands: add one variant per line above this marker>
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Convert(a) => cmd::convert::run(a),
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
