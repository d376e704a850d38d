#!/usr/bin/env bash
# A throwaway PostgreSQL server for the course's gradebook, for tests and local use.
#
#   bash scripts/pg_server.sh start   [DATADIR [PORT]]  # prints the gradebook URL
#   bash scripts/pg_server.sh url     [DATADIR]         # the URL of a started server
#   bash scripts/pg_server.sh status  [DATADIR]
#   bash scripts/pg_server.sh stop    [DATADIR]
#   bash scripts/pg_server.sh destroy [DATADIR]         # stop, then delete its data
#   bash scripts/pg_server.sh install                   # apt-get install postgresql
#
# DATADIR defaults to $MI_PGDATA, else .pgdata/ in the repository (git ignores it);
# PORT to $MI_PGPORT, else 54329. The server (Debian's `postgresql` package: its
# initdb and pg_ctl) listens on 127.0.0.1 only, with its unix socket in DATADIR,
# and trusts every local connection: it is for one machine's tests and grading,
# not a server to share. One database, `gradebook`, owned by the role `gradebook`:
#
#   export MI_GRADEBOOK_URL=$(bash scripts/pg_server.sh start)
#   # -> postgresql+psycopg://gradebook@127.0.0.1:54329/gradebook
#
# nbgrader_config.py reads MI_GRADEBOOK_URL. PostgreSQL refuses to run as root:
# run as root (as CI does), the script runs the server as the `postgres` user
# that the Debian package creates; where that user cannot reach DATADIR (a
# repository under /root), the data go to /tmp/mi-pgdata-<hash> and DATADIR
# becomes a link to it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMMAND="${1:-}"
DATA="${2:-${MI_PGDATA:-$ROOT/.pgdata}}"
PORT="${3:-${MI_PGPORT:-54329}}"
ROLE=gradebook
DB=gradebook

die() {
  echo "pg_server.sh: $*" >&2
  exit 1
}

installed() {
  [ -n "${MI_PG_BIN:-}" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

install() {
  if installed; then
    echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    return
  fi
  command -v apt-get >/dev/null || die "no apt-get: install PostgreSQL by hand"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  installed || die "apt-get did not install initdb"
  echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
}

pg_bin() {
  if [ -n "${MI_PG_BIN:-}" ]; then
    echo "$MI_PG_BIN"
    return
  fi
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -x "$bin/initdb" ] || die "PostgreSQL is not installed: run
  apt-get install -y postgresql
(or set MI_PG_BIN to the folder of initdb and pg_ctl)"
  echo "$bin"
}

# Run a PostgreSQL program as the server's owner: `postgres` when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 ||
      die "PostgreSQL refuses to run as root and there is no 'postgres' user:
run apt-get install -y postgresql (it creates the user)"
    if command -v runuser >/dev/null; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

# The folder holding the data: DATADIR itself, or what its link points to.
data_dir() {
  if [ -L "$DATA" ]; then
    readlink -f "$DATA"
  else
    echo "$DATA"
  fi
}

prepare_data_dir() {
  if [ -L "$DATA" ] || [ -f "$DATA/PG_VERSION" ]; then
    return
  fi
  mkdir -p "$DATA"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$DATA"
    chmod 700 "$DATA"
    if ! as_owner test -w "$DATA" 2>/dev/null; then
      # The postgres user cannot traverse a parent folder: keep the data in /tmp.
      local tmp
      tmp="/tmp/mi-pgdata-$(printf '%s' "$(cd "$DATA" && pwd)" | md5sum | cut -c1-12)"
      rmdir "$DATA"
      mkdir -p "$tmp"
      chown postgres:postgres "$tmp"
      chmod 700 "$tmp"
      ln -s "$tmp" "$DATA"
    fi
  fi
}

port_of() {
  local dir
  dir="$(data_dir)"
  [ -f "$dir/mi_port" ] || die "no server was started in $DATA (run: $0 start)"
  cat "$dir/mi_port"
}

url() {
  echo "postgresql+psycopg://$ROLE@127.0.0.1:$(port_of)/$DB"
}

running() {
  local dir
  dir="$(data_dir)"
  [ -f "$dir/PG_VERSION" ] && as_owner "$(pg_bin)/pg_ctl" -D "$dir" status >/dev/null 2>&1
}

start() {
  local bin dir
  bin="$(pg_bin)"
  prepare_data_dir
  dir="$(data_dir)"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir" -U "$ROLE" --auth=trust --encoding=UTF8 \
      --no-locale >"$dir.initdb.log" 2>&1 ||
      die "initdb failed:
$(cat "$dir.initdb.log")"
    rm -f "$dir.initdb.log"
  fi
  if running; then
    url
    return
  fi
  echo "$PORT" | as_owner tee "$dir/mi_port" >/dev/null
  # The unix socket lives in the data folder (a socket path has at most 107 bytes).
  local socket_dir="$dir"
  [ "${#dir}" -lt 90 ] || socket_dir="''"
  if ! as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $socket_dir" start >/dev/null; then
    die "the server did not start (is port $PORT taken? set MI_PGPORT):
$(tail -n 20 "$dir/server.log" 2>/dev/null)"
  fi
  if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U "$ROLE" "$DB"
  fi
  url
}

stop() {
  local dir
  dir="$(data_dir)"
  if running; then
    as_owner "$(pg_bin)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
  fi
}

case "$COMMAND" in
  install) install ;;
  start) start ;;
  url) running || die "no server running in $DATA (run: $0 start)"; url ;;
  status)
    if running; then echo "running: $(url)"; else echo "stopped ($DATA)"; exit 3; fi
    ;;
  stop) stop ;;
  destroy)
    stop
    dir="$(data_dir)"
    rm -rf "$dir"
    [ -L "$DATA" ] && rm -f "$DATA"
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
