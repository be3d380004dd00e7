#!/usr/bin/env bash
# Runs every test binary and the examples under valgrind's memcheck and fails on any
# memory error or any definitely or indirectly lost byte.
#
#   scripts/memcheck.sh            # everything
#   scripts/memcheck.sh mux        # only test binaries whose name starts with "mux"
#   scripts/memcheck.sh thumbnail  # tests/thumbnail.rs and the thumbnail example's runs
#
# Test binaries run with --test-threads=1 (one thread is much faster under valgrind), and
# FFIO_MEMCHECK_JOBS runs (default: one per core) at once; each result line names its run
# and its time.
# Child processes (ffprobe, ffmpeg, the examples started by tests/examples.rs) are not
# traced; the examples are checked directly below.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v valgrind >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi

filter="${1:-}"
out=$PWD/target/memcheck
mkdir -p "$out"
supp=scripts/valgrind/ffio.supp

supp=$PWD/$supp
vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --track-origins=yes --num-callers=40 --suppressions="$supp" --quiet)

# Build the test binaries and examples, and list the test executables cargo made.
cargo build --examples --quiet
mapfile -t bins < <(cargo test --no-run --all-targets --message-format=json --quiet 2>/dev/null \
  | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        kind = m["target"]["kind"][0]
        # Example programs are built as test harnesses too; their names are told apart.
        prefix = "" if kind in ("lib", "test") else kind + "-"
        print(prefix + m["target"]["name"] + " " + m["executable"])
')

# Tests whose loops would take very long under valgrind check a sample (tests/common's
# under_memcheck): memory errors do not need every case, the plain run has them all.
export FFIO_MEMCHECK=1

jobs=${FFIO_MEMCHECK_JOBS:-$(nproc)}
# Scratch space for the examples' outputs, and each run's verdict in results/NAME. The runs
# go on at once: each writes files of its own names.
tmp=$(mktemp -d)
trap 'wait; rm -rf "$tmp"' EXIT
mkdir "$tmp/results"
# run_vg NAME EXPECTED_STATUS COMMAND...: runs COMMAND under memcheck (in $VG_DIR if set) in
# the background, at most $jobs at once; the run fails on a memory error or leak (valgrind's
# own exit status 99) or on an exit status other than the expected one. Its report is
# printed when it ends and its verdict kept in $tmp/results/NAME.
run_vg() {
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  local name=$1 want=$2; shift 2
  # The explicit `<&0` keeps the caller's standard input (bash gives background jobs
  # /dev/null otherwise).
  vg_one "$name" "$want" "$@" <&0 &
}
vg_one() {
  local name=$1 want=$2; shift 2
  local log="$out/$name.log" status=0 start=$SECONDS report
  (cd "${VG_DIR:-.}" && "${vg[@]}" --log-file="$log" "$@") >"$out/$name.stdout" 2>&1 || status=$?
  local took="$((SECONDS - start)) s"
  if [ "$status" -eq 99 ]; then
    report="memcheck: $name: MEMORY ERRORS OR LEAKS ($took), see $log:"$'\n'$(sed -n '1,80p' "$log")
    echo failed >"$tmp/results/$name"
  elif [ "$status" -ne "$want" ]; then
    report="memcheck: $name: exit status $status, expected $want ($took); output in $out/$name.stdout"$'\n'$(tail -n 30 "$out/$name.stdout")
    echo failed >"$tmp/results/$name"
  else
    report="memcheck: $name: clean ($took)"
    echo clean >"$tmp/results/$name"
  fi
  # One write, so that reports of runs ending together do not interleave.
  printf '%s\n' "$report"
}

for entry in "${bins[@]}"; do
  name=${entry%% *}; exe=${entry#* }
  case "$name" in "$filter"*) ;; *) continue ;; esac
  run_vg "test-$name" 0 "$exe" --test-threads=1
done

ex=$PWD/target/debug/examples
data=$PWD/tests/data
if [ -z "$filter" ] || [ "$filter" = examples ]; then
  run_vg count_frames-sample 0 "$ex/count_frames"
  run_vg count_frames-mapped 0 "$ex/count_frames" "$data/h264_aac.ts"
  run_vg count_frames-stream 0 "$ex/count_frames" --stream "$data/h264_moov_end.mp4"
  run_vg count_frames-pipe 0 "$ex/count_frames" - <"$data/h264_aac.mkv"
  # Error paths must not leak either.
  for bad in random.bin truncated_moov.mp4 truncated_faststart.mp4 audio_only.m4a; do
    run_vg "count_frames-$bad" 1 "$ex/count_frames" "$data/$bad"
  done
  run_vg count_frames-pipe-needs-seek 1 "$ex/count_frames" - <"$data/h264_aac.mp4"
  VG_DIR=$tmp run_vg extract_h264-sample 0 "$ex/extract_h264"
  run_vg extract_h264-file 0 "$ex/extract_h264" "$data/h264_aac.mkv" "$tmp/file.h264"
  run_vg extract_h264-memory 0 "$ex/extract_h264" --memory "$data/h264_moov_end.mp4" "$tmp/memory.h264"
  run_vg extract_h264-flush 0 "$ex/extract_h264" --flush-packets "$data/h264_aac.ts" -
  run_vg extract_h264-hevc 1 "$ex/extract_h264" "$data/hevc.mp4" "$tmp/x.h264"
  run_vg async_upload-shutdown 0 "$ex/async_upload" --stop-on-stdin-eof </dev/null
  run_vg probe-file 0 "$ex/probe" --count "$data/multi_audio_subs.mkv"
  run_vg probe-rotated 0 "$ex/probe" "$data/rotated.mp4"
  run_vg probe-pipe 0 "$ex/probe" --count - <"$data/mpeg2_interlaced.ts"
  run_vg probe-garbage 1 "$ex/probe" "$data/random.bin"
  run_vg probe-pipe-needs-seek 1 "$ex/probe" --count - <"$data/h264_aac.mp4"
  # probe --open-dir: an HLS playlist whose segments come through the opener, and one
  # naming a file outside the directory (refused by the opener mid-open).
  mkdir -p "$tmp/pl"
  ffmpeg -nostdin -v error -i "$data/h264_aac.ts" -c copy -f hls -hls_time 1 \
    -hls_playlist_type vod "$tmp/pl/index.m3u8"
  printf '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n../x.ts\n#EXT-X-ENDLIST\n' \
    >"$tmp/pl/escape.m3u8"
  run_vg probe-open-dir 0 "$ex/probe" --open-dir "$tmp/pl" --count "$tmp/pl/index.m3u8"
  run_vg probe-open-dir-escape 1 "$ex/probe" --open-dir "$tmp/pl" --count "$tmp/pl/escape.m3u8"
  # remux: faststart (the second pass reads the output back), HLS through the opener,
  # standard output, and the error paths (bad input, refused option, escaping name).
  run_vg remux-faststart 0 "$ex/remux" "$data/h264_moov_end.mp4" "$tmp/fast.mp4" \
    --option movflags=+faststart
  run_vg remux-hls 0 "$ex/remux" "$data/h264_aac.mp4" "$tmp/hls/index.m3u8" \
    --option hls_time=1 --option hls_playlist_type=vod
  run_vg remux-fmp4-hls 0 "$ex/remux" "$data/h264_aac.mp4" "$tmp/fmp4/index.m3u8" \
    --option hls_time=1 --option hls_segment_type=fmp4
  run_vg remux-stdout 0 "$ex/remux" --format mpegts "$data/h264_aac.mkv" -
  run_vg remux-bad-input 1 "$ex/remux" "$data/random.bin" "$tmp/bad-input.mp4"
  run_vg remux-faststart-plain-option 1 "$ex/remux" "$data/h264_aac.mp4" "$tmp/bad-option.mp4" \
    --option movflags=nonsense
  run_vg remux-escaping-name 1 "$ex/remux" "$data/h264_aac.mp4" "$tmp/x.m3u8" \
    --option hls_segment_filename=../x%d.ts
fi
if [ -z "$filter" ] || [ "$filter" = examples ] || [ "$filter" = thumbnail ]; then
  # thumbnail: PPM (libswscale) and raw, a seek, a 10-bit stream, and the error paths
  # (no video, --at past the end, garbage).
  run_vg thumbnail-ppm 0 "$ex/thumbnail" "$data/h264_aac.mp4" "$tmp/t.ppm"
  run_vg thumbnail-raw-at 0 "$ex/thumbnail" --raw --at 1.013 "$data/h264_aac.ts" "$tmp/t.raw"
  run_vg thumbnail-10bit 0 "$ex/thumbnail" "$data/hevc_hdr10.mp4" "$tmp/t10.ppm"
  run_vg thumbnail-vp9-at 0 "$ex/thumbnail" --at 0.513 "$data/vp9_opus.webm" "$tmp/v.ppm"
  run_vg thumbnail-no-video 1 "$ex/thumbnail" "$data/audio_only.m4a" "$tmp/no-video.ppm"
  run_vg thumbnail-past-end 1 "$ex/thumbnail" --at 1000 "$data/h264_aac.mkv" "$tmp/past-end.ppm"
  run_vg thumbnail-garbage 1 "$ex/thumbnail" "$data/random.bin" "$tmp/garbage.ppm"
fi

wait
ran=0
failed=0
for result in "$tmp"/results/*; do
  [ -e "$result" ] || continue
  ran=$((ran + 1))
  [ "$(cat "$result")" = clean ] || failed=$((failed + 1))
done
echo "memcheck: $ran runs, $failed failed"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
