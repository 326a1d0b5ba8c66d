#include "exec/channel.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "exec/error.h"
#include "exec/trampoline.h"

/* Where a waiting-capable operation is. Moves happen under the channel
 * lock; whoever moves an operation to TAKEN owns its completion. */
enum { OP_INIT, OP_QUEUED, OP_TAKEN, OP_STOP_EARLY };

typedef struct chan_op chan_op;

typedef struct chan_list {
	chan_op *head, *tail;
} chan_list;

struct exec_channel {
	pthread_mutex_t mu;
	exec_value *buf;
	size_t cap, first, count;
	chan_list senders, receivers; /* waiting operations, oldest first */
	bool closed;
};

struct chan_op {
	exec_op op;
	exec_task task; /* completes a waiter through the trampoline */
	exec_stop_callback cb;
	exec_channel *ch;
	exec_receiver *r;
	chan_op *prev, *next;
	exec_value v; /* send: the item; recv: the item received */
	int state;
	int result; /* for a waiter: how the one who took it says to complete */
	const exec_value *slot;
	bool is_send;
	bool watching;
};

typedef struct chan_sender {
	exec_sender base;
	exec_channel *ch;
	exec_value v;
	const exec_value *slot; /* send_from: read at start */
	bool is_send;
} chan_sender;

static void list_push(chan_list *l, chan_op *o)
{
	o->next = NULL;
	o->prev = l->tail;
	if (l->tail)
		l->tail->next = o;
	else
		l->head = o;
	l->tail = o;
}

static void list_unlink(chan_list *l, chan_op *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		l->head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		l->tail = o->prev;
	o->prev = o->next = NULL;
}

static chan_op *list_pop(chan_list *l)
{
	chan_op *o = l->head;
	if (o)
		list_unlink(l, o);
	return o;
}

static void buf_push(exec_channel *ch, exec_value v)
{
	ch->buf[(ch->first + ch->count) % ch->cap] = v;
	ch->count++;
}

static exec_value buf_pop(exec_channel *ch)
{
	exec_value v = ch->buf[ch->first];
	ch->first = (ch->first + 1) % ch->cap;
	ch->count--;
	return v;
}

/* Completes o with res. o must be TAKEN (or never published), and its stop
 * callback is deregistered first, which waits if it is running elsewhere
 * (it finds o TAKEN and leaves it alone). */
static void op_finish(chan_op *o, int res)
{
	if (o->watching)
		exec_stop_callback_deregister(&o->cb);
	exec_receiver *r = o->r;
	exec_value v = o->v;
	bool is_send = o->is_send;
	/* o may be gone from here on. */
	if (res == 0) {
		if (is_send)
			exec_set_value(r, NULL, 0);
		else
			exec_set_value(r, &v, 1);
	} else if (res == EXEC_STOPPED) {
		exec_set_stopped(r);
	} else {
		exec_set_error(r, res);
	}
}

static void wake_task(exec_task *t, int status)
{
	(void)status;
	chan_op *o = EXEC_CONTAINER_OF(t, chan_op, task);
	op_finish(o, o->result);
}

/* Completes a waiter taken off a list; called without the lock. */
static void wake(chan_op *w)
{
	w->task.fn = wake_task;
	exec_trampoline_run(&w->task);
}

static void on_stop(exec_stop_callback *cb)
{
	chan_op *o = EXEC_CONTAINER_OF(cb, chan_op, cb);
	exec_channel *ch = o->ch;
	pthread_mutex_lock(&ch->mu);
	if (o->state == OP_QUEUED) {
		list_unlink(o->is_send ? &ch->senders : &ch->receivers, o);
		o->state = OP_TAKEN;
		pthread_mutex_unlock(&ch->mu);
		/* From inside the callback: tells the stop source not to touch
		 * cb after we return, since completing may free it. */
		exec_stop_callback_deregister(cb);
		o->watching = false;
		op_finish(o, EXEC_STOPPED);
		return;
	}
	if (o->state == OP_INIT)
		o->state = OP_STOP_EARLY; /* start has not decided yet: it will */
	pthread_mutex_unlock(&ch->mu);
}

static void chan_start(exec_op *op)
{
	chan_op *o = (chan_op *)op;
	exec_channel *ch = o->ch;
	o->state = OP_INIT;
	o->watching = false;
	exec_stop_token tok = exec_get_stop_token(o->r);
	/* Registered before the operation can be published on a list, so that
	 * a peer never completes it while we still touch it here. */
	if (exec_stop_token_possible(tok)) {
		o->watching = true;
		exec_stop_callback_register(&o->cb, tok, on_stop);
	}
	if (o->slot)
		o->v = *o->slot;
	chan_op *w = NULL;
	int res = 0;
	pthread_mutex_lock(&ch->mu);
	if (o->state == OP_STOP_EARLY) {
		res = EXEC_STOPPED;
	} else if (o->is_send) {
		if (ch->closed) {
			res = -EPIPE;
		} else if ((w = list_pop(&ch->receivers))) {
			w->v = o->v;
		} else if (ch->count < ch->cap) {
			buf_push(ch, o->v);
		} else {
			o->state = OP_QUEUED;
			list_push(&ch->senders, o);
			pthread_mutex_unlock(&ch->mu);
			return;
		}
	} else {
		if (ch->count) {
			o->v = buf_pop(ch);
			/* A slot opened: the oldest waiting sender fills it. */
			if ((w = list_pop(&ch->senders)))
				buf_push(ch, w->v);
		} else if ((w = list_pop(&ch->senders))) {
			o->v = w->v; /* rendezvous */
		} else if (ch->closed) {
			res = -EPIPE;
		} else {
			o->state = OP_QUEUED;
			list_push(&ch->receivers, o);
			pthread_mutex_unlock(&ch->mu);
			return;
		}
	}
	if (w) {
		w->state = OP_TAKEN;
		w->result = 0;
	}
	o->state = OP_TAKEN;
	pthread_mutex_unlock(&ch->mu);
	if (w)
		wake(w);
	op_finish(o, res);
}

static int chan_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	const chan_sender *cs = (const chan_sender *)s;
	chan_op *o = (chan_op *)op;
	o->op.start = chan_start;
	o->ch = cs->ch;
	o->r = r;
	o->v = cs->v;
	o->slot = cs->slot;
	o->is_send = cs->is_send;
	o->prev = o->next = NULL;
	return 0;
}

static void chan_destroy_sender(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops send_ops = {"channel_send", chan_connect, chan_destroy_sender};
static const exec_sender_ops recv_ops = {"channel_recv", chan_connect, chan_destroy_sender};

static exec_sender *chan_sender_new(exec_channel *ch, exec_value v, bool is_send)
{
	if (!ch)
		return exec_sender_invalid(-EINVAL);
	chan_sender *s = exec_sender_new(is_send ? &send_ops : &recv_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->ch = ch;
	s->v = v;
	s->is_send = is_send;
	s->base.op_size = sizeof(chan_op);
	s->base.op_align = _Alignof(chan_op) > EXEC_OP_ALIGN ? _Alignof(chan_op) : EXEC_OP_ALIGN;
	s->base.max_values = is_send ? 0 : 1;
	return &s->base;
}

exec_sender *exec_channel_send(exec_channel *ch, exec_value v)
{
	return chan_sender_new(ch, v, true);
}

exec_sender *exec_channel_send_from(exec_channel *ch, const exec_value *slot)
{
	exec_value none = {EXEC_VALUE_NONE, {0}};
	if (!slot)
		return exec_sender_invalid(-EINVAL);
	exec_sender *s = chan_sender_new(ch, none, true);
	if (!exec_sender_build_error(s))
		((chan_sender *)s)->slot = slot;
	return s;
}

exec_sender *exec_channel_recv(exec_channel *ch)
{
	exec_value none = {EXEC_VALUE_NONE, {0}};
	return chan_sender_new(ch, none, false);
}

int exec_channel_create(exec_channel **out, size_t capacity)
{
	if (!out || capacity > ((size_t)1 << 24))
		return -EINVAL;
	exec_channel *ch = calloc(1, sizeof *ch);
	if (!ch)
		return -ENOMEM;
	if (capacity && !(ch->buf = calloc(capacity, sizeof *ch->buf))) {
		free(ch);
		return -ENOMEM;
	}
	int rc = pthread_mutex_init(&ch->mu, NULL);
	if (rc) {
		free(ch->buf);
		free(ch);
		return -rc;
	}
	ch->cap = capacity;
	*out = ch;
	return 0;
}

int exec_channel_destroy(exec_channel *ch)
{
	if (!ch)
		return 0;
	pthread_mutex_lock(&ch->mu);
	bool busy = ch->senders.head || ch->receivers.head;
	pthread_mutex_unlock(&ch->mu);
	if (busy)
		return -EBUSY;
	pthread_mutex_destroy(&ch->mu);
	free(ch->buf);
	free(ch);
	return 0;
}

void exec_channel_close(exec_channel *ch)
{
	pthread_mutex_lock(&ch->mu);
	ch->closed = true;
	/* Only one list can be non-empty (waiting senders mean a full
	 * buffer, waiting receivers an empty one), but take both. */
	chan_op *ws = ch->senders.head, *wr = ch->receivers.head;
	ch->senders.head = ch->senders.tail = NULL;
	ch->receivers.head = ch->receivers.tail = NULL;
	for (chan_op *w = ws; w; w = w->next) {
		w->state = OP_TAKEN;
		w->result = -EPIPE;
	}
	for (chan_op *w = wr; w; w = w->next) {
		w->state = OP_TAKEN;
		w->result = -EPIPE;
	}
	pthread_mutex_unlock(&ch->mu);
	chan_op *lists[2] = {ws, wr};
	for (int i = 0; i < 2; i++) {
		for (chan_op *w = lists[i]; w;) {
			chan_op *next = w->next; /* w may be gone after waking */
			wake(w);
			w = next;
		}
	}
}

size_t exec_channel_size(exec_channel *ch)
{
	pthread_mutex_lock(&ch->mu);
	size_t n = ch->count;
	pthread_mutex_unlock(&ch->mu);
	return n;
}
