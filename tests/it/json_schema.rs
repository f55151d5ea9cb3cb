//! The JSON documents of dry-run, apply, status, check and history follow one
//! versioned schema (`format_version`, `command`): pinned by insta snapshots
//! of real runs against the emulator, with volatile values (times, run and
//! action ids, idle seconds) replaced by "[redacted]". A change to these
//! snapshots is a change to a public interface: bump `FORMAT_VERSION` when
//! it is incompatible, and document it in the README ("JSON output").

use serde_json::{json, Value};

use crate::cli::{clusterctl, strategy};
use crate::support::Emulator;

/// Keys whose values change from run to run.
const VOLATILE: &[&str] = &[
    "now",
    "created_at",
    "updated_at",
    "at",
    "run_id",
    "action_id",
    "seconds_ago",
    "idle_seconds",
    "last_activity",
    "seconds",
    "until",
    "started_at",
    "finished_at",
    "duration_ms",
    "elapsed_ms",
];

fn normalise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if VOLATILE.contains(&k.as_str()) && !val.is_null() {
                    *val = json!("[redacted]");
                } else {
                    normalise(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn document(emu: &Emulator, args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--output", "json"]);
    let mut v = clusterctl(emu, &all).code(code).json();
    assert_eq!(v["format_version"], 1, "{v:#}");
    assert_eq!(v["command"], args[0], "{v:#}");
    normalise(&mut v);
    v
}

#[test]
fn json_documents_follow_the_versioned_schema() {
    let emu = Emulator::start();
    clusterctl(&emu, &["init"]).ok();
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    emu.create_cluster("batch");
    strategy(&emu, "batch", "target_size", json!({"target_size": "80cc"}));

    insta::assert_json_snapshot!("dry_run", document(&emu, &["dry-run"], 3));
    insta::assert_json_snapshot!("apply", document(&emu, &["apply"], 3));
    insta::assert_json_snapshot!("status", document(&emu, &["status"], 0));
    insta::assert_json_snapshot!("check", document(&emu, &["check"], 3));
    insta::assert_json_snapshot!("history", document(&emu, &["history"], 0));
}
