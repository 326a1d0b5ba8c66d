#include "exec/coro.h"

#include <atomic_ops.h>
#include <errno.h>
#include <sched.h>
#include <string.h>

_Static_assert(sizeof(void *) != 8 || sizeof(exec_coro) == 64,
	       "exec/coro.h documents a 64-byte frame header on LP64");

typedef struct coro_sender {
	exec_sender base;
	exec_coro_fn fn;
	exec_coro_init_fn init;
	void *arg;
} coro_sender;

static const exec_value no_value = {EXEC_VALUE_NONE, {0}};

/* The op state of an await needs room for the first value afterwards. */
static size_t await_size(const exec_sender *s)
{
	size_t n = exec_sender_op_size(s);
	return n < sizeof(exec_value) ? sizeof(exec_value) : n;
}

static size_t await_align(const exec_sender *s)
{
	size_t a = exec_sender_op_align(s);
	return a < _Alignof(exec_value) ? _Alignof(exec_value) : a;
}

/* Drops what the last (finished) await held: done lazily, at the next
 * await or at the end, because its storage holds the value the function
 * may still read. */
static void await_release(exec_coro *co)
{
	exec_sender *s = co->awaited;
	if (!s)
		return;
	if (co->bits & EXEC_CORO_HEAP_)
		exec_env_free(exec_get_env(co->out), co->opmem, await_size(s));
	co->awaited = NULL;
	co->opmem = NULL;
	co->bits = 0;
	exec_sender_free(s);
}

/* The await handshake. A completion that arrives inside the await's own
 * start, on the starting thread, lets the function carry on where it is
 * (INLINE). Any other completion resumes the function itself, on its own
 * thread, which is what makes "await schedule(pool)" continue on the
 * pool; if it arrives on another thread before the function has returned
 * from the await, it waits for that return (SUSPENDED), a few instructions
 * away, so the function never runs on two threads at once. */
enum { AWAIT_PENDING = 0, AWAIT_INLINE = 1, AWAIT_SUSPENDED = 2 };

/* The awaits whose start is running on this thread, innermost first: a
 * completion is "inline" when its coroutine is on this list. */
typedef struct start_mark {
	exec_coro *co;
	struct start_mark *prev;
} start_mark;

static _Thread_local start_mark *starting;

/* Runs the function until it ends or parks in an await. */
static void coro_run(exec_coro *co)
{
	/* DONE: the task has completed and the frame may be gone. */
	if (co->fn(co) != EXEC_CORO_DONE_)
		AO_int_store_release(&co->flag, AWAIT_SUSPENDED);
	/* From here the completion may be running the function. */
}

static void arrived(exec_coro *co)
{
	for (start_mark *m = starting; m; m = m->prev) {
		if (m->co == co) {
			AO_int_store(&co->flag, AWAIT_INLINE);
			return;
		}
	}
	for (unsigned spins = 0; AO_int_load_acquire(&co->flag) != AWAIT_SUSPENDED; spins++)
		if (spins > 64)
			sched_yield();
	coro_run(co);
}

static exec_coro *from_rcv(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, exec_coro, rcv);
}

static void await_value(exec_receiver *r, const exec_value *v, size_t n)
{
	exec_coro *co = from_rcv(r);
	/* The finished op no longer uses its storage (it may not touch it
	 * after calling us), so the first value moves in there. v may point
	 * into that storage: copy it out first. */
	exec_value first = n ? v[0] : no_value;
	memcpy(co->opmem, &first, sizeof first);
	co->nvalues = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
	co->status = 0;
	arrived(co);
}

static void await_error(exec_receiver *r, int err)
{
	exec_coro *co = from_rcv(r);
	co->status = err;
	arrived(co);
}

static void await_stopped(exec_receiver *r)
{
	exec_coro *co = from_rcv(r);
	co->status = EXEC_STOPPED;
	arrived(co);
}

static const exec_env *await_env(exec_receiver *r)
{
	return exec_get_env(from_rcv(r)->out);
}

static const exec_receiver_ops await_ops = {await_value, await_error, await_stopped,
					    await_env};

int exec_coro_await_(exec_coro *co, exec_sender *s, void *storage, size_t size)
{
	if (co->awaited)
		await_release(co);
	co->nvalues = 0;
	if (!co->out) {
		exec_sender_free(s);
		co->status = -EPERM;
		return 0;
	}
	if (!s) {
		co->status = -EINVAL;
		return 0;
	}
	size_t need = await_size(s), align = await_align(s);
	void *op = storage;
	if (!op || need > size || ((uintptr_t)op & (align - 1))) {
		op = exec_env_alloc(exec_get_env(co->out), need, align);
		if (!op) {
			exec_sender_free(s);
			co->status = -ENOMEM;
			return 0;
		}
		co->bits |= EXEC_CORO_HEAP_;
	}
	co->awaited = s;
	co->opmem = op;
	AO_int_store(&co->flag, AWAIT_PENDING);
	/* Storage is checked above: connect directly, not via exec_connect. */
	int rc = s->ops->connect(s, (exec_op *)op, &co->rcv);
	if (rc) {
		co->status = rc;
		return 0;
	}
	/* prev stays in a register: reloading m.prev after start would read
	 * back half of the 16-byte store that built m (a store-forwarding
	 * stall measured at a third of the await's cost). */
	start_mark *prev = starting;
	start_mark m;
	m.co = co;
	m.prev = prev;
	starting = &m;
	exec_start((exec_op *)op);
	starting = prev;
	/* Only this thread writes INLINE, and only inside start. */
	return AO_int_load(&co->flag) != AWAIT_INLINE;
}

int exec_coro_finish_(exec_coro *co, int status, const exec_value *v)
{
	co->point = EXEC_CORO_FINISHED_;
	if (!co->out)
		return EXEC_CORO_DONE_;
	await_release(co);
	exec_receiver *out = co->out;
	exec_value val = v ? *v : no_value;
	/* The frame is the operation state: gone once we complete. */
	if (status == 0)
		exec_set_value(out, &val, v ? 1 : 0);
	else if (status == EXEC_STOPPED)
		exec_set_stopped(out);
	else
		exec_set_error(out, status);
	return EXEC_CORO_DONE_;
}

int exec_coro_finished_(exec_coro *co)
{
	(void)co;
	return EXEC_CORO_DONE_;
}

const exec_value *exec_coro_value(const exec_coro *co)
{
	if (!co->nvalues || !co->opmem || !co->out)
		return &no_value;
	return (const exec_value *)co->opmem;
}

static void coro_start(exec_op *op)
{
	coro_run((exec_coro *)op);
}

static void header_init(exec_coro *co, exec_coro_fn fn, exec_receiver *out)
{
	memset(co, 0, sizeof *co);
	co->op.start = coro_start;
	co->rcv.ops = &await_ops;
	co->fn = fn;
	co->out = out;
}

void exec_coro_connect(exec_coro *co, exec_coro_fn fn, exec_receiver *r)
{
	header_init(co, fn, r);
}

static int coro_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	const coro_sender *cs = (const coro_sender *)s;
	exec_coro *co = (exec_coro *)op;
	header_init(co, cs->fn, r);
	if (cs->init)
		cs->init(co, cs->arg);
	return 0;
}

static void coro_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops coro_sender_ops = {"coro", coro_connect, coro_destroy};

exec_sender *exec_coro_sender(exec_coro_fn fn, size_t frame_size, size_t frame_align,
			      exec_coro_init_fn init, void *arg)
{
	if (!frame_align)
		frame_align = EXEC_OP_ALIGN;
	if (!fn || frame_size < sizeof(exec_coro) || frame_size > EXEC_OP_SIZE_MAX ||
	    (frame_align & (frame_align - 1)) || frame_align > 4096)
		return exec_sender_invalid(-EINVAL);
	coro_sender *s = exec_sender_new(&coro_sender_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->fn = fn;
	s->init = init;
	s->arg = arg;
	s->base.op_size = (uint32_t)frame_size;
	s->base.op_align = (uint32_t)(frame_align < EXEC_OP_ALIGN ? EXEC_OP_ALIGN : frame_align);
	s->base.max_values = 1;
	return &s->base;
}

void exec_coro_init(exec_coro *co, exec_coro_fn fn)
{
	header_init(co, fn, NULL);
}

exec_stop_token exec_coro_stop_token(exec_coro *co)
{
	return co->out ? exec_get_stop_token(co->out) : exec_stop_token_never();
}
