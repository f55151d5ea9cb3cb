//! The command line: one clap tree (`args`), one dispatcher (`dispatch`)
//! that turns arguments into the commands' option structs, runs the command,
//! renders what it returns as text or JSON and maps the outcome to a
//! documented exit code. Also the process set-up: `.env`, logging. No
//! decision is made here.

// The shell: this module reads the clock, the environment, files and the
// database on purpose (clippy.toml bans that in the decision core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod args;
mod dispatch;

use std::process::ExitCode;

pub use args::{parse_duration, Cli, Command, LogFormat, OutputFormat};

/// Exit codes (stable; documented in the README and in `--help`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Error: the command could not do its job (connection, missing tables,
    /// bad flag value). Nothing after the failure point was done.
    pub const ERROR: u8 = 1;
    /// `dry-run --detailed-exitcode` only: success, and changes are pending
    /// (Terraform's convention).
    pub const CHANGES: u8 = 2;
    /// Completed, but some clusters were skipped for invalid configuration,
    /// or some actions failed (see the audit trail); `check` found problems.
    pub const PROBLEMS: u8 = 3;
    /// The command line itself is wrong.
    pub const USAGE: u8 = 64;
}

/// The command a command line names, as the JSON documents name it
/// (`strategy set`): its first word that is not a flag, when that is a
/// command (with its subcommand, if the next word is one); `clusterctl`
/// when it names none (`clusterctl -o json`, a misspelled command).
fn command_named(argv: &[String]) -> String {
    let path = command_path(argv);
    if path.is_empty() {
        return "clusterctl".into();
    }
    path.join(" ")
}

/// The (sub)command a command line names, as its words (`["strategy",
/// "set"]`); empty when it names none.
fn command_path(argv: &[String]) -> Vec<String> {
    use clap::CommandFactory as _;
    let cli = Cli::command();
    let mut words = argv.iter().skip(1).skip_while(|a| a.starts_with('-'));
    let Some(sub) = words.next().and_then(|w| cli.find_subcommand(w)) else {
        return Vec::new();
    };
    let mut path = vec![sub.get_name().to_string()];
    if let Some(subsub) = words.next().and_then(|w| sub.find_subcommand(w)) {
        path.push(subsub.get_name().to_string());
    }
    path
}

/// The usage of the command a command line names, as its `--help` shows
/// it (`Usage: clusterctl unlock [OPTIONS] --force`), for clap's error to
/// show instead of its own, which adds the options given on the line or
/// from the environment and so reads as if they were required.
fn own_usage(argv: &[String]) -> Option<clap::builder::StyledStr> {
    use clap::CommandFactory as _;
    let mut cmd = Cli::command();
    cmd.build();
    let mut at = &mut cmd;
    for word in command_path(argv) {
        at = at.find_subcommand_mut(&word)?;
    }
    Some(at.render_usage())
}

/// A command line written for mz-clusterctl, whose `--cluster` named the
/// cluster its queries ran on, that clap refuses here (with
/// `--create-replica`, which needs `--exec-cluster`, or beside
/// `--filter-clusters`): what to write instead. Only the line without
/// either of those reaches the run, which says so itself. Only for the
/// commands mz-clusterctl had (`dry-run`, `apply`, `wipe-state`).
fn old_cluster_tip(e: &clap::Error, argv: &[String]) -> Option<String> {
    use clap::error::ErrorKind;
    if !matches!(
        e.kind(),
        ErrorKind::ArgumentConflict | ErrorKind::MissingRequiredArgument
    ) {
        return None;
    }
    // mz-clusterctl's own commands only: `simulate --cluster` is ours.
    let command = command_path(argv);
    if !matches!(
        command.first().map(String::as_str),
        Some("dry-run" | "apply" | "wipe-state")
    ) {
        return None;
    }
    let at = argv
        .iter()
        .position(|a| a == "--cluster" || a.starts_with("--cluster="))?;
    let name = match argv[at].strip_prefix("--cluster=") {
        Some(name) => name.to_string(),
        None => argv.get(at + 1).cloned().unwrap_or_else(|| "NAME".into()),
    };
    let name = crate::model::printable(&name);
    Some(format!(
        "in mz-clusterctl, `--cluster {name}` named the cluster its queries ran on: here that is \
         `--exec-cluster {name}`, and `--cluster` selects clusters to manage (README, \
         \"Migrating from mz-clusterctl\")"
    ))
}

/// Parses, runs, prints; returns the process exit code.
pub fn main() -> ExitCode {
    crate::config::set_aside_non_utf8_url();
    crate::config::note_empty_url();
    let dotenv = load_dotenv();
    crate::config::set_aside_non_utf8_url();
    let cli = match Cli::parse_argv(std::env::args_os()) {
        Ok(cli) => cli,
        Err(mut e) => {
            if !e.use_stderr() {
                print_parse_error(e);
                return ExitCode::from(exit::OK);
            }
            // A bad command line in a JSON pipeline is a JSON document too.
            // Lossy: an argument that is not UTF-8 is what clap reports.
            let argv: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let tip = old_cluster_tip(&e, &argv);
            if let Some(tip) = &tip {
                e.insert(
                    clap::error::ContextKind::Suggested,
                    clap::error::ContextValue::StyledStrs(vec![tip.clone().into()]),
                );
            }
            let wants = |flag: &str, value: &str| {
                let short = (flag == "--output").then_some("-o");
                let names = std::iter::once(flag).chain(short);
                argv.windows(2)
                    .any(|w| names.clone().any(|f| w[0] == f) && w[1] == value)
                    || argv.iter().any(|a| {
                        names.clone().any(|f| *a == format!("{f}={value}"))
                            || short.is_some_and(|f| *a == format!("{f}{value}"))
                    })
            };
            if wants("--output", "json") || wants("--log-format", "json") {
                let command = command_named(&argv);
                // It echoes the offending argument, which may be a URL.
                // Redacted before `clap_message` folds the text's blanks
                // (a password holding a line break no longer matched its
                // argument, and showed past the break: an outside check).
                let raw = crate::config::redact_args(&e.to_string(), std::env::args_os());
                let mut detail = clap_message(&raw);
                if let Some(tip) = &tip {
                    detail = format!("{detail} ({tip})");
                }
                let detail = crate::config::redact_args(&detail, std::env::args_os());
                dispatch::report_error(
                    &command,
                    "usage",
                    &detail,
                    None,
                    wants("--output", "json"),
                    false,
                    wants("--log-format", "json"),
                );
            } else {
                print_parse_error(e);
            }
            return ExitCode::from(exit::USAGE);
        }
    };
    let out = cli.command.output();
    // A service (`apply --watch`) logs each run: info unless told otherwise.
    // A one-shot command prints its problems itself, once (events that
    // repeat what its output says are logged at info); its log shows the
    // warnings nothing else says (retries, a lease it could not release).
    let service = matches!(&cli.command, Command::Apply(a) if a.watch);
    let filter = match (out.quiet, out.verbose) {
        (true, _) => "error",
        (_, 0) if service => "info",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    init_logging(filter, out.verbose, out.log_format, service);
    for w in dotenv.iter().filter(|_| !out.quiet) {
        if out.log_format == LogFormat::Json {
            // A warning, as the text line says: a pipeline alerting on
            // ERROR fired on it.
            tracing::warn!("{w}");
        } else {
            stderr_line(&format!("warning: {w}"));
        }
    }
    ExitCode::from(dispatch::run(cli))
}

/// Loads `./.env` (never overriding the environment); returns warnings.
fn load_dotenv() -> Vec<String> {
    let path = std::path::Path::new(".env");
    if !path.exists() {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    if let Some(w) = crate::config::check_dotenv_permissions(path) {
        warnings.push(w);
    }
    match crate::files::read_bounded(path, MAX_DOTENV_BYTES) {
        Ok(bytes) => {
            warnings.extend(crate::config::dotenv_substitutions(path, &bytes));
            if let Err(e) = dotenvy::from_read(bytes.as_slice()) {
                warnings.push(crate::config::dotenv_error(path, &bytes, &e));
            }
        }
        Err(e) => warnings.push(format!("{}: {e}; not loaded", path.display())),
    }
    warnings
}

/// Writes `text` and a newline to stderr, with the command line's
/// connection strings redacted ([`crate::config::redact_echoed`]). A stderr that cannot be written
/// (closed, a full disk, a reader gone) loses the line, nothing else:
/// `eprintln!` panics there, which aborted every command (exit 134)
/// before its exit code (clippy.toml bans it).
pub fn stderr_line(text: &str) {
    use std::io::Write as _;
    let text = crate::config::redact_echoed(text);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// A `.env` holds a few settings.
const MAX_DOTENV_BYTES: u64 = 1 << 20;

/// Prints clap's error (or help) like `Error::print`, but with every
/// argument that may hold a connection string redacted: clap quotes a stray
/// positional argument as given, password included.
fn print_parse_error(mut e: clap::Error) {
    use std::io::Write as _;
    if e.use_stderr() {
        let argv: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if let Some(usage) = own_usage(&argv) {
            e.insert(
                clap::error::ContextKind::Usage,
                clap::error::ContextValue::StyledStr(usage),
            );
        }
    }
    let rendered = e.render();
    let tty = if e.use_stderr() {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let text = if tty {
        rendered.ansi().to_string()
    } else {
        rendered.to_string()
    };
    // Then every connection string the text still holds: a part of an
    // argument that a value parser quoted cut (`'postgres://u:secret…'`),
    // which the whole argument's redaction no longer finds.
    let text = crate::config::redact_args(&text, std::env::args_os());
    let text = crate::config::redact_embedded(&text);
    let _ = if e.use_stderr() {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
}

fn init_logging(default: &str, verbose: u8, format: LogFormat, service: bool) {
    // The pool's own line for a connection that broke ("Connection
    // error: connection closed") came before ours, which says what is
    // retried: shown from -vv on.
    let pool = if verbose >= 2 { "warn" } else { "error" };
    let fallback = || {
        tracing_subscriber::EnvFilter::new(format!(
            "clusterctl={default},deadpool.postgres={pool},warn"
        ))
    };
    // A filter that does not parse is said (it was ignored silently).
    let (filter, refused) = match std::env::var("CLUSTERCTL_LOG") {
        Ok(v) => match tracing_subscriber::EnvFilter::try_new(&v) {
            Ok(f) => (f, None),
            Err(e) => (
                fallback(),
                Some(format!(
                    "CLUSTERCTL_LOG={} is not a log filter ({e}); using the default (e.g. \
                     CLUSTERCTL_LOG=clusterctl=debug)",
                    crate::model::clip(&v, 64)
                )),
            ),
        },
        Err(_) => (fallback(), None),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogLines {
            color: ansi,
            json: format == LogFormat::Json,
        })
        // A failed write is lost, as every stderr line is (`stderr_line`):
        // reporting it would `eprintln!`, which panics on that same stderr.
        .log_internal_errors(false)
        .with_ansi(ansi)
        .with_target(verbose > 1);
    let _ = match (format, service) {
        // One JSON object per line, fields at the top level, for log pipelines.
        (LogFormat::Json, _) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        // A service's lines need their time; a one-shot run's do not.
        (LogFormat::Text, true) => builder.try_init(),
        (LogFormat::Text, false) => builder.without_time().try_init(),
    };
    if let Some(why) = refused {
        tracing::warn!("{why}");
    }
}

/// stderr for the text log: each event is one line whatever its fields
/// hold (a cluster name with a line break, an error quoting a statement),
/// with control characters shown escaped ([`crate::render::one_line`]).
/// The formatter writes each event at once, ending in its line break.
struct LogLines {
    color: bool,
    /// `--log-format json`: each line is a JSON object.
    json: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            color: self.color,
            json: self.json,
        }
    }
}

struct LogLine {
    color: bool,
    json: bool,
}

/// A JSON log line with the characters a terminal would hide escaped as
/// JSON does (`\u200b`): the serializer escapes control characters, but
/// leaves a zero-width or direction mark as it is, and the text log's
/// escape (`\u{200b}`) is no JSON (a name's made every line unreadable
/// to a log pipeline: an outside check). Only inside strings can such a
/// character be.
fn json_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::model::is_hidden(c) && !c.is_control() {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let text = crate::config::redact_echoed(&text);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let body = match self.json {
            true => json_line(body),
            false => crate::render::one_line(body, self.color),
        };
        let line = format!("{body}{end}");
        std::io::stderr().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// clap's message on one line, for a JSON document: its first paragraph
/// without "error: ", the lines that continue it (the missing arguments of
/// "the following required arguments were not provided:") joined on; not
/// the tip or usage blocks after it. The first line alone named no
/// argument.
fn clap_message(rendered: &str) -> String {
    let first = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    first.strip_prefix("error: ").unwrap_or(&first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name with a zero-width space in a JSON log line stays JSON, and
    /// reads back as the name.
    #[test]
    fn a_json_log_line_escapes_hidden_characters_as_json() {
        let name = "a\u{200b}b \u{202e}c";
        let line = serde_json::json!({"cluster": name}).to_string();
        let out = json_line(&line);
        assert!(
            !out.contains('\u{200b}') && out.contains("\\u200b"),
            "{out}"
        );
        let back: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(back["cluster"], name);
    }

    #[test]
    fn a_clap_message_keeps_what_continues_its_first_line() {
        let missing = "error: the following required arguments were not provided:\n  --force\n  <CLUSTER>\n\nUsage: clusterctl unlock --force\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_message(missing),
            "the following required arguments were not provided: --force <CLUSTER>"
        );
        let unexpected = "error: unexpected argument '--x' found\n\n  tip: to pass '--x' as a value, use '-- --x'\n\nUsage: clusterctl dry-run [OPTIONS]\n";
        assert_eq!(clap_message(unexpected), "unexpected argument '--x' found");
    }

    /// mz-clusterctl's command lines that clap refuses say what to write.
    #[test]
    fn an_old_cluster_flag_refused_by_clap_gets_the_tip() {
        use clap::CommandFactory as _;
        for line in [
            &[
                "clusterctl",
                "apply",
                "--cluster",
                "ops",
                "--create-replica",
                "50cc",
            ][..],
            &[
                "clusterctl",
                "dry-run",
                "--cluster=ops",
                "--filter-clusters",
                "etl",
            ][..],
        ] {
            let argv: Vec<String> = line.iter().map(|s| s.to_string()).collect();
            let Err(e) = Cli::command().try_get_matches_from(&argv) else {
                panic!("{line:?} parses");
            };
            let tip = old_cluster_tip(&e, &argv);
            assert!(
                tip.as_deref()
                    .is_some_and(|t| t.contains("`--exec-cluster ops`")),
                "{line:?}: {tip:?}"
            );
        }
        // Another refusal of a line with --cluster: no tip.
        let argv: Vec<String> = ["clusterctl", "apply", "--cluster", "ops", "--bogus"]
            .map(String::from)
            .to_vec();
        let Err(e) = Cli::command().try_get_matches_from(&argv) else {
            panic!("--bogus parses");
        };
        assert_eq!(old_cluster_tip(&e, &argv), None);
    }

    /// The usage after an error is the command's own (it listed the options
    /// given as if required: `unlock --force --exec-cluster <NAME>`).
    #[test]
    fn an_error_shows_the_commands_own_usage() {
        use clap::CommandFactory as _;
        let argv: Vec<String> = ["clusterctl", "unlock", "--exec-cluster", "ops", "-v"]
            .map(String::from)
            .to_vec();
        let usage = own_usage(&argv).map(|u| u.to_string());
        assert_eq!(
            usage.as_deref(),
            Some("Usage: clusterctl unlock [OPTIONS] --force")
        );
        // In clap's own error, in place of the one it would show.
        let Err(mut e) = Cli::command().try_get_matches_from(&argv) else {
            panic!("unlock without --force parses");
        };
        if let Some(u) = own_usage(&argv) {
            e.insert(
                clap::error::ContextKind::Usage,
                clap::error::ContextValue::StyledStr(u),
            );
        }
        let text = e.render().to_string();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Usage:")).collect();
        assert_eq!(
            lines,
            ["Usage: clusterctl unlock [OPTIONS] --force"],
            "{text}"
        );
        let argv: Vec<String> = ["clusterctl", "strategy", "set"].map(String::from).to_vec();
        assert_eq!(
            own_usage(&argv).map(|u| u.to_string()).as_deref(),
            Some(
                "Usage: clusterctl strategy set [OPTIONS] <CLUSTER_NAME> <STRATEGY_TYPE> [CONFIG]"
            )
        );
    }
}
