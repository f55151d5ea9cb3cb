//! Our tables' schema: versioned migrations (`migrations/*.sql`), applied
//! in order and recorded in `clusterctl_schema_migrations`, and the same SQL
//! printed for an admin (`init --print`) with the GRANTs a restricted role
//! needs.

use std::fmt::Write;

use super::store::{Store, ACTIONS, MIGRATIONS, STATE, STRATEGIES};
use super::{Client, DbError};
use crate::ddl;

/// Versioned migrations, applied in order, each recorded once applied.
pub const MIGRATION_FILES: &[(i32, &str, &str)] = &[
    (
        1,
        "create_tables",
        include_str!("../../migrations/0001_create_tables.sql"),
    ),
    (2, "lease", include_str!("../../migrations/0002_lease.sql")),
];

/// The SQL that creates everything, statement by statement (for `init
/// --print`, the README, and `migrate`).
pub fn migration_statements(store: &Store, sql: &str) -> Vec<String> {
    let prefix = store.prefix();
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(';')
        .map(|s| s.trim().replace("__SCHEMA__.", &prefix))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The statement creating the table that records applied migrations
/// (also printed by `init --print`).
pub fn migrations_table_statement(store: &Store) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (version INT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
        store.table(MIGRATIONS)
    )
}

/// Versions recorded as applied; `None` when the migrations table does
/// not exist yet.
async fn applied_versions(store: &Store, c: &Client) -> Result<Option<Vec<i32>>, DbError> {
    let sql = format!("SELECT version FROM {}", store.table(MIGRATIONS));
    match c.query_typed(&sql, &[]).await {
        Ok(rows) => Ok(Some(
            rows.iter().filter_map(|r| r.try_get(0).ok()).collect(),
        )),
        Err(e) if DbError::is_missing_table(&e) => Ok(None),
        Err(e) => Err(DbError::query("reading applied migrations", &e)),
    }
}

/// Creates or upgrades our tables; returns the versions applied now.
/// When every migration is recorded it issues no DDL at all, so a role
/// without `CREATE` works once the tables exist (`init --print`).
pub async fn migrate(store: &Store, c: &Client) -> Result<Vec<i32>, DbError> {
    let done = match applied_versions(store, c).await? {
        Some(done) if MIGRATION_FILES.iter().all(|(v, _, _)| done.contains(v)) => {
            return Ok(Vec::new())
        }
        Some(done) => done,
        None => {
            if let Some(schema) = store.schema() {
                let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", ddl::ident(schema));
                c.batch_execute(&sql)
                    .await
                    .map_err(|e| DbError::query(format!("creating schema {schema}"), &e))?;
            }
            c.batch_execute(&migrations_table_statement(store))
                .await
                .map_err(|e| DbError::query("creating the migrations table", &e))?;
            Vec::new()
        }
    };
    let table = store.table(MIGRATIONS);
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATION_FILES {
        if done.contains(version) {
            continue;
        }
        for stmt in migration_statements(store, sql) {
            c.batch_execute(&stmt).await.map_err(|e| {
                DbError::query(format!("applying migration {version} ({name})"), &e)
            })?;
        }
        let record =
            format!("INSERT INTO {table} (version, name, applied_at) VALUES ($1, $2, now())");
        c.execute(&record, &[version, name])
            .await
            .map_err(|e| DbError::query(format!("recording migration {version}"), &e))?;
        applied.push(*version);
    }
    Ok(applied)
}

/// Everything `apply` would create, as SQL an admin can run, followed by the
/// GRANTs a restricted role needs (README, "Required Materialize privileges").
pub fn init_sql(store: &Store, schema: Option<&str>, role: &str) -> String {
    let role_q = ddl::ident(role);
    let mut s = String::from(
        "-- clusterctl: tables (what `clusterctl apply` / `clusterctl init` create).\n",
    );
    if let Some(schema) = schema {
        let _ = writeln!(s, "CREATE SCHEMA IF NOT EXISTS {};", ddl::ident(schema));
    }
    let _ = writeln!(s, "{};", migrations_table_statement(store));
    for (version, name, sql) in MIGRATION_FILES {
        let _ = writeln!(s, "-- migration {version}: {name}");
        for stmt in migration_statements(store, sql) {
            let _ = writeln!(s, "{stmt};");
        }
        // Idempotent like the rest: running the script twice records once.
        let _ = writeln!(
            s,
            "INSERT INTO {t} (version, name, applied_at) SELECT {version}, {}, now() \
             WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE version = {version});",
            ddl::literal(name),
            t = store.table(MIGRATIONS),
        );
    }
    let schema_q = schema.map(ddl::ident).unwrap_or_else(|| "public".into());
    let _ = writeln!(
        s,
        "\n-- Privileges for the role clusterctl runs as ({role}; pass --role to change).\n\
         -- The role must exist: CREATE ROLE {role_q};\n\
         -- Statement history, for activity signals:\n\
         GRANT mz_monitor_redacted TO {role_q};\n\
         -- The tables' schema{}:\n\
         GRANT USAGE ON SCHEMA {schema_q} TO {role_q};\n\
         -- dry-run, status, check, history: read; apply: write state and the audit trail;\n\
         -- strategy set/rm/pause/resume: write strategies.\n\
         GRANT SELECT, INSERT, DELETE ON {} TO {role_q};\n\
         GRANT SELECT, INSERT, DELETE ON {} TO {role_q};\n\
         GRANT SELECT, INSERT, UPDATE ON {} TO {role_q};\n\
         GRANT SELECT ON {} TO {role_q};",
        if schema.is_none() {
            " (the connection's current schema; public by default)"
        } else {
            ""
        },
        store.table(STRATEGIES),
        store.table(STATE),
        store.table(ACTIONS),
        store.table(MIGRATIONS),
    );
    for (_, _, sql) in MIGRATION_FILES.iter().skip(1) {
        for table in created_tables(store, sql) {
            let _ = writeln!(s, "GRANT SELECT, INSERT, UPDATE ON {table} TO {role_q};");
        }
    }
    let _ = writeln!(
        s,
        "-- Each cluster it manages (creating and dropping replicas needs ownership):\n\
         -- ALTER CLUSTER <name> OWNER TO {role_q};\n\
         -- The --exec-cluster its own queries run on:\n\
         -- GRANT USAGE ON CLUSTER <name> TO {role_q};"
    );
    s
}

/// Tables a migration creates, for their GRANTs.
fn created_tables(store: &Store, sql: &str) -> Vec<String> {
    migration_statements(store, sql)
        .iter()
        .filter_map(|stmt| {
            let rest = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
            Some(rest.split([' ', '(']).next()?.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_sql_covers_every_table_and_grant() {
        let sql = init_sql(&Store::new(Some("ops".into())), Some("ops"), "clusterctl");
        for t in [STRATEGIES, STATE, ACTIONS] {
            assert!(
                sql.contains(&format!("CREATE TABLE IF NOT EXISTS \"ops\".{t} ")),
                "{t}"
            );
            assert!(sql.contains(&format!("ON \"ops\".\"{t}\" TO")), "{t}");
        }
        assert!(
            sql.contains("GRANT SELECT, INSERT, UPDATE ON \"ops\".clusterctl_lease"),
            "{sql}"
        );
        assert!(
            sql.contains("CREATE SCHEMA IF NOT EXISTS \"ops\";"),
            "{sql}"
        );
        assert!(
            sql.contains("GRANT mz_monitor_redacted TO \"clusterctl\";"),
            "{sql}"
        );
        assert!(sql.contains("GRANT USAGE ON SCHEMA \"ops\""), "{sql}");
        for (v, _, _) in MIGRATION_FILES {
            // Recorded once however often the script runs.
            assert!(sql.contains(&format!("SELECT {v}, ")), "{sql}");
            assert!(
                sql.contains(&format!("WHERE NOT EXISTS (SELECT 1 FROM \"ops\".\"clusterctl_schema_migrations\" WHERE version = {v})")),
                "{sql}"
            );
        }
    }
}
