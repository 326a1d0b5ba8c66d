/* tests for examples/http/http_conn.c */
/* CEXEC_LINK: cexec_http */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four includes above first. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn.h"

#define S(lit) lit, sizeof(lit) - 1

static struct http_conn conn;
static char output[1 << 20];
static size_t output_len;

/* The Date value changes every second: replace each by a fixed string so
 * the comparisons never depend on the clock. */
static void normalize_dates(void)
{
	char *p = output;
	while ((p = strstr(p, "\r\nDate: ")) != NULL) {
		p += 8;
		char *end = strstr(p, "\r\n");
		assert_non_null(end);
		assert_int_equal(end - p, 29); /* IMF-fixdate */
		assert_true(strncmp(end - 4, " GMT", 4) == 0);
		memset(p, 'D', 29);
		p = end;
	}
}

/* Feeds in to a fresh connection in pieces of `piece` bytes (0: at once),
 * sending (collecting) the output whenever it is pending, as the server's
 * loop does. Returns the input bytes consumed before the connection
 * started closing (or all). */
static size_t drive(const char *in, size_t len, size_t piece, size_t send_max)
{
	http_conn_init(&conn);
	output_len = 0;
	size_t off = 0;
	int guard = 0;
	while (!http_conn_closing(&conn) || conn.out_len > 0) {
		assert_true(++guard < 1000000);
		size_t end = piece == 0 || len - off < piece ? len : off + piece;
		size_t n = http_conn_input(&conn, in + off, end - off);
		assert_true(n <= end - off);
		off += n;
		if (conn.out_len > 0) {
			size_t k = conn.out_len < send_max ? conn.out_len : send_max;
			assert_true(output_len + k < sizeof output);
			memcpy(output + output_len, conn.out, k);
			output_len += k;
			http_conn_sent(&conn, k);
			continue;
		}
		if (http_conn_closing(&conn) || off == len)
			break;
	}
	output[output_len] = '\0';
	normalize_dates();
	return off;
}

#define DATE "Date: DDDDDDDDDDDDDDDDDDDDDDDDDDDDD\r\n"
#define OK_RESPONSE                                                            \
	"HTTP/1.1 200 OK\r\nServer: cexec\r\n" DATE                            \
	"Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"

static void get_root(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(drive(S(in), 0, SIZE_MAX), sizeof in - 1);
	assert_string_equal(output, OK_RESPONSE);
	assert_false(http_conn_closing(&conn));
	assert_true(http_conn_idle(&conn));
	assert_int_equal(conn.requests, 1);
	/* Query strings address the same resource. */
	drive(S("GET /?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"), 0, SIZE_MAX);
	assert_string_equal(output, OK_RESPONSE);
}

static void head_not_found_and_method(void **state)
{
	drive(S("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), 0, SIZE_MAX);
	assert_string_equal(output, "HTTP/1.1 200 OK\r\nServer: cexec\r\n" DATE
				    "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n");
	drive(S("GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"), 0, SIZE_MAX);
	assert_string_equal(output, "HTTP/1.1 404 Not Found\r\nServer: cexec\r\n" DATE
				    "Content-Type: text/plain\r\nContent-Length: 9\r\n\r\n"
				    "Not Found");
	assert_false(http_conn_closing(&conn));
	drive(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"), 0,
	      SIZE_MAX);
	assert_non_null(strstr(output, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(output, "\r\nAllow: GET, HEAD\r\n"));
	assert_false(http_conn_closing(&conn));
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void pipelined_and_split(void **state)
{
	static const char in[] =
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
		"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
		"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		"4\r\nbody\r\n0\r\n\r\n"
		"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(drive(S(in), 0, SIZE_MAX), sizeof in - 1);
	static char whole[8192];
	strcpy(whole, output);
	assert_int_equal(conn.requests, 4);
	assert_int_equal(count(whole, "HTTP/1.1 "), 4);
	const char *a = strstr(whole, "200 OK"), *b = strstr(whole, "404 Not Found");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	/* Any piece size and any send size give the same bytes. */
	const size_t pieces[] = {1, 2, 3, 17, 64};
	const size_t sends[] = {1, 5, 100, SIZE_MAX};
	for (size_t i = 0; i < 5; i++)
		for (size_t j = 0; j < 4; j++) {
			drive(S(in), pieces[i], sends[j]);
			assert_string_equal(output, whole);
		}
}

static void connection_close_and_http10(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
				 "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t used = drive(S(in), 0, SIZE_MAX);
	assert_true(http_conn_closing(&conn));
	assert_int_equal(conn.requests, 1);
	assert_true(used < sizeof in - 1); /* the second request is not served */
	assert_int_equal(count(output, "HTTP/1.1 "), 1);
	assert_non_null(strstr(output, "\r\nConnection: close\r\n"));

	drive(S("GET / HTTP/1.0\r\n\r\n"), 0, SIZE_MAX);
	assert_true(http_conn_closing(&conn));
	assert_non_null(strstr(output, "\r\nConnection: close\r\n"));

	drive(S("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
	      0, SIZE_MAX);
	assert_false(http_conn_closing(&conn));
	assert_int_equal(count(output, "\r\nConnection: keep-alive\r\n"), 2);
}

static void errors_close(void **state)
{
	static const struct {
		const char *in;
		const char *status;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost a\r\n\r\n", "400 Bad Request"},
		{"\x16\x03\x01", "400 Bad Request"},
		{"GET / HTTP/1.1\r\n\r\n", "400 Bad Request"},
		{"GET / HTTP/3.0\r\nHost: a\r\n\r\n", "505 HTTP Version Not Supported"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br\r\n\r\n",
		 "501 Not Implemented"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n",
		 "413 Content Too Large"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		drive(cases[i].in, strlen(cases[i].in), 0, SIZE_MAX);
		assert_true(http_conn_closing(&conn));
		assert_int_equal(count(output, "HTTP/1.1 "), 1);
		assert_non_null(strstr(output, cases[i].status));
		assert_non_null(strstr(output, "\r\nConnection: close\r\n"));
	}
	/* A valid request before the error is answered first. */
	drive(S("GET / HTTP/1.1\r\nHost: a\r\n\r\nBAD\r\n\r\n"), 0, SIZE_MAX);
	assert_int_equal(count(output, "HTTP/1.1 "), 2);
	assert_true(strstr(output, "200 OK") < strstr(output, "400 Bad Request"));

	static char big[HTTP_HEAD_MAX + 100];
	int n = sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'x', sizeof big - (size_t)n);
	drive(big, sizeof big, 1000, SIZE_MAX);
	assert_non_null(strstr(output, "431 Request Header Fields Too Large"));
	assert_true(http_conn_closing(&conn));
}

/* Many pipelined requests: the output buffer fills, input stops being
 * consumed until it is sent, and every request is answered in order. */
static void backpressure(void **state)
{
	static char in[200 * 64];
	size_t len = 0;
	for (int i = 0; i < 200; i++)
		len += (size_t)sprintf(in + len, "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n",
				       i % 2 ? "n" : "");
	http_conn_init(&conn);
	size_t first = http_conn_input(&conn, in, len);
	assert_true(first < len);
	assert_true(conn.out_len > HTTP_CONN_OUT_MAX - HTTP_CONN_RESPONSE_MAX);
	assert_true(conn.out_len <= HTTP_CONN_OUT_MAX);
	/* Without a send, nothing more is consumed. */
	assert_int_equal(http_conn_input(&conn, in + first, len - first), 0);

	assert_int_equal(drive(in, len, 0, 1000), len);
	assert_int_equal(conn.requests, 200);
	assert_int_equal(count(output, "HTTP/1.1 200 OK"), 100);
	assert_int_equal(count(output, "HTTP/1.1 404 Not Found"), 100);
	const char *p = output;
	for (int i = 0; i < 200; i++) {
		const char *want = i % 2 ? "HTTP/1.1 404" : "HTTP/1.1 200";
		p = strstr(p, "HTTP/1.1 ");
		assert_non_null(p);
		assert_true(strncmp(p, want, strlen(want)) == 0);
		p++;
	}
}

static void expect_continue(void **state)
{
	drive(S("POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
		"Content-Length: 2\r\n\r\nok"),
	      0, SIZE_MAX);
	assert_true(strncmp(output, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 ", 38) == 0);
	/* Not for HTTP/1.0, not without a body. */
	drive(S("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"), 0,
	      SIZE_MAX);
	assert_null(strstr(output, "100 Continue"));
}

static void timeouts(void **state)
{
	/* Idle: close silently. */
	http_conn_init(&conn);
	assert_true(http_conn_idle(&conn));
	http_conn_timeout(&conn);
	assert_true(http_conn_closing(&conn));
	assert_int_equal(conn.out_len, 0);

	/* Mid-request: 408, then close. */
	http_conn_init(&conn);
	assert_int_equal(http_conn_input(&conn, S("GET / HTT")), 9);
	assert_false(http_conn_idle(&conn));
	http_conn_timeout(&conn);
	assert_true(http_conn_closing(&conn));
	conn.out[conn.out_len] = '\0';
	assert_non_null(strstr(conn.out, "HTTP/1.1 408 Request Timeout\r\n"));
	assert_non_null(strstr(conn.out, "\r\nConnection: close\r\n"));
	/* Once closing, input is ignored. */
	assert_int_equal(http_conn_input(&conn, S("P / HTTP/1.1\r\n\r\n")), 0);
	/* A second timeout adds nothing. */
	size_t before = conn.out_len;
	http_conn_timeout(&conn);
	assert_int_equal(conn.out_len, before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_root),
		cmocka_unit_test(head_not_found_and_method),
		cmocka_unit_test(pipelined_and_split),
		cmocka_unit_test(connection_close_and_http10),
		cmocka_unit_test(errors_close),
		cmocka_unit_test(backpressure),
		cmocka_unit_test(expect_continue),
		cmocka_unit_test(timeouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
