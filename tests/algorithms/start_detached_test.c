/* CEXEC_TEST_LABELS: tsan */
/* tests for algorithms/start_detached.c */
#include "ctl_sender.h"
#include "stop_cases.h"

#include <errno.h>

typedef struct notes {
	AO_t calls;
	int status;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} notes;

static void notes_init(notes *n)
{
	memset(n, 0, sizeof *n);
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
}

static void notes_destroy(notes *n)
{
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
}

static void on_done(void *ctx, int status)
{
	notes *n = ctx;
	pthread_mutex_lock(&n->mu);
	n->status = status;
	n->thread = pthread_self();
	AO_fetch_and_add1_release(&n->calls);
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

static void notes_wait(notes *n)
{
	pthread_mutex_lock(&n->mu);
	while (AO_load_acquire(&n->calls) == 0)
		pthread_cond_wait(&n->cv, &n->mu);
	pthread_mutex_unlock(&n->mu);
	assert_int_equal(AO_load_acquire(&n->calls), 1);
}

typedef struct counting_alloc {
	exec_allocator a;
	AO_t allocs, frees;
	int fail;
} counting_alloc;

static void *ca_alloc(void *ctx, size_t size, size_t align)
{
	counting_alloc *c = ctx;
	if (c->fail)
		return NULL;
	AO_fetch_and_add1(&c->allocs);
	void *p = NULL;
	return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) == 0
		       ? p
		       : NULL;
}

static void ca_free(void *ctx, void *p, size_t size)
{
	(void)size;
	AO_fetch_and_add1(&((counting_alloc *)ctx)->frees);
	free(p);
}

static void three_channels(void **state)
{
	(void)state;
	exec_sender *senders[] = {exec_just_i64(1), exec_just_error(-EIO), exec_just_stopped()};
	int want[] = {0, -EIO, EXEC_STOPPED};
	for (int i = 0; i < 3; i++) {
		uint64_t errors = exec_start_detached_errors();
		notes n;
		notes_init(&n);
		assert_int_equal(exec_start_detached_notify(senders[i], NULL, on_done, &n), 0);
		/* Inline senders complete inside the call. */
		assert_int_equal(AO_load_acquire(&n.calls), 1);
		assert_int_equal(n.status, want[i]);
		assert_true(pthread_equal(n.thread, pthread_self()));
		assert_int_equal(exec_start_detached_errors(), errors + (want[i] < 0));
		notes_destroy(&n);
	}
}

static void error_counter(void **state)
{
	(void)state;
	/* This process runs one test at a time, so the delta is exact. */
	uint64_t before = exec_start_detached_errors();
	assert_int_equal(exec_start_detached(exec_just_error(-EPIPE), NULL), 0);
	assert_int_equal(exec_start_detached(exec_just_error(-EIO), NULL), 0);
	assert_int_equal(exec_start_detached(exec_just_i64(1), NULL), 0);
	assert_int_equal(exec_start_detached(exec_just_stopped(), NULL), 0);
	assert_int_equal(exec_start_detached_errors(), before + 2);
}

static void allocator_and_storage(void **state)
{
	(void)state;
	counting_alloc ca = {{ca_alloc, ca_free, NULL}, 0, 0, 0};
	ca.a.ctx = &ca;
	exec_env env = exec_env_empty;
	env.allocator = &ca.a;
	notes n;
	notes_init(&n);
	exec_sender *s = exec_just_i64(5);
	/* Reuse: the same sender started twice (one reference each). */
	assert_int_equal(exec_start_detached_notify(exec_sender_ref(s), &env, on_done, &n), 0);
	assert_int_equal(exec_start_detached(s, &env), 0);
	assert_int_equal(AO_load(&ca.allocs), 2);
	assert_int_equal(AO_load(&ca.frees), 2);
	notes_destroy(&n);

	/* The allocator fails: -ENOMEM, nothing runs, s is freed (LSan). */
	ca.fail = 1;
	ctl_probe p;
	memset(&p, 0, sizeof p);
	notes_init(&n);
	assert_int_equal(exec_start_detached_notify(ctl_sender(CTL_VALUE, 1, 0, &p), &env,
						    on_done, &n),
			 -ENOMEM);
	assert_int_equal(AO_load(&p.starts), 0);
	assert_int_equal(AO_load(&n.calls), 0);
	notes_destroy(&n);
}

static void asynchronous_on_thread(void **state)
{
	(void)state;
	loop_thread lt;
	loop_thread_start(&lt);
	exec_sender *s = exec_schedule(exec_run_loop_scheduler(&lt.loop));
	for (int i = 0; i < 100; i++) {
		notes n;
		notes_init(&n);
		assert_int_equal(
			exec_start_detached_notify(exec_sender_ref(s), NULL, on_done, &n), 0);
		notes_wait(&n);
		assert_int_equal(n.status, 0);
		assert_true(pthread_equal(n.thread, lt.thread));
		notes_destroy(&n);
	}
	loop_thread_stop(&lt);
	exec_sender_free(s);
}

static int record_ptr(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)out;
	assert_int_equal(n, 1);
	*(void **)ctx = exec_value_as_ptr(&in[0]);
	return 0;
}

static void stop_cases(void **state)
{
	(void)state;
	test_loop tl;
	notes n;
	/* before */
	test_loop_init(&tl);
	notes_init(&n);
	exec_stop_source_request(&tl.stop);
	assert_int_equal(exec_start_detached_notify(exec_schedule(test_loop_sched(&tl)),
						    &tl.t.env, on_done, &n),
			 0);
	test_loop_drive(&tl);
	notes_wait(&n);
	assert_int_equal(n.status, EXEC_STOPPED);
	notes_destroy(&n);
	test_loop_destroy(&tl);
	/* during */
	test_loop_init(&tl);
	notes_init(&n);
	assert_int_equal(
		exec_start_detached_notify(test_loop_wait(&tl), &tl.t.env, on_done, &n), 0);
	test_loop_drive(&tl);
	assert_int_equal(AO_load_acquire(&n.calls), 0);
	exec_stop_source_request(&tl.stop);
	test_loop_drive(&tl);
	notes_wait(&n);
	assert_int_equal(n.status, EXEC_STOPPED);
	notes_destroy(&n);
	test_loop_destroy(&tl);
	/* after; and the environment reached the sender */
	test_loop_init(&tl);
	notes_init(&n);
	void *seen = NULL;
	assert_int_equal(exec_start_detached_notify(
				 exec_then(exec_read_stop_token(), record_ptr, &seen), &tl.t.env,
				 on_done, &n),
			 0);
	notes_wait(&n);
	assert_int_equal(n.status, 0);
	assert_ptr_equal(seen, &tl.stop);
	exec_stop_source_request(&tl.stop);
	test_loop_drive(&tl);
	assert_int_equal(AO_load_acquire(&n.calls), 1);
	notes_destroy(&n);
	test_loop_destroy(&tl);
}

static void bad_input(void **state)
{
	(void)state;
	notes n;
	notes_init(&n);
	uint64_t errors = exec_start_detached_errors();
	assert_int_equal(exec_start_detached(NULL, NULL), -EINVAL);
	assert_int_equal(exec_start_detached_notify(NULL, NULL, on_done, &n), -EINVAL);
	assert_int_equal(exec_start_detached_notify(exec_sender_invalid(-ENOMEM), NULL,
						    on_done, &n),
			 -ENOMEM);
	assert_int_equal(exec_start_detached_notify(exec_then(NULL, record_ptr, NULL), NULL,
						    on_done, &n),
			 -EINVAL);
	assert_int_equal(exec_start_detached_notify(ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL),
						    NULL, on_done, &n),
			 -EBADF);
	assert_int_equal(AO_load(&n.calls), 0);
	assert_int_equal(exec_start_detached_errors(), errors);
	notes_destroy(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(three_channels),
		cmocka_unit_test(error_counter),
		cmocka_unit_test(allocator_and_storage),
		cmocka_unit_test(asynchronous_on_thread),
		cmocka_unit_test(stop_cases),
		cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
