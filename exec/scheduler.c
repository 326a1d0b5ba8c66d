#include "exec/scheduler.h"

#include <errno.h>
#include <time.h>

exec_time exec_clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (exec_time)ts.tv_sec * EXEC_NS_PER_S + ts.tv_nsec;
}

int exec_scheduler_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline)
{
	if (!s->ops->submit_at)
		return -ENOTSUP;
	return s->ops->submit_at(s, t, deadline);
}

void exec_scheduler_cancel(exec_scheduler *s, exec_task *t)
{
	if (s->ops->cancel)
		s->ops->cancel(s, t);
}

exec_time exec_scheduler_now(exec_scheduler *s)
{
	return s->ops->now ? s->ops->now(s) : exec_clock_now();
}

unsigned exec_scheduler_concurrency(exec_scheduler *s)
{
	return s->ops->concurrency ? s->ops->concurrency(s) : 1u;
}
