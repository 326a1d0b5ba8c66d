/* examples/http/http_conn.c - see http_conn.h. */
#include "http_conn.h"

#include <string.h>
#include <time.h>

static const char hello[] = "Hello, World!";

/* The Date field (RFC 9110 6.6.1) changes once a second: format it once per
 * second per thread, not per response. */
static const char *http_date(void)
{
	static _Thread_local time_t cached_at = (time_t)-1;
	static _Thread_local char cached[40];
	time_t now = time(NULL);
	if (now != cached_at) {
		struct tm tm;
		gmtime_r(&now, &tm);
		if (strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT",
			     &tm) == 0)
			strcpy(cached, "Thu, 01 Jan 1970 00:00:00 GMT");
		cached_at = now;
	}
	return cached;
}

static char *put(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

static char *put_uint(char *p, unsigned long v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Appends one response. The caller checked that HTTP_CONN_RESPONSE_MAX
 * bytes are free; the longest response is well below it (the longest reason
 * phrase is 31 bytes, used twice). */
static void respond(struct http_conn *c, int status, bool keep, bool v10,
		    bool head)
{
	const char *reason = http_status_reason(status);
	const char *body = status == 200 ? hello : reason;
	size_t body_len = strlen(body);
	char *p = c->out + c->out_len;
	p = put(p, "HTTP/1.1 ");
	p = put_uint(p, (unsigned long)status);
	p = put(p, " ");
	p = put(p, reason);
	p = put(p, "\r\nServer: cexec\r\nDate: ");
	p = put(p, http_date());
	p = put(p, "\r\nContent-Type: text/plain\r\nContent-Length: ");
	p = put_uint(p, body_len);
	if (!keep)
		p = put(p, "\r\nConnection: close");
	else if (v10)
		p = put(p, "\r\nConnection: keep-alive");
	if (status == 405)
		p = put(p, "\r\nAllow: GET, HEAD");
	p = put(p, "\r\n\r\n");
	if (!head) {
		memcpy(p, body, body_len);
		p += body_len;
	}
	c->out_len = (size_t)(p - c->out);
}

void http_conn_init(struct http_conn *c)
{
	http_parser_init(&c->parser);
	c->out_len = 0;
	c->closing = false;
	c->respond_keep = false;
	c->respond_status = 0;
	c->respond_head = false;
	c->respond_v10 = false;
	c->requests = 0;
}

/* "/" or "/?query". */
static bool is_root(struct http_span target)
{
	return target.len >= 1 && target.ptr[0] == '/' &&
	       (target.len == 1 || target.ptr[1] == '?');
}

static void on_request(struct http_conn *c)
{
	const struct http_request *r = &c->parser.req;
	int status = 404;
	if (is_root(r->target))
		status = r->method_id == HTTP_METHOD_GET || r->method_id == HTTP_METHOD_HEAD
				 ? 200
				 : 405;
	c->respond_status = status;
	c->respond_keep = r->keep_alive;
	c->respond_head = r->method_id == HTTP_METHOD_HEAD;
	c->respond_v10 = r->version_minor == 0;
	/* A client waiting for 100 Continue would otherwise stall a second
	 * (curl) before sending the body we are about to read. */
	const struct http_span *expect = http_request_header(r, "expect");
	if (r->has_body && !c->respond_v10 && expect &&
	    http_span_ieq(*expect, "100-continue"))
		c->out_len = (size_t)(put(c->out + c->out_len,
					  "HTTP/1.1 100 Continue\r\n\r\n") -
				      c->out);
}

size_t http_conn_input(struct http_conn *c, const char *in, size_t len)
{
	size_t used = 0;
	/* Room for a 100 Continue and a final response per iteration. */
	while (!c->closing &&
	       HTTP_CONN_OUT_MAX - c->out_len >= HTTP_CONN_RESPONSE_MAX) {
		struct http_event ev;
		used += http_parser_execute(&c->parser, in + used, len - used, &ev);
		switch (ev.type) {
		case HTTP_EV_NONE:
			return used;
		case HTTP_EV_REQUEST:
			on_request(c);
			break;
		case HTTP_EV_BODY:
			break; /* discarded */
		case HTTP_EV_END:
			respond(c, c->respond_status, c->respond_keep, c->respond_v10,
				c->respond_head);
			c->requests++;
			if (!c->respond_keep)
				c->closing = true;
			break;
		case HTTP_EV_ERROR:
			respond(c, ev.status, false, false, false);
			c->closing = true;
			break;
		}
	}
	return used;
}

void http_conn_sent(struct http_conn *c, size_t n)
{
	if (n >= c->out_len) {
		c->out_len = 0;
		return;
	}
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
}

void http_conn_timeout(struct http_conn *c)
{
	if (c->closing)
		return;
	if (!http_parser_idle(&c->parser) &&
	    HTTP_CONN_OUT_MAX - c->out_len >= HTTP_CONN_RESPONSE_MAX)
		respond(c, 408, false, false, false);
	c->closing = true;
}

bool http_conn_idle(const struct http_conn *c)
{
	return c->out_len == 0 && http_parser_idle(&c->parser);
}
