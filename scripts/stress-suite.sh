#!/usr/bin/env bash
# stress-suite.sh [REPS] [BUSY] — the plain suite under background CPU load.
#
# Starts BUSY busy loops (default: one per core, `nproc`) at normal priority,
# then runs the plain suite (ctest -j2 -LE pg on build/, built first) REPS times
# (default 3), and stops the loops. A test that waits on luck (a sleep instead
# of an observation, a time limit that does not scale) fails here first.
# Prints one line per repetition and the failed tests; exits 1 when any
# repetition failed. Not part of CI (it takes REPS times the suite's time);
# run it after changing tests or anything that times itself.
#   CTEST_ARGS="-R e2e" scripts/stress-suite.sh 5     # a subset, five times
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
busy=${2:-$(nproc)}
dir=${BUILD_DIR:-build}

[ -d "$dir" ] || ./dev build plain
cmake --build "$dir" -j2 >/dev/null

pids=()
stop_load() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_load EXIT
for _ in $(seq "$busy"); do
  sh -c 'while :; do :; done' &
  pids+=($!)
done
echo "== load: $busy busy loop(s) (pids ${pids[*]}), load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

failed_reps=0
for r in $(seq "$reps"); do
  log=$(mktemp /tmp/anomalog-stress-XXXXXX.log)
  t0=$(date +%s)
  # shellcheck disable=SC2086
  if ctest --test-dir "$dir" -j2 --timeout 300 -LE pg --output-on-failure ${CTEST_ARGS:-} >"$log" 2>&1; then
    status=green
  else
    status=RED
    failed_reps=$((failed_reps + 1))
  fi
  echo "== repetition $r/$reps: $status in $(( $(date +%s) - t0 )) s, load average $(cut -d' ' -f1-3 /proc/loadavg):" \
       "$(grep -E 'tests passed' "$log" || echo 'no summary')"
  grep -E '^\s+[0-9]+ - ' "$log" || true
  if [ "$status" = RED ]; then echo "   (output: $log)"; else rm -f "$log"; fi
done
echo "== $((reps - failed_reps)) of $reps repetitions green"
[ "$failed_reps" -eq 0 ]
