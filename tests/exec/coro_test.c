/* tests for exec/coro.c: stackless tasks and generators */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <sched.h>

#include "exec/coro.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* ---- a task awaiting one sender and recording what it saw -------------- */

typedef struct one_frame {
	exec_coro co;
	exec_sender *s;
	int status;
	size_t n;
	exec_value v;
	pthread_t before, after;
	int stop_seen;
	int on_loop;
	exec_io_loop *loop;
	EXEC_CORO_STORAGE(op, 256);
} one_frame;

static int one_fn(exec_coro *co)
{
	one_frame *f = (one_frame *)co;
	EXEC_CORO_BEGIN(co);
	f->before = pthread_self();
	EXEC_CORO_AWAIT(co, f->s, f->op);
	f->s = NULL;
	f->after = pthread_self();
	f->status = exec_coro_status(co);
	f->n = exec_coro_value_count(co);
	f->v = *exec_coro_value(co);
	f->stop_seen = exec_stop_token_requested(exec_coro_stop_token(co));
	if (f->loop)
		f->on_loop = exec_io_loop_on_thread(f->loop);
	if (f->status == 0 && f->n)
		EXEC_CORO_RETURN(co, f->v);
	if (f->status == EXEC_STOPPED)
		EXEC_CORO_RETURN_STOPPED(co);
	if (f->status < 0)
		EXEC_CORO_RETURN_ERROR(co, f->status);
	EXEC_CORO_END(co);
}

/* Runs a one_frame task awaiting s (consumed) to the test receiver t. */
static one_frame *one_start(exec_sender *s, exec_test_receiver *t)
{
	one_frame *f = aligned_alloc(16, sizeof *f);
	assert_non_null(f);
	exec_coro_connect(&f->co, one_fn, &t->base);
	f->s = s;
	f->loop = NULL;
	exec_start(&f->co.op);
	return f;
}

static void await_value(void **state)
{
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	one_frame *f = one_start(exec_just_i64(42), &t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 42);
	assert_int_equal(f->status, 0);
	assert_int_equal(f->n, 1);
	assert_int_equal(exec_value_as_i64(&f->v), 42);
	assert_true(pthread_equal(f->before, f->after));
	free(f);
	exec_test_receiver_destroy(&t);

	/* Several values: the first is kept, the count is reported. */
	exec_value vs[3] = {exec_value_i64(7), exec_value_i64(8), exec_value_i64(9)};
	exec_test_receiver_init(&t);
	f = one_start(exec_just(vs, 3), &t);
	assert_int_equal(f->n, 3);
	exec_test_assert_i64(&t, 0, 7);
	free(f);
	exec_test_receiver_destroy(&t);

	/* No value: the task ends with no value either. */
	exec_test_receiver_init(&t);
	f = one_start(exec_just_void(), &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 0);
	assert_int_equal(f->v.type, EXEC_VALUE_NONE);
	free(f);
	exec_test_receiver_destroy(&t);
}

static void await_error(void **state)
{
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	one_frame *f = one_start(exec_just_error(-EIO), &t);
	exec_test_assert_error(&t, -EIO);
	assert_int_equal(f->status, -EIO);
	assert_int_equal(f->n, 0);
	free(f);
	exec_test_receiver_destroy(&t);

	/* A sender that failed to build reports its build error. */
	exec_test_receiver_init(&t);
	f = one_start(exec_sender_invalid(-ENOMEM), &t);
	exec_test_assert_error(&t, -ENOMEM);
	free(f);
	exec_test_receiver_destroy(&t);
}

static void await_stopped(void **state)
{
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	one_frame *f = one_start(exec_just_stopped(), &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(f->status, EXEC_STOPPED);
	free(f);
	exec_test_receiver_destroy(&t);
}

/* ---- TRY_AWAIT propagates; code after it does not run ------------------ */

typedef struct try_frame {
	exec_coro co;
	exec_sender *first, *second;
	int reached;
	EXEC_CORO_STORAGE(op, 128);
} try_frame;

static int try_fn(exec_coro *co)
{
	try_frame *f = (try_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, f->first, f->op);
	f->reached = 1;
	EXEC_CORO_TRY_AWAIT(co, f->second, f->op);
	f->reached = 2;
	EXEC_CORO_RETURN(co, exec_value_i64(2));
	EXEC_CORO_END(co);
}

static void try_await_propagates(void **state)
{
	exec_sender *seconds[] = {exec_just_error(-EPIPE), exec_just_stopped(), exec_just_i64(5)};
	for (int i = 0; i < 3; i++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		try_frame f;
		exec_coro_connect(&f.co, try_fn, &t.base);
		f.first = exec_just_void();
		f.second = seconds[i];
		f.reached = 0;
		exec_start(&f.co.op);
		if (i == 0) {
			exec_test_assert_error(&t, -EPIPE);
			assert_int_equal(f.reached, 1);
		} else if (i == 1) {
			exec_test_assert_stopped(&t);
			assert_int_equal(f.reached, 1);
		} else {
			exec_test_assert_value(&t);
			exec_test_assert_i64(&t, 0, 2);
			assert_int_equal(f.reached, 2);
		}
		exec_test_receiver_destroy(&t);
	}
}

/* ---- op state too large for the storage: the env allocator ------------- */

typedef struct count_alloc {
	AO_t allocs, frees;
	size_t bytes;
} count_alloc;

static void *ca_alloc(void *ctx, size_t size, size_t align)
{
	count_alloc *c = ctx;
	AO_fetch_and_add1(&c->allocs);
	c->bytes = size;
	void *p = NULL;
	return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) ? NULL
															 : p;
}

static void ca_free(void *ctx, void *p, size_t size)
{
	count_alloc *c = ctx;
	assert_int_equal(size, c->bytes);
	AO_fetch_and_add1(&c->frees);
	free(p);
}

typedef struct small_frame {
	exec_coro co;
	exec_sender *s;
	int allocated;
	EXEC_CORO_STORAGE(op, 24);
} small_frame;

static int small_fn(exec_coro *co)
{
	small_frame *f = (small_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, f->s, f->op);
	f->allocated = exec_coro_await_allocated(co);
	EXEC_CORO_RETURN(co, *exec_coro_value(co));
	EXEC_CORO_END(co);
}

static void large_op_uses_env_allocator(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 1), 0);
	count_alloc c = {0, 0, 0};
	exec_allocator a = {ca_alloc, ca_free, &c};
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.allocator = &a;
	small_frame f;
	exec_coro_connect(&f.co, small_fn, &t.base);
	/* then over schedule: an op state far larger than 24 bytes. */
	f.s = exec_when_all2(exec_schedule(exec_thread_pool_scheduler(pool)), exec_just_i64(3));
	f.allocated = 0;
	exec_start(&f.co.op);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 3);
	assert_int_equal(f.allocated, 1);
	assert_int_equal(AO_load(&c.allocs), 1);
	assert_int_equal(AO_load(&c.frees), 1);
	exec_test_receiver_destroy(&t);
	exec_thread_pool_destroy(pool);
}

/* ---- a million inline awaits run in constant stack ---------------------- */

typedef struct loop_frame {
	exec_coro co;
	exec_sender *s;
	long i, n;
	int64_t sum;
	EXEC_CORO_STORAGE(op, 64);
} loop_frame;

static int loop_fn(exec_coro *co)
{
	loop_frame *f = (loop_frame *)co;
	EXEC_CORO_BEGIN(co);
	for (f->i = 0; f->i < f->n; f->i++) {
		EXEC_CORO_TRY_AWAIT(co, exec_sender_ref(f->s), f->op);
		f->sum += exec_value_as_i64(exec_coro_value(co));
	}
	EXEC_CORO_RETURN(co, exec_value_i64(f->sum));
	EXEC_CORO_END(co);
}

static void many_inline_awaits(void **state)
{
	long n = SANITIZED ? 100000 : 1000000;
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	loop_frame f;
	exec_coro_connect(&f.co, loop_fn, &t.base);
	f.s = exec_just_i64(2);
	f.n = n;
	f.sum = 0;
	exec_start(&f.co.op);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 2 * n);
	exec_sender_free(f.s);
	exec_test_receiver_destroy(&t);
}

/* ---- the task is a sender ----------------------------------------------- */

static void init_one(exec_coro *co, void *arg)
{
	one_frame *f = (one_frame *)co;
	f->s = exec_sender_ref(arg);
	f->loop = NULL;
}

static void task_is_a_sender(void **state)
{
	exec_sender *a = exec_just_i64(1), *b = exec_just_i64(2);
	exec_sender *ta = EXEC_CORO_SENDER(one_fn, one_frame, init_one, a);
	exec_sender *tb = EXEC_CORO_SENDER(one_fn, one_frame, init_one, b);
	assert_int_equal(exec_sender_op_size(ta), sizeof(one_frame));
	exec_sender *both = exec_when_all2(ta, tb);
	exec_result r;
	for (int round = 0; round < 2; round++) { /* reusable */
		assert_int_equal(exec_sync_wait(both, &r), 0);
		assert_int_equal(r.kind, EXEC_RESULT_VALUE);
		assert_int_equal(r.count, 2);
		assert_int_equal(exec_value_as_i64(&r.values[0]), 1);
		assert_int_equal(exec_value_as_i64(&r.values[1]), 2);
	}
	exec_sender_free(both);

	/* An error in one task of when_all reaches the result. */
	exec_sender *e = exec_just_error(-EIO);
	both = exec_when_all2(EXEC_CORO_SENDER(one_fn, one_frame, init_one, a),
			      EXEC_CORO_SENDER(one_fn, one_frame, init_one, e));
	assert_int_equal(exec_sync_wait(both, &r), -EIO);
	exec_sender_free(both);
	exec_sender_free(a);
	exec_sender_free(b);
	exec_sender_free(e);

	assert_int_equal(exec_sender_build_error(exec_coro_sender(NULL, 64, 0, NULL, NULL)),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_coro_sender(one_fn, 8, 0, NULL, NULL)),
			 -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_coro_sender(one_fn, 64, 3, NULL, NULL)),
			 -EINVAL);
}

/* ---- a task awaiting a task --------------------------------------------- */

typedef struct outer_frame {
	exec_coro co;
	exec_sender *inner;
	int allocated;
	EXEC_CORO_STORAGE(op, 512);
} outer_frame;

static int outer_fn(exec_coro *co)
{
	outer_frame *f = (outer_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, exec_sender_ref(f->inner), f->op);
	f->allocated = exec_coro_await_allocated(co);
	EXEC_CORO_RETURN(co, exec_value_i64(exec_value_as_i64(exec_coro_value(co)) + 1));
	EXEC_CORO_END(co);
}

static void task_awaits_task(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	/* The inner task hops to the pool and returns 41 from a just. */
	exec_sender *v41 = exec_continues_on(exec_just_i64(41), exec_thread_pool_scheduler(pool));
	exec_sender *inner = EXEC_CORO_SENDER(one_fn, one_frame, init_one, v41);
	assert_true(exec_sender_op_size(inner) <= 512);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	outer_frame f;
	exec_coro_connect(&f.co, outer_fn, &t.base);
	f.inner = inner;
	f.allocated = -1;
	exec_start(&f.co.op);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 0, 42);
	assert_int_equal(f.allocated, 0);
	assert_false(pthread_equal(t.thread, pthread_self())); /* ended on the pool */
	exec_test_receiver_destroy(&t);
	exec_sender_free(inner);
	exec_sender_free(v41);
	exec_thread_pool_destroy(pool);
}

/* ---- resume on another scheduler ----------------------------------------- */

static void resume_on_inline_and_run_loop(void **state)
{
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	one_frame *f = one_start(exec_schedule(exec_inline_scheduler()), &t);
	exec_test_assert_value(&t);
	assert_true(pthread_equal(f->after, pthread_self()));
	free(f);
	exec_test_receiver_destroy(&t);

	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_test_receiver_init(&t);
	f = one_start(exec_schedule(exec_run_loop_scheduler(&loop)), &t);
	/* Parked until the loop runs the hop. */
	assert_int_equal(exec_test_completions(&t), 0);
	assert_int_equal(exec_run_loop_run_until_empty(&loop), 1);
	exec_test_assert_value(&t);
	assert_int_equal(f->status, 0);
	free(f);
	exec_test_receiver_destroy(&t);
	exec_run_loop_destroy(&loop);
}

static void resume_on_pool(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	one_frame *f = one_start(exec_schedule(exec_thread_pool_scheduler(pool)), &t);
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	assert_false(pthread_equal(f->after, pthread_self()));
	assert_true(pthread_equal(f->after, t.thread));
	free(f);
	exec_test_receiver_destroy(&t);
	exec_thread_pool_destroy(pool);
}

static void resume_on_io_loop(void **state)
{
	exec_io_loop *loop;
	int rc = exec_io_loop_create(&loop, NULL);
	if (rc < 0)
		skip();
	exec_sender *s = exec_schedule_after(exec_io_loop_scheduler(loop), EXEC_NS_PER_MS);
	/* Run as a sender on the loop: the await's hop resumes on its thread. */
	exec_sender *task = EXEC_CORO_SENDER(one_fn, one_frame, init_one, s);
	exec_result r;
	assert_int_equal(exec_io_loop_sync_wait(loop, task, &r), 0);
	assert_int_equal(r.kind, EXEC_RESULT_VALUE);
	assert_int_equal(r.count, 0);
	exec_sender_free(task);
	exec_sender_free(s);

	/* And awaited from outside the loop: resumes on the loop's thread. */
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	one_frame *f = aligned_alloc(16, sizeof *f);
	exec_coro_connect(&f->co, one_fn, &t.base);
	f->s = exec_schedule(exec_io_loop_scheduler(loop));
	f->loop = loop;
	f->on_loop = 0;
	exec_start(&f->co.op);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	exec_test_assert_value(&t);
	assert_int_equal(f->on_loop, 1);
	free(f);
	exec_test_receiver_destroy(&t);
	exec_io_loop_destroy(loop);
}

/* A task that hops pool -> run_loop -> pool and checks where it is. */
typedef struct hop_frame {
	exec_coro co;
	exec_thread_pool *pool;
	exec_run_loop *loop;
	int on_pool1, on_loop, on_pool2;
	EXEC_CORO_STORAGE(op, 192);
} hop_frame;

static int hop_fn(exec_coro *co)
{
	hop_frame *f = (hop_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, exec_schedule(exec_thread_pool_scheduler(f->pool)), f->op);
	f->on_pool1 = exec_thread_pool_current() == f->pool;
	EXEC_CORO_TRY_AWAIT(co, exec_schedule(exec_run_loop_scheduler(f->loop)), f->op);
	f->on_loop = exec_thread_pool_current() == NULL;
	EXEC_CORO_TRY_AWAIT(co, exec_schedule(exec_thread_pool_scheduler(f->pool)), f->op);
	f->on_pool2 = exec_thread_pool_current() == f->pool;
	EXEC_CORO_END(co);
}

static void hop_between_schedulers(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	/* Every op state fits the frame's storage: nothing is allocated. */
	count_alloc c = {0, 0, 0};
	exec_allocator a = {ca_alloc, ca_free, &c};
	t.env.allocator = &a;
	hop_frame f;
	exec_coro_connect(&f.co, hop_fn, &t.base);
	f.pool = pool;
	f.loop = &loop;
	f.on_pool1 = f.on_loop = f.on_pool2 = 0;
	exec_start(&f.co.op);
	/* The run_loop step: wait for the task to be queued here, run it. */
	while (exec_run_loop_run_until_empty(&loop) == 0)
		sched_yield();
	exec_test_receiver_wait(&t);
	exec_test_assert_value(&t);
	assert_int_equal(f.on_pool1, 1);
	assert_int_equal(f.on_loop, 1);
	assert_int_equal(f.on_pool2, 1);
	assert_int_equal(AO_load(&c.allocs), 0);
	exec_test_receiver_destroy(&t);
	exec_run_loop_destroy(&loop);
	exec_thread_pool_destroy(pool);
}

/* ---- cancellation -------------------------------------------------------- */

static void stop_while_blocked_in_await(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	one_frame *f = aligned_alloc(16, sizeof *f);
	exec_coro_connect(&f->co, one_fn, &t.base);
	f->s = exec_schedule_after(exec_run_loop_scheduler(&loop), 3600 * EXEC_NS_PER_S);
	f->loop = NULL;
	f->stop_seen = 0;
	exec_start(&f->co.op);
	exec_run_loop_run_until_empty(&loop);
	assert_int_equal(exec_test_completions(&t), 0);
	exec_stop_source_request(&src);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_stopped(&t);
	assert_int_equal(f->status, EXEC_STOPPED);
	assert_int_equal(f->stop_seen, 1); /* the token is visible inside */
	free(f);
	exec_test_receiver_destroy(&t);

	/* Stop before start: the first await sees it. */
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	f = aligned_alloc(16, sizeof *f);
	exec_coro_connect(&f->co, one_fn, &t.base);
	f->s = exec_schedule_after(exec_run_loop_scheduler(&loop), 3600 * EXEC_NS_PER_S);
	f->loop = NULL;
	exec_start(&f->co.op);
	exec_run_loop_run_until_empty(&loop);
	exec_test_assert_stopped(&t);
	free(f);
	exec_test_receiver_destroy(&t);
	exec_run_loop_destroy(&loop);
}

/* Stop from this thread while tasks wait on pool timers: each ends stopped
 * on whichever thread ran the cancelled timer, exactly once. */
static void stop_pool_timers_from_another_thread(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	enum { N = 64 };
	exec_stop_source src;
	exec_stop_source_init(&src);
	one_frame *f = aligned_alloc(16, N * sizeof *f);
	exec_test_receiver *t = malloc(N * sizeof *t);
	for (int i = 0; i < N; i++) {
		exec_test_receiver_init(&t[i]);
		t[i].env.stop_token = exec_stop_source_token(&src);
		exec_coro_connect(&f[i].co, one_fn, &t[i].base);
		f[i].s = exec_schedule_after(exec_thread_pool_scheduler(pool), 3600 * EXEC_NS_PER_S);
		f[i].loop = NULL;
	}
	for (int i = 0; i < N; i++)
		exec_start(&f[i].co.op);
	exec_stop_source_request(&src);
	for (int i = 0; i < N; i++) {
		exec_test_receiver_wait(&t[i]);
		exec_test_assert_stopped(&t[i]);
		assert_int_equal(f[i].stop_seen, 1);
		exec_test_receiver_destroy(&t[i]);
	}
	free(t);
	free(f);
	exec_thread_pool_destroy(pool);
}

/* ---- a million suspended tasks ------------------------------------------ */

/* A latch: each started op parks on a list until the test releases all. */
typedef struct latch {
	exec_sender base;
	struct latch_op *head;
} latch;

typedef struct latch_op {
	exec_op op;
	exec_receiver *r;
	struct latch_op *next;
	latch *l;
} latch_op;

static void latch_start(exec_op *op)
{
	latch_op *o = (latch_op *)op;
	o->next = o->l->head;
	o->l->head = o;
}

static int latch_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	latch_op *o = (latch_op *)op;
	o->op.start = latch_start;
	o->r = r;
	o->l = (latch *)s;
	return 0;
}

static void latch_destroy(exec_sender *s)
{
	(void)s;
}

static const exec_sender_ops latch_ops = {"latch", latch_connect, latch_destroy};

typedef struct tiny_frame {
	exec_coro co;
	EXEC_CORO_STORAGE(op, 32);
} tiny_frame;

static latch the_latch;

static int tiny_fn(exec_coro *co)
{
	tiny_frame *f = (tiny_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_TRY_AWAIT(co, &the_latch.base, f->op);
	EXEC_CORO_RETURN(co, *exec_coro_value(co));
	EXEC_CORO_END(co);
}

typedef struct sum_rcv {
	exec_receiver base;
	AO_t done;
	AO_t sum;
	AO_t other;
} sum_rcv;

static void sum_value(exec_receiver *r, const exec_value *v, size_t n)
{
	sum_rcv *s = (sum_rcv *)r;
	if (n == 1)
		AO_fetch_and_add(&s->sum, (AO_t)v[0].as.i64);
	AO_fetch_and_add1_release(&s->done);
}
static void sum_error(exec_receiver *r, int err)
{
	AO_fetch_and_add1(&((sum_rcv *)r)->other);
	AO_fetch_and_add1_release(&((sum_rcv *)r)->done);
}
static void sum_stopped(exec_receiver *r)
{
	sum_error(r, 0);
}
static const exec_receiver_ops sum_ops = {sum_value, sum_error, sum_stopped, NULL};

static void million_suspended_tasks(void **state)
{
	/* The documented sizes: 64-byte header, so a task parked on a
	 * 32-byte op state costs 96 bytes. */
	assert_int_equal(sizeof(exec_coro), 64);
	assert_int_equal(sizeof(tiny_frame), 96);
	assert_true(sizeof(latch_op) <= 32);
	size_t n = SANITIZED ? 100000 : 1000000;
	the_latch.base.ops = &latch_ops;
	the_latch.base.op_size = sizeof(latch_op);
	the_latch.base.op_align = 8;
	the_latch.head = NULL;
	tiny_frame *frames = aligned_alloc(16, n * sizeof *frames);
	assert_non_null(frames);
	sum_rcv rc = {{&sum_ops}, 0, 0, 0};
	for (size_t i = 0; i < n; i++) {
		exec_coro_connect(&frames[i].co, tiny_fn, &rc.base);
		exec_start(&frames[i].co.op);
	}
	assert_int_equal(AO_load(&rc.done), 0);
	size_t parked = 0;
	latch_op *o = the_latch.head;
	the_latch.head = NULL;
	while (o) {
		latch_op *next = o->next; /* the op is gone after set_value */
		exec_value one = exec_value_i64(1);
		exec_set_value(o->r, &one, 1);
		parked++;
		o = next;
	}
	assert_int_equal(parked, n);
	assert_int_equal(AO_load(&rc.done), n);
	assert_int_equal(AO_load(&rc.sum), n);
	assert_int_equal(AO_load(&rc.other), 0);
	free(frames);
}

/* ---- completion racing the return from the function (TSan) -------------- */

typedef struct race_frame {
	exec_coro co;
	exec_scheduler *sched;
	int i, n;
	EXEC_CORO_STORAGE(op, 192);
} race_frame;

static int race_fn(exec_coro *co)
{
	race_frame *f = (race_frame *)co;
	EXEC_CORO_BEGIN(co);
	for (f->i = 0; f->i < f->n; f->i++)
		EXEC_CORO_TRY_AWAIT(co, exec_schedule(f->sched), f->op);
	EXEC_CORO_RETURN(co, exec_value_i64(f->n));
	EXEC_CORO_END(co);
}

static void completion_races_suspension(void **state)
{
	exec_thread_pool *pool;
	assert_int_equal(exec_thread_pool_create(&pool, 2), 0);
	int tasks = SANITIZED ? 64 : 256, rounds = SANITIZED ? 50 : 200;
	race_frame *frames = aligned_alloc(16, (size_t)tasks * sizeof *frames);
	sum_rcv rc = {{&sum_ops}, 0, 0, 0};
	for (int i = 0; i < tasks; i++) {
		exec_coro_connect(&frames[i].co, race_fn, &rc.base);
		frames[i].sched = exec_thread_pool_scheduler(pool);
		frames[i].n = rounds;
		exec_start(&frames[i].co.op);
	}
	while (AO_load_acquire(&rc.done) < (AO_t)tasks)
		sched_yield();
	assert_int_equal(AO_load(&rc.sum), (AO_t)tasks * rounds);
	assert_int_equal(AO_load(&rc.other), 0);
	free(frames);
	exec_thread_pool_destroy(pool);
}

/* ---- generators ---------------------------------------------------------- */

typedef struct range_frame {
	exec_coro co;
	int64_t i, to;
	char *scratch; /* user memory, the user's to free */
	EXEC_CORO_STORAGE(op, 32);
} range_frame;

static int range_fn(exec_coro *co)
{
	range_frame *f = (range_frame *)co;
	EXEC_CORO_BEGIN(co);
	for (; f->i < f->to; f->i++)
		EXEC_CORO_YIELD(co, exec_value_i64(f->i));
	EXEC_CORO_END(co);
}

static void generator_range(void **state)
{
	range_frame g;
	exec_coro_init(&g.co, range_fn);
	g.i = 3;
	g.to = 8;
	exec_value v;
	int64_t expect = 3;
	while (exec_coro_next(&g.co, &v)) {
		assert_int_equal(exec_value_as_i64(&v), expect);
		expect++;
	}
	assert_int_equal(expect, 8);
	assert_int_equal(exec_coro_next(&g.co, &v), 0); /* stays finished */

	/* Empty range. */
	exec_coro_init(&g.co, range_fn);
	g.i = g.to = 5;
	assert_int_equal(exec_coro_next(&g.co, &v), 0);
}

/* Counts its entries: an ended generator must not be entered again. */
typedef struct counted_frame {
	exec_coro co;
	int entries, i;
} counted_frame;

static int counted_fn(exec_coro *co)
{
	counted_frame *f = (counted_frame *)co;
	f->entries++;
	EXEC_CORO_BEGIN(co);
	for (f->i = 0; f->i < 3; f->i++)
		EXEC_CORO_YIELD(co, exec_value_i64(f->i));
	EXEC_CORO_END(co);
}

static void generator_next_without_value_and_after_end(void **state)
{
	counted_frame g;
	exec_coro_init(&g.co, counted_fn);
	g.entries = 0;
	assert_int_equal(exec_coro_next(&g.co, NULL), 1); /* 0, dropped */
	assert_int_equal(exec_coro_next(&g.co, NULL), 1); /* 1, dropped */
	exec_value v = exec_value_i64(-1);
	assert_int_equal(exec_coro_next(&g.co, &v), 1);
	assert_int_equal(exec_value_as_i64(&v), 2);
	v = exec_value_i64(-1);
	assert_int_equal(exec_coro_next(&g.co, &v), 0);
	assert_int_equal(exec_value_as_i64(&v), -1); /* untouched at the end */
	assert_int_equal(g.entries, 4);
	assert_int_equal(exec_coro_next(&g.co, &v), 0);
	assert_int_equal(exec_coro_next(&g.co, NULL), 0);
	assert_int_equal(g.entries, 4); /* not entered again */
	assert_int_equal(exec_value_as_i64(&v), -1);

	/* exec_coro_init makes the frame usable again. */
	exec_coro_init(&g.co, counted_fn);
	g.entries = 0;
	assert_int_equal(exec_coro_next(&g.co, &v), 1);
	assert_int_equal(exec_value_as_i64(&v), 0);
}

static void generator_abandoned_halfway(void **state)
{
	range_frame *g = malloc(sizeof *g);
	assert_non_null(g);
	exec_coro_init(&g->co, range_fn);
	g->i = 0;
	g->to = 1000000;
	exec_value v;
	for (int k = 0; k < 10; k++)
		assert_int_equal(exec_coro_next(&g->co, &v), 1);
	assert_int_equal(exec_value_as_i64(&v), 9);
	/* Dropping the frame is all it takes (ASan reports any leak). */
	free(g);
}

typedef struct bad_gen_frame {
	exec_coro co;
	int status;
	EXEC_CORO_STORAGE(op, 64);
} bad_gen_frame;

static int bad_gen_fn(exec_coro *co)
{
	bad_gen_frame *f = (bad_gen_frame *)co;
	EXEC_CORO_BEGIN(co);
	EXEC_CORO_AWAIT(co, exec_just_i64(1), f->op);
	f->status = exec_coro_status(co);
	EXEC_CORO_YIELD(co, exec_value_i64(f->status));
	EXEC_CORO_END(co);
}

static void generator_cannot_await_task_cannot_yield(void **state)
{
	bad_gen_frame g;
	exec_coro_init(&g.co, bad_gen_fn);
	exec_value v;
	assert_int_equal(exec_coro_next(&g.co, &v), 1);
	assert_int_equal(exec_value_as_i64(&v), -EPERM);
	assert_int_equal(exec_coro_next(&g.co, &v), 0);

	/* The same function as a task: the yield ends it with -EINVAL. */
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_coro_connect(&g.co, bad_gen_fn, &t.base);
	exec_start(&g.co.op);
	exec_test_assert_error(&t, -EINVAL);
	assert_int_equal(g.status, 0);
	exec_test_receiver_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(await_value),
		cmocka_unit_test(await_error),
		cmocka_unit_test(await_stopped),
		cmocka_unit_test(try_await_propagates),
		cmocka_unit_test(large_op_uses_env_allocator),
		cmocka_unit_test(many_inline_awaits),
		cmocka_unit_test(task_is_a_sender),
		cmocka_unit_test(task_awaits_task),
		cmocka_unit_test(resume_on_inline_and_run_loop),
		cmocka_unit_test(resume_on_pool),
		cmocka_unit_test(resume_on_io_loop),
		cmocka_unit_test(hop_between_schedulers),
		cmocka_unit_test(stop_while_blocked_in_await),
		cmocka_unit_test(stop_pool_timers_from_another_thread),
		cmocka_unit_test(million_suspended_tasks),
		cmocka_unit_test(completion_races_suspension),
		cmocka_unit_test(generator_range),
		cmocka_unit_test(generator_next_without_value_and_after_end),
		cmocka_unit_test(generator_abandoned_halfway),
		cmocka_unit_test(generator_cannot_await_task_cannot_yield),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
