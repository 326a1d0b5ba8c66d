/* tests for algorithms/just.c */
#include "cexec_test.h"

#include <errno.h>

static void each_type(void **state)
{
	(void)state;
	static char bytes[] = "hello";
	int x = 0;
	exec_sender *s[] = {exec_just_i64(-7), exec_just_u64(UINT64_MAX), exec_just_f64(2.5),
			    exec_just_ptr(&x), exec_just_span(bytes, 5)};
	for (int i = 0; i < 5; i++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s[i], &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 1);
		assert_true(pthread_equal(t.thread, pthread_self()));
		switch (i) {
		case 0:
			exec_test_assert_i64(&t, 0, -7);
			break;
		case 1:
			assert_true(exec_value_as_u64(&t.values[0]) == UINT64_MAX);
			break;
		case 2:
			assert_true(exec_value_as_f64(&t.values[0]) == 2.5);
			break;
		case 3:
			assert_ptr_equal(exec_value_as_ptr(&t.values[0]), &x);
			break;
		case 4: {
			exec_span sp = exec_value_as_span(&t.values[0]);
			assert_ptr_equal(sp.ptr, bytes);
			assert_int_equal(sp.len, 5);
			break;
		}
		}
		exec_test_receiver_destroy(&t);
		exec_sender_free(s[i]);
	}
}

static void zero_values(void **state)
{
	(void)state;
	exec_sender *a = exec_just_void();
	exec_sender *b = exec_just(NULL, 0);
	exec_sender *both[] = {a, b};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(exec_sender_build_error(both[i]), 0);
		assert_int_equal(both[i]->max_values, 0);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(both[i], &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 0);
		exec_test_receiver_destroy(&t);
		exec_sender_free(both[i]);
	}
}

static void sixty_four_values(void **state)
{
	(void)state;
	exec_value v[EXEC_JUST_MAX_VALUES + 1];
	for (int i = 0; i <= EXEC_JUST_MAX_VALUES; i++)
		v[i] = exec_value_i64(i * 3);
	exec_sender *s = exec_just(v, EXEC_JUST_MAX_VALUES);
	assert_int_equal(exec_sender_build_error(s), 0);
	assert_int_equal(s->max_values, EXEC_JUST_MAX_VALUES);
	/* The values were copied at build time. */
	for (int i = 0; i <= EXEC_JUST_MAX_VALUES; i++)
		v[i] = exec_value_i64(-1);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, EXEC_JUST_MAX_VALUES);
	for (int i = 0; i < EXEC_JUST_MAX_VALUES; i++)
		exec_test_assert_i64(&t, i, i * 3);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	exec_sender *big = exec_just(v, EXEC_JUST_MAX_VALUES + 1);
	assert_int_equal(exec_sender_build_error(big), -EINVAL);
	assert_int_equal(exec_sync_wait(big, NULL), -EINVAL);
	exec_sender_free(big);
	assert_int_equal(exec_sender_build_error(exec_just(NULL, 1)), -EINVAL);
}

static void reuse(void **state)
{
	(void)state;
	exec_sender *s = exec_just_i64(5);
	for (int i = 0; i < 3; i++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t);
		exec_test_assert_i64(&t, 0, 5);
		exec_test_receiver_destroy(&t);
	}
	/* Two operations connected at once from the same sender. */
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	assert_int_equal(exec_test_connect(s, &a), 0);
	assert_int_equal(exec_test_connect(s, &b), 0);
	exec_test_start(&b);
	exec_test_start(&a);
	exec_test_assert_value(&a);
	exec_test_assert_value(&b);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	/* A connected, never-started operation may be dropped. */
	exec_test_receiver c;
	exec_test_receiver_init(&c);
	assert_int_equal(exec_test_connect(s, &c), 0);
	assert_int_equal(exec_test_completions(&c), 0);
	exec_test_receiver_destroy(&c);
	exec_sender_free(s);
}

static void stop_is_ignored(void **state)
{
	(void)state;
	/* just has nothing to cancel: a stop requested before start still
	 * yields the value (a stop request is a request). */
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	exec_sender *s = exec_just_i64(1);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_type),
		cmocka_unit_test(zero_values),
		cmocka_unit_test(sixty_four_values),
		cmocka_unit_test(reuse),
		cmocka_unit_test(stop_is_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
