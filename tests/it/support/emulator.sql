-- Materialize catalog emulation on PostgreSQL (loaded into a fresh database per Emulator).
--
-- Relation names, columns, column order and types follow
-- shared/reference/materialize-catalog.md §1 with the §0 type mapping:
-- uint4 -> bigint, uint8/mz_timestamp -> numeric(20,0), text list -> text[],
-- mz_aclitem[] -> text[]. Everything is a plain table (Materialize has them as
-- tables, MVs or sources depending on the release) except the views that
-- Materialize defines over other relations.
--
-- Files, loaded in this order by mod.rs:
--   emulator.sql         relations (§1), settings and versions (§8.9), roles and
--                        privileges (§8.4), statement log (§1.11, §8.6), replica
--                        status (§8.7), the session-cluster rule (§8.2), helpers
--   emulator_ddl.sql     cluster DDL (§2) with ownership checks (§8.4) and
--                        max_replicas_per_cluster (§8.5)
--   emulator_resize.sql  managed-cluster resizes in each release (§2.4, §8.1)
--
-- Cluster DDL is carried out by the procedures in schema mz_emulator, which
-- the wire proxy (proxy.rs) calls in place of Materialize's DDL statements.
-- Behaviour that differs between releases, or that Materialize has and the
-- lenient default leaves out, is read from mz_emulator.settings.

CREATE SCHEMA mz_catalog;
CREATE SCHEMA mz_internal;
CREATE SCHEMA mz_emulator;

-- Ids: clusters, replicas and catalog items are separate namespaces (u<N>).
CREATE SEQUENCE mz_emulator.cluster_ids START 2;
CREATE SEQUENCE mz_emulator.replica_ids START 2;
CREATE SEQUENCE mz_emulator.item_ids START 1;
CREATE SEQUENCE mz_emulator.role_ids START 2;
CREATE SEQUENCE mz_emulator.oids START 20000;

-- ---------------------------------------------------------------------------
-- Settings (§8.1, §8.5, §8.6, §8.9)
-- ---------------------------------------------------------------------------

-- Every knob of the emulator. `visible` rows are Materialize settings that
-- `SHOW name` returns; the others exist only for the emulator (or only in
-- another release, where they are visible) and `SHOW` refuses them like
-- Materialize refuses a setting it does not have. mod.rs writes the options
-- of each Emulator here; tests change them with Emulator::set_setting.
CREATE TABLE mz_emulator.settings (
    name text PRIMARY KEY,
    value text NOT NULL,
    visible boolean NOT NULL
);

INSERT INTO mz_emulator.settings VALUES
    -- 'instant' | 'gated' | 'blocking' | 'background' (see emulator_resize.sql)
    ('release', 'instant', false),
    ('mz_version', 'v26.34.0 (e0e0e0e0e)', false),
    -- Feature flags and dyncfgs: Materialize shows them to its own users
    -- only (mz_system, mz_support: VarDefinition::visible, feature_flags!
    -- and dyncfgs registered with user_visible false,
    -- src/sql/src/session/vars/definitions.rs); `SHOW` refuses them to
    -- everyone else as unrecognized.
    ('enable_zero_downtime_cluster_reconfiguration', 'on', false),
    ('enable_background_alter_cluster', 'off', false),
    ('default_cluster_reconfiguration_timeout', '1d', false),
    ('max_replicas_per_cluster', '1000', true),
    -- ENABLE_RBAC_CHECKS: user_visible, on by default (definitions.rs;
    -- self-managed installs may turn it off).
    ('enable_rbac_checks', 'on', true),
    -- §8.5, src/sql/src/session/vars/definitions.rs (MaterializeInc/materialize
    -- 290c21e39d7dcd51cdf8e125d1d9bed548553bb0): MAX_CREDIT_CONSUMPTION_RATE, a
    -- Numeric, 1024 by default; ALLOWED_CLUSTER_REPLICA_SIZES, a Vec<Ident>,
    -- empty by default (every size allowed). Kept here as `SHOW` prints it:
    -- `"25cc", "50cc"`; a plain `25cc,50cc` is accepted too.
    ('max_credit_consumption_rate', '1024', true),
    ('allowed_cluster_replica_sizes', '', true),
    ('statement_logging_default_sample_rate', '1', true),
    ('statement_logging_max_sample_rate', '1', true),
    ('statement_logging_sample_rate', '1', true),
    -- emulator-only
    ('statement_log_flush_delay_s', '0', false),
    -- 'off': a new replica is online at once; a number: it starts
    -- offline/initializing and goes online that many ms later (§8.7)
    ('replica_startup_delay_ms', 'off', false),
    -- how long the orchestrator takes to restart an OOM-killed replica
    -- (Kubernetes restarts the pod at once, then backs off; §6)
    ('replica_restart_delay_ms', '1000', false),
    ('monitor_role_required', 'off', false);

CREATE FUNCTION mz_emulator.setting(p_name text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT value FROM mz_emulator.settings WHERE name = p_name $$;

CREATE FUNCTION mz_emulator.setting_on(p_name text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(lower(value) IN ('on', 'true', '1', 'yes'), false)
    FROM mz_emulator.settings WHERE name = p_name
$$;

-- SHOW name, as the proxy rewrites it. Unknown settings fail like Materialize
-- (AdapterError::UnrecognizedConfigurationParam, src/adapter/src/error.rs).
CREATE FUNCTION mz_emulator.show_setting(p_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text;
BEGIN
    SELECT value INTO v FROM mz_emulator.settings WHERE name = p_name AND visible;
    IF v IS NULL THEN
        RAISE EXCEPTION USING MESSAGE = format('unrecognized configuration parameter "%s"', p_name),
                              ERRCODE = '42704';
    END IF;
    IF p_name = 'allowed_cluster_replica_sizes' THEN
        -- A list of identifiers, each quoted (Materialize's SynchronizedParameters
        -- test test_github_18189: "1,2" shows as `"1", "2"`; its testdrive files
        -- expect `"25cc", "50cc"` from SHOW).
        RETURN coalesce((SELECT string_agg('"' || replace(a, '"', '""') || '"', ', ' ORDER BY n)
                         FROM unnest(mz_emulator.allowed_sizes()) WITH ORDINALITY AS t(a, n)), '');
    END IF;
    RETURN v;
END $$;

-- The sizes of allowed_cluster_replica_sizes; empty: every size.
CREATE FUNCTION mz_emulator.allowed_sizes() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(btrim(btrim(x), '"') ORDER BY n)
                    FILTER (WHERE btrim(btrim(x), '"') <> ''), ARRAY[]::text[])
    FROM regexp_split_to_table(coalesce(mz_emulator.setting('allowed_cluster_replica_sizes'), ''), ',')
         WITH ORDINALITY AS t(x, n)
$$;

-- §8.9: `SELECT mz_version()` -> 'v26.35.0 (abcdef123)'; mz_version_num() is
-- XXYYYZZ (major, minor, patch; docs of mz_version_num).
CREATE FUNCTION mz_catalog.mz_version() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT mz_emulator.setting('mz_version') $$;

-- Materialize's functions docs: `mz_environment_id() -> text`, "a string
-- containing a uuid uniquely identifying the Materialize environment". Each
-- emulator is its own environment (its database); a test may name another
-- with Emulator::set_setting('environment_id', …).
CREATE FUNCTION mz_catalog.mz_environment_id() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(mz_emulator.setting('environment_id'),
                    'mzemulator-' || md5(current_database())::uuid::text || '-0')
$$;

CREATE FUNCTION mz_catalog.mz_version_num() RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT (m[1]::int * 100000 + m[2]::int * 100 + m[3]::int)
    FROM regexp_match(mz_emulator.setting('mz_version'), '^v(\d+)\.(\d+)\.(\d+)') m
$$;

-- ---------------------------------------------------------------------------
-- Relations (§1)
-- ---------------------------------------------------------------------------

-- §1.1
CREATE TABLE mz_catalog.mz_clusters (
    id text NOT NULL,
    name text NOT NULL,
    owner_id text NOT NULL,
    privileges text[] NOT NULL,
    managed boolean NOT NULL,
    size text,
    replication_factor bigint,
    disk boolean,
    availability_zones text[],
    introspection_debugging boolean,
    introspection_interval interval
);

-- §1.2
CREATE TABLE mz_catalog.mz_cluster_replicas (
    id text NOT NULL,
    name text NOT NULL,
    cluster_id text NOT NULL,
    size text,
    availability_zone text,
    owner_id text NOT NULL,
    disk boolean
);

-- §1.3
CREATE TABLE mz_catalog.mz_cluster_replica_sizes (
    size text NOT NULL,
    processes numeric(20,0) NOT NULL,
    workers numeric(20,0) NOT NULL,
    cpu_nano_cores numeric(20,0) NOT NULL,
    memory_bytes numeric(20,0) NOT NULL,
    disk_bytes numeric(20,0),
    credits_per_hour numeric NOT NULL
);

-- §1.4
CREATE TABLE mz_catalog.mz_indexes (
    id text NOT NULL,
    oid oid NOT NULL,
    name text NOT NULL,
    on_id text NOT NULL,
    cluster_id text NOT NULL,
    owner_id text NOT NULL,
    create_sql text NOT NULL,
    redacted_create_sql text NOT NULL
);

-- §1.5
CREATE TABLE mz_catalog.mz_materialized_views (
    id text NOT NULL,
    oid oid NOT NULL,
    schema_id text NOT NULL,
    name text NOT NULL,
    cluster_id text NOT NULL,
    definition text NOT NULL,
    owner_id text NOT NULL,
    privileges text[] NOT NULL,
    create_sql text NOT NULL,
    redacted_create_sql text NOT NULL
);

-- §1.6
CREATE TABLE mz_catalog.mz_sources (
    id text NOT NULL,
    oid oid NOT NULL,
    schema_id text NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    connection_id text,
    size text,
    envelope_type text,
    key_format text,
    value_format text,
    cluster_id text,
    owner_id text NOT NULL,
    privileges text[] NOT NULL,
    create_sql text,
    redacted_create_sql text
);

-- §8.4: roles (mz_catalog.rs MZ_ROLES on main: id, oid, name, inherit,
-- rolcanlogin, rolsuper) and memberships (MZ_ROLE_MEMBERS). A role's name is
-- the PostgreSQL role the session logs in as, so `current_role` finds it.
CREATE TABLE mz_catalog.mz_roles (
    id text NOT NULL,
    oid oid NOT NULL,
    name text NOT NULL,
    inherit boolean NOT NULL,
    rolcanlogin boolean,
    rolsuper boolean
);

-- Memberships are PostgreSQL's own (pg_auth_members), so a `GRANT role TO
-- role` sent as SQL (the GRANTs `clusterctl init --print` hands an admin)
-- shows here, as Materialize's GRANT shows in MZ_ROLE_MEMBERS. Roles are
-- matched by name: mz_roles carries its own oids for the builtin roles, and
-- only this emulator's roles (mz_emulator.role_id registered them) appear.
CREATE VIEW mz_catalog.mz_role_members AS
SELECT r.id AS role_id, m.id AS member, coalesce(g.id, 'u1') AS grantor
FROM pg_auth_members am
JOIN pg_roles pr ON pr.oid = am.roleid
JOIN pg_roles pm ON pm.oid = am.member
JOIN mz_catalog.mz_roles r ON r.name = pr.rolname
JOIN mz_catalog.mz_roles m ON m.name = pm.rolname
LEFT JOIN pg_roles pg ON pg.oid = am.grantor
LEFT JOIN mz_catalog.mz_roles g ON g.name = pg.rolname;

-- Schemas, so mz_objects.schema_id resolves.
CREATE TABLE mz_catalog.mz_schemas (
    id text NOT NULL,
    oid oid NOT NULL,
    database_id text,
    name text NOT NULL,
    owner_id text NOT NULL,
    privileges text[] NOT NULL
);

-- §1.1 (schedules)
CREATE TABLE mz_internal.mz_cluster_schedules (
    cluster_id text NOT NULL,
    type text NOT NULL,
    refresh_hydration_time_estimate interval
);

-- §1.2 (pending replicas of a graceful resize)
CREATE TABLE mz_internal.mz_pending_cluster_replicas (
    id text NOT NULL
);

-- §1.7: the per-replica rows live in mz_emulator.hydration_statuses (the
-- emulator writes them; tests may set them directly, or through the view
-- below, whose triggers pass writes on). The view adds what Materialize's
-- LEFT JOIN of indexes and materialized views to their compute hydration
-- adds: one row `replica_id NULL, hydrated false` for a compute object
-- without any per-replica row (its cluster has no replica).
CREATE TABLE mz_emulator.hydration_statuses (
    object_id text NOT NULL,
    replica_id text,
    hydrated boolean
);

-- §1.8
CREATE TABLE mz_internal.mz_compute_hydration_statuses (
    object_id text NOT NULL,
    replica_id text NOT NULL,
    hydrated boolean NOT NULL,
    hydration_time interval
);

-- §1.10 (without deployment_generation, which only the newest main has)
CREATE TABLE mz_internal.mz_cluster_replica_status_history (
    replica_id text NOT NULL,
    process_id numeric(20,0) NOT NULL,
    status text NOT NULL,
    reason text,
    occurred_at timestamptz NOT NULL
);

-- §1.13: resource samples with their time (`mz_cluster_replica_metrics_history`,
-- a source in Materialize kept 30 days by default; `swap_bytes` and
-- `deployment_generation` only on the newest main; a table here so tests
-- add samples directly); the latest sample per (replica, process)
-- (`mz_cluster_replica_metrics`); utilization as metrics over the replica's
-- size, joined on the replica's size as Materialize does (a replica whose
-- size is not listed drops out, as do replicas dropped since), over the
-- history and, latest per (replica, process), now.
CREATE TABLE mz_internal.mz_cluster_replica_metrics_history (
    replica_id text NOT NULL,
    process_id numeric(20,0) NOT NULL,
    cpu_nano_cores numeric(20,0),
    memory_bytes numeric(20,0),
    disk_bytes numeric(20,0),
    heap_bytes numeric(20,0),
    heap_limit numeric(20,0),
    occurred_at timestamptz NOT NULL
);

CREATE VIEW mz_internal.mz_cluster_replica_metrics AS
SELECT DISTINCT ON (replica_id, process_id)
    replica_id, process_id, cpu_nano_cores, memory_bytes, disk_bytes, heap_bytes, heap_limit
FROM mz_internal.mz_cluster_replica_metrics_history
ORDER BY replica_id, process_id, occurred_at DESC;

CREATE VIEW mz_internal.mz_cluster_replica_utilization_history AS
SELECT r.id AS replica_id,
       m.process_id,
       m.cpu_nano_cores::float8 / NULLIF(s.cpu_nano_cores, 0)::float8 * 100 AS cpu_percent,
       m.memory_bytes::float8 / NULLIF(s.memory_bytes, 0)::float8 * 100 AS memory_percent,
       m.disk_bytes::float8 / NULLIF(s.disk_bytes, 0)::float8 * 100 AS disk_percent,
       m.heap_bytes::float8 / NULLIF(m.heap_limit, 0)::float8 * 100 AS heap_percent,
       m.occurred_at
FROM mz_catalog.mz_cluster_replicas r
JOIN mz_catalog.mz_cluster_replica_sizes s ON r.size = s.size
JOIN mz_internal.mz_cluster_replica_metrics_history m ON m.replica_id = r.id;

CREATE VIEW mz_internal.mz_cluster_replica_utilization AS
SELECT DISTINCT ON (replica_id, process_id)
    replica_id, process_id, cpu_percent, memory_percent, disk_percent, heap_percent
FROM mz_internal.mz_cluster_replica_utilization_history
ORDER BY replica_id, process_id, occurred_at DESC;

-- §1.9: latest event per (replica, process), existing replicas only.
CREATE VIEW mz_internal.mz_cluster_replica_statuses AS
SELECT DISTINCT ON (h.replica_id, h.process_id)
    h.replica_id,
    h.process_id,
    h.status,
    h.reason,
    h.occurred_at AS updated_at
FROM mz_internal.mz_cluster_replica_status_history h
JOIN mz_catalog.mz_cluster_replicas r ON r.id = h.replica_id
ORDER BY h.replica_id, h.process_id, h.occurred_at DESC;

-- ---------------------------------------------------------------------------
-- Access (§8.4): who the acting role is, ownership, privileges
-- ---------------------------------------------------------------------------

-- Errors Materialize raises as structured errors.
CREATE FUNCTION mz_emulator.fail(message text, hint text DEFAULT NULL,
                                 code text DEFAULT 'XX000', detail text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF hint IS NULL AND detail IS NULL THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = code;
    ELSIF detail IS NULL THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = code, HINT = hint;
    ELSIF hint IS NULL THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = code, DETAIL = detail;
    ELSE
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = code, HINT = hint, DETAIL = detail;
    END IF;
END $$;

-- The mz_roles id of a PostgreSQL role, registering it on first sight.
-- NULL (the emulator's own helpers) is the superuser u1.
CREATE FUNCTION mz_emulator.role_id(p_role text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    rid text;
BEGIN
    IF p_role IS NULL THEN
        RETURN 'u1';
    END IF;
    SELECT id INTO rid FROM mz_catalog.mz_roles WHERE name = p_role;
    IF rid IS NULL THEN
        rid := 'u' || nextval('mz_emulator.role_ids');
        INSERT INTO mz_catalog.mz_roles
        SELECT rid, coalesce((SELECT oid FROM pg_roles WHERE rolname = p_role), 0), p_role, true,
               (SELECT rolcanlogin FROM pg_roles WHERE rolname = p_role),
               (SELECT rolsuper FROM pg_roles WHERE rolname = p_role);
    END IF;
    RETURN rid;
END $$;

-- Superusers skip every privilege check (rbac.rs rbac_preamble).
CREATE FUNCTION mz_emulator.is_superuser(p_role text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_role IS NULL OR coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = p_role), false)
$$;

-- Whether the acting role is, or is a member of, the role with mz_roles id
-- p_role_id (rbac.rs check_owner_roles over collect_role_membership).
-- Memberships are followed through pg_auth_members, not pg_has_role, which
-- makes a PostgreSQL superuser a member of every role.
CREATE FUNCTION mz_emulator.member_of(p_role text, p_role_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE held(oid) AS (
        SELECT oid FROM pg_roles WHERE rolname = p_role
        UNION
        SELECT am.roleid FROM pg_auth_members am JOIN held ON am.member = held.oid
    )
    SELECT EXISTS (SELECT 1 FROM mz_catalog.mz_roles r
                   WHERE r.id = p_role_id
                     AND (r.name = p_role
                          OR r.name IN (SELECT rolname FROM pg_roles
                                        WHERE oid IN (SELECT oid FROM held))))
$$;

-- The same, where a superuser passes every check.
CREATE FUNCTION mz_emulator.holds_role(p_role text, p_role_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT mz_emulator.is_superuser(p_role) OR mz_emulator.member_of(p_role, p_role_id)
$$;

-- Whether p_role holds privilege p_mode ('U' usage, 'C' create) in an
-- mz_aclitem-like list ('u1=UC/u1', '=U/u1' for PUBLIC).
CREATE FUNCTION mz_emulator.has_privilege(p_role text, p_owner_id text, p_privileges text[],
                                          p_mode text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT mz_emulator.holds_role(p_role, p_owner_id)
        OR EXISTS (SELECT 1 FROM unnest(p_privileges) item
                   WHERE split_part(split_part(item, '/', 1), '=', 2) LIKE '%' || p_mode || '%'
                     AND (split_part(item, '=', 1) = ''
                          OR mz_emulator.holds_role(p_role, split_part(item, '=', 1))))
$$;

-- §8.4: `SELECT mz_is_superuser()` (mz_catalog function of RBAC releases).
CREATE FUNCTION mz_catalog.mz_is_superuser() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT mz_emulator.is_superuser(current_user::text) $$;

-- §8.4: `has_cluster_privilege(cluster_name, 'USAGE' | 'CREATE')` for the
-- session's role (NULL for an unknown cluster, where Materialize errors).
-- Like Materialize's access privilege inquiry functions it does not
-- consider whether the role is a superuser (its docs: "None of the
-- following functions consider whether the provided role is a superuser
-- or not"): a superuser without a grant gets false, though it may use the
-- cluster.
CREATE FUNCTION mz_catalog.has_cluster_privilege(p_cluster text, p_privilege text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT mz_emulator.member_of(current_user::text, c.owner_id)
        OR EXISTS (SELECT 1 FROM unnest(c.privileges) item
                   WHERE split_part(split_part(item, '/', 1), '=', 2)
                         LIKE '%' || CASE upper(p_privilege) WHEN 'USAGE' THEN 'U' ELSE 'C' END || '%'
                     AND (split_part(item, '=', 1) = ''
                          OR mz_emulator.member_of(current_user::text, split_part(item, '=', 1))))
    FROM mz_catalog.mz_clusters c WHERE c.name = p_cluster
$$;

-- `must be owner of CLUSTER c` / `must be owner of CLUSTER REPLICA c.r`
-- (UnauthorizedError::Ownership in src/sql/src/rbac.rs; 42501 per
-- src/adapter/src/error.rs). A cluster is printed as is, a replica as a
-- QualifiedReplica (each part quoted when needed).
CREATE FUNCTION mz_emulator.require_owner(p_role text, p_owner_id text, p_object text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mz_emulator.holds_role(p_role, p_owner_id) THEN
        PERFORM mz_emulator.fail('must be owner of ' || p_object, NULL, '42501');
    END IF;
END $$;

-- `permission denied for CLUSTER "c"` (UnauthorizedError::Privilege with an
-- ErrorMessageObjectDescription, src/sql/src/rbac.rs and catalog.rs).
CREATE FUNCTION mz_emulator.require_cluster_privilege(p_role text, p_cluster_id text, p_mode text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
BEGIN
    SELECT * INTO c FROM mz_catalog.mz_clusters WHERE id = p_cluster_id;
    IF NOT mz_emulator.has_privilege(p_role, c.owner_id, c.privileges, p_mode) THEN
        PERFORM mz_emulator.fail(format('permission denied for CLUSTER "%s"', c.name), NULL, '42501');
    END IF;
END $$;

-- Reading the statement log needs mz_monitor (or mz_monitor_redacted for the
-- redacted relations): `permission denied for VIEW "mz_internal.<view>"`
-- (builtin access lists in src/catalog/src/builtin/mz_internal.rs; message
-- format from rbac.rs). Used as a one-time filter in the views below, so it
-- runs once per query even on an empty log, as the current user.
CREATE FUNCTION mz_emulator.require_monitor(p_view text, p_redacted_ok boolean) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF mz_emulator.setting_on('monitor_role_required')
       AND NOT mz_emulator.is_superuser(current_user::text)
       AND NOT pg_has_role(current_user, 'mz_monitor', 'MEMBER')
       AND NOT (p_redacted_ok AND pg_has_role(current_user, 'mz_monitor_redacted', 'MEMBER')) THEN
        RAISE EXCEPTION USING MESSAGE = format('permission denied for VIEW "mz_internal.%s"', p_view),
                              ERRCODE = '42501';
    END IF;
    RETURN true;
END $$;

-- ---------------------------------------------------------------------------
-- Statement log (§1.11, §1.12, §8.6)
-- ---------------------------------------------------------------------------

-- The database's clock as a session sees it: now() resolved through the
-- search path when called, so a test that puts its own now() first (a
-- virtual clock) moves the log's visibility with it.
CREATE FUNCTION mz_emulator.clock() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT now() $$;

-- Rows of mz_statement_execution_history, plus when each becomes visible:
-- Materialize flushes the log every few seconds, so a row appears after its
-- event (NULL = at once). Test helpers insert here through the sampler in
-- mod.rs (Emulator::add_activity), which fills sample_rate; the proxy logs
-- what it forwards through log_statements below.
CREATE TABLE mz_emulator.statement_log (
    id uuid NOT NULL,
    prepared_statement_id uuid NOT NULL,
    sample_rate double precision NOT NULL,
    cluster_id text,
    application_name text NOT NULL,
    cluster_name text,
    database_name text NOT NULL,
    search_path text[] NOT NULL,
    transaction_isolation text NOT NULL,
    execution_timestamp numeric(20,0),
    transaction_id numeric(20,0) NOT NULL,
    transient_index_id text,
    params text[] NOT NULL,
    mz_version text NOT NULL,
    began_at timestamptz NOT NULL,
    finished_at timestamptz,
    finished_status text,
    error_message text,
    result_size bigint,
    rows_returned bigint,
    execution_strategy text,
    visible_at timestamptz
);

-- §1.11. Simple views, so tests may still INSERT/UPDATE/DELETE through them.
CREATE VIEW mz_internal.mz_statement_execution_history AS
SELECT id, prepared_statement_id, sample_rate, cluster_id, application_name, cluster_name,
       database_name, search_path, transaction_isolation, execution_timestamp, transaction_id,
       transient_index_id, params, mz_version, began_at, finished_at, finished_status,
       error_message, result_size, rows_returned, execution_strategy
FROM mz_emulator.statement_log
WHERE (visible_at IS NULL OR visible_at <= mz_emulator.clock())
  AND mz_emulator.require_monitor('mz_statement_execution_history', false);

CREATE VIEW mz_internal.mz_statement_execution_history_redacted AS
SELECT id, prepared_statement_id, sample_rate, cluster_id, application_name,
       cluster_name, database_name, search_path, transaction_isolation,
       execution_timestamp, transaction_id, transient_index_id, mz_version,
       began_at, finished_at, finished_status, result_size, rows_returned,
       execution_strategy
FROM mz_emulator.statement_log
WHERE (visible_at IS NULL OR visible_at <= mz_emulator.clock())
  AND mz_emulator.require_monitor('mz_statement_execution_history_redacted', true);

-- §1.12: the statement history of the last day. Session and prepared-statement
-- columns the emulator does not model are typed NULLs (or derived values).
CREATE VIEW mz_emulator.recent_activity AS
SELECT id AS execution_id, sample_rate, cluster_id, application_name, cluster_name,
       database_name, search_path, transaction_isolation, execution_timestamp,
       transient_index_id, params, mz_version, began_at, finished_at, finished_status,
       error_message, result_size, rows_returned, execution_strategy, transaction_id,
       prepared_statement_id, NULL::bytea AS sql_hash,
       ''::text AS prepared_statement_name, NULL::uuid AS session_id,
       began_at AS prepared_at, 'select'::text AS statement_type,
       0::numeric(20,0) AS throttled_count, began_at AS connected_at,
       application_name AS initial_application_name,
       'materialize'::text AS authenticated_user, 'SELECT 1'::text AS sql
FROM mz_emulator.statement_log
WHERE began_at + INTERVAL '1 day' > now()
  AND (visible_at IS NULL OR visible_at <= mz_emulator.clock());

CREATE VIEW mz_internal.mz_recent_activity_log AS
SELECT * FROM mz_emulator.recent_activity
WHERE mz_emulator.require_monitor('mz_recent_activity_log', false);

CREATE VIEW mz_internal.mz_recent_activity_log_redacted AS
SELECT execution_id, sample_rate, cluster_id, application_name, cluster_name,
       database_name, search_path, transaction_isolation, execution_timestamp,
       transient_index_id, mz_version, began_at, finished_at, finished_status,
       result_size, rows_returned, execution_strategy, transaction_id,
       prepared_statement_id, sql_hash, prepared_statement_name, session_id,
       prepared_at, statement_type, throttled_count, initial_application_name,
       authenticated_user, sql AS redacted_sql
FROM mz_emulator.recent_activity
WHERE mz_emulator.require_monitor('mz_recent_activity_log_redacted', true);

-- The rate a new session logs with: min(default, max) (statement_logging.rs).
CREATE FUNCTION mz_emulator.effective_sample_rate() RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT least(mz_emulator.setting('statement_logging_default_sample_rate')::double precision,
                 mz_emulator.setting('statement_logging_max_sample_rate')::double precision)
$$;

-- What the proxy saw (proxy.rs, StatementLog): each statement it forwarded
-- begins ('b': its cluster by name, application_name, proxy sequence number)
-- and ends ('e': finished_status, error message; 'f': it never ran after
-- all), `age` seconds before this call. As Materialize does (coord/statement_logging.rs): a statement is
-- kept or dropped at its begin, at the effective rate (deterministic: by its
-- sequence number); a begin is written with its finished_* columns NULL (in
-- flight) and completed by its end; a cluster that does not exist leaves
-- cluster_id and cluster_name NULL. Rows become visible
-- statement_log_flush_delay_s after their begin, like add_activity's.
CREATE FUNCTION mz_emulator.log_statements(p_events jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rate double precision := mz_emulator.effective_sample_rate();
    delay double precision := mz_emulator.setting('statement_log_flush_delay_s')::float8;
    t timestamptz := mz_emulator.clock();
BEGIN
    INSERT INTO mz_emulator.statement_log
    SELECT e.id, gen_random_uuid(), rate, c.id, e.app, c.name, 'materialize', ARRAY['public'],
           'strict serializable', NULL, 1, NULL, ARRAY[]::text[], mz_catalog.mz_version(),
           t - make_interval(secs => e.age), NULL, NULL, NULL, NULL, NULL, NULL,
           CASE WHEN delay > 0 THEN t - make_interval(secs => e.age - delay) END
    FROM jsonb_to_recordset(p_events) AS e(k text, id uuid, seq bigint, cluster text, app text,
                                           age float8)
    LEFT JOIN mz_catalog.mz_clusters c ON c.name = e.cluster
    WHERE e.k = 'b'
      AND (rate >= 1 OR (abs(hashtext('proxy:' || e.seq)) % 1000000) / 1000000.0 < rate);
    UPDATE mz_emulator.statement_log l
    SET finished_at = greatest(l.began_at, t - make_interval(secs => e.age)),
        finished_status = e.status,
        error_message = e.message,
        execution_strategy = CASE WHEN e.status = 'success' THEN 'standard' END
    FROM jsonb_to_recordset(p_events) AS e(k text, id uuid, age float8, status text, message text)
    WHERE e.k = 'e' AND l.id = e.id;
    DELETE FROM mz_emulator.statement_log l
    USING jsonb_to_recordset(p_events) AS e(k text, id uuid)
    WHERE e.k = 'f' AND l.id = e.id;
END $$;

-- ---------------------------------------------------------------------------
-- Seed data: sizes, roles, builtin clusters
-- ---------------------------------------------------------------------------

-- §5: Materialize Cloud cc sizes. Resources grow with the size; the three
-- largest run on several processes.
INSERT INTO mz_catalog.mz_cluster_replica_sizes
    (size, processes, workers, cpu_nano_cores, memory_bytes, disk_bytes, credits_per_hour)
SELECT s.size, s.processes,
       greatest(1, (s.credits * 2 / s.processes)::int),
       (s.credits * 1000000000 / s.processes)::numeric(20,0),
       (s.credits * 8 * 1073741824 / s.processes)::numeric(20,0),
       (s.credits * 16 * 1073741824 / s.processes)::numeric(20,0),
       s.credits
FROM (VALUES ('25cc', 1, 0.25), ('50cc', 1, 0.5), ('100cc', 1, 1), ('200cc', 1, 2),
             ('300cc', 1, 3), ('400cc', 1, 4), ('600cc', 1, 6), ('800cc', 1, 8),
             ('1200cc', 1, 12), ('1600cc', 1, 16), ('3200cc', 1, 32), ('6400cc', 1, 64),
             ('128C', 2, 128), ('256C', 4, 256), ('512C', 8, 512))
     AS s(size, processes, credits);

-- Builtin roles (s = system, g = predefined) and u1, the superuser that loads
-- this file and owns the default cluster, as the account owner does.
INSERT INTO mz_catalog.mz_roles VALUES
    ('s1', 16661, 'mz_system', true, true, true),
    ('s2', 16662, 'mz_support', true, false, false),
    ('s3', 16663, 'mz_analytics', true, false, false),
    ('g1', 16664, 'mz_monitor', true, false, false),
    ('g2', 16665, 'mz_monitor_redacted', true, false, false),
    ('u1', (SELECT oid FROM pg_roles WHERE rolname = current_user), current_user::text, true, true, true);

INSERT INTO mz_catalog.mz_schemas VALUES
    ('s1', 16401, NULL, 'mz_catalog', 's1', ARRAY['=U/s1']),
    ('s2', 16402, NULL, 'pg_catalog', 's1', ARRAY['=U/s1']),
    ('s3', 16403, NULL, 'mz_internal', 's1', ARRAY['=U/s1']),
    ('s4', 16404, NULL, 'information_schema', 's1', ARRAY['=U/s1']),
    ('u3', 20001, 'u1', 'public', 'u1', ARRAY['u1=UC/u1', '=U/u1']);

-- A schema created (or dropped) through the proxy is one of mz_schemas, as
-- Materialize lists every schema it has: a `--schema` made by hand was
-- "does not exist" to clusterctl (an outside check).
CREATE FUNCTION mz_emulator.schema_created() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT objid FROM pg_event_trigger_ddl_commands()
             WHERE command_tag = 'CREATE SCHEMA' LOOP
        INSERT INTO mz_catalog.mz_schemas
        SELECT 'u' || n.oid, n.oid, 'u1', n.nspname, 'u1', ARRAY['u1=UC/u1']
        FROM pg_namespace n
        WHERE n.oid = c.objid
          AND NOT EXISTS (SELECT 1 FROM mz_catalog.mz_schemas s WHERE s.name = n.nspname);
    END LOOP;
END $$;
CREATE EVENT TRIGGER mz_emulator_schema_created ON ddl_command_end
    WHEN TAG IN ('CREATE SCHEMA') EXECUTE FUNCTION mz_emulator.schema_created();

CREATE FUNCTION mz_emulator.schema_dropped() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mz_catalog.mz_schemas s
    USING pg_event_trigger_dropped_objects() d
    WHERE d.object_type = 'schema' AND s.name = d.object_name;
END $$;
CREATE EVENT TRIGGER mz_emulator_schema_dropped ON sql_drop
    WHEN TAG IN ('DROP SCHEMA') EXECUTE FUNCTION mz_emulator.schema_dropped();

-- A view refuses every write, as Materialize's planner does (`plan_insert`
-- and `plan_mutation` in src/sql/src/plan/query.rs bail with "cannot insert
-- into view '…'" and "cannot mutate view '…'", XX000): PostgreSQL writes
-- through a simple view to its table, so a view of one of clusterctl's
-- names took its writes (an outside check's question).
CREATE FUNCTION mz_emulator.view_refuses_writes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    name text := format('%s.%s.%s', current_database(), TG_TABLE_SCHEMA, TG_TABLE_NAME);
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION USING ERRCODE = 'XX000',
            MESSAGE = format('cannot insert into view ''%s''', name);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'XX000',
        MESSAGE = format('cannot mutate view ''%s''', name);
END $$;
CREATE FUNCTION mz_emulator.view_created() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    -- Users' views only: the emulator's own (its catalog) stay its own.
    FOR c IN SELECT objid, object_identity FROM pg_event_trigger_ddl_commands()
             WHERE command_tag = 'CREATE VIEW' AND object_type = 'view'
               AND schema_name NOT IN ('mz_catalog', 'mz_internal', 'mz_introspection',
                                       'mz_emulator', 'pg_catalog', 'information_schema') LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger
                       WHERE tgrelid = c.objid AND tgname = 'mz_emulator_view_refuses_writes') THEN
            EXECUTE format('CREATE TRIGGER mz_emulator_view_refuses_writes INSTEAD OF INSERT OR '
                           'UPDATE OR DELETE ON %s FOR EACH ROW '
                           'EXECUTE FUNCTION mz_emulator.view_refuses_writes()', c.object_identity);
        END IF;
    END LOOP;
END $$;
CREATE EVENT TRIGGER mz_emulator_view_created ON ddl_command_end
    WHEN TAG IN ('CREATE VIEW') EXECUTE FUNCTION mz_emulator.view_created();

-- Builtin clusters and the default user cluster, as in a real environment.
INSERT INTO mz_catalog.mz_clusters
SELECT c.id, c.name, c.owner, c.privileges, true, '25cc', 1, false, NULL, false, INTERVAL '1 second'
FROM (VALUES ('s1', 'mz_system', 's1', ARRAY['s1=UC/s1']),
             ('s2', 'mz_catalog_server', 's1', ARRAY['s1=UC/s1', '=U/s1']),
             ('s3', 'mz_probe', 's1', ARRAY['s1=UC/s1']),
             ('s4', 'mz_support', 's1', ARRAY['s1=UC/s1']),
             ('s5', 'mz_analytics', 's1', ARRAY['s1=UC/s1']),
             ('u1', 'quickstart', 'u1', ARRAY['u1=UC/u1', '=U/u1']))
     AS c(id, name, owner, privileges);

INSERT INTO mz_catalog.mz_cluster_replicas
SELECT c.id, 'r1', c.id, '25cc', NULL, c.owner_id, false
FROM mz_catalog.mz_clusters c;

INSERT INTO mz_internal.mz_cluster_schedules
SELECT id, 'manual', NULL FROM mz_catalog.mz_clusters;

INSERT INTO mz_internal.mz_cluster_replica_status_history
SELECT id, 0, 'online', NULL, now() - INTERVAL '1 day' FROM mz_catalog.mz_cluster_replicas;

-- ---------------------------------------------------------------------------
-- Objects (§8.8): mz_objects, and the newer automation relations
-- ---------------------------------------------------------------------------

-- mz_catalog.mz_objects (columns of main's RELATION_SPEC): the user items of
-- the emulator, every catalog relation, and the user's own tables.
CREATE VIEW mz_catalog.mz_objects AS
SELECT i.id, i.oid, 'u3'::text AS schema_id, i.name, 'index'::text AS type, i.owner_id,
       i.cluster_id, ARRAY[]::text[] AS privileges
FROM mz_catalog.mz_indexes i
UNION ALL
SELECT id, oid, schema_id, name, 'materialized-view', owner_id, cluster_id, privileges
FROM mz_catalog.mz_materialized_views
UNION ALL
SELECT id, oid, schema_id, name, 'source', owner_id, cluster_id, privileges
FROM mz_catalog.mz_sources
UNION ALL
SELECT 's' || c.oid, c.oid, s.id, c.relname::text,
       CASE WHEN c.relkind = 'v' THEN 'view' ELSE 'table' END, 's1', NULL, ARRAY['=r/s1']
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN mz_catalog.mz_schemas s ON s.name = n.nspname
WHERE n.nspname IN ('mz_catalog', 'mz_internal') AND c.relkind IN ('r', 'v')
UNION ALL
SELECT 'u' || c.oid, c.oid, coalesce(s.id, 'u3'), c.relname::text, 'table', 'u1', NULL,
       ARRAY['u1=arwd/u1']
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN mz_catalog.mz_schemas s ON s.name = n.nspname
WHERE n.nspname NOT IN ('mz_catalog', 'mz_internal', 'mz_emulator', 'pg_catalog',
                        'information_schema', 'pg_toast')
  AND c.relkind IN ('r', 'p');

-- §8.8: relations only some releases have, created or dropped as the options
-- say. mz_cluster_auto_scaling_strategies: columns as used by Materialize's
-- docs and mz-deploy (cluster_id, strategy jsonb, state jsonb).
-- mz_cluster_reconfigurations (background-resize releases): the columns the
-- controller showcase prints; Materialize has more.
CREATE FUNCTION mz_emulator.configure_optional_relations(p_auto_scaling boolean,
                                                         p_reconfigurations boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS mz_internal.mz_cluster_auto_scaling_strategies;
    DROP VIEW IF EXISTS mz_internal.mz_cluster_reconfigurations;
    IF p_auto_scaling THEN
        CREATE TABLE mz_internal.mz_cluster_auto_scaling_strategies (
            cluster_id text NOT NULL,
            strategy jsonb,
            state jsonb
        );
        GRANT SELECT ON mz_internal.mz_cluster_auto_scaling_strategies TO PUBLIC;
    END IF;
    IF p_reconfigurations THEN
        CREATE VIEW mz_internal.mz_cluster_reconfigurations AS
        SELECT c.id AS cluster_id, c.size AS current_size,
               coalesce(r.target_size, c.size) AS target_size,
               r.id IS NOT NULL AS reconfiguration_in_flight,
               (extract(epoch FROM r.deadline) * 1000)::numeric(20,0) AS reconfiguration_deadline
        FROM mz_catalog.mz_clusters c
        LEFT JOIN mz_emulator.reconfigurations r ON r.cluster_id = c.id AND r.status = 'pending'
        WHERE c.managed;
        GRANT SELECT ON mz_internal.mz_cluster_reconfigurations TO PUBLIC;
    END IF;
END $$;

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

-- Every catalog item that reports hydration, per cluster (webhook sources do not).
CREATE VIEW mz_emulator.cluster_objects AS
SELECT id AS object_id, cluster_id, true AS compute FROM mz_catalog.mz_indexes
UNION ALL
SELECT id, cluster_id, true FROM mz_catalog.mz_materialized_views
UNION ALL
SELECT id, cluster_id, false FROM mz_catalog.mz_sources
WHERE cluster_id IS NOT NULL AND type NOT IN ('webhook', 'progress');

-- §1.7 (see mz_emulator.hydration_statuses above).
CREATE VIEW mz_internal.mz_hydration_statuses AS
SELECT object_id, replica_id, hydrated FROM mz_emulator.hydration_statuses
UNION ALL
SELECT o.object_id, NULL::text, false
FROM mz_emulator.cluster_objects o
WHERE o.compute
  AND NOT EXISTS (SELECT 1 FROM mz_emulator.hydration_statuses h
                  WHERE h.object_id = o.object_id AND h.replica_id IS NOT NULL);

-- Writes through the view reach the table (the added rows are not stored).
CREATE FUNCTION mz_emulator.hydration_statuses_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM mz_emulator.hydration_statuses
        WHERE object_id = OLD.object_id AND replica_id IS NOT DISTINCT FROM OLD.replica_id
          AND hydrated IS NOT DISTINCT FROM OLD.hydrated
          AND (TG_OP = 'DELETE' OR OLD.replica_id IS NOT NULL);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.replica_id IS NOT NULL OR NEW.replica_id IS NOT NULL)) THEN
        INSERT INTO mz_emulator.hydration_statuses VALUES (NEW.object_id, NEW.replica_id, NEW.hydrated);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER hydration_statuses_write INSTEAD OF INSERT OR UPDATE OR DELETE
    ON mz_internal.mz_hydration_statuses
    FOR EACH ROW EXECUTE FUNCTION mz_emulator.hydration_statuses_write();

-- Materialize's identifier checks (§3).
CREATE FUNCTION mz_emulator.check_ident(ident text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ident IS NULL OR ident = '' THEN
        PERFORM mz_emulator.fail('zero-length delimited identifier');
    END IF;
    IF octet_length(ident) > 255 THEN
        PERFORM mz_emulator.fail(format('identifier too long (len %s, max 255, value %s)',
                                        octet_length(ident), ident));
    END IF;
END $$;

-- A cluster or replica name Materialize reserves for its own objects (its
-- catalog's is_reserved_name: BUILTIN_PREFIXES, case-sensitive), refused at
-- creation: `kind` is 'cluster' or 'replica'.
CREATE FUNCTION mz_emulator.check_reserved_name(kind text, name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF starts_with(name, 'mz_') OR starts_with(name, 'pg_') OR starts_with(name, 'external_') THEN
        PERFORM mz_emulator.fail(format('%s name "%s" is reserved', kind, name));
    END IF;
END $$;

-- An identifier as Materialize prints it: bare when it is a plain lowercase
-- word, double-quoted otherwise.
CREATE FUNCTION mz_emulator.ident(ident text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ident ~ '^[a-z_][a-z0-9_]*$' THEN ident
                ELSE '"' || replace(ident, '"', '""') || '"' END
$$;

-- A size not in the catalog, or not in a non-empty allowed_cluster_replica_sizes,
-- is the same error, its hint listing only the allowed sizes:
-- CatalogState::ensure_valid_replica_size (src/adapter/src/catalog/state.rs,
-- MaterializeInc/materialize e1561dad373980f432daaada986d836d243e7c1f) refuses
-- `!sizes.contains_key(size) || (!allowed.is_empty() && !allowed.contains(size))`
-- with ErrorKind::InvalidClusterReplicaSize, `unknown cluster replica size X`,
-- the expected sizes filtered by the allowed list. mz_cluster_replica_sizes
-- still lists every size (Materialize's console filters it by the setting).
CREATE FUNCTION mz_emulator.check_size(sz text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    allowed text[] := mz_emulator.allowed_sizes();
BEGIN
    IF sz IS NULL OR NOT EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replica_sizes WHERE size = sz)
       OR (cardinality(allowed) > 0 AND NOT sz = ANY (allowed)) THEN
        PERFORM mz_emulator.fail(
            'unknown cluster replica size ' || coalesce(sz, ''),
            'Valid cluster replica sizes are: ' || coalesce((
                SELECT string_agg(size, ', ' ORDER BY processes, cpu_nano_cores, size)
                FROM mz_catalog.mz_cluster_replica_sizes
                WHERE cardinality(allowed) = 0 OR size = ANY (allowed)), ''));
    END IF;
END $$;

-- Credits per hour of a size (0 for none).
CREATE FUNCTION mz_emulator.size_credits(sz text) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT credits_per_hour FROM mz_catalog.mz_cluster_replica_sizes WHERE size = sz), 0)
$$;

-- What a cluster's replicas cost per hour now.
CREATE FUNCTION mz_emulator.cluster_credits(p_cluster_id text) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(mz_emulator.size_credits(size)), 0)
    FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = p_cluster_id
$$;

-- Serialises DDL like Materialize's coordinator does.
CREATE FUNCTION mz_emulator.ddl_lock() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(7463524, 1) $$;

-- §8.7, §6: what Materialize's orchestrator does to a replica by itself, and
-- when: a replica provisioning (offline/initializing) goes online once its
-- pod has started; one OOM-killed goes online again once restarted; one
-- that came back re-hydrates (its in-memory state was lost), or is
-- OOM-killed again when its cluster's workload does not fit
-- (mz_emulator.workloads). One pending step per replica, taken by
-- mz_emulator.tick_replicas. `hydration_time`: how long the replica takes
-- to hydrate once online (NULL: until a test says, `set_hydrated`).
CREATE TABLE mz_emulator.replica_steps (
    replica_id text PRIMARY KEY,
    step text NOT NULL CHECK (step IN ('online', 'hydrated', 'oom-killed')),
    due_at timestamptz NOT NULL,
    hydration_time interval
);

-- A cluster's workload as a test sets it (Emulator::set_workload): the
-- memory it needs (§6). A replica of a size with less is OOM-killed
-- `oom_after` after each start, before it hydrates, and restarted
-- (`replica_restart_delay_ms`), for ever: a crash loop. Under a workload
-- whose state grows after hydration (`after_hydration`,
-- Emulator::set_growing_workload) it hydrates first and is killed
-- `oom_after` after hydrating: a loop that serves between its kills. One
-- with enough hydrates `hydration_time` after it starts. Replicas made by
-- DDL follow it too, so a bigger size a strategy creates hydrates by itself.
CREATE TABLE mz_emulator.workloads (
    cluster_id text PRIMARY KEY,
    memory_bytes numeric NOT NULL,
    hydration_time interval NOT NULL,
    oom_after interval NOT NULL,
    after_hydration boolean NOT NULL DEFAULT false
);

-- §8.7: one status event per process of the replica, dated p_at. An event
-- set from outside (a test, hydration) takes over from the orchestrator's
-- pending step.
CREATE FUNCTION mz_emulator.add_status_event(p_replica_id text, p_status text, p_reason text,
                                             p_at timestamptz DEFAULT NULL)
RETURNS void LANGUAGE sql SECURITY DEFINER AS $$
    DELETE FROM mz_emulator.replica_steps WHERE replica_id = p_replica_id;
    INSERT INTO mz_internal.mz_cluster_replica_status_history
    SELECT p_replica_id, p, p_status, p_reason, coalesce(p_at, now())
    FROM generate_series(0, coalesce((SELECT s.processes::int FROM mz_catalog.mz_cluster_replicas r
                                      JOIN mz_catalog.mz_cluster_replica_sizes s ON s.size = r.size
                                      WHERE r.id = p_replica_id), 1) - 1) p
$$;

-- Every object of the replica's cluster (not) hydrated on it: Materialize
-- reports no hydration time for an object not hydrated.
CREATE FUNCTION mz_emulator.write_hydration(p_replica_id text, p_hydrated boolean,
                                            p_time interval DEFAULT INTERVAL '2 seconds')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    cid text := (SELECT cluster_id FROM mz_catalog.mz_cluster_replicas WHERE id = p_replica_id);
BEGIN
    DELETE FROM mz_emulator.hydration_statuses WHERE replica_id = p_replica_id;
    DELETE FROM mz_internal.mz_compute_hydration_statuses WHERE replica_id = p_replica_id;
    INSERT INTO mz_emulator.hydration_statuses
    SELECT object_id, p_replica_id, p_hydrated FROM mz_emulator.cluster_objects WHERE cluster_id = cid;
    INSERT INTO mz_internal.mz_compute_hydration_statuses
    SELECT object_id, p_replica_id, p_hydrated, CASE WHEN p_hydrated THEN p_time END
    FROM mz_emulator.cluster_objects WHERE cluster_id = cid AND compute;
END $$;

-- Whether the replica's size has the memory its cluster's workload needs
-- (true without a workload, or for a size not listed).
CREATE FUNCTION mz_emulator.fits(p_replica_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.memory_bytes * s.processes >= w.memory_bytes
                     FROM mz_catalog.mz_cluster_replicas r
                     JOIN mz_emulator.workloads w ON w.cluster_id = r.cluster_id
                     JOIN mz_catalog.mz_cluster_replica_sizes s ON s.size = r.size
                     WHERE r.id = p_replica_id), true)
$$;

-- The replica's next step once it is online at p_at: under a workload, an
-- OOM kill when its size has too little memory (unless the workload grows
-- after hydration: it hydrates first), else hydration after the
-- workload's time; without one, hydration after p_hydration_time (a
-- replica restarted after a single OOM), or nothing (a test hydrates it).
CREATE FUNCTION mz_emulator.schedule_after_online(p_replica_id text, p_at timestamptz,
                                                  p_hydration_time interval)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    w mz_emulator.workloads := (SELECT wl FROM mz_emulator.workloads wl
                                JOIN mz_catalog.mz_cluster_replicas r ON r.cluster_id = wl.cluster_id
                                WHERE r.id = p_replica_id);
    took interval := coalesce(w.hydration_time, p_hydration_time);
BEGIN
    IF NOT mz_emulator.fits(p_replica_id) AND NOT w.after_hydration THEN
        INSERT INTO mz_emulator.replica_steps
        VALUES (p_replica_id, 'oom-killed', p_at + w.oom_after, NULL);
    ELSIF took IS NOT NULL THEN
        INSERT INTO mz_emulator.replica_steps VALUES (p_replica_id, 'hydrated', p_at + took, took);
    END IF;
END $$;

-- An OOM kill at p_at (§6, §1.9, §1.10): every process offline with reason
-- `oom-killed`, the replica's in-memory state gone (nothing hydrated on it),
-- and a restart after `replica_restart_delay_ms`, from which it hydrates
-- again in the time it took before (2 s when it never reported one).
CREATE FUNCTION mz_emulator.oom_kill(p_replica_id text, p_at timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    took interval := (SELECT max(hydration_time) FROM mz_internal.mz_compute_hydration_statuses
                      WHERE replica_id = p_replica_id);
    delay_ms numeric := CASE WHEN mz_emulator.setting('replica_restart_delay_ms') ~ '^\d+(\.\d+)?$'
                             THEN mz_emulator.setting('replica_restart_delay_ms')::numeric END;
BEGIN
    PERFORM mz_emulator.add_status_event(p_replica_id, 'offline', 'oom-killed', p_at);
    PERFORM mz_emulator.write_hydration(p_replica_id, false);
    INSERT INTO mz_emulator.replica_steps
    VALUES (p_replica_id, 'online',
            p_at + greatest(make_interval(secs => delay_ms / 1000.0), INTERVAL '1 microsecond'),
            coalesce(took, INTERVAL '2 seconds'));
END $$;

-- Materialize's orchestrator as a reader sees it: every step due by now is
-- taken, earliest first and dated when it was due, so a replica whose crash
-- loop began before the read writes each kill and restart in between.
-- Runs before every read of replica statuses or hydration
-- (tick_reconfigurations_for_reader, through the proxy and the test
-- helpers), in the controller steps that judge readiness, and while the
-- proxy holds a statement on a cluster with no replica online. Concurrent
-- ticks take each step once (the DELETE locks its row; the other waits and
-- then finds it gone).
CREATE FUNCTION mz_emulator.tick_replicas() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    s mz_emulator.replica_steps;
BEGIN
    LOOP
        DELETE FROM mz_emulator.replica_steps
        WHERE replica_id = (SELECT replica_id FROM mz_emulator.replica_steps
                            WHERE due_at <= now() ORDER BY due_at LIMIT 1)
          AND due_at <= now()
        RETURNING * INTO s;
        IF NOT FOUND THEN
            EXIT WHEN NOT EXISTS (SELECT 1 FROM mz_emulator.replica_steps WHERE due_at <= now());
            CONTINUE;
        END IF;
        IF s.step = 'online' THEN
            PERFORM mz_emulator.add_status_event(s.replica_id, 'online', NULL, s.due_at);
            PERFORM mz_emulator.schedule_after_online(s.replica_id, s.due_at, s.hydration_time);
        ELSIF s.step = 'hydrated' THEN
            PERFORM mz_emulator.write_hydration(s.replica_id, true, s.hydration_time);
            -- A workload that grows after hydration kills a replica too
            -- small for it once it served a while.
            INSERT INTO mz_emulator.replica_steps
            SELECT s.replica_id, 'oom-killed', s.due_at + w.oom_after, NULL
            FROM mz_emulator.workloads w
            JOIN mz_catalog.mz_cluster_replicas r ON r.cluster_id = w.cluster_id
            WHERE r.id = s.replica_id AND w.after_hydration AND NOT mz_emulator.fits(s.replica_id);
        ELSE
            PERFORM mz_emulator.oom_kill(s.replica_id, s.due_at);
        END IF;
    END LOOP;
END $$;

-- Test control: the cluster's workload needs the memory of size p_fits
-- (mz_emulator.workloads), from now on (set again: it grew or shrank;
-- until now the replicas followed the old one). Each online replica too
-- small for it is
-- OOM-killed at p_since (now, or earlier: the loop has been going on since,
-- and the next read writes its history; not before the replica's latest
-- event, which the loop follows); one with room that is not hydrated
-- hydrates after p_hydration_time. With p_after_hydration, a replica too
-- small hydrates as one with room does and is killed p_oom_after after
-- hydrating (one hydrated already: p_oom_after from now).
CREATE FUNCTION mz_emulator.set_workload(p_cluster_id text, p_fits text, p_hydration_time interval,
                                         p_oom_after interval, p_since timestamptz,
                                         p_after_hydration boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    -- Up to now, the replicas followed the workload as it was.
    PERFORM mz_emulator.tick_replicas();
    INSERT INTO mz_emulator.workloads
    SELECT p_cluster_id, s.memory_bytes * s.processes,
           greatest(p_hydration_time, INTERVAL '1 microsecond'),
           greatest(p_oom_after, INTERVAL '1 microsecond'), p_after_hydration
    FROM mz_catalog.mz_cluster_replica_sizes s WHERE s.size = p_fits
    ON CONFLICT (cluster_id) DO UPDATE
    SET memory_bytes = excluded.memory_bytes, hydration_time = excluded.hydration_time,
        oom_after = excluded.oom_after, after_hydration = excluded.after_hydration;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown size %', p_fits;
    END IF;
    -- What an online replica does next follows the new workload.
    DELETE FROM mz_emulator.replica_steps
    WHERE step IN ('hydrated', 'oom-killed')
      AND replica_id IN (SELECT id FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = p_cluster_id);
    FOR r IN SELECT id FROM mz_catalog.mz_cluster_replicas
             WHERE cluster_id = p_cluster_id AND mz_emulator.replica_online(id)
               AND NOT EXISTS (SELECT 1 FROM mz_emulator.replica_steps WHERE replica_id = id) LOOP
        IF NOT mz_emulator.fits(r.id) AND p_after_hydration AND mz_emulator.replica_ready(r.id) THEN
            INSERT INTO mz_emulator.replica_steps
            SELECT r.id, 'oom-killed', now() + w.oom_after, NULL
            FROM mz_emulator.workloads w WHERE w.cluster_id = p_cluster_id;
        ELSIF NOT mz_emulator.fits(r.id) AND NOT p_after_hydration THEN
            INSERT INTO mz_emulator.replica_steps
            SELECT r.id, 'oom-killed',
                   greatest(p_since, max(h.occurred_at) + INTERVAL '1 microsecond'), NULL
            FROM mz_internal.mz_cluster_replica_status_history h WHERE h.replica_id = r.id;
        ELSIF NOT mz_emulator.replica_ready(r.id) THEN
            INSERT INTO mz_emulator.replica_steps
            SELECT r.id, 'hydrated', now() + w.hydration_time, w.hydration_time
            FROM mz_emulator.workloads w WHERE w.cluster_id = p_cluster_id;
        END IF;
    END LOOP;
    PERFORM mz_emulator.tick_replicas();
END $$;

-- Inserts a replica with its bookkeeping: a status event per process and
-- not-yet-hydrated rows for every object of the cluster. With the setting
-- `replica_startup_delay_ms` a number, it starts offline/initializing, as
-- in Materialize, and goes online that long after (§8.7; the online event a
-- microsecond later at least, so it is the latest); 'off': online at once.
-- A replica a test arranges (p_self_starting false) starts the same way but
-- waits for the test (set_hydrated, set_replica_online): what the test
-- arranged does not change under a run. The owner defaults to the
-- cluster's. Returns its id.
CREATE FUNCTION mz_emulator.insert_replica(p_cluster_id text, p_name text, p_size text,
                                           p_owner_id text DEFAULT NULL,
                                           p_self_starting boolean DEFAULT true)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    rid text := 'u' || nextval('mz_emulator.replica_ids');
    delay_ms numeric := CASE WHEN mz_emulator.setting('replica_startup_delay_ms') ~ '^\d+(\.\d+)?$'
                             THEN mz_emulator.setting('replica_startup_delay_ms')::numeric END;
BEGIN
    INSERT INTO mz_catalog.mz_cluster_replicas (id, name, cluster_id, size, availability_zone, owner_id, disk)
    VALUES (rid, p_name, p_cluster_id, p_size, NULL,
            coalesce(p_owner_id, (SELECT owner_id FROM mz_catalog.mz_clusters WHERE id = p_cluster_id), 'u1'),
            false);
    IF delay_ms IS NULL THEN
        PERFORM mz_emulator.add_status_event(rid, 'online', NULL);
    ELSE
        PERFORM mz_emulator.add_status_event(rid, 'offline', 'initializing');
        INSERT INTO mz_emulator.replica_steps
        SELECT rid, 'online', now() + greatest(make_interval(secs => delay_ms / 1000.0),
                                               INTERVAL '1 microsecond'), NULL
        WHERE p_self_starting;
    END IF;
    INSERT INTO mz_emulator.hydration_statuses
    SELECT object_id, rid, false FROM mz_emulator.cluster_objects WHERE cluster_id = p_cluster_id;
    INSERT INTO mz_internal.mz_compute_hydration_statuses
    SELECT object_id, rid, false, NULL FROM mz_emulator.cluster_objects
    WHERE cluster_id = p_cluster_id AND compute;
    RETURN rid;
END $$;

CREATE FUNCTION mz_emulator.delete_replica(p_replica_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Status history stays, as in Materialize.
    DELETE FROM mz_catalog.mz_cluster_replicas WHERE id = p_replica_id;
    DELETE FROM mz_emulator.hydration_statuses WHERE replica_id = p_replica_id;
    DELETE FROM mz_internal.mz_compute_hydration_statuses WHERE replica_id = p_replica_id;
    DELETE FROM mz_internal.mz_pending_cluster_replicas WHERE id = p_replica_id;
    DELETE FROM mz_emulator.replica_steps WHERE replica_id = p_replica_id;
END $$;

CREATE FUNCTION mz_emulator.insert_cluster(p_name text, p_managed boolean, p_size text, p_rf bigint,
                                           p_owner_id text DEFAULT 'u1',
                                           p_self_starting boolean DEFAULT true)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cid text := 'u' || nextval('mz_emulator.cluster_ids');
BEGIN
    INSERT INTO mz_catalog.mz_clusters
    VALUES (cid, p_name, p_owner_id, ARRAY[format('%s=UC/%s', p_owner_id, p_owner_id)], p_managed,
            CASE WHEN p_managed THEN p_size END, CASE WHEN p_managed THEN p_rf END,
            CASE WHEN p_managed THEN false END, NULL, false, INTERVAL '1 second');
    IF p_managed THEN
        INSERT INTO mz_internal.mz_cluster_schedules VALUES (cid, 'manual', NULL);
        PERFORM mz_emulator.insert_replica(cid, 'r' || i, p_size, NULL, p_self_starting)
        FROM generate_series(1, p_rf) i;
    END IF;
    RETURN cid;
END $$;

-- The cluster row for a DDL statement; errors like Materialize when it is
-- missing (NULL when missing and if_exists) or a system cluster.
CREATE FUNCTION mz_emulator.resolve_cluster(p_name text, p_if_exists boolean,
                                            p_system_message text DEFAULT NULL)
RETURNS mz_catalog.mz_clusters LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
BEGIN
    SELECT * INTO c FROM mz_catalog.mz_clusters WHERE name = p_name;
    IF NOT FOUND THEN
        IF p_if_exists THEN
            RETURN NULL;
        END IF;
        PERFORM mz_emulator.fail(format('unknown cluster ''%s''', p_name));
    END IF;
    IF c.id LIKE 's%' AND p_system_message IS NOT NULL THEN
        PERFORM mz_emulator.fail(p_system_message);
    END IF;
    RETURN c;
END $$;

-- The replica row of cluster c for a DDL statement; errors like Materialize
-- when it is missing (`CLUSTER c has no CLUSTER REPLICA named "r"`, the
-- cluster printed bare, §2.3), or with if_exists says so and is NULL.
CREATE FUNCTION mz_emulator.resolve_replica(c mz_catalog.mz_clusters, p_replica text,
                                            p_if_exists boolean DEFAULT false)
RETURNS mz_catalog.mz_cluster_replicas LANGUAGE plpgsql AS $$
DECLARE
    r mz_catalog.mz_cluster_replicas;
BEGIN
    SELECT * INTO r FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id AND name = p_replica;
    IF r.id IS NULL THEN
        IF p_if_exists THEN
            RAISE NOTICE 'cluster replica ''%.%'' does not exist, skipping', c.name, p_replica;
            RETURN NULL;
        END IF;
        PERFORM mz_emulator.fail(format('CLUSTER %s has no CLUSTER REPLICA named "%s"',
                                        mz_emulator.ident(c.name), replace(p_replica, '"', '""')));
    END IF;
    RETURN r;
END $$;

-- ---------------------------------------------------------------------------
-- The session cluster (§8.2, §4)
-- ---------------------------------------------------------------------------

-- Asked by the proxy before it forwards a statement that names relations in
-- FROM/JOIN/INTO/UPDATE positions (p_refs: 'schema.name' or '.name') and that
-- is not a constant INSERT. Returns the error Materialize would raise (no row
-- = fine). Catalog-only statements are routed to mz_catalog_server
-- (auto_route_catalog_queries) and never fail here; a statement that touches
-- a user relation runs on the session cluster, which must exist
-- (`unknown cluster 'x'`), be usable by the role (rbac.rs: USAGE for a
-- non-constant read) and have a replica (AdapterError::NoClusterReplicasAvailable,
-- 0A000, with its hint; src/adapter/src/error.rs). A cluster whose replicas
-- are all still starting (none online, §8.7) fails nothing: Materialize
-- holds the statement until one is up. That is the row with code 'held',
-- no SQLSTATE: the proxy asks again until it goes (or the client gives up).
CREATE FUNCTION mz_emulator.session_cluster_error(p_cluster text, p_role text, p_refs text[])
RETURNS TABLE (code text, message text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM unnest(p_refs) ref
        JOIN pg_class k ON k.relname = split_part(ref, '.', 2)
        JOIN pg_namespace n ON n.oid = k.relnamespace
        WHERE k.relkind IN ('r', 'v', 'm', 'p', 'f')
          AND n.nspname NOT IN ('mz_catalog', 'mz_internal', 'mz_emulator', 'mz_introspection',
                                'pg_catalog', 'information_schema', 'pg_toast')
          AND (split_part(ref, '.', 1) = '' OR split_part(ref, '.', 1) = n.nspname)) THEN
        RETURN;
    END IF;
    SELECT * INTO c FROM mz_catalog.mz_clusters WHERE name = p_cluster;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'XX000', format('unknown cluster ''%s''', p_cluster), NULL::text;
        RETURN;
    END IF;
    IF NOT mz_emulator.has_privilege(p_role, c.owner_id, c.privileges, 'U') THEN
        RETURN QUERY SELECT '42501', format('permission denied for CLUSTER "%s"', c.name), NULL::text;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id) THEN
        RETURN QUERY SELECT '0A000',
            format('CLUSTER "%s" has no replicas available to service request', c.name),
            CASE WHEN c.managed
                 THEN 'Use ALTER CLUSTER to adjust the replication factor of the cluster. '
                      'Example:`ALTER CLUSTER <cluster-name> SET (REPLICATION FACTOR 1)`'
                 ELSE 'Use CREATE CLUSTER REPLICA to attach cluster replicas to the cluster' END;
        RETURN;
    END IF;
    PERFORM mz_emulator.tick_replicas();
    IF NOT EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replicas
                   WHERE cluster_id = c.id AND mz_emulator.replica_online(id)) THEN
        RETURN QUERY SELECT 'held', format('CLUSTER "%s" has no replica online yet', c.name), NULL::text;
    END IF;
END $$;

-- ---------------------------------------------------------------------------
-- Test controls (called by tests/it/support/mod.rs, never through the proxy)
-- ---------------------------------------------------------------------------

CREATE FUNCTION mz_emulator.set_setting(p_name text, p_value text, p_visible boolean DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mz_emulator.settings VALUES (p_name, p_value, coalesce(p_visible, true))
    ON CONFLICT (name) DO UPDATE
    SET value = excluded.value, visible = coalesce(p_visible, mz_emulator.settings.visible);
END $$;

-- A user catalog item on a cluster: p_kind 'index' | 'materialized-view' | 'source'.
-- It starts not hydrated on every existing replica. Returns its id.
CREATE FUNCTION mz_emulator.insert_item(p_kind text, p_cluster_id text, p_source_type text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint := nextval('mz_emulator.item_ids');
    item text := 'u' || n;
    item_oid oid := nextval('mz_emulator.oids');
BEGIN
    IF p_kind = 'index' THEN
        INSERT INTO mz_catalog.mz_indexes VALUES (
            item, item_oid, 'idx_' || n, 'u0', p_cluster_id, 'u1',
            format('CREATE INDEX idx_%s IN CLUSTER [%s] ON t (a)', n, p_cluster_id),
            format('CREATE INDEX idx_%s IN CLUSTER [%s] ON t (a)', n, p_cluster_id));
    ELSIF p_kind = 'materialized-view' THEN
        INSERT INTO mz_catalog.mz_materialized_views VALUES (
            item, item_oid, 'u3', 'mv_' || n, p_cluster_id, 'SELECT 1;', 'u1', ARRAY['u1=r/u1'],
            format('CREATE MATERIALIZED VIEW mv_%s IN CLUSTER [%s] AS SELECT 1', n, p_cluster_id),
            format('CREATE MATERIALIZED VIEW mv_%s IN CLUSTER [%s] AS SELECT 1', n, p_cluster_id));
    ELSIF p_kind = 'source' THEN
        INSERT INTO mz_catalog.mz_sources VALUES (
            item, item_oid, 'u3', 'src_' || n, coalesce(p_source_type, 'kafka'), NULL, NULL,
            'none', NULL, NULL, p_cluster_id, 'u1', ARRAY['u1=r/u1'],
            format('CREATE SOURCE src_%s IN CLUSTER [%s] ...', n, p_cluster_id),
            format('CREATE SOURCE src_%s IN CLUSTER [%s] ...', n, p_cluster_id));
    ELSE
        RAISE EXCEPTION 'unknown item kind %', p_kind;
    END IF;
    INSERT INTO mz_emulator.hydration_statuses
    SELECT o.object_id, r.id, false
    FROM mz_emulator.cluster_objects o JOIN mz_catalog.mz_cluster_replicas r USING (cluster_id)
    WHERE o.object_id = item;
    INSERT INTO mz_internal.mz_compute_hydration_statuses
    SELECT o.object_id, r.id, false, NULL
    FROM mz_emulator.cluster_objects o JOIN mz_catalog.mz_cluster_replicas r USING (cluster_id)
    WHERE o.object_id = item AND o.compute;
    RETURN item;
END $$;

-- Marks every object of the replica's cluster (not) hydrated on that replica.
-- A hydrated replica is running: when its latest status is not online (a new
-- replica still starting), it goes online now (§8.7). Then the resize
-- machinery gets a chance to cut over (emulator_resize.sql).
CREATE FUNCTION mz_emulator.set_hydrated(p_replica_id text, p_hydrated boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mz_emulator.write_hydration(p_replica_id, p_hydrated);
    PERFORM mz_emulator.tick_replicas();
    IF p_hydrated AND NOT mz_emulator.replica_online(p_replica_id) THEN
        PERFORM mz_emulator.add_status_event(p_replica_id, 'online', NULL);
    END IF;
    PERFORM mz_emulator.tick_reconfigurations();
END $$;

-- Whether every process of the replica reports online (a replica without
-- any status event counts as online). Startups that are due count only once
-- ticked (mz_emulator.tick_replicas), as a reader sees them.
CREATE FUNCTION mz_emulator.replica_online(p_replica_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(bool_and(status = 'online'), true)
    FROM (SELECT DISTINCT ON (process_id) status
          FROM mz_internal.mz_cluster_replica_status_history
          WHERE replica_id = p_replica_id
          ORDER BY process_id, occurred_at DESC) latest
$$;

-- Ready to take over (the signal Materialize cuts over on): online, and every
-- object of its cluster hydrated on it (vacuously true without objects).
CREATE FUNCTION mz_emulator.replica_ready(p_replica_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT mz_emulator.replica_online(p_replica_id)
       AND coalesce((SELECT bool_and(hydrated) FROM mz_emulator.hydration_statuses
                     WHERE replica_id = p_replica_id), true)
$$;

-- Everyone may call the emulator's functions (they check privileges the way
-- Materialize does) and read its settings (mz_version() does).
GRANT USAGE ON SCHEMA mz_catalog, mz_internal, mz_emulator TO PUBLIC;
GRANT SELECT ON mz_emulator.settings TO PUBLIC;
