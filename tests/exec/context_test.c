/* tests for exec/context.h (the raw switch, no sanitizer annotations:
 * the stacks here are plain malloc'd arrays that ASan treats as heap, and
 * the tests only run short non-instrumented-sensitive code on them). */
/* CEXEC_LINK: m */
#include "cexec_test.h"
#include "exec/context.h"

#include <fenv.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define CTX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTX_ASAN 1
#endif
#endif
#ifdef CTX_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

typedef struct pingpong {
	exec_context main, co;
	int64_t counter;
	void *stack;
	size_t size;
	const void *main_bottom;
	size_t main_size;
} pingpong;

/* ASan must hear about each switch, or it reports the other stack's
 * frames as overflows. */
static void *jump(pingpong *p, exec_context *from, exec_context to, void *arg,
		  const void *bottom, size_t size, int to_fiber)
{
#ifdef CTX_ASAN
	void *fake = NULL;
	__sanitizer_start_switch_fiber(&fake, bottom, size);
	void *r = exec_context_jump(from, to, arg);
	if (to_fiber)
		__sanitizer_finish_switch_fiber(fake, NULL, NULL);
	else
		__sanitizer_finish_switch_fiber(fake, &p->main_bottom, &p->main_size);
	return r;
#else
	(void)p, (void)bottom, (void)size, (void)to_fiber;
	return exec_context_jump(from, to, arg);
#endif
}

static void counter_entry(void *arg)
{
	pingpong *p = arg;
#ifdef CTX_ASAN
	__sanitizer_finish_switch_fiber(NULL, &p->main_bottom, &p->main_size);
#endif
	for (;;) {
		p->counter++;
		/* The value passed back is the counter: checks arg passing. */
		intptr_t got = (intptr_t)jump(p, &p->co, p->main, (void *)(intptr_t)p->counter,
					      p->main_bottom, p->main_size, 0);
		assert_int_equal(got, p->counter * 10);
	}
}

static void ping_pong(void **state)
{
	pingpong p = {0};
	p.size = 64 * 1024;
	p.stack = malloc(p.size);
	p.co = exec_context_make(p.stack, p.size, counter_entry);
	/* The first jump's arg is the entry's argument. */
	intptr_t got = (intptr_t)jump(&p, &p.main, p.co, &p, p.stack, p.size, 1);
	assert_int_equal(got, 1);
	for (int i = 1; i < 1000; i++) {
		got = (intptr_t)jump(&p, &p.main, p.co, (void *)(intptr_t)(i * 10), p.stack,
				     p.size, 1);
		assert_int_equal(got, i + 1);
	}
	assert_int_equal(p.counter, 1000);
	free(p.stack);
}

/* Callee-saved registers and the FP control words survive a switch. */
typedef struct fpstate {
	exec_context main, co;
	void *stack;
	size_t size;
	int round_inside;
	const void *main_bottom;
	size_t main_size;
} fpstate;

static void fp_entry(void *arg)
{
	fpstate *f = arg;
#ifdef CTX_ASAN
	__sanitizer_finish_switch_fiber(NULL, &f->main_bottom, &f->main_size);
#endif
	f->round_inside = fegetround();
	fesetround(FE_UPWARD); /* must not leak into main */
	for (;;) {
#ifdef CTX_ASAN
		void *fake = NULL;
		__sanitizer_start_switch_fiber(&fake, f->main_bottom, f->main_size);
		exec_context_jump(&f->co, f->main, NULL);
		__sanitizer_finish_switch_fiber(fake, &f->main_bottom, &f->main_size);
#else
		exec_context_jump(&f->co, f->main, NULL);
#endif
		f->round_inside = fegetround();
	}
}

static void fp_control_words(void **state)
{
	fpstate f = {0};
	f.size = 64 * 1024;
	f.stack = malloc(f.size);
	f.co = exec_context_make(f.stack, f.size, fp_entry);
	fesetround(FE_TOWARDZERO);
	volatile double keep = 1.5; /* lives across the switch */
	jump((pingpong *)NULL, &f.main, f.co, &f, f.stack, f.size, 1);
	/* A fresh context starts with the default rounding... */
	assert_int_equal(f.round_inside, FE_TONEAREST);
	/* ...and its change stayed on its side. */
	assert_int_equal(fegetround(), FE_TOWARDZERO);
	jump((pingpong *)NULL, &f.main, f.co, NULL, f.stack, f.size, 1);
	assert_int_equal(f.round_inside, FE_UPWARD);
	assert_int_equal(fegetround(), FE_TOWARDZERO);
	fesetround(FE_TONEAREST);
	assert_true(keep == 1.5);
	free(f.stack);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ping_pong),
		cmocka_unit_test(fp_control_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
