/* tests/model/random_pipeline_test.c - model-based random pipelines.
 *
 * A seeded generator builds random sender trees (just, just_error,
 * just_stopped, then, upon_error, upon_stopped, let_value, let_error,
 * let_stopped, when_all, when_any, stopped_as_error, starts_on,
 * continues_on, on, bulk, split when algorithms/split.h exists; depth up to
 * 8) over a random mix of schedulers (inline, a run_loop driven by its own
 * thread, a 2-thread pool, an io loop on its own thread), runs each with a
 * counting receiver (tests/cexec_test.h) - without stop, with stop requested
 * before start, or with stop requested from this thread at a random moment
 * while the tree runs elsewhere - and checks the completion against a
 * reference evaluator written separately below. The reference returns the
 * SET of outcomes the contract allows (several when children race, or when
 * a stop request races), the run must land in it, and every run must
 * complete exactly once.
 *
 * Environment (or argv: seed count):
 *   CEXEC_MODEL_SEED   first tree seed (default: fixed); tree i uses seed+i
 *   CEXEC_MODEL_COUNT  number of trees (default: MODEL_DEFAULT_COUNT, scaled
 *                      down in sanitizer builds)
 * A mismatch prints the tree seed, the tree and the allowed outcomes;
 * CEXEC_MODEL_SEED=<tree seed> CEXEC_MODEL_COUNT=1 rebuilds the same tree
 * (the timing of a racing stop is not reproducible, the tree is). */
/* CEXEC_TEST_LABELS: tsan */
/* CEXEC_TEST_TIMEOUT: 300 */
#include "cexec_test.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>

#include "exec/adaptor.h"

#include "algorithms/bulk.h"
#include "algorithms/continues_on.h"
#include "algorithms/let.h"
#include "algorithms/on.h"
#include "algorithms/starts_on.h"
#include "algorithms/stopped_as_error.h"
#include "algorithms/sync_wait.h"
#include "algorithms/upon_error.h"
#include "algorithms/upon_stopped.h"
#include "algorithms/when_all.h"
#include "algorithms/when_any.h"
#include "schedulers/inline.h"
#include "schedulers/io_uring.h"
#include "schedulers/run_loop.h"
#include "schedulers/thread_pool.h"

#if defined(__has_include) && !defined(MODEL_NO_SPLIT)
#if __has_include("algorithms/split.h")
#include "algorithms/split.h"
#define MODEL_HAVE_SPLIT 1
#endif
#endif
#ifndef MODEL_HAVE_SPLIT
#define MODEL_HAVE_SPLIT 0
#endif

#ifndef MODEL_DEFAULT_COUNT
#define MODEL_DEFAULT_COUNT 20000
#endif
#ifndef MODEL_DEFAULT_SEED
#define MODEL_DEFAULT_SEED 20261123u
#endif

#if defined(__SANITIZE_THREAD__)
#define MODEL_SCALE 10
#elif defined(__SANITIZE_ADDRESS__)
#define MODEL_SCALE 3
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MODEL_SCALE 10
#elif __has_feature(address_sanitizer)
#define MODEL_SCALE 3
#endif
#endif
#ifndef MODEL_SCALE
#define MODEL_SCALE 1
#endif

/* ---- random numbers (splitmix64: one seed fixes the whole tree) --------- */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static unsigned rng_below(uint64_t *s, unsigned n)
{
	return (unsigned)(rng_next(s) % n);
}

/* ---- schedulers ---------------------------------------------------------- */
enum { SCHED_INLINE, SCHED_RUN_LOOP, SCHED_POOL, SCHED_IO, SCHED_COUNT };
static const char *const sched_names[] = {"inline", "run_loop", "pool", "io"};

static exec_scheduler *scheds[SCHED_COUNT];
static exec_run_loop run_loop;
static pthread_t run_loop_thread, io_thread;
static exec_thread_pool *pool;
static exec_io_loop *io_loop;
static pthread_mutex_t io_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t io_cv = PTHREAD_COND_INITIALIZER;
static int io_ready; /* 1 created, -errno failed */

static void *run_loop_main(void *arg)
{
	(void)arg;
	exec_run_loop_run(&run_loop);
	return NULL;
}

/* The io loop is created on the thread that runs it (an io_uring with
 * SINGLE_ISSUER belongs to its creating thread). */
static void *io_main(void *arg)
{
	(void)arg;
	exec_io_loop *loop = NULL;
	int rc = exec_io_loop_create(&loop, NULL);
	pthread_mutex_lock(&io_mu);
	io_loop = loop;
	io_ready = rc == 0 ? 1 : rc;
	pthread_cond_broadcast(&io_cv);
	pthread_mutex_unlock(&io_mu);
	if (rc == 0)
		assert_int_equal(exec_io_loop_run(loop), 0);
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	scheds[SCHED_INLINE] = exec_inline_scheduler();
	assert_int_equal(exec_run_loop_init(&run_loop), 0);
	scheds[SCHED_RUN_LOOP] = exec_run_loop_scheduler(&run_loop);
	assert_int_equal(pthread_create(&run_loop_thread, NULL, run_loop_main, NULL), 0);
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	scheds[SCHED_POOL] = exec_thread_pool_scheduler(pool);
	assert_int_equal(pthread_create(&io_thread, NULL, io_main, NULL), 0);
	pthread_mutex_lock(&io_mu);
	while (io_ready == 0)
		pthread_cond_wait(&io_cv, &io_mu);
	pthread_mutex_unlock(&io_mu);
	assert_int_equal(io_ready, 1);
	scheds[SCHED_IO] = exec_io_loop_scheduler(io_loop);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* Every thread that may still be inside a submit is joined before any
	 * scheduler goes away: a submit from another thread publishes the task
	 * first and wakes the target afterwards, so the task (and the run it
	 * belongs to) can be finished while its submitter still touches the
	 * target (the io loop's eventfd, say). */
	exec_io_loop_stop(io_loop);
	pthread_join(io_thread, NULL);
	exec_run_loop_finish(&run_loop);
	pthread_join(run_loop_thread, NULL);
	exec_thread_pool_destroy(pool);
	exec_io_loop_destroy(io_loop);
	exec_run_loop_destroy(&run_loop);
	return 0;
}

/* ---- trees --------------------------------------------------------------- */
enum kind {
	K_JUST, K_JUST_ERROR, K_JUST_STOPPED, K_THEN, K_UPON_ERROR,
	K_UPON_STOPPED, K_STOPPED_AS_ERROR, K_LET_VALUE, K_LET_ERROR,
	K_LET_STOPPED, K_WHEN_ALL, K_WHEN_ANY, K_STARTS_ON, K_CONTINUES_ON,
	K_ON, K_BULK, K_SPLIT, K_COUNT
};
static const char *const kind_names[] = {
	"just", "just_error", "just_stopped", "then", "upon_error",
	"upon_stopped", "stopped_as_error", "let_value", "let_error",
	"let_stopped", "when_all", "when_any", "starts_on", "continues_on",
	"on", "bulk", "split"};

#define MAXV 8        /* most values any node may send */
#define MAX_NODES 96  /* per tree, successors included */
#define MAX_KIDS 3

struct tree;
typedef struct node {
	struct tree *tree;
	int kind;
	int nkids;
	int kid[MAX_KIDS]; /* let_*: kid[0] predecessor, kid[1] successor */
	int variant;
	int64_t k;
	int err;
	int sched;
	int nvals;           /* just */
	size_t bulk_n, bulk_fail_at;
	int maxv;            /* most values this node may send */
	unsigned libmax;     /* the sender's max_values, by the library's rules */
	bool sync;           /* always completes inside its start */
} node;

typedef struct tree {
	node n[MAX_NODES];
	int count;
	int root;
	bool has_split;
	uint64_t seed;
} tree;

static int new_node(tree *t, int kind)
{
	assert_true(t->count < MAX_NODES);
	node *n = &t->n[t->count];
	memset(n, 0, sizeof *n);
	n->tree = t;
	n->kind = kind;
	return t->count++;
}

static int rand_err(uint64_t *r)
{
	return -(int)(1 + rng_below(r, 120));
}

/* The static max_values the library gives each sender (headers: then 4,
 * upon_* at least 4, let_value 64 since its successor is unknown, let_error
 * and let_stopped at least 64, when_all the sum, when_any the largest). A
 * let successor whose max_values is over EXEC_LET_MAX_VALUES makes the let
 * complete with -ERANGE, so the reference needs them. */
static unsigned lib_max(const tree *t, const node *n)
{
	unsigned c0 = n->nkids ? t->n[n->kid[0]].libmax : 0, x = 0;
	switch (n->kind) {
	case K_JUST:
		return (unsigned)n->nvals;
	case K_THEN:
		return EXEC_THEN_MAX_VALUES;
	case K_UPON_ERROR:
	case K_UPON_STOPPED:
		return c0 > EXEC_THEN_MAX_VALUES ? c0 : EXEC_THEN_MAX_VALUES;
	case K_LET_VALUE:
		return EXEC_LET_MAX_VALUES;
	case K_LET_ERROR:
	case K_LET_STOPPED:
		return c0 > EXEC_LET_MAX_VALUES ? c0 : EXEC_LET_MAX_VALUES;
	case K_WHEN_ALL:
	case K_WHEN_ANY:
		for (int j = 0; j < n->nkids; j++) {
			unsigned m = t->n[n->kid[j]].libmax;
			x = n->kind == K_WHEN_ALL ? x + m : (m > x ? m : x);
		}
		return x;
	case K_SPLIT:
		return n->variant == 1 ? 2 * c0 : c0;
	case K_JUST_ERROR:
	case K_JUST_STOPPED:
		return 0;
	default: /* adaptors keep their child's */
		return c0;
	}
}

/* Wraps node c in then(variant 0), which sends exactly one value, so that a
 * parent stays within MAXV values. */
static int collapse(tree *t, uint64_t *r, int c)
{
	int i = new_node(t, K_THEN);
	node *n = &t->n[i];
	n->nkids = 1;
	n->kid[0] = c;
	n->variant = 0;
	n->k = (int64_t)rng_below(r, 1000);
	n->maxv = 1;
	n->sync = t->n[c].sync;
	n->libmax = lib_max(t, n);
	return i;
}

/* depth: levels left; has_sched: the environment names a scheduler (on
 * needs one; split runs its child with the empty environment). */
static int gen(tree *t, uint64_t *r, int depth, bool has_sched)
{
	/* Leaves when out of depth or room (a node may add up to 2 * MAX_KIDS
	 * + 2 nodes below it before recursing, keep a margin). */
	bool leaf = depth <= 0 || t->count > MAX_NODES - 24 || rng_below(r, 8) == 0;
	int kind;
	if (leaf) {
		unsigned x = rng_below(r, 10);
		kind = x < 6 ? K_JUST : x < 8 ? K_JUST_ERROR : K_JUST_STOPPED;
	} else {
		do
			kind = (int)(K_THEN + rng_below(r, K_COUNT - K_THEN));
		while ((kind == K_SPLIT && !MODEL_HAVE_SPLIT) || (kind == K_ON && !has_sched));
	}
	int i = new_node(t, kind);
	/* n is re-derived after each recursive call: t->n does not move (a
	 * fixed array), so the pointer stays valid. */
	node *n = &t->n[i];
	n->k = (int64_t)rng_below(r, 1000);
	n->err = rand_err(r);
	n->variant = (int)rng_below(r, 3);
	n->sched = (int)rng_below(r, SCHED_COUNT);
	switch (kind) {
	case K_JUST:
		n->nvals = (int)rng_below(r, 3);
		n->maxv = n->nvals;
		n->sync = true;
		break;
	case K_JUST_ERROR:
	case K_JUST_STOPPED:
		n->sync = true;
		break;
	case K_THEN:
	case K_UPON_ERROR:
	case K_UPON_STOPPED:
	case K_STOPPED_AS_ERROR: {
		int c = gen(t, r, depth - 1, has_sched);
		n->nkids = 1;
		n->kid[0] = c;
		n->sync = t->n[c].sync;
		int outv = kind == K_THEN ? (n->variant == 0) : 1;
		if (kind == K_THEN)
			n->maxv = outv;
		else if (kind == K_STOPPED_AS_ERROR)
			n->maxv = t->n[c].maxv;
		else
			n->maxv = t->n[c].maxv > 1 ? t->n[c].maxv : 1;
		break;
	}
	case K_LET_VALUE:
	case K_LET_ERROR:
	case K_LET_STOPPED: {
		int c = gen(t, r, depth - 1, has_sched);
		int s = gen(t, r, depth - 2, has_sched);
		/* variant 1 prefixes the successor's values with the
		 * predecessor's values (let_value) or the error (let_error). */
		int prefix = 0;
		if (n->variant == 1 && kind == K_LET_VALUE)
			prefix = t->n[c].maxv;
		else if (n->variant == 1 && kind == K_LET_ERROR)
			prefix = 1;
		if (prefix + t->n[s].maxv > MAXV)
			s = collapse(t, r, s);
		if (prefix + t->n[s].maxv > MAXV)
			n->variant = 0, prefix = 0;
		/* variant 2 of let_value: fn returns NULL (-EINVAL), rarely. */
		if (n->variant == 2 && (kind != K_LET_VALUE || rng_below(r, 4) != 0))
			n->variant = 0;
		n->nkids = 2;
		n->kid[0] = c;
		n->kid[1] = s;
		int sv = prefix + t->n[s].maxv;
		n->maxv = t->n[c].maxv > sv ? t->n[c].maxv : sv;
		n->sync = false; /* fn calls go through the trampoline */
		break;
	}
	case K_WHEN_ALL:
	case K_WHEN_ANY: {
		unsigned lo = kind == K_WHEN_ANY ? 1 : 0;
		n->nkids = (int)(lo + rng_below(r, MAX_KIDS + 1 - lo));
		int sum = 0, max = 0;
		n->sync = true;
		for (int j = 0; j < n->nkids; j++) {
			int c = gen(t, r, depth - 1, has_sched);
			if (kind == K_WHEN_ALL && sum + t->n[c].maxv > MAXV)
				c = collapse(t, r, c);
			if (kind == K_WHEN_ALL && sum + t->n[c].maxv > MAXV) {
				n->nkids = j; /* full: c stays unused */
				break;
			}
			n->kid[j] = c;
			sum += t->n[c].maxv;
			if (t->n[c].maxv > max)
				max = t->n[c].maxv;
			n->sync = n->sync && t->n[c].sync;
		}
		n->maxv = kind == K_WHEN_ALL ? sum : max;
		break;
	}
	case K_STARTS_ON:
	case K_ON: {
		int c = gen(t, r, depth - 1, true);
		n->nkids = 1;
		n->kid[0] = c;
		n->maxv = t->n[c].maxv;
		break;
	}
	case K_CONTINUES_ON: {
		int c = gen(t, r, depth - 1, has_sched);
		n->nkids = 1;
		n->kid[0] = c;
		n->maxv = t->n[c].maxv;
		break;
	}
	case K_BULK: {
		int c = gen(t, r, depth - 1, has_sched);
		n->nkids = 1;
		n->kid[0] = c;
		n->maxv = t->n[c].maxv;
		n->bulk_n = rng_below(r, 40);
		n->bulk_fail_at = rng_below(r, 3) == 0 && n->bulk_n ? rng_below(r, (unsigned)n->bulk_n)
								   : SIZE_MAX;
		break;
	}
	case K_SPLIT: {
		int c = gen(t, r, depth - 1, false);
		/* variant 1: the same split sender twice in a when_all. */
		if (n->variant == 1 && 2 * t->n[c].maxv > MAXV)
			c = collapse(t, r, c);
		n->nkids = 1;
		n->kid[0] = c;
		n->maxv = t->n[c].maxv * (n->variant == 1 ? 2 : 1);
		t->has_split = true;
		break;
	}
	}
	n = &t->n[i];
	n->libmax = lib_max(t, n);
	return i;
}

static void tree_gen(tree *t, uint64_t seed)
{
	memset(t, 0, sizeof *t);
	t->seed = seed;
	uint64_t r = seed;
	t->root = gen(t, &r, 1 + (int)rng_below(&r, 8), true);
}

static void tree_print(const tree *t, int i, int indent)
{
	const node *n = &t->n[i];
	fprintf(stderr, "%*s%s", indent, "", kind_names[n->kind]);
	switch (n->kind) {
	case K_JUST:
		fprintf(stderr, " k=%" PRId64 " n=%d", n->k, n->nvals);
		break;
	case K_JUST_ERROR:
	case K_STOPPED_AS_ERROR:
		fprintf(stderr, " err=%d", n->err);
		break;
	case K_THEN:
	case K_UPON_ERROR:
	case K_UPON_STOPPED:
	case K_LET_VALUE:
	case K_LET_ERROR:
	case K_LET_STOPPED:
	case K_SPLIT:
		fprintf(stderr, " variant=%d k=%" PRId64 " err=%d", n->variant, n->k, n->err);
		break;
	case K_STARTS_ON:
	case K_CONTINUES_ON:
	case K_ON:
		fprintf(stderr, " %s", sched_names[n->sched]);
		break;
	case K_BULK:
		fprintf(stderr, " n=%zu fail_at=%zd err=%d", n->bulk_n,
			n->bulk_fail_at == SIZE_MAX ? (ssize_t)-1 : (ssize_t)n->bulk_fail_at, n->err);
		break;
	}
	fprintf(stderr, "%s\n", n->sync ? " (sync)" : "");
	for (int j = 0; j < n->nkids; j++)
		tree_print(t, n->kid[j], indent + 2);
}

/* ---- the functions the pipelines call ------------------------------------ */
static int64_t mix(const exec_value *v, size_t n)
{
	int64_t s = 17;
	for (size_t i = 0; i < n; i++)
		s = s * 31 + exec_value_as_i64(&v[i]);
	return s;
}

static int then_fn(void *ctx, const exec_value *in, size_t count, exec_value *out)
{
	const node *n = ctx;
	if (n->variant == 0) {
		out[0] = exec_value_i64(mix(in, count) * 3 + n->k);
		return 1;
	}
	return n->variant == 1 ? n->err : 0;
}

static int upon_error_fn(void *ctx, int err, exec_value *out)
{
	const node *n = ctx;
	if (n->variant == 0) {
		out[0] = exec_value_i64((int64_t)err * 7 + n->k);
		return 1;
	}
	return n->variant == 1 ? n->err : err;
}

static int upon_stopped_fn(void *ctx, exec_value *out)
{
	const node *n = ctx;
	if (n->variant == 1)
		return n->err;
	out[0] = exec_value_i64(n->k);
	return 1;
}

static int bulk_fn(void *ctx, size_t i, const exec_value *values, size_t count)
{
	(void)values;
	(void)count;
	const node *n = ctx;
	return i == n->bulk_fail_at ? n->err : 0;
}

static exec_sender *build(const tree *t, int i);

/* A split's shared operation may run on after its consumers completed (a
 * consumer whose stop fired detaches), calling this tree's functions, and a
 * tree's storage is reused only once none can run any more. Counting the
 * shared operations from their start to their completion leaves a gap: a
 * consumer's start claims the shared operation, unlocks, and only then
 * starts it, so a stop landing in between completes the root while that
 * start has yet to begin (and to count itself), and the next tree_gen
 * overwrote the nodes the late start then reads. So what is counted is the
 * split's child SENDER, wrapped in a pass-through adaptor: the split state
 * holds it from the split's build until the shared operation, if it ever
 * starts, has completed (a started child holds its own reference to the
 * state), and frees it only then. Counted at build (before the root can
 * complete, also for splits that a let builds while running), uncounted
 * when the last reference goes, after everything that ran this tree's
 * functions has returned. */
static AO_t split_active;

#if MODEL_HAVE_SPLIT
static void watch_destroy(exec_sender *s)
{
	exec_adaptor_destroy(s);
	AO_fetch_and_sub1_release(&split_active);
}

static const exec_receiver_ops watch_receiver_ops = {
	exec_adaptor_forward_value, exec_adaptor_forward_error, exec_adaptor_forward_stopped,
	exec_adaptor_forward_env};

static int watch_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	return exec_adaptor_connect(s, op, r, &watch_receiver_ops, exec_adaptor_start);
}

static const exec_sender_ops watch_ops = {"watch", watch_connect, watch_destroy};

static exec_sender *watch(exec_sender *c)
{
	int rc = 0;
	exec_adaptor_sender *s =
		exec_adaptor_new(&watch_ops, sizeof *s, c, sizeof(exec_adaptor_op), &rc);
	if (!s)
		return exec_sender_invalid(rc);
	AO_fetch_and_add1(&split_active);
	return &s->base;
}
#endif

static void wait_splits_done(void)
{
	while (AO_load_acquire(&split_active))
		sched_yield();
}

static exec_sender *let_value_fn(void *ctx, const exec_value *values, size_t count)
{
	const node *n = ctx;
	if (n->variant == 2)
		return NULL;
	exec_sender *s = build(n->tree, n->kid[1]);
	if (n->variant == 1)
		s = exec_when_all2(exec_just(values, count), s);
	return s;
}

static exec_sender *let_error_fn(void *ctx, int err)
{
	const node *n = ctx;
	exec_sender *s = build(n->tree, n->kid[1]);
	if (n->variant == 1)
		s = exec_when_all2(exec_just_i64(err), s);
	return s;
}

static exec_sender *let_stopped_fn(void *ctx)
{
	const node *n = ctx;
	return build(n->tree, n->kid[1]);
}

static exec_sender *build(const tree *t, int i)
{
	node *n = (node *)&t->n[i];
	exec_sender *c[MAX_KIDS];
	switch (n->kind) {
	case K_JUST: {
		exec_value v[2];
		for (int j = 0; j < n->nvals; j++)
			v[j] = exec_value_i64(n->k + j);
		return exec_just(v, (size_t)n->nvals);
	}
	case K_JUST_ERROR:
		return exec_just_error(n->err);
	case K_JUST_STOPPED:
		return exec_just_stopped();
	case K_THEN:
		return exec_then(build(t, n->kid[0]), then_fn, n);
	case K_UPON_ERROR:
		return exec_upon_error(build(t, n->kid[0]), upon_error_fn, n);
	case K_UPON_STOPPED:
		return exec_upon_stopped(build(t, n->kid[0]), upon_stopped_fn, n);
	case K_STOPPED_AS_ERROR:
		return exec_stopped_as_error(build(t, n->kid[0]), n->err);
	case K_LET_VALUE:
		return exec_let_value(build(t, n->kid[0]), let_value_fn, n);
	case K_LET_ERROR:
		return exec_let_error(build(t, n->kid[0]), let_error_fn, n);
	case K_LET_STOPPED:
		return exec_let_stopped(build(t, n->kid[0]), let_stopped_fn, n);
	case K_WHEN_ALL:
	case K_WHEN_ANY:
		for (int j = 0; j < n->nkids; j++)
			c[j] = build(t, n->kid[j]);
		return n->kind == K_WHEN_ALL ? exec_when_all(c, (size_t)n->nkids)
					     : exec_when_any(c, (size_t)n->nkids);
	case K_STARTS_ON:
		return exec_starts_on(scheds[n->sched], build(t, n->kid[0]));
	case K_CONTINUES_ON:
		return exec_continues_on(build(t, n->kid[0]), scheds[n->sched]);
	case K_ON:
		return exec_on(scheds[n->sched], build(t, n->kid[0]));
	case K_BULK:
		return exec_bulk(build(t, n->kid[0]), n->bulk_n, bulk_fn, n);
#if MODEL_HAVE_SPLIT
	case K_SPLIT: {
		exec_sender *s = exec_split(watch(build(t, n->kid[0])));
		if (n->variant == 1)
			s = exec_when_all2(s, exec_sender_ref(s));
		return s;
	}
#endif
	}
	fail_msg("bad node kind %d", n->kind);
	return NULL;
}

/* ---- the reference evaluator ---------------------------------------------
 * Independent of the library: it knows the documented semantics only. An
 * outcome set lists every completion the contract allows; `any` marks a set
 * that grew past SET_CAP (then only exactly-once is checked). */
enum { O_VALUE, O_ERROR, O_STOPPED };
typedef struct outcome {
	int kind;
	int err;
	int n;
	int64_t v[MAXV];
} outcome;

#define SET_CAP 48
typedef struct oset {
	bool any;
	int n;
	outcome o[SET_CAP];
} oset;

static uint64_t cur_seed; /* for messages */

static bool outcome_eq(const outcome *a, const outcome *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == O_ERROR)
		return a->err == b->err;
	if (a->kind == O_STOPPED)
		return true;
	return a->n == b->n && memcmp(a->v, b->v, (size_t)a->n * sizeof a->v[0]) == 0;
}

static oset *set_new(void)
{
	oset *s = calloc(1, sizeof *s);
	assert_non_null(s);
	return s;
}

static void set_add(oset *s, const outcome *o)
{
	if (s->any)
		return;
	for (int i = 0; i < s->n; i++)
		if (outcome_eq(&s->o[i], o))
			return;
	if (s->n == SET_CAP) {
		s->any = true;
		return;
	}
	s->o[s->n++] = *o;
}

static void add_kind(oset *s, int kind, int err)
{
	outcome o = {.kind = kind, .err = err};
	set_add(s, &o);
}

static void set_union(oset *dst, const oset *src)
{
	if (src->any)
		dst->any = true;
	for (int i = 0; i < src->n; i++)
		set_add(dst, &src->o[i]);
}

static bool set_has_value(const oset *s)
{
	if (s->any)
		return true;
	for (int i = 0; i < s->n; i++)
		if (s->o[i].kind == O_VALUE)
			return true;
	return false;
}

static outcome concat(const outcome *a, const outcome *b)
{
	outcome o = {.kind = O_VALUE, .n = a->n + b->n};
	if (o.n > MAXV)
		fail_msg("tree seed %" PRIu64 ": the generator let a node send more than %d values",
			 cur_seed, MAXV);
	memcpy(o.v, a->v, (size_t)a->n * sizeof o.v[0]);
	memcpy(o.v + a->n, b->v, (size_t)b->n * sizeof o.v[0]);
	return o;
}

static int64_t mix_ref(const int64_t *v, int n)
{
	int64_t s = 17;
	for (int i = 0; i < n; i++)
		s = s * 31 + v[i];
	return s;
}

/* stop: a stop request may reach this node's environment (before its start
 * or at any moment while it runs). */
static oset *eval(const tree *t, int i, bool stop)
{
	const node *n = &t->n[i];
	oset *res = set_new();
	oset *c = NULL;
	outcome o;
	switch (n->kind) {
	case K_JUST:
		o = (outcome){.kind = O_VALUE, .n = n->nvals};
		for (int j = 0; j < n->nvals; j++)
			o.v[j] = n->k + j;
		set_add(res, &o);
		return res;
	case K_JUST_ERROR:
		add_kind(res, O_ERROR, n->err);
		return res;
	case K_JUST_STOPPED:
		add_kind(res, O_STOPPED, 0);
		return res;
	case K_THEN:
	case K_UPON_ERROR:
	case K_UPON_STOPPED:
	case K_STOPPED_AS_ERROR:
		c = eval(t, n->kid[0], stop);
		res->any = c->any;
		for (int j = 0; j < c->n; j++) {
			o = c->o[j];
			if (n->kind == K_THEN && o.kind == O_VALUE) {
				if (n->variant == 0)
					o = (outcome){.kind = O_VALUE, .n = 1,
						      .v = {mix_ref(o.v, o.n) * 3 + n->k}};
				else if (n->variant == 1)
					o = (outcome){.kind = O_ERROR, .err = n->err};
				else
					o = (outcome){.kind = O_VALUE};
			} else if (n->kind == K_UPON_ERROR && o.kind == O_ERROR) {
				if (n->variant == 0)
					o = (outcome){.kind = O_VALUE, .n = 1,
						      .v = {(int64_t)o.err * 7 + n->k}};
				else if (n->variant == 1)
					o.err = n->err;
			} else if (n->kind == K_UPON_STOPPED && o.kind == O_STOPPED) {
				if (n->variant == 1)
					o = (outcome){.kind = O_ERROR, .err = n->err};
				else
					o = (outcome){.kind = O_VALUE, .n = 1, .v = {n->k}};
			} else if (n->kind == K_STOPPED_AS_ERROR && o.kind == O_STOPPED) {
				o = (outcome){.kind = O_ERROR, .err = n->err};
			}
			set_add(res, &o);
		}
		break;
	case K_LET_VALUE:
	case K_LET_ERROR:
	case K_LET_STOPPED: {
		c = eval(t, n->kid[0], stop);
		oset *succ = eval(t, n->kid[1], stop);
		int fires = n->kind == K_LET_VALUE ? O_VALUE
			    : n->kind == K_LET_ERROR ? O_ERROR : O_STOPPED;
		res->any = c->any;
		bool fired = c->any;
		for (int j = 0; j < c->n; j++) {
			if (c->o[j].kind != fires) {
				set_add(res, &c->o[j]);
				continue;
			}
			fired = true;
			if (n->kind == K_LET_VALUE && n->variant == 2) {
				add_kind(res, O_ERROR, -EINVAL);
				continue;
			}
			outcome prefix = {.kind = O_VALUE};
			if (n->variant == 1 && n->kind == K_LET_VALUE)
				prefix = c->o[j];
			else if (n->variant == 1 && n->kind == K_LET_ERROR)
				prefix = (outcome){.kind = O_VALUE, .n = 1, .v = {c->o[j].err}};
			/* The successor fn returns: with a prefix, when_all2(just(prefix),
			 * succ), whose max_values is the sum. */
			if ((unsigned)prefix.n + t->n[n->kid[1]].libmax > EXEC_LET_MAX_VALUES) {
				add_kind(res, O_ERROR, -ERANGE);
				continue;
			}
			/* That when_all completes stopped when stop came first. */
			if (n->variant == 1 && stop)
				add_kind(res, O_STOPPED, 0);
			for (int m = 0; m < succ->n; m++) {
				o = succ->o[m];
				if (o.kind == O_VALUE)
					o = concat(&prefix, &o);
				set_add(res, &o);
			}
		}
		/* The successor's state shows only if fn can run. */
		if (fired && succ->any)
			res->any = true;
		free(succ);
		break;
	}
	case K_WHEN_ALL: {
		/* Values: the product of the children's value outcomes. Else the
		 * first child to complete with an error or stopped wins: any
		 * child's non-value outcome may, except that nothing after a
		 * child that always completes inside its start with no value
		 * can (it completes first; the rest see stop requested). */
		oset *prod = set_new();
		add_kind(prod, O_VALUE, 0); /* the empty value list */
		bool values_possible = true;
		for (int j = 0; j < n->nkids; j++) {
			oset *k = eval(t, n->kid[j], stop);
			if (k->any)
				res->any = prod->any = true;
			for (int m = 0; m < k->n; m++)
				if (k->o[m].kind != O_VALUE)
					set_add(res, &k->o[m]);
			if (!set_has_value(k))
				values_possible = false;
			oset *next = set_new();
			next->any = prod->any;
			for (int a = 0; a < prod->n; a++)
				for (int b = 0; b < k->n; b++)
					if (k->o[b].kind == O_VALUE) {
						o = concat(&prod->o[a], &k->o[b]);
						set_add(next, &o);
					}
			free(prod);
			prod = next;
			bool stops_here = t->n[n->kid[j]].sync && !set_has_value(k);
			free(k);
			if (stops_here)
				break;
		}
		if (values_possible)
			set_union(res, prod);
		free(prod);
		if (stop)
			add_kind(res, O_STOPPED, 0);
		return res;
	}
	case K_WHEN_ANY:
		/* The first to complete wins: any child started before the
		 * first one that always completes inside its start, and that
		 * one. */
		for (int j = 0; j < n->nkids; j++) {
			oset *k = eval(t, n->kid[j], stop);
			set_union(res, k);
			free(k);
			if (t->n[n->kid[j]].sync)
				break;
		}
		if (stop)
			add_kind(res, O_STOPPED, 0);
		return res;
	case K_STARTS_ON:
	case K_CONTINUES_ON:
	case K_ON:
		c = eval(t, n->kid[0], stop);
		set_union(res, c);
		if (stop)
			add_kind(res, O_STOPPED, 0);
		break;
	case K_BULK:
		c = eval(t, n->kid[0], stop);
		res->any = c->any;
		for (int j = 0; j < c->n; j++) {
			if (c->o[j].kind == O_VALUE && n->bulk_fail_at != SIZE_MAX)
				add_kind(res, O_ERROR, n->err);
			else
				set_add(res, &c->o[j]);
		}
		if (stop)
			add_kind(res, O_STOPPED, 0);
		break;
	case K_SPLIT:
		/* The shared operation runs with the empty environment: it
		 * never sees a stop request; a consumer may complete stopped. */
		c = eval(t, n->kid[0], false);
		res->any = c->any;
		for (int j = 0; j < c->n; j++) {
			o = c->o[j];
			if (o.kind == O_VALUE && n->variant == 1)
				o = concat(&o, &o);
			set_add(res, &o);
		}
		if (stop)
			add_kind(res, O_STOPPED, 0);
		break;
	}
	free(c);
	return res;
}

/* ---- running ------------------------------------------------------------- */
enum { STOP_NONE, STOP_BEFORE, STOP_RACE };
static const char *const stop_names[] = {"no stop", "stop before start", "racing stop"};

typedef struct slot {
	exec_test_receiver rcv;
	exec_stop_source src;
	bool used;
} slot;

#define BATCH 32

static void outcome_print(const char *what, const outcome *o)
{
	fprintf(stderr, "  %s: ", what);
	if (o->kind == O_ERROR)
		fprintf(stderr, "error %d\n", o->err);
	else if (o->kind == O_STOPPED)
		fprintf(stderr, "stopped\n");
	else {
		fprintf(stderr, "value(");
		for (int i = 0; i < o->n; i++)
			fprintf(stderr, "%s%" PRId64, i ? ", " : "", o->v[i]);
		fprintf(stderr, ")\n");
	}
}

static unsigned long trees_run, runs, exact_checks, mismatches, by_kind[3];

static void report(const tree *t, int stop, int root_sched, const outcome *got,
		   const oset *want, const char *why)
{
	fprintf(stderr, "MISMATCH (%s) tree seed %" PRIu64 " (%s, root scheduler %s):\n",
		why, t->seed, stop_names[stop], sched_names[root_sched]);
	fprintf(stderr, "reproduce: CEXEC_MODEL_SEED=%" PRIu64 " CEXEC_MODEL_COUNT=1\n", t->seed);
	tree_print(t, t->root, 2);
	if (got)
		outcome_print("got", got);
	for (int i = 0; want && i < want->n; i++)
		outcome_print("allowed", &want->o[i]);
}

/* Waits until every scheduler has run everything queued before this call
 * (a task per scheduler; the pool's workers each get one). Completions that
 * arrive late (a double completion) have had time to show in the counts. */
static void flush(void)
{
	for (int s = SCHED_RUN_LOOP; s < SCHED_COUNT; s++) {
		int copies = s == SCHED_POOL ? 4 : 1;
		for (int j = 0; j < copies; j++) {
			exec_sender *x = exec_starts_on(scheds[s], exec_just_void());
			exec_test_receiver r;
			exec_test_receiver_init(&r);
			exec_test_run(x, &r);
			exec_test_receiver_wait(&r);
			exec_test_assert_value(&r);
			exec_test_receiver_destroy(&r);
			exec_sender_free(x);
		}
	}
}

static void check_slot(slot *sl)
{
	if (!sl->used)
		return;
	if (exec_test_completions(&sl->rcv) != 1) {
		fprintf(stderr, "completions: %zu\n", exec_test_completions(&sl->rcv));
		mismatches++;
	}
	exec_test_receiver_destroy(&sl->rcv);
	sl->used = false;
}

static void run_one(const tree *t, exec_sender *s, const oset *want_nostop,
		    const oset *want_stop, slot *sl, uint64_t *r)
{
	int stop = (int)rng_below(r, 3);
	int root_sched = (int)rng_below(r, SCHED_COUNT);
	check_slot(sl);
	exec_test_receiver_init(&sl->rcv);
	sl->used = true;
	exec_stop_source_init(&sl->src);
	sl->rcv.env.scheduler = scheds[root_sched];
	sl->rcv.env.stop_token = stop == STOP_NONE ? exec_stop_token_never()
						   : exec_stop_source_token(&sl->src);
	if (stop == STOP_BEFORE)
		exec_stop_source_request(&sl->src);
	int rc = exec_test_connect(s, &sl->rcv);
	if (rc != 0) {
		report(t, stop, root_sched, NULL, NULL, "connect failed");
		fprintf(stderr, "  connect: %d\n", rc);
		mismatches++;
		sl->used = false;
		exec_test_receiver_destroy(&sl->rcv);
		return;
	}
	exec_test_start(&sl->rcv);
	if (stop == STOP_RACE) {
		unsigned spins = rng_below(r, 4) == 0 ? 0 : rng_below(r, 20000);
		for (volatile unsigned i = 0; i < spins; i++)
			;
		exec_stop_source_request(&sl->src);
	}
	exec_test_receiver_wait(&sl->rcv);
	runs++;

	outcome got = {0};
	if (AO_load_acquire(&sl->rcv.values_calls)) {
		got.kind = O_VALUE;
		got.n = (int)sl->rcv.count;
		if (got.n > MAXV) {
			report(t, stop, root_sched, NULL, NULL, "too many values");
			mismatches++;
			return;
		}
		for (int i = 0; i < got.n; i++) {
			if (sl->rcv.values[i].type != EXEC_VALUE_I64) {
				report(t, stop, root_sched, NULL, NULL, "value type");
				mismatches++;
				return;
			}
			got.v[i] = sl->rcv.values[i].as.i64;
		}
	} else if (AO_load_acquire(&sl->rcv.error_calls)) {
		got.kind = O_ERROR;
		got.err = sl->rcv.error;
	} else {
		got.kind = O_STOPPED;
	}
	by_kind[got.kind]++;
	const oset *want = stop == STOP_NONE ? want_nostop : want_stop;
	if (want->any)
		return;
	exact_checks++;
	for (int i = 0; i < want->n; i++)
		if (outcome_eq(&want->o[i], &got))
			return;
	report(t, stop, root_sched, &got, want, "outcome");
	mismatches++;
}

static unsigned long long env_or(const char *name, int argi, unsigned long long dflt)
{
	extern int model_argc;
	extern char **model_argv;
	const char *s = getenv(name);
	if ((!s || !*s) && model_argc > argi)
		s = model_argv[argi];
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

int model_argc;
char **model_argv;

#if MODEL_HAVE_SPLIT
/* The gap in the accounting, made deterministic: the allocator of the
 * consumer that starts a split is called between its claim of the shared
 * operation and that operation's start; there it requests the consumer's
 * stop, so the consumer (the root here) completes stopped before the split's
 * child has started. At that moment wait_splits_done must still see the
 * child (the child then runs then_fn on the node). Counting the shared
 * operation from its start made split_active 0 there. */
static exec_stop_source detach_src;
static exec_test_receiver detach_rcv;
static size_t detach_completions;
static AO_t detach_active;

static void *detach_alloc(void *ctx, size_t size, size_t align)
{
	(void)ctx;
	exec_stop_source_request(&detach_src);
	detach_completions = exec_test_completions(&detach_rcv);
	detach_active = AO_load_acquire(&split_active);
	void *p = NULL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

static void detach_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	free(ptr);
}

static void split_started_after_consumer_detached(void **state)
{
	(void)state;
	wait_splits_done();
	node nd = {.kind = K_THEN, .variant = 0, .k = 5};
	exec_sender *s = exec_split(watch(exec_then(exec_just_i64(1), then_fn, &nd)));
	assert_int_equal(exec_sender_build_error(s), 0);
	exec_allocator a = {detach_alloc, detach_free, NULL};
	exec_test_receiver_init(&detach_rcv);
	exec_stop_source_init(&detach_src);
	detach_rcv.env.stop_token = exec_stop_source_token(&detach_src);
	detach_rcv.env.allocator = &a;
	exec_test_run(s, &detach_rcv);
	exec_test_receiver_wait(&detach_rcv);
	exec_test_assert_stopped(&detach_rcv);
	/* The root had completed, the split's child was still to start. */
	assert_int_equal(detach_completions, 1);
	assert_int_equal(detach_active, 1);
	exec_sender_free(s);
	wait_splits_done();
	exec_test_receiver_destroy(&detach_rcv);
}
#endif

static void random_pipelines(void **state)
{
	(void)state;
	uint64_t seed = env_or("CEXEC_MODEL_SEED", 1, MODEL_DEFAULT_SEED);
	unsigned long count = env_or("CEXEC_MODEL_COUNT", 2,
				     MODEL_DEFAULT_COUNT / MODEL_SCALE);
	fprintf(stderr, "random pipelines: seed %" PRIu64 ", %lu trees, split %s\n", seed,
		count, MODEL_HAVE_SPLIT ? "on" : "off (no algorithms/split.h)");
	slot *slots = calloc(BATCH, sizeof *slots);
	tree *t = malloc(sizeof *t);
	assert_non_null(slots);
	assert_non_null(t);
	unsigned long nodes = 0;
	for (unsigned long i = 0; i < count; i++) {
		wait_splits_done();
		tree_gen(t, seed + i);
		cur_seed = seed + i;
		nodes += (unsigned long)t->count;
		oset *want_nostop = eval(t, t->root, false);
		oset *want_stop = eval(t, t->root, true);
		exec_sender *s = build(t, t->root);
		if (exec_sender_build_error(s)) {
			report(t, 0, 0, NULL, NULL, "build failed");
			mismatches++;
		} else {
			uint64_t r = t->seed ^ 0x5bd1e995u;
			slot *sl = &slots[i % BATCH];
			run_one(t, s, want_nostop, want_stop, sl, &r);
			/* Senders are reusable: run it again (a split keeps
			 * its first result, so not those). */
			if (!t->has_split && rng_below(&r, 4) == 0) {
				check_slot(sl);
				run_one(t, s, want_nostop, want_stop, sl, &r);
			}
		}
		trees_run++;
		exec_sender_free(s);
		free(want_nostop);
		free(want_stop);
		if (i % BATCH == BATCH - 1 || i + 1 == count) {
			flush();
			for (int j = 0; j < BATCH; j++)
				check_slot(&slots[j]);
		}
		if (mismatches > 10)
			break;
	}
	fprintf(stderr,
		"random pipelines: %lu trees (%lu nodes), %lu runs, %lu checked exactly; "
		"value %lu, error %lu, stopped %lu; %lu mismatches\n",
		trees_run, nodes, runs, exact_checks, by_kind[O_VALUE], by_kind[O_ERROR],
		by_kind[O_STOPPED], mismatches);
	wait_splits_done();
	free(slots);
	free(t);
	assert_int_equal(mismatches, 0);
}

int main(int argc, char **argv)
{
	model_argc = argc;
	model_argv = argv;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_pipelines),
#if MODEL_HAVE_SPLIT
		cmocka_unit_test(split_started_after_consumer_detached),
#endif
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
