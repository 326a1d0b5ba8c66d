/* tests for algorithms/just_error.c and algorithms/just_stopped.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

static void error_path(void **state)
{
	(void)state;
	int codes[] = {-EIO, -ENOMEM, -EINVAL, -ECANCELED, -1};
	for (int i = 0; i < 5; i++) {
		exec_sender *s = exec_just_error(codes[i]);
		assert_int_equal(exec_sender_build_error(s), 0);
		assert_int_equal(s->max_values, 0);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_error(&t, codes[i]);
		assert_true(pthread_equal(t.thread, pthread_self()));
		exec_test_receiver_destroy(&t);
		assert_int_equal(exec_sync_wait(s, NULL), codes[i]);
		exec_sender_free(s);
	}
}

static void non_negative_is_einval(void **state)
{
	(void)state;
	exec_sender *zero = exec_just_error(0);
	exec_sender *pos = exec_just_error(EIO);
	assert_int_equal(exec_sender_build_error(zero), -EINVAL);
	assert_int_equal(exec_sender_build_error(pos), -EINVAL);
	assert_int_equal(exec_sync_wait(pos, NULL), -EINVAL);
	exec_sender_free(zero);
	exec_sender_free(pos);
}

static void stopped_path(void **state)
{
	(void)state;
	exec_sender *s = exec_just_stopped();
	assert_int_equal(exec_sender_build_error(s), 0);
	assert_ptr_equal(exec_sender_ref(s), s);
	exec_sender_free(s); /* static: ref/free are no-ops */
	for (int i = 0; i < 2; i++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_stopped(&t);
		exec_test_receiver_destroy(&t);
	}
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), EXEC_STOPPED);
	assert_int_equal(r.kind, EXEC_RESULT_STOPPED);
	exec_sender_free(s);
}

static void reuse_concurrently_connected(void **state)
{
	(void)state;
	exec_sender *s = exec_just_error(-EPIPE);
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	assert_int_equal(exec_test_connect(s, &a), 0);
	assert_int_equal(exec_test_connect(s, &b), 0);
	exec_test_start(&a);
	exec_test_start(&b);
	exec_test_assert_error(&a, -EPIPE);
	exec_test_assert_error(&b, -EPIPE);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_sender_free(s);
}

static void stop_before_and_after(void **state)
{
	(void)state;
	/* Neither watches the token: the outcome is theirs either way. */
	test_loop tl;
	test_loop_init(&tl);
	exec_sender *s = exec_just_error(-EIO);
	test_stop_before(s, &tl);
	exec_test_assert_error(&tl.t, -EIO);
	test_loop_destroy(&tl);

	test_loop_init(&tl);
	test_stop_after(s, &tl);
	exec_test_assert_error(&tl.t, -EIO);
	test_loop_destroy(&tl);
	exec_sender_free(s);

	test_loop_init(&tl);
	test_stop_before(exec_just_stopped(), &tl);
	exec_test_assert_stopped(&tl.t);
	test_loop_destroy(&tl);
}

static void freed_inside_completion(void **state)
{
	(void)state;
	/* The receiver frees the op's storage inside the completion call:
	 * ASan reports any later touch of it. */
	exec_sender *s = exec_just_error(-EIO);
	freeing_receiver f;
	freeing_init(&f);
	freeing_run(s, &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 2);
	assert_int_equal(f.error, -EIO);
	freeing_destroy(&f);
	freeing_init(&f);
	freeing_run(exec_just_stopped(), &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 3);
	freeing_destroy(&f);
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_path),
		cmocka_unit_test(non_negative_is_einval),
		cmocka_unit_test(stopped_path),
		cmocka_unit_test(reuse_concurrently_connected),
		cmocka_unit_test(stop_before_and_after),
		cmocka_unit_test(freed_inside_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
