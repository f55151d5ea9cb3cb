//! `clusterctl simulate`: the same `plan` and `exec::apply` the real
//! controller runs, against an in-memory Materialize with a virtual clock.
//!
//! The data flow mirrors the product's: `scenario` (the file: sizes,
//! clusters, how Materialize, the controller and the clients behave, strategy
//! rows) with `workload` and `demand` (noisy demand and memory needs, drawn
//! from the seed before the run) → `env` and `replica` (the simulated
//! Materialize: replicas provisioned, hydrating, OOM-killed; queries served,
//! waiting or failing; a sampled, delayed statement log) → `engine` (the
//! controller's rounds: snapshot, `plan::plan`, `exec::apply` on
//! `SimBackend`) → `oracle` (the lower bound no run can beat, and always-on
//! at the size needed) → `scorecard` (per-query service, time coverage, cold
//! starts, credits against both; text or JSON) and `plot` (an SVG timeline).
//! Nothing here decides what a strategy would do: that is always the
//! product's own code.

use std::path::{Path, PathBuf};

use thiserror::Error;

pub mod compare;
pub mod demand;
pub mod engine;
pub mod env;
pub mod history;
pub mod oracle;
pub mod plot;
pub mod replica;
pub mod scenario;
pub mod scorecard;
pub mod workload;

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures and ids
mod behaviour_tests;
#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod predict_tests;
#[cfg(test)]
mod realism_tests;
#[cfg(test)]
mod regression_tests;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures
mod tests;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("{0}")]
    Scenario(String),
    #[error("{0}")]
    Io(String),
    #[error("simulation engine: {0}")]
    Engine(String),
}

/// What the CLI passes in.
#[derive(Debug, Clone, Default)]
pub struct SimArgs {
    pub scenario: PathBuf,
    pub seed: Option<u64>,
    /// A scenario file's length in days, instead of its own (`--days`;
    /// never for `--from-history`, whose `--days` is what it reads).
    pub days: Option<u32>,
    pub json: bool,
    pub timeline: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    /// Run with these strategies instead of the scenario's.
    pub strategies: Option<PathBuf>,
    /// Also run with each of these, side by side.
    pub compare: Vec<PathBuf>,
    /// Override `history` (ms).
    pub history_ms: Option<i64>,
    /// Override `clients.served_within` (ms).
    pub served_within_ms: Option<i64>,
}

/// Runs a scenario; returns the report to print on stdout, and the
/// scenario's notes (what it asks for that has no effect on this run).
pub fn run_cli(args: &SimArgs) -> Result<(String, Vec<String>), SimError> {
    check_alternatives(args)?;
    let overrides = overrides_of(args);
    let sc =
        scenario::load_with(&args.scenario, &overrides).map_err(|e| SimError::Scenario(e.0))?;
    check_outputs(args, &sc.inputs, &[])?;
    let mut notes = sc.notes.clone();
    notes.extend(unused_patterns(&sc, args)?);
    Ok((run_loaded(sc, args)?, notes))
}

/// What `--strategies` and `--compare` files name that no cluster of `sc`
/// is ([`compare::Alternative::unused_patterns`]), as notes.
fn unused_patterns(sc: &scenario::Scenario, args: &SimArgs) -> Result<Vec<String>, SimError> {
    let mut notes = Vec::new();
    for path in args.strategies.iter().chain(&args.compare) {
        let alt = compare::Alternative::load(path).map_err(|e| SimError::Scenario(e.0))?;
        notes.extend(alt.unused_patterns(sc));
    }
    Ok(notes)
}

/// Reads and parses every `--strategies` and `--compare` file, and checks
/// that `--plot` can be written (it is written after the whole run, whose
/// figures a mistyped directory lost). The replay reads them itself;
/// `--from-history` calls this before it connects, so a mistyped file
/// fails the command before the live database is read (or a temporary
/// replica made) and before `--out` is written.
pub fn check_alternatives(args: &SimArgs) -> Result<(), SimError> {
    // The scenario `--from-history` writes holds the seed as a TOML
    // integer: a larger one failed after the whole history was read.
    if let Some(seed) = args.seed.filter(|s| *s > i64::MAX as u64) {
        if args.scenario.as_os_str().is_empty() {
            return Err(SimError::Io(format!(
                "--seed {seed}: with --from-history at most {} (the scenario it builds holds \
                 the seed as a TOML integer)",
                i64::MAX
            )));
        }
    }
    for path in args.strategies.iter().chain(&args.compare) {
        compare::Alternative::load(path).map_err(|e| SimError::Scenario(e.0))?;
    }
    for (flag, path) in outputs(args) {
        crate::files::check_writable(path, false)
            .map_err(|why| SimError::Io(format!("{flag} {}: {why}", path.display())))?;
    }
    Ok(())
}

/// Refuses an output or an input of the run in the directory where `--out`
/// writes its traces (`dir`): the run clears it of the `.csv` files its
/// scenario does not name, and the timeline it had just written and a
/// `--compare` file it read were deleted without a word (an outside
/// check).
fn outside_the_trace_dir(args: &SimArgs, dir: &Path) -> Result<(), SimError> {
    let files = outputs(args)
        .into_iter()
        .chain(
            args.strategies
                .iter()
                .map(|p| ("--strategies", p.as_path())),
        )
        .chain(args.compare.iter().map(|p| ("--compare", p.as_path())));
    for (flag, path) in files {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if crate::files::same_file(parent, dir) {
            return Err(SimError::Io(format!(
                "{flag} {}: in {}, the directory where --out writes its traces and removes \
                 the .csv files its scenario does not name; name a file elsewhere",
                path.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The files a run writes, with their flags: `--timeline`, `--plot`.
fn outputs(args: &SimArgs) -> Vec<(&'static str, &Path)> {
    [("--timeline", &args.timeline), ("--plot", &args.plot)]
        .into_iter()
        .filter_map(|(flag, p)| Some((flag, p.as_deref()?)))
        .collect()
}

/// Refuses a run whose outputs (`--timeline`, `--plot`, and `written`:
/// `--out` and its traces) would overwrite one of its inputs (the
/// scenario, `--strategies`/`--compare` files, the trace files it read:
/// `inputs`) or each other: the scenario was replaced by the timeline and
/// a trace by the plot, without a word, and the next replay read the
/// timeline as statements (an outside check). Before the run.
pub fn check_outputs(
    args: &SimArgs,
    inputs: &[PathBuf],
    written: &[(&str, &Path)],
) -> Result<(), SimError> {
    let read: Vec<&Path> = std::iter::once(args.scenario.as_path())
        .filter(|p| !p.as_os_str().is_empty())
        .chain(args.strategies.iter().map(PathBuf::as_path))
        .chain(args.compare.iter().map(PathBuf::as_path))
        .chain(inputs.iter().map(PathBuf::as_path))
        .collect();
    let all: Vec<(&str, &Path)> = outputs(args)
        .into_iter()
        .chain(written.iter().copied())
        .collect();
    for (i, (flag, out)) in all.iter().enumerate() {
        if let Some(input) = read.iter().find(|p| crate::files::same_file(out, p)) {
            return Err(SimError::Io(format!(
                "{flag} {}: the run reads that file ({}): writing there would overwrite it; \
                 name another file",
                out.display(),
                input.display()
            )));
        }
        if let Some((other, _)) = all[..i]
            .iter()
            .find(|(_, p)| crate::files::same_file(out, p))
        {
            return Err(SimError::Io(format!(
                "{flag} {}: {other} writes that file too; name another file",
                out.display()
            )));
        }
    }
    Ok(())
}

/// Where `simulate --from-history --out FILE` may write: FILE in a
/// directory that exists (none is created: a mistyped path is an error, not
/// a new tree), and not a directory, device or FIFO. Checked before
/// anything is written (and by the command before it connects:
/// `commands::backtest::Out`).
/// Returns whether FILE exists: it is overwritten, and the output says so.
pub fn check_out(path: &Path) -> Result<bool, SimError> {
    // It writes TOML: named `.json`, `simulate FILE` read it as JSON and
    // refused it (an outside check).
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return Err(SimError::Io(format!(
            "--out {}: the scenario is written as TOML, which `simulate FILE` reads from a \
             file not named .json; name it .toml",
            path.display()
        )));
    }
    crate::files::check_writable(path, false)
        .map_err(|why| SimError::Io(format!("--out {}: {why}", path.display())))
}

/// `simulate --from-history`: writes the built scenario and its traces
/// (with `out`, checked first by [`check_out`]), then parses that very text
/// — the same parser `simulate FILE` uses, the traces given as text — and
/// runs it, so the written file replays to the same figures.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // the files the user names
///
/// Returns the report and the scenario's notes, as [`run_cli`] does (what
/// the parser says of the built text: a cluster over a replica limit
/// lowered since, said by the replay of the written file and not by the
/// backtest: an outside check).
pub fn run_built(
    built: &history::Built,
    out: Option<&Path>,
    args: &SimArgs,
) -> Result<(String, Vec<String>), SimError> {
    let base = out
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if let Some(path) = out {
        check_out(path)?;
    }
    let overrides = overrides_of(args);
    let sc = scenario::parse_with_files(&built.toml, false, &base, &overrides, &built.traces)
        .map_err(|e| SimError::Scenario(format!("the scenario built from history: {}", e.0)))?;
    let traces: Vec<PathBuf> = built.traces.keys().map(|name| base.join(name)).collect();
    let written: Vec<(&str, &Path)> = out
        .map(|path| ("--out", path))
        .into_iter()
        .chain(traces.iter().map(|t| ("--out's trace", t.as_path())))
        .collect();
    check_outputs(args, &sc.inputs, if out.is_some() { &written } else { &[] })?;
    if out.is_some() {
        outside_the_trace_dir(args, &base.join(&built.trace_dir))?;
    }
    let mut notes = sc.notes.clone();
    notes.extend(unused_patterns(&sc, args)?);
    let report = run_loaded(sc, args)?;
    // Written once the run succeeded: a run that failed (an alternative
    // naming no cluster) replaced the file and its traces, saying nothing
    // (an outside check).
    if let Some(path) = out {
        for (name, text) in &built.traces {
            let file = base.join(name);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| SimError::Io(format!("{}: cannot create: {e}", dir.display())))?;
            }
            std::fs::write(&file, text)
                .map_err(|e| SimError::Io(format!("{}: cannot write: {e}", file.display())))?;
        }
        remove_stale_traces(&base.join(&built.trace_dir), &base, built)?;
        std::fs::write(path, &built.toml)
            .map_err(|e| SimError::Io(format!("{}: cannot write: {e}", path.display())))?;
    }
    Ok((report, notes))
}

/// The traces an earlier `--out` to the same file wrote for clusters this
/// scenario no longer has (`--cluster`, a dropped cluster): `.csv` files of
/// the scenario's trace directory that it does not name. Left there, they
/// read as part of the scenario.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // the directory the user named
fn remove_stale_traces(dir: &Path, base: &Path, built: &history::Built) -> Result<(), SimError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let ours: std::collections::BTreeSet<std::path::PathBuf> =
        built.traces.keys().map(|name| base.join(name)).collect();
    for entry in entries.flatten() {
        let file = entry.path();
        let csv = file.extension().is_some_and(|e| e == "csv");
        if csv && entry.file_type().is_ok_and(|t| t.is_file()) && !ours.contains(&file) {
            std::fs::remove_file(&file)
                .map_err(|e| SimError::Io(format!("{}: cannot remove: {e}", file.display())))?;
        }
    }
    Ok(())
}

pub(crate) fn overrides_of(args: &SimArgs) -> scenario::Overrides {
    scenario::Overrides {
        seed: args.seed,
        days: args.days,
        history_ms: args.history_ms,
        served_within_ms: args.served_within_ms,
    }
}

/// A parsed scenario under `--strategies` and `--compare`.
fn run_loaded(mut sc: scenario::Scenario, args: &SimArgs) -> Result<String, SimError> {
    // The run the alternatives are compared with: the scenario's own
    // strategies ("current"), or those of --strategies, under its name.
    let mut base = "current".to_string();
    if let Some(path) = &args.strategies {
        let alt = compare::Alternative::load(path).map_err(|e| SimError::Scenario(e.0))?;
        sc = alt.apply(&sc).map_err(|e| SimError::Scenario(e.0))?;
        base = alt.name;
    }
    let alternatives = args
        .compare
        .iter()
        .map(|p| compare::Alternative::load(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SimError::Scenario(e.0))?;
    run_scenario(&sc, &base, &alternatives, args)
}

/// Runs a resolved scenario (and its alternatives, side by side); returns
/// the report to print.
pub fn run_scenario(
    sc: &scenario::Scenario,
    base: &str,
    alternatives: &[compare::Alternative],
    args: &SimArgs,
) -> Result<String, SimError> {
    if alternatives.is_empty() {
        return run_one(sc, args);
    }
    let mut runs = vec![compare::NamedRun {
        name: base.to_string(),
        scorecard: simulate(sc, false)?,
    }];
    for alt in alternatives {
        let alt_sc = alt.apply(sc).map_err(|e| SimError::Scenario(e.0))?;
        runs.push(compare::NamedRun {
            name: alt.name.clone(),
            scorecard: simulate(&alt_sc, false)?,
        });
    }
    let c = compare::Comparison { runs };
    if args.json {
        let mut v = serde_json::to_value(&c)
            .map_err(|e| SimError::Engine(format!("cannot render JSON: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("format_version".into(), scorecard::FORMAT_VERSION.into());
        }
        let mut s = serde_json::to_string_pretty(&v)
            .map_err(|e| SimError::Engine(format!("cannot render JSON: {e}")))?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(compare::text(&c))
    }
}

#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // the files the user names
fn run_one(sc: &scenario::Scenario, args: &SimArgs) -> Result<String, SimError> {
    let sc = sc.clone();
    let run = match &args.timeline {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| SimError::Io(format!("{}: cannot create: {e}", path.display())))?;
            let mut w = std::io::BufWriter::new(file);
            let run = engine::run(&sc, false, Some(&mut w))?;
            std::io::Write::flush(&mut w)
                .map_err(|e| SimError::Io(format!("{}: {e}", path.display())))?;
            run
        }
        None => engine::run(&sc, false, None)?,
    };
    let oracles = scorecard::oracles(&sc, &run);
    let card = scorecard::build_with(&sc, &run, &oracles);
    if let Some(path) = &args.plot {
        let svg = plot::render(&sc, &run, &card, &oracles)?;
        std::fs::write(path, svg)
            .map_err(|e| SimError::Io(format!("{}: cannot write: {e}", path.display())))?;
    }
    if args.json {
        let mut s = serde_json::to_string_pretty(&card)
            .map_err(|e| SimError::Engine(format!("cannot render JSON: {e}")))?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(scorecard::text(&card))
    }
}

/// Runs a scenario and returns its scorecard (for tests and the benchmark).
pub fn simulate(sc: &scenario::Scenario, exact: bool) -> Result<scorecard::Scorecard, SimError> {
    let run = engine::run(sc, exact, None)?;
    Ok(scorecard::build(sc, &run))
}

/// Skipping rounds while nothing a decision reads can change gives the same
/// run as planning every round: the actions, credits and service of every
/// cluster agree (tests of clock-driven strategies call it).
#[cfg(test)]
pub(crate) fn assert_fast_path_exact(text: &str) {
    let sc = scenario::parse(text, false, std::path::Path::new("."), None).unwrap();
    let fast = simulate(&sc, false).unwrap();
    let exact = simulate(&sc, true).unwrap();
    for (f, e) in fast.clusters.iter().zip(&exact.clusters) {
        assert_eq!(f.actions.by_strategy, e.actions.by_strategy, "{}", f.name);
        assert!(
            (f.credits - e.credits).abs() < 1e-9,
            "{}: {} vs {}",
            f.name,
            f.credits,
            e.credits
        );
        assert_eq!(
            f.service.served_within, e.service.served_within,
            "{}",
            f.name
        );
    }
}
