#!/usr/bin/env bash
# Scale-out overhead: 2 aero serve replicas behind nginx sharing PostgreSQL (sessions, keys and
# per-key limits in the shared store) against 1 replica reached directly with the single-machine
# defaults (SQLite, a keys file, in-process limits), at 8 and 32 concurrent streaming clients
# (bench/serve_load.mjs). Prints aggregate generated tokens/s, p50/p95 time to first token and
# the ratio 2-behind-nginx / 1-direct per level; two rounds, alternating, to show the noise.
#   bench/serve_replicas.sh [MODEL]
# Same default model as bench/serve_load.sh (25M parameters). On one 2-core machine the
# replicas share the cores with the clients, nginx and PostgreSQL: the point is what nginx and
# the shared store cost, not more throughput (that needs a machine per replica).
# Env: AERO (binary), MAX_TOKENS (64), REQS (requests per client, 4), THREADS (engine threads per
#      replica, 1), DIRECT_THREADS (the direct replica's, THREADS), ROUNDS (2), REPLICAS (behind
#      nginx, 2), FORMAT (the replicas' weights: f32, bf16 or q8; default f32).
# THREADS=1 DIRECT_THREADS=2 compares the two setups on the same 2 cores: one replica using both,
# or two replicas with one each. REPLICAS=1 THREADS=2 isolates what nginx and PostgreSQL cost:
# the same single replica reached directly with SQLite or through nginx with the shared store.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
A=${AERO:-$root/build/aero}
T=$(mktemp -d /tmp/aero-bench.XXXXXX)
chmod 755 "$T"
pids=() nginx_pid="" pgdir=""
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_pg() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [[ -n $nginx_pid ]] && { kill -TERM "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null || true; }
  [[ -n $pgdir ]] && as_pg "$PG_BIN/pg_ctl" -D "$pgdir/data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_health() {
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/health") == 200 ]]; do sleep 0.05; done
}
model=${1:-}
if [[ -z $model ]]; then
  N_EMBD=512 N_LAYER=8 N_HEAD=8 FFN=2048 BATCH=2 THREADS=2 \
    bash "$root/tests/server/make_model.sh" "$A" "$T/m" 20 > /dev/null
  model=$T/m/run
fi
SERVE=(-m "$model" --format "${FORMAT:-f32}" --max-batch 32 --max-queue 256 --rpm 100000)

# PostgreSQL with its default durability (fsync on), as a deployment would run it.
pgdir=$T/pg
mkdir -p "$pgdir"
[[ $(id -u) -eq 0 ]] && chown postgres "$pgdir"
pg_port=$(free_port)
as_pg "$PG_BIN/initdb" -D "$pgdir/data" -U aero -A trust -E UTF8 > /dev/null
as_pg "$PG_BIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/pg.log" -w start \
  -o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1" > /dev/null
as_pg "$PG_BIN/psql" -q -h 127.0.0.1 -p "$pg_port" -U aero -d postgres -c 'CREATE DATABASE aero'
pgurl="postgresql://aero@127.0.0.1:$pg_port/aero"
pg_key=$("$A" keys add --store "$pgurl" --name bench 2> /dev/null)
file_key=$("$A" keys add --store "$T/keys.json" --name bench 2> /dev/null)

# 1 replica, direct, single-machine defaults.
p1=$(free_port)
"$A" serve "${SERVE[@]}" --threads "${DIRECT_THREADS:-${THREADS:-1}}" --port "$p1" --sessions "$T/s.db" --keys "$T/keys.json" > "$T/one.log" 2>&1 &
pids+=($!)
one=http://127.0.0.1:$p1
# REPLICAS replicas behind nginx, shared store.
n_rep=${REPLICAS:-2}
ups=()
for r in $(echo a b c d e f g h | cut -d' ' -f1-"$n_rep"); do
  p=$(free_port)
  "$A" serve "${SERVE[@]}" --threads "${THREADS:-1}" --port "$p" --sessions "$pgurl" --keys "$pgurl" --replica-name "$r" \
    > "$T/$r.log" 2>&1 &
  pids+=($!)
  ups+=("127.0.0.1:$p")
done
np=$(free_port)
bash "$root/deploy/render-nginx.sh" "$T/nginx" "$np" "${ups[@]}"
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" &
nginx_pid=$!
two=http://127.0.0.1:$np
wait_health "$one"
for u in "${ups[@]}"; do wait_health "http://$u"; done
wait_health "$two"

echo "aero serve $(basename "$model") (${FORMAT:-f32} weights), engine threads: ${DIRECT_THREADS:-${THREADS:-1}} direct, ${THREADS:-1} per replica ($n_rep) behind nginx, $(nproc) CPUs, max_tokens ${MAX_TOKENS:-64}, ${REQS:-4} requests per client"
field() { node -e "console.log(JSON.parse(process.argv[1]).$2)" "$1"; }
run() {  # run LABEL URL KEY CLIENTS -> prints the line, sets TPS
  local line
  line=$(node "$root/bench/serve_load.mjs" "$2" "$3" "$4" "${REQS:-4}" "${MAX_TOKENS:-64}")
  [[ $(field "$line" errors) == 0 ]] || { echo "serve_replicas: errors: $line" >&2; exit 1; }
  printf '%-22s %s\n' "$1" "$line"
  TPS=$(field "$line" tokens_per_s)
}
for round in $(seq 1 "${ROUNDS:-2}"); do
  for c in 8 32; do
    run "1 replica direct" "$one" "$file_key" "$c"; t1=$TPS
    run "$n_rep replica(s) via nginx" "$two" "$pg_key" "$c"; t2=$TPS
    echo "round $round, $c clients: $n_rep replica(s) behind nginx / 1 direct = $(node -e "console.log(($t2 / $t1).toFixed(2))")x aggregate tokens/s"
  done
done
