/* algorithms/repeat.h - run a sender again and again.
 *
 * exec_repeat_n(s, n): runs s n times, one run after the other, each run
 * connected into the same storage inside the operation state (the previous
 * run has completed before the next is connected). After n value
 * completions it completes with no values; n == 0 completes at once without
 * running s. The first error or stopped completion of s ends the loop early
 * and is delivered as it is. The receiver's stop token is checked before
 * every run (including the first): once stop has been requested, the
 * operation completes stopped without starting another run. A connect
 * failure of s completes with that error.
 *
 * exec_repeat_until(s, pred, ctx): runs s until pred(ctx, values, count),
 * called with the values of a run on the thread that completed it, returns
 * true; then completes with those values (copied into the operation state).
 * Errors, stopped and the stop token as for repeat_n.
 *
 * Runs that complete inside start (just, schedule on the inline scheduler)
 * are iterated in a loop, not by recursion, so a million iterations use
 * constant stack. Runs that complete later, on another thread, continue the
 * loop on that thread. The operation completes on the thread that completed
 * the last run (or the starting thread, for n == 0 or a stop before start).
 * The environment (stop token, scheduler, allocator) passes through to s.
 * Consumes s; NULL s or pred gives the -EINVAL sender. Connect and start
 * allocate nothing. */
#ifndef EXEC_ALGORITHMS_REPEAT_H
#define EXEC_ALGORITHMS_REPEAT_H

#include <stdbool.h>
#include <stdint.h>

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef bool (*exec_repeat_pred)(void *ctx, const exec_value *values, size_t count);

exec_sender *exec_repeat_n(exec_sender *s, uint64_t n);
exec_sender *exec_repeat_until(exec_sender *s, exec_repeat_pred pred, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
