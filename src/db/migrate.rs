//! Our tables' schema: versioned migrations (`migrations/*.sql`), applied
//! in order and recorded in `clusterctl_schema_migrations`, and the same SQL
//! printed for an admin (`init --print`) with the GRANTs a restricted role
//! needs.

use std::fmt::Write;

use std::time::{Duration, Instant};

use super::lease;
use super::live::LiveBackend;
use super::store::{Store, ACTIONS, MIGRATIONS, STATE, STRATEGIES};
use super::{Client, DbError, Missing};
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
    statements_of(sql)
        .map(|s| s.replace(SCHEMA_PLACEHOLDER, &prefix))
        .collect()
}

/// Where a migration's SQL names the schema (`__SCHEMA__.table`).
const SCHEMA_PLACEHOLDER: &str = "__SCHEMA__.";

/// A migration's statements as written, comments left out.
fn statements_of(sql: &str) -> impl Iterator<Item = String> {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(';')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// The columns of the table that records applied migrations.
const MIGRATIONS_COLUMNS: &str =
    "(version INT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)";

/// The statement creating the table that records applied migrations
/// (also printed by `init --print`).
pub fn migrations_table_statement(store: &Store) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} {MIGRATIONS_COLUMNS}",
        store.table(MIGRATIONS)
    )
}

/// A table named as one of ours that is not ours: it lacks a column ours
/// has, has one of ours with another type, or has a NOT NULL column
/// without a default that ours lacks (every INSERT of ours fails on it).
/// Another tool's, of the same name: `CREATE TABLE IF NOT EXISTS` leaves
/// it as it is, so a migration over it would create nothing and say it
/// did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Foreign {
    /// Quoted, with its schema when `--schema` names one, as every message
    /// names our tables.
    pub table: String,
    /// The columns ours has that it lacks, in the migration's order
    /// (empty, with nothing else found: the server said a column was
    /// missing without naming it).
    pub missing: Vec<String>,
    /// The columns of ours it has with another type, in the migration's
    /// order.
    pub retyped: Vec<Retyped>,
    /// Its columns that ours lacks, NOT NULL without a default, in the
    /// catalog's order.
    pub required: Vec<String>,
    /// What it is when it is no table: `information_schema.tables`'s
    /// `table_type` in lower case (`view`, `materialized view`, `source`).
    /// A view of our columns reads as ours, but every write is refused
    /// (Materialize: "cannot insert into view '…'").
    pub kind: Option<String>,
}

/// A column of ours that a table of our name has with another type; both
/// types as [`normal_type`] spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retyped {
    pub column: String,
    pub theirs: String,
    pub ours: String,
}

impl Foreign {
    /// What is wrong (the fix is [`Foreign::fix`]).
    pub fn said(tables: &[Foreign]) -> String {
        match tables {
            [one] => match &one.kind {
                Some(kind) => format!(
                    "{} is a {kind}, not clusterctl's table (another tool's {kind} of the same \
                     name?); clusterctl neither reads nor writes it",
                    one.table
                ),
                None => format!(
                    "table {} is not clusterctl's: {} (another tool's table of the same name?); \
                     clusterctl neither reads nor writes it",
                    one.table,
                    one.differences().join("; ")
                ),
            },
            _ => {
                let each: Vec<String> = tables
                    .iter()
                    .map(|f| format!("{} ({})", f.table, f.in_short().join("; ")))
                    .collect();
                let what = match tables.iter().all(Foreign::only_lacks) {
                    true => "they lack columns that clusterctl's have",
                    false => "their columns are not those of clusterctl's",
                };
                format!(
                    "tables {} are not clusterctl's: {what} (another tool's tables of the same \
                     names?); clusterctl neither reads nor writes them",
                    each.join(", ")
                )
            }
        }
    }

    /// Whether all it is known to differ by is columns it lacks.
    fn only_lacks(&self) -> bool {
        self.retyped.is_empty() && self.required.is_empty() && self.kind.is_none()
    }

    /// Each way it differs from ours, as a clause of [`Foreign::said`].
    fn differences(&self) -> Vec<String> {
        let mut said = Vec::new();
        if !self.missing.is_empty() || self.only_lacks() {
            said.push(match self.missing.len() {
                0 => "it lacks columns that clusterctl's has".to_string(),
                n => format!(
                    "it lacks the column{} {} that clusterctl's has",
                    crate::model::plural(n),
                    self.missing.join(", ")
                ),
            });
        }
        if !self.retyped.is_empty() {
            let each: Vec<String> = self
                .retyped
                .iter()
                .map(|r| {
                    format!(
                        "{} is {} where clusterctl's is {}",
                        r.column, r.theirs, r.ours
                    )
                })
                .collect();
            said.push(format!(
                "its column{} {}",
                crate::model::plural(each.len()),
                each.join(", ")
            ));
        }
        if !self.required.is_empty() {
            let n = self.required.len();
            said.push(format!(
                "it has the column{} {} NOT NULL without a default, which clusterctl's lacks \
                 (every row clusterctl writes would be refused)",
                crate::model::plural(n),
                self.required.join(", ")
            ));
        }
        said
    }

    /// [`Foreign::differences`] in short, for a list of tables.
    fn in_short(&self) -> Vec<String> {
        if let Some(kind) = &self.kind {
            return vec![format!("a {kind}")];
        }
        let mut said = Vec::new();
        if !self.missing.is_empty() {
            said.push(format!("no {}", self.missing.join(", ")));
        }
        said.extend(
            self.retyped
                .iter()
                .map(|r| format!("{} {}, not {}", r.column, r.theirs, r.ours)),
        );
        if !self.required.is_empty() {
            said.push(format!(
                "{} NOT NULL without a default",
                self.required.join(", ")
            ));
        }
        if said.is_empty() {
            said.push("a column missing".into());
        }
        said
    }

    /// What to do about them.
    pub fn fix(tables: &[Foreign]) -> String {
        let (that, holds) = match tables {
            [one] if one.kind.is_some() => ("it", "it holds"),
            [_] => ("that table", "it holds"),
            _ => ("those tables", "they hold"),
        };
        format!(
            "rename or drop {that} (after keeping what {holds}), or give clusterctl a schema \
             of its own with --schema NAME (`clusterctl init --schema NAME` creates it and the \
             tables)"
        )
    }
}

/// A column of ours, as the migrations make it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OurColumn {
    name: String,
    /// Every type a migration gave it ([`normal_type`]), the CREATE's
    /// first and a later ALTER's after it: a table an older clusterctl
    /// made, not migrated since, keeps an older one and is still ours.
    types: Vec<String>,
}

impl OurColumn {
    /// The type the newest migration gives it.
    fn newest(&self) -> &str {
        self.types.last().map_or("", String::as_str)
    }
}

/// Each table of ours, unquoted, with the columns its migration creates
/// and their types, followed through every migration (the migrations
/// table's too): what a table of that name must have to be ours.
fn our_columns() -> Vec<(String, Vec<OurColumn>)> {
    columns_after(MIGRATION_FILES)
}

/// [`our_columns`] of these migrations.
fn columns_after(migrations: &[(i32, &str, &str)]) -> Vec<(String, Vec<OurColumn>)> {
    let mut ours = vec![(MIGRATIONS.to_string(), column_defs(MIGRATIONS_COLUMNS))];
    for (_, _, sql) in migrations {
        ours.extend(created(sql));
        for (table, column, ty) in retyped_columns(sql) {
            let found = ours
                .iter_mut()
                .filter(|(t, _)| *t == table)
                .flat_map(|(_, columns)| columns.iter_mut())
                .find(|c| c.name == column);
            if let Some(c) = found {
                c.types.push(ty);
            }
        }
    }
    ours
}

/// Needs: information_schema.columns (`table_name`, `column_name`,
/// `data_type`, `is_nullable`, `column_default`; Materialize's is over
/// mz_columns, mz_objects and mz_schemas and lists every relation, its
/// `data_type` PostgreSQL's name of the type (`integer`, `timestamp with
/// time zone`) and its `column_default` the text `NULL` for a column
/// without one; PostgreSQL's lists those the role holds a privilege on),
/// information_schema.tables (`table_type`: `BASE TABLE` for a table;
/// Materialize also says `VIEW`, `MATERIALIZED VIEW`, `SOURCE`).
/// The tables of ours that exist but are not ours ([`Foreign`]), read in
/// one statement. A table the catalog shows no column of is not judged
/// (missing, or not visible to this role): the statements that read it
/// say what it is.
pub async fn not_ours(store: &Store, c: &Client) -> Result<Vec<Foreign>, DbError> {
    Ok(shown(store, c).await?.foreign(store))
}

/// One column of a table of one of our names, as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    table: String,
    column: String,
    /// `data_type` as the server spells it (compared by [`normal_type`]).
    data_type: Option<String>,
    /// `is_nullable` is `NO`.
    not_null: bool,
    /// `column_default`: NULL (PostgreSQL) or the text `NULL`
    /// (Materialize) when it has none.
    default: Option<String>,
    /// `information_schema.tables`' `table_type` of its relation, when
    /// not `BASE TABLE` (lower case): [`Foreign::kind`].
    kind: Option<String>,
}

impl Seen {
    /// NOT NULL without a default: an INSERT that leaves it out fails.
    fn required(&self) -> bool {
        self.not_null && self.default.as_deref().is_none_or(null_default)
    }
}

/// What the catalog shows of the tables of our names, read once
/// ([`shown`]): which are another tool's ([`Shown::foreign`]) and which
/// exist ([`Shown::existing`]), for `doctor`, which asks both.
pub struct Shown(Vec<Seen>);

impl Shown {
    /// [`not_ours`] of what was read.
    pub fn foreign(&self, store: &Store) -> Vec<Foreign> {
        foreign(store, &our_columns(), &self.0)
    }

    /// The tables of ours the catalog shows (quoted as every message names
    /// them), whether or not every migration is recorded: the reference's
    /// three, before our first apply (`doctor` listed them as to be
    /// created, and checked no privilege on them: an outside check).
    pub fn existing(&self, store: &Store) -> Vec<String> {
        let mut tables: Vec<String> = self.0.iter().map(|s| store.table(&s.table)).collect();
        tables.sort();
        tables.dedup();
        tables
    }
}

/// Whether an error's words are what another tool's table of one of our
/// names makes our statements fail with: a column of another type than
/// the driver reads (its conversion error), an operator or an expression
/// of the wrong type, a NOT NULL column ours does not fill, or a write a
/// view refuses. Then
/// [`not_ours`] is asked (`LiveBackend::explain_missing`).
pub fn foreign_shape(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "error deserializing column",
        "operator does not exist",
        "but expression is of type",
        "violates not-null constraint",
        // A view of our name: Materialize's planner ("cannot insert into
        // view '…'", "cannot mutate view '…'"), PostgreSQL's rewriter.
        "cannot insert into",
        "cannot mutate",
        "cannot update view",
        "cannot delete from view",
    ]
    .iter()
    .any(|w| r.contains(w))
}

/// [`Shown`], read in one statement.
pub async fn shown(store: &Store, c: &Client) -> Result<Shown, DbError> {
    columns_shown(store, c).await.map(Shown)
}

/// Every column of every table of one of our names, as the catalog shows
/// them, in one statement.
async fn columns_shown(store: &Store, c: &Client) -> Result<Vec<Seen>, DbError> {
    let ours = our_columns();
    let names: Vec<String> = ours.iter().map(|(t, _)| ddl::literal(t)).collect();
    let sql = |nullable: &str| {
        format!(
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text, {nullable}, \
             t.table_type::text \
             FROM information_schema.columns c LEFT JOIN information_schema.tables t \
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema::text = coalesce($1, current_schema()::text) \
             AND c.table_name::text IN ({}) ORDER BY c.ordinal_position",
            names.join(", ")
        )
    };
    let schema = store.schema().map(str::to_string);
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), _); 1] =
        [(&schema, tokio_postgres::types::Type::TEXT)];
    let rows = match c
        .query_typed(&sql("c.is_nullable::text, c.column_default::text"), &params)
        .await
    {
        // Materialize's view had neither column before (its older
        // information_schema.columns has nine, `data_type` the last but
        // three): there, only missing columns and types are judged, not
        // the extra NOT NULL ones (one more statement, on those releases).
        // Materialize says so under XX000 (a plan error), PostgreSQL under
        // 42703: read by the words ([`super::unknown_column`]).
        Err(e)
            if matches!(
                super::unknown_column(&e).as_deref(),
                Some("is_nullable" | "column_default" | "")
            ) =>
        {
            c.query_typed(&sql("NULL::text, NULL::text"), &params).await
        }
        other => other,
    }
    .map_err(|e| DbError::query("checking the columns of clusterctl's tables", &e))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Seen {
                table: r.try_get(0).ok()?,
                column: r.try_get(1).ok()?,
                data_type: r.try_get(2).ok().flatten(),
                not_null: r
                    .try_get::<_, Option<String>>(3)
                    .ok()
                    .flatten()
                    .is_some_and(|n| n.eq_ignore_ascii_case("NO")),
                default: r.try_get(4).ok().flatten(),
                kind: r
                    .try_get::<_, Option<String>>(5)
                    .ok()
                    .flatten()
                    .filter(|t| !t.eq_ignore_ascii_case("BASE TABLE"))
                    .map(|t| t.to_lowercase()),
            })
        })
        .collect())
}

/// Of `ours` (each table with its columns), those `found` (the catalog's
/// columns) shows as another tool's: a column of ours missing or of
/// another type, or a column ours lacks that every INSERT of ours would
/// fail on.
fn foreign(store: &Store, ours: &[(String, Vec<OurColumn>)], found: &[Seen]) -> Vec<Foreign> {
    ours.iter()
        .filter_map(|(table, columns)| {
            let has: Vec<&Seen> = found.iter().filter(|s| s.table == *table).collect();
            if has.is_empty() {
                return None;
            }
            let seen = |name: &str| has.iter().find(|s| s.column == name);
            let missing: Vec<String> = columns
                .iter()
                .filter(|c| seen(&c.name).is_none())
                .map(|c| c.name.clone())
                .collect();
            let retyped: Vec<Retyped> = columns
                .iter()
                .filter_map(|c| {
                    let theirs = normal_type(seen(&c.name)?.data_type.as_deref()?);
                    (!c.types.contains(&theirs)).then(|| Retyped {
                        column: c.name.clone(),
                        theirs,
                        ours: c.newest().to_string(),
                    })
                })
                .collect();
            let required: Vec<String> = has
                .iter()
                .filter(|s| s.required() && !columns.iter().any(|c| c.name == s.column))
                .map(|s| s.column.clone())
                .collect();
            let f = Foreign {
                table: store.table(table),
                missing,
                retyped,
                required,
                kind: has.iter().find_map(|s| s.kind.clone()),
            };
            (!f.missing.is_empty() || !f.only_lacks()).then_some(f)
        })
        .collect()
}

/// Whether a `column_default` is no default at all: `NULL` (Materialize
/// shows a column without one so), or a typed `NULL::text`.
fn null_default(default: &str) -> bool {
    let value = default.split("::").next().unwrap_or_default();
    value
        .trim()
        .trim_matches(|c| c == '(' || c == ')')
        .trim()
        .eq_ignore_ascii_case("null")
}

/// A type's one spelling, whichever the server or a migration used:
/// PostgreSQL's `information_schema` and Materialize's (from its
/// pgrepr's `Type::name`) spell it as SQL does (`integer`, `timestamp
/// with time zone`, `character varying`); older Materialize releases and
/// our migrations write the short names (`int4`, `INT`, `timestamptz`,
/// `varchar`). Lower case, without a length or precision (`varchar(20)`,
/// `numeric(10,2)`) or `pg_catalog.`; a type no alias is known of is kept
/// as spelled (lower case), so two different types never compare equal.
fn normal_type(spelling: &str) -> String {
    let mut bare = String::new();
    let mut depth = 0usize;
    for ch in spelling.trim().chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '"' => {}
            _ if depth == 0 => bare.extend(ch.to_lowercase()),
            _ => {}
        }
    }
    let words: Vec<&str> = bare.split_whitespace().collect();
    let joined = words.join(" ");
    let joined = joined.strip_prefix("pg_catalog.").unwrap_or(&joined);
    let (base, array) = match joined.strip_suffix("[]") {
        Some(b) => (b.trim_end(), "[]"),
        None => (joined, ""),
    };
    let name = match base {
        "int" | "int4" | "integer" => "integer",
        "int8" | "bigint" => "bigint",
        "int2" | "smallint" => "smallint",
        "bool" | "boolean" => "boolean",
        "timestamptz" | "timestamp with time zone" => "timestamp with time zone",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timetz" | "time with time zone" => "time with time zone",
        "time" | "time without time zone" => "time",
        "varchar" | "character varying" => "character varying",
        "char" | "bpchar" | "character" => "character",
        "float8" | "double precision" => "double precision",
        "float4" | "real" => "real",
        "decimal" | "numeric" => "numeric",
        other => other,
    };
    format!("{name}{array}")
}

/// [`not_ours`] as an error, retried; nothing when every table of that
/// name is ours.
async fn refuse_foreign(backend: &mut LiveBackend<'_>) -> Result<(), DbError> {
    let store = backend.store();
    let tables = backend
        .retrying(CHECKING, async |c| not_ours(store, c).await)
        .await?;
    match tables.is_empty() {
        true => Ok(()),
        false => Err(DbError::NotOurs { tables }),
    }
}

/// What the migrations table says.
enum Recorded {
    /// The versions recorded, and the relations of our names that are no
    /// tables (views: [`Foreign::kind`]), read in the same statement.
    Versions(Vec<i32>, Vec<Foreign>),
    /// No migrations table (PostgreSQL says the same when the schema is
    /// missing).
    NoTable,
    /// The schema itself is missing (Materialize says so on SELECT).
    NoSchema,
}

/// Needs: information_schema.tables (`table_type`, as [`not_ours`]). In
/// the same statement as the versions, the relations of our names that
/// are no tables: a view put in place of one of our tables after `init`
/// was read by every later run, which sent DDL from its rows, and every
/// writing command changed rows through it before its audit row was
/// refused (an outside check). No statement more.
async fn recorded(store: &Store, c: &Client) -> Result<Recorded, DbError> {
    let names: Vec<String> = our_columns().iter().map(|(t, _)| ddl::literal(t)).collect();
    let sql = format!(
        "SELECT version, NULL::text, NULL::text FROM {} UNION ALL \
         SELECT NULL::int4, table_name::text, lower(table_type::text) \
         FROM information_schema.tables \
         WHERE table_schema::text = coalesce($1, current_schema()::text) \
         AND table_name::text IN ({}) AND table_type::text <> 'BASE TABLE'",
        store.table(MIGRATIONS),
        names.join(", ")
    );
    let schema = store.schema().map(str::to_string);
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), _); 1] =
        [(&schema, tokio_postgres::types::Type::TEXT)];
    match c.query_typed(&sql, &params).await {
        Ok(rows) => {
            let versions = rows
                .iter()
                .filter_map(|r| r.try_get(0).ok().flatten())
                .collect();
            let not_tables = rows
                .iter()
                .filter_map(|r| {
                    let table: String = r.try_get(1).ok().flatten()?;
                    let kind: String = r.try_get(2).ok().flatten()?;
                    Some(Foreign {
                        table: store.table(&table),
                        kind: Some(kind),
                        ..Default::default()
                    })
                })
                .collect();
            Ok(Recorded::Versions(versions, not_tables))
        }
        Err(e) => match Missing::of(&e) {
            Some(Missing::Schema) => Ok(Recorded::NoSchema),
            Some(Missing::Table) => Ok(Recorded::NoTable),
            None => Err(DbError::query("reading applied migrations", &e)),
        },
    }
}

/// Versions recorded as applied; `None` when the migrations table does
/// not exist yet; an error naming the schema when that does not exist.
async fn applied_versions(store: &Store, c: &Client) -> Result<Option<Vec<i32>>, DbError> {
    match recorded(store, c).await? {
        Recorded::Versions(v, _) => Ok(Some(v)),
        Recorded::NoTable => Ok(None),
        Recorded::NoSchema => Err(missing_schema(store)),
    }
}

/// The one rule for "a newer clusterctl migrated these tables": the
/// highest version recorded is above the highest this binary knows. What a
/// later migration changed (a column's meaning, a row a run must write)
/// this binary cannot know, so it must not write to them.
pub fn newer_schema(done: &[i32]) -> Option<DbError> {
    let known = latest_known();
    let recorded = done.iter().copied().max().filter(|&v| v > known)?;
    Some(DbError::SchemaNewer { recorded, known })
}

/// The highest migration this binary knows.
fn latest_known() -> i32 {
    MIGRATION_FILES
        .iter()
        .map(|(v, _, _)| *v)
        .max()
        .unwrap_or(0)
}

/// What the snapshot last read of the migrations table, for a reading
/// command to say [`newer_schema`] without a statement of its own
/// ([`super::store::Store::unfinished_and_schema_sql`]); nothing until a
/// snapshot read it.
#[derive(Debug, Default)]
pub struct SchemaSeen(std::sync::Mutex<Option<Vec<i32>>>);

impl SchemaSeen {
    pub fn record(&self, versions: Vec<i32>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(versions);
    }

    /// What was read since the last take, forgotten (a watcher's next
    /// refresh reads again).
    pub fn take(&self) -> Option<Vec<i32>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// [`newer_schema`] of what the migrations table records: one statement.
/// No table (or no schema) is no newer schema: the commands say that
/// themselves.
pub async fn check_not_newer(store: &Store, c: &Client) -> Result<Option<DbError>, DbError> {
    match recorded(store, c).await? {
        Recorded::Versions(done, not_tables) => Ok(newer_schema(&done).or_else(|| {
            (!not_tables.is_empty()).then_some(DbError::NotOurs { tables: not_tables })
        })),
        Recorded::NoTable | Recorded::NoSchema => Ok(None),
    }
}

fn complete(done: &[i32]) -> bool {
    MIGRATION_FILES.iter().all(|(v, _, _)| done.contains(v))
}

/// What the first `apply` still has to create, for `doctor`: the tables of
/// the migrations not recorded (all of them without a migrations table; the
/// migrations table itself then too). Empty when every migration is
/// recorded; [`DbError::SchemaNewer`] for tables a newer clusterctl
/// migrated. Tables an earlier tool created (mz-clusterctl's three) are
/// listed too: a migration creates them `IF NOT EXISTS`, and the statement
/// needs `CREATE` on the schema all the same.
pub async fn to_create(store: &Store, c: &Client) -> Result<Vec<String>, DbError> {
    let done = applied_versions(store, c).await?.unwrap_or_default();
    // `doctor` reports it as what blocks apply.
    if let Some(newer) = newer_schema(&done) {
        return Err(newer);
    }
    if complete(&done) {
        return Ok(Vec::new());
    }
    let mut tables = vec![store.table(MIGRATIONS)];
    for (version, _, sql) in MIGRATION_FILES {
        if !done.contains(version) {
            tables.extend(created_tables(store, sql));
        }
    }
    tables.dedup();
    Ok(tables)
}

/// The tables of the recorded migrations that do not exist (dropped by
/// hand), as quoted names: what `init` makes again and `doctor` calls a
/// blocker (it said apply would work over a missing audit trail or lease
/// table, which the snapshot does not read or reads as optional).
pub async fn missing_tables(backend: &mut LiveBackend<'_>) -> Result<Vec<String>, DbError> {
    let store = backend.store();
    let tables: Vec<String> = MIGRATION_FILES
        .iter()
        .flat_map(|(_, _, sql)| created_tables(store, sql))
        .collect();
    backend
        .retrying(CHECKING, async |c| {
            let mut missing = Vec::new();
            for t in &tables {
                let probe = format!("SELECT 1 FROM {t} WHERE false");
                if let Err(e) = c.batch_execute(&probe).await {
                    match super::Missing::of(&e) {
                        Some(super::Missing::Table) => missing.push(t.clone()),
                        _ => return Err(DbError::query(format!("checking {t}"), &e)),
                    }
                }
            }
            Ok(missing)
        })
        .await
}

/// Whether our role may create tables in the schema ours live in
/// (`--schema`, or the connection's current one): `(schema, may)`.
pub async fn may_create(store: &Store, c: &Client) -> Result<(String, bool), DbError> {
    schema_privilege(store, c, "CREATE").await
}

/// Whether our role holds `privilege` (`CREATE`, `USAGE`) on the schema
/// ours live in: `(schema, held)`.
pub async fn schema_privilege(
    store: &Store,
    c: &Client,
    privilege: &str,
) -> Result<(String, bool), DbError> {
    let p = ddl::literal(privilege);
    let sql = match store.schema() {
        Some(s) => format!(
            "SELECT {lit}::text, has_schema_privilege({lit}, {p})",
            lit = ddl::literal(s)
        ),
        None => {
            format!("SELECT current_schema()::text, has_schema_privilege(current_schema(), {p})")
        }
    };
    let rows = c
        .query_typed(&sql, &[])
        .await
        .map_err(|e| DbError::query(format!("checking {privilege} on the schema"), &e))?;
    let row = rows.first();
    Ok((
        row.and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten())
            .unwrap_or_else(|| "public".into()),
        row.and_then(|r| r.try_get::<_, Option<bool>>(1).ok().flatten())
            .unwrap_or(false),
    ))
}

/// A CREATE of ours refused for want of a privilege: what the role needs,
/// and who can do it instead.
pub const CREATE_REFUSED: &str = "creating clusterctl's tables needs CREATE on their schema, \
     once (`clusterctl doctor` prints the GRANT), or an admin runs `clusterctl init` (or the \
     SQL of `clusterctl init --print`)";

/// The schema named by `--schema` does not exist.
pub(super) fn missing_schema(store: &Store) -> DbError {
    let name = store.schema().unwrap_or_default();
    // As a shell takes it: the fix is pasted (`--schema 'my schema'`).
    let flag = format!("--schema {}", crate::model::shell_value(name));
    DbError::SchemaMissing {
        reason: format!(
            "schema {} does not exist; only `clusterctl init {flag}` creates a schema \
             (or check the name)",
            ddl::ident(name)
        ),
        context: flag,
    }
}

/// A concurrent creator of the same object won the race (PostgreSQL's
/// `CREATE … IF NOT EXISTS` is not atomic: the loser fails on the catalog's
/// unique index, 23505 on `pg_type_typname_nsp_index`, or with 42P07). The
/// object exists then, as the winner created it.
fn lost_create_race(stmt: &str, e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    stmt.trim_start().starts_with("CREATE ")
        && e.as_db_error().is_some_and(|d| {
            [
                SqlState::UNIQUE_VIOLATION,
                SqlState::DUPLICATE_TABLE,
                SqlState::DUPLICATE_SCHEMA,
                SqlState::DUPLICATE_OBJECT,
            ]
            .contains(d.code())
                || d.message().contains("already exists")
        })
}

/// Runs one idempotent migration statement; losing a creation race to a
/// concurrent run counts as done.
async fn run_idempotent(
    store: &Store,
    c: &Client,
    stmt: &str,
    context: &str,
) -> Result<(), DbError> {
    match c.batch_execute(stmt).await {
        Ok(()) => Ok(()),
        Err(e) if lost_create_race(stmt, &e) => Ok(()),
        Err(e) if Missing::of(&e) == Some(Missing::Schema) => Err(missing_schema(store)),
        Err(e) if super::refused(&e) => Err(DbError::query(context, &e).with_hint(CREATE_REFUSED)),
        Err(e) => Err(DbError::query(context, &e)),
    }
}

// Concurrent first runs (a fleet of cron jobs on a fresh database) must all
// succeed and record each migration once. Neither database offers a lock
// both understand: Materialize has no advisory locks, no unique constraints
// and no multi-statement read-write transactions; PostgreSQL's
// `CREATE TABLE IF NOT EXISTS` races and its `INSERT … WHERE NOT EXISTS`
// is not exclusive under READ COMMITTED. What both do serialize is a
// conditional UPDATE of an existing row (PostgreSQL locks the row and
// re-checks the condition; Materialize takes the table's write lock for a
// read-then-write), which is how the controller lease works. So:
//
// 1. Every statement before the lock is idempotent and tolerates losing a
//    creation race: the migrations table, the lease table (migration 2's
//    `CREATE TABLE IF NOT EXISTS`), then a lease row named `migrations`
//    (`INSERT … WHERE NOT EXISTS`). Racing seeds may leave two such rows;
//    every UPDATE addresses all rows of the name at once, so that is
//    harmless.
// 2. One run takes that row with a compare-and-set (holder = host:pid, a
//    short TTL so a killed run blocks nobody for long); the others poll
//    until the migrations are recorded (or the lock expires) and go on.
// 3. The holder re-reads what is applied, runs the missing migrations (all
//    idempotent) and records each with `INSERT … WHERE NOT EXISTS`, which
//    under the lock cannot duplicate; then it frees the row.

/// The migration whose table holds the migration lock (the lease table).
const LOCK_MIGRATION: i32 = 2;
/// The lease row that serializes migrating runs.
const LOCK_NAME: &str = "migrations";
/// How long a migrating run holds the lock unless it finishes first.
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a run waits for the lock: a live migrator holds it for at most
/// [`LOCK_TTL`] (by the database's clock), a killed one as long.
const LOCK_WAIT: Duration = Duration::from_secs(60);
const LOCK_POLL: Duration = Duration::from_millis(200);

/// What the retry loop says it was doing when a step fails (connecting
/// included): checking first, so a run whose tables exist never says it
/// was creating them.
const CHECKING: &str = "checking clusterctl's tables (schema and migrations)";
const CREATING: &str = "creating clusterctl's tables";

/// Creates or upgrades our tables; returns the versions applied now.
/// When every migration is recorded it issues no DDL at all, so a role
/// without `CREATE` works once the tables exist (`init --print`). Only
/// with `create_schema` (`init`) does it create a missing `--schema`, and
/// only when the tables are missing: every other command refuses a schema
/// that does not exist, so a typo never silently starts an empty set of
/// tables with a lease of its own. (`CREATE SCHEMA IF NOT EXISTS` needs
/// `CREATE` on the database even when the schema exists.)
///
/// Each step is retried on its own under the statement deadline; waiting
/// for the migration lock is not a step: a held lock is an answer, and
/// when it stays held the error says by whom and until when.
///
/// Tables a newer clusterctl migrated ([`newer_schema`]) are refused here,
/// before any statement that writes: this is the read every `apply` and
/// `init` makes anyway, so the check costs no statement.
pub async fn run(backend: &mut LiveBackend<'_>, create_schema: bool) -> Result<Vec<i32>, DbError> {
    let store = backend.store();
    let found = backend
        .retrying(CHECKING, async |c| recorded(store, c).await)
        .await?;
    if let Recorded::Versions(done, not_tables) = &found {
        if let Some(newer) = newer_schema(done) {
            return Err(newer);
        }
        if !not_tables.is_empty() {
            return Err(DbError::NotOurs {
                tables: not_tables.clone(),
            });
        }
    }
    match (&found, store.schema()) {
        (Recorded::Versions(done, _), _) if complete(done) => return Ok(Vec::new()),
        (Recorded::Versions(..), _) => {}
        (_, Some(schema)) if create_schema => {
            let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", ddl::ident(schema));
            let context = format!("creating schema {schema}");
            backend
                .retrying(&context, async |c| {
                    run_idempotent(store, c, &sql, &context).await
                })
                .await?;
        }
        (Recorded::NoSchema, _) => return Err(missing_schema(store)),
        (Recorded::NoTable, _) => {}
    }
    // Before any table is made: over another tool's table of one of our
    // names, `IF NOT EXISTS` made nothing, the migration was recorded, and
    // every command then failed on a column (an outside check).
    refuse_foreign(backend).await?;
    let applied = under_the_lock(backend, async |c| apply_missing(store, c).await).await?;
    Ok(applied.unwrap_or_default())
}

/// Runs `work` (retried) under the migration lock, set up first and given
/// back after, whatever `work` did; `None` when another run held it and
/// every migration was recorded meanwhile (nothing left to do).
async fn under_the_lock<T>(
    backend: &mut LiveBackend<'_>,
    mut work: impl AsyncFnMut(&Client) -> Result<T, DbError>,
) -> Result<Option<T>, DbError> {
    let store = backend.store();
    backend
        .retrying(CREATING, async |c| bootstrap_lock(store, c).await)
        .await?;
    let me = lease::Holder::me(&uuid::Uuid::nil());
    if !wait_for_lock(backend, &me).await? {
        return Ok(None);
    }
    let result = backend.retrying(CREATING, async |c| work(c).await).await;
    let released = backend
        .releasing("releasing the migration lock", async |c| {
            release_lock(store, c, &me.0).await
        })
        .await;
    let done = result?;
    released?;
    Ok(Some(done))
}

/// Step 1: the migrations table, the lease table and the lock row,
/// idempotently.
async fn bootstrap_lock(store: &Store, c: &Client) -> Result<(), DbError> {
    let migrations = migrations_table_statement(store);
    run_idempotent(store, c, &migrations, "creating the migrations table").await?;
    let lock_migration = MIGRATION_FILES
        .iter()
        .find(|(v, _, _)| *v == LOCK_MIGRATION);
    if let Some((version, name, sql)) = lock_migration {
        // Only its table: the rest of that migration (seeding the
        // controller's row) runs under the lock, so it happens once.
        let context = format!("applying migration {version} ({name})");
        for stmt in migration_statements(store, sql) {
            if stmt.starts_with("CREATE TABLE IF NOT EXISTS ") {
                run_idempotent(store, c, &stmt, &context).await?;
            }
        }
    }
    lease::seed(c, store, LOCK_NAME)
        .await
        .map_err(|e| DbError::query("seeding the migration lock", &e))?;
    Ok(())
}

/// What one look at the migration lock found.
enum Lock {
    /// Ours now: migrate.
    Taken,
    /// Another run recorded every migration meanwhile: nothing to do.
    Done,
    /// Held by another run, as the database sees it.
    Busy(lease::Row),
}

/// Step 2: polls the lock until it is ours (`true`) or another run has
/// migrated (`false`). A lock that stays held past [`LOCK_WAIT`] (or that
/// the database says is held for longer than the wait has left) is an
/// error naming its holder and its end.
async fn wait_for_lock(backend: &mut LiveBackend<'_>, me: &lease::Holder) -> Result<bool, DbError> {
    let store = backend.store();
    let attempt = backend.statement_timeout();
    let started = Instant::now();
    loop {
        let look = backend
            .retrying("taking the migration lock", async |c| {
                take_lock(store, c, me, attempt).await
            })
            .await?;
        match look {
            Lock::Taken => return Ok(true),
            Lock::Done => return Ok(false),
            Lock::Busy(row) if row.held_for() > LOCK_WAIT.saturating_sub(started.elapsed()) => {
                return Err(lock_held(store, &row))
            }
            Lock::Busy(_) => tokio::time::sleep(LOCK_POLL).await,
        }
    }
}

/// One compare-and-set on the lock row by the lease's rule (the
/// database's clock judges expiry, and a take answered late changes
/// nothing: [`lease::take`], after a read of the row); when it is not
/// ours, whether the migrations are done, else who holds it.
async fn take_lock(
    store: &Store,
    c: &Client,
    me: &lease::Holder,
    attempt: Duration,
) -> Result<Lock, DbError> {
    let row = lease::read_row(c, store, LOCK_NAME)
        .await
        .map_err(|e| DbError::query("reading the migration lock", &e))?;
    let Some(row) = row else {
        // A row deleted meanwhile is put back (free): the next look takes it.
        lease::seed(c, store, LOCK_NAME)
            .await
            .map_err(|e| DbError::query("seeding the migration lock", &e))?;
        return Ok(Lock::Busy(lease::Row::free()));
    };
    let theirs = row.held_by_another(me);
    if !theirs {
        let n = lease::take(c, store, LOCK_NAME, &me.0, LOCK_TTL, &row, attempt)
            .await
            .map_err(|e| DbError::query("taking the migration lock", &e))?;
        if n > 0 {
            return Ok(Lock::Taken);
        }
    }
    if applied_versions(store, c)
        .await?
        .is_some_and(|d| complete(&d))
    {
        return Ok(Lock::Done);
    }
    if !theirs {
        // Taken (or given back) since it was read: look again.
        return Ok(Lock::Busy(lease::Row::free()));
    }
    // A migrator that provably died on this host: at once, as the
    // controller's lease (not after the lock's TTL).
    let taken = lease::take_over(c, store, LOCK_NAME, &row, me, LOCK_TTL, attempt)
        .await
        .map_err(|e| DbError::query("taking over the migration lock", &e))?;
    match taken {
        lease::TakeOver::Taken(why) => {
            tracing::warn!("took over the migration lock of {}: {why}", row.holder);
            Ok(Lock::Taken)
        }
        // Another contender took it first: look again.
        lease::TakeOver::Lost => Ok(Lock::Busy(lease::Row::free())),
        lease::TakeOver::MayBeActing => Ok(Lock::Busy(row)),
    }
}

/// The lock stays held: by whom and until when (the database's time), so
/// the operator knows whether to wait or who to look for. Not the server's
/// fault: it answered every statement.
fn lock_held(store: &Store, row: &lease::Row) -> DbError {
    let reason = match row.until {
        Some(_) => format!(
            "the migration lock is held by {} until {} (the database's clock): another run \
             is migrating, or one was stopped while migrating and its lock ends then; \
             try again after that",
            crate::model::printable(&row.holder),
            lease::until_text(row.until)
        ),
        // Written by hand: no run ever sets such an expiry, and none ends it.
        None => format!(
            "the migration lock is held by {} with no end (its expiry is infinity): free it \
             with UPDATE {} SET holder = '', expires_at = now() WHERE name = '{LOCK_NAME}'",
            crate::model::printable(&row.holder),
            store.table(super::store::LEASE)
        ),
    };
    DbError::Query {
        context: "migrating clusterctl's tables".into(),
        reason,
        transient: false,
    }
}

async fn release_lock(store: &Store, c: &Client, me: &str) -> Result<(), DbError> {
    lease::give_back(c, store, LOCK_NAME, me)
        .await
        .map_err(|e| DbError::query("releasing the migration lock", &e))?;
    Ok(())
}

/// The statement recording a migration, harmless when run twice.
fn record_statement(store: &Store, version: i32, name: &str) -> String {
    format!(
        "INSERT INTO {t} (version, name, applied_at) SELECT {version}, {}, now() \
         WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE version = {version})",
        ddl::literal(name),
        t = store.table(MIGRATIONS)
    )
}

/// Step 3, under the lock: the migrations not recorded yet.
async fn apply_missing(store: &Store, c: &Client) -> Result<Vec<i32>, DbError> {
    let done = applied_versions(store, c).await?.unwrap_or_default();
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATION_FILES {
        if done.contains(version) {
            continue;
        }
        let context = format!("applying migration {version} ({name})");
        for stmt in migration_statements(store, sql) {
            run_idempotent(store, c, &stmt, &context).await?;
        }
        c.batch_execute(&record_statement(store, *version, name))
            .await
            .map_err(|e| DbError::query(format!("recording migration {version}"), &e))?;
        applied.push(*version);
    }
    Ok(applied)
}

/// `init`'s repair: the tables of recorded migrations that are missing
/// (dropped by hand) are made again, empty, under the migration lock, by
/// every migration's statements (each idempotent: `CREATE TABLE IF NOT
/// EXISTS`, a seed `WHERE NOT EXISTS`). `init` found every migration
/// recorded and did nothing, though the error of every other command told
/// to run it. Returns the tables made again.
///
/// A table of ours another tool made ([`Foreign`]) is refused here too,
/// every migration recorded or not: `init` never says all is well over
/// tables every other command fails on.
pub async fn remake_missing(backend: &mut LiveBackend<'_>) -> Result<Vec<String>, DbError> {
    refuse_foreign(backend).await?;
    let store = backend.store();
    let missing = missing_tables(backend).await?;
    if missing.is_empty() {
        return Ok(missing);
    }
    // Another run holding the lock with every migration recorded: not
    // ours to repair now (the next `init` looks again).
    let made = under_the_lock(backend, async |c| {
        for (version, name, sql) in MIGRATION_FILES {
            let context = format!("making again the tables of migration {version} ({name})");
            for stmt in migration_statements(store, sql) {
                run_idempotent(store, c, &stmt, &context).await?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(made.map(|()| missing).unwrap_or_default())
}

/// Everything `apply` would create, as SQL an admin can run, followed by the
/// GRANTs a restricted role needs (README, "Required Materialize privileges").
pub fn init_sql(store: &Store, schema: Option<&str>, role: &str) -> String {
    let role_q = ddl::ident(role);
    // In a comment, a line break in the name would end it and run the rest;
    // shown escaped, it names another role once pasted (an outside check):
    // such a name is left to the GRANTs below, which hold it whole.
    let shown_whole = crate::model::printable(&role_q) == role_q;
    let create = match shown_whole {
        true => format!("CREATE ROLE {role_q};"),
        false => "create it by the name the GRANTs below give (it holds characters a \
                  comment cannot)"
            .to_string(),
    };
    let role_c = match shown_whole {
        true => role_q.clone(),
        false => "<the role the GRANTs name>".to_string(),
    };
    let role = crate::model::printable(role);
    let mut s = String::from(
        "-- clusterctl: tables (what `clusterctl apply` / `clusterctl init` create).\n\
         -- CREATE TABLE IF NOT EXISTS leaves a table of the same name as it is: if\n\
         -- another tool has one, run `clusterctl doctor` first (it says so).\n",
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
        let _ = writeln!(s, "{};", record_statement(store, *version, name));
    }
    let schema_q = schema.map(ddl::ident).unwrap_or_else(|| "public".into());
    let _ = writeln!(
        s,
        "\n-- Privileges for the role clusterctl runs as ({role}; pass --role to change).\n\
         -- The role must exist: {create}\n\
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
         -- ALTER CLUSTER <name> OWNER TO {role_c};\n\
         -- The --exec-cluster its own queries run on:\n\
         -- GRANT USAGE ON CLUSTER <name> TO {role_c};\n\
         -- apply --audit-retention (deletes the trail's old settled rows):\n\
         -- GRANT DELETE ON {actions} TO {role_c};",
        actions = crate::model::printable(&store.table(ACTIONS))
    );
    s
}

/// Tables a migration creates, for their GRANTs, quoted as the other
/// GRANTs are.
fn created_tables(store: &Store, sql: &str) -> Vec<String> {
    created(sql)
        .into_iter()
        .map(|(name, _)| store.table(&name))
        .collect()
}

/// Tables a migration creates, unquoted, each with its columns. Read from
/// the statements as written, before the schema is put in: a schema's
/// quoted name may hold a space (`"my schema"`), which cut the table's
/// name short.
fn created(sql: &str) -> Vec<(String, Vec<OurColumn>)> {
    statements_of(sql)
        .filter_map(|stmt| {
            let rest = stmt
                .strip_prefix("CREATE TABLE IF NOT EXISTS ")?
                .strip_prefix(SCHEMA_PLACEHOLDER)?;
            let name = rest.split([' ', '(']).next()?;
            Some((name.to_string(), column_defs(rest)))
        })
        .collect()
}

/// The columns of a `CREATE TABLE`'s column list (`(name TYPE …, …)`):
/// each entry's first word, and its type: the words after it up to the
/// first of a constraint's (`NOT NULL`, `DEFAULT …`).
fn column_defs(definition: &str) -> Vec<OurColumn> {
    let Some((_, list)) = definition.split_once('(') else {
        return Vec::new();
    };
    let list = list.rsplit_once(')').map_or(list, |(l, _)| l);
    top_level(list, ',')
        .into_iter()
        .filter_map(|column| {
            let mut words = column.split_whitespace();
            let name = words.next()?.to_string();
            let ty: Vec<&str> = words.take_while(|w| !constraint_word(w)).collect();
            Some(OurColumn {
                name,
                types: vec![normal_type(&ty.join(" "))],
            })
        })
        .collect()
}

/// Whether a word of a column's definition starts a constraint, ending
/// its type.
fn constraint_word(word: &str) -> bool {
    [
        "NOT",
        "NULL",
        "DEFAULT",
        "CONSTRAINT",
        "PRIMARY",
        "UNIQUE",
        "CHECK",
        "REFERENCES",
        "COLLATE",
        "GENERATED",
        "USING",
    ]
    .iter()
    .any(|k| word.eq_ignore_ascii_case(k))
}

/// `text` cut at each `sep` outside parentheses (a type's `numeric(10,
/// 2)`, a default's `f(a, b)`).
fn top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The column types a migration changes (`ALTER TABLE __SCHEMA__.t ALTER
/// [COLUMN] c [SET DATA] TYPE ty`, each action of the statement):
/// `(table, column, type)`, the type normalised.
fn retyped_columns(sql: &str) -> Vec<(String, String, String)> {
    let mut changed = Vec::new();
    for stmt in statements_of(sql) {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        let is = |i: usize, k: &str| words.get(i).is_some_and(|w| w.eq_ignore_ascii_case(k));
        if !(is(0, "ALTER") && is(1, "TABLE")) {
            continue;
        }
        let mut at = 2;
        if is(at, "IF") && is(at + 1, "EXISTS") {
            at += 2;
        }
        if is(at, "ONLY") {
            at += 1;
        }
        let Some(table) = words
            .get(at)
            .and_then(|t| t.strip_prefix(SCHEMA_PLACEHOLDER))
        else {
            continue;
        };
        let actions = words.get(at + 1..).unwrap_or_default().join(" ");
        for action in top_level(&actions, ',') {
            if let Some((column, ty)) = new_type(action) {
                changed.push((table.to_string(), column, ty));
            }
        }
    }
    changed
}

/// The column and its new type, of one `ALTER [COLUMN] c [SET DATA] TYPE
/// ty [USING …]` action.
fn new_type(action: &str) -> Option<(String, String)> {
    let words: Vec<&str> = action.split_whitespace().collect();
    let is = |i: usize, k: &str| words.get(i).is_some_and(|w| w.eq_ignore_ascii_case(k));
    let mut at = 0;
    if !is(at, "ALTER") {
        return None;
    }
    at += 1;
    if is(at, "COLUMN") {
        at += 1;
    }
    let column = words.get(at)?.to_string();
    at += 1;
    if is(at, "SET") && is(at + 1, "DATA") {
        at += 2;
    }
    if !is(at, "TYPE") {
        return None;
    }
    let ty: Vec<&str> = words
        .get(at + 1..)?
        .iter()
        .copied()
        .take_while(|w| !constraint_word(w))
        .collect();
    (!ty.is_empty()).then(|| (column, normal_type(&ty.join(" "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_version_above_every_known_one_is_a_newer_schema() {
        let known = latest_known();
        assert!(newer_schema(&[]).is_none());
        assert!(newer_schema(&[1]).is_none(), "older: this binary migrates");
        assert!(newer_schema(&[1, known]).is_none());
        let e = newer_schema(&[1, known + 1, known]).map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains(&format!("schema version {}", known + 1)), "{e}");
        assert!(e.contains(&format!("(up to {known})")), "{e}");
        assert!(e.contains("upgrade this clusterctl"), "{e}");
    }

    #[test]
    fn a_role_name_cannot_break_out_of_init_sqls_comments() {
        let sql = init_sql(&Store::new(None), None, "x\nDROP TABLE t; --");
        // Only inside a quoted identifier (a GRANT's), never a line of SQL
        // (after a comment's line: every comment naming the role).
        let lines: Vec<&str> = sql.lines().collect();
        for (i, _) in lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("DROP"))
        {
            assert!(
                i > 0 && lines[i - 1].starts_with("GRANT "),
                "line {i} after {:?}: {sql}",
                lines[i - 1]
            );
        }
        assert!(sql.contains("GRANT mz_monitor_redacted TO \"x\nDROP TABLE t; --\";"));
        assert!(sql.contains("-- The role must exist: create it by the name the GRANTs below"));
        assert!(!sql.contains("CREATE ROLE"), "{sql}");
        let plain = init_sql(&Store::new(None), None, "clusterctl");
        assert!(plain.contains("-- The role must exist: CREATE ROLE \"clusterctl\";"));
    }

    /// A schema whose name needs quotes and holds a space: each table
    /// whole (`init` said it made again `"my schema"."""my"`, and `init
    /// --print` granted on that).
    #[test]
    fn the_tables_of_a_schema_with_a_space_are_named_whole() {
        let store = Store::new(Some("my schema".into()));
        let tables: Vec<String> = MIGRATION_FILES
            .iter()
            .flat_map(|(_, _, sql)| created_tables(&store, sql))
            .collect();
        assert_eq!(
            tables,
            [STRATEGIES, STATE, ACTIONS, "clusterctl_lease"]
                .map(|t| format!("\"my schema\".\"{t}\""))
        );
        let sql = init_sql(&store, Some("my schema"), "r");
        assert!(
            sql.contains("GRANT SELECT, INSERT, UPDATE ON \"my schema\".\"clusterctl_lease\" TO"),
            "{sql}"
        );
    }

    /// What a table must have to be ours is read from the migrations
    /// (one place): every table, the migrations table's too, each column
    /// with its type.
    #[test]
    fn each_table_of_ours_has_the_columns_its_migration_creates() {
        let ours = our_columns();
        let of = |t: &str| {
            ours.iter()
                .find(|(name, _)| name == t)
                .map(|(_, c)| {
                    c.iter()
                        .map(|c| format!("{}:{}", c.name, c.types.join("|")))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        };
        let tz = "timestamp with time zone";
        assert_eq!(
            of(STRATEGIES),
            format!("cluster_id:text strategy_type:text config:jsonb updated_at:{tz}")
        );
        assert_eq!(
            of(STATE),
            format!("cluster_id:text state_version:integer payload:jsonb updated_at:{tz}")
        );
        assert_eq!(
            of(ACTIONS),
            format!(
                "action_id:text cluster_id:text action_sql:text decision_ctx:jsonb \
                 executed:boolean error_message:text created_at:{tz}"
            )
        );
        assert_eq!(
            of(MIGRATIONS),
            format!("version:integer name:text applied_at:{tz}")
        );
        assert_eq!(
            of("clusterctl_lease"),
            format!("name:text holder:text expires_at:{tz} acquired_at:{tz}")
        );
        assert_eq!(ours.len(), 5, "{ours:?}");
    }

    /// A column's type changed by a later migration is followed, and the
    /// type it had before stays ours (a table an older clusterctl made);
    /// a statement of another shape changes nothing.
    #[test]
    fn a_later_migrations_type_change_is_followed() {
        let sql = "-- a comment; with a semicolon\n\
            ALTER TABLE __SCHEMA__.mz_cluster_strategy_state ALTER COLUMN state_version \
            TYPE BIGINT USING state_version::bigint, ALTER payload SET DATA TYPE text;\n\
            ALTER TABLE IF EXISTS __SCHEMA__.clusterctl_lease ALTER COLUMN holder TYPE \
            VARCHAR(200);\n\
            ALTER TABLE __SCHEMA__.clusterctl_lease ADD COLUMN note TEXT;\n\
            INSERT INTO __SCHEMA__.clusterctl_lease (name) SELECT 'x'";
        assert_eq!(
            retyped_columns(sql),
            [
                (STATE, "state_version", "bigint"),
                (STATE, "payload", "text"),
                ("clusterctl_lease", "holder", "character varying"),
            ]
            .map(|(t, c, ty)| (t.to_string(), c.to_string(), ty.to_string()))
        );
        // Every migration shipped so far creates; none retypes.
        for (v, _, sql) in MIGRATION_FILES {
            assert_eq!(retyped_columns(sql), [], "migration {v}");
        }
        let mut history = MIGRATION_FILES.to_vec();
        history.push((3, "retype", sql));
        let ours = columns_after(&history);
        let store = Store::new(None);
        let state = |version: &str| {
            vec![
                seen(STATE, "cluster_id", "text", true, None),
                seen(STATE, "state_version", version, true, None),
                seen(STATE, "payload", "jsonb", true, None),
                seen(
                    STATE,
                    "updated_at",
                    "timestamp with time zone",
                    false,
                    Some("now()"),
                ),
            ]
        };
        assert_eq!(foreign(&store, &ours, &state("integer")), []);
        assert_eq!(foreign(&store, &ours, &state("int8")), []);
        let older = foreign(&store, &ours, &state("text"));
        assert_eq!(
            older.first().map(|f| f.retyped.clone()),
            Some(vec![Retyped {
                column: "state_version".into(),
                theirs: "text".into(),
                ours: "bigint".into(),
            }]),
            "the newest type is the one said"
        );
    }

    /// One column as the catalog shows it.
    fn seen(table: &str, column: &str, ty: &str, not_null: bool, default: Option<&str>) -> Seen {
        Seen {
            table: table.into(),
            column: column.into(),
            data_type: Some(ty.into()),
            not_null,
            default: default.map(str::to_string),
            kind: None,
        }
    }

    /// Each table of ours as the catalog shows it after `migrations` ran,
    /// every type spelled by `spell` (PostgreSQL's information_schema, or
    /// an older Materialize's short names), every column NOT NULL with
    /// `default` (none, or Materialize's text `NULL`): a column of ours is
    /// never one ours lacks, whatever its constraints.
    fn as_shown(
        migrations: &[(i32, &str, &str)],
        spell: impl Fn(&str) -> String,
        default: Option<&str>,
    ) -> Vec<Seen> {
        columns_after(migrations)
            .into_iter()
            .flat_map(|(table, columns)| columns.into_iter().map(move |c| (table.clone(), c)))
            .map(|(table, c)| Seen {
                table,
                data_type: Some(spell(c.newest())),
                column: c.name,
                not_null: true,
                default: default.map(str::to_string),
                kind: None,
            })
            .collect()
    }

    /// The full migration history: tables as each past migration left
    /// them (the first alone: mz-clusterctl's three, before the lease),
    /// as PostgreSQL and as Materialize (a newer release's SQL names, an
    /// older one's short names, `column_default` NULL or the text `NULL`)
    /// show them, are ours.
    #[test]
    fn tables_every_past_migration_made_are_ours() {
        let store = Store::new(None);
        let ours = our_columns();
        let short = |t: &str| match t {
            "integer" => "int4".to_string(),
            "boolean" => "bool".to_string(),
            "timestamp with time zone" => "timestamptz".to_string(),
            other => other.to_string(),
        };
        for upto in 1..=MIGRATION_FILES.len() {
            let past = &MIGRATION_FILES[..upto];
            for (spelled, no_default) in
                [(false, None), (true, Some("NULL")), (false, Some("NULL"))]
            {
                let shown = as_shown(
                    past,
                    |t| if spelled { short(t) } else { t.to_string() },
                    no_default,
                );
                assert!(shown.len() > 10, "{shown:?}");
                assert_eq!(
                    foreign(&store, &ours, &shown),
                    [],
                    "after migration {upto} ({spelled}, {no_default:?}): {shown:#?}"
                );
            }
        }
    }

    /// The same type, however PostgreSQL, Materialize (newer or older) or
    /// a migration spells it, is one; different types stay different.
    #[test]
    fn every_spelling_of_a_type_is_one() {
        for same in [
            &[
                "integer",
                "int",
                "INT",
                "int4",
                "pg_catalog.int4",
                "INTEGER",
            ][..],
            &["bigint", "int8", "BIGINT"],
            &["smallint", "int2"],
            &["boolean", "bool", "BOOL"],
            &["text", "TEXT", "pg_catalog.text", "\"text\""],
            &["jsonb", "JSONB"],
            &[
                "timestamp with time zone",
                "timestamptz",
                "TIMESTAMPTZ",
                "timestamp(3) with time zone",
                "timestamp  with time\tzone",
            ],
            &["timestamp without time zone", "timestamp", "timestamp(6)"],
            &[
                "character varying",
                "varchar",
                "varchar(20)",
                "VARCHAR (20)",
            ],
            &["numeric", "decimal", "numeric(10,2)", "NUMERIC(10, 2)"],
            &["uuid", "UUID"],
            &["double precision", "float8"],
            &["text[]", "TEXT []", "pg_catalog.text[]"],
        ] {
            let want = normal_type(same[0]);
            for s in same.iter().skip(1) {
                assert_eq!(normal_type(s), want, "{s} vs {}", same[0]);
            }
        }
        for (a, b) in [
            ("text", "character varying"),
            ("text", "jsonb"),
            ("integer", "bigint"),
            ("timestamp", "timestamp with time zone"),
            ("json", "jsonb"),
            ("text", "text[]"),
            ("text", "uuid"),
        ] {
            assert_ne!(normal_type(a), normal_type(b), "{a} vs {b}");
        }
        assert_eq!(normal_type("USER-DEFINED"), "user-defined");
    }

    /// A column of ours with another type: named with both types, the
    /// table refused. A NOT NULL column ours lacks without a default is
    /// refused; one with a default, or nullable, is harmless (more
    /// columns are); the text `NULL` Materialize shows for no default is
    /// none.
    #[test]
    fn a_table_of_our_name_with_other_types_or_a_required_column_is_anothers() {
        let store = Store::new(Some("qa".into()));
        let ours = our_columns();
        let strategies = |cluster_id: &str, config: &str| {
            vec![
                seen(STRATEGIES, "cluster_id", cluster_id, true, None),
                seen(STRATEGIES, "strategy_type", "text", true, None),
                seen(STRATEGIES, "config", config, true, None),
                seen(
                    STRATEGIES,
                    "updated_at",
                    "timestamp with time zone",
                    false,
                    Some("now()"),
                ),
            ]
        };
        assert_eq!(foreign(&store, &ours, &strategies("text", "jsonb")), []);
        assert_eq!(foreign(&store, &ours, &strategies("TEXT", "JSONB")), []);
        let f = foreign(&store, &ours, &strategies("integer", "text"));
        assert_eq!(
            f,
            [Foreign {
                table: "\"qa\".\"mz_cluster_strategies\"".into(),
                retyped: vec![
                    Retyped {
                        column: "cluster_id".into(),
                        theirs: "integer".into(),
                        ours: "text".into(),
                    },
                    Retyped {
                        column: "config".into(),
                        theirs: "text".into(),
                        ours: "jsonb".into(),
                    },
                ],
                ..Default::default()
            }]
        );
        let said = DbError::NotOurs { tables: f }.to_string();
        assert!(
            said.starts_with(
                "table \"qa\".\"mz_cluster_strategies\" is not clusterctl's: its columns \
                 cluster_id is integer where clusterctl's is text, config is text where \
                 clusterctl's is jsonb (another tool's table of the same name?)"
            ) && said.contains("rename or drop that table"),
            "{said}"
        );
        // More columns: nullable, or NOT NULL with a default, are harmless.
        let with = |extra: Seen| {
            let mut found = strategies("text", "jsonb");
            found.push(extra);
            foreign(&store, &ours, &found)
        };
        assert_eq!(with(seen(STRATEGIES, "note", "text", false, None)), []);
        assert_eq!(
            with(seen(STRATEGIES, "note", "text", true, Some("'none'::text"))),
            []
        );
        assert_eq!(with(seen(STRATEGIES, "n", "integer", true, Some("0"))), []);
        // NOT NULL without a default: none, or Materialize's text NULL.
        for none in [None, Some("NULL"), Some("null::text"), Some("(NULL)")] {
            let f = with(seen(STRATEGIES, "owner", "text", true, none));
            assert_eq!(
                f,
                [Foreign {
                    table: "\"qa\".\"mz_cluster_strategies\"".into(),
                    required: vec!["owner".into()],
                    ..Default::default()
                }],
                "{none:?}"
            );
            let said = Foreign::said(&f);
            assert!(
                said.starts_with(
                    "table \"qa\".\"mz_cluster_strategies\" is not clusterctl's: it has the \
                     column owner NOT NULL without a default, which clusterctl's lacks (every \
                     row clusterctl writes would be refused)"
                ),
                "{said}"
            );
        }
        // A NOT NULL column of ours is not "extra"; a type the catalog
        // does not give is not judged.
        let mut unknown = strategies("text", "jsonb");
        unknown[0].data_type = None;
        assert_eq!(foreign(&store, &ours, &unknown), []);
    }

    /// Another tool's table of one of our names: named with what it
    /// lacks. A table with every column ours has (more are harmless), or
    /// none the catalog shows (missing, or not visible to the role), is
    /// not judged.
    #[test]
    fn a_table_of_our_name_without_our_columns_is_anothers() {
        let store = Store::new(Some("qa".into()));
        let ours = our_columns();
        let rows = |t: &str, cols: &[(&str, &str)]| -> Vec<Seen> {
            cols.iter()
                .map(|(c, ty)| seen(t, c, ty, false, None))
                .collect()
        };
        let mut found = rows(
            STRATEGIES,
            &[
                ("name", "text"),
                ("settings", "jsonb"),
                ("updated_at", "timestamptz"),
            ],
        );
        found.extend(rows(
            STATE,
            &[
                ("cluster_id", "text"),
                ("state_version", "integer"),
                ("payload", "jsonb"),
                ("updated_at", "timestamp with time zone"),
                ("extra", "text"),
            ],
        ));
        found.extend(rows("unrelated", &[("x", "integer")]));
        let foreign = foreign(&store, &ours, &found);
        assert_eq!(
            foreign,
            [Foreign {
                table: "\"qa\".\"mz_cluster_strategies\"".into(),
                missing: vec!["cluster_id".into(), "strategy_type".into(), "config".into()],
                ..Default::default()
            }]
        );
        let e = DbError::NotOurs { tables: foreign };
        assert!(!e.transient());
        let said = e.to_string();
        assert!(
            said.starts_with(
                "table \"qa\".\"mz_cluster_strategies\" is not clusterctl's: it lacks the \
                 columns cluster_id, strategy_type, config that clusterctl's has"
            ) && said.contains("rename or drop that table")
                && said.contains("--schema NAME"),
            "{said}"
        );
    }

    /// A view (or any relation but a table) of one of our names, even with
    /// every column of ours: another tool's, said as what it is. Its reads
    /// work, but every write of ours is refused.
    #[test]
    fn a_view_of_our_name_and_columns_is_anothers() {
        let store = Store::new(None);
        let ours = our_columns();
        let mut found = as_shown(MIGRATION_FILES, str::to_string, None);
        assert_eq!(foreign(&store, &ours, &found), []);
        for s in found.iter_mut().filter(|s| s.table == STRATEGIES) {
            s.kind = Some("view".into());
        }
        let f = foreign(&store, &ours, &found);
        assert_eq!(
            f,
            [Foreign {
                table: "\"mz_cluster_strategies\"".into(),
                kind: Some("view".into()),
                ..Default::default()
            }]
        );
        let said = DbError::NotOurs { tables: f.clone() }.to_string();
        assert!(
            said.starts_with(
                "\"mz_cluster_strategies\" is a view, not clusterctl's table (another tool's \
                 view of the same name?); clusterctl neither reads nor writes it"
            ) && said.contains("rename or drop it (after keeping what it holds)"),
            "{said}"
        );
        let mut two = f;
        two.push(Foreign {
            table: "\"clusterctl_lease\"".into(),
            missing: vec!["holder".into()],
            ..Default::default()
        });
        let said = Foreign::said(&two);
        assert!(
            said.starts_with(
                "tables \"mz_cluster_strategies\" (a view), \"clusterctl_lease\" (no holder) \
                 are not clusterctl's: their columns are not those"
            ),
            "{said}"
        );
        // The words of a write a view refuses ask whose it is.
        for refused in [
            "db error: ERROR: cannot insert into view 'materialize.public.mz_cluster_strategies'",
            "db error: ERROR: cannot mutate view 'materialize.public.mz_cluster_strategy_state'",
            "db error: ERROR: cannot insert into view \"mz_cluster_strategy_actions\"",
        ] {
            assert!(foreign_shape(refused), "{refused}");
        }
    }

    /// Several tables, or a column the server did not name: each said.
    #[test]
    fn foreign_tables_are_each_named() {
        let one = |t: &str, missing: &[&str]| Foreign {
            table: format!("\"{t}\""),
            missing: missing.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        let both = [
            one(STATE, &["payload"]),
            one(super::super::store::LEASE, &["holder", "expires_at"]),
        ];
        let said = DbError::NotOurs {
            tables: both.to_vec(),
        }
        .to_string();
        assert!(
            said.starts_with(
                "tables \"mz_cluster_strategy_state\" (no payload), \"clusterctl_lease\" (no \
                 holder, expires_at) are not clusterctl's: they lack columns"
            ) && said.contains("rename or drop those tables (after keeping what they hold)"),
            "{said}"
        );
        let unnamed = Foreign::said(&[one(STATE, &[])]);
        assert!(
            unnamed.starts_with(
                "table \"mz_cluster_strategy_state\" is not clusterctl's: it lacks columns that"
            ),
            "{unnamed}"
        );
        // Every difference, in short, per table.
        let mut mixed = one(STATE, &["payload"]);
        mixed.retyped.push(Retyped {
            column: "cluster_id".into(),
            theirs: "integer".into(),
            ours: "text".into(),
        });
        let mut required = one(ACTIONS, &[]);
        required.required.push("owner".into());
        let said = Foreign::said(&[mixed.clone(), required]);
        assert!(
            said.starts_with(
                "tables \"mz_cluster_strategy_state\" (no payload; cluster_id integer, not \
                 text), \"mz_cluster_strategy_actions\" (owner NOT NULL without a default) are \
                 not clusterctl's: their columns are not those of clusterctl's"
            ),
            "{said}"
        );
        let said = Foreign::said(&[mixed]);
        assert!(
            said.starts_with(
                "table \"mz_cluster_strategy_state\" is not clusterctl's: it lacks the column \
                 payload that clusterctl's has; its column cluster_id is integer where \
                 clusterctl's is text (another"
            ),
            "{said}"
        );
    }

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
            sql.contains("GRANT SELECT, INSERT, UPDATE ON \"ops\".\"clusterctl_lease\""),
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
