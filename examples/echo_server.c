/* examples/echo_server.c - a TCP echo server on cexec: one exec_io_loop per
 * thread, every connection served by a sender.
 *
 *   echo_server [--port P] [--threads N] [--max-conns M]
 *               [--buffers provided|conn] [--max-seconds S]
 *               [--self-test [--self-test-conns C] [--self-test-msgs K]]
 *               [--soak-conns N [--soak-waves W]] [--ring-buffers B]
 *               [--recv multishot|single]
 *
 * No event loop of its own: N exec_io_loops run on N threads
 * (exec_io_loop_group), each with its own SO_REUSEPORT listener on 127.0.0.1:P (P = 0 picks a free port, printed as
 * "listening on 127.0.0.1:<port>") and an exec_io_accept_multishot that
 * hands it the connections. Each connection is served by an echo_conn
 * sender - a loop of recv then send built on the io senders - connected
 * into storage allocated for that connection and started with a receiver
 * that frees it when the sender completes:
 *   value   the peer closed; the value is the number of bytes echoed,
 *   error   a reset or another socket error (that connection only),
 *   stopped the server is shutting down.
 * With --buffers provided (the default) receives take their buffers from
 * the loop's provided-buffer ring (--ring-buffers B buffers of 2 KiB per
 * loop, a power of two, default 4096), so an idle connection holds no
 * buffer; --buffers conn gives each connection its own. With the ring,
 * --recv multishot (the default) runs one exec_io_recv_multishot per
 * connection (IORING_RECV_MULTISHOT where the kernel has it: one armed
 * request per connection instead of a recv submitted per round; pieces are
 * echoed in order by send_all, whose op state comes from a per-loop slab
 * given back to the system after 100 ms without sends, so an idle
 * connection holds only its own state and the recv's op; the senders are
 * freed once connected); --recv single submits an exec_io_recv_provided
 * per round instead.
 *
 * Robustness: at most --max-conns connections at once (one over the bound
 * is accepted and closed at once); EMFILE / ENFILE (or ENOMEM / ENOBUFS) on
 * accept pauses accepting for 100 ms (an exec_io_timeout) while the open
 * connections keep being served; sends carry MSG_NOSIGNAL and SIGPIPE is
 * ignored.
 *
 * Shutdown: SIGINT, SIGTERM or --max-seconds (default 0: none) requests
 * stop on every loop (a task submitted to each loop's scheduler): the io
 * senders cancel, every connection completes stopped, the accept completes
 * stopped, and the loops end once they are empty. Exit status 0.
 *
 * --self-test runs a loopback client in the main thread against the server
 * (C connections x K messages with verified bytes, a 1 MiB message, peer
 * resets, peers that vanish while their echo is sent, the --max-conns
 * bound, every connection released, EMFILE on accept) and exits 0 when
 * every case passed. For the EMFILE case it runs with the soft descriptor
 * limit at 2 C + 128 until that case raises it.
 *
 * --soak-conns N runs a client process against the server: W waves (default
 * 3) of N connections that connect, echo and reset or close, and checks
 * that after every wave the server's open descriptors and in-flight io
 * requests are back to their starting counts and its RSS stays bounded
 * (see the --soak section below). */
/* CEXEC_TEST_ARGS: --self-test --threads 2 --self-test-conns 64 --self-test-msgs 8 --max-seconds 60 */
/* CEXEC_TEST_LABELS: tsan */
/* CEXEC_TEST_TIMEOUT: 120 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
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
	int multishot; /* --recv multishot: one exec_io_recv_multishot per connection */
} g_cfg = {0, 1, 10000, 1, 2048, 4096, 1};

static struct {
	AO_t open;     /* connections being served now */
	AO_t accepted; /* connections accepted in total */
	AO_t refused;  /* closed at once: over --max-conns */
	AO_t failed;   /* served connections that ended with an error */
	AO_t pauses;   /* accept pauses after EMFILE / ENFILE */
	AO_t drained;  /* loops whose work has all completed after a stop */
	AO_t set_up;   /* loops whose setup ran (their accept is queued) */
} g_stats;

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_server: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* ---- one loop's server state ---------------------------------------------- */

typedef struct echo_conn_op echo_conn_op;

/* A receiver for the loop's own operations (accept, pause timer). */
typedef struct loop_rcv {
	exec_receiver base;
	struct server_loop *sl;
} loop_rcv;

typedef struct server_loop {
	exec_io_loop *loop;
	unsigned index;
	int lfd;
	exec_io_buf_ring *ring; /* NULL: a buffer per connection */
	exec_stop_source stop;  /* requested on the loop thread only */
	exec_env env;           /* stop token + scheduler for everything here */
	long live;              /* connections not yet completed */
	bool stopping, accepting, pausing, drained;
	echo_conn_op *nobuf, *nobuf_tail; /* FIFO: found the ring empty */
	size_t child_cap;       /* storage for a connection's child operation */
	size_t child_align;
	struct send_slab *slab; /* --recv multishot: the sends' op states */
	echo_conn_op *send_wait, *send_wait_tail; /* FIFO: waiting for a block */
	AO_t inflight_sample;   /* exec_io_loop_inflight, read by a task */
	AO_t sampled;           /* samples taken so far */
	exec_task sample_task;
	exec_task stop_task;
	/* accepting, and the pause after EMFILE */
	exec_sender *accept_s, *pause_s;
	void *accept_op, *pause_op;
	loop_rcv accept_rcv, pause_rcv;
	/* the send slab's idle timer (see send_slab) */
	exec_sender *idle_s;
	void *idle_op;
	loop_rcv idle_rcv;
	bool idle_armed;
} server_loop;

static void loop_maybe_drained(server_loop *sl);

/* ---- echo_conn: the connection sender ------------------------------------
 *
 * Built per connection (it names the socket); its operation owns the socket
 * from start to completion and closes it before completing. It runs one
 * child io operation at a time - recv_provided (or recv), then send_all of
 * what came - in child storage inside its own state, completing into
 * c->child. The receive sender is built once per connection and reconnected
 * every round. The send names the received bytes, so it is built per round
 * (io/io.h has no send that takes its buffer from the previous value).
 * Stop reaches the child through the child receiver's environment (the
 * loop's stop token): the io sender cancels and completes stopped after
 * both completions arrived. */

typedef struct echo_conn_sender {
	exec_sender base;
	server_loop *sl;
	int fd;
} echo_conn_sender;

enum { CONN_RECV, CONN_SEND };

struct echo_conn_op {
	exec_op op;
	exec_receiver *out;
	exec_receiver child;
	server_loop *sl;
	int fd;
	int state;
	uint64_t echoed;
	exec_sender *recv_s, *send_s;
	void *held;     /* provided buffer held from recv to the end of send */
	char *own;      /* --buffers conn */
	void *child_op; /* inside this op: see echo_conn_child_offset */
	echo_conn_op *next_nobuf;
	exec_task step; /* starts the next child through the trampoline */
	/* --recv multishot: the recv runs for the whole connection (in mr_op,
	 * completing into mrecv) and hands its pieces to conn_piece; they
	 * wait in q (a FIFO, qin until it outgrows it) for their send. */
	void *mr_op;
	exec_receiver mrecv;
	struct piece { void *ptr; size_t len; } *q, qin[2];
	unsigned qhead, qn, qcap;
	bool mr_done, sending, ms_stopped;
	int ms_err;
};

/* The child operation state (a receive or a send_all, one at a time) is
 * embedded after the echo_conn_op, at this offset. */
static size_t echo_conn_child_offset(const server_loop *sl)
{
	return (sizeof(echo_conn_op) + sl->child_align - 1) & ~(sl->child_align - 1);
}

/* Whether connections use --recv multishot (needs the ring). */
static bool echo_conn_multishot(const server_loop *sl)
{
	return sl->ring && g_cfg.multishot;
}

/* --recv multishot: the recv runs for the whole connection in the op's
 * child storage; a send runs beside it only while there is something to
 * echo, in a block of the loop's send slab, so an idle connection holds
 * one child operation, not two.
 *
 * The slab: SEND_BLOCKS blocks in one anonymous mapping, handed out
 * lowest first and touched only when first used. It holds what is in
 * flight - a burst of sends (every connection's first echo at once)
 * takes as many blocks as sends went out in one loop iteration - and
 * beyond SEND_BLOCKS a connection waits (send_wait) for the next send to
 * complete and hand its block over (loopback sends complete within an
 * iteration, so the wait is short). Once no send has run for
 * SEND_IDLE_TICKS ticks of SEND_TICK_MS (100 ms) the slab's pages go back
 * to the system (MADV_DONTNEED), so after a burst the idle server holds
 * the connections' memory only. The tick runs only while the slab holds
 * pages and no send is in flight. The free list lives outside the
 * blocks, which a release zeroes. */
enum { SEND_BLOCKS = 128, SEND_IDLE_TICKS = 4 };
#define SEND_TICK_MS 25

typedef struct send_slab {
	unsigned char *base;
	size_t block;            /* bytes per block (a multiple of 16) */
	size_t bytes;            /* SEND_BLOCKS blocks, whole pages */
	unsigned fresh;          /* blocks [fresh, SEND_BLOCKS) untouched */
	unsigned nfree;          /* ids of blocks handed back (a stack) */
	unsigned in_use;
	unsigned quiet;          /* ticks in a row without a block taken */
	bool taken;              /* a block was taken since the last tick */
	uint8_t free_ids[SEND_BLOCKS];
} send_slab;

static int send_slab_create(server_loop *sl, size_t block)
{
	send_slab *sb = calloc(1, sizeof *sb);
	if (!sb)
		return -ENOMEM;
	long page = sysconf(_SC_PAGESIZE);
	sb->block = block;
	sb->bytes = (SEND_BLOCKS * block + (size_t)page - 1) & ~((size_t)page - 1);
	sb->base = mmap(NULL, sb->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (sb->base == MAP_FAILED) {
		free(sb);
		return -ENOMEM;
	}
	sl->slab = sb;
	return 0;
}

static void send_slab_destroy(server_loop *sl)
{
	if (!sl->slab)
		return;
	munmap(sl->slab->base, sl->slab->bytes);
	free(sl->slab);
	sl->slab = NULL;
}

/* A free block, or NULL when all SEND_BLOCKS are in flight. */
static void *send_block_get(server_loop *sl)
{
	send_slab *sb = sl->slab;
	unsigned id;
	if (sb->nfree)
		id = sb->free_ids[--sb->nfree];
	else if (sb->fresh < SEND_BLOCKS)
		id = sb->fresh++;
	else
		return NULL;
	sb->in_use++;
	sb->taken = true;
	return sb->base + (size_t)id * sb->block;
}

static void send_idle_arm(server_loop *sl);

static void send_block_put(server_loop *sl, void *b)
{
	send_slab *sb = sl->slab;
	sb->free_ids[sb->nfree++] = (uint8_t)(((unsigned char *)b - sb->base) / sb->block);
	if (--sb->in_use == 0 && !sl->idle_armed && !sl->stopping) {
		sb->quiet = 0;
		send_idle_arm(sl);
	}
}

/* The idle tick: armed when the last send in flight completes, and again
 * at each tick while none is in flight; SEND_IDLE_TICKS ticks in a row
 * without a block taken release the slab's pages. */
static void send_idle_arm(server_loop *sl)
{
	sl->slab->taken = false;
	if (exec_connect(sl->idle_s, sl->idle_op, &sl->idle_rcv.base) < 0)
		return; /* the pages stay: memory, not correctness */
	sl->idle_armed = true;
	exec_start(sl->idle_op);
}

static void idle_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	server_loop *sl = ((loop_rcv *)r)->sl;
	send_slab *sb = sl->slab;
	sl->idle_armed = false;
	if (sl->stopping) {
		loop_maybe_drained(sl);
		return;
	}
	if (sb->in_use)
		return; /* the last block handed back arms it again */
	sb->quiet = sb->taken ? 0 : sb->quiet + 1;
	if (sb->quiet < SEND_IDLE_TICKS) {
		send_idle_arm(sl);
		return;
	}
	if (sb->fresh) {
		size_t used = ((size_t)sb->fresh * sb->block + (size_t)sysconf(_SC_PAGESIZE) - 1) &
			      ~((size_t)sysconf(_SC_PAGESIZE) - 1);
		madvise(sb->base, used, MADV_DONTNEED);
		sb->fresh = 0;
		sb->nfree = 0;
	}
}

static void idle_error(exec_receiver *r, int err)
{
	(void)err;
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->idle_armed = false;
	loop_maybe_drained(sl);
}

static void idle_stopped(exec_receiver *r)
{
	idle_error(r, 0);
}

static void conn_recycle(server_loop *sl, void *buf);
static void conn_wake_waiter(server_loop *sl);
static void ms_sent(echo_conn_op *c, int err, bool stopped);

static void conn_finish(echo_conn_op *c, int kind, int err)
{
	/* --recv multishot: pieces not sent go back to the ring. */
	for (; c->qn; c->qn--, c->qhead = (c->qhead + 1) % c->qcap)
		exec_io_buf_ring_recycle(c->sl->ring, c->q[c->qhead].ptr);
	if (c->q != c->qin)
		free(c->q);
	c->q = NULL;
	exec_sender_free(c->recv_s);
	exec_sender_free(c->send_s);
	free(c->own);
	close(c->fd);
	/* Pass the turn on: a connection woken from the nobuf list that ends
	 * here (the peer closed or reset) took no buffer, so no recycle would
	 * wake the next one - and with every buffer back in the ring, the
	 * rest would wait for ever. */
	if (c->held) {
		void *buf = c->held;
		c->held = NULL;
		conn_recycle(c->sl, buf);
	} else if (!c->sl->stopping) {
		conn_wake_waiter(c->sl);
	}
	/* Copy what the completion needs: the receiver may free c. */
	exec_receiver *out = c->out;
	uint64_t echoed = c->echoed;
	if (kind == EXEC_RESULT_STOPPED) {
		exec_set_stopped(out);
	} else if (kind == EXEC_RESULT_ERROR) {
		exec_set_error(out, err);
	} else {
		exec_value v = exec_value_u64(echoed);
		exec_set_value(out, &v, 1);
	}
}

/* Connects s into the child storage and starts it, via the trampoline so
 * that io operations completing inline cannot grow the stack. */
static void conn_step(exec_task *t, int status)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(t, echo_conn_op, step);
	(void)status;
	exec_sender *s = c->state == CONN_RECV ? c->recv_s : c->send_s;
	int rc = -ENOMEM;
	if (exec_sender_op_size(s) <= c->sl->child_cap &&
	    exec_sender_op_align(s) <= c->sl->child_align)
		rc = exec_connect(s, c->child_op, &c->child);
	if (rc < 0) {
		if (c->mr_op) /* the recv still runs: end like a failed send */
			ms_sent(c, rc, false);
		else
			conn_finish(c, EXEC_RESULT_ERROR, rc);
		return;
	}
	if (c->state == CONN_SEND) {
		/* A send is built per round and connected once: the op copied
		 * what it needs (io.h), so the sender goes now - freed right
		 * after it was allocated, it is the allocator's cheapest case. */
		exec_sender_free(c->send_s);
		c->send_s = NULL;
	}
	exec_start((exec_op *)c->child_op);
}

static void conn_next(echo_conn_op *c, int state)
{
	c->state = state;
	c->step.fn = conn_step;
	exec_trampoline_run(&c->step);
}

/* One connection that found the ring empty receives again (it is next in
 * line for a buffer). Every buffer recycled and every connection that ends
 * wakes one: a woken connection either takes a buffer (and wakes the next
 * when it recycles it), ends (and wakes the next), or finds the ring empty
 * again and waits behind a holder that will recycle. */
static void conn_wake_waiter(server_loop *sl)
{
	echo_conn_op *w = sl->nobuf;
	if (w) {
		sl->nobuf = w->next_nobuf;
		if (!sl->nobuf)
			sl->nobuf_tail = NULL;
		conn_next(w, CONN_RECV);
	}
}

static void conn_recycle(server_loop *sl, void *buf)
{
	exec_io_buf_ring_recycle(sl->ring, buf);
	conn_wake_waiter(sl);
}

/* ---- --recv multishot --------------------------------------------------- */

/* Both children done (the recv completed, no send in flight): the
 * connection completes - an error first, then stopped, else the value. */
static void ms_maybe_finish(echo_conn_op *c)
{
	if (!c->mr_done || c->sending)
		return;
	conn_finish(c, c->ms_err ? EXEC_RESULT_ERROR
				 : c->ms_stopped ? EXEC_RESULT_STOPPED : EXEC_RESULT_VALUE,
		    c->ms_err);
}

/* Sends the oldest piece waiting. */
static void ms_send_head(echo_conn_op *c)
{
	struct piece *p = &c->q[c->qhead];
	c->send_s = exec_io_send_all(c->sl->loop, c->fd, p->ptr, p->len, 0);
	c->sending = true;
	int err = exec_sender_build_error(c->send_s);
	if (!err) {
		server_loop *sl = c->sl;
		c->child_op = send_block_get(sl);
		if (!c->child_op) {
			/* Every block is in a send: the next one to complete
			 * hands its block over (ms_sent). */
			c->next_nobuf = NULL;
			if (sl->send_wait_tail)
				sl->send_wait_tail->next_nobuf = c;
			else
				sl->send_wait = c;
			sl->send_wait_tail = c;
			return;
		}
	}
	if (err) {
		exec_sender_free(c->send_s);
		c->send_s = NULL;
		ms_sent(c, err, false);
		return;
	}
	conn_next(c, CONN_SEND);
}

/* The send of the head piece ended (err < 0: failed; stopped). After a
 * failure the recv is ended by shutting the socket down: it completes
 * with the end of stream, and the connection with the send's error. */
static void ms_sent(echo_conn_op *c, int err, bool stopped)
{
	/* The send op has completed: its block goes to the first connection
	 * waiting for one, else back to the list. */
	server_loop *sl = c->sl;
	void *block = c->child_op;
	c->child_op = NULL;
	if (block && sl->send_wait) {
		echo_conn_op *w = sl->send_wait;
		sl->send_wait = w->next_nobuf;
		if (!sl->send_wait)
			sl->send_wait_tail = NULL;
		w->child_op = block;
		conn_next(w, CONN_SEND); /* its send_s is built */
	} else if (block) {
		send_block_put(sl, block);
	}
	exec_sender_free(c->send_s); /* NULL unless it never started */
	c->send_s = NULL;
	c->sending = false;
	exec_io_buf_ring_recycle(c->sl->ring, c->q[c->qhead].ptr);
	c->qhead = (c->qhead + 1) % c->qcap;
	c->qn--;
	if (err && !c->ms_err) {
		c->ms_err = err;
		if (!c->mr_done)
			shutdown(c->fd, SHUT_RDWR);
	}
	c->ms_stopped |= stopped;
	if (c->qn && !c->ms_err && !c->ms_stopped) {
		ms_send_head(c);
		return;
	}
	ms_maybe_finish(c);
}

/* exec_io_recv_multishot's callback: a piece received (loop thread). */
static void conn_piece(void *ctx, void *buf, size_t len)
{
	echo_conn_op *c = ctx;
	if (c->ms_err || c->ms_stopped) { /* no more sends: drop it */
		exec_io_buf_ring_recycle(c->sl->ring, buf);
		return;
	}
	if (c->qn == c->qcap) {
		/* More pieces than the inline FIFO holds (the peer sends
		 * faster than it reads): a larger one, in order. */
		unsigned cap = c->qcap * 2;
		struct piece *q = malloc(cap * sizeof *q);
		if (!q) {
			exec_io_buf_ring_recycle(c->sl->ring, buf);
			c->ms_err = -ENOMEM;
			shutdown(c->fd, SHUT_RDWR);
			return;
		}
		for (unsigned i = 0; i < c->qn; i++)
			q[i] = c->q[(c->qhead + i) % c->qcap];
		if (c->q != c->qin)
			free(c->q);
		c->q = q;
		c->qhead = 0;
		c->qcap = cap;
	}
	c->q[(c->qhead + c->qn) % c->qcap] = (struct piece){buf, len};
	c->qn++;
	if (!c->sending)
		ms_send_head(c);
}

static void mrecv_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	echo_conn_op *c = EXEC_CONTAINER_OF(r, echo_conn_op, mrecv);
	c->mr_done = true; /* the peer closed: what is queued still goes */
	ms_maybe_finish(c);
}

static void mrecv_error(exec_receiver *r, int err)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(r, echo_conn_op, mrecv);
	c->mr_done = true;
	if (!c->ms_err)
		c->ms_err = err;
	ms_maybe_finish(c);
}

static void mrecv_stopped(exec_receiver *r)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(r, echo_conn_op, mrecv);
	c->mr_done = true;
	c->ms_stopped = true;
	ms_maybe_finish(c);
}

static const exec_env *mrecv_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, echo_conn_op, mrecv)->sl->env;
}

static const exec_receiver_ops mrecv_ops = {mrecv_value, mrecv_error, mrecv_stopped,
					    mrecv_env};

static void ms_start(echo_conn_op *c)
{
	server_loop *sl = c->sl;
	c->mr_op = c->child_op; /* the send takes a block when it runs */
	c->child_op = NULL;
	c->mrecv.ops = &mrecv_ops;
	c->q = c->qin;
	c->qcap = 2;
	c->recv_s = exec_io_recv_multishot(sl->loop, c->fd, sl->ring, 0, conn_piece, c);
	int err = exec_sender_build_error(c->recv_s);
	if (!err)
		err = exec_connect(c->recv_s, c->mr_op, &c->mrecv);
	if (err) {
		c->mr_op = NULL;
		conn_finish(c, EXEC_RESULT_ERROR, err);
		return;
	}
	/* Connected once for the whole connection, and the op copied what it
	 * needs (io.h): an idle connection does not keep the sender. */
	exec_sender_free(c->recv_s);
	c->recv_s = NULL;
	exec_start((exec_op *)c->mr_op);
}

static void child_value(exec_receiver *r, const exec_value *v, size_t n)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(r, echo_conn_op, child);
	if (c->state == CONN_SEND && c->mr_op) {
		c->echoed += (uint64_t)exec_value_as_i64(&v[0]);
		ms_sent(c, 0, false);
		return;
	}
	if (c->state == CONN_SEND) {
		/* send_all moved every byte. */
		c->echoed += (uint64_t)exec_value_as_i64(&v[0]);
		exec_sender_free(c->send_s);
		c->send_s = NULL;
		if (c->held) {
			void *buf = c->held;
			c->held = NULL;
			conn_recycle(c->sl, buf);
		}
		conn_next(c, CONN_RECV);
		return;
	}
	void *ptr;
	size_t len;
	if (c->sl->ring) {
		exec_span sp = v[0].as.span;
		(void)n;
		ptr = sp.ptr;
		len = sp.len;
		c->held = ptr;
	} else {
		ptr = c->own;
		len = (size_t)exec_value_as_i64(&v[0]);
	}
	if (len == 0) { /* the peer closed */
		conn_finish(c, EXEC_RESULT_VALUE, 0);
		return;
	}
	c->send_s = exec_io_send_all(c->sl->loop, c->fd, ptr, len, 0);
	if (exec_sender_build_error(c->send_s)) {
		conn_finish(c, EXEC_RESULT_ERROR, exec_sender_build_error(c->send_s));
		return;
	}
	conn_next(c, CONN_SEND);
}

static void child_error(exec_receiver *r, int err)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(r, echo_conn_op, child);
	if (c->mr_op) {
		ms_sent(c, err, false);
		return;
	}
	if (err == -ENOBUFS && c->state == CONN_RECV && !c->sl->stopping) {
		/* Every ring buffer is in use: wait until one comes back. */
		server_loop *sl = c->sl;
		c->next_nobuf = NULL;
		if (sl->nobuf_tail)
			sl->nobuf_tail->next_nobuf = c;
		else
			sl->nobuf = c;
		sl->nobuf_tail = c;
		return;
	}
	conn_finish(c, EXEC_RESULT_ERROR, err);
}

static void child_stopped(exec_receiver *r)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(r, echo_conn_op, child);
	if (c->mr_op) {
		ms_sent(c, 0, true);
		return;
	}
	conn_finish(c, EXEC_RESULT_STOPPED, 0);
}

static const exec_env *child_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, echo_conn_op, child)->sl->env;
}

static const exec_receiver_ops child_ops = {child_value, child_error, child_stopped,
					    child_env};

static void conn_start(exec_op *op)
{
	echo_conn_op *c = (echo_conn_op *)op;
	server_loop *sl = c->sl;
	if (exec_stop_token_requested(exec_get_stop_token(c->out))) {
		conn_finish(c, EXEC_RESULT_STOPPED, 0);
		return;
	}
	if (echo_conn_multishot(sl)) {
		ms_start(c);
		return;
	}
	if (sl->ring) {
		c->recv_s = exec_io_recv_provided(sl->loop, c->fd, sl->ring, 0);
	} else {
		c->own = malloc(g_cfg.buf_size);
		c->recv_s = c->own ? exec_io_recv(sl->loop, c->fd, c->own, g_cfg.buf_size, 0)
				   : exec_sender_invalid(-ENOMEM);
	}
	int err = exec_sender_build_error(c->recv_s);
	if (err) {
		conn_finish(c, EXEC_RESULT_ERROR, err);
		return;
	}
	conn_next(c, CONN_RECV);
}

static int conn_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	const echo_conn_sender *cs = (const echo_conn_sender *)s;
	echo_conn_op *c = (echo_conn_op *)op;
	memset(c, 0, sizeof(*c));
	c->op.start = conn_start;
	c->out = r;
	c->child.ops = &child_ops;
	c->sl = cs->sl;
	c->fd = cs->fd;
	c->child_op = (unsigned char *)c + echo_conn_child_offset(c->sl);
	return 0;
}

static const exec_sender_ops echo_conn_ops = {"echo_conn", conn_connect, exec_sender_delete};

/* The sender that echoes on fd until the peer closes (value: bytes echoed,
 * u64), an error, or a stop of the loop (stopped). Start it on sl's loop
 * thread; it completes there. Its operation closes fd: connect it once. */
static exec_sender *echo_conn(server_loop *sl, int fd)
{
	echo_conn_sender *s = exec_sender_new(&echo_conn_ops, sizeof(*s));
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	uint32_t align = (uint32_t)sl->child_align;
	if (align < _Alignof(echo_conn_op))
		align = _Alignof(echo_conn_op);
	s->base.op_size = (uint32_t)(echo_conn_child_offset(sl) + sl->child_cap);
	s->base.op_align = align;
	s->base.max_values = 1;
	s->sl = sl;
	s->fd = fd;
	return &s->base;
}

/* ---- per-connection holder: the receiver that frees everything ---------- */

typedef struct conn_holder {
	exec_receiver rcv;
	server_loop *sl;
	/* The connection's operation state (echo_conn ops are 16-aligned:
	 * see loop_setup). */
	_Alignas(16) unsigned char op[];
} conn_holder;

static void holder_free(conn_holder *h)
{
	server_loop *sl = h->sl;
	free(h);
	sl->live--;
	AO_fetch_and_sub1_release(&g_stats.open);
	loop_maybe_drained(sl);
}

static void holder_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	holder_free(EXEC_CONTAINER_OF(r, conn_holder, rcv));
}

static void holder_error(exec_receiver *r, int err)
{
	/* A reset is the peer's business: count it, close that one only. */
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
	return &EXEC_CONTAINER_OF(r, conn_holder, rcv)->sl->env;
}

static const exec_receiver_ops holder_ops = {holder_value, holder_error, holder_stopped,
					     holder_env};

/* exec_io_accept_multishot's callback: on the loop thread, per connection. */
static void on_accept(void *ctx, int fd)
{
	server_loop *sl = ctx;
	if (sl->stopping) {
		close(fd);
		return;
	}
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
	exec_sender *s = echo_conn(sl, fd);
	conn_holder *h = NULL;
	if (exec_sender_build_error(s) == 0)
		h = malloc(sizeof(conn_holder) + exec_sender_op_size(s));
	if (h) {
		h->rcv.ops = &holder_ops;
		h->sl = sl;
	}
	if (!h || exec_connect(s, h->op, &h->rcv) != 0) {
		/* Out of memory: this connection only is dropped. */
		free(h);
		exec_sender_free(s);
		close(fd);
		AO_fetch_and_sub1(&g_stats.open);
		return;
	}
	/* The operation copied what it needs (loop, fd): the sender may go
	 * now, which keeps an idle connection's memory to one block plus its
	 * receive sender. */
	exec_sender_free(s);
	sl->live++;
	exec_start((exec_op *)h->op);
}

/* ---- accepting, pausing, stopping ----------------------------------------- */

static void loop_start_accept(server_loop *sl)
{
	int rc = exec_connect(sl->accept_s, sl->accept_op, &sl->accept_rcv.base);
	if (rc < 0)
		die("connect accept", rc);
	sl->accepting = true;
	exec_start(sl->accept_op);
}

static void accept_value(exec_receiver *r, const exec_value *v, size_t n)
{
	/* Documented never to happen; treat it like the end of accepting. */
	(void)v;
	(void)n;
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->accepting = false;
	loop_maybe_drained(sl);
}

static void accept_error(exec_receiver *r, int err)
{
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->accepting = false;
	if (sl->stopping) {
		loop_maybe_drained(sl);
		return;
	}
	if (err == -EMFILE || err == -ENFILE || err == -ENOMEM || err == -ENOBUFS) {
		/* Out of descriptors or memory: pause, so the open connections
		 * keep being served while some of them close. */
		AO_fetch_and_add1(&g_stats.pauses);
		int rc = exec_connect(sl->pause_s, sl->pause_op, &sl->pause_rcv.base);
		if (rc < 0)
			die("connect timeout", rc);
		sl->pausing = true;
		exec_start(sl->pause_op);
		return;
	}
	fprintf(stderr, "echo_server: accept: %s; accepting again\n", exec_strerror(err));
	loop_start_accept(sl);
}

static void accept_stopped(exec_receiver *r)
{
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->accepting = false;
	loop_maybe_drained(sl);
}

static void pause_done(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->pausing = false;
	if (sl->stopping)
		loop_maybe_drained(sl);
	else
		loop_start_accept(sl);
}

static void pause_error(exec_receiver *r, int err)
{
	(void)err;
	pause_done(r, NULL, 0);
}

static void pause_stopped(exec_receiver *r)
{
	pause_done(r, NULL, 0);
}

static const exec_env *loop_rcv_env(exec_receiver *r)
{
	return &((loop_rcv *)r)->sl->env;
}

static const exec_receiver_ops accept_rcv_ops = {accept_value, accept_error,
						 accept_stopped, loop_rcv_env};
static const exec_receiver_ops pause_rcv_ops = {pause_done, pause_error, pause_stopped,
						loop_rcv_env};
static const exec_receiver_ops idle_rcv_ops = {idle_value, idle_error, idle_stopped,
					       loop_rcv_env};

/* Once stopping and nothing of this loop is left: release the ring and the
 * listener, and count the loop as drained (main then stops the group). */
static void loop_maybe_drained(server_loop *sl)
{
	if (!sl->stopping || sl->drained || sl->live > 0 || sl->accepting || sl->pausing ||
	    sl->idle_armed)
		return;
	sl->drained = true;
	/* The accept and the pause timer have completed: their senders and
	 * storage can go. */
	exec_sender_free(sl->accept_s);
	exec_sender_free(sl->pause_s);
	free(sl->accept_op);
	free(sl->pause_op);
	sl->accept_s = sl->pause_s = NULL;
	sl->accept_op = sl->pause_op = NULL;
	if (sl->ring)
		exec_io_buf_ring_destroy(sl->ring);
	sl->ring = NULL;
	send_slab_destroy(sl);
	exec_sender_free(sl->idle_s);
	free(sl->idle_op);
	sl->idle_s = NULL;
	sl->idle_op = NULL;
	close(sl->lfd);
	AO_fetch_and_add1_release(&g_stats.drained);
}

/* A task run on the loop thread: stop everything of this loop. */
static void loop_stop_task(exec_task *t, int status)
{
	server_loop *sl = EXEC_CONTAINER_OF(t, server_loop, stop_task);
	(void)status;
	if (sl->stopping)
		return;
	sl->stopping = true;
	/* Every io sender of this loop watches this source: they cancel. */
	exec_stop_source_request(&sl->stop);
	while (sl->nobuf) { /* waiting for a buffer: nothing in flight */
		echo_conn_op *c = sl->nobuf;
		sl->nobuf = c->next_nobuf;
		if (!sl->nobuf)
			sl->nobuf_tail = NULL;
		conn_finish(c, EXEC_RESULT_STOPPED, 0);
	}
	loop_maybe_drained(sl);
}

/* exec_io_loop_group's setup: on each loop's thread, before it runs. */
static void loop_setup(exec_io_loop *loop, unsigned index, void *ctx)
{
	server_loop *sl = &((server_loop *)ctx)[index];
	sl->loop = loop;
	sl->index = index;
	exec_stop_source_init(&sl->stop);
	sl->env = exec_env_empty;
	sl->env.stop_token = exec_stop_source_token(&sl->stop);
	sl->env.scheduler = exec_io_loop_scheduler(loop);
	if (g_cfg.provided) {
		int rc = exec_io_buf_ring_create(loop, g_cfg.nbufs, g_cfg.buf_size, 0, &sl->ring);
		/* Resident from the start (as in bench/echo's raw baseline):
		 * RSS then grows with connections only. */
		if (rc == 0)
			exec_io_buf_ring_prefault(sl->ring);
		if (rc < 0) {
			if (index == 0)
				fprintf(stderr, "echo_server: no provided buffer ring (%s): a "
						"buffer per connection\n", exec_strerror(rc));
			sl->ring = NULL;
		}
	}
	/* Every connection's op embeds room for its largest child: measured
	 * once on probe senders (the sizes do not depend on fd or buffer). */
	exec_sender *probe[3] = {
		sl->ring ? exec_io_recv_provided(loop, sl->lfd, sl->ring, 0)
			 : exec_io_recv(loop, sl->lfd, sl, 1, 0),
		exec_io_send_all(loop, sl->lfd, sl, 1, 0),
		sl->ring ? exec_io_recv_multishot(loop, sl->lfd, sl->ring, 0, conn_piece, NULL)
			 : exec_io_recv(loop, sl->lfd, sl, 1, 0),
	};
	sl->child_cap = 0;
	sl->child_align = _Alignof(max_align_t);
	for (int i = 0; i < 3; i++) {
		if (exec_sender_build_error(probe[i]))
			die("build a probe sender", exec_sender_build_error(probe[i]));
		if (exec_sender_op_size(probe[i]) > sl->child_cap)
			sl->child_cap = exec_sender_op_size(probe[i]);
		if (exec_sender_op_align(probe[i]) > sl->child_align)
			sl->child_align = exec_sender_op_align(probe[i]);
		exec_sender_free(probe[i]);
	}
	if (sl->child_align > 16) /* conn_holder's op is 16-aligned */
		die("child operation alignment", EINVAL);
	/* A multiple of 16: the send slab's blocks stay 16-aligned. */
	sl->child_cap = (sl->child_cap + 15) & ~(size_t)15;
	if (echo_conn_multishot(sl)) {
		int rc = send_slab_create(sl, sl->child_cap);
		if (rc < 0)
			die("send slab", rc);
	}
	if (index == 0) {
		const exec_io_features *f = exec_io_loop_features(loop);
		printf("echo_server: backend=%s buffers=%s recv=%s multishot_accept=%d "
		       "multishot_recv=%d defer_taskrun=%d\n",
		       exec_io_loop_backend_name(loop), sl->ring ? "provided" : "per-connection",
		       echo_conn_multishot(sl) ? "multishot" : "single",
		       f->multishot_accept, f->multishot_recv, f->defer_taskrun);
		fflush(stdout);
	}
	sl->accept_rcv.base.ops = &accept_rcv_ops;
	sl->accept_rcv.sl = sl;
	sl->pause_rcv.base.ops = &pause_rcv_ops;
	sl->pause_rcv.sl = sl;
	sl->idle_rcv.base.ops = &idle_rcv_ops;
	sl->idle_rcv.sl = sl;
	sl->accept_s = exec_io_accept_multishot(loop, sl->lfd, SOCK_CLOEXEC, on_accept, sl);
	sl->pause_s = exec_io_timeout(loop, 100 * EXEC_NS_PER_MS);
	sl->idle_s = exec_io_timeout(loop, SEND_TICK_MS * EXEC_NS_PER_MS);
	if (exec_sender_build_error(sl->accept_s) || exec_sender_build_error(sl->pause_s) ||
	    exec_sender_build_error(sl->idle_s))
		die("build accept", -ENOMEM);
	sl->accept_op = aligned_alloc(64, (exec_sender_op_size(sl->accept_s) + 63) & ~(size_t)63);
	sl->pause_op = aligned_alloc(64, (exec_sender_op_size(sl->pause_s) + 63) & ~(size_t)63);
	sl->idle_op = aligned_alloc(64, (exec_sender_op_size(sl->idle_s) + 63) & ~(size_t)63);
	if (!sl->accept_op || !sl->pause_op || !sl->idle_op)
		die("allocate", ENOMEM);
	sl->stop_task.fn = loop_stop_task;
	loop_start_accept(sl);
	AO_fetch_and_add1_release(&g_stats.set_up);
}

/* ---- --self-test: a loopback client in a thread of its own ---------------
 *
 * Plain sockets and poll(), on purpose independent of cexec, so the server
 * is checked by code that does not share its machinery. Every wait is
 * bounded (SELFTEST_WAIT_MS); every case prints one line. */

/* A safety net against a hung server, never a judgement of speed: every
 * case waits for an event (bytes, a close, a counter) and only gives up
 * when this much time passed without it. */
#define SELFTEST_WAIT_MS 30000

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
			/* One echo first: the server has accepted it. A peer
			 * that closes while still in the backlog would be
			 * accepted at some later point, and count as open
			 * there (during the max-conns case, say). */
			st_fill(msg, 64, 8);
			if (fd < 0 || st_echo(fd, msg, 64, back) != 0) {
				if (fd >= 0)
					close(fd);
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
		/* Six connections: two fit, four wait in the backlogs (and stay
		 * under --max-conns). Which two the server accepts is not
		 * known: with several loops each listener has its own backlog
		 * and the loops race for the two free descriptors. */
		nconn = nem < 6 ? nem : 6;
		for (int j = 0; ok && j < nconn; j++) {
			ok = connect(em[j], (struct sockaddr *)&sa, sizeof(sa)) == 0;
			fcntl(em[j], F_SETFL, fcntl(em[j], F_GETFL) | O_NONBLOCK);
		}
		/* Wait for the pause, with two connections open. */
		for (int i = 0; ok && i < SELFTEST_WAIT_MS / 10 &&
				(unsigned long)AO_load(&g_stats.pauses) == pauses0; i++)
			usleep(10 * 1000);
		ok = ok && st_wait_open(2);
		/* While paused, the accepted two are served: send to all six
		 * and wait for two echoes (the others wait in a backlog). */
		st_fill(msg, 64, 13);
		bool echoed[6] = {false};
		size_t got[6] = {0};
		int nechoed = 0;
		for (int j = 0; ok && j < nconn; j++)
			ok = send(em[j], msg, 64, MSG_NOSIGNAL) == 64;
		while (ok && nechoed < 2) {
			struct pollfd p[6];
			for (int j = 0; j < nconn; j++)
				p[j] = (struct pollfd){em[j], echoed[j] ? 0 : POLLIN, 0};
			int rc = poll(p, (nfds_t)nconn, SELFTEST_WAIT_MS);
			if (rc <= 0) {
				ok = rc < 0 && errno == EINTR;
				continue;
			}
			for (int j = 0; ok && j < nconn; j++) {
				if (!(p[j].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				ssize_t r = recv(em[j], back + got[j], 64 - got[j], 0);
				ok = r > 0 || (r < 0 && errno == EAGAIN);
				if (r > 0 && (got[j] += (size_t)r) == 64) {
					ok = memcmp(back, msg, 64) == 0;
					echoed[j] = true;
					nechoed++;
				}
			}
		}
		bool paused = (unsigned long)AO_load(&g_stats.pauses) > pauses0;
		if (em) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		/* The accept resumes: the other four get their echo (the bytes
		 * sent while they waited), then every one echoes once more. */
		for (int j = 0; ok && j < nconn; j++) {
			while (ok && !echoed[j]) {
				struct pollfd p = {em[j], POLLIN, 0};
				int rc = poll(&p, 1, SELFTEST_WAIT_MS);
				ssize_t r = rc > 0 ? recv(em[j], back + got[j], 64 - got[j], 0) : -1;
				ok = r > 0 || (rc < 0 && errno == EINTR) || (r < 0 && errno == EAGAIN);
				if (r > 0 && (got[j] += (size_t)r) == 64) {
					ok = memcmp(back, msg, 64) == 0;
					echoed[j] = true;
				}
			}
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


/* ---- --soak: connections churning while resources are sampled -----------
 *
 * The client runs in a child process forked before any thread exists (so
 * each process stays under the descriptor limit: N sockets each). In each
 * wave it opens N connections (at most SOAK_CONNECTING at a time), echoes
 * one verified 64-byte message on each, then ends them all: a third send
 * another message and reset at once (the server may be sending), a third
 * reset, a third close normally. It then tells the server process, which
 * waits until it has accepted the wave's N connections and closed every
 * one. While the wave churns the server samples its open descriptors, the
 * in-flight requests of every loop (exec_io_loop_inflight, read by a task
 * on each loop) and its RSS every SOAK_SAMPLE_MS and prints the peaks;
 * after the wave all three must be back at their starting level (sampled
 * before the first wave): the same fds and in-flight counts, RSS within
 * SOAK_RSS_SLACK once free heap memory is trimmed (the provided-buffer
 * rings are prefaulted, so they are in the starting RSS). A leak of L
 * bytes per connection shows after N * W * L > the slack. */

#define SOAK_CONNECTING 512
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SOAK_SANITIZER 1
#endif
#endif
#ifndef SOAK_SANITIZER
#define SOAK_SANITIZER 0
#endif
#define SOAK_RSS_SLACK (2L << 20)

static int soak_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int soak_read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

typedef struct soak_conn {
	int fd;
	unsigned got;
	bool sent, done;
} soak_conn;

/* One wave of the client: 0, or -1 after printing why. */
static int soak_wave(int ep, soak_conn *cs, int n, uint16_t port, unsigned wave)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned char msg[64], back[64];
	int opened = 0, finished = 0, connecting = 0;
	memset(cs, 0, (size_t)n * sizeof(*cs));
	while (finished < n) {
		while (opened < n && connecting < SOAK_CONNECTING) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				fprintf(stderr, "soak client: socket: %s\n", strerror(errno));
				return -1;
			}
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			    errno != EINPROGRESS) {
				fprintf(stderr, "soak client: connect: %s\n", strerror(errno));
				close(fd);
				return -1;
			}
			cs[opened].fd = fd;
			struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)opened};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			opened++;
			connecting++;
		}
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, SELFTEST_WAIT_MS);
		if (k == 0) {
			fprintf(stderr, "soak client: no progress (%d of %d done)\n", finished, n);
			return -1;
		}
		for (int e = 0; e < k; e++) {
			uint32_t i = evs[e].data.u32;
			soak_conn *c = &cs[i];
			st_fill(msg, sizeof msg, wave * 7919u + i);
			if (!c->sent) {
				int err = 0;
				socklen_t len = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || send(c->fd, msg, sizeof msg, MSG_NOSIGNAL) != sizeof msg) {
					fprintf(stderr, "soak client: connection %u: %s\n", i,
						strerror(err ? err : errno));
					return -1;
				}
				c->sent = true;
				struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			ssize_t r = recv(c->fd, back + c->got, sizeof back - c->got, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0) {
				fprintf(stderr, "soak client: connection %u: %s\n", i,
					r == 0 ? "closed by the server" : strerror(errno));
				return -1;
			}
			/* The bytes of one message arrive in order: compare as
			 * they come. */
			if (memcmp(back + c->got, msg + c->got, (size_t)r) != 0) {
				fprintf(stderr, "soak client: connection %u: wrong bytes\n", i);
				return -1;
			}
			c->got += (unsigned)r;
			if (c->got == sizeof msg) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->done = true;
				finished++;
				connecting--;
			}
		}
	}
	/* Every connection was accepted and echoed: end them. */
	for (int i = 0; i < n; i++) {
		struct linger lg = {1, 0};
		if (i % 3 == 0)
			send(cs[i].fd, msg, sizeof msg, MSG_NOSIGNAL);
		if (i % 3 != 2)
			setsockopt(cs[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(cs[i].fd);
	}
	return 0;
}

/* The child: reads the port, runs the waves, reports each (one byte: 0 ok,
 * 1 failed) and waits for the go-ahead (one byte) before the next. */
static int soak_client(int rd, int wr, int n, int waves)
{
	uint16_t port;
	if (soak_read_all(rd, &port, sizeof port) < 0)
		return 1;
	soak_conn *cs = calloc((size_t)n, sizeof(*cs));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0)
		return 1;
	for (int w = 0; w < waves; w++) {
		unsigned char st = soak_wave(ep, cs, n, port, (unsigned)w) == 0 ? 0 : 1;
		unsigned char go;
		if (soak_write_all(wr, &st, 1) < 0 || st)
			return 1;
		if (w + 1 < waves && soak_read_all(rd, &go, 1) < 0)
			return 1;
	}
	close(ep);
	free(cs);
	return 0;
}

static long soak_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

static long soak_rss(void)
{
	long pages = -1, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void soak_sample_task(exec_task *t, int status)
{
	server_loop *sl = EXEC_CONTAINER_OF(t, server_loop, sample_task);
	(void)status;
	AO_store(&sl->inflight_sample, (AO_t)exec_io_loop_inflight(sl->loop));
	AO_fetch_and_add1_release(&sl->sampled);
}

/* The sum of the loops' in-flight requests, each read on its own thread. */
static long soak_inflight(server_loop *sls, int n)
{
	long sum = 0;
	for (int i = 0; i < n; i++) {
		AO_t before = AO_load_acquire(&sls[i].sampled);
		sls[i].sample_task.fn = soak_sample_task;
		exec_scheduler_submit(exec_io_loop_scheduler(sls[i].loop), &sls[i].sample_task);
		for (int k = 0; k < SELFTEST_WAIT_MS && AO_load_acquire(&sls[i].sampled) == before;
		     k++)
			usleep(1000);
		if (AO_load_acquire(&sls[i].sampled) == before)
			return -1;
		sum += (long)AO_load(&sls[i].inflight_sample);
	}
	return sum;
}

/* One sample of the server's resources. */
typedef struct soak_sample {
	long fds, inflight, rss;
} soak_sample;

static soak_sample soak_take(server_loop *sls)
{
	soak_sample m;
	m.fds = soak_count_fds();
	m.inflight = soak_inflight(sls, g_cfg.threads);
	m.rss = soak_rss();
	return m;
}

/* Waits for the client's one-byte report of a wave, sampling the server
 * every SOAK_SAMPLE_MS meanwhile (while the connections churn); *peak
 * keeps the highest of each. 0 and the byte, or -1. */
#define SOAK_SAMPLE_MS 20
static int soak_wait_report(server_loop *sls, int rd, unsigned char *st, soak_sample *peak)
{
	for (;;) {
		soak_sample m = soak_take(sls);
		if (m.fds > peak->fds)
			peak->fds = m.fds;
		if (m.inflight > peak->inflight)
			peak->inflight = m.inflight;
		if (m.rss > peak->rss)
			peak->rss = m.rss;
		struct pollfd p = {.fd = rd, .events = POLLIN};
		int rc = poll(&p, 1, SOAK_SAMPLE_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc > 0)
			return soak_read_all(rd, st, 1);
	}
}

/* The server side of --soak. Returns the exit status.
 *
 * The starting level is sampled before the first wave, at rest (the
 * provided-buffer rings are prefaulted, so their memory is in it). After
 * every wave, once every connection is closed, free heap memory is handed
 * back (malloc_trim: glibc keeps a freed arena's pages otherwise) and
 * then open fds and in-flight io requests must equal the starting counts
 * and RSS must be within SOAK_RSS_SLACK of the starting RSS. During the
 * wave all three are sampled and their peaks printed (they show the churn
 * that came and went; not checked: how high they get depends on timing). */
static int soak_main(server_loop *sls, uint16_t port, int rd, int wr, int n, int waves)
{
	malloc_trim(0);
	soak_sample m0 = soak_take(sls), m = m0;
	long rss_max = m0.rss;
	bool ok = soak_write_all(wr, &port, sizeof port) == 0; /* the client starts */
	printf("soak: %d connections x %d waves; at rest: %ld fds, %ld in flight, RSS %ld KiB\n",
	       n, waves, m0.fds, m0.inflight, m0.rss / 1024);
	for (int w = 0; ok && w < waves; w++) {
		unsigned char st = 1;
		soak_sample peak = m0;
		ok = soak_wait_report(sls, rd, &st, &peak) == 0 && st == 0;
		if (!ok) {
			fprintf(stderr, "soak: the client failed in wave %d\n", w + 1);
			break;
		}
		/* Every connection of the wave was accepted before the client
		 * reported; wait until the server closed them all. */
		ok = st_wait_open(0);
		malloc_trim(0);
		m = soak_take(sls);
		if (m.rss > rss_max)
			rss_max = m.rss;
		printf("soak: wave %d: peak %ld fds, %ld in flight, RSS %ld KiB; at rest %ld fds, "
		       "%ld in flight, RSS %ld KiB; %lu accepted, %lu ended with an error\n",
		       w + 1, peak.fds, peak.inflight, peak.rss / 1024, m.fds, m.inflight,
		       m.rss / 1024, (unsigned long)AO_load(&g_stats.accepted),
		       (unsigned long)AO_load(&g_stats.failed));
		fflush(stdout);
		if (m.fds != m0.fds || m.inflight != m0.inflight) {
			fprintf(stderr, "soak: wave %d: %ld fds (start %ld), %ld in flight (start %ld)\n",
				w + 1, m.fds, m0.fds, m.inflight, m0.inflight);
			ok = false;
		}
		if (!SOAK_SANITIZER && m.rss > m0.rss + SOAK_RSS_SLACK) {
			fprintf(stderr, "soak: wave %d: RSS %ld KiB, start %ld KiB (bound +%ld KiB)\n",
				w + 1, m.rss / 1024, m0.rss / 1024, SOAK_RSS_SLACK / 1024);
			ok = false;
		}
		unsigned char go = 1;
		if (w + 1 < waves)
			ok = ok && soak_write_all(wr, &go, 1) == 0;
	}
	if (SOAK_SANITIZER) {
		/* Their allocators keep freed memory aside (ASan's quarantine):
		 * RSS says nothing here; LeakSanitizer checks for leaks. */
		printf("soak: RSS not bounded under a sanitizer\n");
	}
	printf("soak: %s (after every wave: fds and in-flight requests back to %ld and %ld; RSS at "
	       "most %ld KiB, start %ld KiB, bound +%ld KiB%s)\n",
	       ok ? "passed" : "FAILED", m0.fds, m0.inflight, rss_max / 1024, m0.rss / 1024,
	       SOAK_RSS_SLACK / 1024, SOAK_SANITIZER ? ", not checked under a sanitizer" : "");
	return ok ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: echo_server [--port P] [--threads N] [--max-conns M]\n"
		   "                   [--buffers provided|conn] [--max-seconds S]\n"
		   "                   [--self-test [--self-test-conns C] [--self-test-msgs K]]\n"
		   "                   [--soak-conns N [--soak-waves W]] [--ring-buffers B]\n"
		   "                   [--recv multishot|single]\n");
}

int main(int argc, char **argv)
{
	long max_seconds = 0;
	bool self_test = false, max_conns_set = false;
	int st_conns = 100, st_msgs = 10, soak_conns = 0, soak_waves = 3;
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
		{"soak-conns", required_argument, 0, 'S'},
		{"soak-waves", required_argument, 0, 'W'},
		{"ring-buffers", required_argument, 0, 'R'},
		{"recv", required_argument, 0, 'r'},
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
		case 'S': soak_conns = atoi(optarg); break;
		case 'W': soak_waves = atoi(optarg); break;
		case 'R': g_cfg.nbufs = (unsigned)atoi(optarg); break;
		case 'r':
			if (strcmp(optarg, "multishot") == 0)
				g_cfg.multishot = 1;
			else if (strcmp(optarg, "single") == 0)
				g_cfg.multishot = 0;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (self_test && !max_conns_set)
		g_cfg.max_conns = st_conns + 4; /* leaves room for the bound's case */
	if (soak_conns && !max_conns_set)
		g_cfg.max_conns = soak_conns;
	if (g_cfg.port < 0 || g_cfg.port > 65535 || g_cfg.threads < 1 || g_cfg.threads > 256 ||
	    g_cfg.max_conns < 1 || max_seconds < 0 || st_conns < 1 || st_conns > 5000 ||
	    st_msgs < 1 || soak_conns < 0 || soak_conns > 10000 || soak_waves < 1 ||
	    (self_test && soak_conns) || g_cfg.nbufs < 1 || g_cfg.nbufs > 32768 ||
	    (g_cfg.nbufs & (g_cfg.nbufs - 1))) {
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
	/* --soak: the client is a child process, forked while this one has a
	 * single thread; two pipes carry the port and the waves' handshakes. */
	int soak_rd = -1, soak_wr = -1;
	pid_t soak_pid = -1;
	if (soak_conns) {
		int to_child[2], to_parent[2];
		if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(to_parent, O_CLOEXEC) < 0)
			die("pipe", errno);
		fflush(stdout);
		soak_pid = fork();
		if (soak_pid < 0)
			die("fork", errno);
		if (soak_pid == 0) {
			close(to_child[1]);
			close(to_parent[0]);
			_exit(soak_client(to_child[0], to_parent[1], soak_conns, soak_waves));
		}
		close(to_child[0]);
		close(to_parent[1]);
		soak_rd = to_parent[0];
		soak_wr = to_child[1];
	}
	/* SIGINT / SIGTERM are taken by sigtimedwait in the main thread only;
	 * the loop threads inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	server_loop *sls = calloc((size_t)g_cfg.threads, sizeof(*sls));
	if (!sls)
		die("calloc", ENOMEM);
	/* The listeners exist before the loops, so the first one's port (for
	 * --port 0) is known to the others. */
	uint16_t port = (uint16_t)g_cfg.port;
	for (int i = 0; i < g_cfg.threads; i++) {
		sls[i].lfd = exec_reuseport_listen("127.0.0.1", port, 4096, &port);
		if (sls[i].lfd < 0)
			die("listen", sls[i].lfd);
	}
	exec_io_loop_group *group;
	exec_io_loop_options lopts;
	memset(&lopts, 0, sizeof(lopts));
	lopts.entries = 4096;
	int rc = exec_io_loop_group_start(&group, (unsigned)g_cfg.threads, &lopts, loop_setup, sls);
	if (rc < 0)
		die("exec_io_loop_group_start", rc);
	/* Setup runs on each loop's thread after group_start returned: wait
	 * for it, so that a task submitted from here (stop, a soak sample)
	 * queues behind the start of the accept. */
	while ((int)AO_load_acquire(&g_stats.set_up) < g_cfg.threads)
		usleep(1000);
	printf("echo_server: listening on 127.0.0.1:%d threads=%d max-conns=%ld pid=%d\n",
	       (int)port, g_cfg.threads, g_cfg.max_conns, (int)getpid());
	fflush(stdout);

	rc = 0;
	if (soak_conns) {
		rc = soak_main(sls, port, soak_rd, soak_wr, soak_conns, soak_waves);
		close(soak_wr); /* a client still waiting for a go-ahead ends */
		int status = 0;
		if (waitpid(soak_pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "soak: the client process failed\n");
			rc = 1;
		}
		close(soak_rd);
	} else if (self_test) {
		struct selftest_args a = {port, st_conns, st_msgs, (int)g_cfg.max_conns, 0};
		selftest_main(&a);
		rc = a.rc;
	} else {
		struct timespec ts = {max_seconds ? (time_t)max_seconds : 365 * 24 * 3600, 0};
		while (sigtimedwait(&sigs, NULL, &ts) < 0 && errno == EINTR)
			;
	}
	/* Stop: each loop cancels its work; wait (bounded) until all drained. */
	for (int i = 0; i < g_cfg.threads; i++)
		exec_scheduler_submit(exec_io_loop_scheduler(exec_io_loop_group_loop(group, (unsigned)i)),
				      &sls[i].stop_task);
	for (int i = 0; i < 6000 && (int)AO_load_acquire(&g_stats.drained) < g_cfg.threads; i++)
		usleep(10 * 1000);
	if ((int)AO_load_acquire(&g_stats.drained) < g_cfg.threads) {
		fprintf(stderr, "echo_server: loops did not drain within 60 s\n");
		return 1;
	}
	exec_io_loop_group_stop(group);
	exec_io_loop_group_join(group);
	free(sls);
	printf("echo_server: %lu accepted, %lu refused (max-conns), %lu ended with an error, "
	       "%lu accept pauses%s\n",
	       (unsigned long)AO_load(&g_stats.accepted), (unsigned long)AO_load(&g_stats.refused),
	       (unsigned long)AO_load(&g_stats.failed), (unsigned long)AO_load(&g_stats.pauses),
	       self_test ? (rc ? "; self-test FAILED" : "; self-test passed") : "");
	return rc;
}
