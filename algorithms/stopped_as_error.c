#include "algorithms/stopped_as_error.h"

#include <errno.h>

#include "exec/adaptor.h"

typedef struct stopped_as_error_sender {
	exec_adaptor_sender base;
	int err;
} stopped_as_error_sender;

static void stopped_as_error_stopped(exec_receiver *r)
{
	exec_adaptor_op *o = exec_adaptor_from_receiver(r);
	exec_set_error(o->out, ((const stopped_as_error_sender *)o->s)->err);
}

static const exec_receiver_ops stopped_as_error_receiver_ops = {
	exec_adaptor_forward_value, exec_adaptor_forward_error, stopped_as_error_stopped,
	exec_adaptor_forward_env};

static int stopped_as_error_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	return exec_adaptor_connect(s, op, r, &stopped_as_error_receiver_ops,
				    exec_adaptor_start);
}

static const exec_sender_ops stopped_as_error_ops = {
	"stopped_as_error", stopped_as_error_connect, exec_adaptor_destroy};

exec_sender *exec_stopped_as_error(exec_sender *s, int err)
{
	if (err >= 0) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	int rc;
	stopped_as_error_sender *t = (stopped_as_error_sender *)exec_adaptor_new(
		&stopped_as_error_ops, sizeof *t, s, sizeof(exec_adaptor_op), &rc);
	if (!t)
		return exec_sender_invalid(rc);
	t->err = err;
	return &t->base.base;
}
