/* exec/fiber.c - fiber tasks (senders running a function on its own
 * stack), exec_await, and fiber generators, on exec/context + exec/stack. */
#include "exec/fiber.h"

#include <atomic_ops.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/schedule.h"
#include "exec/context.h"
#include "exec/error.h"

/* ---- sanitizer annotations around every switch ---- */

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define FIBER_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define FIBER_TSAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef FIBER_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* The switching core shared by tasks and generators. */
typedef struct coro_ctx {
	exec_context self; /* the fiber, while suspended */
	exec_context back; /* whoever resumed it, while it runs */
	exec_stack stack;
#ifdef FIBER_ASAN
	void *asan_fake;         /* the fiber's fake stack while it is away */
	const void *back_bottom; /* the resumer's stack, for the way back */
	size_t back_size;
#endif
#ifdef FIBER_TSAN
	void *tsan_self, *tsan_back;
#endif
} coro_ctx;

/* From the resumer's side: runs the fiber until it switches back. */
static inline void ctx_resume(coro_ctx *c)
{
#ifdef FIBER_ASAN
	void *fake = NULL;
	__sanitizer_start_switch_fiber(&fake, c->stack.base, c->stack.size);
#endif
#ifdef FIBER_TSAN
	c->tsan_back = __tsan_get_current_fiber();
	__tsan_switch_to_fiber(c->tsan_self, 0);
#endif
	exec_context_jump(&c->back, c->self, c);
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* From inside the fiber: the first thing it does on every (re)entry. */
static inline void ctx_entered(coro_ctx *c, void *fake)
{
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(fake, &c->back_bottom, &c->back_size);
#else
	(void)c;
	(void)fake;
#endif
}

/* From inside the fiber: back to the resumer; returns when resumed. */
static inline void ctx_suspend(coro_ctx *c)
{
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(&c->asan_fake, c->back_bottom, c->back_size);
#endif
#ifdef FIBER_TSAN
	__tsan_switch_to_fiber(c->tsan_back, 0);
#endif
	exec_context_jump(&c->self, c->back, NULL);
#ifdef FIBER_ASAN
	ctx_entered(c, c->asan_fake);
#endif
}

/* From inside the fiber, for the last time: its stack is then garbage. */
static inline void ctx_exit(coro_ctx *c)
{
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(NULL, c->back_bottom, c->back_size);
#endif
#ifdef FIBER_TSAN
	__tsan_switch_to_fiber(c->tsan_back, 0);
#endif
	exec_context_jump(&c->self, c->back, NULL);
	abort(); /* nobody resumes a finished fiber */
}

#ifdef FIBER_TSAN
/* Creating a TSan fiber costs milliseconds (it is a TSan thread): reuse
 * the handles of finished fibers, a few per thread. */
enum { TSAN_CACHE = 64 };
static _Thread_local void *tsan_cache[TSAN_CACHE];
static _Thread_local unsigned tsan_cached;

static void *tsan_fiber_get(void)
{
	return tsan_cached ? tsan_cache[--tsan_cached] : __tsan_create_fiber(0);
}

static void tsan_fiber_put(void *f)
{
	if (tsan_cached < TSAN_CACHE)
		tsan_cache[tsan_cached++] = f;
	else
		__tsan_destroy_fiber(f);
}
#endif

/* Allocates the stack and places an object of obj_size at its top, below
 * which the context starts. Returns the object or NULL (*err set). */
static void *ctx_create(const exec_fiber_options *o, size_t obj_size,
			size_t ctx_offset, exec_context_fn entry, int *err)
{
	exec_stack st;
	int rc = exec_stack_alloc(&st, o->stack_size, o->stack_flags);
	if (rc) {
		*err = rc;
		return NULL;
	}
	uintptr_t top = (uintptr_t)st.base + st.size;
	uintptr_t obj = (top - obj_size) & ~(uintptr_t)63;
	coro_ctx *c = (coro_ctx *)(obj + ctx_offset);
	memset((void *)obj, 0, obj_size);
	c->stack = st;
	c->self = exec_context_make(st.base, obj - (uintptr_t)st.base, entry);
#ifdef FIBER_TSAN
	c->tsan_self = tsan_fiber_get();
#endif
	return (void *)obj;
}

/* From outside the fiber, once it will never run again. */
static void ctx_destroy(coro_ctx *c)
{
#ifdef FIBER_TSAN
	tsan_fiber_put(c->tsan_self);
#endif
	exec_stack st = c->stack; /* c lives on the stack being freed */
	exec_stack_free(&st);
}

/* ---- fiber tasks ---- */

enum { KIND_TASK = 1, KIND_GEN = 2 };

typedef struct fiber_sender {
	exec_sender base;
	exec_fiber_fn fn;
	void *arg;
	exec_fiber_options opts;
} fiber_sender;

typedef struct fiber fiber;

typedef struct fiber_op {
	exec_op op;
	exec_receiver *out;
	const fiber_sender *s;
} fiber_op;

struct fiber {
	coro_ctx ctx;
	int kind;
	int finished;
	/* The await handshake. A completion on the thread that runs the
	 * fiber (inside the awaited sender's start) sets inline_done and the
	 * fiber goes on without switching. Otherwise the switch-out and the
	 * completion each add 1 to flag; the completer always resumes the
	 * fiber itself, on its own thread, and if it came first it waits for
	 * the switch-out (flag 2) - a short window: the tail of start() and
	 * the switch - so the fiber never continues on the thread it left. */
	AO_t flag;
	int inline_done;
	/* Set while exec_await runs the awaited sender's start: an await
	 * from inside it (a then function of that sender) would switch the
	 * fiber away before start returns, so it is refused. */
	int in_start;
	const void *thread; /* the marker of the thread running the fiber */
	int status;    /* 0, negative errno, or EXEC_STOPPED */
	int64_t value; /* fn's return value */
	exec_fiber_fn fn;
	void *arg;
	exec_receiver *out;
	exec_env env; /* what each await's receiver answers */
};

static _Thread_local fiber *current;
/* Its address names this thread (for the inline-completion test). */
static _Thread_local char thread_marker;

static void fiber_complete(fiber *f)
{
	exec_receiver *out = f->out;
	int status = f->status;
	exec_value v = exec_value_i64(f->value);
	ctx_destroy(&f->ctx);
	if (status == 0)
		exec_set_value(out, &v, 1);
	else if (status == EXEC_STOPPED)
		exec_set_stopped(out);
	else
		exec_set_error(out, status);
}

/* ---- the stack-overflow report ---- */

static AO_t overflow_handler_on;
static struct sigaction old_segv, old_bus;
static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;
static _Thread_local int altstack_done;

enum { ALTSTACK_SIZE = 64 * 1024 };

static void altstack_free(void *p)
{
	stack_t off = {.ss_flags = SS_DISABLE};
	sigaltstack(&off, NULL);
	free(p);
}

static void altstack_key_init(void)
{
	pthread_key_create(&altstack_key, altstack_free);
}

/* The handler needs a stack other than the overflowed one. */
static void altstack_ensure(void)
{
	altstack_done = 1;
	stack_t cur;
	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
		return; /* the thread has one already */
	pthread_once(&altstack_once, altstack_key_init);
	stack_t st = {.ss_sp = malloc(ALTSTACK_SIZE), .ss_size = ALTSTACK_SIZE};
	if (!st.ss_sp)
		return;
	if (sigaltstack(&st, NULL) != 0) {
		free(st.ss_sp);
		return;
	}
	pthread_setspecific(altstack_key, st.ss_sp);
}

static inline void overflow_prepare(void)
{
	if (!altstack_done && AO_load(&overflow_handler_on))
		altstack_ensure();
}

static size_t fmt_u(char *p, size_t v)
{
	char tmp[24];
	size_t n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fiber *f = current; /* its struct sits at the top of its stack: intact */
	if (f) {
		void *lo, *hi;
		exec_stack_guard(&f->ctx.stack, &lo, &hi);
		char *a = si->si_addr;
		if (a >= (char *)lo && a < (char *)hi) {
			/* Only async-signal-safe calls here. */
			char msg[160];
			static const char head[] = "cexec: stack overflow in fiber (guard page hit; stack of ";
			static const char tail[] = " bytes: raise exec_fiber_options.stack_size)\n";
			size_t n = sizeof head - 1;
			memcpy(msg, head, n);
			n += fmt_u(msg + n, f->ctx.stack.size);
			memcpy(msg + n, tail, sizeof tail - 1);
			n += sizeof tail - 1;
			(void)!write(2, msg, n);
		}
	}
	/* Back to what was there before; returning re-runs the faulting
	 * access, which now kills the process (or reaches the old handler). */
	sigaction(sig, sig == SIGBUS ? &old_bus : &old_segv, NULL);
}

int exec_fiber_overflow_handler_install(void)
{
	if (AO_load(&overflow_handler_on))
		return 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = overflow_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) != 0 || sigaction(SIGBUS, &sa, &old_bus) != 0)
		return -errno;
	AO_store(&overflow_handler_on, 1);
	altstack_ensure();
	return 0;
}

/* Runs f on this thread until it finishes or parks in an await. */
static void fiber_run(fiber *f)
{
	overflow_prepare();
	fiber *prev = current;
	current = f;
	f->thread = &thread_marker;
	ctx_resume(&f->ctx);
	current = prev;
	if (f->finished) {
		fiber_complete(f);
		return;
	}
	/* The fiber has switched out: its registers are on its stack. Tell
	 * the completer, which resumes it (now, if it came first and waits). */
	AO_fetch_and_add_full(&f->flag, 1);
}

static void fiber_entry(void *arg)
{
	fiber *f = (fiber *)arg;
	ctx_entered(&f->ctx, NULL);
	int64_t v = f->fn(f->arg);
	f->value = v;
	f->finished = 1;
	ctx_exit(&f->ctx);
}

static void fiber_start(exec_op *op)
{
	fiber_op *o = (fiber_op *)op;
	const fiber_sender *s = o->s;
	exec_receiver *out = o->out;
	int err = 0;
	fiber *f = ctx_create(&s->opts, sizeof(fiber), offsetof(fiber, ctx),
			      fiber_entry, &err);
	if (!f) {
		exec_set_error(out, err);
		return;
	}
	f->kind = KIND_TASK;
	f->fn = s->fn;
	f->arg = s->arg;
	f->out = out;
	f->env = *exec_get_env(out);
	fiber_run(f);
}

static int fiber_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	fiber_op *o = (fiber_op *)op;
	o->op.start = fiber_start;
	o->out = r;
	o->s = (const fiber_sender *)s;
	return 0;
}

static void fiber_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops fiber_sender_ops = {"fiber", fiber_connect,
						 fiber_destroy};

exec_sender *exec_fiber_sender(exec_fiber_fn fn, void *arg,
			       const exec_fiber_options *opts)
{
	if (!fn || (opts && (opts->stack_flags & ~(unsigned)EXEC_STACK_UNGUARDED)))
		return exec_sender_invalid(-EINVAL);
	fiber_sender *s = exec_sender_new(&fiber_sender_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->fn = fn;
	s->arg = arg;
	if (opts)
		s->opts = *opts;
	s->base.op_size = sizeof(fiber_op);
	s->base.op_align = EXEC_OP_ALIGN;
	s->base.max_values = 1;
	return &s->base;
}

/* ---- await ---- */

typedef struct await_rcv {
	exec_receiver base;
	fiber *f;
	exec_result *r;
	int status;
} await_rcv;

static void await_arrived(fiber *f)
{
	if (f->thread == &thread_marker && AO_load_acquire(&f->flag) == 0) {
		/* The fiber runs on this thread and has not switched out, so we
		 * are nested inside it (in start, or in something it runs):
		 * exec_await goes on without a switch. */
		f->inline_done = 1;
		return;
	}
	if (AO_fetch_and_add_full(&f->flag, 1) == 0) {
		/* Another thread, before the fiber has switched out. */
		unsigned spins = 0;
		while (AO_load_acquire(&f->flag) != 2)
			if (++spins > 64)
				sched_yield();
	}
	fiber_run(f);
}

static void await_value(exec_receiver *r, const exec_value *v, size_t n)
{
	await_rcv *a = (await_rcv *)r;
	fiber *f = a->f;
	exec_result *res = a->r;
	a->status = 0;
	if (res) {
		res->kind = EXEC_RESULT_VALUE;
		res->error = 0;
		res->values = res->inline_values;
		if (n > EXEC_RESULT_INLINE_VALUES) {
			res->values = malloc(n * sizeof *v);
			if (!res->values) {
				res->values = res->inline_values;
				res->kind = EXEC_RESULT_ERROR;
				res->error = a->status = -ENOMEM;
				n = 0;
			}
		}
		res->count = n;
		for (size_t i = 0; i < n; i++)
			res->values[i] = v[i];
	}
	await_arrived(f);
}

static void await_error(exec_receiver *r, int err)
{
	await_rcv *a = (await_rcv *)r;
	fiber *f = a->f;
	a->status = err;
	if (a->r) {
		a->r->kind = EXEC_RESULT_ERROR;
		a->r->error = err;
		a->r->count = 0;
		a->r->values = a->r->inline_values;
	}
	await_arrived(f);
}

static void await_stopped(exec_receiver *r)
{
	await_rcv *a = (await_rcv *)r;
	fiber *f = a->f;
	a->status = EXEC_STOPPED;
	if (a->r) {
		a->r->kind = EXEC_RESULT_STOPPED;
		a->r->error = 0;
		a->r->count = 0;
		a->r->values = a->r->inline_values;
	}
	await_arrived(f);
}

static const exec_env *await_env(exec_receiver *r)
{
	return &((await_rcv *)r)->f->env;
}

static const exec_receiver_ops await_ops = {await_value, await_error,
					    await_stopped, await_env};

int exec_await(const exec_sender *s, exec_result *r)
{
	fiber *f = current;
	if (!f || f->kind != KIND_TASK)
		return -EPERM;
	if (!s)
		return -EINVAL;
	if (f->in_start)
		return -EDEADLK;
	size_t align = exec_sender_op_align(s);
	if (align < 16)
		align = 16;
	/* The operation state lives in this frame, on the fiber's stack. */
	unsigned char storage[exec_sender_op_size(s) + align];
	void *op = (void *)(((uintptr_t)storage + align - 1) & ~(uintptr_t)(align - 1));
	await_rcv a = {{&await_ops}, f, r, 0};
	AO_store(&f->flag, 0);
	f->inline_done = 0;
	int rc = exec_connect(s, op, &a.base);
	if (rc) {
		if (r) {
			r->kind = EXEC_RESULT_ERROR;
			r->error = rc;
			r->count = 0;
			r->values = r->inline_values;
		}
		return rc;
	}
	f->in_start = 1;
	exec_start((exec_op *)op);
	f->in_start = 0;
	/* Completed inside start: no switch at all. Otherwise switch out; the
	 * completer resumes us on its thread (see fiber.flag). */
	if (!f->inline_done)
		ctx_suspend(&f->ctx);
	/* Either the completer wrote a on this thread, or its flag update
	 * (release) and its switch into the fiber ordered the writes. */
	return a.status;
}

int exec_await_take(exec_sender *s, exec_result *r)
{
	int rc = exec_await(s, r);
	exec_sender_free(s);
	return rc;
}

int exec_fiber_transfer(exec_scheduler *sched)
{
	fiber *f = current;
	if (!f || f->kind != KIND_TASK)
		return -EPERM;
	if (!sched)
		return -EINVAL;
	int rc = exec_await_take(exec_schedule(sched), NULL);
	if (rc == 0)
		f->env.scheduler = sched;
	return rc;
}

bool exec_in_fiber(void)
{
	return current != NULL;
}

exec_stop_token exec_fiber_stop_token(void)
{
	fiber *f = current;
	return f && f->kind == KIND_TASK ? f->env.stop_token : exec_stop_token_never();
}

exec_scheduler *exec_fiber_scheduler(void)
{
	fiber *f = current;
	return f && f->kind == KIND_TASK ? f->env.scheduler : NULL;
}

int64_t exec_fiber_return_error(int err)
{
	if (current && current->kind == KIND_TASK)
		current->status = err < 0 ? err : -EINVAL;
	return 0;
}

int64_t exec_fiber_return_stopped(void)
{
	if (current && current->kind == KIND_TASK)
		current->status = EXEC_STOPPED;
	return 0;
}

/* ---- generators ---- */

struct exec_fiber_gen {
	fiber f; /* kind KIND_GEN; fn/arg unused */
	exec_fiber_gen_fn fn;
	void *arg;
	exec_value cur;
	int has;
	int started;
	int closing;
	int running;
};

static void gen_entry(void *arg)
{
	exec_fiber_gen *g = (exec_fiber_gen *)arg;
	ctx_entered(&g->f.ctx, NULL);
	g->fn(g, g->arg);
	g->f.finished = 1;
	ctx_exit(&g->f.ctx);
}

int exec_fiber_gen_create(exec_fiber_gen **out, exec_fiber_gen_fn fn, void *arg,
			  const exec_fiber_options *opts)
{
	if (!out || !fn)
		return -EINVAL;
	exec_fiber_options o = {0, 0};
	if (opts)
		o = *opts;
	if (o.stack_flags & ~(unsigned)EXEC_STACK_UNGUARDED)
		return -EINVAL;
	int err = 0;
	/* The context's entry receives the first jump's arg: the fiber's
	 * ctx, which is the first member of both fiber and exec_fiber_gen. */
	exec_fiber_gen *g = ctx_create(&o, sizeof *g, 0, gen_entry, &err);
	if (!g)
		return err;
	g->f.kind = KIND_GEN;
	g->fn = fn;
	g->arg = arg;
	*out = g;
	return 0;
}

static void gen_resume(exec_fiber_gen *g)
{
	overflow_prepare();
	fiber *prev = current;
	current = &g->f;
	g->running = 1;
	g->started = 1;
	ctx_resume(&g->f.ctx);
	g->running = 0;
	current = prev;
}

int exec_fiber_gen_next(exec_fiber_gen *g, exec_value *v)
{
	if (!g)
		return -EINVAL;
	if (g->running)
		return -EBUSY;
	if (g->f.finished)
		return 0;
	g->has = 0;
	gen_resume(g);
	if (!g->has)
		return 0;
	if (v)
		*v = g->cur;
	return 1;
}

int exec_fiber_gen_yield(exec_fiber_gen *g, exec_value v)
{
	if (!g || current != &g->f)
		return -EINVAL;
	g->cur = v;
	g->has = 1;
	ctx_suspend(&g->f.ctx);
	return g->closing ? EXEC_STOPPED : 0;
}

void exec_fiber_gen_free(exec_fiber_gen *g)
{
	if (!g || g->running)
		return;
	if (g->started && !g->f.finished) {
		g->closing = 1;
		gen_resume(g); /* lets it clean up; a second yield is ignored */
	}
	ctx_destroy(&g->f.ctx);
}
