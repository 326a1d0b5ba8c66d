/* algorithms/schedule.h - senders that complete on a scheduler.
 *
 * exec_schedule(sched) completes with no values on sched's execution
 * context. exec_schedule_at / exec_schedule_after do so not before a
 * deadline (scheduler clock, exec_scheduler_now) or a delay; they need a
 * timed scheduler (else they complete with -ENOTSUP). All three complete
 * stopped when their receiver's stop token fires first; a pending timer is
 * cancelled at once. The scheduler must outlive every run. Connect and start
 * allocate nothing. */
#ifndef EXEC_ALGORITHMS_SCHEDULE_H
#define EXEC_ALGORITHMS_SCHEDULE_H

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_schedule(exec_scheduler *sched);
exec_sender *exec_schedule_at(exec_scheduler *sched, exec_time deadline);
/* delay_ns < 0 counts as 0. */
exec_sender *exec_schedule_after(exec_scheduler *sched, int64_t delay_ns);

#ifdef __cplusplus
}
#endif
#endif
