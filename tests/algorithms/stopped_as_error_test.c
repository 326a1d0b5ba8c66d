/* tests for algorithms/stopped_as_error.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

static void stopped_becomes_error(void **state)
{
	(void)state;
	exec_sender *s = exec_stopped_as_error(exec_just_stopped(), -ETIMEDOUT);
	for (int i = 0; i < 2; i++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_error(&t, -ETIMEDOUT);
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);
}

static void value_and_error_pass_through(void **state)
{
	(void)state;
	exec_sender *s = exec_stopped_as_error(exec_just_i64(9), -ETIMEDOUT);
	assert_int_equal(s->max_values, 1);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 9);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	s = exec_stopped_as_error(exec_just_error(-EBADF), -ETIMEDOUT);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EBADF);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_cases(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_stopped_as_error(test_loop_wait(&tl), -ETIMEDOUT);
	test_stop_before(s, &tl);
	exec_test_assert_error(&tl.t, -ETIMEDOUT);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_stopped_as_error(test_loop_wait(&tl), -ETIMEDOUT);
	test_stop_during(s, &tl);
	exec_test_assert_error(&tl.t, -ETIMEDOUT);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_stopped_as_error(exec_schedule(test_loop_sched(&tl)), -ETIMEDOUT);
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void may_be_freed_inside_completion(void **state)
{
	(void)state;
	ctl_probe p;
	memset(&p, 0, sizeof p);
	exec_sender *s = exec_stopped_as_error(ctl_sender(CTL_MANUAL, 0, 0, &p), -EIO);
	freeing_receiver f;
	freeing_init(&f);
	freeing_run(s, &f);
	assert_int_equal(AO_load_acquire(&f.calls), 0);
	ctl_complete_stopped(p.last);
	freeing_wait(&f);
	assert_int_equal(f.channel, 2);
	assert_int_equal(f.error, -EIO);
	freeing_destroy(&f);
	exec_sender_free(s);
}

static void bad_input(void **state)
{
	(void)state;
	assert_int_equal(exec_sender_build_error(exec_stopped_as_error(NULL, -EIO)), -EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_stopped_as_error(exec_just_i64(1), 0)), -EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_stopped_as_error(exec_just_i64(1), EIO)), -EINVAL);
	exec_sender *s = exec_stopped_as_error(exec_sender_invalid(-ENOMEM), -EIO);
	assert_int_equal(exec_sync_wait(s, NULL), -ENOMEM);
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stopped_becomes_error),
		cmocka_unit_test(value_and_error_pass_through),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(may_be_freed_inside_completion),
		cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
