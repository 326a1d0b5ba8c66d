/* exec/fiber.h - stackful coroutine tasks (fibers) that await any sender,
 * and fiber generators.
 *
 * A fiber task runs fn(arg) on its own stack (exec/stack.h). Inside it,
 * exec_await(sender, &result) connects the sender into storage on the
 * fiber's own stack (nothing is allocated), starts it and switches away;
 * the completion switches back - on the thread where it completed - and
 * exec_await returns. Straight-line C that moves between threads:
 *
 *     int64_t task(void *arg) {
 *         exec_await_take(exec_schedule(pool), NULL);        // now on the pool
 *         exec_result r;
 *         if (exec_await_take(read_sender, &r) != 0)         // resumed by the ring
 *             return exec_fiber_return_error(r.error);
 *         return exec_value_as_i64(&r.values[0]);
 *     }
 *     exec_sender *s = exec_fiber_sender(task, NULL, NULL);  // a sender
 *
 * The task is itself a sender: it completes with one i64 value (fn's return
 * value), or with the error / stopped recorded by exec_fiber_return_error /
 * exec_fiber_return_stopped. So tasks compose with when_all and every other
 * algorithm; a task awaiting when_all of child tasks is structured
 * concurrency (the children finish before the await returns).
 *
 * Threads: start() allocates the stack and runs the fiber on the starting
 * thread until its first await that does not complete at once. After that
 * the fiber runs on whichever thread completed what it awaited; the task's
 * own completion is delivered there, from that thread's stack (never from
 * the fiber's), after the fiber's stack has been given back.
 *
 * A completion that arrives on another thread while the fiber is still
 * switching out waits (spinning briefly) until the switch is done, then
 * resumes the fiber on its own thread: after `await schedule(pool)` the
 * code always runs on the pool. A completion inside start, on the fiber's
 * own thread, costs no switch at all.
 *
 * Thread-locals: a function that awaits may continue on another thread,
 * but the compiler may keep the address of a thread-local variable, errno,
 * or the result of pthread_self() (declared const) across the call. Read
 * them after an await through a function of another translation unit or
 * one with an empty volatile asm (see tests/exec/fiber_test.c thread_now).
 *
 * Sanitizers: each switch is announced to AddressSanitizer and (as a TSan
 * fiber) to ThreadSanitizer; under TSan at most about 8,000 fibers may
 * exist at once (each is a TSan thread). Stacks are registered with
 * valgrind when its header is present at build time.
 *
 * Cancellation: the task's stop token is the one of its receiver's
 * environment; exec_fiber_stop_token() shows it inside, and each await's
 * receiver environment carries it, so a stop request makes the awaited
 * sender complete stopped and exec_await return EXEC_STOPPED. The
 * environment's scheduler is the fiber's current scheduler: the receiver's
 * at start, then the one named by the last exec_fiber_transfer.
 *
 * Errors: a task whose stack cannot be allocated completes with -ENOMEM
 * (see exec/stack.h for the guarded-stack budget) or -EINVAL. */
#ifndef EXEC_FIBER_H
#define EXEC_FIBER_H

#include <stdbool.h>
#include <stdint.h>

#include "algorithms/sync_wait.h"
#include "exec/scheduler.h"
#include "exec/sender.h"
#include "exec/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t (*exec_fiber_fn)(void *arg);

typedef struct exec_fiber_options {
	size_t stack_size;    /* 0: EXEC_STACK_DEFAULT_SIZE (64 KiB) */
	unsigned stack_flags; /* EXEC_STACK_UNGUARDED for huge counts */
} exec_fiber_options;

/* A sender that runs fn(arg) as a fiber per start. opts may be NULL
 * (defaults) and is copied. fn and arg must outlive every run. Returns
 * exec_sender_invalid(-EINVAL) for a NULL fn or bad options. Connect
 * allocates nothing; start allocates the stack (cached per thread). */
exec_sender *exec_fiber_sender(exec_fiber_fn fn, void *arg,
			       const exec_fiber_options *opts);

/* Inside a fiber task: runs s (borrowed; it must stay alive until the call
 * returns) to completion and returns 0 (value), the negative errno of an
 * error, or EXEC_STOPPED. r (may be NULL) receives the kind and the values;
 * call exec_result_clear(r) when done if more than
 * EXEC_RESULT_INLINE_VALUES values may arrive. The operation state lives on
 * the fiber's stack (size the stack for it). Returns -EPERM outside a fiber
 * task (generators included), -EINVAL for NULL s, or s's connect error.
 * Call it from the task's own code only: from a callback that an awaited
 * sender's start runs on the fiber (a then function of a sender being
 * awaited) it returns -EDEADLK, since start must return before the fiber
 * switches away. */
int exec_await(const exec_sender *s, exec_result *r);

/* exec_await, then drops the caller's reference to s (consumed in every
 * case): for one-shot senders built in place. */
int exec_await_take(exec_sender *s, exec_result *r);

/* Awaits exec_schedule(sched) and makes sched the current scheduler of the
 * fiber (the one named to later awaits). Returns like exec_await. */
int exec_fiber_transfer(exec_scheduler *sched);

/* True inside a fiber task or generator running on this thread. */
bool exec_in_fiber(void);

/* Inside a fiber task: its stop token / current scheduler (never-stop /
 * NULL outside). */
exec_stop_token exec_fiber_stop_token(void);
exec_scheduler *exec_fiber_scheduler(void);

/* Inside a fiber task: make the task complete with err (negative errno) or
 * stopped once fn returns. Both return 0, for `return exec_fiber_...;`. */
int64_t exec_fiber_return_error(int err);
int64_t exec_fiber_return_stopped(void);

/* Installs a process-wide SIGSEGV / SIGBUS handler that, when a fiber
 * (task or generator) overflows into the guard page of its stack, writes
 * "cexec: stack overflow in fiber (...)" to stderr, puts the previous
 * handler back and lets the fault happen again, so the process still dies
 * by SIGSEGV (or reaches the previous handler). Faults elsewhere go
 * straight to the previous handler the same way. The handler runs on an
 * alternate signal stack, which each thread gets (64 KiB, freed at thread
 * exit) when it first runs a fiber after this call, unless it has one.
 * Optional: without it, an overflow still faults in the guard page.
 * Returns 0 or a negative errno. Idempotent. */
int exec_fiber_overflow_handler_install(void);

/* ---- generators: pull values one at a time ----
 *
 * fn(g, arg) runs on its own stack and hands values to the consumer with
 * exec_fiber_gen_yield; the consumer pulls with exec_fiber_gen_next, which
 * runs the generator on the consumer's thread until its next yield. A
 * generator is synchronous: it may not exec_await (-EPERM). The handle
 * lives on the generator's stack; exec_fiber_gen_free gives the stack back
 * whether the generator finished or not. Freeing one that is suspended in
 * a yield resumes it once with yield returning EXEC_STOPPED, so it can
 * release what it holds and return; if it yields again instead, its stack
 * is discarded anyway. */
typedef struct exec_fiber_gen exec_fiber_gen;
typedef void (*exec_fiber_gen_fn)(exec_fiber_gen *g, void *arg);

/* Creates a generator (nothing runs yet). Returns 0 and *out, -EINVAL, or
 * -ENOMEM (no stack). */
int exec_fiber_gen_create(exec_fiber_gen **out, exec_fiber_gen_fn fn, void *arg,
			  const exec_fiber_options *opts);

/* Runs the generator to its next yield. Returns 1 with *v set, 0 when fn
 * has returned (and on every later call), -EINVAL for NULL g, -EBUSY when
 * called from inside the generator itself. */
int exec_fiber_gen_next(exec_fiber_gen *g, exec_value *v);

/* Inside the generator: hands v to the consumer and suspends. Returns 0
 * when resumed by exec_fiber_gen_next, EXEC_STOPPED when the generator is
 * being freed (return from fn then). */
int exec_fiber_gen_yield(exec_fiber_gen *g, exec_value v);

/* Frees the generator and its stack (see above). NULL-safe. Not from
 * inside the generator. */
void exec_fiber_gen_free(exec_fiber_gen *g);

#ifdef __cplusplus
}
#endif
#endif
