//! End-to-end reconcile scenarios: the real binary against the emulator.

use serde_json::json;

use crate::cli::{audit, clusterctl, init_tables, strategy};
use crate::support::Emulator;

#[test]
fn target_size_resize_is_zero_downtime() {
    let emu = Emulator::start();
    emu.create_cluster("analytics");
    emu.add_index("analytics");
    emu.add_replica("analytics", "r_25cc", "25cc");
    emu.set_hydrated("analytics", "r_25cc", true);
    init_tables(&emu);
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );

    let dry = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        dry.stdout.contains("+ create replica r_50cc (50cc)"),
        "{}",
        dry.all()
    );
    assert_eq!(
        emu.replicas("analytics").len(),
        1,
        "dry-run changes nothing"
    );

    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("analytics"),
        vec![
            ("r_25cc".into(), "25cc".into()),
            ("r_50cc".into(), "50cc".into())
        ]
    );
    // Not hydrated yet: the old replica stays.
    let again = clusterctl(&emu, &["apply"]).ok();
    assert!(again.stdout.contains("No changes"), "{}", again.all());
    assert_eq!(emu.replicas("analytics").len(), 2);

    emu.set_hydrated("analytics", "r_50cc", true);
    let retire = clusterctl(&emu, &["apply"]).ok();
    assert!(
        retire
            .stdout
            .contains(r#"DROP CLUSTER REPLICA "analytics"."r_25cc""#),
        "{}",
        retire.all()
    );
    assert_eq!(
        emu.replicas("analytics"),
        vec![("r_50cc".into(), "50cc".into())]
    );

    let trail = audit(&emu, "analytics");
    assert_eq!(trail.len(), 2);
    assert!(trail
        .iter()
        .all(|(_, executed, err)| *executed && err.is_none()));
}
