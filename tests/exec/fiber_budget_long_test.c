/* tests for exec/fiber.c: guarded stacks past vm.max_map_count's budget
 * (about 28,700 fibers, each faulting a page: long-running).
 * CEXEC_TEST_LABELS: long */
#include "cexec_test.h"

#include <errno.h>

#include "exec/fiber.h"

typedef struct many {
	exec_scheduler *loop;
} many;

static int64_t wait_timer(void *arg)
{
	many *m = arg;
	int rc = exec_await_take(exec_schedule_after(m->loop, EXEC_NS_PER_MS), NULL);
	return rc == 0 ? 1 : exec_fiber_return_error(rc < 0 ? rc : -EIO);
}

static void run_many(size_t n, const exec_fiber_options *o, size_t *values,
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

/* Guarded stacks past vm.max_map_count's budget: the extra tasks complete
 * with -ENOMEM, the others run; nothing crashes. */
static void guarded_budget_reports_enomem(void **state)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	skip(); /* tens of thousands of fibers: too many TSan threads / too much memory */
#endif
	exec_stack_cache_trim();
	size_t limit = exec_stack_guarded_limit();
	if (limit > 40000) {
		print_message("skip: guarded budget %zu too large to reach here\n", limit);
		return;
	}
	size_t held = exec_stack_guarded_count();
	exec_fiber_options o = {EXEC_STACK_MIN_SIZE, 0};
	size_t values, enomem;
	run_many(limit + 100, &o, &values, &enomem);
	assert_int_equal(values, limit - held);
	assert_int_equal(enomem, 100 + held);
	assert_int_equal(exec_stack_guarded_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(guarded_budget_reports_enomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
