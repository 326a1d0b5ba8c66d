/* tests/io/io_test_util.h - helpers for the I/O loop tests: every test
 * program runs its cmocka group once per backend (io_uring, then epoll),
 * creating its loops through test_loop_new, so the whole suite covers
 * both. */
#ifndef CEXEC_IO_TEST_UTIL_H
#define CEXEC_IO_TEST_UTIL_H

#include "cexec_test.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static exec_io_backend test_backend = EXEC_IO_BACKEND_URING;

static inline exec_io_loop *test_loop_new(void)
{
	exec_io_loop_options o;
	memset(&o, 0, sizeof o);
	o.backend = test_backend;
	exec_io_loop *loop = NULL;
	assert_int_equal(exec_io_loop_create(&loop, &o), 0);
	assert_int_equal(exec_io_loop_backend(loop), test_backend);
	return loop;
}

/* Runs the loop until t has completed (at most `limit` iterations, so a
 * bug fails the test instead of hanging it). */
static inline void test_run_until(exec_io_loop *loop, exec_test_receiver *t)
{
	for (int i = 0; i < 1000000 && exec_test_completions(t) == 0; i++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(exec_test_completions(t), 1);
}

/* Runs a few non-blocking iterations (lets submissions reach the kernel). */
static inline void test_spin(exec_io_loop *loop, int n)
{
	for (int i = 0; i < n; i++)
		assert_true(exec_io_loop_run_once(loop, false) >= 0);
}

/* Whether io_uring exists here at all (else its group is skipped). */
static inline bool test_uring_available(void)
{
	exec_io_loop_options o;
	memset(&o, 0, sizeof o);
	o.backend = EXEC_IO_BACKEND_URING;
	exec_io_loop *loop = NULL;
	if (exec_io_loop_create(&loop, &o) < 0)
		return false;
	exec_io_loop_destroy(loop);
	return true;
}

/* main(): the group under both backends. */
#define TEST_MAIN_BOTH_BACKENDS(tests)                                        \
	int main(void)                                                        \
	{                                                                     \
		int failed = 0;                                               \
		if (test_uring_available()) {                                 \
			test_backend = EXEC_IO_BACKEND_URING;                 \
			failed += cmocka_run_group_tests_name("io_uring", tests, \
							      NULL, NULL);    \
		} else {                                                      \
			fprintf(stderr, "io_uring unavailable here: its "     \
					"group is skipped\n");                \
		}                                                             \
		test_backend = EXEC_IO_BACKEND_EPOLL;                         \
		failed += cmocka_run_group_tests_name("epoll", tests, NULL, NULL); \
		return failed;                                                \
	}

#endif
