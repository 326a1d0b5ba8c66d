/* tests/cross/context_check.c - exec/context_*.S checked on its own, with
 * no library and no test framework, so that it can be cross-compiled for a
 * target this machine does not run natively and executed under qemu-user
 * (tests/cross/CMakeLists.txt). Also built and run natively.
 *
 * Checks, with exit status 0 = pass, 1 = fail (the failed check printed):
 *   - a fresh context runs its function with the first jump's arg;
 *   - a ping-pong of many jumps passes each arg back and forth;
 *   - every callee-saved register (x19-x28 and d8-d15 on AArch64, rbx and
 *     r12-r15 on x86-64; the frame pointer is the compiler's) holds its
 *     value again when a side is resumed, with the other side having
 *     loaded different values into all of them meanwhile; and values a
 *     compiler keeps live across jumps come back intact;
 *   - the floating-point control word is per context: a rounding mode set
 *     inside the fiber does not leak out, and the caller's does not leak in;
 *   - the fiber's stack pointer is 16-byte aligned, as both ABIs require. */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/context.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "context_check: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			exit(1);                                               \
		}                                                              \
	} while (0)

enum { ROUNDS = 100000, STACK = 64 * 1024 };

static exec_context main_ctx, fiber_ctx;
static int round_seen_inside = -1;
static uintptr_t fiber_sp;

/* Values the compiler cannot fold; volatile sources keep them live. */
static volatile int64_t seed_i = 3;
static volatile double seed_d = 1.25;

/* Every jump goes through jump_checked: it loads each callee-saved
 * register with a value derived from pattern (distinct per side), jumps,
 * and when resumed counts the registers that do not hold their value any
 * more. The two sides use different patterns, so a register the switch
 * fails to save or restore shows up as the other side's value. */
static unsigned mismatches;

#if defined(__aarch64__)
static void *jump_checked(exec_context *from, exec_context to, void *arg, uint64_t pattern)
{
	register uint64_t x0 __asm__("x0") = (uint64_t)(uintptr_t)from;
	register uint64_t x1 __asm__("x1") = (uint64_t)(uintptr_t)to;
	register uint64_t x2 __asm__("x2") = (uint64_t)(uintptr_t)arg;
	register uint64_t x3 __asm__("x3") = pattern;
	register uint64_t x4 __asm__("x4");
	__asm__ volatile(
		"mov x19, x3\n\tadd x20, x3, #1\n\tadd x21, x3, #2\n\t"
		"add x22, x3, #3\n\tadd x23, x3, #4\n\tadd x24, x3, #5\n\t"
		"add x25, x3, #6\n\tadd x26, x3, #7\n\tadd x27, x3, #8\n\t"
		"add x28, x3, #9\n\t"
		"fmov d8, x20\n\tfmov d9, x21\n\tfmov d10, x22\n\tfmov d11, x23\n\t"
		"fmov d12, x24\n\tfmov d13, x25\n\tfmov d14, x26\n\tfmov d15, x27\n\t"
		"str x3, [sp, #-16]!\n\t"
		"bl exec_context_jump\n\t"
		"ldr x3, [sp], #16\n\t"
		"mov x4, #0\n\t"
		"cmp x19, x3\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #1\n\tcmp x20, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d8\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #2\n\tcmp x21, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d9\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #3\n\tcmp x22, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d10\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #4\n\tcmp x23, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d11\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #5\n\tcmp x24, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d12\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #6\n\tcmp x25, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d13\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #7\n\tcmp x26, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d14\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #8\n\tcmp x27, x5\n\tcinc x4, x4, ne\n\t"
		"fmov x6, d15\n\tcmp x6, x5\n\tcinc x4, x4, ne\n\t"
		"add x5, x3, #9\n\tcmp x28, x5\n\tcinc x4, x4, ne\n\t"
		: "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "=r"(x4)
		:
		: "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
		  "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23",
		  "x24", "x25", "x26", "x27", "x28", "x30", "v0", "v1", "v2", "v3",
		  "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13",
		  "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22",
		  "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
		  "cc", "memory");
	mismatches += (unsigned)x4;
	return (void *)(uintptr_t)x0;
}
#elif defined(__x86_64__)
static void *jump_checked(exec_context *from, exec_context to, void *arg, uint64_t pattern)
{
	void *ret;
	uint64_t bad;
	/* Below the red zone, 16-aligned at the call; the old rsp is kept on
	 * the new stack (rbx and r12-r15 carry the pattern). */
	__asm__ volatile(
		"movq %%rsp, %%rax\n\t"
		"subq $136, %%rsp\n\t"
		"andq $-16, %%rsp\n\t"
		"pushq %%rax\n\t"
		"pushq %%rcx\n\t"
		"movq %%rcx, %%rbx\n\t"
		"leaq 1(%%rcx), %%r12\n\tleaq 2(%%rcx), %%r13\n\t"
		"leaq 3(%%rcx), %%r14\n\tleaq 4(%%rcx), %%r15\n\t"
		"call exec_context_jump\n\t"
		"popq %%rcx\n\t"
		"popq %%rsp\n\t"
		"xorl %%r8d, %%r8d\n\t"
		"cmpq %%rcx, %%rbx\n\tsetne %%r9b\n\tmovzbl %%r9b, %%r9d\n\taddq %%r9, %%r8\n\t"
		"leaq 1(%%rcx), %%r10\n\tcmpq %%r10, %%r12\n\tsetne %%r9b\n\taddq %%r9, %%r8\n\t"
		"leaq 2(%%rcx), %%r10\n\tcmpq %%r10, %%r13\n\tsetne %%r9b\n\taddq %%r9, %%r8\n\t"
		"leaq 3(%%rcx), %%r10\n\tcmpq %%r10, %%r14\n\tsetne %%r9b\n\taddq %%r9, %%r8\n\t"
		"leaq 4(%%rcx), %%r10\n\tcmpq %%r10, %%r15\n\tsetne %%r9b\n\taddq %%r9, %%r8\n\t"
		"movq %%r8, %%rcx\n\t"
		: "=a"(ret), "+D"(from), "+S"(to), "+d"(arg), "+c"(pattern)
		:
		: "rbx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		  "xmm15", "cc", "memory");
	bad = pattern;
	mismatches += (unsigned)bad;
	return ret;
}
#else
#error "tests/cross/context_check.c: x86-64 or AArch64 only"
#endif

/* The rounding mode that double arithmetic actually uses (SSE's MXCSR on
 * x86-64, where fegetround reads the x87 control word instead; FPCR on
 * AArch64): 1/10 is 0x3fb999999999999|1001... so nearest rounds its
 * magnitude up (to ...9a) and toward-zero down (...99); the signs tell
 * upward from downward. */
static volatile double one = 1.0, ten = 10.0;

static int arithmetic_rounding(void)
{
	double pos = one / ten, neg = -one / ten;
	uint64_t p, n;
	memcpy(&p, &pos, sizeof p);
	memcpy(&n, &neg, sizeof n);
	int pos_up = (p & 0xf) == 0xa, neg_up = (n & 0xf) == 0xa; /* magnitudes */
	if (pos_up && neg_up)
		return FE_TONEAREST;
	if (!pos_up && !neg_up)
		return FE_TOWARDZERO;
	return pos_up ? FE_UPWARD : FE_DOWNWARD;
}

#define ROUNDING_IS(mode) (fegetround() == (mode) && arithmetic_rounding() == (mode))

#define MAIN_PATTERN 0x1111000000000000ull
#define FIBER_PATTERN 0x2222000000000000ull

static void *to_main(void *arg)
{
	return jump_checked(&fiber_ctx, main_ctx, arg, FIBER_PATTERN);
}

static void *to_fiber(void *arg)
{
	return jump_checked(&main_ctx, fiber_ctx, arg, MAIN_PATTERN);
}

static __attribute__((noinline)) int64_t busy_integers(int64_t k)
{
	int64_t a = seed_i + k, b = a * 3, c = b ^ 0x55, d = c + a, e = d * 7,
		f = e - b, g = f + 11, h = g ^ a, i = h + c, j = i * 5;
	/* The jump's result (0) is unknown to the compiler, so all ten stay
	 * live across it rather than being summed before. */
	int64_t r = (intptr_t)to_main((void *)(intptr_t)-1);
	return (a ^ r) + (b ^ r) + (c ^ r) + (d ^ r) + (e ^ r) + (f ^ r) + (g ^ r) +
	       (h ^ r) + (i ^ r) + (j ^ r);
}

static __attribute__((noinline)) double busy_doubles(double k)
{
	double a = seed_d + k, b = a * 3, c = b + 0.5, d = c * a, e = d - b,
	       f = e + 2.0, g = f * 0.75, h = g + a, i = h - c;
	double r = (double)(intptr_t)to_main((void *)(intptr_t)-2);
	return (a + r) + (b + r) + (c + r) + (d + r) + (e + r) + (f + r) + (g + r) +
	       (h + r) + (i + r);
}

static int64_t expect_integers(int64_t k)
{
	int64_t a = seed_i + k, b = a * 3, c = b ^ 0x55, d = c + a, e = d * 7,
		f = e - b, g = f + 11, h = g ^ a, i = h + c, j = i * 5;
	return a + b + c + d + e + f + g + h + i + j;
}

/* Same order of additions as busy_doubles with r = 0. */
static double expect_doubles(double k)
{
	double a = seed_d + k, b = a * 3, c = b + 0.5, d = c * a, e = d - b,
	       f = e + 2.0, g = f * 0.75, h = g + a, i = h - c, r = 0;
	return (a + r) + (b + r) + (c + r) + (d + r) + (e + r) + (f + r) + (g + r) +
	       (h + r) + (i + r);
}

static void fiber_main(void *arg)
{
	/* Built with -fno-omit-frame-pointer: the frame address is the stack
	 * pointer at entry less the return address on x86-64 (16-aligned when
	 * the stack is), the frame record at sp on AArch64. */
	fiber_sp = (uintptr_t)__builtin_frame_address(0);
	CHECK(fiber_sp % 16 == 0);
	CHECK((intptr_t)arg == 42);
	/* Ping-pong: each jump brings back the previous number plus one. */
	intptr_t n = (intptr_t)to_main((void *)(intptr_t)1);
	for (int r = 1; r < ROUNDS; r++) {
		CHECK(n == 2 * r);
		n = (intptr_t)to_main((void *)(n + 1));
	}
	/* Live values across jumps, in the fiber. */
	CHECK(busy_integers(n) == expect_integers(n));
	CHECK(busy_doubles((double)n) == expect_doubles((double)n));
	/* Rounding mode: the caller set FE_TOWARDZERO; the fiber has its own. */
	round_seen_inside = arithmetic_rounding() == fegetround() ? fegetround() : -2;
	fesetround(FE_UPWARD);
	to_main((void *)(intptr_t)-3);
	CHECK(ROUNDING_IS(FE_UPWARD)); /* the caller's change did not leak in */
	to_main((void *)(intptr_t)-4);
	abort(); /* never resumed again */
}

static __attribute__((noinline)) int main_side(void)
{
	/* Values live across every jump on the main side as well. */
	int64_t a = seed_i, b = a * 9, c = b + 17, d = c ^ 0x33, e = d * 2;
	double x = seed_d, y = x * 4, z = y - 0.5, w = z * x;
	intptr_t n = (intptr_t)to_fiber((void *)(intptr_t)42);
	for (int r = 1; r < ROUNDS; r++) {
		if (n != 2 * r - 1)
			return 10;
		n = (intptr_t)to_fiber((void *)(n + 1));
	}
	CHECK(n == 2 * ROUNDS - 1);
	CHECK((intptr_t)to_fiber((void *)(intptr_t)(n + 1)) == -1);
	CHECK((intptr_t)to_fiber(NULL) == -2);
	CHECK((intptr_t)to_fiber(NULL) == -3);
	CHECK(ROUNDING_IS(FE_TOWARDZERO)); /* the fiber's did not leak out */
	fesetround(FE_DOWNWARD);
	CHECK((intptr_t)to_fiber(NULL) == -4);
	CHECK(ROUNDING_IS(FE_DOWNWARD));
	fesetround(FE_TONEAREST);
	CHECK(a == seed_i && b == a * 9 && c == b + 17 && d == (c ^ 0x33) && e == d * 2);
	CHECK(x == seed_d && y == x * 4 && z == y - 0.5 && w == z * x);
	return 0;
}

int main(void)
{
	void *stack = malloc(STACK);
	CHECK(stack != NULL);
	fesetround(FE_TONEAREST);
	fiber_ctx = exec_context_make(stack, STACK, fiber_main);
	fesetround(FE_TOWARDZERO);
	int rc = main_side();
	CHECK(rc == 0);
	CHECK(mismatches == 0); /* every callee-saved register came back */
	CHECK(round_seen_inside == FE_TONEAREST); /* captured at make */
	/* A local in the fiber's first frame sits inside the stack. */
	CHECK(fiber_sp > (uintptr_t)stack && fiber_sp < (uintptr_t)stack + STACK);
	free(stack);
	printf("context_check: %d round trips, registers, rounding modes: ok\n", ROUNDS);
	return 0;
}
