#!/usr/bin/env bash
# The single-machine default under the same load: one replica with its SQLite file, killed with
# SIGKILL mid-run and restarted on the same port and file; clients keep their sessions going
# (requests refused while it is down are retried), and afterwards every session holds every turn
# its client saw complete (tests/server/replica_clients.mjs, as for two replicas behind nginx).
#   single_kill.sh AERO MODEL [CLIENTS] [TURNS]
A=$1 MODEL=$2 CLIENTS=${3:-50} TURNS=${4:-4}
HERE=$(dirname "$(realpath "$0")")
source "$HERE/lib.sh"
source "$HERE/replica_lib.sh"

"$A" keys add --store keys.json --name load > key.txt 2> /dev/null
OPTS=(--sessions "$T/one.db" --keys keys.json --max-batch 16 --max-queue 256)
start_replica a "${OPTS[@]}"
echo "$CLIENTS clients x $TURNS turns on one SQLite replica; SIGKILL after a third, then restart"
AERO_URL=$(replica_url a) AERO_KEY=$(cat key.txt) CLIENTS=$CLIENTS TURNS=$TURNS \
  MAX_TOKENS=${MAX_TOKENS:-48} KILL_PID=${REPLICA_PID[a]} KILL_REPLICA=a \
  KILL_AFTER=$((CLIENTS * TURNS / 3)) ALLOW_DOWN=1 \
  node "$HERE/replica_clients.mjs" > clients.txt 2>&1 &
cpid=$!
pid=${REPLICA_PID[a]}
while kill -0 "$pid" 2> /dev/null; do sleep 0.02; done
wait "$pid" 2> /dev/null || true
unset 'REPLICA_PID[a]'
start_replica a "${OPTS[@]}"
echo "  restarted"
wait "$cpid" || fail "clients: $(cat clients.txt)"
cat clients.txt
grep -q replica-clients-ok clients.txt || fail "clients failed"
echo "single-kill-ok"
