#!/usr/bin/env bash
# Installs a pinned playwright-core (the driver only: it never downloads a
# browser) into the build tree, once. The browser is Debian's chromium.
set -euo pipefail
tools=$1
if [ ! -f "$tools/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$tools"
  cd "$tools"
  [ -f package.json ] || echo '{"private":true}' > package.json
  npm install --no-audit --no-fund --silent playwright-core@1.64.1 >/dev/null
fi
