//! Stabilization and burst limits on the emulator: time passes by moving
//! the timestamps the strategies keep in their state.

use serde_json::json;

use crate::cli::{backdate, clusterctl, init_tables, replica_names, strategy};
use crate::support::Emulator;

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

/// Cluster `c` maintaining `objects` indexes, its replica `r1` hydrating,
/// under `burst` (800cc, `max_burst_s` 900) that has just started.
fn bursting(objects: usize) -> (Emulator, Vec<String>) {
    let emu = Emulator::start();
    emu.create_cluster("c");
    let ids: Vec<String> = (0..objects).map(|_| emu.add_index("c")).collect();
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
    (emu, ids)
}

/// A replica that hydrates object after object keeps the burst past
/// `max_burst_s` (it counts from the latest object hydrated); once it
/// stalls, the burst gives up as before.
#[test]
fn a_burst_stays_while_the_normal_replica_hydrates_object_after_object() {
    let (emu, objects) = bursting(3);
    emu.set_hydrated("c", "c-burst", true);
    // r1 hydrates its first object; the burst has run past max_burst_s.
    emu.set_object_hydrated("c", "r1", &objects[0], true);
    clusterctl(&emu, &["apply"]).ok();
    backdate(&emu, "c", &["burst", "burst_since"], 1000);
    let run = clusterctl(&emu, &["dry-run", "-o", "json"]).ok();
    assert!(
        run.stdout
            .contains("but another replica is still hydrating: 1 object(s) hydrated"),
        "{}",
        run.all()
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), vec!["c-burst", "r1"], "kept");
    // describe says how far r1 got.
    let described = clusterctl(&emu, &["describe", "c"]).ok();
    assert!(
        described
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("r1 ") && l.contains("no (1/3)")),
        "{}",
        described.all()
    );
    // Stalled since: given up, saying how far it got.
    backdate(&emu, "c", &["burst", "progress", "at"], 901);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stderr
            .contains("no other replica hydrated a further object for 90")
            && run.stderr.contains("1 object(s) hydrated at most"),
        "{}",
        run.all()
    );
    assert_eq!(replica_names(&emu, "c"), vec!["r1"]);
}

#[test]
fn a_burst_that_never_helps_gives_up_with_a_warning() {
    let (emu, _) = bursting(1);
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
