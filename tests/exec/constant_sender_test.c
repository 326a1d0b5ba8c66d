/* tests for constant senders (exec_sender.constant_values, exec/sender.h):
 * algorithms built over a sender that declares constant values deliver
 * those values without connecting it, with the same results as when it is
 * connected and started.
 *
 * "probe" is a sender that counts its connects; built constant or not, it
 * completes inside start with the same values. Every algorithm is run over
 * both: the results must be equal, and only the non-constant probe may be
 * connected. when_all mixes constant children with ones that complete on a
 * pool thread (start then moves the constant children's values off its
 * stack buffer), also with more values than that buffer holds. */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#ifdef CEXEC_SANITIZE_BUILD
#define ROUNDS 200
#else
#define ROUNDS 2000
#endif

/* ---- probe -------------------------------------------------------- */

typedef struct probe_sender {
	exec_sender base;
	AO_t connects;
	exec_value values[2];
} probe_sender;

typedef struct probe_op {
	exec_op op;
	exec_receiver *r;
	const probe_sender *s;
} probe_op;

static void probe_start(exec_op *op)
{
	probe_op *p = (probe_op *)op;
	exec_set_value(p->r, p->s->values, 2);
}

static int probe_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	probe_sender *ps = (probe_sender *)(uintptr_t)s;
	AO_fetch_and_add1(&ps->connects);
	probe_op *p = (probe_op *)op;
	p->op.start = probe_start;
	p->r = r;
	p->s = ps;
	return 0;
}

static void probe_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops probe_ops = {"probe", probe_connect, probe_destroy};

/* A probe sending (a, a + 1); the caller keeps a reference in *keep. */
static exec_sender *probe(bool constant, int64_t a, probe_sender **keep)
{
	probe_sender *p = exec_sender_new(&probe_ops, sizeof *p);
	assert_non_null(p);
	p->base.op_size = sizeof(probe_op);
	p->base.max_values = 2;
	p->values[0] = exec_value_i64(a);
	p->values[1] = exec_value_i64(a + 1);
	if (constant)
		p->base.constant_values = p->values;
	*keep = (probe_sender *)exec_sender_ref(&p->base);
	return &p->base;
}

static void assert_i64s(const exec_result *r, const int64_t *want, size_t n)
{
	assert_int_equal(r->kind, EXEC_RESULT_VALUE);
	assert_int_equal(r->count, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(exec_value_as_i64(&r->values[i]), want[i]);
}

/* ---- which senders are constant ----------------------------------- */

static int add_one(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		out[i] = exec_value_i64(exec_value_as_i64(&in[i]) + 1);
	return (int)n;
}

static void just_is_constant_and_others_are_not(void **state)
{
	(void)state;
	size_t n = 99;
	exec_sender *j = exec_just_i64(5);
	const exec_value *v = exec_sender_constant_values(j, &n);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_int_equal(exec_value_as_i64(&v[0]), 5);

	exec_sender *jv = exec_just_void();
	assert_non_null(exec_sender_constant_values(jv, &n));
	assert_int_equal(n, 0);

	/* Not constant: they run code, read the environment, or fail. */
	exec_sender *others[] = {
		exec_then(exec_just_i64(1), add_one, NULL),
		exec_when_all2(exec_just_i64(1), exec_just_i64(2)),
		exec_just_error(-EIO),
		exec_just_stopped(),
		exec_read_stop_token(),
		exec_sender_invalid(-EINVAL),
	};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		n = 99;
		assert_null(exec_sender_constant_values(others[i], &n));
		assert_int_equal(n, 0);
		exec_sender_free(others[i]);
	}
	exec_sender_free(j);
	exec_sender_free(jv);
}

/* ---- single-child algorithms -------------------------------------- */

static int never_error(void *ctx, int err, exec_value *out)
{
	(void)ctx;
	(void)err;
	(void)out;
	fail_msg("upon_error called on a value completion");
	return 0;
}

static int never_stopped(void *ctx, exec_value *out)
{
	(void)ctx;
	(void)out;
	fail_msg("upon_stopped called on a value completion");
	return 0;
}

static exec_sender *succ_plus_ten(void *ctx, const exec_value *v, size_t n)
{
	(void)ctx;
	assert_int_equal(n, 2);
	return exec_just_i64(exec_value_as_i64(&v[0]) + exec_value_as_i64(&v[1]) + 10);
}

static int touch(void *ctx, size_t i, const exec_value *v, size_t n)
{
	(void)i;
	(void)v;
	(void)n;
	AO_fetch_and_add1((AO_t *)ctx);
	return 0;
}

enum { THEN, UPON_ERROR, UPON_STOPPED, STOPPED_AS_ERROR, LET_VALUE, STARTS_ON, ON,
       CONTINUES_ON, BULK, KINDS };

static exec_sender *wrap(int kind, exec_sender *s, exec_scheduler *pool, AO_t *bulk_calls)
{
	switch (kind) {
	case THEN: return exec_then(s, add_one, NULL);
	case UPON_ERROR: return exec_upon_error(s, never_error, NULL);
	case UPON_STOPPED: return exec_upon_stopped(s, never_stopped, NULL);
	case STOPPED_AS_ERROR: return exec_stopped_as_error(s, -EIO);
	case LET_VALUE: return exec_let_value(s, succ_plus_ten, NULL);
	case STARTS_ON: return exec_starts_on(pool, s);
	case ON: return exec_on(pool, s);
	case CONTINUES_ON: return exec_continues_on(s, pool);
	default: return exec_bulk(s, 3, touch, bulk_calls);
	}
}

/* Every adaptor gives the same result over a constant probe as over a
 * connected one, and never connects the constant one. */
static void adaptors_deliver_constant_values_without_connecting(void **state)
{
	(void)state;
	exec_thread_pool *tp;
	assert_int_equal(exec_thread_pool_create(&tp, 2), 0);
	exec_scheduler *pool = exec_thread_pool_scheduler(tp);
	for (int kind = 0; kind < KINDS; kind++) {
		exec_result res[2];
		AO_t bulk_calls[2] = {0, 0};
		for (int constant = 0; constant < 2; constant++) {
			probe_sender *p;
			exec_sender *s = wrap(kind, probe(constant, 20, &p), pool,
					      &bulk_calls[constant]);
			assert_int_equal(exec_sender_build_error(s), 0);
			for (int run = 0; run < 3; run++) {
				assert_int_equal(exec_sync_wait(s, &res[constant]), 0);
				if (run < 2)
					exec_result_clear(&res[constant]);
			}
			assert_int_equal(AO_load(&p->connects), constant ? 0 : 3);
			exec_sender_free(s);
			exec_sender_free(&p->base);
		}
		int64_t want[2] = {20, 21};
		size_t nwant = 2;
		if (kind == THEN)
			want[0] = 21, want[1] = 22;
		else if (kind == LET_VALUE)
			want[0] = 51, nwant = 1;
		assert_i64s(&res[0], want, nwant);
		assert_i64s(&res[1], want, nwant);
		assert_int_equal(bulk_calls[0], kind == BULK ? 9 : 0);
		assert_int_equal(bulk_calls[1], bulk_calls[0]);
		exec_result_clear(&res[0]);
		exec_result_clear(&res[1]);
	}
	exec_thread_pool_destroy(tp);
}

/* ---- fan-outs ----------------------------------------------------- */

/* when_all of constant and connected children, on the inline path: the
 * values in child order, only the connected ones connected. */
static void when_all_mixes_constant_and_connected_children(void **state)
{
	(void)state;
	probe_sender *pc, *pn;
	exec_sender *c[4] = {
		probe(true, 1, &pc),
		exec_just_i64(3),
		probe(false, 4, &pn),
		exec_then(exec_just_i64(6), add_one, NULL),
	};
	exec_sender *all = exec_when_all(c, 4);
	exec_result r;
	for (int run = 0; run < 2; run++) {
		assert_int_equal(exec_sync_wait(all, &r), 0);
		assert_i64s(&r, (int64_t[]){1, 2, 3, 4, 5, 7}, 6);
		exec_result_clear(&r);
	}
	assert_int_equal(AO_load(&pc->connects), 0);
	assert_int_equal(AO_load(&pn->connects), 2);
	exec_sender_free(all);
	exec_sender_free(&pc->base);
	exec_sender_free(&pn->base);
}

/* Constant children stored into start's stack buffer while a sibling
 * completes on a pool thread: start must move them into the slots before
 * its frame goes, whichever side arrives last. small: the result fits the
 * stack buffer (EXEC_FANOUT_STACK_VALUES); otherwise it does not, and the
 * constant children go through the receiver. */
static void when_all_constants_with_a_pool_child(bool small)
{
	exec_thread_pool *tp;
	assert_int_equal(exec_thread_pool_create(&tp, 2), 0);
	exec_scheduler *pool = exec_thread_pool_scheduler(tp);
	enum { MAXN = 12 };
	size_t n = small ? 4 : MAXN; /* small: 8 values, else 24 */
	exec_sender *c[MAXN];
	int64_t want[2 * MAXN];
	for (size_t i = 0; i < n; i++) {
		probe_sender *p;
		c[i] = i == 1 ? exec_continues_on(probe(false, 10 * (int64_t)i, &p), pool)
			      : probe(true, 10 * (int64_t)i, &p);
		exec_sender_free(&p->base);
		want[2 * i] = 10 * (int64_t)i;
		want[2 * i + 1] = 10 * (int64_t)i + 1;
	}
	exec_sender *all = exec_when_all(c, n);
	for (int round = 0; round < ROUNDS; round++) {
		exec_result r;
		assert_int_equal(exec_sync_wait(all, &r), 0);
		assert_i64s(&r, want, 2 * n);
		exec_result_clear(&r);
	}
	exec_sender_free(all);
	exec_thread_pool_destroy(tp);
}

static void when_all_constants_on_stack_with_a_pool_child(void **state)
{
	(void)state;
	when_all_constants_with_a_pool_child(true);
}

static void when_all_constants_in_slots_with_a_pool_child(void **state)
{
	(void)state;
	when_all_constants_with_a_pool_child(false);
}

/* when_any over constants: the first child wins, as when connected. */
static void when_any_first_constant_child_wins(void **state)
{
	(void)state;
	probe_sender *pa, *pb;
	exec_sender *c[2] = {probe(true, 7, &pa), probe(true, 70, &pb)};
	exec_sender *any = exec_when_any(c, 2);
	exec_result r;
	assert_int_equal(exec_sync_wait(any, &r), 0);
	assert_i64s(&r, (int64_t[]){7, 8}, 2);
	exec_result_clear(&r);
	assert_int_equal(AO_load(&pa->connects) + AO_load(&pb->connects), 0);
	exec_sender_free(any);
	exec_sender_free(&pa->base);
	exec_sender_free(&pb->base);
}

/* A stop requested before start: when_all completes stopped without
 * delivering any child, constant or not. */
static void when_all_of_constants_stopped_before_start(void **state)
{
	(void)state;
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	exec_sender *all = exec_when_all2(exec_just_i64(1), exec_just_i64(2));
	exec_result r;
	assert_int_equal(exec_sync_wait_with_stop(all, exec_stop_source_token(&src), &r),
			 EXEC_STOPPED);
	assert_int_equal(r.kind, EXEC_RESULT_STOPPED);
	exec_sender_free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(just_is_constant_and_others_are_not),
		cmocka_unit_test(adaptors_deliver_constant_values_without_connecting),
		cmocka_unit_test(when_all_mixes_constant_and_connected_children),
		cmocka_unit_test(when_all_constants_on_stack_with_a_pool_child),
		cmocka_unit_test(when_all_constants_in_slots_with_a_pool_child),
		cmocka_unit_test(when_any_first_constant_child_wins),
		cmocka_unit_test(when_all_of_constants_stopped_before_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
