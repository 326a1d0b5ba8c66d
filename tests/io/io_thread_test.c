/* tests for io/io.c and schedulers/io_uring.c across threads: the loop
 * runs on its own thread while two other threads start I/O senders,
 * schedule senders and timers onto it, and request stops; every
 * completion arrives exactly once, on the loop thread. Both backends. */
/* CEXEC_TEST_LABELS: tsan */
#include "io_test_util.h"

#include <stdlib.h>

#if defined(__SANITIZE_THREAD__)
enum { PER_THREAD = 300 };
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
enum { PER_THREAD = 300 };
#else
enum { PER_THREAD = 3000 };
#endif
#else
enum { PER_THREAD = 3000 };
#endif

typedef struct loop_thread {
	exec_io_loop *loop;
	pthread_t th;
	int rc;
} loop_thread;

static void *loop_main(void *arg)
{
	loop_thread *lt = arg;
	lt->rc = exec_io_loop_run(lt->loop);
	return NULL;
}

static void loop_thread_start(loop_thread *lt)
{
	lt->loop = test_loop_new();
	lt->rc = -1;
	assert_int_equal(pthread_create(&lt->th, NULL, loop_main, lt), 0);
}

static void loop_thread_join(loop_thread *lt)
{
	exec_io_loop_stop(lt->loop);
	assert_int_equal(pthread_join(lt->th, NULL), 0);
	assert_int_equal(lt->rc, 0);
	exec_io_loop_destroy(lt->loop);
}

/* One thread's share: schedule senders, zero and short timeouts, and a
 * recv on a socket pair whose data this thread writes, all started from
 * this thread; it waits for each completion and checks it ran on the
 * loop thread. */
typedef struct worker {
	loop_thread *lt;
	int id;
	int wrong_thread, wrong_channel, early;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	exec_io_loop *loop = w->lt->loop;
	exec_scheduler *sch = exec_io_loop_scheduler(loop);
	exec_sender *sched = exec_schedule(sch);
	exec_sender *t0 = exec_io_timeout(loop, 0);
	exec_sender *t1 = exec_io_timeout(loop, 50 * EXEC_NS_PER_US);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char buf[8];
	exec_sender *rd = exec_io_recv(loop, sv[0], buf, sizeof buf, 0);
	for (int i = 0; i < PER_THREAD; i++) {
		exec_sender *s = i % 4 == 0 ? sched : i % 4 == 1 ? t0 : i % 4 == 2 ? t1 : rd;
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		t.env.scheduler = sch;
		exec_time before = exec_clock_now();
		assert_int_equal(exec_test_connect(s, &t), 0);
		exec_test_start(&t);
		if (s == rd) {
			char msg = (char)('a' + i % 26);
			assert_int_equal(write(sv[1], &msg, 1), 1);
		}
		exec_test_receiver_wait(&t);
		if (!pthread_equal(t.thread, w->lt->th))
			w->wrong_thread++;
		if (AO_load_acquire(&t.values_calls) != 1 || exec_test_completions(&t) != 1)
			w->wrong_channel++;
		if (s == t1 && exec_clock_now() < before + 50 * EXEC_NS_PER_US)
			w->early++;
		if (s == rd && (t.count != 1 || t.values[0].as.i64 != 1 ||
				buf[0] != (char)('a' + i % 26)))
			w->wrong_channel++;
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(sched);
	exec_sender_free(t0);
	exec_sender_free(t1);
	exec_sender_free(rd);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

static void senders_from_two_threads(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	worker w[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].lt = &lt;
		w[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].wrong_thread, 0);
		assert_int_equal(w[i].wrong_channel, 0);
		assert_int_equal(w[i].early, 0);
	}
	loop_thread_join(&lt);
}

/* Bursts: two threads each start many schedule senders without waiting,
 * then wait for all (the remote queue takes batches; the loop must not
 * lose a wake-up). */
typedef struct burst {
	loop_thread *lt;
	exec_test_receiver *t;
	exec_sender *s;
	int n;
} burst;

static void *burst_main(void *arg)
{
	burst *b = arg;
	for (int i = 0; i < b->n; i++) {
		exec_test_receiver_init(&b->t[i]);
		b->t[i].env.scheduler = exec_io_loop_scheduler(b->lt->loop);
		assert_int_equal(exec_test_connect(b->s, &b->t[i]), 0);
		exec_test_start(&b->t[i]);
	}
	for (int i = 0; i < b->n; i++)
		exec_test_receiver_wait(&b->t[i]);
	return NULL;
}

static void schedule_bursts_from_two_threads(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	for (int round = 0; round < 5; round++) {
		burst b[2];
		pthread_t th[2];
		for (int i = 0; i < 2; i++) {
			b[i].lt = &lt;
			b[i].n = PER_THREAD;
			b[i].t = calloc(PER_THREAD, sizeof *b[i].t);
			assert_non_null(b[i].t);
			b[i].s = i ? exec_schedule(exec_io_loop_scheduler(lt.loop))
				   : exec_io_timeout(lt.loop, 0);
			assert_int_equal(pthread_create(&th[i], NULL, burst_main, &b[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			for (int k = 0; k < PER_THREAD; k++) {
				exec_test_assert_value(&b[i].t[k]);
				assert_true(pthread_equal(b[i].t[k].thread, lt.th));
				exec_test_receiver_destroy(&b[i].t[k]);
			}
			free(b[i].t);
			exec_sender_free(b[i].s);
		}
	}
	loop_thread_join(&lt);
}

/* recvs started from this thread on a loop running elsewhere, stopped
 * from this thread: before they reach the kernel, or while in it. All
 * complete stopped exactly once; no data is ever sent. */
static void stop_from_another_thread(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	enum { N = 64 };
	int sv[N][2];
	char buf[N][8];
	exec_stop_source src[N];
	exec_test_receiver t[N];
	exec_sender *rd[N];
	for (int i = 0; i < N; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
		exec_stop_source_init(&src[i]);
		exec_test_receiver_init(&t[i]);
		rd[i] = exec_io_recv(lt.loop, sv[i][0], buf[i], 8, 0);
		test_io_start(lt.loop, rd[i], &t[i], exec_stop_source_token(&src[i]));
		if (i % 3 == 0)
			exec_stop_source_request(&src[i]); /* races the start */
	}
	/* A round trip through the loop: every start above has begun. */
	exec_sender *sched = exec_schedule(exec_io_loop_scheduler(lt.loop));
	exec_test_receiver sync;
	exec_test_receiver_init(&sync);
	sync.env.scheduler = exec_io_loop_scheduler(lt.loop);
	assert_int_equal(exec_test_connect(sched, &sync), 0);
	exec_test_start(&sync);
	exec_test_receiver_wait(&sync);
	for (int i = 0; i < N; i++)
		if (i % 3)
			exec_stop_source_request(&src[i]); /* in flight */
	for (int i = 0; i < N; i++) {
		exec_test_receiver_wait(&t[i]);
		exec_test_assert_stopped(&t[i]);
		assert_true(pthread_equal(t[i].thread, lt.th));
		exec_sender_free(rd[i]);
		exec_test_receiver_destroy(&t[i]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	exec_sender_free(sched);
	exec_test_receiver_destroy(&sync);
	loop_thread_join(&lt);
}

static void *sync_wait_timeout_main(void *arg)
{
	exec_io_loop *loop = arg;
	exec_sender *s = exec_io_timeout(loop, 0);
	int rc = exec_io_loop_sync_wait(loop, s, NULL);
	exec_sender_free(s);
	return (void *)(intptr_t)rc;
}

/* A loop run by one thread, then by another: with SINGLE_ISSUER and
 * DEFER_TASKRUN the ring belongs to the first thread and the second gets
 * -EEXIST before anything starts (the data stays unread); with
 * no_single_issuer, or on epoll, both threads may drive it in turn. */
static void loop_bound_to_first_thread(void **state)
{
	(void)state;
	for (int nosi = 0; nosi < 2; nosi++) {
		exec_io_loop_options o;
		memset(&o, 0, sizeof o);
		o.backend = test_backend;
		o.no_single_issuer = nosi;
		exec_io_loop *loop = NULL;
		assert_int_equal(exec_io_loop_create(&loop, &o), 0);
		const exec_io_features *f = exec_io_loop_features(loop);
		if (nosi)
			assert_false(f->single_issuer);
		pthread_t th;
		void *ret;
		assert_int_equal(pthread_create(&th, NULL, sync_wait_timeout_main, loop), 0);
		assert_int_equal(pthread_join(th, &ret), 0);
		assert_int_equal((int)(intptr_t)ret, 0);
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(write(sv[1], "abc", 3), 3);
		char buf[4];
		exec_sender *rd = exec_io_recv(loop, sv[0], buf, sizeof buf, 0);
		exec_result r;
		int rc = exec_io_loop_sync_wait(loop, rd, &r);
		if (f->single_issuer && f->defer_taskrun) {
			assert_int_equal(rc, -EEXIST);
			char c[4];
			assert_int_equal(recv(sv[0], c, sizeof c, MSG_DONTWAIT), 3);
		} else if (f->single_issuer) {
			fprintf(stderr, "single issuer without DEFER_TASKRUN: "
					"the -EEXIST case is not checked\n");
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(r.values[0].as.i64, 3);
		}
		exec_sender_free(rd);
		close(sv[0]);
		close(sv[1]);
		exec_io_loop_destroy(loop);
	}
}


/* write(2) calls made by this process so far (/proc/self/io). */
static long write_syscalls(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	if (!f)
		return -1;
	char line[128];
	long v = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "syscw: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

typedef struct gate_task {
	exec_task task;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, open;
} gate_task;

static void gate_fn(exec_task *t, int status)
{
	gate_task *g = EXEC_CONTAINER_OF(t, gate_task, task);
	(void)status;
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static AO_t batch_ran;

static void count_fn(exec_task *t, int status)
{
	(void)t;
	if (status == 0)
		AO_fetch_and_add1(&batch_ran);
}

/* While the loop is awake (here: inside a task), tasks submitted from
 * another thread cost no wake-up at all: not one write(2) for a batch of
 * 1,000. (The wake-up is paid only when the loop may be asleep, once.) */
static void no_wakeup_per_task_while_awake(void **state)
{
	(void)state;
	if (write_syscalls() < 0)
		test_skip("no /proc/self/io here");
	/* valgrind's own lock hand-offs between threads are write(2) calls
	 * on a pipe, counted in the same syscw. */
	if (RUNNING_ON_VALGRIND)
		test_skip("under valgrind (its thread switches write to a pipe)");
	loop_thread lt;
	loop_thread_start(&lt);
	exec_scheduler *sch = exec_io_loop_scheduler(lt.loop);
	gate_task g;
	memset(&g, 0, sizeof g);
	g.task.fn = gate_fn;
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	assert_int_equal(exec_scheduler_submit(sch, &g.task), 0);
	pthread_mutex_lock(&g.mu);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	/* The loop thread is inside gate_fn: awake, not sleeping. */
	enum { BATCH = 1000 };
	exec_task *tasks = calloc(BATCH, sizeof *tasks);
	assert_non_null(tasks);
	AO_store(&batch_ran, 0);
	long before = write_syscalls();
	for (int i = 0; i < BATCH; i++) {
		tasks[i].fn = count_fn;
		assert_int_equal(exec_scheduler_submit(sch, &tasks[i]), 0);
	}
	long after = write_syscalls();
	assert_int_equal(after - before, 0);
	pthread_mutex_lock(&g.mu);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	/* A round trip: the batch ran before this (FIFO). */
	exec_sender *sched = exec_schedule(sch);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.scheduler = sch;
	assert_int_equal(exec_test_connect(sched, &t), 0);
	exec_test_start(&t);
	exec_test_receiver_wait(&t);
	assert_int_equal(AO_load_acquire(&batch_ran), BATCH);
	exec_sender_free(sched);
	exec_test_receiver_destroy(&t);
	loop_thread_join(&lt);
	free(tasks);
	pthread_mutex_destroy(&g.mu);
	pthread_cond_destroy(&g.cv);
}


static const struct CMUnitTest tests[] = {
	cmocka_unit_test(senders_from_two_threads),
	cmocka_unit_test(schedule_bursts_from_two_threads),
	cmocka_unit_test(stop_from_another_thread),
	cmocka_unit_test(loop_bound_to_first_thread),
	cmocka_unit_test(no_wakeup_per_task_while_awake),
};

TEST_MAIN_BOTH_BACKENDS(tests)
