/* tests for how an io loop waits under load (schedulers/io_uring.c), the
 * options exec_io_loop_options.busy_poll_ns and batch_wait_ns.
 *
 * busy_poll_ns: a loop that polls its ring instead of sleeping still
 * delivers everything that ends a sleep - completions, tasks from other
 * threads, timers, a stop - and the ring asks for TASKRUN_FLAG.
 *
 * batch_wait_ns: a loop whose last wake-up brought several completions
 * sleeps until a batch is ready (the kernel's minimum wait); a lone
 * request-reply peer is never held back; a timer or the minimum wait still
 * ends the sleep, so tasks from other threads and stops arrive.
 *
 * The poll and the batch wait are 30 s long where the case needs them to
 * end early, so a wait that missed its end would hang its test (CTest's
 * timeout) rather than pass slowly; nothing is timed. The epoll backend
 * ignores both options: the same cases run there too. */
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

#define BATCH_NS (30 * EXEC_NS_PER_S)

static exec_io_loop *loop_new_with(int64_t busy_poll_ns, int64_t batch_wait_ns)
{
	exec_io_loop_options o = {.backend = backend,
				  .busy_poll_ns = busy_poll_ns,
				  .batch_wait_ns = batch_wait_ns};
	exec_io_loop *loop = NULL;
	assert_int_equal(exec_io_loop_create(&loop, &o), 0);
	return loop;
}

static exec_io_loop *loop_new(int64_t busy_poll_ns)
{
	return loop_new_with(busy_poll_ns, 0);
}

/* Whether batch_wait_ns takes effect on this loop's ring. */
static bool batch_wait_works(exec_io_loop *loop)
{
	const exec_io_features *f = exec_io_loop_features(loop);
	return exec_io_loop_backend(loop) == EXEC_IO_BACKEND_URING && f->min_timeout &&
	       f->defer_taskrun;
}

/* On io_uring without the kernel's minimum wait the option is ignored and
 * a batch case would check nothing: it is skipped there (with a reason).
 * On epoll, which ignores the option too, the case checks just that. */
static void skip_batch_case(exec_io_loop *loop)
{
	exec_io_loop_destroy(loop);
	print_message("skipped: batched waiting needs io_uring with DEFER_TASKRUN "
		      "and IORING_FEAT_MIN_TIMEOUT (6.12+)\n");
	skip();
}

static void skip_without_batch_wait(exec_io_loop *loop)
{
	if (exec_io_loop_backend(loop) != EXEC_IO_BACKEND_EPOLL && !batch_wait_works(loop))
		skip_batch_case(loop);
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
	loop = loop_new_with(0, BATCH_NS);
	if (exec_io_loop_backend(loop) == EXEC_IO_BACKEND_EPOLL)
		assert_false(exec_io_loop_features(loop)->min_timeout);
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

static void ping_pong_on(exec_io_loop *loop)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, echo_peer, &sv[1]), 0);
	for (int i = 0; i < 200; i++) {
		char out[16], in[16] = {0};
		int len = snprintf(out, sizeof out, "ping %d", i);
		assert_int_equal(
			io_sync(loop, exec_io_send(loop, sv[0], out, (size_t)len, 0)),
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

static void ping_pong(void **state)
{
	(void)state;
	ping_pong_on(loop_new(POLL_NS));
}

/* A lone request-reply peer: each wake-up brings one completion, so the
 * loop never waits for a batch (with a 30 s minimum wait, 200 rounds that
 * did would hang). */
static void batch_lone_peer(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new_with(0, BATCH_NS);
	skip_without_batch_wait(loop);
	ping_pong_on(loop);
}

/* A recv of one byte on one end of a socket pair (sv[0]; the test writes
 * to sv[1]), counting how it completed. */
typedef struct probe {
	exec_receiver base;
	exec_env env;
	int sv[2];
	char byte;
	void *op;
	int got; /* bytes received */
	int stopped;
} probe;

static void probe_value(exec_receiver *r, const exec_value *v, size_t n)
{
	assert_int_equal(n, 1);
	EXEC_CONTAINER_OF(r, probe, base)->got += (int)exec_value_as_i64(&v[0]);
}
static void probe_error(exec_receiver *r, int err)
{
	(void)r;
	fail_msg("a recv failed: %d", err);
}
static void probe_stopped(exec_receiver *r)
{
	EXEC_CONTAINER_OF(r, probe, base)->stopped++;
}
static const exec_env *probe_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, probe, base)->env;
}
static const exec_receiver_ops probe_ops = {probe_value, probe_error, probe_stopped,
					    probe_env};

/* Starts p's recv; stop ends it. */
static void probe_start(probe *p, exec_io_loop *loop, exec_stop_source *stop)
{
	memset(p, 0, sizeof *p);
	p->base.ops = &probe_ops;
	p->env = exec_env_empty;
	p->env.stop_token = exec_stop_source_token(stop);
	p->env.scheduler = exec_io_loop_scheduler(loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->sv), 0);
	exec_sender *s = exec_io_recv(loop, p->sv[0], &p->byte, 1, 0);
	assert_int_equal(posix_memalign(&p->op, 64, exec_sender_op_size(s)), 0);
	assert_int_equal(exec_connect(s, p->op, &p->base), 0);
	exec_sender_free(s); /* recv senders may go once connected */
	exec_start(p->op);
}

/* Checks that p completed once: with the byte 'b' if wrote, else stopped. */
static void probe_end(probe *p, bool wrote)
{
	assert_int_equal(p->got + p->stopped, 1);
	assert_int_equal(p->got, wrote);
	if (wrote)
		assert_int_equal(p->byte, 'b');
	free(p->op);
	close(p->sv[0]);
	close(p->sv[1]);
}

/* A lone peer whose every message arrives in four pieces of a multishot
 * recv: the pieces of one operation count once, so the loop never waits
 * for a batch (with a 30 s minimum wait, 50 rounds that did would hang). */
enum { MSG = 64, PIECE = 16, LONE_ROUNDS = 50 };

typedef struct lone {
	exec_io_loop *loop;
	exec_io_buf_ring *ring;
	int sv[2];
	size_t got;         /* bytes of the current message */
	pthread_mutex_t mu; /* rounds: messages the loop has read whole */
	pthread_cond_t cv;
	int rounds;
} lone;

static void lone_piece(void *ctx, void *buf, size_t len)
{
	lone *l = ctx;
	exec_io_buf_ring_recycle(l->ring, buf);
	l->got += len;
	if (l->got < MSG)
		return;
	assert_int_equal(l->got, MSG);
	l->got = 0;
	pthread_mutex_lock(&l->mu);
	int done = ++l->rounds;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	if (done == LONE_ROUNDS)
		exec_io_loop_stop(l->loop);
}

/* Sends a message, then waits until the loop has read all of it. */
static void *lone_writer(void *arg)
{
	lone *l = arg;
	char msg[MSG];
	memset(msg, 'm', sizeof msg);
	for (int i = 1; i <= LONE_ROUNDS; i++) {
		assert_int_equal(write(l->sv[1], msg, sizeof msg), MSG);
		pthread_mutex_lock(&l->mu);
		while (l->rounds < i)
			pthread_cond_wait(&l->cv, &l->mu);
		pthread_mutex_unlock(&l->mu);
	}
	return NULL;
}

static void batch_lone_multishot_peer(void **state)
{
	(void)state;
	lone l = {.loop = loop_new_with(0, BATCH_NS)};
	skip_without_batch_wait(l.loop);
	pthread_mutex_init(&l.mu, NULL);
	pthread_cond_init(&l.cv, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, l.sv), 0);
	assert_int_equal(exec_io_buf_ring_create(l.loop, 64, PIECE, 1, &l.ring), 0);
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	probe p = {.base.ops = &probe_ops, .env = exec_env_empty}; /* its stop ends */
	p.env.stop_token = exec_stop_source_token(&stop);
	p.env.scheduler = exec_io_loop_scheduler(l.loop);
	exec_sender *s = exec_io_recv_multishot(l.loop, l.sv[0], l.ring, 0, lone_piece, &l);
	assert_int_equal(posix_memalign(&p.op, 64, exec_sender_op_size(s)), 0);
	assert_int_equal(exec_connect(s, p.op, &p.base), 0);
	exec_start(p.op);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, lone_writer, &l), 0);
	assert_int_equal(exec_io_loop_run(l.loop), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(l.rounds, LONE_ROUNDS);
	exec_stop_source_request(&stop);
	assert_int_equal(exec_io_loop_run_until_empty(l.loop), 0);
	assert_int_equal(p.stopped, 1);
	free(p.op);
	exec_sender_free(s);
	exec_io_buf_ring_destroy(l.ring);
	close(l.sv[0]);
	close(l.sv[1]);
	pthread_cond_destroy(&l.cv);
	pthread_mutex_destroy(&l.mu);
	exec_io_loop_destroy(l.loop);
}

/* A loop with a recv in flight that never completes, after an iteration
 * that did work: the next wait is a poll. */
typedef struct pending {
	exec_stop_source stop;
	probe p;
} pending;

static void pending_start(pending *p, exec_io_loop *loop)
{
	exec_stop_source_init(&p->stop);
	probe_start(&p->p, loop, &p->stop);
	/* Work done: a send on the other socket of the pair. */
	assert_int_equal(io_sync(loop, exec_io_send(loop, p->p.sv[0], "x", 1, 0)), 1);
}

static void pending_end(pending *p, exec_io_loop *loop)
{
	exec_stop_source_request(&p->stop);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	probe_end(&p->p, false);
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

/* Runs loop until a task that another thread submits 20 ms from now
 * stops it. */
static void run_until_task_from_thread(exec_io_loop *loop)
{
	stopper s = {.task.fn = stop_task, .loop = loop};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, submit_later, &s), 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.ran, 1);
}

/* Runs loop until a task due in 10 ms stops it. */
static void run_until_timer(exec_io_loop *loop)
{
	stopper s = {.task.fn = stop_task, .loop = loop};
	exec_scheduler *sched = exec_io_loop_scheduler(loop);
	assert_int_equal(
		exec_scheduler_submit_at(sched, &s.task,
					 exec_scheduler_now(sched) + 10 * EXEC_NS_PER_MS),
		0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	assert_int_equal(s.ran, 1);
}

static void task_from_thread_ends_poll(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new(POLL_NS);
	pending p;
	pending_start(&p, loop);
	run_until_task_from_thread(loop);
	pending_end(&p, loop);
	exec_io_loop_destroy(loop);
}

static void timer_ends_poll(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new(POLL_NS);
	pending p;
	pending_start(&p, loop);
	run_until_timer(loop);
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

/* Many recvs in flight on socket pairs; write_to(i) gives recv i a byte. */
enum { NPAIRS = 36, PRIME = 4, BATCH = 32 };

typedef struct many {
	exec_stop_source stop;
	probe p[NPAIRS];
	int gap_ms; /* between the writer thread's writes */
} many;

static void write_to(many *m, int i)
{
	assert_int_equal(write(m->p[i].sv[1], "b", 1), 1);
}

/* NPAIRS recvs in flight on loop, which one wake-up that brought several
 * completions has made wait for batches from now on. */
static many *many_batching(exec_io_loop *loop)
{
	many *m = calloc(1, sizeof *m);
	assert_non_null(m);
	exec_stop_source_init(&m->stop);
	for (int i = 0; i < NPAIRS; i++)
		probe_start(&m->p[i], loop, &m->stop);
	/* Started from outside the loop, the recvs reach it as tasks: one
	 * iteration runs them and hands them to the kernel. */
	assert_int_equal(exec_io_loop_run_once(loop, false), NPAIRS);
	for (int i = 0; i < PRIME; i++)
		write_to(m, i);
	/* One wake-up brings the four. */
	assert_int_equal(exec_io_loop_run_once(loop, true), PRIME);
	return m;
}

/* Ends the recvs still in flight and checks that each recv completed
 * once: with its byte if it was written to (i < written), else stopped. */
static void many_end(many *m, exec_io_loop *loop, int written)
{
	exec_stop_source_request(&m->stop);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	for (int i = 0; i < NPAIRS; i++)
		probe_end(&m->p[i], i < written);
	free(m);
}

static void *write_slowly(void *arg)
{
	many *m = arg;
	for (int i = PRIME; i < PRIME + BATCH; i++) {
		sleep_ms(m->gap_ms);
		write_to(m, i);
	}
	return NULL;
}

/* After a wake-up that brought several completions, the loop sleeps until
 * a batch of 32 is ready, however slowly the peers write (a plain sleep
 * would end with the first write, 1 ms in). */
static void batch_waits_for_the_batch(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new_with(0, BATCH_NS);
	if (!batch_wait_works(loop))
		skip_batch_case(loop); /* on epoll too: it checks a batch */
	many *m = many_batching(loop);
	m->gap_ms = 1;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, write_slowly, m), 0);
	assert_int_equal(exec_io_loop_run_once(loop, true), BATCH);
	assert_int_equal(pthread_join(th, NULL), 0);
	many_end(m, loop, PRIME + BATCH);
	exec_io_loop_destroy(loop);
}

/* A loop that waits for a batch still ends its sleep for a timer. */
static void batch_timer_ends_wait(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new_with(0, BATCH_NS);
	skip_without_batch_wait(loop);
	many *m = many_batching(loop);
	run_until_timer(loop);
	many_end(m, loop, PRIME);
	exec_io_loop_destroy(loop);
}

/* A task from another thread (exec_io_loop_stop wakes the loop the same
 * way) reaches a batching loop: its wake-up is a completion like the
 * others, which the kernel may hold until the minimum wait (here 20 ms)
 * ends, but it is not lost. */
static void batch_task_from_thread(void **state)
{
	(void)state;
	exec_io_loop *loop = loop_new_with(0, 20 * EXEC_NS_PER_MS);
	skip_without_batch_wait(loop);
	many *m = many_batching(loop);
	run_until_task_from_thread(loop);
	many_end(m, loop, PRIME);
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
		cmocka_unit_test(batch_lone_peer),
		cmocka_unit_test(batch_lone_multishot_peer),
		cmocka_unit_test(batch_waits_for_the_batch),
		cmocka_unit_test(batch_timer_ends_wait),
		cmocka_unit_test(batch_task_from_thread),
	};
	int failed = 0;
	if (!exec_test_skip_on_valgrind("the io_uring group", EXEC_TEST_VALGRIND_URING))
		failed += cmocka_run_group_tests_name("io_wait (io_uring)", tests, NULL,
						      NULL);
	backend = EXEC_IO_BACKEND_EPOLL;
	failed += cmocka_run_group_tests_name("io_wait (epoll)", tests, NULL, NULL);
	return failed;
}
