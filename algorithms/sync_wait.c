#include "algorithms/sync_wait.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "exec/error.h"
#include "schedulers/run_loop.h"

enum { STARTING, WAITING, DONE };
enum { LOOP_NONE, LOOP_INITIALISING, LOOP_READY, LOOP_FAILED };

/* The environment names `sched`, a scheduler that forwards to `loop` and
 * creates the loop on first use. A pipeline that completes inside start
 * without ever scheduling onto it (the common synchronous case) then never
 * pays for creating and destroying a mutex and a condition variable, while
 * the scheduler it was shown stays valid for the whole run: whoever submits
 * first, from any thread, initialises the loop (loop_state guards it). */
typedef struct sync_state {
	exec_receiver self;
	exec_env env;
	exec_scheduler sched;
	AO_t loop_state;
	int loop_error;
	exec_run_loop loop;
	AO_t phase;
	exec_result *r;
	int rc;
} sync_state;

/* The sync_wait whose start call is running on this thread (innermost). A
 * completion that finds its own state here happens inside that start, on
 * the waiting thread itself, so it needs no atomic handshake: the caller
 * looks at the phase when start returns. initial-exec: a plain
 * segment-relative load even in PIC code. */
static _Thread_local sync_state *starting __attribute__((tls_model("initial-exec")));

static int ensure_loop(sync_state *st)
{
	AO_t s = AO_load_acquire(&st->loop_state);
	if (s == LOOP_READY)
		return 0;
	if (s == LOOP_NONE &&
	    AO_compare_and_swap_full(&st->loop_state, LOOP_NONE, LOOP_INITIALISING)) {
		int rc = exec_run_loop_init(&st->loop);
		if (rc < 0) {
			st->loop_error = rc;
			AO_store_release(&st->loop_state, LOOP_FAILED);
			return rc;
		}
		AO_store_release(&st->loop_state, LOOP_READY);
		return 0;
	}
	while ((s = AO_load_acquire(&st->loop_state)) == LOOP_INITIALISING)
		sched_yield();
	return s == LOOP_READY ? 0 : st->loop_error;
}

static sync_state *from_sched(exec_scheduler *s)
{
	return EXEC_CONTAINER_OF(s, sync_state, sched);
}

static int fwd_submit(exec_scheduler *s, exec_task *t)
{
	sync_state *st = from_sched(s);
	int rc = ensure_loop(st);
	return rc < 0 ? rc : exec_scheduler_submit(exec_run_loop_scheduler(&st->loop), t);
}

static int fwd_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline)
{
	sync_state *st = from_sched(s);
	int rc = ensure_loop(st);
	return rc < 0 ? rc
		      : exec_scheduler_submit_at(exec_run_loop_scheduler(&st->loop), t,
						 deadline);
}

static void fwd_cancel(exec_scheduler *s, exec_task *t)
{
	sync_state *st = from_sched(s);
	/* Nothing can be queued on a loop that does not exist yet. */
	if (AO_load_acquire(&st->loop_state) == LOOP_READY)
		exec_scheduler_cancel(exec_run_loop_scheduler(&st->loop), t);
}

static const exec_scheduler_ops sync_sched_ops = {
	.name = "run_loop",
	.flags = EXEC_SCHED_TIMED,
	.submit = fwd_submit,
	.submit_at = fwd_submit_at,
	.cancel = fwd_cancel,
};

/* The completing thread records the result, then flips the phase. If the
 * caller is still inside start (STARTING) it will see DONE and skip the loop;
 * if it is waiting in the loop, it must be woken. The loop is initialised by
 * the caller before it moves to WAITING, so a WAITING phase proves it exists. */
static void complete(sync_state *st)
{
	if (starting == st) {
		/* Inside start on the waiting thread: it reads the phase after
		 * start returns, on this same thread. */
		AO_store(&st->phase, DONE);
		return;
	}
	AO_t old;
	do {
		old = AO_load_acquire(&st->phase);
	} while (!AO_compare_and_swap_full(&st->phase, old, DONE));
	if (old == WAITING)
		exec_run_loop_finish(&st->loop);
}

static void sync_value(exec_receiver *r, const exec_value *v, size_t n)
{
	sync_state *st = EXEC_CONTAINER_OF(r, sync_state, self);
	exec_result *res = st->r;
	st->rc = 0;
	res->kind = EXEC_RESULT_VALUE;
	res->error = 0;
	res->count = n;
	res->values = res->inline_values;
	if (n > EXEC_RESULT_INLINE_VALUES) {
		res->values = malloc(n * sizeof *v);
		if (!res->values) {
			res->values = res->inline_values;
			res->kind = EXEC_RESULT_ERROR;
			res->error = st->rc = -ENOMEM;
			res->count = 0;
			n = 0;
		}
	}
	/* A loop, not memcpy: results are usually a value or two, and a call
	 * into the C library costs more than copying them. */
	for (size_t i = 0; i < n; i++)
		res->values[i] = v[i];
	complete(st);
}

static void sync_error(exec_receiver *r, int err)
{
	sync_state *st = EXEC_CONTAINER_OF(r, sync_state, self);
	st->r->kind = EXEC_RESULT_ERROR;
	st->r->error = st->rc = err;
	complete(st);
}

static void sync_stopped(exec_receiver *r)
{
	sync_state *st = EXEC_CONTAINER_OF(r, sync_state, self);
	st->r->kind = EXEC_RESULT_STOPPED;
	st->rc = EXEC_STOPPED;
	complete(st);
}

static const exec_env *sync_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, sync_state, self)->env;
}

static const exec_receiver_ops sync_receiver_ops = {sync_value, sync_error,
						   sync_stopped, sync_env};

static void result_reset(exec_result *r)
{
	r->kind = EXEC_RESULT_ERROR;
	r->error = 0;
	r->count = 0;
	r->values = r->inline_values;
}

int exec_sync_wait_with_stop(const exec_sender *s, exec_stop_token token,
			     exec_result *r)
{
	exec_result scratch;
	if (!r)
		r = &scratch;
	result_reset(r);
	if (!s) {
		r->error = -EINVAL;
		return -EINVAL;
	}

	sync_state st;
	st.self.ops = &sync_receiver_ops;
	st.r = r;
	st.rc = 0;
	st.phase = STARTING;
	st.sched.ops = &sync_sched_ops;
	st.loop_state = LOOP_NONE;
	st.loop_error = 0;
	st.env.stop_token = token;
	st.env.scheduler = &st.sched;
	st.env.allocator = NULL;

	_Alignas(64) unsigned char stack_op[EXEC_SYNC_WAIT_STACK_OP];
	void *storage = stack_op;
	size_t size = exec_sender_op_size(s), align = exec_sender_op_align(s);
	if (size > sizeof stack_op || align > 64) {
		if (posix_memalign(&storage, align < sizeof(void *) ? sizeof(void *) : align,
				   size) != 0) {
			r->error = -ENOMEM;
			return -ENOMEM;
		}
	}

	int rc = exec_connect(s, storage, &st.self);
	if (rc < 0) {
		r->error = rc;
		st.rc = rc;
	} else {
		sync_state *prev = starting;
		starting = &st;
		exec_start((exec_op *)storage);
		starting = prev;
		if (AO_load_acquire(&st.phase) != DONE) {
			if (ensure_loop(&st) < 0) {
				/* No loop to sleep in (pthread initialisation
				 * failed): wait politely instead. */
				while (AO_load_acquire(&st.phase) != DONE)
					sched_yield();
			} else if (AO_compare_and_swap_full(&st.phase, STARTING, WAITING)) {
				exec_run_loop_run(&st.loop);
			}
		}
	}
	if (storage != stack_op)
		free(storage);
	/* A submitter may still be creating the loop (work scheduled onto it
	 * by something that outlived the result): let it finish first. */
	AO_t ls;
	while ((ls = AO_load_acquire(&st.loop_state)) == LOOP_INITIALISING)
		sched_yield();
	if (ls == LOOP_READY)
		exec_run_loop_destroy(&st.loop);
	/* Without a caller's result, values that spilled to the heap (more
	 * than EXEC_RESULT_INLINE_VALUES) would otherwise leak. */
	if (r == &scratch)
		exec_result_clear(&scratch);
	return st.rc;
}

int exec_sync_wait(const exec_sender *s, exec_result *r)
{
	return exec_sync_wait_with_stop(s, exec_stop_token_never(), r);
}

void exec_result_clear(exec_result *r)
{
	if (r && r->values && r->values != r->inline_values)
		free(r->values);
	if (r) {
		r->values = r->inline_values;
		r->count = 0;
	}
}
