//! The interpreter's internal code: a register machine over frame slots.
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

pub use super::ops::{BinKind, Instr};

/// A handler: executes the [`Op`] at `pc` on the frame at `fp`, with
/// memory 0's base `mb` and length `ml` in registers, then continues with
/// the next op (see [`super::exec`]).
///
/// # Safety
/// `pc` points into the code of the function whose frame is at `fp`, the
/// frame has the function's `frame_size` slots, `mb`/`ml` describe memory
/// 0 of `st`'s current instance, and `st` is the running activation.
pub(crate) type Handler = unsafe fn(*const Op, *mut u64, &mut super::exec::State, *mut u8, usize) -> super::exec::Exit;

/// An executable instruction: its handler and up to four operands.
/// Branch targets are offsets in ops relative to the branch itself.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Op {
    pub handler: Handler,
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
}

/// A translated function.
pub struct InterpFunc {
    /// The translator's output, kept for inspection (`dump_interp`).
    pub code: Box<[Instr]>,
    /// What executes: `code` assembled into handler-threaded ops.
    pub(crate) ops: Box<[Op]>,
    /// Parameter slots.
    pub params: u32,
    /// Parameter plus declared-local slots.
    pub locals: u32,
    /// The constant pool, copied to `fp[locals ..]` on entry.
    pub consts: Box<[u64]>,
    /// Slots the frame needs in all.
    pub frame_size: u32,
    /// The function's tier-up slot in its module (set by
    /// `RuntimeModule::interp_func`; the module owns both).
    pub(crate) tier: *const crate::tier::FuncTier,
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

// SAFETY: `tier` points into the module that owns this function; the
// `FuncTier` is itself `Sync`.
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

    /// The function's tier-up slot.
    #[inline(always)]
    pub(crate) fn tier(&self) -> &crate::tier::FuncTier {
        // SAFETY: set to the owning module's slot before the function is
        // published, and the module outlives its functions.
        unsafe { &*self.tier }
    }
}

impl std::fmt::Debug for InterpFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterpFunc")
            .field("params", &self.params)
            .field("locals", &self.locals)
            .field("frame_size", &self.frame_size)
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instr_and_op_sizes() {
        assert_eq!(core::mem::size_of::<super::Instr>(), 16);
        assert_eq!(core::mem::size_of::<super::Op>(), 24);
    }
}
