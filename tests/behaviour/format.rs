//! Behaviour scenarios (`tests/behaviour/*.toml`): written once, run on both
//! backends, the real one (`tests/it/behaviour.rs`: the `clusterctl` binary
//! against the PostgreSQL-backed Materialize emulator) and the simulated one
//! (`src/sim/behaviour_tests.rs`: `SimBackend` + `plan::plan` +
//! `exec::apply`). The format is described in `tests/behaviour/README.md`.
//! This file only parses and checks it; both runners include it with
//! `#[path]`, so it depends on nothing but serde, toml and serde_json.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A parsed, checked scenario. Replica references are resolved to
/// `(cluster index, replica name)`.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub clusters: Vec<Cluster>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    /// `(name, size)`, in creation order. They start not hydrated.
    pub replicas: Vec<(String, String)>,
    /// The cluster maintains an index: replicas hydrate only when a step
    /// says so. Without one a replica has nothing to hydrate and counts as
    /// hydrated as soon as it exists.
    pub index: bool,
    /// `(type, config)` exactly as `mz_cluster_strategies` rows hold them.
    pub strategies: Vec<(String, serde_json::Value)>,
}

#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based, for messages.
    pub number: usize,
    pub note: String,
    /// Seconds the clock moves forward before this step's signals and round.
    pub advance_s: u64,
    pub hydrate: Vec<(usize, String)>,
    pub activity: Vec<StepActivity>,
    /// `(cluster, replica, count)`: OOM kills 1..=count seconds before the round.
    pub ooms: Vec<(usize, String, u32)>,
    /// Per cluster: the expected `(replica, size)` set after the round, sorted.
    pub expect: Vec<Option<Vec<(String, String)>>>,
    /// Per cluster: the expected actions of the round, in order.
    pub expect_actions: Vec<Option<Vec<String>>>,
    /// The round's `--max-actions` (`None`: no limit).
    pub max_actions: Option<usize>,
    /// `(cluster, replica)`: the round's DDL on this replica is refused by
    /// the server ([`REFUSAL`]).
    pub fail: Vec<(usize, String)>,
}

/// The error a `fail` step's refused DDL gets.
pub const REFUSAL: &str = "refused by the scenario";

#[derive(Debug, Clone, PartialEq)]
pub struct StepActivity {
    pub cluster: usize,
    pub began_secs_ago: u64,
    pub in_flight: bool,
}

// ------------------------------------------------------------- raw format

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    description: String,
    clusters: Vec<RawCluster>,
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    #[serde(default)]
    replicas: Vec<String>,
    #[serde(default = "yes")]
    index: bool,
    #[serde(default)]
    strategies: Vec<RawRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "empty_object")]
    config: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    note: String,
    #[serde(default = "sixty")]
    advance_s: u64,
    #[serde(default)]
    hydrate: Vec<String>,
    activity: Option<OneOrMany<RawActivity>>,
    #[serde(default)]
    ooms: BTreeMap<String, u32>,
    expect: PerCluster,
    expect_actions: Option<PerCluster>,
    max_actions: Option<usize>,
    #[serde(default)]
    fail: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActivity {
    cluster: Option<String>,
    began_secs_ago: u64,
    #[serde(default)]
    in_flight: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// A list (the scenario has one cluster) or a table keyed by cluster name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PerCluster {
    List(Vec<String>),
    Map(BTreeMap<String, Vec<String>>),
}

fn yes() -> bool {
    true
}

fn sixty() -> u64 {
    60
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

// ---------------------------------------------------------------- loading

/// The scenario files, sorted by name.
pub fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/behaviour");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no scenario in {}", dir.display());
    out
}

/// Every scenario, or those whose name contains `$BEHAVIOUR_SCENARIO`.
pub fn load_all() -> Vec<Scenario> {
    let only = std::env::var("BEHAVIOUR_SCENARIO").unwrap_or_default();
    files()
        .iter()
        .map(|p| load(p).unwrap_or_else(|e| panic!("{e}")))
        .filter(|s| s.name.contains(&only))
        .collect()
}

pub fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&name, &text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(name: &str, text: &str) -> Result<Scenario, String> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| e.to_string())?;
    if raw.clusters.is_empty() || raw.steps.is_empty() {
        return Err("a scenario needs at least one cluster and one step".into());
    }
    let mut clusters = Vec::new();
    for rc in &raw.clusters {
        if rc.name.is_empty() || rc.name.contains('.') {
            return Err(format!("cluster name {:?}: empty or contains '.'", rc.name));
        }
        if clusters.iter().any(|c: &Cluster| c.name == rc.name) {
            return Err(format!("duplicate cluster {:?}", rc.name));
        }
        let replicas = rc
            .replicas
            .iter()
            .map(|r| {
                pair(r).ok_or(format!(
                    "cluster {}: replica {r:?}: use \"name:size\"",
                    rc.name
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        clusters.push(Cluster {
            name: rc.name.clone(),
            replicas,
            index: rc.index,
            strategies: rc
                .strategies
                .iter()
                .map(|r| (r.kind.clone(), r.config.clone()))
                .collect(),
        });
    }
    let mut steps = Vec::new();
    for (i, rs) in raw.steps.iter().enumerate() {
        let here = |m: String| format!("steps[{i}]: {m}");
        let replica = |r: &str| resolve(&clusters, r).map_err(here);
        let cluster = |c: &Option<String>| match c {
            Some(n) => clusters
                .iter()
                .position(|c| &c.name == n)
                .ok_or_else(|| here(format!("unknown cluster {n:?}"))),
            None if clusters.len() == 1 => Ok(0),
            None => Err(here("name the cluster (the scenario has several)".into())),
        };
        let hydrate = rs
            .hydrate
            .iter()
            .map(|r| replica(r))
            .collect::<Result<Vec<_>, _>>()?;
        let fail = rs
            .fail
            .iter()
            .map(|r| replica(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ooms = Vec::new();
        for (r, n) in &rs.ooms {
            let (c, name) = replica(r)?;
            if *n == 0 || u64::from(*n) >= rs.advance_s {
                return Err(here(format!(
                    "ooms {r:?}: between 1 and advance_s - 1 ({}), got {n}",
                    rs.advance_s.saturating_sub(1)
                )));
            }
            ooms.push((c, name, *n));
        }
        let raw_activity = match &rs.activity {
            None => Vec::new(),
            Some(OneOrMany::One(a)) => vec![a],
            Some(OneOrMany::Many(v)) => v.iter().collect(),
        };
        let mut activity = Vec::new();
        for a in raw_activity {
            activity.push(StepActivity {
                cluster: cluster(&a.cluster)?,
                began_secs_ago: a.began_secs_ago,
                in_flight: a.in_flight,
            });
        }
        let per_cluster =
            |p: &PerCluster, what: &str| -> Result<Vec<Option<Vec<String>>>, String> {
                let mut out = vec![None; clusters.len()];
                match p {
                    PerCluster::List(v) if clusters.len() == 1 => out[0] = Some(v.clone()),
                    PerCluster::List(_) => {
                        return Err(here(format!(
                            "{what}: a table keyed by cluster name (the scenario has several)"
                        )))
                    }
                    PerCluster::Map(m) => {
                        for (name, v) in m {
                            let c = cluster(&Some(name.clone()))?;
                            out[c] = Some(v.clone());
                        }
                    }
                }
                Ok(out)
            };
        let mut expect = Vec::new();
        for (c, list) in per_cluster(&rs.expect, "expect")?.into_iter().enumerate() {
            expect.push(match list {
                None => None,
                Some(v) => {
                    let mut set = v
                        .iter()
                        .map(|r| {
                            pair(r).ok_or_else(|| {
                                here(format!(
                                    "expect {r:?} ({}): use \"replica:size\"",
                                    clusters[c].name
                                ))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    set.sort();
                    Some(set)
                }
            });
        }
        let expect_actions = match &rs.expect_actions {
            None => vec![None; clusters.len()],
            Some(p) => per_cluster(p, "expect_actions")?,
        };
        steps.push(Step {
            number: i + 1,
            note: rs.note.clone(),
            advance_s: rs.advance_s,
            hydrate,
            activity,
            ooms,
            expect,
            expect_actions,
            max_actions: rs.max_actions,
            fail,
        });
    }
    Ok(Scenario {
        name: name.to_string(),
        description: raw.description.trim().to_string(),
        clusters,
        steps,
    })
}

/// `"name:size"` → `(name, size)`.
fn pair(s: &str) -> Option<(String, String)> {
    let (n, z) = s.rsplit_once(':')?;
    (!n.is_empty() && !z.is_empty()).then(|| (n.to_string(), z.to_string()))
}

/// `"replica"` (the only cluster) or `"cluster.replica"`.
fn resolve(clusters: &[Cluster], r: &str) -> Result<(usize, String), String> {
    if let Some((c, name)) = r.split_once('.') {
        if let Some(i) = clusters.iter().position(|x| x.name == c) {
            return Ok((i, name.to_string()));
        }
    }
    if clusters.len() == 1 {
        return Ok((0, r.to_string()));
    }
    Err(format!(
        "replica {r:?}: write \"cluster.replica\" (the scenario has several clusters)"
    ))
}

// ------------------------------------------------------------- comparing

/// How a round's action is written in `expect_actions`: `create r_50cc`,
/// `drop r1`; an action that did not execute gets its status appended
/// (`create r_50cc (skipped: why)`), a failed one without its error, whose
/// wording is the backend's (`create r_50cc (failed)`).
pub fn action_text(verb: &str, replica: &str, status: &str) -> String {
    if status.starts_with("failed") {
        format!("{verb} {replica} (failed)")
    } else if status == "executed" {
        format!("{verb} {replica}")
    } else {
        format!("{verb} {replica} ({status})")
    }
}

/// What one backend produced in one step, per cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub replicas: Vec<Vec<(String, String)>>,
    pub actions: Vec<Vec<String>>,
}

/// The differences between a step's expectations and an outcome, one line
/// each (empty: the step passed).
pub fn check(sc: &Scenario, step: &Step, got: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    let show = |set: &[(String, String)]| {
        set.iter()
            .map(|(n, s)| format!("{n}:{s}"))
            .collect::<Vec<_>>()
    };
    for (c, cluster) in sc.clusters.iter().enumerate() {
        if let Some(want) = &step.expect[c] {
            let mut have = got.replicas[c].clone();
            have.sort();
            if &have != want {
                out.push(format!(
                    "cluster {}: replicas {:?}, expected {:?}",
                    cluster.name,
                    show(&have),
                    show(want)
                ));
            }
        }
        if let Some(want) = &step.expect_actions[c] {
            if &got.actions[c] != want {
                out.push(format!(
                    "cluster {}: actions {:?}, expected {:?}",
                    cluster.name, got.actions[c], want
                ));
            }
        }
    }
    out
}

/// Runs every step of `sc` with `round` (which applies the step's signals,
/// runs one reconcile round and reports the outcome) and returns the first
/// failing step's report, if any.
pub fn run_steps(
    backend: &str,
    sc: &Scenario,
    mut round: impl FnMut(&Step) -> Outcome,
) -> Result<(), String> {
    for step in &sc.steps {
        let got = round(step);
        let diffs = check(sc, step, &got);
        if !diffs.is_empty() {
            let note = if step.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", step.note)
            };
            return Err(format!(
                "[{backend}] tests/behaviour/{}.toml step {}{note}:\n  {}\n  all actions this round: {:?}",
                sc.name,
                step.number,
                diffs.join("\n  "),
                got.actions
            ));
        }
    }
    Ok(())
}
