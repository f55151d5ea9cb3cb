//! The one clap tree: every command and its flags, grouped so each command
//! shows only the flags it uses. `strategy set`'s key flags are generated
//! from the strategies' key table (`strategy::keys`), never written twice.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::strategy::keys::{self, KeyKind};

pub const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 error; 2 changes pending (dry-run --detailed-exitcode
only); 3 completed with problems (invalid strategy rows skipped, actions failed
or got no answer, `check` found problems, or `doctor` something that blocks
apply); 64 bad command line.

Connection: --postgres-url, else DATABASE_URL, else DATABASE_URL in ./.env.
TLS follows libpq's sslmode (disable, prefer, require, verify-ca, verify-full)
and sslrootcert, given as URL parameters.";

#[derive(Debug, Parser)]
#[command(
    name = "clusterctl",
    version = crate::VERSION,
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

impl Cli {
    /// Parses a command line: clap's own parse, after [`switches_alone`].
    /// Where that makes a word after a switch an argument that conflicts
    /// (`… idle_suspend --predict maybe --idle-after-s 60`: `maybe` taken
    /// as the positional CONFIG), the word was meant as the switch's value:
    /// clap's refusal of it by name is the error.
    pub fn parse_argv<I, T>(argv: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
        let alone = switches_alone(argv.iter().cloned());
        let changed = alone != argv;
        Cli::try_parse_from(alone).map_err(|e| {
            match changed && e.kind() == clap::error::ErrorKind::ArgumentConflict {
                true => match Cli::try_parse_from(&argv) {
                    Err(as_given) if as_given.kind() == clap::error::ErrorKind::InvalidValue => {
                        as_given
                    }
                    _ => e,
                },
                false => e,
            }
        })
    }
}

/// A switch key flag (`--predict`) followed by a word that is no boolean
/// is the switch alone, that word the next argument: clap gives a flag of
/// an optional value the next word whatever it is, so `strategy set
/// --predict batch idle_suspend` took the cluster as the switch's value.
/// Written `--predict=true` for clap. A word that looks meant as a value
/// (`yes`, `0`, …) stays one, for clap to refuse by name; nothing after
/// `--` is touched.
pub fn switches_alone(
    argv: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    const BOOLISH: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "t", "f", "y", "n", "1", "0",
    ];
    let switches: Vec<String> = keys::all_keys()
        .into_iter()
        .filter(|(key, _)| key.kind == KeyKind::Bool)
        .flat_map(|(key, _)| [format!("--{}", key.flag()), format!("--{}", key.name)])
        .collect();
    let argv: Vec<std::ffi::OsString> = argv.into_iter().collect();
    let mut out = Vec::with_capacity(argv.len());
    let mut rest = false;
    for (i, arg) in argv.iter().enumerate() {
        rest |= arg == "--";
        let switch = !rest
            && arg
                .to_str()
                .is_some_and(|a| switches.iter().any(|s| s == a));
        let next_no_value = argv.get(i + 1).is_some_and(|next| {
            next.to_str().is_none_or(|n| {
                !n.starts_with('-') && !BOOLISH.contains(&n.to_ascii_lowercase().as_str())
            })
        });
        match switch && next_no_value {
            true => {
                let mut with = arg.clone();
                with.push("=true");
                out.push(with);
            }
            false => out.push(arg.clone()),
        }
    }
    out
}

// Parsed once per process: the size difference of the variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the plan without changing anything (works with a read-only role)
    #[command(
        after_help = "Exit codes with --detailed-exitcode: 0 no changes; 2 changes pending;\n3 problems (invalid rows); 1 error.\n\nExamples:\n  clusterctl dry-run --cluster analytics -v\n  clusterctl dry-run --filter-clusters '^analytics' -v"
    )]
    DryRun(DryRunArgs),
    /// Execute the plan: DDL one statement at a time, audited, then persist state
    #[command(
        after_help = "Example:\n  DATABASE_URL=postgres://user:pw@host:6875/materialize?sslmode=require clusterctl apply --wait 30s"
    )]
    Apply(ApplyArgs),
    /// Clear persisted strategy state (all clusters, or those selected)
    #[command(
        after_help = "Asks for confirmation on a terminal (--yes skips it). Never creates tables.\n\nExample:\n  clusterctl wipe-state --filter-clusters '^staging_' --yes"
    )]
    WipeState(WipeStateArgs),
    /// Break the controller lease, whoever holds it (audited)
    #[command(
        after_help = "Only when a controller died holding the lease and you cannot wait for it\nto expire. It breaks the lease it reads: one given back and taken by another\nrun before the break arrives is left to that run (it may be acting).\nExample:\n  clusterctl unlock --force"
    )]
    Unlock(UnlockArgs),
    /// Backtest strategies on a simulated Materialize: a scenario file, or --from-history (a live one's demand)
    #[command(
        after_help = "Scenarios ship in the repository's examples/scenarios/ (nightly-batch.toml,\nburst-cold-start.toml, schedule.toml, …; every key is documented in its README.md).\n\nWith --from-history (and the usual connection options) the scenario is built from\na live Materialize instead: its clusters, replicas, sizes and strategy rows, and\nthe statement log of the last --days (the mz_monitor_redacted role is needed).\nNothing is written to the database (--create-replica creates a temporary replica\non the exec cluster and drops it; nothing else). --compare runs alternative\nstrategies on the same demand: a file of your own, written like those in\nexamples/scenarios/alternatives/ (predictive.toml below: your clusters' rows\nwith \"predict\": true). --out saves the scenario (in a directory that exists;\nan existing file is overwritten, and said), so `simulate FILE` replays the same\nfigures (it records --seed, --history and --served-within).\n\nExamples, from a checkout of the repository:\n  clusterctl simulate examples/scenarios/nightly-batch.toml --plot nightly.svg\n  clusterctl simulate --from-history --days 28 --compare predictive.toml --out backtest.toml"
    )]
    Simulate(SimulateArgs),
    /// Configure strategies: set, rm, mv, ls, pause, resume
    #[command(
        subcommand,
        after_help = "Examples:\n  clusterctl strategy set analytics target_size --target-size 100cc\n  clusterctl strategy ls\n  clusterctl strategy pause analytics --reason 'incident 42'"
    )]
    Strategy(StrategyCommand),
    /// One row per cluster: condition, replicas, age of the last change, reason (-o wide for more)
    #[command(
        after_help = "Conditions, most urgent first: Paused, Invalid, NotManageable, InDoubt,\nCrashLooping, ResizeRolledBack, Bursting, Suspending, Resuming, Resizing,\nStabilizing, Limited, Hydrating, Suspended, SignalUnknown, Converged\n(Unconfigured with --all).\n\nExamples:\n  clusterctl status\n  clusterctl status -o wide --filter-clusters '^analytics'\n  clusterctl status --watch --interval 10s"
    )]
    Status(StatusArgs),
    /// Everything about one cluster: strategies, replicas, signals, pending work, history
    #[command(
        after_help = "Like kubectl describe. Example:\n  clusterctl describe analytics\n  clusterctl describe u7 --output json"
    )]
    Describe(DescribeArgs),
    /// Validate every strategy row against the live environment (changes nothing)
    #[command(
        after_help = "Exit codes: 0 every row is valid; 3 problems found; 1 error.\n\nExample:\n  clusterctl check && clusterctl apply"
    )]
    Check(CheckArgs),
    /// The audit trail of actions and strategy changes, newest first, with their reasons
    #[command(
        after_help = "--since and --until take a duration ago (30s, 15m, 2h, 1d) or a time\n(2026-11-22, 2026-11-22 10:00, 2026-11-22T10:00:00Z; UTC unless an offset is given).\n\nExamples:\n  clusterctl history --cluster analytics --since 2h --failed\n  clusterctl history --cluster u3 --replica r1 --since 2026-11-20 --until 2026-11-21\n  clusterctl history --limit 0"
    )]
    History(HistoryArgs),
    /// Will clusterctl work here? Release, session cluster, role and privileges, limits, signals
    #[command(
        after_help = "Exit codes: 0 apply will work (warnings may remain); 3 something blocks apply;\n1 error.\n\nExamples:\n  clusterctl doctor --exec-cluster ops\n  clusterctl doctor --exec-cluster ops --print-sql > fix.sql   # then, as an admin: psql -f fix.sql"
    )]
    Doctor(DoctorArgs),
    /// Create clusterctl's tables, or print the SQL and GRANTs for an admin
    #[command(
        after_help = "Examples:\n  clusterctl init\n  clusterctl init --print --schema ops --role clusterctl > clusterctl.sql"
    )]
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  clusterctl completions bash > /etc/bash_completion.d/clusterctl\n  clusterctl completions zsh > \"${fpath[1]}/_clusterctl\"\n  clusterctl completions fish > ~/.config/fish/completions/clusterctl.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory
    #[command(
        after_help = "Examples:\n  clusterctl man > clusterctl.1 && man ./clusterctl.1\n  clusterctl man --out-dir /usr/local/share/man/man1"
    )]
    Man(ManArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people
    Text,
    /// One JSON document (see README, "JSON output")
    Json,
    /// Text with what text cuts or leaves out (status: every column; strategy ls: whole configs; history: cluster ids, runs and the SQL sent)
    Wide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the output goes and how much of it: every command has these.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More output: -v adds notes and info logs, -vv debug logs (with every SQL statement sent)
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors, and the actions a plan holds or an apply ran (no summary, warnings, notes or waiting work)
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format on stderr: text for people, json (one object per line) for log pipelines
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
}

/// How to reach the database: every command that connects has these.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// Connection URL (postgres://user:password@host:6875/materialize?sslmode=require)
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub postgres_url: Option<crate::config::DatabaseUrl>,

    /// Schema holding clusterctl's tables (default: the connection's current schema)
    #[arg(long, value_name = "NAME", value_parser = parse_identifier)]
    pub schema: Option<String>,

    /// Run our session on this cluster (SET cluster); it is never suspended or shrunk
    #[arg(long, value_name = "NAME", value_parser = parse_identifier, allow_hyphen_values = true)]
    pub exec_cluster: Option<String>,

    /// Give the --exec-cluster a temporary replica of SIZE (default 25cc) for the run, dropped after
    #[arg(
        long,
        value_name = "SIZE",
        num_args = 0..=1,
        default_missing_value = crate::commands::session::DEFAULT_TEMP_SIZE,
        requires = "exec_cluster",
        value_parser = parse_temp_size
    )]
    pub create_replica: Option<String>,

    /// How long a command waits for the session cluster (--exec-cluster) to have a replica online when none is (starting, offline), before it stops saying so; 0s: not at all
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration,
          allow_hyphen_values = true)]
    pub exec_cluster_wait: Duration,

    /// How long a run waits for its --create-replica to come online; one that does not is dropped and the run fails
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_period,
          requires = "create_replica", allow_hyphen_values = true)]
    pub create_replica_wait: Duration,

    /// Seconds to wait for a connection (1 to a year's worth; wins over the URL's connect_timeout) [default: the URL's connect_timeout, else 10]
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true,
          value_parser = whole::<u64>(1, keys::MAX_SECONDS))]
    pub connect_timeout: Option<u64>,

    /// Client-side deadline of every statement (e.g. 30s, 2m); a hung server never hangs cron
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_period, allow_hyphen_values = true)]
    pub statement_timeout: Duration,

    /// Retries of a transient failure (connection reset, timeout, "try again"), with backoff; 0 to 20, and at most 30 s of waiting in all
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        allow_hyphen_values = true,
        value_parser = whole::<u16>(0, 20)
    )]
    pub max_retries: u16,
}

/// Commands that read the catalog's replica sizes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct SizesArgs {
    /// Use only these replica sizes (local testing): priced by the catalog when it lists them all, else smallest first as given, credits unknown
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub replica_sizes: Option<Vec<String>>,
}

/// Commands that work on a selection of clusters.
#[derive(Debug, Args)]
#[command(next_help_heading = "Selection")]
pub struct SelectArgs {
    /// Only these clusters, by exact name or id (repeat, or separate with commas; a name that has a comma or blanks, given whole, means that cluster)
    #[arg(long, value_name = "NAME|ID", value_parser = parse_cluster_list, allow_hyphen_values = true)]
    pub cluster: Vec<String>,
    /// Only clusters whose name matches this regular expression (unanchored, as in mz-clusterctl)
    #[arg(
        long,
        visible_alias = "cluster-regex",
        value_name = "REGEX",
        conflicts_with = "cluster",
        value_parser = parse_cluster_filter
    )]
    pub filter_clusters: Option<String>,
}

/// Flags of the Python mz-clusterctl that keep their meaning here.
#[derive(Debug, Args)]
#[command(next_help_heading = "Compatibility")]
pub struct CompatArgs {
    /// Accepted from mz-clusterctl command lines; shrink_to_fit is not experimental here, so it is always enabled
    #[arg(long)]
    pub enable_experimental_strategies: bool,
}

/// Commands that plan.
#[derive(Debug, Args)]
#[command(next_help_heading = "Planning")]
pub struct PlanArgs {
    /// Managed clusters: how long a graceful resize waits for the new replicas before rolling back
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_period, allow_hyphen_values = true)]
    pub resize_timeout: Duration,

    /// How often the controller runs: a cron's or timer's period (e.g. 5m), or with `apply --watch` the time between runs (±10% jitter). A predicted wake starts one interval early, as the next run may come that late. apply: 60s unless given (and recorded for the others); dry-run: the interval apply recorded, 60s if none (as `describe` and `status` plan)
    #[arg(long, value_name = "DURATION", value_parser = parse_period, allow_hyphen_values = true)]
    pub interval: Option<Duration>,
}

/// Commands that write take the controller lease first.
#[derive(Debug, Args)]
#[command(next_help_heading = "Lease")]
pub struct LeaseArgs {
    /// If another controller holds the lease, wait up to this long (e.g. 30s) instead of exiting
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub wait: Option<Duration>,

    /// How long the lease lasts unless renewed (a heartbeat renews it every quarter of this while acting)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_period, allow_hyphen_values = true)]
    pub lease_ttl: Duration,
}

#[derive(Debug, Args)]
pub struct DryRunArgs {
    /// Exit 0 when there are no changes, 2 when changes are pending (1 error, 3 problems)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also save the plan to FILE, as `-o json` prints it, for `apply --plan FILE` (replaced if it exists)
    #[arg(long = "out", value_name = "FILE", value_parser = parse_file)]
    pub save_to: Option<PathBuf>,
    /// Judge ownership as ROLE, the role `apply` runs as, not the connected one: a reviewer's read-only role sees what apply would do (whether ROLE is a superuser is not read: only its memberships count)
    #[arg(long, value_name = "ROLE", value_parser = parse_identifier)]
    pub as_role: Option<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub compat: CompatArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Execute at most N DDL statements in this run; the rest waits for the next run
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = whole::<usize>(0, u64::MAX))]
    pub max_actions: Option<usize>,

    /// Apply a plan saved with `dry-run --out FILE` (or `dry-run -o json > FILE`, which masks what looks like a secret in a cluster's or replica's name: such a plan never matches) only as it was reviewed: the run plans afresh, keeps the clusters the saved plan covered, and acts only when it would run exactly the saved statements, in their order; otherwise it does nothing, says what changed and exits 1
    #[arg(long = "plan", value_name = "FILE", conflicts_with = "watch", value_parser = parse_file)]
    pub saved_plan: Option<PathBuf>,

    /// Keep running: one apply per --interval until SIGTERM, SIGINT or SIGHUP (finishes the action under way, then exits 0; a run that does not finish within 25 s of the signal is abandoned, exit 1)
    #[arg(long)]
    pub watch: bool,

    /// With --watch: serve /metrics, /healthz and /readyz on this address: IP:PORT (127.0.0.1:9187, [::1]:9187), localhost:PORT, or :PORT for every interface (a pod's)
    #[arg(long, value_name = "ADDR", requires = "watch", value_parser = listen_addr)]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Add each run's metrics to this file, atomically and under a lock beside it (node-exporter textfile collector; cron runs and a watcher may share it)
    #[arg(long, value_name = "PATH", value_parser = parse_file)]
    pub metrics_file: Option<PathBuf>,

    /// Delete settled audit rows older than this (e.g. 90d), at most once a day; open rows stay, and so do each cluster's newest resize and the rows of its last suspension (what a wiped suspended cluster wakes with). Every cluster's rows, whatever --cluster selects. At least 8d. Default: keep every row
    #[arg(long, value_name = "DURATION", value_parser = parse_retention, allow_hyphen_values = true)]
    pub audit_retention: Option<Duration>,

    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub compat: CompatArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub lease: LeaseArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct WipeStateArgs {
    /// Do not ask for confirmation on a terminal
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub compat: CompatArgs,
    #[command(flatten)]
    pub lease: LeaseArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Required: breaking a lease another controller may still be using is deliberate
    #[arg(long, required = true)]
    pub force: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["scenario", "from_history"])))]
pub struct SimulateArgs {
    /// Scenario file (TOML), e.g. examples/scenarios/nightly-batch.toml in the repository
    #[arg(conflicts_with = "from_history")]
    pub scenario: Option<PathBuf>,
    /// Build the scenario from a live Materialize instead (read-only; --create-replica creates and drops a temporary replica on the exec cluster, both audited, nothing else is written): its clusters, replicas, sizes, strategy rows and state, and statement log
    #[arg(long, help_heading = "From history")]
    pub from_history: bool,
    /// 1..=120. With --from-history: days of statement log to read (default 28); the first quarter (at most 7 days) is the history predictive strategies learn from, the rest is replayed. With a scenario file: replay it for N days instead of its own `days` (a quick try of a long scenario)
    #[arg(long, value_name = "N", help_heading = "From history",
          allow_hyphen_values = true, value_parser = whole::<u32>(1, 120))]
    pub days: Option<u32>,
    /// Also write the built scenario to FILE (TOML) and its traces next to it (FILE's name without its extension, with .traces/: backtest.toml writes backtest.traces/), to share, edit and replay with `clusterctl simulate FILE`; FILE's directory must exist, an existing FILE is overwritten (and said), and traces an earlier --out left there for other clusters are removed
    #[arg(
        long = "out",
        value_name = "FILE",
        help_heading = "From history",
        conflicts_with = "scenario",
        value_parser = parse_file
    )]
    pub out_file: Option<PathBuf>,
    /// Only this cluster, by exact name or id
    #[arg(
        long,
        value_name = "NAME|ID",
        help_heading = "From history",
        conflicts_with = "scenario",
        value_parser = parse_identifier
    )]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Seed for the scenario's random choices (default: the scenario's)
    #[arg(long, allow_hyphen_values = true, value_parser = whole::<u64>(0, u64::MAX))]
    pub seed: Option<u64>,
    /// Write a per-tick timeline as CSV (of one run: not with --compare)
    #[arg(long, value_name = "FILE", conflicts_with = "compare", value_parser = parse_file)]
    pub timeline: Option<PathBuf>,
    /// Draw the timeline of each cluster as an SVG picture (of one run: not with --compare)
    #[arg(long, value_name = "FILE", conflicts_with = "compare", value_parser = parse_file)]
    pub plot: Option<PathBuf>,
    /// Run with the strategies of this alternative file instead of the scenario's (see examples/scenarios/README.md)
    #[arg(long, value_name = "FILE")]
    pub strategies: Option<PathBuf>,
    /// Also run under this alternative file's strategies and print the runs side by side (repeatable)
    #[arg(long, value_name = "FILE")]
    pub compare: Vec<PathBuf>,
    /// Statement log history before the start that predictive strategies learn from, e.g. 28d (overrides the scenario's `history`)
    #[arg(long, value_name = "DURATION", value_parser = parse_history, allow_hyphen_values = true)]
    pub history: Option<Duration>,
    /// A query counts as served well within this of its first attempt, e.g. 5s, at least 1s (overrides `clients.served_within`)
    #[arg(long, value_name = "DURATION", value_parser = parse_period, allow_hyphen_values = true)]
    pub served_within: Option<Duration>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum StrategyCommand {
    /// Set a cluster's strategy of one type, replacing any previous config of that type
    #[command(
        after_help = "The config is validated against the live replica sizes before anything is\nwritten; a bad one is refused with the reason.\n\nExamples:\n  clusterctl strategy set analytics target_size --target-size 100cc\n  clusterctl strategy set u7 idle_suspend --idle-after-s 30m\n  clusterctl strategy set u7 idle_suspend '{\"idle_after_s\": 1800}'"
    )]
    Set(StrategySetArgs),
    /// Remove a cluster's strategies (all of them, or one type)
    #[command(
        after_help = "Examples:\n  clusterctl strategy rm analytics burst\n  clusterctl strategy rm u42"
    )]
    Rm(StrategyRmArgs),
    /// Move a cluster's strategies to another cluster (after a blue/green swap)
    #[command(
        after_help = "Every row in effect moves, a pause too, and what the strategies learned of\nthe workload (the sizes shrink_to_fit found, hydration times learned by\nidle_suspend and schedule) goes into the destination's state, unless it has\nstate of its own; the rest of the state stays with the source. Refused, with\nnothing written, when the destination has rows of its own or the rows would be\ninvalid for it. The source may be a dropped cluster (its id, or the name its\naudit rows recorded). A move stopped midway is finished by running it again.\n\nExample: after `ALTER CLUSTER analytics SWAP WITH analytics_dbt_deploy` the rows\nstay with the cluster that ran them, now named analytics_dbt_deploy:\n  clusterctl strategy mv analytics_dbt_deploy analytics"
    )]
    Mv(StrategyMvArgs),
    /// List the strategies in effect (the newest row per cluster and type)
    #[command(
        after_help = "Examples:\n  clusterctl strategy ls --cluster analytics\n  clusterctl strategy ls --filter-clusters '^analytics'"
    )]
    Ls(StrategyLsArgs),
    /// Make the controller leave a cluster alone (said so in every plan)
    #[command(
        after_help = "Example:\n  clusterctl strategy pause analytics --reason 'incident 42'"
    )]
    Pause(StrategyPauseArgs),
    /// Undo `strategy pause`
    #[command(after_help = "Example:\n  clusterctl strategy resume analytics")]
    Resume(StrategyTargetArgs),
}

#[derive(Debug, Args)]
pub struct StrategySetArgs {
    /// Cluster name or id (u7)
    #[arg(value_parser = parse_identifier)]
    pub cluster_name: String,
    /// Strategy type: target_size, schedule, shrink_to_fit, burst, idle_suspend, limits, stabilization
    pub strategy_type: String,
    /// The whole config as a JSON object, as --config takes it: '{"idle_after_s": 600}'
    #[arg(value_name = "CONFIG", conflicts_with = "config", conflicts_with_all = ConfigKeys::ids())]
    pub config_arg: Option<String>,
    /// The whole config as a JSON object (instead of the key flags)
    #[arg(long, value_name = "JSON", conflicts_with_all = ConfigKeys::ids())]
    pub config: Option<String>,
    #[command(flatten)]
    pub keys: ConfigKeys,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StrategyMvArgs {
    /// The cluster whose rows move: name or id (an id only strategy rows mention is accepted too)
    #[arg(value_parser = parse_identifier)]
    pub from: String,
    /// The cluster they move to: name or id
    #[arg(value_parser = parse_identifier)]
    pub to: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StrategyRmArgs {
    /// Cluster name or id (an id only strategy rows mention is accepted too)
    #[arg(value_parser = parse_identifier)]
    pub cluster_name: String,
    /// Only this strategy type
    pub strategy_type: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StrategyLsArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StrategyPauseArgs {
    /// Cluster name or id
    #[arg(value_parser = parse_identifier)]
    pub cluster_name: String,
    /// Why, for whoever reads the plan next (pausing again keeps the old reason unless given)
    #[arg(long, value_name = "TEXT", value_parser = parse_reason)]
    pub reason: Option<String>,
    /// The pause expires after this long (2h, at most a year) or at this time (2026-11-22T18:00:00Z)
    #[arg(long, value_name = "DURATION|TIME", value_parser = parse_pause_until, allow_hyphen_values = true)]
    pub until: Option<crate::commands::TimeBound>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StrategyTargetArgs {
    /// Cluster name or id
    #[arg(value_parser = parse_identifier)]
    pub cluster_name: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Every user cluster, not only those with strategies
    #[arg(long)]
    pub all: bool,
    /// Only clusters in these conditions (comma-separated or repeated, any case): --condition Suspended,CrashLooping
    #[arg(
        long,
        value_name = "CONDITION",
        value_enum,
        value_delimiter = ',',
        ignore_case = true,
        hide_possible_values = true
    )]
    pub condition: Vec<crate::commands::status::Condition>,
    /// Leave out clusters in these conditions: --not-condition Converged lists what is not settled
    #[arg(
        long,
        value_name = "CONDITION",
        value_enum,
        value_delimiter = ',',
        ignore_case = true,
        hide_possible_values = true
    )]
    pub not_condition: Vec<crate::commands::status::Condition>,
    /// Refresh every --interval until interrupted
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// With --watch: time between refreshes
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_period, allow_hyphen_values = true, requires = "watch")]
    pub interval: Duration,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only entries newer than this: a duration ago (30s, 15m, 2h, 1d) or a time (2026-11-22, 2026-11-22T10:00:00Z)
    #[arg(long, value_name = "DURATION|TIME", value_parser = parse_since, allow_hyphen_values = true)]
    pub since: Option<crate::commands::TimeBound>,
    /// Only entries up to this: a duration ago or a time
    #[arg(long, value_name = "DURATION|TIME", value_parser = parse_since, allow_hyphen_values = true)]
    pub until: Option<crate::commands::TimeBound>,
    /// Only actions on this replica
    #[arg(long, value_name = "NAME", value_parser = parse_identifier)]
    pub replica: Option<String>,
    /// Only actions that failed (or whose outcome was never recorded); not
    /// those skipped because the cluster changed between plan and statement
    #[arg(long)]
    pub failed: bool,
    /// Only the rows of one run: an apply's actions and pruning, by the id it printed ("Run …"), or an operator's command; the id or its first 8 characters or more (-o wide's RUN)
    #[arg(long, value_name = "ID", value_parser = parse_run_id)]
    pub run: Option<String>,
    /// At most this many entries, newest first; 0 for all of them
    #[arg(
        long,
        value_name = "N",
        default_value_t = 50,
        allow_hyphen_values = true,
        value_parser = whole::<u32>(0, u32::MAX.into())
    )]
    pub limit: u32,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the fixes that are SQL (GRANTs, OWNER TO) as one script for an admin to review and run, instead of the report; clusterctl runs none of it. The other fixes follow as comments. Exit code as doctor's
    #[arg(long)]
    pub print_sql: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Print the SQL (tables, then GRANTs) instead of running it; needs no connection
    #[arg(long)]
    pub print: bool,
    /// With --print: the role the GRANTs are for
    #[arg(
        long,
        value_name = "NAME",
        default_value = "clusterctl",
        requires = "print",
        value_parser = parse_identifier
    )]
    pub role: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Cluster name or id
    #[arg(value_parser = parse_identifier)]
    pub cluster_name: String,
    /// How many recent history entries to show (0: none, and the audit trail is not read)
    #[arg(long, value_name = "N", default_value_t = 10, allow_hyphen_values = true,
          value_parser = whole::<u32>(0, u32::MAX.into()))]
    pub history: u32,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub sizes: SizesArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write clusterctl.1 and one page per command (clusterctl-dry-run.1, …) into this directory
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    #[command(flatten)]
    pub out: OutputArgs,
}

impl Command {
    /// The output flags every command has.
    pub fn output(&self) -> &OutputArgs {
        match self {
            Command::DryRun(a) => &a.out,
            Command::Apply(a) => &a.out,
            Command::WipeState(a) => &a.out,
            Command::Unlock(a) => &a.out,
            Command::Simulate(a) => &a.out,
            Command::Strategy(s) => match s {
                StrategyCommand::Set(a) => &a.out,
                StrategyCommand::Rm(a) => &a.out,
                StrategyCommand::Mv(a) => &a.out,
                StrategyCommand::Ls(a) => &a.out,
                StrategyCommand::Pause(a) => &a.out,
                StrategyCommand::Resume(a) => &a.out,
            },
            Command::Status(a) => &a.out,
            Command::Describe(a) => &a.out,
            Command::Check(a) => &a.out,
            Command::History(a) => &a.out,
            Command::Doctor(a) => &a.out,
            Command::Init(a) => &a.out,
            Command::Completions(a) => &a.out,
            Command::Man(a) => &a.out,
        }
    }

    /// The command's name, as in the JSON envelope (`"strategy set"`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::DryRun(_) => "dry-run",
            Command::Apply(_) => "apply",
            Command::WipeState(_) => "wipe-state",
            Command::Unlock(_) => "unlock",
            Command::Simulate(_) => "simulate",
            Command::Strategy(s) => match s {
                StrategyCommand::Set(_) => "strategy set",
                StrategyCommand::Rm(_) => "strategy rm",
                StrategyCommand::Mv(_) => "strategy mv",
                StrategyCommand::Ls(_) => "strategy ls",
                StrategyCommand::Pause(_) => "strategy pause",
                StrategyCommand::Resume(_) => "strategy resume",
            },
            Command::Status(_) => "status",
            Command::Describe(_) => "describe",
            Command::Doctor(_) => "doctor",
            Command::Check(_) => "check",
            Command::History(_) => "history",
            Command::Init(_) => "init",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

/// The longest duration any flag takes: a year. Longer values are mistakes
/// and overflow time arithmetic.
const MAX_FLAG_DURATION: Duration = Duration::from_secs(keys::MAX_SECONDS);

/// A name (schema, role, cluster, replica, size): never empty, never only
/// blanks (SQL has no empty identifier), so `--cluster "$UNSET"` in a
/// script is an error, not every cluster; never a connection string with a
/// password ([`crate::config::holds_password`]). Kept as typed: a cluster argument
/// is read against the live names (`model::cluster_arg`).
/// A file a flag reads or writes: `-` is none (it wrote a file named `-`,
/// and `apply --plan -` read it back, where a shell user meant stdout).
pub fn parse_file(s: &str) -> Result<PathBuf, String> {
    match s {
        "" => Err("a file path is wanted".into()),
        "-" => Err(
            "'-' is no file here (stdin and stdout are not read or written through this flag; \
             `-o json` prints a plan on stdout): give a path, ./- for a file named '-'"
                .into(),
        ),
        _ => Ok(PathBuf::from(s)),
    }
}

pub fn parse_identifier(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("empty (an unset variable?): give a name".to_string());
    }
    // `describe "$DATABASE_URL"`, or `--create-replica` taking the URL
    // meant for the connection: some names are written to the database
    // (a temporary replica's size in the audit trail, a schema) and shown
    // by every later run.
    if crate::config::holds_password(s) {
        return Err(
            "a connection string, not a name (the connection is --postgres-url or \
                    DATABASE_URL)"
                .to_string(),
        );
    }
    Ok(s.to_string())
}

/// `--create-replica SIZE`: a size, as [`parse_identifier`] judges a name
/// (it said "give a name" of an empty size: an outside check).
fn parse_temp_size(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(format!(
            "empty (an unset variable?): give a size, or leave the value out for {}",
            crate::commands::session::DEFAULT_TEMP_SIZE
        ));
    }
    parse_identifier(s)
}

/// A `--cluster` value: one name or id, or several separated by commas
/// (read against the live names by `plan::Selection`). No name in it is
/// empty, so `--cluster "$A,$B"` with `B` unset is an error, not `A` only.
pub fn parse_cluster_list(s: &str) -> Result<String, String> {
    let s = parse_identifier(s)?;
    if s.split(',').any(|part| part.trim().is_empty()) {
        return Err(
            "empty (an unset variable?) between commas: give names or ids separated by commas \
             (a cluster whose name begins or ends with a comma: --filter-clusters)"
                .to_string(),
        );
    }
    Ok(s)
}

/// A `--filter-clusters` regex: never empty, so `--filter-clusters
/// "$UNSET"` in a script is an error, not every cluster (as for
/// `--cluster`); `.` says every cluster on purpose.
pub fn parse_cluster_filter(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(
            "empty (an unset variable?): give a regular expression ('.' matches every cluster)"
                .to_string(),
        );
    }
    Ok(s.to_string())
}

/// `30s`, `5m`, `1h30m`, or plain seconds; at most a year.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    within_a_year(s, keys::read_duration(s)?)
}

/// A pause's reason: free text, kept in the strategy table and shown by
/// every plan, `status` and `history`, so never one holding a connection
/// string with its password (any of its words, as
/// [`crate::config::holds_password`] judges a name).
pub fn parse_reason(s: &str) -> Result<String, String> {
    // The readers' rule (a reason they refuse was written: an outside
    // check): the row as it will be stored.
    let row = serde_json::json!({ "reason": s });
    if crate::config::password_in_json(&row).is_some() {
        return Err(
            "it holds a connection string with its password, which every plan, status and \
             history would show: leave the password out"
                .to_string(),
        );
    }
    Ok(s.to_string())
}

/// `history --run`: a run id as `apply` prints it (a UUID), or its first
/// [`RUN_ID_PREFIX`] characters or more, lowercased.
///
/// [`RUN_ID_PREFIX`]: crate::commands::history::RUN_ID_PREFIX Only hex digits and
/// dashes, so it is a prefix for SQL's LIKE with nothing to escape.
pub fn parse_run_id(s: &str) -> Result<String, String> {
    use crate::commands::history::RUN_ID_PREFIX;
    let id = s.trim().to_ascii_lowercase();
    let shape = id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if !shape || id.len() < RUN_ID_PREFIX || id.len() > 36 {
        return Err(format!(
            "'{}' is not a run id: give the id apply printed (\"Run 3f2a…\"), or its first \
             {RUN_ID_PREFIX} characters or more (history -o wide's RUN column)",
            s.trim()
        ));
    }
    Ok(id)
}

/// `--audit-retention`: at least [`AUDIT_RETENTION_MIN`] (the trail's
/// newest resize per cluster is read for a week), at most a century.
///
/// [`AUDIT_RETENTION_MIN`]: crate::commands::reconcile::AUDIT_RETENTION_MIN
pub fn parse_retention(s: &str) -> Result<Duration, String> {
    let min = crate::commands::reconcile::AUDIT_RETENTION_MIN;
    let d = keys::read_duration(s.trim())?;
    if d < min {
        return Err(format!(
            "'{}' is shorter than {} days: the trail's newest resize of each cluster is read for up \
             to a week; give at least 8d",
            s.trim(),
            min.as_secs() / 86_400
        ));
    }
    if d > Duration::from_secs(100 * 365 * 86_400) {
        return Err(format!(
            "'{}' is longer than a century; leave --audit-retention out to keep every row",
            s.trim()
        ));
    }
    Ok(d)
}

/// A period or deadline: [`parse_duration`], at least a second (a zero
/// interval or timeout was raised to a second without a word).
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err(format!(
            "'{}' is shorter than a second; give at least 1s",
            s.trim()
        ));
    }
    Ok(d)
}

/// `--since`, `--until`: a duration from now, up to a century.
const MAX_TIME_BOUND: Duration = Duration::from_secs(100 * 36525 * 864);

fn within_a_year(s: &str, d: Duration) -> Result<Duration, String> {
    if d > MAX_FLAG_DURATION {
        return Err(format!("'{s}' is longer than a year (366 days)"));
    }
    Ok(d)
}

/// `simulate --history`: a duration the scenario's `history` key allows.
fn parse_history(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = keys::read_duration(t)?;
    // `simulate --from-history --history 0s` built a scenario it then
    // refused ("negative time"): none is said by leaving it out.
    if d.is_zero() {
        return Err(format!(
            "'{t}' is no history: leave --history out for none, or give at least a minute"
        ));
    }
    // One wording for every length over the bound (a year's cap said
    // another thing above a year).
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    crate::sim::scenario::check_history(ms).map_err(|e| format!("'{t}' is too long ({e})"))?;
    Ok(d)
}

/// Parses `--since`/`--until`: a duration ago (30s, 15m, 2h, 1d, `1h30m`) or a time.
pub fn parse_since(s: &str) -> Result<crate::commands::TimeBound, String> {
    parse_time_bound(s)
        .map_err(|e| format!("{e}; use e.g. 30s, 15m, 2h, 1d or 2026-11-22T10:00:00Z"))
}

/// `strategy pause --until`: a time, or a duration of at most a year, as
/// every duration flag (`2y` was taken: an outside check).
fn parse_pause_until(s: &str) -> Result<crate::commands::TimeBound, String> {
    match parse_time_bound(s)? {
        crate::commands::TimeBound::Ago(d) => {
            within_a_year(s.trim(), d).map(crate::commands::TimeBound::Ago)
        }
        at => Ok(at),
    }
}

/// A duration (from now) or a time: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or
/// `YYYY-MM-DD` (UTC).
pub fn parse_time_bound(s: &str) -> Result<crate::commands::TimeBound, String> {
    use crate::commands::TimeBound;
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let t = s.trim();
    match keys::duration_syntax(t) {
        // A duration past what a number holds is no time either: said too
        // long (it said "neither a duration … nor a time").
        Err(humantime::DurationError::NumberOverflow) => {
            return Err(format!("'{t}' is more than 100 years"));
        }
        Err(_) => {}
        Ok(_) => {
            // The one reading of a duration: `5M` (a month where a minute was
            // meant) is refused as every duration flag refuses it.
            let d = keys::read_duration(t)?;
            // A time that far back is a date (`history --since 2y` works as
            // the date two years ago does); only a bound no clock holds is
            // refused.
            if d > MAX_TIME_BOUND {
                return Err(format!("'{t}' is more than 100 years"));
            }
            return Ok(TimeBound::Ago(d));
        }
    }
    let at = chrono::DateTime::parse_from_rfc3339(t)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d %H:%M",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|fmt| NaiveDateTime::parse_from_str(t, fmt).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
            .map(|n| Utc.from_utc_datetime(&n))
        });
    if let Some(at) = at {
        // What the database and an RFC 3339 row can hold: years 1 to 9999
        // in UTC (`0000-01-01` or `+10000-01-01` failed in the database, and
        // a pause row with such an `until` no longer read as a time).
        use chrono::Datelike as _;
        if !(1..=9999).contains(&at.year()) {
            return Err(format!(
                "'{t}' is outside the years 1 to 9999 (UTC) that a time can have here"
            ));
        }
        return Ok(TimeBound::At(at));
    }
    Err(format!(
        "'{t}' is neither a duration like 30s, 5m or 1h nor a time like 2026-11-22T10:00:00Z"
    ))
}

/// `strategy set`'s key flags, one per key of the key table, collected into
/// the JSON config they stand for.
#[derive(Debug, Clone, Default)]
pub struct ConfigKeys(pub serde_json::Map<String, serde_json::Value>);

/// A value as a parser's error quotes it: quoted and cut to `max`
/// characters, or, when it may hold a password (a connection string given
/// to the wrong flag), not at all. Cut first, the password's start was
/// printed; masked, a password holding a blank showed past it (the
/// whole argument's redaction no longer found it: outside checks).
fn quoted_value(s: &str, max: usize) -> String {
    match crate::config::may_hold_secret(s) {
        true => "the value (not shown: it may hold a password)".to_string(),
        false => format!("'{}'", crate::model::clip(s, max)),
    }
}

/// A whole number within `min..=max`, said in those words (the standard
/// library's "invalid digit found in string" for `1.5`, or clap's flag
/// error for `-1`, were all a user saw).
fn whole<T>(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: TryFrom<u64>,
{
    move |s: &str| {
        let (t, shown) = (s.trim(), quoted_value(s, 40));
        let range = || format!("not in {min}..={max}");
        match t.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => {
                T::try_from(n).map_err(|_| format!("{n} is {}", range()))
            }
            Ok(n) => Err(format!("{n} is {}", range())),
            Err(_) if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) => {
                Err(format!("{shown} is {}", range()))
            }
            Err(_) => Err(format!("{shown} is not a whole number from {min} to {max}")),
        }
    }
}

/// `--metrics-addr`: an IP address and port, `localhost:PORT` (loopback)
/// or `:PORT` (every interface). Host names are not resolved: only
/// `localhost` is known without a lookup (it was refused: an outside
/// check).
fn listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let port = |p: &str| {
        p.parse::<u16>().map_err(|_| {
            format!(
                "{}: the port must be a number from 0 to 65535",
                quoted_value(p, 80)
            )
        })
    };
    if let Some(p) = s.strip_prefix(':') {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port(p)?));
    }
    if let Some(p) = s.strip_prefix("localhost:") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port(p)?));
    }
    s.parse().map_err(|_| {
        format!(
            "{} is not IP:PORT, localhost:PORT or :PORT (e.g. 127.0.0.1:9187, or :9187 for \
             every interface)",
            quoted_value(s, 80)
        )
    })
}

fn key_value_parser(kind: KeyKind) -> clap::builder::ValueParser {
    use clap::builder::ValueParser;
    // As a config's text is read: a key given twice, at any depth, is
    // refused (JSON keeps the last, silently).
    fn json(s: &str) -> Result<serde_json::Value, String> {
        let (v, twice) =
            crate::strategy::read_json(s).map_err(|e| format!("not valid JSON ({e})"))?;
        match twice.first() {
            Some(key) => Err(crate::strategy::given_twice(key)),
            None => Ok(v),
        }
    }
    fn seconds(s: &str) -> Result<u64, String> {
        let d = parse_duration(s)?;
        if d.subsec_nanos() != 0 {
            return Err(format!("'{s}' is not a whole number of seconds"));
        }
        Ok(d.as_secs())
    }
    // Each key's bounds (`max_replicas` >= 1, `history_days` 1..=56) are
    // its row's, which says them: the flag names none of its own.
    fn count(s: &str) -> Result<u64, String> {
        let t = s.trim();
        t.parse::<u64>().map_err(
            |_| match !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
                true => format!("{t} is too large"),
                false => format!("'{s}' is not a whole number"),
            },
        )
    }
    // `1e400` parses as infinity, which JSON cannot hold.
    let within = move |s: &str| -> Result<f64, String> {
        let (low, high, what) = kind.bounds().unwrap_or(keys::FRACTION);
        match s.trim().parse::<f64>() {
            Ok(f) if (low..=high).contains(&f) => Ok(f),
            _ => Err(format!("'{s}' is not {what}")),
        }
    };
    fn credits(s: &str) -> Result<f64, String> {
        match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
            _ => Err(format!("'{s}' is not a number of credits > 0")),
        }
    }
    match kind {
        KeyKind::Size | KeyKind::Name | KeyKind::Text => ValueParser::string(),
        KeyKind::Seconds => ValueParser::new(seconds),
        KeyKind::Count => ValueParser::new(count),
        KeyKind::Bool => ValueParser::bool(),
        KeyKind::Credits => ValueParser::new(credits),
        KeyKind::Fraction | KeyKind::Share => ValueParser::new(within),
        KeyKind::Json => ValueParser::new(json),
    }
}

fn value_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Size => "SIZE",
        KeyKind::Name => "NAME",
        KeyKind::Seconds => "DURATION",
        KeyKind::Count => "N",
        KeyKind::Bool => "BOOL",
        KeyKind::Credits => "CREDITS",
        KeyKind::Fraction => "FRACTION",
        KeyKind::Share => "SHARE",
        KeyKind::Text => "TEXT",
        KeyKind::Json => "JSON",
    }
}

impl ConfigKeys {
    /// The ids of the key flags, for `--config` to conflict with one by
    /// one: clap names the flags of a conflict, and a conflict with a
    /// group of them would name every key flag, given or not.
    fn ids() -> Vec<&'static str> {
        keys::all_keys()
            .into_iter()
            .map(|(key, _)| key.name)
            .collect()
    }
}

impl Args for ConfigKeys {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for (key, kinds) in keys::all_keys() {
            let owners: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            let arg = Arg::new(key.name)
                .long(key.flag())
                .alias(key.name)
                .value_name(value_name(key.kind))
                .value_parser(key_value_parser(key.kind))
                // `--idle-after-s -5m` is a bad value, not an unknown flag.
                .allow_hyphen_values(true)
                .action(ArgAction::Set)
                .help(format!("{}: {}", owners.join(", "), key.help))
                .help_heading("Config keys (instead of --config)");
            // A switch may be given alone (`--predict` is `--predict
            // true`): it then takes no hyphen value, which is the next flag
            // (`--predict --prewarm-target 0.9` said "invalid value
            // '--prewarm-target' for '--predict <BOOL>'").
            let arg = match key.kind {
                KeyKind::Bool => arg
                    .allow_hyphen_values(false)
                    .num_args(0..=1)
                    .default_missing_value("true"),
                _ => arg,
            };
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ConfigKeys {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut map = serde_json::Map::new();
        for (key, _) in keys::all_keys() {
            let v = match key.kind {
                KeyKind::Size | KeyKind::Name | KeyKind::Text => {
                    m.get_one::<String>(key.name).cloned().map(Into::into)
                }
                KeyKind::Seconds | KeyKind::Count => {
                    m.get_one::<u64>(key.name).map(|n| (*n).into())
                }
                KeyKind::Bool => m.get_one::<bool>(key.name).map(|b| (*b).into()),
                KeyKind::Credits | KeyKind::Fraction | KeyKind::Share => {
                    m.get_one::<f64>(key.name).map(|f| (*f).into())
                }
                KeyKind::Json => m.get_one::<serde_json::Value>(key.name).cloned(),
            };
            if let Some(v) = v {
                map.insert(key.name.to_string(), v);
            }
        }
        Ok(ConfigKeys(map))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// An empty `--create-replica` size is said to be a size.
    #[test]
    fn an_empty_temporary_replica_size_is_said_as_a_size() {
        let err = parse_temp_size(" ").err().unwrap_or_default();
        assert!(
            err.contains("give a size, or leave the value out for 25cc"),
            "{err}"
        );
        assert_eq!(parse_temp_size("50cc").as_deref(), Ok("50cc"));
    }

    /// A pause lasts at most a year when given as a duration, as every
    /// duration flag; a time is taken as given.
    #[test]
    fn a_pause_for_more_than_a_year_is_refused() {
        use crate::commands::TimeBound;
        assert!(matches!(parse_pause_until("2h"), Ok(TimeBound::Ago(_))));
        assert!(matches!(parse_pause_until("366d"), Ok(TimeBound::Ago(_))));
        for long in ["2y", "400d", "367d"] {
            let err = parse_pause_until(long).err().unwrap_or_default();
            assert!(err.contains("longer than a year"), "{long}: {err}");
        }
        assert!(matches!(
            parse_pause_until("2030-01-01"),
            Ok(TimeBound::At(_))
        ));
        assert!(
            matches!(parse_time_bound("2y"), Ok(TimeBound::Ago(_))),
            "--since 2y"
        );
    }

    /// `--metrics-addr` takes an IP and port, `localhost:PORT` and
    /// `:PORT` (every interface); nothing it would have to look up.
    #[test]
    fn a_listen_address_takes_localhost_and_a_bare_port() {
        let got = |s: &str| listen_addr(s).map(|a| a.to_string());
        assert_eq!(got("127.0.0.1:9187").as_deref(), Ok("127.0.0.1:9187"));
        assert_eq!(got("[::1]:9187").as_deref(), Ok("[::1]:9187"));
        assert_eq!(got("localhost:9187").as_deref(), Ok("127.0.0.1:9187"));
        assert_eq!(got(":9187").as_deref(), Ok("0.0.0.0:9187"));
        assert!(got("example.com:9187").is_err_and(|e| e.contains("is not IP:PORT")));
        assert!(got(":99999").is_err_and(|e| e.contains("the port must be a number")));
    }

    #[test]
    fn the_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_reason_never_holds_a_password() {
        assert_eq!(
            parse_reason("incident 42: db at postgres://h/db").as_deref(),
            Ok("incident 42: db at postgres://h/db")
        );
        for bad in [
            "incident 42: postgres://u:Secr3t@h/db down",
            "host=h password=Secr3t",
        ] {
            assert!(
                parse_reason(bad).is_err_and(|e| !e.contains("Secr3t")),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_run_id_is_the_whole_uuid_or_its_first_8_characters_or_more() {
        let id = "3F2A9C1E-0b7d-4c1e-9a5f-1d2e3f4a5b6c";
        assert_eq!(
            parse_run_id(id).as_deref(),
            Ok(id.to_ascii_lowercase().as_str())
        );
        assert_eq!(parse_run_id(" 3f2a9c1e ").as_deref(), Ok("3f2a9c1e"));
        let mut longer = id.to_string();
        longer.push('0');
        for bad in [
            "3f2a9c1",
            longer.as_str(),
            "3f2a9c1g",
            "3f2a9c1e%",
            "3f2a_c1e",
        ] {
            assert!(
                parse_run_id(bad).is_err_and(|e| e.contains("is not a run id")),
                "{bad}"
            );
        }
    }

    /// The words of a shell line (single quotes; up to a redirection).
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
        for c in line.chars() {
            match c {
                '\'' => (quoted, any) = (!quoted, true),
                '>' if !quoted => break,
                c if c.is_whitespace() && !quoted => {
                    if any {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                c => {
                    cur.push(c);
                    any = true;
                }
            }
        }
        if any {
            out.push(cur);
        }
        out
    }

    #[test]
    fn every_example_in_the_help_parses() {
        fn walk(c: &clap::Command, seen: &mut usize) {
            let help = c
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let lines = help.lines().flat_map(|l| l.split("&&")).map(str::trim);
            for line in lines.filter(|l| l.starts_with("clusterctl ")) {
                let argv = words(line);
                if let Err(e) = Cli::try_parse_from(&argv) {
                    panic!("{line}: {e}");
                }
                // --cluster takes exact names: a regex there is a mistake.
                let cluster = argv.iter().position(|a| a == "--cluster");
                if let Some(v) = cluster.and_then(|i| argv.get(i + 1)) {
                    assert!(
                        !v.contains(['^', '$', '*', '|']),
                        "{line}: --cluster takes exact names"
                    );
                }
                *seen += 1;
            }
            for sub in c.get_subcommands() {
                walk(sub, seen);
            }
        }
        let mut seen = 0;
        walk(&Cli::command(), &mut seen);
        assert!(seen >= 15, "{seen} examples");
    }

    #[test]
    fn every_config_key_has_a_flag_and_durations_take_units() {
        let cli = Cli::try_parse_from([
            "clusterctl",
            "strategy",
            "set",
            "c",
            "burst",
            "--burst-replica-size",
            "50cc",
            "--linger-s",
            "30m",
            "--max-burst-s",
            "3600",
        ])
        .unwrap();
        let Command::Strategy(StrategyCommand::Set(a)) = cli.command else {
            panic!("not strategy set");
        };
        assert_eq!(
            serde_json::Value::Object(a.keys.0),
            serde_json::json!({"burst_replica_size": "50cc", "linger_s": 1800, "max_burst_s": 3600})
        );
        let set = Cli::command();
        let set = set
            .find_subcommand("strategy")
            .and_then(|s| s.find_subcommand("set"))
            .unwrap();
        for (key, _) in keys::all_keys() {
            assert!(
                set.get_arguments()
                    .any(|a| a.get_long() == Some(key.flag().as_str())),
                "no flag for {}",
                key.name
            );
        }
    }

    /// A switch key alone is `true`, before another flag or at the end;
    /// with a value it is that value.
    #[test]
    fn a_switch_key_given_alone_is_true() {
        let keys = |extra: &[&str]| {
            let mut argv = vec!["clusterctl", "strategy", "set", "c", "idle_suspend"];
            argv.extend_from_slice(extra);
            let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
            let Command::Strategy(StrategyCommand::Set(a)) = cli.command else {
                return Err("not strategy set".to_string());
            };
            Ok(serde_json::Value::Object(a.keys.0))
        };
        use serde_json::json;
        assert_eq!(
            keys(&["--predict", "--prewarm-target", "0.9"]),
            Ok(json!({"predict": true, "prewarm_target": 0.9}))
        );
        assert_eq!(keys(&["--predict"]), Ok(json!({"predict": true})));
        assert_eq!(keys(&["--predict", "false"]), Ok(json!({"predict": false})));
        assert!(keys(&["--predict", "maybe"]).is_err());
        // Before the positional arguments: the switch alone, not the
        // cluster as its value.
        let cli = Cli::parse_argv([
            "clusterctl",
            "strategy",
            "set",
            "--predict",
            "c",
            "idle_suspend",
        ])
        .map_err(|e| e.to_string());
        let Ok(Cli {
            command: Command::Strategy(StrategyCommand::Set(a)),
        }) = cli
        else {
            panic!("{cli:?}")
        };
        assert_eq!(
            (a.cluster_name.as_str(), serde_json::Value::Object(a.keys.0)),
            ("c", json!({"predict": true}))
        );
        // A word meant as a value is refused by name; `--` ends it.
        let yes = Cli::parse_argv([
            "clusterctl",
            "strategy",
            "set",
            "--predict",
            "yes",
            "c",
            "idle_suspend",
        ]);
        assert!(yes.is_err_and(|e| e.to_string().contains("'yes' for '--predict")));
        // A word after the positionals that is no boolean was meant as the
        // value: refused by name, not as a conflict with CONFIG.
        for tail in [&["--idle-after-s", "60"][..], &[]] {
            let mut argv = vec![
                "clusterctl",
                "strategy",
                "set",
                "c",
                "idle_suspend",
                "--predict",
                "maybe",
            ];
            argv.extend_from_slice(tail);
            let maybe = Cli::parse_argv(argv).map(|_| ());
            assert!(
                maybe.as_ref().is_err_and(|e| e
                    .to_string()
                    .contains("invalid value 'maybe' for '--predict")),
                "{tail:?}: {maybe:?}"
            );
        }
        let after = switches_alone(["a", "--", "--predict", "c"].map(Into::into));
        assert_eq!(after, ["a", "--", "--predict", "c"]);
    }

    #[test]
    fn config_conflicts_name_the_key_flags_given_and_no_others() {
        let err = |extra: &[&str]| {
            let mut argv = vec!["clusterctl", "strategy", "set", "x", "idle_suspend"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv) {
                Ok(_) => panic!("{extra:?} parsed"),
                Err(e) => {
                    assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
                    e.to_string()
                }
            }
        };
        let config = ["--config", r#"{"idle_after_s":60}"#];
        let given = |e: &str, flags: &[&str]| {
            for (key, _) in keys::all_keys() {
                let flag = format!("--{} ", key.flag());
                assert_eq!(
                    e.contains(&flag),
                    flags.contains(&flag.trim()),
                    "{flag}: {e}"
                );
            }
        };
        let one = err(&[&config[..], &["--idle-after-s", "2m"]].concat());
        assert!(one.starts_with("error: the argument '--config <JSON>' cannot be used with '--idle-after-s <DURATION>'"), "{one}");
        given(&one, &["--idle-after-s"]);
        let two = err(&[&config[..], &["--idle-after-s", "2m", "--cooldown-s", "60"]].concat());
        given(&two, &["--idle-after-s", "--cooldown-s"]);
        // A key flag before --config: the conflict is said from its side.
        let before = err(&[&["--idle-after-s", "2m"][..], &config[..]].concat());
        assert!(before.starts_with("error: the argument '--idle-after-s <DURATION>' cannot be used with '--config <JSON>'"), "{before}");
        given(&before, &["--idle-after-s"]);
    }

    /// `M` (humantime's month) is refused: `--interval 5M` was five months,
    /// within a year, so taken where minutes were meant. Months in full are
    /// still read, and `m` is a minute.
    #[test]
    fn a_capital_m_is_refused_not_read_as_months() {
        for (bad, meant) in [("5M", "5m"), ("1h5M", "1h5m"), ("2 M", "2 m")] {
            let e = parse_duration(bad).unwrap_err();
            assert!(
                e.contains(&format!(
                    "M is a month in this notation, m a minute: write {meant} for minutes"
                )),
                "{e}"
            );
        }
        assert!(parse_retention("3M").is_err());
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h5m"), Ok(Duration::from_secs(3900)));
        assert!(parse_duration("2months").is_ok());
        assert!(parse_retention("3months").is_ok());
    }

    /// A unit no flag reads is named with the units to write: it listed
    /// humantime's, nanoseconds to months and years.
    #[test]
    fn a_wrong_unit_lists_the_units_to_write() {
        for bad in ["5x", "5 parsecs", "1h5q"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("the units are ms, s, m, h, d, w"), "{e}");
            for theirs in ["months", "years", "ns", "(and few variations)"] {
                assert!(!e.contains(theirs), "{e}");
            }
        }
        let e = parse_duration("5x").unwrap_err();
        assert_eq!(
            e,
            "'5x' is not a duration like 30s, 5m or 1h (unknown unit 'x'; the units are ms, s, m, h, d, w)"
        );
        let e = parse_duration("m5").unwrap_err();
        assert!(e.contains("the units are ms, s, m, h, d, w"), "{e}");
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("300000y")
            .unwrap_err()
            .contains("longer than a year"));
        assert!(parse_duration("soon").is_err());
        // Whole seconds past u64: too large, not "not a duration: a plain
        // number is whole seconds", which it is.
        assert_eq!(
            parse_duration("99999999999999999999999"),
            Err("'99999999999999999999999' is too large a number of seconds".to_string())
        );
        // A plain fraction is told what a plain number is (it said
        // "unknown unit ''").
        assert_eq!(
            parse_duration("1800.5"),
            Err(
                "'1800.5' is not a duration: a plain number is whole seconds (1800); with a unit \
                 it may be a fraction (1.5h)"
                    .to_string()
            )
        );
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        // Said as negative (it said "expected number at 0").
        assert!(parse_duration("-5")
            .unwrap_err()
            .contains("cannot be negative"));
        use crate::commands::TimeBound;
        assert_eq!(
            parse_since("1d").unwrap(),
            TimeBound::Ago(Duration::from_secs(86400))
        );
        let at = |s: &str| match parse_since(s).unwrap() {
            TimeBound::At(t) => t.to_rfc3339(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at("2026-11-22"), "2026-11-22T00:00:00+00:00");
        assert_eq!(at("2026-11-22 10:30"), "2026-11-22T10:30:00+00:00");
        assert_eq!(at("2026-11-22T10:30:00+02:00"), "2026-11-22T08:30:00+00:00");
        assert!(parse_since("yesterday").is_err());
        let month = parse_since("5M").unwrap_err();
        assert!(month.contains("M is a month in this notation"), "{month}");
        assert!(parse_since("2months").is_ok());
        // A duration too long is named as such, not as "neither a duration
        // nor a time".
        // simulate --history: the scenario key's bound, named on the flag.
        assert_eq!(parse_history("120d"), Ok(Duration::from_secs(120 * 86400)));
        assert_eq!(
            parse_history("121d"),
            Err("'121d' is too long (at most 120 days)".to_string())
        );
        // One wording over a year too (it said "longer than a year").
        assert_eq!(
            parse_history("100y"),
            Err("'100y' is too long (at most 120 days)".to_string())
        );
        assert_eq!(
            parse_since("2y").unwrap(),
            TimeBound::Ago(Duration::from_secs(2 * 31_557_600))
        );
        assert!(parse_since("100y").is_ok());
        // Past what a number holds: too long, not "neither a duration nor
        // a time".
        for huge in ["99999999999999999999999s", "99999999999999999999999"] {
            let e = parse_since(huge).unwrap_err();
            assert!(e.contains("is more than 100 years"), "{e}");
            let e = parse_duration(huge).unwrap_err();
            assert!(e.contains("too large"), "{e}");
        }
        let long = parse_since("99999y").unwrap_err();
        assert!(
            long.contains("more than 100 years") && !long.contains("neither"),
            "{long}"
        );
        // Periods and deadlines are at least a second, said, not raised.
        assert_eq!(parse_period("1s"), Ok(Duration::from_secs(1)));
        for zero in ["0s", "0", "500ms"] {
            let e = parse_period(zero).unwrap_err();
            assert!(e.contains("shorter than a second"), "{zero}: {e}");
        }
        use clap::Parser as _;
        for argv in [
            &["clusterctl", "apply", "--interval", "0s"][..],
            &["clusterctl", "dry-run", "--statement-timeout", "0s"],
            &["clusterctl", "dry-run", "--connect-timeout", "0"],
            &["clusterctl", "apply", "--lease-ttl", "0s"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
        // Times the database cannot hold are refused here (exit 64), in
        // every form a time is given.
        assert_eq!(at("0001-01-01"), "0001-01-01T00:00:00+00:00");
        assert_eq!(at("9999-12-31T23:59:59Z"), "9999-12-31T23:59:59+00:00");
        for t in [
            "0000-01-01",
            "+10000-01-01",
            "9999-12-31T23:00:00-12:00",
            "-0001-01-01",
            "0000-06-01 10:00",
        ] {
            let e = parse_since(t).unwrap_err();
            assert!(e.contains("outside the years 1 to 9999"), "{t}: {e}");
        }
    }
}
