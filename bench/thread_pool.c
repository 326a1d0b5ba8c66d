/* bench/thread_pool.c - what the work-stealing pool costs, and what it buys.
 *
 * In one run, on a pool of --workers workers (default 2):
 *   (i)   one hop: sync_wait(schedule(pool) | then), ns per round trip,
 *         against a round trip through the baseline pool;
 *   (ii)  spawn --tasks (1,000,000) trivial tasks (schedule(pool) | then)
 *         into a counting scope from the main thread and join: ns per task,
 *         against the baseline pool running the same number of malloc'ed
 *         function-pointer jobs (submit, run, free, count, wait for all);
 *         also the CPU time of all threads per task, for both (on a
 *         shared machine wall time counts other programs' turns too).
 *         Also the pool alone: preallocated exec_tasks submitted from
 *         outside (no sender, no allocation), against the same baseline;
 *   (iii) bulk of --items (1,000,000) trivial items: ns per item, against a
 *         sequential loop of the same indirect call;
 *   (iv)  a CPU-bound bulk body on 2 workers vs 1: speedup (wall time);
 *   (v)   CPU time the idle pool burns in --idle-ms (1000) ms: percent of
 *         one core (getrusage of the process while the main thread sleeps).
 * The baseline is a plain pool: one mutex, one condition variable, a FIFO
 * of malloc'ed {fn, arg} jobs, a signal per submit.
 *
 * The machine may be shared and noisy: each figure is the median of
 * --repetitions runs, and a figure and its baseline are measured in
 * interleaved repetitions (a, b, a, b, ...) in wall time.
 *
 * Usage: thread_pool [--workers N] [--tasks N] [--items N] [--hops N]
 *                    [--cpu-items N] [--cpu-work N] [--idle-ms MS]
 *                    [--repetitions R] [--json]
 * --json prints one object per line:
 *   {"name": ..., "value": ..., "unit": ..., "ratio": ..., "baseline": ...}
 * (ratio = value / baseline; null when there is no baseline). */
/* CEXEC_TEST_ARGS: --tasks 2000 --items 2000 --hops 100 --cpu-items 16 --cpu-work 1000 --idle-ms 20 --repetitions 1 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cexec.h"

static unsigned workers = 2;
static long tasks = 1000000, items = 1000000, hops = 100000;
static long cpu_items = 512, cpu_work = 200000, idle_ms = 1000;
static int repetitions = 5;
static int json;

static double wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double process_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

/* CPU time (all threads) per task of the last spawn run: on a shared
 * machine wall time also counts other programs' turns; this does not. */
static double last_cpu_per_task;

static void die(const char *what, int err)
{
	fprintf(stderr, "thread_pool: %s: %s\n", what, exec_strerror(err));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* baseline < 0: no baseline. */
static void report(const char *name, double value, const char *unit, double baseline,
		   const char *target)
{
	if (json) {
		printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", ", name, value,
		       unit);
		if (baseline > 0)
			printf("\"ratio\": %.3f, \"baseline\": %.3f}\n", value / baseline,
			       baseline);
		else
			printf("\"ratio\": null, \"baseline\": null}\n");
		return;
	}
	printf("%-44s %12.2f %-8s", name, value, unit);
	if (baseline > 0)
		printf(" %6.2fx of baseline %.2f", value / baseline, baseline);
	if (target)
		printf("   (target %s)", target);
	printf("\n");
}

/* ---- the baseline: mutex + condition variable + FIFO of fn pointers ---- */

typedef struct job {
	void (*fn)(void *);
	void *arg;
	struct job *next;
} job;

typedef struct plain_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *head, *tail;
	int stop;
	unsigned n;
	pthread_t *threads;
} plain_pool;

static void *plain_worker(void *arg)
{
	plain_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		job *j = p->head;
		if (!j) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->fn(j->arg);
		free(j);
	}
}

static void plain_init(plain_pool *p, unsigned n)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->n = n;
	p->threads = calloc(n, sizeof *p->threads);
	if (!p->threads)
		die("calloc", -ENOMEM);
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&p->threads[i], NULL, plain_worker, p) != 0)
			die("pthread_create", -EAGAIN);
}

static void plain_submit(plain_pool *p, void (*fn)(void *), void *arg)
{
	job *j = malloc(sizeof *j);
	if (!j)
		die("malloc", -ENOMEM);
	j->fn = fn;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void plain_destroy(plain_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* A countdown the submitter waits on (the baseline's "join"). */
typedef struct latch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long left;
} latch;

static void latch_init(latch *l, long n)
{
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->left = n;
}

static void latch_count_down(void *arg)
{
	latch *l = arg;
	pthread_mutex_lock(&l->mu);
	if (--l->left == 0)
		pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void latch_wait_destroy(latch *l)
{
	pthread_mutex_lock(&l->mu);
	while (l->left)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
}

/* Trivial job: bump a counter; the last one wakes the waiter. */
typedef struct counter {
	AO_t done;
	long n;
	latch l;
} counter;

static void trivial_job(void *arg)
{
	counter *c = arg;
	/* n read before the count: once the last job has counted down, c
	 * (on the waiter's stack) may be gone. Release for the jobs before
	 * the last, acquire for the last one, which hands on to the waiter
	 * through the latch. */
	long n = c->n;
	if ((long)AO_fetch_and_add_full(&c->done, 1) + 1 == n)
		latch_count_down(&c->l);
}

static double baseline_spawn(plain_pool *p, long n)
{
	counter c;
	c.done = 0;
	c.n = n;
	latch_init(&c.l, 1);
	double c0 = process_cpu_ns();
	double t0 = wall_ns();
	for (long i = 0; i < n; i++)
		plain_submit(p, trivial_job, &c);
	latch_wait_destroy(&c.l);
	double ns = (wall_ns() - t0) / (double)n;
	last_cpu_per_task = (process_cpu_ns() - c0) / (double)n;
	return ns;
}

static double baseline_hop(plain_pool *p, long n)
{
	double t0 = wall_ns();
	for (long i = 0; i < n; i++) {
		latch l;
		latch_init(&l, 1);
		plain_submit(p, latch_count_down, &l);
		latch_wait_destroy(&l);
	}
	return (wall_ns() - t0) / (double)n;
}

/* ---- cexec ------------------------------------------------------------- */

static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx, (void)in, (void)n;
	out[0] = exec_value_i64(1);
	return 1;
}

static AO_t trivial_runs;

static int count_run(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx, (void)in, (void)n, (void)out;
	AO_fetch_and_add1(&trivial_runs);
	return 0;
}

static double cexec_hop(exec_scheduler *sched, long n)
{
	exec_sender *s = exec_then(exec_schedule(sched), add_one, NULL);
	double t0 = wall_ns();
	for (long i = 0; i < n; i++) {
		exec_result r;
		int err = exec_sync_wait(s, &r);
		if (err)
			die("sync_wait(schedule | then)", err);
	}
	double ns = (wall_ns() - t0) / (double)n;
	exec_sender_free(s);
	return ns;
}

static double cexec_spawn(exec_scheduler *sched, long n)
{
	exec_counting_scope scope;
	int err = exec_counting_scope_init(&scope);
	if (err)
		die("counting_scope_init", err);
	exec_sender *task = exec_then(exec_schedule(sched), count_run, NULL);
	AO_store(&trivial_runs, 0);
	double c0 = process_cpu_ns();
	double t0 = wall_ns();
	for (long i = 0; i < n; i++)
		if ((err = exec_scope_spawn(&scope, exec_sender_ref(task), NULL)) != 0)
			die("spawn", err);
	exec_sender *j = exec_scope_join(&scope);
	if ((err = exec_sync_wait(j, NULL)) != 0)
		die("join", err);
	double ns = (wall_ns() - t0) / (double)n;
	last_cpu_per_task = (process_cpu_ns() - c0) / (double)n;
	if ((long)AO_load(&trivial_runs) != n)
		die("spawned tasks lost", -EIO);
	exec_sender_free(j);
	exec_sender_free(task);
	exec_counting_scope_destroy(&scope);
	return ns;
}

/* The pool's own cost: exec_tasks submitted from outside, no sender, no
 * allocation (the tasks are preallocated, like the baseline's jobs are
 * not: the baseline mallocs each). */
typedef struct raw_task {
	exec_task task;
	AO_t *done;
} raw_task;

static void raw_fn(exec_task *t, int status)
{
	(void)status;
	/* Release: the submitter frees the tasks once it has counted them
	 * all, after the pool's last reads of them. */
	AO_fetch_and_add1_release(((raw_task *)t)->done);
}

static double raw_submit(exec_scheduler *sched, raw_task *rt, long n)
{
	AO_t done = 0;
	for (long i = 0; i < n; i++) {
		rt[i].task.fn = raw_fn;
		rt[i].done = &done;
	}
	double t0 = wall_ns();
	for (long i = 0; i < n; i++)
		exec_scheduler_submit(sched, &rt[i].task);
	while ((long)AO_load_acquire(&done) < n)
		sched_yield();
	return (wall_ns() - t0) / (double)n;
}

static int trivial_item(void *ctx, size_t i, const exec_value *v, size_t n)
{
	(void)v, (void)n;
	((unsigned char *)ctx)[i] = 1;
	return 0;
}

static int (*volatile item_ptr)(void *, size_t, const exec_value *, size_t) = trivial_item;

static double sequential_items(unsigned char *mark, long n)
{
	double t0 = wall_ns();
	for (long i = 0; i < n; i++)
		item_ptr(mark, (size_t)i, NULL, 0);
	return (wall_ns() - t0) / (double)n;
}

static double bulk_items(exec_scheduler *sched, unsigned char *mark, long n,
			 exec_bulk_fn fn)
{
	memset(mark, 0, (size_t)n);
	exec_sender *s = exec_bulk(exec_schedule(sched), (size_t)n, fn, mark);
	double t0 = wall_ns();
	int err = exec_sync_wait(s, NULL);
	double ns = (wall_ns() - t0) / (double)n;
	if (err)
		die("sync_wait(bulk)", err);
	exec_sender_free(s);
	return ns;
}

/* CPU-bound body: a dependent chain of multiply-adds per item. */
static uint64_t *cpu_out;

static int cpu_item(void *ctx, size_t i, const exec_value *v, size_t n)
{
	(void)ctx, (void)v, (void)n;
	uint64_t x = i + 1;
	for (long k = 0; k < cpu_work; k++)
		x = x * 6364136223846793005u + 1442695040888963407u;
	cpu_out[i] = x;
	return 0;
}

static double cpu_bulk_ms(exec_scheduler *sched)
{
	exec_sender *s = exec_bulk(exec_schedule(sched), (size_t)cpu_items, cpu_item, NULL);
	double t0 = wall_ns();
	int err = exec_sync_wait(s, NULL);
	double ms = (wall_ns() - t0) / 1e6;
	if (err)
		die("sync_wait(cpu bulk)", err);
	exec_sender_free(s);
	return ms;
}

/* Percent of one core the pool burns while nothing is submitted. A task
 * first, so the workers have just been busy (the spin-then-park path). */
static double idle_percent(exec_scheduler *sched)
{
	exec_sender *s = exec_schedule(sched);
	exec_sync_wait(s, NULL);
	exec_sender_free(s);
	double c0 = process_cpu_ns(), t0 = wall_ns();
	struct timespec ts = {idle_ms / 1000, (idle_ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	double c1 = process_cpu_ns(), t1 = wall_ns();
	return 100.0 * (c1 - c0) / (t1 - t0);
}

static long arg_long(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 1) {
		fprintf(stderr, "thread_pool: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool more = i + 1 < argc;
		if (!strcmp(a, "--json"))
			json = 1;
		else if (!strcmp(a, "--workers") && more)
			workers = (unsigned)arg_long(argv[++i]);
		else if (!strcmp(a, "--tasks") && more)
			tasks = arg_long(argv[++i]);
		else if (!strcmp(a, "--items") && more)
			items = arg_long(argv[++i]);
		else if (!strcmp(a, "--hops") && more)
			hops = arg_long(argv[++i]);
		else if (!strcmp(a, "--cpu-items") && more)
			cpu_items = arg_long(argv[++i]);
		else if (!strcmp(a, "--cpu-work") && more)
			cpu_work = arg_long(argv[++i]);
		else if (!strcmp(a, "--idle-ms") && more)
			idle_ms = arg_long(argv[++i]);
		else if (!strcmp(a, "--repetitions") && more)
			repetitions = (int)arg_long(argv[++i]);
		else {
			fprintf(stderr,
				"usage: %s [--workers N] [--tasks N] [--items N] [--hops N] "
				"[--cpu-items N] [--cpu-work N] [--idle-ms MS] "
				"[--repetitions R] [--json]\n",
				argv[0]);
			return 2;
		}
	}
	if (repetitions > 99)
		repetitions = 99;
	exec_thread_pool *pool, *pool1, *pool2;
	int err;
	if ((err = exec_thread_pool_create(&pool, workers)) != 0 ||
	    (err = exec_thread_pool_create(&pool1, 1)) != 0 ||
	    (err = exec_thread_pool_create(&pool2, 2)) != 0)
		die("thread_pool_create", err);
	exec_scheduler *sched = exec_thread_pool_scheduler(pool);
	plain_pool plain;
	plain_init(&plain, workers);
	if (!json)
		printf("thread_pool bench: %u workers, median of %d interleaved repetitions\n",
		       workers, repetitions);

	double a[100], b[100];
	/* (i) one hop */
	for (int r = 0; r < repetitions; r++) {
		a[r] = cexec_hop(sched, hops);
		b[r] = baseline_hop(&plain, hops);
	}
	report("hop: sync_wait(schedule(pool)|then)", median(a, repetitions), "ns/op",
	       median(b, repetitions), NULL);

	/* (ii) spawn into a counting scope, join */
	double ca[100], cb[100];
	for (int r = 0; r < repetitions; r++) {
		a[r] = cexec_spawn(sched, tasks);
		ca[r] = last_cpu_per_task;
		b[r] = baseline_spawn(&plain, tasks);
		cb[r] = last_cpu_per_task;
	}
	report("spawn+join into counting_scope", median(a, repetitions), "ns/task",
	       median(b, repetitions), "<= 100 ns and <= 0.7x");
	report("spawn+join CPU time, all threads", median(ca, repetitions), "ns/task",
	       median(cb, repetitions), NULL);
	raw_task *rt = calloc((size_t)tasks, sizeof *rt);
	if (!rt)
		die("calloc", -ENOMEM);
	for (int r = 0; r < repetitions; r++) {
		a[r] = raw_submit(sched, rt, tasks);
		b[r] = baseline_spawn(&plain, tasks);
	}
	report("raw exec_task submit from outside", median(a, repetitions), "ns/task",
	       median(b, repetitions), NULL);
	free(rt);

	/* (iii) bulk of trivial items */
	unsigned char *mark = malloc((size_t)items);
	if (!mark)
		die("malloc", -ENOMEM);
	for (int r = 0; r < repetitions; r++) {
		a[r] = bulk_items(sched, mark, items, trivial_item);
		for (long i = 0; i < items; i++)
			if (!mark[i])
				die("bulk skipped an item", -EIO);
		b[r] = sequential_items(mark, items);
	}
	report("bulk of trivial items", median(a, repetitions), "ns/item",
	       median(b, repetitions), NULL);
	free(mark);

	/* (iv) CPU-bound bulk, 2 workers vs 1 */
	cpu_out = calloc((size_t)cpu_items, sizeof *cpu_out);
	if (!cpu_out)
		die("calloc", -ENOMEM);
	for (int r = 0; r < repetitions; r++) {
		b[r] = cpu_bulk_ms(exec_thread_pool_scheduler(pool1));
		a[r] = cpu_bulk_ms(exec_thread_pool_scheduler(pool2));
	}
	double t1 = median(b, repetitions), t2 = median(a, repetitions);
	if (!json)
		printf("%-44s %12.2f ms on 1 worker, %.2f ms on 2\n", "cpu-bound bulk", t1, t2);
	/* value = speedup; its "baseline" is 1 (one worker). */
	report("cpu-bound bulk speedup 2 workers vs 1", t1 / t2, "x", -1, ">= 1.8x");
	free(cpu_out);

	/* (v) idle CPU */
	for (int r = 0; r < repetitions && r < 3; r++)
		a[r] = idle_percent(sched);
	report("idle pool CPU (% of one core)", median(a, repetitions < 3 ? repetitions : 3),
	       "%", -1, "< 1%");

	plain_destroy(&plain);
	exec_thread_pool_destroy(pool2);
	exec_thread_pool_destroy(pool1);
	exec_thread_pool_destroy(pool);
	return 0;
}
