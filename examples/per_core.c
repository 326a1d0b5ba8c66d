/* examples/per_core.c - thread-per-core: one io loop per core, fibers on
 * each, no data shared between cores.
 *
 *   per_core [--loops N] [--fibers-per-loop F] [--rounds R]
 *
 * schedulers/io_loop_group.h starts N loops (default: one per online CPU),
 * each on its own thread pinned to its CPU. On each loop, F fibers (F even)
 * work in pairs joined by a socketpair: the "ping" fiber writes a counter,
 * the "pong" fiber reads it and answers counter + 1, R rounds per pair -
 * straight-line code whose every read and write is an await on its own
 * loop:
 *
 *     for (i = 0; i < rounds; i++) {
 *             await write_all(fd, &i);          // parks until sent
 *             await read_exactly(fd, &answer);  // parks until answered
 *             check(answer == i + 1);
 *     }
 *
 * Since every operation of a fiber completes on the loop that started it,
 * a fiber never leaves its core: each checks after every await that it is
 * still on its own loop's thread. Every fiber is spawned into one counting
 * scope; main waits for the scope's join and checks that every exchange
 * arrived in order on the right core, then prints the exchanges per second
 * per core and in total. Exit status 0 when every check passed. */
/* CEXEC_TEST_ARGS: --loops 2 --fibers-per-loop 20 --rounds 200 */
/* CEXEC_TEST_LABELS: tsan */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cexec.h"

static int rounds = 2000;
static int fibers_per_loop = 100;
static exec_counting_scope scope;
static AO_t set_up; /* loops whose fibers are spawned */

typedef struct core {
	exec_io_loop *loop;
	unsigned index;
	AO_t exchanges; /* completed ping-pong rounds on this core */
	AO_t wrong;     /* checks that failed on this core */
	AO_t finished;  /* fibers that returned */
} core;

typedef struct pair_end {
	core *c;
	int fd;
	int ping; /* 1: writes first */
} pair_end;

static void fail(core *c, const char *what, int rc)
{
	if (AO_fetch_and_add1(&c->wrong) == 0)
		fprintf(stderr, "core %u: %s (%s)\n", c->index, what,
			rc ? exec_strerror(rc) : "check failed");
}

static int64_t pair_fiber(void *arg)
{
	pair_end e = *(pair_end *)arg;
	free(arg);
	core *c = e.c;
	/* A short sleep on this core's loop first: timers are per core too. */
	int rc = exec_await_take(exec_io_timeout(c->loop, EXEC_NS_PER_MS), NULL);
	if (rc != 0)
		fail(c, "timer", rc);
	uint64_t out = 0, in = 0;
	/* Built once, reconnected by every await: nothing allocated per round. */
	exec_sender *wr = exec_io_write_all(c->loop, e.fd, &out, sizeof out, -1);
	exec_sender *rd = exec_io_read_exactly(c->loop, e.fd, &in, sizeof in, -1);
	for (int i = 0; i < rounds && rc == 0; i++) {
		if (e.ping) {
			out = (uint64_t)i;
			if ((rc = exec_await(wr, NULL)) != 0 || (rc = exec_await(rd, NULL)) != 0)
				break;
			if (in != (uint64_t)i + 1)
				fail(c, "answer out of order", 0);
			AO_fetch_and_add1(&c->exchanges);
		} else {
			if ((rc = exec_await(rd, NULL)) != 0)
				break;
			if (in != (uint64_t)i)
				fail(c, "question out of order", 0);
			out = in + 1;
			if ((rc = exec_await(wr, NULL)) != 0)
				break;
		}
		/* Thread-per-core: every completion came back on this loop. */
		if (!exec_io_loop_on_thread(c->loop))
			fail(c, "fiber left its core", 0);
	}
	if (rc != 0)
		fail(c, "exchange", rc);
	exec_sender_free(wr);
	exec_sender_free(rd);
	close(e.fd);
	AO_fetch_and_add1(&c->finished);
	return rc;
}

/* On each loop's own thread, before it runs: socketpairs and fibers. */
static void setup(exec_io_loop *loop, unsigned index, void *ctx)
{
	core *c = (core *)ctx + index;
	c->loop = loop;
	c->index = index;
	exec_fiber_options opts = {32 * 1024, 0};
	for (int i = 0; i < fibers_per_loop / 2; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
			fail(c, "socketpair", -errno);
			AO_fetch_and_add(&c->finished, 2); /* counted as done, failed */
			continue;
		}
		for (int k = 0; k < 2; k++) {
			pair_end *e = malloc(sizeof *e);
			if (!e) {
				fail(c, "malloc", -ENOMEM);
				close(sv[k]);
				AO_fetch_and_add1(&c->finished);
				continue;
			}
			e->c = c;
			e->fd = sv[k];
			e->ping = k == 0;
			/* Runs the fiber here until its first await parks it. */
			int rc = exec_scope_spawn(&scope, exec_fiber_sender(pair_fiber, e, &opts),
						  NULL);
			if (rc != 0) {
				fail(c, "spawn", rc);
				close(sv[k]);
				free(e);
				AO_fetch_and_add1(&c->finished);
			}
		}
	}
	AO_fetch_and_add1_release(&set_up);
}

static void usage(void)
{
	fprintf(stderr, "usage: per_core [--loops N] [--fibers-per-loop F] [--rounds R]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"loops", required_argument, NULL, 'l'},
		{"fibers-per-loop", required_argument, NULL, 'f'},
		{"rounds", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int loops = online > 0 ? (int)online : 1;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': loops = atoi(optarg); break;
		case 'f': fibers_per_loop = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default: usage();
		}
	}
	if (loops < 1 || loops > 256 || fibers_per_loop < 2 || fibers_per_loop % 2 ||
	    rounds < 1)
		usage();
	if (exec_counting_scope_init(&scope) != 0)
		return 1;
	core *cores = calloc((size_t)loops, sizeof *cores);
	exec_time t0 = exec_clock_now();
	exec_io_loop_group *g;
	int rc = exec_io_loop_group_start(&g, (unsigned)loops, NULL, setup, cores);
	if (rc != 0) {
		fprintf(stderr, "per_core: loops: %s\n", exec_strerror(rc));
		return 1;
	}
	/* The setups may still be running: the join must not see an empty
	 * scope before they spawned. Then every fiber finishes on its own. */
	while (AO_load_acquire(&set_up) < (AO_t)loops)
		usleep(1000);
	exec_sender *j = exec_scope_join(&scope);
	exec_sync_wait(j, NULL);
	exec_sender_free(j);
	double secs = (double)(exec_clock_now() - t0) / 1e9;
	exec_io_loop_group_stop(g);
	exec_io_loop_group_join(g);
	exec_counting_scope_destroy(&scope);

	int bad = 0;
	uint64_t total = 0;
	printf("%d loops x %d fibers, %d rounds per pair, %.3f s\n", loops, fibers_per_loop,
	       rounds, secs);
	for (int i = 0; i < loops; i++) {
		core *c = &cores[i];
		uint64_t x = AO_load(&c->exchanges);
		uint64_t want = (uint64_t)(fibers_per_loop / 2) * (uint64_t)rounds;
		printf("  core %d: %llu exchanges (%.0f/s), %llu fibers finished%s\n", i,
		       (unsigned long long)x, secs > 0 ? (double)x / secs : 0.0,
		       (unsigned long long)AO_load(&c->finished),
		       AO_load(&c->wrong) ? ", CHECKS FAILED" : "");
		if (x != want || AO_load(&c->wrong) ||
		    AO_load(&c->finished) != (AO_t)fibers_per_loop)
			bad = 1;
		total += x;
	}
	printf("total: %llu exchanges, %.0f/s; %s\n", (unsigned long long)total,
	       secs > 0 ? (double)total / secs : 0.0,
	       bad ? "FAILED" : "every exchange in order, every fiber stayed on its core");
	free(cores);
	return bad;
}
