#!/usr/bin/env bash
# Benchmarks examples/probe against ffprobe, and the cost of ffio's log capture.
#
#   scripts/bench-probe.sh [ROUNDS]     (default 11)
#
# * Wall time, medians of ROUNDS alternating runs, on scripts/bench.sh's two 211 MB inputs
#   (bench-out/data/{loop,hd}.mp4; run scripts/bench.sh once first, or this makes them the
#   same way through it) and on every fixture in tests/data that ffprobe reads:
#     probe FILE            vs  ffprobe -v error -of json -show_format -show_streams FILE
#     probe --count FILE    vs  the same with -count_packets
#   The outputs are checked to describe the same streams before anything is timed.
# * The log capture's cost: callgrind instruction counts of count_frames on
#   bench-out/data/loop_small.mp4 (~20 MB), built with and without the capture
#   (--cfg ffio_no_capture, a cfg for this script only).
# Results: bench-out/probe.md (git-ignored); BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-11}
scripts/setup.sh
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
cargo build --release --examples --quiet
probe=target/release/examples/probe
count_frames=target/release/examples/count_frames
data=bench-out/data
if [ ! -f "$data/loop.mp4" ] || [ ! -f "$data/hd.mp4" ] || [ ! -f "$data/loop_small.mp4" ]; then
  echo "bench-probe: making the inputs with scripts/bench.sh --no-callgrind" >&2
  scripts/bench.sh --no-callgrind >/dev/null
fi
out=bench-out/probe.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# secs CMD...: wall seconds of one run (stdout discarded).
secs() {
  local start end
  start=$(date +%s%N)
  "$@" > /dev/null 2>&1
  end=$(date +%s%N)
  echo "scale=6; ($end - $start) / 1000000000" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

inputs=("$data/loop.mp4" "$data/hd.mp4")
for f in tests/data/*; do
  case $f in *.sh|*/hostile) continue ;; esac
  ffprobe -v error "$f" > /dev/null 2>&1 && inputs+=("$f")
done

{
  echo "# probe vs ffprobe ($(date -u +%Y-%m-%dT%H:%M:%SZ), $rounds rounds, medians)"
  echo
  echo "| input | size | probe | ffprobe | ratio | probe --count | ffprobe -count_packets | ratio |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$out"
for in in "${inputs[@]}"; do
  # Same streams described (codec names in order), or the timing means nothing.
  a=$("$probe" "$in" | { grep -o '"codec_name": "[^"]*"' || true; } | paste -s -d' ')
  b=$(ffprobe -v error -of json -show_format -show_streams "$in" | { grep -o '"codec_name": "[^"]*"' || true; } | paste -s -d' ')
  [ "$a" = "$b" ] || { echo "bench-probe: $in: probe says $a, ffprobe $b" >&2; exit 1; }
  : > "$tmp/p"; : > "$tmp/f"; : > "$tmp/pc"; : > "$tmp/fc"
  for _ in $(seq "$rounds"); do
    secs "$probe" "$in" >> "$tmp/p"
    secs ffprobe -v error -of json -show_format -show_streams "$in" >> "$tmp/f"
    secs "$probe" --count "$in" >> "$tmp/pc"
    secs ffprobe -v error -of json -count_packets -show_format -show_streams "$in" >> "$tmp/fc"
  done
  p=$(median < "$tmp/p"); f=$(median < "$tmp/f"); pc=$(median < "$tmp/pc"); fc=$(median < "$tmp/fc")
  printf '| %s | %s | %.4f s | %.4f s | %.2f | %.4f s | %.4f s | %.2f |\n' \
    "$(basename "$in")" "$(stat -c %s "$in")" "$p" "$f" "$(echo "$p / $f" | bc -l)" \
    "$pc" "$fc" "$(echo "$pc / $fc" | bc -l)" >> "$out"
done

# Log capture: the same count_frames built with and without it (--cfg ffio_no_capture
# compiles out the per-call scope), instructions per packet from callgrind.
RUSTFLAGS="--cfg ffio_no_capture" cargo build --release --example count_frames --quiet \
  --target-dir target/bench-no-capture
plain=target/bench-no-capture/release/examples/count_frames
instr() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$@" > "$tmp/cf" 2>/dev/null
  callgrind_annotate "$tmp/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
with=$(instr "$count_frames" "$data/loop_small.mp4")
packets=$(sed -n 's/^stream [0-9]*: .*, \([0-9]*\) packets$/\1/p' "$tmp/cf" | awk '{s += $1} END {print s}')
without=$(instr "$plain" "$data/loop_small.mp4")
{
  echo
  echo "## Log capture cost (callgrind, count_frames $(basename "$data/loop_small.mp4"), $packets packets)"
  echo
  echo "- with the capture: $with instructions; without (--cfg ffio_no_capture): $without"
  echo "- difference: $((with - without)) instructions, $(echo "scale=1; ($with - $without) / $packets" | bc) per packet, $(echo "scale=3; 100 * ($with - $without) / $without" | bc) % of count_frames"
} >> "$out"
cat "$out"
