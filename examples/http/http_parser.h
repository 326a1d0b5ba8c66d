/* examples/http/http_parser.h - an incremental HTTP/1.1 request parser.
 *
 * Example code for examples/http/http_server.c, not library API: it has no
 * dependency on cexec and allocates nothing. One parser per connection.
 *
 * Feeding. The caller owns its receive buffer and passes whatever bytes it
 * has, in pieces of any size (one byte at a time works), to
 * http_parser_execute(). Each call consumes a prefix of the input and reports
 * one event:
 *
 *   HTTP_EV_NONE     every byte given was consumed; feed more input
 *   HTTP_EV_REQUEST  a request head is complete: p->req is valid
 *   HTTP_EV_BODY     ev->data/ev->len: a piece of the decoded body; it
 *                    points into the caller's input (no copy)
 *   HTTP_EV_END      the request (head and body) is complete
 *   HTTP_EV_ERROR    malformed or refused input: answer ev->status
 *                    (400, 413, 414, 431, 501, 505) and close the connection;
 *                    every later call repeats the error and consumes nothing
 *
 * Keep calling (advancing by the count consumed) until HTTP_EV_NONE or
 * HTTP_EV_ERROR: a buffer may hold several pipelined requests, and END may be
 * reported with nothing left to consume. Every request yields exactly
 * REQUEST, then zero or more BODY, then END.
 *
 * Memory. The request head (request line and header fields) is copied into
 * the parser's own fixed buffer, so spans in p->req point into the parser and
 * stay valid until the call after HTTP_EV_END (when the next request begins).
 * Do not copy or move a parser while those spans are in use. The parser never
 * reads outside the given input or its own buffer, whatever the bytes.
 *
 * Rules (RFC 9112), documented here because the tests check them:
 * - Request line "METHOD SP target SP HTTP/x.y": method a token; target
 *   visible ASCII (0x21-0x7e); exactly one SP between parts; "HTTP" upper
 *   case. Major version other than 1 -> 505.
 * - Lines end in CRLF; a bare LF is accepted as a line end, a bare CR is 400.
 *   Up to HTTP_MAX_EMPTY_LINES empty lines before a request are skipped.
 * - Field "name: value": name a token, no space before the colon, value with
 *   leading and trailing SP/HTAB trimmed; control characters other than HTAB
 *   anywhere in the head -> 400; obs-fold (a line starting with SP/HTAB) -> 400.
 * - Head larger than HTTP_HEAD_MAX bytes -> 431 (414 while still in the
 *   request line); more than HTTP_MAX_HEADERS fields -> 431.
 * - HTTP/1.1 requires exactly one Host field (400 otherwise).
 * - Content-Length: one field with 1-19 digits; duplicated (even with equal
 *   values), empty, signed, or a list -> 400; larger than max_body -> 413.
 * - Transfer-Encoding: exactly "chunked" (case-insensitive) is decoded;
 *   any other coding -> 501; two TE fields, TE with Content-Length, or TE in
 *   an HTTP/1.0 request -> 400. Chunked bodies are decoded: chunk sizes in
 *   hex (at most 15 digits), extensions skipped (bounded), trailer fields
 *   skipped (bounded by HTTP_HEAD_MAX -> 431); body beyond max_body -> 413.
 *   We decode rather than answer 411: a server that refuses chunked uploads
 *   breaks common clients (curl -T -, streaming uploads), and decoding is a
 *   small state machine that the fuzzer exercises like the rest.
 * - Keep-alive: HTTP/1.1 keeps the connection unless a Connection field lists
 *   "close"; HTTP/1.0 closes unless it lists "keep-alive" (and not "close").
 *   Connection fields are comma-separated token lists, case-insensitive.
 * - A request without Content-Length or Transfer-Encoding has no body.
 */
#ifndef CEXEC_EXAMPLES_HTTP_PARSER_H
#define CEXEC_EXAMPLES_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits; overridable at build time (the fuzz targets shrink them so that
 * short inputs reach every limit). All translation units that share a
 * struct http_parser must agree. */
#ifndef HTTP_HEAD_MAX
#define HTTP_HEAD_MAX 8192 /* bytes in request line + fields + CRLF */
#endif
#ifndef HTTP_MAX_HEADERS
#define HTTP_MAX_HEADERS 64 /* fields per request */
#endif
#ifndef HTTP_MAX_EMPTY_LINES
#define HTTP_MAX_EMPTY_LINES 4 /* empty lines tolerated before a request */
#endif
#ifndef HTTP_CHUNK_LINE_MAX
#define HTTP_CHUNK_LINE_MAX 1024 /* bytes in one chunk-size line */
#endif
#define HTTP_DEFAULT_MAX_BODY ((uint64_t)1 << 20)

/* A piece of the parser's head buffer (or of the caller's input for BODY). */
struct http_span {
	const char *ptr;
	uint32_t len;
};

struct http_header {
	struct http_span name, value;
};

enum http_method {
	HTTP_METHOD_OTHER = 0,
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_PATCH,
	HTTP_METHOD_CONNECT,
	HTTP_METHOD_TRACE,
};

struct http_request {
	struct http_span method, target;
	enum http_method method_id;
	uint8_t version_major, version_minor;
	bool keep_alive;     /* whether the connection may serve another request */
	bool chunked;        /* the body is chunked (content_length unused) */
	bool has_body;       /* Content-Length > 0 or chunked */
	uint64_t content_length;
	uint32_t header_count;
	struct http_header headers[HTTP_MAX_HEADERS];
};

enum http_event_type {
	HTTP_EV_NONE = 0,
	HTTP_EV_REQUEST,
	HTTP_EV_BODY,
	HTTP_EV_END,
	HTTP_EV_ERROR,
};

struct http_event {
	enum http_event_type type;
	int status;       /* HTTP_EV_ERROR: the status code to answer */
	const char *data; /* HTTP_EV_BODY: points into the caller's input */
	size_t len;
};

struct http_parser {
	/* Configuration; set by http_parser_init, may be changed before use. */
	uint64_t max_body;

	/* State; private. */
	int phase;
	int error;           /* sticky status once in the error phase */
	uint32_t head_len;   /* bytes stored in head[] */
	uint32_t line_start; /* offset of the line being collected */
	uint32_t empty_lines;
	bool have_request_line;
	bool have_host, have_length, have_te;
	bool te_other, conn_close, conn_keep;
	uint64_t body_left;  /* Content-Length bytes or current chunk bytes */
	uint64_t body_total; /* decoded body bytes so far (chunked) */
	uint32_t chunk_line; /* bytes in the current chunk-size/trailer line */
	uint32_t chunk_digits;
	uint32_t trailer_bytes;
	struct http_request req;
	char head[HTTP_HEAD_MAX];
};

/* Prepares p for the first request on a connection. Never fails. */
void http_parser_init(struct http_parser *p);

/* Consumes a prefix of data[0, len) (len may be 0) and reports one event in
 * *ev (see the top of this file). Returns the number of bytes consumed, at
 * most len. Never allocates, never reads outside data[0, len). */
size_t http_parser_execute(struct http_parser *p, const char *data, size_t len,
			   struct http_event *ev);

/* True when the parser sits between requests with nothing buffered: the
 * moment an idle keep-alive connection may be closed without loss. */
bool http_parser_idle(const struct http_parser *p);

/* The first header field named name (case-insensitive), or NULL. */
const struct http_span *http_request_header(const struct http_request *req,
					    const char *name);

/* Whether span equals the NUL-terminated s, byte for byte / ignoring ASCII
 * case. */
bool http_span_eq(struct http_span span, const char *s);
bool http_span_ieq(struct http_span span, const char *s);

/* The reason phrase for a status code this parser or the server produces
 * ("Bad Request" for 400 ...), "Unknown" otherwise. */
const char *http_status_reason(int status);

#endif
