/* examples/echo/echo_selftest.c - echo_server's --self-test: a loopback
 * client (see echo_selftest.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_selftest.h"
#include "echo_server.h"

/* ---- --self-test: a loopback client in a thread of its own ---------------
 *
 * Plain sockets and poll(), on purpose independent of cexec, so the server
 * is checked by code that does not share its machinery. Every wait is
 * bounded (SELFTEST_WAIT_MS); every case prints one line. */

static int st_failures;

static void st_result(const char *name, bool ok, const char *detail)
{
	printf("self-test: %-28s %s%s%s\n", name, ok ? "ok" : "FAILED", detail ? ": " : "",
	       detail ? detail : "");
	fflush(stdout);
	if (!ok)
		st_failures++;
}

static int st_dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Sends n bytes and reads n bytes back, interleaved with poll() so that a
 * message larger than the socket buffers cannot deadlock. Returns 0 when
 * the echo matched, -EBADMSG when a byte differed, -ETIMEDOUT, -EPIPE on
 * EOF, or the socket's error. */
static int st_echo(int fd, const unsigned char *msg, size_t n, unsigned char *back)
{
	size_t sent = 0, got = 0;
	while (got < n) {
		struct pollfd p = {fd, POLLIN | (sent < n ? POLLOUT : 0), 0};
		int rc = poll(&p, 1, SELFTEST_WAIT_MS);
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (sent < n && (p.revents & POLLOUT)) {
			ssize_t w = send(fd, msg + sent, n - sent, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN)
				return -errno;
			if (w > 0)
				sent += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, back + got, n - got, 0);
			if (r == 0)
				return -EPIPE;
			if (r < 0 && errno != EAGAIN)
				return -errno;
			if (r > 0)
				got += (size_t)r;
		}
	}
	return memcmp(msg, back, n) == 0 ? 0 : -EBADMSG;
}

/* Waits until the peer closes fd (EOF or reset): true, or false after the
 * bounded wait. */
static bool st_expect_close(int fd)
{
	char c;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int rc = poll(&p, 1, SELFTEST_WAIT_MS);
		if (rc <= 0)
			return false;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return true;
	}
}

void echo_st_fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

/* Waits (bounded) until the server counts want connections open. */
bool echo_st_wait_open(long want)
{
	for (int i = 0; i < SELFTEST_WAIT_MS / 10; i++) {
		if ((long)AO_load_acquire(&g_stats.open) == want)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

void *echo_selftest_main(void *arg)
{
	struct selftest_args *a = arg;
	char detail[160];
	size_t cap = 1 << 20;
	unsigned char *msg = malloc(cap), *back = malloc(cap);
	int *fds = calloc((size_t)a->conns, sizeof(int));
	if (!msg || !back || !fds) {
		st_result("allocate", false, "out of memory");
		goto out;
	}

	/* 1. M connections, K messages each, sizes from 1 byte to a few
	 * receive buffers (so one message may take several recv/send). */
	int opened = 0;
	for (; opened < a->conns; opened++) {
		fds[opened] = st_dial(a->port);
		if (fds[opened] < 0)
			break;
	}
	snprintf(detail, sizeof(detail), "%d of %d", opened, a->conns);
	st_result("open connections", opened == a->conns, detail);
	long bytes = 0;
	int bad = 0, first_err = 0;
	for (int k = 0; k < a->msgs && !bad; k++)
		for (int i = 0; i < opened && !bad; i++) {
			size_t n = 1 + ((size_t)k * 997u + (size_t)i * 131u) % 6000u;
			echo_st_fill(msg, n, (unsigned)(k * 100003 + i));
			int rc = st_echo(fds[i], msg, n, back);
			if (rc < 0) {
				bad = 1;
				first_err = rc;
			}
			bytes += (long)n;
		}
	snprintf(detail, sizeof(detail), "%d connections x %d messages, %ld bytes%s%s", opened,
		 a->msgs, bytes, bad ? ", first error " : "", bad ? strerror(-first_err) : "");
	st_result("echo bytes verified", !bad, detail);

	/* 2. One message larger than every socket buffer: the server must keep
	 * receiving while its sends wait. */
	if (opened > 0) {
		echo_st_fill(msg, cap, 77);
		int rc = st_echo(fds[0], msg, cap, back);
		st_result("1 MiB message", rc == 0, rc ? strerror(-rc) : NULL);
	}

	/* 3. A peer that resets mid-stream: that connection only is closed. */
	{
		int fd = st_dial(a->port);
		bool ok = fd >= 0;
		if (ok) {
			echo_st_fill(msg, 100, 5);
			ok = st_echo(fd, msg, 100, back) == 0;
			send(fd, msg, 100, MSG_NOSIGNAL);
			struct linger lg = {1, 0}; /* close() sends RST */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
		}
		ok = ok && opened > 0 && st_echo(fds[opened - 1], msg, 100, back) == 0;
		st_result("peer reset", ok && echo_st_wait_open(opened), NULL);
	}

	/* 4. A peer that sends a lot and closes without reading: the server's
	 * sends fail (EPIPE / ECONNRESET) and must not raise SIGPIPE. */
	{
		bool ok = true;
		for (int j = 0; j < 4 && ok; j++) {
			int fd = st_dial(a->port);
			/* One echo first: the server has accepted it. A peer
			 * that closes while still in the backlog would be
			 * accepted at some later point, and count as open
			 * there (during the max-conns case, say). */
			echo_st_fill(msg, 64, 8);
			if (fd < 0 || st_echo(fd, msg, 64, back) != 0) {
				if (fd >= 0)
					close(fd);
				ok = false;
				break;
			}
			echo_st_fill(msg, 256 * 1024, 9);
			size_t off = 0;
			for (int spins = 0; off < 256 * 1024 && spins < 1000; spins++) {
				ssize_t w = send(fd, msg + off, 256 * 1024 - off, MSG_NOSIGNAL);
				if (w > 0)
					off += (size_t)w;
				else
					break;
			}
			close(fd);
		}
		ok = ok && opened > 0 && st_echo(fds[0], msg, 1000, back) == 0;
		st_result("peer gone while echoing", ok && echo_st_wait_open(opened), NULL);
	}

	/* 5. --max-conns: fill up to the bound; one more connection is closed
	 * at once; after one closes, a new one is served again. */
	if (a->max_conns >= opened && a->max_conns - opened <= 64) {
		int fill[64], nfill = a->max_conns - opened;
		bool ok = true;
		echo_st_fill(msg, 64, 11);
		for (int j = 0; j < nfill; j++) {
			fill[j] = st_dial(a->port);
			ok = ok && fill[j] >= 0 && st_echo(fill[j], msg, 64, back) == 0;
		}
		ok = ok && echo_st_wait_open(a->max_conns);
		int extra = st_dial(a->port);
		ok = ok && extra >= 0 && st_expect_close(extra);
		if (extra >= 0)
			close(extra);
		int last = nfill > 0 ? fill[--nfill] : fds[--opened];
		if (last >= 0)
			close(last);
		ok = ok && echo_st_wait_open(a->max_conns - 1);
		int again = st_dial(a->port);
		ok = ok && again >= 0 && st_echo(again, msg, 64, back) == 0;
		if (again >= 0)
			close(again);
		for (int j = 0; j < nfill; j++)
			if (fill[j] >= 0)
				close(fill[j]);
		snprintf(detail, sizeof(detail), "bound %d", a->max_conns);
		st_result("max-conns", ok, detail);
	}

	/* 6. Everything closed: the server closes its side of every one. */
	for (int i = 0; i < opened; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	st_result("all connections released", echo_st_wait_open(0), NULL);
	/* 7. EMFILE on accept. The self-test runs with a low soft descriptor
	 * limit (see main; io_uring's accept reads the limit when it is
	 * armed). Fill the table with unconnected client sockets, free two,
	 * connect them all: the server accepts two, hits EMFILE on the next
	 * and pauses accepting while the accepted ones are served. Then the
	 * limit goes up; the accept resumes after its pause and every
	 * connection echoes. */
	{
		struct rlimit rl;
		bool ok = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max;
		int nconn = 0;
		size_t cap = ok ? (size_t)rl.rlim_cur : 0;
		int *em = ok ? calloc(cap, sizeof(int)) : NULL;
		int nem = 0;
		unsigned long pauses0 = (unsigned long)AO_load(&g_stats.pauses);
		ok = ok && em;
		while (ok && (size_t)nem < cap) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				break;
			em[nem++] = fd;
		}
		ok = ok && nem >= 4;
		if (ok) { /* two free descriptors for the server */
			close(em[--nem]);
			close(em[--nem]);
		}
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)a->port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		/* Six connections: two fit, four wait in the backlogs (and stay
		 * under --max-conns). Which two the server accepts is not
		 * known: with several loops each listener has its own backlog
		 * and the loops race for the two free descriptors. */
		nconn = nem < 6 ? nem : 6;
		for (int j = 0; ok && j < nconn; j++) {
			ok = connect(em[j], (struct sockaddr *)&sa, sizeof(sa)) == 0;
			fcntl(em[j], F_SETFL, fcntl(em[j], F_GETFL) | O_NONBLOCK);
		}
		/* Wait for the pause, with two connections open. */
		for (int i = 0; ok && i < SELFTEST_WAIT_MS / 10 &&
				(unsigned long)AO_load(&g_stats.pauses) == pauses0; i++)
			usleep(10 * 1000);
		ok = ok && echo_st_wait_open(2);
		/* While paused, the accepted two are served: send to all six
		 * and wait for two echoes (the others wait in a backlog). */
		echo_st_fill(msg, 64, 13);
		bool echoed[6] = {false};
		size_t got[6] = {0};
		int nechoed = 0;
		for (int j = 0; ok && j < nconn; j++)
			ok = send(em[j], msg, 64, MSG_NOSIGNAL) == 64;
		while (ok && nechoed < 2) {
			struct pollfd p[6];
			for (int j = 0; j < nconn; j++)
				p[j] = (struct pollfd){em[j], echoed[j] ? 0 : POLLIN, 0};
			int rc = poll(p, (nfds_t)nconn, SELFTEST_WAIT_MS);
			if (rc <= 0) {
				ok = rc < 0 && errno == EINTR;
				continue;
			}
			for (int j = 0; ok && j < nconn; j++) {
				if (!(p[j].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				ssize_t r = recv(em[j], back + got[j], 64 - got[j], 0);
				ok = r > 0 || (r < 0 && errno == EAGAIN);
				if (r > 0 && (got[j] += (size_t)r) == 64) {
					ok = memcmp(back, msg, 64) == 0;
					echoed[j] = true;
					nechoed++;
				}
			}
		}
		bool paused = (unsigned long)AO_load(&g_stats.pauses) > pauses0;
		if (em) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		/* The accept resumes: the other four get their echo (the bytes
		 * sent while they waited), then every one echoes once more. */
		for (int j = 0; ok && j < nconn; j++) {
			while (ok && !echoed[j]) {
				struct pollfd p = {em[j], POLLIN, 0};
				int rc = poll(&p, 1, SELFTEST_WAIT_MS);
				ssize_t r = rc > 0 ? recv(em[j], back + got[j], 64 - got[j], 0) : -1;
				ok = r > 0 || (rc < 0 && errno == EINTR) || (r < 0 && errno == EAGAIN);
				if (r > 0 && (got[j] += (size_t)r) == 64) {
					ok = memcmp(back, msg, 64) == 0;
					echoed[j] = true;
				}
			}
		}
		for (int j = 0; ok && j < nconn; j++)
			ok = st_echo(em[j], msg, 64, back) == 0;
		for (int j = 0; j < nem; j++)
			close(em[j]);
		free(em);
		ok = ok && echo_st_wait_open(0);
		snprintf(detail, sizeof(detail), "%d connections over a full table, %s", nconn,
			 paused ? "accept paused and resumed" : "no pause seen");
		st_result("EMFILE on accept", ok && paused, detail);
	}
out:
	free(msg);
	free(back);
	free(fds);
	a->rc = st_failures ? 1 : 0;
	return NULL;
}
