# Sourced by the test scripts: installs tests/requirements.txt (moto, the OpenAPI
# validator) into tests/.venv (ignored by git) and starts moto on a free loopback port.
# Exports BEACON_TEST_MOTO_URL and BEACON_TEST_OPENAPI_VALIDATOR; the trap stops moto on exit.
# If it cannot start, the caller fails: the suites that need it never skip silently.

beacon_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$beacon_root/tests/.venv"

if [ ! -x "$venv/bin/moto_server" ] || ! cmp -s "$beacon_root/tests/requirements.txt" "$venv/.requirements"; then
    echo "==> installing moto into tests/.venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$beacon_root/tests/requirements.txt"
    cp "$beacon_root/tests/requirements.txt" "$venv/.requirements"
fi

moto_port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
moto_log="$(mktemp -t beacon-moto.XXXXXX.log)"
MOTO_PORT="$moto_port" "$venv/bin/python" "$beacon_root/tests/moto_server.py" -H 127.0.0.1 -p "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    if "$venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "moto server exited; its log:" >&2
        cat "$moto_log" >&2
        exit 1
    fi
    sleep 0.2
done
if ! "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=2)"; then
    echo "moto server did not answer on 127.0.0.1:$moto_port; its log:" >&2
    cat "$moto_log" >&2
    exit 1
fi
export BEACON_TEST_MOTO_URL="http://127.0.0.1:$moto_port"
export BEACON_TEST_OPENAPI_VALIDATOR="$venv/bin/openapi-spec-validator"
echo "==> moto server at $BEACON_TEST_MOTO_URL"
