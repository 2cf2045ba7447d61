#!/bin/sh
# Seed sweep: `raftwork sim` over a range of seeds, JSON Lines out, summary and exit status 1 if
# any seed had a violation (its replay command is printed). Splits the range across JOBS
# processes (default 1; the simulator is single-threaded, so JOBS = cores is the fast setting).
#
#   scripts/sweep.sh [FROM..TO] [TIME] [NODES]        defaults: 1..1000 300s 5
#   JOBS=2 OUT=sweep.jsonl scripts/sweep.sh 1..500 300s 5
set -eu
cd "$(dirname "$0")/.."

range=${1:-1..1000}
time=${2:-300s}
nodes=${3:-5}
jobs=${JOBS:-1}
out=${OUT:-sweep.jsonl}

case $range in
  *..*) from=${range%..*} to=${range#*..} ;;
  *) echo "usage: scripts/sweep.sh [FROM..TO] [TIME] [NODES]" >&2; exit 2 ;;
esac

if [ -f dist/cli/main.js ]; then set -- node dist/cli/main.js; else set -- node --import tsx src/cli/main.ts; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
count=$((to - from + 1))
per=$(((count + jobs - 1) / jobs))
pids=""
i=0
start=$from
while [ "$start" -le "$to" ]; do
  end=$((start + per - 1))
  [ "$end" -gt "$to" ] && end=$to
  "$@" sim --seeds "$start..$end" --nodes "$nodes" --time "$time" --json >"$tmp/part-$i" 2>"$tmp/err-$i" &
  pids="$pids $!"
  i=$((i + 1))
  start=$((end + 1))
done
status=0
for pid in $pids; do wait "$pid" || status=1; done

: >"$out"
j=0
while [ "$j" -lt "$i" ]; do
  cat "$tmp/part-$j" >>"$out"
  grep -v '^raftwork: violations' "$tmp/err-$j" >&2 || true
  j=$((j + 1))
done

node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean);
const runs = lines.map((l) => JSON.parse(l));
const bad = runs.filter((r) => r.violations.length > 0);
const sum = (k) => runs.reduce((a, r) => a + r[k], 0);
console.log(`${runs.length} seeds, ${bad.length} with violations; ${sum("commits")} commits, ` +
  `${sum("leaderChanges")} leader changes, ${(sum("simulatedMs") / 1000).toFixed(0)} simulated s`);
for (const r of bad)
  console.log(`seed ${r.seed}: ${r.violations[0].invariant}: ${r.violations[0].message}\n` +
    `  replay: raftwork sim --seed ${r.seed} --nodes ${r.nodes} --time ${process.argv[2]} --trace trace.jsonl`);
' "$out" "$time"
exit $status
