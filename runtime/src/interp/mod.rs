//! The interpreter tier.
//!
//! * `ops`: the instruction set, declared once (one table: instructions,
//!   operator decoding, lowering to ops, the data operations' handlers).
//! * [`code`]: the code object: the register machine's frame layout, `Op`,
//!   [`code::InterpFunc`].
//! * [`translate`]: wasm → interpreter code, once per function, lazily at
//!   its first call.
//! * `assemble`: lowers that code into handler-threaded ops.
//! * `exec` and `handlers`: execution, with tail-call threaded dispatch in
//!   optimised builds and a dispatch loop otherwise (chosen by `build.rs`).
//!
//! The interpreter works on the same VMContext, memories, tables and
//! globals as native code, and enters and leaves through the array-call
//! ABI ([`interp_array_call`] is the `array_call` entry of every function
//! that has no native code), so a tier-up only swaps a funcref's entries.
//!
//! The interpreter is a tier above the runtime core (ARCHITECTURE.md,
//! "Layers of the runtime"): the core holds its code objects (the
//! module's `InterpFunc` cells, each instance's pointer cache) and its
//! per-store stack ([`crate::interp_stack`]) as data, and this module fills
//! and runs them (`RuntimeModule::interp_func`, `Instance::interp_func`
//! below).

mod assemble;
pub mod code;
pub(crate) mod exec;
mod handlers;
mod ops;
pub mod translate;

use crate::error::{Error, Result, Trap};
use crate::instance::Instance;
use crate::interp_stack::InterpStack;
use crate::module::RuntimeModule;
use crate::store::StoreOpaque;
use code::InterpFunc;
use exec::Unwind;
use kiln_environ::vm::{VMContext, VMFuncRef, ValRaw};
use kiln_environ::{DefinedFuncIndex, ModuleError, TrapCode};
use std::cell::Cell;

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
) -> std::result::Result<(), Unwind> {
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
        if top + (*func).frame_size as usize > (*stack).capacity() {
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

/// The interpreter's code of a module's functions: the module owns the
/// cells (`RuntimeModule::interp`), the interpreter fills them.
impl RuntimeModule {
    /// The interpreter code of defined function `def`, translating it on
    /// first use (once, even when several threads ask at the same time).
    ///
    /// # Errors
    /// The translator's error (implementation limits only: the module is
    /// already validated).
    pub fn interp_func(&self, def: DefinedFuncIndex) -> std::result::Result<&InterpFunc, &ModuleError> {
        let cell = &self.interp[def.index()];
        cell.get_or_init(|| {
            translate::translate(&self.info, &self.wasm, def).map(|mut f| {
                f.native_entry = self.tier(def).native_entry_cell();
                f
            })
        })
        .as_ref()
    }

    /// Translates every function now (tests and benchmarks use it to
    /// separate translation from execution).
    ///
    /// # Errors
    /// The first translation error.
    pub fn translate_all(&self) -> Result<()> {
        for i in 0..self.info.num_defined_funcs() {
            self.interp_func(DefinedFuncIndex(i)).map_err(|e| Error::compile(e.clone()))?;
        }
        Ok(())
    }
}

/// The interpreter's per-instance code cache (`Instance::interp_cache`).
impl Instance {
    /// Interpreter code of function `index` (a defined function),
    /// translating it on first use.
    #[inline(always)]
    pub fn interp_func(&self, index: u32) -> std::result::Result<*const InterpFunc, TrapCode> {
        let def = index.wrapping_sub(self.num_imported_funcs) as usize;
        match self.interp_cache.get(def) {
            Some(cell) if !cell.get().is_null() => Ok(cell.get()),
            Some(cell) => self.interp_func_slow(def, cell),
            None => Err(TrapCode::InternalError),
        }
    }

    #[cold]
    #[inline(never)]
    fn interp_func_slow(
        &self,
        def: usize,
        cell: &Cell<*const InterpFunc>,
    ) -> std::result::Result<*const InterpFunc, TrapCode> {
        let f = self.module().interp_func(DefinedFuncIndex(def as u32)).map_err(|_| TrapCode::InternalError)?;
        cell.set(f);
        Ok(f)
    }
}
