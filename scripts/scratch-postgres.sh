#!/usr/bin/env bash
# Runs one command beside a throw-away PostgreSQL: Debian's server (scripts/tools.sh installs
# it) in a temporary directory — as the `postgres` account when run as root —, on a free
# loopback port, with an empty database `labhook`. The command finds its URL in
# LABHOOK_SCRATCH_DATABASE; the cluster is stopped and removed however the command ends.
#
#   scripts/scratch-postgres.sh npx playwright test install.spec.ts
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "no PostgreSQL server programs: run scripts/tools.sh" >&2; exit 1; }
dir=$(mktemp -d /tmp/labhook-pg.XXXXXX)
as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
  as=(runuser -u postgres --)
fi
cleanup() {
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
# A port nobody answers on.
while :; do
  port=$((20000 + RANDOM % 20000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
"${as[@]}" "$bin/initdb" -D "$dir/data" -U labhook -A trust -E UTF8 --no-locale --no-sync >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $dir" start >/dev/null
"${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U labhook labhook
export LABHOOK_SCRATCH_DATABASE="postgres://labhook@127.0.0.1:$port/labhook"
"$@"
