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

# libfaketime (Debian package `faketime`): the fault tests run the product with
# a skewed clock. Installed with apt-get where missing, as pg.sh does for
# PostgreSQL; a machine without it fails those tests with a clear message.
ensure_faketime() {
  local dir
  for dir in /usr/lib/faketime /usr/local/lib/faketime /usr/lib/*/faketime; do
    [[ -e "$dir/libfaketimeMT.so.1" ]] && return 0
  done
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: libfaketime not found; install the 'faketime' package" >&2
    return 0
  fi
  echo "test.sh: libfaketime not found: installing the faketime package with apt-get" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends faketime ||
    { DEBIAN_FRONTEND=noninteractive apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends faketime; }; } >&2 ||
    echo "test.sh: could not install faketime" >&2
}
ensure_faketime

trap pg_stop EXIT
pg_start
tools_ensure

# Lint failures fail the run, but the tests still run so their output is seen.
lint=0
echo "==> cargo fmt --check"
cargo fmt --all --check || lint=$?

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings || lint=$?

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
