#!/usr/bin/env bash
# The whole test suite: installs what it needs, then formatting, lints, every test (unit,
# integration, examples, doc tests), and the same tests and both examples again under
# valgrind's memcheck (scripts/memcheck.sh), and a short fuzzing run of each fuzz target
# (scripts/fuzz.sh; FFIO_FUZZ_SECONDS, default 30 per target). Usage: scripts/test.sh
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
