#include "algorithms/read_env.h"

typedef struct read_env_op {
	exec_op op;
	exec_receiver *r;
} read_env_op;

static void read_stop_token_start(exec_op *op)
{
	exec_receiver *r = ((read_env_op *)op)->r;
	exec_value v = exec_value_ptr(exec_get_stop_token(r).source);
	exec_set_value(r, &v, 1);
}

static void read_scheduler_start(exec_op *op)
{
	exec_receiver *r = ((read_env_op *)op)->r;
	exec_value v = exec_value_ptr(exec_get_env(r)->scheduler);
	exec_set_value(r, &v, 1);
}

static int read_stop_token_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	(void)s;
	read_env_op *o = (read_env_op *)op;
	o->op.start = read_stop_token_start;
	o->r = r;
	return 0;
}

static int read_scheduler_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	(void)s;
	read_env_op *o = (read_env_op *)op;
	o->op.start = read_scheduler_start;
	o->r = r;
	return 0;
}

static void read_env_destroy(exec_sender *s)
{
	(void)s; /* static: never freed */
}

static const exec_sender_ops read_stop_token_ops = {
	"read_stop_token", read_stop_token_connect, read_env_destroy};
static const exec_sender_ops read_scheduler_ops = {
	"read_scheduler", read_scheduler_connect, read_env_destroy};

/* refs == 0: static senders, ignored by exec_sender_ref / exec_sender_free. */
static exec_sender read_stop_token_sender = {.ops = &read_stop_token_ops,
					     .op_size = sizeof(read_env_op),
					     .op_align = EXEC_OP_ALIGN,
					     .max_values = 1};
static exec_sender read_scheduler_sender = {.ops = &read_scheduler_ops,
					    .op_size = sizeof(read_env_op),
					    .op_align = EXEC_OP_ALIGN,
					    .max_values = 1};

exec_sender *exec_read_stop_token(void)
{
	return &read_stop_token_sender;
}

exec_sender *exec_read_scheduler(void)
{
	return &read_scheduler_sender;
}
