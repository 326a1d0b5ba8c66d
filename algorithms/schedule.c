#include "algorithms/schedule.h"

#include <errno.h>
#include <stdint.h>

#include "exec/error.h"
#include "exec/hop.h"

enum { NOW, AT, AFTER };

typedef struct schedule_sender {
	exec_sender base;
	exec_scheduler *sched;
	int mode;
	int64_t when; /* deadline (AT) or delay (AFTER) */
} schedule_sender;

typedef struct schedule_op {
	exec_op op;
	exec_hop hop;
	exec_receiver *r;
	const schedule_sender *s;
} schedule_op;

static void schedule_done(exec_hop *h, int status)
{
	schedule_op *o = EXEC_CONTAINER_OF(h, schedule_op, hop);
	exec_receiver *r = o->r;
	if (status == 0)
		exec_set_value(r, NULL, 0);
	else if (status == EXEC_STOPPED)
		exec_set_stopped(r);
	else
		exec_set_error(r, status);
}

static void schedule_start(exec_op *op)
{
	schedule_op *o = (schedule_op *)op;
	const schedule_sender *s = o->s;
	exec_time deadline = -1;
	if (s->mode == AT)
		deadline = s->when < 0 ? 0 : s->when;
	else if (s->mode == AFTER) {
		exec_time now = exec_scheduler_now(s->sched);
		deadline = s->when > INT64_MAX - now ? INT64_MAX : now + s->when;
	}
	exec_hop_start(&o->hop, s->sched, exec_get_stop_token(o->r), deadline,
		       schedule_done);
}

static int schedule_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	schedule_op *o = (schedule_op *)op;
	o->op.start = schedule_start;
	o->r = r;
	o->s = (const schedule_sender *)s;
	return 0;
}

static void schedule_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops schedule_ops = {"schedule", schedule_connect,
					     schedule_destroy};

static exec_sender *make(exec_scheduler *sched, int mode, int64_t when)
{
	if (!sched || !sched->ops || !sched->ops->submit)
		return exec_sender_invalid(-EINVAL);
	schedule_sender *s = exec_sender_new(&schedule_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->base.op_size = sizeof(schedule_op);
	s->sched = sched;
	s->mode = mode;
	s->when = when;
	return &s->base;
}

exec_sender *exec_schedule(exec_scheduler *sched)
{
	return make(sched, NOW, 0);
}

exec_sender *exec_schedule_at(exec_scheduler *sched, exec_time deadline)
{
	return make(sched, AT, deadline);
}

exec_sender *exec_schedule_after(exec_scheduler *sched, int64_t delay_ns)
{
	return make(sched, AFTER, delay_ns < 0 ? 0 : delay_ns);
}
