//! Which statements run on the session's cluster (reference §8.2, §4).
//!
//! Materialize runs SELECT, UPDATE, DELETE, INSERT … SELECT and INSERT with a
//! non-constant expression (e.g. `now()`) on the session's cluster; queries
//! that depend only on catalog objects are routed to `mz_catalog_server`, and
//! a constant `INSERT … VALUES` (parameters allowed) needs no cluster at all.
//! [`relation_refs`] makes the first cut from the text: it returns the
//! relations a statement names in FROM / JOIN / INTO / UPDATE / USING
//! positions, or `None` when the statement never needs a cluster. The proxy
//! then asks `mz_emulator.session_cluster_error` whether any of them is a
//! user relation and whether the session's cluster can serve it.
//!
//! This is a scanner, not a parser: it errs towards naming too much (a column
//! after `EXTRACT(x FROM col)` is reported, and is then simply not found
//! among the user relations). Column defaults such as `DEFAULT now()` are
//! not seen, so an INSERT that relies on one counts as constant.

use super::ddl::{tokenize, Tok};

/// Relation references (`schema.name`, or `.name` when unqualified) of a
/// statement that may run on the session cluster; `None` when it never does.
pub fn relation_refs(stmt: &str) -> Option<Vec<String>> {
    let toks = tokenize(stmt).ok()?;
    let first = match toks.first() {
        Some(Tok::Word(w)) => w.as_str(),
        Some(Tok::Punct('(')) => "select",
        _ => return None,
    };
    match first {
        "select" | "with" | "table" | "values" | "update" | "delete" => {}
        "insert" if !is_constant_insert(&toks) => {}
        _ => return None,
    }
    let refs = scan_refs(&toks);
    (!refs.is_empty()).then_some(refs)
}

/// The user table a read-then-write statement writes (its name, lowercase,
/// without schema), or `None` for any other statement. Materialize runs
/// UPDATE, DELETE and an INSERT that reads (`INSERT … SELECT`, a non-constant
/// expression) as a read followed by a write, and holds the table's write
/// lock from the read to the write (reference §8.3; its design
/// `20210715_table_update.md`: "serialized along with INSERTs"), so two of
/// them on one table never interleave. PostgreSQL lets them: under READ
/// COMMITTED both `INSERT … SELECT … WHERE NOT EXISTS` insert.
pub fn read_then_write_target(stmt: &str) -> Option<String> {
    let toks = tokenize(stmt).ok()?;
    let after = match word(toks.first())? {
        "update" => "update",
        "delete" => "from",
        "insert" if !is_constant_insert(&toks) => "into",
        _ => return None,
    };
    let at = toks.iter().position(|t| word(Some(t)) == Some(after))?;
    let mut refs = Vec::new();
    from_list(&toks, at + 1, after == "into", &mut refs);
    let target = refs.into_iter().next()?;
    let (schema, name) = target.split_once('.').unwrap_or(("", &target));
    (!CATALOG_SCHEMAS.contains(&schema)).then(|| name.to_string())
}

/// Schemas of Materialize's catalog (and the emulator's own).
const CATALOG_SCHEMAS: [&str; 6] = [
    "mz_catalog",
    "mz_internal",
    "mz_introspection",
    "pg_catalog",
    "information_schema",
    "mz_emulator",
];

/// Whether Materialize runs `stmt` on `mz_catalog_server` rather than the
/// session's cluster, for the statement log (reference §1.11): a query
/// (SELECT, WITH, TABLE, VALUES) that reads only catalog relations, or
/// none at all (`SELECT now()`), is routed there
/// (`auto_run_on_catalog_server`, src/adapter/src/coord/catalog_serving.rs);
/// every other statement (user relations, SHOW, SET, writes, DDL) runs on
/// the session's cluster. An unqualified `mz_…`/`pg_…` name is taken for a
/// catalog relation (the search path holds mz_catalog and pg_catalog).
pub fn runs_on_catalog_server(stmt: &str) -> bool {
    let Ok(toks) = tokenize(stmt) else {
        return false;
    };
    let query = match toks.first() {
        Some(Tok::Word(w)) => matches!(w.as_str(), "select" | "with" | "table" | "values"),
        Some(Tok::Punct('(')) => true,
        _ => false,
    };
    query
        && scan_refs(&toks).iter().all(|r| {
            let (schema, name) = r.split_once('.').unwrap_or(("", r));
            CATALOG_SCHEMAS.contains(&schema)
                || (schema.is_empty() && (name.starts_with("mz_") || name.starts_with("pg_")))
        })
}

/// Whether `stmt` may read the statement log (§1.11, §1.12): the proxy
/// writes what it logged before forwarding it.
pub fn reads_statement_log(stmt: &str) -> bool {
    let lower = stmt.to_ascii_lowercase();
    [
        "statement_execution_history",
        "recent_activity_log",
        "statement_log",
    ]
    .iter()
    .any(|name| lower.contains(name))
}

/// Names (lowercase) of the catalog relations a managed resize changes:
/// clusters and their replicas, replica statuses, hydration, pending
/// replicas and the reconfiguration relation. A statement naming one of them
/// must see the controller's progress up to now (emulator_resize.sql,
/// `tick_reconfigurations_for_reader`). `mz_cluster` covers mz_clusters,
/// mz_cluster_replicas, mz_cluster_replica_statuses / _status_history /
/// _utilization / _metrics and mz_cluster_reconfigurations.
const RECONFIGURATION_STATE: [&str; 3] = ["mz_cluster", "hydration", "mz_pending_cluster_replicas"];

/// Whether `stmt` may read what a managed resize changes. Text, not parsing:
/// naming too much costs one cheap probe; naming too little would show a
/// reader a deadline that has passed as still in flight.
pub fn reads_reconfiguration_state(stmt: &str) -> bool {
    let lower = stmt.to_ascii_lowercase();
    RECONFIGURATION_STATE
        .iter()
        .any(|name| lower.contains(name))
}

/// Words that end a FROM item (they cannot be an alias).
const STOP: &[&str] = &[
    "where",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "on",
    "using",
    "group",
    "order",
    "limit",
    "offset",
    "having",
    "union",
    "except",
    "intersect",
    "window",
    "for",
    "set",
    "values",
    "select",
    "returning",
    "default",
    "lateral",
    "fetch",
    "as",
    "with",
    "do",
    "nowait",
    "skip",
    "of",
    "into",
    "from",
    "and",
    "or",
    "not",
];

fn word(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Word(w)) => Some(w),
        _ => None,
    }
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Word(w)) if !STOP.contains(&w.as_str()) => Some(w),
        Some(Tok::Quoted(q)) => Some(q),
        _ => None,
    }
}

fn scan_refs(toks: &[Tok]) -> Vec<String> {
    let mut refs = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let Tok::Word(w) = t else { continue };
        let starts_list = match w.as_str() {
            "from" => {
                // `a IS [NOT] DISTINCT FROM b` compares values.
                word(i.checked_sub(1).and_then(|j| toks.get(j))) != Some("distinct")
            }
            "join" | "into" | "using" | "update" => true,
            _ => false,
        };
        if starts_list {
            from_list(toks, i + 1, w == "into", &mut refs);
        }
    }
    refs
}

/// `name [AS alias [(cols)]] [, name …]` starting at `pos` (after INTO:
/// `name [(cols)]`).
fn from_list(toks: &[Tok], mut pos: usize, into: bool, refs: &mut Vec<String>) {
    loop {
        while matches!(word(toks.get(pos)), Some("only" | "lateral")) {
            pos += 1;
        }
        let mut parts = Vec::new();
        while let Some(name) = ident(toks.get(pos)) {
            parts.push(name.to_string());
            pos += 1;
            if toks.get(pos) != Some(&Tok::Punct('.')) {
                break;
            }
            pos += 1;
        }
        if parts.is_empty() || (!into && toks.get(pos) == Some(&Tok::Punct('('))) {
            // A subquery or a function call: their insides are scanned anyway.
            return;
        }
        let name = parts.pop().unwrap_or_default();
        let schema = parts.pop().unwrap_or_default();
        refs.push(format!("{schema}.{name}"));
        if word(toks.get(pos)) == Some("as") {
            pos += 1;
        }
        if ident(toks.get(pos)).is_some() {
            pos += 1;
            if toks.get(pos) == Some(&Tok::Punct('(')) {
                pos = skip_parens(toks, pos);
            }
        }
        if toks.get(pos) != Some(&Tok::Punct(',')) {
            return;
        }
        pos += 1;
    }
}

fn skip_parens(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// Words a constant VALUES list may contain: literals and type names.
const CONSTANT_WORDS: &[&str] = &[
    "null",
    "true",
    "false",
    "default",
    "cast",
    "as",
    "array",
    "interval",
    "timestamp",
    "timestamptz",
    "date",
    "time",
    "jsonb",
    "json",
    "text",
    "int",
    "int2",
    "int4",
    "int8",
    "integer",
    "bigint",
    "smallint",
    "numeric",
    "decimal",
    "boolean",
    "bool",
    "uuid",
    "double",
    "precision",
    "real",
    "float4",
    "float8",
    "with",
    "without",
    "zone",
    "varchar",
    "character",
    "varying",
    "bytea",
    "e",
    "uint4",
    "uint8",
];

/// `INSERT INTO t [(cols)] VALUES (<literals, parameters, casts>) …` or
/// `DEFAULT VALUES`: Materialize inserts it without a cluster.
fn is_constant_insert(toks: &[Tok]) -> bool {
    let Some(values) = toks.iter().position(|t| word(Some(t)) == Some("values")) else {
        return false;
    };
    if word(toks.get(values - 1)) == Some("default") {
        return true;
    }
    // Nothing but the target and its column list may come before VALUES.
    if toks[..values]
        .iter()
        .any(|t| word(Some(t)) == Some("select"))
    {
        return false;
    }
    for t in &toks[values + 1..] {
        match t {
            Tok::Word(w) if w == "returning" || w == "on" => return true,
            Tok::Word(w) if !CONSTANT_WORDS.contains(&w.as_str()) => return false,
            Tok::Quoted(_) => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::relation_refs;

    fn refs(sql: &str) -> Option<Vec<String>> {
        relation_refs(sql)
    }

    #[test]
    fn reads_and_writes_name_their_relations() {
        assert_eq!(
            refs("SELECT a FROM ops.t x, u AS y JOIN \"Q\".v ON true WHERE a IS DISTINCT FROM b"),
            Some(vec!["ops.t".into(), ".u".into(), "Q.v".into()])
        );
        assert_eq!(
            refs("UPDATE t SET a = 1 WHERE b = $1"),
            Some(vec![".t".into()])
        );
        assert_eq!(refs("DELETE FROM s.t"), Some(vec!["s.t".into()]));
        assert_eq!(
            refs("SELECT count(*) FROM (SELECT 1 FROM m.x) s"),
            Some(vec!["m.x".into()])
        );
        assert_eq!(
            refs("INSERT INTO t (a) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM t)"),
            Some(vec![".t".into(), ".t".into()])
        );
        assert_eq!(
            refs("INSERT INTO t (a, b) VALUES ($1, now())"),
            Some(vec![".t".into()])
        );
        assert_eq!(refs("SELECT * FROM generate_series(1, 3)"), None);
    }

    #[test]
    fn reads_of_what_a_resize_changes_are_recognised() {
        use super::reads_reconfiguration_state as reads;
        assert!(reads("SELECT size FROM mz_catalog.mz_clusters"));
        assert!(reads("select * from MZ_CLUSTER_REPLICAS"));
        assert!(reads(
            "SELECT 1 FROM mz_internal.mz_cluster_replica_statuses"
        ));
        assert!(reads(
            "SELECT 1 FROM mz_internal.mz_compute_hydration_statuses"
        ));
        assert!(reads(
            "SELECT 1 FROM mz_internal.mz_cluster_reconfigurations"
        ));
        assert!(reads(
            "SELECT 1 FROM mz_internal.mz_pending_cluster_replicas"
        ));
        assert!(!reads("SELECT 1 FROM mz_catalog.mz_indexes"));
        assert!(!reads("INSERT INTO ops.strategies VALUES ($1)"));
    }

    #[test]
    fn read_then_write_statements_name_the_table_they_write() {
        use super::read_then_write_target as target;
        let t = |s: &str| target(s).unwrap_or_default();
        assert_eq!(
            t("UPDATE ops.lease SET holder = $1 WHERE holder IS NULL"),
            "lease"
        );
        assert_eq!(t("update only \"Lease\" set a = 1"), "Lease");
        assert_eq!(
            t("DELETE FROM ops.strategies WHERE cluster_id = $1"),
            "strategies"
        );
        assert_eq!(
            t(
                "INSERT INTO ops.strategies (a) SELECT a FROM (VALUES ($1)) v(a) \
               WHERE NOT EXISTS (SELECT 1 FROM ops.strategies)"
            ),
            "strategies"
        );
        assert_eq!(t("INSERT INTO t (a) VALUES (now())"), "t");
        // Constant inserts, reads and catalog writes are not read-then-write.
        assert_eq!(target("INSERT INTO t (a) VALUES ($1, 'x')"), None);
        assert_eq!(target("SELECT * FROM ops.strategies"), None);
        assert_eq!(target("UPDATE mz_internal.x SET a = 1"), None);
        assert_eq!(target("CREATE TABLE t (a int)"), None);
    }

    #[test]
    fn constants_and_other_statements_need_no_cluster() {
        assert_eq!(refs("SELECT 1"), None);
        assert_eq!(refs("SELECT now()"), None);
        assert_eq!(
            refs("INSERT INTO t (a, b, c) VALUES ($1, 'x'::jsonb, $2::text::timestamptz), (NULL, TIMESTAMPTZ '1970-01-01', -1.5) RETURNING a"),
            None
        );
        assert_eq!(refs("INSERT INTO t DEFAULT VALUES"), None);
        assert_eq!(refs("CREATE TABLE t (a int)"), None);
        assert_eq!(refs("SET cluster = c"), None);
        assert_eq!(refs("BEGIN"), None);
    }
}
