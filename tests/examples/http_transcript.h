/* tests/examples/http_transcript.h - feeds bytes to the HTTP request parser
 * (examples/http/http_parser.c) in pieces and writes every event it reports
 * as text, so that two ways of splitting the same input can be compared.
 *
 * Shared by tests/examples/http_parser_test.c and the fuzz target
 * tests/fuzz/http_parser_fuzz.c. Every event is also checked against the
 * parser's contract (consumed <= given, BODY inside the input, spans inside
 * the parser's head buffer, REQUEST/BODY/END order); a violation calls
 * HTTP_TRANSCRIPT_FAIL, which each user defines (cmocka fail / abort). */
#ifndef CEXEC_TESTS_HTTP_TRANSCRIPT_H
#define CEXEC_TESTS_HTTP_TRANSCRIPT_H

#include <stdio.h>
#include <string.h>

#include "http_parser.h"

#ifndef HTTP_TRANSCRIPT_FAIL
#include <stdlib.h>
#define HTTP_TRANSCRIPT_FAIL(msg)                                              \
	do {                                                                   \
		fprintf(stderr, "http transcript: %s\n", msg);                 \
		abort();                                                       \
	} while (0)
#endif

#define HTTP_TRANSCRIPT_MAX 65536

struct http_transcript {
	char text[HTTP_TRANSCRIPT_MAX];
	size_t len;
	int requests; /* REQUEST events */
	int ends;     /* END events */
	int error;    /* status of the ERROR event, 0 if none */
	int in_body;  /* the previous event was BODY */
	size_t consumed;
};

static inline void http_transcript_put(struct http_transcript *t, const char *s,
				       size_t n)
{
	/* Truncates identically for every split, so comparisons stay valid. */
	if (n > HTTP_TRANSCRIPT_MAX - 1 - t->len)
		n = HTTP_TRANSCRIPT_MAX - 1 - t->len;
	memcpy(t->text + t->len, s, n);
	t->len += n;
	t->text[t->len] = '\0';
}

static inline void http_transcript_puts(struct http_transcript *t, const char *s)
{
	http_transcript_put(t, s, strlen(s));
}

static inline void http_transcript_span(struct http_transcript *t,
					const struct http_parser *p,
					struct http_span s)
{
	if (s.len > 0 && (s.ptr < p->head || s.ptr + s.len > p->head + p->head_len))
		HTTP_TRANSCRIPT_FAIL("span outside the head buffer");
	http_transcript_put(t, s.ptr, s.len);
}

static inline void http_transcript_request(struct http_transcript *t,
					   const struct http_parser *p)
{
	const struct http_request *r = &p->req;
	char line[160];
	http_transcript_puts(t, "REQ ");
	http_transcript_span(t, p, r->method);
	http_transcript_puts(t, " ");
	http_transcript_span(t, p, r->target);
	snprintf(line, sizeof line, " %u.%u m=%d ka=%d ch=%d body=%d cl=%llu n=%u\n",
		 r->version_major, r->version_minor, (int)r->method_id,
		 r->keep_alive, r->chunked, r->has_body,
		 (unsigned long long)r->content_length, r->header_count);
	http_transcript_puts(t, line);
	if (r->header_count > HTTP_MAX_HEADERS)
		HTTP_TRANSCRIPT_FAIL("header_count above HTTP_MAX_HEADERS");
	for (uint32_t i = 0; i < r->header_count; i++) {
		http_transcript_span(t, p, r->headers[i].name);
		http_transcript_puts(t, "=");
		http_transcript_span(t, p, r->headers[i].value);
		http_transcript_puts(t, "\n");
	}
}

static inline void http_transcript_init(struct http_transcript *t)
{
	t->len = 0;
	t->text[0] = '\0';
	t->requests = t->ends = t->error = t->in_body = 0;
	t->consumed = 0;
}

/* Feeds in[0, len) to p in pieces of `piece` bytes (0: all at once), or,
 * when splits is not NULL, in the nsplits + 1 pieces it delimits (sorted
 * offsets). Stops at the first ERROR. */
static inline void http_transcript_feed(struct http_transcript *t,
					struct http_parser *p, const char *in,
					size_t len, size_t piece,
					const size_t *splits, size_t nsplits)
{
	size_t off = 0, next_split = 0;
	uint64_t body_seen = 0;
	int state = 0; /* 0: between requests, 1: in a request */
	while (off <= len) {
		size_t end;
		if (splits) {
			while (next_split < nsplits && splits[next_split] <= off)
				next_split++;
			end = next_split < nsplits ? splits[next_split] : len;
		} else {
			end = piece == 0 || len - off < piece ? len : off + piece;
		}
		/* Drain this piece: call until NONE (or ERROR). Every call
		 * consumes a byte or reports an event, and a request reports
		 * at most three kinds, so this bound is generous. */
		size_t guard = 4 * (end - off) + 8;
		for (;;) {
			if (guard-- == 0)
				HTTP_TRANSCRIPT_FAIL("parser makes no progress");
			struct http_event ev;
			size_t n = http_parser_execute(p, in + off, end - off, &ev);
			if (n > end - off)
				HTTP_TRANSCRIPT_FAIL("consumed more than given");
			switch (ev.type) {
			case HTTP_EV_NONE:
				if (off + n != end)
					HTTP_TRANSCRIPT_FAIL("NONE left bytes behind");
				break;
			case HTTP_EV_REQUEST:
				if (state != 0)
					HTTP_TRANSCRIPT_FAIL("REQUEST inside a request");
				state = 1;
				body_seen = 0;
				t->requests++;
				http_transcript_request(t, p);
				break;
			case HTTP_EV_BODY:
				if (state != 1 || !p->req.has_body)
					HTTP_TRANSCRIPT_FAIL("BODY outside a request");
				if (ev.len == 0 || ev.data < in + off ||
				    ev.data + ev.len > in + off + n)
					HTTP_TRANSCRIPT_FAIL("BODY outside the input");
				body_seen += ev.len;
				if (!t->in_body)
					http_transcript_puts(t, "BODY ");
				http_transcript_put(t, ev.data, ev.len);
				break;
			case HTTP_EV_END:
				if (state != 1)
					HTTP_TRANSCRIPT_FAIL("END without REQUEST");
				if (!p->req.chunked &&
				    body_seen != p->req.content_length)
					HTTP_TRANSCRIPT_FAIL("body length differs");
				state = 0;
				t->ends++;
				http_transcript_puts(t, t->in_body ? "\nEND\n" : "END\n");
				break;
			case HTTP_EV_ERROR: {
				char line[32];
				snprintf(line, sizeof line, "ERROR %d\n", ev.status);
				http_transcript_puts(t, line);
				t->error = ev.status;
				if (ev.status < 400 || ev.status > 599)
					HTTP_TRANSCRIPT_FAIL("error status not 4xx/5xx");
				/* Sticky: a second call repeats it. */
				struct http_event again;
				if (http_parser_execute(p, in + off, end - off,
							&again) != 0 ||
				    again.type != HTTP_EV_ERROR ||
				    again.status != ev.status)
					HTTP_TRANSCRIPT_FAIL("error not sticky");
				t->consumed = off + n;
				return;
			}
			}
			/* NONE between two BODY pieces must not split the
			 * body's text, or splits would compare unequal. */
			if (ev.type != HTTP_EV_NONE)
				t->in_body = ev.type == HTTP_EV_BODY;
			off += n;
			if (ev.type == HTTP_EV_NONE)
				break;
		}
		if (off == len)
			break;
	}
	t->consumed = off;
}

#endif
