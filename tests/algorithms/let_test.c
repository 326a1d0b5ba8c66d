/* CEXEC_TEST_LABELS: tsan */
/* tests for algorithms/let.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

/* ---- functions returning successors ---- */

static exec_sender *double_plus_one(void *ctx, const exec_value *v, size_t n)
{
	if (ctx)
		(*(int *)ctx)++;
	if (n != 1)
		return exec_just_error(-EINVAL);
	return exec_just_i64(exec_value_as_i64(&v[0]) * 2 + 1);
}

static int read_stored(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)in;
	(void)n;
	/* ctx points at the let op's copy of the predecessor's values. */
	const exec_value *stored = ctx;
	out[0] = exec_value_i64(exec_value_as_i64(&stored[0]) + exec_value_as_i64(&stored[1]));
	return 1;
}

typedef struct async_ctx {
	exec_scheduler *sched;
	int calls;
} async_ctx;

/* The successor refers to the values pointer and reads it later, on the
 * loop: the values must still be there. */
static exec_sender *later_sum(void *ctx, const exec_value *v, size_t n)
{
	async_ctx *a = ctx;
	a->calls++;
	assert_int_equal(n, 2);
	return exec_then(exec_schedule(a->sched), read_stored, (void *)v);
}

static exec_sender *from_error(void *ctx, int err)
{
	if (ctx)
		(*(int *)ctx)++;
	return exec_just_i64(-err);
}

static exec_sender *from_stopped(void *ctx)
{
	if (ctx)
		(*(int *)ctx)++;
	return exec_just_i64(77);
}

static exec_sender *returns_null(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	(void)v;
	(void)n;
	return NULL;
}

static exec_sender *returns_connect_fail(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	(void)v;
	(void)n;
	return ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL);
}

static exec_sender *returns_too_wide(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	(void)v;
	(void)n;
	exec_sender *s = ctl_value(1);
	s->max_values = EXEC_LET_MAX_VALUES + 1;
	return s;
}

static exec_sender *returns_error(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	(void)v;
	(void)n;
	return exec_just_error(-EPIPE);
}

static exec_sender *returns_stopped(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	(void)v;
	(void)n;
	return exec_just_stopped();
}

static exec_sender *returns_ctx_sender(void *ctx, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	/* ctx: a sender to run (one reference per call is taken). */
	return exec_sender_ref(ctx);
}

/* ---- value / error / stopped paths ---- */

static void value_path(void **state)
{
	(void)state;
	int calls = 0;
	exec_sender *s = exec_let_value(exec_just_i64(20), double_plus_one, &calls);
	assert_int_equal(s->max_values, EXEC_LET_MAX_VALUES);
	for (int i = 1; i <= 2; i++) { /* reuse */
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 1);
		exec_test_assert_i64(&t, 0, 41);
		assert_int_equal(calls, i);
		exec_test_receiver_destroy(&t);
	}
	/* Two operations of the same sender alive at once. */
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	assert_int_equal(exec_test_connect(s, &a), 0);
	assert_int_equal(exec_test_connect(s, &b), 0);
	exec_test_start(&b);
	exec_test_start(&a);
	exec_test_assert_i64(&a, 0, 41);
	exec_test_assert_i64(&b, 0, 41);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_sender_free(s);
}

static void values_outlive_the_predecessor(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	async_ctx a = {test_loop_sched(&tl), 0};
	exec_value two[2] = {exec_value_i64(30), exec_value_i64(12)};
	exec_sender *s = exec_let_value(exec_just(two, 2), later_sum, &a);
	exec_test_run(s, &tl.t);
	assert_int_equal(exec_test_completions(&tl.t), 0);
	test_loop_drive(&tl);
	exec_test_assert_value(&tl.t);
	exec_test_assert_i64(&tl.t, 0, 42);
	assert_int_equal(a.calls, 1);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void error_path(void **state)
{
	(void)state;
	int calls = 0;
	exec_sender *s = exec_let_error(exec_just_error(-EIO), from_error, &calls);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, EIO);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	/* values and stopped pass through let_error */
	s = exec_let_error(exec_just_i64(3), from_error, &calls);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_i64(&t, 0, 3);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	s = exec_let_error(exec_just_stopped(), from_error, &calls);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	assert_int_equal(calls, 1);
}

static void stopped_path(void **state)
{
	(void)state;
	int calls = 0;
	exec_sender *s = exec_let_stopped(exec_just_stopped(), from_stopped, &calls);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 77);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	s = exec_let_stopped(exec_just_error(-EBADF), from_stopped, &calls);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EBADF);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	assert_int_equal(calls, 1);
}

static void value_path_passes_error_and_stopped(void **state)
{
	(void)state;
	int calls = 0;
	exec_sender *s = exec_let_value(exec_just_error(-EIO), double_plus_one, &calls);
	assert_int_equal(exec_sync_wait(s, NULL), -EIO);
	exec_sender_free(s);
	s = exec_let_value(exec_just_stopped(), double_plus_one, &calls);
	assert_int_equal(exec_sync_wait(s, NULL), EXEC_STOPPED);
	exec_sender_free(s);
	assert_int_equal(calls, 0);
}

static void successor_outcomes(void **state)
{
	(void)state;
	exec_sender *s = exec_let_value(exec_just_void(), returns_error, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), -EPIPE);
	exec_sender_free(s);
	s = exec_let_value(exec_just_void(), returns_stopped, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), EXEC_STOPPED);
	exec_sender_free(s);
	s = exec_let_value(exec_just_void(), returns_null, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), -EINVAL);
	exec_sender_free(s);
	s = exec_let_value(exec_just_void(), returns_connect_fail, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), -EBADF);
	exec_sender_free(s);
	s = exec_let_value(exec_just_void(), returns_too_wide, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), -ERANGE);
	exec_sender_free(s);
	/* An invalid (failed-build) successor completes with its error. */
	s = exec_let_value(exec_just_void(), returns_ctx_sender, exec_sender_invalid(-ENOMEM));
	assert_int_equal(exec_sync_wait(s, NULL), -ENOMEM);
	exec_sender_free(s);
}

/* ---- memory ---- */

typedef struct counting_alloc {
	exec_allocator a;
	int allocs, frees, fail;
	size_t last_size;
} counting_alloc;

static void *ca_alloc(void *ctx, size_t size, size_t align)
{
	counting_alloc *c = ctx;
	if (c->fail)
		return NULL;
	c->allocs++;
	c->last_size = size;
	void *p = NULL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static void ca_free(void *ctx, void *p, size_t size)
{
	counting_alloc *c = ctx;
	c->frees++;
	(void)size;
	free(p);
}

static void counting_alloc_init(counting_alloc *c)
{
	memset(c, 0, sizeof *c);
	c->a.alloc = ca_alloc;
	c->a.free = ca_free;
	c->a.ctx = c;
}

static exec_sender *big_op(int64_t v)
{
	exec_sender *s = ctl_value(v);
	s->op_size = 4 * EXEC_LET_INLINE_SIZE; /* a larger op state than the area */
	return s;
}

static void successor_storage(void **state)
{
	(void)state;
	counting_alloc ca;
	counting_alloc_init(&ca);
	/* Fits the area: no allocation. */
	exec_sender *small = exec_just_i64(5);
	exec_sender *s = exec_let_value(exec_just_void(), returns_ctx_sender, small);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.allocator = &ca.a;
	exec_test_run(s, &t);
	exec_test_assert_i64(&t, 0, 5);
	assert_int_equal(ca.allocs, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_sender_free(small);

	/* Larger: allocated with the env's allocator, freed by completion. */
	exec_sender *big = big_op(6);
	s = exec_let_value(exec_just_void(), returns_ctx_sender, big);
	exec_test_receiver_init(&t);
	t.env.allocator = &ca.a;
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 6);
	assert_int_equal(ca.allocs, 1);
	assert_int_equal(ca.frees, 1);
	assert_true(ca.last_size >= 4 * EXEC_LET_INLINE_SIZE);
	exec_test_receiver_destroy(&t);

	/* The allocator fails: -ENOMEM, and the successor is still freed
	 * (LeakSanitizer would see it otherwise: ctx holds the only other
	 * reference and we drop it below). */
	ca.fail = 1;
	exec_test_receiver_init(&t);
	t.env.allocator = &ca.a;
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -ENOMEM);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_sender_free(big);

	/* A predecessor larger than the inline size: the area grows to it,
	 * and a successor of that size reuses it. */
	exec_sender *big2 = big_op(8);
	ca.fail = 0;
	ca.allocs = 0;
	s = exec_let_value(big_op(1), returns_ctx_sender, big2);
	exec_test_receiver_init(&t);
	t.env.allocator = &ca.a;
	exec_test_run(s, &t);
	exec_test_assert_i64(&t, 0, 8);
	assert_int_equal(ca.allocs, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_sender_free(big2);
}

/* ---- deep synchronous chains ---- */

/* A million under ASan and in plain builds. ThreadSanitizer makes each of
 * the million live allocations slow (about a minute), so it checks a
 * hundred thousand: still far deeper than an untrampolined stack allows. */
#if defined(__SANITIZE_THREAD__)
#define CHAIN_DEPTH 100000
#else
#define CHAIN_DEPTH 1000000
#endif

typedef struct chain {
	long depth, limit;
	size_t nvalues;
} chain;

static exec_sender *chain_step(void *ctx, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	chain *c = ctx;
	if (++c->depth < c->limit)
		return exec_let_value(exec_just_i64(c->depth), chain_step, c);
	exec_value vals[EXEC_LET_MAX_VALUES];
	for (size_t i = 0; i < c->nvalues; i++)
		vals[i] = exec_value_i64((int64_t)(c->depth + (long)i));
	return exec_just(vals, c->nvalues);
}

static void million_deep_chain(void **state)
{
	(void)state;
	/* Each fn returns let_value(just, fn): a million nested lets, all
	 * completing inside start. The trampoline bounds the stack. */
	chain c = {0, CHAIN_DEPTH, 1};
	exec_sender *s = exec_let_value(exec_just_i64(0), chain_step, &c);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(c.depth, CHAIN_DEPTH);
	exec_test_assert_i64(&t, 0, CHAIN_DEPTH);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void deferred_deliveries_keep_values(void **state)
{
	(void)state;
	/* Deep enough that completions are deferred by the trampoline, with
	 * values that fit the inline area and values that do not. */
	size_t widths[] = {0, 3, 20, EXEC_LET_MAX_VALUES};
	for (int w = 0; w < 4; w++) {
		chain c = {0, 500, widths[w]};
		exec_sender *s = exec_let_value(exec_just_i64(0), chain_step, &c);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, widths[w]);
		for (size_t i = 0; i < widths[w]; i++)
			exec_test_assert_i64(&t, i, 500 + (int64_t)i);
		exec_test_receiver_destroy(&t);
		exec_sender_free(s);
	}
}

/* ---- stop ---- */

typedef struct wait_ctx {
	test_loop *tl;
	int calls;
} wait_ctx;

static exec_sender *returns_wait(void *ctx, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	wait_ctx *w = ctx;
	w->calls++;
	return test_loop_wait(w->tl);
}

static exec_sender *returns_token(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	(void)v;
	(void)n;
	return exec_read_stop_token();
}

static void stop_cases(void **state)
{
	(void)state;
	test_loop tl;
	int calls = 0;
	/* before: the predecessor (on the loop) sees the stop */
	test_loop_init(&tl);
	exec_sender *s =
		exec_let_value(exec_schedule(test_loop_sched(&tl)), double_plus_one, &calls);
	test_stop_before(s, &tl);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(calls, 0);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	/* during the predecessor */
	test_loop_init(&tl);
	s = exec_let_value(test_loop_wait(&tl), double_plus_one, &calls);
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(calls, 0);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	/* during the successor: it got the receiver's token */
	test_loop_init(&tl);
	wait_ctx w = {&tl, 0};
	s = exec_let_value(exec_just_void(), returns_wait, &w);
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(w.calls, 1);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	/* stopped during, turned into a value by let_stopped */
	test_loop_init(&tl);
	s = exec_let_stopped(test_loop_wait(&tl), from_stopped, &calls);
	test_stop_during(s, &tl);
	exec_test_assert_value(&tl.t);
	exec_test_assert_i64(&tl.t, 0, 77);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	/* after */
	test_loop_init(&tl);
	s = exec_let_value(exec_schedule(test_loop_sched(&tl)), returns_token, NULL);
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	assert_ptr_equal(exec_value_as_ptr(&tl.t.values[0]), &tl.stop);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

/* ---- threads ---- */

static void across_threads_freed_in_completion(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	async_ctx a = {exec_run_loop_scheduler(&lt.loop), 0};
	exec_value two[2] = {exec_value_i64(40), exec_value_i64(2)};
	/* The predecessor completes on the loop thread; the successor is
	 * started there and completes there later. */
	exec_sender *s = exec_let_value(
		exec_continues_on(exec_just(two, 2), exec_run_loop_scheduler(&lt.loop)),
		later_sum, &a);
	for (int i = 0; i < 50; i++) {
		freeing_receiver f;
		freeing_init(&f);
		freeing_run(s, &f);
		freeing_wait(&f);
		assert_int_equal(f.channel, 1);
		assert_int_equal(f.first, 42);
		assert_true(pthread_equal(f.thread, lt.thread));
		freeing_destroy(&f);
	}
	loop_thread_stop(&lt);
	assert_int_equal(a.calls, 50);
	exec_sender_free(s);
}

/* ---- bad input ---- */

static void bad_input(void **state)
{
	(void)state;
	assert_int_equal(exec_sender_build_error(exec_let_value(NULL, double_plus_one, NULL)),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_let_value(exec_just_void(), NULL, NULL)),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_let_error(exec_just_void(), NULL, NULL)),
			 -EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_let_stopped(exec_just_void(), NULL, NULL)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_let_error(NULL, from_error, NULL)),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(
				 exec_let_stopped(exec_sender_invalid(-ENOMEM), from_stopped, NULL)),
			 -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(value_path),
		cmocka_unit_test(values_outlive_the_predecessor),
		cmocka_unit_test(error_path),
		cmocka_unit_test(stopped_path),
		cmocka_unit_test(value_path_passes_error_and_stopped),
		cmocka_unit_test(successor_outcomes),
		cmocka_unit_test(successor_storage),
		cmocka_unit_test(million_deep_chain),
		cmocka_unit_test(deferred_deliveries_keep_values),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(across_threads_freed_in_completion),
		cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
