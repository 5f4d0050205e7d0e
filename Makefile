# The two commands of the README:
#   make run   build (release) and serve the app on http://127.0.0.1:3000 with demo data
#              (receivers on this machine allowed: the demo's registered URL is 127.0.0.1:9999,
#              where the demo LIMS stand-in answers the scanner's webhooks)
#   make test  run every test: Rust unit and integration tests (the integration suites on SQLite,
#              then again on a scratch PostgreSQL), then Playwright on a release build
# Both install missing tools first (scripts/tools.sh).

SHELL := /bin/bash
# cargo-leptos finds wasm-bindgen in ~/.cargo/bin and wasm-opt in end2end's node_modules.
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)
# Every cargo invocation uses the flags cargo-leptos uses (always-erase-components in
# Cargo.toml), so that they share build artefacts: type-erased components also keep debug
# builds small and quick.
export RUSTFLAGS := --cfg erase_components
export CARGO_TERM_COLOR ?= always

.PHONY: run test tools build test-rust test-e2e lint fmt bench clean-data

# The demo LIMS stand-in answers the scanner's webhooks on the demo's registered local URL
# (127.0.0.1:9999) and stops with the server.
run: tools build
	./target/release/labhook demo-lims & lims=$$!; trap 'kill $$lims 2>/dev/null' EXIT; \
	./target/release/labhook serve --demo --demo-lims --simulate --allow-loopback-targets

test: tools test-rust build test-e2e

tools:
	@./scripts/tools.sh

# The release build (server and browser bundle) is made again only when a file it is made from
# is newer than the last one: with nothing changed, `make run` serves at once and `make test`
# skips it (cargo-leptos itself would run wasm-bindgen and wasm-opt again, over a minute).
BUILD_INPUTS := $(shell find src app server style public -type f) Cargo.toml Cargo.lock
BUILT := target/release/.labhook-built

# (A stamp without the binary or the bundle beside it counts as no build.)
build:
	@[ -x target/release/labhook ] && [ -d target/site/pkg ] || rm -f $(BUILT)
	@$(MAKE) --no-print-directory $(BUILT)

# The bundle is split by route (`--split`: the later pages' code comes in chunks when they are
# opened, app/src/routes.rs) and served pre-compressed (brotli, and gzip for browsers without
# it): cargo-leptos writes both, its gzip at a fast level, so the gzip copies are made again at
# the best one.
$(BUILT): $(BUILD_INPUTS)
	cargo leptos build --release --precompress --split
	for f in target/site/pkg/*.gz; do [ -e "$$f" ] || continue; gzip -9 -n -c "$${f%.gz}" > "$$f"; done
	touch $@

# The integration suites (`--test it`) run a second time on PostgreSQL: each instance gets a
# database of its own in one scratch cluster (server::harness::postgres).
test-rust:
	cargo test --workspace --features labhook/ssr,server/testing
	LABHOOK_TEST_ENGINE=postgres cargo test --workspace --features labhook/ssr,server/testing --test it

# The walk from an empty server to a received webhook runs a second time on PostgreSQL.
test-e2e:
	cd end2end && npx playwright test
	cd end2end && ../scripts/scratch-postgres.sh npx playwright test install.spec.ts

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --features labhook/ssr,server/testing --all-targets -- -D warnings

fmt:
	cargo fmt --all

# Forget the local database of `make run` (demo data is created again on the next start).
clean-data:
	rm -rf data
