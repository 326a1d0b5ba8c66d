#include "algorithms/continues_on.h"

#include <errno.h>

#include "exec/adaptor.h"
#include "exec/transfer.h"

typedef struct continues_on_sender {
	exec_adaptor_sender base;
	exec_scheduler *sched;
} continues_on_sender;

typedef struct continues_on_op {
	exec_adaptor_op base;
	exec_transfer transfer;
	exec_value slots[]; /* the child's max_values; its op state follows */
} continues_on_op;

static continues_on_op *from(exec_receiver *r)
{
	return (continues_on_op *)exec_adaptor_from_receiver(r);
}

static exec_scheduler *sched_of(continues_on_op *o)
{
	return ((const continues_on_sender *)o->base.s)->sched;
}

static void child_value(exec_receiver *r, const exec_value *v, size_t n)
{
	continues_on_op *o = from(r);
	exec_transfer_value(&o->transfer, sched_of(o), v, n);
}

static void child_error(exec_receiver *r, int err)
{
	continues_on_op *o = from(r);
	exec_transfer_error(&o->transfer, sched_of(o), err);
}

static void child_stopped(exec_receiver *r)
{
	continues_on_op *o = from(r);
	exec_transfer_stopped(&o->transfer, sched_of(o));
}

static const exec_receiver_ops child_ops = {child_value, child_error, child_stopped,
					    exec_adaptor_forward_env};

static int continues_on_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	continues_on_op *o = (continues_on_op *)op;
	const exec_adaptor_sender *as = (const exec_adaptor_sender *)s;
	exec_transfer_init(&o->transfer, r, o->slots, as->child->max_values);
	return exec_adaptor_connect(s, op, r, &child_ops, exec_adaptor_start);
}

static const exec_sender_ops continues_on_ops = {"continues_on", continues_on_connect,
						 exec_adaptor_destroy};

exec_sender *exec_continues_on(exec_sender *s, exec_scheduler *sched)
{
	if (!s || !sched || !sched->ops || !sched->ops->submit) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	int err;
	size_t header = sizeof(continues_on_op) + (size_t)s->max_values * sizeof(exec_value);
	if (header > EXEC_OP_SIZE_MAX) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	continues_on_sender *c = (continues_on_sender *)exec_adaptor_new(
		&continues_on_ops, sizeof *c, s, header, &err);
	if (!c)
		return exec_sender_invalid(err);
	c->sched = sched;
	return &c->base.base;
}
