// Test harnesses read files, the environment and the clock: the ban of
// clippy.toml is for the library's decision core.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod backtest;
mod behaviour;
mod chaos;
mod cli;
mod cli_surface;
mod connection;
mod crash_loop;
mod deploy;
mod emulator_selftest;
mod fidelity;
mod hostile_input;
mod json_schema;
mod managed;
mod migration;
mod ops_commands;
mod predict;
mod purity;
mod reconcile;
mod safety;
mod scale;
mod schedule;
mod secrets;
mod stabilize;
mod strategy_rows;
mod support;
mod watch;
