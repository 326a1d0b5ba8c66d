/* exec/timer_heap.h - an intrusive min-heap of tasks ordered by deadline.
 *
 * A pairing heap threaded through the tasks' sched_private[0..2], so timers
 * cost no allocation: insert O(1), pop and remove O(log n) amortized. Ties
 * keep insertion order (FIFO), so timers with equal deadlines fire in the
 * order they were set. Not thread-safe: the owning scheduler locks. For
 * scheduler implementations (run_loop, thread_pool, the io_uring loop, and
 * user-written ones). */
#ifndef EXEC_TIMER_HEAP_H
#define EXEC_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_timer_heap {
	exec_task *root;
	size_t count;
	uint64_t seq; /* insertion counter for FIFO ties */
} exec_timer_heap;

void exec_timer_heap_init(exec_timer_heap *h);

/* Inserts t, keyed by t->deadline. t must not be in a heap. */
void exec_timer_heap_push(exec_timer_heap *h, exec_task *t);

/* The earliest task, or NULL. */
static inline exec_task *exec_timer_heap_top(const exec_timer_heap *h)
{
	return h->root;
}

/* Removes and returns the earliest task, or NULL. */
exec_task *exec_timer_heap_pop(exec_timer_heap *h);

/* Whether t is in a heap (set by push, cleared by pop and remove). */
bool exec_timer_heap_contains(const exec_task *t);

/* Removes t if it is in the heap; returns whether it was. */
bool exec_timer_heap_remove(exec_timer_heap *h, exec_task *t);

#ifdef __cplusplus
}
#endif
#endif
