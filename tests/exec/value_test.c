/* tests for exec/value.c */
#include "cexec_test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void constructors_and_checked_getters(void **state)
{
	int64_t i;
	uint64_t u;
	double f;
	void *p;
	exec_span sp;
	int x = 3;

	exec_value v = exec_value_i64(-5);
	assert_int_equal(v.type, EXEC_VALUE_I64);
	assert_int_equal(exec_value_get_i64(&v, &i), 0);
	assert_int_equal(i, -5);
	assert_int_equal(exec_value_as_i64(&v), -5);

	v = exec_value_u64(UINT64_MAX);
	assert_int_equal(v.type, EXEC_VALUE_U64);
	assert_int_equal(exec_value_get_u64(&v, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_true(exec_value_as_u64(&v) == UINT64_MAX);

	v = exec_value_f64(2.5);
	assert_int_equal(v.type, EXEC_VALUE_F64);
	assert_int_equal(exec_value_get_f64(&v, &f), 0);
	assert_true(f == 2.5);
	assert_true(exec_value_as_f64(&v) == 2.5);

	v = exec_value_ptr(&x);
	assert_int_equal(v.type, EXEC_VALUE_PTR);
	assert_int_equal(exec_value_get_ptr(&v, &p), 0);
	assert_ptr_equal(p, &x);
	assert_ptr_equal(exec_value_as_ptr(&v), &x);

	char buf[] = "hello";
	v = exec_value_span(buf, 5);
	assert_int_equal(v.type, EXEC_VALUE_SPAN);
	assert_int_equal(exec_value_get_span(&v, &sp), 0);
	assert_ptr_equal(sp.ptr, buf);
	assert_int_equal(sp.len, 5);
	assert_int_equal(exec_value_as_span(&v).len, 5);
}

static void narrow_constructors_clear_the_union(void **state)
{
	/* The rest of the union is zero, so values compare bytewise. */
	exec_value a = exec_value_i64(1), b = exec_value_i64(1);
	assert_memory_equal(&a.as, &b.as, sizeof a.as);
	assert_null(a.as.span.len ? (void *)1 : NULL);
	exec_value c = exec_value_ptr(NULL);
	assert_int_equal(c.as.span.len, 0);
}

static void mismatched_getters_are_einval(void **state)
{
	int64_t i = 77;
	uint64_t u = 77;
	double f = 77;
	void *p = &i;
	exec_span sp = {&i, 1};
	exec_value v = exec_value_f64(1.0);
	assert_int_equal(exec_value_get_i64(&v, &i), -EINVAL);
	assert_int_equal(i, 77); /* untouched */
	assert_int_equal(exec_value_get_u64(&v, &u), -EINVAL);
	assert_int_equal(exec_value_get_ptr(&v, &p), -EINVAL);
	assert_int_equal(exec_value_get_span(&v, &sp), -EINVAL);
	v = exec_value_i64(1);
	assert_int_equal(exec_value_get_f64(&v, &f), -EINVAL);
	assert_true(f == 77);
	/* NULL value or output. */
	assert_int_equal(exec_value_get_i64(NULL, &i), -EINVAL);
	assert_int_equal(exec_value_get_i64(&v, NULL), -EINVAL);
	exec_value none = {0};
	assert_int_equal(none.type, EXEC_VALUE_NONE);
	assert_int_equal(exec_value_get_i64(&none, &i), -EINVAL);
}

static void type_names(void **state)
{
	assert_string_equal(exec_value_type_name(EXEC_VALUE_NONE), "none");
	assert_string_equal(exec_value_type_name(EXEC_VALUE_I64), "i64");
	assert_string_equal(exec_value_type_name(EXEC_VALUE_U64), "u64");
	assert_string_equal(exec_value_type_name(EXEC_VALUE_F64), "f64");
	assert_string_equal(exec_value_type_name(EXEC_VALUE_PTR), "ptr");
	assert_string_equal(exec_value_type_name(EXEC_VALUE_SPAN), "span");
	assert_string_equal(exec_value_type_name((exec_value_type)99), "invalid");
}

/* exec_value_type_mismatch aborts (every build); exec_value_as_* call it
 * on a mismatch in debug builds only. Both checked in a child process. */
static int child_status(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Quiet: the message goes to stderr, which the test keeps. */
		fn();
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void call_mismatch(void)
{
	exec_value v = exec_value_u64(1);
	exec_value_type_mismatch(&v, EXEC_VALUE_I64);
}

static volatile int64_t sink;
static void call_as_wrong_type(void)
{
	exec_value v = exec_value_f64(1.0);
	sink = exec_value_as_i64(&v);
}

static void mismatch_aborts(void **state)
{
	int st = child_status(call_mismatch);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	st = child_status(call_as_wrong_type);
#ifdef NDEBUG
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#else
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(constructors_and_checked_getters),
		cmocka_unit_test(narrow_constructors_clear_the_union),
		cmocka_unit_test(mismatched_getters_are_einval),
		cmocka_unit_test(type_names),
		cmocka_unit_test(mismatch_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
