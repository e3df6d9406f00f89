#!/usr/bin/env bash
# A try-out of aero at scale on one machine, everything on loopback: a throwaway PostgreSQL
# cluster, N `aero serve` replicas sharing it (sessions, per-key limits, API keys) and nginx in
# front with deploy/aero-nginx.conf. Ctrl-C stops everything and removes the temp directory.
#   deploy/tryout.sh --model RUN_DIR [--replicas 2] [--port 8080] [--aero build/aero]
#                    [-- extra aero serve options]
# Needs Debian's postgresql and nginx (scripts/deps.sh test installs them). See docs/deploy.md.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
AERO=$here/../build/aero MODEL="" N=2 PORT=8080 EXTRA=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) MODEL=$2; shift 2 ;;
    --replicas) N=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --aero) AERO=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "tryout: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -n $MODEL ]] || { echo "tryout: --model RUN_DIR is required" >&2; exit 2; }
[[ -x $AERO ]] || { echo "tryout: no aero binary at $AERO (scripts/build.sh, or --aero)" >&2; exit 2; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $PG_BIN/initdb ]] || { echo "tryout: PostgreSQL is not installed (apt install postgresql)" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "tryout: nginx is not installed (apt install nginx)" >&2; exit 2; }

dir=$(mktemp -d /tmp/aero-tryout.XXXXXX)
pids=()
as_pg() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
stop() {
  echo "stopping" >&2
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m fast stop > /dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 0' INT TERM
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$dir/pg"
[[ $(id -u) -eq 0 ]] && chown postgres "$dir/pg" && chmod 755 "$dir"
pg_port=$(free_port)
as_pg "$PG_BIN/initdb" -D "$dir/pg/data" -U aero -A trust -E UTF8 > "$dir/pg/initdb.log"
as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/pg.log" -w start \
  -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1" > /dev/null
as_pg "$PG_BIN/psql" -q -h 127.0.0.1 -p "$pg_port" -U aero -d postgres -c 'CREATE DATABASE aero'
url="postgresql://aero@127.0.0.1:$pg_port/aero"
key=$("$AERO" keys add --store "$url" --name tryout 2> /dev/null)

# Replicas on one machine share its cores: each gets its share unless --threads is given after
# `--` (two replicas of all cores each run twice as many threads as there are cores).
threads=()
[[ " ${EXTRA[*]} " == *" --threads "* ]] || threads=(--threads $(( $(nproc) / N > 0 ? $(nproc) / N : 1 )))
upstreams=()
for i in $(seq 1 "$N"); do
  port=$(free_port)
  "$AERO" serve -m "$MODEL" --port "$port" --sessions "$url" --keys "$url" \
    --replica-name "r$i" --audit-log "$dir/audit_r$i.jsonl" "${threads[@]}" "${EXTRA[@]}" \
    > "$dir/r$i.log" 2>&1 &
  pids+=($!)
  upstreams+=("127.0.0.1:$port")
done
for u in "${upstreams[@]}"; do
  for _ in $(seq 1 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$u/health") == 200 ]] && break
    sleep 0.1
  done
done
bash "$here/render-nginx.sh" "$dir/nginx" "$PORT" "${upstreams[@]}"
"$NGINX" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" &
pids+=($!)
sleep 0.5
cat <<MSG
aero at scale on loopback ($dir):
  nginx            http://127.0.0.1:$PORT   (chat page at /, API at /v1, /chat, /ws)
  replicas         ${upstreams[*]}   (logs: $dir/r*.log)
  PostgreSQL       $url
  API key          $key
Try:
  curl -N http://127.0.0.1:$PORT/chat -H 'Authorization: Bearer $key' -d '{"message":"hello"}'
  $AERO keys add --store $url --name someone
Ctrl-C stops everything.
MSG
wait "${pids[0]}"
