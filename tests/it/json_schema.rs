//! One JSON contract: every command's `--output json` document, results and
//! errors alike, is checked against the published JSON Schema
//! (`src/render/clusterctl.schema.json`) and pinned by insta snapshots of
//! real runs against the emulator, with volatile values (times, run and
//! action ids, hosts, ages) replaced by "[redacted]". A change to these
//! snapshots is a change to a public interface: bump `FORMAT_VERSION` when
//! it is incompatible, and document it in the README ("JSON output").

use serde_json::{json, Value};

use crate::cli::{clusterctl, command, run_cmd, strategy};
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
    "age_seconds",
    "last_activity",
    "seconds",
    "until",
    "started_at",
    "finished_at",
    "duration_ms",
    "elapsed_ms",
    "previous_holder",
    "previous_until",
    "held_by",
    "by",
    "id",
    "last_crash",
    "environment_id",
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
        // Timestamps anywhere (state slots keep their own).
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
            *v = json!("[redacted]");
        }
        _ => {}
    }
}

pub(crate) fn schema() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/render/clusterctl.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("the schema file");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// Checks a document against the schema; panics with every violation.
pub(crate) fn conforms(validator: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// `clusterctl ARGS --output json`: exit code, envelope, schema; normalised.
fn document(
    v: &jsonschema::Validator,
    emu: &Emulator,
    args: &[&str],
    code: i32,
    name: &str,
) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--output", "json"]);
    let run = clusterctl(emu, &all).code(code);
    let mut doc = run.json();
    assert_eq!(doc["format_version"], 2, "{doc:#}");
    assert_eq!(doc["command"], name, "{doc:#}");
    assert_eq!(doc["ok"], code != 1 && code != 64, "{doc:#}");
    conforms(v, &doc);
    normalise(&mut doc);
    doc
}

#[test]
fn every_command_prints_one_envelope_that_follows_the_schema() {
    let v = schema();
    let emu = Emulator::start();
    let doc = document(&v, &emu, &["init"], 0, "init");
    insta::assert_json_snapshot!("init", doc);
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    emu.create_cluster("batch");
    strategy(&emu, "batch", "target_size", json!({"target_size": "80cc"}));

    insta::assert_json_snapshot!("dry_run", document(&v, &emu, &["dry-run"], 3, "dry-run"));
    insta::assert_json_snapshot!("apply", document(&v, &emu, &["apply"], 3, "apply"));
    // The new replica hydrates: the next plan waits, then retires r1.
    insta::assert_json_snapshot!(
        "dry_run_waiting",
        document(
            &v,
            &emu,
            &["dry-run", "--cluster", "analytics"],
            0,
            "dry-run"
        )
    );
    insta::assert_json_snapshot!("status", document(&v, &emu, &["status"], 0, "status"));
    insta::assert_json_snapshot!(
        "describe",
        document(&v, &emu, &["describe", "analytics"], 0, "describe")
    );
    insta::assert_json_snapshot!("check", document(&v, &emu, &["check"], 3, "check"));
    insta::assert_json_snapshot!("history", document(&v, &emu, &["history"], 0, "history"));
    insta::assert_json_snapshot!(
        "strategy_set",
        document(
            &v,
            &emu,
            &[
                "strategy",
                "set",
                "batch",
                "target_size",
                "--target-size",
                "25cc"
            ],
            0,
            "strategy set"
        )
    );
    insta::assert_json_snapshot!(
        "strategy_pause",
        document(
            &v,
            &emu,
            &["strategy", "pause", "batch", "--reason", "ticket 7", "--until", "2h"],
            0,
            "strategy pause"
        )
    );
    insta::assert_json_snapshot!(
        "strategy_ls",
        document(&v, &emu, &["strategy", "ls"], 0, "strategy ls")
    );
    insta::assert_json_snapshot!(
        "strategy_resume",
        document(
            &v,
            &emu,
            &["strategy", "resume", "batch"],
            0,
            "strategy resume"
        )
    );
    insta::assert_json_snapshot!(
        "strategy_rm",
        document(&v, &emu, &["strategy", "rm", "batch"], 0, "strategy rm")
    );
    emu.create_cluster("spare");
    insta::assert_json_snapshot!(
        "strategy_mv",
        document(
            &v,
            &emu,
            &["strategy", "mv", "analytics", "spare"],
            0,
            "strategy mv"
        )
    );
    clusterctl(&emu, &["strategy", "mv", "spare", "analytics"]).ok();
    insta::assert_json_snapshot!(
        "wipe_state",
        document(
            &v,
            &emu,
            &["wipe-state", "--cluster", "analytics"],
            0,
            "wipe-state"
        )
    );
    insta::assert_json_snapshot!(
        "history_wipe_state",
        document(&v, &emu, &["history", "--limit", "1"], 0, "history")
    );
    insta::assert_json_snapshot!(
        "unlock",
        document(&v, &emu, &["unlock", "--force"], 0, "unlock")
    );

    // doctor: its document follows the schema (not snapshotted: it names
    // the server's version and our role, which vary).
    document(&v, &emu, &["doctor"], 0, "doctor");

    // Every finding code is in the schema: a schedule window that never
    // opens again is a warning (`ended`).
    emu.create_cluster("old");
    strategy(
        &emu,
        "old",
        "schedule",
        json!({"timezone": "UTC", "windows": [{"cron": "0 0 8 1 1 * 2020", "duration_s": 3600, "size": "25cc"}]}),
    );
    let doc = document(&v, &emu, &["check", "--cluster", "old"], 3, "check");
    assert_eq!(doc["result"]["findings"][0]["code"], "ended", "{doc:#}");
    clusterctl(&emu, &["strategy", "rm", "old", "schedule"]).ok();
    // A burst no larger than the replica it would stand in for.
    emu.create_cluster("flat");
    emu.add_replica("flat", "r1", "100cc");
    strategy(
        &emu,
        "flat",
        "burst",
        json!({"burst_replica_size": "100cc"}),
    );
    let doc = document(&v, &emu, &["check", "--cluster", "flat"], 3, "check");
    let code = &doc["result"]["findings"][0]["code"];
    assert_eq!(code, "burst_not_larger", "{doc:#}");
    clusterctl(&emu, &["strategy", "rm", "flat", "burst"]).ok();

    // Errors are documents too: a bad name, a refused write, no database.
    insta::assert_json_snapshot!(
        "error_no_such_cluster",
        document(&v, &emu, &["describe", "analytic"], 64, "describe")
    );
    insta::assert_json_snapshot!(
        "error_usage",
        document(&v, &emu, &["dry-run", "--cluster", "nope"], 64, "dry-run")
    );
    document(
        &v,
        &emu,
        &[
            "strategy",
            "set",
            "batch",
            "target_size",
            "--target-size",
            "80cc",
        ],
        1,
        "strategy set",
    );
    let mut cmd = command();
    cmd.args([
        "history",
        "--output",
        "json",
        "--postgres-url",
        "postgres://u:secret@127.0.0.1:1/x?sslmode=disable",
        "--connect-timeout",
        "1",
        "--max-retries",
        "0",
    ]);
    let run = run_cmd(cmd).code(1);
    let doc = run.json();
    conforms(&v, &doc);
    assert_eq!(doc["error"]["code"], "database", "{doc:#}");
    assert!(!run.all().contains("secret"), "{}", run.all());
    // A bad command line in a JSON pipeline.
    let mut cmd = command();
    cmd.args(["dry-run", "--output", "json", "--no-such-flag"]);
    let run = run_cmd(cmd).code(64);
    let doc = run.json();
    conforms(&v, &doc);
    assert_eq!(doc["error"]["code"], "usage", "{doc:#}");
    assert_eq!(doc["command"], "dry-run", "{doc:#}");
    // The command is the one the line names, never another word of it; the
    // message is clap's first line, once.
    for (args, named) in [
        (&["-o", "json"][..], "clusterctl"),
        (&["--output=json", "status"], "status"),
        (&["strategy", "set", "-o", "json"], "strategy set"),
        (&["strategy", "-o", "json"], "strategy"),
        (
            &["-o", "json", "postgres://weird:hunter2@h/db"],
            "clusterctl",
        ),
        (&["statsu", "-o", "json"], "clusterctl"),
    ] {
        let mut cmd = command();
        cmd.args(args);
        let run = run_cmd(cmd).code(64);
        let doc = run.json();
        conforms(&v, &doc);
        assert_eq!(doc["command"], named, "{args:?}: {doc:#}");
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("Usage:"), "{args:?}: {message}");
        assert!(!message.starts_with("error"), "{args:?}: {message}");
        assert!(!run.all().contains("hunter2"), "{}", run.all());
    }
    // A missing argument is named (the first line alone said "the following
    // required arguments were not provided:" and stopped), in the document
    // and in a JSON log line.
    for output in ["--output", "--log-format"] {
        let mut cmd = command();
        cmd.args(["unlock", output, "json"]);
        let run = run_cmd(cmd).code(64);
        assert!(
            run.all()
                .contains("the following required arguments were not provided: --force"),
            "{}",
            run.all()
        );
    }
}

#[test]
fn commands_without_a_database_honour_output_json() {
    let v = schema();
    let mut cmd = command();
    cmd.args(["init", "--print", "--output", "json"]);
    let doc = run_cmd(cmd).ok().json();
    conforms(&v, &doc);
    assert_eq!(doc["command"], "init");
    assert!(doc["result"]["sql"]
        .as_str()
        .is_some_and(|s| s.contains("CREATE TABLE IF NOT EXISTS")));
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/scenarios/wake-5s.toml"
    );
    let mut cmd = command();
    cmd.args(["simulate", scenario, "--output", "json"]);
    let doc = run_cmd(cmd).ok().json();
    conforms(&v, &doc);
    assert_eq!(doc["command"], "simulate");
    assert!(doc["result"]["total"].is_object(), "{doc:#}");
    assert!(doc["result"].get("notes").is_none(), "{doc:#}");
    // Shortened to a day, its spike at 1d is past the end: said in the
    // document's notes, and on stderr in text.
    let dir = tempfile::tempdir().expect("temp dir");
    let late = dir.path().join("late.toml");
    let text = std::fs::read_to_string(scenario).expect("scenario");
    let marker = "[clusters.workload]";
    assert!(text.contains(marker), "wake-5s.toml has a workload table");
    let spike = "spikes = [{ at = \"1d\", duration = \"1h\", qps = 1.0 }]";
    std::fs::write(
        &late,
        text.replacen(marker, &format!("{marker}\n{spike}"), 1),
    )
    .expect("write");
    let late = late.to_str().expect("utf-8 path");
    let mut cmd = command();
    cmd.args(["simulate", late, "--days", "1", "--output", "json"]);
    let doc = run_cmd(cmd).ok().json();
    conforms(&v, &doc);
    let notes = doc["result"]["notes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(notes.len(), 1, "{doc:#}");
    assert!(
        notes[0]
            .as_str()
            .is_some_and(|n| n.contains("spikes[0] at 1d00h")),
        "{doc:#}"
    );
    let mut cmd = command();
    cmd.args(["simulate", late, "--days", "1"]);
    let run = run_cmd(cmd).ok();
    assert!(
        run.stderr.contains("note: ") && run.stderr.contains("it has no effect"),
        "{}",
        run.all()
    );
}

#[test]
fn a_busy_lease_is_a_normal_apply_document() {
    let v = schema();
    let emu = Emulator::start();
    clusterctl(&emu, &["init"]).ok();
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'elsewhere:1:run', \
         expires_at = now() + INTERVAL '10 minutes' WHERE name = 'controller'",
    );
    let doc = clusterctl(&emu, &["apply", "--output", "json"]).ok().json();
    conforms(&v, &doc);
    assert_eq!(doc["command"], "apply", "{doc:#}");
    assert_eq!(
        doc["result"]["lease_busy"]["held_by"], "elsewhere:1:run",
        "{doc:#}"
    );
}
