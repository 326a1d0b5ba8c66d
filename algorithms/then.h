/* algorithms/then.h - transform the value channel with a function.
 *
 * exec_then(s, fn, ctx): when s completes with values, calls
 * fn(ctx, values, count, out) on the thread where s completed. fn writes up
 * to EXEC_THEN_MAX_VALUES values to out and returns how many, or returns a
 * negative errno to complete with that error instead. Errors and stopped
 * pass through untouched. Consumes s; connect and start allocate nothing. */
#ifndef EXEC_ALGORITHMS_THEN_H
#define EXEC_ALGORITHMS_THEN_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EXEC_THEN_MAX_VALUES 4

typedef int (*exec_then_fn)(void *ctx, const exec_value *in, size_t count,
			    exec_value *out);

exec_sender *exec_then(exec_sender *s, exec_then_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
