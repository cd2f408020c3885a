//! tomofuse-fusion: clinical tables joined with radiomics and deep-feature tables, feature
//! selection fitted on training data only, XGBoost (the real libxgboost through the `xgb`
//! crate) and logistic models, single-modality vs fused comparisons, the SAP clinical scores
//! (BISAP, Ranson at admission, MCTSI) and SHAP-based explanations.
//!
//! libxgboost is a shared library: `scripts/fetch-libxgboost.sh` puts it in `third_party/lib`
//! and this crate's build script gives test and example binaries an rpath to it.

pub mod cv;
pub mod dataset;
pub mod error;
pub mod explain;
pub mod logistic;
pub mod pipeline;
pub mod scores;
pub mod select;
pub mod synth;
pub mod table;
pub mod xgbm;

pub use dataset::{Dataset, Modality, check_two_classes};
pub use error::{FusionError, Result};
pub use explain::{Shap, Waterfall, gain_ranking, permutation_importance};
pub use pipeline::{
    FusedSelection, GroupFold, ModelReport, OuterCv, OuterFold, PipelineConfig, PooledExplanation,
    compare_modalities, fit_xgb, leave_one_group_out, outer_cross_validation,
};
pub use select::{Embedded, Selection, SelectionConfig, select};
pub use table::{ClinicalTable, FeatureTable, TableSpec, join, read_clinical};
pub use xgbm::{Matrix, XgbModel, XgbParams};
