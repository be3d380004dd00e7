#!/usr/bin/env bash
# Installs what building and testing ffio needs on a fresh Debian 12 / Ubuntu machine:
# the FFmpeg development libraries (libavformat, libavcodec, libavutil and friends;
# libswscale for examples/thumbnail),
# pkg-config, clang + libclang (bindgen, used by ffmpeg-sys-next) and the ffmpeg/ffprobe
# command-line tools (the tests take their expected values from them), and python3
# (scripts/memcheck.sh reads cargo's JSON output with it).
# Runs as root or through sudo; does nothing when everything is already there.
set -euo pipefail

packages=(
  pkg-config clang libclang-dev
  libavformat-dev libavcodec-dev libavutil-dev
  libswscale-dev  # examples/thumbnail (a dev-dependency feature; the library does not link it)
  ffmpeg python3 strace
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
echo "ffio setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
