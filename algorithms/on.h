/* algorithms/on.h - run a sender on a scheduler and come back.
 *
 * exec_on(sched, s): when started, schedules onto sched and starts s from
 * there (s's environment names sched as its scheduler), then carries s's
 * completion - values (copied into the operation state), error or stopped -
 * back to the scheduler named by the receiver's environment and delivers it
 * from that scheduler's context.
 *
 * The receiver's environment must name a scheduler: if it does not,
 * connect fails with -EINVAL (nothing is started; exec_sync_wait's receiver
 * always names its run_loop). A scheduler that refuses a task makes on
 * deliver that error: for the first hop inline on the starting thread
 * (s is never started), for the way back on the thread where s completed.
 * A stop request before a hop has run delivers stopped.
 *
 * Consumes s. -EINVAL sender for a NULL s or a NULL (or op-less) scheduler;
 * s's build error is passed on. Both schedulers must outlive every run.
 * Connect and start allocate nothing. Results of more than
 * EXEC_TRANSFER_STACK_VALUES values point into the operation state when
 * delivered. */
#ifndef EXEC_ALGORITHMS_ON_H
#define EXEC_ALGORITHMS_ON_H

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_on(exec_scheduler *sched, exec_sender *s);

#ifdef __cplusplus
}
#endif
#endif
