/* exec/transfer.h - carrying a completion across a scheduler hop: the
 * machinery shared by continues_on, schedule_from and on.
 *
 * A transfer stores a completion (values copied into caller-provided slots
 * in the operation state, since they must outlive the child's set_value
 * call; or an error; or stopped), hops to a scheduler with exec_hop, and
 * delivers the stored completion to its receiver from the scheduler's
 * context. If the scheduler refuses the task, its error is delivered
 * instead; if the receiver's stop token fires before the task runs, stopped
 * is delivered (possibly inline). Up to EXEC_TRANSFER_STACK_VALUES values
 * are passed from the delivering thread's stack; more point into the slots.
 * Allocates nothing. */
#ifndef EXEC_TRANSFER_H
#define EXEC_TRANSFER_H

#include "exec/hop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EXEC_TRANSFER_STACK_VALUES 16

typedef struct exec_transfer {
	exec_hop hop;
	exec_receiver *out;
	exec_value *slots;
	uint32_t cap;   /* number of slots */
	uint32_t count; /* values stored */
	int channel;
	int error;
} exec_transfer;

/* Prepares t to deliver to out; slots has room for cap values. */
void exec_transfer_init(exec_transfer *t, exec_receiver *out, exec_value *slots,
			uint32_t cap);

/* Store the completion and hop to sched. More than cap values store an
 * -ERANGE error instead. */
void exec_transfer_value(exec_transfer *t, exec_scheduler *sched,
			 const exec_value *v, size_t n);
void exec_transfer_error(exec_transfer *t, exec_scheduler *sched, int err);
void exec_transfer_stopped(exec_transfer *t, exec_scheduler *sched);

#ifdef __cplusplus
}
#endif
#endif
