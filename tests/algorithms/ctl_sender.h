/* tests/algorithms/ctl_sender.h - a controllable child sender for the tests
 * of when_all, when_any, continues_on, starts_on and on.
 *
 * ctl_sender(mode, ...) builds a sender whose operations:
 *   CTL_VALUE     complete with one i64 value inside start;
 *   CTL_ERROR     complete with an error inside start;
 *   CTL_STOPPED   complete stopped inside start;
 *   CTL_WAIT_STOP complete stopped when their stop token fires (at once if
 *                 it already has), never otherwise;
 *   CTL_MANUAL    never complete by themselves: the test completes them with
 *                 ctl_complete_value / _error / _stopped, from any thread;
 *   CTL_CONNECT_FAIL  fail connect with -EBADF.
 * Every start is counted, and the environment the operation saw is recorded,
 * in the ctl_probe passed at build time (may be NULL). */
#ifndef CEXEC_TESTS_CTL_SENDER_H
#define CEXEC_TESTS_CTL_SENDER_H

#include "cexec_test.h"

#include <errno.h>

enum ctl_mode {
	CTL_VALUE,
	CTL_ERROR,
	CTL_STOPPED,
	CTL_WAIT_STOP,
	CTL_MANUAL,
	CTL_CONNECT_FAIL,
};

typedef struct ctl_op ctl_op;

typedef struct ctl_probe {
	AO_t starts;
	AO_t stop_seen; /* WAIT_STOP callbacks that ran */
	exec_env env;   /* the last environment seen at start */
	pthread_t start_thread;
	ctl_op *last;   /* the last started operation (for MANUAL) */
} ctl_probe;

typedef struct ctl_sender_t {
	exec_sender base;
	int mode;
	int64_t value;
	int err;
	ctl_probe *probe;
} ctl_sender_t;

struct ctl_op {
	exec_op op;
	exec_receiver *r;
	const ctl_sender_t *s;
	exec_stop_callback cb;
};

static inline void ctl_on_stop(exec_stop_callback *cb)
{
	ctl_op *o = EXEC_CONTAINER_OF(cb, ctl_op, cb);
	ctl_probe *p = o->s->probe;
	if (p)
		AO_fetch_and_add1(&p->stop_seen);
	/* Completing from inside the callback: nothing is touched after. */
	exec_set_stopped(o->r);
}

static inline void ctl_start(exec_op *op)
{
	ctl_op *o = (ctl_op *)op;
	const ctl_sender_t *s = o->s;
	if (s->probe) {
		s->probe->env = *exec_get_env(o->r);
		s->probe->start_thread = pthread_self();
		s->probe->last = o;
		AO_fetch_and_add1_full(&s->probe->starts);
	}
	switch (s->mode) {
	case CTL_VALUE: {
		exec_value v = exec_value_i64(s->value);
		exec_set_value(o->r, &v, 1);
		break;
	}
	case CTL_ERROR:
		exec_set_error(o->r, s->err);
		break;
	case CTL_STOPPED:
		exec_set_stopped(o->r);
		break;
	case CTL_WAIT_STOP:
		exec_stop_callback_register(&o->cb, exec_get_stop_token(o->r), ctl_on_stop);
		break;
	default:
		break;
	}
}

static inline int ctl_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	const ctl_sender_t *cs = (const ctl_sender_t *)s;
	if (cs->mode == CTL_CONNECT_FAIL)
		return -EBADF;
	ctl_op *o = (ctl_op *)op;
	o->op.start = ctl_start;
	o->r = r;
	o->s = cs;
	return 0;
}

static inline void ctl_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops ctl_ops = {"ctl", ctl_connect, ctl_destroy};

static inline exec_sender *ctl_sender(int mode, int64_t value, int err, ctl_probe *probe)
{
	ctl_sender_t *s = exec_sender_new(&ctl_ops, sizeof *s);
	assert_non_null(s);
	s->base.op_size = sizeof(ctl_op);
	s->base.max_values = mode == CTL_VALUE || mode == CTL_MANUAL ? 1 : 0;
	s->mode = mode;
	s->value = value;
	s->err = err;
	s->probe = probe;
	return &s->base;
}

static inline exec_sender *ctl_value(int64_t v)
{
	return ctl_sender(CTL_VALUE, v, 0, NULL);
}

static inline exec_sender *ctl_error(int err)
{
	return ctl_sender(CTL_ERROR, 0, err, NULL);
}

static inline exec_sender *ctl_stopped(void)
{
	return ctl_sender(CTL_STOPPED, 0, 0, NULL);
}

static inline void ctl_complete_value(ctl_op *o, int64_t v)
{
	exec_value x = exec_value_i64(v);
	exec_set_value(o->r, &x, 1);
}

static inline void ctl_complete_error(ctl_op *o, int err)
{
	exec_set_error(o->r, err);
}

static inline void ctl_complete_stopped(ctl_op *o)
{
	exec_set_stopped(o->r);
}

/* A run_loop driven by a thread of its own, so that tests can check on
 * which thread work ran. */
typedef struct loop_thread {
	exec_run_loop loop;
	pthread_t thread;
} loop_thread;

static inline void *loop_thread_main(void *arg)
{
	exec_run_loop_run(&((loop_thread *)arg)->loop);
	return NULL;
}

static inline void loop_thread_start(loop_thread *lt)
{
	assert_int_equal(exec_run_loop_init(&lt->loop), 0);
	assert_int_equal(pthread_create(&lt->thread, NULL, loop_thread_main, lt), 0);
}

static inline void loop_thread_stop(loop_thread *lt)
{
	exec_run_loop_finish(&lt->loop);
	pthread_join(lt->thread, NULL);
	exec_run_loop_destroy(&lt->loop);
}

/* A then function that records the thread it ran on and passes its
 * values through. ctx: a pthread_t. */
static inline int record_thread(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	*(pthread_t *)ctx = pthread_self();
	if (n > EXEC_THEN_MAX_VALUES)
		return -ERANGE;
	if (n)
		memcpy(out, in, n * sizeof *in);
	return (int)n;
}

/* A scheduler that refuses every task, to test failed scheduling. */
static inline int refusing_submit(exec_scheduler *s, exec_task *t)
{
	(void)s;
	(void)t;
	return -EAGAIN;
}

static const exec_scheduler_ops refusing_ops = {.name = "refusing",
						 .submit = refusing_submit};
static exec_scheduler refusing_scheduler __attribute__((unused)) = {&refusing_ops};

/* A receiver that frees the operation's storage as soon as it is completed,
 * as start_detached does: under ASan any touch of the operation after its
 * completion call is reported. It records the outcome and signals. */
typedef struct freeing_receiver {
	exec_receiver base;
	exec_env env;
	void *storage;
	int channel; /* 1 value, 2 error, 3 stopped */
	int error;
	size_t count;
	int64_t first;
	pthread_t thread;
	AO_t calls;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} freeing_receiver;

static inline void freeing_done_(exec_receiver *r, int channel, int err,
				 const exec_value *v, size_t n)
{
	freeing_receiver *f = EXEC_CONTAINER_OF(r, freeing_receiver, base);
	/* Read the values first: they may live in the operation state. */
	f->count = n;
	f->first = n && v[0].type == EXEC_VALUE_I64 ? v[0].as.i64 : -1;
	free(f->storage);
	f->storage = NULL;
	f->channel = channel;
	f->error = err;
	f->thread = pthread_self();
	pthread_mutex_lock(&f->mu);
	AO_fetch_and_add1_release(&f->calls);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static inline void freeing_value_(exec_receiver *r, const exec_value *v, size_t n)
{
	freeing_done_(r, 1, 0, v, n);
}

static inline void freeing_error_(exec_receiver *r, int err)
{
	freeing_done_(r, 2, err, NULL, 0);
}

static inline void freeing_stopped_(exec_receiver *r)
{
	freeing_done_(r, 3, 0, NULL, 0);
}

static inline const exec_env *freeing_env_(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, freeing_receiver, base)->env;
}

static const exec_receiver_ops freeing_ops = {freeing_value_, freeing_error_,
					      freeing_stopped_, freeing_env_};

static inline void freeing_init(freeing_receiver *f)
{
	memset(f, 0, sizeof *f);
	f->base.ops = &freeing_ops;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
}

/* Connects into fresh heap storage and starts; the completion frees it. */
static inline void freeing_run(const exec_sender *s, freeing_receiver *f)
{
	size_t align = exec_sender_op_align(s) < sizeof(void *) ? sizeof(void *)
							       : exec_sender_op_align(s);
	assert_int_equal(posix_memalign(&f->storage, align, exec_sender_op_size(s)), 0);
	void *op = f->storage;
	assert_int_equal(exec_connect(s, op, &f->base), 0);
	exec_start((exec_op *)op);
}

static inline void freeing_wait(freeing_receiver *f)
{
	pthread_mutex_lock(&f->mu);
	while (AO_load_acquire(&f->calls) == 0)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	assert_int_equal(AO_load_acquire(&f->calls), 1);
}

static inline void freeing_destroy(freeing_receiver *f)
{
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
}

#endif
