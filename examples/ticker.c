/* examples/ticker.c - a stackless task that loops "await a delay, act" a
 * bounded number of times, on an io loop's timers.
 *
 *   ticker [--ticks N] [--interval-ms MS] [--stop-after K]
 *
 * The task awaits exec_schedule_after(loop, MS) N times and prints each
 * tick with the time since the start. With --stop-after K a second task
 * requests stop after K intervals: the ticker's pending delay is
 * cancelled at once, its await completes stopped and the ticker ends
 * stopped (printed). The task's frame is 256 bytes: the 64-byte
 * exec_coro header, two words of locals and 176 bytes of storage for the
 * timer's operation state, so no await allocates (checked). Exits 0 when
 * the ticker ticked N times (or K times and was stopped), never early. */
/* CEXEC_TEST_ARGS: --ticks 5 --interval-ms 2 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cexec.h"

typedef struct ticker_frame {
	exec_coro co;
	exec_sender *delay; /* built once, awaited N times */
	int32_t i, n;
	EXEC_CORO_STORAGE(op, 176);
} ticker_frame;

_Static_assert(sizeof(void *) != 8 || sizeof(ticker_frame) == 256,
	       "the frame size the header comment promises");

static int allocated_awaits;
static exec_time t_start;

static int ticker(exec_coro *co)
{
	ticker_frame *f = (ticker_frame *)co;
	EXEC_CORO_BEGIN(co);
	for (f->i = 1; f->i <= f->n; f->i++) {
		/* The task's stop token reaches the timer: a stop cancels it. */
		EXEC_CORO_AWAIT(co, exec_sender_ref(f->delay), f->op);
		allocated_awaits += exec_coro_await_allocated(co);
		if (exec_coro_status(co) != 0) {
			printf("ticker: %s after %d ticks\n", exec_strerror(exec_coro_status(co)),
			       f->i - 1);
			EXEC_CORO_RETURN_STATUS(co, exec_coro_status(co));
		}
		printf("tick %d at %.1f ms\n", f->i, (exec_clock_now() - t_start) / 1e6);
	}
	EXEC_CORO_RETURN(co, exec_value_i64(f->n));
	EXEC_CORO_END(co);
}

typedef struct ticker_args {
	exec_sender *delay;
	int n;
} ticker_args;

static void ticker_init(exec_coro *co, void *arg)
{
	const ticker_args *a = arg;
	ticker_frame *f = (ticker_frame *)co;
	f->delay = a->delay;
	f->n = a->n;
}

/* The stopper: await a delay, then request stop. */
typedef struct stopper_frame {
	exec_coro co;
	exec_stop_source *src;
	exec_sender *delay;
	EXEC_CORO_STORAGE(op, 176);
} stopper_frame;

static int stopper(exec_coro *co)
{
	stopper_frame *f = (stopper_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_AWAIT(co, exec_sender_ref(f->delay), f->op);
	if (exec_coro_status(co) == 0) {
		printf("stopper: requesting stop\n");
		exec_stop_source_request(f->src);
	}
	EXEC_CORO_END(co);
}

typedef struct stopper_args {
	exec_stop_source *src;
	exec_sender *delay;
} stopper_args;

static void stopper_init(exec_coro *co, void *arg)
{
	const stopper_args *a = arg;
	stopper_frame *f = (stopper_frame *)co;
	f->src = a->src;
	f->delay = a->delay;
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
	long ticks = arg_long(argc, argv, "--ticks", 5);
	long interval_ms = arg_long(argc, argv, "--interval-ms", 100);
	long stop_after = arg_long(argc, argv, "--stop-after", 0);
	if (ticks < 0 || ticks > 1000000 || interval_ms < 0 || stop_after < 0) {
		fprintf(stderr, "usage: ticker [--ticks N] [--interval-ms MS] [--stop-after K]\n");
		return 2;
	}
	exec_io_loop *loop;
	int rc = exec_io_loop_create(&loop, NULL);
	if (rc < 0) {
		fprintf(stderr, "io loop: %s\n", exec_strerror(rc));
		return 1;
	}
	exec_scheduler *sched = exec_io_loop_scheduler(loop);
	ticker_args a = {exec_schedule_after(sched, interval_ms * EXEC_NS_PER_MS), (int)ticks};
	exec_sender *task = EXEC_CORO_SENDER(ticker, ticker_frame, ticker_init, &a);

	exec_result r;
	exec_time t0 = t_start = exec_clock_now();
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	exec_sender *run = task;
	if (stop_after) {
		/* A second task on the same loop requests stop half an interval
		 * after the K-th tick; when_all hands the token to both. */
		stopper_args sa = {&stop, exec_schedule_after(sched, stop_after * interval_ms * EXEC_NS_PER_MS +
									 interval_ms * EXEC_NS_PER_MS / 2)};
		run = exec_when_all2(task, EXEC_CORO_SENDER(stopper, stopper_frame, stopper_init, &sa));
		rc = exec_io_loop_sync_wait_with_stop(loop, run, exec_stop_source_token(&stop), &r);
		exec_sender_free(sa.delay);
	} else {
		exec_sender_ref(task);
		rc = exec_io_loop_sync_wait_with_stop(loop, run, exec_stop_source_token(&stop), &r);
	}
	exec_time elapsed = exec_clock_now() - t0;
	int ok;
	if (rc == 0) {
		ok = r.count == 1 && exec_value_as_i64(&r.values[0]) == ticks &&
		     elapsed >= ticks * interval_ms * EXEC_NS_PER_MS;
		printf("%ld ticks in %.1f ms (%s backend)\n", ticks, elapsed / 1e6,
		       exec_io_loop_backend_name(loop));
	} else {
		ok = rc == EXEC_STOPPED && stop_after > 0;
		printf("ticker ended: %s\n", exec_strerror(rc));
	}
	ok = ok && allocated_awaits == 0;
	exec_result_clear(&r);
	exec_sender_free(run);
	if (!stop_after)
		exec_sender_free(task);
	exec_sender_free(a.delay);
	exec_io_loop_destroy(loop);
	if (!ok)
		fprintf(stderr, "FAILED\n");
	return ok ? 0 : 1;
}
