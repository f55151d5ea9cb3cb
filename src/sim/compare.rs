//! Replaying one scenario under other strategies: an *alternative* file
//! names, by cluster name pattern, the strategy rows to run instead of the
//! scenario's; `simulate --strategies ALT` runs the scenario with them,
//! `simulate --compare ALT` (repeatable) runs it with its own and with each
//! alternative and prints them side by side. The demand, the seed and so
//! the oracle are the same in every run: only the strategies differ.
//!
//! ```toml
//! name = "predictive"                 # the column's title (default: the file name)
//! [[clusters]]
//! match = "bi_*"                      # a cluster name, or a glob (* and ?); first match wins
//! strategies = [
//!   { type = "shrink_to_fit", config = { max_replica_size = "300cc" } },
//!   { type = "idle_suspend", config = { idle_after_s = 1800, predict = true } },
//! ]
//! ```
//! Clusters no entry matches keep their strategies; a matched cluster's
//! `reconfigure` phases are replaced too (the alternative holds for the
//! whole run).

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::scenario::{Phase, Scenario, ScenarioError};
use super::scorecard::{cold_cell, secs, Scorecard};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlternative {
    name: Option<String>,
    #[serde(default)]
    description: String,
    clusters: Vec<RawEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(rename = "match")]
    pattern: String,
    strategies: Vec<RawRow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "empty")]
    config: serde_json::Value,
}

fn empty() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// A parsed alternative.
#[derive(Debug, Clone)]
pub struct Alternative {
    pub name: String,
    /// Where it was read from, as its errors name it: the file's path
    /// (its `name` for one parsed from text).
    pub source: String,
    pub description: String,
    entries: Vec<(regex::Regex, Vec<(String, serde_json::Value)>)>,
    /// Each entry's `match`, as written.
    patterns: Vec<String>,
    /// The line of each entry's strategy rows, for their errors.
    lines: Vec<Vec<Option<usize>>>,
}

/// A scenario file given where an alternative is expected (`--compare
/// fleet-100.toml`): it has a run's keys, or clusters with a workload.
fn looks_like_a_scenario(text: &str) -> bool {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return false;
    };
    let clusters_with_workload = doc
        .get("clusters")
        .and_then(|c| c.as_array())
        .is_some_and(|cs| cs.iter().any(|c| c.get("workload").is_some()));
    ["days", "interval", "sizes"]
        .iter()
        .any(|k| doc.contains_key(*k))
        || clusters_with_workload
}

/// `bi_*` → `^bi_.*$`.
fn glob(pattern: &str) -> Result<regex::Regex, ScenarioError> {
    let re = regex::escape(pattern)
        .replace(r"\*", ".*")
        .replace(r"\?", ".");
    regex::Regex::new(&format!("^{re}$"))
        .map_err(|e| ScenarioError(format!("key 'match': '{pattern}': {e}")))
}

impl Alternative {
    /// Parses an alternative's TOML; `default_name` titles it when it has
    /// no `name`.
    pub fn parse(text: &str, default_name: &str) -> Result<Alternative, ScenarioError> {
        let raw: RawAlternative =
            super::scenario::from_text("alternative", text, false).map_err(|e| {
                if !looks_like_a_scenario(text) {
                    return e;
                }
                ScenarioError(format!(
                    "{}\n(this is a scenario, not an alternative: an alternative has `name`, \
                     `description` and `[[clusters]]` of `match` and `strategies`; the \
                     scenario is the first argument of `simulate`)",
                    e.0
                ))
            })?;
        let mut entries = Vec::new();
        for (i, e) in raw.clusters.iter().enumerate() {
            let rows = e
                .strategies
                .iter()
                .map(|r| (r.kind.clone(), r.config.clone()))
                .collect();
            entries.push((
                glob(&e.pattern)
                    .map_err(|err| ScenarioError(format!("clusters[{i}]: {}", err.0)))?,
                rows,
            ));
        }
        let name = raw.name.unwrap_or_else(|| default_name.to_string());
        Ok(Alternative {
            source: name.clone(),
            name,
            description: raw.description.trim().to_string(),
            entries,
            patterns: raw.clusters.iter().map(|e| e.pattern.clone()).collect(),
            lines: super::scenario::strategy_lines(text),
        })
    }

    /// Reads an alternative file.
    #[allow(clippy::disallowed_methods)] // the file the user names
    pub fn load(path: &Path) -> Result<Alternative, ScenarioError> {
        let text = super::scenario::read_bounded(path, 4 << 20)
            .map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "alternative".into());
        let mut alt = Alternative::parse(&text, &stem)
            .map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))?;
        alt.source = path.display().to_string();
        Ok(alt)
    }

    /// A note for each `match` that names no cluster of the scenario
    /// while another does (fine for an alternative written for a whole
    /// fleet and replayed for one cluster, but a typo in one of them
    /// replayed that cluster's current strategies without a word: an
    /// outside check). None when no pattern names one: [`Self::apply`]
    /// refuses that.
    pub fn unused_patterns(&self, sc: &Scenario) -> Vec<String> {
        let names = |re: &regex::Regex| sc.clusters.iter().any(|c| re.is_match(&c.name));
        if !self.entries.iter().any(|(re, _)| names(re)) {
            return Vec::new();
        }
        self.entries
            .iter()
            .zip(&self.patterns)
            .filter(|((re, _), _)| !names(re))
            .map(|(_, pattern)| {
                format!(
                    "{}: `match = \"{}\"` names no cluster of the scenario; its strategies are not \
                     used",
                    self.source,
                    crate::model::printable(pattern)
                )
            })
            .collect()
    }

    /// The scenario with this alternative's strategies, validated by the
    /// product's own parser against the scenario's sizes. An alternative
    /// none of whose `match` patterns names a cluster of the scenario is an
    /// error: its run would repeat the current one and read as "makes no
    /// difference" (a typo in `match`). Patterns that match nothing beside
    /// others that do are fine (an alternative for a whole fleet, replayed
    /// for one cluster).
    pub fn apply(&self, sc: &Scenario) -> Result<Scenario, ScenarioError> {
        let mut out = sc.clone();
        if !out
            .clusters
            .iter()
            .any(|c| self.entries.iter().any(|(re, _)| re.is_match(&c.name)))
        {
            let names: Vec<&str> = out.clusters.iter().map(|c| c.name.as_str()).collect();
            return Err(ScenarioError(format!(
                "{}: no `match` pattern names a cluster of the scenario (its clusters: {}), so \
                 it would replay the current strategies unchanged",
                self.source,
                crate::model::clip(&names.join(", "), 200)
            )));
        }
        for c in &mut out.clusters {
            let Some(entry) = self.entries.iter().position(|(re, _)| re.is_match(&c.name)) else {
                continue;
            };
            let rows = &self.entries[entry].1;
            super::scenario::validate_rows(rows, c.managed.is_some(), &sc.sizes).map_err(
                |(row, message)| {
                    // The row's line, as a scenario's errors say it.
                    let line = row
                        .and_then(|r| self.lines.get(entry)?.get(r).copied().flatten())
                        .map(|l| format!(" (line {l})"))
                        .unwrap_or_default();
                    ScenarioError(format!(
                        "{}{line}: cluster {}: {message}",
                        self.source, c.name
                    ))
                },
            )?;
            c.phases = vec![Phase {
                at_ms: 0,
                rows: rows.clone(),
            }];
        }
        // The report says which strategies ran: the scenario's description
        // names its own (`--strategies` alone named none of this file's).
        out.description = match self.description.trim() {
            "" => format!("strategies of {}", self.name),
            d => format!("strategies of {}: {d}", self.name),
        };
        Ok(out)
    }
}

/// Several runs of one scenario, side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub runs: Vec<NamedRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedRun {
    pub name: String,
    pub scorecard: Scorecard,
}

fn pct(x: f64) -> String {
    super::scorecard::percent(x, 2)
}

/// Credits to one decimal (none from 100); an amount that would read
/// `0.0` but is not nothing as the scorecard writes it (`0.001`): the
/// header said `vs oracle (0.0)` beside a ratio of 157810x.
fn credits(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x != 0.0 && x.abs() < 0.05 {
        super::scorecard::num(x)
    } else {
        format!("{x:.1}")
    }
}

/// The side-by-side text: totals, then per cluster credits and service.
pub fn text(c: &Comparison) -> String {
    let mut s = String::new();
    let Some(first) = c.runs.first() else {
        return s;
    };
    let info = &first.scorecard.scenario;
    let _ = writeln!(
        s,
        "scenario {}: {} days at a {} interval, seed {}, {} cluster(s); served within {}",
        info.name,
        info.days,
        secs(info.interval_s),
        info.seed,
        info.clusters,
        secs(info.served_within_s)
    );
    let t = |f: &dyn Fn(&Scorecard) -> String| -> Vec<String> {
        c.runs.iter().map(|r| f(&r.scorecard)).collect()
    };
    let within = format!("served<={}", secs(info.served_within_s));
    let oracle = format!(
        "vs oracle ({})",
        credits(first.scorecard.total.oracle_credits)
    );
    let rows: Vec<(&str, Vec<String>)> = vec![
        ("credits", t(&|r| credits(r.total.credits))),
        (
            oracle.as_str(),
            t(&|r| super::scorecard::ratio_text(r.total.vs_oracle)),
        ),
        (
            within.as_str(),
            t(&|r| pct(r.total.service.served_within_pct)),
        ),
        ("failed queries", t(&|r| r.total.service.failed.to_string())),
        (
            "failed attempts",
            t(&|r| r.total.service.failed_attempts.to_string()),
        ),
        ("p95 wait", t(&|r| secs(r.total.service.p95_wait_s))),
        ("worst wait", t(&|r| secs(r.total.service.worst_wait_s))),
        (
            "worst daily cold start",
            t(&|r| cold_cell(&r.total.worst_daily_cold_start)),
        ),
        ("always-on", t(&|r| credits(r.total.always_on_credits))),
        (
            "creates/drops",
            t(&|r| format!("{}/{}", r.total.actions.create, r.total.actions.drop)),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0).max(7);
    let col = c
        .runs
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max(14);
    let _ = write!(s, "\n{:width$}", "");
    for r in &c.runs {
        let _ = write!(s, "  {:>col$}", r.name);
    }
    s.push('\n');
    for (k, vals) in &rows {
        let _ = write!(s, "{k:width$}");
        for v in vals {
            let _ = write!(s, "  {v:>col$}");
        }
        s.push('\n');
    }
    // The clusters a run's strategies leave alone are in its figures
    // above: said, as each run may leave others alone (a column looked
    // best for a cluster it never served: an outside check).
    for r in &c.runs {
        if let Some(a) = &r.scorecard.total.left_alone {
            let _ = writeln!(
                s,
                "{}: {} cluster(s) no strategy runs, counted above as they ran: {} ({} credits)",
                r.name,
                a.clusters.len(),
                super::scorecard::names_said(&a.clusters),
                credits(a.credits)
            );
        }
    }
    let n = first.scorecard.clusters.len();
    if n > 1 {
        let _ = writeln!(
            s,
            "\nper cluster: credits (vs oracle), {within}, worst wait (never: days with queries none of which was served)"
        );
        let name_w = first
            .scorecard
            .clusters
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let cell = 30;
        let _ = write!(s, "{:name_w$}", "cluster");
        for r in &c.runs {
            let _ = write!(s, "  {:>cell$}", r.name);
        }
        s.push('\n');
        for (i, cl) in first.scorecard.clusters.iter().enumerate().take(40) {
            let _ = write!(s, "{:name_w$}", cl.name);
            for r in &c.runs {
                let Some(x) = r.scorecard.clusters.get(i) else {
                    continue;
                };
                let worst = match x.worst_daily_cold_start.days_never_served {
                    0 => secs(x.service.worst_wait_s),
                    _ => cold_cell(&x.worst_daily_cold_start),
                };
                let v = format!(
                    "{} ({}) {} {}",
                    credits(x.credits),
                    super::scorecard::ratio_text(x.vs_oracle),
                    pct(x.service.served_within_pct),
                    worst
                );
                let _ = write!(s, "  {v:>cell$}");
            }
            s.push('\n');
        }
        if n > 40 {
            let _ = writeln!(s, "… {} more (see --output json)", n - 40);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_amount_of_credits_is_not_shown_as_none() {
        assert_eq!(credits(0.001), "0.001");
        assert_eq!(credits(0.0), "0.0");
        assert_eq!(credits(0.05), "0.1");
        assert_eq!(credits(12.34), "12.3");
        assert_eq!(credits(1234.5), "1234");
    }

    const SCENARIO: &str = r#"
        name = "t"
        days = 2
        [[clusters]]
        name = "bi_{i}"
        count = 2
        strategies = [{ type = "target_size", config = { target_size = "200cc" } }]
        [clusters.workload]
        memory_gib = 10
        hydration_work = "10m"
        windows = [{ start = "09:00", duration = "8h", every = "1d", qps = 0.05 }]
        [[clusters]]
        name = "etl"
        strategies = [{ type = "target_size", config = { target_size = "400cc" } }]
        [clusters.workload]
        memory_gib = 10
        hydration_work = "10m"
        windows = [{ start = "01:00", duration = "1h", every = "1d", qps = 0.05 }]
    "#;

    fn scenario() -> Scenario {
        super::super::scenario::parse(SCENARIO, false, Path::new("."), None).unwrap()
    }

    #[test]
    fn a_scenario_given_as_an_alternative_is_said_to_be_one() {
        let hint = "this is a scenario, not an alternative";
        for text in [
            "name = \"s\"\ndays = 7\n",
            "[[clusters]]\nname = \"c\"\n[clusters.workload]\nmemory_gib = 1\n",
        ] {
            let err = Alternative::parse(text, "alt").unwrap_err().0;
            assert!(err.contains(hint), "{err}");
        }
        // A mistake in an alternative is not called a scenario.
        let err = Alternative::parse("[[clusters]]\nmatsh = \"c\"\n", "alt")
            .unwrap_err()
            .0;
        assert!(err.contains("matsh") && !err.contains(hint), "{err}");
    }

    #[test]
    fn an_alternative_replaces_the_matched_clusters_strategies() {
        let alt = Alternative::parse(
            r#"
            [[clusters]]
            match = "bi_*"
            strategies = [{ type = "idle_suspend", config = { idle_after_s = 600, predict = true } }]
            "#,
            "predictive",
        )
        .unwrap();
        assert_eq!(alt.name, "predictive");
        let sc = alt.apply(&scenario()).unwrap();
        let rows = |i: usize| sc.clusters[i].phases[0].rows[0].0.clone();
        assert_eq!(rows(0), "idle_suspend");
        assert_eq!(rows(1), "idle_suspend");
        assert_eq!(rows(2), "target_size", "etl is not matched");
    }

    /// An alternative file's errors name the file (they named its `name`),
    /// and an unknown key is refused without "ignored" (a live run's
    /// warning says it ignores one; a replay refuses it).
    #[test]
    #[allow(clippy::disallowed_methods)] // the test's own file
    fn an_alternative_files_errors_name_the_file_and_refuse_an_unknown_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alt.toml");
        std::fs::write(
            &path,
            "name = \"a\"\n[[clusters]]\nmatch = \"etl\"\nstrategies = [{ type = \"idle_suspend\", \
             config = { idle_after_s = 900, bogus = 1 } }]\n",
        )
        .unwrap();
        let err = Alternative::load(&path)
            .unwrap()
            .apply(&scenario())
            .unwrap_err()
            .0;
        assert!(
            err.starts_with(&format!("{} (line 4): cluster etl: ", path.display()))
                && err.contains("unknown config key 'bogus'")
                && !err.contains("ignored"),
            "{err}"
        );
    }

    #[test]
    fn an_alternative_that_names_no_cluster_is_refused() {
        let alt = |pattern: &str| {
            Alternative::parse(
                &format!(
                    "[[clusters]]\nmatch = \"{pattern}\"\nstrategies = []\n\
                     [[clusters]]\nmatch = \"nomatch\"\nstrategies = []"
                ),
                "alt",
            )
            .unwrap()
        };
        let typo = |pattern: &str| alt(pattern).apply(&scenario());
        let err = typo("bi*_").unwrap_err().0;
        assert!(
            err.starts_with("alt: no `match` pattern names a cluster")
                && err.contains("bi_1, bi_2, etl"),
            "{err}"
        );
        // One pattern matching is enough: the other may be for clusters
        // this replay does not have; it is said.
        assert!(typo("etl").is_ok());
        assert_eq!(
            alt("etl").unused_patterns(&scenario()),
            [
                "alt: `match = \"nomatch\"` names no cluster of the scenario; its strategies are \
              not used"
            ]
        );
        // None matching is refused by `apply`, not noted.
        assert!(alt("bi*_").unused_patterns(&scenario()).is_empty());
    }

    #[test]
    fn bad_alternatives_name_the_cluster_and_key() {
        let bad = Alternative::parse(
            r#"
            [[clusters]]
            match = "etl"
            strategies = [{ type = "target_size", config = { target_size = "7cc" } }]
            "#,
            "x",
        )
        .unwrap();
        let err = bad.apply(&scenario()).unwrap_err().0;
        assert!(
            err.contains("cluster etl") && err.contains("target_size"),
            "{err}"
        );
        // The set is judged by the product's one validator: a pair the
        // planner would refuse is refused here, not run as nothing.
        let conflict = Alternative::parse(
            r#"
            [[clusters]]
            match = "bi_*"
            strategies = [
              { type = "target_size", config = { target_size = "200cc" } },
              { type = "shrink_to_fit", config = { max_replica_size = "100cc" } },
            ]
            "#,
            "x",
        )
        .unwrap();
        let err = conflict.apply(&scenario()).unwrap_err().0;
        assert!(
            err.contains("cluster bi_1") && err.contains("would undo each other"),
            "{err}"
        );
        assert!(Alternative::parse(
            "[[clusters]]\nmatch = \"x\"\nstrategies = []\nbogus = 1",
            "x"
        )
        .is_err());
    }

    #[test]
    fn side_by_side_runs_share_the_demand_and_the_oracle() {
        let sc = scenario();
        let alt = Alternative::parse(
            r#"
            name = "suspend"
            [[clusters]]
            match = "*"
            strategies = [
              { type = "target_size", config = { target_size = "200cc" } },
              { type = "idle_suspend", config = { idle_after_s = 600 } },
            ]
            "#,
            "x",
        )
        .unwrap();
        let a = crate::sim::simulate(&sc, false).unwrap();
        let b = crate::sim::simulate(&alt.apply(&sc).unwrap(), false).unwrap();
        assert_eq!(a.total.service.queries, b.total.service.queries);
        assert_eq!(a.total.oracle_credits, b.total.oracle_credits);
        assert!(b.total.credits < a.total.credits);
        // Each report says whose strategies ran (the scenario's
        // description named the scenario's own under `--strategies`).
        assert_eq!(b.scenario.description, "strategies of suspend");
        assert_eq!(
            super::super::scorecard::text(&b).lines().nth(1),
            Some("strategies of suspend")
        );
        assert_ne!(a.scenario.description, b.scenario.description);
        let c = Comparison {
            runs: vec![
                NamedRun {
                    name: "current".into(),
                    scorecard: a,
                },
                NamedRun {
                    name: "suspend".into(),
                    scorecard: b,
                },
            ],
        };
        let out = text(&c);
        assert!(out.contains("current") && out.contains("suspend"), "{out}");
        assert!(out.contains("per cluster"), "{out}");
    }

    #[test]
    fn days_never_served_are_said_as_the_single_run_says_them() {
        // etl never gets a replica: its two days are never served. The
        // table showed its cold start as hours (counted to the run's end)
        // and its worst wait as 0s (no query was served to wait).
        let alt = Alternative::parse(
            r#"
            [[clusters]]
            match = "etl"
            strategies = [
              { type = "schedule", config = { timezone = "UTC", default = { size = "25cc", replicas = 0 }, windows = [{ cron = "0 0 0 1 1 *", duration_s = 60, size = "25cc", replicas = 1 }] } },
            ]
            "#,
            "never",
        )
        .unwrap();
        let sc = scenario();
        let never = crate::sim::simulate(&alt.apply(&sc).unwrap(), false).unwrap();
        let cold = &never.total.worst_daily_cold_start;
        assert_eq!(cold.days_never_served, 2, "{cold:?}");
        assert_eq!(never.total.days_never_served, 2);
        assert_eq!(never.total.worst_daily_cold_start_s, cold.worst_s);
        // Its days are counted apart, not as a wait to the run's end, in
        // the JSON and in the summary's words.
        let etl = never.clusters.iter().find(|c| c.name == "etl");
        let etl = &etl.expect("etl is in the scenario").worst_daily_cold_start;
        assert_eq!((etl.worst_s, etl.day.as_deref()), (0.0, None), "{etl:?}");
        assert!(cold.worst_s < 3600.0, "{cold:?}");
        assert!(
            never.summary.contains(&format!(
                "the worst daily cold start was {} on the days served, and on 2 cluster-days no \
                 query was ever served",
                secs(cold.worst_s)
            )),
            "{}",
            never.summary
        );
        let c = Comparison {
            runs: vec![
                NamedRun {
                    name: "current".into(),
                    scorecard: crate::sim::simulate(&sc, false).unwrap(),
                },
                NamedRun {
                    name: "never".into(),
                    scorecard: never,
                },
            ],
        };
        let out = text(&c);
        let row = |name: &str| {
            out.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            row("worst daily cold start").ends_with("never (2d)"),
            "{out}"
        );
        assert!(row("etl").ends_with("never (2d)"), "{out}");
        assert!(!row("bi_1").contains("never"), "{out}");
    }
}
