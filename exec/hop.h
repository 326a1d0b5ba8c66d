/* exec/hop.h - one scheduling step, the machinery shared by every algorithm
 * that moves work onto a scheduler (schedule, schedule_at/after,
 * continues_on, starts_on, on, schedule_from, fibers).
 *
 * A hop submits its embedded task to a scheduler and reports once through
 * its done function, on the scheduler's context:
 *   status 0            the scheduler ran the task;
 *   EXEC_STOPPED        the stop token fired first (or was already fired);
 *   negative errno      the scheduler refused the task (reported inline).
 * A stop request while the hop is queued asks the scheduler to cancel it
 * (timers end at once); schedulers that cannot cancel run the task, and the
 * hop then reports EXEC_STOPPED since stop was requested. The hop is
 * embedded in an operation state, so it allocates nothing. */
#ifndef EXEC_HOP_H
#define EXEC_HOP_H

#include <stdbool.h>

#include "exec/scheduler.h"
#include "exec/stop_token.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_hop exec_hop;
typedef void (*exec_hop_done_fn)(exec_hop *h, int status);

struct exec_hop {
	exec_task task;
	exec_stop_callback stop_cb;
	exec_scheduler *sched;
	exec_hop_done_fn done;
	exec_stop_token token;
	/* The handshake between start, the stop callback and the task when a
	 * stop callback is registered (see hop.c). */
	AO_t submitted;
	bool watching;
	bool cancel_after_submit;
	bool *ran_inside_submit;
};

/* Submits now (deadline < 0) or at deadline. done may run before this
 * returns (inline schedulers, refused submission, stop already requested).
 * With a stoppable token and a scheduler that can cancel, the task waits
 * (briefly) for exec_hop_start to return from the scheduler's submit before
 * it completes, so a scheduler's submit must not wait for the task to run
 * on another thread. */
void exec_hop_start(exec_hop *h, exec_scheduler *sched, exec_stop_token token,
		    exec_time deadline, exec_hop_done_fn done);

#ifdef __cplusplus
}
#endif
#endif
