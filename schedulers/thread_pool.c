#include "schedulers/thread_pool.h"

#include <atomic_ops.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "exec/call_guard.h"
#include "exec/cpu_relax.h"
#include "exec/error.h"
#include "exec/receiver.h"
#include "exec/timer_heap.h"

/* Deque capacity per worker (a power of two). A full deque overflows into
 * the injection queue. */
#define DEQUE_CAP 4096u
#define DEQUE_MASK (DEQUE_CAP - 1u)
/* Every TICK tasks a worker serves the injection queue, the timers and the
 * oldest task of its own deque first (prime, as in Go and Tokio). */
#define TICK 61u
/* Search rounds before parking. */
#define SPIN_ROUNDS 64
#define CACHELINE 64

/* A task's status while it is queued: [0] once it is out of the timer heap
 * (the heap uses [0..3] only while the task is in it; [3] != 0 means "in
 * the heap"). */
#define STATUS(t) ((t)->sched_private[0].u)

typedef struct worker {
	/* Chase-Lev deque: the owner pushes and takes at bottom, thieves
	 * steal at top. Indices grow forever; the ring is indexed mod CAP. */
	_Alignas(CACHELINE) AO_t top;
	_Alignas(CACHELINE) AO_t bottom;
	AO_t ring[DEQUE_CAP];
	/* Owner-written counters (AO_store of owner's own value, read by
	 * anyone). */
	_Alignas(CACHELINE) AO_t tasks_run, steals, injected, parks, overflows;
	exec_thread_pool *pool;
	pthread_t thread;
	unsigned index;
	unsigned tick;
	unsigned rng;
	bool searching;
	bool started;
} worker;

struct exec_thread_pool {
	exec_scheduler sched;
	unsigned n;
	worker *workers;
	/* Injection queue: a Treiber stack of tasks linked through next. Pushed
	 * by anyone; taken whole (swap with NULL: no ABA, since nobody reads
	 * a node before owning it). */
	_Alignas(CACHELINE) AO_t inject;
	/* Injected tasks taken from the stack but not yet run, oldest first:
	 * a worker that takes a big stack keeps a deque-sized batch and parks
	 * the rest here, so that each task is walked a bounded number of times
	 * (pushing the rest back onto the stack made a million-task burst
	 * quadratic). Only workers touch it, under backlog_mu. */
	_Alignas(CACHELINE) pthread_mutex_t backlog_mu;
	exec_task *backlog_head, *backlog_tail;
	AO_t backlog_len; /* read without the lock as a hint */
	/* Wake-up state (see wake_one). */
	_Alignas(CACHELINE) AO_t searching; /* workers looking for work */
	AO_t sleepers;                       /* workers parked or parking */
	AO_t wake_pending;                   /* a wake is on its way */
	unsigned epoch;                      /* the futex word */
	AO_t stopping;
	/* Timers. */
	_Alignas(CACHELINE) pthread_mutex_t timer_mu;
	exec_timer_heap timers;
	AO_t timer_count;
};

static __thread worker *tl_worker;

static void counter_inc(AO_t *c)
{
	/* Only the owner writes: a plain atomic store is enough. */
	AO_store(c, AO_load(c) + 1);
}

static long futex(unsigned *addr, int op, unsigned val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* ---- deque -------------------------------------------------------------- */

static bool deque_push(worker *w, exec_task *t)
{
	AO_t b = AO_load(&w->bottom);
	AO_t tp = AO_load_acquire(&w->top);
	if (b - tp >= DEQUE_CAP)
		return false;
	AO_store(&w->ring[b & DEQUE_MASK], (AO_t)t);
	/* Publishes the slot to thieves. */
	AO_store_release(&w->bottom, b + 1);
	return true;
}

/* Owner only. */
static exec_task *deque_take(worker *w)
{
	/* The decrement of bottom must be ordered before the load of top (the
	 * race with a thief for the last task). A full-barrier RMW on bottom
	 * does it without a standalone fence; only the owner writes bottom. */
	AO_t b = AO_fetch_and_add_full(&w->bottom, (AO_t)-1) - 1;
	AO_t tp = AO_load_acquire(&w->top);
	long size = (long)(b - tp);
	if (size < 0) {
		AO_store(&w->bottom, b + 1);
		return NULL;
	}
	exec_task *t = (exec_task *)AO_load(&w->ring[b & DEQUE_MASK]);
	if (size > 0)
		return t;
	/* The last task: win it against the thieves on top. */
	if (!AO_compare_and_swap_full(&w->top, tp, tp + 1))
		t = NULL;
	AO_store(&w->bottom, b + 1);
	return t;
}

/* Anyone. Returns NULL when empty or when it lost a race (*lost set). */
static exec_task *deque_steal(worker *w, bool *lost)
{
	AO_t tp = AO_load_acquire(&w->top);
	/* Acquire keeps the load of bottom after the load of top. */
	AO_t b = AO_load_acquire(&w->bottom);
	if ((long)(b - tp) <= 0)
		return NULL;
	exec_task *t = (exec_task *)AO_load(&w->ring[tp & DEQUE_MASK]);
	if (!AO_compare_and_swap_full(&w->top, tp, tp + 1)) {
		*lost = true;
		return NULL;
	}
	return t;
}

/* ---- injection queue ---------------------------------------------------- */

static void inject_push_chain(exec_thread_pool *p, exec_task *first, exec_task *last)
{
	AO_t head;
	do {
		head = AO_load(&p->inject);
		last->next = (exec_task *)head;
	} while (!AO_compare_and_swap_full(&p->inject, head, (AO_t)first));
}

/* Takes the whole stack and returns it oldest first, with its length and
 * last (newest) task. */
static exec_task *inject_take_all(exec_thread_pool *p, AO_t *n, exec_task **last)
{
	*n = 0;
	if (!AO_load(&p->inject))
		return NULL;
	AO_t head;
	do {
		head = AO_load_acquire(&p->inject);
	} while (head && !AO_compare_and_swap_full(&p->inject, head, 0));
	exec_task *rev = NULL, *t = (exec_task *)head;
	*last = t;
	AO_t count = 0;
	while (t) {
		exec_task *next = t->next;
		t->next = rev;
		rev = t;
		t = next;
		count++;
	}
	*n = count;
	return rev;
}

/* ---- wake-ups ----------------------------------------------------------- */

static void futex_wake_one(exec_thread_pool *p)
{
	AO_int_fetch_and_add1_full(&p->epoch);
	futex(&p->epoch, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* Called after making work visible. Wakes one sleeper if nobody is
 * searching (a searcher re-checks every queue before it parks) and no wake
 * is already on its way. The loads follow the full-barrier RMW that
 * published the work, and a parking worker raises sleepers with an RMW
 * before its final check: one of the two sees the other. */
static void wake_one(exec_thread_pool *p)
{
	if (AO_load_acquire(&p->searching) != 0 || AO_load_acquire(&p->sleepers) == 0)
		return;
	if (!AO_compare_and_swap_full(&p->wake_pending, 0, 1))
		return;
	futex_wake_one(p);
}

static void wake_all(exec_thread_pool *p)
{
	AO_int_fetch_and_add1_full(&p->epoch);
	futex(&p->epoch, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

/* ---- timers ------------------------------------------------------------- */

/* Moves due timers (all of them when stopping) to the caller's queues.
 * Returns the next deadline, or -1. */
static exec_time service_timers(exec_thread_pool *p, worker *w, bool all)
{
	if (AO_load_acquire(&p->timer_count) == 0)
		return -1;
	exec_task *first = NULL, *last = NULL;
	exec_time next = -1;
	pthread_mutex_lock(&p->timer_mu);
	exec_time now = exec_clock_now();
	exec_task *t;
	while ((t = exec_timer_heap_top(&p->timers)) && (all || t->deadline <= now)) {
		exec_timer_heap_pop(&p->timers);
		AO_store(&p->timer_count, AO_load(&p->timer_count) - 1);
		STATUS(t) = 0;
		t->next = NULL;
		if (last)
			last->next = t;
		else
			first = t;
		last = t;
	}
	if (t)
		next = t->deadline;
	pthread_mutex_unlock(&p->timer_mu);
	for (t = first; t;) {
		exec_task *n = t->next;
		if (!deque_push(w, t)) {
			t->next = NULL;
			inject_push_chain(p, t, t);
		}
		t = n;
	}
	if (first)
		wake_one(p);
	return next;
}

/* ---- the worker loop ---------------------------------------------------- */

/* Most injected tasks a worker moves to its deque at once. */
#define INJECT_BATCH (DEQUE_CAP / 2u)

/* Takes up to max (>= 1) of the oldest backlog tasks (a chain, oldest
 * first, NULL-terminated; *n tasks), or NULL. */
static exec_task *backlog_take(exec_thread_pool *p, AO_t max, AO_t *n)
{
	if (AO_load_acquire(&p->backlog_len) == 0)
		return NULL;
	pthread_mutex_lock(&p->backlog_mu);
	exec_task *first = p->backlog_head, *last = first;
	AO_t k = first ? 1 : 0;
	while (last && last->next && k < max) {
		last = last->next;
		k++;
	}
	if (first) {
		p->backlog_head = last->next;
		if (!p->backlog_head)
			p->backlog_tail = NULL;
		last->next = NULL;
		AO_store_release(&p->backlog_len, AO_load(&p->backlog_len) - k);
	}
	pthread_mutex_unlock(&p->backlog_mu);
	*n = k;
	return first;
}

/* Takes a chain of at most max (>= 1) injected tasks, oldest first (*n
 * tasks): from the backlog, else the whole injection stack, parking the
 * rest in the backlog. Each task is walked at most twice on its way: the
 * stack's reversal (which also counts and finds the newest) and the cut
 * of its batch. */
static exec_task *inject_take_batch(exec_thread_pool *p, AO_t max, AO_t *n)
{
	exec_task *batch = backlog_take(p, max, n);
	if (batch)
		return batch;
	exec_task *newest;
	AO_t total;
	batch = inject_take_all(p, &total, &newest);
	if (!batch)
		return NULL;
	if (total <= max) {
		*n = total;
		return batch;
	}
	exec_task *last = batch;
	for (AO_t k = 1; k < max; k++)
		last = last->next;
	exec_task *rest = last->next;
	last->next = NULL;
	*n = max;
	pthread_mutex_lock(&p->backlog_mu);
	if (p->backlog_tail)
		p->backlog_tail->next = rest;
	else
		p->backlog_head = rest;
	p->backlog_tail = newest;
	AO_store_release(&p->backlog_len, AO_load(&p->backlog_len) + (total - max));
	pthread_mutex_unlock(&p->backlog_mu);
	return batch;
}

static exec_task *from_injection(exec_thread_pool *p, worker *w)
{
	/* At most half the deque's free room (the TICK path calls this with a
	 * busy deque): a batch that overflowed went back to the stack and was
	 * walked again and again. Thieves only make the room bigger. */
	AO_t b = AO_load(&w->bottom);
	AO_t used = b - AO_load_acquire(&w->top);
	AO_t room = used < DEQUE_CAP ? (DEQUE_CAP - used) / 2 : 0;
	AO_t n;
	exec_task *batch = inject_take_batch(p, room < 1 ? 1 : room > INJECT_BATCH ? INJECT_BATCH : room, &n);
	if (!batch)
		return NULL;
	counter_inc(&w->injected);
	exec_task *run = batch;
	exec_task *rest = batch->next;
	AO_t k = n - 1;
	if (k > 0) {
		/* k < room <= the free slots. One walk: the i-th oldest goes
		 * to slot b + k - 1 - i, so that the owner (taking at bottom)
		 * runs the oldest first and thieves take the newest; one
		 * release of bottom publishes them all. */
		for (AO_t i = 0; i < k; i++, rest = rest->next)
			AO_store(&w->ring[(b + k - 1 - i) & DEQUE_MASK], (AO_t)rest);
		AO_store_release(&w->bottom, b + k);
	}
	if (k > 0 || AO_load(&p->backlog_len))
		wake_one(p);
	return run;
}

static exec_task *steal_any(exec_thread_pool *p, worker *w)
{
	if (p->n == 1)
		return NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		bool lost = false;
		w->rng = w->rng * 1103515245u + 12345u;
		unsigned start = (w->rng >> 8) % p->n;
		for (unsigned i = 0; i < p->n; i++) {
			worker *v = &p->workers[(start + i) % p->n];
			if (v == w)
				continue;
			exec_task *t = deque_steal(v, &lost);
			if (t) {
				counter_inc(&w->steals);
				return t;
			}
		}
		if (!lost)
			break;
	}
	return NULL;
}

static exec_task *find_work(exec_thread_pool *p, worker *w)
{
	exec_task *t;
	if (++w->tick % TICK == 0) {
		service_timers(p, w, false);
		if ((t = from_injection(p, w)))
			return t;
		bool lost = false;
		if ((t = deque_steal(w, &lost)))
			return t;
	}
	if ((t = deque_take(w)))
		return t;
	if ((t = from_injection(p, w)))
		return t;
	return steal_any(p, w);
}

static void run_task(exec_thread_pool *p, worker *w, exec_task *t)
{
	int status = (int)(intptr_t)STATUS(t);
	if (AO_load_acquire(&p->stopping))
		status = EXEC_STOPPED;
	counter_inc(&w->tasks_run);
	t->fn(t, status);
}

/* Whether some queue holds a task (racy; see end_search). */
static bool work_visible(exec_thread_pool *p)
{
	if (AO_load_acquire(&p->inject) || AO_load_acquire(&p->backlog_len))
		return true;
	for (unsigned i = 0; i < p->n; i++) {
		worker *v = &p->workers[i];
		if ((long)(AO_load_acquire(&v->bottom) - AO_load_acquire(&v->top)) > 0)
			return true;
	}
	return false;
}

static void end_search(exec_thread_pool *p, worker *w)
{
	if (!w->searching)
		return;
	w->searching = false;
	/* The last searcher to find work wakes another (the ramp-up), if
	 * there is more work than the task it found: a lone task (a hop)
	 * wakes nobody else. No wake-up is lost: a submit from outside that
	 * saw this worker searching pushed with a full-barrier CAS before
	 * looking, and the decrement here is a full-barrier RMW before
	 * work_visible looks at the injection queue, so one of the two sees
	 * the other. A task pushed to a worker's own deque is that (awake)
	 * worker's to run anyway. */
	if (AO_fetch_and_sub1_full(&p->searching) == 1 && work_visible(p))
		wake_one(p);
}

/* Parks until woken or until the next timer. Returns whether the pool is
 * stopping and nothing is left for this worker. */
static bool park(exec_thread_pool *p, worker *w, exec_task **found)
{
	unsigned e = AO_int_load_acquire(&p->epoch);
	AO_fetch_and_add1_full(&p->sleepers);
	if (w->searching) {
		w->searching = false;
		AO_fetch_and_sub1_full(&p->searching);
	}
	AO_store_release(&p->wake_pending, 0);
	/* The final check, after announcing the sleep. */
	bool stopping = AO_load_acquire(&p->stopping) != 0;
	exec_time next = service_timers(p, w, stopping);
	exec_task *t = find_work(p, w);
	if (t) {
		AO_fetch_and_sub1_full(&p->sleepers);
		*found = t;
		return false;
	}
	if (stopping && next < 0) {
		AO_fetch_and_sub1_full(&p->sleepers);
		return true;
	}
	counter_inc(&w->parks);
	if (next < 0) {
		futex(&p->epoch, FUTEX_WAIT_PRIVATE, e, NULL);
	} else {
		exec_time d = next - exec_clock_now();
		if (d > 0) {
			struct timespec ts = {(time_t)(d / EXEC_NS_PER_S),
					      (long)(d % EXEC_NS_PER_S)};
			futex(&p->epoch, FUTEX_WAIT_PRIVATE, e, &ts);
		}
	}
	AO_fetch_and_sub1_full(&p->sleepers);
	AO_store_release(&p->wake_pending, 0);
	w->searching = true;
	AO_fetch_and_add1_full(&p->searching);
	return false;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	exec_thread_pool *p = w->pool;
	tl_worker = w;
	for (;;) {
		exec_task *t = find_work(p, w);
		if (!t) {
			/* Search a little before parking. Only half the
			 * workers search at once, so an idle pool quiets
			 * down fast. */
			if (!w->searching &&
			    2 * AO_load(&p->searching) < p->n) {
				w->searching = true;
				AO_fetch_and_add1_full(&p->searching);
			}
			for (int i = 0; w->searching && i < SPIN_ROUNDS && !t; i++) {
				exec_cpu_relax();
				t = find_work(p, w);
			}
		}
		if (!t && park(p, w, &t))
			break;
		if (!t)
			continue;
		end_search(p, w);
		run_task(p, w, t);
	}
	tl_worker = NULL;
	return NULL;
}

/* ---- the scheduler ------------------------------------------------------ */

static exec_thread_pool *from_sched(exec_scheduler *s)
{
	return EXEC_CONTAINER_OF(s, exec_thread_pool, sched);
}

static void enqueue(exec_thread_pool *p, exec_task *t)
{
	worker *w = tl_worker;
	if (w && w->pool == p) {
		if (deque_push(w, t)) {
			wake_one(p);
			return;
		}
		counter_inc(&w->overflows);
	}
	/* A thread outside the pool may still be in wake_one, reading the
	 * pool, after a worker ran its task and the task's owner went on to
	 * destroy the pool: destroy waits for it (exec/call_guard.h). */
	t->next = NULL;
	void *guard = exec_call_guard_enter(p);
	inject_push_chain(p, t, t);
	wake_one(p);
	exec_call_guard_leave(guard);
}

static int pool_submit(exec_scheduler *s, exec_task *t)
{
	STATUS(t) = 0;
	/* Written only when set: a cancel racing with this submit reads [3]
	 * (hop clears it before registering its stop callback). */
	if (t->sched_private[3].u)
		t->sched_private[3].u = 0;
	enqueue(from_sched(s), t);
	return 0;
}

static int pool_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline)
{
	exec_thread_pool *p = from_sched(s);
	void *guard = exec_call_guard_enter(p); /* see enqueue */
	t->deadline = deadline;
	pthread_mutex_lock(&p->timer_mu);
	exec_timer_heap_push(&p->timers, t);
	AO_store(&p->timer_count, AO_load(&p->timer_count) + 1);
	bool earliest = exec_timer_heap_top(&p->timers) == t;
	pthread_mutex_unlock(&p->timer_mu);
	/* A sleeper may be waiting for a later deadline (or none): wake one to
	 * re-arm, whether or not anybody is searching. */
	if (earliest && AO_load_acquire(&p->sleepers) != 0)
		futex_wake_one(p);
	exec_call_guard_leave(guard);
	return 0;
}

static void pool_cancel(exec_scheduler *s, exec_task *t)
{
	exec_thread_pool *p = from_sched(s);
	pthread_mutex_lock(&p->timer_mu);
	bool removed = exec_timer_heap_remove(&p->timers, t);
	if (removed)
		AO_store(&p->timer_count, AO_load(&p->timer_count) - 1);
	pthread_mutex_unlock(&p->timer_mu);
	if (!removed)
		return;
	STATUS(t) = (uintptr_t)(intptr_t)EXEC_STOPPED;
	enqueue(p, t);
}

static unsigned pool_concurrency(exec_scheduler *s)
{
	return from_sched(s)->n;
}

static const exec_scheduler_ops pool_ops = {
	.name = "thread_pool",
	.flags = EXEC_SCHED_TIMED | EXEC_SCHED_PARALLEL | EXEC_SCHED_CANCEL_TIMERS_ONLY,
	.submit = pool_submit,
	.submit_at = pool_submit_at,
	.cancel = pool_cancel,
	.now = NULL,
	.concurrency = pool_concurrency,
};

/* ---- lifetime ----------------------------------------------------------- */

static void join_started(exec_thread_pool *p)
{
	AO_store_release(&p->stopping, 1);
	wake_all(p);
	for (unsigned i = 0; i < p->n; i++)
		if (p->workers[i].started)
			pthread_join(p->workers[i].thread, NULL);
}

int exec_thread_pool_create(exec_thread_pool **out, unsigned nthreads)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (nthreads == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = c > 0 ? (unsigned)c : 1u;
	}
	if (nthreads > 1024)
		return -EINVAL;
	exec_thread_pool *p = aligned_alloc(CACHELINE, sizeof *p);
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof *p);
	p->sched.ops = &pool_ops;
	p->n = nthreads;
	size_t wsize = sizeof(worker) * nthreads;
	p->workers = aligned_alloc(CACHELINE, (wsize + CACHELINE - 1) & ~(size_t)(CACHELINE - 1));
	if (!p->workers) {
		free(p);
		return -ENOMEM;
	}
	memset(p->workers, 0, wsize);
	exec_timer_heap_init(&p->timers);
	int rc = pthread_mutex_init(&p->timer_mu, NULL);
	if (rc == 0 && (rc = pthread_mutex_init(&p->backlog_mu, NULL)) != 0)
		pthread_mutex_destroy(&p->timer_mu);
	if (rc) {
		free(p->workers);
		free(p);
		return -rc;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		worker *w = &p->workers[i];
		w->pool = p;
		w->index = i;
		w->rng = 0x9e3779b9u * (i + 1);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		worker *w = &p->workers[i];
		rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc) {
			join_started(p);
			pthread_mutex_destroy(&p->timer_mu);
			pthread_mutex_destroy(&p->backlog_mu);
			free(p->workers);
			free(p);
			return -rc;
		}
		w->started = true;
	}
	*out = p;
	return 0;
}

void exec_thread_pool_destroy(exec_thread_pool *pool)
{
	if (!pool)
		return;
	join_started(pool);
	/* A thread whose task already ran may still be on its way out of a
	 * submit (see enqueue): a short wait. */
	exec_call_guard_wait(pool);
	/* Every worker has seen stopping with nothing left for it; tasks that
	 * the last tasks pushed to another worker's deque after that worker
	 * left are still there: run them here, stopped. */
	for (;;) {
		AO_t n;
		exec_task *t = inject_take_batch(pool, INJECT_BATCH, &n);
		bool any = t != NULL;
		while (t) {
			exec_task *n = t->next;
			t->fn(t, EXEC_STOPPED);
			t = n;
		}
		for (unsigned i = 0; i < pool->n; i++) {
			bool lost = false;
			while ((t = deque_steal(&pool->workers[i], &lost))) {
				any = true;
				t->fn(t, EXEC_STOPPED);
			}
		}
		pthread_mutex_lock(&pool->timer_mu);
		t = exec_timer_heap_pop(&pool->timers);
		pthread_mutex_unlock(&pool->timer_mu);
		if (t) {
			any = true;
			t->fn(t, EXEC_STOPPED);
		}
		if (!any)
			break;
	}
	pthread_mutex_destroy(&pool->timer_mu);
	pthread_mutex_destroy(&pool->backlog_mu);
	free(pool->workers);
	free(pool);
}

exec_scheduler *exec_thread_pool_scheduler(exec_thread_pool *pool)
{
	return &pool->sched;
}

exec_thread_pool *exec_thread_pool_current(void)
{
	return tl_worker ? tl_worker->pool : NULL;
}

int exec_thread_pool_worker_index(void)
{
	return tl_worker ? (int)tl_worker->index : -1;
}

unsigned exec_thread_pool_size(const exec_thread_pool *pool)
{
	return pool->n;
}

int exec_thread_pool_stats_get(const exec_thread_pool *pool, int worker_index,
			       exec_thread_pool_stats *out)
{
	if (!pool || !out || worker_index < -1 || worker_index >= (int)pool->n)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	unsigned lo = worker_index < 0 ? 0 : (unsigned)worker_index;
	unsigned hi = worker_index < 0 ? pool->n : lo + 1;
	for (unsigned i = lo; i < hi; i++) {
		worker *w = &pool->workers[i];
		out->tasks_run += AO_load(&w->tasks_run);
		out->steals += AO_load(&w->steals);
		out->injected += AO_load(&w->injected);
		out->parks += AO_load(&w->parks);
		out->overflows += AO_load(&w->overflows);
	}
	return 0;
}
