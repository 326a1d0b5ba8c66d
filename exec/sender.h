/* exec/sender.h - senders: immutable, reusable descriptions of work.
 *
 * Ownership, once for the whole library:
 *   - Building functions return a sender with one reference owned by the
 *     caller. They never return NULL: on bad arguments or exhausted memory
 *     they return a static sender that completes with -EINVAL or -ENOMEM
 *     (exec_sender_build_error tells which, before running anything).
 *   - Composition consumes: an algorithm takes over the references of the
 *     senders passed to it (also when it fails). To use one sender in two
 *     places, take another reference with exec_sender_ref.
 *   - exec_sender_free drops a reference; the last one frees the whole tree.
 *   - A built sender is immutable: it may be connected any number of times,
 *     from any number of threads at once. It must outlive every operation
 *     connected from it (most I/O senders excepted: io/io.h).
 *
 * Writing a sender: allocate it with exec_sender_new (the base struct first
 * in your own struct), set op_size / op_align / max_values, and provide
 * connect and destroy. examples/custom_sender.c shows one. */
#ifndef EXEC_SENDER_H
#define EXEC_SENDER_H

#include <atomic_ops.h>
#include <stddef.h>
#include <stdint.h>

#include "exec/operation.h"
#include "exec/receiver.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_sender exec_sender;

typedef struct exec_sender_ops {
	const char *name;
	/* Constructs the operation state in op (op_size bytes, op_align
	 * aligned) for receiver r. Returns 0, or a negative errno when the
	 * sender cannot run with this receiver (nothing is constructed). */
	int (*connect)(const exec_sender *s, exec_op *op, exec_receiver *r);
	/* Drops the children's references and frees s. */
	void (*destroy)(exec_sender *s);
} exec_sender_ops;

struct exec_sender {
	const exec_sender_ops *ops;
	AO_t refs;           /* 0: a static sender, never freed */
	uint32_t op_size;    /* bytes of operation state */
	uint32_t op_align;   /* alignment of the operation state */
	uint32_t max_values; /* most values sent on the value channel */
	int32_t build_error; /* nonzero only in the static invalid senders */
	/* NULL for most senders. Set (when built) by a sender every operation
	 * of which completes inside start, on the starting thread, by
	 * set_value with these same max_values values, without reading the
	 * receiver or its environment (just). Algorithms read it when they
	 * are built and then hand the values to their own receiver where
	 * they would have connected and started the sender: one operation
	 * and two indirect calls fewer per run. Must stay valid while the
	 * sender lives. Leaving it NULL is always correct. */
	const exec_value *constant_values;
};

/* The default alignment of operation states. */
#define EXEC_OP_ALIGN 16u

/* Upper bound on an operation state built by the library: keeps size
 * arithmetic far away from overflow. */
#define EXEC_OP_SIZE_MAX (UINT32_C(1) << 30)

static inline size_t exec_sender_op_size(const exec_sender *s)
{
	return s->op_size;
}

static inline size_t exec_sender_op_align(const exec_sender *s)
{
	return s->op_align;
}

/* Connects s to r in storage (exec_sender_op_size bytes aligned to
 * exec_sender_op_align). Returns 0, -EINVAL for NULL arguments or misaligned
 * storage, or the sender's own connect error. Allocates nothing. */
int exec_connect(const exec_sender *s, void *storage, exec_receiver *r);

/* Takes another reference (returns s). NULL-safe. */
exec_sender *exec_sender_ref(exec_sender *s);

/* Drops a reference; the last one frees the sender and its children.
 * NULL-safe; static senders are never freed. */
void exec_sender_free(exec_sender *s);

/* 0, or the error of a static invalid sender returned by a failed build. */
int exec_sender_build_error(const exec_sender *s);

/* A constant sender's values (see constant_values above), their count in
 * *n; NULL (and *n 0) for every other sender. */
static inline const exec_value *exec_sender_constant_values(const exec_sender *s,
							     size_t *n)
{
	*n = s->constant_values ? s->max_values : 0;
	return s->constant_values;
}

/* The static sender that completes with err (used for failed builds). Only
 * -EINVAL and -ENOMEM have their own; other codes map to -EINVAL. */
exec_sender *exec_sender_invalid(int err);

/* For sender implementations: allocates size bytes (at least
 * sizeof(exec_sender)) zeroed, with ops set, one reference, op_align
 * EXEC_OP_ALIGN, max_values 0. NULL when out of memory. */
void *exec_sender_new(const exec_sender_ops *ops, size_t size);

/* For sender implementations: frees memory from exec_sender_new. */
void exec_sender_delete(exec_sender *s);

/* For sender implementations: appends a child block of (size, align) to a
 * layout in progress and returns the child's offset. */
static inline uint32_t exec_layout_add(uint32_t *size, uint32_t *align,
				       size_t child_size, size_t child_align)
{
	if (child_align > *align)
		*align = (uint32_t)child_align;
	size_t off = (*size + child_align - 1) & ~(child_align - 1);
	size_t end = off + child_size;
	*size = end > EXEC_OP_SIZE_MAX ? EXEC_OP_SIZE_MAX : (uint32_t)end;
	return (uint32_t)off;
}

#ifdef __cplusplus
}
#endif
#endif
