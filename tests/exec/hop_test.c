/* tests for exec/hop.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <sched.h>

/* A run_loop behind a wrapper scheduler whose submit / submit_at can do
 * something first: request stop (on this thread or another), or refuse. */
enum { PLAIN, STOP_HERE, STOP_OTHER_THREAD, REFUSE };

typedef struct wrap_sched {
	exec_scheduler base;
	exec_run_loop loop;
	int mode;
	exec_stop_source *src;
	pthread_t stopper;
	bool stopper_started;
} wrap_sched;

static void *stop_thread(void *arg)
{
	exec_stop_source_request(arg);
	return NULL;
}

static int before_submit(wrap_sched *w)
{
	switch (w->mode) {
	case STOP_HERE:
		exec_stop_source_request(w->src);
		break;
	case STOP_OTHER_THREAD:
		/* The request begins on another thread while this submit is
		 * still in progress; wait until it is visible (its callbacks
		 * run right after), then queue the task. */
		pthread_create(&w->stopper, NULL, stop_thread, w->src);
		w->stopper_started = true;
		while (!exec_stop_source_requested(w->src))
			sched_yield();
		break;
	case REFUSE:
		return -EAGAIN;
	}
	return 0;
}

static int wrap_submit(exec_scheduler *s, exec_task *t)
{
	wrap_sched *w = EXEC_CONTAINER_OF(s, wrap_sched, base);
	int rc = before_submit(w);
	return rc < 0 ? rc : exec_scheduler_submit(exec_run_loop_scheduler(&w->loop), t);
}

static int wrap_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline)
{
	wrap_sched *w = EXEC_CONTAINER_OF(s, wrap_sched, base);
	int rc = before_submit(w);
	return rc < 0 ? rc
		      : exec_scheduler_submit_at(exec_run_loop_scheduler(&w->loop), t,
						 deadline);
}

static void wrap_cancel(exec_scheduler *s, exec_task *t)
{
	wrap_sched *w = EXEC_CONTAINER_OF(s, wrap_sched, base);
	exec_scheduler_cancel(exec_run_loop_scheduler(&w->loop), t);
}

static const exec_scheduler_ops wrap_ops = {
	.name = "wrap",
	.flags = EXEC_SCHED_TIMED,
	.submit = wrap_submit,
	.submit_at = wrap_submit_at,
	.cancel = wrap_cancel,
};

static void wrap_init(wrap_sched *w, int mode, exec_stop_source *src)
{
	memset(w, 0, sizeof *w);
	w->base.ops = &wrap_ops;
	w->mode = mode;
	w->src = src;
	assert_int_equal(exec_run_loop_init(&w->loop), 0);
}

static void wrap_destroy(wrap_sched *w)
{
	if (w->stopper_started)
		pthread_join(w->stopper, NULL);
	exec_run_loop_destroy(&w->loop);
}

static void plain_hop_runs(void **state)
{
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	wrap_sched w;
	wrap_init(&w, PLAIN, &src);
	exec_sender *s = exec_schedule(&w.base);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(exec_run_loop_run_until_empty(&w.loop), 1);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	wrap_destroy(&w);
}

/* A stop request that arrives after the hop registered its stop callback
 * but before the scheduler queued the timer must still cancel the timer:
 * an hour-long timer ends at once, stopped. */
static void stop_between_register_and_submit(void **state)
{
	for (int mode = STOP_HERE; mode <= STOP_OTHER_THREAD; mode++) {
		for (int timed = 0; timed < 2; timed++) {
			exec_stop_source src = EXEC_STOP_SOURCE_INIT;
			wrap_sched w;
			wrap_init(&w, mode, &src);
			exec_sender *s = timed ? exec_schedule_after(&w.base, 3600 * EXEC_NS_PER_S)
					       : exec_schedule(&w.base);
			exec_test_receiver t;
			exec_test_receiver_init(&t);
			t.env.stop_token = exec_stop_source_token(&src);
			exec_test_run(s, &t);
			if (w.stopper_started) {
				pthread_join(w.stopper, NULL);
				w.stopper_started = false;
			}
			/* The cancelled timer (or the ready task) is ready now. */
			exec_run_loop_run_until_empty(&w.loop);
			exec_test_assert_stopped(&t);
			exec_test_receiver_destroy(&t);
			exec_sender_free(s);
			wrap_destroy(&w);
		}
	}
}

static void refused_submit_is_an_error(void **state)
{
	exec_stop_source src = EXEC_STOP_SOURCE_INIT;
	wrap_sched w;
	wrap_init(&w, REFUSE, &src);
	exec_sender *s = exec_schedule(&w.base);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EAGAIN);
	exec_test_receiver_destroy(&t);
	/* The callback was deregistered: a later request touches nothing. */
	exec_stop_source_request(&src);
	exec_sender_free(s);
	wrap_destroy(&w);
}

/* Hops onto a loop running on another thread while a third thread
 * requests stop at random moments: exactly one completion each, value or
 * stopped, and the receiver frees the op inside the completion. */
enum { RACE_ROUNDS = 300 };

typedef struct loop_thread_ctx {
	exec_run_loop loop;
	pthread_t th;
} loop_thread_ctx;

static void *run_loop_main(void *arg)
{
	exec_run_loop_run(&((loop_thread_ctx *)arg)->loop);
	return NULL;
}


static void race_stop_with_threaded_hops(void **state)
{
	loop_thread_ctx lt;
	assert_int_equal(exec_run_loop_init(&lt.loop), 0);
	assert_int_equal(pthread_create(&lt.th, NULL, run_loop_main, &lt), 0);
	exec_scheduler *sched = exec_run_loop_scheduler(&lt.loop);
	exec_sender *now = exec_schedule(sched);
	exec_sender *later = exec_schedule_after(sched, 3600 * EXEC_NS_PER_S);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		exec_stop_source src = EXEC_STOP_SOURCE_INIT;
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		t.env.stop_token = exec_stop_source_token(&src);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, stop_thread, &src), 0);
		exec_test_run(i % 2 ? now : later, &t);
		exec_test_receiver_wait(&t);
		pthread_join(th, NULL);
		assert_int_equal(exec_test_completions(&t), 1);
		if (i % 2 == 0) /* the hour-long timer can only end stopped */
			exec_test_assert_stopped(&t);
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(now);
	exec_sender_free(later);
	exec_run_loop_finish(&lt.loop);
	pthread_join(lt.th, NULL);
	exec_run_loop_destroy(&lt.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_hop_runs),
		cmocka_unit_test(stop_between_register_and_submit),
		cmocka_unit_test(refused_submit_is_an_error),
		cmocka_unit_test(race_stop_with_threaded_hops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
