#!/bin/sh
# run-all.sh — the one command that runs every benchmark.
#
# Builds a Release tree in build-bench/ (tests off, benchmarks on), runs every
# bench_* executable it produced, one after another so they do not compete for
# the machine, and prints each one's table as it goes (stderr carries their
# progress), then the summary on stdout: one table with a row per target
# (figure, the limit measured in the same run, ratio, target, met), and the
# same as one JSON object: {"summary": [rows], "results": {"bench_ingest":
# {its JSON line}, ...}}. The rows are read from the benchmarks' JSON lines by
# the jq program below; a benchmark that failed shows as a row saying so.
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
results="{"
sep=""
for name in $names; do
    results="$results$sep\"$name\":$(cat "$out/$name.json")"
    sep=","
done
results="$results}"

# One row per target, from each benchmark's JSON (numbers rounded for reading).
rows='
def r(x; n): (x * pow(10; n) | round) / pow(10; n);
def row(b; what; figure; limit; ratio; target; met): {bench: b, what: what, figure: figure, limit: limit,
    ratio: ratio, target: target, met: met};
def failed(b): row(b; "(failed)"; (.[b].error // "no result"); ""; null; ""; false);
[
  (if .bench_ingest.ratio then .bench_ingest as $i |
     row("ingest"; "NDJSON batch=\($i.batch), \($i.connections) connections, \($i.event_times // "replay") event times";
         "\($i.ingest_1000_lines_per_s) lines/s";
         "raw sqlite \($i.raw_sqlite_rows_per_s) rows/s"; r($i.ratio; 3); ">= 0.75"; $i.ratio >= 0.75),
     row("ingest"; "NDJSON batch=10"; "\($i.ingest_10_lines_per_s) lines/s";
         "batch=\($i.batch) \($i.ingest_1000_lines_per_s) lines/s"; r($i.batch_ratio; 3); ">= 0.50"; $i.batch_ratio >= 0.5),
     row("ingest"; "p99 at \($i.rate_fraction * 100 | round)% of peak"; "\(r($i.p99_at_80_ms; 1)) ms"; ""; null; "< 50 ms";
         $i.p99_at_80_ms < 50),
     row("ingest"; "peak RSS"; "\($i.peak_rss_mib) MiB"; ""; null; "< 128 MiB"; $i.peak_rss_mib < 128),
     (if $i.raw_pg_copy_rows_per_s > 0 then
        row("ingest"; "PostgreSQL, one server, batch=\($i.batch)"; "\($i.pg_1_lines_per_s) lines/s";
            "raw COPY x\($i.raw_pg_copy_rows) \($i.raw_pg_copy_rows_per_s) rows/s"; r($i.pg_ratio; 3); ">= 0.50";
            $i.pg_ratio >= 0.5),
        row("ingest"; "PostgreSQL, one server, batch=\($i.batch)"; "\($i.pg_1_lines_per_s) lines/s";
            "one raw COPY \($i.raw_pg_one_copy_rows_per_s) rows/s"; r($i.pg_one_copy_ratio; 3); ">= 0.50";
            $i.pg_one_copy_ratio >= 0.5)
      else empty end)
   else failed("bench_ingest") end),
  (if .bench_query.query_p99_worst_ms then .bench_query as $q |
     row("query"; "GET /anomalies, /windows p99 (worst of \($q.queries | length))";
         "\(r($q.query_p99_worst_ms; 2)) ms"; "/healthz p99 \(r($q.healthz_p99_ms; 2)) ms"; null; "< 10 ms";
         $q.query_p99_worst_ms < 10 and ($q.errors | not)),
     row("query"; "start-up, \($q.lines) lines (median of \($q.starts))"; "\(r($q.startup_median_ms; 0)) ms";
         "1/10 the lines \(r($q.startup_small_median_ms; 0)) ms"; r($q.startup_ratio_10x_data; 2); "< 300 ms";
         $q.startup_max_ms < 300)
   else failed("bench_query") end),
  (if .bench_digest.token_ratio then .bench_digest as $d |
     row("digest"; "prompt tokens, \($d.lines) lines"; "\($d.digest_prompt_tokens) tokens";
         "seed \($d.seed_prompt_tokens) tokens"; r($d.token_ratio; 1); ">= 20x fewer"; $d.met_tokens),
     row("digest"; "model calls per service-window"; "\($d.calls_per_service_window)"; "seed \(r($d.seed_calls / $d.service_windows; 2))";
         null; "<= 1"; $d.met_calls),
     row("digest"; "digest of \($d.window_lines) lines"; "\(r($d.digest_ms; 1)) ms"; "len+FNV \(r($d.limit_ms; 2)) ms";
         r($d.latency_ratio; 1); "< 200 ms"; $d.met_latency)
   else failed("bench_digest") end),
  (if .bench_soak.rss_plateau != null then .bench_soak as $s |
     row("soak"; "\($s.duration_s) s of ingest, analysis, notification, retention";
         "RSS \($s.rss_kib_last_max / 1024 | round) MiB (last third)"; "middle third \($s.rss_kib_middle_max / 1024 | round) MiB";
         null; "levels off, no error"; $s.rss_plateau and $s.errors == 0)
   else failed("bench_soak") end),
  (if .bench_scale.rate_ratio then .bench_scale as $c |
     row("scale"; "\($c.largest_services) services analysed, peak RSS"; "\($c.largest_services_peak_rss_mib) MiB";
         "\(r($c.kib_per_service; 1)) KiB per added service"; null; "< 512 MiB"; $c.largest_services_peak_rss_mib < 512),
     row("scale"; "windows/s, most services over fewest"; "\(r($c.rate_ratio; 2))"; ""; r($c.rate_ratio; 2); ">= 0.5";
         $c.rate_ratio >= 0.5),
     row("scale"; "window of \($c.largest_window_lines) lines, a quarter distinct, peak RSS";
         "\($c.largest_window_quarter_peak_rss_mib) MiB"; ""; null; "< 300 MiB"; $c.largest_window_quarter_peak_rss_mib < 300)
   else failed("bench_scale") end),
  (if .bench_miner.ratio then .bench_miner as $m |
     row("miner"; "template miner, \($m.services) services"; "\($m.miner_lines_per_s) lines/s";
         "split+hash \($m.limit_lines_per_s) lines/s"; r($m.ratio; 3); ">= 1000000/s"; $m.met)
   else failed("bench_miner") end)
]'
summary=$(printf '%s\n' "$results" | jq -c "$rows") || {
    echo "run-all.sh: the JSON lines of the benchmarks could not be summarised" >&2
    printf '%s\n' "$results"
    exit 1
}

echo "== summary" >&2
printf '%s\n' "$summary" | jq -r '
  ["benchmark", "what", "figure", "limit (same run)", "ratio", "target", "met"],
  (.[] | [.bench, .what, .figure, .limit, (.ratio // "" | tostring), .target, (if .met then "yes" else "no" end)])
  | @tsv' | column -t -s "$(printf '\t')"
printf '{"summary":%s,"results":%s}\n' "$summary" "$results" | jq -c .
exit $status
