#!/usr/bin/env bash
# Scale benchmark (benches/scale.rs): a throwaway PostgreSQL (scripts/pg.sh)
# with the Materialize emulator, N = 10 … 10 000 clusters, dry-run and apply
# with no changes, on loopback and with 20 ms per round trip. Prints a
# markdown table. Release build (`cargo bench`).
# First, round trips of apply at work: 1000 actions in one run, statements
# per action and wall time, on loopback and with 20 ms round trips (a
# latency relay, so pipelining counts as on a real network).
#   scripts/bench.sh                      # everything
#   BENCH_SIZES=10,1000 BENCH_RUNS=1 scripts/bench.sh
# Then the operator's read-only commands (status, describe, history, check,
# strategy ls, doctor) at 10, 1000 and 10 000 clusters with a trail.
#   BENCH_PART=actions scripts/bench.sh   # only the 1000 actions (BENCH_ACTIONS=N)
#   BENCH_PART=ops BENCH_OPS=status scripts/bench.sh
#                                         # only the operator's commands (BENCH_OPS_SIZES)
#   BENCH_PART=actions BENCH_BIN=/path/to/older/clusterctl scripts/bench.sh
#                                         # the same figures for another build
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/pg.sh
source "$root/scripts/pg.sh"
trap pg_stop EXIT
pg_start

cargo bench --bench scale "$@"
