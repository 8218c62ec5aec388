#!/bin/bash
# soak.sh — bench_soak: minutes of steady ingest with windows closing, being
# analysed by the fake model and notifying, and retention deleting behind
# them; prints every 10 s what would show a leak or a backlog, then whether
# the server's memory levelled off.
#
# What runs: the real `anomalog serve` on a loopback port with a fresh
# database and tests/fake/fake_llm as its model (the "good" analyst: error
# lines become error_spike anomalies), 10 s windows, 2 s grace, every window
# sent to the model, every anomaly notified to a JSONL file (suppression 5 s,
# so notifications keep flowing through the outbox), retention.lines 30 s and
# retention.windows 2 min, so that retention runs many cycles in a few
# minutes. A client POSTs NDJSON bodies of LINES lines (no timestamps: the
# receive time is the event time) at a fixed RATE of posts per second, one
# curl per post; three services; one line in seven posts is an error.
#
# Every 10 s it prints: seconds since start, the server's RSS (VmRSS), the
# writer queue depth, the analysis backlog (windows closed or analysing),
# the outbox depth (pending notifications), the database size
# (page_count * page_size) and the WAL file size, lines deleted by retention
# so far, and errors so far (answers other than 202, model calls that did not
# succeed, failed windows, failed deliveries, warn/error lines in the server
# log). At the end: whether RSS levelled off (largest sample of the last
# third against the largest of the middle third, within 5% + 2 MiB), and one
# JSON line with the figures.
#
#   bench/soak.sh [--duration S] [--rate N] [--lines N]     (S default $SOAK_SECONDS, else 180)
#
# run-all.sh runs it as build-bench/bench/bench_soak, with the binaries
# beside it (ANOMALOG_BIN, FAKE_LLM_BIN override). It prints figures and
# asserts no timing; the exit status is 1 when the server could not be run
# or an error was counted, 2 on a bad argument.
set -eu

duration=${SOAK_SECONDS:-180}
rate=10
lines=200
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --duration=*) duration=${1#*=}; shift ;;
        --rate) rate=${2:?--rate needs a value}; shift 2 ;;
        --rate=*) rate=${1#*=}; shift ;;
        --lines) lines=${2:?--lines needs a value}; shift 2 ;;
        --lines=*) lines=${1#*=}; shift ;;
        -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_soak: ignoring argument $1" >&2; shift ;;
    esac
done
for v in "$duration" "$rate" "$lines"; do
    case "$v" in ''|*[!0-9]*|0) echo "bench_soak: expected a positive integer, got '$v'" >&2; exit 2 ;; esac
done

here=$(cd "$(dirname "$0")" && pwd)
bin=${ANOMALOG_BIN:-$here/../anomalog}
fake=${FAKE_LLM_BIN:-$here/../tests/fake/fake_llm}
for f in "$bin" "$fake"; do
    [ -x "$f" ] || { echo "bench_soak: $f is not an executable (build anomalog and fake_llm first)" >&2; exit 1; }
done
command -v curl >/dev/null && command -v sqlite3 >/dev/null ||
    { echo "bench_soak: needs curl and sqlite3" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/anomalog-soak-XXXXXX")
srv_pid=""
fake_pid=""
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# waits for "listening on HOST:PORT" in a log file; prints the port
port_of() {
    for _ in $(seq 1 200); do
        p=$(grep -o 'listening on [^ ]*:[0-9]*' "$1" 2>/dev/null | head -n 1 | sed 's/.*://')
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.05
    done
    echo "bench_soak: no 'listening on' line in $1:" >&2
    cat "$1" >&2
    return 1
}

"$fake" --port 0 2>"$dir/fake.log" &
fake_pid=$!
fport=$(port_of "$dir/fake.log")

cat >"$dir/soak.yaml" <<YAML
suppress: 5s
destinations:
  review: {type: file, path: $dir/alerts.jsonl}
routes:
  - match: {}
    to: review
YAML
"$bin" serve --listen 127.0.0.1:0 --db "$dir/soak.db" --config "$dir/soak.yaml" --llm-url "http://127.0.0.1:$fport/v1" \
    --window 10s --grace 2s --analysis-skip-quiet-windows false --log-format json \
    --retention-lines 30s --retention-windows 2m 2>"$dir/server.log" &
srv_pid=$!
port=$(port_of "$dir/server.log")
base="http://127.0.0.1:$port"

# seven bodies, used in turn; the first has one error line
for k in 0 1 2 3 4 5 6; do
    awk -v k="$k" -v n="$lines" 'BEGIN {
        for (i = 0; i < n; i++) {
            lvl = (k == 0 && i == 0) ? "error" : "info"
            msg = (lvl == "error") ? "upstream payments timed out after 30000 ms" \
                                   : sprintf("GET /api/items/%d 200 %d ms user=u%d", (k * n + i) % 977, (k + i) % 97, i % 13)
            printf "{\"service\":\"svc%d\",\"level\":\"%s\",\"message\":\"%s\"}\n", (k + i) % 3, lvl, msg
        }
    }' >"$dir/body$k"
done

us() { local t=$EPOCHREALTIME; echo $(( ${t/./} )); }   # microseconds, monotone enough for pacing

metric() { awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }' "$dir/metrics"; }
metric_sum() { awk -v p="$1" 'index($1, p) == 1 { s += $2 } END { print s + 0 }' "$dir/metrics"; }

refused=0
posts=0
rss_samples=()
printf '%6s %9s %6s %8s %7s %10s %9s %10s %7s\n' t_s rss_kib queue backlog outbox db_bytes wal_bytes deleted errors
sample() {
    local t=$1 rss queue backlog outbox dbb wal deleted failed_calls failed_windows failed_sends logged errors
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$srv_pid/status")
    curl -s "$base/metrics" >"$dir/metrics"
    queue=$(metric anomalog_writer_queue_depth)
    backlog=$(( $(metric 'anomalog_windows{status="closed"}') + $(metric 'anomalog_windows{status="analyzing"}') ))
    outbox=$(sqlite3 "$dir/soak.db" "PRAGMA busy_timeout=2000; SELECT count(*) FROM outbox WHERE status = 'pending'" | tail -n 1)
    dbb=$(metric anomalog_database_size_bytes)
    wal=$(stat -c %s "$dir/soak.db-wal" 2>/dev/null || echo 0)
    deleted=$(metric 'anomalog_retention_deleted_rows_total{table="logs"}')
    failed_calls=$(( $(metric_sum anomalog_model_calls_total) - $(metric 'anomalog_model_calls_total{outcome="ok"}') ))
    failed_windows=$(metric 'anomalog_windows{status="failed"}')
    failed_sends=$(awk '$1 ~ /^anomalog_notifications_total/ && $1 !~ /outcome="sent"/ { s += $2 } END { print s + 0 }' "$dir/metrics")
    logged=$(grep -c '"level":"\(warn\|error\)"' "$dir/server.log" || true)
    errors=$(( refused + failed_calls + failed_windows + failed_sends + logged ))
    rss_samples+=("$rss")
    printf '%6d %9d %6d %8d %7d %10d %9d %10d %7d\n' "$t" "$rss" "$queue" "$backlog" "$outbox" "$dbb" "$wal" \
        "$deleted" "$errors"
    last_errors=$errors last_db=$dbb last_deleted=$deleted
    [ "$dbb" -gt "${max_db:-0}" ] && max_db=$dbb
    return 0
}

t0=$(us)
end=$(( t0 + duration * 1000000 ))
next_sample=$(( t0 + 10000000 ))
while :; do
    now=$(us)
    [ "$now" -lt "$end" ] || break
    if [ "$now" -ge "$next_sample" ]; then
        sample $(( (now - t0) / 1000000 ))
        next_sample=$(( next_sample + 10000000 ))
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$dir/body$(( posts % 7 ))" "$base/ingest" || true)
    [ "$code" = 202 ] || refused=$(( refused + 1 ))
    posts=$(( posts + 1 ))
    # fixed rate: the next post is due at its slot, whatever this one took
    due=$(( t0 + posts * 1000000 / rate ))
    now=$(us)
    [ "$due" -gt "$now" ] && sleep "$(printf '0.%06d' $(( due - now < 1000000 ? due - now : 999999 )))"
done
sample $(( ($(us) - t0) / 1000000 ))

n=${#rss_samples[@]}
third=$(( n / 3 ))
mid_max=0 last_max=0
for ((i = third; i < 2 * third; i++)); do [ "${rss_samples[i]}" -gt "$mid_max" ] && mid_max=${rss_samples[i]}; done
for ((i = 2 * third; i < n; i++)); do [ "${rss_samples[i]}" -gt "$last_max" ] && last_max=${rss_samples[i]}; done
plateau=false
[ "$third" -gt 0 ] && [ "$last_max" -le $(( mid_max * 105 / 100 + 2048 )) ] && plateau=true
echo "posts $posts ($(( posts * lines )) lines) in ${duration}s; refused $refused"
echo "RSS: middle third max $mid_max KiB, last third max $last_max KiB: plateau $plateau"
printf '{"duration_s":%d,"rate_posts_s":%d,"lines_per_post":%d,"lines":%d,"refused":%d,"errors":%d,"rss_kib_middle_max":%d,"rss_kib_last_max":%d,"rss_plateau":%s,"db_bytes_max":%d,"db_bytes_end":%d,"retention_deleted_lines":%d}\n' \
    "$duration" "$rate" "$lines" $(( posts * lines )) "$refused" "$last_errors" "$mid_max" "$last_max" "$plateau" \
    "${max_db:-0}" "$last_db" "$last_deleted"
[ "$last_errors" -eq 0 ]
