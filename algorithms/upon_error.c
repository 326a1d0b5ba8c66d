#include "algorithms/upon_error.h"

#include <errno.h>

#include "exec/adaptor.h"

typedef struct upon_error_sender {
	exec_adaptor_sender base;
	exec_upon_error_fn fn;
	void *ctx;
} upon_error_sender;

static void upon_error_error(exec_receiver *r, int err)
{
	exec_adaptor_op *o = exec_adaptor_from_receiver(r);
	const upon_error_sender *s = (const upon_error_sender *)o->s;
	exec_value out[EXEC_THEN_MAX_VALUES];
	int rc = s->fn(s->ctx, err, out);
	if (rc < 0)
		exec_set_error(o->out, rc);
	else if (rc > EXEC_THEN_MAX_VALUES)
		exec_set_error(o->out, -ERANGE);
	else
		exec_set_value(o->out, out, (size_t)rc);
}

static const exec_receiver_ops upon_error_receiver_ops = {
	exec_adaptor_forward_value, upon_error_error, exec_adaptor_forward_stopped,
	exec_adaptor_forward_env};

static int upon_error_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	return exec_adaptor_connect(s, op, r, &upon_error_receiver_ops, exec_adaptor_start);
}

static const exec_sender_ops upon_error_ops = {"upon_error", upon_error_connect,
					       exec_adaptor_destroy};

exec_sender *exec_upon_error(exec_sender *s, exec_upon_error_fn fn, void *ctx)
{
	int err;
	if (!fn) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	upon_error_sender *t = (upon_error_sender *)exec_adaptor_new(
		&upon_error_ops, sizeof *t, s, sizeof(exec_adaptor_op), &err);
	if (!t)
		return exec_sender_invalid(err);
	t->fn = fn;
	t->ctx = ctx;
	/* Values come either from the child or from fn. */
	if (t->base.base.max_values < EXEC_THEN_MAX_VALUES)
		t->base.base.max_values = EXEC_THEN_MAX_VALUES;
	return &t->base.base;
}
