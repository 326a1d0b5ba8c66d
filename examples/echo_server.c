/* examples/echo_server.c - a TCP echo server on cexec: one event loop per
 * thread, every connection served by a sender.
 *
 *   echo_server [--port P] [--threads N] [--max-conns M]
 *               [--buffers provided|conn] [--max-seconds S]
 *               [--self-test [--self-test-conns C] [--self-test-msgs K]]
 *
 * Each of the N threads owns one io_uring and one SO_REUSEPORT listener on
 * 127.0.0.1:P (P = 0 picks a free port, printed as "listening on
 * 127.0.0.1:<port>"). A multishot accept delivers the connections; each one
 * is served by an echo_conn sender - a loop of recv then send - connected
 * into storage allocated for that connection and started with a receiver
 * that frees it when the sender completes:
 *   value   the peer closed; the value is the number of bytes echoed,
 *   error   a reset or another socket error (that connection only),
 *   stopped the server is shutting down.
 * With --buffers provided (the default) receives take their buffer from a
 * provided-buffer ring shared by the thread's connections, so an idle
 * connection holds no buffer at all; --buffers conn gives each its own.
 *
 * Robustness: at most --max-conns connections at once (one over the bound
 * is accepted and closed at once); EMFILE / ENFILE (or ENOMEM / ENOBUFS) on
 * accept pauses accepting for 100 ms while the open connections keep being
 * served; sends use MSG_NOSIGNAL and SIGPIPE is ignored.
 *
 * Shutdown: SIGINT, SIGTERM or --max-seconds (default: none, 0) requests
 * stop on every loop: each connection's sender cancels its receive or send
 * (async cancel) and completes stopped once both completions arrived; the
 * loops exit when their last connection completed. Exit status 0.
 *
 * --self-test runs a loopback client in the main thread against the server
 * (C connections x K messages with verified bytes, a 1 MiB message, peer
 * resets, peers that vanish while their echo is sent, the --max-conns
 * bound, every connection released, EMFILE on accept) and exits 0 when
 * every case passed. For the EMFILE case it runs with the soft descriptor
 * limit at 2 C + 128 until that case raises it.
 *
 * About the event loop: the cexec io_uring scheduler and io senders
 * (schedulers/io_uring*, io/) were not available when this was written, so
 * the loop below is a small private stand-in (a ring, a completion
 * dispatch by user_data, a wake-up eventfd). The connection logic is the
 * part that matters: echo_conn is a sender obeying the cexec protocol
 * (connect into caller storage, exactly one completion, stop via the
 * receiver's stop token, complete only after the cancel's completion). */
/* CEXEC_TEST_ARGS: --self-test --threads 2 --self-test-conns 64 --self-test-msgs 8 --max-seconds 60 */
/* CEXEC_TEST_LABELS: tsan */
/* CEXEC_TEST_TIMEOUT: 120 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cexec.h"

/* ---- settings and counters shared by every loop ------------------------- */

static struct {
	int port;
	int threads;
	long max_conns;
	int provided;
	unsigned buf_size;
	unsigned nbufs;
} g_cfg = {0, 1, 10000, 1, 2048, 4096};

static struct {
	AO_t open;        /* connections being served now */
	AO_t accepted;    /* connections accepted in total */
	AO_t refused;     /* closed at once: over --max-conns */
	AO_t failed;      /* served connections that ended with an error */
	AO_t pauses;      /* accept pauses after EMFILE / ENFILE */
} g_stats;

static AO_t g_stop_all; /* set once: every loop stops */

/* ---- the stand-in event loop --------------------------------------------- */

/* Everything that has an SQE in flight is a uop; its address is the SQE's
 * user_data, and done() receives the completion. */
typedef struct uop uop;
struct uop {
	void (*done)(uop *u, const struct io_uring_cqe *cqe);
};

typedef struct echo_conn_op echo_conn_op;

typedef struct loop {
	struct io_uring ring;
	pthread_t thread;
	int index;
	int lfd;
	int efd;            /* eventfd: another thread asks us to stop */
	uint64_t efd_value;
	exec_stop_source stop; /* requested on this loop's thread only */
	exec_env env;          /* what the connections' receivers answer */
	long live;          /* connections of this loop not yet completed */
	bool stopping;
	/* provided buffers */
	bool provided;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	char *pool;
	size_t pool_bytes;
	echo_conn_op *nobuf; /* receives that found the ring empty */
	uop accept_op, pause_op, wake_op;
	struct __kernel_timespec pause_ts;
} loop;

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_server: %s: %s\n", what, strerror(err));
	exit(1);
}

static struct io_uring_sqe *loop_sqe(loop *l, uop *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
	while (!sqe) {
		/* The submission queue is full: hand it to the kernel now. */
		int rc = io_uring_submit(&l->ring);
		if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
			die("io_uring_submit", -rc);
		sqe = io_uring_get_sqe(&l->ring);
	}
	io_uring_sqe_set_data(sqe, u);
	return sqe;
}

static char *loop_buf(loop *l, int bid)
{
	return l->pool + (size_t)bid * g_cfg.buf_size;
}

static void conn_arm_recv(echo_conn_op *c);

static void loop_put_buf(loop *l, int bid)
{
	io_uring_buf_ring_add(l->br, loop_buf(l, bid), g_cfg.buf_size, (unsigned short)bid,
			      io_uring_buf_ring_mask(g_cfg.nbufs), 0);
	io_uring_buf_ring_advance(l->br, 1);
}

/* ---- echo_conn: the connection sender ------------------------------------
 *
 * Built per connection (it names the socket); its operation owns the socket
 * from start to completion and closes it before completing. The operation
 * has at most two SQEs in flight: the current recv or send, and an async
 * cancel once a stop was requested. It completes only when both have come
 * back, so its storage can be freed in the completion. */

typedef struct echo_conn_sender {
	exec_sender base;
	loop *l;
	int fd;
} echo_conn_sender;

enum { CONN_RECV, CONN_SEND };

struct echo_conn_op {
	exec_op op;
	exec_receiver *r;
	loop *l;
	int fd;
	int state;
	int inflight;   /* SQEs not yet completed: io and cancel */
	bool stop_requested;
	bool cancel_sent;
	bool waiting_buf; /* on l->nobuf: no SQE in flight */
	int bid;        /* provided buffer held from recv to send end, or -1 */
	uint32_t len, off;
	uint64_t echoed;
	int result;     /* 0, or the error to complete with */
	char *own;      /* --buffers conn */
	echo_conn_op *next_nobuf;
	uop io, cancel;
	exec_stop_callback stop_cb;
};

static void conn_finish(echo_conn_op *c)
{
	exec_stop_callback_deregister(&c->stop_cb);
	if (c->bid >= 0) {
		loop_put_buf(c->l, c->bid);
		c->bid = -1;
	}
	close(c->fd);
	free(c->own);
	/* Copy what the completion needs: the receiver may free c. */
	exec_receiver *r = c->r;
	uint64_t echoed = c->echoed;
	int result = c->result;
	if (c->stop_requested) {
		exec_set_stopped(r);
	} else if (result < 0) {
		exec_set_error(r, result);
	} else {
		exec_value v = exec_value_u64(echoed);
		exec_set_value(r, &v, 1);
	}
}

/* After a completion: carry on, or finish once nothing is in flight. */
static bool conn_should_end(echo_conn_op *c)
{
	if (!c->stop_requested && c->result == 0)
		return false;
	if (c->inflight == 0)
		conn_finish(c);
	return true;
}

static void conn_on_cancel(uop *u, const struct io_uring_cqe *cqe)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(u, echo_conn_op, cancel);
	(void)cqe; /* -ENOENT / -EALREADY: the target finished by itself */
	c->inflight--;
	conn_should_end(c);
}

/* Runs on the loop's thread: the loop's stop source is only ever requested
 * there (see loop_on_wake), so the ring is never touched from elsewhere. */
static void conn_on_stop(exec_stop_callback *cb)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(cb, echo_conn_op, stop_cb);
	c->stop_requested = true;
	if (c->inflight > 0 && !c->cancel_sent) {
		struct io_uring_sqe *sqe = loop_sqe(c->l, &c->cancel);
		io_uring_prep_cancel(sqe, &c->io, 0);
		c->cancel_sent = true;
		c->inflight++;
	}
	/* A connection waiting for a buffer has nothing in flight; the loop
	 * finishes those after the stop request (loop_stop). */
}

static void conn_arm_send(echo_conn_op *c)
{
	char *buf = c->bid >= 0 ? loop_buf(c->l, c->bid) : c->own;
	struct io_uring_sqe *sqe = loop_sqe(c->l, &c->io);
	io_uring_prep_send(sqe, c->fd, buf + c->off, c->len - c->off, MSG_NOSIGNAL);
	c->state = CONN_SEND;
	c->inflight++;
}

static void conn_arm_recv(echo_conn_op *c)
{
	struct io_uring_sqe *sqe = loop_sqe(c->l, &c->io);
	if (c->l->provided) {
		io_uring_prep_recv(sqe, c->fd, NULL, g_cfg.buf_size, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
	} else {
		io_uring_prep_recv(sqe, c->fd, c->own, g_cfg.buf_size, 0);
	}
	c->state = CONN_RECV;
	c->inflight++;
}

static void conn_on_io(uop *u, const struct io_uring_cqe *cqe)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(u, echo_conn_op, io);
	int res = cqe->res;
	c->inflight--;
	if (c->state == CONN_RECV) {
		if (cqe->flags & IORING_CQE_F_BUFFER)
			c->bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (res == -ENOBUFS && !c->stop_requested) {
			/* Every buffer is in use: wait for one to come back. */
			c->waiting_buf = true;
			c->next_nobuf = c->l->nobuf;
			c->l->nobuf = c;
			return;
		}
		if (res < 0 && !(res == -ECANCELED && c->stop_requested))
			c->result = res;
		if (conn_should_end(c))
			return;
		if (res == 0) { /* orderly close by the peer */
			conn_finish(c);
			return;
		}
		c->len = (uint32_t)res;
		c->off = 0;
		conn_arm_send(c);
		return;
	}
	/* CONN_SEND */
	if (res < 0 && !(res == -ECANCELED && c->stop_requested))
		c->result = res;
	else if (res == 0)
		c->result = -EPIPE;
	else if (res > 0) {
		c->off += (uint32_t)res;
		c->echoed += (uint64_t)res;
	}
	if (conn_should_end(c))
		return;
	if (c->off < c->len) {
		conn_arm_send(c);
		return;
	}
	if (c->bid >= 0) {
		loop *l = c->l;
		loop_put_buf(l, c->bid);
		c->bid = -1;
		/* A buffer is back: one connection that found none may retry. */
		echo_conn_op *w = l->nobuf;
		if (w) {
			l->nobuf = w->next_nobuf;
			w->waiting_buf = false;
			conn_arm_recv(w);
		}
	}
	conn_arm_recv(c);
}

static void conn_start(exec_op *op)
{
	echo_conn_op *c = (echo_conn_op *)op;
	if (!exec_stop_callback_register(&c->stop_cb, exec_get_stop_token(c->r),
					 conn_on_stop) &&
	    exec_stop_token_requested(exec_get_stop_token(c->r))) {
		c->stop_requested = true;
		conn_finish(c);
		return;
	}
	if (!c->l->provided) {
		c->own = malloc(g_cfg.buf_size);
		if (!c->own) {
			c->result = -ENOMEM;
			conn_finish(c);
			return;
		}
	}
	conn_arm_recv(c);
}

static int conn_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	const echo_conn_sender *cs = (const echo_conn_sender *)s;
	echo_conn_op *c = (echo_conn_op *)op;
	memset(c, 0, sizeof(*c));
	c->op.start = conn_start;
	c->r = r;
	c->l = cs->l;
	c->fd = cs->fd;
	c->bid = -1;
	c->io.done = conn_on_io;
	c->cancel.done = conn_on_cancel;
	return 0;
}

static const exec_sender_ops echo_conn_ops = {"echo_conn", conn_connect, exec_sender_delete};

/* The sender that echoes on fd until the peer closes (value: bytes echoed),
 * an error, or a stop (stopped). Start it on l's thread; it completes there.
 * Its operation closes fd, so connect it once. */
static exec_sender *echo_conn(loop *l, int fd)
{
	echo_conn_sender *s = exec_sender_new(&echo_conn_ops, sizeof(*s));
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->base.op_size = sizeof(echo_conn_op);
	s->base.op_align = _Alignof(echo_conn_op);
	s->base.max_values = 1;
	s->l = l;
	s->fd = fd;
	return &s->base;
}

/* ---- per-connection holder: the receiver that frees everything ---------- */

typedef struct conn_holder {
	exec_receiver rcv;
	loop *l;
	exec_sender *s;
	_Alignas(16) unsigned char op[]; /* the connection's operation state */
} conn_holder;

static void holder_free(conn_holder *h)
{
	loop *l = h->l;
	exec_sender_free(h->s);
	free(h);
	l->live--;
	AO_fetch_and_sub1_release(&g_stats.open);
}

static void holder_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	holder_free(EXEC_CONTAINER_OF(r, conn_holder, rcv));
}

static void holder_error(exec_receiver *r, int err)
{
	if (getenv("ECHO_DEBUG"))
		fprintf(stderr, "echo_server: connection error %s\n", exec_strerror(err));
	AO_fetch_and_add1(&g_stats.failed);
	holder_free(EXEC_CONTAINER_OF(r, conn_holder, rcv));
}

static void holder_stopped(exec_receiver *r)
{
	holder_free(EXEC_CONTAINER_OF(r, conn_holder, rcv));
}

static const exec_env *holder_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, conn_holder, rcv)->l->env;
}

static const exec_receiver_ops holder_ops = {holder_value, holder_error, holder_stopped,
					     holder_env};

static void serve(loop *l, int fd)
{
	/* The bound is global across threads: count first, undo if over. */
	if ((long)AO_fetch_and_add1(&g_stats.open) >= g_cfg.max_conns) {
		AO_fetch_and_sub1(&g_stats.open);
		AO_fetch_and_add1(&g_stats.refused);
		close(fd);
		return;
	}
	AO_fetch_and_add1(&g_stats.accepted);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	exec_sender *s = echo_conn(l, fd);
	conn_holder *h = NULL;
	if (exec_sender_build_error(s) == 0)
		h = aligned_alloc(16, (sizeof(conn_holder) + exec_sender_op_size(s) + 15) & ~(size_t)15);
	if (h) {
		h->rcv.ops = &holder_ops;
		h->l = l;
		h->s = s;
	}
	if (!h || exec_connect(s, h->op, &h->rcv) != 0) {
		/* Out of memory: this connection only is dropped. */
		free(h);
		exec_sender_free(s);
		close(fd);
		AO_fetch_and_sub1(&g_stats.open);
		return;
	}
	l->live++;
	exec_start((exec_op *)h->op);
}

/* ---- accepting ------------------------------------------------------------ */

static void loop_arm_accept(loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l, &l->accept_op);
	io_uring_prep_multishot_accept(sqe, l->lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void loop_on_accept(uop *u, const struct io_uring_cqe *cqe)
{
	loop *l = EXEC_CONTAINER_OF(u, loop, accept_op);
	int res = cqe->res;
	if (res >= 0) {
		if (l->stopping)
			close(res);
		else
			serve(l, res);
	}
	if ((cqe->flags & IORING_CQE_F_MORE) || l->stopping)
		return;
	/* The multishot accept ended. Out of descriptors or memory: pause, so
	 * the open connections keep being served while some close. */
	if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
		AO_fetch_and_add1(&g_stats.pauses);
		l->pause_ts.tv_sec = 0;
		l->pause_ts.tv_nsec = 100 * 1000 * 1000;
		struct io_uring_sqe *sqe = loop_sqe(l, &l->pause_op);
		io_uring_prep_timeout(sqe, &l->pause_ts, 0, 0);
		return;
	}
	loop_arm_accept(l);
}

static void loop_on_pause_end(uop *u, const struct io_uring_cqe *cqe)
{
	loop *l = EXEC_CONTAINER_OF(u, loop, pause_op);
	(void)cqe;
	if (!l->stopping)
		loop_arm_accept(l);
}

/* ---- stopping --------------------------------------------------------------- */

static void loop_stop(loop *l)
{
	if (l->stopping)
		return;
	l->stopping = true;
	/* New connections are refused from here on. */
	struct io_uring_sqe *sqe = loop_sqe(l, NULL);
	io_uring_prep_cancel(sqe, &l->accept_op, 0);
	/* Every connection's stop callback runs here, on the loop's thread. */
	exec_stop_source_request(&l->stop);
	while (l->nobuf) {
		echo_conn_op *c = l->nobuf;
		l->nobuf = c->next_nobuf;
		c->waiting_buf = false;
		conn_finish(c);
	}
}

static void loop_arm_wake(loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l, &l->wake_op);
	io_uring_prep_read(sqe, l->efd, &l->efd_value, sizeof(l->efd_value), 0);
}

static void loop_on_wake(uop *u, const struct io_uring_cqe *cqe)
{
	loop *l = EXEC_CONTAINER_OF(u, loop, wake_op);
	(void)cqe;
	if (AO_load_acquire(&g_stop_all))
		loop_stop(l);
	else
		loop_arm_wake(l);
}

/* From any thread: every loop stops. */
static void stop_all(loop *loops, int n)
{
	AO_store_release(&g_stop_all, 1);
	for (int i = 0; i < n; i++) {
		uint64_t one = 1;
		if (write(loops[i].efd, &one, sizeof(one)) < 0)
			perror("echo_server: eventfd write");
	}
}

/* ---- setting up and running a loop --------------------------------------- */

static int loop_setup_ring(loop *l)
{
	struct io_uring_params p;
	/* Best flags first; older kernels refuse them with EINVAL. */
	const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int rc = -EINVAL;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = 16384;
		rc = io_uring_queue_init_params(4096, &l->ring, &p);
		if (rc != -EINVAL)
			break;
	}
	return rc;
}

static void loop_setup_buffers(loop *l)
{
	l->provided = false;
	if (!g_cfg.provided)
		return;
	/* The pool is faulted in now, so the RSS a connection adds is its own
	 * state, not a share of the pool's first touch. */
	l->pool_bytes = (size_t)g_cfg.nbufs * g_cfg.buf_size;
	l->pool = mmap(NULL, l->pool_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	l->br_bytes = (size_t)g_cfg.nbufs * sizeof(struct io_uring_buf);
	l->br = mmap(NULL, l->br_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (l->pool == MAP_FAILED || l->br == MAP_FAILED)
		die("mmap", errno);
	/* liburing 2.3 has no io_uring_setup_buf_ring: register our own. */
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)l->br;
	reg.ring_entries = g_cfg.nbufs;
	reg.bgid = 0;
	int rc = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (rc < 0) {
		if (l->index == 0)
			fprintf(stderr, "echo_server: no provided buffer rings (%s): a buffer "
					"per connection\n", strerror(-rc));
		munmap(l->pool, l->pool_bytes);
		munmap(l->br, l->br_bytes);
		l->pool = NULL;
		l->br = NULL;
		return;
	}
	io_uring_buf_ring_init(l->br);
	for (unsigned i = 0; i < g_cfg.nbufs; i++)
		io_uring_buf_ring_add(l->br, loop_buf(l, (int)i), g_cfg.buf_size, (unsigned short)i,
				      io_uring_buf_ring_mask(g_cfg.nbufs), (int)i);
	io_uring_buf_ring_advance(l->br, (int)g_cfg.nbufs);
	l->provided = true;
}

static void *loop_main(void *arg)
{
	loop *l = arg;
	/* Created on the thread that submits: SINGLE_ISSUER's rule. */
	int rc = loop_setup_ring(l);
	if (rc < 0)
		die("io_uring_queue_init", -rc);
	loop_setup_buffers(l);
	l->accept_op.done = loop_on_accept;
	l->pause_op.done = loop_on_pause_end;
	l->wake_op.done = loop_on_wake;
	loop_arm_wake(l);
	loop_arm_accept(l);
	if (AO_load_acquire(&g_stop_all))
		loop_stop(l);
	while (!(l->stopping && l->live == 0)) {
		rc = io_uring_submit_and_wait(&l->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			die("io_uring_submit_and_wait", -rc);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			seen++;
			uop *u = io_uring_cqe_get_data(cqe);
			if (u) /* NULL: the accept's cancel, nothing to do */
				u->done(u, cqe);
		}
		io_uring_cq_advance(&l->ring, seen);
	}
	/* Leftover SQEs (the eventfd read, a pause timer) die with the ring. */
	io_uring_queue_exit(&l->ring);
	if (l->pool) {
		munmap(l->pool, l->pool_bytes);
		munmap(l->br, l->br_bytes);
	}
	close(l->lfd);
	return NULL;
}

static int make_listener(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket", errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		die("SO_REUSEPORT", errno);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind", errno);
	if (listen(fd, 4096) < 0)
		die("listen", errno);
	return fd;
}
/* ---- --self-test: a loopback client in a thread of its own ---------------
 *
 * Plain sockets and poll(), on purpose independent of cexec, so the server
 * is checked by code that does not share its machinery. Every wait is
 * bounded (SELFTEST_WAIT_MS); every case prints one line. */

#define SELFTEST_WAIT_MS 5000

static int st_failures;

static void st_result(const char *name, bool ok, const char *detail)
{
	printf("self-test: %-28s %s%s%s\n", name, ok ? "ok" : "FAILED", detail ? ": " : "",
	       detail ? detail : "");
	fflush(stdout);
	if (!ok)
		st_failures++;
}

static int st_dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Sends n bytes and reads n bytes back, interleaved with poll() so that a
 * message larger than the socket buffers cannot deadlock. Returns 0 when
 * the echo matched, -EBADMSG when a byte differed, -ETIMEDOUT, -EPIPE on
 * EOF, or the socket's error. */
static int st_echo(int fd, const unsigned char *msg, size_t n, unsigned char *back)
{
	size_t sent = 0, got = 0;
	while (got < n) {
		struct pollfd p = {fd, POLLIN | (sent < n ? POLLOUT : 0), 0};
		int rc = poll(&p, 1, SELFTEST_WAIT_MS);
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (sent < n && (p.revents & POLLOUT)) {
			ssize_t w = send(fd, msg + sent, n - sent, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN)
				return -errno;
			if (w > 0)
				sent += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, back + got, n - got, 0);
			if (r == 0)
				return -EPIPE;
			if (r < 0 && errno != EAGAIN)
				return -errno;
			if (r > 0)
				got += (size_t)r;
		}
	}
	return memcmp(msg, back, n) == 0 ? 0 : -EBADMSG;
}

/* Waits until the peer closes fd (EOF or reset): true, or false after the
 * bounded wait. */
static bool st_expect_close(int fd)
{
	char c;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int rc = poll(&p, 1, SELFTEST_WAIT_MS);
		if (rc <= 0)
			return false;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return true;
	}
}

static void st_fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

/* Waits (bounded) until the server counts want connections open. */
static bool st_wait_open(long want)
{
	for (int i = 0; i < SELFTEST_WAIT_MS / 10; i++) {
		if ((long)AO_load_acquire(&g_stats.open) == want)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

struct selftest_args {
	int port;
	int conns;
	int msgs;
	int max_conns;
	int rc;
};

static void *selftest_main(void *arg)
{
	struct selftest_args *a = arg;
	char detail[160];
	size_t cap = 1 << 20;
	unsigned char *msg = malloc(cap), *back = malloc(cap);
	int *fds = calloc((size_t)a->conns, sizeof(int));
	if (!msg || !back || !fds) {
		st_result("allocate", false, "out of memory");
		goto out;
	}

	/* 1. M connections, K messages each, sizes from 1 byte to a few
	 * receive buffers (so one message may take several recv/send). */
	int opened = 0;
	for (; opened < a->conns; opened++) {
		fds[opened] = st_dial(a->port);
		if (fds[opened] < 0)
			break;
	}
	snprintf(detail, sizeof(detail), "%d of %d", opened, a->conns);
	st_result("open connections", opened == a->conns, detail);
	long bytes = 0;
	int bad = 0, first_err = 0;
	for (int k = 0; k < a->msgs && !bad; k++)
		for (int i = 0; i < opened && !bad; i++) {
			size_t n = 1 + ((size_t)k * 997u + (size_t)i * 131u) % 6000u;
			st_fill(msg, n, (unsigned)(k * 100003 + i));
			int rc = st_echo(fds[i], msg, n, back);
			if (rc < 0) {
				bad = 1;
				first_err = rc;
			}
			bytes += (long)n;
		}
	snprintf(detail, sizeof(detail), "%d connections x %d messages, %ld bytes%s%s", opened,
		 a->msgs, bytes, bad ? ", first error " : "", bad ? strerror(-first_err) : "");
	st_result("echo bytes verified", !bad, detail);

	/* 2. One message larger than every socket buffer: the server must keep
	 * receiving while its sends wait. */
	if (opened > 0) {
		st_fill(msg, cap, 77);
		int rc = st_echo(fds[0], msg, cap, back);
		st_result("1 MiB message", rc == 0, rc ? strerror(-rc) : NULL);
	}

	/* 3. A peer that resets mid-stream: that connection only is closed. */
	{
		int fd = st_dial(a->port);
		bool ok = fd >= 0;
		if (ok) {
			st_fill(msg, 100, 5);
			ok = st_echo(fd, msg, 100, back) == 0;
			send(fd, msg, 100, MSG_NOSIGNAL);
			struct linger lg = {1, 0}; /* close() sends RST */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
		}
		ok = ok && opened > 0 && st_echo(fds[opened - 1], msg, 100, back) == 0;
		st_result("peer reset", ok && st_wait_open(opened), NULL);
	}

	/* 4. A peer that sends a lot and closes without reading: the server's
	 * sends fail (EPIPE / ECONNRESET) and must not raise SIGPIPE. */
	{
		bool ok = true;
		for (int j = 0; j < 4 && ok; j++) {
			int fd = st_dial(a->port);
			if (fd < 0) {
				ok = false;
				break;
			}
			st_fill(msg, 256 * 1024, 9);
			size_t off = 0;
			for (int spins = 0; off < 256 * 1024 && spins < 1000; spins++) {
				ssize_t w = send(fd, msg + off, 256 * 1024 - off, MSG_NOSIGNAL);
				if (w > 0)
					off += (size_t)w;
				else
					break;
			}
			close(fd);
		}
		ok = ok && opened > 0 && st_echo(fds[0], msg, 1000, back) == 0;
		st_result("peer gone while echoing", ok && st_wait_open(opened), NULL);
	}

	/* 5. --max-conns: fill up to the bound; one more connection is closed
	 * at once; after one closes, a new one is served again. */
	if (a->max_conns >= opened && a->max_conns - opened <= 64) {
		int fill[64], nfill = a->max_conns - opened;
		bool ok = true;
		st_fill(msg, 64, 11);
		for (int j = 0; j < nfill; j++) {
			fill[j] = st_dial(a->port);
			ok = ok && fill[j] >= 0 && st_echo(fill[j], msg, 64, back) == 0;
		}
		ok = ok && st_wait_open(a->max_conns);
		int extra = st_dial(a->port);
		ok = ok && extra >= 0 && st_expect_close(extra);
		if (extra >= 0)
			close(extra);
		int last = nfill > 0 ? fill[--nfill] : fds[--opened];
		if (last >= 0)
			close(last);
		ok = ok && st_wait_open(a->max_conns - 1);
		int again = st_dial(a->port);
		ok = ok && again >= 0 && st_echo(again, msg, 64, back) == 0;
		if (again >= 0)
			close(again);
		for (int j = 0; j < nfill; j++)
			if (fill[j] >= 0)
				close(fill[j]);
		snprintf(detail, sizeof(detail), "bound %d", a->max_conns);
		st_result("max-conns", ok, detail);
	}

	/* 6. Everything closed: the server closes its side of every one. */
	for (int i = 0; i < opened; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	st_result("all connections released", st_wait_open(0), NULL);
	/* 7. EMFILE on accept. The self-test runs with a low soft descriptor
	 * limit (see main; io_uring's accept reads the limit when it is
	 * armed). Fill the table with unconnected client sockets, free two,
	 * connect them all: the server accepts two, hits EMFILE on the next
	 * and pauses accepting while the accepted ones are served. Then the
	 * limit goes up; the accept resumes after its pause and every
	 * connection echoes. */
	{
		struct rlimit rl;
		bool ok = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max;
		int nconn = 0;
		size_t cap = ok ? (size_t)rl.rlim_cur : 0;
		int *em = ok ? calloc(cap, sizeof(int)) : NULL;
		int nem = 0;
		unsigned long pauses0 = (unsigned long)AO_load(&g_stats.pauses);
		ok = ok && em;
		while (ok && (size_t)nem < cap) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				break;
			em[nem++] = fd;
		}
		ok = ok && nem >= 4;
		if (ok) { /* two free descriptors for the server */
			close(em[--nem]);
			close(em[--nem]);
		}
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)a->port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		/* Six connections: two fit, four wait in the backlog (and stay
		 * under --max-conns). */
		nconn = nem < 6 ? nem : 6;
		for (int j = 0; ok && j < nconn; j++) {
			ok = connect(em[j], (struct sockaddr *)&sa, sizeof(sa)) == 0;
			fcntl(em[j], F_SETFL, fcntl(em[j], F_GETFL) | O_NONBLOCK);
		}
		/* The first two are served while accepting is paused. */
		st_fill(msg, 64, 13);
		ok = ok && st_echo(em[0], msg, 64, back) == 0 && st_echo(em[1], msg, 64, back) == 0;
		for (int i = 0; ok && i < SELFTEST_WAIT_MS / 10 &&
				(unsigned long)AO_load(&g_stats.pauses) == pauses0; i++)
			usleep(10 * 1000);
		bool paused = (unsigned long)AO_load(&g_stats.pauses) > pauses0;
		if (em) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		for (int j = 0; ok && j < nconn; j++)
			ok = st_echo(em[j], msg, 64, back) == 0;
		for (int j = 0; j < nem; j++)
			close(em[j]);
		free(em);
		ok = ok && st_wait_open(0);
		snprintf(detail, sizeof(detail), "%d connections over a full table, %s", nconn,
			 paused ? "accept paused and resumed" : "no pause seen");
		st_result("EMFILE on accept", ok && paused, detail);
	}
out:
	free(msg);
	free(back);
	free(fds);
	a->rc = st_failures ? 1 : 0;
	return NULL;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: echo_server [--port P] [--threads N] [--max-conns M]\n"
		   "                   [--buffers provided|conn] [--max-seconds S]\n"
		   "                   [--self-test [--self-test-conns C] [--self-test-msgs K]]\n");
}

int main(int argc, char **argv)
{
	long max_seconds = 0;
	bool self_test = false, max_conns_set = false;
	int st_conns = 100, st_msgs = 10;
	static const struct option opts[] = {
		{"port", required_argument, 0, 'p'},
		{"threads", required_argument, 0, 't'},
		{"max-conns", required_argument, 0, 'm'},
		{"buffers", required_argument, 0, 'b'},
		{"max-seconds", required_argument, 0, 's'},
		{"duration", required_argument, 0, 's'},
		{"self-test", no_argument, 0, 'T'},
		{"self-test-conns", required_argument, 0, 'C'},
		{"self-test-msgs", required_argument, 0, 'K'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': g_cfg.port = atoi(optarg); break;
		case 't': g_cfg.threads = atoi(optarg); break;
		case 'm': g_cfg.max_conns = atol(optarg); max_conns_set = true; break;
		case 'b':
			if (strcmp(optarg, "provided") == 0)
				g_cfg.provided = 1;
			else if (strcmp(optarg, "conn") == 0)
				g_cfg.provided = 0;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 's': max_seconds = atol(optarg); break;
		case 'T': self_test = true; break;
		case 'C': st_conns = atoi(optarg); break;
		case 'K': st_msgs = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (self_test && !max_conns_set)
		g_cfg.max_conns = st_conns + 4; /* leaves room for the bound's case */
	if (g_cfg.port < 0 || g_cfg.port > 65535 || g_cfg.threads < 1 || g_cfg.threads > 256 ||
	    g_cfg.max_conns < 1 || max_seconds < 0 || st_conns < 1 || st_conns > 5000 ||
	    st_msgs < 1) {
		usage(stderr);
		return 2;
	}
	/* Each connection is a descriptor: raise the soft limit to the hard. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* The self-test's EMFILE case needs a table it can fill: a low soft
	 * limit, set before any accept is armed (it raises it again). */
	if (self_test && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur > (rlim_t)(2 * st_conns + 128)) {
		rl.rlim_cur = (rlim_t)(2 * st_conns + 128);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	/* SIGINT / SIGTERM are taken by sigtimedwait in the main thread only;
	 * the loops inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	loop *loops = calloc((size_t)g_cfg.threads, sizeof(*loops));
	if (!loops)
		die("calloc", ENOMEM);
	int port = g_cfg.port;
	for (int i = 0; i < g_cfg.threads; i++) {
		loop *l = &loops[i];
		l->index = i;
		l->lfd = make_listener(port);
		if (port == 0) { /* the other listeners share the port this one got */
			struct sockaddr_in a;
			socklen_t len = sizeof(a);
			getsockname(l->lfd, (struct sockaddr *)&a, &len);
			port = ntohs(a.sin_port);
		}
		l->efd = eventfd(0, EFD_CLOEXEC);
		if (l->efd < 0)
			die("eventfd", errno);
		exec_stop_source_init(&l->stop);
		l->env = exec_env_empty;
		l->env.stop_token = exec_stop_source_token(&l->stop);
	}
	printf("echo_server: listening on 127.0.0.1:%d threads=%d max-conns=%ld buffers=%s "
	       "pid=%d\n",
	       port, g_cfg.threads, g_cfg.max_conns, g_cfg.provided ? "provided" : "conn",
	       (int)getpid());
	fflush(stdout);
	for (int i = 0; i < g_cfg.threads; i++)
		if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0)
			die("pthread_create", EAGAIN);

	int rc = 0;
	if (self_test) {
		struct selftest_args a = {port, st_conns, st_msgs, (int)g_cfg.max_conns, 0};
		selftest_main(&a);
		rc = a.rc;
	} else {
		struct timespec ts = {max_seconds ? (time_t)max_seconds : 365 * 24 * 3600, 0};
		int sig;
		while ((sig = sigtimedwait(&sigs, NULL, &ts)) < 0 && errno == EINTR)
			;
	}
	stop_all(loops, g_cfg.threads);
	for (int i = 0; i < g_cfg.threads; i++) {
		pthread_join(loops[i].thread, NULL);
		close(loops[i].efd);
	}
	free(loops);
	printf("echo_server: %lu accepted, %lu refused (max-conns), %lu ended with an error, "
	       "%lu accept pauses%s\n",
	       (unsigned long)AO_load(&g_stats.accepted), (unsigned long)AO_load(&g_stats.refused),
	       (unsigned long)AO_load(&g_stats.failed), (unsigned long)AO_load(&g_stats.pauses),
	       self_test ? (rc ? "; self-test FAILED" : "; self-test passed") : "");
	return rc;
}
