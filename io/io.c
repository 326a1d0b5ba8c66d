/* The I/O senders. One operation type serves them all; the sender's mode
 * says what a completion means (one result, loop until len bytes moved, a
 * stream of accepted connections, a provided buffer).
 *
 * Life of an operation (loop thread unless said otherwise):
 *   start      (any thread) -> begin on the loop, via the remote queue when
 *              started elsewhere;
 *   begin      registers the stop callback, submits the request;
 *   on_stop    (any thread) marks stop_posted and queues cancel_task;
 *   cancel_task submits an async cancel when the request is in flight;
 *   on_cqe     records the result (or resubmits for the loop modes);
 *   finish     completes once the request, the cancel task and the
 *              cancel's completion are all done, so the kernel holds no
 *              reference to the buffers any more. */
#include "io/io.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/schedule.h"
#include "exec/debug.h"
#include "exec/error.h"
#include "schedulers/io_loop_internal.h"

enum mode { M_SIMPLE, M_NONE, M_EXACT, M_MULTI_ACCEPT, M_PROVIDED, M_MULTI_RECV };

typedef struct io_sender {
	exec_sender base;
	exec_io_loop *loop;
	uint8_t mode;
	io_req tmpl;
	union {
		exec_io_accept_fn accept_fn;
		exec_io_recv_fn recv_fn;
	} fn;
	void *fn_ctx;
	char *path;
	struct sockaddr_storage sa; /* connect only; stays last (see make) */
} io_sender;

/* What a completion touches comes first, next to the request: with ten
 * thousand connections the op states are cold, and a multishot recv's
 * completion reads no more than these lines. Connect copies everything
 * the operation needs out of the sender, which is never read again: the
 * sender may be freed as soon as connect returned (io.h). */
typedef struct io_op {
	exec_op op;
	io_req req;
	uint8_t mode; /* the sender's */
	bool op_pending, cancel_ran, cancel_pending;
	int32_t res;
	AO_t stop_posted;
	uint32_t cflags;
	union {
		struct { /* M_EXACT */
			size_t moved;
			char *base;   /* the sender's buffer, length and offset */
			size_t len;
			uint64_t off;
		} ex;
		struct { /* M_MULTI_ACCEPT */
			exec_io_accept_fn fn;
			void *ctx;
		} acc;
		struct { /* M_MULTI_RECV */
			exec_io_recv_fn fn;
			void *ctx;
			io_buf_waiter waiter; /* on the ring after ENOBUFS */
			uint32_t arm_gen;     /* ring->recycled when armed */
			bool waiting;
		} mr;
	} u;
	exec_receiver *r;
	exec_io_loop *loop;
	exec_task task;
	exec_stop_callback stop_cb;
	exec_debug_op dbg; /* in-flight registry entry (exec/debug.h) */
} io_op;

static void finish(io_op *o);

static void cancel_task(exec_task *t, int status)
{
	io_op *o = EXEC_CONTAINER_OF(t, io_op, task);
	(void)status;
	o->cancel_ran = true;
	if (o->op_pending) {
		o->cancel_pending = true;
		exec_io_loop_cancel_req_(o->loop, &o->req);
		return;
	}
	if (o->mode == M_MULTI_RECV && o->u.mr.waiting) {
		/* Waiting for a buffer: nothing in the kernel to cancel. */
		o->u.mr.waiting = false;
		exec_io_buf_ring_unwait_(o->req.ring, &o->u.mr.waiter);
	}
	finish(o);
}

static void on_stop(exec_stop_callback *cb)
{
	io_op *o = EXEC_CONTAINER_OF(cb, io_op, stop_cb);
	AO_store_release(&o->stop_posted, 1);
	exec_scheduler_submit(&o->loop->sched, &o->task);
}

static void on_cancel_cqe(io_req *q, int32_t res, uint32_t cflags)
{
	io_op *o = EXEC_CONTAINER_OF(q, io_op, req);
	(void)res;
	(void)cflags;
	o->cancel_pending = false;
	finish(o);
}

static bool stop_seen(io_op *o)
{
	return AO_load_acquire(&o->stop_posted) != 0;
}

static void resubmit(io_op *o)
{
	o->op_pending = true;
	exec_io_loop_submit_req_(o->loop, &o->req);
}

static char *ring_buf(const exec_io_buf_ring *ring, uint32_t cflags)
{
	return ring->bufs + (size_t)(cflags >> IORING_CQE_BUFFER_SHIFT) * ring->size;
}

/* Arms the multishot recv again (the kernel ended it, or it waited for a
 * buffer). */
static void mr_rearm(io_op *o)
{
	o->u.mr.arm_gen = o->req.ring->recycled;
	resubmit(o);
}

void exec_io_recv_multishot_wake_(io_buf_waiter *w)
{
	io_op *o = EXEC_CONTAINER_OF(w, io_op, u.mr.waiter);
	o->u.mr.waiting = false;
	if (stop_seen(o))
		return; /* cancel_task is queued: it finishes (res -ECANCELED) */
	mr_rearm(o);
}

/* A completion of a multishot recv (or of one of the single provided
 * recvs that stand in for it). Returns true when the operation goes on. */
static bool mr_cqe(io_op *o, int32_t *resp, uint32_t cflags)
{
	exec_io_buf_ring *ring = o->req.ring;
	int32_t res = *resp;
	if (res > 0 && (cflags & IORING_CQE_F_BUFFER)) {
		/* Delivered even when a stop is pending: the data is read. */
		o->u.mr.fn(o->u.mr.ctx, ring_buf(ring, cflags), (size_t)res);
		if (cflags & IORING_CQE_F_MORE)
			return true;
		if (!stop_seen(o)) {
			mr_rearm(o);
			return true;
		}
		*resp = -ECANCELED;
		return false;
	}
	if (cflags & IORING_CQE_F_BUFFER) /* 0 bytes in a buffer: give it back */
		exec_io_buf_ring_recycle(ring, ring_buf(ring, cflags));
	if (cflags & IORING_CQE_F_MORE)
		return true;
	if (res == -ENOBUFS || res == -EINTR || res == -EAGAIN) {
		if (stop_seen(o)) {
			*resp = -ECANCELED;
			return false;
		}
		if (res != -ENOBUFS || ring->recycled != o->u.mr.arm_gen) {
			/* A buffer came back since it was armed: at once. */
			mr_rearm(o);
			return true;
		}
		/* The ring ran dry: wait for a recycle. Only a stop ends the
		 * wait without re-arming, so the result is set now. */
		o->op_pending = false;
		o->res = -ECANCELED;
		o->cflags = 0;
		o->u.mr.waiting = true;
		exec_io_buf_ring_wait_(ring, &o->u.mr.waiter);
		return true;
	}
	return false; /* 0: end of stream; an error; -ECANCELED */
}

static void on_cqe(io_req *q, int32_t res, uint32_t cflags)
{
	io_op *o = EXEC_CONTAINER_OF(q, io_op, req);
	switch (o->mode) {
	case M_EXACT:
		if (res > 0) {
			o->u.ex.moved += (size_t)res;
			size_t len = o->u.ex.len;
			if (o->u.ex.moved < len && !stop_seen(o)) {
				q->addr = o->u.ex.base + o->u.ex.moved;
				q->len = (uint32_t)(len - o->u.ex.moved);
				if (o->u.ex.off != (uint64_t)-1)
					q->off = o->u.ex.off + o->u.ex.moved;
				resubmit(o);
				return;
			}
			/* Stopped between pieces: report stopped. */
			res = o->u.ex.moved >= len ? (int32_t)len : -ECANCELED;
		} else if (res == 0) {
			/* End of file / peer closed before len bytes. */
			res = q->kind == IOQ_READ ? -EPIPE : -EIO;
		} else if (res == -EINTR || res == -EAGAIN) {
			if (!stop_seen(o)) {
				resubmit(o);
				return;
			}
		}
		break;
	case M_MULTI_ACCEPT:
		if (res < 0 && (cflags & IORING_CQE_F_MORE))
			return; /* a failed attempt; the request stays armed */
		if (res >= 0) {
			o->u.acc.fn(o->u.acc.ctx, res);
			if (cflags & IORING_CQE_F_MORE)
				return;
			if (!stop_seen(o)) {
				resubmit(o);
				return;
			}
		}
		break;
	case M_MULTI_RECV:
		if (mr_cqe(o, &res, cflags))
			return;
		cflags = 0;
		break;
	default:
		break;
	}
	o->op_pending = false;
	o->res = res;
	o->cflags = cflags;
	finish(o);
}

static void finish(io_op *o)
{
	if (o->op_pending || o->cancel_pending)
		return;
	/* Waits for on_stop if it is running on another thread; afterwards
	 * stop_posted cannot change. */
	exec_stop_callback_deregister(&o->stop_cb);
	bool stopped = stop_seen(o);
	if (stopped && !o->cancel_ran)
		return; /* cancel_task is queued and will finish */
	exec_debug_op_end(&o->dbg);
	exec_receiver *r = o->r;
	uint8_t mode = o->mode;
	exec_io_buf_ring *ring = o->req.ring;
	int32_t res = o->res;
	uint32_t cflags = o->cflags;
	if (res == -ECANCELED || (stopped && mode == M_MULTI_ACCEPT && res >= 0)) {
		if (mode == M_PROVIDED && (cflags & IORING_CQE_F_BUFFER))
			exec_io_buf_ring_recycle(ring, ring_buf(ring, cflags));
		exec_set_stopped(r);
		return;
	}
	if (res < 0) {
		if (stopped && (res == -EINTR || res == -EAGAIN))
			exec_set_stopped(r);
		else
			exec_set_error(r, res);
		return;
	}
	exec_value v;
	switch (mode) {
	case M_NONE:
		exec_set_value(r, NULL, 0);
		return;
	case M_PROVIDED: {
		if (!(cflags & IORING_CQE_F_BUFFER)) {
			v = exec_value_span(NULL, 0);
		} else {
			char *p = ring_buf(ring, cflags);
			if (res == 0) {
				exec_io_buf_ring_recycle(ring, p);
				v = exec_value_span(NULL, 0);
			} else {
				v = exec_value_span(p, (size_t)res);
			}
		}
		break;
	}
	default:
		v = exec_value_i64(res);
		break;
	}
	exec_set_value(r, &v, 1);
}

static void begin(io_op *o)
{
	exec_stop_token tok = exec_get_stop_token(o->r);
	if (exec_stop_token_requested(tok)) {
		exec_set_stopped(o->r);
		return;
	}
	if (o->mode == M_EXACT && o->u.ex.len == 0) {
		exec_value v = exec_value_i64(0);
		exec_set_value(o->r, &v, 1);
		return;
	}
	AO_store(&o->stop_posted, 0);
	if (o->mode == M_MULTI_RECV)
		o->u.mr.arm_gen = o->req.ring->recycled;
	o->res = 0;
	o->cflags = 0;
	o->cancel_ran = o->cancel_pending = false;
	o->task.fn = cancel_task;
	o->task.next = NULL;
	o->stop_cb.source = NULL;
	o->op_pending = true;
	o->dbg.registered = false;
	if (exec_debug_enabled())
		exec_debug_op_begin(&o->dbg, exec_io_kind_name_(o->req.kind), "io_loop",
				    exec_io_loop_backend_name(o->loop), o->loop,
				    o->req.fd);
	/* May run on_stop at once (stop raced in): cancel_task then finds
	 * the request in flight and cancels it. */
	exec_stop_callback_register(&o->stop_cb, tok, on_stop);
	exec_io_loop_submit_req_(o->loop, &o->req);
}

static void remote_begin(exec_task *t, int status)
{
	io_op *o = EXEC_CONTAINER_OF(t, io_op, task);
	if (status == EXEC_STOPPED)
		exec_set_stopped(o->r);
	else
		begin(o);
}

static void io_start(exec_op *op)
{
	io_op *o = (io_op *)op;
	exec_io_loop *loop = o->loop;
	if (exec_io_loop_on_thread(loop)) {
		begin(o);
		return;
	}
	o->task.fn = remote_begin;
	o->task.next = NULL;
	exec_scheduler_submit(&loop->sched, &o->task);
}

static int io_connect(const exec_sender *sb, exec_op *op, exec_receiver *r)
{
	io_op *o = (io_op *)op;
	const io_sender *s = (const io_sender *)sb;
	o->op.start = io_start;
	o->r = r;
	o->loop = s->loop;
	o->mode = s->mode;
	o->req = s->tmpl;
	o->req.done = on_cqe;
	o->req.cancel_done = on_cancel_cqe;
	switch (s->mode) {
	case M_EXACT:
		o->u.ex.moved = 0;
		o->u.ex.base = s->tmpl.addr;
		o->u.ex.len = s->tmpl.len;
		o->u.ex.off = s->tmpl.off;
		break;
	case M_MULTI_ACCEPT:
		o->u.acc.fn = s->fn.accept_fn;
		o->u.acc.ctx = s->fn_ctx;
		break;
	case M_MULTI_RECV:
		o->u.mr.fn = s->fn.recv_fn;
		o->u.mr.ctx = s->fn_ctx;
		o->u.mr.waiting = false;
		o->u.mr.waiter.next = o->u.mr.waiter.prev = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static void io_destroy(exec_sender *sb)
{
	io_sender *s = (io_sender *)sb;
	free(s->path);
	exec_sender_delete(sb);
}

static const exec_sender_ops io_ops = {"io", io_connect, io_destroy};

static io_sender *make(exec_io_loop *loop, io_kind kind, int fd, uint8_t mode)
{
	/* sa (last) is for connect only: the others leave it out, which
	 * saves 128 bytes a sender (servers keep one per connection). */
	size_t size = kind == IOQ_CONNECT ? sizeof(io_sender) : offsetof(io_sender, sa);
	io_sender *s = exec_sender_new(&io_ops, size);
	if (!s)
		return NULL;
	s->base.op_size = sizeof(io_op);
	s->base.op_align = _Alignof(io_op) > EXEC_OP_ALIGN ? _Alignof(io_op)
							   : EXEC_OP_ALIGN;
	s->base.max_values = mode == M_NONE ? 0 : 1;
	s->loop = loop;
	s->mode = mode;
	s->tmpl.kind = (uint8_t)kind;
	s->tmpl.fd = fd;
	s->tmpl.off = (uint64_t)-1;
	return s;
}

#define BUILD(expr)                                             \
	do {                                                    \
		io_sender *s_ = (expr);                         \
		return s_ ? &s_->base : exec_sender_invalid(-ENOMEM); \
	} while (0)

static exec_sender *rw_sender(exec_io_loop *loop, io_kind kind, int fd,
			      void *buf, size_t len, int64_t offset, uint8_t mode)
{
	if (!loop || (!buf && len) || len > UINT32_MAX)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, kind, fd, mode);
	if (s) {
		s->tmpl.addr = buf;
		s->tmpl.len = (uint32_t)len;
		s->tmpl.off = offset < 0 ? (uint64_t)-1 : (uint64_t)offset;
	}
	BUILD(s);
}

exec_sender *exec_io_read(exec_io_loop *loop, int fd, void *buf, size_t len,
			  int64_t offset)
{
	return rw_sender(loop, IOQ_READ, fd, buf, len, offset, M_SIMPLE);
}

exec_sender *exec_io_write(exec_io_loop *loop, int fd, const void *buf,
			   size_t len, int64_t offset)
{
	return rw_sender(loop, IOQ_WRITE, fd, (void *)buf, len, offset, M_SIMPLE);
}

exec_sender *exec_io_read_exactly(exec_io_loop *loop, int fd, void *buf,
				  size_t len, int64_t offset)
{
	return rw_sender(loop, IOQ_READ, fd, buf, len, offset, M_EXACT);
}

exec_sender *exec_io_write_all(exec_io_loop *loop, int fd, const void *buf,
			       size_t len, int64_t offset)
{
	return rw_sender(loop, IOQ_WRITE, fd, (void *)buf, len, offset, M_EXACT);
}

exec_sender *exec_io_readv(exec_io_loop *loop, int fd, const struct iovec *iov,
			   unsigned iovcnt, int64_t offset)
{
	if (!iov && iovcnt)
		return exec_sender_invalid(-EINVAL);
	return rw_sender(loop, IOQ_READV, fd, (void *)iov, iovcnt, offset, M_SIMPLE);
}

exec_sender *exec_io_writev(exec_io_loop *loop, int fd, const struct iovec *iov,
			    unsigned iovcnt, int64_t offset)
{
	if (!iov && iovcnt)
		return exec_sender_invalid(-EINVAL);
	return rw_sender(loop, IOQ_WRITEV, fd, (void *)iov, iovcnt, offset, M_SIMPLE);
}

static exec_sender *sock_sender(exec_io_loop *loop, io_kind kind, int fd,
				void *buf, size_t len, int flags)
{
	if (!loop || (!buf && len) || len > UINT32_MAX)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, kind, fd, M_SIMPLE);
	if (s) {
		s->tmpl.addr = buf;
		s->tmpl.len = (uint32_t)len;
		s->tmpl.flags = (uint32_t)flags;
	}
	BUILD(s);
}

exec_sender *exec_io_recv(exec_io_loop *loop, int fd, void *buf, size_t len,
			  int flags)
{
	return sock_sender(loop, IOQ_RECV, fd, buf, len, flags);
}

exec_sender *exec_io_send(exec_io_loop *loop, int fd, const void *buf,
			  size_t len, int flags)
{
	return sock_sender(loop, IOQ_SEND, fd, (void *)buf, len, flags | MSG_NOSIGNAL);
}

exec_sender *exec_io_send_all(exec_io_loop *loop, int fd, const void *buf,
			      size_t len, int flags)
{
	exec_sender *sb = sock_sender(loop, IOQ_SEND, fd, (void *)buf, len,
				      flags | MSG_NOSIGNAL);
	if (!exec_sender_build_error(sb))
		((io_sender *)sb)->mode = M_EXACT; /* loop until len bytes went */
	return sb;
}

exec_sender *exec_io_recvmsg(exec_io_loop *loop, int fd, struct msghdr *msg,
			     int flags)
{
	if (!msg)
		return exec_sender_invalid(-EINVAL);
	return sock_sender(loop, IOQ_RECVMSG, fd, msg, 0, flags);
}

exec_sender *exec_io_sendmsg(exec_io_loop *loop, int fd,
			     const struct msghdr *msg, int flags)
{
	if (!msg)
		return exec_sender_invalid(-EINVAL);
	return sock_sender(loop, IOQ_SENDMSG, fd, (void *)msg, 0,
			   flags | MSG_NOSIGNAL);
}

exec_sender *exec_io_accept(exec_io_loop *loop, int fd, struct sockaddr *addr,
			    socklen_t *addrlen, int flags)
{
	if (!loop || (addr && !addrlen))
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_ACCEPT, fd, M_SIMPLE);
	if (s) {
		s->tmpl.addr = addr;
		s->tmpl.addr2 = addrlen;
		s->tmpl.flags = (uint32_t)flags;
	}
	BUILD(s);
}

exec_sender *exec_io_accept_multishot(exec_io_loop *loop, int fd, int flags,
				      exec_io_accept_fn fn, void *ctx)
{
	if (!loop || !fn)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_ACCEPT, fd, M_MULTI_ACCEPT);
	if (s) {
		s->tmpl.flags = (uint32_t)flags;
		s->tmpl.multishot = loop->features.multishot_accept;
		s->fn.accept_fn = fn;
		s->fn_ctx = ctx;
		s->base.max_values = 0;
	}
	BUILD(s);
}

exec_sender *exec_io_connect(exec_io_loop *loop, int fd,
			     const struct sockaddr *addr, socklen_t addrlen)
{
	if (!loop || !addr || addrlen > sizeof(struct sockaddr_storage))
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_CONNECT, fd, M_SIMPLE);
	if (s) {
		memcpy(&s->sa, addr, addrlen);
		s->tmpl.addr = &s->sa;
		s->tmpl.len = addrlen;
	}
	BUILD(s);
}

exec_sender *exec_io_shutdown(exec_io_loop *loop, int fd, int how)
{
	if (!loop)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_SHUTDOWN, fd, M_SIMPLE);
	if (s)
		s->tmpl.mode = (uint32_t)how;
	BUILD(s);
}

exec_sender *exec_io_close(exec_io_loop *loop, int fd)
{
	if (!loop)
		return exec_sender_invalid(-EINVAL);
	BUILD(make(loop, IOQ_CLOSE, fd, M_SIMPLE));
}

exec_sender *exec_io_openat(exec_io_loop *loop, int dirfd, const char *path,
			    int flags, mode_t mode)
{
	if (!loop || !path)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_OPENAT, dirfd, M_SIMPLE);
	if (s) {
		s->path = strdup(path);
		if (!s->path) {
			exec_sender_free(&s->base);
			return exec_sender_invalid(-ENOMEM);
		}
		s->tmpl.addr = s->path;
		s->tmpl.flags = (uint32_t)flags;
		s->tmpl.mode = (uint32_t)mode;
	}
	BUILD(s);
}

exec_sender *exec_io_fsync(exec_io_loop *loop, int fd, unsigned flags)
{
	if (!loop)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_FSYNC, fd, M_SIMPLE);
	if (s)
		s->tmpl.flags = flags;
	BUILD(s);
}

exec_sender *exec_io_statx(exec_io_loop *loop, int dirfd, const char *path,
			   int flags, unsigned mask, struct statx *out)
{
	if (!loop || !path || !out)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_STATX, dirfd, M_SIMPLE);
	if (s) {
		s->path = strdup(path);
		if (!s->path) {
			exec_sender_free(&s->base);
			return exec_sender_invalid(-ENOMEM);
		}
		s->tmpl.addr = s->path;
		s->tmpl.addr2 = out;
		s->tmpl.flags = (uint32_t)flags;
		s->tmpl.mode = mask;
	}
	BUILD(s);
}

exec_sender *exec_io_poll(exec_io_loop *loop, int fd, unsigned events)
{
	if (!loop)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_POLL, fd, M_SIMPLE);
	if (s)
		s->tmpl.flags = events;
	BUILD(s);
}

exec_sender *exec_io_recv_provided(exec_io_loop *loop, int fd,
				   exec_io_buf_ring *ring, int flags)
{
	if (!loop || !ring || ring->loop != loop)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_RECV_PROVIDED, fd, M_PROVIDED);
	if (s) {
		s->tmpl.ring = ring;
		s->tmpl.flags = (uint32_t)flags;
	}
	BUILD(s);
}

exec_sender *exec_io_recv_multishot(exec_io_loop *loop, int fd,
				    exec_io_buf_ring *ring, int flags,
				    exec_io_recv_fn fn, void *ctx)
{
	if (!loop || !ring || ring->loop != loop || !fn)
		return exec_sender_invalid(-EINVAL);
	io_sender *s = make(loop, IOQ_RECV_PROVIDED, fd, M_MULTI_RECV);
	if (s) {
		s->tmpl.ring = ring;
		s->tmpl.flags = (uint32_t)flags;
		/* Read when built (as accept_multishot does): the fallback is
		 * a single provided recv re-armed after each completion. */
		s->tmpl.multishot = loop->backend == EXEC_IO_BACKEND_URING &&
				    loop->features.multishot_recv;
		s->fn.recv_fn = fn;
		s->fn_ctx = ctx;
	}
	BUILD(s);
}

exec_sender *exec_io_timeout(exec_io_loop *loop, int64_t delay_ns)
{
	if (!loop)
		return exec_sender_invalid(-EINVAL);
	return exec_schedule_after(exec_io_loop_scheduler(loop), delay_ns);
}
