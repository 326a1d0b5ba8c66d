/* schedulers/io_uring.h - the I/O event loop: one io_uring (or, where the
 * kernel refuses io_uring, one epoll instance) driven by one thread.
 *
 * An exec_io_loop is a scheduler (exec_io_loop_scheduler) with timers and
 * cancel, and the place where the I/O senders of io/io.h run. It is driven
 * by the thread that calls one of its run functions (the "loop thread");
 * every task, timer and I/O completion runs there.
 *   - submit from the loop thread: a local FIFO, no system call;
 *   - submit from another thread: a lock-free MPSC queue plus at most one
 *     wake-up (an eventfd write) per sleep of the loop, not one per task;
 *   - submit_at: a pairing heap of timers; the loop sleeps until the
 *     earliest deadline and fires timers in deadline order, never early
 *     (the clock is read again before firing); cancel of a waiting timer
 *     runs it with EXEC_STOPPED;
 *   - I/O submissions are batched: one io_uring_enter per loop iteration.
 *
 * Backends: exec_io_loop_create tries io_uring (probing SINGLE_ISSUER,
 * DEFER_TASKRUN, COOP_TASKRUN and dropping what setup refuses with EINVAL)
 * and falls back to epoll when io_uring_queue_init fails with EPERM,
 * ENOSYS or EACCES, or /proc/sys/kernel/io_uring_disabled forbids it, or
 * the environment variable CEXEC_FORCE_EPOLL=1 is set. The same API and the
 * same senders run on both; exec_io_loop_backend_name says which one it is.
 *
 * Minimal use:
 *   exec_io_loop *loop;
 *   if (exec_io_loop_create(&loop, NULL) < 0) ...;
 *   exec_sender *s = exec_io_read(loop, fd, buf, sizeof buf, 0);
 *   exec_result r;
 *   int rc = exec_io_loop_sync_wait(loop, s, &r); // runs the loop
 *   exec_sender_free(s);
 *   exec_io_loop_destroy(loop);
 */
#ifndef EXEC_SCHEDULERS_IO_URING_H
#define EXEC_SCHEDULERS_IO_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "algorithms/sync_wait.h"
#include "exec/scheduler.h"
#include "exec/stop_token.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_io_loop exec_io_loop;

typedef enum exec_io_backend {
	EXEC_IO_BACKEND_AUTO = 0, /* io_uring, else epoll (CEXEC_FORCE_EPOLL) */
	EXEC_IO_BACKEND_URING,    /* io_uring only: create fails without it */
	EXEC_IO_BACKEND_EPOLL,    /* epoll, whatever the kernel offers */
} exec_io_backend;

/* What the watchdog saw: one callback of the loop (a task, or the
 * completion of an I/O request with the receiver code it ran) that has
 * not returned for stalled_ns (a lower bound: the watchdog samples). */
typedef struct exec_io_watchdog_report {
	exec_io_loop *loop;
	int64_t stalled_ns;
	const char *kind; /* "task" or "io" (an I/O completion or cancel) */
	void *fn;         /* task: its exec_task_fn; io: NULL */
	const char *op;   /* io: "recv", "send" ...; task: NULL */
	int fd;           /* io: the request's fd; task: -1 */
} exec_io_watchdog_report;

/* Called once per stuck callback, on the watchdog's own thread, while the
 * loop thread is still stuck (so it must not wait for the loop). */
typedef void (*exec_io_watchdog_fn)(void *ctx, const exec_io_watchdog_report *r);

typedef struct exec_io_loop_options {
	exec_io_backend backend; /* AUTO when zeroed */
	unsigned entries;        /* SQ entries; 0: 256 */
	bool no_single_issuer;   /* do not ask for SINGLE_ISSUER/DEFER_TASKRUN */
	/* Watchdog (off when watchdog_ns is 0): a thread that reports, once
	 * per stall, a callback that keeps the loop from coming back for
	 * longer than watchdog_ns - the classic failure of cooperative
	 * scheduling, a task that blocks the loop thread. watchdog_fn NULL:
	 * print the report (and the exec_debug_dump of exec/debug.h) to
	 * stderr. Costs the loop two relaxed stores per callback when on, one
	 * branch when off. */
	int64_t watchdog_ns;
	exec_io_watchdog_fn watchdog_fn;
	void *watchdog_ctx;
	/* Busy polling (io_uring backend; 0: off): when the loop is about to
	 * sleep with I/O in flight right after an iteration that did work, it
	 * first watches the rings for up to busy_poll_ns (never past the next
	 * timer). A loop that sleeps must be woken, and on a loaded server
	 * the peer that completes its I/O pays for that wake-up (a remote
	 * wake-up is an inter-processor interrupt on the peer's CPU); a loop
	 * that polls briefly under load is not asleep when the next request
	 * comes. Costs up to busy_poll_ns of CPU per idle gap (the time shows
	 * as the loop's CPU time); an idle loop polls once and then sleeps.
	 * With it the ring also asks for IORING_SETUP_TASKRUN_FLAG
	 * (features.taskrun_flag), so polling reads shared memory and makes a
	 * system call only when completion work is pending. */
	int64_t busy_poll_ns;
	/* Batched waiting (0: off; io_uring backend with DEFER_TASKRUN on a
	 * kernel with IORING_FEAT_MIN_TIMEOUT, 6.12+, see features.min_timeout;
	 * elsewhere ignored): when the loop's last wake-up completed more than
	 * two operations (several peers are active; a multishot's pieces count
	 * once) and I/O is in flight, it sleeps until 32 completions are ready
	 * or batch_wait_ns has passed (then, if none came, it goes on waiting
	 * for one until its next timer; with no timer it wakes once and the
	 * next sleep is a plain one). Meanwhile the peers' I/O wakes nobody:
	 * the kernel counts it without waking the loop, so the CPU that
	 * completes it (on loopback, the client's) is spared the
	 * inter-processor interrupt (see busy_poll_ns), and the loop answers a
	 * batch per wake-up. A lone request-reply peer (its request and its
	 * last reply's send: two operations per wake-up) never waits for a
	 * batch. Costs: under load a reply may wait up to batch_wait_ns, and
	 * so may whatever other threads hand the loop - tasks, timers they
	 * submit or cancel, exec_io_loop_stop - whose wake-up the kernel holds
	 * like any completion. Tens of microseconds suit a server
	 * (examples/http/http_server uses 20). */
	int64_t batch_wait_ns;
} exec_io_loop_options;

/* What the loop got from the kernel (all false on the epoll backend,
 * where the senders emulate everything with readiness). */
typedef struct exec_io_features {
	bool single_issuer;    /* IORING_SETUP_SINGLE_ISSUER */
	bool defer_taskrun;    /* IORING_SETUP_DEFER_TASKRUN */
	bool coop_taskrun;     /* IORING_SETUP_COOP_TASKRUN */
	bool ext_arg;          /* wait with a timeout without a timeout SQE */
	bool multishot_accept; /* IORING_ACCEPT_MULTISHOT */
	bool multishot_recv;   /* IORING_RECV_MULTISHOT */
	bool buf_ring;         /* provided buffer rings */
	bool msg_ring;         /* IORING_OP_MSG_RING */
	bool async_cancel_fd;  /* cancel by fd / all (5.19+) */
	bool taskrun_flag;     /* IORING_SETUP_TASKRUN_FLAG (busy_poll_ns) */
	bool min_timeout;      /* IORING_FEAT_MIN_TIMEOUT (batch_wait_ns) */
	unsigned sq_entries, cq_entries;
} exec_io_features;

/* Creates a loop (opts may be NULL: defaults, backend AUTO). The loop is
 * not bound to a thread until it is first run; with SINGLE_ISSUER
 * (features.single_issuer) the thread that first runs it is then the only
 * one that may run it: run / run_once / sync_wait from another thread
 * return -EEXIST without starting anything (set no_single_issuer to move
 * a loop between threads). Returns 0 and *out, or a negative errno
 * (-ENOMEM; io_uring's error with backend URING; epoll's). */
int exec_io_loop_create(exec_io_loop **out, const exec_io_loop_options *opts);

/* Destroys an idle loop: nobody in run, no I/O in flight (every sender
 * completed), and nobody scheduling onto it any more. A thread that
 * scheduled onto the loop may still be waking it after its task has
 * already run there: destroy waits for such threads to leave the call.
 * Tasks and timers still queued run with EXEC_STOPPED (on the calling
 * thread). NULL-safe. */
void exec_io_loop_destroy(exec_io_loop *loop);

/* The loop's scheduler: schedule(), schedule_at/after, continues_on ...
 * Valid until destroy. flags: EXEC_SCHED_TIMED. */
exec_scheduler *exec_io_loop_scheduler(exec_io_loop *loop);

/* The loop behind a scheduler returned by exec_io_loop_scheduler, or NULL
 * for any other scheduler. */
exec_io_loop *exec_io_loop_from_scheduler(exec_scheduler *s);

/* "io_uring" or "epoll". */
const char *exec_io_loop_backend_name(const exec_io_loop *loop);
exec_io_backend exec_io_loop_backend(const exec_io_loop *loop);
const exec_io_features *exec_io_loop_features(const exec_io_loop *loop);

/* Runs tasks, timers and I/O completions on the calling thread until
 * exec_io_loop_stop is called (from any thread, or from a task). Returns 0,
 * or a negative errno when the kernel failed the loop (not expected). */
int exec_io_loop_run(exec_io_loop *loop);

/* Asks run to return after the current iteration. Safe from any thread;
 * the call itself touches the loop only until it returns. */
void exec_io_loop_stop(exec_io_loop *loop);

/* Runs until nothing is left: no ready task, no timer, no I/O in flight.
 * Returns 0 or a negative errno. */
int exec_io_loop_run_until_empty(exec_io_loop *loop);

/* Runs one iteration: ready tasks, due timers, completions that arrived;
 * when block is true and nothing was ready, sleeps first until something
 * arrives. Returns how many callbacks ran, or a negative errno. */
int exec_io_loop_run_once(exec_io_loop *loop, bool block);

/* Connects s (borrowed) to a receiver whose environment names the loop as
 * its scheduler, starts it and runs the loop on the calling thread until s
 * completes. Returns like exec_sync_wait (0, negative errno, EXEC_STOPPED);
 * r may be NULL. The operation state is on the stack when small, otherwise
 * allocated (-ENOMEM). */
int exec_io_loop_sync_wait(exec_io_loop *loop, const exec_sender *s,
			   exec_result *r);
/* The same with a stop token for the operation. */
int exec_io_loop_sync_wait_with_stop(exec_io_loop *loop, const exec_sender *s,
				     exec_stop_token token, exec_result *r);

/* Whether the calling thread is the one running the loop right now. */
bool exec_io_loop_on_thread(const exec_io_loop *loop);

/* How many I/O requests the loop has in flight now: operations submitted
 * whose last completion has not arrived yet, plus their pending cancels (a
 * multishot accept or recv counts once, a multishot recv waiting for a
 * ring buffer not at all; tasks, timers and the loop's own wake-up read do
 * not count). For leak checks: a server at rest returns to the
 * same count. Loop thread only (e.g. from a task submitted to the loop's
 * scheduler), or while nobody runs the loop. */
size_t exec_io_loop_inflight(const exec_io_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
