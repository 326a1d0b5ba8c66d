/* CEXEC_TEST_LABELS: tsan */
/* tests for algorithms/upon_stopped.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

static int to_seven(void *ctx, exec_value *out)
{
	(*(int *)ctx)++;
	out[0] = exec_value_i64(7);
	return 1;
}

static int to_etimedout(void *ctx, exec_value *out)
{
	(void)out;
	(*(int *)ctx)++;
	return -ETIMEDOUT;
}

static int to_nothing(void *ctx, exec_value *out)
{
	(void)out;
	(*(int *)ctx)++;
	return 0;
}

static int too_many(void *ctx, exec_value *out)
{
	(void)ctx;
	(void)out;
	return EXEC_THEN_MAX_VALUES + 1;
}

static void stopped_becomes_value(void **state)
{
	(void)state;
	int n = 0;
	exec_sender *s = exec_upon_stopped(exec_just_stopped(), to_seven, &n);
	for (int i = 1; i <= 2; i++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t);
		exec_test_assert_i64(&t, 0, 7);
		assert_int_equal(n, i);
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);
	s = exec_upon_stopped(exec_just_stopped(), to_nothing, &n);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(r.count, 0);
	exec_sender_free(s);
}

static void stopped_becomes_error(void **state)
{
	(void)state;
	int n = 0;
	exec_sender *s = exec_upon_stopped(exec_just_stopped(), to_etimedout, &n);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -ETIMEDOUT);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	s = exec_upon_stopped(exec_just_stopped(), too_many, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), -ERANGE);
	exec_sender_free(s);
	assert_int_equal(n, 1);
}

static void value_and_error_pass_through(void **state)
{
	(void)state;
	int n = 0;
	exec_sender *s = exec_upon_stopped(exec_just_i64(3), to_seven, &n);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 3);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	s = exec_upon_stopped(exec_just_error(-EBADF), to_seven, &n);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EBADF);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	assert_int_equal(n, 0);
}

static void stop_cases(void **state)
{
	(void)state;
	int n = 0;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_upon_stopped(test_loop_wait(&tl), to_seven, &n);
	test_stop_before(s, &tl);
	exec_test_assert_value(&tl.t);
	exec_test_assert_i64(&tl.t, 0, 7);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_upon_stopped(test_loop_wait(&tl), to_seven, &n);
	test_stop_during(s, &tl);
	exec_test_assert_value(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_upon_stopped(exec_schedule(test_loop_sched(&tl)), to_seven, &n);
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	assert_int_equal(tl.t.count, 0); /* the schedule's own value */
	test_loop_destroy(&tl);
	exec_sender_free(s);
	assert_int_equal(n, 2);
}

static void completes_on_child_thread_and_may_be_freed(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	int n = 0;
	exec_sender *s = exec_upon_stopped(exec_schedule(exec_run_loop_scheduler(&lt.loop)),
					   to_seven, &n);
	freeing_receiver f;
	freeing_init(&f);
	f.env.stop_token = exec_stop_source_token(&src);
	freeing_run(s, &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_int_equal(f.first, 7);
	freeing_destroy(&f);
	loop_thread_stop(&lt);
	exec_sender_free(s);
}

static void bad_input(void **state)
{
	(void)state;
	int n = 0;
	assert_int_equal(exec_sender_build_error(exec_upon_stopped(NULL, to_seven, &n)),
			 -EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_upon_stopped(exec_just_stopped(), NULL, NULL)),
		-EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_upon_stopped(exec_just_i64(1), NULL, NULL)),
		-EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stopped_becomes_value),
		cmocka_unit_test(stopped_becomes_error),
		cmocka_unit_test(value_and_error_pass_through),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(completes_on_child_thread_and_may_be_freed),
		cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
