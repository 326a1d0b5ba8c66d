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

/* Loops, not memcpy, here and in finish: a value or two per child is the
 * usual case, cheaper than a library call. */
static inline void store(exec_value *dst, const exec_value *v, size_t n)
{
	if (n == 1) /* the usual case, without the loop's overhead */
		dst[0] = v[0];
	else
		for (size_t i = 0; i < n; i++)
			dst[i] = v[i];
}

static void child_value(exec_receiver *r, const exec_value *v, size_t n)
{
	exec_fanout_rcv *c = exec_fanout_rcv_from(r);
	exec_fanout_op *o = c->parent;
	if (n > c->max_values) {
		fail(o, -ERANGE);
		exec_fanout_arrive(o);
		return;
	}
	if (n != c->max_values)
		AO_store(&o->sparse, 1);
	c->count = (uint32_t)n;
	if (exec_fanout_inline(o)) {
		/* Inside start, on its thread: into start's stack buffer when
		 * it lent one (o->direct), at the final position. */
		store(o->direct + c->slot, v, n);
		c->on_stack = true; /* meaningful only when direct is the buffer */
		o->sync_arrived++;
		return;
	}
	store(exec_fanout_slots(o) + c->slot, v, n);
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

/* finish's general case: values in the slots, or sparse ones to gather.
 * Apart from finish so that the usual case needs no stack frame. */
static __attribute__((noinline)) void finish_values(exec_fanout_op *o)
{
	exec_receiver *out = o->out;
	const exec_fanout_sender *s = o->s;
	exec_value *slots = exec_fanout_slots(o);
	exec_value *src = o->direct;
	exec_value stack[EXEC_FANOUT_STACK_VALUES];
	/* Small results from the slots are gathered onto the stack; large
	 * ones compacted in place (each child's slots start at or after its
	 * compacted position, so moving in child order never overwrites
	 * unread values; the same holds for the stack buffer). */
	exec_value *dst = src != slots || s->nslots > EXEC_FANOUT_STACK_VALUES ? src : stack;
	if (!AO_load(&o->sparse)) {
		/* Every child sent as many values as it may: the values are
		 * already contiguous in child order. */
		size_t total = s->nslots;
		if (dst != src)
			store(dst, src, total);
		exec_set_value(out, dst, total);
		return;
	}
	const exec_fanout_rcv *rcvs = exec_fanout_rcvs(o);
	size_t total = 0;
	for (size_t i = 0; i < s->n; i++) {
		const exec_value *from = src + rcvs[i].slot;
		for (size_t k = rcvs[i].count; k; k--)
			dst[total++] = *from++;
	}
	exec_set_value(out, dst, total);
}

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
	/* The usual case: every child completed inside start and sent as many
	 * values as it may, so they lie contiguous, in child order, in start's
	 * stack buffer (o->direct; finish runs inside start then), already off
	 * the operation state. */
	if (o->direct != exec_fanout_slots(o) && !AO_load(&o->sparse)) {
		exec_set_value(out, o->direct, o->s->nslots);
		return;
	}
	finish_values(o);
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
