/* schedulers/inline.h - the inline scheduler: schedule() completes inside
 * start(), on the calling thread, through the trampoline (exec/trampoline.h)
 * so that long chains of inline hops do not grow the stack without bound.
 * It has no timers and no cancellation. A process-wide singleton. */
#ifndef EXEC_SCHEDULERS_INLINE_H
#define EXEC_SCHEDULERS_INLINE_H

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_scheduler *exec_inline_scheduler(void);

#ifdef __cplusplus
}
#endif
#endif
