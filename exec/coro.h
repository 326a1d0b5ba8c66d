/* exec/coro.h - stackless coroutine tasks (protothread style) that await
 * any sender, and stackless generators.
 *
 * A stackless coroutine is a function that is re-entered at its last
 * resume point: a switch on a number stored in a frame the user declares.
 * The frame's first member is an exec_coro; the user's "locals" are the
 * other members (plain C locals do NOT survive an await or a yield):
 *
 *     typedef struct tick_frame {
 *         exec_coro co;                    // first member
 *         int i, n;                        // locals that live across awaits
 *         exec_sender *delay;
 *         EXEC_CORO_STORAGE(op, 176);      // inline op-state storage
 *     } tick_frame;
 *
 *     static int tick(exec_coro *co) {
 *         tick_frame *f = (tick_frame *)co;
 *         EXEC_CORO_BEGIN(co);
 *         for (f->i = 0; f->i < f->n; f->i++) {
 *             EXEC_CORO_TRY_AWAIT(co, exec_sender_ref(f->delay), f->op);
 *             act(f->i);
 *         }
 *         EXEC_CORO_RETURN(co, exec_value_i64(f->n));
 *         EXEC_CORO_END(co);
 *     }
 *
 * Rules of the macros: at most one await or yield per source line (the
 * line number is the resume point); no await or yield inside a switch
 * statement of your own (its case labels would capture the resume point);
 * plain locals are garbage after an await or yield.
 *
 * EXEC_CORO_AWAIT(co, sender, storage) consumes sender, connects it into
 * storage (an array member declared with EXEC_CORO_STORAGE) when it fits,
 * else into memory from the task's environment allocator, and starts it.
 * If it completes at once the function just continues (no recursion, so a
 * loop of a million inline awaits runs in constant stack); otherwise the
 * function returns and is re-entered after the await, on the thread where
 * the sender completed (so awaiting exec_schedule(pool) continues on the
 * pool; a completion on another thread that beats the function's return
 * from the await waits for that return, a few instructions, so an awaited
 * sender's start must not itself wait for its completion call to return
 * on another thread). Then exec_coro_status(co) says how it ended (0,
 * negative errno, EXEC_STOPPED) and exec_coro_value(co) is its first value
 * (exec_coro_value_count(co) says how many it sent; the others are
 * dropped). The first value is kept in the await's storage, which the
 * finished operation no longer uses, so it stays readable until the next
 * await; the awaited sender and any allocated storage are released at the
 * next await or when the task ends. Storage must hold at least an
 * exec_value (24 bytes); smaller storage counts as "does not fit".
 *
 * A stackless task is a sender (exec_coro_sender): its operation state IS
 * the frame, so connecting allocates nothing and a suspended task costs its
 * frame and nothing else. sizeof(exec_coro) is 64 bytes on LP64 targets; a
 * frame awaiting exec_schedule_after (176 bytes of op state) with 16
 * bytes of locals is 256 bytes (examples/ticker.c). Connecting acquires
 * nothing (a connected task that never starts may be dropped). The task
 * completes with the value given to EXEC_CORO_RETURN, no value at
 * EXEC_CORO_END, or the error / stopped of EXEC_CORO_RETURN_ERROR /
 * EXEC_CORO_RETURN_STOPPED / EXEC_CORO_RETURN_STATUS / EXEC_CORO_TRY_AWAIT,
 * on the thread where its last await completed (or inside start). The
 * receiver's environment (stop token, scheduler, allocator) is forwarded to
 * every await unchanged, so stopping the task stops the pending await;
 * exec_coro_stop_token shows the token to the function.
 *
 * A stackless generator is a frame driven by exec_coro_next: each call runs
 * the function to its next EXEC_CORO_YIELD. It owns no memory, so
 * abandoning one halfway is just dropping the frame (memory the user's
 * function acquired is the user's to release). Generators cannot await
 * (the await completes at once with -EPERM). */
#ifndef EXEC_CORO_H
#define EXEC_CORO_H

#include <errno.h>
#include <stdint.h>

#include "exec/error.h"
#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_coro exec_coro;

/* What a coroutine function returns (the macros return these). */
enum {
	EXEC_CORO_DONE_ = 0,
	EXEC_CORO_SUSPENDED_ = 1,
	EXEC_CORO_YIELDED_ = 2,
};

typedef int (*exec_coro_fn)(exec_coro *co);

/* The header of every frame (64 bytes on LP64). Treat the members as
 * private; use the accessors below. */
struct exec_coro {
	exec_op op;            /* the task's operation state starts here */
	exec_receiver rcv;     /* receives the pending await's completion */
	exec_coro_fn fn;
	exec_receiver *out;    /* the task's receiver (NULL: a generator) */
	exec_sender *awaited;  /* the last await's sender, until released */
	void *opmem;           /* its op state; then its first value.
				  Generators: where the yield writes */
	uint32_t point;        /* resume point: 0 start, a line, or FINISHED */
	int32_t status;        /* outcome of the last await */
	unsigned int flag;     /* await handshake (atomic) */
	uint16_t nvalues;      /* values the last await sent */
	uint16_t bits;         /* EXEC_CORO_HEAP_ */
};

#define EXEC_CORO_FINISHED_ UINT32_MAX
#define EXEC_CORO_HEAP_ 1u

/* Declares inline storage for awaited operation states in a frame. */
#define EXEC_CORO_STORAGE(name, bytes) _Alignas(16) unsigned char name[bytes]

/* Falling into a resume point's case label is the point of the design. */
#if defined(__has_attribute)
#if __has_attribute(fallthrough)
#define EXEC_CORO_FALLTHROUGH_ __attribute__((fallthrough))
#endif
#endif
#ifndef EXEC_CORO_FALLTHROUGH_
#define EXEC_CORO_FALLTHROUGH_ ((void)0)
#endif

#define EXEC_CORO_BEGIN(co)       \
	switch ((co)->point) {    \
	case 0:

#define EXEC_CORO_AWAIT(co, sender, storage)                                      \
	do {                                                                      \
		(co)->point = __LINE__;                                           \
		if (exec_coro_await_((co), (sender), (storage), sizeof(storage))) \
			return EXEC_CORO_SUSPENDED_;                              \
		EXEC_CORO_FALLTHROUGH_;                                           \
	case __LINE__:;                                                           \
	} while (0)

/* Awaits with the op state always allocated (no inline storage). */
#define EXEC_CORO_AWAIT_ALLOC(co, sender)                      \
	do {                                                   \
		(co)->point = __LINE__;                        \
		if (exec_coro_await_((co), (sender), NULL, 0)) \
			return EXEC_CORO_SUSPENDED_;           \
		EXEC_CORO_FALLTHROUGH_;                        \
	case __LINE__:;                                        \
	} while (0)

/* Awaits, and ends the task with the await's error or stopped if it did
 * not complete with a value (what co_await does in a C++ task). */
#define EXEC_CORO_TRY_AWAIT(co, sender, storage)                                  \
	do {                                                                      \
		(co)->point = __LINE__;                                           \
		if (exec_coro_await_((co), (sender), (storage), sizeof(storage))) \
			return EXEC_CORO_SUSPENDED_;                              \
		EXEC_CORO_FALLTHROUGH_;                                           \
	case __LINE__:                                                            \
		if ((co)->status != 0)                                            \
			return exec_coro_finish_((co), (co)->status, NULL);       \
	} while (0)

/* Generators: hands v (an exec_value) to exec_coro_next's caller. Inside a
 * task (not a generator) it ends the task with -EINVAL. Inline: a yield
 * is one store and a return. */
#define EXEC_CORO_YIELD(co, v)                                              \
	do {                                                                \
		(co)->point = __LINE__;                                     \
		if ((co)->out)                                              \
			return exec_coro_finish_((co), -EINVAL, NULL);      \
		*(exec_value *)(co)->opmem = (v);                           \
		return EXEC_CORO_YIELDED_;                                  \
	case __LINE__:;                                                     \
	} while (0)

/* Ends the task with one value (an exec_value). */
#define EXEC_CORO_RETURN(co, v)                           \
	do {                                              \
		exec_value exec_coro_v_ = (v);            \
		return exec_coro_finish_((co), 0, &exec_coro_v_); \
	} while (0)
/* Ends the task with no value. */
#define EXEC_CORO_RETURN_VOID(co) return exec_coro_finish_((co), 0, NULL)
/* Ends the task with err (a negative errno; anything else is -EINVAL). */
#define EXEC_CORO_RETURN_ERROR(co, err) \
	return exec_coro_finish_((co), (err) < 0 ? (err) : -EINVAL, NULL)
#define EXEC_CORO_RETURN_STOPPED(co) return exec_coro_finish_((co), EXEC_STOPPED, NULL)
/* Ends the task by status: 0 no value, EXEC_STOPPED stopped, a negative
 * errno that error (exec_coro_status(co) passes an await's outcome on). */
#define EXEC_CORO_RETURN_STATUS(co, st)                                        \
	return exec_coro_finish_((co),                                         \
				 (st) == 0 || (st) == EXEC_STOPPED || (st) < 0  \
					 ? (st)                                 \
					 : -EINVAL,                             \
				 NULL)

#define EXEC_CORO_END(co) \
	}                 \
	return exec_coro_finish_((co), 0, NULL)

/* Writes the user's members of a freshly connected frame (the header is
 * already set up); arg is the one given to exec_coro_sender. */
typedef void (*exec_coro_init_fn)(exec_coro *co, void *arg);

/* A sender running fn in a fresh frame per connect: the operation state is
 * the frame (frame_size bytes, at least sizeof(exec_coro); frame_align 0
 * means 16). init(co, arg) fills the user's members at connect (may be
 * NULL); arg must outlive the sender. max_values is 1. Returns
 * exec_sender_invalid(-EINVAL) for bad arguments, (-ENOMEM) without
 * memory. */
exec_sender *exec_coro_sender(exec_coro_fn fn, size_t frame_size, size_t frame_align,
			      exec_coro_init_fn init, void *arg);

/* exec_coro_sender for a frame type. */
#define EXEC_CORO_SENDER(fn, frame_type, init, arg) \
	exec_coro_sender((fn), sizeof(frame_type), _Alignof(frame_type), (init), (arg))

/* Tasks without a sender: constructs the header in frame (the frame must
 * stay put until completion, like any op state) for receiver r; set your
 * own members, then exec_start(&co->op). What exec_coro_sender's connect
 * does. */
void exec_coro_connect(exec_coro *co, exec_coro_fn fn, exec_receiver *r);

/* Generators: prepares a frame (the header; set your own members after)
 * and pulls the next value. exec_coro_next returns 1 with *v set, 0 once
 * the function has ended (and on every later call). */
void exec_coro_init(exec_coro *co, exec_coro_fn fn);
/* Internal: the function of an ended generator (exec_coro_next puts it
 * in place; it returns at once). */
int exec_coro_finished_(exec_coro *co);
static inline int exec_coro_next(exec_coro *co, exec_value *v)
{
	/* The yield stores straight into *v (or a scratch slot): no copy
	 * through a local, whose 24-byte reload would wait on the yield's
	 * stores. opmem is read only inside this call. */
	exec_value scratch;
	co->opmem = v ? v : &scratch;
	if (co->fn(co) == EXEC_CORO_YIELDED_)
		return 1;
	/* Ended: later calls run a function that returns at once, so the
	 * resume path needs no "finished?" test of its own. */
	co->fn = exec_coro_finished_;
	co->point = EXEC_CORO_FINISHED_;
	return 0;
}

/* After an await: 0, negative errno, or EXEC_STOPPED. */
static inline int exec_coro_status(const exec_coro *co)
{
	return co->status;
}

/* After an await: its first value (type EXEC_VALUE_NONE when it sent
 * none), valid until the next await. */
const exec_value *exec_coro_value(const exec_coro *co);

static inline size_t exec_coro_value_count(const exec_coro *co)
{
	return co->nvalues;
}

/* Whether the last await's op state did not fit its storage and came from
 * the allocator (for tests and tuning EXEC_CORO_STORAGE sizes). */
static inline int exec_coro_await_allocated(const exec_coro *co)
{
	return (co->bits & EXEC_CORO_HEAP_) != 0;
}

/* The task's stop token (never-stop for generators). */
exec_stop_token exec_coro_stop_token(exec_coro *co);

/* Internals used by the macros. */
int exec_coro_await_(exec_coro *co, exec_sender *s, void *storage, size_t size);
int exec_coro_finish_(exec_coro *co, int status, const exec_value *v);

#ifdef __cplusplus
}
#endif
#endif
