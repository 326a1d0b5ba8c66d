/* examples/echo/echo_server.h - what the files of examples/echo share
 * (internal to the program): the settings and counters that
 * echo_server.c defines, and one loop's server state. */
#ifndef CEXEC_EXAMPLES_ECHO_SERVER_H
#define CEXEC_EXAMPLES_ECHO_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "cexec.h"

/* ---- settings and counters shared by every loop ------------------------- */

typedef struct echo_settings {
	int port;
	int threads;
	long max_conns;
	int provided;
	unsigned buf_size;
	unsigned nbufs;
	int multishot; /* --recv multishot: one exec_io_recv_multishot per connection */
} echo_settings;

typedef struct echo_stats {
	AO_t open;     /* connections being served now */
	AO_t accepted; /* connections accepted in total */
	AO_t refused;  /* closed at once: over --max-conns */
	AO_t failed;   /* served connections that ended with an error */
	AO_t pauses;   /* accept pauses after EMFILE / ENFILE */
	AO_t drained;  /* loops whose work has all completed after a stop */
	AO_t set_up;   /* loops whose setup ran (their accept is queued) */
} echo_stats;

extern echo_settings g_cfg;
extern echo_stats g_stats;

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
	/* the send slab's idle timer (see send_slab, echo_conn.c) */
	exec_sender *idle_s;
	void *idle_op;
	loop_rcv idle_rcv;
	bool idle_armed;
} server_loop;

/* Once the loop is stopping and nothing of it is left, releases its ring,
 * listener and timers and counts it as drained. Loop thread. */
void echo_loop_maybe_drained(server_loop *sl);

#endif
