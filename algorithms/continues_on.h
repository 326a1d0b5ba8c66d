/* algorithms/continues_on.h - finish on another scheduler.
 *
 * exec_continues_on(s, sched) runs s, stores its completion (values are
 * copied into the operation state, since they must outlive s's set_value
 * call), then schedules onto sched and delivers that completion from
 * sched's execution context: values, errors and stopped alike. If sched
 * refuses the task, its error is delivered instead (inline, on the thread
 * where s completed). If the receiver's stop token fires before the hop has
 * run, the result is dropped and stopped is delivered. s runs with the
 * receiver's environment unchanged.
 *
 * Consumes s. -EINVAL sender for a NULL s or a NULL (or op-less) scheduler;
 * s's build error is passed on. sched must outlive every run. Connect and
 * start allocate nothing. Results of more than EXEC_TRANSFER_STACK_VALUES
 * values point into the operation state when delivered. */
#ifndef EXEC_ALGORITHMS_CONTINUES_ON_H
#define EXEC_ALGORITHMS_CONTINUES_ON_H

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_continues_on(exec_sender *s, exec_scheduler *sched);

#ifdef __cplusplus
}
#endif
#endif
