/* examples/echo/echo_conn.h - the echo_conn connection sender and the
 * per-loop send slab (internal to examples/echo; the why of each is in
 * echo_conn.c). Everything here runs on the loop's thread. */
#ifndef CEXEC_EXAMPLES_ECHO_CONN_H
#define CEXEC_EXAMPLES_ECHO_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "echo_server.h"

/* The send slab's idle tick (echo_server.c's loop_setup builds its timer). */
#define SEND_TICK_MS 25

/* One connection's operation state (loop_stop_task ends the ones waiting
 * for a buffer). */
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

/* The sender that echoes on fd until the peer closes (value: bytes echoed,
 * u64), an error, or a stop of the loop (stopped). Start it on sl's loop
 * thread; it completes there. Its operation closes fd: connect it once. */
exec_sender *echo_conn(server_loop *sl, int fd);

/* Whether connections use --recv multishot (needs the ring). */
bool echo_conn_multishot(const server_loop *sl);

/* Ends the connection: closes the socket, hands its buffers back and
 * completes with kind (an EXEC_RESULT_*) and err. Do not touch c after. */
void echo_conn_finish(echo_conn_op *c, int kind, int err);

/* exec_io_recv_multishot's callback: a piece received (loop thread). */
void echo_conn_piece(void *ctx, void *buf, size_t len);

/* The loop's send slab for block-sized send op states: 0 or -ENOMEM. */
int echo_send_slab_create(server_loop *sl, size_t block);
void echo_send_slab_destroy(server_loop *sl);

/* The receiver functions of the send slab's idle timer (sl->idle_rcv). */
void echo_idle_value(exec_receiver *r, const exec_value *v, size_t n);
void echo_idle_error(exec_receiver *r, int err);
void echo_idle_stopped(exec_receiver *r);

#endif
