#include "algorithms/starts_on.h"

#include <errno.h>

#include "exec/adaptor.h"
#include "exec/error.h"
#include "exec/hop.h"

typedef struct starts_on_sender {
	exec_adaptor_sender base;
	exec_scheduler *sched;
} starts_on_sender;

typedef struct starts_on_op {
	exec_adaptor_op base;
	exec_env env; /* what the child sees */
	exec_hop hop;
} starts_on_op;

static const exec_env *child_env(exec_receiver *r)
{
	return &((starts_on_op *)exec_adaptor_from_receiver(r))->env;
}

static const exec_receiver_ops child_ops = {
	exec_adaptor_forward_value, exec_adaptor_forward_error,
	exec_adaptor_forward_stopped, child_env};

static void arrived(exec_hop *h, int status)
{
	starts_on_op *o = EXEC_CONTAINER_OF(h, starts_on_op, hop);
	if (status == 0)
		exec_adaptor_start(&o->base.op);
	else if (status == EXEC_STOPPED)
		exec_set_stopped(o->base.out);
	else
		exec_set_error(o->base.out, status);
}

static void starts_on_start(exec_op *op)
{
	starts_on_op *o = (starts_on_op *)op;
	exec_hop_start(&o->hop, o->env.scheduler, o->env.stop_token, -1, arrived);
}

static int starts_on_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	starts_on_op *o = (starts_on_op *)op;
	/* Set before the child connects: it may read its environment there. */
	o->env = *exec_get_env(r);
	o->env.scheduler = ((const starts_on_sender *)s)->sched;
	return exec_adaptor_connect(s, op, r, &child_ops, starts_on_start);
}

static const exec_sender_ops starts_on_ops = {"starts_on", starts_on_connect,
					      exec_adaptor_destroy};

exec_sender *exec_starts_on(exec_scheduler *sched, exec_sender *s)
{
	if (!s || !sched || !sched->ops || !sched->ops->submit) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	int err;
	starts_on_sender *st = (starts_on_sender *)exec_adaptor_new(
		&starts_on_ops, sizeof *st, s, sizeof(starts_on_op), &err);
	if (!st)
		return exec_sender_invalid(err);
	st->sched = sched;
	return &st->base.base;
}
