//! `target_size`: keep one replica of a given size. A resize is zero-downtime:
//! the new replica is created first, the others are retired only once it is
//! hydrated.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::{Ctx, Desired, StrategyKind};
use crate::model::{Size, SizeCatalog};

const KIND: StrategyKind = StrategyKind::TargetSize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetSizeConfig {
    pub target_size: Size,
    /// Defaults to `r_<target_size>`, as in the reference.
    pub replica_name: String,
    /// Managed clusters on releases without graceful resize: resize with a
    /// restart (downtime) rather than not at all.
    pub allow_downtime: bool,
}

impl TargetSizeConfig {
    pub(crate) fn parse(o: &Obj, sizes: &SizeCatalog) -> Result<Self, ConfigError> {
        let target_size = o.size(keys::TARGET_SIZE.name, sizes)?;
        let replica_name = o
            .opt_name(keys::REPLICA_NAME.name)?
            .unwrap_or_else(|| format!("r_{target_size}"));
        let allow_downtime = o.opt_bool(keys::ALLOW_DOWNTIME.name)?.unwrap_or(false);
        Ok(TargetSizeConfig {
            target_size,
            replica_name,
            allow_downtime,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetSizeState {
    /// When a replica of the target size was requested and not yet hydrated.
    pub pending_since: Option<DateTime<Utc>>,
    pub last_decision_ts: Option<DateTime<Utc>>,
}

pub(super) fn decide(c: &TargetSizeConfig, ctx: &Ctx, d: &mut Desired, st: &mut TargetSizeState) {
    let size = &c.target_size;
    d.drop_unborn_other_sizes(ctx.cluster, size, KIND);
    d.outgoing_other_sizes(size);
    if !d.has_size(size) {
        if d.make_room(ctx, size, KIND) {
            st.pending_since.get_or_insert(ctx.now);
            return;
        }
        let name = free_name(d, &c.replica_name, size);
        // The configured name taken: said (the plan showed another name
        // with nothing to say why: an outside check).
        let taken = match name == c.replica_name {
            true => String::new(),
            false => format!(
                " (named {name}: {} is taken by a replica of another size, retired once \
                 {name} is hydrated)",
                crate::model::clip(&c.replica_name, 64)
            ),
        };
        d.add(
            &name,
            size,
            KIND,
            format!("ensure one replica of target size {size}{taken}"),
        );
        st.pending_since.get_or_insert(ctx.now);
        st.last_decision_ts = Some(ctx.now);
        return;
    }
    // A target that crash-loops, or was killed lately, does not retire a
    // healthy other size.
    let any_other = d.replicas.values().any(|r| &r.size != size);
    let hydrated_target = d
        .replicas
        .iter()
        .find(|(n, r)| &r.size == size && ctx.hydrated(n) && (!any_other || ctx.proven(n)))
        .map(|(n, _)| n.clone());
    let Some(ready) = hydrated_target else {
        let targets: Vec<&String> = d
            .replicas
            .iter()
            .filter(|(_, r)| any_other && &r.size == size)
            .map(|(n, _)| n)
            .collect();
        let serving = targets.iter().copied().filter(|n| ctx.hydrated(n));
        if let Some((n, why, in_seconds)) = ctx.why_unproven(serving, "the other sizes stay") {
            let others = d.other_sizes(size);
            d.hold_retirements(KIND, &others, &format!("{n} ({size}) {why}"), in_seconds);
        } else {
            let note = match ctx.why_unproven(targets, "the other sizes stay") {
                Some((n, why, _)) => format!("{n} ({size}) {why}"),
                None => format!("waiting for the {size} replica to hydrate"),
            };
            d.note(KIND, note);
        }
        st.pending_since.get_or_insert(ctx.now);
        return;
    };
    st.pending_since = None;
    let others = d.other_sizes(size);
    for (name, other) in &others {
        d.remove(
            name,
            KIND,
            format!("{ready} ({size}) is hydrated; retiring {other} replica"),
        );
    }
    if !others.is_empty() {
        st.last_decision_ts = Some(ctx.now);
    }
}

/// The configured name, unless a replica of another size holds it (a resize
/// with a fixed `replica_name`): then `<name>_<size>`.
fn free_name(d: &Desired, wanted: &str, size: &Size) -> String {
    if !d.contains(wanted) {
        return wanted.to_string();
    }
    let alt = format!("{wanted}_{size}");
    if !d.contains(&alt) {
        return alt;
    }
    (2..)
        .map(|i| format!("{alt}_{i}"))
        .find(|n| !d.contains(n))
        .unwrap_or(alt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;

    fn run(cluster: &crate::model::Cluster, cfg: serde_json::Value) -> Desired {
        decide_in(cluster, Idle::Busy, now(), |ctx, d| {
            let c = TargetSizeConfig::parse(&Obj::new(&cfg).unwrap(), ctx.sizes).unwrap();
            decide(&c, ctx, d, &mut TargetSizeState::default())
        })
    }

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            replicas: Vec<crate::model::Replica>,
            cfg: serde_json::Value,
            want: Vec<&'static str>,
            removed: Vec<&'static str>,
        }
        let cases = vec![
            Case {
                name: "empty cluster gets the target replica",
                replicas: vec![],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_50cc"],
                removed: vec![],
            },
            Case {
                name: "resize adds the new size and keeps the old while it hydrates",
                replicas: vec![replica("r_25cc", "25cc", true)],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_25cc", "r_50cc"],
                removed: vec![],
            },
            Case {
                name: "old replica retired once the target is hydrated",
                replicas: vec![
                    replica("r_25cc", "25cc", true),
                    replica("r_50cc", "50cc", true),
                ],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_50cc"],
                removed: vec!["r_25cc"],
            },
            Case {
                name: "not hydrated yet: keep both",
                replicas: vec![
                    replica("r_25cc", "25cc", true),
                    replica("r_50cc", "50cc", false),
                ],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_25cc", "r_50cc"],
                removed: vec![],
            },
            Case {
                name: "a crash-looping target does not retire the healthy old size",
                replicas: vec![
                    replica("r_25cc", "25cc", true),
                    ooming(replica("r_50cc", "50cc", true), 2),
                ],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_25cc", "r_50cc"],
                removed: vec![],
            },
            Case {
                name: "one OOM is not a loop",
                replicas: vec![
                    replica("r_25cc", "25cc", true),
                    killed_ago(replica("r_50cc", "50cc", true), 11),
                ],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_50cc"],
                removed: vec!["r_25cc"],
            },
            Case {
                name: "served exactly the 10 minutes since its kill: it retires the old size",
                replicas: vec![
                    replica("r_25cc", "25cc", true),
                    killed_ago(replica("r_50cc", "50cc", true), 10),
                ],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_50cc"],
                removed: vec!["r_25cc"],
            },
            Case {
                name: "a target killed lately, hydrated again, does not retire the old size yet",
                replicas: vec![
                    replica("r_25cc", "25cc", true),
                    killed_ago(replica("r_50cc", "50cc", true), 9),
                ],
                cfg: serde_json::json!({"target_size": "50cc"}),
                want: vec!["r_25cc", "r_50cc"],
                removed: vec![],
            },
            Case {
                name: "custom name held by another size gets a suffixed name",
                replicas: vec![replica("main", "25cc", true)],
                cfg: serde_json::json!({"target_size": "50cc", "replica_name": "main"}),
                want: vec!["main", "main_50cc"],
                removed: vec![],
            },
            Case {
                name: "the suffixed name held too: numbered",
                replicas: vec![
                    replica("main", "25cc", true),
                    replica("main_50cc", "100cc", true),
                ],
                cfg: serde_json::json!({"target_size": "50cc", "replica_name": "main"}),
                want: vec!["main", "main_50cc", "main_50cc_2"],
                removed: vec![],
            },
            Case {
                name: "converged: nothing to do",
                replicas: vec![replica("main", "50cc", false)],
                cfg: serde_json::json!({"target_size": "50cc", "replica_name": "main"}),
                want: vec!["main"],
                removed: vec![],
            },
        ];
        for case in cases {
            let cl = cluster("c", case.replicas);
            let d = run(&cl, case.cfg);
            assert_eq!(d.names(), case.want, "{}", case.name);
            let removed: Vec<&str> = d.removed.keys().map(String::as_str).collect();
            assert_eq!(removed, case.removed, "{}", case.name);
        }
    }

    /// A configured name taken by a replica of another size: the reason
    /// says which name is used instead, and why.
    #[test]
    fn a_taken_name_is_said_in_the_reason() {
        let cl = cluster("c", vec![replica("main", "25cc", true)]);
        let d = run(
            &cl,
            serde_json::json!({"target_size": "50cc", "replica_name": "main"}),
        );
        let why = d.replicas["main_50cc"]
            .added_by
            .as_ref()
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        assert!(
            why.ends_with("(named main_50cc: main is taken by a replica of another size, retired once main_50cc is hydrated)"),
            "{why}"
        );
        let d = run(
            &cluster("c", vec![]),
            serde_json::json!({"target_size": "50cc", "replica_name": "main"}),
        );
        let why = d.replicas["main"]
            .added_by
            .as_ref()
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        assert_eq!(why, "ensure one replica of target size 50cc");
    }

    /// What the strategy says while its target is not serving, and what
    /// its state records: a crash loop is named only when another size
    /// stays because of it, and only the target's; a round that changes
    /// nothing records no decision.
    #[test]
    fn notes_and_state_say_what_the_target_waits_for() {
        let step = |replicas: Vec<crate::model::Replica>| {
            let cl = cluster("c", replicas);
            let mut st = TargetSizeState::default();
            let d = decide_in(&cl, Idle::Busy, now(), |ctx, d| {
                let cfg = serde_json::json!({"target_size": "50cc"});
                let c = TargetSizeConfig::parse(&Obj::new(&cfg).unwrap(), ctx.sizes).unwrap();
                decide(&c, ctx, d, &mut st)
            });
            (d.notes, st, d.deferred)
        };
        // The target alone, looping: it serves all the same (nothing else
        // could), nothing is pending, nothing decided.
        let (notes, st, _) = step(vec![ooming(replica("r_50cc", "50cc", true), 2)]);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(st, TargetSizeState::default());
        // The old size loops, the target hydrates: it waits for the
        // target, not for the old size's loop.
        let (notes, st, _) = step(vec![
            ooming(replica("r_25cc", "25cc", true), 2),
            replica("r_50cc", "50cc", false),
        ]);
        assert_eq!(
            notes,
            ["target_size: waiting for the 50cc replica to hydrate"]
        );
        assert_eq!(st.pending_since, Some(now()));
        assert_eq!(st.last_decision_ts, None);
        // The target hydrated again after a kill: the old size stays, and
        // its drop waits, due when the target has served 10 minutes since
        // (waiting work: the cluster is not converged).
        let (notes, _, waiting) = step(vec![
            replica("r_25cc", "25cc", true),
            killed_ago(replica("r_50cc", "50cc", true), 3),
        ]);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            crate::strategy::testutil::waiting(&waiting),
            [(
                "drop r_25cc (25cc)",
                "r_50cc (50cc) went offline (killed or crashed) less than 10m ago: \
                 the other sizes stay until it has served that long without",
                Some(420)
            )]
        );
        // A loop the target serves through: due twice its mean gap after
        // its last kill (gaps of 10 minutes: 20 minutes, 3 of them gone).
        let mut looping = ooming(replica("r_50cc", "50cc", true), 3);
        looping.crash.last_crash = Some(now() - chrono::Duration::minutes(3));
        looping.crash.first_crash = Some(now() - chrono::Duration::minutes(23));
        let (_, _, waiting) = step(vec![replica("r_25cc", "25cc", true), looping.clone()]);
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        assert_eq!(waiting[0].in_seconds, Some(1020), "{waiting:?}");
        assert!(waiting[0].reason.contains("crash-loops"), "{waiting:?}");
        // Not hydrated: when it will be proven is not known.
        looping.hydrated = false;
        let (notes, _, waiting) = step(vec![replica("r_25cc", "25cc", true), looping]);
        assert!(waiting.is_empty(), "{waiting:?}");
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    /// A name holding a line break drew a plan line of its own (a fake
    /// `+ create replica r_25cc (25cc)` over a 6400cc one: an outside
    /// check): refused.
    #[test]
    fn a_replica_name_with_a_control_character_is_refused() {
        let sizes = sizes();
        for name in [
            "r\n+ create replica x",
            "r\t1",
            "r\u{1b}[31m",
            "r_\u{202e}cc0046",
        ] {
            let cfg = serde_json::json!({"target_size": "25cc", "replica_name": name});
            let err = TargetSizeConfig::parse(&Obj::new(&cfg).unwrap(), &sizes).unwrap_err();
            assert_eq!(err.key, "replica_name", "{name:?}");
            assert!(
                err.message.contains("control or invisible character"),
                "{}",
                err.message
            );
        }
        let cfg = serde_json::json!({"target_size": "25cc", "replica_name": "r ü \"1\""});
        assert!(TargetSizeConfig::parse(&Obj::new(&cfg).unwrap(), &sizes).is_ok());
    }

    #[test]
    fn a_replica_name_materialize_reserves_is_refused() {
        let sizes = sizes();
        for name in ["mz_main", "pg_main", "external_main", "mz_"] {
            let cfg = serde_json::json!({"target_size": "25cc", "replica_name": name});
            let err = TargetSizeConfig::parse(&Obj::new(&cfg).unwrap(), &sizes).unwrap_err();
            assert_eq!(err.key, "replica_name", "{name}");
            let prefix = &name[..name.find('_').unwrap() + 1];
            assert!(
                err.message
                    .contains(&format!("its name begins with '{prefix}'"))
                    && err
                        .message
                        .contains(&format!("replica name \"{name}\" is reserved"))
                    && err
                        .message
                        .ends_with("does not begin with mz_, pg_ or external_"),
                "{}",
                err.message
            );
        }
        // Materialize compares the name as created, case and all.
        for name in ["MZ_main", "main_mz_", "mz", "pgmain", "r_external_"] {
            let cfg = serde_json::json!({"target_size": "25cc", "replica_name": name});
            let c = TargetSizeConfig::parse(&Obj::new(&cfg).unwrap(), &sizes).unwrap();
            assert_eq!(c.replica_name, name);
        }
    }

    #[test]
    fn bad_configs() {
        let sizes = sizes();
        for (cfg, key) in [
            (serde_json::json!({}), "target_size"),
            (serde_json::json!({"target_size": 5}), "target_size"),
            (serde_json::json!({"target_size": "7cc"}), "target_size"),
            (
                serde_json::json!({"target_size": "25cc", "replica_name": ""}),
                "replica_name",
            ),
        ] {
            let o = Obj::new(&cfg).unwrap();
            let err = TargetSizeConfig::parse(&o, &sizes).unwrap_err();
            assert_eq!(err.key, key, "{cfg}");
        }
    }
}
