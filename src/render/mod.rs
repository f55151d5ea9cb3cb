//! Two views of every value a command returns: human text and a versioned
//! JSON document. Each report type implements [`View`] in the file named
//! after its command family; the JSON envelope (`format_version`,
//! `command`, `ok`, then `result` or `error`) is defined once, in
//! [`json_document`], for results and errors alike. Nothing here computes
//! or decides: it only renders.

mod admin;
mod backtest;
mod check;
mod describe;
mod doctor;
mod history;
mod plan;
mod status;
mod strategy;
pub mod table;

use crate::commands::{Completion, Leased};
use crate::model::plural;

pub use plan::{
    apply_summary, apply_text, asleep, plan_json, plan_streamed_first, plan_summary, plan_text,
    problems, progress_line,
};
pub use status::short_duration;

pub use crate::model::printable;

/// A whole text output made safe for a terminal: line breaks and tabs
/// stay; with `color`, the colour sequences we write (`ESC [ … m`) stay;
/// every other control character is shown escaped ([`printable`]).
pub fn terminal_safe(text: &str, color: bool) -> String {
    escaped(text, color, true)
}

/// One line made safe for a terminal: as [`terminal_safe`], but line breaks
/// and tabs are shown escaped too, so a name or a message holding one
/// cannot start a line of its own (a log line's fields).
pub fn one_line(text: &str, color: bool) -> String {
    escaped(text, color, false)
}

fn escaped(text: &str, color: bool, keep_breaks: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' && color {
            if let Some(len) = sgr_len(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        if crate::model::is_hidden(c) && !(keep_breaks && (c == '\n' || c == '\t')) {
            out.push_str(&crate::model::shown_char(c));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The length of a colour sequence (`ESC [` digits and `;` then `m`) at the
/// start of `s`.
fn sgr_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\u{1b}[")?;
    let n = body.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    (body[n..].starts_with('m')).then_some(2 + n + 1)
}

/// Version of the JSON documents; bumped on incompatible changes. 2: one
/// envelope for every command and error (`ok`, `result` | `error`), plan
/// clusters say `converged`/`waiting`/`changes` instead of `planned`.
pub const FORMAT_VERSION: u32 = 2;

/// What a DELETE retried after an attempt whose answer was lost cannot
/// count (`wipe-state`, `strategy rm`, and `history` of a wipe): its count
/// is "at least" the retry's.
pub const LOST_ANSWER: &str =
    "an attempt before lost its answer, and what it deleted is not counted";

/// How much text to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Everything text rendering depends on besides the value.
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    pub verbosity: Verbosity,
    pub table: table::Style,
    /// `-o wide`: every column.
    pub wide: bool,
    /// `apply` already showed the plan and each action as it ran.
    pub streamed: bool,
}

/// A command's result as text and as JSON.
pub trait View {
    /// What goes to stdout in text mode.
    fn text(&self, style: &TextStyle) -> String;
    /// Lines for stderr in text mode: problems and notes, not the result.
    fn messages(&self) -> Vec<String> {
        Vec::new()
    }
    /// The document's `result`.
    fn body(&self) -> serde_json::Value;
    /// The document's `result` as JSON text (pretty unless `one_line`),
    /// written straight from the view: for one too large to hold a second
    /// time as a `Value` (`history --limit 0`). `None`: [`View::body`].
    fn body_text(&self, _one_line: bool) -> Option<serde_json::Result<String>> {
        None
    }
    /// The text is a script for another program (SQL), not for reading:
    /// written byte for byte when stdout is not a terminal (its comments
    /// escape what they quote themselves), escaped for display on one.
    fn is_script(&self) -> bool {
        false
    }
    /// How the command ended, for the exit code.
    fn completion(&self) -> Completion {
        Completion::Clean
    }
}

/// What a command came to, for its JSON document.
pub enum Outcome<'a> {
    Ok(&'a dyn View),
    /// The command failed: a stable code and the message; an `apply`
    /// stopped after it began acting, the results of what it did before.
    Err {
        code: &'a str,
        message: &'a str,
        results: Option<&'a [crate::exec::ActionResult]>,
    },
}

/// The JSON document of a command run, pretty-printed, one per run (on one
/// line with `one_line`, for a stream of them, `--watch`: JSON Lines):
/// `{"format_version", "command", "ok": true, "result": …}` or
/// `{"format_version", "command", "ok": false, "error": {"code", "message"}}`
/// (and `error.results` for an `apply` stopped after it began acting).
/// The schema is `src/render/clusterctl.schema.json`.
pub fn json_document(command: &str, outcome: Outcome<'_>, one_line: bool) -> String {
    // A view's own text of its result goes where this stands.
    const TEXT: &str = "\u{0}result";
    let mut text_of_result = None;
    let doc = match outcome {
        Outcome::Ok(view) => {
            let result = match view.body_text(one_line) {
                Some(text) => {
                    text_of_result = Some(text);
                    serde_json::Value::from(TEXT)
                }
                None => view.body(),
            };
            serde_json::json!({
                "format_version": FORMAT_VERSION,
                "command": command,
                "ok": true,
                "result": result,
            })
        }
        Outcome::Err {
            code,
            message,
            results,
        } => {
            let mut error = serde_json::json!({ "code": code, "message": message });
            if let (Some(results), Some(e)) = (results, error.as_object_mut()) {
                e.insert("results".into(), serde_json::json!(results));
            }
            serde_json::json!({
                "format_version": FORMAT_VERSION,
                "command": command,
                "ok": false,
                "error": error,
            })
        }
    };
    let text = if one_line {
        serde_json::to_string(&doc)
    } else {
        serde_json::to_string_pretty(&doc)
    };
    let text = match text_of_result {
        None => text,
        Some(result) => text.and_then(|doc| Ok(with_result(&doc, &result?, TEXT, one_line))),
    };
    let mut s = text.unwrap_or_else(|e| {
        format!("{{\"ok\": false, \"error\": {{\"code\": \"bug\", \"message\": \"{e}\"}}}}")
    });
    s.push('\n');
    s
}

/// `doc` with `result` where the string `marker` stands (its first
/// occurrence: the document's keys before `result` are ours), indented as
/// `serde_json`'s pretty printer indents a value one level deep (a line
/// break is never inside a JSON string, so every one is the text's own).
fn with_result(doc: &str, result: &str, marker: &str, one_line: bool) -> String {
    let quoted = serde_json::Value::from(marker).to_string();
    let Some(at) = doc.find(&quoted) else {
        return doc.to_string();
    };
    let mut out = String::with_capacity(doc.len() + result.len() + result.len() / 8);
    out.push_str(&doc[..at]);
    match one_line {
        true => out.push_str(result),
        false => {
            for (i, line) in result.split('\n').enumerate() {
                if i > 0 {
                    out.push_str("\n  ");
                }
                out.push_str(line);
            }
        }
    }
    out.push_str(&doc[at + quoted.len()..]);
    out
}

/// A JSON value's text, pretty unless `one_line`: [`View::body_text`].
pub fn json_text_of<T: serde::Serialize>(v: &T, one_line: bool) -> serde_json::Result<String> {
    match one_line {
        true => serde_json::to_string(v),
        false => serde_json::to_string_pretty(v),
    }
}

/// A JSON value already made (the simulator's report), as a view: the
/// value, the text, the lines for stderr.
pub struct Raw(pub serde_json::Value, pub String, pub Vec<String>);

impl View for Raw {
    fn text(&self, _style: &TextStyle) -> String {
        self.1.clone()
    }

    fn messages(&self) -> Vec<String> {
        self.2.clone()
    }

    fn body(&self) -> serde_json::Value {
        self.0.clone()
    }
}

/// `serde_json::to_value`, with a serialisation failure (a bug) shown in
/// the document rather than a panic.
fn body_of<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// A run that found the lease held by another controller.
fn lease_busy_text(
    holder: &str,
    until: Option<chrono::DateTime<chrono::Utc>>,
    waited: Option<std::time::Duration>,
) -> String {
    let waited = crate::commands::waited_for(waited)
        .map(|w| format!(" (waited {w} for it)"))
        .unwrap_or_default();
    format!(
        "Another controller holds the lease ({}) until {}; not acting this time{waited}.\n",
        crate::model::printable(holder),
        crate::db::lease::until_text(until)
    )
}

/// `until` is null for a lease held until broken (`lease::Row::until`).
fn lease_busy_body(
    holder: &str,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> serde_json::Value {
    serde_json::json!({ "lease_busy": { "held_by": holder, "until": until } })
}

/// A command run under the lease: its own view, or the busy lease.
impl<T: View> View for Leased<T> {
    fn text(&self, style: &TextStyle) -> String {
        match self {
            Leased::Ran(v) => v.text(style),
            Leased::Busy {
                holder,
                until,
                waited,
                ..
            } => lease_busy_text(holder, *until, *waited),
        }
    }

    fn messages(&self) -> Vec<String> {
        match self {
            Leased::Ran(v) => v.messages(),
            Leased::Busy { .. } => Vec::new(),
        }
    }

    fn body(&self) -> serde_json::Value {
        match self {
            Leased::Ran(v) => v.body(),
            Leased::Busy { holder, until, .. } => lease_busy_body(holder, *until),
        }
    }

    fn completion(&self) -> Completion {
        match self {
            Leased::Ran(v) => v.completion(),
            Leased::Busy { .. } => Completion::Clean,
        }
    }
}

#[cfg(test)]
mod safe_tests {
    use super::*;

    /// A view's own text of its result (`history`'s, written without a
    /// `Value` of it) makes the same document, pretty and on one line,
    /// whatever its strings hold.
    #[test]
    fn a_views_own_result_text_makes_the_same_document() {
        struct Twice(serde_json::Value, bool);
        impl View for Twice {
            fn text(&self, _: &TextStyle) -> String {
                String::new()
            }
            fn body(&self) -> serde_json::Value {
                self.0.clone()
            }
            fn body_text(&self, one_line: bool) -> Option<serde_json::Result<String>> {
                self.1.then(|| json_text_of(&self.0, one_line))
            }
        }
        let result = serde_json::json!({
            "entries": [{"sql": "a\nb \"result\" \u{0}result", "n": [1, {"x": []}]}, {}],
            "more": false,
        });
        for one_line in [false, true] {
            let doc = |own| {
                json_document(
                    "history",
                    Outcome::Ok(&Twice(result.clone(), own)),
                    one_line,
                )
            };
            assert_eq!(doc(true), doc(false), "one_line {one_line}");
            let read: serde_json::Value = serde_json::from_str(&doc(true)).unwrap();
            assert_eq!(read["result"], result);
        }
    }

    #[test]
    fn database_text_cannot_drive_the_terminal() {
        let reason = "line1\nline2\u{1b}[31mred\u{1b}]0;title\u{7}\u{9b}";
        assert_eq!(
            printable(reason),
            "line1\\nline2\\u{1b}[31mred\\u{1b}]0;title\\u{7}\\u{9b}"
        );
        assert_eq!(printable("plain été"), "plain été");
        // Whole outputs keep their lines and tabs; our colours only with
        // colour on, anything else escaped.
        let text = "a\tb\n\u{1b}[1;32mok\u{1b}[0m \u{1b}]52;c;x\u{7} \u{1b}[2J\r\n";
        assert_eq!(
            terminal_safe(text, true),
            "a\tb\n\u{1b}[1;32mok\u{1b}[0m \\u{1b}]52;c;x\\u{7} \\u{1b}[2J\\r\n"
        );
        assert_eq!(
            terminal_safe(text, false),
            "a\tb\n\\u{1b}[1;32mok\\u{1b}[0m \\u{1b}]52;c;x\\u{7} \\u{1b}[2J\\r\n"
        );
        assert_eq!(table::Cell::new(reason).text, printable(reason));
    }
}
