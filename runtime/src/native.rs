//! The native tier: how the host, the interpreter and wasm→array
//! trampolines enter native code ([`crate::native_code::NativeCode`], the
//! code object it runs, is linked and owned elsewhere: see
//! `native_code.rs`).
//!
//! # Entering native code
//! Every funcref of a function with native code has
//! [`native_array_call`] as its `array_call` entry (the host, the
//! interpreter and wasm→array trampolines all enter through it) and the
//! compiled function as its `wasm_call` entry (native callers call it
//! directly). [`native_array_call`]:
//!
//! 1. sets the store's `VMStoreContext::stack_limit` on the outermost entry
//!    (`max_wasm_stack` bytes below the entry, never closer than
//!    [`crate::stack::HOST_STACK_RESERVE`] to the end of the thread's
//!    stack), which every
//!    compiled prologue checks — native stack overflow becomes the
//!    "call stack exhausted" trap, also when native and host frames
//!    alternate, because nested entries keep the outermost limit;
//! 2. calls the Cranelift array→wasm trampoline of the callee's signature
//!    inside [`catch_traps`], so a fault at a registered trap site comes
//!    back as a [`TrapInfo`], and the `raise` builtin (a failed host call)
//!    unwinds to it as well;
//! 3. turns what came back into the store's pending error: a [`Trap`] with a
//!    wasm backtrace walked along the frame pointers Cranelift preserves
//!    (`preserve_frame_pointers`), or — after `raise` — the callee's error,
//!    whose backtrace (if it is a trap) is extended with the native frames.
//!
//! Frames jumped over by a trap are only native wasm frames, trampolines
//! and `extern "C"` functions owning nothing (see `catch_traps`'s
//! contract): host functions catch their own panics and report errors by
//! returning `false`, and re-entries into wasm nest their own `catch_traps`.

use crate::code_memory;
use crate::error::{Error, FrameInfo, Trap};
use crate::instance::Instance;
use crate::native_code::TRAMPOLINE_INDEX;
use crate::stack::approx_sp;
use crate::store::StoreOpaque;
use crate::traphandlers::{TrapInfo, catch_traps};
use kiln_environ::TrapCode;
use kiln_environ::vm::{VMArrayCallFn, VMContext, VMFuncRef, ValRaw};
use std::sync::atomic::Ordering;

/// The `array_call` entry of every function with native code (see the
/// module documentation).
///
/// # Safety
/// `callee` is a live funcref of a defined function of a live instance
/// whose module has native code; `args` holds `args_len >= max(params,
/// results)` slots; the store is not borrowed elsewhere.
pub unsafe extern "C" fn native_array_call(
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    args: *mut ValRaw,
    args_len: usize,
) -> bool {
    // SAFETY: per the contract, the funcref's vmctx is a live instance's
    // and its store is live and not otherwise borrowed.
    unsafe {
        let inst = Instance::from_vmctx((*callee).vmctx);
        let module = (*inst).module();
        let def = (*callee).func_index.wrapping_sub(module.info.num_imported_funcs);
        let tramp = module.tiers.get(def as usize).map_or(core::ptr::null_mut(), |t| {
            // `array_call` was stored before `wasm_call` was published.
            if t.native_entry().is_some() { t.array_call.load(Ordering::Relaxed) } else { core::ptr::null_mut() }
        });
        if tramp.is_null() {
            (*(*inst).store()).pending_error =
                Some(Error::msg("internal error: native entry of a function without native code"));
            return false;
        }
        let trampoline = core::mem::transmute::<*mut u8, VMArrayCallFn>(tramp);
        enter_native(trampoline, callee, caller_vmctx, args, args_len)
    }
}

/// Runs `entry` — native code with the array-call ABI (an array→wasm
/// trampoline, or an OSR entry) — for `callee`, with the stack limit and
/// trap handling described in the module documentation.
///
/// # Safety
/// `entry` is published, registered code with the array-call ABI for
/// `callee`, a live funcref of a defined function of a live instance;
/// `args` holds `args_len` slots as `entry` expects; the store is not
/// borrowed elsewhere.
pub unsafe fn enter_native(
    entry: VMArrayCallFn,
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    args: *mut ValRaw,
    args_len: usize,
) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let inst = Instance::from_vmctx((*callee).vmctx);
        let store = (*inst).store();
        let sp = approx_sp();
        let limit = &raw mut (*store).vm_store_context.stack_limit;
        let Ok(_entry) = crate::stack::enter(limit, sp, (*store).config.max_wasm_stack) else {
            (*store).pending_error = Some(Error::trap(Trap::new(TrapCode::StackOverflow)));
            return false;
        };

        let mut ok = false;
        let ok_ptr: *mut bool = &mut ok;
        // SAFETY (closure): only raw pointers and a fn pointer are
        // captured; the entry is published, registered code with the
        // array-call ABI, called with the caller's arguments.
        let caught = catch_traps(move || *ok_ptr = entry(callee, caller_vmctx, args, args_len));
        match caught {
            Ok(()) => ok,
            Err(info) => {
                report(store, &info, sp);
                false
            }
        }
    }
}

/// Records what [`catch_traps`] caught as the store's pending error.
///
/// # Safety
/// `store` is live and not borrowed; `entry_sp` is the stack pointer of the
/// entry whose `catch_traps` returned `info` (the walked frames lie between
/// `info.sp` and it and are still mapped: they are below the live entry
/// frame).
unsafe fn report(store: *mut StoreOpaque, info: &TrapInfo, entry_sp: usize) {
    let mut frames = Vec::new();
    if !info.raised
        && let Some((reg, func_index, _)) = code_memory::lookup_func(info.pc)
        && func_index != TRAMPOLINE_INDEX
    {
        frames.push((reg, func_index));
    }
    // SAFETY: forwarded contract.
    unsafe { walk_frames(info.fp, info.sp, entry_sp, &mut frames) };
    // SAFETY: as above.
    let store = unsafe { &mut *store };
    let names: Vec<FrameInfo> = frames.iter().map(|&(reg, f)| frame_info(store, reg, f)).collect();
    if info.raised {
        let mut err = store.take_pending_error();
        if let Some(trap) = err.as_trap_mut() {
            for f in names {
                trap.push_frame(f);
            }
        }
        store.pending_error = Some(err);
    } else {
        let mut trap = Trap::new(info.code);
        for f in names {
            trap.push_frame(f);
        }
        store.pending_error = Some(Error::trap(trap));
    }
}

/// Walks the frame-pointer chain from `fp`, appending (registration id,
/// wasm function index) for every return address inside registered wasm
/// code, and stops at the first one that is not (the entry trampoline).
///
/// Frame records are `[fp] = caller's fp, [fp + word] = return address` on
/// x86-64 and aarch64. A record is read only if it lies within
/// `[low, high)` — stack between the fault and the entry, which is mapped —
/// and the chain must strictly ascend, so a corrupt chain ends the walk
/// instead of faulting.
///
/// # Safety
/// `[low, high)` is mapped, readable stack of the current thread.
unsafe fn walk_frames(mut fp: usize, low: usize, high: usize, out: &mut Vec<(u64, u32)>) {
    const WORD: usize = core::mem::size_of::<usize>();
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) || low == 0 {
        return;
    }
    while fp >= low
        && fp.checked_add(2 * WORD).is_some_and(|end| end <= high)
        && fp.is_multiple_of(WORD)
        && out.len() < 100_000
    {
        // SAFETY: `fp .. fp + 2 words` is inside `[low, high)`.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + WORD) as *const usize)) };
        // The return address follows the call; `ret - 1` is inside it.
        match code_memory::lookup_func(ret.wrapping_sub(1)) {
            Some((reg, f, _)) if f != TRAMPOLINE_INDEX => out.push((reg, f)),
            _ => return,
        }
        if next <= fp {
            return;
        }
        fp = next;
    }
}

/// Names frame `func_index` of the module registered as `reg`, looked up
/// among the store's instances.
fn frame_info(store: &StoreOpaque, reg: u64, func_index: u32) -> FrameInfo {
    let module = store.instances.iter().map(|i| i.module()).find(|m| m.owns_code(reg));
    match module {
        Some(m) => m.frame_info(func_index),
        None => FrameInfo { func_index, func_name: None, module_name: None },
    }
}
