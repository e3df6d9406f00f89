#!/usr/bin/env bash
# Installs the JavaScript test clients (openai, ws, playwright-core) from package-lock.json into
# tests/server/node_modules, once: `npm ci` runs again only when the lock file changes.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.aero-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then echo "npm modules up to date"; exit 0; fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
echo "npm modules installed"
