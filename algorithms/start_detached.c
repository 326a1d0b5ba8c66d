#include "algorithms/start_detached.h"

#include <errno.h>

#include "exec/error.h"

static AO_t detached_errors;

typedef struct detached {
	exec_receiver r;
	exec_env env;
	exec_sender *s;
	size_t size;
	exec_start_detached_fn fn;
	void *ctx;
} detached;

/* The op state follows the header, aligned to the sender's op_align. */
static size_t op_offset(size_t align)
{
	return (sizeof(detached) + align - 1) & ~(align - 1);
}

/* Frees everything first (the op has completed: by the protocol its code
 * no longer touches the storage), then reports. */
static void detached_done(exec_receiver *r, int status)
{
	detached *d = EXEC_CONTAINER_OF(r, detached, r);
	exec_env env = d->env;
	exec_sender *s = d->s;
	exec_start_detached_fn fn = d->fn;
	void *ctx = d->ctx;
	exec_env_free(&env, d, d->size);
	exec_sender_free(s);
	if (status < 0)
		AO_fetch_and_add1(&detached_errors);
	if (fn)
		fn(ctx, status);
}

static void detached_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	detached_done(r, 0);
}

static void detached_error(exec_receiver *r, int err)
{
	detached_done(r, err < 0 ? err : -EINVAL);
}

static void detached_stopped(exec_receiver *r)
{
	detached_done(r, EXEC_STOPPED);
}

static const exec_env *detached_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, detached, r)->env;
}

static const exec_receiver_ops detached_ops = {detached_value, detached_error,
					       detached_stopped, detached_env};

int exec_start_detached_notify(exec_sender *s, const exec_env *env,
			       exec_start_detached_fn fn, void *ctx)
{
	if (!s)
		return -EINVAL;
	int rc = exec_sender_build_error(s);
	if (rc) {
		exec_sender_free(s);
		return rc;
	}
	if (!env)
		env = &exec_env_empty;
	size_t align = exec_sender_op_align(s);
	if (align < _Alignof(detached))
		align = _Alignof(detached);
	size_t off = op_offset(align);
	size_t size = off + exec_sender_op_size(s);
	detached *d = exec_env_alloc(env, size, align);
	if (!d) {
		exec_sender_free(s);
		return -ENOMEM;
	}
	d->r.ops = &detached_ops;
	d->env = *env;
	d->s = s;
	d->size = size;
	d->fn = fn;
	d->ctx = ctx;
	exec_op *op = (exec_op *)((char *)d + off);
	rc = s->ops->connect(s, op, &d->r);
	if (rc < 0) {
		exec_env_free(env, d, size);
		exec_sender_free(s);
		return rc;
	}
	exec_start(op);
	return 0;
}

int exec_start_detached(exec_sender *s, const exec_env *env)
{
	return exec_start_detached_notify(s, env, NULL, NULL);
}

uint64_t exec_start_detached_errors(void)
{
	return AO_load(&detached_errors);
}
