/* tests for schedulers/io_watchdog.c: the io loop's watchdog reports a
 * callback that blocks the loop thread, once, naming it; it stays quiet
 * while the loop sleeps. The tests check what was reported, never how fast:
 * a blocking callback blocks until the report has arrived (bounded by a
 * generous safety limit). */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"
#include "on_valgrind.h"

#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static exec_io_backend backend = EXEC_IO_BACKEND_URING;

typedef struct reports {
	pthread_mutex_t mu;
	int count;
	exec_io_watchdog_report last;
	char op[32];
} reports;

static void record(void *ctx, const exec_io_watchdog_report *r)
{
	reports *rs = ctx;
	pthread_mutex_lock(&rs->mu);
	rs->count++;
	rs->last = *r;
	snprintf(rs->op, sizeof rs->op, "%s", r->op ? r->op : "");
	pthread_mutex_unlock(&rs->mu);
}

static int count_of(reports *rs)
{
	pthread_mutex_lock(&rs->mu);
	int n = rs->count;
	pthread_mutex_unlock(&rs->mu);
	return n;
}

static exec_io_loop *loop_new(reports *rs, int64_t threshold_ns)
{
	exec_io_loop_options o = {.backend = backend,
				  .watchdog_ns = threshold_ns,
				  .watchdog_fn = record,
				  .watchdog_ctx = rs};
	exec_io_loop *loop = NULL;
	int rc = exec_io_loop_create(&loop, &o);
	if (rc < 0 && backend == EXEC_IO_BACKEND_URING) {
		o.backend = EXEC_IO_BACKEND_EPOLL;
		rc = exec_io_loop_create(&loop, &o);
	}
	assert_int_equal(rc, 0);
	return loop;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Blocks the calling (loop) thread until the watchdog reported, then a
 * few thresholds more: a second report for the same stall would show. */
static void block_until_reported(reports *rs)
{
	for (int i = 0; i < 30000 && count_of(rs) == 0; i++) /* <= 30 s */
		sleep_ms(1);
	sleep_ms(200); /* 4 thresholds of 50 ms */
}

typedef struct blocker {
	exec_task task;
	reports *rs;
	exec_io_loop *loop;
} blocker;

static void blocking_task(exec_task *t, int status)
{
	(void)status;
	blocker *b = EXEC_CONTAINER_OF(t, blocker, task);
	block_until_reported(b->rs);
	exec_io_loop_stop(b->loop);
}

static void fires_once_for_blocking_task(void **state)
{
	(void)state;
	reports rs = {.mu = PTHREAD_MUTEX_INITIALIZER};
	exec_io_loop *loop = loop_new(&rs, 50 * EXEC_NS_PER_MS);
	blocker b = {.task.fn = blocking_task, .rs = &rs, .loop = loop};
	assert_int_equal(exec_scheduler_submit(exec_io_loop_scheduler(loop), &b.task), 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	assert_int_equal(count_of(&rs), 1);
	assert_string_equal(rs.last.kind, "task");
	assert_ptr_equal(rs.last.fn, (void *)blocking_task);
	assert_ptr_equal(rs.last.loop, loop);
	assert_int_equal(rs.last.fd, -1);
	assert_true(rs.last.stalled_ns >= 50 * EXEC_NS_PER_MS);
	exec_io_loop_destroy(loop);
}

/* A receiver that blocks inside an I/O completion: the report names the
 * operation and its fd. */
typedef struct io_blocker {
	exec_receiver base;
	exec_env env;
	reports *rs;
	int calls;
} io_blocker;

static void ib_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	io_blocker *b = EXEC_CONTAINER_OF(r, io_blocker, base);
	b->calls++;
	block_until_reported(b->rs);
}
static void ib_error(exec_receiver *r, int err)
{
	(void)err;
	EXEC_CONTAINER_OF(r, io_blocker, base)->calls++;
}
static void ib_stopped(exec_receiver *r)
{
	EXEC_CONTAINER_OF(r, io_blocker, base)->calls++;
}
static const exec_env *ib_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, io_blocker, base)->env;
}
static const exec_receiver_ops ib_ops = {ib_value, ib_error, ib_stopped, ib_env};

static void names_blocking_io_completion(void **state)
{
	(void)state;
	reports rs = {.mu = PTHREAD_MUTEX_INITIALIZER};
	exec_io_loop *loop = loop_new(&rs, 50 * EXEC_NS_PER_MS);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "ping", 4), 4);
	char buf[8];
	exec_sender *s = exec_io_recv(loop, sv[0], buf, sizeof buf, 0);
	io_blocker b = {.base.ops = &ib_ops, .rs = &rs};
	b.env = exec_env_empty;
	b.env.scheduler = exec_io_loop_scheduler(loop);
	void *op = NULL;
	assert_int_equal(posix_memalign(&op, 64, exec_sender_op_size(s)), 0);
	assert_int_equal(exec_connect(s, op, &b.base), 0);
	exec_start(op);
	for (int i = 0; i < 100000 && b.calls == 0; i++)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(count_of(&rs), 1);
	assert_string_equal(rs.last.kind, "io");
	assert_string_equal(rs.op, "recv");
	assert_int_equal(rs.last.fd, sv[0]);
	assert_null(rs.last.fn);
	free(op);
	exec_sender_free(s);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* A loop asleep in the kernel (waiting for a timer) is not stuck. */
static void quiet_while_sleeping(void **state)
{
	(void)state;
	reports rs = {.mu = PTHREAD_MUTEX_INITIALIZER};
	exec_io_loop *loop = loop_new(&rs, 100 * EXEC_NS_PER_MS);
	exec_sender *t = exec_io_timeout(loop, 300 * EXEC_NS_PER_MS);
	assert_int_equal(exec_io_loop_sync_wait(loop, t, NULL), 0);
	exec_sender_free(t);
	assert_int_equal(count_of(&rs), 0);
	exec_io_loop_destroy(loop);
}

/* Off by default: no thread, nothing reported, create/destroy as before. */
static void off_by_default(void **state)
{
	(void)state;
	exec_io_loop *loop = NULL;
	exec_io_loop_options o = {.backend = backend == EXEC_IO_BACKEND_EPOLL
						 ? EXEC_IO_BACKEND_EPOLL
						 : EXEC_IO_BACKEND_AUTO};
	assert_int_equal(exec_io_loop_create(&loop, &o), 0);
	exec_sender *t = exec_io_timeout(loop, 1 * EXEC_NS_PER_MS);
	assert_int_equal(exec_io_loop_sync_wait(loop, t, NULL), 0);
	exec_sender_free(t);
	exec_io_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fires_once_for_blocking_task),
		cmocka_unit_test(names_blocking_io_completion),
		cmocka_unit_test(quiet_while_sleeping),
		cmocka_unit_test(off_by_default),
	};
	int failed = 0;
	if (!exec_test_skip_on_valgrind("the io_uring group", EXEC_TEST_VALGRIND_URING))
		failed += cmocka_run_group_tests_name("io_watchdog (io_uring)", tests, NULL, NULL);
	backend = EXEC_IO_BACKEND_EPOLL;
	failed += cmocka_run_group_tests_name("io_watchdog (epoll)", tests, NULL, NULL);
	return failed;
}
