#!/usr/bin/env bash
# The README's five-minute tour, run as written: its one shell block, taken from README.md at
# this commit, in the clone, as root, with the vpnaas on the PATH. It must end with a real
# tunnel ACTIVE and a ping through it (scripts/lab.sh wait and ping fail otherwise). The lab
# and the server are stopped afterwards, whatever happened, and the files the tour leaves in the
# clone (vpnaas-data, vpnaas.log) are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v vpnaas >/dev/null || { echo "tour.sh: vpnaas is not on the PATH" >&2; exit 1; }
for left in vpnaas-data vpnaas.log; do
  [ ! -e "$left" ] || { echo "tour.sh: $left is in the clone already; the tour would use it" >&2; exit 1; }
done
if curl -s -o /dev/null http://127.0.0.1:9696/; then
  echo "tour.sh: something answers on 127.0.0.1:9696 already, where the tour's server listens" >&2
  exit 1
fi

tour=$(python3 - <<'EOF'
import re, sys
text = open("README.md").read()
section = text.split("\n## A five-minute tour", 1)[1].split("\n## ", 1)[0]
blocks = re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)
if len(blocks) != 1:
    sys.exit(f"tour.sh: the tour has {len(blocks)} shell blocks, expected one")
print(blocks[0])
EOF
)
started=$(date +%s)
status=0
bash -euo pipefail -c "trap 'scripts/lab.sh down || true; kill \$(jobs -p) 2>/dev/null || true; wait || true' EXIT
$tour" 2>&1 | tee /tmp/vpnaas-tour.out || status=$?
rm -rf vpnaas-data vpnaas.log
if [ "$status" != 0 ]; then
  echo "tour.sh: the README's tour failed (exit $status)" >&2
  exit "$status"
fi
grep -q "^lab: connection .*: ACTIVE" /tmp/vpnaas-tour.out || { echo "tour.sh: no ACTIVE in the tour's output" >&2; exit 1; }
grep -q " 0% packet loss" /tmp/vpnaas-tour.out || { echo "tour.sh: the ping lost packets" >&2; exit 1; }
echo "tour: the README's tour ended ACTIVE and pinged in $(( $(date +%s) - started )) s"
