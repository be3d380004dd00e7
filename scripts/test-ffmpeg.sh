#!/usr/bin/env bash
# Builds and tests ffio against the FFmpeg of another Debian release, in a fresh throwaway
# Debian root: `cargo clippy --all-targets -- -D warnings` and `cargo test`.
#
# usage: scripts/test-ffmpeg.sh SUITE     SUITE: trixie (Debian 13, FFmpeg 7.1) or sid
#                                        (the newest FFmpeg Debian ships); any Debian suite
#                                        name the mirror has works
#
# Root only (debootstrap, chroot, mounts). What it uses from the host:
# * the Debian mirror of the host's apt configuration (/etc/apt/sources.list.d/*.sources or
#   /etc/apt/sources.list; FFIO_DEBIAN_MIRROR overrides it);
# * the host's Rust toolchain (`rustc --print sysroot`, bind-mounted read-only: none can be
#   downloaded in the root) and its cargo registry (read-only, cargo runs --frozen: no crate
#   is downloaded again);
# * a copy of this working tree (tracked and untracked files, not ignored ones).
# In the root it installs, from the mirror, what a fresh machine needs: gcc, then whatever
# scripts/setup.sh installs (FFmpeg -dev packages, ffmpeg/ffprobe, pkg-config, clang,
# libclang-dev...). Nothing is cached between runs: the root is made from scratch with
# debootstrap every time and deleted at the end, also on failure or interruption (mounts
# unmounted, processes running in it killed). The last line of output names the root's FFmpeg
# release and the results, e.g. "trixie: FFmpeg 7.1.2 (libavformat 61.7.100): clippy ok,
# cargo test ok: 180 passed, 0 failed"; the exit status is non-zero if either failed.
set -euo pipefail
export LC_ALL=C

die() { printf 'test-ffmpeg.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '[test-ffmpeg %s %s] %s\n' "${SUITE:-}" "$(date +%H:%M:%S)" "$*" >&2; }

[ $# -eq 1 ] || die "usage: scripts/test-ffmpeg.sh SUITE (trixie or sid)"
SUITE=$1
[[ $SUITE =~ ^[a-z][a-z0-9-]*$ ]] || die "$SUITE is not a Debian suite name"
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and bind mounts)"
cd "$(dirname "$0")/.."
SRC=$PWD
START=$SECONDS

# ---------------------------------------------------------------------------------------
# What comes from the host
# ---------------------------------------------------------------------------------------
# The mirror: the URI of the host's main Debian suite (not -security, -updates...).
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822: blank-line separated stanzas; take the URIs of a deb stanza with a suite
    # without a dash (bookworm, trixie, sid; not bookworm-security).
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; deb = 0; main = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^[ \t]*#/) continue
          n = split($i, w, /[ \t]+/)
          if (w[1] == "Types:") for (j = 2; j <= n; j++) if (w[j] == "deb") deb = 1
          if (w[1] == "URIs:") uri = w[2]
          if (w[1] == "Suites:") for (j = 2; j <= n; j++) if (w[j] != "" && w[j] !~ /-/) main = 1
        }
        if (deb && main && uri ~ /^https?:\/\//) { print uri; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $2 ~ /^https?:\/\// && $3 !~ /-/ { print $2 }'
  done
}
MIRROR=${FFIO_DEBIAN_MIRROR:-$(host_mirror | head -n 1)}
MIRROR=${MIRROR%/}
[ -n "$MIRROR" ] || die "no Debian mirror found in the host's apt configuration \
(a 'URIs:' line in /etc/apt/sources.list.d/*.sources or a 'deb' line in /etc/apt/sources.list); \
set FFIO_DEBIAN_MIRROR to one"

command -v cargo >/dev/null || die "cargo is not installed"
SYSROOT=$(rustc --print sysroot) || die "rustc --print sysroot failed"
[ -x "$SYSROOT/bin/cargo" ] && [ -x "$SYSROOT/bin/cargo-clippy" ] \
  || die "the toolchain at $SYSROOT has no cargo or clippy (rustup component add clippy)"
REGISTRY=${CARGO_HOME:-$HOME/.cargo}/registry
[ -d "$REGISTRY" ] || die "no cargo registry at $REGISTRY: run cargo fetch on the host first"
cargo fetch --locked -q || die "cargo fetch --locked failed on the host"

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap on the host"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } \
    || die "could not install debootstrap"
fi

# ---------------------------------------------------------------------------------------
# The root, and its removal whatever happens
# ---------------------------------------------------------------------------------------
ROOT=$(mktemp -d "${TMPDIR:-/var/tmp}/ffio-$SUITE.XXXXXX")
ROOT=$(realpath "$ROOT")
LOG=$ROOT.log   # the current step's output, shown when it fails
CHILD=

mounts_under_root() {
  # Mount points at or below $ROOT, deepest first (field 5 of mountinfo; octal escapes
  # such as \040 only appear for odd names, which mktemp does not make).
  awk -v r="$ROOT" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

kill_root_processes() {
  local sig=$1 p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && kill "-$sig" "$pid" 2>/dev/null
  done
  return 0
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$CHILD" ]; then
    kill -TERM -- "-$CHILD" 2>/dev/null
  fi
  kill_root_processes TERM
  sleep 1
  if [ -n "$CHILD" ]; then
    kill -KILL -- "-$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
  fi
  kill_root_processes KILL
  local m
  for m in $(mounts_under_root); do
    umount -R "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  if [ -n "$(mounts_under_root)" ]; then
    echo "test-ffmpeg.sh: could not unmount everything under $ROOT; left it in place:" >&2
    mounts_under_root >&2
    status=1
  else
    # --one-file-system: never follow into a mount we failed to see.
    rm -rf --one-file-system "$ROOT"
  fi
  rm -f "$LOG"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "test-ffmpeg.sh: interrupted" >&2; exit 130' INT
trap 'echo "test-ffmpeg.sh: terminated" >&2; exit 143' TERM

# step WHAT CMD...: runs CMD in a session of its own (so that cleanup can kill all of it),
# its output in $LOG, shown if it fails. In the background and waited for, so that INT and
# TERM reach the trap at once.
step() {
  local what=$1 status=0
  shift
  log "$what"
  setsid "$@" >"$LOG" 2>&1 </dev/null &
  CHILD=$!
  wait "$CHILD" || status=$?
  CHILD=
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$LOG" >&2
    die "$SUITE: $what failed (status $status)"
  fi
}

# "${IN_ROOT[@]}" CMD...: runs CMD in the root with a clean environment.
IN_ROOT=(chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LC_ALL=C.UTF-8
  PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  CARGO_HOME=/opt/cargo CARGO_TARGET_DIR=/build/target DEBIAN_FRONTEND=noninteractive)

# ---------------------------------------------------------------------------------------
# Make the root
# ---------------------------------------------------------------------------------------
curl_or_wget() {
  if command -v curl >/dev/null; then curl -fsS -m 60 -o /dev/null "$1"; else wget -q -T 60 -O /dev/null "$1"; fi
}
curl_or_wget "$MIRROR/dists/$SUITE/Release" \
  || die "the host's mirror ($MIRROR, from its apt configuration) has no Debian suite $SUITE; set FFIO_DEBIAN_MIRROR to a Debian mirror"

step "debootstrap $SUITE (minbase) from the host's mirror into $ROOT" \
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR"

# apt in the root: the suite's main component only.
OPTIONS=
if [ "$SUITE" = sid ] || [ "$SUITE" = unstable ]; then
  # sid's Release file on the mirror can be past its Valid-Until date (it is re-signed only
  # when the archive is updated); apt then refuses the whole suite. Accept it for sid only:
  # the other suites keep the check.
  OPTIONS="[check-valid-until=no] "
fi
echo "deb ${OPTIONS}$MIRROR $SUITE main" > "$ROOT/etc/apt/sources.list"
rm -f "$ROOT"/etc/apt/sources.list.d/*
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mkdir -p "$ROOT/opt/rust" "$ROOT/opt/cargo/registry" "$ROOT/src/ffio" "$ROOT/build"
mount --bind "$SYSROOT" "$ROOT/opt/rust"
mount -o remount,bind,ro "$ROOT/opt/rust"
mount --bind "$REGISTRY" "$ROOT/opt/cargo/registry"
mount -o remount,bind,ro "$ROOT/opt/cargo/registry"

# The working tree as it is (tracked and untracked files, not ignored ones), copied: the
# build must not write into the host's tree.
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$ROOT/src/ffio"

step "apt-get update in the root" "${IN_ROOT[@]}" apt-get update
step "installing gcc in the root" "${IN_ROOT[@]}" apt-get install -y --no-install-recommends gcc libc6-dev
step "scripts/setup.sh in the root (FFmpeg -dev packages, ffmpeg, pkg-config, clang...)" \
  "${IN_ROOT[@]}" bash -c 'cd /src/ffio && scripts/setup.sh'

FFMPEG=$("${IN_ROOT[@]}" ffmpeg -hide_banner -version | sed -n '1s/^ffmpeg version \([^ ]*\).*/\1/p')
LAVF=$("${IN_ROOT[@]}" pkg-config --modversion libavformat)
RELEASE="FFmpeg $FFMPEG (libavformat $LAVF)"
log "the root has $RELEASE"

# ---------------------------------------------------------------------------------------
# clippy and cargo test, both always run
# ---------------------------------------------------------------------------------------
# run_cargo WHAT COMMAND: runs the shell COMMAND in /src/ffio in the root, its output shown
# and kept in the root's /build/WHAT.log; returns its status.
run_cargo() {
  local what=$1 status=0
  log "$what"
  setsid "${IN_ROOT[@]}" bash -o pipefail -c "cd /src/ffio && $2 2>&1 | tee /build/$what.log" \
    </dev/null &
  CHILD=$!
  wait "$CHILD" || status=$?
  CHILD=
  return "$status"
}
clippy=ok
run_cargo clippy 'cargo clippy --all-targets --frozen -- -D warnings' || clippy=FAILED
tests=ok
run_cargo test 'cargo test --frozen' || tests=FAILED
counts=$(awk '/^test result: / {
    for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
  } END { printf "%d passed, %d failed", p, f }' "$ROOT/build/test.log")

SUMMARY="$SUITE: $RELEASE: clippy $clippy, cargo test $tests: $counts ($((SECONDS - START)) s)"
echo "$SUMMARY"
[ "$clippy" = ok ] && [ "$tests" = ok ]
