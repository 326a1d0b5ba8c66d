/* tests for schedulers/thread_pool.c */
/* CEXEC_TEST_LABELS: tsan */
/* CEXEC_TEST_TIMEOUT: 600 */
#include "cexec_test.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#ifdef CEXEC_SANITIZE_BUILD
#define MILLION 100000u
#else
#define MILLION 1000000u
#endif

static void nap(void)
{
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
}

/* ---- many tasks, each exactly once ------------------------------------- */

typedef struct counted {
	exec_task task;
	AO_t runs;
	AO_t stopped;
	struct many *m;
} counted;

typedef struct many {
	exec_scheduler *sched;
	counted *tasks;
	size_t n;
	AO_t done;
	AO_t next; /* for the inside fan-out */
} many;

static void counted_fn(exec_task *t, int status)
{
	counted *c = EXEC_CONTAINER_OF(t, counted, task);
	many *m = c->m;
	AO_fetch_and_add1(status == 0 ? &c->runs : &c->stopped);
	AO_fetch_and_add1_release(&m->done);
}

/* Each task submits its two children of a binary tree, from inside. */
static void tree_fn(exec_task *t, int status)
{
	counted *c = EXEC_CONTAINER_OF(t, counted, task);
	many *m = c->m;
	size_t i = (size_t)(c - m->tasks);
	for (size_t k = 2 * i + 1; k <= 2 * i + 2 && k < m->n; k++)
		assert_int_equal(exec_scheduler_submit(m->sched, &m->tasks[k].task), 0);
	AO_fetch_and_add1(status == 0 ? &c->runs : &c->stopped);
	AO_fetch_and_add1_release(&m->done);
}

static void many_init(many *m, exec_scheduler *sched, size_t n, exec_task_fn fn)
{
	memset(m, 0, sizeof *m);
	m->sched = sched;
	m->n = n;
	m->tasks = calloc(n, sizeof *m->tasks);
	assert_non_null(m->tasks);
	for (size_t i = 0; i < n; i++) {
		m->tasks[i].m = m;
		m->tasks[i].task.fn = fn;
	}
}

static void many_wait_and_check(many *m, bool allow_stopped)
{
	while (AO_load_acquire(&m->done) < m->n)
		nap();
	for (size_t i = 0; i < m->n; i++) {
		AO_t r = AO_load(&m->tasks[i].runs), s = AO_load(&m->tasks[i].stopped);
		if (r + s != 1 || (!allow_stopped && s))
			fail_msg("task %zu: %lu runs, %lu stopped", i, (unsigned long)r,
				 (unsigned long)s);
	}
	/* No extra completion arrives later. */
	assert_int_equal(AO_load_acquire(&m->done), m->n);
	free(m->tasks);
}

static void million_from_outside(unsigned workers, size_t n)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, workers), 0);
	assert_int_equal(exec_thread_pool_size(pool), workers);
	many m;
	many_init(&m, exec_thread_pool_scheduler(pool), n, counted_fn);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(exec_scheduler_submit(m.sched, &m.tasks[i].task), 0);
	many_wait_and_check(&m, false);
	exec_thread_pool_stats st;
	assert_int_equal(exec_thread_pool_stats_get(pool, -1, &st), 0);
	assert_true(st.tasks_run >= n);
	exec_thread_pool_destroy(pool);
}

static void million_from_inside(unsigned workers, size_t n)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, workers), 0);
	many m;
	many_init(&m, exec_thread_pool_scheduler(pool), n, tree_fn);
	assert_int_equal(exec_scheduler_submit(m.sched, &m.tasks[0].task), 0);
	many_wait_and_check(&m, false);
	exec_thread_pool_destroy(pool);
}

static void outside_two_workers(void **state)
{
	million_from_outside(2, MILLION);
}

static void inside_two_workers(void **state)
{
	million_from_inside(2, MILLION);
}

static void one_worker(void **state)
{
	million_from_outside(1, MILLION / 10);
	million_from_inside(1, MILLION / 10);
}

static void more_workers_than_cores(void **state)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus > 3 ? 2u * (unsigned)cpus + 1u : 8u;
	million_from_outside(n, MILLION / 5);
	million_from_inside(n, MILLION / 5);
}

/* ---- stealing ----------------------------------------------------------- */

typedef struct steal_test {
	exec_task root;
	exec_task children[64];
	exec_scheduler *sched;
	AO_t children_run;
	AO_t other_worker_ran;
	int root_worker;
	AO_t done;
} steal_test;

static steal_test *g_steal;

static void steal_child_fn(exec_task *t, int status)
{
	steal_test *s = g_steal;
	assert_int_equal(status, 0);
	if (exec_thread_pool_worker_index() != s->root_worker)
		AO_store_release(&s->other_worker_ran, 1);
	AO_fetch_and_add1_release(&s->children_run);
}

/* Pushes children to its own deque and blocks until another worker has run
 * one: the only way for that is to steal from this worker's deque. */
static void steal_root_fn(exec_task *t, int status)
{
	steal_test *s = g_steal;
	s->root_worker = exec_thread_pool_worker_index();
	for (int i = 0; i < 64; i++) {
		s->children[i].fn = steal_child_fn;
		assert_int_equal(exec_scheduler_submit(s->sched, &s->children[i]), 0);
	}
	while (!AO_load_acquire(&s->other_worker_ran))
		nap();
	AO_store_release(&s->done, 1);
}

static void stealing_observed(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	steal_test s;
	memset(&s, 0, sizeof s);
	g_steal = &s;
	s.sched = exec_thread_pool_scheduler(pool);
	s.root.fn = steal_root_fn;
	assert_int_equal(exec_scheduler_submit(s.sched, &s.root), 0);
	while (!AO_load_acquire(&s.done) || AO_load_acquire(&s.children_run) < 64)
		nap();
	exec_thread_pool_stats st;
	assert_int_equal(exec_thread_pool_stats_get(pool, 1 - s.root_worker, &st), 0);
	assert_true(st.steals >= 1);
	assert_int_equal(exec_thread_pool_stats_get(pool, 2, &st), -EINVAL);
	exec_thread_pool_destroy(pool);
}

/* ---- stop under load ---------------------------------------------------- */

typedef struct stop_item {
	exec_hop hop;
	AO_t values, stopped, errors;
	AO_t *done;
} stop_item;

static void stop_item_done(exec_hop *h, int status)
{
	stop_item *it = EXEC_CONTAINER_OF(h, stop_item, hop);
	AO_t *done = it->done;
	AO_fetch_and_add1(status == 0 ? &it->values
			  : status == EXEC_STOPPED ? &it->stopped : &it->errors);
	AO_fetch_and_add1_release(done);
}

typedef struct stopper {
	exec_stop_source *src;
	AO_t *done;
	size_t at;
} stopper;

static void *stop_thread(void *arg)
{
	stopper *s = arg;
	while (AO_load_acquire(s->done) < s->at)
		nap();
	exec_stop_source_request(s->src);
	return NULL;
}

static void stop_during_heavy_load(void **state)
{
	size_t n = MILLION / 10;
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_scheduler *sched = exec_thread_pool_scheduler(pool);
	stop_item *items = calloc(n, sizeof *items);
	assert_non_null(items);
	exec_stop_source src;
	exec_stop_source_init(&src);
	AO_t done = 0;
	stopper sp = {&src, &done, n / 4};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, stop_thread, &sp), 0);
	for (size_t i = 0; i < n; i++) {
		items[i].done = &done;
		exec_hop_start(&items[i].hop, sched, exec_stop_source_token(&src), -1,
			       stop_item_done);
	}
	pthread_join(th, NULL);
	while (AO_load_acquire(&done) < n)
		nap();
	size_t values = 0, stopped = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(items[i].values + items[i].stopped, 1);
		assert_int_equal(items[i].errors, 0);
		values += items[i].values;
		stopped += items[i].stopped;
	}
	/* The request came after n/4 completions, and hops started after it
	 * complete stopped. */
	assert_true(values >= n / 4);
	assert_true(stopped >= 1);
	exec_thread_pool_destroy(pool);
	free(items);
}

/* ---- shutdown with work queued ----------------------------------------- */

typedef struct chain_task {
	exec_task task;
	exec_scheduler *sched;
	exec_task child;
	AO_t *child_done;
} chain_task;

static void child_fn(exec_task *t, int status)
{
	(void)status;
	chain_task *c = EXEC_CONTAINER_OF(t, chain_task, child);
	AO_fetch_and_add1(c->child_done);
}

static void slow_then_submit(exec_task *t, int status)
{
	chain_task *c = EXEC_CONTAINER_OF(t, chain_task, task);
	(void)status;
	nap();
	/* A task submitted while the pool shuts down still completes. */
	c->child.fn = child_fn;
	assert_int_equal(exec_scheduler_submit(c->sched, &c->child), 0);
}

static void shutdown_with_work_queued(void **state)
{
	for (unsigned workers = 1; workers <= 3; workers += 2) {
		exec_thread_pool *pool;
		assert_int_equal(exec_thread_pool_create(&pool, workers), 0);
		exec_scheduler *sched = exec_thread_pool_scheduler(pool);
		enum { N = 10000, SLOW = 4 };
		chain_task slow[SLOW];
		/* Zeroed like every real task (hop and bulk clear the words): the
		 * pool reads sched_private[3] at submit, and valgrind reports a
		 * branch on the garbage of a fresh stack object. */
		memset(slow, 0, sizeof slow);
		AO_t child_done = 0;
		for (int i = 0; i < SLOW; i++) {
			slow[i].task.fn = slow_then_submit;
			slow[i].sched = sched;
			slow[i].child_done = &child_done;
			assert_int_equal(exec_scheduler_submit(sched, &slow[i].task), 0);
		}
		many m;
		many_init(&m, sched, N, counted_fn);
		for (size_t i = 0; i < N; i++)
			assert_int_equal(exec_scheduler_submit(sched, &m.tasks[i].task), 0);
		/* Timers far in the future are stopped too. */
		counted timers[8];
		memset(timers, 0, sizeof timers);
		AO_t timers_done = 0;
		many tm = {.n = 8};
		(void)timers_done;
		for (int i = 0; i < 8; i++) {
			timers[i].m = &tm;
			timers[i].task.fn = counted_fn;
			assert_int_equal(exec_scheduler_submit_at(
						 sched, &timers[i].task,
						 exec_clock_now() + 3600 * EXEC_NS_PER_S),
					 0);
		}
		exec_thread_pool_destroy(pool);
		/* Everything completed before destroy returned. */
		assert_int_equal(AO_load(&m.done), N);
		assert_int_equal(AO_load(&child_done), SLOW);
		assert_int_equal(AO_load(&tm.done), 8);
		for (int i = 0; i < 8; i++)
			assert_int_equal(AO_load(&timers[i].stopped), 1);
		many_wait_and_check(&m, true);
	}
}

/* ---- timers ------------------------------------------------------------- */

typedef struct timed {
	exec_task task;
	exec_time deadline;
	exec_time fired_at;
	int status;
	AO_t calls;
	AO_t *done;
} timed;

static void timed_fn(exec_task *t, int status)
{
	timed *x = EXEC_CONTAINER_OF(t, timed, task);
	x->fired_at = exec_clock_now();
	x->status = status;
	AO_t *done = x->done;
	AO_fetch_and_add1(&x->calls);
	AO_fetch_and_add1_release(done);
}

static void timers_never_early_and_cancel(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_scheduler *sched = exec_thread_pool_scheduler(pool);
	assert_true(sched->ops->flags & EXEC_SCHED_TIMED);
	assert_true(sched->ops->flags & EXEC_SCHED_PARALLEL);
	assert_int_equal(exec_scheduler_concurrency(sched), 2);
	enum { N = 40 };
	timed t[N + 1];
	memset(t, 0, sizeof t);
	AO_t done = 0;
	exec_time base = exec_scheduler_now(sched);
	for (int i = 0; i < N; i++) {
		t[i].task.fn = timed_fn;
		t[i].done = &done;
		/* Out of order, some in the past. */
		t[i].deadline = base + ((i * 7) % N - 5) * EXEC_NS_PER_MS / 2;
		assert_int_equal(exec_scheduler_submit_at(sched, &t[i].task, t[i].deadline), 0);
	}
	/* A timer an hour away, cancelled: runs stopped. */
	t[N].task.fn = timed_fn;
	t[N].done = &done;
	assert_int_equal(exec_scheduler_submit_at(sched, &t[N].task,
						  base + 3600 * EXEC_NS_PER_S), 0);
	exec_scheduler_cancel(sched, &t[N].task);
	while (AO_load_acquire(&done) < N + 1)
		nap();
	for (int i = 0; i < N; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].status, 0);
		assert_true(t[i].fired_at >= t[i].deadline);
	}
	assert_int_equal(t[N].calls, 1);
	assert_int_equal(t[N].status, EXEC_STOPPED);
	/* Cancelling a task that already ran does nothing. */
	exec_scheduler_cancel(sched, &t[0].task);
	nap();
	assert_int_equal(AO_load_acquire(&done), N + 1);
	exec_thread_pool_destroy(pool);
}

static int fired_where(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx, (void)in, (void)n;
	out[0] = exec_value_i64(exec_clock_now());
	out[1] = exec_value_ptr(exec_thread_pool_current());
	return 2;
}

/* schedule_after / schedule_at through the sender layer: never early, the
 * continuation runs on a worker; a stop request cancels a pending timer. */
static void schedule_after_on_pool(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_scheduler *sched = exec_thread_pool_scheduler(pool);
	exec_time t0 = exec_clock_now();
	exec_sender *s = exec_schedule_after(sched, 2 * EXEC_NS_PER_MS);
	assert_int_equal(exec_sync_wait(s, NULL), 0);
	assert_true(exec_clock_now() - t0 >= 2 * EXEC_NS_PER_MS);
	exec_sender_free(s);
	for (int i = 0; i < 5; i++) {
		exec_time at = exec_clock_now() + (i + 1) * EXEC_NS_PER_MS;
		exec_result res;
		s = exec_then(i % 2 ? exec_schedule_at(sched, at)
				    : exec_schedule_after(sched, (i + 1) * EXEC_NS_PER_MS),
			      fired_where, NULL);
		assert_int_equal(exec_sync_wait(s, &res), 0);
		assert_true(exec_value_as_i64(&res.values[0]) >= at);
		assert_ptr_equal(exec_value_as_ptr(&res.values[1]), pool);
		exec_sender_free(s);
	}

	exec_stop_source src;
	exec_stop_source_init(&src);
	s = exec_schedule_after(sched, 3600 * EXEC_NS_PER_S);
	exec_test_receiver r;
	exec_test_receiver_init(&r);
	r.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &r);
	exec_stop_source_request(&src);
	exec_test_receiver_wait(&r);
	exec_test_assert_stopped(&r);
	exec_test_receiver_destroy(&r);
	exec_sender_free(s);
	exec_thread_pool_destroy(pool);
}

/* ---- senders on the pool ------------------------------------------------ */

static int where(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_ptr(exec_thread_pool_current());
	out[1] = exec_value_i64(exec_thread_pool_worker_index());
	return 2;
}

static void schedule_then_runs_on_a_worker(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_scheduler *sched = exec_thread_pool_scheduler(pool);
	exec_sender *s = exec_then(exec_schedule(sched), where, NULL);
	for (int i = 0; i < 100; i++) {
		exec_result r;
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_ptr_equal(exec_value_as_ptr(&r.values[0]), pool);
		assert_true(exec_value_as_i64(&r.values[1]) >= 0);
	}
	exec_sender_free(s);
	/* Not on a worker here. */
	assert_null(exec_thread_pool_current());
	assert_int_equal(exec_thread_pool_worker_index(), -1);

	/* on(pool, ...) runs there and comes back to sync_wait's thread. */
	s = exec_on(sched, exec_then(exec_just_void(), where, NULL));
	exec_test_receiver t;
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_ptr_equal(exec_value_as_ptr(&r.values[0]), pool);
	exec_sender_free(s);

	/* continues_on to the pool and back out with then on the pool. */
	s = exec_then(exec_continues_on(exec_just_void(), sched), where, NULL);
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_ptr_equal(exec_value_as_ptr(&r.values[0]), pool);
	exec_sender_free(s);

	/* A stop requested before start: stopped, exactly once. */
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	s = exec_schedule(sched);
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_thread_pool_destroy(pool);
}

static void bad_arguments(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(NULL, 1), -EINVAL);
	assert_int_equal(exec_thread_pool_create(&pool, 100000), -EINVAL);
	assert_null(pool);
	exec_thread_pool_destroy(NULL);
	assert_int_equal(exec_thread_pool_create(&pool, 0), 0);
	assert_true(exec_thread_pool_size(pool) >= 1);
	exec_thread_pool_stats st;
	assert_int_equal(exec_thread_pool_stats_get(pool, -2, &st), -EINVAL);
	assert_int_equal(exec_thread_pool_stats_get(NULL, 0, &st), -EINVAL);
	/* An idle pool parks its workers. */
	exec_thread_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(schedule_then_runs_on_a_worker),
		cmocka_unit_test(stealing_observed),
		cmocka_unit_test(timers_never_early_and_cancel),
		cmocka_unit_test(schedule_after_on_pool),
		cmocka_unit_test(shutdown_with_work_queued),
		cmocka_unit_test(stop_during_heavy_load),
		cmocka_unit_test(one_worker),
		cmocka_unit_test(more_workers_than_cores),
		cmocka_unit_test(outside_two_workers),
		cmocka_unit_test(inside_two_workers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
