/* tests for algorithms/split.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>

static int count_and_add(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	AO_fetch_and_add1((AO_t *)ctx);
	out[0] = exec_value_i64(n ? exec_value_as_i64(&in[0]) + 1 : 42);
	out[1] = exec_value_i64(-1);
	return 2;
}

static void every_consumer_gets_the_value_once(void **state)
{
	AO_t runs = 0;
	exec_sender *s = exec_split(exec_then(exec_just_i64(4), count_and_add, &runs));
	assert_int_equal(runs, 0); /* lazy: nothing before the first start */
	exec_test_receiver t[3];
	for (int i = 0; i < 3; i++) {
		exec_test_receiver_init(&t[i]);
		exec_test_run(s, &t[i]);
		exec_test_assert_value(&t[i]);
		assert_int_equal(t[i].count, 2);
		exec_test_assert_i64(&t[i], 0, 5);
		exec_test_assert_i64(&t[i], 1, -1);
	}
	assert_int_equal(runs, 1);
	for (int i = 0; i < 3; i++)
		exec_test_receiver_destroy(&t[i]);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 5);
	assert_int_equal(runs, 1);
	exec_sender_free(s);
}

static void errors_and_stopped_are_shared(void **state)
{
	exec_sender *s = exec_split(exec_just_error(-EIO));
	for (int i = 0; i < 3; i++)
		assert_int_equal(exec_sync_wait(s, NULL), -EIO);
	exec_sender_free(s);
	s = exec_split(exec_just_stopped());
	for (int i = 0; i < 3; i++)
		assert_int_equal(exec_sync_wait(s, NULL), EXEC_STOPPED);
	exec_sender_free(s);
	/* A child that cannot connect (on needs a scheduler; the child's
	 * environment has none): every consumer sees the connect error. */
	exec_sender *bad = exec_split(exec_on(exec_inline_scheduler(), exec_just_void()));
	assert_int_equal(exec_sync_wait(bad, NULL), -EINVAL);
	assert_int_equal(exec_sync_wait(bad, NULL), -EINVAL);
	exec_sender_free(bad);
}

/* A stopped consumer detaches; the others and the child go on. The child
 * waits on a run_loop that the test drives, so the order is fixed. */
static void stopped_consumer_detaches(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	AO_t runs = 0;
	exec_sender *s = exec_split(
		exec_then(exec_schedule(exec_run_loop_scheduler(&loop)), count_and_add, &runs));
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver a, b, c;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	exec_test_receiver_init(&c);
	a.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &a);
	exec_test_run(s, &b);
	assert_int_equal(exec_test_completions(&a) + exec_test_completions(&b), 0);
	exec_stop_source_request(&src);
	exec_test_assert_stopped(&a);
	assert_int_equal(exec_test_completions(&b), 0);
	/* A consumer whose stop was requested before start. */
	c.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &c);
	exec_test_assert_stopped(&c);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_value(&b);
	exec_test_assert_i64(&b, 0, 42);
	exec_test_assert_stopped(&a);
	assert_int_equal(runs, 1);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_test_receiver_destroy(&c);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

/* The sender is freed while the child still runs and every consumer has
 * detached: the child's reference keeps the state until it finishes. */
static void freed_while_running(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	AO_t runs = 0;
	exec_sender *s = exec_split(
		exec_then(exec_schedule(exec_run_loop_scheduler(&loop)), count_and_add, &runs));
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver a;
	exec_test_receiver_init(&a);
	a.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &a);
	exec_stop_source_request(&src);
	exec_test_assert_stopped(&a);
	exec_test_receiver_destroy(&a);
	exec_sender_free(s);
	exec_run_loop_run_until_empty(&loop);
	assert_int_equal(runs, 1);
	exec_run_loop_destroy(&loop);
}

/* 100 consumers started from several threads race the producer running on
 * the pool; each completes exactly once with the value. */
enum { CONSUMERS = 100, THREADS = 4 };

typedef struct race {
	exec_sender *s;
	exec_test_receiver *rx;
	int first;
	exec_stop_source *stop; /* every 7th consumer may be stopped */
} race;

static void *race_thread(void *arg)
{
	race *r = arg;
	for (int i = r->first; i < CONSUMERS; i += THREADS) {
		if (i % 7 == 0)
			r->rx[i].env.stop_token = exec_stop_source_token(r->stop);
		exec_connect(r->s, r->rx[i].op_storage, &r->rx[i].base);
		exec_start((exec_op *)r->rx[i].op_storage);
	}
	return NULL;
}

static void consumers_race_the_producer(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
#ifdef CEXEC_SANITIZE_BUILD
	int rounds = 30;
#else
	int rounds = 200;
#endif
	exec_test_receiver *rx = calloc(CONSUMERS, sizeof *rx);
	assert_non_null(rx);
	for (int round = 0; round < rounds; round++) {
		AO_t runs = 0;
		exec_sender *s = exec_split(exec_then(
			exec_schedule(exec_thread_pool_scheduler(pool)), count_and_add, &runs));
		exec_stop_source stop;
		exec_stop_source_init(&stop);
		for (int i = 0; i < CONSUMERS; i++) {
			exec_test_receiver_init(&rx[i]);
			rx[i].op_storage = aligned_alloc(64, (exec_sender_op_size(s) + 63) & ~63u);
			assert_non_null(rx[i].op_storage);
		}
		race r[THREADS];
		pthread_t th[THREADS];
		for (int k = 0; k < THREADS; k++) {
			r[k] = (race){s, rx, k, &stop};
			assert_int_equal(pthread_create(&th[k], NULL, race_thread, &r[k]), 0);
		}
		if (round % 2)
			exec_stop_source_request(&stop);
		for (int k = 0; k < THREADS; k++)
			pthread_join(th[k], NULL);
		for (int i = 0; i < CONSUMERS; i++) {
			exec_test_receiver_wait(&rx[i]);
			assert_int_equal(exec_test_completions(&rx[i]), 1);
			if (AO_load(&rx[i].values_calls)) {
				exec_test_assert_i64(&rx[i], 0, 42);
			} else {
				/* Only the stoppable ones may stop. */
				assert_int_equal(i % 7, 0);
				exec_test_assert_stopped(&rx[i]);
			}
		}
		exec_sender_free(s);
		/* The child finishes (it holds its own reference). */
		while (AO_load_acquire(&runs) == 0)
			sched_yield();
		for (int i = 0; i < CONSUMERS; i++)
			exec_test_receiver_destroy(&rx[i]);
	}
	free(rx);
	exec_thread_pool_destroy(pool);
}


/* A counting allocator: the child's operation state comes from the env of
 * the consumer that started it, and goes back as soon as the child ends. */
typedef struct counting_alloc {
	AO_t allocs, frees;
} counting_alloc;

static void *ca_alloc(void *ctx, size_t size, size_t align)
{
	AO_fetch_and_add1(&((counting_alloc *)ctx)->allocs);
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

static void *fail_alloc(void *ctx, size_t size, size_t align)
{
	(void)ctx, (void)size, (void)align;
	return NULL;
}

static void child_state_from_the_starters_allocator(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	AO_t runs = 0;
	counting_alloc ca = {0, 0};
	exec_allocator al = {ca_alloc, ca_free, &ca};
	exec_sender *s = exec_split(
		exec_then(exec_schedule(exec_run_loop_scheduler(&loop)), count_and_add, &runs));
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	a.env.allocator = &al;
	exec_test_run(s, &a);
	exec_test_run(s, &b);
	assert_int_equal(ca.allocs, 1);
	assert_int_equal(ca.frees, 0);
	exec_run_loop_run_until_empty(&loop);
	assert_int_equal(ca.frees, 1);
	exec_test_assert_i64(&a, 0, 42);
	exec_test_assert_i64(&b, 0, 42);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_sender_free(s);

	/* The starter's allocator fails: every consumer sees -ENOMEM, and a
	 * consumer arriving later too; the child never ran. */
	exec_allocator bad = {fail_alloc, ca_free, &ca};
	s = exec_split(exec_then(exec_just_i64(1), count_and_add, &runs));
	exec_test_receiver_init(&a);
	a.env.allocator = &bad;
	exec_test_run(s, &a);
	exec_test_assert_error(&a, -ENOMEM);
	assert_int_equal(exec_sync_wait(s, NULL), -ENOMEM);
	assert_int_equal(runs, 1);
	exec_test_receiver_destroy(&a);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

/* A receiver that frees its operation inside set_stopped, as the protocol
 * allows: under ASan, the split must not touch the consumer (nor the stop
 * source touch its callback node) afterwards. */
typedef struct freeing_receiver {
	exec_receiver base;
	exec_env env;
	void *op;
	int stopped, values;
} freeing_receiver;

static void fr_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v, (void)n;
	freeing_receiver *f = EXEC_CONTAINER_OF(r, freeing_receiver, base);
	free(f->op);
	f->op = NULL;
	f->values++;
}

static void fr_error(exec_receiver *r, int err)
{
	(void)r, (void)err;
	fail();
}

static void fr_stopped(exec_receiver *r)
{
	freeing_receiver *f = EXEC_CONTAINER_OF(r, freeing_receiver, base);
	free(f->op);
	f->op = NULL;
	f->stopped++;
}

static const exec_env *fr_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, freeing_receiver, base)->env;
}

static const exec_receiver_ops fr_ops = {fr_value, fr_error, fr_stopped, fr_env};

static void consumer_freed_inside_its_completion(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	AO_t runs = 0;
	exec_sender *s = exec_split(
		exec_then(exec_schedule(exec_run_loop_scheduler(&loop)), count_and_add, &runs));
	exec_stop_source src;
	exec_stop_source_init(&src);
	freeing_receiver f[2];
	for (int i = 0; i < 2; i++) {
		f[i] = (freeing_receiver){{&fr_ops}, exec_env_empty, NULL, 0, 0};
		f[i].op = malloc(exec_sender_op_size(s));
		assert_non_null(f[i].op);
		assert_int_equal(exec_connect(s, f[i].op, &f[i].base), 0);
	}
	f[0].env.stop_token = exec_stop_source_token(&src);
	exec_start(f[0].op);
	exec_start(f[1].op);
	exec_stop_source_request(&src); /* f[0] completes and frees its op */
	assert_int_equal(f[0].stopped, 1);
	assert_null(f[0].op);
	exec_run_loop_run_until_empty(&loop); /* f[1] gets the value, frees */
	assert_int_equal(f[1].values, 1);
	assert_int_equal(f[0].stopped + f[0].values + f[1].stopped, 1);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void bad_arguments(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_split(NULL)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_split(exec_sender_invalid(-ENOMEM))),
			 -ENOMEM);
	assert_int_equal(exec_split_start(NULL), -EINVAL);
	exec_sender *j = exec_just_void();
	assert_int_equal(exec_split_start(j), -EINVAL);
	exec_sender_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_consumer_gets_the_value_once),
		cmocka_unit_test(errors_and_stopped_are_shared),
		cmocka_unit_test(stopped_consumer_detaches),
		cmocka_unit_test(freed_while_running),
		cmocka_unit_test(consumers_race_the_producer),
		cmocka_unit_test(child_state_from_the_starters_allocator),
		cmocka_unit_test(consumer_freed_inside_its_completion),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
