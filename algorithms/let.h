/* algorithms/let.h - continue with a sender chosen at run time.
 *
 * exec_let_value(s, fn, ctx): when s completes with values, calls
 * fn(ctx, values, count) and runs the sender fn returns (the successor) in
 * its place: the operation completes as the successor does. The values are
 * copied into the operation state first and stay valid (same pointer) until
 * the successor has completed, so the successor may refer to them.
 * exec_let_error(s, fn, ctx): the same for the error channel, fn(ctx, err).
 * exec_let_stopped(s, fn, ctx): the same for the stopped channel, fn(ctx).
 * The other channels of s pass through untouched.
 *
 * Ownership: fn returns a new sender (one reference) that passes to the
 * operation, which frees it when the successor has completed. fn returning
 * NULL completes with -EINVAL; a successor that fails to connect completes
 * with its connect error; a successor that may send more than
 * EXEC_LET_MAX_VALUES values completes with -ERANGE (checked before it
 * runs). The stop token and the whole environment pass through to s and to
 * the successor.
 *
 * Threads: fn runs, and the successor starts, on the thread where s
 * completed; the operation completes on the thread where the successor
 * completed. Synchronous chains (a successor that is itself a let_value that
 * completes inside start, a million deep) do not grow the stack without
 * bound: calling fn and delivering the successor's completion both go
 * through exec_trampoline_run (exec/trampoline.h).
 *
 * Memory: the successor's operation state reuses the storage of the
 * predecessor's (which has completed by then) when it fits in
 * max(EXEC_LET_INLINE_SIZE, s's op size) bytes at s's op alignment.
 * Allocates when the successor's op state is larger or more aligned than
 * that, and when a deep synchronous chain defers a completion carrying more
 * values than fit in that area; allocation uses the receiver environment's
 * allocator (exec_env_alloc), which must stay valid until the operation's
 * completion has been delivered; failure completes with -ENOMEM.
 * Consumes s; NULL s or fn gives the -EINVAL sender. */
#ifndef EXEC_ALGORITHMS_LET_H
#define EXEC_ALGORITHMS_LET_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most values a successor may send (the max_values of every let
 * sender: the successor is unknown when the pipeline is built). */
#define EXEC_LET_MAX_VALUES 64

/* Bytes of inline storage shared by the predecessor's and the successor's
 * operation states (at least; more when the predecessor's is larger). */
#define EXEC_LET_INLINE_SIZE 256

typedef exec_sender *(*exec_let_value_fn)(void *ctx, const exec_value *values,
					  size_t count);
typedef exec_sender *(*exec_let_error_fn)(void *ctx, int err);
typedef exec_sender *(*exec_let_stopped_fn)(void *ctx);

exec_sender *exec_let_value(exec_sender *s, exec_let_value_fn fn, void *ctx);
exec_sender *exec_let_error(exec_sender *s, exec_let_error_fn fn, void *ctx);
exec_sender *exec_let_stopped(exec_sender *s, exec_let_stopped_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
