mod cli;
mod emulator_selftest;
mod reconcile;
mod support;
