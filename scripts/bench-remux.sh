#!/usr/bin/env bash
# Benchmarks examples/remux against the ffmpeg CLI doing the same packaging (issue 11):
#
#   scripts/bench-remux.sh [ROUNDS]     (default 11, at least 3)
#
#   faststart  remux IN OUT/out.mp4 --option movflags=+faststart
#              vs ffmpeg -i IN -map 0 -c copy -movflags +faststart OUT/out.mp4
#   hls        remux IN OUT/index.m3u8 --option hls_time=2 --option hls_playlist_type=vod
#              vs ffmpeg -i IN -map 0 -c copy -f hls -hls_time 2 -hls_playlist_type vod
#                 OUT/index.m3u8   (MPEG-TS segments, the default)
#
# and, to tell ffio's cost from the example's, benches/remux_direct.rs doing the same
# through ffio straight into files (a File for faststart, an opener creating Files for
# hls) instead of remux's in-memory store.
#
# IN is scripts/bench.sh's 211 MB bench-out/data/hd.mp4 (720p H.264 at 8 Mbit/s + AAC;
# made through scripts/bench.sh --no-callgrind if missing). OUT is a fresh directory on a
# tmpfs (/dev/shm, or BENCH_TMP), emptied before every run, so that no disk writeback is
# timed. Runs alternate (the starting program rotates) in ROUNDS rounds; each is timed by
# benches/runner.c (wall clock around fork/wait4, peak RSS from wait4's rusage), at
# niceness -10 in an autogroup of its own when root (BENCH_NICE=0 turns that off).
# Before timing, both programs' outputs are checked to be the same files with the same
# packets (ffprobe -count_packets of the MP4 and of the playlist), and the faststart MP4
# to start with ftyp, moov.
#
# examples/remux keeps every output file in memory (a HashMap filled through the opener)
# until the muxer has finished, then writes the files: its peak RSS includes the whole
# output (~211 MB here), by design of the example, not of ffio.
#
# Results: bench-out/remux.md (git-ignored); BENCHMARKS.md quotes them. Exits non-zero if
# a command fails or the outputs differ.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
rounds=${1:-11}
if ! [[ $rounds =~ ^[0-9]+$ ]] || [ "$rounds" -lt 3 ]; then
  echo "usage: scripts/bench-remux.sh [ROUNDS >= 3]" >&2
  exit 2
fi
die() { printf 'bench-remux.sh: FAIL: %s\n' "$*" >&2; exit 1; }
log() { printf '[bench-remux %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

scripts/setup.sh
cargo build --release --examples --benches --locked -q || die "cargo build --release"
direct=$(cargo build --release --bench remux_direct --locked --message-format=json -q |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "remux_direct":
        print(m["executable"])')
[ -x "$direct" ] || die "no remux_direct binary"
mkdir -p bench-out/bin
cc -O2 -Wall -Wextra -o bench-out/bin/runner benches/runner.c || die "cc benches/runner.c"
runner=bench-out/bin/runner
remux=target/release/examples/remux
in=bench-out/data/hd.mp4
if [ ! -f "$in" ]; then
  log "making the inputs with scripts/bench.sh --no-callgrind"
  scripts/bench.sh --no-callgrind >/dev/null
fi
[ -f "$in" ] || die "$in is missing"
parent=${BENCH_TMP:-/dev/shm}
[ -d "$parent" ] && [ -w "$parent" ] || parent=bench-out
tmp=$(mktemp -d "$parent/ffio-bench-remux.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
nice=()
if [ "${BENCH_NICE:-}" != 0 ] && [ "$(id -u)" -eq 0 ]; then nice=(-n "${BENCH_NICE:--10}"); fi

# cmd TASK PROGRAM DIR: sets CMD to PROGRAM's command for TASK writing into DIR.
cmd() {
  local task=$1 program=$2 dir=$3
  case $task:$program in
    faststart:ffio) CMD=("$remux" "$in" "$dir/out.mp4" --option movflags=+faststart) ;;
    faststart:direct) CMD=("$direct" faststart "$in" "$dir") ;;
    hls:direct) CMD=("$direct" hls "$in" "$dir") ;;
    faststart:cli) CMD=(ffmpeg -nostdin -v error -y -i "$in" -map 0 -c copy
                        -movflags +faststart "$dir/out.mp4") ;;
    hls:ffio) CMD=("$remux" "$in" "$dir/index.m3u8" --option hls_time=2
                   --option hls_playlist_type=vod) ;;
    hls:cli) CMD=(ffmpeg -nostdin -v error -y -i "$in" -map 0 -c copy -f hls -hls_time 2
                  -hls_playlist_type vod "$dir/index.m3u8") ;;
    *) die "unknown $task:$program" ;;
  esac
}
main_file() { [ "$1" = faststart ] && echo out.mp4 || echo index.m3u8; }
counts() {
  ffprobe -v error -count_packets -show_entries stream=index,nb_read_packets -of csv=p=0 "$1"
}

cat "$in" > /dev/null # into the page cache
log "checking that both write the same files with the same packets"
for task in faststart hls; do
  for program in ffio direct cli; do
    rm -rf "$tmp/$program" && mkdir "$tmp/$program"
    cmd "$task" "$program" "$tmp/$program"
    "${CMD[@]}" > /dev/null 2>"$tmp/stderr" || { cat "$tmp/stderr" >&2; die "${CMD[*]}"; }
  done
  b=$(cd "$tmp/cli" && ls | sort | paste -s -d' ')
  f=$(main_file "$task")
  for program in ffio direct; do
    a=$(cd "$tmp/$program" && ls | sort | paste -s -d' ')
    [ "$a" = "$b" ] || die "$task: $program wrote $a, the CLI $b"
    [ "$(counts "$tmp/$program/$f")" = "$(counts "$tmp/cli/$f")" ] \
      || die "$task: $program's packet counts differ from the CLI's"
    if [ "$task" = faststart ]; then
      [ "$(head -c 40 "$tmp/$program/out.mp4" | od -An -c | tr -d ' \n' | grep -o 'moov')" = moov ] \
        || die "faststart: $program wrote no moov after ftyp"
    fi
  done
  log "$task: $(echo "$a" | wc -w) files, same names and packet counts"
done

load_before=$(uptime)
raw=$tmp/raw.tsv
: > "$raw"
for round in $(seq 1 "$rounds"); do
  for task in faststart hls; do
    case $((round % 3)) in
      1) order=(ffio direct cli) ;;
      2) order=(cli ffio direct) ;;
      0) order=(direct cli ffio) ;;
    esac
    for program in "${order[@]}"; do
      rm -rf "$tmp/$program" && mkdir "$tmp/$program"
      cmd "$task" "$program" "$tmp/$program"
      "$runner" "${nice[@]}" "$tmp/result" "${CMD[@]}" > /dev/null 2>"$tmp/stderr" \
        || { cat "$tmp/stderr" >&2; die "${CMD[*]}"; }
      read -r wall rss user sys < "$tmp/result"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$task" "$program" "$wall" "$rss" "$user" "$sys" >> "$raw"
    done
  done
  log "round $round/$rounds done"
done
load_after=$(uptime)
rm -rf "$tmp/ffio" "$tmp/direct" "$tmp/cli"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
stat_of() { awk -F'\t' -v t="$1" -v p="$2" -v c="$3" '$1 == t && $2 == p {print $c}' "$raw" | median; }
out=bench-out/remux.md
{
  echo "# remux vs the ffmpeg CLI ($(date -u +%Y-%m-%dT%H:%M:%SZ), $rounds rounds, medians)"
  echo
  echo "Input: $in ($(stat -c %s "$in") bytes); outputs on $parent (tmpfs)."
  echo "Load before: $load_before"
  echo "Load after:  $load_after"
  echo
  echo "| task | program | wall | vs ffmpeg | peak RSS | user+sys |"
  echo "|---|---|---|---|---|---|"
  for task in faststart hls; do
    cw=$(stat_of "$task" cli 3)
    for program in ffio direct cli; do
      w=$(stat_of "$task" "$program" 3) r=$(stat_of "$task" "$program" 4)
      c=$(awk -F'\t' -v t="$task" -v p="$program" '$1 == t && $2 == p {print $5 + $6}' "$raw" | median)
      case $program in
        ffio) label="examples/remux (in-memory store)" ;;
        direct) label="benches/remux_direct (into files)" ;;
        cli) label="ffmpeg CLI" ;;
      esac
      awk -v t="$task" -v l="$label" -v w="$w" -v cw="$cw" -v r="$r" -v c="$c" \
        'BEGIN {printf "| %s | %s | %.3f s | %.2fx | %.0f MiB | %.3f s |\n", t, l, w, w / cw, r / 1024, c}'
    done
  done
  echo
  echo "Every run (task, program, wall s, peak RSS KiB, user s, sys s):"
  echo
  echo '```'
  cat "$raw"
  echo '```'
} > "$out"
cat "$out"
