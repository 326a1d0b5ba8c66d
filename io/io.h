/* io/io.h - I/O senders on an exec_io_loop (schedulers/io_uring.h).
 *
 * Each builder takes the loop the operation runs on and the operation's
 * arguments, and returns a sender (never NULL; -EINVAL sender on bad input,
 * -ENOMEM when out of memory). The sender is immutable and reusable: it
 * may be connected many times, but the buffers and fds it names are the
 * same each time. Connect and start allocate nothing: the operation state
 * is the io_uring request itself (its address is the user_data).
 * Connect copies what the operation needs out of the sender, so - unlike
 * senders in general - an I/O sender may be freed as soon as connect
 * returned, except exec_io_connect, exec_io_openat and exec_io_statx
 * (their address / path live in the sender). A server need not keep a
 * connection's senders while its operations run.
 *
 * Completion (always on the loop thread):
 *   value    one i64: the result (bytes transferred, the new fd, 0 ...);
 *            recv_provided sends a span instead, timeout sends nothing;
 *   error    the negative errno (-ECONNRESET, -EMFILE, -EAGAIN ...). Short
 *            reads and writes are values: use read_exactly / write_all;
 *   stopped  the receiver's stop token fired before the operation finished.
 * A negative or closed fd is not refused when building: the operation
 * completes with -EBADF, as the system call would (both backends).
 * Stop: a stop request submits an async cancel; the sender completes only
 * after the kernel has returned both the operation's completion and the
 * cancel's, so the buffer may be freed or reused as soon as it completes.
 * An operation that finished anyway reports its real result.
 * Starting from a thread other than the loop thread hands the submission
 * to the loop (remote queue); the loop must be running for it to proceed.
 *
 * Example: one echo round on a connected socket
 *   exec_sender *rd = exec_io_recv(loop, fd, buf, sizeof buf, 0);
 *   exec_result r;
 *   if (exec_io_loop_sync_wait(loop, rd, &r) == 0) {
 *           size_t n = (size_t)exec_value_as_i64(&r.values[0]);
 *           exec_sender *wr = exec_io_write_all(loop, fd, buf, n);
 *           exec_io_loop_sync_wait(loop, wr, NULL);
 *           exec_sender_free(wr);
 *   }
 *   exec_sender_free(rd);
 * A server builds its per-connection senders once after accept and
 * reconnects them for every round (into storage it owns; see
 * exec_sender_op_size), completing into its own receiver. */
#ifndef EXEC_IO_IO_H
#define EXEC_IO_IO_H

#include <fcntl.h>
#include <linux/stat.h> /* struct statx, also without _GNU_SOURCE */
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "exec/sender.h"
#include "schedulers/io_uring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* offset -1: the file position (and for pipes and sockets). */
exec_sender *exec_io_read(exec_io_loop *loop, int fd, void *buf, size_t len,
			  int64_t offset);
exec_sender *exec_io_write(exec_io_loop *loop, int fd, const void *buf,
			   size_t len, int64_t offset);
/* iov (iovcnt entries) must stay valid while an operation runs. */
exec_sender *exec_io_readv(exec_io_loop *loop, int fd, const struct iovec *iov,
			   unsigned iovcnt, int64_t offset);
exec_sender *exec_io_writev(exec_io_loop *loop, int fd, const struct iovec *iov,
			    unsigned iovcnt, int64_t offset);

/* Sockets. send adds MSG_NOSIGNAL (a peer reset is -EPIPE, not SIGPIPE). */
exec_sender *exec_io_recv(exec_io_loop *loop, int fd, void *buf, size_t len,
			  int flags);
exec_sender *exec_io_send(exec_io_loop *loop, int fd, const void *buf,
			  size_t len, int flags);
exec_sender *exec_io_recvmsg(exec_io_loop *loop, int fd, struct msghdr *msg,
			     int flags);
exec_sender *exec_io_sendmsg(exec_io_loop *loop, int fd,
			     const struct msghdr *msg, int flags);
/* addr / addrlen may be NULL. flags: SOCK_NONBLOCK, SOCK_CLOEXEC. Value:
 * the new fd. The caller owns it. */
exec_sender *exec_io_accept(exec_io_loop *loop, int fd, struct sockaddr *addr,
			    socklen_t *addrlen, int flags);
/* addr is copied into the sender (up to sizeof(struct sockaddr_storage)). */
exec_sender *exec_io_connect(exec_io_loop *loop, int fd,
			     const struct sockaddr *addr, socklen_t addrlen);
exec_sender *exec_io_shutdown(exec_io_loop *loop, int fd, int how);
exec_sender *exec_io_close(exec_io_loop *loop, int fd);

/* Files. path is copied into the sender. Value of openat: the fd. */
exec_sender *exec_io_openat(exec_io_loop *loop, int dirfd, const char *path,
			    int flags, mode_t mode);
/* flags: 0 or IORING_FSYNC_DATASYNC (1). */
exec_sender *exec_io_fsync(exec_io_loop *loop, int fd, unsigned flags);
/* Fills *out (which must stay valid while the operation runs). Value 0. */
exec_sender *exec_io_statx(exec_io_loop *loop, int dirfd, const char *path,
			   int flags, unsigned mask, struct statx *out);
/* One-shot poll: value = the revents (POLLIN ...). */
exec_sender *exec_io_poll(exec_io_loop *loop, int fd, unsigned events);

/* Completes with no value after delay_ns (a timer of the loop, never
 * early); stopped when cancelled first. */
exec_sender *exec_io_timeout(exec_io_loop *loop, int64_t delay_ns);

/* Helpers built from single reads / writes: loop until len bytes moved.
 * Value: len (i64). read_exactly: -EPIPE when the end of file / a closed
 * peer comes first (bytes read so far are in buf). Stopped as above (the
 * bytes of the current piece may or may not have moved). Use offset -1
 * for sockets and pipes. */
exec_sender *exec_io_read_exactly(exec_io_loop *loop, int fd, void *buf,
				  size_t len, int64_t offset);
exec_sender *exec_io_write_all(exec_io_loop *loop, int fd, const void *buf,
			       size_t len, int64_t offset);
/* write_all for sockets: sends (MSG_NOSIGNAL added, as exec_io_send)
 * until len bytes went. Value: len. A send of 0 bytes midway is -EIO. */
exec_sender *exec_io_send_all(exec_io_loop *loop, int fd, const void *buf,
			      size_t len, int flags);

/* Multishot accept: calls fn(ctx, fd) on the loop thread for each accepted
 * connection (fd >= 0; the callee owns it). The sender completes:
 *   stopped  when its stop token fires (after the kernel let go of it),
 *   error    when accept fails (-EMFILE, -ENFILE, -ENOMEM ...); the caller
 *            may pause and start it again,
 *   value    never (accepting goes on until stopped or an error).
 * Uses IORING_ACCEPT_MULTISHOT when the kernel has it, repeated single
 * accepts otherwise (and on epoll). flags as for exec_io_accept. */
typedef void (*exec_io_accept_fn)(void *ctx, int fd);
exec_sender *exec_io_accept_multishot(exec_io_loop *loop, int fd, int flags,
				      exec_io_accept_fn fn, void *ctx);

/* ---- provided buffer rings (an idle connection holds no buffer) ---- */

typedef struct exec_io_buf_ring exec_io_buf_ring;

/* count buffers (a power of two, <= 32768) of size bytes each, in group
 * group_id (unique per loop). Call on the loop thread (or before the loop
 * runs). Returns 0 and *out or a negative errno. */
int exec_io_buf_ring_create(exec_io_loop *loop, unsigned count, size_t size,
			    unsigned short group_id, exec_io_buf_ring **out);
/* All buffers must be back (no receive in flight using the ring). */
void exec_io_buf_ring_destroy(exec_io_buf_ring *ring);
/* Returns a buffer received by recv_provided or recv_multishot (ptr = the
 * span's ptr) to the ring; re-arms the multishot recvs that wait for one.
 * On the loop thread only. */
void exec_io_buf_ring_recycle(exec_io_buf_ring *ring, void *ptr);
size_t exec_io_buf_ring_buffer_size(const exec_io_buf_ring *ring);
/* Makes the whole pool resident now (writes one byte per page before any
 * buffer is handed out) instead of page by page as receives first use the
 * buffers - the ring hands them out in turn, so without this RSS grows
 * until it has gone round once. For servers that want their memory up
 * front, and for measuring memory per connection. Call right after create,
 * on the loop thread (or before the loop runs). NULL-safe. */
void exec_io_buf_ring_prefault(exec_io_buf_ring *ring);

/* A recv that picks its buffer from ring when data arrives. Value: one
 * span (ptr, len) in a ring buffer that the receiver owns until it passes
 * ptr to exec_io_buf_ring_recycle; len 0 (ptr NULL) means the peer closed.
 * -ENOBUFS when the ring is empty. */
exec_sender *exec_io_recv_provided(exec_io_loop *loop, int fd,
				   exec_io_buf_ring *ring, int flags);

/* Multishot recv: calls fn(ctx, buf, len) on the loop thread for each
 * piece received (len > 0, in order), in a buffer of ring that the callee
 * owns until it passes buf to exec_io_buf_ring_recycle. The sender
 * completes:
 *   value    one i64, 0: the peer closed (end of stream),
 *   error    the recv failed (-ECONNRESET, -EBADF ...),
 *   stopped  its stop token fired (an async cancel; it completes only
 *            after the kernel's last completion of the recv and the
 *            cancel's arrived; pieces received before that are still
 *            delivered to fn).
 * When the kernel ends the multishot without an error it is armed again;
 * when the ring runs dry (ENOBUFS) it waits for the next
 * exec_io_buf_ring_recycle and then re-arms, so nothing is lost. Uses
 * IORING_RECV_MULTISHOT when the kernel has it (features.multishot_recv,
 * read when the sender is built); otherwise, and on epoll, single
 * provided-buffer recvs re-armed after each piece. fn may recycle buffers
 * and request the stop; it must not free the sender. flags as for recv
 * (not MSG_WAITALL). */
typedef void (*exec_io_recv_fn)(void *ctx, void *buf, size_t len);
exec_sender *exec_io_recv_multishot(exec_io_loop *loop, int fd,
				    exec_io_buf_ring *ring, int flags,
				    exec_io_recv_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
