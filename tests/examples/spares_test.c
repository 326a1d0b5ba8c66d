/* tests for examples/http/spares.c: blocks are reused; each period in
 * which none was taken frees half (rounded up), once `hold` such periods
 * have passed; a period with a take frees none and starts the hold again; close frees everything and reports back once its timer is back;
 * gives after close free at once. Under AddressSanitizer nothing is kept
 * (SPARES_KEPT 0) and the cases check that instead. The periods run on an
 * io loop's timers, one run_once at a time, so each step is observed;
 * nothing is timed. */
/* CEXEC_LINK: cexec_http_spares */
#include "cexec_test.h"

#include <stdlib.h>

#include "spares.h"

#define PERIOD_NS (2 * EXEC_NS_PER_MS)

static exec_io_loop *loop;
static int closed_calls;

static void on_closed(struct spares *s)
{
	(void)s;
	closed_calls++;
}

static int setup(void **state)
{
	(void)state;
	closed_calls = 0;
	return exec_io_loop_create(&loop, NULL);
}

static int teardown(void **state)
{
	(void)state;
	exec_io_loop_destroy(loop);
	return 0;
}

/* Runs the loop until the list's trim timer has fired once (it is then
 * either disarmed or armed again for a later deadline). */
static void one_period(struct spares *s)
{
	assert_true(s->armed);
	exec_time due = s->trim.deadline;
	while (s->armed && s->trim.deadline == due)
		assert_true(exec_io_loop_run_once(loop, true) >= 0);
}

static void give_n(struct spares *s, void **blocks, int n)
{
	for (int i = 0; i < n; i++)
		spares_give(s, blocks[i]);
}

static void reuse(void **state)
{
	(void)state;
	struct spares s;
	spares_init(&s, exec_io_loop_scheduler(loop), 64, PERIOD_NS, 0, on_closed);
	void *a = spares_take(&s);
	assert_non_null(a);
	spares_give(&s, a);
	if (SPARES_KEPT) {
		assert_int_equal(s.n, 1);
		assert_ptr_equal(spares_take(&s), a); /* the same block back */
		assert_int_equal(s.n, 0);
		spares_give(&s, a);
	} else {
		assert_int_equal(s.n, 0);
	}
	spares_give(&s, NULL); /* NULL-safe */
	spares_close(&s);
	assert_int_equal(s.n, 0);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_false(spares_busy(&s));
	assert_int_equal(closed_calls, SPARES_KEPT ? 1 : 0);
}

static void halves_each_idle_period(void **state)
{
	(void)state;
	if (!SPARES_KEPT)
		skip(); /* nothing is kept to shed */
	struct spares s;
	spares_init(&s, exec_io_loop_scheduler(loop), 64, PERIOD_NS, 0, on_closed);
	void *blocks[9];
	for (int i = 0; i < 9; i++)
		assert_non_null(blocks[i] = spares_take(&s));
	give_n(&s, blocks, 9);
	const size_t expect[] = {4, 2, 1, 0}; /* 9 - 5, 4 - 2, 2 - 1, 1 - 1 */
	for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
		one_period(&s);
		assert_int_equal(s.n, expect[i]);
	}
	assert_false(s.armed); /* an empty list keeps no timer */
	spares_close(&s);
	assert_false(spares_busy(&s));
	assert_int_equal(closed_calls, 0); /* its timer was not out */
}

static void a_take_keeps_the_rest(void **state)
{
	(void)state;
	if (!SPARES_KEPT)
		skip();
	struct spares s;
	spares_init(&s, exec_io_loop_scheduler(loop), 64, PERIOD_NS, 0, on_closed);
	void *blocks[4];
	for (int i = 0; i < 4; i++)
		blocks[i] = spares_take(&s);
	give_n(&s, blocks, 4);
	void *b = spares_take(&s);
	one_period(&s); /* taken during it: nothing freed */
	assert_int_equal(s.n, 3);
	spares_give(&s, b);
	one_period(&s); /* idle: half of 4 */
	assert_int_equal(s.n, 2);
	spares_close(&s);
	assert_int_equal(s.n, 0);
	assert_true(spares_busy(&s)); /* until the cancelled timer is back */
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_false(spares_busy(&s));
	assert_int_equal(closed_calls, 1);
	/* After close a give frees at once (ASan would report a leak). */
	spares_give(&s, malloc(64));
	assert_int_equal(s.n, 0);
	assert_false(s.armed);
}

static void holds_before_trimming(void **state)
{
	(void)state;
	if (!SPARES_KEPT)
		skip();
	struct spares s;
	spares_init(&s, exec_io_loop_scheduler(loop), 64, PERIOD_NS, 2, on_closed);
	void *blocks[4];
	for (int i = 0; i < 4; i++)
		blocks[i] = spares_take(&s);
	give_n(&s, blocks, 4);
	one_period(&s); /* idle 1 of 2 */
	one_period(&s); /* idle 2 of 2 */
	assert_int_equal(s.n, 4);
	void *b = spares_take(&s);
	spares_give(&s, b);
	one_period(&s); /* a take: the hold starts again */
	one_period(&s);
	one_period(&s);
	assert_int_equal(s.n, 4);
	one_period(&s); /* idle 3 of 2: trimmed */
	assert_int_equal(s.n, 2);
	one_period(&s);
	one_period(&s); /* 2 -> 1 -> 0: the timer stops */
	assert_int_equal(s.n, 0);
	assert_false(s.armed);
	/* A second burst (blocks from malloc, given back) gets the whole
	 * hold again, not the idle count of the first. */
	for (int i = 0; i < 4; i++)
		blocks[i] = spares_take(&s);
	give_n(&s, blocks, 4);
	one_period(&s);
	one_period(&s);
	assert_int_equal(s.n, 4);
	one_period(&s);
	assert_int_equal(s.n, 2);
	spares_close(&s);
	assert_int_equal(exec_io_loop_run_until_empty(loop), 0);
	assert_false(spares_busy(&s));
	assert_int_equal(closed_calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(halves_each_idle_period, setup, teardown),
		cmocka_unit_test_setup_teardown(a_take_keeps_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(holds_before_trimming, setup, teardown),
	};
	return cmocka_run_group_tests_name("spares", tests, NULL, NULL);
}
