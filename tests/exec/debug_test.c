/* tests for exec/debug.c: the in-flight registry and its dump, with the io
 * senders (which register themselves) on both loop backends. */
#include "cexec_test.h"
#include "on_valgrind.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec/debug.h"

static exec_io_backend backend = EXEC_IO_BACKEND_URING;

static exec_io_loop *loop_new(void)
{
	exec_io_loop_options o = {.backend = backend};
	exec_io_loop *loop = NULL;
	int rc = exec_io_loop_create(&loop, &o);
	if (rc < 0 && backend == EXEC_IO_BACKEND_URING) {
		o.backend = EXEC_IO_BACKEND_EPOLL; /* io_uring refused here */
		rc = exec_io_loop_create(&loop, &o);
	}
	assert_int_equal(rc, 0);
	return loop;
}

/* Reads what exec_debug_dump wrote into a pipe. */
static void dump_to_string(char *buf, size_t cap, int *listed)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	*listed = exec_debug_dump(p[1]);
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while (len + 1 < cap && (n = read(p[0], buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
}

static void run_until(exec_io_loop *loop, exec_test_receiver *t)
{
	for (int i = 0; i < 100000 && exec_test_completions(t) == 0; i++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(exec_test_completions(t), 1);
}

/* A recv with nothing to read stays listed; one whose data was there
 * completes and disappears; a stopped one disappears too. */
static void dump_lists_pending_not_completed(void **state)
{
	(void)state;
	exec_debug_enable(true);
	exec_io_loop *loop = loop_new();
	int a[2], b[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(write(b[1], "x", 1), 1);
	char bufa[8], bufb[8];
	exec_sender *ra = exec_io_recv(loop, a[0], bufa, sizeof bufa, 0);
	exec_sender *rb = exec_io_recv(loop, b[0], bufb, sizeof bufb, 0);
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	exec_test_receiver ta, tb;
	exec_test_receiver_init(&ta);
	exec_test_receiver_init(&tb);
	ta.env.stop_token = exec_stop_source_token(&stop);
	ta.env.scheduler = exec_io_loop_scheduler(loop);
	tb.env.scheduler = exec_io_loop_scheduler(loop);
	assert_int_equal(exec_test_connect(ra, &ta), 0);
	assert_int_equal(exec_test_connect(rb, &tb), 0);

	/* Connected, not started: nothing registered. */
	assert_int_equal(exec_debug_inflight_count(), 0);
	/* Started from outside the loop: they begin (and register) when the
	 * loop runs. */
	exec_test_start(&ta);
	exec_test_start(&tb);
	run_until(loop, &tb);
	exec_test_assert_i64(&tb, 0, 1);

	char out[4096], want[64], gone[64];
	int listed;
	dump_to_string(out, sizeof out, &listed);
	assert_int_equal(listed, 1);
	snprintf(want, sizeof want, "recv fd=%d on io_loop", a[0]);
	snprintf(gone, sizeof gone, "fd=%d ", b[0]);
	assert_non_null(strstr(out, "1 operation(s) in flight"));
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, exec_io_loop_backend_name(loop)));
	assert_non_null(strstr(out, " ms ago"));
	assert_null(strstr(out, gone));

	exec_stop_source_request(&stop);
	run_until(loop, &ta);
	exec_test_assert_stopped(&ta);
	dump_to_string(out, sizeof out, &listed);
	assert_int_equal(listed, 0);
	assert_non_null(strstr(out, "0 operation(s) in flight"));

	exec_test_receiver_destroy(&ta);
	exec_test_receiver_destroy(&tb);
	exec_sender_free(ra);
	exec_sender_free(rb);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	exec_io_loop_destroy(loop);
}

/* Disabled: operations do not register, the dump says how to enable. */
static void disabled_registers_nothing(void **state)
{
	(void)state;
	exec_debug_enable(false);
	exec_io_loop *loop = loop_new();
	int a[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	char buf[8];
	exec_sender *r = exec_io_recv(loop, a[0], buf, sizeof buf, 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.scheduler = exec_io_loop_scheduler(loop);
	assert_int_equal(exec_test_connect(r, &t), 0);
	exec_test_start(&t);
	assert_true(exec_io_loop_run_once(loop, false) >= 0); /* it begins */
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(exec_debug_inflight_count(), 0);
	char out[1024];
	int listed;
	dump_to_string(out, sizeof out, &listed);
	assert_int_equal(listed, 0);
	assert_non_null(strstr(out, "registry disabled"));
	/* Turning it on later does not list (or break) an op started before. */
	exec_debug_enable(true);
	assert_int_equal(write(a[1], "yz", 2), 2);
	run_until(exec_io_loop_from_scheduler(t.env.scheduler), &t);
	exec_test_assert_i64(&t, 0, 2);
	assert_int_equal(exec_debug_inflight_count(), 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(r);
	close(a[0]), close(a[1]);
	exec_io_loop_destroy(loop);
}

/* The dump works from a signal handler (write(2) only, no allocation). */
static int sig_fd = -1;
static volatile int sig_listed = -100;
static void on_usr1(int sig)
{
	(void)sig;
	sig_listed = exec_debug_dump(sig_fd);
}

static void dump_from_signal_handler(void **state)
{
	(void)state;
	exec_debug_enable(true);
	exec_io_loop *loop = loop_new();
	int a[2], p[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(pipe(p), 0);
	char buf[8];
	exec_sender *r = exec_io_recv(loop, a[0], buf, sizeof buf, 0);
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&stop);
	t.env.scheduler = exec_io_loop_scheduler(loop);
	assert_int_equal(exec_test_connect(r, &t), 0);
	exec_test_start(&t);
	assert_true(exec_io_loop_run_once(loop, false) >= 0); /* it begins */
	sig_fd = p[1];
	struct sigaction sa = {.sa_handler = on_usr1}, old;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	raise(SIGUSR1);
	sigaction(SIGUSR1, &old, NULL);
	close(p[1]);
	assert_int_equal(sig_listed, 1);
	char out[1024];
	ssize_t n = read(p[0], out, sizeof out - 1);
	assert_true(n > 0);
	out[n] = '\0';
	char want[64];
	snprintf(want, sizeof want, "recv fd=%d", a[0]);
	assert_non_null(strstr(out, want));
	close(p[0]);
	exec_stop_source_request(&stop);
	run_until(loop, &t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(r);
	close(a[0]), close(a[1]);
	exec_io_loop_destroy(loop);
}

/* A user-defined operation can register too. */
static void custom_registration(void **state)
{
	(void)state;
	exec_debug_enable(true);
	exec_debug_op op;
	exec_debug_op_begin(&op, "my_sender", NULL, NULL, NULL, -1);
	char out[1024];
	int listed;
	dump_to_string(out, sizeof out, &listed);
	assert_int_equal(listed, 1);
	assert_non_null(strstr(out, "  my_sender, started "));
	exec_debug_op_end(&op);
	exec_debug_op_end(&op); /* twice: harmless */
	assert_int_equal(exec_debug_inflight_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dump_lists_pending_not_completed),
		cmocka_unit_test(disabled_registers_nothing),
		cmocka_unit_test(dump_from_signal_handler),
		cmocka_unit_test(custom_registration),
	};
	int failed = 0;
	if (!exec_test_skip_on_valgrind("the io_uring group", EXEC_TEST_VALGRIND_URING))
		failed += cmocka_run_group_tests_name("debug (io_uring)", tests, NULL, NULL);
	backend = EXEC_IO_BACKEND_EPOLL;
	failed += cmocka_run_group_tests_name("debug (epoll)", tests, NULL, NULL);
	return failed;
}
