//! A saved plan (`apply --plan FILE`): the JSON document of
//! `dry-run -o json`, reviewed by an operator, applied only as it was
//! reviewed. The run plans afresh under the lease and executes that plan
//! only when its statements are the saved ones, in the same order;
//! otherwise nothing is done and the error says what changed. So what
//! runs is always what the region calls for now, and never more than
//! what was approved (Terraform's saved plans; there, a plan whose state
//! changed is refused as stale).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::select::Selection;
use super::Plan;
use crate::model::{ClusterId, Snapshot, MASK};

/// What a saved plan approved: each statement, with its cluster, in the
/// order it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedPlan {
    /// When the plan was made (the database's clock).
    pub planned_at: DateTime<Utc>,
    /// The environment (region) it was made for, when the plan says.
    pub environment_id: Option<String>,
    /// The `--schema` of the installation it was made for (`None`: the
    /// default one).
    pub schema: Option<String>,
    /// The clusters the plan covered (selected and with strategies), by id.
    pub clusters: Vec<String>,
    /// Their names, as the plan said them, in the same order.
    names: Vec<String>,
    pub statements: Vec<Statement>,
    /// What the file says each statement does, in the same order
    /// ([`what_it_does`]): an edit of those alone ("drop r1" over a CREATE)
    /// was applied, as only the statements were compared (an outside
    /// check).
    described: Vec<serde_json::Value>,
}

/// What an action says it does, as its JSON has it: kind, cluster (and
/// its id), replica, size, replication factor, the strategy it is for and
/// how a managed resize is carried out (its reasons and notes may differ
/// between a dry-run and the apply: times pass). The resize's form was not
/// compared: a plan approved as a graceful resize ran as a restart, with
/// downtime, once the region's settings changed (an outside check).
fn what_it_does(action: &serde_json::Value) -> serde_json::Value {
    let keys = [
        "kind",
        "cluster",
        "cluster_id",
        "replica",
        "size",
        "replication_factor",
        "strategy",
        RESIZE,
    ];
    let picked: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|k| (k.to_string(), action.get(*k).cloned().unwrap_or_default()))
        .collect();
    serde_json::Value::Object(picked)
}

/// The key of a managed resize's form in an action's JSON.
const RESIZE: &str = "resize";

/// A resize's form as an action's JSON names it, for the operator.
fn resize_form(form: &serde_json::Value) -> &'static str {
    match form.as_str() {
        Some("background") => "gracefully, in the background",
        Some("wait_until_ready") => "gracefully, waiting until the new replicas are ready",
        Some("restart") => "with a restart (downtime)",
        _ => "in no stated way",
    }
}

/// One statement of a plan and the cluster it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub cluster_id: String,
    pub cluster: String,
    pub sql: String,
}

impl Statement {
    /// The statement for the operator's terminal. A saved one is read from
    /// a file anyone may have edited, and a name may hold any character:
    /// control characters are shown escaped, so neither can move the
    /// cursor or start a line that reads as one of ours.
    /// With `id`, the cluster's id too: what tells apart a cluster dropped
    /// and created again under its name.
    fn said(&self, id: bool) -> String {
        let cluster = match id {
            true => format!("{} ({})", self.cluster, self.cluster_id),
            false => self.cluster.clone(),
        };
        crate::model::printable(&format!("{} (cluster {cluster})", self.sql))
    }
}

/// The parts of `dry-run -o json` a saved plan is read from; the rest is
/// ignored (notes, signals: what the operator read, not what was approved).
#[derive(Deserialize)]
struct Document {
    format_version: u32,
    command: String,
    ok: bool,
    /// Skipped, not held: read once the envelope says it is a dry-run's
    /// ([`WithResult`]). A tree of JSON values takes some forty times the
    /// text, many gigabytes for a file near the bound.
    result: Option<serde::de::IgnoredAny>,
}

/// The document again, for its result only.
#[derive(Deserialize)]
struct WithResult {
    result: DocResult,
}

#[derive(Deserialize)]
struct DocResult {
    plan: DocPlan,
}

#[derive(Deserialize)]
struct DocPlan {
    now: DateTime<Utc>,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    clusters: Vec<DocCluster>,
}

#[derive(Deserialize)]
struct DocCluster {
    cluster_id: String,
    cluster: String,
    actions: Vec<DocAction>,
}

#[derive(Deserialize)]
struct DocAction {
    sql: String,
    /// The rest of the action, for [`what_it_does`].
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// How to make a plan to save, said by every refusal of a file.
const HOW: &str = "save one with `clusterctl dry-run --out FILE`";

impl SavedPlan {
    /// Reads a saved plan from the text of `dry-run -o json`, whose
    /// envelope's `format_version` must be `version` (the shell's JSON
    /// format). The error says why the text is no such plan (never what it
    /// holds).
    pub fn parse(text: &str, version: u32) -> Result<SavedPlan, String> {
        // An editor (or PowerShell's `Out-File -Encoding utf8`) may start
        // the reviewed file with a byte order mark, which RFC 8259 lets a
        // reader ignore; serde_json refuses it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc: Document = serde_json::from_str(text).map_err(|e| {
            format!(
                "not the JSON of `dry-run -o json` (line {}, column {}: {}); {HOW}",
                e.line(),
                e.column(),
                json_error_kind(&e)
            )
        })?;
        if doc.format_version != version {
            return Err(format!(
                "saved in format version {} where this clusterctl reads {version}; {HOW} with \
                 this clusterctl",
                doc.format_version,
            ));
        }
        if doc.command != "dry-run" {
            return Err(format!(
                "the output of `{}`, not of `dry-run`; {HOW}",
                crate::model::printable(&doc.command)
            ));
        }
        if !(doc.ok && doc.result.is_some()) {
            return Err(format!("the output of a dry-run that failed; {HOW}"));
        }
        let plan = serde_json::from_str::<WithResult>(text)
            .map_err(|e| format!("not a dry-run's plan ({}); {HOW}", json_error_kind(&e)))?
            .result
            .plan;
        let described = plan
            .clusters
            .iter()
            .flat_map(|c| &c.actions)
            .map(|a| what_it_does(&serde_json::Value::Object(a.rest.clone())))
            .collect();
        Ok(SavedPlan {
            planned_at: plan.now,
            environment_id: plan.environment_id,
            schema: plan.schema,
            clusters: plan.clusters.iter().map(|c| c.cluster_id.clone()).collect(),
            names: plan.clusters.iter().map(|c| c.cluster.clone()).collect(),
            described,
            statements: plan
                .clusters
                .into_iter()
                .flat_map(|c| {
                    let (id, name) = (c.cluster_id, c.cluster);
                    c.actions.into_iter().map(move |a| Statement {
                        cluster_id: id.clone(),
                        cluster: name.clone(),
                        sql: a.sql,
                    })
                })
                .collect(),
        })
    }

    /// Keeps of `fresh` the clusters the saved plan covered (what was not
    /// reviewed is left alone, whatever the selection), and admits it when
    /// it then runs exactly the saved statements, in their order; else
    /// says what differs, for the operator. `fresh` was planned from
    /// `snap` with `selection`: a saved cluster that is in `snap` and that
    /// the selection does not take is left out by it.
    pub fn admit(
        &self,
        fresh: &mut Plan,
        snap: &Snapshot,
        selection: &Selection,
    ) -> Result<(), String> {
        let bound = selection.in_snapshot(snap);
        let left_out: Vec<&str> = self
            .clusters
            .iter()
            .filter(|id| {
                snap.cluster(&ClusterId(id.to_string()))
                    .is_some_and(|c| !bound.matches(c))
            })
            .map(String::as_str)
            .collect();
        self.admit_selected(fresh, &left_out, &selection.describe())
    }

    /// [`SavedPlan::admit`], with the saved clusters the selection (as
    /// `described`) leaves out.
    fn admit_selected(
        &self,
        fresh: &mut Plan,
        left_out: &[&str],
        described: &str,
    ) -> Result<(), String> {
        // Cluster ids and names repeat from one region to the next
        // (staging's u2 is production's u2): a plan reviewed for one is
        // never applied to another.
        let save_here = format!(
            "Save a plan here (`{}`), review it and apply that",
            crate::model::clusterctl_command(fresh.schema.as_deref(), "dry-run --out FILE")
        );
        match (&self.environment_id, &fresh.environment_id) {
            (Some(saved), Some(here)) if saved != here => {
                return Err(crate::model::printable(&format!(
                    "the plan was saved for environment {saved}, and this is {here}; nothing \
                     was done. {save_here}"
                )));
            }
            // Every dry-run here records it: a plan without one (edited by
            // hand, or saved where the server had none) cannot show it was
            // saved for this region (it was applied unchecked: an outside
            // check).
            (None, Some(here)) => {
                return Err(crate::model::printable(&format!(
                    "the plan does not say which environment it was saved for (no \
                     environment_id), and this is {here}; nothing was done. {save_here}"
                )));
            }
            _ => {}
        }
        // Another installation's plan (`--schema`): its statements were
        // judged against that one's rows, and would be audited, and leased,
        // in this one's tables (applied without `--schema`, it ran under
        // the default installation's lease: an outside check).
        if self.schema != fresh.schema {
            let said = |s: &Option<String>| match s {
                Some(s) => format!("--schema {}", crate::model::shell_value(s)),
                None => "the default schema".to_string(),
            };
            return Err(crate::model::printable(&format!(
                "the plan was saved for the tables of {}, and this run reads those of {}; \
                 nothing was done. Apply it with the same --schema it was saved with",
                said(&self.schema),
                said(&fresh.schema)
            )));
        }
        let unplanned = self.unplanned(fresh, left_out);
        fresh
            .clusters
            .retain(|cp| self.clusters.contains(&cp.cluster_id.0));
        // Statements of a cluster the selection left out are not planned
        // now for that reason alone: said first, as the reason, not as a
        // change of plan.
        let unselected: Vec<&Statement> = self
            .statements
            .iter()
            .filter(|s| left_out.contains(&s.cluster_id.as_str()))
            .collect();
        let others: Vec<Statement> = self
            .statements
            .iter()
            .filter(|s| !left_out.contains(&s.cluster_id.as_str()))
            .cloned()
            .collect();
        let planned = statements_of(fresh);
        // The statements are the ones reviewed: so is what the file says
        // each does.
        if planned == self.statements && unselected.is_empty() {
            let now: Vec<serde_json::Value> = fresh
                .clusters
                .iter()
                .flat_map(|cp| &cp.actions)
                .map(|a| what_it_does(&serde_json::to_value(a).unwrap_or_default()))
                .collect();
            if let Some(i) = (0..now.len()).find(|&i| self.described.get(i) != Some(&now[i])) {
                let saved = self.described.get(i).cloned().unwrap_or_default();
                let only_resize = {
                    let without = |v: &serde_json::Value| {
                        let mut v = v.clone();
                        if let Some(o) = v.as_object_mut() {
                            o.remove(RESIZE);
                        }
                        v
                    };
                    without(&saved) == without(&now[i])
                };
                if only_resize {
                    return Err(crate::model::printable(&format!(
                        "the plan saved {} approved {} as a resize done {}; this region would \
                         now do it {} (its settings changed since): nothing was done. Save a \
                         new one (`{}`), review it and apply that",
                        self.saved_when(fresh.now),
                        self.statements[i].said(false),
                        resize_form(&saved[RESIZE]),
                        resize_form(&now[i][RESIZE]),
                        self.save_command(),
                    )));
                }
                return Err(crate::model::printable(&format!(
                    "the plan saved {} says of {} what it does not do ({} where the statement \
                     does {}): the file was edited; nothing was done. Save a new one \
                     (`{}`), review it and apply that",
                    self.saved_when(fresh.now),
                    self.statements[i].said(false),
                    saved,
                    now[i],
                    self.save_command()
                )));
            }
        }
        let differences = match unselected.is_empty() {
            true => self.differences(&planned, fresh.now),
            false => {
                let mut lines = vec![self.left_out(&unselected, described, fresh.now)];
                lines.extend(changes(&others, &planned));
                Err(lines.join("\n"))
            }
        };
        differences.map_err(|e| {
            [e].into_iter()
                .chain(unplanned)
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// The first line of a refusal whose selection left out clusters with
    /// saved statements: the selection is the reason.
    fn left_out(&self, unselected: &[&Statement], described: &str, now: DateTime<Utc>) -> String {
        let mut clusters: Vec<String> = Vec::new();
        for s in unselected {
            let said = format!("{} ({})", s.cluster, s.cluster_id);
            if !clusters.contains(&said) {
                clusters.push(said);
            }
        }
        let which = match clusters.len() {
            1 => "cluster",
            _ => "clusters",
        };
        crate::model::printable(&format!(
            "the plan saved {} has statements for {which} {}, which {described} leaves out; \
             nothing was done. Apply it without --cluster or --filter-clusters (it runs on the \
             clusters it covered, and no others)",
            self.saved_when(now),
            clusters.join(", ")
        ))
    }

    /// "7s ago (2026-12-05T00:03:08Z)": when the plan was saved, as every
    /// refusal says it.
    /// A plan dated ahead of the database's clock (edited, or saved
    /// before the server's clock stepped back) is said so: "0s ago" was.
    fn saved_when(&self, now: DateTime<Utc>) -> String {
        let age = (now - self.planned_at).num_seconds();
        let at = self
            .planned_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match age {
            a if a < 0 => format!(
                "at {at}, {} ahead of the database's clock,",
                crate::model::human_duration(a.unsigned_abs())
            ),
            a => format!("{} ago ({at})", crate::model::human_duration(a as u64)),
        }
    }

    /// A line for each cluster the saved plan covered that is not planned
    /// now and that the selection did not leave out (the refusal leads
    /// with those, [`SavedPlan::left_out`]): its statements are then said
    /// to be gone, and this says why (else it reads as a change of plan).
    fn unplanned(&self, fresh: &Plan, left_out: &[&str]) -> Vec<String> {
        self.clusters
            .iter()
            .zip(&self.names)
            .filter(|(id, _)| !left_out.contains(&id.as_str()))
            .filter(|(id, _)| !fresh.clusters.iter().any(|cp| &cp.cluster_id.0 == *id))
            .map(|(id, name)| {
                crate::model::printable(&format!(
                    "  cluster {name} ({id}) was saved, and is not planned now: dropped, or \
                     without strategies"
                ))
            })
            .collect()
    }

    /// How to save a new plan, for the installation this one was saved
    /// for (`--schema`).
    fn save_command(&self) -> String {
        crate::model::clusterctl_command(self.schema.as_deref(), "dry-run --out FILE")
    }

    /// [`SavedPlan::admit`], on the statements planned at `now`.
    fn differences(&self, planned: &[Statement], now: DateTime<Utc>) -> Result<(), String> {
        if planned == self.statements.as_slice() {
            return Ok(());
        }
        if planned.len() != self.statements.len() && changes(&self.statements, planned).is_empty() {
            // The same statements, one of them not as many times: named,
            // with both counts (it said only "more than once, or one
            // fewer": an outside re-check).
            let times = |list: &[Statement], s: &Statement| list.iter().filter(|x| *x == s).count();
            let said = self
                .statements
                .iter()
                .find(|s| times(&self.statements, s) != times(planned, s))
                .map(|s| {
                    format!(
                        ": {} is saved {} times, and the region calls for it {} times now",
                        s.said(false),
                        times(&self.statements, s),
                        times(planned, s)
                    )
                })
                .unwrap_or_default();
            return Err(format!(
                "the plan saved {} does not hold its statements as many times as planned \
                 now{said}; nothing was done. Save a new one (`{}`), review it and apply that",
                self.saved_when(now),
                self.save_command()
            ));
        }
        let mut lines = vec![format!(
            "the plan saved {} is not what the region calls for now; nothing was done. \
             Save a new one (`{}`), review it and apply that",
            self.saved_when(now),
            self.save_command()
        )];
        let changed = changes(&self.statements, planned);
        if changed.is_empty() {
            lines.push("  the same statements, in another order".into());
        }
        lines.extend(changed);
        // `-o json` masks what looks like a secret in a name: a plan saved
        // that way never matches (refused at every attempt, its two lines
        // reading alike: an outside check).
        if self
            .statements
            .iter()
            .any(|s| s.sql.contains(MASK) && !planned.contains(s))
        {
            lines.push(format!(
                "  a saved statement holds `{MASK}`: `dry-run -o json` masks what looks like a \
                 secret in a name, so a plan saved that way cannot match; save it with \
                 `{}`, which keeps names as they are",
                self.save_command()
            ));
        }
        Err(lines.join("\n"))
    }
}

/// A line for each statement `planned` now and not `saved`, then for each
/// saved and not planned now.
fn changes(saved: &[Statement], planned: &[Statement]) -> Vec<String> {
    let new: Vec<&Statement> = planned.iter().filter(|s| !saved.contains(s)).collect();
    let gone: Vec<&Statement> = saved.iter().filter(|s| !planned.contains(s)).collect();
    // The same statement for another cluster of the same name: the ids
    // are what differs, so the lines say them.
    let ids = new.iter().any(|n| {
        gone.iter()
            .any(|g| (&g.sql, &g.cluster) == (&n.sql, &n.cluster))
    });
    new.iter()
        .map(|s| format!("  planned now, not saved: {}", s.said(ids)))
        .chain(
            gone.iter()
                .map(|s| format!("  saved, not planned now: {}", s.said(ids))),
        )
        .collect()
}

/// Every statement of a plan, with its cluster, in the order they run.
fn statements_of(plan: &Plan) -> Vec<Statement> {
    plan.clusters
        .iter()
        .flat_map(|cp| {
            cp.actions.iter().map(|a| Statement {
                cluster_id: cp.cluster_id.0.clone(),
                cluster: cp.cluster.clone(),
                sql: a.sql.clone(),
            })
        })
        .collect()
}

/// What serde_json found wrong, without the text it quotes (a saved plan
/// is the operator's file; an error never echoes what it holds).
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a field is missing or of the wrong type",
        serde_json::error::Category::Eof => "it ends too early",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON documents' format version (the shell's).
    const VERSION: u32 = 2;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn doc(clusters: serde_json::Value) -> String {
        serde_json::json!({
            "format_version": VERSION,
            "command": "dry-run",
            "ok": true,
            "result": {"plan": {"now": "2026-12-04T10:00:00Z", "clusters": clusters, "warnings": []}}
        })
        .to_string()
    }

    fn statements(id: &str, name: &str, sqls: &[&str]) -> Vec<Statement> {
        sqls.iter()
            .map(|sql| Statement {
                cluster_id: id.into(),
                cluster: name.into(),
                sql: sql.to_string(),
            })
            .collect()
    }

    const CREATE: &str = "CREATE CLUSTER REPLICA \"a\".\"r_50cc\" (SIZE = '50cc')";
    const DROP: &str = "DROP CLUSTER REPLICA \"a\".\"r1\"";

    #[test]
    fn a_saved_plan_is_its_statements_in_order() {
        let text = doc(serde_json::json!([
            {"cluster_id": "u2", "cluster": "a", "actions": [{"sql": CREATE, "kind": "create_replica"}, {"sql": DROP}]},
            {"cluster_id": "u3", "cluster": "b", "actions": []}
        ]));
        let saved = SavedPlan::parse(&text, VERSION).expect("a saved plan");
        assert_eq!(saved.planned_at, at("2026-12-04T10:00:00Z"));
        assert_eq!(saved.clusters, vec!["u2", "u3"]);
        let sqls: Vec<&str> = saved.statements.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(sqls, vec![CREATE, DROP]);
        assert!(saved.statements.iter().all(|s| s.cluster == "a"));

        let now = at("2026-12-04T10:05:00Z");
        let same = statements("u2", "a", &[CREATE, DROP]);
        assert_eq!(saved.differences(&same, now), Ok(()));
        let reordered = statements("u2", "a", &[DROP, CREATE]);
        let e = saved.differences(&reordered, now).unwrap_err();
        assert!(e.contains("another order"), "{e}");
        // A plan dated after the database's now is not said "0s ago".
        let earlier = at("2026-12-04T09:50:00Z");
        let e = saved.differences(&reordered, earlier).unwrap_err();
        assert!(
            e.contains("at 2026-12-04T10:00:00Z, 10m ahead of the database's clock,"),
            "{e}"
        );
        assert!(!e.contains("0s ago"), "{e}");
    }

    #[test]
    fn what_differs_from_the_saved_plan_is_said() {
        let text = doc(serde_json::json!([
            {"cluster_id": "u2", "cluster": "a", "actions": [{"sql": CREATE}]}
        ]));
        let saved = SavedPlan::parse(&text, VERSION).expect("a saved plan");
        let now = at("2026-12-04T11:00:00Z");
        let fresh = statements("u2", "a", &[DROP]);
        let e = saved.differences(&fresh, now).unwrap_err();
        assert!(e.contains("saved 1h00m ago (2026-12-04T10:00:00Z)"), "{e}");
        assert!(!e.contains("another order"), "{e}");
        assert!(e.contains("nothing was done"), "{e}");
        assert!(
            e.contains(&format!("planned now, not saved: {DROP} (cluster a)")),
            "{e}"
        );
        assert!(
            e.contains(&format!("saved, not planned now: {CREATE} (cluster a)")),
            "{e}"
        );
        // Nothing planned now, where something was saved.
        let e = saved.differences(&[], now).unwrap_err();
        assert!(
            e.contains("saved, not planned now") && !e.contains("another order"),
            "{e}"
        );
        // What the file holds reaches the terminal escaped: an edited
        // statement can neither send an escape sequence nor forge a line.
        let hostile = doc(serde_json::json!([
            {"cluster_id": "u2", "cluster": "a\u{1b}]0;owned\u{7}", "actions": [
                {"sql": "SELECT 1\n  the same statements, in another order\u{1b}[2J"}
            ]}
        ]));
        let saved_hostile = SavedPlan::parse(&hostile, VERSION).expect("a saved plan");
        let e = saved_hostile.differences(&[], now).unwrap_err();
        assert!(!e.contains('\u{1b}') && !e.contains('\u{7}'), "{e}");
        assert_eq!(e.lines().count(), 2, "{e}");
        assert!(
            e.contains("SELECT 1\\n  the same statements, in another order\\u{1b}[2J (cluster a\\u{1b}]0;owned\\u{7})"),
            "{e}"
        );
        // The same statement for a cluster created again under its name:
        // the lines tell the two apart by id.
        let recreated = statements("u7", "a", &[CREATE]);
        let e = saved.differences(&recreated, now).unwrap_err();
        assert!(
            e.contains(&format!(
                "planned now, not saved: {CREATE} (cluster a (u7))"
            )) && e.contains(&format!(
                "saved, not planned now: {CREATE} (cluster a (u2))"
            )),
            "{e}"
        );
        // A statement saved twice: named, with both counts.
        let twice = doc(serde_json::json!([
            {"cluster_id": "u2", "cluster": "a", "actions": [{"sql": CREATE}, {"sql": CREATE}]}
        ]));
        let saved_twice = SavedPlan::parse(&twice, VERSION).expect("a saved plan");
        let e = saved_twice
            .differences(&statements("u2", "a", &[CREATE]), now)
            .unwrap_err();
        assert!(
            e.contains(&format!(
                "{CREATE} (cluster a) is saved 2 times, and the region calls for it 1 times now"
            )),
            "{e}"
        );
        // And nothing saved, nothing planned: the empty plan applies.
        let empty = SavedPlan::parse(&doc(serde_json::json!([])), VERSION).expect("empty");
        assert_eq!(empty.differences(&[], now), Ok(()));
    }

    /// A plan with no cluster planned, at `now`.
    fn nothing_planned(now: DateTime<Utc>) -> Plan {
        Plan {
            format_version: VERSION,
            now,
            environment_id: None,
            schema: None,
            clusters: Vec::new(),
            warnings: Vec::new(),
            next_decision_at: None,
            settle: Vec::new(),
        }
    }

    /// A plan saved for one environment (region) is applied there only:
    /// cluster ids repeat from one region to the next.
    #[test]
    fn a_plan_saved_for_another_environment_is_refused() {
        let mut saved = SavedPlan::parse(&doc(serde_json::json!([])), VERSION).expect("empty");
        saved.environment_id = Some("env-a".into());
        let now = at("2026-12-04T10:05:00Z");
        let here = |env: &str| Plan {
            environment_id: Some(env.into()),
            ..nothing_planned(now)
        };
        assert_eq!(saved.admit_selected(&mut here("env-a"), &[], "all"), Ok(()));
        let e = saved
            .admit_selected(&mut here("env-b"), &[], "all")
            .unwrap_err();
        assert!(
            e.starts_with("the plan was saved for environment env-a, and this is env-b"),
            "{e}"
        );
        // One that says none (edited by hand) is refused where the region
        // has one, and admitted where it has none to compare.
        saved.environment_id = None;
        let e = saved
            .admit_selected(&mut here("env-a"), &[], "all")
            .unwrap_err();
        assert!(e.contains("does not say which environment"), "{e}");
        assert_eq!(
            saved.admit_selected(&mut nothing_planned(now), &[], "all"),
            Ok(())
        );
    }

    /// Of the saved clusters, those the fresh plan has no plan for are
    /// said, each once; those it plans are not.
    #[test]
    fn the_saved_clusters_not_planned_now_are_said() {
        use crate::model::{Cluster, ClusterId};
        let text = doc(serde_json::json!([
            {"cluster_id": "u2", "cluster": "a", "actions": []},
            {"cluster_id": "u3", "cluster": "b", "actions": []}
        ]));
        let saved = SavedPlan::parse(&text, VERSION).expect("a saved plan");
        let mut fresh = nothing_planned(at("2026-12-04T10:05:00Z"));
        fresh.clusters.push(super::super::coordinate::plan_cluster(
            &Snapshot::default(),
            &super::super::PlanOptions::default(),
            &Cluster::empty(ClusterId("u2".into()), "a"),
            super::super::rows::Validated::default(),
            crate::model::RowsSeen::default(),
        ));
        assert_eq!(
            saved.unplanned(&fresh, &[]),
            ["  cluster b (u3) was saved, and is not planned now: dropped, or without strategies"]
        );
        assert!(saved.unplanned(&fresh, &["u3"]).is_empty());
    }

    /// `apply --plan FILE --cluster b` where the plan has statements for
    /// a: the selection is the reason, said first (it led with "not what
    /// the region calls for now", the selection only on the line after).
    #[test]
    fn a_selection_that_leaves_out_a_saved_cluster_is_the_reason_said() {
        let text = doc(serde_json::json!([
            {"cluster_id": "u2", "cluster": "a", "actions": [{"sql": CREATE}]},
            {"cluster_id": "u3", "cluster": "b", "actions": [{"sql": DROP}]},
            {"cluster_id": "u4", "cluster": "c", "actions": []}
        ]));
        let saved = SavedPlan::parse(&text, VERSION).expect("a saved plan");
        let now = at("2026-12-04T10:00:07Z");
        let e = saved
            .admit_selected(&mut nothing_planned(now), &["u2", "u4"], "--cluster b")
            .unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(
            lines[0],
            "the plan saved 7s ago (2026-12-04T10:00:00Z) has statements for cluster a (u2), \
             which --cluster b leaves out; nothing was done. Apply it without --cluster or \
             --filter-clusters (it runs on the clusters it covered, and no others)",
            "{e}"
        );
        assert!(!e.contains("not what the region calls for"), "{e}");
        // What else differs is still said, and a's statement is not (nor
        // c, left out with nothing saved for it).
        assert_eq!(
            lines[1..],
            [
                format!("  saved, not planned now: {DROP} (cluster b)").as_str(),
                "  cluster b (u3) was saved, and is not planned now: dropped, or without \
                 strategies",
            ],
            "{e}"
        );
        // Left out with nothing saved for it: it changes nothing, and the
        // refusal is about what does.
        let e = saved
            .admit_selected(&mut nothing_planned(now), &["u4"], "--cluster a,b")
            .unwrap_err();
        assert!(e.starts_with("the plan saved 7s ago"), "{e}");
        assert!(e.contains("not what the region calls for now"), "{e}");
        assert!(!e.contains("(u4)"), "{e}");
    }

    /// `admit` finds what the selection leaves out in the snapshot: a
    /// saved cluster that exists and is not selected; one selected, or no
    /// longer there, is not left out by the selection.
    #[test]
    fn the_clusters_a_selection_leaves_out_are_read_from_the_snapshot() {
        use crate::model::{Cluster, ClusterId};
        let text = doc(serde_json::json!([
            {"cluster_id": "u2", "cluster": "a", "actions": [{"sql": CREATE}]},
            {"cluster_id": "u3", "cluster": "b", "actions": []}
        ]));
        let saved = SavedPlan::parse(&text, VERSION).expect("a saved plan");
        let now = at("2026-12-04T10:00:07Z");
        let snap = |names: &[(&str, &str)]| Snapshot {
            clusters: names
                .iter()
                .map(|(id, name)| Cluster::empty(ClusterId(id.to_string()), name))
                .collect(),
            ..Snapshot::default()
        };
        let both = snap(&[("u2", "a"), ("u3", "b")]);
        let e = saved
            .admit(&mut nothing_planned(now), &both, &Selection::names(&["b"]))
            .unwrap_err();
        assert!(
            e.contains("for cluster a (u2), which --cluster b leaves out"),
            "{e}"
        );
        // Every cluster selected: the plan is judged on its statements.
        let e = saved
            .admit(&mut nothing_planned(now), &both, &Selection::all())
            .unwrap_err();
        assert!(
            e.starts_with("the plan saved 7s ago (2026-12-04T10:00:00Z) is not what"),
            "{e}"
        );
        // a dropped since: not the selection's doing.
        let e = saved
            .admit(
                &mut nothing_planned(now),
                &snap(&[("u3", "b")]),
                &Selection::names(&["b"]),
            )
            .unwrap_err();
        assert!(e.contains("is not what the region calls for now"), "{e}");
        assert!(!e.contains("leaves out"), "{e}");
    }

    #[test]
    fn a_file_that_is_no_saved_plan_is_refused_without_echoing_it() {
        let cases = [
            ("password=hunter2 not json", "not JSON"),
            ("{\"format_version\": 2", "ends too early"),
            ("{\"password\": \"hunter2\"}", "missing"),
        ];
        for (text, why) in cases {
            let e = SavedPlan::parse(text, VERSION).unwrap_err();
            assert!(e.contains(why) && e.contains(HOW), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let other = doc(serde_json::json!([])).replace("\"dry-run\"", "\"status\"");
        let e = SavedPlan::parse(&other, VERSION).unwrap_err();
        assert!(e.contains("output of `status`"), "{e}");
        let status = serde_json::json!({
            "format_version": VERSION, "command": "status", "ok": true,
            "result": {"clusters": []}
        });
        let e = SavedPlan::parse(&status.to_string(), VERSION).unwrap_err();
        assert!(e.contains("output of `status`"), "{e}");
        let no_plan = status.to_string().replace("\"status\"", "\"dry-run\"");
        let e = SavedPlan::parse(&no_plan, VERSION).unwrap_err();
        assert!(e.contains("not a dry-run's plan"), "{e}");
        let old = doc(serde_json::json!([])).replace(
            &format!("\"format_version\":{}", VERSION),
            "\"format_version\":1",
        );
        let e = SavedPlan::parse(&old, VERSION).unwrap_err();
        assert!(e.contains("format version 1"), "{e}");
        let failed = serde_json::json!({
            "format_version": VERSION, "command": "dry-run", "ok": false,
            "error": {"code": "database", "message": "x"}
        });
        let e = SavedPlan::parse(&failed.to_string(), VERSION).unwrap_err();
        assert!(e.contains("dry-run that failed"), "{e}");
        // A byte order mark is not refused, nor enough to pass as JSON.
        let bom = format!("\u{feff}{}", doc(serde_json::json!([])));
        assert!(SavedPlan::parse(&bom, VERSION).is_ok());
        let e = SavedPlan::parse("\u{feff}\u{feff}{}", VERSION).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        // Not ok, whatever result it carries.
        let not_ok = doc(serde_json::json!([])).replace("\"ok\":true", "\"ok\":false");
        assert!(not_ok.contains("\"ok\":false"), "{not_ok}");
        let e = SavedPlan::parse(&not_ok, VERSION).unwrap_err();
        assert!(e.contains("dry-run that failed"), "{e}");
    }
}
