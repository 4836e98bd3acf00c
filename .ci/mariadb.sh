#!/usr/bin/env bash
# A throwaway MariaDB server on loopback for the tests.
#   .ci/mariadb.sh init DIR | start DIR PORT | stop DIR
# It runs as the `mysql` user (as root in CI), with a `vpnaas` account (password `vpnaas`)
# that may create databases. Durability is off (no fsync, one tablespace, so that each test's
# fresh schema is quick to make): the server lives for one test run.
set -euo pipefail
cmd=$1 dir=$2 port=${3:-53306}
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || {
  echo "MariaDB is not installed (apt-get install mariadb-server)" >&2; exit 1; }
user=$(id -un)
[ "$(id -u)" = 0 ] && user=mysql
sock="$dir/mysqld.sock"
case $cmd in
  init)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown mysql: "$dir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" \
      --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 ;;
  start)
    /usr/sbin/mariadbd --no-defaults --datadir="$dir/data" --user="$user" --port="$port" \
      --bind-address=127.0.0.1 --socket="$sock" --pid-file="$dir/mysqld.pid" \
      --log-error="$dir/server.log" --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
      --innodb-flush-log-at-trx-commit=0 --innodb-flush-method=nosync --innodb-doublewrite=0 \
      --innodb-file-per-table=0 --max-connections=400 --innodb-buffer-pool-size=128M >/dev/null 2>&1 &
    for _ in $(seq 1 150); do
      mariadb-admin --socket="$sock" -u root ping >/dev/null 2>&1 && break
      sleep 0.2
    done
    mariadb --socket="$sock" -u root -e \
      "CREATE USER IF NOT EXISTS 'vpnaas'@'127.0.0.1' IDENTIFIED BY 'vpnaas';
       GRANT ALL ON *.* TO 'vpnaas'@'127.0.0.1';" ;;
  stop)
    mariadb-admin --socket="$sock" -u root shutdown >/dev/null 2>&1 || true ;;
  *) echo "usage: $0 init DIR | start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
