#include "algorithms/just_stopped.h"

typedef struct just_stopped_op {
	exec_op op;
	exec_receiver *r;
} just_stopped_op;

static void just_stopped_start(exec_op *op)
{
	exec_set_stopped(((just_stopped_op *)op)->r);
}

static int just_stopped_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	(void)s;
	just_stopped_op *o = (just_stopped_op *)op;
	o->op.start = just_stopped_start;
	o->r = r;
	return 0;
}

static void just_stopped_destroy(exec_sender *s)
{
	(void)s; /* static: never freed */
}

static const exec_sender_ops just_stopped_ops = {"just_stopped", just_stopped_connect,
						 just_stopped_destroy};

/* refs == 0 marks a static sender: exec_sender_ref/free leave it alone. */
static exec_sender just_stopped_sender = {.ops = &just_stopped_ops,
					  .op_size = sizeof(just_stopped_op),
					  .op_align = EXEC_OP_ALIGN};

exec_sender *exec_just_stopped(void)
{
	return &just_stopped_sender;
}
