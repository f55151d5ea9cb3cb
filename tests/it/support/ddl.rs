//! Materialize cluster DDL -> calls of the emulator's PL/pgSQL procedures.
//!
//! The proxy hands every statement it sees to [`rewrite_statement`]; anything
//! that is not cluster DDL (or `GRANT`/`REVOKE` on clusters and `SYSTEM`,
//! `SET`/`SHOW` of Materialize's session variables and `search_path`, `SHOW`
//! of a setting the emulator models, `SHOW CLUSTERS`, `SHOW CLUSTER
//! REPLICAS`) comes back as `None` and is forwarded untouched. Cluster
//! DDL that cannot be parsed becomes a statement that raises a syntax error:
//! it is never forwarded raw, because PostgreSQL would answer with a
//! misleading error of its own.
//!
//! Every rewritten DDL call passes `current_user` last: the procedures check
//! the acting role's ownership and privileges (reference §8.4).

use std::fmt;

/// What the proxy sends instead of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub sql: String,
    /// Cluster DDL (counted, and subject to fault injection).
    pub ddl: bool,
}

/// Rewrites one statement (no trailing `;`), or `None` when it is not ours.
pub fn rewrite_statement(stmt: &str) -> Option<Rewrite> {
    let toks = match tokenize(stmt) {
        Ok(t) => t,
        // Only claim broken statements that start like cluster DDL.
        Err(e) => {
            return looks_like_cluster_ddl(stmt).then(|| Rewrite {
                sql: raise_sql("42601", &e),
                ddl: true,
            })
        }
    };
    if let Some(sql) = show_clusters(stmt, &toks) {
        return Some(Rewrite { sql, ddl: false });
    }
    let mut p = Parser { toks, pos: 0 };
    let kind = p.classify()?;
    let ddl = kind.is_ddl();
    let sql = match p.rewrite(kind) {
        Ok(sql) => sql,
        Err(e) => raise_sql(e.code, &e.message),
    };
    Some(Rewrite { sql, ddl })
}

/// A statement that fails with `sqlstate` and `message` when executed.
pub fn raise_sql(sqlstate: &str, message: &str) -> String {
    raise_sql_with_hint(sqlstate, message, None)
}

/// [`raise_sql`] with a HINT.
pub fn raise_sql_with_hint(sqlstate: &str, message: &str, hint: Option<&str>) -> String {
    let hint_clause = hint.map_or_else(String::new, |h| format!(", HINT = {}", lit(h)));
    let mut tag = String::from("emu");
    while [message, sqlstate, &hint_clause]
        .iter()
        .any(|s| s.contains(&format!("${tag}$")))
    {
        tag.push('x');
    }
    format!(
        "DO ${tag}$BEGIN RAISE EXCEPTION USING MESSAGE = {}, ERRCODE = {}{hint_clause}; END${tag}$",
        lit(message),
        lit(sqlstate)
    )
}

/// The acting role, passed last to every DDL procedure.
const ACTOR: &str = "current_user::text";

/// `SET cluster = x` -> `Some(Some("x"))`, `RESET cluster` / `SET cluster TO
/// DEFAULT` -> `Some(None)`, anything else -> `None` (the proxy tracks each
/// session's cluster with it, reference §8.2).
pub fn session_cluster_change(stmt: &str) -> Option<Option<String>> {
    let toks = tokenize(stmt).ok()?;
    let mut p = Parser { toks, pos: 0 };
    match p.classify()? {
        Kind::SetVar => {
            if !p.kw("local") {
                p.kw("session");
            }
            if p.ident().ok()? != "cluster" || !(p.punct('=') || p.kw("to")) {
                return None;
            }
            match p.peek().cloned()? {
                Tok::Word(w) if w == "default" => Some(None),
                Tok::Word(w) | Tok::Quoted(w) | Tok::Str(w) => Some(Some(w)),
                _ => None,
            }
        }
        Kind::ResetVar => (p.ident().ok()? == "cluster").then_some(None),
        _ => None,
    }
}

/// A SQL string literal (standard_conforming_strings is on).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt_lit(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "NULL::text".to_string(), lit)
}

fn looks_like_cluster_ddl(stmt: &str) -> bool {
    let words: Vec<String> = stmt
        .split_whitespace()
        .take(2)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    matches!(
        (words.first().map(String::as_str), words.get(1).map(String::as_str)),
        (Some("create" | "drop" | "alter"), Some(w)) if w.starts_with("cluster")
    )
}

/// Splits a query string at top-level semicolons. Joining the pieces with `;`
/// gives back the input exactly.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
                i += 1;
            }
            b'\'' => {
                let escapes =
                    i > 0 && matches!(b[i - 1], b'e' | b'E') && !is_ident_byte_before(b, i - 1);
                i = skip_quoted(b, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(b, i, b'"', false),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_block_comment(b, i),
            b'$' if i == 0 || !is_ident_byte(b[i - 1]) => i = skip_dollar_quoted(sql, i),
            _ => i += 1,
        }
    }
    out.push(&sql[start..]);
    out
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && is_ident_byte(b[i - 1])
}

/// Index just past the closing quote (or the end when unterminated).
fn skip_quoted(b: &[u8], open: usize, q: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < b.len() {
        if backslash_escapes && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn skip_block_comment(b: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

fn skip_dollar_quoted(sql: &str, open: usize) -> usize {
    let b = sql.as_bytes();
    let mut j = open + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    if j >= b.len() || b[j] != b'$' || b.get(open + 1).is_some_and(u8::is_ascii_digit) {
        return open + 1; // a positional parameter like $1, or a lone $
    }
    let tag = &sql[open..=j];
    match sql[j + 1..].find(tag) {
        Some(k) => j + 1 + k + tag.len(),
        None => b.len(),
    }
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// Unquoted word, folded to lowercase.
    Word(String),
    /// Double-quoted identifier, exact.
    Quoted(String),
    Str(String),
    Num(String),
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) if KEYWORDS.contains(&w.as_str()) => write!(f, "{}", w.to_uppercase()),
            Tok::Word(w) => write!(f, "identifier \"{w}\""),
            Tok::Quoted(w) => write!(f, "identifier \"{}\"", w.replace('"', "\"\"")),
            Tok::Str(s) => write!(f, "string literal {}", lit(s)),
            Tok::Num(n) => write!(f, "number \"{n}\""),
            Tok::Punct(c) => write!(f, "{c}"),
        }
    }
}

const KEYWORDS: &[&str] = &[
    "alter",
    "as",
    "availability",
    "billed",
    "cascade",
    "class",
    "cluster",
    "create",
    "debugging",
    "disk",
    "drop",
    "estimate",
    "exists",
    "factor",
    "for",
    "hydration",
    "if",
    "internal",
    "interval",
    "introspection",
    "managed",
    "manual",
    "not",
    "on",
    "owner",
    "ready",
    "refresh",
    "rename",
    "replica",
    "replicas",
    "replication",
    "reset",
    "restrict",
    "schedule",
    "set",
    "size",
    "swap",
    "time",
    "timeout",
    "to",
    "until",
    "wait",
    "with",
    "workers",
    "workload",
    "zone",
    "zones",
];

pub(super) fn tokenize(sql: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            loop {
                if i >= chars.len() {
                    return Err("unterminated multiline comment".into());
                }
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None if c == '\'' => return Err("unterminated quoted string".into()),
                    None => return Err("unterminated quoted identifier".into()),
                    Some(&d) if d == c && chars.get(i + 1) == Some(&c) => {
                        s.push(c);
                        i += 2;
                    }
                    Some(&d) if d == c => {
                        i += 1;
                        break;
                    }
                    Some(&d) => {
                        s.push(d);
                        i += 1;
                    }
                }
            }
            toks.push(if c == '\'' {
                Tok::Str(s)
            } else {
                Tok::Quoted(s)
            });
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            toks.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' || !c.is_ascii() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '$'
                    || !chars[i].is_ascii())
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            toks.push(Tok::Word(word.to_lowercase()));
        } else {
            toks.push(Tok::Punct(c));
            i += 1;
        }
    }
    Ok(toks)
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CreateReplica,
    DropReplica,
    CreateCluster,
    AlterCluster,
    AlterReplica,
    DropCluster,
    SetVar,
    ResetVar,
    ShowVar,
    ShowSetting,
    /// GRANT/REVOKE … ON CLUSTER / ON ALL CLUSTERS / ON SYSTEM.
    Privileges {
        grant: bool,
    },
    SetSearchPath,
    ShowSearchPath,
}

impl Kind {
    fn is_ddl(self) -> bool {
        !matches!(
            self,
            Kind::SetVar
                | Kind::ResetVar
                | Kind::ShowVar
                | Kind::ShowSetting
                | Kind::Privileges { .. }
                | Kind::SetSearchPath
                | Kind::ShowSearchPath
        )
    }
}

struct ParseError {
    code: &'static str,
    message: String,
}

type PResult<T> = Result<T, ParseError>;

fn syntax<T>(message: impl Into<String>) -> PResult<T> {
    Err(ParseError {
        code: "42601",
        message: message.into(),
    })
}

fn unsupported<T>(what: &str) -> PResult<T> {
    Err(ParseError {
        code: "0A000",
        message: format!("the Materialize emulator does not support {what}"),
    })
}

/// Session variables Materialize has and PostgreSQL does not.
/// `statement_logging_sample_rate` (§1.12) is kept per session; its `SHOW`
/// falls back to the emulator's setting until a session sets it (the
/// statement log itself samples at min(default, max), whatever a session
/// sets).
const SESSION_VARS: &[&str] = &[
    "cluster",
    "cluster_replica",
    "statement_logging_sample_rate",
];

/// Session variables whose `SHOW` falls back to `mz_emulator.settings`.
const SESSION_VARS_WITH_SETTING: &[&str] = &["statement_logging_sample_rate"];

/// Settings whose `SHOW` the emulator answers from `mz_emulator.settings`
/// (a release without the setting refuses it, like Materialize).
const EMULATED_SETTINGS: &[&str] = &[
    "enable_zero_downtime_cluster_reconfiguration",
    "enable_background_alter_cluster",
    "default_cluster_reconfiguration_timeout",
    "max_replicas_per_cluster",
    "max_credit_consumption_rate",
    "allowed_cluster_replica_sizes",
    "enable_rbac_checks",
    "statement_logging_default_sample_rate",
    "statement_logging_max_sample_rate",
    "statement_logging_sample_rate",
];

/// Option names, longest first within a shared first word.
const OPTIONS: &[&str] = &[
    "size",
    "replication factor",
    "managed",
    "replicas",
    "schedule",
    "availability zones",
    "availability zone",
    "introspection interval",
    "introspection debugging",
    "disk",
    "internal",
    "billed as",
    "workload class",
    "workers",
    "storagectl addresses",
    "storage addresses",
    "computectl addresses",
    "compute addresses",
    "auto scaling strategy",
    "experimental arrangement compression",
];

struct Opt {
    name: &'static str,
    value: Vec<Tok>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_word(&self, ahead: usize) -> Option<&str> {
        match self.toks.get(self.pos + ahead) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "EOF".to_string(), ToString::to_string)
    }

    fn kw(&mut self, k: &str) -> bool {
        if self.peek_word(0) == Some(k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn kws(&mut self, ks: &[&str]) -> bool {
        if ks
            .iter()
            .enumerate()
            .all(|(i, k)| self.peek_word(i) == Some(k))
        {
            self.pos += ks.len();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, k: &str) -> PResult<()> {
        if self.kw(k) {
            Ok(())
        } else {
            syntax(format!(
                "Expected {}, found {}",
                k.to_uppercase(),
                self.found()
            ))
        }
    }

    fn punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_lparen(&mut self) -> PResult<()> {
        if self.punct('(') {
            Ok(())
        } else {
            syntax(format!("Expected left parenthesis, found {}", self.found()))
        }
    }

    fn expect_rparen(&mut self) -> PResult<()> {
        if self.punct(')') {
            Ok(())
        } else {
            syntax(format!(
                "Expected right parenthesis, found {}",
                self.found()
            ))
        }
    }

    fn expect_end(&mut self) -> PResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => syntax(format!("Expected end of statement, found {}", self.found())),
        }
    }

    fn ident(&mut self) -> PResult<String> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Ok(w)
            }
            Some(Tok::Quoted(q)) => {
                self.pos += 1;
                Ok(q)
            }
            _ => syntax(format!("Expected identifier, found {}", self.found())),
        }
    }

    fn qualified_replica(&mut self) -> PResult<(String, String)> {
        let cluster = self.ident()?;
        if !self.punct('.') {
            return syntax(format!("Expected dot, found {}", self.found()));
        }
        Ok((cluster, self.ident()?))
    }

    fn classify(&mut self) -> Option<Kind> {
        let kind = if self.kws(&["create", "cluster", "replica"]) {
            Kind::CreateReplica
        } else if self.kws(&["create", "cluster"]) {
            Kind::CreateCluster
        } else if self.kws(&["drop", "cluster", "replica"]) {
            Kind::DropReplica
        } else if self.kws(&["drop", "cluster"]) {
            Kind::DropCluster
        } else if self.kws(&["alter", "cluster", "replica"]) {
            Kind::AlterReplica
        } else if self.kws(&["alter", "cluster"]) {
            Kind::AlterCluster
        } else if matches!(self.peek_word(0), Some("grant" | "revoke")) {
            let grant = self.peek_word(0) == Some("grant");
            // Only privileges on clusters and on SYSTEM are ours: a role
            // membership (no ON) and privileges on tables, schemas and
            // databases go to PostgreSQL untouched.
            let on = self
                .toks
                .iter()
                .position(|t| *t == Tok::Word("on".into()))?;
            let target = |i: usize| match self.toks.get(on + i) {
                Some(Tok::Word(w)) => Some(w.as_str()),
                _ => None,
            };
            match (target(1)?, target(2)) {
                ("cluster" | "system", _) | ("all", Some("clusters")) => {}
                _ => return None,
            }
            self.pos += 1;
            Kind::Privileges { grant }
        } else if self.kw("set") {
            let skip = usize::from(matches!(self.peek_word(0), Some("session" | "local")));
            if self.peek_word(skip) == Some("search_path")
                && !matches!(self.peek_word(skip + 2), Some("default"))
            {
                return Some(Kind::SetSearchPath);
            }
            if !SESSION_VARS.contains(&self.peek_word(skip)?) {
                return None;
            }
            Kind::SetVar
        } else if self.kw("reset") {
            SESSION_VARS.contains(&self.peek_word(0)?).then_some(())?;
            Kind::ResetVar
        } else if self.kw("show") {
            let var = self.peek_word(0)?;
            if var == "search_path" {
                Kind::ShowSearchPath
            } else if SESSION_VARS.contains(&var) {
                Kind::ShowVar
            } else if EMULATED_SETTINGS.contains(&var) {
                Kind::ShowSetting
            } else {
                return None;
            }
        } else {
            return None;
        };
        Some(kind)
    }

    fn rewrite(&mut self, kind: Kind) -> PResult<String> {
        match kind {
            Kind::CreateReplica => self.create_replica(),
            Kind::DropReplica => self.drop_replica(),
            Kind::CreateCluster => self.create_cluster(),
            Kind::AlterCluster => self.alter_cluster(),
            Kind::AlterReplica => self.alter_replica(),
            Kind::DropCluster => self.drop_cluster(),
            Kind::SetVar => self.set_var(),
            Kind::ResetVar => {
                let var = self.ident()?;
                self.expect_end()?;
                Ok(format!("RESET mz_emulator.{var}"))
            }
            Kind::ShowVar => {
                let var = self.ident()?;
                self.expect_end()?;
                let fallback = if SESSION_VARS_WITH_SETTING.contains(&var.as_str()) {
                    format!("mz_emulator.show_setting({})", lit(&var))
                } else {
                    "''".to_string()
                };
                Ok(format!(
                    "SELECT coalesce(nullif(current_setting('mz_emulator.{var}', true), ''), {fallback}) AS {var}"
                ))
            }
            Kind::Privileges { grant } => self.privileges(grant),
            Kind::SetSearchPath => self.set_search_path(),
            Kind::ShowSearchPath => {
                self.ident()?;
                self.expect_end()?;
                // The emulator's search path ends in mz_catalog (and, with
                // a virtual clock, pg_catalog): Materialize searches
                // mz_catalog implicitly and does not show it (reference §4).
                Ok("SELECT regexp_replace(current_setting('search_path'), \
                    '(^|, )mz_catalog(, pg_catalog)?$', '') AS search_path"
                    .to_string())
            }
            Kind::ShowSetting => {
                let var = self.ident()?;
                self.expect_end()?;
                Ok(format!(
                    "SELECT mz_emulator.show_setting({}) AS {var}",
                    lit(&var)
                ))
            }
        }
    }

    fn set_var(&mut self) -> PResult<String> {
        let local = self.kw("local");
        if !local {
            self.kw("session");
        }
        let var = self.ident()?;
        if !(self.punct('=') || self.kw("to")) {
            return syntax(format!(
                "Expected equals sign or TO, found {}",
                self.found()
            ));
        }
        let value = match self.peek().cloned() {
            Some(Tok::Word(w)) if w == "default" => None,
            Some(Tok::Word(w) | Tok::Quoted(w) | Tok::Str(w) | Tok::Num(w)) => Some(w),
            _ => return syntax(format!("Expected variable value, found {}", self.found())),
        };
        self.pos += 1;
        self.expect_end()?;
        let scope = if local { "LOCAL " } else { "" };
        Ok(match value {
            Some(v) => format!("SET {scope}mz_emulator.{var} = {}", lit(&v)),
            None => format!("SET {scope}mz_emulator.{var} TO DEFAULT"),
        })
    }

    /// `SET [SESSION | LOCAL] search_path {= | TO} a, 'b', …`: the list,
    /// with mz_catalog appended, which Materialize searches implicitly
    /// (reference §4) and `SHOW search_path` leaves out.
    fn set_search_path(&mut self) -> PResult<String> {
        let local = self.kw("local");
        if !local {
            self.kw("session");
        }
        self.ident()?;
        if !(self.punct('=') || self.kw("to")) {
            return syntax(format!(
                "Expected equals sign or TO, found {}",
                self.found()
            ));
        }
        let mut path = Vec::new();
        loop {
            match self.peek().cloned() {
                Some(Tok::Word(w) | Tok::Quoted(w) | Tok::Str(w)) => {
                    self.pos += 1;
                    path.push(format!("\"{}\"", w.replace('"', "\"\"")));
                }
                _ => return syntax(format!("Expected variable value, found {}", self.found())),
            }
            if !self.punct(',') {
                break;
            }
        }
        self.expect_end()?;
        path.push("mz_catalog".into());
        let scope = if local { "LOCAL " } else { "" };
        Ok(format!("SET {scope}search_path = {}", path.join(", ")))
    }

    /// `GRANT {ALL [PRIVILEGES] | privilege [, …]} ON {CLUSTER c [, …] |
    /// ALL CLUSTERS | SYSTEM} TO role [, …]` and the REVOKE … FROM form
    /// (Materialize's `parse_grant` / `parse_revoke`; PUBLIC is a grantee).
    fn privileges(&mut self, grant: bool) -> PResult<String> {
        let privileges = if self.kw("all") {
            self.kw("privileges");
            None
        } else {
            let mut list = Vec::new();
            loop {
                match self.peek_word(0) {
                    Some(w) if PRIVILEGES.contains(&w) => {
                        list.push(Some(w.to_uppercase()));
                        self.pos += 1;
                    }
                    _ => {
                        let expected: Vec<String> =
                            PRIVILEGES.iter().map(|p| p.to_uppercase()).collect();
                        return syntax(format!(
                            "Expected one of {}, found {}",
                            expected.join(" or "),
                            self.found()
                        ));
                    }
                }
                if !self.punct(',') {
                    break;
                }
            }
            Some(list)
        };
        self.expect_kw("on")?;
        enum Target {
            System,
            Clusters(Option<Vec<Option<String>>>),
        }
        let target = if self.kw("system") {
            Target::System
        } else if self.kws(&["all", "clusters"]) {
            Target::Clusters(None)
        } else {
            self.expect_kw("cluster")?;
            let mut names = vec![Some(self.ident()?)];
            while self.punct(',') {
                names.push(Some(self.ident()?));
            }
            Target::Clusters(Some(names))
        };
        self.expect_kw(if grant { "to" } else { "from" })?;
        let mut roles = Vec::new();
        loop {
            if self.kw("public") {
                roles.push(None);
            } else {
                roles.push(Some(self.ident()?));
            }
            if !self.punct(',') {
                break;
            }
        }
        self.expect_end()?;
        let privileges = privileges.map_or_else(|| "NULL::text[]".into(), |p| text_array(&p));
        let roles = text_array(&roles);
        Ok(match target {
            Target::System => format!(
                "CALL mz_emulator.update_system_privileges({grant}, {privileges}, {roles}, {ACTOR})"
            ),
            Target::Clusters(names) => format!(
                "CALL mz_emulator.update_cluster_privileges({grant}, {privileges}, {}, {roles}, {ACTOR})",
                names.map_or_else(|| "NULL::text[]".into(), |n| text_array(&n))
            ),
        })
    }

    fn if_exists(&mut self) -> PResult<bool> {
        if self.kw("if") {
            self.expect_kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn if_not_exists(&mut self) -> PResult<bool> {
        if self.kw("if") {
            self.expect_kw("not")?;
            self.expect_kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn create_replica(&mut self) -> PResult<String> {
        let if_not_exists = self.if_not_exists()?;
        let (cluster, replica) = self.qualified_replica()?;
        let opts = self.option_list(false)?;
        let (mut size, mut zone) = (None, None);
        for o in &opts {
            match o.name {
                "size" => size = Some(size_value(&o.value)?),
                "availability zone" => zone = Some(string_value("AVAILABILITY ZONE", &o.value)?),
                _ => {}
            }
        }
        let Some(size) = size else {
            return syntax("SIZE option must be specified");
        };
        // The zone goes to the procedure, which refuses it where
        // Materialize does (after the ownership check, §2.2).
        let zone = zone.map_or_else(String::new, |z| format!(", {}", lit(&z)));
        Ok(format!(
            "CALL mz_emulator.create_cluster_replica({}, {}, {}, {if_not_exists}, {ACTOR}{zone})",
            lit(&cluster),
            lit(&replica),
            lit(&size)
        ))
    }

    fn drop_replica(&mut self) -> PResult<String> {
        let if_exists = self.if_exists()?;
        let mut names = vec![self.qualified_replica()?];
        while self.punct(',') {
            names.push(self.qualified_replica()?);
        }
        if !self.kw("cascade") {
            self.kw("restrict");
        }
        self.expect_end()?;
        if let [(c, r)] = names.as_slice() {
            return Ok(format!(
                "CALL mz_emulator.drop_cluster_replica({}, {}, {if_exists}, {ACTOR})",
                lit(c),
                lit(r)
            ));
        }
        let clusters: Vec<String> = names.iter().map(|(c, _)| lit(c)).collect();
        let replicas: Vec<String> = names.iter().map(|(_, r)| lit(r)).collect();
        Ok(format!(
            "CALL mz_emulator.drop_cluster_replicas(ARRAY[{}]::text[], ARRAY[{}]::text[], {if_exists}, {ACTOR})",
            clusters.join(", "),
            replicas.join(", ")
        ))
    }

    fn create_cluster(&mut self) -> PResult<String> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.ident()?;
        let opts = self.option_list(false)?;
        let (mut managed, mut size, mut rf, mut replicas, mut schedule) =
            (None, None, None, None, None);
        for o in &opts {
            match o.name {
                "managed" => managed = Some(bool_value("MANAGED", &o.value)?),
                "size" => size = Some(size_value(&o.value)?),
                "replication factor" => rf = Some(rf_value(&o.value)?),
                "replicas" => replicas = Some(replicas_value(&o.value)?),
                "schedule" => schedule = Some(schedule_value(&o.value)?.0),
                _ => {}
            }
        }
        Ok(format!(
            "CALL mz_emulator.create_cluster({}, {}::boolean, {}, {}::bigint, {}::jsonb, {if_not_exists}, {}, {ACTOR})",
            lit(&name),
            managed.map_or("NULL".into(), |m: bool| m.to_string()),
            opt_lit(&size),
            rf.map_or("NULL".into(), |n: u64| n.to_string()),
            replicas.map_or("NULL".into(), |r: serde_json::Value| lit(&r.to_string())),
            opt_lit(&schedule),
        ))
    }

    fn alter_cluster(&mut self) -> PResult<String> {
        let if_exists = self.if_exists()?;
        let name = self.ident()?;
        let mut o = serde_json::Map::new();
        if if_exists {
            o.insert("if_exists".into(), true.into());
        }
        if self.kw("set") {
            self.expect_lparen()?;
            for opt in self.options_until_rparen()? {
                match opt.name {
                    "managed" => {
                        o.insert("managed".into(), bool_value("MANAGED", &opt.value)?.into())
                    }
                    "size" => o.insert("size".into(), size_value(&opt.value)?.into()),
                    "replication factor" => {
                        o.insert("replication_factor".into(), rf_value(&opt.value)?.into())
                    }
                    "schedule" => {
                        let (kind, estimate) = schedule_value(&opt.value)?;
                        if let Some(e) = estimate {
                            o.insert("hydration_time_estimate".into(), e.into());
                        }
                        o.insert("schedule".into(), kind.into())
                    }
                    "replicas" => return syntax("REPLICAS not supported for ALTER CLUSTER"),
                    _ => None,
                };
            }
            if self.kw("with") {
                self.expect_lparen()?;
                o.insert("wait".into(), self.wait_option()?);
                self.expect_rparen()?;
            }
        } else if self.kw("reset") {
            self.expect_lparen()?;
            let mut names = Vec::new();
            loop {
                let name = self.option_name()?;
                names.push(serde_json::Value::from(name.replace(' ', "_")));
                if !self.punct(',') {
                    break;
                }
            }
            self.expect_rparen()?;
            o.insert("reset".into(), names.into());
        } else if self.kws(&["owner", "to"]) {
            let owner = self.ident()?;
            self.expect_end()?;
            return Ok(format!(
                "CALL mz_emulator.alter_owner({}, NULL, {}, {ACTOR})",
                lit(&name),
                lit(&owner)
            ));
        } else if self.kws(&["rename", "to"]) {
            // The id stays; only the name changes (what a controller that
            // addresses clusters by name must notice).
            let new_name = self.ident()?;
            self.expect_end()?;
            return Ok(format!(
                "CALL mz_emulator.rename_cluster({}, {}, {ACTOR})",
                lit(&name),
                lit(&new_name)
            ));
        } else if self.kws(&["swap", "with"]) {
            // Blue/green deployments (dbt-materialize) swap two clusters'
            // names at once; their ids stay.
            let other = self.ident()?;
            self.expect_end()?;
            return Ok(format!(
                "CALL mz_emulator.swap_clusters({}, {}, {ACTOR})",
                lit(&name),
                lit(&other)
            ));
        } else {
            return syntax(format!("Expected left parenthesis, found {}", self.found()));
        }
        self.expect_end()?;
        Ok(format!(
            "CALL mz_emulator.alter_cluster_set({}, {}::jsonb, {ACTOR})",
            lit(&name),
            lit(&serde_json::Value::Object(o).to_string())
        ))
    }

    /// `ALTER CLUSTER REPLICA c.r OWNER TO role` and `ALTER CLUSTER REPLICA
    /// [IF EXISTS] c.r RENAME TO r2` (other forms unsupported).
    fn alter_replica(&mut self) -> PResult<String> {
        let if_exists = self.if_exists()?;
        let (cluster, replica) = self.qualified_replica()?;
        if self.kws(&["rename", "to"]) {
            let new_name = self.ident()?;
            self.expect_end()?;
            return Ok(format!(
                "CALL mz_emulator.rename_replica({}, {}, {}, {if_exists}, {ACTOR})",
                lit(&cluster),
                lit(&replica),
                lit(&new_name)
            ));
        }
        if if_exists || !self.kws(&["owner", "to"]) {
            return unsupported(&format!("ALTER CLUSTER REPLICA ... {}", self.found()));
        }
        let owner = self.ident()?;
        self.expect_end()?;
        Ok(format!(
            "CALL mz_emulator.alter_owner({}, {}, {}, {ACTOR})",
            lit(&cluster),
            lit(&replica),
            lit(&owner)
        ))
    }

    /// After `WITH (`: `WAIT UNTIL READY [(TIMEOUT [=] t, ON TIMEOUT [=] COMMIT|ROLLBACK)]`
    /// or `WAIT FOR t` -> `{"kind", "timeout", "on_timeout"}`.
    fn wait_option(&mut self) -> PResult<serde_json::Value> {
        self.expect_kw("wait")?;
        let mut w = serde_json::Map::new();
        if self.kw("for") {
            self.punct('=');
            w.insert("kind".into(), "for".into());
            w.insert("timeout".into(), self.text_value("WAIT FOR")?.into());
            return Ok(w.into());
        }
        self.expect_kw("until")?;
        self.expect_kw("ready")?;
        w.insert("kind".into(), "until_ready".into());
        if self.punct('(') {
            loop {
                if self.kws(&["on", "timeout"]) {
                    self.punct('=');
                    let action = self.text_value("ON TIMEOUT")?.to_ascii_lowercase();
                    if !matches!(action.as_str(), "commit" | "rollback") {
                        return syntax(format!("invalid ON TIMEOUT: {action}"));
                    }
                    w.insert("on_timeout".into(), action.into());
                } else if self.kw("timeout") {
                    self.punct('=');
                    w.insert("timeout".into(), self.text_value("TIMEOUT")?.into());
                } else {
                    return syntax(format!("Expected TIMEOUT or ON, found {}", self.found()));
                }
                if !self.punct(',') {
                    break;
                }
            }
            self.expect_rparen()?;
        }
        Ok(w.into())
    }

    /// A string literal or a bare word.
    fn text_value(&mut self, what: &str) -> PResult<String> {
        match self.peek().cloned() {
            Some(Tok::Str(s) | Tok::Word(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => syntax(format!(
                "invalid {what}: expected a string, found {}",
                self.found()
            )),
        }
    }

    fn drop_cluster(&mut self) -> PResult<String> {
        let if_exists = self.if_exists()?;
        let name = self.ident()?;
        let cascade = self.kw("cascade");
        if !cascade {
            self.kw("restrict");
        }
        self.expect_end()?;
        Ok(format!(
            "CALL mz_emulator.drop_cluster({}, {if_exists}, {cascade}, {ACTOR})",
            lit(&name)
        ))
    }

    /// `[(] option [, option]* [)]` up to the end of the statement; the
    /// parentheses are optional for CREATE statements.
    fn option_list(&mut self, parens_required: bool) -> PResult<Vec<Opt>> {
        if self.punct('(') {
            let opts = self.options_until_rparen()?;
            self.expect_end()?;
            return Ok(opts);
        }
        if parens_required {
            return syntax(format!("Expected left parenthesis, found {}", self.found()));
        }
        let mut opts = Vec::new();
        if self.peek().is_none() {
            return Ok(opts);
        }
        loop {
            opts.push(self.option()?);
            if !self.punct(',') {
                break;
            }
        }
        self.expect_end()?;
        Ok(opts)
    }

    /// Options after a consumed `(`, through the matching `)`.
    fn options_until_rparen(&mut self) -> PResult<Vec<Opt>> {
        let mut opts = Vec::new();
        if self.punct(')') {
            return Ok(opts);
        }
        loop {
            opts.push(self.option()?);
            if !self.punct(',') {
                break;
            }
        }
        self.expect_rparen()?;
        Ok(opts)
    }

    fn option_name(&mut self) -> PResult<&'static str> {
        for name in OPTIONS {
            let words: Vec<&str> = name.split(' ').collect();
            if self.kws(&words) {
                return Ok(name);
            }
        }
        let expected: Vec<String> = OPTIONS.iter().map(|o| o.to_uppercase()).collect();
        syntax(format!(
            "Expected one of {}, found {}",
            expected.join(" or "),
            self.found()
        ))
    }

    fn option(&mut self) -> PResult<Opt> {
        let name = self.option_name()?;
        self.punct('=');
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') if depth == 0 => break,
                Tok::Punct(')') => depth -= 1,
                Tok::Punct(',') if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        if depth != 0 {
            return syntax("Expected right parenthesis, found EOF");
        }
        Ok(Opt {
            name,
            value: self.toks[start..self.pos].to_vec(),
        })
    }
}

fn size_value(v: &[Tok]) -> PResult<String> {
    string_value("SIZE", v)
}

/// A string option: a literal or an identifier. NULL, TRUE and FALSE are
/// values of Materialize's parser, not identifiers, and are not strings
/// (§2.2: `SIZE NULL` -> `invalid SIZE: cannot use value as string`).
fn string_value(name: &str, v: &[Tok]) -> PResult<String> {
    match v {
        [Tok::Word(w)] if matches!(w.as_str(), "null" | "true" | "false") => {
            syntax(format!("invalid {name}: cannot use value as string"))
        }
        [Tok::Str(s) | Tok::Word(s) | Tok::Quoted(s)] => Ok(s.clone()),
        [] => syntax(format!("invalid {name}: must provide a string value")),
        _ => syntax(format!("invalid {name}: cannot use value as string")),
    }
}

fn rf_value(v: &[Tok]) -> PResult<u64> {
    match v {
        [Tok::Num(n)] => n.parse().or_else(|_| {
            syntax(format!(
                "invalid REPLICATION FACTOR: \"{n}\" is out of range for type uint4"
            ))
        }),
        [] => syntax("invalid REPLICATION FACTOR: must provide a numeric value"),
        _ => syntax("invalid REPLICATION FACTOR: cannot use value as number"),
    }
}

fn bool_value(name: &str, v: &[Tok]) -> PResult<bool> {
    match v {
        [] => Ok(true),
        [Tok::Word(w) | Tok::Str(w)] if w.eq_ignore_ascii_case("true") => Ok(true),
        [Tok::Word(w) | Tok::Str(w)] if w.eq_ignore_ascii_case("false") => Ok(false),
        _ => syntax(format!("invalid {name}: cannot use value as boolean")),
    }
}

/// `MANUAL` | `ON REFRESH [(HYDRATION TIME ESTIMATE [=] '1 hour')]`.
fn schedule_value(v: &[Tok]) -> PResult<(String, Option<String>)> {
    let word =
        |t: &Tok, w: &str| matches!(t, Tok::Word(x) | Tok::Str(x) if x.eq_ignore_ascii_case(w));
    match v {
        [t] if word(t, "manual") => Ok(("manual".into(), None)),
        [on, refresh, rest @ ..] if word(on, "on") && word(refresh, "refresh") => {
            let estimate = rest.iter().find_map(|t| match t {
                Tok::Str(s) => Some(s.clone()),
                _ => None,
            });
            Ok(("on-refresh".into(), estimate))
        }
        _ => syntax("invalid SCHEDULE: expected MANUAL or ON REFRESH"),
    }
}

/// `( name (SIZE 'x' [, ...]) [, ...] )` -> `[{"name": .., "size": ..}]`.
fn replicas_value(v: &[Tok]) -> PResult<serde_json::Value> {
    let mut p = Parser {
        toks: v.to_vec(),
        pos: 0,
    };
    p.expect_lparen()?;
    let mut out = Vec::new();
    if !p.punct(')') {
        loop {
            let name = p.ident()?;
            p.expect_lparen()?;
            let mut size = None;
            for o in p.options_until_rparen()? {
                if o.name == "size" {
                    size = Some(size_value(&o.value)?);
                }
            }
            out.push(serde_json::json!({ "name": name, "size": size }));
            if !p.punct(',') {
                break;
            }
        }
        p.expect_rparen()?;
    }
    p.expect_end()?;
    Ok(out.into())
}

/// `SHOW CLUSTERS` and `SHOW CLUSTER REPLICAS` `[LIKE 'p' | WHERE expr]`,
/// with Materialize's columns (src/sql/src/plan/statement/show.rs:
/// `name, replicas, comment` from mz_show_clusters, replicas listed as
/// `r1 (25cc), r2 (25cc)`; `cluster, replica, size, ready, comment` from
/// mz_show_cluster_replicas, `ready` being bool_and(hydrated) over
/// mz_hydration_statuses per replica, reference §1.7). The emulator keeps
/// no comments (''), and a replica without hydration rows (its cluster has
/// no objects; Materialize would count its introspection indexes) is ready
/// once online.
fn show_clusters(stmt: &str, toks: &[Tok]) -> Option<String> {
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    let (query, first, rest) = match (word(0)?, word(1)?, word(2)) {
        ("show", "clusters", _) => (
            "SELECT c.name, string_agg(r.name || ' (' || r.size || ')', ', ' ORDER BY r.name)              AS replicas, ''::text AS comment              FROM mz_catalog.mz_clusters c              LEFT JOIN mz_catalog.mz_cluster_replicas r ON r.cluster_id = c.id              GROUP BY c.name",
            "name",
            2,
        ),
        ("show", "cluster", Some("replicas")) => (
            "SELECT c.name AS cluster, r.name AS replica, r.size,              coalesce((SELECT bool_and(h.hydrated) FROM mz_internal.mz_hydration_statuses h                        WHERE h.replica_id = r.id), mz_emulator.replica_online(r.id)) AS ready,              ''::text AS comment              FROM mz_catalog.mz_cluster_replicas r              JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id",
            "cluster",
            3,
        ),
        _ => return None,
    };
    let filter = match (toks.get(rest), toks.get(rest + 1)) {
        (None, _) => String::new(),
        (Some(Tok::Word(w)), Some(Tok::Str(pattern))) if w == "like" && toks.len() == rest + 2 => {
            format!(" WHERE {first} LIKE {}", lit(pattern))
        }
        (Some(Tok::Word(w)), Some(_)) if w == "where" => {
            // Nothing but keywords comes before WHERE: its first
            // occurrence in the text is the clause.
            let at = stmt.to_ascii_lowercase().find("where")?;
            format!(" WHERE {}", &stmt[at + "where".len()..])
        }
        _ => {
            return Some(raise_sql(
                "42601",
                &format!(
                    "Expected end of statement, found {}",
                    toks.get(rest)
                        .map_or_else(|| "EOF".to_string(), ToString::to_string)
                ),
            ))
        }
    };
    Some(format!("SELECT * FROM ({query}) AS q{filter} ORDER BY q.*"))
}

/// Privileges Materialize's parser takes in GRANT/REVOKE (`parse_privilege`).
const PRIVILEGES: &[&str] = &[
    "select",
    "insert",
    "update",
    "delete",
    "usage",
    "create",
    "createrole",
    "createdb",
    "createcluster",
    "createnetworkpolicy",
];

/// `ARRAY[...]::text[]` of the items, NULL items for `None`.
fn text_array(items: &[Option<String>]) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|i| i.as_deref().map_or_else(|| "NULL".to_string(), lit))
        .collect();
    format!("ARRAY[{}]::text[]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_round_trips() {
        let sql = "SELECT 'a;b'; SELECT \"x;\" ; DO $$ BEGIN; END $$; -- c;\nSELECT E'\\';'";
        let parts = split_statements(sql);
        assert_eq!(parts.join(";"), sql);
        assert_eq!(parts.len(), 4, "{parts:?}");
    }

    #[test]
    fn rewrites_replica_ddl() {
        let r = rewrite_statement(r#"create cluster replica "My"."a""b" (SIZE = 'x''y')"#).unwrap();
        assert_eq!(
            r.sql,
            r#"CALL mz_emulator.create_cluster_replica('My', 'a"b', 'x''y', false, current_user::text)"#
        );
        assert!(r.ddl);
        assert!(rewrite_statement("SELECT 1").is_none());
        assert!(rewrite_statement("CREATE TABLE cluster (a int)").is_none());
    }

    #[test]
    fn rewrites_wait_options_owners_and_settings() {
        let r = rewrite_statement(
            "ALTER CLUSTER m SET (SIZE = '50cc') WITH (WAIT UNTIL READY (TIMEOUT = '10m', ON TIMEOUT = 'ROLLBACK'))",
        )
        .unwrap();
        assert_eq!(
            r.sql,
            r#"CALL mz_emulator.alter_cluster_set('m', '{"size":"50cc","wait":{"kind":"until_ready","timeout":"10m","on_timeout":"rollback"}}'::jsonb, current_user::text)"#
        );
        let r =
            rewrite_statement("ALTER CLUSTER m SET (SIZE '50cc') WITH (WAIT FOR '5m')").unwrap();
        assert!(
            r.sql.contains(r#""wait":{"kind":"for","timeout":"5m"}"#),
            "{}",
            r.sql
        );
        let r = rewrite_statement("ALTER CLUSTER REPLICA c.r1 OWNER TO app").unwrap();
        assert_eq!(
            r.sql,
            "CALL mz_emulator.alter_owner('c', 'r1', 'app', current_user::text)"
        );
        let r =
            rewrite_statement(r#"ALTER CLUSTER REPLICA IF EXISTS c."R 1" RENAME TO r2"#).unwrap();
        assert!(r.ddl);
        assert_eq!(
            r.sql,
            "CALL mz_emulator.rename_replica('c', 'R 1', 'r2', true, current_user::text)"
        );
        // IF EXISTS is a rename's only.
        let r = rewrite_statement("ALTER CLUSTER REPLICA IF EXISTS c.r1 OWNER TO app").unwrap();
        assert_eq!(
            r.sql,
            raise_sql(
                "0A000",
                "the Materialize emulator does not support ALTER CLUSTER REPLICA ... OWNER"
            )
        );
        let r = rewrite_statement("SHOW max_replicas_per_cluster").unwrap();
        assert!(!r.ddl);
        assert_eq!(
            r.sql,
            "SELECT mz_emulator.show_setting('max_replicas_per_cluster') AS max_replicas_per_cluster"
        );
        assert!(rewrite_statement("SHOW statement_timeout").is_none());
        assert_eq!(
            session_cluster_change("SET cluster = \"My C\""),
            Some(Some("My C".into()))
        );
        assert_eq!(
            session_cluster_change("SET CLUSTER TO 'x'"),
            Some(Some("x".into()))
        );
        assert_eq!(session_cluster_change("RESET cluster"), Some(None));
        assert_eq!(session_cluster_change("SET cluster_replica = r1"), None);
    }

    #[test]
    fn rewrites_cluster_and_system_grants_only() {
        let r =
            rewrite_statement(r#"GRANT USAGE, CREATE ON CLUSTER ops, "Q" TO app, PUBLIC"#).unwrap();
        assert!(!r.ddl);
        assert_eq!(
            r.sql,
            "CALL mz_emulator.update_cluster_privileges(true, ARRAY['USAGE', 'CREATE']::text[], \
             ARRAY['ops', 'Q']::text[], ARRAY['app', NULL]::text[], current_user::text)"
        );
        let r = rewrite_statement("REVOKE ALL PRIVILEGES ON ALL CLUSTERS FROM app").unwrap();
        assert_eq!(
            r.sql,
            "CALL mz_emulator.update_cluster_privileges(false, NULL::text[], NULL::text[], \
             ARRAY['app']::text[], current_user::text)"
        );
        let r = rewrite_statement("grant createcluster on system to app").unwrap();
        assert_eq!(
            r.sql,
            "CALL mz_emulator.update_system_privileges(true, ARRAY['CREATECLUSTER']::text[], \
             ARRAY['app']::text[], current_user::text)"
        );
        for passthrough in [
            "GRANT mz_monitor_redacted TO \"ctl\"",
            "GRANT SELECT, INSERT ON \"t\" TO app",
            "GRANT USAGE ON SCHEMA public TO app",
            "REVOKE CREATE ON DATABASE d FROM app",
        ] {
            assert!(rewrite_statement(passthrough).is_none(), "{passthrough}");
        }
    }
}
