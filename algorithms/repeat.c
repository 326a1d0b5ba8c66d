#include "algorithms/repeat.h"

#include <errno.h>

#include "exec/adaptor.h"

typedef struct repeat_sender {
	exec_adaptor_sender base;
	uint64_t n;
	exec_repeat_pred pred; /* NULL for repeat_n */
	void *ctx;
} repeat_sender;

/* Handshake between the thread that starts a run and the run's completion:
 * the completion moves STARTING -> COMPLETED when it arrives inside start
 * (the starter then loops), or finds IDLE and continues the loop itself. */
enum { IDLE, STARTING, COMPLETED };
enum { GO_ON, DONE_VALUE, DONE_ERROR, DONE_STOPPED };

typedef struct repeat_op {
	exec_adaptor_op base;
	AO_t state;
	uint64_t runs; /* value completions so far */
	int outcome;
	int err;
	size_t count;
	exec_value values[]; /* the child's max_values (repeat_until) */
} repeat_op;

static void repeat_finish(repeat_op *o)
{
	exec_receiver *out = o->base.out;
	switch (o->outcome) {
	case DONE_ERROR:
		exec_set_error(out, o->err);
		break;
	case DONE_STOPPED:
		exec_set_stopped(out);
		break;
	default:
		/* The values live in the op; a receiver that frees the op
		 * reads them first (they are only valid during the call). */
		exec_set_value(out, o->values, o->count);
		break;
	}
}

/* Runs s until a run completes asynchronously or the loop is over. Called
 * at start and by a completion that arrived after its start returned. */
static void repeat_drive(repeat_op *o)
{
	const repeat_sender *s = (const repeat_sender *)o->base.s;
	exec_sender *child = s->base.child;
	exec_op *child_op = exec_adaptor_child_op(&o->base);
	for (;;) {
		if (o->outcome != GO_ON) {
			repeat_finish(o);
			return;
		}
		if (exec_stop_token_requested(exec_get_stop_token(o->base.out))) {
			exec_set_stopped(o->base.out);
			return;
		}
		/* The previous run has completed: by the protocol its code no
		 * longer touches child_op, so connecting over it is safe. */
		int rc = child->ops->connect(child, child_op, &o->base.self);
		if (rc < 0) {
			exec_set_error(o->base.out, rc);
			return;
		}
		AO_store(&o->state, STARTING);
		exec_start(child_op);
		/* Success: the run is still going and its completion drives
		 * the loop; we must not touch o again. Failure: it completed
		 * inside start (the full barrier makes its outcome visible). */
		if (AO_compare_and_swap_full(&o->state, STARTING, IDLE))
			return;
	}
}

static void repeat_after_run(repeat_op *o)
{
	if (AO_compare_and_swap_full(&o->state, STARTING, COMPLETED))
		return; /* inside start: the starter loops */
	repeat_drive(o);
}

static void repeat_value(exec_receiver *r, const exec_value *v, size_t n)
{
	repeat_op *o = (repeat_op *)exec_adaptor_from_receiver(r);
	const repeat_sender *s = (const repeat_sender *)o->base.s;
	if (!s->pred) {
		if (++o->runs >= s->n)
			o->outcome = DONE_VALUE;
	} else if (s->pred(s->ctx, v, n)) {
		if (n > s->base.base.max_values) {
			o->outcome = DONE_ERROR;
			o->err = -ERANGE;
		} else {
			for (size_t i = 0; i < n; i++)
				o->values[i] = v[i];
			o->count = n;
			o->outcome = DONE_VALUE;
		}
	}
	repeat_after_run(o);
}

static void repeat_error(exec_receiver *r, int err)
{
	repeat_op *o = (repeat_op *)exec_adaptor_from_receiver(r);
	o->outcome = DONE_ERROR;
	o->err = err;
	repeat_after_run(o);
}

static void repeat_stopped(exec_receiver *r)
{
	repeat_op *o = (repeat_op *)exec_adaptor_from_receiver(r);
	o->outcome = DONE_STOPPED;
	repeat_after_run(o);
}

static const exec_receiver_ops repeat_receiver_ops = {
	repeat_value, repeat_error, repeat_stopped, exec_adaptor_forward_env};

static void repeat_start(exec_op *op)
{
	repeat_op *o = (repeat_op *)op;
	const repeat_sender *s = (const repeat_sender *)o->base.s;
	o->runs = 0;
	o->count = 0;
	o->outcome = !s->pred && s->n == 0 ? DONE_VALUE : GO_ON;
	AO_store(&o->state, IDLE);
	repeat_drive(o);
}

static int repeat_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	repeat_op *o = (repeat_op *)op;
	o->base.op.start = repeat_start;
	o->base.self.ops = &repeat_receiver_ops;
	o->base.out = r;
	o->base.s = (const exec_adaptor_sender *)s;
	/* The child is connected at start, once per run. */
	return 0;
}

static const exec_sender_ops repeat_ops = {"repeat", repeat_connect, exec_adaptor_destroy};

static exec_sender *make(exec_sender *child, uint64_t n, exec_repeat_pred pred, void *ctx,
			 bool until)
{
	if (until && !pred) {
		exec_sender_free(child);
		return exec_sender_invalid(-EINVAL);
	}
	uint32_t values = child ? child->max_values : 0;
	if (!until)
		values = 0;
	int err;
	repeat_sender *s = (repeat_sender *)exec_adaptor_new(
		&repeat_ops, sizeof *s, child,
		sizeof(repeat_op) + (size_t)values * sizeof(exec_value), &err);
	if (!s)
		return exec_sender_invalid(err);
	s->n = n;
	s->pred = pred;
	s->ctx = ctx;
	s->base.base.max_values = values;
	return &s->base.base;
}

exec_sender *exec_repeat_n(exec_sender *s, uint64_t n)
{
	return make(s, n, NULL, NULL, false);
}

exec_sender *exec_repeat_until(exec_sender *s, exec_repeat_pred pred, void *ctx)
{
	return make(s, 0, pred, ctx, true);
}
