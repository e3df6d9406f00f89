# Helpers of the server tests (sourced): start aero serve on a free port, wait until the model is
# loaded, check HTTP statuses. Needs A (the aero binary) and MODEL; works in a fresh temp dir.
set -euo pipefail
A=$(realpath "$A"); MODEL=$(realpath "$MODEL")
T=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T"

fail() { echo "FAIL: $*" >&2; [[ -f server.log ]] && tail -20 server.log >&2; exit 1; }

# start_server [extra aero serve options]: sets SERVER_PID and URL, returns when /health is 200.
start_server() {
  # The log exists before the server starts: the background redirect may not have created it
  # when sed first reads it, and sed's error would end the test (set -e) at random.
  : > server.log
  "$A" serve -m "$MODEL" --port 0 --threads 1 --sessions "$T/sessions.db" \
    --audit-log "$T/audit.jsonl" "$@" > server.log 2>&1 &
  SERVER_PID=$!
  local port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' server.log)
    [[ -n $port ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited: $(cat server.log)"
    sleep 0.05
  done
  [[ -n $port ]] || fail "server did not print its port"
  URL="http://127.0.0.1:$port"
  for _ in $(seq 1 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/health") == 200 ]] && return 0
    sleep 0.05
  done
  fail "model did not load"
}

stop_server() {  # SIGTERM, wait for a clean exit
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [[ $rc == 0 ]] || fail "server exited with $rc on SIGTERM"
}

# expect CODE curl-args...: runs curl, checks the status, leaves the body in body.txt and the
# headers in headers.txt.
expect() {
  local want=$1
  shift
  local got
  got=$(curl -s -o body.txt -D headers.txt -w '%{http_code}' "$@") || true
  [[ $got == "$want" ]] || fail "expected $want, got $got from curl $*: $(head -c 400 body.txt)"
}

# An error body must be OpenAI's shape with a message.
expect_error_json() {
  jq_like=$(node -e 'const b=JSON.parse(require("fs").readFileSync("body.txt","utf8")); if(!b.error||typeof b.error.message!=="string"||!b.error.type) process.exit(1); console.log(b.error.message)') \
    || fail "not an OpenAI error body: $(head -c 300 body.txt)"
  echo "  error: $jq_like"
}

# json EXPR: evaluates a JS expression over the body (as `b`) and prints it.
json() { node -e "const b=JSON.parse(require('fs').readFileSync('body.txt','utf8')); console.log($1)"; }
