#include "exec/transfer.h"

#include <errno.h>
#include <string.h>

#include "exec/error.h"

enum { VALUE, ERROR, STOPPED };

/* Runs on the scheduler's context (or inline for a refused submit or an
 * early stop). Everything the receiver gets is copied to the stack first:
 * the receiver may free the operation holding t as soon as it is called. */
static void transfer_done(exec_hop *h, int status)
{
	exec_transfer *t = EXEC_CONTAINER_OF(h, exec_transfer, hop);
	exec_receiver *out = t->out;
	if (status == EXEC_STOPPED) {
		exec_set_stopped(out);
		return;
	}
	if (status < 0) {
		exec_set_error(out, status);
		return;
	}
	switch (t->channel) {
	case VALUE: {
		size_t n = t->count;
		exec_value stack[EXEC_TRANSFER_STACK_VALUES];
		const exec_value *v = t->slots;
		if (n <= EXEC_TRANSFER_STACK_VALUES) {
			for (size_t i = 0; i < n; i++)
				stack[i] = v[i];
			v = stack;
		}
		exec_set_value(out, v, n);
		break;
	}
	case ERROR:
		exec_set_error(out, t->error);
		break;
	default:
		exec_set_stopped(out);
		break;
	}
}

static void go(exec_transfer *t, exec_scheduler *sched)
{
	exec_hop_start(&t->hop, sched, exec_get_stop_token(t->out), -1, transfer_done);
}

void exec_transfer_init(exec_transfer *t, exec_receiver *out, exec_value *slots,
			uint32_t cap)
{
	t->out = out;
	t->slots = slots;
	t->cap = cap;
	t->count = 0;
	t->channel = VALUE;
	t->error = 0;
}

void exec_transfer_value(exec_transfer *t, exec_scheduler *sched,
			 const exec_value *v, size_t n)
{
	if (n > t->cap) {
		t->channel = ERROR;
		t->error = -ERANGE;
	} else {
		t->channel = VALUE;
		/* A loop: usually a value or two, cheaper than a call. */
		for (size_t i = 0; i < n; i++)
			t->slots[i] = v[i];
		t->count = (uint32_t)n;
	}
	go(t, sched);
}

void exec_transfer_error(exec_transfer *t, exec_scheduler *sched, int err)
{
	t->channel = ERROR;
	t->error = err;
	go(t, sched);
}

void exec_transfer_stopped(exec_transfer *t, exec_scheduler *sched)
{
	t->channel = STOPPED;
	go(t, sched);
}
