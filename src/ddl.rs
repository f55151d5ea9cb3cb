//! Turning names and sizes into SQL text. Every identifier is quoted with
//! embedded quotes doubled and every size is a string literal with embedded
//! quotes doubled, so nothing user-provided is ever spliced raw into SQL.

use crate::model::Size;

/// `"name"`, with `"` doubled. Always quoted: Materialize folds unquoted
/// identifiers to lowercase, and we must address the exact name.
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// `'text'`, with `'` doubled. Materialize and PostgreSQL (with
/// standard_conforming_strings) treat backslashes literally here.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A string literal in SQL said for an operator to run: as [`literal`],
/// unless the text holds characters a terminal does not show as
/// themselves ([`crate::model::is_hidden`]): then an escape string
/// (`E'u9\u001B[31m'`, which Materialize and PostgreSQL both read), so
/// what is printed is the statement that matches the stored row (the
/// escaped `'u9\u{1b}[31m'` matched nothing: an outside check).
pub fn literal_said(text: &str) -> String {
    // Also a blank other than the space (a no-break space, copied from a
    // terminal, may become a space: the DELETE matched nothing).
    let escaped = |c: char| crate::model::is_hidden(c) || (c.is_whitespace() && c != ' ');
    if !text.chars().any(escaped) {
        return literal(text);
    }
    let mut out = String::from("E'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str("''"),
            c if escaped(c) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!(r"\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A table name, schema-qualified when a schema is given.
pub fn table(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(s) => format!("{}.{}", ident(s), ident(name)),
        None => ident(name),
    }
}

/// One of our tables in SQL said for an operator to run: as `table`
/// within `--schema`, else its bare name, as the operator knows it.
pub fn table_said(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(_) => table(schema, name),
        None => name.to_string(),
    }
}

pub fn create_replica(cluster: &str, replica: &str, size: &Size) -> String {
    format!(
        "CREATE CLUSTER REPLICA {}.{} (SIZE = {})",
        ident(cluster),
        ident(replica),
        literal(&size.0)
    )
}

pub fn drop_replica(cluster: &str, replica: &str) -> String {
    format!("DROP CLUSTER REPLICA {}.{}", ident(cluster), ident(replica))
}

/// `DROP CLUSTER REPLICA IF EXISTS`: for cleanups that may race another run.
pub fn drop_replica_if_exists(cluster: &str, replica: &str) -> String {
    format!(
        "DROP CLUSTER REPLICA IF EXISTS {}.{}",
        ident(cluster),
        ident(replica)
    )
}

/// `ALTER CLUSTER REPLICA cluster.replica RENAME TO to` (unmanaged clusters
/// only; the replica keeps its id, size and hydration).
pub fn rename_replica(cluster: &str, replica: &str, to: &str) -> String {
    format!(
        "ALTER CLUSTER REPLICA {}.{} RENAME TO {}",
        ident(cluster),
        ident(replica),
        ident(to)
    )
}

pub fn set_replication_factor(cluster: &str, n: i64) -> String {
    format!(
        "ALTER CLUSTER {} SET (REPLICATION FACTOR = {n})",
        ident(cluster)
    )
}

/// A plain resize: graceful and in the background from v26.35; on older
/// releases a restart of the cluster (downtime).
pub fn set_size(cluster: &str, size: &Size) -> String {
    format!(
        "ALTER CLUSTER {} SET (SIZE = {})",
        ident(cluster),
        literal(&size.0)
    )
}

/// Makes `role` the owner of a cluster (what `CREATE`/`ALTER` need).
pub fn alter_cluster_owner(cluster: &str, role: &str) -> String {
    format!("ALTER CLUSTER {} OWNER TO {}", ident(cluster), ident(role))
}

/// Makes `role` the owner of a replica (what `DROP CLUSTER REPLICA` needs).
pub fn alter_replica_owner(cluster: &str, replica: &str, role: &str) -> String {
    format!(
        "ALTER CLUSTER REPLICA {}.{} OWNER TO {}",
        ident(cluster),
        ident(replica),
        ident(role)
    )
}

/// A graceful resize: new replicas are created and the old ones serve until
/// the new ones are hydrated; after `timeout` Materialize rolls back.
pub fn set_size_graceful(cluster: &str, size: &Size, timeout: std::time::Duration) -> String {
    format!(
        "ALTER CLUSTER {} SET (SIZE = {}) WITH (WAIT UNTIL READY (TIMEOUT = {}, ON TIMEOUT = 'ROLLBACK'))",
        ident(cluster),
        literal(&size.0),
        literal(&format!("{}s", timeout.as_secs()))
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_literal_said_with_hidden_characters_is_an_escape_string() {
        assert_eq!(super::literal_said("it's"), "'it''s'");
        assert_eq!(
            super::literal_said("u9\u{1b}[31m\\'"),
            r"E'u9\u001B[31m\\'''"
        );
        assert_eq!(super::literal_said("a\u{202E}b"), r"E'a\u202Eb'");
        assert_eq!(super::literal_said("u3\u{a0}"), r"E'u3\u00A0'");
        assert_eq!(super::literal_said("a b"), "'a b'");
        // What is printed is what was said: nothing in it to escape.
        let said = super::literal_said("x\ny");
        assert_eq!(crate::model::printable(&said), said);
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_names_stay_one_identifier() {
        assert_eq!(
            drop_replica("c", "a\"; DROP TABLE x; --"),
            r#"DROP CLUSTER REPLICA "c"."a""; DROP TABLE x; --""#
        );
        assert_eq!(literal("25cc'; DROP"), "'25cc''; DROP'");
        assert_eq!(table(Some("my schema"), "t"), r#""my schema"."t""#);
    }

    /// Undo `ident`, the way a SQL lexer reads a quoted identifier; `None`
    /// if the text is not exactly one quoted identifier.
    fn unquote(q: &str) -> Option<String> {
        let inner = q.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '"' && chars.next() != Some('"') {
                return None;
            }
            out.push(c);
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn ident_round_trips(name in "\\PC{0,64}") {
            prop_assert_eq!(unquote(&ident(&name)), Some(name));
        }

        #[test]
        fn literal_has_no_lone_quote(text in "\\PC{0,64}") {
            let lit = literal(&text);
            let inner = &lit[1..lit.len() - 1];
            prop_assert!(!inner.replace("''", "").contains('\''));
            prop_assert_eq!(inner.replace("''", "'"), text);
        }
    }
}
