/* algorithms/split.h - one run of a sender, its result shared by many.
 *
 * exec_split(s) returns a sender that may be connected and started any
 * number of times, from any threads: the first start starts s (once, on
 * that thread); every consumer then completes exactly once with a copy of
 * s's result - the same values, error or stopped. A consumer started after
 * s has finished completes inside its start. Other consumers complete on
 * the thread where s completed.
 *
 * A consumer whose stop token fires before s has finished completes stopped
 * at once and detaches; s and the other consumers are not affected (s is
 * never stopped by a consumer: its environment's stop token never fires).
 * s's environment has no scheduler (wrap s in starts_on / continues_on to
 * place it) and the allocator of the consumer that started it.
 *
 * Memory: exec_split allocates (malloc, at build time: no receiver exists
 * yet) a small shared state holding the result; it is reference counted by
 * the split sender, each consumer from start to completion, and s while it
 * runs; the last one frees it (and s). Connecting allocates nothing. The
 * first start allocates s's operation state from that consumer's
 * environment allocator (malloc for exec_split_start / ensure_started) and
 * frees it as soon as s completes, so that allocator must stay usable until
 * s has completed, even if its consumer detaches earlier. If that
 * allocation fails, every consumer completes with -ENOMEM; if s cannot be
 * connected, every consumer gets the connect error.
 *
 * Consumes s. -EINVAL sender for NULL s, s's build error, -ENOMEM. */
#ifndef EXEC_ALGORITHMS_SPLIT_H
#define EXEC_ALGORITHMS_SPLIT_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_split(exec_sender *s);

/* Starts the shared operation of a sender from exec_split (or
 * exec_ensure_started) now, on the calling thread, if nothing has started
 * it yet. Returns 0, or -EINVAL when split is not such a sender. */
int exec_split_start(exec_sender *split);

#ifdef __cplusplus
}
#endif
#endif
