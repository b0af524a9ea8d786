#!/usr/bin/env bash
# Runs a command with a moto DynamoDB-compatible server on a free loopback
# port (one request at a time: see moto-serial.py), exported as
# DYNAMODB_TEST_ENDPOINT; stops the server afterwards.
#   scripts/with-moto.sh VENV COMMAND...
set -euo pipefail
venv=$1
shift
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="${TMPDIR:-/tmp}/gatebot-moto-$port.log"
"$venv/bin/python" "$(dirname "$0")/moto-serial.py" 127.0.0.1 "$port" >"$log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true; wait "$moto" 2>/dev/null || true' EXIT
ready=0
for _ in $(seq 1 150); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$moto" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "moto_server did not start on port $port:" >&2
  cat "$log" >&2
  exit 1
fi
echo "moto DynamoDB server on 127.0.0.1:$port"
export DYNAMODB_TEST_ENDPOINT="http://127.0.0.1:$port"
"$@"
