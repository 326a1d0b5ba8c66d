/* tests for algorithms/counting_scope.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

#ifdef CEXEC_SANITIZE_BUILD
#define N 20000
#else
#define N 200000
#endif

typedef struct counters {
	AO_t values, stopped, errors;
	exec_counting_scope *scope;
	exec_scheduler *sched;
	int depth;
} counters;

static int count_value(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	AO_fetch_and_add1(&((counters *)ctx)->values);
	return 0;
}

static int count_stopped(void *ctx, exec_value *out)
{
	AO_fetch_and_add1(&((counters *)ctx)->stopped);
	return 0;
}

static int count_error(void *ctx, int err, exec_value *out)
{
	AO_fetch_and_add1(&((counters *)ctx)->errors);
	return 0;
}

static void join_now(exec_counting_scope *scope)
{
	exec_sender *j = exec_scope_join(scope);
	assert_int_equal(exec_sync_wait(j, NULL), 0);
	exec_sender_free(j);
	assert_int_equal(exec_scope_count(scope), 0);
}

static void many_spawns_then_join(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	counters c = {0};
	for (int i = 0; i < N; i++)
		assert_int_equal(
			exec_scope_spawn(&scope,
					 exec_then(exec_schedule(exec_thread_pool_scheduler(pool)),
						   count_value, &c),
					 NULL),
			0);
	join_now(&scope);
	assert_int_equal(c.values, N);
	assert_int_equal(scope.spawned, N);
	/* The scope stays open: spawn and join again. */
	assert_int_equal(exec_scope_spawn(&scope, exec_then(exec_just_void(), count_value, &c),
					  NULL),
			 0);
	join_now(&scope);
	assert_int_equal(c.values, N + 1);
	exec_counting_scope_destroy(&scope);
	exec_thread_pool_destroy(pool);
}

/* Spawned work spawns more from inside the pool (a tree); join waits for
 * all of it. */
typedef struct tree {
	exec_counting_scope *scope;
	exec_scheduler *sched;
	AO_t nodes;
} tree;

static int tree_node(void *ctx, const exec_value *in, size_t n, exec_value *out);

static void spawn_node(tree *t, int64_t depth)
{
	exec_value v = exec_value_i64(depth);
	exec_sender *s = exec_then(exec_just(&v, 1), tree_node, t);
	s = exec_continues_on(s, t->sched);
	assert_int_equal(exec_scope_spawn(t->scope, s, NULL), 0);
}

static int tree_node(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	tree *t = ctx;
	int64_t depth = exec_value_as_i64(&in[0]);
	AO_fetch_and_add1(&t->nodes);
	if (depth > 0) {
		spawn_node(t, depth - 1);
		spawn_node(t, depth - 1);
	}
	return 0;
}

static void spawns_from_inside(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 3), 0);
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	tree t = {&scope, exec_thread_pool_scheduler(pool), 0};
	spawn_node(&t, 12);
	join_now(&scope);
	assert_int_equal(t.nodes, (1 << 13) - 1);
	exec_counting_scope_destroy(&scope);
	exec_thread_pool_destroy(pool);
}

static void request_stop_reaches_spawned_work(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	counters c = {0};
	enum { TIMERS = 100 };
	for (int i = 0; i < TIMERS; i++) {
		exec_sender *s = exec_schedule_after(exec_thread_pool_scheduler(pool),
						     3600 * EXEC_NS_PER_S);
		s = exec_upon_stopped(exec_then(s, count_value, &c), count_stopped, &c);
		assert_int_equal(exec_scope_spawn(&scope, s, NULL), 0);
	}
	assert_int_equal(exec_scope_count(&scope), TIMERS);
	assert_true(exec_scope_request_stop(&scope));
	assert_false(exec_scope_request_stop(&scope));
	join_now(&scope);
	assert_int_equal(c.stopped, TIMERS);
	assert_int_equal(c.values, 0);
	/* Spawned after the request: sees the stop at once. */
	exec_sender *s = exec_upon_stopped(
		exec_then(exec_schedule(exec_thread_pool_scheduler(pool)), count_value, &c),
		count_stopped, &c);
	assert_int_equal(exec_scope_spawn(&scope, s, NULL), 0);
	join_now(&scope);
	assert_int_equal(c.stopped, TIMERS + 1);
	exec_counting_scope_destroy(&scope);
	exec_thread_pool_destroy(pool);
}

static void close_refuses_and_results_are_dropped(void **state)
{
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	counters c = {0};
	/* An error completion is dropped; upon_error sees it first. */
	assert_int_equal(exec_scope_spawn(&scope, exec_just_error(-EIO), NULL), 0);
	assert_int_equal(exec_scope_spawn(&scope,
					  exec_upon_error(exec_just_error(-EIO), count_error, &c),
					  NULL),
			 0);
	assert_int_equal(exec_scope_spawn(&scope, exec_just_stopped(), NULL), 0);
	assert_int_equal(c.errors, 1);
	join_now(&scope);
	exec_scope_close(&scope);
	/* Consumed also when refused (LeakSanitizer checks). */
	assert_int_equal(exec_scope_spawn(&scope, exec_just_void(), NULL), -ESHUTDOWN);
	assert_int_equal(exec_scope_count(&scope), 0);
	join_now(&scope);
	exec_counting_scope_destroy(&scope);
}

/* Two joins pending at once both complete, exactly once each. */
static void several_joins(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	exec_stop_source gate;
	exec_stop_source_init(&gate);
	/* Held open by a timer that only a stop request ends. */
	assert_int_equal(exec_scope_spawn(&scope,
					  exec_schedule_after(exec_thread_pool_scheduler(pool),
							      3600 * EXEC_NS_PER_S),
					  NULL),
			 0);
	exec_sender *j = exec_scope_join(&scope);
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	exec_test_run(j, &a);
	exec_test_run(j, &b);
	assert_int_equal(exec_test_completions(&a) + exec_test_completions(&b), 0);
	exec_scope_request_stop(&scope);
	exec_test_receiver_wait(&a);
	exec_test_receiver_wait(&b);
	exec_test_assert_value(&a);
	exec_test_assert_value(&b);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_sender_free(j);
	exec_counting_scope_destroy(&scope);
	exec_thread_pool_destroy(pool);
}

/* The env's allocator is used for the operation's storage. */
typedef struct counting_alloc {
	AO_t allocs, frees;
} counting_alloc;

static void *ca_alloc(void *ctx, size_t size, size_t align)
{
	AO_fetch_and_add1(&((counting_alloc *)ctx)->allocs);
	void *p = NULL;
	return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) ? NULL
											  : p;
}

static void ca_free(void *ctx, void *ptr, size_t size)
{
	AO_fetch_and_add1(&((counting_alloc *)ctx)->frees);
	free(ptr);
}

static void uses_the_env_allocator(void **state)
{
	counting_alloc ca = {0};
	exec_allocator alloc = {ca_alloc, ca_free, &ca};
	exec_env env = {exec_stop_token_never(), NULL, &alloc};
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(exec_scope_spawn(&scope, exec_just_void(), &env), 0);
	join_now(&scope);
	assert_int_equal(ca.allocs, 10);
	assert_int_equal(ca.frees, 10);
	exec_counting_scope_destroy(&scope);
}

/* A sender that completes inline with no value and counts its
 * destruction: the scope keeps a completed operation's sender referenced
 * for a while (it drops the reference on the spawning thread), but never
 * past the completion of a join. */
static AO_t probes_destroyed;

typedef struct probe_op {
	exec_op op;
	exec_receiver *r;
} probe_op;

static void probe_start(exec_op *op)
{
	exec_set_value(((probe_op *)op)->r, NULL, 0);
}

static int probe_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	(void)s;
	((probe_op *)op)->op.start = probe_start;
	((probe_op *)op)->r = r;
	return 0;
}

static void probe_destroy(exec_sender *s)
{
	AO_fetch_and_add1(&probes_destroyed);
	exec_sender_delete(s);
}

static const exec_sender_ops probe_ops = {"probe", probe_connect, probe_destroy};

static exec_sender *probe(void)
{
	exec_sender *s = exec_sender_new(&probe_ops, sizeof(exec_sender));
	assert_non_null(s);
	s->op_size = sizeof(probe_op);
	return s;
}

static void senders_released_by_join(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_scheduler *ps = exec_thread_pool_scheduler(pool);
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	AO_store(&probes_destroyed, 0);
	enum { K = 1000 };
	/* Rounds reuse the storage of the earlier ones; the join runs while
	 * the pool still completes operations, or after. */
	for (int round = 1; round <= 3; round++) {
		for (int i = 0; i < K; i++)
			assert_int_equal(
				exec_scope_spawn(&scope, exec_continues_on(probe(), ps), NULL), 0);
		join_now(&scope);
		assert_int_equal(AO_load(&probes_destroyed), round * K);
	}
	/* A join that waits (a timer holds the scope open) and completes on
	 * the pool. */
	exec_sender *gate = exec_schedule_after(ps, 3600 * EXEC_NS_PER_S);
	assert_int_equal(exec_scope_spawn(&scope, exec_then(gate, count_value, &(counters){0}),
					  NULL),
			 0);
	for (int i = 0; i < K; i++)
		assert_int_equal(exec_scope_spawn(&scope, exec_continues_on(probe(), ps), NULL), 0);
	exec_sender *j = exec_scope_join(&scope);
	exec_test_receiver a;
	exec_test_receiver_init(&a);
	exec_test_run(j, &a);
	assert_int_equal(exec_test_completions(&a), 0);
	exec_scope_request_stop(&scope);
	exec_test_receiver_wait(&a);
	exec_test_assert_value(&a);
	assert_int_equal(AO_load(&probes_destroyed), 4 * K);
	exec_test_receiver_destroy(&a);
	exec_sender_free(j);
	exec_counting_scope_destroy(&scope);
	exec_thread_pool_destroy(pool);
}

static void bad_arguments(void **state)
{
	exec_counting_scope scope;
	assert_int_equal(exec_counting_scope_init(NULL), -EINVAL);
	assert_int_equal(exec_counting_scope_init(&scope), 0);
	assert_int_equal(exec_scope_spawn(&scope, NULL, NULL), -EINVAL);
	assert_int_equal(exec_scope_spawn(NULL, exec_just_void(), NULL), -EINVAL);
	assert_int_equal(exec_scope_spawn(&scope, exec_sender_invalid(-ENOMEM), NULL), -ENOMEM);
	assert_int_equal(exec_scope_spawn(&scope, exec_sender_invalid(-EINVAL), NULL), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_scope_join(NULL)), -EINVAL);
	assert_false(exec_scope_request_stop(NULL));
	join_now(&scope);
	exec_counting_scope_destroy(&scope);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(many_spawns_then_join),
		cmocka_unit_test(spawns_from_inside),
		cmocka_unit_test(request_stop_reaches_spawned_work),
		cmocka_unit_test(close_refuses_and_results_are_dropped),
		cmocka_unit_test(several_joins),
		cmocka_unit_test(uses_the_env_allocator),
		cmocka_unit_test(senders_released_by_join),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
