/* examples/http/spares.c - see spares.h. */
#include "spares.h"

#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static void free_some(struct spares *s, size_t count)
{
	while (count-- > 0 && s->head) {
		void *b = s->head;
		s->head = *(void **)b;
		s->n--;
		free(b);
	}
}

/* Arms the trim timer one period from now. */
static void arm(struct spares *s)
{
	s->armed = exec_scheduler_submit_at(s->sched, &s->trim,
					    exec_scheduler_now(s->sched) + s->period) == 0;
}

static void trim_fired(exec_task *t, int status)
{
	struct spares *s = EXEC_CONTAINER_OF(t, struct spares, trim);
	s->armed = false;
	if (status != 0 || s->closed) {
		free_some(s, s->n);
		if (s->closed && s->on_closed)
			s->on_closed(s);
		return;
	}
	s->idle = s->taken ? 0 : s->idle + 1;
	s->taken = false;
	bool trimmed = false;
	if (s->idle > s->hold && s->n > 0) {
		free_some(s, (s->n + 1) / 2);
		trimmed = true;
	}
	if (s->n > 0) {
		arm(s);
		return;
	}
#if defined(__GLIBC__)
	/* The blocks sat in a loop thread's arena, freed one by one in no
	 * particular order: glibc returns such a heap's pages only when its
	 * top is free, so ask it to look at the whole heap once - only when
	 * trimming emptied the list, not when connections took every block
	 * (under load the walk would lock the arenas for nothing). */
	if (trimmed)
		malloc_trim(0);
#else
	(void)trimmed;
#endif
}

void spares_init(struct spares *s, exec_scheduler *sched, size_t size,
		 exec_time period_ns, unsigned hold, void (*on_closed)(struct spares *s))
{
	*s = (struct spares){.sched = sched,
			     .size = size,
			     .period = period_ns,
			     .hold = hold,
			     .on_closed = on_closed};
	s->trim.fn = trim_fired;
}

void *spares_take(struct spares *s)
{
	s->taken = true; /* demand, met from the list or not */
	void *b = s->head;
	if (!b)
		return malloc(s->size);
	s->head = *(void **)b;
	s->n--;
	return b;
}

void spares_give(struct spares *s, void *block)
{
	if (!block)
		return;
	if (!SPARES_KEPT || s->closed) {
		free(block);
		return;
	}
	if (!s->armed) {
		/* Without the timer nothing would ever shrink the list. A list
		 * that ran empty starts a fresh hold. */
		s->idle = 0;
		s->taken = false;
		arm(s);
		if (!s->armed) {
			free(block);
			return;
		}
	}
	*(void **)block = s->head;
	s->head = block;
	s->n++;
}

void spares_close(struct spares *s)
{
	s->closed = true;
	free_some(s, s->n);
	if (s->armed)
		exec_scheduler_cancel(s->sched, &s->trim); /* trim_fired: on_closed */
}

bool spares_busy(const struct spares *s)
{
	return !s->closed || s->armed;
}
