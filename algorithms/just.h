/* algorithms/just.h - senders that complete at once with fixed values.
 *
 * start() calls set_value on the calling thread with a copy of the values
 * given at build time. Span and pointer values are copied as values: the
 * bytes they point to are the caller's and must outlive every run.
 * A just sender is constant (exec_sender.constant_values): algorithms
 * built over it deliver its values without connecting it. */
#ifndef EXEC_ALGORITHMS_JUST_H
#define EXEC_ALGORITHMS_JUST_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most values a just sender may carry. */
#define EXEC_JUST_MAX_VALUES 64

/* Completes with the count values (count may be 0: a value completion with
 * no values). values may be NULL when count is 0. -EINVAL sender for
 * count > EXEC_JUST_MAX_VALUES or values == NULL with count > 0. */
exec_sender *exec_just(const exec_value *values, size_t count);

exec_sender *exec_just_void(void);
exec_sender *exec_just_i64(int64_t v);
exec_sender *exec_just_u64(uint64_t v);
exec_sender *exec_just_f64(double v);
exec_sender *exec_just_ptr(void *v);
exec_sender *exec_just_span(void *ptr, size_t len);

#ifdef __cplusplus
}
#endif
#endif
