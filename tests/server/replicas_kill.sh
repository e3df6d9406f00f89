#!/usr/bin/env bash
# Load through nginx on two replicas sharing PostgreSQL, and replica A killed with SIGKILL
# mid-run: no error but the requests in flight on A, and afterwards every session holds every
# turn its client saw complete (tests/server/replica_clients.mjs checks both).
#   replicas_kill.sh AERO MODEL [CLIENTS] [TURNS]
A=$1 MODEL=$2 CLIENTS=${3:-100} TURNS=${4:-3}
HERE=$(dirname "$(realpath "$0")")
source "$HERE/lib.sh"
source "$HERE/replica_lib.sh"

start_pg
"$A" keys add --store "$PGURL" --name load > key.txt 2> /dev/null
COMMON=(--sessions "$PGURL" --keys "$PGURL" --max-batch 16 --max-queue 256)
start_replica a "${COMMON[@]}"
start_replica b "${COMMON[@]}"
start_nginx a b
echo "$CLIENTS clients x $TURNS turns through nginx; SIGKILL to replica a after a third of them"
AERO_URL=$NGINX_URL AERO_KEY=$(cat key.txt) CLIENTS=$CLIENTS TURNS=$TURNS MAX_TOKENS=${MAX_TOKENS:-48} \
  KILL_PID=${REPLICA_PID[a]} KILL_REPLICA=a KILL_AFTER=$((CLIENTS * TURNS / 3)) \
  node "$HERE/replica_clients.mjs" | tee clients.txt || fail "clients failed"
grep -q replica-clients-ok clients.txt || fail "clients failed"
grep -q '"a":[1-9]' clients.txt || fail "replica a served nothing before the kill"
grep -q '"b":[1-9]' clients.txt || fail "replica b served nothing"
kill -0 "${REPLICA_PID[b]}" || fail "replica b died"
unset 'REPLICA_PID[a]'
echo "replicas-kill-ok"
