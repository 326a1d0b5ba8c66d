/* algorithms/upon_error.h - handle the error channel with a function.
 *
 * exec_upon_error(s, fn, ctx): when s completes with an error, calls
 * fn(ctx, err, out) on the thread where s completed. fn writes up to
 * EXEC_THEN_MAX_VALUES values to out and returns how many (the operation then
 * completes with those values: the error is recovered), or returns a
 * negative errno to complete with that error instead (it may return err to
 * pass it on). A count above EXEC_THEN_MAX_VALUES completes with -ERANGE.
 * Values and stopped pass through untouched. Consumes s; a NULL s or fn
 * gives the -EINVAL sender. Connect and start allocate nothing. */
#ifndef EXEC_ALGORITHMS_UPON_ERROR_H
#define EXEC_ALGORITHMS_UPON_ERROR_H

#include "algorithms/then.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*exec_upon_error_fn)(void *ctx, int err, exec_value *out);

exec_sender *exec_upon_error(exec_sender *s, exec_upon_error_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
