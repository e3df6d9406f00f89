#!/usr/bin/env bash
# Runs one JavaScript client test against a fresh server with an API key:
#   run_node.sh AERO MODEL SCRIPT.mjs [aero serve options]
# The script gets AERO_URL and AERO_KEY in its environment.
A=$1 MODEL=$2 SCRIPT=$(realpath "$3")
shift 3
source "$(dirname "$0")/lib.sh"
"$A" keys add --store keys.json --name test > key.txt 2> /dev/null
start_server --keys keys.json "$@"
AERO_URL=$URL AERO_KEY=$(cat key.txt) AERO_AUDIT=$T/audit.jsonl \
  node "$SCRIPT" || fail "$(basename "$SCRIPT") failed"
stop_server
echo "$(basename "$SCRIPT" .mjs)-ok"
