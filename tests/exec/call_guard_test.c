/* tests for exec/call_guard.c: exec_call_guard_wait(obj) returns only when
 * no thread is between enter(obj) and leave; other objects do not hold it
 * up; a slot freed by an exiting thread is reused; enter/leave restore an
 * outer value. The scheduler-level use is tested in
 * tests/schedulers/io_loop_destroy_test.c. */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include "exec/call_guard.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool inside, waited, waited_while_inside;
static int obj_a, obj_b;

/* Inside a call on obj_a, holds until the waiter returned or 200 ms
 * passed, and records whether the waiter returned meanwhile. */
static void *caller_main(void *arg)
{
	(void)arg;
	void *g = exec_call_guard_enter(&obj_a);
	pthread_mutex_lock(&mu);
	inside = true;
	pthread_cond_broadcast(&cv);
	waited_while_inside = exec_test_cond_wait_flag_ms(&mu, &cv, &waited, 200);
	pthread_mutex_unlock(&mu);
	exec_call_guard_leave(g);
	return NULL;
}

static void *waiter_main(void *arg)
{
	exec_call_guard_wait(arg);
	pthread_mutex_lock(&mu);
	waited = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void wait_blocks_while_a_thread_is_inside(void **state)
{
	(void)state;
	inside = waited = waited_while_inside = false;
	pthread_t c, w;
	assert_int_equal(pthread_create(&c, NULL, caller_main, NULL), 0);
	pthread_mutex_lock(&mu);
	while (!inside)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	/* Another object is not held up by the call on obj_a. */
	exec_call_guard_wait(&obj_b);
	assert_int_equal(pthread_create(&w, NULL, waiter_main, &obj_a), 0);
	assert_int_equal(pthread_join(c, NULL), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	assert_true(waited);
	assert_false(waited_while_inside);
}

static void *enter_leave_main(void *arg)
{
	void *g = exec_call_guard_enter(arg);
	exec_call_guard_leave(g);
	*(exec_call_guard_slot **)arg = exec_call_guard_mine;
	return NULL;
}

/* Threads that come and go one after another reuse one slot. */
static void exited_threads_slots_are_reused(void **state)
{
	(void)state;
	exec_call_guard_slot *seen[8];
	for (int i = 0; i < 8; i++) {
		pthread_t t;
		void *cell = &seen[i];
		assert_int_equal(pthread_create(&t, NULL, enter_leave_main, cell), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
	}
	for (int i = 1; i < 8; i++)
		assert_ptr_equal(seen[i], seen[0]);
}

static void nested_calls_restore_the_outer_object(void **state)
{
	(void)state;
	void *outer = exec_call_guard_enter(&obj_a);
	void *inner = exec_call_guard_enter(&obj_b);
	assert_ptr_equal(inner, &obj_a);
	assert_int_equal(AO_load(&exec_call_guard_mine->obj), (AO_t)&obj_b);
	exec_call_guard_leave(inner);
	assert_int_equal(AO_load(&exec_call_guard_mine->obj), (AO_t)&obj_a);
	exec_call_guard_leave(outer);
	assert_int_equal(AO_load(&exec_call_guard_mine->obj), 0);
	exec_call_guard_wait(&obj_a); /* nobody inside: returns */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wait_blocks_while_a_thread_is_inside),
		cmocka_unit_test(exited_threads_slots_are_reused),
		cmocka_unit_test(nested_calls_restore_the_outer_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
