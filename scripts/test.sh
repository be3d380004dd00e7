#!/usr/bin/env bash
# The whole test suite: installs what it needs, then formatting, lints, every test (unit,
# integration, examples, doc tests), and the same tests and both examples again under
# valgrind's memcheck (scripts/memcheck.sh), and a short fuzzing run of the fuzz targets
# demux_slice and demux_flaky (scripts/fuzz.sh; FFIO_FUZZ_SECONDS, default 30 per target;
# playlist runs on request only, see fuzz/README.md); then clippy and cargo test
# again against FFmpeg 7.1 (Debian 13 "trixie") and the newest FFmpeg Debian ships (sid),
# each in a fresh throwaway Debian root (scripts/test-ffmpeg.sh; needs root, through sudo
# otherwise). memcheck and fuzzing run on the host only. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Plain `cargo test` builds the example programs that tests/examples.rs runs (with
# --all-targets it would build them only as test harnesses), and runs the doc tests.
cargo test --locked
# The optional `log` feature: FFmpeg's messages as `log` records (tests/logging.rs).
cargo clippy --all-targets --locked --features log -- -D warnings
cargo test --locked --features log --test logging
scripts/memcheck.sh
scripts/fuzz.sh "${FFIO_FUZZ_SECONDS:-30}"

# Newer FFmpeg releases. Both always run; their one-line summaries (release, results) are
# repeated at the end.
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else
  SUDO=(sudo env "PATH=$PATH" "HOME=$HOME" ${CARGO_HOME:+"CARGO_HOME=$CARGO_HOME"}
        ${RUSTUP_HOME:+"RUSTUP_HOME=$RUSTUP_HOME"})
fi
status=0
summaries=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for suite in trixie sid; do
  # Shown as it runs and kept for its last line (tee to a file of our own: `tee /dev/stderr`
  # would truncate a log file that stderr is redirected to).
  "${SUDO[@]}" scripts/test-ffmpeg.sh "$suite" | tee "$out" || status=1
  line=$(tail -n 1 "$out")
  [[ $line == "$suite: "* ]] || line="$suite: FAILED before the summary (see above)"
  summaries+=("$line")
done
printf '%s\n' "${summaries[@]}"
exit "$status"
