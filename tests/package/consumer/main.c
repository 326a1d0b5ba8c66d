/* tests/package/consumer/main.c - a program built against an INSTALLED
 * cexec (find_package or pkg-config), the way a user builds one. Exits 0
 * when a small pipeline gives the right answers. */
#include <cexec.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(exec_value_as_i64(&in[0]) + 1);
	return 1;
}

int main(void)
{
	exec_thread_pool *pool;
	if (exec_thread_pool_create(&pool, 2) < 0)
		return 1;
	exec_sender *s = exec_when_all2(
		exec_then(exec_just_i64(41), add_one, NULL),
		exec_on(exec_thread_pool_scheduler(pool), exec_just_i64(7)));
	exec_result r;
	int rc = exec_sync_wait(s, &r);
	int ok = rc == 0 && r.count == 2 && exec_value_as_i64(&r.values[0]) == 42 &&
		 exec_value_as_i64(&r.values[1]) == 7;
	exec_sender_free(s);
	exec_thread_pool_destroy(pool);

	s = exec_then(exec_just_error(-EPIPE), add_one, NULL);
	ok = ok && exec_sync_wait(s, &r) == -EPIPE &&
	     strlen(exec_strerror(-EPIPE)) > 0;
	exec_sender_free(s);

	printf("consumer: %s\n", ok ? "ok" : "WRONG");
	return ok ? 0 : 1;
}
