/*
 * kiln's setjmp/longjmp helper for the JIT trap handler
 * (see runtime/src/traphandlers/mod.rs).
 *
 * Only C can express "call a function; if a trap happens anywhere inside,
 * come back here": Rust has no sound setjmp. The contract that makes the jump
 * sound is kept by the Rust side: the only frames between kiln_setjmp_call
 * and the faulting instruction are this helper's, an `extern "C"` trampoline
 * owning nothing, and JIT code.
 *
 * __builtin_setjmp/__builtin_longjmp (GCC and Clang) save and restore only
 * the frame pointer, stack pointer and resume address -- no signal mask
 * (the handler is installed with SA_NODEFER, so the mask does not change
 * when the handler runs) and no system call, which keeps kiln_longjmp
 * async-signal-safe.
 */

/* Calls f(data). Returns 1 when f returned normally, 0 when kiln_longjmp
 * was called with the buffer published in *jmpbuf_slot. The slot holds the
 * buffer only while f runs; its previous value is restored on both paths. */
int kiln_setjmp_call(void (*f)(void *), void *data, void **jmpbuf_slot) {
    void *buf[5];
    /* volatile: values live across the setjmp must be reloaded from memory
     * after a longjmp, not trusted in registers. */
    void **volatile slot = jmpbuf_slot;
    void *volatile prev = *jmpbuf_slot;
    if (__builtin_setjmp(buf) != 0) {
        *slot = prev;
        return 0;
    }
    *slot = (void *)buf;
    f(data);
    *slot = prev;
    return 1;
}

/* Jumps back into the kiln_setjmp_call that published jmpbuf. Never returns. */
void kiln_longjmp(void *jmpbuf) {
    __builtin_longjmp((void **)jmpbuf, 1);
}

/* Makes freshly written code visible to instruction fetch (a no-op on
 * x86_64; cache maintenance on aarch64). */
void kiln_flush_icache(void *start, void *end) {
    __builtin___clear_cache((char *)start, (char *)end);
}
