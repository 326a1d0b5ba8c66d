/* tests for schedulers/inline.c */
#include "cexec_test.h"

#include <errno.h>

typedef struct probe_task {
	exec_task task;
	int runs, status;
	pthread_t thread;
} probe_task;

static void probe_fn(exec_task *t, int status)
{
	probe_task *p = EXEC_CONTAINER_OF(t, probe_task, task);
	p->runs++;
	p->status = status;
	p->thread = pthread_self();
}

static void submit_runs_inside_the_call(void **state)
{
	exec_scheduler *s = exec_inline_scheduler();
	assert_ptr_equal(s, exec_inline_scheduler()); /* a singleton */
	assert_string_equal(exec_scheduler_name(s), "inline");
	assert_int_equal(exec_scheduler_concurrency(s), 1);
	probe_task p = {.task.fn = probe_fn, .status = -1};
	assert_int_equal(exec_scheduler_submit(s, &p.task), 0);
	assert_int_equal(p.runs, 1);
	assert_int_equal(p.status, 0);
	assert_true(pthread_equal(p.thread, pthread_self()));
}

static void no_timers_no_cancel(void **state)
{
	exec_scheduler *s = exec_inline_scheduler();
	probe_task p = {.task.fn = probe_fn};
	assert_int_equal(exec_scheduler_submit_at(s, &p.task, 0), -ENOTSUP);
	assert_int_equal(p.runs, 0);
	exec_scheduler_cancel(s, &p.task); /* a no-op, not a crash */
	assert_int_equal(p.runs, 0);
	/* now() falls back to CLOCK_MONOTONIC and never goes backwards. */
	exec_time a = exec_scheduler_now(s), b = exec_scheduler_now(s);
	assert_true(a > 0 && b >= a);
}

static void schedule_sender_completes_inline(void **state)
{
	exec_sender *s = exec_schedule(exec_inline_scheduler());
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 0);
	assert_true(pthread_equal(t.thread, pthread_self()));
	exec_test_receiver_destroy(&t);

	/* Stop requested before start: stopped, inline. */
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	exec_stop_source_request(&src);
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);

	/* A timed schedule on the inline scheduler: -ENOTSUP, not a crash. */
	exec_sender *at = exec_schedule_after(exec_inline_scheduler(), 1000);
	exec_test_receiver_init(&t);
	exec_test_run(at, &t);
	exec_test_assert_error(&t, -ENOTSUP);
	exec_test_receiver_destroy(&t);
	exec_sender_free(at);
	exec_sender_free(s);
}

static void depth_returns_to_zero(void **state)
{
	/* The trampoline depth is back to 0 after an inline submit. */
	assert_int_equal(exec_trampoline_depth(), 0);
	probe_task p = {.task.fn = probe_fn};
	exec_scheduler_submit(exec_inline_scheduler(), &p.task);
	assert_int_equal(exec_trampoline_depth(), 0);
	assert_int_equal(p.runs, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(submit_runs_inside_the_call),
		cmocka_unit_test(no_timers_no_cancel),
		cmocka_unit_test(schedule_sender_completes_inline),
		cmocka_unit_test(depth_returns_to_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
