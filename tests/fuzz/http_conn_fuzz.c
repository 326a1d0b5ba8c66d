/* tests/fuzz/http_conn_fuzz.c - libFuzzer target for the server's connection
 * logic (examples/http/http_conn.c) on top of the parser.
 *
 * The input is fed in pieces and the output "sent" in pieces whose sizes
 * come from the input's hash, as a server loop would. Checks: the output
 * buffer never exceeds its bound; the output parses as a sequence of
 * complete HTTP/1.1 responses (status line, fields, Content-Length body or
 * none for HEAD); one final response per answered request plus one for a
 * refused or timed-out request (the input ends with a timeout); nothing
 * is consumed once the connection is closing; and
 * the bytes produced do not depend on how the input was split. Any violation
 * aborts. Seeds: corpus/http_parser (the same request grammar). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_conn conn;
static char out_a[1 << 20], out_b[1 << 20];

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "http_conn_fuzz: %s failed (line %d)\n", \
				#cond, __LINE__);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static uint64_t next(uint64_t *h)
{
	*h = *h * 6364136223846793005ull + 1442695040888963407ull;
	return *h >> 33;
}

/* Returns the output length; pieces random when seed != 0, else whole. */
static size_t drive(const char *in, size_t len, uint64_t seed, char *out,
		    size_t out_max)
{
	http_conn_init(&conn);
	size_t off = 0, n_out = 0;
	uint64_t h = seed;
	for (size_t guard = 0;; guard++) {
		CHECK(guard < 4 * len + 1000);
		size_t piece = seed ? 1 + next(&h) % 64 : len - off;
		size_t end = len - off < piece ? len : off + piece;
		bool was_closing = http_conn_closing(&conn);
		size_t n = http_conn_input(&conn, in + off, end - off);
		CHECK(n <= end - off);
		CHECK(!was_closing || n == 0);
		CHECK(conn.out_len <= HTTP_CONN_OUT_MAX);
		off += n;
		if (conn.out_len > 0) {
			size_t k = seed ? 1 + next(&h) % 700 : conn.out_len;
			if (k > conn.out_len)
				k = conn.out_len;
			if (n_out + k > out_max)
				k = out_max - n_out; /* truncates identically */
			memcpy(out + n_out, conn.out, k);
			n_out += k;
			http_conn_sent(&conn, k ? k : conn.out_len);
			continue;
		}
		if (http_conn_closing(&conn))
			break;
		if (off == len) {
			/* The client goes quiet: the server's timer fires. The
			 * parser's state no longer depends on the split, so
			 * both runs take the same path (408 or silence). */
			http_conn_timeout(&conn);
			CHECK(http_conn_closing(&conn));
		}
	}
	return n_out;
}

/* Counts final (non-100) responses; aborts on anything malformed. */
static unsigned long check_responses(const char *o, size_t n)
{
	unsigned long finals = 0;
	size_t i = 0;
	while (i < n) {
		CHECK(n - i >= 13 && memcmp(o + i, "HTTP/1.1 ", 9) == 0);
		int status = (o[i + 9] - '0') * 100 + (o[i + 10] - '0') * 10 +
			     (o[i + 11] - '0');
		CHECK(status >= 100 && status <= 599 && o[i + 12] == ' ');
		const char *end = NULL;
		for (size_t j = i; j + 4 <= n; j++)
			if (memcmp(o + j, "\r\n\r\n", 4) == 0) {
				end = o + j + 4;
				break;
			}
		CHECK(end != NULL);
		size_t head_len = (size_t)(end - (o + i));
		if (status == 100) {
			CHECK(head_len == 25);
			i += head_len;
			continue;
		}
		finals++;
		/* Content-Length is always present. */
		const char *cl = NULL;
		for (size_t j = i; j + 18 <= i + head_len; j++)
			if (memcmp(o + j, "\r\nContent-Length: ", 18) == 0) {
				cl = o + j + 18;
				break;
			}
		CHECK(cl != NULL);
		size_t body = 0;
		while (*cl >= '0' && *cl <= '9')
			body = body * 10 + (size_t)(*cl++ - '0');
		i += head_len;
		/* HEAD: no body, the next response (or the end) follows. */
		if (i == n || (n - i >= 9 && memcmp(o + i, "HTTP/1.1 ", 9) == 0))
			continue;
		CHECK(n - i >= body);
		i += body;
	}
	return finals;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t a = drive(in, size, 0, out_a, sizeof out_a);
	unsigned long requests = conn.requests;
	/* A 408 for the request left unfinished when the input ran out. */
	bool refused = conn.parser.error != 0 ||
		       (conn.out_len == 0 && !http_parser_idle(&conn.parser));
	if (a < sizeof out_a)
		CHECK(check_responses(out_a, a) == requests + (refused ? 1 : 0));

	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	size_t b = drive(in, size, h | 1, out_b, sizeof out_b);
	CHECK(conn.requests == requests);
	CHECK(a == b);
	/* Date fields may differ if the second ticked between the runs: compare
	 * with them masked. */
	for (size_t i = 0; i < a; i++) {
		if (out_a[i] != out_b[i]) {
			size_t k = i;
			while (k > 0 && out_a[k - 1] != '\n')
				k--;
			CHECK(a - k > 6 && memcmp(out_a + k, "Date: ", 6) == 0);
		}
	}
	return 0;
}
