#!/usr/bin/env bash
# Prints the README's example sessions from real runs: builds the binary,
# starts a throwaway PostgreSQL (scripts/pg.sh) for the Materialize emulator
# and runs examples/readme_transcript.rs. Paste what it prints into README.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/pg.sh
source "$root/scripts/pg.sh"
trap pg_stop EXIT
pg_start >&2

cargo build --quiet --bin clusterctl
CLUSTERCTL_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/clusterctl" cargo run --quiet --example readme_transcript
