/* tests for exec/fiber.c: fiber tasks awaiting senders.
 * CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"
#include "fiber_many.h"
#include "on_valgrind.h"

#include <errno.h>
#include <sys/resource.h>

#include "exec/fiber.h"
#include "schedulers/io_uring.h"
#include "schedulers/thread_pool.h"

/* Under ThreadSanitizer each fiber is a TSan thread (at most 8128 exist
 * at once); under AddressSanitizer each costs far more memory. */
#if defined(__SANITIZE_THREAD__)
#define MANY_FIBERS 500
#elif defined(__SANITIZE_ADDRESS__)
#define MANY_FIBERS 5000
#else
#define MANY_FIBERS 100000
#endif

/* ---- helpers ---- */

typedef struct loop_thread {
	exec_run_loop loop;
	pthread_t thread;
} loop_thread;

static void *loop_main(void *p)
{
	exec_run_loop_run(&((loop_thread *)p)->loop);
	return NULL;
}

static void loop_thread_start(loop_thread *lt)
{
	assert_int_equal(exec_run_loop_init(&lt->loop), 0);
	assert_int_equal(pthread_create(&lt->thread, NULL, loop_main, lt), 0);
}

static void loop_thread_stop(loop_thread *lt)
{
	exec_run_loop_finish(&lt->loop);
	pthread_join(lt->thread, NULL);
	exec_run_loop_destroy(&lt->loop);
}

static int run_fiber(exec_fiber_fn fn, void *arg, exec_result *r)
{
	exec_sender *s = exec_fiber_sender(fn, arg, NULL);
	int rc = exec_sync_wait(s, r);
	exec_sender_free(s);
	return rc;
}

/* ---- each completion kind ---- */

static int64_t await_kinds(void *arg)
{
	int *fails = arg;
	exec_result r;
	if (exec_await_take(exec_just_i64(41), &r) != 0 || r.kind != EXEC_RESULT_VALUE ||
	    r.count != 1 || exec_value_as_i64(&r.values[0]) != 41)
		(*fails)++;
	if (exec_await_take(exec_just_error(-EIO), &r) != -EIO ||
	    r.kind != EXEC_RESULT_ERROR || r.error != -EIO)
		(*fails)++;
	if (exec_await_take(exec_just_stopped(), &r) != EXEC_STOPPED ||
	    r.kind != EXEC_RESULT_STOPPED)
		(*fails)++;
	/* More values than the result holds inline. */
	exec_value many[12];
	for (int i = 0; i < 12; i++)
		many[i] = exec_value_i64(i * 3);
	if (exec_await_take(exec_just(many, 12), &r) != 0 || r.count != 12 ||
	    exec_value_as_i64(&r.values[11]) != 33)
		(*fails)++;
	exec_result_clear(&r);
	/* NULL result: the return code alone. */
	if (exec_await_take(exec_just_error(-ENOENT), NULL) != -ENOENT)
		(*fails)++;
	if (exec_await(NULL, NULL) != -EINVAL)
		(*fails)++;
	/* An invalid (failed-build) sender completes with its error. */
	if (exec_await(exec_sender_invalid(-ENOMEM), NULL) != -ENOMEM)
		(*fails)++;
	return 7;
}

static void each_completion_kind(void **state)
{
	int fails = 0;
	exec_result r;
	assert_int_equal(run_fiber(await_kinds, &fails, &r), 0);
	assert_int_equal(fails, 0);
	assert_int_equal(r.kind, EXEC_RESULT_VALUE);
	assert_int_equal(r.count, 1);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
}

static int64_t ends_with_error(void *arg)
{
	return exec_fiber_return_error(-EPIPE);
}

static int64_t ends_stopped(void *arg)
{
	return exec_fiber_return_stopped();
}

static void task_error_and_stopped(void **state)
{
	exec_result r;
	assert_int_equal(run_fiber(ends_with_error, NULL, &r), -EPIPE);
	assert_int_equal(r.kind, EXEC_RESULT_ERROR);
	assert_int_equal(run_fiber(ends_stopped, NULL, &r), EXEC_STOPPED);
	assert_int_equal(r.kind, EXEC_RESULT_STOPPED);
	/* Exactly once, through the counting receiver. */
	exec_sender *s = exec_fiber_sender(ends_with_error, NULL, NULL);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EPIPE);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void bad_arguments(void **state)
{
	assert_int_equal(exec_await_take(exec_just_i64(1), NULL), -EPERM);
	assert_false(exec_in_fiber());
	assert_null(exec_fiber_scheduler());
	exec_sender *s = exec_fiber_sender(NULL, NULL, NULL);
	assert_int_equal(exec_sender_build_error(s), -EINVAL);
	exec_fiber_options o = {0, 0x100};
	s = exec_fiber_sender(ends_stopped, NULL, &o);
	assert_int_equal(exec_sender_build_error(s), -EINVAL);
	assert_int_equal(exec_fiber_transfer(exec_inline_scheduler()), -EPERM);
}

/* An await from inside the start of an awaited sender (a then function
 * running on the fiber) is refused with -EDEADLK; the outer await and
 * later awaits work as usual. */
static int nested_await_fn(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)n;
	*(int *)ctx = exec_await_take(exec_just_i64(5), NULL);
	out[0] = exec_value_i64(exec_value_as_i64(&in[0]) + 1);
	return 1;
}

static int64_t awaits_inside_start(void *arg)
{
	int *inner = arg;
	exec_result r;
	int rc = exec_await_take(exec_then(exec_just_i64(1), nested_await_fn, inner), &r);
	if (rc != 0 || exec_value_as_i64(&r.values[0]) != 2)
		return -1;
	rc = exec_await_take(exec_just_i64(7), &r);
	return rc == 0 ? exec_value_as_i64(&r.values[0]) : -1;
}

static void await_inside_start_is_refused(void **state)
{
	(void)state;
	int inner = 0;
	exec_result r;
	assert_int_equal(run_fiber(awaits_inside_start, &inner, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
	assert_int_equal(inner, -EDEADLK);
}

/* A connected, never-started fiber op acquires nothing. */
static void connect_without_start(void **state)
{
	size_t held = exec_stack_guarded_count();
	exec_sender *s = exec_fiber_sender(ends_stopped, NULL, NULL);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	assert_int_equal(exec_test_connect(s, &t), 0);
	assert_int_equal(exec_stack_guarded_count(), held);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

/* ---- resuming on other schedulers ---- */

/* glibc declares pthread_self() __attribute__((const)), so inside one
 * function the compiler may reuse an earlier result across an await that
 * moved the fiber to another thread. The empty volatile asm makes this
 * wrapper opaque. (The same holds for errno: read it before an await.) */
static __attribute__((noinline)) pthread_t thread_now(void)
{
	__asm__ volatile("" ::: "memory");
	return pthread_self();
}

typedef struct hops {
	exec_scheduler *loop, *pool, *ring;
	pthread_t start, on_loop, on_pool, on_ring, after_inline;
	int in_pool, in_ring, fails;
	exec_scheduler *sched_seen;
} hops;

static int64_t hopper(void *arg)
{
	hops *h = arg;
	h->start = thread_now();
	if (exec_fiber_transfer(exec_inline_scheduler()) != 0)
		h->fails = h->fails ? h->fails : __LINE__;
	h->after_inline = thread_now();
	if (exec_fiber_transfer(h->loop) != 0)
		h->fails = h->fails ? h->fails : __LINE__;
	h->on_loop = thread_now();
	exec_result r;
	/* The await env names the current scheduler. */
	if (exec_await_take(exec_read_scheduler(), &r) != 0)
		h->fails = h->fails ? h->fails : __LINE__;
	h->sched_seen = exec_value_as_ptr(&r.values[0]);
	if (h->sched_seen != exec_fiber_scheduler())
		h->fails = h->fails ? h->fails : __LINE__;
	if (exec_fiber_transfer(h->pool) != 0)
		h->fails = h->fails ? h->fails : __LINE__;
	h->on_pool = thread_now();
	h->in_pool = exec_thread_pool_worker_index() >= 0;
	if (h->ring) {
		if (exec_fiber_transfer(h->ring) != 0)
			h->fails = h->fails ? h->fails : __LINE__;
		h->on_ring = thread_now();
#ifndef FIBER_TEST_NO_RING
		h->in_ring = exec_io_loop_on_thread(exec_io_loop_from_scheduler(h->ring));
#endif
	}
	/* A timer on the run_loop resumes us on its thread. */
	if (exec_await_take(exec_schedule_after(h->loop, 1000), NULL) != 0)
		h->fails = h->fails ? h->fails : __LINE__;
	if (!pthread_equal(thread_now(), h->on_loop))
		h->fails = h->fails ? h->fails : __LINE__;
	return 1;
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

static void resume_on_other_schedulers(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	ring_thread rt = {0};
#ifndef FIBER_TEST_NO_RING
	int ring_rc = exec_io_loop_create(&rt.loop, NULL);
#else
	int ring_rc = -ENOSYS;
#endif
	if (ring_rc == 0)
		assert_int_equal(pthread_create(&rt.thread, NULL, ring_main, &rt), 0);
	else
		print_message("io loop unavailable (%s): ring hop not tested\n",
			      exec_strerror(ring_rc));

	hops h = {0};
	h.loop = exec_run_loop_scheduler(&lt.loop);
	h.pool = exec_thread_pool_scheduler(pool);
	h.ring = ring_rc == 0 ? exec_io_loop_scheduler(rt.loop) : NULL;
	exec_result r;
	assert_int_equal(run_fiber(hopper, &h, &r), 0);
	if (h.fails)
		fail_msg("hopper check failed at line %d", h.fails);
	assert_true(pthread_equal(h.start, pthread_self()));
	assert_true(pthread_equal(h.after_inline, pthread_self()));
	assert_true(pthread_equal(h.on_loop, lt.thread));
	assert_ptr_equal(h.sched_seen, h.loop);
	assert_true(h.in_pool);
	assert_false(pthread_equal(h.on_pool, pthread_self()));
	if (h.ring) {
		assert_true(h.in_ring);
		assert_true(pthread_equal(h.on_ring, rt.thread));
#ifndef FIBER_TEST_NO_RING
		exec_io_loop_stop(rt.loop);
		pthread_join(rt.thread, NULL);
		exec_io_loop_destroy(rt.loop);
#endif
	}
	exec_thread_pool_destroy(pool);
	loop_thread_stop(&lt);
}

/* ---- composition ---- */

static int64_t child(void *arg)
{
	exec_scheduler *loop = arg;
	if (loop && exec_await_take(exec_schedule(loop), NULL) != 0)
		return exec_fiber_return_error(-EIO);
	return (int64_t)(intptr_t)exec_fiber_stop_token().source != 0 ? 100 : 1;
}

static int64_t parent(void *arg)
{
	exec_scheduler *loop = arg;
	exec_sender *kids[3];
	for (int i = 0; i < 3; i++)
		kids[i] = exec_fiber_sender(child, i == 1 ? loop : NULL, NULL);
	exec_result r;
	int rc = exec_await_take(exec_when_all(kids, 3), &r);
	if (rc != 0)
		return exec_fiber_return_error(rc);
	int64_t sum = 0;
	for (size_t i = 0; i < r.count; i++)
		sum += exec_value_as_i64(&r.values[i]);
	return sum;
}

static void structured_when_all(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_result r;
	/* Children see when_all's stop token (possible), so each returns 100. */
	assert_int_equal(run_fiber(parent, exec_run_loop_scheduler(&lt.loop), &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 300);
	/* Tasks as plain when_all children outside any fiber. */
	exec_sender *s = exec_when_all2(exec_fiber_sender(child, NULL, NULL),
					exec_fiber_sender(ends_with_error, NULL, NULL));
	assert_int_equal(exec_sync_wait(s, &r), -EPIPE);
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

/* ---- cancellation ---- */

typedef struct cancel_state {
	exec_scheduler *loop;
	AO_t blocked;
	int await_rc;
	int token_ok, requested_after;
	exec_stop_source *seen;
} cancel_state;

static int64_t sleeper(void *arg)
{
	cancel_state *c = arg;
	exec_result r;
	exec_await_take(exec_read_stop_token(), &r);
	c->seen = exec_value_as_ptr(&r.values[0]);
	c->token_ok = exec_fiber_stop_token().source == c->seen;
	AO_store_release(&c->blocked, 1);
	/* An hour: only the stop request ends it. */
	c->await_rc = exec_await_take(exec_schedule_after(c->loop, 3600 * EXEC_NS_PER_S), NULL);
	c->requested_after = exec_stop_token_requested(exec_fiber_stop_token());
	if (c->await_rc == EXEC_STOPPED)
		return exec_fiber_return_stopped();
	return 0;
}

typedef struct stopper {
	cancel_state *c;
	exec_stop_source *src;
} stopper;

static void *stop_when_blocked(void *p)
{
	stopper *s = p;
	while (!AO_load_acquire(&s->c->blocked))
		sched_yield();
	exec_stop_source_request(s->src);
	return NULL;
}

static void cancel_blocked_await(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	cancel_state c = {0};
	c.loop = exec_run_loop_scheduler(&lt.loop);
	exec_stop_source src;
	exec_stop_source_init(&src);
	stopper st = {&c, &src};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, stop_when_blocked, &st), 0);
	exec_sender *s = exec_fiber_sender(sleeper, &c, NULL);
	exec_result r;
	assert_int_equal(exec_sync_wait_with_stop(s, exec_stop_source_token(&src), &r),
			 EXEC_STOPPED);
	pthread_join(th, NULL);
	assert_int_equal(c.await_rc, EXEC_STOPPED);
	assert_ptr_equal(c.seen, &src);
	assert_true(c.token_ok);
	assert_true(c.requested_after);
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

/* ---- the race between completion and switch-out ---- */

typedef struct race {
	exec_scheduler *pool, *loop;
	int rounds;
	AO_t done;
} race;

static int64_t racer(void *arg)
{
	race *r = arg;
	int64_t sum = 0;
	for (int i = 0; i < r->rounds; i++) {
		/* Completes on a pool worker or the loop thread, often before
		 * we have switched out. */
		exec_scheduler *to = (i & 1) ? r->pool : r->loop;
		exec_result res;
		if (exec_await_take(exec_then(exec_schedule(to), NULL, NULL), &res) !=
		    -EINVAL) /* then(NULL) is an invalid build: inline error */
			return exec_fiber_return_error(-EPROTO);
		if (exec_await_take(exec_schedule(to), NULL) != 0)
			return exec_fiber_return_error(-EIO);
		sum += i;
	}
	return sum;
}

static void completion_races_switch_out(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	race rc = {exec_thread_pool_scheduler(pool), exec_run_loop_scheduler(&lt.loop), 200, 0};
	enum { N = 64 };
	exec_sender *kids[N];
	for (int i = 0; i < N; i++)
		kids[i] = exec_fiber_sender(racer, &rc, NULL);
	exec_sender *all = exec_when_all(kids, N);
	exec_result r;
	assert_int_equal(exec_sync_wait(all, &r), 0);
	assert_int_equal(r.count, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(exec_value_as_i64(&r.values[i]), 199 * 200 / 2);
	exec_result_clear(&r);
	exec_sender_free(all);
	exec_thread_pool_destroy(pool);
	loop_thread_stop(&lt);
}

/* ---- many fibers, each blocked on a timer (fiber_many.h) ----
 * (guarded stacks up to the vm.max_map_count budget: fiber_budget_long_test) */

static void many_fibers_await_timers(void **state)
{
	exec_fiber_options o = {16384, EXEC_STACK_UNGUARDED};
	size_t values, enomem;
	/* valgrind tracks every stack and byte: as many as under ASan. */
	size_t n = RUNNING_ON_VALGRIND && MANY_FIBERS > 5000 ? 5000 : MANY_FIBERS;
	run_many(n, &o, &values, &enomem);
	assert_int_equal(values, n);
	assert_int_equal(enomem, 0);
}

/* ---- generators ---- */

typedef struct range_arg {
	int64_t from, to;
	int closed;  /* saw EXEC_STOPPED from yield */
	int cleaned; /* ran its cleanup after the loop */
} range_arg;

/* The classic range(from, to). */
static void range_gen(exec_fiber_gen *g, void *arg)
{
	range_arg *a = arg;
	for (int64_t i = a->from; i < a->to; i++) {
		if (exec_fiber_gen_yield(g, exec_value_i64(i)) == EXEC_STOPPED) {
			a->closed = 1;
			break;
		}
	}
	a->cleaned = 1;
}

static void generator_range(void **state)
{
	range_arg a = {3, 9, 0, 0};
	exec_fiber_gen *g;
	assert_int_equal(exec_fiber_gen_create(&g, range_gen, &a, NULL), 0);
	exec_value v;
	int64_t expect = 3;
	while (exec_fiber_gen_next(g, &v) == 1) {
		assert_int_equal(exec_value_as_i64(&v), expect);
		expect++;
	}
	assert_int_equal(expect, 9);
	assert_int_equal(exec_fiber_gen_next(g, &v), 0); /* stays finished */
	assert_true(a.cleaned);
	assert_false(a.closed);
	exec_fiber_gen_free(g);
	/* An empty range never yields. */
	range_arg e = {5, 5, 0, 0};
	assert_int_equal(exec_fiber_gen_create(&g, range_gen, &e, NULL), 0);
	assert_int_equal(exec_fiber_gen_next(g, &v), 0);
	exec_fiber_gen_free(g);
	assert_int_equal(exec_fiber_gen_create(NULL, range_gen, &e, NULL), -EINVAL);
	assert_int_equal(exec_fiber_gen_create(&g, NULL, &e, NULL), -EINVAL);
	assert_int_equal(exec_fiber_gen_next(NULL, &v), -EINVAL);
	exec_fiber_gen_free(NULL);
}

/* Abandoned halfway: the generator sees EXEC_STOPPED once, cleans up, and
 * its (guarded) stack goes back - counted by the guarded-stack budget. */
static void generator_abandoned_frees_stack(void **state)
{
	exec_stack_cache_trim();
	size_t held = exec_stack_guarded_count();
	range_arg a = {0, 1000000, 0, 0};
	exec_fiber_gen *g;
	assert_int_equal(exec_fiber_gen_create(&g, range_gen, &a, NULL), 0);
	assert_int_equal(exec_stack_guarded_count(), held + 1);
	exec_value v;
	for (int i = 0; i < 10; i++)
		assert_int_equal(exec_fiber_gen_next(g, &v), 1);
	assert_int_equal(exec_value_as_i64(&v), 9);
	exec_fiber_gen_free(g);
	assert_true(a.closed);
	assert_true(a.cleaned);
	exec_stack_cache_trim();
	assert_int_equal(exec_stack_guarded_count(), held);
	/* Never started: freed without running. */
	range_arg b = {0, 10, 0, 0};
	assert_int_equal(exec_fiber_gen_create(&g, range_gen, &b, NULL), 0);
	exec_fiber_gen_free(g);
	assert_false(b.cleaned);
	exec_stack_cache_trim();
	assert_int_equal(exec_stack_guarded_count(), held);
}

/* One that ignores the close and yields again is discarded anyway. */
static void stubborn_gen(exec_fiber_gen *g, void *arg)
{
	int *yields = arg;
	for (;;) {
		exec_fiber_gen_yield(g, exec_value_i64(*yields));
		++*yields;
	}
}

/* Inside a generator: await is refused, next on itself is refused. */
static void checking_gen(exec_fiber_gen *g, void *arg)
{
	int *bad = arg;
	if (exec_await_take(exec_just_i64(1), NULL) != -EPERM)
		++*bad;
	if (!exec_in_fiber())
		++*bad;
	exec_value v;
	if (exec_fiber_gen_next(g, &v) != -EBUSY)
		++*bad;
	exec_fiber_gen_yield(g, exec_value_i64(1));
}

static void generator_edge_cases(void **state)
{
	exec_stack_cache_trim();
	size_t held = exec_stack_guarded_count();
	int yields = 0;
	exec_fiber_gen *g;
	assert_int_equal(exec_fiber_gen_create(&g, stubborn_gen, &yields, NULL), 0);
	exec_value v;
	assert_int_equal(exec_fiber_gen_next(g, &v), 1);
	exec_fiber_gen_free(g);
	assert_int_equal(yields, 1); /* resumed once, then dropped */
	int bad = 0;
	exec_fiber_options o = {EXEC_STACK_MIN_SIZE, EXEC_STACK_UNGUARDED};
	assert_int_equal(exec_fiber_gen_create(&g, checking_gen, &bad, &o), 0);
	assert_int_equal(exec_fiber_gen_next(g, &v), 1);
	assert_int_equal(bad, 0);
	assert_int_equal(exec_fiber_gen_next(g, &v), 0);
	exec_fiber_gen_free(g);
	exec_stack_cache_trim();
	assert_int_equal(exec_stack_guarded_count(), held);
}

/* A generator pulled from inside a fiber task, across an await. */
static int64_t sum_range_in_task(void *arg)
{
	exec_scheduler *loop = arg;
	range_arg a = {1, 101, 0, 0};
	exec_fiber_gen *g;
	if (exec_fiber_gen_create(&g, range_gen, &a, NULL) != 0)
		return exec_fiber_return_error(-ENOMEM);
	int64_t sum = 0;
	exec_value v;
	while (exec_fiber_gen_next(g, &v) == 1) {
		sum += exec_value_as_i64(&v);
		if (sum > 1000 && sum < 1100 &&
		    exec_await_take(exec_schedule(loop), NULL) != 0)
			return exec_fiber_return_error(-EIO);
	}
	exec_fiber_gen_free(g);
	return sum;
}

static void generator_inside_task(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_result r;
	assert_int_equal(run_fiber(sum_range_in_task, exec_run_loop_scheduler(&lt.loop), &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 5050);
	loop_thread_stop(&lt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_completion_kind),
		cmocka_unit_test(task_error_and_stopped),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(await_inside_start_is_refused),
		cmocka_unit_test(connect_without_start),
		cmocka_unit_test(resume_on_other_schedulers),
		cmocka_unit_test(structured_when_all),
		cmocka_unit_test(cancel_blocked_await),
		cmocka_unit_test(completion_races_switch_out),
		cmocka_unit_test(many_fibers_await_timers),
		cmocka_unit_test(generator_range),
		cmocka_unit_test(generator_abandoned_frees_stack),
		cmocka_unit_test(generator_edge_cases),
		cmocka_unit_test(generator_inside_task),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
