//! `init`: create or upgrade clusterctl's tables (the migrations `apply`
//! runs); `init --print` returns their SQL and the GRANTs instead, without
//! connecting.

use serde::Serialize;

use super::{CommandError, Context};
use crate::db::migrate;
use crate::db::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct Initialized {
    pub migrations_applied: Vec<i32>,
    /// Tables of recorded migrations that were missing (dropped by hand),
    /// made again, empty.
    pub tables_remade: Vec<String>,
    #[serde(skip)]
    pub schema: Option<String>,
}

/// `init`: create or upgrade the tables.
pub async fn init(ctx: &Context) -> Result<Initialized, CommandError> {
    // Only `init` creates a missing --schema; every other command refuses it.
    let migrations_applied = migrate::run(&mut ctx.backend(), true).await?;
    let tables_remade = migrate::remake_missing(&mut ctx.backend()).await?;
    Ok(Initialized {
        migrations_applied,
        tables_remade,
        schema: ctx.opts.schema.clone(),
    })
}

/// The SQL of `init --print`.
#[derive(Debug, Clone, Serialize)]
pub struct InitSql {
    pub sql: String,
}

/// `init --print`: the tables, the migration bookkeeping, then the GRANTs a
/// restricted role needs. Connects to nothing.
pub fn print(schema: Option<&str>, role: &str) -> InitSql {
    let store = Store::new(schema.map(str::to_string));
    InitSql {
        sql: migrate::init_sql(&store, schema, role),
    }
}
