#include "algorithms/on.h"

#include <errno.h>

#include "exec/adaptor.h"
#include "exec/error.h"
#include "exec/transfer.h"

typedef struct on_sender {
	exec_adaptor_sender base;
	exec_scheduler *sched;
} on_sender;

typedef struct on_op {
	exec_adaptor_op base;
	exec_env env;          /* what the child sees: scheduler = sched */
	exec_scheduler *back;  /* the receiver's scheduler */
	exec_hop there;        /* the hop onto sched */
	exec_transfer transfer; /* the way back, with the stored result */
	exec_value slots[];    /* the child's max_values; its op state follows */
} on_op;

static on_op *from(exec_receiver *r)
{
	return (on_op *)exec_adaptor_from_receiver(r);
}

static void child_value(exec_receiver *r, const exec_value *v, size_t n)
{
	on_op *o = from(r);
	exec_transfer_value(&o->transfer, o->back, v, n);
}

static void child_error(exec_receiver *r, int err)
{
	on_op *o = from(r);
	exec_transfer_error(&o->transfer, o->back, err);
}

static void child_stopped(exec_receiver *r)
{
	on_op *o = from(r);
	exec_transfer_stopped(&o->transfer, o->back);
}

static const exec_env *child_env(exec_receiver *r)
{
	return &from(r)->env;
}

static const exec_receiver_ops child_ops = {child_value, child_error, child_stopped,
					    child_env};

static void arrived(exec_hop *h, int status)
{
	on_op *o = EXEC_CONTAINER_OF(h, on_op, there);
	if (status == 0)
		exec_adaptor_start(&o->base.op);
	else if (status == EXEC_STOPPED)
		exec_set_stopped(o->base.out);
	else
		exec_set_error(o->base.out, status);
}

static void on_start(exec_op *op)
{
	on_op *o = (on_op *)op;
	exec_hop_start(&o->there, o->env.scheduler, o->env.stop_token, -1, arrived);
}

static int on_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	on_op *o = (on_op *)op;
	const exec_env *outer = exec_get_env(r);
	/* Where to come back to is only known now; without it there is no
	 * defined place to complete, so refuse before anything runs. */
	if (!outer->scheduler)
		return -EINVAL;
	o->back = outer->scheduler;
	o->env = *outer;
	o->env.scheduler = ((const on_sender *)s)->sched;
	exec_transfer_init(&o->transfer, r, o->slots,
			   ((const exec_adaptor_sender *)s)->child->max_values);
	return exec_adaptor_connect(s, op, r, &child_ops, on_start);
}

static const exec_sender_ops on_ops = {"on", on_connect, exec_adaptor_destroy};

exec_sender *exec_on(exec_scheduler *sched, exec_sender *s)
{
	if (!s || !sched || !sched->ops || !sched->ops->submit) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	size_t header = sizeof(on_op) + (size_t)s->max_values * sizeof(exec_value);
	if (header > EXEC_OP_SIZE_MAX) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	int err;
	on_sender *os = (on_sender *)exec_adaptor_new(&on_ops, sizeof *os, s, header, &err);
	if (!os)
		return exec_sender_invalid(err);
	os->sched = sched;
	return &os->base.base;
}
