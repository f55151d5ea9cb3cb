-- ALTER CLUSTER on managed clusters in each Materialize release (reference
-- §2.4, §8.1). The `release` setting picks the behaviour:
--
--   instant     the lenient default: every change is carried out at once,
--               WITH (WAIT ...) is accepted and has nothing to wait for.
--   gated       a release where graceful reconfiguration sits behind the
--               feature flag enable_zero_downtime_cluster_reconfiguration
--               (off): WITH (WAIT ...) is rejected; with the flag on it
--               behaves as `blocking`.
--   blocking    (<= v26.34, legacy staged reconfiguration) plain SET (SIZE)
--               restarts the cluster (replicas replaced at once, downtime);
--               SET (SIZE) WITH (WAIT ...) creates `rN-pending` replicas
--               (also in mz_internal.mz_pending_cluster_replicas), holds the
--               session until they are ready or the timeout lapses, keeps the
--               old mz_clusters.size meanwhile, then cuts over, or with
--               ON TIMEOUT 'ROLLBACK' drops them and fails with 57014. Any
--               other ALTER of the cluster meanwhile fails with 55006.
--   background  (>= v26.35, cluster controller) SET (SIZE), with or without
--               WITH (WAIT ...), writes a reconfiguration record, creates the
--               target replicas under fresh names and returns; the cut-over
--               happens when they are ready, or at the deadline (default 1 day,
--               ON TIMEOUT default ROLLBACK). mz_clusters.size shows the old
--               size until then. Another SIZE change folds into the record
--               (target, deadline, on-timeout overwritten; the current size
--               cancels it); REPLICATION FACTOR, SCHEDULE and MANAGED = false
--               fail with 55006 while it is in flight. With the setting
--               enable_background_alter_cluster off, the statement waits for
--               the record to settle, as in `blocking`.
--
-- "Ready" is mz_emulator.replica_ready: online and hydrated. Progress without
-- a waiting session happens in mz_emulator.tick_reconfigurations, which
-- stands in for Materialize's controller loop: it runs at the start of every
-- ALTER CLUSTER, by Emulator::set_hydrated and friends, and before every
-- statement that reads the catalog relations a resize changes (through the
-- proxy, or the test helpers), so no reader sees a deadline that has passed
-- as still in flight. Errors: `canceling statement, provided timeout lapsed`
-- (AdapterError::AlterClusterTimeout, 57014), `cannot alter clusters with
-- pending updates` (AlterClusterWhilePendingReplicas, 55006), both in
-- src/adapter/src/error.rs; `cannot change replication factor while a
-- reconfiguration is in progress` and its SCHEDULE/MANAGED siblings (55006,
-- newer releases, per Materialize's own expected-error list for them); the
-- feature-flag error from src/sql/src/session/vars (VarError::RequiresFeatureFlag
-- with the flag's description from definitions.rs; planning errors are XX000).

CREATE TABLE mz_emulator.reconfigurations (
    id bigserial PRIMARY KEY,
    cluster_id text NOT NULL,
    -- 'blocking' (legacy pending replicas) | 'background' (controller record)
    mode text NOT NULL,
    target_size text NOT NULL,
    target_rf bigint NOT NULL,
    target_replicas text[] NOT NULL,
    started_at timestamptz NOT NULL,
    deadline timestamptz NOT NULL,
    -- 'commit' | 'rollback'
    on_timeout text NOT NULL,
    -- false for the legacy WAIT FOR: cut over at the deadline, whatever the state
    honor_readiness boolean NOT NULL,
    -- the session waiting on it (legacy: its end drops the pending replicas)
    waiter_pid integer,
    -- 'pending' | 'done' | 'timed-out' | 'cancelled'
    status text NOT NULL,
    resolved_at timestamptz
);
CREATE UNIQUE INDEX ON mz_emulator.reconfigurations (cluster_id) WHERE status = 'pending';

-- Makes a managed cluster's replicas r1..rN of its size: drops the others,
-- creates the missing ones (the legacy sequencer; a restart with downtime).
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

-- The next free replica names rN of a cluster (the controller's generator
-- names: a resize churns names, r1 -> r2).
CREATE FUNCTION mz_emulator.fresh_replica_names(p_cluster_id text, p_count bigint) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg('r' || (base + i) ORDER BY i), ARRAY[]::text[])
    FROM (SELECT coalesce(max(substring(name FROM '^r(\d+)')::bigint), 0) AS base
          FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = p_cluster_id) b,
         generate_series(1, p_count) i
$$;

-- The controller matches replicas by shape and count, never by name.
CREATE FUNCTION mz_emulator.reconcile_by_count(p_cluster_id text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c mz_catalog.mz_clusters;
    n bigint;
BEGIN
    SELECT * INTO c FROM mz_catalog.mz_clusters WHERE id = p_cluster_id;
    PERFORM mz_emulator.delete_replica(id) FROM mz_catalog.mz_cluster_replicas
    WHERE cluster_id = c.id AND size IS DISTINCT FROM c.size;
    n := (SELECT count(*) FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id);
    IF n > c.replication_factor THEN
        PERFORM mz_emulator.delete_replica(id)
        FROM (SELECT id FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id
              ORDER BY length(name) DESC, name DESC LIMIT n - c.replication_factor) surplus;
    ELSIF n < c.replication_factor THEN
        PERFORM mz_emulator.insert_replica(c.id, name, c.size)
        FROM unnest(mz_emulator.fresh_replica_names(c.id, c.replication_factor - n)) name;
    END IF;
END $$;

CREATE FUNCTION mz_emulator.reconcile(p_cluster_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF mz_emulator.setting('release') = 'background' THEN
        PERFORM mz_emulator.reconcile_by_count(p_cluster_id);
    ELSE
        PERFORM mz_emulator.reconcile_managed(p_cluster_id);
    END IF;
END $$;

-- Cut-over: the target replicas replace the others, the size is realized.
CREATE FUNCTION mz_emulator.reconfiguration_finish(p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r mz_emulator.reconfigurations;
BEGIN
    SELECT * INTO r FROM mz_emulator.reconfigurations WHERE id = p_id;
    PERFORM mz_emulator.delete_replica(id) FROM mz_catalog.mz_cluster_replicas
    WHERE cluster_id = r.cluster_id AND id <> ALL (r.target_replicas);
    IF r.mode = 'blocking' THEN
        UPDATE mz_catalog.mz_cluster_replicas SET name = regexp_replace(name, '-pending$', '')
        WHERE id = ANY (r.target_replicas);
        DELETE FROM mz_internal.mz_pending_cluster_replicas WHERE id = ANY (r.target_replicas);
    END IF;
    UPDATE mz_catalog.mz_clusters SET size = r.target_size, replication_factor = r.target_rf
    WHERE id = r.cluster_id;
    UPDATE mz_emulator.reconfigurations SET status = 'done', resolved_at = now() WHERE id = p_id;
END $$;

-- Roll back: the target replicas go, the cluster keeps its realized shape.
CREATE FUNCTION mz_emulator.reconfiguration_rollback(p_id bigint, p_status text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r mz_emulator.reconfigurations;
BEGIN
    SELECT * INTO r FROM mz_emulator.reconfigurations WHERE id = p_id;
    PERFORM mz_emulator.delete_replica(t) FROM unnest(r.target_replicas) t;
    UPDATE mz_emulator.reconfigurations SET status = p_status, resolved_at = now() WHERE id = p_id;
END $$;

-- One controller step for one record: cut over when ready, act at the
-- deadline. Returns the record's status afterwards.
CREATE FUNCTION mz_emulator.reconfiguration_step(p_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    r mz_emulator.reconfigurations;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    PERFORM mz_emulator.tick_replicas();
    SELECT * INTO r FROM mz_emulator.reconfigurations WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN 'cancelled';
    END IF;
    IF r.status <> 'pending' THEN
        RETURN r.status;
    END IF;
    IF r.honor_readiness
       AND NOT EXISTS (SELECT 1 FROM unnest(r.target_replicas) t WHERE NOT mz_emulator.replica_ready(t)) THEN
        PERFORM mz_emulator.reconfiguration_finish(p_id);
        RETURN 'done';
    END IF;
    IF now() >= r.deadline THEN
        IF r.on_timeout = 'commit' THEN
            PERFORM mz_emulator.reconfiguration_finish(p_id);
            RETURN 'done';
        END IF;
        PERFORM mz_emulator.reconfiguration_rollback(p_id, 'timed-out');
        RETURN 'timed-out';
    END IF;
    RETURN 'pending';
END $$;

-- The waiting session was canceled (or timed out): its pending replicas go.
CREATE FUNCTION mz_emulator.reconfiguration_abort(p_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    PERFORM mz_emulator.ddl_lock();
    IF EXISTS (SELECT 1 FROM mz_emulator.reconfigurations WHERE id = p_id AND status = 'pending') THEN
        PERFORM mz_emulator.reconfiguration_rollback(p_id, 'cancelled');
    END IF;
END $$;

-- The waiting statement of session p_pid failed (a cancel or a timeout, even
-- one that landed in its COMMIT, where no block catches it): its pending
-- replicas go with the statement, as in Materialize. The proxy calls it
-- before the client sees the error.
CREATE FUNCTION mz_emulator.waiting_statement_failed(p_pid integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    r_id bigint;
BEGIN
    FOR r_id IN SELECT id FROM mz_emulator.reconfigurations
                WHERE status = 'pending' AND mode = 'blocking' AND waiter_pid = p_pid LOOP
        PERFORM mz_emulator.reconfiguration_abort(r_id);
    END LOOP;
END $$;

-- The controller loop: the orchestrator's due steps are taken; every
-- record in flight takes a step; legacy pending replicas whose session is
-- gone are dropped (connection-lifecycle cleanup).
CREATE FUNCTION mz_emulator.tick_reconfigurations() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    r mz_emulator.reconfigurations;
BEGIN
    PERFORM mz_emulator.tick_replicas();
    FOR r IN SELECT * FROM mz_emulator.reconfigurations WHERE status = 'pending' ORDER BY id LOOP
        IF r.mode = 'blocking' AND r.waiter_pid IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = r.waiter_pid) THEN
            PERFORM mz_emulator.ddl_lock();
            PERFORM mz_emulator.reconfiguration_rollback(r.id, 'cancelled');
        ELSE
            PERFORM mz_emulator.reconfiguration_step(r.id);
        END IF;
    END LOOP;
END $$;

-- The controller as a reader sees it. Materialize's controller runs on its
-- own: a read of the catalog after a deadline already sees the rollback (or
-- the cut-over), whether or not anything poked the controller. The proxy
-- calls this before forwarding any statement that reads what a resize
-- changes (route::reads_reconfiguration_state), and so do the test helpers
-- that read the catalog. With nothing in flight it is one probe of a small
-- table. A session that holds the DDL lock in an open transaction (its DDL
-- not yet committed) would stall the reader for good: after a short wait the
-- tick is skipped, and a later read catches up. The orchestrator's steps
-- that are due (a start-up, a restart after an OOM kill, a re-hydration,
-- the next kill of a crash loop) are taken first (emulator.sql,
-- tick_replicas), so a reader of statuses and hydration sees them.
CREATE FUNCTION mz_emulator.tick_reconfigurations_for_reader() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET lock_timeout = '2s' AS $$
BEGIN
    BEGIN
        PERFORM mz_emulator.tick_replicas();
    EXCEPTION WHEN lock_not_available THEN
        RAISE NOTICE 'replicas not ticked: a row is locked';
    END;
    IF NOT EXISTS (SELECT 1 FROM mz_emulator.reconfigurations WHERE status = 'pending') THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM mz_emulator.tick_reconfigurations();
    EXCEPTION WHEN lock_not_available THEN
        RAISE NOTICE 'reconfigurations not ticked: the DDL lock is held';
    END;
END $$;

-- Test control: the deadline of the cluster's reconfiguration lapses now.
CREATE FUNCTION mz_emulator.expire_reconfiguration(p_cluster_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mz_emulator.reconfigurations SET deadline = now() - INTERVAL '1 millisecond'
    WHERE cluster_id = p_cluster_id AND status = 'pending';
END $$;

-- Starts a reconfiguration of cluster c to (size, rf); returns its id.
CREATE FUNCTION mz_emulator.reconfiguration_begin(p_cluster_id text, p_mode text, p_size text,
                                                  p_rf bigint, p_wait jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    legacy boolean := p_mode = 'blocking';
    kind text := coalesce(p_wait->>'kind', 'until_ready');
    timeout interval := coalesce(p_wait->>'timeout',
                                 mz_emulator.setting('default_cluster_reconfiguration_timeout'))::interval;
    on_timeout text := lower(coalesce(p_wait->>'on_timeout',
                                      CASE WHEN legacy THEN 'commit' ELSE 'rollback' END));
    names text[];
    targets text[];
    rec_id bigint;
BEGIN
    IF legacy THEN
        names := ARRAY(SELECT 'r' || i || '-pending' FROM generate_series(1, p_rf) i);
    ELSE
        names := mz_emulator.fresh_replica_names(p_cluster_id, p_rf);
    END IF;
    targets := ARRAY(SELECT mz_emulator.insert_replica(p_cluster_id, n, p_size) FROM unnest(names) n);
    IF legacy THEN
        INSERT INTO mz_internal.mz_pending_cluster_replicas SELECT unnest(targets);
    END IF;
    INSERT INTO mz_emulator.reconfigurations
        (cluster_id, mode, target_size, target_rf, target_replicas, started_at, deadline,
         on_timeout, honor_readiness, waiter_pid, status)
    VALUES (p_cluster_id, p_mode, p_size, p_rf, targets, now(), now() + timeout,
            CASE WHEN legacy AND kind = 'for' THEN 'commit' ELSE on_timeout END,
            NOT (legacy AND kind = 'for'),
            CASE WHEN legacy THEN pg_backend_pid() END, 'pending')
    RETURNING id INTO rec_id;
    RETURN rec_id;
END $$;

-- A second SIZE change while one is in flight (background): re-targets the
-- record, or cancels it when it asks for the realized size.
CREATE FUNCTION mz_emulator.reconfiguration_fold(p_id bigint, p_realized_size text, p_size text,
                                                 p_wait jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r mz_emulator.reconfigurations;
    names text[];
    targets text[];
BEGIN
    SELECT * INTO r FROM mz_emulator.reconfigurations WHERE id = p_id;
    IF p_size = p_realized_size THEN
        PERFORM mz_emulator.reconfiguration_rollback(p_id, 'cancelled');
        RETURN;
    END IF;
    IF p_size <> r.target_size THEN
        -- Fresh names (taken before the old targets go): replica names churn.
        names := mz_emulator.fresh_replica_names(r.cluster_id, r.target_rf);
        PERFORM mz_emulator.delete_replica(t) FROM unnest(r.target_replicas) t;
        targets := ARRAY(SELECT mz_emulator.insert_replica(r.cluster_id, n, p_size)
                         FROM unnest(names) n);
        UPDATE mz_emulator.reconfigurations SET target_size = p_size, target_replicas = targets
        WHERE id = p_id;
    END IF;
    UPDATE mz_emulator.reconfigurations
    SET deadline = now() + coalesce(p_wait->>'timeout',
                                    mz_emulator.setting('default_cluster_reconfiguration_timeout'))::interval,
        on_timeout = lower(coalesce(p_wait->>'on_timeout', 'rollback'))
    WHERE id = p_id;
END $$;

-- ALTER CLUSTER c SET (...) / RESET (...) without the waiting: validates,
-- changes the catalog, and returns the id of a reconfiguration the statement
-- must wait for (NULL: done). p_options keys (all optional):
--   "managed": bool, "size": text, "replication_factor": int,
--   "schedule": "manual" | "on-refresh", "hydration_time_estimate": text (interval),
--   "reset": [option names] for ALTER CLUSTER c RESET (...), "if_exists": bool,
--   "wait": {"kind": "until_ready" | "for", "timeout": text, "on_timeout": "commit" | "rollback"}.
CREATE FUNCTION mz_emulator.alter_cluster_apply(p_name text, p_options jsonb, p_actor text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    c mz_catalog.mz_clusters;
    rec mz_emulator.reconfigurations;
    o jsonb := coalesce(p_options, '{}'::jsonb);
    release text := mz_emulator.setting('release');
    wait jsonb;
    to_managed boolean;
    new_size text;
    new_rf bigint;
    n bigint;
    sizes text[];
    bad text;
    rec_id bigint;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    PERFORM mz_emulator.tick_reconfigurations();
    c := mz_emulator.resolve_cluster(p_name, coalesce((o->>'if_exists')::boolean, false),
                                     format('system cluster ''%s'' cannot be modified', p_name));
    IF c.id IS NULL THEN
        RAISE NOTICE 'cluster ''%'' does not exist, skipping', p_name;
        RETURN NULL;
    END IF;
    wait := o->'wait';
    IF wait IS NOT NULL AND release <> 'instant'
       AND NOT mz_emulator.setting_on('enable_zero_downtime_cluster_reconfiguration') THEN
        PERFORM mz_emulator.fail(
            'Enable zero-downtime reconfiguration for alter cluster is not supported', NULL, 'XX000',
            'The requested feature is typically meant only for internal development and testing of Materialize.');
    END IF;
    IF o ? 'reset' THEN
        IF o->'reset' ? 'size' THEN
            -- §2.4: on an unmanaged cluster the RESET variants refuse the
            -- change itself, as RESET (REPLICATION FACTOR) below does.
            IF NOT c.managed THEN
                PERFORM mz_emulator.fail('Cannot change SIZE of unmanaged clusters');
            END IF;
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
    END IF;
    PERFORM mz_emulator.require_owner(p_actor, c.owner_id, 'CLUSTER ' || c.name);

    SELECT * INTO rec FROM mz_emulator.reconfigurations WHERE cluster_id = c.id AND status = 'pending';
    IF rec.id IS NOT NULL THEN
        IF rec.mode = 'blocking' THEN
            PERFORM mz_emulator.fail('cannot alter clusters with pending updates', NULL, '55006');
        ELSIF o ? 'replication_factor' THEN
            PERFORM mz_emulator.fail(
                'cannot change replication factor while a reconfiguration is in progress', NULL, '55006');
        ELSIF o ? 'schedule' THEN
            PERFORM mz_emulator.fail(
                'cannot change the cluster schedule while a reconfiguration is in progress', NULL, '55006');
        ELSIF NOT to_managed THEN
            PERFORM mz_emulator.fail(
                'cannot convert cluster to unmanaged while a reconfiguration is in progress', NULL, '55006');
        END IF;
    END IF;

    IF NOT to_managed THEN
        IF c.managed THEN
            UPDATE mz_catalog.mz_clusters
            SET managed = false, size = NULL, replication_factor = NULL, disk = NULL
            WHERE id = c.id;
            DELETE FROM mz_internal.mz_cluster_schedules WHERE cluster_id = c.id;
        END IF;
        RETURN NULL;
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
    PERFORM mz_emulator.check_replica_limit(
        (SELECT count(*) FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id), new_rf);

    -- The region's credit limit (emulator_ddl.sql, check_credit_limit), judged
    -- as Materialize's sequencer builds the catalog transaction
    -- (sequence_alter_cluster_managed_to_managed in
    -- src/adapter/src/coord/sequencer/inner/cluster.rs): a graceful resize
    -- only creates (the new replicas beside the old, pending); a restart or a
    -- replication factor change drops and creates in one transaction, judged
    -- by its net change. Folding a new size into a record in flight replaces
    -- its targets.
    IF rec.id IS NOT NULL THEN
        IF o ? 'size' AND new_size IS DISTINCT FROM c.size AND new_size <> rec.target_size THEN
            PERFORM mz_emulator.check_credit_limit(
                rec.target_rf * (mz_emulator.size_credits(new_size) - mz_emulator.size_credits(rec.target_size)));
        END IF;
    ELSIF new_size IS NOT DISTINCT FROM c.size
       OR release = 'instant'
       OR (release IN ('gated', 'blocking') AND wait IS NULL) THEN
        PERFORM mz_emulator.check_credit_limit(
            new_rf * mz_emulator.size_credits(new_size) - mz_emulator.cluster_credits(c.id));
    ELSE
        PERFORM mz_emulator.check_credit_limit(new_rf * mz_emulator.size_credits(new_size));
    END IF;

    IF rec.id IS NOT NULL THEN
        -- background, in flight: a SIZE change folds into the record
        IF o ? 'size' THEN
            PERFORM mz_emulator.reconfiguration_fold(rec.id, c.size, new_size, wait);
            IF mz_emulator.reconfiguration_step(rec.id) = 'pending'
               AND NOT mz_emulator.setting_on('enable_background_alter_cluster') THEN
                RETURN rec.id;
            END IF;
        END IF;
        RETURN NULL;
    END IF;

    IF new_size IS NOT DISTINCT FROM c.size
       OR release = 'instant'
       OR (release IN ('gated', 'blocking') AND wait IS NULL) THEN
        UPDATE mz_catalog.mz_clusters SET size = new_size, replication_factor = new_rf WHERE id = c.id;
        PERFORM mz_emulator.reconcile(c.id);
        RETURN NULL;
    END IF;
    IF release IN ('gated', 'blocking') THEN
        RETURN mz_emulator.reconfiguration_begin(c.id, 'blocking', new_size, new_rf, wait);
    END IF;
    rec_id := mz_emulator.reconfiguration_begin(c.id, 'background', new_size, new_rf, wait);
    IF mz_emulator.reconfiguration_step(rec_id) = 'pending'
       AND NOT mz_emulator.setting_on('enable_background_alter_cluster') THEN
        RETURN rec_id;
    END IF;
    RETURN NULL;
END $$;

-- ALTER CLUSTER as the proxy calls it. Not SECURITY DEFINER, because waiting
-- commits between steps so other sessions see the pending replicas and can
-- mark them hydrated (PostgreSQL forbids transaction control in definer
-- procedures); the catalog changes happen in the definer functions above.
CREATE PROCEDURE mz_emulator.alter_cluster_set(p_name text, p_options jsonb, p_actor text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    rec_id bigint;
    status text;
    canceled text;
BEGIN
    rec_id := mz_emulator.alter_cluster_apply(p_name, p_options, p_actor);
    IF rec_id IS NULL THEN
        RETURN;
    END IF;
    COMMIT;
    LOOP
        -- A cancel lands in the step as well as in the sleep: either way
        -- the pending replicas go with the statement, as in Materialize
        -- (caught only in the sleep, a cancel during a step left them for
        -- the controller loop, which drops them only once the session is
        -- gone). COMMIT cannot be inside a block that catches: a cancel
        -- that lands there is the proxy's to handle, before the client
        -- sees it (mz_emulator.waiting_statement_failed).
        BEGIN
            status := mz_emulator.reconfiguration_step(rec_id);
        EXCEPTION WHEN query_canceled THEN
            canceled := SQLERRM;
        END;
        IF canceled IS NULL THEN
            COMMIT;
            EXIT WHEN status <> 'pending';
            BEGIN
                PERFORM pg_sleep(0.05);
            EXCEPTION WHEN query_canceled THEN
                canceled := SQLERRM;
            END;
        END IF;
        IF canceled IS NOT NULL THEN
            PERFORM mz_emulator.reconfiguration_abort(rec_id);
            COMMIT;
            RAISE EXCEPTION USING MESSAGE = canceled, ERRCODE = '57014';
        END IF;
    END LOOP;
    IF status = 'timed-out' THEN
        RAISE EXCEPTION USING MESSAGE = 'canceling statement, provided timeout lapsed', ERRCODE = '57014',
                              HINT = 'Consider increasing the timeout duration in the alter cluster statement.';
    ELSIF status = 'cancelled' THEN
        RAISE EXCEPTION USING MESSAGE = 'canceling statement due to user request', ERRCODE = '57014';
    END IF;
END $$;

-- Materialize's catalog (mz_catalog, mz_internal) is readable by every role
-- (builtin access PUBLIC_SELECT; §8.4: mz_cluster_replica_status_history is
-- public). The statement-log views check mz_monitor themselves
-- (mz_emulator.require_monitor); configure_optional_relations grants what
-- it creates later. Loaded last, so every relation above is covered.
GRANT SELECT ON ALL TABLES IN SCHEMA mz_catalog, mz_internal TO PUBLIC;
