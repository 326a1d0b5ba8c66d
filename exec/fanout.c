#include "exec/fanout.h"

#include <errno.h>

#include "exec/error.h"

/* A child completing while this names its parent completes inside that
 * start call, on this thread, so its arrival needs no atomic operation.
 * This relies on a child's start never suspending its caller (no start
 * switches the calling fiber away), which the protocol already requires. */
_Thread_local exec_fanout_op *exec_fanout_starting
	__attribute__((tls_model("initial-exec")));

exec_fanout_sender *exec_fanout_new(const exec_sender_ops *ops,
				    exec_sender **children, size_t n,
				    bool shared_slots, int *err)
{
	*err = 0;
	if (!children && n) {
		*err = -EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n && !*err; i++) {
		if (!children[i])
			*err = -EINVAL;
		else
			*err = exec_sender_build_error(children[i]);
	}
	exec_fanout_sender *s = NULL;
	if (!*err && n > (EXEC_OP_SIZE_MAX - sizeof *s) / sizeof(exec_fanout_child))
		*err = -EINVAL;
	if (!*err) {
		s = exec_sender_new(ops, sizeof *s + n * sizeof(exec_fanout_child));
		if (!s)
			*err = -ENOMEM;
	}
	if (*err) {
		for (size_t i = 0; i < n; i++)
			exec_sender_free(children[i]);
		return NULL;
	}

	s->n = n;
	uint64_t nslots = 0, max_values = 0;
	for (size_t i = 0; i < n; i++) {
		exec_fanout_child *c = &s->children[i];
		c->sender = children[i];
		c->max_values = children[i]->max_values;
		size_t nconstant;
		c->constant = exec_sender_constant_values(children[i], &nconstant);
		c->nconstant = (uint32_t)nconstant; /* <= max_values */
		if (shared_slots) {
			c->slot = 0;
			if (c->max_values > nslots)
				nslots = c->max_values;
		} else {
			/* Clamped so the slot arithmetic cannot wrap; an
			 * absurd total makes the layout hit EXEC_OP_SIZE_MAX
			 * and the build fail below. */
			c->slot = nslots > UINT32_MAX ? UINT32_MAX : (uint32_t)nslots;
			nslots += c->max_values;
		}
	}
	max_values = nslots;

	uint32_t size = 0, align = EXEC_OP_ALIGN;
	exec_layout_add(&size, &align, sizeof(exec_fanout_op), _Alignof(max_align_t));
	s->rcv_off = exec_layout_add(&size, &align, n * sizeof(exec_fanout_rcv),
				     _Alignof(exec_fanout_rcv));
	uint64_t slot_bytes = nslots * sizeof(exec_value);
	s->slots_off = exec_layout_add(
		&size, &align, slot_bytes > EXEC_OP_SIZE_MAX ? EXEC_OP_SIZE_MAX : slot_bytes,
		_Alignof(exec_value));
	for (size_t i = 0; i < n; i++)
		if (!s->children[i].constant)
			s->children[i].op_off = exec_layout_add(&size, &align,
								children[i]->op_size,
								children[i]->op_align);
	if (size >= EXEC_OP_SIZE_MAX || max_values > UINT32_MAX) {
		exec_fanout_destroy(&s->base);
		*err = -EINVAL;
		return NULL;
	}
	s->nslots = (uint32_t)nslots;
	s->gather_on_stack = !shared_slots && nslots <= EXEC_FANOUT_STACK_VALUES;
	s->base.op_size = size;
	s->base.op_align = align;
	s->base.max_values = (uint32_t)max_values;
	return s;
}

void exec_fanout_destroy(exec_sender *s)
{
	exec_fanout_sender *fs = (exec_fanout_sender *)s;
	for (size_t i = 0; i < fs->n; i++)
		exec_sender_free(fs->children[i].sender);
	exec_sender_delete(s);
}

const exec_env *exec_fanout_env(exec_receiver *r)
{
	return &exec_fanout_rcv_from(r)->parent->env;
}

static void start_gather(exec_op *op);

int exec_fanout_connect(const exec_sender *s, exec_op *op, exec_receiver *out,
			const exec_receiver_ops *rcv_ops,
			void (*finish)(exec_fanout_op *o))
{
	const exec_fanout_sender *fs = (const exec_fanout_sender *)s;
	exec_fanout_op *o = (exec_fanout_op *)op;
	o->op.start = fs->gather_on_stack ? start_gather : exec_fanout_start;
	o->out = out;
	o->s = fs;
	o->finish = finish;
	/* The outer environment does not change while we are connected to it
	 * (exec/env.h), so a copy taken now stays right. */
	o->env = *exec_get_env(out);
	o->outer = o->env.stop_token;
	/* exec_stop_source_init, without the call. */
	o->stop = (exec_stop_source)EXEC_STOP_SOURCE_INIT;
	o->env.stop_token = exec_stop_source_token(&o->stop);
	o->outer_cb.source = NULL;
	exec_fanout_rcv *rcv = exec_fanout_rcvs(o);
	const exec_fanout_child *c = fs->children, *end = c + fs->n;
	for (; c != end; c++, rcv++) {
		/* count is written by the child before it is read. */
		rcv->self.ops = rcv_ops;
		rcv->parent = o;
		rcv->slot = c->slot;
		rcv->max_values = c->max_values;
		rcv->on_stack = false;
		if (c->constant)
			continue;
		int rc = c->sender->ops->connect(c->sender, (exec_op *)((char *)o + c->op_off),
						 &rcv->self);
		/* Connected children acquired nothing (exec/operation.h), so
		 * failing here leaves nothing to undo. */
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void finish_all(exec_fanout_op *o)
{
	/* Waits if the forwarding callback is running on another thread;
	 * from inside it (this thread), returns at once. */
	if (o->outer_cb.source)
		exec_stop_callback_deregister(&o->outer_cb);
	o->finish(o);
}

void exec_fanout_arrive(exec_fanout_op *o)
{
	if (exec_fanout_inline(o)) {
		o->sync_arrived++;
		return;
	}
	/* Full barrier: releases this child's stored result and, for the
	 * last arrival, acquires everyone else's. */
	if (AO_fetch_and_sub1_full(&o->remaining) == 1)
		finish_all(o);
}

bool exec_fanout_claim(exec_fanout_op *o, AO_t state)
{
	if (!AO_compare_and_swap_full(&o->state, 0, state))
		return false;
	exec_stop_source_request(&o->stop);
	return true;
}

static void forward_stop(exec_stop_callback *cb)
{
	exec_fanout_op *o = EXEC_CONTAINER_OF(cb, exec_fanout_op, outer_cb);
	/* Hold an arrival while the request runs: children stopped by it may
	 * complete inside it, and the last of them must not complete (and
	 * free) the operation, and with it the source being requested,
	 * underneath us. If the count is already 0 the operation is
	 * finishing and its deregister waits for us: touch nothing. */
	if (AO_fetch_and_add1_full(&o->remaining) == 0)
		return;
	exec_stop_source_request(&o->stop);
	if (AO_fetch_and_sub1_full(&o->remaining) == 1)
		finish_all(o);
}

/* Moves the values that inline children stored in start's stack buffer
 * into their slots, before the buffer goes away with start's frame. Only
 * those children's (on_stack, written by this thread, as is their count):
 * the others may be storing into their own slots (and counts) on other
 * threads right now, and on_stack is never written off this thread. */
static void spill(exec_fanout_op *o)
{
	const exec_fanout_sender *fs = o->s;
	const exec_fanout_rcv *rcvs = exec_fanout_rcvs(o);
	exec_value *slots = exec_fanout_slots(o);
	for (size_t i = 0; i < fs->n; i++) {
		if (!rcvs[i].on_stack)
			continue;
		uint32_t at = rcvs[i].slot;
		for (uint32_t k = 0; k < rcvs[i].count; k++)
			slots[at + k] = o->direct[at + k];
	}
	o->direct = slots;
}

/* The start function's body. buf: a stack buffer of
 * EXEC_FANOUT_STACK_VALUES lent to children completing inline (see the
 * header), or NULL; it stays valid until the start function returns, and
 * finish runs inside that function whenever it delivers from buf. */
static inline __attribute__((always_inline)) void run(exec_fanout_op *o, exec_value *buf)
{
	const exec_fanout_sender *fs = o->s;
	exec_stop_token outer = o->outer;
	if (exec_stop_token_requested(outer)) {
		/* No child has started, so none needs waiting for. */
		exec_set_stopped(o->out);
		return;
	}
	o->state = 0;
	o->sync_arrived = 0;
	o->direct = buf ? buf : exec_fanout_slots(o);
	AO_store(&o->sparse, 0);
	/* One arrival per child, plus one held by this function so that the
	 * operation cannot finish (and be freed) while the loop below still
	 * reads it. */
	AO_store(&o->remaining, fs->n + 1);
	/* A stop that arrives during registration runs forward_stop here and
	 * reaches the children through the internal source. (connect left
	 * outer_cb.source NULL, which finish_all reads when not registered.) */
	if (exec_stop_token_possible(outer))
		exec_stop_callback_register(&o->outer_cb, outer, forward_stop);

	size_t n = fs->n;
	exec_fanout_op *prev = exec_fanout_starting;
	exec_fanout_starting = o;
	exec_fanout_rcv *rcv = exec_fanout_rcvs(o);
	for (const exec_fanout_child *c = fs->children, *end = c + n; c != end; c++, rcv++) {
		if (!c->constant) {
			exec_start((exec_op *)((char *)o + c->op_off));
		} else if (buf) {
			/* What when_all's receiver does with an inline
			 * child's values, without the call: a constant child
			 * sends exactly max_values values, so never sparse. */
			for (uint32_t k = 0; k < c->nconstant; k++)
				buf[c->slot + k] = c->constant[k];
			rcv->count = c->nconstant;
			rcv->on_stack = true;
			o->sync_arrived++;
		} else {
			rcv->self.ops->set_value(&rcv->self, c->constant, c->nconstant);
		}
	}
	exec_fanout_starting = prev;

	if (o->sync_arrived == n) {
		/* Every child completed inline: nobody else can arrive. Only
		 * forward_stop may still be touching the count, and it never
		 * takes it to 0 while our own arrival is held; deregistering
		 * it (which waits for it) settles everything without a
		 * locked instruction. finish may deliver from buf. */
		finish_all(o);
		return;
	}
	if (buf)
		spill(o);
	/* The subtraction releases the spilled values and o->direct. */
	AO_t mine = (AO_t)o->sync_arrived + 1;
	if (AO_fetch_and_add_full(&o->remaining, (AO_t)0 - mine) == mine)
		finish_all(o);
}

void exec_fanout_start(exec_op *op)
{
	run((exec_fanout_op *)op, NULL);
}

/* The start function of gathering operations whose result fits the stack
 * buffer (gather_on_stack); the others, when_any's included, do without
 * the buffer's stack space. */
static void start_gather(exec_op *op)
{
	exec_value buf[EXEC_FANOUT_STACK_VALUES];
	run((exec_fanout_op *)op, buf);
}
