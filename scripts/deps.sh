#!/usr/bin/env bash
# Installs the Debian packages anomalog builds, tests and runs with.
# Only what is missing is installed; a machine that has everything is left alone.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libyajl-dev libsqlite3-dev
  libcmocka-dev zlib1g-dev libyaml-dev libpcre2-dev libssl-dev libsnappy-dev
  prometheus-alertmanager prometheus
  syslog-ng-core syslog-ng-mod-http libestr0 libfastjson4
  chromium
  postgresql libpq-dev
  python3 sqlite3 curl strace jq bsdextrautils
  podman debootstrap   # tests/e2e/test_dockerfile.py builds docker/Dockerfile for real
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm (for the OpenAPI validator in the tests) may come from elsewhere than Debian
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

# rsyslog conflicts with syslog-ng-core as a package (both are the system log
# daemon), so the real-shipper tests run it unpacked from its .debs instead.
RSYSLOG_ROOT=${RSYSLOG_ROOT:-/opt/rsyslog}
unpack_rsyslog() {
  [ -x "$RSYSLOG_ROOT/usr/sbin/rsyslogd" ] && [ -e "$RSYSLOG_ROOT/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download rsyslog rsyslog-elasticsearch >/dev/null 2>&1) || { echo "cannot download rsyslog: its test will be skipped" >&2; rm -rf "$tmp"; return 0; }
  $SUDO mkdir -p "$RSYSLOG_ROOT"
  for f in "$tmp"/*.deb; do $SUDO dpkg -x "$f" "$RSYSLOG_ROOT"; done
  rm -rf "$tmp"
}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ${#missing[@]} -eq 0 ]; then
  unpack_rsyslog
  exit 0
fi

echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
unpack_rsyslog
