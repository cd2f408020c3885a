//! `tomofuse validate-data MANIFEST`: checks every case of a real cohort before any work and
//! reports all problems at once (nnU-Net's "verify the dataset first").

use anyhow::{Result, bail};
use clap::Parser;
use std::path::PathBuf;
use tomofuse_cohort::{NiftiIo, validate_cohort};

#[derive(Parser, Debug)]
pub struct Args {
    /// Cohort manifest CSV (data-schemas/cohort-manifest.schema.json).
    pub manifest: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let report = validate_cohort(&args.manifest, &NiftiIo);
    print!("{report}");
    if !report.is_ok() {
        bail!(
            "{}: {} error(s) found; fix them before running an experiment",
            args.manifest.display(),
            report.n_errors()
        );
    }
    Ok(())
}
