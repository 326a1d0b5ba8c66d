/* tests for algorithms/sync_wait.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <sched.h>

/* A test sender: mode FIXED completes inside start with `count` i64
 * values 0..count-1 (or the error / stopped channel); mode THREAD completes
 * the same way from a new thread; op_size is padded to `op_size` bytes. */
enum { FIXED, THREAD };
enum { CH_VALUE, CH_ERROR, CH_STOPPED };

typedef struct test_sender {
	exec_sender base;
	int mode, channel, err;
	size_t count;
} test_sender;

typedef struct test_op {
	exec_op op;
	exec_receiver *r;
	const test_sender *s;
	pthread_t th;
	unsigned char pad[]; /* up to op_size */
} test_op;

static void deliver(exec_receiver *r, const test_sender *s)
{
	exec_value v[32];
	switch (s->channel) {
	case CH_VALUE:
		for (size_t i = 0; i < s->count; i++)
			v[i] = exec_value_i64((int64_t)i * 10);
		exec_set_value(r, v, s->count);
		break;
	case CH_ERROR:
		exec_set_error(r, s->err);
		break;
	default:
		exec_set_stopped(r);
	}
}

static void *thread_main(void *arg)
{
	test_op *o = arg;
	/* Copy before completing: the op may be freed inside the call. */
	exec_receiver *r = o->r;
	const test_sender *s = o->s;
	deliver(r, s);
	return NULL;
}

static void test_start(exec_op *op)
{
	test_op *o = (test_op *)op;
	if (o->s->mode == FIXED) {
		deliver(o->r, o->s);
		return;
	}
	pthread_t th;
	/* Detached: the thread touches nothing after the completion call. */
	pthread_create(&th, NULL, thread_main, o);
	pthread_detach(th);
}

static int test_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	test_op *o = (test_op *)op;
	o->op.start = test_start;
	o->r = r;
	o->s = (const test_sender *)s;
	/* Touch the whole state: ASan checks the storage is that big. */
	memset(o->pad, 0xab, s->op_size - sizeof(test_op));
	return 0;
}

static void test_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops test_ops = {"test", test_connect, test_destroy};

static exec_sender *make(int mode, int channel, int err, size_t count, size_t op_size,
			 size_t align)
{
	test_sender *s = exec_sender_new(&test_ops, sizeof *s);
	assert_non_null(s);
	s->mode = mode;
	s->channel = channel;
	s->err = err;
	s->count = count;
	s->base.max_values = (uint32_t)count;
	s->base.op_size = (uint32_t)(op_size < sizeof(test_op) ? sizeof(test_op) : op_size);
	if (align)
		s->base.op_align = (uint32_t)align;
	return &s->base;
}

static void value_error_stopped(void **state)
{
	for (int mode = FIXED; mode <= THREAD; mode++) {
		exec_result r;
		exec_sender *s = make(mode, CH_VALUE, 0, 2, 0, 0);
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(r.kind, EXEC_RESULT_VALUE);
		assert_int_equal(r.count, 2);
		assert_true(r.values == r.inline_values);
		assert_int_equal(exec_value_as_i64(&r.values[1]), 10);
		exec_result_clear(&r);
		exec_sender_free(s);

		s = make(mode, CH_ERROR, -EPIPE, 0, 0, 0);
		assert_int_equal(exec_sync_wait(s, &r), -EPIPE);
		assert_int_equal(r.kind, EXEC_RESULT_ERROR);
		assert_int_equal(r.error, -EPIPE);
		exec_sender_free(s);

		s = make(mode, CH_STOPPED, 0, 0, 0, 0);
		assert_int_equal(exec_sync_wait(s, &r), EXEC_STOPPED);
		assert_int_equal(r.kind, EXEC_RESULT_STOPPED);
		/* The result is optional. */
		assert_int_equal(exec_sync_wait(s, NULL), EXEC_STOPPED);
		exec_sender_free(s);
	}
}

static void just_then_value(void **state)
{
	exec_sender *s = exec_just_i64(7);
	exec_result r;
	for (int i = 0; i < 3; i++) { /* reusable */
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(r.count, 1);
		assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
	}
	exec_sender_free(s);
}

static void completion_from_other_thread_wakes_loop(void **state)
{
	for (int i = 0; i < 200; i++) {
		exec_sender *s = make(THREAD, CH_VALUE, 0, 1, 0, 0);
		exec_result r;
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(r.count, 1);
		exec_sender_free(s);
	}
}

static void many_values_on_the_heap(void **state)
{
	for (int mode = FIXED; mode <= THREAD; mode++) {
		exec_sender *s = make(mode, CH_VALUE, 0, 20, 0, 0);
		exec_result r;
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(r.count, 20);
		assert_true(r.values != r.inline_values);
		for (int i = 0; i < 20; i++)
			assert_int_equal(exec_value_as_i64(&r.values[i]), i * 10);
		exec_result_clear(&r); /* LeakSanitizer checks this frees them */
		assert_int_equal(r.count, 0);
		assert_true(r.values == r.inline_values);
		exec_result_clear(&r); /* twice is fine */
		/* Without a result: nothing may leak either. */
		assert_int_equal(exec_sync_wait(s, NULL), 0);
		exec_sender_free(s);
	}
	/* Exactly EXEC_RESULT_INLINE_VALUES stay inline. */
	exec_sender *s = make(FIXED, CH_VALUE, 0, EXEC_RESULT_INLINE_VALUES, 0, 0);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_true(r.values == r.inline_values);
	exec_sender_free(s);
}

static void large_and_overaligned_op_states(void **state)
{
	const size_t sizes[] = {EXEC_SYNC_WAIT_STACK_OP - 8, EXEC_SYNC_WAIT_STACK_OP,
				EXEC_SYNC_WAIT_STACK_OP + 1, 3 * EXEC_SYNC_WAIT_STACK_OP,
				1 << 20};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		for (int mode = FIXED; mode <= THREAD; mode++) {
			exec_sender *s = make(mode, CH_VALUE, 0, 1, sizes[i], 0);
			exec_result r;
			assert_int_equal(exec_sync_wait(s, &r), 0);
			assert_int_equal(r.count, 1);
			exec_sender_free(s);
		}
	}
	exec_sender *s = make(FIXED, CH_VALUE, 0, 1, 256, 256);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	exec_sender_free(s);
}

/* A sender that waits on a timer of the receiver's scheduler (the
 * sync_wait loop) an hour away, so only a stop request can end it. */
typedef struct timer_ctx {
	AO_t queued;
	exec_stop_source *src;
} timer_ctx;

typedef struct timer_sender {
	exec_sender base;
	timer_ctx *ctx;
} timer_sender;

typedef struct timer_op {
	exec_op op;
	exec_hop hop;
	exec_receiver *r;
	timer_ctx *ctx;
} timer_op;

static void timer_done(exec_hop *h, int status)
{
	timer_op *o = EXEC_CONTAINER_OF(h, timer_op, hop);
	exec_receiver *r = o->r;
	if (status == 0)
		exec_set_value(r, NULL, 0);
	else if (status == EXEC_STOPPED)
		exec_set_stopped(r);
	else
		exec_set_error(r, status);
}

static void timer_start(exec_op *op)
{
	timer_op *o = (timer_op *)op;
	timer_ctx *ctx = o->ctx;
	const exec_env *env = exec_get_env(o->r);
	exec_scheduler *sched = env->scheduler;
	exec_hop_start(&o->hop, sched, env->stop_token,
		       exec_scheduler_now(sched) + 3600 * EXEC_NS_PER_S, timer_done);
	/* ctx outlives the op; the op itself must not be touched now. */
	AO_store_release(&ctx->queued, 1);
}

static int timer_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	timer_op *o = (timer_op *)op;
	o->op.start = timer_start;
	o->r = r;
	o->ctx = ((const timer_sender *)s)->ctx;
	return exec_get_env(r)->scheduler ? 0 : -EINVAL;
}

static const exec_sender_ops timer_ops = {"hour_timer", timer_connect, test_destroy};

static void *stop_when_queued(void *arg)
{
	timer_ctx *ctx = arg;
	while (!AO_load_acquire(&ctx->queued))
		sched_yield();
	exec_stop_source_request(ctx->src);
	return NULL;
}

static void stop_from_other_thread_ends_timer_wait(void **state)
{
	for (int round = 0; round < 20; round++) {
		exec_stop_source src = EXEC_STOP_SOURCE_INIT;
		timer_ctx ctx = {0, &src};
		timer_sender *s = exec_sender_new(&timer_ops, sizeof *s);
		assert_non_null(s);
		s->base.op_size = sizeof(timer_op);
		s->ctx = &ctx;
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, stop_when_queued, &ctx), 0);
		exec_result r;
		assert_int_equal(exec_sync_wait_with_stop(&s->base, exec_stop_source_token(&src),
							  &r),
				 EXEC_STOPPED);
		assert_int_equal(r.kind, EXEC_RESULT_STOPPED);
		pthread_join(th, NULL);
		/* Stop already requested before start: stopped at once. */
		assert_int_equal(exec_sync_wait_with_stop(&s->base, exec_stop_source_token(&src),
							  NULL),
				 EXEC_STOPPED);
		exec_sender_free(&s->base);
	}
}

/* Stop requested before start reaches the pipeline; after completion no
 * callback is left registered on the caller's source. */
static void stop_before_and_after(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *s = exec_continues_on(exec_just_i64(1), exec_inline_scheduler());
	exec_result r;
	assert_int_equal(exec_sync_wait_with_stop(s, exec_stop_source_token(&src), &r), 0);
	assert_int_equal(r.kind, EXEC_RESULT_VALUE);
	assert_null(src.head);
	assert_true(exec_stop_source_request(&src));
	assert_int_equal(exec_sync_wait_with_stop(s, exec_stop_source_token(&src), &r),
			 EXEC_STOPPED);
	assert_int_equal(r.kind, EXEC_RESULT_STOPPED);
	assert_int_equal(r.count, 0);
	exec_sender_free(s);
}

static void connect_failure_and_bad_arguments(void **state)
{
	exec_result r;
	assert_int_equal(exec_sync_wait(NULL, &r), -EINVAL);
	assert_int_equal(r.kind, EXEC_RESULT_ERROR);
	assert_int_equal(r.error, -EINVAL);
	assert_int_equal(exec_sync_wait(exec_sender_invalid(-ENOMEM), &r), -ENOMEM);
	assert_int_equal(r.error, -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(value_error_stopped),
		cmocka_unit_test(just_then_value),
		cmocka_unit_test(completion_from_other_thread_wakes_loop),
		cmocka_unit_test(many_values_on_the_heap),
		cmocka_unit_test(large_and_overaligned_op_states),
		cmocka_unit_test(stop_from_other_thread_ends_timer_wait),
		cmocka_unit_test(stop_before_and_after),
		cmocka_unit_test(connect_failure_and_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
