/* tests for algorithms/schedule_from.c: an alias of continues_on, whose own
 * test (continues_on_test.c) covers the machinery in depth. */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

#include "ctl_sender.h"
#include "stop_cases.h"

static void same_machinery_on_the_scheduler(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_sender *s = exec_schedule_from(exec_run_loop_scheduler(&lt.loop), ctl_error(-EPIPE));
	assert_string_equal(s->ops->name, "continues_on");
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_error(&t, -EPIPE);
	assert_true(pthread_equal(t.thread, lt.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	assert_int_equal(exec_sender_build_error(exec_schedule_from(NULL, exec_just_void())),
			 -EINVAL);
	loop_thread_stop(&lt);
}

static void value_and_stopped(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_sender *s = exec_schedule_from(exec_run_loop_scheduler(&lt.loop), exec_just_i64(4));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 4);
	assert_true(pthread_equal(t.thread, lt.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	s = exec_schedule_from(exec_run_loop_scheduler(&lt.loop), exec_just_i64(4));
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

/* Stop during the predecessor (a pending timer), and after completion. */
static void stop_during_and_after(void **state)
{
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_schedule_from(test_loop_sched(&tl), test_loop_wait(&tl));
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_schedule_from(test_loop_sched(&tl), exec_just_i64(9));
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	exec_test_assert_i64(&tl.t, 0, 9);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_machinery_on_the_scheduler),
		cmocka_unit_test(value_and_stopped),
		cmocka_unit_test(stop_during_and_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
