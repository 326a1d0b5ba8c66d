/* tests for examples/http/http_parser.c */
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

#define HTTP_TRANSCRIPT_FAIL(msg) fail_msg("%s", msg)
#include "http_transcript.h"

/* Big (a parser holds an 8 KiB head, a transcript 64 KiB): static. */
static struct http_parser parser;
static struct http_transcript t_whole, t_other;

#define S(lit) lit, sizeof(lit) - 1

static void feed(struct http_transcript *t, const char *in, size_t len,
		 size_t piece)
{
	http_parser_init(&parser);
	http_transcript_init(t);
	http_transcript_feed(t, &parser, in, len, piece, NULL, 0);
}

/* The whole input at once, one byte at a time, in 7-byte pieces, and split
 * in two at every offset: all must report the same events. Leaves the
 * whole-input transcript in t_whole. */
static void feed_all_ways(const char *in, size_t len)
{
	struct http_transcript *t = &t_other;
	feed(t, in, len, 1);
	const size_t pieces[] = {7, 0};
	for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
		feed(&t_whole, in, len, pieces[i]);
		assert_string_equal(t_whole.text, t->text);
	}
	for (size_t k = 0; k <= len; k++) {
		http_parser_init(&parser);
		http_transcript_init(t);
		http_transcript_feed(t, &parser, in, len, 0, &k, 1);
		assert_string_equal(t_whole.text, t->text);
		assert_int_equal(t_whole.error, t->error);
	}
	/* Leave t_whole as the whole-input run. */
	feed(&t_whole, in, len, 0);
}

/* Input that must fail with status, however it is split. */
static void expect_error(const char *in, size_t len, int status)
{
	feed_all_ways(in, len);
	if (t_whole.error != status)
		fail_msg("expected %d, got %d for [%.*s]\ntranscript:\n%s", status,
			 t_whole.error, (int)len, in, t_whole.text);
}

/* Input that must parse as `requests` complete requests without error. */
static void expect_ok(const char *in, size_t len, int requests)
{
	feed_all_ways(in, len);
	if (t_whole.error != 0 || t_whole.ends != requests ||
	    t_whole.consumed != len)
		fail_msg("expected %d requests, got %d (error %d) for [%.*s]\n%s",
			 requests, t_whole.ends, t_whole.error, (int)len, in,
			 t_whole.text);
}

/* Runs in to the first REQUEST event; the parser's req is then valid. */
static size_t head_of(const char *in, size_t len)
{
	http_parser_init(&parser);
	struct http_event ev;
	size_t n = http_parser_execute(&parser, in, len, &ev);
	assert_int_equal(ev.type, HTTP_EV_REQUEST);
	return n;
}

static void simple_get(void **state)
{
	static const char in[] = "GET /index.html?q=1 HTTP/1.1\r\n"
				 "Host: example.com\r\n"
				 "User-Agent:  test/1.0 \t\r\n"
				 "Accept: */*\r\n\r\n";
	size_t n = head_of(S(in));
	assert_int_equal(n, sizeof in - 1);
	const struct http_request *r = &parser.req;
	assert_true(http_span_eq(r->method, "GET"));
	assert_int_equal(r->method_id, HTTP_METHOD_GET);
	assert_true(http_span_eq(r->target, "/index.html?q=1"));
	assert_int_equal(r->version_major, 1);
	assert_int_equal(r->version_minor, 1);
	assert_true(r->keep_alive);
	assert_false(r->has_body);
	assert_false(r->chunked);
	assert_int_equal(r->header_count, 3);
	assert_true(http_span_eq(r->headers[0].name, "Host"));
	assert_true(http_span_eq(r->headers[0].value, "example.com"));
	/* Values are trimmed of SP/HTAB on both ends, inner spaces kept. */
	const struct http_span *ua = http_request_header(r, "user-agent");
	assert_non_null(ua);
	assert_true(http_span_eq(*ua, "test/1.0"));
	assert_null(http_request_header(r, "cookie"));
	assert_false(http_parser_idle(&parser));

	struct http_event ev;
	assert_int_equal(http_parser_execute(&parser, in + n, 0, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_END);
	assert_int_equal(http_parser_execute(&parser, in + n, 0, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_NONE);
	assert_true(http_parser_idle(&parser));

	expect_ok(S(in), 1);
}

static void methods_and_versions(void **state)
{
	static const struct {
		const char *in;
		enum http_method id;
		int minor;
	} cases[] = {
		{"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_HEAD, 1},
		{"POST / HTTP/1.0\r\n\r\n", HTTP_METHOD_POST, 0},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_OPTIONS, 1},
		{"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_DELETE, 1},
		{"PROPFIND /x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_OTHER, 1},
		/* methods are case-sensitive: "get" is an unknown method */
		{"get / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_OTHER, 1},
		{"GET http://a/b HTTP/1.9\r\nHost: a\r\n\r\n", HTTP_METHOD_GET, 9},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		head_of(cases[i].in, strlen(cases[i].in));
		assert_int_equal(parser.req.method_id, cases[i].id);
		assert_int_equal(parser.req.version_minor, cases[i].minor);
		expect_ok(cases[i].in, strlen(cases[i].in), 1);
	}
}

static void bare_lf_and_leading_empty_lines(void **state)
{
	expect_ok(S("GET / HTTP/1.1\nHost: a\n\n"), 1);
	expect_ok(S("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 1);
	/* At most HTTP_MAX_EMPTY_LINES are skipped. */
	expect_ok(S("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 1);
	expect_error(S("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		     400);
}

static void pipelined(void **state)
{
	static const char in[] =
		"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n"
		"GET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	expect_ok(S(in), 4);
	assert_string_equal(t_whole.text,
			    "REQ GET /a 1.1 m=1 ka=1 ch=0 body=0 cl=0 n=1\n"
			    "Host=h\nEND\n"
			    "REQ POST /b 1.1 m=3 ka=1 ch=0 body=1 cl=5 n=2\n"
			    "Host=h\nContent-Length=5\nBODY hello\nEND\n"
			    "REQ PUT /c 1.1 m=4 ka=1 ch=1 body=1 cl=0 n=2\n"
			    "Host=h\nTransfer-Encoding=chunked\nBODY abc\nEND\n"
			    "REQ GET /d 1.1 m=1 ka=0 ch=0 body=0 cl=0 n=2\n"
			    "Host=h\nConnection=close\nEND\n");
}

/* A pipelined request after an error is never parsed. */
static void error_stops_the_pipeline(void **state)
{
	expect_error(S("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
		       "GET /b HTTP/1.1\r\nHost h\r\n\r\n"
		       "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
		     400);
	assert_int_equal(t_whole.ends, 1);
	assert_null(strstr(t_whole.text, "/c"));
}

static void keep_alive_rules(void **state)
{
	static const struct {
		const char *in;
		bool keep;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, close\r\n\r\n",
		 false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
		 "Connection: close\r\n\r\n",
		 false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: foo ,\tKEEP-ALIVE \r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		head_of(cases[i].in, strlen(cases[i].in));
		if (parser.req.keep_alive != cases[i].keep)
			fail_msg("case %zu: keep_alive %d", i, parser.req.keep_alive);
	}
}

static void bad_request_line(void **state)
{
	expect_error(S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
	expect_error(S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET /\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/11\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
	expect_error(S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
	expect_error(S("GET / HTTP/0.9\r\n\r\n"), 505);
	/* Binary junk is refused at its first control byte, not after 8 KiB. */
	expect_error(S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400);
	http_parser_init(&parser);
	struct http_event ev;
	http_parser_execute(&parser, S("\x16"), &ev);
	assert_int_equal(ev.type, HTTP_EV_ERROR);
	assert_int_equal(ev.status, 400);
	assert_false(parser.req.keep_alive);
}

static void bad_fields(void **state)
{
	expect_error(S("GET / HTTP/1.1\r\nHost a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), 400);
	/* obs-text (bytes >= 0x80) is allowed in values */
	expect_ok(S("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"), 1);
	/* an empty value is a value */
	expect_ok(S("GET / HTTP/1.1\r\nHost:\r\nX-Empty: \r\n\r\n"), 1);
}

static void host_rules(void **state)
{
	expect_error(S("GET / HTTP/1.1\r\n\r\n"), 400);
	expect_error(S("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
	expect_ok(S("GET / HTTP/1.0\r\n\r\n"), 1);
}

static void content_length_rules(void **state)
{
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		       "Content-Length: 5\r\n\r\nhello"),
		     400);
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		       "content-length: 6\r\n\r\nhello!"),
		     400);
	static const char *const bad[] = {
		"", "abc", "-1", "+5", "5,5", "5 5", "0x10", "5a",
		"12345678901234567890", /* 20 digits */
	};
	char in[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int n = snprintf(in, sizeof in,
				 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n",
				 bad[i]);
		expect_error(in, (size_t)n, 400);
	}
	/* Too large for max_body: 413, before any body byte arrives. */
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\n"
		       "Content-Length: 9999999999999999999\r\n\r\n"),
		     413);
	http_parser_init(&parser);
	parser.max_body = 4;
	struct http_event ev;
	http_parser_execute(&parser,
			    S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
			    &ev);
	assert_int_equal(ev.type, HTTP_EV_ERROR);
	assert_int_equal(ev.status, 413);
	/* Leading zeros are digits: allowed. */
	expect_ok(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc"), 1);
}

static void bodies(void **state)
{
	expect_ok(S("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
		    "hello world"),
		  1);
	assert_non_null(strstr(t_whole.text, "BODY hello world\nEND\n"));
	/* Content-Length: 0 means no body, no BODY event. */
	expect_ok(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 1);
	assert_null(strstr(t_whole.text, "BODY"));
	/* A body that is itself a request is body, not a request. */
	expect_ok(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 28\r\n\r\n"
		    "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
		  1);
	assert_int_equal(t_whole.requests, 1);
	/* No framing field: no body; the bytes are the next request. */
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\n\r\nhello\r\n\r\n"), 400);
	assert_int_equal(t_whole.ends, 1);

	/* Body pieces point into the caller's input, no copy. */
	static const char in[] =
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz";
	size_t n = head_of(S(in));
	struct http_event ev;
	size_t m = http_parser_execute(&parser, in + n, sizeof in - 1 - n, &ev);
	assert_int_equal(ev.type, HTTP_EV_BODY);
	assert_int_equal(m, 3);
	assert_ptr_equal(ev.data, in + n);
	assert_int_equal(ev.len, 3);
	/* A body still arriving: not idle, END only once it is all there. */
	http_parser_init(&parser);
	n = http_parser_execute(&parser, in, sizeof in - 2, &ev);
	assert_int_equal(ev.type, HTTP_EV_REQUEST);
	m = http_parser_execute(&parser, in + n, sizeof in - 2 - n, &ev);
	assert_int_equal(ev.type, HTTP_EV_BODY);
	assert_int_equal(ev.len, 2);
	assert_int_equal(http_parser_execute(&parser, in, 0, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_NONE);
	assert_false(http_parser_idle(&parser));
}

static void chunked(void **state)
{
	static const char in[] =
		"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
		"5\r\nhello\r\n"
		"6;name=value;x\r\n world\r\n"
		"A  \r\n0123456789\r\n"
		"0\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n";
	expect_ok(S(in), 1);
	assert_non_null(strstr(t_whole.text, "ch=1"));
	assert_non_null(strstr(t_whole.text, "BODY hello world0123456789\nEND\n"));
	/* Bare LF line ends, upper/lower hex, leading zeros. */
	expect_ok(S("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
		    "00b\nhello world\n0\n\n"),
		  1);
	assert_non_null(strstr(t_whole.text, "BODY hello world\nEND"));
	/* Empty chunked body. */
	expect_ok(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		    "\r\n0\r\n\r\n"),
		  1);
	assert_null(strstr(t_whole.text, "BODY"));

#define CHUNKED_HEAD "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	expect_error(S(CHUNKED_HEAD "x\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "-1\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "5 x\r\nhello\r\n0\r\n\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "5\rhello\r\n0\r\n\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "5\r\nhelloX\r\n0\r\n\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "5\r\nhello\r\r0\r\n\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "5;a\x01\r\nhello\r\n0\r\n\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "0\r\nX: a\x01\r\n\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "0\r\nX: a\rb\r\n\r\n"), 400);
	/* 16 hex digits could overflow: refused. 15 are fine until max_body. */
	expect_error(S(CHUNKED_HEAD "1000000000000000\r\n"), 400);
	expect_error(S(CHUNKED_HEAD "100000000000000\r\n"), 413);
	expect_error(S(CHUNKED_HEAD "100001\r\n"), 413); /* 1 MiB + 1 */
	feed(&t_whole, S(CHUNKED_HEAD "100000\r\n"), 0); /* 1 MiB fits */
	assert_int_equal(t_whole.error, 0);
	http_parser_init(&parser);
	parser.max_body = 6;
	http_transcript_init(&t_whole);
	http_transcript_feed(&t_whole, &parser,
			     S(CHUNKED_HEAD "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"), 0,
			     NULL, 0);
	assert_int_equal(t_whole.error, 413);
	assert_non_null(strstr(t_whole.text, "BODY abc"));

	/* Framing conflicts and codings we do not implement. */
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		       "Content-Length: 3\r\n\r\n0\r\n\r\n"),
		     400);
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		     400);
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		     400);
	expect_error(S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
		       "0\r\n\r\n"),
		     400);
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		       "\r\n"),
		     501);
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\n"
		       "Transfer-Encoding: gzip, chunked\r\n\r\n"),
		     501);
	expect_error(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"),
		     400);
}

static void trailer_limit(void **state)
{
	static char in[2 * HTTP_HEAD_MAX];
	size_t n = (size_t)snprintf(in, sizeof in, "%s0\r\n", CHUNKED_HEAD);
	while (n < HTTP_HEAD_MAX + HTTP_HEAD_MAX / 4) {
		memcpy(in + n, "X-Trailer: 0123456789\r\n", 23);
		n += 23;
	}
	memcpy(in + n, "\r\n", 2);
	n += 2;
	expect_error(in, n, 431);
}

/* Builds "GET / HTTP/1.1\r\nHost: a\r\nX: <pad>\r\n\r\n" of exactly total
 * bytes. */
static size_t head_of_size(char *out, size_t total)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t n = sizeof pre - 1;
	memcpy(out, pre, n);
	size_t pad = total - n - 4;
	memset(out + n, 'v', pad);
	memcpy(out + n + pad, "\r\n\r\n", 4);
	return total;
}

static void head_limit(void **state)
{
	static char in[HTTP_HEAD_MAX + 64];
	/* Exactly HTTP_HEAD_MAX bytes is accepted, one more is 431. */
	expect_ok(in, head_of_size(in, HTTP_HEAD_MAX), 1);
	expect_error(in, head_of_size(in, HTTP_HEAD_MAX + 1), 431);
	/* The 431 comes as soon as the limit is crossed, without a line end. */
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	memcpy(in, pre, sizeof pre - 1);
	memset(in + sizeof pre - 1, 'v', HTTP_HEAD_MAX);
	expect_error(in, HTTP_HEAD_MAX + sizeof pre - 1, 431);
	assert_true(t_whole.consumed <= HTTP_HEAD_MAX);

	/* A control byte beyond the limit: the limit decides (431), however
	 * the input is split (a fuzzer finding: whole input said 400, one
	 * byte at a time 431). Within the limit the control byte decides. */
	memcpy(in, pre, sizeof pre - 1);
	memset(in + sizeof pre - 1, 'v', HTTP_HEAD_MAX);
	memcpy(in + HTTP_HEAD_MAX + 4, "\x01\r\n\r\n", 5);
	expect_error(in, HTTP_HEAD_MAX + 9, 431);
	in[100] = '\x01';
	expect_error(in, HTTP_HEAD_MAX + 9, 400);

	/* A request line longer than the limit: 414. */
	memcpy(in, "GET /", 5);
	memset(in + 5, 'a', HTTP_HEAD_MAX);
	expect_error(in, HTTP_HEAD_MAX + 5, 414);

	/* HTTP_MAX_HEADERS fields are fine, one more is 431. */
	static char many[HTTP_MAX_HEADERS * 16 + 64];
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = (size_t)sprintf(many, "GET / HTTP/1.1\r\nHost: a\r\n");
		for (int i = 1; i < HTTP_MAX_HEADERS + extra; i++)
			n += (size_t)sprintf(many + n, "X-%d: %d\r\n", i, i);
		n += (size_t)sprintf(many + n, "\r\n");
		if (extra)
			expect_error(many, n, 431);
		else
			expect_ok(many, n, 1);
	}
}

/* After a complete request the head buffer is reused, not grown: a long
 * keep-alive connection never hits the limit. */
static void many_requests_on_one_parser(void **state)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	http_parser_init(&parser);
	for (int i = 0; i < 2000; i++) {
		struct http_event ev;
		size_t n = http_parser_execute(&parser, S(req), &ev);
		assert_int_equal(n, sizeof req - 1);
		assert_int_equal(ev.type, HTTP_EV_REQUEST);
		assert_true(http_span_eq(parser.req.target, "/x"));
		assert_int_equal(http_parser_execute(&parser, req, 0, &ev), 0);
		assert_int_equal(ev.type, HTTP_EV_END);
	}
}

static void status_reasons(void **state)
{
	assert_string_equal(http_status_reason(400), "Bad Request");
	assert_string_equal(http_status_reason(431),
			    "Request Header Fields Too Large");
	assert_string_equal(http_status_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_status_reason(299), "Unknown");
}

/* xorshift: the same sequence on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Mutated valid requests, fed whole and at random split points: the events
 * never depend on the split, and the transcript checks (bounds, order,
 * body length) hold. The fuzz target does the same, unguided by seeds. */
static void random_mutations_split_independent(void **state)
{
	static const char *const seeds[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\n"
		"Host: x\r\n\r\n",
	};
	static const char alphabet[] = "\r\n :;,0123456789aAfF-\t\x00\x80GET/HTTP";
	static char buf[512];
	size_t splits[8];
	for (int iter = 0; iter < 20000; iter++) {
		const char *seed = seeds[rng() % (sizeof seeds / sizeof seeds[0])];
		size_t n = strlen(seed);
		memcpy(buf, seed, n);
		int edits = 1 + (int)(rng() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = n ? rng() % n : 0;
			char c = alphabet[rng() % (sizeof alphabet - 1)];
			switch (rng() % 3) {
			case 0: /* replace */
				if (n)
					buf[at] = c;
				break;
			case 1: /* insert */
				if (n < sizeof buf) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = c;
					n++;
				}
				break;
			default: /* delete */
				if (n) {
					memmove(buf + at, buf + at + 1, n - at - 1);
					n--;
				}
			}
		}
		size_t ns = rng() % 8;
		for (size_t i = 0; i < ns; i++)
			splits[i] = n ? rng() % (n + 1) : 0;
		for (size_t i = 1; i < ns; i++) /* insertion sort */
			for (size_t j = i; j > 0 && splits[j - 1] > splits[j]; j--) {
				size_t tmp = splits[j];
				splits[j] = splits[j - 1];
				splits[j - 1] = tmp;
			}
		feed(&t_whole, buf, n, 0);
		http_parser_init(&parser);
		http_transcript_init(&t_other);
		http_transcript_feed(&t_other, &parser, buf, n, 0, splits, ns);
		if (strcmp(t_whole.text, t_other.text) != 0)
			fail_msg("iteration %d: split changes the result for [%.*s]",
				 iter, (int)n, buf);
		feed(&t_other, buf, n, 1);
		assert_string_equal(t_whole.text, t_other.text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(simple_get),
		cmocka_unit_test(methods_and_versions),
		cmocka_unit_test(bare_lf_and_leading_empty_lines),
		cmocka_unit_test(pipelined),
		cmocka_unit_test(error_stops_the_pipeline),
		cmocka_unit_test(keep_alive_rules),
		cmocka_unit_test(bad_request_line),
		cmocka_unit_test(bad_fields),
		cmocka_unit_test(host_rules),
		cmocka_unit_test(content_length_rules),
		cmocka_unit_test(bodies),
		cmocka_unit_test(chunked),
		cmocka_unit_test(trailer_limit),
		cmocka_unit_test(head_limit),
		cmocka_unit_test(many_requests_on_one_parser),
		cmocka_unit_test(status_reasons),
		cmocka_unit_test(random_mutations_split_independent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
