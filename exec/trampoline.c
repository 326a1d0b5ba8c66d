#include "exec/trampoline.h"

#include <stddef.h>

static _Thread_local struct {
	unsigned depth;
	exec_task *head, *tail;
} tramp;

unsigned exec_trampoline_depth(void)
{
	return tramp.depth;
}

void exec_trampoline_run(exec_task *t)
{
	if (tramp.depth >= EXEC_TRAMPOLINE_DEPTH) {
		t->next = NULL;
		if (tramp.tail)
			tramp.tail->next = t;
		else
			tramp.head = t;
		tramp.tail = t;
		return;
	}
	tramp.depth++;
	t->fn(t, 0);
	if (tramp.depth == 1) {
		/* Outermost frame: run what deeper frames deferred. Each task
		 * runs at depth 1 again, so it may itself defer more. */
		while (tramp.head) {
			exec_task *next = tramp.head;
			tramp.head = next->next;
			if (!tramp.head)
				tramp.tail = NULL;
			next->fn(next, 0);
		}
	}
	tramp.depth--;
}
