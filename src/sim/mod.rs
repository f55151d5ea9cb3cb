//! `clusterctl simulate`: the same `plan` and `exec::apply` the real
//! controller runs, against an in-memory Materialize with a virtual clock.
//!
//! The data flow mirrors the product's: `scenario` (the file: sizes, clusters,
//! workloads, strategy rows) → `env` (the simulated Materialize: replicas
//! hydrating or crash-looping, queries arriving and waiting) → `engine` (the
//! tick loop: snapshot, `plan::plan`, `exec::apply` on `SimBackend`) →
//! `report` (credits, baselines, availability, waits; text or JSON) and
//! `plot` (an SVG timeline per cluster). Nothing here decides what a
//! strategy would do: that is always the product's own code.

use std::path::PathBuf;

use thiserror::Error;

pub mod engine;
pub mod env;
pub mod plot;
pub mod report;
pub mod scenario;

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures and ids
mod behaviour_tests;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures
mod tests;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("{0}")]
    Scenario(String),
    #[error("{0}")]
    Io(String),
    #[error("simulation engine: {0}")]
    Engine(String),
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
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // the files the user names
pub fn run_cli(args: &SimArgs) -> Result<String, SimError> {
    let sc = scenario::load(&args.scenario, args.seed).map_err(|e| SimError::Scenario(e.0))?;
    let (run, rep) = match &args.timeline {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| SimError::Io(format!("{}: cannot create: {e}", path.display())))?;
            let mut w = std::io::BufWriter::new(file);
            let run = engine::run(&sc, false, Some(&mut w))?;
            std::io::Write::flush(&mut w)
                .map_err(|e| SimError::Io(format!("{}: {e}", path.display())))?;
            let rep = report::build(&sc, &run);
            (run, rep)
        }
        None => {
            let run = engine::run(&sc, false, None)?;
            let rep = report::build(&sc, &run);
            (run, rep)
        }
    };
    if let Some(path) = &args.plot {
        let svg = plot::render(&sc, &run, &rep)?;
        std::fs::write(path, svg)
            .map_err(|e| SimError::Io(format!("{}: cannot write: {e}", path.display())))?;
    }
    if args.json {
        let mut s = serde_json::to_string_pretty(&rep)
            .map_err(|e| SimError::Engine(format!("cannot render JSON: {e}")))?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(report::text(&rep))
    }
}

/// Runs a scenario file and returns the report (for tests and the benchmark).
pub fn simulate(sc: &scenario::Scenario, exact: bool) -> Result<report::Report, SimError> {
    let run = engine::run(sc, exact, None)?;
    Ok(report::build(sc, &run))
}
