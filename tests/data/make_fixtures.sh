#!/usr/bin/env bash
# Regenerates the test fixtures in this folder from FFmpeg's synthetic sources
# (testsrc2 video, sine audio). Needs the ffmpeg CLI with libx264 and libx265
# (Debian's ffmpeg package has both). The fixtures are committed; run this only to
# change them. Every file stays well under 2 MB.
set -euo pipefail
cd "$(dirname "$0")"

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# Common sources: 2 s of 320x240 video at 25 fps, 2 s of 44.1 kHz stereo audio.
V=(-f lavfi -i "testsrc2=size=320x240:rate=25:duration=2")
A=(-f lavfi -i "sine=frequency=440:sample_rate=44100:duration=2" -ac 2)
X264=(-c:v libx264 -preset veryfast -g 12 -pix_fmt yuv420p -bitexact)
AAC=(-c:a aac -b:a 64k)

# MP4, moov after mdat (what encoders write by default); H.264 only. Also the sample
# that the examples embed.
ff "${V[@]}" "${X264[@]}" -f mp4 h264_moov_end.mp4
# MP4 with moov first (+faststart).
ff "${V[@]}" "${X264[@]}" -movflags +faststart -f mp4 h264_faststart.mp4
# Fragmented MP4.
ff "${V[@]}" "${X264[@]}" -movflags +frag_keyframe+empty_moov+default_base_moof -f mp4 h264_fragmented.mp4
# H.264 + AAC in MP4, moov at the end.
ff "${V[@]}" "${A[@]}" "${X264[@]}" "${AAC[@]}" -shortest -f mp4 h264_aac.mp4
# MPEG-TS, H.264 + AAC.
ff "${V[@]}" "${A[@]}" "${X264[@]}" "${AAC[@]}" -shortest -f mpegts h264_aac.ts
# Matroska, H.264 + AAC.
ff "${V[@]}" "${A[@]}" "${X264[@]}" "${AAC[@]}" -shortest -f matroska h264_aac.mkv
# Audio only (AAC in M4A).
ff "${A[@]}" "${AAC[@]}" -f ipod audio_only.m4a
# HEVC in MP4.
ff "${V[@]}" -c:v libx265 -preset ultrafast -x265-params log-level=error -pix_fmt yuv420p -tag:v hvc1 -f mp4 hevc.mp4

# Broken inputs.
: > empty.bin
# Deterministic "random" bytes: the SHA-256 chain of a fixed seed.
python3 - <<'PY'
import hashlib
out, block = bytearray(), b"ffio fixture seed"
while len(out) < 65536:
    block = hashlib.sha256(block).digest()
    out += block
open("random.bin", "wb").write(out[:65536])
PY
size=$(stat -c %s h264_aac.mp4)
# Cut inside the first boxes.
head -c 100 h264_aac.mp4 > truncated_header.mp4
# Cut inside mdat, before moov.
head -c $((size / 2)) h264_aac.mp4 > truncated_half.mp4
# Cut inside the moov box (at the end of this file): unreadable.
head -c $((size - 2000)) h264_aac.mp4 > truncated_moov.mp4
# moov first, mdat cut in half: FFmpeg reads the packets that are there.
fsize=$(stat -c %s h264_faststart.mp4)
head -c $((fsize / 2)) h264_faststart.mp4 > truncated_faststart.mp4
# Not made here: fuzz_huge_trun.mp4 is an input found by the fuzzer (scripts/fuzz.sh),
# a 1.5 KB fragmented MP4 whose trun box claims 84 million samples; FFmpeg 5.1 allocates
# 2.7 GB for it unless ffio::set_max_alloc caps allocations (tests/limits.rs).
ls -l
