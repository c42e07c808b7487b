//! The native stack budget of guest execution, shared by every tier.
//!
//! The outermost host→wasm entry of a store fixes a limit `max_wasm_stack`
//! bytes below its stack pointer; nested entries (wasm → host → wasm …) and
//! native prologues check against it, so deep alternation of host and guest
//! frames ends in the "call stack exhausted" trap in every tier. The limit
//! is never placed closer than [`HOST_STACK_RESERVE`] to the end of the
//! thread's stack (where the platform reports it), so a thread with a small
//! stack traps instead of overflowing it.

use std::cell::Cell;

/// Bytes of thread stack kept free below the limit for host functions
/// called from wasm that runs near it.
pub const HOST_STACK_RESERVE: usize = 128 * 1024;

/// An address close to the current stack pointer.
#[inline(always)]
pub fn approx_sp() -> usize {
    let marker = 0u8;
    core::hint::black_box(&marker) as *const u8 as usize
}

/// An entry into guest code (interpreted or native) holding the store's
/// stack limit; the outermost one set the limit and clears it when
/// dropped. See [`enter`].
pub struct Entry {
    limit: *mut usize,
    outermost: bool,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.outermost {
            // SAFETY: `limit` is the store's `VMStoreContext::stack_limit`,
            // which outlives every entry into that store's guest code.
            unsafe { *self.limit = 0 };
        }
    }
}

/// Enters guest code at stack pointer `sp` for a store whose stack limit
/// is `*limit` (`VMStoreContext::stack_limit`, 0 while no entry is
/// active): the outermost entry sets it `max_wasm_stack` bytes below `sp`
/// ([`stack_limit_below`]); a nested one checks `sp` against it.
///
/// # Errors
/// `Err(TrapCode::StackOverflow)` if a nested entry is already below the
/// limit (the caller traps with "call stack exhausted").
///
/// # Safety
/// `limit` points to the live store's stack limit, used only by the
/// store's current thread, and outlives the returned [`Entry`].
pub unsafe fn enter(limit: *mut usize, sp: usize, max_wasm_stack: usize) -> Result<Entry, kiln_environ::TrapCode> {
    // SAFETY: per the contract.
    unsafe {
        let outermost = *limit == 0;
        if outermost {
            *limit = stack_limit_below(sp, max_wasm_stack);
        } else if sp < *limit {
            return Err(kiln_environ::TrapCode::StackOverflow);
        }
        Ok(Entry { limit, outermost })
    }
}

/// The stack pointer, read without taking the address of a local (which
/// would keep LLVM from turning the interpreter handlers' calls into
/// jumps).
#[inline(always)]
pub fn current_sp() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads a register; no memory or flags are touched.
        unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: reads a register; no memory or flags are touched.
        unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    approx_sp()
}

/// The limit for an outermost entry at `sp` allowing `max_wasm_stack` bytes
/// (see the module documentation). Never 0 (0 means "no limit set").
pub fn stack_limit_below(sp: usize, max_wasm_stack: usize) -> usize {
    let mut limit = sp.saturating_sub(max_wasm_stack);
    if let Some(low) = thread_stack_low() {
        limit = limit.max(low.saturating_add(HOST_STACK_RESERVE));
    }
    limit.max(1)
}

thread_local! {
    /// Lowest usable address of this thread's stack (0 = not known yet,
    /// 1 = unknown), from `pthread_getattr_np`.
    static STACK_LOW: Cell<usize> = const { Cell::new(0) };
}

/// The lowest address of the current thread's stack, if the platform says.
fn thread_stack_low() -> Option<usize> {
    let cached = STACK_LOW.with(Cell::get);
    if cached > 1 {
        return Some(cached);
    }
    if cached == 1 {
        return None;
    }
    let low = query_stack_low();
    STACK_LOW.with(|c| c.set(low.unwrap_or(1)));
    low
}

#[cfg(target_os = "linux")]
fn query_stack_low() -> Option<usize> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before use and
    // destroyed once; the out-pointers point to locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        // The lowest page is the guard (or below the mapping for the main
        // thread, whose reported size is the rlimit).
        (rc == 0 && !addr.is_null()).then(|| addr as usize + rustix::param::page_size())
    }
}

#[cfg(not(target_os = "linux"))]
fn query_stack_low() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_respects_the_thread_stack() {
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(|| {
                let sp = approx_sp();
                let limit = stack_limit_below(sp, 64 << 20);
                assert!(limit < sp, "{limit:#x} {sp:#x}");
                if cfg!(target_os = "linux") {
                    // Clamped to the thread's stack (glibc may hand out a
                    // cached stack larger than asked for, never 64 MiB).
                    let low = thread_stack_low().expect("linux reports thread stacks");
                    assert!(low < sp && sp - low < 64 << 20, "{low:#x} {sp:#x}");
                    assert_eq!(limit, low + HOST_STACK_RESERVE);
                }
                assert_eq!(stack_limit_below(sp, 4096), sp - 4096);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
