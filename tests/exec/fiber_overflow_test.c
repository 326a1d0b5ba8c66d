/* tests for exec/fiber.c: a fiber task that overflows its stack dies in the
 * guard page with SIGSEGV, and exec_fiber_overflow_handler_install makes
 * that say "stack overflow in fiber" first (death tests in a forked child).
 * Not under the sanitizers: ASan reports the overflow itself and TSan owns
 * the signal handling. */
#include "cexec_test.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/fiber.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static volatile int depth_limit = 1 << 30; /* never reached */

static int __attribute__((noinline)) recurse(volatile char *prev, int depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	frame[511] = prev ? prev[0] : 0;
	if (depth >= depth_limit)
		return 0;
	return recurse(frame, depth + 1) + frame[1];
}

static int64_t overflowing(void *arg)
{
	(void)arg;
	return recurse(NULL, 0);
}

/* In the child: run the overflowing task; never returns normally. */
/* cmocka catches SIGSEGV to report a crashing test: the child must die. */
static void default_fault_actions(void)
{
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
}

static void child(int with_handler, int err_fd)
{
	dup2(err_fd, 2);
	default_fault_actions();
	if (with_handler && exec_fiber_overflow_handler_install() != 0)
		_exit(3);
	exec_fiber_options o = {16 * 1024, 0};
	exec_sender *s = exec_fiber_sender(overflowing, NULL, &o);
	exec_sync_wait(s, NULL);
	_exit(4); /* not reached: the overflow kills the process */
}

static void run_child(int with_handler, int *sig, char *out, size_t cap)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(with_handler, p[1]);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	*sig = WTERMSIG(status);
}

static void overflow_reported(void **state)
{
	if (SANITIZED)
		skip();
	char out[512];
	int sig = 0;
	run_child(1, &sig, out, sizeof out);
	assert_int_equal(sig, SIGSEGV);
	assert_non_null(strstr(out, "stack overflow in fiber"));
	assert_non_null(strstr(out, "16384"));
}

/* Without the handler: still a SIGSEGV (in the guard), silently. */
static void overflow_without_handler(void **state)
{
	if (SANITIZED)
		skip();
	char out[512];
	int sig = 0;
	run_child(0, &sig, out, sizeof out);
	assert_int_equal(sig, SIGSEGV);
	assert_null(strstr(out, "stack overflow in fiber"));
}

/* The handler leaves other faults alone: a NULL write outside any fiber
 * dies by SIGSEGV without the fiber message. */
static void other_faults_untouched(void **state)
{
	if (SANITIZED)
		skip();
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 2);
		default_fault_actions();
		if (exec_fiber_overflow_handler_install() != 0)
			_exit(3);
		*(volatile int *)(uintptr_t)depth_limit = 1; /* address 1 << 30 */
		_exit(4);
	}
	close(p[1]);
	char out[256] = {0};
	size_t n = 0;
	ssize_t r;
	while (n + 1 < sizeof out && (r = read(p[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_null(strstr(out, "stack overflow in fiber"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(overflow_reported),
		cmocka_unit_test(overflow_without_handler),
		cmocka_unit_test(other_faults_untouched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
