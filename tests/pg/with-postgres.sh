#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...] — runs CMD beside a throwaway PostgreSQL server.
#
# Starts Debian's PostgreSQL (initdb + pg_ctl) in a temporary directory on a
# free loopback port, creates the database `anomalog`, exports its URL as
# ANOMALOG_TEST_PG_URL, runs CMD, and always stops the server and removes the
# directory afterwards. CMD's exit status is this script's.
#
# Without PostgreSQL it exits 77 (ctest: skipped) on a developer's machine,
# but 1 (a failure naming what is missing) in CI: $CI=true or
# $ANOMALOG_TEST_STRICT=1 (.ci/run exports it).
#
# PostgreSQL refuses to run as root: as root, the server runs as the
# `postgres` user the package creates, in a directory it owns.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ ! -x "$PGBIN/initdb" ]; then
  echo "with-postgres.sh: missing dependency: no PostgreSQL server found (install the postgresql package: scripts/deps.sh)" >&2
  if [ "${CI:-}" = true ] || { [ -n "${ANOMALOG_TEST_STRICT:-}" ] && [ "${ANOMALOG_TEST_STRICT}" != 0 ]; }; then
    exit 1  # CI: a missing dependency fails
  fi
  exit 77  # ctest: skipped
fi

dir=$(mktemp -d /tmp/anomalog-pg-XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  chmod 700 "$dir"
  as_pg=(runuser -u postgres --)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

"${as_pg[@]}" "$PGBIN/initdb" -D "$dir/data" -U anomalog --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off: a test server, thrown away after the run
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
"${as_pg[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U anomalog anomalog

export ANOMALOG_TEST_PG_URL="postgresql://anomalog@127.0.0.1:$port/anomalog"
set +e
"$@"
rc=$?
set -e
exit $rc
