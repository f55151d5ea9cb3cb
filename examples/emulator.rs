//! A Materialize emulator to try clusterctl by hand: the one the tests use,
//! with a small catalog (clusters `analytics`, `batch`, `etl`, `ops`, some
//! query activity and a crash), kept running until stdin closes or the
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
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    emu.add_activity("analytics", 40, true);
    emu.create_cluster("batch");
    emu.add_index("batch");
    emu.add_replica("batch", "r1", "100cc");
    emu.create_cluster("etl");
    emu.add_replica("etl", "r1", "50cc");
    emu.add_crash("etl", "r1", true, 600);
    emu.create_hydrated_cluster("ops", "r1", "25cc");
    println!("export DATABASE_URL='{}'", emu.url());
    println!("# pass --exec-cluster ops to clusterctl; close stdin (Ctrl-D) to stop");
    // Until stdin closes: the emulator's database is dropped on the way out.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
