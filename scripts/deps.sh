#!/usr/bin/env bash
# Installs the Debian packages anomalog builds, tests and runs with.
# Only what is missing is installed; a machine that has everything is left alone.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev
  libcmocka-dev zlib1g-dev libyaml-dev libpcre2-dev libssl-dev
  prometheus-alertmanager prometheus
  chromium
  python3 sqlite3 curl
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm (for the OpenAPI validator in the tests) may come from elsewhere than Debian
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
