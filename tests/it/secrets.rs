//! A password never appears in any output (issue 14): not in logs (text or
//! JSON, at any verbosity, including the `connecting` line), errors,
//! warnings, JSON documents, the audit trail or our other tables, nor the
//! metrics file. Whatever the password holds (`/`, `?`, `@`, `#`, `:`, `%`,
//! quotes, unicode, a thousand characters), however the connection string
//! is given (flag, environment, `.env`; URL, percent-encoded URL,
//! key=value), for every command, when it fails (unreachable server, wrong
//! password, malformed string, a string the argument parser or `.env`
//! rejects) and when it succeeds.

use std::path::Path;

use proptest::prelude::*;
use serde_json::json;

use crate::cli::{clusterctl, command, init_tables, lit, replica_names, run_cmd, strategy, Run};
use crate::support::Emulator;

/// Every byte but unreserved ASCII as `%XX`.
fn encode_all(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only what the driver's URL parser needs encoded in a password: `%` (it
/// decodes) and `@` (it ends the password). `/`, `?`, `#`, `:`, spaces,
/// quotes and unicode stay as they are.
fn encode_minimal(s: &str) -> String {
    s.replace('%', "%25").replace('@', "%40")
}

/// A password as a single-quoted key=value value.
fn quote_kv(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// What must never be printed: the password, its encodings, and each run
/// of six or more letters and digits in it (a partial leak, e.g. the part
/// after an `@`).
fn needles(pw: &str) -> Vec<String> {
    let mut out = vec![pw.to_string(), encode_all(pw), encode_minimal(pw)];
    let mut word = String::new();
    for c in pw.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            if word.len() >= 6 {
                out.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out.sort();
    out.dedup();
    out
}

#[track_caller]
/// A cluster `c` with a replica and a strategy row, for commands to name.
fn one_configured_cluster() -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    emu
}

/// `clusterctl ARGS`, which must fail, without a panic and without `pw`
/// in anything it printed; the run, and the command line to name it by.
fn fails_without_echo(emu: &Emulator, args: &[String], pw: &str) -> (Run, String) {
    let run = clusterctl(emu, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let context = format!("`{}`", args.join(" "));
    assert_ne!(run.code, 0, "{context} should fail:\n{}", run.all());
    assert!(!run.all().contains("panicked"), "{context}: {}", run.all());
    assert_hidden(pw, &run.all(), &context);
    (run, context)
}

fn assert_hidden(pw: &str, text: &str, context: &str) {
    for needle in needles(pw) {
        assert!(
            !text.contains(&needle),
            "password (or the part {needle:?}) leaked in {context}:\n{text}"
        );
    }
}

/// How the connection string reaches the process.
#[derive(Debug, Clone, Copy)]
enum Via {
    Flag,
    Env,
    DotEnv,
}

/// `clusterctl ARGS` in `dir`, given `url` `via` the flag, the environment
/// or `.env` (mode 600).
fn run_with(dir: &Path, via: Via, url: &str, args: &[String]) -> Run {
    let mut cmd = command();
    cmd.current_dir(dir).args(args);
    let _ = std::fs::remove_file(dir.join(".env"));
    match via {
        Via::Flag => {
            cmd.arg("--postgres-url").arg(url);
        }
        Via::Env => {
            cmd.env("DATABASE_URL", url);
        }
        Via::DotEnv => {
            let env = dir.join(".env");
            std::fs::write(&env, format!("DATABASE_URL='{url}'\n")).expect("write .env");
            let mut perms = std::fs::metadata(&env).expect(".env").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
            std::fs::set_permissions(&env, perms).expect("chmod .env");
        }
    }
    run_cmd(cmd)
}

/// Every command that connects, with flags that exercise every output
/// channel: text and JSON documents, text and JSON logs, -v and -vv, the
/// metrics file.
fn commands(metrics: &Path) -> Vec<Vec<String>> {
    let m = metrics.display().to_string();
    let all: Vec<Vec<&str>> = vec![
        vec!["dry-run", "-vv", "--log-format", "json", "--output", "json"],
        vec!["apply", "-v", "--metrics-file", &m],
        vec!["dry-run", "-v"],
        vec!["wipe-state", "-v", "--log-format", "json"],
        vec!["unlock", "--force", "-vv"],
        vec!["status", "-vv", "--output", "json"],
        vec!["check", "-v"],
        vec!["history", "-v", "--output", "json"],
        vec!["init", "-v"],
        vec![
            "strategy",
            "set",
            "c",
            "burst",
            "--burst-replica-size",
            "50cc",
            "-v",
        ],
        vec!["strategy", "ls", "-v", "--output", "json"],
        vec!["strategy", "pause", "c", "-v"],
        vec!["strategy", "resume", "c", "-vv"],
        vec!["strategy", "rm", "c", "burst", "-v"],
        vec![
            "apply",
            "-vv",
            "--output",
            "json",
            "--log-format",
            "json",
            "--metrics-file",
            &m,
        ],
    ];
    all.into_iter()
        .map(|a| a.into_iter().map(String::from).collect())
        .collect()
}

const VIAS: [Via; 3] = [Via::Flag, Via::Env, Via::DotEnv];

/// Runs every command with `pw` in every setting and checks every channel.
fn check_password(pw: &str) {
    let emu = one_configured_cluster();
    // A DDL that fails: its error lands in the audit trail.
    emu.fail_ddl(1, "XX000", "simulated failure");

    let role = format!("{}_pw", emu.database());
    emu.sql(&format!(
        "CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD {}",
        lit(pw)
    ));
    let port = emu.proxy_addr().port();
    let db = emu.database().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = dir.path().join("clusterctl.prom");
    let cmds = commands(&metrics);

    let good = [
        format!(
            "postgres://{role}:{}@127.0.0.1:{port}/{db}?sslmode=disable",
            encode_minimal(pw)
        ),
        format!(
            "postgresql://{role}:{}@127.0.0.1:{port}/{db}?sslmode=disable",
            encode_all(pw)
        ),
        format!(
            "host=127.0.0.1 port={port} user={role} dbname={db} password={} sslmode=disable",
            quote_kv(pw)
        ),
    ];
    // The succeeding setting: every command works.
    for (i, args) in cmds.iter().enumerate() {
        let via = VIAS[i % 3];
        // `.env` holds the percent-encoded URL (no quoting issues).
        let url = match via {
            Via::DotEnv => &good[1],
            _ => &good[i % good.len()],
        };
        let run = run_with(dir.path(), via, url, args);
        let context = format!("`{}` via {via:?} with {url}", args.join(" "));
        assert!(
            run.code == 0 || run.code == 3,
            "{context} should succeed:\n{}",
            run.all()
        );
        assert_hidden(pw, &run.all(), &context);
    }

    // The failing settings.
    let user = emu.user();
    let failing = [
        // Unreachable server.
        format!(
            "postgres://{role}:{}@127.0.0.1:1/{db}?sslmode=disable&connect_timeout=2",
            encode_minimal(pw)
        ),
        // Wrong password (for the superuser of the test server).
        format!(
            "postgres://{user}:{}@127.0.0.1:{port}/{db}?sslmode=disable",
            encode_all(pw)
        ),
        // Malformed, in several ways.
        format!(
            "postgres://{role}:{}@127.0.0.1:notaport/{db}",
            encode_minimal(pw)
        ),
        format!("postgres://{role}:{pw}@127.0.0.1:{port}/{db}?sslmode=sometimes"),
        format!("postgres://{role}:{pw}@@127.0.0.1:{port}/{db}"),
        format!("postgress://{role}:{pw}@127.0.0.1:{port}/{db}"),
        // No `@host`: the driver reads the password as a port.
        format!("postgres://{role}:{}/{db}", encode_minimal(pw)),
        format!("host=127.0.0.1 port=x{port} password={}", quote_kv(pw)),
        format!("host=127.0.0.1 port={port} password='{pw}"),
    ];
    for (i, args) in cmds.iter().enumerate() {
        for (j, url) in failing.iter().enumerate() {
            // Malformed strings rotate over the commands.
            if j >= 2 && (i + j) % (failing.len() - 2) != 0 && i > 1 {
                continue;
            }
            let via = match VIAS[(i + j) % 3] {
                // `.env` cannot hold every raw password: quote-free ones only.
                Via::DotEnv if url.contains('\'') || url.contains('\n') => Via::Env,
                v => v,
            };
            let mut args = args.clone();
            args.extend(["--max-retries".to_string(), "0".to_string()]);
            let run = run_with(dir.path(), via, url, &args);
            let context = format!("`{}` via {via:?} with a failing string", args.join(" "));
            assert_ne!(run.code, 0, "{context} should fail:\n{}", run.all());
            assert!(!run.all().contains("panicked"), "{context}: {}", run.all());
            assert_hidden(pw, &run.all(), &context);
        }
    }

    // A connection string the argument parser rejects: a stray positional
    // argument, or a misspelt flag.
    for args in [
        vec![good[0].clone()],
        vec!["dry-run".to_string(), good[0].clone()],
        vec!["apply".to_string(), failing[0].clone()],
        vec!["status".to_string(), good[2].clone()],
        vec![format!("--postgres-ur={}", good[0])],
        vec!["check".to_string(), format!("--postgres-ur={}", good[0])],
        vec!["history".to_string(), format!("--postgres-ur={}", good[2])],
    ] {
        let mut cmd = command();
        cmd.current_dir(dir.path()).args(&args);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{args:?}: {}", run.all());
        assert_hidden(pw, &run.all(), "an argument-parser error");
    }

    // A `.env` line the parser rejects (an unterminated quote).
    std::fs::write(
        dir.path().join(".env"),
        format!("A=1\nDATABASE_URL='{}\nB=2\n", good[1]),
    )
    .expect("write .env");
    let mut cmd = command();
    cmd.current_dir(dir.path()).args(["dry-run", "-v"]);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(".env: cannot parse line 2"),
        "{}",
        run.all()
    );
    assert_hidden(pw, &run.all(), "a .env warning");

    // A `.env` that is not a file (here /dev/zero): a warning, not a read
    // until memory runs out.
    std::fs::remove_file(dir.path().join(".env")).expect("remove .env");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join(".env")).expect("symlink .env");
    let mut cmd = command();
    cmd.current_dir(dir.path()).args(["dry-run"]);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(".env: not a regular file"),
        "{}",
        run.all()
    );
    std::fs::remove_file(dir.path().join(".env")).expect("remove .env");

    // What the runs left behind: every table we write, and the metrics file.
    for table in [
        "mz_cluster_strategy_actions",
        "mz_cluster_strategies",
        "mz_cluster_strategy_state",
        "clusterctl_lease",
        "clusterctl_schema_migrations",
    ] {
        let rows = emu.query_strings(&format!("SELECT t::text FROM {table} t"));
        let text: Vec<String> = rows.into_iter().flatten().flatten().collect();
        assert_hidden(pw, &text.join("\n"), table);
    }
    let audit = emu.query_one("SELECT count(*)::text FROM mz_cluster_strategy_actions");
    assert_ne!(audit.as_deref(), Some("0"), "apply was audited");
    let prom = std::fs::read_to_string(&metrics).expect("metrics file written");
    assert!(prom.contains("clusterctl_runs_total"), "{prom}");
    assert_hidden(pw, &prom, "the metrics file");
    emu.sql(&format!("DROP ROLE IF EXISTS \"{role}\""));
}

/// The cases of the issue, and every printable ASCII character at once.
#[test]
fn passwords_of_the_issue_never_appear() {
    for pw in [
        // Base64 with `/` (the `connecting` line and every URL parse error).
        "Ab3/Xy+9QwZZq7/fe==",
        // `?` and `#`: the driver reads them as part of the password.
        "k7Qp2x?Rt5Lm#Vb9Nc",
        // `@`: the driver ends the password at the first one.
        "Gh4kP2@Wq8zXy3",
        // Every printable ASCII character, and unicode.
        " !\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~Passw0rdXyZ caf\u{e9}\u{540d}\u{524d}",
        // `%` followed by hex digits (the driver decodes it).
        "Mn8%41Bv3%zzQw7rT",
    ] {
        check_password(pw);
    }
}

#[test]
fn an_over_long_password_never_appears() {
    let pw: String = (0..150)
        .map(|i| format!("Wd{i:04}xy{}", ["/", "?", "@", "#", ":", "%", " "][i % 7]))
        .collect();
    check_password(&pw);
}

/// Letters and digits (long enough to spot a partial leak) joined by any
/// printable characters; now and then over-long.
fn password() -> impl Strategy<Value = String> {
    let word = "[A-Za-z0-9]{8}";
    let sep = "[ -/:-@\\[-`{-~\u{e9}\u{540d}]{1,3}";
    prop_oneof![
        4 => prop::collection::vec((word, sep), 1..5),
        1 => prop::collection::vec((word, sep), 60..120),
    ]
    .prop_map(|parts| parts.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn generated_passwords_never_appear(pw in password()) {
        check_password(&pw);
    }
}

/// A connection string given to a flag that takes a number or an address
/// (`--connect-timeout $T "$DATABASE_URL"` with `$T` unset): the value
/// parser's error quoted its first 40 or 80 characters, cut before the
/// redaction could find it, with the password's start (an outside check).
#[test]
fn a_connection_string_given_to_a_number_or_an_address_flag_is_never_echoed() {
    let url = "postgres://alice%40example.com:TopSecretPWTopSecretPWTopSecretPW@abc123xyz.us-east-1.aws.materialize.cloud:6875/materialize?sslmode=require";
    let kv = "password=TopSecretPW host=127.0.0.1 port=1 user=u dbname=materialize";
    let short = "postgres://u:TopSecretPWTopSecretPWTopSecretPW@h/d";
    for args in [
        vec!["status", "--connect-timeout", url],
        vec!["status", "--max-retries", kv],
        vec!["status", "--max-retries", short],
        vec!["apply", "--max-actions", url],
        vec!["history", "--limit", kv],
        vec!["apply", "--watch", "--metrics-addr", url],
        vec!["apply", "--watch", "--metrics-addr", short],
        vec!["apply", "--watch", "--metrics-addr", kv],
        vec!["simulate", "--from-history", "--days", short],
        // A password holding a blank, a tab or a line break: masked only
        // up to it, the rest showed (an outside re-check).
        vec!["apply", "--max-actions", "postgres://u:top TopSecret@h/db"],
        vec![
            "apply",
            "--max-actions",
            "host=h password=s3cret\\ TopSecret user=u",
        ],
        vec![
            "apply",
            "--metrics-addr",
            "postgres://u:s3c\tTopSecret@h/db",
        ],
        vec![
            "status",
            "--max-retries",
            "postgres://u:s3c\nTopSecret@h/db",
        ],
    ] {
        for output in [&[][..], &["-o", "json"]] {
            let mut cmd = command();
            cmd.args(&args).args(output).env_remove("DATABASE_URL");
            let run = run_cmd(cmd);
            let context = format!("{args:?} {output:?}");
            assert_eq!(run.code, 64, "{context}: {}", run.all());
            assert!(!run.all().contains("TopSe"), "{context}: {}", run.all());
            assert!(run.all().contains("****"), "{context}: {}", run.all());
        }
    }
}

/// A connection string given where a selection or a file belongs, holding
/// a quote or a hidden character: a message repeats it shell-quoted
/// (`'\''`) or escaped (`\u{1b}`), and the password showed past that
/// character (an outside check).
#[test]
fn a_connection_string_repeated_shell_quoted_is_never_echoed() {
    let emu = one_configured_cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    for value in [
        "postgres://u:Zq1'TopSecret@h/db",
        "postgres://u:Zq1\u{1b}TopSecret@h/db",
        "host=h user=u password='Zq1 TopSecret' dbname=d",
    ] {
        for output in [&[][..], &["-o", "json"], &["--log-format", "json"]] {
            let mut cmd = command();
            cmd.current_dir(dir.path())
                .args(["dry-run", "--filter-clusters", value])
                .args(output)
                .env("DATABASE_URL", emu.url());
            let run = run_cmd(cmd);
            assert!(
                !run.all().contains("TopSe"),
                "{value:?} {output:?}: {}",
                run.all()
            );
        }
        let mut cmd = command();
        cmd.current_dir(dir.path())
            .args(["dry-run", "--out", value])
            .env("DATABASE_URL", emu.url());
        let run = run_cmd(cmd);
        assert!(
            !run.all().contains("TopSe"),
            "--out {value:?}: {}",
            run.all()
        );
    }
    // A pause's reason the readers would refuse is refused when written.
    let mut cmd = command();
    cmd.args([
        "strategy",
        "pause",
        "c",
        "--reason",
        "db host=h password = TopSecret",
    ])
    .env("DATABASE_URL", emu.url());
    let run = run_cmd(cmd);
    assert_eq!(run.code, 64, "{}", run.all());
    assert!(!run.all().contains("TopSe"), "{}", run.all());
}

/// `apply --watch` logs at info by default: its `connecting` line too.
#[test]
fn the_watch_loop_never_logs_the_password() {
    let pw = "Ab3/Xy+9QwZZq7/fe==";
    for format in ["text", "json"] {
        let mut cmd = command();
        cmd.args([
            "apply",
            "--watch",
            "--interval",
            "1s",
            "--max-retries",
            "0",
            "--log-format",
            format,
            "--postgres-url",
            &format!("postgres://u:{pw}@127.0.0.1:1/db?connect_timeout=1"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("connecting"), "{text}");
        assert!(text.contains("u:****@127.0.0.1:1"), "{text}");
        assert_hidden(pw, &text, "apply --watch");
    }
}

/// A connection string given where a name, a size or a file belongs (an
/// operator's `describe "$DATABASE_URL"`, a `--cluster` fed the wrong
/// variable) was echoed whole by the message that refused it: error lines,
/// JSON documents, JSON logs, warnings; and, as a temporary replica's size,
/// kept in the audit trail. Now a name that is a connection string is
/// refused (exit 64), anything else that echoes one shows it as any
/// connection string is, and a name that merely holds an `@` is shown as
/// given.
#[test]
fn a_connection_string_given_as_a_name_is_not_echoed() {
    let emu = one_configured_cluster();
    // A `"` and a `\` too: a JSON document escapes them.
    let pw = "Kx7\"Wq2\\Lm9vT4";
    let url = format!("postgres://u:{}@db.example:6875/materialize", pw);
    let kv = format!("host=db.example user=u password={}", quote_kv(pw));
    let cases: Vec<Vec<String>> = vec![
        vec!["describe".into(), url.clone()],
        vec!["describe".into(), kv.clone()],
        vec!["status".into(), "--cluster".into(), url.clone()],
        vec![
            "status".into(),
            format!("--cluster={url}"),
            "-o".into(),
            "json".into(),
        ],
        vec![
            "check".into(),
            "--cluster".into(),
            url.clone(),
            "--log-format".into(),
            "json".into(),
        ],
        vec!["history".into(), "--cluster".into(), url.clone()],
        vec!["strategy".into(), "rm".into(), url.clone(), "burst".into()],
        vec![
            "strategy".into(),
            "set".into(),
            "c".into(),
            "target_size".into(),
            "--target-size".into(),
            url.clone(),
            "-o".into(),
            "json".into(),
        ],
        vec![
            "dry-run".into(),
            "--replica-sizes".into(),
            format!("25cc,{url}"),
        ],
        vec!["status".into(), "--schema".into(), url.clone()],
        vec!["status".into(), "--exec-cluster".into(), url.clone()],
        vec!["simulate".into(), url.clone(), "-o".into(), "json".into()],
    ];
    for args in &cases {
        let (run, context) = fails_without_echo(&emu, args, pw);
        // Escaped as a JSON string holds it.
        let escaped = serde_json::to_string(pw).expect("json");
        assert_hidden(&escaped[1..escaped.len() - 1], &run.all(), &context);
        // Shown redacted, or refused without echo (a list holding one,
        // `--replica-sizes 25cc,URL`).
        assert!(
            run.all().contains("****")
                || run.stderr.contains("a connection string, not")
                || run
                    .stderr
                    .contains("holds a connection string with its password"),
            "{context}: {}",
            run.all()
        );
    }
    // Where a name is written to the database (a temporary replica's size
    // in the audit trail, a schema, a strategy row's cluster), it was kept
    // and shown by every later run: such a value is refused before
    // connecting.
    for args in [
        vec!["apply", "--exec-cluster", "c", "--create-replica", &url],
        vec!["init", "--schema", &url],
        vec!["strategy", "pause", &kv],
    ] {
        let run = clusterctl(&emu, &args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("a connection string, not a name"),
            "{args:?}: {}",
            run.all()
        );
        assert_hidden(pw, &run.all(), &format!("{args:?}"));
    }
    // A pause's reason is free text kept in the strategy table and shown
    // by every plan: one holding a connection string with its password is
    // refused too.
    let reason = format!("incident 42: {url} is down");
    let run = clusterctl(&emu, &["strategy", "pause", "c", "--reason", &reason]);
    assert_eq!(run.code, 64, "{}", run.all());
    assert!(
        run.stderr.contains("leave the password out"),
        "{}",
        run.all()
    );
    assert_hidden(pw, &run.all(), "pause --reason");
    for table in ["mz_cluster_strategy_actions", "mz_cluster_strategies"] {
        let rows = emu.query_strings(&format!("SELECT t::text FROM {table} t"));
        let text: Vec<String> = rows.into_iter().flatten().flatten().collect();
        assert_hidden(pw, &text.join("\n"), table);
        assert!(!text.join("\n").contains("Lm9vT4"), "{table}: {text:?}");
    }
    // A name with an `@` (not a connection string) is shown as given, as
    // a shell takes it.
    let run = clusterctl(&emu, &["describe", "team@prod"]);
    assert_eq!(run.code, 64, "{}", run.all());
    assert!(run.stderr.contains("cluster 'team@prod':"), "{}", run.all());
}

/// A password holding a comma, in a list (`--cluster a,URL`,
/// `--replica-sizes 25cc,URL`), was split there: the piece before the
/// comma was redacted as a URL, the piece after it (`Wq2…@host/db`) echoed
/// as a cluster or a size. A path that ends in a URL (`/tmp/` + the
/// variable) was not seen as one and echoed whole. Now a list that holds
/// one is refused before it is split, and the rest is redacted where the
/// URL begins.
#[test]
fn a_password_split_by_a_list_or_behind_a_path_is_not_echoed() {
    let emu = one_configured_cluster();
    let pw = "Kx7,Wq2Lm9vT4";
    let url = format!("postgres://u:{pw}@db.example:6875/materialize");
    let path = format!("/tmp/{url}");
    let cases: Vec<Vec<String>> = vec![
        vec!["status".into(), "--cluster".into(), format!("c,{url}")],
        vec![
            "history".into(),
            format!("--cluster=c,{url}"),
            "-o".into(),
            "json".into(),
        ],
        vec![
            "dry-run".into(),
            "--replica-sizes".into(),
            format!("25cc,{url}"),
        ],
        vec!["simulate".into(), path.clone()],
        vec!["simulate".into(), path.clone(), "-o".into(), "json".into()],
        vec!["describe".into(), path.clone()],
    ];
    for args in &cases {
        let (run, context) = fails_without_echo(&emu, args, pw);
        for piece in ["Kx7", "Wq2Lm9vT4"] {
            assert!(!run.all().contains(piece), "{context}: {}", run.all());
        }
    }
}

/// A connection string inside a strategy's config: `strategy set` refuses
/// to write it whichever way it is given (a JSON config, `--config`, a key
/// flag, nested in a schedule's windows), without echoing it, and writes
/// nothing; a row holding one written by hand is not used (its cluster's
/// row is in error, the others are planned) nor shown by any command. A
/// name holding one that reaches a message from elsewhere (a cluster named
/// so by hand) is masked there too.
#[test]
fn a_connection_string_inside_a_config_is_never_written_used_nor_shown() {
    let emu = one_configured_cluster();
    emu.create_hydrated_cluster("d", "r1", "25cc");
    let pw = "Zq8Secr3tPw";
    let url = format!("postgres://u:{pw}@db.example:6875/materialize");
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let config = json!({"target_size": url}).to_string();
    let windows =
        json!([{"cron": "0 9 * * *", "duration_s": 3600, "size": url, "replicas": 1}]).to_string();
    let before = emu.query_strings("SELECT config::text FROM mz_cluster_strategies");
    let set = |rest: &[&str]| strings(&[&["strategy", "set"][..], rest].concat());
    for args in [
        set(&["c", "target_size", &config]),
        set(&["c", "target_size", "--config", &config, "-o", "json"]),
        set(&[
            "d",
            "target_size",
            "--target-size",
            "25cc",
            "--replica-name",
            &url,
        ]),
        set(&["d", "schedule", "--timezone", "UTC", "--windows", &windows]),
        set(&[
            "c",
            "target_size",
            "--config",
            &json!({ &url: 1 }).to_string(),
        ]),
    ] {
        let (run, context) = fails_without_echo(&emu, &args, pw);
        assert_eq!(run.code, 64, "{context}: {}", run.all());
        assert!(
            run.all()
                .contains("holds a connection string with its password"),
            "{context}: {}",
            run.all()
        );
    }
    assert_eq!(
        emu.query_strings("SELECT config::text FROM mz_cluster_strategies"),
        before,
        "nothing written"
    );
    // A row written by hand: its cluster is in error, `c` is still planned.
    strategy(
        &emu,
        "d",
        "target_size",
        json!({"target_size": "25cc", "replica_name": url}),
    );
    emu.create_cluster(&url);
    strategy(&emu, &url, "target_size", json!({"target_size": "25cc"}));
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert_hidden(pw, &run.all(), "apply");
    assert!(
        run.all().contains("postgres://u:****@db.example"),
        "the cluster named so by hand: {}",
        run.all()
    );
    assert!(
        run.all()
            .contains("holds a connection string with its password"),
        "{}",
        run.all()
    );
    assert_eq!(replica_names(&emu, "c"), ["r1", "r_50cc"], "c is planned");
    assert_eq!(replica_names(&emu, "d"), ["r1"], "d is not");
    for args in [
        vec!["strategy", "ls"],
        vec!["strategy", "ls", "-o", "json"],
        vec!["status", "-o", "wide"],
        vec!["status", "-o", "json"],
        vec!["describe", "d"],
        vec!["check"],
        vec!["history"],
        vec!["dry-run", "-o", "json"],
    ] {
        let run = clusterctl(&emu, &args);
        assert!(!run.all().contains("panicked"), "{args:?}: {}", run.all());
        assert_hidden(pw, &run.all(), &format!("{args:?}"));
    }
    let status = clusterctl(&emu, &["status"]).all();
    assert!(status.contains("postgres://u:****@db"), "{status}");
    assert_eq!(emu.replicas(&url).len(), 1, "its replica was made");
}

/// A cluster whose name looks like it holds a secret is masked in
/// `dry-run -o json`: a plan saved that way never matches, and the refusal
/// says why and how to save one that does (it was refused at every attempt,
/// its two lines reading alike: an outside check). `--out` keeps the name.
#[test]
fn a_plan_saved_with_a_masked_name_says_to_save_it_with_out() {
    let emu = Emulator::start();
    init_tables(&emu);
    let name = "reset_password=daily";
    emu.create_cluster(name);
    emu.add_replica(name, "r1", "25cc");
    strategy(&emu, name, "target_size", json!({"target_size": "50cc"}));
    let dir = tempfile::tempdir().expect("temp dir");
    let masked = dir.path().join("masked.json");
    let saved = clusterctl(&emu, &["dry-run", "-o", "json"]).ok();
    assert!(
        saved.stdout.contains("reset_password=****"),
        "{}",
        saved.all()
    );
    std::fs::write(&masked, &saved.stdout).expect("write");
    let run = clusterctl(&emu, &["apply", "--plan", &masked.to_string_lossy()]).code(1);
    assert!(
        run.stderr.contains(
            "a saved statement holds `****`: `dry-run -o json` masks what looks like a secret \
             in a name"
        ) && run
            .stderr
            .contains("`clusterctl dry-run --out FILE`, which keeps names"),
        "{}",
        run.all()
    );
    assert_eq!(replica_names(&emu, name), vec!["r1"]);
    let kept = dir.path().join("kept.json");
    clusterctl(&emu, &["dry-run", "--out", &kept.to_string_lossy()]).ok();
    clusterctl(&emu, &["apply", "--plan", &kept.to_string_lossy()]).ok();
    assert_eq!(replica_names(&emu, name).len(), 2, "the 50cc replica made");
}
