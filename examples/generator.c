/* examples/generator.c - stackless generators: the classic range(from, to)
 * and a generator that pulls from another one.
 *
 *   generator [--from A] [--to B] [--step S] [--take K]
 *
 * range(A, B, S) yields A, A+S, ... below B. squares_of(g) pulls from the
 * range generator g and yields the squares of its odd values. The program
 * prints the range, then the squares, then takes only the first K squares
 * and drops the generator there (nothing to free: a generator's state is
 * its frame). It checks each sequence against a plain loop and exits 0
 * when they match. */
/* CEXEC_TEST_ARGS: --from 0 --to 20 --step 3 --take 2 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cexec.h"

/* The frame: locals that survive a yield live here, not on the stack. */
typedef struct range_gen {
	exec_coro co;
	int64_t i, to, step;
} range_gen;

static int range_fn(exec_coro *co)
{
	range_gen *g = (range_gen *)co;
	EXEC_CORO_BEGIN(co);
	for (; g->i < g->to; g->i += g->step)
		EXEC_CORO_YIELD(co, exec_value_i64(g->i));
	EXEC_CORO_END(co);
}

static void range_init(range_gen *g, int64_t from, int64_t to, int64_t step)
{
	exec_coro_init(&g->co, range_fn);
	g->i = from;
	g->to = to;
	g->step = step;
}

/* A generator over a generator: its frame holds the inner one. */
typedef struct squares_gen {
	exec_coro co;
	range_gen inner;
	exec_value v;
} squares_gen;

static int squares_fn(exec_coro *co)
{
	squares_gen *g = (squares_gen *)co;
	EXEC_CORO_BEGIN(co);
	while (exec_coro_next(&g->inner.co, &g->v)) {
		int64_t x = exec_value_as_i64(&g->v); /* a plain local: no yield in between */
		if (x % 2)
			EXEC_CORO_YIELD(co, exec_value_i64(x * x));
	}
	EXEC_CORO_END(co);
}

static long arg_long(int argc, char **argv, const char *name, long def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return strtol(argv[i + 1], NULL, 10);
	return def;
}

int main(int argc, char **argv)
{
	int64_t from = arg_long(argc, argv, "--from", 0);
	int64_t to = arg_long(argc, argv, "--to", 10);
	int64_t step = arg_long(argc, argv, "--step", 1);
	long take = arg_long(argc, argv, "--take", 3);
	if (step <= 0 || take < 0) {
		fprintf(stderr, "usage: generator [--from A] [--to B] [--step S>0] [--take K]\n");
		return 2;
	}
	int ok = 1;

	range_gen r;
	range_init(&r, from, to, step);
	exec_value v;
	int64_t expect = from;
	printf("range(%lld, %lld, %lld):", (long long)from, (long long)to, (long long)step);
	while (exec_coro_next(&r.co, &v)) {
		printf(" %lld", (long long)exec_value_as_i64(&v));
		ok &= exec_value_as_i64(&v) == expect;
		expect += step;
	}
	printf("\n");
	ok &= expect >= to || from >= to;

	squares_gen sq;
	exec_coro_init(&sq.co, squares_fn);
	range_init(&sq.inner, from, to, step);
	printf("odd squares:");
	int64_t x = from;
	while (exec_coro_next(&sq.co, &v)) {
		while (x < to && !(x % 2))
			x += step;
		printf(" %lld", (long long)exec_value_as_i64(&v));
		ok &= x < to && exec_value_as_i64(&v) == x * x;
		x += step;
	}
	printf("\n");

	/* Take K, then abandon: the generator simply stops being pulled. */
	squares_gen *lazy = malloc(sizeof *lazy);
	if (!lazy)
		return 1;
	exec_coro_init(&lazy->co, squares_fn);
	range_init(&lazy->inner, from, to, step);
	printf("first %ld odd squares:", take);
	long got = 0;
	while (got < take && exec_coro_next(&lazy->co, &v)) {
		printf(" %lld", (long long)exec_value_as_i64(&v));
		got++;
	}
	printf("\n");
	free(lazy);

	if (!ok)
		fprintf(stderr, "FAILED: a generator disagreed with the plain loop\n");
	return ok ? 0 : 1;
}
