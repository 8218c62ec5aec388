#!/usr/bin/env bash
# Installs a pinned OpenTelemetry SDK for Node.js (the SDK and its OTLP/HTTP
# exporters, from the npm registry) into the build tree, once, for
# tests/e2e/test_shipper_snippets.py: the SDK's own exporter, configured by the
# OTEL_* variables of docs/shippers.md, sends to the real binary.
set -euo pipefail
tools=$1
if [ ! -f "$tools/node_modules/@opentelemetry/sdk-node/package.json" ]; then
  mkdir -p "$tools"
  cd "$tools"
  [ -f package.json ] || echo '{"private":true}' > package.json
  npm install --no-audit --no-fund --silent @opentelemetry/sdk-node@0.301.2 @opentelemetry/api@1.10.0 >/dev/null
fi
