/* tests for schedulers/run_loop.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <sched.h>

typedef struct rec_task {
	exec_task task;
	int id;
	int status;
	exec_time ran_at;
	int *log;
	size_t *log_len;
} rec_task;

static void rec_fn(exec_task *t, int status)
{
	rec_task *r = EXEC_CONTAINER_OF(t, rec_task, task);
	r->status = status;
	r->ran_at = exec_clock_now();
	r->log[(*r->log_len)++] = r->id;
}

static void rec_init(rec_task *r, int id, int *log, size_t *len)
{
	memset(r, 0, sizeof *r);
	r->task.fn = rec_fn;
	r->id = id;
	r->status = -1;
	r->log = log;
	r->log_len = len;
}

static void fifo_order(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_scheduler *s = exec_run_loop_scheduler(&loop);
	assert_string_equal(exec_scheduler_name(s), "run_loop");
	int log[100];
	size_t n = 0;
	rec_task t[100];
	for (int i = 0; i < 100; i++) {
		rec_init(&t[i], i, log, &n);
		assert_int_equal(exec_scheduler_submit(s, &t[i].task), 0);
	}
	assert_int_equal(n, 0); /* nothing runs before run */
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 100);
	assert_int_equal(n, 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(log[i], i);
		assert_int_equal(t[i].status, 0);
	}
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 0);
	exec_run_loop_destroy(&loop);
}

/* A task that submits another: run_until_empty runs that one too. */
typedef struct chain_task {
	exec_task task;
	exec_scheduler *s;
	int left;
	int ran;
} chain_task;

static void chain_fn(exec_task *t, int status)
{
	chain_task *c = EXEC_CONTAINER_OF(t, chain_task, task);
	c->ran++;
	if (c->left-- > 0)
		exec_scheduler_submit(c->s, t);
}

static void run_until_empty_runs_resubmitted(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	chain_task c = {.task.fn = chain_fn, .s = exec_run_loop_scheduler(&loop), .left = 9};
	exec_scheduler_submit(c.s, &c.task);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 10);
	assert_int_equal(c.ran, 10);
	exec_run_loop_destroy(&loop);
}

static void finish_before_run_returns_when_empty(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	int log[4];
	size_t n = 0;
	rec_task t[3];
	for (int i = 0; i < 3; i++) {
		rec_init(&t[i], i, log, &n);
		exec_scheduler_submit(exec_run_loop_scheduler(&loop), &t[i].task);
	}
	exec_run_loop_finish(&loop);
	exec_run_loop_run(&loop); /* runs the queued work, then returns */
	assert_int_equal(n, 3);
	/* finish is consumed: the loop can be run again. */
	rec_task u;
	rec_init(&u, 7, log, &n);
	exec_scheduler_submit(exec_run_loop_scheduler(&loop), &u.task);
	exec_run_loop_finish(&loop);
	exec_run_loop_run(&loop);
	assert_int_equal(n, 4);
	assert_int_equal(log[3], 7);
	exec_run_loop_destroy(&loop);
}

/* A task that calls finish from inside the loop. */
typedef struct finish_task {
	exec_task task;
	exec_run_loop *loop;
	int ran;
} finish_task;

static void finish_fn(exec_task *t, int status)
{
	finish_task *f = EXEC_CONTAINER_OF(t, finish_task, task);
	f->ran++;
	exec_run_loop_finish(f->loop);
}

static void finish_from_a_task(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	finish_task f = {.task.fn = finish_fn, .loop = &loop};
	exec_scheduler_submit(exec_run_loop_scheduler(&loop), &f.task);
	exec_run_loop_run(&loop);
	assert_int_equal(f.ran, 1);
	exec_run_loop_destroy(&loop);
}

static void timers_in_deadline_order_never_early(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_scheduler *s = exec_run_loop_scheduler(&loop);
	int log[8];
	size_t n = 0;
	rec_task t[6];
	exec_time now = exec_scheduler_now(s);
	/* Offsets in ms, submitted out of order; two share a deadline. */
	const int off_ms[6] = {30, 10, 20, 5, 20, 0};
	for (int i = 0; i < 6; i++) {
		rec_init(&t[i], i, log, &n);
		assert_int_equal(exec_scheduler_submit_at(s, &t[i].task,
							  now + off_ms[i] * EXEC_NS_PER_MS),
				 0);
	}
	exec_run_loop_finish(&loop); /* run still waits for every timer */
	exec_run_loop_run(&loop);
	assert_int_equal(n, 6);
	const int want[6] = {5, 3, 1, 2, 4, 0};
	for (int i = 0; i < 6; i++) {
		assert_int_equal(log[i], want[i]);
		assert_int_equal(t[i].status, 0);
		/* Never early, on the scheduler's own clock. */
		assert_true(t[i].ran_at >= t[i].task.deadline);
	}
	exec_run_loop_destroy(&loop);
}

static void timer_ready_and_fifo_mix(void **state)
{
	/* A due timer and ready tasks both run; run_until_empty does not wait
	 * for a timer that is not due. */
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_scheduler *s = exec_run_loop_scheduler(&loop);
	int log[4];
	size_t n = 0;
	rec_task past, future, ready;
	rec_init(&past, 1, log, &n);
	rec_init(&future, 2, log, &n);
	rec_init(&ready, 3, log, &n);
	exec_scheduler_submit_at(s, &past.task, exec_scheduler_now(s) - EXEC_NS_PER_S);
	exec_scheduler_submit_at(s, &future.task, exec_scheduler_now(s) + 3600 * EXEC_NS_PER_S);
	exec_scheduler_submit(s, &ready.task);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 2);
	assert_int_equal(n, 2);
	assert_int_equal(future.status, -1);
	/* Cancel the pending timer: it completes with EXEC_STOPPED, at once. */
	exec_scheduler_cancel(s, &future.task);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 1);
	assert_int_equal(future.status, EXEC_STOPPED);
	assert_int_equal(log[2], 2);
	/* Cancelling something that already ran is a no-op. */
	exec_scheduler_cancel(s, &future.task);
	exec_scheduler_cancel(s, &ready.task);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 0);
	exec_run_loop_destroy(&loop);
}

typedef struct cancel_arg {
	exec_scheduler *s;
	exec_task *t;
} cancel_arg;

static void *cancel_thread(void *p)
{
	cancel_arg *a = p;
	exec_scheduler_cancel(a->s, a->t);
	return NULL;
}

static void cancel_pending_timer_while_running(void **state)
{
	/* A long timer cancelled from another thread ends run promptly. */
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_scheduler *s = exec_run_loop_scheduler(&loop);
	int log[2];
	size_t n = 0;
	rec_task t;
	rec_init(&t, 1, log, &n);
	exec_scheduler_submit_at(s, &t.task, exec_scheduler_now(s) + 3600 * EXEC_NS_PER_S);
	exec_run_loop_finish(&loop);
	pthread_t th;
	cancel_arg arg = {s, &t.task};
	assert_int_equal(pthread_create(&th, NULL, cancel_thread, &arg), 0);
	exec_run_loop_run(&loop);
	pthread_join(th, NULL);
	assert_int_equal(t.status, EXEC_STOPPED);
	exec_run_loop_destroy(&loop);
}


/* Two producer threads submit while the loop runs; per-producer FIFO,
 * every task runs exactly once, on the loop thread; a third thread calls
 * finish when both producers are done. */
enum { PRODUCERS = 3, PER_PRODUCER = 5000 };

typedef struct prod_task {
	exec_task task;
	int producer, seq;
	AO_t runs;
} prod_task;

typedef struct prod_ctx {
	exec_run_loop loop;
	prod_task *tasks;
	int last_seq[PRODUCERS];
	AO_t order_errors;
	AO_t wrong_thread;
	pthread_t loop_thread;
	int producer;
	AO_t next_producer;
} prod_ctx;

static prod_ctx *g_prod;

static void prod_fn(exec_task *t, int status)
{
	prod_task *p = EXEC_CONTAINER_OF(t, prod_task, task);
	prod_ctx *c = g_prod;
	AO_fetch_and_add1(&p->runs);
	if (!pthread_equal(pthread_self(), c->loop_thread) || status != 0)
		AO_fetch_and_add1(&c->wrong_thread);
	if (p->seq != c->last_seq[p->producer] + 1)
		AO_fetch_and_add1(&c->order_errors);
	c->last_seq[p->producer] = p->seq;
}

static void *producer(void *arg)
{
	prod_ctx *c = arg;
	int id = (int)AO_fetch_and_add1(&c->next_producer);
	exec_scheduler *s = exec_run_loop_scheduler(&c->loop);
	for (int i = 0; i < PER_PRODUCER; i++) {
		prod_task *p = &c->tasks[id * PER_PRODUCER + i];
		p->task.fn = prod_fn;
		p->producer = id;
		p->seq = i;
		exec_scheduler_submit(s, &p->task);
		if (i % 512 == 0)
			sched_yield();
	}
	return NULL;
}

static void *finisher(void *arg)
{
	pthread_t *producers = arg;
	prod_ctx *c = g_prod;
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(producers[i], NULL);
	exec_run_loop_finish(&c->loop);
	return NULL;
}

static void submissions_from_other_threads(void **state)
{
	prod_ctx *c = calloc(1, sizeof *c);
	assert_non_null(c);
	c->tasks = calloc(PRODUCERS * PER_PRODUCER, sizeof *c->tasks);
	assert_non_null(c->tasks);
	for (int i = 0; i < PRODUCERS; i++)
		c->last_seq[i] = -1;
	g_prod = c;
	assert_int_equal(exec_run_loop_init(&c->loop), 0);
	c->loop_thread = pthread_self();
	pthread_t prod[PRODUCERS], fin;
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(pthread_create(&prod[i], NULL, producer, c), 0);
	assert_int_equal(pthread_create(&fin, NULL, finisher, prod), 0);
	exec_run_loop_run(&c->loop);
	pthread_join(fin, NULL);
	assert_int_equal(AO_load(&c->order_errors), 0);
	assert_int_equal(AO_load(&c->wrong_thread), 0);
	for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++)
		assert_int_equal(AO_load(&c->tasks[i].runs), 1);
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(c->last_seq[i], PER_PRODUCER - 1);
	exec_run_loop_destroy(&c->loop);
	free(c->tasks);
	free(c);
}

/* A loop embedded in heap memory that is freed as soon as run returns,
 * with finish coming from another thread while run sleeps: ASan/TSan see
 * any touch of the loop by finish after run could return. */
typedef struct heap_loop {
	exec_run_loop loop;
	AO_t sleeping_seen;
} heap_loop;

static void *finish_later(void *arg)
{
	heap_loop *h = arg;
	/* Wait until the loop thread is asleep in run (not timing-based:
	 * the flag is read under the loop's own lock). */
	for (;;) {
		pthread_mutex_lock(&h->loop.mu);
		bool asleep = h->loop.sleeping;
		pthread_mutex_unlock(&h->loop.mu);
		if (asleep)
			break;
		sched_yield();
	}
	exec_run_loop_finish(&h->loop);
	return NULL;
}

static void finish_from_another_thread_then_destroy(void **state)
{
	for (int round = 0; round < 50; round++) {
		heap_loop *h = calloc(1, sizeof *h);
		assert_non_null(h);
		assert_int_equal(exec_run_loop_init(&h->loop), 0);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, finish_later, h), 0);
		exec_run_loop_run(&h->loop);
		exec_run_loop_destroy(&h->loop);
		free(h);
		pthread_join(th, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fifo_order),
		cmocka_unit_test(run_until_empty_runs_resubmitted),
		cmocka_unit_test(finish_before_run_returns_when_empty),
		cmocka_unit_test(finish_from_a_task),
		cmocka_unit_test(timers_in_deadline_order_never_early),
		cmocka_unit_test(timer_ready_and_fifo_mix),
		cmocka_unit_test(cancel_pending_timer_while_running),
		cmocka_unit_test(submissions_from_other_threads),
		cmocka_unit_test(finish_from_another_thread_then_destroy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
