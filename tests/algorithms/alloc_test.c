/* tests that connecting and running a built pipeline allocates nothing
 * (DESIGN.md 2.2): every allocation made by this program or by the static
 * library is counted through the linker's --wrap, and each pipeline is
 * built first, then connected into caller storage, started and completed
 * (driving its run_loops where it has some) while the count must stay 0. */
/* CEXEC_LINK: -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=aligned_alloc */
#include "cexec_test.h"

#include <errno.h>

/* ---- the counting wrappers ------------------------------------------------
 * References to malloc & co. in the objects linked into this program (the
 * test and libcexec.a) are redirected here; __real_* is the C library's, or
 * the sanitizer's interceptor in ASan builds. Only calls made while
 * `counting` is set are counted, from any thread. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

static AO_t counting, allocations;

static void count(void)
{
	if (AO_load_acquire(&counting))
		AO_fetch_and_add1(&allocations);
}

void *__wrap_malloc(size_t n)
{
	count();
	return __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	count();
	return __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	count();
	return __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
	count();
	return __real_posix_memalign(p, align, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	count();
	return __real_aligned_alloc(align, n);
}

static void count_begin(void)
{
	AO_store(&allocations, 0);
	AO_store_release(&counting, 1);
}

static size_t count_end(void)
{
	AO_store_release(&counting, 0);
	return AO_load_acquire(&allocations);
}

/* ---- a receiver in caller storage ----------------------------------------- */
typedef struct rcv {
	exec_receiver base;
	exec_env env;
	int values, errors, stopped;
	size_t count;
	int64_t first;
	int error;
} rcv;

static void rcv_value(exec_receiver *r, const exec_value *v, size_t n)
{
	rcv *x = EXEC_CONTAINER_OF(r, rcv, base);
	x->values++;
	x->count = n;
	x->first = n && v[0].type == EXEC_VALUE_I64 ? v[0].as.i64 : -1;
}

static void rcv_error(exec_receiver *r, int err)
{
	rcv *x = EXEC_CONTAINER_OF(r, rcv, base);
	x->errors++;
	x->error = err;
}

static void rcv_stopped(exec_receiver *r)
{
	EXEC_CONTAINER_OF(r, rcv, base)->stopped++;
}

static const exec_env *rcv_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, rcv, base)->env;
}

static const exec_receiver_ops rcv_ops = {rcv_value, rcv_error, rcv_stopped, rcv_env};

static _Alignas(64) unsigned char storage[16384];

static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(exec_value_as_i64(&in[0]) + 1);
	return 1;
}

static int fail_eio(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	return -EIO;
}

/* Connects s into the static storage, starts it, drives the loops (may be
 * NULL) until it completes, and returns the allocations seen meanwhile. */
static size_t run_counted(const exec_sender *s, rcv *r, exec_run_loop *l1,
			  exec_run_loop *l2)
{
	assert_true(exec_sender_op_size(s) <= sizeof storage);
	assert_true(exec_sender_op_align(s) <= 64);
	r->base.ops = &rcv_ops;
	r->values = r->errors = r->stopped = 0;
	count_begin();
	int rc = exec_connect(s, storage, &r->base);
	if (rc == 0) {
		exec_start((exec_op *)storage);
		for (int spins = 0; r->values + r->errors + r->stopped == 0 && spins < 100;
		     spins++) {
			if (l1)
				exec_run_loop_run_until_empty(l1);
			if (l2)
				exec_run_loop_run_until_empty(l2);
		}
	}
	size_t n = count_end();
	assert_int_equal(rc, 0);
	assert_int_equal(r->values + r->errors + r->stopped, 1);
	return n;
}

static void the_counter_counts(void **state)
{
	/* Positive control: building allocates, inside the library. */
	count_begin();
	exec_sender *s = exec_then(exec_just_i64(1), add_one, NULL);
	void *volatile p = malloc(8);
	size_t n = count_end();
	assert_int_equal(n, 3); /* just, then, and ours */
	free(p);
	exec_sender_free(s);
}

static void just_then(void **state)
{
	exec_sender *s = exec_then(exec_then(exec_just_i64(1), add_one, NULL), add_one, NULL);
	rcv r = {.env = exec_env_empty};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(run_counted(s, &r, NULL, NULL), 0);
		assert_int_equal(r.values, 1);
		assert_int_equal(r.first, 3);
	}
	exec_sender_free(s);
}

static void when_all_of(size_t n)
{
	exec_sender *c[8];
	for (size_t i = 0; i < n; i++)
		c[i] = exec_then(exec_just_i64((int64_t)i), add_one, NULL);
	exec_sender *s = exec_when_all(c, n);
	exec_stop_source src;
	exec_stop_source_init(&src);
	rcv r = {.env = exec_env_empty};
	r.env.stop_token = exec_stop_source_token(&src); /* chaining included */
	assert_int_equal(run_counted(s, &r, NULL, NULL), 0);
	assert_int_equal(r.values, 1);
	assert_int_equal(r.count, n);
	assert_int_equal(r.first, 1);
	exec_sender_free(s);
}

static void when_all_2_and_8(void **state)
{
	when_all_of(2);
	when_all_of(8);
}

static void when_all_error_and_when_any(void **state)
{
	/* The error path: claim, internal stop request, join. */
	exec_sender *c[3] = {exec_just_i64(1), exec_then(exec_just_i64(1), fail_eio, NULL),
			     exec_just_i64(2)};
	exec_sender *s = exec_when_all(c, 3);
	rcv r = {.env = exec_env_empty};
	assert_int_equal(run_counted(s, &r, NULL, NULL), 0);
	assert_int_equal(r.errors, 1);
	assert_int_equal(r.error, -EIO);
	exec_sender_free(s);

	s = exec_when_any2(exec_just_i64(4), exec_just_i64(5));
	assert_int_equal(run_counted(s, &r, NULL, NULL), 0);
	assert_int_equal(r.first, 4);
	exec_sender_free(s);
}

static void schedule_run_loop(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_sender *s = exec_then(exec_schedule(exec_run_loop_scheduler(&loop)), add_one, NULL);
	exec_sender_free(s);
	s = exec_schedule(exec_run_loop_scheduler(&loop));
	rcv r = {.env = exec_env_empty};
	assert_int_equal(run_counted(s, &r, &loop, NULL), 0);
	assert_int_equal(r.values, 1);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void continues_on_run_loop(void **state)
{
	exec_run_loop loop;
	assert_int_equal(exec_run_loop_init(&loop), 0);
	exec_sender *s = exec_continues_on(exec_then(exec_just_i64(1), add_one, NULL),
					   exec_run_loop_scheduler(&loop));
	rcv r = {.env = exec_env_empty};
	assert_int_equal(run_counted(s, &r, &loop, NULL), 0);
	assert_int_equal(r.values, 1);
	assert_int_equal(r.first, 2);
	exec_sender_free(s);
	exec_run_loop_destroy(&loop);
}

static void on_and_starts_on_run_loop(void **state)
{
	exec_run_loop away, home;
	assert_int_equal(exec_run_loop_init(&away), 0);
	assert_int_equal(exec_run_loop_init(&home), 0);
	exec_sender *s = exec_on(exec_run_loop_scheduler(&away),
				 exec_then(exec_just_i64(1), add_one, NULL));
	rcv r = {.env = exec_env_empty};
	r.env.scheduler = exec_run_loop_scheduler(&home);
	assert_int_equal(run_counted(s, &r, &away, &home), 0);
	assert_int_equal(r.values, 1);
	assert_int_equal(r.first, 2);
	exec_sender_free(s);

	s = exec_starts_on(exec_run_loop_scheduler(&away), exec_just_i64(3));
	assert_int_equal(run_counted(s, &r, &away, NULL), 0);
	assert_int_equal(r.first, 3);
	exec_sender_free(s);
	exec_run_loop_destroy(&away);
	exec_run_loop_destroy(&home);
}

static int recover(void *ctx, int err, exec_value *out)
{
	out[0] = exec_value_i64(-err);
	return 1;
}

static int pass_error_on(void *ctx, int err, exec_value *out)
{
	return err;
}

static int stopped_to_value(void *ctx, exec_value *out)
{
	out[0] = exec_value_i64(77);
	return 1;
}

static void upon_chains(void **state)
{
	rcv r = {.env = exec_env_empty};
	/* error -> upon_error (recovers) -> then */
	exec_sender *s = exec_then(exec_upon_error(exec_just_error(-EIO), recover, NULL),
				   add_one, NULL);
	assert_int_equal(run_counted(s, &r, NULL, NULL), 0);
	assert_int_equal(r.values, 1);
	assert_int_equal(r.first, EIO + 1);
	exec_sender_free(s);

	/* stopped -> upon_error (not called) -> upon_stopped -> then */
	s = exec_then(exec_upon_stopped(exec_upon_error(exec_just_stopped(), recover, NULL),
					stopped_to_value, NULL),
		      add_one, NULL);
	assert_int_equal(run_counted(s, &r, NULL, NULL), 0);
	assert_int_equal(r.first, 78);
	exec_sender_free(s);

	/* value -> then fails -> upon_error passes it on -> upon_stopped */
	s = exec_upon_stopped(exec_upon_error(exec_then(exec_just_i64(1), fail_eio, NULL),
					      pass_error_on, NULL),
			      stopped_to_value, NULL);
	assert_int_equal(run_counted(s, &r, NULL, NULL), 0);
	assert_int_equal(r.errors, 1);
	assert_int_equal(r.error, -EIO);
	exec_sender_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_counter_counts),
		cmocka_unit_test(just_then),
		cmocka_unit_test(when_all_2_and_8),
		cmocka_unit_test(when_all_error_and_when_any),
		cmocka_unit_test(schedule_run_loop),
		cmocka_unit_test(continues_on_run_loop),
		cmocka_unit_test(on_and_starts_on_run_loop),
		cmocka_unit_test(upon_chains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
