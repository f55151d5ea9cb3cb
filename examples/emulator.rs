//! A Materialize emulator to try clusterctl by hand: the one the tests use,
//! with the README's catalog (clusters `analytics`, `batch`, `etl`, `ops`,
//! some query activity and crashes), kept running until stdin closes or the
//! process is stopped. Run it with `scripts/emulator.sh`, which starts the
//! throwaway PostgreSQL it needs and prints the `DATABASE_URL` to use.
//!
//! Through that URL the emulator takes Materialize's DDL as Materialize
//! would (`psql "$DATABASE_URL" -c "CREATE CLUSTER c (SIZE '25cc')"`).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../tests/it/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::io::Read;

use support::Emulator;

fn main() {
    let emu = Emulator::start();
    emu.create_readme_catalog();
    println!("export DATABASE_URL='{}'", emu.url());
    println!("# pass --exec-cluster ops to clusterctl; close stdin (Ctrl-D) to stop");
    // Until stdin closes: the emulator's database is dropped on the way out.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
