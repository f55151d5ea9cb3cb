#!/usr/bin/env bash
# Throwaway PostgreSQL server for the integration tests (the Materialize
# emulator in tests/it/support runs on top of it).
#
# Two ways to use it:
#   source scripts/pg.sh && pg_start && trap pg_stop EXIT   # what scripts/test.sh does
#   eval "$(scripts/pg.sh start)"      # prints `export ...` lines, server keeps running
#   scripts/pg.sh stop [DIR]           # DIR defaults to $CLUSTERCTL_TEST_PG_DIR
#
# pg_start exports:
#   CLUSTERCTL_TEST_PG_URL    postgres://postgres:<pw>@127.0.0.1:<port>/postgres
#   CLUSTERCTL_TEST_CA        CA that signed the server certificate (CN/SAN localhost, 127.0.0.1)
#   CLUSTERCTL_TEST_WRONG_CA  an unrelated CA, for "wrong CA" tests
#   CLUSTERCTL_TEST_PG_DIR    the temp dir holding everything (removed by pg_stop)
#
# The server is disposable: fsync off, listens on 127.0.0.1 only, password
# (scram-sha-256) auth over TCP, TLS available but not required.

_pg_log() { echo "pg.sh: $*" >&2; }

# Finds the directory holding initdb/pg_ctl/postgres, installing PostgreSQL
# from the distribution when none is found and we are allowed to.
_pg_find_bindir() {
  local candidate
  if [[ -n "${PG_BINDIR:-}" && -x "${PG_BINDIR}/initdb" ]]; then
    echo "$PG_BINDIR"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    candidate="$(pg_config --bindir 2>/dev/null || true)"
    if [[ -n "$candidate" && -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
      echo "$candidate"
      return 0
    fi
  fi
  # Newest version first.
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -Vr); do
    if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

_pg_install() {
  if [[ "$(id -u)" -ne 0 ]]; then
    _pg_log "PostgreSQL server binaries (initdb, pg_ctl) not found and not running as root;"
    _pg_log "install PostgreSQL (e.g. 'sudo apt-get install -y postgresql') or set PG_BINDIR."
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    _pg_log "PostgreSQL server binaries not found and apt-get is unavailable; install PostgreSQL or set PG_BINDIR."
    return 1
  fi
  _pg_log "PostgreSQL not found: installing it with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql openssl >&2
}

# Prints a free TCP port on 127.0.0.1.
_pg_free_port() {
  local port
  if command -v python3 >/dev/null 2>&1; then
    port="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null || true)"
    if [[ -n "$port" ]]; then
      echo "$port"
      return 0
    fi
  fi
  for ((port = 20000 + RANDOM % 20000; port < 65000; port++)); do
    if command -v ss >/dev/null 2>&1; then
      if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
        echo "$port"
        return 0
      fi
    elif ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# Prints the OS user the server runs as (initdb/postgres refuse root).
_pg_server_user() {
  if [[ "$(id -u)" -ne 0 ]]; then
    id -un
    return 0
  fi
  if id postgres >/dev/null 2>&1; then
    echo postgres
    return 0
  fi
  if ! id clusterctl-test >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin clusterctl-test >&2 || return 1
  fi
  echo clusterctl-test
}

# Runs a command as the server user.
_pg_as() {
  if [[ "$(id -u)" -ne 0 ]]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$_PG_USER" -- "$@"
  else
    local quoted
    quoted="$(printf '%q ' "$@")"
    su -s /bin/sh "$_PG_USER" -c "$quoted"
  fi
}

# Creates ca.pem (signs server.crt), server.crt/server.key for localhost and
# 127.0.0.1, and wrong-ca.pem (an unrelated CA).
_pg_make_certs() {
  local dir="$1"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -days 3 -subj "/CN=clusterctl test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null || return 1
  openssl req -x509 "${ec[@]}" -days 3 -subj "/CN=clusterctl wrong CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/wrong-ca.key" -out "$dir/wrong-ca.pem" 2>/dev/null || return 1
  openssl req -new "${ec[@]}" -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null || return 1
  cat >"$dir/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EOF
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null || return 1
  chmod 0600 "$dir/server.key"
}

_pg_start_inner() {
  local bindir dir port password
  if ! bindir="$(_pg_find_bindir)"; then
    _pg_install || return 1
    bindir="$(_pg_find_bindir)" || {
      _pg_log "PostgreSQL still not found after installing it"
      return 1
    }
  fi
  command -v openssl >/dev/null 2>&1 || _pg_install || return 1
  _PG_USER="$(_pg_server_user)" || return 1
  _PG_BINDIR="$bindir"

  dir="$(mktemp -d "${TMPDIR:-/tmp}/clusterctl-pg.XXXXXX")" || return 1
  chmod 0755 "$dir"
  export CLUSTERCTL_TEST_PG_DIR="$dir"
  password="$(openssl rand -hex 24)"
  printf '%s\n' "$password" >"$dir/pwfile"
  _pg_make_certs "$dir" || {
    _pg_log "could not generate TLS certificates with openssl"
    return 1
  }
  chmod 0644 "$dir"/*.pem "$dir/server.crt"
  if [[ "$(id -u)" -eq 0 ]]; then
    chown "$_PG_USER" "$dir" "$dir/pwfile" "$dir/server.key" "$dir/server.crt"
  fi

  _pg_as "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || _pg_as "$bindir/initdb" -D "$dir/data" -U postgres \
    --pwfile="$dir/pwfile" --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C \
    >"$dir/initdb.log" 2>&1 || {
    _pg_log "initdb failed:"
    cat "$dir/initdb.log" >&2
    return 1
  }

  port="$(_pg_free_port)" || {
    _pg_log "no free port found"
    return 1
  }
  cat >>"$dir/data/postgresql.conf" <<EOF

# --- clusterctl test settings ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
log_min_messages = warning
timezone = 'UTC'
EOF
  if ! _pg_as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
    _pg_log "PostgreSQL failed to start; server log:"
    cat "$dir/server.log" >&2
    return 1
  fi
  local i
  for ((i = 0; i < 100; i++)); do
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done

  export CLUSTERCTL_TEST_PG_URL="postgres://postgres:${password}@127.0.0.1:${port}/postgres"
  export CLUSTERCTL_TEST_CA="$dir/ca.pem"
  export CLUSTERCTL_TEST_WRONG_CA="$dir/wrong-ca.pem"
  printf '%s\n' "$bindir" >"$dir/bindir"
  printf '%s\n' "$_PG_USER" >"$dir/user"
  _pg_log "$("$bindir/postgres" --version) on 127.0.0.1:$port (data in $dir)"
}

# Starts the server and exports the variables above; cleans up after itself on failure.
pg_start() {
  local rc=0
  _pg_start_inner || rc=$?
  if [[ $rc -ne 0 ]]; then
    pg_stop
    return "$rc"
  fi
}

pg_stop() {
  local dir="${1:-${CLUSTERCTL_TEST_PG_DIR:-}}"
  [[ -n "$dir" && -d "$dir" ]] || return 0
  local bindir user
  bindir="$(cat "$dir/bindir" 2>/dev/null || true)"
  user="$(cat "$dir/user" 2>/dev/null || true)"
  if [[ -n "$bindir" && -f "$dir/data/postmaster.pid" ]]; then
    _PG_USER="${user:-$(id -un)}" _pg_as "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  if [[ "${CLUSTERCTL_TEST_PG_DIR:-}" == "$dir" ]]; then
    unset CLUSTERCTL_TEST_PG_DIR CLUSTERCTL_TEST_PG_URL CLUSTERCTL_TEST_CA CLUSTERCTL_TEST_WRONG_CA
  fi
}

# Executed rather than sourced.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      pg_start
      printf 'export CLUSTERCTL_TEST_PG_DIR=%q\n' "$CLUSTERCTL_TEST_PG_DIR"
      printf 'export CLUSTERCTL_TEST_PG_URL=%q\n' "$CLUSTERCTL_TEST_PG_URL"
      printf 'export CLUSTERCTL_TEST_CA=%q\n' "$CLUSTERCTL_TEST_CA"
      printf 'export CLUSTERCTL_TEST_WRONG_CA=%q\n' "$CLUSTERCTL_TEST_WRONG_CA"
      ;;
    stop)
      pg_stop "${2:-}"
      ;;
    *)
      echo "usage: $0 start | stop [DIR]   (or: source $0; pg_start; trap pg_stop EXIT)" >&2
      exit 2
      ;;
  esac
fi
