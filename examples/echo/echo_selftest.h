/* examples/echo/echo_selftest.h - echo_server's --self-test: a loopback
 * client in plain sockets and poll(), on purpose independent of cexec.
 * It reads the server's counters (g_stats) directly. */
#ifndef CEXEC_EXAMPLES_ECHO_SELFTEST_H
#define CEXEC_EXAMPLES_ECHO_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>

/* A safety net against a hung server, never a judgement of speed: every
 * case waits for an event (bytes, a close, a counter) and only gives up
 * when this much time passed without it. */
#define SELFTEST_WAIT_MS 30000

struct selftest_args {
	int port;
	int conns;
	int msgs;
	int max_conns;
	int rc;
};

/* Runs every case against the server on 127.0.0.1:a->port, one line
 * each; a->rc is 0 when every case passed, else 1. Returns NULL. */
void *echo_selftest_main(void *arg);

/* Fills b with n bytes that depend on seed (checked on the way back). */
void echo_st_fill(unsigned char *b, size_t n, unsigned seed);

/* Waits (bounded) until the server counts want connections open. */
bool echo_st_wait_open(long want);

#endif
