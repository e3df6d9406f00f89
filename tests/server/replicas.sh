#!/usr/bin/env bash
# Two replicas sharing one PostgreSQL store behind nginx (deploy/aero-nginx.conf), on loopback:
# a session started on replica A continues on B once A is stopped, with its whole history, and
# over /ws through nginx; a per-key limit of N requests/min holds across both (429 after N, not
# 2N); a revoked key is refused by both within a second; /metrics labels the replica; SIGTERM
# drains (503 for new work, nginx moves on, the stream in flight finishes); a malformed session
# id and wrong store URLs get clear messages.
#   replicas.sh AERO MODEL
A=$1 MODEL=$2
HERE=$(dirname "$(realpath "$0")")
source "$HERE/lib.sh"
source "$HERE/replica_lib.sh"

echo "wrong store URLs: clear messages, exit 1"
bad_store() {  # bad_store EXPECTED-MESSAGE aero-serve-options...
  local want=$1
  shift
  local rc=0
  "$A" serve -m "$MODEL" --port 0 "$@" > bad.log 2>&1 || rc=$?
  [[ $rc != 0 ]] || fail "aero serve $* started"
  grep -q "$want" bad.log || fail "aero serve $*: expected '$want', got: $(cat bad.log)"
  grep -q 'secret' bad.log && fail "password in the message: $(cat bad.log)"
  echo "  $(grep -o '\[[a-z]*\].*' bad.log | head -1)"
}
start_pg
bad_store 'unsupported URL scheme "mysql"' --sessions mysql://u:secret@127.0.0.1/aero
bad_store 'cannot connect to PostgreSQL at postgresql://aero:\*\*\*@127.0.0.1:1/aero' \
  --sessions postgresql://aero:secret@127.0.0.1:1/aero
bad_store 'database "nope" does not exist' --sessions "postgresql://aero@127.0.0.1:$PG_PORT/nope"
bad_store 'unsupported URL scheme "redis"' --limits redis://x --sessions "$PGURL"

echo "keys in the shared store"
"$A" keys add --store "$PGURL" --name alice > k1.txt
"$A" keys add --store "$PGURL" --name bob > k2.txt
K1=$(cat k1.txt) K2=$(cat k2.txt)
[[ $K1 == sk-aero-* ]] || fail "key: $K1"
[[ $(psql_aero -c "SELECT count(*) FROM api_keys WHERE sha256 = '$(printf %s "$K1" | sha256sum | cut -d' ' -f1)'") == 1 ]] \
  || fail "no hash of the key in api_keys"
psql_aero -c "SELECT count(*) FROM api_keys WHERE sha256 LIKE '%$K1%' OR name = '$K1'" | grep -qx 0 \
  || fail "the key itself is stored"
[[ $(psql_aero -c "SELECT max(version) FROM schema_migrations") == 3 ]] || fail "migrations"

COMMON=(--sessions "$PGURL" --keys "$PGURL" --rpm 10 --max-tokens 12)
start_replica a "${COMMON[@]}"
start_replica b "${COMMON[@]}"
start_nginx a b
H1=(-H "Authorization: Bearer $K1")
H2=(-H "Authorization: Bearer $K2")

echo "a session started on one replica continues on the other"
curl -sN -D h1.txt "${H1[@]}" "$NGINX_URL/chat" -d '{"message":"tell me about the rain","max_tokens":12}' > r1.txt
sid=$(sed -n 's/^X-Session-ID: \([A-Za-z0-9_-]*\).*/\1/ip' h1.txt)
first=$(sed -n 's/^X-Aero-Replica: \([a-z]*\).*/\1/ip' h1.txt)
[[ -n $sid && -n $first ]] || fail "no session or replica header: $(cat h1.txt)"
curl -sN -D h2.txt "${H1[@]}" "$NGINX_URL/chat" -d "{\"session_id\":\"$sid\",\"message\":\"and the stone?\",\"max_tokens\":12}" > r2.txt
other=b; [[ $first == b ]] && other=a
echo "  session $sid began on replica $first; stopping it"
kill_replica "$first" TERM
curl -sN -D h3.txt "${H1[@]}" "$NGINX_URL/chat" -d "{\"session_id\":\"$sid\",\"message\":\"and the moon?\",\"max_tokens\":12}" > r3.txt
grep -qi "^X-Aero-Replica: $other" h3.txt || fail "turn 3 not served by $other: $(cat h3.txt)"
expect 200 "${H1[@]}" "$NGINX_URL/v1/sessions/$sid"
[[ $(json 'b.messages.length') == 6 ]] || fail "history: $(cat body.txt)"
[[ "$(json 'b.messages[0].content')" == "tell me about the rain" ]] || fail "turn 1 user"
[[ "$(json 'b.messages[1].content')" == "$(cat r1.txt)" ]] || fail "turn 1 reply differs"
[[ "$(json 'b.messages[3].content')" == "$(cat r2.txt)" ]] || fail "turn 2 reply differs"
[[ "$(json 'b.messages[5].content')" == "$(cat r3.txt)" ]] || fail "turn 3 reply differs"
echo "  turn 3 on replica $other; the session holds all 6 messages"
start_replica "$first" "${COMMON[@]}"

echo "WebSocket through nginx (upgrade passed on), continuing the same session"
node -e "
const WebSocket = require('$HERE/node_modules/ws');
const ws = new WebSocket('${NGINX_URL/http/ws}/ws?api_key=$K1');
const seen = [];
ws.on('open', () => ws.send(JSON.stringify({session_id: '$sid', message: 'and the sun?', max_tokens: 8})));
ws.on('message', (m) => {
  const j = JSON.parse(m);
  seen.push(j.type);
  if (j.type === 'error') { console.error(JSON.stringify(j)); process.exit(1); }
  if (j.type === 'end') { console.log('  ' + seen[0] + ', ' + (seen.length - 2) + ' tokens, end'); process.exit(0); }
});
ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
setTimeout(() => process.exit(2), 10000);" || fail "WebSocket through nginx"
expect 200 "${H1[@]}" "$NGINX_URL/v1/sessions/$sid"
[[ $(json 'b.messages.length') == 8 ]] || fail "WebSocket turn not stored: $(cat body.txt)"

echo "malformed session ids"
expect 400 "${H2[@]}" "$NGINX_URL/v1/sessions/bad%21id"; expect_error_json
grep -q 'malformed session id' body.txt || fail "message: $(cat body.txt)"
expect 400 "${H2[@]}" "$NGINX_URL/chat" -d '{"session_id":"../../etc","message":"hi"}'; expect_error_json

echo "/metrics labels the replica"
expect 200 "${H2[@]}" "$(replica_url a)/metrics"
grep -q '^aero_requests_total{replica="a",endpoint=' body.txt || fail "no replica label: $(head -5 body.txt)"
expect 200 "${H2[@]}" "$(replica_url b)/metrics"
grep -q '^aero_queue_depth{replica="b"} ' body.txt || fail "no replica label on b"

echo "a limit of 10 requests/min holds across both replicas"
"$A" keys add --store "$PGURL" --name carol > k3.txt
sleep 1  # replicas reload the keys within a second (as for a revoked key below): until then 401
H3=(-H "Authorization: Bearer $(cat k3.txt)")
codes=""
for i in $(seq 1 20); do  # alternating: a, b, a, b, ...
  r=a; (( i % 2 == 0 )) && r=b
  codes+="$(curl -s -o body.txt -D headers.txt -w '%{http_code}' "${H3[@]}" "$(replica_url $r)/v1/models") "
done
echo "  statuses: $codes"
[[ $codes == "200 200 200 200 200 200 200 200 200 200 429 429 429 429 429 429 429 429 429 429 " ]] \
  || fail "expected 10 x 200 then 429 across replicas"
grep -qi '^Retry-After: [1-9]' headers.txt || fail "no Retry-After"

echo "a revoked key is refused by both replicas within a second"
expect 200 "${H2[@]}" "$(replica_url a)/v1/models"
expect 200 "${H2[@]}" "$(replica_url b)/v1/models"
"$A" keys revoke --store "$PGURL" "$("$A" keys list --store "$PGURL" | awk '/bob/ {print $1}')"
sleep 1
expect 401 "${H2[@]}" "$(replica_url a)/v1/models"; expect_error_json
expect 401 "${H2[@]}" "$(replica_url b)/v1/models"
expect 401 "${H2[@]}" "$NGINX_URL/v1/models"

echo "SIGTERM drains: the stream in flight ends, new work goes to the other replica"
"$A" keys add --store "$PGURL" --name dave > k4.txt
H4=(-H "Authorization: Bearer $(cat k4.txt)")
curl -sN -o long.txt -w '%{http_code}' "${H4[@]}" "$(replica_url a)/v1/chat/completions" \
  -d '{"messages":[{"role":"user","content":"tell me about the tree"}],"max_tokens":150,"stream":true}' > long_code.txt &
long_pid=$!
for _ in $(seq 1 200); do [[ -s long.txt ]] && break; sleep 0.01; done
kill -TERM "${REPLICA_PID[a]}"
sleep 0.1
for i in 1 2 3 4; do
  expect 200 "${H4[@]}" "$NGINX_URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}'
  grep -qi '^X-Aero-Replica: b' headers.txt || fail "request $i during the drain not on b"
done
wait "$long_pid" || true
[[ $(cat long_code.txt) == 200 && $(tail -n 2 long.txt | head -n 1) == "data: [DONE]" ]] \
  || fail "the stream in flight was cut: $(tail -c 200 long.txt)"
rc=0; wait "${REPLICA_PID[a]}" || rc=$?; unset 'REPLICA_PID[a]'
[[ $rc == 0 ]] || fail "replica a exited with $rc after SIGTERM"
echo "  stream finished with [DONE]; 4 new requests answered by b; a exited 0"
echo "replicas-ok"
