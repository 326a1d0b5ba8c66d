/* tests/algorithms/bad_input_test.c - bad arguments to every builder give
 * the documented error, never a crash or a leak.
 *
 * The rules (exec/sender.h): builders never return NULL; on bad input they
 * return the static invalid sender, whose exec_sender_build_error says the
 * code (-EINVAL, or a child's -ENOMEM passed on) and which completes with it
 * when run; the children passed in are consumed also on failure (the heap
 * children given here would show up as leaks under ASan otherwise). */
#include "cexec_test.h"

#include <errno.h>
#include <limits.h>

/* Asserts s is an invalid sender for err, that running it gives err on
 * the error channel exactly once, and frees it. */
static void expect_invalid(exec_sender *s, int err)
{
	assert_non_null(s);
	assert_int_equal(exec_sender_build_error(s), err);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), err);
	assert_int_equal(r.kind, EXEC_RESULT_ERROR);
	assert_int_equal(r.error, err);

	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, err);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static int id_fn(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = in[i];
	return (int)n;
}

static int upon_err_fn(void *ctx, int err, exec_value *out)
{
	return 0;
}

static int upon_stop_fn(void *ctx, exec_value *out)
{
	return 0;
}

static exec_sender *let_v_fn(void *ctx, const exec_value *v, size_t n)
{
	return exec_just_void();
}

static exec_sender *let_e_fn(void *ctx, int err)
{
	return exec_just_void();
}

static exec_sender *let_s_fn(void *ctx)
{
	return exec_just_void();
}

static bool pred_fn(void *ctx, const exec_value *v, size_t n)
{
	return true;
}

static int bulk_fn(void *ctx, size_t i, const exec_value *v, size_t n)
{
	return 0;
}

static void null_child_senders(void **state)
{
	exec_scheduler *in = exec_inline_scheduler();
	expect_invalid(exec_then(NULL, id_fn, NULL), -EINVAL);
	expect_invalid(exec_upon_error(NULL, upon_err_fn, NULL), -EINVAL);
	expect_invalid(exec_upon_stopped(NULL, upon_stop_fn, NULL), -EINVAL);
	expect_invalid(exec_let_value(NULL, let_v_fn, NULL), -EINVAL);
	expect_invalid(exec_let_error(NULL, let_e_fn, NULL), -EINVAL);
	expect_invalid(exec_let_stopped(NULL, let_s_fn, NULL), -EINVAL);
	expect_invalid(exec_stopped_as_error(NULL, -EIO), -EINVAL);
	expect_invalid(exec_continues_on(NULL, in), -EINVAL);
	expect_invalid(exec_schedule_from(in, NULL), -EINVAL);
	expect_invalid(exec_starts_on(in, NULL), -EINVAL);
	expect_invalid(exec_on(in, NULL), -EINVAL);
	expect_invalid(exec_repeat_n(NULL, 3), -EINVAL);
	expect_invalid(exec_repeat_until(NULL, pred_fn, NULL), -EINVAL);
	expect_invalid(exec_bulk(NULL, 4, bulk_fn, NULL), -EINVAL);
	expect_invalid(exec_bulk_on(NULL, in, 4, bulk_fn, NULL), -EINVAL);
	/* The non-NULL sibling is consumed too. */
	expect_invalid(exec_when_all2(exec_just_i64(1), NULL), -EINVAL);
	expect_invalid(exec_when_all2(NULL, exec_just_i64(1)), -EINVAL);
	expect_invalid(exec_when_any2(exec_just_i64(1), NULL), -EINVAL);
	exec_sender *kids[3] = {exec_just_i64(1), NULL, exec_then(exec_just_i64(2), id_fn, NULL)};
	expect_invalid(exec_when_all(kids, 3), -EINVAL);
	exec_sender *kids2[3] = {exec_just_i64(1), exec_just_i64(2), NULL};
	expect_invalid(exec_when_any(kids2, 3), -EINVAL);
}

static void null_functions(void **state)
{
	exec_scheduler *in = exec_inline_scheduler();
	/* Heap children (then over just): consumed even though the build
	 * fails, which LeakSanitizer checks. */
	expect_invalid(exec_then(exec_then(exec_just_i64(1), id_fn, NULL), NULL, NULL),
		       -EINVAL);
	expect_invalid(exec_upon_error(exec_just_i64(1), NULL, NULL), -EINVAL);
	expect_invalid(exec_upon_stopped(exec_just_i64(1), NULL, NULL), -EINVAL);
	expect_invalid(exec_let_value(exec_just_i64(1), NULL, NULL), -EINVAL);
	expect_invalid(exec_let_error(exec_just_i64(1), NULL, NULL), -EINVAL);
	expect_invalid(exec_let_stopped(exec_just_i64(1), NULL, NULL), -EINVAL);
	expect_invalid(exec_repeat_until(exec_just_i64(1), NULL, NULL), -EINVAL);
	expect_invalid(exec_bulk(exec_just_i64(1), 4, NULL, NULL), -EINVAL);
	expect_invalid(exec_bulk_on(exec_just_i64(1), in, 4, NULL, NULL), -EINVAL);
}

static const exec_scheduler_ops no_submit_ops = {.name = "no-submit"};

static void null_schedulers(void **state)
{
	exec_scheduler broken = {&no_submit_ops};
	exec_scheduler opless = {NULL};
	exec_scheduler *bad[3] = {NULL, &broken, &opless};
	for (int i = 0; i < 3; i++) {
		expect_invalid(exec_schedule(bad[i]), -EINVAL);
		expect_invalid(exec_schedule_at(bad[i], 0), -EINVAL);
		expect_invalid(exec_schedule_after(bad[i], 0), -EINVAL);
		expect_invalid(exec_continues_on(exec_just_i64(1), bad[i]), -EINVAL);
		expect_invalid(exec_schedule_from(bad[i], exec_just_i64(1)), -EINVAL);
		expect_invalid(exec_starts_on(bad[i], exec_just_i64(1)), -EINVAL);
		expect_invalid(exec_on(bad[i], exec_just_i64(1)), -EINVAL);
		expect_invalid(exec_bulk_on(exec_just_i64(1), bad[i], 4, bulk_fn, NULL),
			       -EINVAL);
	}
}

static void bad_values_and_codes(void **state)
{
	exec_value v[EXEC_JUST_MAX_VALUES + 1];
	for (size_t i = 0; i < EXEC_JUST_MAX_VALUES + 1; i++)
		v[i] = exec_value_i64((int64_t)i);
	expect_invalid(exec_just(NULL, 3), -EINVAL);
	expect_invalid(exec_just(v, EXEC_JUST_MAX_VALUES + 1), -EINVAL);
	expect_invalid(exec_just(v, SIZE_MAX), -EINVAL);
	/* Error codes must be negative errnos. */
	expect_invalid(exec_just_error(0), -EINVAL);
	expect_invalid(exec_just_error(EIO), -EINVAL);
	expect_invalid(exec_just_error(EXEC_STOPPED), -EINVAL);
	expect_invalid(exec_stopped_as_error(exec_just_stopped(), 0), -EINVAL);
	expect_invalid(exec_stopped_as_error(exec_then(exec_just_stopped(), id_fn, NULL),
					     ETIMEDOUT),
		       -EINVAL);
	/* Edge values that are valid: no values at all. */
	exec_sender *s = exec_just(NULL, 0);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(r.count, 0);
	exec_sender_free(s);
}

/* A child's build error passes through every layer unchanged. */
static void build_errors_propagate(void **state)
{
	exec_scheduler *in = exec_inline_scheduler();
	expect_invalid(exec_then(exec_sender_invalid(-ENOMEM), id_fn, NULL), -ENOMEM);
	expect_invalid(exec_upon_error(exec_sender_invalid(-ENOMEM), upon_err_fn, NULL),
		       -ENOMEM);
	expect_invalid(exec_let_value(exec_sender_invalid(-ENOMEM), let_v_fn, NULL),
		       -ENOMEM);
	expect_invalid(exec_continues_on(exec_sender_invalid(-ENOMEM), in), -ENOMEM);
	expect_invalid(exec_on(in, exec_sender_invalid(-ENOMEM)), -ENOMEM);
	expect_invalid(exec_when_all2(exec_just_i64(1), exec_sender_invalid(-ENOMEM)),
		       -ENOMEM);
	expect_invalid(exec_when_any2(exec_sender_invalid(-ENOMEM), exec_just_i64(1)),
		       -ENOMEM);
	expect_invalid(exec_repeat_n(exec_sender_invalid(-ENOMEM), 2), -ENOMEM);
	/* Other codes map to -EINVAL (the two static senders). */
	assert_int_equal(exec_sender_build_error(exec_sender_invalid(-EIO)), -EINVAL);
	/* The invalid senders are static: freeing and referencing them any
	 * number of times is harmless, as are NULLs. */
	exec_sender *inv = exec_sender_invalid(-EINVAL);
	for (int i = 0; i < 3; i++) {
		exec_sender_free(exec_sender_ref(inv));
		exec_sender_free(inv);
	}
	assert_int_equal(exec_sender_build_error(inv), -EINVAL);
	assert_null(exec_sender_ref(NULL));
	exec_sender_free(NULL);
	assert_int_equal(exec_sender_build_error(NULL), -EINVAL);
}

static void zero_children(void **state)
{
	/* when_all(): completes at once with no values (P2300's when_all()),
	 * with or without an array. */
	exec_sender *s = exec_when_all(NULL, 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_sender *none[1] = {NULL};
	s = exec_when_all(none, 0);
	assert_int_equal(exec_sync_wait(s, NULL), 0);
	exec_sender_free(s);
	/* when_any(): nothing could ever win. */
	expect_invalid(exec_when_any(NULL, 0), -EINVAL);
	expect_invalid(exec_when_any(none, 0), -EINVAL);
	/* A NULL array with a count. */
	expect_invalid(exec_when_all(NULL, 3), -EINVAL);
	expect_invalid(exec_when_any(NULL, 3), -EINVAL);
	expect_invalid(exec_when_all(NULL, SIZE_MAX), -EINVAL);
	expect_invalid(exec_when_any(NULL, SIZE_MAX), -EINVAL);
}

/* A sender whose layout is whatever the test says: it is never connected
 * (every build over it must fail before). */
typedef struct fake_sender {
	exec_sender base;
} fake_sender;

static int fake_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	fail_msg("a build that should have failed was connected");
	return -EINVAL;
}

static void fake_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops fake_ops = {"fake", fake_connect, fake_destroy};

static exec_sender *fake(uint32_t op_size, uint32_t max_values)
{
	exec_sender *s = exec_sender_new(&fake_ops, sizeof(fake_sender));
	assert_non_null(s);
	s->op_size = op_size;
	s->max_values = max_values;
	return s;
}

/* Sizes at the limit: a layout that would not fit EXEC_OP_SIZE_MAX must
 * fail the build, never report a smaller size than it needs. */
static void huge_layouts(void **state)
{
	exec_scheduler *in = exec_inline_scheduler();
	uint32_t big = EXEC_OP_SIZE_MAX - 8;
	expect_invalid(exec_then(fake(big, 1), id_fn, NULL), -EINVAL);
	expect_invalid(exec_upon_error(fake(big, 1), upon_err_fn, NULL), -EINVAL);
	expect_invalid(exec_upon_stopped(fake(big, 1), upon_stop_fn, NULL), -EINVAL);
	expect_invalid(exec_stopped_as_error(fake(big, 1), -EIO), -EINVAL);
	expect_invalid(exec_let_value(fake(big, 1), let_v_fn, NULL), -EINVAL);
	expect_invalid(exec_repeat_n(fake(big, 1), 2), -EINVAL);
	expect_invalid(exec_repeat_until(fake(big, 1), pred_fn, NULL), -EINVAL);
	expect_invalid(exec_continues_on(fake(big, 1), in), -EINVAL);
	expect_invalid(exec_starts_on(in, fake(big, 1)), -EINVAL);
	expect_invalid(exec_on(in, fake(big, 1)), -EINVAL);
	expect_invalid(exec_bulk(fake(big, 1), 2, bulk_fn, NULL), -EINVAL);
	expect_invalid(exec_when_all2(fake(big / 2, 1), fake(big / 2, 1)), -EINVAL);
	expect_invalid(exec_when_any2(fake(big / 2, 1), fake(big / 2, 1)), -EINVAL);
	/* Value counts whose storage would not fit. */
	expect_invalid(exec_continues_on(fake(64, UINT32_MAX), in), -EINVAL);
	expect_invalid(exec_on(in, fake(64, UINT32_MAX)), -EINVAL);
	expect_invalid(exec_when_all2(fake(64, UINT32_MAX), fake(64, UINT32_MAX)), -EINVAL);
	/* Below the limit a big layout builds (and is freed unconnected). */
	exec_sender *ok = exec_then(fake(1u << 20, 1), id_fn, NULL);
	assert_int_equal(exec_sender_build_error(ok), 0);
	assert_true(exec_sender_op_size(ok) > (1u << 20));
	exec_sender_free(ok);
}

static void bad_connect_arguments(void **state)
{
	exec_sender *s = exec_then(exec_just_i64(1), id_fn, NULL);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	_Alignas(64) unsigned char buf[1024];
	assert_true(exec_sender_op_size(s) < sizeof buf - 1);
	assert_int_equal(exec_connect(NULL, buf, &t.base), -EINVAL);
	assert_int_equal(exec_connect(s, NULL, &t.base), -EINVAL);
	assert_int_equal(exec_connect(s, buf, NULL), -EINVAL);
	exec_receiver opless = {NULL};
	assert_int_equal(exec_connect(s, buf, &opless), -EINVAL);
	assert_int_equal(exec_connect(s, buf + 1, &t.base), -EINVAL);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_test_receiver_destroy(&t);

	exec_result r;
	assert_int_equal(exec_sync_wait(NULL, &r), -EINVAL);
	assert_int_equal(r.kind, EXEC_RESULT_ERROR);
	assert_int_equal(r.error, -EINVAL);
	assert_int_equal(exec_sync_wait(NULL, NULL), -EINVAL);
	assert_int_equal(exec_sync_wait_with_stop(NULL, exec_stop_token_never(), &r), -EINVAL);
	exec_result_clear(&r);

	assert_int_equal(exec_start_detached(NULL, NULL), -EINVAL);
	assert_int_equal(exec_start_detached(exec_sender_invalid(-EINVAL), NULL), -EINVAL);
	assert_int_equal(exec_start_detached(exec_sender_invalid(-ENOMEM), NULL), -ENOMEM);
	exec_sender_free(s);
}

/* A then function that reads its input with the checked getters turns a
 * wrong value type into an error completion. */
static int wants_i64(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	int64_t x;
	if (n != 1)
		return -EINVAL;
	int rc = exec_value_get_i64(&in[0], &x);
	if (rc < 0)
		return rc;
	out[0] = exec_value_i64(x * 2);
	return 1;
}

static void mismatched_value_types(void **state)
{
	exec_result r;
	exec_sender *s = exec_then(exec_just_f64(2.5), wants_i64, NULL);
	assert_int_equal(exec_sync_wait(s, &r), -EINVAL);
	exec_sender_free(s);
	s = exec_then(exec_just_void(), wants_i64, NULL);
	assert_int_equal(exec_sync_wait(s, &r), -EINVAL);
	exec_sender_free(s);
	s = exec_then(exec_just_i64(21), wants_i64, NULL);
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 42);
	exec_sender_free(s);

	/* Every checked getter refuses every other type and NULL, and leaves
	 * the output alone. */
	char byte;
	exec_value vals[5] = {exec_value_i64(-1), exec_value_u64(1), exec_value_f64(1.0),
			      exec_value_ptr(&byte), exec_value_span(&byte, 1)};
	for (int i = 0; i < 5; i++) {
		int64_t i64 = 7;
		uint64_t u64 = 7;
		double f64 = 7;
		void *p = &i64;
		exec_span sp = {&u64, 7};
		assert_int_equal(exec_value_get_i64(&vals[i], &i64), i == 0 ? 0 : -EINVAL);
		assert_int_equal(exec_value_get_u64(&vals[i], &u64), i == 1 ? 0 : -EINVAL);
		assert_int_equal(exec_value_get_f64(&vals[i], &f64), i == 2 ? 0 : -EINVAL);
		assert_int_equal(exec_value_get_ptr(&vals[i], &p), i == 3 ? 0 : -EINVAL);
		assert_int_equal(exec_value_get_span(&vals[i], &sp), i == 4 ? 0 : -EINVAL);
		if (i != 0)
			assert_int_equal(i64, 7);
		if (i != 3)
			assert_ptr_equal(p, &i64);
	}
	int64_t x;
	assert_int_equal(exec_value_get_i64(NULL, &x), -EINVAL);
}

static exec_sender *let_returns_null(void *ctx, const exec_value *v, size_t n)
{
	return NULL;
}

static exec_sender *let_returns_invalid(void *ctx, const exec_value *v, size_t n)
{
	return exec_then(NULL, id_fn, NULL);
}

static int too_many_out(void *ctx, int err, exec_value *out)
{
	return EXEC_THEN_MAX_VALUES + 1;
}

/* Bad results from user functions at run time. */
static void bad_function_results(void **state)
{
	exec_result r;
	exec_sender *s = exec_let_value(exec_just_i64(1), let_returns_null, NULL);
	assert_int_equal(exec_sync_wait(s, &r), -EINVAL);
	exec_sender_free(s);
	s = exec_let_value(exec_just_i64(1), let_returns_invalid, NULL);
	assert_int_equal(exec_sync_wait(s, &r), -EINVAL);
	exec_sender_free(s);
	s = exec_upon_error(exec_just_error(-EIO), too_many_out, NULL);
	assert_int_equal(exec_sync_wait(s, &r), -ERANGE);
	exec_sender_free(s);
}

static void timers_at_the_limits(void **state)
{
	exec_result r;
	/* No timers on the inline scheduler. */
	exec_sender *s = exec_schedule_after(exec_inline_scheduler(), 1000);
	assert_int_equal(exec_sync_wait(s, &r), -ENOTSUP);
	exec_sender_free(s);
	/* A deadline in the distant past runs now; INT64_MAX waits (and must
	 * not overflow computing its deadline) until stopped. */
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_sender *past[2] = {exec_schedule_at(exec_run_loop_scheduler(&loop), INT64_MIN),
				exec_schedule_after(exec_run_loop_scheduler(&loop), INT64_MIN)};
	for (int i = 0; i < 2; i++) {
		exec_test_receiver p;
		exec_test_receiver_init(&p);
		exec_test_run(past[i], &p);
		exec_run_loop_run_until_empty(&loop);
		exec_test_assert_value(&p);
		exec_test_receiver_destroy(&p);
		exec_sender_free(past[i]);
	}
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&stop);
	s = exec_schedule_after(exec_run_loop_scheduler(&loop), INT64_MAX);
	exec_test_run(s, &t);
	exec_run_loop_run_until_empty(&loop);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&stop);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void strerror_total(void **state)
{
	int codes[] = {0, EXEC_STOPPED, -EINVAL, -ENOMEM, -1, -4095, -4096, -99999,
		       INT_MIN, INT_MAX, 12345};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *m = exec_strerror(codes[i]);
		assert_non_null(m);
		assert_true(strlen(m) > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(null_child_senders),
		cmocka_unit_test(null_functions),
		cmocka_unit_test(null_schedulers),
		cmocka_unit_test(bad_values_and_codes),
		cmocka_unit_test(build_errors_propagate),
		cmocka_unit_test(zero_children),
		cmocka_unit_test(huge_layouts),
		cmocka_unit_test(bad_connect_arguments),
		cmocka_unit_test(mismatched_value_types),
		cmocka_unit_test(bad_function_results),
		cmocka_unit_test(timers_at_the_limits),
		cmocka_unit_test(strerror_total),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
