/* exec/stack.c - guarded and unguarded fiber stacks, cached per thread. */
#include "exec/stack.h"

#include <atomic_ops.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define EXEC_HAVE_VALGRIND 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define STACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STACK_ASAN 1
#endif
#endif
#ifdef STACK_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define STACK_SIZE_MAX ((size_t)1 << 30)
/* Mappings left to the rest of the process when guarded stacks are capped. */
#define MAP_RESERVE 8192
/* Unguarded stacks per slab (the slab is one mapping). */
#define SLAB_STACKS 64

static size_t page_size(void)
{
	static AO_t ps; /* racing first callers store the same value */
	size_t v = (size_t)AO_load(&ps);
	if (!v) {
		long p = sysconf(_SC_PAGESIZE);
		v = p > 0 ? (size_t)p : 4096;
		AO_store(&ps, (AO_t)v);
	}
	return v;
}

/* ---- the guarded-stack budget ---- */

static pthread_once_t limit_once = PTHREAD_ONCE_INIT;
static size_t guarded_limit;
static AO_t guarded_count;

static void limit_init(void)
{
	long max = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		long v;
		if (fscanf(f, "%ld", &v) == 1 && v > 0)
			max = v;
		fclose(f);
	}
	long budget = max > 2 * MAP_RESERVE ? max - MAP_RESERVE : max / 2;
	guarded_limit = (size_t)budget / 2;
}

size_t exec_stack_guarded_limit(void)
{
	pthread_once(&limit_once, limit_init);
	return guarded_limit;
}

size_t exec_stack_guarded_count(void)
{
	return AO_load(&guarded_count);
}

/* ---- unguarded slabs: one global free list per size ----
 *
 * A released unguarded stack keeps its pages (no system call, and the next
 * fiber on it takes no page fault); exec_stack_cache_trim gives the pages
 * of every free one back to the kernel, one madvise per run of adjacent
 * free stacks. The free list is an array outside the stacks, so that the
 * madvise may zero them. */

typedef struct size_class {
	size_t size;
	char **free;         /* bases of free stacks */
	size_t nfree, cap;
	char *slab_next;     /* uncarved part of the current slab */
	size_t slab_left;    /* stacks left in it */
	struct size_class *next;
} size_class;

static pthread_mutex_t slab_mu = PTHREAD_MUTEX_INITIALIZER;
static size_class *classes;

/* The per-thread cache's node of a stack sits in its top bytes, which a
 * running fiber touches anyway, so a cached stack costs no extra page. */
static exec_stack *node_of(void *base, size_t size)
{
	uintptr_t top = (uintptr_t)base + size;
	return (exec_stack *)((top - sizeof(exec_stack)) & ~(uintptr_t)15);
}

static int unguarded_alloc(exec_stack *st, size_t size)
{
	pthread_mutex_lock(&slab_mu);
	size_class *c = classes;
	while (c && c->size != size)
		c = c->next;
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c) {
			pthread_mutex_unlock(&slab_mu);
			return -ENOMEM;
		}
		c->size = size;
		c->next = classes;
		classes = c;
	}
	char *base;
	if (c->nfree) {
		base = c->free[--c->nfree];
	} else {
		if (!c->slab_left) {
			void *m = mmap(NULL, size * SLAB_STACKS, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (m == MAP_FAILED) {
				pthread_mutex_unlock(&slab_mu);
				return -ENOMEM;
			}
			c->slab_next = m;
			c->slab_left = SLAB_STACKS;
		}
		base = c->slab_next;
		c->slab_next += size;
		c->slab_left--;
	}
	pthread_mutex_unlock(&slab_mu);
	st->base = base;
	st->size = size;
	st->flags = EXEC_STACK_UNGUARDED;
	st->map_ = NULL;
	st->next_free_ = NULL;
	return 0;
}

static void unguarded_release(const exec_stack *st)
{
	pthread_mutex_lock(&slab_mu);
	size_class *c = classes;
	while (c && c->size != st->size)
		c = c->next; /* found: the stack came from it */
	if (c->nfree == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		char **f = realloc(c->free, cap * sizeof *f);
		if (!f) {
			/* Cannot track it: give the pages back, lose the range. */
			pthread_mutex_unlock(&slab_mu);
			madvise(st->base, st->size, MADV_DONTNEED);
			return;
		}
		c->free = f;
		c->cap = cap;
	}
	c->free[c->nfree++] = st->base;
	pthread_mutex_unlock(&slab_mu);
}

static int by_address(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	return x < y ? -1 : x > y;
}

static void unguarded_trim(void)
{
	pthread_mutex_lock(&slab_mu);
	for (size_class *c = classes; c; c = c->next) {
		qsort(c->free, c->nfree, sizeof *c->free, by_address);
		for (size_t i = 0; i < c->nfree;) {
			size_t j = i + 1;
			while (j < c->nfree && c->free[j] == c->free[j - 1] + c->size)
				j++;
			madvise(c->free[i], (size_t)(j - i) * c->size, MADV_DONTNEED);
			i = j;
		}
	}
	pthread_mutex_unlock(&slab_mu);
}

/* ---- guarded mappings ---- */

static int guarded_alloc(exec_stack *st, size_t size)
{
	size_t limit = exec_stack_guarded_limit();
	if (AO_fetch_and_add1(&guarded_count) >= limit) {
		AO_fetch_and_sub1(&guarded_count);
		static AO_t told;
		if (!AO_fetch_and_add1(&told))
			fprintf(stderr,
				"cexec: %zu guarded fiber stacks in use, the budget left by "
				"vm.max_map_count; further ones fail with -ENOMEM (use "
				"EXEC_STACK_UNGUARDED or raise vm.max_map_count)\n",
				limit);
		return -ENOMEM; /* the documented budget, before mmap fails */
	}
	size_t ps = page_size();
	char *m = mmap(NULL, size + ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (m == MAP_FAILED) {
		AO_fetch_and_sub1(&guarded_count);
		return -ENOMEM;
	}
	if (mprotect(m, ps, PROT_NONE) != 0) {
		munmap(m, size + ps);
		AO_fetch_and_sub1(&guarded_count);
		return -ENOMEM;
	}
	st->map_ = m;
	st->base = m + ps;
	st->size = size;
	st->flags = 0;
	st->next_free_ = NULL;
	return 0;
}

static void guarded_release(const exec_stack *st)
{
	munmap(st->map_, st->size + page_size());
	AO_fetch_and_sub1(&guarded_count);
}

static void release(const exec_stack *st)
{
	if (st->flags & EXEC_STACK_UNGUARDED)
		unguarded_release(st);
	else
		guarded_release(st);
}

/* ---- the per-thread cache ---- */

typedef struct stack_cache {
	exec_stack *head;
	unsigned count;
} stack_cache;

static _Thread_local stack_cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drop(stack_cache *c)
{
	while (c->head) {
		exec_stack *n = c->head;
		c->head = n->next_free_;
		exec_stack copy = *n;
		release(&copy);
	}
	c->count = 0;
}

static void cache_thread_exit(void *p)
{
	(void)p;
	cache_drop(&cache);
}

static void cache_key_init(void)
{
	pthread_key_create(&cache_key, cache_thread_exit);
}

void exec_stack_cache_trim(void)
{
	cache_drop(&cache);
	unguarded_trim();
}

int exec_stack_alloc(exec_stack *st, size_t size, unsigned flags)
{
	if (!st || (flags & ~(unsigned)EXEC_STACK_UNGUARDED) || size > STACK_SIZE_MAX)
		return -EINVAL;
	if (!size)
		size = EXEC_STACK_DEFAULT_SIZE;
	if (size < EXEC_STACK_MIN_SIZE)
		size = EXEC_STACK_MIN_SIZE;
	size_t ps = page_size();
	size = (size + ps - 1) & ~(ps - 1);
	for (exec_stack **p = &cache.head; *p; p = &(*p)->next_free_) {
		exec_stack *n = *p;
		if (n->size == size && n->flags == flags) {
			*p = n->next_free_;
			cache.count--;
			*st = *n;
			st->next_free_ = NULL;
			goto done;
		}
	}
	int rc = flags & EXEC_STACK_UNGUARDED ? unguarded_alloc(st, size)
					      : guarded_alloc(st, size);
	if (rc)
		return rc;
done:
#ifdef EXEC_HAVE_VALGRIND
	st->valgrind_id_ =
		VALGRIND_STACK_REGISTER(st->base, (char *)st->base + st->size);
#endif
	return 0;
}

void exec_stack_free(exec_stack *st)
{
	if (!st || !st->base)
		return;
	exec_stack copy = *st;
	st->base = NULL;
#ifdef EXEC_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(copy.valgrind_id_);
#endif
#ifdef STACK_ASAN
	/* Frames abandoned on this stack (a fiber's last switch, a generator
	 * dropped halfway) leave poisoned redzones that the next user of the
	 * memory would trip over. */
	__asan_unpoison_memory_region(copy.base, copy.size);
#endif
	if (cache.count >= EXEC_STACK_CACHE) {
		release(&copy);
		return;
	}
	pthread_once(&cache_once, cache_key_init);
	if (!cache.head)
		pthread_setspecific(cache_key, &cache); /* arms the exit hook */
	exec_stack *n = node_of(copy.base, copy.size);
	*n = copy;
	n->next_free_ = cache.head;
	cache.head = n;
	cache.count++;
}

void exec_stack_guard(const exec_stack *st, void **lo, void **hi)
{
	if (st->flags & EXEC_STACK_UNGUARDED) {
		*lo = *hi = st->base;
		return;
	}
	*lo = st->map_;
	*hi = st->base;
}
