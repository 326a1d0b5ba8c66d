/* examples/http/http_parser.c - see http_parser.h for the rules.
 *
 * Structure: the head is collected line by line into p->head (memchr finds
 * each line end, so a head that arrives whole costs one copy and one pass);
 * each complete line is parsed at once, so garbage is refused at the first
 * bad line rather than after HTTP_HEAD_MAX bytes. Bodies are never copied:
 * BODY events point into the caller's input. Chunked framing is a byte
 * state machine. Every index is checked against the bound of the buffer it
 * reads, which is what the fuzzer (tests/fuzz/http_parser_fuzz.c) verifies. */
#include "http_parser.h"

#include <string.h>

enum phase {
	PH_START = 0, /* between requests: reset, then PH_HEAD */
	PH_HEAD,
	PH_BODY_LENGTH,
	PH_CHUNK_SIZE,
	PH_CHUNK_BWS, /* spaces after the size, before ';' or the line end */
	PH_CHUNK_EXT,
	PH_CHUNK_SIZE_LF,
	PH_CHUNK_DATA,
	PH_CHUNK_DATA_CR,
	PH_CHUNK_DATA_LF,
	PH_TRAILER,
	PH_TRAILER_LF,
	PH_END,
	PH_ERROR,
};

/* tchar from RFC 9110 5.6.2, as a 256-entry table so that bytes >= 0x80
 * index it safely and are refused. */
static const unsigned char tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static int is_tchar(char c)
{
	return tchar[(unsigned char)c];
}

/* A control character that may not appear anywhere in a head: everything
 * below 0x20 but HTAB, CR and LF (which the line logic handles), and DEL. */
static int is_bad_ctl(char c)
{
	unsigned char u = (unsigned char)c;
	return (u < 0x20 && u != '\t' && u != '\r' && u != '\n') || u == 0x7f;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int ieq_n(const char *a, size_t n, const char *b)
{
	size_t m = strlen(b);
	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

bool http_span_eq(struct http_span span, const char *s)
{
	size_t m = strlen(s);
	return span.len == m && (m == 0 || memcmp(span.ptr, s, m) == 0);
}

bool http_span_ieq(struct http_span span, const char *s)
{
	return ieq_n(span.ptr, span.len, s);
}

const struct http_span *http_request_header(const struct http_request *req,
					    const char *name)
{
	for (uint32_t i = 0; i < req->header_count; i++)
		if (http_span_ieq(req->headers[i].name, name))
			return &req->headers[i].value;
	return NULL;
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

void http_parser_init(struct http_parser *p)
{
	/* head[] needs no clearing: only bytes below head_len are read. */
	p->max_body = HTTP_DEFAULT_MAX_BODY;
	p->phase = PH_START;
	p->error = 0;
	p->head_len = 0;
	p->line_start = 0;
	p->empty_lines = 0;
	p->req.header_count = 0;
}

bool http_parser_idle(const struct http_parser *p)
{
	return p->phase == PH_START || (p->phase == PH_HEAD && p->head_len == 0);
}

/* Per-request reset; cheap on purpose (no clearing of the arrays). */
static void begin_request(struct http_parser *p)
{
	p->head_len = 0;
	p->line_start = 0;
	p->empty_lines = 0;
	p->have_request_line = false;
	p->have_host = p->have_length = p->have_te = false;
	p->te_other = p->conn_close = p->conn_keep = false;
	p->body_left = 0;
	p->body_total = 0;
	p->chunk_line = 0;
	p->chunk_digits = 0;
	p->trailer_bytes = 0;
	struct http_request *r = &p->req;
	r->method.ptr = r->target.ptr = p->head;
	r->method.len = r->target.len = 0;
	r->method_id = HTTP_METHOD_OTHER;
	r->version_major = r->version_minor = 0;
	r->keep_alive = false;
	r->chunked = false;
	r->has_body = false;
	r->content_length = 0;
	r->header_count = 0;
}

static size_t fail(struct http_parser *p, struct http_event *ev, int status,
		   size_t used)
{
	p->phase = PH_ERROR;
	p->error = status;
	p->req.keep_alive = false;
	ev->type = HTTP_EV_ERROR;
	ev->status = status;
	return used;
}

static enum http_method method_id(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum http_method id;
	} known[] = {
		{"GET", HTTP_METHOD_GET},         {"HEAD", HTTP_METHOD_HEAD},
		{"POST", HTTP_METHOD_POST},       {"PUT", HTTP_METHOD_PUT},
		{"DELETE", HTTP_METHOD_DELETE},   {"OPTIONS", HTTP_METHOD_OPTIONS},
		{"PATCH", HTTP_METHOD_PATCH},     {"CONNECT", HTTP_METHOD_CONNECT},
		{"TRACE", HTTP_METHOD_TRACE},
	};
	/* Methods are case-sensitive (RFC 9110 9.1). */
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i].name) == n && memcmp(known[i].name, s, n) == 0)
			return known[i].id;
	return HTTP_METHOD_OTHER;
}

/* "METHOD SP target SP HTTP/d.d" in s[0, n). Returns 0 or a status. */
static int parse_request_line(struct http_parser *p, const char *s, size_t n)
{
	struct http_request *r = &p->req;
	size_t i = 0;
	while (i < n && is_tchar(s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != ' ')
		return 400;
	r->method.ptr = s;
	r->method.len = (uint32_t)i;
	r->method_id = method_id(s, i);

	size_t j = i + 1, k = j;
	while (k < n && (unsigned char)s[k] > 0x20 && (unsigned char)s[k] < 0x7f)
		k++;
	if (k == j || k >= n || s[k] != ' ')
		return 400;
	r->target.ptr = s + j;
	r->target.len = (uint32_t)(k - j);

	size_t v = k + 1;
	if (n - v != 8 || memcmp(s + v, "HTTP/", 5) != 0 || s[v + 5] < '0' ||
	    s[v + 5] > '9' || s[v + 6] != '.' || s[v + 7] < '0' || s[v + 7] > '9')
		return 400;
	r->version_major = (uint8_t)(s[v + 5] - '0');
	r->version_minor = (uint8_t)(s[v + 7] - '0');
	if (r->version_major != 1)
		return 505;
	p->have_request_line = true;
	return 0;
}

/* 1 to 19 decimal digits (fits in uint64_t without overflow checks). */
static int parse_length(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19)
		return 400;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 400;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* A comma-separated token list; records "close" and "keep-alive". */
static void parse_connection(struct http_parser *p, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		size_t start = i;
		while (i < n && s[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
			end--;
		if (ieq_n(s + start, end - start, "close"))
			p->conn_close = true;
		else if (ieq_n(s + start, end - start, "keep-alive"))
			p->conn_keep = true;
	}
}

/* "name: value" in s[0, n). Returns 0 or a status. */
static int parse_field(struct http_parser *p, const char *s, size_t n)
{
	struct http_request *r = &p->req;
	size_t i = 0;
	/* A leading SP/HTAB is obs-fold (or junk): refused, RFC 9112 5.2. */
	while (i < n && is_tchar(s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != ':')
		return 400;
	size_t name_len = i;
	size_t v = i + 1, e = n;
	while (v < e && (s[v] == ' ' || s[v] == '\t'))
		v++;
	while (e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	const char *val = s + v;
	size_t val_len = e - v;

	if (r->header_count == HTTP_MAX_HEADERS)
		return 431;
	struct http_header *h = &r->headers[r->header_count++];
	h->name.ptr = s;
	h->name.len = (uint32_t)name_len;
	h->value.ptr = val;
	h->value.len = (uint32_t)val_len;

	if (ieq_n(s, name_len, "host")) {
		if (p->have_host)
			return 400;
		p->have_host = true;
	} else if (ieq_n(s, name_len, "content-length")) {
		if (p->have_length)
			return 400;
		p->have_length = true;
		return parse_length(val, val_len, &r->content_length);
	} else if (ieq_n(s, name_len, "transfer-encoding")) {
		if (p->have_te || val_len == 0)
			return 400;
		p->have_te = true;
		if (ieq_n(val, val_len, "chunked"))
			r->chunked = true;
		else
			p->te_other = true;
	} else if (ieq_n(s, name_len, "connection")) {
		parse_connection(p, val, val_len);
	}
	return 0;
}

/* The empty line arrived: check the framing and choose the body phase. */
static int finish_head(struct http_parser *p)
{
	struct http_request *r = &p->req;
	bool v11 = r->version_minor >= 1;
	if (v11 && !p->have_host)
		return 400;
	if (p->have_te) {
		/* TE with Content-Length is the request smuggling pattern;
		 * RFC 9112 6.1 lets a server refuse it, and we do. */
		if (!v11 || p->have_length)
			return 400;
		if (p->te_other)
			return 501;
		r->has_body = true;
		p->phase = PH_CHUNK_SIZE;
	} else if (p->have_length) {
		if (r->content_length > p->max_body)
			return 413;
		r->has_body = r->content_length > 0;
		p->body_left = r->content_length;
		p->phase = r->has_body ? PH_BODY_LENGTH : PH_END;
	} else {
		p->phase = PH_END;
	}
	r->keep_alive = v11 ? !p->conn_close : (p->conn_keep && !p->conn_close);
	return 0;
}

/* PH_HEAD: collect and parse lines until the empty line. */
static size_t head_feed(struct http_parser *p, const char *data, size_t len,
			struct http_event *ev)
{
	size_t used = 0;
	while (used < len) {
		const char *s = data + used;
		size_t n = len - used;
		const char *nl = memchr(s, '\n', n);
		size_t take = nl ? (size_t)(nl - s) + 1 : n;
		/* Only bytes within the limit are checked, so that the status
		 * (400 for a control byte, 431/414 for the limit) does not
		 * depend on how the input was split: the fuzzer found that. */
		size_t room = (size_t)HTTP_HEAD_MAX - p->head_len;
		size_t check = take < room ? take : room;
		for (size_t i = 0; i < check; i++)
			if (is_bad_ctl(s[i]))
				return fail(p, ev, 400, used);
		if (take > room)
			return fail(p, ev, p->have_request_line ? 431 : 414, used);
		memcpy(p->head + p->head_len, s, take);
		p->head_len += (uint32_t)take;
		used += take;
		if (!nl)
			break;

		/* A complete line: head[line_start, end) without CR LF. */
		uint32_t start = p->line_start;
		uint32_t end = p->head_len - 1;
		if (end > start && p->head[end - 1] == '\r')
			end--;
		if (memchr(p->head + start, '\r', end - start))
			return fail(p, ev, 400, used); /* bare CR */
		if (end == start) {
			if (!p->have_request_line) {
				/* Robustness (RFC 9112 2.2): skip a few. */
				if (++p->empty_lines > HTTP_MAX_EMPTY_LINES)
					return fail(p, ev, 400, used);
				p->head_len = start;
				continue;
			}
			int rc = finish_head(p);
			if (rc)
				return fail(p, ev, rc, used);
			ev->type = HTTP_EV_REQUEST;
			return used;
		}
		int rc = p->have_request_line
				 ? parse_field(p, p->head + start, end - start)
				 : parse_request_line(p, p->head + start, end - start);
		if (rc)
			return fail(p, ev, rc, used);
		p->line_start = p->head_len;
	}
	ev->type = HTTP_EV_NONE;
	return used;
}

/* The chunked states. Returns the bytes consumed; sets ev when an event is
 * due (BODY, END is left to the caller through PH_END, ERROR). */
static size_t chunk_feed(struct http_parser *p, const char *data, size_t len,
			 struct http_event *ev)
{
	size_t i = 0;
	while (i < len) {
		char c = data[i];
		switch (p->phase) {
		case PH_CHUNK_SIZE: {
			int h = hex_value(c);
			if (h >= 0) {
				/* 15 digits keep the size below 2^60. */
				if (p->chunk_digits == 15)
					return fail(p, ev, 400, i);
				p->body_left = p->body_left * 16 + (uint64_t)h;
				p->chunk_digits++;
				i++;
				continue;
			}
			if (p->chunk_digits == 0)
				return fail(p, ev, 400, i);
			p->phase = PH_CHUNK_BWS;
			continue; /* re-examine c there */
		}
		case PH_CHUNK_BWS:
			if (c == ' ' || c == '\t') {
				if (++p->chunk_line > HTTP_CHUNK_LINE_MAX)
					return fail(p, ev, 400, i);
			} else if (c == ';') {
				p->phase = PH_CHUNK_EXT;
			} else if (c == '\r') {
				p->phase = PH_CHUNK_SIZE_LF;
			} else if (c == '\n') {
				goto size_done;
			} else {
				return fail(p, ev, 400, i);
			}
			i++;
			continue;
		case PH_CHUNK_EXT:
			/* Extensions are skipped, bounded, control chars refused. */
			if (c == '\r') {
				p->phase = PH_CHUNK_SIZE_LF;
			} else if (c == '\n') {
				goto size_done;
			} else if (is_bad_ctl(c) ||
				   ++p->chunk_line > HTTP_CHUNK_LINE_MAX) {
				return fail(p, ev, 400, i);
			}
			i++;
			continue;
		case PH_CHUNK_SIZE_LF:
			if (c != '\n')
				return fail(p, ev, 400, i);
		size_done:
			i++;
			p->chunk_line = 0;
			if (p->body_left == 0) {
				p->phase = PH_TRAILER;
				continue;
			}
			if (p->body_left > p->max_body - p->body_total)
				return fail(p, ev, 413, i);
			p->phase = PH_CHUNK_DATA;
			continue;
		case PH_CHUNK_DATA: {
			size_t k = len - i;
			if (k > p->body_left)
				k = (size_t)p->body_left;
			p->body_left -= k;
			p->body_total += k;
			if (p->body_left == 0)
				p->phase = PH_CHUNK_DATA_CR;
			ev->type = HTTP_EV_BODY;
			ev->data = data + i;
			ev->len = k;
			return i + k;
		}
		case PH_CHUNK_DATA_CR:
			if (c == '\r') {
				p->phase = PH_CHUNK_DATA_LF;
				i++;
				continue;
			}
			/* fall through - a bare LF also ends the data line */
		case PH_CHUNK_DATA_LF:
			if (c != '\n')
				return fail(p, ev, 400, i);
			i++;
			p->phase = PH_CHUNK_SIZE;
			p->body_left = 0;
			p->chunk_digits = 0;
			p->chunk_line = 0;
			continue;
		case PH_TRAILER:
			/* Trailer fields are skipped (never merged into the
			 * head), their size bounded like a head. */
			if (c == '\r') {
				p->phase = PH_TRAILER_LF;
				i++;
				continue;
			}
			if (c == '\n')
				goto trailer_line;
			if (is_bad_ctl(c))
				return fail(p, ev, 400, i);
			if (++p->trailer_bytes > HTTP_HEAD_MAX)
				return fail(p, ev, 431, i);
			p->chunk_line++;
			i++;
			continue;
		case PH_TRAILER_LF:
			if (c != '\n')
				return fail(p, ev, 400, i);
		trailer_line:
			i++;
			if (p->chunk_line == 0) {
				p->phase = PH_END;
				return i;
			}
			p->chunk_line = 0;
			p->phase = PH_TRAILER;
			continue;
		default:
			return i;
		}
	}
	return i;
}

size_t http_parser_execute(struct http_parser *p, const char *data, size_t len,
			   struct http_event *ev)
{
	ev->type = HTTP_EV_NONE;
	ev->status = 0;
	ev->data = NULL;
	ev->len = 0;
	size_t used = 0;
	for (;;) {
		switch (p->phase) {
		case PH_START:
			begin_request(p);
			p->phase = PH_HEAD;
			continue;
		case PH_HEAD:
			return used + head_feed(p, data + used, len - used, ev);
		case PH_BODY_LENGTH: {
			if (used == len)
				return used;
			size_t k = len - used;
			if (k > p->body_left)
				k = (size_t)p->body_left;
			p->body_left -= k;
			if (p->body_left == 0)
				p->phase = PH_END;
			ev->type = HTTP_EV_BODY;
			ev->data = data + used;
			ev->len = k;
			return used + k;
		}
		case PH_END:
			ev->type = HTTP_EV_END;
			p->phase = PH_START;
			return used;
		case PH_ERROR:
			ev->type = HTTP_EV_ERROR;
			ev->status = p->error;
			return used;
		default: /* chunked */
			used += chunk_feed(p, data + used, len - used, ev);
			if (ev->type != HTTP_EV_NONE || p->phase != PH_END)
				return used;
			continue; /* the last chunk ended the message */
		}
	}
}
