/* tests for algorithms/starts_on.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

#include "ctl_sender.h"

static void child_runs_on_the_scheduler(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_scheduler *sched = exec_run_loop_scheduler(&lt.loop);
	pthread_t ran = pthread_self();
	exec_sender *s = exec_starts_on(sched, exec_then(exec_just_i64(7), record_thread, &ran));
	for (int round = 0; round < 2; round++) { /* reuse */
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_receiver_wait(&t);
		exec_test_assert_value(&t);
		exec_test_assert_i64(&t, 0, 7);
		assert_true(pthread_equal(ran, lt.thread));
		assert_true(pthread_equal(t.thread, lt.thread));
		exec_test_receiver_destroy(&t);
	}
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

static void child_environment_names_the_scheduler(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_scheduler *sched = exec_run_loop_scheduler(&lt.loop);
	static const exec_allocator alloc = {NULL, NULL, (void *)&alloc};
	exec_stop_source src;
	exec_stop_source_init(&src);
	ctl_probe p = {0};
	exec_sender *s = exec_starts_on(sched, ctl_sender(CTL_VALUE, 1, 0, &p));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.scheduler = exec_inline_scheduler();
	t.env.allocator = &alloc;
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	assert_ptr_equal(p.env.scheduler, sched);
	assert_ptr_equal(p.env.allocator, &alloc);
	assert_ptr_equal(p.env.stop_token.source, &src);
	assert_true(pthread_equal(p.start_thread, lt.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

static void error_and_stopped_pass_through(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_scheduler *sched = exec_run_loop_scheduler(&lt.loop);
	exec_sender *e = exec_starts_on(sched, ctl_error(-EIO));
	exec_sender *st = exec_starts_on(sched, ctl_stopped());
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(e, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_error(&t, -EIO);
	assert_true(pthread_equal(t.thread, lt.thread));
	exec_test_receiver_destroy(&t);
	exec_test_receiver_init(&t);
	exec_test_run(st, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_stopped(&t);
	assert_true(pthread_equal(t.thread, lt.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(e);
	exec_sender_free(st);
	loop_thread_stop(&lt);
}

static void refused_schedule_never_starts_the_child(void **state)
{
	ctl_probe p = {0};
	exec_sender *s = exec_starts_on(&refusing_scheduler, ctl_sender(CTL_VALUE, 1, 0, &p));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EAGAIN);
	assert_int_equal(p.starts, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_before_start_and_while_queued(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_scheduler *sched = exec_run_loop_scheduler(&loop);
	ctl_probe p = {0};
	exec_sender *s = exec_starts_on(sched, ctl_sender(CTL_VALUE, 1, 0, &p));

	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 0);
	exec_test_receiver_destroy(&t);

	exec_stop_source_init(&src);
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_stop_source_request(&src);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 1);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.starts, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void stop_during_and_after(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_scheduler *sched = exec_run_loop_scheduler(&loop);
	ctl_probe p = {0};
	exec_sender *s = exec_starts_on(sched, ctl_sender(CTL_WAIT_STOP, 0, 0, &p));
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 1);
	assert_int_equal(p.starts, 1);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.stop_seen, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	/* After completion a request changes nothing. */
	exec_stop_source_init(&src);
	s = exec_starts_on(sched, exec_just_i64(2));
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_value(&t);
	assert_null(src.head);
	exec_stop_source_request(&src);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void bad_input(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_starts_on(NULL, exec_just_void())),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_starts_on(exec_inline_scheduler(), NULL)),
			 -EINVAL);
	exec_scheduler no_ops = {NULL};
	assert_int_equal(exec_sender_build_error(exec_starts_on(&no_ops, exec_just_void())),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_starts_on(exec_inline_scheduler(),
								exec_sender_invalid(-ENOMEM))),
			 -ENOMEM);
	exec_sender *s = exec_starts_on(exec_inline_scheduler(),
					ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL));
	assert_int_equal(exec_sync_wait(s, NULL), -EBADF);
	exec_sender_free(s);
}

static void freed_at_completion(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_scheduler *sched = exec_run_loop_scheduler(&lt.loop);
	exec_sender *s = exec_starts_on(sched, exec_just_i64(5));
	for (int round = 0; round < 50; round++) {
		freeing_receiver f;
		freeing_init(&f);
		freeing_run(s, &f);
		freeing_wait(&f);
		assert_int_equal(f.channel, 1);
		assert_int_equal(f.first, 5);
		assert_true(pthread_equal(f.thread, lt.thread));
		freeing_destroy(&f);
	}
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(child_runs_on_the_scheduler),
		cmocka_unit_test(child_environment_names_the_scheduler),
		cmocka_unit_test(error_and_stopped_pass_through),
		cmocka_unit_test(refused_schedule_never_starts_the_child),
		cmocka_unit_test(stop_before_start_and_while_queued),
		cmocka_unit_test(stop_during_and_after),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(freed_at_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
