#!/usr/bin/env bash
# A throwaway RabbitMQ node on loopback for the notification tests (ADR 0043), from Debian's
# rabbitmq-server package (installed when missing; its packaged service is left alone).
#   .ci/rabbitmq.sh start DIR PORT   a node listening on 127.0.0.1:PORT, and with TLS on PORT+1
#                                    (a throwaway CA in DIR/tls; it demands a client certificate,
#                                    DIR/tls/client.pem), its data under DIR
#                                    (guest/guest, vhost /); again after a stop, on the same data
#   .ci/rabbitmq.sh stop DIR         stops it (its messages in durable queues stay in DIR)
#   .ci/rabbitmq.sh kill DIR         SIGKILLs it
# DIR/env holds what the tests need: VPNAAS_TEST_RABBITMQ and VPNAAS_TEST_RABBITMQ_TLS
# (transport_urls) and the directory.
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
  # openssl makes the throwaway CA here and the tests' certificates.
  if [ ! -x "$bin/rabbitmq-server" ] || ! command -v openssl >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "rabbitmq.sh: installing rabbitmq-server needs root" >&2; exit 1; }
    # The package's own service must not start: it would listen on every address. A
    # policy-rc.d that denies starts, for the install only, unless the machine has one.
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server openssl >/dev/null
    [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  fi
  mkdir -p "$dir/log" "$dir/mnesia"
  [ -s "$dir/dist_port" ] || free_port >"$dir/dist_port"
  echo "[]." >"$dir/enabled_plugins"
  if [ ! -s "$dir/tls/server.pem" ]; then
    mkdir -p "$dir/tls"
    (
      cd "$dir/tls"
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=vpnaas test broker CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
        -extfile ext 2>/dev/null
      chmod 644 server.key
    )
  fi
  if [ ! -s "$dir/tls/client.pem" ]; then
    (
      # The client certificate the TLS listener demands (fail_if_no_peer_cert).
      cd "$dir/tls"
      openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=vpnaas notifier" 2>/dev/null
      printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client-ext
      openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 \
        -extfile client-ext 2>/dev/null
    )
  fi
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$port
listeners.ssl.1 = 127.0.0.1:$((port + 1))
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
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
      printf 'export VPNAAS_TEST_RABBITMQ_TLS="rabbit://guest:guest@127.0.0.1:%s/?ssl=1&ssl_ca_file=%s&ssl_cert_file=%s&ssl_key_file=%s"\n' \
        "$((port + 1))" "$dir/tls/ca.pem" "$dir/tls/client.pem" "$dir/tls/client.key" >>"$dir/env"
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
