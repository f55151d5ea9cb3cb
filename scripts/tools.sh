#!/usr/bin/env bash
# Tools the test suite checks recipes with (sourced by scripts/test.sh):
# promtool (Debian's `prometheus`) and systemd-analyze (`systemd`),
# installed with apt-get where missing and allowed (root). When both are
# there, CLUSTERCTL_REQUIRE_TOOLS=1 makes a missing tool a test failure
# instead of a skip.

_tools_log() { echo "tools.sh: $*" >&2; }

tools_ensure() {
  local missing=()
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
