/* algorithms/when_any.h - run several senders at once; the first to finish
 * decides.
 *
 * exec_when_any(children, n) starts every child. The first child to
 * complete, on any channel, wins: its values (copied into the operation
 * state), error or stopped become when_any's result, and stop is requested
 * on when_any's internal stop source, which the other children see as their
 * stop token. when_any completes with the winner's result only after EVERY
 * child has completed, on the thread of the last one to complete.
 * max_values is the largest of the children's.
 *
 * A stop request on the receiver's token is forwarded to the children (the
 * forwarding callback is registered at start and deregistered before
 * when_any completes); the result is still the first child's completion.
 * If the receiver's stop was already requested at start, when_any completes
 * stopped at once without starting any child. The children's environment
 * is the receiver's (scheduler, allocator) with the internal stop token.
 * Up to EXEC_FANOUT_STACK_VALUES values are passed from the completing
 * thread's stack; larger results point into the operation state.
 *
 * Consumes the children (also on failure); the array stays the caller's.
 * -EINVAL sender for n == 0 (nothing could ever win), children == NULL or
 * any NULL child; a child's build error (-ENOMEM) is passed on. A winner
 * that sends more values than its max_values makes when_any fail with
 * -ERANGE. Connect and start allocate nothing. */
#ifndef EXEC_ALGORITHMS_WHEN_ANY_H
#define EXEC_ALGORITHMS_WHEN_ANY_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_when_any(exec_sender **children, size_t n);

/* exec_when_any of two senders. */
exec_sender *exec_when_any2(exec_sender *a, exec_sender *b);

#ifdef __cplusplus
}
#endif
#endif
