#include "algorithms/when_any.h"

#include <errno.h>
#include <string.h>

#include "exec/fanout.h"

enum { NONE = 0, VALUE, FAILED, STOPPED };

static void child_value(exec_receiver *r, const exec_value *v, size_t n)
{
	exec_fanout_rcv *c = exec_fanout_rcv_from(r);
	exec_fanout_op *o = c->parent;
	if (n > c->max_values) {
		if (exec_fanout_claim(o, FAILED))
			o->error = -ERANGE;
	} else if (exec_fanout_claim(o, VALUE)) {
		/* Losers never write, so the winner owns the shared slots. */
		exec_value *dst = exec_fanout_slots(o);
		for (size_t i = 0; i < n; i++)
			dst[i] = v[i];
		o->count = (uint32_t)n;
	}
	exec_fanout_arrive(o);
}

static void child_error(exec_receiver *r, int err)
{
	exec_fanout_op *o = exec_fanout_rcv_from(r)->parent;
	if (exec_fanout_claim(o, FAILED))
		o->error = err;
	exec_fanout_arrive(o);
}

static void child_stopped(exec_receiver *r)
{
	exec_fanout_op *o = exec_fanout_rcv_from(r)->parent;
	exec_fanout_claim(o, STOPPED);
	exec_fanout_arrive(o);
}

static const exec_receiver_ops child_ops = {child_value, child_error, child_stopped,
					    exec_fanout_env};

static void finish(exec_fanout_op *o)
{
	exec_receiver *out = o->out;
	switch (o->state) {
	case VALUE: {
		size_t n = o->count;
		exec_value stack[EXEC_FANOUT_STACK_VALUES];
		exec_value *v = exec_fanout_slots(o);
		if (n <= EXEC_FANOUT_STACK_VALUES) {
			for (size_t i = 0; i < n; i++)
				stack[i] = v[i];
			v = stack;
		}
		exec_set_value(out, v, n);
		break;
	}
	case FAILED:
		exec_set_error(out, o->error);
		break;
	default:
		exec_set_stopped(out);
		break;
	}
}

static int when_any_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	return exec_fanout_connect(s, op, r, &child_ops, finish);
}

static const exec_sender_ops when_any_ops = {"when_any", when_any_connect,
					     exec_fanout_destroy};

exec_sender *exec_when_any(exec_sender **children, size_t n)
{
	int err;
	if (n == 0)
		return exec_sender_invalid(-EINVAL);
	exec_fanout_sender *s = exec_fanout_new(&when_any_ops, children, n, true, &err);
	return s ? &s->base : exec_sender_invalid(err);
}

exec_sender *exec_when_any2(exec_sender *a, exec_sender *b)
{
	exec_sender *children[2] = {a, b};
	return exec_when_any(children, 2);
}
