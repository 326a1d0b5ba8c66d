/* tests for exec_io_loop_destroy (schedulers/io_uring.c) racing with a
 * thread that is still on its way out of a submit onto the loop.
 *
 * The submitting thread's task runs on the loop while the submitter is
 * still inside its wake-up of the loop (held there: this program replaces
 * write(2), which the wake-up calls on the loop's eventfd, with one that
 * writes and then waits). The loop is stopped and destroyed meanwhile, on
 * another thread: destroy must wait for the submitter to leave before it
 * frees the loop and closes the eventfd. The held writer waits until
 * destroy returns or 200 ms pass; a destroy that returned while it was
 * held fails the test (and is a use-after-free under ASan). Both
 * backends. */
/* CEXEC_TEST_LABELS: tsan */
#include "../io/io_test_util.h"
#include "schedulers/io_loop_internal.h" /* the sleeping flag */

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool held, destroyed, destroyed_while_held;
static _Thread_local bool hold_next_write;

/* Every write of this program, the library's included. Only a thread that
 * asked for it is held, once, after its write is done. */
ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t rc = syscall(SYS_write, fd, buf, n);
	if (rc < 0) {
		errno = (int)-rc;
		rc = -1;
	}
	if (!hold_next_write)
		return rc;
	hold_next_write = false;
	pthread_mutex_lock(&mu);
	held = true;
	pthread_cond_broadcast(&cv);
	destroyed_while_held = exec_test_cond_wait_flag_ms(&mu, &cv, &destroyed, 200);
	pthread_mutex_unlock(&mu);
	return rc;
}

static AO_t task_ran;

static void mark_ran(exec_task *t, int status)
{
	(void)t;
	if (status == 0)
		AO_store_release(&task_ran, 1);
}

typedef struct submitter {
	exec_scheduler *sched;
	exec_task task;
} submitter;

static void *submit_main(void *arg)
{
	submitter *s = arg;
	hold_next_write = true; /* the wake-up's eventfd write */
	exec_scheduler_submit(s->sched, &s->task);
	hold_next_write = false;
	return NULL;
}

static void *loop_main(void *arg)
{
	return (void *)(intptr_t)exec_io_loop_run(arg);
}

static void *destroy_main(void *arg)
{
	exec_io_loop_destroy(arg);
	pthread_mutex_lock(&mu);
	destroyed = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Waits (bounded by the loop's own progress) until the loop thread is
 * blocked, so that the submit has to wake it with a write. */
static void wait_until_asleep(exec_io_loop *loop)
{
	while (!AO_load_acquire(&loop->sleeping))
		sched_yield();
}

static void destroy_waits_for_a_submitter_still_waking_the_loop(void **state)
{
	(void)state;
	held = destroyed = destroyed_while_held = false;
	AO_store(&task_ran, 0);
	exec_io_loop *loop = test_loop_new();
	pthread_t lt, st, dt;
	assert_int_equal(pthread_create(&lt, NULL, loop_main, loop), 0);
	wait_until_asleep(loop);

	submitter s = {exec_io_loop_scheduler(loop), {.fn = mark_ran}};
	assert_int_equal(pthread_create(&st, NULL, submit_main, &s), 0);
	pthread_mutex_lock(&mu);
	while (!held)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	/* The task's owner sees it done and tears the loop down. */
	while (!AO_load_acquire(&task_ran))
		sched_yield();
	exec_io_loop_stop(loop);
	void *rc;
	assert_int_equal(pthread_join(lt, &rc), 0);
	assert_int_equal((intptr_t)rc, 0);
	assert_int_equal(pthread_create(&dt, NULL, destroy_main, loop), 0);

	assert_int_equal(pthread_join(st, NULL), 0);
	assert_int_equal(pthread_join(dt, NULL), 0);
	assert_true(destroyed);
	assert_false(destroyed_while_held);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(destroy_waits_for_a_submitter_still_waking_the_loop),
};

TEST_MAIN_BOTH_BACKENDS(tests)
