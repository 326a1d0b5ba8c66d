/* schedulers/io_loop_group.h - one exec_io_loop per thread (per core), and
 * SO_REUSEPORT listeners so that each loop accepts its own connections.
 *
 *   static void setup(exec_io_loop *loop, unsigned i, void *ctx) {
 *           int fd = exec_reuseport_listen("127.0.0.1", port, 1024, NULL);
 *           ... start an exec_io_accept_multishot on loop ...
 *   }
 *   exec_io_loop_group *g;
 *   exec_io_loop_group_start(&g, 4, NULL, setup, ctx);
 *   ...
 *   exec_io_loop_group_stop(g);   // any thread
 *   exec_io_loop_group_join(g);   // waits, destroys the loops, frees g
 */
#ifndef EXEC_SCHEDULERS_IO_LOOP_GROUP_H
#define EXEC_SCHEDULERS_IO_LOOP_GROUP_H

#include <stdint.h>

#include "schedulers/io_uring.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_io_loop_group exec_io_loop_group;

/* Called on each loop's own thread before it runs. */
typedef void (*exec_io_loop_setup_fn)(exec_io_loop *loop, unsigned index,
				      void *ctx);

/* Starts n threads, each creating a loop (opts may be NULL), calling
 * setup(loop, index, ctx) (may be NULL) and running the loop until
 * exec_io_loop_group_stop. Thread i is pinned to CPU i % online CPUs
 * (best effort). Returns 0 and *out once every loop exists, or a negative
 * errno (nothing left running). */
int exec_io_loop_group_start(exec_io_loop_group **out, unsigned n,
			     const exec_io_loop_options *opts,
			     exec_io_loop_setup_fn setup, void *ctx);

unsigned exec_io_loop_group_size(const exec_io_loop_group *g);
exec_io_loop *exec_io_loop_group_loop(exec_io_loop_group *g, unsigned i);

/* Asks every loop to stop (from any thread). */
void exec_io_loop_group_stop(exec_io_loop_group *g);

/* Waits for every thread, destroys the loops and frees g. The work on the
 * loops must have completed (see exec_io_loop_destroy). */
void exec_io_loop_group_join(exec_io_loop_group *g);

/* A non-blocking TCP listener on host (IPv4 dotted quad; NULL: 127.0.0.1)
 * and port (0: any) with SO_REUSEADDR and SO_REUSEPORT, so that several
 * loops may listen on the same port. *bound_port (may be NULL) receives the
 * port. Returns the fd or a negative errno. */
int exec_reuseport_listen(const char *host, uint16_t port, int backlog,
			  uint16_t *bound_port);

#ifdef __cplusplus
}
#endif
#endif
