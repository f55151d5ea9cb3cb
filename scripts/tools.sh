#!/usr/bin/env bash
# Tools the test suite needs besides PostgreSQL (sourced by scripts/test.sh),
# installed with apt-get where missing and allowed (root), as pg.sh does for
# PostgreSQL:
# - libfaketime (Debian's `faketime`): fault tests run the product with a
#   skewed clock; without it they fail with a clear message.
# - promtool (`prometheus`) and systemd-analyze (`systemd`): the recipe
#   checks. When both are there, CLUSTERCTL_REQUIRE_TOOLS=1 makes a missing
#   tool a test failure instead of a skip.

_tools_log() { echo "tools.sh: $*" >&2; }

_have_faketime() {
  local dir
  for dir in /usr/lib/faketime /usr/local/lib/faketime /usr/lib/*/faketime; do
    [[ -e "$dir/libfaketimeMT.so.1" ]] && return 0
  done
  return 1
}

tools_ensure() {
  local missing=()
  _have_faketime || missing+=(faketime)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  if ((${#missing[@]})) && [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    _tools_log "installing ${missing[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      { DEBIAN_FRONTEND=noninteractive apt-get update >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
      _tools_log "could not install ${missing[*]}: those checks will be skipped"
  fi
  if command -v promtool >/dev/null 2>&1 && command -v systemd-analyze >/dev/null 2>&1; then
    export CLUSTERCTL_REQUIRE_TOOLS=1
  else
    _tools_log "promtool or systemd-analyze missing: the recipe checks that need them are skipped (SKIPPED lines)"
  fi
}
