/* examples/http/http_selftest.c - see http_selftest.h. */
#include "http_selftest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_TIMEOUT_MS 5000

static int port_g;

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_g)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static bool send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* A connection's receive side: bytes read but not yet taken. */
struct reader {
	int fd;
	char buf[65536];
	size_t len;
	bool eof;
};

/* Reads more (waiting at most timeout_ms). 1: got bytes, 0: EOF, -1: error
 * or timeout (-2). */
static int fill(struct reader *r, int timeout_ms)
{
	if (r->len == sizeof r->buf)
		return -1;
	struct pollfd p = {.fd = r->fd, .events = POLLIN};
	int rc = poll(&p, 1, timeout_ms);
	if (rc == 0)
		return -2;
	if (rc < 0)
		return -1;
	ssize_t k = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
	if (k == 0) {
		r->eof = true;
		return 0;
	}
	if (k < 0)
		return errno == ECONNRESET ? 0 : -1;
	r->len += (size_t)k;
	return 1;
}

struct response {
	int status;
	bool close; /* "Connection: close" */
	size_t content_length;
	char body[256];
};

/* Takes one response off r. head_only: a response to HEAD (no body).
 * Returns 0, or -1 (timeout, EOF, malformed). */
static int read_response(struct reader *r, struct response *out, bool head_only)
{
	char *end;
	for (;;) {
		end = memmem(r->buf, r->len, "\r\n\r\n", 4);
		if (end)
			break;
		if (fill(r, READ_TIMEOUT_MS) <= 0)
			return -1;
	}
	size_t head = (size_t)(end - r->buf) + 4;
	if (head < 13 || memcmp(r->buf, "HTTP/1.1 ", 9) != 0)
		return -1;
	out->status = atoi(r->buf + 9);
	if (out->status >= 100 && out->status < 200) { /* interim: no body */
		out->content_length = 0;
		out->close = false;
		out->body[0] = '\0';
		memmove(r->buf, r->buf + head, r->len - head);
		r->len -= head;
		return 0;
	}
	char tmp[4096];
	size_t hn = head < sizeof tmp - 1 ? head : sizeof tmp - 1;
	memcpy(tmp, r->buf, hn);
	tmp[hn] = '\0';
	char *cl = strstr(tmp, "\r\nContent-Length: ");
	if (!cl)
		return -1;
	out->content_length = (size_t)strtoul(cl + 18, NULL, 10);
	out->close = strstr(tmp, "\r\nConnection: close\r\n") != NULL;
	size_t body = head_only ? 0 : out->content_length;
	while (r->len < head + body)
		if (fill(r, READ_TIMEOUT_MS) <= 0)
			return -1;
	size_t bn = body < sizeof out->body - 1 ? body : sizeof out->body - 1;
	memcpy(out->body, r->buf + head, bn);
	out->body[bn] = '\0';
	memmove(r->buf, r->buf + head + body, r->len - head - body);
	r->len -= head + body;
	return 0;
}

/* True when the server closes the connection (EOF or reset) within
 * timeout_ms without sending anything more. */
static bool expect_eof(struct reader *r, int timeout_ms)
{
	if (r->len > 0)
		return false;
	int rc = fill(r, timeout_ms);
	return rc == 0;
}

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("  FAIL %s:%d: %s\n", __func__, __LINE__, #cond);   \
			ok = false;                                            \
			goto out;                                              \
		}                                                              \
	} while (0)

#define CASE_BEGIN(r)                                                          \
	bool ok = true;                                                        \
	static struct reader r;                                                \
	r.len = 0;                                                             \
	r.eof = false;                                                         \
	r.fd = dial();                                                         \
	CHECK(r.fd >= 0)

#define CASE_END(r)                                                            \
out:                                                                           \
	if (r.fd >= 0)                                                         \
		close(r.fd);                                                   \
	printf("%s %s\n", ok ? "ok  " : "FAIL", __func__);                    \
	failures += !ok

static void get_root_keep_alive(void)
{
	CASE_BEGIN(r);
	struct response res;
	for (int i = 0; i < 3; i++) {
		CHECK(send_str(r.fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
		CHECK(read_response(&r, &res, false) == 0);
		CHECK(res.status == 200);
		CHECK(res.content_length == 13);
		CHECK(strcmp(res.body, "Hello, World!") == 0);
		CHECK(!res.close);
	}
	CASE_END(r);
}

static void not_found_and_head(void)
{
	CASE_BEGIN(r);
	struct response res;
	CHECK(send_str(r.fd, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 404);
	CHECK(send_str(r.fd, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(read_response(&r, &res, true) == 0);
	CHECK(res.status == 200 && res.content_length == 13);
	/* Still usable: HEAD sent no body. */
	CHECK(send_str(r.fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 200 && strcmp(res.body, "Hello, World!") == 0);
	CASE_END(r);
}

static void pipelined(void)
{
	CASE_BEGIN(r);
	struct response res;
	/* 50 requests in one write, alternating 200 and 404, plus a body. */
	static char req[50 * 80];
	size_t n = 0;
	for (int i = 0; i < 50; i++)
		n += (size_t)sprintf(req + n, "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n",
				     i % 2 ? "x" : "");
	n += (size_t)sprintf(req + n, "POST /u HTTP/1.1\r\nHost: t\r\n"
				      "Content-Length: 5\r\n\r\nhello");
	CHECK(send_all(r.fd, req, n));
	for (int i = 0; i < 50; i++) {
		CHECK(read_response(&r, &res, false) == 0);
		CHECK(res.status == (i % 2 ? 404 : 200));
	}
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 404);
	CASE_END(r);
}

static void byte_at_a_time(void)
{
	CASE_BEGIN(r);
	struct response res;
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: yes\r\n\r\n";
	for (size_t i = 0; i < sizeof req - 1; i++) {
		CHECK(send_all(r.fd, req + i, 1));
		if (i % 8 == 0) {
			struct timespec ts = {0, 2 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 200);
	CASE_END(r);
}

static void connection_close(void)
{
	CASE_BEGIN(r);
	struct response res;
	CHECK(send_str(r.fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 200 && res.close);
	CHECK(expect_eof(&r, READ_TIMEOUT_MS));
	CASE_END(r);
}

static void http10(void)
{
	CASE_BEGIN(r);
	struct response res;
	CHECK(send_str(r.fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 200 && !res.close);
	CHECK(send_str(r.fd, "GET / HTTP/1.0\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 200 && res.close);
	CHECK(expect_eof(&r, READ_TIMEOUT_MS));
	CASE_END(r);
}

static void malformed_400_then_close(void)
{
	CASE_BEGIN(r);
	struct response res;
	/* A valid request first: answered; then the bad one: 400, closed. */
	CHECK(send_str(r.fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
			     "GET / HTTP/1.1\r\nHost t\r\n\r\n"
			     "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 200);
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 400 && res.close);
	CHECK(expect_eof(&r, READ_TIMEOUT_MS));
	CASE_END(r);
}

static void binary_garbage(void)
{
	CASE_BEGIN(r);
	struct response res;
	char junk[3000];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof junk; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (char)(x >> 16);
	}
	junk[0] = 0x16; /* a TLS handshake's first byte */
	CHECK(send_all(r.fd, junk, sizeof junk) || true);
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 400 && res.close);
	CASE_END(r);
}

static void header_too_large_431(void)
{
	CASE_BEGIN(r);
	struct response res;
	static char req[20000];
	int n = sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(req + n, 'b', 12000);
	memcpy(req + n + 12000, "\r\n\r\n", 4);
	/* The server may close before reading it all: ignore send errors. */
	send_all(r.fd, req, (size_t)n + 12004);
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 431 && res.close);
	CASE_END(r);
}

static void chunked_upload(void)
{
	CASE_BEGIN(r);
	struct response res;
	CHECK(send_str(r.fd, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
			     "Expect: 100-continue\r\n\r\n"));
	CHECK(read_response(&r, &res, true) == 0 && res.status == 100);
	CHECK(send_str(r.fd, "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 405);
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 200);
	CASE_END(r);
}

static void idle_keep_alive_times_out(int idle_ms)
{
	CASE_BEGIN(r);
	struct response res;
	CHECK(send_str(r.fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(read_response(&r, &res, false) == 0);
	/* Then silence: closed without a response within a few timeouts. */
	CHECK(expect_eof(&r, 4 * idle_ms + 2000));
	CASE_END(r);
}

static void slow_request_408(int idle_ms)
{
	CASE_BEGIN(r);
	struct response res;
	CHECK(send_str(r.fd, "GET / HTTP/1.1\r\nHo"));
	CHECK(read_response(&r, &res, false) == 0);
	CHECK(res.status == 408 && res.close);
	CHECK(expect_eof(&r, 4 * idle_ms + 2000));
	CASE_END(r);
}

/* A client that pipelines requests and reads nothing: once the server's
 * sends block, the request timeout (not the longer idle one, armed first
 * at accept) closes the connection, which the client sees as a reset. */
static void non_reading_client_times_out(int idle_ms, int request_ms)
{
	CASE_BEGIN(r);
	int small = 4096;
	setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	static char burst[64 * 27];
	for (size_t i = 0; i + 27 <= sizeof burst; i += 27)
		memcpy(burst + i, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 27);
	/* Until the server stops taking requests (its answers fill our
	 * buffers, it stops reading): at most 64 MiB. */
	size_t sent = 0;
	while (sent < ((size_t)64 << 20)) {
		ssize_t n = send(r.fd, burst, sizeof burst, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		CHECK(n > 0);
		sent += (size_t)n;
	}
	/* Half-way between the two timeouts: closed by the request one. The
	 * server's request timeout runs from its last send, which may come
	 * well after our last one on a loaded machine: hence an idle timeout
	 * ten times the request one in the self-test. */
	struct pollfd p = {r.fd, POLLRDHUP, 0};
	int wait_ms = (idle_ms + request_ms) / 2;
	int rc = poll(&p, 1, wait_ms);
	if (rc != 1)
		printf("  not closed within %d ms after %zu bytes of requests (poll: %d)\n",
		       wait_ms, sent, rc);
	CHECK(rc == 1 && (p.revents & (POLLERR | POLLHUP | POLLRDHUP)));
	CASE_END(r);
}

static void reset_mid_request(void)
{
	bool ok = true;
	for (int i = 0; i < 20; i++) {
		int fd = dial();
		CHECK(fd >= 0);
		send_str(fd, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
		struct linger lg = {1, 0}; /* close with RST */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(fd);
	}
out:
	printf("%s %s\n", ok ? "ok  " : "FAIL", __func__);
	failures += !ok;
}

/* Many connections at once, each served (the server keeps them all). */
static void many_connections(void)
{
	bool ok = true;
	enum { N = 200 };
	static int fds[N];
	static struct reader r;
	int opened = 0;
	/* Each request goes out right after its connect: opening all 200
	 * first could, on a loaded machine, outlast the server's short
	 * self-test idle timeout for the first connections. */
	for (int i = 0; i < N; i++) {
		fds[i] = dial();
		CHECK(fds[i] >= 0);
		opened++;
		CHECK(send_str(fds[i], "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
	}
	for (int i = 0; i < N; i++) {
		struct response res;
		r.fd = fds[i];
		r.len = 0;
		r.eof = false;
		CHECK(read_response(&r, &res, false) == 0);
		CHECK(res.status == 200);
	}
out:
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	printf("%s %s\n", ok ? "ok  " : "FAIL", __func__);
	failures += !ok;
}

int http_selftest_run(int port, int idle_timeout_ms, int request_timeout_ms)
{
	port_g = port;
	failures = 0;
	get_root_keep_alive();
	not_found_and_head();
	pipelined();
	byte_at_a_time();
	connection_close();
	http10();
	malformed_400_then_close();
	binary_garbage();
	header_too_large_431();
	chunked_upload();
	reset_mid_request();
	many_connections();
	idle_keep_alive_times_out(idle_timeout_ms);
	slow_request_408(idle_timeout_ms);
	non_reading_client_times_out(idle_timeout_ms, request_timeout_ms);
	/* The server survived all of the above. */
	get_root_keep_alive();
	return failures;
}
