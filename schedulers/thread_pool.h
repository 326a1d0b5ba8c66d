/* schedulers/thread_pool.h - a work-stealing pool of worker threads.
 *
 * N workers (default: the online CPUs). Each worker owns a fixed-capacity
 * Chase-Lev deque; a task submitted from a worker thread goes to that
 * worker's deque (LIFO for the owner, stolen oldest-first by the others);
 * a task submitted from any other thread goes to the injection queue, a
 * lock-free stack that a worker takes whole and replays oldest first, in
 * batches of at most half its deque's free room (the rest waits, oldest
 * first, in a backlog list that only workers lock). A full deque overflows
 * into the injection queue: submit never drops a task and never
 * allocates. Every 61st task a worker looks at the injection
 * queue, the timers and the oldest end of its own deque first, so no task
 * waits forever behind a busy worker's newer work.
 *
 * Idle workers search (steal) briefly, then park on a futex. A submit wakes
 * at most one sleeper, and only when nobody is searching; a woken worker
 * that finds work wakes the next one if more work is queued (Tokio's
 * policy), so a burst ramps up one worker at a time, a lone task wakes one
 * worker, and an idle pool burns no CPU.
 *
 * Timers (submit_at) sit in a mutex-guarded pairing heap owned by the pool.
 * Workers move due timers to their deque every 61 tasks and before they
 * park; a parked worker sleeps at most until the earliest deadline, and a
 * submit_at that becomes the earliest wakes one sleeper to re-arm. Timers
 * never run before their deadline (exec_clock_now); a long-running task on
 * every worker delays them. cancel() on a pending timer makes it run soon
 * with EXEC_STOPPED; on anything else it does nothing.
 *
 * The scheduler has flags EXEC_SCHED_TIMED | EXEC_SCHED_PARALLEL |
 * EXEC_SCHED_CANCEL_TIMERS_ONLY and
 * concurrency() = the number of workers. */
#ifndef EXEC_SCHEDULERS_THREAD_POOL_H
#define EXEC_SCHEDULERS_THREAD_POOL_H

#include <stdint.h>

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_thread_pool exec_thread_pool;

/* Creates a pool of nthreads workers (0: the online CPUs) and starts them.
 * *out owns the pool until exec_thread_pool_destroy. Returns 0, -EINVAL
 * (out NULL, nthreads > 1024), -ENOMEM, or the pthread error. */
int exec_thread_pool_create(exec_thread_pool **out, unsigned nthreads);

/* Orderly shutdown: from now on every queued task and timer, and every task
 * submitted by the pool's own tasks, runs with EXEC_STOPPED; none is lost.
 * Joins the workers and frees the pool. Threads outside the pool must have
 * stopped submitting before this is called; one whose task already ran
 * but that is still returning from the submit is waited for. Must not be
 * called from a worker. NULL-safe. */
void exec_thread_pool_destroy(exec_thread_pool *pool);

/* The pool's scheduler, valid until destroy. */
exec_scheduler *exec_thread_pool_scheduler(exec_thread_pool *pool);

/* The pool whose worker is the calling thread, or NULL. */
exec_thread_pool *exec_thread_pool_current(void);

/* Index of the calling worker in its pool, or -1 outside any pool. */
int exec_thread_pool_worker_index(void);

unsigned exec_thread_pool_size(const exec_thread_pool *pool);

/* Counters of one worker (or of all, summed), for tests and statistics.
 * Read racily while the pool runs: each counter is exact once the pool is
 * quiet. */
typedef struct exec_thread_pool_stats {
	uint64_t tasks_run; /* tasks run (any status) */
	uint64_t steals;    /* tasks taken from another worker's deque */
	uint64_t injected;  /* tasks taken from the injection queue */
	uint64_t parks;     /* times the worker went to sleep */
	uint64_t overflows; /* local submits that found the deque full */
} exec_thread_pool_stats;

/* worker < exec_thread_pool_size(pool), or -1 for the sum. -EINVAL for a
 * bad index. */
int exec_thread_pool_stats_get(const exec_thread_pool *pool, int worker,
			       exec_thread_pool_stats *out);

#ifdef __cplusplus
}
#endif
#endif
