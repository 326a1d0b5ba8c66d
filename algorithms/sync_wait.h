/* algorithms/sync_wait.h - run a sender to completion on the calling thread.
 *
 * exec_sync_wait connects s (borrowed, not consumed) to a receiver whose
 * environment names a run_loop on the caller's stack as the scheduler, starts
 * it, and drives the loop until s completes. When s completes inside start
 * (a synchronous pipeline) the loop is never entered and nothing is locked;
 * if nothing was scheduled onto it, it is not even created (the scheduler
 * in the environment creates it on the first submit, from any thread, so
 * it is valid for the whole run either way).
 * The operation state lives on the stack when it fits in
 * EXEC_SYNC_WAIT_STACK_OP bytes; larger ones are allocated.
 *
 * Returns 0 for a value completion, the negative errno of an error
 * completion, or EXEC_STOPPED; r (may be NULL) records the same plus the
 * values. A connect failure is returned as its error (r->kind is
 * EXEC_RESULT_ERROR).
 *
 * Do not call it from a thread that the awaited work needs (a pool's only
 * worker): it blocks that thread. */
#ifndef EXEC_ALGORITHMS_SYNC_WAIT_H
#define EXEC_ALGORITHMS_SYNC_WAIT_H

#include "exec/sender.h"
#include "exec/stop_token.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EXEC_SYNC_WAIT_STACK_OP 4096
#define EXEC_RESULT_INLINE_VALUES 8

typedef enum exec_result_kind {
	EXEC_RESULT_VALUE,
	EXEC_RESULT_ERROR,
	EXEC_RESULT_STOPPED,
} exec_result_kind;

typedef struct exec_result {
	exec_result_kind kind;
	int error;            /* negative errno when kind is EXEC_RESULT_ERROR */
	size_t count;         /* number of values */
	exec_value *values;   /* inline_values, or heap when count is larger */
	exec_value inline_values[EXEC_RESULT_INLINE_VALUES];
} exec_result;

int exec_sync_wait(const exec_sender *s, exec_result *r);

/* The same, with the operation's stop token set to token: a stop requested
 * on it (from another thread, say) reaches the pipeline. */
int exec_sync_wait_with_stop(const exec_sender *s, exec_stop_token token,
			     exec_result *r);

/* Frees the values a result holds on the heap (count over
 * EXEC_RESULT_INLINE_VALUES). Safe to call on any result, more than once. */
void exec_result_clear(exec_result *r);

#ifdef __cplusplus
}
#endif
#endif
