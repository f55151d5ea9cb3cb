//! The vocabulary every stage shares: clusters, replicas, sizes and signals as
//! read from Materialize's catalog. Plain data, no I/O; the `snapshot` module
//! fills it from a database, the `sim` module from its simulated environment.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A cluster id as Materialize prints it (`u7`, `s2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterId(pub String);

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A replica size name (`25cc`, `M.1-large`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Size(pub String);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Size {
    fn from(s: &str) -> Self {
        Size(s.to_string())
    }
}

/// One offered replica size with what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaSize {
    pub name: Size,
    pub credits_per_hour: f64,
    /// Total memory of the replica (processes × memory per process), bytes.
    pub memory_bytes: f64,
    /// Total CPU of the replica (processes × cpu per process), cores.
    pub cpu_cores: f64,
}

/// Offered sizes, smallest to largest (credits, then CPU, then memory), as the
/// catalog reference §5 prescribes: names are never parsed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SizeCatalog {
    sizes: Vec<ReplicaSize>,
}

impl SizeCatalog {
    pub fn new(mut sizes: Vec<ReplicaSize>) -> Self {
        sizes.sort_by(|a, b| {
            a.credits_per_hour
                .total_cmp(&b.credits_per_hour)
                .then(a.cpu_cores.total_cmp(&b.cpu_cores))
                .then(a.memory_bytes.total_cmp(&b.memory_bytes))
                .then(a.name.cmp(&b.name))
        });
        sizes.dedup_by(|a, b| a.name == b.name);
        SizeCatalog { sizes }
    }

    /// Sizes given by name only (`--replica-sizes a,b,c`): kept in the given
    /// order, credits growing with the position so ordering stays stable.
    pub fn from_names(names: &[String]) -> Self {
        let sizes = names
            .iter()
            .enumerate()
            .map(|(i, n)| ReplicaSize {
                name: Size(n.clone()),
                credits_per_hour: (i + 1) as f64,
                memory_bytes: 0.0,
                cpu_cores: 0.0,
            })
            .collect();
        SizeCatalog { sizes }
    }

    /// Materialize Cloud's cc sizes (catalog reference §5), for the simulator.
    pub fn cloud_defaults() -> Self {
        const CC: &[(&str, f64)] = &[
            ("25cc", 0.25),
            ("50cc", 0.5),
            ("100cc", 1.0),
            ("200cc", 2.0),
            ("300cc", 3.0),
            ("400cc", 4.0),
            ("600cc", 6.0),
            ("800cc", 8.0),
            ("1200cc", 12.0),
            ("1600cc", 16.0),
            ("3200cc", 32.0),
            ("6400cc", 64.0),
            ("128C", 128.0),
            ("256C", 256.0),
            ("512C", 512.0),
        ];
        let gib = 1024.0 * 1024.0 * 1024.0;
        SizeCatalog::new(
            CC.iter()
                .map(|(n, c)| ReplicaSize {
                    name: Size(n.to_string()),
                    credits_per_hour: *c,
                    // cc sizes scale linearly: 1 credit ≈ 1 core, ≈ 8 GiB.
                    memory_bytes: c * 8.0 * gib,
                    cpu_cores: *c,
                })
                .collect(),
        )
    }

    pub fn all(&self) -> &[ReplicaSize] {
        &self.sizes
    }

    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Position in the smallest-to-largest order.
    pub fn rank(&self, size: &Size) -> Option<usize> {
        self.sizes.iter().position(|s| &s.name == size)
    }

    pub fn get(&self, size: &Size) -> Option<&ReplicaSize> {
        self.sizes.iter().find(|s| &s.name == size)
    }

    pub fn contains(&self, size: &Size) -> bool {
        self.get(size).is_some()
    }

    /// Credits per hour of a size; unknown sizes cost nothing we can know.
    pub fn credits(&self, size: &Size) -> f64 {
        self.get(size).map(|s| s.credits_per_hour).unwrap_or(0.0)
    }

    /// All sizes up to and including `max`, smallest first.
    pub fn up_to(&self, max: &Size) -> Vec<Size> {
        match self.rank(max) {
            Some(i) => self.sizes[..=i].iter().map(|s| s.name.clone()).collect(),
            None => Vec::new(),
        }
    }

    /// The names, comma separated, for error messages.
    pub fn names(&self) -> String {
        self.sizes
            .iter()
            .map(|s| s.name.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Crash and OOM counts of a replica over the lookback window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrashInfo {
    pub crashes: u32,
    pub ooms: u32,
    pub last_crash: Option<DateTime<Utc>>,
}

/// A replica as it exists in the catalog, with its signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub id: String,
    pub name: String,
    /// `None` for unorchestrated replicas: such a cluster is left alone.
    pub size: Option<Size>,
    pub hydrated: bool,
    #[serde(default)]
    pub crash: CrashInfo,
}

impl Replica {
    /// Creation order: replica ids are `u<N>` from one counter.
    pub fn creation_order(&self) -> u64 {
        self.id
            .get(1..)
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    }
}

/// Recent query activity of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Latest statement begin within the lookback, if any was logged.
    pub last_begin: Option<DateTime<Utc>>,
    /// Statements that began and have not finished (waiting counts as demand).
    pub in_flight: u32,
}

/// How a cluster is scheduled by Materialize itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Manual,
    OnRefresh,
    Other(String),
}

/// A cluster with its replicas and signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: ClusterId,
    pub name: String,
    pub managed: bool,
    /// Managed clusters only: the configured size and replication factor.
    pub size: Option<Size>,
    pub replication_factor: Option<i64>,
    pub schedule: Schedule,
    /// Has a PostgreSQL/MySQL/SQL Server source: its oldest replica runs it.
    pub has_singleton_source: bool,
    pub replicas: Vec<Replica>,
    pub activity: Activity,
}

impl Cluster {
    /// An unmanaged cluster without replicas, schedule or signals.
    pub fn empty(id: ClusterId, name: &str) -> Cluster {
        Cluster {
            id,
            name: name.to_string(),
            managed: false,
            size: None,
            replication_factor: None,
            schedule: Schedule::Manual,
            has_singleton_source: false,
            replicas: Vec::new(),
            activity: Activity::default(),
        }
    }

    pub fn is_system(&self) -> bool {
        self.id.0.starts_with('s')
    }

    pub fn replica(&self, name: &str) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.name == name)
    }

    pub fn any_hydrated(&self) -> bool {
        self.replicas.iter().any(|r| r.hydrated)
    }

    /// The replica running the cluster's singleton sources, if any.
    pub fn source_replica(&self) -> Option<&Replica> {
        if !self.has_singleton_source {
            return None;
        }
        self.replicas.iter().min_by_key(|r| r.creation_order())
    }
}

/// One row of `mz_cluster_strategies`, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyRow {
    pub cluster_id: ClusterId,
    pub strategy_type: String,
    pub config: serde_json::Value,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A duration for people: `45s`, `12m05s`, `2h01m`, `3d04h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 && s > 0 {
        format!("{m}m{s:02}s")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// How far back crashes and OOMs count (DESIGN §3).
pub const CRASH_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// The shortest statement history read for activity; the largest
/// `idle_after_s` configured extends it (DESIGN §3).
pub const MIN_ACTIVITY_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Strategy type of the row that pauses the controller for a cluster
/// (`clusterctl strategy pause`): not a strategy, never "unknown".
pub const PAUSE: &str = "pause";

/// Current version of the state payload we write.
pub const STATE_VERSION: i32 = 2;

/// Everything one reconcile round decides on. Read once, never refreshed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The database's clock when the snapshot was taken.
    pub now: DateTime<Utc>,
    pub sizes: SizeCatalog,
    pub clusters: Vec<Cluster>,
    pub strategies: Vec<StrategyRow>,
    /// Newest state payload per cluster (unknown versions already dropped).
    pub states: BTreeMap<ClusterId, serde_json::Value>,
    /// Whether the statement log had any row at all in the lookback window.
    pub activity_log_has_rows: bool,
    /// The cluster our own session runs on; never suspended or shrunk.
    pub session_cluster: Option<String>,
    /// Statement history by hour of the clusters that learn their demand
    /// (`idle_suspend` with `predict`); `None` when not read or unreadable.
    #[serde(default)]
    pub demand: Option<DemandLog>,
}

impl Snapshot {
    pub fn cluster(&self, id: &ClusterId) -> Option<&Cluster> {
        self.clusters.iter().find(|c| &c.id == id)
    }

    /// Position of each cluster by id: one index instead of a linear search
    /// per lookup (10 000 clusters).
    pub fn cluster_index(&self) -> std::collections::HashMap<&ClusterId, usize> {
        self.clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (&c.id, i))
            .collect()
    }
}

/// Statement history of the clusters that learn their demand, by hour, over
/// complete past days (UTC): what `mz_statement_execution_history_redacted`
/// says about when each cluster is used (issue 16). Read in one statement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DemandLog {
    /// The window read: `[from, until)`, both UTC midnights.
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Hours with statements, oldest first, by cluster; a cluster absent
    /// had no statement in the window.
    pub clusters: BTreeMap<ClusterId, Vec<DemandHour>>,
}

/// The statements of one cluster in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemandHour {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// Statements logged, each counted 1/sample_rate times: an estimate of
    /// all statements, the unsampled ones included.
    pub statements: f64,
    /// The first and the last statement begin within the hour.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_durations() {
        use super::human_duration as h;
        assert_eq!(h(45), "45s");
        assert_eq!(h(720), "12m");
        assert_eq!(h(725), "12m05s");
        assert_eq!(h(7249), "2h00m");
        assert_eq!(h(7260), "2h01m");
        assert_eq!(h(86400 * 3 + 3600 * 4 + 5), "3d04h");
    }
}
