/* algorithms/upon_stopped.h - handle the stopped channel with a function.
 *
 * exec_upon_stopped(s, fn, ctx): when s completes stopped, calls
 * fn(ctx, out) on the thread where s completed. fn writes up to
 * EXEC_THEN_MAX_VALUES values to out and returns how many (the operation
 * completes with those values), or returns a negative errno to complete with
 * that error. A count above EXEC_THEN_MAX_VALUES completes with -ERANGE.
 * Values and errors pass through untouched. Consumes s; a NULL s or fn
 * gives the -EINVAL sender. Connect and start allocate nothing. */
#ifndef EXEC_ALGORITHMS_UPON_STOPPED_H
#define EXEC_ALGORITHMS_UPON_STOPPED_H

#include "algorithms/then.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*exec_upon_stopped_fn)(void *ctx, exec_value *out);

exec_sender *exec_upon_stopped(exec_sender *s, exec_upon_stopped_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
