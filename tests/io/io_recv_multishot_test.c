/* tests/io/io_recv_multishot_test.c - exec_io_recv_multishot (io/io.c): a
 * recv that delivers each piece received, in a provided buffer, to a
 * callback. Data written in many pieces arrives in order and intact; the
 * peer closing completes with value 0, a reset with the error; a stop
 * while waiting completes stopped and takes no buffer; a ring that runs
 * dry (ENOBUFS) waits, out of the kernel, and resumes after a recycle
 * with nothing lost, also with two connections waiting on one ring; a
 * stop requested from the callback ends it with no piece lost or doubled;
 * a loop whose multishot_recv feature is cleared (the
 * fallback: single provided recvs re-armed) does the same. Both backends
 * (epoll emulates it). */
#include "io_test_util.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF = 64, TOTAL = 6000, MAXHELD = 64 };

typedef struct sink {
	exec_io_loop *loop;
	exec_io_buf_ring *ring;
	unsigned char data[TOTAL + BUF];
	size_t got;
	int calls;
	bool keep;               /* hold the buffers instead of recycling */
	void *held[MAXHELD];
	int nheld;
	bool bad;                /* a call broke the contract */
} sink;

static void on_piece(void *ctx, void *buf, size_t len)
{
	sink *k = ctx;
	if (!exec_io_loop_on_thread(k->loop) || !buf || len == 0 || len > BUF ||
	    k->got + len > sizeof k->data || k->nheld >= MAXHELD) {
		k->bad = true;
		return;
	}
	memcpy(k->data + k->got, buf, len);
	k->got += len;
	k->calls++;
	if (k->keep)
		k->held[k->nheld++] = buf;
	else
		exec_io_buf_ring_recycle(k->ring, buf);
}

static void sink_init(sink *k, exec_io_loop *loop, unsigned nbufs)
{
	memset(k, 0, sizeof *k);
	k->loop = loop;
	assert_int_equal(exec_io_buf_ring_create(loop, nbufs, BUF, 3, &k->ring), 0);
}

static void fill(unsigned char *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		m[i] = (unsigned char)(i * 31u + (i >> 8));
}

static void write_full(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Many writes of varied sizes (most larger than a buffer), the loop run
 * between some of them; then the peer closes: every byte in order, and
 * value 0. */
static void pieces_then_eof_on(exec_io_loop *loop)
{
	int srv, cli;
	test_tcp_pair(&srv, &cli);
	static sink k;
	sink_init(&k, loop, 16);
	exec_sender *s = exec_io_recv_multishot(loop, srv, k.ring, 0, on_piece, &k);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_token_never());
	static unsigned char msg[TOTAL];
	fill(msg, TOTAL);
	size_t off = 0;
	for (int i = 0; off < TOTAL; i++) {
		size_t n = (size_t)(1 + (i * 97) % 300);
		if (n > TOTAL - off)
			n = TOTAL - off;
		write_full(cli, msg + off, n);
		off += n;
		/* Let some of it arrive before the next write. */
		for (int j = 0; j < 200 && k.got < off && (i % 3) == 0; j++)
			assert_true(exec_io_loop_run_once(loop, true) >= 0);
	}
	for (int j = 0; j < 100000 && k.got < TOTAL; j++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_false(k.bad);
	assert_int_equal(k.got, TOTAL);
	assert_memory_equal(k.data, msg, TOTAL);
	assert_int_equal(exec_test_completions(&t), 0);

	close(cli);
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	assert_int_equal(exec_value_as_i64(&t.values[0]), 0);
	assert_int_equal(k.got, TOTAL);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(exec_io_loop_inflight(loop), 0);

	/* Reusable: connected again on a closed peer, value 0 at once. */
	exec_test_receiver t2;
	exec_test_receiver_init(&t2);
	test_io_start(loop, s, &t2, exec_stop_token_never());
	test_run_until(loop, &t2);
	exec_test_assert_value(&t2);
	assert_int_equal(exec_value_as_i64(&t2.values[0]), 0);
	assert_int_equal(k.got, TOTAL);
	exec_test_receiver_destroy(&t2);

	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_io_buf_ring_destroy(k.ring);
	close(srv);
}

static void pieces_in_order_then_eof(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	pieces_then_eof_on(loop);
	exec_io_loop_destroy(loop);
}

/* The fallback: single provided recvs re-armed after each piece (what a
 * kernel without IORING_RECV_MULTISHOT gets; epoll always does this). */
static void without_multishot_feature(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	exec_io_features *f = (exec_io_features *)exec_io_loop_features(loop);
	f->multishot_recv = false;
	pieces_then_eof_on(loop);
	exec_io_loop_destroy(loop);
}

/* Data, then the peer resets: the data is delivered, then -ECONNRESET. */
static void peer_reset(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int srv, cli;
	test_tcp_pair(&srv, &cli);
	static sink k;
	sink_init(&k, loop, 8);
	exec_sender *s = exec_io_recv_multishot(loop, srv, k.ring, 0, on_piece, &k);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_token_never());
	unsigned char msg[100];
	fill(msg, sizeof msg);
	write_full(cli, msg, sizeof msg);
	for (int j = 0; j < 1000 && k.got < sizeof msg; j++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(k.got, sizeof msg);
	struct linger lg = {1, 0};
	assert_int_equal(setsockopt(cli, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(cli); /* RST */
	test_run_until(loop, &t);
	assert_int_equal(AO_load(&t.error_calls), 1);
	assert_int_equal(t.error, -ECONNRESET);
	assert_false(k.bad);
	assert_memory_equal(k.data, msg, sizeof msg);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_io_buf_ring_destroy(k.ring);
	close(srv);
	exec_io_loop_destroy(loop);
}

/* Stop before start, and stop while armed with no data: stopped, no
 * callback, no buffer taken, nothing left in the kernel; data sent
 * afterwards is all there for the next receiver. */
static void stop_while_waiting(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int srv, cli;
	test_tcp_pair(&srv, &cli);
	static sink k;
	sink_init(&k, loop, 2);
	exec_sender *s = exec_io_recv_multishot(loop, srv, k.ring, 0, on_piece, &k);

	exec_stop_source pre;
	exec_stop_source_init(&pre);
	exec_stop_source_request(&pre);
	exec_test_receiver t0;
	exec_test_receiver_init(&t0);
	test_io_start(loop, s, &t0, exec_stop_source_token(&pre));
	test_run_until(loop, &t0);
	exec_test_assert_stopped(&t0);
	exec_test_receiver_destroy(&t0);

	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_source_token(&src));
	test_spin(loop, 20);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(exec_io_loop_inflight(loop), 1);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(k.calls, 0);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(exec_io_loop_inflight(loop), 0);

	/* Both buffers are still in the ring: 2 x 64 bytes arrive. */
	unsigned char msg[2 * BUF];
	fill(msg, sizeof msg);
	write_full(cli, msg, sizeof msg);
	exec_stop_source_init(&src);
	exec_test_receiver t2;
	exec_test_receiver_init(&t2);
	k.keep = true;
	test_io_start(loop, s, &t2, exec_stop_source_token(&src));
	for (int j = 0; j < 1000 && k.got < sizeof msg; j++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(k.got, sizeof msg);
	assert_memory_equal(k.data, msg, sizeof msg);
	exec_stop_source_request(&src);
	test_run_until(loop, &t2);
	exec_test_assert_stopped(&t2);
	for (int i = 0; i < k.nheld; i++)
		exec_io_buf_ring_recycle(k.ring, k.held[i]);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);

	exec_test_receiver_destroy(&t);
	exec_test_receiver_destroy(&t2);
	exec_sender_free(s);
	exec_io_buf_ring_destroy(k.ring);
	close(srv);
	close(cli);
	exec_io_loop_destroy(loop);
}

/* 4 buffers, the callback keeps them: after 4 pieces the ring is dry, the
 * recv waits outside the kernel (inflight 0) without completing; each
 * recycle lets it go on; every byte arrives in order. A stop while it
 * waits for a buffer completes stopped. */
static void ring_exhaustion_then_recycle(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int srv, cli;
	test_tcp_pair(&srv, &cli);
	static sink k;
	sink_init(&k, loop, 4);
	k.keep = true;
	exec_sender *s = exec_io_recv_multishot(loop, srv, k.ring, 0, on_piece, &k);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_token_never());
	enum { LEN = 1000 };
	unsigned char msg[LEN];
	fill(msg, LEN);
	write_full(cli, msg, LEN);
	int dry = 0;
	for (int round = 0; round < 100 && k.got < LEN; round++) {
		/* Until the buffers are all held and the recv has let go. */
		for (int j = 0; j < 1000 && k.got < LEN &&
				(k.nheld < 4 || exec_io_loop_inflight(loop) != 0);
		     j++)
			assert_true(exec_io_loop_run_once(loop, true) >= 0);
		if (k.got < LEN) {
			assert_int_equal(k.nheld, 4);
			assert_int_equal(exec_io_loop_inflight(loop), 0);
			assert_int_equal(exec_test_completions(&t), 0);
			dry++;
		}
		/* Give them back one at a time. */
		int n = k.nheld;
		k.nheld = 0;
		for (int i = 0; i < n; i++)
			exec_io_buf_ring_recycle(k.ring, k.held[i]);
	}
	assert_false(k.bad);
	assert_int_equal(k.got, LEN);
	assert_memory_equal(k.data, msg, LEN);
	assert_true(dry >= 3); /* LEN needs 16 buffers: it ran dry repeatedly */
	assert_int_equal(exec_test_completions(&t), 0);
	close(cli);
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	assert_int_equal(exec_value_as_i64(&t.values[0]), 0);
	for (int i = 0; i < k.nheld; i++)
		exec_io_buf_ring_recycle(k.ring, k.held[i]);
	k.nheld = 0;
	exec_test_receiver_destroy(&t);
	close(srv);

	/* Stop while waiting for a buffer. */
	test_tcp_pair(&srv, &cli);
	exec_sender_free(s);
	s = exec_io_recv_multishot(loop, srv, k.ring, 0, on_piece, &k);
	k.got = 0;
	write_full(cli, msg, LEN);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t2;
	exec_test_receiver_init(&t2);
	test_io_start(loop, s, &t2, exec_stop_source_token(&src));
	for (int j = 0; j < 1000 && (k.nheld < 4 || exec_io_loop_inflight(loop) != 0); j++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(k.nheld, 4);
	assert_int_equal(exec_test_completions(&t2), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t2);
	exec_test_assert_stopped(&t2);
	assert_int_equal(k.got, 4 * BUF);
	assert_memory_equal(k.data, msg, 4 * BUF);
	/* A recycle after the stop wakes nothing. */
	for (int i = 0; i < k.nheld; i++)
		exec_io_buf_ring_recycle(k.ring, k.held[i]);
	k.nheld = 0;
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(exec_test_completions(&t2), 1);
	exec_test_receiver_destroy(&t2);

	exec_sender_free(s);
	exec_io_buf_ring_destroy(k.ring);
	close(srv);
	close(cli);
	exec_io_loop_destroy(loop);
}

/* Two connections on one ring of 2 buffers, the callbacks keep them: both
 * run dry and wait; every recycle re-arms the waiters, and in the end
 * each connection got all its bytes, in order. */
static void two_waiters_share_a_ring(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	exec_io_buf_ring *ring;
	assert_int_equal(exec_io_buf_ring_create(loop, 2, BUF, 5, &ring), 0);
	enum { LEN = 600 };
	unsigned char msg[LEN];
	fill(msg, LEN);
	static sink k[2];
	int srv[2], cli[2];
	exec_sender *s[2];
	exec_test_receiver t[2];
	for (int i = 0; i < 2; i++) {
		memset(&k[i], 0, sizeof k[i]);
		k[i].loop = loop;
		k[i].ring = ring;
		k[i].keep = true;
		test_tcp_pair(&srv[i], &cli[i]);
		write_full(cli[i], msg, LEN);
		s[i] = exec_io_recv_multishot(loop, srv[i], ring, 0, on_piece, &k[i]);
		exec_test_receiver_init(&t[i]);
		test_io_start(loop, s[i], &t[i], exec_stop_token_never());
	}
	int rounds = 0;
	while (k[0].got < LEN || k[1].got < LEN) {
		assert_true(++rounds < 200);
		/* Until both buffers are held and nothing is in the kernel. */
		for (int j = 0; j < 1000 && k[0].nheld + k[1].nheld < 2; j++)
			assert_true(exec_io_loop_run_once(loop, true) >= 0);
		/* A connection with all its bytes stays armed (in flight);
		 * the others run into the dry ring and wait off the kernel. */
		size_t done = (k[0].got == LEN) + (k[1].got == LEN);
		for (int j = 0; j < 1000 && exec_io_loop_inflight(loop) != done; j++)
			assert_true(exec_io_loop_run_once(loop, true) >= 0);
		assert_int_equal(exec_io_loop_inflight(loop), done);
		/* Give back one buffer at a time, the oldest first. */
		sink *h = k[0].nheld ? &k[0] : &k[1];
		void *b = h->held[0];
		memmove(h->held, h->held + 1, (size_t)(h->nheld - 1) * sizeof(void *));
		h->nheld--;
		exec_io_buf_ring_recycle(ring, b);
	}
	for (int i = 0; i < 2; i++) {
		assert_false(k[i].bad);
		assert_int_equal(k[i].got, LEN);
		assert_memory_equal(k[i].data, msg, LEN);
		assert_int_equal(exec_test_completions(&t[i]), 0);
		close(cli[i]);
	}
	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < k[i].nheld; j++)
			exec_io_buf_ring_recycle(ring, k[i].held[j]);
		k[i].nheld = 0;
	}
	for (int i = 0; i < 2; i++) {
		test_run_until(loop, &t[i]);
		exec_test_assert_value(&t[i]);
		exec_test_receiver_destroy(&t[i]);
		exec_sender_free(s[i]);
		close(srv[i]);
	}
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	exec_io_buf_ring_destroy(ring);
	exec_io_loop_destroy(loop);
}

/* The callback requests the stop after the first piece: stopped, and
 * pieces that were already received are still delivered, none twice. */
typedef struct stopper {
	sink k;
	exec_stop_source src;
} stopper;

static void stop_on_piece(void *ctx, void *buf, size_t len)
{
	stopper *st = ctx;
	on_piece(&st->k, buf, len);
	exec_stop_source_request(&st->src);
}

static void stop_from_the_callback(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int srv, cli;
	test_tcp_pair(&srv, &cli);
	static stopper st;
	sink_init(&st.k, loop, 8);
	exec_stop_source_init(&st.src);
	exec_sender *s = exec_io_recv_multishot(loop, srv, st.k.ring, 0, stop_on_piece, &st);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_source_token(&st.src));
	unsigned char msg[300];
	fill(msg, sizeof msg);
	write_full(cli, msg, sizeof msg);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_false(st.k.bad);
	assert_true(st.k.got >= 1 && st.k.got <= sizeof msg);
	assert_memory_equal(st.k.data, msg, st.k.got);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	/* The rest is still in the socket: a new receiver gets it. */
	exec_stop_source_init(&st.src);
	exec_test_receiver t2;
	exec_test_receiver_init(&t2);
	exec_sender *s2 = exec_io_recv_multishot(loop, srv, st.k.ring, 0, on_piece, &st.k);
	test_io_start(loop, s2, &t2, exec_stop_token_never());
	for (int j = 0; j < 1000 && st.k.got < sizeof msg; j++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(st.k.got, sizeof msg);
	assert_memory_equal(st.k.data, msg, sizeof msg);
	close(cli);
	test_run_until(loop, &t2);
	exec_test_assert_value(&t2);
	exec_test_receiver_destroy(&t);
	exec_test_receiver_destroy(&t2);
	exec_sender_free(s);
	exec_sender_free(s2);
	exec_io_buf_ring_destroy(st.k.ring);
	close(srv);
	exec_io_loop_destroy(loop);
}

/* The sender is freed right after connect (io.h: the operation copies
 * what it needs): pieces still arrive in order, and a stop afterwards
 * cancels and completes stopped. Under ASan a read of the freed sender
 * fails the test. */
static void sender_freed_after_connect(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int srv, cli;
	test_tcp_pair(&srv, &cli);
	static sink k;
	sink_init(&k, loop, 16);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *s = exec_io_recv_multishot(loop, srv, k.ring, 0, on_piece, &k);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.scheduler = exec_io_loop_scheduler(loop);
	t.env.stop_token = exec_stop_source_token(&src);
	assert_int_equal(exec_test_connect(s, &t), 0);
	exec_sender_free(s);
	exec_test_start(&t);
	static unsigned char msg[4 * BUF];
	fill(msg, sizeof msg);
	for (size_t off = 0; off < sizeof msg; off += BUF / 2) {
		write_full(cli, msg + off, BUF / 2);
		for (int j = 0; j < 1000 && k.got < off + BUF / 2; j++)
			assert_true(exec_io_loop_run_once(loop, true) >= 0);
	}
	assert_false(k.bad);
	assert_int_equal(k.got, sizeof msg);
	assert_memory_equal(k.data, msg, sizeof msg);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(exec_io_loop_inflight(loop), 0);
	exec_test_receiver_destroy(&t);
	exec_io_buf_ring_destroy(k.ring);
	close(cli);
	close(srv);
	exec_io_loop_destroy(loop);
}

static void bad_arguments(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	static sink k;
	sink_init(&k, loop, 2);
	exec_sender *s = exec_io_recv_multishot(loop, 0, k.ring, 0, NULL, &k);
	assert_int_equal(exec_sender_build_error(s), -EINVAL);
	exec_sender_free(s);
	s = exec_io_recv_multishot(loop, 0, NULL, 0, on_piece, &k);
	assert_int_equal(exec_sender_build_error(s), -EINVAL);
	exec_sender_free(s);
	/* A closed fd: the recv's own error. */
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	close(fds[0]);
	close(fds[1]);
	s = exec_io_recv_multishot(loop, fds[0], k.ring, 0, on_piece, &k);
	assert_int_equal(test_io_error(loop, s), -EBADF);
	exec_io_buf_ring_destroy(k.ring);
	exec_io_loop_destroy(loop);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(pieces_in_order_then_eof),
	cmocka_unit_test(without_multishot_feature),
	cmocka_unit_test(peer_reset),
	cmocka_unit_test(stop_while_waiting),
	cmocka_unit_test(ring_exhaustion_then_recycle),
	cmocka_unit_test(two_waiters_share_a_ring),
	cmocka_unit_test(stop_from_the_callback),
	cmocka_unit_test(sender_freed_after_connect),
	cmocka_unit_test(bad_arguments),
};

TEST_MAIN_BOTH_BACKENDS(tests)
