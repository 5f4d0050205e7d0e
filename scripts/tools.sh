#!/usr/bin/env bash
# Installs what building and testing Labhook needs, skipping whatever is already there.
# Pinned versions: see ../README.md ("How the build works") and shared TOOLCHAIN notes.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10     # 0.3.11 needs rustc >= 1.96
WASM_BINDGEN_VERSION=0.2.130    # must equal the wasm-bindgen pinned in Cargo.toml

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; exit 1; fi
}

# Debian's Chromium for Playwright (Playwright cannot download its own browser here), the
# headers some crates build against, and Debian's PostgreSQL server, which the Postgres tests
# start themselves in a scratch directory (the package's own cluster is not used), and
# poppler's pdftotext, with which the tests read the records' PDF exports back as text, and
# Python's venv, for the OPC UA server the sources' tests run (below).
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3 python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes ~13 minutes once)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes ~3 minutes once)"
  # Not --locked: one of its locked dependencies is no longer in the index.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# Playwright and wasm-opt (npm's binaryen; Debian's is too old and breaks hydration).
if [ ! -x end2end/node_modules/.bin/playwright ] || [ end2end/package-lock.json -nt end2end/node_modules/.installed ]; then
  say "installing the end-to-end test packages (npm)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  touch end2end/node_modules/.installed
fi

# The OPC UA server the sources' tests talk to: FreeOpcUa's asyncua (Python, from PyPI), in a
# virtual environment of its own under target/ (server/tests/opcua/).
venv=target/opcua-venv
if [ ! -x "$venv/bin/python" ] || [ server/tests/opcua/requirements.txt -nt "$venv/.installed" ]; then
  say "installing the test instrument's OPC UA server (asyncua, pip)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r server/tests/opcua/requirements.txt
  touch "$venv/.installed"
fi
