#!/usr/bin/env bash
# Writes a self-contained nginx configuration for a try-out on one machine: deploy/aero-nginx.conf
# with the given listen address and replicas, inside a main file that keeps every path under DIR
# (pid, logs, temp files), so nginx runs without touching /etc/nginx or /var.
#   render-nginx.sh DIR LISTEN_PORT REPLICA_HOST:PORT...
# Then: nginx -p DIR -c DIR/nginx.conf   (stop: nginx -p DIR -c DIR/nginx.conf -s quit)
set -euo pipefail
dir=$1 listen=$2
shift 2
[[ $# -ge 1 ]] || { echo "usage: render-nginx.sh DIR LISTEN_PORT REPLICA_HOST:PORT..." >&2; exit 2; }
here=$(dirname "$(realpath "$0")")
mkdir -p "$dir/tmp" "$dir/logs"
servers=""
for r in "$@"; do servers+="    server $r max_fails=2 fail_timeout=5s;"$'\n'; done
awk -v servers="$servers" -v listen="    listen 127.0.0.1:$listen;" '
  /# replicas:begin/ { printf "%s", servers; skip = 1; next }
  /# replicas:end/   { skip = 0; next }
  /# listen:begin/   { print listen; skip = 1; next }
  /# listen:end/     { skip = 0; next }
  !skip' "$here/aero-nginx.conf" > "$dir/aero.conf"
# Run as root (a test machine), the workers keep root: the temp paths are under DIR, which only
# root may enter.
user=""
[[ $(id -u) -eq 0 ]] && user="user root;"
cat > "$dir/nginx.conf" <<CONF
$user
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/aero.conf;
}
CONF
