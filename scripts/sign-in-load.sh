#!/usr/bin/env bash
# Sign-in under load: 500 concurrent sign-ins against the release binary; prints how they were
# answered and the server's peak resident memory (VmHWM). Usage: scripts/sign-in-load.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
BIN=target/release/labhook
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
DIR=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
"$BIN" --database "$DIR/load.db" serve --demo --listen "127.0.0.1:$PORT" \
  --sign-ins-per-minute 100000 >"$DIR/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.1; done
echo "idle: $(grep VmHWM /proc/$PID/status)"
START=$(date +%s.%N)
seq "$N" | xargs -P "$N" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
  -d 'email=admin@demo.lab&password=demo-admin-pass' "http://127.0.0.1:$PORT/api/sign_in" \
  | sort | uniq -c
END=$(date +%s.%N)
echo "after $N concurrent sign-ins ($(echo "$END - $START" | bc) s): $(grep VmHWM /proc/$PID/status)"
