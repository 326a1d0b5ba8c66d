/* examples/echo/echo_server.c - a TCP echo server on cexec: one exec_io_loop per
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
 * (see echo_soak.c). */
/* CEXEC_TEST_ARGS: --self-test --threads 2 --self-test-conns 64 --self-test-msgs 8 --max-seconds 60 */
/* CEXEC_TEST_LABELS: tsan */
/* CEXEC_TEST_TIMEOUT: 120 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "echo_conn.h"
#include "echo_selftest.h"
#include "echo_server.h"
#include "echo_soak.h"

/* ---- settings and counters shared by every loop ------------------------- */

echo_settings g_cfg = {0, 1, 10000, 1, 2048, 4096, 1};

echo_stats g_stats;

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_server: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
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
	echo_loop_maybe_drained(sl);
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
	echo_loop_maybe_drained(sl);
}

static void accept_error(exec_receiver *r, int err)
{
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->accepting = false;
	if (sl->stopping) {
		echo_loop_maybe_drained(sl);
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
	echo_loop_maybe_drained(sl);
}

static void pause_done(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	server_loop *sl = ((loop_rcv *)r)->sl;
	sl->pausing = false;
	if (sl->stopping)
		echo_loop_maybe_drained(sl);
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
static const exec_receiver_ops idle_rcv_ops = {echo_idle_value, echo_idle_error, echo_idle_stopped,
					       loop_rcv_env};

/* Once stopping and nothing of this loop is left: release the ring and the
 * listener, and count the loop as drained (main then stops the group). */
void echo_loop_maybe_drained(server_loop *sl)
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
	echo_send_slab_destroy(sl);
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
		echo_conn_finish(c, EXEC_RESULT_STOPPED, 0);
	}
	echo_loop_maybe_drained(sl);
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
		sl->ring ? exec_io_recv_multishot(loop, sl->lfd, sl->ring, 0, echo_conn_piece, NULL)
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
		int rc = echo_send_slab_create(sl, sl->child_cap);
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
			_exit(echo_soak_client(to_child[0], to_parent[1], soak_conns, soak_waves));
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
		rc = echo_soak_main(sls, port, soak_rd, soak_wr, soak_conns, soak_waves);
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
		echo_selftest_main(&a);
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
