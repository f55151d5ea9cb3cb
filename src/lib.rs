//! clusterctl: keeps Materialize clusters at the right size.
//!
//! The data flow, one module per stage:
//! `cli` → `ops` → `config` → `db` → `store` (our tables) / `snapshot`
//! (catalog) → `plan` (pure decision, using `strategy`) → `exec` (DDL,
//! audit, state) → `report` (text or JSON). `sim` drives the same `plan` and
//! `exec` against an in-memory Materialize for `clusterctl simulate`.

pub mod admin;
pub mod cli;
pub mod cli_ops;
pub mod config;
pub mod db;
pub mod ddl;
pub mod exec;
pub mod inspect;
pub mod lease;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod pg;
pub mod plan;
pub mod report;
pub mod sim;
pub mod snapshot;
pub mod store;
pub mod strategy;
pub mod table;
pub mod watch;
