//! The deployment recipes in examples/deploy/, checked as far as this
//! machine allows: every YAML file parses and has the fields that make it
//! safe (Forbid, Secret, non-root), alert rules name metrics the binary
//! really exports, every flag a recipe passes exists, systemd units pass
//! `systemd-analyze verify`, and the Dockerfile builds the way CI does.
//! `scripts/test.sh` installs the tools these checks need (systemd-analyze,
//! promtool) and sets `CLUSTERCTL_REQUIRE_TOOLS=1`, so there a missing tool
//! fails the test; elsewhere it is a visible `SKIPPED` line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn recipe(name: &str) -> PathBuf {
    root().join("examples/deploy").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(name: &str) -> Value {
    let text = read(&recipe(name));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

/// `v.a.b.0.c` by a path of keys and indexes.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, key| {
        match key.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(key),
        }
        .unwrap_or_else(|| panic!("missing {path} (at {key})"))
    })
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// The pod spec's single container runs clusterctl as a non-root user with
/// DATABASE_URL from a Secret; returns its args.
fn check_pod(name: &str, pod: &Value) -> Vec<String> {
    assert_eq!(
        at(pod, "securityContext.runAsNonRoot").as_bool(),
        Some(true),
        "{name}: runAsNonRoot"
    );
    assert_ne!(at(pod, "securityContext.runAsUser").as_u64(), Some(0));
    let c = at(pod, "containers.0");
    let env = at(c, "env").as_sequence().expect("env list");
    let db = env
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some("DATABASE_URL"))
        .unwrap_or_else(|| panic!("{name}: no DATABASE_URL"));
    assert!(db.get("value").is_none(), "{name}: DATABASE_URL in clear");
    assert!(!str_at(db, "valueFrom.secretKeyRef.name").is_empty());
    assert!(!str_at(db, "valueFrom.secretKeyRef.key").is_empty());
    assert_eq!(
        at(c, "securityContext.allowPrivilegeEscalation").as_bool(),
        Some(false)
    );
    strings(at(c, "args"))
}

#[test]
fn cronjob_forbids_overlap_and_takes_the_url_from_a_secret() {
    let doc = yaml("cronjob.yaml");
    assert_eq!(str_at(&doc, "kind"), "CronJob");
    assert_eq!(str_at(&doc, "spec.concurrencyPolicy"), "Forbid");
    let pod = at(&doc, "spec.jobTemplate.spec.template.spec");
    assert_eq!(str_at(pod, "restartPolicy"), "Never");
    let args = check_pod("cronjob.yaml", pod);
    assert_eq!(args[0], "apply");
    assert!(!args.iter().any(|a| a.starts_with("--watch")));
    check_flags("cronjob.yaml", &args);
    // A run is given longer than a blocking resize may take (the default
    // --resize-timeout, 10m, plus a minute): killed mid-resize, it was
    // rolled back and begun again on every run.
    let deadline = at(&doc, "spec.jobTemplate.spec.activeDeadlineSeconds")
        .as_u64()
        .expect("activeDeadlineSeconds");
    assert!(deadline > 660, "{deadline}");
}

#[test]
fn deployment_runs_two_watching_replicas_with_probes() {
    let doc = yaml("deployment.yaml");
    assert_eq!(str_at(&doc, "kind"), "Deployment");
    assert_eq!(at(&doc, "spec.replicas").as_u64(), Some(2));
    let pod = at(&doc, "spec.template.spec");
    let args = check_pod("deployment.yaml", pod);
    assert_eq!(args[0], "apply");
    assert!(args.contains(&"--watch".to_string()), "{args:?}");
    // JSON logs and JSON reports: no text plan between the log lines.
    assert!(
        args.contains(&"--log-format=json".to_string())
            && args.contains(&"--output=json".to_string()),
        "{args:?}"
    );
    check_flags("deployment.yaml", &args);
    let port = at(pod, "containers.0.ports.0.containerPort")
        .as_u64()
        .expect("port");
    assert!(
        args.contains(&format!("--metrics-addr=0.0.0.0:{port}")),
        "{args:?}"
    );
    let c = at(pod, "containers.0");
    assert_eq!(str_at(c, "livenessProbe.httpGet.path"), "/healthz");
    assert_eq!(str_at(c, "readinessProbe.httpGet.path"), "/readyz");
    // The pod must be given longer than clusterctl waits for the run under way.
    let grace = at(pod, "terminationGracePeriodSeconds")
        .as_u64()
        .expect("grace");
    assert!(grace > clusterctl::commands::reconcile::SHUTDOWN_GRACE.as_secs());
}

#[test]
fn github_workflow_uses_the_composite_action_that_caches_the_binary() {
    let doc = yaml("github-actions.yml");
    assert!(!str_at(&doc, "concurrency.group").is_empty());
    assert_eq!(
        at(&doc, "concurrency.cancel-in-progress").as_bool(),
        Some(false)
    );
    // The workflow does not compile: it uses the action, pinned to a tag.
    let step = at(&doc, "jobs.reconcile.steps.0");
    let uses = str_at(step, "uses");
    assert!(
        uses.contains("/examples/deploy/action@v"),
        "pinned composite action: {uses}"
    );
    assert_eq!(
        str_at(step, "with.database-url"),
        "${{ secrets.DATABASE_URL }}"
    );
    let command = str_at(step, "with.command");
    for c in ["apply", "dry-run"] {
        let args: Vec<String> = command
            .replace("${{ github.event.inputs.command || 'apply' }}", c)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        check_flags("github-actions.yml", &args);
    }
    assert!(cargo_build_lines(&read(&recipe("github-actions.yml"))).is_empty());

    // The action: digest the source, restore the binary, build only on a
    // miss (like the Dockerfile and CI), then run it. The key is the
    // digest (`github.action_ref` is empty inside composite actions).
    let action = yaml("action/action.yml");
    assert_eq!(str_at(&action, "runs.using"), "composite");
    let digest = at(&action, "runs.steps.0");
    assert_eq!(str_at(digest, "id"), "source");
    let restore = at(&action, "runs.steps.1");
    assert!(str_at(restore, "uses").starts_with("actions/cache@"));
    let key = str_at(restore, "with.key");
    assert!(
        key.contains("steps.source.outputs.digest")
            && key.contains("runner.os")
            && !key.contains("action_ref"),
        "{key}"
    );
    // The digest step's script, run here on this checkout: one line of 32
    // hex digits, and the same twice.
    let script = str_at(digest, "run");
    let digest_of = || {
        let out = tempfile::NamedTempFile::new().expect("temp file");
        let status = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GITHUB_OUTPUT", out.path())
            .status()
            .expect("bash");
        assert!(status.success());
        std::fs::read_to_string(out.path()).expect("output")
    };
    let first = digest_of();
    let value = first.trim().strip_prefix("digest=").unwrap_or_default();
    assert_eq!(value.len(), 32, "{first}");
    assert!(value.chars().all(|c| c.is_ascii_hexdigit()), "{first}");
    assert_eq!(digest_of(), first);
    let build = at(&action, "runs.steps.2");
    assert_eq!(
        str_at(build, "if"),
        "steps.cache.outputs.cache-hit != 'true'"
    );
    let text = read(&recipe("action/action.yml"));
    let docker = cargo_build_lines(&read(&recipe("Dockerfile")));
    assert_eq!(cargo_build_lines(&text), docker[docker.len() - 1..]);
    assert!(text.contains("DATABASE_URL: ${{ inputs.database-url }}"));
}

#[test]
fn alert_rules_use_only_metrics_the_binary_exports() {
    let exported = clusterctl::metrics::Metrics::new().sample_names();
    let text = clusterctl::metrics::Metrics::new().prometheus_text();
    let doc = yaml("alerts.yaml");
    let rules = at(&doc, "groups.0.rules").as_sequence().expect("rules");
    let mut alerts = BTreeSet::new();
    for rule in rules {
        let name = str_at(rule, "alert");
        alerts.insert(name.to_string());
        assert!(!str_at(rule, "labels.severity").is_empty(), "{name}");
        assert!(!str_at(rule, "annotations.summary").is_empty(), "{name}");
        let expr = str_at(rule, "expr");
        let used = metric_names(expr);
        assert!(!used.is_empty(), "{name}: no clusterctl metric in {expr}");
        for m in used {
            assert!(
                exported.contains(&m),
                "{name}: {m} is not exported; the binary exports {exported:?}"
            );
        }
        // And only outcomes it counts under (`unknown` was counted but
        // left out of the merge and of the alert: an outside check).
        for value in outcome_values(expr) {
            assert!(
                text.contains(&format!("outcome=\"{value}\"")),
                "{name}: outcome {value:?} is never exported:\n{text}"
            );
        }
    }
    for required in [
        "ClusterctlNotRunning",
        "ClusterctlActionsFailing",
        "ClusterctlBudgetExceeded",
        "ClusterctlLeaseStuck",
        "ClusterctlActivitySignalUnknown",
        "ClusterctlClusterCrashLooping",
    ] {
        assert!(alerts.contains(required), "{required} missing: {alerts:?}");
    }
    // Every alert waits before firing and links a runbook that exists in
    // the README (GitHub's anchor of a `### Runbook: Name` heading).
    let readme = read(&root().join("README.md")).to_lowercase();
    for rule in rules {
        let name = str_at(rule, "alert");
        assert!(rule.get("for").is_some(), "{name}: no `for:`");
        let url = str_at(rule, "annotations.runbook_url");
        let anchor = url.rsplit_once('#').map(|(_, a)| a).unwrap_or_default();
        assert_eq!(anchor, format!("runbook-{}", name.to_lowercase()), "{name}");
        assert!(
            readme.contains(&format!("### runbook: {}", name.to_lowercase())),
            "{name}: no README section for {url}"
        );
    }
    let path = recipe("alerts.yaml");
    if let Some(out) = tool("promtool", &["check", "rules", &path.to_string_lossy()]) {
        assert!(out.status.success(), "promtool: {}", output(&out));
    }
}

#[test]
fn exported_metrics_pass_promtool_lint() {
    let m = clusterctl::metrics::Metrics::new();
    m.observe_run(
        clusterctl::metrics::RunOutcome::Success,
        std::time::Duration::from_millis(300),
        None,
        chrono::Utc::now(),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("clusterctl.prom");
    m.add_to_textfile(&file).expect("write the textfile");
    let Some(mut child) = spawn_tool("promtool", &["check", "metrics"]) else {
        return;
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(read(&file).as_bytes())
            .expect("feed promtool");
    }
    let out = child.wait_with_output().expect("promtool runs");
    assert!(out.status.success(), "promtool: {}", output(&out));
}

/// The values an `outcome="a"` or `outcome=~"a|b"` matcher of a PromQL
/// expression names.
fn outcome_values(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"outcome=~?"([a-z_|]+)""#).expect("regex");
    re.captures_iter(expr)
        .flat_map(|c| c[1].split('|').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// Names like `clusterctl_runs_total` in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\bclusterctl_[a-z_]+").expect("regex");
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn systemd_units_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = dir.path().join("env");
    std::fs::write(&env, "DATABASE_URL=postgres://u@127.0.0.1:1/db\n").expect("env file");
    let service = read(&recipe("clusterctl.service"));
    let timer = read(&recipe("clusterctl.timer"));
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/clusterctl "))
        .expect("ExecStart runs /usr/local/bin/clusterctl");
    let args: Vec<String> = exec.split_whitespace().map(str::to_string).collect();
    assert_eq!(args[0], "apply");
    check_flags("clusterctl.service", &args);
    assert!(timer.contains("Unit=clusterctl.service"));
    // As the CronJob: longer than a blocking resize may take.
    let timeout = service
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStartSec="))
        .and_then(|t| humantime::parse_duration(t).ok())
        .expect("TimeoutStartSec");
    assert!(timeout.as_secs() > 660, "{timeout:?}");
    // Verify against this build of the binary (ExecStart must exist).
    let local = service
        .replace(
            "/usr/local/bin/clusterctl",
            env!("CARGO_BIN_EXE_clusterctl"),
        )
        .replace("/etc/clusterctl/env", &env.to_string_lossy());
    std::fs::write(dir.path().join("clusterctl.service"), local).expect("write unit");
    std::fs::write(dir.path().join("clusterctl.timer"), timer).expect("write timer");
    let unit = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let Some(out) = tool(
        "systemd-analyze",
        &[
            "verify",
            "--man=no",
            &unit("clusterctl.service"),
            &unit("clusterctl.timer"),
        ],
    ) else {
        return;
    };
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}",
        output(&out)
    );
    // Hardened: `systemd-analyze security` rates the sandbox OK (below 2.0
    // of 10; it was 5.8 MEDIUM).
    let Some(out) = tool(
        "systemd-analyze",
        &["security", "--offline=yes", &unit("clusterctl.service")],
    ) else {
        return;
    };
    let text = output(&out);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no rating:\n{text}"));
    let level: f64 = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line}"));
    assert!(level < 2.0, "{line}");
    assert!(line.contains(" OK") || line.contains(" SAFE"), "{line}");
    assert!(service.contains("CapabilityBoundingSet=\n"));
    // A static user: `DynamicUser=yes` put the metrics under
    // /var/lib/private (0700), out of node_exporter's reach (an outside
    // check); the textfile's directory is readable by all.
    assert!(service.contains("\nUser=clusterctl\n"), "{service}");
    assert!(
        !service.lines().any(|l| l.starts_with("DynamicUser=")),
        "{service}"
    );
    assert!(service.contains("\nStateDirectoryMode=0755\n"), "{service}");
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--metrics-file" && w[1].starts_with("/var/lib/clusterctl/")),
        "{args:?}"
    );
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_builds_like_ci() {
    let text = read(&recipe("Dockerfile"));
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    // The last stage (the image) runs as a non-root user.
    let last_stage = text.rsplit("\nFROM ").next().expect("a stage");
    let user = last_stage
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the final stage");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(uid != "0" && uid != "root", "USER {user}");
    // What the build copies exists in the repository.
    for line in text.lines().filter_map(|l| l.strip_prefix("COPY ")) {
        if line.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "COPY {src}: not in the repository"
            );
        }
    }
    // The image is built with the same command as CI's release build (and
    // the composite action's); the dependencies are built first with the
    // same command against empty sources, before the sources are copied,
    // so a source change does not rebuild them.
    let docker = cargo_build_lines(&text);
    assert_eq!(docker.len(), 2, "{docker:?}");
    assert_eq!(docker[0], docker[1]);
    assert!(docker[0].contains("--release") && docker[0].contains("--locked"));
    let deps = text.find("cargo build").expect("a build");
    let sources = text.find("COPY src src").expect("sources copied");
    assert!(deps < sources, "the dependency layer comes first");
    let ignore = read(&root().join(".dockerignore"));
    for excluded in ["target", ".git", ".env"] {
        assert!(
            ignore.lines().any(|l| l.trim() == excluded),
            ".dockerignore: {excluded}"
        );
    }
    for ci in [".ci/run", "scripts/test.sh"] {
        let ci_builds = cargo_build_lines(&read(&root().join(ci)));
        if !ci_builds.is_empty() {
            assert!(
                ci_builds.contains(&docker[0]),
                "{ci}: {ci_builds:?} vs {docker:?}"
            );
        }
    }
    let entry = last_stage
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    assert!(entry.contains("/usr/local/bin/clusterctl"), "{entry}");
    let cmd = last_stage
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("CMD");
    let args: Vec<String> = serde_json::from_str(cmd).expect("CMD is a JSON list");
    check_flags("Dockerfile", &args);
}

/// `cargo build …` commands in a file, normalised (trailing `\` and `&&` removed).
fn cargo_build_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let i = l.find("cargo build")?;
            let cmd = l[i..].split("&&").next()?.trim_end_matches('\\').trim();
            Some(cmd.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect()
}

/// Every `--flag` of a recipe's command line exists in `clusterctl CMD --help`.
fn check_flags(recipe: &str, args: &[String]) {
    let sub = &args[0];
    let help = Command::new(env!("CARGO_BIN_EXE_clusterctl"))
        .args([sub.as_str(), "--help"])
        .output()
        .expect("clusterctl --help");
    assert!(help.status.success(), "{recipe}: unknown command {sub}");
    let help = String::from_utf8_lossy(&help.stdout);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let flag = a.split('=').next().unwrap_or(a);
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{recipe}: `{sub} {flag}` is not a clusterctl flag"
        );
    }
}

fn output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs an optional tool; `None` (with a note) when it is not installed.
/// A missing tool: a failure where the suite promised the tools
/// (`CLUSTERCTL_REQUIRE_TOOLS=1`, set by scripts/test.sh), else a visible skip.
fn missing(name: &str, e: &std::io::Error) {
    if std::env::var("CLUSTERCTL_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!(
            "{name} is required by this suite but cannot run ({e}); scripts/test.sh installs it"
        );
    }
    eprintln!("SKIPPED: {name} not available ({e}); that check did not run");
}

fn tool(name: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(name).args(args).output() {
        Ok(out) => Some(out),
        Err(e) => {
            missing(name, &e);
            None
        }
    }
}

fn spawn_tool(name: &str, args: &[&str]) -> Option<std::process::Child> {
    match Command::new(name)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => Some(c),
        Err(e) => {
            missing(name, &e);
            None
        }
    }
}
