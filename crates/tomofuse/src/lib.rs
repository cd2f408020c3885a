//! tomofuse: the experiment orchestrator behind the `tomofuse` command line (crate
//! `tomofuse-cli`). It wires the pipeline crates into stages, caches them and records
//! failures; it owns no algorithm. Networks are reached only through the traits in
//! [`experiment::networks`], so this crate depends on neither candle nor rand.

pub mod cmd;
pub mod experiment;
pub mod logging;
pub mod threads;
