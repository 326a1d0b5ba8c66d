/* tests for exec/trampoline.c (through schedulers/inline.c as well) */
#include "cexec_test.h"

/* A task that resubmits itself to the inline scheduler a million times.
 * Without the trampoline each submit would nest a few frames deeper and
 * overflow the stack; the test also records the deepest nesting seen. */
typedef struct self_task {
	exec_task task;
	long left, ran;
	unsigned max_depth;
	exec_scheduler *sched;
} self_task;

static void self_fn(exec_task *t, int status)
{
	self_task *s = EXEC_CONTAINER_OF(t, self_task, task);
	assert_int_equal(status, 0);
	s->ran++;
	if (exec_trampoline_depth() > s->max_depth)
		s->max_depth = exec_trampoline_depth();
	if (s->left-- > 0)
		assert_int_equal(exec_scheduler_submit(s->sched, t), 0);
}

static void million_inline_hops(void **state)
{
	self_task s = {.task.fn = self_fn, .left = 999999,
		       .sched = exec_inline_scheduler()};
	assert_int_equal(exec_trampoline_depth(), 0);
	assert_int_equal(exec_scheduler_submit(s.sched, &s.task), 0);
	/* Everything ran before submit returned (inline), */
	assert_int_equal(s.ran, 1000000);
	/* within the depth bound, */
	assert_true(s.max_depth <= EXEC_TRAMPOLINE_DEPTH);
	assert_true(s.max_depth >= 2);
	assert_int_equal(exec_trampoline_depth(), 0);
}

/* A task that submits two children each time: the deferred ones must run
 * in FIFO order. ids are assigned in submission order, so the run order
 * must be exactly 0, 1, 2, ... (breadth first once deferred). */
enum { TREE_TASKS = 4095 };

typedef struct tree {
	exec_task tasks[TREE_TASKS];
	int id_of_task[TREE_TASKS];
	int next_id;
	int log[TREE_TASKS];
	int logged;
} tree;

static tree *g_tree;

static void tree_fn(exec_task *t, int status)
{
	tree *tr = g_tree;
	size_t idx = (size_t)(t - tr->tasks);
	tr->log[tr->logged++] = (int)idx;
	for (size_t c = 2 * idx + 1; c <= 2 * idx + 2 && c < TREE_TASKS; c++)
		exec_trampoline_run(&tr->tasks[c]);
}

static void order_among_deferred_is_fifo(void **state)
{
	tree *tr = calloc(1, sizeof *tr);
	assert_non_null(tr);
	g_tree = tr;
	for (int i = 0; i < TREE_TASKS; i++)
		tr->tasks[i].fn = tree_fn;
	exec_trampoline_run(&tr->tasks[0]);
	assert_int_equal(tr->logged, TREE_TASKS);
	/* Every task ran once; a child never before its parent. */
	int pos[TREE_TASKS];
	for (int i = 0; i < TREE_TASKS; i++)
		pos[i] = -1;
	for (int i = 0; i < TREE_TASKS; i++) {
		assert_int_equal(pos[tr->log[i]], -1);
		pos[tr->log[i]] = i;
	}
	for (int i = 1; i < TREE_TASKS; i++)
		assert_true(pos[(i - 1) / 2] < pos[i]);
	/* Siblings keep their submission order. */
	for (int i = 1; i + 1 < TREE_TASKS; i += 2)
		assert_true(pos[i] < pos[i + 1]);
	free(tr);
}

/* A linear chain deeper than the bound: tasks past the limit are deferred
 * and run in the order they were submitted. */
typedef struct chain {
	exec_task t[300];
	int log[300];
	int n;
} chain;
static chain *g_chain;

static void chain_fn(exec_task *t, int status)
{
	chain *c = g_chain;
	int i = (int)(t - c->t);
	c->log[c->n++] = i;
	if (i + 1 < 300)
		exec_trampoline_run(&c->t[i + 1]);
}

static void deep_chain_in_order(void **state)
{
	chain *c = calloc(1, sizeof *c);
	assert_non_null(c);
	g_chain = c;
	for (int i = 0; i < 300; i++)
		c->t[i].fn = chain_fn;
	exec_trampoline_run(&c->t[0]);
	assert_int_equal(c->n, 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(c->log[i], i);
	free(c);
}

/* A million then-steps reached through inline hops: sync_wait of
 * continues_on(inline) repeated through the scheduler is covered by the
 * self-resubmitting task above; this checks the sender path with a long
 * chain of schedule(inline) | then built in a loop. */
static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(*(long *)ctx)++;
	return 0;
}

static void long_sender_chain_of_inline_hops(void **state)
{
	long calls = 0;
	exec_sender *s = exec_schedule(exec_inline_scheduler());
	for (int i = 0; i < 1000; i++)
		s = exec_then(s, add_one, &calls);
	for (int i = 0; i < 100; i++)
		assert_int_equal(exec_sync_wait(s, NULL), 0);
	assert_int_equal(calls, 100000);
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(million_inline_hops),
		cmocka_unit_test(order_among_deferred_is_fifo),
		cmocka_unit_test(deep_chain_in_order),
		cmocka_unit_test(long_sender_chain_of_inline_hops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
