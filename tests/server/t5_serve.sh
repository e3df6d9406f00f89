#!/usr/bin/env bash
# `aero serve` on a T5 (the one e2e.t5_generate trains), through curl and a WebSocket client:
# /v1/completions (greedy and beam search), /v1/chat/completions (the encoder gets the newest
# user message alone; streamed SSE = not streamed), /chat (streamed plain text, the session
# keeps the turns) and /ws. Every answer must be what `aero generate` gives the same input.
#   t5_serve.sh AERO MODEL
A=$1 MODEL=$2
source "$(dirname "$0")/lib.sh"
start_server --max-batch 4
H='Content-Type: application/json'
gen() { "$A" generate -m "$MODEL" --max-new 16 "$@" 2> /dev/null; }
g1=$(gen -p "qwerty" --temperature 0)
g2=$(gen -p "lmnop" --temperature 0)
gb=$(gen -p "qwerty" --beams 4 --no-repeat-ngram 3)
echo "aero generate: qwerty -> '$g1', lmnop -> '$g2', 4 beams: qwerty -> '$gb'"

echo "/v1/completions, greedy and beam search"
expect 200 "$URL/v1/completions" -H "$H" \
  -d '{"prompt":"qwerty","max_tokens":16,"temperature":0}'
[[ "$(json 'b.choices[0].text')" == "$g1" ]] || fail "completion: $(cat body.txt)"
expect 200 "$URL/v1/completions" -H "$H" \
  -d '{"prompt":"qwerty","max_tokens":16,"num_beams":4,"no_repeat_ngram_size":3}'
[[ "$(json 'b.choices[0].text')" == "$gb" ]] || fail "beam completion: $(cat body.txt)"
expect 400 "$URL/v1/completions" -H "$H" -d '{"prompt":"qwerty","num_beams":0}'
expect_error_json

echo "/v1/chat/completions: the newest user message is the encoder input"
msgs='[{"role":"system","content":"be brief"},{"role":"user","content":"abc"},{"role":"assistant","content":"cba"},{"role":"user","content":"lmnop"}]'
expect 200 "$URL/v1/chat/completions" -H "$H" \
  -d "{\"messages\":$msgs,\"max_tokens\":16,\"temperature\":0}"
[[ "$(json 'b.choices[0].message.content')" == "$g2" ]] || fail "chat: $(cat body.txt)"
curl -sN "$URL/v1/chat/completions" -H "$H" \
  -d "{\"messages\":$msgs,\"max_tokens\":16,\"temperature\":0,\"stream\":true}" > sse.txt
streamed=$(node -e '
const lines = require("fs").readFileSync("sse.txt", "utf8").split("\n").filter(l => l.startsWith("data: "));
if (lines[lines.length - 1] !== "data: [DONE]") process.exit(1);
console.log(lines.slice(0, -1).map(l => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? "").join(""));') ||
  fail "SSE malformed: $(cat sse.txt)"
[[ "$streamed" == "$g2" ]] || fail "streamed '$streamed', expected '$g2'"

echo "/chat streams plain text; the session keeps the turns"
curl -sN -D h1.txt "$URL/chat" -H "$H" -d '{"message":"qwerty","temperature":0,"max_tokens":16}' > r1.txt
sid=$(sed -n 's/^X-Session-ID: \([A-Za-z0-9_-]*\).*/\1/ip' h1.txt)
[[ -n $sid ]] || fail "no X-Session-ID: $(cat h1.txt)"
[[ "$(cat r1.txt)" == "$g1" ]] || fail "/chat: '$(cat r1.txt)'"
curl -sN "$URL/chat" -H "$H" \
  -d "{\"session_id\":\"$sid\",\"message\":\"lmnop\",\"temperature\":0,\"max_tokens\":16}" > r2.txt
[[ "$(cat r2.txt)" == "$g2" ]] || fail "/chat turn 2 saw more than the newest message: '$(cat r2.txt)'"
expect 200 "$URL/v1/sessions/$sid"
[[ $(json 'b.messages.length') == 4 ]] || fail "expected 4 messages: $(cat body.txt)"

echo "/ws"
ws=$(AERO_URL=$URL node --experimental-websocket --no-warnings -e '
const ws = new WebSocket(process.env.AERO_URL.replace("http", "ws") + "/ws");
let text = "";
ws.onopen = () => ws.send(JSON.stringify({ message: "lmnop", temperature: 0, max_tokens: 16 }));
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === "token") text += m.text;
  if (m.type === "error") { console.error(m.error.message); process.exit(1); }
  if (m.type === "end") { console.log(text); ws.close(); }
};
ws.onerror = (e) => { console.error(String(e.message)); process.exit(1); };') || fail "/ws client failed"
[[ "$ws" == "$g2" ]] || fail "/ws gave '$ws', expected '$g2'"
stop_server
echo "t5-serve-ok"
