//! Two views of every value a command returns: human text and a versioned
//! JSON document. Each report type implements [`View`] in the file named
//! after its command family; the JSON envelope (`format_version`, `command`,
//! then the body) is defined once, in [`json_document`]. Nothing here
//! computes or decides: it only renders.

mod admin;
mod check;
mod doctor;
mod history;
mod plan;
mod status;
mod strategy;
pub mod table;

use crate::commands::{Completion, Leased};

pub use plan::{apply_text, plan_summary, plan_text, problems};
pub use status::short_duration;

/// Version of the JSON documents; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = crate::plan::FORMAT_VERSION;

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
}

/// A command's result as text and as JSON.
pub trait View {
    /// The command's name in the JSON envelope (`"strategy set"`).
    fn command(&self) -> &'static str;
    /// What goes to stdout in text mode.
    fn text(&self, style: &TextStyle) -> String;
    /// Lines for stderr in text mode: problems and notes, not the result.
    fn messages(&self) -> Vec<String> {
        Vec::new()
    }
    /// The document's body (an object): its fields follow the envelope's.
    fn body(&self) -> serde_json::Value;
    /// How the command ended, for the exit code.
    fn completion(&self) -> Completion {
        Completion::Clean
    }
}

/// The JSON document of a view: `{"format_version", "command", …body}`,
/// pretty-printed, one per command run.
pub fn json_document(view: &dyn View) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("format_version".into(), FORMAT_VERSION.into());
    doc.insert("command".into(), view.command().into());
    match view.body() {
        serde_json::Value::Object(body) => doc.extend(body),
        serde_json::Value::Null => {}
        other => {
            doc.insert("result".into(), other);
        }
    }
    let mut s = serde_json::to_string_pretty(&serde_json::Value::Object(doc))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// `serde_json::to_value`, with a serialisation failure (a bug) shown in
/// the document rather than a panic.
fn body_of<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A run that found the lease held by another controller.
fn lease_busy_text(holder: &str, until: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "Another controller holds the lease ({holder}) until {}; not acting this time.\n",
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

fn lease_busy_body(holder: &str, until: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!({ "lease": { "held_by": holder, "until": until } })
}

/// A command run under the lease: its own view, or the busy lease.
impl<T: View> View for Leased<T> {
    fn command(&self) -> &'static str {
        match self {
            Leased::Ran(v) => v.command(),
            Leased::Busy { .. } => "lease",
        }
    }

    fn text(&self, style: &TextStyle) -> String {
        match self {
            Leased::Ran(v) => v.text(style),
            Leased::Busy { holder, until } => lease_busy_text(holder, *until),
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
            Leased::Busy { holder, until } => lease_busy_body(holder, *until),
        }
    }

    fn completion(&self) -> Completion {
        match self {
            Leased::Ran(v) => v.completion(),
            Leased::Busy { .. } => Completion::Clean,
        }
    }
}
