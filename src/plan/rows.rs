//! The one validator of strategy rows. Which row of a (cluster, type) is in
//! effect, whether each row parses against the live sizes, and whether a
//! cluster's set of rows can work together: decided here, once, and used by
//! the planner, `check`, `status`, `strategy set` and `strategy rm` alike,
//! so a row one command accepts is never refused by another.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rules;
use crate::model::{Cluster, ClusterId, SizeCatalog, StrategyRow, PAUSE};
use crate::strategy::keys::did_you_mean;
use crate::strategy::{StrategyConfig, StrategyKind};

/// How bad a finding is: errors skip the cluster, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// Stable, machine-readable kinds of findings (`check --output json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    DanglingCluster,
    UnknownType,
    UnknownKey,
    InvalidConfig,
    ConflictingStrategies,
    Unmanageable,
    DuplicateRows,
    /// A signal a strategy relies on is unreadable or untrustworthy here.
    SignalUnknown,
    /// The release cannot carry out what a strategy wants (a managed
    /// resize without graceful reconfiguration).
    Unsupported,
    /// A schedule window whose calendar has no start after now.
    Ended,
    /// A `burst` whose size is not above the replicas it would stand in
    /// for: it is never started.
    BurstNotLarger,
    /// A row whose `updated_at` is ahead of the database's clock (written
    /// by hand from a clock that runs ahead): a row written later with
    /// `now()` is taken as older than it until then.
    DatedAhead,
}

/// One problem of a row, or of a cluster's set of rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    /// The row's type; `None` for problems of the set.
    pub strategy_type: Option<String>,
    pub message: String,
}

impl Finding {
    fn new(severity: Severity, code: Code, ty: Option<&str>, message: String) -> Finding {
        Finding {
            severity,
            code,
            strategy_type: ty.map(str::to_string),
            message,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `strategy burst: key 'x': …`, or the message alone for the set.
    pub fn describe(&self) -> String {
        match &self.strategy_type {
            Some(ty) => format!(
                "strategy {}: {}",
                crate::model::strategy_type_shown(ty),
                self.message
            ),
            None => self.message.clone(),
        }
    }

    /// The finding as a reason `strategy set` refuses a row: an unknown
    /// key is not "ignored" there (see [`unknown_keys`]'s text).
    pub fn as_refusal(&self) -> String {
        match self.code {
            Code::UnknownKey => self.describe().replacen(UNKNOWN_KEY_IGNORED, "", 1),
            _ => self.describe(),
        }
    }
}

/// What the planner does with an unknown key, as its warning says it.
const UNKNOWN_KEY_IGNORED: &str = ", ignored";

/// The rows of one cluster that are in effect: the newest per type, with
/// how many older rows of that type are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct InEffect<'a> {
    pub row: &'a StrategyRow,
    /// Older rows of the same (cluster, type), ignored.
    pub older: usize,
    /// Another ignored row has the same `updated_at` as this one.
    pub tied: bool,
}

/// A cluster's rows as the plan guard compares them, from its rows in
/// effect (it was scanning every row of the snapshot for each cluster).
pub fn seen(rows: &[InEffect]) -> crate::model::RowsSeen {
    crate::model::RowsSeen::of(rows.iter().map(|r| (r.row, r.older)))
}

/// One cluster's rows as the plan guard reads them again before a
/// statement: the same rule as the snapshot's, over that cluster's rows.
pub fn seen_of(id: &ClusterId, rows: &[StrategyRow]) -> crate::model::RowsSeen {
    in_effect(rows)
        .get(id)
        .map(|effect| seen(effect))
        .unwrap_or_default()
}

/// The rows in effect, by cluster: for duplicate (cluster, type) rows the
/// newest `updated_at` wins (as in the reference implementation); between
/// rows as new, the config text that sorts last, so the choice never
/// depends on the order the database returns rows in (it guarantees none).
/// Types come in name order.
pub fn in_effect(strategies: &[StrategyRow]) -> BTreeMap<ClusterId, Vec<InEffect<'_>>> {
    let mut by_key: BTreeMap<(&ClusterId, &str), Vec<&StrategyRow>> = BTreeMap::new();
    for row in strategies {
        by_key
            .entry((&row.cluster_id, row.strategy_type.as_str()))
            .or_default()
            .push(row);
    }
    let mut out: BTreeMap<ClusterId, Vec<InEffect>> = BTreeMap::new();
    for ((id, _), group) in by_key {
        let older = group.len() - 1;
        // The config text only decides a tie (serializing every row of
        // every plan would cost a long simulation).
        let newest = group
            .iter()
            .copied()
            .max_by(|a, b| {
                a.updated_at
                    .cmp(&b.updated_at)
                    .then_with(|| a.config.to_string().cmp(&b.config.to_string()))
            })
            .expect("a group has at least one row");
        let tied = group
            .iter()
            .filter(|r| r.updated_at == newest.updated_at)
            .count()
            > 1;
        out.entry(id.clone()).or_default().push(InEffect {
            row: newest,
            older,
            tied,
        });
    }
    out
}

/// Every type a row may have: the strategies, and `pause`.
pub fn known_types() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = StrategyKind::ALL.iter().map(|k| k.as_str()).collect();
    v.push(PAUSE);
    v
}

/// What is said of a type that is none of [`known_types`]: with the
/// closest one, and the list.
pub fn unknown_type(ty: &str) -> String {
    let types = known_types();
    format!(
        "unknown strategy type '{}'{}; known types are: {}",
        crate::model::echoed(ty),
        did_you_mean(ty, &types),
        types.join(", ")
    )
}

/// A `pause` row: `{"reason": "…", "until": "2026-11-22T10:00:00Z"}`, both
/// optional. A pause with an `until` in the past is no longer in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pause {
    pub reason: Option<String>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl Pause {
    pub fn in_force(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.until.is_none_or(|t| t > now)
    }
}

/// What a cluster's rows amount to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validated {
    /// The valid strategies, in priority order.
    pub configs: Vec<StrategyConfig>,
    /// The known strategy types of the rows, valid or not, in priority order.
    pub kinds: Vec<StrategyKind>,
    /// `Some` when a `pause` row is in effect.
    pub paused: Option<Pause>,
    pub findings: Vec<Finding>,
}

impl Validated {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }

    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }
}

/// Validates one cluster's rows in effect. `cluster` is `None` for rows of a
/// cluster that does not exist (dropped). Pure.
pub fn validate(cluster: Option<&Cluster>, rows: &[InEffect], sizes: &SizeCatalog) -> Validated {
    let mut v = Validated::default();
    for InEffect { row, older, tied } in rows {
        let ty = row.strategy_type.as_str();
        // What replaces them with one: a pause is written by its own
        // command (`strategy set … pause` refuses it).
        let replaces = match ty {
            PAUSE => "`clusterctl strategy pause` replaces them with one (`strategy resume` removes them)",
            _ => "`clusterctl strategy set` replaces them with one",
        };
        if *tied {
            v.findings.push(Finding::new(
                Severity::Warning,
                Code::DuplicateRows,
                Some(ty),
                format!(
                    "{} rows for strategy '{ty}' share the newest updated_at; using the one whose \
                     config sorts last ({}); {replaces}",
                    older + 1,
                    row.config
                ),
            ));
        } else if *older > 0 {
            v.findings.push(Finding::new(
                Severity::Warning,
                Code::DuplicateRows,
                Some(ty),
                format!(
                    "{} rows for strategy '{ty}'; using the newest (updated_at {}); \
                     {replaces}",
                    older + 1,
                    row.updated_at
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "unknown".into())
                ),
            ));
        }
        match &row.unreadable {
            Some(why) => v.findings.push(Finding::new(
                Severity::Error,
                Code::InvalidConfig,
                Some(ty),
                format!("the stored config cannot be read: {why}"),
            )),
            None => validate_row(ty, &row.config, sizes, &mut v),
        }
    }
    v.configs.sort_by_key(|c| c.kind().priority());
    v.kinds.sort();
    match cluster {
        None => {
            let id = rows
                .first()
                .map(|r| r.row.cluster_id.0.as_str())
                .unwrap_or("?");
            v.findings.push(Finding::new(
                Severity::Error,
                Code::DanglingCluster,
                None,
                dangling(id, false, None),
            ));
        }
        Some(cluster) => {
            for message in rules::combination_errors(cluster, &v.kinds) {
                v.findings.push(Finding::new(
                    Severity::Error,
                    Code::ConflictingStrategies,
                    None,
                    message,
                ));
            }
            // A conflict of two rows, as a combination is: whichever row a
            // write brings is refused (a burst row written after the
            // target size's was accepted: an outside check).
            for message in rules::name_conflicts(cluster, &v.configs) {
                v.findings.push(Finding::new(
                    Severity::Error,
                    Code::ConflictingStrategies,
                    None,
                    message,
                ));
            }
        }
    }
    v
}

/// Rows of `id`, which no cluster has: what to remove them with. Only the
/// id of a dropped cluster (`u7`) is removed with `strategy rm`, unless a
/// cluster is named like it (`shadowed`: a name wins, so `strategy rm u7`
/// removed that cluster's rows: an outside check); anything else (a name
/// where the id belongs, an empty or quoted id) with SQL, since `strategy
/// rm etl` removes the rows of the cluster named etl, not this one's.
/// Said for the tables of `schema` (`--schema`): a fix without it, run as
/// said, removed another installation's rows (an outside check).
fn dangling(id: &str, shadowed: bool, schema: Option<&str>) -> String {
    let is_id =
        id.len() > 1 && id.starts_with(['u', 's']) && id[1..].bytes().all(|b| b.is_ascii_digit());
    let table = crate::ddl::table_said(schema, "mz_cluster_strategies");
    let sql = format!(
        "SQL: DELETE FROM {table} WHERE cluster_id = {}",
        crate::ddl::literal_said(id)
    );
    let command = |sub: String| crate::model::clusterctl_command(schema, &sub);
    let (shown, how, hint) = match (is_id, shadowed) {
        // A blue/green deployment drops the cluster the rows stayed with
        // after the swap: they belong on the one serving now.
        (true, false) => (
            id.to_string(),
            format!(
                "`{}`, or move them to the cluster now serving its workload (after a \
                 blue/green swap) with `{}`",
                command(format!("strategy rm {id}")),
                command(format!("strategy mv {id} CLUSTER"))
            ),
            "dropped?",
        ),
        (true, true) => (
            id.to_string(),
            format!(
                "{sql} (`{}` would remove the rows of the cluster named {id})",
                command(format!("strategy rm {id}"))
            ),
            "dropped?",
        ),
        (false, _) => (
            crate::ddl::literal_said(id),
            sql,
            "a name where the id belongs?",
        ),
    };
    format!("no cluster has id {shown} ({hint}); remove its rows with {how}")
}

/// [`validate`] of the rows of cluster `id` against the snapshot's
/// catalog and sizes: rows of an id no cluster has, where a cluster is
/// named like that id, are told to be removed with SQL ([`dangling`]), in
/// the schema the rows were read from.
/// What the plan and `check` judge rows by.
pub fn validate_in(
    snap: &crate::model::Snapshot,
    id: &ClusterId,
    cluster: Option<&Cluster>,
    rows: &[InEffect],
) -> Validated {
    let mut v = validate(cluster, rows, &snap.sizes);
    let ahead = snap.now + chrono::Duration::seconds(crate::model::CLOCK_SLACK_S);
    for InEffect { row, .. } in rows {
        if let Some(at) = row.updated_at.filter(|at| *at > ahead) {
            let ty = row.strategy_type.as_str();
            v.findings.push(Finding::new(
                Severity::Warning,
                Code::DatedAhead,
                Some(ty),
                format!(
                    "its row is dated {} ahead of the database's clock ({}): a row of that type \
                     written by hand with now() is taken as older until then (`clusterctl \
                     strategy set` writes past it)",
                    crate::model::human_duration((at - snap.now).num_seconds().unsigned_abs()),
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
    }
    let shadowed = cluster.is_none() && snap.clusters.iter().any(|c| c.name == id.0);
    let schema = snap.env.schema.as_deref();
    if shadowed || schema.is_some() {
        for f in &mut v.findings {
            if f.code == Code::DanglingCluster {
                f.message = dangling(&id.0, shadowed, schema);
            }
        }
    }
    v
}

/// One row: its type, its config against the sizes, its unknown keys.
fn validate_row(ty: &str, config: &serde_json::Value, sizes: &SizeCatalog, v: &mut Validated) {
    if ty == PAUSE {
        let errors_before = v.errors().count();
        match config {
            serde_json::Value::Object(o) => {
                if o.get("reason")
                    .is_some_and(|r| !r.is_string() && !r.is_null())
                {
                    v.findings.push(Finding::new(
                        Severity::Error,
                        Code::InvalidConfig,
                        Some(ty),
                        "key 'reason': must be a string".into(),
                    ));
                }
                if o.get("until")
                    .is_some_and(|u| !u.is_null() && pause_until(config).is_none())
                {
                    v.findings.push(Finding::new(
                        Severity::Error,
                        Code::InvalidConfig,
                        Some(ty),
                        "key 'until': must be an RFC 3339 time like \"2026-11-22T10:00:00Z\""
                            .into(),
                    ));
                }
                unknown_keys(ty, config, &["reason", "until"], v);
            }
            _ => v.findings.push(Finding::new(
                Severity::Error,
                Code::InvalidConfig,
                Some(ty),
                "config of a pause row must be a JSON object ({} or {\"reason\": \"...\"})".into(),
            )),
        }
        // An invalid pause (an `until` that is not a time) is reported as
        // invalid, the cluster left alone all the same: read as a pause
        // without end it looked deliberate, and only `check` said otherwise.
        if v.errors().count() == errors_before {
            v.paused = Some(Pause {
                reason: pause_reason(config),
                until: pause_until(config),
            });
        }
        return;
    }
    let Some(kind) = StrategyKind::parse(ty) else {
        v.findings.push(Finding::new(
            Severity::Error,
            Code::UnknownType,
            Some(ty),
            unknown_type(ty),
        ));
        return;
    };
    v.kinds.push(kind);
    let known = kind.key_names();
    match StrategyConfig::parse(kind, config, sizes) {
        Ok((cfg, _)) => v.configs.push(cfg),
        Err(e) => {
            // A misspelt key is often why a required one is missing.
            let hints: String = config
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| !known.contains(&k.as_str()))
                        .map(|k| {
                            let shown = crate::model::echoed(k);
                            format!("; unknown key '{shown}'{}", did_you_mean(k, &known))
                        })
                        .collect()
                })
                .unwrap_or_default();
            v.findings.push(Finding::new(
                Severity::Error,
                Code::InvalidConfig,
                Some(ty),
                format!("{e}{hints}"),
            ));
        }
    }
    unknown_keys(ty, config, &known, v);
}

fn unknown_keys(ty: &str, config: &serde_json::Value, known: &[&str], v: &mut Validated) {
    let Some(obj) = config.as_object() else {
        return;
    };
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        v.findings.push(Finding::new(
            Severity::Warning,
            Code::UnknownKey,
            Some(ty),
            format!(
                "unknown config key '{}'{}{UNKNOWN_KEY_IGNORED}; keys of {ty} are: {}",
                crate::model::echoed(key),
                did_you_mean(key, known),
                known.join(", ")
            ),
        ));
    }
}

/// The reason given with a `pause` row (`{"reason": "..."}`), if any.
pub fn pause_reason(config: &serde_json::Value) -> Option<String> {
    config
        .get("reason")
        .and_then(|r| r.as_str())
        .filter(|r| !r.trim().is_empty())
        .map(str::to_string)
}

/// How long a pause holds, in the notes that say it: ` until T (the pause
/// expires) or`, to stand before "until `clusterctl strategy resume …`";
/// nothing for a pause without an `until`. One form for the plan's note and
/// `strategy mv`'s.
pub fn pause_ends(until: Option<chrono::DateTime<chrono::Utc>>) -> String {
    until
        .map(|t| {
            format!(
                " until {} (the pause expires) or",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
        .unwrap_or_default()
}

/// When a `pause` row expires (`{"until": "…"}`), if it says.
pub fn pause_until(config: &serde_json::Value) -> Option<chrono::DateTime<chrono::Utc>> {
    crate::model::utc_time(config.get("until")?.as_str()?)
}

#[cfg(test)]
mod echo_tests {
    use super::*;

    /// A huge value written by hand is quoted cut, with its length, in
    /// every message that names it: a size, a key, a type, a string.
    #[test]
    fn a_huge_value_is_quoted_cut() {
        let huge = "x".repeat(100_000);
        let sizes = crate::model::SizeCatalog::cloud_defaults();
        let rows = [
            StrategyRow {
                cluster_id: ClusterId("u1".into()),
                strategy_type: "target_size".into(),
                config: serde_json::json!({"target_size": huge, huge.clone(): 1}),
                updated_at: None,
                unreadable: None,
            },
            StrategyRow {
                cluster_id: ClusterId("u1".into()),
                strategy_type: huge.clone(),
                config: serde_json::json!({}),
                updated_at: None,
                unreadable: None,
            },
            StrategyRow {
                cluster_id: ClusterId("u1".into()),
                strategy_type: "idle_suspend".into(),
                config: serde_json::json!({"idle_after_s": huge}),
                updated_at: None,
                unreadable: None,
            },
        ];
        for row in &rows {
            let in_effect = [InEffect {
                row,
                older: 0,
                tied: false,
            }];
            let cluster = crate::model::Cluster::empty(ClusterId("u1".into()), "c");
            let v = validate(Some(&cluster), &in_effect, &sizes);
            assert!(!v.findings.is_empty());
            for f in &v.findings {
                let text = f.describe();
                assert!(
                    text.len() < 2_000,
                    "{} bytes: {}…",
                    text.len(),
                    &text[..200]
                );
                assert!(text.contains("x… (100000 characters)"), "{text}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(ty: &str, config: serde_json::Value) -> StrategyRow {
        StrategyRow {
            cluster_id: ClusterId("u2".into()),
            strategy_type: ty.into(),
            config,
            updated_at: None,
            unreadable: None,
        }
    }

    /// One row alone, validated on a cluster without replicas.
    fn validated(r: StrategyRow) -> Validated {
        let rows = [r];
        let effect = in_effect(&rows);
        let cluster = crate::strategy::testutil::cluster("c", vec![]);
        validate(
            Some(&cluster),
            &effect[&ClusterId("u2".into())],
            &SizeCatalog::cloud_defaults(),
        )
    }

    fn codes(ty: &str, cfg: serde_json::Value) -> Vec<Code> {
        validated(row(ty, cfg))
            .findings
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn a_pause_says_its_end_when_it_has_one() {
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0);
        assert_eq!(
            pause_ends(t),
            " until 2027-01-15T08:00:00Z (the pause expires) or"
        );
        assert_eq!(pause_ends(None), "");
    }

    #[test]
    fn a_pause_is_in_force_before_its_end_not_at_it() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let until = |s: i64| Pause {
            reason: None,
            until: Some(now + chrono::TimeDelta::seconds(s)),
        };
        assert!(Pause::default().in_force(now), "no end: in force");
        assert!(until(1).in_force(now));
        assert!(!until(0).in_force(now), "it ends at its until");
        assert!(!until(-1).in_force(now));
    }

    #[test]
    fn a_pause_gives_its_reason_when_it_says_one() {
        assert_eq!(
            pause_reason(&json!({"reason": "incident 42"})),
            Some("incident 42".into())
        );
        assert_eq!(pause_reason(&json!({"reason": "  "})), None, "blank");
        assert_eq!(pause_reason(&json!({"reason": 42})), None, "not text");
        assert_eq!(pause_reason(&json!({})), None);
    }

    #[test]
    fn strategy_set_refuses_an_unknown_key_without_saying_it_is_ignored() {
        let v = validated(row(
            "target_size",
            json!({"target_size": "25cc", "colour": 1}),
        ));
        let f = v
            .findings
            .iter()
            .find(|f| f.code == Code::UnknownKey)
            .expect("the unknown key is found");
        assert!(
            f.describe().contains("'colour', ignored;"),
            "{}",
            f.describe()
        );
        assert_eq!(
            f.as_refusal(),
            "strategy target_size: unknown config key 'colour'; keys of target_size are: \
             target_size, replica_name, allow_downtime"
        );
        let other = Finding::new(
            Severity::Error,
            Code::InvalidConfig,
            Some("burst"),
            "key 'x', ignored".into(),
        );
        assert_eq!(
            other.as_refusal(),
            other.describe(),
            "only an unknown key's"
        );
    }

    #[test]
    fn validation_cases() {
        assert!(codes("target_size", json!({"target_size": "25cc"})).is_empty());
        assert_eq!(
            codes("target_size", json!({"target_size": "80cc"})),
            [Code::InvalidConfig]
        );
        assert_eq!(
            codes("idle_suspend", json!({"idle_after_s": "1h"})),
            [Code::InvalidConfig]
        );
        assert_eq!(
            codes("target_size", json!({"target_sise": "25cc"})),
            [Code::InvalidConfig, Code::UnknownKey]
        );
        assert_eq!(codes("idle_suspnd", json!({})), [Code::UnknownType]);
        // An empty or blank type is named so (it read `strategy : …`).
        for (ty, shown) in [("", "(empty)"), ("  ", "(blank)")] {
            let v = validated(row(ty, json!({})));
            let said: Vec<String> = v.findings.iter().map(Finding::describe).collect();
            assert!(
                said.iter()
                    .any(|d| d.starts_with(&format!("strategy {shown}: unknown strategy type"))),
                "{said:?}"
            );
        }
        assert!(codes("pause", json!({})).is_empty());
        assert!(codes("pause", json!({"reason": "incident 42"})).is_empty());
        assert_eq!(codes("pause", json!({"reason": 1})), [Code::InvalidConfig]);
        assert_eq!(codes("pause", json!([])), [Code::InvalidConfig]);
        assert_eq!(
            codes(
                "idle_suspend",
                json!({"idle_after_s": 10_000_000_000_000_000u64})
            ),
            [Code::InvalidConfig]
        );
    }

    #[test]
    fn an_unreadable_config_is_refused_with_its_reason() {
        let mut r = row("target_size", serde_json::Value::Null);
        r.unreadable = Some("key 'target_size': number out of range".into());
        let v = validated(r);
        let messages: Vec<String> = v.findings.iter().map(|f| f.message.clone()).collect();
        assert_eq!(
            messages,
            ["the stored config cannot be read: key 'target_size': number out of range"]
        );
        assert_eq!(v.findings[0].code, Code::InvalidConfig);
        assert!(v.configs.is_empty());
    }

    #[test]
    fn the_newest_row_of_a_type_is_in_effect() {
        let at = |h| {
            chrono::DateTime::parse_from_rfc3339(&format!("2026-11-21T{h:02}:00:00Z"))
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok()
        };
        let mut a = row("target_size", json!({"target_size": "25cc"}));
        a.updated_at = at(10);
        let mut b = row("target_size", json!({"target_size": "50cc"}));
        b.updated_at = at(11);
        let rows = [a, b.clone()];
        let effect = in_effect(&rows);
        let got = &effect[&ClusterId("u2".into())];
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].row, &b);
        assert_eq!(got[0].older, 1);
        assert!(!got[0].tied);
    }

    /// The guard's fingerprint changes with whatever changes what the
    /// cluster's rows say, and only with that (not with the order the
    /// database returns them in).
    #[test]
    fn the_rows_seen_change_with_what_the_rows_say() {
        let at = |h| {
            chrono::DateTime::parse_from_rfc3339(&format!("2026-11-21T{h:02}:00:00Z"))
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok()
        };
        let stamped = |ty: &str, config, t| StrategyRow {
            updated_at: t,
            ..row(ty, config)
        };
        let id = ClusterId("u2".into());
        let rows = vec![
            stamped("target_size", json!({"target_size": "25cc"}), at(10)),
            stamped("target_size", json!({"target_size": "50cc"}), at(11)),
            stamped("idle_suspend", json!({"idle_after_s": 600}), None),
            stamped("pause", json!({}), at(9)),
            stamped("pause", json!({}), at(9)),
        ];
        let got = seen_of(&id, &rows);
        assert_eq!(got, seen(&in_effect(&rows)[&id]), "one rule");
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(seen_of(&id, &reversed), got, "in any order");
        assert_eq!(
            seen_of(&ClusterId("u3".into()), &rows),
            crate::model::RowsSeen::default(),
            "another cluster's rows are not this one's"
        );
        let mut changed = Vec::new();
        // A config changed by SQL, updated_at kept.
        let mut by_hand = rows.clone();
        by_hand[2].config = json!({"idle_after_s": 60});
        changed.push(by_hand);
        // An older row of the same type gone.
        changed.push(rows[1..].to_vec());
        // A row of a new type.
        let mut more = rows.clone();
        more.push(stamped("burst", json!({}), at(1)));
        changed.push(more);
        // The newest row made older than the one it hid.
        let mut older = rows.clone();
        older[1].updated_at = at(8);
        changed.push(older);
        // Unreadable.
        let mut unreadable = rows.clone();
        unreadable[2].unreadable = Some("too deep".into());
        changed.push(unreadable);
        for (i, c) in changed.iter().enumerate() {
            assert_ne!(seen_of(&id, c), got, "change {i}");
        }
        // An ignored row's config is not what the cluster runs.
        let mut ignored = rows.clone();
        ignored[0].config = json!({"target_size": "100cc"});
        assert_eq!(seen_of(&id, &ignored), got);
    }

    #[test]
    fn an_invalid_pause_is_invalid_not_a_pause_without_end() {
        let rows = [
            row("pause", json!({"until": "tomorrow"})),
            row("target_size", json!({"target_size": "50cc"})),
        ];
        let effect = in_effect(&rows);
        let v = validate(
            None,
            &effect[&ClusterId("u2".into())],
            &SizeCatalog::cloud_defaults(),
        );
        assert!(v.paused.is_none());
        assert!(!v.is_valid());
        let rows = [row("pause", json!({"until": "2026-11-22T10:00:00Z"}))];
        let effect = in_effect(&rows);
        let v = validate(
            None,
            &effect[&ClusterId("u2".into())],
            &SizeCatalog::cloud_defaults(),
        );
        assert!(v.paused.is_some_and(|p| p.until.is_some()));
    }

    /// Duplicate rows are replaced with one by the command that writes
    /// their type: a pause's is `strategy pause` (`strategy set` refuses
    /// it, though the warning named it).
    #[test]
    fn duplicate_rows_name_the_command_that_replaces_them() {
        for (ty, config, command) in [
            (
                "pause",
                json!({}),
                "`clusterctl strategy pause` replaces them",
            ),
            (
                "target_size",
                json!({"target_size": "50cc"}),
                "`clusterctl strategy set` replaces them",
            ),
        ] {
            let rows = [row(ty, config.clone()), row(ty, config)];
            let effect = in_effect(&rows);
            let v = validate(
                None,
                &effect[&ClusterId("u2".into())],
                &SizeCatalog::cloud_defaults(),
            );
            let said: Vec<&str> = v
                .findings
                .iter()
                .filter(|f| f.code == Code::DuplicateRows)
                .map(|f| f.message.as_str())
                .collect();
            assert!(
                said.len() == 1 && said[0].contains(command),
                "{ty}: {said:?}"
            );
        }
    }

    #[test]
    fn rows_as_new_as_each_other_are_chosen_whatever_their_order() {
        let mut a = row("target_size", json!({"target_size": "50cc", "bogus": 1}));
        let mut b = row("target_size", json!({"target_size": "100cc"}));
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok();
        (a.updated_at, b.updated_at) = (t, t);
        let id = ClusterId("u2".into());
        let one = [a.clone(), b.clone()];
        let other = [b, a];
        let (x, y) = (in_effect(&one), in_effect(&other));
        assert_eq!(x[&id][0].row, y[&id][0].row);
        assert!(x[&id][0].tied);
        let v = validate(None, &x[&id], &SizeCatalog::cloud_defaults());
        assert!(
            v.findings.iter().any(|f| f.code == Code::DuplicateRows
                && f.message.contains("share the newest updated_at")),
            "{:?}",
            v.findings
        );
    }

    #[test]
    fn typo_hints_name_the_likely_key() {
        let rows = [row("target_size", json!({"target_sise": "25cc"}))];
        let effect = in_effect(&rows);
        let v = validate(
            None,
            &effect[&ClusterId("u2".into())],
            &SizeCatalog::cloud_defaults(),
        );
        let msg = v
            .errors()
            .next()
            .map(|f| f.message.clone())
            .unwrap_or_default();
        assert!(
            msg.contains("unknown key 'target_sise' (did you mean 'target_size'?)"),
            "{msg}"
        );
        assert!(v.findings.iter().any(|f| f.code == Code::DanglingCluster));
    }

    /// A dangling id no shell word names (empty, quoted) is removed with
    /// SQL: `clusterctl strategy rm ` with no argument was suggested.
    #[test]
    fn a_dangling_id_no_command_can_name_is_given_the_sql() {
        let dangling = |id: &str| {
            let mut r = row("target_size", json!({"target_size": "25cc"}));
            r.cluster_id = ClusterId(id.into());
            let rows = [r];
            let effect = in_effect(&rows);
            let v = validate(
                None,
                &effect[&ClusterId(id.into())],
                &SizeCatalog::cloud_defaults(),
            );
            v.findings
                .iter()
                .find(|f| f.code == Code::DanglingCluster)
                .map(|f| f.message.clone())
                .unwrap_or_default()
        };
        assert!(dangling("u9").ends_with(
            "remove its rows with `clusterctl strategy rm u9`, or move them to the cluster now \
             serving its workload (after a blue/green swap) with `clusterctl strategy mv u9 \
             CLUSTER`"
        ));
        assert_eq!(
            dangling("it's"),
            "no cluster has id 'it''s' (a name where the id belongs?); remove its rows with \
             SQL: DELETE FROM mz_cluster_strategies WHERE cluster_id = 'it''s'"
        );
        // A cluster's name in place of its id: `strategy rm etl` would
        // remove the rows of the cluster named etl.
        assert!(dangling("etl").ends_with("WHERE cluster_id = 'etl'"));
        assert!(dangling("u").ends_with("WHERE cluster_id = 'u'"));
        assert!(dangling("").ends_with("WHERE cluster_id = ''"));
    }
}
