/* tests/io/io_test_util.h - helpers for the I/O loop tests: every test
 * program runs its cmocka group once per backend (io_uring, then epoll),
 * creating its loops through test_loop_new, so the whole suite covers
 * both. */
#ifndef CEXEC_IO_TEST_UTIL_H
#define CEXEC_IO_TEST_UTIL_H

#include "cexec_test.h"
#include "on_valgrind.h"

#include <errno.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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

/* Whether io_uring exists here at all (else its group is skipped). Under
 * valgrind (the long mode's memcheck run) the io_uring group is left out
 * too; the epoll group still runs. */
static inline bool test_uring_available(void)
{
	if (exec_test_skip_on_valgrind("the io_uring group", EXEC_TEST_VALGRIND_URING))
		return false;
	exec_io_loop_options o;
	memset(&o, 0, sizeof o);
	o.backend = EXEC_IO_BACKEND_URING;
	exec_io_loop *loop = NULL;
	if (exec_io_loop_create(&loop, &o) < 0)
		return false;
	exec_io_loop_destroy(loop);
	return true;
}

/* ---- running I/O senders ---- */

/* Connects s into t (env: the loop's scheduler and tok) and starts it. */
static inline void test_io_start(exec_io_loop *loop, const exec_sender *s,
				 exec_test_receiver *t, exec_stop_token tok)
{
	t->env.scheduler = exec_io_loop_scheduler(loop);
	t->env.stop_token = tok;
	assert_int_equal(exec_test_connect(s, t), 0);
	exec_test_start(t);
}

/* Runs s (consumed) to completion; asserts the value channel and returns
 * the i64 value. */
static inline int64_t test_io_value(exec_io_loop *loop, exec_sender *s)
{
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_token_never());
	test_run_until(loop, &t);
	if (AO_load(&t.error_calls))
		fprintf(stderr, "unexpected error %d (%s)\n", t.error,
			exec_strerror(t.error));
	exec_test_assert_value(&t);
	int64_t v = t.count ? t.values[0].as.i64 : 0;
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	return v;
}

/* Runs s (consumed) to completion; asserts the error channel and returns
 * the error. */
static inline int test_io_error(exec_io_loop *loop, exec_sender *s)
{
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_token_never());
	test_run_until(loop, &t);
	assert_int_equal(AO_load(&t.error_calls), 1);
	int e = t.error;
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	return e;
}

/* A listening TCP socket on 127.0.0.1 (kernel-chosen port). */
static inline int test_listener(int backlog, struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
	socklen_t len = sizeof *addr;
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* A blocking client socket connected to addr (the listener's backlog
 * completes the handshake without an accept). */
static inline int test_client(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof *addr), 0);
	return fd;
}

/* A connected pair of TCP sockets on loopback: *server (accepted) and
 * *client. */
static inline void test_tcp_pair(int *server, int *client)
{
	struct sockaddr_in a;
	int l = test_listener(1, &a);
	*client = test_client(&a);
	*server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	close(l);
}

/* A delay that never elapses during a test run: reaching it is a bug. */
#define TEST_IO_LONG_DELAY (3600 * EXEC_NS_PER_S)

/* Skips the running test, saying why (cmocka's skip() says nothing). */
#define test_skip(why)                                                  \
	do {                                                            \
		fprintf(stderr, "[  SKIP    ] %s\n", (why));             \
		skip();                                                 \
	} while (0)

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
