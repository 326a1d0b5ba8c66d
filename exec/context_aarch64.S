/* exec/context_aarch64.S - context switch for AArch64 (AAPCS64).
 *
 * Saved frame, from the saved stack pointer upwards (176 bytes):
 *   0  x19 x20 ... x28 (72 bytes, with 8 bytes of x28's pair slot)
 *   80 x29 (frame pointer)  88 x30 (where to continue)
 *   96 d8 ... d15           160 FPCR
 * The jump ends with br x30 (an indirect branch) rather than ret, so the
 * return-address predictor is not trained on stack switches. */
#if defined(__aarch64__) && !defined(CEXEC_CONTEXT_UCONTEXT)

	.text

/* void *exec_context_jump(exec_context *from x0, exec_context to x1,
 *                         void *arg x2) */
	.globl	exec_context_jump
	.type	exec_context_jump, %function
	.p2align 4
exec_context_jump:
	.cfi_startproc
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]

	mov	sp, x1
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	add	sp, sp, #176
	/* arg: the return value of a resumed jump and the argument of a
	 * fresh context's entry. */
	mov	x0, x2
	br	x30
	.cfi_endproc
	.size	exec_context_jump, .-exec_context_jump

/* First code of a fresh context: x19 holds fn, x0 the arg. */
	.globl	exec_context_entry_
	.hidden	exec_context_entry_
	.type	exec_context_entry_, %function
	.p2align 4
exec_context_entry_:
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0
	blr	x19
	bl	abort
	brk	#0
	.cfi_endproc
	.size	exec_context_entry_, .-exec_context_entry_

/* exec_context exec_context_make(void *base x0, size_t size x1, fn x2) */
	.globl	exec_context_make
	.type	exec_context_make, %function
	.p2align 4
exec_context_make:
	.cfi_startproc
	add	x0, x0, x1
	and	x0, x0, #~15
	sub	x0, x0, #192          /* 16 spare bytes on top, then the frame */
	mov	x3, x0
	mov	x4, #0
	mov	x5, #24
1:	str	x4, [x3], #8          /* zero the 176-byte frame and the 16 spare bytes */
	subs	x5, x5, #1
	b.ne	1b
	str	x2, [x0, #0]          /* x19 = fn */
	adr	x3, exec_context_entry_
	str	x3, [x0, #88]         /* x30 = entry */
	mrs	x4, fpcr
	str	x4, [x0, #160]
	ret
	.cfi_endproc
	.size	exec_context_make, .-exec_context_make

#endif

	.section .note.GNU-stack,"",%progbits
