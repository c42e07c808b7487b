//! The interpreter tier.
//!
//! * `ops`: the instruction set, declared once (one table: instructions,
//!   operator decoding, lowering to ops, the data operations' handlers).
//! * [`code`]: the register machine's frame layout, [`Op`], [`InterpFunc`].
//! * [`translate`]: wasm → interpreter code, once per function, lazily at
//!   its first call.
//! * `assemble`: lowers that code into handler-threaded ops.
//! * [`exec`] and `handlers`: execution, with tail-call threaded dispatch in
//!   optimised builds and a dispatch loop otherwise (chosen by `build.rs`).
//!
//! The interpreter works on the same VMContext, memories, tables and
//! globals as native code, and enters and leaves through the array-call
//! ABI ([`interp_array_call`] is the `array_call` entry of every function
//! that has no native code), so a tier-up only swaps a funcref's entries.

mod assemble;
pub mod code;
pub(crate) mod exec;
mod handlers;
mod ops;
pub mod translate;

use crate::error::{Error, Trap};
use crate::instance::Instance;
use crate::store::StoreOpaque;
use code::{InterpFunc, Op};
use exec::Unwind;
use kiln_environ::TrapCode;
use kiln_environ::vm::{VMContext, VMFuncRef, ValRaw};

/// A caller's state saved across a wasm→wasm call.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub func: *const InterpFunc,
    pub inst: *mut Instance,
    pub pc: *const Op,
    pub fp: *mut u64,
    pub func_index: u32,
    /// The caller's instance-local hotness budget.
    pub hot: *mut crate::tier::HotCounters,
}

/// The interpreter's stack of one store: value slots and frame records,
/// shared by nested activations (each starts above the previous one's top).
pub struct InterpStack {
    slots: Box<[u64]>,
    pub(crate) frames: Vec<Frame>,
    /// First free slot for a new activation.
    pub(crate) top: usize,
    pub(crate) max_frames: usize,
    max_slots: usize,
}

// SAFETY: the raw pointers in `frames` point into the owning store (its
// instances and this stack), which moves between threads as a whole.
unsafe impl Send for InterpStack {}

impl InterpStack {
    /// A stack allowing `max_wasm_stack` bytes of interpreter frames.
    pub fn new(max_wasm_stack: usize) -> InterpStack {
        InterpStack {
            slots: Box::new([]),
            frames: Vec::new(),
            top: 0,
            // A frame costs at least its 40-byte record and one slot.
            max_frames: (max_wasm_stack / 48).max(16),
            max_slots: (max_wasm_stack / 8).max(1024),
        }
    }

    pub(crate) fn base(&mut self) -> *mut u64 {
        self.slots.as_mut_ptr()
    }

    pub(crate) fn end(&mut self) -> *mut u64 {
        // SAFETY: one past the end of the slot array.
        unsafe { self.slots.as_mut_ptr().add(self.slots.len()) }
    }

    fn ensure_allocated(&mut self) {
        if self.slots.is_empty() {
            // Zeroed allocation: pages are only touched when used.
            self.slots = vec![0u64; self.max_slots].into_boxed_slice();
        }
    }
}

/// The array-call entry of every interpreted function (see
/// [`kiln_environ::vm::VMArrayCallFn`]).
///
/// # Safety
/// `callee` is a live funcref of a defined function of a live instance;
/// `args` holds `args_len >= max(params, results)` slots.
pub unsafe extern "C" fn interp_array_call(
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    args: *mut ValRaw,
    args_len: usize,
) -> bool {
    // SAFETY: per the contract, the funcref's vmctx is an instance's.
    let inst = unsafe { Instance::from_vmctx((*callee).vmctx) };
    // SAFETY: a live instance points to its live store.
    let store = unsafe { (*inst).store() };
    // SAFETY: as above.
    let func_index = unsafe { (*callee).func_index };
    // Tiered up since this instance's funcref was last switched: switch
    // it and run the native code.
    #[cfg(unix)]
    // SAFETY: the instance is live; its funcref may be rewritten by the
    // thread owning its store, which is this one.
    unsafe {
        if (*inst).promote(func_index) {
            return crate::native::native_array_call(callee, caller_vmctx, args, args_len);
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: forwarded contract.
        unsafe { enter(store, inst, func_index, args, args_len) }
    }));
    match result {
        Ok(Ok(())) => true,
        Ok(Err(Unwind::Pending)) => false,
        Ok(Err(Unwind::Trap(trap))) => {
            // SAFETY: the activation is over; nothing else borrows the store.
            unsafe { (*store).pending_error = Some(Error::trap(trap)) };
            false
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            // SAFETY: as above.
            unsafe {
                (*store).pending_error = Some(Error::msg(format!("internal error in kiln's interpreter: {msg}")))
            };
            false
        }
    }
}

/// Starts an activation of function `func_index` of `inst`.
///
/// # Safety
/// As for [`interp_array_call`].
unsafe fn enter(
    store: *mut StoreOpaque,
    inst: *mut Instance,
    func_index: u32,
    args: *mut ValRaw,
    args_len: usize,
) -> Result<(), Unwind> {
    // SAFETY: the store is live and not otherwise borrowed during guest
    // execution; the stack lives inside it.
    unsafe {
        let stack: *mut InterpStack = &mut (*store).interp;
        let func = (*inst).interp_func(func_index)?;
        let ty = (*inst).func_type(func_index);
        let (params, results) = (ty.params.len(), ty.results.len());
        if args_len < params.max(results) {
            return Err(TrapCode::InternalError.into());
        }
        (*stack).ensure_allocated();
        // Nested activations (host → wasm → host → …, interpreted or
        // native) share the native stack budget of the outermost one: the
        // store's `stack_limit`, which compiled prologues check too.
        let limit = &raw mut (*store).vm_store_context.stack_limit;
        let Ok(_entry) = crate::stack::enter(limit, crate::stack::approx_sp(), (*store).config.max_wasm_stack) else {
            return Err(TrapCode::StackOverflow.into());
        };
        let top = (*stack).top;
        let fp = (*stack).base().add(top);
        // The stack is live and not otherwise borrowed here (the caller's
        // contract), so a shared reference to its slots is sound.
        #[allow(clippy::needless_borrow)]
        let capacity = (&(*stack).slots).len();
        if top + (*func).frame_size as usize > capacity {
            return Err(TrapCode::StackOverflow.into());
        }
        core::ptr::copy_nonoverlapping(args as *const u64, fp, params);
        exec::run(store, stack, inst, func, func_index, fp)?;
        core::ptr::copy_nonoverlapping(fp as *const u64, args as *mut u64, results);
        Ok(())
    }
}

impl From<Trap> for Unwind {
    fn from(t: Trap) -> Self {
        Unwind::Trap(t)
    }
}
