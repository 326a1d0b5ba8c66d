#include "algorithms/let.h"

#include <errno.h>
#include <string.h>

#include "exec/adaptor.h"
#include "exec/trampoline.h"

enum { LET_VALUE, LET_ERROR, LET_STOPPED };

typedef struct let_sender {
	exec_adaptor_sender base; /* child: the predecessor */
	int kind;
	exec_let_value_fn value_fn;
	exec_let_error_fn error_fn;
	exec_let_stopped_fn stopped_fn;
	void *ctx;
	uint32_t area_size;  /* the shared area starts at base.child_off */
	uint32_t area_align;
	uint32_t pred_values; /* capacity of let_op.values */
} let_sender;

typedef struct let_op {
	exec_adaptor_op base;     /* self: the predecessor's receiver */
	exec_receiver succ_self;  /* the successor's receiver */
	/* The outer receiver's environment, read once at connect (it does not
	 * change while the op lives): nested lets would otherwise forward each
	 * query through every enclosing level. */
	const exec_env *env;
	exec_task task;           /* trampoline node: begin, then deliver */
	exec_sender *succ;        /* owned while the successor runs */
	void *heap;               /* successor op storage, when allocated */
	size_t heap_size;
	const exec_value *pending;   /* successor values, delivered at once */
	exec_value *deferred;        /* or copied for a deferred delivery */
	exec_value *deferred_heap;   /* deferred, when allocated */
	size_t count;
	int err;
	int outcome; /* LET_VALUE / LET_ERROR / LET_STOPPED */
	exec_value values[];         /* the predecessor's values (let_value) */
} let_op;

static inline const let_sender *let_s(const let_op *o)
{
	return (const let_sender *)o->base.s;
}

static inline void *let_area(let_op *o)
{
	return exec_adaptor_child_op(&o->base);
}

/* Frees what the successor run owned. out is still alive. */
static void let_release(let_op *o)
{
	const exec_env *env = o->env;
	if (o->deferred_heap) {
		exec_env_free(env, o->deferred_heap, o->count * sizeof(exec_value));
		o->deferred_heap = NULL;
	}
	if (o->heap) {
		exec_env_free(env, o->heap, o->heap_size);
		o->heap = NULL;
	}
	exec_sender_free(o->succ);
	o->succ = NULL;
}

/* Trampoline task: hands the successor's completion to the outer receiver.
 * The values are copied to the stack first so that everything the
 * successor owned is freed before the completion call, after which o must
 * not be touched. */
static void let_deliver(exec_task *t, int status)
{
	(void)status;
	let_op *o = EXEC_CONTAINER_OF(t, let_op, task);
	exec_receiver *out = o->base.out;
	int outcome = o->outcome, err = o->err;
	size_t n = o->count;
	exec_value vals[EXEC_LET_MAX_VALUES];
	if (outcome == LET_VALUE) {
		const exec_value *src = o->pending ? o->pending : o->deferred;
		for (size_t i = 0; i < n; i++)
			vals[i] = src[i];
	}
	let_release(o);
	if (outcome == LET_VALUE)
		exec_set_value(out, vals, n);
	else if (outcome == LET_ERROR)
		exec_set_error(out, err);
	else
		exec_set_stopped(out);
}

/* Every successor completion goes through the trampoline: a chain of lets
 * completing inside start would otherwise nest one call per link. */
static void let_succ_done(let_op *o, int outcome, int err, const exec_value *v, size_t n)
{
	o->outcome = outcome;
	o->err = err;
	o->count = n;
	o->pending = NULL;
	o->task.fn = let_deliver;
	if (outcome == LET_VALUE && n) {
		if (exec_trampoline_depth() < EXEC_TRAMPOLINE_DEPTH) {
			/* exec_trampoline_run runs the task before returning:
			 * v is still valid then. */
			o->pending = v;
		} else {
			/* Deferred: v dies when we return. The successor has
			 * completed, so the area (where its op may live, and
			 * v with it: hence memmove) is ours again. */
			size_t bytes = n * sizeof(exec_value);
			if (bytes <= let_s(o)->area_size) {
				o->deferred = let_area(o);
				memmove(o->deferred, v, bytes);
			} else {
				o->deferred_heap = exec_env_alloc(o->env,
								  bytes, _Alignof(exec_value));
				if (!o->deferred_heap) {
					o->outcome = LET_ERROR;
					o->err = -ENOMEM;
					o->count = 0;
				} else {
					memcpy(o->deferred_heap, v, bytes);
					o->deferred = o->deferred_heap;
				}
			}
		}
	}
	exec_trampoline_run(&o->task);
}

static void let_succ_value(exec_receiver *r, const exec_value *v, size_t n)
{
	let_op *o = EXEC_CONTAINER_OF(r, let_op, succ_self);
	if (n > EXEC_LET_MAX_VALUES)
		let_succ_done(o, LET_ERROR, -ERANGE, NULL, 0);
	else
		let_succ_done(o, LET_VALUE, 0, v, n);
}

static void let_succ_error(exec_receiver *r, int err)
{
	let_succ_done(EXEC_CONTAINER_OF(r, let_op, succ_self), LET_ERROR, err, NULL, 0);
}

static void let_succ_stopped(exec_receiver *r)
{
	let_succ_done(EXEC_CONTAINER_OF(r, let_op, succ_self), LET_STOPPED, 0, NULL, 0);
}

static const exec_env *let_succ_env(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, let_op, succ_self)->env;
}

static const exec_env *let_pred_env(exec_receiver *r)
{
	return ((let_op *)exec_adaptor_from_receiver(r))->env;
}

static const exec_receiver_ops let_succ_ops = {let_succ_value, let_succ_error,
					       let_succ_stopped, let_succ_env};

/* Trampoline task: calls fn, then connects and starts the successor. Runs
 * after the predecessor has completed; the predecessor's code no longer
 * touches its state once it has called the completion (the protocol's
 * rule, which lets a receiver free the state in that call), so the
 * successor may be constructed over it. */
static void let_begin(exec_task *t, int status)
{
	(void)status;
	let_op *o = EXEC_CONTAINER_OF(t, let_op, task);
	const let_sender *s = let_s(o);
	exec_sender *succ;
	if (s->kind == LET_VALUE)
		succ = s->value_fn(s->ctx, o->values, o->count);
	else if (s->kind == LET_ERROR)
		succ = s->error_fn(s->ctx, o->err);
	else
		succ = s->stopped_fn(s->ctx);
	if (!succ) {
		exec_set_error(o->base.out, -EINVAL);
		return;
	}
	if (succ->max_values > EXEC_LET_MAX_VALUES) {
		exec_sender_free(succ);
		exec_set_error(o->base.out, -ERANGE);
		return;
	}
	o->succ = succ;
	void *storage = let_area(o);
	if (succ->op_size > s->area_size || succ->op_align > s->area_align) {
		o->heap_size = succ->op_size ? succ->op_size : 1;
		o->heap = exec_env_alloc(o->env, o->heap_size,
					 succ->op_align);
		if (!o->heap) {
			let_release(o);
			exec_set_error(o->base.out, -ENOMEM);
			return;
		}
		storage = o->heap;
	}
	o->succ_self.ops = &let_succ_ops;
	int rc = succ->ops->connect(succ, (exec_op *)storage, &o->succ_self);
	if (rc < 0) {
		let_release(o);
		exec_set_error(o->base.out, rc);
		return;
	}
	exec_start((exec_op *)storage);
}

static void let_pred_value(exec_receiver *r, const exec_value *v, size_t n)
{
	let_op *o = (let_op *)exec_adaptor_from_receiver(r);
	if (n > let_s(o)->pred_values) {
		exec_set_error(o->base.out, -ERANGE);
		return;
	}
	/* Copied: v lives only for this call, the successor may need them
	 * for its whole run. */
	for (size_t i = 0; i < n; i++)
		o->values[i] = v[i];
	o->count = n;
	o->task.fn = let_begin;
	exec_trampoline_run(&o->task);
}

static void let_pred_error(exec_receiver *r, int err)
{
	let_op *o = (let_op *)exec_adaptor_from_receiver(r);
	o->err = err;
	o->task.fn = let_begin;
	exec_trampoline_run(&o->task);
}

static void let_pred_stopped(exec_receiver *r)
{
	let_op *o = (let_op *)exec_adaptor_from_receiver(r);
	o->task.fn = let_begin;
	exec_trampoline_run(&o->task);
}

static const exec_receiver_ops let_value_pred_ops = {
	let_pred_value, exec_adaptor_forward_error, exec_adaptor_forward_stopped,
	let_pred_env};
static const exec_receiver_ops let_error_pred_ops = {
	exec_adaptor_forward_value, let_pred_error, exec_adaptor_forward_stopped,
	let_pred_env};
static const exec_receiver_ops let_stopped_pred_ops = {
	exec_adaptor_forward_value, exec_adaptor_forward_error, let_pred_stopped,
	let_pred_env};

static int let_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	const let_sender *ls = (const let_sender *)s;
	let_op *o = (let_op *)op;
	o->succ = NULL;
	o->heap = NULL;
	o->heap_size = 0;
	o->pending = NULL;
	o->deferred = NULL;
	o->deferred_heap = NULL;
	o->count = 0;
	o->err = 0;
	o->outcome = LET_VALUE;
	o->env = exec_get_env(r);
	const exec_receiver_ops *ops = ls->kind == LET_VALUE   ? &let_value_pred_ops
				       : ls->kind == LET_ERROR ? &let_error_pred_ops
							       : &let_stopped_pred_ops;
	return exec_adaptor_connect(s, op, r, ops, exec_adaptor_start);
}

static void let_destroy(exec_sender *s)
{
	exec_adaptor_destroy(s);
}

static const exec_sender_ops let_value_ops = {"let_value", let_connect, let_destroy};
static const exec_sender_ops let_error_ops = {"let_error", let_connect, let_destroy};
static const exec_sender_ops let_stopped_ops = {"let_stopped", let_connect, let_destroy};

static exec_sender *make(exec_sender *child, int kind, exec_let_value_fn vfn,
			 exec_let_error_fn efn, exec_let_stopped_fn sfn, void *ctx)
{
	if (!vfn && !efn && !sfn) {
		exec_sender_free(child);
		return exec_sender_invalid(-EINVAL);
	}
	const exec_sender_ops *ops = kind == LET_VALUE   ? &let_value_ops
				     : kind == LET_ERROR ? &let_error_ops
							 : &let_stopped_ops;
	uint32_t pred_values = kind == LET_VALUE && child ? child->max_values : 0;
	int err;
	let_sender *s = (let_sender *)exec_adaptor_new(
		ops, sizeof *s, child, sizeof(let_op) + (size_t)pred_values * sizeof(exec_value),
		&err);
	if (!s)
		return exec_sender_invalid(err);
	s->kind = kind;
	s->value_fn = vfn;
	s->error_fn = efn;
	s->stopped_fn = sfn;
	s->ctx = ctx;
	s->pred_values = pred_values;
	/* The area holds the predecessor's op state and later the
	 * successor's; it starts at child_off, aligned to the child's. */
	uint32_t child_size = s->base.child->op_size;
	s->area_size = child_size > EXEC_LET_INLINE_SIZE ? child_size : EXEC_LET_INLINE_SIZE;
	s->area_align = s->base.child->op_align;
	uint64_t end = (uint64_t)s->base.child_off + s->area_size;
	if (end > EXEC_OP_SIZE_MAX) {
		exec_sender_free(&s->base.base);
		return exec_sender_invalid(-ENOMEM);
	}
	s->base.base.op_size = (uint32_t)end;
	uint32_t mv = kind == LET_VALUE ? 0 : s->base.child->max_values;
	s->base.base.max_values = mv > EXEC_LET_MAX_VALUES ? mv : EXEC_LET_MAX_VALUES;
	return &s->base.base;
}

exec_sender *exec_let_value(exec_sender *s, exec_let_value_fn fn, void *ctx)
{
	return make(s, LET_VALUE, fn, NULL, NULL, ctx);
}

exec_sender *exec_let_error(exec_sender *s, exec_let_error_fn fn, void *ctx)
{
	return make(s, LET_ERROR, NULL, fn, NULL, ctx);
}

exec_sender *exec_let_stopped(exec_sender *s, exec_let_stopped_fn fn, void *ctx)
{
	return make(s, LET_STOPPED, NULL, NULL, fn, ctx);
}
