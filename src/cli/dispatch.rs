//! The one dispatcher: arguments → option structs → command → view →
//! stdout/stderr and an exit code. Every command goes through [`show`] (the
//! result) or [`fail`] (the error), so printing and exit codes are decided
//! in one place.

use std::io::Write as _;
use std::time::Duration;

use clap::CommandFactory;
use regex::Regex;

use super::args::{
    ApplyArgs, Cli, Command, ConnArgs, DryRunArgs, LeaseArgs, OutputFormat, SelectArgs, SizesArgs,
    StrategyCommand, StrategySetArgs,
};
use super::exit;
use crate::commands::reconcile::{self, ApplyOptions, Shutdown, WatchOptions};
use crate::commands::{
    admin, check, history, init, session, status, strategy, CommandError, Completion, Context,
    DbOptions, LeaseOptions, Leased,
};
use crate::db::live::RetryPolicy;
use crate::plan::PlanOptions;
use crate::render::{self, table, TextStyle, Verbosity, View};

/// How to print.
struct Ui {
    json: bool,
    style: TextStyle,
    /// `dry-run --detailed-exitcode`.
    detailed: bool,
}

pub fn run(cli: Cli) -> u8 {
    let out = cli.command.output();
    let ui = Ui {
        json: out.output == OutputFormat::Json,
        style: TextStyle {
            verbosity: match (out.quiet, out.verbose) {
                (true, _) => Verbosity::Quiet,
                (_, 0) => Verbosity::Normal,
                _ => Verbosity::Verbose,
            },
            table: table_style(),
        },
        detailed: matches!(&cli.command, Command::DryRun(a) if a.detailed_exitcode),
    };
    match cli.command {
        Command::Completions(a) => {
            let mut c = Cli::command();
            clap_complete::generate(a.shell, &mut c, "clusterctl", &mut std::io::stdout());
            exit::OK
        }
        Command::Man(_) => man(),
        Command::Simulate(a) => {
            let args = crate::sim::SimArgs {
                scenario: a.scenario,
                seed: a.seed,
                json: ui.json,
                timeline: a.timeline,
                plot: a.plot,
            };
            match crate::sim::run_cli(&args) {
                Ok(text) => {
                    print!("{text}");
                    exit::OK
                }
                Err(e) => fail_with(&e.to_string(), exit::ERROR),
            }
        }
        Command::Init(a) if a.print => finish(&init::print(a.conn.schema.as_deref(), &a.role), &ui),
        Command::Init(a) => connected(&a.conn, None, &ui, async |ctx| init::init(ctx).await),
        Command::DryRun(a) => dry_run(a, &ui),
        Command::Apply(a) => apply(a, &ui),
        Command::WipeState(a) => {
            let (filter, lease) = match (filter(&a.select), lease(&a.lease)) {
                (Ok(f), l) => (f, l),
                (Err(e), _) => return fail(&e, &ui),
            };
            connected(&a.conn, None, &ui, async |ctx| {
                admin::wipe_state(ctx, filter.as_ref(), &lease).await
            })
        }
        Command::Unlock(a) => connected(&a.conn, None, &ui, async |ctx| admin::unlock(ctx).await),
        Command::Status(a) => {
            let filter = match filter(&a.select) {
                Ok(f) => f,
                Err(e) => return fail(&e, &ui),
            };
            connected(&a.conn, Some(&a.sizes), &ui, async |ctx| {
                status::status(ctx, filter.as_ref(), a.all).await
            })
        }
        Command::Check(a) => {
            let filter = match filter(&a.select) {
                Ok(f) => f,
                Err(e) => return fail(&e, &ui),
            };
            connected(&a.conn, Some(&a.sizes), &ui, async |ctx| {
                check::check(ctx, filter.as_ref()).await
            })
        }
        Command::History(a) => {
            let opts = match filter(&a.select) {
                Ok(filter) => history::HistoryOptions {
                    filter,
                    since: a.since,
                    failed: a.failed,
                    limit: a.limit,
                },
                Err(e) => return fail(&e, &ui),
            };
            connected(&a.conn, None, &ui, async |ctx| {
                history::history(ctx, &opts).await
            })
        }
        Command::Strategy(s) => strategy_command(s, &ui),
        Command::Doctor(a) => doctor(a, &ui),
    }
}

/// `doctor` reports a session cluster that cannot serve instead of failing
/// on it, so it connects without the session check.
fn doctor(a: super::args::DoctorArgs, ui: &Ui) -> u8 {
    let result = db_options(&a.conn, Some(&a.sizes)).and_then(|db| {
        let rt = runtime()?;
        rt.block_on(async {
            let ctx = Context::new(db)?;
            crate::commands::doctor::doctor(&ctx).await
        })
    });
    match result {
        Ok(view) => finish(&view, ui),
        Err(e) => fail(&e, ui),
    }
}

fn strategy_command(cmd: StrategyCommand, ui: &Ui) -> u8 {
    match cmd {
        StrategyCommand::Set(a) => {
            let config = match set_config(&a) {
                Ok(c) => c,
                Err(e) => return fail(&e, ui),
            };
            connected(&a.conn, Some(&a.sizes), ui, async |ctx| {
                strategy::set(ctx, &a.cluster_name, &a.strategy_type, &config).await
            })
        }
        StrategyCommand::Rm(a) => connected(&a.conn, Some(&a.sizes), ui, async |ctx| {
            strategy::remove(
                ctx,
                &a.cluster_name,
                a.strategy_type.as_deref(),
                "strategy rm",
            )
            .await
        }),
        StrategyCommand::Ls(a) => {
            let filter = match filter(&a.select) {
                Ok(f) => f,
                Err(e) => return fail(&e, ui),
            };
            connected(&a.conn, None, ui, async |ctx| {
                strategy::ls(ctx, filter.as_ref()).await
            })
        }
        StrategyCommand::Pause(a) => connected(&a.conn, None, ui, async |ctx| {
            strategy::pause(ctx, &a.cluster_name, a.reason.as_deref()).await
        }),
        StrategyCommand::Resume(a) => connected(&a.conn, None, ui, async |ctx| {
            strategy::remove(
                ctx,
                &a.cluster_name,
                Some(crate::model::PAUSE),
                "strategy resume",
            )
            .await
        }),
    }
}

fn dry_run(a: DryRunArgs, ui: &Ui) -> u8 {
    let opts = match plan_options(&a.select, a.plan.resize_timeout) {
        Ok(o) => o,
        Err(e) => return fail(&e, ui),
    };
    connected(&a.conn, Some(&a.sizes), ui, async |ctx| {
        reconcile::dry_run(ctx, &opts).await
    })
}

fn apply(a: ApplyArgs, ui: &Ui) -> u8 {
    let opts = match plan_options(&a.select, a.plan.resize_timeout) {
        Ok(plan) => ApplyOptions {
            plan,
            lease: lease(&a.lease),
            max_actions: a.max_actions,
        },
        Err(e) => return fail(&e, ui),
    };
    let db = match db_options(&a.conn, Some(&a.sizes)) {
        Ok(db) => db,
        Err(e) => return fail(&e, ui),
    };
    let watch = WatchOptions {
        interval: a.interval.max(Duration::from_secs(1)),
        metrics_addr: a.metrics_addr,
        metrics_file: a.metrics_file,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&e, ui),
    };
    let result: Result<Option<u8>, CommandError> = rt.block_on(async {
        let mut ctx = Context::new(db)?;
        let shutdown = Shutdown::install()?;
        // Before anything else: can the session cluster serve our tables? A
        // database that cannot be reached is the run's failure to report
        // (metrics, `--watch` retrying), not a configuration error.
        let session = match session::prepare(&mut ctx).await {
            Ok(s) => s,
            Err(e @ CommandError::SessionCluster(_)) => return Err(e),
            Err(e) => {
                tracing::debug!("session cluster not checked: {e}");
                None
            }
        };
        let ctx = ctx;
        let run = async {
            if a.watch {
                let mut last_problems = Vec::new();
                reconcile::watch(&ctx, &opts, &watch, &shutdown, |run| {
                    show_watch_run(run.result, ui, &mut last_problems)
                })
                .await
                .map(|()| exit::OK)
            } else {
                let metrics_file = watch.metrics_file.as_deref();
                reconcile::apply(&ctx, &opts, metrics_file, &shutdown)
                    .await
                    .map(|run| finish(&run, ui))
            }
        };
        let code = tokio::select! {
            code = run => code.map(Some),
            // The temporary replica stays: the next apply drops it.
            _ = shutdown.forced() => return Ok(None),
        };
        for w in session::finish(&ctx, session, true).await {
            tracing::warn!("{w}");
        }
        code
    });
    match result {
        Ok(Some(code)) => code,
        Ok(None) => fail_with(
            "second signal: exiting now (the lease expires by itself; the next run settles an interrupted action)",
            exit::ERROR,
        ),
        Err(e) => fail(&e, ui),
    }
}

/// What a run of `--watch` shows: its output only when it did something (an
/// idle fleet stays quiet), its problems only when they changed.
fn show_watch_run(
    result: &Result<Leased<reconcile::Applied>, CommandError>,
    ui: &Ui,
    last_problems: &mut Vec<String>,
) {
    let Ok(Leased::Ran(applied)) = result else {
        return;
    };
    let messages = applied.messages();
    if !ui.json && messages != *last_problems {
        for line in &messages {
            eprintln!("{line}");
        }
        last_problems.clone_from(&messages);
    }
    if !applied.report.results.is_empty() {
        print_view(applied, ui);
    }
}

/// Connects, runs `op`, renders what it returns; the exit code.
fn connected<V, F>(conn: &ConnArgs, sizes: Option<&SizesArgs>, ui: &Ui, op: F) -> u8
where
    V: View,
    F: AsyncFnOnce(&Context) -> Result<V, CommandError>,
{
    let result = db_options(conn, sizes).and_then(|db| {
        let rt = runtime()?;
        rt.block_on(async {
            let mut ctx = Context::new(db)?;
            // Before anything else: can the session cluster serve our tables?
            let session = session::prepare(&mut ctx).await?;
            let result = op(&ctx).await;
            for w in session::finish(&ctx, session, false).await {
                tracing::warn!("{w}");
            }
            result
        })
    });
    match result {
        Ok(view) => finish(&view, ui),
        Err(e) => fail(&e, ui),
    }
}

/// A terminal gets boxed tables, and colour unless `NO_COLOR` is set
/// (<https://no-color.org>); anything else plain aligned text.
fn table_style() -> table::Style {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    table::Style {
        tty,
        color: tty && !no_color,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Io(format!("cannot start the async runtime: {e}")))
}

fn print_view(view: &dyn View, ui: &Ui) {
    if ui.json {
        print!("{}", render::json_document(view));
    } else {
        print!("{}", view.text(&ui.style));
    }
}

/// Prints a command's result; its exit code.
fn finish(view: &dyn View, ui: &Ui) -> u8 {
    if !ui.json {
        for line in view.messages() {
            eprintln!("{line}");
        }
    }
    print_view(view, ui);
    match view.completion() {
        Completion::Clean => exit::OK,
        Completion::WithProblems => exit::PROBLEMS,
        Completion::ChangesPending if ui.detailed => exit::CHANGES,
        Completion::ChangesPending => exit::OK,
    }
}

/// Prints a command's error; its exit code.
fn fail(e: &CommandError, _ui: &Ui) -> u8 {
    let code = match e {
        CommandError::Usage(_) => exit::USAGE,
        _ => exit::ERROR,
    };
    fail_with(&e.to_string(), code)
}

fn fail_with(msg: &str, code: u8) -> u8 {
    eprintln!("error: {msg}");
    code
}

fn man() -> u8 {
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut buf) {
        return fail_with(&format!("rendering the manual page: {e}"), exit::ERROR);
    }
    if let Err(e) = std::io::stdout().write_all(&buf) {
        return fail_with(&format!("writing the manual page: {e}"), exit::ERROR);
    }
    exit::OK
}

/// Regex errors span several lines; keep one.
pub(super) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn filter(a: &SelectArgs) -> Result<Option<Regex>, CommandError> {
    a.cluster
        .as_ref()
        .map(|re| {
            Regex::new(re).map_err(|e| {
                CommandError::Usage(format!(
                    "--cluster: invalid regular expression '{re}': {}",
                    one_line(&e.to_string())
                ))
            })
        })
        .transpose()
}

fn plan_options(
    select: &SelectArgs,
    resize_timeout: Duration,
) -> Result<PlanOptions, CommandError> {
    Ok(PlanOptions {
        cluster_filter: filter(select)?,
        resize_timeout: resize_timeout.max(Duration::from_secs(1)),
    })
}

fn lease(a: &LeaseArgs) -> LeaseOptions {
    LeaseOptions {
        ttl: a.lease_ttl.max(Duration::from_secs(10)),
        wait: a.wait,
    }
}

fn db_options(a: &ConnArgs, sizes: Option<&SizesArgs>) -> Result<DbOptions, CommandError> {
    let replica_sizes = sizes.and_then(|s| s.replica_sizes.as_ref());
    if replica_sizes.is_some_and(|sizes| sizes.iter().any(|s| s.trim().is_empty())) {
        return Err(CommandError::Usage(
            "--replica-sizes: empty size name in the list".into(),
        ));
    }
    Ok(DbOptions {
        url: a
            .postgres_url
            .clone()
            .filter(|u| !u.expose().trim().is_empty()),
        replica_sizes: replica_sizes.map(|v| v.iter().map(|s| s.trim().to_string()).collect()),
        schema: a.schema.clone(),
        exec_cluster: a.exec_cluster.clone(),
        create_replica: a
            .create_replica
            .as_deref()
            .map(|s| crate::model::Size(s.trim().to_string())),
        connect_timeout: Duration::from_secs(a.connect_timeout.max(1)),
        statement_timeout: a.statement_timeout.max(Duration::from_secs(1)),
        retry: RetryPolicy {
            max_retries: a.max_retries,
            ..Default::default()
        },
    })
}

/// The config of `strategy set`: `--config JSON`, or the key flags.
fn set_config(a: &StrategySetArgs) -> Result<serde_json::Value, CommandError> {
    let usage = |m: String| CommandError::Usage(m);
    match &a.config {
        Some(text) => {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| usage(format!("--config: not valid JSON ({e})")))?;
            if !v.is_object() {
                return Err(usage(
                    "--config: must be a JSON object, like '{\"target_size\": \"100cc\"}'".into(),
                ));
            }
            Ok(v)
        }
        None if a.keys.0.is_empty() => {
            let flags: Vec<String> = crate::strategy::StrategyKind::parse(&a.strategy_type)
                .map(|k| {
                    k.keys()
                        .iter()
                        .map(|key| format!("--{}", key.flag()))
                        .collect()
                })
                .unwrap_or_default();
            Err(usage(format!(
                "give the config with --config JSON or key flags{}",
                if flags.is_empty() {
                    String::new()
                } else {
                    format!(" ({} takes {})", a.strategy_type, flags.join(", "))
                }
            )))
        }
        None => Ok(serde_json::Value::Object(a.keys.0.clone())),
    }
}
