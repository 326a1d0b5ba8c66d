/* tests for exec/fanout.c: the "starting" marker and start's stack buffer.
 *
 * A child of a when_all o that completes on o's starting thread while o's
 * start loop runs, but from inside ANOTHER fan-out operation's start (the
 * marker then names that one, not o), takes the threaded path: it stores
 * into o's slots and arrives atomically, while o's other children store
 * into start's stack buffer. Start must then move the buffer's values into
 * the slots and deliver from there. Also a stop requested from inside
 * start by a child, with a child parked on the stop token and a threaded
 * one. Receivers free the operation inside the completion call. */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <sched.h>
#include <stdio.h>

#include "exec/fanout.h"

#ifdef CEXEC_SANITIZE_BUILD
#define ROUNDS 200
#else
#define ROUNDS 2000
#endif

/* A just of 16 values (100..115): with a gate's value, more than start's
 * stack buffer holds, so the result is gathered from the slots. */
static exec_sender *just_100_to_115(void)
{
	exec_value vs[16];
	for (int i = 0; i < 16; i++)
		vs[i] = exec_value_i64(100 + i);
	return exec_just(vs, 16);
}

/* ---- gate: completes when fired (value 1) or stopped (its token) ----- */

typedef struct gate_op {
	exec_op op;
	exec_receiver *r;
	exec_stop_callback cb;
	AO_t claimed;
} gate_op;

static gate_op *_Atomic gate_current;

static void gate_on_stop(exec_stop_callback *cb)
{
	gate_op *g = EXEC_CONTAINER_OF(cb, gate_op, cb);
	if (!AO_compare_and_swap_full(&g->claimed, 0, 1))
		return;
	exec_receiver *r = g->r;
	exec_stop_callback_deregister(&g->cb); /* from inside: at once */
	exec_set_stopped(r);
}

static void gate_start(exec_op *op)
{
	gate_op *g = (gate_op *)op;
	g->claimed = 0;
	gate_current = g;
	exec_stop_callback_register(&g->cb, exec_get_stop_token(g->r), gate_on_stop);
}

static int gate_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	(void)s;
	gate_op *g = (gate_op *)op;
	g->op.start = gate_start;
	g->r = r;
	return 0;
}

static void plain_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops gate_ops = {"gate", gate_connect, plain_destroy};

static exec_sender *gate(void)
{
	exec_sender *s = exec_sender_new(&gate_ops, sizeof(exec_sender));
	assert_non_null(s);
	s->op_size = sizeof(gate_op);
	s->max_values = 1;
	return s;
}

/* Fires the current gate with value 1 (if its stop did not win). */
static void gate_fire(void)
{
	gate_op *g = gate_current;
	assert_non_null(g);
	gate_current = NULL;
	if (!AO_compare_and_swap_full(&g->claimed, 0, 1))
		return;
	exec_receiver *r = g->r;
	exec_stop_callback_deregister(&g->cb);
	exec_value v = exec_value_i64(1);
	exec_set_value(r, &v, 1);
}

static int fire_fn(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx;
	(void)in;
	(void)n;
	(void)out;
	gate_fire();
	return 0;
}

/* ---- cross: its start runs another when_all's start inline, whose ----
 * child fires the gate; then completes with value 2. */

static exec_sender *inner_all; /* when_all(then(just_void, fire_fn)) */

typedef struct cross_op {
	exec_op op;
	exec_receiver *r;
} cross_op;

typedef struct inner_rcv {
	exec_receiver self;
	cross_op *x;
	void *storage;
} inner_rcv;

static void inner_done(inner_rcv *ir)
{
	cross_op *x = ir->x;
	free(ir->storage);
	free(ir);
	exec_value v = exec_value_i64(2);
	exec_set_value(x->r, &v, 1);
}

static void inner_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	assert_int_equal(n, 0);
	inner_done(EXEC_CONTAINER_OF(r, inner_rcv, self));
}

static void inner_error(exec_receiver *r, int err)
{
	(void)r;
	fail_msg("inner when_all failed: %d", err);
}

static void inner_stopped(exec_receiver *r)
{
	/* The gate's stop may have won: the inner then(just) still ran. */
	inner_done(EXEC_CONTAINER_OF(r, inner_rcv, self));
}

static const exec_env *inner_env(exec_receiver *r)
{
	(void)r;
	return &exec_env_empty;
}

static const exec_receiver_ops inner_ops = {inner_value, inner_error, inner_stopped,
					    inner_env};

static void cross_start(exec_op *op)
{
	cross_op *x = (cross_op *)op;
	inner_rcv *ir = malloc(sizeof *ir);
	assert_non_null(ir);
	ir->self.ops = &inner_ops;
	ir->x = x;
	size_t sz = exec_sender_op_size(inner_all);
	assert_int_equal(posix_memalign(&ir->storage, 64, sz ? sz : 1), 0);
	assert_int_equal(exec_connect(inner_all, ir->storage, &ir->self), 0);
	exec_start((exec_op *)ir->storage);
}

static int cross_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	(void)s;
	((cross_op *)op)->op.start = cross_start;
	((cross_op *)op)->r = r;
	return 0;
}

static const exec_sender_ops cross_ops = {"cross", cross_connect, plain_destroy};

static exec_sender *cross(void)
{
	exec_sender *s = exec_sender_new(&cross_ops, sizeof(exec_sender));
	assert_non_null(s);
	s->op_size = sizeof(cross_op);
	s->max_values = 1;
	return s;
}

/* ---- stopper: requests stop on a source, then completes with 5 ------ */

static exec_stop_source outer_stop;

static int request_outer_stop(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx;
	(void)in;
	(void)n;
	exec_stop_source_request(&outer_stop);
	out[0] = exec_value_i64(5);
	return 1;
}

static int four_fn(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx;
	(void)in;
	(void)n;
	out[0] = exec_value_i64(4);
	return 1;
}

/* ---- a receiver that frees the operation inside the completion ------- */

typedef struct freeing {
	exec_receiver self;
	exec_env env;
	void *storage;
	AO_t done;
	int channel; /* 1 value, 2 error, 3 stopped */
	size_t n;
	int64_t v[EXEC_JUST_MAX_VALUES];
} freeing;

static void fr_value(exec_receiver *r, const exec_value *v, size_t n)
{
	freeing *f = EXEC_CONTAINER_OF(r, freeing, self);
	/* Values first: large results live in the operation state. Then
	 * the storage is poisoned and freed: a later read of it by the
	 * algorithm shows up under ASan/TSan. */
	f->n = n;
	for (size_t i = 0; i < n && i < EXEC_JUST_MAX_VALUES; i++)
		f->v[i] = exec_value_as_i64(&v[i]);
	memset(f->storage, 0xab, 64);
	free(f->storage);
	f->storage = NULL;
	f->channel = 1;
	AO_fetch_and_add1_release(&f->done);
}

static void fr_error(exec_receiver *r, int err)
{
	(void)err;
	freeing *f = EXEC_CONTAINER_OF(r, freeing, self);
	free(f->storage);
	f->storage = NULL;
	f->channel = 2;
	AO_fetch_and_add1_release(&f->done);
}

static void fr_stopped(exec_receiver *r)
{
	freeing *f = EXEC_CONTAINER_OF(r, freeing, self);
	free(f->storage);
	f->storage = NULL;
	f->channel = 3;
	AO_fetch_and_add1_release(&f->done);
}

static const exec_env *fr_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, freeing, self)->env;
}

static const exec_receiver_ops fr_ops = {fr_value, fr_error, fr_stopped, fr_env};

static void fr_run(const exec_sender *s, freeing *f, exec_stop_token tok)
{
	memset(f, 0, sizeof *f);
	f->self.ops = &fr_ops;
	f->env = exec_env_empty;
	f->env.stop_token = tok;
	size_t sz = exec_sender_op_size(s);
	assert_int_equal(posix_memalign(&f->storage, 64, sz ? sz : 1), 0);
	assert_int_equal(exec_connect(s, f->storage, &f->self), 0);
	exec_start((exec_op *)f->storage);
}

static void fr_wait(freeing *f)
{
	while (!AO_load_acquire(&f->done))
		sched_yield();
	/* Exactly once: nothing more may arrive; a second completion would
	 * also double-free the storage (ASan). */
	assert_int_equal(AO_load_acquire(&f->done), 1);
}

/* Children: gate (fired from the inner when_all's start, so it arrives on
 * the threaded path), cross (inline), just 3, optionally one on a pool
 * thread (4), optionally a big just (16 values 100..115) that makes the
 * result too big for start's stack buffer. */
static exec_sender *build(exec_scheduler *pool, bool big, bool nested)
{
	exec_sender *c[5];
	size_t n = 0;
	c[n++] = gate();
	/* nested: a when_all child of ours fires the gate from its own start
	 * loop (it delivers no values, inline); else the cross sender. */
	c[n++] = nested ? exec_when_all2(exec_then(exec_just_void(), fire_fn, NULL),
					 exec_just_void())
			: cross();
	c[n++] = exec_just_i64(3);
	if (pool)
		c[n++] = exec_then(exec_schedule(pool), four_fn, NULL);
	if (big)
		c[n++] = just_100_to_115();
	return exec_when_all(c, n);
}

static void check_values(const freeing *f, bool pool, bool big, bool nested)
{
	assert_int_equal(f->channel, 1);
	size_t k = 0;
	assert_true(f->n >= 2);
	assert_int_equal(f->v[k++], 1);
	if (!nested)
		assert_int_equal(f->v[k++], 2);
	assert_int_equal(f->v[k++], 3);
	if (pool)
		assert_int_equal(f->v[k++], 4);
	if (big)
		for (int i = 0; i < 16; i++)
			assert_int_equal(f->v[k++], 100 + i);
	assert_int_equal(f->n, k);
}

static void child_completed_from_another_fanout_start(void **state)
{
	(void)state;
	exec_thread_pool *tp;
	assert_int_equal(exec_thread_pool_create(&tp, 2), 0);
	inner_all = exec_when_all2(exec_then(exec_just_void(), fire_fn, NULL), exec_just_void());
	for (int cfg = 0; cfg < 8; cfg++) {
		bool pool = cfg & 1, big = cfg & 2, nested = cfg & 4;
		exec_sender *s = build(pool ? exec_thread_pool_scheduler(tp) : NULL, big, nested);
		assert_int_equal(exec_sender_build_error(s), 0);
		for (int round = 0; round < ROUNDS; round++) {
			freeing f;
			fr_run(s, &f, exec_stop_token_never());
			fr_wait(&f);
			check_values(&f, pool, big, nested);
		}
		exec_sender_free(s);
	}
	exec_sender_free(inner_all);
	exec_thread_pool_destroy(tp);
}

/* A child's start requests stop on the outer token while start's loop
 * runs: the forwarding runs on this thread, the gate (already started,
 * parked on the internal token) completes stopped inline, later children
 * see the stop at their start; a pool child may be anywhere. Stopped,
 * exactly once. */
static void stop_requested_by_a_child_inside_start(void **state)
{
	(void)state;
	exec_thread_pool *tp;
	assert_int_equal(exec_thread_pool_create(&tp, 2), 0);
	for (int cfg = 0; cfg < 4; cfg++) {
		bool pool = cfg & 1, big = cfg & 2;
		exec_sender *c[4];
		size_t n = 0;
		if (pool)
			c[n++] = exec_then(exec_schedule(exec_thread_pool_scheduler(tp)), four_fn, NULL);
		c[n++] = gate();
		c[n++] = exec_then(exec_just_void(), request_outer_stop, NULL);
		if (big)
			c[n++] = just_100_to_115();
		exec_sender *s = exec_when_all(c, n);
		for (int round = 0; round < ROUNDS; round++) {
			exec_stop_source_init(&outer_stop);
			freeing f;
			fr_run(s, &f, exec_stop_source_token(&outer_stop));
			fr_wait(&f);
			assert_int_equal(f.channel, 3);
		}
		exec_sender_free(s);
	}
	exec_thread_pool_destroy(tp);
}

/* The gate is fired by the cross child (inline, from another when_all's
 * start) while another thread requests stop on the outer token: value or
 * stopped, exactly once, values right when a value. */
typedef struct stopper_arg {
	AO_t go, done, quit;
} stopper_arg;

static void *stopper_thread(void *p)
{
	stopper_arg *a = p;
	AO_t seen = 0;
	while (!AO_load_acquire(&a->quit)) {
		AO_t g = AO_load_acquire(&a->go);
		if (g != seen) {
			seen = g;
			exec_stop_source_request(&outer_stop);
			AO_store_release(&a->done, g);
		}
		sched_yield();
	}
	return NULL;
}

static void outside_stop_races_start(void **state)
{
	(void)state;
	exec_thread_pool *tp;
	assert_int_equal(exec_thread_pool_create(&tp, 1), 0);
	inner_all = exec_when_all2(exec_then(exec_just_void(), fire_fn, NULL), exec_just_void());
	stopper_arg a = {0, 0, 0};
	pthread_t th;
	exec_stop_source_init(&outer_stop);
	assert_int_equal(pthread_create(&th, NULL, stopper_thread, &a), 0);
	unsigned long values = 0, stopped = 0;
	for (int cfg = 0; cfg < 4; cfg++) {
		bool big = cfg & 1, nested = cfg & 2;
		exec_sender *s = build(exec_thread_pool_scheduler(tp), big, nested);
		for (int round = 0; round < ROUNDS; round++) {
			freeing f;
			exec_stop_source_init(&outer_stop);
			AO_t g = AO_fetch_and_add1_full(&a.go) + 1;
			fr_run(s, &f, exec_stop_source_token(&outer_stop));
			fr_wait(&f);
			/* The request is done with the source before it is
			 * reinitialised (counts only, no timing). */
			while (AO_load_acquire(&a.done) != g)
				sched_yield();
			if (f.channel == 1) {
				check_values(&f, true, big, nested);
				values++;
			} else {
				assert_int_equal(f.channel, 3);
				stopped++;
			}
		}
		exec_sender_free(s);
	}
	AO_store_release(&a.quit, 1);
	pthread_join(th, NULL);
	fprintf(stderr, "outside stop: %lu values, %lu stopped\n", values, stopped);
	exec_sender_free(inner_all);
	exec_thread_pool_destroy(tp);
}

/* The marker names the operation whose start loop runs, not "some start
 * loop runs": a child of o that completes on o's starting thread AFTER o's
 * start returned, from inside another when_all's start, must arrive on the
 * threaded path (o's start buffer is gone, and nobody would settle an
 * inline count); also fired plainly, outside any start. Everything runs
 * on this thread, so o must have completed when the firing returns. */
static void child_completed_inside_a_later_fanout_start(void **state)
{
	(void)state;
	exec_sender *fire = exec_when_all2(exec_then(exec_just_void(), fire_fn, NULL),
					   exec_just_void());
	for (int big = 0; big < 2; big++) {
		exec_sender *c[3];
		size_t n = 0;
		c[n++] = gate();
		c[n++] = exec_just_i64(3);
		if (big)
			c[n++] = just_100_to_115();
		exec_sender *s = exec_when_all(c, n);
		for (int round = 0; round < 20; round++) {
			freeing f, g;
			fr_run(s, &f, exec_stop_token_never());
			assert_int_equal(AO_load(&f.done), 0); /* the gate waits */
			if (round & 1) {
				/* Plainly, outside any start: the marker
				 * was put back when o's start returned. */
				gate_fire();
			} else {
				fr_run(fire, &g, exec_stop_token_never());
				assert_int_equal(AO_load(&g.done), 1);
				assert_int_equal(g.channel, 1);
			}
			assert_int_equal(AO_load(&f.done), 1);
			assert_int_equal(f.channel, 1);
			assert_int_equal(f.n, big ? 18 : 2);
			assert_int_equal(f.v[0], 1);
			assert_int_equal(f.v[1], 3);
			for (int i = 0; big && i < 16; i++)
				assert_int_equal(f.v[2 + i], 100 + i);
		}
		exec_sender_free(s);
	}
	exec_sender_free(fire);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(child_completed_inside_a_later_fanout_start),
		cmocka_unit_test(child_completed_from_another_fanout_start),
		cmocka_unit_test(stop_requested_by_a_child_inside_start),
		cmocka_unit_test(outside_stop_races_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
