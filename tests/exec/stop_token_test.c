/* tests for exec/stop_token.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <sched.h>

typedef struct counted_cb {
	exec_stop_callback cb;
	AO_t calls;
	pthread_t thread;
	int order;
	int *next_order;
} counted_cb;

static void count_fn(exec_stop_callback *cb)
{
	counted_cb *c = EXEC_CONTAINER_OF(cb, counted_cb, cb);
	c->thread = pthread_self();
	if (c->next_order)
		c->order = (*c->next_order)++;
	AO_fetch_and_add1_release(&c->calls);
}

static void never_token(void **state)
{
	exec_stop_token t = exec_stop_token_never();
	assert_false(exec_stop_token_possible(t));
	assert_false(exec_stop_token_requested(t));
	counted_cb c = {0};
	assert_false(exec_stop_callback_register(&c.cb, t, count_fn));
	exec_stop_callback_deregister(&c.cb);
	assert_int_equal(c.calls, 0);
}

static void request_once(void **state)
{
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	exec_stop_token t = exec_stop_source_token(&src);
	assert_true(exec_stop_token_possible(t));
	assert_false(exec_stop_token_requested(t));
	assert_true(exec_stop_source_request(&src));
	assert_true(exec_stop_token_requested(t));
	assert_true(exec_stop_source_requested(&src));
	assert_false(exec_stop_source_request(&src));
}

static void callbacks_run_once_each_in_order(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	int next = 0;
	counted_cb c[5];
	memset(c, 0, sizeof c);
	for (int i = 0; i < 5; i++) {
		c[i].next_order = &next;
		assert_true(exec_stop_callback_register(&c[i].cb, exec_stop_source_token(&src),
							count_fn));
	}
	assert_true(exec_stop_source_request(&src));
	assert_false(exec_stop_source_request(&src));
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c[i].calls, 1);
		assert_true(pthread_equal(c[i].thread, pthread_self()));
		/* The header promises registration order. */
		assert_int_equal(c[i].order, i);
		exec_stop_callback_deregister(&c[i].cb);
	}
	assert_int_equal(c[0].calls + c[4].calls, 2);
}

static void deregistered_callback_never_runs(void **state)
{
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	counted_cb a = {0}, b = {0}, c = {0};
	exec_stop_token t = exec_stop_source_token(&src);
	assert_true(exec_stop_callback_register(&a.cb, t, count_fn));
	assert_true(exec_stop_callback_register(&b.cb, t, count_fn));
	assert_true(exec_stop_callback_register(&c.cb, t, count_fn));
	/* Middle, last, then first again after re-registering. */
	exec_stop_callback_deregister(&b.cb);
	exec_stop_callback_deregister(&c.cb);
	exec_stop_callback_deregister(&a.cb);
	exec_stop_callback_deregister(&a.cb); /* twice is a no-op */
	assert_true(exec_stop_callback_register(&a.cb, t, count_fn));
	assert_true(exec_stop_callback_register(&c.cb, t, count_fn));
	exec_stop_callback_deregister(&c.cb);
	exec_stop_source_request(&src);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 0);
	exec_stop_callback_deregister(&a.cb);
}

static void register_after_request_runs_at_once(void **state)
{
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	exec_stop_source_request(&src);
	counted_cb c = {0};
	assert_false(exec_stop_callback_register(&c.cb, exec_stop_source_token(&src),
						 count_fn));
	assert_int_equal(c.calls, 1);
	assert_true(pthread_equal(c.thread, pthread_self()));
	exec_stop_callback_deregister(&c.cb);
	/* A later request does not run it again. */
	exec_stop_source_request(&src);
	assert_int_equal(c.calls, 1);
}



static void *request_thread(void *arg)
{
	exec_stop_source_request((exec_stop_source *)arg);
	return NULL;
}

static void callback_runs_on_requesting_thread(void **state)
{
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	counted_cb c = {0};
	assert_true(exec_stop_callback_register(&c.cb, exec_stop_source_token(&src),
						count_fn));
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, request_thread, &src), 0);
	pthread_join(th, NULL);
	assert_int_equal(c.calls, 1);
	assert_true(pthread_equal(c.thread, th));
	exec_stop_callback_deregister(&c.cb);
}

/* Deregister from inside the callback itself must not wait for itself. */
typedef struct self_dereg {
	exec_stop_callback cb;
	int calls;
	bool heap; /* the node frees itself after deregistering */
} self_dereg;

static void self_dereg_fn(exec_stop_callback *cb)
{
	self_dereg *d = EXEC_CONTAINER_OF(cb, self_dereg, cb);
	d->calls++;
	exec_stop_callback_deregister(cb);
	if (d->heap)
		free(d); /* the request must not touch the node afterwards */
}

static void deregister_inside_callback(void **state)
{
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	self_dereg d = {0};
	self_dereg *h = calloc(1, sizeof *h);
	assert_non_null(h);
	h->heap = true;
	exec_stop_token t = exec_stop_source_token(&src);
	assert_true(exec_stop_callback_register(&d.cb, t, self_dereg_fn));
	assert_true(exec_stop_callback_register(&h->cb, t, self_dereg_fn));
	exec_stop_source_request(&src);
	assert_int_equal(d.calls, 1);
	exec_stop_callback_deregister(&d.cb);

	/* Also when registering after the request (runs inline). */
	self_dereg e = {0};
	assert_false(exec_stop_callback_register(&e.cb, t, self_dereg_fn));
	assert_int_equal(e.calls, 1);
}

/* Deregister racing a request on another thread: the callback is running
 * there (it waits for our signal, then sleeps a little before finishing);
 * deregister must not return until it has finished. */
typedef struct slow_cb {
	exec_stop_callback cb;
	AO_t entered;
	AO_t finished;
} slow_cb;

static void slow_fn(exec_stop_callback *cb)
{
	slow_cb *s = EXEC_CONTAINER_OF(cb, slow_cb, cb);
	AO_store_release(&s->entered, 1);
	/* Give the deregistering thread every chance to return early. */
	for (int i = 0; i < 200; i++)
		sched_yield();
	struct timespec ts = {0, 2 * 1000 * 1000};
	nanosleep(&ts, NULL);
	AO_store_release(&s->finished, 1);
}

static void deregister_waits_for_running_callback(void **state)
{
	for (int round = 0; round < 20; round++) {
		exec_stop_source src = EXEC_STOP_SOURCE_INIT;
		slow_cb *s = calloc(1, sizeof *s);
		assert_non_null(s);
		assert_true(exec_stop_callback_register(&s->cb, exec_stop_source_token(&src),
							slow_fn));
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, request_thread, &src), 0);
		while (!AO_load_acquire(&s->entered))
			sched_yield();
		exec_stop_callback_deregister(&s->cb);
		assert_int_equal(AO_load_acquire(&s->finished), 1);
		free(s); /* ASan: the request thread must not touch it now */
		pthread_join(th, NULL);
	}
}

/* Many threads: each registers, maybe deregisters, while one requests.
 * Every callback runs at most once; a callback still registered at the
 * request runs exactly once; after deregister returns it has finished. */
enum { RACE_THREADS = 4, RACE_CBS = 200, RACE_ROUNDS = 50 };

typedef struct race_ctx {
	exec_stop_source src;
	AO_t go;
	AO_t request_returned;
	AO_t registered_total;
} race_ctx;

typedef struct race_cb {
	exec_stop_callback cb;
	AO_t calls;
	AO_t done;
} race_cb;

static void race_fn(exec_stop_callback *cb)
{
	race_cb *r = EXEC_CONTAINER_OF(cb, race_cb, cb);
	AO_fetch_and_add1(&r->calls);
	AO_store_release(&r->done, 1);
}

/* cmocka's asserts must stay on the main thread: workers count failures. */
static AO_t race_failures;
#define RACE_CHECK(c) ((c) ? (void)0 : (void)AO_fetch_and_add1(&race_failures))

static void *race_worker(void *arg)
{
	race_ctx *ctx = arg;
	race_cb *cbs = calloc(RACE_CBS, sizeof *cbs);
	if (!cbs) {
		AO_fetch_and_add1(&race_failures);
		return NULL;
	}
	while (!AO_load_acquire(&ctx->go))
		sched_yield();
	for (int i = 0; i < RACE_CBS; i++) {
		bool reg = exec_stop_callback_register(&cbs[i].cb,
						       exec_stop_source_token(&ctx->src), race_fn);
		if (!reg)
			RACE_CHECK(AO_load_acquire(&cbs[i].calls) == 1);
		if (i % 2 == 0) {
			exec_stop_callback_deregister(&cbs[i].cb);
			/* Ran entirely, or never runs. */
			AO_t calls = AO_load_acquire(&cbs[i].calls);
			RACE_CHECK(calls <= 1);
			if (calls)
				RACE_CHECK(AO_load_acquire(&cbs[i].done) == 1);
		}
	}
	/* Wait until the request has run every callback it found. */
	while (!AO_load_acquire(&ctx->request_returned))
		sched_yield();
	for (int i = 0; i < RACE_CBS; i++) {
		if (i % 2)
			exec_stop_callback_deregister(&cbs[i].cb);
		AO_t calls = AO_load_acquire(&cbs[i].calls);
		RACE_CHECK(calls <= 1);
		/* Odd ones stayed registered until after the request. */
		if (i % 2)
			RACE_CHECK(calls == 1);
	}
	free(cbs);
	return NULL;
}

static void many_threads_race(void **state)
{
	for (int round = 0; round < RACE_ROUNDS; round++) {
		race_ctx ctx;
		memset(&ctx, 0, sizeof ctx);
		exec_stop_source_init(&ctx.src);
		pthread_t th[RACE_THREADS];
		for (int i = 0; i < RACE_THREADS; i++)
			assert_int_equal(pthread_create(&th[i], NULL, race_worker, &ctx), 0);
		AO_store_release(&ctx.go, 1);
		for (int i = 0; i < round % 7; i++)
			sched_yield();
		exec_stop_source_request(&ctx.src);
		AO_store_release(&ctx.request_returned, 1);
		for (int i = 0; i < RACE_THREADS; i++)
			pthread_join(th[i], NULL);
	}
	assert_int_equal(AO_load(&race_failures), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(never_token),
		cmocka_unit_test(request_once),
		cmocka_unit_test(callbacks_run_once_each_in_order),
		cmocka_unit_test(deregistered_callback_never_runs),
		cmocka_unit_test(register_after_request_runs_at_once),
		cmocka_unit_test(callback_runs_on_requesting_thread),
		cmocka_unit_test(deregister_inside_callback),
		cmocka_unit_test(deregister_waits_for_running_callback),
		cmocka_unit_test(many_threads_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
