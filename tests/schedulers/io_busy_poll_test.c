/* tests for exec_io_loop_options.busy_poll_ns (schedulers/io_uring.c): a
 * loop that polls its ring instead of sleeping still delivers everything
 * that ends a sleep - completions, tasks from other threads, timers, a
 * stop - and the ring asks for TASKRUN_FLAG. The poll here is 30 s long, so
 * a poll that missed any of them would hang its test (CTest's timeout)
 * rather than pass slowly; nothing is timed. The epoll backend ignores the
 * option: the same cases run there too. */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"
#include "on_valgrind.h"

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define POLL_NS (30 * EXEC_NS_PER_S)

static exec_io_backend backend = EXEC_IO_BACKEND_URING;

static exec_io_loop *loop_new(int64_t busy_poll_ns)
{
	exec_io_loop_options o = {.backend = backend, .busy_poll_ns = busy_poll_ns};
	exec_io_loop *loop = NULL;
	assert_int_equal(exec_io_loop_create(&loop, &o), 0);
	return loop;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int64_t io_sync(exec_io_loop *loop, exec_sender *s)
{
	exec_result r;
	int rc = exec_io_loop_sync_wait(loop, s, &r);
	exec_sender_free(s);
	assert_int_equal(rc, 0);
	assert_int_equal(r.kind, EXEC_RESULT_VALUE);
	int64_t v = exec_value_as_i64(&r.values[0]);
	exec_result_clear(&r);
	return v;
}

static void features(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new(POLL_NS);
	const exec_io_features *f = exec_io_loop_features(loop);
	if (exec_io_loop_backend(loop) == EXEC_IO_BACKEND_EPOLL)
		assert_false(f->taskrun_flag);
	else if (f->defer_taskrun)
		assert_true(f->taskrun_flag); /* asked for with the poll */
	exec_io_loop_destroy(loop);
	/* Without the option the ring is set up as before. */
	loop = loop_new(0);
	assert_false(exec_io_loop_features(loop)->taskrun_flag);
	exec_io_loop_destroy(loop);
}

/* The peer answers each message a moment later, so that the recv is in
 * the kernel, waiting, when the answer comes: it completes while the loop
 * polls (the previous round did work and the recv is in flight). */
static void *echo_peer(void *arg)
{
	int fd = *(int *)arg;
	char buf[64];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		sleep_ms(1);
		if (write(fd, buf, (size_t)n) != n)
			break;
	}
	return NULL;
}

static void ping_pong(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new(POLL_NS);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, echo_peer, &sv[1]), 0);
	for (int i = 0; i < 200; i++) {
		char out[16], in[16] = {0};
		int len = snprintf(out, sizeof out, "ping %d", i);
		assert_int_equal(io_sync(loop, exec_io_send(loop, sv[0], out, (size_t)len, 0)),
				 len);
		size_t got = 0;
		while (got < (size_t)len) {
			int64_t n = io_sync(loop, exec_io_recv(loop, sv[0], in + got,
							       (size_t)len - got, 0));
			assert_true(n > 0);
			got += (size_t)n;
		}
		assert_memory_equal(in, out, (size_t)len);
	}
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(sv[0]);
	close(sv[1]);
	exec_io_loop_destroy(loop);
}

/* A loop with a recv in flight that never completes, after an iteration
 * that did work: the next wait is a poll. */
typedef struct pending {
	exec_receiver base;
	exec_env env;
	exec_stop_source stop;
	int sv[2];
	char buf[8];
	exec_sender *s;
	void *op;
	int stopped;
} pending;

static void pd_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)r, (void)v, (void)n;
	fail_msg("the pending recv received");
}
static void pd_error(exec_receiver *r, int err)
{
	(void)r;
	fail_msg("the pending recv failed: %d", err);
}
static void pd_stopped(exec_receiver *r)
{
	EXEC_CONTAINER_OF(r, pending, base)->stopped++;
}
static const exec_env *pd_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, pending, base)->env;
}
static const exec_receiver_ops pd_ops = {pd_value, pd_error, pd_stopped, pd_env};

static void pending_start(pending *p, exec_io_loop *loop)
{
	memset(p, 0, sizeof *p);
	p->base.ops = &pd_ops;
	exec_stop_source_init(&p->stop);
	p->env = exec_env_empty;
	p->env.stop_token = exec_stop_source_token(&p->stop);
	p->env.scheduler = exec_io_loop_scheduler(loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->sv), 0);
	p->s = exec_io_recv(loop, p->sv[0], p->buf, sizeof p->buf, 0);
	assert_int_equal(posix_memalign(&p->op, 64, exec_sender_op_size(p->s)), 0);
	assert_int_equal(exec_connect(p->s, p->op, &p->base), 0);
	exec_start(p->op);
	/* Work done: a send on the other socket of the pair. */
	assert_int_equal(io_sync(loop, exec_io_send(loop, p->sv[0], "x", 1, 0)), 1);
}

static void pending_end(pending *p, exec_io_loop *loop)
{
	exec_stop_source_request(&p->stop);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(p->stopped, 1);
	free(p->op);
	exec_sender_free(p->s);
	close(p->sv[0]);
	close(p->sv[1]);
}

typedef struct stopper {
	exec_task task;
	exec_io_loop *loop;
	int ran;
} stopper;

static void stop_task(exec_task *t, int status)
{
	stopper *s = EXEC_CONTAINER_OF(t, stopper, task);
	assert_int_equal(status, 0);
	s->ran++;
	exec_io_loop_stop(s->loop);
}

static void *submit_later(void *arg)
{
	stopper *s = arg;
	sleep_ms(20);
	exec_scheduler_submit(exec_io_loop_scheduler(s->loop), &s->task);
	return NULL;
}

static void task_from_thread_ends_poll(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new(POLL_NS);
	pending p;
	pending_start(&p, loop);
	stopper s = {.task.fn = stop_task, .loop = loop};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, submit_later, &s), 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.ran, 1);
	pending_end(&p, loop);
	exec_io_loop_destroy(loop);
}

static void timer_ends_poll(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new(POLL_NS);
	pending p;
	pending_start(&p, loop);
	stopper s = {.task.fn = stop_task, .loop = loop};
	exec_scheduler *sched = exec_io_loop_scheduler(loop);
	assert_int_equal(exec_scheduler_submit_at(sched, &s.task,
						  exec_scheduler_now(sched) +
							  10 * EXEC_NS_PER_MS),
			 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	assert_int_equal(s.ran, 1);
	pending_end(&p, loop);
	exec_io_loop_destroy(loop);
}

static void *stop_later(void *arg)
{
	sleep_ms(20);
	exec_io_loop_stop(arg);
	return NULL;
}

static void stop_from_thread_ends_poll(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new(POLL_NS);
	pending p;
	pending_start(&p, loop);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, stop_later, loop), 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	pending_end(&p, loop);
	exec_io_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(features),
		cmocka_unit_test(ping_pong),
		cmocka_unit_test(task_from_thread_ends_poll),
		cmocka_unit_test(timer_ends_poll),
		cmocka_unit_test(stop_from_thread_ends_poll),
	};
	int failed = 0;
	if (!exec_test_skip_on_valgrind("the io_uring group", EXEC_TEST_VALGRIND_URING))
		failed += cmocka_run_group_tests_name("io_busy_poll (io_uring)", tests, NULL,
						      NULL);
	backend = EXEC_IO_BACKEND_EPOLL;
	failed += cmocka_run_group_tests_name("io_busy_poll (epoll)", tests, NULL, NULL);
	return failed;
}
