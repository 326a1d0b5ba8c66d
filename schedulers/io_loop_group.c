/* One I/O loop per thread, and SO_REUSEPORT listeners. */
#include "schedulers/io_loop_group.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct group_thread {
	exec_io_loop_group *g;
	unsigned index;
	pthread_t thread;
	exec_io_loop *loop;
	bool started;
} group_thread;

struct exec_io_loop_group {
	unsigned n;
	exec_io_loop_options opts;
	bool has_opts;
	exec_io_loop_setup_fn setup;
	void *ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready; /* threads whose loop exists (or failed) */
	int error;
	group_thread *threads;
};

static void *group_main(void *arg)
{
	group_thread *t = arg;
	exec_io_loop_group *g = t->g;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus > 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(t->index % (unsigned)cpus, &set);
		(void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	}
	/* Created on its own thread: the ring's single issuer is this one. */
	exec_io_loop *loop = NULL;
	int rc = exec_io_loop_create(&loop, g->has_opts ? &g->opts : NULL);
	pthread_mutex_lock(&g->mu);
	t->loop = loop;
	if (rc < 0 && !g->error)
		g->error = rc;
	g->ready++;
	pthread_cond_broadcast(&g->cv);
	/* Wait until every loop exists: setup may look at the others. */
	while (g->ready < g->n)
		pthread_cond_wait(&g->cv, &g->mu);
	int err = g->error;
	pthread_mutex_unlock(&g->mu);
	if (rc < 0 || err < 0)
		return NULL;
	if (g->setup)
		g->setup(loop, t->index, g->ctx);
	exec_io_loop_run(loop);
	return NULL;
}

int exec_io_loop_group_start(exec_io_loop_group **out, unsigned n,
			     const exec_io_loop_options *opts,
			     exec_io_loop_setup_fn setup, void *ctx)
{
	if (!out || !n)
		return -EINVAL;
	*out = NULL;
	exec_io_loop_group *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->threads = calloc(n, sizeof *g->threads);
	if (!g->threads) {
		free(g);
		return -ENOMEM;
	}
	g->n = n;
	if (opts) {
		g->opts = *opts;
		g->has_opts = true;
	}
	g->setup = setup;
	g->ctx = ctx;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	unsigned started = 0;
	for (unsigned i = 0; i < n; i++) {
		g->threads[i].g = g;
		g->threads[i].index = i;
		int rc = pthread_create(&g->threads[i].thread, NULL, group_main,
					&g->threads[i]);
		if (rc) {
			pthread_mutex_lock(&g->mu);
			if (!g->error)
				g->error = -rc;
			g->ready += n - i; /* release the started ones */
			pthread_cond_broadcast(&g->cv);
			pthread_mutex_unlock(&g->mu);
			break;
		}
		g->threads[i].started = true;
		started++;
	}
	pthread_mutex_lock(&g->mu);
	while (g->ready < n)
		pthread_cond_wait(&g->cv, &g->mu);
	int err = g->error;
	pthread_mutex_unlock(&g->mu);
	if (err < 0) {
		exec_io_loop_group_join(g);
		return err;
	}
	(void)started;
	*out = g;
	return 0;
}

unsigned exec_io_loop_group_size(const exec_io_loop_group *g)
{
	return g->n;
}

exec_io_loop *exec_io_loop_group_loop(exec_io_loop_group *g, unsigned i)
{
	return i < g->n ? g->threads[i].loop : NULL;
}

void exec_io_loop_group_stop(exec_io_loop_group *g)
{
	for (unsigned i = 0; i < g->n; i++)
		if (g->threads[i].loop)
			exec_io_loop_stop(g->threads[i].loop);
}

void exec_io_loop_group_join(exec_io_loop_group *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->n; i++)
		if (g->threads[i].started)
			pthread_join(g->threads[i].thread, NULL);
	for (unsigned i = 0; i < g->n; i++)
		exec_io_loop_destroy(g->threads[i].loop);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g->threads);
	free(g);
}

int exec_reuseport_listen(const char *host, uint16_t port, int backlog,
			  uint16_t *bound_port)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, host ? host : "127.0.0.1", &sa.sin_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(fd, backlog > 0 ? backlog : 1024) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if (bound_port) {
		socklen_t l = sizeof sa;
		getsockname(fd, (struct sockaddr *)&sa, &l);
		*bound_port = ntohs(sa.sin_port);
	}
	return fd;
}
