-- clusterctl migration 1: the three tables of the Python mz-clusterctl, with
-- the same names and columns, so existing rows keep working.
-- Materialize tables have no constraints beyond NOT NULL/DEFAULT; every write
-- clusterctl makes is correct without them.
-- `__SCHEMA__.` is replaced by the quoted schema (or nothing for the
-- connection's current schema). One statement per `;`-terminated block.

CREATE TABLE IF NOT EXISTS __SCHEMA__.mz_cluster_strategies (
    cluster_id    TEXT NOT NULL,
    strategy_type TEXT NOT NULL,
    config        JSONB NOT NULL,
    updated_at    TIMESTAMPTZ DEFAULT now()
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.mz_cluster_strategy_state (
    cluster_id    TEXT NOT NULL,
    state_version INT NOT NULL,
    payload       JSONB NOT NULL,
    updated_at    TIMESTAMPTZ DEFAULT now()
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.mz_cluster_strategy_actions (
    action_id     TEXT NOT NULL,
    cluster_id    TEXT,
    action_sql    TEXT,
    decision_ctx  JSONB,
    executed      BOOL,
    error_message TEXT,
    created_at    TIMESTAMPTZ DEFAULT now()
);
