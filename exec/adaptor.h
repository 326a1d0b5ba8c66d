/* exec/adaptor.h - shared machinery for algorithms with one child sender
 * (then, upon_*, let_*, stopped_as_error, continues_on, ...).
 *
 * The sender holds the child and the offset of the child's operation state;
 * the operation begins with an exec_adaptor_op (start, the receiver the
 * child completes to, the outer receiver) followed by the algorithm's own
 * fields and then the child's state. The forward_* functions pass a
 * completion through unchanged, so an algorithm overrides only the channel
 * it transforms. */
#ifndef EXEC_ADAPTOR_H
#define EXEC_ADAPTOR_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_adaptor_sender {
	exec_sender base;
	exec_sender *child;
	uint32_t child_off; /* offset of the child's op state in the op */
	/* A constant child's values (exec_sender_constant_values), or NULL:
	 * then the child is never connected, and exec_adaptor_start hands
	 * its values to self instead of starting it. */
	const exec_value *child_values;
	size_t child_nvalues;
} exec_adaptor_sender;

typedef struct exec_adaptor_op {
	exec_op op;
	exec_receiver self; /* what the child completes to */
	exec_receiver *out; /* the receiver of this operation */
	const exec_adaptor_sender *s;
} exec_adaptor_op;

/* Allocates an adaptor sender of sender_size bytes whose op state is
 * op_header_size bytes (starting with exec_adaptor_op) followed by the
 * child's. Consumes child. On failure frees child and returns NULL with
 * *err set (-EINVAL for a NULL child, or the child's build error, or
 * -ENOMEM); callers return exec_sender_invalid(*err). max_values defaults
 * to the child's. */
exec_adaptor_sender *exec_adaptor_new(const exec_sender_ops *ops,
				      size_t sender_size, exec_sender *child,
				      size_t op_header_size, int *err);

/* Frees the child and the sender (a destroy function for adaptors without
 * other owned resources). */
void exec_adaptor_destroy(exec_sender *s);

/* Initialises the header and connects the child to o->self (a constant
 * child is not connected: see child_values). */
int exec_adaptor_connect(const exec_sender *s, exec_op *op, exec_receiver *out,
			 const exec_receiver_ops *self_ops, void (*start)(exec_op *));

/* Starts the child, or hands a constant child's values to o->self. Usable
 * directly as the op's start function. */
void exec_adaptor_start(exec_op *op);

static inline exec_op *exec_adaptor_child_op(exec_adaptor_op *o)
{
	return (exec_op *)((char *)o + o->s->child_off);
}

static inline exec_adaptor_op *exec_adaptor_from_receiver(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, exec_adaptor_op, self);
}

/* Pass-through receiver functions. */
void exec_adaptor_forward_value(exec_receiver *r, const exec_value *v, size_t n);
void exec_adaptor_forward_error(exec_receiver *r, int err);
void exec_adaptor_forward_stopped(exec_receiver *r);
const exec_env *exec_adaptor_forward_env(exec_receiver *r);

#ifdef __cplusplus
}
#endif
#endif
