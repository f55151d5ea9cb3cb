//! Clock skew for child processes (issue 13 §1): libfaketime, from Debian's
//! `faketime` package (scripts/test.sh installs it where missing), preloaded
//! into a process shifts its wall clock by a fixed offset. Monotonic clocks
//! are left alone so timeouts and sleeps keep their length.

use std::path::PathBuf;
use std::process::Command;

/// The multithreaded libfaketime (`CLUSTERCTL_TEST_LIBFAKETIME` overrides the
/// search of the usual library directories).
pub fn libfaketime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CLUSTERCTL_TEST_LIBFAKETIME") {
        return Some(PathBuf::from(p));
    }
    let mut dirs = vec![
        PathBuf::from("/usr/lib/faketime"),
        PathBuf::from("/usr/local/lib/faketime"),
    ];
    // Debian's multiarch directories (/usr/lib/<triplet>/faketime).
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("faketime")));
    }
    dirs.into_iter()
        .map(|d| d.join("libfaketimeMT.so.1"))
        .find(|lib| lib.is_file())
}

/// Makes `cmd` see the wall clock `offset_secs` seconds away (positive: ahead).
pub fn with_clock_offset(cmd: &mut Command, offset_secs: i64) -> &mut Command {
    let lib = libfaketime()
        .expect("libfaketime not found: install the `faketime` package (scripts/test.sh does)");
    cmd.env("LD_PRELOAD", lib)
        .env("FAKETIME", format!("{offset_secs:+}"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("FAKETIME_NO_CACHE", "1")
}

/// The product binary, with its wall clock `offset_secs` seconds away.
pub fn product_command_with_clock_offset(offset_secs: i64) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clusterctl"));
    with_clock_offset(&mut cmd, offset_secs);
    cmd
}
