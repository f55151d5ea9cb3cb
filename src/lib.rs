//! clusterctl: keeps Materialize clusters at the right size.
//!
//! The data flow, one folder per stage:
//! `cli` (one clap tree, one dispatcher) → `commands` (one file per command
//! family, returning values) → `config` (the connection) → `db` (every SQL
//! statement: the catalog snapshot, our tables, migrations, the lease, the
//! live backend) → `plan` (the pure decision: the one row validator, the
//! rules, the coordinator running `strategy`s, the diff into DDL text from
//! `ddl`) → `exec` (carrying a plan out through a backend: DDL, audit,
//! state) → `render` (text and JSON views of what a command returned).
//! `metrics` exports runs to Prometheus; `sim` drives the same `plan` and
//! `exec` against an in-memory Materialize for `clusterctl simulate`.
//!
//! The decision core (`model`, `ddl`, `strategy`, `plan`) cannot read the
//! clock, the environment or the database: clippy's `disallowed-methods`
//! and `disallowed-types` (clippy.toml) forbid it crate-wide, and only the
//! shell modules lift the ban (`tests/purity.rs` checks that the core never
//! does).

/// This build's version: the crate's, with the commit it was built from
/// as build metadata (`0.1.0+1a2b3c4d5e6f`; `build.rs`), for `--version`
/// and the `clusterctl_build_info` gauge.
pub const VERSION: &str = env!("CLUSTERCTL_VERSION");

/// Who wrote an audit row (`decision_ctx.controller`): this build.
pub const CONTROLLER: &str = concat!("clusterctl ", env!("CLUSTERCTL_VERSION"));

pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod ddl;
pub mod exec;
pub mod files;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod process;
pub mod render;
pub mod sim;
pub mod strategy;
