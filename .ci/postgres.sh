#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests.
#   .ci/postgres.sh init DIR | start DIR PORT | stop DIR
# As root (CI) it runs the server as the `postgres` user, as PostgreSQL requires.
# fsync is off: the cluster lives for one test run; durability is tested on SQLite.
set -euo pipefail
cmd=$1 dir=$2 port=${3:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
  init)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_pg "$bin/initdb" -D "$dir" --locale=C -E UTF8 -A trust -U postgres >/dev/null ;;
  start)
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null ;;
  *) echo "usage: $0 init DIR | start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
