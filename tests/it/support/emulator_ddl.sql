-- Cluster DDL (reference §2), as the proxy calls it in place of Materialize's
-- statements. Every procedure takes the acting role last (`current_user` of
-- the session, passed by the rewritten statement; NULL = the emulator itself,
-- a superuser) and checks it the way src/sql/src/rbac.rs does (§8.4):
--   CREATE CLUSTER             CREATECLUSTER system privilege
--   CREATE CLUSTER REPLICA     ownership of the cluster
--   ALTER CLUSTER / DROP CLUSTER  ownership of the cluster
--   DROP CLUSTER REPLICA       ownership of the replica, USAGE on the cluster
--   ALTER ... OWNER TO         ownership, membership in the new owner
--   GRANT/REVOKE ON CLUSTER    ownership of the cluster
--   GRANT/REVOKE ON SYSTEM     superuser
-- Planning errors (unknown or managed cluster, bad options) come first, as in
-- Materialize, where the plan is made before privileges are checked; catalog
-- errors (size, duplicates, limits) come after.
--
-- The procedures run as the emulator's superuser (SECURITY DEFINER) so a
-- restricted role can change the catalog only through them.

-- §8.5: `creating cluster replica would violate max_replicas_per_cluster limit
-- (desired: N, limit: L, current: M)` (AdapterError::ResourceExhaustion,
-- 53000, with its hint; src/adapter/src/error.rs).
CREATE FUNCTION mz_emulator.check_replica_limit(p_current bigint, p_desired bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lim bigint := mz_emulator.setting('max_replicas_per_cluster')::bigint;
BEGIN
    IF p_desired > lim AND p_desired > p_current THEN
        PERFORM mz_emulator.fail(
            format('creating cluster replica would violate max_replicas_per_cluster limit '
                   '(desired: %s, limit: %s, current: %s)', p_desired, lim, p_current),
            'Drop an existing cluster replica or contact support to request a limit increase.',
            '53000');
    END IF;
END $$;

-- §8.5: `creating cluster replica would violate max_credit_consumption_rate
-- limit (desired: D, limit: L, current: C)`, 53000 with the same hint as above.
-- Coordinator::validate_resource_limits (src/adapter/src/coord/ddl.rs,
-- MaterializeInc/materialize 000a052af1b0530148bb8f39246a210e0e1557f2) sums
-- the credits_per_hour of a catalog transaction's CreateClusterReplica ops minus
-- its dropped replicas' (p_new, the net change); when that is positive,
-- `desired = current + new` must not exceed the limit, `current` being every
-- replica of a user cluster with a size (user_cluster_replicas, pending ones
-- included; system clusters' not). validate_resource_limit_numeric; the text
-- and SQLSTATE (INSUFFICIENT_RESOURCES) are AdapterError::ResourceExhaustion in
-- src/adapter/src/error.rs. Numbers print as PostgreSQL's trimmed numeric
-- (Materialize prints its decimal Numeric the same for these values).
CREATE FUNCTION mz_emulator.check_credit_limit(p_new numeric) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lim numeric := mz_emulator.setting('max_credit_consumption_rate')::numeric;
    cur numeric := (SELECT coalesce(sum(mz_emulator.size_credits(r.size)), 0)
                    FROM mz_catalog.mz_cluster_replicas r WHERE r.cluster_id LIKE 'u%');
BEGIN
    IF p_new > 0 AND cur + p_new > lim THEN
        PERFORM mz_emulator.fail(
            format('creating cluster replica would violate max_credit_consumption_rate limit '
                   '(desired: %s, limit: %s, current: %s)',
                   trim_scale(cur + p_new), trim_scale(lim), trim_scale(cur)),
            'Drop an existing cluster replica or contact support to request a limit increase.',
            '53000');
    END IF;
END $$;

-- System privileges (mz_system_privileges): one row per role and privilege
-- name ('CREATECLUSTER', 'CREATEROLE', 'CREATEDB', 'CREATENETWORKPOLICY');
-- role_id '' is PUBLIC.
CREATE TABLE mz_emulator.system_privileges (
    role_id text NOT NULL,
    privilege text NOT NULL
);

CREATE PROCEDURE mz_emulator.create_cluster_replica(
    p_cluster text, p_replica text, p_size text, p_if_not_exists boolean DEFAULT false,
    p_actor text DEFAULT NULL, p_availability_zone text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
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
    PERFORM mz_emulator.require_owner(p_actor, c.owner_id, 'CLUSTER ' || c.name);
    -- §2.2: the emulated environment has no availability zones configured,
    -- so any AVAILABILITY ZONE is unknown (checked before the size, as the
    -- coordinator validates zones before it concretizes the location).
    IF p_availability_zone IS NOT NULL THEN
        PERFORM mz_emulator.fail(
            'unknown cluster replica availability zone ' || p_availability_zone,
            'No availability zones configured; do not specify AVAILABILITY ZONE');
    END IF;
    PERFORM mz_emulator.check_size(p_size);
    PERFORM mz_emulator.check_reserved_name('replica', p_replica);
    IF EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id AND name = p_replica) THEN
        IF p_if_not_exists THEN
            RAISE NOTICE 'cluster replica ''%.%'' already exists, skipping', p_cluster, p_replica;
            RETURN;
        END IF;
        PERFORM mz_emulator.fail(format(
            'cannot create multiple replicas named ''%s'' on cluster ''%s''', p_replica, p_cluster));
    END IF;
    PERFORM mz_emulator.check_replica_limit(
        (SELECT count(*) FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id),
        (SELECT count(*) + 1 FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = c.id));
    PERFORM mz_emulator.check_credit_limit(mz_emulator.size_credits(p_size));
    -- The new replica belongs to the cluster's owner, whoever created it
    -- ("Replicas have the same owner as their cluster",
    -- sequence_create_cluster_replica; older releases gave it to the role
    -- that created it).
    PERFORM mz_emulator.insert_replica(c.id, p_replica, p_size);
END $$;

CREATE PROCEDURE mz_emulator.drop_cluster_replica(
    p_cluster text, p_replica text, p_if_exists boolean DEFAULT false, p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    c mz_catalog.mz_clusters;
    r mz_catalog.mz_cluster_replicas;
BEGIN
    PERFORM mz_emulator.check_ident(p_cluster);
    PERFORM mz_emulator.check_ident(p_replica);
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_cluster, p_if_exists);
    IF c.id IS NULL THEN
        RAISE NOTICE 'cluster ''%'' does not exist, skipping', p_cluster;
        RETURN;
    END IF;
    r := mz_emulator.resolve_replica(c, p_replica, p_if_exists);
    IF r.id IS NULL THEN
        RETURN;
    END IF;
    IF c.id LIKE 's%' THEN
        PERFORM mz_emulator.fail(format('system cluster replica ''%s'' cannot be modified', p_replica));
    END IF;
    IF c.managed THEN
        PERFORM mz_emulator.fail('cannot drop replica of managed cluster');
    END IF;
    PERFORM mz_emulator.require_owner(
        p_actor, r.owner_id,
        'CLUSTER REPLICA ' || mz_emulator.ident(c.name) || '.' || mz_emulator.ident(r.name));
    PERFORM mz_emulator.require_cluster_privilege(p_actor, c.id, 'U');
    PERFORM mz_emulator.delete_replica(r.id);
END $$;

-- DROP CLUSTER REPLICA c1.r1, c2.r2: all or nothing.
CREATE PROCEDURE mz_emulator.drop_cluster_replicas(
    p_clusters text[], p_replicas text[], p_if_exists boolean DEFAULT false, p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_clusters, 1), 0) LOOP
        CALL mz_emulator.drop_cluster_replica(p_clusters[i], p_replicas[i], p_if_exists, p_actor);
    END LOOP;
END $$;

-- p_managed NULL means "default": unmanaged when REPLICAS is given, else managed.
-- p_replicas: [{"name": "r1", "size": "25cc"}, ...] or NULL.
-- p_schedule: 'manual' | 'on-refresh' | NULL.
CREATE PROCEDURE mz_emulator.create_cluster(
    p_name text, p_managed boolean, p_size text, p_replication_factor bigint,
    p_replicas jsonb, p_if_not_exists boolean DEFAULT false, p_schedule text DEFAULT NULL,
    p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    managed boolean := coalesce(p_managed, p_replicas IS NULL);
    rf bigint := p_replication_factor;
    cid text;
    owner text;
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
    IF NOT mz_emulator.is_superuser(p_actor) AND NOT EXISTS (
            SELECT 1 FROM mz_emulator.system_privileges
            WHERE privilege = 'CREATECLUSTER'
              AND (role_id = '' OR mz_emulator.holds_role(p_actor, role_id))) THEN
        PERFORM mz_emulator.fail('permission denied for SYSTEM', NULL, '42501');
    END IF;
    IF managed THEN
        PERFORM mz_emulator.check_size(coalesce(p_size, '25cc'));
    END IF;
    IF EXISTS (SELECT 1 FROM mz_catalog.mz_clusters WHERE name = p_name) THEN
        IF p_if_not_exists THEN
            RAISE NOTICE 'cluster ''%'' already exists, skipping', p_name;
            RETURN;
        END IF;
        PERFORM mz_emulator.fail(format('cluster ''%s'' already exists', p_name));
    END IF;
    PERFORM mz_emulator.check_reserved_name('cluster', p_name);
    FOR r IN SELECT * FROM jsonb_array_elements(coalesce(p_replicas, '[]'::jsonb)) LOOP
        PERFORM mz_emulator.check_ident(r->>'name');
        PERFORM mz_emulator.check_size(r->>'size');
        PERFORM mz_emulator.check_reserved_name('replica', r->>'name');
    END LOOP;
    IF (SELECT count(DISTINCT e->>'name') <> count(*) FROM jsonb_array_elements(coalesce(p_replicas, '[]'::jsonb)) e) THEN
        PERFORM mz_emulator.fail(format('cannot create multiple replicas named ''%s'' on cluster ''%s''',
            (SELECT e->>'name' FROM jsonb_array_elements(p_replicas) e GROUP BY 1 HAVING count(*) > 1 LIMIT 1),
            p_name));
    END IF;
    PERFORM mz_emulator.check_replica_limit(
        0, CASE WHEN managed THEN rf ELSE jsonb_array_length(coalesce(p_replicas, '[]'::jsonb)) END);
    PERFORM mz_emulator.check_credit_limit(CASE WHEN managed
        THEN rf * mz_emulator.size_credits(coalesce(p_size, '25cc'))
        ELSE (SELECT coalesce(sum(mz_emulator.size_credits(e->>'size')), 0)
              FROM jsonb_array_elements(coalesce(p_replicas, '[]'::jsonb)) e) END);
    owner := mz_emulator.role_id(p_actor);
    cid := mz_emulator.insert_cluster(p_name, managed, coalesce(p_size, '25cc'), rf, owner);
    IF managed AND p_schedule = 'on-refresh' THEN
        UPDATE mz_internal.mz_cluster_schedules SET type = 'on-refresh' WHERE cluster_id = cid;
    END IF;
    FOR r IN SELECT * FROM jsonb_array_elements(coalesce(p_replicas, '[]'::jsonb)) LOOP
        PERFORM mz_emulator.insert_replica(cid, r->>'name', r->>'size', owner);
    END LOOP;
END $$;

CREATE PROCEDURE mz_emulator.drop_cluster(p_name text, p_if_exists boolean DEFAULT false,
                                          p_cascade boolean DEFAULT false, p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
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
    PERFORM mz_emulator.require_owner(p_actor, c.owner_id, 'CLUSTER ' || c.name);
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
    UPDATE mz_emulator.reconfigurations SET status = 'cancelled'
    WHERE cluster_id = c.id AND status = 'pending';
    DELETE FROM mz_catalog.mz_clusters WHERE id = c.id;
END $$;

-- ALTER CLUSTER c RENAME TO d: the id, replicas and objects stay; only the
-- name changes (sequence_alter_rename: ownership of the cluster; a name in
-- use is `cluster 'd' already exists`).
CREATE PROCEDURE mz_emulator.rename_cluster(p_name text, p_new text, p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    c mz_catalog.mz_clusters;
BEGIN
    PERFORM mz_emulator.check_ident(p_new);
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_name, false,
                                     format('system cluster ''%s'' cannot be modified', p_name));
    PERFORM mz_emulator.require_owner(p_actor, c.owner_id, 'CLUSTER ' || c.name);
    IF EXISTS (SELECT 1 FROM mz_catalog.mz_clusters WHERE name = p_new) THEN
        PERFORM mz_emulator.fail(format('cluster ''%s'' already exists', p_new));
    END IF;
    PERFORM mz_emulator.check_reserved_name('cluster', p_new);
    UPDATE mz_catalog.mz_clusters SET name = p_new WHERE id = c.id;
END $$;

-- ALTER CLUSTER REPLICA [IF EXISTS] c.r RENAME TO r2: the id, size, owner
-- and hydration stay; only the name changes. As Materialize plans it
-- (plan_alter_cluster_replica_rename): the cluster, then the replica (IF
-- EXISTS: a notice and nothing done), then unmanaged clusters only (builtin
-- clusters are managed too: `cannot modify managed cluster mz_system`),
-- then ownership of the replica; the catalog transaction refuses a reserved
-- name (Op::RenameClusterReplica), and a name another replica of the cluster
-- has is the durable catalog's `uniqueness violation` (cluster.slt), not
-- CREATE's `cannot create multiple replicas named …`.
CREATE PROCEDURE mz_emulator.rename_replica(p_cluster text, p_replica text, p_new text,
                                            p_if_exists boolean DEFAULT false,
                                            p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    c mz_catalog.mz_clusters;
    r mz_catalog.mz_cluster_replicas;
BEGIN
    PERFORM mz_emulator.check_ident(p_new);
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_cluster, p_if_exists);
    IF c.id IS NULL THEN
        RAISE NOTICE 'cluster replica ''%.%'' does not exist, skipping', p_cluster, p_replica;
        RETURN;
    END IF;
    r := mz_emulator.resolve_replica(c, p_replica, p_if_exists);
    IF r.id IS NULL THEN
        RETURN;
    END IF;
    IF c.managed THEN
        PERFORM mz_emulator.fail('cannot modify managed cluster ' || mz_emulator.ident(c.name));
    END IF;
    PERFORM mz_emulator.require_owner(
        p_actor, r.owner_id,
        'CLUSTER REPLICA ' || mz_emulator.ident(c.name) || '.' || mz_emulator.ident(r.name));
    PERFORM mz_emulator.check_reserved_name('replica', p_new);
    IF EXISTS (SELECT 1 FROM mz_catalog.mz_cluster_replicas
               WHERE cluster_id = c.id AND name = p_new AND id <> r.id) THEN
        PERFORM mz_emulator.fail('uniqueness violation');
    END IF;
    UPDATE mz_catalog.mz_cluster_replicas SET name = p_new WHERE id = r.id;
END $$;

-- ALTER CLUSTER a SWAP WITH b: the two names change places at once, ids
-- stay (blue/green deployments); ownership of both.
CREATE PROCEDURE mz_emulator.swap_clusters(p_a text, p_b text, p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    a mz_catalog.mz_clusters;
    b mz_catalog.mz_clusters;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    a := mz_emulator.resolve_cluster(p_a, false,
                                     format('system cluster ''%s'' cannot be modified', p_a));
    b := mz_emulator.resolve_cluster(p_b, false,
                                     format('system cluster ''%s'' cannot be modified', p_b));
    PERFORM mz_emulator.require_owner(p_actor, a.owner_id, 'CLUSTER ' || a.name);
    PERFORM mz_emulator.require_owner(p_actor, b.owner_id, 'CLUSTER ' || b.name);
    UPDATE mz_catalog.mz_clusters
    SET name = CASE WHEN id = a.id THEN b.name ELSE a.name END
    WHERE id IN (a.id, b.id);
END $$;

-- A new owner takes the old owner's place in an ACL, as grantee and as
-- grantor; entries that then share grantee and grantor are merged, their
-- modes united (Materialize's Catalog::update_privilege_owners, after
-- PostgreSQL's aclnewowner). The old owner keeps nothing.
CREATE FUNCTION mz_emulator.transfer_acl(p_items text[], p_old text, p_new text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    WITH items AS (
        SELECT ord,
               CASE split_part(item, '=', 1) WHEN p_old THEN p_new ELSE split_part(item, '=', 1) END
                   AS grantee,
               split_part(split_part(item, '=', 2), '/', 1) AS modes,
               CASE split_part(item, '/', 2) WHEN p_old THEN p_new ELSE split_part(item, '/', 2) END
                   AS grantor
        FROM unnest(p_items) WITH ORDINALITY AS u(item, ord)
    ), merged AS (
        SELECT grantee, grantor, min(ord) AS ord, string_agg(modes, '') AS modes
        FROM items GROUP BY grantee, grantor
    )
    SELECT coalesce(array_agg(
               grantee || '=' ||
               (SELECT string_agg(ch, '' ORDER BY strpos('arwdUCRBNP', ch)) FROM (
                    SELECT DISTINCT m.ch FROM regexp_split_to_table(merged.modes, '') AS m(ch)) x)
               || '/' || grantor ORDER BY ord), ARRAY[]::text[])
    FROM merged
$$;

-- ALTER CLUSTER c OWNER TO r (p_replica NULL) / ALTER CLUSTER REPLICA c.x OWNER TO r.
-- Needs ownership of the object and membership in the new owner
-- (`must be a member of "r"`, UnauthorizedError::RoleMembership), and for a
-- replica CREATE on its cluster (rbac.rs, Plan::AlterOwner).
CREATE PROCEDURE mz_emulator.alter_owner(p_cluster text, p_replica text, p_new_owner text,
                                         p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    c mz_catalog.mz_clusters;
    r mz_catalog.mz_cluster_replicas;
    new_id text;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    c := mz_emulator.resolve_cluster(p_cluster, false,
                                     format('system cluster ''%s'' cannot be modified', p_cluster));
    new_id := mz_emulator.resolve_grantee(p_new_owner);
    IF p_replica IS NULL THEN
        PERFORM mz_emulator.require_owner(p_actor, c.owner_id, 'CLUSTER ' || c.name);
    ELSE
        r := mz_emulator.resolve_replica(c, p_replica);
        -- A managed cluster's replicas follow its owner: planned before
        -- privileges are checked (plan_alter_cluster_replica_owner's
        -- ensure_cluster_is_not_managed).
        IF c.managed THEN
            PERFORM mz_emulator.fail('cannot modify managed cluster ' || mz_emulator.ident(p_cluster));
        END IF;
        PERFORM mz_emulator.require_owner(
            p_actor, r.owner_id,
            'CLUSTER REPLICA ' || mz_emulator.ident(c.name) || '.' || mz_emulator.ident(r.name));
    END IF;
    IF NOT mz_emulator.holds_role(p_actor, new_id) THEN
        PERFORM mz_emulator.fail(format('must be a member of "%s"', p_new_owner), NULL, '42501');
    END IF;
    IF p_replica IS NULL THEN
        UPDATE mz_catalog.mz_clusters
        SET owner_id = new_id, privileges = mz_emulator.transfer_acl(privileges, c.owner_id, new_id)
        WHERE id = c.id;
        -- "Alter owner cascades down to cluster replicas"
        -- (sequence_alter_owner).
        UPDATE mz_catalog.mz_cluster_replicas SET owner_id = new_id WHERE cluster_id = c.id;
    ELSE
        PERFORM mz_emulator.require_cluster_privilege(p_actor, c.id, 'C');
        UPDATE mz_catalog.mz_cluster_replicas SET owner_id = new_id WHERE id = r.id;
    END IF;
END $$;

-- ---------------------------------------------------------------------------
-- GRANT / REVOKE privileges on clusters and on SYSTEM (§8.4)
-- ---------------------------------------------------------------------------

-- The mz_roles id of a role named in GRANT/REVOKE ('' for PUBLIC) or
-- ALTER ... OWNER TO: `unknown role 'x'` (CatalogError::UnknownRole, name
-- resolution).
CREATE FUNCTION mz_emulator.resolve_grantee(p_role text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    rid text;
BEGIN
    IF p_role IS NULL THEN
        RETURN '';
    END IF;
    SELECT id INTO rid FROM mz_catalog.mz_roles WHERE name = p_role;
    IF rid IS NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        rid := mz_emulator.role_id(p_role);
    END IF;
    IF rid IS NULL THEN
        PERFORM mz_emulator.fail(format('unknown role ''%s''', p_role));
    END IF;
    RETURN rid;
END $$;

-- An ACL with p_modes granted to (p_grant) or revoked from p_grantee by
-- p_grantor: Materialize's PrivilegeMap keeps one item per (grantee,
-- grantor), a grant unites its modes, a revoke removes them and drops an
-- item left empty.
CREATE FUNCTION mz_emulator.update_acl(p_items text[], p_grantee text, p_grantor text,
                                       p_modes text, p_grant boolean) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    WITH items AS (
        SELECT ord, split_part(item, '=', 1) AS grantee,
               split_part(split_part(item, '=', 2), '/', 1) AS modes,
               split_part(item, '/', 2) AS grantor
        FROM unnest(p_items) WITH ORDINALITY AS u(item, ord)
        UNION ALL
        SELECT 1000000000, p_grantee, '', p_grantor
        WHERE p_grant AND NOT EXISTS (
            SELECT 1 FROM unnest(p_items) item
            WHERE split_part(item, '=', 1) = p_grantee AND split_part(item, '/', 2) = p_grantor)
    ), updated AS (
        SELECT ord, grantee, grantor,
               CASE WHEN grantee = p_grantee AND grantor = p_grantor
                    THEN CASE WHEN p_grant THEN modes || p_modes
                              ELSE translate(modes, p_modes, '') END
                    ELSE modes END AS modes
        FROM items
    )
    SELECT coalesce(array_agg(
               grantee || '=' ||
               (SELECT string_agg(ch, '' ORDER BY strpos('arwdUCRBNP', ch)) FROM (
                    SELECT DISTINCT m.ch FROM regexp_split_to_table(updated.modes, '') AS m(ch)) x)
               || '/' || grantor ORDER BY ord) FILTER (WHERE modes <> ''), ARRAY[]::text[])
    FROM updated
$$;

-- The mz_aclitem letter of a privilege name.
CREATE FUNCTION mz_emulator.privilege_mode(p_privilege text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_privilege WHEN 'SELECT' THEN 'r' WHEN 'INSERT' THEN 'a' WHEN 'UPDATE' THEN 'w'
                            WHEN 'DELETE' THEN 'd' WHEN 'USAGE' THEN 'U' WHEN 'CREATE' THEN 'C'
                            WHEN 'CREATEROLE' THEN 'R' WHEN 'CREATEDB' THEN 'B'
                            WHEN 'CREATECLUSTER' THEN 'N' WHEN 'CREATENETWORKPOLICY' THEN 'P' END
$$;

-- GRANT/REVOKE {privileges | ALL} ON CLUSTER c [, …] | ON ALL CLUSTERS
-- TO/FROM role [, …] (src/sql/src/plan/statement/acl.rs,
-- plan_update_privilege; rbac.rs). p_privileges NULL = ALL (USAGE, CREATE);
-- p_clusters NULL = ALL CLUSTERS (the user clusters); a NULL role is PUBLIC.
-- In Materialize's order: names resolve (`unknown cluster 'c'`, then
-- `unknown role 'r'`), the privileges must be a cluster's (`invalid
-- privilege types SELECT for CLUSTER "c"`), the actor must own each cluster
-- (`must be owner of CLUSTER c`); the grantor is always the owner.
CREATE PROCEDURE mz_emulator.update_cluster_privileges(
    p_grant boolean, p_privileges text[], p_clusters text[], p_roles text[],
    p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    ids text[] := ARRAY[]::text[];
    grantees text[] := ARRAY[]::text[];
    c mz_catalog.mz_clusters;
    n text;
    invalid text;
    modes text;
    g text;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    IF p_clusters IS NULL THEN
        SELECT coalesce(array_agg(id ORDER BY id), ARRAY[]::text[]) INTO ids
        FROM mz_catalog.mz_clusters WHERE id LIKE 'u%';
    ELSE
        FOREACH n IN ARRAY p_clusters LOOP
            ids := ids || (mz_emulator.resolve_cluster(n, false)).id;
        END LOOP;
    END IF;
    FOR i IN 1 .. cardinality(p_roles) LOOP
        grantees := grantees || mz_emulator.resolve_grantee(p_roles[i]);
    END LOOP;
    modes := CASE WHEN p_privileges IS NULL THEN 'UC'
                  ELSE (SELECT string_agg(mz_emulator.privilege_mode(p), '') FROM unnest(p_privileges) p) END;
    SELECT string_agg(p, ', ' ORDER BY strpos('arwdUCRBNP', mz_emulator.privilege_mode(p)))
    INTO invalid
    FROM (SELECT DISTINCT p FROM unnest(p_privileges) p WHERE p NOT IN ('USAGE', 'CREATE')) x;
    FOREACH n IN ARRAY ids LOOP
        SELECT * INTO c FROM mz_catalog.mz_clusters WHERE id = n;
        IF invalid IS NOT NULL THEN
            PERFORM mz_emulator.fail(format('invalid privilege types %s for CLUSTER "%s"', invalid, c.name));
        END IF;
    END LOOP;
    FOREACH n IN ARRAY ids LOOP
        SELECT * INTO c FROM mz_catalog.mz_clusters WHERE id = n;
        PERFORM mz_emulator.require_owner(p_actor, c.owner_id, 'CLUSTER ' || c.name);
    END LOOP;
    FOREACH n IN ARRAY ids LOOP
        FOREACH g IN ARRAY grantees LOOP
            UPDATE mz_catalog.mz_clusters
            SET privileges = mz_emulator.update_acl(privileges, g, owner_id, modes, p_grant)
            WHERE id = n;
        END LOOP;
    END LOOP;
END $$;

-- GRANT/REVOKE {privileges | ALL} ON SYSTEM TO/FROM role [, …]: only a
-- superuser may (rbac.rs: superuser_action "GRANT/REVOKE SYSTEM
-- PRIVILEGES"), and only system privileges (CREATEROLE, CREATEDB,
-- CREATECLUSTER, CREATENETWORKPOLICY) apply: `invalid privilege types
-- USAGE for SYSTEM`. p_privileges NULL = ALL; a NULL role is PUBLIC.
CREATE PROCEDURE mz_emulator.update_system_privileges(
    p_grant boolean, p_privileges text[], p_roles text[], p_actor text DEFAULT NULL)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    grantees text[] := ARRAY[]::text[];
    privs text[] := coalesce(p_privileges,
                             ARRAY['CREATEROLE', 'CREATEDB', 'CREATECLUSTER', 'CREATENETWORKPOLICY']);
    invalid text;
BEGIN
    PERFORM mz_emulator.ddl_lock();
    FOR i IN 1 .. cardinality(p_roles) LOOP
        grantees := grantees || mz_emulator.resolve_grantee(p_roles[i]);
    END LOOP;
    SELECT string_agg(p, ', ' ORDER BY strpos('arwdUCRBNP', mz_emulator.privilege_mode(p)))
    INTO invalid
    FROM (SELECT DISTINCT p FROM unnest(privs) p
          WHERE p NOT IN ('CREATEROLE', 'CREATEDB', 'CREATECLUSTER', 'CREATENETWORKPOLICY')) x;
    IF invalid IS NOT NULL THEN
        PERFORM mz_emulator.fail(format('invalid privilege types %s for SYSTEM', invalid));
    END IF;
    IF NOT mz_emulator.is_superuser(p_actor) THEN
        PERFORM mz_emulator.fail('permission denied to GRANT/REVOKE SYSTEM PRIVILEGES', NULL, '42501',
                                 'You must be a superuser to GRANT/REVOKE SYSTEM PRIVILEGES');
    END IF;
    IF p_grant THEN
        INSERT INTO mz_emulator.system_privileges
        SELECT DISTINCT g, p FROM unnest(grantees) g, unnest(privs) p
        WHERE NOT EXISTS (SELECT 1 FROM mz_emulator.system_privileges s
                          WHERE s.role_id = g AND s.privilege = p);
    ELSE
        DELETE FROM mz_emulator.system_privileges
        WHERE role_id = ANY (grantees) AND privilege = ANY (privs);
    END IF;
END $$;
