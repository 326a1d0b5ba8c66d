/* algorithms/bulk.h - run a function over an index range, in parallel.
 *
 * exec_bulk(s, n, fn, ctx): when s completes with values v[0..count),
 * calls fn(ctx, i, v, count) for every i in [0, n) and then completes once
 * with s's values. fn returns 0, or a negative errno: the first error wins,
 * no index that has not started yet is run, and bulk completes with that
 * error once every running call has returned.
 *
 * Where it runs (P2300's bulk takes an execution policy; cexec has no
 * sender attributes to ask which scheduler s completed on, so it looks at
 * the thread): if s completes on a thread_pool worker, the range is split
 * across that pool - the completing worker runs a share itself and up to
 * EXEC_BULK_MAX_CHUNKS - 1 more runners are pushed to its deque, where idle
 * workers steal them. Anywhere else (inline, a run_loop) the range runs
 * sequentially on the completing thread. exec_bulk_on names the scheduler
 * instead: all runners are submitted to sched, split by
 * exec_scheduler_concurrency(sched) (one runner when it is 1).
 *
 * Runners take indices in grains from a shared counter, so a slow worker
 * (a shared machine) does not hold up the rest. A stop request on the
 * receiver's token skips the indices not yet taken; bulk then completes
 * stopped. If every runner was refused or stopped by its scheduler before
 * the range was done, bulk completes stopped (or with the submit error).
 * Errors and stopped from s pass through without calling fn.
 *
 * Completes on the thread of the runner that finishes last. s's values are
 * copied into the operation state. Consumes s; connect and start allocate
 * nothing (the runners' tasks are embedded in the operation state). n may
 * be 0 (fn is never called). -EINVAL sender for NULL s or fn, or a NULL
 * scheduler for exec_bulk_on. */
#ifndef EXEC_ALGORITHMS_BULK_H
#define EXEC_ALGORITHMS_BULK_H

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most runners (tasks) one bulk operation splits its range into. */
#define EXEC_BULK_MAX_CHUNKS 32

typedef int (*exec_bulk_fn)(void *ctx, size_t i, const exec_value *values,
			    size_t count);

exec_sender *exec_bulk(exec_sender *s, size_t n, exec_bulk_fn fn, void *ctx);

exec_sender *exec_bulk_on(exec_sender *s, exec_scheduler *sched, size_t n,
			  exec_bulk_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
