/* exec/receiver.h - receivers: where an operation delivers its completion.
 *
 * A receiver is a struct whose first member is a pointer to its ops; the
 * usual receiver is embedded in its parent's operation state and finds the
 * parent with EXEC_CONTAINER_OF. A started operation calls exactly one of
 * set_value / set_error / set_stopped, exactly once.
 *
 * Lifetime: as soon as a completion function is entered, the receiver may
 * free the storage of the operation that called it. The caller must not touch
 * that operation afterwards; copy what you need to the stack first. The
 * values passed to set_value live only for the duration of the call. */
#ifndef EXEC_RECEIVER_H
#define EXEC_RECEIVER_H

#include <stddef.h>

#include "exec/env.h"
#include "exec/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EXEC_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

typedef struct exec_receiver exec_receiver;

typedef struct exec_receiver_ops {
	void (*set_value)(exec_receiver *r, const exec_value *values, size_t count);
	/* err is a negative errno. */
	void (*set_error)(exec_receiver *r, int err);
	void (*set_stopped)(exec_receiver *r);
	/* May be NULL: the receiver then has the empty environment. */
	const exec_env *(*get_env)(exec_receiver *r);
} exec_receiver_ops;

struct exec_receiver {
	const exec_receiver_ops *ops;
};

static inline void exec_set_value(exec_receiver *r, const exec_value *values,
				  size_t count)
{
	r->ops->set_value(r, values, count);
}

static inline void exec_set_error(exec_receiver *r, int err)
{
	r->ops->set_error(r, err);
}

static inline void exec_set_stopped(exec_receiver *r)
{
	r->ops->set_stopped(r);
}

static inline const exec_env *exec_get_env(exec_receiver *r)
{
	return r->ops->get_env ? r->ops->get_env(r) : &exec_env_empty;
}

static inline exec_stop_token exec_get_stop_token(exec_receiver *r)
{
	return exec_get_env(r)->stop_token;
}

#ifdef __cplusplus
}
#endif
#endif
