/* CEXEC_TEST_LABELS: tsan */
/* tests for algorithms/repeat.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

typedef struct counter {
	AO_t calls;
	AO_t fail_at;     /* fail with -EIO on this call (0: never) */
	exec_stop_source *stop_at_src;
	AO_t stop_at;     /* request stop on this call (0: never) */
} counter;

/* Counts runs and passes the call number on as the value. */
static int count_run(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)in;
	(void)n;
	counter *c = ctx;
	AO_t k = AO_fetch_and_add1(&c->calls) + 1;
	if (k == AO_load(&c->fail_at))
		return -EIO;
	if (k == AO_load(&c->stop_at))
		exec_stop_source_request(c->stop_at_src);
	out[0] = exec_value_i64((int64_t)k);
	return 1;
}

static void runs_n_times(void **state)
{
	(void)state;
	counter c = {0};
	exec_sender *s = exec_repeat_n(exec_then(exec_just_void(), count_run, &c), 5);
	assert_int_equal(s->max_values, 0);
	for (int round = 1; round <= 2; round++) { /* reuse */
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 0);
		assert_int_equal(AO_load(&c.calls), 5 * round);
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);
}

static void zero_times(void **state)
{
	(void)state;
	ctl_probe p;
	memset(&p, 0, sizeof p);
	exec_sender *s = exec_repeat_n(ctl_sender(CTL_VALUE, 1, 0, &p), 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(AO_load(&p.starts), 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void million_inline_iterations(void **state)
{
	(void)state;
	/* Inline completions loop instead of recursing: under ASan a
	 * recursion this deep would overflow the stack. */
	counter c = {0};
	exec_sender *s = exec_repeat_n(exec_then(exec_just_void(), count_run, &c), 1000000);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(AO_load(&c.calls), 1000000);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	counter d = {0};
	s = exec_repeat_n(exec_then(exec_schedule(exec_inline_scheduler()), count_run, &d),
			  1000000);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(AO_load(&d.calls), 1000000);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void error_ends_early(void **state)
{
	(void)state;
	counter c = {0};
	AO_store(&c.fail_at, 3);
	exec_sender *s = exec_repeat_n(exec_then(exec_just_void(), count_run, &c), 10);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EIO);
	assert_int_equal(AO_load(&c.calls), 3);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stopped_ends_early(void **state)
{
	(void)state;
	ctl_probe p;
	memset(&p, 0, sizeof p);
	exec_sender *s = exec_repeat_n(ctl_sender(CTL_STOPPED, 0, 0, &p), 10);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(AO_load(&p.starts), 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void connect_failure_is_error(void **state)
{
	(void)state;
	exec_sender *s = exec_repeat_n(ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL), 3);
	/* Connecting the repeat itself succeeds: runs connect at start. */
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EBADF);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_checked_between_iterations(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	counter c = {0};
	c.stop_at_src = &tl.stop;
	AO_store(&c.stop_at, 3);
	exec_sender *s = exec_repeat_n(exec_then(exec_just_void(), count_run, &c), 10);
	exec_test_run(s, &tl.t);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(AO_load(&c.calls), 3);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void stop_cases(void **state)
{
	(void)state;
	test_loop tl;
	counter c = {0};
	test_loop_init(&tl);
	exec_sender *s = exec_repeat_n(exec_then(exec_just_void(), count_run, &c), 4);
	test_stop_before(s, &tl);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(AO_load(&c.calls), 0);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_repeat_n(exec_then(test_loop_wait(&tl), count_run, &c), 4);
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	assert_int_equal(AO_load(&c.calls), 0);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	s = exec_repeat_n(exec_then(exec_schedule(test_loop_sched(&tl)), count_run, &c), 4);
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	assert_int_equal(AO_load(&c.calls), 4);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void asynchronous_on_run_loop(void **state)
{
	(void)state;
	test_loop tl;
	test_loop_init(&tl);
	counter c = {0};
	exec_sender *s =
		exec_repeat_n(exec_then(exec_schedule(test_loop_sched(&tl)), count_run, &c), 10);
	exec_test_run(s, &tl.t);
	assert_int_equal(exec_test_completions(&tl.t), 0);
	/* Each run is one task; the completion of one submits the next. */
	assert_int_equal(test_loop_drive(&tl), 10);
	exec_test_assert_value(&tl.t);
	assert_int_equal(AO_load(&c.calls), 10);
	test_loop_destroy(&tl);
	exec_sender_free(s);
}

static void asynchronous_on_thread(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	counter c = {0};
	exec_sender *s = exec_repeat_n(
		exec_then(exec_schedule(exec_run_loop_scheduler(&lt.loop)), count_run, &c), 2000);
	for (int round = 1; round <= 3; round++) {
		freeing_receiver f;
		freeing_init(&f);
		freeing_run(s, &f);
		freeing_wait(&f);
		assert_int_equal(f.channel, 1);
		assert_true(pthread_equal(f.thread, lt.thread));
		assert_int_equal(AO_load(&c.calls), 2000 * round);
		freeing_destroy(&f);
	}
	/* Runs that alternate between inline and another thread. */
	counter d = {0};
	exec_sender *mixed = exec_repeat_n(
		exec_then(exec_when_any((exec_sender *[]){
					      exec_schedule(exec_run_loop_scheduler(&lt.loop)),
					      exec_just_void()},
				      2),
			  count_run, &d),
		500);
	freeing_receiver f;
	freeing_init(&f);
	freeing_run(mixed, &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_int_equal(AO_load(&d.calls), 500);
	freeing_destroy(&f);
	loop_thread_stop(&lt);
	exec_sender_free(s);
	exec_sender_free(mixed);
}

static bool at_least_five(void *ctx, const exec_value *v, size_t n)
{
	(*(int *)ctx)++;
	return n == 1 && exec_value_as_i64(&v[0]) >= 5;
}

static void until_predicate(void **state)
{
	(void)state;
	counter c = {0};
	int preds = 0;
	exec_sender *s = exec_repeat_until(exec_then(exec_just_void(), count_run, &c),
					   at_least_five, &preds);
	assert_int_equal(s->max_values, EXEC_THEN_MAX_VALUES);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 1);
	exec_test_assert_i64(&t, 0, 5);
	assert_int_equal(preds, 5);
	exec_test_receiver_destroy(&t);
	/* Reuse: the counter goes on, so the first run already satisfies. */
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_i64(&t, 0, 6);
	assert_int_equal(preds, 6);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	/* Asynchronous, with the op freed inside the completion: the values
	 * handed over live in the op and are read before it is freed. */
	test_loop tl;
	test_loop_init(&tl);
	counter d = {0};
	preds = 0;
	s = exec_repeat_until(exec_then(exec_schedule(test_loop_sched(&tl)), count_run, &d),
			      at_least_five, &preds);
	freeing_receiver f;
	freeing_init(&f);
	freeing_run(s, &f);
	test_loop_drive(&tl);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_int_equal(f.first, 5);
	freeing_destroy(&f);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	/* Errors end the loop. */
	counter e = {0};
	AO_store(&e.fail_at, 2);
	s = exec_repeat_until(exec_then(exec_just_void(), count_run, &e), at_least_five,
			      &preds);
	assert_int_equal(exec_sync_wait(s, NULL), -EIO);
	exec_sender_free(s);
}

static void bad_input(void **state)
{
	(void)state;
	int x = 0;
	assert_int_equal(exec_sender_build_error(exec_repeat_n(NULL, 3)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_repeat_until(NULL, at_least_five, &x)),
			 -EINVAL);
	assert_int_equal(
		exec_sender_build_error(exec_repeat_until(exec_just_void(), NULL, NULL)),
		-EINVAL);
	assert_int_equal(exec_sender_build_error(exec_repeat_n(exec_sender_invalid(-ENOMEM), 3)),
			 -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runs_n_times),
		cmocka_unit_test(zero_times),
		cmocka_unit_test(million_inline_iterations),
		cmocka_unit_test(error_ends_early),
		cmocka_unit_test(stopped_ends_early),
		cmocka_unit_test(connect_failure_is_error),
		cmocka_unit_test(stop_checked_between_iterations),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(asynchronous_on_run_loop),
		cmocka_unit_test(asynchronous_on_thread),
		cmocka_unit_test(until_predicate),
		cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
