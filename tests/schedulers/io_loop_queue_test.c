/* tests for the io loop's ready queue (schedulers/io_uring.c, run_ready):
 * a task queued by a task of the current batch that is not the batch's last
 * one runs too. (It used to be dropped: the end of the batch reset the
 * queue. examples/fetch_many found it as connections whose cancel task
 * vanished, so the server never finished stopping.) Both backends. */
#include "cexec_test.h"
#include "on_valgrind.h"

static exec_io_backend backend = EXEC_IO_BACKEND_URING;

static exec_io_loop *loop_new(void)
{
	exec_io_loop_options o = {.backend = backend};
	exec_io_loop *loop = NULL;
	int rc = exec_io_loop_create(&loop, &o);
	if (rc < 0 && backend == EXEC_IO_BACKEND_URING) {
		o.backend = EXEC_IO_BACKEND_EPOLL;
		rc = exec_io_loop_create(&loop, &o);
	}
	assert_int_equal(rc, 0);
	return loop;
}

typedef struct node {
	exec_task task;
	exec_scheduler *sched;
	struct node *child; /* submitted from this task's run, if any */
	int runs;
	int order;
} node;

static int clock_;

static void node_run(exec_task *t, int status)
{
	node *n = EXEC_CONTAINER_OF(t, node, task);
	assert_int_equal(status, 0);
	n->runs++;
	n->order = ++clock_;
	if (n->child)
		assert_int_equal(exec_scheduler_submit(n->sched, &n->child->task), 0);
}

/* Batch [a, b, c]: a queues x and b queues y while the batch runs. */
static void tasks_queued_mid_batch_run(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new();
	exec_scheduler *s = exec_io_loop_scheduler(loop);
	node x = {.task.fn = node_run, .sched = s}, y = x, c = x;
	node a = {.task.fn = node_run, .sched = s, .child = &x};
	node b = {.task.fn = node_run, .sched = s, .child = &y};
	clock_ = 0;
	assert_int_equal(exec_scheduler_submit(s, &a.task), 0);
	assert_int_equal(exec_scheduler_submit(s, &b.task), 0);
	assert_int_equal(exec_scheduler_submit(s, &c.task), 0);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(a.runs, 1);
	assert_int_equal(b.runs, 1);
	assert_int_equal(c.runs, 1);
	assert_int_equal(x.runs, 1);
	assert_int_equal(y.runs, 1);
	/* FIFO: the batch first, then what it queued, in queueing order. */
	assert_true(a.order < b.order && b.order < c.order);
	assert_true(c.order < x.order && x.order < y.order);
	exec_io_loop_destroy(loop);
}

/* The last task of a batch queueing more, and a chain of 1,000 tasks
 * each queueing the next, all run exactly once. */
static void chains_run_once(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new();
	exec_scheduler *s = exec_io_loop_scheduler(loop);
	enum { N = 1000 };
	node *chain = calloc(N, sizeof *chain);
	assert_non_null(chain);
	for (int i = 0; i < N; i++) {
		chain[i].task.fn = node_run;
		chain[i].sched = s;
		chain[i].child = i + 2 < N ? &chain[i + 2] : NULL;
	}
	clock_ = 0;
	/* Two interleaved chains: 0 -> 2 -> 4 ... and 1 -> 3 -> 5 ... */
	assert_int_equal(exec_scheduler_submit(s, &chain[0].task), 0);
	assert_int_equal(exec_scheduler_submit(s, &chain[1].task), 0);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(chain[i].runs, 1);
	free(chain);
	exec_io_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tasks_queued_mid_batch_run),
		cmocka_unit_test(chains_run_once),
	};
	int failed = 0;
	if (!exec_test_skip_on_valgrind("the io_uring group", EXEC_TEST_VALGRIND_URING))
		failed += cmocka_run_group_tests_name("io_loop_queue (io_uring)", tests, NULL, NULL);
	backend = EXEC_IO_BACKEND_EPOLL;
	failed += cmocka_run_group_tests_name("io_loop_queue (epoll)", tests, NULL, NULL);
	return failed;
}
