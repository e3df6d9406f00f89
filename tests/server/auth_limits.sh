#!/usr/bin/env bash
# Keys, limits and validation through curl: 401 without a key, with a wrong one and with a
# revoked one (also revoked while the server runs); /health open; 400 with OpenAI's error shape
# for malformed JSON, wrong types, negative max_tokens, n > 1 and a huge body, the server still
# serving after each; 413 over the input limit; 403 for a blocked phrase; sessions private to
# their key; 429 with Retry-After on requests/min and on tokens/min, and recovery after waiting.
#   auth_limits.sh AERO MODEL
A=$1 MODEL=$2
source "$(dirname "$0")/lib.sh"

"$A" keys add --store keys.json --name alice > k1.txt
"$A" keys add --store keys.json --name bob > k2.txt
"$A" keys add --store keys.json --name carol > k3.txt
K1=$(cat k1.txt) K2=$(cat k2.txt) K3=$(cat k3.txt)
[[ $K1 == sk-aero-* ]] || fail "key format: $K1"
grep -q "$K1" keys.json && fail "the key itself is stored"
grep -q "$(printf %s "$K1" | sha256sum | cut -d' ' -f1)" keys.json || fail "no sha256 of the key"
[[ $(stat -c %a keys.json) == 600 ]] || fail "key store is readable by others"
ID2=$("$A" keys list --store keys.json | awk '/bob/ {print $1}')
"$A" keys revoke --store keys.json "$ID2"
"$A" keys list --store keys.json | grep -q "$ID2 *revoked" || fail "revoke not listed"
"$A" keys revoke --store keys.json key_nope 2> err.txt && fail "unknown id accepted"
grep -q 'no key with id key_nope' err.txt || fail "revoke error: $(cat err.txt)"
printf 'secret plan\n# a comment\n' > block.txt

start_server --keys keys.json --rpm 120 --tpm 2000 --max-input-tokens 50 --max-body 4096 \
  --blocklist block.txt --block-status 403
CHAT='{"messages":[{"role":"user","content":"tell me about the fox"}],"max_tokens":4}'

echo "authentication"
expect 200 "$URL/health"
expect 401 "$URL/v1/models"; expect_error_json
expect 401 "$URL/v1/chat/completions" -d "$CHAT"
expect 401 "$URL/metrics"
expect 401 "$URL/v1/sessions"
expect 401 -H "Authorization: Bearer sk-aero-wrong" "$URL/v1/models"
expect 401 -H "Authorization: Bearer $K2" "$URL/v1/models"; expect_error_json
expect 200 -H "Authorization: Bearer $K1" "$URL/v1/models"
expect 200 -H "x-api-key: $K1" "$URL/v1/chat/completions" -d "$CHAT"
H=(-H "Authorization: Bearer $K1")

echo "validation: 400 with a message, and the server keeps serving"
check_400() {
  expect 400 "${H[@]}" "$URL/v1/chat/completions" "$@"
  expect_error_json
  expect 200 "${H[@]}" "$URL/v1/chat/completions" -d "$CHAT"
}
check_400 -d '{"messages": [{"role": "user", "content": "hi"'
check_400 -d 'not json at all'
check_400 -d '[1, 2, 3]'
check_400 -d '{"messages": "hi"}'
check_400 -d '{"messages": [{"role": "user", "content": 5}]}'
check_400 -d '{"messages": [{"role": "robot", "content": "hi"}]}'
check_400 -d '{"messages": []}'
check_400 -d '{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}'
check_400 -d '{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}'
check_400 -d '{"messages": [{"role": "user", "content": "hi"}], "n": 2}'
check_400 -d '{"messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}'
check_400 -d '{"messages": [{"role": "user", "content": "hi"}], "stop": ["a", 3]}'
check_400 -d '{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}'
head -c 20000 /dev/zero | tr '\0' 'a' > huge.txt
expect 400 "${H[@]}" "$URL/v1/chat/completions" --data-binary @huge.txt
grep -q 'over the limit of 4096' body.txt || fail "huge body message: $(cat body.txt)"
expect 200 "${H[@]}" "$URL/v1/chat/completions" -d "$CHAT"
printf '{"message": "hi", "session_id": "../etc"}' > bad_sid.json
expect 400 "${H[@]}" "$URL/chat" --data-binary @bad_sid.json; expect_error_json
expect 400 "${H[@]}" "$URL/v1/completions" -d '{"prompt": 42}'; expect_error_json

echo "413 over the input limit"
long=$(printf 'tell me %.0s' $(seq 1 10))
expect 413 "${H[@]}" "$URL/v1/chat/completions" -d "{\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}],\"max_tokens\":4}"
expect_error_json
expect 413 "${H[@]}" "$URL/chat" -d "{\"message\":\"$long\"}"
expect 200 "${H[@]}" "$URL/v1/chat/completions" -d "$CHAT"

echo "403 for a blocked phrase"
expect 403 "${H[@]}" "$URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"the SECRET PLAN is"}]}'
expect_error_json

echo "sessions are private to their key"
curl -sN -D h.txt "${H[@]}" "$URL/chat" -d '{"message":"tell me about the sun","max_tokens":4}' > /dev/null
sid=$(sed -n 's/^X-Session-ID: \([A-Za-z0-9_-]*\).*/\1/ip' h.txt)
[[ -n $sid ]] || fail "no session id"
expect 200 "${H[@]}" "$URL/v1/sessions/$sid"
expect 404 -H "Authorization: Bearer $K3" "$URL/v1/sessions/$sid"
expect 404 -H "Authorization: Bearer $K3" -X DELETE "$URL/v1/sessions/$sid"
expect 404 -H "Authorization: Bearer $K3" "$URL/chat" -d "{\"session_id\":\"$sid\",\"message\":\"hi\"}"
expect 200 -H "Authorization: Bearer $K3" "$URL/v1/sessions"
[[ $(json 'b.data.length') == 0 ]] || fail "another key sees sessions"

echo "429 on requests per minute, with Retry-After, then recovery"
got=""
for i in $(seq 1 400); do
  code=$(curl -s -o body.txt -D headers.txt -w '%{http_code}' "${H[@]}" "$URL/v1/models")
  if [[ $code == 429 ]]; then got=$i; break; fi
  [[ $code == 200 ]] || fail "unexpected $code"
done
[[ -n $got ]] || fail "no 429 after 400 requests at 120/min"
expect_error_json
wait_s=$(sed -n 's/^Retry-After: \([0-9]*\).*/\1/ip' headers.txt)
[[ -n $wait_s && $wait_s -ge 1 && $wait_s -le 60 ]] || fail "Retry-After: $(cat headers.txt)"
echo "  429 after $got requests, Retry-After: $wait_s"
expect 200 -H "Authorization: Bearer $K3" "$URL/v1/models"  # other keys are not affected
sleep "$wait_s"
expect 200 "${H[@]}" "$URL/v1/models"

echo "429 on tokens per minute"
H3=(-H "Authorization: Bearer $K3")
got=""
for i in $(seq 1 40); do
  code=$(curl -s -o body.txt -D headers.txt -w '%{http_code}' "${H3[@]}" "$URL/v1/completions" \
    -d '{"prompt":"User: tell me about the cat","max_tokens":100}')
  if [[ $code == 429 ]]; then got=$i; break; fi
  [[ $code == 200 ]] || fail "unexpected $code: $(cat body.txt)"
done
[[ -n $got ]] || fail "no 429 on tokens/min"
grep -qi '^Retry-After: [1-9]' headers.txt || fail "no Retry-After"
echo "  429 after $got completions"

echo "a key revoked while the server runs is refused at once"
ID1=$("$A" keys list --store keys.json | awk '/alice/ {print $1}')
"$A" keys revoke --store keys.json "$ID1"
expect 401 "${H[@]}" "$URL/v1/models"
expect_error_json

grep -q "$K1" audit.jsonl server.log && fail "a key leaked into a log"
grep -q "\"key_id\":\"$ID1\"" audit.jsonl || fail "audit log has no key id"
stop_server
echo "auth-limits-ok"
