//! Running the real `clusterctl` binary the way an operator does, against an
//! emulator, and arranging strategy rows.

use std::process::Command;

use serde_json::json;

use crate::support::Emulator;

/// What one run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{}", self.all());
        self
    }
}

/// Exactly one `error:` line, and no panic.
#[track_caller]
pub fn one_error_line(run: &Run) -> String {
    assert!(!run.all().contains("panicked"), "{}", run.all());
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{}", run.all());
    errors[0].to_string()
}

/// The `findings` of a JSON document (`doctor`, `check`): empty when it
/// has none.
pub fn findings(doc: &serde_json::Value) -> Vec<serde_json::Value> {
    doc["result"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A clean working directory, so no stray `.env` is picked up.
fn workdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("clusterctl-it-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clusterctl"));
    cmd.current_dir(workdir())
        .env_remove("DATABASE_URL")
        .env_remove("CLUSTERCTL_LOG")
        .env("NO_COLOR", "1");
    cmd
}

pub fn run_cmd(mut cmd: Command) -> Run {
    let out = cmd.output().expect("the clusterctl binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A command run while another is under way: just before the first
/// statement matching a pattern reaches the server ([`during`]).
pub struct During(std::sync::Arc<std::sync::Mutex<Option<Run>>>);

impl During {
    /// What the command said (it ran to its end before the statement went
    /// on).
    pub fn ran(&self) -> Run {
        let ran = self.0.lock().unwrap().take();
        ran.expect("the command ran beside the other")
    }
}

/// Runs `clusterctl ARGS` just before the first statement matching
/// `pattern` reaches the server (another operator or controller at that
/// very moment).
pub fn during(emu: &Emulator, pattern: &str, args: &[&str]) -> During {
    let ran = During(Default::default());
    let slot = std::sync::Arc::clone(&ran.0);
    let url = emu.url();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    emu.on_statement(pattern, 1, move |_| {
        let mut cmd = command();
        cmd.args(&args).env("DATABASE_URL", url);
        *slot.lock().unwrap() = Some(run_cmd(cmd));
    });
    ran
}

/// A statement a silent network holds past its attempt: it reaches the
/// server late (by [`LATE_BY`] unless told), once its command, run by
/// [`clusterctl_gives_up`], gave it up ([`late`]).
pub struct Late {
    /// Late statements that had arrived when it was armed.
    before: u64,
    by: std::time::Duration,
}

/// How late a [`late`] statement reaches the server.
pub const LATE_BY: std::time::Duration = std::time::Duration::from_secs(5);

/// `--statement-timeout` for a command whose statement is [`late`]: its
/// attempt is over well before the statement arrives.
const LATE_TIMEOUT: &str = "2s";

/// `clusterctl ARGS` whose statements time out well before a [`late`] one
/// arrives (`--statement-timeout` [`LATE_TIMEOUT`]).
pub fn clusterctl_gives_up(emu: &Emulator, args: &[&str]) -> Run {
    clusterctl(
        emu,
        &[args, &["--statement-timeout", LATE_TIMEOUT]].concat(),
    )
}

impl Late {
    /// Whether the late statement has reached the server yet.
    pub fn arrived(&self, emu: &Emulator) -> bool {
        emu.lates_arrived() > self.before
    }

    /// Returns once the late statement has reached the server and run
    /// (it is held from when it is sent, which may be well after it was
    /// armed).
    #[track_caller]
    pub fn landed(&self, emu: &Emulator) {
        let until = std::time::Instant::now() + self.by + std::time::Duration::from_secs(60);
        while !self.arrived(emu) {
            assert!(
                std::time::Instant::now() < until,
                "the late statement was never sent"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // It runs as it arrives, in a moment.
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Arms the first statement matching `pattern` to reach the server
/// [`LATE_BY`] after it is sent (`Action::Late`); call it just before the
/// command that sends it.
pub fn late(emu: &Emulator, pattern: &str) -> Late {
    late_by(emu, pattern, LATE_BY)
}

/// [`late`], reaching the server `by` after it is sent.
pub fn late_by(emu: &Emulator, pattern: &str, by: std::time::Duration) -> Late {
    let before = emu.lates_arrived();
    emu.fault(pattern, 1, crate::support::Action::Late(by));
    Late { before, by }
}

/// `clusterctl ARGS` with `DATABASE_URL` pointing at the emulator.
pub fn clusterctl(emu: &Emulator, args: &[&str]) -> Run {
    let mut cmd = command();
    cmd.args(args).env("DATABASE_URL", emu.url());
    run_cmd(cmd)
}

/// Creates our tables (as `apply` does) so strategy rows can be inserted.
pub fn init_tables(emu: &Emulator) {
    clusterctl(emu, &["init"]).ok();
}

/// The reason `status -o json` gives of its first cluster (the only one,
/// in the tests that ask).
pub fn status_reason(emu: &Emulator) -> String {
    let status = clusterctl(emu, &["status", "-o", "json"]).ok().json();
    status["result"]["clusters"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A fresh emulator with cluster `c`, its one replica `r1` (25cc)
/// hydrated, and a `target_size` row that keeps it: a converged cluster.
pub fn converged_c() -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "target_size",
        serde_json::json!({"target_size": "25cc", "replica_name": "r1"}),
    );
    emu
}

/// Inserts a strategy row for the cluster named `cluster`.
pub fn strategy(emu: &Emulator, cluster: &str, ty: &str, config: serde_json::Value) {
    let id = emu.cluster_id(cluster);
    let sql = format!(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         VALUES ({}, {}, {}::jsonb, now())",
        lit(&id),
        lit(ty),
        lit(&config.to_string())
    );
    emu.sql(&sql);
}

pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Audit rows of a cluster, oldest first: (action_sql, executed, error).
pub fn audit(emu: &Emulator, cluster: &str) -> Vec<(String, bool, Option<String>)> {
    let id = emu.cluster_id(cluster);
    emu.query_strings(&format!(
        "SELECT action_sql, executed::text, error_message FROM mz_cluster_strategy_actions \
         WHERE cluster_id = {} ORDER BY created_at, action_id",
        lit(&id)
    ))
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap_or_default(),
            r[1].as_deref() == Some("true"),
            r[2].clone(),
        )
    })
    .collect()
}

impl Run {
    /// Asserts the exit code, showing everything printed when it differs.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code:\n{}", self.all());
        self
    }

    /// Stdout parsed as one JSON document (nothing else may be printed there).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.all()))
    }
}

/// Inserts a strategy row whose `updated_at` is `secs_ago` seconds before now.
pub fn strategy_at(
    emu: &Emulator,
    cluster: &str,
    ty: &str,
    config: serde_json::Value,
    secs_ago: i64,
) {
    let id = emu.cluster_id(cluster);
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         VALUES ({}, {}, {}::jsonb, now() - make_interval(secs => {secs_ago}))",
        lit(&id),
        lit(ty),
        lit(&config.to_string())
    ));
}

/// Replaces every row of (cluster, type) by one row with `config`.
pub fn set_strategy(emu: &Emulator, cluster: &str, ty: &str, config: serde_json::Value) {
    let id = emu.cluster_id(cluster);
    emu.sql(&format!(
        "DELETE FROM mz_cluster_strategies WHERE cluster_id = {} AND strategy_type = {}",
        lit(&id),
        lit(ty)
    ));
    strategy(emu, cluster, ty, config);
}

/// Names of the cluster's replicas, sorted.
pub fn replica_names(emu: &Emulator, cluster: &str) -> Vec<String> {
    emu.replicas(cluster).into_iter().map(|(n, _)| n).collect()
}

/// Every state row, oldest first per cluster: (cluster_id, state_version, payload).
pub fn states(emu: &Emulator) -> Vec<(String, i32, serde_json::Value)> {
    emu.query_strings(
        "SELECT cluster_id, state_version::text, payload::text FROM mz_cluster_strategy_state \
         ORDER BY cluster_id, updated_at",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap_or_default(),
            r[1].as_deref().and_then(|v| v.parse().ok()).unwrap_or(-1),
            r[2].as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or(serde_json::Value::Null),
        )
    })
    .collect()
}

/// The newest state payload of the cluster named `cluster`, if any.
pub fn state_of(emu: &Emulator, cluster: &str) -> Option<serde_json::Value> {
    let id = emu.cluster_id(cluster);
    states(emu)
        .into_iter()
        .filter(|(c, _, _)| *c == id)
        .map(|(_, _, p)| p)
        .next_back()
}

/// Writes `payload` as the state of the cluster with id `id`, in our
/// layout's version, as a run would have.
pub fn write_state(emu: &Emulator, id: &str, payload: &serde_json::Value) {
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ({}, 2, {}::jsonb, now())",
        lit(id),
        lit(&payload.to_string())
    ));
}

/// Audit rows of a cluster with their decision context, oldest first.
pub fn audit_ctx(emu: &Emulator, cluster: &str) -> Vec<serde_json::Value> {
    let id = emu.cluster_id(cluster);
    emu.query_strings(&format!(
        "SELECT decision_ctx::text FROM mz_cluster_strategy_actions \
         WHERE cluster_id = {} ORDER BY created_at, action_id",
        lit(&id)
    ))
    .into_iter()
    .map(|r| {
        r[0].as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(serde_json::Value::Null)
    })
    .collect()
}

/// Moves a timestamp inside the cluster's newest state row back by `secs`.
pub fn backdate(emu: &Emulator, cluster: &str, path: &[&str], secs: i64) {
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

/// `[("name", "size")]` as owned pairs, to compare with `Emulator::replicas`.
pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
