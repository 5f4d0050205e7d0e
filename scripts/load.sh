#!/usr/bin/env bash
# External load against the release binary: wrk sends one-point ingest requests (8 and 32
# connections), the server delivers to a local receiver (1 and 10 subscriptions). Prints
# accepted/s, p99, deliveries/s while under load, drain time and peak RSS, then times a SIGTERM
# under load. Loopback only; every run stops by itself. Extra arguments go to the driver
# (server/src/bin/load.rs), e.g. `scripts/load.sh --seconds 60 --connections 32`. On PostgreSQL:
# `LABHOOK_TEST_ENGINE=postgres scripts/load.sh` (a scratch cluster of its own), or
# `scripts/load.sh --database postgres://user:pw@host/postgres` (your server: a fresh database
# per run, dropped after it), with `--instances 2` for two instances sharing it.
# `scripts/load.sh --latency [--rate 200,500] [--seconds 30]`: a fixed rate, one subscription;
# the ingest answer's and event → receiver p50, p99, p99.9 and max per rate.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTFLAGS="--cfg erase_components"   # the Makefile's flags: shared build artefacts

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk (apt)"
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi

cargo build --release --features ssr --bin labhook
cargo build --release -p server --features testing --bin load
if [ $# -eq 0 ]; then set -- --shutdown; fi
exec ./target/release/load --server target/release/labhook "$@"
