/* tests/cexec_test.h - helpers shared by the test programs (cmocka).
 *
 * exec_test_receiver counts every completion call so that tests can assert
 * "exactly one completion, on this channel, with these values". Completions
 * may arrive on any thread: the counters are atomic, and
 * exec_test_receiver_wait blocks until one has arrived. */
#ifndef CEXEC_TEST_H
#define CEXEC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four includes above first. */
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cexec.h"

typedef struct exec_test_receiver {
	exec_receiver base;
	exec_env env;
	AO_t values_calls, error_calls, stopped_calls;
	int error;
	size_t count;
	exec_value values[EXEC_JUST_MAX_VALUES];
	pthread_t thread; /* the thread that completed */
	void *op_storage;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} exec_test_receiver;

static inline exec_test_receiver *exec_test_from(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, exec_test_receiver, base);
}

/* Counts a completion and wakes waiters. The count is raised under the
 * mutex so that a waiter that has seen it (exec_test_receiver_wait) knows the
 * completing thread is done with the mutex and may destroy the receiver. */
static inline void exec_test_signal_(exec_test_receiver *t, AO_t *counter)
{
	pthread_mutex_lock(&t->mu);
	AO_fetch_and_add1_release(counter);
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static inline void exec_test_set_value_(exec_receiver *r, const exec_value *v, size_t n)
{
	exec_test_receiver *t = exec_test_from(r);
	t->count = n < EXEC_JUST_MAX_VALUES ? n : EXEC_JUST_MAX_VALUES;
	if (t->count)
		memcpy(t->values, v, t->count * sizeof *v);
	t->thread = pthread_self();
	exec_test_signal_(t, &t->values_calls);
}

static inline void exec_test_set_error_(exec_receiver *r, int err)
{
	exec_test_receiver *t = exec_test_from(r);
	t->error = err;
	t->thread = pthread_self();
	exec_test_signal_(t, &t->error_calls);
}

static inline void exec_test_set_stopped_(exec_receiver *r)
{
	exec_test_receiver *t = exec_test_from(r);
	t->thread = pthread_self();
	exec_test_signal_(t, &t->stopped_calls);
}

static inline const exec_env *exec_test_get_env_(exec_receiver *r)
{
	return &exec_test_from(r)->env;
}

static const exec_receiver_ops exec_test_receiver_ops = {
	exec_test_set_value_, exec_test_set_error_, exec_test_set_stopped_,
	exec_test_get_env_};

static inline void exec_test_receiver_init(exec_test_receiver *t)
{
	memset(t, 0, sizeof *t);
	t->base.ops = &exec_test_receiver_ops;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
}

static inline void exec_test_receiver_destroy(exec_test_receiver *t)
{
	free(t->op_storage);
	t->op_storage = NULL;
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
}

static inline size_t exec_test_completions(exec_test_receiver *t)
{
	return AO_load_acquire(&t->values_calls) + AO_load_acquire(&t->error_calls) +
	       AO_load_acquire(&t->stopped_calls);
}

/* Connects s into fresh heap storage (so ASan sees any use after the
 * operation's lifetime) and returns the connect result; start with
 * exec_test_start. */
static inline int exec_test_connect(const exec_sender *s, exec_test_receiver *t)
{
	free(t->op_storage);
	size_t align = exec_sender_op_align(s) < sizeof(void *) ? sizeof(void *)
							       : exec_sender_op_align(s);
	size_t size = exec_sender_op_size(s) ? exec_sender_op_size(s) : 1;
	assert_int_equal(posix_memalign(&t->op_storage, align, size), 0);
	return exec_connect(s, t->op_storage, &t->base);
}

static inline void exec_test_start(exec_test_receiver *t)
{
	exec_start((exec_op *)t->op_storage);
}

/* Connect + start; asserts connect succeeded. */
static inline void exec_test_run(const exec_sender *s, exec_test_receiver *t)
{
	assert_int_equal(exec_test_connect(s, t), 0);
	exec_test_start(t);
}

/* Blocks until at least one completion has arrived. */
static inline void exec_test_receiver_wait(exec_test_receiver *t)
{
	pthread_mutex_lock(&t->mu);
	while (exec_test_completions(t) == 0)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

/* With mu held: waits on cv until *flag is set or ms milliseconds have
 * passed, and returns *flag. For a thread held inside a call while the
 * test checks that another thread does NOT get past a point meanwhile:
 * the time only bounds how long it looks, the verdict never depends on
 * it being enough. */
static inline bool exec_test_cond_wait_flag_ms(pthread_mutex_t *mu, pthread_cond_t *cv,
					       const bool *flag, long ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!*flag && pthread_cond_timedwait(cv, mu, &until) == 0)
		;
	return *flag;
}

/* Exactly one completion, and it was on the value channel. */
#define exec_test_assert_value(t)                                     \
	do {                                                          \
		assert_int_equal(AO_load_acquire(&(t)->values_calls), 1); \
		assert_int_equal(AO_load_acquire(&(t)->error_calls), 0);  \
		assert_int_equal(AO_load_acquire(&(t)->stopped_calls), 0); \
	} while (0)

#define exec_test_assert_error(t, err)                                \
	do {                                                          \
		assert_int_equal(AO_load_acquire(&(t)->values_calls), 0); \
		assert_int_equal(AO_load_acquire(&(t)->error_calls), 1);  \
		assert_int_equal(AO_load_acquire(&(t)->stopped_calls), 0); \
		assert_int_equal((t)->error, (err));                  \
	} while (0)

#define exec_test_assert_stopped(t)                                   \
	do {                                                          \
		assert_int_equal(AO_load_acquire(&(t)->values_calls), 0); \
		assert_int_equal(AO_load_acquire(&(t)->error_calls), 0);  \
		assert_int_equal(AO_load_acquire(&(t)->stopped_calls), 1); \
	} while (0)

#define exec_test_assert_i64(t, i, v)                                         \
	do {                                                                  \
		assert_true((size_t)(i) < (t)->count);                        \
		assert_int_equal((t)->values[(i)].type, EXEC_VALUE_I64);      \
		assert_int_equal((t)->values[(i)].as.i64, (v));               \
	} while (0)

#endif
