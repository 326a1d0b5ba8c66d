#include "exec/hop.h"

#include <sched.h>

#include "exec/error.h"

/* A stop request can arrive after the stop callback is registered but
 * before the scheduler has queued the task; a cancel then finds nothing,
 * and a timer would wait for its full deadline. So the callback cancels
 * only once the task is queued (`submitted`); a request that comes earlier
 * waits for that (other thread) or leaves the cancel to exec_hop_start
 * (same thread, inside submit). Since exec_hop_start touches the hop after
 * submit returns, the task waits for `submitted` too before completing,
 * unless it runs inside that very submit (ran_inside_submit). All of this
 * only when a callback is registered (`watching`): hops with a token that
 * cannot stop, or onto schedulers that cannot cancel (this kind of task:
 * EXEC_SCHED_CANCEL_TIMERS_ONLY), pay nothing. */

/* The hop whose submit call is running on this thread (innermost). */
static _Thread_local exec_hop *submitting;

static void wait_submitted(exec_hop *h)
{
	for (unsigned spins = 0; !AO_load_acquire(&h->submitted); spins++)
		if (spins > 64)
			sched_yield();
}

static void hop_on_stop(exec_stop_callback *cb)
{
	exec_hop *h = EXEC_CONTAINER_OF(cb, exec_hop, stop_cb);
	if (!AO_load_acquire(&h->submitted)) {
		if (submitting == h) {
			/* Inside our own submit: cancel when it returns. */
			h->cancel_after_submit = true;
			return;
		}
		/* The task cannot complete meanwhile: it deregisters this
		 * callback first, which waits for us. */
		wait_submitted(h);
	}
	exec_scheduler_cancel(h->sched, &h->task);
}

static void hop_run(exec_task *t, int status)
{
	exec_hop *h = EXEC_CONTAINER_OF(t, exec_hop, task);
	/* Waits if hop_on_stop is running on another thread, so the scheduler
	 * is no longer asked to cancel a task that has already finished. */
	bool inside = h->watching && submitting == h;
	if (inside) {
		*h->ran_inside_submit = true; /* start will not touch h */
		/* A callback waiting on another thread may go on: its cancel
		 * finds nothing queued. Deregistering below waits for it. */
		AO_store_release(&h->submitted, 1);
	}
	exec_stop_callback_deregister(&h->stop_cb);
	if (h->watching && !inside)
		wait_submitted(h);
	if (status == 0 && exec_stop_token_requested(h->token))
		status = EXEC_STOPPED;
	h->done(h, status);
}

static int submit(exec_hop *h, exec_time deadline)
{
	return deadline < 0 ? exec_scheduler_submit(h->sched, &h->task)
			    : exec_scheduler_submit_at(h->sched, &h->task, deadline);
}

void exec_hop_start(exec_hop *h, exec_scheduler *sched, exec_stop_token token,
		    exec_time deadline, exec_hop_done_fn done)
{
	h->sched = sched;
	h->done = done;
	h->token = token;
	h->task.fn = hop_run;
	h->task.next = NULL;
	for (unsigned i = 0; i < 4; i++)
		h->task.sched_private[i].u = 0;
	h->stop_cb.source = NULL;
	h->submitted = 0;
	h->watching = false;
	h->cancel_after_submit = false;
	if (exec_stop_token_requested(token)) {
		done(h, EXEC_STOPPED);
		return;
	}
	/* The callback is registered before submitting: afterwards the task
	 * may already have run and its operation been freed. */
	if (!sched->ops->cancel || !exec_stop_token_possible(token) ||
	    (deadline < 0 && (sched->ops->flags & EXEC_SCHED_CANCEL_TIMERS_ONLY))) {
		int rc = submit(h, deadline);
		if (rc < 0)
			done(h, rc);
		return;
	}
	/* `submitting` is set before registering: a stop request that lands
	 * between the check above and the registration runs hop_on_stop on
	 * this thread inside the register call, which must not wait for a
	 * submit that this thread has not made. */
	exec_hop *prev = submitting;
	submitting = h;
	if (!exec_stop_callback_register(&h->stop_cb, token, hop_on_stop)) {
		/* Stop was requested meanwhile (the callback ran). */
		submitting = prev;
		done(h, EXEC_STOPPED);
		return;
	}
	h->watching = true;
	bool ran_inside = false;
	h->ran_inside_submit = &ran_inside;
	int rc = submit(h, deadline);
	submitting = prev;
	if (ran_inside)
		return; /* completed inside submit: h may be gone */
	if (rc < 0) {
		/* Not queued: release a callback waiting for the submit, then
		 * wait for it to finish (its cancel finds nothing). */
		AO_store_release(&h->submitted, 1);
		exec_stop_callback_deregister(&h->stop_cb);
		done(h, rc);
		return;
	}
	/* Queued, and the task waits for `submitted` before completing, so h
	 * is still alive here. */
	if (h->cancel_after_submit)
		exec_scheduler_cancel(sched, &h->task);
	AO_store_release(&h->submitted, 1);
}
