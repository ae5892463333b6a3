#!/usr/bin/env bash
# The deployment's offline tests (part of tests/run.sh): builds every function with
# cargo-lambda and prints each zip's size, runs the CDK assertion and cdk-nag tests, and
# synthesises the app with the pinned CDK CLI and no AWS credentials.
set -euo pipefail
cd "$(dirname "$0")"

# arm64 unless Rust's aarch64 standard library is missing here (it cannot be fetched on
# every machine): then x86_64, the stack's one documented switch.
arch="${BEACON_LAMBDA_ARCH:-}"
if [ -z "$arch" ]; then
    if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
        arch=arm64
    else
        arch=x86_64
        echo "==> note: Rust's aarch64 standard library is not installed; building and synthesising x86_64 (-c arch=x86_64)"
    fi
fi

echo "==> npm ci (infra)"
npm ci --no-audit --no-fund --loglevel=error

echo "==> building the functions with cargo-lambda ($arch)"
./build-functions.sh "$arch"

echo "==> CDK assertion and cdk-nag tests"
npx tsc -p .
node --test dist/test/

echo "==> cdk synth (no AWS credentials, no network)"
out="$(mktemp -d -t beacon-cdk-out.XXXXXX)"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true \
    npx cdk synth --no-notices --no-version-reporting -c "arch=$arch" --output "$out" --quiet
test -s "$out/Beacon.template.json"
functions="$(grep -c '"Runtime": "provided.al2023"' "$out/Beacon.template.json")"
if [ "$functions" -ne 9 ]; then
    echo "expected 9 Rust functions in the template (api, hooks, publish, relay, planner, deliverer, feedback, probe, scheduler), found $functions" >&2
    exit 1
fi
echo "==> synthesised $(grep -c '"Type": "AWS::' "$out/Beacon.template.json") resources into $out"
