//! One module per subcommand.
pub mod cohort;
pub mod convert;
pub mod fuse;
pub mod inspect;
pub mod radiomics;
pub mod resample;
pub mod run;
pub mod stats;
pub mod validate_data;
// <modules: add one `pub mod name;` per line above this marker>
