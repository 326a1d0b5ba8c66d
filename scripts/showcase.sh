#!/usr/bin/env bash
# scripts/showcase.sh [BUILD_DIR] - the short tour printed by `./dev showcase`
# (which builds BUILD_DIR, default ./build, first). Each step runs a program
# from the build with small, bounded arguments and prints a readable table;
# a step whose program is not built yet is skipped with a note. The whole
# tour takes well under two minutes (every step has a time limit).
#
#   1. a pipeline            examples/hello_pipeline, bench/pipeline
#   2. parallel speed-up     examples/parallel (skipped if absent)
#   3. the classic programs  fetch_many (1,000 concurrent GETs against the
#                            HTTP server), offload (io loop -> pool -> loop),
#                            file_pipeline (io_uring copy + pool checksums)
#   4. echo under load       bench/echo/run_echo_bench.sh --quick
#   5. HTTP vs nginx         bench/http/run_http_bench.sh, 2 s, one round,
#                            only when nginx and wrk are installed
#   6. switch cost table     bench/switch (skipped if absent)
#
# Servers are never started bare here (they would run forever): each runs
# inside its own program's self-contained client or benchmark script.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -d "$build" ] || { echo "showcase: no build directory '$build' (run ./dev build)" >&2; exit 1; }
build=$(cd "$build" && pwd)

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   (%s)\n' "$*"; }
FAILED=()
START=$SECONDS

# run SECONDS NAME CMD...: runs a step with a time limit, indents its output.
run() {
  local limit=$1 name=$2
  shift 2
  local rc=0
  timeout --kill-after=5 "$limit" "$@" 2>&1 | sed 's/^/   /' || rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && note "$name: stopped after ${limit}s"
    [ "$rc" -ne 124 ] && note "$name: exit status $rc"
    FAILED+=("$name")
  fi
  return 0
}

have() { [ -x "$build/$1" ] && [ -f "$build/$1" ]; }

bold "1. a pipeline: two computations on the pool, joined, transformed"
if have examples/hello_pipeline; then
  cat <<'EOF'
   exec_then(exec_when_all2(exec_on(pool, exec_just_i64(40)),
                            exec_on(pool, exec_just_i64(2))), sum, NULL)
EOF
  run 20 hello_pipeline "$build/examples/hello_pipeline"
else
  note "examples/hello_pipeline not built"
fi
if have bench/pipeline; then
  printf '   what it costs (ns per run, best of several; ratio to an indirect call):\n'
  run 30 pipeline "$build/bench/pipeline" --iterations 100000 --repetitions 3
fi

bold "2. parallel: the same work on 1 thread and on the pool"
if have examples/parallel; then
  run 30 parallel "$build/examples/parallel"
else
  note "examples/parallel not built yet: skipped"
fi

bold "3. the classic programs"
if have examples/fetch_many && have examples/http/http_server; then
  printf '   fetch_many: gather 1,000 GETs with when_all (server: examples/http/http_server)\n'
  run 30 fetch_many "$build/examples/fetch_many" --conns 1000
else
  note "fetch_many or http_server not built"
fi
if have examples/offload; then
  printf '   offload: recv on the io loop, compute on the pool, reply from the loop\n'
  run 30 offload "$build/examples/offload" --conns 8 --requests 50 --work 20000
fi
if have examples/file_pipeline; then
  printf '   file_pipeline: copy 64 MiB through io_uring, checksums on the pool, K = 4\n'
  run 30 file_pipeline "$build/examples/file_pipeline" --size 64 --chunk 256 --inflight 4
fi

bold "4. the echo server under load (cexec vs a hand-written liburing server)"
if [ -x bench/echo/run_echo_bench.sh ] && have examples/echo_server; then
  run 60 echo_bench bench/echo/run_echo_bench.sh --quick --build "$build"
else
  note "bench/echo or examples/echo_server not built: skipped"
fi

bold "5. HTTP: cexec http_server vs nginx (1 worker each, wrk -c100, 2 s)"
nginx_bin=$(command -v nginx || true)
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
if [ -n "$nginx_bin" ] && command -v wrk >/dev/null && have examples/http/http_server &&
   [ $((SECONDS - START)) -lt 60 ]; then
  run 40 http_bench bench/http/run_http_bench.sh --server "$build/examples/http/http_server" \
    --duration 2s --rounds 1 --conns 100
else
  note "needs nginx and wrk (bench/http/run_http_bench.sh installs them) and time left: skipped"
fi

bold "6. what a switch costs: threads vs fibers vs stackless tasks"
if have bench/switch; then
  run 40 switch "$build/bench/switch" --iterations 20000 --repetitions 3 \
    --counts 1000,10000 --thread-counts 100
else
  note "bench/switch not built yet: skipped"
fi

printf '\n\033[1m== tour done in %d s\033[0m\n' $((SECONDS - START))
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'steps that failed: %s\n' "${FAILED[*]}"
  exit 1
fi
exit 0
