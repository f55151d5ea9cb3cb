//! `doctor`: "will clusterctl work here?", answered before the first apply.
//! The server's release and the resize form it gets, the session cluster
//! and its replicas, our role and each privilege `apply` needs, statement
//! logging and its sample rate, `max_replicas_per_cluster`, the region's
//! credit limit and rate (`max_credit_consumption_rate`), and the
//! clusters with strategies that are not manageable, and why. Reads only;
//! every judgement comes from the same rules the planner and the session
//! check use (`plan::rules`, `commands::session`), never a copy of them.

use serde::Serialize;

use super::session;
use super::{CommandError, Context};
use crate::db::session::SessionCluster;
use crate::db::{catalog, migrate};
use crate::ddl;
use crate::model::{human_duration, plural, Environment, Snapshot};
use crate::plan::{self, region, rows, rules, Outcome, PlanOptions, ResizeForm};

/// How much a finding matters to `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Info,
    Warning,
    /// `apply` would fail (or do nothing) until it is fixed.
    Blocker,
}

/// One thing checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub level: Level,
    /// `server`, `session_cluster`, `role`, `privileges`, `statement_log`,
    /// `monitor_role`, `replica_limit`, `credit_limit`, `tables`, `lease`,
    /// `audit_trail`, `cluster`.
    pub topic: &'static str,
    pub message: String,
    /// The statement or flag that fixes it.
    pub fix: Option<String>,
    /// Where the fix is SQL an admin runs as it is: those statements, each
    /// whole (`doctor --print-sql` prints them as one script).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<String>,
}

impl Finding {
    /// With the statements that fix it, as an admin runs them.
    fn with_sql(mut self, sql: Vec<String>) -> Finding {
        self.sql = sql;
        self
    }

    /// [`Finding::with_sql`] for statements naming our role, when we could
    /// name it: a statement for `<role>` is no statement.
    fn with_sql_for_role(self, named: bool, sql: Vec<String>) -> Finding {
        match named {
            true => self.with_sql(sql),
            false => self,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    pub version: Option<String>,
    pub resize_form: ResizeForm,
    pub max_replicas_per_cluster: Option<u32>,
    /// The region's credit limit (`max_credit_consumption_rate`).
    pub max_credit_consumption_rate: Option<f64>,
    /// What the region's user replicas use now, credits per hour (known
    /// once the catalog was read, and not under `--replica-sizes` naming a
    /// size the catalog does not price).
    pub region_credits_per_hour: Option<f64>,
    /// The sizes new replicas may have; empty or absent: every size.
    pub allowed_cluster_replica_sizes: Option<Vec<String>>,
}

/// What `doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub server: Server,
    pub session_cluster: SessionCluster,
    pub role: Option<String>,
    pub superuser: Option<bool>,
    pub statement_log: rules::StatementLog,
    pub findings: Vec<Finding>,
    pub blockers: usize,
    pub warnings: usize,
}

/// `doctor --print-sql`: the report, printed as the script of its fixes
/// that are SQL.
pub struct DoctorSql(pub DoctorReport);

/// The name mz-clusterctl gives its temporary replica on the query cluster.
const REFERENCE_TEMPORARY: &str = "mzclusterctl";

fn finding(level: Level, topic: &'static str, message: String, fix: Option<String>) -> Finding {
    Finding {
        level,
        topic,
        message,
        fix,
        sql: Vec::new(),
    }
}

/// `doctor`: every check, none of which stops the others.
pub async fn doctor(ctx: &Context) -> Result<DoctorReport, CommandError> {
    let exec = ctx.opts.exec_cluster.clone();
    let mut backend = ctx.backend();
    let sc = backend
        .retrying("checking the session cluster", async |c| {
            crate::db::session::inspect(c, exec.as_deref()).await
        })
        .await?
        .ok_or_else(|| {
            CommandError::SessionCluster(
                "this server has no clusters (SHOW cluster is unknown): it is not Materialize"
                    .into(),
            )
        })?;
    let mut findings = Vec::new();
    // No replica online blocks too: commands wait a while for one, then stop.
    let will_create = ctx.opts.create_replica.is_some();
    let session_problem =
        session::problem(&sc, will_create).or_else(|| session::not_online(&sc, will_create));
    findings.push(session_finding(&sc, session_problem.as_deref()));
    // mz-clusterctl's `--create-replica` replica, left by a killed run of
    // it: not ours to drop (a run of it may still be using it).
    if sc.replicas.iter().any(|r| r.name == REFERENCE_TEMPORARY) {
        findings.push(finding(
            Level::Warning,
            "session_cluster",
            format!(
                "replica {} on {} looks like mz-clusterctl's temporary replica (--create-replica): \
                 it costs credits until dropped, and clusterctl does not drop another tool's replica",
                ddl::ident(REFERENCE_TEMPORARY),
                ddl::ident(&sc.name)
            ),
            Some(format!(
                "once no mz-clusterctl runs: DROP CLUSTER REPLICA {}.{}",
                ddl::ident(&sc.name),
                ddl::ident(REFERENCE_TEMPORARY)
            )),
        ));
    }
    for name in super::session::leftovers(&sc) {
        findings.push(finding(
            Level::Warning,
            "session_cluster",
            format!(
                "temporary replica {} on {} was left by a run that died: it costs credits until \
                 {}",
                ddl::ident(&name),
                ddl::ident(&sc.name),
                super::session::next_apply_drops_it(ctx, &sc.name)
            ),
            Some(format!(
                "run `{}` (it drops and audits it)",
                super::session::apply_on(ctx, &sc.name)
            )),
        ));
    }

    // The whole snapshot needs our tables (and a session cluster that can
    // serve them); without them, the environment alone.
    let mut snapshot_opts = ctx.snapshot.clone();
    snapshot_opts.exec_cluster = Some(sc.name.clone());
    let store = &ctx.store;
    let mut tables_missing = None;
    // Another tool's table of one of our names, as the read found it: said
    // by the tables' finding (the catalog's answer there is the fuller).
    let mut not_ours = None;
    // Refused (a privilege on our tables missing, most likely): doctor
    // goes on to say which, instead of failing on it.
    let mut unreadable = None;
    let snap = if session_problem.is_none() {
        let r: Result<Snapshot, crate::db::DbError> = backend
            .retrying("reading the catalog", async |c| {
                catalog::load(c, store, &snapshot_opts, &crate::plan::Selection::all()).await
            })
            .await;
        let r = match r {
            Err(e) => Err(backend.explain_missing(e).await),
            ok => ok,
        };
        match r {
            Ok(s) => Some(s),
            Err(crate::db::DbError::TablesMissing { where_, .. }) => {
                tables_missing = Some(where_);
                None
            }
            Err(crate::db::DbError::NotOurs { tables }) => {
                not_ours = Some(tables);
                None
            }
            // A statement refused (a privilege); a missing or newer schema
            // fails doctor as every command, saying so.
            Err(e @ crate::db::DbError::Query { .. }) if !e.transient() => {
                unreadable = Some(without_doctor_hint(&e));
                None
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let env = match &snap {
        Some(s) => s.env.clone(),
        None => {
            let (_, mut env) = backend
                .retrying("reading the server's settings", async |c| {
                    catalog::environment(c).await
                })
                .await?;
            env.activity_error = backend
                .retrying("reading the statement log", async |c| {
                    catalog::probe_activity(c).await
                })
                .await?;
            env
        }
    };
    // Our role: as the catalog names it, else as the session check read it.
    let role = env
        .identity
        .role
        .as_ref()
        .map(|r| r.name.clone())
        .or(sc.role.clone());
    // Table privileges and the lease are read once every table exists.
    let no_tables = tables_missing.is_some();
    let foreign = not_ours.is_some();
    let (complete, existing) = if session_problem.is_none() {
        let (found, complete, existing) = table_findings(
            ctx,
            &mut backend,
            &env,
            role.as_deref(),
            tables_missing,
            not_ours,
        )
        .await;
        findings.extend(found);
        (complete, existing)
    } else {
        (false, Vec::new())
    };
    findings.push(server_finding(&env));
    findings.extend(role_findings(&env));
    if (snap.is_some() || unreadable.is_some()) && complete {
        findings.extend(privilege_findings(ctx, &mut backend, &env, None).await);
    } else if session_problem.is_none() && !foreign && !existing.is_empty() {
        // Tables still to make: those there already (the reference's,
        // before our first apply) are checked now; the first apply's
        // write to them failed after its DDL ran (an outside check).
        findings.extend(privilege_findings(ctx, &mut backend, &env, Some(&existing)).await);
    }
    if let Some(why) = unreadable {
        findings.push(finding(
            Level::Blocker,
            "tables",
            format!("clusterctl's tables could not be read: {why}"),
            Some("grant what the privileges finding lists, if any; else see the reason".into()),
        ));
    }
    let stand_in = Snapshot {
        env: env.clone(),
        activity_log_has_rows: true,
        ..Snapshot::default()
    };
    let snap_ref = snap.as_ref().unwrap_or(&stand_in);
    findings.extend(statement_log_findings(snap_ref, &env));
    findings.push(limit_finding(&env));
    // Made-up credits (`--replica-sizes` naming sizes the catalog does not
    // price) are no measure of the region's use: unknown, as before a read.
    let region_credits = snap
        .as_ref()
        .filter(|s| s.sizes.credits_known())
        .map(region::live_credits);
    let made_up = snap.as_ref().is_some_and(|s| !s.sizes.credits_known());
    // Why the rate is not known: the snapshot needs our tables (it blamed
    // the catalog, which it read: an outside check).
    let unread = match (no_tables, foreign) {
        (true, _) => "it is read with clusterctl's tables, which do not exist yet",
        (false, true) => "it is read with clusterctl's tables, one of which is another tool's",
        (false, false) => "it is read with the catalog, which doctor could not read",
    };
    findings.extend(credit_findings(&env, region_credits, made_up, unread));
    // Whether our tables are there or not: a first install into a second
    // schema makes a second installation (it was said only once ours were
    // complete).
    if session_problem.is_none() {
        // Which clusters both act on: named, a blocker (two controllers
        // at once emptied a cluster: an outside check).
        let (others, shared) = super::other_installations(&mut backend, store).await;
        findings.extend(installations_finding(others, &store.command("strategy ls")));
        findings.extend(shared_findings(&shared, snap.as_ref()));
    }
    if let Some(s) = &snap {
        if complete {
            let held = backend
                .retrying("reading the lease", async |c| {
                    crate::db::lease::current(c, store).await
                })
                .await;
            findings.push(lease_finding(held, &store.command("unlock --force")));
            let size = backend
                .retrying("reading the audit trail's size", async |c| {
                    store.trail_size(c, super::reconcile::PRUNE_KIND).await
                })
                .await;
            findings.push(trail_finding(size));
        }
        findings.extend(cluster_findings(s));
        findings.extend(row_finding(s));
    }
    let blockers = findings
        .iter()
        .filter(|f| f.level == Level::Blocker)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.level == Level::Warning)
        .count();
    Ok(DoctorReport {
        server: Server {
            version: env.version.clone(),
            resize_form: rules::resize_form(&env),
            max_replicas_per_cluster: env.settings.max_replicas_per_cluster,
            max_credit_consumption_rate: env.settings.max_credit_consumption_rate,
            region_credits_per_hour: region_credits,
            allowed_cluster_replica_sizes: env.settings.allowed_cluster_replica_sizes.clone(),
        },
        role,
        superuser: env.identity.superuser,
        statement_log: rules::statement_log(snap_ref, |_| true),
        session_cluster: sc,
        findings,
        blockers,
        warnings,
    })
}

/// Who holds the controller lease: a run finding it held does nothing
/// (the runbook for a stuck lease starts here).
/// Held or free as `apply` finds it (`lease::Row::held`, one rule). A run
/// here takes over a holder that died here (as the lease judges it,
/// `lease::holder_is_dead`): waiting, or `unlock --force`, is not needed.
/// Other schemas with clusterctl's tables: other installations, each with
/// its own lease, so a cluster with strategy rows in two of them is acted
/// on by the controllers of both at once (an outside check: the README
/// said the lease was one for the region). Unreadable: nothing said.
fn installations_finding(
    others: Result<Vec<String>, crate::db::DbError>,
    here: &str,
) -> Option<Finding> {
    let others = others.ok().filter(|o| !o.is_empty())?;
    let names: Vec<String> = others.iter().map(|s| ddl::ident(s)).collect();
    Some(finding(
        Level::Warning,
        "lease",
        format!(
            "clusterctl's tables are also in schema {}: another installation, whose controllers \
             take a lease of their own, not this one's; a cluster with strategy rows in both is \
             acted on by both at once",
            names.join(", ")
        ),
        Some(format!(
            "keep one installation per region, or no cluster in two: compare `{here}` with \
             `clusterctl strategy ls --schema NAME` for each of those schemas"
        )),
    ))
}

/// Clusters with strategy rows in this installation and another (each
/// schema with the ids in common): each is acted on by two controllers at
/// once, under two leases, which can drop each other's replicas.
fn shared_findings(
    shared: &[(String, Vec<crate::model::ClusterId>)],
    snap: Option<&Snapshot>,
) -> Vec<Finding> {
    shared
        .iter()
        .filter_map(|(schema, ids)| {
            // Only clusters that exist: no controller acts on an id no
            // cluster has (a dangling row's own finding says it; it was a
            // blocker here too: an outside check).
            let ids: Vec<&crate::model::ClusterId> = ids
                .iter()
                .filter(|id| snap.is_none_or(|s| s.cluster(id).is_some()))
                .collect();
            if ids.is_empty() {
                return None;
            }
            let named: Vec<String> = ids
                .iter()
                .take(10)
                .map(|id| match snap.and_then(|s| s.cluster(id)) {
                    Some(c) => format!("{} ({id})", ddl::ident(&c.name)),
                    None => id.0.clone(),
                })
                .collect();
            let more = match ids.len() {
                n if n > 10 => format!(" and {} more", n - 10),
                _ => String::new(),
            };
            Some(finding(
                Level::Blocker,
                "lease",
                format!(
                    "{} cluster{} with strategy rows here and in schema {}: {}{more}; two \
                     controllers act on each at once, under two leases, and can drop each \
                     other's replicas (a cluster left with none)",
                    ids.len(),
                    plural(ids.len()),
                    ddl::ident(schema),
                    named.join(", ")
                ),
                Some(format!(
                    "keep each cluster's rows in one installation: `clusterctl strategy rm \
                     CLUSTER --schema {}` (or here) for each",
                    crate::model::shell_value(schema)
                )),
            ))
        })
        .collect()
}

/// `unlock`: the command that breaks it ([`held_finding`]).
fn lease_finding(held: Result<crate::db::lease::Row, crate::db::DbError>, unlock: &str) -> Finding {
    match held {
        Ok(row) if row.held => {
            let left = match row.until {
                Some(_) => format!(
                    "until {} ({} from now)",
                    crate::db::lease::until_text(row.until),
                    human_duration(row.held_for().as_secs())
                ),
                None => format!("until {}", crate::db::lease::until_text(None)),
            };
            match crate::db::lease::holder_is_dead(&row.holder) {
                Some(why) => finding(
                    Level::Info,
                    "lease",
                    format!(
                        "the controller lease is held by {} {left}, but that controller died on \
                         this host ({why}): an apply here takes it over at once (one on another \
                         host waits until then)",
                        row.holder
                    ),
                    None,
                ),
                None => held_finding(&row.holder, &left, row.until.is_none(), unlock),
            }
        }
        Ok(_) => finding(
            Level::Ok,
            "lease",
            "the controller lease is free".into(),
            None,
        ),
        Err(e) => finding(
            Level::Warning,
            "lease",
            format!(
                "the controller lease could not be read: {}",
                without_doctor_hint(&e)
            ),
            None,
        ),
    }
}

/// A lease held by a controller that may be acting.
/// `unlock`: the command that breaks it, in the `--schema` of its
/// installation.
fn held_finding(holder: &str, left: &str, for_ever: bool, unlock: &str) -> Finding {
    // A lease that never expires blocks every apply until it is broken (it
    // was "apply will work here": an outside check).
    let (level, fix) = match for_ever {
        true => (
            Level::Blocker,
            format!(
                "its lease never expires: if that controller is gone, break it with \
                 `{unlock}` (audited)"
            ),
        ),
        false => (
            Level::Warning,
            format!(
                "if that controller is gone, wait for its lease to expire or break it with \
                 `{unlock}` (audited)"
            ),
        ),
    };
    finding(
        level,
        "lease",
        format!(
            "the controller lease is held by {holder} {left}: apply does nothing until it is free"
        ),
        Some(fix),
    )
}

/// An audit trail of this many rows or more, never pruned, is worth a
/// warning: every run reads it whole (twice), so each run is slower.
pub const TRAIL_ROWS_WARN: u64 = 100_000;

/// How big the audit trail is, and whether `apply --audit-retention`
/// keeps it so: `doctor` is where an operator learns a retention is due.
fn trail_finding(size: Result<crate::db::store::TrailSize, crate::db::DbError>) -> Finding {
    let t = match size {
        Ok(t) => t,
        Err(e) => {
            return finding(
                Level::Info,
                "audit_trail",
                format!("the audit trail's size could not be read: {e}"),
                None,
            )
        }
    };
    let Some(oldest) = t.oldest else {
        return finding(
            Level::Ok,
            "audit_trail",
            "the audit trail is empty".into(),
            None,
        );
    };
    let held = format!(
        "the audit trail holds {} row{} since {} ({} ago)",
        t.rows,
        crate::model::plural(t.rows),
        oldest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        human_duration((t.now - oldest).num_seconds().max(0) as u64)
    );
    let pruned = t
        .last_pruned
        .filter(|at| t.now - *at <= chrono::Duration::days(7));
    if let Some(at) = pruned {
        return finding(
            Level::Info,
            "audit_trail",
            format!(
                "{held}; apply --audit-retention last pruned it at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None,
        );
    }
    if t.rows < TRAIL_ROWS_WARN {
        return finding(Level::Info, "audit_trail", held, None);
    }
    finding(
        Level::Warning,
        "audit_trail",
        format!(
            "{held} and is not pruned: every run reads it whole (Materialize keeps no index \
             on it), so each run is slower as it grows"
        ),
        Some(
            "add `--audit-retention 90d` to `clusterctl apply` (settled rows older than that \
             go, once a day; each cluster's newest resize and last suspension stay)"
                .into(),
        ),
    )
}

fn session_finding(sc: &SessionCluster, problem: Option<&str>) -> Finding {
    if let Some(p) = problem {
        let found = finding(Level::Blocker, "session_cluster", p.to_string(), None);
        // Its fix is SQL when it is the missing USAGE (`--print-sql` left
        // it out, saying nothing was fixed by SQL).
        let grant = match (&sc.role, sc.usage, &sc.id) {
            (Some(role), Some(false), Some(_)) => vec![format!(
                "GRANT USAGE ON CLUSTER {} TO {}",
                ddl::ident(&sc.name),
                ddl::ident(role)
            )],
            _ => return found,
        };
        return found.with_sql(grant);
    }
    let names: Vec<&str> = sc.replicas.iter().map(|r| r.name.as_str()).collect();
    let usage = match sc.usage {
        Some(true) => "our role may use it",
        Some(false) => "our role may not use it",
        None => "USAGE could not be checked on this release",
    };
    let replicas = if names.is_empty() {
        "no replica (--create-replica adds a temporary one)".to_string()
    } else {
        format!("replicas {}", names.join(", "))
    };
    finding(
        Level::Ok,
        "session_cluster",
        format!(
            "session cluster {} ({}): {replicas}; {usage}",
            ddl::ident(&sc.name),
            if sc.explicit {
                "--exec-cluster"
            } else {
                "the server's default"
            }
        ),
        None,
    )
}

fn server_finding(env: &Environment) -> Finding {
    let form = rules::resize_form(env);
    finding(
        Level::Info,
        "server",
        format!(
            "Materialize {}; managed-cluster resizes: {}{}",
            env.version.as_deref().unwrap_or("(version unknown)"),
            form.describe(),
            // Known from the region's refusal: when it is tried again.
            match form {
                rules::ResizeForm::Restart => rules::graceful_refused(env),
                _ => String::new(),
            }
        ),
        None,
    )
}

fn role_findings(env: &Environment) -> Vec<Finding> {
    let id = &env.identity;
    let Some(role) = &id.role else {
        return vec![finding(
            Level::Warning,
            "role",
            "our role could not be read (mz_roles): ownership of the managed clusters is not checked"
                .into(),
            None,
        )];
    };
    let mut out = Vec::new();
    let rbac_off = env.settings.enable_rbac_checks == Some(false);
    out.push(finding(
        Level::Ok,
        "role",
        format!(
            "role {}{}",
            ddl::ident(&role.name),
            match (id.superuser, rbac_off) {
                (_, true) => ": RBAC is off (every role acts as a superuser)",
                (Some(true), _) => ": superuser",
                (Some(false), _) =>
                    ": not a superuser (needs ownership of the clusters it manages)",
                (None, _) => "",
            }
        ),
        None,
    ));
    let monitor = id.member_of("mz_monitor_redacted") == Some(true)
        || id.member_of("mz_monitor") == Some(true);
    if !monitor && !rbac_off {
        let grant = format!("GRANT mz_monitor_redacted TO {}", ddl::ident(&role.name));
        out.push(
            finding(
                Level::Warning,
                "monitor_role",
                format!(
                    "role {} is not a member of mz_monitor_redacted (or mz_monitor): the statement \
                     log is unreadable, so idle_suspend cannot tell idleness",
                    ddl::ident(&role.name)
                ),
                Some(grant.clone()),
            )
            .with_sql(vec![grant]),
        );
    }
    out
}

/// What the first `apply` still has to create (all of clusterctl's tables,
/// or the two mz-clusterctl lacked after a migration from it), and whether
/// our role may: `apply` fails on its first statement otherwise; or a
/// table of another tool's under one of our names (`not_ours`: as the
/// snapshot's read found it, when the catalog cannot say). With whether
/// every table is there.
async fn table_findings(
    ctx: &Context,
    backend: &mut crate::db::live::LiveBackend<'_>,
    env: &Environment,
    role: Option<&str>,
    missing: Option<String>,
    not_ours: Option<Vec<migrate::Foreign>>,
) -> (Vec<Finding>, bool, Vec<String>) {
    let store = &ctx.store;
    // What the catalog shows of our tables, read once: which are another
    // tool's, and which exist (returned: `privilege_findings` checks those
    // before the first apply makes the rest).
    let shown = backend
        .retrying("checking the columns of clusterctl's tables", async |c| {
            migrate::shown(store, c).await
        })
        .await
        .ok();
    let existing = shown
        .as_ref()
        .map(|s| s.existing(store))
        .unwrap_or_default();
    // Another tool's table of one of our names: the tables' one finding.
    // The first apply "creates" nothing over it (IF NOT EXISTS), and every
    // command fails on it (doctor said the tables were to be created, and
    // that they could not be read).
    let foreign = shown
        .map(|s| s.foreign(store))
        .filter(|t| !t.is_empty())
        .or(not_ours);
    if let Some(tables) = foreign {
        let f = finding(
            Level::Blocker,
            "tables",
            format!(
                "{}: apply, init and every command that writes to the tables refuse it",
                migrate::Foreign::said(&tables)
            ),
            Some(migrate::Foreign::fix(&tables)),
        );
        return (vec![f], false, existing);
    }
    let init = ctx.store.init_command();
    let init = format!("{init} (or have an admin run the SQL of `{init} --print`)");
    let init = init.as_str();
    let to_create = match backend
        .retrying("checking clusterctl's tables", async |c| {
            migrate::to_create(store, c).await
        })
        .await
    {
        Ok(t) => t,
        Err(e @ crate::db::DbError::SchemaNewer { .. }) => {
            let f = finding(
                Level::Blocker,
                "tables",
                format!("{e}: apply, wipe-state, unlock and strategy set/rm/pause/resume refuse to run"),
                Some("upgrade this clusterctl to the version that migrated the tables (or a newer one)".into()),
            );
            return (vec![f], missing.is_none(), existing);
        }
        Err(e) => {
            let f = finding(
                Level::Info,
                "tables",
                format!("whether clusterctl's tables are complete could not be checked: {e}"),
                None,
            );
            return (vec![f], missing.is_none(), existing);
        }
    };
    if to_create.is_empty() {
        // Every table, not only what the snapshot read: the audit trail and
        // the lease missing were "apply will work here".
        let dropped = migrate::missing_tables(backend).await.unwrap_or_default();
        let missing = match (missing, dropped.is_empty()) {
            (_, false) => Some(dropped.join(", ")),
            (missing, true) => missing,
        };
        let complete = missing.is_none();
        let found = missing
            .map(|where_| {
                finding(
                    Level::Blocker,
                    "tables",
                    format!(
                        "{where_} does not exist, though every migration is recorded (dropped \
                         by hand?): apply fails until it is created again"
                    ),
                    Some(format!(
                        "run `{init}` (it makes missing tables again), or have an admin run \
                         the SQL of `{init} --print` (every statement may run again)",
                        init = ctx.store.init_command()
                    )),
                )
            })
            .into_iter()
            .collect();
        return (found, complete, existing);
    }
    // Those that exist already (the reference's three, before our first
    // apply) are kept, not made: not listed as made, and their privileges
    // are checked (`privilege_findings`).
    let (kept, to_create): (Vec<String>, Vec<String>) =
        to_create.into_iter().partition(|t| existing.contains(t));
    let kept = match kept.is_empty() {
        true => String::new(),
        false => format!("; it keeps {}, which exist", kept.join(", ")),
    };
    let list = format!("{} (IF NOT EXISTS){kept}", to_create.join(", "));
    let may =
        if env.identity.superuser == Some(true) || env.settings.enable_rbac_checks == Some(false) {
            Ok((String::new(), true))
        } else {
            backend
                .retrying("checking CREATE on the schema", async |c| {
                    migrate::may_create(store, c).await
                })
                .await
        };
    let found = match may {
        Ok((_, true)) => vec![finding(
            Level::Warning,
            "tables",
            format!("the first apply creates clusterctl's tables: {list}"),
            Some(init.into()),
        )],
        Ok((schema, false)) => {
            let named = role.is_some();
            let role = role.map(ddl::ident).unwrap_or("<role>".into());
            let grant = format!("GRANT CREATE ON SCHEMA {} TO {role}", ddl::ident(&schema));
            let found = finding(
                Level::Blocker,
                "tables",
                format!(
                    "role {role} may not create clusterctl's tables in schema {}, and the first \
                     apply creates {list}: it fails on its first statement",
                    ddl::ident(&schema)
                ),
                Some(format!(
                    "{grant} (needed once), or have an admin run `clusterctl init` (or the SQL \
                     of `clusterctl init --print`)"
                )),
            );
            vec![found.with_sql_for_role(named, vec![grant])]
        }
        Err(e) => vec![finding(
            Level::Warning,
            "tables",
            format!(
                "the first apply creates clusterctl's tables: {list}; whether this role may \
                 could not be checked: {e}"
            ),
            Some(init.into()),
        )],
    };
    (found, false, existing)
}

/// An error's text without "`clusterctl doctor` prints the GRANT…": this
/// is doctor, whose privileges finding says the GRANT.
fn without_doctor_hint(e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    let hint = format!(": {}", crate::db::store::DOCTOR_HINT);
    text.strip_suffix(&hint).unwrap_or(&text).to_string()
}

/// The table privileges `apply` needs that our role lacks: on every table,
/// or with `only`, on those tables (the ones that exist before the first
/// apply makes the rest).
async fn privilege_findings(
    ctx: &Context,
    backend: &mut crate::db::live::LiveBackend<'_>,
    env: &Environment,
    only: Option<&[String]>,
) -> Vec<Finding> {
    if env.identity.superuser == Some(true) || env.settings.enable_rbac_checks == Some(false) {
        return Vec::new();
    }
    let store = &ctx.store;
    let role = env
        .identity
        .role
        .as_ref()
        .map(|r| ddl::ident(&r.name))
        .unwrap_or("<role>".into());
    // Without USAGE on the schema no table of it can be read, nor its
    // privileges checked: the GRANT it needs, first (doctor said only that
    // they could not be checked, and --print-sql printed nothing).
    let usage = backend
        .retrying("checking USAGE on the schema", async |c| {
            migrate::schema_privilege(store, c, "USAGE").await
        })
        .await;
    if let Ok((schema, false)) = usage {
        let grant = format!("GRANT USAGE ON SCHEMA {} TO {role}", ddl::ident(&schema));
        let found = finding(
            Level::Blocker,
            "privileges",
            format!(
                "role {role} lacks USAGE on schema {}, which holds clusterctl's tables",
                ddl::ident(&schema)
            ),
            Some(grant.clone()),
        );
        return vec![found.with_sql_for_role(env.identity.role.is_some(), vec![grant])];
    }
    let held = backend
        .retrying("checking table privileges", async |c| {
            store
                .apply_privileges(c, only)
                .await
                .map_err(|e| crate::db::DbError::query("checking table privileges", &e))
        })
        .await;
    match held {
        Err(e) => vec![finding(
            Level::Info,
            "privileges",
            format!("table privileges could not be checked: {e}"),
            None,
        )],
        Ok(rows) => {
            let missing: Vec<String> = rows
                .iter()
                .filter(|(_, _, held)| !held)
                .map(|(t, p, _)| format!("GRANT {p} ON {t} TO {role}"))
                .collect();
            if missing.is_empty() {
                let which = match only {
                    Some(tables) => format!(" on {}", tables.join(", ")),
                    None => String::new(),
                };
                vec![finding(
                    Level::Ok,
                    "privileges",
                    format!("every table privilege apply needs{which} is granted"),
                    None,
                )]
            } else {
                let found = finding(
                    Level::Blocker,
                    "privileges",
                    format!(
                        "role {role} lacks {} privilege(s) apply needs on clusterctl's tables",
                        missing.len()
                    ),
                    Some(missing.join("; ")),
                );
                vec![found.with_sql_for_role(env.identity.role.is_some(), missing)]
            }
        }
    }
}

fn statement_log_findings(snap: &Snapshot, env: &Environment) -> Vec<Finding> {
    let rate = env.settings.sample_rate();
    let rate_text = rate.map(rules::percent).unwrap_or_else(|| "unknown".into());
    if let Some(problem) = rules::activity_warning(snap) {
        return vec![finding(
            Level::Warning,
            "statement_log",
            format!("statement log (sample rate {rate_text}): {problem}"),
            None,
        )];
    }
    let text = match rules::sampling_note(env) {
        Some(note) => format!("statement log readable; {note}"),
        None => format!("statement log readable, sample rate {rate_text}"),
    };
    vec![finding(Level::Ok, "statement_log", text, None)]
}

fn limit_finding(env: &Environment) -> Finding {
    let text = match env.settings.max_replicas_per_cluster {
        Some(n) => format!("max_replicas_per_cluster is {n}: plans never go beyond it"),
        None => "max_replicas_per_cluster could not be read: plans are not capped by it".into(),
    };
    finding(Level::Info, "replica_limit", text, None)
}

/// The region's credit limit and what its replicas use now (§8.5), and
/// the sizes it allows. Info: plans hold back what does not fit.
fn credit_findings(
    env: &Environment,
    live: Option<f64>,
    made_up: bool,
    unread: &str,
) -> Vec<Finding> {
    let now = |live: Option<f64>| match live {
        Some(c) => format!(
            "the region's replicas use {} credits/h",
            region::credits_text(c)
        ),
        None if made_up => "the region's rate is not known: --replica-sizes names sizes \
                            without their credits"
            .into(),
        None => format!("the region's current rate is not known yet ({unread})"),
    };
    let text = match env.settings.max_credit_consumption_rate {
        Some(limit) => format!(
            "max_credit_consumption_rate is {} credits/h and {}: creates beyond it wait \
             (Limited)",
            region::credits_text(limit),
            now(live)
        ),
        None => format!(
            "max_credit_consumption_rate could not be read: plans are not capped by it; {}",
            now(live)
        ),
    };
    let mut out = vec![finding(Level::Info, "credit_limit", text, None)];
    if let Some(allowed) = env
        .settings
        .allowed_cluster_replica_sizes
        .as_ref()
        .filter(|a| !a.is_empty())
    {
        out.push(finding(
            Level::Info,
            "credit_limit",
            format!(
                "allowed_cluster_replica_sizes is {}: rows naming another size are invalid",
                allowed.join(", ")
            ),
            None,
        ));
    }
    out
}

/// Strategy rows every run skips or cannot use, in one finding pointing at
/// `check` (which names each): invalid rows (their cluster is skipped) and
/// rows of no cluster. Doctor said "apply will work here" over a fleet
/// with nine clusters skipped (an outside check).
fn row_finding(snap: &Snapshot) -> Option<Finding> {
    let report = super::check::check_snapshot(snap, &plan::Selection::all());
    let mut skipped: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.severity == rows::Severity::Error && f.cluster.is_some())
        .map(|f| f.cluster_id.0.as_str())
        .collect();
    skipped.sort_unstable();
    skipped.dedup();
    let dangling = report
        .findings
        .iter()
        .filter(|f| f.code == rows::Code::DanglingCluster)
        .count();
    let mut parts = Vec::new();
    if !skipped.is_empty() {
        let n = skipped.len();
        parts.push(format!(
            "{n} cluster{} with invalid strategy rows, skipped by every run",
            plural(n)
        ));
    }
    if dangling > 0 {
        parts.push(format!(
            "{dangling} strategy row{} naming no cluster",
            plural(dangling)
        ));
    }
    if parts.is_empty() {
        return None;
    }
    Some(finding(
        Level::Warning,
        "strategies",
        parts.join("; "),
        Some(format!(
            "run `{}`: it names each row and why",
            snap.env.command("check")
        )),
    ))
}

/// Clusters with strategies that the controller leaves alone, or whose
/// strategies the environment keeps from working.
fn cluster_findings(snap: &Snapshot) -> Vec<Finding> {
    let plan = plan::plan(snap, &PlanOptions::default());
    let in_effect = rows::in_effect(&snap.strategies);
    // By id, not a scan per cluster: 10 000 clusters made that 50 million
    // comparisons.
    let by_id = snap.cluster_index();
    let mut out = Vec::new();
    for cp in &plan.clusters {
        let who = format!("cluster {} ({})", cp.cluster, cp.cluster_id);
        if let Outcome::Unmanageable { reason } = &cp.outcome {
            let (why, fix) = match reason.split_once("; fix: ") {
                Some((why, fix)) => (why, Some(fix.to_string())),
                None => (reason.as_str(), None),
            };
            // The reason's fix is the ownership's statements (the one
            // reason with a fix): the same, whole, for the script.
            let sql = fix
                .as_ref()
                .and_then(|_| by_id.get(&cp.cluster_id))
                .and_then(|&i| rules::ownership(&snap.env, &snap.clusters[i]))
                .map(|o| o.fixes)
                .unwrap_or_default();
            out.push(
                finding(
                    Level::Warning,
                    "cluster",
                    format!("{who}: not manageable: {why}"),
                    fix,
                )
                .with_sql(sql),
            );
            continue;
        }
        let (Some(cluster), Some(rows)) = (
            by_id.get(&cp.cluster_id).map(|&i| &snap.clusters[i]),
            in_effect.get(&cp.cluster_id),
        ) else {
            continue;
        };
        let validated = rows::validate(Some(cluster), rows, &snap.sizes);
        for (_, _, message) in rules::environment_findings(snap, cluster, &validated.configs) {
            out.push(finding(
                Level::Warning,
                "cluster",
                format!("{who}: {message}"),
                None,
            ));
        }
    }
    // Every cluster with strategies left alone or skipped: apply runs and
    // does nothing (it was "apply will work here" over a fleet of which
    // not one cluster could be managed: an outside check).
    let count = |f: fn(&Outcome) -> bool| plan.clusters.iter().filter(|c| f(&c.outcome)).count();
    let unmanageable = count(|o| matches!(o, Outcome::Unmanageable { .. }));
    let invalid = count(|o| matches!(o, Outcome::Invalid { .. }));
    let total = plan.clusters.len();
    if total > 0 && unmanageable + invalid == total {
        let mut why = Vec::new();
        if unmanageable > 0 {
            why.push(format!("{unmanageable} not manageable"));
        }
        if invalid > 0 {
            why.push(format!("{invalid} skipped for invalid strategy rows"));
        }
        out.push(finding(
            Level::Blocker,
            "cluster",
            format!(
                "apply would act on none of the {total} cluster{} with strategies: {}",
                plural(total),
                why.join(", ")
            ),
            Some("the warnings about each cluster say why and what to do".into()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::store::TrailSize;
    use chrono::{DateTime, Utc};

    fn at(days_ago: i64) -> DateTime<Utc> {
        now() - chrono::Duration::days(days_ago)
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn trail(rows: u64, oldest: Option<i64>, last_pruned: Option<i64>) -> Finding {
        trail_finding(Ok(TrailSize {
            now: now(),
            rows,
            oldest: oldest.map(at),
            last_pruned: last_pruned.map(at),
        }))
    }

    #[test]
    fn a_large_trail_never_pruned_is_a_warning_with_the_flag_that_prunes_it() {
        let f = trail(TRAIL_ROWS_WARN, Some(200), None);
        assert_eq!(f.level, Level::Warning);
        assert!(
            f.message.starts_with(
                "the audit trail holds 100000 rows since 2026-05-18T12:00:00Z (200d00h ago) \
                 and is not pruned"
            ),
            "{}",
            f.message
        );
        assert!(f.fix.is_some_and(|x| x.contains("--audit-retention 90d")));
        // One row fewer is only said.
        let f = trail(TRAIL_ROWS_WARN - 1, Some(200), None);
        assert_eq!((f.level, f.fix), (Level::Info, None));
    }

    #[test]
    fn a_trail_pruned_this_week_is_not_a_warning_however_large() {
        let f = trail(TRAIL_ROWS_WARN * 3, Some(91), Some(7));
        assert_eq!(f.level, Level::Info, "{}", f.message);
        assert!(f
            .message
            .ends_with("apply --audit-retention last pruned it at 2026-11-27T12:00:00Z"));
        // A pruning longer ago than a week: the flag may have been dropped.
        let f = trail(TRAIL_ROWS_WARN * 3, Some(91), Some(8));
        assert_eq!(f.level, Level::Warning, "{}", f.message);
    }

    #[test]
    fn an_empty_trail_is_fine() {
        let f = trail(0, None, None);
        assert_eq!(
            (f.level, f.message.as_str()),
            (Level::Ok, "the audit trail is empty")
        );
        let f = trail(1, Some(0), None);
        assert_eq!(
            f.message,
            "the audit trail holds 1 row since 2026-12-04T12:00:00Z (0s ago)"
        );
    }
}
