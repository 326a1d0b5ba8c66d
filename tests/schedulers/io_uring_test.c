/* tests for schedulers/io_uring.c (the I/O loop as a scheduler), on both
 * backends. */
/* CEXEC_TEST_LABELS: tsan */
#include "../io/io_test_util.h"

#include <stdlib.h>

/* A task that records its run order, status and time. */
typedef struct rec_task {
	exec_task task;
	int *order;
	int *n;
	int id;
	int status;
	exec_time ran_at;
	exec_io_loop *stop_loop; /* stop this loop when run */
} rec_task;

static void rec_fn(exec_task *t, int status)
{
	rec_task *r = EXEC_CONTAINER_OF(t, rec_task, task);
	r->status = status;
	r->ran_at = exec_clock_now();
	if (r->order)
		r->order[(*r->n)++] = r->id;
	if (r->stop_loop)
		exec_io_loop_stop(r->stop_loop);
}

static void backend_is_reported(void **state)
{
	exec_io_loop *loop = test_loop_new();
	const char *name = exec_io_loop_backend_name(loop);
	assert_string_equal(name, test_backend == EXEC_IO_BACKEND_URING ? "io_uring"
									  : "epoll");
	const exec_io_features *f = exec_io_loop_features(loop);
	if (test_backend == EXEC_IO_BACKEND_EPOLL)
		assert_false(f->multishot_accept || f->buf_ring);
	else
		assert_true(f->sq_entries > 0);
	assert_ptr_equal(exec_io_loop_from_scheduler(exec_io_loop_scheduler(loop)),
			 loop);
	exec_io_loop_destroy(loop);
}

static void force_epoll_env(void **state)
{
	setenv("CEXEC_FORCE_EPOLL", "1", 1);
	exec_io_loop *loop = NULL;
	assert_int_equal(exec_io_loop_create(&loop, NULL), 0);
	unsetenv("CEXEC_FORCE_EPOLL");
	assert_string_equal(exec_io_loop_backend_name(loop), "epoll");
	exec_io_loop_destroy(loop);
}

/* Tasks submitted before the loop runs (remote queue) and from inside
 * tasks (local queue) run in FIFO order. */
static void fifo_order(void **state)
{
	exec_io_loop *loop = test_loop_new();
	exec_scheduler *s = exec_io_loop_scheduler(loop);
	enum { N = 100 };
	rec_task t[N];
	int order[N], n = 0;
	for (int i = 0; i < N; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].task.fn = rec_fn;
		t[i].order = order;
		t[i].n = &n;
		t[i].id = i;
		t[i].status = -1;
		assert_int_equal(exec_scheduler_submit(s, &t[i].task), 0);
	}
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(n, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(t[i].status, 0);
	}
	exec_io_loop_destroy(loop);
}

/* Timers fire in deadline order and never before their deadline. */
static void timers_in_order_never_early(void **state)
{
	exec_io_loop *loop = test_loop_new();
	exec_scheduler *s = exec_io_loop_scheduler(loop);
	enum { N = 300 };
	rec_task *t = calloc(N, sizeof *t);
	int *order = calloc(N, sizeof *order), n = 0;
	unsigned seed = 12345;
	exec_time base = exec_clock_now();
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		t[i].task.fn = rec_fn;
		t[i].order = order;
		t[i].n = &n;
		t[i].id = i;
		t[i].status = -1;
		/* 0..20 ms, many equal deadlines (FIFO among ties). */
		exec_time d = base + (exec_time)((seed >> 8) % 40) * 500 * EXEC_NS_PER_US;
		assert_int_equal(exec_scheduler_submit_at(s, &t[i].task, d), 0);
	}
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_int_equal(n, N);
	for (int i = 0; i < N; i++) {
		rec_task *r = &t[order[i]];
		assert_int_equal(r->status, 0);
		assert_true(r->ran_at >= r->task.deadline);
		if (i > 0) {
			rec_task *p = &t[order[i - 1]];
			assert_true(p->task.deadline < r->task.deadline ||
				    (p->task.deadline == r->task.deadline && p->id < r->id));
		}
	}
	free(t);
	free(order);
	exec_io_loop_destroy(loop);
}

/* schedule_after through the sender: sync_wait returns after the delay. */
static void timeout_sender(void **state)
{
	exec_io_loop *loop = test_loop_new();
	exec_sender *s = exec_io_timeout(loop, 2 * EXEC_NS_PER_MS);
	exec_time t0 = exec_clock_now();
	exec_result r;
	assert_int_equal(exec_io_loop_sync_wait(loop, s, &r), 0);
	assert_int_equal(r.kind, EXEC_RESULT_VALUE);
	assert_true(exec_clock_now() - t0 >= 2 * EXEC_NS_PER_MS);
	exec_sender_free(s);
	exec_io_loop_destroy(loop);
}

/* A pending timer cancelled by its stop token completes stopped. */
static void cancel_pending_timer(void **state)
{
	exec_io_loop *loop = test_loop_new();
	exec_sender *s = exec_io_timeout(loop, 3600 * EXEC_NS_PER_S);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	t.env.scheduler = exec_io_loop_scheduler(loop);
	exec_test_run(s, &t);
	test_spin(loop, 3);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	test_run_until(loop, &t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_io_loop_destroy(loop);
}

static void stop_before_start(void **state)
{
	exec_io_loop *loop = test_loop_new();
	exec_sender *s = exec_io_timeout(loop, EXEC_NS_PER_S);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	exec_result r;
	assert_int_equal(exec_io_loop_sync_wait_with_stop(
				 loop, s, exec_stop_source_token(&src), &r),
			 EXEC_STOPPED);
	assert_int_equal(r.kind, EXEC_RESULT_STOPPED);
	exec_sender_free(s);
	exec_io_loop_destroy(loop);
}

/* run returns after a task calls stop; queued work left at destroy runs
 * with EXEC_STOPPED. */
static void run_until_stopped_and_destroy(void **state)
{
	exec_io_loop *loop = test_loop_new();
	exec_scheduler *s = exec_io_loop_scheduler(loop);
	rec_task stopper = {0}, late = {0}, timer = {0};
	stopper.task.fn = rec_fn;
	stopper.stop_loop = loop;
	stopper.status = -1;
	late.task.fn = rec_fn;
	late.status = -1;
	timer.task.fn = rec_fn;
	timer.status = -1;
	assert_int_equal(exec_scheduler_submit(s, &stopper.task), 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	assert_int_equal(stopper.status, 0);
	assert_int_equal(exec_scheduler_submit(s, &late.task), 0);
	assert_int_equal(exec_scheduler_submit_at(s, &timer.task,
						  exec_clock_now() + 3600 * EXEC_NS_PER_S),
			 0);
	exec_io_loop_destroy(loop);
	assert_int_equal(late.status, EXEC_STOPPED);
	assert_int_equal(timer.status, EXEC_STOPPED);
}

/* Two threads submit to the loop while it runs (remote queue + wake-ups);
 * each thread's tasks run in its submission order, all on the loop
 * thread. */
enum { PER_THREAD = 20000 };

typedef struct remote_ctx {
	exec_io_loop *loop;
	rec_task *tasks;
	int id;
	AO_t *total;
} remote_ctx;

typedef struct counted_task {
	exec_task task;
	AO_t *total;
	int *last; /* last id run, per submitting thread */
	int id;
	pthread_t *loop_thread;
	int *wrong_thread;
	int *out_of_order;
	exec_io_loop *loop;
} counted_task;

static void counted_fn(exec_task *t, int status)
{
	counted_task *c = EXEC_CONTAINER_OF(t, counted_task, task);
	if (!pthread_equal(pthread_self(), *c->loop_thread) || status != 0)
		(*c->wrong_thread)++;
	if (c->id != *c->last + 1)
		(*c->out_of_order)++;
	*c->last = c->id;
	if (AO_fetch_and_add1(c->total) + 1 == 2 * PER_THREAD)
		exec_io_loop_stop(c->loop);
}

typedef struct submitter {
	exec_io_loop *loop;
	counted_task *tasks;
} submitter;

static void *submit_main(void *arg)
{
	submitter *sb = arg;
	exec_scheduler *s = exec_io_loop_scheduler(sb->loop);
	for (int i = 0; i < PER_THREAD; i++) {
		exec_scheduler_submit(s, &sb->tasks[i].task);
		if (i % 1000 == 0)
			usleep(100); /* let the loop fall asleep now and then */
	}
	return NULL;
}

static void schedule_from_two_threads(void **state)
{
	exec_io_loop *loop = test_loop_new();
	AO_t total = 0;
	int last[2] = {-1, -1}, wrong = 0, ooo = 0;
	pthread_t self = pthread_self();
	counted_task *tasks = calloc(2 * PER_THREAD, sizeof *tasks);
	submitter sb[2];
	for (int k = 0; k < 2; k++) {
		sb[k].loop = loop;
		sb[k].tasks = tasks + k * PER_THREAD;
		for (int i = 0; i < PER_THREAD; i++) {
			counted_task *c = &sb[k].tasks[i];
			c->task.fn = counted_fn;
			c->total = &total;
			c->last = &last[k];
			c->id = i;
			c->loop_thread = &self;
			c->wrong_thread = &wrong;
			c->out_of_order = &ooo;
			c->loop = loop;
		}
	}
	pthread_t th[2];
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&th[k], NULL, submit_main, &sb[k]), 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	assert_int_equal(AO_load(&total), 2 * PER_THREAD);
	assert_int_equal(wrong, 0);
	assert_int_equal(ooo, 0);
	assert_int_equal(last[0], PER_THREAD - 1);
	assert_int_equal(last[1], PER_THREAD - 1);
	free(tasks);
	exec_io_loop_destroy(loop);
}

/* A timer set from another thread while the loop sleeps with no deadline
 * wakes it; a stop from another thread ends run. */
typedef struct timer_thread {
	exec_io_loop *loop;
	rec_task *t;
} timer_thread;

static void *set_timer_main(void *arg)
{
	timer_thread *tt = arg;
	usleep(2000);
	exec_scheduler_submit_at(exec_io_loop_scheduler(tt->loop), &tt->t->task,
				 exec_clock_now() + EXEC_NS_PER_MS);
	return NULL;
}

static void remote_timer_wakes_loop(void **state)
{
	exec_io_loop *loop = test_loop_new();
	rec_task t = {0};
	t.task.fn = rec_fn;
	t.stop_loop = loop;
	t.status = -1;
	timer_thread tt = {loop, &t};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, set_timer_main, &tt), 0);
	assert_int_equal(exec_io_loop_run(loop), 0);
	pthread_join(th, NULL);
	assert_int_equal(t.status, 0);
	assert_true(t.ran_at >= t.task.deadline);
	exec_io_loop_destroy(loop);
}

/* schedule() through the generic sender, from the loop: value. */
static void schedule_sender_on_loop(void **state)
{
	exec_io_loop *loop = test_loop_new();
	exec_sender *s = exec_schedule(exec_io_loop_scheduler(loop));
	for (int i = 0; i < 3; i++)
		assert_int_equal(exec_io_loop_sync_wait(loop, s, NULL), 0);
	exec_sender_free(s);
	exec_io_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backend_is_reported),
		cmocka_unit_test(fifo_order),
		cmocka_unit_test(timers_in_order_never_early),
		cmocka_unit_test(timeout_sender),
		cmocka_unit_test(cancel_pending_timer),
		cmocka_unit_test(stop_before_start),
		cmocka_unit_test(run_until_stopped_and_destroy),
		cmocka_unit_test(schedule_from_two_threads),
		cmocka_unit_test(remote_timer_wakes_loop),
		cmocka_unit_test(schedule_sender_on_loop),
	};
	const struct CMUnitTest once[] = {
		cmocka_unit_test(force_epoll_env),
	};
	int failed = cmocka_run_group_tests_name("io_loop env", once, NULL, NULL);
	if (test_uring_available()) {
		test_backend = EXEC_IO_BACKEND_URING;
		failed += cmocka_run_group_tests_name("io_uring", tests, NULL, NULL);
	} else {
		fprintf(stderr, "io_uring unavailable here: its group is skipped\n");
	}
	test_backend = EXEC_IO_BACKEND_EPOLL;
	failed += cmocka_run_group_tests_name("epoll", tests, NULL, NULL);
	return failed;
}
