//! `simulate --from-history`: reads a live Materialize (`db::history`,
//! read-only, a constant number of statements), builds the scenario
//! (`sim::history::build`, pure) and replays it in the simulator with the
//! usual flags. Writes nothing to the database; with `--out` the scenario
//! and its traces are written to files.

use std::path::PathBuf;

use super::{resolve, CommandError, Context};
use crate::sim::{self, history};

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    pub days: u32,
    /// Only this cluster (name or id).
    pub cluster: Option<String>,
    /// Write the scenario here (and its traces next to it).
    pub out: Option<PathBuf>,
    /// The simulator's flags (`scenario` is unused).
    pub sim: sim::SimArgs,
}

/// The replay's report, with how the scenario was built.
#[derive(Debug, Clone)]
pub struct Backtest {
    /// The simulator's report: text, or its JSON.
    pub report: String,
    pub json: bool,
    /// Approximations and signals that could not be read.
    pub notes: Vec<String>,
    pub clusters: usize,
    pub days: u32,
    pub out: Option<PathBuf>,
}

/// Reads, builds, (writes,) replays.
pub async fn backtest(ctx: &Context, o: &BacktestOptions) -> Result<Backtest, CommandError> {
    let mut backend = ctx.backend();
    let store = &ctx.store;
    let days = o.days;
    let mut live = backend
        .retrying("reading the history", async |c| {
            crate::db::history::read(c, store, days).await
        })
        .await?;
    if let Some(arg) = &o.cluster {
        let snap = crate::model::Snapshot {
            clusters: std::mem::take(&mut live.clusters),
            ..crate::model::Snapshot::default()
        };
        let target = resolve(&snap, arg, false)?;
        live.clusters = snap
            .clusters
            .into_iter()
            .filter(|c| c.id == target.id)
            .collect();
        live.buckets.retain(|b| b.cluster == target.id);
    }
    let trace_dir = match &o.out {
        Some(path) => format!(
            "{}.traces",
            path.file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "scenario".into())
        ),
        None => "from-history.traces".into(),
    };
    let built = history::build(
        &live,
        &history::Options {
            name: "from-history".into(),
            trace_dir,
        },
    )
    .map_err(CommandError::NotFound)?;
    // The simulator runs its own runtime: on a thread outside ours.
    let report = std::thread::scope(|scope| {
        scope
            .spawn(|| sim::run_built(&built, o.out.as_deref(), &o.sim))
            .join()
    })
    .map_err(|_| CommandError::Io("the simulation panicked (this is a bug)".into()))?
    .map_err(|e| CommandError::Io(e.to_string()))?;
    Ok(Backtest {
        report,
        json: o.sim.json,
        notes: built.notes,
        clusters: live.clusters.len(),
        days,
        out: o.out.clone(),
    })
}
