//! Which clusters a command works on. Exact names or ids by default
//! (`--cluster analytics`, `--cluster u3`): `analytics` never also means
//! `analytics_dev`. A pattern only when asked (`--filter-clusters REGEX`,
//! the Python mz-clusterctl's flag, unanchored like its `re.search`).
//! Decided here once, so the plan, `status`, `check`, `history`, `describe`
//! and `wipe-state` select alike. Pure.

use regex::Regex;

use crate::model::{Cluster, ClusterId, Snapshot};

/// How much of a selection [`Selection::describe`] shows.
pub const DESCRIBED_CHARS: usize = 200;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--cluster` values as typed (repeatable): exact cluster names or
    /// ids, or several separated by commas ([`Selection::args`]).
    pub names: Vec<String>,
    /// A regular expression over cluster names (`--filter-clusters`).
    pub pattern: Option<Regex>,
}

/// Why a selection selects nothing useful: said, never silently ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionError {
    /// `--cluster X` (or a command's CLUSTER argument, `by_flag` false): no
    /// cluster has that name or id. Built by [`SelectionError::no_such_cluster`].
    NoSuchCluster {
        arg: String,
        hint: String,
        by_flag: bool,
    },
    /// `--cluster a,b,c`: several names that are no cluster's, each with
    /// its did-you-mean hint (only the first was said: a list of hundreds
    /// was mended one run at a time).
    NoSuchClusters { unknown: Vec<(String, String)> },
    /// `--cluster X`: the cluster exists but has no strategy rows (the
    /// Python tool's `--cluster` named the session's cluster: said with
    /// `reference_hint`, for the commands it had, unless the session
    /// already runs on that cluster).
    NoStrategies {
        arg: String,
        cluster: String,
        reference_hint: bool,
    },
}

/// A name as typed, as the messages repeat it: as a shell takes it (`'upper
/// case'`), a control character escaped (a selection's ESC reached the
/// terminal, and `upper case` read as two words: an outside check).
pub fn typed(arg: &str) -> String {
    crate::model::printable(&crate::model::shell_value(arg))
}

impl std::fmt::Display for SelectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SelectionError::NoSuchCluster {
                arg,
                hint,
                by_flag: true,
            } => write!(
                f,
                "--cluster {}: no cluster has that name or id{hint}; \
                 --cluster takes exact names or ids, --filter-clusters REGEX a pattern",
                typed(arg)
            ),
            SelectionError::NoSuchCluster {
                arg,
                hint,
                by_flag: false,
            } => write!(
                f,
                "cluster {}: no cluster has that name or id{hint}",
                typed(arg)
            ),
            SelectionError::NoSuchClusters { unknown } => {
                let shown: Vec<String> = unknown
                    .iter()
                    .take(UNKNOWN_SHOWN)
                    .map(|(arg, hint)| format!("{}{hint}", typed(arg)))
                    .collect();
                let more = match unknown.len().saturating_sub(UNKNOWN_SHOWN) {
                    0 => String::new(),
                    n => format!(", and {n} more"),
                };
                write!(
                    f,
                    "--cluster: {} names are no cluster's name or id: {}{more}; --cluster takes \
                     exact names or ids, --filter-clusters REGEX a pattern",
                    unknown.len(),
                    shown.join(", ")
                )
            }
            SelectionError::NoStrategies {
                arg,
                cluster,
                reference_hint: false,
            } => write!(
                f,
                "--cluster {}: cluster {cluster} has no strategies, so nothing is selected \
                 (--cluster selects the clusters to manage)",
                typed(arg)
            ),
            SelectionError::NoStrategies {
                arg,
                cluster,
                reference_hint: true,
            } => write!(
                f,
                "--cluster {arg}: cluster {cluster} has no strategies, so nothing is selected. \
                 --cluster selects the clusters to manage; in mz-clusterctl it named the cluster \
                 to run queries on, which is --exec-cluster {arg} here (see README, \
                 \"Migrating from mz-clusterctl\")",
                arg = typed(arg)
            ),
        }
    }
}

/// How many unknown `--cluster` names an error lists.
const UNKNOWN_SHOWN: usize = 20;

impl SelectionError {
    /// `--cluster` names that are no cluster's, each with its hint: one
    /// error naming them all (`None` for none). The one rule of every
    /// command's `--cluster`.
    pub fn of_unknown(mut unknown: Vec<(String, String)>) -> Option<SelectionError> {
        match unknown.len() {
            0 => None,
            1 => unknown
                .pop()
                .map(|(arg, hint)| SelectionError::NoSuchCluster {
                    arg,
                    hint,
                    by_flag: true,
                }),
            _ => Some(SelectionError::NoSuchClusters { unknown }),
        }
    }

    /// `arg` names no cluster among `names` (the user clusters): the one
    /// message and did-you-mean hint of every command, a usage error
    /// (exit 64) wherever the name came from.
    /// `schema`: the `--schema` of our tables, which the command the hint
    /// names takes.
    pub fn no_such_cluster(
        arg: &str,
        names: &[&str],
        by_flag: bool,
        schema: Option<&str>,
    ) -> SelectionError {
        SelectionError::NoSuchCluster {
            arg: arg.to_string(),
            hint: SelectionError::unknown_hint(arg, names, by_flag, schema),
            by_flag,
        }
    }

    /// What [`SelectionError::no_such_cluster`] says after `arg`: the
    /// did-you-mean of a near name, or where the names are.
    pub fn unknown_hint(arg: &str, names: &[&str], by_flag: bool, schema: Option<&str>) -> String {
        // A user cluster's id names no other cluster (Materialize never
        // reuses one): a name a letter or two from it is no better guess.
        let id = ClusterId(arg.to_string()).user_number().is_some();
        // An id in capitals (`U3`): ids are lower case (it offered a
        // cluster named ' u3' rather than the id: an outside check).
        let lower = arg.to_ascii_lowercase();
        let mut hint = if !id && ClusterId(lower.clone()).user_number().is_some() {
            format!(" (cluster ids are lower case: '{lower}')")
        } else if id {
            // (Not "see `history --cluster ID`": history says this too
            // of an id its trail never names.)
            " (an id no live cluster has: a dropped cluster's, or one not made yet)".to_string()
        } else {
            crate::strategy::keys::did_you_mean(arg, names)
        };
        // A CLUSTER argument with no near name: say where the names are
        // (`--cluster` says what it takes instead).
        if hint.is_empty() && !by_flag {
            hint = format!(
                "; `{}` lists the user clusters",
                crate::model::clusterctl_command(schema, "status --all")
            );
        }
        hint
    }
}

impl Selection {
    pub fn all() -> Selection {
        Selection::default()
    }

    pub fn names(names: &[&str]) -> Selection {
        Selection {
            names: names.iter().map(|s| s.to_string()).collect(),
            pattern: None,
        }
    }

    pub fn pattern(re: Regex) -> Selection {
        Selection {
            names: Vec::new(),
            pattern: Some(re),
        }
    }

    /// No `--cluster` and no `--filter-clusters`.
    pub fn is_all(&self) -> bool {
        self.names.is_empty() && self.pattern.is_none()
    }

    /// The selection read against the clusters that exist (their names):
    /// what [`Bound::matches_id`] needs to know which exact arguments are
    /// names. Every command selects through it.
    pub fn against<'n>(&self, live_names: impl IntoIterator<Item = &'n str>) -> Bound<'_> {
        let mut args = Vec::new();
        if !self.names.is_empty() {
            let live: std::collections::HashSet<&str> = live_names.into_iter().collect();
            // The names with blanks of their own, trimmed.
            let blanked: std::collections::HashSet<&str> = live
                .iter()
                .map(|n| n.trim())
                .filter(|t| !live.contains(t))
                .collect();
            // (A trimmed text that is a name is that cluster: `cluster_arg`.)
            for arg in self.args(|n| live.contains(n), |t| blanked.contains(t)) {
                args.push((arg, live.contains(arg)));
            }
        }
        Bound {
            selection: self,
            args,
        }
    }

    /// The exact cluster arguments, read against the clusters that exist
    /// (`is_name`): a `--cluster` value that is a cluster's name whole, as
    /// [`crate::model::cluster_arg`] reads it, means that cluster (`a,b`,
    /// `' spaced '`, ` a,b ` for `a,b`), as for a CLUSTER argument
    /// ([`Snapshot::find_cluster`]); otherwise each of its comma-separated
    /// parts, read so. An empty part (refused by the flag's parser,
    /// `parse_cluster_list`) would name no cluster, so it is refused too,
    /// never skipped.
    fn args(&self, is_name: impl Fn(&str) -> bool, blanked: impl Fn(&str) -> bool) -> Vec<&str> {
        let mut out = Vec::new();
        for raw in &self.names {
            let whole = crate::model::cluster_arg(raw, &is_name, &blanked);
            if is_name(whole) {
                out.push(whole);
            } else {
                out.extend(
                    raw.split(',')
                        .map(|part| crate::model::cluster_arg(part, &is_name, &blanked)),
                );
            }
        }
        out
    }

    /// [`Selection::against`] the snapshot's clusters.
    pub fn in_snapshot(&self, snap: &Snapshot) -> Bound<'_> {
        self.against(snap.clusters.iter().map(|c| c.name.as_str()))
    }

    /// Checks every exact name against the snapshot: each must be a
    /// cluster, and with `need_strategies` one that has strategy rows.
    /// The id of a dropped cluster that strategy rows still mention is
    /// accepted only where those rows are the subject (`rows_of_dropped`:
    /// `strategy ls`, `check`); elsewhere (a plan, `status`) it is no
    /// cluster, and the error says how to remove its rows. Patterns may
    /// select nothing (as in mz-clusterctl); the caller says so.
    pub fn check(
        &self,
        snap: &Snapshot,
        need_strategies: bool,
        rows_of_dropped: bool,
    ) -> Result<(), SelectionError> {
        let mut unknown = Vec::new();
        // Said after the names that are no cluster's (a typo beside the
        // session's cluster was hidden behind it).
        let mut no_strategies = None;
        let selected = self.in_snapshot(snap);
        for arg in selected.args() {
            match snap.find_cluster(arg) {
                Some(c) if need_strategies && !snap.has_rows(&c.id) => {
                    no_strategies.get_or_insert(SelectionError::NoStrategies {
                        arg: arg.to_string(),
                        cluster: format!("{} ({})", c.name, c.id),
                        reference_hint: snap.session_cluster.as_deref() != Some(c.name.as_str()),
                    });
                }
                Some(_) => {}
                None if snap.has_rows(&ClusterId(arg.to_string())) && !rows_of_dropped => {
                    return Err(SelectionError::NoSuchCluster {
                        arg: arg.to_string(),
                        hint: format!(
                            " (strategy rows still name {arg}: a dropped cluster; `{}` removes \
                             them, `{}` moves them to another)",
                            snap.env.command(&format!("strategy rm {arg}")),
                            snap.env.command(&format!("strategy mv {arg} CLUSTER"))
                        ),
                        by_flag: true,
                    });
                }
                None if snap.has_rows(&ClusterId(arg.to_string())) => {}
                None if !unknown.contains(&arg) => unknown.push(arg),
                None => {}
            }
        }
        let names = snap.user_cluster_names();
        let unknown = unknown
            .iter()
            .map(|arg| {
                let hint = SelectionError::unknown_hint(arg, &names, true, None);
                (arg.to_string(), hint)
            })
            .collect();
        match SelectionError::of_unknown(unknown) {
            Some(e) => Err(e),
            None => no_strategies.map_or(Ok(()), Err),
        }
    }

    /// The warning of a command that found nothing to work on because a
    /// pattern selected no cluster with strategies (exact names that select
    /// nothing are refused by [`Selection::check`]); `None` when something
    /// was selected or nothing was asked for. One wording for the plan and
    /// `check`.
    pub fn nothing_selected(&self, selected: usize) -> Option<String> {
        (selected == 0 && !self.is_all())
            .then(|| format!("{} selects no cluster with strategies", self.describe()))
    }

    /// How to show the selection to a person, as a shell takes it:
    /// `--cluster a,b`, `--cluster 'it'\''s odd'` or `--filter-clusters
    /// 'RE'`, each value at most [`DESCRIBED_CHARS`] characters (a pattern
    /// of 100 KB is not echoed whole).
    pub fn describe(&self) -> String {
        let clip = |s: &str| crate::model::clip(s, DESCRIBED_CHARS);
        match (&self.pattern, self.names.is_empty()) {
            (Some(re), _) => format!(
                "--filter-clusters {}",
                crate::model::single_quoted(&clip(re.as_str()))
            ),
            // One flag a value, as given: joined with commas, `--cluster
            // 'a,b' --cluster c` read back as three names, none `a,b`.
            (None, false) => clip(
                &self
                    .names
                    .iter()
                    .map(|n| format!("--cluster {}", crate::model::shell_value(n)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            (None, true) => "all clusters".into(),
        }
    }
}

/// A [`Selection`] read against the clusters that exist. An exact
/// argument that is a cluster's name means that cluster only, never also
/// the cluster whose id it is (a cluster may be named `u3`): names win, as
/// in [`Snapshot::find_cluster`], for every command alike.
pub struct Bound<'a> {
    selection: &'a Selection,
    /// The exact arguments ([`Selection::args`]), each with whether a
    /// cluster has it as its name.
    args: Vec<(&'a str, bool)>,
}

impl Bound<'_> {
    /// Whether the cluster with this id and (if it exists) name is selected.
    pub fn matches_id(&self, id: &ClusterId, name: Option<&str>) -> bool {
        let sel = self.selection;
        if sel.is_all() {
            return true;
        }
        let exact = self
            .args
            .iter()
            .any(|&(arg, taken)| Some(arg) == name || (!taken && arg == id.0));
        if exact {
            return true;
        }
        match &sel.pattern {
            Some(re) => re.is_match(name.unwrap_or(&id.0)),
            None => false,
        }
    }

    /// The exact arguments as read against the live names
    /// ([`Selection::args`]): what to look up elsewhere (the audit trail,
    /// the state rows) when no live cluster has one as its name or id.
    pub fn args(&self) -> impl Iterator<Item = &str> + '_ {
        self.args.iter().map(|&(arg, _)| arg)
    }

    /// The exact arguments that no live cluster (`live`: id and name of
    /// each) has as its name or id: what may still name a dropped cluster
    /// in other data (the audit trail for `history`, state rows for
    /// `wipe-state`).
    pub fn unknown(&self, live: &[(ClusterId, String)]) -> Vec<&str> {
        self.args()
            .filter(|arg| !live.iter().any(|(id, name)| id.0 == *arg || name == arg))
            .collect()
    }

    pub fn matches(&self, c: &Cluster) -> bool {
        self.matches_id(&c.id, Some(&c.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::cluster;

    #[test]
    fn exact_names_do_not_match_prefixes() {
        let mut a = cluster("analytics", vec![]);
        a.id = ClusterId("u2".into());
        let mut dev = cluster("analytics_dev", vec![]);
        dev.id = ClusterId("u9".into());
        let live = ["analytics", "analytics_dev"];
        let s = Selection::names(&["analytics"]);
        assert!(s.against(live).matches(&a));
        assert!(!s.against(live).matches(&dev));
        let by_id = Selection::names(&["u9"]);
        let by_id = by_id.against(live);
        assert!(by_id.matches(&dev) && !by_id.matches(&a));
        let re = Selection::pattern(Regex::new("^analytics").unwrap());
        let re = re.against(live);
        assert!(re.matches(&a) && re.matches(&dev));
        assert!(Selection::all().against(live).matches(&dev));
    }

    #[test]
    fn a_name_of_no_cluster_is_said_with_a_near_name_or_where_the_names_are() {
        let names = ["analytics", "ingest"];
        let said = |arg: &str, by_flag: bool| {
            SelectionError::no_such_cluster(arg, &names, by_flag, None).to_string()
        };
        assert_eq!(
            said("analytcs", true),
            "--cluster analytcs: no cluster has that name or id (did you mean 'analytics'?); \
             --cluster takes exact names or ids, --filter-clusters REGEX a pattern"
        );
        assert_eq!(
            said("zzz", true),
            "--cluster zzz: no cluster has that name or id; --cluster takes exact names or ids, \
             --filter-clusters REGEX a pattern"
        );
        assert_eq!(
            said("analytcs", false),
            "cluster analytcs: no cluster has that name or id (did you mean 'analytics'?)"
        );
        // An id is no typo of a name ("did you mean 'm'?" for u9).
        for by_flag in [true, false] {
            let said = said("u9", by_flag);
            assert!(
                said.contains(
                    "(an id no live cluster has: a dropped cluster's, or one not made yet)"
                ) && !said.contains("did you mean")
                    && !said.contains("status --all"),
                "{said}"
            );
        }
        assert_eq!(
            said("zzz", false),
            "cluster zzz: no cluster has that name or id; `clusterctl status --all` lists the \
             user clusters"
        );
    }

    /// A name as typed is repeated as a shell takes it, a control
    /// character escaped.
    #[test]
    fn a_selection_is_repeated_as_a_shell_takes_it() {
        let said = |arg: &str, by_flag: bool| {
            SelectionError::NoSuchCluster {
                arg: arg.into(),
                hint: String::new(),
                by_flag,
            }
            .to_string()
        };
        assert!(said("upper case", true).starts_with("--cluster 'upper case': no cluster"));
        assert!(said(" spaced", false).starts_with("cluster ' spaced': no cluster"));
        assert!(said("plain", true).starts_with("--cluster plain: no cluster"));
        let esc = said("nope\u{1b}[2Jx", true);
        assert!(
            esc.starts_with("--cluster 'nope\\u{1b}[2Jx':") && !esc.contains('\u{1b}'),
            "{esc}"
        );
    }

    #[test]
    fn a_cluster_without_strategies_is_said_with_the_reference_flag_unless_queries_run_there() {
        let no_rows = |runs_on_it: bool| {
            SelectionError::NoStrategies {
                arg: "ops".into(),
                cluster: "ops".into(),
                reference_hint: !runs_on_it,
            }
            .to_string()
        };
        assert_eq!(
            no_rows(true),
            "--cluster ops: cluster ops has no strategies, so nothing is selected (--cluster \
             selects the clusters to manage)"
        );
        assert!(
            no_rows(false).ends_with(
                "which is --exec-cluster ops here (see README, \"Migrating from mz-clusterctl\")"
            ),
            "{}",
            no_rows(false)
        );
    }

    #[test]
    fn a_pattern_that_selects_nothing_is_said() {
        let re = Selection::pattern(Regex::new("^prod_").expect("a pattern"));
        assert_eq!(
            re.nothing_selected(0).as_deref(),
            Some("--filter-clusters '^prod_' selects no cluster with strategies")
        );
        assert_eq!(re.nothing_selected(2), None, "it selected some");
        assert_eq!(Selection::all().nothing_selected(0), None, "nothing asked");
    }

    #[test]
    fn a_long_selection_is_described_in_part() {
        let long = "a".repeat(100_000);
        let re = Selection::pattern(Regex::new(&long).unwrap());
        let d = re.describe();
        assert!(d.chars().count() < 250 && d.ends_with("…'"), "{d}");
        assert_eq!(
            Selection::names(&["x", "y"]).describe(),
            "--cluster x --cluster y"
        );
        assert_eq!(
            Selection::names(&["a,b", "c"]).describe(),
            "--cluster a,b --cluster c"
        );
        // As a shell takes it: quoted where needed, a quote escaped.
        assert_eq!(
            Selection::names(&["it's odd"]).describe(),
            "--cluster 'it'\\''s odd'"
        );
        let quote = Selection::pattern(Regex::new("^it's").unwrap());
        assert_eq!(quote.describe(), "--filter-clusters '^it'\\''s'");
    }

    #[test]
    fn a_name_wins_over_the_same_text_as_an_id() {
        let mut a = cluster("a", vec![]);
        a.id = ClusterId("u2".into());
        let mut b = cluster("u2", vec![]);
        b.id = ClusterId("u3".into());
        let sel = Selection::names(&["u2"]);
        let bound = sel.against(["a", "u2"]);
        assert!(bound.matches(&b));
        assert!(!bound.matches(&a), "u2 is b's name, not a's id here");
        assert!(!bound.matches_id(&ClusterId("u2".into()), None));
        // Without a cluster of that name, the text is an id.
        let bound = sel.against(["a"]);
        assert!(bound.matches(&a));
        assert!(bound.matches_id(&ClusterId("u2".into()), None));
        // Both arguments: both clusters.
        let both = Selection::names(&["u2", "a"]);
        let both = both.against(["a", "u2"]);
        assert!(both.matches(&a) && both.matches(&b));
    }

    #[test]
    fn a_value_is_a_name_whole_else_names_separated_by_commas() {
        let live = ["a", "b", "a,b", " spaced "];
        let args = |values: &[&str]| {
            let sel = Selection::names(values);
            let bound = sel.against(live);
            bound.args().map(str::to_string).collect::<Vec<_>>()
        };
        assert_eq!(args(&["a,b"]), ["a,b"]);
        assert_eq!(args(&["a, b"]), ["a", "b"]);
        assert_eq!(args(&[" spaced "]), [" spaced "]);
        assert_eq!(args(&[" a "]), ["a"]);
        // A near miss of ' spaced ' is taken as typed (no cluster), as
        // `find_cluster` takes it.
        assert_eq!(args(&["spaced "]), ["spaced "]);
        // Read as `find_cluster` reads a CLUSTER argument: its blanks off,
        // a name whole (`describe` reads for what this selects).
        assert_eq!(args(&[" a,b "]), ["a,b"]);
        let mut ab = cluster("a,b", vec![]);
        ab.id = ClusterId("u7".into());
        let mut a = cluster("a", vec![]);
        a.id = ClusterId("u1".into());
        let sel = Selection::names(&["a,b"]);
        let bound = sel.against(live);
        assert!(bound.matches(&ab) && !bound.matches(&a));
    }

    /// A CLUSTER argument as a selection selects the cluster
    /// `find_cluster` finds for it: `describe` reads what the plan alone
    /// needs for that selection, and shows what `find_cluster` found.
    #[test]
    fn an_argument_selects_the_cluster_find_cluster_finds() {
        let named = |name: &str, id: &str| {
            let mut c = cluster(name, vec![]);
            c.id = ClusterId(id.into());
            c
        };
        let snap = Snapshot {
            clusters: vec![
                named("a", "u1"),
                named("b", "u2"),
                named("a,b", "u7"),
                named(" spaced ", "u8"),
                named("u1", "u9"),
            ],
            ..Snapshot::default()
        };
        for arg in [
            "a", " a ", "a,b", " a,b ", " spaced ", "spaced", "u2", " u2 ", "u1", "u9", "u7",
        ] {
            let found = snap.find_cluster(arg);
            let sel = Selection::names(&[arg]);
            let bound = sel.in_snapshot(&snap);
            if let Some(c) = found {
                assert!(
                    bound.matches(c),
                    "{arg:?} finds {} but does not select it",
                    c.name
                );
            }
        }
    }

    #[test]
    fn check_refuses_what_names_no_cluster_or_no_rows() {
        use crate::model::StrategyRow;
        let mut snap = Snapshot::default();
        for (name, id, rows) in [("a", "u1", true), ("b", "u2", false), ("a,b", "u3", true)] {
            let mut c = cluster(name, vec![]);
            c.id = ClusterId(id.into());
            snap.clusters.push(c);
            if rows {
                snap.strategies.push(StrategyRow {
                    cluster_id: ClusterId(id.into()),
                    strategy_type: "target_size".into(),
                    config: serde_json::json!({"target_size": "25cc"}),
                    updated_at: None,
                    unreadable: None,
                });
            }
        }
        // Rows of a cluster dropped since.
        snap.strategies.push(StrategyRow {
            cluster_id: ClusterId("u9".into()),
            strategy_type: "target_size".into(),
            config: serde_json::json!({"target_size": "25cc"}),
            updated_at: None,
            unreadable: None,
        });
        let check = |names: &[&str], need: bool, dropped: bool| {
            Selection::names(names).check(&snap, need, dropped)
        };
        assert_eq!(check(&["a"], true, false), Ok(()));
        assert_eq!(
            check(&["a,b"], true, false),
            Ok(()),
            "the cluster named a,b"
        );
        assert_eq!(check(&["b"], false, false), Ok(()));
        let no_rows = |arg: &str| SelectionError::NoStrategies {
            arg: arg.into(),
            cluster: "b (u2)".into(),
            reference_hint: true,
        };
        assert_eq!(check(&["b"], true, false), Err(no_rows("b")));
        assert_eq!(check(&["a, b"], true, false), Err(no_rows("b")), "a and b");
        // A name that is no cluster's is said first (it hid behind b).
        match check(&["b,nope_x"], true, false) {
            Err(SelectionError::NoSuchCluster { arg, .. }) => assert_eq!(arg, "nope_x"),
            other => panic!("{other:?}"),
        }
        assert_eq!(check(&["u9"], true, true), Ok(()));
        // An empty name between commas is no cluster, never skipped.
        for value in ["a,", " , "] {
            match check(&[value], false, true) {
                Err(SelectionError::NoSuchCluster { arg, .. }) => assert_eq!(arg, ""),
                other => panic!("{value:?}: {other:?}"),
            }
        }
        match check(&["u9"], true, false) {
            Err(SelectionError::NoSuchCluster { arg, hint, .. }) => {
                assert_eq!(arg, "u9");
                assert!(hint.contains("strategy rm u9"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
        match check(&["a", "zz"], false, true) {
            Err(SelectionError::NoSuchCluster { arg, hint, .. }) => {
                assert_eq!(arg, "zz");
                assert!(!hint.contains("strategy rm"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
        // Several: each named, with its hint (only the first was said).
        let many = check(&["nope_x,a,nope_y,nope_z,nope_y"], false, true)
            .map_err(|e| e.to_string())
            .unwrap_err();
        assert!(
            many.starts_with("--cluster: 3 names are no cluster's name or id: nope_x")
                && many.contains(", nope_y")
                && many.contains(", nope_z")
                && many.ends_with(
                    "--cluster takes exact names or ids, --filter-clusters REGEX a pattern"
                ),
            "{many}"
        );
    }

    #[test]
    fn unknown_arguments_are_those_no_live_cluster_has_as_name_or_id() {
        let live = [
            (ClusterId("u1".into()), "a".to_string()),
            (ClusterId("u2".into()), "b".to_string()),
        ];
        let sel = Selection::names(&["a", "u2,gone", "u9"]);
        let bound = sel.against(live.iter().map(|(_, n)| n.as_str()));
        assert_eq!(bound.unknown(&live), ["gone", "u9"]);
        assert!(Selection::all().against(["a"]).unknown(&live).is_empty());
    }

    /// An id in capitals is said to be one, lower case, not offered a
    /// near name (`U3` offered a cluster named ' u3').
    #[test]
    fn an_id_in_capitals_is_said_to_be_lower_case() {
        let hint = SelectionError::unknown_hint("U3", &[" u3", "b"], true, None);
        assert_eq!(hint, " (cluster ids are lower case: 'u3')");
        let hint = SelectionError::unknown_hint("U11", &["b"], true, None);
        assert_eq!(hint, " (cluster ids are lower case: 'u11')");
        let hint = SelectionError::unknown_hint("Ux", &["ux"], true, None);
        assert_eq!(hint, " (did you mean 'ux'?)");
    }
}
