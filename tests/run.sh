#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (Debian's
# chromium and chromium-driver; axe-core from npm; moto and an OpenAPI validator from PyPI into tests/.venv), starts the AWS-API
# emulator on a free loopback port, runs every test of the workspace against it and the
# embedded store, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are slow on small machines: share one target folder between clones (CI runs in
# a fresh clone on the same machine) unless the caller chose another.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/beacon/target}"

# Browser tests drive Debian's Chromium, headless, directly and through chromedriver
# (WebDriver, for the console).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "==> installing chromium and chromium-driver (Debian packages)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export BEACON_TEST_CHROMIUM="$(command -v chromium)"
export BEACON_TEST_CHROMEDRIVER="$(command -v chromedriver)"

# The console's accessibility audit injects axe-core (pinned, from npm) into each screen.
echo "==> npm ci (axe-core, for the console's accessibility audit)"
npm ci --prefix tests/a11y --no-audit --no-fund --loglevel=error
export BEACON_TEST_AXE="$PWD/tests/a11y/node_modules/axe-core/axe.min.js"

# shellcheck source=tests/moto.sh
source tests/moto.sh

echo "==> cargo test --workspace"
cargo test --workspace --locked

echo "==> the deployment: functions built by cargo-lambda, CDK assertions, cdk-nag, synth"
infra/test.sh

echo "==> each function under cargo lambda watch, invoked with real events against moto"
BEACON_BIN="$CARGO_TARGET_DIR/debug/beacon" tests/.venv/bin/python tests/lambda_watch.py
