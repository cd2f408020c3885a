use std::path::PathBuf;
use thiserror::Error;

use crate::manifest::Problem;

/// Errors of the cohort crate. File errors name the file; manifest errors carry every problem
/// found (line, column, case), not just the first.
#[derive(Debug, Error)]
pub enum CohortError {
    #[error(transparent)]
    Core(#[from] tomofuse_core::CoreError),
    #[error("invalid cohort parameter `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest {path}: missing required column `{column}` (header: {header})")]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        header: String,
    },
    #[error("manifest {path}: {} problem(s):\n{}", problems.len(), crate::manifest::format_problems(problems))]
    Manifest {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("image file {path}: {source}")]
    Image {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("invalid date `{text}`: {reason} (expected YYYY-MM-DD)")]
    Date { text: String, reason: &'static str },
    #[error("case `{id}`: {reason}")]
    Case { id: String, reason: String },
    #[error("no image IO available for {path}: build tomofuse-cohort with feature `io`")]
    NoIo { path: PathBuf },
}

pub type Result<T> = std::result::Result<T, CohortError>;
