#!/usr/bin/env bash
# A/B of `mr run --workers 2` between two builds, alternating in one run (not part of npm test).
# Usage: bench/mr-ab.sh DIST_A DIST_B   (env: DATA as in mr-wc.sh, which builds the input;
# ROUNDS=5). Each DIST is a copy of dist/ inside a directory that also holds package.json and
# a node_modules link, e.g. cp -r dist /tmp/ab/a/dist; ln -s $PWD/node_modules /tmp/ab/a/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${DATA:-${TMPDIR:-/tmp}/raftwork-mr-bench}"
rounds="${ROUNDS:-5}"
files=("$data"/in/part-*.txt)
for round in $(seq 1 "$rounds"); do
  for d in "$1" "$2"; do
    /usr/bin/time -f "%e %U %S" -o "$data/ab-time.txt" node "$d/cli/main.js" mr run \
      --app "$root/examples/wc.ts" --workers 2 --reduce 4 --out "$data/out-ab" --overwrite \
      "${files[@]}" >/dev/null
    read -r wall user sys < "$data/ab-time.txt"
    echo "round $round $d wall $wall cpu $(awk "BEGIN{print $user+$sys}") load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
