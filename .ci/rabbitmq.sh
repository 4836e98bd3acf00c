#!/usr/bin/env bash
# A throwaway RabbitMQ node on loopback for the notification tests (ADR 0043), from Debian's
# rabbitmq-server package (installed when missing; its packaged service is left alone).
#   .ci/rabbitmq.sh start DIR PORT   a node listening on 127.0.0.1:PORT, its data under DIR
#                                    (guest/guest, vhost /); again after a stop, on the same data
#   .ci/rabbitmq.sh stop DIR         stops it (its messages in durable queues stay in DIR)
#   .ci/rabbitmq.sh kill DIR         SIGKILLs it
# DIR/env holds what the tests need: VPNAAS_TEST_RABBITMQ (a transport_url) and the node name.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=.ci/lib.sh
. "$here/lib.sh"
bin=/usr/lib/rabbitmq/bin
cmd=${1:?usage: rabbitmq.sh start DIR PORT | stop DIR | kill DIR}
dir=${2:?a directory}

node_env() {
  local port=$1
  export HOME="$dir" RABBITMQ_NODENAME="vpnaas$port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$port" RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_CONFIG_FILE="$dir/rabbitmq" \
    RABBITMQ_PID_FILE="$dir/pid" RABBITMQ_DIST_PORT="$(cat "$dir/dist_port")" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

case "$cmd" in
start)
  port=${3:?a port}
  if [ ! -x "$bin/rabbitmq-server" ]; then
    [ "$(id -u)" = 0 ] || { echo "rabbitmq.sh: installing rabbitmq-server needs root" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
  fi
  mkdir -p "$dir/log" "$dir/mnesia"
  [ -s "$dir/dist_port" ] || free_port >"$dir/dist_port"
  echo "[]." >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$port
loopback_users = none
default_user = guest
default_pass = guest
EOF
  node_env "$port"
  echo "$port" >"$dir/port"
  setsid "$bin/rabbitmq-server" >"$dir/log/stdout" 2>&1 </dev/null &
  # await_startup waits for the node's boot; it fails at once while the node is not up yet.
  for _ in $(seq 120); do
    if "$bin/rabbitmqctl" -n "$RABBITMQ_NODENAME" await_startup --timeout 60 >/dev/null 2>&1; then
      printf 'export VPNAAS_TEST_RABBITMQ=rabbit://guest:guest@127.0.0.1:%s/\nexport VPNAAS_TEST_RABBITMQ_DIR=%s\n' \
        "$port" "$dir" >"$dir/env"
      echo "rabbitmq.sh: node $RABBITMQ_NODENAME on 127.0.0.1:$port"
      exit 0
    fi
    sleep 0.5
  done
  echo "rabbitmq.sh: the node did not start:" >&2
  tail -n 30 "$dir/log/stdout" >&2
  exit 1
  ;;
stop)
  [ -s "$dir/port" ] || exit 0
  node_env "$(cat "$dir/port")"
  "$bin/rabbitmqctl" -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || true
  ;;
kill)
  [ -s "$dir/pid" ] && kill -KILL "$(cat "$dir/pid")" 2>/dev/null || true
  ;;
*)
  echo "usage: rabbitmq.sh start DIR PORT | stop DIR | kill DIR" >&2
  exit 2
  ;;
esac
