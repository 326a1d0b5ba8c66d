/* examples/echo/echo_conn.c - the echo_conn connection sender of
 * examples/echo/echo_server.c, its --recv multishot path and the
 * per-loop send slab (see echo_conn.h). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_conn.h"

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

/* The child operation state (a receive or a send_all, one at a time) is
 * embedded after the echo_conn_op, at this offset. */
static size_t echo_conn_child_offset(const server_loop *sl)
{
	return (sizeof(echo_conn_op) + sl->child_align - 1) & ~(sl->child_align - 1);
}

/* Whether connections use --recv multishot (needs the ring). */
bool echo_conn_multishot(const server_loop *sl)
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

int echo_send_slab_create(server_loop *sl, size_t block)
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

void echo_send_slab_destroy(server_loop *sl)
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

void echo_idle_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	server_loop *sl = ((loop_rcv *)r)->sl;
	send_slab *sb = sl->slab;
	sl->idle_armed = false;
	if (sl->stopping) {
		echo_loop_maybe_drained(sl);
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

void echo_idle_error(exec_receiver *r, int err)
{
	(void)err;
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->idle_armed = false;
	echo_loop_maybe_drained(sl);
}

void echo_idle_stopped(exec_receiver *r)
{
	echo_idle_error(r, 0);
}

static void conn_recycle(server_loop *sl, void *buf);
static void conn_wake_waiter(server_loop *sl);
static void ms_sent(echo_conn_op *c, int err, bool stopped);

void echo_conn_finish(echo_conn_op *c, int kind, int err)
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
			echo_conn_finish(c, EXEC_RESULT_ERROR, rc);
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
	echo_conn_finish(c, c->ms_err ? EXEC_RESULT_ERROR
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
void echo_conn_piece(void *ctx, void *buf, size_t len)
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
	c->recv_s = exec_io_recv_multishot(sl->loop, c->fd, sl->ring, 0, echo_conn_piece, c);
	int err = exec_sender_build_error(c->recv_s);
	if (!err)
		err = exec_connect(c->recv_s, c->mr_op, &c->mrecv);
	if (err) {
		c->mr_op = NULL;
		echo_conn_finish(c, EXEC_RESULT_ERROR, err);
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
		echo_conn_finish(c, EXEC_RESULT_VALUE, 0);
		return;
	}
	c->send_s = exec_io_send_all(c->sl->loop, c->fd, ptr, len, 0);
	if (exec_sender_build_error(c->send_s)) {
		echo_conn_finish(c, EXEC_RESULT_ERROR, exec_sender_build_error(c->send_s));
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
	echo_conn_finish(c, EXEC_RESULT_ERROR, err);
}

static void child_stopped(exec_receiver *r)
{
	echo_conn_op *c = EXEC_CONTAINER_OF(r, echo_conn_op, child);
	if (c->mr_op) {
		ms_sent(c, 0, true);
		return;
	}
	echo_conn_finish(c, EXEC_RESULT_STOPPED, 0);
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
		echo_conn_finish(c, EXEC_RESULT_STOPPED, 0);
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
		echo_conn_finish(c, EXEC_RESULT_ERROR, err);
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
exec_sender *echo_conn(server_loop *sl, int fd)
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
