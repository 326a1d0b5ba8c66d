/* tests/fuzz/http_parser_fuzz.c - libFuzzer target for the HTTP request
 * parser (examples/http/http_parser.c).
 *
 * Each input is parsed four ways: whole and one byte at a time (default
 * limits), then whole and at split points derived from the input's hash
 * with a small max_body (so 413 paths are reached). The two runs of each
 * pair must report identical events; every event is checked against the
 * parser's contract by http_transcript_feed (consumed <= given, BODY inside
 * the input, spans inside the head buffer, REQUEST/BODY/END order, body
 * length = Content-Length, sticky errors, progress). Any violation aborts,
 * which libFuzzer reports as a crash; ASan/UBSan catch the rest.
 *
 * Built with -fsanitize=fuzzer when the compiler is clang (see
 * tests/fuzz/CMakeLists.txt); fuzz_replay.c supplies a main() that runs the
 * same entry point over the seed corpus with any compiler. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_transcript.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_parser parser;
static struct http_transcript first, second;

static void mismatch(const char *what, const struct http_transcript *a,
		     const struct http_transcript *b)
{
	fprintf(stderr, "http_parser_fuzz: %s\n--- one:\n%s\n--- other:\n%s\n",
		what, a->text, b->text);
	abort();
}

static void run(struct http_transcript *t, const char *in, size_t len,
		uint64_t max_body, size_t piece, const size_t *splits,
		size_t nsplits)
{
	http_parser_init(&parser);
	parser.max_body = max_body;
	http_transcript_init(t);
	http_transcript_feed(t, &parser, in, len, piece, splits, nsplits);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	run(&first, in, size, HTTP_DEFAULT_MAX_BODY, 0, NULL, 0);
	run(&second, in, size, HTTP_DEFAULT_MAX_BODY, 1, NULL, 0);
	if (strcmp(first.text, second.text) != 0 || first.error != second.error)
		mismatch("whole vs one byte at a time", &first, &second);
	if (first.error == 0 && first.consumed != size)
		mismatch("no error but input left over", &first, &second);

	/* FNV-1a of the input seeds the split points: reproducible. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	size_t splits[16];
	size_t nsplits = size ? (size_t)(h % 16) : 0;
	for (size_t i = 0; i < nsplits; i++) {
		h = h * 6364136223846793005ull + 1442695040888963407ull;
		splits[i] = (size_t)((h >> 33) % (size + 1));
	}
	for (size_t i = 1; i < nsplits; i++)
		for (size_t j = i; j > 0 && splits[j - 1] > splits[j]; j--) {
			size_t tmp = splits[j];
			splits[j] = splits[j - 1];
			splits[j - 1] = tmp;
		}
	run(&first, in, size, 16, 0, NULL, 0);
	run(&second, in, size, 16, 0, splits, nsplits);
	if (strcmp(first.text, second.text) != 0 || first.error != second.error)
		mismatch("whole vs split (max_body 16)", &first, &second);
	return 0;
}
