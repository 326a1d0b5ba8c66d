#!/usr/bin/env bash
# bench/echo/run_echo_bench.sh - cexec's examples/echo_server against the
# hand-written liburing baseline (bench/echo/echo_raw_server), same run.
#
#   bench/echo/run_echo_bench.sh [--json] [--quick] [--rounds 3]
#       [--duration 5] [--conns "100 1000 10000"] [--size 64]
#       [--raw PATH] [--server PATH] [--load PATH] [--build DIR]
#
# For every connection count N and every round, starts the raw server, then
# cexec's echo_server (alternating, a fresh process each time, --threads 1,
# provided buffers, --port 0), pinned to CPU 0, and runs echo_load pinned to
# CPU 1: N connections, one warm-up echo each, idle RSS reading, then
# --size-byte ping-pong for --duration seconds. Prints round trips/s, p50 and
# p99 latency, server CPU microseconds per round trip and server RSS growth
# per idle connection, per run and as medians with the ratio cexec / raw
# (of the medians) and the paired ratio: the median of each round's
# cexec / raw, the two measured back to back - the load of the shared
# machine drifts between rounds more than within a pair.
# --json prints one object per line, {"name","value","unit","ratio",
# "baseline"} (ratio = value / the raw entry's value; baseline names it, null
# for raw entries), plus echo_c<N>_<metric>_paired_cexec (unit "ratio",
# value = ratio = the median paired ratio); human-readable text then goes
# to stderr.
# --quick: N = 10 and 100, 1 s, one round (the CTest smoke test).
#
# Targets (issue 4): rt/s >= 0.95x raw, CPU/rt <= 1.05x raw at every N;
# RSS per idle connection <= 1 KiB with provided buffers. The script reports
# them; it fails only when a run goes wrong (a server that does not start or
# dies, a load generator that sees an error or a wrong byte), never on a
# figure. Binaries are looked up as --raw/--server/--load, else in --build
# DIR, build-echo, build and build-*/ (bench/echo/, examples/).
set -euo pipefail

JSON=0
QUICK=0
ROUNDS=3
DURATION=5
CONNS="100 1000 10000"
SIZE=64
RAW=""
SERVER=""
LOAD=""
BUILD=""
ROUNDS_SET=0 DURATION_SET=0 CONNS_SET=0

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --json) JSON=1 ;;
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; ROUNDS_SET=1; shift ;;
    --duration) DURATION=$2; DURATION_SET=1; shift ;;
    --conns) CONNS=$2; CONNS_SET=1; shift ;;
    --size) SIZE=$2; shift ;;
    --raw) RAW=$2; shift ;;
    --server) SERVER=$2; shift ;;
    --load) LOAD=$2; shift ;;
    --build) BUILD=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ $QUICK -eq 1 ]; then
  [ $ROUNDS_SET -eq 0 ] && ROUNDS=1
  [ $DURATION_SET -eq 0 ] && DURATION=1
  [ $CONNS_SET -eq 0 ] && CONNS="10 100"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
say() { if [ $JSON -eq 1 ]; then printf '%s\n' "$*" >&2; else printf '%s\n' "$*"; fi; }

find_bin() { # current-value relative-path
  if [ -n "$1" ]; then echo "$1"; return; fi
  local d
  for d in ${BUILD:+"$BUILD"} "$ROOT/build-echo" "$ROOT/build" "$ROOT"/build-*; do
    if [ -x "$d/$2" ]; then echo "$d/$2"; return; fi
  done
}
RAW=$(find_bin "$RAW" bench/echo/echo_raw_server)
LOAD=$(find_bin "$LOAD" bench/echo/echo_load)
SERVER=$(find_bin "$SERVER" examples/echo_server)
if [ -z "$RAW" ] || [ -z "$LOAD" ]; then
  say "echo_raw_server / echo_load not found: cmake --build <dir> --target" \
      "bench_echo_raw_server bench_echo_load (or pass --raw/--load)"
  exit 1
fi
SERVERS="raw"
if [ -n "$SERVER" ] && [ -x "$SERVER" ]; then
  SERVERS="raw cexec"
else
  say "cexec echo_server not found (build target examples_echo_server); measuring raw only"
  SERVER=""
fi

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  PIN_SERVER="taskset -c 0"
  PIN_LOAD="taskset -c 1"
else
  say "warning: fewer than two CPUs (or no taskset): running unpinned"
  PIN_SERVER=""
  PIN_LOAD=""
fi

TMP=$(mktemp -d /tmp/cexec-echo-bench.XXXXXX)
SPID=""
stop_server() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
  fi
}
cleanup() { stop_server; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME -> sets SPID and PORT; the server prints
# "listening on 127.0.0.1:<port>" once its listeners exist.
start_server() {
  local bin=$RAW
  [ "$1" = cexec ] && bin=$SERVER
  : >"$TMP/$1.log"
  # A bounded life: a crashed script never leaves a server running.
  $PIN_SERVER "$bin" --port 0 --threads 1 --max-seconds 900 >"$TMP/$1.log" 2>&1 &
  SPID=$!
  PORT=""
  local i
  for ((i = 0; i < 200; i++)); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$1.log" | head -n1)
    [ -n "$PORT" ] && return 0
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.05
  done
  say "$1 server did not start:"
  cat "$TMP/$1.log" >&2
  exit 1
}

declare -A V
FIELDS="rt_per_s p50_us p99_us cpu_us_per_rt rss_bytes_per_conn"
say "raw:   $RAW"
[ -n "$SERVER" ] && say "cexec: $SERVER"
say "load:  $LOAD (${SIZE}-byte ping-pong, ${DURATION} s, servers on CPU 0, load on CPU 1)"
if [ $JSON -eq 0 ]; then
  printf '%-5s %-6s %-5s %12s %9s %9s %9s %10s\n' round conns server "rt/s" "p50 us" \
    "p99 us" "CPU us/rt" "RSS B/conn"
fi
for ((r = 1; r <= ROUNDS; r++)); do
  for n in $CONNS; do
    for s in $SERVERS; do
      start_server "$s"
      out=$($PIN_LOAD "$LOAD" --port "$PORT" --conns "$n" --size "$SIZE" \
            --duration "$DURATION" --server-pid "$SPID" 2>&1) || {
        say "echo_load failed against $s (N=$n):"
        printf '%s\n' "$out" >&2
        cat "$TMP/$s.log" >&2
        exit 1
      }
      if ! kill -0 "$SPID" 2>/dev/null; then
        say "$s server exited during the run:"
        cat "$TMP/$s.log" >&2
        exit 1
      fi
      stop_server
      line=$(printf '%s\n' "$out" | grep '^RESULT ')
      for f in $FIELDS; do
        val=$(printf '%s\n' "$line" | sed -n "s/.* $f=\([^ ]*\).*/\1/p")
        V[$s,$n,$f]="${V[$s,$n,$f]:-} $val"
        eval "cur_$f=\$val"
      done
      if [ $JSON -eq 0 ]; then
        printf '%-5s %-6s %-5s %12s %9s %9s %9s %10s\n' "$r" "$n" "$s" "$cur_rt_per_s" \
          "$cur_p50_us" "$cur_p99_us" "$cur_cpu_us_per_rt" "$cur_rss_bytes_per_conn"
      fi
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "null" }'; }
# paired "raw values" "cexec values" (one per round, same order): the median
# of the per-round ratios cexec / raw.
paired() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, r, " "); split(b, c, " "); k = 0
    for (i = 1; i <= n; i++) if (r[i] > 0) v[++k] = c[i] / r[i]
    if (k == 0) { print "null"; exit }
    for (i = 2; i <= k; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
    printf "%.3f", v[int((k + 1) / 2)]
  }'
}
unit() {
  case "$1" in
    rt_per_s) echo "rt/s" ;; p50_us|p99_us|cpu_us_per_rt) echo "us" ;;
    rss_bytes_per_conn) echo "B" ;;
  esac
}

if [ $JSON -eq 0 ]; then
  echo ""
  echo "medians of $ROUNDS round(s); ratio = cexec / raw of the medians, paired = median" \
       "of each round's cexec / raw (targets: rt/s >= 0.95, CPU/rt <= 1.05; RSS per idle" \
       "connection <= 1024 B)"
  printf '%-6s %-20s %12s %12s %8s %8s\n' conns metric raw cexec ratio paired
fi
for n in $CONNS; do
  for f in $FIELDS; do
    raw=$(echo "${V[raw,$n,$f]}" | median)
    if [ -n "$SERVER" ]; then
      cx=$(echo "${V[cexec,$n,$f]}" | median)
      rt=$(ratio "$cx" "$raw")
      pr=$(paired "${V[raw,$n,$f]}" "${V[cexec,$n,$f]}")
    else
      cx="-" rt="-" pr="-"
    fi
    if [ $JSON -eq 1 ]; then
      u=$(unit "$f")
      printf '{"name":"echo_c%s_%s_raw","value":%s,"unit":"%s","ratio":1,"baseline":null}\n' \
        "$n" "$f" "$raw" "$u"
      if [ -n "$SERVER" ]; then
        printf '{"name":"echo_c%s_%s_cexec","value":%s,"unit":"%s","ratio":%s,"baseline":"echo_c%s_%s_raw"}\n' \
          "$n" "$f" "$cx" "$u" "$rt" "$n" "$f"
        printf '{"name":"echo_c%s_%s_paired_cexec","value":%s,"unit":"ratio","ratio":%s,"baseline":"echo_c%s_%s_raw"}\n' \
          "$n" "$f" "$pr" "$pr" "$n" "$f"
      fi
    else
      printf '%-6s %-20s %12s %12s %8s %8s\n' "$n" "$f" "$raw" "$cx" "$rt" "$pr"
    fi
  done
done
exit 0
