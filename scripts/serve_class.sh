#!/usr/bin/env bash
# Serve a class from N server processes behind nginx, with sticky sessions.
#
#   scripts/serve_class.sh N                  # N replicas on 127.0.0.1:8601.., nginx on :8600
#   scripts/serve_class.sh --print-config N   # only print nginx's configuration
#
# One Streamlit process serves every session from one Python interpreter (one GIL): past a
# few dozen students it is the bottleneck, whatever the cores. This starts N replicas of the
# app (`streamlit run app/main.py`, ports 8601 ... 8600+N, on 127.0.0.1) and nginx in front of
# them (Debian's package `nginx`; run unprivileged, its files under $SSL_EXPLORER_RUN_DIR).
#
# - Sticky sessions: a Streamlit session lives in one process (its websocket, its uploads, its
#   state), so every request of a browser must reach the same replica. nginx hashes a cookie
#   (ssl_explorer_replica) that it sets on the first response to that request's own id, so a
#   browser sticks to one replica from its first request on, and a class behind one school NAT
#   address still spreads over the replicas (ip_hash would put it all on one).
# - Websockets: /_stcore/stream is proxied with HTTP/1.1 and the Upgrade / Connection headers,
#   with long read timeouts (a session's websocket stays open for the whole lesson).
# - /_stcore/metrics answers 404 unless SSL_EXPLORER_METRICS=1 (Streamlit has no switch for it).
# - More machines: SSL_EXPLORER_UPSTREAMS="host1:8601 host1:8602 host2:8601" puts those servers
#   (started there with `STREAMLIT_SERVER_COOKIE_SECRET=S python3 -m streamlit run app/main.py
#   --server.port P --server.address 0.0.0.0`, the same S everywhere) behind this nginx
#   instead of starting local replicas; N is then ignored.
#
# Environment: SSL_EXPLORER_PORT (nginx's port, 8600), SSL_EXPLORER_BIND (its address, 0.0.0.0),
# SSL_EXPLORER_RUN_DIR (configuration, logs and pids; default a new folder under /tmp),
# SSL_EXPLORER_METRICS, SSL_EXPLORER_UPSTREAMS; every other SSL_EXPLORER_* variable (such as
# SSL_EXPLORER_FOLDER_ROOTS, SSL_EXPLORER_TRAINING_SLOTS) reaches the replicas unchanged. Each
# replica's training-slot cap is its own: set SSL_EXPLORER_TRAINING_SLOTS so that N times it
# fits the machine. Ctrl-C, or SIGTERM to the pid in $SSL_EXPLORER_RUN_DIR/serve_class.pid,
# stops nginx and every replica (KILL after 10 s for one that hangs on exit).
set -euo pipefail

print_only=0
if [[ "${1:-}" == "--print-config" ]]; then
  print_only=1
  shift
fi
replicas="${1:-}"
if [[ -z "${SSL_EXPLORER_UPSTREAMS:-}" ]] && ! [[ "$replicas" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/serve_class.sh [--print-config] N   (N >= 1 replicas)" >&2
  exit 2
fi
port="${SSL_EXPLORER_PORT:-8600}"
bind="${SSL_EXPLORER_BIND:-0.0.0.0}"
first_port=8601
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -n "${SSL_EXPLORER_UPSTREAMS:-}" ]]; then
  read -r -a upstreams <<< "$SSL_EXPLORER_UPSTREAMS"
  start_local=0
else
  upstreams=()
  for ((i = 0; i < replicas; i++)); do upstreams+=("127.0.0.1:$((first_port + i))"); done
  start_local=1
fi

nginx_config() {  # $1: the run folder (pid, logs, temp files)
  local run="$1" metrics
  if [[ "${SSL_EXPLORER_METRICS:-0}" == "1" ]]; then
    metrics="        proxy_pass http://ssl_explorer;"
  else
    metrics="        return 404;"
  fi
  cat <<EOF
# written by scripts/serve_class.sh: ${#upstreams[@]} SSL Explorer replica(s) behind one port
worker_processes auto;
pid $run/nginx.pid;
error_log $run/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log $run/nginx-access.log;
    client_body_temp_path $run/client_body;
    proxy_temp_path $run/proxy;
    fastcgi_temp_path $run/fastcgi;
    uwsgi_temp_path $run/uwsgi;
    scgi_temp_path $run/scgi;
    client_max_body_size 25m;  # the app's uploads are capped at 20 MB (.streamlit/config.toml)

    # sticky sessions: the replica cookie, or, on a browser's first request, that request's id
    # (which the response then sets as the cookie)
    map \$cookie_ssl_explorer_replica \$ssl_explorer_sticky {
        ""      \$request_id;
        default \$cookie_ssl_explorer_replica;
    }
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ""      close;
    }
    upstream ssl_explorer {
        hash \$ssl_explorer_sticky consistent;
$(for upstream in "${upstreams[@]}"; do echo "        server $upstream max_fails=0;"; done)
    }
    server {
        listen $bind:$port;
        location = /_stcore/metrics {
$metrics
        }
        location / {
            proxy_pass http://ssl_explorer;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 1d;
            proxy_send_timeout 1d;
            proxy_buffering off;
            add_header Set-Cookie "ssl_explorer_replica=\$ssl_explorer_sticky; Path=/; HttpOnly; SameSite=Lax" always;
            add_header X-SSL-Explorer-Replica \$upstream_addr always;
        }
    }
}
EOF
}

if ((print_only)); then
  nginx_config "${SSL_EXPLORER_RUN_DIR:-/tmp/ssl-explorer-class}"
  exit 0
fi

if ! command -v nginx > /dev/null; then
  echo "nginx is not installed: apt-get install nginx (Debian), then run this again" >&2
  exit 1
fi
run="${SSL_EXPLORER_RUN_DIR:-$(mktemp -d /tmp/ssl-explorer-class.XXXXXX)}"
mkdir -p "$run"
run="$(cd "$run" && pwd)"
pids=()
stop_all() {  # TERM, then KILL what is still there after 10 s (a replica may hang on exit)
  trap - EXIT INT TERM
  [[ -f "$run/nginx.pid" ]] && kill "$(cat "$run/nginx.pid")" 2> /dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
    ((alive)) || break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2> /dev/null || true; done
  rm -f "$run/serve_class.pid"
}
trap stop_all EXIT INT TERM
echo $$ > "$run/serve_class.pid"  # kill this pid to stop everything

if ((start_local)); then
  secret="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  for ((i = 0; i < replicas; i++)); do
    replica_port=$((first_port + i))
    (cd "$root" && STREAMLIT_SERVER_COOKIE_SECRET="$secret" exec python3 -m streamlit run \
      app/main.py --server.port "$replica_port" --server.address 127.0.0.1 \
      --server.headless true --browser.gatherUsageStats false) \
      > "$run/replica-$replica_port.log" 2>&1 &
    pids+=("$!")
  done
  for ((i = 0; i < replicas; i++)); do
    replica_port=$((first_port + i))
    for _ in $(seq 1 600); do
      if python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$replica_port/_stcore/health', timeout=1)" 2> /dev/null; then
        break
      fi
      sleep 0.5
    done
  done
fi

nginx_config "$run" > "$run/nginx.conf"
nginx -t -q -c "$run/nginx.conf" -p "$run"
nginx -c "$run/nginx.conf" -p "$run" -g "daemon off;" &
pids+=("$!")
echo "SSL Explorer: ${#upstreams[@]} replica(s) behind http://$bind:$port (logs in $run)"
wait -n "${pids[@]}" || true
echo "a replica or nginx stopped; stopping the rest (logs in $run)" >&2
