//! Turning hardware faults in native wasm code into traps (unix:
//! x86_64-linux and aarch64-linux read the faulting PC; other unix targets
//! build but never recognise a fault as a trap).
//!
//! Native code compiled by Cranelift reports most traps with a faulting
//! instruction: `ud2`/`udf` (SIGILL) for explicit traps and stack-overflow
//! checks, a load or store into a guard region (SIGSEGV/SIGBUS) for
//! out-of-bounds memory, `div` (SIGFPE on x86_64) for division by zero.
//! [`catch_traps`] runs native code so that such a fault comes back as
//! `Err(TrapInfo)` instead of killing the process.
//!
//! # Mechanism
//!
//! * [`init`] installs, once per process, one handler for SIGSEGV, SIGBUS,
//!   SIGILL and SIGFPE with `SA_SIGINFO | SA_ONSTACK | SA_NODEFER`, keeping
//!   the previous actions. `SA_NODEFER` keeps the signal unblocked while the
//!   handler runs, so jumping out of the handler (which does not restore a
//!   signal mask) leaves the thread's mask exactly as it was.
//! * Every thread that enters wasm gets (lazily) a 256 KiB alternate signal
//!   stack with a guard page below it, freed by a thread-local destructor at
//!   thread exit. The handler runs on it, so a fault caused by a native
//!   stack overflow still has a stack to run on.
//! * [`catch_traps`] pushes an *activation* on a thread-local linked list
//!   (nesting host → wasm → host → wasm pushes one per level) and calls the
//!   closure through a C helper (`helpers.c`, built with `cc`) that does
//!   `__builtin_setjmp` and publishes the jump buffer in the activation.
//! * The handler reads the faulting PC (and frame pointer) from the
//!   ucontext. The fault is **ours** only when the thread is inside
//!   `catch_traps` *and* the PC is an exact trap site in the code registry
//!   ([`crate::code_memory::lookup_trap`]); see [`trap_decision`] (and the
//!   signal was raised by the kernel for the instruction, not sent). Then it
//!   stores the [`TrapInfo`] in the innermost activation and
//!   `__builtin_longjmp`s back to the helper, which makes `catch_traps`
//!   return `Err`. Anything else is chained to the previous handler
//!   (its `SA_SIGINFO` function, its plain function, or — for `SIG_DFL` and
//!   `SIG_IGN` — the previous action is reinstated and the handler returns,
//!   so the faulting instruction re-executes and the default action kills
//!   the process with the right signal). A fault inside the handler itself
//!   (e.g. an overflow of the alternate stack, which hits the guard page)
//!   has a PC that is no trap site, so it is chained the same way and never
//!   recurses into trap handling.
//! * The handler is async-signal-safe: it reads a `const`-initialised,
//!   destructor-free thread-local (a plain TLS access, no lazy
//!   registration), performs the registry's lock-free, allocation-free
//!   lookup, writes a `Cell` in the activation and jumps; the chaining path
//!   only calls `sigaction` or the previous handler.
//!
//! Wasmtime 48 instead resumes at a landing pad in its Cranelift-generated
//! entry trampoline by rewriting the ucontext's pc/sp/fp, which needs no C
//! and can be expressed soundly; kiln can switch to that once the lead's
//! trampolines exist, keeping [`catch_traps`]'s interface.

use core::cell::{Cell, RefCell};
use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use core::ptr;
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use kiln_environ::TrapCode;

use crate::code_memory;

unsafe extern "C" {
    /// Calls `f(data)` after `__builtin_setjmp`, with the jump buffer's
    /// address stored in `*slot` while `f` runs; returns 1 if `f` returned,
    /// 0 if `kiln_longjmp` jumped back (see `helpers.c`).
    fn kiln_setjmp_call(f: extern "C" fn(*mut c_void), data: *mut c_void, slot: *mut *mut c_void) -> c_int;
    /// `__builtin_longjmp(buf, 1)`.
    fn kiln_longjmp(buf: *mut c_void) -> !;
}

/// A trap caught by [`catch_traps`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TrapInfo {
    /// The trap site's code from the registry.
    pub code: TrapCode,
    /// The faulting program counter (an exact trap site).
    pub pc: usize,
    /// The frame pointer at the fault (start of a backtrace walk), or 0 on
    /// architectures where it is not read.
    pub fp: usize,
    /// The stack pointer at the fault (0 where not read): every address
    /// from here up to the entry's stack pointer is mapped stack, which
    /// bounds a frame-pointer walk.
    pub sp: usize,
    /// `true` when [`unwind_to_entry`] (the `raise` builtin) requested the
    /// unwind: the failure is the store's pending error, `code` is
    /// meaningless and `pc` is 0.
    pub raised: bool,
}

/// Size of each thread's alternate signal stack.
pub const ALT_STACK_SIZE: usize = 256 * 1024;

/// One `catch_traps` call on this thread's stack.
struct Activation {
    /// The C helper's jump buffer while the closure runs, else null.
    jmpbuf: Cell<*mut c_void>,
    /// Written by the signal handler before it jumps.
    trap: Cell<Option<TrapInfo>>,
    /// The enclosing activation (or null).
    prev: *const Activation,
}

thread_local! {
    /// Innermost activation of this thread. `const`-initialised and without
    /// destructor: reading it is a plain TLS access, async-signal-safe.
    static CURRENT: Cell<*const Activation> = const { Cell::new(ptr::null()) };
    /// This thread's alternate signal stack, once installed.
    static ALT_STACK: RefCell<Option<AltStack>> = const { RefCell::new(None) };
    /// Whether this thread has a large enough alternate stack (ours or the
    /// embedder's): the per-entry fast path of [`ensure_alt_stack`].
    static ALT_STACK_READY: Cell<bool> = const { Cell::new(false) };
}

const SIGNALS: [c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The actions that were installed before ours, by index in [`SIGNALS`].
struct PrevActions(core::cell::UnsafeCell<[MaybeUninit<libc::sigaction>; 4]>);
// SAFETY: written only inside `INIT.call_once`, each entry before our
// handler is installed for its signal; read-only afterwards.
unsafe impl Sync for PrevActions {}
static PREV: PrevActions = PrevActions(core::cell::UnsafeCell::new([MaybeUninit::uninit(); 4]));
static INIT: Once = Once::new();

/// Installs the process-wide signal handlers (idempotent; [`catch_traps`]
/// calls it too). Panics if `sigaction` fails, which only happens for
/// invalid arguments.
pub fn init() {
    INIT.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: `PREV` is only written here, once, before our handler
            // for `sig` exists (the handler reads entry `i` only for `sig`).
            // `sigaction` with a null new action only reads the current one.
            let prev = unsafe { (*PREV.0.get())[i].as_mut_ptr() };
            // SAFETY: `prev` points to writable storage for a `sigaction`.
            let rc = unsafe { libc::sigaction(sig, ptr::null(), prev) };
            assert_eq!(rc, 0, "sigaction({sig}) query failed");
            // SAFETY: all-zero is a valid `sigaction` (empty mask, no
            // flags); the fields we need are set below.
            let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            // SAFETY: `sa_mask` is valid storage; `sigemptyset` initialises it.
            unsafe { libc::sigemptyset(&mut action.sa_mask) };
            // SAFETY: `handler` has the `SA_SIGINFO` signature and is
            // async-signal-safe (module documentation).
            let rc = unsafe { libc::sigaction(sig, &action, ptr::null_mut()) };
            assert_eq!(rc, 0, "sigaction({sig}) install failed");
        }
    });
}

/// Whether a fault at `pc` on the current thread is a wasm trap that
/// [`catch_traps`] would catch: the thread is inside `catch_traps` and `pc`
/// is an exact registered trap site. This is the handler's decision, usable
/// from ordinary code (tests). Async-signal-safe.
pub fn trap_decision(pc: usize) -> Option<TrapCode> {
    let act = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    if act.is_null() {
        return None;
    }
    // SAFETY: a non-null `CURRENT` points to an activation on this thread's
    // stack in a live `catch_traps` frame (it is reset before that returns).
    if unsafe { (*act).jmpbuf.get() }.is_null() {
        return None;
    }
    code_memory::lookup_trap(pc)
}

/// Reads the faulting PC and frame pointer from a signal's ucontext.
///
/// # Safety
/// `ctx` must be the third argument of an `SA_SIGINFO` handler.
#[allow(unused_variables)]
unsafe fn pc_fp(ctx: *mut c_void) -> (usize, usize, usize) {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        // SAFETY: on x86_64-linux the kernel passes a `ucontext_t`.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        let g = &uc.uc_mcontext.gregs;
        (g[libc::REG_RIP as usize] as usize, g[libc::REG_RBP as usize] as usize, g[libc::REG_RSP as usize] as usize)
    }
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    {
        // SAFETY: on aarch64-linux the kernel passes a `ucontext_t`.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        (uc.uc_mcontext.pc as usize, uc.uc_mcontext.regs[29] as usize, uc.uc_mcontext.sp as usize)
    }
    #[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
    {
        // Unsupported: no PC, so no fault is ever taken for a trap.
        (0, 0, 0)
    }
}

/// The signal handler for SIGSEGV, SIGBUS, SIGILL and SIGFPE.
extern "C" fn handler(signum: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: installed with `SA_SIGINFO`, so `ctx` is the ucontext.
    let (pc, fp, sp) = unsafe { pc_fp(ctx) };
    // Only faults the kernel raised for the current instruction
    // (`si_code > 0`); a signal sent with kill/tgkill/sigqueue (`si_code <=
    // 0`) whose PC happens to be a trap site is not a trap.
    // SAFETY: with `SA_SIGINFO`, `info` points to the signal's siginfo.
    let from_kernel = !info.is_null() && unsafe { (*info).si_code } > 0;
    if let Some(code) = trap_decision(pc).filter(|_| from_kernel) {
        let act = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
        // SAFETY: `trap_decision` returned `Some`, so `act` is this
        // thread's live innermost activation with a published jump buffer.
        // The frames between its setjmp and this handler are the C helper,
        // the `extern "C"` closure trampoline and native wasm code, which
        // own nothing (the `catch_traps` contract), so jumping over them
        // skips no destructor. The signal mask is unchanged (SA_NODEFER,
        // empty sa_mask), and the kernel leaves the alternate stack as soon
        // as the stack pointer is outside it.
        unsafe {
            (*act).trap.set(Some(TrapInfo { code, pc, fp, sp, raised: false }));
            kiln_longjmp((*act).jmpbuf.get())
        }
    }
    // SAFETY: same arguments as we received, for the same signal.
    unsafe { chain(signum, info, ctx) }
}

/// Forwards a fault that is not ours to the previously installed action.
///
/// # Safety
/// Only from [`handler`], with its arguments.
unsafe fn chain(signum: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let Some(i) = SIGNALS.iter().position(|&s| s == signum) else { return };
    // SAFETY: `init` wrote entry `i` before installing the handler that is
    // running now; it is never written again.
    let prev = unsafe { (*PREV.0.get())[i].assume_init_ref() };
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO, `sa_sigaction` is a three-argument
        // handler, which we call as the kernel would have.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { core::mem::transmute(prev.sa_sigaction) };
        f(signum, info, ctx);
    } else if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // Reinstate the previous action and return: the faulting
        // instruction runs again and gets the default treatment (for these
        // synchronous faults the kernel terminates the process even when
        // the signal is ignored).
        // SAFETY: `prev` is a valid action obtained from `sigaction`.
        unsafe { libc::sigaction(signum, prev, ptr::null_mut()) };
    } else {
        // SAFETY: without SA_SIGINFO, `sa_sigaction` is a one-argument handler.
        let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(prev.sa_sigaction) };
        f(signum);
    }
}

/// A thread's alternate signal stack: a mapping of a guard page followed by
/// [`ALT_STACK_SIZE`] usable bytes.
struct AltStack {
    mapping: *mut c_void,
    mapping_len: usize,
}

impl AltStack {
    /// Maps a new stack and installs it with `sigaltstack`; `None` if that
    /// fails (then the handler runs on the thread's own stack).
    fn install() -> Option<AltStack> {
        let page = rustix::param::page_size();
        let mapping_len = ALT_STACK_SIZE + page;
        // SAFETY: a fresh private anonymous mapping aliases nothing.
        let mapping = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                mapping_len,
                rustix::mm::ProtFlags::empty(),
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .ok()?;
        let stack = AltStack { mapping, mapping_len };
        // SAFETY: `mapping + page .. mapping + mapping_len` is inside our
        // mapping; the first page stays PROT_NONE as a guard.
        let usable = unsafe { mapping.cast::<u8>().add(page) }.cast::<c_void>();
        // SAFETY: see above; changing protections of our own fresh mapping.
        unsafe {
            rustix::mm::mprotect(
                usable,
                ALT_STACK_SIZE,
                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::WRITE,
            )
        }
        .ok()?;
        let ss = libc::stack_t { ss_sp: usable, ss_flags: 0, ss_size: ALT_STACK_SIZE };
        // SAFETY: `ss` describes ALT_STACK_SIZE writable bytes that live
        // until `AltStack::drop`, which uninstalls them first.
        if unsafe { libc::sigaltstack(&ss, ptr::null_mut()) } != 0 {
            return None;
        }
        Some(stack)
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let _ = ALT_STACK_READY.try_with(|r| r.set(false));
        // SAFETY: querying the current alternate stack into local storage.
        let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
        // SAFETY: `cur` is writable; a null new stack only queries.
        let ok = unsafe { libc::sigaltstack(ptr::null(), &mut cur) } == 0;
        let ours = (self.mapping as usize..self.mapping as usize + self.mapping_len).contains(&(cur.ss_sp as usize));
        if ok && ours && cur.ss_flags & libc::SS_DISABLE == 0 {
            let off = libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
            // SAFETY: disables the alternate stack of this thread (ours) so
            // it is not used after the unmap below. We are not on it (a
            // thread-local destructor runs on the thread's own stack).
            unsafe { libc::sigaltstack(&off, ptr::null_mut()) };
        }
        // SAFETY: our mapping, no longer installed as the alternate stack.
        let _ = unsafe { rustix::mm::munmap(self.mapping, self.mapping_len) };
    }
}

/// Installs this thread's alternate signal stack unless it has one of at
/// least [`ALT_STACK_SIZE`] bytes.
fn ensure_alt_stack() {
    if ALT_STACK_READY.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let _ = ALT_STACK.try_with(|slot| {
        if slot.borrow().is_some() {
            return;
        }
        // SAFETY: querying into local storage.
        let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
        // SAFETY: `cur` is writable; a null new stack only queries.
        let rc = unsafe { libc::sigaltstack(ptr::null(), &mut cur) };
        if rc == 0 && cur.ss_flags & libc::SS_DISABLE == 0 && cur.ss_size >= ALT_STACK_SIZE {
            // The embedder's own stack is big enough.
            let _ = ALT_STACK_READY.try_with(|r| r.set(true));
            return;
        }
        let installed = AltStack::install();
        let _ = ALT_STACK_READY.try_with(|r| r.set(installed.is_some()));
        *slot.borrow_mut() = installed;
    });
}

/// The closure and a panic escaping it, passed through the C helper.
struct Payload<F> {
    f: Option<F>,
    panic: Option<Box<dyn Any + Send>>,
}

/// The `extern "C"` trampoline the C helper calls: runs the closure,
/// catching panics (unwinding must not cross the C frames).
extern "C" fn call_closure<F: FnOnce()>(data: *mut c_void) {
    // SAFETY: `data` is the `&mut Payload<F>` that `catch_traps` passed,
    // alive for the whole call and not otherwise accessed meanwhile.
    let payload = unsafe { &mut *(data as *mut Payload<F>) };
    if let Some(f) = payload.f.take()
        && let Err(p) = panic::catch_unwind(AssertUnwindSafe(f))
    {
        payload.panic = Some(p);
    }
}

/// Runs `f`, typically a call of native wasm code through an `extern "C"`
/// function pointer, and returns `Err` if that code hit a registered trap
/// site (a fault the handler recognised). Installs the signal handlers
/// ([`init`]) and this thread's alternate signal stack on first use.
/// Nested calls (host → wasm → host → wasm) are fine: a trap is caught by
/// the innermost `catch_traps` around the faulting code. A panic in `f` is
/// propagated after the activation is popped.
///
/// # Safety
/// A trap leaves `f` by a `longjmp` that skips every frame between this
/// call and the fault without running destructors or unwinding. So:
///
/// * Between entering `f` and the native code, and in `f` itself, there
///   must be no Rust frame owning something with a destructor (or holding a
///   lock, a `RefCell` borrow, …) that is live when the native code runs:
///   `f` should only capture `Copy` data (raw pointers, integers) and call
///   the native function pointer directly. That `f` captures nothing with
///   a destructor is checked at compile time (`needs_drop::<F>()` must be
///   false); what `f`'s body does is the caller's responsibility.
/// * Native code that calls back into the host must enter Rust through a
///   host-call trampoline that catches panics (`catch_unwind`) and does not
///   let a fault in host code reach a registered trap site; if the host
///   runs wasm again it must do so with its own nested `catch_traps`, so a
///   trap never jumps over the host's Rust frames.
/// * The code that runs must be registered in [`crate::code_memory`] for
///   the whole call, and must be sound to call as `f` calls it.
pub unsafe fn catch_traps<F: FnOnce()>(f: F) -> Result<(), TrapInfo> {
    const { assert!(!core::mem::needs_drop::<F>(), "catch_traps: the closure must not capture values with a destructor") };
    init();
    ensure_alt_stack();
    let act = Activation { jmpbuf: Cell::new(ptr::null_mut()), trap: Cell::new(None), prev: CURRENT.with(Cell::get) };
    CURRENT.with(|c| c.set(&act));
    let mut payload = Payload { f: Some(f), panic: None };
    // SAFETY: `call_closure::<F>` expects exactly a `*mut Payload<F>`;
    // `payload` and `act` outlive the call. The jump buffer slot is
    // `act.jmpbuf`, which the handler reads through `CURRENT`. The caller
    // guarantees that a longjmp out of `f` skips no destructor.
    let returned = unsafe { kiln_setjmp_call(call_closure::<F>, (&raw mut payload).cast(), act.jmpbuf.as_ptr()) };
    CURRENT.with(|c| c.set(act.prev));
    if let Some(p) = payload.panic.take() {
        panic::resume_unwind(p);
    }
    if returned != 0 {
        Ok(())
    } else {
        Err(act.trap.get().unwrap_or(TrapInfo { code: TrapCode::InternalError, pc: 0, fp: 0, sp: 0, raised: false }))
    }
}

/// Leaves native wasm code for the innermost [`catch_traps`] of this
/// thread, which returns `Err(TrapInfo { raised: true, fp, sp, .. })`: the
/// implementation of the `raise` builtin, called by a wasm→array
/// trampoline (with its frame pointer `fp`) after a host function or
/// interpreted callee failed and left its error in the store.
///
/// Aborts the process if the thread is not inside `catch_traps` (only
/// runtime bugs get there: generated code runs only inside it).
///
/// # Safety
/// The frames between the innermost `catch_traps` and the caller are the
/// ones its contract allows (native wasm code, trampolines, `extern "C"`
/// functions owning nothing), so the jump skips no destructor; the caller
/// itself owns nothing with a destructor.
pub unsafe fn unwind_to_entry(fp: usize) -> ! {
    let sp = crate::stack::approx_sp();
    let act = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: a non-null `CURRENT` is this thread's live innermost
    // activation (see `trap_decision`).
    if act.is_null() || unsafe { (*act).jmpbuf.get() }.is_null() {
        eprintln!("kiln: internal error: `raise` called outside a host→wasm entry");
        std::process::abort();
    }
    // SAFETY: as above; the jump skips only frames the caller vouches for.
    unsafe {
        (*act).trap.set(Some(TrapInfo { code: TrapCode::InternalError, pc: 0, fp, sp, raised: true }));
        kiln_longjmp((*act).jmpbuf.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_stack_is_installed_in_catch_traps() {
        std::thread::spawn(|| {
            // SAFETY: the closure runs no native code and owns nothing.
            unsafe { catch_traps(|| {}) }.unwrap();
            // SAFETY: querying into local storage.
            let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
            // SAFETY: `cur` is writable; a null new stack only queries.
            assert_eq!(unsafe { libc::sigaltstack(ptr::null(), &mut cur) }, 0);
            assert_eq!(cur.ss_flags & libc::SS_DISABLE, 0);
            assert!(cur.ss_size >= ALT_STACK_SIZE);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn panics_propagate_and_pop_the_activation() {
        // SAFETY: no native code; the panic is caught by the trampoline.
        let r = panic::catch_unwind(|| unsafe { catch_traps(|| panic!("boom")) });
        assert!(r.is_err());
        assert!(CURRENT.with(Cell::get).is_null());
    }
}
