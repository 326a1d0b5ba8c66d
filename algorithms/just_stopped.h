/* algorithms/just_stopped.h - a sender that completes at once stopped.
 *
 * exec_just_stopped(): start() calls set_stopped on the calling thread. The
 * sender is a static one (building it never fails, freeing it is a no-op).
 * Connect and start allocate nothing. */
#ifndef EXEC_ALGORITHMS_JUST_STOPPED_H
#define EXEC_ALGORITHMS_JUST_STOPPED_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_just_stopped(void);

#ifdef __cplusplus
}
#endif
#endif
