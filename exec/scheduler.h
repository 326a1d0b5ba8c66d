/* exec/scheduler.h - the scheduler interface.
 *
 * A scheduler runs tasks: small caller-owned nodes (exec_task) that it links
 * into its own queues, so submitting allocates nothing. Everything that says
 * "run this there" - the schedule sender, continues_on, on, starts_on,
 * fibers - is built on submit. Writing a scheduler means filling in
 * exec_scheduler_ops; examples/custom_scheduler.c shows one.
 *
 * Contract for an implementation:
 *   - submit(t): t->fn(t, status) will be called exactly once, on the
 *     scheduler's execution context, with status 0 (run) or EXEC_STOPPED
 *     (cancelled, or the scheduler was shut down and stops queued work).
 *     Returns 0, or a negative errno when the task was not accepted (then fn
 *     is never called).
 *   - submit_at(t, deadline): the same, not before the deadline (measured
 *     by now()). NULL for schedulers without timers.
 *   - cancel(t): a request from any thread. If t is still waiting (a timer
 *     not yet due, say), the scheduler makes fn run soon with EXEC_STOPPED;
 *     otherwise it does nothing. NULL when cancelling is not supported.
 *   - now(): the scheduler's clock in nanoseconds. NULL: CLOCK_MONOTONIC.
 * While t is queued, its next and sched_private fields belong to the
 * scheduler; the task's memory must stay valid until fn has been called. */
#ifndef EXEC_SCHEDULER_H
#define EXEC_SCHEDULER_H

#include <stdint.h>

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds on a monotonic clock. */
typedef int64_t exec_time;

#define EXEC_NS_PER_US INT64_C(1000)
#define EXEC_NS_PER_MS INT64_C(1000000)
#define EXEC_NS_PER_S INT64_C(1000000000)

/* CLOCK_MONOTONIC in nanoseconds. */
exec_time exec_clock_now(void);

typedef struct exec_task exec_task;
/* status: 0 to run, EXEC_STOPPED when cancelled or shut down. */
typedef void (*exec_task_fn)(exec_task *t, int status);

/* Words a scheduler may use while it holds the task (queue links, heap
 * links, a status): a pointer or an integer each. */
typedef union exec_task_word {
	void *p;
	uintptr_t u;
} exec_task_word;

struct exec_task {
	exec_task *next;
	exec_task_fn fn;
	exec_time deadline;
	exec_task_word sched_private[4];
};

/* Scheduler capability flags. */
enum {
	EXEC_SCHED_TIMED = 1u << 0,    /* submit_at works */
	EXEC_SCHED_PARALLEL = 1u << 1, /* tasks may run on several threads */
	/* cancel() affects only submit_at tasks: a hop with a plain submit
	 * need not register a stop callback (it checks the token when it
	 * runs anyway). */
	EXEC_SCHED_CANCEL_TIMERS_ONLY = 1u << 2,
};

typedef struct exec_scheduler_ops {
	const char *name;
	unsigned flags;
	int (*submit)(exec_scheduler *s, exec_task *t);
	int (*submit_at)(exec_scheduler *s, exec_task *t, exec_time deadline);
	void (*cancel)(exec_scheduler *s, exec_task *t);
	exec_time (*now)(exec_scheduler *s);
	/* How many threads run tasks at once (bulk splits by it). NULL: 1. */
	unsigned (*concurrency)(exec_scheduler *s);
} exec_scheduler_ops;

struct exec_scheduler {
	const exec_scheduler_ops *ops;
};

static inline int exec_scheduler_submit(exec_scheduler *s, exec_task *t)
{
	return s->ops->submit(s, t);
}

/* -ENOTSUP when the scheduler has no timers. */
int exec_scheduler_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline);

/* No-op when the scheduler cannot cancel. */
void exec_scheduler_cancel(exec_scheduler *s, exec_task *t);

exec_time exec_scheduler_now(exec_scheduler *s);

unsigned exec_scheduler_concurrency(exec_scheduler *s);

static inline const char *exec_scheduler_name(const exec_scheduler *s)
{
	return s->ops->name;
}

#ifdef __cplusplus
}
#endif
#endif
