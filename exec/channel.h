/* exec/channel.h - a bounded multi-producer multi-consumer channel of
 * exec_values whose send and receive are senders.
 *
 * Stackless tasks, fibers and plain sender code pass items through it
 * without a mutex or condition variable of their own: awaiting
 * exec_channel_recv parks the caller until an item arrives; awaiting
 * exec_channel_send parks it while the buffer is full.
 *
 *   - exec_channel_send(ch, v) completes with no value once v is in the
 *     buffer or handed to a waiting receiver; it waits while the buffer is
 *     full (capacity 0: until a receiver takes v - a rendezvous).
 *   - exec_channel_recv(ch) completes with one value, the oldest item,
 *     waiting while the channel is empty.
 *   - Items are delivered in send order per channel (FIFO among waiting
 *     senders and among waiting receivers too).
 *   - exec_channel_close: pending and later sends complete with -EPIPE
 *     (their items are not delivered); receivers drain what is buffered,
 *     then complete with -EPIPE. -EPIPE from recv thus means "end of
 *     stream".
 *   - A stop request to a waiting send or recv completes it stopped and
 *     leaves the channel untouched (nothing sent, nothing taken).
 *
 * Threads: a waiting operation completes on the thread whose send, recv,
 * close or stop request released it (through exec_trampoline_run, so
 * chains of wake-ups do not grow the stack); one that need not wait
 * completes inside start. Connect allocates nothing; the channel's lock is
 * internal and held only for a few pointer moves, never across a
 * completion. Values are copied (spans and pointers are borrowed, as
 * everywhere). */
#ifndef EXEC_CHANNEL_H
#define EXEC_CHANNEL_H

#include <stddef.h>

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_channel exec_channel;

/* Creates a channel buffering up to capacity items (0: rendezvous).
 * Returns 0 and *out, -EINVAL (capacity over 2^24, NULL out) or -ENOMEM. */
int exec_channel_create(exec_channel **out, size_t capacity);

/* Frees the channel and the items still buffered. No operation may be
 * waiting on it (close it and let them complete first): returns -EBUSY
 * and frees nothing if one is. NULL-safe (returns 0). */
int exec_channel_destroy(exec_channel *ch);

/* Closes the channel (see above). Idempotent; safe from any thread;
 * completes the operations it releases before returning. */
void exec_channel_close(exec_channel *ch);

/* Items buffered right now (a snapshot). */
size_t exec_channel_size(exec_channel *ch);

/* The send and receive senders. The channel must outlive every operation
 * connected from them. Builders: exec_sender_invalid(-EINVAL) for a NULL
 * channel, (-ENOMEM) without memory. */
exec_sender *exec_channel_send(exec_channel *ch, exec_value v);
exec_sender *exec_channel_recv(exec_channel *ch);

/* A send that reads its item from *slot when it starts, so one sender can
 * be built once and awaited in a loop (a task sets the slot, a member of
 * its frame, before each await) with no allocation per item. slot must
 * outlive the sender's operations; -EINVAL sender for NULL arguments. */
exec_sender *exec_channel_send_from(exec_channel *ch, const exec_value *slot);

#ifdef __cplusplus
}
#endif
#endif
