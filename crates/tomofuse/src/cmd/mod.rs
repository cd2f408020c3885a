//! One module per subcommand.
pub mod convert;
pub mod inspect;
// <modules: add one `pub mod name;` per line above this marker>
