/* tests for algorithms/on.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

#include "ctl_sender.h"

/* Two loops on their own threads: "home" is the receiver's scheduler,
 * "away" the one on() moves to. */
static loop_thread home, away;

static int setup(void **state)
{
	loop_thread_start(&home);
	loop_thread_start(&away);
	return 0;
}

static int teardown(void **state)
{
	loop_thread_stop(&home);
	loop_thread_stop(&away);
	return 0;
}

static void receiver_at_home(exec_test_receiver *t)
{
	exec_test_receiver_init(t);
	t->env.scheduler = exec_run_loop_scheduler(&home.loop);
}

static void runs_away_and_comes_home(void **state)
{
	pthread_t ran = pthread_self();
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away.loop),
				 exec_then(exec_just_i64(5), record_thread, &ran));
	for (int round = 0; round < 2; round++) { /* reuse */
		exec_test_receiver t;
		receiver_at_home(&t);
		exec_test_run(s, &t);
		exec_test_receiver_wait(&t);
		exec_test_assert_value(&t);
		exec_test_assert_i64(&t, 0, 5);
		assert_true(pthread_equal(ran, away.thread));
		assert_true(pthread_equal(t.thread, home.thread));
		exec_test_receiver_destroy(&t);
	}
	/* sync_wait's receiver names its own loop: home is the caller. */
	exec_result r;
	ran = pthread_self();
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 5);
	assert_true(pthread_equal(ran, away.thread));
	exec_sender_free(s);
}

static void sync_wait_home_races_the_way_back(void **state)
{
	/* sync_wait creates its loop lazily: here the first submit to it (the
	 * way back) comes from the away thread while the caller may be
	 * creating it too, to sleep in it. Repeated to give the race room. */
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away.loop), exec_just_i64(11));
	for (int i = 0; i < 300; i++) {
		exec_result r;
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(r.count, 1);
		assert_int_equal(exec_value_as_i64(&r.values[0]), 11);
	}
	exec_sender_free(s);
}

static void child_environment(void **state)
{
	ctl_probe p = {0};
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away.loop),
				 ctl_sender(CTL_VALUE, 3, 0, &p));
	exec_test_receiver t;
	receiver_at_home(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	assert_ptr_equal(p.env.scheduler, exec_run_loop_scheduler(&away.loop));
	assert_ptr_equal(p.env.stop_token.source, &src);
	assert_true(pthread_equal(p.start_thread, away.thread));
	assert_true(pthread_equal(t.thread, home.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void error_and_stopped_come_home(void **state)
{
	exec_sender *e = exec_on(exec_run_loop_scheduler(&away.loop), ctl_error(-EIO));
	exec_sender *st = exec_on(exec_run_loop_scheduler(&away.loop), ctl_stopped());
	exec_test_receiver t;
	receiver_at_home(&t);
	exec_test_run(e, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_error(&t, -EIO);
	assert_true(pthread_equal(t.thread, home.thread));
	exec_test_receiver_destroy(&t);
	receiver_at_home(&t);
	exec_test_run(st, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_stopped(&t);
	assert_true(pthread_equal(t.thread, home.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(e);
	exec_sender_free(st);
}

static void no_scheduler_to_return_to_fails_connect(void **state)
{
	ctl_probe p = {0};
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away.loop),
				 ctl_sender(CTL_VALUE, 1, 0, &p));
	exec_test_receiver t;
	exec_test_receiver_init(&t); /* empty environment */
	assert_int_equal(exec_test_connect(s, &t), -EINVAL);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(p.starts, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void refused_hops(void **state)
{
	/* There: the child never starts; the error is delivered inline. */
	ctl_probe p = {0};
	exec_sender *s = exec_on(&refusing_scheduler, ctl_sender(CTL_VALUE, 1, 0, &p));
	exec_test_receiver t;
	receiver_at_home(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EAGAIN);
	assert_int_equal(p.starts, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	/* Back: delivered where the child completed (away). */
	s = exec_on(exec_run_loop_scheduler(&away.loop), exec_just_i64(1));
	exec_test_receiver_init(&t);
	t.env.scheduler = &refusing_scheduler;
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_error(&t, -EAGAIN);
	assert_true(pthread_equal(t.thread, away.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_before_during_after(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	ctl_probe p = {0};
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away.loop),
				 ctl_sender(CTL_WAIT_STOP, 0, 0, &p));
	exec_test_receiver t;
	receiver_at_home(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.starts, 0);
	exec_test_receiver_destroy(&t);

	/* During: the child waits on away until the request. */
	exec_stop_source_init(&src);
	receiver_at_home(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	while (AO_load_acquire(&p.starts) == 0)
		sched_yield();
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	exec_test_receiver_wait(&t);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.stop_seen, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	/* After: nothing changes, nothing is left registered. */
	exec_stop_source_init(&src);
	s = exec_on(exec_run_loop_scheduler(&away.loop), exec_just_i64(8));
	receiver_at_home(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	exec_stop_source_request(&src);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void many_values(void **state)
{
	enum { N = EXEC_TRANSFER_STACK_VALUES + 3 };
	exec_value v[N];
	for (int i = 0; i < N; i++)
		v[i] = exec_value_i64(-i);
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away.loop), exec_just(v, N));
	exec_test_receiver t;
	receiver_at_home(&t);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, N);
	for (int i = 0; i < N; i++)
		exec_test_assert_i64(&t, i, -i);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void bad_input(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_on(NULL, exec_just_void())), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_on(exec_inline_scheduler(), NULL)),
			 -EINVAL);
	exec_scheduler no_ops = {NULL};
	assert_int_equal(exec_sender_build_error(exec_on(&no_ops, exec_just_void())), -EINVAL);
	assert_int_equal(exec_sender_build_error(
				 exec_on(exec_inline_scheduler(), exec_sender_invalid(-ENOMEM))),
			 -ENOMEM);
	exec_sender *s = exec_on(exec_inline_scheduler(), ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL));
	assert_int_equal(exec_sync_wait(s, NULL), -EBADF);
	exec_sender_free(s);
}

static void freed_at_completion(void **state)
{
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away.loop), exec_just_i64(6));
	for (int round = 0; round < 50; round++) {
		freeing_receiver f;
		freeing_init(&f);
		f.env.scheduler = exec_run_loop_scheduler(&home.loop);
		freeing_run(s, &f);
		freeing_wait(&f);
		assert_int_equal(f.channel, 1);
		assert_int_equal(f.first, 6);
		assert_true(pthread_equal(f.thread, home.thread));
		freeing_destroy(&f);
	}
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runs_away_and_comes_home),
		cmocka_unit_test(sync_wait_home_races_the_way_back),
		cmocka_unit_test(child_environment),
		cmocka_unit_test(error_and_stopped_come_home),
		cmocka_unit_test(no_scheduler_to_return_to_fails_connect),
		cmocka_unit_test(refused_hops),
		cmocka_unit_test(stop_before_during_after),
		cmocka_unit_test(many_values),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(freed_at_completion),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
