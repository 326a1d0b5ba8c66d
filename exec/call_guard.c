#include "exec/call_guard.h"

#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <stdlib.h>

_Thread_local exec_call_guard_slot *exec_call_guard_mine
	__attribute__((tls_model("initial-exec")));

AO_t exec_call_guard_unslotted;

/* Every slot ever allocated (a Treiber stack; slots are never freed). */
static AO_t all_slots;
static pthread_key_t slot_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;

/* Thread exit: the slot goes to the next thread that needs one. */
static void slot_release(void *p)
{
	exec_call_guard_slot *s = p;
	exec_call_guard_mine = NULL;
	AO_store_release(&s->owned, 0);
}

static void key_create(void)
{
	key_ok = pthread_key_create(&slot_key, slot_release) == 0;
}

exec_call_guard_slot *exec_call_guard_slot_get(void)
{
	pthread_once(&key_once, key_create);
	if (!key_ok)
		return NULL;
	exec_call_guard_slot *s;
	for (s = (exec_call_guard_slot *)AO_load_acquire(&all_slots); s; s = s->next)
		if (!AO_load(&s->owned) && AO_compare_and_swap_full(&s->owned, 0, 1))
			break;
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return NULL;
		s->owned = 1;
		AO_t head;
		do {
			head = AO_load(&all_slots);
			s->next = (exec_call_guard_slot *)head;
		} while (!AO_compare_and_swap_full(&all_slots, head, (AO_t)s));
	}
	if (pthread_setspecific(slot_key, s) != 0) {
		AO_store_release(&s->owned, 0);
		return NULL;
	}
	exec_call_guard_mine = s;
	return s;
}

void exec_call_guard_wait(const void *obj)
{
	for (;;) {
		bool inside = AO_load_acquire(&exec_call_guard_unslotted) != 0;
		for (exec_call_guard_slot *s = (exec_call_guard_slot *)AO_load_acquire(&all_slots);
		     s && !inside; s = s->next)
			inside = AO_load_acquire(&s->obj) == (AO_t)obj;
		if (!inside)
			return;
		sched_yield();
	}
}
