#!/usr/bin/env bash
# Fuzzes ffio's demuxing with cargo-fuzz (libFuzzer + AddressSanitizer) for a bounded time.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  how long to run each target (default 60; libFuzzer's -max_total_time)
#   TARGET   demux_slice, demux_flaky, playlist (default: demux_slice and demux_flaky,
#            one after the other)
# Environment:
#   FUZZ_ARGS       extra libFuzzer flags. For long campaigns that should go on after a
#                   hang or an out-of-memory (recording each input):
#                   FUZZ_ARGS="-fork=1 -ignore_timeouts=1 -ignore_ooms=1"
#   FUZZ_SANITIZER  cargo fuzz's --sanitizer (default address)
#
# Installs what it needs (scripts/setup.sh, then cargo-fuzz if missing), seeds each
# target's corpus (fuzz/corpus/TARGET, git-ignored) from tests/data and tests/data/hostile
# at every run, with the keywords of fuzz/hostile.dict (-dict), runs the
# targets and exits non-zero if any of them found a crash, a timeout (-timeout, seconds per
# input) or an out-of-memory (-rss_limit_mb), i.e. if it failed or left a new input in
# fuzz/artifacts/TARGET/. Reproduce one with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…`.
# Logs: fuzz/logs/TARGET.log. cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 lets a
# stable toolchain use them. See fuzz/README.md for the targets.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(demux_slice demux_flaky)
fi

scripts/setup.sh
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-address}"

# Seed corpora. demux_slice takes the fixtures as they are. demux_flaky's inputs start
# with an 8-byte header that drives the reader (see fuzz/fuzz_targets/demux_flaky.rs); each
# fixture is seeded behind a few headers: all zeros is a well-behaved seekable reader.
flaky_headers=(
  '\x00\x00\x00\x00\x00\x00\x00\x00' # clean, seekable
  '\x01\x00\x00\x00\x00\x00\x00\x00' # clean, not seekable
  '\x10\x07\x2a\x00\x00\x00\x00\x03' # 4 KiB buffer, 1-7 bytes per read, Interrupted every 3rd call
  '\x00\x00\x00\x04\x00\x02\x00\x00' # 4th read fails (TimedOut)
  '\x05\xc8\x01\x0b\x00\x05\x00\x00' # not seekable, up to 9 KiB per read, reads fail from the 11th (WouldBlock)
  '\x00\x00\x00\x00\x00\x10\x03\x00' # 3rd seek fails (ConnectionReset)
  '\x02\x00\x00\x00\x00\x00\x00\x00' # size query fails (Other)
  '\x00\x00\x00\x03\x00\x0f\x00\x00' # 3rd read panics
)
# playlist's inputs are a playlist followed by the files it names, each after a line
# "%%NAME" (see fuzz/fuzz_targets/playlist.rs). Its seeds: tiny HLS (mpegts and fMP4),
# DASH and concat packages made here with the ffmpeg CLI, and the hostile playlists alone.
playlist_seeds() {
  local out="$1" work
  work=$(mktemp -d)
  local src=(-f lavfi -i testsrc=size=32x24:rate=5 -f lavfi -i sine=sample_rate=8000
    -t 3 -c:v libx264 -g 5 -pix_fmt yuv420p -c:a aac -b:a 8k)
  (
    cd "$work"
    ffmpeg -v error -nostdin -y "${src[@]}" -f hls -hls_time 1 -hls_playlist_type vod a.m3u8
    ffmpeg -v error -nostdin -y "${src[@]}" -f hls -hls_time 1 -hls_playlist_type vod \
      -hls_segment_type fmp4 -hls_fmp4_init_filename b_init.mp4 \
      -hls_segment_filename 'b%d.m4s' b.m3u8
    ffmpeg -v error -nostdin -y "${src[@]}" -f dash -seg_duration 1 c.mpd
    ffmpeg -v error -nostdin -y "${src[@]}" -f mpegts d0.ts
  )
  printf 'ffconcat version 1.0\nfile d0.ts\nfile d0.ts\n' >"$work/d.ffconcat"
  # Concat seeds that exercise ffio's own concat (src/concat.rs) beyond two plain parts:
  # every directive with its arguments, a nested list, and a list naming the main input
  # (itself: ffio's recursion_depth ends it).
  {
    printf 'ffconcat version 1.0\nstream\nexact_stream_id 0x101\nstream_meta language eng\n'
    printf 'stream\nexact_stream_id 0x100\nstream_codec h264\nstream_extradata 0123ab\n'
    printf 'chapter 1 0 1.5\nfile d0.ts\nduration 1.5\nfile_packet_meta k v\n'
    printf "file 'd0.ts'\ninpoint 1.5\noutpoint 2.5\nfile_packet_metadata a=1:b=2\n"
    printf '%%%%d0.ts\n'
    cat "$work/d0.ts"
  } >"$out/seed-e.ffconcat"
  {
    printf 'ffconcat version 1.0\nfile f.ffconcat\nfile d0.ts\n'
    printf '\n%%%%f.ffconcat\nffconcat version 1.0\nfile d0.ts\nfile_packet_meta inner 1\n'
    printf '\n%%%%d0.ts\n'
    cat "$work/d0.ts"
  } >"$out/seed-f.ffconcat"
  printf 'ffconcat version 1.0\nfile ffio-input.m3u8\n' >"$out/seed-g.ffconcat"
  local main
  for main in a.m3u8 b.m3u8 c.mpd d.ffconcat; do
    {
      cat "$work/$main"
      (cd "$work" && for f in *; do
        case "$f" in "$main" | *.m3u8 | *.mpd | *.ffconcat) continue ;; esac
        case "$main:$f" in a.*:a*.ts | b.*:b* | c.*:chunk-* | c.*:init-* | d.*:d0.ts) ;; *) continue ;; esac
        printf '\n%%%%%s\n' "$f"
        cat "$f"
      done)
    } >"$out/seed-$main"
  done
  rm -rf "$work"
}

# tests/data/hostile holds inputs that try to make FFmpeg open files, URLs and sockets by
# name (tests/hostile.rs); fuzz/hostile.dict gives libFuzzer their keywords.
seed_dir() { mkdir -p "fuzz/corpus/$1"; }
for target in "${targets[@]}"; do
  seed_dir "$target"
  [ "$target" != playlist ] || playlist_seeds "fuzz/corpus/$target"
  for fixture in tests/data/* tests/data/hostile/*; do
    [ -f "$fixture" ] || continue
    case "$fixture" in *.sh) continue ;; esac
    name="seed-$(basename "$fixture")"
    case "$target" in
      demux_slice)
        cp "$fixture" "fuzz/corpus/$target/$name"
        ;;
      playlist)
        case "$fixture" in */hostile/* | *.mp4 | *.mov) cp "$fixture" "fuzz/corpus/$target/$name" ;; esac
        ;;
      demux_flaky)
        i=0
        for header in "${flaky_headers[@]}"; do
          { printf "$header"; cat "$fixture"; } > "fuzz/corpus/$target/$name.h$i"
          i=$((i + 1))
        done
        ;;
      *)
        echo "fuzz.sh: unknown target $target" >&2
        exit 2
        ;;
    esac
  done
done

for target in "${targets[@]}"; do
  cargo fuzz build --sanitizer "$sanitizer" "$target"
done

mkdir -p fuzz/logs
failed=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$target"
  before=$(find "fuzz/artifacts/$target" -type f | sort)
  echo "fuzz.sh: running $target for ${seconds}s" >&2
  status=0
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  cargo fuzz run --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict=fuzz/hostile.dict \
    ${FUZZ_ARGS:-} >"fuzz/logs/$target.log" 2>&1 || status=$?
  # Totals: "Done N runs in S second(s)" and stat:: lines, or in fork mode the last status
  # line ("#N: cov: … exec/s: … oom/timeout/crash: …").
  { grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|Done [0-9]+ runs)' \
      "fuzz/logs/$target.log" || grep -E '^#[0-9]+: cov' "fuzz/logs/$target.log" | tail -1; } |
    sed "s/^/fuzz.sh: $target: /" >&2 || true
  new_artifacts=$(comm -13 <(echo "$before") <(find "fuzz/artifacts/$target" -type f | sort))
  if [ -n "$new_artifacts" ]; then
    echo "fuzz.sh: $target: new inputs in fuzz/artifacts/$target:" >&2
    echo "$new_artifacts" | sed 's/^/  /' >&2
    [ "$status" -ne 0 ] || status=1
  fi
  if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: $target FAILED (exit $status); see fuzz/logs/$target.log" >&2
    grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' \
      "fuzz/logs/$target.log" | head -20 >&2 || true
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crashes in ${targets[*]} (${seconds}s each)" >&2
