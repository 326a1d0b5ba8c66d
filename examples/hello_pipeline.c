/* examples/hello_pipeline.c - the README example: two computations run on a
 * thread pool at once, are joined and summed, and waited for. Exits 0 when
 * the answer is 42. */
/* CEXEC_TEST_ARGS: */
/* CEXEC_TEST_LABELS: tsan */
#include <cexec.h>
#include <stdio.h>

static int sum(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(exec_value_as_i64(&in[0]) + exec_value_as_i64(&in[1]));
	return 1; /* values written to out */
}

int main(void)
{
	exec_thread_pool *pool;
	if (exec_thread_pool_create(&pool, 2) < 0)
		return 1;
	exec_scheduler *cpu = exec_thread_pool_scheduler(pool);
	exec_sender *s = exec_then(exec_when_all2(exec_on(cpu, exec_just_i64(40)),
						  exec_on(cpu, exec_just_i64(2))), sum, NULL);
	exec_result r;
	int rc = exec_sync_wait(s, &r); /* 0, a negative errno, or EXEC_STOPPED */
	printf("%lld (%s)\n", rc ? 0LL : (long long)exec_value_as_i64(&r.values[0]),
	       exec_strerror(rc));
	exec_sender_free(s);
	exec_thread_pool_destroy(pool);
	return rc == 0 && exec_value_as_i64(&r.values[0]) == 42 ? 0 : 1;
}
