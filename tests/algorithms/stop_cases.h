/* tests/algorithms/stop_cases.h - helpers for the stop-before / during /
 * after cases shared by the tests of just_error, upon_*, let_*, repeat_*,
 * stopped_as_error and start_detached.
 *
 * A test_loop is a run_loop the test drives itself (no thread), plus a stop
 * source wired into a counting receiver's environment. "During" means: the
 * pipeline waits on a long timer of that loop; the test requests stop and
 * then drives the loop, so the cancelled timer completes stopped. */
#ifndef CEXEC_TESTS_STOP_CASES_H
#define CEXEC_TESTS_STOP_CASES_H

#include "cexec_test.h"

/* A delay that never elapses during a test run: reaching it is a bug. */
#define TEST_LONG_DELAY (3600 * EXEC_NS_PER_S)

typedef struct test_loop {
	exec_run_loop loop;
	exec_stop_source stop;
	exec_test_receiver t;
} test_loop;

static inline void test_loop_init(test_loop *tl)
{
	assert_int_equal(exec_run_loop_init(&tl->loop), 0);
	exec_stop_source_init(&tl->stop);
	exec_test_receiver_init(&tl->t);
	tl->t.env.stop_token = exec_stop_source_token(&tl->stop);
	tl->t.env.scheduler = exec_run_loop_scheduler(&tl->loop);
}

static inline exec_scheduler *test_loop_sched(test_loop *tl)
{
	return exec_run_loop_scheduler(&tl->loop);
}

/* Drives the loop until nothing is ready (timers not due stay queued). */
static inline size_t test_loop_drive(test_loop *tl)
{
	return exec_run_loop_run_until_empty(&tl->loop);
}

static inline void test_loop_destroy(test_loop *tl)
{
	exec_test_receiver_destroy(&tl->t);
	exec_run_loop_destroy(&tl->loop);
}

/* A sender that waits for a long timer on the loop: completes only when
 * stopped (the stop cancels the timer). */
static inline exec_sender *test_loop_wait(test_loop *tl)
{
	return exec_schedule_after(test_loop_sched(tl), TEST_LONG_DELAY);
}

/* Runs s with a stop requested before start; returns with s complete. */
static inline void test_stop_before(exec_sender *s, test_loop *tl)
{
	exec_stop_source_request(&tl->stop);
	exec_test_run(s, &tl->t);
	test_loop_drive(tl);
	assert_int_equal(exec_test_completions(&tl->t), 1);
}

/* Starts s (which must wait on the loop), checks it has not completed,
 * requests stop and drives the loop to completion. */
static inline void test_stop_during(exec_sender *s, test_loop *tl)
{
	exec_test_run(s, &tl->t);
	test_loop_drive(tl);
	assert_int_equal(exec_test_completions(&tl->t), 0);
	exec_stop_source_request(&tl->stop);
	test_loop_drive(tl);
	assert_int_equal(exec_test_completions(&tl->t), 1);
}

/* Runs s to completion, then requests stop: nothing more may happen. */
static inline void test_stop_after(exec_sender *s, test_loop *tl)
{
	exec_test_run(s, &tl->t);
	test_loop_drive(tl);
	assert_int_equal(exec_test_completions(&tl->t), 1);
	exec_stop_source_request(&tl->stop);
	test_loop_drive(tl);
	assert_int_equal(exec_test_completions(&tl->t), 1);
}

#endif
