#!/usr/bin/env bash
# A Materialize emulator to try clusterctl by hand (examples/emulator.rs):
# starts a throwaway PostgreSQL (scripts/pg.sh), builds the example and
# prints the `export DATABASE_URL=...` line to paste in another shell.
# Ctrl-D (or closing stdin) stops the emulator and removes the server.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/pg.sh
source "$root/scripts/pg.sh"
trap pg_stop EXIT
pg_start >&2

cargo build --quiet --release --bin clusterctl
echo "# clusterctl: ${CARGO_TARGET_DIR:-$root/target}/release/clusterctl"
cargo run --quiet --example emulator
