//! Stabilization and burst limits on the emulator: time passes by moving
//! the timestamps the strategies keep in their state.

use serde_json::json;

use crate::cli::{clusterctl, init_tables, lit, replica_names, state_of, strategy};
use crate::support::Emulator;

/// Moves a timestamp inside the cluster's newest state row back by `secs`.
fn backdate(emu: &Emulator, cluster: &str, path: &[&str], secs: i64) {
    let mut state = state_of(emu, cluster).expect("state written");
    let mut slot = &mut state;
    for p in path {
        slot = &mut slot[*p];
    }
    let t: chrono::DateTime<chrono::Utc> = slot
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("no timestamp at {path:?}"));
    *slot = json!((t - chrono::Duration::seconds(secs)).to_rfc3339());
    emu.sql(&format!(
        "UPDATE mz_cluster_strategy_state SET payload = {}::jsonb WHERE cluster_id = {}",
        lit(&state.to_string()),
        lit(&emu.cluster_id(cluster))
    ));
}

#[test]
fn stabilization_delays_a_drop_until_it_has_been_wanted_long_enough() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "800cc"}));
    strategy(
        &emu,
        "c",
        "stabilization",
        json!({"scale_down_after_s": 600}),
    );

    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        replica_names(&emu, "c"),
        vec!["c-burst", "r1"],
        "scale-up at once"
    );
    emu.set_hydrated("c", "r1", true);
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert!(run.stdout.contains("keeping c-burst"), "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), vec!["c-burst", "r1"]);

    backdate(
        &emu,
        "c",
        &["stabilization", "drop_wanted_since", "c-burst"],
        601,
    );
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        replica_names(&emu, "c"),
        vec!["r1"],
        "dropped once wanted for 600 s"
    );
}

#[test]
fn a_burst_that_never_helps_gives_up_with_a_warning() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r1", "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "burst",
        json!({"burst_replica_size": "800cc", "max_burst_s": 900}),
    );

    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), vec!["c-burst", "r1"]);
    backdate(&emu, "c", &["burst", "burst_since"], 901);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stderr.contains("warning: cluster c (") && run.stderr.contains("max_burst_s 900"),
        "{}",
        run.all()
    );
    assert_eq!(replica_names(&emu, "c"), vec!["r1"]);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("No changes"),
        "no new burst after giving up: {}",
        run.all()
    );
}
