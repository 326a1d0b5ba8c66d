#include "schedulers/run_loop.h"

#include <errno.h>
#include <time.h>

#include "exec/error.h"

/* sched_private[3] of a ready task is used by the timer heap only while the
 * task is in the heap; once moved to the FIFO the status lives in [0]. */
#define STATUS(t) ((t)->sched_private[0].u)

static void push_ready_locked(exec_run_loop *loop, exec_task *t, int status)
{
	STATUS(t) = (uintptr_t)(intptr_t)status;
	t->sched_private[3].u = 0; /* not in the timer heap */
	t->next = NULL;
	if (loop->tail)
		loop->tail->next = t;
	else
		loop->head = t;
	loop->tail = t;
}

static void wake_locked(exec_run_loop *loop)
{
	if (loop->sleeping)
		pthread_cond_signal(&loop->cv);
}

static int loop_submit(exec_scheduler *s, exec_task *t)
{
	exec_run_loop *loop = EXEC_CONTAINER_OF(s, exec_run_loop, sched);
	pthread_mutex_lock(&loop->mu);
	push_ready_locked(loop, t, 0);
	wake_locked(loop);
	pthread_mutex_unlock(&loop->mu);
	return 0;
}

static int loop_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline)
{
	exec_run_loop *loop = EXEC_CONTAINER_OF(s, exec_run_loop, sched);
	t->deadline = deadline;
	pthread_mutex_lock(&loop->mu);
	exec_timer_heap_push(&loop->timers, t);
	/* The sleeper may be waiting for a later deadline: let it recompute. */
	wake_locked(loop);
	pthread_mutex_unlock(&loop->mu);
	return 0;
}

static void loop_cancel(exec_scheduler *s, exec_task *t)
{
	exec_run_loop *loop = EXEC_CONTAINER_OF(s, exec_run_loop, sched);
	pthread_mutex_lock(&loop->mu);
	if (exec_timer_heap_remove(&loop->timers, t)) {
		push_ready_locked(loop, t, EXEC_STOPPED);
		wake_locked(loop);
	}
	pthread_mutex_unlock(&loop->mu);
}

static const exec_scheduler_ops run_loop_ops = {
	.name = "run_loop",
	.flags = EXEC_SCHED_TIMED,
	.submit = loop_submit,
	.submit_at = loop_submit_at,
	.cancel = loop_cancel,
};

int exec_run_loop_init(exec_run_loop *loop)
{
	loop->sched.ops = &run_loop_ops;
	loop->head = loop->tail = NULL;
	loop->finishing = false;
	loop->sleeping = false;
	exec_timer_heap_init(&loop->timers);
	int rc = pthread_mutex_init(&loop->mu, NULL);
	if (rc)
		return -rc;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&loop->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (rc) {
		pthread_mutex_destroy(&loop->mu);
		return -rc;
	}
	return 0;
}

void exec_run_loop_destroy(exec_run_loop *loop)
{
	pthread_cond_destroy(&loop->cv);
	pthread_mutex_destroy(&loop->mu);
}

/* Moves due timers to the FIFO. Returns the next deadline, or -1. */
static exec_time promote_due_locked(exec_run_loop *loop)
{
	exec_task *t;
	if (!exec_timer_heap_top(&loop->timers))
		return -1;
	exec_time now = exec_clock_now();
	while ((t = exec_timer_heap_top(&loop->timers)) && t->deadline <= now) {
		exec_timer_heap_pop(&loop->timers);
		push_ready_locked(loop, t, 0);
	}
	return t ? t->deadline : -1;
}

static exec_task *pop_ready_locked(exec_run_loop *loop)
{
	exec_task *t = loop->head;
	if (t) {
		loop->head = t->next;
		if (!loop->head)
			loop->tail = NULL;
	}
	return t;
}

static void run_task(exec_task *t)
{
	int status = (int)(intptr_t)STATUS(t);
	t->fn(t, status);
}

void exec_run_loop_run(exec_run_loop *loop)
{
	pthread_mutex_lock(&loop->mu);
	for (;;) {
		exec_time next = promote_due_locked(loop);
		exec_task *t = pop_ready_locked(loop);
		if (t) {
			pthread_mutex_unlock(&loop->mu);
			run_task(t);
			pthread_mutex_lock(&loop->mu);
			continue;
		}
		if (loop->finishing && next < 0)
			break;
		loop->sleeping = true;
		if (next < 0) {
			pthread_cond_wait(&loop->cv, &loop->mu);
		} else {
			struct timespec ts = {(time_t)(next / EXEC_NS_PER_S),
					      (long)(next % EXEC_NS_PER_S)};
			pthread_cond_timedwait(&loop->cv, &loop->mu, &ts);
		}
		loop->sleeping = false;
	}
	loop->finishing = false;
	pthread_mutex_unlock(&loop->mu);
}

size_t exec_run_loop_run_until_empty(exec_run_loop *loop)
{
	size_t ran = 0;
	pthread_mutex_lock(&loop->mu);
	for (;;) {
		promote_due_locked(loop);
		exec_task *t = pop_ready_locked(loop);
		if (!t)
			break;
		pthread_mutex_unlock(&loop->mu);
		run_task(t);
		ran++;
		pthread_mutex_lock(&loop->mu);
	}
	pthread_mutex_unlock(&loop->mu);
	return ran;
}

void exec_run_loop_finish(exec_run_loop *loop)
{
	pthread_mutex_lock(&loop->mu);
	loop->finishing = true;
	wake_locked(loop);
	/* Nothing touches loop after the unlock: run may return and the owner
	 * destroy the loop as soon as the mutex is released. */
	pthread_mutex_unlock(&loop->mu);
}
