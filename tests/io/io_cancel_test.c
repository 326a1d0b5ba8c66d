/* tests for io/io.c: stop requests on I/O senders (async cancel), on both
 * backends. The rule under test: a stopped sender completes only after
 * the kernel let go of its buffers, so the caller may reuse them at once. */
#include "io_test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>

static int pending_bytes(int fd)
{
	int n = -1;
	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* recv in flight, stop: completes stopped; the buffer is ours right
 * after (data sent later is not written into it and stays queued). */
static void cancel_inflight_recv(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char buf[64];
	memset(buf, 0, sizeof buf);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *rd = exec_io_recv(loop, sv[0], buf, sizeof buf, 0);
	test_io_start(loop, rd, &t, exec_stop_source_token(&src));
	test_spin(loop, 3); /* the recv is in the kernel, waiting */
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);

	/* Reuse the buffer at once: rewrite it, then let data arrive. */
	memset(buf, 0xAA, sizeof buf);
	assert_int_equal(write(sv[1], "late data", 9), 9);
	test_spin(loop, 5);
	for (size_t i = 0; i < sizeof buf; i++)
		assert_int_equal((unsigned char)buf[i], 0xAA);
	assert_int_equal(pending_bytes(sv[0]), 9);
	/* Only a new recv takes it. */
	assert_int_equal(test_io_value(loop, exec_io_recv(loop, sv[0], buf, sizeof buf, 0)),
			 9);
	assert_memory_equal(buf, "late data", 9);
	assert_int_equal((unsigned char)buf[9], 0xAA);

	exec_sender_free(rd);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* send blocked on a full socket (the peer reads nothing), stop: completes
 * stopped, as a recv does (a server's slow-client timeout relies on it). */
static void cancel_blocked_send(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	static char fill[1 << 16];
	while (write(sv[0], fill, sizeof fill) > 0)
		; /* until EAGAIN: the socket's buffers are full */
	static char buf[1 << 16];
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *sd = exec_io_send(loop, sv[0], buf, sizeof buf, MSG_NOSIGNAL);
	test_io_start(loop, sd, &t, exec_stop_source_token(&src));
	test_spin(loop, 3); /* the send is in the kernel, waiting for room */
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	exec_sender_free(sd);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* accept in flight, stop: stopped; the address buffers are ours again,
 * the pending connection is left for the next accept. */
static void cancel_inflight_accept(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	struct sockaddr_in la;
	int l = test_listener(8, &la);
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *ac = exec_io_accept(loop, l, (struct sockaddr *)&peer, &plen,
					 SOCK_CLOEXEC);
	test_io_start(loop, ac, &t, exec_stop_source_token(&src));
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);

	memset(&peer, 0xAA, sizeof peer);
	plen = 0x5555;
	int c = test_client(&la);
	test_spin(loop, 5);
	for (size_t i = 0; i < sizeof peer; i++)
		assert_int_equal(((unsigned char *)&peer)[i], 0xAA);
	assert_int_equal(plen, 0x5555);

	/* The connection waits for the next accept, into the same buffers. */
	plen = sizeof peer;
	int fd = (int)test_io_value(loop, exec_sender_ref(ac));
	assert_true(fd >= 0);
	struct sockaddr_in ca;
	socklen_t clen = sizeof ca;
	assert_int_equal(getsockname(c, (struct sockaddr *)&ca, &clen), 0);
	assert_int_equal(plen, sizeof peer);
	assert_int_equal(peer.sin_family, AF_INET);
	assert_int_equal(peer.sin_port, ca.sin_port);
	close(fd);
	close(c);
	close(l);
	exec_sender_free(ac);
	exec_test_receiver_destroy(&t);
	exec_io_loop_destroy(loop);
}

/* Stop requested before start: stopped, nothing submitted (the data
 * waiting on the socket is not consumed). */
static void stop_before_start(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	char buf[8];
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *rd = exec_io_recv(loop, sv[0], buf, sizeof buf, 0);
	test_io_start(loop, rd, &t, exec_stop_source_token(&src));
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(pending_bytes(sv[0]), 3);
	exec_sender_free(rd);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* Stop after the value arrived: nothing more happens. */
static void stop_after_completion(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	char buf[8];
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *rd = exec_io_recv(loop, sv[0], buf, sizeof buf, 0);
	test_io_start(loop, rd, &t, exec_stop_source_token(&src));
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 3);
	exec_stop_source_request(&src);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	exec_test_assert_value(&t);
	exec_sender_free(rd);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* Stop right after start while data is already there: the kernel may
 * finish the recv or cancel it; either way exactly one completion, and
 * it tells the truth about the data. */
static void stop_races_completion(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char buf[8];
	int values = 0, stops = 0;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(write(sv[1], "abcd", 4), 4);
		exec_stop_source src;
		exec_stop_source_init(&src);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_sender *rd = exec_io_recv(loop, sv[0], buf, 4, 0);
		test_io_start(loop, rd, &t, exec_stop_source_token(&src));
		if (i % 2)
			test_spin(loop, 1);
		exec_stop_source_request(&src);
		test_run_until(loop, &t);
		assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
		assert_int_equal(exec_test_completions(&t), 1);
		if (AO_load(&t.values_calls)) {
			exec_test_assert_i64(&t, 0, 4);
			values++;
		} else {
			exec_test_assert_stopped(&t);
			/* Not consumed: take it so the next round starts empty. */
			assert_int_equal(pending_bytes(sv[0]), 4);
			assert_int_equal(read(sv[0], buf, 4), 4);
			stops++;
		}
		assert_int_equal(pending_bytes(sv[0]), 0);
		exec_sender_free(rd);
		exec_test_receiver_destroy(&t);
	}
	assert_int_equal(values + stops, 200);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* read_exactly stopped between pieces: stopped, and the bytes of the
 * pieces that did arrive are in the buffer. */
static void cancel_read_exactly_midway(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char buf[32];
	memset(buf, 0, sizeof buf);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *rd = exec_io_read_exactly(loop, sv[0], buf, sizeof buf, -1);
	test_io_start(loop, rd, &t, exec_stop_source_token(&src));
	assert_int_equal(write(sv[1], "0123456789", 10), 10);
	for (int i = 0; i < 1000 && pending_bytes(sv[0]) > 0; i++)
		test_spin(loop, 1);
	assert_int_equal(pending_bytes(sv[0]), 0);
	test_spin(loop, 2);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	/* The rest of the buffer is free: later data is not written. */
	memset(buf, 0xAA, sizeof buf);
	assert_int_equal(write(sv[1], "x", 1), 1);
	test_spin(loop, 3);
	assert_int_equal((unsigned char)buf[10], 0xAA);
	assert_int_equal(pending_bytes(sv[0]), 1);
	exec_sender_free(rd);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

typedef struct fd_list {
	int fds[16];
	int n;
} fd_list;

static void collect_fd(void *ctx, int fd)
{
	fd_list *l = ctx;
	assert_true(l->n < 16);
	l->fds[l->n++] = fd;
}

/* Multishot accept delivers connections until stopped; after the stopped
 * completion the callback is never called again. */
static void cancel_multishot_accept(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	struct sockaddr_in la;
	int l = test_listener(16, &la);
	fd_list got = {{0}, 0};
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *ms = exec_io_accept_multishot(loop, l, SOCK_CLOEXEC, collect_fd,
						   &got);
	test_io_start(loop, ms, &t, exec_stop_source_token(&src));
	int c[4];
	for (int i = 0; i < 3; i++)
		c[i] = test_client(&la);
	for (int i = 0; i < 10000 && got.n < 3; i++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(got.n, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	c[3] = test_client(&la);
	test_spin(loop, 5);
	assert_int_equal(got.n, 3);
	for (int i = 0; i < 3; i++)
		close(got.fds[i]);
	for (int i = 0; i < 4; i++)
		close(c[i]);
	close(l);
	exec_sender_free(ms);
	exec_test_receiver_destroy(&t);
	exec_io_loop_destroy(loop);
}

/* poll and timeout stopped in flight. */
static void cancel_poll(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *p = exec_io_poll(loop, sv[0], POLLIN);
	test_io_start(loop, p, &t, exec_stop_source_token(&src));
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	exec_sender_free(p);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* Many recvs in flight, every other one stopped: the stopped ones are
 * stopped, the others get their data. */
static void cancel_some_of_many(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	enum { N = 64 };
	int sv[N][2];
	char buf[N][8];
	exec_stop_source src[N];
	exec_test_receiver t[N];
	exec_sender *rd[N];
	for (int i = 0; i < N; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
		exec_stop_source_init(&src[i]);
		exec_test_receiver_init(&t[i]);
		rd[i] = exec_io_recv(loop, sv[i][0], buf[i], 8, 0);
		test_io_start(loop, rd[i], &t[i], exec_stop_source_token(&src[i]));
	}
	test_spin(loop, 3);
	for (int i = 0; i < N; i += 2)
		exec_stop_source_request(&src[i]);
	for (int i = 1; i < N; i += 2)
		assert_int_equal(write(sv[i][1], "v", 1), 1);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	for (int i = 0; i < N; i++) {
		if (i % 2) {
			exec_test_assert_value(&t[i]);
			exec_test_assert_i64(&t[i], 0, 1);
		} else {
			exec_test_assert_stopped(&t[i]);
		}
		exec_sender_free(rd[i]);
		exec_test_receiver_destroy(&t[i]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	exec_io_loop_destroy(loop);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(cancel_inflight_recv),
	cmocka_unit_test(cancel_blocked_send),
	cmocka_unit_test(cancel_inflight_accept),
	cmocka_unit_test(stop_before_start),
	cmocka_unit_test(stop_after_completion),
	cmocka_unit_test(stop_races_completion),
	cmocka_unit_test(cancel_read_exactly_midway),
	cmocka_unit_test(cancel_multishot_accept),
	cmocka_unit_test(cancel_poll),
	cmocka_unit_test(cancel_some_of_many),
};

TEST_MAIN_BOTH_BACKENDS(tests)
