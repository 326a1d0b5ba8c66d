/* tests for io/io.c on loopback TCP: accept + connect, multishot accept,
 * EMFILE on accept, peer resets, and 1,000 connections each echoing once
 * (io_conn_long_test runs 10,000), on both backends. */
#include "io_echo_many.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

static void accept_and_connect(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	struct sockaddr_in la;
	int l = test_listener(8, &la);
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	exec_sender *ac = exec_io_accept(loop, l, (struct sockaddr *)&peer, &plen,
					 SOCK_CLOEXEC);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	exec_sender *cn = exec_io_connect(loop, c, (struct sockaddr *)&la, sizeof la);
	exec_test_receiver ta, tc;
	exec_test_receiver_init(&ta);
	exec_test_receiver_init(&tc);
	/* accept first, so it waits for the connect of the same loop. */
	test_io_start(loop, ac, &ta, exec_stop_token_never());
	test_spin(loop, 2);
	assert_int_equal(exec_test_completions(&ta), 0);
	test_io_start(loop, cn, &tc, exec_stop_token_never());
	test_run_until(loop, &tc);
	test_run_until(loop, &ta);
	exec_test_assert_value(&tc);
	exec_test_assert_i64(&tc, 0, 0);
	exec_test_assert_value(&ta);
	int s = (int)ta.values[0].as.i64;
	assert_true(s >= 0);
	assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
	struct sockaddr_in ca;
	socklen_t clen = sizeof ca;
	assert_int_equal(getsockname(c, (struct sockaddr *)&ca, &clen), 0);
	assert_int_equal(peer.sin_port, ca.sin_port);
	/* The pair carries data both ways. */
	char buf[8];
	assert_int_equal(test_io_value(loop, exec_io_send(loop, c, "hi", 2, 0)), 2);
	assert_int_equal(test_io_value(loop, exec_io_recv(loop, s, buf, 8, 0)), 2);
	assert_int_equal(test_io_value(loop, exec_io_send(loop, s, "yo", 2, 0)), 2);
	assert_int_equal(test_io_value(loop, exec_io_recv(loop, c, buf, 8, 0)), 2);
	assert_memory_equal(buf, "yo", 2);
	/* accept without an address. */
	int c2 = test_client(&la);
	int s2 = (int)test_io_value(loop, exec_io_accept(loop, l, NULL, NULL, 0));
	assert_true(s2 >= 0);
	close(s2);
	close(c2);
	close(s);
	close(c);
	exec_sender_free(ac);
	exec_sender_free(cn);
	exec_test_receiver_destroy(&ta);
	exec_test_receiver_destroy(&tc);

	/* Nobody listens: refused. */
	close(l);
	int c3 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(test_io_error(loop, exec_io_connect(loop, c3,
							      (struct sockaddr *)&la,
							      sizeof la)),
			 -ECONNREFUSED);
	close(c3);
	exec_io_loop_destroy(loop);
}

typedef struct accepted {
	int fds[64];
	int n;
} accepted;

static void take_fd(void *ctx, int fd)
{
	accepted *a = ctx;
	assert_true(fd >= 0);
	assert_true(a->n < 64);
	a->fds[a->n++] = fd;
}

/* Multishot accept delivers every connection, in waves, with clients
 * that connect while it is armed. */
static void multishot_accept_n(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	struct sockaddr_in la;
	int l = test_listener(64, &la);
	enum { N = 48 };
	accepted got;
	memset(&got, 0, sizeof got);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *ms = exec_io_accept_multishot(loop, l, SOCK_CLOEXEC, take_fd, &got);
	test_io_start(loop, ms, &t, exec_stop_source_token(&src));
	int c[N];
	for (int wave = 0; wave < 3; wave++) {
		for (int i = wave * N / 3; i < (wave + 1) * N / 3; i++)
			c[i] = test_client(&la);
		for (int i = 0; i < 100000 && got.n < (wave + 1) * N / 3; i++)
			assert_true(exec_io_loop_run_once(loop, true) >= 0);
		assert_int_equal(got.n, (wave + 1) * N / 3);
	}
	assert_int_equal(exec_test_completions(&t), 0);
	/* Each accepted fd is the server end of one distinct client. */
	for (int i = 0; i < N; i++) {
		struct sockaddr_in p, ca;
		socklen_t pl = sizeof p, cl = sizeof ca;
		assert_int_equal(getpeername(got.fds[i], (struct sockaddr *)&p, &pl), 0);
		assert_int_equal(getsockname(c[i], (struct sockaddr *)&ca, &cl), 0);
		assert_int_equal(p.sin_port, ca.sin_port); /* FIFO backlog */
	}
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	for (int i = 0; i < N; i++) {
		close(got.fds[i]);
		close(c[i]);
	}
	close(l);
	exec_sender_free(ms);
	exec_test_receiver_destroy(&t);
	exec_io_loop_destroy(loop);
}

/* What a kernel without IORING_ACCEPT_MULTISHOT (or without provided
 * buffer rings) gets, checked on this kernel by clearing the probed
 * flags before building: multishot accept falls back to repeated single
 * accepts and still delivers every connection and stops cleanly; buffer
 * rings say -EOPNOTSUPP (and their tests skip). On epoll these flags are
 * always clear, so both groups cover the fallback. */
static void without_probed_features(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	exec_io_features *f = (exec_io_features *)exec_io_loop_features(loop);
	f->multishot_accept = false;
	f->buf_ring = false;
	exec_io_buf_ring *ring = NULL;
	int rc = exec_io_buf_ring_create(loop, 2, 64, 7, &ring);
	if (test_backend == EXEC_IO_BACKEND_URING)
		assert_int_equal(rc, -EOPNOTSUPP);
	else
		exec_io_buf_ring_destroy(ring); /* epoll emulates them */

	struct sockaddr_in la;
	int l = test_listener(16, &la);
	accepted got;
	memset(&got, 0, sizeof got);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *ms = exec_io_accept_multishot(loop, l, SOCK_CLOEXEC, take_fd, &got);
	test_io_start(loop, ms, &t, exec_stop_source_token(&src));
	int c[8];
	for (int i = 0; i < 8; i++)
		c[i] = test_client(&la);
	for (int i = 0; i < 100000 && got.n < 8; i++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(got.n, 8);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	for (int i = 0; i < 8; i++) {
		close(got.fds[i]);
		close(c[i]);
	}
	close(l);
	exec_sender_free(ms);
	exec_test_receiver_destroy(&t);
	exec_io_loop_destroy(loop);
}


/* The lowest free fd number: every fd below it is open. */
static int lowest_free_fd(void)
{
	int k = dup(0);
	assert_true(k >= 0);
	close(k);
	return k;
}

/* accept with no fd left: -EMFILE on the error channel (single and
 * multishot); once fds are free again, the waiting connection is
 * accepted. The limit is lowered and restored around the failing part. */
static void emfile_on_accept(void **state)
{
	(void)state;
	/* valgrind emulates RLIMIT_NOFILE: the kernel accepts, valgrind
	 * closes the new fd and says EMFILE, so the waiting connection is
	 * gone and the second accept would wait for ever. */
	if (exec_test_skip_on_valgrind("emfile_on_accept",
				       "its RLIMIT_NOFILE emulation closes the accepted connection")) {
		skip();
		return;
	}
	exec_io_loop *loop = test_loop_new();
	struct sockaddr_in la;
	int l = test_listener(8, &la);
	int c = test_client(&la);
	accepted got;
	memset(&got, 0, sizeof got);
	exec_sender *ac = exec_io_accept(loop, l, NULL, NULL, SOCK_CLOEXEC);
	exec_sender *ms = exec_io_accept_multishot(loop, l, SOCK_CLOEXEC, take_fd, &got);
	/* Connect both test receivers' storage now: no fd needed later. */
	test_spin(loop, 2);
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest_free_fd();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	exec_test_receiver t1, t2;
	exec_test_receiver_init(&t1);
	exec_test_receiver_init(&t2);
	test_io_start(loop, ac, &t1, exec_stop_token_never());
	test_run_until(loop, &t1);
	test_io_start(loop, ms, &t2, exec_stop_token_never());
	test_run_until(loop, &t2);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	exec_test_assert_error(&t1, -EMFILE);
	exec_test_assert_error(&t2, -EMFILE);
	assert_int_equal(got.n, 0);
	/* Fds are back: the same connection is accepted now. */
	int s = (int)test_io_value(loop, exec_sender_ref(ac));
	assert_true(s >= 0);
	assert_int_equal(test_io_value(loop, exec_io_send(loop, c, "z", 1, 0)), 1);
	char b;
	assert_int_equal(test_io_value(loop, exec_io_recv(loop, s, &b, 1, 0)), 1);
	assert_int_equal(b, 'z');
	close(s);
	close(c);
	close(l);
	exec_sender_free(ac);
	exec_sender_free(ms);
	exec_test_receiver_destroy(&t1);
	exec_test_receiver_destroy(&t2);
	exec_io_loop_destroy(loop);
}

/* An RST (linger 0 close) on the peer. */
static void reset(int fd)
{
	struct linger lg = {1, 0};
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(fd);
}

static int pending_bytes(int fd)
{
	int n = -1;
	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* The peer resets while a recv waits, and while read_exactly is between
 * pieces: -ECONNRESET reaches the error channel; the loop goes on. */
static void peer_reset_mid_read(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int s, c;
	test_tcp_pair(&s, &c);
	char buf[64];
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *rd = exec_io_recv(loop, s, buf, sizeof buf, 0);
	test_io_start(loop, rd, &t, exec_stop_token_never());
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	reset(c);
	test_run_until(loop, &t);
	exec_test_assert_error(&t, -ECONNRESET);
	close(s);

	test_tcp_pair(&s, &c);
	exec_test_receiver t2;
	exec_test_receiver_init(&t2);
	exec_sender *rx = exec_io_read_exactly(loop, s, buf, sizeof buf, -1);
	test_io_start(loop, rx, &t2, exec_stop_token_never());
	assert_int_equal(write(c, "part", 4), 4);
	for (int i = 0; i < 1000 && pending_bytes(s) > 0; i++)
		test_spin(loop, 1);
	assert_int_equal(pending_bytes(s), 0);
	test_spin(loop, 2);
	assert_int_equal(exec_test_completions(&t2), 0);
	reset(c);
	test_run_until(loop, &t2);
	exec_test_assert_error(&t2, -ECONNRESET);
	assert_memory_equal(buf, "part", 4);
	/* Sending to the reset connection fails too, without SIGPIPE. */
	int e = test_io_error(loop, exec_io_send(loop, s, "x", 1, 0));
	assert_true(e == -EPIPE || e == -ECONNRESET);
	close(s);
	/* Still a working loop. */
	assert_int_equal(test_io_value(loop, exec_io_timeout(loop, 0)), 0);
	exec_sender_free(rd);
	exec_sender_free(rx);
	exec_test_receiver_destroy(&t);
	exec_test_receiver_destroy(&t2);
	exec_io_loop_destroy(loop);
}

static void thousand_connections_echo_once(void **state)
{
	(void)state;
	echo_many(1000);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(accept_and_connect),
	cmocka_unit_test(multishot_accept_n),
	cmocka_unit_test(without_probed_features),
	cmocka_unit_test(emfile_on_accept),
	cmocka_unit_test(peer_reset_mid_read),
	cmocka_unit_test(thousand_connections_echo_once),
};

TEST_MAIN_BOTH_BACKENDS(tests)
