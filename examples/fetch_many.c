/* examples/fetch_many.c - "gather a thousand fetches": GET / over N
 * concurrent connections, joined with when_all, on one io_uring loop.
 *
 *   fetch_many [--conns N] [--port P] [--server PATH]
 *
 * Without --port it starts cexec's own HTTP server as a child process
 * (examples/http/http_server next to this binary, or --server PATH) on an
 * ephemeral port, reads the port from its first line, and stops it with
 * SIGTERM at the end. Each fetch is one sender:
 *
 *   connect(fd, addr)
 *     | let_value -> write_all(fd, "GET / HTTP/1.1 ...")
 *     | let_value -> recv(fd, buf) ... until the response is complete
 *                    (let_value returns another recv while it is not)
 *     | then(check: status 200, Content-Length 13, "Hello, World!")
 *
 * and the N fetches are one exec_when_all, waited for with
 * exec_io_loop_sync_wait. The first failing fetch stops the others (when_all
 * requests stop, the io senders cancel their kernel operations). Prints how
 * long the N fetches took; exit status 0 only when every response was
 * checked. The process needs about N + 10 file descriptors (the server as
 * many again): 1,000 fits the usual limit, 10,000 needs ulimit -n.
 */
/* CEXEC_TEST_ARGS: --conns 1000 */
/* CEXEC_TEST_TIMEOUT: 120 */
#include <cexec.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESP_CAP 512

static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char body[] = "Hello, World!";

struct fetch {
	exec_io_loop *loop;
	int fd;
	size_t len;          /* bytes of the response received so far */
	char resp[RESP_CAP]; /* NUL-terminated */
};

/* Whether resp holds a whole response; *ok says whether it is the right
 * one. A response whose head is incomplete or whose body has not all
 * arrived is "not yet". */
static bool response_complete(const struct fetch *f, bool *ok)
{
	const char *end = strstr(f->resp, "\r\n\r\n");
	*ok = false;
	if (!end)
		return false;
	size_t head = (size_t)(end - f->resp) + 4;
	const char *cl = strstr(f->resp, "Content-Length: ");
	if (!cl || cl > end)
		return true; /* complete, but not what we expect */
	long n = strtol(cl + 16, NULL, 10);
	if (n < 0 || (size_t)n > RESP_CAP)
		return true;
	if (f->len < head + (size_t)n)
		return false;
	*ok = strncmp(f->resp, "HTTP/1.1 200 ", 13) == 0 &&
	      (size_t)n == sizeof body - 1 && f->len == head + (size_t)n &&
	      memcmp(f->resp + head, body, sizeof body - 1) == 0;
	return true;
}

static exec_sender *read_more(struct fetch *f);
static exec_sender *on_sent(void *ctx, const exec_value *v, size_t n);

/* After each recv: done, or another recv into the rest of the buffer. */
static exec_sender *on_read(void *ctx, const exec_value *v, size_t n)
{
	struct fetch *f = ctx;
	int64_t got = n ? exec_value_as_i64(&v[0]) : 0;
	if (got <= 0)
		return exec_just_error(-EPROTO); /* closed before the answer */
	f->len += (size_t)got;
	f->resp[f->len] = '\0';
	bool ok;
	if (!response_complete(f, &ok)) {
		if (f->len >= RESP_CAP - 1)
			return exec_just_error(-EMSGSIZE);
		return read_more(f);
	}
	return ok ? exec_just_void() : exec_just_error(-EPROTO);
}

static exec_sender *read_more(struct fetch *f)
{
	return exec_let_value(exec_io_recv(f->loop, f->fd, f->resp + f->len,
					   RESP_CAP - 1 - f->len, 0),
			      on_read, f);
}

static exec_sender *after_connect(void *ctx, const exec_value *v, size_t n)
{
	struct fetch *f = ctx;
	(void)v;
	(void)n;
	return exec_let_value(exec_io_write_all(f->loop, f->fd, request,
						sizeof request - 1, -1),
			      on_sent, f);
}

static exec_sender *on_sent(void *ctx, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	return read_more(ctx);
}

static exec_sender *fetch_sender(struct fetch *f, const struct sockaddr_in *sa)
{
	return exec_let_value(exec_io_connect(f->loop, f->fd,
					      (const struct sockaddr *)sa, sizeof *sa),
			      after_connect, f);
}

/* ---- the server child ----------------------------------------------------- */

static pid_t start_server(const char *path, int *port)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		/* --max-seconds: the child ends by itself if we die. */
		execl(path, path, "--port", "0", "--threads", "1", "--max-seconds",
		      "120", (char *)NULL);
		fprintf(stderr, "fetch_many: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	FILE *in = fdopen(p[0], "r");
	char line[256];
	unsigned got = 0;
	if (in && fgets(line, sizeof line, in))
		sscanf(line, "listening on 127.0.0.1:%u", &got);
	if (in)
		fclose(in); /* later server output goes nowhere (SIGPIPE ignored there) */
	else
		close(p[0]);
	if (got == 0 || got > 65535) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	*port = (int)got;
	return pid;
}

/* The server next to this program: <dir>/http/http_server. */
static void default_server(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		snprintf(out, cap, "http/http_server");
		return;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	size_t len = strlen(self);
	static const char rel[] = "/http/http_server";
	if (len + sizeof rel > cap)
		len = 0;
	memcpy(out, self, len);
	memcpy(out + len, rel, sizeof rel);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"conns", required_argument, NULL, 'c'},
		{"port", required_argument, NULL, 'p'},
		{"server", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	long conns = 1000;
	int port = 0;
	char server[PATH_MAX] = "";
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': conns = strtol(optarg, NULL, 10); break;
		case 'p': port = atoi(optarg); break;
		case 's': snprintf(server, sizeof server, "%s", optarg); break;
		default:
			fprintf(stderr, "usage: fetch_many [--conns N] [--port P] [--server PATH]\n");
			return 2;
		}
	}
	if (conns < 1 || conns > 100000 || port < 0 || port > 65535) {
		fprintf(stderr, "fetch_many: bad arguments\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pid_t child = 0;
	if (port == 0) {
		if (!server[0])
			default_server(server, sizeof server);
		child = start_server(server, &port);
		if (child < 0) {
			fprintf(stderr, "fetch_many: could not start %s\n", server);
			return 1;
		}
		printf("started %s on port %d\n", server, port);
		fflush(stdout);
	}

	exec_io_loop *loop;
	int rc = exec_io_loop_create(&loop, NULL);
	if (rc < 0) {
		fprintf(stderr, "fetch_many: io loop: %s\n", exec_strerror(rc));
		return 1;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	struct fetch *f = calloc((size_t)conns, sizeof *f);
	exec_sender **kids = calloc((size_t)conns, sizeof *kids);
	if (!f || !kids)
		return 1;
	long opened = 0;
	for (; opened < conns; opened++) {
		f[opened].loop = loop;
		f[opened].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f[opened].fd < 0) {
			fprintf(stderr, "fetch_many: socket %ld: %s (raise ulimit -n?)\n",
				opened, strerror(errno));
			break;
		}
		kids[opened] = fetch_sender(&f[opened], &sa);
	}
	int status = 1;
	if (opened == conns) {
		exec_sender *all = exec_when_all(kids, (size_t)conns);
		double t0 = now_s();
		rc = exec_io_loop_sync_wait(loop, all, NULL);
		double dt = now_s() - t0;
		exec_sender_free(all);
		long good = 0;
		for (long i = 0; i < conns; i++) {
			bool ok;
			if (response_complete(&f[i], &ok) && ok)
				good++;
		}
		printf("%ld concurrent GET / over %ld connections (%s): %.1f ms, "
		       "%.0f fetches/s, %ld responses checked\n",
		       conns, conns, exec_io_loop_backend_name(loop), dt * 1e3,
		       (double)conns / dt, good);
		if (rc != 0)
			printf("when_all: %s\n", exec_strerror(rc));
		status = rc == 0 && good == conns ? 0 : 1;
	} else {
		for (long i = 0; i < opened; i++)
			exec_sender_free(kids[i]);
	}
	for (long i = 0; i < opened; i++)
		close(f[i].fd);
	free(kids);
	free(f);
	exec_io_loop_destroy(loop);
	if (child > 0) {
		int ws = 0;
		kill(child, SIGTERM);
		/* A server that does not stop within 10 s is a failure too. */
		pid_t w = 0;
		for (int i = 0; i < 1000 && (w = waitpid(child, &ws, WNOHANG)) == 0; i++)
			usleep(10000);
		if (w == 0) {
			printf("server did not stop within 10 s after SIGTERM\n");
			kill(child, SIGKILL);
			waitpid(child, &ws, 0);
		}
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
			printf("server exited abnormally (status %#x)\n", ws);
			status = 1;
		}
	}
	printf("%s\n", status == 0 ? "ok" : "FAILED");
	return status;
}
