/* exec/cpu_relax.h - the spin-wait hint (internal to the library): tells
 * the CPU that this is a busy-wait loop (x86 PAUSE, AArch64 YIELD), which
 * saves power and yields the core to a hyperthread sibling. */
#ifndef EXEC_CPU_RELAX_H
#define EXEC_CPU_RELAX_H

static inline void exec_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
