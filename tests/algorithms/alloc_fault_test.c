/* tests/algorithms/alloc_fault_test.c - allocation-failure fault injection.
 *
 * Every allocation made by this program's objects and by the static library
 * goes through the linker's --wrap (as in alloc_test.c). While a scenario
 * is armed, the Nth allocation (counted across all threads) fails. Each
 * scenario is swept with N = 1, 2, ... until a run completes with no
 * injected failure, so every allocation the scenario reaches fails once.
 * Each failure must surface as documented: a builder returns the -ENOMEM
 * invalid sender, a run completes on the error channel with -ENOMEM, a
 * function returns -ENOMEM; never a crash, a hang, a lost or double
 * completion, or a leak (the ASan build checks leaks at exit).
 *
 * The test's own allocations (receivers, op storage) happen while disarmed,
 * so only library allocations are failed. */
/* CEXEC_LINK: -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=aligned_alloc */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <stdio.h>

#include "algorithms/bulk.h"
#include "algorithms/continues_on.h"
#include "algorithms/counting_scope.h"
#include "algorithms/let.h"
#include "algorithms/on.h"
#include "algorithms/start_detached.h"
#include "algorithms/starts_on.h"
#include "algorithms/stopped_as_error.h"
#include "algorithms/sync_wait.h"
#include "algorithms/when_all.h"
#include "algorithms/when_any.h"
#include "schedulers/inline.h"
#include "schedulers/io_loop_group.h"
#include "schedulers/io_uring.h"
#include "schedulers/run_loop.h"
#include "schedulers/thread_pool.h"

#if defined(__has_include) && !defined(FAULT_NO_SPLIT)
#if __has_include("algorithms/split.h") && __has_include("algorithms/ensure_started.h")
#include "algorithms/ensure_started.h"
#include "algorithms/split.h"
#define FAULT_HAVE_SPLIT 1
#endif
#endif
#ifndef FAULT_HAVE_SPLIT
#define FAULT_HAVE_SPLIT 0
#endif

/* ---- the failing wrappers ------------------------------------------------ */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

static AO_t armed, calls, fail_at, injected;

static int should_fail(void)
{
	if (!AO_load_acquire(&armed))
		return 0;
	AO_t k = AO_fetch_and_add1(&calls) + 1;
	if (k != AO_load_acquire(&fail_at))
		return 0;
	AO_fetch_and_add1(&injected);
	return 1;
}

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	return should_fail() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
	return should_fail() ? ENOMEM : __real_posix_memalign(p, align, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return should_fail() ? NULL : __real_aligned_alloc(align, n);
}

static void arm(void)
{
	AO_store_release(&armed, 1);
}

static void disarm(void)
{
	AO_store_release(&armed, 0);
}

/* Runs fn with fail_at = 1, 2, ... until a run injects nothing; returns how
 * many allocations the clean run made. */
static size_t sweep(const char *name, void (*fn)(void))
{
	bool verbose = getenv("CEXEC_FAULT_VERBOSE") != NULL;
	for (AO_t n = 1;; n++) {
		if (verbose)
			fprintf(stderr, "%s: failing allocation %lu\n", name, (unsigned long)n);
		AO_store(&calls, 0);
		AO_store(&injected, 0);
		AO_store_release(&fail_at, n);
		fn();
		disarm();
		if (AO_load_acquire(&injected) == 0) {
			size_t made = (size_t)AO_load_acquire(&calls);
			fprintf(stderr, "%s: %zu allocations, each failed once in turn\n",
				name, made);
			return made;
		}
		assert_int_equal(AO_load_acquire(&injected), 1);
		if (n > 100000)
			fail_msg("%s: no clean run after %lu allocations", name, (unsigned long)n);
	}
}

/* ---- shared schedulers (created while disarmed) --------------------------- */
static exec_thread_pool *pool;

static int setup(void **state)
{
	(void)state;
	return exec_thread_pool_create(&pool, 2);
}

static int teardown(void **state)
{
	(void)state;
	exec_thread_pool_destroy(pool);
	return 0;
}

/* ---- helpers for the pipelines -------------------------------------------- */
static int add_fn(void *ctx, const exec_value *in, size_t count, exec_value *out)
{
	(void)ctx;
	int64_t s = 0;
	for (size_t i = 0; i < count; i++)
		s += exec_value_as_i64(&in[i]);
	out[0] = exec_value_i64(s);
	return 1;
}

static int bulk_fn(void *ctx, size_t i, const exec_value *v, size_t n)
{
	(void)i;
	(void)v;
	(void)n;
	AO_fetch_and_add1((AO_t *)ctx);
	return 0;
}

/* A successor whose op state is larger than EXEC_LET_INLINE_SIZE and the
 * predecessor's, so let allocates it from the environment's allocator. */
static exec_sender *big_successor(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	exec_value vals[40];
	for (size_t i = 0; i < 40; i++)
		vals[i] = exec_value_i64(i == 0 && n ? exec_value_as_i64(&v[0]) : 0);
	/* continues_on keeps slots for the 40 values in its op state. */
	return exec_then(exec_continues_on(exec_just(vals, 40), exec_inline_scheduler()),
			 add_fn, NULL);
}

/* The result must be the value want, or the -ENOMEM error. */
static void expect_value_or_enomem(int rc, const exec_result *r, int64_t want)
{
	if (rc == -ENOMEM) {
		assert_int_equal(r->kind, EXEC_RESULT_ERROR);
		assert_int_equal(r->error, -ENOMEM);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(r->kind, EXEC_RESULT_VALUE);
	assert_true(r->count >= 1);
	assert_int_equal(exec_value_as_i64(&r->values[0]), want);
}

/* ---- scenarios ------------------------------------------------------------ */

/* Building a pipeline of most algorithms, then running it with sync_wait:
 * a failed build gives the -ENOMEM sender (and sync_wait its error), a
 * failure while running reaches the error channel. */
static AO_t bulk_calls;
static void pipeline_once(void)
{
	exec_scheduler *ps = exec_thread_pool_scheduler(pool);
	AO_store(&bulk_calls, 0);
	arm();
	exec_sender *s = exec_when_all2(exec_just_i64(1),
					exec_continues_on(exec_just_i64(2), ps));
	s = exec_then(s, add_fn, NULL);                           /* 3 */
	s = exec_let_value(s, big_successor, NULL);                /* 3 */
	s = exec_when_any2(s, exec_starts_on(ps, exec_then(exec_just_error(-EIO),
							   add_fn, NULL)));
	s = exec_stopped_as_error(exec_on(ps, s), -ETIMEDOUT);
	s = exec_bulk(s, 8, bulk_fn, &bulk_calls);
	int build = exec_sender_build_error(s);
	exec_result r;
	int rc = exec_sync_wait(s, &r);
	disarm();
	if (build)
		assert_int_equal(build, -ENOMEM);
	/* when_any: the value 3 or the -EIO of the other child, whichever is
	 * first; or -ENOMEM. */
	if (rc == -EIO)
		assert_int_equal(r.error, -EIO);
	else
		expect_value_or_enomem(rc, &r, 3);
	if (rc == 0)
		assert_int_equal(AO_load_acquire(&bulk_calls), 8);
	exec_result_clear(&r);
	exec_sender_free(s);
}

static void building_and_running_a_pipeline(void **state)
{
	(void)state;
	assert_true(sweep("pipeline", pipeline_once) > 0);
}

/* let_* successor storage (larger than the inline buffer): -ENOMEM on the
 * error channel. Built disarmed so that only the run's allocations fail. */
static exec_sender *error_successor(void *ctx, int err)
{
	(void)err;
	return big_successor(ctx, NULL, 0);
}

static void let_once(void)
{
	exec_sender *s = exec_let_value(exec_just_i64(5), big_successor, NULL);
	exec_sender *e = exec_let_error(exec_just_error(-EIO), error_successor, NULL);
	exec_result r, q;
	arm();
	int rc = exec_sync_wait(s, &r);
	int rq = exec_sync_wait(e, &q);
	disarm();
	expect_value_or_enomem(rc, &r, 5);
	expect_value_or_enomem(rq, &q, 0);
	exec_sender_free(s);
	exec_sender_free(e);
}

static void let_successor_storage(void **state)
{
	(void)state;
	/* The successor's builders and its storage: at least two each. */
	assert_true(sweep("let successor", let_once) >= 2);
}

/* sync_wait: an op state over EXEC_SYNC_WAIT_STACK_OP bytes and results of
 * more than EXEC_RESULT_INLINE_VALUES values are heap allocated. */
static void sync_wait_once(void)
{
	exec_value v[20];
	for (int i = 0; i < 20; i++)
		v[i] = exec_value_i64(i + 100);
	exec_sender *many = exec_just(v, 20);
	exec_sender *kids[6];
	for (int i = 0; i < 6; i++)
		kids[i] = exec_continues_on(exec_just(v, 20), exec_inline_scheduler());
	exec_sender *big = exec_when_all(kids, 6); /* 6 x 20 value slots */
	assert_true(exec_sender_op_size(big) > EXEC_SYNC_WAIT_STACK_OP);
	exec_result r, q;
	arm();
	int rc = exec_sync_wait(many, &r);
	int rq = exec_sync_wait(big, &q);
	disarm();
	expect_value_or_enomem(rc, &r, 100);
	if (rc == 0)
		assert_int_equal(r.count, 20);
	expect_value_or_enomem(rq, &q, 100);
	if (rq == 0)
		assert_int_equal(q.count, 120);
	exec_result_clear(&r);
	exec_result_clear(&q);
	exec_sender_free(many);
	exec_sender_free(big);
}

static void sync_wait_heap_values_and_state(void **state)
{
	(void)state;
	assert_true(sweep("sync_wait", sync_wait_once) >= 2);
}

/* start_detached and counting_scope spawn: -ENOMEM is returned and nothing
 * runs, or the operation runs and reports exactly once. */
typedef struct notify {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, status;
} notify;

static void notify_fn(void *ctx, int status)
{
	notify *n = ctx;
	pthread_mutex_lock(&n->mu);
	n->calls++;
	n->status = status;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

static void detached_once(void)
{
	notify n = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	exec_scheduler *ps = exec_thread_pool_scheduler(pool);
	arm();
	exec_sender *s = exec_then(exec_starts_on(ps, exec_just_i64(4)), add_fn, NULL);
	int rc = exec_start_detached_notify(s, NULL, notify_fn, &n);
	if (rc == 0) {
		pthread_mutex_lock(&n.mu);
		while (n.calls == 0)
			pthread_cond_wait(&n.cv, &n.mu);
		pthread_mutex_unlock(&n.mu);
	}
	disarm();
	if (rc == 0) {
		assert_int_equal(n.calls, 1);
		assert_true(n.status == 0 || n.status == -ENOMEM);
	} else {
		assert_int_equal(rc, -ENOMEM);
		assert_int_equal(n.calls, 0);
	}
}

static void start_detached_storage(void **state)
{
	(void)state;
	long errors = (long)exec_start_detached_errors();
	assert_true(sweep("start_detached", detached_once) >= 1);
	(void)errors;
}

static AO_t spawned_ran;

static int count_fn(void *ctx, const exec_value *in, size_t count, exec_value *out)
{
	(void)ctx;
	(void)in;
	(void)count;
	(void)out;
	AO_fetch_and_add1(&spawned_ran);
	return 0;
}

static void scope_once(void)
{
	exec_counting_scope scope;
	exec_scheduler *ps = exec_thread_pool_scheduler(pool);
	AO_store(&spawned_ran, 0);
	arm();
	int rc = exec_counting_scope_init(&scope);
	if (rc != 0) {
		disarm();
		assert_int_equal(rc, -ENOMEM);
		return;
	}
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		exec_sender *s = exec_then(exec_starts_on(ps, exec_just_void()), count_fn, NULL);
		int x = exec_scope_spawn(&scope, s, NULL);
		if (x == 0)
			ok++;
		else
			assert_int_equal(x, -ENOMEM);
	}
	exec_sender *join = exec_scope_join(&scope);
	exec_result r;
	int jr = exec_sync_wait(join, &r);
	exec_result_clear(&r);
	exec_sender_free(join);
	if (jr != 0) {
		/* The join sender could not be built or connected: wait for
		 * the spawned work with a join built disarmed. */
		assert_int_equal(jr, -ENOMEM);
		disarm();
		join = exec_scope_join(&scope);
		assert_int_equal(exec_sync_wait(join, NULL), 0);
		exec_sender_free(join);
	}
	disarm();
	/* A spawned operation whose own run failed (-ENOMEM on the error
	 * channel, dropped by the scope) still completed; the ones that ran
	 * count. */
	assert_true(AO_load_acquire(&spawned_ran) <= (AO_t)ok);
	exec_counting_scope_destroy(&scope);
}

static void counting_scope_spawn(void **state)
{
	(void)state;
	assert_true(sweep("counting_scope", scope_once) >= 4);
}

/* Scheduler creation: 0 or -ENOMEM, and a failed create leaves nothing
 * behind (ASan's leak check). */
static AO_t io_setup_calls;
static void io_setup(exec_io_loop *loop, unsigned index, void *ctx)
{
	(void)loop;
	(void)index;
	(void)ctx;
	AO_fetch_and_add1(&io_setup_calls);
}

static void schedulers_once(void)
{
	exec_thread_pool *p = NULL;
	exec_run_loop rl;
	exec_io_loop *io = NULL;
	exec_io_loop_group *g = NULL;
	AO_store(&io_setup_calls, 0);
	arm();
	int rp = exec_thread_pool_create(&p, 3);
	int rr = exec_run_loop_init(&rl);
	int ri = exec_io_loop_create(&io, NULL);
	int rg = exec_io_loop_group_start(&g, 2, NULL, io_setup, NULL);
	disarm();
	assert_true(rp == 0 || rp == -ENOMEM);
	assert_true(rr == 0 || rr == -ENOMEM);
	assert_true(ri == 0 || ri == -ENOMEM);
	assert_true(rg == 0 || rg == -ENOMEM);
	/* What was created works. */
	if (rp == 0) {
		exec_sender *s = exec_starts_on(exec_thread_pool_scheduler(p), exec_just_i64(1));
		assert_int_equal(exec_sync_wait(s, NULL), 0);
		exec_sender_free(s);
		exec_thread_pool_destroy(p);
	}
	if (rr == 0)
		exec_run_loop_destroy(&rl);
	if (ri == 0) {
		exec_sender *s = exec_schedule(exec_io_loop_scheduler(io));
		assert_int_equal(exec_io_loop_sync_wait(io, s, NULL), 0);
		exec_sender_free(s);
		exec_io_loop_destroy(io);
	}
	if (rg == 0) {
		exec_io_loop_group_stop(g);
		exec_io_loop_group_join(g);
		assert_int_equal(AO_load_acquire(&io_setup_calls), 2);
	}
}

static void scheduler_creation(void **state)
{
	(void)state;
	assert_true(sweep("scheduler creation", schedulers_once) >= 3);
}

#if FAULT_HAVE_SPLIT
/* split and ensure_started: a failed build is the -ENOMEM sender; a failure
 * in the shared run reaches every consumer as -ENOMEM. */
static void split_once(void)
{
	exec_scheduler *ps = exec_thread_pool_scheduler(pool);
	arm();
	exec_sender *sp = exec_split(exec_starts_on(ps, exec_just_i64(6)));
	exec_sender *both = exec_then(exec_when_all2(sp, exec_sender_ref(sp)), add_fn, NULL);
	exec_sender *es = exec_ensure_started(exec_starts_on(ps, exec_just_i64(7)));
	exec_result r, q;
	int rc = exec_sync_wait(both, &r);
	int rq = exec_sync_wait(es, &q);
	disarm();
	expect_value_or_enomem(rc, &r, 12);
	expect_value_or_enomem(rq, &q, 7);
	exec_sender_free(both);
	exec_sender_free(es);
}

static void split_and_ensure_started(void **state)
{
	(void)state;
	assert_true(sweep("split/ensure_started", split_once) >= 2);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(building_and_running_a_pipeline),
		cmocka_unit_test(let_successor_storage),
		cmocka_unit_test(sync_wait_heap_values_and_state),
		cmocka_unit_test(start_detached_storage),
		cmocka_unit_test(counting_scope_spawn),
		cmocka_unit_test(scheduler_creation),
#if FAULT_HAVE_SPLIT
		cmocka_unit_test(split_and_ensure_started),
#endif
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
