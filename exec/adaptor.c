#include "exec/adaptor.h"

#include <errno.h>

exec_adaptor_sender *exec_adaptor_new(const exec_sender_ops *ops,
				      size_t sender_size, exec_sender *child,
				      size_t op_header_size, int *err)
{
	if (!child) {
		*err = -EINVAL;
		return NULL;
	}
	if ((*err = exec_sender_build_error(child)) != 0)
		return NULL;
	/* A child whose alignment is not a power of two cannot be laid out. */
	if (!child->op_align || (child->op_align & (child->op_align - 1))) {
		exec_sender_free(child);
		*err = -EINVAL;
		return NULL;
	}
	exec_adaptor_sender *s = exec_sender_new(ops, sender_size);
	if (!s) {
		exec_sender_free(child);
		*err = -ENOMEM;
		return NULL;
	}
	s->child = child;
	s->child_values = exec_sender_constant_values(child, &s->child_nvalues);
	uint32_t size = 0, align = EXEC_OP_ALIGN;
	exec_layout_add(&size, &align, op_header_size, _Alignof(max_align_t));
	/* A constant child is never connected: it needs no room. */
	s->child_off = exec_layout_add(&size, &align,
				       s->child_values ? 0 : child->op_size,
				       child->op_align);
	/* exec_layout_add saturates: at the limit the real layout would be
	 * larger than the size recorded, so refuse the build. */
	if (size >= EXEC_OP_SIZE_MAX) {
		exec_sender_free(child);
		exec_sender_delete(&s->base);
		*err = -EINVAL;
		return NULL;
	}
	s->base.op_size = size;
	s->base.op_align = align;
	s->base.max_values = child->max_values;
	return s;
}

void exec_adaptor_destroy(exec_sender *s)
{
	exec_sender_free(((exec_adaptor_sender *)s)->child);
	exec_sender_delete(s);
}

int exec_adaptor_connect(const exec_sender *s, exec_op *op, exec_receiver *out,
			 const exec_receiver_ops *self_ops, void (*start)(exec_op *))
{
	exec_adaptor_op *o = (exec_adaptor_op *)op;
	const exec_adaptor_sender *as = (const exec_adaptor_sender *)s;
	o->op.start = start;
	o->self.ops = self_ops;
	o->out = out;
	o->s = as;
	if (as->child_values)
		return 0;
	return as->child->ops->connect(as->child, exec_adaptor_child_op(o), &o->self);
}

void exec_adaptor_start(exec_op *op)
{
	exec_adaptor_op *o = (exec_adaptor_op *)op;
	const exec_adaptor_sender *as = o->s;
	if (as->child_values)
		o->self.ops->set_value(&o->self, as->child_values, as->child_nvalues);
	else
		exec_start(exec_adaptor_child_op(o));
}

void exec_adaptor_forward_value(exec_receiver *r, const exec_value *v, size_t n)
{
	exec_set_value(exec_adaptor_from_receiver(r)->out, v, n);
}

void exec_adaptor_forward_error(exec_receiver *r, int err)
{
	exec_set_error(exec_adaptor_from_receiver(r)->out, err);
}

void exec_adaptor_forward_stopped(exec_receiver *r)
{
	exec_set_stopped(exec_adaptor_from_receiver(r)->out);
}

const exec_env *exec_adaptor_forward_env(exec_receiver *r)
{
	return exec_get_env(exec_adaptor_from_receiver(r)->out);
}
