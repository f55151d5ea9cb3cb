//! The one dispatcher: arguments → option structs → command → view →
//! stdout/stderr and an exit code. Every command goes through [`finish`]
//! (the result) or [`fail`] (the error), so printing, the JSON envelope and
//! exit codes are decided in one place. `apply` streams its progress from
//! here (the executor only reports events).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use clap::CommandFactory;
use regex::Regex;

use super::args::{
    ApplyArgs, Cli, Command, ConnArgs, DryRunArgs, LeaseArgs, LogFormat, OutputFormat, PlanArgs,
    SelectArgs, SimulateArgs, SizesArgs, StatusArgs, StrategyCommand, StrategySetArgs,
    WipeStateArgs,
};
use super::exit;
use crate::commands::reconcile::{self, ApplyOptions, Shutdown, WatchOptions};
use crate::commands::{
    admin, check, describe, history, init, session, status, strategy, CommandError, Completion,
    Context, DbOptions, LeaseOptions, Leased,
};
use crate::db::live::RetryPolicy;
use crate::exec::{Observer, Progress};
use crate::plan::{PlanOptions, Selection};
use crate::render::{self, table, TextStyle, Verbosity, View};

/// How to print.
#[derive(Clone, Copy)]
struct Ui {
    /// The command's name in the JSON envelope.
    command: &'static str,
    json: bool,
    style: TextStyle,
    /// `dry-run --detailed-exitcode`.
    detailed: bool,
    /// `--log-format json`: the final error line on stderr is JSON too.
    log_json: bool,
    /// `--watch`: JSON documents one per line (JSON Lines).
    stream: bool,
    /// What the command does to our tables (for a newer schema).
    tables: Tables,
}

/// What a command does to clusterctl's tables, which decides what a schema
/// a newer clusterctl migrated means for it ([`crate::db::migrate::newer_schema`]).
#[derive(Clone, Copy, PartialEq)]
enum Tables {
    /// Reads them: answers, and says it once as a warning (from what its
    /// snapshot read, [`read_warning`]).
    Read,
    /// Writes to them: refused before any write.
    Write,
    /// Checks for itself: `apply` and `init` when they read the migrations
    /// (no statement more), `doctor` as a finding. Not checked: the
    /// commands that connect to no database (`simulate` of a scenario).
    Own,
}

impl Tables {
    fn of(command: &Command) -> Tables {
        match command {
            Command::WipeState(_) | Command::Unlock(_) => Tables::Write,
            Command::Strategy(StrategyCommand::Ls(_)) => Tables::Read,
            Command::Strategy(_) => Tables::Write,
            Command::DryRun(_)
            | Command::Status(_)
            | Command::Describe(_)
            | Command::Check(_)
            | Command::History(_) => Tables::Read,
            // Reads the strategies and the audit trail.
            Command::Simulate(a) if a.from_history => Tables::Read,
            Command::Apply(_)
            | Command::Init(_)
            | Command::Doctor(_)
            | Command::Simulate(_)
            | Command::Completions(_)
            | Command::Man(_) => Tables::Own,
        }
    }
}

pub fn run(cli: Cli) -> u8 {
    let out = cli.command.output();
    let table = table_style();
    let ui = Ui {
        command: cli.command.name(),
        json: out.output == OutputFormat::Json,
        style: TextStyle {
            verbosity: match (out.quiet, out.verbose) {
                (true, _) => Verbosity::Quiet,
                (_, 0) => Verbosity::Normal,
                _ => Verbosity::Verbose,
            },
            table,
            wide: out.output == OutputFormat::Wide,
            streamed: false,
        },
        detailed: matches!(&cli.command, Command::DryRun(a) if a.detailed_exitcode),
        log_json: out.log_format == LogFormat::Json,
        stream: matches!(&cli.command, Command::Apply(a) if a.watch)
            || matches!(&cli.command, Command::Status(a) if a.watch),
        tables: Tables::of(&cli.command),
    };
    match cli.command {
        Command::Completions(_) | Command::Man(_) if ui.json => {
            let e = CommandError::Usage(
                "completions and man write a shell script or a manual page: --output json does not apply".into(),
            );
            fail(&e, &ui)
        }
        Command::Completions(a) => {
            let mut c = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut c, "clusterctl", &mut script);
            match emit(&script) {
                Ok(()) => exit::OK,
                Err(o) => output_failed(o, &ui),
            }
        }
        Command::Man(a) => man(a.out_dir.as_deref(), &ui),
        Command::Simulate(a) if a.from_history => {
            use crate::commands::backtest::{BacktestOptions, Out};
            // Before connecting: nothing read, no temporary replica made.
            let out = match a.out_file.clone().map(Out::check).transpose() {
                Ok(out) => out,
                Err(e) => return fail(&e, &ui),
            };
            let sim = sim_args(&a, &ui);
            if let Err(e) = crate::sim::check_alternatives(&sim) {
                return fail(&sim_error(e), &ui);
            }
            let opts = BacktestOptions {
                days: a.days.unwrap_or(28),
                cluster: a.cluster.clone(),
                out,
                sim,
            };
            connected(&a.conn, None, &ui, async |ctx| {
                crate::commands::backtest::backtest(ctx, &opts).await
            })
        }
        Command::Simulate(a) => {
            let args = sim_args(&a, &ui);
            match crate::sim::run_cli(&args) {
                Ok((text, notes)) if ui.json => {
                    let mut v: serde_json::Value =
                        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                    // The envelope says the version once.
                    if let Some(o) = v.as_object_mut() {
                        o.remove("format_version");
                        if !notes.is_empty() {
                            o.insert("notes".into(), notes.into());
                        }
                    }
                    finish(&render::Raw(v, String::new(), Vec::new()), &ui)
                }
                Ok((text, notes)) => {
                    let notes = notes.iter().map(|n| format!("note: {n}")).collect();
                    finish(&render::Raw(serde_json::Value::Null, text, notes), &ui)
                }
                Err(e) => fail(&sim_error(e), &ui),
            }
        }
        Command::Init(a) if a.print => finish(&init::print(a.conn.schema.as_deref(), &a.role), &ui),
        Command::Init(a) => connected(&a.conn, None, &ui, async |ctx| init::init(ctx).await),
        Command::DryRun(a) => dry_run(a, &ui),
        Command::Apply(a) => apply(a, &ui),
        Command::WipeState(a) => wipe_state(a, &ui),
        Command::Unlock(a) => connected(&a.conn, None, &ui, async |ctx| admin::unlock(ctx).await),
        Command::Status(a) => status_command(a, &ui),
        Command::Describe(a) => connected(&a.conn, Some(&a.sizes), &ui, async |ctx| {
            describe::describe(ctx, &a.cluster_name, a.history).await
        }),
        Command::Check(a) => {
            let sel = match selection(&a.select) {
                Ok(s) => s,
                Err(e) => return fail(&e, &ui),
            };
            connected(&a.conn, Some(&a.sizes), &ui, async |ctx| {
                check::check(ctx, &sel).await
            })
        }
        Command::History(a) => {
            // An empty range is a mistake, not "no actions recorded"
            // (told without this host's clock: `TimeBound::surely_after`).
            if let (Some(since), Some(until)) = (&a.since, &a.until) {
                if since.surely_after(until) {
                    // The example in the words the two were given in.
                    let example = match since {
                        crate::commands::TimeBound::Ago(_) => {
                            "--since 2d --until 1d is the day that ended a day ago"
                        }
                        crate::commands::TimeBound::At(_) => {
                            "--since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z is one day"
                        }
                    };
                    let e = CommandError::Usage(format!(
                        "--since is later than --until: nothing can match ({example})"
                    ));
                    return fail(&e, &ui);
                }
            }
            let opts = match selection(&a.select) {
                Ok(selection) => history::HistoryOptions {
                    selection,
                    since: a.since,
                    until: a.until,
                    replica: a.replica,
                    failed: a.failed,
                    run: a.run,
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
        Ok(report) if a.print_sql => finish(&crate::commands::doctor::DoctorSql(report), ui),
        Ok(report) => finish(&report, ui),
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
        StrategyCommand::Mv(a) => connected(&a.conn, Some(&a.sizes), ui, async |ctx| {
            strategy::mv(ctx, &a.from, &a.to).await
        }),
        StrategyCommand::Ls(a) => {
            let sel = match selection(&a.select) {
                Ok(s) => s,
                Err(e) => return fail(&e, ui),
            };
            connected(&a.conn, None, ui, async |ctx| strategy::ls(ctx, &sel).await)
        }
        StrategyCommand::Pause(a) => connected(&a.conn, None, ui, async |ctx| {
            strategy::pause(ctx, &a.cluster_name, a.reason.as_deref(), a.until).await
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
    let opts = match plan_options(&a.select, &a.plan, &a.conn) {
        Ok(o) => o,
        Err(e) => return fail(&e, ui),
    };
    // Before connecting: a plan that could not be saved.
    if let Some(path) = &a.save_to {
        if let Err(why) = crate::files::check_writable(path, true) {
            return fail(
                &CommandError::Io(format!("--out {}: {why}", path.display())),
                ui,
            );
        }
    }
    let started = Instant::now();
    connected(&a.conn, Some(&a.sizes), ui, async |ctx| {
        let mut run = reconcile::dry_run(ctx, &opts, a.as_role.as_deref()).await;
        if let Ok(d) = &mut run {
            debug_signals(&d.plan);
            if let Some(path) = &a.save_to {
                save_plan(d, path)?;
            }
        }
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "round finished"
        );
        run
    })
}

/// `-vv`: the signals each cluster's decision was based on.
fn debug_signals(plan: &crate::plan::Plan) {
    for cp in &plan.clusters {
        tracing::debug!(
            cluster = %cp.cluster,
            cluster_id = %cp.cluster_id,
            signals = %serde_json::to_string(&cp.signals).unwrap_or_default(),
            state = cp.state().as_str(),
            "signals"
        );
    }
}

fn apply(a: ApplyArgs, ui: &Ui) -> u8 {
    let streaming = !ui.json && !a.watch && ui.style.verbosity != Verbosity::Quiet;
    let opts = match plan_options(&a.select, &a.plan, &a.conn) {
        Ok(plan) => ApplyOptions {
            progress: streaming.then(|| streamer(&plan.selection, ui.style)),
            plan: PlanOptions {
                interval: apply_interval(&a),
                ..plan
            },
            lease: lease(&a.lease),
            max_actions: a.max_actions,
            audit_retention: a.audit_retention,
            saved: match a.saved_plan.as_deref().map(saved_plan).transpose() {
                Ok(saved) => saved,
                Err(e) => return fail(&e, ui),
            },
        },
        Err(e) => return fail(&e, ui),
    };
    // Before connecting: a run that could not record its metrics.
    if let Some(path) = &a.metrics_file {
        if let Err(why) = crate::metrics::check_textfile(path) {
            return fail(&CommandError::Io(why), ui);
        }
    }
    let db = match db_options(&a.conn, Some(&a.sizes)) {
        Ok(db) => db,
        Err(e) => return fail(&e, ui),
    };
    let watch = WatchOptions {
        interval: controller_interval(&a.plan),
        metrics_addr: a.metrics_addr,
        metrics_file: a.metrics_file,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&e, ui),
    };
    let started = Instant::now();
    let result: Result<Option<u8>, CommandError> = rt.block_on(async {
        let mut ctx = Context::new(db)?;
        // A watcher says each failed run at `error`: its retries are `info`.
        ctx.opts.retry.quiet = a.watch;
        let shutdown = Shutdown::install()?;
        // Probes get an answer while the process starts.
        let serving = if a.watch {
            Some(reconcile::serve(&watch)?)
        } else {
            None
        };
        // Before anything else: can the session cluster serve our tables? A
        // database that cannot be reached is the run's failure to report
        // (metrics, `--watch` retrying), not a configuration error. A
        // signal meanwhile ends the process, leaving nothing behind (a
        // temporary replica still starting is dropped).
        let prepared = session::prepare(&mut ctx, Some(shutdown.flag()), true).await;
        // A database that did not answer after every retry: a one-shot
        // run fails with that now (counted in the metrics file), instead
        // of waiting out every retry again on its tables.
        let mut unreachable = None;
        let session = match prepared {
            Ok(s) => s,
            Err(CommandError::Interrupted(why)) if a.watch => {
                tracing::info!("stopped before the first run: {why}");
                return Ok(Some(exit::OK));
            }
            // A session cluster that cannot serve is a failed run, counted
            // in the metrics file (a cron whose --exec-cluster was dropped
            // never tripped ClusterctlRunsFailing).
            Err(e @ CommandError::SessionCluster(_)) => {
                let file = watch.metrics_file.as_deref();
                return Err(reconcile::failed_to_start(file, e, started.elapsed()));
            }
            Err(e @ CommandError::Interrupted(_)) => return Err(e),
            // A flag the region refuses (`--create-replica` of a size it
            // does not offer): refused as by every other command (the
            // run went on without its replica: an outside check).
            Err(e @ CommandError::Usage(_)) => return Err(e),
            Err(e) => {
                tracing::debug!("session cluster not checked: {e}");
                if e.db_error().is_some_and(|d| d.transient()) {
                    unreachable = Some(e);
                }
                None
            }
        };
        let ctx = ctx;
        let mut session = session;
        // Not prepared at the start (the database unreachable) while a
        // temporary replica is wanted: prepared before each run until it
        // is (every run failed on a session cluster with no replica, for
        // the watcher's life: an outside check).
        let mut unprepared =
            session.is_none() && unreachable.is_some() && ctx.opts.create_replica.is_some();
        let run = async {
            if a.watch {
                let mut last_problems = Vec::new();
                let keep_replica = async || {
                    if unprepared {
                        match session::prepared(&ctx, Some(shutdown.flag()), true).await {
                            Ok(s) => {
                                session = s;
                                unprepared = false;
                            }
                            Err(e) => tracing::warn!("preparing the session cluster: {e}"),
                        }
                    }
                    if let Some(s) = session.as_mut() {
                        for w in session::renew(&ctx, s, shutdown.flag(), true).await {
                            tracing::warn!("{w}");
                        }
                    }
                };
                let serving = serving
                    .ok_or_else(|| CommandError::Io("the metrics server was not started".into()))?;
                reconcile::watch(
                    &ctx,
                    &opts,
                    &watch,
                    serving,
                    &shutdown,
                    started,
                    keep_replica,
                    |run| {
                        if let Ok(Leased::Ran(applied)) = run.result {
                            debug_signals(&applied.plan);
                        }
                        show_watch_run(run.result, ui, &mut last_problems)
                    },
                )
                .await
                .map(|()| exit::OK)
            } else {
                let metrics_file = watch.metrics_file.as_deref();
                if let Some(e) = unreachable {
                    return Err(reconcile::failed_to_start(
                        metrics_file,
                        e,
                        started.elapsed(),
                    ));
                }
                reconcile::apply(&ctx, &opts, metrics_file, &shutdown, started)
                    .await
                    .map(|run| {
                        if let Leased::Ran(applied) = &run {
                            debug_signals(&applied.plan);
                        }
                        tracing::debug!(
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "round finished"
                        );
                        let ui = Ui {
                            style: TextStyle {
                                streamed: streaming,
                                ..ui.style
                            },
                            ..*ui
                        };
                        finish(&run, &ui)
                    })
            }
        };
        let code = tokio::select! {
            code = run => Some(code.map(Some)),
            _ = shutdown.forced() => None,
        };
        let Some(code) = code else {
            // The temporary replica stays: the next apply drops it. The
            // statement under way was cancelled as the run was dropped:
            // its request is given a moment to go out.
            let _ = tokio::time::timeout(Duration::from_secs(2), ctx.db.cancels_sent()).await;
            return Ok(None);
        };
        for w in session::finish(&ctx, session, true).await {
            tracing::warn!("{w}");
        }
        code
    });
    match result {
        Ok(Some(code)) => code,
        Ok(None) => fail(
            &CommandError::Interrupted(
                "second signal: exiting now (the lease expires by itself; the next run settles an interrupted action)".into(),
            ),
            ui,
        ),
        Err(e) => fail(&e, ui),
    }
}

/// How many selected clusters `apply`'s first line names.
const SELECTED_SHOWN: usize = 10;

/// The action under way: when it started, and how to stop its ticker.
type Running = (Instant, mpsc::Sender<()>);

/// What `apply` prints while it acts: which clusters the selection chose,
/// the plan, then each action as it starts and ends with its elapsed time,
/// and "Still creating… [10s elapsed]" every 10 s of a long statement.
fn streamer(selection: &Selection, style: TextStyle) -> Observer {
    let describe = (!selection.is_all()).then(|| selection.describe());
    let running: Arc<Mutex<Option<Running>>> = Arc::new(Mutex::new(None));
    // The clusters no replica ran on when planned (`render::asleep`).
    let asleep: Arc<Mutex<std::collections::HashSet<crate::model::ClusterId>>> = Arc::default();
    let asleep_of = {
        let asleep = asleep.clone();
        move |a: &crate::plan::Action| asleep.lock().is_ok_and(|s| s.contains(&a.cluster_id))
    };
    let color = style.table.color;
    Observer(Arc::new(move |p| {
        let mut out = std::io::stdout().lock();
        match p {
            Progress::Plan(plan) => {
                if let Ok(mut s) = asleep.lock() {
                    s.extend(
                        plan.clusters
                            .iter()
                            .filter(|c| render::asleep(c))
                            .map(|c| c.cluster_id.clone()),
                    );
                }
                // A selection of nothing is the plan's warning.
                if let Some(d) = describe.as_ref().filter(|_| !plan.clusters.is_empty()) {
                    // A few names, then how many more: a pattern over
                    // 3 000 clusters printed one 45 KB line every run.
                    let mut names: Vec<String> = plan
                        .clusters
                        .iter()
                        .take(SELECTED_SHOWN)
                        .map(|c| format!("{} ({})", c.cluster, c.cluster_id))
                        .collect();
                    let more = plan.clusters.len().saturating_sub(SELECTED_SHOWN);
                    if more > 0 {
                        names.push(format!(
                            "and {more} more (`clusterctl status` with the same selection lists \
                             them)"
                        ));
                    }
                    // Names and the typed selection shown as text: no
                    // control character reaches the terminal.
                    let line = format!("Selected by {d}: {}", names.join(", "));
                    let line = crate::model::printable(&line);
                    let _ = writeln!(out, "{}", crate::config::redact_echoed(&line));
                }
                if render::plan_streamed_first(plan) {
                    let text = render::plan_text(plan, &style);
                    let _ = write!(out, "{}", streamed(&text, color));
                    let _ = writeln!(out);
                }
            }
            Progress::Started(action) => {
                let line = render::progress_line(
                    Some(action),
                    None,
                    Duration::ZERO,
                    asleep_of(action),
                    color,
                );
                let _ = writeln!(out, "{}", streamed(&line, color));
                let _ = out.flush();
                let (tx, rx) = mpsc::channel::<()>();
                let t0 = Instant::now();
                let action = action.clone();
                let slept = asleep_of(&action);
                std::thread::spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) =
                        rx.recv_timeout(Duration::from_secs(10))
                    {
                        let line =
                            render::progress_line(Some(&action), None, t0.elapsed(), slept, color);
                        let mut o = std::io::stdout().lock();
                        let _ = writeln!(o, "{}", streamed(&line, color));
                        let _ = o.flush();
                    }
                });
                if let Ok(mut r) = running.lock() {
                    *r = Some((t0, tx));
                }
            }
            Progress::Finished(result) => {
                let started = running.lock().ok().and_then(|mut r| r.take());
                let elapsed = match started {
                    Some((t0, tx)) => {
                        let _ = tx.send(());
                        t0.elapsed()
                    }
                    None => Duration::ZERO,
                };
                let line = render::progress_line(
                    None,
                    Some(result),
                    elapsed,
                    asleep_of(&result.action),
                    color,
                );
                let _ = writeln!(out, "{}", streamed(&line, color));
            }
        }
        let _ = out.flush();
    }))
}

/// A line `apply` streams as it acts, as every door out of the process
/// shows text: safe for the terminal, connection strings masked
/// ([`crate::config::redact_echoed`]).
fn streamed(text: &str, color: bool) -> String {
    crate::config::redact_echoed(&render::terminal_safe(text, color)).into_owned()
}

/// What a run of `--watch` shows: as text, its output only when it did
/// something (an idle fleet stays quiet), its problems only when they
/// changed; as JSON, one document per run that ran.
fn show_watch_run(
    result: &Result<Leased<reconcile::Applied>, CommandError>,
    ui: &Ui,
    last_problems: &mut Vec<String>,
) {
    let applied = match result {
        Ok(Leased::Ran(applied)) => applied,
        // JSON: a document for every run, one that found the lease held
        // or failed too (text: the log says so), or a consumer cannot
        // tell an outage from a dead process.
        Ok(busy) => {
            if ui.json {
                let _ = print_view(busy, ui);
            }
            return;
        }
        Err(e) => {
            if ui.json {
                error_document(ui.command, e.code(), &e.to_string(), e.results(), true);
            }
            return;
        }
    };
    let messages = applied.messages();
    // Said when they change, counts and times aside: a crash loop's alert
    // counts its kills, and every run reprinted every problem of the
    // fleet (an outside check).
    let gist: Vec<String> = messages.iter().map(|m| without_figures(m)).collect();
    if gist != *last_problems {
        for line in messages.iter().filter(|l| shown_when_quiet(ui, l)) {
            message_line(ui, line);
        }
        *last_problems = gist;
    }
    // Text: only runs that acted (an idle fleet stays quiet). JSON: every
    // run, one line each, as the README's JSON output promises (a
    // consumer tells a quiet run from a dead process).
    if ui.json || !applied.report.results.is_empty() {
        // A service keeps acting when nobody reads its output (its log
        // and audit trail say what it did).
        let _ = print_view(applied, ui);
    }
}

/// `text` with every run of digits as `#`: what a problem says, not how
/// many or when.
fn without_figures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

fn wipe_state(a: WipeStateArgs, ui: &Ui) -> u8 {
    let sel = match selection(&a.select) {
        Ok(s) => s,
        Err(e) => return fail(&e, ui),
    };
    // A person answers at a terminal on stdin, whatever the output goes
    // to (`2>&1 | tee log` wiped without asking: an outside check); the
    // question goes where they see it.
    let interactive = std::io::stdin().is_terminal();
    if interactive && !a.yes {
        let scope = if sel.is_all() {
            "every cluster".to_string()
        } else {
            format!("the clusters selected by {}", sel.describe())
        };
        let question = format!(
            "Wipe the strategy state of {scope}? Strategies start fresh (cooldowns, what \
             idle_suspend suspended, learned hydration times). [y/N] "
        );
        let mut asked = false;
        if !std::io::stderr().is_terminal() {
            if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
                asked = write!(tty, "{question}").and_then(|_| tty.flush()).is_ok();
            }
        }
        if !asked {
            let _ = write!(std::io::stderr(), "{question}");
            let _ = std::io::stderr().flush();
        }
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            return fail(
                &CommandError::Usage(
                    "not confirmed; nothing was wiped (--yes skips the question)".into(),
                ),
                ui,
            );
        }
    }
    let lease = lease(&a.lease);
    connected(&a.conn, None, ui, async |ctx| {
        admin::wipe_state(ctx, &sel, &lease).await
    })
}

fn status_command(a: StatusArgs, ui: &Ui) -> u8 {
    let sel = match selection(&a.select) {
        Ok(s) => s,
        Err(e) => return fail(&e, ui),
    };
    let conditions = status::ConditionFilter {
        only: a.condition.clone(),
        not: a.not_condition.clone(),
    };
    if !a.watch {
        return connected(&a.conn, Some(&a.sizes), ui, async |ctx| {
            status::status(ctx, &sel, a.all, &conditions).await
        });
    }
    let result = db_options(&a.conn, Some(&a.sizes)).and_then(|db| {
        let rt = runtime()?;
        rt.block_on(async {
            let mut ctx = Context::new(db)?;
            // SIGTERM as SIGINT: a clean exit 0 (it was the signal's 143).
            let shutdown = Shutdown::install()?;
            // The session cluster checked first, its temporary replica made
            // (`--create-replica`), as every other command does (a watch
            // ignored both, and failed every refresh: an outside check);
            // renewed before each refresh and dropped at the exit.
            let mut session = match session::prepare(&mut ctx, Some(shutdown.flag()), false).await {
                Ok(s) => s,
                Err(CommandError::Interrupted(_)) => return Ok(exit::OK),
                Err(e) => return Err(e),
            };
            let code = watch_status(&ctx, &a, &sel, &conditions, ui, &shutdown, &mut session).await;
            for w in session::finish(&ctx, session, false).await {
                tracing::warn!("{w}");
            }
            code
        })
    });
    match result {
        Ok(code) => code,
        Err(e) => fail(&e, ui),
    }
}

/// `status --watch`'s refreshes until a signal; the exit code.
async fn watch_status(
    ctx: &Context,
    a: &StatusArgs,
    sel: &Selection,
    conditions: &status::ConditionFilter,
    ui: &Ui,
    shutdown: &Shutdown,
    session: &mut Option<session::Session>,
) -> Result<u8, CommandError> {
    let interval = a.interval.max(Duration::from_secs(1));
    // A cleared screen loses what was said before it, so it says
    // the newer-schema warning with each refresh; a pipe or a JSON
    // stream keeps every line, so there once, and again only when
    // it changes.
    let cleared = ui.style.table.tty && !ui.json;
    let mut said: Option<String> = None;
    // The report's own warnings and notes (`status` says them on stderr;
    // `--watch` said none: an outside check), alike: on each refresh of a
    // terminal's screen, else when they change.
    let mut said_messages: Vec<String> = Vec::new();
    loop {
        // Only a temporary replica to keep (`--create-replica`): a read of
        // the session cluster each refresh costs the others a round trip
        // for nothing, and a reading command drops nobody's leftovers.
        let keeps_one = ctx.opts.create_replica.is_some();
        if let Some(s) = session.as_mut().filter(|_| keeps_one) {
            for w in session::renew(ctx, s, shutdown.flag(), false).await {
                tracing::warn!("{w}");
            }
        }
        // Each refresh reads the tables again: as `status` does, it
        // says so when a newer clusterctl migrated them.
        let refresh = async {
            let report = status::status(ctx, sel, a.all, conditions).await;
            let warning = read_warning(ctx, ui).await;
            report.map(|r| (warning, r))
        };
        let Some(report) = shutdown.unless_signalled(refresh).await else {
            return Ok(exit::OK);
        };
        let mut screen = String::new();
        if cleared {
            // Clear the screen and go home, like watch(1).
            screen.push_str("\x1b[H\x1b[2J");
        }
        let written = match &report {
            Ok((warning, r)) => {
                let repeated = !cleared && warning.is_some() && *warning == said;
                said.clone_from(warning);
                if !ui.json {
                    // With the selection, as watch(1) shows the command
                    // (it showed `clusterctl status` of `--cluster etl`:
                    // an outside check).
                    let selected = match sel.is_all() {
                        true => String::new(),
                        false => format!(" {}", crate::model::printable(&sel.describe())),
                    };
                    screen.push_str(&format!(
                        "Every {}: clusterctl status{selected}    {}\n\n",
                        crate::model::human_duration(interval.as_secs()),
                        r.now.format("%Y-%m-%d %H:%M:%SZ")
                    ));
                }
                // After the screen is cleared, or it is never seen.
                let messages = r.messages();
                let repeated_messages = !cleared && messages == said_messages;
                emit(screen.as_bytes()).and_then(|()| {
                    if let Some(w) = warning.as_ref().filter(|_| !repeated) {
                        message_line(ui, w);
                    }
                    if !repeated_messages {
                        for line in messages.iter().filter(|l| shown_when_quiet(ui, l)) {
                            message_line(ui, line);
                        }
                    }
                    said_messages = messages;
                    print_view(r, ui)
                })
            }
            Err(e) => {
                fail(e, ui);
                Ok(())
            }
        };
        if let Err(o) = written {
            return Ok(output_failed(o, ui));
        }
        if shutdown.sleep(interval).await {
            return Ok(exit::OK);
        }
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
            // A temporary replica is this command's to drop: a signal stops
            // a reading command (a writing one finishes its write) and the
            // replica goes, audited, as `apply`'s does (SIGTERM left it
            // running under `dry-run` and `simulate --from-history`: an
            // outside check).
            let shutdown = match ctx.opts.create_replica {
                Some(_) => Some(Shutdown::install()?),
                None => None,
            };
            // Before anything else: can the session cluster serve our tables?
            let stop = shutdown.as_ref().map(Shutdown::flag);
            let session = session::prepare(&mut ctx, stop, false).await?;
            let work = async {
                match ui.tables {
                    // Its snapshot reads the migrations too: said after, before
                    // its output.
                    Tables::Read => {
                        let result = op(&ctx).await;
                        if let Some(w) = read_warning(&ctx, ui).await {
                            message_line(ui, &w);
                        }
                        result
                    }
                    _ => match newer_schema(&ctx, ui).await {
                        Ok(warning) => {
                            if let Some(w) = warning {
                                message_line(ui, &w);
                            }
                            op(&ctx).await
                        }
                        Err(e) => Err(e),
                    },
                }
            };
            let result = match &shutdown {
                Some(s) if ui.tables == Tables::Read => match s.unless_signalled(work).await {
                    Some(result) => result,
                    None => {
                        // Its statements may still run on the connections
                        // it handed back: the drop goes on a fresh one.
                        ctx.db.forget_idle();
                        Err(CommandError::Interrupted(
                            "stopped by a signal; the temporary replica is dropped".into(),
                        ))
                    }
                },
                _ => work.await,
            };
            let finished = async {
                for w in session::finish(&ctx, session, false).await {
                    tracing::warn!("{w}");
                }
            };
            match &shutdown {
                Some(s) => tokio::select! {
                    () = finished => {}
                    // A second signal: at once (the next apply drops it).
                    () = s.forced() => {}
                },
                None => finished.await,
            }
            result
        })
    });
    match result {
        Ok(view) => finish(&view, ui),
        Err(e) => fail(&e, ui),
    }
}

/// Tables a newer clusterctl migrated: a command that writes to them is
/// refused before it writes; one that reads them goes on, with the
/// `warning:` line to say once (`status --watch`: on each refresh of a
/// terminal's screen, else when it changes). One
/// statement, for the commands that do not migrate and a reading command
/// that read no snapshot ([`read_warning`]).
async fn newer_schema(ctx: &Context, ui: &Ui) -> Result<Option<String>, CommandError> {
    if ui.tables == Tables::Own {
        return Ok(None);
    }
    let newer = match ctx.backend().newer_schema().await {
        Ok(newer) => newer,
        Err(e) if ui.tables == Tables::Write => return Err(e.into()),
        // The warning is advice: a reading command does not fail for want
        // of it (its own reads say what is wrong with the tables).
        Err(e) => {
            tracing::debug!("not checked for a newer schema: {e}");
            None
        }
    };
    match newer {
        None => Ok(None),
        Some(newer) if ui.tables == Tables::Write => Err(newer.into()),
        Some(newer) => Ok(Some(format!("warning: {newer}"))),
    }
}

/// A reading command's newer-schema warning, after its reads: from what
/// its snapshot read of the migrations in a statement it sends anyway
/// (`dry-run`, `status`, `check`, `describe`, `strategy ls`), else from
/// one statement ([`newer_schema`]: `history`, `simulate --from-history`,
/// a command whose snapshot failed).
async fn read_warning(ctx: &Context, ui: &Ui) -> Option<String> {
    match ctx.schema_seen.take() {
        Some(versions) => {
            crate::db::migrate::newer_schema(&versions).map(|e| format!("warning: {e}"))
        }
        None => newer_schema(ctx, ui).await.ok().flatten(),
    }
}

/// A terminal gets colour unless `NO_COLOR` is set (<https://no-color.org>);
/// anything else plain aligned text.
fn table_style() -> table::Style {
    let tty = std::io::stdout().is_terminal();
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

/// Writes to stdout: the one place a command's output goes out. A reader
/// that went away (`| head`) is [`Output::Closed`]; any other failure (a
/// full disk) an error to report.
fn emit(bytes: &[u8]) -> Result<(), Output> {
    // A connection string given where a name belongs comes back in what
    // names it: never with its password.
    let redacted = std::str::from_utf8(bytes)
        .ok()
        .map(crate::config::redact_echoed);
    let bytes = redacted.as_deref().map_or(bytes, str::as_bytes);
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Output::Closed,
            _ => Output::Failed(e.to_string()),
        })
}

/// A simulation's error as a command's: a scenario or alternative file
/// that cannot be read or is wrong is the operator's file to mend
/// (`config`; a TOML syntax error was `io`), the rest `io`.
fn sim_error(e: crate::sim::SimError) -> CommandError {
    match e {
        crate::sim::SimError::Scenario(why) => {
            CommandError::Config(crate::config::ConfigError::Scenario(why))
        }
        other => CommandError::Io(other.to_string()),
    }
}

/// Why the output could not be written.
enum Output {
    /// The reader closed the pipe: nothing more to say to anyone.
    Closed,
    Failed(String),
}

/// The exit code when the output could not be written: quiet for a closed
/// pipe, as `yes | head` is; one error line otherwise.
fn output_failed(o: Output, ui: &Ui) -> u8 {
    match o {
        Output::Closed => exit::OK,
        Output::Failed(e) => {
            report_error(
                ui.command,
                "io",
                &format!("writing the output: {e}"),
                None,
                false,
                false,
                ui.log_json,
            );
            exit::ERROR
        }
    }
}

fn print_view(view: &dyn View, ui: &Ui) -> Result<(), Output> {
    if ui.json {
        emit(render::json_document(ui.command, render::Outcome::Ok(view), ui.stream).as_bytes())
    } else {
        let text = view.text(&ui.style);
        // A script written to a file is run as written: a name's control
        // character escaped there named another object (an outside check).
        // On a terminal, colour off: its escape sequences would be kept,
        // and a name's with them (`ESC[8m` concealed the rest of a
        // statement: an outside check).
        if view.is_script() {
            return match std::io::stdout().is_terminal() {
                false => emit(text.as_bytes()),
                true => emit(render::terminal_safe(&text, false).as_bytes()),
            };
        }
        emit(render::terminal_safe(&text, ui.style.table.color).as_bytes())
    }
}

/// Whether a result's message line is said: `-q` says errors only, for
/// one command and for each run of a `--watch` alike (a watcher's notes
/// went on under `-q`: an outside check).
fn shown_when_quiet(ui: &Ui, line: &str) -> bool {
    ui.style.verbosity != Verbosity::Quiet || line.starts_with("error: ")
}

/// Prints a command's result; its exit code.
fn finish(view: &dyn View, ui: &Ui) -> u8 {
    // On stderr with `-o json` too (the document carries them as well): a
    // log pipeline alerting on its level saw nothing of an invalid row
    // (an outside check). `-q`: errors only.
    for line in view.messages() {
        if shown_when_quiet(ui, &line) {
            message_line(ui, &line);
        }
    }
    // A reader that went away leaves the command's own exit code (an
    // apply with failed actions is still 3 under `| head`).
    if let Err(o @ Output::Failed(_)) = print_view(view, ui) {
        return output_failed(o, ui);
    }
    match view.completion() {
        Completion::Clean => exit::OK,
        Completion::WithProblems => exit::PROBLEMS,
        Completion::ChangesPending if ui.detailed => exit::CHANGES,
        Completion::ChangesPending => exit::OK,
    }
}

/// Prints a command's error once: the JSON document on stdout with
/// `--output json`, one line on stderr (JSON with `--log-format json`);
/// its exit code.
fn fail(e: &CommandError, ui: &Ui) -> u8 {
    let code = match e {
        CommandError::Usage(_) => exit::USAGE,
        _ => exit::ERROR,
    };
    let message = e.to_string();
    report_error(
        ui.command,
        e.code(),
        &message,
        e.results(),
        ui.json,
        ui.stream,
        ui.log_json,
    );
    code
}

/// The error line and, in JSON mode, the error document (on one line in a
/// stream of them, `one_line`), with `results`, what a run stopped after
/// it began acting did before.
pub(super) fn report_error(
    command: &str,
    code: &str,
    message: &str,
    results: Option<&[crate::exec::ActionResult]>,
    json: bool,
    one_line: bool,
    log_json: bool,
) {
    if json {
        // Failing to write it leaves the error line below.
        error_document(command, code, message, results, one_line);
    }
    if log_json {
        super::stderr_line(&json_log_line("ERROR", command, Some(code), message));
    } else {
        super::stderr_line(&format!("error: {message}"));
    }
}

/// The error document on stdout (on one line in a stream of them,
/// `one_line`); a failure to write it is left to the caller's error line.
fn error_document(
    command: &str,
    code: &str,
    message: &str,
    results: Option<&[crate::exec::ActionResult]>,
    one_line: bool,
) {
    let doc = render::Outcome::Err {
        code,
        message,
        results,
    };
    let _ = emit(render::json_document(command, doc, one_line).as_bytes());
}

/// A command's message on stderr (`error: …`, `warning: …`, `note: …`):
/// one line, or with `--log-format json` one JSON object as the log's
/// events are, its level from the prefix.
fn message_line(ui: &Ui, line: &str) {
    if !ui.log_json {
        super::stderr_line(&render::one_line(line, false));
        return;
    }
    let (level, message) = [
        ("error: ", "ERROR"),
        ("warning: ", "WARN"),
        ("note: ", "INFO"),
    ]
    .iter()
    .find_map(|(prefix, level)| line.strip_prefix(prefix).map(|m| (*level, m)))
    .unwrap_or(("INFO", line));
    super::stderr_line(&json_log_line(level, ui.command, None, message));
}

/// One event as the JSON log writes them (`tracing_subscriber`'s format:
/// `timestamp` in microseconds, `level`, the fields at the top level).
fn json_log_line(level: &str, command: &str, code: Option<&str>, message: &str) -> String {
    let mut line = serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": level,
        "command": command,
        "message": message,
    });
    if let (Some(code), Some(o)) = (code, line.as_object_mut()) {
        o.insert("code".into(), code.into());
    }
    line.to_string()
}

fn man(out_dir: Option<&std::path::Path>, ui: &Ui) -> u8 {
    if let Some(dir) = out_dir {
        // The directory itself is made, as `mkdir` would: not its parents
        // (a mistyped path is said, as `simulate --out` says it), and
        // nothing that is there already but not a directory.
        let made = match std::fs::create_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(format!("{} exists and is not a directory", dir.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "{} does not exist (only the last directory of the path is created)",
                dir.parent()
                    .map_or_else(|| ".".into(), |p| p.display().to_string()),
            )),
            other => other.map_err(|e| e.to_string()),
        };
        if let Err(e) = made
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir).map_err(|e| e.to_string()))
        {
            return fail(
                &CommandError::Io(format!("writing manual pages to {}: {e}", dir.display())),
                ui,
            );
        }
        return exit::OK;
    }
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut buf) {
        return fail(
            &CommandError::Io(format!("rendering the manual page: {e}")),
            ui,
        );
    }
    match emit(&buf) {
        Ok(()) => exit::OK,
        Err(o) => output_failed(o, ui),
    }
}

/// Regex errors span several lines; keep one.
pub(super) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A regex syntax error on one line: the regex crate draws a caret under
/// the pattern on the line above its message, which one line cannot show,
/// so the caret becomes a character position (`unclosed group (at
/// character 1)`). Other errors (a pattern too big) are joined as they are.
fn regex_error(e: &str) -> String {
    let lines: Vec<&str> = e.lines().collect();
    let position = lines.windows(2).find_map(|w| {
        let indent = w[0].len() - w[0].trim_start().len();
        let caret = w[1].find('^')?;
        (w[1].trim().starts_with('^') && !w[0].trim().is_empty() && caret >= indent)
            .then(|| w[1][..caret].chars().count() - w[0][..indent].chars().count() + 1)
    });
    let message = lines
        .iter()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string);
    match (message, position) {
        (Some(m), Some(at)) => format!("{m} (at character {at})"),
        (Some(m), None) => m,
        _ => one_line(e),
    }
}

/// `--cluster NAME|ID,…` or `--filter-clusters REGEX`.
fn selection(a: &SelectArgs) -> Result<Selection, CommandError> {
    let pattern = a
        .filter_clusters
        .as_ref()
        .map(|re| {
            Regex::new(re).map_err(|e| {
                CommandError::Usage(format!(
                    "--filter-clusters: invalid regular expression '{re}': {}",
                    regex_error(&e.to_string())
                ))
            })
        })
        .transpose()?;
    // Never empty (parse_identifier): an empty list is every cluster.
    let names = a.cluster.clone();
    Ok(Selection { names, pattern })
}

/// `dry-run`'s options: without `--interval`, each cluster is planned with
/// the interval its controller recorded (`PlanOptions::interval_s`).
fn plan_options(
    select: &SelectArgs,
    plan: &PlanArgs,
    conn: &ConnArgs,
) -> Result<PlanOptions, CommandError> {
    Ok(PlanOptions {
        selection: selection(select)?,
        resize_timeout: plan.resize_timeout.max(Duration::from_secs(1)),
        interval: plan.interval.map(|d| d.max(Duration::from_secs(1))),
        statement_timeout: statement_timeout(conn),
        ..PlanOptions::default()
    })
}

/// How often `apply` runs, by its own word: `--interval`, else the default
/// (a cron line every minute). What it plans with and records.
fn controller_interval(plan: &PlanArgs) -> Duration {
    plan.interval
        .unwrap_or(crate::plan::DEFAULT_INTERVAL)
        .max(Duration::from_secs(1))
}

/// The interval `apply` plans with: the controller's own. A saved plan
/// is applied by hand, not by the controller: without `--interval` it is
/// planned as `dry-run` planned it, with the interval the controller
/// recorded, or a wake the review approved (due with the controller's
/// longer lead) would be refused as stale, and the run would record its
/// default interval over the controller's.
fn apply_interval(a: &ApplyArgs) -> Option<Duration> {
    match (&a.saved_plan, a.plan.interval) {
        (Some(_), None) => None,
        _ => Some(controller_interval(&a.plan)),
    }
}

/// `--statement-timeout`, at least a second.
fn statement_timeout(a: &ConnArgs) -> Duration {
    a.statement_timeout.max(Duration::from_secs(1))
}

fn lease(a: &LeaseArgs) -> LeaseOptions {
    LeaseOptions {
        ttl: a.lease_ttl.max(Duration::from_secs(10)),
        wait: a.wait,
    }
}

/// `dry-run --out FILE`: the plan's JSON document, as `-o json` prints it
/// (what `apply --plan` reads), written atomically: a failed write leaves
/// the plan saved before, never half of one.
fn save_plan(d: &mut reconcile::DryRun, path: &std::path::Path) -> Result<(), CommandError> {
    let doc = crate::render::json_document("dry-run", crate::render::Outcome::Ok(&*d), false);
    crate::files::write_atomically(path, doc.as_bytes())
        .map_err(|e| CommandError::Io(format!("--out {}: {e}", path.display())))?;
    d.saved_to = Some(path.to_path_buf());
    Ok(())
}

/// `apply --plan FILE`: the plan `dry-run -o json` saved there, read
/// before connecting.
fn saved_plan(path: &std::path::Path) -> Result<crate::plan::saved::SavedPlan, CommandError> {
    let said = |why: String| format!("--plan {}: {why}", path.display());
    // A file that cannot be read is an error (exit 1, as a missing
    // scenario file is); one that is not a dry-run's JSON, a usage error.
    let text = crate::files::read_text_bounded(path, SAVED_PLAN_MAX_BYTES)
        .map_err(|why| CommandError::Io(said(why)))?;
    crate::plan::saved::SavedPlan::parse(&text, crate::render::FORMAT_VERSION)
        .map_err(|why| CommandError::Usage(said(why)))
}

/// A plan is a few kilobytes a cluster; a bound keeps a mistaken path
/// from being read for ever.
const SAVED_PLAN_MAX_BYTES: u64 = 256 << 20;

/// The simulator's flags.
fn sim_args(a: &SimulateArgs, ui: &Ui) -> crate::sim::SimArgs {
    crate::sim::SimArgs {
        scenario: a.scenario.clone().unwrap_or_default(),
        seed: a.seed,
        // --from-history reads that many days; a file is replayed for them.
        days: a.days.filter(|_| !a.from_history),
        json: ui.json,
        timeline: a.timeline.clone(),
        plot: a.plot.clone(),
        strategies: a.strategies.clone(),
        compare: a.compare.clone(),
        history_ms: a.history.map(|d| d.as_millis() as i64),
        served_within_ms: a.served_within.map(|d| d.as_millis() as i64),
    }
}

/// The command's connection options ([`read_db_options`]); its
/// `--exec-cluster` is then repeated in every command a fix names
/// ([`crate::model::say_exec_cluster`]).
fn db_options(a: &ConnArgs, sizes: Option<&SizesArgs>) -> Result<DbOptions, CommandError> {
    let db = read_db_options(a, sizes)?;
    if let Some(c) = &db.exec_cluster {
        crate::model::say_exec_cluster(c);
    }
    Ok(db)
}

/// The connection options the flags give.
fn read_db_options(a: &ConnArgs, sizes: Option<&SizesArgs>) -> Result<DbOptions, CommandError> {
    let replica_sizes = sizes.and_then(|s| s.replica_sizes.as_ref());
    // Judged whole, as given: a password holding a comma is split by the
    // list, and no part of it may come back in a message naming a size.
    if replica_sizes.is_some_and(|sizes| crate::config::holds_password(&sizes.join(","))) {
        return Err(CommandError::Usage(
            "--replica-sizes: a connection string, not sizes (the connection is \
             --postgres-url or DATABASE_URL)"
                .into(),
        ));
    }
    if replica_sizes.is_some_and(|sizes| sizes.iter().any(|s| s.trim().is_empty())) {
        return Err(CommandError::Usage(
            "--replica-sizes: empty size name in the list".into(),
        ));
    }
    if let Some(twice) = replica_sizes.and_then(|sizes| {
        sizes
            .iter()
            .enumerate()
            .find(|(i, s)| sizes[..*i].iter().any(|o| o.trim() == s.trim()))
    }) {
        return Err(CommandError::Usage(format!(
            "--replica-sizes: {} is listed twice (the list is the sizes, smallest first)",
            twice.1.trim()
        )));
    }
    let blank = a
        .postgres_url
        .as_ref()
        .is_some_and(|u| u.expose().trim().is_empty());
    // Given empty on the command line (`--postgres-url "$UNSET"`): said as
    // such, not as "no database given … set DATABASE_URL", which may be set.
    let on_the_line = || {
        std::env::args_os().any(|arg| {
            arg.to_str()
                .is_some_and(|a| a == "--postgres-url" || a.starts_with("--postgres-url="))
        })
    };
    if blank && on_the_line() {
        return Err(CommandError::Usage(
            "--postgres-url is empty: give a connection string, or leave the flag out to use \
             DATABASE_URL"
                .into(),
        ));
    }
    Ok(DbOptions {
        url: a.postgres_url.clone().filter(|_| !blank),
        replica_sizes: replica_sizes.map(|v| v.iter().map(|s| s.trim().to_string()).collect()),
        schema: a.schema.clone(),
        exec_cluster: a.exec_cluster.clone(),
        create_replica: a
            .create_replica
            .as_deref()
            .map(|s| crate::model::Size(s.trim().to_string())),
        create_replica_wait: a.create_replica_wait,
        exec_cluster_wait: a.exec_cluster_wait,
        connect_timeout: match a.connect_timeout {
            Some(s) => crate::config::ConnectTimeout::Given(Duration::from_secs(s.max(1))),
            None => crate::config::ConnectTimeout::Default(crate::db::DEFAULT_CONNECT_TIMEOUT),
        },
        statement_timeout: statement_timeout(a),
        retry: RetryPolicy {
            max_retries: usize::from(a.max_retries),
            ..Default::default()
        },
    })
}

/// The config of `strategy set`: `--config JSON`, or the key flags.
fn set_config(a: &StrategySetArgs) -> Result<serde_json::Value, CommandError> {
    let usage = |m: String| CommandError::Usage(m);
    // Said before anything else: no config makes a pause row.
    if a.strategy_type == crate::model::PAUSE {
        return Err(strategy::pause_instead(
            &a.cluster_name,
            a.conn.schema.as_deref(),
        ));
    }
    // The config as an argument after the type, or as --config.
    let given = match (&a.config, &a.config_arg) {
        (Some(text), _) => Some(("--config", text)),
        (None, Some(text)) => Some(("CONFIG", text)),
        (None, None) => None,
    };
    match given {
        Some((what, text)) => {
            let (v, twice) = crate::strategy::read_json(text).map_err(|e| {
                // A value typed alone after the type (`target_size 50cc`)
                // is told the shapes the config takes.
                let shapes = match crate::strategy::StrategyKind::parse(&a.strategy_type) {
                    Some(kind) if what == "CONFIG" => format!(
                        "; give a JSON object, like {CONFIG_EXAMPLE}, or key flags{}",
                        takes(&a.strategy_type, kind, "")
                    ),
                    _ => String::new(),
                };
                usage(format!("{what}: not valid JSON ({e}){shapes}"))
            })?;
            if let Some(key) = twice.first() {
                return Err(usage(format!(
                    "{what}: {}",
                    crate::strategy::given_twice(key)
                )));
            }
            if !v.is_object() {
                return Err(usage(format!(
                    "{what}: must be a JSON object, like {CONFIG_EXAMPLE}"
                )));
            }
            refuse_password(&v, |at| format!("{what}: key {at}"))?;
            Ok(v)
        }
        None if a.keys.0.is_empty() => {
            let Some(kind) = crate::strategy::StrategyKind::parse(&a.strategy_type) else {
                return Err(usage(crate::plan::rows::unknown_type(&a.strategy_type)));
            };
            // A strategy whose every key has a default (stabilization) is
            // set with an empty config: say how, as its parser is the judge.
            let sizes = crate::model::SizeCatalog::new(Vec::new());
            let empty = serde_json::json!({});
            let defaults = if crate::strategy::StrategyConfig::parse(kind, &empty, &sizes).is_ok() {
                "; `'{}'` keeps every default"
            } else {
                ""
            };
            Err(usage(format!(
                "give the config as a JSON object after the type (or with --config JSON), or \
                 with key flags{}",
                takes(&a.strategy_type, kind, defaults)
            )))
        }
        None => {
            if let Some(m) = stray_key_flag(&a.strategy_type, &a.keys.0) {
                return Err(usage(m));
            }
            let v = serde_json::Value::Object(a.keys.0.clone());
            refuse_password(&v, |at| {
                let flag = at.split(['[', '.']).next().unwrap_or(at).replace('_', "-");
                match at.contains(['[', '.']) {
                    true => format!("--{flag} (at {at})"),
                    false => format!("--{flag}"),
                }
            })?;
            Ok(v)
        }
    }
}

/// A config holding a connection string with its password is never
/// written ([`crate::config::password_in_json`]); `named` says where it
/// was given from its path in the config.
fn refuse_password(
    v: &serde_json::Value,
    named: impl Fn(&str) -> String,
) -> Result<(), CommandError> {
    match crate::config::password_in_json(v) {
        Some(at) => Err(CommandError::Usage(format!(
            "{} holds a connection string with its password, which every plan, \
             status and history would show (a replica name would also put it in Materialize's \
             catalog): leave the password out; nothing was written",
            named(&at)
        ))),
        None => Ok(()),
    }
}

/// A key flag that another strategy type reads (`target_size
/// --idle-after-s 30m`): a slip of the command line, said with the type
/// that reads it and the flags this one takes, before anything is read.
/// An unknown type is left to the row's validation, which suggests one.
fn stray_key_flag(ty: &str, given: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    use crate::strategy::keys;
    let kind = crate::strategy::StrategyKind::parse(ty)?;
    let own = kind.key_names();
    let stray = given.keys().find(|k| !own.contains(&k.as_str()))?;
    let readers: Vec<&str> = keys::all_keys()
        .into_iter()
        .find(|(k, _)| k.name == stray)
        .map(|(_, kinds)| kinds.iter().map(|k| k.as_str()).collect())
        .unwrap_or_default();
    let readers = match readers.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "no strategy".into(),
    };
    Some(format!(
        "--{} is a key of {readers}, not of {ty}{}",
        stray.replace('_', "-"),
        takes(ty, kind, "")
    ))
}

/// A config as `strategy set`'s messages show one.
const CONFIG_EXAMPLE: &str = r#"'{"target_size": "100cc"}'"#;

/// The key flags type `ty` takes, as usage errors say them: ` (ty takes
/// --a, --b{extra})`, or nothing for a type without keys.
fn takes(ty: &str, kind: crate::strategy::StrategyKind, extra: &str) -> String {
    let flags: Vec<String> = kind
        .keys()
        .iter()
        .map(|key| format!("--{}", key.flag()))
        .collect();
    match flags.is_empty() {
        true => String::new(),
        false => format!(" ({ty} takes {}{extra})", flags.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watcher's problems are compared without their figures: a crash
    /// loop's count of kills and its times changed every run.
    #[test]
    fn problems_are_compared_without_their_figures() {
        assert_eq!(
            without_figures("r1 (25cc) is crash looping: 4 OOM kills, the last at 06:29:11Z"),
            "r# (#cc) is crash looping: # OOM kills, the last at #:#:#Z"
        );
        assert_eq!(
            without_figures("7 OOM kills, the last at 06:31:02Z"),
            without_figures("6 OOM kills, the last at 06:30:12Z")
        );
    }

    /// The flags' defaults are the options' own (`DbOptions::default`,
    /// what the library's callers get): written twice, in clap's
    /// attributes and as constants, they are pinned here to one value.
    #[test]
    fn the_connection_flags_default_to_the_options_defaults() {
        use clap::Parser;
        let argv = [
            "clusterctl",
            "apply",
            "--exec-cluster",
            "ops",
            "--create-replica",
        ];
        let cli = crate::cli::args::Cli::try_parse_from(argv).expect("parses");
        let crate::cli::args::Command::Apply(a) = cli.command else {
            panic!("not apply");
        };
        let got = read_db_options(&a.conn, Some(&a.sizes)).expect("options");
        let want = DbOptions::default();
        assert_eq!(got.create_replica_wait, want.create_replica_wait);
        assert_eq!(got.exec_cluster_wait, want.exec_cluster_wait);
        assert_eq!(got.connect_timeout, want.connect_timeout);
        assert_eq!(got.statement_timeout, want.statement_timeout);
        assert_eq!(got.retry.max_retries, want.retry.max_retries);
    }

    #[test]
    fn a_regex_error_is_one_line_with_the_carets_position() {
        let error = |re: &str| {
            regex_error(
                &Regex::new(re)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            )
        };
        assert_eq!(error("("), "unclosed group (at character 1)");
        assert_eq!(error("ab(c"), "unclosed group (at character 3)");
        assert_eq!(error("é["), "unclosed character class (at character 2)");
        // A message without a caret is joined as it is.
        assert_eq!(regex_error("too big\nsplit"), "too big split");
        // Only a line that starts with the caret draws it, under a line
        // that is not blank, and not left of that line's indent.
        let drawn = "regex parse error:\n    a^b\n      ^\nerror: x";
        assert_eq!(regex_error(drawn), "x (at character 3)");
        assert_eq!(regex_error("regex parse error:\n    p\n^\nerror: e"), "e");
        assert_eq!(regex_error("regex parse error:\n\n    ^\nerror: e"), "e");
        assert_eq!(regex_error("regex parse error:\nerror: e"), "e");
    }
}
