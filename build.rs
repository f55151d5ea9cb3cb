//! Puts the commit a binary is built from into its version, so that
//! `--version`, the audit trail's `controller` and `clusterctl_build_info`
//! tell two builds of one crate version apart (every build said
//! `clusterctl 0.1.0`, and an upgrade's trail could not say which release
//! wrote a row: an outside check).
//!
//! `CLUSTERCTL_VERSION` is the crate's version with the commit as semver
//! build metadata (`0.1.0+1a2b3c4d5e6f`): from `CLUSTERCTL_BUILD_COMMIT`
//! when set (a build from a source archive, without `.git`), else from
//! `git rev-parse` of the crate's own checkout (not a repository it was
//! unpacked in); without either, the crate's version alone. A build from
//! a checkout with uncommitted changes carries the commit they are on.
//! Local `git` only: no network.

// A build script is no part of the decision core: it reads its environment.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

/// A commit id as given: hexadecimal, shortened to 12 digits.
fn commit_id(given: &str) -> Option<String> {
    let id = given.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| id.chars().take(12).collect())
}

fn main() {
    println!("cargo:rerun-if-env-changed=CLUSTERCTL_BUILD_COMMIT");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let given = std::env::var("CLUSTERCTL_BUILD_COMMIT").ok();
    // The crate's own checkout only: unpacked inside another repository,
    // that repository's commit is not this source's.
    let own_checkout = || {
        let top = git(&["rev-parse", "--show-toplevel"])?;
        let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
        let same = |p: &str| std::fs::canonicalize(p).ok();
        (same(&top)? == same(&here)?).then_some(())
    };
    if given.as_deref().is_some_and(|g| commit_id(g).is_none()) {
        println!(
            "cargo:warning=CLUSTERCTL_BUILD_COMMIT is not a hexadecimal commit id: ignored \
             (the checkout's commit is used, if any)"
        );
    }
    let commit = match given.as_deref().and_then(commit_id) {
        Some(id) => Some(id),
        None if own_checkout().is_none() => None,
        None => {
            // A new commit moves HEAD or the branch it names: build again.
            for dir in [
                git(&["rev-parse", "--git-dir"]),
                git(&["rev-parse", "--git-common-dir"]),
            ]
            .into_iter()
            .flatten()
            {
                let dir = Path::new(&dir);
                for watched in ["HEAD", "packed-refs", "refs/heads"] {
                    if dir.join(watched).exists() {
                        println!("cargo:rerun-if-changed={}", dir.join(watched).display());
                    }
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).and_then(|id| commit_id(&id))
        }
    };
    // Without a watched path cargo would rerun this on every change of a
    // file of the package; with none of git's, the manifest is enough.
    println!("cargo:rerun-if-changed=Cargo.toml");
    let full = match commit {
        Some(id) => format!("{version}+{id}"),
        None => version,
    };
    println!("cargo:rustc-env=CLUSTERCTL_VERSION={full}");
}
