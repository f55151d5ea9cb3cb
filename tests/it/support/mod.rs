//! Test support: a Materialize emulator on top of a real PostgreSQL.
//!
//! [`Emulator::start`] creates a fresh database holding Materialize's catalog
//! relations (`emulator.sql`, `emulator_ddl.sql`, `emulator_resize.sql`) and a
//! wire proxy in front of it (`proxy.rs`) that carries out cluster DDL with
//! Materialize's semantics and error texts. The product binary connects to
//! [`Emulator::url`] as it would to Materialize; tests arrange the catalog
//! with the helpers below, which go straight to PostgreSQL (not through the
//! proxy, so they are not counted).
//!
//! What the emulator models is chosen per test ([`options`]): by default
//! Materialize as it behaves in production (reference §8); a test that
//! needs a different world says so, knob by knob, with a comment why:
//!
//! ```ignore
//! let emu = Emulator::start();                     // strict: the newest release, §8 on
//! let emu = Emulator::builder()
//!     .materialize_release(Release::Blocking) // §8.1: how ALTER CLUSTER … SIZE behaves
//!     .statement_log_flush_delay(Duration::ZERO) // §1.11: rows visible at once
//!     .start();
//! let emu = Emulator::builder().lenient().start(); // everything forgiven
//! ```
//!
//! Parts, and the reference sections they follow:
//! - [`options`]: the knobs and presets;
//! - `emulator.sql`: relations (§1), settings and `mz_version()` (§8.9), roles
//!   and privileges (§8.4), the statement log (§1.11, §8.6), replica status
//!   (§8.7), the session-cluster check (§8.2), `mz_objects` and optional
//!   relations (§8.8);
//! - `emulator_ddl.sql`: cluster DDL (§2) with ownership (§8.4) and
//!   `max_replicas_per_cluster`, `max_credit_consumption_rate` and
//!   `allowed_cluster_replica_sizes` (§8.5); `emulator_resize.sql`: managed resizes
//!   per release (§2.4, §8.1);
//! - [`ddl`]: Materialize statements -> calls of those procedures; `route.rs`:
//!   which statements run on the session cluster; `refusals.rs`: what
//!   Materialize refuses that PostgreSQL runs (its transaction rules and
//!   PostgreSQL-only SQL, §4), for every statement through the proxy;
//! - `proxy.rs`: the wire proxy, statement counting and fault injection
//!   (issue 13), [`HangingListener`];
//! - [`clock`]: clock skew for the product process (libfaketime).
//!
//! Controls on [`Emulator`], by concern:
//! - catalog: `create_cluster`, `create_managed_cluster`, `add_replica`,
//!   `add_index`/`add_materialized_view`/`add_source`, `set_hydrated`,
//!   `set_schedule`, `seed_clusters`, `cluster_size`, `replicas`;
//! - resize (§8.1): `tick_reconfigurations`, `expire_reconfiguration`,
//!   `reconfiguration_status`. The controller advances by itself, as
//!   Materialize's does: every statement through the proxy that reads the
//!   relations a resize changes, and the helpers here that read them
//!   (`replicas`, `replica_id`, `cluster_size`, `reconfiguration_status`,
//!   `query_strings`), see its progress up to now; so do `set_hydrated`
//!   and `set_replica_online`. Only a write in direct SQL followed by no
//!   read needs an explicit tick;
//! - settings (§8.1, §8.5, §8.6, §8.9): `set_setting`, `setting`,
//!   `set_session_cluster_rule`;
//! - roles (§8.4): `create_role` -> [`Role`] (`name`, `id`, `url()`),
//!   `grant_role`, `grant_create_cluster`, `set_cluster_owner`,
//!   `set_replica_owner`, `readonly_url`;
//! - statement log (§8.6): `add_activity` (sampled), `activity_sampled_out`,
//!   `flush_statement_log`; what the proxy forwards is logged too, and
//!   written before any use of `admin` (so every helper's read sees it);
//! - replica status (§8.7, §6): `set_replica_online`, `replica_offline`,
//!   `add_crash` (history only), `oom_kill`, `set_workload`,
//!   `set_growing_workload` (a replica too small hydrates, serves, and is
//!   killed later: a loop that serves between its kills).
//!   A replica made by DDL starts offline/`initializing` and goes online by
//!   itself after the start-up delay ([`Options::replica_startup_delay`]);
//!   one OOM-killed goes online again after `replica_restart_delay_ms` and
//!   re-hydrates, or, under a workload too big for its size, is killed
//!   again (a crash loop). Like the resize controller, every read of the
//!   statuses or hydration sees these steps up to now, and a statement on a
//!   cluster with no replica online waits (proxy.rs). A replica a test
//!   arranges (`add_replica`, `create_managed_cluster`) does not start by
//!   itself: it waits for the test;
//! - newer automation (§8.8): `set_auto_scaling_strategy`;
//! - counting: `stats`, `reset_stats`, `sql_log`;
//! - faults: on DDL by sequence (`fail_ddl`, `drop_connection_before_ddl`,
//!   `drop_connection_after_ddl`, `on_ddl`), on any statement by pattern
//!   (`stall_statement`, `cut_before_statement`, `cut_after_statement`,
//!   `cut_after_response`, `fail_statement`, `delay_statements`, `fault`,
//!   `clear_faults`, `on_statement`), per round trip (`set_delay`), at
//!   connection start-up (`stall_startups`, `close_startups`,
//!   [`HangingListener`]);
//! - clock skew: [`with_clock_offset`], [`product_command_with_clock_offset`].
//!
//! The PostgreSQL server comes from `scripts/pg.sh` (run the suite with
//! `scripts/test.sh`), which exports `CLUSTERCTL_TEST_PG_URL`,
//! `CLUSTERCTL_TEST_CA` and `CLUSTERCTL_TEST_WRONG_CA`.
#![allow(dead_code)]

pub mod clock;
pub mod ddl;
pub mod options;
mod proxy;
mod refusals;
mod route;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};

pub use clock::{libfaketime, product_command_with_clock_offset, with_clock_offset};
pub use options::{EmulatorBuilder, Options, Release};
pub use proxy::{Action, HangingListener, Pattern, Stats};

/// Loaded in this order into every emulator database.
const SCHEMA_SQL: [&str; 3] = [
    include_str!("emulator.sql"),
    include_str!("emulator_ddl.sql"),
    include_str!("emulator_resize.sql"),
];

/// PostgreSQL roles standing for Materialize's predefined monitor roles
/// (roles are per server, so they are shared by every emulator).
const MONITOR_ROLES: [&str; 2] = ["mz_monitor", "mz_monitor_redacted"];

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

    /// The side connection of the proxy (async, same credentials).
    fn async_config(&self, db: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(&self.password)
            .dbname(db)
            .application_name("clusterctl-emulator-proxy")
            .connect_timeout(Duration::from_secs(10));
        c
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
    opts: Options,
    admin: Mutex<postgres::Client>,
    proxy: Option<proxy::Proxy>,
    roles: Mutex<Vec<String>>,
    /// §8.6: decides which statements the test helpers log.
    sampler: Mutex<rand_chacha::ChaCha8Rng>,
    sampled_out: AtomicU64,
}

/// A login role made by [`Emulator::create_role`].
#[derive(Debug, Clone)]
pub struct Role {
    /// The PostgreSQL role, which is also its `mz_roles.name` and what
    /// `current_role` returns in its sessions.
    pub name: String,
    /// Its `mz_roles.id` (owners are recorded by id).
    pub id: String,
    url: String,
}

impl Role {
    /// URL through the proxy, logged in as this role.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Emulator {
    /// An emulator with the options of [`Emulator::builder`] (strict unless
    /// `CLUSTERCTL_EMULATOR_STRICT=0`).
    pub fn start() -> Emulator {
        Emulator::builder().start()
    }

    /// Options to start an emulator with; see [`options`].
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            opts: Options::from_env(),
        }
    }

    /// What this emulator was started with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn with_options(opts: Options) -> Emulator {
        let server = ServerUrl::parse(&pg_url());
        let n = EMULATORS.fetch_add(1, Ordering::SeqCst);
        let db = format!("emu_{}_{}_{}", std::process::id(), n, random_hex(4));
        let mut maint = server
            .config("postgres")
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL: {}", describe(&e)));
        for role in MONITOR_ROLES {
            // Concurrent emulators may race to create it: either wins.
            let _ = maint.batch_execute(&format!(
                "DO $$BEGIN
                   IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                     CREATE ROLE {role} NOLOGIN;
                   END IF;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END$$"
            ));
        }
        for stmt in [
            format!("CREATE DATABASE {db}"),
            format!("ALTER DATABASE {db} SET mz_emulator.cluster = 'quickstart'"),
            format!("ALTER DATABASE {db} SET search_path = public, mz_catalog"),
            format!("ALTER DATABASE {db} SET TimeZone = 'UTC'"),
            // PostgreSQL compiles a statement it costs high (correlated
            // subqueries over a large audit trail) before running it: a
            // second of JIT per snapshot at 100 000 trail rows, which no
            // Materialize statement pays. Not the latency being emulated.
            format!("ALTER DATABASE {db} SET jit = off"),
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
        for sql in SCHEMA_SQL {
            admin
                .batch_execute(sql)
                .unwrap_or_else(|e| panic!("loading the emulator's SQL failed: {}", describe(&e)));
        }
        for (name, value, visible) in opts.setting_rows() {
            admin
                .execute(
                    "SELECT mz_emulator.set_setting($1, $2, $3)",
                    &[&name, &value, &visible],
                )
                .unwrap_or_else(|e| panic!("emulator setting {name}: {}", describe(&e)));
        }
        admin
            .execute(
                "SELECT mz_emulator.configure_optional_relations($1, $2)",
                &[
                    &opts.auto_scaling_relation,
                    &(opts.release == Release::Background),
                ],
            )
            .unwrap_or_else(|e| panic!("emulator relations: {}", describe(&e)));
        let upstream: SocketAddr = (server.host.as_str(), server.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .expect("resolve the test PostgreSQL address");
        let proxy = proxy::Proxy::start(upstream, server.async_config(&db));
        proxy
            .shared
            .set_session_cluster_rule(opts.session_cluster_rule);
        Emulator {
            server,
            db,
            sampler: Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(opts.sample_seed)),
            sampled_out: AtomicU64::new(0),
            opts,
            admin: Mutex::new(admin),
            proxy: Some(proxy),
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

    /// Runs `sql` as Materialize takes it (through the proxy, which
    /// emulates its DDL: `ALTER CLUSTER … SWAP WITH`), as an operator's
    /// psql would.
    pub fn through_the_proxy(&self, sql: &str) {
        let mut mz = postgres::Client::connect(&self.url(), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect: {e}"));
        mz.batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
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

    /// The admin connection (superuser, straight to PostgreSQL). What the
    /// proxy logged since it last wrote its statement log is written first,
    /// so every read of the log through here sees it.
    pub fn admin(&self) -> MutexGuard<'_, postgres::Client> {
        let mut admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let Some(shared) = self.proxy.as_ref().map(|p| &p.shared) else {
            return admin;
        };
        let _writer = shared.statement_log.writer.blocking_lock();
        if let Some(events) = shared.take_statement_log() {
            // Best effort: a test may hold the connection in a failed
            // transaction on purpose.
            let _ = admin.execute(
                "SELECT mz_emulator.log_statements($1::text::jsonb)",
                &[&events],
            );
        }
        admin
    }

    /// Installs a virtual clock in the database, before anything connects:
    /// `now()` (ahead of pg_catalog on every session's search path) is the
    /// server's clock plus an offset that [`Emulator::advance_clock`]
    /// moves, so the product's snapshot, the catalog queries' windows and
    /// the test helpers all see time pass.
    pub fn install_clock(&self) {
        let path = "public, mz_catalog, pg_catalog";
        self.sql(&format!(
            "CREATE TABLE mz_emulator.clock (offset_s bigint NOT NULL);
             INSERT INTO mz_emulator.clock VALUES (0);
             CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql STABLE AS
               $$ SELECT pg_catalog.now() + make_interval(secs => (SELECT offset_s FROM mz_emulator.clock)) $$;
             ALTER DATABASE {db} SET search_path = {path};
             SET search_path = {path};",
            db = self.database()
        ));
    }

    /// Moves the virtual clock ([`Emulator::install_clock`]) `secs` ahead.
    pub fn advance_clock(&self, secs: u64) {
        self.sql(&clock_step(secs));
    }

    /// Moves the virtual clock ([`Emulator::install_clock`]) `secs` ahead
    /// just before the `nth` statement matching `pattern` reaches the
    /// server: a step of the server's clock while it is on its way.
    pub fn advance_clock_before(&self, pattern: &str, nth: u32, secs: u64) {
        let (url, db) = (pg_url(), self.database().to_string());
        self.on_statement(pattern, nth, move |_| {
            admin_client(&url, &db)
                .batch_execute(&clock_step(secs))
                .expect("the step of the server's clock");
        });
    }

    /// Hands the lease (made by a first `apply`) to `holder`, another
    /// controller's, for `secs` more seconds by the server's clock.
    pub fn hold_lease(&self, holder: &str, secs: i64) {
        self.sql(&format!(
            "UPDATE clusterctl_lease SET holder = {}, expires_at = now() + INTERVAL '{secs} seconds' \
             WHERE name = 'controller'",
            ddl::lit(holder)
        ));
    }

    /// Runs SQL on the admin connection; panics with the SQL and the error.
    pub fn sql(&self, sql: &str) {
        if let Err(e) = self.admin().batch_execute(sql) {
            panic!("emulator SQL failed: {}\n--- SQL ---\n{sql}", describe(&e));
        }
    }

    /// Rows of a query on the admin connection, every value as text (NULL = None).
    pub fn query_strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.settle_before_read(sql);
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

    /// Lets the reconfiguration controller catch up before a read of what a
    /// resize changes, as the proxy does for the product (Materialize's
    /// controller never waits for a reader).
    fn settle_before_read(&self, sql: &str) {
        if route::reads_reconfiguration_state(sql) {
            self.sql("SELECT mz_emulator.tick_reconfigurations_for_reader()");
        }
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
        self.settle_before_read("mz_cluster_replicas");
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

    /// A managed cluster with replicas r1..r{rf} of `size`, arranged as
    /// [`Emulator::add_replica`] arranges one; returns its id.
    pub fn create_managed_cluster(&self, name: &str, size: &str, rf: i64) -> String {
        self.text(
            "SELECT mz_emulator.insert_cluster($1, true, $2, $3, 'u1', false)",
            &[&name, &size, &rf],
        )
    }

    /// A replica inserted directly (no DDL checks, not counted); returns its id.
    /// Not hydrated; offline/`initializing` (§8.7) until `set_hydrated` or
    /// `set_replica_online` (online at once when the emulator is lenient).
    /// Unlike a replica made by DDL it never comes online by itself, so what
    /// a test arranged does not change under a run.
    pub fn add_replica(&self, cluster: &str, replica: &str, size: &str) -> String {
        let cid = self.cluster_id(cluster);
        self.text(
            "SELECT mz_emulator.insert_replica($1, $2, $3, NULL, false)",
            &[&cid, &replica, &size],
        )
    }

    /// (name, size) of the cluster's replicas, sorted by name.
    pub fn replicas(&self, cluster: &str) -> Vec<(String, String)> {
        self.settle_before_read("mz_cluster_replicas");
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

    /// The README's catalog (`examples/readme_transcript.rs`, and
    /// `examples/emulator.rs` to try clusterctl by hand): `analytics`
    /// hydrated on 25cc and queried 40 s ago, `batch` on 100cc, `etl` on
    /// 50cc with an OOM kill and a crash, `ops` (no index) on 25cc.
    pub fn create_readme_catalog(&self) {
        self.create_hydrated_cluster("analytics", "r1", "25cc");
        self.create_cluster("batch");
        self.add_index("batch");
        self.add_replica("batch", "r1", "100cc");
        self.create_cluster("etl");
        self.add_replica("etl", "r1", "50cc");
        self.add_crash("etl", "r1", true, 600);
        self.add_crash("etl", "r1", false, 300);
        self.create_cluster("ops");
        self.add_replica("ops", "r1", "25cc");
        // Up: it is the README's --exec-cluster, where our tables live (§8.7).
        self.set_replica_online("ops", "r1");
        self.add_activity("analytics", 40, true);
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

    /// Marks every object of the cluster (not) hydrated on that replica. A
    /// hydrated replica also goes online if it was not (§8.7), and a
    /// reconfiguration waiting for it may cut over.
    pub fn set_hydrated(&self, cluster: &str, replica: &str, hydrated: bool) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "SELECT mz_emulator.set_hydrated($1, $2)",
            &[&rid, &hydrated],
        );
    }

    /// Marks every replica the cluster has at this moment hydrated, by id in
    /// one statement: a replica dropped meanwhile (by a killed client's
    /// statement that the server still runs, as Materialize would) is
    /// skipped, where a lookup by name would find it gone.
    pub fn hydrate_every_replica(&self, cluster: &str) {
        self.settle_before_read("mz_cluster_replicas");
        if let Err(e) = self.admin().execute(
            "SELECT mz_emulator.set_hydrated(r.id, true)
             FROM mz_catalog.mz_cluster_replicas r
             JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
             WHERE c.name = $1",
            &[&cluster],
        ) {
            panic!("emulator: hydrating {cluster:?} failed: {}", describe(&e));
        }
    }

    /// One object of the cluster hydrated (or not) on one replica, as
    /// Materialize reports each object's hydration on its own.
    pub fn set_object_hydrated(
        &self,
        cluster: &str,
        replica: &str,
        object_id: &str,
        hydrated: bool,
    ) {
        let rid = self.replica_id(cluster, replica);
        for table in [
            "mz_emulator.hydration_statuses",
            "mz_internal.mz_compute_hydration_statuses",
        ] {
            self.exec(
                &format!(
                    "UPDATE {table} SET hydrated = $3 WHERE replica_id = $1 AND object_id = $2"
                ),
                &[&rid, &object_id, &hydrated],
            );
        }
    }

    /// A statement on the cluster that began `began_secs_ago` seconds before
    /// the database's now(); `finished = false` leaves it in flight.
    ///
    /// Like Materialize's statement log (§8.6, §1.11) it goes through a
    /// sampler: the row is kept with probability min(default, max sample
    /// rate) — deterministic for a given seed — and records that rate in
    /// `sample_rate`; it becomes visible `statement_log_flush_delay` after it
    /// began. [`Emulator::activity_sampled_out`] counts the dropped ones.
    pub fn add_activity(&self, cluster: &str, began_secs_ago: i64, finished: bool) {
        let cid = self.cluster_id(cluster);
        let (rate, delay) = {
            let row = self
                .admin()
                .query_one(
                    "SELECT mz_emulator.effective_sample_rate(),
                            mz_emulator.setting('statement_log_flush_delay_s')::float8",
                    &[],
                )
                .expect("statement log settings");
            (row.get::<_, f64>(0), row.get::<_, f64>(1))
        };
        let keep = rate >= 1.0 || self.sampler.lock().unwrap().random::<f64>() < rate;
        if !keep {
            self.sampled_out.fetch_add(1, Ordering::SeqCst);
            return;
        }
        self.exec(
            "INSERT INTO mz_emulator.statement_log
             SELECT gen_random_uuid(), gen_random_uuid(), $5::float8, $1, 'emulator', $2,
                    'materialize', ARRAY['public'], 'strict serializable', NULL, 1, NULL,
                    ARRAY[]::text[], mz_catalog.mz_version(), b.began,
                    CASE WHEN $4 THEN least(b.began + INTERVAL '10 milliseconds', now()) END,
                    CASE WHEN $4 THEN 'success' END, NULL,
                    CASE WHEN $4 THEN 8 END, CASE WHEN $4 THEN 1 END,
                    CASE WHEN $4 THEN 'standard' END,
                    CASE WHEN $6::float8 > 0 THEN b.began + make_interval(secs => $6::float8) END
             FROM (SELECT now() - make_interval(secs => $3::bigint) AS began) b",
            &[&cid, &cluster, &began_secs_ago, &finished, &rate, &delay],
        );
    }

    /// Weeks of statement history in one statement: on each of the last
    /// `days` complete days (UTC), for every cluster whose name is LIKE
    /// `clusters`, `per_hour` finished statements per hour from
    /// `start_s` after midnight (more than a day: the next day's) for
    /// `duration_s`, the day's start moved by
    /// up to ±`jitter_s` (the same for a given day and cluster). Sampled as
    /// Materialize samples the log (the effective rate, recorded in
    /// `sample_rate`; deterministic: by a hash of the cluster and time).
    /// Returns the rows kept.
    pub fn add_activity_bulk(
        &self,
        clusters: &str,
        days: i64,
        start_s: i64,
        duration_s: i64,
        per_hour: i64,
    ) -> u64 {
        self.add_activity_history(&ActivityHistory {
            clusters: clusters.to_string(),
            days,
            start_s,
            duration_s,
            per_hour,
            ..ActivityHistory::default()
        })
    }

    /// [`Emulator::add_activity_bulk`] with every knob: jitter, weekdays only.
    pub fn add_activity_history(&self, h: &ActivityHistory) -> u64 {
        let step = (3600 / h.per_hour.max(1)).max(1);
        let rows = self.admin().execute(
            "INSERT INTO mz_emulator.statement_log
             SELECT gen_random_uuid(), gen_random_uuid(), r.rate, c.id,
                    coalesce($8, 'emulator'), c.name,
                    'materialize', ARRAY['public'], 'strict serializable', NULL, 1, NULL,
                    ARRAY[]::text[], mz_catalog.mz_version(), b.began,
                    b.began + INTERVAL '10 milliseconds', 'success', NULL, 8, 1, 'standard', NULL
             FROM mz_catalog.mz_clusters c
             CROSS JOIN (SELECT mz_emulator.effective_sample_rate() AS rate) r
             CROSS JOIN generate_series(1, $2::int) d
             CROSS JOIN LATERAL (
                 SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                        - make_interval(days => d) AS midnight,
                        (abs(hashtext(c.id || ':' || d)) % (2 * $6::int + 1)) - $6::int AS shift
             ) m
             CROSS JOIN LATERAL generate_series(0, greatest($4::int - 1, 0), $5::int) o
             CROSS JOIN LATERAL (
                 SELECT m.midnight + make_interval(secs => $3::int + m.shift + o) AS began
             ) b
             WHERE c.name LIKE $1
               AND (NOT $7 OR extract(isodow FROM m.midnight AT TIME ZONE 'UTC') < 6)
               AND (abs(hashtext(c.id || b.began::text)) % 1000000) / 1000000.0 < r.rate",
            &[
                &h.clusters,
                &(h.days as i32),
                &(h.start_s as i32),
                &(h.duration_s as i32),
                &(step as i32),
                &(h.jitter_s as i32),
                &h.weekdays_only,
                &h.application_name,
            ],
        );
        rows.expect("bulk statement history")
    }

    /// How many [`Emulator::add_activity`] rows the sampler dropped.
    pub fn activity_sampled_out(&self) -> u64 {
        self.sampled_out.load(Ordering::SeqCst)
    }

    /// Every logged statement becomes visible now (a flush of the log).
    pub fn flush_statement_log(&self) {
        self.sql("UPDATE mz_emulator.statement_log SET visible_at = NULL");
    }

    /// The replica's creation `secs_ago` seconds ago, as its status history
    /// records it (§8.7): its earlier events are replaced by an
    /// offline/`initializing` event then, and `online` `took_s` later.
    pub fn set_replica_started(&self, cluster: &str, replica: &str, secs_ago: i64, took_s: i64) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "DELETE FROM mz_internal.mz_cluster_replica_status_history WHERE replica_id = $1",
            &[&rid],
        );
        self.exec(
            "INSERT INTO mz_internal.mz_cluster_replica_status_history VALUES
             ($1, 0, 'offline', 'initializing', now() - make_interval(secs => $2::bigint)),
             ($1, 0, 'online', NULL, now() - make_interval(secs => $2::bigint - $3::bigint))",
            &[&rid, &secs_ago, &took_s],
        );
    }

    /// The replica's latest resource sample (§1.13): `memory_bytes` in use
    /// on process 0 now.
    pub fn set_replica_memory(&self, cluster: &str, replica: &str, memory_bytes: i64) {
        self.add_memory_sample(cluster, replica, memory_bytes, 0);
    }

    /// A resource sample of the replica's process 0 `secs_ago` seconds ago
    /// (§1.13's history): `memory_bytes` in use then. The latest sample is
    /// the replica's use now.
    pub fn add_memory_sample(
        &self,
        cluster: &str,
        replica: &str,
        memory_bytes: i64,
        secs_ago: i64,
    ) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "INSERT INTO mz_internal.mz_cluster_replica_metrics_history
             VALUES ($1, 0, 100000000, $2::bigint, 0, NULL, NULL,
                     clock_timestamp() - make_interval(secs => $3::bigint))",
            &[&rid, &memory_bytes, &secs_ago],
        );
    }

    /// An offline event of the replica's process 0, `secs_ago` seconds ago
    /// (reason 'oom-killed' when `oom`, else NULL): history only, a crash the
    /// replica has come back from (its current status stays as it is). For
    /// an OOM kill now, with its restart and re-hydration, see
    /// [`Emulator::oom_kill`]; for a crash loop, [`Emulator::set_workload`].
    pub fn add_crash(&self, cluster: &str, replica: &str, oom: bool, secs_ago: i64) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "INSERT INTO mz_internal.mz_cluster_replica_status_history
             VALUES ($1, 0, 'offline', CASE WHEN $2 THEN 'oom-killed' END,
                     now() - make_interval(secs => $3::bigint))",
            &[&rid, &oom, &secs_ago],
        );
    }

    /// The orchestrator OOM-kills the replica now (§6): every process
    /// offline with reason `oom-killed` (§1.9, §1.10), nothing hydrated on
    /// it; restarted after `replica_restart_delay_ms` (1 s), it comes online
    /// and hydrates again in the time it took before (2 s by default), or,
    /// under a workload that does not fit it, is killed again.
    pub fn oom_kill(&self, cluster: &str, replica: &str) {
        let rid = self.replica_id(cluster, replica);
        self.exec("SELECT mz_emulator.oom_kill($1, now())", &[&rid]);
    }

    /// The cluster's workload needs the memory of size `fits`: a replica of
    /// a smaller size crash-loops (OOM-killed `oom_after` after each start,
    /// before it hydrates, restarted after `replica_restart_delay_ms`), one
    /// of that size or larger hydrates `hydration` after it starts. Holds
    /// for the cluster's replicas now (one too small is killed now) and for
    /// those made later, by DDL too.
    pub fn set_workload(
        &self,
        cluster: &str,
        fits: &str,
        hydration: Duration,
        oom_after: Duration,
    ) {
        self.set_workload_since(cluster, fits, hydration, oom_after, 0);
    }

    /// [`Emulator::set_workload`] on a cluster whose replicas too small for
    /// it have been crash looping for `secs_ago` seconds: the next read
    /// sees every kill and restart since.
    pub fn set_workload_since(
        &self,
        cluster: &str,
        fits: &str,
        hydration: Duration,
        oom_after: Duration,
        secs_ago: i64,
    ) {
        self.workload(cluster, fits, hydration, oom_after, secs_ago, false);
    }

    /// [`Emulator::set_workload`] whose state grows after hydration: a
    /// replica too small for it hydrates (after `hydration`) and serves,
    /// then is OOM-killed `oom_after` later and restarted, for ever; one
    /// hydrated now is killed `oom_after` from now. A loop that serves
    /// between its kills, which a snapshot may see hydrated.
    pub fn set_growing_workload(
        &self,
        cluster: &str,
        fits: &str,
        hydration: Duration,
        oom_after: Duration,
    ) {
        self.workload(cluster, fits, hydration, oom_after, 0, true);
    }

    /// `mz_emulator.set_workload`, the one call of the workload helpers.
    fn workload(
        &self,
        cluster: &str,
        fits: &str,
        hydration: Duration,
        oom_after: Duration,
        secs_ago: i64,
        grows: bool,
    ) {
        let cid = self.cluster_id(cluster);
        self.exec(
            "SELECT mz_emulator.set_workload($1, $2, make_interval(secs => $3::float8),
                 make_interval(secs => $4::float8), now() - make_interval(secs => $5::bigint),
                 $6)",
            &[
                &cid,
                &fits,
                &hydration.as_secs_f64(),
                &oom_after.as_secs_f64(),
                &secs_ago,
                &grows,
            ],
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
                INSERT INTO mz_emulator.hydration_statuses
                SELECT i.id, r.id, true FROM i JOIN r USING (cluster_id)),
             ch AS (
                INSERT INTO mz_internal.mz_compute_hydration_statuses
                SELECT i.id, r.id, true, INTERVAL '2 seconds' FROM i JOIN r USING (cluster_id))
             INSERT INTO mz_internal.mz_cluster_replica_status_history
             SELECT r.id, 0, 'online', NULL, now() - INTERVAL '1 hour' FROM r",
            &[&prefix, &n],
        );
    }

    /// An offline event of every process of the replica, now: reason NULL
    /// (a restart or maintenance) or e.g. `Some("oom-killed")` (§8.7).
    pub fn replica_offline(&self, cluster: &str, replica: &str, reason: Option<&str>) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "SELECT mz_emulator.add_status_event($1, 'offline', $2)",
            &[&rid, &reason],
        );
    }

    /// An online event of every process of the replica, now; then the
    /// reconfiguration machinery gets a chance to cut over.
    pub fn set_replica_online(&self, cluster: &str, replica: &str) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "SELECT mz_emulator.add_status_event($1, 'online', NULL)",
            &[&rid],
        );
        self.tick_reconfigurations();
    }

    // -- settings and releases (§8.1, §8.5, §8.6, §8.9) ----------------------

    /// Changes a setting (`SHOW name` shows it when Materialize has it), e.g.
    /// `enable_zero_downtime_cluster_reconfiguration`,
    /// `enable_background_alter_cluster`, `max_replicas_per_cluster`,
    /// `statement_logging_default_sample_rate`, `statement_logging_max_sample_rate`,
    /// `default_cluster_reconfiguration_timeout`, or the emulator's own
    /// `replica_startup_delay_ms`, `monitor_role_required`, `statement_log_flush_delay_s`,
    /// `mz_version`.
    pub fn set_setting(&self, name: &str, value: &str) {
        self.exec("SELECT mz_emulator.set_setting($1, $2)", &[&name, &value]);
    }

    pub fn setting(&self, name: &str) -> Option<String> {
        self.admin()
            .query_opt(
                "SELECT value FROM mz_emulator.settings WHERE name = $1",
                &[&name],
            )
            .expect("read setting")
            .map(|r| r.get(0))
    }

    /// Turns the session-cluster rule (§8.2) on or off for new statements.
    pub fn set_session_cluster_rule(&self, on: bool) {
        self.proxy().shared.set_session_cluster_rule(on);
    }

    /// `mz_clusters.size` of the cluster (NULL for unmanaged clusters).
    pub fn cluster_size(&self, cluster: &str) -> Option<String> {
        self.settle_before_read("mz_clusters");
        self.admin()
            .query_one(
                "SELECT size FROM mz_catalog.mz_clusters WHERE name = $1",
                &[&cluster],
            )
            .expect("cluster size")
            .get(0)
    }

    /// One pass of the controller loop: every reconfiguration in flight cuts
    /// over when its replicas are ready, or acts at its deadline.
    pub fn tick_reconfigurations(&self) {
        self.sql("SELECT mz_emulator.tick_reconfigurations()");
    }

    /// The cluster's reconfiguration reaches its deadline now (ON TIMEOUT
    /// decides), then a tick; a blocked session sees it on its next check.
    pub fn expire_reconfiguration(&self, cluster: &str) {
        let cid = self.cluster_id(cluster);
        self.exec("SELECT mz_emulator.expire_reconfiguration($1)", &[&cid]);
        self.tick_reconfigurations();
    }

    /// The status of the cluster's latest reconfiguration: "pending", "done",
    /// "timed-out", "cancelled"; None when there never was one.
    pub fn reconfiguration_status(&self, cluster: &str) -> Option<String> {
        self.settle_before_read("mz_cluster_reconfigurations");
        let cid = self.cluster_id(cluster);
        self.admin()
            .query_opt(
                "SELECT status FROM mz_emulator.reconfigurations WHERE cluster_id = $1
                 ORDER BY id DESC LIMIT 1",
                &[&cid],
            )
            .expect("reconfiguration status")
            .map(|r| r.get(0))
    }

    // -- roles and owners (§8.4) ---------------------------------------------

    /// A login role (not a superuser) that may read the catalog, use the
    /// emulator's DDL (which then checks its ownership like Materialize), and
    /// create and use tables in `public` and new schemas. `name` must be a
    /// plain lowercase word; the PostgreSQL role gets a per-emulator prefix.
    pub fn create_role(&self, name: &str) -> Role {
        let role = format!("{}_{name}", self.db);
        let password = random_hex(16);
        self.sql(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}';
             GRANT CONNECT, CREATE ON DATABASE {db} TO {role};
             GRANT USAGE ON SCHEMA mz_catalog, mz_internal, mz_emulator TO {role};
             GRANT SELECT ON ALL TABLES IN SCHEMA mz_catalog, mz_internal TO {role};
             GRANT USAGE, CREATE ON SCHEMA public TO {role};",
            db = self.db
        ));
        self.roles.lock().unwrap().push(role.clone());
        let id = self.text("SELECT mz_emulator.role_id($1)", &[&role]);
        let url = format!(
            "postgres://{role}:{password}@127.0.0.1:{}/{}?sslmode=disable",
            self.proxy().addr.port(),
            self.db
        );
        Role {
            name: role,
            id,
            url,
        }
    }

    /// Makes `role` a member of `of`, a PostgreSQL role: e.g. "mz_monitor",
    /// "mz_monitor_redacted", or another [`Role::name`].
    /// The membership is PostgreSQL's, which `mz_role_members` shows once
    /// both roles are registered in `mz_roles`.
    pub fn grant_role(&self, role: &Role, of: &str) {
        self.sql(&format!("GRANT {of} TO {}", role.name));
        self.exec(
            "SELECT mz_emulator.role_id($1), mz_emulator.role_id($2)",
            &[&of, &role.name],
        );
    }

    /// The CREATECLUSTER system privilege (CREATE CLUSTER).
    pub fn grant_create_cluster(&self, role: &Role) {
        self.exec(
            "INSERT INTO mz_emulator.system_privileges VALUES ($1, 'CREATECLUSTER')",
            &[&role.id],
        );
    }

    /// Sets the cluster's owner (an mz_roles name: a [`Role::name`], or
    /// e.g. "mz_system").
    pub fn set_cluster_owner(&self, cluster: &str, owner: &str) {
        let cid = self.cluster_id(cluster);
        self.exec(
            "UPDATE mz_catalog.mz_clusters SET owner_id = mz_emulator.role_id($2) WHERE id = $1",
            &[&cid, &owner],
        );
    }

    /// Sets the replica's owner (replicas have their own, §8.4).
    pub fn set_replica_owner(&self, cluster: &str, replica: &str, owner: &str) {
        let rid = self.replica_id(cluster, replica);
        self.exec(
            "UPDATE mz_catalog.mz_cluster_replicas SET owner_id = mz_emulator.role_id($2) WHERE id = $1",
            &[&rid, &owner],
        );
    }

    // -- newer automation (§8.8) ---------------------------------------------

    /// A row of `mz_internal.mz_cluster_auto_scaling_strategies` (the
    /// relation must exist: [`EmulatorBuilder::auto_scaling_relation`]).
    pub fn set_auto_scaling_strategy(&self, cluster: &str, hydration_size: &str) {
        let cid = self.cluster_id(cluster);
        self.exec(
            "INSERT INTO mz_internal.mz_cluster_auto_scaling_strategies
             VALUES ($1, jsonb_build_object('on_hydration',
                         jsonb_build_object('hydration_size', $2::text, 'linger_duration', NULL)),
                     jsonb_build_object('burst', NULL))",
            &[&cid, &hydration_size],
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

    /// The statements the server saw that contain `needle`.
    pub fn logged(&self, needle: &str) -> Vec<String> {
        let mut log = self.sql_log();
        log.retain(|q| q.contains(needle));
        log
    }

    /// How many statements held by `Action::Late` have reached the server
    /// (they run just after).
    pub fn lates_arrived(&self) -> u64 {
        self.proxy().shared.lates_arrived()
    }

    /// The statements the server saw that write (anything but a read).
    pub fn writes(&self) -> Vec<String> {
        const WRITE: [&str; 9] = [
            "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRUNCATE", "GRANT", "COPY",
        ];
        let mut log = self.sql_log();
        log.retain(|q| {
            let up = q.trim_start().to_uppercase();
            WRITE.iter().any(|w| up.starts_with(w))
                || up.contains("INSERT INTO")
                || up.contains("DELETE FROM")
        });
        log
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

    /// Runs `hook` before the `nth` statement (from now) containing `pattern`
    /// is forwarded (any statement, not only DDL).
    pub fn on_statement(&self, pattern: &str, nth: u32, hook: impl FnOnce(&str) + Send + 'static) {
        self.proxy()
            .shared
            .on_statement(pattern, nth, Box::new(hook));
    }

    /// Runs `hook` (given the original statement) just before the `nth` DDL
    /// from now is forwarded.
    pub fn on_ddl(&self, nth: u32, hook: impl FnOnce(&str) + Send + 'static) {
        self.proxy().shared.on_ddl(nth, Box::new(hook));
    }

    /// Latency added to every round trip through the proxy (each simple
    /// query and each Sync).
    pub fn set_delay(&self, d: Duration) {
        self.proxy().shared.set_delay(d);
    }

    // -- faults on any statement (issue 13) ----------------------------------
    //
    // `pattern` is a substring of the statement text (`&str`) or a regular
    // expression (`Pattern::regex`); `nth` counts matching statements from
    // now (1 = the next), on every connection, when they are executed (a 'Q'
    // message, or the Execute of a parsed statement).

    /// Arms `action` for the `nth` matching statement only.
    pub fn fault(&self, pattern: impl Into<Pattern>, nth: u32, action: Action) {
        self.proxy()
            .shared
            .add_rule(pattern.into(), nth, Some(1), action);
    }

    /// The `nth` matching statement is never answered: not forwarded, the
    /// socket stays open (a hung server).
    pub fn stall_statement(&self, pattern: impl Into<Pattern>, nth: u32) {
        self.fault(pattern, nth, Action::Stall);
    }

    /// The connection is closed instead of forwarding the `nth` match.
    pub fn cut_before_statement(&self, pattern: impl Into<Pattern>, nth: u32) {
        self.fault(pattern, nth, Action::CutBefore);
    }

    /// The connection is closed instead of forwarding every match from now
    /// on (a server gone for good).
    pub fn cut_every_statement(&self, pattern: impl Into<Pattern>) {
        self.proxy()
            .shared
            .add_rule(pattern.into(), 1, None, Action::CutBefore);
    }

    /// The `nth` match runs (and commits); its connection is closed before
    /// the client sees the response.
    pub fn cut_after_statement(&self, pattern: impl Into<Pattern>, nth: u32) {
        self.fault(pattern, nth, Action::CutAfterExecution);
    }

    /// The `nth` match runs and the client gets its response; then the
    /// connection is closed.
    pub fn cut_after_response(&self, pattern: impl Into<Pattern>, nth: u32) {
        self.fault(pattern, nth, Action::CutAfterResponse);
    }

    /// Once the next statement matching `trigger` is on its way, the next
    /// `times` statements matching `pattern` have their connections closed
    /// instead of being forwarded (a network lost just after a statement).
    pub fn cut_after(&self, trigger: &str, pattern: impl Into<Pattern>, times: u32) {
        let shared = self.proxy().shared.clone();
        let pattern = pattern.into();
        self.on_statement(trigger, 1, move |_| {
            shared.add_rule(pattern, 1, Some(times), Action::CutBefore)
        });
    }

    /// The `nth` match fails with this error instead of running.
    pub fn fail_statement(
        &self,
        pattern: impl Into<Pattern>,
        nth: u32,
        sqlstate: &str,
        message: &str,
    ) {
        self.fault(
            pattern,
            nth,
            Action::Fail {
                sqlstate: sqlstate.to_string(),
                message: message.to_string(),
            },
        );
    }

    /// Every matching statement from now fails with this error instead of
    /// running (a cause that does not pass: a credit limit), until
    /// [`Emulator::clear_faults`].
    pub fn fail_every_statement(&self, pattern: impl Into<Pattern>, sqlstate: &str, message: &str) {
        self.proxy().shared.add_rule(
            pattern.into(),
            1,
            None,
            Action::Fail {
                sqlstate: sqlstate.to_string(),
                message: message.to_string(),
            },
        );
    }

    /// Every matching statement from now waits `delay` before it is
    /// forwarded (others go at full speed), until [`Emulator::clear_faults`].
    pub fn delay_statements(&self, pattern: impl Into<Pattern>, delay: Duration) {
        self.proxy()
            .shared
            .add_rule(pattern.into(), 1, None, Action::Delay(delay));
    }

    /// Disarms every statement fault armed with the methods above.
    pub fn clear_faults(&self) {
        self.proxy().shared.clear_rules();
    }

    /// Drops the hooks of [`Emulator::on_statement`] (and so of
    /// [`Emulator::advance_clock_before`]) that have not run yet.
    pub fn clear_statement_hooks(&self) {
        self.proxy().shared.clear_statement_hooks();
    }

    /// The next `n` connections to the proxy hang in their start-up: accepted,
    /// never answered (see also [`HangingListener`]).
    pub fn stall_startups(&self, n: u32) {
        self.proxy().shared.stall_startups(n);
    }

    /// The next `n` connections to the proxy are closed (EOF) before their
    /// start-up is answered.
    pub fn close_startups(&self, n: u32) {
        self.proxy().shared.close_startups(n);
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
/// A statement history for [`Emulator::add_activity_history`].
#[derive(Debug, Clone, Default)]
pub struct ActivityHistory {
    /// Clusters whose name is LIKE this.
    pub clusters: String,
    /// The last this many complete days.
    pub days: i64,
    /// Seconds after midnight (UTC) the day's statements start.
    pub start_s: i64,
    pub duration_s: i64,
    pub per_hour: i64,
    /// Each day's start moves by up to ± this.
    pub jitter_s: i64,
    pub weekdays_only: bool,
    /// The sessions' application_name (None: `emulator`).
    pub application_name: Option<String>,
}

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

/// The SQL that moves the virtual clock ([`Emulator::install_clock`])
/// `secs` ahead.
fn clock_step(secs: u64) -> String {
    format!("UPDATE mz_emulator.clock SET offset_s = offset_s + {secs}")
}
