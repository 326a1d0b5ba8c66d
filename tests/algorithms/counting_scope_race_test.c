/* tests for algorithms/counting_scope.c: lifetimes under concurrency.
 *
 * The scope lives in malloc'd memory that is poisoned and freed as soon as
 * a join completes - on the completing thread, inside the join's
 * set_value - so a completer still touching the scope (its count, the
 * returned lists, the mutex) or recycled storage afterwards shows up under
 * ASan/TSan. Spawners on several threads take recycled storage while pool
 * threads hand blocks back; spawned work spawns more; joins start while
 * spawning goes on (taking the spawners' credits back), and a close in
 * the middle of it (refused spawns). */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>

#ifdef CEXEC_SANITIZE_BUILD
#define ROUNDS 20
#define PER_THREAD 500
#else
#define ROUNDS 100
#define PER_THREAD 3000
#endif
#define SPAWNERS 2

typedef struct world {
	exec_counting_scope *scope;
	exec_scheduler *sched;
	AO_t ran;      /* operations that ran */
	AO_t spawned;  /* spawns accepted */
	AO_t refused;  /* -ESHUTDOWN */
	AO_t closed;   /* the test closed the scope */
	AO_t go;
} world;

/* 0, or -ESHUTDOWN once the test closed the scope. */
static void accepted(world *w, int rc)
{
	if (rc == 0) {
		AO_fetch_and_add1(&w->spawned);
		return;
	}
	assert_int_equal(rc, -ESHUTDOWN);
	assert_true(AO_load_acquire(&w->closed));
	AO_fetch_and_add1(&w->refused);
}

static int leaf(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)in;
	(void)n;
	(void)out;
	AO_fetch_and_add1(&((world *)ctx)->ran);
	return 0;
}

/* Spawns a leaf from inside the pool (a completer that is also a
 * spawner), every other time. */
static int branch(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)in;
	(void)n;
	(void)out;
	world *w = ctx;
	AO_t k = AO_fetch_and_add1(&w->ran);
	if (k & 1) {
		int rc = exec_scope_spawn(w->scope, exec_then(exec_schedule(w->sched), leaf, w),
					  NULL);
		accepted(w, rc);
	}
	return 0;
}

static void spawn_some(world *w, int count)
{
	for (int i = 0; i < count; i++) {
		exec_then_fn fn = i % 4 == 0 ? branch : leaf;
		exec_sender *s = i % 3 == 0 ? exec_then(exec_just_void(), fn, w) /* inline */
					    : exec_then(exec_schedule(w->sched), fn, w);
		accepted(w, exec_scope_spawn(w->scope, s, NULL));
	}
}

static void *spawner(void *p)
{
	world *w = p;
	while (!AO_load_acquire(&w->go))
		sched_yield();
	spawn_some(w, PER_THREAD);
	return NULL;
}

/* The join's receiver: destroys, poisons and frees the scope inside
 * set_value (on whichever thread completed the last operation). */
typedef struct join_rcv {
	exec_receiver self;
	exec_counting_scope *scope;
	void *storage;
	AO_t done;
} join_rcv;

static void jr_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	assert_int_equal(n, 0);
	join_rcv *j = EXEC_CONTAINER_OF(r, join_rcv, self);
	if (j->scope) {
		exec_counting_scope_destroy(j->scope);
		memset(j->scope, 0xab, sizeof *j->scope);
		free(j->scope);
	}
	free(j->storage);
	AO_store_release(&j->done, 1);
}

static void jr_error(exec_receiver *r, int err)
{
	(void)r;
	fail_msg("join failed: %d", err);
}

static void jr_stopped(exec_receiver *r)
{
	(void)r;
	fail_msg("join stopped");
}

static const exec_env *jr_env(exec_receiver *r)
{
	(void)r;
	return &exec_env_empty;
}

static const exec_receiver_ops jr_ops = {jr_value, jr_error, jr_stopped, jr_env};

static void join_start(join_rcv *j, exec_counting_scope *scope, bool free_scope)
{
	j->self.ops = &jr_ops;
	j->scope = free_scope ? scope : NULL;
	j->done = 0;
	exec_sender *s = exec_scope_join(scope);
	assert_int_equal(posix_memalign(&j->storage, 64, exec_sender_op_size(s)), 0);
	assert_int_equal(exec_connect(s, j->storage, &j->self), 0);
	exec_sender_free(s); /* the operation does not need the sender */
	exec_start((exec_op *)j->storage);
}

static void join_wait(join_rcv *j)
{
	while (!AO_load_acquire(&j->done))
		sched_yield();
}

static void scope_freed_inside_the_joins_completion(void **state)
{
	(void)state;
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	unsigned long refused = 0;
	for (int round = 0; round < ROUNDS; round++) {
		world w = {0};
		w.scope = malloc(sizeof *w.scope);
		assert_non_null(w.scope);
		assert_int_equal(exec_counting_scope_init(w.scope), 0);
		w.sched = exec_thread_pool_scheduler(pool);
		pthread_t th[SPAWNERS];
		for (int i = 0; i < SPAWNERS; i++)
			assert_int_equal(pthread_create(&th[i], NULL, spawner, &w), 0);
		AO_store_release(&w.go, 1);
		/* Counts, not time: the joins and the close below overlap
		 * the spawning (the spawners do reach these counts). */
		while (AO_load_acquire(&w.spawned) < PER_THREAD / 4)
			sched_yield();
		/* Joins while spawning goes on: each completes once the count
		 * is zero at some moment (perhaps at once); they take the
		 * spawners' credits back. */
		for (int k = 0; k < 3; k++) {
			join_rcv early;
			join_start(&early, w.scope, false);
			join_wait(&early);
			/* Odd rounds: close while spawning goes on (refused
			 * spawns hand their recycled block straight back). */
			if (k == 0 && (round & 1)) {
				while (AO_load_acquire(&w.spawned) < PER_THREAD / 2)
					sched_yield();
				AO_store_release(&w.closed, 1);
				exec_scope_close(w.scope);
			}
		}
		for (int i = 0; i < SPAWNERS; i++)
			pthread_join(th[i], NULL);
		/* Nothing spawns now except work already spawned (branch). The
		 * last completer frees the scope through the join. */
		join_rcv last;
		join_start(&last, w.scope, true);
		join_wait(&last);
		assert_int_equal(AO_load(&w.ran), AO_load(&w.spawned));
		refused += AO_load(&w.refused);
	}
	fprintf(stderr, "spawns refused after close: %lu\n", refused);
	exec_thread_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scope_freed_inside_the_joins_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
