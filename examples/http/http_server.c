/* examples/http/http_server.c - an HTTP/1.1 "Hello, World!" server on cexec.
 *
 *   http_server [--port P] [--threads N] [--idle-timeout MS]
 *               [--request-timeout MS] [--max-conns M] [--max-seconds S]
 *               [--debug] [--watchdog-ms MS] [--busy-poll-us US]
 *               [--batch-wait-us US]
 *               [--recv multishot|single] [--recv-buffers N]
 *               [--recv-buffer-size B] [--self-test]
 *
 * One exec_io_loop per thread (schedulers/io_loop_group.h), each with its
 * own SO_REUSEPORT listener on 127.0.0.1:P and a multishot accept. GET or
 * HEAD of "/" answers "Hello, World!" (Content-Length 13), other paths 404
 * (http_conn.h has the protocol; this file only moves bytes).
 *
 * Per connection: one struct conn, allocated at accept and freed at close,
 * holding a 4 KiB input buffer, the protocol state (parser + pending
 * responses), two senders built once (a recv into the input buffer, a
 * sendmsg of an iovec the connection points at its pending output before
 * each send) and the storage for the operations in flight. Each round
 * reconnects a sender into that storage: nothing is allocated per
 * request. Keep-alive and pipelining come from http_conn: a recv may bring
 * several requests; their responses go out in one send.
 *
 * Receiving, --recv multishot (the default where the kernel has
 * IORING_RECV_MULTISHOT and buffer rings; else, and on epoll, single): one
 * exec_io_recv_multishot per connection, armed at accept and kept for the
 * connection's life on a provided-buffer ring per loop (--recv-buffers,
 * default 1024, of --recv-buffer-size bytes, default 2048: c1000 has up to
 * 1,000 pieces in one completion batch; when the ring runs dry the library
 * re-arms after the next recycle). Each piece is appended to the input
 * buffer and its ring buffer goes back at once, so an idle connection holds
 * none. Pieces that come while a send is in flight (pipelining) queue there
 * and are answered in order after it; past 4 KiB queued the buffer moves to
 * the heap (up to 256 KiB) and the recv is paused (stopped through its own
 * stop source), to be re-armed once the queue is answered - the flow
 * control a single recv gets by leaving bytes in the socket. The end of
 * stream closes after the queued requests are answered; an error closes.
 * --recv single arms a fresh recv per request (io_uring adds and removes a
 * poll entry on the socket's wait queue each time, on the server's CPU,
 * while the client's CPU wakes it). Measured (bench/http, wrk -t1 on CPU 1,
 * server on CPU 0, alternating in one run, 2026-11-23): wrk -c100, 5 rounds
 * of 3 s, wrk's CPU per request (it runs at 100%, so 1/throughput): nginx
 * 12.10, single 12.73, multishot 12.54 us (medians; multishot below single
 * in 5 of 5 rounds); -c1000: 14.47 / 14.58 / 14.65 (no difference).
 * run_http_bench.sh --rounds 3, one run per mode: paired cexec / nginx
 * c100 0.981 (single) vs 1.008 (multishot), c1000 0.986 vs 1.036; server
 * CPU per request 8.62 / 8.74 us (single) vs 8.27 / 8.58 (multishot). A
 * second pair (the previous commit's binary, then multishot): paired
 * c100 1.023 vs 0.984, c1000 0.968 vs 0.980 - requests/s differ within
 * this machine's noise - but server CPU per request / nginx's was lower
 * with multishot in both pairs (c100 0.768, 0.844 -> 0.731, 0.676; c1000
 * 0.897, 0.870 -> 0.698, 0.782). Hence the default; --recv single stays.
 *
 * Timeouts (stop tokens and timers): each connection owns a stop source
 * (the environment its operations see) and a timer task on its loop.
 * Activity only moves conn->deadline; when the timer fires early it re-arms
 * itself at the deadline, else it requests stop, which cancels the recv or
 * send in flight (it completes "stopped" after the kernel let go of the
 * buffer). Then: a request in progress gets 408 and the connection closes;
 * an idle keep-alive connection closes silently; a send that cannot finish
 * (a client that does not read) closes. With --recv multishot the timer
 * stops the recv (its own stop source) when no send is in flight, and
 * input that arrived before the cancel is still answered, as with a single
 * recv; a send or linger that times out closes, which stops both.
 * --idle-timeout (default 60000 ms)
 * applies between requests, --request-timeout (default 10000 ms) while a
 * request or a response is under way.
 *
 * Errors: malformed input gets the parser's status (400, 413, 414, 431,
 * 501, 505) with "Connection: close", then a lingering close: shutdown
 * (SHUT_WR) and drain the input for at most 2 s / 64 KiB, so that the
 * client reads the answer rather than a reset. Resets and other socket
 * errors close that connection only; SIGPIPE is ignored.
 *
 * Shutdown: SIGINT / SIGTERM / --max-seconds, or the end of --self-test:
 * each loop stops its accept and every connection's operation, frees each
 * connection as its operation completes, and stops once none is left.
 *
 * --busy-poll-us US (default 0: off): under load, each loop polls its ring
 * for up to US microseconds before it sleeps (exec_io_loop_options.
 * busy_poll_ns, io_uring only). A sleeping loop is woken by the CPU that
 * delivers the next request - on loopback, the client's - and that
 * wake-up (an inter-processor interrupt) is paid on that CPU each time
 * the loop slept between bursts. The polling time counts as the server's
 * CPU time; an idle server polls once and sleeps, but one busy client
 * keeps a polling loop's CPU at 100%. Measured in
 * bench/http (server and wrk on one CPU each): 200 us cut the loop's
 * sleeps from ~0.05 to ~0.01 per request, yet requests/s did not rise in
 * quiet paired runs while CPU per request went from ~9 to ~13 us, so the
 * bench runs without it unless asked (--busy-poll-us).
 *
 * --batch-wait-us US (default 20; 0: off): under load (the last wake-up
 * brought several requests), each loop sleeps until 32 completions are
 * ready or US microseconds have passed with at least one
 * (exec_io_loop_options.batch_wait_ns; io_uring 6.12+ only, the startup
 * line says whether it is on). Requests that arrive meanwhile wake
 * nobody, so the client's CPU pays no interrupt for them; a lone client
 * (one request at a time) is never held back. Measured in bench/http at
 * 100 connections: interrupts sent to the server's CPU fell from ~0.06
 * to ~0.003 per request and wrk's CPU per request by ~0.5 us, the margin
 * by which cexec passes nginx there.
 *
 * Debugging: --debug turns on the in-flight registry (exec/debug.h) and
 * `kill -USR1 <pid>` prints every operation in flight (accepts, receives,
 * sends; fd, loop, age) to stderr; --watchdog-ms MS reports, once, a loop
 * callback that has not returned for MS milliseconds (a blocked loop).
 *
 * Memory: a closed connection's block goes on its loop's spare list for
 * the next connection (examples/http/spares.h); after 10 s without reuse
 * the list halves each second, so an idle server gives the memory back.
 *
 * --self-test: serves on an ephemeral port (2 threads unless --threads;
 * idle timeout 3 s, request timeout 300 ms unless given) and runs the
 * loopback client of http_selftest.c against it; exit status 0 when every
 * case passed. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cexec.h"
#include "http_conn.h"
#include "http_selftest.h"
#include "spares.h"

#define IN_CAP 4096
#define OP_CAP 512              /* storage for one recv/sendmsg op state */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES 65536
#define ACCEPT_PAUSE_MS 100     /* after EMFILE / ENFILE */
#define IN_BACKLOG_MAX (256 * 1024) /* --recv multishot: input queued while sending */

struct options {
	int port;
	unsigned threads;
	int idle_ms;
	int request_ms;
	int max_conns; /* per thread */
	int max_seconds;
	bool self_test;
	bool debug;      /* in-flight registry on; SIGUSR1 dumps it */
	int watchdog_ms; /* 0: off */
	int busy_poll_us; /* 0: off */
	bool recv_single;   /* --recv single: a recv per request */
	int ring_bufs;      /* --recv-buffers: per loop, a power of two */
	int ring_buf_size;  /* --recv-buffer-size: bytes each */
	int batch_wait_us;  /* --batch-wait-us; 0: off */
};

struct worker;

enum conn_io { IO_NONE, IO_RECV, IO_SEND, IO_LINGER };

struct conn {
	struct worker *w;
	int fd;
	enum conn_io io;     /* the operation in flight */
	bool timed_out;      /* the timer requested stop */
	bool timer_armed;    /* the timer task is with the loop */
	bool timer_rearm;    /* cancelled to be armed earlier (timer_at) */
	exec_time timer_at;  /* when the armed timer fires */
	bool dead;           /* closed; freed once ops and timer are back */
	bool multishot;      /* receives with a multishot recv (mr_op) */
	bool mr_active;      /* the multishot recv is in flight */
	bool mr_paused;      /* its stop was requested: input backlog */
	bool eof;            /* the peer closed its side (multishot) */
	bool lingering;      /* closing: draining input (multishot) */
	size_t lingered;     /* bytes drained while lingering */
	exec_time deadline;  /* when the current phase times out */
	exec_stop_source stop;
	exec_task timer;
	exec_receiver rcv;
	exec_env env;
	exec_stop_source rstop; /* the multishot recv's: a pause stops it alone */
	exec_receiver mrcv;
	exec_env renv;
	exec_sender *recv_s; /* recv(fd, in, IN_CAP) */
	exec_sender *send_s; /* sendmsg(fd, &msg): msg -> iov -> http.out */
	struct msghdr msg;
	struct iovec iov;
	struct conn *prev, *next;
	size_t in_off, in_len; /* pending input: inp[in_off, in_len) */
	size_t in_cap;
	char *inp;           /* in, or a larger malloc'd backlog (multishot) */
	alignas(16) unsigned char op[OP_CAP];
	alignas(16) unsigned char mr_op[OP_CAP]; /* the multishot recv's */
	char in[IN_CAP];
	struct http_conn http;
};

struct server;

struct worker {
	struct server *srv;
	exec_io_loop *loop;
	exec_scheduler *sched;
	int listen_fd;
	exec_sender *accept_s;
	exec_io_buf_ring *ring; /* NULL: --recv single */
	exec_receiver accept_rcv;
	exec_env accept_env;
	exec_stop_source accept_stop;
	bool accepting;      /* the accept op is in flight */
	exec_task accept_retry;
	bool retry_armed;
	exec_task shutdown_task;
	bool stopping;
	bool loop_stopped;
	struct conn *conns;
	int nconns;
	struct spares spares; /* closed connections' memory, for the next */
	unsigned long long served; /* connections accepted */
	void *accept_op;
};

struct server {
	struct options opt;
	unsigned n;
	struct worker *workers;
	uint16_t port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready;
	int setup_error;
};

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static void worker_maybe_done(struct worker *w);

/* ---- the connection's timer ---------------------------------------------- */

static void conn_maybe_free(struct conn *c)
{
	if (!c->dead || c->timer_armed || c->io != IO_NONE || c->mr_active)
		return;
	struct worker *w = c->w;
	if (c->fd >= 0)
		close(c->fd);
	if (c->inp != c->in)
		free(c->inp);
	exec_sender_free(c->recv_s);
	exec_sender_free(c->send_s);
	spares_give(&w->spares, c);
	worker_maybe_done(w);
}

static void conn_timer_fired(exec_task *t, int status)
{
	struct conn *c = EXEC_CONTAINER_OF(t, struct conn, timer);
	c->timer_armed = false;
	bool rearm = c->timer_rearm;
	c->timer_rearm = false;
	if (c->dead || (status != 0 && !rearm)) {
		conn_maybe_free(c);
		return;
	}
	if (status != 0 || exec_scheduler_now(c->w->sched) < c->deadline) {
		/* Activity moved the deadline (later: re-armed lazily here, one
		 * timer per connection and no cancel per request; earlier:
		 * conn_set_deadline cancelled the timer to come here). */
		c->timer_at = c->deadline;
		c->timer_armed =
			exec_scheduler_submit_at(c->w->sched, t, c->deadline) == 0;
		return;
	}
	c->timed_out = true;
	if (c->multishot) {
		/* A send or linger that timed out closes. Else the recv is
		 * cancelled, and conn_mr_ended decides: input that arrived
		 * before the cancel is still answered, as with a single recv. */
		if (c->io != IO_NONE || c->lingering || c->eof || !c->mr_active) {
			conn_close(c);
			return;
		}
		exec_stop_source_request(&c->rstop);
		return;
	}
	exec_stop_source_request(&c->stop); /* cancels the op in flight */
}

static void conn_set_deadline(struct conn *c, int ms)
{
	c->deadline = exec_scheduler_now(c->w->sched) + (exec_time)ms * EXEC_NS_PER_MS;
	if (!c->timer_armed) {
		c->timer.fn = conn_timer_fired;
		c->timer_at = c->deadline;
		c->timer_armed =
			exec_scheduler_submit_at(c->w->sched, &c->timer, c->deadline) == 0;
	} else if (c->deadline < c->timer_at && !c->timer_rearm) {
		/* Sooner than the armed timer (a request after an idle wait,
		 * say: 10 s after 60 s): it comes back stopped and re-arms. */
		c->timer_rearm = true;
		exec_scheduler_cancel(c->w->sched, &c->timer);
	}
}

/* ---- the connection's receiver ------------------------------------------- */

/* An op of c completed and c must close: closes it, or frees it when it
 * was closed already and this was the last op (--recv multishot has two). */
static void conn_end(struct conn *c)
{
	if (c->dead)
		conn_maybe_free(c);
	else
		conn_close(c);
}

static void conn_start(struct conn *c, exec_sender *s, enum conn_io io)
{
	c->io = io;
	if (exec_connect(s, c->op, &c->rcv) != 0) {
		c->io = IO_NONE;
		conn_close(c);
		return;
	}
	exec_start((exec_op *)(void *)c->op);
}

static void conn_linger_next(struct conn *c)
{
	if (c->lingered > LINGER_MAX_BYTES || c->timed_out || c->w->stopping) {
		conn_close(c);
		return;
	}
	conn_start(c, c->recv_s, IO_LINGER);
}

static void conn_on_value(exec_receiver *r, const exec_value *v, size_t n)
{
	struct conn *c = EXEC_CONTAINER_OF(r, struct conn, rcv);
	int64_t res = n ? exec_value_as_i64(&v[0]) : 0;
	enum conn_io io = c->io;
	c->io = IO_NONE;
	if (c->dead) { /* --recv multishot: closed while this op ran */
		conn_maybe_free(c);
		return;
	}
	switch (io) {
	case IO_RECV:
		if (res <= 0) { /* the peer closed */
			conn_close(c);
			return;
		}
		c->in_off = 0;
		c->in_len = (size_t)res;
		break;
	case IO_SEND:
		http_conn_sent(&c->http, (size_t)res);
		break;
	case IO_LINGER:
		if (res <= 0) {
			conn_close(c);
			return;
		}
		c->lingered += (size_t)res;
		conn_linger_next(c);
		return;
	case IO_NONE:
		break;
	}
	if (c->w->stopping) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

static void conn_on_error(exec_receiver *r, int err)
{
	struct conn *c = EXEC_CONTAINER_OF(r, struct conn, rcv);
	(void)err; /* -ECONNRESET, -EPIPE ...: this connection only */
	c->io = IO_NONE;
	conn_end(c);
}

static void conn_on_stopped(exec_receiver *r)
{
	struct conn *c = EXEC_CONTAINER_OF(r, struct conn, rcv);
	enum conn_io io = c->io;
	c->io = IO_NONE;
	if (io != IO_RECV || c->w->stopping || c->dead) {
		/* A send or linger that timed out, shutdown, or (multishot)
		 * the connection closed while this op ran. */
		conn_end(c);
		return;
	}
	/* A receive timed out: 408 for a request in progress, nothing for an
	 * idle connection. The source stays "requested": take a fresh one
	 * (no operation is registered on it now) for the last send. */
	exec_stop_source_init(&c->stop);
	c->timed_out = false;
	http_conn_timeout(&c->http);
	c->in_off = c->in_len = 0;
	conn_process(c);
}

static const exec_env *conn_get_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, struct conn, rcv)->env;
}

static const exec_receiver_ops conn_rcv_ops = {
	.set_value = conn_on_value,
	.set_error = conn_on_error,
	.set_stopped = conn_on_stopped,
	.get_env = conn_get_env,
};

/* ---- --recv multishot ---------------------------------------------------- */

/* Appends a received piece to the pending input (the parser's buffer).
 * While a send is in flight pieces queue here; past IN_CAP the buffer
 * moves to the heap (and the recv is paused), up to IN_BACKLOG_MAX.
 * Returns false past that. */
static bool conn_append(struct conn *c, const void *buf, size_t len)
{
	size_t pending = c->in_len - c->in_off;
	if (c->in_len + len > c->in_cap && c->in_off > 0) {
		memmove(c->inp, c->inp + c->in_off, pending);
		c->in_off = 0;
		c->in_len = pending;
	}
	if (pending + len > c->in_cap) {
		size_t cap = c->in_cap * 2 > pending + len ? c->in_cap * 2 : pending + len;
		if (cap > IN_BACKLOG_MAX)
			return false;
		char *p = malloc(cap);
		if (!p)
			return false;
		memcpy(p, c->inp, pending);
		if (c->inp != c->in)
			free(c->inp);
		c->inp = p;
		c->in_cap = cap;
	}
	memcpy(c->inp + c->in_len, buf, len);
	c->in_len += len;
	return true;
}

/* exec_io_recv_multishot's callback (loop thread): a piece of input in a
 * ring buffer, which goes back to the ring at once. */
static void conn_piece(void *ctx, void *buf, size_t len)
{
	struct conn *c = ctx;
	exec_io_buf_ring *ring = c->w->ring;
	if (c->dead || c->lingering || http_conn_closing(&c->http)) {
		/* Closing: the parser would discard it; count it if lingering. */
		exec_io_buf_ring_recycle(ring, buf);
		c->lingered += len;
		if (c->lingering && c->lingered > LINGER_MAX_BYTES)
			conn_close(c);
		return;
	}
	bool ok = conn_append(c, buf, len);
	exec_io_buf_ring_recycle(ring, buf);
	if (!ok) {
		conn_close(c);
		return;
	}
	if (c->io == IO_NONE) {
		conn_process(c);
		return;
	}
	/* A send is in flight: the requests wait for it (in order). A
	 * client that pipelines far ahead of what it reads is paused, as a
	 * single recv would leave its bytes in the socket. */
	if (!c->mr_paused && c->in_len - c->in_off >= IN_CAP) {
		c->mr_paused = true;
		exec_stop_source_request(&c->rstop);
	}
}

static void conn_mr_start(struct conn *c)
{
	struct worker *w = c->w;
	exec_stop_source_init(&c->rstop); /* fresh after a pause */
	c->mr_paused = false;
	exec_sender *s = exec_io_recv_multishot(w->loop, c->fd, w->ring, 0, conn_piece, c);
	int err = exec_sender_build_error(s);
	if (!err && exec_sender_op_size(s) > OP_CAP)
		err = -E2BIG;
	if (!err)
		err = exec_connect(s, c->mr_op, &c->mrcv);
	/* The op copied what it needs (io.h): no sender kept per connection. */
	exec_sender_free(s);
	if (err) {
		conn_close(c);
		return;
	}
	c->mr_active = true;
	exec_start((exec_op *)(void *)c->mr_op);
}

/* The multishot recv completed: closed, the end of stream, a timeout or
 * a pause. Queued input is answered first; conn_process then re-arms it
 * (pause, or activity since the timer fired) or closes (end of stream). */
static void conn_mr_ended(struct conn *c)
{
	c->mr_active = false;
	if (c->dead) {
		conn_maybe_free(c);
		return;
	}
	if (c->w->stopping || c->lingering) {
		conn_close(c);
		return;
	}
	if (c->timed_out) {
		c->timed_out = false;
		if (c->io == IO_NONE && !c->eof &&
		    exec_scheduler_now(c->w->sched) >= c->deadline) {
			/* Nothing came since: 408 for a request in progress
			 * (then a lingering close), nothing for an idle one. */
			if (http_conn_idle(&c->http)) {
				conn_close(c);
				return;
			}
			http_conn_timeout(&c->http);
			c->in_off = c->in_len = 0;
		}
	} else if (!c->mr_paused && !c->eof) {
		conn_close(c); /* not ours: cannot happen */
		return;
	}
	if (c->io == IO_NONE)
		conn_process(c);
}

static void mr_on_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	struct conn *c = EXEC_CONTAINER_OF(r, struct conn, mrcv);
	c->eof = true; /* the peer closed: answer what came, then close */
	conn_mr_ended(c);
}

static void mr_on_error(exec_receiver *r, int err)
{
	struct conn *c = EXEC_CONTAINER_OF(r, struct conn, mrcv);
	(void)err; /* -ECONNRESET ...: this connection only */
	c->mr_active = false;
	conn_end(c);
}

static void mr_on_stopped(exec_receiver *r)
{
	conn_mr_ended(EXEC_CONTAINER_OF(r, struct conn, mrcv));
}

static const exec_env *mr_get_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, struct conn, mrcv)->renv;
}

static const exec_receiver_ops mr_rcv_ops = {
	.set_value = mr_on_value,
	.set_error = mr_on_error,
	.set_stopped = mr_on_stopped,
	.get_env = mr_get_env,
};

/* ---- the protocol loop --------------------------------------------------- */

static void conn_process(struct conn *c)
{
	for (;;) {
		size_t n = http_conn_input(&c->http, c->inp + c->in_off,
					   c->in_len - c->in_off);
		c->in_off += n;
		if (c->http.out_len > 0) {
			c->iov.iov_base = c->http.out;
			c->iov.iov_len = c->http.out_len;
			conn_set_deadline(c, c->w->srv->opt.request_ms);
			conn_start(c, c->send_s, IO_SEND);
			return;
		}
		if (http_conn_closing(&c->http)) {
			/* Lingering close: the client reads our last answer. */
			shutdown(c->fd, SHUT_WR);
			if (c->multishot) {
				/* The recv drains (conn_piece). */
				if (c->eof) {
					conn_close(c);
					return;
				}
				c->lingering = true;
				conn_set_deadline(c, LINGER_MS);
				if (!c->mr_active)
					conn_mr_start(c); /* after a timeout */
				return;
			}
			exec_stop_source_init(&c->stop);
			c->timed_out = false;
			conn_set_deadline(c, LINGER_MS);
			conn_linger_next(c);
			return;
		}
		if (c->in_off < c->in_len)
			continue; /* output was full; more pipelined input */
		c->in_off = c->in_len = 0;
		if (c->inp != c->in) { /* the backlog is gone */
			free(c->inp);
			c->inp = c->in;
			c->in_cap = IN_CAP;
		}
		if (c->multishot && c->eof) {
			conn_close(c);
			return;
		}
		conn_set_deadline(c, http_conn_idle(&c->http) ? c->w->srv->opt.idle_ms
							       : c->w->srv->opt.request_ms);
		if (!c->multishot)
			conn_start(c, c->recv_s, IO_RECV);
		else if (!c->mr_active)
			conn_mr_start(c); /* first, or after a pause */
		return;
	}
}

static void conn_close(struct conn *c)
{
	struct worker *w = c->w;
	if (c->dead)
		return;
	c->dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	/* --recv multishot: the other op may still be in flight; the fd
	 * closes once both are back (conn_maybe_free). */
	if (c->mr_active)
		exec_stop_source_request(&c->rstop);
	if (c->io != IO_NONE)
		exec_stop_source_request(&c->stop);
	if (c->io == IO_NONE && !c->mr_active) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->timer_armed)
		exec_scheduler_cancel(w->sched, &c->timer); /* fires STOPPED */
	conn_maybe_free(c);
}

static void conn_open(void *ctx, int fd)
{
	struct worker *w = ctx;
	w->served++;
	if (w->stopping || w->nconns >= w->srv->opt.max_conns) {
		close(fd);
		return;
	}
	struct conn *c = spares_take(&w->spares); /* per connection */
	if (!c) {
		close(fd);
		return;
	}
	memset(c, 0, offsetof(struct conn, op));
	c->w = w;
	c->fd = fd;
	c->inp = c->in;
	c->in_cap = IN_CAP;
	c->multishot = w->ring != NULL;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	exec_stop_source_init(&c->stop);
	c->env = exec_env_empty;
	c->env.stop_token = exec_stop_source_token(&c->stop);
	c->env.scheduler = w->sched;
	c->rcv.ops = &conn_rcv_ops;
	exec_stop_source_init(&c->rstop);
	c->renv = c->env;
	c->renv.stop_token = exec_stop_source_token(&c->rstop);
	c->mrcv.ops = &mr_rcv_ops;
	c->iov.iov_base = c->http.out;
	c->msg.msg_iov = &c->iov;
	c->msg.msg_iovlen = 1;
	http_conn_init(&c->http);
	c->recv_s = exec_io_recv(w->loop, fd, c->in, IN_CAP, 0);
	c->send_s = exec_io_sendmsg(w->loop, fd, &c->msg, MSG_NOSIGNAL);
	if (exec_sender_build_error(c->recv_s) || exec_sender_build_error(c->send_s) ||
	    exec_sender_op_size(c->recv_s) > OP_CAP ||
	    exec_sender_op_size(c->send_s) > OP_CAP) {
		exec_sender_free(c->recv_s);
		exec_sender_free(c->send_s);
		spares_give(&w->spares, c);
		close(fd);
		return;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	conn_process(c);
}

/* ---- accepting ----------------------------------------------------------- */

static void accept_start(struct worker *w);

static void accept_retry_fired(exec_task *t, int status)
{
	struct worker *w = EXEC_CONTAINER_OF(t, struct worker, accept_retry);
	w->retry_armed = false;
	if (status == 0 && !w->stopping)
		accept_start(w);
	worker_maybe_done(w);
}

static void accept_on_value(exec_receiver *r, const exec_value *v, size_t n)
{
	struct worker *w = EXEC_CONTAINER_OF(r, struct worker, accept_rcv);
	w->accepting = false; /* not expected: multishot never sends a value */
	worker_maybe_done(w);
}

static void accept_on_error(exec_receiver *r, int err)
{
	struct worker *w = EXEC_CONTAINER_OF(r, struct worker, accept_rcv);
	w->accepting = false;
	if (w->stopping) {
		worker_maybe_done(w);
		return;
	}
	/* EMFILE / ENFILE / ENOMEM: pause accepting, keep serving. */
	(void)err;
	w->accept_retry.fn = accept_retry_fired;
	w->retry_armed = exec_scheduler_submit_at(
				 w->sched, &w->accept_retry,
				 exec_scheduler_now(w->sched) +
					 ACCEPT_PAUSE_MS * EXEC_NS_PER_MS) == 0;
}

static void accept_on_stopped(exec_receiver *r)
{
	struct worker *w = EXEC_CONTAINER_OF(r, struct worker, accept_rcv);
	w->accepting = false;
	worker_maybe_done(w);
}

static const exec_env *accept_get_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, struct worker, accept_rcv)->accept_env;
}

static const exec_receiver_ops accept_rcv_ops = {
	.set_value = accept_on_value,
	.set_error = accept_on_error,
	.set_stopped = accept_on_stopped,
	.get_env = accept_get_env,
};

static void accept_start(struct worker *w)
{
	w->accepting = true;
	if (exec_connect(w->accept_s, w->accept_op, &w->accept_rcv) != 0) {
		w->accepting = false;
		fprintf(stderr, "http_server: cannot connect the accept sender\n");
		return;
	}
	exec_start((exec_op *)w->accept_op);
}

/* ---- workers ------------------------------------------------------------- */

static void worker_maybe_done(struct worker *w)
{
	if (w->stopping && !w->loop_stopped && w->nconns == 0 && !w->accepting &&
	    !w->retry_armed && !spares_busy(&w->spares)) {
		/* No connection left, so every ring buffer is back. */
		exec_io_buf_ring_destroy(w->ring);
		w->ring = NULL;
		w->loop_stopped = true;
		exec_io_loop_stop(w->loop);
	}
}

static void worker_spares_closed(struct spares *s)
{
	worker_maybe_done(EXEC_CONTAINER_OF(s, struct worker, spares));
}

/* Runs on the loop: stop accepting, cancel every connection's operation;
 * each connection is freed as its operation completes. */
static void worker_shutdown(exec_task *t, int status)
{
	struct worker *w = EXEC_CONTAINER_OF(t, struct worker, shutdown_task);
	w->stopping = true;
	if (w->accepting)
		exec_stop_source_request(&w->accept_stop);
	if (w->retry_armed)
		exec_scheduler_cancel(w->sched, &w->accept_retry);
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		exec_stop_source_request(&c->stop);
	}
	spares_close(&w->spares);
	worker_maybe_done(w);
}

static void worker_setup(exec_io_loop *loop, unsigned index, void *ctx)
{
	struct server *srv = ctx;
	struct worker *w = &srv->workers[index];
	w->loop = loop;
	w->sched = exec_io_loop_scheduler(loop);
	spares_init(&w->spares, w->sched, sizeof(struct conn), SPARES_PERIOD_NS, SPARES_HOLD,
		    worker_spares_closed);
	exec_stop_source_init(&w->accept_stop);
	w->accept_env = exec_env_empty;
	w->accept_env.stop_token = exec_stop_source_token(&w->accept_stop);
	w->accept_env.scheduler = w->sched;
	w->accept_rcv.ops = &accept_rcv_ops;
	/* --recv multishot (default) where the kernel has both multishot
	 * recv and buffer rings; else (and on epoll) a recv per request. */
	const exec_io_features *f = exec_io_loop_features(loop);
	if (!srv->opt.recv_single && f->multishot_recv && f->buf_ring &&
	    exec_io_buf_ring_create(loop, (unsigned)srv->opt.ring_bufs,
				    (size_t)srv->opt.ring_buf_size, 0, &w->ring) < 0)
		w->ring = NULL;
	w->accept_s = exec_io_accept_multishot(loop, w->listen_fd, SOCK_CLOEXEC,
					       conn_open, w);
	int err = exec_sender_build_error(w->accept_s);
	if (!err) {
		w->accept_op = aligned_alloc(exec_sender_op_align(w->accept_s),
					     (exec_sender_op_size(w->accept_s) +
					      exec_sender_op_align(w->accept_s) - 1) &
						     ~(exec_sender_op_align(w->accept_s) - 1));
		if (!w->accept_op)
			err = -ENOMEM;
	}
	if (!err)
		accept_start(w);
	else
		w->loop_stopped = true, exec_io_loop_stop(loop);
	pthread_mutex_lock(&srv->mu);
	if (err && !srv->setup_error)
		srv->setup_error = err;
	srv->ready++;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: http_server [--port P] [--threads N] [--idle-timeout MS]\n"
		   "                   [--request-timeout MS] [--max-conns M]\n"
		   "                   [--max-seconds S] [--debug] [--watchdog-ms MS]\n"
		   "                   [--busy-poll-us US] [--recv multishot|single]\n"
		   "                   [--recv-buffers N] [--recv-buffer-size B]\n"
		   "                   [--batch-wait-us US]\n"
		   "                   [--self-test]\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"threads", required_argument, NULL, 't'},
		{"idle-timeout", required_argument, NULL, 'i'},
		{"request-timeout", required_argument, NULL, 'r'},
		{"max-conns", required_argument, NULL, 'm'},
		{"max-seconds", required_argument, NULL, 's'},
		{"self-test", no_argument, NULL, 'T'},
		{"debug", no_argument, NULL, 'D'},
		{"watchdog-ms", required_argument, NULL, 'W'},
		{"busy-poll-us", required_argument, NULL, 'B'},
		{"recv", required_argument, NULL, 'R'},
		{"recv-buffers", required_argument, NULL, 'N'},
		{"recv-buffer-size", required_argument, NULL, 'S'},
		{"batch-wait-us", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct options){.port = 8080, .threads = 0, .idle_ms = -1,
			      .request_ms = -1, .max_conns = 15000, .max_seconds = 0,
			      .ring_bufs = 1024, .ring_buf_size = 2048,
			      .batch_wait_us = 20};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': o->port = atoi(optarg); break;
		case 't': o->threads = (unsigned)atoi(optarg); break;
		case 'i': o->idle_ms = atoi(optarg); break;
		case 'r': o->request_ms = atoi(optarg); break;
		case 'm': o->max_conns = atoi(optarg); break;
		case 's': o->max_seconds = atoi(optarg); break;
		case 'T': o->self_test = true; break;
		case 'D': o->debug = true; break;
		case 'W': o->watchdog_ms = atoi(optarg); break;
		case 'B': o->busy_poll_us = atoi(optarg); break;
		case 'R':
			if (strcmp(optarg, "single") == 0) {
				o->recv_single = true;
			} else if (strcmp(optarg, "multishot") == 0) {
				o->recv_single = false;
			} else {
				usage(stderr);
				return -1;
			}
			break;
		case 'N': o->ring_bufs = atoi(optarg); break;
		case 'S': o->ring_buf_size = atoi(optarg); break;
		case 'b': o->batch_wait_us = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (o->self_test) {
		o->port = 0;
		if (o->threads == 0)
			o->threads = 2;
		if (o->idle_ms < 0)
			o->idle_ms = 3000; /* >> request: see http_selftest.h */
		if (o->request_ms < 0)
			o->request_ms = 300;
	}
	if (o->threads == 0)
		o->threads = 1;
	if (o->idle_ms < 0)
		o->idle_ms = 60000;
	if (o->request_ms < 0)
		o->request_ms = 10000;
	if (o->port < 0 || o->port > 65535 || o->threads > 256 || o->idle_ms <= 0 ||
	    o->request_ms <= 0 || o->max_conns <= 0 || o->max_seconds < 0 ||
	    o->watchdog_ms < 0 || o->busy_poll_us < 0 || o->busy_poll_us > 1000000 ||
	    o->ring_bufs < 1 || o->ring_bufs > 32768 ||
	    (o->ring_bufs & (o->ring_bufs - 1)) != 0 || o->ring_buf_size < 64 ||
	    o->ring_buf_size > 1 << 20 || o->batch_wait_us < 0 ||
	    o->batch_wait_us > 1000000) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct server srv;
	memset(&srv, 0, sizeof srv);
	if (parse_options(argc, argv, &srv.opt) < 0)
		return 2;
	srv.n = srv.opt.threads;
	pthread_mutex_init(&srv.mu, NULL);
	pthread_cond_init(&srv.cv, NULL);
	srv.workers = calloc(srv.n, sizeof *srv.workers);
	if (!srv.workers)
		return 1;

	/* All listeners first, so that every loop shares one port even when
	 * the first picked it (port 0). */
	for (unsigned i = 0; i < srv.n; i++) {
		uint16_t bound = 0;
		int fd = exec_reuseport_listen("127.0.0.1",
					       i ? srv.port : (uint16_t)srv.opt.port,
					       4096, &bound);
		if (fd < 0) {
			fprintf(stderr, "http_server: listen on port %d: %s\n",
				srv.opt.port, strerror(-fd));
			return 1;
		}
		if (i == 0)
			srv.port = bound;
		srv.workers[i].srv = &srv;
		srv.workers[i].listen_fd = fd;
		srv.workers[i].shutdown_task.fn = worker_shutdown;
	}

	/* Signals are taken by sigwait in this thread only. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (srv.opt.debug)
		exec_debug_enable(true);
	exec_io_loop_options lopts = {0};
	lopts.watchdog_ns = (int64_t)srv.opt.watchdog_ms * EXEC_NS_PER_MS;
	lopts.busy_poll_ns = (int64_t)srv.opt.busy_poll_us * 1000;
	lopts.batch_wait_ns = (int64_t)srv.opt.batch_wait_us * 1000;
	exec_io_loop_group *group;
	int rc = exec_io_loop_group_start(&group, srv.n, &lopts, worker_setup, &srv);
	if (rc < 0) {
		fprintf(stderr, "http_server: starting the loops: %s\n", strerror(-rc));
		return 1;
	}
	pthread_mutex_lock(&srv.mu);
	while (srv.ready < srv.n)
		pthread_cond_wait(&srv.cv, &srv.mu);
	pthread_mutex_unlock(&srv.mu);
	int status = 0;
	if (srv.setup_error) {
		fprintf(stderr, "http_server: setup: %s\n", strerror(-srv.setup_error));
		status = 1;
	} else {
		const exec_io_features *f = exec_io_loop_features(srv.workers[0].loop);
		char recv[64] = "recv single";
		if (srv.workers[0].ring)
			snprintf(recv, sizeof recv, "recv multishot %dx%d B",
				 srv.opt.ring_bufs, srv.opt.ring_buf_size);
		bool uring = exec_io_loop_backend(srv.workers[0].loop) == EXEC_IO_BACKEND_URING;
		bool batching = uring && f->min_timeout && f->defer_taskrun;
		printf("listening on 127.0.0.1:%u (%u thread%s, %s, %s, busy poll %s%d us, "
		       "batch wait %d us)\n",
		       srv.port, srv.n, srv.n == 1 ? "" : "s",
		       exec_io_loop_backend_name(srv.workers[0].loop), recv,
		       srv.opt.busy_poll_us && !f->taskrun_flag ? "by enter, " : "",
		       uring ? srv.opt.busy_poll_us : 0, batching ? srv.opt.batch_wait_us : 0);
		fflush(stdout);
		if (srv.opt.self_test) {
			int failed = http_selftest_run(srv.port, srv.opt.idle_ms,
						       srv.opt.request_ms);
			printf("self-test: %s (%d failed)\n", failed ? "FAILED" : "passed",
			       failed);
			status = failed ? 1 : 0;
		} else {
			/* SIGUSR1 dumps the operations in flight (exec/debug.h)
			 * and goes on; SIGINT, SIGTERM or --max-seconds stop. */
			exec_time end = exec_clock_now() +
					(exec_time)srv.opt.max_seconds * EXEC_NS_PER_S;
			for (;;) {
				int sig;
				if (srv.opt.max_seconds > 0) {
					exec_time left = end - exec_clock_now();
					if (left <= 0)
						break;
					struct timespec limit = {left / EXEC_NS_PER_S,
								 left % EXEC_NS_PER_S};
					sig = sigtimedwait(&sigs, NULL, &limit);
				} else {
					sig = sigwaitinfo(&sigs, NULL);
				}
				if (sig == SIGUSR1)
					exec_debug_dump(STDERR_FILENO);
				else if (sig < 0 && errno == EINTR)
					continue; /* e.g. a debugger attached */
				else
					break;
			}
		}
	}
	unsigned long long served = 0;
	for (unsigned i = 0; i < srv.n; i++) {
		struct worker *w = &srv.workers[i];
		if (!w->loop_stopped)
			exec_scheduler_submit(w->sched, &w->shutdown_task);
	}
	exec_io_loop_group_join(group);
	for (unsigned i = 0; i < srv.n; i++) {
		struct worker *w = &srv.workers[i];
		served += w->served;
		exec_sender_free(w->accept_s);
		free(w->accept_op);
		close(w->listen_fd);
	}
	if (!srv.opt.self_test)
		printf("stopped after %llu connections\n", served);
	free(srv.workers);
	return status;
}
