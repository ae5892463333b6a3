#!/usr/bin/env bash
# Builds every Lambda function with cargo-lambda, zipped, into infra/build/lambda:
#   <function>/bootstrap.zip  for each of api, hooks, publish, fanout, probe, scheduler
#   build.json                the architecture they were built for (the CDK app checks it)
#
# Usage: infra/build-functions.sh [arm64|x86_64]
# The architecture defaults to $BEACON_LAMBDA_ARCH, else arm64 (Graviton: cheaper, and
# the stack's default). Deploy x86_64 builds with `npx cdk deploy -c arch=x86_64`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
arch="${1:-${BEACON_LAMBDA_ARCH:-arm64}}"
case "$arch" in
  arm64) target=aarch64-unknown-linux-gnu; flag=--arm64 ;;
  x86_64) target=x86_64-unknown-linux-gnu; flag=--x86-64 ;;
  *) echo "error: unknown architecture '$arch' (arm64 or x86_64)" >&2; exit 2 ;;
esac

if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "installing cargo-lambda (with zig) from PyPI" >&2
  python3 -m pip install --quiet cargo-lambda==1.9.2
fi

# cargo-lambda cross-compiles with zig but needs Rust's standard library for the target.
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  cat >&2 <<MSG
error: cannot build for $arch: Rust's standard library for $target is not installed.
       Install it with:   rustup target add $target
       or build for x86_64 instead:
           infra/build-functions.sh x86_64
           (cd infra && npx cdk deploy -c arch=x86_64)
MSG
  exit 1
fi

out="$here/build/lambda"
rm -rf "$out"
mkdir -p "$out"
cd "$root"
cargo lambda build --profile lambda "$flag" --output-format zip \
  -p beacon-function-api -p beacon-function-hooks -p beacon-function-publish -p beacon-function-fanout \
  -p beacon-function-probe -p beacon-function-scheduler --lambda-dir "$out"
printf '{"arch":"%s","target":"%s"}\n' "$arch" "$target" > "$out/build.json"

# Recompress each zip with zopfli (same file, same mode, a smaller standard deflate).
if ! python3 -c 'import zopfli' 2>/dev/null; then
  python3 -m pip install --quiet zopfli==0.4.3
fi
repacks=()
for zip in "$out"/*/bootstrap.zip; do
  python3 "$here/repack_zip.py" "$zip" &
  repacks+=("$!")
done
for pid in "${repacks[@]}"; do
  wait "$pid" # a failed repack fails the build (set -e)
done

limit=$((3 * 1024 * 1024))
for zip in "$out"/*/bootstrap.zip; do
  name="$(basename "$(dirname "$zip")")"
  size="$(stat -c %s "$zip")"
  verdict=ok
  if [ "$size" -gt "$limit" ]; then verdict="ABOVE TARGET"; fi
  awk -v n="$name" -v a="$arch" -v s="$size" -v v="$verdict" \
    'BEGIN { printf "function %-8s %s: %d bytes (%.2f MiB; target at most 3 MiB) %s\n", n, a, s, s / 1048576, v }'
done
