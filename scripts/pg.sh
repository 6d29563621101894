#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests, on 127.0.0.1 only.
#   scripts/pg.sh start DIR   → prints the admin URL (postgresql://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg.sh stop DIR    → stops it and removes DIR
# PG_EXTRA_CONF (optional, empty by default) adds server options to the start, e.g.
#   PG_EXTRA_CONF='-c shared_preload_libraries=pg_stat_statements' (bench/run.py uses it
#   for its own cluster; the tests' cluster runs without it).
set -euo pipefail
cmd=${1:?start|restart|stop}; dir=${2:?DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$bin/initdb" ]] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2; exit 1; }
# From / : the postgres user may not enter the caller's folder (a clone in /root).
as_pg() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$bin/initdb" -D "$dir/data" --auth=trust -U postgres -E UTF8 >"$dir/initdb.log" 2>&1
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=300 -c shared_buffers=128MB -c wal_level=logical -c max_wal_senders=20 -c max_replication_slots=20${PG_EXTRA_CONF:+ $PG_EXTRA_CONF}" \
      start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  restart)
    # A real server restart (fast shutdown: sessions are cut, then the server comes back
    # on the same port with the same options).
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
    ;;
  stop)
    [[ -d "$dir/data" ]] && as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|restart|stop DIR" >&2; exit 2 ;;
esac
