-- clusterctl migration 2: the lease that lets one controller act at a time.
-- Materialize has no advisory locks and no read-write transactions, so the
-- lease is one row taken by a single conditional UPDATE (see src/lease.rs).
-- The row is seeded expired; a concurrent first run may seed it twice, which
-- is harmless: every UPDATE addresses all rows of the name at once.

CREATE TABLE IF NOT EXISTS __SCHEMA__.clusterctl_lease (
    name        TEXT NOT NULL,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    acquired_at TIMESTAMPTZ
);

INSERT INTO __SCHEMA__.clusterctl_lease (name, holder, expires_at)
SELECT 'controller', '', TIMESTAMPTZ '1970-01-01 00:00:00+00'
WHERE NOT EXISTS (SELECT 1 FROM __SCHEMA__.clusterctl_lease WHERE name = 'controller');
