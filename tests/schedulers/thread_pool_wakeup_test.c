/* tests for schedulers/thread_pool.c: no lost wake-up.
 *
 * A submit must never be left in a queue while every worker sleeps. The
 * race to lose: a worker finds nothing, announces that it is going to
 * sleep and parks, while a task is pushed and the submitter decides that
 * nobody needs waking. Each test submits one task at a time and waits for
 * it before the next, so every round hits a pool that is going idle
 * (spinning, deciding to park, or parked); a lost wake-up leaves the waiter
 * blocked forever and the test hangs until CTest's timeout. Some rounds
 * first wait until a worker has parked again (the stats counter), so that
 * the parked path is covered too. Nothing here depends on timing. */
/* CEXEC_TEST_LABELS: tsan */
/* CEXEC_TEST_TIMEOUT: 300 */
#include "cexec_test.h"

#include <sched.h>

#ifdef CEXEC_SANITIZE_BUILD
#define ROUNDS 2000
#else
#define ROUNDS 20000
#endif

/* One task and its completion, waited for on a condition variable. */
typedef struct ping {
	exec_task task;
	exec_scheduler *sched;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long ran;   /* under mu */
	long links; /* chain: links still to submit from inside */
	int worker; /* index of the worker that ran the last link */
} ping;

static void ping_init(ping *p, exec_scheduler *sched)
{
	memset(p, 0, sizeof *p);
	p->sched = sched;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
}

static void ping_destroy(ping *p)
{
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

static void ping_fn(exec_task *t, int status)
{
	ping *p = EXEC_CONTAINER_OF(t, ping, task);
	assert_int_equal(status, 0);
	assert_true(exec_thread_pool_worker_index() >= 0);
	if (p->links > 0) {
		/* Submitted from inside: the worker's own deque. */
		p->links--;
		assert_int_equal(exec_scheduler_submit(p->sched, &p->task), 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->ran++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void ping_wait(ping *p, long ran)
{
	pthread_mutex_lock(&p->mu);
	while (p->ran < ran)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static uint64_t parks(exec_thread_pool *pool)
{
	exec_thread_pool_stats st;
	assert_int_equal(exec_thread_pool_stats_get(pool, -1, &st), 0);
	return st.parks;
}

/* Waits until some worker has parked since the counter read `since`. The
 * worker that ran a task submitted after that read goes to sleep once the
 * pool is idle, so this ends. */
static void wait_for_a_park(exec_thread_pool *pool, uint64_t since)
{
	while (parks(pool) == since)
		sched_yield();
}

static void rounds_from_outside(unsigned workers, long links)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, workers), 0);
	ping p;
	ping_init(&p, exec_thread_pool_scheduler(pool));
	uint64_t at_last_submit = 0;
	for (long r = 1; r <= ROUNDS; r++) {
		if (r % 16 == 0)
			wait_for_a_park(pool, at_last_submit);
		at_last_submit = parks(pool);
		p.task.fn = ping_fn;
		p.links = links;
		assert_int_equal(exec_scheduler_submit(p.sched, &p.task), 0);
		ping_wait(&p, r);
	}
	exec_thread_pool_stats st;
	assert_int_equal(exec_thread_pool_stats_get(pool, -1, &st), 0);
	assert_int_equal(st.tasks_run, (uint64_t)ROUNDS * (uint64_t)(links + 1));
	ping_destroy(&p);
	exec_thread_pool_destroy(pool);
}

static void one_worker_from_outside(void **state)
{
	(void)state;
	rounds_from_outside(1, 0);
}

static void two_workers_from_outside(void **state)
{
	(void)state;
	rounds_from_outside(2, 0);
}

static void more_workers_than_cores_from_outside(void **state)
{
	(void)state;
	rounds_from_outside(6, 0);
}

/* Each round's task resubmits itself from inside a few times: the
 * worker's own deque, while the others go idle. */
static void chains_from_inside(void **state)
{
	(void)state;
	rounds_from_outside(3, 3);
}

/* Several outside threads ping at once, each waiting for its own task. */
typedef struct pinger {
	pthread_t thread;
	exec_scheduler *sched;
	ping p;
} pinger;

static void *pinger_main(void *arg)
{
	pinger *g = arg;
	for (long r = 1; r <= ROUNDS; r++) {
		g->p.task.fn = ping_fn;
		assert_int_equal(exec_scheduler_submit(g->sched, &g->p.task), 0);
		ping_wait(&g->p, r);
	}
	return NULL;
}

static void concurrent_outside_submitters(void **state)
{
	(void)state;
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	enum { THREADS = 3 };
	pinger g[THREADS];
	for (int i = 0; i < THREADS; i++) {
		g[i].sched = exec_thread_pool_scheduler(pool);
		ping_init(&g[i].p, g[i].sched);
		assert_int_equal(pthread_create(&g[i].thread, NULL, pinger_main, &g[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(g[i].thread, NULL);
		assert_int_equal(g[i].p.ran, ROUNDS);
		ping_destroy(&g[i].p);
	}
	exec_thread_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_worker_from_outside),
		cmocka_unit_test(two_workers_from_outside),
		cmocka_unit_test(more_workers_than_cores_from_outside),
		cmocka_unit_test(chains_from_inside),
		cmocka_unit_test(concurrent_outside_submitters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
