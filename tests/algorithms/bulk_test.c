/* tests for algorithms/bulk.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <time.h>

#ifdef CEXEC_SANITIZE_BUILD
#define BIG 20000u
#else
#define BIG 200000u
#endif

typedef struct hits {
	size_t n;
	AO_t *count;       /* per index */
	AO_t calls;
	AO_t off_pool;     /* calls not on the expected pool */
	exec_thread_pool *pool;
	size_t fail_at;    /* index that fails (n: none) */
	int fail_err;
	size_t fail_at2;   /* a second failing index */
	int64_t expect_value;
} hits;

static void hits_init(hits *h, size_t n, exec_thread_pool *pool)
{
	memset(h, 0, sizeof *h);
	h->n = n;
	h->count = calloc(n ? n : 1, sizeof *h->count);
	assert_non_null(h->count);
	h->pool = pool;
	h->fail_at = h->fail_at2 = (size_t)-1;
	h->expect_value = 7;
}

static void hits_check_all_once(hits *h)
{
	for (size_t i = 0; i < h->n; i++)
		if (AO_load(&h->count[i]) != 1)
			fail_msg("index %zu ran %lu times", i, (unsigned long)h->count[i]);
	assert_int_equal(AO_load(&h->calls), h->n);
}

static int body(void *ctx, size_t i, const exec_value *v, size_t count)
{
	hits *h = ctx;
	assert_true(i < h->n);
	assert_int_equal(count, 1);
	assert_int_equal(exec_value_as_i64(&v[0]), h->expect_value);
	AO_fetch_and_add1(&h->count[i]);
	AO_fetch_and_add1(&h->calls);
	if (h->pool && exec_thread_pool_current() != h->pool)
		AO_fetch_and_add1(&h->off_pool);
	if (i == h->fail_at)
		return h->fail_err;
	if (i == h->fail_at2)
		return -EPIPE;
	return 0;
}

static int make_seven(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(7);
	return 1;
}

static void sequential_without_a_pool(void **state)
{
	hits h;
	hits_init(&h, 1000, NULL);
	exec_sender *s = exec_bulk(exec_just_i64(7), 1000, body, &h);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	/* No pool: everything ran inside start. */
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 7);
	hits_check_all_once(&h);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	free(h.count);
}

static void parallel_on_the_pool(void **state)
{
	for (unsigned workers = 1; workers <= 4; workers *= 2) {
		exec_thread_pool *pool;
		assert_int_equal(exec_thread_pool_create(&pool, workers), 0);
		hits h;
		hits_init(&h, BIG, pool);
		exec_sender *s = exec_bulk(
			exec_then(exec_schedule(exec_thread_pool_scheduler(pool)), make_seven, NULL),
			BIG, body, &h);
		for (int round = 0; round < 3; round++) {
			memset(h.count, 0, BIG * sizeof *h.count);
			h.calls = 0;
			exec_result r;
			assert_int_equal(exec_sync_wait(s, &r), 0);
			assert_int_equal(r.count, 1);
			assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
			hits_check_all_once(&h);
			assert_int_equal(h.off_pool, 0);
		}
		exec_sender_free(s);
		free(h.count);
		exec_thread_pool_destroy(pool);
	}
}

static void bulk_on_names_the_scheduler(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 3), 0);
	hits h;
	hits_init(&h, 5000, pool);
	exec_sender *s = exec_bulk_on(exec_just_i64(7), exec_thread_pool_scheduler(pool),
				      5000, body, &h);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 7);
	hits_check_all_once(&h);
	assert_int_equal(h.off_pool, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	/* On the inline scheduler: sequential, inside start. */
	memset(h.count, 0, 5000 * sizeof *h.count);
	h.calls = 0;
	h.pool = NULL;
	s = exec_bulk_on(exec_just_i64(7), exec_inline_scheduler(), 5000, body, &h);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	hits_check_all_once(&h);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	free(h.count);
	exec_thread_pool_destroy(pool);
}

static void first_error_wins_and_skips_the_rest(void **state)
{
	/* Sequential: deterministic. */
	hits h;
	hits_init(&h, 1000, NULL);
	h.fail_at = 10;
	h.fail_err = -EIO;
	h.fail_at2 = 20;
	exec_sender *s = exec_bulk(exec_just_i64(7), 1000, body, &h);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EIO);
	assert_int_equal(h.calls, 11);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	free(h.count);

	/* On the pool: one error completion; indices are skipped. */
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	hits_init(&h, BIG, pool);
	h.fail_at = 0;
	h.fail_err = -ENOSPC;
	s = exec_bulk(exec_then(exec_schedule(exec_thread_pool_scheduler(pool)), make_seven,
				NULL),
		      BIG, body, &h);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_error(&t, -ENOSPC);
	assert_true(h.calls < BIG);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	free(h.count);
	exec_thread_pool_destroy(pool);
}

static void errors_and_stopped_pass_through(void **state)
{
	hits h;
	hits_init(&h, 10, NULL);
	exec_sender *s = exec_bulk(exec_just_error(-EBADF), 10, body, &h);
	assert_int_equal(exec_sync_wait(s, NULL), -EBADF);
	exec_sender_free(s);
	s = exec_bulk(exec_just_stopped(), 10, body, &h);
	assert_int_equal(exec_sync_wait(s, NULL), EXEC_STOPPED);
	exec_sender_free(s);
	assert_int_equal(h.calls, 0);
	free(h.count);
}

static void stop_before_start_skips_everything(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	hits h;
	hits_init(&h, 100, NULL);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	exec_sender *s = exec_bulk(exec_just_i64(7), 100, body, &h);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(h.calls, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	free(h.count);
	exec_thread_pool_destroy(pool);
}

/* Stop requested from a body call, on the pool: later grains are skipped. */
typedef struct stop_ctx {
	exec_stop_source src;
	AO_t calls;
} stop_ctx;

static int stop_at_100(void *ctx, size_t i, const exec_value *v, size_t count)
{
	stop_ctx *c = ctx;
	if (AO_fetch_and_add1(&c->calls) == 100)
		exec_stop_source_request(&c->src);
	return 0;
}

static void stop_during(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	stop_ctx c;
	exec_stop_source_init(&c.src);
	c.calls = 0;
	exec_sender *s = exec_bulk(exec_schedule(exec_thread_pool_scheduler(pool)),
				   BIG, stop_at_100, &c);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&c.src);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_stopped(&t);
	assert_true(c.calls < BIG);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_thread_pool_destroy(pool);
}

static void zero_items(void **state)
{
	hits h;
	hits_init(&h, 0, NULL);
	exec_sender *s = exec_bulk(exec_just_i64(7), 0, body, &h);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
	assert_int_equal(h.calls, 0);
	exec_sender_free(s);
	free(h.count);
}

/* Nested: each outer index starts an inner bulk on the pool (connect +
 * start from inside the body, no blocking), and a bulk follows a bulk. */
enum { OUTER = 16, INNER = 2000 };

typedef struct nested {
	exec_sender *inner[OUTER];
	exec_test_receiver rx[OUTER];
	hits inner_hits[OUTER];
	AO_t outer_calls;
} nested;

static int inner_body(void *ctx, size_t i, const exec_value *v, size_t count)
{
	hits *h = ctx;
	AO_fetch_and_add1(&h->count[i]);
	AO_fetch_and_add1(&h->calls);
	return 0;
}

static int outer_body(void *ctx, size_t i, const exec_value *v, size_t count)
{
	nested *nst = ctx;
	AO_fetch_and_add1(&nst->outer_calls);
	exec_sender *s = exec_bulk(exec_just_i64((int64_t)i), INNER, inner_body,
				   &nst->inner_hits[i]);
	/* The sender must outlive the run: freed by the test afterwards. */
	nst->inner[i] = s;
	int rc = exec_test_connect(s, &nst->rx[i]);
	if (rc == 0)
		exec_test_start(&nst->rx[i]);
	return rc;
}

static void nested_bulk(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 3), 0);
	nested *nst = calloc(1, sizeof *nst);
	assert_non_null(nst);
	for (int i = 0; i < OUTER; i++) {
		exec_test_receiver_init(&nst->rx[i]);
		hits_init(&nst->inner_hits[i], INNER, NULL);
	}
	hits h2;
	hits_init(&h2, 300, pool);
	/* bulk | bulk on the pool. */
	exec_sender *s = exec_bulk(
		exec_bulk(exec_then(exec_schedule(exec_thread_pool_scheduler(pool)), make_seven,
				    NULL),
			  OUTER, outer_body, nst),
		300, body, &h2);
	/* outer_body does not look at the values; body does (7). */
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
	assert_int_equal(nst->outer_calls, OUTER);
	hits_check_all_once(&h2);
	for (int i = 0; i < OUTER; i++) {
		exec_test_receiver_wait(&nst->rx[i]);
		exec_test_assert_value(&nst->rx[i]);
		exec_test_assert_i64(&nst->rx[i], 0, i);
		hits_check_all_once(&nst->inner_hits[i]);
		exec_sender_free(nst->inner[i]);
		exec_test_receiver_destroy(&nst->rx[i]);
		free(nst->inner_hits[i].count);
	}
	exec_sender_free(s);
	free(h2.count);
	free(nst);
	exec_thread_pool_destroy(pool);
}

static void bad_arguments(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_bulk(NULL, 1, body, NULL)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_bulk(exec_just_void(), 1, NULL, NULL)),
			 -EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_bulk_on(exec_just_void(), NULL, 1, body, NULL)),
		-EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_bulk(exec_sender_invalid(-ENOMEM), 1, body, NULL)),
		-ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sequential_without_a_pool),
		cmocka_unit_test(parallel_on_the_pool),
		cmocka_unit_test(bulk_on_names_the_scheduler),
		cmocka_unit_test(first_error_wins_and_skips_the_rest),
		cmocka_unit_test(errors_and_stopped_pass_through),
		cmocka_unit_test(stop_before_start_skips_everything),
		cmocka_unit_test(stop_during),
		cmocka_unit_test(zero_items),
		cmocka_unit_test(nested_bulk),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
