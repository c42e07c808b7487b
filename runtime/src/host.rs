//! Host functions behind the array-call ABI.
//!
//! A host function is a [`VMHostFuncContext`] owned by its store: a
//! `VMFuncRef` whose `vmctx` points back at the context and whose
//! `array_call` is [`host_array_call`], plus the boxed Rust closure. Every
//! tier calls it the same way. A host error or panic is recorded in the
//! store and reported to the caller as `false`; a panic never unwinds
//! through guest frames.

use crate::error::{Error, Result};
use crate::store::StoreOpaque;
use kiln_environ::WasmFuncType;
use kiln_environ::vm::{VMContext, VMFuncRef, ValRaw};

/// The Rust side of a host function: given the store, the calling
/// instance's VMContext (null when the host itself calls) and the argument
/// slots, it writes the results into the same slots.
pub type HostFunc = dyn Fn(*mut StoreOpaque, *mut VMContext, &mut [ValRaw]) -> Result<()> + Send + Sync;

/// A host function's context: its funcref first.
///
/// The funcref is at offset 0 and its `vmctx` points at this context
/// (`funcref.vmctx == &funcref`), so [`host_array_call`] reaches the
/// context from the funcref it is given.
#[repr(C)]
pub struct VMHostFuncContext {
    /// The function's reference; `funcref.vmctx` points to this context.
    pub funcref: VMFuncRef,
    /// The owning store.
    pub store: *mut StoreOpaque,
    /// The function's type.
    pub ty: WasmFuncType,
    /// The closure.
    pub func: Box<HostFunc>,
}

// `host_array_call` reads the context through `funcref.vmctx`; keeping the
// funcref first makes the context and its funcref one address.
const _: () = assert!(core::mem::offset_of!(VMHostFuncContext, funcref) == 0);

// SAFETY: the raw pointers refer to the owning store and to this context;
// they move between threads together with the store.
unsafe impl Send for VMHostFuncContext {}

/// The array-call entry of every host function.
///
/// # Safety
/// `callee` is the funcref of a live [`VMHostFuncContext`] and `args`
/// holds `args_len` slots.
pub unsafe extern "C" fn host_array_call(
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    args: *mut ValRaw,
    args_len: usize,
) -> bool {
    // SAFETY: per the contract, `vmctx` is this function's context, alive
    // as long as its store.
    let ctx = unsafe { &*((*callee).vmctx as *const VMHostFuncContext) };
    let store = ctx.store;
    // SAFETY: `args` holds `args_len` slots not aliased by anything else
    // during the call.
    let slots = unsafe { core::slice::from_raw_parts_mut(args, args_len) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (ctx.func)(store, caller_vmctx, slots)));
    let error = match result {
        Ok(Ok(())) => return true,
        Ok(Err(e)) => e,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            Error::host(format!("host function panicked: {msg}"))
        }
    };
    // SAFETY: the host function has returned; nothing borrows the store.
    unsafe { (*store).pending_error = Some(error) };
    false
}
