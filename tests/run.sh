#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (moto from
# PyPI into tests/.venv), starts the AWS-API emulator on a free loopback port, runs every
# test of the workspace against it and the embedded store, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are slow on small machines: share one target folder between clones (CI runs in
# a fresh clone on the same machine) unless the caller chose another.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/beacon/target}"

# shellcheck source=tests/moto.sh
source tests/moto.sh

echo "==> cargo test --workspace"
cargo test --workspace --locked
