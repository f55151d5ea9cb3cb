//! Connecting: TLS per sslmode, where the URL comes from, read-only roles,
//! and the rule that a password never appears in any output.

use serde_json::json;

use crate::cli::{clusterctl, command, init_tables, run_cmd, strategy, Run};
use crate::support::{ca_path, wrong_ca_path, Emulator};

fn with_url(url: &str, args: &[&str]) -> Run {
    let mut cmd = command();
    cmd.args(args).arg("--postgres-url").arg(url);
    run_cmd(cmd)
}

fn path(p: Option<std::path::PathBuf>) -> String {
    p.expect("scripts/pg.sh exports CLUSTERCTL_TEST_CA and CLUSTERCTL_TEST_WRONG_CA")
        .display()
        .to_string()
}

#[test]
fn tls_require_and_verify_full_connect() {
    let emu = Emulator::start();
    // init needs only our own tables, so it runs on plain PostgreSQL.
    let require = format!("{}?sslmode=require", emu.direct_url());
    with_url(&require, &["init"]).ok();
    let full = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        emu.direct_url(),
        path(ca_path())
    );
    with_url(&full, &["init"]).ok();
}

#[test]
fn tls_verify_full_with_the_wrong_ca_fails_clearly() {
    let emu = Emulator::start();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        emu.direct_url(),
        path(wrong_ca_path())
    );
    let run = with_url(&url, &["wipe-state", "-vv"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("error: cannot connect to"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("not signed by a trusted CA"),
        "{}",
        run.stderr
    );
    assert!(
        !run.all().contains(&emu.password()),
        "password leaked: {}",
        run.all()
    );
    assert!(!run.all().contains("panicked"), "{}", run.all());
}

#[test]
fn password_never_appears_in_any_output() {
    let emu = Emulator::start();
    let pw = emu.password();
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    emu.fail_ddl(1, "XX000", "simulated failure");

    let good = emu.url();
    let wrong_pw = good.replace(&format!(":{pw}@"), ":not-the-password@");
    let refused = format!("postgres://postgres:{pw}@127.0.0.1:1/db?connect_timeout=2");
    let malformed = format!("postgres://postgres:{pw}@127.0.0.1:notaport/db");
    let bad_sslmode = format!("{good}&sslmode=sometimes");
    let mut runs = vec![
        with_url(&good, &["dry-run", "-vv"]),
        with_url(&good, &["dry-run", "--output", "json", "-vv"]),
        with_url(&good, &["apply", "-vv"]),
        with_url(&refused, &["dry-run", "-vv"]),
        with_url(&malformed, &["dry-run", "-vv"]),
        with_url(&bad_sslmode, &["dry-run", "-vv"]),
    ];
    runs.push(with_url(&wrong_pw, &["dry-run", "-vv"]));
    for run in &runs {
        assert!(!run.all().contains(&pw), "password leaked:\n{}", run.all());
        assert!(!run.all().contains("panicked"), "{}", run.all());
    }
    // The failures are one readable line each.
    for run in &runs[3..] {
        assert_eq!(run.code, 1, "{}", run.all());
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", run.stderr);
    }
    assert!(runs[2].stdout.contains("FAILED"), "{}", runs[2].all());
    let audit = emu.query_strings(
        "SELECT decision_ctx::text, coalesce(error_message, '') FROM mz_cluster_strategy_actions",
    );
    assert!(!audit.is_empty());
    for row in audit {
        for cell in row.into_iter().flatten() {
            assert!(!cell.contains(&pw), "password in the audit trail: {cell}");
        }
    }
}

#[test]
fn url_precedence_flag_over_env_over_dotenv() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable = "postgres://u:pw@127.0.0.1:1/db?connect_timeout=2";
    // .env alone is used.
    std::fs::write(
        dir.path().join(".env"),
        format!("DATABASE_URL={}\n", emu.url()),
    )
    .expect(".env");
    let mut cmd = command();
    cmd.current_dir(dir.path()).arg("init");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("readable by other users"),
        "a world-readable .env is flagged: {}",
        run.stderr
    );
    // The environment beats .env.
    let mut cmd = command();
    cmd.current_dir(dir.path())
        .env("DATABASE_URL", unreachable)
        .arg("init");
    assert_eq!(run_cmd(cmd).code, 1);
    // The flag beats the environment.
    let mut cmd = command();
    cmd.current_dir(dir.path())
        .env("DATABASE_URL", unreachable)
        .args(["init", "--postgres-url", &emu.url()]);
    assert_eq!(run_cmd(cmd).code, 0);
}

#[test]
fn missing_url_is_a_clear_error() {
    let run = run_cmd({
        let mut c = command();
        c.arg("dry-run");
        c
    });
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("no database given"), "{}", run.stderr);
}

#[test]
fn dry_run_works_for_a_select_only_role() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let ro = emu.readonly_url("public");
    let run = with_url(&ro, &["dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("+ create replica r_25cc (25cc)"),
        "{}",
        run.stdout
    );
    // The same role cannot apply: a clear error, nothing changed.
    let run = with_url(&ro, &["apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("permission denied"), "{}", run.stderr);
    assert!(emu.replicas("c").is_empty());
    let _ = clusterctl(&emu, &["dry-run"]).ok();
}

#[test]
fn apply_works_for_a_role_without_create_once_the_tables_exist() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_replica("c", "r_25cc", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    // SELECT everywhere (readonly_url), plus the DML apply needs on our own
    // tables; no CREATE on the schema (PostgreSQL 15 grants none on public).
    let url = emu.readonly_url("public");
    let role = url
        .strip_prefix("postgres://")
        .and_then(|r| r.split(':').next())
        .expect("role in the URL")
        .to_string();
    emu.sql(&format!(
        "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
    ));
    let run = with_url(&url, &["apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    let states = emu.query_one("SELECT count(*) FROM mz_cluster_strategy_state");
    assert_eq!(
        states.as_deref(),
        Some("1"),
        "state written by the restricted role"
    );
}
