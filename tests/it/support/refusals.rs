//! What Materialize refuses that PostgreSQL would run (reference §4): the
//! one place the proxy asks whether a statement of the product's may run.
//!
//! Two kinds of rule:
//! - [`unsupported`]: SQL that Materialize's parser or planner refuses
//!   whatever the transaction (upserts, row locks, savepoints, advisory
//!   locks, sequences, table constraints). No state.
//! - [`Txn::check`]: Materialize's transaction rules
//!   (`src/adapter/src/coord/command_handler.rs`, `handle_execute_inner`, and
//!   `TransactionStatus::add_ops` in `src/adapter/src/session.rs`). A
//!   transaction block (BEGIN … COMMIT, or a simple query of several
//!   statements, which is one implicit transaction) either reads, or writes
//!   constant rows with INSERT, or runs one deferred DDL statement, or
//!   renames objects; it never mixes them. UPDATE, DELETE and any other
//!   statement that must run alone are refused in a block with 25001.
//!
//! Only statements that come through the proxy are judged: the emulator's
//! own SQL and the helpers that go straight to PostgreSQL are not
//! Materialize traffic. The texts and SQLSTATEs are Materialize's; where a
//! text is derived rather than read in Materialize's source, its rule says so.

use super::ddl::{tokenize, Tok};
use super::route;

/// An error to answer with: (SQLSTATE, message, hint).
pub type Refusal = (String, String, Option<String>);

fn refusal(code: &str, message: impl Into<String>) -> Option<Refusal> {
    Some((code.to_string(), message.into(), None))
}

/// Parser errors are `ParserStatementError` -> AdapterError::ParseError ->
/// SYNTAX_ERROR.
pub const SYNTAX_ERROR: &str = "42601";

/// `AdapterError::OperationProhibitsTransaction` -> ACTIVE_SQL_TRANSACTION.
fn prohibits_transaction(stmt: &str) -> Option<Refusal> {
    let message = format!("{} cannot be run inside a transaction block", stmt.trim());
    refusal("25001", message)
}

/// `AdapterError::ReadOnlyTransaction` -> READ_ONLY_SQL_TRANSACTION
/// (Materialize adds a DETAIL, "SELECT queries cannot be combined with other
/// query types, including SUBSCRIBE.", which the emulator does not send).
fn read_only() -> Option<Refusal> {
    refusal("25006", "transaction in read-only mode")
}

/// `AdapterError::WriteOnlyTransaction` -> INVALID_TRANSACTION_STATE.
fn write_only() -> Option<Refusal> {
    refusal("25000", "transaction in write-only mode")
}

/// `AdapterError::SingleStatementTransaction` -> INVALID_TRANSACTION_STATE.
fn single_statement() -> Option<Refusal> {
    refusal(
        "25000",
        "this transaction can only execute a single statement",
    )
}

/// `AdapterError::DDLOnlyTransaction` -> INVALID_TRANSACTION_STATE.
fn ddl_only() -> Option<Refusal> {
    refusal(
        "25000",
        "transactions which modify objects are restricted to just modifying objects",
    )
}

/// `AdapterError::InvalidSetCluster` -> ACTIVE_SQL_TRANSACTION.
pub fn set_cluster_in_transaction() -> Refusal {
    (
        "25001".to_string(),
        "SET cluster cannot be called in an active transaction".to_string(),
        None,
    )
}

// ---------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------

/// What the open transaction has done, as Materialize's `TransactionOps`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Ops {
    #[default]
    None,
    /// SELECTs; `timestamped` once one read a relation (a constant read,
    /// `SELECT 1`, has no timestamp and lets writes follow).
    Reads { timestamped: bool },
    /// Constant INSERTs, into any number of tables: Materialize refused a
    /// second table (`write transactions only support writes to a single
    /// table`) from 2022 until txn-wal made such writes atomic
    /// (MaterializeInc/materialize#28568, 2024); current releases take it.
    Writes,
    /// One statement deferred to COMMIT (`TransactionOps::SingleStatement`;
    /// PostgreSQL runs it at once, so its errors come at the statement, not
    /// at COMMIT).
    Single,
    /// Renames and swaps (`TransactionOps::DDL`).
    Ddl,
}

/// How a statement takes part in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Begin,
    /// COMMIT, ROLLBACK: the transaction ends.
    End,
    /// SET, SHOW, and the rest that is always safe in a transaction.
    Free,
    /// `SET cluster` / `RESET cluster`: refused once the transaction has done
    /// something (`validate_set_cluster`).
    SetCluster,
    Read {
        constant: bool,
    },
    /// INSERT of constants without RETURNING: needs no cluster.
    ConstantInsert,
    /// Statements with a fixed response (CREATE, DROP, GRANT, ALTER … OWNER
    /// TO, COMMENT): in an explicit block Materialize answers at once and
    /// runs them at COMMIT; in an implicit one it refuses them.
    Deferrable,
    /// ALTER … RENAME / SWAP: a DDL transaction.
    Rename,
    /// Everything else that must run alone: UPDATE, DELETE, INSERT … SELECT
    /// or with RETURNING, ALTER CLUSTER.
    Alone,
}

fn words(toks: &[Tok]) -> impl Iterator<Item = &str> {
    toks.iter().filter_map(|t| match t {
        Tok::Word(w) => Some(w.as_str()),
        _ => None,
    })
}

fn kind(stmt: &str) -> Kind {
    let Ok(toks) = tokenize(stmt) else {
        return Kind::Free;
    };
    let first = match toks.first() {
        Some(Tok::Word(w)) => w.as_str(),
        Some(Tok::Punct('(')) => "select",
        _ => return Kind::Free,
    };
    let has = |w: &str| words(&toks).any(|x| x == w);
    match first {
        "begin" | "start" => Kind::Begin,
        "commit" | "end" | "rollback" | "abort" => Kind::End,
        "set" | "reset" if super::ddl::session_cluster_change(stmt).is_some() => Kind::SetCluster,
        "select" | "with" | "table" | "values" => Kind::Read {
            constant: route::relation_refs(stmt).is_none(),
        },
        // A constant INSERT names no relation to read (route.rs).
        "insert" if route::relation_refs(stmt).is_none() && !has("returning") => {
            Kind::ConstantInsert
        }
        "insert" | "update" | "delete" => Kind::Alone,
        "alter" if has("rename") || has("swap") => Kind::Rename,
        "alter" if has("owner") => Kind::Deferrable,
        "alter" => Kind::Alone,
        "create" | "drop" | "grant" | "revoke" | "comment" => Kind::Deferrable,
        _ => Kind::Free,
    }
}

/// A session's transaction as Materialize would see it.
#[derive(Debug, Default)]
pub struct Txn {
    ops: Ops,
    /// Inside BEGIN … COMMIT (the server says `T`, or a BEGIN went by in the
    /// query being planned).
    explicit: bool,
    /// In the implicit transaction of a query of several statements.
    implicit: bool,
    /// The block failed (ReadyForQuery `E`): PostgreSQL refuses all but its
    /// end as Materialize does (25P02).
    failed: bool,
}

impl Txn {
    /// The server reported no open transaction: whatever was done ended.
    pub fn reset(&mut self) {
        *self = Txn::default();
    }

    /// The server reported an open transaction block (ReadyForQuery `T`).
    pub fn in_block(&mut self) {
        self.explicit = true;
    }

    /// The server reported a failed transaction block (ReadyForQuery `E`).
    pub fn failed(&mut self) {
        self.failed = true;
    }

    /// The next statements are one simple query of several statements.
    pub fn implicit(&mut self, several: bool) {
        self.implicit = several;
    }

    fn block(&self) -> bool {
        self.explicit || self.implicit
    }

    /// Whether a `SET cluster` would be refused now.
    pub fn refuses_set_cluster(&self) -> bool {
        self.ops != Ops::None
    }

    /// Materialize's error for running `stmt` now, if any; records what it
    /// does to the transaction. Outside a block (one statement, autocommit)
    /// everything may run.
    pub fn check(&mut self, stmt: &str) -> Option<Refusal> {
        let kind = kind(stmt);
        match kind {
            Kind::Begin => {
                self.explicit = true;
                return None;
            }
            Kind::End => {
                // The rest of a query of several statements is a new
                // implicit transaction.
                let implicit = self.implicit;
                self.reset();
                self.implicit = implicit;
                return None;
            }
            Kind::Free => return None,
            Kind::SetCluster if self.failed => return None,
            Kind::SetCluster => {
                return self.refuses_set_cluster().then(set_cluster_in_transaction);
            }
            _ => {}
        }
        if !self.block() || self.failed {
            return None;
        }
        let (ops, verdict) = match (kind, self.ops) {
            (Kind::Alone, _) => (self.ops, prohibits_transaction(stmt)),
            (Kind::Deferrable, _) if !self.explicit => (self.ops, prohibits_transaction(stmt)),
            (Kind::Read { constant }, Ops::None) => (
                Ops::Reads {
                    timestamped: !constant,
                },
                None,
            ),
            (Kind::Read { constant }, Ops::Reads { timestamped }) => (
                Ops::Reads {
                    timestamped: timestamped || !constant,
                },
                None,
            ),
            (Kind::Read { constant: true }, Ops::Writes) => (Ops::Writes, None),
            (Kind::Read { constant: false }, Ops::Writes) => (Ops::Writes, write_only()),
            (Kind::ConstantInsert, Ops::None | Ops::Writes) => (Ops::Writes, None),
            // Constant reads so far carry no timestamp: writes may follow.
            (Kind::ConstantInsert, Ops::Reads { timestamped: false }) => (Ops::Writes, None),
            (Kind::ConstantInsert, Ops::Reads { timestamped: true }) => (self.ops, read_only()),
            (Kind::Deferrable, Ops::None) => (Ops::Single, None),
            (Kind::Rename, Ops::None | Ops::Ddl) => (Ops::Ddl, None),
            (Kind::Deferrable | Kind::Rename, Ops::Reads { .. }) => (self.ops, read_only()),
            (Kind::Deferrable | Kind::Rename, Ops::Writes) => (self.ops, write_only()),
            (_, Ops::Single) => (self.ops, single_statement()),
            (_, Ops::Ddl) => (self.ops, ddl_only()),
            (Kind::Begin | Kind::End | Kind::Free | Kind::SetCluster, _) => (self.ops, None),
        };
        self.ops = ops;
        verdict
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL-only SQL
// ---------------------------------------------------------------------------

/// Functions PostgreSQL has and Materialize's catalog does not: advisory
/// locks and sequences.
const MISSING_FUNCTIONS: &[&str] = &[
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_unlock",
    "pg_advisory_unlock_shared",
    "pg_advisory_unlock_all",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "nextval",
    "currval",
    "setval",
    "lastval",
];

/// Materialize's error for SQL it does not take, whatever the transaction.
pub fn unsupported(stmt: &str) -> Option<Refusal> {
    let toks = tokenize(stmt).ok()?;
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    match word(0)? {
        // Not keywords of Materialize's lexer: the parser sees an identifier
        // where a statement must start (`parse_statement_inner`).
        first @ ("savepoint" | "release") => {
            return refusal(
                SYNTAX_ERROR,
                format!(
                    "Expected a keyword at the beginning of a statement, found identifier \"{first}\""
                ),
            );
        }
        // `parse_rollback` takes only [WORK | TRANSACTION] [AND [NO] CHAIN].
        "rollback" | "abort" if words(&toks).any(|w| w == "to") => {
            return refusal(SYNTAX_ERROR, "Expected end of statement, found TO");
        }
        "create" => {
            if let Some(r) = create_unsupported(&toks) {
                return Some(r);
            }
        }
        _ => {}
    }
    top_level_tail(&toks).or_else(|| missing_function(&toks))
}

/// `CREATE SEQUENCE` (not a parser keyword; `parse_create`'s list of what
/// may follow CREATE) and CREATE TABLE with constraints.
fn create_unsupported(toks: &[Tok]) -> Option<Refusal> {
    let mut i = 1;
    let temporary = matches!(toks.get(i), Some(Tok::Word(w)) if w == "temp" || w == "temporary");
    if temporary {
        i += 1;
    }
    match toks.get(i) {
        Some(Tok::Word(w)) if w == "sequence" => {
            let expected = if temporary {
                "TABLE, or VIEW after CREATE TEMPORARY"
            } else {
                "DATABASE, SCHEMA, ROLE, TYPE, INDEX, SINK, SOURCE, [TEMPORARY] TABLE, \
                 SECRET, [OR REPLACE] [TEMPORARY] VIEW, or [OR REPLACE] MATERIALIZED VIEW \
                 after CREATE"
            };
            refusal(
                SYNTAX_ERROR,
                format!("Expected {expected}, found identifier \"sequence\""),
            )
        }
        Some(Tok::Word(w)) if w == "table" => table_constraints(&toks[i + 1..]),
        _ => None,
    }
}

/// Materialize's planner on CREATE TABLE (`plan_create_table`,
/// `src/sql/src/plan/statement/ddl.rs`): a column may only be NOT NULL or
/// have a DEFAULT. In its order: the columns, where REFERENCES or CHECK is
/// `bail_unsupported!` (0A000, "… not yet supported"; the option is
/// printed here from its tokens, where Materialize prints its AST); then
/// the table constraints, where FOREIGN KEY or CHECK needs an unsafe
/// feature flag (`VarError::RequiresFeatureFlag`, "… is not supported", a
/// PlanError -> XX000), and a UNIQUE over a nullable column ends the
/// constraints (no key; the rest is not looked at); last, any PRIMARY KEY
/// or UNIQUE key needs a flag too.
fn table_constraints(toks: &[Tok]) -> Option<Refusal> {
    let open = toks.iter().position(|t| *t == Tok::Punct('('))?;
    let elements = split_top_level(&toks[open + 1..]);
    let is_constraint = |e: &[Tok]| {
        matches!(e.first(), Some(Tok::Word(w))
            if matches!(w.as_str(), "constraint" | "primary" | "unique" | "foreign" | "check"))
    };
    let mut keys = false;
    let mut not_null = std::collections::HashSet::new();
    for e in elements.iter().filter(|e| !is_constraint(e)) {
        let name = match e.first() {
            Some(Tok::Word(w) | Tok::Quoted(w)) => w.clone(),
            _ => continue,
        };
        let mut depth = 0usize;
        for (j, t) in e.iter().enumerate() {
            let next = e.get(j + 1);
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => depth = depth.saturating_sub(1),
                Tok::Word(_) if depth > 0 => {}
                Tok::Word(w) if w == "primary" || w == "unique" => {
                    keys = true;
                    if w == "primary" {
                        not_null.insert(name.clone());
                    }
                }
                Tok::Word(w) if w == "not" && next == Some(&Tok::Word("null".into())) => {
                    not_null.insert(name.clone());
                }
                Tok::Word(w) if w == "references" || w == "check" => {
                    return refusal(
                        "0A000",
                        format!(
                            "CREATE TABLE with column constraint: {} not yet supported",
                            render(&e[j..])
                        ),
                    );
                }
                _ => {}
            }
        }
    }
    for e in elements.iter().filter(|e| is_constraint(e)) {
        let mut e: &[Tok] = e;
        if matches!(e.first(), Some(Tok::Word(w)) if w == "constraint") {
            e = e.get(2..).unwrap_or_default();
        }
        let first = match e.first() {
            Some(Tok::Word(w)) => w.as_str(),
            _ => continue,
        };
        match first {
            "foreign" => {
                return refusal("XX000", "CREATE TABLE with a foreign key is not supported");
            }
            "check" => {
                return refusal(
                    "XX000",
                    "CREATE TABLE with a check constraint is not supported",
                );
            }
            "primary" => keys = true,
            "unique" => {
                let nulls_not_distinct = words(e).any(|w| w == "distinct");
                let columns =
                    e.iter()
                        .skip_while(|t| **t != Tok::Punct('('))
                        .filter_map(|t| match t {
                            Tok::Word(w) | Tok::Quoted(w) => Some(w),
                            _ => None,
                        });
                let mut nullable = false;
                for column in columns {
                    nullable |= !not_null.contains(column);
                }
                if nullable && !nulls_not_distinct {
                    break;
                }
                keys = true;
            }
            _ => {}
        }
    }
    keys.then(|| {
        (
            "XX000".to_string(),
            "CREATE TABLE with a primary key or unique constraint is not supported".to_string(),
            None,
        )
    })
}

/// Tokens as SQL text, spaced as Materialize prints an AST
/// (`REFERENCES u (b)`, `CHECK (a > 0)`).
fn render(toks: &[Tok]) -> String {
    let mut out = String::new();
    let mut glue = true;
    for t in toks {
        let text = match t {
            Tok::Word(w) if matches!(w.as_str(), "references" | "check") => w.to_uppercase(),
            Tok::Word(w) | Tok::Num(w) => w.clone(),
            Tok::Quoted(q) => format!("\"{q}\""),
            Tok::Str(s) => super::ddl::lit(s),
            Tok::Punct(c) => c.to_string(),
        };
        let tight = matches!(t, Tok::Punct(')' | ',' | '.'));
        if !(glue || tight) {
            out.push(' ');
        }
        out.push_str(&text);
        glue = matches!(t, Tok::Punct('(' | '.'));
    }
    out
}

/// The comma-separated elements of a parenthesised list whose opening
/// parenthesis has been consumed.
fn split_top_level(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut out = vec![Vec::new()];
    let mut depth = 0usize;
    for t in toks {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') if depth == 0 => break,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                out.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(t.clone());
        }
    }
    out
}

/// After a complete INSERT or query Materialize's parser expects the end of
/// the statement: `INSERT … ON CONFLICT` and `SELECT … FOR UPDATE / SHARE`
/// stop there (`parse_statements`: "Expected end of statement, found ON";
/// the form of the message is pinned in Materialize's parser tests,
/// `src/sql-parser/tests/testdata/insert`, for a comma and AS).
fn top_level_tail(toks: &[Tok]) -> Option<Refusal> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            Tok::Word(w) if depth == 0 => {
                let next = match toks.get(i + 1) {
                    Some(Tok::Word(n)) => n.as_str(),
                    _ => "",
                };
                let found = match (w.as_str(), next) {
                    ("on", "conflict") => "ON",
                    ("for", "update" | "share" | "no" | "key") => "FOR",
                    _ => continue,
                };
                return refusal(
                    SYNTAX_ERROR,
                    format!("Expected end of statement, found {found}"),
                );
            }
            _ => {}
        }
    }
    None
}

/// A call of a function Materialize does not have: `PlanError::UnknownFunction`
/// (XX000), "function name(types) does not exist" with its hint. Materialize
/// names the argument types it inferred; here an integer literal is
/// `integer` and anything else `unknown`, which covers the usual calls.
fn missing_function(toks: &[Tok]) -> Option<Refusal> {
    for (i, t) in toks.iter().enumerate() {
        let Tok::Word(w) = t else { continue };
        if !MISSING_FUNCTIONS.contains(&w.as_str()) || toks.get(i + 1) != Some(&Tok::Punct('(')) {
            continue;
        }
        let args: Vec<&str> = split_top_level(&toks[i + 2..])
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| match a.as_slice() {
                [Tok::Num(n)] if !n.contains('.') => "integer",
                _ => "unknown",
            })
            .collect();
        return Some((
            "XX000".to_string(),
            format!("function {w}({}) does not exist", args.join(", ")),
            Some(
                "No function matches the given name and argument types. \
                 You might need to add explicit type casts."
                    .to_string(),
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{unsupported, Txn};

    fn code(r: Option<super::Refusal>) -> Option<String> {
        r.map(|(c, m, _)| format!("{c} {m}"))
    }

    fn block(stmts: &[&str]) -> Vec<Option<String>> {
        let mut t = Txn::default();
        t.in_block();
        stmts.iter().map(|s| code(t.check(s))).collect()
    }

    #[test]
    fn transactions_do_one_kind_of_thing() {
        assert_eq!(
            block(&["SELECT 1 FROM t", "SELECT a FROM u"]),
            vec![None, None]
        );
        assert_eq!(
            block(&["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES ($1)"]),
            vec![None, None]
        );
        // Writes to several tables: current releases take them.
        assert_eq!(
            block(&["INSERT INTO t VALUES (1)", "INSERT INTO u VALUES (1)"]),
            vec![None, None]
        );
        assert_eq!(
            block(&["SELECT 1", "INSERT INTO t VALUES (1)", "SELECT 2"]),
            vec![None, None, None]
        );
        assert_eq!(
            block(&["SELECT a FROM t", "INSERT INTO t VALUES (1)"])[1],
            Some("25006 transaction in read-only mode".into())
        );
        assert_eq!(
            block(&["INSERT INTO t VALUES (1)", "SELECT a FROM t"])[1],
            Some("25000 transaction in write-only mode".into())
        );
        assert_eq!(
            block(&["UPDATE t SET a = 1"])[0],
            Some("25001 UPDATE t SET a = 1 cannot be run inside a transaction block".into())
        );
        assert_eq!(
            block(&["CREATE TABLE x (a int)", "SELECT 1"]),
            vec![
                None,
                Some("25000 this transaction can only execute a single statement".into())
            ]
        );
        assert_eq!(
            block(&["SELECT 1", "SET cluster = c"])[1],
            Some("25001 SET cluster cannot be called in an active transaction".into())
        );
        assert_eq!(block(&["SET cluster = c", "SELECT 1"]), vec![None, None]);
        // Outside a block nothing is refused.
        let mut t = Txn::default();
        assert_eq!(code(t.check("UPDATE t SET a = 1")), None);
        // A query of several statements is an implicit transaction.
        t.implicit(true);
        assert!(code(t.check("CREATE TABLE x (a int)"))
            .is_some_and(|m| m.starts_with("25001 CREATE TABLE x")));
    }

    #[test]
    fn postgres_only_sql_is_refused() {
        let msg = |s| unsupported(s).map(|(_, m, _)| m);
        assert_eq!(
            msg("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING").as_deref(),
            Some("Expected end of statement, found ON")
        );
        assert_eq!(
            msg("SELECT * FROM t FOR UPDATE").as_deref(),
            Some("Expected end of statement, found FOR")
        );
        assert_eq!(msg("SELECT * FROM t WHERE a IN (SELECT 1)"), None);
        assert_eq!(
            msg("SELECT pg_advisory_lock(7)").as_deref(),
            Some("function pg_advisory_lock(integer) does not exist")
        );
        assert_eq!(
            msg("CREATE TABLE t (a int PRIMARY KEY)").as_deref(),
            Some("CREATE TABLE with a primary key or unique constraint is not supported")
        );
        assert_eq!(
            msg("CREATE TABLE t (a int REFERENCES u (b))").as_deref(),
            Some("CREATE TABLE with column constraint: REFERENCES u (b) not yet supported")
        );
        assert_eq!(
            msg("CREATE TABLE IF NOT EXISTS t (a int NOT NULL DEFAULT 1, b text)"),
            None
        );
        assert_eq!(msg("SELECT 'for update', a AS \"on\" FROM t"), None);
    }
}
