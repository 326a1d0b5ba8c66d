#include "algorithms/sync_wait.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exec/error.h"
#include "schedulers/run_loop.h"

enum { STARTING, WAITING, DONE };

typedef struct sync_state {
	exec_receiver self;
	exec_env env;
	exec_run_loop loop;
	bool loop_ready;
	AO_t phase;
	exec_result *r;
	int rc;
} sync_state;

/* The completing thread records the result, then flips the phase. If the
 * caller is still inside start (STARTING) it will see DONE and skip the loop;
 * if it is waiting in the loop, it must be woken. The loop is initialised by
 * the caller before it moves to WAITING, so a WAITING phase proves it exists. */
static void complete(sync_state *st)
{
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
	if (n)
		memcpy(res->values, v, n * sizeof *v);
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
	st.env.stop_token = token;
	st.env.scheduler = &st.loop.sched;
	st.env.allocator = NULL;
	/* The loop is set up before anything can see its scheduler. */
	int rc = exec_run_loop_init(&st.loop);
	if (rc < 0) {
		r->error = rc;
		return rc;
	}

	_Alignas(64) unsigned char stack_op[EXEC_SYNC_WAIT_STACK_OP];
	void *storage = stack_op;
	size_t size = exec_sender_op_size(s), align = exec_sender_op_align(s);
	if (size > sizeof stack_op || align > 64) {
		if (posix_memalign(&storage, align < sizeof(void *) ? sizeof(void *) : align,
				   size) != 0) {
			exec_run_loop_destroy(&st.loop);
			r->error = -ENOMEM;
			return -ENOMEM;
		}
	}

	rc = exec_connect(s, storage, &st.self);
	if (rc < 0) {
		r->error = rc;
		st.rc = rc;
	} else {
		exec_start((exec_op *)storage);
		if (AO_compare_and_swap_full(&st.phase, STARTING, WAITING))
			exec_run_loop_run(&st.loop);
	}
	if (storage != stack_op)
		free(storage);
	exec_run_loop_destroy(&st.loop);
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
