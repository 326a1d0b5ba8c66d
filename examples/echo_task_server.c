/* examples/echo_task_server.c - the TCP echo server of examples/echo/,
 * written as straight-line code: one fiber per connection.
 *
 *   echo_task_server [--port P] [--threads N] [--max-conns M]
 *                    [--max-seconds S]
 *                    [--self-test [--self-test-conns C] [--self-test-msgs K]]
 *
 * Each of the N threads runs one io loop (schedulers/io_loop_group.h) with
 * its own SO_REUSEPORT listener on 127.0.0.1:P (P = 0 picks a free port,
 * printed as "listening on 127.0.0.1:<port>"). On each loop an acceptor
 * fiber awaits exec_io_accept in a loop and spawns, for every connection, a
 * fiber task into one counting scope:
 *
 *     for (;;) {
 *             n = await recv(fd, buf);          // the fiber parks here
 *             if (n <= 0) break;
 *             await send(fd, buf, n);           // until all n bytes left
 *     }
 *
 * The buffer and every operation state live on the fiber's stack (32 KiB,
 * guarded); the fiber runs on its loop's thread.
 *
 * Robustness: at most --max-conns connections at once (default 10,000; the
 * connection over the bound, or one for which no guarded stack is left, is
 * accepted and closed at once); EMFILE / ENFILE / ENOMEM / ENOBUFS on accept
 * make the acceptor await a 100 ms timer and go on; sends use MSG_NOSIGNAL.
 *
 * Shutdown: SIGINT, SIGTERM or --max-seconds (0: none) request stop on the
 * scope: every fiber's pending await completes stopped (the stop token is
 * forwarded into each await), the fiber closes its socket and returns; the
 * scope's join completes; then the loops stop.
 *
 * --self-test runs a loopback client in the main thread: C connections x K
 * messages with verified bytes, a 1 MiB message, a peer reset, the
 * --max-conns bound, every connection released, and shutdown with idle
 * connections open; exit status 0 when every case passed. */
/* CEXEC_TEST_ARGS: --self-test --threads 2 --self-test-conns 48 --self-test-msgs 8 --max-conns 64 --max-seconds 60 */
/* CEXEC_TEST_LABELS: tsan */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cexec.h"

#define CONN_STACK (32 * 1024)
#define BUF_SIZE 8192

static struct {
	long max_conns;
	exec_counting_scope scope;
	AO_t live;     /* connection fibers not finished */
	AO_t accepted; /* served connections, total */
	AO_t refused;  /* accepted and closed at once (bound, no stack) */
	AO_t bytes;    /* echoed */
	AO_t resets;   /* connections that ended with an error */
} srv;

static volatile sig_atomic_t quit;

typedef struct loop_ctx {
	exec_io_loop *loop;
	int lfd;
} loop_ctx;

typedef struct conn {
	exec_io_loop *loop;
	int fd;
} conn;

/* ---- the server: fibers ------------------------------------------------- */

static int64_t conn_task(void *arg)
{
	conn c = *(conn *)arg;
	free(arg);
	char buf[BUF_SIZE];
	/* Built once: the same buffer every round, reconnected by each await. */
	exec_sender *rd = exec_io_recv(c.loop, c.fd, buf, sizeof buf, 0);
	int64_t total = 0;
	int rc;
	for (;;) {
		exec_result r;
		rc = exec_await(rd, &r);
		if (rc != 0)
			break;
		int64_t n = exec_value_as_i64(&r.values[0]);
		if (n <= 0)
			break; /* the peer closed */
		for (int64_t off = 0; off < n && rc == 0;) {
			rc = exec_await_take(exec_io_send(c.loop, c.fd, buf + off,
							  (size_t)(n - off), 0),
					     &r);
			if (rc == 0)
				off += exec_value_as_i64(&r.values[0]);
		}
		if (rc != 0)
			break;
		total += n;
	}
	exec_sender_free(rd);
	close(c.fd);
	AO_fetch_and_add(&srv.bytes, (AO_t)total);
	if (rc < 0)
		AO_fetch_and_add1(&srv.resets);
	AO_fetch_and_sub1_release(&srv.live);
	if (rc == EXEC_STOPPED)
		return exec_fiber_return_stopped();
	return rc < 0 ? exec_fiber_return_error(rc) : total;
}

static bool accept_error_is_transient(int rc)
{
	return rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -ENOBUFS;
}

static int64_t acceptor(void *arg)
{
	loop_ctx *lc = arg;
	exec_sender *acc = exec_io_accept(lc->loop, lc->lfd, NULL, NULL, SOCK_CLOEXEC);
	exec_fiber_options opts = {CONN_STACK, 0};
	for (;;) {
		exec_result r;
		int rc = exec_await(acc, &r);
		if (rc == EXEC_STOPPED)
			break;
		if (rc < 0) {
			if (!accept_error_is_transient(rc) && rc != -ECONNABORTED) {
				fprintf(stderr, "accept: %s\n", exec_strerror(rc));
				break;
			}
			/* Out of descriptors: keep serving, try again later. */
			if (exec_await_take(exec_io_timeout(lc->loop, 100 * EXEC_NS_PER_MS),
					    NULL) == EXEC_STOPPED)
				break;
			continue;
		}
		int fd = (int)exec_value_as_i64(&r.values[0]);
		if (AO_load(&srv.live) >= (AO_t)srv.max_conns ||
		    exec_stack_guarded_count() + 8 >= exec_stack_guarded_limit()) {
			AO_fetch_and_add1(&srv.refused); /* before the peer sees EOF */
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		conn *c = malloc(sizeof *c);
		if (!c) {
			close(fd);
			AO_fetch_and_add1(&srv.refused);
			continue;
		}
		c->loop = lc->loop;
		c->fd = fd;
		AO_fetch_and_add1(&srv.live);
		AO_fetch_and_add1(&srv.accepted);
		/* Runs the new fiber here until its first await parks it. */
		if (exec_scope_spawn(&srv.scope, exec_fiber_sender(conn_task, c, &opts),
				     NULL) != 0) {
			AO_fetch_and_sub1(&srv.live);
			close(fd);
			free(c);
		}
	}
	exec_sender_free(acc);
	return 0;
}

static void setup_loop(exec_io_loop *loop, unsigned index, void *ctx)
{
	loop_ctx *lc = (loop_ctx *)ctx + index;
	lc->loop = loop;
	int rc = exec_scope_spawn(&srv.scope, exec_fiber_sender(acceptor, lc, NULL), NULL);
	if (rc != 0)
		fprintf(stderr, "loop %u: acceptor: %s\n", index, exec_strerror(rc));
}

/* ---- the self-test client ----------------------------------------------- */

static int port_of_server;

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_of_server)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct timeval tv = {10, 0}; /* a lost echo fails the test, not hangs */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(seed * 31 + i * 7 + (i >> 8));
}

#define CHECK(cond, ...)                                   \
	do {                                               \
		if (!(cond)) {                             \
			fprintf(stderr, "FAIL: " __VA_ARGS__); \
			fputc('\n', stderr);               \
			return -1;                         \
		}                                          \
	} while (0)

static int wait_live(AO_t want)
{
	for (int i = 0; i < 1000 && AO_load_acquire(&srv.live) != want; i++)
		usleep(10000);
	return AO_load_acquire(&srv.live) == want ? 0 : -1;
}

static int case_messages(int conns, int msgs)
{
	int *fd = calloc((size_t)conns, sizeof *fd);
	char out[3000], in[3000];
	for (int i = 0; i < conns; i++) {
		fd[i] = dial();
		CHECK(fd[i] >= 0, "connect %d: %s", i, exec_strerror(fd[i]));
	}
	for (int m = 0; m < msgs; m++) {
		for (int i = 0; i < conns; i++) {
			size_t n = 1 + (size_t)((i * 131 + m * 977) % (int)sizeof out);
			fill(out, n, (unsigned)(i * 1000 + m));
			CHECK(send_all(fd[i], out, n) == 0, "send conn %d msg %d", i, m);
		}
		for (int i = 0; i < conns; i++) {
			size_t n = 1 + (size_t)((i * 131 + m * 977) % (int)sizeof out);
			fill(out, n, (unsigned)(i * 1000 + m));
			CHECK(recv_all(fd[i], in, n) == 0, "echo conn %d msg %d", i, m);
			CHECK(memcmp(in, out, n) == 0, "bytes differ, conn %d msg %d", i, m);
		}
	}
	for (int i = 0; i < conns; i++)
		close(fd[i]);
	free(fd);
	printf("self-test: %d connections x %d messages echoed\n", conns, msgs);
	return 0;
}

/* Larger than every socket buffer: the client must read while it writes,
 * and the server's fiber parks in send while the client is slow. */
static int case_big(void)
{
	size_t n = 1 << 20;
	char *out = malloc(n), *in = malloc(n);
	fill(out, n, 77);
	int fd = dial();
	CHECK(fd >= 0, "connect: %s", exec_strerror(fd));
	size_t sent = 0, got = 0;
	while (got < n) {
		struct pollfd p = {fd, (short)(POLLIN | (sent < n ? POLLOUT : 0)), 0};
		CHECK(poll(&p, 1, 10000) > 0, "1 MiB echo stalled at %zu/%zu", got, n);
		if ((p.revents & POLLOUT) && sent < n) {
			ssize_t w = send(fd, out + sent, n - sent > 65536 ? 65536 : n - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			CHECK(w > 0 || errno == EAGAIN, "send: %s", strerror(errno));
			if (w > 0)
				sent += (size_t)w;
		}
		if (p.revents & POLLIN) {
			ssize_t r = recv(fd, in + got, n - got, MSG_DONTWAIT);
			CHECK(r > 0 || errno == EAGAIN, "recv: %s", r == 0 ? "closed" : strerror(errno));
			if (r > 0)
				got += (size_t)r;
		}
	}
	CHECK(memcmp(in, out, n) == 0, "1 MiB echo differs");
	close(fd);
	free(out);
	free(in);
	printf("self-test: 1 MiB echoed\n");
	return 0;
}

static int case_reset(void)
{
	int fd = dial();
	CHECK(fd >= 0, "connect: %s", exec_strerror(fd));
	char b[16] = "reset me";
	CHECK(send_all(fd, b, sizeof b) == 0 && recv_all(fd, b, sizeof b) == 0, "echo");
	CHECK(send_all(fd, b, sizeof b) == 0, "send");
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd); /* RST */
	/* The server goes on. */
	fd = dial();
	CHECK(fd >= 0, "connect after reset: %s", exec_strerror(fd));
	CHECK(send_all(fd, "x", 1) == 0 && recv_all(fd, b, 1) == 0 && b[0] == 'x',
	      "echo after reset");
	close(fd);
	printf("self-test: peer reset survived\n");
	return 0;
}

static int case_bound(void)
{
	long m = srv.max_conns;
	if (m > 1000) {
		printf("self-test: --max-conns %ld too large to fill here, bound not tested\n", m);
		return 0;
	}
	CHECK(wait_live(0) == 0, "connections left over before the bound case");
	int *fd = calloc((size_t)m, sizeof *fd);
	for (long i = 0; i < m; i++) {
		fd[i] = dial();
		CHECK(fd[i] >= 0, "connect %ld: %s", i, exec_strerror(fd[i]));
		char c = (char)i, e;
		CHECK(send_all(fd[i], &c, 1) == 0 && recv_all(fd[i], &e, 1) == 0 && e == c,
		      "echo on bounded conn %ld", i);
	}
	AO_t refused = AO_load(&srv.refused);
	int over = dial();
	CHECK(over >= 0, "connect over the bound: %s", exec_strerror(over));
	char b;
	ssize_t r = recv(over, &b, 1, 0); /* EOF (or reset): closed at once */
	CHECK(r == 0 || (r < 0 && errno == ECONNRESET), "connection over the bound served");
	CHECK(AO_load(&srv.refused) == refused + 1, "refusal not counted");
	close(over);
	for (long i = 0; i < m; i++)
		close(fd[i]);
	free(fd);
	CHECK(wait_live(0) == 0, "bounded connections not released");
	printf("self-test: --max-conns %ld enforced\n", m);
	return 0;
}

static int self_test(int conns, int msgs)
{
	if (case_messages(conns, msgs) || case_big() || case_reset() || case_bound())
		return -1;
	CHECK(wait_live(0) == 0, "%lu connections not released", (unsigned long)AO_load(&srv.live));
	printf("self-test: every connection released\n");
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_task_server [--port P] [--threads N] [--max-conns M] "
			"[--max-seconds S] [--self-test [--self-test-conns C] "
			"[--self-test-msgs K]]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"threads", required_argument, NULL, 't'},
		{"max-conns", required_argument, NULL, 'm'},
		{"max-seconds", required_argument, NULL, 's'},
		{"self-test", no_argument, NULL, 'T'},
		{"self-test-conns", required_argument, NULL, 'C'},
		{"self-test-msgs", required_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	int port = 0, threads = 1, conns = 64, msgs = 8;
	long max_seconds = 0;
	bool test = false;
	srv.max_conns = 10000;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': port = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'm': srv.max_conns = atol(optarg); break;
		case 's': max_seconds = atol(optarg); break;
		case 'T': test = true; break;
		case 'C': conns = atoi(optarg); break;
		case 'K': msgs = atoi(optarg); break;
		default: usage();
		}
	}
	if (port < 0 || port > 65535 || threads < 1 || threads > 256 || srv.max_conns < 1 ||
	    conns < 1 || msgs < 1 || max_seconds < 0)
		usage();
	if (test && conns >= srv.max_conns)
		conns = (int)srv.max_conns - 1 > 0 ? (int)srv.max_conns - 1 : 1;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (exec_counting_scope_init(&srv.scope) != 0)
		return 1;
	/* Every listener is bound here, so that port 0 means one port. */
	loop_ctx *lc = calloc((size_t)threads, sizeof *lc);
	uint16_t bound = (uint16_t)port;
	for (int i = 0; i < threads; i++) {
		lc[i].lfd = exec_reuseport_listen("127.0.0.1", bound, 1024, &bound);
		if (lc[i].lfd < 0) {
			fprintf(stderr, "listen: %s\n", exec_strerror(lc[i].lfd));
			return 1;
		}
	}
	port_of_server = bound;
	exec_io_loop_group *g;
	int rc = exec_io_loop_group_start(&g, (unsigned)threads, NULL, setup_loop, lc);
	if (rc != 0) {
		fprintf(stderr, "loops: %s\n", exec_strerror(rc));
		return 1;
	}
	printf("listening on 127.0.0.1:%u (%d threads, fibers of %d KiB)\n", bound, threads,
	       CONN_STACK / 1024);
	fflush(stdout);

	int result = 0;
	exec_time deadline = max_seconds ? exec_clock_now() + max_seconds * EXEC_NS_PER_S : 0;
	if (test) {
		result = self_test(conns, msgs);
		if (result == 0) {
			/* Shutdown with idle connections open: stop reaches them. */
			int idle[8];
			for (int i = 0; i < 8; i++)
				idle[i] = dial();
			for (int i = 0; i < 200 && AO_load_acquire(&srv.live) < 8; i++)
				usleep(10000);
			if (AO_load_acquire(&srv.live) != 8) {
				fprintf(stderr, "FAIL: idle connections not served\n");
				result = -1;
			}
			exec_scope_request_stop(&srv.scope);
			exec_sender *j = exec_scope_join(&srv.scope);
			exec_sync_wait(j, NULL);
			exec_sender_free(j);
			if (AO_load(&srv.live) != 0) {
				fprintf(stderr, "FAIL: stop left connections\n");
				result = -1;
			}
			for (int i = 0; i < 8; i++) {
				char b;
				if (idle[i] >= 0 && recv(idle[i], &b, 1, 0) != 0) {
					fprintf(stderr, "FAIL: idle connection not closed by stop\n");
					result = -1;
				}
				close(idle[i]);
			}
			if (result == 0)
				printf("self-test: stop closed idle connections\n");
		}
	} else {
		while (!quit && (!deadline || exec_clock_now() < deadline))
			usleep(50000);
	}
	exec_scope_request_stop(&srv.scope);
	exec_sender *j = exec_scope_join(&srv.scope);
	exec_sync_wait(j, NULL);
	exec_sender_free(j);
	exec_io_loop_group_stop(g);
	exec_io_loop_group_join(g);
	for (int i = 0; i < threads; i++)
		close(lc[i].lfd);
	free(lc);
	exec_counting_scope_destroy(&srv.scope);
	printf("served %lu connections, refused %lu, %lu errors, %lu bytes echoed%s\n",
	       (unsigned long)AO_load(&srv.accepted), (unsigned long)AO_load(&srv.refused),
	       (unsigned long)AO_load(&srv.resets), (unsigned long)AO_load(&srv.bytes),
	       test ? (result ? "; self-test FAILED" : "; self-test passed") : "");
	return result ? 1 : 0;
}
