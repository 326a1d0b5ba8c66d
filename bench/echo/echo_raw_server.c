/* bench/echo/echo_raw_server.c - the baseline for the echo benchmark: a TCP
 * echo server written directly on liburing, without cexec.
 *
 *   echo_raw_server [--port P] [--threads T] [--buffers provided|conn]
 *                   [--buf-size B] [--nbufs N] [--max-seconds S]
 *
 * One ring and one SO_REUSEPORT listener per thread on 127.0.0.1:P (P = 0
 * picks a free port; it is printed as "listening on 127.0.0.1:<port>").
 * Each loop iteration reaps every completion, queues the follow-up SQEs and
 * submits them all with one io_uring_submit_and_wait. Connections arrive
 * through one multishot accept; each connection runs recv -> send (all of
 * it) -> recv. With --buffers provided (the default) a recv picks its buffer
 * from a provided-buffer ring shared by the thread's connections, so an idle
 * connection holds no buffer; with --buffers conn each connection owns one.
 * The buffer pool is faulted in at start (MAP_POPULATE) so that RSS growth
 * measured by the load generator is per-connection memory, not the pool.
 *
 * EMFILE/ENFILE on accept re-arms the accept after 10 ms; a reset or EOF
 * closes that connection only; sends use MSG_NOSIGNAL and SIGPIPE is
 * ignored. --max-seconds (default 600) bounds the process's life (SIGALRM),
 * so a benchmark that dies never leaves a server behind.
 */
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { OP_RECV = 0, OP_SEND = 1, OP_MASK = 3 };

struct conn {
	int fd;
	int bid;      /* provided buffer held between recv and send, or -1 */
	uint32_t len; /* bytes received into the buffer */
	uint32_t off; /* bytes of them already sent */
	struct conn *next_nobuf; /* waiting for a provided buffer */
	char *own;    /* --buffers conn: the connection's own buffer */
};

struct worker {
	pthread_t thread;
	int index;
	int lfd;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	char *pool;
	size_t pool_bytes;
	int provided;
	struct conn *nobuf, *nobuf_tail; /* FIFO: recv got ENOBUFS */
	uint64_t conns;
	/* Distinct addresses used as user_data for the non-connection SQEs. */
	char accept_tag, timer_tag;
	struct __kernel_timespec accept_delay;
};

static int g_threads = 1;
static unsigned g_buf_size = 2048;
static unsigned g_nbufs = 4096;
static int g_provided = 1;
static const int BGID = 0;

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_raw_server: %s: %s\n", what, strerror(err));
	exit(1);
}

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	while (!sqe) {
		/* The submission queue is full: hand it to the kernel now. */
		int rc = io_uring_submit(ring);
		if (rc < 0 && rc != -EAGAIN && rc != -EBUSY)
			die("io_uring_submit", -rc);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

static void arm_accept(struct worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(&w->ring);
	io_uring_prep_multishot_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &w->accept_tag);
}

static void arm_accept_later(struct worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(&w->ring);
	w->accept_delay.tv_sec = 0;
	w->accept_delay.tv_nsec = 10 * 1000 * 1000;
	io_uring_prep_timeout(sqe, &w->accept_delay, 0, 0);
	io_uring_sqe_set_data(sqe, &w->timer_tag);
}

static void arm_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(&w->ring);
	if (w->provided) {
		io_uring_prep_recv(sqe, c->fd, NULL, g_buf_size, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	} else {
		io_uring_prep_recv(sqe, c->fd, c->own, g_buf_size, 0);
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_RECV);
}

static char *conn_buf(struct worker *w, struct conn *c)
{
	return w->provided ? w->pool + (size_t)c->bid * g_buf_size : c->own;
}

static void arm_send(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(&w->ring);
	io_uring_prep_send(sqe, c->fd, conn_buf(w, c) + c->off, c->len - c->off,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_SEND);
}

/* The connection first in line for a buffer receives again (FIFO: none
 * starves while buffers keep coming back). */
static void wake_nobuf(struct worker *w)
{
	struct conn *c = w->nobuf;
	if (!c)
		return;
	w->nobuf = c->next_nobuf;
	if (!w->nobuf)
		w->nobuf_tail = NULL;
	arm_recv(w, c);
}

static void put_buf(struct worker *w, int bid)
{
	io_uring_buf_ring_add(w->br, w->pool + (size_t)bid * g_buf_size, g_buf_size,
			      (unsigned short)bid, io_uring_buf_ring_mask(g_nbufs), 0);
	io_uring_buf_ring_advance(w->br, 1);
	/* A buffer is back: one connection that found the ring empty may retry. */
	wake_nobuf(w);
}

static void conn_close(struct worker *w, struct conn *c)
{
	/* A connection woken from the nobuf list that ends here took no
	 * buffer: pass the turn on, or the others could wait for ever. */
	if (c->bid >= 0)
		put_buf(w, c->bid);
	else
		wake_nobuf(w);
	close(c->fd);
	free(c->own);
	free(c);
	w->conns--;
}

static void on_accept(struct worker *w, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		/* The multishot accept ended (error or kernel limit): re-arm,
		 * after a pause when we ran out of descriptors. */
		if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOBUFS ||
		    cqe->res == -ENOMEM)
			arm_accept_later(w);
		else
			arm_accept(w);
	}
	if (cqe->res < 0)
		return;
	int fd = cqe->res;
	struct conn *c = calloc(1, sizeof(*c));
	if (c && !w->provided) {
		c->own = malloc(g_buf_size);
		if (!c->own) {
			free(c);
			c = NULL;
		}
	}
	if (!c) {
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->bid = -1;
	w->conns++;
	arm_recv(w, c);
}

static void on_recv(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	if (cqe->res == -ENOBUFS) {
		c->next_nobuf = NULL;
		if (w->nobuf_tail)
			w->nobuf_tail->next_nobuf = c;
		else
			w->nobuf = c;
		w->nobuf_tail = c;
		return;
	}
	if (cqe->flags & IORING_CQE_F_BUFFER)
		c->bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	if (cqe->res <= 0) { /* EOF, reset or another error: this one only */
		conn_close(w, c);
		return;
	}
	c->len = (uint32_t)cqe->res;
	c->off = 0;
	arm_send(w, c);
}

static void on_send(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	if (cqe->res <= 0) {
		conn_close(w, c);
		return;
	}
	c->off += (uint32_t)cqe->res;
	if (c->off < c->len) {
		arm_send(w, c);
		return;
	}
	if (c->bid >= 0) {
		int bid = c->bid;
		c->bid = -1;
		put_buf(w, bid);
	}
	arm_recv(w, c);
}

static void setup_ring(struct worker *w)
{
	struct io_uring_params p;
	unsigned cq = 16384;
	int rc;
	/* Best flags first; older kernels refuse them with EINVAL. */
	const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = cq;
		rc = io_uring_queue_init_params(4096, &w->ring, &p);
		if (rc == 0)
			return;
		if (rc != -EINVAL)
			break;
	}
	die("io_uring_queue_init_params", -rc);
}

static void setup_buffers(struct worker *w)
{
	w->provided = 0;
	if (!g_provided)
		return;
	w->pool_bytes = (size_t)g_nbufs * g_buf_size;
	w->pool = mmap(NULL, w->pool_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (w->pool == MAP_FAILED)
		die("mmap buffer pool", errno);
	w->br_bytes = (size_t)g_nbufs * sizeof(struct io_uring_buf);
	w->br = mmap(NULL, w->br_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (w->br == MAP_FAILED)
		die("mmap buffer ring", errno);
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)w->br;
	reg.ring_entries = g_nbufs;
	reg.bgid = BGID;
	int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc < 0) {
		fprintf(stderr,
			"echo_raw_server: provided buffer rings unavailable (%s); "
			"using a buffer per connection\n",
			strerror(-rc));
		munmap(w->br, w->br_bytes);
		munmap(w->pool, w->pool_bytes);
		w->br = NULL;
		w->pool = NULL;
		return;
	}
	io_uring_buf_ring_init(w->br);
	for (unsigned i = 0; i < g_nbufs; i++)
		io_uring_buf_ring_add(w->br, w->pool + (size_t)i * g_buf_size, g_buf_size,
				      (unsigned short)i, io_uring_buf_ring_mask(g_nbufs),
				      (int)i);
	io_uring_buf_ring_advance(w->br, (int)g_nbufs);
	w->provided = 1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* The ring is created on the thread that submits (SINGLE_ISSUER). */
	setup_ring(w);
	setup_buffers(w);
	if (w->index == 0) {
		printf("echo_raw_server: buffers=%s buf_size=%u%s\n",
		       w->provided ? "provided" : "per-connection", g_buf_size,
		       (w->ring.flags & IORING_SETUP_DEFER_TASKRUN) ? " defer_taskrun" : "");
		fflush(stdout);
	}
	arm_accept(w);
	for (;;) {
		int rc = io_uring_submit_and_wait(&w->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			die("io_uring_submit_and_wait", -rc);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			seen++;
			void *ud = io_uring_cqe_get_data(cqe);
			if (ud == &w->accept_tag) {
				on_accept(w, cqe);
			} else if (ud == &w->timer_tag) {
				arm_accept(w);
			} else {
				uint64_t v = io_uring_cqe_get_data64(cqe);
				struct conn *c = (struct conn *)(uintptr_t)(v & ~(uint64_t)OP_MASK);
				if ((v & OP_MASK) == OP_RECV)
					on_recv(w, c, cqe);
				else
					on_send(w, c, cqe);
			}
		}
		io_uring_cq_advance(&w->ring, seen);
	}
	return NULL;
}

static int make_listener(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket", errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		die("SO_REUSEPORT", errno);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind", errno);
	if (listen(fd, 4096) < 0)
		die("listen", errno);
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: echo_raw_server [--port P] [--threads T] "
		   "[--buffers provided|conn] [--buf-size B] [--nbufs N] "
		   "[--max-seconds S]\n");
}

int main(int argc, char **argv)
{
	int port = 0;
	unsigned max_seconds = 600;
	static const struct option opts[] = {
		{"port", required_argument, 0, 'p'},
		{"threads", required_argument, 0, 't'},
		{"buffers", required_argument, 0, 'b'},
		{"buf-size", required_argument, 0, 's'},
		{"nbufs", required_argument, 0, 'n'},
		{"max-seconds", required_argument, 0, 'm'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 't': g_threads = atoi(optarg); break;
		case 'b':
			if (strcmp(optarg, "provided") == 0)
				g_provided = 1;
			else if (strcmp(optarg, "conn") == 0)
				g_provided = 0;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 's': g_buf_size = (unsigned)atoi(optarg); break;
		case 'n': g_nbufs = (unsigned)atoi(optarg); break;
		case 'm': max_seconds = (unsigned)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (port < 0 || port > 65535 || g_threads < 1 || g_threads > 64 || g_buf_size < 64 ||
	    g_nbufs < 1 || g_nbufs > 32768 || (g_nbufs & (g_nbufs - 1))) {
		fprintf(stderr, "echo_raw_server: bad arguments (--nbufs: a power of two "
				"<= 32768)\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	if (max_seconds)
		alarm(max_seconds);

	struct worker *ws = calloc((size_t)g_threads, sizeof(*ws));
	if (!ws)
		die("calloc", ENOMEM);
	for (int i = 0; i < g_threads; i++) {
		ws[i].index = i;
		ws[i].lfd = make_listener(port);
		if (port == 0) { /* the others share the port the first one got */
			struct sockaddr_in a;
			socklen_t len = sizeof(a);
			getsockname(ws[i].lfd, (struct sockaddr *)&a, &len);
			port = ntohs(a.sin_port);
		}
	}
	printf("echo_raw_server: listening on 127.0.0.1:%d threads=%d pid=%d\n", port,
	       g_threads, (int)getpid());
	fflush(stdout);
	for (int i = 1; i < g_threads; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
			die("pthread_create", errno);
	worker_main(&ws[0]);
	return 0;
}
