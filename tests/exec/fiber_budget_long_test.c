/* tests for exec/fiber.c: guarded stacks past vm.max_map_count's budget
 * (about 28,700 fibers, each faulting a page: long-running).
 * CEXEC_TEST_LABELS: long */
#include "cexec_test.h"
#include "fiber_many.h"

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
