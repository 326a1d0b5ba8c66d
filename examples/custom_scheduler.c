/* examples/custom_scheduler.c - writing your own scheduler against
 * exec/scheduler.h: one worker thread with a FIFO and timers.
 *
 * A scheduler is an exec_scheduler (a pointer to its ops) that runs
 * exec_task nodes. The tasks belong to the callers (they are embedded in
 * operation states), so the scheduler links them into its own queues
 * through t->next and t->sched_private[] and allocates nothing. The
 * contract, in short (exec/scheduler.h has it in full):
 *   submit(t)       run t->fn(t, 0) soon, on the scheduler's thread;
 *   submit_at(t,d)  the same, not before deadline d (ns, CLOCK_MONOTONIC);
 *   cancel(t)       from any thread: a task still waiting (a timer) runs
 *                   soon with EXEC_STOPPED; otherwise nothing happens;
 *   every accepted task's fn runs exactly once. At shutdown, queued tasks
 *   run with EXEC_STOPPED.
 * With that, every library algorithm works on it: schedule, schedule_after,
 * continues_on, on, starts_on, when_all of them, stop tokens cancelling
 * timers. The program checks each and exits non-zero on a wrong result. */
/* CEXEC_TEST_ARGS: --count 1000 */
/* CEXEC_TEST_LABELS: tsan */
#include <cexec.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the scheduler ---- */

typedef struct worker_sched {
	exec_scheduler base; /* first */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	exec_task *head, *tail; /* ready FIFO */
	exec_task *timers;      /* waiting timers, sorted by deadline */
	bool stopping;
	pthread_t thread;
} worker_sched;

/* What a queued task's private words hold. */
enum { W_STATUS = 0, W_IN_TIMERS = 1, W_PREV = 2 };

static void push_ready(worker_sched *w, exec_task *t, int status)
{
	t->sched_private[W_STATUS].u = (uintptr_t)status;
	t->sched_private[W_IN_TIMERS].u = 0;
	t->next = NULL;
	if (w->tail)
		w->tail->next = t;
	else
		w->head = t;
	w->tail = t;
}

static void unlink_timer(worker_sched *w, exec_task *t)
{
	exec_task *prev = t->sched_private[W_PREV].p;
	if (prev)
		prev->next = t->next;
	else
		w->timers = t->next;
	if (t->next)
		t->next->sched_private[W_PREV].p = prev;
}

static int worker_submit(exec_scheduler *s, exec_task *t)
{
	worker_sched *w = (worker_sched *)s;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		return -ESHUTDOWN; /* not accepted: fn will not be called */
	}
	push_ready(w, t, 0);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static int worker_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline)
{
	worker_sched *w = (worker_sched *)s;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		return -ESHUTDOWN;
	}
	t->deadline = deadline;
	t->sched_private[W_IN_TIMERS].u = 1;
	/* Sorted insert; ties keep submission order. A real scheduler would
	 * use a heap (exec/timer_heap.h). */
	exec_task *prev = NULL, *cur = w->timers;
	while (cur && cur->deadline <= deadline) {
		prev = cur;
		cur = cur->next;
	}
	t->next = cur;
	t->sched_private[W_PREV].p = prev;
	if (cur)
		cur->sched_private[W_PREV].p = t;
	if (prev)
		prev->next = t;
	else
		w->timers = t;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static void worker_cancel(exec_scheduler *s, exec_task *t)
{
	worker_sched *w = (worker_sched *)s;
	pthread_mutex_lock(&w->mu);
	/* Only a waiting timer can be cancelled; a ready task runs anyway
	 * (the hop that submitted it then reports stopped). */
	if (t->sched_private[W_IN_TIMERS].u) {
		unlink_timer(w, t);
		push_ready(w, t, EXEC_STOPPED);
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
	worker_sched *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		exec_time now = exec_clock_now();
		while (w->timers && (w->timers->deadline <= now || w->stopping)) {
			exec_task *t = w->timers;
			unlink_timer(w, t);
			push_ready(w, t, w->stopping ? EXEC_STOPPED : 0);
		}
		if (w->head) {
			exec_task *t = w->head;
			w->head = t->next;
			if (!w->head)
				w->tail = NULL;
			int status = (int)t->sched_private[W_STATUS].u;
			if (w->stopping)
				status = EXEC_STOPPED;
			/* Run without the lock: fn may submit more tasks. After
			 * fn starts, t is no longer ours to touch. */
			pthread_mutex_unlock(&w->mu);
			t->fn(t, status);
			pthread_mutex_lock(&w->mu);
			continue;
		}
		if (w->stopping)
			break;
		if (w->timers) {
			exec_time d = w->timers->deadline;
			struct timespec ts = {d / EXEC_NS_PER_S, d % EXEC_NS_PER_S};
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		} else {
			pthread_cond_wait(&w->cv, &w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static const exec_scheduler_ops worker_ops = {
	.name = "example-worker",
	.flags = EXEC_SCHED_TIMED,
	.submit = worker_submit,
	.submit_at = worker_submit_at,
	.cancel = worker_cancel,
	.now = NULL, /* CLOCK_MONOTONIC, which the condvar waits on too */
};

static int worker_init(worker_sched *w)
{
	memset(w, 0, sizeof *w);
	w->base.ops = &worker_ops;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	return -rc;
}

/* Runs everything still queued with EXEC_STOPPED and joins the thread;
 * later submits are refused. */
static void worker_shutdown(worker_sched *w)
{
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
}

static void worker_destroy(worker_sched *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

/* ---- using it ---- */

static int failures;

static void check(int ok, const char *what)
{
	printf("%-56s %s\n", what, ok ? "ok" : "WRONG");
	if (!ok)
		failures++;
}

/* then-function: records whether it ran on the worker thread. */
static int on_worker(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	worker_sched *w = ctx;
	out[0] = exec_value_i64(pthread_equal(pthread_self(), w->thread) ? 1 : 0);
	return 1;
}

static int64_t value0(const exec_result *r)
{
	int64_t x = -1;
	if (r->kind == EXEC_RESULT_VALUE && r->count > 0)
		exec_value_get_i64(&r->values[0], &x);
	return x;
}

static void *request_stop(void *arg)
{
	exec_stop_source_request(arg);
	return NULL;
}

typedef struct raw_task {
	exec_task task;
	int status;
	int calls;
} raw_task;

static void raw_fn(exec_task *t, int status)
{
	raw_task *rt = EXEC_CONTAINER_OF(t, raw_task, task);
	rt->status = status;
	rt->calls++;
}

int main(int argc, char **argv)
{
	long count = 1000;
	if (argc == 3 && strcmp(argv[1], "--count") == 0)
		count = strtol(argv[2], NULL, 10);
	if (count < 1 || count > 1000000)
		count = 1000;

	worker_sched w;
	if (worker_init(&w) < 0)
		return 1;
	exec_scheduler *sched = &w.base;
	exec_result r;

	exec_sender *s = exec_then(exec_schedule(sched), on_worker, &w);
	check(exec_sync_wait(s, &r) == 0 && value0(&r) == 1,
	      "schedule(worker) | then: runs on the worker");
	exec_sender_free(s);

	s = exec_then(exec_continues_on(exec_just_i64(5), sched), on_worker, &w);
	check(exec_sync_wait(s, &r) == 0 && value0(&r) == 1,
	      "continues_on(just, worker) | then: on the worker");
	exec_sender_free(s);

	/* on() runs the inner sender on the worker and comes back to
	 * sync_wait's run_loop: the then after it runs on this thread. */
	s = exec_then(exec_on(sched, exec_then(exec_just_i64(0), on_worker, &w)),
		      on_worker, &w);
	check(exec_sync_wait(s, &r) == 0 && value0(&r) == 0,
	      "on(worker, ...) | then: back on the caller's loop");
	exec_sender_free(s);

	/* Timers: never early, measured with the scheduler's clock. */
	exec_time t0 = exec_scheduler_now(sched);
	s = exec_schedule_after(sched, 5 * EXEC_NS_PER_MS);
	int rc = exec_sync_wait(s, &r);
	check(rc == 0 && exec_scheduler_now(sched) - t0 >= 5 * EXEC_NS_PER_MS,
	      "schedule_after(worker, 5 ms): not before the deadline");
	exec_sender_free(s);

	/* Stop from another thread cancels a one-hour timer. */
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	pthread_t th;
	s = exec_schedule_after(sched, 3600 * EXEC_NS_PER_S);
	if (pthread_create(&th, NULL, request_stop, &stop) != 0)
		return 1;
	rc = exec_sync_wait_with_stop(s, exec_stop_source_token(&stop), &r);
	pthread_join(th, NULL);
	check(rc == EXEC_STOPPED, "schedule_after(worker, 1 h) + stop: stopped");
	exec_sender_free(s);

	/* Many hops joined: every one runs on the worker, once. */
	exec_sender **kids = calloc((size_t)count, sizeof *kids);
	if (!kids)
		return 1;
	for (long i = 0; i < count; i++)
		kids[i] = exec_then(exec_schedule(sched), on_worker, &w);
	s = exec_when_all(kids, (size_t)count);
	free(kids);
	rc = exec_sync_wait(s, &r);
	int64_t on = 0;
	for (size_t i = 0; rc == 0 && i < r.count; i++)
		on += exec_value_as_i64(&r.values[i]);
	check(rc == 0 && r.count == (size_t)count && on == count,
	      "when_all of --count schedules: all on the worker");
	exec_result_clear(&r);
	exec_sender_free(s);

	/* Raw tasks: shutdown runs a pending timer with EXEC_STOPPED, and a
	 * submit after shutdown is refused. */
	raw_task rt = {.calls = 0};
	rt.task.fn = raw_fn;
	rc = exec_scheduler_submit_at(sched, &rt.task, exec_clock_now() + 3600 * EXEC_NS_PER_S);
	worker_shutdown(&w);
	check(rc == 0 && rt.calls == 1 && rt.status == EXEC_STOPPED,
	      "shutdown: a pending timer runs once with EXEC_STOPPED");
	check(worker_submit(sched, &rt.task) == -ESHUTDOWN && rt.calls == 1,
	      "submit after shutdown: refused, fn not called");
	worker_destroy(&w);

	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
