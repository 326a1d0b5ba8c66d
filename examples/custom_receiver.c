/* examples/custom_receiver.c - writing your own receiver against
 * exec/receiver.h, and running senders without sync_wait.
 *
 * A receiver is a struct whose first member points to its ops: the three
 * completion functions and get_env. Its environment tells the operation
 * which stop token to watch, which scheduler it is running on (so that
 * exec_on can come back to it) and which allocator to use.
 *
 * The program shows:
 *   1. connect into caller storage (on the stack), start, read the result;
 *   2. a receiver whose environment names a run_loop, so exec_on(pool, s)
 *      delivers its completion back on the loop's thread;
 *   3. stop: the environment's stop token cancels a pending timer;
 *   4. self-owning operations: each receiver lives in a heap block with its
 *      operation state and frees the block inside its completion (allowed:
 *      the operation does not touch itself after calling the receiver).
 * Every step checks exactly-once completion; exit status 0 when all agree. */
/* CEXEC_TEST_ARGS: --count 200 */
/* CEXEC_TEST_LABELS: tsan */
#include <cexec.h>
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct my_receiver {
	exec_receiver base; /* first */
	exec_env env;
	exec_run_loop *loop; /* finished on completion, when set */
	int calls;           /* completions seen: must end at exactly 1 */
	exec_result_kind kind;
	int err;
	int64_t sum;        /* the sum of the i64 values */
	pthread_t thread;   /* where the completion ran */
} my_receiver;

static my_receiver *my_from(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, my_receiver, base);
}

static void my_done(my_receiver *m, exec_result_kind kind)
{
	m->calls++;
	m->kind = kind;
	m->thread = pthread_self();
	if (m->loop)
		exec_run_loop_finish(m->loop);
}

static void my_set_value(exec_receiver *r, const exec_value *v, size_t n)
{
	my_receiver *m = my_from(r);
	/* The values live only for this call: use or copy them now. */
	m->sum = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t x;
		if (exec_value_get_i64(&v[i], &x) == 0)
			m->sum += x;
	}
	my_done(m, EXEC_RESULT_VALUE);
}

static void my_set_error(exec_receiver *r, int err)
{
	my_from(r)->err = err;
	my_done(my_from(r), EXEC_RESULT_ERROR);
}

static void my_set_stopped(exec_receiver *r)
{
	my_done(my_from(r), EXEC_RESULT_STOPPED);
}

static const exec_env *my_get_env(exec_receiver *r)
{
	return &my_from(r)->env;
}

static const exec_receiver_ops my_ops = {my_set_value, my_set_error,
					 my_set_stopped, my_get_env};

static void my_init(my_receiver *m)
{
	memset(m, 0, sizeof *m);
	m->base.ops = &my_ops;
	m->env = exec_env_empty; /* no stop, no scheduler, malloc */
}

/* Storage for small operation states on the stack. */
#define OP_BYTES 1024
typedef struct op_storage {
	alignas(64) unsigned char bytes[OP_BYTES];
} op_storage;

/* Connects s to m in st and starts it; the sender stays the caller's. */
static int run_in(const exec_sender *s, my_receiver *m, op_storage *st)
{
	if (exec_sender_op_size(s) > OP_BYTES || exec_sender_op_align(s) > 64)
		return -ENOSPC;
	int rc = exec_connect(s, st->bytes, &m->base);
	if (rc < 0)
		return rc;
	exec_start((exec_op *)st->bytes);
	return 0;
}

static int failures;

static void check(int ok, const char *what)
{
	printf("%-52s %s\n", what, ok ? "ok" : "WRONG");
	if (!ok)
		failures++;
}

static int times_ten(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = exec_value_i64(exec_value_as_i64(&in[i]) * 10);
	return (int)n;
}

/* ---- 4. self-owning operations ---- */

typedef struct owned_op {
	exec_receiver base;
	AO_t *done;            /* shared counter */
	exec_run_loop *loop;
	int64_t expect;
	AO_t *wrong;
	/* the operation state follows, aligned */
	alignas(64) unsigned char op[];
} owned_op;

static void owned_finish(exec_receiver *r, int ok)
{
	owned_op *o = EXEC_CONTAINER_OF(r, owned_op, base);
	if (!ok)
		AO_fetch_and_add1(o->wrong);
	AO_t *done = o->done;
	exec_run_loop *loop = o->loop;
	/* The operation inside o called us and will not touch itself again:
	 * freeing the block here is allowed. */
	free(o);
	if (AO_fetch_and_sub1_release(done) == 1)
		exec_run_loop_finish(loop);
}

static void owned_value(exec_receiver *r, const exec_value *v, size_t n)
{
	owned_op *o = EXEC_CONTAINER_OF(r, owned_op, base);
	int64_t x;
	owned_finish(r, n == 1 && exec_value_get_i64(v, &x) == 0 && x == o->expect);
}

static void owned_error(exec_receiver *r, int err)
{
	owned_finish(r, 0);
}

static void owned_stopped(exec_receiver *r)
{
	owned_finish(r, 0);
}

static const exec_env *owned_env(exec_receiver *r)
{
	return &exec_env_empty;
}

static const exec_receiver_ops owned_ops = {owned_value, owned_error,
					    owned_stopped, owned_env};

int main(int argc, char **argv)
{
	long count = 1000;
	if (argc == 3 && strcmp(argv[1], "--count") == 0)
		count = strtol(argv[2], NULL, 10);
	if (count < 1)
		count = 1;

	op_storage st;
	my_receiver m;
	exec_value three[3] = {exec_value_i64(1), exec_value_i64(2), exec_value_i64(3)};

	/* 1. Synchronous: completes inside start. */
	exec_sender *s = exec_then(exec_just(three, 3), times_ten, NULL);
	my_init(&m);
	check(run_in(s, &m, &st) == 0 && m.calls == 1 && m.kind == EXEC_RESULT_VALUE &&
		      m.sum == 60,
	      "then(just(1,2,3), x10): one value completion, 60");
	exec_sender_free(s);

	s = exec_then(exec_just_error(-EPIPE), times_ten, NULL);
	my_init(&m);
	check(run_in(s, &m, &st) == 0 && m.calls == 1 && m.kind == EXEC_RESULT_ERROR &&
		      m.err == -EPIPE,
	      "then(just_error(-EPIPE)): one error completion");
	exec_sender_free(s);

	/* 2. Run on a pool, come back to our loop. */
	exec_thread_pool *pool;
	if (exec_thread_pool_create(&pool, 2) < 0)
		return 1;
	exec_run_loop loop;
	if (exec_run_loop_init(&loop) < 0)
		return 1;
	s = exec_on(exec_thread_pool_scheduler(pool), exec_just(three, 3));
	my_init(&m);
	m.env.scheduler = exec_run_loop_scheduler(&loop);
	m.loop = &loop;
	int rc = run_in(s, &m, &st);
	exec_run_loop_run(&loop); /* returns once my_done called finish */
	check(rc == 0 && m.calls == 1 && m.sum == 6 &&
		      pthread_equal(m.thread, pthread_self()),
	      "on(pool, just): completes on the receiver's loop");
	exec_sender_free(s);

	/* The same sender without a scheduler in the environment: exec_on
	 * cannot come back, so connect refuses (nothing runs). */
	s = exec_on(exec_thread_pool_scheduler(pool), exec_just_i64(1));
	my_init(&m);
	check(run_in(s, &m, &st) == -EINVAL && m.calls == 0,
	      "on() without a scheduler in the env: -EINVAL at connect");
	exec_sender_free(s);

	/* 3. Stop: a one-hour timer on the loop, cancelled by our token. */
	exec_run_loop_destroy(&loop);
	if (exec_run_loop_init(&loop) < 0)
		return 1;
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	s = exec_schedule_after(exec_run_loop_scheduler(&loop), 3600 * EXEC_NS_PER_S);
	my_init(&m);
	m.env.stop_token = exec_stop_source_token(&stop);
	rc = run_in(s, &m, &st);
	exec_run_loop_run_until_empty(&loop);
	int before = m.calls;
	exec_stop_source_request(&stop);
	exec_run_loop_run_until_empty(&loop);
	check(rc == 0 && before == 0 && m.calls == 1 && m.kind == EXEC_RESULT_STOPPED,
	      "timer: pending until stop, then one stopped");
	exec_sender_free(s);

	/* 4. Self-owning operations, completing on the pool's threads. */
	exec_run_loop_destroy(&loop);
	if (exec_run_loop_init(&loop) < 0)
		return 1;
	AO_t done = (AO_t)count, wrong = 0;
	s = exec_continues_on(exec_just_i64(7), exec_thread_pool_scheduler(pool));
	for (long i = 0; i < count; i++) {
		size_t size = sizeof(owned_op) + exec_sender_op_size(s);
		owned_op *o = aligned_alloc(64, (size + 63) & ~(size_t)63);
		if (!o || exec_sender_op_align(s) > 64)
			return 1;
		o->base.ops = &owned_ops;
		o->done = &done;
		o->loop = &loop;
		o->expect = 7;
		o->wrong = &wrong;
		if (exec_connect(s, o->op, &o->base) < 0)
			return 1;
		exec_start((exec_op *)o->op);
	}
	exec_run_loop_run(&loop); /* the last completion calls finish */
	check(AO_load_acquire(&done) == 0 && AO_load(&wrong) == 0,
	      "self-owning ops on the pool: all complete once, right value");
	exec_sender_free(s);

	exec_run_loop_destroy(&loop);
	exec_thread_pool_destroy(pool);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
