#!/usr/bin/env bash
# Scale benchmark (benches/scale.rs): a throwaway PostgreSQL (scripts/pg.sh)
# with the Materialize emulator, N = 10 … 10 000 clusters, dry-run and apply
# with no changes, on loopback and with 20 ms per round trip. Prints a
# markdown table. Release build (`cargo bench`).
#   scripts/bench.sh                      # everything
#   BENCH_SIZES=10,1000 BENCH_RUNS=1 scripts/bench.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/pg.sh
source "$root/scripts/pg.sh"
trap pg_stop EXIT
pg_start

cargo bench --bench scale "$@"
