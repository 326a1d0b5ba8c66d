/* tests for exec/channel.c */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <sched.h>

#include "exec/channel.h"
#include "exec/coro.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static void send_then_recv_fifo(void **state)
{
	exec_channel *ch;
	assert_int_equal(exec_channel_create(&ch, 4), 0);
	for (int i = 0; i < 4; i++) {
		exec_sender *s = exec_channel_send(ch, exec_value_i64(i));
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t); /* buffered: completes at once */
		assert_int_equal(t.count, 0);
		exec_test_receiver_destroy(&t);
		exec_sender_free(s);
	}
	assert_int_equal(exec_channel_size(ch), 4);
	exec_sender *r = exec_channel_recv(ch);
	for (int i = 0; i < 4; i++) {
		exec_result res;
		assert_int_equal(exec_sync_wait(r, &res), 0);
		assert_int_equal(res.count, 1);
		assert_int_equal(exec_value_as_i64(&res.values[0]), i);
	}
	exec_sender_free(r);
	assert_int_equal(exec_channel_destroy(ch), 0);
}

static void recv_waits_for_send(void **state)
{
	exec_channel *ch;
	assert_int_equal(exec_channel_create(&ch, 1), 0);
	exec_sender *r = exec_channel_recv(ch);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(r, &t);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(exec_channel_destroy(ch), -EBUSY); /* a waiter */
	exec_sender *s = exec_channel_send(ch, exec_value_i64(9));
	exec_result res;
	assert_int_equal(exec_sync_wait(s, &res), 0);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 9);
	assert_int_equal(exec_channel_size(ch), 0); /* handed over directly */
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
	exec_sender_free(r);
	assert_int_equal(exec_channel_destroy(ch), 0);
}

static void send_waits_while_full(void **state)
{
	for (size_t cap = 0; cap < 3; cap++) {
		exec_channel *ch;
		assert_int_equal(exec_channel_create(&ch, cap), 0);
		exec_sender *fill = exec_channel_send(ch, exec_value_i64(-1));
		for (size_t i = 0; i < cap; i++)
			assert_int_equal(exec_sync_wait(fill, NULL), 0);
		exec_sender *s = exec_channel_send(ch, exec_value_i64(7));
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		assert_int_equal(exec_test_completions(&t), 0); /* full */
		exec_sender *r = exec_channel_recv(ch);
		exec_result res;
		for (size_t i = 0; i < cap; i++) {
			assert_int_equal(exec_sync_wait(r, &res), 0);
			assert_int_equal(exec_value_as_i64(&res.values[0]), -1);
		}
		/* The waiting sender's item follows, in order. */
		if (cap)
			exec_test_assert_value(&t);
		assert_int_equal(exec_sync_wait(r, &res), 0);
		assert_int_equal(exec_value_as_i64(&res.values[0]), 7);
		exec_test_assert_value(&t);
		exec_test_receiver_destroy(&t);
		exec_sender_free(r);
		exec_sender_free(s);
		exec_sender_free(fill);
		assert_int_equal(exec_channel_destroy(ch), 0);
	}
}

static void close_ends_stream(void **state)
{
	exec_channel *ch;
	assert_int_equal(exec_channel_create(&ch, 2), 0);
	exec_sender *s = exec_channel_send(ch, exec_value_i64(1));
	assert_int_equal(exec_sync_wait(s, NULL), 0);
	assert_int_equal(exec_sync_wait(s, NULL), 0);
	/* A third send waits (full); close fails it with -EPIPE. */
	exec_test_receiver ts;
	exec_test_receiver_init(&ts);
	exec_test_run(s, &ts);
	assert_int_equal(exec_test_completions(&ts), 0);
	exec_channel_close(ch);
	exec_test_assert_error(&ts, -EPIPE);
	exec_test_receiver_destroy(&ts);
	assert_int_equal(exec_sync_wait(s, NULL), -EPIPE);
	exec_channel_close(ch); /* idempotent */
	/* Receivers drain, then see the end. */
	exec_sender *r = exec_channel_recv(ch);
	assert_int_equal(exec_sync_wait(r, NULL), 0);
	assert_int_equal(exec_sync_wait(r, NULL), 0);
	assert_int_equal(exec_sync_wait(r, NULL), -EPIPE);
	exec_sender_free(r);
	exec_sender_free(s);
	assert_int_equal(exec_channel_destroy(ch), 0);

	/* Waiting receivers are released by close. */
	assert_int_equal(exec_channel_create(&ch, 0), 0);
	r = exec_channel_recv(ch);
	exec_test_receiver t[3];
	for (int i = 0; i < 3; i++) {
		exec_test_receiver_init(&t[i]);
		exec_test_run(r, &t[i]);
	}
	exec_channel_close(ch);
	for (int i = 0; i < 3; i++) {
		exec_test_assert_error(&t[i], -EPIPE);
		exec_test_receiver_destroy(&t[i]);
	}
	exec_sender_free(r);
	assert_int_equal(exec_channel_destroy(ch), 0);
}

static void send_from_reads_slot_at_start(void **state)
{
	exec_channel *ch;
	assert_int_equal(exec_channel_create(&ch, 0), 0);
	exec_value slot = exec_value_i64(0);
	exec_sender *s = exec_channel_send_from(ch, &slot);
	exec_sender *r = exec_channel_recv(ch);
	exec_test_receiver t[3];
	for (int i = 0; i < 3; i++) {
		exec_test_receiver_init(&t[i]);
		exec_test_run(r, &t[i]); /* receivers wait */
	}
	for (int i = 0; i < 3; i++) {
		slot = exec_value_i64(10 + i); /* read when the send starts */
		assert_int_equal(exec_sync_wait(s, NULL), 0);
	}
	for (int i = 0; i < 3; i++) {
		exec_test_assert_value(&t[i]);
		exec_test_assert_i64(&t[i], 0, 10 + i);
		exec_test_receiver_destroy(&t[i]);
	}
	exec_sender_free(s);
	exec_sender_free(r);
	assert_int_equal(exec_sender_build_error(exec_channel_send_from(ch, NULL)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_channel_send_from(NULL, &slot)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_channel_recv(NULL)), -EINVAL);
	assert_int_equal(exec_channel_destroy(ch), 0);
}

static void stop_waiting_ops(void **state)
{
	exec_channel *ch;
	assert_int_equal(exec_channel_create(&ch, 0), 0);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *r = exec_channel_recv(ch);
	exec_sender *s = exec_channel_send(ch, exec_value_i64(3));

	/* Stop during: a waiting recv completes stopped, takes nothing. */
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(r, &t);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);

	/* Stop before start: stopped at once, for send and recv. */
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	exec_test_receiver_destroy(&t);
	assert_int_equal(exec_channel_destroy(ch), 0); /* nobody waiting */

	/* Stop after completion: nothing happens. */
	assert_int_equal(exec_channel_create(&ch, 1), 0);
	exec_sender_free(s);
	s = exec_channel_send(ch, exec_value_i64(4));
	exec_stop_source src2;
	exec_stop_source_init(&src2);
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src2);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	exec_stop_source_request(&src2);
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	assert_int_equal(exec_channel_size(ch), 1);
	exec_sender_free(r);
	exec_sender_free(s);
	assert_int_equal(exec_channel_destroy(ch), 0); /* frees the item */
}

/* ---- stackless producer and consumer tasks across threads -------------- */

typedef struct prod_frame {
	exec_coro co;
	exec_channel *ch;
	exec_scheduler *sched;
	int64_t i, n;
	EXEC_CORO_STORAGE(op, 256);
} prod_frame;

static int producer(exec_coro *co)
{
	prod_frame *f = (prod_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, exec_schedule(f->sched), f->op);
	for (f->i = 1; f->i <= f->n; f->i++)
		EXEC_CORO_TRY_AWAIT(co, exec_channel_send(f->ch, exec_value_i64(f->i)), f->op);
	EXEC_CORO_END(co);
}

typedef struct cons_frame {
	exec_coro co;
	exec_channel *ch;
	exec_scheduler *sched;
	int64_t sum, count;
	EXEC_CORO_STORAGE(op, 256);
} cons_frame;

static int consumer(exec_coro *co)
{
	cons_frame *f = (cons_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, exec_schedule(f->sched), f->op);
	for (;;) {
		EXEC_CORO_AWAIT(co, exec_channel_recv(f->ch), f->op);
		if (exec_coro_status(co) == -EPIPE)
			break;
		if (exec_coro_status(co) != 0)
			EXEC_CORO_RETURN_ERROR(co, exec_coro_status(co));
		f->sum += exec_value_as_i64(exec_coro_value(co));
		f->count++;
	}
	EXEC_CORO_RETURN(co, exec_value_i64(f->sum));
	EXEC_CORO_END(co);
}

static void tasks_across_threads(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_scheduler *sched = exec_thread_pool_scheduler(pool);
	enum { PRODUCERS = 3, CONSUMERS = 3 };
	int64_t n = SANITIZED ? 2000 : 20000;
	for (size_t cap = 0; cap < 9; cap += 8) {
		exec_channel *ch;
		assert_int_equal(exec_channel_create(&ch, cap), 0);
		prod_frame prods[PRODUCERS];
		cons_frame cons[CONSUMERS];
		exec_test_receiver tp[PRODUCERS], tc[CONSUMERS];
		for (int i = 0; i < CONSUMERS; i++) {
			exec_test_receiver_init(&tc[i]);
			exec_coro_connect(&cons[i].co, consumer, &tc[i].base);
			cons[i].ch = ch;
			cons[i].sched = sched;
			cons[i].sum = cons[i].count = 0;
			exec_start(&cons[i].co.op);
		}
		for (int i = 0; i < PRODUCERS; i++) {
			exec_test_receiver_init(&tp[i]);
			exec_coro_connect(&prods[i].co, producer, &tp[i].base);
			prods[i].ch = ch;
			prods[i].sched = sched;
			prods[i].n = n;
			exec_start(&prods[i].co.op);
		}
		for (int i = 0; i < PRODUCERS; i++) {
			exec_test_receiver_wait(&tp[i]);
			exec_test_assert_value(&tp[i]);
			exec_test_receiver_destroy(&tp[i]);
		}
		exec_channel_close(ch);
		int64_t sum = 0, count = 0;
		for (int i = 0; i < CONSUMERS; i++) {
			exec_test_receiver_wait(&tc[i]);
			exec_test_assert_value(&tc[i]);
			sum += tc[i].values[0].as.i64;
			count += cons[i].count;
			exec_test_receiver_destroy(&tc[i]);
		}
		assert_int_equal(count, PRODUCERS * n);
		assert_int_equal(sum, PRODUCERS * (n * (n + 1) / 2));
		assert_int_equal(exec_channel_destroy(ch), 0);
	}
	exec_thread_pool_destroy(pool);
}

/* Stop racing a send that would take the waiter: exactly one outcome, and
 * an item is either received or still in the channel, never lost. */
static void stop_races_send(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	int rounds = SANITIZED ? 300 : 3000;
	exec_channel *ch;
	assert_int_equal(exec_channel_create(&ch, 1), 0);
	exec_sender *r = exec_channel_recv(ch);
	exec_sender *s = exec_channel_send(ch, exec_value_i64(1));
	/* The send starts on a pool worker while the test thread requests
	 * stop on the waiting receive. */
	exec_sender *send_on_pool = exec_starts_on(exec_thread_pool_scheduler(pool), exec_sender_ref(s));
	int got = 0, stopped = 0;
	for (int i = 0; i < rounds; i++) {
		exec_stop_source src;
		exec_stop_source_init(&src);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		t.env.stop_token = exec_stop_source_token(&src);
		exec_test_run(r, &t);
		exec_test_receiver st;
		exec_test_receiver_init(&st);
		exec_test_run(send_on_pool, &st);
		exec_stop_source_request(&src);
		exec_test_receiver_wait(&t);
		exec_test_receiver_wait(&st);
		assert_int_equal(exec_test_completions(&t), 1);
		if (AO_load(&t.values_calls)) {
			got++;
		} else {
			exec_test_assert_stopped(&t);
			stopped++;
			/* Not taken: the item waits in the channel. */
			assert_int_equal(exec_sync_wait(r, NULL), 0);
		}
		assert_int_equal(exec_channel_size(ch), 0);
		exec_test_receiver_destroy(&st);
		exec_test_receiver_destroy(&t);
	}
	assert_int_equal(got + stopped, rounds);
	exec_sender_free(send_on_pool);
	exec_sender_free(r);
	exec_sender_free(s);
	assert_int_equal(exec_channel_destroy(ch), 0);
	exec_thread_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(send_then_recv_fifo),
		cmocka_unit_test(recv_waits_for_send),
		cmocka_unit_test(send_waits_while_full),
		cmocka_unit_test(close_ends_stream),
		cmocka_unit_test(send_from_reads_slot_at_start),
		cmocka_unit_test(stop_waiting_ops),
		cmocka_unit_test(tasks_across_threads),
		cmocka_unit_test(stop_races_send),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
