//! `simulate --from-history`: reads a live Materialize (`db::history`,
//! read-only, a constant number of statements), builds the scenario
//! (`sim::history::build`, pure) and replays it in the simulator with the
//! usual flags. Writes nothing to the database (`--create-replica`, which
//! every command takes, creates and drops its temporary replica around the
//! run); with `--out` the scenario and its traces are written to files.

use std::path::PathBuf;

use super::session::TEMP_PREFIX;
use super::{resolve, CommandError, Context};
use crate::sim::history::LiveHistory;
use crate::sim::{self, history};

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    pub days: u32,
    /// Only this cluster (name or id).
    pub cluster: Option<String>,
    /// Write the scenario here (and its traces next to it).
    pub out: Option<Out>,
    /// The simulator's flags (`scenario` is unused).
    pub sim: sim::SimArgs,
}

/// `--out`, checked by [`Out::check`] before anything is connected to: a
/// mistyped path is found before the history is read and before
/// `--create-replica` makes a replica.
#[derive(Debug, Clone)]
pub struct Out {
    pub path: PathBuf,
    /// The file exists: it will be overwritten, and the output says so.
    pub existed: bool,
}

impl Out {
    /// Whether the scenario can be written to `path` ([`sim::check_out`]).
    pub fn check(path: PathBuf) -> Result<Out, CommandError> {
        let existed = sim::check_out(&path).map_err(|e| CommandError::Io(e.to_string()))?;
        Ok(Out { path, existed })
    }
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
    /// `out` existed before and was overwritten.
    pub overwrote: bool,
}

/// Reads, builds, (writes,) replays.
pub async fn backtest(ctx: &Context, o: &BacktestOptions) -> Result<Backtest, CommandError> {
    let out = o.out.as_ref().map(|o| o.path.as_path());
    let mut backend = ctx.backend();
    let store = &ctx.store;
    let days = o.days;
    let mut live = match backend
        .retrying("reading the history", async |c| {
            crate::db::history::read(c, store, days).await
        })
        .await
    {
        Ok(live) => live,
        Err(e) => return Err(backend.explain_missing(e).await.into()),
    };
    leave_out_temporary_replicas(&mut live);
    // Resolved by the session check before the read (no statement more).
    live.session_cluster = ctx.snapshot.exec_cluster.clone();
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
    let trace_dir = match out {
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
            // `--days` is the window read here, not the replay's.
            replay: sim::scenario::Overrides {
                days: None,
                ..sim::overrides_of(&o.sim)
            },
        },
    )
    .map_err(CommandError::NotFound)?;
    // The simulator runs its own runtime: on a thread outside ours, awaited
    // (a signal meanwhile stops the command, and its temporary replica is
    // dropped: a join blocked our runtime, and the replica was left).
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (args, path) = (o.sim.clone(), out.map(std::path::Path::to_path_buf));
    std::thread::spawn(move || {
        let report = sim::run_built(&built, path.as_deref(), &args);
        let _ = tx.send((report, built));
    });
    let (report, built) = rx
        .await
        .map_err(|_| CommandError::Io("the simulation panicked (this is a bug)".into()))?;
    let (report, parsed) = report.map_err(|e| CommandError::Io(e.to_string()))?;
    let mut notes = built.notes;
    notes.extend(parsed);
    Ok(Backtest {
        report,
        json: o.sim.json,
        notes,
        clusters: live.clusters.len(),
        days,
        out: out.map(std::path::Path::to_path_buf),
        overwrote: o.out.as_ref().is_some_and(|o| o.existed),
    })
}

/// The temporary replica `--create-replica` puts on the session cluster
/// for this run (or one a killed run left behind) is not part of the
/// fleet: replayed, it would run for the whole window and its credits
/// would be counted. Left out of the replicas and of the start-up and
/// memory samples and OOM kills, by the prefix every temporary replica's
/// name has.
fn leave_out_temporary_replicas(live: &mut LiveHistory) {
    let temporary = |name: &str| name.starts_with(TEMP_PREFIX);
    for c in &mut live.clusters {
        c.replicas.retain(|r| !temporary(&r.name));
    }
    live.hydrations.retain(|s| !temporary(&s.replica));
    live.memory.retain(|s| !temporary(&s.replica));
    live.ooms.retain(|s| !temporary(&s.replica));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, ClusterId, Replica, Size};
    use crate::sim::history::{HydrationSample, MemorySample, OomSample};

    #[test]
    fn temporary_replicas_are_left_out() {
        let replica = |name: &str| Replica {
            id: format!("r-{name}"),
            name: name.into(),
            size: Some(Size("25cc".into())),
            hydrated: true,
            crash: Default::default(),
            owner_id: None,
            since: None,
            objects: None,
            offline: false,
        };
        let temp = format!("{TEMP_PREFIX}1700000000_host_42__");
        let mut ops = Cluster::empty(ClusterId("u1".into()), "ops");
        ops.replicas = vec![replica(&temp), replica("r1")];
        let sample = |replica: &str| HydrationSample {
            cluster: ClusterId("u1".into()),
            replica: replica.into(),
            size: Size("25cc".into()),
            seconds: 1.0,
        };
        let memory = |replica: &str| MemorySample {
            cluster: ClusterId("u1".into()),
            replica: replica.into(),
            bytes: 1.0,
        };
        let oom = |replica: &str| OomSample {
            cluster: ClusterId("u1".into()),
            replica: replica.into(),
            size: Size("25cc".into()),
            kills: 1,
        };
        let mut live = LiveHistory {
            clusters: vec![ops],
            hydrations: vec![sample(&temp), sample("r1")],
            memory: vec![memory(&temp), memory("r1")],
            ooms: vec![oom(&temp), oom("r1")],
            ..LiveHistory::default()
        };
        leave_out_temporary_replicas(&mut live);
        let names: Vec<&str> = live.clusters[0]
            .replicas
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["r1"]);
        assert_eq!(live.hydrations, vec![sample("r1")]);
        assert_eq!(live.memory, vec![memory("r1")]);
        assert_eq!(live.ooms, vec![oom("r1")]);
    }
}
