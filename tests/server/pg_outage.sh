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
sleep 1.5
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
# One sequence at a time, and work queued ahead of the turn, so its reply is surely generated
# during the outage rather than before it.
start_replica b --sessions "$PGURL" --keys "$PGURL" --store-retry 30 --max-batch 1
URL=$(replica_url b)
for i in $(seq 1 40); do  # at temperature 2 the tiny model rarely stops early
  curl -s -o /dev/null "${H[@]}" "$URL/v1/completions" \
    -d '{"prompt":"User: tell me","max_tokens":180,"temperature":2}' &
done
sleep 0.1
curl -sN -D h.txt -o r.txt "${H[@]}" "$URL/chat" -d '{"message":"tell me about the sun","max_tokens":60}' &
cpid=$!
for _ in $(seq 1 500); do grep -qi '^X-Session-ID' h.txt 2> /dev/null && break; sleep 0.01; done
kill -STOP "${REPLICA_PID[b]}"  # still in the queue: paused while PostgreSQL stops
pg_down
kill -CONT "${REPLICA_PID[b]}"
sleep 3
kill -0 "$cpid" 2> /dev/null || fail "the turn ended while the store was down: $(cat r.txt) $(tail -3 replica_b.log)"
pg_up
wait "$cpid" || fail "the stream was cut (curl exit $?)"
sid=$(sed -n 's/^X-Session-ID: \([A-Za-z0-9_-]*\).*/\1/ip' h.txt)
expect 200 "${H[@]}" "$URL/v1/sessions/$sid"
[[ "$(json 'b.messages[1].content')" == "$(cat r.txt)" ]] || fail "the turn was not kept: $(cat body.txt)"
grep '"endpoint":"/chat"' "$T/audit_b.jsonl" | grep -q '"latency_ms":[1-9][0-9][0-9][0-9]' \
  || fail "the turn did not wait for the store: $(grep /chat "$T/audit_b.jsonl")"
echo "  kept, $(grep '"endpoint":"/chat"' "$T/audit_b.jsonl" | grep -o '"latency_ms":[0-9]*') after it began"
echo "pg-outage-ok"
