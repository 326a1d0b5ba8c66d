/* exec/context_x86_64.S - context switch for x86-64 System V.
 *
 * Saved frame, from the saved stack pointer upwards:
 *   0   MXCSR (4 bytes) and the x87 control word (2 bytes)
 *   8   r12  16 r13  24 r14  32 r15  40 rbx  48 rbp
 *   56  the address to continue at
 * The jump returns by popping that address and jumping to it: an indirect
 * jmp instead of ret, because switching stacks defeats the return-stack
 * predictor and a mispredicted ret cost about three times the whole switch
 * on this machine. */
#if defined(__x86_64__) && !defined(CEXEC_CONTEXT_UCONTEXT)

	.text

/* void *exec_context_jump(exec_context *from rdi, exec_context to rsi,
 *                         void *arg rdx) */
	.globl	exec_context_jump
	.type	exec_context_jump, @function
	.p2align 4
exec_context_jump:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)

	movq	%rsp, (%rdi)
	movq	%rsi, %rsp

	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
	popq	%rbx
	popq	%rbp
	popq	%r8
	/* arg is both the return value of a resumed jump and the first
	 * argument of a fresh context's entry. */
	movq	%rdx, %rax
	movq	%rdx, %rdi
	jmp	*%r8
	.cfi_endproc
	.size	exec_context_jump, .-exec_context_jump

/* The first code a fresh context runs: r12 holds fn, rdi the arg, rsp is
 * 16-byte aligned. Calls fn; fn never returns. The CFI marks the return
 * address as undefined so debuggers end the backtrace here. */
	.globl	exec_context_entry_
	.hidden	exec_context_entry_
	.type	exec_context_entry_, @function
	.p2align 4
exec_context_entry_:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	callq	*%r12
	callq	abort@PLT
	ud2
	.cfi_endproc
	.size	exec_context_entry_, .-exec_context_entry_

/* exec_context exec_context_make(void *base rdi, size_t size rsi, fn rdx) */
	.globl	exec_context_make
	.type	exec_context_make, @function
	.p2align 4
exec_context_make:
	.cfi_startproc
	leaq	(%rdi, %rsi), %rax
	andq	$-16, %rax
	/* Leave 16 bytes at the top (a zero "return address" for the entry
	 * frame), then the 64-byte saved frame below them. */
	subq	$80, %rax
	movl	$0x1f80, (%rax)          /* MXCSR: all exceptions masked */
	movw	$0x037f, 4(%rax)         /* x87 CW: default */
	movq	%rdx, 8(%rax)            /* r12 = fn */
	movq	$0, 16(%rax)
	movq	$0, 24(%rax)
	movq	$0, 32(%rax)
	movq	$0, 40(%rax)
	movq	$0, 48(%rax)             /* rbp */
	leaq	exec_context_entry_(%rip), %rcx
	movq	%rcx, 56(%rax)
	movq	$0, 64(%rax)
	movq	$0, 72(%rax)
	ret
	.cfi_endproc
	.size	exec_context_make, .-exec_context_make

#endif

	.section .note.GNU-stack,"",%progbits
