/* exec/fanout.h - shared machinery for algorithms with many children that
 * run at once and are joined (when_all, when_any).
 *
 * The sender holds N children. The operation state holds, in this order: an
 * exec_fanout_op header, one exec_fanout_rcv per child (what the child
 * completes to), an array of value slots, and every child's operation state.
 * Nothing is allocated at connect or start.
 *
 * The operation owns an in-place stop source; the children's environment is
 * the outer receiver's with the stop token replaced by that source's token.
 * At start a callback is registered on the outer receiver's stop token that
 * forwards a stop request to the internal source; it is deregistered before
 * the algorithm completes. The join waits for EVERY child: the algorithm's
 * finish function is called exactly once, by whichever thread delivered the
 * last arrival, after the forwarding callback has been deregistered.
 *
 * Children that complete inside start on the starting thread (the common
 * synchronous case) are counted without atomic operations; the starting
 * thread then settles them with one atomic subtraction.
 *
 * Gathering (when_all): while start's loop runs, such inline children store
 * their values straight into a buffer on the starting thread's stack
 * (o->direct), at their final positions. When every child completed inline
 * the result is delivered from there with no copy; otherwise start moves
 * the inline children's values into the slots before it settles, and the
 * last arrival delivers from the slots.
 *
 * Constant children (exec_sender.constant_values, e.g. just) are never
 * connected and take no room: start hands their values to their receivers
 * in child order, and when gathering stores them into the buffer itself. */
#ifndef EXEC_FANOUT_H
#define EXEC_FANOUT_H

#include "exec/sender.h"
#include "exec/stop_token.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Results of at most this many values are copied onto the completing
 * thread's stack before set_value, so they do not point into the operation
 * state. Larger ones are delivered from the operation state's value slots,
 * which stay valid until the receiver reuses that storage. */
#define EXEC_FANOUT_STACK_VALUES 16

typedef struct exec_fanout_child {
	exec_sender *sender;
	uint32_t slot;       /* index of its first value slot */
	uint32_t max_values; /* the child's max_values */
	uint32_t op_off;     /* offset of the child's op state */
	uint32_t nconstant;  /* how many values constant holds */
	/* A constant child's values (exec_sender_constant_values), or NULL.
	 * Such a child is never connected and has no op state: start hands
	 * its values to its receiver where it would have started it. */
	const exec_value *constant;
} exec_fanout_child;

typedef struct exec_fanout_sender {
	exec_sender base;
	size_t n;
	uint32_t rcv_off;   /* offset of the exec_fanout_rcv array */
	uint32_t slots_off; /* offset of the exec_value slots */
	uint32_t nslots;
	bool gather_on_stack; /* start lends inline children a stack buffer */
	exec_fanout_child children[];
} exec_fanout_sender;

typedef struct exec_fanout_op exec_fanout_op;

/* A child's receiver. slot and max_values are the child's entries from
 * the sender, copied at connect so that a completion finds them without
 * going through the sender. */
typedef struct exec_fanout_rcv {
	exec_receiver self;
	exec_fanout_op *parent;
	uint32_t slot;       /* index of its first value slot */
	uint32_t max_values; /* the child's max_values */
	uint32_t count;      /* values stored by this child (when_all) */
	bool on_stack;       /* stored into start's buffer (starting thread) */
} exec_fanout_rcv;

struct exec_fanout_op {
	exec_op op;
	exec_receiver *out;
	const exec_fanout_sender *s;
	void (*finish)(exec_fanout_op *o);
	exec_env env; /* what the children see */
	exec_stop_token outer; /* the receiver's stop token */
	exec_stop_source stop;
	exec_stop_callback outer_cb;
	AO_t remaining;       /* arrivals still expected (+1 held by start) */
	AO_t state;           /* 0, or the algorithm's outcome once claimed */
	size_t sync_arrived;  /* inline arrivals, starting thread only */
	int error;            /* written by the claimer */
	uint32_t count;       /* values stored by the claimer (when_any) */
	/* Gathering (when_all). direct: where inline children store values
	 * (start's stack buffer, or the slots); written by the starting
	 * thread, read by inline children and by finish. sparse: set when a
	 * child sent fewer values than its max_values, so finish must gather
	 * instead of copying straight. */
	exec_value *direct;
	AO_t sparse;
};

#ifndef __cplusplus /* internal to the library's C code */
/* Internal: the fan-out operation whose start loop is running on this
 * thread (innermost), or NULL. A child completing while this names its
 * parent completes inside that start call, on this thread. initial-exec:
 * a plain segment-relative load, also in the shared library. */
extern _Thread_local exec_fanout_op *exec_fanout_starting
	__attribute__((tls_model("initial-exec")));
#endif

/* Builds a fan-out sender over children[0..n) (consumed, also on failure;
 * the array itself stays the caller's). shared_slots: every child shares
 * one block of slots sized for the largest child (when_any); otherwise each
 * child gets its own slots, in child order (when_all). On failure returns
 * NULL with *err set: -EINVAL for a NULL array with n > 0 or a NULL child,
 * a child's build error, or -ENOMEM. */
exec_fanout_sender *exec_fanout_new(const exec_sender_ops *ops,
				    exec_sender **children, size_t n,
				    bool shared_slots, int *err);

/* Frees the children and the sender. */
void exec_fanout_destroy(exec_sender *s);

/* Initialises the header, the internal stop source and the children's
 * environment, and connects every child to its exec_fanout_rcv (with
 * rcv_ops). Returns 0 or the first child's connect error. */
int exec_fanout_connect(const exec_sender *s, exec_op *op, exec_receiver *out,
			const exec_receiver_ops *rcv_ops,
			void (*finish)(exec_fanout_op *o));

/* Start function: completes stopped at once (starting no child) when the
 * outer stop token has already fired; otherwise chains the stop tokens and
 * starts every child. exec_fanout_connect installs it, or for a
 * gather_on_stack sender a variant that also lends inline children a
 * stack buffer. */
void exec_fanout_start(exec_op *op);

/* Records one child's completion; the last one calls finish. The child
 * must have stored its result before. */
void exec_fanout_arrive(exec_fanout_op *o);

#ifndef __cplusplus
/* True when the caller runs inside o's start loop on the starting thread:
 * the arrival may then be recorded as o->sync_arrived++. */
static inline bool exec_fanout_inline(const exec_fanout_op *o)
{
	return exec_fanout_starting == o;
}
#endif

/* Claims the outcome for state (nonzero). Returns true for the first
 * claimer, which then requests stop on the internal source (the other
 * children see it) and may write error / count / slots. */
bool exec_fanout_claim(exec_fanout_op *o, AO_t state);

/* Receiver helpers. */
static inline exec_fanout_rcv *exec_fanout_rcv_from(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, exec_fanout_rcv, self);
}

static inline exec_value *exec_fanout_slots(exec_fanout_op *o)
{
	return (exec_value *)(void *)((char *)o + o->s->slots_off);
}

static inline exec_fanout_rcv *exec_fanout_rcvs(exec_fanout_op *o)
{
	return (exec_fanout_rcv *)(void *)((char *)o + o->s->rcv_off);
}

const exec_env *exec_fanout_env(exec_receiver *r);

#ifdef __cplusplus
}
#endif
#endif
