/* algorithms/schedule_from.h - P2300's older name for continues_on.
 *
 * exec_schedule_from(sched, s) is exec_continues_on(s, sched): the same
 * sender, the same machinery and contract (algorithms/continues_on.h). */
#ifndef EXEC_ALGORITHMS_SCHEDULE_FROM_H
#define EXEC_ALGORITHMS_SCHEDULE_FROM_H

#include "algorithms/continues_on.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_schedule_from(exec_scheduler *sched, exec_sender *s);

#ifdef __cplusplus
}
#endif
#endif
