//! One controller acts at a time. Materialize has no advisory locks and no
//! read-write transactions, so the lease is a row taken by one conditional
//! UPDATE: it succeeds only when the lease has expired or is already ours.
//! Writes to a table are serialized (Materialize) or row-locked and
//! re-checked (PostgreSQL), so two contenders never both see "1 row".
//! Expiry uses the controllers' clocks: keep them within seconds of each
//! other (NTP); the TTL is minutes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::{ToSql, Type};

use super::store::{execute_typed, Store, LEASE};
use super::{Client, DbError};

/// The lease every writing command shares.
pub const NAME: &str = "controller";

/// Who we are, as written into the lease row: `host:pid:run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder(pub String);

impl Holder {
    pub fn me(run_id: &uuid::Uuid) -> Holder {
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown-host".into());
        Holder(format!("{host}:{}:{run_id}", std::process::id()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Acquired {
    /// Ours until `until`.
    Yes { until: DateTime<Utc> },
    /// Someone else's.
    HeldBy {
        holder: String,
        until: DateTime<Utc>,
    },
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

async fn exec(c: &Client, sql: &str, params: &[&String]) -> Result<u64, tokio_postgres::Error> {
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
        .iter()
        .map(|p| (*p as &(dyn ToSql + Sync), Type::TEXT))
        .collect();
    execute_typed(c, sql, typed).await
}

/// Takes the lease if it is free or expired (or already ours).
pub async fn acquire(
    c: &Client,
    store: &Store,
    me: &Holder,
    ttl: Duration,
) -> Result<Acquired, DbError> {
    let now = Utc::now();
    let new_until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5));
    let sql = format!(
        "UPDATE {} SET holder = $1, expires_at = $2::text::timestamptz, acquired_at = $3::text::timestamptz \
         WHERE name = $4 AND (expires_at < $3::text::timestamptz OR holder = $1)",
        store.table(LEASE)
    );
    let name = NAME.to_string();
    let n = exec(c, &sql, &[&me.0, &ts(new_until), &ts(now), &name])
        .await
        .map_err(|e| DbError::query("taking the lease", &e))?;
    if n > 0 {
        return Ok(Acquired::Yes { until: new_until });
    }
    let (holder, until) = current(c, store).await?;
    if holder_is_dead(&holder) {
        // A run on this host was killed holding the lease: take it over at
        // once instead of waiting for the TTL. Compare-and-set on the dead
        // holder, so two contenders cannot both win.
        let sql = format!(
            "UPDATE {} SET holder = $1, expires_at = $2::text::timestamptz, acquired_at = $3::text::timestamptz \
             WHERE name = $4 AND holder = $5",
            store.table(LEASE)
        );
        let n = exec(c, &sql, &[&me.0, &ts(new_until), &ts(now), &name, &holder])
            .await
            .map_err(|e| DbError::query("taking over the lease", &e))?;
        if n > 0 {
            tracing::warn!(
                "took over the lease of {holder}: that process no longer runs on this host"
            );
            return Ok(Acquired::Yes { until: new_until });
        }
    }
    Ok(Acquired::HeldBy { holder, until })
}

/// A holder from this host whose process is gone (Linux: no /proc/PID).
fn holder_is_dead(holder: &str) -> bool {
    let mut parts = holder.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let me = Holder::me(&uuid::Uuid::nil());
    let my_host = me.0.split(':').next().unwrap_or_default();
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == my_host
        && pid != std::process::id()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Who holds the lease now, and until when.
pub async fn current(c: &Client, store: &Store) -> Result<(String, DateTime<Utc>), DbError> {
    let sql = format!(
        "SELECT holder, expires_at FROM {} WHERE name = $1 ORDER BY expires_at DESC LIMIT 1",
        store.table(LEASE)
    );
    let name = NAME.to_string();
    let rows = c
        .query_typed(&sql, &[(&name, Type::TEXT)])
        .await
        .map_err(|e| DbError::query("reading the lease", &e))?;
    let row = rows.first().ok_or_else(|| DbError::Query {
        context: "reading the lease".into(),
        reason: format!("no lease row in {}", store.table(LEASE)),
        transient: false,
    })?;
    let holder: String = row.try_get(0).unwrap_or_default();
    let until: DateTime<Utc> = row.try_get(1).unwrap_or_default();
    Ok((holder, until))
}

/// Extends our lease; `false` when it is no longer ours (expired and taken).
pub async fn renew(c: &Client, store: &Store, me: &Holder, ttl: Duration) -> Result<bool, DbError> {
    let until =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5));
    let sql = format!(
        "UPDATE {} SET expires_at = $1::text::timestamptz WHERE name = $2 AND holder = $3",
        store.table(LEASE)
    );
    let name = NAME.to_string();
    let n = exec(c, &sql, &[&ts(until), &name, &me.0])
        .await
        .map_err(|e| DbError::query("renewing the lease", &e))?;
    Ok(n > 0)
}

/// Gives the lease back (only if it is still ours).
pub async fn release(c: &Client, store: &Store, me: &Holder) -> Result<(), DbError> {
    let sql = format!(
        "UPDATE {} SET holder = '', expires_at = TIMESTAMPTZ '1970-01-01 00:00:00+00' \
         WHERE name = $1 AND holder = $2",
        store.table(LEASE)
    );
    let name = NAME.to_string();
    exec(c, &sql, &[&name, &me.0])
        .await
        .map_err(|e| DbError::query("releasing the lease", &e))?;
    Ok(())
}

/// Breaks the lease whoever holds it (`unlock --force`); returns the previous holder.
pub async fn force_release(c: &Client, store: &Store) -> Result<(String, DateTime<Utc>), DbError> {
    let previous = current(c, store).await?;
    let sql = format!(
        "UPDATE {} SET holder = '', expires_at = TIMESTAMPTZ '1970-01-01 00:00:00+00' WHERE name = $1",
        store.table(LEASE)
    );
    let name = NAME.to_string();
    exec(c, &sql, &[&name])
        .await
        .map_err(|e| DbError::query("breaking the lease", &e))?;
    Ok(previous)
}
