#!/usr/bin/env bash
# PostgreSQL stopped under load and started again: requests in the gap get 503 with a message
# that names the store, /health says the store is unavailable, turns finishing in the gap wait
# for the store (--store-retry) instead of being lost, and everything recovers when it returns.
# Afterwards every session holds every turn its client saw complete.
#   pg_outage.sh AERO MODEL
A=$1 MODEL=$2
HERE=$(dirname "$(realpath "$0")")
source "$HERE/lib.sh"
source "$HERE/replica_lib.sh"

start_pg
"$A" keys add --store "$PGURL" --name k > key.txt 2> /dev/null
H=(-H "Authorization: Bearer $(cat key.txt)")
start_replica a --sessions "$PGURL" --keys "$PGURL" --store-retry 30
URL=$(replica_url a)
expect 200 "${H[@]}" "$URL/v1/models"

echo "stopped: 503 with a clear message"
pg_down
expect 503 "${H[@]}" "$URL/chat" -d '{"message":"hi"}'; expect_error_json
grep -q 'PostgreSQL at postgresql://aero@127.0.0.1:[0-9]*/aero) is unavailable' body.txt \
  || fail "message: $(cat body.txt)"
grep -qi '^Retry-After: 1' headers.txt || fail "no Retry-After"
expect 503 "$URL/health"
grep -q 'store unavailable' body.txt || fail "/health: $(cat body.txt)"
expect 503 "${H[@]}" "$URL/v1/sessions"
pg_up
for _ in $(seq 1 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/health") == 200 ]] && break; sleep 0.1
done
expect 200 "$URL/health"
expect 200 "${H[@]}" "$URL/v1/sessions"
echo "  recovered"

echo "stopped for 3 s under load: no completed turn lost"
AERO_URL=$URL AERO_KEY=$(cat key.txt) CLIENTS=16 TURNS=40 PAUSE_MS=60 MAX_TOKENS=24 ALLOW_503=1 \
  node "$HERE/replica_clients.mjs" > clients.txt 2>&1 &
cpid=$!
# Stop it once the clients are under way (node may start slowly on a busy machine).
for _ in $(seq 1 300); do
  (( $(grep -c '"endpoint":"/chat"' "$T/audit_a.jsonl" || true) >= 40 )) && break; sleep 0.05
done
pg_down
echo "  PostgreSQL stopped"
sleep 3
pg_up
echo "  PostgreSQL started"
wait "$cpid" || fail "clients: $(cat clients.txt)"
cat clients.txt
grep -q replica-clients-ok clients.txt || fail "clients failed"
grep -q '"errors":[1-9]' clients.txt || fail "no request met the outage: the test proved nothing"
grep -q 'not stored\|lost' replica_a.log && fail "a turn was given up: $(grep 'not stored' replica_a.log)"
kill -0 "${REPLICA_PID[a]}" || fail "the replica died"

echo "a turn that finishes while PostgreSQL is down waits for it and is kept"
# One sequence at a time and 100 requests queued ahead of the turn: its reply is generated
# during the outage (outage_turn.mjs pauses the replica while PostgreSQL stops).
start_replica b --sessions "$PGURL" --keys "$PGURL" --store-retry 30 --max-batch 1 --max-queue 200
URL=$(replica_url b)
AERO_URL=$URL AERO_KEY=$(cat key.txt) REPLICA_PID=${REPLICA_PID[b]} PG_DOWN="$(pg_cmd down)" \
  PG_UP="$(pg_cmd up)" node "$HERE/outage_turn.mjs" > turn.txt || fail "$(cat turn.txt)"
cat turn.txt | tail -1
sid=$(node -e 'console.log(JSON.parse(require("fs").readFileSync("turn.txt","utf8").split("\n")[0]).session_id)')
node -e 'console.log(JSON.parse(require("fs").readFileSync("turn.txt","utf8").split("\n")[0]).reply)' > r.txt
expect 200 "${H[@]}" "$URL/v1/sessions/$sid"
[[ "$(json 'b.messages[1].content')" == "$(head -c -1 r.txt)" ]] || fail "the turn was not kept: $(cat body.txt)"
grep '"endpoint":"/chat"' "$T/audit_b.jsonl" | grep -q '"latency_ms":[1-9][0-9][0-9][0-9]' \
  || fail "the turn did not wait for the store: $(grep /chat "$T/audit_b.jsonl")"
echo "  kept, $(grep '"endpoint":"/chat"' "$T/audit_b.jsonl" | grep -o '"latency_ms":[0-9]*') after it began"
echo "pg-outage-ok"
