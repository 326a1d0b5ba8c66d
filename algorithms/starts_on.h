/* algorithms/starts_on.h - start a sender on a scheduler.
 *
 * exec_starts_on(sched, s): when started, schedules onto sched and starts s
 * from sched's execution context; s completes wherever it completes (on
 * sched's context for s that completes inline). s's environment is the
 * receiver's with the scheduler replaced by sched. If sched refuses the
 * task, its error is delivered (inline, on the starting thread) and s is
 * never started; if the receiver's stop token fires before the hop has
 * run, stopped is delivered and s is never started.
 *
 * Consumes s. -EINVAL sender for a NULL s or a NULL (or op-less) scheduler;
 * s's build error is passed on. sched must outlive every run. Connect and
 * start allocate nothing. */
#ifndef EXEC_ALGORITHMS_STARTS_ON_H
#define EXEC_ALGORITHMS_STARTS_ON_H

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_starts_on(exec_scheduler *sched, exec_sender *s);

#ifdef __cplusplus
}
#endif
#endif
