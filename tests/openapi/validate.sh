#!/usr/bin/env bash
# Validates openapi/openapi.yaml as an OpenAPI 3.1 document (every $ref must
# resolve) with a pinned validator from the npm registry, installed once into
# the build tree.
set -euo pipefail
doc=$1
tools=$2
if [ ! -x "$tools/node_modules/.bin/validate-api" ]; then
  mkdir -p "$tools"
  (cd "$tools" && [ -f package.json ] || echo '{"private":true}' > package.json
   npm install --no-audit --no-fund --silent @seriousme/openapi-schema-validator@2.11.0 >/dev/null)
fi
"$tools/node_modules/.bin/validate-api" "$doc"
