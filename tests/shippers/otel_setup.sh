#!/usr/bin/env bash
# Installs a pinned OpenTelemetry SDK for Node.js (the SDK and its OTLP/HTTP
# exporters, from the npm registry) into the build tree, once, for
# tests/e2e/test_shipper_snippets.py: the SDK's own exporter, configured by the
# OTEL_* variables of docs/shippers.md, sends to the real binary. The 0.2xx
# line runs on Debian 12's node (18.19); 0.3xx wants node 22.
set -euo pipefail
tools=$1
version=0.223.0
if ! grep -qs "\"version\": \"$version\"" "$tools/node_modules/@opentelemetry/sdk-node/package.json"; then
  mkdir -p "$tools"
  cd "$tools"
  [ -f package.json ] || echo '{"private":true}' > package.json
  npm install --no-audit --no-fund --silent @opentelemetry/sdk-node@$version @opentelemetry/api-logs@$version \
    @opentelemetry/api@1.9.0 >/dev/null
fi
