/* tests for algorithms/then.c */
#include "cexec_test.h"
#include "stop_cases.h"

#include <errno.h>

static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx;
	if (n != 1)
		return -EINVAL;
	int64_t v;
	int rc = exec_value_get_i64(&in[0], &v);
	if (rc < 0)
		return rc;
	out[0] = exec_value_i64(v + 1);
	return 1;
}

static int fail_with_eio(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(*(int *)ctx)++;
	return -EIO;
}

static int count_calls(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(*(int *)ctx)++;
	return 0;
}

static int too_many(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	return EXEC_THEN_MAX_VALUES + 1;
}

static void value_path(void **state)
{
	exec_sender *s = exec_then(exec_just_i64(41), add_one, NULL);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 1);
	exec_test_assert_i64(&t, 0, 42);
	exec_test_receiver_destroy(&t);

	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(r.kind, EXEC_RESULT_VALUE);
	assert_int_equal(r.count, 1);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 42);
	exec_sender_free(s);
}

static void chain_of_ten(void **state)
{
	exec_sender *s = exec_just_i64(0);
	for (int i = 0; i < 10; i++)
		s = exec_then(s, add_one, NULL);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 10);
	/* Reusable: a second run gives the same answer. */
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 10);
	exec_sender_free(s);
}

static void function_error_reaches_error_channel(void **state)
{
	int calls = 0;
	exec_sender *s = exec_then(exec_just_i64(1), fail_with_eio, &calls);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EIO);
	assert_int_equal(calls, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void wrong_type_is_einval(void **state)
{
	exec_sender *s = exec_then(exec_just_f64(1.5), add_one, NULL);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), -EINVAL);
	assert_int_equal(r.kind, EXEC_RESULT_ERROR);
	exec_sender_free(s);
}

static void too_many_values_is_erange(void **state)
{
	exec_sender *s = exec_then(exec_just_void(), too_many, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), -ERANGE);
	exec_sender_free(s);
}

static void error_and_stopped_pass_through(void **state)
{
	/* Hand-built predecessors via the static invalid sender (error) keep
	 * this test independent of just_error; just_error has its own test. */
	int calls = 0;
	exec_sender *s = exec_then(exec_sender_invalid(-ENOMEM), count_calls, &calls);
	assert_int_equal(exec_sender_build_error(s), -ENOMEM);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -ENOMEM);
	assert_int_equal(calls, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stopped_passes_through(void **state)
{
	int calls = 0;
	exec_sender *s = exec_then(exec_just_stopped(), count_calls, &calls);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(calls, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

/* then watches no stop token itself: the predecessor decides. */
static void stop_cases(void **state)
{
	int calls = 0;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_then(test_loop_wait(&tl), count_calls, &calls);
	test_stop_before(s, &tl);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(calls, 0);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_then(test_loop_wait(&tl), count_calls, &calls);
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(calls, 0);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	/* A stop request to a predecessor that ignores stop (just) still
	 * gives the value: a stop request is a request. */
	test_loop_init(&tl);
	s = exec_then(exec_just_i64(1), add_one, NULL);
	test_stop_before(s, &tl);
	exec_test_assert_value(&tl.t);
	exec_test_assert_i64(&tl.t, 0, 2);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_then(exec_schedule(test_loop_sched(&tl)), count_calls, &calls);
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	assert_int_equal(calls, 1);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void bad_arguments(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_then(NULL, add_one, NULL)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_then(exec_just_void(), NULL, NULL)),
			 -EINVAL);
	assert_int_equal(exec_sync_wait(NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(value_path),
		cmocka_unit_test(chain_of_ten),
		cmocka_unit_test(function_error_reaches_error_channel),
		cmocka_unit_test(wrong_type_is_einval),
		cmocka_unit_test(too_many_values_is_erange),
		cmocka_unit_test(error_and_stopped_pass_through),
		cmocka_unit_test(stopped_passes_through),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
