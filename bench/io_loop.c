/* bench/io_loop.c - the cost of the I/O loop's scheduler and timers.
 *
 * Prints, in one run, on the loop's own thread:
 *   - "schedule() sender": the exec_schedule sender of the loop, connected
 *     and started again from its own completion (a local queue, no system
 *     call), per operation; target <= 100 ns;
 *   - "submit task": the bare scheduler interface (a task resubmitting
 *     itself), per operation;
 *   - "timers (sender)": --timers schedule_at senders with shuffled
 *     deadlines that are all due, started then fired, per timer (the cost
 *     of the timer machinery, not of waiting); target <= 1000 ns;
 *   - "timers (task)": the same with submit_at on bare tasks;
 * and the baselines measured in the same run, interleaved with each
 * repetition: for schedule, a hand-written intrusive FIFO run loop (push,
 * pop, indirect call); for timers, a hand-written binary heap (push all,
 * pop all, indirect call) and raw liburing IORING_OP_TIMEOUTs (prep, batch
 * submit, reap) when io_uring is available. Each figure is the best of
 * --repetitions and is given as a ratio to its baseline.
 * Both loop backends are measured (epoll forced for the second run).
 *
 * Usage: io_loop [--iterations N] [--timers N] [--repetitions R] [--json]
 * --json prints one object per line:
 *   {"name": ..., "value": ..., "unit": ..., "ratio": ..., "baseline": ...} */
/* CEXEC_TEST_ARGS: --iterations 2000 --timers 2000 --repetitions 2 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cexec.h"

static long iterations = 1000000;
static long ntimers = 100000;
static int repetitions = 5;
static int json;

static exec_time now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (exec_time)ts.tv_sec * EXEC_NS_PER_S + ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "io_loop: %s: %s\n", what, exec_strerror(err));
	exit(1);
}

/* ---- baseline: a minimal intrusive FIFO run loop ---- */

typedef struct fifo_task {
	struct fifo_task *next;
	void (*fn)(struct fifo_task *);
} fifo_task;

static fifo_task *fifo_head, *fifo_tail;
static long fifo_left;

static void fifo_push(fifo_task *t)
{
	t->next = NULL;
	if (fifo_tail)
		fifo_tail->next = t;
	else
		fifo_head = t;
	fifo_tail = t;
}

__attribute__((noinline)) static void fifo_again(fifo_task *t)
{
	if (--fifo_left > 0)
		fifo_push(t);
}

static double base_fifo(long n)
{
	fifo_task t = {NULL, fifo_again};
	fifo_left = n;
	exec_time t0 = now_ns();
	fifo_push(&t);
	while (fifo_head) {
		fifo_task *x = fifo_head;
		fifo_head = x->next;
		if (!fifo_head)
			fifo_tail = NULL;
		void (*volatile fn)(fifo_task *) = x->fn;
		fn(x);
	}
	return (double)(now_ns() - t0) / (double)n;
}

/* ---- schedule() sender on the loop, restarted from its completion ---- */

typedef struct again_rcv {
	exec_receiver base;
	exec_env env;
	const exec_sender *s;
	void *op;
	long left;
	exec_io_loop *loop;
} again_rcv;

static void again_value(exec_receiver *r, const exec_value *v, size_t n)
{
	again_rcv *a = EXEC_CONTAINER_OF(r, again_rcv, base);
	(void)v;
	(void)n;
	if (--a->left <= 0) {
		exec_io_loop_stop(a->loop);
		return;
	}
	/* The previous operation has completed: reuse its storage. */
	exec_connect(a->s, a->op, &a->base);
	exec_start(a->op);
}

static void again_error(exec_receiver *r, int err)
{
	(void)r;
	die("schedule", err);
}

static void again_stopped(exec_receiver *r)
{
	(void)r;
	die("schedule", EXEC_STOPPED);
}

static const exec_env *again_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, again_rcv, base)->env;
}

static const exec_receiver_ops again_ops = {again_value, again_error,
					    again_stopped, again_env};

static _Alignas(64) unsigned char op_storage[4096];

static double run_schedule_sender(exec_io_loop *loop, long n)
{
	exec_scheduler *sch = exec_io_loop_scheduler(loop);
	exec_sender *s = exec_schedule(sch);
	if (exec_sender_build_error(s) || exec_sender_op_size(s) > sizeof op_storage)
		die("exec_schedule", -EINVAL);
	again_rcv a = {{&again_ops}, {exec_stop_token_never(), sch, NULL}, s,
		       op_storage, n, loop};
	exec_time t0 = now_ns();
	if (exec_connect(s, op_storage, &a.base) < 0)
		die("connect", -EINVAL);
	exec_start((exec_op *)op_storage);
	int rc = exec_io_loop_run(loop);
	exec_time t1 = now_ns();
	if (rc < 0)
		die("run", rc);
	if (a.left != 0)
		die("schedule: lost completions", -EIO);
	exec_sender_free(s);
	return (double)(t1 - t0) / (double)n;
}

/* ---- a bare task resubmitting itself ---- */

typedef struct self_task {
	exec_task task;
	exec_scheduler *sch;
	exec_io_loop *loop;
	long left;
} self_task;

static void self_fn(exec_task *t, int status)
{
	self_task *s = EXEC_CONTAINER_OF(t, self_task, task);
	if (status != 0)
		die("task", status);
	if (--s->left <= 0)
		exec_io_loop_stop(s->loop);
	else
		exec_scheduler_submit(s->sch, t);
}

static double run_submit_task(exec_io_loop *loop, long n)
{
	self_task s;
	memset(&s, 0, sizeof s);
	s.task.fn = self_fn;
	s.sch = exec_io_loop_scheduler(loop);
	s.loop = loop;
	s.left = n;
	exec_time t0 = now_ns();
	exec_scheduler_submit(s.sch, &s.task);
	int rc = exec_io_loop_run(loop);
	exec_time t1 = now_ns();
	if (rc < 0)
		die("run", rc);
	return (double)(t1 - t0) / (double)n;
}

/* ---- timers ---- */

static exec_time *deadlines; /* shuffled, all in the past when used */

static void make_deadlines(long n)
{
	deadlines = malloc((size_t)n * sizeof *deadlines);
	if (!deadlines)
		die("malloc", -ENOMEM);
	for (long i = 0; i < n; i++)
		deadlines[i] = i + 1;
	unsigned long x = 88172645463325252ul;
	for (long i = n - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		long j = (long)(x % (unsigned long)(i + 1));
		exec_time t = deadlines[i];
		deadlines[i] = deadlines[j];
		deadlines[j] = t;
	}
}

/* Baseline: a binary min-heap of (deadline, task) pushed and popped. */
typedef struct heap_ent {
	exec_time key;
	fifo_task *t;
} heap_ent;

static long heap_fired;

__attribute__((noinline)) static void heap_fire(fifo_task *t)
{
	(void)t;
	heap_fired++;
}

static double base_heap(long n)
{
	heap_ent *h = malloc((size_t)n * sizeof *h);
	fifo_task *tasks = malloc((size_t)n * sizeof *tasks);
	if (!h || !tasks)
		die("malloc", -ENOMEM);
	heap_fired = 0;
	exec_time t0 = now_ns();
	long len = 0;
	for (long i = 0; i < n; i++) {
		tasks[i].fn = heap_fire;
		long k = len++;
		heap_ent e = {deadlines[i], &tasks[i]};
		while (k > 0 && h[(k - 1) / 2].key > e.key) {
			h[k] = h[(k - 1) / 2];
			k = (k - 1) / 2;
		}
		h[k] = e;
	}
	while (len > 0) {
		heap_ent top = h[0];
		heap_ent last = h[--len];
		long k = 0;
		for (;;) {
			long c = 2 * k + 1;
			if (c >= len)
				break;
			if (c + 1 < len && h[c + 1].key < h[c].key)
				c++;
			if (last.key <= h[c].key)
				break;
			h[k] = h[c];
			k = c;
		}
		h[k] = last;
		void (*volatile fn)(fifo_task *) = top.t->fn;
		fn(top.t);
	}
	exec_time t1 = now_ns();
	if (heap_fired != n)
		die("heap baseline", -EIO);
	free(h);
	free(tasks);
	return (double)(t1 - t0) / (double)n;
}

/* Baseline: raw liburing timeouts, each due at once (a zero relative
 * timeout), prepared, submitted in batches and reaped. */
static double base_uring_timeouts(long n)
{
	struct io_uring ring;
	if (io_uring_queue_init(256, &ring, 0) < 0)
		return -1;
	struct __kernel_timespec ts = {0, 0};
	long submitted = 0, reaped = 0;
	exec_time t0 = now_ns();
	while (reaped < n) {
		while (submitted < n) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			if (!sqe)
				break;
			io_uring_prep_timeout(sqe, &ts, 0, 0);
			io_uring_sqe_set_data64(sqe, (uint64_t)submitted);
			submitted++;
		}
		/* Wait for the whole batch: one enter per batch. */
		int rc = io_uring_submit_and_wait(&ring, (unsigned)(submitted - reaped));
		if (rc < 0 && rc != -EINTR && rc != -EBUSY)
			die("io_uring_submit", rc);
		struct io_uring_cqe *cqe;
		unsigned head, k = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			k++;
		}
		io_uring_cq_advance(&ring, k);
		reaped += k;
	}
	exec_time t1 = now_ns();
	io_uring_queue_exit(&ring);
	return (double)(t1 - t0) / (double)n;
}

typedef struct timer_rcv {
	exec_receiver base;
	exec_env env;
	long *fired;
} timer_rcv;

static void timer_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	(*EXEC_CONTAINER_OF(r, timer_rcv, base)->fired)++;
}

static const exec_env *timer_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, timer_rcv, base)->env;
}

static const exec_receiver_ops timer_ops = {timer_value, again_error,
					    again_stopped, timer_env};

/* Senders built outside the timed part (building allocates; connect and
 * start do not). */
static double run_timer_senders(exec_io_loop *loop, long n, exec_sender **s,
				unsigned char *ops, size_t op_size)
{
	exec_scheduler *sch = exec_io_loop_scheduler(loop);
	long fired = 0;
	timer_rcv rcv = {{&timer_ops}, {exec_stop_token_never(), sch, NULL}, &fired};
	exec_time t0 = now_ns();
	for (long i = 0; i < n; i++) {
		void *op = ops + (size_t)i * op_size;
		exec_connect(s[i], op, &rcv.base);
		exec_start(op);
	}
	int rc = exec_io_loop_run_until_empty(loop);
	exec_time t1 = now_ns();
	if (rc < 0)
		die("run", rc);
	if (fired != n)
		die("timers: lost completions", -EIO);
	return (double)(t1 - t0) / (double)n;
}

static long tasks_fired;

static void timer_task_fn(exec_task *t, int status)
{
	(void)t;
	if (status)
		die("timer task", status);
	tasks_fired++;
}

static double run_timer_tasks(exec_io_loop *loop, long n, exec_task *tasks)
{
	exec_scheduler *sch = exec_io_loop_scheduler(loop);
	tasks_fired = 0;
	exec_time t0 = now_ns();
	for (long i = 0; i < n; i++) {
		tasks[i].fn = timer_task_fn;
		exec_scheduler_submit_at(sch, &tasks[i], deadlines[i]);
	}
	int rc = exec_io_loop_run_until_empty(loop);
	exec_time t1 = now_ns();
	if (rc < 0)
		die("run", rc);
	if (tasks_fired != n)
		die("timer tasks: lost completions", -EIO);
	return (double)(t1 - t0) / (double)n;
}

/* ---- reporting ---- */

static void report(const char *name, double ns, double base, const char *bname,
		   double target_ns)
{
	double ratio = base > 0 ? ns / base : 0;
	if (json) {
		printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"ns/op\", "
		       "\"ratio\": %.2f, \"baseline\": %.3f}\n",
		       name, ns, ratio, base);
		return;
	}
	printf("%-42s %9.2f ns/op %7.2fx %s (%.2f ns)", name, ns, ratio, bname, base);
	if (target_ns > 0)
		printf("  target <= %.0f ns: %s", target_ns,
		       ns <= target_ns ? "met" : "MISSED");
	printf("\n");
}

static void report_base(const char *name, double ns)
{
	if (json)
		printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"ns/op\", "
		       "\"ratio\": 1.00, \"baseline\": %.3f}\n",
		       name, ns, ns);
	else
		printf("%-42s %9.2f ns/op   (baseline)\n", name, ns);
}

static double minv(double a, double b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

static void bench_backend(exec_io_backend backend, const char *label)
{
	exec_io_loop_options o;
	memset(&o, 0, sizeof o);
	o.backend = backend;
	exec_io_loop *loop;
	int rc = exec_io_loop_create(&loop, &o);
	if (rc < 0) {
		if (!json)
			printf("%s backend unavailable: %s (skipped)\n", label,
			       exec_strerror(rc));
		return;
	}
	exec_scheduler *sch = exec_io_loop_scheduler(loop);
	exec_sender **ts = malloc((size_t)ntimers * sizeof *ts);
	exec_task *tasks = calloc((size_t)ntimers, sizeof *tasks);
	if (!ts || !tasks)
		die("malloc", -ENOMEM);
	for (long i = 0; i < ntimers; i++) {
		ts[i] = exec_schedule_at(sch, deadlines[i]);
		if (exec_sender_build_error(ts[i]))
			die("exec_schedule_at", exec_sender_build_error(ts[i]));
	}
	size_t op_size = (exec_sender_op_size(ts[0]) + 63) & ~(size_t)63;
	unsigned char *ops = aligned_alloc(64, op_size * (size_t)ntimers);
	if (!ops)
		die("malloc", -ENOMEM);

	double fifo = -1, sched = -1, task = -1, heap = -1, uring = -1,
	       tsend = -1, ttask = -1;
	for (int rep = 0; rep < repetitions; rep++) {
		fifo = minv(fifo, base_fifo(iterations));
		sched = minv(sched, run_schedule_sender(loop, iterations));
		task = minv(task, run_submit_task(loop, iterations));
		heap = minv(heap, base_heap(ntimers));
		uring = minv(uring, base_uring_timeouts(ntimers));
		tsend = minv(tsend, run_timer_senders(loop, ntimers, ts, ops, op_size));
		ttask = minv(ttask, run_timer_tasks(loop, ntimers, tasks));
	}
	char name[96];
	if (!json)
		printf("-- %s backend (%ld schedules, %ld timers, best of %d)\n",
		       label, iterations, ntimers, repetitions);
	report_base("baseline intrusive FIFO run loop", fifo);
	snprintf(name, sizeof name, "%s schedule() sender", label);
	report(name, sched, fifo, "FIFO", 100);
	snprintf(name, sizeof name, "%s submit task", label);
	report(name, task, fifo, "FIFO", 0);
	report_base("baseline binary heap timer", heap);
	if (uring > 0)
		report_base("baseline raw liburing timeout", uring);
	snprintf(name, sizeof name, "%s timers (sender)", label);
	report(name, tsend, heap, "heap", 1000);
	snprintf(name, sizeof name, "%s timers (task)", label);
	report(name, ttask, heap, "heap", 1000);
	if (uring > 0) {
		snprintf(name, sizeof name, "%s timers (sender) vs liburing", label);
		report(name, tsend, uring, "liburing", 0);
	}
	for (long i = 0; i < ntimers; i++)
		exec_sender_free(ts[i]);
	free(ts);
	free(tasks);
	free(ops);
	exec_io_loop_destroy(loop);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iterations = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--timers") && i + 1 < argc) {
			ntimers = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--repetitions") && i + 1 < argc) {
			repetitions = atoi(argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [--iterations N] [--timers N] "
				"[--repetitions R] [--json]\n",
				argv[0]);
			return 2;
		}
	}
	if (iterations < 1 || ntimers < 1 || repetitions < 1) {
		fprintf(stderr, "io_loop: counts must be >= 1\n");
		return 2;
	}
	make_deadlines(ntimers);
	bench_backend(EXEC_IO_BACKEND_URING, "io_uring");
	bench_backend(EXEC_IO_BACKEND_EPOLL, "epoll");
	free(deadlines);
	return 0;
}
