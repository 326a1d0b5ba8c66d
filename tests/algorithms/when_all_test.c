/* tests for algorithms/when_all.c (and the shared exec/fanout.c) */
/* CEXEC_TEST_LABELS: tsan */
#include "cexec_test.h"

#include <errno.h>
#include <sched.h>

#include "ctl_sender.h"

static exec_sender *just2(int64_t a, int64_t b)
{
	exec_value v[2] = {exec_value_i64(a), exec_value_i64(b)};
	return exec_just(v, 2);
}

static void values_concatenated_in_child_order(void **state)
{
	exec_sender *c[4] = {just2(1, 2), exec_just_void(), exec_just_i64(3), just2(4, 5)};
	exec_sender *s = exec_when_all(c, 4);
	assert_int_equal(exec_sender_build_error(s), 0);
	assert_int_equal(s->max_values, 5);

	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 5);
	for (int i = 0; i < 5; i++)
		exec_test_assert_i64(&t, i, i + 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

/* then children may send fewer values than their max_values (4): the
 * result is gathered child by child, for small (stack) and large (slots,
 * compacted in place) results, mixed with children that fill their slots. */
static int first_n(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	int64_t base = exec_value_as_i64(&in[0]);
	int k = (int)(intptr_t)ctx;
	for (int i = 0; i < k; i++)
		out[i] = exec_value_i64(base + i);
	return k;
}

static void sparse_children_gathered(void **state)
{
	for (int big = 0; big < 2; big++) {
		int nkids = big ? 6 : 3; /* 6 * 4 slots > EXEC_FANOUT_STACK_VALUES */
		exec_sender *c[6];
		int64_t next = 0;
		for (int i = 0; i < nkids; i++) {
			int k = i % 3; /* 0, 1 or 2 of 4 possible values */
			if (i == 1) {
				c[i] = just2(next, next + 1); /* fills its slots */
				next += 2;
				continue;
			}
			c[i] = exec_then(exec_just_i64(next), first_n, (void *)(intptr_t)k);
			next += k;
		}
		exec_sender *s = exec_when_all(c, (size_t)nkids);
		assert_int_equal(s->max_values > EXEC_FANOUT_STACK_VALUES, big);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, (size_t)next);
		for (int i = 0; i < next; i++)
			exec_test_assert_i64(&t, i, i);
		exec_test_receiver_destroy(&t);
		exec_sender_free(s);
	}
}

static void large_results_compact_in_place(void **state)
{
	/* 3 * 10 values: past EXEC_FANOUT_STACK_VALUES, so delivered from the
	 * compacted slots; children with no values sit in between. */
	enum { K = 10 };
	exec_sender *c[5];
	int64_t next = 0;
	for (int i = 0; i < 5; i++) {
		if (i % 2) {
			c[i] = exec_just_void();
			continue;
		}
		exec_value v[K];
		for (int j = 0; j < K; j++)
			v[j] = exec_value_i64(next++);
		c[i] = exec_just(v, K);
	}
	exec_sender *s = exec_when_all(c, 5);
	assert_true(s->max_values > EXEC_FANOUT_STACK_VALUES);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 3 * K);
	for (int i = 0; i < 3 * K; i++)
		exec_test_assert_i64(&t, i, i);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void sync_wait_and_reuse(void **state)
{
	exec_sender *s = exec_when_all2(exec_just_i64(7), exec_just_i64(8));
	for (int round = 0; round < 3; round++) {
		exec_result r;
		assert_int_equal(exec_sync_wait(s, &r), 0);
		assert_int_equal(r.count, 2);
		assert_int_equal(exec_value_as_i64(&r.values[0]), 7);
		assert_int_equal(exec_value_as_i64(&r.values[1]), 8);
	}
	/* Two operations connected from one sender at once. */
	exec_test_receiver a, b;
	exec_test_receiver_init(&a);
	exec_test_receiver_init(&b);
	assert_int_equal(exec_test_connect(s, &a), 0);
	assert_int_equal(exec_test_connect(s, &b), 0);
	exec_test_start(&b);
	exec_test_start(&a);
	exec_test_assert_value(&a);
	exec_test_assert_value(&b);
	exec_test_assert_i64(&a, 1, 8);
	exec_test_assert_i64(&b, 0, 7);
	exec_test_receiver_destroy(&a);
	exec_test_receiver_destroy(&b);
	exec_sender_free(s);
}

static void zero_children_complete_with_no_values(void **state)
{
	exec_sender *s = exec_when_all(NULL, 0);
	assert_int_equal(exec_sender_build_error(s), 0);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void error_wins_after_every_child_finished(void **state)
{
	ctl_probe waiter = {0};
	exec_sender *s = exec_when_all2(ctl_sender(CTL_WAIT_STOP, 0, 0, &waiter),
					ctl_error(-EIO));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EIO);
	/* The waiting sibling was stopped through the internal source. */
	assert_int_equal(waiter.stop_seen, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void first_error_wins(void **state)
{
	exec_sender *c[3] = {ctl_value(1), ctl_error(-EIO), ctl_error(-EPIPE)};
	exec_sender *s = exec_when_all(c, 3);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -EIO);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stopped_child_stops_all(void **state)
{
	ctl_probe waiter = {0};
	exec_sender *c[3] = {ctl_sender(CTL_WAIT_STOP, 0, 0, &waiter), ctl_stopped(),
			     ctl_error(-EIO)};
	exec_sender *s = exec_when_all(c, 3);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	/* The stop came first, so it wins over the later error. */
	exec_test_assert_stopped(&t);
	assert_int_equal(waiter.stop_seen, 1);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void waits_for_a_child_that_ignores_stop(void **state)
{
	/* The error arrives first; the manual child ignores the stop request.
	 * when_all must not complete until it has finished. */
	ctl_probe manual = {0};
	exec_sender *s = exec_when_all2(ctl_sender(CTL_MANUAL, 0, 0, &manual),
					ctl_error(-EIO));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	assert_int_equal(exec_test_completions(&t), 0);
	assert_true(exec_stop_token_requested(manual.env.stop_token));
	ctl_complete_value(manual.last, 5);
	exec_test_assert_error(&t, -EIO);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_before_start_starts_nothing(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_stop_source_request(&src);
	ctl_probe p = {0};
	exec_sender *s = exec_when_all2(ctl_sender(CTL_VALUE, 1, 0, &p),
					ctl_sender(CTL_VALUE, 2, 0, &p));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.starts, 0);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_during_reaches_children(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	ctl_probe p = {0};
	exec_sender *s = exec_when_all2(ctl_sender(CTL_WAIT_STOP, 0, 0, &p),
					ctl_sender(CTL_WAIT_STOP, 0, 0, &p));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	assert_int_equal(p.starts, 2);
	assert_int_equal(exec_test_completions(&t), 0);
	/* The forwarding callback is registered on the outer source. */
	assert_non_null(src.head);
	/* The children see the internal token, not ours. */
	assert_ptr_not_equal(p.env.stop_token.source, &src);
	exec_stop_source_request(&src);
	exec_test_assert_stopped(&t);
	assert_int_equal(p.stop_seen, 2);
	assert_null(src.head);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void stop_after_completion_is_harmless(void **state)
{
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *s = exec_when_all2(ctl_value(1), ctl_value(2));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	/* Deregistered before completing: nothing left on our source. */
	assert_null(src.head);
	assert_true(exec_stop_source_request(&src));
	exec_test_assert_value(&t);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void values_after_stop_request_still_count(void **state)
{
	/* Stop is requested while one child is pending; that child ignores it
	 * and sends a value: a stop request is a request. */
	exec_stop_source src;
	exec_stop_source_init(&src);
	ctl_probe m = {0};
	exec_sender *s = exec_when_all2(ctl_value(1), ctl_sender(CTL_MANUAL, 0, 0, &m));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.stop_token = exec_stop_source_token(&src);
	exec_test_run(s, &t);
	exec_stop_source_request(&src);
	assert_int_equal(exec_test_completions(&t), 0);
	ctl_complete_value(m.last, 2);
	exec_test_assert_value(&t);
	exec_test_assert_i64(&t, 1, 2);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void children_see_outer_scheduler_and_allocator(void **state)
{
	static const exec_allocator alloc = {NULL, NULL, (void *)&alloc};
	ctl_probe p = {0};
	exec_sender *s = exec_when_all2(ctl_sender(CTL_VALUE, 1, 0, &p), ctl_value(2));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	t.env.scheduler = exec_inline_scheduler();
	t.env.allocator = &alloc;
	exec_test_run(s, &t);
	exec_test_assert_value(&t);
	assert_ptr_equal(p.env.scheduler, exec_inline_scheduler());
	assert_ptr_equal(p.env.allocator, &alloc);
	assert_non_null(p.env.stop_token.source);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void manual_children_completed_out_of_order(void **state)
{
	ctl_probe p[3] = {{0}};
	exec_sender *c[3];
	for (int i = 0; i < 3; i++)
		c[i] = ctl_sender(CTL_MANUAL, 0, 0, &p[i]);
	exec_sender *s = exec_when_all(c, 3);
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	ctl_complete_value(p[2].last, 30);
	ctl_complete_value(p[0].last, 10);
	assert_int_equal(exec_test_completions(&t), 0);
	ctl_complete_value(p[1].last, 20);
	exec_test_assert_value(&t);
	assert_int_equal(t.count, 3);
	exec_test_assert_i64(&t, 0, 10);
	exec_test_assert_i64(&t, 1, 20);
	exec_test_assert_i64(&t, 2, 30);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void nested_when_all(void **state)
{
	exec_sender *inner1 = exec_when_all2(exec_just_i64(1), exec_just_i64(2));
	exec_sender *inner2 = exec_when_all2(exec_just_i64(3), exec_just_void());
	exec_sender *c[3] = {inner1, exec_just_i64(0), inner2};
	exec_sender *s = exec_when_all(c, 3);
	exec_result r;
	assert_int_equal(exec_sync_wait(s, &r), 0);
	assert_int_equal(r.count, 4);
	assert_int_equal(exec_value_as_i64(&r.values[0]), 1);
	assert_int_equal(exec_value_as_i64(&r.values[1]), 2);
	assert_int_equal(exec_value_as_i64(&r.values[2]), 0);
	assert_int_equal(exec_value_as_i64(&r.values[3]), 3);
	exec_sender_free(s);
}

static int lie(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64(1);
	out[1] = exec_value_i64(2);
	return 2;
}

static void too_many_values_is_erange(void **state)
{
	/* A child that sends more than its max_values says is a bug in that
	 * child; when_all reports it instead of overrunning its slots. */
	exec_sender *child = exec_then(exec_just_void(), lie, NULL);
	child->max_values = 1; /* lie about it */
	exec_sender *s = exec_when_all2(child, exec_just_i64(3));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	exec_test_run(s, &t);
	exec_test_assert_error(&t, -ERANGE);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

static void bad_input(void **state)
{
	assert_int_equal(exec_sender_build_error(exec_when_all(NULL, 2)), -EINVAL);
	/* The other children are consumed (the leak checker would see them). */
	exec_sender *c[3] = {exec_just_i64(1), NULL, exec_just_i64(2)};
	assert_int_equal(exec_sender_build_error(exec_when_all(c, 3)), -EINVAL);
	assert_int_equal(exec_sender_build_error(exec_when_all2(exec_just_i64(1), NULL)),
			 -EINVAL);
	exec_sender *d[2] = {exec_just_i64(1), exec_sender_invalid(-ENOMEM)};
	assert_int_equal(exec_sender_build_error(exec_when_all(d, 2)), -ENOMEM);

	/* A failing child connect is when_all's connect error. */
	exec_sender *s = exec_when_all2(exec_just_i64(1),
					ctl_sender(CTL_CONNECT_FAIL, 0, 0, NULL));
	exec_test_receiver t;
	exec_test_receiver_init(&t);
	assert_int_equal(exec_test_connect(s, &t), -EBADF);
	assert_int_equal(exec_sync_wait(s, NULL), -EBADF);
	exec_test_receiver_destroy(&t);
	exec_sender_free(s);
}

/* Model check: random numbers of manual children completed in a random
 * order on random channels; the outcome must match the rule (values in
 * child order when all sent values, else the first error or stop), and
 * nothing may complete before the last child. */
static void random_orders_match_the_model(void **state)
{
	unsigned seed = 12345;
	for (int trial = 0; trial < 500; trial++) {
		size_t n = 1 + rand_r(&seed) % 6;
		ctl_probe p[6];
		exec_sender *c[6];
		int channel[6], order[6];
		memset(p, 0, sizeof p);
		for (size_t i = 0; i < n; i++) {
			c[i] = ctl_sender(CTL_MANUAL, 0, 0, &p[i]);
			int r = rand_r(&seed) % 8;
			channel[i] = r < 6 ? 0 : r == 6 ? 1 : 2; /* value, error, stopped */
			order[i] = (int)i;
		}
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = rand_r(&seed) % (i + 1);
			int tmp = order[i];
			order[i] = order[j];
			order[j] = tmp;
		}
		exec_sender *s = exec_when_all(c, n);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		int first = -1; /* the first child to error or stop */
		for (size_t k = 0; k < n; k++) {
			int i = order[k];
			assert_int_equal(exec_test_completions(&t), 0);
			if (channel[i] == 0)
				ctl_complete_value(p[i].last, 100 + i);
			else if (channel[i] == 1)
				ctl_complete_error(p[i].last, -(int)(10 + i));
			else
				ctl_complete_stopped(p[i].last);
			if (channel[i] && first < 0)
				first = i;
			/* After the first failure every later child saw stop. */
			if (first >= 0 && k + 1 < n)
				assert_true(exec_stop_token_requested(p[order[k + 1]].env.stop_token));
		}
		if (first < 0) {
			exec_test_assert_value(&t);
			assert_int_equal(t.count, n);
			for (size_t i = 0; i < n; i++)
				exec_test_assert_i64(&t, i, 100 + (int64_t)i);
		} else if (channel[first] == 1) {
			exec_test_assert_error(&t, -(10 + first));
		} else {
			exec_test_assert_stopped(&t);
		}
		exec_test_receiver_destroy(&t);
		exec_sender_free(s);
	}
}

static void freed_at_completion(void **state)
{
	/* The receiver frees the operation inside its completion call; ASan
	 * reports any later touch. Cases: completion inside the forwarded
	 * outer stop request, inside the internal request made by an error,
	 * inside start, and from a manual child. */
	exec_stop_source src;
	exec_stop_source_init(&src);
	exec_sender *w = exec_when_all2(ctl_sender(CTL_WAIT_STOP, 0, 0, NULL),
					ctl_sender(CTL_WAIT_STOP, 0, 0, NULL));
	freeing_receiver f;
	freeing_init(&f);
	f.env.stop_token = exec_stop_source_token(&src);
	freeing_run(w, &f);
	exec_stop_source_request(&src);
	freeing_wait(&f);
	assert_int_equal(f.channel, 3);
	freeing_destroy(&f);
	exec_sender_free(w);

	exec_sender *e = exec_when_all2(ctl_sender(CTL_WAIT_STOP, 0, 0, NULL), ctl_error(-EIO));
	freeing_init(&f);
	freeing_run(e, &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 2);
	assert_int_equal(f.error, -EIO);
	freeing_destroy(&f);
	exec_sender_free(e);

	exec_sender *v = exec_when_all2(exec_just_i64(1), exec_just_i64(2));
	freeing_init(&f);
	freeing_run(v, &f);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	assert_int_equal(f.count, 2);
	freeing_destroy(&f);
	exec_sender_free(v);

	ctl_probe m = {0};
	exec_sender *mm = exec_when_all2(exec_just_i64(1), ctl_sender(CTL_MANUAL, 0, 0, &m));
	freeing_init(&f);
	freeing_run(mm, &f);
	ctl_complete_value(m.last, 2);
	freeing_wait(&f);
	assert_int_equal(f.channel, 1);
	freeing_destroy(&f);
	exec_sender_free(mm);
}

/* Children completing concurrently on several threads. */
enum { THREADS = 4, CHILDREN = 8, ROUNDS = 300 };

static int plus_index(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	out[0] = exec_value_i64((int64_t)(intptr_t)ctx);
	return 1;
}

static void children_on_several_threads(void **state)
{
	loop_thread lt[THREADS];
	for (int i = 0; i < THREADS; i++)
		loop_thread_start(&lt[i]);
	exec_sender *c[CHILDREN];
	for (int i = 0; i < CHILDREN; i++)
		c[i] = exec_then(exec_schedule(exec_run_loop_scheduler(&lt[i % THREADS].loop)),
				 plus_index, (void *)(intptr_t)i);
	exec_sender *s = exec_when_all(c, CHILDREN);
	for (int round = 0; round < ROUNDS; round++) {
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_receiver_wait(&t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, CHILDREN);
		for (int i = 0; i < CHILDREN; i++)
			exec_test_assert_i64(&t, i, i);
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);

	/* The same with an error from one thread racing values and stops on
	 * the others, and an outer stop request racing them all. */
	for (int round = 0; round < ROUNDS; round++) {
		exec_sender *d[CHILDREN];
		for (int i = 0; i < CHILDREN; i++) {
			exec_sender *hop = exec_schedule(
				exec_run_loop_scheduler(&lt[i % THREADS].loop));
			d[i] = i == 3 ? exec_then(hop, lie, NULL) : exec_then(hop, plus_index,
									      (void *)(intptr_t)i);
		}
		d[3]->max_values = 1; /* an -ERANGE child */
		exec_sender *e = exec_when_all(d, CHILDREN);
		exec_stop_source src;
		exec_stop_source_init(&src);
		/* The receiver frees the operation at completion (ASan). */
		freeing_receiver f;
		freeing_init(&f);
		f.env.stop_token = exec_stop_source_token(&src);
		freeing_run(e, &f);
		if (round % 2)
			exec_stop_source_request(&src);
		freeing_wait(&f);
		/* Either the error or a stop won, exactly once. */
		assert_true(f.channel == 2 || f.channel == 3);
		if (f.channel == 2)
			assert_int_equal(f.error, -ERANGE);
		freeing_destroy(&f);
		exec_sender_free(e);
	}
	for (int i = 0; i < THREADS; i++)
		loop_thread_stop(&lt[i]);
}

/* Children that complete inside start store their values in a buffer on
 * the starting thread's stack; when others complete elsewhere, start moves
 * those values into the operation before it lets go. Mixed rounds: inline
 * children (just, and a sparse just_void) interleaved with children that
 * hop to loop threads and may complete while the start loop still runs.
 * Small results (on the stack) and large ones (over
 * EXEC_FANOUT_STACK_VALUES, in place); the receiver frees the operation at
 * completion, so ASan sees any late touch and TSan any unordered one. */
enum { MIXED = 20 };

static exec_sender *mixed_child(loop_thread *lt, int i)
{
	if (i % 5 == 4)
		return exec_just_void(); /* inline, sends nothing */
	if (i % 2)
		return exec_then(exec_schedule(exec_run_loop_scheduler(&lt[i % THREADS].loop)),
				 plus_index, (void *)(intptr_t)i);
	return exec_just_i64(i);
}

static void inline_and_threaded_children_race(void **state)
{
	loop_thread lt[THREADS];
	for (int i = 0; i < THREADS; i++)
		loop_thread_start(&lt[i]);
	const int sizes[] = {2, 5, 9, MIXED};
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		int n = sizes[k];
		exec_sender *c[MIXED];
		int expect = 0;
		for (int i = 0; i < n; i++) {
			c[i] = mixed_child(lt, i);
			expect += i % 5 != 4;
		}
		exec_sender *s = exec_when_all(c, (size_t)n);
		for (int round = 0; round < ROUNDS; round++) {
			exec_test_receiver t;
			exec_test_receiver_init(&t);
			exec_test_run(s, &t);
			exec_test_receiver_wait(&t);
			exec_test_assert_value(&t);
			assert_int_equal(t.count, expect);
			int at = 0;
			for (int i = 0; i < n; i++) {
				if (i % 5 == 4)
					continue;
				exec_test_assert_i64(&t, at, i);
				at++;
			}
			exec_test_receiver_destroy(&t);

			freeing_receiver f;
			freeing_init(&f);
			freeing_run(s, &f);
			freeing_wait(&f);
			assert_int_equal(f.channel, 1);
			assert_int_equal(f.count, expect);
			assert_int_equal(f.first, 0);
			freeing_destroy(&f);
		}
		exec_sender_free(s);
	}
	for (int i = 0; i < THREADS; i++)
		loop_thread_stop(&lt[i]);
}

/* Completes the manual child recorded in ctx (a ctl_probe) from inside
 * another child's start: the manual child then completes inline too, on
 * the starting thread, though not inside its own start. */
static int complete_sibling(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	ctl_complete_value(((ctl_probe *)ctx)->last, 10);
	out[0] = exec_value_i64(20);
	return 1;
}

static void child_completed_inline_by_a_sibling(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	for (int threaded = 0; threaded < 2; threaded++) {
		ctl_probe p = {0};
		exec_sender *c[4];
		int n = 3;
		c[0] = ctl_sender(CTL_MANUAL, 0, 0, &p);
		c[1] = exec_then(exec_just_void(), complete_sibling, &p);
		c[2] = exec_just_i64(30);
		if (threaded) /* the others' values must be moved off the stack */
			c[n++] = exec_then(exec_schedule(exec_run_loop_scheduler(&lt.loop)),
					   plus_index, (void *)(intptr_t)40);
		exec_sender *s = exec_when_all(c, (size_t)n);
		for (int round = 0; round < 50; round++) {
			freeing_receiver f;
			freeing_init(&f);
			freeing_run(s, &f);
			freeing_wait(&f);
			assert_int_equal(f.channel, 1);
			assert_int_equal(f.count, n);
			assert_int_equal(f.first, 10);
			freeing_destroy(&f);

			exec_test_receiver t;
			exec_test_receiver_init(&t);
			exec_test_run(s, &t);
			exec_test_receiver_wait(&t);
			exec_test_assert_value(&t);
			assert_int_equal(t.count, n);
			for (int i = 0; i < n; i++)
				exec_test_assert_i64(&t, i, 10 * (i + 1));
			exec_test_receiver_destroy(&t);
		}
		exec_sender_free(s);
	}
	loop_thread_stop(&lt);
}

/* A threaded child that completes while start's loop still runs: the
 * inline child after it waits in its own start until the threaded one has
 * produced its value, so the threaded arrival, the inline children's
 * stores into start's stack buffer and start moving them into the
 * operation all overlap. TSan checks the ordering. */
static AO_t produced;

static int produce(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	AO_store_release(&produced, 1);
	out[0] = exec_value_i64(1);
	return 1;
}

static int await_produced(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	while (!AO_load_acquire(&produced))
		sched_yield();
	out[0] = exec_value_i64(2);
	return 1;
}

static void threaded_child_completes_while_start_runs(void **state)
{
	loop_thread lt;
	loop_thread_start(&lt);
	exec_sender *c[4] = {
		exec_then(exec_schedule(exec_run_loop_scheduler(&lt.loop)), produce, NULL),
		exec_then(exec_just_void(), await_produced, NULL),
		exec_just_i64(3),
		exec_just_i64(4),
	};
	exec_sender *s = exec_when_all(c, 4);
	for (int round = 0; round < ROUNDS; round++) {
		AO_store(&produced, 0);
		freeing_receiver f;
		freeing_init(&f);
		freeing_run(s, &f);
		freeing_wait(&f);
		assert_int_equal(f.channel, 1);
		assert_int_equal(f.count, 4);
		assert_int_equal(f.first, 1);
		freeing_destroy(&f);

		AO_store(&produced, 0);
		exec_test_receiver t;
		exec_test_receiver_init(&t);
		exec_test_run(s, &t);
		exec_test_receiver_wait(&t);
		exec_test_assert_value(&t);
		assert_int_equal(t.count, 4);
		for (int i = 0; i < 4; i++)
			exec_test_assert_i64(&t, i, i + 1);
		exec_test_receiver_destroy(&t);
	}
	exec_sender_free(s);
	loop_thread_stop(&lt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(values_concatenated_in_child_order),
		cmocka_unit_test(large_results_compact_in_place),
		cmocka_unit_test(sparse_children_gathered),
		cmocka_unit_test(sync_wait_and_reuse),
		cmocka_unit_test(zero_children_complete_with_no_values),
		cmocka_unit_test(error_wins_after_every_child_finished),
		cmocka_unit_test(first_error_wins),
		cmocka_unit_test(stopped_child_stops_all),
		cmocka_unit_test(waits_for_a_child_that_ignores_stop),
		cmocka_unit_test(stop_before_start_starts_nothing),
		cmocka_unit_test(stop_during_reaches_children),
		cmocka_unit_test(stop_after_completion_is_harmless),
		cmocka_unit_test(values_after_stop_request_still_count),
		cmocka_unit_test(children_see_outer_scheduler_and_allocator),
		cmocka_unit_test(manual_children_completed_out_of_order),
		cmocka_unit_test(nested_when_all),
		cmocka_unit_test(too_many_values_is_erange),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(random_orders_match_the_model),
		cmocka_unit_test(freed_at_completion),
		cmocka_unit_test(children_on_several_threads),
		cmocka_unit_test(inline_and_threaded_children_race),
		cmocka_unit_test(child_completed_inline_by_a_sibling),
		cmocka_unit_test(threaded_child_completes_while_start_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
