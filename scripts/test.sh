#!/usr/bin/env bash
# The one command that runs the whole suite on a fresh machine:
# a throwaway PostgreSQL (scripts/pg.sh), then fmt, clippy and every test.
# Extra arguments are passed to `cargo test` (e.g. `scripts/test.sh --test it selftest`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/pg.sh
source "$root/scripts/pg.sh"
# shellcheck source=scripts/tools.sh
source "$root/scripts/tools.sh"
trap pg_stop EXIT
pg_start
tools_ensure

# Lint failures fail the run, but the tests still run so their output is seen.
lint=0
echo "==> cargo fmt --check"
cargo fmt --all --check || lint=$?

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings || lint=$?

# Four test threads on two cores: most integration tests wait (on the
# product's processes, PostgreSQL, a lease's TTL), so two threads left the
# cores idle (tests/it: 201 s with 2, 121 s with 4 on a 2-core machine).
# RUST_TEST_THREADS or `-- --test-threads N` still decide.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"

echo "==> cargo test --all-targets $*"
status=0
cargo test --all-targets "$@" || status=$?

if [[ $status -ne 0 ]]; then
  exit "$status"
fi
if [[ $lint -ne 0 ]]; then
  echo "==> tests passed, but cargo fmt --check or cargo clippy failed (see above)" >&2
  exit "$lint"
fi
