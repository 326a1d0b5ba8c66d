/* bench/pipeline.c - the cost of composing and running small pipelines.
 *
 * Prints, in one run, nanoseconds per operation and the operation-state
 * size of: sync_wait(just | then); sync_wait(just | 10 x then); connect +
 * start of just | then into one reused buffer (no sync_wait); when_all of 2
 * and of 8 justs (sync_wait, and connect + start); let_value(just -> just)
 * when that algorithm is present; and, as the baseline, a loop of indirect
 * function calls through a volatile pointer. Each repetition of a figure
 * runs right after a repetition of the baseline; the figure printed is the
 * repetition whose ratio to its own baseline is the median, in CPU time of
 * the calling thread, with that baseline printed next to it (the headline
 * baseline line is the best of its own repetitions),
 * since absolute times drift on shared machines.
 *
 * just is a constant sender (exec/sender.h): when_all and then hand its
 * values on without connecting it. The rows "when_all of 8 just|then"
 * show the general path, where every child is connected and started.
 *
 * Usage: pipeline [--iterations N] [--repetitions R] [--json]
 * --json prints one object per line:
 *   {"name": ..., "value": ..., "unit": ..., "ratio": ..., "baseline": ...}
 * (op-state sizes have unit "bytes" and null ratio and baseline). */
/* CEXEC_TEST_ARGS: --iterations 1000 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cexec.h"

#if __has_include("algorithms/let.h")
#include "algorithms/let.h"
#define HAVE_LET_VALUE 1
#endif

static long iterations = 1000000;
static int repetitions = 7;
static int json;

/* CPU time of this thread, not wall time: every workload runs inline on
 * the calling thread, and on a machine shared with other jobs the time
 * spent preempted is not the pipeline's (with CLOCK_MONOTONIC a busy
 * neighbour made a whole run report 2-3x the figures of a quiet one). */
static exec_time now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (exec_time)ts.tv_sec * EXEC_NS_PER_S + ts.tv_nsec;
}

/* ---- baseline: an indirect call the compiler can neither inline nor drop */
__attribute__((noinline)) static int64_t bump(int64_t x)
{
	return x + 1;
}

static int64_t (*volatile bump_ptr)(int64_t) = bump;
static volatile int64_t sink;

static void run_baseline(long n)
{
	int64_t acc = 0;
	for (long i = 0; i < n; i++)
		acc = bump_ptr(acc);
	sink = acc;
}

/* ---- a minimal receiver for connect + start, in caller storage ---------- */
typedef struct bench_rcv {
	exec_receiver base;
	int64_t last;
	long done;
} bench_rcv;

static void rcv_value(exec_receiver *r, const exec_value *v, size_t n)
{
	bench_rcv *b = EXEC_CONTAINER_OF(r, bench_rcv, base);
	b->last = n ? v[n - 1].as.i64 : 0;
	b->done++;
}

static void rcv_error(exec_receiver *r, int err)
{
	fprintf(stderr, "pipeline: unexpected error %s\n", exec_strerror(err));
	exit(1);
}

static void rcv_stopped(exec_receiver *r)
{
	fprintf(stderr, "pipeline: unexpected stop\n");
	exit(1);
}

static const exec_receiver_ops rcv_ops = {rcv_value, rcv_error, rcv_stopped, NULL};

static _Alignas(64) unsigned char storage[16384];

/* The sender each workload runs (set before timing). */
static exec_sender *current;

static void run_sync_wait(long n)
{
	exec_result r;
	for (long i = 0; i < n; i++) {
		if (exec_sync_wait(current, &r) != 0) {
			fprintf(stderr, "pipeline: sync_wait failed\n");
			exit(1);
		}
	}
	sink = r.count;
}

static void run_connect_start(long n)
{
	bench_rcv r = {{&rcv_ops}, 0, 0};
	for (long i = 0; i < n; i++) {
		if (exec_connect(current, storage, &r.base) != 0) {
			fprintf(stderr, "pipeline: connect failed\n");
			exit(1);
		}
		exec_start((exec_op *)storage);
	}
	if (r.done != n) {
		fprintf(stderr, "pipeline: %ld completions for %ld runs\n", r.done, n);
		exit(1);
	}
	sink = r.last;
}

/* Best of the repetitions, in ns per operation. */
static double measure(void (*fn)(long))
{
	double best = 0;
	fn(iterations / 10 + 1); /* warm up */
	for (int rep = 0; rep < repetitions; rep++) {
		exec_time t0 = now_ns();
		fn(iterations);
		double ns = (double)(now_ns() - t0) / (double)iterations;
		if (rep == 0 || ns < best)
			best = ns;
	}
	return best;
}

/* The baseline each figure is divided by: each repetition of the figure
 * runs right after one of the baseline, and the figure reported is the
 * repetition whose ratio to its own baseline is the median. Taking the
 * best of each separately mixed clock speeds: this VM's CPU switches
 * between two speeds for a second or so at a time, and a baseline from the
 * fast phase divided into a figure from the slow one was off by 1.5x. */
static double baseline_ns;

enum { MAX_REPETITIONS = 101 };

static double measure_against_baseline(void (*fn)(long))
{
	double b[MAX_REPETITIONS], ns[MAX_REPETITIONS], ratio[MAX_REPETITIONS];
	int reps = repetitions < MAX_REPETITIONS ? repetitions : MAX_REPETITIONS;
	fn(iterations / 10 + 1);
	for (int rep = 0; rep < reps; rep++) {
		exec_time t0 = now_ns();
		run_baseline(iterations);
		exec_time t1 = now_ns();
		fn(iterations);
		exec_time t2 = now_ns();
		b[rep] = (double)(t1 - t0) / (double)iterations;
		ns[rep] = (double)(t2 - t1) / (double)iterations;
		ratio[rep] = ns[rep] / b[rep];
	}
	/* The median repetition by ratio (selection by counting: a few). */
	int median = 0;
	for (int i = 0; i < reps; i++) {
		int below = 0, equal = 0;
		for (int j = 0; j < reps; j++) {
			below += ratio[j] < ratio[i];
			equal += ratio[j] == ratio[i];
		}
		if (below <= reps / 2 && reps / 2 < below + equal) {
			median = i;
			break;
		}
	}
	baseline_ns = b[median];
	return ns[median];
}

static void report_time(const char *name, double ns, double target)
{
	double ratio = ns / baseline_ns;
	if (json) {
		printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"ns/op\", "
		       "\"ratio\": %.2f, \"baseline\": %.3f}\n",
		       name, ns, ratio, baseline_ns);
		return;
	}
	printf("%-40s %10.2f ns/op %8.1fx  (baseline %.2f)", name, ns, ratio, baseline_ns);
	if (target > 0)
		printf("   target <= %.0fx: %s", target, ratio <= target ? "met" : "MISSED");
	printf("\n");
}

static void report_size(const char *name, const exec_sender *s)
{
	if (json) {
		printf("{\"name\": \"%s op_size\", \"value\": %zu, \"unit\": \"bytes\", "
		       "\"ratio\": null, \"baseline\": null}\n",
		       name, exec_sender_op_size(s));
		return;
	}
	printf("%-40s %10zu bytes of operation state\n", name, exec_sender_op_size(s));
}

static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(in[0].as.i64 + 1);
	return 1;
}

/* when_all of n justs, or of n just|then (children that must be
 * connected and started: no constant child). */
static exec_sender *when_all_of(size_t n, bool thens)
{
	exec_sender *c[8];
	for (size_t i = 0; i < n; i++) {
		c[i] = exec_just_i64((int64_t)i);
		if (thens)
			c[i] = exec_then(c[i], add_one, NULL);
	}
	return exec_when_all(c, n);
}

#ifdef HAVE_LET_VALUE
/* Builds the successor at run time, as let_value's users do: the figure
 * includes building (and freeing) a just sender. */
static exec_sender *let_next(void *ctx, const exec_value *in, size_t n)
{
	return exec_just_i64(in[0].as.i64 + 1);
}
#endif

static void bench(const char *name, exec_sender *s, void (*fn)(long), double target)
{
	if (exec_sender_build_error(s)) {
		fprintf(stderr, "pipeline: building %s failed\n", name);
		exit(1);
	}
	if (exec_sender_op_size(s) > sizeof storage) {
		fprintf(stderr, "pipeline: %s needs more storage\n", name);
		exit(1);
	}
	current = s;
	report_time(name, measure_against_baseline(fn), target);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iterations = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--repetitions") && i + 1 < argc) {
			repetitions = atoi(argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [--iterations N] [--repetitions R] [--json]\n",
				argv[0]);
			return 2;
		}
	}
	if (iterations < 1 || repetitions < 1) {
		fprintf(stderr, "pipeline: --iterations and --repetitions must be >= 1\n");
		return 2;
	}

	/* The first loops of a run are slower (clock ramping up on these
	 * machines): measure the headline baseline twice, keep the second. */
	(void)measure(run_baseline);
	baseline_ns = measure(run_baseline);
	if (json)
		printf("{\"name\": \"baseline indirect call\", \"value\": %.3f, "
		       "\"unit\": \"ns/op\", \"ratio\": 1.00, \"baseline\": %.3f}\n",
		       baseline_ns, baseline_ns);
	else
		printf("%-40s %10.2f ns/op %8.1fx   (%ld iterations, best of %d)\n",
		       "baseline indirect call", baseline_ns, 1.0, iterations, repetitions);

	exec_sender *just_then = exec_then(exec_just_i64(1), add_one, NULL);
	exec_sender *ten = exec_just_i64(0);
	for (int i = 0; i < 10; i++)
		ten = exec_then(ten, add_one, NULL);
	exec_sender *wa2 = when_all_of(2, false);
	exec_sender *wa8 = when_all_of(8, false);
	exec_sender *wa8t = when_all_of(8, true);

	bench("sync_wait(just|then)", just_then, run_sync_wait, 10);
	bench("sync_wait(just|10 x then)", ten, run_sync_wait, 0);
	bench("connect+start just|then", just_then, run_connect_start, 4);
	bench("sync_wait(when_all of 2 justs)", wa2, run_sync_wait, 0);
	bench("connect+start when_all of 2 justs", wa2, run_connect_start, 0);
	bench("sync_wait(when_all of 8 justs)", wa8, run_sync_wait, 0);
	bench("connect+start when_all of 8 justs", wa8, run_connect_start, 16);
	bench("sync_wait(when_all of 8 just|then)", wa8t, run_sync_wait, 0);
	bench("connect+start when_all of 8 just|then", wa8t, run_connect_start, 0);
#ifdef HAVE_LET_VALUE
	exec_sender *let = exec_let_value(exec_just_i64(1), let_next, NULL);
	bench("sync_wait(let_value(just -> just))", let, run_sync_wait, 0);
	bench("connect+start let_value(just -> just)", let, run_connect_start, 0);
#else
	if (!json)
		printf("%-40s (let_value not built yet)\n", "let_value(just -> just)");
#endif

	report_size("just|then", just_then);
	report_size("just|10 x then", ten);
	report_size("when_all of 2 justs", wa2);
	report_size("when_all of 8 justs", wa8);
	report_size("when_all of 8 just|then", wa8t);
#ifdef HAVE_LET_VALUE
	report_size("let_value(just -> just)", let);
	exec_sender_free(let);
#endif
	exec_sender_free(just_then);
	exec_sender_free(ten);
	exec_sender_free(wa2);
	exec_sender_free(wa8);
	exec_sender_free(wa8t);
	return 0;
}
