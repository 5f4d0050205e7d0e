#!/usr/bin/env bash
# How soon pages work (issue 25): from navigation start to the first enabled control, in
# Chromium with the CPU slowed 4× (Chrome DevTools protocol), on a first visit (empty cache) and
# the next one — against the release build (`make build` first) on a demo database of its own,
# loopback only. Prints medians of five runs per page; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
port=${PORT:-3961}
./target/release/labhook --database "$dir/lab.db" serve --demo --listen "127.0.0.1:$port" \
  --site-root target/site --sign-ins-per-minute 1000 >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
cd end2end && node measure/interactive.mjs "http://127.0.0.1:$port" "${RUNS:-5}"
