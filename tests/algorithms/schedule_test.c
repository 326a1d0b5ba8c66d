/* CEXEC_TEST_LABELS: tsan */
/* tests for algorithms/schedule.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

static void on_inline(void **state)
{
	(void)state;
	exec_sender *s = exec_schedule(exec_inline_scheduler());
	assert_int_equal(s->max_values, 0);
	for (int i = 0; i < 2; i++) { /* reuse */
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		/* Inline: completed inside start, on this thread. */
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 0);
		assert_true(pthread_equal(t.thread, pthread_self()));
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);
}

static void on_run_loop(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_schedule(test_loop_sched(&tl));
	exec_test_run(s, &tl.t);
	/* Nothing happens until the loop runs. */
	assert_int_equal(exec_test_completions(&tl.t), 0);
	assert_int_equal(test_loop_drive(&tl), 1);
	exec_test_assert_value(&tl.t);
	assert_int_equal(test_loop_drive(&tl), 0);
	exec_test_assert_value(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void on_loop_thread(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	exec_sender *s = exec_schedule(exec_run_loop_scheduler(&lt.loop));
	freeing_receiver f;
	freeing_init(&f);
	freeing_run(s, &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_true(pthread_equal(f.thread, lt.thread));
	freeing_destroy(&f);
	loop_thread_stop(&lt);
	exec_sender_free(s);
}

/* Runs s on a fresh loop until it completes: finish() makes run return once
 * no task (ready or timed) is left, so this blocks until the timer fired. */
static exec_time run_timed(exec_sender *(*make)(exec_scheduler *, int64_t), int64_t arg,
			   bool absolute, exec_time *deadline_out)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_scheduler *sched = exec_run_loop_scheduler(&loop);
	exec_time deadline = absolute ? exec_scheduler_now(sched) + arg
				      : exec_scheduler_now(sched) + arg;
	exec_sender *s = make(sched, absolute ? deadline : arg);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_run_loop_finish(&loop);
	exec_run_loop_run(&loop);
	exec_time done = exec_scheduler_now(sched);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_run_loop_destroy(&loop);
	exec_sender_free(s);
	*deadline_out = deadline;
	return done;
}

static exec_sender *make_after(exec_scheduler *s, int64_t d)
{
	return exec_schedule_after(s, d);
}

static exec_sender *make_at(exec_scheduler *s, int64_t d)
{
	return exec_schedule_at(s, d);
}

static void timers_fire_not_before_deadline(void **state)
{
	(void)state;
	int64_t delays[] = {0, 1 * EXEC_NS_PER_MS, 5 * EXEC_NS_PER_MS};
	for (int i = 0; i < 3; i++) {
		exec_time deadline;
		/* schedule_after reads the clock at start, after our reading:
		 * its deadline is >= ours. */
		exec_time done = run_timed(make_after, delays[i], false, &deadline);
		assert_true(done >= deadline);
		done = run_timed(make_at, delays[i], true, &deadline);
		assert_true(done >= deadline);
	}
}

static void deadline_in_the_past(void **state)
{
	(void)state;
	exec_time deadline;
	exec_time done = run_timed(make_at, -EXEC_NS_PER_S, true, &deadline);
	assert_true(done >= deadline);
	/* Negative delays count as 0. */
	done = run_timed(make_after, -EXEC_NS_PER_S, false, &deadline);
	assert_true(done >= deadline);
}

static void stop_before_start(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_schedule(test_loop_sched(&tl));
	test_stop_before(s, &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_schedule(exec_inline_scheduler());
	test_stop_before(s, &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void stop_while_timer_pending(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = test_loop_wait(&tl); /* an hour */
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	/* The same with an absolute deadline, and the loop blocking in run:
	 * run returns only because the cancel removed the timer. */
	test_loop_init(&tl);
	s = exec_schedule_at(test_loop_sched(&tl), exec_clock_now() + TEST_LONG_DELAY);
	exec_test_run(s, &tl.t);
	test_loop_drive(&tl);
	assert_int_equal(exec_test_completions(&tl.t), 0);
	exec_stop_source_request(&tl.stop);
	exec_run_loop_finish(&tl.loop);
	exec_run_loop_run(&tl.loop);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void stop_after_completion(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_schedule(test_loop_sched(&tl));
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void timers_on_inline_are_enotsup(void **state)
{
	(void)state;
	exec_sender *at = exec_schedule_at(exec_inline_scheduler(), 0);
	exec_sender *after = exec_schedule_after(exec_inline_scheduler(), 1000);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(at, &t);
	exec_test_assert_error(&t, -ENOTSUP);
	exec_test_receiver_destroy(&t);
	exec_test_receiver_init(&t);
	exec_test_run(after, &t);
	exec_test_assert_error(&t, -ENOTSUP);
	exec_test_receiver_destroy(&t);
	exec_sender_free(at);
	exec_sender_free(after);
}

static void refused_submit_is_error(void **state)
{
	(void)state;
	exec_sender *s = exec_schedule(&refusing_scheduler);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EAGAIN);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void bad_input(void **state)
{
	(void)state;
	assert_int_equal(exec_sender_build_error(exec_schedule(NULL)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_schedule_at(NULL, 0)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_schedule_after(NULL, 0)), -EINVAL);
	exec_scheduler no_ops = {NULL};
	assert_int_equal(exec_sender_build_error(exec_schedule(&no_ops)), -EINVAL);
}

static void freed_inside_completion(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_schedule_after(test_loop_sched(&tl), 0);
	freeing_receiver f;
	freeing_init(&f);
	freeing_run(s, &f);
	while (AO_load_acquire(&f.calls) == 0)
		test_loop_drive(&tl);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	freeing_destroy(&f);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(on_inline),
		cmocka_unit_test(on_run_loop),
		cmocka_unit_test(on_loop_thread),
		cmocka_unit_test(timers_fire_not_before_deadline),
		cmocka_unit_test(deadline_in_the_past),
		cmocka_unit_test(stop_before_start),
		cmocka_unit_test(stop_while_timer_pending),
		cmocka_unit_test(stop_after_completion),
		cmocka_unit_test(timers_on_inline_are_enotsup),
		cmocka_unit_test(refused_submit_is_error),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(freed_inside_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
