#!/bin/sh
# run-all.sh — the one command that runs every benchmark.
#
# Builds a Release tree in build-bench/ (tests off, benchmarks on), runs every
# bench_* executable it produced, one after another so they do not compete for
# the machine, and prints each one's table as it goes, then a summary: one
# JSON object with each benchmark's JSON line under its name.
#
#   bench/run-all.sh                  # defaults
#   bench/run-all.sh --duration 10    # extra arguments go to every benchmark
#   BENCH_BUILD_TYPE=RelWithDebInfo bench/run-all.sh   # another build type
#   BENCH_PG=0 bench/run-all.sh       # without the PostgreSQL figures
#
# Benchmarks print figures; nothing here compares them with a target. The exit
# status is 1 when a benchmark failed (no JSON line, or a non-zero exit, e.g.
# stored rows not matching acknowledged ones), else 0.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# bench_ingest measures PostgreSQL too when a server is at hand: with the
# postgresql package installed, everything runs beside a throwaway one
# (tests/pg/with-postgres.sh sets ANOMALOG_TEST_PG_URL). BENCH_PG=0: SQLite only.
if [ -z "${ANOMALOG_TEST_PG_URL:-}" ] && [ "${BENCH_PG:-1}" != 0 ] &&
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exec "$root/tests/pg/with-postgres.sh" "$here/run-all.sh" "$@"
fi
build="$root/build-bench"

if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${BENCH_BUILD_TYPE:-Release}" -DANOMALOG_TESTS=OFF \
        -DANOMALOG_BENCH=ON >/dev/null ||
    ! cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)"; then
    echo "run-all.sh: building $build failed: no benchmark was run" >&2
    exit 1
fi

export ANOMALOG_BIN="$build/anomalog"
out=$(mktemp -d "${TMPDIR:-/tmp}/anomalog-bench-all-XXXXXX")
trap 'rm -rf "$out"' EXIT

status=0
names=""
for exe in "$build"/bench/bench_*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    name=$(basename "$exe")
    echo "== $name" >&2
    if ! "$exe" "$@" | tee "$out/$name.out"; then
        echo "== $name exited non-zero" >&2
        status=1
    fi
    # the benchmark's JSON object is its last stdout line that starts with '{'
    json=$(grep '^{' "$out/$name.out" | tail -n 1 || true)
    if [ -z "$json" ]; then
        echo "== $name printed no JSON line" >&2
        json='{"error":"no result"}'
        status=1
    fi
    printf '%s' "$json" >"$out/$name.json"
    names="$names $name"
done

if [ -z "$names" ]; then
    echo "run-all.sh: no bench_* executable in $build/bench" >&2
    exit 1
fi

# {"bench_ingest": {...}, ...}
summary="{"
sep=""
for name in $names; do
    summary="$summary$sep\"$name\":$(cat "$out/$name.json")"
    sep=","
done
summary="$summary}"

echo "== summary" >&2
if command -v jq >/dev/null 2>&1; then
    printf '%s\n' "$summary" | jq . || printf '%s\n' "$summary"
else
    printf '%s\n' "$summary"
fi
exit $status
