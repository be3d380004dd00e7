#!/usr/bin/env bash
# The whole test suite: installs what it needs, then formatting, lints, and every test
# (unit, integration, examples, doc tests). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
cargo test --doc --locked
