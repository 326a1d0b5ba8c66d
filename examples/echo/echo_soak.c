/* examples/echo/echo_soak.c - echo_server's --soak: connections churning
 * while the server's resources are sampled (see echo_soak.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_selftest.h"
#include "echo_soak.h"

/* ---- --soak: connections churning while resources are sampled -----------
 *
 * The client runs in a child process forked before any thread exists (so
 * each process stays under the descriptor limit: N sockets each). In each
 * wave it opens N connections (at most SOAK_CONNECTING at a time), echoes
 * one verified 64-byte message on each, then ends them all: a third send
 * another message and reset at once (the server may be sending), a third
 * reset, a third close normally. It then tells the server process, which
 * waits until it has accepted the wave's N connections and closed every
 * one. While the wave churns the server samples its open descriptors, the
 * in-flight requests of every loop (exec_io_loop_inflight, read by a task
 * on each loop) and its RSS every SOAK_SAMPLE_MS and prints the peaks;
 * after the wave all three must be back at their starting level (sampled
 * before the first wave): the same fds and in-flight counts, RSS within
 * SOAK_RSS_SLACK once free heap memory is trimmed (the provided-buffer
 * rings are prefaulted, so they are in the starting RSS). A leak of L
 * bytes per connection shows after N * W * L > the slack. */

#define SOAK_CONNECTING 512
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SOAK_SANITIZER 1
#endif
#endif
#ifndef SOAK_SANITIZER
#define SOAK_SANITIZER 0
#endif
#define SOAK_RSS_SLACK (2L << 20)

static int soak_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int soak_read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

typedef struct soak_conn {
	int fd;
	unsigned got;
	bool sent, done;
} soak_conn;

/* One wave of the client: 0, or -1 after printing why. */
static int soak_wave(int ep, soak_conn *cs, int n, uint16_t port, unsigned wave)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned char msg[64], back[64];
	int opened = 0, finished = 0, connecting = 0;
	memset(cs, 0, (size_t)n * sizeof(*cs));
	while (finished < n) {
		while (opened < n && connecting < SOAK_CONNECTING) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				fprintf(stderr, "soak client: socket: %s\n", strerror(errno));
				return -1;
			}
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			    errno != EINPROGRESS) {
				fprintf(stderr, "soak client: connect: %s\n", strerror(errno));
				close(fd);
				return -1;
			}
			cs[opened].fd = fd;
			struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)opened};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			opened++;
			connecting++;
		}
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, SELFTEST_WAIT_MS);
		if (k == 0) {
			fprintf(stderr, "soak client: no progress (%d of %d done)\n", finished, n);
			return -1;
		}
		for (int e = 0; e < k; e++) {
			uint32_t i = evs[e].data.u32;
			soak_conn *c = &cs[i];
			echo_st_fill(msg, sizeof msg, wave * 7919u + i);
			if (!c->sent) {
				int err = 0;
				socklen_t len = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || send(c->fd, msg, sizeof msg, MSG_NOSIGNAL) != sizeof msg) {
					fprintf(stderr, "soak client: connection %u: %s\n", i,
						strerror(err ? err : errno));
					return -1;
				}
				c->sent = true;
				struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			ssize_t r = recv(c->fd, back + c->got, sizeof back - c->got, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0) {
				fprintf(stderr, "soak client: connection %u: %s\n", i,
					r == 0 ? "closed by the server" : strerror(errno));
				return -1;
			}
			/* The bytes of one message arrive in order: compare as
			 * they come. */
			if (memcmp(back + c->got, msg + c->got, (size_t)r) != 0) {
				fprintf(stderr, "soak client: connection %u: wrong bytes\n", i);
				return -1;
			}
			c->got += (unsigned)r;
			if (c->got == sizeof msg) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->done = true;
				finished++;
				connecting--;
			}
		}
	}
	/* Every connection was accepted and echoed: end them. */
	for (int i = 0; i < n; i++) {
		struct linger lg = {1, 0};
		if (i % 3 == 0)
			send(cs[i].fd, msg, sizeof msg, MSG_NOSIGNAL);
		if (i % 3 != 2)
			setsockopt(cs[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(cs[i].fd);
	}
	return 0;
}

/* The child: reads the port, runs the waves, reports each (one byte: 0 ok,
 * 1 failed) and waits for the go-ahead (one byte) before the next. */
int echo_soak_client(int rd, int wr, int n, int waves)
{
	uint16_t port;
	if (soak_read_all(rd, &port, sizeof port) < 0)
		return 1;
	soak_conn *cs = calloc((size_t)n, sizeof(*cs));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0)
		return 1;
	for (int w = 0; w < waves; w++) {
		unsigned char st = soak_wave(ep, cs, n, port, (unsigned)w) == 0 ? 0 : 1;
		unsigned char go;
		if (soak_write_all(wr, &st, 1) < 0 || st)
			return 1;
		if (w + 1 < waves && soak_read_all(rd, &go, 1) < 0)
			return 1;
	}
	close(ep);
	free(cs);
	return 0;
}

static long soak_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

static long soak_rss(void)
{
	long pages = -1, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void soak_sample_task(exec_task *t, int status)
{
	server_loop *sl = EXEC_CONTAINER_OF(t, server_loop, sample_task);
	(void)status;
	AO_store(&sl->inflight_sample, (AO_t)exec_io_loop_inflight(sl->loop));
	AO_fetch_and_add1_release(&sl->sampled);
}

/* The sum of the loops' in-flight requests, each read on its own thread. */
static long soak_inflight(server_loop *sls, int n)
{
	long sum = 0;
	for (int i = 0; i < n; i++) {
		AO_t before = AO_load_acquire(&sls[i].sampled);
		sls[i].sample_task.fn = soak_sample_task;
		exec_scheduler_submit(exec_io_loop_scheduler(sls[i].loop), &sls[i].sample_task);
		for (int k = 0; k < SELFTEST_WAIT_MS && AO_load_acquire(&sls[i].sampled) == before;
		     k++)
			usleep(1000);
		if (AO_load_acquire(&sls[i].sampled) == before)
			return -1;
		sum += (long)AO_load(&sls[i].inflight_sample);
	}
	return sum;
}

/* One sample of the server's resources. */
typedef struct soak_sample {
	long fds, inflight, rss;
} soak_sample;

static soak_sample soak_take(server_loop *sls)
{
	soak_sample m;
	m.fds = soak_count_fds();
	m.inflight = soak_inflight(sls, g_cfg.threads);
	m.rss = soak_rss();
	return m;
}

/* Waits for the client's one-byte report of a wave, sampling the server
 * every SOAK_SAMPLE_MS meanwhile (while the connections churn); *peak
 * keeps the highest of each. 0 and the byte, or -1. */
#define SOAK_SAMPLE_MS 20
static int soak_wait_report(server_loop *sls, int rd, unsigned char *st, soak_sample *peak)
{
	for (;;) {
		soak_sample m = soak_take(sls);
		if (m.fds > peak->fds)
			peak->fds = m.fds;
		if (m.inflight > peak->inflight)
			peak->inflight = m.inflight;
		if (m.rss > peak->rss)
			peak->rss = m.rss;
		struct pollfd p = {.fd = rd, .events = POLLIN};
		int rc = poll(&p, 1, SOAK_SAMPLE_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc > 0)
			return soak_read_all(rd, st, 1);
	}
}

/* The server side of --soak. Returns the exit status.
 *
 * The starting level is sampled before the first wave, at rest (the
 * provided-buffer rings are prefaulted, so their memory is in it). After
 * every wave, once every connection is closed, free heap memory is handed
 * back (malloc_trim: glibc keeps a freed arena's pages otherwise) and
 * then open fds and in-flight io requests must equal the starting counts
 * and RSS must be within SOAK_RSS_SLACK of the starting RSS. During the
 * wave all three are sampled and their peaks printed (they show the churn
 * that came and went; not checked: how high they get depends on timing). */
int echo_soak_main(server_loop *sls, uint16_t port, int rd, int wr, int n, int waves)
{
	malloc_trim(0);
	soak_sample m0 = soak_take(sls), m = m0;
	long rss_max = m0.rss;
	bool ok = soak_write_all(wr, &port, sizeof port) == 0; /* the client starts */
	printf("soak: %d connections x %d waves; at rest: %ld fds, %ld in flight, RSS %ld KiB\n",
	       n, waves, m0.fds, m0.inflight, m0.rss / 1024);
	for (int w = 0; ok && w < waves; w++) {
		unsigned char st = 1;
		soak_sample peak = m0;
		ok = soak_wait_report(sls, rd, &st, &peak) == 0 && st == 0;
		if (!ok) {
			fprintf(stderr, "soak: the client failed in wave %d\n", w + 1);
			break;
		}
		/* Every connection of the wave was accepted before the client
		 * reported; wait until the server closed them all. */
		ok = echo_st_wait_open(0);
		malloc_trim(0);
		m = soak_take(sls);
		if (m.rss > rss_max)
			rss_max = m.rss;
		printf("soak: wave %d: peak %ld fds, %ld in flight, RSS %ld KiB; at rest %ld fds, "
		       "%ld in flight, RSS %ld KiB; %lu accepted, %lu ended with an error\n",
		       w + 1, peak.fds, peak.inflight, peak.rss / 1024, m.fds, m.inflight,
		       m.rss / 1024, (unsigned long)AO_load(&g_stats.accepted),
		       (unsigned long)AO_load(&g_stats.failed));
		fflush(stdout);
		if (m.fds != m0.fds || m.inflight != m0.inflight) {
			fprintf(stderr, "soak: wave %d: %ld fds (start %ld), %ld in flight (start %ld)\n",
				w + 1, m.fds, m0.fds, m.inflight, m0.inflight);
			ok = false;
		}
		if (!SOAK_SANITIZER && m.rss > m0.rss + SOAK_RSS_SLACK) {
			fprintf(stderr, "soak: wave %d: RSS %ld KiB, start %ld KiB (bound +%ld KiB)\n",
				w + 1, m.rss / 1024, m0.rss / 1024, SOAK_RSS_SLACK / 1024);
			ok = false;
		}
		unsigned char go = 1;
		if (w + 1 < waves)
			ok = ok && soak_write_all(wr, &go, 1) == 0;
	}
	if (SOAK_SANITIZER) {
		/* Their allocators keep freed memory aside (ASan's quarantine):
		 * RSS says nothing here; LeakSanitizer checks for leaks. */
		printf("soak: RSS not bounded under a sanitizer\n");
	}
	printf("soak: %s (after every wave: fds and in-flight requests back to %ld and %ld; RSS at "
	       "most %ld KiB, start %ld KiB, bound +%ld KiB%s)\n",
	       ok ? "passed" : "FAILED", m0.fds, m0.inflight, rss_max / 1024, m0.rss / 1024,
	       SOAK_RSS_SLACK / 1024, SOAK_SANITIZER ? ", not checked under a sanitizer" : "");
	return ok ? 0 : 1;
}
