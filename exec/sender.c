#include "exec/sender.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int exec_connect(const exec_sender *s, void *storage, exec_receiver *r)
{
	if (!s || !storage || !r || !r->ops)
		return -EINVAL;
	if ((uintptr_t)storage & (s->op_align - 1))
		return -EINVAL;
	return s->ops->connect(s, (exec_op *)storage, r);
}

exec_sender *exec_sender_ref(exec_sender *s)
{
	if (s && s->refs)
		AO_fetch_and_add1(&s->refs);
	return s;
}

void exec_sender_free(exec_sender *s)
{
	if (!s || !s->refs)
		return;
	/* Release so that the destroying thread sees every other holder's
	 * last use; the acquire fence pairs with it on the final drop. */
	if (AO_fetch_and_sub1_release(&s->refs) == 1) {
		(void)AO_load_acquire(&s->refs);
		s->ops->destroy(s);
	}
}

void *exec_sender_new(const exec_sender_ops *ops, size_t size)
{
	if (size < sizeof(exec_sender))
		size = sizeof(exec_sender);
	/* malloc, not calloc: glibc's calloc bypasses the per-thread cache,
	 * and senders built per request (a send per echo) are freed and
	 * built again at once (callgrind, examples/echo_server: about 230 ->
	 * 40 instructions a build). The header is assigned and only the rest
	 * cleared, or GCC folds malloc + memset back into calloc. */
	exec_sender *s = malloc(size);
	if (!s)
		return NULL;
	*s = (exec_sender){.ops = ops, .refs = 1, .op_align = EXEC_OP_ALIGN};
	memset((char *)s + sizeof *s, 0, size - sizeof *s);
	return s;
}

void exec_sender_delete(exec_sender *s)
{
	free(s);
}

/* The static invalid senders: complete with their error at start. */
typedef struct invalid_op {
	exec_op op;
	exec_receiver *r;
	int err;
} invalid_op;

static void invalid_start(exec_op *op)
{
	invalid_op *o = (invalid_op *)op;
	exec_set_error(o->r, o->err);
}

static int invalid_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	invalid_op *o = (invalid_op *)op;
	o->op.start = invalid_start;
	o->r = r;
	o->err = s->build_error;
	return 0;
}

static void invalid_destroy(exec_sender *s)
{
	(void)s;
}

static const exec_sender_ops invalid_ops = {"invalid", invalid_connect,
					    invalid_destroy};

static exec_sender invalid_einval = {.ops = &invalid_ops,
				     .op_size = sizeof(invalid_op),
				     .op_align = EXEC_OP_ALIGN,
				     .build_error = -EINVAL};
static exec_sender invalid_enomem = {.ops = &invalid_ops,
				     .op_size = sizeof(invalid_op),
				     .op_align = EXEC_OP_ALIGN,
				     .build_error = -ENOMEM};

exec_sender *exec_sender_invalid(int err)
{
	return err == -ENOMEM ? &invalid_enomem : &invalid_einval;
}

int exec_sender_build_error(const exec_sender *s)
{
	if (!s)
		return -EINVAL;
	return s->build_error;
}
