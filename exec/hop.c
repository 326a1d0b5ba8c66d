#include "exec/hop.h"

#include "exec/error.h"

static void hop_on_stop(exec_stop_callback *cb)
{
	exec_hop *h = EXEC_CONTAINER_OF(cb, exec_hop, stop_cb);
	exec_scheduler_cancel(h->sched, &h->task);
}

static void hop_run(exec_task *t, int status)
{
	exec_hop *h = EXEC_CONTAINER_OF(t, exec_hop, task);
	/* Waits if hop_on_stop is running on another thread, so the scheduler
	 * is no longer asked to cancel a task that has already finished. */
	exec_stop_callback_deregister(&h->stop_cb);
	if (status == 0 && exec_stop_token_requested(h->token))
		status = EXEC_STOPPED;
	h->done(h, status);
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
	if (exec_stop_token_requested(token)) {
		done(h, EXEC_STOPPED);
		return;
	}
	/* The callback is registered before submitting: afterwards the task
	 * may already have run and its operation been freed. A cancel that
	 * arrives before the submit finds nothing queued and does nothing;
	 * hop_run then sees the request and reports EXEC_STOPPED. */
	if (sched->ops->cancel &&
	    !exec_stop_callback_register(&h->stop_cb, token, hop_on_stop) &&
	    exec_stop_token_requested(token)) {
		done(h, EXEC_STOPPED);
		return;
	}
	int rc = deadline < 0 ? exec_scheduler_submit(sched, &h->task)
			      : exec_scheduler_submit_at(sched, &h->task, deadline);
	if (rc < 0) {
		exec_stop_callback_deregister(&h->stop_cb);
		done(h, rc);
	}
}
