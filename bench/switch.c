/* bench/switch.c - the cost table of threads vs fibers vs coroutines.
 *
 * One run measures, on this machine:
 *   - OS thread switch: two threads ping-pong through a futex, pinned to
 *     the same CPU and to two CPUs (ns per one-way switch);
 *   - fiber switch: exec_context_jump between two contexts (ns per switch),
 *     with Boost.Context's jump_fcontext in the same run as the baseline
 *     (loaded with dlopen from libboost_context.so when installed; skipped
 *     otherwise, and under AddressSanitizer, whose stack bookkeeping the
 *     raw switches bypass);
 *   - fiber generator next+yield (two switches with the sanitizer hooks);
 *   - a C++20 coroutine resume (g++ -fcoroutines, when bench/CMakeLists.txt
 *     found such a compiler): one resume runs to the next co_await;
 *   - a stackless resume (exec/coro.h): exec_coro_next runs a coroutine
 *     from one EXEC_CORO_YIELD to the next; like the C++20 one it bumps a
 *     counter and suspends, resumed in a loop the compiler cannot see into,
 *     the two interleaved (target <= 1.5x the C++20 resume);
 *   - a sender hop: repeat_n(schedule(s)) through the inline, run_loop,
 *     thread pool and io loop schedulers (ns per hop), and a fiber that
 *     awaits schedule(run_loop) in a loop (the same hop plus two switches);
 *   - memory: RSS per blocked OS thread (default and 64 KiB stacks) and per
 *     suspended fiber (awaiting a timer; 16 KiB unguarded stacks and 64 KiB
 *     guarded ones), at each count of --counts (threads: --thread-counts;
 *     each thread stack costs two mappings, so vm.max_map_count caps
 *     threads near 32,000, like guarded fiber stacks), and per suspended
 *     stackless task awaiting a timer (frame with the op state inline) at
 *     each of --stackless-counts (target <= 256 bytes). Each is the RSS
 *     growth from right before the objects are made (malloc_trim first, so
 *     the library's allocations fault fresh pages) to right after all are
 *     parked, nothing freed in between, divided by the count; op states
 *     and frames sit in a fresh mapping.
 * Thread ping-pong runs stop after 100 ms each (3 runs at most), however
 * slow the machine.
 * Times are the best of --repetitions runs (resumes: 4 x that many).
 * Ratios: fiber switch / Boost (target <= 1.0); stackless resume / the
 * C++20 resume (target <= 1.5); the other times / the fiber switch of the
 * same run; memory / a blocked thread with default stacks at the same
 * count. Rows with a target say in a note whether it was met.
 *
 * Usage: switch [--iterations N] [--repetitions R] [--counts a,b,...]
 *               [--thread-counts a,b,...] [--stackless-counts a,b,...] [--json]
 * --json prints one object per line and nothing else on stdout:
 *   {"name": ..., "value": ..., "unit": ..., "ratio": ..., "baseline": ...}
 * plus "note" where the text line has one (rows that cannot run here have
 * null values and a "skipped" reason). */
/* CEXEC_TEST_ARGS: --iterations 2000 --repetitions 2 --counts 200 --thread-counts 50 --stackless-counts 200 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cexec.h"
#include "rss.h"

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_ASAN 1
#endif
#endif

static long iterations = 1000000;
static int repetitions = 5;
static int json;
static size_t counts[8] = {10000, 100000};
static int ncounts = 2;
static size_t thread_counts[8] = {10000};
static int nthread_counts = 1;
static size_t stackless_counts[8] = {10000, 100000, 1000000};
static int nstackless_counts = 3;

static exec_time now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (exec_time)ts.tv_sec * EXEC_NS_PER_S + ts.tv_nsec;
}

/* note: what a row counts or why it misses its target, in the text line
 * and as the JSON object's "note" (NULL: none). */
static void report_note(const char *name, double value, const char *unit, double base,
			const char *note)
{
	if (json) {
		printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", ", name,
		       value, unit);
		if (base > 0)
			printf("\"ratio\": %.3f, \"baseline\": %.3f", value / base, base);
		else
			printf("\"ratio\": null, \"baseline\": null");
		if (note)
			printf(", \"note\": \"%s\"", note);
		printf("}\n");
	} else {
		if (base > 0)
			printf("%-40s %12.1f %-6s (%.2fx of %.1f)", name, value, unit,
			       value / base, base);
		else
			printf("%-40s %12.1f %s", name, value, unit);
		if (note)
			printf("  [%s]", note);
		printf("\n");
	}
	fflush(stdout);
}

static void report(const char *name, double value, const char *unit, double base)
{
	report_note(name, value, unit, base, NULL);
}

static void skipped(const char *name, const char *why)
{
	if (json)
		printf("{\"name\": \"%s\", \"value\": null, \"unit\": null, \"ratio\": null, "
		       "\"baseline\": null, \"skipped\": \"%s\"}\n",
		       name, why);
	else
		printf("%-40s %12s (%s)\n", name, "-", why);
	fflush(stdout);
}

/* ---- OS threads: futex ping-pong ---- */

static int futex(AO_t *addr, int op, int val)
{
	return (int)syscall(SYS_futex, (int *)addr, op, val, NULL, NULL, 0);
}

typedef struct pingpong {
	AO_t turn;   /* whose turn: 0 or 1 */
	AO_t rounds; /* lowered by player 0 once the time budget is spent */
	exec_time deadline;
	int cpu[2];
} pingpong;

typedef struct player {
	pingpong *p;
	int me;
} player;

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *play(void *arg)
{
	player *pl = arg;
	pingpong *p = pl->p;
	pin(p->cpu[pl->me]);
	for (AO_t i = 0; i < AO_load(&p->rounds); i++) {
		while (AO_load_acquire(&p->turn) != (AO_t)pl->me)
			futex(&p->turn, FUTEX_WAIT_PRIVATE, !pl->me);
		/* Player 0 ends the run after this round when time is up;
		 * player 1 reads the new count after the turn it is handed
		 * next, so both stop after the same round. */
		if (pl->me == 0 && (i & 15) == 15 && now_ns() > p->deadline)
			AO_store(&p->rounds, i + 1);
		AO_store_release(&p->turn, (AO_t)!pl->me);
		futex(&p->turn, FUTEX_WAKE_PRIVATE, 1);
	}
	return NULL;
}

/* ns per one-way switch, or a negative value when it cannot run. Each run
 * stops at rounds or after 100 ms, whichever comes first: on a loaded
 * machine a wake-up can take a millisecond, and the figure is about
 * orders of magnitude. */
static double thread_switch(int cpu0, int cpu1, long rounds)
{
	double best = -1;
	for (int r = 0; r < repetitions && r < 3; r++) {
		exec_time t0 = now_ns();
		pingpong p = {0, (AO_t)rounds, t0 + 100 * EXEC_NS_PER_MS, {cpu0, cpu1}};
		player a = {&p, 0}, b = {&p, 1};
		pthread_t ta, tb;
		if (pthread_create(&ta, NULL, play, &a) != 0)
			return -1;
		if (pthread_create(&tb, NULL, play, &b) != 0) {
			/* Let player 0 finish alone: it only waits for turns. */
			AO_store(&p.rounds, 0);
			AO_store_release(&p.turn, 0);
			futex(&p.turn, FUTEX_WAKE_PRIVATE, 1);
			pthread_join(ta, NULL);
			return -1;
		}
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		double ns = (double)(now_ns() - t0) / (double)(2 * AO_load(&p.rounds));
		if (best < 0 || ns < best)
			best = ns;
	}
	return best;
}

/* ---- fiber switch: raw exec_context_jump ---- */

static exec_context main_ctx, co_ctx;

static void bounce(void *arg)
{
	(void)arg;
	for (;;)
		exec_context_jump(&co_ctx, main_ctx, NULL);
}

static double fiber_switch_once(void *stack, size_t size, long n)
{
	co_ctx = exec_context_make(stack, size, bounce);
	exec_context_jump(&main_ctx, co_ctx, NULL); /* warm up, first entry */
	exec_time t0 = now_ns();
	for (long i = 0; i < n; i++)
		exec_context_jump(&main_ctx, co_ctx, NULL);
	return (double)(now_ns() - t0) / (double)(2 * n);
}

/* ---- Boost.Context jump_fcontext, if the library is there ---- */

typedef void *fcontext_t;
typedef struct transfer_t {
	fcontext_t fctx;
	void *data;
} transfer_t;
typedef transfer_t (*jump_fn)(fcontext_t, void *);
typedef fcontext_t (*make_fn)(void *, size_t, void (*)(transfer_t));

static jump_fn boost_jump;
static make_fn boost_make;

static void load_boost(void)
{
	const char *names[] = {"libboost_context.so", "libboost_context.so.1.74.0",
			       "libboost_context.so.1.81.0",
			       "libboost_context.so.1.83.0"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (!h)
			continue;
		boost_jump = (jump_fn)dlsym(h, "jump_fcontext");
		boost_make = (make_fn)dlsym(h, "make_fcontext");
		if (boost_jump && boost_make)
			return;
		boost_jump = NULL;
		boost_make = NULL;
	}
}

static void boost_bounce(transfer_t t)
{
	for (;;)
		t = boost_jump(t.fctx, NULL);
}

static double boost_switch_once(void *stack, size_t size, long n)
{
	/* make_fcontext takes the top of the stack. */
	fcontext_t c = boost_make((char *)stack + size, size, boost_bounce);
	transfer_t t = boost_jump(c, NULL);
	exec_time t0 = now_ns();
	for (long i = 0; i < n; i++)
		t = boost_jump(t.fctx, NULL);
	return (double)(now_ns() - t0) / (double)(2 * n);
}

/* ---- C++20 coroutine resume ---- */

#ifdef CEXEC_HAVE_CXX_CORO
void *cexec_bench_cxx_coro_create(long *counter);
void cexec_bench_cxx_coro_resume_n(void *h, long n);
void cexec_bench_cxx_coro_destroy(void *h);
#endif

/* ---- fiber generator: next + yield ---- */

static void count_gen(exec_fiber_gen *g, void *arg)
{
	(void)arg;
	for (int64_t i = 0;; i++)
		if (exec_fiber_gen_yield(g, exec_value_i64(i)) != 0)
			return;
}

static double gen_next(long n)
{
	exec_fiber_gen *g;
	if (exec_fiber_gen_create(&g, count_gen, NULL, NULL) != 0)
		return -1;
	exec_value v;
	double best = -1;
	int64_t expect = 0;
	for (int r = 0; r < repetitions; r++) {
		exec_time t0 = now_ns();
		for (long i = 0; i < n; i++) {
			exec_fiber_gen_next(g, &v);
			if (v.as.i64 != expect++) {
				fprintf(stderr, "switch: generator out of order\n");
				exit(1);
			}
		}
		double ns = (double)(now_ns() - t0) / (double)n;
		if (best < 0 || ns < best)
			best = ns;
	}
	exec_fiber_gen_free(g);
	return best;
}

/* ---- stackless (exec/coro.h) ---- */

/* Like-for-like with bench/switch_cxx_coro.cpp: the coroutine bumps a
 * counter it was given and suspends (EXEC_CORO_YIELD of no value, the
 * co_await suspend_always of the C++ side); the caller resumes it n times
 * from a function the compiler can neither inline nor specialise (the C++
 * loop lives in its own object), so each resume is an indirect call. */
typedef struct count_frame {
	exec_coro co;
	long *counter;
} count_frame;

static inline exec_value no_value(void)
{
	exec_value v;
	v.type = EXEC_VALUE_NONE;
	v.as.span.ptr = NULL;
	v.as.span.len = 0;
	return v;
}

static int count_coro(exec_coro *co)
{
	count_frame *f = (count_frame *)co;
	EXEC_CORO_BEGIN(co);
	for (;;) {
		++*f->counter;
		EXEC_CORO_YIELD(co, no_value());
	}
	EXEC_CORO_END(co);
}

#if defined(__has_attribute)
#if __has_attribute(noipa)
#define BENCH_OPAQUE __attribute__((noipa))
#endif
#endif
#ifndef BENCH_OPAQUE
#define BENCH_OPAQUE __attribute__((noinline))
#endif

BENCH_OPAQUE static void stackless_resume_n(exec_coro *co, long n)
{
	for (long i = 0; i < n; i++)
		exec_coro_next(co, NULL);
}

/* Best of 4 x repetitions of n resumes each (a run takes a millisecond or
 * two, so more runs are cheap and a burst of load on a shared machine
 * misses some), the C++20 coroutine (when built) and the stackless one
 * interleaved so that drift hits both alike. *cxx is -1 without the C++
 * baseline. */
static void resumes(long n, double *cxx, double *sl)
{
	long warm = n / 10 + 1, sc = 0;
	count_frame f;
	exec_coro_init(&f.co, count_coro);
	f.counter = &sc;
	stackless_resume_n(&f.co, warm);
	*cxx = *sl = -1;
#ifdef CEXEC_HAVE_CXX_CORO
	long cc = 0;
	void *h = cexec_bench_cxx_coro_create(&cc);
	cexec_bench_cxx_coro_resume_n(h, warm);
#endif
	for (int r = 0; r < 4 * repetitions; r++) {
#ifdef CEXEC_HAVE_CXX_CORO
		exec_time t0 = now_ns();
		cexec_bench_cxx_coro_resume_n(h, n);
		double c = (double)(now_ns() - t0) / (double)n;
		if (*cxx < 0 || c < *cxx)
			*cxx = c;
#endif
		exec_time t1 = now_ns();
		stackless_resume_n(&f.co, n);
		double ns = (double)(now_ns() - t1) / (double)n;
		if (*sl < 0 || ns < *sl)
			*sl = ns;
	}
#ifdef CEXEC_HAVE_CXX_CORO
	cexec_bench_cxx_coro_destroy(h);
	if (cc != warm + 4L * repetitions * n) {
		fprintf(stderr, "switch: C++ coroutine ran %ld times\n", cc);
		exit(1);
	}
#endif
	if (sc != warm + 4L * repetitions * n) {
		fprintf(stderr, "switch: stackless coroutine ran %ld times\n", sc);
		exit(1);
	}
}

/* A task suspended on a timer, laid out as docs and examples/ticker.c
 * recommend: the timer sender is built once and shared (each await takes
 * a reference), the op state lives inline in the frame. */
#define TIMER_OP_BYTES 176 /* run_loop schedule_after, LP64 */
typedef struct timer_frame {
	exec_coro co;
	exec_sender *delay;
	EXEC_CORO_STORAGE(op, TIMER_OP_BYTES);
} timer_frame;

static exec_sender *stackless_delay;

static int timer_coro(exec_coro *co)
{
	timer_frame *f = (timer_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_AWAIT(co, exec_sender_ref(f->delay), f->op);
	EXEC_CORO_RETURN(co, exec_value_i64(exec_coro_status(co) == 0));
	EXEC_CORO_END(co);
}

static void timer_init(exec_coro *co, void *arg)
{
	(void)arg;
	((timer_frame *)co)->delay = stackless_delay;
}

/* ---- sender hops ---- */

typedef struct loop_thread {
	exec_run_loop loop;
	pthread_t thread;
} loop_thread;

static void *loop_main(void *p)
{
	exec_run_loop_run(&((loop_thread *)p)->loop);
	return NULL;
}

typedef struct ring_thread {
	exec_io_loop *loop;
	pthread_t thread;
} ring_thread;

static void *ring_main(void *p)
{
	exec_io_loop_run(((ring_thread *)p)->loop);
	return NULL;
}

/* ns per hop of repeat_n(schedule(sched), n), driven by sync_wait. */
static double hop(exec_scheduler *sched, long n)
{
	double best = -1;
	for (int r = 0; r < repetitions; r++) {
		exec_sender *s = exec_repeat_n(exec_schedule(sched), (uint64_t)n);
		exec_time t0 = now_ns();
		int rc = exec_sync_wait(s, NULL);
		double ns = (double)(now_ns() - t0) / (double)n;
		exec_sender_free(s);
		if (rc != 0) {
			fprintf(stderr, "switch: hop failed: %s\n", exec_strerror(rc));
			exit(1);
		}
		if (best < 0 || ns < best)
			best = ns;
	}
	return best;
}

typedef struct await_loop {
	exec_scheduler *sched;
	long n;
	exec_time ns;
} await_loop;

static int64_t awaiter(void *arg)
{
	await_loop *a = arg;
	if (exec_fiber_transfer(a->sched) != 0)
		return exec_fiber_return_error(-EIO);
	exec_sender *s = exec_schedule(a->sched);
	exec_time t0 = now_ns();
	for (long i = 0; i < a->n; i++)
		if (exec_await(s, NULL) != 0)
			return exec_fiber_return_error(-EIO);
	a->ns = now_ns() - t0;
	exec_sender_free(s);
	return 0;
}

static double fiber_await_hop(exec_scheduler *sched, long n)
{
	double best = -1;
	for (int r = 0; r < repetitions; r++) {
		await_loop a = {sched, n, 0};
		exec_sender *s = exec_fiber_sender(awaiter, &a, NULL);
		int rc = exec_sync_wait(s, NULL);
		exec_sender_free(s);
		if (rc != 0) {
			fprintf(stderr, "switch: fiber hop failed: %s\n",
				exec_strerror(rc));
			exit(1);
		}
		double ns = (double)a.ns / (double)n;
		if (best < 0 || ns < best)
			best = ns;
	}
	return best;
}

/* ---- memory ---- */

/* The baseline of a memory row, read right before the objects are made.
 * malloc_trim first: memory that earlier rows freed goes back to the
 * kernel, so whatever the library allocates while the objects are made
 * is counted when touched instead of reusing pages already resident. */
static double baseline_rss(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	return bench_rss_bytes();
}

/* Memory for an array of op states / frames that no earlier row touched
 * (a fresh anonymous mapping; malloc could return resident pages an
 * earlier row freed, and the growth would not show). Released with
 * munmap(p, bytes). NULL when out of memory. */
static void *fresh_array(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static AO_t gate, parked;

static void *blocked(void *arg)
{
	(void)arg;
	AO_fetch_and_add1(&parked);
	while (!AO_load_acquire(&gate))
		futex(&gate, FUTEX_WAIT_PRIVATE, 0);
	return NULL;
}

/* RSS per thread blocked in a futex wait, or -1 (with *made set) when
 * fewer than n could be created. stack 0: the default. */
static double rss_per_thread(size_t n, size_t stack, size_t *made)
{
	pthread_t *t = calloc(n, sizeof *t);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (stack)
		pthread_attr_setstacksize(&attr, stack);
	AO_store(&gate, 0);
	AO_store(&parked, 0);
	double before = baseline_rss();
	size_t i;
	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], &attr, blocked, NULL) != 0)
			break;
	while (AO_load_acquire(&parked) < i)
		sched_yield();
	double after = bench_rss_bytes();
	AO_store_release(&gate, 1);
	futex(&gate, FUTEX_WAKE_PRIVATE, (int)(i < 0x7fffffff ? i : 0x7fffffff));
	for (size_t j = 0; j < i; j++)
		pthread_join(t[j], NULL);
	pthread_attr_destroy(&attr);
	free(t);
	*made = i;
	return i == n ? (after - before) / (double)n : -1;
}

typedef struct sleeper_ctx {
	exec_scheduler *loop;
} sleeper_ctx;

static int64_t sleeper(void *arg)
{
	sleeper_ctx *c = arg;
	/* The loop is not run until every fiber is parked. */
	return exec_await_take(exec_schedule_after(c->loop, EXEC_NS_PER_MS), NULL) == 0;
}

typedef struct count_rcv {
	exec_receiver base;
	size_t values, others;
} count_rcv;

static void cr_value(exec_receiver *r, const exec_value *v, size_t n)
{
	count_rcv *c = (count_rcv *)r;
	if (n == 1 && v[0].as.i64 == 1)
		c->values++;
	else
		c->others++;
}

static void cr_error(exec_receiver *r, int err)
{
	(void)err;
	((count_rcv *)r)->others++;
}

static void cr_stopped(exec_receiver *r)
{
	((count_rcv *)r)->others++;
}

static const exec_receiver_ops cr_ops = {cr_value, cr_error, cr_stopped, NULL};

/* RSS per fiber suspended on a timer (its op state included), or -1.
 * *op: the op state's size (the rest is the stack pages it touched). */
static double rss_per_fiber(size_t n, const exec_fiber_options *o, size_t *op)
{
	exec_run_loop loop;
	if (exec_run_loop_init(&loop) != 0)
		return -1;
	sleeper_ctx c = {exec_run_loop_scheduler(&loop)};
	exec_sender *s = exec_fiber_sender(sleeper, &c, o);
	size_t al = exec_sender_op_align(s);
	size_t sz = (exec_sender_op_size(s) + al - 1) & ~(al - 1);
	*op = sz;
	count_rcv r = {{&cr_ops}, 0, 0};
	exec_stack_cache_trim();
	double before = baseline_rss();
	char *ops = fresh_array(n * sz);
	for (size_t i = 0; i < n && ops; i++) {
		if (exec_connect(s, ops + i * sz, &r.base) != 0)
			break;
		exec_start((exec_op *)(ops + i * sz));
	}
	double after = bench_rss_bytes();
	exec_run_loop_finish(&loop);
	exec_run_loop_run(&loop);
	exec_run_loop_destroy(&loop);
	if (ops)
		munmap(ops, n * sz);
	exec_sender_free(s);
	exec_stack_cache_trim();
	if (r.values != n) {
		if (r.values + r.others != n) {
			fprintf(stderr, "switch: %zu of %zu fibers completed\n",
				r.values + r.others, n);
			exit(1);
		}
		return -1;
	}
	return (after - before) / (double)n;
}

/* RSS per stackless task suspended on a timer, or -1 when the timer's op
 * state does not fit the frame's storage (the figure would hide a heap
 * allocation). Counted: the growth from right before the n frames are made
 * to right after all n are suspended, nothing freed in between; the frames
 * sit in a fresh mapping, each touched by its connect and start. That
 * covers the frame (header, locals, the timer's op state inline) and the
 * loop's bookkeeping of the timer (its pairing-heap links live in the op
 * state, so there is none besides). Not counted: the one shared timer
 * sender, and malloc's 16-byte chunk header when frames are malloc'd one
 * by one. *frame: the frame's size. */
static double rss_per_stackless(size_t n, size_t *frame)
{
	exec_run_loop loop;
	if (exec_run_loop_init(&loop) != 0)
		return -1;
	stackless_delay =
		exec_schedule_after(exec_run_loop_scheduler(&loop), EXEC_NS_PER_MS);
	if (exec_sender_op_size(stackless_delay) > TIMER_OP_BYTES) {
		exec_sender_free(stackless_delay);
		exec_run_loop_destroy(&loop);
		return -1;
	}
	exec_sender *s = EXEC_CORO_SENDER(timer_coro, timer_frame, timer_init, NULL);
	size_t al = exec_sender_op_align(s);
	size_t sz = (exec_sender_op_size(s) + al - 1) & ~(al - 1);
	*frame = sz;
	count_rcv r = {{&cr_ops}, 0, 0};
	double before = baseline_rss();
	char *frames = fresh_array(n * sz);
	size_t started = 0;
	for (; started < n && frames; started++) {
		if (exec_connect(s, frames + started * sz, &r.base) != 0)
			break;
		exec_start((exec_op *)(frames + started * sz));
	}
	double after = bench_rss_bytes();
	size_t allocated = 0;
	for (size_t i = 0; i < started; i++)
		allocated +=
			(size_t)exec_coro_await_allocated((exec_coro *)(frames + i * sz));
	exec_run_loop_finish(&loop);
	exec_run_loop_run(&loop);
	exec_run_loop_destroy(&loop);
	if (frames)
		munmap(frames, n * sz);
	exec_sender_free(s);
	exec_sender_free(stackless_delay);
	stackless_delay = NULL;
	if (r.values != n || allocated) {
		fprintf(stderr,
			"switch: %zu of %zu stackless tasks completed with a value, %zu awaits "
			"allocated\n",
			r.values, n, allocated);
		exit(1);
	}
	return (after - before) / (double)n;
}

/* ---- main ---- */

static int parse_counts(const char *s, size_t *out)
{
	int n = 0;
	while (*s && n < 8) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v == 0)
			return -1;
		out[n++] = v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: switch [--iterations N] [--repetitions R] [--counts a,b] "
			"[--thread-counts a,b] [--stackless-counts a,b] [--json]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iterations = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--repetitions") && i + 1 < argc) {
			repetitions = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--counts") && i + 1 < argc) {
			ncounts = parse_counts(argv[++i], counts);
		} else if (!strcmp(argv[i], "--thread-counts") && i + 1 < argc) {
			nthread_counts = parse_counts(argv[++i], thread_counts);
		} else if (!strcmp(argv[i], "--stackless-counts") && i + 1 < argc) {
			nstackless_counts = parse_counts(argv[++i], stackless_counts);
		} else {
			usage();
		}
	}
	if (iterations < 10 || repetitions < 1 || ncounts < 0 || nthread_counts < 0 ||
	    nstackless_counts < 0)
		usage();

	/* Switches first: they are the figures most disturbed by a large RSS. */
	size_t ssize = 64 * 1024;
	void *stack = aligned_alloc(64, ssize);
	double fiber = -1, boost = -1;
#ifdef BENCH_ASAN
	const int raw_ok = 0;
#else
	const int raw_ok = 1;
#endif
	if (raw_ok) {
		load_boost();
		fiber_switch_once(stack, ssize, iterations / 10 + 1);
		if (boost_jump)
			boost_switch_once(stack, ssize, iterations / 10 + 1);
		/* Interleaved, so drift hits both alike. */
		for (int r = 0; r < repetitions; r++) {
			double f = fiber_switch_once(stack, ssize, iterations);
			if (fiber < 0 || f < fiber)
				fiber = f;
			if (boost_jump) {
				double b = boost_switch_once(stack, ssize, iterations);
				if (boost < 0 || b < boost)
					boost = b;
			}
		}
		if (boost > 0)
			report("boost_context_jump_fcontext", boost, "ns", 0);
		else
			skipped("boost_context_jump_fcontext",
				"libboost_context.so not found");
		report("fiber_switch", fiber, "ns", boost);
	} else {
		skipped("boost_context_jump_fcontext", "raw switches skipped under ASan");
		skipped("fiber_switch", "raw switches skipped under ASan");
	}
	free(stack);
	double unit = fiber > 0 ? fiber : 0;

	report("fiber_generator_next_yield", gen_next(iterations), "ns", unit);
	double cxx, sl;
	resumes(iterations, &cxx, &sl);
#ifdef CEXEC_HAVE_CXX_CORO
	report("cxx20_coroutine_resume", cxx, "ns", unit);
#else
	skipped("cxx20_coroutine_resume", "no g++ with -fcoroutines at build time");
#endif
	/* Ratio against the C++20 resume (target <= 1.5), else the fiber. */
	if (cxx > 0)
		report_note(
			"stackless_resume", sl, "ns", cxx,
			sl <= 1.5 * cxx
				? "same loop as the C++20 row; target <= 1.5x: met"
				: "same loop as the C++20 row; target <= 1.5x: MISSED");
	else
		report("stackless_resume", sl, "ns", unit);

	long trounds = iterations / 200 + 10;
	double same = thread_switch(0, 0, trounds);
	if (same > 0)
		report("thread_switch_futex_same_cpu", same, "ns", unit);
	else
		skipped("thread_switch_futex_same_cpu", "thread creation failed");
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		double cross = thread_switch(0, 1, trounds);
		if (cross > 0)
			report("thread_switch_futex_cross_cpu", cross, "ns", unit);
		else
			skipped("thread_switch_futex_cross_cpu",
				"thread creation failed");
	} else {
		skipped("thread_switch_futex_cross_cpu", "one CPU");
	}

	/* Hops. */
	long hops = iterations / 10 + 10;
	report("hop_inline", hop(exec_inline_scheduler(), hops), "ns", unit);
	loop_thread lt;
	if (exec_run_loop_init(&lt.loop) != 0 ||
	    pthread_create(&lt.thread, NULL, loop_main, &lt) != 0) {
		fprintf(stderr, "switch: run_loop thread failed\n");
		return 1;
	}
	report("hop_run_loop", hop(exec_run_loop_scheduler(&lt.loop), hops), "ns", unit);
	report("fiber_await_hop_run_loop",
	       fiber_await_hop(exec_run_loop_scheduler(&lt.loop), hops), "ns", unit);
	exec_run_loop_finish(&lt.loop);
	pthread_join(lt.thread, NULL);
	exec_run_loop_destroy(&lt.loop);
	exec_thread_pool *pool;
	if (exec_thread_pool_create(&pool, 2) == 0) {
		report("hop_thread_pool", hop(exec_thread_pool_scheduler(pool), hops),
		       "ns", unit);
		exec_thread_pool_destroy(pool);
	} else {
		skipped("hop_thread_pool", "pool creation failed");
	}
	ring_thread rt;
	int rc = exec_io_loop_create(&rt.loop, NULL);
	if (rc == 0 && pthread_create(&rt.thread, NULL, ring_main, &rt) == 0) {
		report("hop_io_loop", hop(exec_io_loop_scheduler(rt.loop), hops), "ns",
		       unit);
		exec_io_loop_stop(rt.loop);
		pthread_join(rt.thread, NULL);
		exec_io_loop_destroy(rt.loop);
	} else {
		skipped("hop_io_loop", "io loop unavailable");
	}

	/* Memory. Thread rows first at each count, as the ratios' base. */
	char name[96];
	double thread_default[8] = {0};
	for (int i = 0; i < nthread_counts; i++) {
		size_t n = thread_counts[i], made;
		double d = rss_per_thread(n, 0, &made);
		snprintf(name, sizeof name, "rss_per_blocked_thread_default_stack_%zu",
			 n);
		if (d >= 0)
			report(name, d, "bytes", 0);
		else
			skipped(name, "thread creation failed before the count");
		thread_default[i] = d;
		double k = rss_per_thread(n, 64 * 1024, &made);
		snprintf(name, sizeof name, "rss_per_blocked_thread_64k_stack_%zu", n);
		if (k >= 0)
			report(name, k, "bytes", d > 0 ? d : 0);
		else
			skipped(name, "thread creation failed before the count");
	}
	double tbase = nthread_counts ? thread_default[0] : 0;
	if (tbase < 0)
		tbase = 0;
	for (int i = 0; i < ncounts; i++) {
		size_t n = counts[i], op = 0;
		char note[128];
		exec_fiber_options un = {16 * 1024, EXEC_STACK_UNGUARDED};
		double u = rss_per_fiber(n, &un, &op);
		snprintf(name, sizeof name, "rss_per_suspended_fiber_16k_unguarded_%zu",
			 n);
		snprintf(
			note, sizeof note,
			"op state %zu B; the rest: stack pages touched, stack bookkeeping; target <= 4608 B: %s",
			op, u <= 4608.0 ? "met" : "MISSED");
		if (u >= 0)
			report_note(name, u, "bytes", tbase, note);
		else
			skipped(name, "stacks exhausted");
		snprintf(name, sizeof name, "rss_per_suspended_fiber_64k_guarded_%zu", n);
		if (n > exec_stack_guarded_limit()) {
			skipped(name, "over the guarded-stack budget (vm.max_map_count)");
			continue;
		}
		exec_fiber_options g = {0, 0};
		double d = rss_per_fiber(n, &g, &op);
		snprintf(
			note, sizeof note,
			"op state %zu B; the rest: stack pages touched, stack bookkeeping; target <= 4608 B: %s",
			op, d <= 4608.0 ? "met" : "MISSED");
		if (d >= 0)
			report_note(name, d, "bytes", tbase, note);
		else
			skipped(name, "stacks exhausted");
	}
	for (int i = 0; i < nstackless_counts; i++) {
		size_t n = stackless_counts[i], frame = 0;
		snprintf(name, sizeof name, "rss_per_suspended_stackless_task_%zu", n);
		double d = rss_per_stackless(n, &frame);
		char note[256], what[160];
		snprintf(
			what, sizeof what,
			"frame %zu B = header %zu + locals %zu + timer op state %d with the "
			"loop's heap links; sender shared",
			frame, sizeof(exec_coro),
			frame - sizeof(exec_coro) - TIMER_OP_BYTES, TIMER_OP_BYTES);
		if (d <= 256.0)
			snprintf(note, sizeof note, "%s; target <= 256 B: met", what);
		else if (frame <= 256 && (d - (double)frame) * (double)n <= 4096.0)
			snprintf(note, sizeof note,
				 "%s; target <= 256 B: MISSED by %.1f B, all of it the "
				 "array's last page rounded up",
				 what, d - 256.0);
		else
			snprintf(
				note, sizeof note,
				"%s; target <= 256 B: MISSED by %.1f B (%.1f B beyond the frame)",
				what, d - 256.0, d - (double)frame);
		if (d >= 0)
			report_note(name, d, "bytes", tbase, note);
		else
			skipped(name, "the timer's op state does not fit the frame");
	}
	return 0;
}
