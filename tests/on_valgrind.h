/* tests/on_valgrind.h - lets a test leave out, with a printed reason, the
 * cases valgrind cannot run (the long mode runs every unit test under
 * valgrind memcheck once: tests/valgrind/CMakeLists.txt). */
#ifndef CEXEC_TEST_ON_VALGRIND_H
#define CEXEC_TEST_ON_VALGRIND_H

#include <stdbool.h>
#include <stdio.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* True when running under valgrind; then prints "<what> skipped under
 * valgrind: <why>" to stderr so the log says what did not run. */
static inline bool exec_test_skip_on_valgrind(const char *what, const char *why)
{
	if (!RUNNING_ON_VALGRIND)
		return false;
	fprintf(stderr, "%s skipped under valgrind: %s\n", what, why);
	return true;
}

/* Why io_uring cases are left out under valgrind. */
#define EXEC_TEST_VALGRIND_URING                                              \
	"valgrind 3.19 keeps its global lock while a thread blocks in "       \
	"io_uring_enter (every other thread stops) and does not see the "      \
	"kernel's asynchronous writes into user buffers"

#endif
