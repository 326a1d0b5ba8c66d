/* examples/http/http_conn.h - the protocol side of one HTTP/1.1 server
 * connection, with no I/O: bytes in, response bytes out, and when to close.
 *
 * examples/http/http_server.c drives it with cexec's recv/send senders; the
 * tests drive it with strings. Keeping the two apart means the I/O code has
 * no HTTP in it and the HTTP logic is tested without sockets.
 *
 * The application is fixed, as the benchmark wants it: GET or HEAD of "/"
 * answers 200 "Hello, World!" (Content-Length 13); any other target is 404;
 * another method on "/" is 405. Request bodies are read and discarded.
 * Malformed requests get the parser's status (400, 413, 414, 431, 501, 505)
 * with "Connection: close", and the connection closes after it is sent.
 *
 * Flow control: responses accumulate in c->out (pipelined requests produce
 * several). http_conn_input stops consuming input while c->out lacks room
 * for one more response; the driver sends c->out, calls http_conn_sent, and
 * feeds the rest again. Memory per connection is sizeof(struct http_conn),
 * fixed; nothing is allocated. */
#ifndef CEXEC_EXAMPLES_HTTP_CONN_H
#define CEXEC_EXAMPLES_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "http_parser.h"

#define HTTP_CONN_OUT_MAX 4096     /* bytes of pending responses */
#define HTTP_CONN_RESPONSE_MAX 512 /* the longest response we write */

struct http_conn {
	struct http_parser parser;
	size_t out_len;        /* bytes pending in out */
	bool closing;          /* close once out is sent; ignore more input */
	bool respond_keep;     /* the current request's response keeps alive */
	int respond_status;    /* chosen at REQUEST, written at END */
	bool respond_head;     /* HEAD: headers only */
	bool respond_v10;      /* the request was HTTP/1.0 */
	unsigned long requests; /* complete requests answered */
	char out[HTTP_CONN_OUT_MAX];
};

/* Prepares c for a new connection. */
void http_conn_init(struct http_conn *c);

/* Consumes a prefix of in[0, len) and appends responses to c->out. Returns
 * the bytes consumed: less than len when c->out is full (send, then call
 * again with the rest) or when the connection is closing (the rest is to be
 * discarded). */
size_t http_conn_input(struct http_conn *c, const char *in, size_t len);

/* n bytes of c->out were sent: drops them. */
void http_conn_sent(struct http_conn *c, size_t n);

/* Adds the response for a client that was too slow or idle (408, close);
 * use when the request timer fires with a request in progress. */
void http_conn_timeout(struct http_conn *c);

/* True when nothing is pending: no partial request and no output. An idle
 * keep-alive connection may be closed silently then. */
bool http_conn_idle(const struct http_conn *c);

/* True when the connection must close once c->out is sent. */
static inline bool http_conn_closing(const struct http_conn *c)
{
	return c->closing;
}

#endif
