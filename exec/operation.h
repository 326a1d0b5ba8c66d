/* exec/operation.h - operation states.
 *
 * connect() constructs an operation state in storage the caller provides
 * (exec_sender_op_size / exec_sender_op_align bytes); child operation states
 * are embedded in their parent's. The state is immovable from connect until
 * it completes. start() is called at most once; the operation completes its
 * receiver exactly once, never before start.
 *
 * Connecting acquires nothing: an operation that was connected and never
 * started may simply be discarded. After the completion call has been
 * entered the storage belongs to the receiver again. */
#ifndef EXEC_OPERATION_H
#define EXEC_OPERATION_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_op exec_op;

struct exec_op {
	void (*start)(exec_op *op);
};

static inline void exec_start(exec_op *op)
{
	op->start(op);
}

#ifdef __cplusplus
}
#endif
#endif
