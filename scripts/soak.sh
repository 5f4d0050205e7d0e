#!/usr/bin/env bash
# A soak: one-point ingest requests at a steady rate (default 1,000/s) for a long time (default
# 30 minutes), each delivered to 10 subscriptions on a receiver in the driver, against the
# release binary on loopback; the server's RSS every 10 s. Writes target/soak/soak-rss.csv and
# soak-rss.png and says whether RSS stayed within ±10% of its median after a 2-minute warm-up.
# Stops by itself. Extra arguments go to the driver, e.g. `scripts/soak.sh --seconds 300`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTFLAGS="--cfg erase_components"   # the Makefile's flags: shared build artefacts

cargo build --release --features ssr --bin labhook
cargo build --release -p server --features testing --bin load
exec ./target/release/load --server target/release/labhook --soak \
  --rate 1000 --seconds 1800 --subscriptions 10 "$@"
