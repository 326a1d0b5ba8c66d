/* exec/trampoline.h - bounding the stack depth of synchronous completions.
 *
 * A chain of completions that happen inside start() recurses: each inline
 * hop adds stack frames. exec_trampoline_run(t) runs the task at once while
 * this thread's trampoline depth is under EXEC_TRAMPOLINE_DEPTH; deeper, it
 * queues the task on a thread-local list that the outermost trampoline frame
 * drains after its own task returns. Stack use is bounded, order is FIFO
 * among deferred tasks, and no allocation happens. */
#ifndef EXEC_TRAMPOLINE_H
#define EXEC_TRAMPOLINE_H

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EXEC_TRAMPOLINE_DEPTH 64

/* Runs t->fn(t, 0) now or, past the depth limit, soon on this thread. */
void exec_trampoline_run(exec_task *t);

/* The current nesting depth of trampoline frames on this thread. */
unsigned exec_trampoline_depth(void);

#ifdef __cplusplus
}
#endif
#endif
