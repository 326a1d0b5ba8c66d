/* tests for algorithms/read_env.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

static void reads_token_and_scheduler(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	exec_test_run(exec_read_stop_token(), &tl.t);
	exec_test_assert_value(&tl.t);
	assert_int_equal(tl.t.count, 1);
	assert_ptr_equal(exec_value_as_ptr(&tl.t.values[0]), &tl.stop);
	test_loop_destroy(&tl);

	test_loop_init(&tl);
	exec_test_run(exec_read_scheduler(), &tl.t);
	exec_test_assert_value(&tl.t);
	assert_ptr_equal(exec_value_as_ptr(&tl.t.values[0]), test_loop_sched(&tl));
	test_loop_destroy(&tl);
}

static void empty_env_gives_null(void **state)
{
	(void)state;
	exec_sender *both[] = {exec_read_stop_token(), exec_read_scheduler()};
	for (int i = 0; i < 2; i++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(both[i], &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 1);
		assert_int_equal(t.values[0].type, EXEC_VALUE_PTR);
		assert_null(exec_value_as_ptr(&t.values[0]));
		exec_test_receiver_destroy(&t);
		exec_sender_free(both[i]); /* static: no-op */
	}
}

static void through_adaptors_and_sync_wait(void **state)
{
	(void)state;
	/* sync_wait names its run_loop's scheduler; stopped_as_error forwards
	 * the environment. */
	exec_sender *s = exec_stopped_as_error(exec_read_scheduler(), -EIO);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_non_null(exec_value_as_ptr(&r.values[0]));
	exec_sender_free(s);
	exec_stop_source src;
	exec_stop_source_init(&src);
	s = exec_stopped_as_error(exec_read_stop_token(), -EIO);
	assert_int_equal(exec_sync_wait_with_stop(s, exec_stop_source_token(&src), &r), 0);
	assert_ptr_equal(exec_value_as_ptr(&r.values[0]), &src);
	exec_sender_free(s);
}

static void stop_cases(void **state)
{
	(void)state;
	/* Reading does not watch the token: a stop before start still gives the
	 * value (the token itself), and nothing happens after completion. */
	test_loop tl;
	test_loop_init(&tl);
	test_stop_before(exec_read_stop_token(), &tl);
	exec_test_assert_value(&tl.t);
	assert_true(exec_stop_source_requested(exec_value_as_ptr(&tl.t.values[0])));
	test_loop_destroy(&tl);
	test_loop_init(&tl);
	test_stop_after(exec_read_scheduler(), &tl);
	exec_test_assert_value(&tl.t);
	test_loop_destroy(&tl);
	/* during: read after a timer, stopped while the timer waits */
	test_loop_init(&tl);
	exec_sender *s = exec_when_all((exec_sender *[]){test_loop_wait(&tl),
							  exec_read_stop_token()},
				       2);
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void may_be_freed_inside_completion(void **state)
{
	(void)state;
	freeing_receiver f;
	freeing_init(&f);
	f.env.scheduler = exec_inline_scheduler();
	freeing_run(exec_read_scheduler(), &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_int_equal(f.count, 1);
	freeing_destroy(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_token_and_scheduler),
		cmocka_unit_test(empty_env_gives_null),
		cmocka_unit_test(through_adaptors_and_sync_wait),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(may_be_freed_inside_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
