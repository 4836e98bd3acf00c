#!/usr/bin/env bash
# A throwaway three-node MariaDB Galera cluster on loopback for the tests (ADR 0030).
#   .ci/galera.sh start DIR BASEPORT | stop DIR
# Node i (0, 1, 2) answers SQL on BASEPORT+i and talks Galera on BASEPORT+10+i (group
# communication), BASEPORT+20+i (incremental state transfer) and BASEPORT+30+i (rsync state
# transfer). Node 0 bootstraps the cluster; 1 and 2 join it and copy its data. Each node has a
# `vpnaas` account (password `vpnaas`) that may create databases. No fsync: a test cluster.
set -euo pipefail
cmd=$1 dir=$2 base=${3:-54300}
user=$(id -un)
[ "$(id -u)" = 0 ] && user=mysql
cluster="gcomm://127.0.0.1:$((base + 10)),127.0.0.1:$((base + 11)),127.0.0.1:$((base + 12))"

node() {
  local i=$1; shift
  local d="$dir/n$i"
  /usr/sbin/mariadbd --no-defaults --datadir="$d/data" --user="$user" --port=$((base + i)) \
    --bind-address=127.0.0.1 --socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" \
    --log-error="$d/server.log" --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
    --innodb-flush-log-at-trx-commit=0 --innodb-flush-method=nosync --innodb-doublewrite=0 \
    --max-connections=400 --innodb-buffer-pool-size=64M \
    --binlog-format=ROW --innodb-autoinc-lock-mode=2 --wsrep-on=ON \
    --wsrep-provider=/usr/lib/galera/libgalera_smm.so --wsrep-cluster-name=vpnaas-ci \
    --wsrep-cluster-address="$cluster" --wsrep-node-name="n$i" --wsrep-node-address=127.0.0.1 \
    --wsrep-provider-options="base_port=$((base + 10 + i));gmcast.listen_addr=tcp://127.0.0.1:$((base + 10 + i));ist.recv_addr=127.0.0.1:$((base + 20 + i))" \
    --wsrep-sst-method=rsync --wsrep-sst-receive-address=127.0.0.1:$((base + 30 + i)) \
    "$@" >/dev/null 2>&1 &
}

synced() {
  mariadb --socket="$dir/n$1/mysqld.sock" -u root -N -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null |
    grep -q Synced
}

wait_synced() {
  for _ in $(seq 1 300); do
    synced "$1" && return 0
    sleep 0.2
  done
  echo "galera node $1 did not sync; its log:" >&2
  tail -n 40 "$dir/n$1/server.log" >&2
  return 1
}

case $cmd in
  start)
    for i in 0 1 2; do
      mkdir -p "$dir/n$i/data"
      [ "$(id -u)" = 0 ] && chown -R mysql: "$dir/n$i"
    done
    mariadb-install-db --no-defaults --datadir="$dir/n0/data" --user="$user" \
      --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1
    node 0 --wsrep-new-cluster
    wait_synced 0
    mariadb --socket="$dir/n0/mysqld.sock" -u root -e \
      "CREATE USER IF NOT EXISTS 'vpnaas'@'127.0.0.1' IDENTIFIED BY 'vpnaas';
       GRANT ALL ON *.* TO 'vpnaas'@'127.0.0.1';"
    node 1
    wait_synced 1
    node 2
    wait_synced 2 ;;
  stop)
    for i in 2 1 0; do
      mariadb-admin --socket="$dir/n$i/mysqld.sock" -u root shutdown >/dev/null 2>&1 || true
    done ;;
  *) echo "usage: $0 start DIR BASEPORT | stop DIR" >&2; exit 2 ;;
esac
