#!/usr/bin/env bash
# bench/http/run_http_bench.sh - cexec's examples/http/http_server against
# nginx, same machine, same run.
#
#   bench/http/run_http_bench.sh [--json] [--server PATH] [--duration 5s]
#                                [--rounds 3] [--conns "100 1000"]
#                                [--busy-poll-us 0] [--recv MODE]
#                                [--batch-wait-us US]
#
# Installs nginx and wrk from Debian when missing. Starts nginx (one worker,
# access log off, `return 200 "Hello, World!"`, its own config, pid and logs
# in a temp dir) and cexec's http_server (--threads 1 --busy-poll-us N,
# default 0: with N > 0, under load its loop polls up to N us before it
# sleeps, so that wrk's CPU pays fewer cross-CPU wake-ups; the setting is
# printed and the polling is in cexec's CPU figure; --recv MODE passes
# http_server's --recv multishot|single, default the server's own; the
# server's line prints the mode that runs; --batch-wait-us US passes
# http_server's batched waiting, default the server's own, 20 us), each
# pinned to CPU 0,
# and loads each from CPU 1 with `wrk -t1 -cN -dD --latency`, alternating
# nginx / cexec for every connection count, --rounds times. Prints requests/s,
# p99 latency, server CPU microseconds per request (all the server's
# threads, from /proc/PID/task/*/schedstat) and the ratio cexec / nginx per
# run and as medians (plus the median of each round's paired ratio); with --json
# one object per line: {"name","value","unit","ratio","baseline"} (ratio is
# value / baseline's value; baseline names the nginx entry, null for nginx).
# Without a built http_server it says so and still measures nginx.
#
# The server is looked up as --server, $CEXEC_HTTP_SERVER, then
# build/examples/http/http_server and build-*/examples/http/http_server.
set -euo pipefail

JSON=0
SERVER=${CEXEC_HTTP_SERVER:-}
DURATION=5s
ROUNDS=3
CONNS="100 1000"
BUSY_POLL_US=0
RECV=      # empty: the server's default; multishot or single
BATCH_WAIT_US=  # empty: the server's default
NGINX_PORT=${NGINX_PORT:-18080}
CEXEC_PORT=${CEXEC_PORT:-18081}

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --json) JSON=1 ;;
    --server) SERVER=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --busy-poll-us) BUSY_POLL_US=$2; shift ;;
    --recv) RECV=$2; shift ;;
    --batch-wait-us) BATCH_WAIT_US=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Human-readable text goes to stderr under --json, so stdout stays JSON.
say() { if [ $JSON -eq 1 ]; then printf '%s\n' "$*" >&2; else printf '%s\n' "$*"; fi; }

# ---- tools -----------------------------------------------------------------
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
missing=()
[ -z "$NGINX" ] && missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing from Debian: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi

if [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER="taskset -c 0"
  PIN_LOAD="taskset -c 1"
else
  say "warning: one CPU only, running unpinned"
  PIN_SERVER=""
  PIN_LOAD=""
fi

if [ -z "$SERVER" ]; then
  for c in "$ROOT"/build/examples/http/http_server "$ROOT"/build-*/examples/http/http_server; do
    if [ -x "$c" ]; then SERVER=$c; break; fi
  done
fi
if [ -n "$SERVER" ] && [ ! -x "$SERVER" ]; then
  say "warning: $SERVER is not an executable"
  SERVER=""
fi

# ---- processes (only those we start; killed at exit) ----------------------
TMP=$(mktemp -d /tmp/cexec-http-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
worker_rlimit_nofile 8192;
events {
  worker_connections 4096;
}
http {
  access_log off;
  # The defaults close a keep-alive connection every 1000 requests; the
  # cexec server never does, so lift the limit to compare like with like.
  keepalive_requests 100000000;
  keepalive_timeout 65;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      default_type text/plain;
      return 200 "Hello, World!";
    }
  }
}
EOF
$PIN_SERVER "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
PIDS+=($!)
if ! wait_port "$NGINX_PORT" 10; then
  say "nginx did not start:"
  cat "$TMP/nginx/error.log" >&2 || true
  exit 1
fi
# The worker (the master only supervises) is whose CPU time we count.
NGINX_WORKER=""
for ((i = 0; i < 40; i++)); do
  NGINX_WORKER=$(pgrep -P "${PIDS[0]}" | head -1 || true)
  [ -n "$NGINX_WORKER" ] && break
  sleep 0.05
done
NGINX_WORKER=${NGINX_WORKER:-${PIDS[0]}}
say "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$NGINX_PORT (pid ${PIDS[0]}, CPU 0)"

HAVE_CEXEC=0
if [ -n "$SERVER" ]; then
  $PIN_SERVER "$SERVER" --port "$CEXEC_PORT" --threads 1 --busy-poll-us "$BUSY_POLL_US" \
    ${RECV:+--recv "$RECV"} ${BATCH_WAIT_US:+--batch-wait-us "$BATCH_WAIT_US"} \
    >"$TMP/cexec.log" 2>&1 &
  PIDS+=($!)
  if wait_port "$CEXEC_PORT" 10; then
    HAVE_CEXEC=1
    say "cexec $SERVER on 127.0.0.1:$CEXEC_PORT (pid ${PIDS[1]}, CPU 0)"
    for ((i = 0; i < 40; i++)); do
      [ -s "$TMP/cexec.log" ] && break
      sleep 0.05
    done
    say "  --threads 1 --busy-poll-us $BUSY_POLL_US${RECV:+ --recv $RECV}${BATCH_WAIT_US:+ --batch-wait-us $BATCH_WAIT_US} ($(head -1 "$TMP/cexec.log" | sed 's/.*(//; s/)$//'))"
    if [ "$BUSY_POLL_US" != 0 ]; then
      say "  (busy poll: under load the loop polls up to $BUSY_POLL_US us before it sleeps;"
      say "   the polling counts in cexec's cpu us/req)"
    fi
  else
    say "cexec http_server did not start:"
    cat "$TMP/cexec.log" >&2 || true
  fi
else
  say "cexec http_server not found (build the examples: cmake --build build" \
      "--target http_server); measuring nginx only"
fi

# A figure for a server that answers wrongly would mean nothing.
check_hello() { # name port
  command -v curl >/dev/null || return 0
  local body
  body=$(curl -s --max-time 5 "http://127.0.0.1:$2/" || true)
  if [ "$body" != "Hello, World!" ]; then
    say "$1 on port $2 answered '$body', not 'Hello, World!'"
    return 1
  fi
}
check_hello nginx "$NGINX_PORT" || exit 1
if [ $HAVE_CEXEC -eq 1 ] && ! check_hello cexec "$CEXEC_PORT"; then
  exit 1
fi

# ---- load ------------------------------------------------------------------
# CPU time a process has used so far, in ns, all threads (schedstat is
# precise where utime/stime count 10 ms ticks); 0 when unreadable.
cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%.0f\n", t + 0 }'
}

# run_wrk PORT CONNS -> prints "rps p99_ms errors requests"
run_wrk() {
  local out
  out=$($PIN_LOAD wrk -t1 -c"$2" -d"$DURATION" --latency "http://127.0.0.1:$1/" 2>&1) || true
  printf '%s\n' "$out" >>"$TMP/wrk.log"
  printf '%s\n' "$out" | awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000;
      if (v ~ /ms$/) return v + 0;
      if (v ~ /m$/) return v * 60000;
      if (v ~ /s$/) return v * 1000;
      return v + 0;
    }
    /^Requests\/sec:/ { rps = $2 }
    / requests in / { reqs = $1 }
    /^ *99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { err += $NF }
    /Socket errors:/ {
      gsub(",", ""); err += $4 + $6 + $8 + $10
    }
    END { printf "%.0f %.3f %d %d\n", rps + 0, p99 + 0, err + 0, reqs + 0 }'
}

declare -A RPS P99 ERRS PAIR CPU
last_nginx=0
say ""
if [ $JSON -eq 0 ]; then
  printf '%-6s %-6s %-6s %14s %10s %12s %8s\n' round conns server "requests/s" "p99 ms" \
    "cpu us/req" errors
fi
for ((r = 1; r <= ROUNDS; r++)); do
  for c in $CONNS; do
    servers="nginx"
    [ $HAVE_CEXEC -eq 1 ] && servers="nginx cexec"
    for s in $servers; do
      port=$NGINX_PORT
      [ "$s" = cexec ] && port=$CEXEC_PORT
      spid=$NGINX_WORKER
      [ "$s" = cexec ] && spid=${PIDS[1]}
      cpu0=$(cpu_ns "$spid")
      read -r rps p99 err reqs < <(run_wrk "$port" "$c")
      cpu1=$(cpu_ns "$spid")
      # Server CPU per request: steadier than requests/s when other jobs
      # share the machine, and the cost that matters at scale.
      cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$reqs" 'BEGIN { if (n > 0 && b > a) printf "%.2f", (b - a) / n / 1000; else print 0 }')
      CPU[$s,$c]="${CPU[$s,$c]:-} $cpu"
      RPS[$s,$c]="${RPS[$s,$c]:-} $rps"
      # The ratio of each back-to-back pair: the load of the shared machine
      # drifts between rounds more than between the two halves of a pair.
      if [ "$s" = cexec ]; then
        PAIR[$c]="${PAIR[$c]:-} $(awk -v a="$rps" -v b="$last_nginx" 'BEGIN { if (b > 0) printf "%.3f", a / b }')"
      else
        last_nginx=$rps
      fi
      P99[$s,$c]="${P99[$s,$c]:-} $p99"
      ERRS[$s,$c]=$(( ${ERRS[$s,$c]:-0} + err ))
      if [ $JSON -eq 0 ]; then
        printf '%-6s %-6s %-6s %14s %10s %12s %8s\n' "$r" "$c" "$s" "$rps" "$p99" "$cpu" "$err"
      fi
    done
  done
done
# A server that died under load is a failure, not a figure.
if [ $HAVE_CEXEC -eq 1 ] && ! kill -0 "${PIDS[1]}" 2>/dev/null; then
  say "cexec http_server exited during the run:"
  cat "$TMP/cexec.log" >&2 || true
  exit 1
fi

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "null" }'; }

say ""
if [ $JSON -eq 0 ]; then
  echo "medians of $ROUNDS runs (wrk -t1 -cN -d$DURATION; servers on CPU 0, wrk on CPU 1)"
  echo "(ratio: of the medians; paired: median of each round's cexec / nginx)"
  printf '%-6s %14s %14s %8s %8s %10s %10s %8s %10s %10s %8s\n' conns "nginx req/s" \
    "cexec req/s" ratio paired "nginx p99" "cexec p99" ratio "nginx cpu" "cexec cpu" ratio
fi
if [ $JSON -eq 1 ] && [ $HAVE_CEXEC -eq 1 ]; then
  printf '{"name":"http_cexec_busy_poll_us","value":%s,"unit":"us","ratio":null,"baseline":null}\n' "$BUSY_POLL_US"
fi
for c in $CONNS; do
  n_rps=$(echo "${RPS[nginx,$c]}" | median)
  n_p99=$(echo "${P99[nginx,$c]}" | median)
  n_cpu=$(echo "${CPU[nginx,$c]}" | median)
  if [ $HAVE_CEXEC -eq 1 ]; then
    x_rps=$(echo "${RPS[cexec,$c]}" | median)
    x_p99=$(echo "${P99[cexec,$c]}" | median)
    r_rps=$(ratio "$x_rps" "$n_rps")
    r_p99=$(ratio "$x_p99" "$n_p99")
    r_pair=$(echo "${PAIR[$c]:-}" | median)
    x_cpu=$(echo "${CPU[cexec,$c]}" | median)
    r_cpu=$(ratio "$x_cpu" "$n_cpu")
  else
    x_rps="-" x_p99="-" r_rps="-" r_p99="-" r_pair="-" x_cpu="-" r_cpu="-"
  fi
  if [ $JSON -eq 1 ]; then
    printf '{"name":"http_c%s_requests_per_s_nginx","value":%s,"unit":"req/s","ratio":1,"baseline":null}\n' "$c" "$n_rps"
    printf '{"name":"http_c%s_p99_nginx","value":%s,"unit":"ms","ratio":1,"baseline":null}\n' "$c" "$n_p99"
    printf '{"name":"http_c%s_cpu_us_per_req_nginx","value":%s,"unit":"us","ratio":1,"baseline":null}\n' "$c" "$n_cpu"
    if [ $HAVE_CEXEC -eq 1 ]; then
      printf '{"name":"http_c%s_requests_per_s_cexec","value":%s,"unit":"req/s","ratio":%s,"baseline":"http_c%s_requests_per_s_nginx"}\n' "$c" "$x_rps" "$r_rps" "$c"
      printf '{"name":"http_c%s_p99_cexec","value":%s,"unit":"ms","ratio":%s,"baseline":"http_c%s_p99_nginx"}\n' "$c" "$x_p99" "$r_p99" "$c"
      printf '{"name":"http_c%s_cpu_us_per_req_cexec","value":%s,"unit":"us","ratio":%s,"baseline":"http_c%s_cpu_us_per_req_nginx"}\n' "$c" "$x_cpu" "$r_cpu" "$c"
      printf '{"name":"http_c%s_paired_ratio_cexec","value":%s,"unit":"ratio","ratio":%s,"baseline":"http_c%s_requests_per_s_nginx"}\n' "$c" "${r_pair:-null}" "${r_pair:-null}" "$c"
    fi
  else
    printf '%-6s %14s %14s %8s %8s %10s %10s %8s %10s %10s %8s\n' "$c" "$n_rps" "$x_rps" \
      "$r_rps" "${r_pair:--}" "$n_p99" "$x_p99" "$r_p99" "$n_cpu" "$x_cpu" "$r_cpu"
  fi
  for s in nginx cexec; do
    e=${ERRS[$s,$c]:-0}
    [ "$e" -gt 0 ] && say "note: $s at c$c: $e socket errors or non-2xx responses"
  done
done
exit 0
