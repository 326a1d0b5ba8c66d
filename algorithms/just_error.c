#include "algorithms/just_error.h"

#include <errno.h>

typedef struct just_error_sender {
	exec_sender base;
	int err;
} just_error_sender;

typedef struct just_error_op {
	exec_op op;
	exec_receiver *r;
	int err;
} just_error_op;

static void just_error_start(exec_op *op)
{
	just_error_op *o = (just_error_op *)op;
	exec_set_error(o->r, o->err);
}

static int just_error_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	just_error_op *o = (just_error_op *)op;
	o->op.start = just_error_start;
	o->r = r;
	o->err = ((const just_error_sender *)s)->err;
	return 0;
}

static void just_error_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops just_error_ops = {"just_error", just_error_connect,
					       just_error_destroy};

exec_sender *exec_just_error(int err)
{
	if (err >= 0)
		return exec_sender_invalid(-EINVAL);
	just_error_sender *s = exec_sender_new(&just_error_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->base.op_size = sizeof(just_error_op);
	s->err = err;
	return &s->base;
}
