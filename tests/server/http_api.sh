#!/usr/bin/env bash
# The HTTP API through curl: health, models, chat completions (JSON with usage, and SSE chunks
# ending with [DONE]), completions, stop strings, /chat streaming with X-Session-ID and its
# session kept across turns, session list/read/delete, metrics, the audit log, the web page.
#   http_api.sh AERO MODEL
A=$1 MODEL=$2
source "$(dirname "$0")/lib.sh"

echo "a model that cannot be loaded: one clear line, exit 1"
rc=0; "$A" serve -m "$T/nope" --port 0 --sessions "$T/x.db" > bad.log 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "exit $rc: $(cat bad.log)"
grep -q "^aero: error: .*nope" bad.log || fail "message: $(cat bad.log)"

start_server --max-batch 4

expect 200 "$URL/health"
expect 200 "$URL/v1/models"
[[ $(json 'b.data[0].object') == model ]] || fail "models list"

echo "chat completion, not streamed"
expect 200 "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"x","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"tell me about the fox"}],"max_tokens":12,"temperature":0,"seed":7}'
[[ $(json 'b.object') == chat.completion ]] || fail "object"
[[ $(json 'b.choices[0].message.role') == assistant ]] || fail "role"
[[ $(json 'b.usage.completion_tokens') -ge 1 && $(json 'b.usage.completion_tokens') -le 12 ]] || fail "usage"
[[ $(json 'b.usage.total_tokens == b.usage.prompt_tokens + b.usage.completion_tokens') == true ]] || fail "total"
[[ $(json 'b.choices[0].finish_reason') =~ ^(stop|length)$ ]] || fail "finish_reason"
first=$(json 'b.choices[0].message.content')
echo "  reply: $first"

echo "greedy is deterministic"
expect 200 "$URL/v1/chat/completions" \
  -d '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"tell me about the fox"}],"max_tokens":12,"temperature":0,"seed":99}'
[[ $(json 'b.choices[0].message.content') == "$first" ]] || fail "greedy replies differ"

echo "chat completion, streamed (SSE)"
curl -sN "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"tell me about the cat"}],"max_tokens":10,"stream":true,"stream_options":{"include_usage":true}}' > sse.txt
[[ $(tail -n 2 sse.txt | head -n 1) == "data: [DONE]" ]] || fail "SSE does not end with [DONE]: $(tail -3 sse.txt)"
node -e '
const lines = require("fs").readFileSync("sse.txt", "utf8").split("\n").filter(l => l.startsWith("data: ") && l !== "data: [DONE]");
const chunks = lines.map(l => JSON.parse(l.slice(6)));
if (!chunks.every(c => c.object === "chat.completion.chunk" && c.id === chunks[0].id)) process.exit(1);
const text = chunks.flatMap(c => c.choices).map(c => (c.delta && c.delta.content) || "").join("");
const fin = chunks.flatMap(c => c.choices).filter(c => c.finish_reason);
const usage = chunks.filter(c => c.usage).map(c => c.usage);
if (fin.length !== 1 || usage.length !== 1 || usage[0].completion_tokens < 1) process.exit(2);
console.log("  streamed " + chunks.length + " chunks: " + JSON.stringify(text));' || fail "SSE chunks malformed"

echo "completions, with a stop string"
expect 200 "$URL/v1/completions" -d '{"prompt":"User: tell me about the dog number 5\nAssistant:","max_tokens":60,"temperature":0,"stop":["e"]}'
[[ $(json 'b.object') == text_completion ]] || fail "object"
[[ $(json 'b.choices[0].text.includes("e")') == false ]] || fail "stop string in the text"
[[ $(json 'b.choices[0].finish_reason') == stop ]] || fail "finish by stop: $(cat body.txt)"
curl -sN "$URL/v1/completions" -d '{"prompt":"User: hi","max_tokens":5,"stream":true}' > sse2.txt
grep -q '"object":"text_completion"' sse2.txt && [[ $(tail -n 2 sse2.txt | head -n 1) == "data: [DONE]" ]] || fail "completions SSE"
echo "diffusion settings on a model that generates token by token: a 400 naming the field"
expect 400 "$URL/v1/completions" -d '{"prompt":"User: hi","max_tokens":5,"diffusion":{"steps":4}}'
expect_error_json
[[ $(json 'b.error.param') == diffusion ]] || fail "param: $(cat body.txt)"

echo "/chat streams plain text with X-Session-ID; the session keeps the turns"
curl -sN -D h1.txt "$URL/chat" -d '{"message":"tell me about the bird"}' > r1.txt
sid=$(sed -n 's/^X-Session-ID: \([A-Za-z0-9_-]*\).*/\1/ip' h1.txt)
[[ -n $sid ]] || fail "no X-Session-ID: $(cat h1.txt)"
grep -qi 'transfer-encoding: chunked' h1.txt || fail "not chunked"
[[ -s r1.txt ]] || fail "empty reply"
echo "  session $sid: $(cat r1.txt)"
curl -sN -D h2.txt "$URL/chat" -d "{\"session_id\":\"$sid\",\"message\":\"and the moon?\"}" > r2.txt
grep -qi "X-Session-ID: $sid" h2.txt || fail "session id changed"
expect 200 "$URL/v1/sessions/$sid"
[[ $(json 'b.messages.length') == 4 ]] || fail "expected 4 messages: $(cat body.txt)"
[[ $(json 'b.messages[0].content') == "tell me about the bird" ]] || fail "first message"
[[ $(json 'b.messages[1].role') == assistant ]] || fail "second is the reply"
[[ "$(json 'b.messages[1].content')" == "$(cat r1.txt)" ]] || fail "stored reply differs from the streamed one"
[[ $(json 'b.messages[2].content') == "and the moon?" ]] || fail "third message"
expect 200 "$URL/v1/sessions"
[[ $(json "b.data.some(s => s.id === '$sid' && s.messages === 4)") == true ]] || fail "list"
expect 200 -X DELETE "$URL/v1/sessions/$sid"
expect 404 "$URL/v1/sessions/$sid"
expect_error_json
expect 404 -X DELETE "$URL/v1/sessions/$sid"

echo "metrics"
expect 200 "$URL/metrics"
for m in 'aero_requests_total{endpoint="/v1/chat/completions",status="200"} [1-9]' \
         'aero_errors_total{endpoint="/v1/sessions/{id}",status="404"} 2' \
         'aero_generated_tokens_total [1-9]' 'aero_prompt_tokens_total [1-9]' \
         'aero_time_to_first_token_seconds_count [1-9]' \
         'aero_request_duration_seconds_bucket{endpoint="/chat",le="+Inf"} 2' \
         'aero_queue_depth 0' 'aero_active_sequences 0' 'aero_resident_memory_bytes [1-9]' \
         'aero_generated_tokens_per_second '; do
  grep -q "^$m" body.txt || fail "metric missing: $m"
done

echo "the web page"
expect 200 "$URL/"
grep -q '<title>aero chat</title>' body.txt || fail "index.html"
expect 200 "$URL/app.js"
grep -qi 'content-type: text/javascript' headers.txt || fail "js type"
expect 404 "$URL/../CMakeLists.txt"
expect 404 "$URL/nope.html"

echo "audit log: one JSON line per request, key id but never a key"
node -e '
const lines = require("fs").readFileSync("audit.jsonl", "utf8").trim().split("\n").map(JSON.parse);
const need = ["time", "key_id", "endpoint", "status", "latency_ms"];
if (!lines.every(l => need.every(k => k in l))) process.exit(1);
const chat = lines.filter(l => l.endpoint === "/chat");
if (chat.length !== 2 || !chat.every(l => l.completion_tokens > 0 && l.session_id)) process.exit(2);
console.log("  " + lines.length + " lines")' || fail "audit log: $(tail -3 audit.jsonl)"

stop_server

echo "per-request timeout: a deadline that has passed before the engine takes the job -> 504"
start_server --timeout 0.000001
expect 504 "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}'
expect_error_json
curl -sN "$URL/chat" -d '{"message":"hi"}' -o /dev/null
grep -q '"finish":"timeout"' audit.jsonl || fail "no timeout in the audit log"
stop_server
echo "http-api-ok"
