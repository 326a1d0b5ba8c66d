#include "schedulers/inline.h"

#include "exec/trampoline.h"

static int inline_submit(exec_scheduler *s, exec_task *t)
{
	(void)s;
	exec_trampoline_run(t);
	return 0;
}

static const exec_scheduler_ops inline_ops = {
	.name = "inline",
	.submit = inline_submit,
};

static exec_scheduler inline_scheduler = {&inline_ops};

exec_scheduler *exec_inline_scheduler(void)
{
	return &inline_scheduler;
}
