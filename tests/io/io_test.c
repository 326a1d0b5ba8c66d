/* tests for io/io.c: files, socket pairs, the read_exactly / write_all
 * helpers, poll, shutdown, bad fds, timers and provided buffer rings, each
 * on both backends (io_uring, then epoll). Accept / connect, cancellation
 * and threads have their own files next to this one. */
#include "io_test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

/* A fresh temporary directory per test, removed by the test. */
static int temp_dir(char *path, size_t n)
{
	snprintf(path, n, "/tmp/cexec_io_test_XXXXXX");
	assert_non_null(mkdtemp(path));
	int d = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(d >= 0);
	return d;
}

static void file_round_trip(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	char dir[64];
	int d = temp_dir(dir, sizeof dir);

	int fd = (int)test_io_value(loop, exec_io_openat(loop, d, "f",
		O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600));
	assert_true(fd >= 0);
	char out[4096];
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (char)(i * 7 + 1);
	assert_int_equal(test_io_value(loop, exec_io_write(loop, fd, out,
							    sizeof out, 0)),
			 sizeof out);
	/* At an offset: a second block. */
	assert_int_equal(test_io_value(loop, exec_io_write(loop, fd, "tail", 4,
							    sizeof out)),
			 4);
	assert_int_equal(test_io_value(loop, exec_io_fsync(loop, fd, 0)), 0);
	assert_int_equal(test_io_value(loop, exec_io_fsync(loop, fd, 1)), 0);

	struct statx st;
	memset(&st, 0, sizeof st);
	assert_int_equal(test_io_value(loop, exec_io_statx(loop, d, "f", 0,
							    STATX_SIZE, &st)),
			 0);
	assert_true(st.stx_mask & STATX_SIZE);
	assert_int_equal(st.stx_size, sizeof out + 4);

	char in[4096 + 4];
	memset(in, 0, sizeof in);
	assert_int_equal(test_io_value(loop, exec_io_read(loop, fd, in,
							   sizeof in, 0)),
			 sizeof in);
	assert_memory_equal(in, out, sizeof out);
	assert_memory_equal(in + sizeof out, "tail", 4);
	/* Reading at the end of the file: 0 bytes, a value, not an error. */
	assert_int_equal(test_io_value(loop, exec_io_read(loop, fd, in, 16,
							   sizeof in)),
			 0);
	assert_int_equal(test_io_value(loop, exec_io_close(loop, fd)), 0);
	/* Closed: the fd is gone. */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	/* statx of a missing file. */
	assert_int_equal(test_io_error(loop, exec_io_statx(loop, d, "missing", 0,
							    STATX_SIZE, &st)),
			 -ENOENT);
	assert_int_equal(test_io_error(loop, exec_io_openat(loop, d, "missing",
							     O_RDONLY, 0)),
			 -ENOENT);
	unlinkat(d, "f", 0);
	close(d);
	rmdir(dir);
	exec_io_loop_destroy(loop);
}

static void file_position_reads(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	char dir[64];
	int d = temp_dir(dir, sizeof dir);
	int fd = openat(d, "p", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	/* offset -1: the file position moves with each write / read. */
	assert_int_equal(test_io_value(loop, exec_io_write(loop, fd, "abc", 3, -1)), 3);
	assert_int_equal(test_io_value(loop, exec_io_write(loop, fd, "def", 3, -1)), 3);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	char b[3];
	assert_int_equal(test_io_value(loop, exec_io_read(loop, fd, b, 3, -1)), 3);
	assert_memory_equal(b, "abc", 3);
	assert_int_equal(test_io_value(loop, exec_io_read(loop, fd, b, 3, -1)), 3);
	assert_memory_equal(b, "def", 3);
	close(fd);
	unlinkat(d, "p", 0);
	close(d);
	rmdir(dir);
	exec_io_loop_destroy(loop);
}

static void readv_writev(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	char dir[64];
	int d = temp_dir(dir, sizeof dir);
	int fd = openat(d, "v", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	char a[] = "hello ", b[] = "vectored ", c[] = "world";
	struct iovec wv[3] = {{a, 6}, {b, 9}, {c, 5}};
	assert_int_equal(test_io_value(loop, exec_io_writev(loop, fd, wv, 3, 0)), 20);
	char x[4], y[7], z[9];
	struct iovec rv[3] = {{x, 4}, {y, 7}, {z, 9}};
	assert_int_equal(test_io_value(loop, exec_io_readv(loop, fd, rv, 3, 0)), 20);
	assert_memory_equal(x, "hell", 4);
	assert_memory_equal(y, "o vecto", 7);
	assert_memory_equal(z, "red world", 9);

	/* On a pipe too (offset -1). */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(test_io_value(loop, exec_io_writev(loop, p[1], wv, 3, -1)), 20);
	memset(x, 0, 4);
	memset(y, 0, 7);
	memset(z, 0, 9);
	assert_int_equal(test_io_value(loop, exec_io_readv(loop, p[0], rv, 3, -1)), 20);
	assert_memory_equal(z, "red world", 9);
	close(p[0]);
	close(p[1]);
	close(fd);
	unlinkat(d, "v", 0);
	close(d);
	rmdir(dir);
	exec_io_loop_destroy(loop);
}

/* recv waits for data that arrives after it started. */
static void socketpair_recv_send(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char buf[32];
	memset(buf, 0, sizeof buf);
	exec_sender *rd = exec_io_recv(loop, sv[0], buf, sizeof buf, 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, rd, &t, exec_stop_token_never());
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0); /* nothing sent yet */
	assert_int_equal(test_io_value(loop, exec_io_send(loop, sv[1], "ping", 4, 0)), 4);
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 4);
	assert_memory_equal(buf, "ping", 4);

	/* The same sender again (senders are reusable). */
	assert_int_equal(write(sv[1], "pong!", 5), 5);
	assert_int_equal(test_io_value(loop, rd), 5);
	assert_memory_equal(buf, "pong!", 5);

	/* Peer closed: recv of 0 bytes is a value. */
	close(sv[1]);
	assert_int_equal(test_io_value(loop, exec_io_recv(loop, sv[0], buf,
							   sizeof buf, 0)),
			 0);
	/* send to a closed peer: -EPIPE, and no SIGPIPE kills us. */
	int sv2[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2), 0);
	close(sv2[1]);
	assert_int_equal(test_io_error(loop, exec_io_send(loop, sv2[0], "x", 1, 0)),
			 -EPIPE);
	close(sv2[0]);
	close(sv[0]);
	exec_test_receiver_destroy(&t);
	exec_io_loop_destroy(loop);
}

static void socketpair_msgs(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	char h[] = "head:", b[] = "body";
	struct iovec wv[2] = {{h, 5}, {b, 4}};
	struct msghdr wm;
	memset(&wm, 0, sizeof wm);
	wm.msg_iov = wv;
	wm.msg_iovlen = 2;
	/* recvmsg started first, so it has to wait. */
	char r1[3], r2[16];
	struct iovec rv[2] = {{r1, 3}, {r2, 16}};
	struct msghdr rm;
	memset(&rm, 0, sizeof rm);
	rm.msg_iov = rv;
	rm.msg_iovlen = 2;
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *rs = exec_io_recvmsg(loop, sv[0], &rm, 0);
	test_io_start(loop, rs, &t, exec_stop_token_never());
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(test_io_value(loop, exec_io_sendmsg(loop, sv[1], &wm, 0)), 9);
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 9);
	assert_memory_equal(r1, "hea", 3);
	assert_memory_equal(r2, "d:body", 6);
	assert_int_equal(rm.msg_flags & MSG_TRUNC, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(rs);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* write_all of more than the socket buffer holds (many short writes)
 * while read_exactly collects it (many short reads), on one loop. */
static void exactly_and_all_short_transfers(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	enum { N = 1 << 20 };
	unsigned char *out = malloc(N), *in = calloc(1, N);
	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < N; i++)
		out[i] = (unsigned char)(i * 131 + (i >> 9));
	exec_sender *w = exec_io_write_all(loop, sv[1], out, N, -1);
	exec_sender *r = exec_io_read_exactly(loop, sv[0], in, N, -1);
	exec_test_receiver tw, tr;
	exec_test_receiver_init(&tw);
	exec_test_receiver_init(&tr);
	test_io_start(loop, w, &tw, exec_stop_token_never());
	test_io_start(loop, r, &tr, exec_stop_token_never());
	test_run_until(loop, &tw);
	test_run_until(loop, &tr);
	exec_test_assert_value(&tw);
	exec_test_assert_i64(&tw, 0, N);
	exec_test_assert_value(&tr);
	exec_test_assert_i64(&tr, 0, N);
	assert_memory_equal(in, out, N);

	/* read_exactly across pieces that arrive one by one. */
	memset(in, 0, 64);
	exec_sender *r64 = exec_io_read_exactly(loop, sv[0], in, 64, -1);
	exec_test_receiver t64;
	exec_test_receiver_init(&t64);
	test_io_start(loop, r64, &t64, exec_stop_token_never());
	for (int piece = 0; piece < 4; piece++) {
		test_spin(loop, 3);
		assert_int_equal(exec_test_completions(&t64), 0);
		assert_int_equal(write(sv[1], out + piece * 16, 16), 16);
	}
	test_run_until(loop, &t64);
	exec_test_assert_i64(&t64, 0, 64);
	assert_memory_equal(in, out, 64);

	/* The peer closes before len bytes: -EPIPE, the bytes so far kept. */
	assert_int_equal(write(sv[1], "xyz", 3), 3);
	close(sv[1]);
	assert_int_equal(test_io_error(loop, exec_io_read_exactly(loop, sv[0],
								   in, 10, -1)),
			 -EPIPE);
	assert_memory_equal(in, "xyz", 3);
	/* Zero bytes: done at once. */
	assert_int_equal(test_io_value(loop, exec_io_read_exactly(loop, sv[0],
								   in, 0, -1)),
			 0);

	exec_sender_free(w);
	exec_sender_free(r);
	exec_sender_free(r64);
	exec_test_receiver_destroy(&tw);
	exec_test_receiver_destroy(&tr);
	exec_test_receiver_destroy(&t64);
	free(out);
	free(in);
	close(sv[0]);
	exec_io_loop_destroy(loop);
}

static void poll_readiness(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* Writable at once. */
	int64_t ev = test_io_value(loop, exec_io_poll(loop, sv[0], POLLOUT));
	assert_true(ev & POLLOUT);
	/* Readable only after data arrives. */
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *p = exec_io_poll(loop, sv[0], POLLIN);
	test_io_start(loop, p, &t, exec_stop_token_never());
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(write(sv[1], "!", 1), 1);
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	assert_true(t.values[0].as.i64 & POLLIN);
	/* Poll reports; it does not consume. */
	int avail = 0;
	assert_int_equal(ioctl(sv[0], FIONREAD, &avail), 0);
	assert_int_equal(avail, 1);
	exec_sender_free(p);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

static void shutdown_write_side(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	int s, c;
	test_tcp_pair(&s, &c);
	char buf[8];
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *rd = exec_io_recv(loop, c, buf, sizeof buf, 0);
	test_io_start(loop, rd, &t, exec_stop_token_never());
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	/* Half-close: the waiting peer reads end of stream... */
	assert_int_equal(test_io_value(loop, exec_io_shutdown(loop, s, SHUT_WR)), 0);
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 0);
	/* ...and can still answer: the other direction is open. */
	assert_int_equal(write(c, "ok", 2), 2);
	assert_int_equal(test_io_value(loop, exec_io_recv(loop, s, buf, sizeof buf, 0)), 2);
	/* Sending after SHUT_WR fails. */
	assert_int_equal(test_io_error(loop, exec_io_send(loop, s, "x", 1, 0)), -EPIPE);
	/* shutdown of something that is not a socket. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(test_io_error(loop, exec_io_shutdown(loop, p[0], SHUT_RD)),
			 -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	exec_sender_free(rd);
	exec_test_receiver_destroy(&t);
	close(s);
	close(c);
	exec_io_loop_destroy(loop);
}

/* An fd number that is not open (closed just before). */
static int closed_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static void bad_fds(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	char buf[8] = {0}; /* sent to bad fds: defined bytes for valgrind */
	struct iovec iov = {buf, sizeof buf};
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(9);
	int fds[2] = {closed_fd(), -1};
	for (int i = 0; i < 2; i++) {
		int fd = fds[i];
		exec_sender *s[] = {
			exec_io_read(loop, fd, buf, sizeof buf, -1),
			exec_io_write(loop, fd, buf, sizeof buf, -1),
			exec_io_readv(loop, fd, &iov, 1, -1),
			exec_io_writev(loop, fd, &iov, 1, -1),
			exec_io_recv(loop, fd, buf, sizeof buf, 0),
			exec_io_send(loop, fd, buf, sizeof buf, 0),
			exec_io_recvmsg(loop, fd, &m, 0),
			exec_io_sendmsg(loop, fd, &m, 0),
			exec_io_accept(loop, fd, NULL, NULL, 0),
			exec_io_connect(loop, fd, (struct sockaddr *)&a, sizeof a),
			exec_io_shutdown(loop, fd, SHUT_RDWR),
			exec_io_close(loop, fd),
			exec_io_fsync(loop, fd, 0),
			exec_io_poll(loop, fd, POLLIN),
			exec_io_read_exactly(loop, fd, buf, sizeof buf, -1),
			exec_io_write_all(loop, fd, buf, sizeof buf, -1),
		};
		for (size_t k = 0; k < sizeof s / sizeof s[0]; k++) {
			int e = test_io_error(loop, s[k]);
			if (e != -EBADF)
				fprintf(stderr, "fd %d sender %zu: %d (%s)\n", fd, k, e,
					exec_strerror(e));
			assert_int_equal(e, -EBADF);
		}
	}
	/* Not a socket: the kernel's error, passed through. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(test_io_error(loop, exec_io_recv(loop, p[0], buf, 1, 0)),
			 -ENOTSOCK);
	assert_int_equal(test_io_error(loop, exec_io_accept(loop, p[0], NULL, NULL, 0)),
			 -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	/* Bad arguments are refused when the sender is built. */
	exec_sender *bad[] = {
		exec_io_read(NULL, 0, buf, 1, -1),
		exec_io_read(loop, 0, NULL, 1, -1),
		exec_io_readv(loop, 0, NULL, 2, -1),
		exec_io_recvmsg(loop, 0, NULL, 0),
		exec_io_connect(loop, 0, NULL, 0),
		exec_io_openat(loop, AT_FDCWD, NULL, O_RDONLY, 0),
		exec_io_statx(loop, AT_FDCWD, "/", 0, STATX_SIZE, NULL),
		exec_io_accept_multishot(loop, 0, 0, NULL, NULL),
		exec_io_recv_provided(loop, 0, NULL, 0),
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		assert_int_equal(exec_sender_build_error(bad[k]), -EINVAL);
		exec_sender_free(bad[k]);
	}
	exec_io_loop_destroy(loop);
}

/* A tiny ring (4 SQ entries, 16 CQ entries on io_uring): starting 256
 * recvs in one go fills the SQ many times over, and their completions,
 * all made ready together, overflow the CQ ring. Every recv completes
 * exactly once with its own data. */
static void tiny_ring_full_sq_and_cq_overflow(void **state)
{
	(void)state;
	exec_io_loop_options o;
	memset(&o, 0, sizeof o);
	o.backend = test_backend;
	o.entries = 4;
	exec_io_loop *loop = NULL;
	assert_int_equal(exec_io_loop_create(&loop, &o), 0);
	enum { N = 256 };
	int (*sv)[2] = calloc(N, sizeof *sv);
	char (*buf)[4] = calloc(N, sizeof *buf);
	exec_test_receiver *t = calloc(N, sizeof *t);
	exec_sender **rd = calloc(N, sizeof *rd);
	assert_non_null(sv);
	assert_non_null(buf);
	assert_non_null(t);
	assert_non_null(rd);
	for (int i = 0; i < N; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
		exec_test_receiver_init(&t[i]);
		rd[i] = exec_io_recv(loop, sv[i][0], buf[i], 4, 0);
		test_io_start(loop, rd[i], &t[i], exec_stop_token_never());
	}
	/* One iteration submits them all (through a full SQ, many times). */
	test_spin(loop, 2);
	for (int i = 0; i < N; i++)
		assert_int_equal(exec_test_completions(&t[i]), 0);
	for (int i = 0; i < N; i++) {
		char m[4] = {(char)i, (char)(i >> 8), 'x', 'y'};
		assert_int_equal(write(sv[i][1], m, 4), 4);
	}
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	for (int i = 0; i < N; i++) {
		exec_test_assert_value(&t[i]);
		exec_test_assert_i64(&t[i], 0, 4);
		assert_int_equal((unsigned char)buf[i][0], i & 0xff);
		assert_int_equal((unsigned char)buf[i][1], i >> 8);
		exec_sender_free(rd[i]);
		exec_test_receiver_destroy(&t[i]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	free(sv);
	free(buf);
	free(t);
	free(rd);
	exec_io_loop_destroy(loop);
}


/* ---- timers ---- */

typedef struct timed_rx {
	exec_receiver base;
	exec_env env;
	exec_time deadline, fired;
	int *order, *n, id;
	int calls, stopped;
} timed_rx;

static void tr_value(exec_receiver *r, const exec_value *v, size_t n)
{
	timed_rx *t = EXEC_CONTAINER_OF(r, timed_rx, base);
	(void)v;
	(void)n;
	t->fired = exec_clock_now();
	t->calls++;
	t->order[(*t->n)++] = t->id;
}

static void tr_error(exec_receiver *r, int e)
{
	(void)e;
	EXEC_CONTAINER_OF(r, timed_rx, base)->calls += 100;
}

static void tr_stopped(exec_receiver *r)
{
	timed_rx *t = EXEC_CONTAINER_OF(r, timed_rx, base);
	t->calls++;
	t->stopped++;
}

static const exec_env *tr_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, timed_rx, base)->env;
}

static const exec_receiver_ops tr_ops = {tr_value, tr_error, tr_stopped, tr_env};

/* Timers with shuffled absolute deadlines fire in deadline order (ties in
 * start order), never before their deadline; exec_io_timeout never before
 * start + delay. No assertion depends on how late they are. */
static void timers_in_order_never_early(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	exec_scheduler *sch = exec_io_loop_scheduler(loop);
	enum { N = 64 };
	timed_rx rx[N];
	exec_sender *s[N];
	void *ops[N];
	int order[N], n = 0;
	exec_time base = exec_clock_now() + 2 * EXEC_NS_PER_MS;
	unsigned seed = 12345;
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		/* 16 distinct deadlines, 4 timers each: ties included. */
		int slot = (int)((seed >> 16) % 16);
		memset(&rx[i], 0, sizeof rx[i]);
		rx[i].base.ops = &tr_ops;
		rx[i].env.scheduler = sch;
		rx[i].order = order;
		rx[i].n = &n;
		rx[i].id = i;
		rx[i].deadline = base + slot * 500 * EXEC_NS_PER_US;
		if (i % 2) {
			s[i] = exec_schedule_at(sch, rx[i].deadline);
		} else {
			/* A relative timeout: its deadline is at least now +
			 * delay, so recording now before start is a lower
			 * bound that the firing time must reach. */
			int64_t delay = rx[i].deadline - exec_clock_now();
			if (delay < 0)
				delay = 0;
			rx[i].deadline = exec_clock_now() + delay;
			s[i] = exec_io_timeout(loop, delay);
		}
		ops[i] = aligned_alloc(64, (exec_sender_op_size(s[i]) + 63) & ~(size_t)63);
		assert_int_equal(exec_connect(s[i], ops[i], &rx[i].base), 0);
		exec_start(ops[i]);
	}
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(n, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(rx[i].calls, 1);
		assert_true(rx[i].fired >= rx[i].deadline);
	}
	/* The absolute ones (odd ids) in deadline order, FIFO among ties. */
	int prev = -1;
	for (int k = 0; k < N; k++) {
		int id = order[k];
		if (!(id % 2))
			continue;
		if (prev >= 0) {
			assert_true(rx[prev].deadline <= rx[id].deadline);
			if (rx[prev].deadline == rx[id].deadline)
				assert_true(prev < id);
		}
		prev = id;
	}
	/* Every timer fired after every timer with an earlier deadline
	 * that was already due: a firing order consistent with deadlines. */
	for (int k = 1; k < N; k++)
		assert_true(rx[order[k - 1]].fired <= rx[order[k]].fired);
	for (int i = 0; i < N; i++) {
		free(ops[i]);
		exec_sender_free(s[i]);
	}
	exec_io_loop_destroy(loop);
}

/* A timeout that is stopped completes stopped, long before its deadline
 * (the test would hang for an hour otherwise). */
static void timeout_stopped(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_sender *s = exec_io_timeout(loop, TEST_IO_LONG_DELAY);
	test_io_start(loop, s, &t, exec_stop_source_token(&src));
	test_spin(loop, 2);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	exec_sender_free(s);
	exec_test_receiver_destroy(&t);
	exec_io_loop_destroy(loop);
}

/* ---- provided buffer rings ---- */

static void provided_buffers(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	if (test_backend == EXEC_IO_BACKEND_URING &&
	    !exec_io_loop_features(loop)->buf_ring) {
		exec_io_loop_destroy(loop);
		test_skip("the kernel has no provided buffer rings (< 5.19)");
	}
	exec_io_buf_ring *ring = NULL;
	assert_int_equal(exec_io_buf_ring_create(loop, 3, 64, 1, &ring), -EINVAL);
	assert_int_equal(exec_io_buf_ring_create(loop, 2, 64, 1, &ring), 0);
	assert_int_equal(exec_io_buf_ring_buffer_size(ring), 64);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	exec_sender *rp = exec_io_recv_provided(loop, sv[0], ring, 0);

	/* Started before data arrives: no buffer is taken while waiting. */
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, rp, &t, exec_stop_token_never());
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(write(sv[1], "first", 5), 5);
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.values[0].type, EXEC_VALUE_SPAN);
	exec_span a = t.values[0].as.span;
	assert_int_equal(a.len, 5);
	assert_memory_equal(a.ptr, "first", 5);

	/* A second buffer while the first is still held. */
	assert_int_equal(write(sv[1], "second", 6), 6);
	exec_test_receiver t2;
	exec_test_receiver_init(&t2);
	test_io_start(loop, rp, &t2, exec_stop_token_never());
	test_run_until(loop, &t2);
	exec_test_assert_value(&t2);
	exec_span b = t2.values[0].as.span;
	assert_int_equal(b.len, 6);
	assert_ptr_not_equal(a.ptr, b.ptr);
	assert_memory_equal(b.ptr, "second", 6);
	assert_memory_equal(a.ptr, "first", 5); /* untouched */

	/* Both held: the ring is empty. */
	assert_int_equal(write(sv[1], "third", 5), 5);
	assert_int_equal(test_io_error(loop, exec_io_recv_provided(loop, sv[0], ring, 0)),
			 -ENOBUFS);
	/* Give one back: the data waiting is received into it. */
	exec_io_buf_ring_recycle(ring, a.ptr);
	exec_test_receiver t3;
	exec_test_receiver_init(&t3);
	test_io_start(loop, rp, &t3, exec_stop_token_never());
	test_run_until(loop, &t3);
	exec_test_assert_value(&t3);
	exec_span c = t3.values[0].as.span;
	assert_int_equal(c.len, 5);
	assert_memory_equal(c.ptr, "third", 5);
	exec_io_buf_ring_recycle(ring, b.ptr);
	exec_io_buf_ring_recycle(ring, c.ptr);

	/* Peer closed: an empty span. */
	close(sv[1]);
	exec_test_receiver t4;
	exec_test_receiver_init(&t4);
	test_io_start(loop, rp, &t4, exec_stop_token_never());
	test_run_until(loop, &t4);
	exec_test_assert_value(&t4);
	assert_int_equal(t4.values[0].as.span.len, 0);

	/* Many rounds through a two-buffer ring: buffers come back. */
	int sv2[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2), 0);
	exec_sender *rp2 = exec_io_recv_provided(loop, sv2[0], ring, 0);
	for (int i = 0; i < 100; i++) {
		char msg[16];
		int len = snprintf(msg, sizeof msg, "m%d", i);
		assert_int_equal(write(sv2[1], msg, (size_t)len), len);
		exec_test_receiver tr;
		exec_test_receiver_init(&tr);
		test_io_start(loop, rp2, &tr, exec_stop_token_never());
		test_run_until(loop, &tr);
		exec_test_assert_value(&tr);
		exec_span sp = tr.values[0].as.span;
		assert_int_equal(sp.len, (size_t)len);
		assert_memory_equal(sp.ptr, msg, (size_t)len);
		exec_io_buf_ring_recycle(ring, sp.ptr);
		exec_test_receiver_destroy(&tr);
	}
	close(sv2[0]);
	close(sv2[1]);
	exec_sender_free(rp2);

	exec_sender_free(rp);
	exec_test_receiver_destroy(&t);
	exec_test_receiver_destroy(&t2);
	exec_test_receiver_destroy(&t3);
	exec_test_receiver_destroy(&t4);
	close(sv[0]);
	exec_io_buf_ring_destroy(ring);
	exec_io_loop_destroy(loop);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(file_round_trip),
	cmocka_unit_test(file_position_reads),
	cmocka_unit_test(readv_writev),
	cmocka_unit_test(socketpair_recv_send),
	cmocka_unit_test(socketpair_msgs),
	cmocka_unit_test(exactly_and_all_short_transfers),
	cmocka_unit_test(poll_readiness),
	cmocka_unit_test(shutdown_write_side),
	cmocka_unit_test(bad_fds),
	cmocka_unit_test(tiny_ring_full_sq_and_cq_overflow),
	cmocka_unit_test(timers_in_order_never_early),
	cmocka_unit_test(timeout_stopped),
	cmocka_unit_test(provided_buffers),
};

TEST_MAIN_BOTH_BACKENDS(tests)
