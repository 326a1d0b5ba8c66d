/* exec/debug.h - an in-flight operation registry and its dump.
 *
 * When enabled, operations that opt in (every I/O sender of io/io.h, and
 * any operation of your own that calls exec_debug_op_begin/end) record
 * themselves while they are started and not completed: what they are, on
 * which scheduler, on which fd, since when. exec_debug_dump writes the list
 * to a file descriptor, from a signal handler or a debugger
 * (`call exec_debug_dump(2)` in gdb):
 *
 *   cexec: 2 operation(s) in flight
 *     recv fd=7 on io_loop 0x55d0c2a0 (io_uring), started 1532.417 ms ago
 *     accept fd=3 on io_loop 0x55d0c2a0 (io_uring), started 9021.003 ms ago
 *
 * Switches. Run time: exec_debug_enable(true), or the environment variable
 * CEXEC_DEBUG_INFLIGHT=1 (read once, on the first exec_debug_enabled call
 * after start-up, e.g. when the first I/O operation starts). Compile time:
 * -DCEXEC_NO_DEBUG_REGISTRY makes exec_debug_enabled() a constant false, so
 * the hooks vanish. Disabled, an operation pays one relaxed load and a
 * branch at start; enabled, a short global spin lock at start and at
 * completion (a debugging aid, not for production throughput).
 *
 * Operations started before the switch was turned on are not listed; an
 * operation that registered stays registered until it completes, whatever
 * the switch does meanwhile. */
#ifndef EXEC_DEBUG_H
#define EXEC_DEBUG_H

#include <atomic_ops.h>
#include <stdbool.h>

#include "exec/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One registered operation; embed it in the operation state. The strings
 * must outlive the registration (string literals, names of live objects). */
typedef struct exec_debug_op {
	struct exec_debug_op *prev, *next;
	const char *what;       /* "recv", "timer", "my_sender" ... */
	const char *where_name; /* "io_loop", "thread_pool" ... (may be NULL) */
	const char *detail;     /* "io_uring", "epoll" ... (may be NULL) */
	const void *where;      /* the scheduler or loop (may be NULL) */
	int fd;                 /* -1: none */
	exec_time since;        /* exec_clock_now() at begin */
	bool registered;
} exec_debug_op;

/* Turns the registry on or off (any thread). */
void exec_debug_enable(bool on);

/* Whether operations should register now. */
#ifdef CEXEC_NO_DEBUG_REGISTRY
static inline bool exec_debug_enabled(void) { return false; }
#else
extern AO_t exec_debug_state_; /* 0: unknown (read env), 1: off, 2: on */
bool exec_debug_enabled_slow_(void);
static inline bool exec_debug_enabled(void)
{
	AO_t s = AO_load(&exec_debug_state_);
	return s == 2 || (s == 0 && exec_debug_enabled_slow_());
}
#endif

/* Registers op (any thread). Call only when exec_debug_enabled() said so;
 * the op must stay put until exec_debug_op_end. */
void exec_debug_op_begin(exec_debug_op *op, const char *what,
			 const char *where_name, const char *detail,
			 const void *where, int fd);
/* Unregisters op if it was registered (any thread; NULL-safe). Call
 * before the operation completes (before set_value and friends). */
void exec_debug_op_end(exec_debug_op *op);

/* Writes the in-flight list to fd with write(2) only: no allocation, no
 * stdio, no locks that a signal could have interrupted (if the interrupted
 * thread holds the registry lock, the dump says "busy" instead of waiting).
 * Returns the number of operations listed, or a negative errno. */
int exec_debug_dump(int fd);

/* The number of registered operations right now. */
long exec_debug_inflight_count(void);

#ifdef __cplusplus
}
#endif
#endif
