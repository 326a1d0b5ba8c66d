/* tests for exec/error.c */
#include "cexec_test.h"

#include <errno.h>

#define CODE(e) {-e, #e}
/* Every code the library and its I/O layer return (grep the sources for
 * "-E"), plus the io_uring results users commonly see. */
static const struct {
	int code;
	const char *name;
} codes[] = {
	CODE(EPERM),	  CODE(ENOENT),	     CODE(EINTR),	CODE(EIO),
	CODE(EBADF),	  CODE(EAGAIN),	     CODE(ENOMEM),	CODE(EACCES),
	CODE(EFAULT),	  CODE(EBUSY),	     CODE(EEXIST),	CODE(ENOTDIR),
	CODE(EISDIR),	  CODE(EINVAL),	     CODE(ENFILE),	CODE(EMFILE),
	CODE(ENOSPC),	  CODE(EPIPE),	     CODE(ERANGE),	CODE(EDEADLK),
	CODE(ENOSYS),	  CODE(EOVERFLOW),   CODE(ENOTSOCK),	CODE(EMSGSIZE),
	CODE(EOPNOTSUPP), CODE(EADDRINUSE),  CODE(EADDRNOTAVAIL), CODE(ENETUNREACH),
	CODE(ECONNABORTED), CODE(ECONNRESET), CODE(ENOBUFS),	CODE(EISCONN),
	CODE(ENOTCONN),	  CODE(ETIMEDOUT),   CODE(ECONNREFUSED), CODE(EHOSTUNREACH),
	CODE(EALREADY),	  CODE(EINPROGRESS), CODE(ECANCELED),	CODE(ESHUTDOWN),
	CODE(EPROTO),	  CODE(E2BIG),	     CODE(ESRCH),	CODE(ETIME),
};

static void every_code_has_a_name_and_message(void **state)
{
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *msg = exec_strerror(codes[i].code);
		assert_non_null(msg);
		assert_string_not_equal(msg, "unknown error");
		assert_true(strlen(msg) > 3);
		assert_string_equal(exec_err_name(codes[i].code), codes[i].name);
	}
}

static void names_and_messages_are_distinct(void **state)
{
	size_t n = sizeof codes / sizeof codes[0];
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			assert_int_not_equal(codes[i].code, codes[j].code);
			assert_string_not_equal(exec_strerror(codes[i].code),
						exec_strerror(codes[j].code));
		}
}

static void success_and_stopped(void **state)
{
	assert_string_equal(exec_err_name(0), "OK");
	assert_string_equal(exec_strerror(0), "success");
	assert_string_equal(exec_err_name(EXEC_STOPPED), "stopped");
	assert_string_equal(exec_strerror(EXEC_STOPPED), "operation stopped");
	/* Stopped is its own thing, not a cancelled error. */
	assert_int_not_equal(EXEC_STOPPED, -ECANCELED);
	assert_string_not_equal(exec_strerror(EXEC_STOPPED), exec_strerror(-ECANCELED));
}

static void aliases(void **state)
{
	/* On Linux ENOTSUP and EOPNOTSUPP are the same number: one name. */
	if (ENOTSUP == EOPNOTSUPP)
		assert_string_equal(exec_err_name(-ENOTSUP), "EOPNOTSUPP");
	else
		assert_string_equal(exec_err_name(-ENOTSUP), "ENOTSUP");
	assert_string_not_equal(exec_strerror(-ENOTSUP), "unknown error");
}

static void unknown_codes(void **state)
{
	const int unknown[] = {-100000, 100000, 2, -EHWPOISON, INT32_MIN, INT32_MAX};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		assert_string_equal(exec_strerror(unknown[i]), "unknown error");
		assert_string_equal(exec_err_name(unknown[i]), "UNKNOWN");
	}
	/* Positive errno (a common mistake) is not silently accepted. */
	assert_string_equal(exec_err_name(ENOMEM), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_has_a_name_and_message),
		cmocka_unit_test(names_and_messages_are_distinct),
		cmocka_unit_test(success_and_stopped),
		cmocka_unit_test(aliases),
		cmocka_unit_test(unknown_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
