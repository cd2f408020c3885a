use thiserror::Error;

/// Errors of the fusion crate. Table errors name the file and the column (and the row when one
/// value is at fault) so a user can fix the input without reading code.
#[derive(Debug, Error)]
pub enum FusionError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write `{path}`: {reason}")]
    Write { path: String, reason: String },
    #[error("`{path}`: unsupported table format (expected .csv or .parquet)")]
    UnsupportedFormat { path: String },
    #[error("table spec `{path}`: {reason}")]
    Spec { path: String, reason: String },
    #[error("`{path}`: column `{column}` is declared but not present in the table")]
    MissingColumn { path: String, column: String },
    #[error(
        "`{path}`: column `{column}` is not described by the table spec (declare it, or list it in `ignore_columns`)"
    )]
    UnknownColumn { path: String, column: String },
    #[error("`{path}`: column `{column}` row {row}: expected {expected}, found `{found}`")]
    TypeMismatch {
        path: String,
        column: String,
        row: usize,
        expected: String,
        found: String,
    },
    #[error("`{path}`: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        path: String,
        column: String,
        expected: String,
        found: String,
    },
    #[error(
        "`{path}`: column `{column}`: case id `{id}` appears more than once (rows {first} and {second})"
    )]
    DuplicateId {
        path: String,
        column: String,
        id: String,
        first: usize,
        second: usize,
    },
    #[error("`{path}`: column `{column}` row {row}: missing value not allowed here")]
    MissingValue {
        path: String,
        column: String,
        row: usize,
    },
    #[error("`{path}`: {count} case id(s) of the clinical table are absent here, e.g. `{example}`")]
    MissingIds {
        path: String,
        count: usize,
        example: String,
    },
    #[error("`{path}`: {count} case id(s) are not in the clinical table, e.g. `{example}`")]
    ExtraIds {
        path: String,
        count: usize,
        example: String,
    },
    #[error("feature name `{name}` occurs in both `{first}` and `{second}`")]
    DuplicateFeature {
        name: String,
        first: String,
        second: String,
    },
    #[error(
        "{context}: single-class outcome ({positives} positive, {negatives} negative cases); a classifier needs both"
    )]
    SingleClass {
        context: String,
        positives: usize,
        negatives: usize,
    },
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument { name: &'static str, reason: String },
    #[error("length mismatch: {what} has {got} entries, expected {expected}")]
    LengthMismatch {
        what: String,
        got: usize,
        expected: usize,
    },
    #[error("unknown feature `{name}`")]
    UnknownFeature { name: String },
    #[error(
        "SHAP additivity violated for case {row}: contributions sum to {sum}, margin is {margin}"
    )]
    Additivity { row: usize, sum: f64, margin: f64 },
    #[error("xgboost: {0}")]
    Xgb(String),
    #[error("logistic regression: {0}")]
    Logistic(String),
    #[error("model file `{path}`: {reason}")]
    Model { path: String, reason: String },
    #[error(transparent)]
    Metrics(#[from] tomofuse_metrics::MetricsError),
    #[error("io error on `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<xgb::XGBError> for FusionError {
    fn from(e: xgb::XGBError) -> Self {
        FusionError::Xgb(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, FusionError>;
