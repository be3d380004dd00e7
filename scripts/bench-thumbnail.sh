#!/usr/bin/env bash
# Benchmarks examples/thumbnail against `ffmpeg -frames:v 1` writing the same output.
#
#   scripts/bench-thumbnail.sh [ROUNDS]     (default 21)
#
# Wall time, medians of ROUNDS paired runs (A then B, B then A on the next round), each
# writing to a tmpfs (/dev/shm, or $TMPDIR), on every fixture in tests/data that ffprobe
# reads as video and on a 1280x720 H.264 file made here (bench-out/data/thumb_720p.mp4,
# 20 s at 25 fps, keyframe every 2 s; git-ignored):
#   thumbnail --raw IN OUT    vs  ffmpeg -noautorotate -i IN -frames:v 1 -f rawvideo -pix_fmt PF OUT
#   thumbnail IN OUT.ppm      vs  ffmpeg -noautorotate -i IN -frames:v 1 -pix_fmt rgb24 -c:v ppm OUT.ppm
#   and on the 720p file, the same two with --at 9.013 / -ss 9.013 (a seek, then the frames
#   from the keyframe at 8 s decoded and dropped).
# The outputs are compared once before anything is timed (raw: identical bytes). Results:
# bench-out/thumbnail.md (git-ignored), with `uptime` before and after: other processes
# on the machine skew the numbers, so note the load. BENCHMARKS.md quotes them.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
rounds=${1:-21}
scripts/setup.sh
cargo build --release --example thumbnail --quiet
thumb=target/release/examples/thumbnail
data=bench-out/data
mkdir -p "$data"
hd=$data/thumb_720p.mp4
if [ ! -s "$hd" ]; then
  ffmpeg -hide_banner -v error -nostdin -y -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=20" \
    -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -f mp4 "$hd"
fi
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$shm/ffio-bench-thumb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=bench-out/thumbnail.md

# secs CMD...: wall seconds of one run (output discarded; a failure stops the script).
secs() {
  local start end
  start=$(date +%s%N)
  "$@" > /dev/null 2>&1 || { echo "bench-thumbnail: failed: $*" >&2; exit 1; }
  end=$(date +%s%N)
  echo "scale=6; ($end - $start) / 1000000000" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# pair LABEL IN 'A ARGS' 'B ARGS': ROUNDS paired runs of thumbnail ARGS and ffmpeg ARGS
# (split on spaces), one table row.
pair() {
  local label=$1 in=$2 a b ra rb
  read -r -a a <<<"$3"
  read -r -a b <<<"$4"
  : > "$tmp/a"; : > "$tmp/b"
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2)); then
      rb=$(secs ffmpeg -hide_banner -v error -nostdin -y "${b[@]}"); ra=$(secs "$thumb" "${a[@]}")
    else
      ra=$(secs "$thumb" "${a[@]}"); rb=$(secs ffmpeg -hide_banner -v error -nostdin -y "${b[@]}")
    fi
    echo "$ra" >> "$tmp/a"; echo "$rb" >> "$tmp/b"
  done
  ra=$(median < "$tmp/a"); rb=$(median < "$tmp/b")
  printf '| %s | %s | %.1f ms | %.1f ms | %.2f |\n' "$(basename "$in")" "$label" \
    "$(echo "$ra * 1000" | bc -l)" "$(echo "$rb * 1000" | bc -l)" "$(echo "$ra / $rb" | bc -l)" >> "$out"
}

inputs=()
for f in tests/data/* "$hd"; do
  [ -f "$f" ] || continue
  pf=$(ffprobe -v error -select_streams v:0 -show_entries stream=pix_fmt -of default=nw=1:nk=1 "$f" 2>/dev/null | head -n 1 || true)
  [ -n "$pf" ] && [ "$pf" != unknown ] || continue
  # Only inputs ffmpeg makes a frame of (a damaged index gives none).
  ffmpeg -hide_banner -v error -nostdin -y -noautorotate -i "$f" -frames:v 1 -f rawvideo \
    -pix_fmt "$pf" "$tmp/check.raw" > /dev/null 2>&1 && [ -s "$tmp/check.raw" ] || continue
  "$thumb" --raw "$f" "$tmp/mine.raw" 2>/dev/null || { echo "bench-thumbnail: $f: thumbnail failed" >&2; exit 1; }
  cmp -s "$tmp/check.raw" "$tmp/mine.raw" || { echo "bench-thumbnail: $f: frames differ" >&2; exit 1; }
  inputs+=("$f:$pf")
done

{
  echo "# thumbnail vs ffmpeg -frames:v 1 ($(date -u +%Y-%m-%dT%H:%M:%SZ), $rounds paired rounds, medians)"
  echo
  echo "load before: $(uptime)"
  echo
  echo "| input | output | thumbnail | ffmpeg | ratio |"
  echo "|---|---|---|---|---|"
} > "$out"
for entry in "${inputs[@]}"; do
  in=${entry%:*}; pf=${entry##*:}
  pair raw "$in" "--raw $in $tmp/a.raw" \
    "-noautorotate -i $in -frames:v 1 -f rawvideo -pix_fmt $pf $tmp/b.raw"
  pair ppm "$in" "$in $tmp/a.ppm" \
    "-noautorotate -i $in -frames:v 1 -pix_fmt rgb24 -c:v ppm $tmp/b.ppm"
done
pair "raw --at 9.013" "$hd" "--raw --at 9.013 $hd $tmp/a.raw" \
  "-noautorotate -ss 9.013 -i $hd -frames:v 1 -f rawvideo -pix_fmt yuv420p $tmp/b.raw"
cmp -s "$tmp/a.raw" "$tmp/b.raw" || { echo "bench-thumbnail: --at 9.013: frames differ" >&2; exit 1; }
pair "ppm --at 9.013" "$hd" "--at 9.013 $hd $tmp/a.ppm" \
  "-noautorotate -ss 9.013 -i $hd -frames:v 1 -pix_fmt rgb24 -c:v ppm $tmp/b.ppm"
{
  echo
  echo "load after: $(uptime)"
} >> "$out"
cat "$out"
