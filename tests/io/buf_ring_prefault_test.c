/* tests/io/buf_ring_prefault_test.c - exec_io_buf_ring_prefault (io/buf_ring.c):
 * the pool becomes resident at once (RSS grows by the pool's size), and
 * the buffers work as before afterwards (a provided-buffer receive returns
 * the bytes sent; prefaulting wrote nothing a receive can see). On both
 * backends. */
#include "io_test_util.h"

#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static long rss_bytes(void)
{
	long pages = 0, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &pages, &resident), 2);
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static void prefault_makes_the_pool_resident(void **state)
{
	(void)state;
	exec_io_loop *loop = test_loop_new();
	/* 16 MiB: far above what anything else here allocates meanwhile. */
	enum { COUNT = 256, SIZE = 64 * 1024 };
	exec_io_buf_ring *ring = NULL;
	int rc = exec_io_buf_ring_create(loop, COUNT, SIZE, 3, &ring);
	if (rc == -EOPNOTSUPP) {
		exec_io_loop_destroy(loop);
		test_skip("no provided buffer rings on this kernel");
	}
	assert_int_equal(rc, 0);
	long before = rss_bytes();
	exec_io_buf_ring_prefault(ring);
	long after = rss_bytes();
	/* Every page of the pool was untouched before (fresh anonymous
	 * memory) and is resident now. */
	assert_true(after - before >= (long)COUNT * SIZE - (1L << 20));

	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], "after prefault", 14), 14);
	exec_sender *rp = exec_io_recv_provided(loop, sv[0], ring, 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	test_io_start(loop, rp, &t, exec_stop_token_never());
	test_run_until(loop, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.values[0].type, EXEC_VALUE_SPAN);
	exec_span sp = t.values[0].as.span;
	assert_int_equal(sp.len, 14);
	assert_memory_equal(sp.ptr, "after prefault", 14);
	exec_io_buf_ring_recycle(ring, sp.ptr);

	exec_io_buf_ring_prefault(NULL); /* NULL-safe */
	exec_sender_free(rp);
	exec_test_receiver_destroy(&t);
	close(sv[0]);
	close(sv[1]);
	exec_io_buf_ring_destroy(ring);
	exec_io_loop_destroy(loop);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(prefault_makes_the_pool_resident),
};

TEST_MAIN_BOTH_BACKENDS(tests)
