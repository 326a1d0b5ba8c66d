/* bench/echo/echo_load.c - load generator for the echo benchmark.
 *
 *   echo_load --port P [--conns N] [--threads T] [--size B] [--duration S]
 *             [--server-pid PID] [--connect-batch K]
 *
 * Opens N connections to 127.0.0.1:P (split over T threads, one io_uring
 * each, at most K connects in flight per thread so the server's accept queue
 * never overflows), does one round trip on each (so every connection has
 * been accepted and served once), then lets them sit idle and reads the
 * server's VmRSS. Then each connection does B-byte ping-pong (send B bytes,
 * receive B bytes, check them, repeat) for S seconds; every round trip's
 * latency goes into a log-linear histogram (about 3% resolution). The run
 * stops by itself: after S seconds no new round trip starts and the
 * outstanding ones get at most 2 s to finish.
 *
 * With --server-pid it also reports the server's CPU time per round trip
 * (utime + stime from /proc/PID/stat over the measured window) and its RSS
 * growth per connection (VmRSS from /proc/PID/status before connecting vs
 * after all connections are open and idle).
 *
 * Prints a human-readable summary and a last line
 *   RESULT conns=.. rt=.. rt_per_s=.. p50_us=.. p99_us=.. cpu_us_per_rt=..
 *          rss_kb_before=.. rss_kb_idle=.. rss_bytes_per_conn=.. errors=..
 * for scripts (fields a run could not measure are -1). Exit status 0 when
 * every connection opened and every echoed byte matched, 1 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* CEXEC_LINK: m */

enum { OP_CONNECT = 0, OP_SEND = 1, OP_RECV = 2, OP_MASK = 3 };

/* Histogram: exact below 64 ns, then 32 linear sub-buckets per power of two. */
enum { HIST_SUB_BITS = 5, HIST_SUB = 1 << HIST_SUB_BITS, HIST_N = 2048 };

static unsigned hist_index(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	unsigned m = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
	return 2 * HIST_SUB + (e - HIST_SUB_BITS - 1) * HIST_SUB + m;
}

static double hist_value(unsigned idx) /* the middle of the bucket */
{
	if (idx < 2 * HIST_SUB)
		return idx;
	unsigned e = (idx - 2 * HIST_SUB) / HIST_SUB + HIST_SUB_BITS + 1;
	unsigned m = (idx - 2 * HIST_SUB) % HIST_SUB;
	double lo = ldexp((double)(HIST_SUB + m), (int)e - HIST_SUB_BITS);
	return lo + ldexp(0.5, (int)e - HIST_SUB_BITS);
}

struct lconn {
	int fd;
	uint32_t sent, rcvd;
	uint64_t t0;
	int active; /* a round trip is in flight */
	unsigned char *sbuf, *rbuf;
};

struct lthread {
	pthread_t thread;
	int index;
	int nconns;
	struct lconn *conns;
	struct io_uring ring;
	uint64_t hist[HIST_N];
	uint64_t rts;       /* round trips completed inside the window */
	uint64_t inflight;  /* operations submitted, not yet completed */
	int connecting, connected, next_connect;
	int errors;
	int mismatches;
	char err[160];
};

static int g_port = -1;
static int g_conns = 100;
static int g_threads = 1;
static unsigned g_size = 64;
static double g_duration = 5.0;
static int g_server_pid = 0;
static int g_connect_batch = 64;
static pthread_barrier_t g_ready, g_go;
static volatile uint64_t g_deadline_ns;
static volatile int g_failed;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct lthread *t, const char *what, int err)
{
	if (!t->err[0])
		snprintf(t->err, sizeof(t->err), "thread %d: %s: %s", t->index, what,
			 strerror(err));
	t->errors++;
}

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	while (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

static void set_ud(struct io_uring_sqe *sqe, struct lconn *c, int op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | (uint64_t)op);
}

static struct sockaddr_in g_addr;

static void start_connect(struct lthread *t)
{
	struct lconn *c = &t->conns[t->next_connect++];
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(t, "socket", errno);
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct io_uring_sqe *sqe = get_sqe(&t->ring);
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&g_addr, sizeof(g_addr));
	set_ud(sqe, c, OP_CONNECT);
	t->connecting++;
	t->inflight++;
}

static void send_rest(struct lthread *t, struct lconn *c)
{
	struct io_uring_sqe *sqe = get_sqe(&t->ring);
	io_uring_prep_send(sqe, c->fd, c->sbuf + c->sent, g_size - c->sent, MSG_NOSIGNAL);
	set_ud(sqe, c, OP_SEND);
	t->inflight++;
}

static void recv_rest(struct lthread *t, struct lconn *c)
{
	struct io_uring_sqe *sqe = get_sqe(&t->ring);
	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rcvd, g_size - c->rcvd, MSG_WAITALL);
	set_ud(sqe, c, OP_RECV);
	t->inflight++;
}

/* Send and receive are queued together: the receive waits for the echo. */
static void start_rt(struct lthread *t, struct lconn *c, uint64_t now)
{
	c->t0 = now;
	c->sent = 0;
	c->rcvd = 0;
	c->active = 1;
	/* Vary the payload so a stale or misplaced echo is caught. */
	c->sbuf[0]++;
	send_rest(t, c);
	recv_rest(t, c);
}

/* Phase: 0 = connect, 1 = warm-up round trip, 2 = measured ping-pong,
 * 3 = drain. */
static void on_cqe(struct lthread *t, struct io_uring_cqe *cqe, int phase)
{
	uint64_t v = io_uring_cqe_get_data64(cqe);
	struct lconn *c = (struct lconn *)(uintptr_t)(v & ~(uint64_t)OP_MASK);
	int op = (int)(v & OP_MASK);
	t->inflight--;
	switch (op) {
	case OP_CONNECT:
		t->connecting--;
		if (cqe->res < 0) {
			fail(t, "connect", -cqe->res);
			return;
		}
		t->connected++;
		start_rt(t, c, now_ns()); /* the warm-up round trip */
		return;
	case OP_SEND:
		if (cqe->res <= 0) {
			fail(t, "send", cqe->res ? -cqe->res : EPIPE);
			c->active = 0;
			return;
		}
		c->sent += (uint32_t)cqe->res;
		if (c->sent < g_size)
			send_rest(t, c);
		return;
	case OP_RECV:
		if (cqe->res <= 0) {
			fail(t, "recv", cqe->res ? -cqe->res : ECONNRESET);
			c->active = 0;
			return;
		}
		c->rcvd += (uint32_t)cqe->res;
		if (c->rcvd < g_size) {
			recv_rest(t, c);
			return;
		}
		c->active = 0;
		if (memcmp(c->sbuf, c->rbuf, g_size) != 0) {
			t->mismatches++;
			fail(t, "echo", EBADMSG);
			return;
		}
		if (phase == 2) {
			uint64_t now = now_ns();
			if (now > g_deadline_ns)
				return;
			t->hist[hist_index(now - c->t0)]++;
			t->rts++;
			start_rt(t, c, now);
		}
		return;
	}
}

/* Runs the ring until done(t) or until_ns passes; returns 0 or -ETIMEDOUT. */
static int pump(struct lthread *t, int phase, int (*done)(struct lthread *),
		uint64_t until_ns)
{
	while (!done(t)) {
		if (now_ns() > until_ns)
			return -ETIMEDOUT;
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			fail(t, "io_uring_submit_and_wait_timeout", -rc);
			return rc;
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&t->ring, head, cqe)
		{
			seen++;
			on_cqe(t, cqe, phase);
		}
		io_uring_cq_advance(&t->ring, seen);
		if (phase == 0)
			while (t->connecting < g_connect_batch && t->next_connect < t->nconns &&
			       !t->errors)
				start_connect(t);
	}
	return 0;
}

static int all_connected_and_idle(struct lthread *t)
{
	return t->errors || (t->next_connect == t->nconns && t->inflight == 0);
}

static int window_over(struct lthread *t)
{
	return now_ns() > g_deadline_ns;
}

static int drained(struct lthread *t)
{
	return t->inflight == 0;
}

static int setup_ring(struct lthread *t)
{
	struct io_uring_params p;
	/* Two operations per connection may be in flight. */
	unsigned cq = 8192; /* at least the submission queue's 4096 */
	while (cq < 2u * (unsigned)t->nconns + 64)
		cq <<= 1;
	const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int rc = -EINVAL;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = cq;
		rc = io_uring_queue_init_params(4096, &t->ring, &p);
		if (rc != -EINVAL)
			break;
	}
	return rc;
}

static void *thread_main(void *arg)
{
	struct lthread *t = arg;
	int rc = setup_ring(t);
	if (rc < 0) {
		fail(t, "io_uring_queue_init", -rc);
		g_failed = 1;
		pthread_barrier_wait(&g_ready);
		pthread_barrier_wait(&g_go);
		return NULL;
	}
	/* Connect (bounded batches) and one warm-up round trip each. */
	while (t->connecting < g_connect_batch && t->next_connect < t->nconns && !t->errors)
		start_connect(t);
	rc = pump(t, 0, all_connected_and_idle, now_ns() + 60ull * 1000000000u);
	if (rc == -ETIMEDOUT)
		fail(t, "connect + first echo (60 s)", ETIMEDOUT);
	if (t->errors)
		g_failed = 1;
	pthread_barrier_wait(&g_ready);
	pthread_barrier_wait(&g_go); /* the main thread measured the idle server */
	if (!g_failed) {
		uint64_t now = now_ns();
		for (int i = 0; i < t->nconns; i++)
			start_rt(t, &t->conns[i], now);
		pump(t, 2, window_over, UINT64_MAX);
		/* No new round trips now; give the outstanding ones 2 s. */
		pump(t, 3, drained, now_ns() + 2ull * 1000000000u);
	}
	for (int i = 0; i < t->nconns; i++)
		if (t->conns[i].fd > 0)
			close(t->conns[i].fd);
	io_uring_queue_exit(&t->ring);
	return NULL;
}

/* The server's utime + stime in clock ticks, or -1. */
static long long proc_cpu_ticks(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command name may contain spaces: fields restart after ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long utime, stime;
	/* Fields 3..13 are skipped; 14 and 15 are utime and stime. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &utime, &stime) != 2)
		return -1;
	return (long long)(utime + stime);
}

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: echo_load --port P [--conns N] [--threads T] [--size B] "
		   "[--duration S] [--server-pid PID] [--connect-batch K]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, 0, 'p'},
		{"conns", required_argument, 0, 'c'},
		{"threads", required_argument, 0, 't'},
		{"size", required_argument, 0, 's'},
		{"duration", required_argument, 0, 'd'},
		{"server-pid", required_argument, 0, 'P'},
		{"connect-batch", required_argument, 0, 'b'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': g_port = atoi(optarg); break;
		case 'c': g_conns = atoi(optarg); break;
		case 't': g_threads = atoi(optarg); break;
		case 's': g_size = (unsigned)atoi(optarg); break;
		case 'd': g_duration = atof(optarg); break;
		case 'P': g_server_pid = atoi(optarg); break;
		case 'b': g_connect_batch = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (g_port <= 0 || g_port > 65535 || g_conns < 1 || g_threads < 1 ||
	    g_threads > 64 || g_threads > g_conns || g_size < 1 || g_size > 65536 ||
	    !(g_duration > 0) || g_duration > 3600 || g_connect_batch < 1) {
		usage(stderr);
		return 2;
	}
	/* Each connection is one descriptor: raise the soft limit to the hard. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)g_conns + 64 > rl.rlim_cur) {
			fprintf(stderr, "echo_load: %d connections need more than the %llu "
					"descriptors allowed\n",
				g_conns, (unsigned long long)rl.rlim_cur);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&g_addr, 0, sizeof(g_addr));
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((uint16_t)g_port);
	g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	struct lthread *ts = calloc((size_t)g_threads, sizeof(*ts));
	struct lconn *conns = calloc((size_t)g_conns, sizeof(*conns));
	unsigned char *bufs = calloc((size_t)g_conns, 2 * (size_t)g_size);
	if (!ts || !conns || !bufs) {
		fprintf(stderr, "echo_load: out of memory\n");
		return 1;
	}
	for (int i = 0; i < g_conns; i++) {
		conns[i].fd = -1;
		conns[i].sbuf = bufs + (size_t)i * 2 * g_size;
		conns[i].rbuf = conns[i].sbuf + g_size;
		for (unsigned k = 0; k < g_size; k++)
			conns[i].sbuf[k] = (unsigned char)(i * 7 + k);
	}
	long rss_before = g_server_pid ? proc_rss_kb(g_server_pid) : -1;

	pthread_barrier_init(&g_ready, NULL, (unsigned)g_threads + 1);
	pthread_barrier_init(&g_go, NULL, (unsigned)g_threads + 1);
	g_deadline_ns = UINT64_MAX;
	int first = 0;
	for (int i = 0; i < g_threads; i++) {
		ts[i].index = i;
		ts[i].nconns = g_conns / g_threads + (i < g_conns % g_threads);
		ts[i].conns = conns + first;
		first += ts[i].nconns;
		if (pthread_create(&ts[i].thread, NULL, thread_main, &ts[i]) != 0) {
			fprintf(stderr, "echo_load: pthread_create failed\n");
			return 1;
		}
	}
	pthread_barrier_wait(&g_ready);
	/* Every connection is open, has echoed once and is idle now; let the
	 * server finish re-arming its receives before reading its RSS. */
	sleep_ns(200 * 1000 * 1000);
	long rss_idle = g_server_pid ? proc_rss_kb(g_server_pid) : -1;
	long long cpu0 = g_server_pid ? proc_cpu_ticks(g_server_pid) : -1;
	uint64_t t0 = now_ns();
	uint64_t window = (uint64_t)(g_duration * 1e9);
	g_deadline_ns = t0 + window;
	pthread_barrier_wait(&g_go);
	sleep_ns(window);
	long long cpu1 = g_server_pid ? proc_cpu_ticks(g_server_pid) : -1;
	for (int i = 0; i < g_threads; i++)
		pthread_join(ts[i].thread, NULL);

	uint64_t rts = 0;
	int errors = 0, mismatches = 0;
	static uint64_t hist[HIST_N];
	for (int i = 0; i < g_threads; i++) {
		rts += ts[i].rts;
		errors += ts[i].errors;
		mismatches += ts[i].mismatches;
		for (int k = 0; k < HIST_N; k++)
			hist[k] += ts[i].hist[k];
		if (ts[i].err[0])
			fprintf(stderr, "echo_load: %s (%d errors)\n", ts[i].err, ts[i].errors);
	}
	double p50 = -1, p99 = -1;
	uint64_t cum = 0;
	for (int k = 0; k < HIST_N && rts; k++) {
		cum += hist[k];
		if (p50 < 0 && cum * 100 >= rts * 50)
			p50 = hist_value((unsigned)k) / 1000.0;
		if (p99 < 0 && cum * 100 >= rts * 99)
			p99 = hist_value((unsigned)k) / 1000.0;
	}
	double rate = (double)rts / g_duration;
	double cpu_us = -1;
	if (cpu0 >= 0 && cpu1 >= 0 && rts)
		cpu_us = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) * 1e6 / (double)rts;
	double rss_per_conn = -1;
	if (rss_before >= 0 && rss_idle >= 0)
		rss_per_conn = (double)(rss_idle - rss_before) * 1024.0 / g_conns;

	printf("echo_load: %d connections, %u-byte ping-pong, %.1f s, %d threads\n", g_conns,
	       g_size, g_duration, g_threads);
	printf("  round trips/s     %.0f (%llu round trips)\n", rate, (unsigned long long)rts);
	printf("  latency p50/p99   %.1f / %.1f us\n", p50, p99);
	if (g_server_pid) {
		printf("  server CPU/rt     %.3f us\n", cpu_us);
		printf("  server RSS        %ld kB before, %ld kB with all connections idle: "
		       "%.0f bytes per connection\n",
		       rss_before, rss_idle, rss_per_conn);
	}
	printf("RESULT conns=%d rt=%llu rt_per_s=%.0f p50_us=%.2f p99_us=%.2f "
	       "cpu_us_per_rt=%.4f rss_kb_before=%ld rss_kb_idle=%ld "
	       "rss_bytes_per_conn=%.1f errors=%d\n",
	       g_conns, (unsigned long long)rts, rate, p50, p99, cpu_us, rss_before, rss_idle,
	       rss_per_conn, errors);
	free(bufs);
	free(conns);
	free(ts);
	pthread_barrier_destroy(&g_ready);
	pthread_barrier_destroy(&g_go);
	return (errors || mismatches || g_failed || rts == 0) ? 1 : 0;
}
