#!/usr/bin/env bash
# Benchmarks marker-aware writes against batched ones: examples/remux of scripts/bench.sh's
# 211 MB input (bench-out/data/hd.mp4) into fragmented MP4 on standard output, which is
# /dev/null (a sink that costs nothing, so the writing side is all that differs).
#
#   scripts/bench-live.sh [ROUNDS]     (default 11, at least 3)
#
# Modes, all `remux --format mp4 --option movflags=FLAGS hd.mp4 -`, for FLAGS
# frag_keyframe+empty_moov (a fragment per 2-second GOP, ~2 MB) and
# frag_every_frame+empty_moov (a fragment per frame, ~15 kB: the most writes):
#   memory   no flag: the whole output in memory, written at the end (through Rust's
#            line-buffered Stdout, as before --live existed)
#   batched  --chunk 1: streamed in FFmpeg's 256 KiB batches
#   live     --live: one write(2) per init segment / fragment (marker-aware)
# Each round runs every mode once, the starting mode rotating (paired, alternating runs),
# through benches/runner.c (wall from CLOCK_MONOTONIC, user/sys CPU and peak RSS from
# wait4). The outputs are checked to be byte-identical first, and the write(2) calls to
# fd 1 of each mode counted once under strace. Results: bench-out/live.md (git-ignored);
# BENCHMARKS.md quotes them. Run it on an otherwise idle machine where possible: the load
# (uptime) before and after is part of the report.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
rounds=${1:-11}
if ! [[ $rounds =~ ^[0-9]+$ ]] || [ "$rounds" -lt 3 ]; then
  echo "bench-live: ROUNDS must be a number >= 3" >&2
  exit 2
fi
scripts/setup.sh
command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace >/dev/null; }
cargo build --release --example remux --quiet
remux=$PWD/target/release/examples/remux
in=bench-out/data/hd.mp4
if [ ! -f "$in" ]; then
  echo "bench-live: making the inputs with scripts/bench.sh --no-callgrind" >&2
  scripts/bench.sh --no-callgrind >/dev/null
fi
runner=bench-out/bin/runner
[ -x "$runner" ] || { mkdir -p bench-out/bin && cc -O2 -Wall -Wextra -o "$runner" benches/runner.c; }
nice=()
[ "$(id -u)" -eq 0 ] && nice=(-n -10)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=bench-out/live.md

modes=(memory batched live)
echo "# marker-aware vs batched writes ($(date -u +%Y-%m-%dT%H:%M:%SZ), $rounds rounds, medians)" > "$out"
echo >> "$out"
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# col MODE N: column N (1 = round, 2 = wall, 3 = rss KiB, 4 = user, 5 = sys) of MODE's runs.
col() { awk -v n="$2" '{print $n}' "$tmp/$1.tsv"; }
cpu() { awk '{print $4 + $5}' "$tmp/$1.tsv"; }
# ratio MODE BASE: the median over rounds of MODE's wall / BASE's wall in the same round.
ratio() { paste "$tmp/$1.tsv" "$tmp/$2.tsv" | awk '{print $2 / $7}' | median; }
cpu_ratio() { paste "$tmp/$1.tsv" "$tmp/$2.tsv" | awk '{print ($4 + $5) / ($9 + $10)}' | median; }

# build MODE: the command of MODE (for the current $flags) in CMD.
build() {
  CMD=("$remux")
  case $1 in
    batched) CMD+=(--chunk 1) ;;
    live) CMD+=(--live) ;;
  esac
  CMD+=(--format mp4 --option "movflags=$flags" "$in" -)
}

for flags in frag_keyframe+empty_moov frag_every_frame+empty_moov; do
  rm -f "$tmp"/*.tsv
  # Same bytes, or the timing means nothing; the write(2) calls to fd 1, under strace.
  for m in "${modes[@]}"; do
    build "$m"
    "${CMD[@]}" 2>"$tmp/$m.err" | md5sum > "$tmp/$m.md5"
    strace -f -qq -e trace=write -o "$tmp/$m.strace" "${CMD[@]}" > /dev/null 2>&1
    grep -c 'write(1,' "$tmp/$m.strace" > "$tmp/$m.writes" || true
  done
  for m in "${modes[@]}"; do
    cmp -s "$tmp/$m.md5" "$tmp/memory.md5" || { echo "bench-live: $m writes other bytes" >&2; exit 1; }
  done
  size=$(awk '{print $2}' "$tmp/memory.err")

  load_before=$(uptime)
  for r in $(seq 0 $((rounds - 1))); do
    for i in 0 1 2; do
      m=${modes[$(((r + i) % 3))]}
      build "$m"
      "$runner" "${nice[@]}" "$tmp/result" "${CMD[@]}" > /dev/null 2>&1
      echo "$r $(cat "$tmp/result")" >> "$tmp/$m.tsv"
    done
  done
  load_after=$(uptime)

  {
    echo "## movflags=$flags"
    echo
    echo "remux of $(basename "$in") ($(stat -c %s "$in") bytes) to fragmented MP4 ($size bytes) on /dev/null:"
    build live
    echo "\`${CMD[*]#"$PWD/"}\`"
    echo
    echo "| mode | write(2) to fd 1 | wall | CPU (user+sys) | peak RSS | wall / batched (paired) | CPU / batched (paired) |"
    echo "|---|---|---|---|---|---|---|"
    for m in "${modes[@]}"; do
      printf '| %s | %s | %.3f s | %.3f s | %d MiB | %.3f | %.3f |\n' "$m" "$(cat "$tmp/$m.writes")" \
        "$(col "$m" 2 | median)" "$(cpu "$m" | median)" "$(( $(col "$m" 3 | median | cut -d. -f1) / 1024 ))" \
        "$(ratio "$m" batched)" "$(cpu_ratio "$m" batched)"
    done
    echo
    echo "load before: $load_before"
    echo "load after:  $load_after"
    echo
  } >> "$out"
done
cat "$out"
