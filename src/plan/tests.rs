//! Coordinator tests: row handling, manageability, invariants, ordering,
//! state; plus property tests for the invariants over random clusters.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use regex::Regex;
use serde_json::json;

use super::*;
use crate::model::{Activity, CrashInfo, Replica, Schedule, SizeCatalog, StrategyRow};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// `strategy::testutil::replica` with the id a test chooses.
fn replica(id: u64, name: &str, size: &str, hydrated: bool) -> Replica {
    Replica {
        id: format!("u{id}"),
        ..crate::strategy::testutil::replica(name, size, hydrated)
    }
}

fn cluster(id: &str, name: &str, replicas: Vec<Replica>) -> Cluster {
    Cluster {
        replicas,
        ..Cluster::empty(ClusterId(id.into()), name)
    }
}

fn row(cluster: &str, ty: &str, config: serde_json::Value) -> StrategyRow {
    StrategyRow {
        cluster_id: ClusterId(cluster.into()),
        strategy_type: ty.into(),
        config,
        updated_at: Some(now() - Duration::hours(1)),
        unreadable: None,
    }
}

fn snap(clusters: Vec<Cluster>, strategies: Vec<StrategyRow>) -> Snapshot {
    Snapshot {
        now: now(),
        sizes: SizeCatalog::cloud_defaults(),
        clusters,
        strategies,
        states: Default::default(),
        activity_log_has_rows: true,
        activity_log_since: None,
        session_cluster: Some("quickstart".into()),
        env: Default::default(),
        demand: None,
        unfinished: Vec::new(),
        suspensions: Default::default(),
        created_since: Default::default(),
        suspensions_read: false,
        last_resizes: Default::default(),
        refusals: Default::default(),
        local_clock: None,
    }
}

/// The plan's settlements of unfinished audit rows: (action id, executed).
fn settled(plan: &Plan) -> Vec<(&str, bool)> {
    plan.settle
        .iter()
        .map(|x| (x.action_id.as_str(), x.executed))
        .collect()
}

fn only(plan: &Plan) -> &ClusterPlan {
    assert_eq!(plan.clusters.len(), 1, "{plan:#?}");
    &plan.clusters[0]
}

#[test]
fn creates_come_before_drops_and_carry_reasons() {
    let s = snap(
        vec![cluster(
            "u2",
            "c",
            vec![
                replica(1, "r_25cc", "25cc", true),
                replica(2, "c-burst", "800cc", true),
            ],
        )],
        vec![
            row("u2", "target_size", json!({"target_size": "50cc"})),
            row("u2", "burst", json!({"burst_replica_size": "800cc"})),
        ],
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    let kinds: Vec<ActionKind> = cp.actions.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![ActionKind::CreateReplica, ActionKind::DropReplica]
    );
    assert_eq!(cp.actions[0].replica, "r_50cc");
    assert_eq!(
        cp.actions[0].sql,
        r#"CREATE CLUSTER REPLICA "c"."r_50cc" (SIZE = '50cc')"#
    );
    assert_eq!(cp.actions[1].replica, "c-burst");
    assert_eq!(cp.actions[1].strategy, StrategyKind::Burst);
    assert!(cp.actions.iter().all(|a| !a.reasons.is_empty()));
}

#[test]
fn duplicate_rows_newest_wins_with_a_warning() {
    let mut old = row("u2", "target_size", json!({"target_size": "25cc"}));
    old.updated_at = Some(now() - Duration::days(2));
    let new = row("u2", "target_size", json!({"target_size": "100cc"}));
    let s = snap(vec![cluster("u2", "c", vec![])], vec![old, new]);
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(only(&p).actions[0].size, Some(Size("100cc".into())));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("2 rows for strategy 'target_size'")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn invalid_rows_skip_only_their_cluster() {
    let s = snap(
        vec![
            cluster("u2", "good", vec![]),
            cluster("u3", "bad", vec![]),
            cluster("u4", "typo", vec![]),
        ],
        vec![
            row("u2", "target_size", json!({"target_size": "25cc"})),
            row("u3", "idle_suspend", json!({"idle_after_s": "ten"})),
            row("u4", "idle_supsend", json!({"idle_after_s": 10})),
        ],
    );
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(p.invalid_count(), 2);
    let by_name = |n: &str| p.clusters.iter().find(|c| c.cluster == n).unwrap();
    assert_eq!(by_name("good").actions.len(), 1);
    match &by_name("bad").outcome {
        Outcome::Invalid { errors } => {
            assert!(errors[0].contains("idle_after_s"), "{errors:?}");
            assert!(errors[0].contains("number of seconds >= 1"), "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
    match &by_name("typo").outcome {
        Outcome::Invalid { errors } => assert!(
            errors[0].contains("known types are: target_size"),
            "{errors:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(by_name("bad").actions.is_empty());
}

#[test]
fn clusters_we_must_not_touch_are_reported_not_changed() {
    let mut refresh = cluster("u3", "refresh", vec![]);
    refresh.schedule = Schedule::OnRefresh;
    let session = cluster("u4", "quickstart", vec![]);
    let system = cluster("s1", "mz_system", vec![]);
    let mut sizeless = cluster("u5", "sizeless", vec![replica(2, "r1", "25cc", true)]);
    sizeless.replicas[0].size = None;
    let clusters = vec![refresh, session, system, sizeless];
    let rows = clusters
        .iter()
        .map(|c| row(&c.id.0, "target_size", json!({"target_size": "50cc"})))
        .collect();
    let p = plan(&snap(clusters, rows), &PlanOptions::default());
    assert_eq!(p.clusters.len(), 4);
    for cp in &p.clusters {
        assert!(cp.actions.is_empty(), "{}", cp.cluster);
        assert!(
            matches!(cp.outcome, Outcome::Unmanageable { .. }),
            "{}",
            cp.cluster
        );
        assert!(cp.new_state.is_none());
    }
}

fn managed(rf: i64, size: &str, hydrated: bool) -> Cluster {
    let replicas = (1..=rf)
        .map(|i| replica(i as u64, &format!("r{i}"), size, hydrated))
        .collect();
    let mut c = cluster("u2", "m", replicas);
    c.managed = true;
    c.size = Some(Size(size.into()));
    c.replication_factor = Some(rf);
    c
}

/// Managed cluster u2, suspended (no replica) with a statement waiting, on
/// a release that resizes by restarting, its strategies wanting `size`.
fn waking_on_a_restarting_release(size: &str) -> Snapshot {
    let mut asleep = managed(0, "25cc", false);
    asleep.activity = Activity {
        last_begin: Some(now()),
        in_flight: 1,
        last_end: None,
    };
    let mut s = snap(
        vec![asleep],
        vec![row("u2", "target_size", json!({"target_size": size}))],
    );
    s.env.version = Some("v25.2.0".into());
    s.env.settings.enable_zero_downtime_cluster_reconfiguration = Some(false);
    s
}

#[test]
fn managed_clusters_get_alter_cluster_ddl() {
    let kinds = |p: &Plan| -> Vec<(ActionKind, String)> {
        only(p)
            .actions
            .iter()
            .map(|a| (a.kind, a.sql.clone()))
            .collect()
    };
    // Resize: one graceful ALTER, no replica DDL.
    let s = snap(
        vec![managed(1, "25cc", true)],
        vec![row("u2", "target_size", json!({"target_size": "100cc"}))],
    );
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        kinds(&p),
        vec![(
            ActionKind::SetSize,
            r#"ALTER CLUSTER "m" SET (SIZE = '100cc') WITH (WAIT UNTIL READY (TIMEOUT = '600s', ON TIMEOUT = 'ROLLBACK'))"#.to_string()
        )]
    );
    // Converged after the resize (the new replica hydrating): nothing.
    let s = snap(
        vec![managed(1, "100cc", false)],
        vec![row("u2", "target_size", json!({"target_size": "100cc"}))],
    );
    assert!(only(&plan(&s, &PlanOptions::default())).actions.is_empty());
    // Idle: suspend with replication factor 0.
    let mut idle = managed(2, "25cc", true);
    idle.activity.last_begin = Some(now() - Duration::hours(3));
    let s = snap(
        vec![idle],
        vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))],
    );
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        kinds(&p),
        vec![(
            ActionKind::SetReplicationFactor,
            r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 0)"#.to_string()
        )]
    );
    // Demand on the suspended cluster: back to its replication factor.
    let mut suspended = managed(0, "25cc", false);
    suspended.activity = Activity {
        last_begin: Some(now()),
        in_flight: 1,
        last_end: None,
    };
    let mut s = snap(
        vec![suspended],
        vec![row("u2", "target_size", json!({"target_size": "25cc"}))],
    );
    s.states.clear();
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        kinds(&p),
        vec![(
            ActionKind::SetReplicationFactor,
            r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#.to_string()
        )]
    );
}

#[test]
fn a_managed_resize_takes_the_form_the_release_supports() {
    let sql = |p: &Plan| -> Vec<String> { only(p).actions.iter().map(|a| a.sql.clone()).collect() };
    let resize = |version: &str, zero_downtime: Option<bool>, cfg: serde_json::Value| {
        let mut s = snap(
            vec![managed(1, "25cc", true)],
            vec![row("u2", "target_size", cfg)],
        );
        s.env.version = Some(version.into());
        s.env.settings.enable_zero_downtime_cluster_reconfiguration = zero_downtime;
        plan(&s, &PlanOptions::default())
    };
    let to_100 = json!({"target_size": "100cc"});
    // v26.35+: a plain SET (SIZE); Materialize cuts over in the background.
    let p = resize("v26.35.0 (abc)", None, to_100.clone());
    assert_eq!(sql(&p), [r#"ALTER CLUSTER "m" SET (SIZE = '100cc')"#]);
    assert_eq!(
        only(&p).actions[0].resize,
        Some(crate::plan::ResizeForm::Background)
    );
    // Without graceful resize: not at all, said as an alert...
    let p = resize("v25.2.0 (abc)", Some(false), to_100);
    assert!(sql(&p).is_empty());
    assert!(
        only(&p)
            .alerts
            .iter()
            .any(|a| a.contains("not resizable to 100cc")),
        "{:?}",
        only(&p).alerts
    );
    // ... and held back as a limit holds a create: not converged, an
    // operator's to act on.
    assert_eq!(only(&p).state(), crate::plan::PlanState::Attention);
    let held: Vec<(&str, bool)> = only(&p)
        .waiting
        .iter()
        .map(|d| (d.action.as_str(), d.held_by_limit()))
        .collect();
    assert_eq!(held, [("resize to 100cc", true)]);
    // ... or with a restart where downtime is allowed, said in the reasons.
    let p = resize(
        "v25.2.0 (abc)",
        Some(false),
        json!({"target_size": "100cc", "allow_downtime": true}),
    );
    assert_eq!(sql(&p), [r#"ALTER CLUSTER "m" SET (SIZE = '100cc')"#]);
    assert!(only(&p).actions[0]
        .reasons
        .iter()
        .any(|r| r.contains("downtime")));

    // A suspended cluster waking on such a release: no replica runs, so the
    // size changes without downtime, then the replication factor.
    let s = waking_on_a_restarting_release("100cc");
    assert_eq!(
        sql(&plan(&s, &PlanOptions::default())),
        [
            r#"ALTER CLUSTER "m" SET (SIZE = '100cc')"#,
            r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#
        ]
    );

    // In the background form a replication-factor change waits for the resize.
    let mut two = managed(1, "25cc", true);
    two.activity.last_begin = Some(now());
    let mut s = snap(
        vec![two],
        vec![row(
            "u2",
            "schedule",
            json!({"timezone": "UTC", "windows": [{"cron": "0 0 0 * * *", "duration_s": 86400, "size": "100cc", "replicas": 2}]}),
        )],
    );
    s.env.version = Some("v26.35.0".into());
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        sql(&p),
        [r#"ALTER CLUSTER "m" SET (SIZE = '100cc')"#],
        "{:#?}",
        only(&p)
    );
    assert!(only(&p)
        .notes
        .iter()
        .any(|n| n.contains("replication factor 2 waits for the resize")));

    // A resize keeps the replication factor in every form: target_size's
    // "one replica of the size" was planned as REPLICATION FACTOR 1 after a
    // blocking resize of an HA cluster, and kept at 2 in the background form.
    for (version, zero_downtime) in [("v26.35.0", Some(true)), ("v26.1.0", Some(true))] {
        let mut s = snap(
            vec![managed(2, "25cc", true)],
            vec![row("u2", "target_size", json!({"target_size": "100cc"}))],
        );
        s.env.version = Some(version.into());
        s.env.settings.enable_zero_downtime_cluster_reconfiguration = zero_downtime;
        s.env.settings.enable_background_alter_cluster = Some(false);
        let p = plan(&s, &PlanOptions::default());
        let c = only(&p);
        assert_eq!(c.actions.len(), 1, "{version}: {:#?}", c);
        assert_eq!(c.actions[0].kind, ActionKind::SetSize, "{version}");
        assert!(
            !c.notes.iter().any(|n| n.contains("replication factor")),
            "{version}: {:?}",
            c.notes
        );
    }

    // While it is in flight, nothing at all.
    let mut flying = managed(1, "25cc", true);
    flying.replicas.push(replica(9, "r2", "100cc", false));
    let mut s = snap(
        vec![flying],
        vec![row("u2", "target_size", json!({"target_size": "100cc"}))],
    );
    s.env.version = Some("v26.35.0".into());
    let p = plan(&s, &PlanOptions::default());
    assert!(sql(&p).is_empty(), "{:#?}", only(&p));
    assert!(only(&p)
        .notes
        .iter()
        .any(|n| n.contains("waiting for the resize to finish")));
    // A suspension the strategies want meanwhile waits too, and says so
    // (the plan showed the resize alone).
    s.strategies
        .push(row("u2", "idle_suspend", json!({"idle_after_s": 600})));
    s.clusters[0].activity = Activity {
        last_begin: Some(now() - Duration::hours(2)),
        in_flight: 0,
        last_end: Some(now() - Duration::hours(2)),
    };
    let p = plan(&s, &PlanOptions::default());
    assert!(sql(&p).is_empty(), "{:#?}", only(&p));
    let suspend = only(&p).waiting.iter().find(|d| d.action == "suspend");
    assert!(
        suspend.is_some_and(|d| d.reason.contains("waits for the resize in flight")),
        "{:#?}",
        only(&p).waiting
    );
}

/// The plan at `at` of managed cluster `c` (u2) whose strategies want 100cc
/// and whose newest executed resize, sent at `sent_at`, asked for 100cc (on
/// a release that resizes in the background), with its stored `state`.
fn plan_after_resize(
    c: Cluster,
    at: DateTime<Utc>,
    sent_at: DateTime<Utc>,
    state: Option<serde_json::Value>,
) -> Plan {
    plan_after_resize_to("100cc", c, at, sent_at, state)
}

/// [`plan_after_resize`], the strategies wanting `size` and the resize
/// having asked for it.
fn plan_after_resize_to(
    size: &str,
    c: Cluster,
    at: DateTime<Utc>,
    sent_at: DateTime<Utc>,
    state: Option<serde_json::Value>,
) -> Plan {
    let mut s = snap(
        vec![c],
        vec![row("u2", "target_size", json!({"target_size": size}))],
    );
    s.now = at;
    s.env.version = Some("v26.35.0 (abc)".into());
    s.last_resizes.insert(
        ClusterId("u2".into()),
        crate::model::LastResize {
            size: Size(size.into()),
            at: sent_at,
            failed: None,
        },
    );
    if let Some(state) = state {
        s.states.insert(ClusterId("u2".into()), state);
    }
    plan(&s, &PlanOptions::default())
}

/// A background resize Materialize rolled back at its deadline: the audit
/// trail says `SET (SIZE = '100cc')` ran, the cluster is still 25cc and
/// nothing is in flight. Sent again at once, it would run a second set of
/// replicas until each deadline, for ever: it is held back with an alert,
/// and sent once more only after the backoff.
#[test]
fn a_resize_that_did_not_take_is_held_back_with_an_alert_then_retried_once() {
    let sent_at = now() - Duration::minutes(10);
    let rolled_back = |at: DateTime<Utc>, state: Option<serde_json::Value>| {
        plan_after_resize(managed(1, "25cc", true), at, sent_at, state)
    };
    // Just seen: held back, not sent, with the reason and an alert.
    let p = rolled_back(now(), None);
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:#?}", cp.actions);
    assert_eq!(cp.state(), PlanState::Attention);
    assert_eq!(cp.waiting.len(), 1, "{:#?}", cp.waiting);
    assert_eq!(cp.waiting[0].action, "resize to 100cc");
    assert!(
        cp.waiting[0].reason.contains("did not take"),
        "{:#?}",
        cp.waiting
    );
    assert_eq!(cp.waiting[0].in_seconds, Some(3600));
    let alert = cp.alerts.join("\n");
    assert!(
        alert.contains("resize to 100cc sent at 2026-11-21T11:50:00Z did not take")
            && alert.contains("credits/h")
            && alert.contains("default_cluster_reconfiguration_timeout")
            && alert.contains("choose another size"),
        "{alert}"
    );
    let (condition, reason) = crate::commands::status::condition(
        &snap(vec![managed(1, "25cc", true)], vec![]),
        &managed(1, "25cc", true),
        Some(cp),
    );
    assert_eq!(
        condition,
        crate::commands::status::Condition::ResizeRolledBack
    );
    // First seen by this plan: the end moves with every plan until `apply`
    // records it.
    assert!(
        reason.contains("held back at least until 2026-11-21T13:00:00Z (the backoff counts"),
        "{reason}"
    );
    // The backoff counts from when apply first saw it, kept in its state.
    let state = cp.new_state.as_deref().cloned();
    let seen = state
        .as_ref()
        .and_then(|s| s.get(CONTROLLER_SLOT))
        .and_then(|c| c.get(rolled_back::STATE_KEY))
        .cloned();
    assert!(seen.is_some(), "{state:?}");
    let later = rolled_back(now() + Duration::minutes(59), state.clone());
    assert!(only(&later).actions.is_empty());
    assert_eq!(only(&later).waiting[0].in_seconds, Some(60));
    let reason = &only(&later).waiting[0].reason;
    assert!(
        reason.contains("held back until 2026-11-21T13:00:00Z") && !reason.contains("at least"),
        "{reason}"
    );
    // After it: sent once more, still alerting.
    let retry = rolled_back(now() + Duration::hours(1), state);
    let cp = only(&retry);
    assert_eq!(cp.actions.len(), 1, "{:#?}", cp.actions);
    assert_eq!(cp.actions[0].kind, ActionKind::SetSize);
    assert!(
        cp.alerts.iter().any(|a| a.contains("sent once more")),
        "{:?}",
        cp.alerts
    );
    // A size the strategies no longer want is nothing to hold.
    let mut s = snap(
        vec![managed(1, "25cc", true)],
        vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
    );
    s.last_resizes.insert(
        ClusterId("u2".into()),
        crate::model::LastResize {
            size: Size("100cc".into()),
            at: sent_at,
            failed: None,
        },
    );
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(only(&p).actions.len(), 1);
    assert!(only(&p).rolled_back.is_none() && only(&p).alerts.is_empty());
}

/// A resize that keeps not taking (a size short of memory for good): each
/// attempt in a row doubles the backoff, so the second set of replicas an
/// attempt runs until its deadline costs less and less. The count survives
/// the attempt in flight, and a resize that takes forgets it.
#[test]
fn each_resize_in_a_row_that_does_not_take_doubles_the_backoff() {
    let plan_at = |at: DateTime<Utc>,
                   sent_at: DateTime<Utc>,
                   in_flight: bool,
                   size: &str,
                   state: Option<serde_json::Value>| {
        let mut c = managed(1, size, true);
        if in_flight {
            c.replicas.push(replica(9, "r1-pending", "100cc", false));
        }
        plan_after_resize(c, at, sent_at, state)
    };
    let state_of = |p: &Plan| only(p).new_state.as_deref().cloned();
    let first_sent = now() - Duration::minutes(10);
    // The first attempt did not take: held for the hour.
    let first = plan_at(now(), first_sent, false, "25cc", None);
    assert_eq!(only(&first).waiting[0].in_seconds, Some(3600));
    assert_eq!(
        only(&first).rolled_back.as_ref().map(|r| r.attempts),
        Some(1)
    );
    // After it, sent once more; then in flight: the record is kept.
    let retry_at = now() + Duration::hours(1);
    let sent = plan_at(retry_at, first_sent, false, "25cc", state_of(&first));
    assert_eq!(only(&sent).actions.len(), 1, "{:#?}", only(&sent));
    let state = state_of(&first);
    let flight = plan_at(
        retry_at + Duration::minutes(5),
        retry_at,
        true,
        "25cc",
        state.clone(),
    );
    assert!(only(&flight).actions.is_empty());
    let kept = only(&flight)
        .new_state
        .as_deref()
        .cloned()
        .or(state)
        .and_then(|s| s.get(CONTROLLER_SLOT)?.get(rolled_back::STATE_KEY).cloned());
    assert_eq!(
        kept.as_ref().and_then(|k| k.get("attempts")),
        Some(&json!(1))
    );
    let state = only(&flight)
        .new_state
        .as_deref()
        .cloned()
        .or(state_of(&first));
    // The second attempt did not take either: held twice as long.
    let again_at = retry_at + Duration::minutes(30);
    let again = plan_at(again_at, retry_at, false, "25cc", state);
    let cp = only(&again);
    assert!(cp.actions.is_empty(), "{:#?}", cp.actions);
    assert_eq!(cp.rolled_back.as_ref().map(|r| r.attempts), Some(2));
    assert_eq!(cp.waiting[0].in_seconds, Some(2 * 3600));
    assert!(
        cp.alerts.iter().any(|a| a.contains("2 attempts in a row")),
        "{:?}",
        cp.alerts
    );
    // Ten attempts: never more than a week.
    let last = crate::model::LastResize {
        size: Size("100cc".into()),
        at: now(),
        failed: None,
    };
    let seen = rolled_back::Seen {
        at: now() + Duration::minutes(30),
        attempts: 10,
        recorded: true,
    };
    assert_eq!(
        rolled_back::retry_at(&last, seen, std::time::Duration::from_secs(600)) - seen.at,
        Duration::days(7)
    );
    // A resize that takes forgets the count.
    let took = plan_at(
        again_at + Duration::hours(3),
        again_at + Duration::hours(2),
        false,
        "100cc",
        state_of(&again),
    );
    let forgotten =
        state_of(&took).and_then(|s| s.get(CONTROLLER_SLOT)?.get(rolled_back::STATE_KEY).cloned());
    assert_eq!(forgotten, None);
}

/// A resize a plan saw take, then a size changed by hand: no resize that
/// did not take (it was called a rollback, with advice about memory and an
/// hour's hold: an outside check). The strategy's size is asked for again
/// at once. The plan that sees the size taken records it.
#[test]
fn a_size_changed_by_hand_after_a_resize_took_is_no_rollback() {
    let sent_at = now() - Duration::minutes(30);
    let records_took =
        |st: &serde_json::Value| st[CONTROLLER_SLOT][rolled_back::TOOK_KEY].is_object();
    // Converged at 100cc: the record is written.
    let p = plan_after_resize_to("100cc", managed(1, "100cc", true), now(), sent_at, None);
    let state = only(&p).new_state.as_deref().cloned().expect("state");
    assert!(records_took(&state), "{state:#}");
    // Then 25cc by hand: asked for again, no alert, no hold.
    let p = plan_after_resize_to(
        "100cc",
        managed(1, "25cc", true),
        now() + Duration::minutes(5),
        sent_at,
        Some(state.clone()),
    );
    let cp = only(&p);
    assert!(cp.alerts.is_empty(), "{:?}", cp.alerts);
    assert!(cp.rolled_back.is_none(), "{cp:#?}");
    assert_eq!(cp.actions.len(), 1, "{cp:#?}");
    assert_eq!(cp.actions[0].kind, ActionKind::SetSize);
    // The record is kept while the size is not the resize's.
    let kept = cp.new_state.as_deref().cloned().unwrap_or(state.clone());
    assert!(records_took(&kept), "{kept:#}");
    // A later resize (another time) is judged afresh: not taken.
    let p = plan_after_resize_to(
        "100cc",
        managed(1, "25cc", true),
        now() + Duration::minutes(50),
        now() + Duration::minutes(40),
        Some(state),
    );
    assert!(only(&p).rolled_back.is_some(), "{:#?}", only(&p));
}

/// The alert of a resize that did not take prices what each attempt runs
/// beside the current replicas: the replication factor times the size's
/// credits.
#[test]
fn a_resize_that_did_not_take_prices_every_replica_of_an_attempt() {
    let p = plan_after_resize_to(
        "200cc",
        managed(3, "25cc", true),
        now(),
        now() - Duration::minutes(10),
        None,
    );
    let alert = only(&p).alerts.join("\n");
    assert!(
        alert.contains("each attempt runs 3 replicas of 200cc (6 credits/h)"),
        "{alert}"
    );
}

/// What the controller's record makes of the trail's newest resize: the
/// same resize (size and time) keeps its count and when it was first seen;
/// an earlier resize to the same size that did not take either makes one
/// attempt more; a record of another size, or of a later resize than the
/// trail's (a record the trail does not explain), starts again at one.
#[test]
fn a_resize_counts_as_one_more_attempt_only_after_an_earlier_one_to_the_same_size() {
    let state = |size: &str, sent_at: DateTime<Utc>| {
        let last = crate::model::LastResize {
            size: Size(size.into()),
            at: sent_at,
            failed: None,
        };
        let seen = rolled_back::Seen {
            at: sent_at + Duration::minutes(20),
            attempts: 3,
            recorded: true,
        };
        json!({ CONTROLLER_SLOT: { rolled_back::STATE_KEY: rolled_back::record(&last, seen) } })
    };
    let sent_at = now() - Duration::minutes(30);
    let last = crate::model::LastResize {
        size: Size("100cc".into()),
        at: sent_at,
        failed: None,
    };
    let seen = |state: &serde_json::Value| {
        let s = rolled_back::seen(state, &last, now());
        (s.at, s.attempts)
    };

    let same = seen(&state("100cc", sent_at));
    assert_eq!(same, (sent_at + Duration::minutes(20), 3));
    let again = seen(&state("100cc", sent_at - Duration::hours(2)));
    assert_eq!(again, (now(), 4));
    for other in [
        state("50cc", sent_at - Duration::hours(2)),
        state("50cc", sent_at),
        state("100cc", sent_at + Duration::minutes(1)),
        json!({}),
    ] {
        assert_eq!(seen(&other), (now(), 1), "{other}");
    }
}

/// The audit trail's times have microseconds, the controller's record of
/// a resize that did not take milliseconds: read back the next run, it is
/// the same attempt. Before, each run counted one more, seen anew: the
/// backoff doubled every run and its end moved away, so the resize was
/// never sent again, and the alert counted runs as attempts.
#[test]
fn a_resize_read_back_with_microseconds_is_the_same_attempt() {
    let sent_at = now() - Duration::minutes(10) + Duration::microseconds(123_456);
    let first = plan_after_resize(managed(1, "25cc", true), now(), sent_at, None);
    let state = only(&first).new_state.as_deref().cloned();
    assert!(state.is_some());
    let next_run = now() + Duration::minutes(1);
    let next = plan_after_resize(managed(1, "25cc", true), next_run, sent_at, state);
    let cp = only(&next);
    assert_eq!(
        cp.rolled_back.as_ref().map(|r| (r.attempts, r.seen_at)),
        Some((1, now())),
        "{:?}",
        cp.alerts
    );
    assert_eq!(cp.waiting[0].in_seconds, Some(3540));
}

#[test]
fn burst_and_shrink_to_fit_are_refused_on_managed_clusters() {
    for (ty, cfg) in [
        ("burst", json!({"burst_replica_size": "800cc"})),
        ("shrink_to_fit", json!({"max_replica_size": "100cc"})),
    ] {
        let s = snap(vec![managed(1, "25cc", true)], vec![row("u2", ty, cfg)]);
        let p = plan(&s, &PlanOptions::default());
        match &only(&p).outcome {
            Outcome::Invalid { errors } => assert!(
                errors[0].contains("not supported on managed clusters"),
                "{errors:?}"
            ),
            other => panic!("{ty}: {other:?}"),
        }
    }
}

#[test]
fn cluster_filter_limits_the_plan() {
    let s = snap(
        vec![
            cluster("u2", "prod_a", vec![]),
            cluster("u3", "dev_b", vec![]),
        ],
        vec![
            row("u2", "target_size", json!({"target_size": "25cc"})),
            row("u3", "target_size", json!({"target_size": "25cc"})),
        ],
    );
    let opts = PlanOptions {
        selection: Selection::pattern(Regex::new("^prod_").expect("regex")),
        ..PlanOptions::default()
    };
    let p = plan(&s, &opts);
    assert_eq!(only(&p).cluster, "prod_a");
}

/// Cluster `c` with one 25cc replica, hydrated or not, that OOM-loops,
/// under `shrink_to_fit` up to 100cc.
fn oom_looping_under_shrink_to_fit(hydrated: bool) -> Snapshot {
    let mut r = replica(1, "c_25cc", "25cc", hydrated);
    r.crash = CrashInfo {
        crashes: 3,
        ooms: 3,
        last_crash: None,
        first_crash: None,
        last_offline: None,
    };
    snap(
        vec![cluster("u2", "c", vec![r])],
        vec![row(
            "u2",
            "shrink_to_fit",
            json!({"max_replica_size": "100cc"}),
        )],
    )
}

#[test]
fn last_hydrated_replica_is_kept_unless_suspending() {
    // The only hydrated replica OOM-loops: shrink_to_fit wants it gone, but
    // nothing else is hydrated yet.
    let s = oom_looping_under_shrink_to_fit(true);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(
        cp.actions
            .iter()
            .all(|a| a.kind == ActionKind::CreateReplica),
        "{:?}",
        cp.actions
    );
    assert!(
        cp.notes.iter().any(|n| n.contains("last hydrated replica")),
        "{:?}",
        cp.notes
    );
}

#[test]
fn source_replica_is_kept() {
    let mut c = cluster(
        "u2",
        "src",
        vec![
            replica(1, "old", "25cc", true),
            replica(2, "r_50cc", "50cc", true),
        ],
    );
    c.has_singleton_source = true;
    let s = snap(
        vec![c],
        vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:?}", cp.actions);
    assert!(cp
        .notes
        .iter()
        .any(|n| n.contains("runs the cluster's sources")));
    // Both sizes are billed until someone acts: waiting work, not a
    // converged cluster.
    assert!(
        cp.waiting
            .iter()
            .any(|w| w.action == "drop old (25cc)" && w.reason.contains("drop it by hand")),
        "{:?}",
        cp.waiting
    );
}

#[test]
fn idle_signal_cases() {
    let c = |activity: Activity| {
        let mut c = cluster("u2", "c", vec![replica(1, "r1", "25cc", true)]);
        c.activity = activity;
        c
    };
    let rows = || vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))];
    // Idle long enough → suspended.
    let s = snap(
        vec![c(Activity {
            last_begin: Some(now() - Duration::hours(1)),
            in_flight: 0,
            last_end: None,
        })],
        rows(),
    );
    assert_eq!(only(&plan(&s, &PlanOptions::default())).actions.len(), 1);
    // In flight → busy.
    let s = snap(
        vec![c(Activity {
            last_begin: Some(now() - Duration::hours(1)),
            in_flight: 1,
            last_end: None,
        })],
        rows(),
    );
    assert!(only(&plan(&s, &PlanOptions::default())).actions.is_empty());
    // Log empty → unknown → not suspended.
    let mut s = snap(vec![c(Activity::default())], rows());
    s.activity_log_has_rows = false;
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(only(&p).signals.idle, Idle::Unknown);
    assert!(only(&p).actions.is_empty());
    // Log has rows but none for this cluster: grace from first sighting.
    let s = snap(vec![c(Activity::default())], rows());
    let p = plan(&s, &PlanOptions::default());
    assert!(
        only(&p).actions.is_empty(),
        "first sighting gives a full grace period"
    );
    let mut s = snap(vec![c(Activity::default())], rows());
    s.states.insert(
        ClusterId("u2".into()),
        json!({"_controller": {"first_seen": (now() - Duration::hours(2)).to_rfc3339()}}),
    );
    assert_eq!(only(&plan(&s, &PlanOptions::default())).actions.len(), 1);
}

#[test]
fn the_logs_silence_counts_while_a_replica_ran_through_it() {
    let rows = || vec![row("u2", "idle_suspend", json!({"idle_after_s": 3600}))];
    // First seen now, no statement of it in the lookback; the log's oldest
    // statement read was `log_h` hours ago and r1 started `replica_h` ago.
    let idle_h = |log_h: Option<i64>, replica_h: Option<i64>| {
        let mut c = cluster("u2", "c", vec![replica(1, "r1", "25cc", true)]);
        c.replicas[0].since = replica_h.map(|h| now() - Duration::hours(h));
        let mut s = snap(vec![c], rows());
        s.activity_log_since = log_h.map(|h| now() - Duration::hours(h));
        let p = plan(&s, &PlanOptions::default());
        let cp = only(&p);
        let Idle::For(secs) = cp.signals.idle else {
            panic!("{:?}", cp.signals.idle)
        };
        ((secs / 3600.0).round() as i64, cp.actions.len())
    };
    // Both began long ago: idle since the log's oldest statement, suspended
    // on the first sight.
    assert_eq!(idle_h(Some(20), Some(24 * 20)), (20, 1));
    // A replica younger than the log's silence: idle since it started.
    assert_eq!(idle_h(Some(20), Some(3)), (3, 1));
    // A log younger than the replica: since its oldest statement.
    assert_eq!(idle_h(Some(2), Some(24 * 20)), (2, 1));
    // A replica just created, or one whose start is unknown, or no oldest
    // statement: from the first sight (now), a full grace period.
    assert_eq!(idle_h(Some(20), Some(0)), (0, 0));
    assert_eq!(idle_h(Some(20), None), (0, 0));
    assert_eq!(idle_h(None, Some(24 * 20)), (0, 0));
}

#[test]
fn a_cluster_without_replicas_is_silent_since_the_logs_oldest_statement() {
    // Suspended by hand (or before a wipe-state) and never queried since:
    // first seen now, the log's oldest statement read 20 hours ago.
    let rows = vec![
        row("u2", "target_size", json!({"target_size": "25cc"})),
        row("u2", "idle_suspend", json!({"idle_after_s": 3600})),
    ];
    let idle = |log_h: Option<i64>| {
        let mut s = snap(vec![cluster("u2", "c", vec![])], rows.clone());
        s.activity_log_since = log_h.map(|h| now() - Duration::hours(h));
        let p = plan(&s, &PlanOptions::default());
        let cp = only(&p);
        (cp.signals.idle, cp.actions.len())
    };
    // Silent for 20 h: it stays suspended, target_size's replica is not
    // started.
    assert_eq!(idle(Some(20)), (Idle::For(20.0 * 3600.0), 0));
    // A log younger than idle_after_s proves too little: woken, as before.
    let (young, actions) = idle(Some(0));
    assert_eq!((young, actions), (Idle::For(0.0), 1));
    // No oldest statement known: from the first sight, woken.
    assert_eq!(idle(None), (Idle::For(0.0), 1));
}

#[test]
fn state_is_written_only_when_it_changes() {
    let s = snap(
        vec![cluster("u2", "c", vec![replica(1, "r_25cc", "25cc", true)])],
        vec![row("u2", "target_size", json!({"target_size": "25cc"}))],
    );
    let p = plan(&s, &PlanOptions::default());
    let state = only(&p)
        .new_state
        .as_deref()
        .cloned()
        .expect("first run records first_seen");
    assert!(state.get("_controller").is_some());
    let mut s2 = s.clone();
    s2.states.insert(ClusterId("u2".into()), state);
    assert!(only(&plan(&s2, &PlanOptions::default()))
        .new_state
        .is_none());
}

#[test]
fn hostile_names_are_quoted_in_sql() {
    let evil = "a\"; DROP TABLE x; --";
    let s = snap(
        vec![cluster(
            "u2",
            "we\"ird",
            vec![
                replica(1, evil, "25cc", true),
                replica(2, "r_50cc", "50cc", true),
            ],
        )],
        vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
    );
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        only(&p).actions[0].sql,
        r#"DROP CLUSTER REPLICA "we""ird"."a""; DROP TABLE x; --""#
    );
}

// ---- property tests ----

const SIZES: [&str; 4] = ["25cc", "50cc", "100cc", "200cc"];

/// A replica: its size, whether it is hydrated, its crashes in the window
/// and how many minutes ago the last one was (a loop, a kill within the
/// last 10 minutes, or one it recovered from).
fn arb_replica() -> impl Strategy<Value = (usize, bool, u32, i64)> {
    (
        0..SIZES.len(),
        any::<bool>(),
        prop_oneof![Just(0u32), 0u32..4],
        0i64..60,
    )
}

fn arb_rows() -> impl Strategy<Value = Vec<StrategyRow>> {
    let size = || (0..SIZES.len()).prop_map(|i| SIZES[i]);
    (
        proptest::option::of(size()),
        proptest::option::of(size()),
        proptest::option::of(size()),
        proptest::option::of(prop_oneof![Just(60u64), Just(3600u64)]),
        proptest::option::of(1u64..4),
    )
        .prop_map(|(target, shrink, burst, idle, limit)| {
            let mut rows = Vec::new();
            if let Some(t) = target {
                rows.push(row("u2", "target_size", json!({"target_size": t})));
            }
            if let Some(m) = shrink {
                rows.push(row("u2", "shrink_to_fit", json!({"max_replica_size": m})));
            }
            if let Some(b) = burst {
                rows.push(row("u2", "burst", json!({"burst_replica_size": b})));
            }
            if let Some(i) = idle {
                rows.push(row("u2", "idle_suspend", json!({"idle_after_s": i})));
            }
            if let Some(m) = limit {
                rows.push(row("u2", "limits", json!({"max_replicas": m})));
            }
            rows
        })
}

fn arb_activity() -> impl Strategy<Value = Activity> {
    (proptest::option::of(0i64..7200), 0u32..2).prop_map(|(ago, in_flight)| Activity {
        last_begin: ago.map(|s| now() - Duration::seconds(s)),
        in_flight,
        last_end: None,
    })
}

fn build(reps: &[(usize, bool, u32, i64)], activity: Activity, source: bool) -> Cluster {
    let replicas = reps
        .iter()
        .enumerate()
        .map(|(i, (s, h, crashes, ago))| Replica {
            id: format!("u{}", i + 1),
            name: format!("r{i}"),
            size: Some(Size(SIZES[*s].into())),
            hydrated: *h,
            crash: CrashInfo {
                crashes: *crashes,
                ooms: *crashes,
                last_crash: (*crashes > 0).then(|| now() - Duration::minutes(*ago)),
                first_crash: (*crashes > 0)
                    .then(|| now() - Duration::minutes(*ago + 5 * i64::from(*crashes - 1))),
                last_offline: None,
            },
            owner_id: None,
            since: None,
            objects: None,
            offline: false,
        })
        .collect();
    let mut c = cluster("u2", "c", replicas);
    c.activity = activity;
    c.has_singleton_source = source;
    c
}

/// The catalog after `cp`'s actions took effect; new replicas are not
/// hydrated and have no crashes; nothing else changes.
fn after(c: &Cluster, cp: &ClusterPlan) -> Cluster {
    let mut next = c.clone();
    let mut id = 100;
    for a in &cp.actions {
        match a.kind {
            ActionKind::CreateReplica => {
                id += 1;
                next.replicas.push(Replica {
                    id: format!("u{id}"),
                    name: a.replica.clone(),
                    size: a.size.clone(),
                    hydrated: false,
                    crash: CrashInfo::default(),
                    owner_id: None,
                    since: None,
                    objects: None,
                    offline: false,
                });
            }
            ActionKind::DropReplica => next.replicas.retain(|r| r.name != a.replica),
            // The property tests generate unmanaged clusters only.
            ActionKind::SetReplicationFactor | ActionKind::SetSize => {
                unreachable!("managed actions on an unmanaged cluster: {a:?}")
            }
        }
    }
    next
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_drops_the_last_hydrated_replica_unless_suspending(
        reps in proptest::collection::vec(arb_replica(), 0..5),
        rows in arb_rows(),
        activity in arb_activity(),
        source in any::<bool>(),
    ) {
        let c = build(&reps, activity, source);
        let had_hydrated = c.replicas.iter().any(|r| r.hydrated);
        let s = snap(vec![c.clone()], rows);
        let p = plan(&s, &PlanOptions::default());
        for cp in &p.clusters {
            let next = after(&c, cp);
            let keeps_hydrated = next.replicas.iter().any(|r| r.hydrated);
            if had_hydrated && !keeps_hydrated {
                // Only a deliberate suspension may do this, and it empties the cluster.
                prop_assert!(next.replicas.is_empty(), "{cp:#?}");
                prop_assert!(cp.suspending, "{cp:#?}");
            }
            if let Some(src) = c.source_replica() {
                if !next.replicas.is_empty() {
                    prop_assert!(next.replica(&src.name).is_some(), "source replica dropped: {cp:#?}");
                }
            }
        }
    }

    #[test]
    fn replanning_after_apply_with_unchanged_signals_is_a_no_op(
        reps in proptest::collection::vec(arb_replica(), 0..5),
        rows in arb_rows(),
        activity in arb_activity(),
        source in any::<bool>(),
    ) {
        let c = build(&reps, activity, source);
        let s = snap(vec![c.clone()], rows);
        let p = plan(&s, &PlanOptions::default());
        let Some(cp) = p.clusters.first() else { return Ok(()); };
        let mut s2 = s.clone();
        s2.clusters = vec![after(&c, cp)];
        if let Some(state) = cp.new_state.as_deref() {
            s2.states.insert(cp.cluster_id.clone(), state.clone());
        }
        let p2 = plan(&s2, &PlanOptions::default());
        let again: Vec<&Action> = p2.actions().collect();
        // A limit counts a replica until its drop (creates run before
        // drops): what it held back is created by the next plan, once.
        let held = cp.waiting.iter().any(|w| w.held_by_limit());
        if held && !again.is_empty() {
            prop_assert!(
                again.iter().all(|a| a.kind == ActionKind::CreateReplica),
                "only the creates held back follow: {:#?}",
                again
            );
            let (cp2, mut s3) = (&p2.clusters[0], s2.clone());
            s3.clusters = vec![after(&s2.clusters[0], cp2)];
            if let Some(state) = cp2.new_state.as_deref() {
                s3.states.insert(cp2.cluster_id.clone(), state.clone());
            }
            let third: Vec<Action> = plan(&s3, &PlanOptions::default()).actions().cloned().collect();
            prop_assert!(third.is_empty(), "after the held creates: {:#?}", third);
            return Ok(());
        }
        prop_assert!(again.is_empty(), "first: {:#?}\nsecond: {:#?}", cp.actions, again);
    }
}

/// Runs `runs` rounds a minute apart with r1's hydration flipping every
/// round (a flapping signal); returns how many replicas were created.
fn burst_creations_under_flapping(rows: Vec<StrategyRow>, runs: i64) -> usize {
    let mut c = cluster("u2", "c", vec![replica(1, "r1", "25cc", true)]);
    let mut state: Option<serde_json::Value> = None;
    let mut created = 0;
    for i in 0..runs {
        for r in &mut c.replicas {
            r.hydrated = if r.name == "r1" { i % 2 == 0 } else { true };
        }
        let mut s = snap(vec![c.clone()], rows.clone());
        s.now = now() + Duration::seconds(60 * i);
        if let Some(st) = &state {
            s.states.insert(ClusterId("u2".into()), st.clone());
        }
        let p = plan(&s, &PlanOptions::default());
        let cp = only(&p);
        created += cp
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::CreateReplica)
            .count();
        c = after(&c, cp);
        if let Some(st) = cp.new_state.as_deref() {
            state = Some(st.clone());
        }
    }
    created
}

#[test]
#[allow(clippy::disallowed_macros)] // the figures, for whoever runs it with --nocapture
fn stabilization_stops_churn_from_a_flapping_signal() {
    let burst = row("u2", "burst", json!({"burst_replica_size": "800cc"}));
    let without = burst_creations_under_flapping(vec![burst.clone()], 30);
    let with = burst_creations_under_flapping(
        vec![
            burst,
            row("u2", "stabilization", json!({"scale_down_after_s": 300})),
        ],
        30,
    );
    eprintln!("burst replicas created over 30 flapping runs: {without} without stabilization, {with} with");
    assert!(
        without >= 10,
        "the flapping signal churns without stabilization: {without}"
    );
    assert_eq!(
        with, 1,
        "with stabilization the burst is created once and kept"
    );
}

/// Work held back for a known time is a decision due by the clock: a
/// watcher wakes for a stabilization's drop, not a whole interval later
/// (an outside check saw a drop "in 1s" wait the interval).
#[test]
fn a_drop_held_by_stabilization_is_the_next_decision() {
    let s = snap(
        vec![cluster(
            "u2",
            "c",
            vec![
                replica(1, "r_25cc", "25cc", true),
                replica(2, "r_50cc", "50cc", true),
            ],
        )],
        vec![
            row("u2", "target_size", json!({"target_size": "25cc"})),
            row("u2", "stabilization", json!({"scale_down_after_s": 300})),
        ],
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:#?}", cp.actions);
    assert_eq!(cp.waiting.len(), 1, "{:#?}", cp.waiting);
    let due = cp.waiting[0].in_seconds.expect("a known time");
    assert!(due > 0, "{:#?}", cp.waiting);
    let at = now() + Duration::seconds(due as i64);
    assert_eq!(cp.next_decision_at, Some(at));
    assert_eq!(p.next_decision_at, Some(at));
}

#[test]
fn a_typo_in_a_key_is_named_with_a_suggestion() {
    let s = snap(
        vec![cluster("u2", "c", vec![])],
        vec![row("u2", "target_size", json!({"target_sise": "50cc"}))],
    );
    let p = plan(&s, &PlanOptions::default());
    match &only(&p).outcome {
        Outcome::Invalid { errors } => {
            assert!(errors[0].contains("key 'target_size'"), "{errors:?}");
            assert!(
                errors[0].contains("unknown key 'target_sise' (did you mean 'target_size'?)"),
                "{errors:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn size_choosing_strategies_are_refused_together() {
    let sched = json!({"timezone": "UTC",
        "windows": [{"cron": "0 0 8 * * *", "duration_s": 3600, "size": "50cc"}]});
    for (other, cfg) in [
        ("target_size", json!({"target_size": "25cc"})),
        ("shrink_to_fit", json!({"max_replica_size": "50cc"})),
    ] {
        let s = snap(
            vec![cluster("u2", "c", vec![replica(1, "r1", "25cc", true)])],
            vec![row("u2", "schedule", sched.clone()), row("u2", other, cfg)],
        );
        let p = plan(&s, &PlanOptions::default());
        match &p.clusters[0].outcome {
            Outcome::Invalid { errors } => assert!(
                errors.iter().any(|e| e.contains("schedule")
                    && e.contains(other)
                    && e.contains("would undo each other")),
                "{errors:?}"
            ),
            o => panic!("{other}: {o:?}"),
        }
        assert!(p.clusters[0].actions.is_empty());
    }
}

#[test]
fn a_suspended_cluster_does_not_rewrite_state_every_round() {
    let mut c = cluster("u2", "c", vec![]);
    c.activity.last_begin = Some(now() - Duration::hours(5));
    let rows = vec![
        row("u2", "target_size", json!({"target_size": "50cc"})),
        row(
            "u2",
            "burst",
            json!({"burst_replica_size": "800cc", "cooldown_s": 3600}),
        ),
        row("u2", "idle_suspend", json!({"idle_after_s": 600})),
    ];
    let mut s = snap(vec![c], rows);
    let first = plan(&s, &PlanOptions::default());
    assert!(only(&first).actions.is_empty(), "stays suspended");
    if let Some(st) = only(&first).new_state.as_deref() {
        s.states.insert(ClusterId("u2".into()), st.clone());
    }
    s.now += Duration::minutes(1);
    let second = plan(&s, &PlanOptions::default());
    assert!(only(&second).actions.is_empty());
    assert!(
        only(&second).new_state.is_none(),
        "{:?}",
        only(&second).new_state
    );
}

#[test]
fn the_state_keeps_the_slots_of_configured_strategies_only_stored_ones_first() {
    let c = cluster("u2", "c", vec![replica(1, "r", "50cc", true)]);
    let rows = vec![
        row("u2", "target_size", json!({"target_size": "50cc"})),
        row("u2", "burst", json!({"burst_replica_size": "800cc"})),
    ];
    let mut s = snap(vec![c], rows);
    // A probe that asks only what the plan does builds no state.
    let probe = PlanOptions {
        new_state: false,
        ..PlanOptions::default()
    };
    let probed = plan(&s, &probe);
    assert!(only(&probed).new_state.is_none());
    assert_eq!(
        only(&probed).actions,
        only(&plan(&s, &PlanOptions::default())).actions
    );
    let st = only(&plan(&s, &PlanOptions::default()))
        .new_state
        .as_deref()
        .cloned()
        .expect("a first plan writes the state");
    let keys = |v: &serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        keys(&st),
        Some(vec![
            "_controller".into(),
            "target_size".into(),
            "burst".into()
        ])
    );
    // Stored in another order, with the slot of a strategy removed since:
    // the controller's slot comes first, then the stored slots in their
    // order, then new ones; the removed one goes, the rest is as it was.
    let mut stored = serde_json::Map::new();
    stored.insert("burst".into(), st["burst"].clone());
    stored.insert("_controller".into(), st["_controller"].clone());
    stored.insert("idle_suspend".into(), json!({"suspended": []}));
    s.states.insert(
        ClusterId("u2".into()),
        serde_json::Value::Object(stored.clone()),
    );
    let st2 = only(&plan(&s, &PlanOptions::default()))
        .new_state
        .as_deref()
        .cloned()
        .expect("the removed slot is dropped");
    assert_eq!(
        keys(&st2),
        Some(vec![
            "_controller".into(),
            "burst".into(),
            "target_size".into()
        ])
    );
    assert_eq!(st2["burst"], st["burst"]);
    assert_eq!(st2["_controller"], st["_controller"]);
    // And once the state is what the plan writes, nothing is written.
    s.states.insert(ClusterId("u2".into()), st2.clone());
    let third = plan(&s, &PlanOptions::default());
    assert!(
        only(&third).new_state.is_none(),
        "{:?}",
        only(&third).new_state
    );
    // Every configured slot as written, plus a removed strategy's: that
    // one alone is a change, and it goes.
    let mut extra = st2.clone();
    extra["stabilization"] = json!({});
    s.states.insert(ClusterId("u2".into()), extra);
    let fourth = plan(&s, &PlanOptions::default());
    assert_eq!(only(&fourth).new_state.as_deref(), Some(&st2));
}

#[test]
fn a_resize_at_the_replica_limit_retires_one_old_replica_first() {
    // Five hydrated 25cc replicas under a limit of five: the 50cc one
    // could never be created ("once others are gone", which nothing did).
    let names = ["a", "b", "c", "d", "e"];
    let full = cluster(
        "u2",
        "c",
        names
            .iter()
            .enumerate()
            .map(|(i, n)| replica(i as u64 + 1, n, "25cc", true))
            .collect(),
    );
    let rows = vec![row("u2", "target_size", json!({"target_size": "50cc"}))];
    let mut s = snap(vec![full], rows.clone());
    s.env.settings.max_replicas_per_cluster = Some(5);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{:?}", cp.actions);
    assert_eq!(cp.actions[0].kind, ActionKind::DropReplica);
    assert!(
        cp.waiting
            .iter()
            .any(|w| w.action == "create a 50cc replica"),
        "{:?}",
        cp.waiting
    );
    // With room: the 50cc replica, the four old ones serving meanwhile.
    let four = cluster(
        "u2",
        "c",
        names[..4]
            .iter()
            .enumerate()
            .map(|(i, n)| replica(i as u64 + 1, n, "25cc", true))
            .collect(),
    );
    let mut s = snap(vec![four], rows);
    s.env.settings.max_replicas_per_cluster = Some(5);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{:?}", cp.actions);
    assert_eq!(cp.actions[0].kind, ActionKind::CreateReplica);
    assert_eq!(cp.actions[0].replica, "r_50cc");
}

#[test]
fn a_schedule_window_of_zero_is_no_lost_memory_for_idle_suspend() {
    // The schedule holds the cluster empty on purpose; a statement on it
    // used to raise "idle_suspend remembers nothing to bring back (its
    // state was wiped or lost)" on every run.
    let mut c = cluster("u2", "c", vec![]);
    c.activity = Activity {
        last_begin: Some(now()),
        in_flight: 0,
        last_end: None,
    };
    let s = snap(
        vec![c],
        vec![
            row(
                "u2",
                "schedule",
                json!({"timezone": "UTC", "default": {"size": "25cc", "replicas": 0},
                       "windows": [{"cron": "0 0 0 1 1 *", "duration_s": 60, "size": "25cc", "replicas": 1}]}),
            ),
            row("u2", "idle_suspend", json!({"idle_after_s": 600})),
        ],
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:?}", cp.actions);
    assert!(cp.alerts.is_empty(), "{:?}", cp.alerts);
}

/// A managed cluster suspended elsewhere (`REPLICATION FACTOR 0`, no
/// state) that gets a statement is woken at its size: one replication
/// factor change, credited to idle_suspend's resume.
#[test]
fn a_managed_cluster_suspended_by_hand_wakes_at_its_size_on_demand() {
    let mut asleep = managed(0, "50cc", false);
    asleep.activity = Activity {
        last_begin: Some(now()),
        in_flight: 1,
        last_end: None,
    };
    let rows = vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))];
    let p = plan(&snap(vec![asleep], rows), &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.alerts.is_empty(), "{:?}", cp.alerts);
    let sql: Vec<&str> = cp.actions.iter().map(|a| a.sql.as_str()).collect();
    assert_eq!(sql, [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#]);
    assert_eq!(cp.actions[0].strategy, StrategyKind::IdleSuspend);
}

/// A cluster with demand, no replica and nothing remembered to wake it
/// with plans nothing and says users wait: it needs an operator, it is not
/// "converged" (`No changes. 1 cluster converged.` beside the alert).
#[test]
fn demand_with_nothing_to_wake_with_is_attention_not_converged() {
    let mut c = cluster("u2", "c", vec![]);
    c.activity = Activity {
        last_begin: Some(now()),
        in_flight: 1,
        last_end: None,
    };
    let rows = vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))];
    let p = plan(
        &snap(vec![c.clone()], rows.clone()),
        &PlanOptions::default(),
    );
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:?}", cp.actions);
    assert_eq!(cp.alerts.len(), 1, "{:?}", cp.alerts);
    assert_eq!(cp.state(), PlanState::Attention);
    // Idle, nobody waits: converged.
    c.activity = Activity::default();
    let p = plan(&snap(vec![c], rows), &PlanOptions::default());
    assert!(only(&p).alerts.is_empty(), "{:?}", only(&p).alerts);
    assert_eq!(only(&p).state(), PlanState::Converged);
}

#[test]
fn a_suspended_cluster_held_through_a_schedule_window_says_so() {
    // Suspended by idle_suspend two hours ago; the schedule's window (all
    // day) wants r_25cc. It stays suspended, which the plan said nowhere.
    let mut c = cluster("u2", "c", vec![]);
    c.activity = Activity {
        last_begin: Some(now() - Duration::hours(3)),
        in_flight: 0,
        last_end: None,
    };
    let rows = vec![
        row(
            "u2",
            "schedule",
            json!({"timezone": "UTC",
                   "windows": [{"cron": "0 0 0 * * *", "duration_s": 86400, "size": "25cc", "replicas": 1}]}),
        ),
        row("u2", "idle_suspend", json!({"idle_after_s": 600})),
    ];
    let mut s = snap(vec![c], rows);
    s.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r_25cc", "size": "25cc"}],
            "suspended_at": (now() - Duration::hours(2)).to_rfc3339()
        }}),
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:?}", cp.actions);
    assert!(
        cp.notes.iter().any(
            |n| n.contains("schedule wants r_25cc (25cc) now") && n.contains("stays suspended")
        ),
        "{:?}",
        cp.notes
    );
    // Running, the same window is no news.
    let mut running = cluster("u2", "c", vec![replica(1, "r_25cc", "25cc", true)]);
    running.activity = Activity {
        last_begin: Some(now() - Duration::minutes(1)),
        in_flight: 0,
        last_end: None,
    };
    s.clusters = vec![running];
    s.states.clear();
    let p = plan(&s, &PlanOptions::default());
    assert!(
        !only(&p).notes.iter().any(|n| n.contains("schedule wants")),
        "{:?}",
        only(&p).notes
    );
}

#[test]
fn a_burst_that_gives_up_is_dropped_even_as_the_last_hydrated_replica() {
    let c = cluster(
        "u2",
        "c",
        vec![
            replica(1, "r1", "25cc", false),
            replica(2, "c-burst", "800cc", true),
        ],
    );
    let mut s = snap(
        vec![c],
        vec![row(
            "u2",
            "burst",
            json!({"burst_replica_size": "800cc", "max_burst_s": 600}),
        )],
    );
    s.states.insert(
        ClusterId("u2".into()),
        json!({"burst": {"burst_since": (now() - Duration::seconds(601)).to_rfc3339()}}),
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{:?}", cp.actions);
    assert_eq!(cp.actions[0].replica, "c-burst");
    assert_eq!(cp.actions[0].kind, ActionKind::DropReplica);
    assert_eq!(cp.alerts.len(), 1, "{:?}", cp.alerts);
    // r1's wait does not say the burst keeps serving: it goes now.
    let wait = cp.waiting.iter().find(|w| w.action == "hydrate r1");
    assert!(
        wait.is_some_and(|w| !w.reason.contains("c-burst")),
        "{:?}",
        cp.waiting
    );
}

#[test]
fn the_burst_replica_lingers_even_with_a_target_size() {
    let c = cluster(
        "u2",
        "c",
        vec![
            replica(1, "r_50cc", "50cc", true),
            replica(2, "c-burst", "800cc", true),
        ],
    );
    let s = snap(
        vec![c],
        vec![
            row("u2", "target_size", json!({"target_size": "50cc"})),
            row(
                "u2",
                "burst",
                json!({"burst_replica_size": "800cc", "linger_s": 120}),
            ),
        ],
    );
    let p = plan(&s, &PlanOptions::default());
    assert!(
        only(&p).actions.is_empty(),
        "target_size leaves the burst replica to burst: {:?}",
        only(&p).actions
    );
    // A burst replica still hydrating whose drop is held back: nothing
    // waits for it (the plan said "hydrate c-burst: … r_50cc keeps serving
    // until it is", backwards).
    let mut leaving = s.clone();
    leaving.clusters[0].replicas[1].hydrated = false;
    let p = plan(&leaving, &PlanOptions::default());
    let waits: Vec<&str> = only(&p).waiting.iter().map(|w| w.action.as_str()).collect();
    assert_eq!(waits, ["drop c-burst (800cc)"]);
    assert!(
        only(&p).notes.iter().any(|n| n.contains("lingers")),
        "{:?}",
        only(&p).notes
    );
    // Idle past idle_suspend's threshold meanwhile: the suspension drops
    // the lingering burst too, and the plan no longer also says it waits
    // to drop it (the outside check's "waiting: drop c-burst in 1h25m").
    let mut s = s;
    s.clusters[0].activity.last_begin = Some(now() - Duration::hours(1));
    s.strategies
        .push(row("u2", "idle_suspend", json!({"idle_after_s": 1800})));
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    let drops: Vec<String> = cp.actions.iter().map(|a| a.held()).collect();
    assert!(
        drops.contains(&"drop c-burst (800cc)".to_string()),
        "{drops:?}"
    );
    assert!(
        cp.waiting.iter().all(|w| !drops.contains(&w.action)),
        "{:?}",
        cp.waiting
    );
}

#[test]
fn a_burst_started_before_a_rename_is_the_burst_for_every_strategy() {
    // `old` became `c` while its burst `old-burst` ran; `r_50cc` hydrated
    // since. target_size used to retire `old-burst` as another size at
    // once, and a suspension to remember it as a replica to wake with.
    let c = || {
        cluster(
            "u2",
            "c",
            vec![
                replica(1, "r_50cc", "50cc", true),
                replica(2, "old-burst", "800cc", true),
            ],
        )
    };
    let rows = |idle: bool| {
        let mut v = vec![
            row("u2", "target_size", json!({"target_size": "50cc"})),
            row(
                "u2",
                "burst",
                json!({"burst_replica_size": "800cc", "linger_s": 120}),
            ),
        ];
        if idle {
            v.push(row("u2", "idle_suspend", json!({"idle_after_s": 600})));
        }
        v
    };
    let state = json!({"burst": {
        "burst_since": (now() - Duration::minutes(10)).to_rfc3339(),
        "others_hydrated_since": (now() - Duration::seconds(30)).to_rfc3339(),
        "replica": "old-burst"
    }});
    let mut s = snap(vec![c()], rows(false));
    s.states.insert(ClusterId("u2".into()), state.clone());
    let p = plan(&s, &PlanOptions::default());
    assert!(
        only(&p).actions.is_empty(),
        "old-burst lingers: {:?}",
        only(&p).actions
    );
    let mut idle = c();
    idle.activity = Activity {
        last_begin: Some(now() - Duration::hours(2)),
        in_flight: 0,
        last_end: None,
    };
    let mut s = snap(vec![idle], rows(true));
    s.states.insert(ClusterId("u2".into()), state);
    let p = plan(
        &s,
        &PlanOptions {
            new_state: true,
            ..PlanOptions::default()
        },
    );
    assert!(only(&p).suspending, "{:?}", only(&p));
    let new_state = only(&p).new_state.as_deref().expect("state written");
    assert_eq!(
        new_state["idle_suspend"]["suspended"],
        json!([{"name": "r_50cc", "size": "50cc"}]),
        "the burst is not remembered: {new_state}"
    );
}

/// Plans the wake of a cluster suspended 3 h ago while running
/// `suspended` (name, size), with statements waiting; returns the replicas
/// the plan creates.
fn created_on_wake(rows: Vec<StrategyRow>, suspended: (&str, &str)) -> Vec<String> {
    let mut c = cluster("u2", "c", vec![]);
    c.activity = Activity {
        last_begin: Some(now()),
        in_flight: 2,
        last_end: None,
    };
    let mut s = snap(vec![c], rows);
    s.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": suspended.0, "size": suspended.1}],
            "suspended_at": (now() - Duration::hours(3)).to_rfc3339()
        }}),
    );
    let p = plan(&s, &PlanOptions::default());
    only(&p).actions.iter().map(|a| a.replica.clone()).collect()
}

#[test]
fn waking_on_demand_bursts_in_the_same_round() {
    let rows = vec![
        row("u2", "burst", json!({"burst_replica_size": "800cc"})),
        row("u2", "idle_suspend", json!({"idle_after_s": 600})),
    ];
    assert_eq!(created_on_wake(rows, ("r1", "25cc")), vec!["c-burst", "r1"]);
}

#[test]
fn a_wake_with_a_new_target_size_creates_only_the_new_size() {
    let rows = vec![
        row("u2", "target_size", json!({"target_size": "50cc"})),
        row("u2", "idle_suspend", json!({"idle_after_s": 600})),
    ];
    assert_eq!(created_on_wake(rows, ("r_25cc", "25cc")), vec!["r_50cc"]);
}

#[test]
fn the_activity_lookback_reads_idle_after_s_like_the_strategy_does() {
    let rows = vec![
        row("u2", "idle_suspend", json!({"idle_after_s": 172800.0})),
        row("u3", "idle_suspend", json!({"idle_after_s": 3600})),
        row("u4", "idle_suspend", json!({"idle_after_s": "ten"})),
        row(
            "u5",
            "target_size",
            json!({"target_size": "25cc", "idle_after_s": 999999}),
        ),
    ];
    assert_eq!(crate::strategy::longest_idle_after_s(&rows), 172800);
}

// Bugs found by simulation (issue 15); each is replayed as a simulated
// scenario in `sim::regression_tests` too.

/// A cluster waking with statements behind it, from `state`.
fn waking(replicas: Vec<Replica>, rows: Vec<StrategyRow>, state: serde_json::Value) -> Plan {
    let mut c = cluster("u2", "c", replicas);
    c.activity = Activity {
        last_begin: Some(now() - Duration::seconds(20)),
        in_flight: 0,
        last_end: None,
    };
    let mut s = snap(vec![c], rows);
    s.states.insert(ClusterId("u2".into()), state);
    plan(&s, &PlanOptions::default())
}

#[test]
fn a_burst_dropped_by_a_suspension_is_not_given_up_on_the_next_wake() {
    // Suspended yesterday with the burst running since the morning before;
    // the state of older versions also remembers the burst replica.
    let rows = vec![
        row("u2", "target_size", json!({"target_size": "25cc"})),
        row(
            "u2",
            "burst",
            json!({"burst_replica_size": "800cc", "max_burst_s": 3600}),
        ),
        row("u2", "idle_suspend", json!({"idle_after_s": 600})),
    ];
    let state = json!({
        "burst": {"burst_since": (now() - Duration::hours(30)).to_rfc3339()},
        "idle_suspend": {
            "suspended": [{"name": "r_25cc", "size": "25cc"}, {"name": "c-burst", "size": "800cc"}],
            "suspended_at": (now() - Duration::hours(24)).to_rfc3339()
        }
    });
    let p = waking(vec![], rows, state);
    let cp = only(&p);
    assert!(cp.alerts.is_empty(), "{:?}", cp.alerts);
    let created: Vec<(&str, StrategyKind)> = cp
        .actions
        .iter()
        .map(|a| (a.replica.as_str(), a.strategy))
        .collect();
    assert_eq!(
        created,
        vec![
            ("c-burst", StrategyKind::Burst),
            ("r_25cc", StrategyKind::IdleSuspend)
        ]
    );
    let burst = &cp.new_state.as_ref().unwrap()["burst"];
    let since = burst["burst_since"].as_str().unwrap();
    assert_eq!(DateTime::parse_from_rfc3339(since).unwrap(), now());
    assert!(burst["gave_up_at"].is_null());
}

#[test]
fn a_wake_leaves_the_burst_replica_to_the_burst_strategy() {
    // The burst started 10 minutes ago (cooldown 1 h): the wake brings back
    // the normal replica only; idle_suspend does not resurrect the burst.
    let rows = vec![
        row("u2", "target_size", json!({"target_size": "25cc"})),
        row(
            "u2",
            "burst",
            json!({"burst_replica_size": "800cc", "cooldown_s": 3600}),
        ),
        row("u2", "idle_suspend", json!({"idle_after_s": 600})),
    ];
    let state = json!({
        "burst": {"last_decision_ts": (now() - Duration::minutes(10)).to_rfc3339()},
        "idle_suspend": {
            "suspended": [{"name": "r_25cc", "size": "25cc"}, {"name": "c-burst", "size": "800cc"}],
            "suspended_at": (now() - Duration::minutes(5)).to_rfc3339()
        }
    });
    let p = waking(vec![], rows, state);
    let names: Vec<&str> = only(&p)
        .actions
        .iter()
        .map(|a| a.replica.as_str())
        .collect();
    assert_eq!(names, vec!["r_25cc"]);
    // Without a burst strategy a replica named like one is not brought back either.
    let p = waking(
        vec![],
        vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))],
        json!({"idle_suspend": {
            "suspended": [{"name": "r_25cc", "size": "25cc"}, {"name": "c-burst", "size": "800cc"}],
            "suspended_at": (now() - Duration::minutes(5)).to_rfc3339()
        }}),
    );
    let names: Vec<&str> = only(&p)
        .actions
        .iter()
        .map(|a| a.replica.as_str())
        .collect();
    assert_eq!(names, vec!["r_25cc"]);
}

/// A wake whose create of the normal replica was held back
/// (`--max-actions`) or failed used to leave the cluster on its burst
/// replica for good: the resume is completed by the next plans, whether the
/// run kept the old state or saved the wake's, and burst retires itself once
/// the normal replica hydrates.
#[test]
fn a_partial_resume_is_completed_while_the_burst_serves() {
    let rows = vec![
        row("u2", "burst", json!({"burst_replica_size": "100cc"})),
        row("u2", "idle_suspend", json!({"idle_after_s": 60})),
    ];
    let suspended = json!({"idle_suspend": {
        "suspended": [{"name": "r1", "size": "50cc"}],
        "suspended_at": (now() - Duration::hours(1)).to_rfc3339()
    }});
    let actions = |p: &Plan| -> Vec<String> {
        only(p)
            .actions
            .iter()
            .map(|a| format!("{} {}", a.kind.verb(), a.replica))
            .collect()
    };
    let wake = waking(vec![], rows.clone(), suspended.clone());
    assert_eq!(actions(&wake), ["create c-burst", "create r1"]);
    let burst_only = || vec![replica(1, "c-burst", "100cc", false)];
    // Only the burst was created and the run kept the old state.
    let p = waking(burst_only(), rows.clone(), suspended);
    assert_eq!(actions(&p), ["create r1"]);
    // The wake's state, written once both were created, owes nothing.
    let saved = only(&wake).new_state.as_deref().cloned().unwrap();
    assert!(saved["idle_suspend"].get("resuming").is_none(), "{saved}");
    // Or a state that still owes r1 (held back by a limit in its plan).
    let mut woken = saved;
    woken["idle_suspend"]["resuming"] = json!([{"name": "r1", "size": "50cc"}]);
    let p = waking(burst_only(), rows.clone(), woken.clone());
    assert_eq!(actions(&p), ["create r1"]);
    assert!(only(&p).alerts.is_empty(), "{:?}", only(&p).alerts);
    assert!(only(&p).actions[0]
        .reasons
        .join(" ")
        .contains("completing the resume"));
    // r1 hydrated: the burst goes, nothing is created again.
    let state = only(&p).new_state.as_deref().cloned().unwrap_or(woken);
    let both = vec![
        replica(1, "c-burst", "100cc", true),
        replica(2, "r1", "50cc", true),
    ];
    let p = waking(both, rows, state);
    assert_eq!(actions(&p), ["drop c-burst"]);
    let st = &only(&p).new_state.as_ref().unwrap()["idle_suspend"];
    assert!(st.get("resuming").is_none(), "{st}");
}

/// A replica not hydrated, OOM-killed `kills` times, the last two minutes
/// ago: in a loop.
fn oom_looping(n: u64, name: &str, size: &str, kills: u32) -> Replica {
    let mut r = replica(n, name, size, false);
    r.crash = CrashInfo {
        crashes: kills,
        ooms: kills,
        last_crash: Some(now() - Duration::minutes(2)),
        first_crash: None,
        last_offline: None,
    };
    r
}

#[test]
fn a_burst_serving_beside_an_oom_looping_replica_raises_an_alert() {
    let normal = oom_looping(1, "r_25cc", "25cc", 9);
    let c = cluster(
        "u2",
        "c",
        vec![normal, replica(2, "c-burst", "800cc", true)],
    );
    let s = snap(
        vec![c],
        vec![
            row("u2", "target_size", json!({"target_size": "25cc"})),
            row("u2", "burst", json!({"burst_replica_size": "800cc"})),
        ],
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:?}", cp.actions);
    assert_eq!(cp.alerts.len(), 1, "{:?}", cp.alerts);
    assert!(cp.alerts[0].starts_with("burst: ") && cp.alerts[0].contains("r_25cc (9 OOM kills"));
}

#[test]
fn shrink_to_fit_wakes_with_the_size_that_fit() {
    let rows = vec![
        row("u2", "shrink_to_fit", json!({"max_replica_size": "800cc"})),
        row("u2", "idle_suspend", json!({"idle_after_s": 900})),
    ];
    let state = json!({
        "shrink_to_fit": {"too_small": "200cc", "fits": "300cc"},
        "idle_suspend": {
            "suspended": [{"name": "c_300cc", "size": "300cc"}],
            "suspended_at": (now() - Duration::hours(20)).to_rfc3339()
        }
    });
    let p = waking(vec![], rows.clone(), state);
    let names: Vec<&str> = only(&p)
        .actions
        .iter()
        .map(|a| a.replica.as_str())
        .collect();
    assert_eq!(names, vec!["c_300cc"], "not 400cc..800cc again");
    // The next round: 300cc is still hydrating; nothing else is tried.
    let state = only(&p).new_state.as_deref().cloned().unwrap();
    let p = waking(vec![replica(1, "c_300cc", "300cc", false)], rows, state);
    assert!(only(&p).actions.is_empty(), "{:?}", only(&p).actions);
}

/// The names in the JSON output and the text are one vocabulary: the
/// methods agree with what serde writes, and each state and kind has its
/// own word.
#[test]
fn names_agree_with_the_json_and_differ() {
    let kinds = [
        ActionKind::CreateReplica,
        ActionKind::DropReplica,
        ActionKind::SetReplicationFactor,
        ActionKind::SetSize,
    ];
    for k in kinds {
        assert_eq!(serde_json::to_value(k).ok(), Some(json!(k.name())));
    }
    let verbs: std::collections::BTreeSet<&str> = kinds.iter().map(|k| k.verb()).collect();
    assert_eq!(verbs.len(), kinds.len());
    assert_eq!(ActionKind::SetSize.verb(), "resize");
    assert_eq!(ActionKind::CreateReplica.verb(), "create");
    assert_eq!(ActionKind::DropReplica.verb(), "drop");
    assert_eq!(
        ActionKind::SetReplicationFactor.verb(),
        "set replication factor"
    );
    for s in [
        PlanState::Converged,
        PlanState::Waiting,
        PlanState::Changes,
        PlanState::Invalid,
        PlanState::Unmanageable,
        PlanState::Paused,
    ] {
        assert_eq!(serde_json::to_value(s).ok(), Some(json!(s.as_str())));
    }
}

/// A cluster's one-word state: changes when actions are planned, waiting
/// when only pending work remains, converged otherwise.
#[test]
fn a_cluster_plan_states_where_it_stands() {
    let opts = PlanOptions::default();
    // A target size not yet there: changes.
    let c = cluster("u1", "c", vec![replica(1, "r1", "25cc", true)]);
    let rows = vec![row("u1", "target_size", json!({"target_size": "50cc"}))];
    let p = plan(&snap(vec![c], rows.clone()), &opts);
    assert!(!only(&p).actions.is_empty());
    assert_eq!(only(&p).state(), PlanState::Changes);
    // Created, still hydrating: nothing to do, waiting for it.
    let c = cluster(
        "u1",
        "c",
        vec![
            replica(1, "r1", "25cc", true),
            replica(2, "r_50cc", "50cc", false),
        ],
    );
    let p = plan(&snap(vec![c], rows.clone()), &opts);
    assert!(only(&p).actions.is_empty(), "{:?}", only(&p).actions);
    assert!(!only(&p).waiting.is_empty());
    assert_eq!(only(&p).state(), PlanState::Waiting);
    // Hydrated and the old one gone: converged.
    let c = cluster("u1", "c", vec![replica(2, "r_50cc", "50cc", true)]);
    let p = plan(&snap(vec![c], rows), &opts);
    assert_eq!(only(&p).state(), PlanState::Converged);
    // A bad row: invalid, whatever else.
    let c = cluster("u1", "c", vec![replica(2, "r_50cc", "50cc", true)]);
    let p = plan(
        &snap(vec![c], vec![row("u1", "target_size", json!({}))]),
        &opts,
    );
    assert_eq!(only(&p).state(), PlanState::Invalid);
}

/// `action_count` counts every cluster's actions.
#[test]
fn the_action_count_is_every_clusters_actions() {
    let opts = PlanOptions::default();
    let a = cluster("u1", "a", vec![replica(1, "r1", "25cc", true)]);
    let b = cluster("u2", "b", vec![replica(2, "r1", "25cc", true)]);
    let rows = vec![
        row("u1", "target_size", json!({"target_size": "50cc"})),
        row("u2", "target_size", json!({"target_size": "100cc"})),
    ];
    let p = plan(&snap(vec![a.clone(), b], rows), &opts);
    assert_eq!(p.action_count(), p.actions().count());
    assert_eq!(p.action_count(), 2, "{:?}", p.clusters);
    let p = plan(&snap(vec![a], vec![]), &opts);
    assert_eq!(p.action_count(), 0);
}

/// An unreadable statement log is said once, where a planned cluster
/// relies on it (idle_suspend), and not otherwise; an unreadable
/// auto-scaling relation is said whatever the strategies.
#[test]
fn environment_problems_are_warned_where_they_matter() {
    let opts = PlanOptions::default();
    let c = || cluster("u1", "c", vec![replica(1, "r1", "25cc", true)]);
    let idle = vec![row("u1", "idle_suspend", json!({"idle_after_s": 600}))];
    let target = vec![row("u1", "target_size", json!({"target_size": "25cc"}))];
    let mut s = snap(vec![c()], idle.clone());
    s.env.activity_error = Some("permission denied".into());
    let p = plan(&s, &opts);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("permission denied")
            && p.warnings[0].contains("idle_suspend does not suspend"),
        "{:?}",
        p.warnings
    );
    let mut s = snap(vec![c()], target);
    s.env.activity_error = Some("permission denied".into());
    assert!(plan(&s, &opts).warnings.is_empty());
    let mut s = snap(vec![c()], idle);
    s.env.auto_scaling_error = Some("no such relation".into());
    let w = plan(&s, &opts).warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("auto-scaling relation") && w[0].contains("no such relation"));
}

/// An audit row an interrupted run left open, written `ago` seconds before
/// the snapshot with a recorded deadline.
fn unfinished(
    cluster: &str,
    kind: &str,
    replica: &str,
    ago: i64,
    deadline_s: Option<f64>,
) -> crate::model::Unresolved {
    crate::model::Unresolved {
        action_id: format!("run-1/{cluster}/{replica}"),
        cluster_id: ClusterId(cluster.into()),
        kind: kind.into(),
        replica: replica.into(),
        size: Some("50cc".into()),
        replication_factor: None,
        deadline_s,
        created_at: Some(now() - Duration::seconds(ago)),
        boot: None,
        dropped_since: false,
        settled: false,
        cluster_name: None,
    }
}

/// A CREATE an earlier run settled as not run at its deadline, whose
/// replica the catalog shows since (the server held it past the deadline):
/// its row is corrected to executed. The trail had no executed row for a
/// replica that ran (an outside check). One whose replica is not there
/// stays as it was; a settled DROP is not corrected.
#[test]
fn a_create_settled_as_not_run_whose_replica_appeared_is_corrected() {
    let mut landed = unfinished("u2", "create_replica", "r_25cc", 600, Some(30.0));
    landed.size = Some("25cc".into());
    landed.settled = true;
    let mut absent = unfinished("u2", "create_replica", "r_50cc", 600, Some(30.0));
    absent.settled = true;
    let mut other_size = unfinished("u2", "create_replica", "r_25cc", 700, Some(30.0));
    other_size.action_id = "run-0/u2/r_25cc".into();
    other_size.size = Some("100cc".into());
    other_size.settled = true;
    let s = one_resize_snapshot(vec![landed, absent, other_size]);
    let p = plan(&s, &PlanOptions::default());
    let corrected: Vec<(&str, bool, bool)> = p
        .settle
        .iter()
        .map(|x| (x.action_id.as_str(), x.executed, x.landed_late))
        .collect();
    assert_eq!(corrected, [("run-1/u2/r_25cc", true, true)]);
    // Nothing held: the plan goes on as for any live replica.
    assert_eq!(only(&p).in_doubt, None);
}

fn one_resize_snapshot(rows: Vec<crate::model::Unresolved>) -> Snapshot {
    let mut s = snap(
        vec![cluster("u2", "c", vec![replica(1, "r_25cc", "25cc", true)])],
        vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
    );
    s.unfinished = rows;
    s
}

#[test]
fn an_action_that_may_still_run_holds_its_cluster_in_every_plan() {
    // Written 10 s ago with a 30 s deadline: it may run 21 s more.
    let s = one_resize_snapshot(vec![unfinished(
        "u2",
        "create_replica",
        "r_50cc",
        10,
        Some(30.0),
    )]);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{cp:#?}");
    assert_eq!(cp.state(), PlanState::Waiting);
    assert_eq!(
        crate::strategy::testutil::due(&cp.waiting),
        [("create r_50cc (50cc)", Some(21))]
    );
    assert!(
        cp.waiting[0].reason.contains("may still be running"),
        "{cp:#?}"
    );
    assert_eq!(cp.new_state, None, "the state assumed the actions ran");
    let until = now() + Duration::seconds(21);
    assert_eq!(cp.in_doubt.as_ref().map(|d| d.until), Some(until));
    assert_eq!(
        cp.next_decision_at,
        Some(until),
        "run again when it is over"
    );
    assert_eq!(p.next_decision_at, Some(until));
    assert!(p.settle.is_empty(), "not settled while it may run");
}

#[test]
fn unfinished_actions_are_settled_from_what_the_catalog_shows() {
    let mut there = unfinished("u2", "create_replica", "r_25cc", 5, Some(30.0));
    there.size = Some("25cc".into());
    let s = one_resize_snapshot(vec![
        // The replica is there (of that size): it ran, whatever its age.
        there,
        // Not there and past its deadline: it did not run.
        unfinished("u2", "create_replica", "r_50cc", 40, Some(30.0)),
        // A drop of a replica that is gone: it ran.
        unfinished("u2", "drop_replica", "gone", 5, Some(30.0)),
        // A cluster that is gone: a create did not run; a drop is not
        // known to have (it names its cluster: it may still land on one
        // made under that name), settled once it cannot land any more.
        unfinished("u9", "drop_replica", "r1", 5, Some(30.0)),
        unfinished("u9", "create_replica", "r1", 40, Some(30.0)),
    ]);
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        settled(&p),
        [
            ("run-1/u2/r_25cc", true),
            ("run-1/u2/r_50cc", false),
            ("run-1/u2/gone", true),
            ("run-1/u9/r1", false),
        ]
    );
    let cp = only(&p);
    assert_eq!(cp.in_doubt, None);
    assert_eq!(cp.actions.len(), 1, "planned as usual: {cp:#?}");
}

/// A DROP past its deadline may still reach the server (TCP retransmits
/// what a closed socket had sent, a proxy may hold it): settled as not run
/// at its deadline, the next run dropped the other replica and the late
/// DROP left the cluster with none (the thirty-fourth session's outside
/// check). Until `LATE_DELIVERY` has passed its row stays open and no
/// other replica of the cluster is dropped; creates and a drop of the
/// same replica go on.
/// A cluster with hydrated `r_50cc` and `r_25cc`: the late-drop tests'.
fn fifty_and_twenty_five(id: &str, name: &str) -> Cluster {
    cluster(
        id,
        name,
        vec![
            replica(1, "r_50cc", "50cc", true),
            replica(2, "r_25cc", "25cc", true),
        ],
    )
}

#[test]
fn a_drop_given_up_on_holds_the_other_drops_until_it_cannot_land() {
    let mk = |ago: i64| {
        let mut s = snap(
            vec![fifty_and_twenty_five("u2", "c")],
            vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
        );
        s.unfinished = vec![unfinished("u2", "drop_replica", "r_50cc", ago, Some(30.0))];
        s
    };
    // Two minutes after (its 30 s deadline long over): held, not settled.
    let p = plan(&mk(120), &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{cp:#?}");
    assert!(p.settle.is_empty(), "{:?}", p.settle);
    assert!(cp.in_doubt.is_some(), "status says why: {cp:#?}");
    let late = crate::plan::doubt::LATE_DELIVERY.as_secs() as i64;
    assert_eq!(
        crate::strategy::testutil::due(&cp.waiting),
        [("drop r_25cc (25cc)", Some((late + 31 - 120) as u64))]
    );
    assert!(
        cp.waiting[0].reason.contains("may still reach the server"),
        "{cp:#?}"
    );
    // Once it cannot land any more: settled as not run, planned as usual.
    let p = plan(&mk(late + 32), &PlanOptions::default());
    assert_eq!(settled(&p), [("run-1/u2/r_50cc", false)]);
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{cp:#?}");
    assert_eq!(cp.actions[0].replica, "r_25cc");

    // Its replica gone by a later drop of ours (which it would have made
    // fail: it has not run), or settled as not run: a replica made again
    // under its name would be dropped by it when it lands: that create
    // waits (the outside re-check emptied a cluster so).
    let gone = |ago: i64, dropped_since: bool, was_settled: bool| {
        let mut s = snap(
            vec![cluster("u2", "c", vec![replica(2, "r_25cc", "25cc", true)])],
            vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
        );
        let mut r = unfinished("u2", "drop_replica", "r_50cc", ago, Some(30.0));
        r.dropped_since = dropped_since;
        r.settled = was_settled;
        s.unfinished = vec![r];
        s
    };
    // Gone otherwise, it ran (settled so): made again at once (a wake after
    // a suspension killed at its DROP waited 16 minutes).
    let p = plan(&gone(120, false, false), &PlanOptions::default());
    assert_eq!(settled(&p), [("run-1/u2/r_50cc", true)]);
    assert_eq!(only(&p).actions.len(), 1, "{:#?}", only(&p));
    for (dropped_since, was_settled, outcome) in [
        (true, false, vec![("run-1/u2/r_50cc", false)]),
        (false, true, vec![]),
    ] {
        let p = plan(
            &gone(120, dropped_since, was_settled),
            &PlanOptions::default(),
        );
        assert_eq!(settled(&p), outcome, "{dropped_since} {was_settled}");
        let cp = only(&p);
        assert!(cp.actions.is_empty(), "{cp:#?}");
        assert_eq!(
            crate::strategy::testutil::due(&cp.waiting),
            [("create r_50cc (50cc)", Some((late + 31 - 120) as u64))]
        );
        assert!(
            cp.waiting[0]
                .reason
                .contains("made under that name before would be dropped"),
            "{cp:#?}"
        );
        // Past the window: made again.
        let p = plan(
            &gone(late + 32, dropped_since, was_settled),
            &PlanOptions::default(),
        );
        assert_eq!(only(&p).actions.len(), 1, "{dropped_since} {was_settled}");
    }
}

/// Statements wait on a cluster with nothing hydrated (a wake after a
/// suspension whose DROP needed a retry): its replica is made at once
/// under its name, said, not held for the late DROP's whole window (users
/// waited 16 minutes: an outside check).
#[test]
fn a_wake_while_users_wait_is_not_held_for_a_late_drop() {
    let mut s = snap(
        vec![cluster("u2", "c", vec![])],
        vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
    );
    let mut r = unfinished("u2", "drop_replica", "r_50cc", 120, Some(30.0));
    r.dropped_since = true;
    s.unfinished = vec![r];
    let held = plan(&s, &PlanOptions::default());
    assert!(only(&held).actions.is_empty(), "nobody waits: held");
    s.clusters[0].activity.in_flight = 1;
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{cp:#?}");
    assert_eq!(cp.actions[0].replica, "r_50cc");
    assert!(
        cp.notes
            .iter()
            .any(|n| n.contains("is made now though a DROP of that name")),
        "{:?}",
        cp.notes
    );
}

/// A replica made by hand on a suspended cluster is dropped (it stays
/// suspended), and not remembered for the wake: it was brought back at
/// every wake after, 16 times the normal replica's price (an outside
/// check). One the catalog shows from before the suspension (a
/// suspension a run left unfinished) is remembered as before.
#[test]
fn a_replica_made_on_a_suspended_cluster_is_not_remembered() {
    let suspended_at = now() - Duration::hours(2);
    let plan_with = |since: DateTime<Utc>| {
        // Hydrated: one that never did in hours is given up as stuck.
        let mut extra = replica(7, "extra", "400cc", true);
        extra.since = Some(since);
        let mut s = snap(
            vec![cluster("u2", "c", vec![extra])],
            vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))],
        );
        s.states.insert(
            ClusterId("u2".into()),
            json!({"idle_suspend": {
                "suspended": [{"name": "r1", "size": "25cc"}],
                "suspended_at": suspended_at.to_rfc3339()
            }}),
        );
        let p = plan(&s, &PlanOptions::default());
        let cp = only(&p);
        let drops: Vec<&str> = cp.actions.iter().map(|a| a.replica.as_str()).collect();
        assert_eq!(drops, ["extra"], "{cp:#?}");
        let state = cp.new_state.as_deref().cloned().expect("state");
        let remembered: Vec<String> = state["idle_suspend"]["suspended"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        remembered
    };
    assert_eq!(plan_with(now() - Duration::hours(1)), ["r1"]);
    assert_eq!(plan_with(now() - Duration::hours(3)), ["r1", "extra"]);
}

/// A suspended managed cluster whose size is no longer offered, users
/// waiting: the advice is to change its size (Materialize refuses a
/// replica made by hand on it: the advice was impossible), and nothing
/// says "remembers nothing to bring back" beside what it remembered (an
/// outside check).
#[test]
fn a_managed_cluster_that_cannot_wake_is_told_to_change_its_size() {
    let s = asleep_at(
        "999cc",
        vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))],
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    let alerts = cp.alerts.join("\n");
    assert!(
        alerts.contains("give it an offered size (ALTER CLUSTER \"m\" SET (SIZE = '…'))")
            && !alerts.contains("create a replica of an offered size by hand")
            && !alerts.contains("remembers nothing to bring back"),
        "{alerts}"
    );
}

/// The late DROP lands after the wake made at once for users: the
/// cluster is empty again, and idle_suspend, whose resume was done,
/// remembered nothing to wake with ("demand but no replica": an operator
/// had to create one by hand). It wakes again with what the wake brought
/// back, saying why; not without a DROP of that name sent before the
/// wake (dropped by hand: the alert stands), nor without demand.
#[test]
fn a_wake_undone_by_a_late_drop_is_made_again() {
    let woke = now() - Duration::seconds(240);
    let mut s = snap(
        vec![cluster("u2", "c", vec![])],
        vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))],
    );
    s.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "25cc"}],
            "suspended_at": null,
            "resumed_at": woke.to_rfc3339()
        }}),
    );
    s.clusters[0].activity.in_flight = 2;
    // Dropped by hand (no DROP of ours without an answer): the alert.
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{cp:#?}");
    assert!(
        cp.alerts
            .iter()
            .any(|a| a.contains("idle_suspend remembers nothing to bring back")),
        "{:?}",
        cp.alerts
    );
    // The suspension's DROP, retried after an attempt without an answer,
    // 10 minutes ago: its first attempt landed after the wake.
    let mut late = unfinished("u2", "drop_replica", "r1", 600, Some(30.0));
    late.settled = true;
    s.unfinished = vec![late];
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{cp:#?}");
    assert_eq!(
        (cp.actions[0].kind, cp.actions[0].replica.as_str()),
        (ActionKind::CreateReplica, "r1")
    );
    assert!(cp.alerts.is_empty(), "{:?}", cp.alerts);
    let why = cp.actions[0].reasons.join("; ");
    assert!(
        why.contains("resume again: r1 (25cc) brought back by the wake at")
            && why.contains("a DROP of r1 sent at")
            && why.contains("reached the server after that wake"),
        "{why}"
    );
    // Statements wait: made at once, the window still open (said).
    assert!(
        cp.notes
            .iter()
            .any(|n| n.contains("is made now though a DROP of that name")),
        "{:?}",
        cp.notes
    );
    // The DROP came after the wake (a later suspension's): not this rule.
    s.unfinished[0].created_at = Some(woke + Duration::seconds(30));
    assert!(only(&plan(&s, &PlanOptions::default())).actions.is_empty());
    // Nor one that could no longer land when the wake came (sent an hour
    // before it: it landed before, and an operator dropped the replica
    // since: it re-made what they dropped, blaming that DROP).
    s.unfinished[0].created_at = Some(woke - Duration::hours(1));
    assert!(only(&plan(&s, &PlanOptions::default())).actions.is_empty());
    s.unfinished[0].created_at = Some(now() - Duration::seconds(600));
    // A DROP lands once: the one a wake was made again for is not blamed
    // again (the second loss is an operator's).
    let mut again = s.clone();
    again.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "25cc"}],
            "suspended_at": null,
            "resumed_at": woke.to_rfc3339(),
            "rewoken_for": (now() - Duration::seconds(600)).to_rfc3339()
        }}),
    );
    assert!(only(&plan(&again, &PlanOptions::default()))
        .actions
        .is_empty());
    // Two replicas woken, one gone (the DROP of r1), or the burst replica
    // beside it: the one gone is made again (it was never repaired).
    for beside in ["r2", "c-burst"] {
        let mut part = s.clone();
        part.clusters[0].replicas = vec![replica(7, beside, "50cc", true)];
        part.states.insert(
            ClusterId("u2".into()),
            json!({"idle_suspend": {
                "suspended": [{"name": "r1", "size": "25cc"}, {"name": "r2", "size": "50cc"}],
                "suspended_at": null,
                "resumed_at": woke.to_rfc3339()
            }}),
        );
        let want: &[&str] = match beside {
            "r2" => &["r1"],
            _ => &["r1", "r2"],
        };
        // Something serves: the create of r1 waits out the DROP's window
        // (it could still land on it), then goes.
        let p = plan(&part, &PlanOptions::default());
        assert!(
            only(&p)
                .waiting
                .iter()
                .any(|w| w.action == "create r1 (25cc)"),
            "{beside}: {:#?}",
            only(&p)
        );
        part.now = now() + Duration::minutes(20);
        let p = plan(&part, &PlanOptions::default());
        let made: Vec<&str> = only(&p)
            .actions
            .iter()
            .map(|a| a.replica.as_str())
            .collect();
        assert_eq!(made, want, "{beside}: {:#?}", only(&p));
    }
    // A replica nobody woke runs (made by hand): the shape is someone
    // else's, nothing is made.
    let mut other = s.clone();
    other.clusters[0].replicas = vec![replica(7, "mine", "25cc", true)];
    assert!(only(&plan(&other, &PlanOptions::default()))
        .actions
        .is_empty());
    // Nobody wants the cluster: it stays empty.
    s.clusters[0].activity.in_flight = 0;
    assert!(only(&plan(&s, &PlanOptions::default())).actions.is_empty());
}

/// Two DROPs given up on, of two names: a create of one name is held by
/// the DROP of that name, and says so with its time (it named the later
/// DROP, of the other replica, and that one's end: an outside check).
#[test]
fn a_held_create_names_the_late_drop_of_its_own_name() {
    let late = crate::plan::doubt::LATE_DELIVERY.as_secs() as i64;
    let mut s = snap(
        vec![cluster(
            "u2",
            "c",
            vec![replica(1, "r_100cc", "100cc", true)],
        )],
        vec![row("u2", "target_size", json!({"target_size": "25cc"}))],
    );
    let gave_up = |replica: &str, ago: i64| {
        let mut r = unfinished("u2", "drop_replica", replica, ago, Some(30.0));
        r.dropped_since = true;
        r
    };
    s.unfinished = vec![gave_up("r_25cc", 300), gave_up("r_50cc", 120)];
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{cp:#?}");
    assert_eq!(
        crate::strategy::testutil::due(&cp.waiting),
        [("create r_25cc (25cc)", Some((late + 31 - 300) as u64))]
    );
    let reason = &cp.waiting[0].reason;
    assert!(
        reason.contains("a DROP of \"r_25cc\"") && !reason.contains("r_50cc"),
        "{reason}"
    );
    let doubt = cp.in_doubt.as_ref().expect("in doubt");
    assert_eq!(doubt.until, now() + Duration::seconds(late + 31 - 300));
}

#[test]
fn a_drop_whose_cluster_is_gone_holds_the_cluster_made_under_its_name() {
    // The DROP was sent as `DROP CLUSTER REPLICA "c"."r_50cc"` on u2; u2
    // was dropped (or swapped away, then dropped) and u3 made as `c` with
    // a replica of that name. Its cluster gone, the row was taken for run
    // and settled: nothing held u3, whose other replica the next run
    // dropped, and the late DROP emptied it (an outside re-check).
    let late = crate::plan::doubt::LATE_DELIVERY.as_secs() as i64;
    let mk = |ago: i64| {
        let mut s = snap(
            vec![fifty_and_twenty_five("u3", "c")],
            vec![row("u3", "target_size", json!({"target_size": "50cc"}))],
        );
        let mut r = unfinished("u2", "drop_replica", "r_50cc", ago, Some(30.0));
        r.cluster_name = Some("c".into());
        s.unfinished = vec![r];
        s
    };
    let p = plan(&mk(120), &PlanOptions::default());
    assert!(p.settle.is_empty(), "{:?}", p.settle);
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{cp:#?}");
    assert_eq!(
        crate::strategy::testutil::due(&cp.waiting),
        [("drop r_25cc (25cc)", Some((late + 31 - 120) as u64))]
    );
    // Past the window: settled as not run, u3 planned as usual.
    let p = plan(&mk(late + 32), &PlanOptions::default());
    assert_eq!(settled(&p), [("run-1/u2/r_50cc", false)]);
    assert_eq!(only(&p).actions.len(), 1, "{:#?}", only(&p));
}

#[test]
fn a_drop_given_up_on_holds_the_cluster_that_bears_its_name_after_a_swap() {
    // The DROP was sent as `DROP CLUSTER REPLICA "c"."r_50cc"` on u2; then
    // `ALTER CLUSTER c SWAP WITH c_green` (blue/green): u3 is now `c`, with
    // a replica of that name. The late DROP lands on u3: its other replica
    // is not dropped while it may (the outside re-check emptied it so).
    let mk = |ago: i64| {
        let mut s = snap(
            vec![
                fifty_and_twenty_five("u2", "c_green"),
                fifty_and_twenty_five("u3", "c"),
            ],
            vec![row("u3", "target_size", json!({"target_size": "50cc"}))],
        );
        let mut r = unfinished("u2", "drop_replica", "r_50cc", ago, Some(30.0));
        r.cluster_name = Some("c".into());
        s.unfinished = vec![r];
        s
    };
    let late = crate::plan::doubt::LATE_DELIVERY.as_secs() as i64;
    let p = plan(&mk(120), &PlanOptions::default());
    let cp = p
        .clusters
        .iter()
        .find(|c| c.cluster == "c")
        .expect("c is planned");
    assert!(cp.actions.is_empty(), "{cp:#?}");
    assert_eq!(
        crate::strategy::testutil::due(&cp.waiting),
        [("drop r_25cc (25cc)", Some((late + 31 - 120) as u64))]
    );
    assert!(cp.in_doubt.is_some(), "status says why: {cp:#?}");
    // Once it cannot land any more, u3's drop goes ahead.
    let p = plan(&mk(late + 32), &PlanOptions::default());
    let cp = p
        .clusters
        .iter()
        .find(|c| c.cluster == "c")
        .expect("c is planned");
    assert_eq!(cp.actions.len(), 1, "{cp:#?}");
    assert_eq!(cp.actions[0].replica, "r_25cc");
}

#[test]
fn a_managed_clusters_unfinished_alters_are_settled_from_its_size_and_factor() {
    // A managed cluster at 100cc with two replicas; every row is past its
    // deadline, so each is settled by what the catalog shows.
    let mut s = snap(vec![managed(2, "100cc", true)], vec![]);
    let row = |kind: &str, id: &str, size: Option<&str>, rf: Option<i64>| {
        let mut r = unfinished("u2", kind, "", 3600, Some(30.0));
        r.action_id = id.into();
        r.size = size.map(str::to_string);
        r.replication_factor = rf;
        r
    };
    s.unfinished = vec![
        row("set_size", "size-100", Some("100cc"), None),
        row("set_size", "size-50", Some("50cc"), None),
        row("set_size", "size-none", None, None),
        row("set_replication_factor", "rf-2", None, Some(2)),
        row("set_replication_factor", "rf-0", None, Some(0)),
        row("set_replication_factor", "rf-none", None, None),
    ];
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        settled(&p),
        [
            ("size-100", true),
            ("size-50", false),
            ("size-none", false),
            ("rf-2", true),
            ("rf-0", false),
            ("rf-none", false),
        ]
    );
    // A resize on its way (a replica of the asked size not cut over yet),
    // even within the statement's deadline: it ran (settled as not run,
    // its rollback was sent again at once: an outside check).
    let mut moving = managed(1, "25cc", true);
    moving.replicas.push(replica(9, "r2", "100cc", false));
    let mut s = snap(vec![moving], vec![]);
    s.unfinished = vec![
        row("set_size", "size-100", Some("100cc"), None),
        row("set_size", "size-50", Some("50cc"), None),
    ];
    s.unfinished[0].created_at = Some(now() - Duration::seconds(5));
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(settled(&p), [("size-100", true), ("size-50", false)]);
}

#[test]
fn a_recorded_deadline_is_believed_within_bounds() {
    let held = |rows| {
        let p = plan(&one_resize_snapshot(rows), &PlanOptions::default());
        only(&p)
            .in_doubt
            .as_ref()
            .map(|d| (d.until - now()).num_seconds())
    };
    let row = |ago, deadline| unfinished("u2", "create_replica", "r_50cc", ago, deadline);
    // Without a deadline (an older release's row), this run's statement
    // timeout stands in: 30 s + 1 s margin − 10 s.
    assert_eq!(held(vec![row(10, None)]), Some(21));
    // A managed resize's row without one: the resize timeout and a minute,
    // and the window a statement without an answer may still land in.
    let mut resize = row(10, None);
    resize.kind = "set_size".into();
    let late = crate::plan::doubt::LATE_DELIVERY.as_secs() as i64;
    assert_eq!(held(vec![resize]), Some(600 + 60 + 1 - 10 + late));
    // An absurd deadline is cut to a day; a negative or non-finite one is
    // not believed (the statement timeout stands in).
    assert_eq!(held(vec![row(10, Some(1e12))]), Some(24 * 3600 + 1 - 10));
    assert_eq!(held(vec![row(10, Some(-5.0))]), Some(21));
    assert_eq!(held(vec![row(10, Some(f64::NAN))]), Some(21));
    // A start more than a minute in the future (the database's clock wrote
    // it) is not believed: settled, not held.
    assert_eq!(held(vec![row(-120, Some(30.0))]), None);
    // Exactly at its end (deadline + margin): over.
    assert_eq!(held(vec![row(31, Some(30.0))]), None);
    assert_eq!(held(vec![row(30, Some(30.0))]), Some(1));
    // Two rows on one cluster: held until the later one is over.
    assert_eq!(
        held(vec![row(10, Some(30.0)), row(5, Some(60.0))]),
        Some(56)
    );
}

/// An intent written on this machine is judged by its boot clock too: a
/// step of the server's clock while the statement still runs (forward: it
/// looked over; back: its start looked to come) does not settle it, nor
/// does it on a row of another boot; the later of the two ends holds.
#[test]
fn an_intent_of_this_machine_is_held_by_its_boot_clock_whatever_the_servers_did() {
    use crate::model::BootClock;
    let boot = |id: &str, uptime_s: f64| BootClock {
        id: id.into(),
        uptime_s,
    };
    // Written at uptime 1000 s; the snapshot is read at uptime 1005 s.
    let held = |server_ago: i64, row_boot: Option<BootClock>, here: Option<BootClock>| {
        let mut r = unfinished("u2", "create_replica", "r_50cc", server_ago, Some(30.0));
        r.boot = row_boot;
        let mut s = one_resize_snapshot(vec![r]);
        s.local_clock = here;
        let p = plan(&s, &PlanOptions::default());
        let settled = settled(&p).len();
        let until = only(&p)
            .in_doubt
            .as_ref()
            .map(|d| (d.until - now()).num_seconds());
        assert_eq!(settled, usize::from(until.is_none()), "held or settled");
        until
    };
    let here = || Some(boot("b1", 1005.0));
    // The server's clock stepped 10 min forward: 600 s old by it, 5 s by ours.
    assert_eq!(held(600, Some(boot("b1", 1000.0)), here()), Some(26));
    assert_eq!(
        held(600, Some(boot("b0", 1000.0)), here()),
        None,
        "another boot"
    );
    assert_eq!(held(600, None, here()), None, "a row of an older release");
    assert_eq!(
        held(600, Some(boot("b1", 1000.0)), None),
        None,
        "no clock here"
    );
    // Stepped 10 min back: a start "to come" is not believed by the
    // server's clock; ours holds it.
    assert_eq!(held(-600, Some(boot("b1", 1000.0)), here()), Some(26));
    // Both clocks agree: the same end.
    assert_eq!(held(5, Some(boot("b1", 1000.0)), here()), Some(26));
    // Over by ours but not by the server's (or the reverse): held until the later.
    assert_eq!(held(5, Some(boot("b1", 900.0)), here()), Some(26));
    assert_eq!(held(600, Some(boot("b1", 990.0)), here()), Some(16));
    // Over by both: settled; exactly at the end (deadline + margin): over.
    assert_eq!(held(600, Some(boot("b1", 900.0)), here()), None);
    assert_eq!(held(600, Some(boot("b1", 974.0)), here()), None);
    assert_eq!(held(600, Some(boot("b1", 975.0)), here()), Some(1));
    // A row dated after this reading (written by hand) is not believed,
    // unless by a second at most (the clock reads to 10 ms).
    assert_eq!(held(600, Some(boot("b1", 2000.0)), here()), None);
    assert_eq!(held(600, Some(boot("b1", 1005.5)), here()), Some(31));
    assert_eq!(held(600, Some(boot("b1", 1006.0)), here()), Some(31));
    assert_eq!(held(600, Some(boot("b1", 1006.25)), here()), None);
    // Trusted up to a day past the end by the server's clock: a boot
    // clock that never moves does not hold the cluster for ever.
    assert_eq!(
        held(31 + 86_400, Some(boot("b1", 1000.0)), here()),
        Some(26)
    );
    assert_eq!(held(32 + 86_400, Some(boot("b1", 1000.0)), here()), None);
    // Data: absurd times neither panic nor hold.
    assert_eq!(held(600, Some(boot("b1", -1e300)), here()), None);
    assert_eq!(held(600, Some(boot("b1", f64::NAN)), here()), None);
}

#[test]
fn an_unreadable_audit_trail_is_a_warning_of_the_plan() {
    let mut s = one_resize_snapshot(Vec::new());
    s.env.unfinished_error = Some("permission denied for table mz_cluster_strategy_actions".into());
    let p = plan(&s, &PlanOptions::default());
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("unfinished actions cannot be read")
                && w.contains("permission denied")),
        "{:?}",
        p.warnings
    );
}

/// A predictive cluster suspended on Friday evening with a 200cc replica
/// that hydrates in 11 minutes, on Monday at 06:00 before its office
/// hours (earliest onset 08:55), its state as `predict` gives it.
fn predictive_before_office_hours(predict: serde_json::Value) -> Snapshot {
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    let mut c = cluster("u2", "c", Vec::new());
    c.activity.last_begin = Some(at("2026-01-30T17:00:00Z"));
    let mut s = snap(
        vec![c],
        vec![row(
            "u2",
            "idle_suspend",
            json!({"idle_after_s": 1800, "predict": true, "prewarm_margin_s": 120}),
        )],
    );
    s.now = at("2026-02-02T06:00:00Z");
    let profile = crate::strategy::predict::forecast::tests::office();
    s.demand = Some(crate::model::DemandLog {
        from: profile.from,
        until: profile.until,
        clusters: Default::default(),
        profiles: [(ClusterId("u2".into()), (28, profile))].into(),
    });
    s.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r_200cc", "size": "200cc"}],
            "suspended_at": "2026-01-30T17:30:00Z",
            "resumed_at": null,
            "predict": predict,
        }}),
    );
    s
}

#[test]
fn a_plan_without_an_interval_uses_the_one_the_controller_recorded() {
    let hydrations = json!({"by_size": {"200cc": [600, 660, 630]}});
    let s = predictive_before_office_hours(json!({"hydrations": hydrations, "interval_s": 600}));
    let every = |secs: u64| PlanOptions {
        interval: Some(std::time::Duration::from_secs(secs)),
        ..PlanOptions::default()
    };
    let wake = |p: &Plan| {
        let prediction = only(p).prediction.clone().expect("a prediction");
        (prediction.interval_s, prediction.next_wake)
    };
    // The controller runs every 10 minutes: 11m + 10m + 2m of lead before
    // 08:55. `describe`, `status` and `dry-run` (no interval given) show
    // the wake it will make.
    let controller = wake(&plan(&s, &every(600)));
    assert_eq!(controller.0, 600);
    assert_eq!(
        controller.1.map(|t| t.format("%H:%M").to_string()),
        Some("08:32".into())
    );
    assert_eq!(wake(&plan(&s, &PlanOptions::default())), controller);
    // An explicit interval wins over the recorded one.
    let explicit = wake(&plan(&s, &every(60)));
    assert_eq!(explicit.0, 60);
    assert_eq!(
        explicit.1.map(|t| t.format("%H:%M").to_string()),
        Some("08:41".into())
    );
    // A state written before the interval was recorded still parses, and
    // is planned with the default minute.
    let old = predictive_before_office_hours(json!({"hydrations": hydrations}));
    assert_eq!(wake(&plan(&old, &PlanOptions::default())), explicit);
    // A recorded interval beyond what `--interval` accepts is ignored.
    let absurd =
        predictive_before_office_hours(json!({"hydrations": hydrations, "interval_s": u64::MAX}));
    assert_eq!(wake(&plan(&absurd, &PlanOptions::default())), explicit);
}

/// Woken earlier than the forecast's wake now says (a lead learned shorter
/// since) and held warm for that demand: `describe` and `status` show the
/// occurrence after it as the next, not a wake still ahead that the
/// cluster, warm already, will never make (the outside check's "waking at
/// 21:58Z" at 22:00).
#[test]
fn a_prewarm_under_way_shows_the_following_occurrence_as_next() {
    let hydrations = json!({"by_size": {"200cc": [600, 660, 630]}});
    let next_wake = |predict: serde_json::Value| {
        let s = predictive_before_office_hours(predict);
        let p = plan(&s, &PlanOptions::default());
        only(&p)
            .prediction
            .clone()
            .and_then(|x| x.next_wake)
            .map(|t| t.format("%a %H:%M").to_string())
    };
    assert_eq!(
        next_wake(json!({"hydrations": hydrations})),
        Some("Mon 08:41".into())
    );
    let held = json!({
        "hydrations": hydrations,
        "hold": {
            "wake": "2026-02-02T05:50:00Z",
            "until": "2026-02-02T10:00:00Z",
            "started_until": "2026-02-02T10:00:00Z",
            "why": "predicted demand Mon 08:55"
        }
    });
    assert_eq!(next_wake(held), Some("Tue 08:41".into()));
}

#[test]
fn the_controller_records_its_interval_in_the_predictive_state() {
    let hydrations = json!({"by_size": {"200cc": [600, 660, 630]}});
    let s = predictive_before_office_hours(json!({"hydrations": hydrations}));
    let opts = PlanOptions {
        interval: Some(std::time::Duration::from_secs(300)),
        ..PlanOptions::default()
    };
    let state = only(&plan(&s, &opts))
        .new_state
        .as_deref()
        .cloned()
        .expect("state");
    assert_eq!(
        state["idle_suspend"]["predict"]["interval_s"], 300,
        "{state:#}"
    );
    // Planned again with what it wrote, by a plan given no interval: the
    // same, and nothing to write.
    let mut again = s.clone();
    again.states.insert(ClusterId("u2".into()), state);
    let p = plan(&again, &PlanOptions::default());
    assert_eq!(
        only(&p).prediction.as_ref().map(|p| p.interval_s),
        Some(300)
    );
    assert!(only(&p).new_state.is_none(), "{:?}", only(&p).new_state);
}

#[test]
fn a_cluster_plan_stays_small() {
    // A plan holds one per cluster at once: 10 000 clusters are 10 000 of
    // them (the README's peak-RSS figure). What only some clusters have (a
    // prediction, a doubt, a new state) is boxed, not carried by all.
    // (368: a suspension's state before it, boxed, since the thirty-eighth
    // session: 80 KB at 10 000 clusters.)
    let size = std::mem::size_of::<ClusterPlan>();
    assert!(size <= 368, "ClusterPlan is {size} bytes");
}

/// The cluster of u2 after `cp`'s actions ran, its new state kept, every
/// replica hydrated by the next round: at most `limit` replicas, and one
/// hydrated throughout (the rounds of a handover at the replica limit).
fn next_round(
    s: &mut Snapshot,
    c: &Cluster,
    cp: &ClusterPlan,
    limit: usize,
    round: usize,
) -> Cluster {
    if let Some(state) = cp.new_state.as_deref() {
        s.states.insert(ClusterId("u2".into()), state.clone());
    }
    let mut c = after(c, cp);
    assert!(c.replicas.len() <= limit, "round {round}: {:?}", c.replicas);
    assert!(
        c.replicas.iter().any(|r| r.hydrated),
        "round {round}: nothing hydrated left: {:?}",
        c.replicas
    );
    for r in &mut c.replicas {
        r.hydrated = true;
    }
    c
}

#[test]
fn a_schedule_asking_for_the_replica_limit_hands_over_instead_of_waiting_for_ever() {
    // Five 50cc replicas wanted, Materialize allows five, a 25cc replica
    // runs: four can be created beside it, and the fifth only once it is
    // gone. Round after round (every replica hydrating by the next), the
    // cluster must reach 5×50cc without ever being left without a
    // hydrated replica, and say it waits rather than that it converged.
    let sched = json!({
        "timezone": "UTC",
        "windows": [{"cron": "0 0 * * * *", "duration_s": 604800, "size": "50cc", "replicas": 5}],
    });
    let mut c = cluster("u2", "c", vec![replica(1, "r1", "25cc", true)]);
    let mut s = snap(vec![c.clone()], vec![row("u2", "schedule", sched)]);
    s.env.settings.max_replicas_per_cluster = Some(5);
    let mut created = Vec::new();
    for round in 0..6 {
        s.clusters = vec![c.clone()];
        let p = plan(&s, &PlanOptions::default());
        let cp = only(&p);
        let creates: Vec<&str> = cp
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::CreateReplica)
            .map(|a| a.replica.as_str())
            .collect();
        created.extend(creates.iter().map(|r| r.to_string()));
        if round == 0 {
            // The lowest names are kept, the last one waits for room.
            assert_eq!(creates, ["r_50cc", "r_50cc_2", "r_50cc_3", "r_50cc_4"]);
            assert_eq!(cp.state(), PlanState::Changes, "{cp:#?}");
            assert!(
                cp.waiting
                    .iter()
                    .any(|w| w.action == "create r_50cc_5 (50cc)"
                        && w.reason.contains("max_replicas_per_cluster (5)")),
                "{:?}",
                cp.waiting
            );
        }
        c = next_round(&mut s, &c, cp, 5, round);
    }
    let mut names: Vec<&str> = c.replicas.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["r_50cc", "r_50cc_2", "r_50cc_3", "r_50cc_4", "r_50cc_5"],
        "created over the rounds: {created:?}"
    );
    s.clusters = vec![c.clone()];
    assert_eq!(
        only(&plan(&s, &PlanOptions::default())).state(),
        PlanState::Converged
    );
}

#[test]
fn a_schedule_at_the_replica_limit_with_none_of_its_size_makes_room() {
    // Two hydrated 25cc replicas, Materialize allows two, the window wants
    // one or two 50cc: no room for the first, which waited for ever (an
    // outside check; target_size retired an old one first). Round after
    // round the cluster reaches the window's replicas, never without a
    // hydrated replica.
    for wanted in [1usize, 2] {
        let sched = json!({
            "timezone": "UTC",
            "windows": [{"cron": "0 0 * * * *", "duration_s": 604800, "size": "50cc",
                         "replicas": wanted}],
        });
        let mut c = cluster(
            "u2",
            "c",
            vec![
                replica(1, "r1", "25cc", true),
                replica(2, "r2", "25cc", true),
            ],
        );
        let mut s = snap(vec![c.clone()], vec![row("u2", "schedule", sched)]);
        s.env.settings.max_replicas_per_cluster = Some(2);
        for round in 0..6 {
            s.clusters = vec![c.clone()];
            let p = plan(&s, &PlanOptions::default());
            let cp = only(&p);
            if round == 0 {
                assert_eq!(cp.actions.len(), 1, "{:?}", cp.actions);
                assert_eq!(cp.actions[0].kind, ActionKind::DropReplica);
                assert!(
                    cp.waiting
                        .iter()
                        .any(|w| w.action == "create a 50cc replica"),
                    "{:?}",
                    cp.waiting
                );
            }
            c = next_round(&mut s, &c, cp, 2, round);
        }
        let sizes: Vec<&str> = c
            .replicas
            .iter()
            .filter_map(|r| r.size.as_ref().map(|s| s.0.as_str()))
            .collect();
        assert_eq!(sizes, vec!["50cc"; wanted], "{:?}", c.replicas);
    }
}

#[test]
fn a_schedule_with_room_for_its_replicas_keeps_the_old_one_until_all_hydrate() {
    // Two of three 50cc replicas are there and hydrated, the third is
    // created now: with room for it (no limit, or a limit not reached) the
    // old replica stays until all three serve.
    let sched = json!({
        "timezone": "UTC",
        "windows": [{"cron": "0 0 * * * *", "duration_s": 604800, "size": "50cc", "replicas": 3}],
    });
    let c = cluster(
        "u2",
        "c",
        vec![
            replica(1, "r1", "25cc", true),
            replica(2, "r_50cc", "50cc", true),
            replica(3, "r_50cc_2", "50cc", true),
        ],
    );
    for limit in [None, Some(5), Some(4)] {
        let mut s = snap(vec![c.clone()], vec![row("u2", "schedule", sched.clone())]);
        s.env.settings.max_replicas_per_cluster = limit;
        let p = plan(&s, &PlanOptions::default());
        assert_eq!(
            kinds_of(only(&p)),
            [(ActionKind::CreateReplica, "r_50cc_3")],
            "limit {limit:?}: r1 stays until r_50cc_3 hydrates"
        );
    }
}

/// A wake brings back what ran at the suspension, probes included; which
/// sizes run is `shrink_to_fit`'s call. The plan named the wake alone for
/// a probe (seventh review), and brought back a size known too small.
#[test]
fn a_wake_leaves_the_sizes_to_shrink_to_fit_and_says_both_reasons() {
    let rows = vec![
        row("u2", "shrink_to_fit", json!({"max_replica_size": "200cc"})),
        row("u2", "idle_suspend", json!({"idle_after_s": 600})),
    ];
    let state = json!({
        "idle_suspend": {
            "suspended": [
                {"name": "c_25cc", "size": "25cc"},
                {"name": "c_50cc", "size": "50cc"},
                {"name": "c_100cc", "size": "100cc"}
            ],
            "suspended_at": (now() - Duration::hours(3)).to_rfc3339()
        },
        "shrink_to_fit": {"fits": "100cc", "too_small": "25cc", "too_small_at": now().to_rfc3339()}
    });
    let p = waking(vec![], rows, state);
    let cp = only(&p);
    let created: Vec<(&str, StrategyKind, String)> = cp
        .actions
        .iter()
        .map(|a| (a.replica.as_str(), a.strategy, a.reasons.join(" | ")))
        .collect();
    let wake = "brought back by idle_suspend: resume after suspension (activity 20s ago)";
    let fit = format!("start 100cc, the size that fit before; {wake}");
    let probe = format!(
        "try size 50cc beside 100cc, the size that fit before: whether 50cc fits is not known \
         yet; {wake}"
    );
    assert_eq!(
        created,
        vec![
            ("c_100cc", StrategyKind::ShrinkToFit, fit),
            ("c_50cc", StrategyKind::ShrinkToFit, probe),
        ]
    );
    let left_out = "shrink_to_fit: not creating c_25cc (25cc): 25cc is known to be too small";
    assert!(cp.notes.iter().any(|n| n == left_out), "{:?}", cp.notes);
    // The resume owes neither the replica left out nor those the plan
    // creates (its state is written once they were).
    let state = cp.new_state.as_deref().expect("the wake is recorded");
    assert!(state["idle_suspend"].get("resuming").is_none(), "{state}");
}

/// After a target change, the replica of the old target still hydrating is
/// not what the plan waits for (seventh review: "waiting: hydrate r_50cc"
/// with the target at 100cc); the new target is.
#[test]
fn the_plan_waits_for_the_new_target_not_an_old_one_still_hydrating() {
    // target_size, and a schedule window (all day) that moved to 100cc.
    let all_day = json!({"timezone": "UTC", "windows": [
        {"cron": "0 0 0 * * *", "duration_s": 86400, "size": "100cc", "replicas": 1}
    ]});
    for rows in [
        vec![row("u2", "target_size", json!({"target_size": "100cc"}))],
        vec![row("u2", "schedule", all_day)],
    ] {
        let waiting = |replicas: Vec<Replica>| {
            let s = snap(vec![cluster("u2", "c", replicas)], rows.clone());
            let p = plan(&s, &PlanOptions::default());
            let cp = only(&p);
            let lines: Vec<String> = cp
                .waiting
                .iter()
                .map(|w| format!("{}: {}", w.action, w.reason))
                .collect();
            let created: Vec<String> = cp.actions.iter().map(|a| a.replica.clone()).collect();
            (created, lines)
        };
        let old = || {
            vec![
                replica(1, "r_25cc", "25cc", true),
                replica(2, "r_50cc", "50cc", false),
            ]
        };
        assert_eq!(waiting(old()), (vec!["r_100cc".to_string()], vec![]));
        let mut next = old();
        next.push(replica(3, "r_100cc", "100cc", false));
        let line =
            "hydrate r_100cc: r_100cc (100cc) is hydrating; r_25cc keeps serving until it is";
        assert_eq!(waiting(next.clone()), (vec![], vec![line.to_string()]));
        // Made two hours ago and hydrating since: said how long (it read
        // as one made a second ago: an outside check).
        next[2].since = Some(now() - Duration::minutes(133));
        let line = "hydrate r_100cc: r_100cc (100cc) is hydrating for 2h13m; r_25cc keeps \
                    serving until it is";
        assert_eq!(waiting(next), (vec![], vec![line.to_string()]));
        // r_100cc killed `crashes` times, `ooms` of them for memory, the
        // last two minutes ago.
        let killed = |crashes, ooms| {
            let mut r = replica(3, "r_100cc", "100cc", false);
            r.crash = CrashInfo {
                crashes,
                ooms,
                last_crash: Some(now() - Duration::minutes(2)),
                first_crash: None,
                last_offline: None,
            };
            let mut replicas = old();
            replicas.push(r);
            replicas
        };
        // An OOM in the crash window is said with it (it read as a plain
        // hydration while the replica that was to serve had just died).
        let line = "hydrate r_100cc: r_100cc (100cc) is hydrating (OOM-killed at 11:58:00Z); \
                    r_25cc keeps serving until it is";
        assert_eq!(waiting(killed(1, 1)), (vec![], vec![line.to_string()]));
        // A crash that was no OOM is said as a crash.
        let line = "hydrate r_100cc: r_100cc (100cc) is hydrating (crashed at 11:58:00Z); \
                    r_25cc keeps serving until it is";
        assert_eq!(waiting(killed(1, 0)), (vec![], vec![line.to_string()]));
        // Killed again and again: crash looping, which is not hydrating
        // (it said r_25cc served "until it is", which never comes).
        let line = "hydrate r_100cc: r_100cc (100cc) is crash looping, not hydrating: \
                    7 OOM kills in the crash window, the last at 11:58:00Z; \
                    r_25cc keeps serving meanwhile";
        assert_eq!(waiting(killed(7, 7)), (vec![], vec![line.to_string()]));
    }
}

/// A cluster whose only replica is OOM-killed in a loop at its
/// `target_size`: users wait until an operator acts, said as an alert with
/// the fix (it was only "waiting: hydrate r1", nothing on stderr); with
/// another replica serving, nobody waits: no alert.
#[test]
fn a_crash_loop_with_nothing_else_serving_is_an_alert() {
    let looping = |hydrated_other: bool| {
        let mut replicas = vec![oom_looping(1, "r1", "25cc", 7)];
        if hydrated_other {
            replicas.push(replica(2, "r2", "25cc", true));
        }
        let rows = vec![row("u2", "target_size", json!({"target_size": "25cc"}))];
        plan(
            &snap(vec![cluster("u2", "c", replicas)], rows),
            &PlanOptions::default(),
        )
    };
    let p = looping(false);
    let cp = only(&p);
    assert_eq!(cp.alerts.len(), 1, "{:?}", cp.alerts);
    assert!(
        cp.alerts[0].contains("no other replica serves, so the cluster's users wait")
            && cp.alerts[0].contains("25cc is probably too small"),
        "{:?}",
        cp.alerts
    );
    assert_eq!(cp.state(), PlanState::Attention);
    let p = looping(true);
    assert!(only(&p).alerts.is_empty(), "{:?}", only(&p).alerts);
    // The strategy asks for a larger size already, on its way: said so,
    // not to raise it (an outside check).
    let r = oom_looping(1, "r1", "25cc", 7);
    let rows = vec![row("u2", "target_size", json!({"target_size": "200cc"}))];
    for raised in [
        vec![r.clone()],
        vec![r, replica(2, "r_200cc", "200cc", false)],
    ] {
        let p = plan(
            &snap(vec![cluster("u2", "c", raised)], rows.clone()),
            &PlanOptions::default(),
        );
        let alerts = &only(&p).alerts;
        assert!(
            alerts.len() == 1
                && alerts[0].contains("r_200cc (200cc) is on its way")
                && !alerts[0].contains("too small"),
            "{alerts:?}"
        );
    }
    // A managed cluster whose resize to 200cc is in flight (the new size
    // runs under Materialize's name): on its way, said by its size.
    let mut m = cluster(
        "u2",
        "c",
        vec![
            oom_looping(1, "r1", "25cc", 7),
            replica(2, "r2", "200cc", false),
        ],
    );
    m.managed = true;
    m.size = Some(Size::from("25cc"));
    let p = plan(
        &snap(
            vec![m],
            vec![row("u2", "target_size", json!({"target_size": "200cc"}))],
        ),
        &PlanOptions::default(),
    );
    let said = only(&p).alerts.join("\n");
    assert!(
        said.contains("a 200cc replica is on its way (the resize to 200cc)"),
        "{said}"
    );
    // A burst replica looping alone: its size is burst_replica_size (the
    // advice named target_size and schedule: an outside check).
    let burst = vec![
        oom_looping(1, "c-burst", "25cc", 7),
        replica(2, "r1", "25cc", false),
    ];
    let rows = vec![row("u2", "burst", json!({"burst_replica_size": "25cc"}))];
    let p = plan(
        &snap(vec![cluster("u2", "c", burst)], rows),
        &PlanOptions::default(),
    );
    let said = only(&p).alerts.join("\n") + &only(&p).notes.join("\n");
    assert!(!said.contains("(target_size, schedule)"), "{said}");
}

/// A managed cluster that goes idle while an operator's resize is in
/// flight (tenth session's review): the suspension waited for the cut-over,
/// but its state was saved anyway, remembering both sizes; the suspension
/// after the cut-over kept that list, and the wake, wanting two sizes of a
/// cluster that has one, changed nothing while recording the cluster as
/// resumed: it never woke again.
#[test]
fn a_managed_cluster_idle_through_a_resize_wakes_at_its_size() {
    let rows = vec![row("u2", "idle_suspend", json!({"idle_after_s": 60}))];
    let sql = |p: &Plan| -> Vec<String> { only(p).actions.iter().map(|a| a.sql.clone()).collect() };
    let round = |c: Cluster, state: Option<serde_json::Value>| {
        let mut s = snap(vec![c], rows.clone());
        if let Some(st) = state {
            s.states.insert(ClusterId("u2".into()), st);
        }
        plan(&s, &PlanOptions::default())
    };
    let idle = |mut c: Cluster| {
        c.activity.last_begin = Some(now() - Duration::hours(1));
        c
    };
    // The resize to 50cc in flight: r2 is the new replica.
    let mut resizing = idle(managed(1, "25cc", true));
    resizing.replicas.push(replica(2, "r2", "50cc", true));
    let held = round(resizing, None);
    assert!(sql(&held).is_empty(), "{:?}", sql(&held));
    let state = only(&held).new_state.as_deref().cloned();
    let remembered = state
        .as_ref()
        .and_then(|s| s.get("idle_suspend"))
        .map(|s| s["suspended"].clone());
    assert!(
        remembered
            .as_ref()
            .is_none_or(|s| s.as_array().is_none_or(Vec::is_empty)),
        "a suspension that was held back is not remembered: {state:?}"
    );
    // Cut over: r2 at 50cc. The suspension goes out.
    let mut cut_over = idle(managed(0, "50cc", true));
    cut_over.replication_factor = Some(1);
    cut_over.replicas = vec![replica(2, "r2", "50cc", true)];
    let suspended = round(cut_over, state);
    assert_eq!(
        sql(&suspended),
        [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 0)"#]
    );
    // Demand: back at the cluster's size.
    let mut asleep = managed(0, "50cc", false);
    asleep.activity = Activity {
        last_begin: Some(now()),
        in_flight: 1,
        last_end: None,
    };
    let state = only(&suspended).new_state.as_deref().cloned();
    let woken = round(asleep.clone(), state.clone());
    assert_eq!(
        sql(&woken),
        [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#]
    );
    // Resized by hand while suspended: the wake keeps the operator's size.
    asleep.size = Some(Size("100cc".into()));
    assert_eq!(
        sql(&round(asleep, state)),
        [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#]
    );
}

/// Managed cluster u2 that `idle_suspend` suspended two hours ago (r1,
/// 25cc), a statement waiting, its `target_size` wanting 100cc.
fn asleep_wanting_100cc() -> Snapshot {
    asleep_at(
        "25cc",
        vec![
            row("u2", "idle_suspend", json!({"idle_after_s": 60})),
            row("u2", "target_size", json!({"target_size": "100cc"})),
        ],
    )
}

/// Managed cluster u2 (`m`) of `size` that `idle_suspend` suspended two
/// hours ago (r1 of that size), a statement waiting, with `rows`.
fn asleep_at(size: &str, rows: Vec<StrategyRow>) -> Snapshot {
    let mut asleep = managed(0, size, false);
    asleep.activity = Activity {
        last_begin: Some(now()),
        in_flight: 1,
        last_end: None,
    };
    let mut s = snap(vec![asleep], rows);
    s.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": size}],
            "suspended_at": (now() - Duration::hours(2)).to_rfc3339()
        }}),
    );
    s
}

/// [`asleep_wanting_100cc`] on a release that resizes in the background,
/// whose resize to 100cc, sent ten minutes ago, did not take.
fn asleep_after_a_resize_that_did_not_take() -> Snapshot {
    let mut s = asleep_wanting_100cc();
    did_not_take(&mut s, "100cc");
    s
}

/// `s` on a release that resizes in the background, whose resize of u2 to
/// `size`, sent ten minutes ago, did not take.
fn did_not_take(s: &mut Snapshot, size: &str) {
    s.env.version = Some("v26.35.0 (abc)".into());
    s.last_resizes.insert(
        ClusterId("u2".into()),
        crate::model::LastResize {
            size: Size(size.into()),
            at: now() - Duration::minutes(10),
            failed: None,
        },
    );
}

/// The statements of the only cluster's actions, in order.
fn statements(p: &Plan) -> Vec<&str> {
    only(p).actions.iter().map(|a| a.sql.as_str()).collect()
}

/// A managed cluster at replication factor 1 suspended while its
/// `target_size` wants another size (a resize held back after a rollback,
/// or not yet sent): it remembered one replica of each size, so its wakes
/// ran two replicas of the new size (the thirty-fourth session's outside
/// check: double the credits in `managed.toml`). What ran comes back.
#[test]
fn a_managed_suspension_remembers_what_ran_not_a_resize_it_wanted() {
    let rows = vec![
        row("u2", "target_size", json!({"target_size": "100cc"})),
        row("u2", "idle_suspend", json!({"idle_after_s": 60})),
    ];
    let mut m = managed(1, "25cc", true);
    let hours_ago = Some(now() - Duration::hours(2));
    m.activity = Activity {
        last_begin: hours_ago,
        in_flight: 0,
        last_end: hours_ago,
    };
    let p = plan(&snap(vec![m], rows), &PlanOptions::default());
    let cp = only(&p);
    let sql: Vec<&str> = cp.actions.iter().map(|a| a.sql.as_str()).collect();
    assert_eq!(sql, [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 0)"#]);
    let state = cp.new_state.as_deref().cloned().unwrap_or_default();
    assert_eq!(
        state["idle_suspend"]["suspended"],
        json!([{"name": "r1", "size": "25cc"}]),
        "{state}"
    );
}

/// A managed cluster suspended by `idle_suspend` and woken at a new
/// `target_size` (tenth session's review): the resize is target_size's,
/// the replication factor back from 0 is the wake's; both were credited to
/// target_size, so `history` showed no wake.
#[test]
fn a_managed_wake_at_a_new_target_size_credits_the_wake() {
    let s = asleep_wanting_100cc();
    let p = plan(&s, &PlanOptions::default());
    let got: Vec<(String, StrategyKind, String)> = only(&p)
        .actions
        .iter()
        .map(|a| (a.sql.clone(), a.strategy, a.reasons.join("; ")))
        .collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].0.contains("SET (SIZE = '100cc')"), "{got:#?}");
    assert_eq!(got[0].1, StrategyKind::TargetSize);
    assert_eq!(got[0].2, "ensure one replica of target size 100cc");
    assert_eq!(
        got[1].0,
        r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#
    );
    assert_eq!(got[1].1, StrategyKind::IdleSuspend, "{got:#?}");
    assert!(got[1].2.starts_with("resume after suspension"), "{got:#?}");
    // Suspended at a replication factor of 2: woken at 2, at the new size
    // (the outside check's: it came back at 1, an HA replica lost).
    let mut two = s.clone();
    two.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "25cc"}, {"name": "r2", "size": "25cc"}],
            "suspended_at": (now() - Duration::hours(2)).to_rfc3339()
        }}),
    );
    let sql: Vec<String> = only(&plan(&two, &PlanOptions::default()))
        .actions
        .iter()
        .map(|a| a.sql.clone())
        .collect();
    assert_eq!(sql.len(), 2, "{sql:#?}");
    assert!(sql[0].contains("SET (SIZE = '100cc')"), "{sql:#?}");
    assert_eq!(
        sql[1], r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 2)"#,
        "{sql:#?}"
    );
    // Unmanaged, the create of the new size says whose wake it is.
    let creates = creates_unmanaged(s);
    assert_eq!(creates.len(), 1, "{creates:#?}");
    assert_eq!(creates[0].0, "r_100cc");
    assert_eq!(creates[0].1, StrategyKind::TargetSize);
    assert_eq!(creates[0].2.len(), 2, "{creates:#?}");
    assert!(
        creates[0].2[1]
            .starts_with("instead of r1 (25cc) that idle_suspend wanted: resume after suspension"),
        "{creates:#?}"
    );
}

/// The plan of `s`'s only cluster made unmanaged: its actions as
/// (replica, strategy, reasons).
fn creates_unmanaged(mut s: Snapshot) -> Vec<(String, StrategyKind, Vec<String>)> {
    let c = &mut s.clusters[0];
    c.managed = false;
    c.size = None;
    c.replication_factor = None;
    let p = plan(&s, &PlanOptions::default());
    only(&p)
        .actions
        .iter()
        .map(|a| (a.replica.clone(), a.strategy, a.reasons.clone()))
        .collect()
}

/// A wake at a new `target_size` beside `burst`: the replica remembered
/// is replaced by target_size's, and only its create says so; the
/// burst's create gives its own reason (it said "instead of r1 (25cc)
/// that idle_suspend wanted", which target_size did: the thirty-fifth
/// session's strategy check).
#[test]
fn only_the_strategy_that_replaced_a_woken_replica_says_so() {
    let mut s = asleep_wanting_100cc();
    s.strategies
        .push(row("u2", "burst", json!({"burst_replica_size": "200cc"})));
    let creates = creates_unmanaged(s);
    assert_eq!(creates.len(), 2, "{creates:#?}");
    let says = |k: StrategyKind| {
        let (_, _, reasons) = creates.iter().find(|(_, s, _)| *s == k).expect("created");
        reasons
            .iter()
            .any(|r| r.starts_with("instead of r1 (25cc) that idle_suspend wanted"))
    };
    assert!(says(StrategyKind::TargetSize), "{creates:#?}");
    assert!(!says(StrategyKind::Burst), "{creates:#?}");
}

/// Idle time counts from the last statement's end: a cluster whose
/// two-hour query finished five minutes ago is not idle for two hours (it
/// was suspended at once; mz-clusterctl counts from the end too).
#[test]
fn idle_time_counts_from_the_last_statements_end() {
    let with = |end_ago: Option<i64>| {
        let mut c = cluster("u2", "c", vec![replica(1, "r1", "25cc", true)]);
        c.activity = Activity {
            last_begin: Some(now() - Duration::hours(2)),
            in_flight: 0,
            last_end: end_ago.map(|m| now() - Duration::minutes(m)),
        };
        let s = snap(
            vec![c],
            vec![row("u2", "idle_suspend", json!({"idle_after_s": 1800}))],
        );
        plan(&s, &PlanOptions::default())
    };
    let p = with(Some(5));
    assert!(only(&p).actions.is_empty(), "{:?}", only(&p).actions);
    // Ended 40 minutes ago: idle for 40 minutes, past the threshold.
    let p = with(Some(40));
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{:?}", cp.actions);
    assert!(
        cp.actions[0].reasons[0].contains("idle for 40m"),
        "{:?}",
        cp.actions[0].reasons
    );
    // No end logged (statements that never finished are in flight).
    let p = with(None);
    assert!(
        only(&p).actions[0].reasons[0].contains("idle for 2h"),
        "{:?}",
        only(&p).actions
    );
}

/// Three unmanaged clusters each wanting a new size, a system cluster
/// whose replica Materialize does not count, and the region's limit.
fn region_snapshot(limit: Option<f64>) -> Snapshot {
    let mut s = snap(
        vec![
            cluster("s1", "mz_system", vec![replica(1, "r1", "800cc", true)]),
            cluster("u2", "a", vec![replica(2, "r1", "25cc", true)]),
            cluster("u3", "b", vec![replica(3, "r1", "25cc", true)]),
            cluster("u4", "c", vec![replica(4, "r1", "50cc", true)]),
        ],
        vec![
            row("u2", "target_size", json!({"target_size": "200cc"})),
            row("u3", "target_size", json!({"target_size": "100cc"})),
            row("u4", "target_size", json!({"target_size": "25cc"})),
        ],
    );
    s.env.settings.max_credit_consumption_rate = limit;
    s
}

/// Each action's kind and replica, in order.
fn kinds_of(cp: &ClusterPlan) -> Vec<(ActionKind, &str)> {
    cp.actions
        .iter()
        .map(|a| (a.kind, a.replica.as_str()))
        .collect()
}

fn created(cp: &ClusterPlan) -> Vec<String> {
    cp.actions
        .iter()
        .filter(|a| a.kind == ActionKind::CreateReplica)
        .map(|a| a.replica.clone())
        .collect()
}

#[test]
fn the_region_credit_limit_holds_back_creates_that_do_not_fit_in_catalog_order() {
    // Live: 1 (25cc, 25cc, 50cc; mz_system's 800cc is not counted). a's
    // 200cc takes the region to 3; b's 100cc would make 4 > 3.25 and
    // waits; c's 25cc makes exactly 3.25, which Materialize allows.
    let s = region_snapshot(Some(3.25));
    let p = plan(&s, &PlanOptions::default());
    let by_name = |n: &str| p.clusters.iter().find(|c| c.cluster == n).unwrap();
    assert_eq!(created(by_name("a")), ["r_200cc"]);
    assert_eq!(created(by_name("c")), ["r_25cc"]);
    let b = by_name("b");
    assert!(b.actions.is_empty(), "{:?}", b.actions);
    assert_eq!(b.state(), PlanState::Waiting);
    // What the strategies decided did not happen: their state is not
    // written (a cluster planned in full writes its first sight).
    assert!(b.new_state.is_none(), "{:?}", b.new_state);
    assert!(by_name("a").new_state.is_some());
    let held = b.waiting.iter().find(|d| d.held_by_limit()).unwrap();
    assert_eq!(held.action, "create r_100cc (100cc)");
    assert!(
        held.reason.contains("(max_credit_consumption_rate 3.25): it would take the region to 4 credits/h (live replicas 1, this run's earlier creates 2)"),
        "{}",
        held.reason
    );
    assert_eq!(
        crate::commands::status::condition(&s, &s.clusters[2], Some(b)).0,
        crate::commands::status::Condition::Limited
    );
    // The same on every run.
    assert_eq!(
        p,
        plan(&region_snapshot(Some(3.25)), &PlanOptions::default())
    );
    // A release or role that cannot read the limit: nothing held back.
    let p = plan(&region_snapshot(None), &PlanOptions::default());
    assert_eq!(p.actions().count(), 3);
}

/// A cluster none of whose replicas serves (its users' queries fail or
/// wait) takes the room first: b, with no replica, gets its 100cc; a,
/// served by its 25cc, waits for its 200cc, though it comes first in the
/// catalog (it took the room before, and b's users waited). The plan still
/// lists the clusters in catalog order.
#[test]
fn the_region_credit_limit_gives_the_room_to_clusters_that_serve_nobody_first() {
    // Live: 0.75 (a's 25cc, c's 50cc). Limit 2.8: b's 100cc (1.75), then
    // a's 200cc would make 3.75 and waits, c's 25cc makes 2.
    let mut s = region_snapshot(Some(2.8));
    assert_eq!(
        super::region::live_credits(&s),
        1.0,
        "mz_system's 800cc not counted"
    );
    s.clusters[2].replicas.clear();
    assert_eq!(s.clusters[2].name, "b");
    assert_eq!(super::region::live_credits(&s), 0.75);
    let p = plan(&s, &PlanOptions::default());
    let by_name = |n: &str| p.clusters.iter().find(|c| c.cluster == n).unwrap();
    assert_eq!(created(by_name("b")), ["r_100cc"]);
    assert_eq!(created(by_name("c")), ["r_25cc"]);
    let a = by_name("a");
    assert!(a.actions.is_empty(), "{:?}", a.actions);
    assert!(
        a.waiting.iter().any(|d| d.held_by_limit()),
        "{:?}",
        a.waiting
    );
    let names: Vec<&str> = p.clusters.iter().map(|c| c.cluster.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    // A replica that runs but has not hydrated serves nobody either.
    let mut s = region_snapshot(Some(2.8));
    s.clusters[2].replicas[0].hydrated = false;
    let p = plan(&s, &PlanOptions::default());
    let b = p.clusters.iter().find(|c| c.cluster == "b").unwrap();
    assert_eq!(created(b), ["r_100cc"]);
}

/// Once one of a cluster's creates is held back by the region's limit,
/// its later creates wait with it, even one that would fit alone: a probe
/// of several sizes does not start its cheap sizes without the one that
/// serves if any does.
#[test]
fn a_clusters_later_creates_wait_with_its_first_held_one() {
    let mut s = snap(
        vec![cluster("u2", "a", vec![])],
        vec![row(
            "u2",
            "shrink_to_fit",
            json!({"max_replica_size": "200cc"}),
        )],
    );
    s.env.settings.max_credit_consumption_rate = Some(0.5);
    let unlimited = {
        let mut s = s.clone();
        s.env.settings.max_credit_consumption_rate = None;
        plan(&s, &PlanOptions::default())
    };
    let probed = created(only(&unlimited));
    assert!(probed.len() >= 3, "{probed:?}");
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    let held: Vec<&str> = cp
        .waiting
        .iter()
        .filter(|d| d.held_by_limit())
        .map(|d| d.reason.as_str())
        .collect();
    // Whatever came first and did not fit, every create after it waits.
    let first_held = probed
        .iter()
        .position(|r| !created(cp).contains(r))
        .expect("one create is held");
    assert_eq!(created(cp), probed[..first_held], "{held:?}");
    assert_eq!(held.len(), probed.len() - first_held, "{held:?}");
    assert!(
        held[1..].iter().all(|r| r.starts_with("waits for create ")),
        "{held:?}"
    );
}

/// A drop after a cluster's held create still goes: a looping replica
/// that serves nobody is retired while the larger sizes wait for room.
#[test]
fn a_clusters_drop_goes_through_though_its_create_is_held() {
    let mut s = oom_looping_under_shrink_to_fit(false);
    s.env.settings.max_credit_consumption_rate = Some(0.3);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(
        kinds_of(cp),
        [(ActionKind::DropReplica, "c_25cc")],
        "{:?}",
        cp.waiting
    );
    assert!(
        cp.waiting.iter().any(|d| d.held_by_limit()),
        "{:?}",
        cp.waiting
    );
}

#[test]
fn drops_are_never_held_back_by_the_region_credit_limit() {
    // Already beyond the limit: the retirement of a hydrated old size
    // goes ahead, the create elsewhere waits.
    let mut s = snap(
        vec![
            cluster(
                "u2",
                "a",
                vec![
                    replica(2, "r_old", "800cc", true),
                    replica(3, "r_25cc", "25cc", true),
                ],
            ),
            cluster("u3", "b", vec![replica(4, "r1", "25cc", true)]),
        ],
        vec![
            row("u2", "target_size", json!({"target_size": "25cc"})),
            row("u3", "target_size", json!({"target_size": "50cc"})),
        ],
    );
    s.env.settings.max_credit_consumption_rate = Some(1.0);
    let p = plan(&s, &PlanOptions::default());
    let kinds: Vec<(String, ActionKind)> =
        p.actions().map(|a| (a.cluster.clone(), a.kind)).collect();
    assert_eq!(kinds, [("a".to_string(), ActionKind::DropReplica)]);
    assert!(p.clusters[1].waiting.iter().any(|d| d.held_by_limit()));
}

#[test]
fn a_managed_resize_counts_as_the_release_carries_it_out() {
    // 100cc -> 200cc, one replica; the region uses 1 credit/h.
    let resize = |version: &str, limit: f64| {
        let mut s = snap(
            vec![managed(1, "100cc", true)],
            vec![row(
                "u2",
                "target_size",
                json!({"target_size": "200cc", "allow_downtime": true}),
            )],
        );
        s.env.version = Some(version.into());
        s.env.settings.enable_zero_downtime_cluster_reconfiguration = Some(false);
        s.env.settings.max_credit_consumption_rate = Some(limit);
        plan(&s, &PlanOptions::default())
    };
    // Graceful: the new replica runs beside the old one (1 + 2).
    assert_eq!(only(&resize("v26.35.0", 3.0)).actions.len(), 1);
    let p = resize("v26.35.0", 2.5);
    let cp = only(&p);
    assert!(cp.actions.is_empty());
    let held = cp.waiting.iter().find(|d| d.held_by_limit()).unwrap();
    assert_eq!(held.action, "resize to 200cc");
    assert!(held.reason.contains("to 3 credits/h"), "{}", held.reason);
    // A restart drops and creates at once: judged by the net change (1 + 1).
    assert_eq!(only(&resize("v25.2.0", 2.5)).actions.len(), 1);

    // Waking at a new size on a release that restarts: the resize of a
    // cluster without replicas costs nothing, the wake 8 credits/h.
    let mut s = waking_on_a_restarting_release("800cc");
    s.env.settings.max_credit_consumption_rate = Some(4.0);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    let kinds: Vec<ActionKind> = cp.actions.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [ActionKind::SetSize]);
    let actions: Vec<&str> = cp
        .waiting
        .iter()
        .filter(|d| d.held_by_limit())
        .map(|d| d.action.as_str())
        .collect();
    assert_eq!(actions, ["set replication factor 1"]);
    // Exactly the wake's 8 credits/h fits: the factor times the size's
    // price, nothing more.
    let mut s = waking_on_a_restarting_release("800cc");
    s.env.settings.max_credit_consumption_rate = Some(8.0);
    let p = plan(&s, &PlanOptions::default());
    let kinds: Vec<ActionKind> = only(&p).actions.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [ActionKind::SetSize, ActionKind::SetReplicationFactor]
    );
}

#[test]
fn made_up_credits_leave_the_region_limit_unjudged_and_say_so() {
    let mut s = region_snapshot(Some(0.5));
    s.sizes = SizeCatalog::from_names(&[
        "25cc".into(),
        "50cc".into(),
        "100cc".into(),
        "200cc".into(),
        "800cc".into(),
    ]);
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(p.actions().count(), 3);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("max_credit_consumption_rate 0.5") && w.contains("--replica-sizes")),
        "{:?}",
        p.warnings
    );
}

/// `--replica-sizes` naming sizes the catalog prices: the limit is judged
/// as without it, the live replicas of sizes left out of the list counted.
#[test]
fn listed_sizes_the_catalog_prices_judge_the_region_limit() {
    let mut s = region_snapshot(Some(3.25));
    let list: Vec<String> = ["25cc", "100cc", "200cc"].map(String::from).into();
    s.sizes = SizeCatalog::listed(&list, Some(SizeCatalog::cloud_defaults()));
    let p = plan(&s, &PlanOptions::default());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let b = p.clusters.iter().find(|c| c.cluster == "b").unwrap();
    let held = b.waiting.iter().find(|d| d.held_by_limit()).unwrap();
    assert!(
        held.reason
            .contains("(live replicas 1, this run's earlier creates 2)"),
        "c's 50cc, not listed, still counts: {}",
        held.reason
    );
}

/// The trail is read for a cluster with `idle_suspend`, no replica and
/// nothing remembered, unless the plan leaves it alone before its
/// strategies run: paused, a row in error, unmanageable.
#[test]
fn the_trail_is_read_only_for_a_cluster_the_plan_runs() {
    let reads_the_trail = |s: &Snapshot| !reads_the_trail_for(s, &Selection::all()).is_empty();
    let idle = || row("u2", "idle_suspend", json!({"idle_after_s": 600}));
    let empty = || vec![cluster("u2", "c", vec![])];
    assert!(reads_the_trail(&snap(empty(), vec![idle()])));
    let running = vec![cluster("u2", "c", vec![replica(1, "r1", "25cc", true)])];
    assert!(!reads_the_trail(&snap(running, vec![idle()])));
    let other = row("u2", "target_size", json!({"target_size": "25cc"}));
    assert!(
        !reads_the_trail(&snap(empty(), vec![other])),
        "no idle_suspend"
    );

    let paused = row("u2", "pause", json!({"reason": "maintenance"}));
    assert!(!reads_the_trail(&snap(empty(), vec![idle(), paused])));
    let expired = row("u2", "pause", json!({"until": "2026-11-20T00:00:00Z"}));
    assert!(reads_the_trail(&snap(empty(), vec![idle(), expired])));
    let invalid = row("u2", "idle_suspend", json!({"idle_after_s": "soon"}));
    assert!(!reads_the_trail(&snap(empty(), vec![invalid])));
    let mut refreshed = empty();
    refreshed[0].schedule = Schedule::OnRefresh;
    assert!(!reads_the_trail(&snap(refreshed, vec![idle()])));
    let dropped = snap(vec![], vec![idle()]);
    assert!(!reads_the_trail(&dropped), "no such cluster");
}

/// What the snapshot reads for the plan alone (the trail's last
/// suspensions, the statement history) is read for the clusters the
/// selection plans, by the selection's own matching: exact names or ids,
/// or a pattern. The history's window stays the longest of every row.
#[test]
fn the_plans_reads_follow_the_selection() {
    let idle = |id: &str| row(id, "idle_suspend", json!({"idle_after_s": 600}));
    let predicting = |id: &str, days: u64| {
        row(
            id,
            "idle_suspend",
            json!({"idle_after_s": 600, "predict": true, "history_days": days}),
        )
    };
    let s = snap(
        vec![
            cluster("u1", "a", vec![]),
            cluster("u2", "b", vec![]),
            cluster("u3", "u1", vec![]),
        ],
        vec![idle("u1"), idle("u2"), idle("u3")],
    );
    let ids = |v: Vec<ClusterId>| v.into_iter().map(|id| id.0).collect::<Vec<_>>();
    let trail = |sel: Selection| ids(reads_the_trail_for(&s, &sel));
    assert_eq!(trail(Selection::all()), ["u1", "u2", "u3"]);
    assert_eq!(trail(Selection::names(&["b"])), ["u2"]);
    assert_eq!(trail(Selection::names(&["u2"])), ["u2"], "by id");
    assert_eq!(trail(Selection::names(&["u1"])), ["u3"], "a name wins");
    assert_eq!(
        trail(Selection::pattern(Regex::new("^[ab]$").unwrap())),
        ["u1", "u2"]
    );
    assert!(trail(Selection::names(&["none"])).is_empty());

    let s = snap(
        vec![cluster("u1", "a", vec![]), cluster("u2", "b", vec![])],
        vec![predicting("u1", 28), predicting("u2", 7), idle("u9")],
    );
    let demand = |sel: Selection| learns_demand(&s, &sel).map(|(days, v)| (days, ids(v)));
    assert_eq!(
        demand(Selection::all()),
        Some((28, vec!["u1".to_string(), "u2".to_string()]))
    );
    assert_eq!(
        demand(Selection::names(&["b"])),
        Some((28, vec!["u2".to_string()])),
        "b's history, over the window of every row"
    );
    let mut paused = s.clone();
    paused
        .strategies
        .push(row("u2", "pause", json!({"reason": "maintenance"})));
    assert_eq!(learns_demand(&paused, &Selection::names(&["b"])), None);
}

/// A pause in force leaves the cluster with no notes; otherwise an
/// expired pause and the rows' warnings (not their errors) are noted,
/// whether the strategies run or the cluster is left alone.
#[test]
fn an_expired_pause_and_the_rows_warnings_are_noted_unless_paused() {
    let c = || vec![cluster("u2", "c", vec![replica(1, "r1", "25cc", true)])];
    let typo = || {
        row(
            "u2",
            "target_size",
            json!({"target_size": "25cc", "replica_name": "r1", "cooldown": 5}),
        )
    };
    let expired = row("u2", "pause", json!({"until": "2026-11-20T00:00:00Z"}));
    let p = plan(&snap(c(), vec![typo(), expired]), &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(cp.outcome, Outcome::Planned);
    assert!(
        cp.notes.iter().any(|n| n.contains("the pause expired at")),
        "{:?}",
        cp.notes
    );
    assert!(
        cp.notes
            .iter()
            .any(|n| n.contains("unknown config key 'cooldown'")),
        "{:?}",
        cp.notes
    );

    let paused = row("u2", "pause", json!({"reason": "maintenance"}));
    let p = plan(&snap(c(), vec![typo(), paused]), &PlanOptions::default());
    assert!(matches!(only(&p).outcome, Outcome::Paused { .. }));
    assert!(only(&p).notes.is_empty(), "{:?}", only(&p).notes);

    // Left alone for a row in error: its warnings noted, its errors not.
    let bad = row("u2", "idle_suspend", json!({"idle_after_s": "soon"}));
    let p = plan(&snap(c(), vec![typo(), bad]), &PlanOptions::default());
    let cp = only(&p);
    assert!(matches!(cp.outcome, Outcome::Invalid { .. }));
    assert!(
        cp.notes.iter().any(|n| n.contains("cooldown")),
        "{:?}",
        cp.notes
    );
    assert!(
        !cp.notes.iter().any(|n| n.contains("idle_after_s")),
        "{:?}",
        cp.notes
    );
}

/// A half-suspended cluster (one replica dropped, one still running)
/// whose `idle_suspend` slot was lost: the plan flags the slot so that
/// the next plan reads the audit trail's suspension. A slot that does not
/// parse starts afresh as an absent one does, flagged alike (it was not:
/// only an absent or null slot counted as wiped).
#[test]
fn an_unreadable_idle_suspend_slot_reads_the_trail_as_a_wiped_one_does() {
    let mut s = snap(
        vec![cluster("u2", "c", vec![replica(2, "r2", "100cc", true)])],
        vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))],
    );
    s.clusters[0].activity.last_begin = Some(now() - Duration::hours(2));
    let check_trail = |stored: Option<serde_json::Value>| {
        let mut s = s.clone();
        if let Some(slot) = stored {
            s.states
                .insert(ClusterId("u2".into()), json!({"idle_suspend": slot}));
        }
        let p = plan(&s, &PlanOptions::default());
        let state = only(&p).new_state.as_deref().cloned();
        state.map(|st| st["idle_suspend"]["check_trail"].clone())
    };
    assert_eq!(check_trail(None), Some(json!(true)));
    assert_eq!(
        check_trail(Some(serde_json::Value::Null)),
        Some(json!(true))
    );
    for unreadable in [json!(17), json!({"suspended": "r1"})] {
        assert_eq!(
            check_trail(Some(unreadable.clone())),
            Some(json!(true)),
            "{unreadable}"
        );
    }
}

/// The activity a suspension was decided on is kept for the plan guard
/// (which reads the log again before the first DROP) only for a
/// suspension, and only when the log judged it: a plan that creates keeps
/// none, nor a suspension of unknown activity (`suspend_when_unknown`).
#[test]
fn the_guard_rereads_activity_only_for_a_suspension_the_log_decided() {
    let idle = Activity {
        last_begin: Some(now() - Duration::hours(2)),
        in_flight: 0,
        last_end: None,
    };
    let with = |replicas: Vec<Replica>, ty: &str, config: serde_json::Value| {
        let mut c = cluster("u2", "c", replicas);
        c.activity = idle.clone();
        snap(vec![c], vec![row("u2", ty, config)])
    };
    let hydrated = || vec![replica(1, "r1", "25cc", true)];
    let p = plan(
        &with(hydrated(), "idle_suspend", json!({"idle_after_s": 3600})),
        &PlanOptions::default(),
    );
    assert!(only(&p).suspending, "{:?}", only(&p));
    assert_eq!(only(&p).observed_activity.as_deref(), Some(&idle));
    let p = plan(
        &with(vec![], "target_size", json!({"target_size": "25cc"})),
        &PlanOptions::default(),
    );
    assert!(!only(&p).suspending && !only(&p).actions.is_empty());
    assert_eq!(only(&p).observed_activity, None);
    let mut s = with(
        hydrated(),
        "idle_suspend",
        json!({"idle_after_s": 3600, "suspend_when_unknown": true}),
    );
    s.clusters[0].activity = Activity::default();
    s.activity_log_has_rows = false;
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(only(&p).signals.idle, Idle::Unknown);
    assert!(only(&p).suspending, "{:?}", only(&p));
    assert_eq!(only(&p).observed_activity, None);
}

/// A wake of a managed cluster whose resize to the target did not take:
/// the resize is held back, the wake goes at the size the cluster has
/// ([`a_wake_is_not_held_with_a_resize_that_did_not_take`]), and the
/// state records the wake with the rollback (it was held with the resize,
/// and the state stayed "suspended" so as not to record a wake that had
/// not happened).
#[test]
fn a_wake_beside_a_rolled_back_resize_is_recorded_with_it() {
    let s = asleep_after_a_resize_that_did_not_take();
    let p = plan(
        &s,
        &PlanOptions {
            new_state: true,
            ..PlanOptions::default()
        },
    );
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{:#?}", cp.actions);
    assert_eq!(cp.waiting.len(), 1, "{:#?}", cp.waiting);
    let state = cp.new_state.as_deref().expect("the rollback is recorded");
    assert!(
        state["idle_suspend"]["suspended_at"].is_null(),
        "woken: {state}"
    );
    assert!(
        state["_controller"][rolled_back::STATE_KEY].is_object(),
        "{state}"
    );
}

/// Which statements only a managed cluster takes: what the plan guard
/// compares with the cluster's kind before each one (made managed or
/// unmanaged since the plan, the statement would be refused).
#[test]
fn only_the_cluster_level_statements_are_for_managed_clusters() {
    assert!(ActionKind::SetSize.managed());
    assert!(ActionKind::SetReplicationFactor.managed());
    assert!(!ActionKind::CreateReplica.managed());
    assert!(!ActionKind::DropReplica.managed());
}

/// Rows of a cluster that no longer exists are said once, as dangling,
/// with how to remove them; what else is wrong with them (an unknown type
/// here) is not said again for a cluster nothing can plan.
#[test]
fn rows_of_a_dropped_cluster_are_said_as_dangling_only() {
    let s = snap(
        vec![cluster("u2", "c", vec![])],
        vec![row("u9", "idle_suspnd", json!({}))],
    );
    let p = plan(&s, &PlanOptions::default());
    assert!(p.clusters.is_empty(), "{p:#?}");
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].starts_with("strategy rows: no cluster has id u9"),
        "{:?}",
        p.warnings
    );
}

/// `limits`' `max_credits_per_hour` under `--replica-sizes` naming a size
/// the catalog does not price: the credits are made up (by position in the
/// list), so the limit is not judged, and the plan says so; with the
/// catalog's prices it is.
#[test]
fn made_up_credits_never_judge_a_limits_rows_budget() {
    let rows = || {
        vec![
            row("u2", "target_size", json!({"target_size": "200cc"})),
            row("u2", "limits", json!({"max_credits_per_hour": 2.5})),
        ]
    };
    let live = || vec![cluster("u2", "c", vec![replica(1, "r1", "100cc", true)])];
    let priced = snap(live(), rows());
    let p = plan(&priced, &PlanOptions::default());
    let c = &p.clusters[0];
    assert!(c.actions.is_empty(), "100cc + 200cc is over 2.5: {c:?}");
    assert!(c.waiting.iter().any(|d| d.held_by_limit()), "{c:?}");
    let mut made_up = snap(live(), rows());
    let list: Vec<String> = ["25cc", "100cc", "200cc", "xl"].map(String::from).into();
    made_up.sizes = SizeCatalog::listed(&list, Some(SizeCatalog::cloud_defaults()));
    assert!(!made_up.sizes.credits_known());
    let p = plan(&made_up, &PlanOptions::default());
    let c = &p.clusters[0];
    assert_eq!(
        c.actions.len(),
        1,
        "not held back by made-up credits: {c:?}"
    );
    assert!(!c.waiting.iter().any(|d| d.held_by_limit()), "{c:?}");
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("max_credits_per_hour 2.5 is not judged")),
        "{:?}",
        c.notes
    );
}

/// `r` OOM-killed once, `mins_ago` minutes ago (`None`: when is unknown).
fn oom_killed(mut r: Replica, mins_ago: Option<i64>) -> Replica {
    let at = mins_ago.map(|m| now() - Duration::minutes(m));
    r.crash = CrashInfo {
        crashes: 1,
        ooms: 1,
        last_crash: at,
        first_crash: at,
        last_offline: None,
    };
    r
}

/// `shrink_to_fit` after its 50cc replica was OOM-killed, under
/// `--replica-sizes` leaving 50cc out: the sizes the catalog prices below
/// it (25cc) are not tried; those above it are. Sizes are compared by the
/// catalog's prices when one of them is not offered.
#[test]
fn a_too_small_size_left_out_of_the_list_still_bounds_the_probe() {
    let r = oom_killed(replica(1, "r1", "50cc", true), None);
    let mut s = snap(
        vec![cluster("u2", "c", vec![r])],
        vec![row(
            "u2",
            "shrink_to_fit",
            json!({"max_replica_size": "200cc"}),
        )],
    );
    let list: Vec<String> = ["25cc", "100cc", "200cc"].map(String::from).into();
    s.sizes = SizeCatalog::listed(&list, Some(SizeCatalog::cloud_defaults()));
    let p = plan(&s, &PlanOptions::default());
    let created: Vec<String> = only(&p)
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::CreateReplica)
        .filter_map(|a| a.size.as_ref().map(|s| s.0.clone()))
        .collect();
    assert!(!created.contains(&"25cc".to_string()), "{created:?}");
    assert!(created.contains(&"100cc".to_string()), "{created:?}");
    let sizes = SizeCatalog::listed(&list, Some(SizeCatalog::cloud_defaults()));
    let (a, b, c) = (Size::from("25cc"), Size::from("50cc"), Size::from("100cc"));
    assert!(!sizes.above(&a, &b) && sizes.above(&c, &b) && sizes.above(&c, &a));
    assert!(sizes.above(&a, &Size::from("xl")), "no floor");
    assert!(!sizes.above(&Size::from("xl"), &b), "unpriced");
    assert!(
        sizes.above(&Size::from("xl"), &Size::from("yl")),
        "nothing prices either: no floor"
    );
    // Made-up credits (by position) order nothing: a floor the region
    // refuses is no floor then.
    let names: Vec<String> = ["25cc", "50cc", "100cc"].map(String::from).into();
    let made_up = SizeCatalog::from_names(&names).restrict_to(&["25cc".into(), "100cc".into()]);
    assert!(made_up.is_refused(&b));
    assert!(made_up.above(&a, &b), "{made_up:?}");
    // Priced the same as the floor: the catalog's order decides (cores,
    // then memory, then name), as it orders the sizes it offers.
    let size = |name: &str, credits| crate::model::ReplicaSize {
        name: Size::from(name),
        credits_per_hour: credits,
        memory_bytes: 1e9,
        cpu_cores: 1.0,
    };
    let same = SizeCatalog::new(vec![size("a", 1.0), size("b", 1.0), size("c", 2.0)]);
    let listed = SizeCatalog::listed(&["a".into(), "c".into()], Some(same));
    assert!(
        !listed.above(&Size::from("a"), &Size::from("b")),
        "a before b by name"
    );
    assert!(listed.above(&Size::from("c"), &Size::from("b")));
    let bigger_b = SizeCatalog::new(vec![size("a", 1.0), size("c", 2.0), size("b", 1.0)]);
    let listed = SizeCatalog::listed(&["b".into(), "c".into()], Some(bigger_b));
    assert!(
        listed.above(&Size::from("b"), &Size::from("a")),
        "b after a by name"
    );
}

/// The new target size hydrated again after a kill 3 minutes ago: its
/// retirement of the old size waits until it has served 10 minutes. That
/// is waiting work with its time (`status` Stabilizing, WANT without the
/// old size's promise), not "converged": a plan a few minutes later drops
/// the old replica with nothing else changed (second outside check).
#[test]
fn a_retirement_held_for_a_recent_kill_is_waiting_work_with_its_time() {
    let target = oom_killed(replica(2, "r_25cc", "25cc", true), Some(3));
    let live = vec![cluster(
        "u2",
        "c",
        vec![replica(1, "op", "50cc", true), target],
    )];
    let rows = vec![row("u2", "target_size", json!({"target_size": "25cc"}))];
    let s = snap(live, rows);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:?}", cp.actions);
    assert_eq!(
        crate::strategy::testutil::due(&cp.waiting),
        [("drop op (50cc)", Some(420))]
    );
    assert_eq!(cp.state(), PlanState::Waiting, "not converged");
    let (condition, reason) = crate::commands::status::condition(&s, &s.clusters[0], Some(cp));
    assert_eq!(condition, crate::commands::status::Condition::Stabilizing);
    assert!(reason.starts_with("drop op (50cc) in 7m"), "{reason}");
    // Seven minutes on, the same catalog: the drop is planned.
    let mut later = s.clone();
    later.now = now() + Duration::minutes(7);
    let p = plan(&later, &PlanOptions::default());
    let drops: Vec<&str> = only(&p)
        .actions
        .iter()
        .map(|a| a.replica.as_str())
        .collect();
    assert_eq!(drops, ["op"]);
}

/// A suspended managed cluster with users, whose resize did not take and
/// is held back: the wake (the factor up from 0) went with the resize, so
/// users waited out the backoff, an hour to a week (the thirty-fourth
/// session's outside re-check). It wakes at the size it has; the resize
/// waits.
#[test]
fn a_wake_is_not_held_with_a_resize_that_did_not_take() {
    let s = asleep_after_a_resize_that_did_not_take();
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(
        statements(&p),
        [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#],
        "{cp:#?}"
    );
    assert!(
        cp.actions[0]
            .reasons
            .iter()
            .any(|r| r.contains("at the size it has (25cc)")),
        "{cp:#?}"
    );
    let waiting: Vec<&str> = cp.waiting.iter().map(|w| w.action.as_str()).collect();
    assert_eq!(waiting, ["resize to 100cc"], "{cp:#?}");
    // Suspended at a factor of 2: woken at 2, and the alert prices an
    // attempt at the 2 replicas it would run (it said 1).
    let mut two = s.clone();
    two.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "25cc"}, {"name": "r2", "size": "25cc"}],
            "suspended_at": (now() - Duration::hours(2)).to_rfc3339()
        }}),
    );
    let p = plan(&two, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(
        statements(&p),
        [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 2)"#],
        "{cp:#?}"
    );
    assert!(
        cp.alerts
            .iter()
            .any(|a| a.contains("each attempt runs 2 replicas of 100cc")),
        "{:#?}",
        cp.alerts
    );
}

/// A wake at the size the cluster has, its resize to a smaller size held
/// back: no more replicas than the strategies' credits buy at this size.
/// A schedule wanting 3 × 50cc woke 3 × 200cc, four times the spend (an
/// outside check): one 200cc replica (2 credits/h against 1.5).
#[test]
fn a_wake_beside_a_held_back_resize_spends_no_more_than_wanted() {
    let rows = vec![
        row(
            "u2",
            "schedule",
            json!({"timezone": "UTC", "default": {"size": "50cc", "replicas": 3},
                   "windows": [{"cron": "0 0 3 1 1 *", "duration_s": 3600, "size": "50cc"}]}),
        ),
        row("u2", "idle_suspend", json!({"idle_after_s": 60})),
    ];
    let mut s = asleep_at("200cc", rows);
    did_not_take(&mut s, "50cc");
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        statements(&p),
        [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#],
        "{:#?}",
        only(&p)
    );
    let why = only(&p).actions[0].reasons.join("; ");
    assert!(
        why.contains("1 replica of 200cc, not 3: 3 of 50cc cost 1.5 credits/h"),
        "{why}"
    );
}

/// A command's temporary replica (`--create-replica`) on a cluster with
/// strategies (a watcher's exec cluster swapped with it): never retired,
/// never counted on to keep the cluster served (it goes at the command's
/// exit): each plan retired it, and the watcher made it again (an outside
/// check).
#[test]
fn a_temporary_replica_is_never_the_strategies() {
    let temp = "clusterctl_tmp_1796625056_host_42_1_1";
    let rows = vec![row("u2", "target_size", json!({"target_size": "50cc"}))];
    let drops = |replicas: Vec<Replica>| -> Vec<String> {
        let p = plan(
            &snap(vec![cluster("u2", "c", replicas)], rows.clone()),
            &PlanOptions::default(),
        );
        only(&p)
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::DropReplica)
            .map(|a| a.replica.clone())
            .collect()
    };
    // The target hydrated: the old size goes, the temporary one stays.
    let d = drops(vec![
        replica(1, "r1", "25cc", true),
        replica(2, "r_50cc", "50cc", true),
        replica(3, temp, "25cc", true),
    ]);
    assert_eq!(d, ["r1"]);
    // The target not hydrated yet: r1 is the last hydrated replica that
    // stays, whatever the temporary one serves.
    let d = drops(vec![
        replica(1, "r1", "25cc", true),
        replica(2, "r_50cc", "50cc", false),
        replica(3, temp, "25cc", true),
    ]);
    assert!(d.is_empty(), "{d:?}");
}

/// A statement the server refuses every time (a credit limit the plan
/// cannot see) was sent again every run, one failed audit row each: from
/// its second refusal in a row it waits, twice as long each time, with an
/// alert naming the error; an edit of the cluster's rows sends it at once,
/// and another statement is not held by it.
#[test]
fn a_statement_refused_in_a_row_waits_doubling_with_an_alert() {
    let base = snap(
        vec![cluster("u2", "c", vec![replica(1, "r1", "25cc", true)])],
        vec![row("u2", "target_size", json!({"target_size": "50cc"}))],
    );
    let planned = only(&plan(&base, &PlanOptions::default())).actions[0].clone();
    let sql = planned.sql.clone();
    let with = |count: u32, ago: Duration, sql: &str, edited: Option<DateTime<Utc>>| {
        // What the refused statement did: the planned create, or (another
        // statement) an 800cc one.
        let action = match sql == planned.sql {
            true => planned.refused_as(),
            false => crate::model::RefusedAction {
                replica: "r_800cc".into(),
                size: Some("800cc".into()),
                ..planned.refused_as()
            },
        };
        let mut s = base.clone();
        if let Some(t) = edited {
            s.strategies[0].updated_at = Some(t);
        }
        s.refusals.insert(
            ClusterId("u2".into()),
            vec![crate::model::Refusal {
                sql: sql.to_string(),
                action,
                count,
                last_at: now() - ago,
                error: Some("would exceed the region's credit limit".into()),
            }],
        );
        plan(&s, &PlanOptions::default())
    };
    // Refused once: sent again at once.
    assert_eq!(
        only(&with(1, Duration::seconds(5), &sql, None))
            .actions
            .len(),
        1
    );
    // Refused three times, the last a minute ago: 4 minutes' wait, 3 left.
    let p = with(3, Duration::minutes(1), &sql, None);
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:#?}", cp.actions);
    assert_eq!(cp.state(), PlanState::Attention);
    assert_eq!(cp.waiting.len(), 1, "{:#?}", cp.waiting);
    assert_eq!(cp.waiting[0].action, "create r_50cc (50cc)");
    assert_eq!(cp.waiting[0].in_seconds, Some(180));
    assert!(cp.new_state.is_none());
    assert_eq!(cp.next_decision_at, Some(now() + Duration::minutes(3)));
    let alert = cp.alerts.join("\n");
    assert!(
        alert.contains("was refused 3 times in a row, the last at 2026-11-21T11:59:00Z")
            && alert.contains("would exceed the region's credit limit")
            && alert.contains("sent again at 2026-11-21T12:03:00Z"),
        "{alert}"
    );
    // The wait over: sent.
    assert_eq!(
        only(&with(3, Duration::minutes(4), &sql, None))
            .actions
            .len(),
        1
    );
    // Capped at 15 minutes however many refusals.
    let p = with(30, Duration::minutes(1), &sql, None);
    assert_eq!(only(&p).waiting[0].in_seconds, Some(14 * 60));
    // The rows edited after the last refusal: sent at once.
    let edited = Some(now() - Duration::seconds(30));
    assert_eq!(
        only(&with(3, Duration::minutes(1), &sql, edited))
            .actions
            .len(),
        1
    );
    // Another statement refused: nothing to hold.
    let other = "CREATE CLUSTER REPLICA c.r_800cc SIZE = '800cc'";
    assert_eq!(
        only(&with(3, Duration::minutes(1), other, None))
            .actions
            .len(),
        1
    );
}

/// A target size's `replica_name` that burst takes for its own replica
/// (`<cluster>-burst`, or mz-clusterctl's `<cluster>_burst`): burst dropped
/// the target size's replica once another hydrated, and the cluster showed
/// converged at the old size. The row is invalid, as `strategy set` and
/// `check` say by the same validator; without a burst row the name is a
/// name like any other.
#[test]
fn a_replica_name_burst_takes_for_its_own_is_refused() {
    let with = |name: &str, burst: bool| {
        let mut rows = vec![row(
            "u2",
            "target_size",
            json!({"target_size": "50cc", "replica_name": name}),
        )];
        if burst {
            rows.push(row("u2", "burst", json!({"burst_replica_size": "800cc"})));
        }
        let s = snap(
            vec![cluster("u2", "bc", vec![replica(1, "r1", "25cc", true)])],
            rows,
        );
        plan(&s, &PlanOptions::default())
    };
    for name in ["bc-burst", "bc_burst"] {
        let p = with(name, true);
        match &only(&p).outcome {
            Outcome::Invalid { errors } => assert!(
                errors.iter().any(|e| e.contains("key 'replica_name'")
                    && e.contains("the name burst gives its replica on this cluster")),
                "{errors:?}"
            ),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(only(&with(name, false)).outcome, Outcome::Planned, "{name}");
    }
    assert_eq!(only(&with("main", true)).outcome, Outcome::Planned);
}

/// A suspended managed cluster woken once the backoff of a resize that did
/// not take is over: the resize is not sent with the wake (taking at once,
/// with nothing running to roll back to, it left the cluster at a size
/// known not to serve: an outside check). It wakes at the size it has,
/// and the resize goes once the cluster serves, gracefully.
#[test]
fn a_resize_that_did_not_take_is_not_retried_on_a_cluster_with_nothing_running() {
    let mut s = asleep_after_a_resize_that_did_not_take();
    let last = crate::model::LastResize {
        size: Size("100cc".into()),
        at: now() - Duration::days(4),
        failed: None,
    };
    s.last_resizes.insert(ClusterId("u2".into()), last.clone());
    // Seen three days ago: its backoff (as long as it ran, a day) is over.
    let seen = rolled_back::Seen {
        at: now() - Duration::days(3),
        attempts: 1,
        recorded: true,
    };
    let mut state = s
        .states
        .get(&ClusterId("u2".into()))
        .cloned()
        .unwrap_or(json!({}));
    state[CONTROLLER_SLOT] = json!({ rolled_back::STATE_KEY: rolled_back::record(&last, seen) });
    s.states.insert(ClusterId("u2".into()), state);
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(
        statements(&p),
        [r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 1)"#],
        "{cp:#?}"
    );
    assert_eq!(cp.waiting.len(), 1, "{cp:#?}");
    assert_eq!(cp.waiting[0].action, "resize to 100cc");
    assert_eq!(cp.waiting[0].in_seconds, None, "due once it serves");
    assert!(
        cp.waiting[0]
            .reason
            .contains("once the cluster runs replicas at the size it has"),
        "{cp:#?}"
    );
    // Running at its size: sent once more.
    let mut running = s.clone();
    running.clusters[0] = Cluster {
        activity: s.clusters[0].activity.clone(),
        ..managed(1, "25cc", true)
    };
    let p = plan(&running, &PlanOptions::default());
    let kinds: Vec<ActionKind> = only(&p).actions.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [ActionKind::SetSize], "{:#?}", only(&p));
}

/// Rows of a dropped cluster's id where another cluster is named like that
/// id: `strategy rm u10` would remove the named cluster's rows (a name
/// wins), so the fix given is SQL.
#[test]
fn rows_of_an_id_a_cluster_is_named_like_are_removed_with_sql() {
    let s = snap(
        vec![cluster("u12", "u10", vec![])],
        vec![row("u10", "target_size", json!({"target_size": "50cc"}))],
    );
    let p = plan(&s, &PlanOptions::default());
    let said = p.warnings.join("\n");
    let with_sql = |said: &str| {
        said.contains("DELETE FROM mz_cluster_strategies WHERE cluster_id = 'u10'")
            && said.contains(
                "`clusterctl strategy rm u10` would remove the rows of the cluster named u10",
            )
    };
    assert!(with_sql(&said), "{said}");
    // `strategy ls` says it alike (it told to `strategy rm u10`).
    let listed = crate::commands::strategy::list(&s, &crate::plan::Selection::default());
    let problems: Vec<&String> = listed.strategies.iter().flat_map(|l| &l.problems).collect();
    assert!(problems.len() == 1 && with_sql(problems[0]), "{problems:?}");
    // No cluster of that name: `strategy rm` is the fix.
    let s = snap(
        vec![cluster("u12", "c", vec![])],
        vec![row("u10", "target_size", json!({"target_size": "50cc"}))],
    );
    let said = plan(&s, &PlanOptions::default()).warnings.join("\n");
    assert!(
        said.contains("`clusterctl strategy rm u10`, or move them"),
        "{said}"
    );
    // Tables read from `--schema`: the fix names it, SQL and commands (the
    // DELETE said without it removed another installation's rows: an
    // outside check).
    let mut s = s;
    s.env.schema = Some("qa s".into());
    s.strategies
        .push(row("U3", "target_size", json!({"target_size": "50cc"})));
    let said = plan(&s, &PlanOptions::default()).warnings.join("\n");
    assert!(
        said.contains(
            "`clusterctl strategy rm u10 --schema 'qa s'`, or move them to the cluster now \
             serving its workload (after a blue/green swap) with `clusterctl strategy mv u10 \
             CLUSTER --schema 'qa s'`"
        ),
        "{said}"
    );
    assert!(
        said.contains(r#"SQL: DELETE FROM "qa s"."mz_cluster_strategies" WHERE cluster_id = 'U3'"#),
        "{said}"
    );
}

/// A blocking resize (`WAIT UNTIL READY`) that timed out: its statement
/// failed and Materialize rolled it back. It was sent again every run,
/// each attempt holding the run for `--resize-timeout`; it is held back
/// as a background resize that did not take is, the alert saying it
/// failed and why.
#[test]
fn a_blocking_resize_that_timed_out_is_held_back_like_a_rollback() {
    let mut s = snap(
        vec![managed(1, "50cc", true)],
        vec![row("u2", "target_size", json!({"target_size": "25cc"}))],
    );
    s.env.version = Some("v26.34.0 (abc)".into());
    s.env.settings.enable_zero_downtime_cluster_reconfiguration = Some(true);
    s.last_resizes.insert(
        ClusterId("u2".into()),
        crate::model::LastResize {
            size: Size("25cc".into()),
            at: now() - Duration::minutes(11),
            failed: Some("canceling statement, provided timeout lapsed".into()),
        },
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{:#?}", cp.actions);
    assert_eq!(cp.waiting[0].action, "resize to 25cc", "{cp:#?}");
    let alert = cp.alerts.join("\n");
    assert!(
        alert.contains("the resize to 25cc sent at 2026-11-21T11:49:00Z failed (canceling statement, provided timeout lapsed)")
            && alert.contains("WAIT UNTIL READY"),
        "{alert}"
    );
}

/// A predicting cluster silent for longer than the activity lookback:
/// idle since the statement history's last statement (or a replica's
/// start after it), not since the controller's first sight of it. It was
/// "new (no statement seen)" and idle 9d12h three days after its last
/// statement (an outside check).
#[test]
fn idle_beyond_the_lookback_counts_from_the_historys_last_statement() {
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    let mut r = replica(1, "r1", "200cc", true);
    r.since = Some(at("2026-01-20T00:00:00Z"));
    let mut s = snap(
        vec![cluster("u2", "c", vec![r])],
        vec![row(
            "u2",
            "idle_suspend",
            json!({"idle_after_s": 1800, "predict": true}),
        )],
    );
    s.now = at("2026-02-02T12:00:00Z");
    s.states.insert(
        ClusterId("u2".into()),
        json!({"_controller": {"first_seen": "2026-01-24T00:00:00Z"}}),
    );
    let hour = |h: &str, last: &str| crate::model::DemandHour {
        hour: at(h),
        statements: 10.0,
        first: at(h),
        last: at(last),
    };
    s.demand = Some(crate::model::DemandLog {
        from: at("2026-01-05T00:00:00Z"),
        until: at("2026-02-02T00:00:00Z"),
        clusters: [(
            ClusterId("u2".into()),
            vec![
                hour("2026-01-28T09:00:00Z", "2026-01-28T09:40:00Z"),
                hour("2026-01-30T11:00:00Z", "2026-01-30T11:59:00Z"),
            ],
        )]
        .into(),
        profiles: Default::default(),
    });
    let idle_of = |s: &Snapshot| match only(&plan(s, &PlanOptions::default())).signals.idle {
        Idle::For(secs) => secs as i64,
        other => panic!("{other:?}"),
    };
    // Friday 11:59 to Monday 12:00.
    assert_eq!(idle_of(&s), 3 * 86_400 + 60);
    let p = plan(&s, &PlanOptions::default());
    assert_eq!(
        only(&p).signals.last_activity,
        Some(at("2026-01-30T11:59:00Z"))
    );
    // A replica started since: idle from its start.
    s.clusters[0].replicas[0].since = Some(at("2026-02-02T11:50:00Z"));
    assert_eq!(idle_of(&s), 600);
    // No statement in the history either: from the controller's first
    // sight, as before.
    s.demand = None;
    s.clusters[0].replicas[0].since = Some(at("2026-01-20T00:00:00Z"));
    assert_eq!(
        idle_of(&s),
        (at("2026-02-02T12:00:00Z") - at("2026-01-24T00:00:00Z")).num_seconds()
    );
}

/// A managed cluster held suspended by idle_suspend (factor 0) whose last
/// resize rolled back: nothing is planned for it while it sleeps, and the
/// plan said nothing of the resize still held back (`Suspended`,
/// converged: an outside check). While a `target_size` row asks for that
/// size, the alert and the record stay; the suspension is not held.
#[test]
fn a_rolled_back_resize_is_said_while_idle_suspend_keeps_the_cluster_suspended() {
    let mut asleep = managed(0, "50cc", false);
    asleep.activity.last_begin = Some(now() - Duration::hours(3));
    let mut s = snap(
        vec![asleep],
        vec![
            row("u2", "target_size", json!({"target_size": "25cc"})),
            row("u2", "idle_suspend", json!({"idle_after_s": 60})),
        ],
    );
    s.env.version = Some("v26.35.0 (abc)".into());
    s.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "50cc"}],
            "suspended_at": (now() - Duration::hours(2)).to_rfc3339(),
        }}),
    );
    s.last_resizes.insert(
        ClusterId("u2".into()),
        crate::model::LastResize {
            size: Size("25cc".into()),
            at: now() - Duration::hours(2) - Duration::minutes(30),
            failed: None,
        },
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(cp.actions.is_empty(), "{cp:#?}");
    assert!(cp.rolled_back.is_some(), "{cp:#?}");
    assert!(
        cp.alerts.iter().any(|a| a.contains("the resize to 25cc")),
        "{cp:#?}"
    );
    let (condition, _) = crate::commands::status::condition(&s, &s.clusters[0], Some(cp));
    assert_eq!(
        condition,
        crate::commands::status::Condition::ResizeRolledBack
    );
    // Another size asked for now: nothing said of the old one.
    s.strategies[0] = row("u2", "target_size", json!({"target_size": "100cc"}));
    let p = plan(&s, &PlanOptions::default());
    assert!(only(&p).rolled_back.is_none(), "{:#?}", only(&p));
}

/// A cluster with waiting work and an alert (a replica made by hand under
/// the burst's name, hydrating): `status` says the work and the alert
/// (it read `Hydrating` with no word of the alert the plan gave: an
/// outside check).
#[test]
fn status_says_the_alert_beside_waiting_work() {
    let s = snap(
        vec![cluster(
            "u2",
            "c",
            vec![
                replica(1, "c-burst", "25cc", false),
                replica(2, "r1", "50cc", true),
            ],
        )],
        vec![row("u2", "burst", json!({"burst_replica_size": "200cc"}))],
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert!(!cp.alerts.is_empty(), "{cp:#?}");
    assert!(!cp.waiting.is_empty(), "{cp:#?}");
    let (condition, reason) = crate::commands::status::condition(&s, &s.clusters[0], Some(cp));
    assert_eq!(condition, crate::commands::status::Condition::Hydrating);
    assert!(
        reason.contains("; alert: ") && reason.contains("does not record starting it"),
        "{reason}"
    );
}

/// A suspended cluster with users waiting whose other rows no longer
/// validate (a `burst` row's size not offered): `idle_suspend` wakes it
/// alone, with an alert naming the invalid rows (the whole cluster was
/// skipped, and stayed empty under its users: an outside check). Without
/// users waiting, or with replicas running, it stays skipped.
#[test]
fn users_waiting_wake_a_cluster_whose_other_rows_are_invalid() {
    let with = |in_flight: u32, replicas: Vec<Replica>| {
        let mut c = cluster("u2", "c", replicas);
        c.activity = Activity {
            last_begin: Some(now()),
            in_flight,
            last_end: None,
        };
        let mut s = snap(
            vec![c],
            vec![
                row("u2", "burst", json!({"burst_replica_size": "999cc"})),
                row("u2", "idle_suspend", json!({"idle_after_s": 600})),
            ],
        );
        s.states.insert(
            ClusterId("u2".into()),
            json!({
                "burst": {"burst_since": null, "looped": {"size": "25cc", "at": now().to_rfc3339()}},
                "idle_suspend": {
                    "suspended": [{"name": "r1", "size": "25cc"}],
                    "suspended_at": (now() - Duration::hours(1)).to_rfc3339()
                }
            }),
        );
        plan(&s, &PlanOptions::default())
    };
    let p = with(1, vec![]);
    let cp = only(&p);
    assert!(matches!(cp.outcome, Outcome::Planned), "{cp:#?}");
    // The skipped rows' state is kept (dropped as unconfigured, it lost
    // what they had learned).
    let state = cp.new_state.as_deref().cloned().unwrap_or_default();
    assert_eq!(state["burst"]["looped"]["size"], "25cc", "{state}");
    assert!(state["idle_suspend"]["resumed_at"].is_string(), "{state}");
    let made: Vec<&str> = cp.actions.iter().map(|a| a.replica.as_str()).collect();
    assert_eq!(made, ["r1"], "{cp:#?}");
    // Counted with the invalid clusters (exit code 3), as the next run
    // counts it (the wake's apply exited 0: an outside check).
    assert_eq!(p.invalid_count(), 1);
    assert!(
        cp.alerts
            .iter()
            .any(|a| a.starts_with("strategy rows invalid: ") && a.contains("999cc")),
        "{:?}",
        cp.alerts
    );
    for (in_flight, replicas) in [(0, vec![]), (1, vec![replica(1, "r1", "25cc", true)])] {
        let p = with(in_flight, replicas);
        assert!(
            matches!(only(&p).outcome, Outcome::Invalid { .. }),
            "{:#?}",
            only(&p)
        );
    }
}

/// The same beside planned actions: a wake that brings back one of its two
/// replicas (the other's size withdrawn) reads `Resuming`, with the alert
/// (an outside check).
#[test]
fn status_says_the_alert_beside_planned_actions() {
    let mut c = cluster("u2", "c", vec![]);
    c.activity = Activity {
        last_begin: Some(now()),
        in_flight: 1,
        last_end: None,
    };
    let mut s = snap(
        vec![c],
        vec![row("u2", "idle_suspend", json!({"idle_after_s": 600}))],
    );
    s.states.insert(
        ClusterId("u2".into()),
        json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "999cc"}, {"name": "r2", "size": "25cc"}],
            "suspended_at": (now() - Duration::hours(1)).to_rfc3339()
        }}),
    );
    let p = plan(&s, &PlanOptions::default());
    let cp = only(&p);
    assert_eq!(cp.actions.len(), 1, "{cp:#?}");
    let (condition, reason) = crate::commands::status::condition(&s, &s.clusters[0], Some(cp));
    assert_eq!(condition, crate::commands::status::Condition::Resuming);
    assert!(
        reason.contains("; alert: ") && reason.contains("not bringing back replica r1"),
        "{reason}"
    );
}
