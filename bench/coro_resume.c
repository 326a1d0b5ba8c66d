/* bench/coro_resume.c - the cost of stackless tasks (exec/coro.h).
 *
 * One run measures:
 *   - stackless_generator_next: exec_coro_next on a generator that yields
 *     in an endless loop (one resume to the next suspension, like the C++
 *     baseline, plus handing the caller a value, which the baseline does
 *     not; bench/switch's stackless_resume is the like-for-like row);
 *   - stackless_await_resume: a task looping on EXEC_CORO_AWAIT of a sender
 *     that parks; the bench completes the parked operation, which resumes
 *     the task, which connects and starts the next await and suspends (a
 *     full await cycle: resume + connect + start + suspend);
 *   - cxx20_coroutine_resume (baseline): resuming a g++ -fcoroutines
 *     coroutine that loops on co_await suspend_always (bench/CMakeLists.txt
 *     builds bench/switch_cxx_coro.cpp when g++ accepts -fcoroutines; the
 *     row is skipped otherwise). The two rows above report their ratio to
 *     it (target for the resume: <= 1.5x);
 *   - stackless_frame_awaiting_timer: sizeof the frame of a task awaiting
 *     exec_schedule_after with its op state inline (target <= 256 bytes);
 *   - rss_per_suspended_stackless_task_<N>: N such tasks suspended on run
 *     loop timers an hour away, RSS growth / N (frames, timer heap, all),
 *     at each count of --counts; then all are stopped and must end stopped.
 *     The baseline is read right before the frames are made (after
 *     malloc_trim and an unreported warm-up run), the frames sit in a fresh
 *     mapping, nothing is freed before the reading; small counts include
 *     the rounding up to whole pages.
 * Times are the best of --repetitions runs, baseline interleaved.
 *
 * Usage: coro_resume [--iterations N] [--repetitions R] [--counts a,b,...]
 *                    [--json]
 * --json prints one object per line:
 *   {"name": ..., "value": ..., "unit": ..., "ratio": ..., "baseline": ...}
 * (sizes have a null ratio and baseline unless a target is the baseline). */
/* CEXEC_TEST_ARGS: --iterations 2000 --repetitions 2 --counts 1000 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cexec.h"
#include "rss.h"

static long iterations = 10000000;
static int repetitions = 5;
static int json;

static exec_time now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (exec_time)ts.tv_sec * EXEC_NS_PER_S + ts.tv_nsec;
}

static void report(const char *name, double value, const char *unit, double base)
{
	if (json) {
		if (base > 0)
			printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", "
			       "\"ratio\": %.3f, \"baseline\": %.3f}\n",
			       name, value, unit, value / base, base);
		else
			printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", "
			       "\"ratio\": null, \"baseline\": null}\n",
			       name, value, unit);
	} else if (base > 0) {
		printf("%-44s %12.2f %-6s (%.2fx of %.2f)\n", name, value, unit, value / base, base);
	} else {
		printf("%-44s %12.2f %s\n", name, value, unit);
	}
	fflush(stdout);
}

static void skipped(const char *name, const char *why)
{
	if (json)
		printf("{\"name\": \"%s\", \"value\": null, \"unit\": null, \"ratio\": null, "
		       "\"baseline\": null, \"skipped\": \"%s\"}\n",
		       name, why);
	else
		printf("%-44s %12s (%s)\n", name, "-", why);
	fflush(stdout);
}

/* ---- generator next ------------------------------------------------------ */

typedef struct count_gen {
	exec_coro co;
	int64_t i;
} count_gen;

static int count_fn(exec_coro *co)
{
	count_gen *g = (count_gen *)co;
	EXEC_CORO_BEGIN(co);
	for (;;) {
		g->i++;
		EXEC_CORO_YIELD(co, exec_value_i64(g->i));
	}
	EXEC_CORO_END(co);
}

/* Not inlined, so the loop pays the call like the C++ side's resume. */
__attribute__((noinline)) static int64_t gen_run(count_gen *g, long n)
{
	exec_value v = {EXEC_VALUE_NONE, {0}};
	for (long i = 0; i < n; i++)
		exec_coro_next(&g->co, &v);
	return v.as.i64;
}

static double gen_next(long n)
{
	count_gen g;
	exec_coro_init(&g.co, count_fn);
	g.i = 0;
	exec_time t0 = now_ns();
	int64_t last = gen_run(&g, n);
	double ns = (double)(now_ns() - t0) / (double)n;
	if (last != n) {
		fprintf(stderr, "coro_resume: generator yielded %lld of %ld\n", (long long)last, n);
		exit(1);
	}
	return ns;
}

/* ---- await / resume cycle ------------------------------------------------- */

/* A sender whose op parks its receiver in a global; the bench completes it. */
typedef struct park_op {
	exec_op op;
	exec_receiver *r;
} park_op;

static exec_receiver *parked;

static void park_start(exec_op *op)
{
	parked = ((park_op *)op)->r;
}

static int park_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	(void)s;
	park_op *o = (park_op *)op;
	o->op.start = park_start;
	o->r = r;
	return 0;
}

static void park_destroy(exec_sender *s)
{
	(void)s;
}

static const exec_sender_ops park_ops = {"park", park_connect, park_destroy};
/* A static sender (refs 0): awaiting it takes and drops no reference. */
static exec_sender park_sender = {.ops = &park_ops, .op_size = sizeof(park_op), .op_align = 8};

typedef struct await_frame {
	exec_coro co;
	int64_t count;
	EXEC_CORO_STORAGE(op, 32);
} await_frame;

static int await_fn(exec_coro *co)
{
	await_frame *f = (await_frame *)co;
	EXEC_CORO_BEGIN(co);
	for (;;) {
		EXEC_CORO_AWAIT(co, &park_sender, f->op);
		f->count++;
	}
	EXEC_CORO_END(co);
}

static void null_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)r, (void)v, (void)n;
}
static void null_error(exec_receiver *r, int e)
{
	(void)r, (void)e;
}
static void null_stopped(exec_receiver *r)
{
	(void)r;
}
static const exec_receiver_ops null_ops = {null_value, null_error, null_stopped, NULL};

__attribute__((noinline)) static void await_run(long n)
{
	for (long i = 0; i < n; i++)
		exec_set_value(parked, NULL, 0);
}

static double await_resume(long n)
{
	exec_receiver out = {&null_ops};
	await_frame f;
	exec_coro_connect(&f.co, await_fn, &out);
	f.count = 0;
	exec_start(&f.co.op); /* parks in the first await */
	exec_time t0 = now_ns();
	await_run(n);
	double ns = (double)(now_ns() - t0) / (double)n;
	if (f.count != n) {
		fprintf(stderr, "coro_resume: task resumed %lld of %ld times\n", (long long)f.count,
			n);
		exit(1);
	}
	/* The frame is abandoned suspended: it holds nothing (static sender,
	 * inline storage), so dropping it is fine. */
	return ns;
}

/* ---- C++20 baseline -------------------------------------------------------- */

#ifdef CEXEC_HAVE_CXX_CORO
void *cexec_bench_cxx_coro_create(long *counter);
void cexec_bench_cxx_coro_resume_n(void *h, long n);
void cexec_bench_cxx_coro_destroy(void *h);

static double cxx_resume(long n)
{
	long counter = 0;
	void *h = cexec_bench_cxx_coro_create(&counter);
	exec_time t0 = now_ns();
	cexec_bench_cxx_coro_resume_n(h, n);
	double ns = (double)(now_ns() - t0) / (double)n;
	cexec_bench_cxx_coro_destroy(h);
	if (counter != n) {
		fprintf(stderr, "coro_resume: C++ coroutine ran %ld of %ld times\n", counter, n);
		exit(1);
	}
	return ns;
}
#endif

/* ---- memory per suspended task awaiting a timer ---------------------------- */

typedef struct timer_frame {
	exec_coro co;
	exec_sender *delay;
	int32_t i, n;
	EXEC_CORO_STORAGE(op, 176);
} timer_frame;

static int timer_fn(exec_coro *co)
{
	timer_frame *f = (timer_frame *)co;
	EXEC_CORO_BEGIN(co);
	for (f->i = 0; f->i < f->n; f->i++)
		EXEC_CORO_TRY_AWAIT(co, exec_sender_ref(f->delay), f->op);
	EXEC_CORO_END(co);
}

typedef struct stop_rcv {
	exec_receiver base;
	exec_env env;
	long values, stopped, other;
} stop_rcv;

static void sr_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v, (void)n;
	((stop_rcv *)r)->values++;
}
static void sr_error(exec_receiver *r, int e)
{
	(void)e;
	((stop_rcv *)r)->other++;
}
static void sr_stopped(exec_receiver *r)
{
	((stop_rcv *)r)->stopped++;
}
static const exec_env *sr_env(exec_receiver *r)
{
	return &((stop_rcv *)r)->env;
}
static const exec_receiver_ops stop_ops = {sr_value, sr_error, sr_stopped, sr_env};

/* RSS growth per task for n suspended tasks; -1 on failure. */
static double rss_per_task(size_t n)
{
	exec_run_loop loop;
	if (exec_run_loop_init(&loop) != 0)
		return -1;
	exec_sender *delay = exec_schedule_after(exec_run_loop_scheduler(&loop), 3600 * EXEC_NS_PER_S);
	if (exec_sender_op_size(delay) > 176) {
		fprintf(stderr, "coro_resume: timer op state is %zu bytes (frame storage 176)\n",
			exec_sender_op_size(delay));
	}
	exec_stop_source src;
	exec_stop_source_init(&src);
	stop_rcv rc = {{&stop_ops}, {exec_stop_source_token(&src), NULL, NULL}, 0, 0, 0};
	/* Freed memory goes back first (malloc_trim), and the frames sit in a
	 * fresh mapping: malloc could hand back pages an earlier count left
	 * resident, and the growth would not show. */
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	double before = bench_rss_bytes();
	timer_frame *frames = mmap(NULL, n * sizeof *frames, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (frames == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < n; i++) {
		exec_coro_connect(&frames[i].co, timer_fn, &rc.base);
		frames[i].delay = delay;
		frames[i].n = 1;
		exec_start(&frames[i].co.op);
	}
	double after = bench_rss_bytes();
	int allocated = 0;
	for (size_t i = 0; i < n; i++)
		allocated += exec_coro_await_allocated(&frames[i].co);
	/* Stop them all: each timer is cancelled, each task ends stopped. */
	exec_stop_source_request(&src);
	exec_run_loop_run_until_empty(&loop);
	int ok = rc.stopped == (long)n && rc.values == 0 && rc.other == 0 && allocated == 0;
	munmap(frames, n * sizeof *frames);
	exec_sender_free(delay);
	exec_run_loop_destroy(&loop);
	if (!ok) {
		fprintf(stderr, "coro_resume: %ld stopped, %ld values, %ld errors, %d allocated of %zu\n",
			rc.stopped, rc.values, rc.other, allocated, n);
		exit(1);
	}
	return (after - before) / (double)n;
}

static void usage(void)
{
	fprintf(stderr, "usage: coro_resume [--iterations N] [--repetitions R] "
			"[--counts a,b,...] [--json]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	size_t counts[8] = {10000, 100000, 1000000};
	int ncounts = 3;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iterations = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--repetitions") && i + 1 < argc) {
			repetitions = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--counts") && i + 1 < argc) {
			ncounts = 0;
			for (char *p = argv[++i]; *p && ncounts < 8;) {
				char *end;
				long v = strtol(p, &end, 10);
				if (end == p || v <= 0)
					usage();
				counts[ncounts++] = (size_t)v;
				p = *end == ',' ? end + 1 : end;
			}
		} else {
			usage();
		}
	}
	if (iterations < 10 || repetitions < 1)
		usage();

	double gen = -1, await = -1, cxx = -1;
	gen_next(iterations / 10 + 1);
	await_resume(iterations / 10 + 1);
	for (int r = 0; r < repetitions; r++) {
		double g = gen_next(iterations), a = await_resume(iterations);
		if (gen < 0 || g < gen)
			gen = g;
		if (await < 0 || a < await)
			await = a;
#ifdef CEXEC_HAVE_CXX_CORO
		double c = cxx_resume(iterations);
		if (cxx < 0 || c < cxx)
			cxx = c;
#endif
	}
#ifdef CEXEC_HAVE_CXX_CORO
	report("cxx20_coroutine_resume", cxx, "ns", 0);
#else
	skipped("cxx20_coroutine_resume", "no g++ with -fcoroutines at build time");
#endif
	report("stackless_generator_next", gen, "ns", cxx);
	report("stackless_await_resume", await, "ns", cxx);

	report("stackless_frame_header", (double)sizeof(exec_coro), "bytes", 0);
	/* Ratio to the 256-byte target. */
	report("stackless_frame_awaiting_timer", (double)sizeof(timer_frame), "bytes", 256);
	/* Unreported warm-up: the first run pays one-time costs (about 64 KiB
	 * here), which are not per task. */
	rss_per_task(64);
	for (int i = 0; i < ncounts; i++) {
		char name[64];
		snprintf(name, sizeof name, "rss_per_suspended_stackless_task_%zu", counts[i]);
		double b = rss_per_task(counts[i]);
		if (b < 0)
			skipped(name, "out of memory");
		else
			report(name, b, "bytes", 256);
	}
	return 0;
}
