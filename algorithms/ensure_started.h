/* algorithms/ensure_started.h - start a sender now, collect its result later.
 *
 * exec_ensure_started(s) starts s at once, on the calling thread, and
 * returns a sender that completes with s's result: inside start if s has
 * already finished, otherwise on the thread where s completes. Like
 * exec_split (which it is built on) the returned sender may be connected
 * any number of times and each consumer completes exactly once with a copy
 * of the result; a consumer that is stopped detaches without stopping s.
 * Freeing the returned sender without consuming it is fine: s runs to
 * completion and the shared state frees itself.
 *
 * Memory: allocates the shared state and s's operation state with malloc
 * (no receiver exists when s starts, so the empty environment's allocator),
 * see split.h; s's state is freed as soon as s completes. Consumes s.
 * -EINVAL sender for NULL s, s's build error, -ENOMEM (s is not started
 * then). */
#ifndef EXEC_ALGORITHMS_ENSURE_STARTED_H
#define EXEC_ALGORITHMS_ENSURE_STARTED_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_ensure_started(exec_sender *s);

#ifdef __cplusplus
}
#endif
#endif
