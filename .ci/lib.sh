# shellcheck shell=bash
# Pieces the CI scripts share. Sourced, never run: each script sources it by a path relative
# to its own location, e.g. in .ci/:   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It only defines functions. PYTHON (default python3) is the interpreter they use, as in the
# scripts that source it.

# cache_root: where CI keeps what it may reuse between runs (virtualenvs, cargo's target):
# $VPNAAS_CI_CACHE, else $XDG_CACHE_HOME/vpnaas-ci, else ~/.cache/vpnaas-ci.
cache_root() { echo "${VPNAAS_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-ci}"; }

# free_port: a TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick). Another
# process may take it before the caller binds it (an outgoing connection's ephemeral port, on a
# machine busy with them): where a program can bind port 0 and say which port it got, prefer that.
free_port() {
  "${PYTHON:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# free_port_block COUNT: the first of COUNT consecutive free ports on 127.0.0.1, below the
# kernel's ephemeral range (ip_local_port_range), where no outgoing connection takes one while a
# server that needs the whole block starts (a Galera cluster: its SQL, group, IST and SST ports).
free_port_block() {
  "${PYTHON:-python3}" - "$1" <<'EOF'
import random, socket, sys
count = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
for _ in range(500):
    base = random.randrange(10000, low - count)
    taken = False
    for port in range(base, base + count):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            taken = True
        finally:
            s.close()
        if taken:
            break
    if not taken:
        print(base)
        sys.exit(0)
sys.exit("no block of %d free ports below %d" % (count, low))
EOF
}

# now, since START: seconds since the epoch; seconds since START, one decimal.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# alive PID: the process exists and is not a zombie waiting to be reaped (no procps needed).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# pid_running FILE: the process whose id FILE holds is alive.
pid_running() { [ -s "$1" ] && alive "$(cat "$1")"; }

# stop_pidfile FILE [SIGNAL]: stops the process whose id FILE holds: SIGNAL (default KILL) to
# its process group (where setsid made it the leader; else to it alone), up to 5 s for it to
# go, then KILL; removes FILE.
stop_pidfile() {
  local file=$1 signal=${2:-KILL} pid
  if pid_running "$file"; then
    pid=$(cat "$file")
    kill "-$signal" -- "-$pid" 2>/dev/null || kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      alive "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# wait_for SECONDS INTERVAL WHAT PID COMMAND...
#   Runs COMMAND until it succeeds: SECONDS/INTERVAL tries, INTERVAL seconds apart (COMMAND's
#   own time comes on top). Gives up early when process PID is gone (an empty PID watches no
#   process). On giving up it says why on stderr, naming WHAT, and returns 1.
wait_for() {
  local seconds=$1 interval=$2 what=$3 pid=$4 tries i
  shift 4
  tries=$(awk -v s="$seconds" -v i="$interval" 'BEGIN { printf "%d", s / i + 0.5 }')
  for ((i = 1; i <= tries; i++)); do
    "$@" && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then
      echo "${0##*/}: $what: gave up: its process ($pid) exited" >&2
      return 1
    fi
    [ "$i" = "$tries" ] || sleep "$interval"
  done
  echo "${0##*/}: $what: gave up after $seconds s ($tries tries, $interval s apart)" >&2
  return 1
}

# url_answers URL [TIMEOUT]: a GET of URL answers 2xx within TIMEOUT seconds (default 5).
url_answers() {
  "${PYTHON:-python3}" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))' \
    "$1" "${2:-5}" 2>/dev/null
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  "${PYTHON:-python3}" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' \
    "$1" 2>/dev/null
}

# listening_url LOG PID: the http://HOST:PORT a vpnaas server started with `--listen ...:0`
# announces in LOG ("listening on ..."), waiting up to 30 s for it while process PID lives;
# prints nothing and returns 1 if it never comes.
listening_url() {
  wait_for 30 0.1 "the address vpnaas announces in $1" "$2" grep -qs 'listening on http://[0-9.:]*' "$1" ||
    return 1
  grep -o 'listening on http://[0-9.:]*' "$1" | head -n1 | sed 's/^listening on //'
}

# vpnaas_binary [PATH]: prints the vpnaas binary's absolute path: PATH, or without it the debug
# build of `cargo build -p vpnaas` in this repository (CARGO_TARGET_DIR honoured; cargo's output
# on stderr). Says why on stderr and returns 1 when the build fails or the file is not executable.
vpnaas_binary() {
  local binary root
  if [ $# -ge 1 ]; then
    binary=$1
  else
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    echo "== cargo build -p vpnaas" >&2
    (cd "$root" && cargo build -q -p vpnaas) >&2 || { echo "cargo build failed" >&2; return 1; }
    binary="${CARGO_TARGET_DIR:-$root/target}/debug/vpnaas"
  fi
  case "$binary" in /*) ;; *) binary="$PWD/$binary" ;; esac
  [ -x "$binary" ] || { echo "no vpnaas binary at $binary" >&2; return 1; }
  echo "$binary"
}

# venv_hash FILE...: what a virtualenv made from these requirement (and settings) files records:
# the sha256 of their contents and the Python version, so that a change of either rebuilds it.
venv_hash() { (cat "$@"; "${PYTHON:-python3}" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1; }

# ensure_venv [--stamp NAME] [--ready PATH] VENV WANT LOG COMMAND...
#   Makes sure the virtualenv VENV exists and was made for WANT (venv_hash's, or any text): it
#   is reused while VENV/PATH (default bin/python) is executable and the file VENV/NAME
#   (default .requirements-hash) holds WANT. Otherwise it is removed and made anew: `python -m
#   venv`, then COMMAND (a pip install into it, or a function that also runs steps after the
#   install), their output in LOG; WANT is written last, so an install that broke or was
#   interrupted is redone. Says on stdout whether it reuses or creates VENV, and the time a
#   build took; when one fails it prints LOG on stderr and returns 1.
ensure_venv() {
  local stamp=.requirements-hash ready=bin/python venv want log started
  while :; do
    case $1 in
      --stamp) stamp=$2; shift 2 ;;
      --ready) ready=$2; shift 2 ;;
      *) break ;;
    esac
  done
  venv=$1 want=$2 log=$3
  shift 3
  if [ -x "$venv/$ready" ] && [ -f "$venv/$stamp" ] && [ "$(cat "$venv/$stamp")" = "$want" ]; then
    echo "reusing $venv"
    return 0
  fi
  started=$(now)
  echo "creating $venv"
  if ! { mkdir -p "$(dirname "$venv")" && rm -rf "$venv" && "${PYTHON:-python3}" -m venv "$venv" && "$@" &&
    echo "$want" >"$venv/$stamp"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "${0##*/}: creating $venv failed" >&2
    return 1
  fi
  echo "virtualenv $venv built in $(since "$started") s"
}
