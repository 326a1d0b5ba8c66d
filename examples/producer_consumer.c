/* examples/producer_consumer.c - stackless tasks passing items through a
 * bounded channel, with no mutex or condition variable in user code.
 *
 *   producer_consumer [--producers P] [--consumers C] [--items N]
 *                     [--capacity K] [--threads T]
 *
 * P producer tasks each send the numbers 1..N into one exec_channel of
 * capacity K; C consumer tasks receive until the channel is closed and
 * drained (recv completes with -EPIPE), summing what they got. All tasks
 * start by awaiting exec_schedule(pool), so they run on a thread pool of T
 * workers and move between workers whenever a send or a receive has to
 * wait. The main thread waits for everything with one sync_wait on
 * when_all(then(when_all(producers), close), when_all(consumers)).
 * Exits 0 when every item was received exactly once (the sums match). */
/* CEXEC_TEST_ARGS: --items 2000 --capacity 4 */
/* CEXEC_TEST_LABELS: tsan */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cexec.h"

typedef struct config {
	exec_channel *ch;
	exec_scheduler *sched;
	int64_t items;
} config;

/* A producer's frame: the header, its "locals", and room for the
 * operation state of whatever it awaits (a schedule or a send). */
typedef struct producer_frame {
	exec_coro co;
	const config *cfg;
	int64_t i;
	exec_value item;   /* what the send below reads when it starts */
	exec_sender *send; /* built once: no allocation per item */
	EXEC_CORO_STORAGE(op, 256);
} producer_frame;

static int producer(exec_coro *co)
{
	producer_frame *f = (producer_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, exec_schedule(f->cfg->sched), f->op);
	f->send = exec_channel_send_from(f->cfg->ch, &f->item);
	for (f->i = 1; f->i <= f->cfg->items; f->i++) {
		f->item = exec_value_i64(f->i);
		EXEC_CORO_AWAIT(co, exec_sender_ref(f->send), f->op);
		if (exec_coro_status(co) != 0)
			break;
	}
	exec_sender_free(f->send);
	if (exec_coro_status(co) != 0)
		EXEC_CORO_RETURN_STATUS(co, exec_coro_status(co));
	EXEC_CORO_RETURN(co, exec_value_i64(f->cfg->items));
	EXEC_CORO_END(co);
}

typedef struct consumer_frame {
	exec_coro co;
	const config *cfg;
	int64_t sum;
	EXEC_CORO_STORAGE(op, 256);
} consumer_frame;

static int consumer(exec_coro *co)
{
	consumer_frame *f = (consumer_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, exec_schedule(f->cfg->sched), f->op);
	for (;;) {
		EXEC_CORO_AWAIT(co, exec_channel_recv(f->cfg->ch), f->op);
		if (exec_coro_status(co) == -EPIPE)
			break; /* closed and drained */
		if (exec_coro_status(co) != 0)
			EXEC_CORO_RETURN_STATUS(co, exec_coro_status(co));
		f->sum += exec_value_as_i64(exec_coro_value(co));
	}
	EXEC_CORO_RETURN(co, exec_value_i64(f->sum));
	EXEC_CORO_END(co);
}

static void init_producer(exec_coro *co, void *arg)
{
	((producer_frame *)co)->cfg = arg;
}

static void init_consumer(exec_coro *co, void *arg)
{
	consumer_frame *f = (consumer_frame *)co;
	f->cfg = arg;
	f->sum = 0;
}

/* After every producer: close the channel (the consumers drain it and
 * stop) and pass on the number of items sent. */
static int close_channel(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	const config *cfg = ctx;
	exec_channel_close(cfg->ch);
	int64_t sent = 0;
	for (size_t i = 0; i < n; i++)
		sent += exec_value_as_i64(&in[i]);
	out[0] = exec_value_i64(sent);
	return 1;
}

static long arg_long(int argc, char **argv, const char *name, long def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return strtol(argv[i + 1], NULL, 10);
	return def;
}

int main(int argc, char **argv)
{
	long producers = arg_long(argc, argv, "--producers", 4);
	long consumers = arg_long(argc, argv, "--consumers", 3);
	long items = arg_long(argc, argv, "--items", 100000);
	long capacity = arg_long(argc, argv, "--capacity", 64);
	long threads = arg_long(argc, argv, "--threads", 2);
	if (producers < 1 || consumers < 1 || items < 0 || capacity < 0 || threads < 1 ||
	    producers > 1000 || consumers > 1000) {
		fprintf(stderr, "usage: producer_consumer [--producers P] [--consumers C] "
				"[--items N] [--capacity K] [--threads T]\n");
		return 2;
	}
	exec_thread_pool *pool;
	int rc = exec_thread_pool_create(&pool, (unsigned)threads);
	if (rc < 0) {
		fprintf(stderr, "thread pool: %s\n", exec_strerror(rc));
		return 1;
	}
	config cfg = {NULL, exec_thread_pool_scheduler(pool), items};
	rc = exec_channel_create(&cfg.ch, (size_t)capacity);
	if (rc < 0) {
		fprintf(stderr, "channel: %s\n", exec_strerror(rc));
		return 1;
	}
	/* Each task is a sender. The producers' when_all closes the channel
	 * when the last producer is done (then), which ends the consumers'
	 * loops; one when_all runs both groups, one sync_wait waits. */
	exec_sender **ps = calloc((size_t)producers, sizeof *ps);
	exec_sender **cs = calloc((size_t)consumers, sizeof *cs);
	if (!ps || !cs) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (long i = 0; i < producers; i++)
		ps[i] = EXEC_CORO_SENDER(producer, producer_frame, init_producer, &cfg);
	for (long i = 0; i < consumers; i++)
		cs[i] = EXEC_CORO_SENDER(consumer, consumer_frame, init_consumer, &cfg);
	exec_sender *all_producers = exec_then(exec_when_all(ps, (size_t)producers), close_channel, &cfg);
	exec_sender *all = exec_when_all2(all_producers, exec_when_all(cs, (size_t)consumers));
	exec_result r;
	rc = exec_sync_wait(all, &r);
	int ok = rc == 0 && r.count == (size_t)(1 + consumers);
	int64_t sent = 0, received = 0;
	if (ok) {
		sent = exec_value_as_i64(&r.values[0]);
		for (size_t i = 1; i < r.count; i++) {
			int64_t s = exec_value_as_i64(&r.values[i]);
			printf("consumer %zu: sum %lld\n", i - 1, (long long)s);
			received += s;
		}
	}
	int64_t expect = producers * (items * (items + 1) / 2);
	printf("%ld producers x %ld items through a channel of capacity %ld on %ld threads: "
	       "sum %lld (expected %lld)\n",
	       producers, items, capacity, threads, (long long)received, (long long)expect);
	ok = ok && sent == producers * items && received == expect;
	if (!ok)
		fprintf(stderr, "FAILED: %s\n", exec_strerror(rc));
	exec_result_clear(&r);
	exec_sender_free(all);
	free(ps);
	free(cs);
	exec_channel_destroy(cfg.ch);
	exec_thread_pool_destroy(pool);
	return ok ? 0 : 1;
}
