//! Tests of the simulator: scenario errors, the environment's physics
//! (hydration, OOMs, managed clusters), determinism, the scorecard, the
//! timeline and plot, and that skipping quiet ticks changes nothing. The
//! realism knobs, the oracle and the bugs found by simulation have their own
//! files; the helpers here serve them all.

use std::path::{Path, PathBuf};

use super::engine;
use super::scenario::{self, Scenario, MINUTE, SECOND};
use super::scorecard::{self, Scorecard};

pub(super) fn parse(text: &str) -> Result<Scenario, String> {
    scenario::parse(text, false, Path::new("."), None).map_err(|e| e.0)
}

pub(super) fn sim(text: &str) -> (Scenario, engine::Run, Scorecard) {
    let sc = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let run = engine::run(&sc, false, None).unwrap();
    let card = scorecard::build(&sc, &run);
    (sc, run, card)
}

/// Appended to a scenario: an environment without the noise (no
/// provisioning, no restart delay, a complete and instant statement log, a
/// controller on the dot that never fails), so a test can predict times.
pub(super) const CALM: &str = r#"
[materialize]
provisioning = 0
restart_delay = 0

[controller]
run_time = 0
tick_jitter = 0
failure_rate = 0.0

[statement_log]
sample_rate = 1.0
flush_interval = 0
"#;

pub(super) fn calm(text: &str) -> String {
    format!("{text}\n{CALM}")
}

pub(super) fn examples() -> Vec<PathBuf> {
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

#[test]
fn the_format_example_of_the_scenarios_readme_parses() {
    // It named a size its own [[sizes]] did not offer.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let start = readme.find("```toml\nname = ").expect("the format example");
    let body = &readme[start + "```toml\n".len()..];
    let end = body.find("```").expect("its end");
    let sc = scenario::parse(&body[..end], false, &dir, None).unwrap_or_else(|e| panic!("{}", e.0));
    assert_eq!(sc.clusters.len(), 1);
}

/// An example, shortened to at most `days` so tests stay fast.
pub(super) fn example(path: &Path, days: u32) -> Scenario {
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
hydration_variance = 0.0
windows = [{ start = "02:00", duration = "1h", qps = 1.0 }]
"#;

/// A workload no size holds is said (the always-on baseline is priced at
/// the largest size, which cannot serve it either); one that fits is not.
#[test]
fn a_workload_no_size_holds_is_said() {
    let dir = std::path::Path::new(".");
    let notes = |text: &str| {
        super::scenario::parse(text, false, dir, None)
            .unwrap_or_else(|e| panic!("{}", e.0))
            .notes
    };
    assert!(notes(ONE).is_empty(), "{:?}", notes(ONE));
    let huge = notes(&ONE.replace("memory_gib = 20", "memory_gib = 60000"));
    assert_eq!(huge.len(), 1, "{huge:?}");
    assert!(
        huge[0].contains("needs up to 60000.0 GiB, more than any size holds"),
        "{huge:?}"
    );
}

#[test]
fn an_empty_cluster_name_and_a_zero_service_bound_are_refused() {
    let err = parse(&ONE.replace("name = \"c\"", "name = \" \"")).unwrap_err();
    assert!(err.contains("key 'name': must not be empty"), "{err}");
    let err = parse(&format!("{ONE}\n[clients]\nserved_within = \"0s\"\n")).unwrap_err();
    assert!(err.contains("must be at least 1s"), "{err}");
    assert!(parse(&format!("{ONE}\n[clients]\nserved_within = \"1s\"\n")).is_ok());
}

/// `{i}` is a fleet's index: one cluster keeps its name as written (a
/// live cluster `simulate --from-history` wrote, named `c_{i}`, was
/// replayed as `c_1`), a fleet numbers its clusters.
#[test]
fn a_single_cluster_keeps_braces_in_its_name_and_a_fleet_numbers_them() {
    let names = |text: &str| -> Vec<String> {
        let sc = parse(text).unwrap_or_else(|e| panic!("{e}"));
        sc.clusters.into_iter().map(|c| c.name).collect()
    };
    let one = ONE.replace("name = \"c\"", "name = \"c_{i}\"");
    assert_eq!(names(&one), ["c_{i}"]);
    let fleet = one.replace("name = \"c_{i}\"", "name = \"c_{i}\"\ncount = 2");
    assert_eq!(names(&fleet), ["c_1", "c_2"]);
}

/// What Materialize or a controller could not do is refused: a size named
/// twice (which one would a replica get?), an interval longer than the run
/// (one round, said nowhere); more initial replicas than
/// `max_replicas_per_cluster` is a note. A last partial interval has its
/// round.
#[test]
fn what_no_run_could_mean_is_refused_and_every_interval_has_its_round() {
    let sizes = "[[sizes]]\nname = \"s\"\ncredits_per_hour = 1\nmemory_gib = 8\ncpu_cores = 1\n";
    let twice = ONE.replace("[[clusters]]", &format!("{sizes}\n{sizes}\n[[clusters]]"));
    let err = parse(&twice).unwrap_err();
    assert!(
        err.contains("sizes[1] 's': key 'name': duplicate size name"),
        "{err}"
    );
    let six: Vec<String> = (1..=6)
        .map(|i| format!("{{ name = \"r{i}\", size = \"400cc\" }}"))
        .collect();
    let crowded = ONE.replace(
        "[clusters.workload]",
        &format!(
            "initial_replicas = [{}]\n\n[clusters.workload]",
            six.join(", ")
        ),
    );
    // Over the limit: a real state (a limit lowered since), kept with a
    // note, as Materialize keeps the replicas and refuses more.
    let sc = parse(&crowded).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        sc.notes
            .iter()
            .any(|n| n.contains("6 replicas, over max_replicas_per_cluster (5)")),
        "{:?}",
        sc.notes
    );
    let five = parse(&crowded.replace(", { name = \"r6\", size = \"400cc\" }", ""));
    assert!(five.is_ok_and(|sc| sc.notes.is_empty()));
    let err = parse(&ONE.replace("interval = \"1m\"", "interval = \"25h\"")).unwrap_err();
    assert!(
        err.contains("key 'interval': 1d01h is longer than the run (1d00h)"),
        "{err}"
    );
    let twice = ONE.replace(
        "[clusters.workload]",
        "[[clusters.reconfigure]]\nat = \"12h\"\nstrategies = []\n\n\
         [[clusters.reconfigure]]\nat = \"12h\"\nstrategies = []\n\n[clusters.workload]",
    );
    let err = parse(&twice).unwrap_err();
    assert!(
        err.contains("reconfigure[1]: key 'at': another reconfigure is at 12h"),
        "{err}"
    );
    let sc = parse(&ONE.replace("interval = \"1m\"", "interval = \"7m\"")).unwrap();
    assert_eq!(sc.ticks(), 206, "rounds at 0, 7m, … 23h55m");
    assert_eq!(parse(ONE).unwrap().ticks(), 1440);
}

/// `[controller] exec_cluster` naming no cluster of the scenario is a
/// mistake said, as every other misnamed reference is (it was accepted
/// and changed nothing).
#[test]
fn an_exec_cluster_naming_no_cluster_is_refused() {
    let text = format!("{ONE}\n[controller]\nexec_cluster = \"nope\"\n");
    let e = super::scenario::parse(&text, false, std::path::Path::new("."), None)
        .expect_err("no cluster is named nope");
    assert!(
        e.0.contains(
            "key 'controller.exec_cluster': no cluster is named 'nope' (the scenario has c)"
        ),
        "{}",
        e.0
    );
}

/// The clusters the controller leaves alone are left alone in a replay
/// too: its own session's (`controller.exec_cluster`) and those
/// Materialize schedules itself (`schedule = "on-refresh"`). A backtest
/// replayed strategies on them, and claimed savings no run could make.
#[test]
fn the_clusters_the_controller_leaves_alone_are_left_alone() {
    let (_, run, card) = sim(ONE);
    assert!(!run.slots[0].actions.is_empty(), "target_size acts");
    assert!(card.clusters[0].credits > 0.0);
    let exec = format!("{ONE}\n[controller]\nexec_cluster = \"c\"\n");
    let refresh = ONE.replace(
        "[clusters.workload]",
        "schedule = \"on-refresh\"\n\n[clusters.workload]",
    );
    for text in [exec, refresh] {
        let (_, run, card) = sim(&text);
        assert!(run.slots[0].actions.is_empty(), "{text}");
        assert_eq!(card.clusters[0].credits, 0.0, "{text}");
    }
    let other = ONE.replace(
        "[clusters.workload]",
        "schedule = \"on-demand\"\n\n[clusters.workload]",
    );
    let err = parse(&other).unwrap_err();
    assert!(
        err.contains("key 'schedule': 'on-demand' is not manual or on-refresh"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = ONE.replace("memory_gib = 20", "memory_gb = 20");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("memory_gb"), "{err}");
    assert!(err.contains("line 11"), "{err}");

    let text = ONE.replace("days = 1", "days = 1\nintervall = \"1m\"");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("intervall") && err.contains("line 4"), "{err}");

    let err = parse(&format!("{ONE}\n[clients]\nretries = 3\n")).unwrap_err();
    assert!(err.contains("retries") && err.contains("attempts"), "{err}");
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

    // Rows the planner would refuse together are refused, with the line.
    let text = ONE.replace(
        "{ type = \"target_size\", config = { target_size = \"400cc\" } }",
        "{ type = \"target_size\", config = { target_size = \"400cc\" } }, { type = \"shrink_to_fit\", config = { max_replica_size = \"100cc\" } }",
    );
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains("would undo each other") && err.contains("line 8"),
        "{err}"
    );

    // A window's noise beyond its length or its period drew occurrences
    // over thousands of years (the run hung): refused.
    let window = "windows = [{ start = \"02:00\", duration = \"1h\", qps = 1.0 }]";
    assert!(ONE.contains(window), "{ONE}");
    for (noise, key) in [
        (
            "every = \"1d\", noise = { duration = \"61m\" }",
            "noise.duration",
        ),
        (
            "every = \"1d\", noise = { duration = 99999999999 }",
            "noise.duration",
        ),
        ("every = \"1d\", noise = { start = \"25h\" }", "noise.start"),
    ] {
        let text = ONE.replace(
            window,
            &window.replace("qps = 1.0", &format!("qps = 1.0, {noise}")),
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.contains(key) && err.contains("at most"),
            "{noise}: {err}"
        );
    }
    let within = "every = \"1d\", noise = { start = \"1d\", duration = \"1h\" }";
    assert!(parse(&ONE.replace(
        window,
        &window.replace("qps = 1.0", &format!("qps = 1.0, {within}"))
    ))
    .is_ok());
    let err = parse(&format!("{ONE}\n[materialize]\non_no_replica = \"hang\"\n")).unwrap_err();
    assert!(err.contains("hang") && err.contains("error"), "{err}");
    let err = parse(&format!(
        "{ONE}\n[controller]\nrun_time = \"50s\"\ntick_jitter = \"20s\"\n"
    ))
    .unwrap_err();
    assert!(err.contains("shorter than 'interval'"), "{err}");
    let err = parse(&format!("{ONE}\n[statement_log]\nsample_rate = 1.5\n")).unwrap_err();
    assert!(err.contains("sample_rate"), "{err}");
    let err =
        parse(&ONE.replace("qps = 1.0 }", "qps = 1.0, noise = { skip = 2.0 } }")).unwrap_err();
    assert!(err.contains("skip"), "{err}");
    let err = parse(&format!("holidays = [\"6 Jan\"]\n{ONE}")).unwrap_err();
    assert!(
        err.contains("holidays") && err.contains("YYYY-MM-DD"),
        "{err}"
    );
}

#[test]
fn numbers_must_be_finite_and_bounded() {
    let sizes = "[[sizes]]\nname = \"s\"\ncredits_per_hour = 1.0\nmemory_gib = 64\ncpu_cores = 4\n";
    let one = ONE.replace("\"400cc\"", "\"s\"");
    let with_sizes = |size: &str| format!("{}\n{size}", one);
    assert!(parse(&with_sizes(sizes)).is_ok());
    for (from, to, key) in [
        (
            "credits_per_hour = 1.0",
            "credits_per_hour = inf",
            "credits_per_hour",
        ),
        (
            "credits_per_hour = 1.0",
            "credits_per_hour = 1e308",
            "credits_per_hour",
        ),
        (
            "credits_per_hour = 1.0",
            "credits_per_hour = nan",
            "credits_per_hour",
        ),
        (
            "credits_per_hour = 1.0",
            "credits_per_hour = -1.0",
            "credits_per_hour",
        ),
        ("memory_gib = 64", "memory_gib = inf", "memory_gib"),
        ("memory_gib = 64", "memory_gib = 1e9", "memory_gib"),
        ("cpu_cores = 4", "cpu_cores = inf", "cpu_cores"),
        ("cpu_cores = 4", "cpu_cores = 0", "cpu_cores"),
    ] {
        let err = parse(&with_sizes(&sizes.replace(from, to))).unwrap_err();
        assert!(
            err.contains("sizes[0] 's'") && err.contains(key) && err.contains("finite"),
            "{to}: {err}"
        );
    }
    let workload = [
        ("memory_gib = 20", "memory_gib = inf", "'memory_gib'"),
        ("memory_gib = 20", "memory_gib = 1e300", "'memory_gib'"),
        ("memory_gib = 20", "memory_gib = 20\nmemory_per_qps_gib = inf", "memory_per_qps_gib"),
        (
            "memory_gib = 20",
            "memory_gib = 20\nmemory_growth = { per_day_gib = inf }",
            "memory_growth.per_day_gib",
        ),
        (
            "memory_gib = 20",
            "memory_gib = 20\nspikes = [{ at = \"1h\", duration = \"1h\", memory_gib = inf }]",
            "spikes[0].memory_gib",
        ),
        (
            "memory_gib = 20",
            "memory_gib = 20\nrandom_spikes = { per_week = 1, duration = \"1h\", memory_gib = inf }",
            "random_spikes.memory_gib",
        ),
        (
            "memory_gib = 20",
            "memory_gib = 20\nweekly = [1, 1, 1, 1, 1, 1, nan]",
            "weekly[6]",
        ),
        ("qps = 1.0 }", "qps = inf }", "windows[0].qps"),
        ("qps = 1.0 }", "qps = 1.0, noise = { qps = nan } }", "windows[0].noise.qps"),
        ("hydration_variance = 0.0", "hydration_variance = inf", "hydration_variance"),
    ];
    for (from, to, key) in workload {
        let err = parse(&ONE.replace(from, to)).unwrap_err();
        assert!(
            err.contains("workload key") && err.contains(key) && err.contains("finite"),
            "{to}: {err}"
        );
    }
    // Durations given as numbers of seconds, and the scenario's own keys.
    for (from, to, key) in [
        ("\"40m\"", "inf", "invalid duration"),
        ("\"40m\"", "nan", "invalid duration"),
        ("\"40m\"", "1e300", "invalid duration"),
        ("\"40m\"", "\"99999999999999999999d\"", "invalid duration"),
        // A unit it does not know is said with the ones it does.
        ("\"40m\"", "\"1000y\"", "units ms, s, m, h, d, w; no years"),
        ("days = 1", "days = inf", "'days'"),
        ("days = 1", "days = nan", "'days'"),
    ] {
        let err = parse(&ONE.replace(from, to)).unwrap_err();
        assert!(err.contains(key), "{to}: {err}");
    }
    let err = parse(&format!("{ONE}\n[clients]\nbackoff_multiplier = 1e300\n")).unwrap_err();
    assert!(err.ends_with("got 1e300"), "{err}");
    for extra in [
        "[clients]\nbackoff_multiplier = inf",
        "[controller]\nfailure_rate = nan",
        "[statement_log]\nsample_rate = inf",
    ] {
        let err = parse(&format!("{ONE}\n{extra}\n")).unwrap_err();
        assert!(err.contains("finite"), "{extra}: {err}");
    }
}

#[test]
fn parse_errors_quote_at_most_a_window_of_the_line() {
    let brackets = "[".repeat(100_000);
    let err = parse(&brackets).unwrap_err();
    assert!(err.contains("line 1"), "{err}");
    assert!(err.len() < 1000, "{} bytes", err.len());
    assert!(err.contains("[[[…"), "{err}");

    // The error deep in a long line is quoted with what surrounds it,
    // marked where it is.
    let long = format!("name = \"x\"\n{} = = 1{}", "b".repeat(300), "c".repeat(300));
    let err = parse(&long).unwrap_err();
    assert!(
        err.contains("line 2, column 304") && err.len() < 1000,
        "{err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    let quote = lines.iter().find(|l| l.starts_with("2 | ")).unwrap();
    let caret = lines
        .iter()
        .find(|l| l.trim_start().starts_with("| "))
        .unwrap();
    assert!(
        quote.starts_with("2 | …b") && quote.ends_with("c…"),
        "{quote}"
    );
    let at = |l: &str, c: char| l.chars().enumerate().filter(|x| x.1 == c).last();
    let at = |l: &str, c: char| at(l, c).map(|x| x.0);
    assert_eq!(at(quote, '='), at(caret, '^'), "{err}");

    // Alternatives share the rule; short lines are quoted whole.
    let err = super::compare::Alternative::parse(&brackets, "alt")
        .unwrap_err()
        .0;
    assert!(
        err.starts_with("invalid alternative") && err.len() < 1000,
        "{err}"
    );
    let err = parse(&ONE.replace("days = 1", "days = 1\nintervall = 3")).unwrap_err();
    assert!(err.contains("4 | intervall = 3\n"), "{err}");

    // An error about a whole table (a key missing) is marked on its
    // header's line only: it drew 200 carets under a 19-character line.
    let err = parse(&ONE.replace("hydration_work", "#hydration_work")).unwrap_err();
    assert!(err.contains("missing field `hydration_work`"), "{err}");
    let caret = err.lines().find(|l| l.contains('^')).unwrap_or_default();
    assert_eq!(
        caret.trim_start_matches([' ', '|']),
        "^".repeat("[clusters.workload]".len()),
        "{err}"
    );
}

/// A 23-hour window at the largest rate: 83 million queries.
const HUGE: &str = r#"
name = "huge"
days = 1

[[clusters]]
name = "c"
strategies = [{ type = "target_size", config = { target_size = "400cc" } }]

[clusters.workload]
memory_gib = 20
hydration_work = "40m"
windows = [{ start = "00:00", duration = "23h", qps = 1000 }]
"#;

#[test]
#[allow(clippy::disallowed_methods)] // a test's own stopwatch
fn too_much_demand_is_refused_before_it_is_drawn() {
    // `unwrap_err` would print the whole scenario of a fleet.
    let refused = |text: &str| parse(text).err().unwrap_or_default();
    let err = refused(HUGE);
    assert!(
        err.contains("82.8 million queries") && err.contains("16.0 million"),
        "{err}"
    );
    assert!(
        err.contains("'days'") && err.contains("'qps'") && err.contains("'count'"),
        "{err}"
    );
    // 30 days at 10 queries/s, and a fleet of a 10 000 that adds up.
    let month = HUGE
        .replace("days = 1", "days = 30")
        .replace("qps = 1000", "qps = 10, every = \"1d\"");
    assert!(refused(&month).contains("24.8 million queries"));
    let fleet = HUGE
        .replace("name = \"c\"", "name = \"c\"\ncount = 10000")
        .replace("qps = 1000", "qps = 0.1");
    assert!(refused(&fleet).contains("82.8 million queries"));
    // A fleet's jitter may draw every member high: counted at its bound
    // (two members at ±99 % drew 18.6 million where 10.4 were estimated).
    let jittered = |jitter: &str| {
        HUGE.replace(
            "name = \"c\"",
            &format!("name = \"c\"\ncount = 2\njitter = {{ qps = {jitter} }}"),
        )
        .replace(
            "duration = \"23h\", qps = 1000",
            "duration = \"8h\", qps = 180",
        )
    };
    assert!(parse(&jittered("0.0")).is_ok(), "10.4 million expected");
    assert!(
        refused(&jittered("0.99")).contains("20.6 million queries"),
        "{}",
        refused(&jittered("0.99"))
    );
    // Occurrences every minute for ten years at a rate too small to count.
    let minutes = HUGE.replace("days = 1", "days = 3650").replace(
        "duration = \"23h\", qps = 1000",
        "duration = \"1s\", every = \"1m\", qps = 0.0001",
    );
    let err = refused(&minutes);
    assert!(
        err.contains("5.3 million demand occurrences") && err.contains("'every'"),
        "{err}"
    );
    // No demand at all, but 10 000 clusters for ten years at a minute: the
    // rounds alone took all of a machine's memory (an outside check).
    let idle_fleet = |days: u32| {
        HUGE.replace("days = 1", &format!("days = {days}"))
            .replace("name = \"c\"", "name = \"c\"\ncount = 10000")
            .replace(
                "windows = [{ start = \"00:00\", duration = \"23h\", qps = 1000 }]",
                "",
            )
    };
    let err = refused(&idle_fleet(3660));
    assert!(
        err.contains("10000 cluster(s)") && err.contains("52704000000 cluster-rounds"),
        "{err}"
    );
    assert!(parse(&idle_fleet(200)).is_ok(), "2.9 billion fit");
}

#[test]
fn days_on_the_command_line_replaces_the_files_length() {
    // `simulate FILE --days 2`: a quick try of a four-week scenario (it was
    // refused as a --from-history flag).
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/noisy-weekly-team.toml");
    let two = scenario::Overrides {
        days: Some(2),
        ..scenario::Overrides::default()
    };
    let sc = scenario::load_with(&path, &two).unwrap_or_else(|e| panic!("{}", e.0));
    assert_eq!(sc.horizon_ms, 2 * scenario::DAY);
    let own = scenario::load_with(&path, &scenario::Overrides::default())
        .unwrap_or_else(|e| panic!("{}", e.0));
    assert!(own.horizon_ms > sc.horizon_ms);
}

/// A spike or a reconfigure at or after the end is accepted (a scenario
/// shortened by `days` keeps them) and said: it was silent.
#[test]
fn what_falls_after_the_end_is_noted() {
    let text = |days: u32| {
        format!(
            r#"
name = "late"
days = {days}
[[clusters]]
name = "etl"
strategies = [{{ type = "target_size", config = {{ target_size = "25cc" }} }}]
reconfigure = [{{ at = "2d", strategies = [] }}, {{ at = "5d", strategies = [] }}]
[clusters.workload]
memory_gib = 1
hydration_work = "2m"
spikes = [{{ at = "1d", duration = "1h", qps = 1.0 }}, {{ at = "3d", duration = "1h", qps = 1.0 }}]
"#
        )
    };
    let notes = |days| parse(&text(days)).unwrap_or_else(|e| panic!("{e}")).notes;
    let late = |key: &str, at: &str| {
        format!(
            "clusters[0] 'etl' (line 4): {key} at {at} is at or after the end of the run \
             (2d00h): it has no effect"
        )
    };
    assert_eq!(
        notes(2),
        [
            late("reconfigure[0]", "2d00h"),
            late("reconfigure[1]", "5d00h"),
            late("workload.spikes[1]", "3d00h")
        ]
    );
    assert_eq!(notes(6), Vec::<String>::new());
    // The shipped examples ask for nothing they do not get.
    for path in examples() {
        let sc = scenario::load_with(&path, &scenario::Overrides::default())
            .unwrap_or_else(|e| panic!("{}", e.0));
        assert_eq!(sc.notes, Vec::<String>::new(), "{}", path.display());
    }
}

#[test]
fn the_shipped_examples_are_well_within_the_demand_bounds() {
    let history = scenario::Overrides {
        history_ms: Some(28 * scenario::DAY),
        ..scenario::Overrides::default()
    };
    for path in examples() {
        let sc = scenario::load_with(&path, &history).unwrap_or_else(|e| panic!("{}", e.0));
        let e = sc.estimate;
        assert!(
            e.queries <= scenario::MAX_QUERIES / 2.0,
            "{}: {e:?}",
            path.display()
        );
        assert!(
            e.occurrences <= scenario::MAX_OCCURRENCES / 10.0,
            "{}: {e:?}",
            path.display()
        );
        // The estimate is what the drawn demand expects.
        let expected: f64 = sc
            .clusters
            .iter()
            .map(|c| {
                let w = &c.workload;
                let occ: f64 = w
                    .occurrences
                    .iter()
                    .map(|o| o.qps * (o.end - o.start) as f64 / SECOND as f64)
                    .sum();
                occ + w.begins.len() as f64
            })
            .sum();
        let ratio = e.queries / expected;
        assert!(
            (0.8..1.25).contains(&ratio),
            "{}: {e:?} vs {expected}",
            path.display()
        );
    }
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
fn the_defaults_are_materializes() {
    let sc = parse(ONE).unwrap();
    assert_eq!(sc.materialize.on_no_replica, scenario::OnNoReplica::Error);
    assert_eq!(
        sc.materialize.managed_resize,
        scenario::ResizeMode::Blocking
    );
    assert_eq!(sc.materialize.provisioning_ms, MINUTE);
    assert_eq!(sc.materialize.max_replicas_per_cluster, 5);
    assert_eq!(sc.statement_log.sample_rate, 0.99);
    assert_eq!(sc.statement_log.flush_ms, 5 * SECOND);
    assert!(sc.controller.failure_rate > 0.0 && sc.controller.tick_jitter_ms > 0);
    assert_eq!(sc.clients.served_within_ms, 10 * SECOND);
}

/// §8.5: a CREATE beyond `max_replicas_per_cluster` is refused with
/// Materialize's text, counted after the statements queued before it; a
/// managed cluster's replication factor likewise. The controller reads the
/// limit and never asks for more: `shrink_to_fit` probing the six sizes
/// from 25cc to 400cc beside an 800cc replica keeps within five replicas,
/// with no refused DDL.
#[test]
fn replicas_beyond_the_limit_are_refused_as_materialize_does() {
    use super::env::{Pending, SimCluster};
    use crate::model::Size;
    let limited = ONE.replace(
        "[[clusters]]",
        "[materialize]\nmax_replicas_per_cluster = 2\n\n[[clusters]]",
    );
    let sc = parse(&limited).unwrap();
    let mut next_id = 1;
    let mut c = SimCluster::new(&sc.clusters[0], &sc, 0, &mut next_id);
    let create = |n: &str| Pending::Create {
        name: n.into(),
        size: Size::from("25cc"),
    };
    c.submit(create("a")).unwrap();
    c.submit(create("b")).unwrap();
    let refused = "creating cluster replica would violate max_replicas_per_cluster limit \
                   (desired: 3, limit: 2, current: 2)";
    assert_eq!(c.submit(create("c")), Err(refused.to_string()));
    c.apply_pending(MINUTE, &sc.sizes, &mut next_id);
    assert_eq!(c.replicas.len(), 2);
    assert_eq!(c.submit(create("c")), Err(refused.to_string()));
    // A drop queued before it makes room.
    c.submit(Pending::Drop { name: "a".into() }).unwrap();
    c.submit(create("c")).unwrap();
    assert!(parse(&limited.replace("= 2", "= 0")).is_err());

    let probing = calm(&ONE.replace(
        r#"strategies = [{ type = "target_size", config = { target_size = "400cc" } }]"#,
        r#"strategies = [{ type = "shrink_to_fit", config = { max_replica_size = "400cc" } }]
initial_replicas = [{ name = "r_800cc", size = "800cc" }]"#,
    ));
    let (_, run, card) = sim(&probing);
    let slot = &run.slots[0];
    let spans: Vec<(i64, i64)> = slot
        .sim
        .replicas
        .iter()
        .chain(&slot.sim.history)
        .map(|r| (r.created_ms, r.gone_ms.unwrap_or(i64::MAX)))
        .collect();
    let most = spans
        .iter()
        .map(|(from, _)| spans.iter().filter(|(a, b)| a <= from && from < b).count())
        .max();
    assert_eq!(most, Some(5), "{spans:?}");
    let c = &card.clusters[0];
    assert_eq!(c.actions.failed, 0, "{:?}", c.actions);
    assert!(c.actions.create >= 6, "{:?}", c.actions);
}

#[test]
fn replicas_hydrate_after_provisioning_then_work_over_cores() {
    let text = calm(ONE).replace("provisioning = 0", "provisioning = \"30s\"");
    let text = text.replace("run_time = 0", "run_time = \"2s\"");
    let (_, run, card) = sim(&text);
    let r = &run.slots[0].sim.replicas[0];
    // Created by the round at 00:00, in effect 2 s later; provisioned for
    // 30 s; 40 core-minutes on 4 cores.
    assert_eq!(r.created_ms, 2 * SECOND);
    assert_eq!(r.first_hydrated_ms, Some(32 * SECOND + 10 * MINUTE));
    assert_eq!(card.clusters[0].time_coverage_pct, 100.0);
    assert_eq!(card.clusters[0].service.served_within_pct, 100.0);
    let want = 4.0 * (24.0 * 3600.0 - 2.0) / 3600.0;
    assert!(
        (card.clusters[0].credits - want).abs() < 0.01,
        "{}",
        card.clusters[0].credits
    );
}

#[test]
fn undersized_replicas_crash_loop_and_queries_wait() {
    let text = calm(&ONE.replace("\"400cc\"", "\"100cc\""))
        .replace("restart_delay = 0", "restart_delay = \"10s\"");
    let (_, run, card) = sim(&text);
    let r = &run.slots[0].sim.replicas[0];
    assert_eq!(r.first_hydrated_ms, None, "8 GiB cannot hold 20 GiB");
    // Killed 5 minutes after each start, restarted 10 s later.
    assert_eq!(r.ooms[0], 5 * MINUTE);
    assert_eq!(r.ooms[1], 10 * MINUTE + 10 * SECOND);
    let c = &card.clusters[0];
    assert_eq!(c.time_coverage_pct, 0.0);
    // A replica exists, so queries wait rather than fail.
    assert_eq!(c.service.failed_attempts, 0);
    assert_eq!(c.service.unfinished, c.service.queries);
    assert_eq!(c.service.served_within_pct, 0.0);
    assert!(c.service.worst_wait_s > 20.0 * 3600.0, "{:?}", c.service);
}

#[test]
fn spending_under_the_oracle_is_said_to_be_by_not_serving() {
    // A hydration longer than the day: nothing is ever served, and the
    // oracle's bound (which serves every query) is far above the spend.
    let text = calm(&ONE.replace("hydration_work = \"40m\"", "hydration_work = \"100d\""));
    let (_, _, card) = sim(&text);
    let r = card.total.vs_oracle.expect("an oracle");
    assert!(r < 1.0, "{r}");
    assert!(
        card.summary
            .contains("which only a run that does not serve every query can spend less than"),
        "{}",
        card.summary
    );
    // Served: the usual wording.
    let (_, _, card) = sim(&calm(ONE));
    assert!(card.total.vs_oracle.is_some_and(|r| r >= 1.0));
    assert!(!card.summary.contains("does not serve"), "{}", card.summary);
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
fn skipping_quiet_ticks_changes_nothing_and_the_oracle_holds_on_every_example() {
    // The slowest unit test (every tick of every example planned): each
    // example in a thread of its own, so it does not finish alone on one
    // core after the others.
    std::thread::scope(|s| {
        for path in examples() {
            s.spawn(move || skipping_quiet_ticks_changes_nothing_on(&path));
        }
    });
}

fn skipping_quiet_ticks_changes_nothing_on(path: &Path) {
    // Two days (a night and a day, then the next) of each, but one of
    // the 100-cluster fleet: planning every tick of it is half the
    // suite's unit time otherwise, and its groups repeat each other.
    let mut sc = example(path, 2);
    if sc.clusters.len() > 50 {
        sc = example(path, 1);
    }
    let fast = super::simulate(&sc, false).unwrap();
    let exact = super::simulate(&sc, true).unwrap();
    assert_eq!(
        serde_json::to_string(&fast).unwrap(),
        serde_json::to_string(&exact).unwrap(),
        "{}",
        path.display()
    );
    for c in &fast.clusters {
        let sv = &c.service;
        if sv.served_within == sv.queries && sv.queries > 0 {
            assert!(
                c.oracle.credits <= c.credits + 1e-6,
                "{}: {}: oracle {} > run {} while serving every query",
                path.display(),
                c.name,
                c.oracle.credits,
                c.credits
            );
        }
    }
}

#[test]
fn timeline_has_a_row_per_tick_per_cluster() {
    let sc = parse(&calm(ONE)).unwrap();
    let mut out = Vec::new();
    engine::run(&sc, false, Some(&mut out)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as i64, 1 + sc.ticks());
    assert_eq!(
        lines[0],
        "time,cluster,replicas,credits_per_hour,waiting_queries,failed_queries,actions"
    );
    assert!(lines[1].ends_with(",0,create r_400cc"), "{}", lines[1]);
    assert!(lines[20].contains("r_400cc:400cc:true"), "{}", lines[20]);
}

/// A `--plot` into a directory that does not exist fails before the run
/// (it was written after it: a fleet's run and its figures lost).
#[test]
fn a_plot_that_cannot_be_written_fails_before_the_run() {
    let args = super::SimArgs {
        scenario: "no-such-scenario.toml".into(),
        plot: Some("no-such-dir/x.svg".into()),
        ..Default::default()
    };
    let e = super::run_cli(&args).expect_err("refused");
    assert!(e.to_string().contains("--plot no-such-dir/x.svg"), "{e}");
}

/// An output over an input is refused before the run: `--timeline` on
/// the scenario replaced it, `--timeline` on a trace made the next replay
/// read the timeline as statements, without a word (an outside check).
/// Two outputs on one file are refused too.
#[test]
#[allow(clippy::disallowed_methods)] // the test's own files
fn an_output_over_an_input_or_another_output_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("a directory");
    let scenario = dir.path().join("s.toml");
    let trace = dir.path().join("c.csv");
    std::fs::write(&trace, "7200,c\n").expect("trace");
    let text = ONE.replace(
        "windows = [{ start = \"02:00\", duration = \"1h\", qps = 1.0 }]",
        "trace_csv = \"c.csv\"",
    );
    std::fs::write(&scenario, text).expect("scenario");
    let refused = |timeline: &std::path::Path, plot: Option<&std::path::Path>| {
        let args = super::SimArgs {
            scenario: scenario.clone(),
            timeline: Some(timeline.to_path_buf()),
            plot: plot.map(std::path::Path::to_path_buf),
            ..Default::default()
        };
        super::run_cli(&args).err().map(|e| e.to_string())
    };
    let e = refused(&scenario, None).unwrap_or_default();
    assert!(e.contains("the run reads that file"), "{e}");
    // Named another way: the same file.
    let e = refused(&dir.path().join(".").join("c.csv"), None).unwrap_or_default();
    assert!(e.contains("the run reads that file"), "{e}");
    let out = dir.path().join("out.csv");
    let e = refused(&out, Some(&out)).unwrap_or_default();
    assert!(e.contains("--timeline writes that file too"), "{e}");
    // A hard link to an input is that file too.
    let hard = dir.path().join("hard.toml");
    std::fs::hard_link(&scenario, &hard).expect("a hard link");
    let e = refused(&hard, None).unwrap_or_default();
    assert!(e.contains("the run reads that file"), "{e}");
    // Two outputs, one through a link to a file not made yet.
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(dir.path().join("target.csv"), &link).expect("a symbolic link");
    let e = refused(&link, Some(&dir.path().join("target.csv"))).unwrap_or_default();
    assert!(e.contains("writes that file too"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&trace).ok().as_deref(),
        Some("7200,c\n")
    );
}

/// `--from-history`: `--out` named `.json` (the scenario is TOML, which
/// `simulate FILE.json` refused) and a seed no TOML integer holds (it
/// failed after the whole history was read) are refused before anything.
#[test]
fn from_history_refuses_what_its_scenario_file_cannot_hold() {
    let e = super::check_out(std::path::Path::new("d.json")).expect_err("refused");
    assert!(e.to_string().contains("name it .toml"), "{e}");
    let args = super::SimArgs {
        seed: Some(i64::MAX as u64 + 1),
        ..Default::default()
    };
    let e = super::check_alternatives(&args).expect_err("refused");
    assert!(e.to_string().contains("at most 9223372036854775807"), "{e}");
    let args = super::SimArgs {
        seed: Some(i64::MAX as u64),
        ..Default::default()
    };
    assert!(super::check_alternatives(&args).is_ok());
}

#[test]
fn plot_is_an_svg_with_every_cluster() {
    let (sc, run, card) = sim(ONE);
    let oracles = scorecard::oracles(&sc, &run);
    let svg = super::plot::render(&sc, &run, &card, &oracles).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains(">\nc\n<") && svg.contains("400cc"), "{svg}");
    // A control character in a name is shown as text: XML allows none.
    let (sc, run, card) = sim(&ONE.replace("name = \"c\"", "name = \"\\u001b[31mRED\""));
    let oracles = scorecard::oracles(&sc, &run);
    let svg = super::plot::render(&sc, &run, &card, &oracles).unwrap();
    assert!(!svg.contains('\u{1b}'), "{svg}");
    assert!(svg.contains("\\u{1b}[31mRED"), "{svg}");
}

#[test]
fn the_scorecard_counts_queries_served_within_the_threshold() {
    // Queries from 02:00 while the replica hydrates from 00:00: all served
    // at once. Started at 02:00 instead (a reconfigure), the first ten
    // minutes of queries wait for hydration.
    let text = calm(ONE);
    let (_, _, card) = sim(&text);
    let c = &card.clusters[0];
    assert_eq!(c.service.served_within, c.service.queries);
    assert_eq!(c.worst_daily_cold_start.worst_s, 0.0);
    let late = text.replace(
        "strategies = [{ type = \"target_size\", config = { target_size = \"400cc\" } }]",
        "[[clusters.reconfigure]]\nat = \"2h\"\nstrategies = [{ type = \"target_size\", config = { target_size = \"400cc\" } }]",
    );
    let (_, _, card) = sim(&late);
    let c = &card.clusters[0];
    let sv = &c.service;
    // The replica exists from 02:00: queries wait until 02:10.
    let late_share = 100.0 * (sv.queries - sv.served_within) as f64 / sv.queries as f64;
    assert!(
        (late_share - 100.0 * 10.0 / 60.0).abs() < 4.0,
        "about the first 10 of 60 minutes: {sv:?}"
    );
    assert!(
        (c.worst_daily_cold_start.worst_s - 600.0).abs() < 5.0,
        "{:?}",
        c.worst_daily_cold_start
    );
    assert_eq!(c.worst_daily_cold_start.day.as_deref(), Some("2026-01-05"));
    assert!(c.time_coverage_pct < 85.0 && c.time_coverage_pct > 80.0);
    assert!(
        sv.p95_wait_s > 0.0 && sv.worst_wait_s <= 600.0 + 1.0,
        "{sv:?}"
    );
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
hydration_variance = 0.0
windows = [{ start = "00:00", duration = "1d", qps = 0.5 }]
"#;

#[test]
fn managed_resize_is_graceful() {
    // Mid-resize: the catalog shows the size still serving, the old replica
    // serving and the new one hydrating under a `-pending` name.
    let sc = parse(&calm(&MANAGED.replace("DURATION", "63m"))).unwrap();
    let run = engine::run(&sc, false, None).unwrap();
    let mid = &run.slots[0].sim;
    let mut c = mid.empty_cluster();
    mid.observe(&sc, sc.horizon_ms, engine::lookback_ms(&sc), &mut c);
    assert!(c.managed);
    assert_eq!(c.size.as_ref().map(|s| s.0.as_str()), Some("100cc"));
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

    let (_, run, card) = sim(&calm(&MANAGED.replace("DURATION", "1d")));
    let slot = &run.slots[0];
    // `ALTER CLUSTER … SET (SIZE)` at 1h, in effect at once; 20 core-minutes
    // on 4 cores hydrate at 1h05, when the old replica is dropped and the
    // new one becomes r1.
    let old = slot
        .sim
        .history
        .iter()
        .find(|r| r.size.0 == "100cc")
        .unwrap();
    assert_eq!((old.name.as_str(), old.gone_ms), ("r1", Some(65 * MINUTE)));
    let pending = slot
        .sim
        .history
        .iter()
        .find(|r| r.name == "r1-pending")
        .unwrap();
    assert_eq!(pending.created_ms, 60 * MINUTE);
    assert_eq!(pending.first_hydrated_ms, Some(65 * MINUTE));
    assert_eq!(pending.gone_ms, Some(65 * MINUTE));
    let live: Vec<(&str, &str)> = slot
        .sim
        .replicas
        .iter()
        .map(|r| (r.name.as_str(), r.size.0.as_str()))
        .collect();
    assert_eq!(live, vec![("r1", "400cc")]);
    let c = &card.clusters[0];
    assert_eq!(c.service.waited, 0, "{:?}", c.service);
    assert_eq!(c.time_coverage_pct, 100.0);
    assert_eq!(
        (c.actions.create, c.actions.drop, c.actions.alter),
        (0, 0, 1)
    );
    assert_eq!(c.actions.by_strategy.get("target_size resize"), Some(&1));
    assert_eq!(c.resize_to_retire_s, vec![300.0]);
    // Both sizes are paid while both exist: 100cc until 1h05, 400cc from 1h.
    let want = 65.0 / 60.0 + 4.0 * (24.0 * 60.0 - 60.0) / 60.0;
    assert!((c.credits - want).abs() < 0.01, "{} vs {want}", c.credits);
}

/// On a release that resizes in the background, a resize whose new replicas
/// never hydrate before the deadline is rolled back by Materialize, and the
/// statement that sent it had succeeded. The simulated controller reads
/// that from its audit trail as the live one does, so it holds the resize
/// back (an hour, then twice as long each time) instead of sending it again
/// every round, each attempt paying for a second replica until its deadline.
#[test]
fn a_background_resize_that_never_takes_is_held_back_between_attempts() {
    // 60 core-minutes on 400cc take 15 min; the deadline is 10.
    let text = calm(
        &MANAGED
            .replace("DURATION", "1d")
            .replace("\"20m\"", "\"1h\""),
    )
    .replace(
        "restart_delay = 0",
        "restart_delay = 0\nmanaged_resize = \"background\"",
    );
    let (_, run, card) = sim(&text);
    let c = &card.clusters[0];
    // From 1h: sent, rolled back at 1h10, held an hour; sent again, held
    // two; then four, then eight: five attempts in the day, not one every
    // eleven minutes (over a hundred).
    assert!(c.actions.alter == 5, "{:?}", c.actions);
    assert!(
        c.alerts.iter().any(|a| a.contains("did not take")),
        "{:?}",
        c.alerts
    );
    assert!(run.slots[0]
        .sim
        .replicas
        .iter()
        .any(|r| r.name == "r1" && r.size.0 == "100cc"));
    assert_eq!(c.service.waited, 0, "{:?}", c.service);
}

#[test]
fn managed_resize_rolls_back_after_the_timeout_and_suspends_to_zero() {
    // 60 core-minutes on 400cc take 15 min: longer than WAIT UNTIL READY's
    // 10 minutes, so Materialize rolls back and the old size keeps serving.
    let text = calm(
        &MANAGED
            .replace("DURATION", "3h")
            .replace("\"20m\"", "\"1h\""),
    );
    let (_, run, card) = sim(&text);
    let slot = &run.slots[0];
    assert!(slot.resize_ms.is_empty());
    let c = &card.clusters[0];
    assert!(c.actions.alter >= 2, "{:?}", c.actions);
    assert_eq!(c.service.waited, 0);
    let rolled_back = slot
        .sim
        .history
        .iter()
        .find(|r| r.name == "r1-pending")
        .unwrap();
    assert_eq!(rolled_back.created_ms, 60 * MINUTE);
    assert_eq!(rolled_back.gone_ms, Some(70 * MINUTE));
    assert!(slot
        .sim
        .replicas
        .iter()
        .any(|r| r.name == "r1" && r.size.0 == "100cc"));
    // The blocking statement held the controller while it waited.
    assert!(
        card.scenario.rounds.blocked >= 9,
        "{:?}",
        card.scenario.rounds
    );

    // Replication factor 0 suspends; demand brings r1 back.
    let reconfigure = "[[clusters.reconfigure]]\nat = \"1h\"\nstrategies = [{ type = \"target_size\", config = { target_size = \"400cc\" } }]\n";
    assert!(MANAGED.contains(reconfigure));
    let text = MANAGED.replace(reconfigure, "").replace("DURATION", "1d").replace(
        "strategies = [{ type = \"target_size\", config = { target_size = \"100cc\" } }]",
        "strategies = [\n  { type = \"target_size\", config = { target_size = \"100cc\" } },\n  { type = \"idle_suspend\", config = { idle_after_s = 600 } },\n]",
    ).replace("windows = [{ start = \"00:00\", duration = \"1d\", qps = 0.5 }]", "windows = [{ start = \"02:00\", duration = \"1h\", qps = 0.5 }]");
    let (_, run, card) = sim(&calm(&text));
    let c = &card.clusters[0];
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
    // The first query found no replica: it failed, woke the cluster, and
    // its retries were served once r1 hydrated.
    assert!(c.service.failed_attempts > 0 && c.service.failed == 0);
}

#[test]
fn crash_every_makes_hydration_flap() {
    // 40 core-minutes on 400cc: 10 min to hydrate; up 50 min, then killed,
    // restarted 10 s later and 10 min hydrating again.
    let text = calm(
        &ONE.replace(
            "strategies = [{ type = \"target_size\", config = { target_size = \"400cc\" } }]",
            "initial_replicas = [{ name = \"r_400cc\", size = \"400cc\" }]",
        )
        .replace("memory_gib = 20", "memory_gib = 20\ncrash_every = \"50m\"")
        .replace(
            "start = \"02:00\", duration = \"1h\"",
            "start = \"00:00\", duration = \"6h\"",
        ),
    )
    .replace("restart_delay = 0", "restart_delay = \"10s\"");
    let (_, run, card) = sim(&text);
    let r = &run.slots[0].sim.replicas[0];
    assert_eq!(r.ooms.first(), Some(&(50 * MINUTE)));
    let period = 60 * MINUTE + 10 * SECOND;
    assert_eq!(r.ooms[1], 50 * MINUTE + period);
    assert!(r.was_hydrated_at(49 * MINUTE) && !r.was_hydrated_at(55 * MINUTE));
    assert!(r.was_hydrated_at(61 * MINUTE));
    let c = &card.clusters[0];
    let up = 50.0 * 60.0;
    let cycle = period as f64 / 1000.0;
    assert!(
        (c.time_coverage_pct - 100.0 * up / cycle).abs() < 1.5,
        "{}",
        c.time_coverage_pct
    );
    assert!(
        c.service.waited > 0 && c.service.worst_wait_s <= 610.0,
        "{:?}",
        c.service
    );
}

/// A window's `start = "10:00"` is 10:00 UTC whatever the scenario's start
/// (read as an offset it came at 16:00 for a 06:00 start: the thirty-fourth
/// session's outside check); an offset stays one; a one-off window or a
/// spike at a time of day already past on the first day is on the next.
#[test]
fn a_time_of_day_is_one_whatever_the_start() {
    let starts = |text: &str| -> Vec<(i64, i64)> {
        let sc = parse(text).unwrap_or_else(|e| panic!("{e}"));
        sc.clusters[0]
            .workload
            .occurrences
            .iter()
            .map(|o| (o.start / MINUTE, (o.end - o.start) / MINUTE))
            .collect()
    };
    let scenario = |start: &str, windows: &str| {
        format!(
            "name = \"t\"\nstart = \"{start}\"\ndays = 2\n[[clusters]]\nname = \"c\"\n\
             strategies = []\n[clusters.workload]\nmemory_gib = 1\nhydration_work = \"1m\"\n\
             {windows}\n"
        )
    };
    let daily = "windows = [{ start = \"10:00\", duration = \"1h\", every = \"1d\", qps = 0.1 }]";
    // 06:00 start: 10:00 is 4 h in, then a day later.
    assert_eq!(
        starts(&scenario("2026-01-05T06:00:00Z", daily)),
        [(4 * 60, 60), (28 * 60, 60)]
    );
    // A start given at another offset is the same instant: 08:00Z.
    assert_eq!(
        starts(&scenario("2026-01-05T10:00:00+02:00", daily)),
        [(2 * 60, 60), (26 * 60, 60)]
    );
    // An offset counts from the start.
    let offset = "windows = [{ start = \"10h\", duration = \"1h\", qps = 0.1 }]";
    assert_eq!(
        starts(&scenario("2026-01-05T06:00:00Z", offset)),
        [(10 * 60, 60)]
    );
    // One-off at 02:00 after a 06:00 start: the next day's.
    let once = "windows = [{ start = \"02:00\", duration = \"1h\", qps = 0.1 }]\n\
                spikes = [{ at = \"05:00\", duration = \"30m\", qps = 1.0 }]";
    assert_eq!(
        starts(&scenario("2026-01-05T06:00:00Z", once)),
        [(20 * 60, 60), (23 * 60, 30)]
    );
}

/// Every row of the README's "The shipped scenarios, re-run" table is what
/// the simulator gives now (served, failed, coverage, credits, vs oracle,
/// to the digits shown): a change of a simulated decision must re-measure
/// it. A wake of a managed cluster at twice its replication factor (the
/// thirty-third session's) moved `managed`'s figures and nothing said so.
#[test]
fn the_readmes_table_of_shipped_scenarios_reproduces() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = readme
        .split("### The shipped scenarios, re-run")
        .nth(1)
        .and_then(|t| t.split("\n\n").find(|p| p.trim_start().starts_with('|')))
        .unwrap();
    // A number as printed, within half a unit of its last digit.
    let close = |printed: &str, got: f64, what: &str| {
        let text = printed.trim().trim_end_matches(['%', 'x']);
        let want: f64 = text
            .parse()
            .unwrap_or_else(|_| panic!("{what}: '{printed}'"));
        let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
        let half = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-9;
        assert!(
            (got - want).abs() <= half,
            "{what}: README {printed}, now {got}"
        );
    };
    let mut cards: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    let mut rows = 0;
    for line in table.lines().skip(2) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let [scenario, cluster, served, failed, coverage, _, credits, vs, _] = cells[..] else {
            panic!("{line}");
        };
        let card = cards.entry(scenario.to_string()).or_insert_with(|| {
            let path = root.join(format!("examples/scenarios/{scenario}.toml"));
            let sc = scenario::load_with(&path, &scenario::Overrides::default())
                .unwrap_or_else(|e| panic!("{}", e.0));
            let run = engine::run(&sc, false, None).unwrap();
            serde_json::to_value(scorecard::build(&sc, &run)).unwrap()
        });
        let c = match cluster {
            "**total**" => &card["total"],
            name => card["clusters"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["name"] == name))
                .unwrap_or_else(|| panic!("{scenario}: no cluster {name}")),
        };
        let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        let at = format!("{scenario} {cluster}");
        close(
            served,
            num(&c["service"]["served_within_pct"]),
            &format!("{at} served"),
        );
        close(
            failed,
            num(&c["service"]["failed"]),
            &format!("{at} failed"),
        );
        close(
            coverage,
            num(&c["time_coverage_pct"]),
            &format!("{at} coverage"),
        );
        close(credits, num(&c["credits"]), &format!("{at} credits"));
        let ratio = vs.split_whitespace().next().unwrap_or_default();
        close(ratio, num(&c["vs_oracle"]), &format!("{at} vs oracle"));
        rows += 1;
    }
    assert!(rows >= 30, "{rows} rows");
}

/// The worst daily cold start names the calendar day (UTC) it happened on:
/// days were 24-hour slices from the start, named by the slice's first
/// date, so a start at 23:00 named the day before every wait (and every
/// `--from-history` backtest, which never starts at midnight).
#[test]
fn the_worst_cold_start_names_its_calendar_day() {
    let text = calm(
        "name = \"d\"\nstart = \"2026-01-05T23:00:00Z\"\ndays = 3\n[[clusters]]\nname = \"c\"\n\
         strategies = [\n  { type = \"target_size\", config = { target_size = \"100cc\" } },\n  \
         { type = \"idle_suspend\", config = { idle_after_s = 600 } },\n]\n\
         [clusters.workload]\nmemory_gib = 1\nhydration_work = \"5m\"\n\
         windows = [{ start = \"10:00\", duration = \"30m\", qps = 0.2 }]\n",
    );
    let (_, _, card) = sim(&text);
    let cold = &card.clusters[0].worst_daily_cold_start;
    assert!(cold.worst_s > 60.0, "{cold:?}");
    assert_eq!(cold.day.as_deref(), Some("2026-01-06"), "{cold:?}");
}

/// A cluster idle before the start (its last statement in `history`, an
/// hour before) is suspended at the first round, as the live controller
/// judges idleness by the log within its lookback, the start's past
/// included; it was suspended `idle_after_s` into the run. Without a
/// statement in the history it counts its silence from the start, as live
/// from its first sight of the cluster.
#[test]
fn a_cluster_idle_before_the_start_is_suspended_at_once() {
    let text = |history: &str| {
        format!(
            r#"
name = "t"
days = 1
interval = "1m"
{history}

[[clusters]]
name = "c"
initial_replicas = [{{ name = "r1", size = "25cc" }}]
strategies = [{{ type = "idle_suspend", config = {{ idle_after_s = 600 }} }}]

[clusters.workload]
memory_gib = 1
hydration_work = "1m"
windows = [{{ start = "22:00", duration = "1h", every = "1d", qps = 0.1 }}]
"#
        )
    };
    let first_drop = |history: &str| {
        let (_, run, _) = sim(&text(history));
        run.slots[0]
            .actions
            .iter()
            .find(|a| a.kind == crate::plan::ActionKind::DropReplica)
            .map(|a| a.t / SECOND)
    };
    let at_once = first_drop("history = \"2d\"");
    assert!(at_once.is_some_and(|s| s < 120), "{at_once:?}");
    let counted = first_drop("");
    assert!(counted.is_some_and(|s| s >= 600), "{counted:?}");
}

/// A cluster the strategies run (`c`) beside one no strategy runs
/// (`quickstart`, always on): the clusters a summary leaves alone.
pub(super) const WITH_QUICKSTART: &str = r#"
name = "d"
start = "2026-01-05T00:00:00Z"
days = 2

[[clusters]]
name = "c"
strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "idle_suspend", config = { idle_after_s = 600 } },
]

[clusters.workload]
memory_gib = 1
hydration_work = "5m"
windows = [{ start = "10:00", duration = "2h", qps = 0.2 }]

[[clusters]]
name = "quickstart"
strategies = []
initial_replicas = [{ name = "r1", size = "100cc" }]

[clusters.workload]
memory_gib = 1
hydration_work = "5m"
windows = [{ start = "10:00", duration = "10m", qps = 0.01 }]
"#;

/// A cluster no strategy runs (the session cluster or `quickstart` of a
/// backtest `--from-history`) is in every total but not in what "the
/// strategies spent", nor in its ratio: the summary says it apart (an
/// outside check found a fleet's ratio carried them).
#[test]
fn the_summary_leaves_out_the_clusters_no_strategy_runs() {
    let text = calm(WITH_QUICKSTART);
    let (_, _, card) = sim(&text);
    let (c, q) = (&card.clusters[0], &card.clusters[1]);
    let alone = card
        .total
        .left_alone
        .as_ref()
        .expect("quickstart is left alone");
    assert_eq!(alone.clusters, vec!["quickstart".to_string()]);
    assert_eq!(
        (alone.credits, alone.oracle_credits),
        (q.credits, q.oracle.credits)
    );
    assert!(
        (card.total.credits - c.credits - q.credits).abs() < 0.01,
        "{:?}",
        card.total
    );
    let vs = c.vs_oracle.expect("c has demand");
    let want = format!(
        "On the 1 cluster(s) they run, the strategies spent {} credits: {} the oracle's lower bound ({})",
        scorecard::num(c.credits),
        scorecard::ratio_text(Some(vs)),
        scorecard::num(c.oracle.credits)
    );
    assert!(
        card.summary.starts_with(&want),
        "{}\nwant: {want}",
        card.summary
    );
    assert!(
        card.summary.contains(&format!(
            "1 cluster(s) no strategy runs (quickstart) spent {} credits as they ran",
            scorecard::num(q.credits)
        )),
        "{}",
        card.summary
    );
    assert!(
        card.summary.contains("Over all 2 clusters, "),
        "{}",
        card.summary
    );
    // Side by side, each run says what it left alone.
    let both = super::compare::Comparison {
        runs: vec![super::compare::NamedRun {
            name: "current".into(),
            scorecard: card.clone(),
        }],
    };
    let side = super::compare::text(&both);
    assert!(
        side.contains(
            "current: 1 cluster(s) no strategy runs, counted above as they ran: quickstart"
        ),
        "{side}"
    );
    // With nothing left alone, the summary is the totals'.
    let (_, _, only) = sim(&text.replace("name = \"quickstart\"\nstrategies = []", "name = \"quickstart\"\nstrategies = [{ type = \"target_size\", config = { target_size = \"100cc\" } }]"));
    assert!(only.total.left_alone.is_none());
    assert!(
        only.summary.starts_with("The strategies spent"),
        "{}",
        only.summary
    );
}

/// The text's queries line: its first four parts add up to the queries
/// (it said "waited" among them, which counts queries served within the
/// threshold after a short wait too, and they summed to more: an outside
/// check).
#[test]
fn the_queries_line_adds_up() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/wake-1m.toml");
    let sc = example(&path, 2);
    let run = engine::run(&sc, false, None).unwrap();
    let card = scorecard::build(&sc, &run);
    let sv = &card.total.service;
    assert!(sv.waited > 0 && sv.served > sv.served_within, "{sv:?}");
    let text = scorecard::text(&card);
    let line = text
        .lines()
        .find(|l| l.starts_with("queries: "))
        .expect("the queries line");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // queries, served within, (the threshold's digits), later, failed, unfinished.
    let parts = [numbers[1], numbers[3], numbers[4], numbers[5]];
    assert_eq!(parts.iter().sum::<u64>(), numbers[0], "{line}");
    assert!(line.contains(" served later, "), "{line}");
}

/// A run in which no query came says so: not "100.0% of 0 queries were
/// served … covered 100.0% of the demand time", and its table's shares
/// are `-` (an outside check of a backtest of a quiet cluster).
#[test]
fn a_run_without_a_query_says_no_service_is_measured() {
    let quiet = WITH_QUICKSTART
        .replace("qps = 0.2", "qps = 0.0")
        .replace("qps = 0.01", "qps = 0.0");
    let (_, _, card) = sim(&calm(&quiet));
    assert_eq!(card.total.service.queries, 0, "{:?}", card.total.service);
    assert!(
        card.summary
            .ends_with("no query came, so no service is measured.")
            && !card.summary.contains("100.0%"),
        "{}",
        card.summary
    );
    let text = scorecard::text(&card);
    let total = text
        .lines()
        .find(|l| l.starts_with("TOTAL"))
        .expect("the total row");
    assert!(!total.contains("100.0%"), "{total}");
}
