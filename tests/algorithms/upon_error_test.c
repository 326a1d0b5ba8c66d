/* CEXEC_TEST_LABELS: tsan */
/* tests for algorithms/upon_error.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

typedef struct calls {
	int n;
	int last_err;
} calls;

/* Recovers: -EIO becomes the value 100 + n; anything else is passed on. */
static int recover_eio(void *ctx, int err, exec_value *out)
{
	calls *c = ctx;
	c->n++;
	c->last_err = err;
	if (err != -EIO)
		return err;
	out[0] = exec_value_i64(100 + c->n);
	return 1;
}

static int to_enoent(void *ctx, int err, exec_value *out)
{
	(void)out;
	calls *c = ctx;
	c->n++;
	c->last_err = err;
	return -ENOENT;
}

static int too_many(void *ctx, int err, exec_value *out)
{
	(void)ctx;
	(void)err;
	(void)out;
	return EXEC_THEN_MAX_VALUES + 1;
}

static int max_out(void *ctx, int err, exec_value *out)
{
	(void)ctx;
	(void)err;
	for (int i = 0; i < EXEC_THEN_MAX_VALUES; i++)
		out[i] = exec_value_i64(i);
	return EXEC_THEN_MAX_VALUES;
}

static void error_recovered(void **state)
{
	(void)state;
	calls c = {0, 0};
	exec_sender *s = exec_upon_error(exec_just_error(-EIO), recover_eio, &c);
	assert_true(s->max_values >= EXEC_THEN_MAX_VALUES);
	for (int i = 1; i <= 2; i++) { /* reuse */
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 1);
		exec_test_assert_i64(&t, 0, 100 + i);
		assert_int_equal(c.n, i);
		assert_int_equal(c.last_err, -EIO);
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);
}

static void error_replaced_or_passed(void **state)
{
	(void)state;
	calls c = {0, 0};
	exec_sender *s = exec_upon_error(exec_just_error(-EPIPE), to_enoent, &c);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -ENOENT);
	assert_int_equal(c.last_err, -EPIPE);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	s = exec_upon_error(exec_just_error(-EPIPE), recover_eio, &c);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EPIPE);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void value_count_limits(void **state)
{
	(void)state;
	exec_sender *s = exec_upon_error(exec_just_error(-EIO), too_many, NULL);
	assert_int_equal(exec_sync_wait(s, NULL), -ERANGE);
	exec_sender_free(s);
	s = exec_upon_error(exec_just_error(-EIO), max_out, NULL);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(r.count, EXEC_THEN_MAX_VALUES);
	assert_int_equal(exec_value_as_i64(&r.values[3]), 3);
	exec_result_clear(&r);
	exec_sender_free(s);
}

static void value_and_stopped_pass_through(void **state)
{
	(void)state;
	calls c = {0, 0};
	exec_value v[6];
	for (int i = 0; i < 6; i++)
		v[i] = exec_value_i64(i + 1);
	/* More values than fn could produce: they pass through untouched. */
	exec_sender *s = exec_upon_error(exec_just(v, 6), recover_eio, &c);
	assert_int_equal(s->max_values, 6);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 6);
	exec_test_assert_i64(&t, 5, 6);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);

	s = exec_upon_error(exec_just_stopped(), recover_eio, &c);
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	assert_int_equal(c.n, 0);
}

static void stop_cases(void **state)
{
	(void)state;
	calls c = {0, 0};
	test_loop tl;
	/* before: the child (a timer) sees the stop and completes stopped,
	 * which upon_error passes through. */
	test_loop_init(&tl);
	exec_sender *s = exec_upon_error(test_loop_wait(&tl), recover_eio, &c);
	test_stop_before(s, &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	/* during */
	test_loop_init(&tl);
	s = exec_upon_error(test_loop_wait(&tl), recover_eio, &c);
	test_stop_during(s, &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	/* during, turned into -EIO by stopped_as_error and recovered */
	test_loop_init(&tl);
	s = exec_upon_error(exec_stopped_as_error(exec_schedule(test_loop_sched(&tl)), -EIO),
			    recover_eio, &c);
	exec_test_run(s, &tl.t);
	exec_stop_source_request(&tl.stop); /* the hop now reports stopped */
	test_loop_drive(&tl);
	exec_test_assert_value(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	test_loop_init(&tl);
	s = exec_upon_error(exec_just_error(-EIO), recover_eio, &c);
	test_stop_after(s, &tl);
	exec_test_assert_value(&tl.t);
	test_loop_destroy(&tl);
	exec_sender_free(s);
	assert_int_equal(c.n, 2);
}

static void env_passes_through(void **state)
{
	(void)state;
	ctl_probe p;
	memset(&p, 0, sizeof p);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *s = exec_upon_error(ctl_sender(CTL_ERROR, 0, -EIO, &p), recover_eio,
					 &(calls){0, 0});
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	t.env.scheduler = exec_inline_scheduler();
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_ptr_equal(p.env.stop_token.source, &src);
	assert_ptr_equal(p.env.scheduler, exec_inline_scheduler());
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void completes_on_child_thread_and_may_be_freed(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	calls c = {0, 0};
	exec_sender *s = exec_upon_error(
		exec_stopped_as_error(exec_just_stopped(), -EIO), recover_eio, &c);
	exec_sender *on_loop = exec_continues_on(s, exec_run_loop_scheduler(&lt.loop));
	freeing_receiver f;
	freeing_init(&f);
	freeing_run(on_loop, &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_int_equal(f.first, 101);
	freeing_destroy(&f);
	loop_thread_stop(&lt);
	exec_sender_free(on_loop);
}

static void bad_input(void **state)
{
	(void)state;
	assert_int_equal(exec_sender_build_error(exec_upon_error(NULL, recover_eio, NULL)),
			 -EINVAL);
	/* The child is consumed also on failure (LeakSanitizer checks). */
	assert_int_equal(
		exec_sender_build_error(exec_upon_error(exec_just_i64(1), NULL, NULL)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_upon_error(
				 exec_sender_invalid(-ENOMEM), recover_eio, NULL)),
			 -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_recovered),
		cmocka_unit_test(error_replaced_or_passed),
		cmocka_unit_test(value_count_limits),
		cmocka_unit_test(value_and_stopped_pass_through),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(env_passes_through),
		cmocka_unit_test(completes_on_child_thread_and_may_be_freed),
		cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
