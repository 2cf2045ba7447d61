#!/usr/bin/env bash
# MapReduce word count benchmark (not part of npm test).
#
# Builds ~100 MB of English text from Debian's dict-gcide (the GNU Collaborative International
# Dictionary of English, fetched with `apt-get download`, never committed), cut into 8 files,
# then times, in the same run and in alternation (REPEAT rounds, best wall time kept):
#   raftwork mr seq --app examples/wc.ts
#   raftwork mr run --app examples/wc.ts --workers 1 --reduce 4
#   raftwork mr run --app examples/wc.ts --workers 2 --reduce 4
#   cat FILES | LC_ALL=C tr -cs A-Za-z '\n' | sort | uniq -c
# and reports wall time and peak RSS (/usr/bin/time -v for each command's largest process;
# `mr run` also prints the coordinator's and each worker's own peak).
#
# Usage: bench/mr-wc.sh            (env: DATA=dir, MB=100, REPEAT=3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${DATA:-${TMPDIR:-/tmp}/raftwork-mr-bench}"
mb="${MB:-100}"
repeat="${REPEAT:-3}"
cli="$root/dist/cli/main.js"
app="$root/examples/wc.ts"
mkdir -p "$data"

dict=/usr/share/dictd/gcide.dict.dz
if [ ! -f "$dict" ]; then
  dict="$data/deb/usr/share/dictd/gcide.dict.dz"
  if [ ! -f "$dict" ]; then
    (cd "$data" && apt-get download dict-gcide >/dev/null)
    dpkg-deb -x "$data"/dict-gcide_*.deb "$data/deb"
  fi
fi
if [ ! -f "$data/in/part-7.txt" ] || [ "$(cat "$data/in/.mb" 2>/dev/null)" != "$mb" ]; then
  rm -rf "$data/in" && mkdir -p "$data/in"
  # Repeat the dictionary's text to MB megabytes, cut into 8 files at line boundaries.
  zcat "$dict" | python3 -c '
import sys
data = sys.stdin.buffer.read()
total = int(sys.argv[1]) * 1000 * 1000
buf = (data * (total // len(data) + 1))[:total]
start = 0
for i in range(8):
    end = total if i == 7 else buf.index(b"\n", (i + 1) * total // 8) + 1
    open(f"{sys.argv[2]}/part-{i}.txt", "wb").write(buf[start:end])
    start = end
' "$mb" "$data/in"
  echo "$mb" > "$data/in/.mb"
fi
[ -f "$cli" ] || (cd "$root" && npm run build >/dev/null)
files=("$data"/in/part-*.txt)

# measure NAME COMMAND...: runs it, records "wall_s peak_rss_kib" for the best round.
declare -A best_wall best_rss best_cpu notes
measure() {
  local name="$1"; shift
  local log="$data/time-$name.txt"
  /usr/bin/time -v -o "$log" "$@" > "$data/stdout-$name.txt"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s+=$2} END {print s}' "$log")
  if [ -z "${best_wall[$name]:-}" ] || awk "BEGIN{exit !($wall < ${best_wall[$name]})}"; then
    best_wall[$name]=$wall
    best_rss[$name]=$rss
    best_cpu[$name]=$cpu
    notes[$name]=$(grep -o 'peak RSS.*' "$data/stdout-$name.txt" || true)
  fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$repeat"); do
  echo "round $round/$repeat" >&2
  measure seq node "$cli" mr seq --app "$app" --out "$data/out-seq" --overwrite "${files[@]}"
  measure run1 node "$cli" mr run --app "$app" --workers 1 --reduce 4 --out "$data/out-run1" --overwrite "${files[@]}"
  measure run2 node "$cli" mr run --app "$app" --workers 2 --reduce 4 --out "$data/out-run2" --overwrite "${files[@]}"
  measure coreutils sh -c "cat \"\$@\" | LC_ALL=C tr -cs A-Za-z '\n' | sort | uniq -c > '$data/out-coreutils.txt'" sh "${files[@]}"
done

# The distributed outputs must equal the sequential reference.
for n in run1 run2; do
  if ! diff -q <(cat "$data/out-$n"/mr-out-* | LC_ALL=C sort) <(LC_ALL=C sort "$data/out-seq/mr-out-0") >/dev/null; then
    echo "mr run ($n) output differs from mr seq" >&2
    exit 1
  fi
done

seq_wall=${best_wall[seq]}
cu_wall=${best_wall[coreutils]}
echo "input: $(du -b --apparent-size -c "${files[@]}" | tail -1 | cut -f1) bytes in ${#files[@]} files; $(nproc) cores; node $(node --version); best of $repeat"
echo
echo "load average before/after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| command | wall (s) | vs mr seq | vs coreutils | CPU user+sys (s) | peak RSS (MiB, largest process) | notes |"
echo "|---|---|---|---|---|---|---|"
for n in seq run1 run2 coreutils; do
  w=${best_wall[$n]}
  printf '| %s | %.2f | %.2fx | %.2fx | %.1f | %d | %s |\n' "$n" "$w" "$(awk "BEGIN{print $seq_wall/$w}")" "$(awk "BEGIN{print $cu_wall/$w}")" "${best_cpu[$n]}" "$((best_rss[$n] / 1024))" "${notes[$n]}"
done
