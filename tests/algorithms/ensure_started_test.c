/* tests for algorithms/ensure_started.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

static int count_and_add(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	AO_fetch_and_add1((AO_t *)ctx);
	out[0] = exec_value_i64(n ? exec_value_as_i64(&in[0]) + 1 : 42);
	return 1;
}

static void starts_eagerly(void **state)
{
	AO_t runs = 0;
	exec_sender *s = exec_ensure_started(exec_then(exec_just_i64(1), count_and_add, &runs));
	/* Already ran, before anything connected. */
	assert_int_equal(runs, 1);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	/* Completes inside start: the result was there. */
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 2);
	exec_test_receiver_destroy(&t);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 2);
	assert_int_equal(runs, 1);
	exec_sender_free(s);
}

static void error_and_stopped(void **state)
{
	exec_sender *s = exec_ensure_started(exec_just_error(-ENOENT));
	assert_int_equal(exec_sync_wait(s, NULL), -ENOENT);
	exec_sender_free(s);
	s = exec_ensure_started(exec_just_stopped());
	assert_int_equal(exec_sync_wait(s, NULL), EXEC_STOPPED);
	exec_sender_free(s);
}

/* Started on the pool at build; consumers arrive before or after it ends. */
static void on_the_pool(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	for (int i = 0; i < 200; i++) {
		AO_t runs = 0;
		exec_sender *s = exec_ensure_started(exec_then(
			exec_schedule(exec_thread_pool_scheduler(pool)), count_and_add, &runs));
		exec_result r;
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(exec_value_as_i64(&r.values[0]), 42);
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(runs, 1);
		exec_sender_free(s);
	}
	exec_thread_pool_destroy(pool);
}

/* Dropped without a consumer: the work still runs, then frees itself. */
static void dropped_unconsumed(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	AO_t runs = 0;
	exec_sender *s = exec_ensure_started(
		exec_then(exec_schedule(exec_run_loop_scheduler(&loop)), count_and_add, &runs));
	assert_int_equal(runs, 0);
	exec_sender_free(s);
	exec_run_loop_run_until_empty(&loop);
	assert_int_equal(runs, 1);
	exec_run_loop_destroy(&loop);
}

/* A stopped consumer detaches, the work goes on for the next one. */
static void stopped_consumer(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	AO_t runs = 0;
	exec_sender *s = exec_ensure_started(
		exec_then(exec_schedule(exec_run_loop_scheduler(&loop)), count_and_add, &runs));
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	a.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &a);
	exec_test_run(s, &b);
	exec_stop_source_request(&src);
	exec_test_assert_stopped(&a);
	assert_int_equal(exec_test_completions(&b), 0);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_value(&b);
	exec_test_assert_i64(&b, 0, 42);
	assert_int_equal(runs, 1);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void bad_arguments(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_ensure_started(NULL)), -EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_ensure_started(exec_sender_invalid(-ENOMEM))),
		-ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starts_eagerly),
		cmocka_unit_test(error_and_stopped),
		cmocka_unit_test(on_the_pool),
		cmocka_unit_test(dropped_unconsumed),
		cmocka_unit_test(stopped_consumer),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
