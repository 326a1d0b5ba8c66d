/* algorithms/start_detached.h - run a sender without waiting for it.
 *
 * exec_start_detached(s, env): allocates storage for s's operation state
 * with env's allocator (exec_env_alloc; env NULL: malloc, no stop token, no
 * scheduler), connects s to an internal receiver whose environment is a
 * copy of *env, starts it, and returns. When the operation completes (on
 * whichever thread completes it; possibly inside this call) the storage is
 * freed and the sender reference dropped, before anything is reported.
 * Values are discarded. An error completion is counted in a process-wide
 * counter, exec_start_detached_errors(); stopped is not an error.
 *
 * exec_start_detached_notify(s, env, fn, ctx): the same, and then calls
 * fn(ctx, status) on the completing thread, after the storage is freed:
 * status is 0 (values), a negative errno (error) or EXEC_STOPPED.
 *
 * Ownership: consumes s (also on failure). The stop source and allocator
 * named by env must stay valid until the operation has completed.
 * Returns 0 when started; -EINVAL for a NULL s; a failed build's error
 * (-EINVAL, -ENOMEM) without starting anything; -ENOMEM when the storage
 * cannot be allocated; or s's connect error. When nonzero is returned, fn
 * is never called and nothing is counted. */
#ifndef EXEC_ALGORITHMS_START_DETACHED_H
#define EXEC_ALGORITHMS_START_DETACHED_H

#include <stdint.h>

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*exec_start_detached_fn)(void *ctx, int status);

int exec_start_detached(exec_sender *s, const exec_env *env);
int exec_start_detached_notify(exec_sender *s, const exec_env *env,
			       exec_start_detached_fn fn, void *ctx);

/* How many detached operations have completed with an error, process-wide,
 * since start. */
uint64_t exec_start_detached_errors(void);

#ifdef __cplusplus
}
#endif
#endif
