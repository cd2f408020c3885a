//! Cohorts for tomofuse.
//!
//! * Built-in synthetic cohorts, deterministic in a seed, with a documented mechanism linking
//!   anatomy, pathology, clinical variables and outcome (docs/cohorts.md):
//!   [`sinus_cohort`] (CRSwNP endotype, MTLNet study) and [`abdomen_cohort`] (severe acute
//!   pancreatitis, multimodal study), at [`Profile`] sizes `tiny`, `default` and `paper`.
//! * Real cohorts from a CSV manifest ([`read_manifest`]), validated case by case before any
//!   work with every problem reported at once ([`validate_cohort`]).
//! * [`write_cohort`] writes any cohort as image/mask files plus a manifest, so the pipeline
//!   runs unchanged on files.
//! * [`export_cohort`] (feature `io`) writes a cohort as a realistic real cohort: optionally
//!   each case on its own scanner-like grid (spacing, LPS/RAS/LAS storage, slice order).
//! * Masks stored in another axis order on the image's voxel centres (a LAS label map for an
//!   LPS DICOM series) are reoriented exactly on load; validation notes it ([`MaskGrid`]).
//! * Clinical [`scores`] (SIRS, BISAP, Ranson, MCTSI) computed from the clinical columns.
//!
//! Images are rendered lazily: a synthetic [`Case`] holds only its generating variables until
//! [`Case::load`] or [`Cohort::materialize`] renders it (rayon across cases).

pub mod abdomen;
pub mod case;
pub mod date;
pub mod error;
#[cfg(feature = "io")]
pub mod export;
pub mod io;
pub mod manifest;
pub mod render;
pub mod scores;
pub mod sinus;
pub mod synth;

pub use abdomen::{AbdomenConfig, AbdomenSpec, abdomen_cohort, abdomen_spec};
pub use case::{
    Case, ClinicalValue, Cohort, ImageIo, Loaded, MaskGrid, Source, Split, Study, fit_mask_to_image,
};
pub use date::Date;
pub use error::{CohortError, Result};
#[cfg(feature = "io")]
pub use export::{
    ExportFormat, ExportOptions, ExportSummary, ExportedCase, ScannerGrid, export_cohort,
    export_cohort_with, scanner_grid, to_scanner_grid,
};
pub use io::MemoryIo;
#[cfg(feature = "io")]
pub use io::NiftiIo;
#[cfg(feature = "io")]
pub use manifest::validate_manifest_files;
pub use manifest::{
    Manifest, Problem, Report, Severity, check_cohort, parse_manifest, read_manifest,
    validate_cohort, write_cohort,
};
pub use sinus::{SINUS_UNITS, SinusConfig, SinusSpec, sinus_cohort, sinus_spec};
pub use synth::{Profile, Spec};

/// The built-in cohort of a study at a profile: `"sinus"` or `"sap"`.
pub fn builtin(study: &str, profile: Profile, seed: u64) -> Result<Cohort> {
    match study {
        "sinus" | "crswnp" => sinus_cohort(&SinusConfig::profile(profile, seed)),
        "sap" | "abdomen" | "pancreas" => abdomen_cohort(&AbdomenConfig::profile(profile, seed)),
        other => Err(CohortError::Config {
            field: "study",
            reason: format!("unknown built-in cohort `{other}` (expected sinus or sap)"),
        }),
    }
}
