/* examples/offload.c - the "run_in_executor" pattern: an io_uring loop
 * receives requests, moves the CPU-heavy part to a thread pool with
 * continues_on, and comes back to the loop to reply.
 *
 *   offload [--conns K] [--requests M] [--work N] [--threads T]
 *
 * A client thread opens K loopback TCP connections and sends M requests on
 * each (an 8-byte number). The server side runs on one exec_io_loop; each
 * connection is one sender, built once and run M times with repeat_n:
 *
 *   read_exactly(fd, &req, 8)           on the loop (io_uring)
 *     | continues_on(pool)              hop to a pool worker
 *     | then(compute)                   count the primes below req: CPU work
 *     | continues_on(loop)              hop back to the loop thread
 *     | then(prepare_reply)             loop-only state is touched here
 *     | let_value -> write_all(fd, &reply, 8)
 *
 * The K connection senders run side by side under one when_all. The loop
 * thread never computes, so it keeps accepting, reading and writing while
 * the pool works. The client checks every reply against its own
 * computation; the server side checks that every compute ran on a pool
 * worker and every reply was prepared on the loop thread. Exit status 0
 * only when all K * M replies are right and every hop landed where it
 * should. Prints the elapsed time and how many computations overlapped.
 */
/* CEXEC_TEST_ARGS: --conns 8 --requests 50 --work 5000 */
/* CEXEC_TEST_LABELS: tsan */
#include <cexec.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The CPU-heavy function: primes below n by trial division. */
static uint64_t count_primes(uint64_t n)
{
	uint64_t count = 0;
	for (uint64_t i = 2; i < n; i++) {
		bool prime = true;
		for (uint64_t d = 2; d * d <= i; d++) {
			if (i % d == 0) {
				prime = false;
				break;
			}
		}
		count += prime;
	}
	return count;
}

struct server;

struct conn {
	struct server *srv;
	int fd;
	uint64_t req;   /* filled by read_exactly on the loop */
	uint64_t reply; /* written by compute on the pool, sent from the loop */
	exec_sender *write_s;
};

struct server {
	exec_io_loop *loop;
	exec_thread_pool *pool;
	AO_t computed;          /* computations done (pool threads) */
	AO_t off_pool;          /* computations that ran elsewhere: a bug */
	AO_t busy, max_busy;    /* computations running at once */
	unsigned long replies;  /* loop thread only */
	unsigned long off_loop; /* replies prepared elsewhere: a bug */
};

static int compute(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	struct conn *c = ctx;
	struct server *srv = c->srv;
	(void)in;
	(void)n;
	(void)out;
	if (exec_thread_pool_current() != srv->pool)
		AO_fetch_and_add1(&srv->off_pool);
	AO_t now = AO_fetch_and_add1(&srv->busy) + 1;
	for (AO_t m = AO_load(&srv->max_busy);
	     now > m && !AO_compare_and_swap(&srv->max_busy, m, now);
	     m = AO_load(&srv->max_busy)) {
	}
	c->reply = count_primes(c->req);
	AO_fetch_and_sub1(&srv->busy);
	AO_fetch_and_add1(&srv->computed);
	return 0;
}

static int prepare_reply(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	struct conn *c = ctx;
	(void)in;
	(void)n;
	(void)out;
	/* Back on the loop: loop-owned counters need no atomics here. */
	if (!exec_io_loop_on_thread(c->srv->loop))
		c->srv->off_loop++;
	c->srv->replies++;
	return 0;
}

static exec_sender *send_reply(void *ctx, const exec_value *v, size_t n)
{
	struct conn *c = ctx;
	(void)v;
	(void)n;
	return exec_sender_ref(c->write_s); /* built once, run per request */
}

static exec_sender *conn_sender(struct conn *c, uint64_t requests)
{
	struct server *srv = c->srv;
	exec_sender *s = exec_io_read_exactly(srv->loop, c->fd, &c->req, sizeof c->req, -1);
	s = exec_continues_on(s, exec_thread_pool_scheduler(srv->pool));
	s = exec_then(s, compute, c);
	s = exec_continues_on(s, exec_io_loop_scheduler(srv->loop));
	s = exec_then(s, prepare_reply, c);
	s = exec_let_value(s, send_reply, c);
	return exec_repeat_n(s, requests);
}

/* ---- the client ------------------------------------------------------------ */

struct client {
	uint16_t port;
	int conns;
	uint64_t requests, work;
	unsigned long good, bad;
	int err;
};

static int full_io(int fd, void *buf, size_t len, bool wr)
{
	char *p = buf;
	while (len) {
		ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	int *fds = calloc((size_t)cl->conns, sizeof *fds);
	uint64_t *reqs = calloc(cl->requests, sizeof *reqs);
	if (!fds || !reqs) {
		cl->err = -ENOMEM;
		goto out;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(cl->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < cl->conns; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0) {
			cl->err = -errno;
			goto out;
		}
		int one = 1;
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	/* Requests differ per round so a reply to the wrong request shows. */
	for (uint64_t r = 0; r < cl->requests; r++)
		reqs[r] = cl->work + (r * 7919) % (cl->work / 2 + 1);
	/* All requests of every connection go out first (M * 8 bytes fits
	 * the socket buffers); the server works on them concurrently. */
	for (int i = 0; i < cl->conns; i++) {
		for (uint64_t r = 0; r < cl->requests && !cl->err; r++) {
			uint64_t v = reqs[r] + (uint64_t)i;
			cl->err = full_io(fds[i], &v, sizeof v, true);
		}
	}
	for (int i = 0; i < cl->conns && !cl->err; i++) {
		for (uint64_t r = 0; r < cl->requests; r++) {
			uint64_t v;
			cl->err = full_io(fds[i], &v, sizeof v, false);
			if (cl->err)
				break;
			if (v == count_primes(reqs[r] + (uint64_t)i))
				cl->good++;
			else
				cl->bad++;
		}
	}
out:
	if (fds)
		for (int i = 0; i < cl->conns; i++)
			if (fds[i] > 0)
				close(fds[i]);
	free(fds);
	free(reqs);
	return NULL;
}

/* ---- main ------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"conns", required_argument, NULL, 'c'},
		{"requests", required_argument, NULL, 'r'},
		{"work", required_argument, NULL, 'w'},
		{"threads", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	long conns = 8, requests = 50, work = 20000, threads = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': conns = strtol(optarg, NULL, 10); break;
		case 'r': requests = strtol(optarg, NULL, 10); break;
		case 'w': work = strtol(optarg, NULL, 10); break;
		case 't': threads = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: offload [--conns K] [--requests M] "
					"[--work N] [--threads T]\n");
			return 2;
		}
	}
	if (conns < 1 || conns > 1000 || requests < 1 || requests > 4096 ||
	    work < 2 || work > 10000000 || threads < 1 || threads > 64) {
		fprintf(stderr, "offload: bad arguments\n");
		return 2;
	}
	struct server srv = {0};
	int rc = exec_io_loop_create(&srv.loop, NULL);
	if (rc == 0)
		rc = exec_thread_pool_create(&srv.pool, (unsigned)threads);
	if (rc < 0) {
		fprintf(stderr, "offload: setup: %s\n", exec_strerror(rc));
		return 1;
	}
	uint16_t port = 0;
	int lfd = exec_reuseport_listen("127.0.0.1", 0, 1024, &port);
	if (lfd < 0) {
		fprintf(stderr, "offload: listen: %s\n", exec_strerror(lfd));
		return 1;
	}
	/* Accept the K connections first (blocking the loop thread is fine
	 * before the loop runs), then build one sender per connection. */
	struct client cl = {.port = port, .conns = (int)conns,
			    .requests = (uint64_t)requests, .work = (uint64_t)work};
	pthread_t client;
	double t0 = now_s();
	if (pthread_create(&client, NULL, client_main, &cl) != 0)
		return 1;
	struct conn *cs = calloc((size_t)conns, sizeof *cs);
	exec_sender **kids = calloc((size_t)conns, sizeof *kids);
	if (!cs || !kids)
		return 1;
	exec_sender *acc = exec_io_accept(srv.loop, lfd, NULL, NULL, SOCK_CLOEXEC);
	int accepted = 0;
	for (; accepted < conns; accepted++) {
		exec_result r;
		if (exec_io_loop_sync_wait(srv.loop, acc, &r) != 0)
			break;
		struct conn *c = &cs[accepted];
		c->srv = &srv;
		c->fd = (int)exec_value_as_i64(&r.values[0]);
		c->write_s = exec_io_write_all(srv.loop, c->fd, &c->reply,
					       sizeof c->reply, -1);
		kids[accepted] = conn_sender(c, (uint64_t)requests);
	}
	exec_sender_free(acc);
	int status = 1;
	if (accepted == conns) {
		exec_sender *all = exec_when_all(kids, (size_t)conns);
		rc = exec_io_loop_sync_wait(srv.loop, all, NULL);
		exec_sender_free(all);
		if (rc != 0)
			printf("server: %s\n", exec_strerror(rc));
	} else {
		for (int i = 0; i < accepted; i++)
			exec_sender_free(kids[i]);
	}
	pthread_join(client, NULL);
	double dt = now_s() - t0;
	unsigned long total = (unsigned long)(conns * requests);
	printf("%lu requests over %ld connections, work %ld: %.1f ms on %s + %ld pool "
	       "thread%s\n",
	       total, conns, work, dt * 1e3, exec_io_loop_backend_name(srv.loop),
	       threads, threads == 1 ? "" : "s");
	printf("  computed on the pool: %lu (elsewhere: %lu), at most %lu at once\n",
	       (unsigned long)AO_load(&srv.computed), (unsigned long)AO_load(&srv.off_pool),
	       (unsigned long)AO_load(&srv.max_busy));
	printf("  replies prepared on the loop: %lu (elsewhere: %lu)\n", srv.replies,
	       srv.off_loop);
	printf("  client: %lu right, %lu wrong%s%s\n", cl.good, cl.bad,
	       cl.err ? ", error: " : "", cl.err ? exec_strerror(cl.err) : "");
	if (rc == 0 && accepted == conns && cl.err == 0 && cl.good == total &&
	    cl.bad == 0 && AO_load(&srv.computed) == total && AO_load(&srv.off_pool) == 0 &&
	    srv.replies == total && srv.off_loop == 0)
		status = 0;
	for (int i = 0; i < accepted; i++) {
		exec_sender_free(cs[i].write_s);
		close(cs[i].fd);
	}
	free(cs);
	free(kids);
	close(lfd);
	exec_thread_pool_destroy(srv.pool);
	exec_io_loop_destroy(srv.loop);
	printf("%s\n", status == 0 ? "ok" : "FAILED");
	return status;
}
