/* exec/stack.h - stacks for fibers and generators.
 *
 * Two kinds:
 *   - guarded (the default): an mmap'd region with a PROT_NONE guard page
 *     below the stack, so an overflow faults (SIGSEGV in the guard) instead
 *     of corrupting the neighbour. Each guarded stack costs the process two
 *     memory mappings; Linux caps mappings at vm.max_map_count (65530 by
 *     default), i.e. about 32,000 guarded stacks. cexec counts its guarded
 *     stacks and refuses a new one with -ENOMEM (and a one-time message
 *     on stderr naming the limit) once they would pass
 *     (max_map_count - 8192) / 2, about 28,600 by default (see
 *     exec_stack_guarded_limit), so the
 *     rest of the process (malloc, the loader, io_uring rings) keeps its
 *     mappings and the failure is an error code, not a random mmap failure
 *     elsewhere.
 *   - unguarded (EXEC_STACK_UNGUARDED): carved from large shared slabs (one
 *     mapping per slab), for hundreds of thousands of fibers. No overflow
 *     protection: size them generously. A released one goes to a
 *     process-wide free list with its pages (reused without a system call
 *     or page fault); exec_stack_cache_trim returns the pages of the free
 *     ones to the kernel (MADV_DONTNEED). Slabs are never unmapped.
 * Pages are touched lazily, so a suspended fiber that used little stack
 * costs about one page of RSS whatever the size.
 *
 * Freed stacks are kept in a small per-thread cache (up to
 * EXEC_STACK_CACHE stacks per thread), so a fiber that ends and a new one
 * that starts on the same thread reuse the mapping without a system call.
 * A stack may be freed on another thread than the one that allocated it. */
#ifndef EXEC_STACK_H
#define EXEC_STACK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The default usable size of a fiber stack. */
#define EXEC_STACK_DEFAULT_SIZE ((size_t)64 * 1024)
/* Sizes are rounded up to whole pages and at least this. */
#define EXEC_STACK_MIN_SIZE ((size_t)8 * 1024)
/* Freed stacks cached per thread. */
#define EXEC_STACK_CACHE 16

enum {
	EXEC_STACK_UNGUARDED = 1u << 0, /* no guard page, carved from slabs */
};

typedef struct exec_stack {
	void *base;     /* lowest usable address */
	size_t size;    /* usable bytes, from base upwards */
	unsigned flags; /* EXEC_STACK_* */
	struct exec_stack *next_free_; /* cache link (private) */
	void *map_;     /* guarded: the whole mapping, guard included */
	unsigned valgrind_id_; /* valgrind's stack id (private) */
} exec_stack;

/* Allocates a stack of at least size bytes (0: the default) with flags.
 * Fills *st. Returns 0, -EINVAL (size over 1 GiB or unknown flags), or
 * -ENOMEM (out of memory, or the guarded-stack budget is exhausted). */
int exec_stack_alloc(exec_stack *st, size_t size, unsigned flags);

/* Gives the stack back (to this thread's cache, else to the system). */
void exec_stack_free(exec_stack *st);

/* The guard page(s) of a guarded stack: [*lo, *hi). Unguarded: lo == hi. */
void exec_stack_guard(const exec_stack *st, void **lo, void **hi);

/* The number of guarded stacks the process may hold at once
 * ((vm.max_map_count - 8192) / 2, read once), and how many are held now
 * (cached ones included). */
size_t exec_stack_guarded_limit(void);
size_t exec_stack_guarded_count(void);

/* Drops this thread's cache (also done at thread exit, without the rest)
 * and gives the pages of every free unguarded stack back to the kernel. */
void exec_stack_cache_trim(void);

#ifdef __cplusplus
}
#endif
#endif
