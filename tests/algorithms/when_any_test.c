/* tests for algorithms/when_any.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

#include "ctl_sender.h"

static void first_value_wins_and_others_are_stopped(void **state)
{
	ctl_probe w1 = {0}, w2 = {0};
	exec_sender *c[3] = {ctl_sender(CTL_WAIT_STOP, 0, 0, &w1), ctl_value(42),
			     ctl_sender(CTL_WAIT_STOP, 0, 0, &w2)};
	exec_sender *s = exec_when_any(c, 3);
	assert_int_equal(s->max_values, 1);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 1);
	exec_test_assert_i64(&t, 0, 42);
	/* The first waiter was started before the winner and stopped by it;
	 * the second was started after stop had been requested. */
	assert_int_equal(w1.stop_seen, 1);
	assert_int_equal(w2.stop_seen, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void winner_values_copied(void **state)
{
	/* The winner's values outlive its set_value call: they are delivered
	 * when the last (manual) child finishes, later. */
	exec_value v[3] = {exec_value_i64(1), exec_value_i64(2), exec_value_i64(3)};
	ctl_probe m = {0};
	exec_sender *s = exec_when_any2(ctl_sender(CTL_MANUAL, 0, 0, &m), exec_just(v, 3));
	assert_int_equal(s->max_values, 3);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_true(exec_stop_token_requested(m.env.stop_token));
	ctl_complete_value(m.last, 99); /* a loser: dropped */
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 3);
	for (int i = 0; i < 3; i++)
		exec_test_assert_i64(&t, i, i + 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void large_winner_from_op_state(void **state)
{
	exec_value v[EXEC_FANOUT_STACK_VALUES + 4];
	for (int i = 0; i < EXEC_FANOUT_STACK_VALUES + 4; i++)
		v[i] = exec_value_i64(i * 3);
	exec_sender *s = exec_when_any2(exec_just(v, EXEC_FANOUT_STACK_VALUES + 4),
					exec_just_i64(-1));
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(r.count, EXEC_FANOUT_STACK_VALUES + 4);
	for (int i = 0; i < EXEC_FANOUT_STACK_VALUES + 4; i++)
		assert_int_equal(exec_value_as_i64(&r.values[i]), i * 3);
	exec_result_clear(&r);
	exec_sender_free(s);
}

static void error_wins_when_first(void **state)
{
	ctl_probe w = {0};
	exec_sender *c[3] = {ctl_sender(CTL_WAIT_STOP, 0, 0, &w), ctl_error(-EIO), ctl_value(1)};
	exec_sender *s = exec_when_any(c, 3);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EIO);
	assert_int_equal(w.stop_seen, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stopped_wins_when_first(void **state)
{
	exec_sender *s = exec_when_any2(ctl_stopped(), ctl_value(1));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void manual_order_decides(void **state)
{
	ctl_probe p[3] = {{0}};
	exec_sender *c[3];
	for (int i = 0; i < 3; i++)
		c[i] = ctl_sender(CTL_MANUAL, 0, 0, &p[i]);
	exec_sender *s = exec_when_any(c, 3);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	ctl_complete_error(p[2].last, -EPIPE);
	ctl_complete_value(p[0].last, 1);
	assert_int_equal(exec_test_completions(&t), 0);
	ctl_complete_stopped(p[1].last);
	exec_test_assert_error(&t, -EPIPE);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_before_start_starts_nothing(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	ctl_probe p = {0};
	exec_sender *s = exec_when_any2(ctl_sender(CTL_VALUE, 1, 0, &p),
					ctl_sender(CTL_VALUE, 2, 0, &p));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.starts, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_during_and_after(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	ctl_probe p = {0};
	exec_sender *s = exec_when_any2(ctl_sender(CTL_WAIT_STOP, 0, 0, &p),
					ctl_sender(CTL_WAIT_STOP, 0, 0, &p));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_non_null(src.head);
	exec_stop_source_request(&src);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.stop_seen, 2);
	assert_null(src.head);
	exec_test_receiver_destroy(&t);

	/* After completion: the callback is gone, a request does nothing. */
	exec_stop_source src2;
	exec_stop_source_init(&src2);
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src2);
	exec_sender *v = exec_when_any2(ctl_value(5), ctl_value(6));
	exec_test_run(v, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 5);
	assert_null(src2.head);
	exec_stop_source_request(&src2);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(v);
	exec_sender_free(s);
}

static void reuse(void **state)
{
	exec_sender *s = exec_when_any2(exec_just_i64(1), exec_just_i64(2));
	for (int i = 0; i < 3; i++) {
		exec_result r;
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(r.count, 1);
		assert_int_equal(exec_value_as_i64(&r.values[0]), 1);
	}
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	assert_int_equal(exec_test_connect(s, &a), 0);
	assert_int_equal(exec_test_connect(s, &b), 0);
	exec_test_start(&a);
	exec_test_start(&b);
	exec_test_assert_value(&a);
	exec_test_assert_value(&b);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_sender_free(s);
}

static void bad_input(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_when_any(NULL, 0)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_when_any(NULL, 3)), -EINVAL);
	exec_sender *c[2] = {exec_just_i64(1), NULL};
	assert_int_equal(exec_sender_build_error(exec_when_any(c, 2)), -EINVAL);
	assert_int_equal(exec_sender_build_error(
				 exec_when_any2(exec_sender_invalid(-ENOMEM), exec_just_void())),
			 -ENOMEM);
	exec_sender *s = exec_when_any2(ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL),
					exec_just_void());
	assert_int_equal(exec_sync_wait(s, NULL), -EBADF);
	exec_sender_free(s);
}

/* Model check: manual children completed in a random order on random
 * channels; the first completion decides, only after the last one. */
static void random_orders_match_the_model(void **state)
{
	unsigned seed = 777;
	for (int trial = 0; trial < 500; trial++) {
		size_t n = 1 + rand_r(&seed) % 6;
		ctl_probe p[6];
		exec_sender *c[6];
		int channel[6], order[6];
		memset(p, 0, sizeof p);
		for (size_t i = 0; i < n; i++) {
			c[i] = ctl_sender(CTL_MANUAL, 0, 0, &p[i]);
			channel[i] = rand_r(&seed) % 3;
			order[i] = (int)i;
		}
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = rand_r(&seed) % (i + 1);
			int tmp = order[i];
			order[i] = order[j];
			order[j] = tmp;
		}
		exec_sender *s = exec_when_any(c, n);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		for (size_t k = 0; k < n; k++) {
			int i = order[k];
			assert_int_equal(exec_test_completions(&t), 0);
			if (channel[i] == 0)
				ctl_complete_value(p[i].last, 100 + i);
			else if (channel[i] == 1)
				ctl_complete_error(p[i].last, -(int)(10 + i));
			else
				ctl_complete_stopped(p[i].last);
			if (k + 1 < n)
				assert_true(exec_stop_token_requested(p[order[k + 1]].env.stop_token));
		}
		int w = order[0];
		if (channel[w] == 0) {
			exec_test_assert_value(&t);
			assert_int_equal(t.count, 1);
			exec_test_assert_i64(&t, 0, 100 + w);
		} else if (channel[w] == 1) {
			exec_test_assert_error(&t, -(10 + w));
		} else {
			exec_test_assert_stopped(&t);
		}
		exec_test_receiver_destroy(&t);
		exec_sender_free(s);
	}
}

static void freed_at_completion(void **state)
{
	/* The receiver frees the operation inside its completion (ASan). */
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *w = exec_when_any2(ctl_sender(CTL_WAIT_STOP, 0, 0, NULL),
					ctl_sender(CTL_WAIT_STOP, 0, 0, NULL));
	freeing_receiver f;
	freeing_init(&f);
	f.env.stop_token = exec_stop_source_token(&src);
	freeing_run(w, &f);
	exec_stop_source_request(&src);
	freeing_wait(&f);
	assert_int_equal(f.channel, 3);
	freeing_destroy(&f);
	exec_sender_free(w);

	exec_value v[EXEC_FANOUT_STACK_VALUES + 2];
	for (int i = 0; i < EXEC_FANOUT_STACK_VALUES + 2; i++)
		v[i] = exec_value_i64(i + 7);
	ctl_probe m = {0};
	exec_sender *big = exec_when_any2(exec_just(v, EXEC_FANOUT_STACK_VALUES + 2),
					  ctl_sender(CTL_MANUAL, 0, 0, &m));
	freeing_init(&f);
	freeing_run(big, &f);
	ctl_complete_stopped(m.last);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_int_equal(f.count, EXEC_FANOUT_STACK_VALUES + 2);
	assert_int_equal(f.first, 7);
	freeing_destroy(&f);
	exec_sender_free(big);
}

/* Children racing to win on several threads. */
enum { THREADS = 3, ROUNDS = 300 };

static int tag(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64((int64_t)(intptr_t)ctx);
	return 1;
}

static void race_on_several_threads(void **state)
{
	loop_thread lt[THREADS];
	for (int i = 0; i < THREADS; i++)
		loop_thread_start(&lt[i]);
	exec_sender *c[THREADS];
	for (int i = 0; i < THREADS; i++)
		c[i] = exec_then(exec_schedule(exec_run_loop_scheduler(&lt[i].loop)), tag,
				 (void *)(intptr_t)i);
	exec_sender *s = exec_when_any(c, THREADS);
	for (int round = 0; round < ROUNDS; round++) {
		exec_stop_source src;
		exec_stop_source_init(&src);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		t.env.stop_token = exec_stop_source_token(&src);
		exec_test_run(s, &t);
		if (round % 3 == 0)
			exec_stop_source_request(&src);
		exec_test_receiver_wait(&t);
		assert_int_equal(exec_test_completions(&t), 1);
		if (t.values_calls) {
			assert_int_equal(t.count, 1);
			assert_true(t.values[0].as.i64 >= 0 && t.values[0].as.i64 < THREADS);
		} else {
			assert_int_equal(t.stopped_calls, 1);
		}
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);
	for (int i = 0; i < THREADS; i++)
		loop_thread_stop(&lt[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_value_wins_and_others_are_stopped),
		cmocka_unit_test(winner_values_copied),
		cmocka_unit_test(large_winner_from_op_state),
		cmocka_unit_test(error_wins_when_first),
		cmocka_unit_test(stopped_wins_when_first),
		cmocka_unit_test(manual_order_decides),
		cmocka_unit_test(stop_before_start_starts_nothing),
		cmocka_unit_test(stop_during_and_after),
		cmocka_unit_test(reuse),
		cmocka_unit_test(random_orders_match_the_model),
		cmocka_unit_test(freed_at_completion),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(race_on_several_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
