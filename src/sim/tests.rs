//! Tests of the simulator: scenario errors, the environment's physics
//! (hydration, OOMs, waiting queries), determinism, the baselines, and that
//! skipping quiet ticks changes nothing.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::engine;
use super::report::{self, Report};
use super::scenario::{self, Scenario, MINUTE};

fn parse(text: &str) -> Result<Scenario, String> {
    scenario::parse(text, false, Path::new("."), None).map_err(|e| e.0)
}

fn sim(text: &str) -> (Scenario, engine::Run, Report) {
    let sc = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let run = engine::run(&sc, false, None).unwrap();
    let rep = report::build(&sc, &run);
    (sc, run, rep)
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    v.sort();
    assert!(v.len() >= 5, "{v:?}");
    v
}

/// An example, shortened to at most `days` so tests stay fast.
fn example(path: &Path, days: u32) -> Scenario {
    let text = std::fs::read_to_string(path).unwrap();
    let short: String = text
        .lines()
        .map(|l| {
            if let Some(v) = l.strip_prefix("days = ") {
                let d: f64 = v.trim().parse().unwrap();
                format!("days = {}", d.min(days as f64))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    scenario::parse(&short, false, path.parent().unwrap(), None)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.0))
}

const ONE: &str = r#"
name = "t"
days = 1
interval = "1m"

[[clusters]]
name = "c"
strategies = [{ type = "target_size", config = { target_size = "400cc" } }]

[clusters.workload]
memory_gib = 20
hydration_work = "40m"
windows = [{ start = "02:00", duration = "1h", qps = 1.0 }]
"#;

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = ONE.replace("memory_gib = 20", "memory_gb = 20");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("memory_gb"), "{err}");
    assert!(err.contains("line 11"), "{err}");

    let text = ONE.replace("days = 1", "days = 1\nintervall = \"1m\"");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("intervall") && err.contains("line 4"), "{err}");
}

#[test]
fn bad_values_are_named_with_their_line() {
    let text = ONE.replace("\"40m\"", "\"40 parsecs\"");
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains("invalid duration") && err.contains("line 12"),
        "{err}"
    );

    let text = ONE.replace("\"400cc\"", "\"80cc\"");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("target_size") && err.contains("80cc"), "{err}");
    assert!(err.contains("line 8"), "{err}");

    let text = ONE.replace("\"target_size\", config", "\"target_sise\", config");
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains("target_sise") && err.contains("line 8"),
        "{err}"
    );
}

#[test]
fn json_scenarios_name_the_key_and_line() {
    let json = r#"{
  "name": "j",
  "clusters": [
    { "name": "c", "workload": { "memory_gib": 1, "hydration_work": "1m", "qps": 3 } }
  ]
}"#;
    let err = scenario::parse(json, true, Path::new("."), None)
        .unwrap_err()
        .0;
    assert!(err.contains("qps") && err.contains("line 4"), "{err}");
}

#[test]
fn replicas_hydrate_after_work_over_cores() {
    let (_, run, rep) = sim(ONE);
    let r = &run.slots[0].sim.replicas[0];
    // Created at tick 0, in effect at the next tick; 40 core-minutes on 4 cores.
    assert_eq!(r.created_ms, MINUTE);
    assert_eq!(r.hydrated_ms, Some(11 * MINUTE));
    assert_eq!(rep.clusters[0].availability_pct, 100.0);
    // 400cc from 00:01 to the end of the day.
    let want = 4.0 * (24.0 * 60.0 - 1.0) / 60.0;
    assert!(
        (rep.clusters[0].credits - want).abs() < 0.01,
        "{}",
        rep.clusters[0].credits
    );
}

#[test]
fn undersized_replicas_crash_loop_and_queries_wait() {
    let text = ONE.replace("\"400cc\"", "\"100cc\"");
    let (_, run, rep) = sim(&text);
    let r = &run.slots[0].sim.replicas[0];
    assert_eq!(r.hydrated_ms, None, "8 GiB cannot hold 20 GiB");
    // One OOM every 5 minutes from creation.
    assert_eq!(r.ooms.first(), Some(&(6 * MINUTE)));
    assert_eq!(r.ooms.len() as i64, (24 * 60 - 6) / 5 + 1);
    let c = &rep.clusters[0];
    assert_eq!(c.availability_pct, 0.0);
    assert_eq!(c.waits.waited, c.waits.queries);
    assert!(c.waits.worst_s > 20.0 * 3600.0, "{:?}", c.waits);
}

#[test]
fn queries_wait_for_a_suspended_cluster_to_resume() {
    let text = ONE.replace(
        "strategies = [{ type = \"target_size\", config = { target_size = \"400cc\" } }]",
        "strategies = [\n  { type = \"target_size\", config = { target_size = \"400cc\" } },\n  { type = \"idle_suspend\", config = { idle_after_s = 600 } },\n]\ninitial_replicas = [{ name = \"r_400cc\", size = \"400cc\" }]",
    );
    let (_, run, rep) = sim(&text);
    let c = &rep.clusters[0];
    assert!(c.waits.waited > 0, "{c:?}");
    // Suspended at 00:10, resumed by the first query after 02:00: the query
    // waits for the next tick, the DDL to take effect, and 10 min hydration.
    assert!(
        c.waits.worst_s > 600.0 && c.waits.worst_s <= 720.0,
        "{:?}",
        c.waits
    );
    assert!(c.availability_pct < 100.0);
    assert_eq!(c.actions.by_strategy.get("idle_suspend drop"), Some(&2));
    assert!(run.slots[0].sim.waiting.is_empty());
}

#[test]
fn same_seed_same_report_other_seed_other_report() {
    let path = examples()
        .into_iter()
        .find(|p| p.ends_with("nightly-batch.toml"))
        .unwrap();
    let sc = example(&path, 3);
    let a = serde_json::to_string(&super::simulate(&sc, false).unwrap()).unwrap();
    let b = serde_json::to_string(&super::simulate(&sc, false).unwrap()).unwrap();
    assert_eq!(a, b);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("days = 7", "days = 3");
    let other = scenario::parse(&text, false, Path::new("."), Some(99)).unwrap();
    let c = serde_json::to_string(&super::simulate(&other, false).unwrap()).unwrap();
    assert_ne!(a, c);
}

#[test]
fn oracle_is_never_above_a_strategy_and_skipping_changes_nothing() {
    for path in examples() {
        let sc = example(&path, 2);
        let fast = super::simulate(&sc, false).unwrap();
        for c in &fast.clusters {
            assert!(
                c.oracle.credits <= c.credits + 1e-9,
                "{}: {}: oracle {} > strategy {}",
                path.display(),
                c.name,
                c.oracle.credits,
                c.credits
            );
        }
        let exact = super::simulate(&sc, true).unwrap();
        assert_eq!(
            serde_json::to_string(&fast).unwrap(),
            serde_json::to_string(&exact).unwrap(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn timeline_has_a_row_per_tick_per_cluster() {
    let sc = parse(ONE).unwrap();
    let mut out = Vec::new();
    engine::run(&sc, false, Some(&mut out)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as i64, 1 + sc.ticks());
    assert!(lines[0].starts_with("time,cluster,replicas"));
    assert!(lines[2].contains("create r_400cc") || lines[1].contains("create r_400cc"));
    assert!(lines[20].contains("r_400cc:400cc:true"), "{}", lines[20]);
}

#[test]
fn plot_is_an_svg_with_every_cluster() {
    let (sc, run, rep) = sim(ONE);
    let svg = super::plot::render(&sc, &run, &rep).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains(">\nc\n<") && svg.contains("400cc"), "{svg}");
}

fn always_on(windows: &[(u32, u32, f64)], memory: u32, work_min: u32) -> String {
    let ws: Vec<String> = windows
        .iter()
        .map(|(start, dur, qps)| {
            format!(
                "{{ start = \"{start}m\", duration = \"{dur}m\", every = \"1d\", qps = {qps} }}"
            )
        })
        .collect();
    format!(
        r#"
name = "always-on"
days = 2
interval = "1m"

[[clusters]]
name = "c"
strategies = [{{ type = "target_size", config = {{ target_size = "800cc" }} }}]
initial_replicas = [{{ name = "r_800cc", size = "800cc" }}]

[clusters.workload]
memory_gib = {memory}
hydration_work = "{work_min}m"
windows = [{}]
"#,
        ws.join(", ")
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn always_on_serves_every_query(
        windows in prop::collection::vec((0u32..1400, 1u32..600, 0.001f64..2.0), 1..4),
        memory in 1u32..64,
        work in 1u32..600,
        seed in any::<u64>(),
    ) {
        let text = always_on(&windows, memory, work);
        let sc = scenario::parse(&text, false, Path::new("."), Some(seed)).unwrap();
        let rep = super::simulate(&sc, false).unwrap();
        let c = &rep.clusters[0];
        prop_assert_eq!(c.availability_pct, 100.0);
        prop_assert_eq!(c.waits.waited, 0);
        prop_assert!(c.oracle.credits <= c.credits + 1e-9);
        prop_assert_eq!(c.actions.create + c.actions.drop, 0);
    }
}

const MANAGED: &str = r#"
name = "managed"
duration = "DURATION"
interval = "1m"

[[clusters]]
name = "c"
managed = true
size = "100cc"
strategies = [{ type = "target_size", config = { target_size = "100cc" } }]

[[clusters.reconfigure]]
at = "1h"
strategies = [{ type = "target_size", config = { target_size = "400cc" } }]

[clusters.workload]
memory_gib = 6
hydration_work = "20m"
windows = [{ start = "00:00", duration = "1d", qps = 0.5 }]
"#;

#[test]
fn managed_resize_is_graceful() {
    // Mid-resize: the catalog shows the new configuration, the old replica
    // serving and the new one hydrating under a `-pending` name.
    let sc = parse(&MANAGED.replace("DURATION", "63m")).unwrap();
    let run = engine::run(&sc, false, None).unwrap();
    let mid = &run.slots[0].sim;
    let mut c = mid.empty_cluster();
    mid.observe(&sc, sc.horizon_ms, engine::lookback_ms(&sc), &mut c);
    assert!(c.managed);
    assert_eq!(c.size.as_ref().map(|s| s.0.as_str()), Some("400cc"));
    assert_eq!(c.replication_factor, Some(1));
    let reps: Vec<(&str, &str, bool)> = c
        .replicas
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.size.as_ref().unwrap().0.as_str(),
                r.hydrated,
            )
        })
        .collect();
    assert_eq!(
        reps,
        vec![("r1", "100cc", true), ("r1-pending", "400cc", false)]
    );

    let (_, run, rep) = sim(&MANAGED.replace("DURATION", "1d"));
    let slot = &run.slots[0];
    // `ALTER CLUSTER … SET (SIZE)` at 1h, in effect at 1h01; 20 core-minutes
    // on 4 cores hydrate at 1h06, when the old replica is dropped and the
    // new one becomes r1.
    let old = slot
        .sim
        .history
        .iter()
        .find(|r| r.size.0 == "100cc")
        .unwrap();
    assert_eq!((old.name.as_str(), old.gone_ms), ("r1", Some(66 * MINUTE)));
    let pending = slot
        .sim
        .history
        .iter()
        .find(|r| r.name == "r1-pending")
        .unwrap();
    assert_eq!(pending.created_ms, 61 * MINUTE);
    assert_eq!(pending.hydrated_ms, Some(66 * MINUTE));
    assert_eq!(pending.gone_ms, Some(66 * MINUTE));
    let live: Vec<(&str, &str)> = slot
        .sim
        .replicas
        .iter()
        .map(|r| (r.name.as_str(), r.size.0.as_str()))
        .collect();
    assert_eq!(live, vec![("r1", "400cc")]);
    let c = &rep.clusters[0];
    assert_eq!(c.waits.waited, 0, "{:?}", c.waits);
    assert_eq!(c.availability_pct, 100.0);
    assert_eq!(
        (c.actions.create, c.actions.drop, c.actions.alter),
        (0, 0, 1)
    );
    assert_eq!(c.actions.by_strategy.get("target_size resize"), Some(&1));
    assert_eq!(c.resize_to_retire_s, vec![360.0]);
    // Both sizes are paid while both exist: 100cc until 1h06, 400cc from 1h01.
    let want = 66.0 / 60.0 + 4.0 * (24.0 * 60.0 - 61.0) / 60.0;
    assert!((c.credits - want).abs() < 0.01, "{} vs {want}", c.credits);
}

#[test]
fn managed_resize_rolls_back_after_the_timeout_and_suspends_to_zero() {
    // 60 core-minutes on 400cc take 15 min: longer than WAIT UNTIL READY's
    // 10 minutes, so Materialize rolls back and the old size keeps serving.
    let text = MANAGED
        .replace("DURATION", "3h")
        .replace("\"20m\"", "\"1h\"");
    let (_, run, rep) = sim(&text);
    let slot = &run.slots[0];
    assert!(slot.resize_ms.is_empty());
    let c = &rep.clusters[0];
    assert!(c.actions.alter >= 2, "{:?}", c.actions);
    assert_eq!(c.waits.waited, 0);
    let rolled_back = slot
        .sim
        .history
        .iter()
        .find(|r| r.name == "r1-pending")
        .unwrap();
    assert_eq!(rolled_back.created_ms, 61 * MINUTE);
    assert_eq!(rolled_back.gone_ms, Some(71 * MINUTE));
    assert!(slot
        .sim
        .replicas
        .iter()
        .any(|r| r.name == "r1" && r.size.0 == "100cc"));

    // Replication factor 0 suspends; demand brings r1 back.
    let reconfigure = "[[clusters.reconfigure]]\nat = \"1h\"\nstrategies = [{ type = \"target_size\", config = { target_size = \"400cc\" } }]\n";
    assert!(MANAGED.contains(reconfigure));
    let text = MANAGED.replace(reconfigure, "").replace("DURATION", "1d").replace(
        "strategies = [{ type = \"target_size\", config = { target_size = \"100cc\" } }]",
        "strategies = [\n  { type = \"target_size\", config = { target_size = \"100cc\" } },\n  { type = \"idle_suspend\", config = { idle_after_s = 600 } },\n]",
    ).replace("windows = [{ start = \"00:00\", duration = \"1d\", qps = 0.5 }]", "windows = [{ start = \"02:00\", duration = \"1h\", qps = 0.5 }]");
    let (_, run, rep) = sim(&text);
    let c = &rep.clusters[0];
    assert_eq!(
        c.actions
            .by_strategy
            .get("idle_suspend set replication factor"),
        Some(&3),
        "suspend, wake on demand, suspend again: {:?}",
        c.actions
    );
    // idle_suspend wakes the cluster before the other strategies run, so
    // target_size finds its replica back and has nothing to ask for.
    assert_eq!(
        c.actions
            .by_strategy
            .get("target_size set replication factor"),
        None
    );
    assert!(run.slots[0].sim.replicas.is_empty());
    assert!(c.waits.waited > 0);
}

#[test]
fn crash_every_makes_hydration_flap() {
    // 40 core-minutes on 400cc: 10 min to hydrate; up 50 min, down 10 min.
    let text = ONE
        .replace(
            "strategies = [{ type = \"target_size\", config = { target_size = \"400cc\" } }]",
            "initial_replicas = [{ name = \"r_400cc\", size = \"400cc\" }]",
        )
        .replace("memory_gib = 20", "memory_gib = 20\ncrash_every = \"50m\"")
        .replace(
            "start = \"02:00\", duration = \"1h\"",
            "start = \"00:00\", duration = \"6h\"",
        );
    let (_, run, rep) = sim(&text);
    let r = &run.slots[0].sim.replicas[0];
    assert_eq!(r.ooms.first(), Some(&(50 * MINUTE)));
    assert_eq!(r.ooms.len(), 24);
    assert!(r.hydrated_at(49 * MINUTE) && !r.hydrated_at(55 * MINUTE));
    assert_eq!(r.serving_from(55 * MINUTE), Some(60 * MINUTE));
    let c = &rep.clusters[0];
    assert!(
        (c.availability_pct - 100.0 * 50.0 / 60.0).abs() < 0.01,
        "{c:?}"
    );
    assert!(
        c.waits.waited > 0 && c.waits.worst_s <= 600.0,
        "{:?}",
        c.waits
    );
}
