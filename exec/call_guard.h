/* exec/call_guard.h - lets a scheduler's destroy wait for threads that are
 * still inside a call on it (internal to the library's schedulers).
 *
 * A thread that submits a task onto a scheduler makes the task visible
 * and only then wakes the scheduler's threads, reading (and for an event
 * loop, writing to an eventfd of) the scheduler. The task may run, and its
 * owner destroy the scheduler, before that wake-up is over. Counting the
 * callers in a shared word would cost every submit two locked
 * instructions on a contended line; instead each thread publishes, in a
 * slot of its own, the object it is inside (a hazard pointer), and
 * destroy waits until no slot names the object.
 *
 * The caller stores the object into its slot before the store that makes
 * its work visible (a release or full-barrier operation, such as the
 * queue push), so whoever sees the work done and then calls destroy also
 * sees the slot. Calls do not nest per thread (enter returns the previous
 * value for leave to restore, in case they ever do).
 *
 * Slots are per thread, allocated on a thread's first call, never freed,
 * and handed to a new thread when their thread exits. If a slot cannot be
 * allocated the call is counted in a shared word instead. */
#ifndef EXEC_CALL_GUARD_H
#define EXEC_CALL_GUARD_H

#include <atomic_ops.h>

typedef struct exec_call_guard_slot {
	AO_t obj;   /* the object this thread is inside, or 0 */
	AO_t owned; /* a live thread uses this slot */
	struct exec_call_guard_slot *next; /* in the list of all slots */
} exec_call_guard_slot;

/* Internal: this thread's slot (NULL before its first call). */
extern _Thread_local exec_call_guard_slot *exec_call_guard_mine
	__attribute__((tls_model("initial-exec")));

/* Internal: gets this thread's slot (NULL when out of memory). */
exec_call_guard_slot *exec_call_guard_slot_get(void);

/* Internal: callers without a slot. */
extern AO_t exec_call_guard_unslotted;

/* Marks this thread as inside a call on obj. Returns what leave needs. */
static inline void *exec_call_guard_enter(const void *obj)
{
	exec_call_guard_slot *s = exec_call_guard_mine;
	if (__builtin_expect(!s, 0)) {
		s = exec_call_guard_slot_get();
		if (!s) {
			AO_fetch_and_add1_full(&exec_call_guard_unslotted);
			return (void *)1;
		}
	}
	void *prev = (void *)AO_load(&s->obj);
	AO_store(&s->obj, (AO_t)obj);
	return prev;
}

/* Marks the end of the call (prev: enter's result). Everything the thread
 * did to the object before is ordered before a destroy that sees it. */
static inline void exec_call_guard_leave(void *prev)
{
	if (__builtin_expect(prev == (void *)1, 0)) {
		AO_fetch_and_sub1_release(&exec_call_guard_unslotted);
		return;
	}
	AO_store_release(&exec_call_guard_mine->obj, (AO_t)prev);
}

/* Waits until no thread is inside a call on obj (yielding meanwhile: the
 * calls it waits for are short). For destroy functions, once the object's
 * work is done. */
void exec_call_guard_wait(const void *obj);

#endif
