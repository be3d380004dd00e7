#!/usr/bin/env bash
# Regenerates the test fixtures in this folder from FFmpeg's synthetic sources
# (testsrc2 video, sine audio). Needs the ffmpeg CLI with libx264 and libx265
# (Debian's ffmpeg package has both). The fixtures are committed; run this only to
# change them. Every file stays well under 2 MB,
# the whole set under 4 MB.
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

# Metadata fixtures (tests/metadata.rs): 1 s each, small, one feature each.
SV=(-f lavfi -i "testsrc2=size=160x120:rate=25:duration=1")
SA=(-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1")
# Phone-style rotated MP4: a display matrix of -90 degrees (ffprobe: side_data_list
# rotation -90). FFmpeg 5.1 has no -display_rotation (an input option since 6.0); its mov
# muxer turns a "rotate" stream tag into the display matrix, but only when the stream is
# copied (an encoder drops the tag): encode, then copy with rotate=270 (tkhd rotation
# is clockwise, av_display_rotation_get counter-clockwise, so 270 gives -90).
ff "${SV[@]}" "${X264[@]}" -f mp4 rotated_src.tmp.mp4
ff -i rotated_src.tmp.mp4 -c copy -metadata:s:v:0 rotate=270 -movflags +faststart -f mp4 rotated.mp4
rm -f rotated_src.tmp.mp4
# WebM: VP9 + Opus.
ff "${SV[@]}" "${SA[@]}" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -threads 1 -b:v 100k \
  -c:a libopus -b:a 32k -bitexact -f webm vp9_opus.webm
# Matroska: H.264, two AAC tracks (eng default, deu), a SubRip track (eng, forced) from
# a generated SRT, and a title.
printf '1\n00:00:00,000 --> 00:00:00,500\nHello\n\n2\n00:00:00,500 --> 00:00:01,000\nWorld\n' > subs.tmp.srt
ff "${SV[@]}" "${SA[@]}" -f lavfi -i "sine=frequency=660:sample_rate=48000:duration=1" -i subs.tmp.srt \
  -map 0 -map 1 -map 2 -map 3 "${X264[@]}" -c:a aac -b:a 32k -c:s srt \
  -metadata:s:a:0 language=eng -metadata:s:a:1 language=deu -metadata:s:s:0 language=eng \
  -disposition:a:0 default -disposition:a:1 0 -disposition:s:0 forced \
  -metadata title="Two languages" -bitexact -f matroska multi_audio_subs.mkv
rm -f subs.tmp.srt
# QuickTime with a timecode track (tmcd, a data stream).
ff "${SV[@]}" "${X264[@]}" -timecode 01:00:00:00 -f mov timecode.mov
# MP3 with ID3v2 tags (title, artist) and a PNG cover (an attached picture).
ff -f lavfi -i "testsrc2=size=64x64:rate=1:duration=1" -frames:v 1 -f image2 cover.tmp.png
ff "${SA[@]}" -i cover.tmp.png -map 0 -map 1 -c:a libmp3lame -b:a 32k -c:v png \
  -disposition:v attached_pic -metadata title="Test tone" -metadata artist="ffio" \
  -id3v2_version 3 -bitexact -f mp3 id3_tags.mp3
rm -f cover.tmp.png
# FLAC with a Vorbis comment.
ff "${SA[@]}" -c:a flac -metadata title="FLAC tone" -bitexact -f flac tone.flac
# Interlaced MPEG-2 in MPEG-TS, top field first (field_order tt).
ff -f lavfi -i "testsrc2=size=320x240:rate=25:duration=1" -c:v mpeg2video -flags +ilme+ildct \
  -top 1 -b:v 500k -bitexact -f mpegts mpeg2_interlaced.ts
# 10-bit HEVC with HDR10 colour tags (BT.2020, PQ, limited range).
ff "${SV[@]}" -c:v libx265 -preset ultrafast -x265-params log-level=error -pix_fmt yuv420p10le \
  -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc -color_range tv \
  -tag:v hvc1 -bitexact -f mp4 hevc_hdr10.mp4

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
