/* schedulers/io_loop_internal.h - what the loop, its two backends and the
 * I/O senders share. Not part of the public API.
 *
 * An I/O request (io_req) is embedded in a sender's operation state; its
 * address is the io_uring user_data. The loop thread submits it with
 * exec_io_loop_submit_req_ and the backend calls q->done once per
 * completion (several times for multishot requests: cflags has
 * IORING_CQE_F_MORE on all but the last). exec_io_loop_cancel_req_ asks the
 * backend to cancel a request in flight; q->cancel_done is called once
 * when the cancel itself completed, always after any q->done the cancel
 * caused. Neither callback is ever called from inside submit or cancel:
 * both arrive from the loop's completion processing. */
#ifndef EXEC_SCHEDULERS_IO_LOOP_INTERNAL_H
#define EXEC_SCHEDULERS_IO_LOOP_INTERNAL_H

#include <atomic_ops.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "exec/timer_heap.h"
#include "io/io.h"
#include "schedulers/io_uring.h"

typedef enum io_kind {
	IOQ_READ,
	IOQ_WRITE,
	IOQ_READV,
	IOQ_WRITEV,
	IOQ_RECV,
	IOQ_SEND,
	IOQ_RECVMSG,
	IOQ_SENDMSG,
	IOQ_ACCEPT,
	IOQ_CONNECT,
	IOQ_CLOSE,
	IOQ_SHUTDOWN,
	IOQ_OPENAT,
	IOQ_FSYNC,
	IOQ_STATX,
	IOQ_POLL,
	IOQ_RECV_PROVIDED,
} io_kind;

typedef struct io_req io_req;
typedef void (*io_req_fn)(io_req *q, int32_t res, uint32_t cflags);

struct io_req {
	io_req_fn done;
	io_req_fn cancel_done;
	uint8_t kind;      /* io_kind */
	bool multishot;    /* accept: IORING_ACCEPT_MULTISHOT; recv_provided:
			    * IORING_RECV_MULTISHOT */
	int fd;
	void *addr;        /* buffer, iovec, msghdr, sockaddr, path */
	void *addr2;       /* socklen_t * (accept), struct statx * */
	uint64_t off;      /* file offset, (uint64_t)-1: current position */
	uint32_t len;      /* bytes, iovcnt, socklen */
	uint32_t flags;    /* msg / accept / open / fsync / statx flags, poll mask */
	uint32_t mode;     /* open mode, statx mask, shutdown how */
	exec_io_buf_ring *ring;
	/* epoll backend */
	io_req *ep_next;
	int32_t ep_res;
	uint32_t ep_cflags;
	bool ep_cancel;   /* a cancel completion follows done */
	bool ep_only_cancel; /* the request had finished: only cancel_done */
};

/* A multishot recv that the kernel ended with ENOBUFS waits on its ring
 * (a list of these) until a buffer is recycled. */
typedef struct io_buf_waiter {
	struct io_buf_waiter *next, *prev;
} io_buf_waiter;

struct exec_io_buf_ring {
	exec_io_loop *loop;
	io_buf_waiter *wait_head, *wait_tail;
	uint32_t recycled; /* bumped by every recycle (wraps) */
	struct io_uring_buf_ring *br; /* io_uring: the shared ring */
	size_t ring_bytes;
	char *bufs;
	size_t size;
	unsigned count, mask;
	unsigned short group;
	uint16_t *free_ids; /* epoll: the stack of free buffers */
	unsigned nfree;
};

/* user_data tags in the low bits (requests are at least 8-aligned). */
enum { UD_OP = 0, UD_CANCEL = 1, UD_WAKE = 2, UD_IGNORE = 3, UD_MASK = 7 };

struct exec_io_loop {
	exec_scheduler sched;
	exec_io_backend backend;
	exec_io_features features;
	/* Owned by the loop thread. */
	exec_task *head, *tail; /* ready FIFO */
	size_t inflight;        /* requests + cancels in the kernel */
	unsigned busy_rounds;
	int64_t busy_poll_ns;   /* options.busy_poll_ns (io_uring only) */
	int64_t batch_wait_ns;  /* options.batch_wait_ns (0: off or unsupported) */
	bool batching;          /* the next sleep waits for a batch */
	unsigned reaped_ops;    /* operations the last reap completed */
	bool worked;            /* the last iteration ran callbacks */
	bool enabled;           /* io_uring rings enabled (R_DISABLED) */
	bool wake_armed;        /* the eventfd read is in the ring */
	/* Shared. */
	AO_t remote;            /* exec_task * LIFO pushed by other threads */
	AO_t sleeping;          /* the loop may block: wake it */
	AO_t stop;
	AO_t ntimers;           /* timers + cancelled ones (lock-free hint) */
	pthread_mutex_t timer_mu;
	exec_timer_heap timers;
	exec_task *cancelled;   /* timers cancelled, under timer_mu */
	int wake_fd;            /* eventfd */
	/* io_uring */
	struct io_uring ring;
	uint64_t wake_buf;
	/* epoll */
	int epfd;
	struct ep_fd *fds;
	int nfds;
	io_req *done_head, *done_tail; /* completions to deliver */
	/* Watchdog (io_watchdog.c); wd NULL when off. The loop publishes the
	 * callback it runs; the watchdog thread samples it. */
	struct io_watchdog *wd;
	AO_t wd_seq;  /* bumped when a callback starts */
	AO_t wd_kind; /* WD_IDLE, WD_TASK, WD_IO */
	AO_t wd_fn;   /* task fn, or the io_kind */
	AO_t wd_fd;
};

enum { WD_IDLE = 0, WD_TASK = 1, WD_IO = 2 };

/* Around each callback the loop runs (loop thread). */
static inline void exec_io_wd_enter_(exec_io_loop *loop, AO_t kind, AO_t fn, int fd)
{
	if (__builtin_expect(loop->wd == NULL, 1))
		return;
	AO_store(&loop->wd_fn, fn);
	AO_store(&loop->wd_fd, (AO_t)(intptr_t)fd);
	AO_store(&loop->wd_kind, kind);
	AO_store_release(&loop->wd_seq, AO_load(&loop->wd_seq) + 1);
}

static inline void exec_io_wd_leave_(exec_io_loop *loop)
{
	if (__builtin_expect(loop->wd == NULL, 1))
		return;
	AO_store_release(&loop->wd_kind, WD_IDLE);
}

/* io_watchdog.c: start with the loop (0 or a negative errno), stop before
 * it is destroyed (NULL-safe when off). */
int exec_io_watchdog_start_(exec_io_loop *loop, const exec_io_loop_options *o);
void exec_io_watchdog_stop_(exec_io_loop *loop);
/* "recv", "send" ... for an io_kind. */
const char *exec_io_kind_name_(unsigned kind);

/* Submits q (loop thread). */
void exec_io_loop_submit_req_(exec_io_loop *loop, io_req *q);
/* Cancels q in flight (loop thread). */
void exec_io_loop_cancel_req_(exec_io_loop *loop, io_req *q);

/* The backend in io_epoll.c. */
int exec_io_epoll_init_(exec_io_loop *loop);
void exec_io_epoll_destroy_(exec_io_loop *loop);
void exec_io_epoll_submit_(exec_io_loop *loop, io_req *q);
void exec_io_epoll_cancel_(exec_io_loop *loop, io_req *q);
/* Waits up to timeout_ns (-1: no limit, 0: poll) and delivers what is
 * ready. Returns the number of callbacks run or a negative errno. */
int exec_io_epoll_wait_(exec_io_loop *loop, int64_t timeout_ns);
void exec_io_epoll_buf_recycle_(exec_io_buf_ring *ring, unsigned bid);

/* buf_ring.c: w waits for the next recycle of ring (loop thread). The
 * recycle takes every waiter off the list and calls
 * exec_io_recv_multishot_wake_ (io.c) for each. */
void exec_io_buf_ring_wait_(exec_io_buf_ring *ring, io_buf_waiter *w);
void exec_io_buf_ring_unwait_(exec_io_buf_ring *ring, io_buf_waiter *w);
void exec_io_recv_multishot_wake_(io_buf_waiter *w);

#endif
