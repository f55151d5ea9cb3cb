//! Command-line parsing and dispatch. Turns arguments into option structs,
//! calls one function in `ops` (or `sim`), prints, and maps the outcome to a
//! documented exit code. No decision is made here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use regex::Regex;

use crate::ops::{self, CommonOptions, Completion, Output};
use crate::report::Verbosity;

/// Exit codes (stable; documented in the README).
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

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 error; 2 changes pending (dry-run --detailed-exitcode
only); 3 completed with problems (invalid strategy rows skipped, actions failed,
or `check` found problems); 64 bad command line.

Connection: --postgres-url, else DATABASE_URL, else DATABASE_URL in ./.env.
TLS follows libpq's sslmode (disable, prefer, require, verify-ca, verify-full)
and sslrootcert, given as URL parameters.";

#[derive(Debug, Parser)]
#[command(
    name = "clusterctl",
    version,
    about = "Keeps Materialize clusters at the right size",
    long_about = "Keeps Materialize clusters at the right size.\n\n\
        Strategies are rows in the mz_cluster_strategies table. Each run reads them \
        and the catalog's signals (activity, hydration, crashes, sizes), plans the \
        replica set every cluster should have, and prints the plan (dry-run) or \
        executes it (apply) with an audit trail.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference of the variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the plan without changing anything (works with a read-only role)
    #[command(
        after_help = "Exit codes with --detailed-exitcode: 0 no changes; 2 changes pending;\n3 problems (invalid rows); 1 error.\n\nExample:\n  clusterctl dry-run --cluster '^analytics' -v"
    )]
    DryRun(DryRunArgs),
    /// Execute the plan: DDL one statement at a time, audited, then persist state
    #[command(
        after_help = "Example:\n  DATABASE_URL=postgres://user:pw@host:6875/materialize?sslmode=require clusterctl apply --wait 30s"
    )]
    Apply(ApplyArgs),
    /// Clear persisted strategy state (all clusters, or those matching --cluster)
    #[command(after_help = "Example:\n  clusterctl wipe-state --cluster '^staging_'")]
    WipeState(WriteArgs),
    /// Break the controller lease, whoever holds it (audited)
    #[command(
        after_help = "Only when a controller died holding the lease and you cannot wait for it\nto expire. Example:\n  clusterctl unlock --force"
    )]
    Unlock(UnlockArgs),
    /// Backtest strategies on a simulated Materialize (no database needed)
    #[command(
        after_help = "Example:\n  clusterctl simulate examples/scenarios/nightly.toml --plot nightly.svg"
    )]
    Simulate(SimulateArgs),
    #[command(flatten)]
    Ops(crate::cli_ops::OpsCommand),
}

#[derive(Debug, Args)]
pub struct DryRunArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Exit 0 when there are no changes, 2 when changes are pending (1 error, 3 problems)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// Connection URL (postgres://user:password@host:6875/materialize?sslmode=require)
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub postgres_url: Option<crate::config::DatabaseUrl>,

    /// Only clusters whose name matches this regular expression
    #[arg(long, value_name = "REGEX")]
    pub cluster: Option<String>,

    /// Use these replica sizes, smallest first, instead of the catalog's (local testing)
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub replica_sizes: Option<Vec<String>>,

    /// Schema holding clusterctl's tables (default: the connection's current schema)
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,

    /// Run our session on this cluster (SET cluster); it is never suspended or shrunk
    #[arg(long, value_name = "NAME")]
    pub exec_cluster: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Seconds to wait for a connection
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,

    /// Client-side deadline of every statement (e.g. 60s, 2m); a hung server never hangs cron
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub statement_timeout: Duration,

    /// Retries of a transient failure (connection reset, timeout, "try again"), with backoff
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_retries: usize,

    /// Managed clusters: how long a graceful resize waits for the new replicas before rolling back
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub resize_timeout: Duration,

    #[command(flatten)]
    pub verbosity: VerbosityArgs,
}

/// Commands that write take the controller lease first.
#[derive(Debug, Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// If another controller holds the lease, wait up to this long (e.g. 30s) instead of exiting
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,

    /// How long the lease lasts unless renewed (renewed while acting)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub lease_ttl: Duration,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub write: WriteArgs,

    /// Execute at most N DDL statements in this run; the rest waits for the next run
    #[arg(long, value_name = "N")]
    pub max_actions: Option<usize>,

    /// Keep running: one apply per --interval until SIGTERM/SIGINT (finishes the action under way, then exits 0)
    #[arg(long)]
    pub watch: bool,

    /// With --watch: time between runs (±10% jitter), e.g. 60s, 5m
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, requires = "watch")]
    pub interval: Duration,

    /// With --watch: serve /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:9187)
    #[arg(long, value_name = "ADDR", requires = "watch")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Write metrics to this file after each run, atomically (node-exporter textfile collector)
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Required: breaking a lease another controller may still be using is deliberate
    #[arg(long, required = true)]
    pub force: bool,
}

/// `30s`, `5m`, `1h30m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 30s, 5m or 1h ({e})"))
}

#[derive(Debug, Args)]
pub struct VerbosityArgs {
    /// More output: -v adds notes and info logs, -vv debug logs
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format on stderr: text for people, json (one object per line) for log pipelines
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario file (TOML); see examples/scenarios/README.md
    pub scenario: PathBuf,
    /// Seed for the scenario's random choices (default: the scenario's)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Write a per-tick timeline as CSV
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// Draw the timeline of each cluster as an SVG picture
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: VerbosityArgs,
}

impl VerbosityArgs {
    fn level(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }

    fn filter(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (_, 0) => "warn",
            (_, 1) => "info",
            _ => "debug",
        }
    }
}

/// Parses, runs, prints; returns the process exit code.
pub fn main() -> ExitCode {
    let dotenv = load_dotenv();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let verbosity = match &cli.command {
        Command::DryRun(DryRunArgs { db: a, .. }) | Command::Unlock(UnlockArgs { db: a, .. }) => {
            &a.verbosity
        }
        Command::Ops(c) => c.verbosity(),
        Command::Apply(a) => &a.write.db.verbosity,
        Command::WipeState(a) => &a.db.verbosity,
        Command::Simulate(a) => &a.verbosity,
    };
    // A service (`apply --watch`) logs each run: info unless told otherwise.
    let service = matches!(&cli.command, Command::Apply(a) if a.watch);
    let filter = match verbosity.filter() {
        "warn" if service => "info",
        f => f,
    };
    init_logging(filter, verbosity.verbose, verbosity.log_format, service);
    for w in dotenv {
        tracing::warn!("{w}");
    }
    ExitCode::from(run(cli))
}

fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Simulate(a) => simulate(a),
        Command::DryRun(a) => {
            let common = common_options(&a.db).map(|mut c| {
                c.detailed_exitcode = a.detailed_exitcode;
                c
            });
            run_db(common, Op::DryRun)
        }
        Command::Ops(c) => crate::cli_ops::run(c),
        Command::Apply(a) => {
            let common = write_options(&a.write).map(|mut c| {
                c.max_actions = a.max_actions;
                c
            });
            let run = crate::watch::RunOptions {
                watch: a.watch,
                interval: a.interval.max(Duration::from_secs(1)),
                metrics_addr: a.metrics_addr,
                metrics_file: a.metrics_file,
            };
            run_db(common, Op::Apply(run))
        }
        Command::WipeState(a) => run_db(write_options(&a), Op::WipeState),
        Command::Unlock(a) => run_db(common_options(&a.db), Op::Unlock),
    }
}

enum Op {
    DryRun,
    Apply(crate::watch::RunOptions),
    WipeState,
    Unlock,
}

fn write_options(a: &WriteArgs) -> Result<CommonOptions, String> {
    let mut c = common_options(&a.db)?;
    c.lease_wait = a.wait;
    c.lease_ttl = a.lease_ttl.max(Duration::from_secs(10));
    Ok(c)
}

fn run_db(common: Result<CommonOptions, String>, op: Op) -> u8 {
    let common = match common {
        Ok(c) => c,
        Err(msg) => return fail(&msg, exit::USAGE),
    };
    let detailed = common.detailed_exitcode;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}"), exit::ERROR),
    };
    let result = runtime.block_on(async {
        let ctx = ops::Context::new(common)?;
        match op {
            Op::DryRun => ops::dry_run(&ctx).await,
            Op::Apply(run) => crate::watch::apply(&ctx, &run).await,
            Op::WipeState => ops::wipe_state(&ctx).await,
            Op::Unlock => ops::unlock(&ctx).await,
        }
    });
    match result {
        Ok((out, completion)) => {
            print_output(&out);
            match completion {
                Completion::Clean => exit::OK,
                Completion::WithProblems => exit::PROBLEMS,
                Completion::ChangesPending if detailed => exit::CHANGES,
                Completion::ChangesPending => exit::OK,
            }
        }
        Err(e) => fail(&e.to_string(), exit::ERROR),
    }
}

pub(crate) fn common_options(a: &DbArgs) -> Result<CommonOptions, String> {
    let cluster_filter = match &a.cluster {
        None => None,
        Some(re) => Some(Regex::new(re).map_err(|e| {
            format!(
                "--cluster: invalid regular expression '{re}': {}",
                one_line(&e.to_string())
            )
        })?),
    };
    if let Some(sizes) = &a.replica_sizes {
        if sizes.iter().any(|s| s.trim().is_empty()) {
            return Err("--replica-sizes: empty size name in the list".into());
        }
    }
    Ok(CommonOptions {
        url: a
            .postgres_url
            .clone()
            .filter(|u| !u.expose().trim().is_empty()),
        cluster_filter,
        replica_sizes: a
            .replica_sizes
            .as_ref()
            .map(|v| v.iter().map(|s| s.trim().to_string()).collect()),
        schema: a.schema.clone(),
        exec_cluster: a.exec_cluster.clone(),
        json: a.output == OutputFormat::Json,
        verbosity: a.verbosity.level(),
        connect_timeout: Duration::from_secs(a.connect_timeout.max(1)),
        statement_timeout: a.statement_timeout.max(Duration::from_secs(1)),
        retry: crate::pg::RetryPolicy {
            max_retries: a.max_retries,
            ..Default::default()
        },
        resize_timeout: a.resize_timeout.max(Duration::from_secs(1)),
        ..CommonOptions::default()
    })
}

fn simulate(a: SimulateArgs) -> u8 {
    let args = crate::sim::SimArgs {
        scenario: a.scenario,
        seed: a.seed,
        json: a.output == OutputFormat::Json,
        timeline: a.timeline,
        plot: a.plot,
    };
    match crate::sim::run_cli(&args) {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => fail(&e.to_string(), exit::ERROR),
    }
}

fn print_output(out: &Output) {
    for line in &out.stderr {
        eprintln!("{line}");
    }
    print!("{}", out.stdout);
}

fn fail(msg: &str, code: u8) -> u8 {
    eprintln!("error: {msg}");
    code
}

/// Regex errors span several lines; keep one.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
    if let Err(e) = dotenvy::from_path(path) {
        warnings.push(format!(
            ".env: could not be read: {}",
            one_line(&e.to_string())
        ));
    }
    warnings
}

fn init_logging(default: &str, verbose: u8, format: LogFormat, service: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("CLUSTERCTL_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!("clusterctl={default},warn"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
}
