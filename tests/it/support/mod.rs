//! Test support: a Materialize emulator on top of a real PostgreSQL.
//!
//! [`Emulator::start`] creates a fresh database holding Materialize's catalog
//! relations (`emulator.sql`) and a wire proxy in front of it (`proxy.rs`)
//! that carries out cluster DDL with Materialize's semantics and error
//! texts. The product binary connects to [`Emulator::url`] as it would to
//! Materialize; tests arrange the catalog with the helpers below, which go
//! straight to PostgreSQL (not through the proxy, so they are not counted).
//!
//! The PostgreSQL server comes from `scripts/pg.sh` (run the suite with
//! `scripts/test.sh`), which exports `CLUSTERCTL_TEST_PG_URL`,
//! `CLUSTERCTL_TEST_CA` and `CLUSTERCTL_TEST_WRONG_CA`.
#![allow(dead_code)]

pub mod ddl;
mod proxy;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use proxy::Stats;

const SCHEMA_SQL: &str = include_str!("emulator.sql");

/// The raw server URL exported by scripts/pg.sh (database `postgres`).
pub fn pg_url() -> String {
    std::env::var("CLUSTERCTL_TEST_PG_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("run tests via scripts/test.sh (CLUSTERCTL_TEST_PG_URL is not set)")
}

/// A fresh superuser connection to database `db` of the server at `url`
/// (for hooks, which run on their own threads).
pub fn admin_client(url: &str, db: &str) -> postgres::Client {
    ServerUrl::parse(url)
        .config(db)
        .connect(postgres::NoTls)
        .expect("admin connection to the test server")
}

/// CA that signed the test server's certificate (CN/SAN localhost, 127.0.0.1).
pub fn ca_path() -> Option<PathBuf> {
    std::env::var_os("CLUSTERCTL_TEST_CA").map(PathBuf::from)
}

/// A CA unrelated to the test server's certificate.
pub fn wrong_ca_path() -> Option<PathBuf> {
    std::env::var_os("CLUSTERCTL_TEST_WRONG_CA").map(PathBuf::from)
}

/// The parts of a `postgres://user:password@host:port/db` URL we need.
#[derive(Debug, Clone)]
struct ServerUrl {
    user: String,
    password: String,
    host: String,
    port: u16,
}

impl ServerUrl {
    fn parse(url: &str) -> ServerUrl {
        fn bad<T>() -> T {
            panic!("CLUSTERCTL_TEST_PG_URL must look like postgres://user:pw@host:port/db")
        }
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .unwrap_or_else(bad);
        let (auth, hostpart) = rest.rsplit_once('@').unwrap_or_else(bad);
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let hostport = hostpart.split(['/', '?']).next().unwrap_or_default();
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
        ServerUrl {
            user: percent_decode(user),
            password: percent_decode(password),
            host: host.trim_matches(['[', ']']).to_string(),
            port: port.parse().unwrap_or_else(|_| bad::<u16>()),
        }
    }

    fn config(&self, db: &str) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(&self.password)
            .dbname(db)
            .application_name("clusterctl-emulator-admin")
            .connect_timeout(Duration::from_secs(10));
        c
    }

    fn url(&self, host: &str, port: u16, db: &str) -> String {
        format!(
            "postgres://{}:{}@{host}:{port}/{db}",
            percent_encode(&self.user),
            percent_encode(&self.password)
        )
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// A random lowercase hex string (no extra dependency needed).
fn random_hex(bytes: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < bytes * 2 {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(bytes * 2);
    out
}

static EMULATORS: AtomicU64 = AtomicU64::new(0);

/// A Materialize emulator: a fresh database with Materialize's catalog, and a
/// wire proxy in front of it. Dropping it stops the proxy and drops the
/// database (best effort).
pub struct Emulator {
    server: ServerUrl,
    db: String,
    admin: Mutex<postgres::Client>,
    proxy: Option<proxy::Proxy>,
    roles: Mutex<Vec<String>>,
}

impl Emulator {
    pub fn start() -> Emulator {
        let server = ServerUrl::parse(&pg_url());
        let n = EMULATORS.fetch_add(1, Ordering::SeqCst);
        let db = format!("emu_{}_{}_{}", std::process::id(), n, random_hex(4));
        let mut maint = server
            .config("postgres")
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL: {}", describe(&e)));
        for stmt in [
            format!("CREATE DATABASE {db}"),
            format!("ALTER DATABASE {db} SET mz_emulator.cluster = 'quickstart'"),
            format!("ALTER DATABASE {db} SET search_path = public, mz_catalog"),
            format!("ALTER DATABASE {db} SET TimeZone = 'UTC'"),
        ] {
            if let Err(e) = maint.batch_execute(&stmt) {
                panic!("cannot create emulator database: {}\n{stmt}", describe(&e));
            }
        }
        drop(maint);
        let mut admin = server
            .config(&db)
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {db}: {}", describe(&e)));
        admin
            .batch_execute(SCHEMA_SQL)
            .unwrap_or_else(|e| panic!("loading emulator.sql failed: {}", describe(&e)));
        let upstream: SocketAddr = (server.host.as_str(), server.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .expect("resolve the test PostgreSQL address");
        Emulator {
            server,
            db,
            admin: Mutex::new(admin),
            proxy: Some(proxy::Proxy::start(upstream)),
            roles: Mutex::new(Vec::new()),
        }
    }

    fn proxy(&self) -> &proxy::Proxy {
        self.proxy.as_ref().expect("proxy is running")
    }

    /// URL of the emulated Materialize, through the proxy (the proxy refuses
    /// TLS, hence `sslmode=disable`; append further parameters with `&`).
    pub fn url(&self) -> String {
        let url = self
            .server
            .url("127.0.0.1", self.proxy().addr.port(), &self.db);
        format!("{url}?sslmode=disable")
    }

    /// URL straight to PostgreSQL (same database, TLS available), no query
    /// string: append `?sslmode=verify-full&sslrootcert=...` for TLS tests.
    pub fn direct_url(&self) -> String {
        self.server
            .url(&self.server.host, self.server.port, &self.db)
    }

    /// Address of the proxy.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy().addr
    }

    /// Name of this emulator's database.
    pub fn database(&self) -> &str {
        &self.db
    }

    pub fn user(&self) -> String {
        self.server.user.clone()
    }

    pub fn password(&self) -> String {
        self.server.password.clone()
    }

    /// The admin connection (superuser, straight to PostgreSQL).
    pub fn admin(&self) -> MutexGuard<'_, postgres::Client> {
        self.admin.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs SQL on the admin connection; panics with the SQL and the error.
    pub fn sql(&self, sql: &str) {
        if let Err(e) = self.admin().batch_execute(sql) {
            panic!("emulator SQL failed: {}\n--- SQL ---\n{sql}", describe(&e));
        }
    }

    /// Rows of a query on the admin connection, every value as text (NULL = None).
    pub fn query_strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let msgs = self.admin().simple_query(sql).unwrap_or_else(|e| {
            panic!(
                "emulator query failed: {}\n--- SQL ---\n{sql}",
                describe(&e)
            )
        });
        msgs.into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// The single value of a one-row, one-column query.
    pub fn query_one(&self, sql: &str) -> Option<String> {
        let rows = self.query_strings(sql);
        assert_eq!(rows.len(), 1, "expected one row from {sql}, got {rows:?}");
        rows[0][0].clone()
    }

    fn text(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> String {
        match self.admin().query_one(sql, params) {
            Ok(row) => row.get::<_, String>(0),
            Err(e) => panic!("emulator SQL failed: {}\n--- SQL ---\n{sql}", describe(&e)),
        }
    }

    fn exec(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) {
        if let Err(e) = self.admin().execute(sql, params) {
            panic!("emulator SQL failed: {}\n--- SQL ---\n{sql}", describe(&e));
        }
    }

    /// Id of the cluster named `name`; panics when there is none.
    pub fn cluster_id(&self, name: &str) -> String {
        let rows = self
            .admin()
            .query(
                "SELECT id FROM mz_catalog.mz_clusters WHERE name = $1",
                &[&name],
            )
            .expect("look up cluster");
        match rows.first() {
            Some(r) => r.get(0),
            None => panic!("emulator: no cluster named {name:?}"),
        }
    }

    /// Id of replica `replica` of cluster `cluster`; panics when there is none.
    pub fn replica_id(&self, cluster: &str, replica: &str) -> String {
        let rows = self
            .admin()
            .query(
                "SELECT r.id FROM mz_catalog.mz_cluster_replicas r
                 JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
                 WHERE c.name = $1 AND r.name = $2",
                &[&cluster, &replica],
            )
            .expect("look up replica");
        match rows.first() {
            Some(r) => r.get(0),
            None => panic!("emulator: cluster {cluster:?} has no replica {replica:?}"),
        }
    }

    /// An unmanaged cluster without replicas; returns its id.
    pub fn create_cluster(&self, name: &str) -> String {
        self.text(
            "SELECT mz_emulator.insert_cluster($1, false, NULL, NULL)",
            &[&name],
        )
    }

    /// A managed cluster with replicas r1..r{rf} of `size`; returns its id.
    pub fn create_managed_cluster(&self, name: &str, size: &str, rf: i64) -> String {
        self.text(
            "SELECT mz_emulator.insert_cluster($1, true, $2, $3)",
            &[&name, &size, &rf],
        )
    }

    /// A replica inserted directly (no DDL checks, not counted); returns its id.
    /// It starts online and not hydrated.
    pub fn add_replica(&self, cluster: &str, replica: &str, size: &str) -> String {
        let cid = self.cluster_id(cluster);
        self.text(
            "SELECT mz_emulator.insert_replica($1, $2, $3)",
            &[&cid, &replica, &size],
        )
    }

    /// (name, size) of the cluster's replicas, sorted by name.
    pub fn replicas(&self, cluster: &str) -> Vec<(String, String)> {
        let rows = self
            .admin()
            .query(
                "SELECT r.name, coalesce(r.size, '') FROM mz_catalog.mz_cluster_replicas r
                 JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
                 WHERE c.name = $1 ORDER BY r.name",
                &[&cluster],
            )
            .expect("list replicas");
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    fn add_item(&self, kind: &str, cluster: &str, source_type: Option<&str>) -> String {
        let cid = self.cluster_id(cluster);
        self.text(
            "SELECT mz_emulator.insert_item($1, $2, $3)",
            &[&kind, &cid, &source_type],
        )
    }

    /// A user index maintained on the cluster (not hydrated on any replica yet).
    pub fn add_index(&self, cluster: &str) -> String {
        self.add_item("index", cluster, None)
    }

    /// A materialized view maintained on the cluster (not hydrated yet).
    pub fn add_materialized_view(&self, cluster: &str) -> String {
        self.add_item("materialized-view", cluster, None)
    }

    /// A source of `source_type` ("postgres", "kafka", "webhook", ...) on the cluster.
    pub fn add_source(&self, cluster: &str, source_type: &str) -> String {
        self.add_item("source", cluster, Some(source_type))
    }

    /// A cluster with one user index and one replica hydrated on it, the
    /// usual starting point of a scenario; returns the cluster id.
    pub fn create_hydrated_cluster(&self, cluster: &str, replica: &str, size: &str) -> String {
        let id = self.create_cluster(cluster);
        self.add_index(cluster);
        self.add_replica(cluster, replica, size);
        self.set_hydrated(cluster, replica, true);
        id
    }

    /// Marks every object of the cluster (not) hydrated on that replica.
    pub fn set_hydrated(&self, cluster: &str, replica: &str, hydrated: bool) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "SELECT mz_emulator.set_hydrated($1, $2)",
            &[&rid, &hydrated],
        );
    }

    /// A statement on the cluster that began `began_secs_ago` seconds before
    /// the database's now(); `finished = false` leaves it in flight.
    pub fn add_activity(&self, cluster: &str, began_secs_ago: i64, finished: bool) {
        let cid = self.cluster_id(cluster);
        self.exec(
            "INSERT INTO mz_internal.mz_statement_execution_history
             SELECT gen_random_uuid(), gen_random_uuid(), 1.0, $1, 'emulator', $2,
                    'materialize', ARRAY['public'], 'strict serializable', NULL, 1, NULL,
                    ARRAY[]::text[], 'v0.0.0-emulator', b.began,
                    CASE WHEN $4 THEN least(b.began + INTERVAL '10 milliseconds', now()) END,
                    CASE WHEN $4 THEN 'success' END, NULL,
                    CASE WHEN $4 THEN 8 END, CASE WHEN $4 THEN 1 END,
                    CASE WHEN $4 THEN 'standard' END
             FROM (SELECT now() - make_interval(secs => $3::bigint) AS began) b",
            &[&cid, &cluster, &began_secs_ago, &finished],
        );
    }

    /// An offline event of the replica's process 0, `secs_ago` seconds ago
    /// (reason 'oom-killed' when `oom`, else NULL).
    pub fn add_crash(&self, cluster: &str, replica: &str, oom: bool, secs_ago: i64) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "INSERT INTO mz_internal.mz_cluster_replica_status_history
             VALUES ($1, 0, 'offline', CASE WHEN $2 THEN 'oom-killed' END,
                     now() - make_interval(secs => $3::bigint))",
            &[&rid, &oom, &secs_ago],
        );
    }

    /// Sets the cluster's schedule: 'manual' or 'on-refresh'.
    pub fn set_schedule(&self, cluster: &str, schedule_type: &str) {
        let cid = self.cluster_id(cluster);
        self.exec(
            "DELETE FROM mz_internal.mz_cluster_schedules WHERE cluster_id = $1",
            &[&cid],
        );
        self.exec(
            "INSERT INTO mz_internal.mz_cluster_schedules
             VALUES ($1, $2, CASE WHEN $2 = 'on-refresh' THEN INTERVAL '1 hour' END)",
            &[&cid, &schedule_type],
        );
    }

    /// `n` unmanaged clusters `{prefix}1..{prefix}n`, each with replica r1
    /// (25cc, online, hydrated) and one index, in one statement.
    pub fn seed_clusters(&self, n: usize, prefix: &str) {
        let n = i64::try_from(n).expect("cluster count");
        self.exec(
            "WITH c AS (
                INSERT INTO mz_catalog.mz_clusters
                SELECT 'u' || nextval('mz_emulator.cluster_ids'), $1 || g, 'u1', ARRAY['u1=UC/u1'],
                       false, NULL, NULL, NULL, NULL, false, INTERVAL '1 second'
                FROM generate_series(1, $2::bigint) g
                RETURNING id),
             r AS (
                INSERT INTO mz_catalog.mz_cluster_replicas
                SELECT 'u' || nextval('mz_emulator.replica_ids'), 'r1', c.id, '25cc', NULL, 'u1', false
                FROM c
                RETURNING id, cluster_id),
             i AS (
                INSERT INTO mz_catalog.mz_indexes
                SELECT 'u' || x.n, nextval('mz_emulator.oids'), 'idx_' || x.n, 'u0', x.id, 'u1',
                       'CREATE INDEX idx_' || x.n || ' ON t (a)', 'CREATE INDEX idx_' || x.n || ' ON t (a)'
                FROM (SELECT id, nextval('mz_emulator.item_ids') AS n FROM c) x
                RETURNING id, cluster_id),
             h AS (
                INSERT INTO mz_internal.mz_hydration_statuses
                SELECT i.id, r.id, true FROM i JOIN r USING (cluster_id)),
             ch AS (
                INSERT INTO mz_internal.mz_compute_hydration_statuses
                SELECT i.id, r.id, true, INTERVAL '2 seconds' FROM i JOIN r USING (cluster_id))
             INSERT INTO mz_internal.mz_cluster_replica_status_history
             SELECT r.id, 0, 'online', NULL, now() - INTERVAL '1 hour' FROM r",
            &[&prefix, &n],
        );
    }

    /// A LOGIN role that can only read the catalog and `schema` (created if
    /// missing, including tables created later by the superuser); URL through
    /// the proxy.
    pub fn readonly_url(&self, schema: &str) -> String {
        let role = format!("{}_ro{}", self.db, self.roles.lock().unwrap().len());
        let password = random_hex(16);
        let schema_ident = format!("\"{}\"", schema.replace('"', "\"\""));
        self.sql(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}';
             GRANT CONNECT ON DATABASE {db} TO {role};
             CREATE SCHEMA IF NOT EXISTS {schema_ident};
             GRANT USAGE ON SCHEMA mz_catalog, mz_internal, {schema_ident} TO {role};
             GRANT SELECT ON ALL TABLES IN SCHEMA mz_catalog, mz_internal, {schema_ident} TO {role};
             ALTER DEFAULT PRIVILEGES IN SCHEMA {schema_ident} GRANT SELECT ON TABLES TO {role};",
            db = self.db
        ));
        self.roles.lock().unwrap().push(role.clone());
        format!(
            "postgres://{role}:{password}@127.0.0.1:{}/{}?sslmode=disable",
            self.proxy().addr.port(),
            self.db
        )
    }

    /// Statement counters of the proxy since the last reset.
    pub fn stats(&self) -> Stats {
        self.proxy().shared.stats()
    }

    /// Zeroes the counters and clears the SQL log.
    pub fn reset_stats(&self) {
        self.proxy().shared.reset_stats();
    }

    /// Every Q/P query text the proxy saw (before rewriting), oldest first.
    pub fn sql_log(&self) -> Vec<String> {
        self.proxy().shared.sql_log()
    }

    pub fn clear_sql_log(&self) {
        self.proxy().shared.clear_sql_log();
    }

    /// The `nth` DDL statement from now (1 = the next) fails with this error
    /// instead of running.
    pub fn fail_ddl(&self, nth: u32, sqlstate: &str, message: &str) {
        self.proxy().shared.fail_ddl(nth, sqlstate, message);
    }

    /// The connection sending the `nth` DDL from now is closed instead.
    pub fn drop_connection_before_ddl(&self, nth: u32) {
        self.proxy().shared.drop_connection_before_ddl(nth);
    }

    /// The `nth` DDL from now runs, then its connection is closed before the
    /// client sees the outcome.
    pub fn drop_connection_after_ddl(&self, nth: u32) {
        self.proxy().shared.drop_connection_after_ddl(nth);
    }

    /// Runs `hook` (given the original statement) just before the `nth` DDL
    /// from now is forwarded.
    /// Runs `hook` before the `nth` statement (from now) containing `pattern`
    /// is forwarded (any statement, not only DDL).
    pub fn on_statement(&self, pattern: &str, nth: u32, hook: impl FnOnce(&str) + Send + 'static) {
        self.proxy()
            .shared
            .on_statement(pattern, nth, Box::new(hook));
    }

    pub fn on_ddl(&self, nth: u32, hook: impl FnOnce(&str) + Send + 'static) {
        self.proxy().shared.on_ddl(nth, Box::new(hook));
    }

    /// Latency added to every round trip through the proxy (each simple
    /// query and each Sync).
    pub fn set_delay(&self, d: Duration) {
        self.proxy().shared.set_delay(d);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Closes every proxied connection.
        self.proxy.take();
        let Ok(mut maint) = self.server.config("postgres").connect(postgres::NoTls) else {
            return;
        };
        let _ = maint.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db));
        for role in self.roles.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = maint.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
        }
    }
}

/// An error with its server message, detail and hint.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("\nDETAIL: {d}"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("\nHINT: {h}"));
            }
            s
        }
        None => e.to_string(),
    }
}
