//! Command-line definitions and dispatch of the operator commands: `strategy`,
//! `status`, `check`, `history`, `init`, `completions`, `man`. Like `cli`,
//! it only turns arguments into plain values and calls one function in
//! `admin` or `inspect`; the exit code follows the table in `cli::exit`.

use std::io::Write as _;
use std::time::Duration;

use clap::{Args, CommandFactory, Subcommand};

use crate::cli::{common_options, exit, Cli, DbArgs, VerbosityArgs};
use crate::ops::{self, CommonOptions, Completion, Output};

// Parsed once per process: the size difference of the variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Configure strategies: set, rm, ls, pause, resume
    #[command(
        subcommand,
        after_help = "Examples:\n  clusterctl strategy set analytics target_size --target-size 100cc\n  clusterctl strategy ls\n  clusterctl strategy pause analytics --reason 'incident 42'"
    )]
    Strategy(StrategyCommand),
    /// One row per cluster: replicas, what the controller wants, activity, last action, condition
    #[command(
        after_help = "Conditions: Paused, Invalid, NotManageable, CrashLooping, Bursting, Resizing,\nSuspended, Hydrating, SignalUnknown, Converged (Unconfigured with --all).\n\nExample:\n  clusterctl status --cluster '^analytics' --output json"
    )]
    Status(StatusArgs),
    /// Validate every strategy row against the live environment (changes nothing)
    #[command(
        after_help = "Exit codes: 0 every row is valid; 3 problems found; 1 error.\n\nExample:\n  clusterctl check && clusterctl apply"
    )]
    Check(CheckArgs),
    /// The audit trail of actions, newest first, with their reasons
    #[command(
        after_help = "Example:\n  clusterctl history --cluster analytics --since 2h --failed"
    )]
    History(HistoryArgs),
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
    /// Print the manual page (roff)
    #[command(after_help = "Example:\n  clusterctl man > clusterctl.1 && man ./clusterctl.1")]
    Man(ManArgs),
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum StrategyCommand {
    /// Set a cluster's strategy of one type, replacing any previous config of that type
    #[command(
        after_help = "The config is validated against the live replica sizes before anything is\nwritten; a bad one is refused with the reason.\n\nExamples:\n  clusterctl strategy set analytics target_size --target-size 100cc\n  clusterctl strategy set u7 idle_suspend --config '{\"idle_after_s\": 1800}'"
    )]
    Set(StrategySetArgs),
    /// Remove a cluster's strategies (all of them, or one type)
    #[command(
        after_help = "Examples:\n  clusterctl strategy rm analytics burst\n  clusterctl strategy rm u42"
    )]
    Rm(StrategyRmArgs),
    /// List the strategies in effect (the newest row per cluster and type)
    #[command(after_help = "Example:\n  clusterctl strategy ls --cluster '^analytics'")]
    Ls(DbArgs),
    /// Make the controller leave a cluster alone (said so in every plan)
    #[command(
        after_help = "Example:\n  clusterctl strategy pause analytics --reason 'incident 42'"
    )]
    Pause(StrategyPauseArgs),
    /// Undo `strategy pause`
    #[command(after_help = "Example:\n  clusterctl strategy resume analytics")]
    Resume(StrategyTargetArgs),
}

/// Config keys as flags; `--config JSON` gives the whole object instead.
#[derive(Debug, Args, Default)]
#[group(id = "keys", multiple = true)]
pub struct ConfigKeys {
    /// target_size: the size to keep
    #[arg(long, value_name = "SIZE", alias = "target_size")]
    pub target_size: Option<String>,
    /// target_size: the replica's name (default r_<size>)
    #[arg(long, value_name = "NAME", alias = "replica_name")]
    pub replica_name: Option<String>,
    /// shrink_to_fit: the largest size to try
    #[arg(long, value_name = "SIZE", alias = "max_replica_size")]
    pub max_replica_size: Option<String>,
    /// shrink_to_fit: OOMs before a size is given up (default 1)
    #[arg(long, value_name = "N", alias = "min_oom_count")]
    pub min_oom_count: Option<u64>,
    /// shrink_to_fit: crashes before a size is given up (default 1)
    #[arg(long, value_name = "N", alias = "min_crash_count")]
    pub min_crash_count: Option<u64>,
    /// burst: the size of the burst replica
    #[arg(long, value_name = "SIZE", alias = "burst_replica_size")]
    pub burst_replica_size: Option<String>,
    /// idle_suspend: seconds without a statement before suspending
    #[arg(long, value_name = "SECONDS", alias = "idle_after_s")]
    pub idle_after_s: Option<u64>,
    /// idle_suspend: suspend even when the statement log has no data
    #[arg(long, value_name = "BOOL", alias = "suspend_when_unknown")]
    pub suspend_when_unknown: Option<bool>,
    /// limits: at most this many replicas
    #[arg(long, value_name = "N", alias = "max_replicas")]
    pub max_replicas: Option<u64>,
    /// limits: at most this many credits per hour across the cluster's replicas
    #[arg(long, value_name = "CREDITS", alias = "max_credits_per_hour")]
    pub max_credits_per_hour: Option<f64>,
    /// shrink_to_fit, burst, idle_suspend: minimum seconds between changes
    #[arg(long, value_name = "SECONDS", alias = "cooldown_s")]
    pub cooldown_s: Option<u64>,
}

impl ConfigKeys {
    fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("target_size", self.target_size.clone().map(Value::from));
        put("replica_name", self.replica_name.clone().map(Value::from));
        put(
            "max_replica_size",
            self.max_replica_size.clone().map(Value::from),
        );
        put("min_oom_count", self.min_oom_count.map(Value::from));
        put("min_crash_count", self.min_crash_count.map(Value::from));
        put(
            "burst_replica_size",
            self.burst_replica_size.clone().map(Value::from),
        );
        put("idle_after_s", self.idle_after_s.map(Value::from));
        put(
            "suspend_when_unknown",
            self.suspend_when_unknown.map(Value::from),
        );
        put("max_replicas", self.max_replicas.map(Value::from));
        put(
            "max_credits_per_hour",
            self.max_credits_per_hour.map(Value::from),
        );
        put("cooldown_s", self.cooldown_s.map(Value::from));
        m
    }
}

#[derive(Debug, Args)]
pub struct StrategySetArgs {
    /// Cluster name or id (u7)
    pub cluster_name: String,
    /// Strategy type: target_size, shrink_to_fit, burst, idle_suspend, limits
    pub strategy_type: String,
    /// The whole config as a JSON object (instead of the key flags)
    #[arg(long, value_name = "JSON", conflicts_with = "keys")]
    pub config: Option<String>,
    #[command(flatten)]
    pub keys: ConfigKeys,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct StrategyRmArgs {
    /// Cluster name or id (an id only strategy rows mention is accepted too)
    pub cluster_name: String,
    /// Only this strategy type
    pub strategy_type: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct StrategyPauseArgs {
    /// Cluster name or id
    pub cluster_name: String,
    /// Why, for whoever reads the plan next
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct StrategyTargetArgs {
    /// Cluster name or id
    pub cluster_name: String,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Every user cluster, not only those with strategies
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only actions newer than this (30s, 15m, 2h, 1d)
    #[arg(long, value_name = "DURATION", value_parser = crate::admin::parse_since)]
    pub since: Option<Duration>,
    /// Only actions that failed (or whose outcome was never recorded)
    #[arg(long)]
    pub failed: bool,
    /// At most this many actions
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
    #[command(flatten)]
    pub db: DbArgs,
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
        requires = "print"
    )]
    pub role: String,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    #[command(flatten)]
    pub verbosity: VerbosityArgs,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    #[command(flatten)]
    pub verbosity: VerbosityArgs,
}

impl OpsCommand {
    pub fn verbosity(&self) -> &VerbosityArgs {
        match self {
            OpsCommand::Completions(a) => &a.verbosity,
            OpsCommand::Man(a) => &a.verbosity,
            OpsCommand::Strategy(s) => match s {
                StrategyCommand::Set(a) => &a.db.verbosity,
                StrategyCommand::Rm(a) => &a.db.verbosity,
                StrategyCommand::Ls(a) => &a.verbosity,
                StrategyCommand::Pause(a) => &a.db.verbosity,
                StrategyCommand::Resume(a) => &a.db.verbosity,
            },
            OpsCommand::Status(a) => &a.db.verbosity,
            OpsCommand::Check(a) => &a.db.verbosity,
            OpsCommand::History(a) => &a.db.verbosity,
            OpsCommand::Init(a) => &a.db.verbosity,
        }
    }
}

/// Runs an operator command; returns the exit code.
pub fn run(cmd: OpsCommand) -> u8 {
    match cmd {
        OpsCommand::Completions(a) => {
            let mut c = Cli::command();
            clap_complete::generate(a.shell, &mut c, "clusterctl", &mut std::io::stdout());
            exit::OK
        }
        OpsCommand::Man(_) => man(),
        OpsCommand::Init(a) if a.print => {
            let store = crate::store::Store::new(a.db.schema.clone());
            print!(
                "{}",
                crate::admin::init_sql(&store, a.db.schema.as_deref(), &a.role)
            );
            exit::OK
        }
        OpsCommand::Init(a) => with_db(&a.db, false, |ctx| Box::pin(crate::admin::init(ctx))),
        OpsCommand::Status(a) => {
            let all = a.all;
            with_db(&a.db, true, move |ctx| {
                Box::pin(crate::inspect::status(ctx, all))
            })
        }
        OpsCommand::Check(a) => with_db(&a.db, true, |ctx| Box::pin(crate::inspect::check(ctx))),
        OpsCommand::History(a) => {
            let opts = crate::admin::HistoryOptions {
                since: a.since,
                failed: a.failed,
                limit: a.limit,
            };
            with_db(&a.db, true, move |ctx| {
                Box::pin(async move { crate::admin::history(ctx, &opts).await })
            })
        }
        OpsCommand::Strategy(s) => strategy(s),
    }
}

fn strategy(cmd: StrategyCommand) -> u8 {
    match cmd {
        StrategyCommand::Ls(db) => {
            with_db(&db, true, |ctx| Box::pin(crate::admin::strategy_ls(ctx)))
        }
        StrategyCommand::Set(a) => {
            let config = match set_config(&a) {
                Ok(c) => c,
                Err(msg) => return fail(&msg, exit::USAGE),
            };
            let (cluster, ty) = (a.cluster_name.clone(), a.strategy_type.clone());
            with_db(&a.db, false, move |ctx| {
                Box::pin(
                    async move { crate::admin::strategy_set(ctx, &cluster, &ty, &config).await },
                )
            })
        }
        StrategyCommand::Rm(a) => {
            let (cluster, ty) = (a.cluster_name.clone(), a.strategy_type.clone());
            with_db(&a.db, false, move |ctx| {
                Box::pin(async move {
                    crate::admin::strategy_rm(ctx, &cluster, ty.as_deref(), "strategy rm").await
                })
            })
        }
        StrategyCommand::Pause(a) => {
            let (cluster, reason) = (a.cluster_name.clone(), a.reason.clone());
            with_db(&a.db, false, move |ctx| {
                Box::pin(async move {
                    crate::admin::strategy_pause(ctx, &cluster, reason.as_deref()).await
                })
            })
        }
        StrategyCommand::Resume(a) => {
            let cluster = a.cluster_name.clone();
            with_db(&a.db, false, move |ctx| {
                Box::pin(async move {
                    crate::admin::strategy_rm(
                        ctx,
                        &cluster,
                        Some(crate::plan::PAUSE),
                        "strategy resume",
                    )
                    .await
                })
            })
        }
    }
}

/// The config of `strategy set`: `--config JSON`, or the key flags.
fn set_config(a: &StrategySetArgs) -> Result<serde_json::Value, String> {
    match &a.config {
        Some(text) => {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| format!("--config: not valid JSON ({e})"))?;
            if !v.is_object() {
                return Err(
                    "--config: must be a JSON object, like '{\"target_size\": \"100cc\"}'".into(),
                );
            }
            Ok(v)
        }
        None => {
            let m = a.keys.to_json();
            if m.is_empty() {
                let keys = crate::inspect::known_keys(&a.strategy_type);
                let flags: Vec<String> = keys
                    .iter()
                    .map(|k| format!("--{}", k.replace('_', "-")))
                    .collect();
                return Err(format!(
                    "give the config with --config JSON or key flags{}",
                    if flags.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} takes {})", a.strategy_type, flags.join(", "))
                    }
                ));
            }
            Ok(serde_json::Value::Object(m))
        }
    }
}

type OpFuture<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<(Output, Completion), crate::exec::ExecError>> + 'a,
    >,
>;

/// Connects, runs `op`, prints, maps the completion to an exit code.
/// `filter`: whether `--cluster REGEX` means something for this command.
fn with_db<F>(db: &DbArgs, filter: bool, op: F) -> u8
where
    F: for<'a> FnOnce(&'a ops::Context) -> OpFuture<'a>,
{
    if !filter && db.cluster.is_some() {
        return fail(
            "--cluster is not used by this command: name the cluster as an argument",
            exit::USAGE,
        );
    }
    let common: CommonOptions = match common_options(db) {
        Ok(c) => c,
        Err(msg) => return fail(&msg, exit::USAGE),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}"), exit::ERROR),
    };
    let result = runtime.block_on(async {
        let ctx = ops::Context::new(common)?;
        op(&ctx).await
    });
    match result {
        Ok((out, completion)) => {
            for line in &out.stderr {
                eprintln!("{line}");
            }
            print!("{}", out.stdout);
            match completion {
                Completion::WithProblems => exit::PROBLEMS,
                _ => exit::OK,
            }
        }
        Err(e) => fail(&e.to_string(), exit::ERROR),
    }
}

fn man() -> u8 {
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut buf) {
        return fail(&format!("rendering the manual page: {e}"), exit::ERROR);
    }
    if let Err(e) = std::io::stdout().write_all(&buf) {
        return fail(&format!("writing the manual page: {e}"), exit::ERROR);
    }
    exit::OK
}

fn fail(msg: &str, code: u8) -> u8 {
    eprintln!("error: {msg}");
    code
}
