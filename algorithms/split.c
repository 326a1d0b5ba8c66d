#include "algorithms/split.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "exec/error.h"

enum { IDLE, RUNNING, DONE };
enum { CH_VALUE, CH_ERROR, CH_STOPPED };

typedef struct consumer consumer;

typedef struct split_state {
	AO_t refs;
	pthread_mutex_t mu;
	int status;         /* IDLE, RUNNING, DONE: under mu */
	consumer *head;     /* waiting consumers: under mu */
	exec_sender *child;
	exec_receiver self; /* what the child completes to */
	exec_env child_env; /* never stops, no scheduler, the starter's allocator */
	exec_allocator alloc;
	exec_op *child_op;  /* from child_env's allocator while the child runs */
	int channel, error; /* written before status = DONE, read after */
	size_t count;
	exec_value values[]; /* the child's max_values */
} split_state;

struct consumer {
	exec_op op;
	exec_receiver *r;
	split_state *st;
	consumer *next, *prev;
	bool in_list; /* under st->mu */
	exec_stop_callback cb;
};

typedef struct split_sender {
	exec_sender base;
	split_state *st;
} split_sender;

static size_t child_op_size(const split_state *st)
{
	return st->child->op_size ? st->child->op_size : 1;
}

static void state_unref(split_state *st)
{
	if (AO_fetch_and_sub1_full(&st->refs) != 1)
		return;
	pthread_mutex_destroy(&st->mu);
	exec_sender_free(st->child);
	free(st);
}

/* Delivers the stored result, then drops the consumer's reference. The
 * receiver may free the consumer inside the call. */
static void deliver(split_state *st, exec_receiver *r)
{
	if (st->channel == CH_VALUE)
		exec_set_value(r, st->values, st->count);
	else if (st->channel == CH_ERROR)
		exec_set_error(r, st->error);
	else
		exec_set_stopped(r);
	state_unref(st);
}

/* The child finished (its result is stored): free its operation state (it
 * touches it no more once it has called us), publish DONE and complete every
 * waiter. Each waiter's stop callback is deregistered first (waiting for it
 * if it is running elsewhere; once status is DONE it removes nothing), so the
 * detached list belongs to this thread. */
static void publish(split_state *st)
{
	if (st->child_op) {
		exec_env_free(&st->child_env, st->child_op, child_op_size(st));
		st->child_op = NULL;
	}
	pthread_mutex_lock(&st->mu);
	st->status = DONE;
	consumer *c = st->head;
	st->head = NULL;
	for (consumer *x = c; x; x = x->next)
		x->in_list = false;
	pthread_mutex_unlock(&st->mu);
	while (c) {
		consumer *next = c->next;
		exec_stop_callback_deregister(&c->cb);
		deliver(st, c->r);
		c = next;
	}
	state_unref(st); /* the child's reference */
}

static split_state *from_self(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, split_state, self);
}

static void child_value(exec_receiver *r, const exec_value *v, size_t n)
{
	split_state *st = from_self(r);
	for (size_t i = 0; i < n; i++)
		st->values[i] = v[i];
	st->count = n;
	st->channel = CH_VALUE;
	publish(st);
}

static void child_error(exec_receiver *r, int err)
{
	split_state *st = from_self(r);
	st->channel = CH_ERROR;
	st->error = err;
	publish(st);
}

static void child_stopped(exec_receiver *r)
{
	split_state *st = from_self(r);
	st->channel = CH_STOPPED;
	publish(st);
}

static const exec_env *child_get_env(exec_receiver *r)
{
	return &from_self(r)->child_env;
}

static const exec_receiver_ops child_ops = {child_value, child_error, child_stopped,
					    child_get_env};

static void on_stop(exec_stop_callback *cb)
{
	consumer *c = EXEC_CONTAINER_OF(cb, consumer, cb);
	split_state *st = c->st;
	pthread_mutex_lock(&st->mu);
	bool removed = c->in_list;
	if (removed) {
		if (c->prev)
			c->prev->next = c->next;
		else
			st->head = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->in_list = false;
	}
	pthread_mutex_unlock(&st->mu);
	if (removed) {
		/* Deregistering from inside the callback tells the stop source
		 * not to touch the node again: the receiver may free c now. */
		exec_stop_callback_deregister(&c->cb);
		exec_receiver *r = c->r;
		exec_set_stopped(r);
		state_unref(st);
	}
}

/* Takes the child's reference if nobody has started it, and copies the
 * starter's allocator (env NULL: malloc) while the starter is surely alive;
 * mu held. */
static bool claim_start_locked(split_state *st, const exec_env *env)
{
	if (st->status != IDLE)
		return false;
	st->status = RUNNING;
	AO_fetch_and_add1(&st->refs);
	if (env && env->allocator) {
		st->alloc = *env->allocator;
		st->child_env.allocator = &st->alloc;
	}
	return true;
}

/* Runs the child once, after claim_start_locked: its operation state comes
 * from the starter's allocator. A failure to allocate or connect is every
 * consumer's result. */
static void run_child(split_state *st)
{
	exec_sender *s = st->child;
	exec_op *op = exec_env_alloc(&st->child_env, child_op_size(st), s->op_align);
	if (!op) {
		st->channel = CH_ERROR;
		st->error = -ENOMEM;
		publish(st);
		return;
	}
	st->child_op = op;
	int err = s->ops->connect(s, op, &st->self);
	if (err < 0) {
		st->channel = CH_ERROR;
		st->error = err;
		publish(st);
		return;
	}
	exec_start(op);
}

static void consumer_start(exec_op *op)
{
	consumer *c = (consumer *)op;
	split_state *st = c->st;
	const exec_env *env = exec_get_env(c->r);
	exec_stop_token tok = env->stop_token;
	AO_fetch_and_add1(&st->refs);
	c->in_list = false;
	c->next = c->prev = NULL;
	/* Registered before joining the list: a callback that fires earlier
	 * (inline, say) finds nothing to remove and does nothing; the check
	 * under the lock below covers that case. */
	exec_stop_callback_register(&c->cb, tok, on_stop);
	pthread_mutex_lock(&st->mu);
	if (st->status == DONE) {
		pthread_mutex_unlock(&st->mu);
		exec_stop_callback_deregister(&c->cb);
		deliver(st, c->r);
		return;
	}
	if (exec_stop_token_requested(tok)) {
		pthread_mutex_unlock(&st->mu);
		exec_stop_callback_deregister(&c->cb);
		exec_receiver *r = c->r;
		exec_set_stopped(r);
		state_unref(st);
		return;
	}
	c->next = st->head;
	if (st->head)
		st->head->prev = c;
	st->head = c;
	c->in_list = true;
	bool start = claim_start_locked(st, env);
	pthread_mutex_unlock(&st->mu);
	/* c (and its receiver and env) may be complete and gone from here on;
	 * st is kept alive by the child's reference when we start it. */
	if (start)
		run_child(st);
}

static int split_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	consumer *c = (consumer *)op;
	c->op.start = consumer_start;
	c->r = r;
	c->st = ((const split_sender *)s)->st;
	return 0;
}

static void split_destroy(exec_sender *s)
{
	state_unref(((split_sender *)s)->st);
	exec_sender_delete(s);
}

static const exec_sender_ops split_ops = {"split", split_connect, split_destroy};

exec_sender *exec_split(exec_sender *s)
{
	if (!s)
		return exec_sender_invalid(-EINVAL);
	if (exec_sender_build_error(s) != 0)
		return s;
	split_state *st = malloc(sizeof *st + (size_t)s->max_values * sizeof(exec_value));
	split_sender *ss = st ? exec_sender_new(&split_ops, sizeof *ss) : NULL;
	if (!ss || pthread_mutex_init(&st->mu, NULL) != 0) {
		if (ss)
			exec_sender_delete(&ss->base);
		free(st);
		exec_sender_free(s);
		return exec_sender_invalid(-ENOMEM);
	}
	st->refs = 1; /* the split sender's */
	st->status = IDLE;
	st->head = NULL;
	st->child = s;
	st->self.ops = &child_ops;
	st->child_env = exec_env_empty;
	st->child_env.stop_token = exec_stop_token_never();
	st->child_env.scheduler = NULL;
	st->child_env.allocator = NULL;
	st->child_op = NULL;
	st->channel = CH_STOPPED;
	st->error = 0;
	st->count = 0;
	ss->base.op_size = sizeof(consumer);
	ss->base.op_align = _Alignof(consumer) > EXEC_OP_ALIGN ? _Alignof(consumer)
							      : EXEC_OP_ALIGN;
	ss->base.max_values = s->max_values;
	ss->st = st;
	return &ss->base;
}

int exec_split_start(exec_sender *split)
{
	if (!split || split->ops != &split_ops)
		return -EINVAL;
	split_state *st = ((split_sender *)split)->st;
	pthread_mutex_lock(&st->mu);
	bool start = claim_start_locked(st, NULL);
	pthread_mutex_unlock(&st->mu);
	if (start)
		run_child(st);
	return 0;
}
