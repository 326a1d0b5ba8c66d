/* tests/io/io_send_all_test.c - exec_io_send_all (io/io.c): a send that
 * loops until every byte went. A message far larger than the socket
 * buffers takes several sends (the reader drains meanwhile) and arrives
 * intact, value = its length; a peer that is gone gives an error
 * (-EPIPE / -ECONNRESET), never SIGPIPE (this test does not ignore it, so
 * a missing MSG_NOSIGNAL kills it); zero bytes completes at once; stop
 * while blocked on a full socket completes stopped. Both backends. */
#include "io_test_util.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback TCP pair whose sending side (srv) has a small send buffer
 * and whose receiving side (cli) does not block. */
static void small_sender_pair(int *srv, int *cli)
{
	test_tcp_pair(srv, cli);
	int small = 4096;
	setsockopt(*srv, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	fcntl(*cli, F_SETFL, fcntl(*cli, F_GETFL) | O_NONBLOCK);
}

/* Runs the loop while reading cli into back until len bytes arrived and
 * t completed; checks t's value (len) and the bytes (msg). Returns the
 * number of reads that got data. */
static int receive_all(exec_io_loop *loop, int cli, exec_test_receiver *t,
		       const unsigned char *msg, unsigned char *back, size_t len)
{
	size_t got = 0;
	int reads = 0;
	while (got < len || exec_test_completions(t) == 0) {
		assert_true(exec_io_loop_run_once(loop, false) >= 0);
		ssize_t r = recv(cli, back + got, len - got, 0);
		if (r > 0) {
			got += (size_t)r;
			reads++;
		} else {
			assert_true(r < 0 && errno == EAGAIN);
		}
	}
	exec_test_assert_value(t);
	assert_int_equal(exec_value_as_i64(&t->values[0]), (int64_t)len);
	assert_int_equal(got, len);
	assert_memory_equal(back, msg, len);
	return reads;
}

static void large_message_in_pieces(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int srv, cli;
	small_sender_pair(&srv, &cli);
	enum { LEN = 4 << 20 };
	unsigned char *msg = malloc(LEN), *back = malloc(LEN);
	assert_non_null(msg);
	assert_non_null(back);
	for (size_t i = 0; i < LEN; i++)
		msg[i] = (unsigned char)(i * 7u + (i >> 12));
	exec_sender *s = exec_io_send_all(loop, srv, msg, LEN, 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, s, &t, exec_stop_token_never());
	assert_true(receive_all(loop, cli, &t, msg, back, LEN) > 1); /* not in one piece */
	exec_test_receiver_destroy(&t);

	/* Zero bytes: value 0 at once. */
	assert_int_equal(test_io_value(loop, exec_io_send_all(loop, srv, msg, 0, 0)), 0);

	/* Stop while the socket is full (nobody reads): stopped. */
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t2;
	exec_test_receiver_init(&t2);
	test_io_start(loop, s, &t2, exec_stop_source_token(&src));
	test_spin(loop, 5);
	assert_int_equal(exec_test_completions(&t2), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t2);
	exec_test_assert_stopped(&t2);
	exec_test_receiver_destroy(&t2);

	/* The peer resets: an error, not SIGPIPE. */
	struct linger lg = {1, 0};
	setsockopt(cli, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(cli);
	exec_test_receiver t3;
	exec_test_receiver_init(&t3);
	test_io_start(loop, s, &t3, exec_stop_token_never());
	test_run_until(loop, &t3);
	assert_int_equal(AO_load_acquire(&t3.error_calls), 1);
	assert_int_equal(exec_test_completions(&t3), 1);
	assert_true(t3.error == -EPIPE || t3.error == -ECONNRESET);
	exec_test_receiver_destroy(&t3);

	exec_sender_free(s);
	close(srv);
	free(msg);
	free(back);
	exec_io_loop_destroy(loop);
}

/* The sender is freed right after connect (io.h: the operation copies
 * what it needs, here the buffer and length it continues from after each
 * short send): the message still arrives whole. Under ASan a read of the
 * freed sender fails the test. */
static void sender_freed_after_connect(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int srv, cli;
	small_sender_pair(&srv, &cli);
	enum { LEN = 1 << 20 };
	unsigned char *msg = malloc(LEN), *back = malloc(LEN);
	assert_non_null(msg);
	assert_non_null(back);
	for (size_t i = 0; i < LEN; i++)
		msg[i] = (unsigned char)(i * 13u + (i >> 10));
	exec_sender *s = exec_io_send_all(loop, srv, msg, LEN, 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.scheduler = exec_io_loop_scheduler(loop);
	t.env.stop_token = exec_stop_token_never();
	assert_int_equal(exec_test_connect(s, &t), 0);
	exec_sender_free(s);
	exec_test_start(&t);
	assert_true(receive_all(loop, cli, &t, msg, back, LEN) > 1);
	exec_test_receiver_destroy(&t);
	close(srv);
	close(cli);
	free(msg);
	free(back);
	exec_io_loop_destroy(loop);
}

static void bad_arguments(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	exec_sender *bad[] = {
		exec_io_send_all(NULL, 0, "x", 1, 0),
		exec_io_send_all(loop, 0, NULL, 1, 0),
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		assert_int_equal(exec_sender_build_error(bad[k]), -EINVAL);
		exec_sender_free(bad[k]);
	}
	/* A bad fd completes with -EBADF, like the system call. */
	assert_int_equal(test_io_error(loop, exec_io_send_all(loop, -1, "x", 1, 0)), -EBADF);
	exec_io_loop_destroy(loop);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(large_message_in_pieces),
	cmocka_unit_test(sender_freed_after_connect),
	cmocka_unit_test(bad_arguments),
};

TEST_MAIN_BOTH_BACKENDS(tests)
