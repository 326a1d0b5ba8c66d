/* exec/context.c - the ucontext fallback of exec/context.h, for targets
 * without a hand-written switch (or with CEXEC_CONTEXT_UCONTEXT defined).
 * A context is a pointer to a small frame holding a ucontext_t: for a fresh
 * context it sits at the top of the new stack; for a suspended jump it is a
 * local of that jump, alive exactly as long as the jump is suspended. */
#include "exec/context.h"

#if (!defined(__x86_64__) && !defined(__aarch64__)) || defined(CEXEC_CONTEXT_UCONTEXT)

#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

typedef struct uc_frame {
	ucontext_t uc;
	void *arg;              /* set by the jump that resumes this frame */
	exec_context_fn fn;     /* fresh contexts only */
} uc_frame;

/* makecontext passes only ints: the fresh context finds its frame here,
 * set by the jump just before swapcontext (same thread). */
static _Thread_local uc_frame *uc_booting;

static void uc_entry(void)
{
	uc_frame *f = uc_booting;
	f->fn(f->arg);
	abort();
}

exec_context exec_context_make(void *stack_base, size_t size, exec_context_fn fn)
{
	uintptr_t top = ((uintptr_t)stack_base + size) & ~(uintptr_t)63;
	uc_frame *f = (uc_frame *)(top - ((sizeof(uc_frame) + 63) & ~(size_t)63));
	if (getcontext(&f->uc) != 0)
		abort();
	f->uc.uc_stack.ss_sp = stack_base;
	f->uc.uc_stack.ss_size = (size_t)((uintptr_t)f - (uintptr_t)stack_base);
	f->uc.uc_link = NULL;
	f->fn = fn;
	makecontext(&f->uc, uc_entry, 0);
	return f;
}

void *exec_context_jump(exec_context *from, exec_context to, void *arg)
{
	uc_frame self;
	uc_frame *t = (uc_frame *)to;
	self.fn = NULL;
	*from = &self;
	t->arg = arg;
	uc_booting = t;
	if (swapcontext(&self.uc, &t->uc) != 0)
		abort();
	return self.arg;
}

#else
/* The assembly in exec/context_<arch>.S provides both functions. */
typedef int exec_context_c_unused_;
#endif
