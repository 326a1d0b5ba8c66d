/* tests/io/io_echo_many.h - n connections on loopback, each echoing once:
 * the server is an exec_io_loop on this thread (multishot accept, then a
 * recv / write_all sender pair per connection, reconnected each round);
 * the clients live in a forked child (so each process stays well under
 * the 20,000 fd limit with 10,000 connections open at once). The child
 * connects all n, sends a distinct 8-byte tag on each, then reads every
 * echo back and checks it, then resets all; it exits 0 only if every echo
 * matched. Bounded: the client sockets time out after 30 s and the server
 * gives up after 120 s (a failure, never a pass). */
#ifndef CEXEC_IO_ECHO_MANY_H
#define CEXEC_IO_ECHO_MANY_H

#include "io_test_util.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>

typedef struct echo_srv {
	exec_io_loop *loop;
	size_t accepted, echoed, closed, errors;
	size_t op_size, op_align;
} echo_srv;

typedef struct echo_conn {
	exec_receiver base;
	exec_env env;
	echo_srv *srv;
	int fd;
	bool writing;
	bool echoed;
	exec_sender *rd;
	exec_sender *wr;
	char buf[16];
	void *op;
} echo_conn;

static void echo_end(echo_conn *c)
{
	echo_srv *srv = c->srv;
	close(c->fd);
	exec_sender_free(c->rd);
	exec_sender_free(c->wr);
	free(c->op);
	free(c);
	srv->closed++;
}

static void echo_next(echo_conn *c, exec_sender *s)
{
	/* The previous operation in c->op has completed: reuse its storage. */
	if (exec_connect(s, c->op, &c->base) < 0) {
		c->srv->errors++;
		echo_end(c);
		return;
	}
	exec_start(c->op);
}

static void echo_value(exec_receiver *r, const exec_value *v, size_t n)
{
	echo_conn *c = EXEC_CONTAINER_OF(r, echo_conn, base);
	assert_int_equal(n, 1);
	int64_t got = exec_value_as_i64(&v[0]);
	if (c->writing) {
		c->srv->echoed++;
		c->echoed = true;
		c->writing = false;
		echo_next(c, c->rd);
		return;
	}
	if (got == 0) { /* the client closed */
		echo_end(c);
		return;
	}
	exec_sender_free(c->wr);
	c->wr = exec_io_write_all(c->srv->loop, c->fd, c->buf, (size_t)got, -1);
	c->writing = true;
	echo_next(c, c->wr);
}

static void echo_error(exec_receiver *r, int err)
{
	echo_conn *c = EXEC_CONTAINER_OF(r, echo_conn, base);
	if (err == -ECONNRESET && c->echoed) {
		/* The client's linger-0 close after its echo: expected. */
		echo_end(c);
		return;
	}
	fprintf(stderr, "echo connection: %s\n", exec_strerror(err));
	c->srv->errors++;
	echo_end(c);
}

static void echo_stopped(exec_receiver *r)
{
	echo_end(EXEC_CONTAINER_OF(r, echo_conn, base));
}

static const exec_env *echo_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, echo_conn, base)->env;
}

static const exec_receiver_ops echo_ops = {echo_value, echo_error, echo_stopped,
					   echo_env};

static void echo_accept(void *ctx, int fd)
{
	echo_srv *srv = ctx;
	srv->accepted++;
	echo_conn *c = calloc(1, sizeof *c);
	assert_non_null(c);
	c->base.ops = &echo_ops;
	c->env.scheduler = exec_io_loop_scheduler(srv->loop);
	c->srv = srv;
	c->fd = fd;
	c->rd = exec_io_recv(srv->loop, fd, c->buf, sizeof c->buf, 0);
	c->op = aligned_alloc(srv->op_align, srv->op_size);
	assert_non_null(c->op);
	echo_next(c, c->rd);
}

/* The client side, in the child. Returns the exit status. */
static int echo_clients(const struct sockaddr_in *a, size_t n)
{
	int *fds = calloc(n, sizeof *fds);
	if (!fds)
		return 2;
	struct timeval tv = {30, 0};
	for (size_t i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			return 3;
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fds[i], (const struct sockaddr *)a, sizeof *a) < 0)
			return 4;
		char tag[24];
		snprintf(tag, sizeof tag, "%08zu", i);
		if (write(fds[i], tag, 8) != 8)
			return 5;
	}
	for (size_t i = 0; i < n; i++) {
		char tag[24], got[8];
		snprintf(tag, sizeof tag, "%08zu", i);
		size_t have = 0;
		while (have < 8) {
			ssize_t k = read(fds[i], got + have, 8 - have);
			if (k <= 0)
				return 6;
			have += (size_t)k;
		}
		if (memcmp(got, tag, 8) != 0)
			return 7;
	}
	/* Reset instead of FIN: no TIME_WAIT left behind, so repeated runs
	 * do not use up the ephemeral ports. */
	struct linger lg = {1, 0};
	for (size_t i = 0; i < n; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(fds[i]);
	}
	free(fds);
	return 0;
}

/* Runs the whole exchange with n connections; asserts every one echoed
 * exactly once and closed cleanly. */
static void echo_many(size_t n)
{
	exec_io_loop *loop = test_loop_new();
	struct sockaddr_in a;
	int l = test_listener(4096, &a);
	echo_srv srv;
	memset(&srv, 0, sizeof srv);
	srv.loop = loop;
	exec_sender *probe = exec_io_write_all(loop, 0, "", 0, -1);
	srv.op_size = exec_sender_op_size(probe);
	srv.op_align = exec_sender_op_align(probe);
	srv.op_size = (srv.op_size + srv.op_align - 1) & ~(srv.op_align - 1);
	exec_sender_free(probe);

	exec_stop_source stop;
	exec_stop_source_init(&stop);
	exec_test_receiver acc;
	exec_test_receiver_init(&acc);
	exec_sender *ms = exec_io_accept_multishot(loop, l, SOCK_CLOEXEC,
						   echo_accept, &srv);
	test_io_start(loop, ms, &acc, exec_stop_source_token(&stop));

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(l);
		_exit(echo_clients(&a, n));
	}
	/* A guard timer ends a hung run as a failure. */
	bool timed_out = false;
	exec_test_receiver guard;
	exec_test_receiver_init(&guard);
	exec_sender *gs = exec_io_timeout(loop, 120 * EXEC_NS_PER_S);
	test_io_start(loop, gs, &guard, exec_stop_source_token(&stop));
	while (srv.closed < n && !exec_test_completions(&guard))
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	timed_out = AO_load(&guard.values_calls) != 0;
	exec_stop_source_request(&stop);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "client child: status %#x\n", (unsigned)status);
	assert_false(timed_out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(srv.accepted, n);
	assert_int_equal(srv.echoed, n);
	assert_int_equal(srv.closed, n);
	assert_int_equal(srv.errors, 0);
	exec_test_assert_stopped(&acc);
	exec_sender_free(ms);
	exec_sender_free(gs);
	exec_test_receiver_destroy(&acc);
	exec_test_receiver_destroy(&guard);
	close(l);
	exec_io_loop_destroy(loop);
}

#endif
