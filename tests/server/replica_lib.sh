# Helpers of the scale-out tests (sourced after lib.sh): a throwaway PostgreSQL 15 cluster, aero
# replicas and nginx, all on loopback ports, all stopped by the EXIT trap. No mocks: the real
# postgres and nginx binaries of Debian.
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x $PG_BIN/initdb ]] || fail "PostgreSQL server not installed (scripts/deps.sh test)"
command -v nginx > /dev/null || [[ -x /usr/sbin/nginx ]] || fail "nginx not installed (scripts/deps.sh test)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
DEPLOY=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../../deploy")
PGDIR="" PG_PORT="" PGURL="" NGINX_DIR="" NGINX_PID="" NGINX_URL=""
declare -A REPLICA_PID REPLICA_PORT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# postgres refuses to run as root: as root, run its tools as the postgres user.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

replica_cleanup() {
  for n in "${!REPLICA_PID[@]}"; do kill -9 "${REPLICA_PID[$n]}" 2>/dev/null || true; done
  # TERM, not KILL: the master then stops its worker, which KILL would leave behind.
  if [[ -n $NGINX_PID ]]; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  if [[ -n $PGDIR ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" stop -m immediate > /dev/null 2>&1 || true
    rm -rf "$PGDIR"
  fi
  cleanup
}
trap replica_cleanup EXIT

# start_pg: a fresh cluster with a database "aero" owned by user aero; sets PGURL.
start_pg() {
  PGDIR=$(mktemp -d /tmp/aero-pg.XXXXXX)
  [[ $(id -u) -eq 0 ]] && chown postgres "$PGDIR"
  PG_PORT=$(free_port)
  as_pg "$PG_BIN/initdb" -D "$PGDIR/data" -U aero -A trust -E UTF8 --no-sync > "$PGDIR/initdb.log" 2>&1 \
    || fail "initdb: $(cat "$PGDIR/initdb.log")"
  pg_up
  as_pg "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U aero -d postgres -c 'CREATE DATABASE aero' \
    || fail "createdb"
  PGURL="postgresql://aero@127.0.0.1:$PG_PORT/aero"
  echo "  PostgreSQL on port $PG_PORT"
}
pg_up() { bash -c "$(pg_cmd up)" || fail "postgres did not start: $(tail -5 "$PGDIR/pg.log")"; }
pg_down() { bash -c "$(pg_cmd down)"; }
# pg_cmd up|down: the same as one shell command line, for a client that stops PostgreSQL itself.
pg_cmd() {
  local run=""
  [[ $(id -u) -eq 0 ]] && run="cd / && runuser -u postgres --"
  if [[ $1 == down ]]; then
    echo "$run $PG_BIN/pg_ctl -D $PGDIR/data -w -m fast stop > /dev/null"
  else
    echo "$run $PG_BIN/pg_ctl -D $PGDIR/data -l $PGDIR/pg.log -w -t 60 start -o '-p $PG_PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' > /dev/null"
  fi
}
psql_aero() { as_pg "$PG_BIN/psql" -qtA -h 127.0.0.1 -p "$PG_PORT" -U aero -d aero "$@"; }

# start_replica NAME [aero serve options]: a replica on its own port (kept across restarts, so
# nginx finds it again), named NAME in /metrics and X-Aero-Replica; waits until /health is 200.
start_replica() {
  local name=$1
  shift
  local port=${REPLICA_PORT[$name]:-$(free_port)}
  REPLICA_PORT[$name]=$port
  : > "replica_$name.log"
  "$A" serve -m "$MODEL" --port "$port" --threads 1 --replica-name "$name" \
    --audit-log "$T/audit_$name.jsonl" "$@" >> "replica_$name.log" 2>&1 &
  REPLICA_PID[$name]=$!
  for _ in $(seq 1 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health") == 200 ]] && return 0
    kill -0 "${REPLICA_PID[$name]}" 2>/dev/null || fail "replica $name exited: $(tail -5 replica_$name.log)"
    sleep 0.05
  done
  fail "replica $name not ready: $(tail -5 replica_$name.log)"
}
replica_url() { echo "http://127.0.0.1:${REPLICA_PORT[$1]}"; }
kill_replica() {  # kill_replica NAME SIGNAL
  kill "-$2" "${REPLICA_PID[$1]}"
  wait "${REPLICA_PID[$1]}" 2> /dev/null || true
  unset "REPLICA_PID[$1]"
}

# start_nginx NAME...: deploy/aero-nginx.conf in front of the named replicas; sets NGINX_URL.
start_nginx() {
  NGINX_DIR="$T/nginx"
  local port upstreams=()
  port=$(free_port)
  for n in "$@"; do upstreams+=("127.0.0.1:${REPLICA_PORT[$n]}"); done
  bash "$DEPLOY/render-nginx.sh" "$NGINX_DIR" "$port" "${upstreams[@]}"
  "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" > "$T/nginx.out" 2>&1 &
  NGINX_PID=$!
  NGINX_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$NGINX_URL/health") == 200 ]] && return 0
    sleep 0.05
  done
  fail "nginx did not start: $(cat "$T/nginx.out" "$NGINX_DIR/logs/error.log")"
}
