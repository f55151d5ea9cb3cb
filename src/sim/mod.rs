//! `clusterctl simulate`: the same `plan` and `exec::apply` the real
//! controller runs, against an in-memory Materialize with a virtual clock.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("{0}")]
    Scenario(String),
}

/// What the CLI passes in.
#[derive(Debug, Clone, Default)]
pub struct SimArgs {
    pub scenario: PathBuf,
    pub seed: Option<u64>,
    pub json: bool,
    pub timeline: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

/// Runs a scenario; returns the report to print on stdout.
pub fn run_cli(args: &SimArgs) -> Result<String, SimError> {
    Err(SimError::Scenario(format!(
        "{}: simulation not implemented yet",
        args.scenario.display()
    )))
}
