#!/usr/bin/env bash
# ffio benchmarks: the examples against a C baseline built on the same libavformat and
# against the ffprobe / ffmpeg command-line tools. See BENCHMARKS.md.
#
# usage: scripts/bench.sh [--runs N] [--no-callgrind] [--no-sweep] [--strict]
#
#   --runs N         timed runs per command and input (default 11, at least 5); runs of one
#                    group alternate (round robin, rotating the starting command)
#   --no-callgrind   skip the instruction counts (valgrind --tool=callgrind, ~20 MB inputs)
#   --no-sweep       skip the buffer-size / flush_packets sweep
#   --strict         also exit non-zero when a performance target is missed
#
# Everything it makes goes under bench-out/ (git-ignored): inputs in bench-out/data, the
# C baseline in bench-out/bin, raw measurements in bench-out/raw, callgrind profiles in
# bench-out/callgrind and the report in bench-out/results.md. Outputs of the extract
# commands go to a tmpfs (/dev/shm) so that disk writeback does not add noise; set
# BENCH_TMP to another directory to change that (a temporary subdirectory is made there
# and removed at the end).
#
# Exits non-zero if a build fails, a command fails, packet counts disagree (per stream,
# with ffprobe -count_packets) or an extracted H.264 stream is not byte-identical to the
# ffmpeg CLI's; with --strict, also (status 3) when a performance target is missed.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench-out
DATA=$OUT/data
BIN=$OUT/bin
RAW=$OUT/raw
EX=$ROOT/target/release/examples
FIXTURE=$ROOT/tests/data/h264_aac.mp4

RUNS=11
CALLGRIND=1
SWEEP=1
STRICT=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
    --no-callgrind) CALLGRIND=0; shift ;;
    --no-sweep) SWEEP=0; shift ;;
    --strict) STRICT=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if ! [[ $RUNS =~ ^[0-9]+$ ]] || [ "$RUNS" -lt 5 ]; then
  echo "bench.sh: --runs must be a number >= 5" >&2
  exit 2
fi

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.6f", b - a}'; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench.sh: FAIL: %s\n' "$*" >&2; exit 1; }
START=$EPOCHREALTIME

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------
scripts/setup.sh
need=()
[ -x /usr/bin/time ] || need+=(time)  # GNU time -v cross-checks the runner's peak RSS
command -v valgrind >/dev/null || need+=(valgrind)
command -v strace >/dev/null || need+=(strace)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for tool in cc pkg-config cargo ffmpeg ffprobe valgrind callgrind_annotate strace python3 cmp; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

# A directory of our own (removed on exit) under BENCH_TMP, /dev/shm, or bench-out.
TMP_PARENT=${BENCH_TMP:-}
if [ -z "$TMP_PARENT" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMP_PARENT=/dev/shm; else TMP_PARENT=$OUT; fi
fi
TMPD=$TMP_PARENT/ffio-bench.$$
mkdir -p "$OUT" "$DATA" "$BIN" "$RAW" "$TMPD"
trap 'rm -rf "$TMPD"' EXIT

# ---------------------------------------------------------------------------------------
# Builds: the release examples, the C baseline, the runner
# ---------------------------------------------------------------------------------------
log "building the release examples"
cargo build --release --examples --locked -q || die "cargo build --release --examples"

log "building the C baseline and the runner"
cc -O2 -Wall -Wextra -o "$BIN/runner" benches/runner.c || die "cc benches/runner.c"
read -r -a AVFLAGS <<<"$(pkg-config --cflags --libs libavformat libavcodec libavutil)"
for prog in count_frames extract_h264; do
  cc -O2 -g -Wall -Wextra -o "$BIN/${prog}_c" "benches/c_baseline/$prog.c" "${AVFLAGS[@]}" \
    || die "cc benches/c_baseline/$prog.c"
done
cc -O2 -o "$BIN/link_floor" benches/c_baseline/link_floor.c -Wl,--no-as-needed "${AVFLAGS[@]}" \
  || die "cc benches/c_baseline/link_floor.c"
# Left behind by earlier versions of this script (a prototype crate built there).
rm -rf "$OUT/target"

# ---------------------------------------------------------------------------------------
# Inputs (made once, reused while their recipe is unchanged)
# ---------------------------------------------------------------------------------------
MIN_BYTES=$((200 * 1024 * 1024))
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
size_of() { stat -c %s "$1"; }

# The recipe is part of the cache key: change it and the inputs are made again.
RECIPE="v1 loop=$(size_of "$FIXTURE") hd=testsrc2-1280x720-25fps-noise12-x264-ultrafast-8M-g50+aac128k-20s"
if [ "$(cat "$DATA/recipe" 2>/dev/null)" != "$RECIPE" ]; then
  log "making the inputs in $DATA"
  rm -f "$DATA"/*.mp4
  fixture_size=$(size_of "$FIXTURE")
  # loop.mp4: the 2-second test fixture (320x240 H.264 ~320 kbit/s + AAC), looped past
  # 200 MiB: ~290,000 small packets, the worst case for per-packet overhead.
  plays=$(( (MIN_BYTES + fixture_size - 1) / fixture_size + 40 ))
  ff -stream_loop $((plays - 1)) -i "$FIXTURE" -c copy "$DATA/loop.mp4"
  # loop_small.mp4: the same, ~20 MB, for callgrind.
  ff -stream_loop 199 -i "$FIXTURE" -c copy "$DATA/loop_small.mp4"
  # hd_clip.mp4: 20 s of 1280x720 25 fps H.264 at ~8 Mbit/s (testsrc2 plus temporal noise
  # so that it does not compress to nothing) + 128 kbit/s AAC: what a camera or a web
  # video looks like. ~21 MB, used for callgrind.
  ff -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=20" \
     -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=20" -ac 2 \
     -vf "noise=alls=12:allf=t+u" -c:v libx264 -preset ultrafast -b:v 8M -maxrate 8M \
     -bufsize 16M -g 50 -pix_fmt yuv420p -c:a aac -b:a 128k -shortest "$DATA/hd_clip.mp4"
  # hd.mp4: hd_clip looped past 200 MiB: ~14,000 large packets, I/O-bound.
  clip_size=$(size_of "$DATA/hd_clip.mp4")
  plays=$(( (MIN_BYTES + clip_size - 1) / clip_size ))
  ff -stream_loop $((plays - 1)) -i "$DATA/hd_clip.mp4" -c copy "$DATA/hd.mp4"
  echo "$RECIPE" > "$DATA/recipe"
fi
for f in loop hd; do
  [ "$(size_of "$DATA/$f.mp4")" -ge "$MIN_BYTES" ] || die "$DATA/$f.mp4 is smaller than 200 MiB"
done
BIG_INPUTS=(loop hd)
SMALL_INPUTS=(loop_small hd_clip)

# ---------------------------------------------------------------------------------------
# The commands. CMD is set by build_cmd ID INPUT OUTPUT.
# ---------------------------------------------------------------------------------------
# The ids ffio_* are ffio's examples, c_* the C baseline doing the same work in the same
# mode (count *_mem: the file mapped into memory with av_file_map, what `count_frames FILE`
# does; extract *_mem: the whole file loaded first, `extract_h264 --memory`; *_stream: read
# through the file descriptor, `count_frames --stream` and the default `extract_h264`):
#   count_frames counts the packets of every stream, so its C baseline discards nothing
#   and its CLI counterpart is ffprobe -count_packets over all streams (ffprobe_v, the
#   video stream only, is reported for information);
#   extract_h264 keeps only its video stream (Demuxer::keep_streams: AVDISCARD_ALL on the
#   others, as ffmpeg -map 0:v:0 does), so its C baseline runs with --discard.
COUNT_IDS=(ffio_count_mem c_count ffio_count_stream c_count_stream ffprobe_all ffprobe_v)
EXTRACT_IDS=(ffio_extract_mem c_extract_discard ffio_extract_stream c_extract_stream_discard
             ffmpeg_cli)
build_cmd() {
  local id=$1 in=$2 out=${3:-}
  case $id in
    ffio_count_mem)    CMD=("$EX/count_frames" "$in") ;;
    ffio_count_stream) CMD=("$EX/count_frames" --stream "$in") ;;
    c_count)           CMD=("$BIN/count_frames_c" --map "$in") ;;
    c_count_stream)    CMD=("$BIN/count_frames_c" --stream "$in") ;;
    ffprobe_v)         CMD=(ffprobe -v error -count_packets -select_streams v:0
                            -show_entries stream=nb_read_packets -of csv=p=0 "$in") ;;
    ffprobe_all)       CMD=(ffprobe -v error -count_packets
                            -show_entries stream=nb_read_packets -of csv=p=0 "$in") ;;
    ffio_extract_mem)  CMD=("$EX/extract_h264" --memory "$in" "$out") ;;
    ffio_extract_stream) CMD=("$EX/extract_h264" "$in" "$out") ;;
    ffio_extract_flush) CMD=("$EX/extract_h264" --flush-packets "$in" "$out") ;;
    c_extract_discard) CMD=("$BIN/extract_h264_c" --discard "$in" "$out") ;;
    c_extract_stream_discard) CMD=("$BIN/extract_h264_c" --stream --discard "$in" "$out") ;;
    ffmpeg_cli)        CMD=(ffmpeg -nostdin -v error -y -i "$in" -map 0:v:0 -c copy -f h264 "$out") ;;
    *) die "unknown command id $id" ;;
  esac
}

# Timed commands run at a higher priority than the rest of the machine (niceness -10, in
# an autogroup of their own: see benches/runner.c; root only): builds and fuzzers running
# at the same time then steal less of their CPU. BENCH_NICE=0 turns that off; any other
# value is the niceness to use.
NICE=()
if [ "${BENCH_NICE:-}" != 0 ] && [ "$(id -u)" -eq 0 ]; then
  NICE=(-n "${BENCH_NICE:--10}")
fi

# run_timed TSV PREFIX: runs CMD once through benches/runner.c (wall time from
# CLOCK_MONOTONIC around fork/wait4; peak RSS, user and system time from wait4's rusage,
# the numbers GNU time prints, but with microsecond CPU times) and appends
# "PREFIX<TAB>wall<TAB>rss<TAB>user<TAB>sys" to TSV.
run_timed() {
  local tsv=$1 prefix=$2
  if ! "$BIN/runner" "${NICE[@]}" "$TMPD/result" "${CMD[@]}" >"$TMPD/stdout" 2>"$TMPD/stderr"; then
    cat "$TMPD/stderr" >&2
    die "command failed: ${CMD[*]}"
  fi
  local wall rss user sys
  read -r wall rss user sys < "$TMPD/result"
  printf '%s\t%s\t%s\t%s\t%s\n' "$prefix" "$wall" "$rss" "$user" "$sys" >> "$tsv"
}

# measure ID INPUT_NAME INPUT_PATH ROUND TSV: one timed run of command ID.
# Every extracting command writes to the same path: glibc malloc's layout (and so its
# instruction count) depends even on the length of the program's arguments.
measure() {
  local id=$1 name=$2 in=$3 round=$4 tsv=$5
  build_cmd "$id" "$in" "$TMPD/out.h264"
  rm -f "$TMPD/out.h264"
  run_timed "$tsv" "$name	$id	$round"
}

# time_v INPUT_NAME ID: records the peak RSS GNU time -v reported for the last run.
time_v() {
  printf '%s\t%s\t%s\n' "$1" "$2" \
    "$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$TMPD/time-v")" \
    >> "$RAW/time-v.tsv"
}

# ---------------------------------------------------------------------------------------
# Correctness (also the warm-up: every input is in the page cache afterwards)
# ---------------------------------------------------------------------------------------
log "checking frame counts and byte-identical outputs"
: > "$RAW/checks.tsv"
: > "$RAW/time-v.tsv"
for name in "${BIG_INPUTS[@]}" "${SMALL_INPUTS[@]}"; do
  in=$DATA/$name.mp4
  cat "$in" > /dev/null
  # Every counting command must agree on the video frames (stream 0 is the video in
  # these inputs) and, except ffprobe_v, on the packet count of every stream.
  ref="" ref_all=""
  for id in "${COUNT_IDS[@]}"; do
    build_cmd "$id" "$in"
    /usr/bin/time -v -o "$TMPD/time-v" "${CMD[@]}" > "$TMPD/stdout" 2>"$TMPD/stderr" \
      || { cat "$TMPD/stderr" >&2; die "${CMD[*]}"; }
    time_v "$name" "$id"
    case $id in
      ffprobe_v|ffprobe_all)
        n=$(head -n 1 "$TMPD/stdout")
        all=$(paste -s -d' ' "$TMPD/stdout") ;;
      *)
        n=$(sed -n 's/^There are \([0-9]*\) frames in total\.$/\1/p' "$TMPD/stdout")
        all=$(sed -n 's/^stream [0-9]*: .*, \([0-9]*\) packets$/\1/p' "$TMPD/stdout" | paste -s -d' ') ;;
    esac
    if [ -z "$n" ] || [ -z "$all" ]; then die "no packet counts from ${CMD[*]}"; fi
    [ -z "$ref" ] && ref=$n ref_all=$all
    [ "$n" = "$ref" ] || die "$name: $id counts $n video frames, ffio count_frames counts $ref"
    [ "$id" = ffprobe_v ] || [ "$all" = "$ref_all" ] \
      || die "$name: $id counts packets per stream ($all), ffio count_frames ($ref_all)"
    printf '%s\t%s\t%s\t%s\n' "$name" "$id" "$n" "$all" >> "$RAW/checks.tsv"
  done
  rm -f "$TMPD"/*.h264
  same=0
  for id in ffmpeg_cli "${EXTRACT_IDS[@]}" ffio_extract_flush; do
    [ "$id" = ffmpeg_cli ] && [ -f "$TMPD/ffmpeg_cli.h264" ] && continue
    build_cmd "$id" "$in" "$TMPD/$id.h264"
    /usr/bin/time -v -o "$TMPD/time-v" "${CMD[@]}" > /dev/null 2>"$TMPD/stderr" \
      || { cat "$TMPD/stderr" >&2; die "${CMD[*]}"; }
    time_v "$name" "$id"
    if [ "$id" != ffmpeg_cli ]; then
      cmp -s "$TMPD/$id.h264" "$TMPD/ffmpeg_cli.h264" \
        || die "$name: $id output differs from ffmpeg -c copy -f h264"
      same=$((same + 1))
    fi
  done
  printf '%s\t%s\t%s\n' "$name" h264_bytes "$(size_of "$TMPD/ffmpeg_cli.h264")" >> "$RAW/checks.tsv"
  log "  $name: packets per stream $ref_all everywhere; $(size_of "$TMPD/ffmpeg_cli.h264") bytes of H.264, all $same other outputs identical"
  rm -f "$TMPD"/*.h264
done
# Input facts for the report.
: > "$RAW/inputs.tsv"
for name in "${BIG_INPUTS[@]}" "${SMALL_INPUTS[@]}"; do
  in=$DATA/$name.mp4
  pk=$(ffprobe -v error -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$in" \
         | awk '{s += $1} END {print s}')
  desc=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height,bit_rate \
           -of csv=p=0 "$in")
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$in")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$(size_of "$in")" "$pk" "$desc" "$dur" >> "$RAW/inputs.tsv"
done

# ---------------------------------------------------------------------------------------
# Machine state
# ---------------------------------------------------------------------------------------
{
  echo "date	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc	$(nproc)"
  echo "cpu	$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "mem	$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel	$(uname -r)"
  # shellcheck source=/dev/null
  echo "os	$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "ffmpeg	$(ffmpeg -version | head -n 1)"
  echo "libavformat	$(pkg-config --modversion libavformat)"
  echo "rustc	$(rustc --version)"
  echo "shared_libs	$(ldd "$BIN/link_floor" | grep -c '=>')"
  echo "cc	$(cc --version | head -n 1)"
  echo "tmp	$TMPD ($(df -T "$TMPD" | awk 'NR==2 {print $2}'))"
  echo "load_before	$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "fuzz_before	$(pgrep -f fuzz >/dev/null && echo "running: $(pgrep -fa fuzz | head -n 1 | cut -c1-100)" || echo none)"
  echo "priority	niceness ${NICE[1]:-0}, own session (autogroup scheduling: $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a))"
  echo "busy_before	$(ps -eo pcpu,ni,comm --sort=-pcpu --no-headers | awk '$1 >= 20 {printf "%s(%s%%,nice %s) ", $3, $1, $2}')"
} > "$RAW/machine.tsv"

# ---------------------------------------------------------------------------------------
# Wall time and peak RSS, alternating runs
# ---------------------------------------------------------------------------------------
: > "$RAW/runs.tsv"
for name in "${BIG_INPUTS[@]}"; do
  in=$DATA/$name.mp4
  for group in COUNT_IDS EXTRACT_IDS; do
    declare -n ids=$group
    n=${#ids[@]}
    log "timing $name: ${ids[*]} ($RUNS alternating rounds)"
    for ((r = 0; r < RUNS; r++)); do
      for ((k = 0; k < n; k++)); do
        measure "${ids[$(( (r + k) % n ))]}" "$name" "$in" "$r" "$RAW/runs.tsv"
      done
    done
    unset -n ids
  done
done

# Peak RSS floor: each program on the 99 KB fixture (shared libraries, codec tables, no
# data). "Growth" in the report is peak RSS minus this floor.
log "measuring the RSS floor on the 99 KB fixture"
: > "$RAW/floor.tsv"
for ((r = 0; r < 3; r++)); do
  for id in "${COUNT_IDS[@]}" "${EXTRACT_IDS[@]}"; do
    measure "$id" fixture "$FIXTURE" "$r" "$RAW/floor.tsv"
  done
  # An empty main linked to the FFmpeg libraries: what loading them alone costs.
  CMD=("$BIN/link_floor")
  run_timed "$RAW/floor.tsv" "none	link_floor	$r"
done

# ---------------------------------------------------------------------------------------
# write(2) calls into the output file (strace), for each way of extracting
# ---------------------------------------------------------------------------------------
log "counting write(2) calls with strace"
: > "$RAW/writes.tsv"
for name in "${BIG_INPUTS[@]}"; do
  for id in ffio_extract_mem ffio_extract_stream c_extract_discard ffmpeg_cli ffio_extract_flush; do
    out="$TMPD/$id.h264"
    rm -f "$out"
    build_cmd "$id" "$DATA/$name.mp4" "$out"
    strace -f -qq -e trace=openat,write -e signal=none -o "$TMPD/strace" "${CMD[@]}" >/dev/null 2>&1 \
      || die "strace ${CMD[*]}"
    # The output's descriptor is what openat returned for its path; count writes to it.
    python3 - "$TMPD/strace" "$out" "$name" "$id" >> "$RAW/writes.tsv" <<'PY'
import re, sys
log, out, name, ident = sys.argv[1:5]
fd, writes, sizes = None, 0, []
for line in open(log, errors="replace"):
    line = re.sub(r"^\d+\s+", "", line)
    m = re.match(r'openat\(.*"(.*)".* = (\d+)$', line)
    if m and m.group(1) == out:
        fd = m.group(2)
        continue
    m = re.match(r"write\((\d+),.* = (-?\d+)$", line)
    if m and fd is not None and m.group(1) == fd:
        writes += 1
        sizes.append(int(m.group(2)))
median = sorted(sizes)[len(sizes) // 2] if sizes else 0
print(f"{name}\t{ident}\t{writes}\t{sum(sizes)}\t{median}")
PY
  done
done
rm -f "$TMPD"/*.h264 "$TMPD/strace"

# ---------------------------------------------------------------------------------------
# Buffer size and flush_packets: what a user should pick
# ---------------------------------------------------------------------------------------
: > "$RAW/sweep.tsv"
if [ "$SWEEP" = 1 ]; then
  log "sweeping buffer_size and flush_packets (5 alternating rounds)"
  SIZES=(4096 32768 65536 262144 1048576)
  for name in "${BIG_INPUTS[@]}"; do
    in=$DATA/$name.mp4
    for ((r = 0; r < 5; r++)); do
      for bs in "${SIZES[@]}"; do
        CMD=("$EX/count_frames" --stream --buffer-size "$bs" "$in")
        run_timed "$RAW/sweep.tsv" "$name	count --stream --buffer-size $bs	$r"
      done
      for opt in "--buffer-size 4096" "--buffer-size 65536" "" "--buffer-size 1048576" "--flush-packets"; do
        rm -f "$TMPD/sweep.h264"
        # shellcheck disable=SC2206 # opt is split on purpose
        CMD=("$EX/extract_h264" $opt "$in" "$TMPD/sweep.h264")
        run_timed "$RAW/sweep.tsv" "$name	extract_h264 ${opt:-(defaults)}	$r"
      done
    done
  done
  rm -f "$TMPD/sweep.h264"
fi

# ---------------------------------------------------------------------------------------
# Instruction counts (callgrind) on the ~20 MB inputs
# ---------------------------------------------------------------------------------------
: > "$RAW/callgrind.tsv"
if [ "$CALLGRIND" = 1 ]; then
  mkdir -p "$OUT/callgrind"
  rm -f "$OUT/callgrind"/*.out
  for name in "${SMALL_INPUTS[@]}"; do
    log "callgrind on $name.mp4 ($(( $(size_of "$DATA/$name.mp4") / 1000000 )) MB)"
    for id in ffio_count_mem c_count ffio_count_stream c_count_stream ffprobe_all \
              ffio_extract_mem c_extract_discard ffio_extract_stream c_extract_stream_discard \
              ffmpeg_cli; do
      file="$OUT/callgrind/$id.$name.out"
      build_cmd "$id" "$DATA/$name.mp4" "$TMPD/out.h264"
      valgrind -q --tool=callgrind --callgrind-out-file="$file" "${CMD[@]}" >/dev/null 2>"$TMPD/stderr" \
        || { cat "$TMPD/stderr" >&2; die "callgrind ${CMD[*]}"; }
      rm -f "$TMPD/out.h264"
      python3 benches/callgrind_summary.py "$file" "$ROOT" "$name" "$id" >> "$RAW/callgrind.tsv" \
        || die "summarising $file"
    done
  done
fi

{
  echo "load_after	$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "fuzz_after	$(pgrep -f fuzz >/dev/null && echo running || echo none)"
  echo "runs	$RUNS"
  echo "elapsed	$(elapsed "$START" "$EPOCHREALTIME" | cut -d. -f1) s"
} >> "$RAW/machine.tsv"

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
status=0
python3 benches/report.py "$RAW" > "$OUT/results.md" || status=$?
cat "$OUT/results.md"
log "report written to $OUT/results.md; raw data in $RAW"
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
  die "report generation failed"
fi
if [ "$status" -eq 3 ] && [ "$STRICT" = 1 ]; then
  echo "bench.sh: some performance targets are missed (--strict)" >&2
  exit 3
fi
exit 0
