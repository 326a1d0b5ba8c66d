/* tests/exec/fiber_many.h - shared by fiber_test and fiber_budget_long_test:
 * starts n fiber tasks (options o) that each await a 1 ms timer on a
 * run_loop, runs them all, and counts how many completed with a value and
 * how many with -ENOMEM (a stack that could not be had). */
#ifndef CEXEC_TEST_FIBER_MANY_H
#define CEXEC_TEST_FIBER_MANY_H

#include "cexec_test.h"

#include <errno.h>

#include "exec/fiber.h"

typedef struct many {
	exec_scheduler *loop;
} many;

static inline int64_t wait_timer(void *arg)
{
	many *m = arg;
	int rc = exec_await_take(exec_schedule_after(m->loop, EXEC_NS_PER_MS), NULL);
	return rc == 0 ? 1 : exec_fiber_return_error(rc < 0 ? rc : -EIO);
}

static inline void run_many(size_t n, const exec_fiber_options *o, size_t *values,
		     size_t *enomem)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	many m = {exec_run_loop_scheduler(&loop)};
	exec_sender *s = exec_fiber_sender(wait_timer, &m, o);
	size_t al = exec_sender_op_align(s);
	size_t sz = (exec_sender_op_size(s) + al - 1) & ~(al - 1); /* stride */
	char *ops = aligned_alloc(64, ((n * sz) + 63) & ~(size_t)63);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(exec_connect(s, ops + i * sz, &t.base), 0);
		exec_start((exec_op *)(ops + i * sz));
	}
	/* Every fiber is now suspended in its await (or failed to start). */
	exec_run_loop_finish(&loop);
	exec_run_loop_run(&loop);
	*values = AO_load(&t.values_calls);
	*enomem = AO_load(&t.error_calls);
	assert_int_equal(AO_load(&t.stopped_calls), 0);
	assert_int_equal(*values + *enomem, n);
	if (*enomem)
		assert_int_equal(t.error, -ENOMEM);
	exec_test_receiver_destroy(&t);
	free(ops);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
	exec_stack_cache_trim();
}

#endif
