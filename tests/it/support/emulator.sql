-- Materialize catalog emulation on PostgreSQL (loaded into a fresh database per Emulator).
--
-- Relation names, columns, column order and types follow
-- shared/reference/materialize-catalog.md §1 with the §0 type mapping:
-- uint4 -> bigint, uint8/mz_timestamp -> numeric(20,0), text list -> text[],
-- mz_aclitem[] -> text[]. Everything is a plain table (Materialize has them as
-- tables, MVs or sources depending on the release) except the views that
-- Materialize defines over other relations.
--
-- Cluster DDL is carried out by the procedures in schema mz_emulator, which
-- the wire proxy (proxy.rs) calls in place of Materialize's DDL statements.

CREATE SCHEMA mz_catalog;
CREATE SCHEMA mz_internal;
CREATE SCHEMA mz_emulator;

-- Ids: clusters, replicas and catalog items are separate namespaces (u<N>).
CREATE SEQUENCE mz_emulator.cluster_ids START 2;
CREATE SEQUENCE mz_emulator.replica_ids START 2;
CREATE SEQUENCE mz_emulator.item_ids START 1;
CREATE SEQUENCE mz_emulator.oids START 20000;

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

-- §1.7 (a view in Materialize; a table here so tests can set it directly)
CREATE TABLE mz_internal.mz_hydration_statuses (
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

-- §1.11
CREATE TABLE mz_internal.mz_statement_execution_history (
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
    execution_strategy text
);

CREATE VIEW mz_internal.mz_statement_execution_history_redacted AS
SELECT id, prepared_statement_id, sample_rate, cluster_id, application_name,
       cluster_name, database_name, search_path, transaction_isolation,
       execution_timestamp, transaction_id, transient_index_id, mz_version,
       began_at, finished_at, finished_status, result_size, rows_returned,
       execution_strategy
FROM mz_internal.mz_statement_execution_history;

-- §1.12: the statement history of the last day. Session and prepared-statement
-- columns the emulator does not model are typed NULLs (or derived values).
CREATE VIEW mz_internal.mz_recent_activity_log AS
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
FROM mz_internal.mz_statement_execution_history
WHERE began_at + INTERVAL '1 day' > now();

CREATE VIEW mz_internal.mz_recent_activity_log_redacted AS
SELECT execution_id, sample_rate, cluster_id, application_name, cluster_name,
       database_name, search_path, transaction_isolation, execution_timestamp,
       transient_index_id, mz_version, began_at, finished_at, finished_status,
       result_size, rows_returned, execution_strategy, transaction_id,
       prepared_statement_id, sql_hash, prepared_statement_name, session_id,
       prepared_at, statement_type, throttled_count, initial_application_name,
       authenticated_user, sql AS redacted_sql
FROM mz_internal.mz_recent_activity_log;

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

CREATE FUNCTION mz_emulator.fail(message text, hint text DEFAULT NULL,
                                 code text DEFAULT 'XX000') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF hint IS NULL THEN
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = code;
    ELSE
        RAISE EXCEPTION USING MESSAGE = message, ERRCODE = code, HINT = hint;
    END IF;
END $$;

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

-- An identifier as Materialize prints it: bare when it is a plain lowercase
-- word, double-quoted otherwise.
CREATE FUNCTION mz_emulator.ident(ident text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ident ~ '^[a-z_][a-z0-9_]*$' THEN ident
                ELSE '"' || replace(ident, '"', '""') || '"' END
$$;

CREATE FUNCTION mz_emulator.check_size(sz text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF sz IS NULL OR NOT EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replica_sizes WHERE size = sz) THEN
        PERFORM mz_emulator.fail(
            'unknown cluster replica size ' || coalesce(sz, ''),
            'Valid cluster replica sizes are: ' || (
                SELECT string_agg(size, ', ' ORDER BY processes, cpu_nano_cores, size)
                FROM mz_catalog.mz_cluster_replica_sizes));
    END IF;
END $$;

-- Serialises DDL like Materialize's coordinator does.
CREATE FUNCTION mz_emulator.ddl_lock() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(7463524, 1) $$;

-- Inserts a replica with its bookkeeping: an online status event per process
-- and not-yet-hydrated rows for every object of the cluster. Returns its id.
CREATE FUNCTION mz_emulator.insert_replica(p_cluster_id text, p_name text, p_size text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    rid text := 'u' || nextval('mz_emulator.replica_ids');
BEGIN
    INSERT INTO mz_catalog.mz_cluster_replicas (id, name, cluster_id, size, availability_zone, owner_id, disk)
    VALUES (rid, p_name, p_cluster_id, p_size, NULL, 'u1', false);
    INSERT INTO mz_internal.mz_cluster_replica_status_history
    SELECT rid, p, 'online', NULL, now()
    FROM generate_series(0, coalesce((SELECT processes::int FROM mz_catalog.mz_cluster_replica_sizes
                                      WHERE size = p_size), 1) - 1) p;
    INSERT INTO mz_internal.mz_hydration_statuses
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
    DELETE FROM mz_internal.mz_hydration_statuses WHERE replica_id = p_replica_id;
    DELETE FROM mz_internal.mz_compute_hydration_statuses WHERE replica_id = p_replica_id;
    DELETE FROM mz_internal.mz_pending_cluster_replicas WHERE id = p_replica_id;
END $$;

CREATE FUNCTION mz_emulator.insert_cluster(p_name text, p_managed boolean, p_size text, p_rf bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cid text := 'u' || nextval('mz_emulator.cluster_ids');
BEGIN
    INSERT INTO mz_catalog.mz_clusters
    VALUES (cid, p_name, 'u1', ARRAY['u1=UC/u1'], p_managed,
            CASE WHEN p_managed THEN p_size END, CASE WHEN p_managed THEN p_rf END,
            CASE WHEN p_managed THEN false END, NULL, false, INTERVAL '1 second');
    IF p_managed THEN
        INSERT INTO mz_internal.mz_cluster_schedules VALUES (cid, 'manual', NULL);
        PERFORM mz_emulator.insert_replica(cid, 'r' || i, p_size) FROM generate_series(1, p_rf) i;
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

-- ---------------------------------------------------------------------------
-- DDL (§2)
-- ---------------------------------------------------------------------------

CREATE PROCEDURE mz_emulator.create_cluster_replica(
    p_cluster text, p_replica text, p_size text, p_if_not_exists boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
BEGIN
    PERFORM mz_emulator.check_ident(p_cluster);
    PERFORM mz_emulator.check_ident(p_replica);
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_cluster, false,
                                     format('system cluster ''%s'' cannot be modified', p_cluster));
    IF c.managed THEN
        PERFORM mz_emulator.fail('cannot modify managed cluster ' || mz_emulator.ident(p_cluster));
    END IF;
    PERFORM mz_emulator.check_size(p_size);
    IF EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id AND name = p_replica) THEN
        IF p_if_not_exists THEN
            RAISE NOTICE 'cluster replica ''%.%'' already exists, skipping', p_cluster, p_replica;
            RETURN;
        END IF;
        PERFORM mz_emulator.fail(format(
            'cannot create multiple replicas named ''%s'' on cluster ''%s''', p_replica, p_cluster));
    END IF;
    PERFORM mz_emulator.insert_replica(c.id, p_replica, p_size);
END $$;

CREATE PROCEDURE mz_emulator.drop_cluster_replica(
    p_cluster text, p_replica text, p_if_exists boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
    rid text;
BEGIN
    PERFORM mz_emulator.check_ident(p_cluster);
    PERFORM mz_emulator.check_ident(p_replica);
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_cluster, p_if_exists);
    IF c.id IS NULL THEN
        RAISE NOTICE 'cluster ''%'' does not exist, skipping', p_cluster;
        RETURN;
    END IF;
    SELECT id INTO rid FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id AND name = p_replica;
    IF rid IS NULL THEN
        IF p_if_exists THEN
            RAISE NOTICE 'cluster replica ''%.%'' does not exist, skipping', p_cluster, p_replica;
            RETURN;
        END IF;
        PERFORM mz_emulator.fail(format('CLUSTER %s has no CLUSTER REPLICA named "%s"',
                                        mz_emulator.ident(p_cluster), replace(p_replica, '"', '""')));
    END IF;
    IF c.id LIKE 's%' THEN
        PERFORM mz_emulator.fail(format('system cluster replica ''%s'' cannot be modified', p_replica));
    END IF;
    IF c.managed THEN
        PERFORM mz_emulator.fail('cannot drop replica of managed cluster');
    END IF;
    PERFORM mz_emulator.delete_replica(rid);
END $$;

-- DROP CLUSTER REPLICA c1.r1, c2.r2: all or nothing.
CREATE PROCEDURE mz_emulator.drop_cluster_replicas(
    p_clusters text[], p_replicas text[], p_if_exists boolean DEFAULT false)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_clusters, 1), 0) LOOP
        CALL mz_emulator.drop_cluster_replica(p_clusters[i], p_replicas[i], p_if_exists);
    END LOOP;
END $$;

-- p_managed NULL means "default": unmanaged when REPLICAS is given, else managed.
-- p_replicas: [{"name": "r1", "size": "25cc"}, ...] or NULL.
-- p_schedule: 'manual' | 'on-refresh' | NULL.
CREATE PROCEDURE mz_emulator.create_cluster(
    p_name text, p_managed boolean, p_size text, p_replication_factor bigint,
    p_replicas jsonb, p_if_not_exists boolean DEFAULT false, p_schedule text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    managed boolean := coalesce(p_managed, p_replicas IS NULL);
    rf bigint := p_replication_factor;
    cid text;
    r jsonb;
BEGIN
    PERFORM mz_emulator.check_ident(p_name);
    PERFORM mz_emulator.ddl_lock();
    IF managed THEN
        IF p_replicas IS NOT NULL THEN
            PERFORM mz_emulator.fail('REPLICAS not supported for managed clusters');
        END IF;
        IF rf IS NOT NULL AND coalesce(p_schedule, 'manual') <> 'manual' THEN
            PERFORM mz_emulator.fail(
                'REPLICATION FACTOR cannot be given together with any SCHEDULE other than MANUAL');
        END IF;
        IF rf IS NULL THEN
            rf := CASE WHEN coalesce(p_schedule, 'manual') = 'manual' THEN 1 ELSE 0 END;
        END IF;
        IF rf < 0 THEN
            PERFORM mz_emulator.fail('invalid REPLICATION FACTOR: must be non-negative');
        END IF;
        PERFORM mz_emulator.check_size(coalesce(p_size, '25cc'));
    ELSE
        IF p_size IS NOT NULL THEN
            PERFORM mz_emulator.fail('SIZE not supported for unmanaged clusters');
        END IF;
        IF rf IS NOT NULL THEN
            PERFORM mz_emulator.fail('REPLICATION FACTOR not supported for unmanaged clusters');
        END IF;
        IF p_schedule IS NOT NULL AND p_schedule <> 'manual' THEN
            PERFORM mz_emulator.fail('SCHEDULE not supported for unmanaged clusters');
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM mz_catalog.mz_clusters WHERE name = p_name) THEN
        IF p_if_not_exists THEN
            RAISE NOTICE 'cluster ''%'' already exists, skipping', p_name;
            RETURN;
        END IF;
        PERFORM mz_emulator.fail(format('cluster ''%s'' already exists', p_name));
    END IF;
    FOR r IN SELECT * FROM jsonb_array_elements(coalesce(p_replicas, '[]'::jsonb)) LOOP
        PERFORM mz_emulator.check_ident(r->>'name');
        PERFORM mz_emulator.check_size(r->>'size');
    END LOOP;
    IF (SELECT count(DISTINCT e->>'name') <> count(*) FROM jsonb_array_elements(coalesce(p_replicas, '[]'::jsonb)) e) THEN
        PERFORM mz_emulator.fail(format('cannot create multiple replicas named ''%s'' on cluster ''%s''',
            (SELECT e->>'name' FROM jsonb_array_elements(p_replicas) e GROUP BY 1 HAVING count(*) > 1 LIMIT 1),
            p_name));
    END IF;
    cid := mz_emulator.insert_cluster(p_name, managed, coalesce(p_size, '25cc'), rf);
    IF managed AND p_schedule = 'on-refresh' THEN
        UPDATE mz_internal.mz_cluster_schedules SET type = 'on-refresh' WHERE cluster_id = cid;
    END IF;
    FOR r IN SELECT * FROM jsonb_array_elements(coalesce(p_replicas, '[]'::jsonb)) LOOP
        PERFORM mz_emulator.insert_replica(cid, r->>'name', r->>'size');
    END LOOP;
END $$;

-- Makes a managed cluster's replicas r1..rN of its size: drops the others,
-- creates the missing ones.
CREATE FUNCTION mz_emulator.reconcile_managed(p_cluster_id text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
BEGIN
    SELECT * INTO c FROM mz_catalog.mz_clusters WHERE id = p_cluster_id;
    PERFORM mz_emulator.delete_replica(r.id)
    FROM mz_catalog.mz_cluster_replicas r
    WHERE r.cluster_id = c.id
      AND (r.size IS DISTINCT FROM c.size
           OR r.name NOT IN (SELECT 'r' || i FROM generate_series(1, c.replication_factor) i));
    PERFORM mz_emulator.insert_replica(c.id, 'r' || i, c.size)
    FROM generate_series(1, c.replication_factor) i
    WHERE NOT EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replicas r
                      WHERE r.cluster_id = c.id AND r.name = 'r' || i);
END $$;

-- ALTER CLUSTER c SET (...). p_options keys (all optional):
--   "managed": bool, "size": text, "replication_factor": int,
--   "schedule": "manual" | "on-refresh", "hydration_time_estimate": text (interval),
--   "reset": [option names] for ALTER CLUSTER c RESET (...), "if_exists": bool.
-- Graceful resizes (WITH (WAIT ...)) are carried out at once.
CREATE PROCEDURE mz_emulator.alter_cluster_set(p_name text, p_options jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
    o jsonb := coalesce(p_options, '{}'::jsonb);
    to_managed boolean;
    new_size text;
    new_rf bigint;
    n bigint;
    sizes text[];
    bad text;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_name, coalesce((o->>'if_exists')::boolean, false),
                                     format('system cluster ''%s'' cannot be modified', p_name));
    IF c.id IS NULL THEN
        RAISE NOTICE 'cluster ''%'' does not exist, skipping', p_name;
        RETURN;
    END IF;
    IF o ? 'reset' THEN
        IF o->'reset' ? 'size' THEN
            PERFORM mz_emulator.fail('SIZE has no default value');
        END IF;
        IF o->'reset' ? 'replication_factor' THEN
            IF NOT c.managed THEN
                PERFORM mz_emulator.fail('Cannot change REPLICATION FACTOR of unmanaged clusters');
            END IF;
            o := o || '{"replication_factor": 1}';
        END IF;
        IF o->'reset' ? 'schedule' THEN
            o := o || '{"schedule": "manual"}';
        END IF;
        IF o->'reset' ? 'managed' THEN
            o := o || '{"managed": true}';
        END IF;
    END IF;
    IF o ? 'size' THEN
        PERFORM mz_emulator.check_size(o->>'size');
    END IF;
    to_managed := coalesce((o->>'managed')::boolean, c.managed);

    IF NOT to_managed THEN
        IF o ? 'size' THEN
            PERFORM mz_emulator.fail('SIZE not supported for unmanaged clusters');
        END IF;
        IF o ? 'replication_factor' THEN
            PERFORM mz_emulator.fail('REPLICATION FACTOR not supported for unmanaged clusters');
        END IF;
        IF c.managed THEN
            UPDATE mz_catalog.mz_clusters
            SET managed = false, size = NULL, replication_factor = NULL, disk = NULL
            WHERE id = c.id;
            DELETE FROM mz_internal.mz_cluster_schedules WHERE cluster_id = c.id;
        END IF;
        RETURN;
    END IF;

    IF NOT c.managed THEN
        -- Unmanaged -> managed: the existing replicas must already look managed.
        SELECT count(*), array_agg(DISTINCT size ORDER BY size) INTO n, sizes
        FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id;
        SELECT string_agg(name, ', ' ORDER BY name) INTO bad
        FROM mz_catalog.mz_cluster_replicas
        WHERE cluster_id = c.id AND name NOT IN (SELECT 'r' || i FROM generate_series(1, n) i);
        IF bad IS NOT NULL THEN
            PERFORM mz_emulator.fail(
                'Cannot convert unmanaged cluster to managed, invalid replica names: ' || bad);
        END IF;
        IF array_length(sizes, 1) > 1 THEN
            PERFORM mz_emulator.fail('Cannot convert unmanaged cluster to managed, non-unique replica sizes: '
                                     || array_to_string(sizes, ', '));
        END IF;
        IF n = 0 AND NOT o ? 'size' THEN
            PERFORM mz_emulator.fail('Missing SIZE for empty cluster');
        END IF;
        IF n > 0 AND o ? 'size' AND sizes[1] <> o->>'size' THEN
            PERFORM mz_emulator.fail(format('Cluster replicas of size %s do not match expected SIZE %s',
                                            sizes[1], o->>'size'));
        END IF;
        IF o ? 'replication_factor' AND (o->>'replication_factor')::bigint <> n THEN
            PERFORM mz_emulator.fail(format('REPLICATION FACTOR %s does not match number of replicas (%s)',
                                            o->>'replication_factor', n));
        END IF;
        UPDATE mz_catalog.mz_clusters
        SET managed = true, size = coalesce(sizes[1], o->>'size'), replication_factor = n, disk = false
        WHERE id = c.id;
        INSERT INTO mz_internal.mz_cluster_schedules VALUES (c.id, 'manual', NULL);
        SELECT * INTO c FROM mz_catalog.mz_clusters WHERE id = c.id;
    END IF;

    new_size := coalesce(o->>'size', c.size);
    new_rf := coalesce((o->>'replication_factor')::bigint, c.replication_factor);
    IF new_rf < 0 THEN
        PERFORM mz_emulator.fail('invalid REPLICATION FACTOR: must be non-negative');
    END IF;
    IF o ? 'schedule' THEN
        IF o->>'schedule' <> 'manual' AND o ? 'replication_factor' THEN
            PERFORM mz_emulator.fail(
                'REPLICATION FACTOR cannot be given together with any SCHEDULE other than MANUAL');
        END IF;
        UPDATE mz_internal.mz_cluster_schedules
        SET type = o->>'schedule',
            refresh_hydration_time_estimate = CASE WHEN o->>'schedule' = 'on-refresh'
                                                   THEN (o->>'hydration_time_estimate')::interval END
        WHERE cluster_id = c.id;
    END IF;
    UPDATE mz_catalog.mz_clusters SET size = new_size, replication_factor = new_rf WHERE id = c.id;
    PERFORM mz_emulator.reconcile_managed(c.id);
END $$;

CREATE PROCEDURE mz_emulator.drop_cluster(p_name text, p_if_exists boolean DEFAULT false,
                                          p_cascade boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
    dependent text;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_name, p_if_exists,
                                     format('system cluster ''%s'' cannot be modified', p_name));
    IF c.id IS NULL THEN
        RAISE NOTICE 'cluster ''%'' does not exist, skipping', p_name;
        RETURN;
    END IF;
    SELECT object_id INTO dependent FROM mz_emulator.cluster_objects WHERE cluster_id = c.id LIMIT 1;
    IF dependent IS NOT NULL AND NOT p_cascade THEN
        PERFORM mz_emulator.fail(
            format('cannot drop cluster %s: still depended upon by catalog item ''%s''',
                   mz_emulator.ident(p_name), dependent),
            NULL, '2BP01');
    END IF;
    PERFORM mz_emulator.delete_replica(id) FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id;
    DELETE FROM mz_catalog.mz_indexes WHERE cluster_id = c.id;
    DELETE FROM mz_catalog.mz_materialized_views WHERE cluster_id = c.id;
    DELETE FROM mz_catalog.mz_sources WHERE cluster_id = c.id;
    DELETE FROM mz_internal.mz_cluster_schedules WHERE cluster_id = c.id;
    DELETE FROM mz_catalog.mz_clusters WHERE id = c.id;
END $$;

-- ---------------------------------------------------------------------------
-- Test controls (called by tests/it/support/mod.rs, never through the proxy)
-- ---------------------------------------------------------------------------

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
    INSERT INTO mz_internal.mz_hydration_statuses
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
CREATE FUNCTION mz_emulator.set_hydrated(p_replica_id text, p_hydrated boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cid text := (SELECT cluster_id FROM mz_catalog.mz_cluster_replicas WHERE id = p_replica_id);
BEGIN
    DELETE FROM mz_internal.mz_hydration_statuses WHERE replica_id = p_replica_id;
    DELETE FROM mz_internal.mz_compute_hydration_statuses WHERE replica_id = p_replica_id;
    INSERT INTO mz_internal.mz_hydration_statuses
    SELECT object_id, p_replica_id, p_hydrated FROM mz_emulator.cluster_objects WHERE cluster_id = cid;
    INSERT INTO mz_internal.mz_compute_hydration_statuses
    SELECT object_id, p_replica_id, p_hydrated,
           CASE WHEN p_hydrated THEN INTERVAL '2 seconds' END
    FROM mz_emulator.cluster_objects WHERE cluster_id = cid AND compute;
END $$;
