#include "algorithms/just.h"

#include <errno.h>
#include <string.h>

typedef struct just_sender {
	exec_sender base;
	size_t count;
	exec_value values[];
} just_sender;

typedef struct just_op {
	exec_op op;
	exec_receiver *r;
	const just_sender *s;
} just_op;

static void just_start(exec_op *op)
{
	just_op *o = (just_op *)op;
	exec_set_value(o->r, o->s->values, o->s->count);
}

static int just_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	just_op *o = (just_op *)op;
	o->op.start = just_start;
	o->r = r;
	o->s = (const just_sender *)s;
	return 0;
}

static void just_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops just_ops = {"just", just_connect, just_destroy};

exec_sender *exec_just(const exec_value *values, size_t count)
{
	if (count > EXEC_JUST_MAX_VALUES || (count && !values))
		return exec_sender_invalid(-EINVAL);
	just_sender *s = exec_sender_new(
		&just_ops, sizeof(just_sender) + count * sizeof(exec_value));
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->base.op_size = sizeof(just_op);
	s->base.max_values = (uint32_t)count;
	s->count = count;
	if (count)
		memcpy(s->values, values, count * sizeof(exec_value));
	s->base.constant_values = s->values;
	return &s->base;
}

exec_sender *exec_just_void(void)
{
	return exec_just(NULL, 0);
}

exec_sender *exec_just_i64(int64_t v)
{
	exec_value x = exec_value_i64(v);
	return exec_just(&x, 1);
}

exec_sender *exec_just_u64(uint64_t v)
{
	exec_value x = exec_value_u64(v);
	return exec_just(&x, 1);
}

exec_sender *exec_just_f64(double v)
{
	exec_value x = exec_value_f64(v);
	return exec_just(&x, 1);
}

exec_sender *exec_just_ptr(void *v)
{
	exec_value x = exec_value_ptr(v);
	return exec_just(&x, 1);
}

exec_sender *exec_just_span(void *ptr, size_t len)
{
	exec_value x = exec_value_span(ptr, len);
	return exec_just(&x, 1);
}
