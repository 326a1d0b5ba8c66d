/* schedulers/run_loop.h - a FIFO of tasks driven by whoever calls run.
 *
 * Any thread may submit; tasks run on the thread inside exec_run_loop_run
 * (or run_until_empty), in submission order; timed tasks (submit_at) run in
 * deadline order once due, never early; a cancelled timer runs at once with
 * EXEC_STOPPED. The caller owns the struct (embed it anywhere; no
 * allocation). sync_wait drives one on its caller's stack.
 *
 * Wake-ups: a submitter signals the condition variable only when the loop
 * thread is asleep, so a busy loop pays one uncontended lock per task. */
#ifndef EXEC_SCHEDULERS_RUN_LOOP_H
#define EXEC_SCHEDULERS_RUN_LOOP_H

#include <pthread.h>
#include <stdbool.h>

#include "exec/scheduler.h"
#include "exec/timer_heap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_run_loop {
	exec_scheduler sched;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	exec_task *head, *tail;
	exec_timer_heap timers;
	bool finishing;
	bool sleeping;
} exec_run_loop;

/* Returns 0 or a negative errno (pthread initialisation failed). */
int exec_run_loop_init(exec_run_loop *loop);

/* The loop must be idle: no task queued, nobody in run. */
void exec_run_loop_destroy(exec_run_loop *loop);

static inline exec_scheduler *exec_run_loop_scheduler(exec_run_loop *loop)
{
	return &loop->sched;
}

/* Runs tasks until exec_run_loop_finish has been called and no task (ready
 * or timed) is left. */
void exec_run_loop_run(exec_run_loop *loop);

/* Runs the ready tasks and due timers, including ones they submit, and
 * returns when none is ready. Returns how many ran. */
size_t exec_run_loop_run_until_empty(exec_run_loop *loop);

/* Tells run to return once the loop is empty. Safe from any thread; the
 * loop may be destroyed once run has returned. */
void exec_run_loop_finish(exec_run_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
