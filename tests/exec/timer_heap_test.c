/* tests for exec/timer_heap.c */
#include "cexec_test.h"

/* A small deterministic generator (xorshift64*): the same sequence every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

typedef struct node {
	exec_task task;
	size_t order; /* insertion number, for the FIFO tie check */
	bool in;
} node;

/* The reference: the minimum (deadline, insertion order) of the nodes
 * marked in. O(n) per query, so the big test checks it on a sample. */
static node *ref_min(node *nodes, size_t n)
{
	node *best = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!nodes[i].in)
			continue;
		if (!best || nodes[i].task.deadline < best->task.deadline ||
		    (nodes[i].task.deadline == best->task.deadline &&
		     nodes[i].order < best->order))
			best = &nodes[i];
	}
	return best;
}

static void empty_heap(void **state)
{
	exec_timer_heap h;
	exec_timer_heap_init(&h);
	assert_null(exec_timer_heap_top(&h));
	assert_null(exec_timer_heap_pop(&h));
	node a;
	memset(&a, 0, sizeof a);
	assert_false(exec_timer_heap_contains(&a.task));
	assert_false(exec_timer_heap_remove(&h, &a.task));
	assert_int_equal(h.count, 0);
}

static void equal_deadlines_are_fifo(void **state)
{
	exec_timer_heap h;
	exec_timer_heap_init(&h);
	node n[50];
	memset(n, 0, sizeof n);
	for (int i = 0; i < 50; i++) {
		n[i].task.deadline = (i % 2) ? 5 : 7;
		exec_timer_heap_push(&h, &n[i].task);
		assert_true(exec_timer_heap_contains(&n[i].task));
	}
	assert_int_equal(h.count, 50);
	for (int i = 1; i < 50; i += 2)
		assert_ptr_equal(exec_timer_heap_pop(&h), &n[i].task);
	for (int i = 0; i < 50; i += 2) {
		exec_task *t = exec_timer_heap_pop(&h);
		assert_ptr_equal(t, &n[i].task);
		assert_false(exec_timer_heap_contains(t));
	}
	assert_null(exec_timer_heap_pop(&h));
}

/* Random push / pop / remove against the reference. */
static void random_against_reference(void **state)
{
	enum { N = 2000, OPS = 20000 };
	node *nodes = calloc(N, sizeof *nodes);
	assert_non_null(nodes);
	exec_timer_heap h;
	exec_timer_heap_init(&h);
	size_t in = 0, order = 0;
	for (int op = 0; op < OPS; op++) {
		uint64_t r = rng();
		node *x = &nodes[r % N];
		switch ((r >> 32) % 4) {
		case 0:
		case 1: /* push (small key range: many ties) */
			if (!x->in) {
				x->task.deadline = (exec_time)((r >> 40) % 64);
				x->order = order++;
				x->in = true;
				exec_timer_heap_push(&h, &x->task);
				in++;
			}
			break;
		case 2: { /* pop */
			node *want = ref_min(nodes, N);
			exec_task *t = exec_timer_heap_pop(&h);
			if (!want) {
				assert_null(t);
				break;
			}
			assert_ptr_equal(t, &want->task);
			want->in = false;
			in--;
			break;
		}
		case 3: /* remove, present or not */
			assert_int_equal(exec_timer_heap_remove(&h, &x->task), x->in);
			if (x->in) {
				x->in = false;
				in--;
			}
			assert_false(exec_timer_heap_contains(&x->task));
			break;
		}
		assert_int_equal(h.count, in);
		node *m = ref_min(nodes, N);
		assert_ptr_equal(exec_timer_heap_top(&h), m ? &m->task : NULL);
	}
	free(nodes);
}

static int cmp_node(const void *a, const void *b)
{
	const node *x = *(node *const *)a, *y = *(node *const *)b;
	if (x->task.deadline != y->task.deadline)
		return x->task.deadline < y->task.deadline ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* 100,000 entries: push all, remove a random third, pop the rest; the pops
 * come out exactly in sorted (deadline, insertion) order. */
static void hundred_thousand(void **state)
{
	enum { N = 100000 };
	node *nodes = calloc(N, sizeof *nodes);
	node **sorted = calloc(N, sizeof *sorted);
	assert_non_null(nodes);
	assert_non_null(sorted);
	exec_timer_heap h;
	exec_timer_heap_init(&h);
	for (size_t i = 0; i < N; i++) {
		nodes[i].task.deadline = (exec_time)(rng() % 50000) - 1000;
		nodes[i].order = i;
		nodes[i].in = true;
		exec_timer_heap_push(&h, &nodes[i].task);
	}
	/* Pop a few first so the heap has real structure, then remove. */
	for (size_t i = 0; i < N; i++)
		sorted[i] = &nodes[i];
	qsort(sorted, N, sizeof *sorted, cmp_node);
	size_t next = 0;
	for (int i = 0; i < 100; i++) {
		exec_task *t = exec_timer_heap_pop(&h);
		assert_ptr_equal(t, &sorted[next]->task);
		sorted[next++]->in = false;
	}
	size_t removed = 0;
	for (size_t i = 0; i < N / 3; i++) {
		node *x = &nodes[rng() % N];
		bool was = x->in;
		assert_int_equal(exec_timer_heap_remove(&h, &x->task), was);
		x->in = false;
		removed += was;
	}
	assert_int_equal(h.count, N - 100 - removed);
	size_t popped = 0;
	for (; next < N; next++) {
		if (!sorted[next]->in)
			continue;
		exec_task *t = exec_timer_heap_pop(&h);
		assert_ptr_equal(t, &sorted[next]->task);
		popped++;
	}
	assert_int_equal(popped, N - 100 - removed);
	assert_null(exec_timer_heap_pop(&h));
	assert_int_equal(h.count, 0);
	free(sorted);
	free(nodes);
}

static void reinsert_after_remove(void **state)
{
	exec_timer_heap h;
	exec_timer_heap_init(&h);
	node a = {0}, b = {0}, c = {0};
	a.task.deadline = b.task.deadline = c.task.deadline = 1;
	exec_timer_heap_push(&h, &a.task);
	exec_timer_heap_push(&h, &b.task);
	exec_timer_heap_push(&h, &c.task);
	assert_true(exec_timer_heap_remove(&h, &a.task));
	exec_timer_heap_push(&h, &a.task); /* now last among equals */
	assert_ptr_equal(exec_timer_heap_pop(&h), &b.task);
	assert_ptr_equal(exec_timer_heap_pop(&h), &c.task);
	assert_ptr_equal(exec_timer_heap_pop(&h), &a.task);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_heap),
		cmocka_unit_test(equal_deadlines_are_fifo),
		cmocka_unit_test(random_against_reference),
		cmocka_unit_test(hundred_thousand),
		cmocka_unit_test(reinsert_after_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
