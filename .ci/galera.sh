#!/usr/bin/env bash
# A throwaway three-node MariaDB Galera cluster on loopback for the tests (ADR 0030).
#   .ci/galera.sh start DIR BASEPORT | stop DIR
#   .ci/galera.sh kill DIR I            SIGKILL node I
#   .ci/galera.sh rejoin DIR BASEPORT I start node I again from its own data (IST)
# Node i (0, 1, 2) answers SQL on BASEPORT+i and talks Galera on BASEPORT+10+i (group
# communication), BASEPORT+20+i (incremental state transfer) and BASEPORT+30+i (rsync state
# transfer). Node 0 bootstraps the cluster; 1 and 2 join it and copy its data. Each node has a
# `vpnaas` account (password `vpnaas`) that may create databases, and a `replica` account
# (password `replica`) with only the operations guide's grant, on the tests' databases. No fsync.
# An HAProxy on BASEPORT+40 sends every client to node 0 and keeps 1 and 2 as backups, the
# shape kolla-ansible deploys (ADR 0031); it checks the nodes as its `haproxy` account.
set -euo pipefail
cmd=$1 dir=$2 base=${3:-54300}
user=$(id -un)
[ "$(id -u)" = 0 ] && user=mysql
cluster="gcomm://127.0.0.1:$((base + 10)),127.0.0.1:$((base + 11)),127.0.0.1:$((base + 12))"

# Node i's server, in the foreground, with any further options.
mariadbd_of() {
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
    "$@"
}

node() {
  mariadbd_of "$@" >/dev/null 2>&1 &
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

# A node's position in the cluster's history, recovered from its own data after a crash, so
# that it asks the others for the transactions it missed (IST) rather than a whole copy.
recovered() {
  local d="$dir/n$1"
  rm -f "$d/recover.log"
  mariadbd_of "$1" --wsrep-recover --log-error="$d/recover.log" >/dev/null 2>&1
  grep -o 'Recovered position: [^ ]*' "$d/recover.log" | tail -n 1 | cut -d' ' -f3
}

# HAProxy checks every 500 ms (kolla: 2 s, which the operations guide shows) only so that the
# fault rehearsals see a failover within a second or two; nothing of vpnaas is changed for them.
haproxy_conf() {
  cat <<CONF
global
  maxconn 2000
defaults
  mode tcp
  timeout connect 2s
  timeout client 3600s
  timeout server 3600s
listen mariadb
  bind 127.0.0.1:$((base + 40))
  option tcpka
  option mysql-check user haproxy post-41
  server n0 127.0.0.1:$base check inter 500 rise 2 fall 2 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
  server n1 127.0.0.1:$((base + 1)) check inter 500 rise 2 fall 2 backup on-marked-down shutdown-sessions
  server n2 127.0.0.1:$((base + 2)) check inter 500 rise 2 fall 2 backup on-marked-down shutdown-sessions
CONF
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
       GRANT ALL ON *.* TO 'vpnaas'@'127.0.0.1';
       CREATE USER IF NOT EXISTS 'replica'@'127.0.0.1' IDENTIFIED BY 'replica';
       GRANT ALL PRIVILEGES ON \`vpnaas\\_test\\_%\`.* TO 'replica'@'127.0.0.1';
       CREATE USER IF NOT EXISTS 'haproxy'@'127.0.0.1';"
    node 1
    wait_synced 1
    node 2
    wait_synced 2
    haproxy_conf >"$dir/haproxy.cfg"
    haproxy -D -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid" ;;
  kill)
    i=$3
    kill -9 "$(cat "$dir/n$i/mysqld.pid")" ;;
  rejoin)
    i=$4
    position=$(recovered "$i")
    [ -n "$position" ] || { echo "galera node $i: no position recovered" >&2; tail -n 20 "$dir/n$i/recover.log" >&2; exit 1; }
    node "$i" --wsrep-start-position="$position"
    # Once more if its start fails: the joiner's rsync daemon, started in case a whole copy is
    # needed, now and then dies at once, and the node stops with it.
    wait_synced "$i" || { node "$i" --wsrep-start-position="$position"; wait_synced "$i"; } ;;
  stop)
    [ -e "$dir/haproxy.pid" ] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true
    for i in 2 1 0; do
      mariadb-admin --socket="$dir/n$i/mysqld.sock" -u root shutdown >/dev/null 2>&1 || true
    done ;;
  *) echo "usage: $0 start DIR BASEPORT | stop DIR | kill DIR I | rejoin DIR BASEPORT I" >&2; exit 2 ;;
esac
