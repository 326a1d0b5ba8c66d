/* tests/io/io_seccomp_test.c - system calls refused by the kernel, injected
 * with a seccomp filter in a forked child (the epoll backend: io_uring's
 * requests bypass seccomp):
 *   - epoll_pwait2 refused with ENOSYS (kernels before 5.11, container
 *     profiles that predate it, valgrind): the loop falls back to
 *     epoll_wait and keeps serving timers and readiness from its own thread
 *     (it used to return -ENOSYS from exec_io_loop_run: its thread ended
 *     and everything waiting on it hung);
 *   - accept4 failing with ENFILE (the system-wide file table is full): the
 *     accept completes on the error channel with -ENFILE, single and
 *     multishot, and the same waiting connection is accepted afterwards.
 * Each case runs in a child with an alarm, so a hang fails instead of
 * blocking the suite; the child reports the failing line as its status. */
#include "io_test_util.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "algorithms/schedule.h"
#include "algorithms/sync_wait.h"

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441
#endif

/* In the child: exit with the line of the first failed check. */
#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "child: check failed at line %d: %s\n", \
				__LINE__, #c);                               \
			_exit(__LINE__ & 0x7f ? __LINE__ & 0x7f : 1);         \
		}                                                             \
	} while (0)

/* accept4 with exactly these flags fails with ENFILE in the child. */
#define ENFILE_FLAGS (SOCK_CLOEXEC | SOCK_NONBLOCK)

#ifdef TEST_AUDIT_ARCH
/* epoll_pwait2 -> ENOSYS (when refuse_pwait2); accept4(..., ENFILE_FLAGS)
 * -> ENFILE. Applies to the calling thread and every thread it creates
 * later. */
static int install_filter(bool refuse_pwait2)
{
	uint32_t pwait2 = refuse_pwait2 ? SECCOMP_RET_ERRNO | ENOSYS : SECCOMP_RET_ALLOW;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_epoll_pwait2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, pwait2),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_accept4, 0, 3),
		/* the low 32 bits of the flags argument (little endian) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ENFILE_FLAGS, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENFILE),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return -errno;
	return 0;
}
#endif

/* Runs fn in a child under the filter; the test fails unless it exits 0. */
static void run_in_child(void (*fn)(void), bool refuse_pwait2)
{
#ifndef TEST_AUDIT_ARCH
	(void)fn;
	(void)refuse_pwait2;
	test_skip("no seccomp architecture constant for this machine");
#else
	if (exec_test_skip_on_valgrind("seccomp cases",
				       "valgrind's own system calls would be filtered too")) {
		skip();
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60); /* a hang dies of SIGALRM */
		int rc = install_filter(refuse_pwait2);
		if (rc < 0) {
			fprintf(stderr, "child: seccomp unavailable (%s)\n", exec_strerror(rc));
			_exit(0x7f);
		}
		fn();
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0x7f)
		test_skip("seccomp filters are not allowed here");
	if (WIFSIGNALED(st))
		fail_msg("child killed by signal %d (SIGALRM: it hung)", WTERMSIG(st));
	assert_int_equal(WEXITSTATUS(st), 0);
#endif
}

static exec_io_loop *epoll_loop(void)
{
	exec_io_loop_options o;
	memset(&o, 0, sizeof o);
	o.backend = EXEC_IO_BACKEND_EPOLL;
	exec_io_loop *loop = NULL;
	CHECK(exec_io_loop_create(&loop, &o) == 0);
	return loop;
}

/* ---- epoll_pwait2 refused ---- */

typedef struct loop_thread {
	exec_io_loop *loop;
	int rc;
} loop_thread;

static void *loop_main(void *p)
{
	loop_thread *lt = p;
	lt->rc = exec_io_loop_run(lt->loop);
	return NULL;
}

static void pwait2_refused_child(void)
{
	/* The filter answers as the fallback expects. */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	struct timespec ts = {0, 0};
	CHECK(syscall(__NR_epoll_pwait2, ep, &ev, 1, &ts, NULL, 0) == -1 && errno == ENOSYS);
	close(ep);

	loop_thread lt = {epoll_loop(), 1};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, loop_main, &lt) == 0);
	exec_scheduler *sch = exec_io_loop_scheduler(lt.loop);
	/* Timers from another thread: served, never early (the millisecond
	 * fallback rounds the timeout up). */
	for (int i = 0; i < 5; i++) {
		exec_time t0 = exec_clock_now();
		exec_sender *s = exec_schedule_after(sch, 3 * EXEC_NS_PER_MS + i * 100001);
		exec_result r;
		CHECK(exec_sync_wait(s, &r) == 0);
		exec_sender_free(s);
		CHECK(exec_clock_now() - t0 >= 3 * EXEC_NS_PER_MS + i * 100001);
	}
	/* Readiness: a recv waits in epoll until this thread writes. */
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	char b = 0;
	exec_sender *rs = exec_io_recv(lt.loop, sv[0], &b, 1, 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.scheduler = sch;
	CHECK(exec_test_connect(rs, &t) == 0);
	/* Started on the loop's thread, as io operations are. */
	exec_sender *go = exec_schedule(sch);
	exec_result r;
	CHECK(exec_sync_wait(go, &r) == 0);
	exec_sender_free(go);
	exec_test_start(&t);
	usleep(2000);
	CHECK(write(sv[1], "x", 1) == 1);
	for (int i = 0; i < 10000 && exec_test_completions(&t) == 0; i++)
		usleep(1000);
	CHECK(exec_test_completions(&t) == 1);
	CHECK(AO_load(&t.values_calls) == 1 && t.values[0].as.i64 == 1 && b == 'x');
	exec_test_receiver_destroy(&t);
	exec_sender_free(rs);
	close(sv[0]);
	close(sv[1]);

	exec_io_loop_stop(lt.loop);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(lt.rc == 0); /* was -ENOSYS: the loop thread gave up */
	exec_io_loop_destroy(lt.loop);
}

static void epoll_pwait2_refused(void **state)
{
	(void)state;
	run_in_child(pwait2_refused_child, true);
}

/* ---- ENFILE on accept ---- */

/* Runs s (consumed) on the loop until it completes; its error, or the
 * value as a non-negative number. */
static int64_t child_run(exec_io_loop *loop, exec_sender *s)
{
	exec_result r;
	int rc = exec_io_loop_sync_wait(loop, s, &r);
	exec_sender_free(s);
	if (rc != 0)
		return rc;
	CHECK(r.count == 1);
	return exec_value_as_i64(&r.values[0]);
}

static int multishot_fd = -1;

static void take_fd(void *ctx, int fd)
{
	(void)ctx;
	multishot_fd = fd;
}

static void accept_enfile_child(void)
{
	exec_io_loop *loop = epoll_loop();
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(l >= 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(getsockname(l, (struct sockaddr *)&a, &len) == 0);
	CHECK(listen(l, 8) == 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0);

	CHECK(child_run(loop, exec_io_accept(loop, l, NULL, NULL, ENFILE_FLAGS)) == -ENFILE);
	CHECK(child_run(loop, exec_io_accept_multishot(loop, l, ENFILE_FLAGS, take_fd, NULL)) ==
	      -ENFILE);
	CHECK(multishot_fd == -1);
	/* The connection still waits: accepted with other flags. */
	int64_t s = child_run(loop, exec_io_accept(loop, l, NULL, NULL, SOCK_CLOEXEC));
	CHECK(s >= 0);
	CHECK(child_run(loop, exec_io_send(loop, c, "z", 1, 0)) == 1);
	char b = 0;
	CHECK(child_run(loop, exec_io_recv(loop, (int)s, &b, 1, 0)) == 1 && b == 'z');
	close((int)s);
	close(c);
	close(l);
	exec_io_loop_destroy(loop);
}

static void accept_enfile(void **state)
{
	(void)state;
	run_in_child(accept_enfile_child, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(epoll_pwait2_refused),
		cmocka_unit_test(accept_enfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
