#!/usr/bin/env bash
# Installs the Debian packages anomalog builds, runs and tests with.
#   scripts/deps.sh run     what building and running need: the compiler, CMake,
#                           the libraries' -dev packages, cmocka and python3 (the
#                           default build compiles the unit tests too), tzdata and
#                           CA certificates. ./dev run and ./dev build use it.
#   scripts/deps.sh test    that and what the tests need: clang and its sanitizer
#                           and libFuzzer runtimes, PostgreSQL, Chromium, promtool,
#                           Alertmanager, syslog-ng, rsyslog (unpacked), podman,
#                           debootstrap, node and npm, and the small tools the
#                           end-to-end tests call. ./dev test, .ci/run, ./dev fuzz
#                           and ./dev bench use it. The default.
#   scripts/deps.sh --list run|test    prints the Debian packages of a mode, one a line
# Only what is missing is installed; a machine that has everything is left alone
# (no network, no root needed). Whenever something must be fetched, the package
# lists are refreshed first (a fresh machine or container has none, or stale
# ones), and any failed download or install stops the script with a non-zero
# status naming what failed: CI then fails here instead of skipping tests later.
set -euo pipefail

RUN_PKGS=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libyajl-dev libsqlite3-dev libpq-dev
  libcmocka-dev zlib1g-dev libyaml-dev libpcre2-dev libssl-dev libsnappy-dev
  python3 ca-certificates tzdata
)
TEST_PKGS=(
  clang libclang-rt-14-dev     # ./dev build fuzz, libFuzzer and the sanitizer runtimes
  prometheus-alertmanager prometheus
  syslog-ng-core syslog-ng-mod-http libestr0 libfastjson4
  chromium
  postgresql
  sqlite3 curl strace jq bsdextrautils
  podman debootstrap   # tests/e2e/test_dockerfile.py builds docker/Dockerfile for real
)

usage() { echo "usage: scripts/deps.sh [run|test] | --list run|test" >&2; exit 2; }
list=0
if [ "${1:-}" = "--list" ]; then list=1; shift; fi
mode=${1:-test}
[ $# -le 1 ] || usage
case "$mode" in
  run) PKGS=("${RUN_PKGS[@]}") ;;
  test) PKGS=("${RUN_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  *) usage ;;
esac
if [ $list -eq 1 ]; then
  printf '%s\n' "${PKGS[@]}"
  exit 0
fi

die() { echo "deps.sh: $*" >&2; exit 1; }

installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  [ "$status" = "install ok installed" ]
}

missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done
# node and npm (for the OpenAPI validator and the page's test) may come from elsewhere than Debian
[ "$mode" = run ] || command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

# rsyslog conflicts with syslog-ng-core as a package (both are the system log
# daemon), so the real-shipper tests run it unpacked from its .debs instead.
RSYSLOG_ROOT=${RSYSLOG_ROOT:-/opt/rsyslog}
rsyslog_unpacked() {
  [ "$mode" = run ] && return 0 # only the tests run rsyslog
  [ -x "$RSYSLOG_ROOT/usr/sbin/rsyslogd" ] && [ -e "$RSYSLOG_ROOT/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so" ]
}

if [ ${#missing[@]} -eq 0 ] && rsyslog_unpacked; then
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install ${missing[*]:-rsyslog}"
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

# the lists first: apt-get download and install both need them current
"${SUDO[@]}" apt-get update -qq || die "apt-get update failed"

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
  for p in "${missing[@]}"; do
    installed "$p" || die "$p is still not installed after apt-get install"
  done
fi

if ! rsyslog_unpacked; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # as root, apt downloads as its _apt user: let it write there (else a warning, and an unsandboxed download)
  [ "$(id -u)" -ne 0 ] || ! id _apt >/dev/null 2>&1 || chown _apt "$tmp"
  (cd "$tmp" && apt-get download -q rsyslog rsyslog-elasticsearch) ||
    die "cannot download rsyslog and rsyslog-elasticsearch (the rsyslog shipper test needs them)"
  "${SUDO[@]}" mkdir -p "$RSYSLOG_ROOT"
  for f in "$tmp"/*.deb; do
    "${SUDO[@]}" dpkg -x "$f" "$RSYSLOG_ROOT" || die "cannot unpack $f into $RSYSLOG_ROOT"
  done
  rsyslog_unpacked || die "rsyslog unpacked into $RSYSLOG_ROOT lacks rsyslogd or omelasticsearch.so"
fi
