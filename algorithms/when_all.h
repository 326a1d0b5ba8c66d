/* algorithms/when_all.h - run several senders at once and join them.
 *
 * exec_when_all(children, n) starts every child when it is started and
 * completes after EVERY child has completed:
 *   - all children sent values: set_value with their values concatenated in
 *     child order (max_values is the sum of the children's);
 *   - otherwise the first child to complete with an error or stopped wins:
 *     it requests stop on when_all's internal stop source (which the other
 *     children see as their stop token), and when the last child has
 *     finished, when_all completes with that error, or stopped. Later
 *     errors and stops are dropped.
 * A stop request on the receiver's token is forwarded to the children (the
 * forwarding callback is registered at start and deregistered before
 * when_all completes). If the receiver's stop was already requested at
 * start, when_all completes stopped at once without starting any child.
 * Children that complete with values after a stop request still count as
 * values: a stop request is a request.
 *
 * The children's environment is the receiver's (scheduler, allocator) with
 * the stop token of the internal source. when_all completes on the thread
 * of the last child to complete (inside start when all complete inline).
 * Up to EXEC_FANOUT_STACK_VALUES values are passed from the completing
 * thread's stack; larger results point into the operation state.
 *
 * n == 0: completes with no values at once (like P2300's when_all()).
 * Consumes the children (also on failure); the array stays the caller's.
 * Bad input gives an -EINVAL sender: children == NULL with n > 0, or any
 * NULL child; a child's build error (-ENOMEM) is passed on. A child that
 * sends more values than its max_values makes when_all fail with -ERANGE.
 * Connect and start allocate nothing: every child's state is embedded. */
#ifndef EXEC_ALGORITHMS_WHEN_ALL_H
#define EXEC_ALGORITHMS_WHEN_ALL_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_when_all(exec_sender **children, size_t n);

/* exec_when_all of two senders. */
exec_sender *exec_when_all2(exec_sender *a, exec_sender *b);

#ifdef __cplusplus
}
#endif
#endif
