/* exec/context.h - the raw context switch under fibers and generators.
 *
 * A context is an opaque handle to a suspended execution: a stack pointer
 * on x86-64 and AArch64 (the callee-saved registers and the floating-point
 * control words are pushed on the suspended stack, exec/context_*.S), or a
 * ucontext_t on other targets (exec/context.c; define
 * CEXEC_CONTEXT_UCONTEXT to force it anywhere).
 *
 * These functions know nothing about sanitizers or schedulers: exec/fiber.c
 * wraps them with the AddressSanitizer / ThreadSanitizer annotations. Use
 * them directly only for benchmarks and tests of the switch itself. */
#ifndef EXEC_CONTEXT_H
#define EXEC_CONTEXT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *exec_context;

/* The function a fresh context starts in. It receives the arg of the first
 * jump to it and must never return (it jumps away for the last time);
 * returning aborts the process. */
typedef void (*exec_context_fn)(void *arg);

/* Prepares a context that will run fn on the stack [stack_base,
 * stack_base + size) (the stack grows down from the top). Writes nothing
 * outside the top 256 bytes. Returns the context to jump to. */
exec_context exec_context_make(void *stack_base, size_t size, exec_context_fn fn);

/* Suspends the caller: stores its context into *from, resumes to, and
 * passes arg: to the fresh fn as its argument, or to a suspended jump as
 * its return value. Returns the arg of the jump that resumes the caller.
 * from and to must differ; to is consumed (jumping twice to one saved
 * context is undefined). */
void *exec_context_jump(exec_context *from, exec_context to, void *arg);

#ifdef __cplusplus
}
#endif
#endif
