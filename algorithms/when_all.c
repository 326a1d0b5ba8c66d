#include "algorithms/when_all.h"

#include <errno.h>
#include <string.h>

#include "exec/fanout.h"

enum { OK = 0, FAILED, STOPPED };

static void fail(exec_fanout_op *o, int err)
{
	if (exec_fanout_claim(o, FAILED))
		o->error = err;
}

static void child_value(exec_receiver *r, const exec_value *v, size_t n)
{
	exec_fanout_rcv *c = exec_fanout_rcv_from(r);
	exec_fanout_op *o = c->parent;
	const exec_fanout_child *ch = &o->s->children[c->index];
	if (n > ch->max_values) {
		fail(o, -ERANGE);
	} else {
		/* Loops, not memcpy/memmove, here and in finish: a value or two
		 * per child is the usual case, cheaper than a library call. */
		exec_value *dst = exec_fanout_slots(o) + ch->slot;
		if (n == 1) /* the usual case, without the loop's overhead */
			dst[0] = v[0];
		else
			for (size_t i = 0; i < n; i++)
				dst[i] = v[i];
		c->count = (uint32_t)n;
	}
	exec_fanout_arrive(o);
}

static void child_error(exec_receiver *r, int err)
{
	exec_fanout_op *o = exec_fanout_rcv_from(r)->parent;
	fail(o, err);
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

/* Every child has arrived and the stop forwarding is gone. Copies what the
 * receiver needs first: it may free the operation as soon as it is called. */
static void finish(exec_fanout_op *o)
{
	exec_receiver *out = o->out;
	AO_t state = o->state;
	if (state == FAILED) {
		exec_set_error(out, o->error);
		return;
	}
	if (state == STOPPED) {
		exec_set_stopped(out);
		return;
	}
	const exec_fanout_sender *s = o->s;
	const exec_fanout_rcv *rcvs = exec_fanout_rcvs(o);
	exec_value *slots = exec_fanout_slots(o);
	exec_value stack[EXEC_FANOUT_STACK_VALUES];
	/* Small results are gathered onto the stack; large ones compacted in
	 * place (each child's slots start at or after its compacted position,
	 * so moving in child order never overwrites unread values). */
	exec_value *dst = s->nslots <= EXEC_FANOUT_STACK_VALUES ? stack : slots;
	size_t total = 0;
	for (size_t i = 0; i < s->n; i++)
		total += rcvs[i].count;
	if (total == s->nslots) {
		/* Every child sent as many values as it may (the usual case):
		 * the slots are already contiguous in child order, so one
		 * straight copy (none for a large result) replaces the
		 * per-child gather. */
		if (dst != slots)
			for (size_t k = 0; k < total; k++)
				dst[k] = slots[k];
		exec_set_value(out, dst, total);
		return;
	}
	total = 0;
	for (size_t i = 0; i < s->n; i++) {
		const exec_value *src = slots + s->children[i].slot;
		for (size_t k = rcvs[i].count; k; k--)
			dst[total++] = *src++;
	}
	exec_set_value(out, dst, total);
}

static int when_all_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	return exec_fanout_connect(s, op, r, &child_ops, finish);
}

static const exec_sender_ops when_all_ops = {"when_all", when_all_connect,
					     exec_fanout_destroy};

exec_sender *exec_when_all(exec_sender **children, size_t n)
{
	int err;
	exec_fanout_sender *s = exec_fanout_new(&when_all_ops, children, n, false, &err);
	return s ? &s->base : exec_sender_invalid(err);
}

exec_sender *exec_when_all2(exec_sender *a, exec_sender *b)
{
	exec_sender *children[2] = {a, b};
	return exec_when_all(children, 2);
}
