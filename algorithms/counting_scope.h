/* algorithms/counting_scope.h - structured spawning (P3149's counting_scope).
 *
 * A counting scope counts the operations spawned into it. join is a sender
 * that completes when the count is zero, so "spawn many, then wait for all"
 * needs no bookkeeping by the caller; request_stop stops everything spawned
 * (each spawned operation's environment carries the scope's stop token).
 *
 *     exec_counting_scope scope;
 *     exec_counting_scope_init(&scope);
 *     for (...) exec_scope_spawn(&scope, exec_then(exec_schedule(pool), f, x), NULL);
 *     exec_sender *j = exec_scope_join(&scope);
 *     exec_sync_wait(j, NULL);
 *     exec_sender_free(j);
 *     exec_counting_scope_destroy(&scope);
 *
 * The caller owns the struct (embed it anywhere). Thread-safe: spawn, join,
 * close and request_stop may be called from any thread. exec_start_detached
 * remains for work that belongs to no scope. */
#ifndef EXEC_ALGORITHMS_COUNTING_SCOPE_H
#define EXEC_ALGORITHMS_COUNTING_SCOPE_H

#include <pthread.h>

#include "exec/sender.h"
#include "exec/stop_token.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_scope_join_op exec_scope_join_op;

/* Size classes of recycled operation storage: 64, 128, ... 1024 bytes. */
#define EXEC_SCOPE_BINS 16

/* The fields are private: use the functions below. The struct is not
 * over-aligned (it may live in malloc'd memory); padding keeps the stop
 * source (read by every spawned operation), the lines written by
 * completing threads and the lines written by spawning threads apart. */
typedef struct exec_counting_scope {
	exec_stop_source stop;
	char pad0[64];
	/* Written by completing threads. */
	AO_t count; /* operations not completed yet + credits */
	pthread_mutex_t mu; /* the 1 -> 0 transition, waiters, joining */
	exec_scope_join_op *waiters;
	/* Storage of completed operations kept for the next spawns (malloc'd
	 * storage only), one list per size class; pushed by completers. */
	AO_t returned[EXEC_SCOPE_BINS];
	char pad1[64];
	/* Written by spawning threads. `taking` guards credits and reuse:
	 * a spawner that holds it adds to count in batches (credits: counts
	 * already added and not used yet; a join takes them back), and pops
	 * storage from reuse, which it refills by taking a returned list
	 * whole. A spawner that finds it held does without. */
	AO_TS_t taking;
	AO_t credits;
	AO_t joining; /* a join is waiting: no batches */
	AO_t closed;  /* spawn refused once set */
	AO_t spawned; /* total accepted, for statistics (under taking) */
	void *reuse[EXEC_SCOPE_BINS];
	void *slabs; /* the storage, freed by destroy */
	char pad2[64];
} exec_counting_scope;

/* Returns 0 or a negative errno (mutex initialisation failed). */
int exec_counting_scope_init(exec_counting_scope *scope);

/* The scope must be empty (count zero: a join has completed and nothing
 * was spawned since) and no join operation may be pending. Frees the
 * operation storage the scope kept for reuse. */
void exec_counting_scope_destroy(exec_counting_scope *scope);

/* Connects s into storage and starts it; the operation's environment has
 * the scope's stop token, env's scheduler and env's allocator. The result
 * of s is dropped (spawn s | upon_error to handle errors). The scope
 * counts the operation until it completes.
 * Storage: with env's allocator, allocated there and freed on the thread
 * where the operation completes. Without one (env NULL or no allocator;
 * op alignment <= max_align_t, at most 1 KiB), from slabs of 64 KiB that
 * the scope mallocs, reuses for later spawns and frees in
 * exec_counting_scope_destroy: most spawns cost no malloc, and the scope
 * holds about as much as was in flight at once (rounded up to slabs).
 * s: the scope's reference is dropped when the operation completes (with
 * env's allocator), or later, by a spawning thread that reuses the
 * storage or by a join (with recycled storage): before any join that
 * starts after the completion completes, provided no spawn runs
 * concurrently with that join (a spawn racing it may drop the reference
 * just after the join completed), and at the latest in
 * exec_counting_scope_destroy. A spawned sender's destroy must therefore
 * not depend on running on the completing thread.
 * Consumes s (also on failure). Returns 0, -EINVAL (NULL argument), a
 * failed build's error (-EINVAL, -ENOMEM: s is an invalid sender),
 * -ESHUTDOWN after exec_scope_close, -ENOMEM, or s's connect error. */
int exec_scope_spawn(exec_counting_scope *scope, exec_sender *s, const exec_env *env);

/* A sender that completes with no values once the scope's count is zero
 * (at once if it already is), on the thread that completed the last
 * spawned operation or inside start. It does not close the scope and does
 * not stop anything; it is not cancellable (request_stop on the scope makes
 * well-behaved spawned work end early). The scope must outlive every run.
 * -EINVAL sender for a NULL scope. Connect and start allocate nothing. */
exec_sender *exec_scope_join(exec_counting_scope *scope);

/* Refuses further spawns (-ESHUTDOWN). Work already spawned continues. */
void exec_scope_close(exec_counting_scope *scope);

/* Requests stop on every operation spawned into the scope, before or after
 * this call. Returns true if this call made the request. */
bool exec_scope_request_stop(exec_counting_scope *scope);

static inline exec_stop_token exec_scope_token(exec_counting_scope *scope)
{
	return exec_stop_source_token(&scope->stop);
}

/* Operations spawned and not completed yet (racy while work runs). */
static inline size_t exec_scope_count(const exec_counting_scope *scope)
{
	return (size_t)(AO_load(&scope->count) - AO_load(&scope->credits));
}

#ifdef __cplusplus
}
#endif
#endif
