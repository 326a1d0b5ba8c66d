/* The epoll backend of the I/O loop: readiness-based emulation of the
 * io_uring requests, for kernels (or containers) that refuse io_uring.
 *
 * A request is first tried at once without blocking (MSG_DONTWAIT,
 * RWF_NOWAIT, a non-blocking fd); if it would block it waits in a per-fd
 * queue (readers, writers) and is retried when epoll reports the fd ready.
 * fds are registered EPOLLONESHOT and re-armed while requests wait, so a
 * closed and reused fd number is simply registered again. Regular files
 * cannot be polled: their reads, writes, fsync, openat, statx, close and
 * shutdown run synchronously. Every completion, even an immediate one, is
 * delivered from the loop's completion processing (the done list), never
 * from inside submit, as io_uring does. */
#include "schedulers/io_loop_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

typedef struct ep_fd {
	io_req *rd, *rd_tail, *wr, *wr_tail;
	uint32_t armed; /* events asked of epoll, 0 after a oneshot fired */
	bool added;
} ep_fd;

static void push_done(exec_io_loop *loop, io_req *q)
{
	q->ep_next = NULL;
	if (loop->done_tail)
		loop->done_tail->ep_next = q;
	else
		loop->done_head = q;
	loop->done_tail = q;
}

static void finish(exec_io_loop *loop, io_req *q, int32_t res, uint32_t cflags)
{
	q->ep_res = res;
	q->ep_cflags = cflags;
	push_done(loop, q);
}

static bool is_write_side(const io_req *q)
{
	switch ((io_kind)q->kind) {
	case IOQ_WRITE:
	case IOQ_WRITEV:
	case IOQ_SEND:
	case IOQ_SENDMSG:
	case IOQ_CONNECT:
		return true;
	case IOQ_POLL:
		return (q->flags & POLLOUT) && !(q->flags & POLLIN);
	default:
		return false;
	}
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A read or write: RWF_NOWAIT where the file supports it. */
static ssize_t rw(io_req *q, bool nowait)
{
	struct iovec one = {q->addr, q->len};
	const struct iovec *iov = &one;
	int cnt = 1;
	if (q->kind == IOQ_READV || q->kind == IOQ_WRITEV) {
		iov = q->addr;
		cnt = (int)q->len;
	}
	off_t off = q->off == (uint64_t)-1 ? -1 : (off_t)q->off;
	bool wr = q->kind == IOQ_WRITE || q->kind == IOQ_WRITEV;
	ssize_t n;
	if (nowait) {
		n = wr ? pwritev2(q->fd, iov, cnt, off, RWF_NOWAIT)
		       : preadv2(q->fd, iov, cnt, off, RWF_NOWAIT);
		if (n >= 0 || errno != EOPNOTSUPP)
			return n;
		set_nonblock(q->fd);
	}
	return wr ? pwritev2(q->fd, iov, cnt, off, 0)
		  : preadv2(q->fd, iov, cnt, off, 0);
}

/* Tries q once. Returns false when it would block (q is untouched),
 * true when it finished (q is on the done list). */
static bool attempt(exec_io_loop *loop, io_req *q, bool nowait)
{
	ssize_t n = 0;
	uint32_t cflags = 0;
	switch ((io_kind)q->kind) {
	case IOQ_READ:
	case IOQ_WRITE:
	case IOQ_READV:
	case IOQ_WRITEV:
		n = rw(q, nowait);
		break;
	case IOQ_RECV:
		n = recv(q->fd, q->addr, q->len, (int)q->flags | MSG_DONTWAIT);
		break;
	case IOQ_SEND:
		n = send(q->fd, q->addr, q->len, (int)q->flags | MSG_DONTWAIT);
		break;
	case IOQ_RECVMSG:
		n = recvmsg(q->fd, q->addr, (int)q->flags | MSG_DONTWAIT);
		break;
	case IOQ_SENDMSG:
		n = sendmsg(q->fd, q->addr, (int)q->flags | MSG_DONTWAIT);
		break;
	case IOQ_ACCEPT:
		set_nonblock(q->fd);
		n = accept4(q->fd, q->addr, q->addr2, (int)q->flags);
		break;
	case IOQ_CONNECT:
		if (q->mode == 0) { /* first try: start the connect */
			set_nonblock(q->fd);
			q->mode = 1;
			n = connect(q->fd, q->addr, q->len);
			if (n < 0 && errno == EINPROGRESS)
				errno = EAGAIN;
		} else { /* writable: the connect finished */
			int err = 0;
			socklen_t l = sizeof err;
			if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
				err = errno;
			errno = err;
			n = err ? -1 : 0;
		}
		break;
	case IOQ_CLOSE:
		n = close(q->fd);
		break;
	case IOQ_SHUTDOWN:
		n = shutdown(q->fd, (int)q->mode);
		break;
	case IOQ_OPENAT:
		n = openat(q->fd, q->addr, (int)q->flags, (mode_t)q->mode);
		break;
	case IOQ_FSYNC:
		n = (q->flags & IORING_FSYNC_DATASYNC) ? fdatasync(q->fd) : fsync(q->fd);
		break;
	case IOQ_STATX:
		n = statx(q->fd, q->addr, (int)q->flags, q->mode, q->addr2);
		break;
	case IOQ_POLL: {
		struct pollfd p = {q->fd, (short)q->flags, 0};
		n = poll(&p, 1, 0);
		if (n == 0) {
			errno = EAGAIN;
			n = -1;
		} else if (n > 0 && (p.revents & POLLNVAL)) {
			/* Not an open fd: what io_uring's poll says. */
			errno = EBADF;
			n = -1;
		} else if (n > 0) {
			n = p.revents;
		}
		break;
	}
	case IOQ_RECV_PROVIDED: {
		exec_io_buf_ring *ring = q->ring;
		if (!ring->nfree) {
			/* Ready but no buffer: what io_uring says too. */
			char c;
			if (recv(q->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
			    (errno == EAGAIN || errno == EWOULDBLOCK))
				return false;
			errno = ENOBUFS;
			n = -1;
			break;
		}
		unsigned bid = ring->free_ids[--ring->nfree];
		n = recv(q->fd, ring->bufs + (size_t)bid * ring->size, ring->size,
			 (int)q->flags | MSG_DONTWAIT);
		if (n > 0)
			cflags = IORING_CQE_F_BUFFER |
				 ((uint32_t)bid << IORING_CQE_BUFFER_SHIFT);
		else
			ring->free_ids[ring->nfree++] = (uint16_t)bid;
		break;
	}
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && nowait)
		return false;
	if (n < 0 && errno == EINTR && nowait)
		return false;
	finish(loop, q, n < 0 ? -errno : (int32_t)n, cflags);
	return true;
}

static ep_fd *get_fd(exec_io_loop *loop, int fd)
{
	if (fd < 0)
		return NULL;
	if (fd >= loop->nfds) {
		int n = loop->nfds ? loop->nfds : 64;
		while (n <= fd)
			n *= 2;
		ep_fd *f = realloc(loop->fds, (size_t)n * sizeof *f);
		if (!f)
			return NULL;
		memset(f + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof *f);
		loop->fds = f;
		loop->nfds = n;
	}
	return &loop->fds[fd];
}

/* Asks epoll for what the queues of fd wait for. Returns 0, or -EPERM for
 * files epoll cannot watch. */
static int arm(exec_io_loop *loop, int fd, ep_fd *f)
{
	uint32_t want = 0;
	for (io_req *q = f->rd; q; q = q->ep_next)
		want |= q->kind == IOQ_POLL ? (q->flags & (POLLIN | POLLPRI))
					    : EPOLLIN | EPOLLRDHUP;
	if (f->wr)
		want |= EPOLLOUT;
	if (!want || (f->armed & want) == want)
		return 0;
	struct epoll_event ev;
	ev.events = want | f->armed | EPOLLONESHOT;
	ev.data.u64 = (uint64_t)fd;
	int rc = -1;
	if (f->added)
		rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
	if (rc < 0) {
		rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
		if (rc < 0 && errno == EEXIST)
			rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
	}
	if (rc < 0)
		return -errno;
	f->added = true;
	f->armed = ev.events & ~(uint32_t)EPOLLONESHOT;
	return 0;
}

static bool sync_kind(const io_req *q)
{
	switch ((io_kind)q->kind) {
	case IOQ_CLOSE:
	case IOQ_SHUTDOWN:
	case IOQ_OPENAT:
	case IOQ_FSYNC:
	case IOQ_STATX:
		return true;
	default:
		return false;
	}
}

/* Completes every request waiting on fd with err (the fd went away). */
static void flush_fd(exec_io_loop *loop, ep_fd *f, int32_t err)
{
	io_req *lists[2] = {f->rd, f->wr};
	f->rd = f->rd_tail = f->wr = f->wr_tail = NULL;
	for (int i = 0; i < 2; i++) {
		io_req *q = lists[i];
		while (q) {
			io_req *n = q->ep_next;
			finish(loop, q, err, 0);
			q = n;
		}
	}
}

void exec_io_epoll_submit_(exec_io_loop *loop, io_req *q)
{
	if (q->kind == IOQ_CONNECT)
		q->mode = 0;
	if (sync_kind(q)) {
		if (q->kind == IOQ_CLOSE) {
			ep_fd *f = get_fd(loop, q->fd);
			if (f) {
				flush_fd(loop, f, -EBADF);
				if (f->added)
					epoll_ctl(loop->epfd, EPOLL_CTL_DEL, q->fd, NULL);
				f->added = false;
				f->armed = 0;
			}
		}
		attempt(loop, q, false);
		return;
	}
	ep_fd *f = get_fd(loop, q->fd);
	bool wr = is_write_side(q);
	/* Requests on one side finish in order: wait behind earlier ones. */
	if (!f || !(wr ? f->wr : f->rd)) {
		if (attempt(loop, q, true))
			return;
	}
	if (!f) {
		finish(loop, q, q->fd < 0 ? -EBADF : -ENOMEM, 0);
		return;
	}
	q->ep_next = NULL;
	if (wr) {
		if (f->wr_tail)
			f->wr_tail->ep_next = q;
		else
			f->wr = q;
		f->wr_tail = q;
	} else {
		if (f->rd_tail)
			f->rd_tail->ep_next = q;
		else
			f->rd = q;
		f->rd_tail = q;
	}
	int rc = arm(loop, q->fd, f);
	if (rc == -EPERM) {
		/* A regular file: cannot wait for readiness, so block. */
		io_req *list = wr ? f->wr : f->rd;
		if (wr)
			f->wr = f->wr_tail = NULL;
		else
			f->rd = f->rd_tail = NULL;
		while (list) {
			io_req *n = list->ep_next;
			attempt(loop, list, false);
			list = n;
		}
	} else if (rc < 0) {
		flush_fd(loop, f, rc);
	}
}

static bool unlink_from(io_req **head, io_req **tail, io_req *q)
{
	io_req *prev = NULL;
	for (io_req *p = *head; p; prev = p, p = p->ep_next) {
		if (p != q)
			continue;
		if (prev)
			prev->ep_next = p->ep_next;
		else
			*head = p->ep_next;
		if (*tail == p)
			*tail = prev;
		return true;
	}
	return false;
}

void exec_io_epoll_cancel_(exec_io_loop *loop, io_req *q)
{
	q->ep_cancel = true;
	for (io_req *p = loop->done_head; p; p = p->ep_next)
		if (p == q)
			return; /* finished already: cancel_done follows done */
	ep_fd *f = q->fd >= 0 && q->fd < loop->nfds ? &loop->fds[q->fd] : NULL;
	if (f && (unlink_from(&f->rd, &f->rd_tail, q) ||
		  unlink_from(&f->wr, &f->wr_tail, q))) {
		finish(loop, q, -ECANCELED, 0);
		return;
	}
	q->ep_only_cancel = true;
	push_done(loop, q);
}

/* Retries the queue of one side after a readiness event. */
static void retry(exec_io_loop *loop, io_req **head, io_req **tail)
{
	while (*head) {
		io_req *q = *head;
		io_req *n = q->ep_next;
		if (!attempt(loop, q, true))
			break;
		*head = n;
		if (!n)
			*tail = NULL;
	}
}

static int deliver(exec_io_loop *loop)
{
	io_req *q = loop->done_head, *last = loop->done_tail;
	if (!q)
		return 0;
	loop->done_head = loop->done_tail = NULL;
	int ran = 0;
	for (;;) {
		io_req *n = q->ep_next;
		bool end = q == last;
		bool cancel = q->ep_cancel, only = q->ep_only_cancel;
		q->ep_cancel = q->ep_only_cancel = false;
		if (!only) {
			loop->inflight--;
			exec_io_wd_enter_(loop, WD_IO, q->kind, q->fd);
			q->done(q, q->ep_res, q->ep_cflags);
			exec_io_wd_leave_(loop);
			ran++;
		}
		if (cancel) {
			loop->inflight--;
			exec_io_wd_enter_(loop, WD_IO, q->kind, q->fd);
			q->cancel_done(q, only ? -ENOENT : 0, 0);
			exec_io_wd_leave_(loop);
			ran++;
		}
		if (end)
			break;
		q = n;
	}
	return ran;
}

/* epoll_pwait2 (Linux 5.11) takes a nanosecond timeout. Older kernels,
 * seccomp profiles that predate it and valgrind (3.19 has no wrapper) say
 * ENOSYS (EPERM under some container profiles): then every later wait uses
 * epoll_wait, the timeout rounded up to whole milliseconds so a timer never
 * wakes the loop before it is due (which would spin). Without this the
 * loop's run returned the error and its thread stopped serving. */
static int wait_events(int epfd, struct epoll_event *evs, int max,
		       const struct timespec *tp)
{
	static AO_t no_pwait2; /* 1 once epoll_pwait2 was refused */
	if (!AO_load_acquire(&no_pwait2)) {
		int n = epoll_pwait2(epfd, evs, max, tp, NULL);
		if (n >= 0 || (errno != ENOSYS && errno != EPERM))
			return n;
		AO_store_release(&no_pwait2, 1);
	}
	int ms = -1;
	if (tp) {
		int64_t t = ((int64_t)tp->tv_sec * 1000000000 + tp->tv_nsec +
			     999999) / 1000000;
		ms = t > INT_MAX ? INT_MAX : (int)t;
	}
	return epoll_wait(epfd, evs, max, ms);
}

int exec_io_epoll_wait_(exec_io_loop *loop, int64_t timeout_ns)
{
	int ran = deliver(loop);
	if (ran || loop->done_head)
		timeout_ns = 0;
	struct epoll_event evs[128];
	struct timespec ts, *tp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tp = &ts;
	}
	int n = wait_events(loop->epfd, evs, 128, tp);
	if (n < 0)
		return errno == EINTR ? ran : -errno;
	for (int i = 0; i < n; i++) {
		int fd = (int)evs[i].data.u64;
		if (fd == loop->wake_fd) {
			uint64_t v;
			ssize_t r = read(fd, &v, sizeof v);
			(void)r;
			continue;
		}
		if (fd >= loop->nfds)
			continue;
		ep_fd *f = &loop->fds[fd];
		f->armed = 0; /* oneshot: disabled until re-armed */
		uint32_t e = evs[i].events;
		if (e & (EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			retry(loop, &f->rd, &f->rd_tail);
		if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			retry(loop, &f->wr, &f->wr_tail);
		if (f->rd || f->wr) {
			int rc = arm(loop, fd, f);
			if (rc < 0)
				flush_fd(loop, f, rc);
		}
	}
	return ran + deliver(loop);
}

int exec_io_epoll_init_(exec_io_loop *loop)
{
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	struct epoll_event ev;
	ev.events = EPOLLIN;
	ev.data.u64 = (uint64_t)loop->wake_fd;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0) {
		int rc = -errno;
		close(loop->epfd);
		loop->epfd = -1;
		return rc;
	}
	return 0;
}

void exec_io_epoll_destroy_(exec_io_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->fds);
	loop->fds = NULL;
	loop->nfds = 0;
}

void exec_io_epoll_buf_recycle_(exec_io_buf_ring *ring, unsigned bid)
{
	if (ring->nfree < ring->count)
		ring->free_ids[ring->nfree++] = (uint16_t)bid;
}
