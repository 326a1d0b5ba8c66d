#include "algorithms/bulk.h"

#include <errno.h>

#include "exec/adaptor.h"
#include "exec/error.h"
#include "schedulers/thread_pool.h"

/* Values delivered from the completing thread's stack; more are passed
 * from the operation state. */
#define STACK_VALUES 16
/* Grains per runner: small enough to balance uneven workers, large enough
 * that the shared counter is touched rarely. */
#define GRAINS_PER_RUNNER 16

typedef struct bulk_sender {
	exec_adaptor_sender base;
	exec_scheduler *sched; /* NULL: the pool the child completes on */
	size_t n;
	exec_bulk_fn fn;
	void *ctx;
} bulk_sender;

typedef struct bulk_op bulk_op;

typedef struct runner {
	exec_task task;
	bulk_op *op;
} runner;

struct bulk_op {
	exec_adaptor_op base;
	runner runners[EXEC_BULK_MAX_CHUNKS];
	AO_t next;    /* first index nobody has taken */
	AO_t active;  /* runners (and the starter) still inside */
	AO_t error;   /* the first error from fn, as (AO_t)(intptr_t)err */
	AO_t refused; /* a submit error, or EXEC_STOPPED from a scheduler */
	exec_stop_token token;
	size_t grain;
	size_t count;
	exec_value slots[]; /* the child's max_values; its op state follows */
};

static bulk_op *from(exec_receiver *r)
{
	return (bulk_op *)exec_adaptor_from_receiver(r);
}

static const bulk_sender *sender_of(const bulk_op *o)
{
	return (const bulk_sender *)o->base.s;
}

static void complete(bulk_op *o)
{
	const bulk_sender *s = sender_of(o);
	exec_receiver *out = o->base.out;
	int err = (int)(intptr_t)AO_load_acquire(&o->error);
	if (err) {
		exec_set_error(out, err);
		return;
	}
	if (AO_load_acquire(&o->next) < s->n) {
		int why = (int)(intptr_t)AO_load_acquire(&o->refused);
		if (why < 0)
			exec_set_error(out, why);
		else
			exec_set_stopped(out);
		return;
	}
	if (o->count <= STACK_VALUES) {
		exec_value v[STACK_VALUES];
		size_t count = o->count;
		for (size_t i = 0; i < count; i++)
			v[i] = o->slots[i];
		exec_set_value(out, v, count);
	} else {
		exec_set_value(out, o->slots, o->count);
	}
}

static void finish(bulk_op *o)
{
	/* The RMW chain orders every runner's work before the completion. */
	if (AO_fetch_and_sub1_full(&o->active) == 1)
		complete(o);
}

static void work(bulk_op *o)
{
	const bulk_sender *s = sender_of(o);
	size_t n = s->n, grain = o->grain;
	for (;;) {
		if (AO_load(&o->error) || exec_stop_token_requested(o->token))
			return;
		size_t lo = (size_t)AO_fetch_and_add(&o->next, (AO_t)grain);
		if (lo >= n)
			return;
		size_t hi = n - lo < grain ? n : lo + grain;
		for (size_t i = lo; i < hi; i++) {
			int rc = s->fn(s->ctx, i, o->slots, o->count);
			if (rc < 0) {
				AO_compare_and_swap_full(&o->error, 0, (AO_t)(intptr_t)rc);
				return;
			}
			/* Another runner's error stops this grain too. */
			if (AO_load(&o->error))
				return;
		}
	}
}

static void runner_fn(exec_task *t, int status)
{
	runner *rn = EXEC_CONTAINER_OF(t, runner, task);
	bulk_op *o = rn->op;
	if (status == 0)
		work(o);
	else
		AO_compare_and_swap_full(&o->refused, 0, (AO_t)(intptr_t)status);
	finish(o);
}

static void child_value(exec_receiver *r, const exec_value *v, size_t count)
{
	bulk_op *o = from(r);
	const bulk_sender *s = sender_of(o);
	for (size_t i = 0; i < count; i++)
		o->slots[i] = v[i];
	o->count = count;
	o->token = exec_get_stop_token(o->base.out);
	AO_store(&o->next, 0);
	AO_store(&o->error, 0);
	AO_store(&o->refused, 0);

	exec_scheduler *sched = s->sched;
	bool starter_works = false;
	if (!sched) {
		exec_thread_pool *pool = exec_thread_pool_current();
		sched = pool ? exec_thread_pool_scheduler(pool) : NULL;
		starter_works = true;
	}
	size_t runners = sched ? exec_scheduler_concurrency(sched) : 1;
	if (runners > EXEC_BULK_MAX_CHUNKS)
		runners = EXEC_BULK_MAX_CHUNKS;
	if (runners > s->n)
		runners = s->n ? s->n : 1;
	if (runners == 0)
		runners = 1;
	size_t grain = s->n / (runners * GRAINS_PER_RUNNER);
	o->grain = grain ? grain : 1;
	/* Submitted runners, plus one for the starter: the operation cannot
	 * complete (and be freed) while this function still touches it. */
	size_t first = starter_works ? 1 : 0;
	AO_store(&o->active, (AO_t)(runners - first + 1));
	for (size_t k = first; k < runners; k++) {
		runner *rn = &o->runners[k];
		rn->op = o;
		rn->task.fn = runner_fn;
		rn->task.next = NULL;
		for (unsigned j = 0; j < 4; j++)
			rn->task.sched_private[j].u = 0;
		int rc = exec_scheduler_submit(sched, &rn->task);
		if (rc < 0) {
			AO_compare_and_swap_full(&o->refused, 0, (AO_t)(intptr_t)rc);
			finish(o); /* cannot reach 0: the starter holds one */
		}
	}
	if (starter_works)
		work(o);
	finish(o);
}

static const exec_receiver_ops child_ops = {child_value, exec_adaptor_forward_error,
					    exec_adaptor_forward_stopped,
					    exec_adaptor_forward_env};

static int bulk_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	return exec_adaptor_connect(s, op, r, &child_ops, exec_adaptor_start);
}

static const exec_sender_ops bulk_ops = {"bulk", bulk_connect, exec_adaptor_destroy};

static exec_sender *make(exec_sender *s, exec_scheduler *sched, bool need_sched,
			 size_t n, exec_bulk_fn fn, void *ctx)
{
	if (!s || !fn || (need_sched && (!sched || !sched->ops || !sched->ops->submit))) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	size_t header = sizeof(bulk_op) + (size_t)s->max_values * sizeof(exec_value);
	if (header > EXEC_OP_SIZE_MAX) {
		exec_sender_free(s);
		return exec_sender_invalid(-EINVAL);
	}
	int err;
	bulk_sender *b = (bulk_sender *)exec_adaptor_new(&bulk_ops, sizeof *b, s, header,
							 &err);
	if (!b)
		return exec_sender_invalid(err);
	b->sched = sched;
	b->n = n;
	b->fn = fn;
	b->ctx = ctx;
	return &b->base.base;
}

exec_sender *exec_bulk(exec_sender *s, size_t n, exec_bulk_fn fn, void *ctx)
{
	return make(s, NULL, false, n, fn, ctx);
}

exec_sender *exec_bulk_on(exec_sender *s, exec_scheduler *sched, size_t n,
			  exec_bulk_fn fn, void *ctx)
{
	return make(s, sched, true, n, fn, ctx);
}
