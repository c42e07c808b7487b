//! The interpreter's code object: a translated function as data (ops,
//! frame layout, constant pool, OSR points), like
//! [`crate::native_code::NativeCode`] for native code. Modules own it
//! (`RuntimeModule`'s per-function cells, filled by the interpreter at a
//! function's first call) and instances cache pointers to it; only the
//! interpreter's executor (`exec`, `handlers`) runs it. This file depends
//! on nothing else of the runtime, so the runtime core can hold
//! interpreter code without depending on the interpreter.
//!
//! The code is a register machine over frame slots.
//!
//! A function's frame is an array of 8-byte slots:
//!
//! ```text
//! fp[0 .. params)                 parameters (the caller's argument temps: zero-copy calls)
//! fp[params .. locals)            declared locals, zeroed on entry
//! fp[locals .. locals + consts)   the function's constant pool, copied on entry
//! fp[temps ..]                    the operand stack: the value at height h lives in temps + h
//! ```
//!
//! Every instruction names its operands by slot, so `local.get` and
//! constants cost nothing at run time, and `local.set` usually retargets the
//! instruction that computed the value. Branch targets are resolved indices
//! into the function's code. Results are returned in `fp[0 ..]`, which is
//! where the caller's argument temps were.

/// A frame slot index relative to the frame pointer.
pub type Slot = u32;

use std::sync::atomic::{AtomicPtr, Ordering};

/// An executable instruction: its handler and up to four operands.
/// Branch targets are offsets in ops relative to the branch itself.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Op {
    /// The address of the executor's handler for this op, an
    /// `exec::Handler` (stored untyped so that code is data: `Op::new`
    /// and `Op::handler` in `exec` give it its type).
    pub handler: *const (),
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
}

/// A translated function.
pub struct InterpFunc {
    /// What executes: the translated code assembled into handler-threaded
    /// ops.
    pub(crate) ops: Box<[Op]>,
    /// Parameter slots.
    pub params: u32,
    /// Parameter plus declared-local slots.
    pub locals: u32,
    /// The constant pool, copied to `fp[locals ..]` on entry.
    pub consts: Box<[u64]>,
    /// Slots the frame needs in all.
    pub frame_size: u32,
    /// Where the function's native entry is published: its module's
    /// `FuncTier::wasm_call` (set by `RuntimeModule::interp_func`; the
    /// module owns both). Null until then.
    pub(crate) native_entry: *const AtomicPtr<u8>,
    /// OSR points: the loop headers an interpreted frame can leave for
    /// native code, sorted by `op`.
    pub(crate) osr_points: Box<[OsrPoint]>,
}

/// Where an interpreted frame at a loop header keeps the wasm operand
/// stack, so an OSR entry can take it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsrPoint {
    /// Index in `ops` of the first op of the loop body (where back-edges
    /// land; a rotated back-edge lands one op later).
    pub op: u32,
    /// Whether back-edges to this loop may land at `op + 1` (loop rotation
    /// evaluated the loop's leading exit test at the bottom).
    pub rotated: bool,
    /// Byte offset of the `loop` operator in the module.
    pub loop_offset: u32,
    /// The operand stack at the header, bottom first: a slot or a constant.
    pub stack: Box<[OsrValue]>,
}

/// One operand stack value at an [`OsrPoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsrValue {
    /// In this frame slot.
    Slot(Slot),
    /// This constant's bits.
    Const(u64),
}

// SAFETY: `native_entry` points into the module that owns this function
// and is an atomic; everything else is owned data.
unsafe impl Send for InterpFunc {}
// SAFETY: as above.
unsafe impl Sync for InterpFunc {}

impl InterpFunc {
    /// The OSR point (and its index, the OSR entry's loop index) of the
    /// loop whose back-edges land at op `index`.
    pub(crate) fn osr_point(&self, index: u32) -> Option<(usize, &OsrPoint)> {
        let i = match self.osr_points.binary_search_by_key(&index, |p| p.op) {
            Ok(i) => return Some((i, &self.osr_points[i])),
            Err(i) => i.checked_sub(1)?,
        };
        let p = &self.osr_points[i];
        (p.rotated && p.op + 1 == index).then_some((i, p))
    }

    /// Whether native code of the function is published (then a call
    /// should switch the caller's funcref and run it). `Acquire`: the code
    /// is visible once its entry is.
    #[inline(always)]
    pub(crate) fn has_native_entry(&self) -> bool {
        // SAFETY: set to the owning module's slot before the function is
        // handed out (`RuntimeModule::interp_func` is the only way to get
        // it), and the module outlives its functions.
        unsafe { !(*self.native_entry).load(Ordering::Acquire).is_null() }
    }
}

impl std::fmt::Debug for InterpFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterpFunc")
            .field("params", &self.params)
            .field("locals", &self.locals)
            .field("frame_size", &self.frame_size)
            .field("ops", &self.ops.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instr_and_op_sizes() {
        assert_eq!(core::mem::size_of::<super::super::ops::Instr>(), 16);
        assert_eq!(core::mem::size_of::<super::Op>(), 24);
    }
}
