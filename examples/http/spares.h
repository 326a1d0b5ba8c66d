/* examples/http/spares.h - closed connections' memory, kept for the next
 * ones, and given back to the system once nobody needs it.
 *
 * A server that frees each connection on close and mallocs the next one
 * pays page faults for every burst after a quiet spell: glibc trims the
 * freed heap top, and the next 1,000 connections touch ~14 KiB each again
 * (3,600 faults; on this project's VMs that raised bench/http's p99 at
 * 1,000 connections from ~11 to ~24 ms). nginx keeps a free-connection
 * list for the same reason. Here the blocks of one size go on a list owned
 * by one loop thread. Once nobody has taken one for `hold` periods (the
 * server: 10 s, jemalloc's default decay time for unused pages), each
 * further idle period (1 s) frees half of them, rounded up, and once none
 * is left glibc is asked to return the pages (malloc_trim): an idle server
 * is back to its idle memory ~20 s after a burst. Under AddressSanitizer every block is freed at once instead,
 * so that a use after close is still caught.
 *
 * Not thread-safe: every call on the loop's thread. */
#ifndef CEXEC_EXAMPLES_HTTP_SPARES_H
#define CEXEC_EXAMPLES_HTTP_SPARES_H

#include "cexec.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether blocks are kept at all (0 under AddressSanitizer). */
#if defined(__SANITIZE_ADDRESS__)
#define SPARES_KEPT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARES_KEPT 0
#endif
#endif
#ifndef SPARES_KEPT
#define SPARES_KEPT 1
#endif

#define SPARES_PERIOD_NS EXEC_NS_PER_S /* the server's trim period */
#define SPARES_HOLD 10                  /* and idle periods before trims */

struct spares {
	exec_scheduler *sched; /* the loop's: runs the trim timer */
	size_t size;           /* bytes per block */
	exec_time period;      /* between trims */
	unsigned hold;         /* idle periods before the first trim */
	unsigned idle;         /* periods since a block was taken */
	void *head;            /* free blocks, linked through their first word */
	size_t n;              /* blocks on the list */
	bool taken;            /* a block was reused since the last trim */
	bool armed;            /* the trim timer is with the loop */
	bool closed;           /* spares_close was called */
	exec_task trim;
	void (*on_closed)(struct spares *s); /* the timer came back, closed */
};

/* Prepares an empty list of size-byte blocks (size >= sizeof(void *))
 * that, once no block was taken for hold periods of period_ns
 * (SPARES_HOLD, SPARES_PERIOD_NS), sheds half its blocks each further
 * idle period; sched must be timed (EXEC_SCHED_TIMED). on_closed (may be
 * NULL): see spares_close. */
void spares_init(struct spares *s, exec_scheduler *sched, size_t size,
		 exec_time period_ns, unsigned hold, void (*on_closed)(struct spares *s));

/* A block of s->size bytes (uninitialised): a spare one, or malloc's.
 * NULL when out of memory. */
void *spares_take(struct spares *s);

/* Gives back a block from spares_take (NULL-safe). */
void spares_give(struct spares *s, void *block);

/* Frees every spare block and stops keeping new ones (later gives free at
 * once). If the trim timer was with the loop, on_closed runs when it comes
 * back; spares_busy says whether that is still to come. */
void spares_close(struct spares *s);

/* True until the list is closed and its timer is back from the loop. */
bool spares_busy(const struct spares *s);

#endif
