#include "exec/stop_token.h"

#include <sched.h>
#include <stddef.h>

enum { LOCKED = 1, REQUESTED = 2 };

/* The callback whose next field prev_next points at. */
#define EXEC_CONTAINER_OF_NEXT_(pn) \
	((exec_stop_callback *)(void *)((char *)(pn) - offsetof(exec_stop_callback, next)))

/* The list lock is one bit in the state word so that "requested" can be read
 * without taking it. Critical sections are a few pointer writes, so spinning
 * (with a yield for fairness on 2-core machines) is cheaper than a mutex. */
static AO_t lock(exec_stop_source *src)
{
	for (unsigned spins = 0;; spins++) {
		AO_t s = AO_load(&src->state);
		if (!(s & LOCKED) &&
		    AO_compare_and_swap_acquire(&src->state, s, s | LOCKED))
			return s;
		if (spins > 64)
			sched_yield();
	}
}

static void unlock(exec_stop_source *src, AO_t new_state)
{
	AO_store_release(&src->state, new_state & ~(AO_t)LOCKED);
}

void exec_stop_source_init(exec_stop_source *src)
{
	src->state = 0;
	src->head = NULL;
	src->running = NULL;
	src->tail = NULL;
}

bool exec_stop_source_requested(const exec_stop_source *src)
{
	return (AO_load_acquire(&src->state) & REQUESTED) != 0;
}

bool exec_stop_source_request(exec_stop_source *src)
{
	AO_t s = lock(src);
	if (s & REQUESTED) {
		unlock(src, s);
		return false;
	}
	s |= REQUESTED;
	src->requesting_thread = pthread_self();
	while (src->head) {
		exec_stop_callback *cb = src->head;
		src->head = cb->next;
		if (cb->next)
			cb->next->prev_next = &src->head;
		else
			src->tail = NULL;
		cb->prev_next = NULL; /* unlinked: deregister must not touch the list */
		bool removed = false;
		cb->removed_during_run = &removed;
		src->running = cb;
		unlock(src, s);

		cb->fn(cb);

		/* cb may have been deregistered (and freed) by fn itself. */
		if (!removed)
			AO_store_release(&cb->finished, 1);
		lock(src);
		src->running = NULL;
	}
	unlock(src, s);
	return true;
}

bool exec_stop_callback_register(exec_stop_callback *cb, exec_stop_token t,
				 exec_stop_fn fn)
{
	cb->fn = fn;
	cb->source = NULL;
	cb->next = NULL;
	cb->prev_next = NULL;
	cb->removed_during_run = NULL;
	cb->finished = 0;
	exec_stop_source *src = t.source;
	if (!src)
		return false;
	if (exec_stop_source_requested(src)) {
		fn(cb);
		return false;
	}
	AO_t s = lock(src);
	if (s & REQUESTED) {
		unlock(src, s);
		fn(cb);
		return false;
	}
	/* Appended at the tail: a request runs callbacks in registration
	 * order, as the header promises. */
	cb->source = src;
	cb->prev_next = src->tail ? &src->tail->next : &src->head;
	*cb->prev_next = cb;
	src->tail = cb;
	unlock(src, s);
	return true;
}

void exec_stop_callback_deregister(exec_stop_callback *cb)
{
	exec_stop_source *src = cb->source;
	if (!src)
		return;
	AO_t s = lock(src);
	if (cb->prev_next) {
		/* Still linked: it has not run and now never will. */
		*cb->prev_next = cb->next;
		if (cb->next)
			cb->next->prev_next = cb->prev_next;
		else if (cb->prev_next == &src->head)
			src->tail = NULL;
		else
			src->tail = EXEC_CONTAINER_OF_NEXT_(cb->prev_next);
		unlock(src, s);
		cb->source = NULL;
		return;
	}
	/* Unlinked by a stop request: it is running or has run. */
	bool running_here = src->running == cb &&
			    pthread_equal(src->requesting_thread, pthread_self());
	bool running_elsewhere = src->running == cb && !running_here;
	if (running_here)
		*cb->removed_during_run = true;
	unlock(src, s);
	if (running_elsewhere) {
		for (unsigned spins = 0; !AO_load_acquire(&cb->finished); spins++)
			if (spins > 64)
				sched_yield();
	}
	cb->source = NULL;
}
