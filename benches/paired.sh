#!/usr/bin/env bash
# Paired runs of two commands, for re-checking one comparison of scripts/bench.sh with many
# rounds on a noisy machine: each round runs A and B back to back (alternating which goes
# first) through bench-out/bin/runner (niceness -10 in a session of its own, as bench.sh
# does), and the medians of the per-round wall and CPU (user + system) ratios A/B are
# printed. Run scripts/bench.sh once first (it builds the runner, the examples, the C
# baseline and the inputs).
#
# usage: benches/paired.sh ROUNDS 'COMMAND A' 'COMMAND B'
#   e.g. benches/paired.sh 101 \
#          'target/release/examples/count_frames bench-out/data/hd.mp4' \
#          'bench-out/bin/count_frames_c --map bench-out/data/hd.mp4'
# The commands are split on spaces (no quoting); their output is discarded. Outputs written
# by them should go to a tmpfs (/dev/shm) and are removed by the caller.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
[ $# -eq 3 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
rounds=$1
read -r -a a <<<"$2"
read -r -a b <<<"$3"
runner=bench-out/bin/runner
[ -x "$runner" ] || { echo "paired.sh: $runner is missing: run scripts/bench.sh first" >&2; exit 1; }
nice=()
[ "$(id -u)" -eq 0 ] && nice=(-n -10)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
one() { "$runner" "${nice[@]}" "$tmp" "$@" >/dev/null 2>&1 || { echo "paired.sh: failed: $*" >&2; exit 1; }; cat "$tmp"; }
for ((r = 0; r < rounds; r++)); do
  if ((r % 2)); then
    rb=$(one "${b[@]}"); ra=$(one "${a[@]}")
  else
    ra=$(one "${a[@]}"); rb=$(one "${b[@]}")
  fi
  echo "$ra $rb"
done | awk -v n="$rounds" '
  function median(v, k,   i, j, t) {
    for (i = 2; i <= k; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  { k++; wa[k] = $1; wb[k] = $5; w[k] = $1 / $5; c[k] = ($3 + $4) / ($7 + $8) }
  END {
    printf "%d rounds: A %.1f ms, B %.1f ms (median wall); A/B wall %.3f, CPU %.3f (medians of per-round ratios)\n",
      k, median(wa, k) * 1000, median(wb, k) * 1000, median(w, k), median(c, k)
  }'
