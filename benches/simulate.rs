use clusterctl::model::*;
use clusterctl::plan::*;
use std::time::Instant;
fn main() {
    let sizes = SizeCatalog::cloud_defaults();
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut clusters = vec![];
    let mut strategies = vec![];
    for i in 0..100 {
        let id = ClusterId(format!("u{i}"));
        clusters.push(Cluster {
            id: id.clone(),
            name: format!("c{i}"),
            managed: false,
            size: None,
            replication_factor: None,
            schedule: Schedule::Manual,
            has_singleton_source: false,
            replicas: vec![Replica {
                id: format!("u{}", 1000 + i),
                name: "r_100cc".into(),
                size: Some(Size::from("100cc")),
                hydrated: true,
                crash: CrashInfo::default(),
            }],
            activity: Activity {
                last_begin: Some(now - chrono::Duration::seconds(30)),
                in_flight: 0,
            },
        });
        strategies.push(StrategyRow {
            cluster_id: id.clone(),
            strategy_type: "target_size".into(),
            config: serde_json::json!({"target_size": "100cc"}),
            updated_at: None,
        });
        strategies.push(StrategyRow {
            cluster_id: id.clone(),
            strategy_type: "idle_suspend".into(),
            config: serde_json::json!({"idle_after_s": 600}),
            updated_at: None,
        });
    }
    let mut snap = Snapshot {
        now,
        sizes,
        clusters,
        strategies,
        states: Default::default(),
        activity_log_has_rows: true,
        session_cluster: None,
    };
    let opts = PlanOptions::default();
    let p = plan(&snap, &opts);
    for c in &p.clusters {
        if let Some(s) = &c.new_state {
            snap.states.insert(c.cluster_id.clone(), s.clone());
        }
    }
    let t = Instant::now();
    let n = 1000;
    for _ in 0..n {
        let p = plan(&snap, &opts);
        std::hint::black_box(p);
    }
    println!("per plan of 100 clusters: {:?}", t.elapsed() / n);
}
