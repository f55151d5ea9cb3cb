//! Predictive `idle_suspend` in the simulator: the statement log history the
//! snapshot carries, the runs it changes and the ones it must not.

use std::path::Path;

use super::scenario;

/// Office hours at 09:00 ±30 min on weekdays, 0.05 q/s; a 200cc replica
/// that hydrates in 6 minutes.
fn office(strategies: &str, history: &str, days: u32) -> String {
    format!(
        r#"
        name = "office"
        days = {days}
        seed = 3
        history = "{history}"
        [[clusters]]
        name = "bi"
        strategies = [{strategies}]
        [clusters.workload]
        memory_gib = 10
        hydration_work = "12m"
        windows = [{{ start = "09:00", duration = "8h", every = "1d", weekdays_only = true, qps = 0.05, noise = {{ start = "30m", duration = "30m", qps = 0.2 }} }}]
        "#
    )
}

const REACTIVE: &str = r#"{ type = "target_size", config = { target_size = "200cc" } },
    { type = "idle_suspend", config = { idle_after_s = 1800 } }"#;
const PREDICTIVE: &str = r#"{ type = "target_size", config = { target_size = "200cc" } },
    { type = "idle_suspend", config = { idle_after_s = 1800, predict = true } }"#;

fn run(text: &str, exact: bool) -> super::scorecard::Scorecard {
    let sc = scenario::parse(text, false, Path::new("."), None).unwrap();
    super::simulate(&sc, exact).unwrap()
}

#[test]
fn prediction_serves_the_first_users_that_reaction_fails() {
    let reactive = run(&office(REACTIVE, "28d", 14), false);
    let every = run(
        &office(&with(PREDICTIVE, "prewarm_target = 1.0"), "28d", 14),
        false,
    );
    let (r, p) = (&reactive.total, &every.total);
    assert_eq!(r.service.queries, p.service.queries, "the same demand");
    assert_eq!(r.oracle_credits, p.oracle_credits);
    assert!(r.service.failed_attempts > 20, "{:?}", r.service);
    assert_eq!(p.service.failed_attempts, 0, "{:?}", p.service);
    assert!(p.service.served_within_pct >= 99.9, "{:?}", p.service);
    assert!(r.service.served_within_pct < 99.0, "{:?}", r.service);
    // Waking ahead costs the onset's spread, not always-on.
    assert!(p.credits < 1.25 * p.oracle_credits, "{p:?}");
    assert!(p.credits < 0.5 * p.always_on_credits);
}

/// The default `prewarm_target` (99.5 %) wakes later than serving every
/// past day would: it costs less, serves at least its target, and fails a
/// handful of the earliest days' first queries, not the reactive hundreds.
#[test]
fn the_default_target_trades_a_few_early_queries_for_credits() {
    let every = run(
        &office(&with(PREDICTIVE, "prewarm_target = 1.0"), "28d", 14),
        false,
    )
    .total;
    let default = run(&office(PREDICTIVE, "28d", 14), false).total;
    let reactive = run(&office(REACTIVE, "28d", 14), false).total;
    assert!(
        default.credits < every.credits,
        "{} vs {}",
        default.credits,
        every.credits
    );
    assert!(
        default.service.served_within_pct >= 99.5,
        "{:?}",
        default.service
    );
    assert!(
        default.service.failed_attempts > 0
            && default.service.failed_attempts * 4 < reactive.service.failed_attempts,
        "{:?} vs {:?}",
        default.service,
        reactive.service
    );
}

/// A predictive row with one more config key.
fn with(rows: &str, key: &str) -> String {
    rows.replace("predict = true", &format!("predict = true, {key}"))
}

#[test]
fn without_history_prediction_learns_from_the_run() {
    // No log before the start: the first week reacts, then it predicts.
    let p = run(&office(PREDICTIVE, "0s", 21), false);
    let r = run(&office(REACTIVE, "0s", 21), false);
    assert!(
        p.total.service.failed_attempts < r.total.service.failed_attempts / 2,
        "{:?} vs {:?}",
        p.total.service,
        r.total.service
    );
}

#[test]
fn history_is_only_in_the_log() {
    // The demand of the run, and so the oracle, do not depend on it.
    let with = run(&office(REACTIVE, "28d", 7), false);
    let without = run(&office(REACTIVE, "0s", 7), false);
    assert_eq!(with.total.service.queries, without.total.service.queries);
    assert_eq!(with.total.oracle_credits, without.total.oracle_credits);
    assert_eq!(with.total.credits, without.total.credits);
}

#[test]
fn skipping_rounds_gives_the_same_run_as_planning_every_round() {
    // Predictive decisions are clock-driven (wakes, holds, thresholds) and
    // the first users end a hold: the plan's next decision and its
    // activity sensitivity must keep the fast path exact.
    for text in [office(PREDICTIVE, "28d", 10), office(PREDICTIVE, "3d", 10)] {
        super::assert_fast_path_exact(&text);
    }
}

/// A nightly batch of an hour whose start wanders over two hours (00:00 to
/// 02:00) on a 200cc replica that hydrates in 15 minutes.
fn wandering_nightly() -> String {
    r#"
    name = "nightly"
    days = 14
    seed = 3
    history = "28d"
    [[clusters]]
    name = "etl"
    strategies = [{ type = "target_size", config = { target_size = "200cc" } },
        { type = "idle_suspend", config = { idle_after_s = 900, predict = true } }]
    [clusters.workload]
    memory_gib = 10
    hydration_work = "30m"
    windows = [{ start = "01:00", duration = "1h", every = "1d", qps = 0.2, noise = { start = "1h" } }]
    "#
    .to_string()
}

/// Once a night's batch began, it is held as long as the shortest past
/// night from its own start, not to the latest start of past nights: a
/// night that began at 00:10 is not kept warm until 02:00.
#[test]
fn a_batch_that_began_early_is_not_held_to_the_latest_start() {
    let text = wandering_nightly();
    // Where a session began is recorded between rounds: the fast path
    // must see it as planning every round does.
    super::assert_fast_path_exact(&text);
    let p = run(&text, false).total;
    assert!(p.service.served_within_pct >= 99.5, "{:?}", p.service);
    // Hydrated near the earliest start, it waits an hour on average for a
    // start uniform over two, then runs the hour: about 1.9x the oracle's
    // hour and hydration. Held to the latest start as well, the nights
    // that began in the first hour would cost half an hour more on
    // average (2.06x when it was so).
    let v = p.vs_oracle.unwrap_or(f64::INFINITY);
    assert!(v < 1.97, "{v}");
}

#[test]
fn the_log_is_sampled_and_scaled_back() {
    let text = office(PREDICTIVE, "14d", 1).replace(
        "history = \"14d\"",
        "history = \"14d\"\n[statement_log]\nsample_rate = 0.5",
    );
    let sc = scenario::parse(&text, false, Path::new("."), None).unwrap();
    let mut next_id = 1;
    let sim = super::env::SimCluster::new(&sc.clusters[0], &sc, 0, &mut next_id);
    let hours = sim.demand_hours(&sc, -14 * scenario::DAY, 0);
    let logged: f64 = hours.iter().map(|h| h.statements).sum();
    // Ten weekdays of ~8 h at 0.05 q/s ≈ 14 400 statements, half of them
    // logged, each counted twice.
    assert!((logged - 14_400.0).abs() < 1_500.0, "{logged}");
    assert!(hours.iter().all(|h| h.first <= h.last));
}

/// The shipped scenario and alternative files behind the README's table.
fn shipped(scenario: &str, alternative: &str) -> super::scorecard::Scorecard {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let sc = shipped_scenario(scenario);
    let alt = super::compare::Alternative::load(
        &root.join(format!("alternatives/{scenario}-{alternative}.toml")),
    )
    .unwrap();
    super::simulate(&alt.apply(&sc).unwrap(), false).unwrap()
}

/// A shipped scenario with its own rows, as the README's table runs it.
fn shipped_as_is(scenario: &str) -> super::scorecard::Scorecard {
    super::simulate(&shipped_scenario(scenario), false).unwrap()
}

/// A shipped scenario with four weeks of history and the 5 s threshold.
fn shipped_scenario(scenario: &str) -> scenario::Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    scenario::load_with(
        &root.join(format!("{scenario}.toml")),
        &scenario::Overrides {
            history_ms: Some(28 * scenario::DAY),
            served_within_ms: Some(5 * scenario::SECOND),
            ..scenario::Overrides::default()
        },
    )
    .unwrap()
}

#[test]
fn every_shipped_alternative_applies_to_its_scenario() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/alternatives");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        // Named after its scenario: `<scenario>-<variant>.toml`.
        let scenario_name = [
            "nightly-batch",
            "fleet-100",
            "noisy-weekly-bi",
            "noisy-weekly-etl",
            "noisy-weekly-team",
        ]
        .into_iter()
        .find(|s| stem.starts_with(&format!("{s}-")))
        .unwrap_or_else(|| panic!("{stem}: no scenario of that name"));
        let sc = scenario::load(&dir.join(format!("../{scenario_name}.toml")), None).unwrap();
        let alt = super::compare::Alternative::load(&path).unwrap();
        let applied = alt.apply(&sc).unwrap();
        assert!(
            applied
                .clusters
                .iter()
                .zip(&sc.clusters)
                .any(|(a, b)| format!("{:?}", a.phases) != format!("{:?}", b.phases)),
            "{stem} changes no cluster"
        );
        n += 1;
    }
    assert_eq!(
        n, 15,
        "reactive, predictive and schedule for four scenarios, predictive and schedule for \
         noisy-weekly-team (its shipped rows react), and fleet-100 with prewarm_target 0.99"
    );
}

/// The README's headline: on nightly-batch, prediction serves ≥ 99.5 % of
/// queries within 5 s at ≤ 1.15× the oracle, where reacting with the same
/// rows serves under 95 % — at a 1-minute interval, no schedule written.
#[test]
fn nightly_batch_predictive_meets_the_goal_reactive_does_not() {
    let p = shipped("nightly-batch", "predictive").total;
    let r = shipped("nightly-batch", "reactive").total;
    assert!(p.service.served_within_pct >= 99.5, "{:?}", p.service);
    assert!(p.vs_oracle.is_some_and(|v| v <= 1.15), "{:?}", p.vs_oracle);
    assert!(
        p.service.failed_attempts * 10 < r.service.failed_attempts,
        "{:?}",
        p.service
    );
    assert!(r.service.served_within_pct < 95.0, "{:?}", r.service);
    assert!(r.service.failed_attempts > 100, "{:?}", r.service);
    // Waking ahead costs no more than waking late here.
    assert!(
        p.credits <= r.credits * 1.02,
        "{} vs {}",
        p.credits,
        r.credits
    );
}

/// Everyday noise on office hours (arrivals over an hour, departures over
/// two, the load ±40 %, a quiet Friday, a Saturday visitor, a holiday): the
/// dashboards of noisy-weekly-team meet the goal with the defaults, where
/// reacting with the same rows does not serve 99 %.
#[test]
fn noisy_office_hours_meet_the_goal_with_the_defaults() {
    let card = |alternative: Option<&str>| {
        let run = match alternative {
            Some(a) => shipped("noisy-weekly-team", a),
            None => shipped_as_is("noisy-weekly-team"),
        };
        run.clusters
            .into_iter()
            .find(|c| c.name == "dashboards")
            .unwrap()
    };
    let p = card(Some("predictive"));
    assert!(p.service.served_within_pct >= 99.5, "{:?}", p.service);
    assert!(p.vs_oracle.is_some_and(|v| v <= 1.15), "{:?}", p.vs_oracle);
    let r = card(None);
    assert!(r.service.served_within_pct < 99.0, "{:?}", r.service);
}

/// `prewarm_lateness` trades the first queries of early days for credits:
/// on office hours whose start wanders by ±30 min, aiming the prewarm half
/// way to the median onset costs less and still serves nearly everything.
#[test]
fn lateness_trades_early_first_queries_for_credits() {
    // `office`: 09:00 ± 30 min on weekdays.
    let noisy = |strategies: &str| office(strategies, "28d", 14);
    let early = run(&noisy(&with(PREDICTIVE, "prewarm_lateness = 0.0")), false).total;
    let late = run(&noisy(&with(PREDICTIVE, "prewarm_lateness = 0.5")), false).total;
    assert!(
        late.credits < early.credits,
        "{} vs {}",
        late.credits,
        early.credits
    );
    assert!(
        late.service.failed_attempts >= early.service.failed_attempts,
        "{:?} vs {:?}",
        late.service,
        early.service
    );
    assert!(late.service.served_within_pct > 97.0, "{:?}", late.service);
}
