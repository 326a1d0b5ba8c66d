#include "algorithms/then.h"

#include <errno.h>

#include "exec/adaptor.h"

typedef struct then_sender {
	exec_adaptor_sender base;
	exec_then_fn fn;
	void *ctx;
} then_sender;

static void then_value(exec_receiver *r, const exec_value *v, size_t n)
{
	exec_adaptor_op *o = exec_adaptor_from_receiver(r);
	const then_sender *s = (const then_sender *)o->s;
	exec_value out[EXEC_THEN_MAX_VALUES];
	int rc = s->fn(s->ctx, v, n, out);
	if (rc < 0)
		exec_set_error(o->out, rc);
	else if (rc > EXEC_THEN_MAX_VALUES)
		exec_set_error(o->out, -ERANGE);
	else
		exec_set_value(o->out, out, (size_t)rc);
}

static const exec_receiver_ops then_receiver_ops = {
	then_value, exec_adaptor_forward_error, exec_adaptor_forward_stopped,
	exec_adaptor_forward_env};

static int then_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	return exec_adaptor_connect(s, op, r, &then_receiver_ops, exec_adaptor_start);
}

static const exec_sender_ops then_ops = {"then", then_connect, exec_adaptor_destroy};

exec_sender *exec_then(exec_sender *s, exec_then_fn fn, void *ctx)
{
	int err;
	if (!fn) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	then_sender *t = (then_sender *)exec_adaptor_new(
		&then_ops, sizeof(then_sender), s, sizeof(exec_adaptor_op), &err);
	if (!t)
		return exec_sender_invalid(err);
	t->fn = fn;
	t->ctx = ctx;
	t->base.base.max_values = EXEC_THEN_MAX_VALUES;
	return &t->base.base;
}
