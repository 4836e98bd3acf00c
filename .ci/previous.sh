#!/usr/bin/env bash
# The previous release's `vpnaas` binary, for the rolling-upgrade test (ADR 0033): built once
# from the newest release tag before HEAD (`git describe` of HEAD's parent, so that a tagged
# HEAD upgrades from the release before it), cached under the CI cache root, and its path
# printed on stdout (progress on stderr).
#   .ci/previous.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=.ci/lib.sh
. "$here/lib.sh"
cd "$here/.."
tag=$(git describe --tags --abbrev=0 --match 'v*' 'HEAD^')
dir="$(cache_root)/previous/$tag"
binary="$dir/vpnaas"
if [ ! -x "$binary" ]; then
  started=$(now)
  src="$dir/src"
  rm -rf "$src" && mkdir -p "$src"
  git archive "$tag" | tar -x -C "$src"
  echo "previous.sh: building vpnaas $tag (once; cached in $dir)" >&2
  cargo build --locked -q -p vpnaas --manifest-path "$src/Cargo.toml" --target-dir "$dir/target" >&2
  cp "$dir/target/debug/vpnaas" "$binary.tmp" && mv "$binary.tmp" "$binary"
  rm -rf "$src"
  echo "previous.sh: built in $(since "$started") s" >&2
fi
echo "$binary"
