#include "exec/timer_heap.h"

/* Node links in sched_private: [0] first child, [1] next sibling, [2] the
 * node that points at this one (parent if first child, else left sibling),
 * [3] insertion sequence number + 1 (0 when not in a heap). */
#define CHILD(t) ((t)->sched_private[0].p)
#define NEXT(t) ((t)->sched_private[1].p)
#define PREV(t) ((t)->sched_private[2].p)
#define SEQ(t) ((t)->sched_private[3].u)
#define AS_TASK(p) ((exec_task *)(p))

static bool before(const exec_task *a, const exec_task *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && SEQ(a) < SEQ(b));
}

/* Links two roots; returns the new root. */
static exec_task *meld(exec_task *a, exec_task *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (before(b, a)) {
		exec_task *t = a;
		a = b;
		b = t;
	}
	NEXT(b) = CHILD(a);
	if (CHILD(a))
		PREV(AS_TASK(CHILD(a))) = b;
	PREV(b) = a;
	CHILD(a) = b;
	NEXT(a) = NULL;
	PREV(a) = NULL;
	return a;
}

/* Two-pass pairing of a sibling list, iteratively (no recursion depth). */
static exec_task *merge_pairs(exec_task *first)
{
	if (!first)
		return NULL;
	exec_task *paired = NULL; /* stack of pair roots via NEXT */
	while (first) {
		exec_task *a = first, *b = AS_TASK(NEXT(a));
		first = b ? AS_TASK(NEXT(b)) : NULL;
		NEXT(a) = NULL;
		PREV(a) = NULL;
		if (b) {
			NEXT(b) = NULL;
			PREV(b) = NULL;
		}
		exec_task *m = meld(a, b);
		NEXT(m) = paired;
		paired = m;
	}
	exec_task *root = NULL;
	while (paired) {
		exec_task *m = paired;
		paired = AS_TASK(NEXT(m));
		NEXT(m) = NULL;
		root = meld(root, m);
	}
	return root;
}

void exec_timer_heap_init(exec_timer_heap *h)
{
	h->root = NULL;
	h->count = 0;
	h->seq = 0;
}

void exec_timer_heap_push(exec_timer_heap *h, exec_task *t)
{
	CHILD(t) = NEXT(t) = PREV(t) = NULL;
	SEQ(t) = ++h->seq;
	h->root = meld(h->root, t);
	h->count++;
}

exec_task *exec_timer_heap_pop(exec_timer_heap *h)
{
	exec_task *t = h->root;
	if (!t)
		return NULL;
	h->root = merge_pairs(AS_TASK(CHILD(t)));
	CHILD(t) = NEXT(t) = PREV(t) = NULL;
	SEQ(t) = 0;
	h->count--;
	return t;
}

bool exec_timer_heap_contains(const exec_task *t)
{
	return t->sched_private[3].u != 0;
}

bool exec_timer_heap_remove(exec_timer_heap *h, exec_task *t)
{
	if (!exec_timer_heap_contains(t))
		return false;
	if (t == h->root) {
		exec_timer_heap_pop(h);
		return true;
	}
	/* Unlink t from its parent's child list, then meld its subtree back. */
	exec_task *p = AS_TASK(PREV(t));
	if (CHILD(p) == t)
		CHILD(p) = NEXT(t);
	else
		NEXT(p) = NEXT(t);
	if (NEXT(t))
		PREV(AS_TASK(NEXT(t))) = p;
	NEXT(t) = PREV(t) = NULL;
	exec_task *sub = merge_pairs(AS_TASK(CHILD(t)));
	CHILD(t) = NULL;
	SEQ(t) = 0;
	h->root = meld(h->root, sub);
	h->count--;
	return true;
}
