/* tests for algorithms/continues_on.c (and exec/transfer.c) */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

#include "ctl_sender.h"

static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(exec_value_as_i64(&in[0]) + 1);
	return 1;
}

/* Runs s to completion with a fresh receiver (optionally with a stop
 * token) and waits for it. */
static void run_wait(exec_sender *s, exec_test_receiver *t)
{
	exec_test_run(s, t);
	exec_test_receiver_wait(t);
}

static void value_arrives_on_the_scheduler(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	pthread_t ran = pthread_self();
	/* then's output lives on its stack: continues_on must copy it. */
	exec_sender *s = exec_then(
		exec_continues_on(exec_then(exec_just_i64(41), add_one, NULL),
				  exec_run_loop_scheduler(&lt.loop)),
		record_thread, &ran);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	run_wait(s, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 42);
	assert_true(pthread_equal(ran, lt.thread));
	assert_true(pthread_equal(t.thread, lt.thread));
	exec_test_receiver_destroy(&t);

	/* Reuse: again, and twice connected at once; and through sync_wait. */
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	assert_int_equal(exec_test_connect(s, &a), 0);
	assert_int_equal(exec_test_connect(s, &b), 0);
	exec_test_start(&a);
	exec_test_start(&b);
	exec_test_receiver_wait(&a);
	exec_test_receiver_wait(&b);
	exec_test_assert_value(&a);
	exec_test_assert_value(&b);
	exec_test_assert_i64(&b, 0, 42);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 42);
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

static void error_and_stopped_arrive_on_the_scheduler(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_scheduler *sched = exec_run_loop_scheduler(&lt.loop);
	exec_sender *e = exec_continues_on(ctl_error(-EIO), sched);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	run_wait(e, &t);
	exec_test_assert_error(&t, -EIO);
	assert_true(pthread_equal(t.thread, lt.thread));
	exec_test_receiver_destroy(&t);

	exec_sender *st = exec_continues_on(ctl_stopped(), sched);
	exec_test_receiver_init(&t);
	run_wait(st, &t);
	exec_test_assert_stopped(&t);
	assert_true(pthread_equal(t.thread, lt.thread));
	exec_test_receiver_destroy(&t);
	exec_sender_free(e);
	exec_sender_free(st);
	loop_thread_stop(&lt);
}

static void many_values_are_kept(void **state)
{
	enum { N = EXEC_TRANSFER_STACK_VALUES + 5 };
	exec_value v[N];
	for (int i = 0; i < N; i++)
		v[i] = exec_value_i64(100 + i);
	loop_thread lt;
	loop_thread_start(&lt);
	exec_sender *s = exec_continues_on(exec_just(v, N), exec_run_loop_scheduler(&lt.loop));
	assert_int_equal(s->max_values, N);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	run_wait(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, N);
	for (int i = 0; i < N; i++)
		exec_test_assert_i64(&t, i, 100 + i);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

static void refused_schedule_delivers_its_error(void **state)
{
	ctl_probe p = {0};
	exec_sender *s = exec_continues_on(ctl_sender(CTL_VALUE, 1, 0, &p), &refusing_scheduler);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EAGAIN);
	assert_int_equal(p.starts, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_before_start(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	exec_sender *s = exec_continues_on(exec_just_i64(1), exec_run_loop_scheduler(&loop));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void stop_while_queued(void **state)
{
	/* A loop nobody drives yet: the hop waits in its queue. */
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *s = exec_continues_on(exec_just_i64(1), exec_run_loop_scheduler(&loop));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	assert_int_equal(exec_test_completions(&t), 0); /* completes on the loop */
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 1);
	exec_test_assert_stopped(&t);
	assert_true(pthread_equal(t.thread, pthread_self()));
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void stop_during_child(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_stop_source src;
	exec_stop_source_init(&src);
	ctl_probe p = {0};
	exec_sender *s = exec_continues_on(ctl_sender(CTL_WAIT_STOP, 0, 0, &p),
					   exec_run_loop_scheduler(&loop));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	/* The child sees the receiver's own environment. */
	assert_ptr_equal(p.env.stop_token.source, &src);
	exec_stop_source_request(&src);
	assert_int_equal(p.stop_seen, 1);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void stop_after_completion(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *s = exec_continues_on(exec_just_i64(3), exec_run_loop_scheduler(&loop));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 1);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 3);
	assert_null(src.head);
	exec_stop_source_request(&src);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static int lie(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(1);
	out[1] = exec_value_i64(2);
	return 2;
}

static void bad_input(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_continues_on(NULL, exec_inline_scheduler())),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_continues_on(exec_just_void(), NULL)),
			 -EINVAL);
	exec_scheduler no_ops = {NULL};
	assert_int_equal(exec_sender_build_error(exec_continues_on(exec_just_void(), &no_ops)),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_continues_on(exec_sender_invalid(-ENOMEM),
								   exec_inline_scheduler())),
			 -ENOMEM);

	/* A child sending more than its max_values: -ERANGE, no overrun. */
	exec_sender *child = exec_then(exec_just_void(), lie, NULL);
	child->max_values = 1;
	exec_sender *s = exec_continues_on(child, exec_inline_scheduler());
	assert_int_equal(exec_sync_wait(s, NULL), -ERANGE);
	exec_sender_free(s);

	exec_sender *c = exec_continues_on(ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL),
					   exec_inline_scheduler());
	assert_int_equal(exec_sync_wait(c, NULL), -EBADF);
	exec_sender_free(c);
}

static void inline_scheduler_and_sync_wait(void **state)
{
	exec_sender *s = exec_continues_on(exec_just_i64(9), exec_inline_scheduler());
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 9);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void freed_at_completion(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_scheduler *sched = exec_run_loop_scheduler(&lt.loop);
	exec_sender *s[3] = {exec_continues_on(exec_just_i64(5), sched),
			     exec_continues_on(ctl_error(-EIO), sched),
			     exec_continues_on(ctl_stopped(), sched)};
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 3; i++) {
			freeing_receiver f;
			freeing_init(&f);
			freeing_run(s[i], &f);
			freeing_wait(&f);
			assert_int_equal(f.channel, i + 1);
			assert_true(pthread_equal(f.thread, lt.thread));
			freeing_destroy(&f);
		}
	}
	for (int i = 0; i < 3; i++)
		exec_sender_free(s[i]);
	loop_thread_stop(&lt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(value_arrives_on_the_scheduler),
		cmocka_unit_test(error_and_stopped_arrive_on_the_scheduler),
		cmocka_unit_test(many_values_are_kept),
		cmocka_unit_test(refused_schedule_delivers_its_error),
		cmocka_unit_test(stop_before_start),
		cmocka_unit_test(stop_while_queued),
		cmocka_unit_test(stop_during_child),
		cmocka_unit_test(stop_after_completion),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(inline_scheduler_and_sync_wait),
		cmocka_unit_test(freed_at_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
