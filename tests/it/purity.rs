//! The architecture, checked: the decision core (model, ddl, strategy,
//! plan) never lifts clippy's ban on the clock, the environment, files and
//! database clients (clippy.toml), never names a shell module, and the
//! module graph of the library has no cycles. Test code (`#[cfg(test)]`
//! modules, `tests.rs` files) is not part of the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CORE: &[&str] = &["model", "ddl", "strategy", "plan"];
const SHELL: &[&str] = &[
    "cli", "commands", "config", "db", "exec", "files", "metrics", "process", "render", "sim",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (top-level module, non-test source) of every library file.
fn library() -> Vec<(String, PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out = Vec::new();
    for p in files {
        let rel = p.strip_prefix(src()).unwrap_or(&p).to_path_buf();
        let top = rel
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .unwrap_or_default();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if top == "main" || top == "lib" || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let code = without_test_blocks(&text);
        out.push((top, rel, code));
    }
    out
}

/// The file up to its first inline `#[cfg(test)] mod … {` block: unit
/// tests sit at the end of a file.
fn without_test_blocks(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "#[cfg(test)]" {
            continue;
        }
        let inline = lines[i + 1..]
            .iter()
            .take(3)
            .find(|l| !l.trim_start().starts_with("#["))
            .is_some_and(|l| l.contains("mod ") && l.trim_end().ends_with('{'));
        if inline {
            return lines[..i].join("\n");
        }
    }
    text.to_string()
}

/// `crate::x` names a top-level module `x`.
fn referenced_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

#[test]
fn the_core_never_lifts_the_ban_on_clock_env_files_and_databases() {
    let toml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("clippy.toml"))
        .expect("clippy.toml");
    for banned in [
        "chrono::Utc::now",
        "std::time::SystemTime::now",
        "std::time::Instant::now",
        "std::env::var",
        "std::fs::read_to_string",
        "std::process::exit",
        "tokio_postgres::Client",
        "deadpool_postgres::Object",
    ] {
        assert!(toml.contains(banned), "clippy.toml no longer bans {banned}");
    }
    let mut core_files = 0;
    for (top, rel, code) in library() {
        if !CORE.contains(&top.as_str()) {
            continue;
        }
        core_files += 1;
        for lifted in ["disallowed_methods", "disallowed_types"] {
            assert!(
                !code.contains(lifted),
                "{}: the decision core lifts clippy's {lifted} ban",
                rel.display()
            );
        }
        for m in referenced_modules(&code) {
            assert!(
                !SHELL.contains(&m.as_str()),
                "{}: the decision core uses crate::{m}, a shell module",
                rel.display()
            );
        }
        for io in [
            "tokio::",
            "tokio_postgres",
            "deadpool_postgres",
            "std::fs",
            "std::net",
        ] {
            assert!(
                !code.contains(io),
                "{}: the decision core uses {io}",
                rel.display()
            );
        }
    }
    assert!(core_files >= 10, "found only {core_files} core files");
}

#[test]
fn the_module_graph_has_no_cycles() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (top, _, code) in library() {
        let deps = graph.entry(top.clone()).or_default();
        for m in referenced_modules(&code) {
            if m != top {
                deps.insert(m);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(i) = path.iter().position(|n| n == node) {
            panic!("import cycle: {} -> {node}", path[i..].join(" -> "));
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    assert!(
        graph.contains_key("plan") && graph.contains_key("cli"),
        "{graph:?}"
    );
}

#[test]
fn only_the_dispatcher_ends_the_process() {
    for (_, rel, code) in library() {
        assert!(
            !code.contains("process::exit"),
            "{}: calls process::exit; return an exit code to the dispatcher instead",
            rel.display()
        );
    }
}
