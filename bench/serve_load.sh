#!/usr/bin/env bash
# Serving load benchmark: aero serve with continuous batching against 1, 4, 8 and 32 concurrent
# streaming clients (bench/serve_load.mjs, Node's fetch). Prints aggregate generated tokens/s,
# p50/p95 latency and time to first token per level, and the ratio of 8 clients to 1.
#   bench/serve_load.sh [MODEL]
# Default model: the server tests' chat data on a 25M-parameter GPT (8 layers, 512 wide), trained
# for a few steps: big enough that decoding reads weights from memory, as real models do, so
# batching has something to share (a 100k-parameter toy is compute-bound and gains nothing).
# Env: AERO (binary, default build/aero), MAX_TOKENS (64), REQS (requests per client, 4),
#      THREADS (engine threads, 1: the clients run on the same 2 cores and need the other one).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
A=${AERO:-$root/build/aero}
T=$(mktemp -d); pid=""
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
model=${1:-}
if [[ -z $model ]]; then
  N_EMBD=512 N_LAYER=8 N_HEAD=8 FFN=2048 BATCH=2 THREADS=2 \
    bash "$root/tests/server/make_model.sh" "$A" "$T/m" 20 > /dev/null
  model=$T/m/run
fi
"$A" serve -m "$model" --port 0 --threads "${THREADS:-1}" --max-batch 32 --max-queue 256 \
  --sessions "$T/s.db" > "$T/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do grep -q listening "$T/server.log" && break; sleep 0.05; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$T/server.log")
until [[ $(curl -s -o /dev/null -w '%{http_code}' "$url/health") == 200 ]]; do sleep 0.05; done
echo "aero serve $(basename "$model"), ${THREADS:-1} engine thread(s), $(nproc) CPUs, max_tokens ${MAX_TOKENS:-64}, ${REQS:-4} requests per client"
declare -A tps
for c in 1 4 8 32; do
  line=$(node "$root/bench/serve_load.mjs" "$url" "" "$c" "${REQS:-4}" "${MAX_TOKENS:-64}")
  echo "$line"
  tps[$c]=$(node -e "console.log(JSON.parse(process.argv[1]).tokens_per_s)" "$line")
  errs=$(node -e "console.log(JSON.parse(process.argv[1]).errors)" "$line")
  [[ $errs == 0 ]] || { echo "serve_load: $errs errors at concurrency $c" >&2; exit 1; }
done
echo "ratio 8 clients vs 1: $(node -e "console.log((${tps[8]} / ${tps[1]}).toFixed(2))")x aggregate tokens/s"
kill -TERM $pid; wait $pid; pid=""
