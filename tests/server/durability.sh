#!/usr/bin/env bash
# Sessions survive kill -9 (a turn is committed before its stream ends) and a restart; SIGTERM
# stops taking connections, lets the streams in flight finish, flushes the store and exits 0.
#   durability.sh AERO MODEL
A=$1 MODEL=$2
source "$(dirname "$0")/lib.sh"

echo "kill -9 right after a reply, then restart"
start_server
curl -sN -D h.txt "$URL/chat" -d '{"message":"tell me about the rain","max_tokens":20}' > r1.txt
sid=$(sed -n 's/^X-Session-ID: \([A-Za-z0-9_-]*\).*/\1/ip' h.txt)
curl -sN "$URL/chat" -d "{\"session_id\":\"$sid\",\"message\":\"and the stone?\",\"max_tokens\":20}" > r2.txt
kill -9 "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
ls sessions.db* > /dev/null
start_server
expect 200 "$URL/v1/sessions/$sid"
[[ $(json 'b.messages.length') == 4 ]] || fail "lost messages after kill -9: $(cat body.txt)"
[[ "$(json 'b.messages[1].content')" == "$(cat r1.txt)" ]] || fail "reply 1 differs"
[[ "$(json 'b.messages[3].content')" == "$(cat r2.txt)" ]] || fail "reply 2 differs"
echo "  session $sid intact after kill -9"

echo "SIGTERM with streams in flight"
stop_server
start_server --max-batch 1 --grace 30
pids=()
for i in $(seq 1 6); do
  curl -sN -o "s$i.txt" -w '%{http_code}' "$URL/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"tell me about the tree"}],"max_tokens":100,"stream":true}' > "c$i.txt" &
  pids+=($!)
done
for _ in $(seq 1 200); do [[ -s s1.txt ]] && break; sleep 0.01; done
kill -TERM "$SERVER_PID"
rc=0; wait "$SERVER_PID" || rc=$?; SERVER_PID=""
[[ $rc == 0 ]] || fail "exit code $rc after SIGTERM"
for p in "${pids[@]}"; do wait "$p" || true; done
ended=0  # a stream that started ends with [DONE]; a request after SIGTERM gets 503 or no connection
for i in $(seq 1 6); do
  code=$(cat "c$i.txt")
  case $code in
    200) [[ $(tail -n 2 "s$i.txt" | head -n 1) == "data: [DONE]" ]] || fail "stream $i cut: $(tail -c 300 s$i.txt)"
         ended=$((ended + 1)) ;;
    503|000) ;;
    *) fail "stream $i: status $code" ;;
  esac
done
[[ $ended -ge 1 ]] || fail "no stream finished"
echo "  $ended streams finished with [DONE]; exit 0"
grep -q 'SIGTERM' server.log || fail "no shutdown message"
curl -s -m 2 "$URL/health" && fail "still accepting after SIGTERM"
echo "durability-ok"
