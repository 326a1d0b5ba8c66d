/* tests/schedulers/io_uring_limits_test.c - the io_uring backend at its
 * ring limits: a tiny ring (4 SQ entries, 16 CQ entries) given hundreds of
 * operations at once from the loop thread, so that
 *   - the submission queue is full again and again (get_sqe submits the
 *     batch and retries), and
 *   - completions that arrive at submit time outnumber the CQ ring, so the
 *     kernel keeps them aside (IORING_SQ_CQ_OVERFLOW) until the loop
 *     flushes them;
 * and a stop that cancels hundreds of pending reads at once (an async
 * cancel SQE each, through the same full SQ, their CQEs overflowing too).
 * Each case checks every operation completed exactly once with the right
 * result, and the loop is usable afterwards. Run with the loop's default
 * setup flags and with no_single_issuer. Skipped (with the reason) when
 * the kernel refuses io_uring; forced epoll is covered by the io tests. */
/* CEXEC_TEST_LABELS: io */
#include "cexec_test.h"
#include "on_valgrind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "algorithms/then.h"
#include "algorithms/when_all.h"
#include "io/io.h"
#include "schedulers/io_uring.h"

#define FANOUT 8
#define OPS (FANOUT * FANOUT * FANOUT) /* 512 */

static exec_io_loop *make_loop(bool no_single_issuer)
{
	exec_io_loop_options o = {.backend = EXEC_IO_BACKEND_URING, .entries = 4,
				  .no_single_issuer = no_single_issuer};
	exec_io_loop *loop = NULL;
	if (exec_test_skip_on_valgrind("this io_uring case", EXEC_TEST_VALGRIND_URING))
		return NULL;
	int rc = exec_io_loop_create(&loop, &o);
	if (rc != 0) {
		fprintf(stderr, "io_uring unavailable (%s): skipped\n", exec_strerror(rc));
		return NULL;
	}
	const exec_io_features *f = exec_io_loop_features(loop);
	assert_int_equal(f->sq_entries, 4);
	assert_true(f->cq_entries <= 16); /* the loop asks for 4 x entries */
	return loop;
}

typedef exec_sender *(*leaf_fn)(exec_io_loop *loop, int i, void *ctx);

/* when_all of FANOUT when_alls of ... (depth levels) over leaves 0..n. */
static exec_sender *tree(exec_io_loop *loop, int depth, int *next, leaf_fn leaf, void *ctx)
{
	if (depth == 0)
		return leaf(loop, (*next)++, ctx);
	exec_sender *c[FANOUT];
	for (int i = 0; i < FANOUT; i++)
		c[i] = tree(loop, depth - 1, next, leaf, ctx);
	return exec_when_all(c, FANOUT);
}

typedef struct reads {
	int fd;
	unsigned char buf[OPS];
} reads;

static exec_sender *read_leaf(exec_io_loop *loop, int i, void *ctx)
{
	reads *r = ctx;
	return exec_io_read(loop, r->fd, &r->buf[i], 1, -1);
}

static exec_sender *null_write_leaf(exec_io_loop *loop, int i, void *ctx)
{
	static const char byte = 'x';
	(void)i;
	return exec_io_write(loop, *(int *)ctx, &byte, 1, -1);
}

/* 512 one-byte reads of data that is already there, and 512 writes to
 * /dev/null: each completes during submit. */
static void instant_completions(bool no_single_issuer)
{
	exec_io_loop *loop = make_loop(no_single_issuer);
	if (!loop)
		return;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	unsigned char out[OPS];
	unsigned hist_out[256] = {0}, hist_in[256] = {0};
	for (int i = 0; i < OPS; i++) {
		out[i] = (unsigned char)(i * 7);
		hist_out[out[i]]++;
	}
	assert_int_equal(write(sv[1], out, OPS), OPS);

	reads *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->fd = sv[0];
	int next = 0;
	exec_sender *s = tree(loop, 3, &next, read_leaf, r);
	assert_int_equal(next, OPS);
	exec_result res;
	assert_int_equal(exec_io_loop_sync_wait(loop, s, &res), 0);
	assert_int_equal(res.count, OPS);
	for (int i = 0; i < OPS; i++)
		assert_int_equal(exec_value_as_i64(&res.values[i]), 1);
	for (int i = 0; i < OPS; i++)
		hist_in[r->buf[i]]++;
	/* Every byte was read once (the order among concurrent reads of one
	 * stream is the kernel's). */
	assert_memory_equal(hist_in, hist_out, sizeof hist_in);
	exec_result_clear(&res);
	exec_sender_free(s);

	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	next = 0;
	s = tree(loop, 3, &next, null_write_leaf, &devnull);
	/* Twice: a sender is reusable, and the ring is fine after the first. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(exec_io_loop_sync_wait(loop, s, &res), 0);
		assert_int_equal(res.count, OPS);
		for (int i = 0; i < OPS; i++)
			assert_int_equal(exec_value_as_i64(&res.values[i]), 1);
		exec_result_clear(&res);
	}
	exec_sender_free(s);
	close(devnull);
	close(sv[0]);
	close(sv[1]);
	free(r);
	exec_io_loop_destroy(loop);
}

static void instant_completions_overflow_the_cq(void **state)
{
	(void)state;
	instant_completions(false);
}

static void instant_completions_overflow_the_cq_no_single_issuer(void **state)
{
	(void)state;
	instant_completions(true);
}

static int timed_out(void *ctx, const exec_value *in, size_t count, exec_value *out)
{
	(void)ctx;
	(void)in;
	(void)count;
	(void)out;
	return -ETIMEDOUT;
}

/* 256 reads on an empty socket wait in the kernel; then a timer fails the
 * when_all, which stops them: 256 async cancels through a 4-entry SQ. Every
 * read completes (stopped), when_all reports the timer's error, and no read
 * is left behind: a byte written afterwards is read by a new read. */
static void cancel_storm(bool no_single_issuer)
{
	exec_io_loop *loop = make_loop(no_single_issuer);
	if (!loop)
		return;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	reads *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->fd = sv[0];
	int next = 0;
	exec_sender *c[FANOUT / 2 + 1];
	for (int i = 0; i < FANOUT / 2; i++)
		c[i] = tree(loop, 2, &next, read_leaf, r);
	c[FANOUT / 2] = exec_then(exec_io_timeout(loop, 2 * 1000 * 1000), timed_out, NULL);
	exec_sender *s = exec_when_all(c, FANOUT / 2 + 1);
	for (int round = 0; round < 2; round++) {
		exec_result res;
		assert_int_equal(exec_io_loop_sync_wait(loop, s, &res), -ETIMEDOUT);
		assert_int_equal(res.kind, EXEC_RESULT_ERROR);
		exec_result_clear(&res);
	}
	exec_sender_free(s);

	assert_int_equal(write(sv[1], "z", 1), 1);
	unsigned char b = 0;
	s = exec_io_read(loop, sv[0], &b, 1, -1);
	exec_result res;
	assert_int_equal(exec_io_loop_sync_wait(loop, s, &res), 0);
	assert_int_equal(exec_value_as_i64(&res.values[0]), 1);
	assert_int_equal(b, 'z');
	exec_sender_free(s);
	close(sv[0]);
	close(sv[1]);
	free(r);
	exec_io_loop_destroy(loop);
}

static void stop_cancels_hundreds_through_a_full_sq(void **state)
{
	(void)state;
	cancel_storm(false);
}

static void stop_cancels_hundreds_no_single_issuer(void **state)
{
	(void)state;
	cancel_storm(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(instant_completions_overflow_the_cq),
		cmocka_unit_test(instant_completions_overflow_the_cq_no_single_issuer),
		cmocka_unit_test(stop_cancels_hundreds_through_a_full_sq),
		cmocka_unit_test(stop_cancels_hundreds_no_single_issuer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
