#include "algorithms/counting_scope.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

/* 48 bytes: with a then(schedule) operation (208 bytes) the block is 256
 * bytes, four lines. The scope is not kept: env's stop token points into
 * it. The size class is, so that a completing thread does not read s: its
 * line holds the reference count, which the spawning thread writes at
 * every spawn (exec_sender_ref), and a read from the completing thread
 * moved that line away from it each time. */
typedef struct spawn_op {
	exec_receiver self;
	exec_env env;
	exec_sender *s;
	intptr_t bin; /* layout's size class, -1: env's allocator or malloc */
} spawn_op;

static exec_counting_scope *scope_of(const spawn_op *o)
{
	return EXEC_CONTAINER_OF(o->env.stop_token.source, exec_counting_scope, stop);
}

/* A block handed back to the scope. A completing operation hands its
 * block back with its sender still referenced (s): dropping that
 * reference on the completing thread was an atomic write, per task, to a
 * line that the spawning thread writes too (exec_sender_ref). The spawning
 * thread that takes the block for reuse drops it (the block's lines move
 * to that thread anyway), and so does a join before it completes
 * (recycle_all), so no spawned sender stays referenced past a join. */
typedef struct free_block {
	struct free_block *next;
	exec_sender *s;
} free_block;

#define BIN_MIN 64u
/* Counts a spawning thread adds at once (see exec_counting_scope). */
#define CREDIT_BATCH 64u

struct exec_scope_join_op {
	exec_op op;
	exec_receiver *r;
	exec_counting_scope *scope;
	exec_scope_join_op *next;
};

int exec_counting_scope_init(exec_counting_scope *scope)
{
	if (!scope)
		return -EINVAL;
	scope->count = 0;
	scope->waiters = NULL;
	exec_stop_source_init(&scope->stop);
	scope->taking = AO_TS_INITIALIZER;
	scope->credits = 0;
	scope->joining = 0;
	scope->closed = 0;
	scope->spawned = 0;
	for (int b = 0; b < EXEC_SCOPE_BINS; b++) {
		scope->returned[b] = 0;
		scope->reuse[b] = NULL;
	}
	scope->slabs = NULL;
	int rc = pthread_mutex_init(&scope->mu, NULL);
	return rc ? -rc : 0;
}

/* ---- recycled storage ---------------------------------------------------- */

/* The size class holding size bytes (classes are BIN_MIN apart, so that
 * storage of one sender type wastes little), or -1 if too big. */
static int bin_of(size_t size)
{
	/* size >= sizeof(spawn_op) > 0 */
	return size <= (size_t)BIN_MIN * EXEC_SCOPE_BINS ? (int)((size - 1) / BIN_MIN) : -1;
}

/* A multiple of every alignment up to max_align_t, so the operation of
 * such a sender sits right after the header. */
_Static_assert(sizeof(spawn_op) % _Alignof(max_align_t) == 0, "spawn_op size");

/* Where s's operation sits in its storage (*off), the storage's size, and
 * its size class (-1: env's allocator or plain malloc). The same at spawn
 * and at completion. */
static inline int layout(const exec_sender *s, const exec_allocator *allocator, size_t *off,
			 size_t *size)
{
	size_t align = exec_sender_op_align(s);
	if (align <= _Alignof(max_align_t)) {
		*off = sizeof(spawn_op);
		*size = sizeof(spawn_op) + exec_sender_op_size(s);
		return allocator ? -1 : bin_of(*size);
	}
	*off = (sizeof(spawn_op) + align - 1) & ~(align - 1);
	*size = *off + exec_sender_op_size(s);
	return -1;
}

static size_t layout_align(const exec_sender *s)
{
	size_t align = exec_sender_op_align(s);
	return align < _Alignof(spawn_op) ? _Alignof(spawn_op) : align;
}

/* Takes the whole list of blocks returned to bin b (no ABA: nobody reads a
 * block on the list before owning it). */
static free_block *returned_take_all(exec_counting_scope *scope, int b)
{
	AO_t head;
	do {
		head = AO_load_acquire(&scope->returned[b]);
	} while (head && !AO_compare_and_swap_full(&scope->returned[b], head, 0));
	return (free_block *)head;
}

static void lock_taking(exec_counting_scope *scope)
{
	for (unsigned spins = 0; AO_test_and_set_acquire(&scope->taking) == AO_TS_SET; spins++)
		if (spins > 64)
			sched_yield();
}

/* Adds delta to the statistics count `spawned`, which is written only with
 * `taking` held: a spawn that holds it anyway counts for free (an atomic
 * increment per spawn was a locked instruction on the spawner's path). */
static void spawned_add(exec_counting_scope *scope, AO_t delta)
{
	lock_taking(scope);
	AO_store(&scope->spawned, AO_load(&scope->spawned) + delta);
	AO_CLEAR(&scope->taking);
}

/* Drops the sender references held by every block kept for reuse (see
 * free_block). Only with the mutex held, so at most one runs at once;
 * spawners meanwhile find the reuse list empty and take a new slab. */
static void recycle_all(exec_counting_scope *scope)
{
	for (int b = 0; b < EXEC_SCOPE_BINS; b++) {
		lock_taking(scope);
		free_block *f = scope->reuse[b];
		scope->reuse[b] = NULL;
		AO_CLEAR(&scope->taking);
		free_block *r = returned_take_all(scope, b);
		if (r) {
			free_block *t = r;
			while (t->next)
				t = t->next;
			t->next = f;
			f = r;
		}
		if (!f)
			continue;
		free_block *last = f;
		for (free_block *x = f; x; x = x->next) {
			exec_sender_free(x->s);
			x->s = NULL;
			last = x;
		}
		lock_taking(scope);
		last->next = scope->reuse[b];
		scope->reuse[b] = f;
		AO_CLEAR(&scope->taking);
	}
}

/* Asks for the line at p in a state that allows writing. x86's
 * prefetchw (a no-op on the CPUs that predate it; GCC's
 * __builtin_prefetch(p, 1) emits a read prefetch unless compiled for a
 * CPU with it): a read prefetch of a line another core last wrote still
 * leaves the write waiting for the other copy's invalidation. */
static inline void prefetch_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

/* A block of bin b for a new spawn (possibly holding a sender reference
 * that the caller drops after releasing `taking`), or NULL. The caller
 * holds `taking`. */
static free_block *block_get(exec_counting_scope *scope, int b)
{
	free_block *f = scope->reuse[b];
	if (!f)
		f = returned_take_all(scope, b);
	if (!f)
		return NULL;
	free_block *next = f->next;
	scope->reuse[b] = next;
	if (next) {
		/* The next spawn's block: start moving its lines here now, for
		 * writing (it was last written by a completing thread). Its
		 * first four lines (one per BIN_MIN bytes): those of a small
		 * operation, the header and the start of a bigger one. */
		prefetch_write(next);
		if (b >= 1)
			prefetch_write((char *)next + BIN_MIN);
		if (b >= 2)
			prefetch_write((char *)next + 2 * BIN_MIN);
		if (b >= 3)
			prefetch_write((char *)next + 3 * BIN_MIN);
	}
	return f;
}

/* Any thread: hands a block back to the scope, with s (or NULL). */
static void block_put(exec_counting_scope *scope, int b, void *p, exec_sender *s)
{
	free_block *f = p;
	f->s = s;
	AO_t head;
	do {
		head = AO_load(&scope->returned[b]);
		f->next = (free_block *)head;
	} while (!AO_compare_and_swap_release(&scope->returned[b], head, (AO_t)f));
}

/* Storage is malloc'd in slabs of about SLAB_BYTES, each cut into blocks
 * of one size class: one malloc per many spawns, and the blocks stay
 * with the scope until destroy, which frees the slabs. */
#define SLAB_BYTES 65536u

typedef struct slab {
	struct slab *next;
} slab;

/* The header keeps the blocks aligned as malloc would (and on their own
 * lines). */
#define SLAB_HEADER 64u

/* A new slab's first block; its other blocks go onto bin b's reuse list.
 * NULL if malloc fails. */
static free_block *slab_new(exec_counting_scope *scope, int b)
{
	size_t bs = (size_t)BIN_MIN * (size_t)(b + 1);
	size_t n = (SLAB_BYTES - SLAB_HEADER) / bs;
	slab *sl = malloc(SLAB_HEADER + n * bs);
	if (!sl)
		return NULL;
	char *first = (char *)sl + SLAB_HEADER;
	/* Blocks 1 .. n-1, linked in address order. */
	for (size_t i = 1; i < n; i++) {
		free_block *f = (free_block *)(first + i * bs);
		f->s = NULL;
		f->next = i + 1 < n ? (free_block *)(first + (i + 1) * bs) : NULL;
	}
	lock_taking(scope);
	sl->next = scope->slabs;
	scope->slabs = sl;
	if (n > 1) {
		((free_block *)(first + (n - 1) * bs))->next = scope->reuse[b];
		scope->reuse[b] = (free_block *)(first + bs);
	}
	AO_CLEAR(&scope->taking);
	free_block *f = (free_block *)first;
	f->s = NULL;
	return f;
}

static void release_list(free_block *f)
{
	for (; f; f = f->next)
		exec_sender_free(f->s);
}

void exec_counting_scope_destroy(exec_counting_scope *scope)
{
	if (!scope)
		return;
	for (int b = 0; b < EXEC_SCOPE_BINS; b++) {
		release_list(scope->reuse[b]);
		scope->reuse[b] = NULL;
		release_list(returned_take_all(scope, b));
	}
	for (slab *sl = scope->slabs; sl;) {
		slab *next = sl->next;
		free(sl);
		sl = next;
	}
	scope->slabs = NULL;
	pthread_mutex_destroy(&scope->mu);
}

/* Drops one count. The 1 -> 0 transition happens under the mutex, so a
 * join that saw zero under the mutex knows no releaser will touch the scope
 * again (the owner may destroy it as soon as join completes). */
static void scope_release(exec_counting_scope *scope)
{
	for (;;) {
		AO_t c = AO_load(&scope->count);
		if (c <= 1)
			break;
		if (AO_compare_and_swap_full(&scope->count, c, c - 1))
			return;
	}
	pthread_mutex_lock(&scope->mu);
	exec_scope_join_op *w = NULL;
	/* Probably the last one while a join waits (a spawn may still come):
	 * no sender of a completed operation stays referenced once a join
	 * completes. */
	if (scope->waiters && AO_load(&scope->count) == 1)
		recycle_all(scope);
	if (AO_fetch_and_sub1_full(&scope->count) == 1) {
		w = scope->waiters;
		scope->waiters = NULL;
		AO_store(&scope->joining, 0);
	}
	pthread_mutex_unlock(&scope->mu);
	while (w) {
		exec_scope_join_op *next = w->next;
		exec_set_value(w->r, NULL, 0);
		w = next;
	}
}

static void spawn_done(exec_receiver *r)
{
	spawn_op *o = EXEC_CONTAINER_OF(r, spawn_op, self);
	exec_counting_scope *scope = scope_of(o);
	exec_sender *s = o->s;
	int bin = (int)o->bin;
	/* Back to the scope before the count drops: once it is zero the
	 * scope may be destroyed, and destroy frees what was returned. */
	if (bin >= 0) {
		block_put(scope, bin, o, s);
	} else {
		exec_env env = o->env;
		size_t off, size;
		layout(s, env.allocator, &off, &size);
		exec_env_free(&env, o, size);
		exec_sender_free(s);
	}
	scope_release(scope);
}

static void spawn_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	spawn_done(r);
}

static void spawn_error(exec_receiver *r, int err)
{
	(void)err;
	spawn_done(r);
}

static const exec_env *spawn_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, spawn_op, self)->env;
}

static const exec_receiver_ops spawn_ops = {spawn_value, spawn_error, spawn_done,
					    spawn_env};

int exec_scope_spawn(exec_counting_scope *scope, exec_sender *s, const exec_env *env)
{
	if (!scope || !s) {
		exec_sender_free(s);
		return -EINVAL;
	}
	/* A failed build's own error (-ENOMEM, say), as start_detached does. */
	int built = exec_sender_build_error(s);
	if (built) {
		exec_sender_free(s);
		return built;
	}
	if (!env)
		env = &exec_env_empty;
	size_t off, size;
	int bin = layout(s, env->allocator, &off, &size);
	/* Count first, then look at closed: a spawn that passes the check is
	 * counted before any join that follows the close can see zero. A
	 * credit is such a count (a join takes back only unused ones). */
	spawn_op *o = NULL;
	bool counted = false, tallied = false;
	if (AO_test_and_set_acquire(&scope->taking) != AO_TS_SET) {
		AO_t cr = AO_load(&scope->credits);
		if (cr == 0 && !AO_load(&scope->joining)) {
			AO_fetch_and_add_full(&scope->count, CREDIT_BATCH);
			cr = CREDIT_BATCH;
		}
		if (cr) {
			AO_store(&scope->credits, cr - 1);
			counted = true;
		}
		if (bin >= 0)
			o = (spawn_op *)block_get(scope, bin);
		/* Taken back below if the spawn fails. */
		AO_store(&scope->spawned, AO_load(&scope->spawned) + 1);
		tallied = true;
		AO_CLEAR(&scope->taking);
	}
	if (!tallied)
		spawned_add(scope, 1);
	if (!counted)
		AO_fetch_and_add1_full(&scope->count);
	if (o) {
		/* Dropped here rather than where the block's last operation
		 * completed (see free_block). */
		free_block *f = (free_block *)o;
		exec_sender_free(f->s);
	}
	if (AO_load_acquire(&scope->closed)) {
		if (o)
			block_put(scope, bin, o, NULL);
		exec_sender_free(s);
		spawned_add(scope, (AO_t)-1);
		scope_release(scope);
		return -ESHUTDOWN;
	}
	if (!o)
		o = bin >= 0 ? (spawn_op *)slab_new(scope, bin)
			     : exec_env_alloc(env, size, layout_align(s));
	if (!o) {
		exec_sender_free(s);
		spawned_add(scope, (AO_t)-1);
		scope_release(scope);
		return -ENOMEM;
	}
	o->self.ops = &spawn_ops;
	o->env.stop_token = exec_scope_token(scope);
	o->env.scheduler = env->scheduler;
	o->env.allocator = env->allocator;
	o->s = s;
	o->bin = bin;
	exec_op *op = (exec_op *)((char *)o + off);
	int rc = s->ops->connect(s, op, &o->self);
	if (rc < 0) {
		if (bin >= 0)
			block_put(scope, bin, o, NULL);
		else
			exec_env_free(env, o, size);
		exec_sender_free(s);
		spawned_add(scope, (AO_t)-1);
		scope_release(scope);
		return rc;
	}
	exec_start(op);
	return 0;
}

static void join_start(exec_op *op)
{
	exec_scope_join_op *j = (exec_scope_join_op *)op;
	exec_counting_scope *scope = j->scope;
	pthread_mutex_lock(&scope->mu);
	/* No more batches while a join waits (a batch's unused credits would
	 * keep the count above zero); take back the unused ones. A spawner
	 * holds `taking` only for a few instructions. */
	AO_store(&scope->joining, 1);
	lock_taking(scope);
	AO_t cr = AO_load(&scope->credits);
	AO_store(&scope->credits, 0);
	AO_CLEAR(&scope->taking);
	/* Only the 1 -> 0 step is reserved to the mutex, which we hold. */
	AO_t left = cr ? AO_fetch_and_add_full(&scope->count, (AO_t)0 - cr) - cr
		       : AO_load_acquire(&scope->count);
	if (left == 0) {
		recycle_all(scope);
		if (!scope->waiters)
			AO_store(&scope->joining, 0);
		pthread_mutex_unlock(&scope->mu);
		exec_set_value(j->r, NULL, 0);
		return;
	}
	j->next = scope->waiters;
	scope->waiters = j;
	pthread_mutex_unlock(&scope->mu);
}

typedef struct join_sender {
	exec_sender base;
	exec_counting_scope *scope;
} join_sender;

static int join_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	exec_scope_join_op *j = (exec_scope_join_op *)op;
	j->op.start = join_start;
	j->r = r;
	j->scope = ((const join_sender *)s)->scope;
	j->next = NULL;
	return 0;
}

static void join_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops join_ops = {"scope_join", join_connect, join_destroy};

exec_sender *exec_scope_join(exec_counting_scope *scope)
{
	if (!scope)
		return exec_sender_invalid(-EINVAL);
	join_sender *s = exec_sender_new(&join_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->base.op_size = sizeof(exec_scope_join_op);
	s->scope = scope;
	return &s->base;
}

void exec_scope_close(exec_counting_scope *scope)
{
	if (scope)
		AO_store_release(&scope->closed, 1);
}

bool exec_scope_request_stop(exec_counting_scope *scope)
{
	return scope && exec_stop_source_request(&scope->stop);
}
