/* examples/echo/echo_soak.h - echo_server's --soak: a client process
 * churns connections in waves while the server samples its open fds,
 * in-flight io requests and RSS (see echo_soak.c). */
#ifndef CEXEC_EXAMPLES_ECHO_SOAK_H
#define CEXEC_EXAMPLES_ECHO_SOAK_H

#include <stdint.h>

#include "echo_server.h"

/* The client, in the child forked before any thread exists: reads the
 * port from rd, runs the waves, reports each on wr. Exit status. */
int echo_soak_client(int rd, int wr, int n, int waves);

/* The server side: samples sls' loops around every wave. Exit status. */
int echo_soak_main(server_loop *sls, uint16_t port, int rd, int wr, int n, int waves);

#endif
