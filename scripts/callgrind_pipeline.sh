#!/usr/bin/env bash
# scripts/callgrind_pipeline.sh [BUILD_DIR] - instructions per operation of
# bench/pipeline's workloads, counted by callgrind: repeatable where the
# bench's nanoseconds are not (shared machines), so use it to compare a
# change before and after. BUILD_DIR (default ./build) must hold a built
# libcexec.a (cmake --build BUILD_DIR --target cexec_static).
#
# A small driver (written to a temporary directory) runs one workload in a
# noinline loop; callgrind counts only inside that loop, once for N and
# once for 2N iterations, and the difference divided by N is the cost of
# one operation, without start-up, set-up or the first-call misses.
# Needs valgrind and a C compiler. Prints one line per workload.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
lib="$build/libcexec.a"
[ -f "$lib" ] || { echo "no $lib: build the cexec_static target first" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/driver.c" <<'C'
#include <stdlib.h>
#include <string.h>
#include "cexec.h"
typedef struct { exec_receiver base; long done; } rcv;
static void on_value(exec_receiver *r, const exec_value *v, size_t n) { ((rcv *)r)->done++; }
static void on_error(exec_receiver *r, int e) { abort(); }
static void on_stopped(exec_receiver *r) { abort(); }
static const exec_receiver_ops ops = {on_value, on_error, on_stopped, NULL};
static _Alignas(64) unsigned char storage[16384];
static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(in[0].as.i64 + 1);
	return 1;
}
__attribute__((noinline)) void measured_connect_start(exec_sender *s, long n)
{
	rcv r = {{&ops}, 0};
	for (long i = 0; i < n; i++) {
		if (exec_connect(s, storage, &r.base))
			abort();
		exec_start((exec_op *)storage);
	}
	if (r.done != n)
		abort();
}
__attribute__((noinline)) void measured_sync_wait(exec_sender *s, long n)
{
	exec_result r;
	for (long i = 0; i < n; i++)
		if (exec_sync_wait(s, &r))
			abort();
}
int main(int argc, char **argv)
{
	/* argv: just_then | when_all_N, cs | sw, iterations */
	exec_sender *s;
	if (!strncmp(argv[1], "when_all_", 9)) {
		size_t k = (size_t)atoi(argv[1] + 9);
		exec_sender *c[64];
		for (size_t i = 0; i < k && i < 64; i++)
			c[i] = exec_just_i64((int64_t)i);
		s = exec_when_all(c, k);
	} else {
		s = exec_then(exec_just_i64(1), add_one, NULL);
	}
	long n = atol(argv[3]);
	if (!strcmp(argv[2], "cs"))
		measured_connect_start(s, n);
	else
		measured_sync_wait(s, n);
	exec_sender_free(s);
	return 0;
}
C
flags=$(pkg-config --cflags --libs atomic_ops liburing)
cc -O2 -D_GNU_SOURCE -I"$root" "$tmp/driver.c" "$lib" $flags -lpthread -o "$tmp/driver"

count() { # workload mode iterations -> instructions inside the loop
	valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
		--toggle-collect=measured_connect_start --toggle-collect=measured_sync_wait \
		"$tmp/driver" "$1" "$2" "$3" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
n=10000
for w in "just_then cs connect+start just|then" \
	 "just_then sw sync_wait(just|then)" \
	 "when_all_2 cs connect+start when_all of 2 justs" \
	 "when_all_8 cs connect+start when_all of 8 justs" \
	 "when_all_8 sw sync_wait(when_all of 8 justs)"; do
	set -- $w
	a=$(count "$1" "$2" $n)
	b=$(count "$1" "$2" $((2 * n)))
	shift 2
	printf '%-40s %6d instructions/op\n' "$*" $(((b - a) / n))
done
