//! Connecting: TLS per sslmode, where the URL comes from, read-only roles,
//! and the rule that a password never appears in any output.

use serde_json::json;

use crate::cli::{clusterctl, command, init_tables, one_error_line, run_cmd, strategy, Run};
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

/// libpq 16's `sslrootcert=system`: the system's trust store, which
/// `SSL_CERT_FILE` names here (the test CA is in no system store). It was
/// read as a file named `system`.
#[test]
fn tls_sslrootcert_system_trusts_the_system_store() {
    let emu = Emulator::start();
    let url = format!("{}?sslrootcert=system", emu.direct_url());
    let with_store = |ca: String| {
        let mut cmd = command();
        cmd.args(["init", "--postgres-url", &url])
            .env("SSL_CERT_FILE", ca);
        run_cmd(cmd)
    };
    with_store(path(ca_path())).ok();
    let run = with_store(path(wrong_ca_path()));
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("not signed by a trusted CA"),
        "{}",
        run.stderr
    );
}

/// A certificate of the right CA for another host name: said so, not
/// taken for an untrusted CA (rustls 0.23 says it in words: an outside
/// check).
#[test]
fn tls_verify_full_to_another_host_name_says_so() {
    let emu = Emulator::start();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1",
        emu.direct_url()
            .replacen("@127.0.0.1:", "@wrong.example:", 1),
        path(ca_path())
    );
    assert!(url.contains("@wrong.example:"), "{url}");
    let run = with_url(&url, &["status", "--max-retries", "0"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("not for this host name"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("trusted CA"), "{}", run.stderr);
    // Named by the host, and by the address dialled (`hostaddr`).
    let port = emu
        .direct_url()
        .rsplit_once(':')
        .and_then(|(_, p)| p.split('/').next().map(str::to_string));
    let port = port.expect("the port");
    assert!(
        run.stderr.contains(&format!(
            "cannot connect to wrong.example:{port} (address 127.0.0.1:{port})"
        )),
        "{}",
        run.stderr
    );
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
        one_error_line(run);
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
    // As a warning in a JSON log too (it was logged at ERROR).
    let mut cmd = command();
    cmd.current_dir(dir.path())
        .args(["init", "--log-format", "json"]);
    let run = run_cmd(cmd);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("readable by other users"))
        .unwrap_or_else(|| panic!("{}", run.all()));
    let logged: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    assert_eq!(logged["level"], "WARN", "{line}");
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

/// A role granted our tables but not the migrations table (as for the
/// tables an earlier tool created): the snapshot reads the unfinished
/// actions again without the migrations read with them, so the plan knows
/// them still (it said they could not be read).
#[test]
fn a_role_that_cannot_read_the_migrations_still_reads_the_trail() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let ro = emu.readonly_url("public");
    let role = ro
        .trim_start_matches("postgres://")
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    emu.sql(&format!(
        "REVOKE SELECT ON clusterctl_schema_migrations FROM {role}"
    ));
    let run = with_url(&ro, &["dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("+ create replica r_25cc (25cc)"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("unfinished actions"), "{}", run.all());
}

/// The role a `postgres://role:password@…` URL logs in as.
fn role_of(url: &str) -> String {
    url.strip_prefix("postgres://")
        .and_then(|r| r.split(':').next())
        .expect("role in the URL")
        .to_string()
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
    let role = role_of(&url);
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

/// After a migration from mz-clusterctl (its three tables, DML granted,
/// no CREATE on the schema): `doctor` blocks, naming the GRANT (it said
/// apply would work), `apply` fails pointing at it; once granted, `apply`
/// creates the two tables mz-clusterctl lacked and works without CREATE
/// from then on. A refused write to our tables points at `doctor` too.
#[test]
fn a_role_without_create_after_a_migration_is_told_the_grant() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_replica("c", "r_25cc", "25cc");
    init_tables(&emu);
    emu.sql("DROP TABLE clusterctl_lease; DROP TABLE clusterctl_schema_migrations");
    let url = emu.readonly_url("public");
    let role = role_of(&url);

    // Without INSERT on the strategies: the refusal names the GRANTs of
    // an operator's role (doctor checks what apply needs, which only reads
    // them: it pointed there, and doctor said nothing of them).
    let run = with_url(
        &url,
        &[
            "strategy",
            "set",
            "c",
            "target_size",
            "--target-size",
            "25cc",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("permission denied")
            && run.stderr.contains(
                "`clusterctl init --print --role ROLE` prints the GRANTs of a role that runs \
                 the strategy commands"
            ),
        "{}",
        run.all()
    );

    emu.sql(&format!(
        "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
    ));
    let run = with_url(&url, &["doctor"]);
    assert_eq!(run.code, 3, "blocked: {}", run.all());
    assert!(
        run.stdout.contains("BLOCKER")
            && run.stdout.contains("may not create clusterctl's tables")
            && run
                .stdout
                .contains(&format!(r#"GRANT CREATE ON SCHEMA "public" TO "{role}""#)),
        "{}",
        run.all()
    );
    let run = with_url(&url, &["apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("needs CREATE on their schema")
            && run.stderr.contains("`clusterctl doctor` prints the GRANT"),
        "{}",
        run.all()
    );

    emu.sql(&format!("GRANT CREATE ON SCHEMA public TO {role}"));
    let run = with_url(&url, &["doctor"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("the first apply creates clusterctl's tables")
            && run.stdout.contains("clusterctl_lease"),
        "{}",
        run.all()
    );
    with_url(&url, &["apply"]).ok();
    emu.sql(&format!("REVOKE CREATE ON SCHEMA public FROM {role}"));
    // The tables it created are its own; the three others need their DML.
    with_url(&url, &["apply"]).ok();
    let run = with_url(&url, &["doctor"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        !run.stdout.contains("the first apply creates"),
        "{}",
        run.all()
    );
}

// ---- Issue 13 §2: hangs and retries -------------------------------------

/// `clusterctl ARGS` that must end by itself: killed (and reported as
/// hung, exit -1) after `limit`.
fn bounded(mut cmd: std::process::Command, limit: std::time::Duration) -> Run {
    use std::process::Stdio;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn clusterctl");
    let started = std::time::Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            return Run {
                code: -1,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: format!("HUNG: {}", String::from_utf8_lossy(&out.stderr)),
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_server_that_accepts_and_never_answers_cannot_hang_a_command() {
    let silent = crate::support::HangingListener::start();
    for args in [&["dry-run"][..], &["apply"][..], &["strategy", "ls"][..]] {
        let mut cmd = command();
        cmd.args(args).args([
            "--connect-timeout",
            "2",
            "--statement-timeout",
            "2s",
            "--max-retries",
            "1",
            "--postgres-url",
            &silent.url(),
        ]);
        let run = bounded(cmd, std::time::Duration::from_secs(60));
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("no answer within 2s"),
            "{args:?}: {}",
            run.stderr
        );
        // One round of retries: `apply` went on to wait them out again
        // on its tables, twice the bound the README gives.
        assert!(
            !run.stderr.contains("checking clusterctl's tables"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_connection_whose_statement_timed_out_is_never_reused() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    // The plan guard's read hangs on its connection for good.
    emu.stall_statement("WHERE r.cluster_id = $1", 1);
    let mut cmd = command();
    cmd.args(["apply", "--statement-timeout", "2s", "-v"])
        .env("DATABASE_URL", emu.url());
    let run = bounded(cmd, std::time::Duration::from_secs(90));
    assert_eq!(
        run.code,
        0,
        "the retry ran on a fresh connection: {}",
        run.all()
    );
    assert!(run.stderr.contains("retrying"), "{}", run.all());
    assert_eq!(
        emu.replicas("c"),
        vec![("r_25cc".to_string(), "25cc".to_string())]
    );
    // The lease was released at the end.
    let holder = emu.query_one("SELECT holder FROM clusterctl_lease WHERE name = 'controller'");
    assert_eq!(holder.as_deref(), Some(""));
}

#[test]
fn permanent_connection_errors_are_never_retried_by_any_command() {
    let emu = Emulator::start();
    init_tables(&emu);
    let pw = emu.password();
    let missing_db = emu.url().replace(emu.database(), "no_such_database");
    let wrong_pw = emu.url().replace(&format!(":{pw}@"), ":not-the-password@");
    // The proxy refuses TLS, like a server without it.
    let no_tls = emu.url().replace("sslmode=disable", "sslmode=require");
    for (url, says) in [
        (missing_db.as_str(), "does not exist"),
        (wrong_pw.as_str(), "password authentication failed"),
        (
            no_tls.as_str(),
            "server does not support TLS (the server offers no TLS: sslmode=prefer or disable connects without it)",
        ),
    ] {
        for args in [
            &["dry-run", "-v"][..],
            &["strategy", "ls", "-v"][..],
            &["wipe-state", "-v"][..],
        ] {
            let run = with_url(url, args);
            assert_eq!(run.code, 1, "{args:?}: {}", run.all());
            assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
            assert!(
                !run.stderr.contains("retrying"),
                "{args:?}: a permanent error was retried: {}",
                run.stderr
            );
        }
    }
    // A refused connection is transient, for every command alike.
    let refused = "postgres://u:pw@127.0.0.1:1/db?connect_timeout=2";
    for args in [
        &["dry-run", "-v", "--max-retries", "1"][..],
        &["strategy", "ls", "-v", "--max-retries", "1"][..],
        &["apply", "-v", "--max-retries", "1"][..],
    ] {
        let run = with_url(refused, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(run.stderr.contains("retrying"), "{args:?}: {}", run.stderr);
        // apply first checks the tables: it was not creating them.
        assert!(
            !run.stderr.contains("creating clusterctl's tables"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// A connection closed (EOF) before its start-up is answered (a balancer
/// restarting) is transient: it failed every command at once, and a run
/// mid-way stopped without releasing its lease (an outside check).
#[test]
fn a_connection_closed_at_start_up_is_retried() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    for args in [&["dry-run", "-v"][..], &["status", "-v"], &["apply", "-v"]] {
        emu.close_startups(2);
        let run = clusterctl(&emu, args).ok();
        assert!(run.stderr.contains("retrying"), "{args:?}: {}", run.all());
    }
    assert_eq!(emu.replicas("c").len(), 2, "applied");
}

#[test]
fn health_answers_while_another_client_pipelines_without_reading() {
    use std::io::{Read, Write};
    let emu = Emulator::start();
    init_tables(&emu);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = command();
    cmd.args([
        "apply",
        "--watch",
        "--interval",
        "1s",
        "--metrics-addr",
        &addr,
    ])
    .env("DATABASE_URL", emu.url())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut watch = cmd.spawn().expect("spawn");
    let get = |path: &str| -> Option<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        raw.split_whitespace().nth(1)?.parse().ok()
    };
    let started = std::time::Instant::now();
    while get("/healthz").is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "server never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A client that pipelines 3000 requests and never reads an answer.
    let mut greedy = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let writer = std::thread::spawn(move || {
        let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        for _ in 0..3000 {
            if greedy.write_all(request).is_err() {
                break;
            }
        }
        greedy
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let health = get("/healthz");
    let ready = get("/readyz");
    let _ = watch.kill();
    let _ = watch.wait();
    drop(writer.join());
    assert_eq!(health, Some(200), "/healthz answers");
    assert!(
        matches!(ready, Some(200 | 503)),
        "/readyz answers: {ready:?}"
    );
}

/// A URL without a password takes `PGPASSWORD`'s, as libpq (and the Python
/// tool) does; the newline a mounted secret ends with is not part of the
/// URL. A wrong `PGPASSWORD` is never shown.
#[test]
fn pgpassword_stands_in_for_a_url_without_one_and_a_trailing_newline_is_ignored() {
    let emu = Emulator::start();
    init_tables(&emu);
    let url = emu.url();
    let (scheme_user, rest) = url.split_once('@').expect("user@host");
    let (scheme_user, password) = scheme_user.rsplit_once(':').expect("user:password");
    let bare = format!("{scheme_user}@{rest}");
    let run_env = |url: &str, pgpassword: Option<&str>| {
        let mut cmd = command();
        cmd.env("DATABASE_URL", url).args(["status"]);
        match pgpassword {
            Some(p) => cmd.env("PGPASSWORD", p),
            None => cmd.env_remove("PGPASSWORD"),
        };
        run_cmd(cmd)
    };
    let run = run_env(&bare, Some(password));
    assert_eq!(run.code, 0, "{}", run.all());
    let run = run_env(&bare, None);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("password"), "{}", run.all());
    let run = run_env(&bare, Some("not-the-pw-4711"));
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(!run.all().contains("not-the-pw-4711"), "{}", run.all());
    // The URL's own password wins over PGPASSWORD.
    let run = run_env(&url, Some("not-the-pw-4711"));
    assert_eq!(run.code, 0, "{}", run.all());
    let run = run_env(&format!("{url}\n"), None);
    assert_eq!(run.code, 0, "{}", run.all());
}

/// A workload's `application_name` in the connection string: its
/// statements would be taken for clusterctl's and not count as activity,
/// so every command warns of it, once (an outside check: idle_suspend
/// suspended a cluster psql used); an empty one is refused before any
/// connection.
#[test]
fn an_application_name_of_a_workload_is_warned_of_once() {
    let emu = Emulator::start();
    crate::cli::init_tables(&emu);
    emu.create_cluster("c");
    for args in [
        &["status"][..],
        &[
            "strategy",
            "set",
            "c",
            "target_size",
            "--target-size",
            "25cc",
        ],
    ] {
        let run = with_url(&format!("{}&application_name=psql", emu.url()), args).ok();
        assert_eq!(
            run.stderr.matches("sets application_name=psql").count(),
            1,
            "{args:?}: {}",
            run.all()
        );
    }
    let run = with_url(&format!("{}&application_name=", emu.url()), &["status"]);
    // As every invalid connection string.
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("application_name is empty"),
        "{}",
        run.all()
    );
    let run = with_url(&emu.url(), &["status"]).ok();
    assert!(!run.stderr.contains("application_name"), "{}", run.all());
}

/// A connection string without a password, and no PGPASSWORD: the
/// server's demand for one is said with where it may come from (`.pgpass`
/// is not read).
#[test]
fn a_missing_password_says_where_one_may_come_from() {
    let emu = Emulator::start();
    let url = emu.url();
    let (scheme_user, rest) = url.split_once('@').expect("user@host");
    let user = scheme_user.rsplit_once(':').map_or(scheme_user, |(u, _)| u);
    let mut cmd = command();
    cmd.args(["status", "--max-retries", "0", "--postgres-url"])
        .arg(format!("{user}@{rest}"))
        .env_remove("PGPASSWORD");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("PGPASSWORD is not set or empty") && run.stderr.contains(".pgpass"),
        "{}",
        run.all()
    );
}
