//! Runner B of the behaviour scenarios (`tests/behaviour/*.toml`, format in
//! `tests/behaviour/README.md`): the same files the real backend runs
//! (`tests/it/behaviour.rs`), here on the simulator. Each step sets its
//! signals directly on the simulated replicas and activity, then runs one
//! round as the controller does (`Backend::snapshot` of `SimBackend`, the
//! product's `plan::plan`, `exec::apply`), lets the DDL take effect, and
//! compares the replica set and the actions with the expectations.
//!
//! The simulated environment is built with the simulator's own scenario
//! parser. Replicas of a cluster with an index never hydrate by themselves
//! (a huge hydration work), those of a cluster without one hydrate at once
//! (no work), as on the emulator; no workload generates queries, so every
//! statement comes from a step.

use std::collections::BTreeMap;
use std::path::Path;

use uuid::Uuid;

use super::engine::{SimBackend, Slot};
use super::scenario::{self, Scenario as SimScenario};
use crate::exec::{self, ActionStatus, Backend};
use crate::model::ClusterId;
use crate::plan::{self, PlanOptions};

#[path = "../../tests/behaviour/format.rs"]
mod format;

use format::{Outcome, Scenario, Step};

/// The simulator's backend, refusing the DDL on the `(cluster, replica)`
/// pairs of a step's `fail` as a server would (the statement does not run).
/// Every other method is the inner backend's, defaults included, so the
/// wrapper changes nothing else whatever the simulator overrides.
struct Refusing<'r, B> {
    inner: B,
    refuse: &'r [(&'r str, &'r str)],
}

impl<B: Backend> Backend for Refusing<'_, B> {
    type Error = B::Error;

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.now()
    }

    fn simulated(&self) -> bool {
        self.inner.simulated()
    }

    async fn snapshot(&mut self) -> Result<crate::model::Snapshot, B::Error> {
        self.inner.snapshot().await
    }

    async fn execute_ddl(
        &mut self,
        action: &plan::Action,
        intent: &exec::AuditRow,
    ) -> Result<exec::Ddl, B::Error> {
        let target = (action.cluster.as_str(), action.replica.as_str());
        if self.refuse.contains(&target) {
            return Ok(exec::Ddl::Refused(format::REFUSAL.into()));
        }
        self.inner.execute_ddl(action, intent).await
    }

    async fn audit(&mut self, row: &exec::AuditRow) -> Result<(), B::Error> {
        self.inner.audit(row).await
    }

    async fn audit_outcomes(&mut self, outcomes: &[exec::Outcome]) -> Result<(), B::Error> {
        self.inner.audit_outcomes(outcomes).await
    }

    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), B::Error> {
        self.inner.persist_states(states, at).await
    }

    async fn await_statement_log(&mut self, snapshot: chrono::DateTime<chrono::Utc>) {
        self.inner.await_statement_log(snapshot).await
    }

    async fn bookkeeping(
        &mut self,
        step: exec::Bookkeeping<'_>,
    ) -> Result<Option<exec::Changed>, B::Error> {
        self.inner.bookkeeping(step).await
    }

    async fn lease_allows(&mut self, next: Option<&plan::Action>) -> Result<(), B::Error> {
        self.inner.lease_allows(next).await
    }

    fn stop_requested(&self) -> bool {
        self.inner.stop_requested()
    }
}

/// Hydration work of a cluster with an index, in seconds of one core: far
/// beyond any scenario, so only steps hydrate its replicas.
const NEVER_S: i64 = 100_000_000_000;

/// The simulator's scenario for `sc` (statement logging starts off: the
/// statement log is empty until a step records activity, as on a fresh
/// emulator). Steps set every signal themselves, so nothing else moves:
/// no provisioning, no flush delay, no sampling, no jitter, no failed
/// rounds, and queries wait rather than fail.
fn sim_scenario(sc: &Scenario) -> SimScenario {
    let total_s: u64 = sc.steps.iter().map(|s| s.advance_s).sum();
    let clusters: Vec<serde_json::Value> = sc
        .clusters
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "workload": {
                    "memory_gib": 0,
                    "hydration_work": if c.index { NEVER_S } else { 0 },
                    "service_time": "1ms",
                    "hydration_variance": 0.0,
                },
                "strategies": c.strategies.iter()
                    .map(|(ty, cfg)| serde_json::json!({"type": ty, "config": cfg}))
                    .collect::<Vec<_>>(),
                "initial_replicas": c.replicas.iter()
                    .map(|(n, s)| serde_json::json!({"name": n, "size": s, "hydrated": false}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "name": sc.name,
        "description": sc.description,
        "duration": total_s + 60,
        "interval": 60,
        "statement_logging": false,
        "statement_log": { "sample_rate": 1.0, "flush_interval": 0 },
        "materialize": { "provisioning": 0, "restart_delay": 0, "on_no_replica": "wait" },
        "controller": { "run_time": 0, "tick_jitter": 0, "failure_rate": 0.0 },
        "clusters": clusters,
    });
    scenario::parse(&doc.to_string(), true, Path::new("."), None)
        .unwrap_or_else(|e| panic!("tests/behaviour/{}.toml: {e}", sc.name))
}

/// The simulated environment of one scenario and its clock.
struct Sim {
    sc: SimScenario,
    slots: Vec<Slot>,
    index: BTreeMap<ClusterId, usize>,
    t: i64,
    rt: tokio::runtime::Runtime,
}

impl Sim {
    fn new(sc: &Scenario) -> Sim {
        let sim_sc = sim_scenario(sc);
        let slots = Slot::all_for_test(&sim_sc);
        let index = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.sim.spec.id.clone(), i))
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime");
        Sim {
            sc: sim_sc,
            slots,
            index,
            t: 0,
            rt,
        }
    }

    fn replica(
        &mut self,
        sc: &Scenario,
        step: &Step,
        c: usize,
        name: &str,
    ) -> &mut super::replica::SimReplica {
        self.slots[c]
            .sim
            .replicas
            .iter_mut()
            .find(|r| r.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "tests/behaviour/{}.toml step {}: cluster {} has no replica {name}",
                    sc.name, step.number, sc.clusters[c].name
                )
            })
    }

    /// Applies the step's signals, runs one round, lets its DDL take effect.
    fn round(&mut self, sc: &Scenario, step: &Step) -> Outcome {
        let t = self.t + i64::try_from(step.advance_s).expect("advance_s") * 1000;
        self.t = t;
        for slot in self.slots.iter_mut() {
            // In-flight statements of the previous step have finished.
            slot.sim.clear_in_flight_for_test();
            slot.step_to_for_test(&self.sc, t);
        }
        for (c, name) in &step.hydrate {
            let r = self.replica(sc, step, *c, name);
            if !r.hydrated_at(t) {
                r.force_hydrated(t);
            }
        }
        for (c, name, n) in &step.ooms {
            let r = self.replica(sc, step, *c, name);
            // Kills 1..=n seconds ago, oldest first; a crash-looping replica
            // is not hydrated (on the emulator: its process is offline).
            r.force_ooms(t, *n);
        }
        for a in &step.activity {
            let began = t - i64::try_from(a.began_secs_ago).expect("began_secs_ago") * 1000;
            self.slots[a.cluster]
                .sim
                .record_statement_for_test(began, a.in_flight);
            self.sc.statement_log.enabled = true;
        }
        let refuse: Vec<(&str, &str)> = step
            .fail
            .iter()
            .map(|(c, r)| (sc.clusters[*c].name.as_str(), r.as_str()))
            .collect();
        let (sc_ref, slots, index) = (&self.sc, &mut self.slots, &self.index);
        let report = self.rt.block_on(async {
            let mut backend = Refusing {
                inner: SimBackend::for_test(sc_ref, slots, index, t),
                refuse: &refuse,
            };
            let snap = backend.snapshot().await.expect("sim snapshot");
            let plan = plan::plan(&snap, &PlanOptions::default());
            let opts = exec::ApplyOptions {
                max_actions: step.max_actions,
                ..exec::ApplyOptions::default()
            };
            exec::apply(&mut backend, &plan, Uuid::new_v4(), &opts)
                .await
                .expect("sim apply")
        });
        for r in &report.results {
            if let Some(&i) = self.index.get(&r.action.cluster_id) {
                self.slots[i].record_refusal(r, self.sc.start + chrono::Duration::milliseconds(t));
            }
        }
        for slot in self.slots.iter_mut() {
            slot.step_to_for_test(&self.sc, t);
        }
        let mut actions = vec![Vec::new(); sc.clusters.len()];
        for r in &report.results {
            let c = sc
                .clusters
                .iter()
                .position(|x| x.name == r.action.cluster)
                .unwrap_or_else(|| panic!("an action on an unknown cluster: {r:?}"));
            let status = match &r.status {
                ActionStatus::Executed => "executed".to_string(),
                ActionStatus::Failed { error } => format!("failed: {error}"),
                ActionStatus::Skipped { reason } => format!("skipped: {reason}"),
                ActionStatus::Unknown { error } => format!("unknown: {error}"),
            };
            actions[c].push(format::action_text(
                r.action.kind.verb(),
                &r.action.replica,
                &status,
            ));
        }
        let replicas = self
            .slots
            .iter()
            .map(|s| {
                s.sim
                    .replicas
                    .iter()
                    .map(|r| (r.name.clone(), r.size.0.clone()))
                    .collect()
            })
            .collect();
        Outcome { replicas, actions }
    }
}

#[test]
fn behaviour_scenarios_on_the_sim_backend() {
    let scenarios = format::load_all();
    let mut failures = Vec::new();
    for sc in &scenarios {
        let mut sim = Sim::new(sc);
        if let Err(e) = format::run_steps("sim", sc, |step| sim.round(sc, step)) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenario(s) failed on the sim backend:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
}

/// The scenario files themselves: every one parses and builds on the
/// simulator, and the format's checks catch mistakes.
#[test]
fn behaviour_files_parse() {
    for sc in format::load_all() {
        assert_eq!(sim_scenario(&sc).clusters.len(), sc.clusters.len());
    }
    let bad = [
        ("[[clusters]]\nname = \"a\"\n", "steps"),
        (
            "[[clusters]]\nname = \"a\"\n[[clusters]]\nname = \"b\"\n[[steps]]\nexpect = []\n",
            "table keyed by cluster name",
        ),
        (
            "[[clusters]]\nname = \"a\"\n[[steps]]\nooms = { r1 = 60 }\nexpect = []\n",
            "advance_s",
        ),
        (
            "[[clusters]]\nname = \"a\"\n[[steps]]\nexpect = [\"r1\"]\n",
            "replica:size",
        ),
        (
            "[[clusters]]\nname = \"a\"\n[[steps]]\nexpect = []\nhydrated = [\"r1\"]\n",
            "unknown field",
        ),
    ];
    for (text, want) in bad {
        let err = format::parse("bad", text).expect_err(text);
        assert!(err.contains(want), "{text}\n→ {err}\n(expected {want:?})");
    }
}
