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

macro_rules! define_instrs {
    (
        binary: [$($bin:ident),* $(,)?],
        unary: [$($un:ident),* $(,)?],
        load: [$($ld:ident),* $(,)?],
        store: [$($st:ident),* $(,)?],
        branch_cmp: [$($bc:ident),* $(,)?],
        with_dst: { $( $(#[$dm:meta])* $dv:ident { dst: Slot $(, $df:ident : $dt:ty)* }, )* }
        other: { $( $(#[$om:meta])* $ov:ident $({ $($of:ident : $ot:ty),* })?, )* }
    ) => {
        /// One interpreter instruction (16 bytes).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Instr {
            $( #[doc = concat!("`", stringify!($bin), "`: `dst = a op b`.")] $bin { dst: Slot, a: Slot, b: Slot }, )*
            $( #[doc = concat!("`", stringify!($un), "`: `dst = op src`.")] $un { dst: Slot, src: Slot }, )*
            $( #[doc = concat!("`", stringify!($ld), "` from memory 0 at `addr + offset`.")] $ld { dst: Slot, addr: Slot, offset: u32 }, )*
            $( #[doc = concat!("`", stringify!($st), "` to memory 0 at `addr + offset`.")] $st { addr: Slot, src: Slot, offset: u32 }, )*
            $( #[doc = concat!("Fused i32 compare and branch: jump to `target` if `", stringify!($bc), "(a, b)`.")] $bc { a: Slot, b: Slot, target: u32 }, )*
            $( $(#[$dm])* $dv { dst: Slot $(, $df: $dt)* }, )*
            $( $(#[$om])* $ov $({ $($of: $ot),* })?, )*
        }

        impl Instr {
            /// The slot this instruction writes its single result to, if it
            /// has one that may be retargeted.
            pub fn dst_mut(&mut self) -> Option<&mut Slot> {
                match self {
                    $( Instr::$bin { dst, .. } => Some(dst), )*
                    $( Instr::$un { dst, .. } => Some(dst), )*
                    $( Instr::$ld { dst, .. } => Some(dst), )*
                    $( Instr::$dv { dst, .. } => Some(dst), )*
                    _ => None,
                }
            }
        }
    };
}

define_instrs! {
    binary: [
        I32Eq, I32Ne, I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU,
        I64Eq, I64Ne, I64LtS, I64LtU, I64GtS, I64GtU, I64LeS, I64LeU, I64GeS, I64GeU,
        F32Eq, F32Ne, F32Lt, F32Gt, F32Le, F32Ge,
        F64Eq, F64Ne, F64Lt, F64Gt, F64Le, F64Ge,
        I32Add, I32Sub, I32Mul, I32DivS, I32DivU, I32RemS, I32RemU, I32And, I32Or, I32Xor,
        I32Shl, I32ShrS, I32ShrU, I32Rotl, I32Rotr,
        I64Add, I64Sub, I64Mul, I64DivS, I64DivU, I64RemS, I64RemU, I64And, I64Or, I64Xor,
        I64Shl, I64ShrS, I64ShrU, I64Rotl, I64Rotr,
        F32Add, F32Sub, F32Mul, F32Div, F32Min, F32Max, F32Copysign,
        F64Add, F64Sub, F64Mul, F64Div, F64Min, F64Max, F64Copysign,
    ],
    unary: [
        I32Eqz, I64Eqz, I32Clz, I32Ctz, I32Popcnt, I64Clz, I64Ctz, I64Popcnt,
        F32Abs, F32Neg, F32Ceil, F32Floor, F32Trunc, F32Nearest, F32Sqrt,
        F64Abs, F64Neg, F64Ceil, F64Floor, F64Trunc, F64Nearest, F64Sqrt,
        I32WrapI64, I32TruncF32S, I32TruncF32U, I32TruncF64S, I32TruncF64U,
        I64ExtendI32S, I64ExtendI32U, I64TruncF32S, I64TruncF32U, I64TruncF64S, I64TruncF64U,
        F32ConvertI32S, F32ConvertI32U, F32ConvertI64S, F32ConvertI64U, F32DemoteF64,
        F64ConvertI32S, F64ConvertI32U, F64ConvertI64S, F64ConvertI64U, F64PromoteF32,
        I32Extend8S, I32Extend16S, I64Extend8S, I64Extend16S, I64Extend32S,
        I32TruncSatF32S, I32TruncSatF32U, I32TruncSatF64S, I32TruncSatF64U,
        I64TruncSatF32S, I64TruncSatF32U, I64TruncSatF64S, I64TruncSatF64U,
        RefIsNull,
        Copy,
    ],
    load: [
        I32Load, I64Load, F32Load, F64Load,
        I32Load8S, I32Load8U, I32Load16S, I32Load16U,
        I64Load8S, I64Load8U, I64Load16S, I64Load16U, I64Load32S, I64Load32U,
    ],
    store: [I32Store, I64Store, F32Store, F64Store, I32Store8, I32Store16, I64Store8, I64Store16, I64Store32],
    branch_cmp: [BrI32Eq, BrI32Ne, BrI32LtS, BrI32LtU, BrI32GtS, BrI32GtU, BrI32LeS, BrI32LeU, BrI32GeS, BrI32GeU],
    with_dst: {
        /// `select`: `dst = cond != 0 ? a : b`; `b` is in the following `Aux`.
        Select { dst: Slot, cond: Slot, a: Slot },
        /// `global.get`.
        GlobalGet { dst: Slot, global: u32 },
        /// `memory.size` of memory `mem`, in pages.
        MemorySize { dst: Slot, mem: u32 },
        /// `memory.grow` of memory `mem` by `delta` pages; old size or -1.
        MemoryGrow { dst: Slot, delta: Slot, mem: u32 },
        /// `table.get`.
        TableGet { dst: Slot, index: Slot, table: u32 },
        /// `table.size`.
        TableSize { dst: Slot, table: u32 },
        /// `table.grow` by `delta` elements of `init`; table in `Aux.a`.
        TableGrow { dst: Slot, init: Slot, delta: Slot },
        /// `ref.func`: the function's `VMFuncRef` pointer.
        RefFunc { dst: Slot, func: u32 },
        /// `dst = a op imm`; for i64 kinds `imm` is sign-extended.
        BinaryImm { dst: Slot, a: Slot, imm: u32, kind: BinKind },
    }
    other: {
        /// `unreachable`: traps.
        Unreachable,
        /// Operand words of the preceding instruction.
        Aux { a: u32, b: u32, c: u32 },
        /// Jump.
        Br { target: u32 },
        /// Jump if `cond != 0`.
        BrIfNez { cond: Slot, target: u32 },
        /// Jump if `cond == 0`.
        BrIfEqz { cond: Slot, target: u32 },
        /// Fused compare and branch on two slots (any compare kind).
        BrCmp { a: Slot, b: Slot, target: u32, kind: BinKind },
        /// Fused compare and branch on a slot and an immediate
        /// (sign-extended for i64 kinds).
        BrCmpImm { a: Slot, imm: u32, target: u32, kind: BinKind },
        /// `br_table`: followed by `len + 1` `Br` entries; jumps to entry
        /// `min(index, len)`.
        BrTable { index: Slot, len: u32 },
        /// A loop header: back-edges jump here; charges the hotness count.
        LoopHeader,
        /// Return without results.
        Return0,
        /// Return one result from `src`.
        Return1 { src: Slot },
        /// Return `n` results from `src ..`.
        ReturnN { src: Slot, n: u32 },
        /// Call function `func` with arguments (and then results) at `args ..`.
        Call { func: u32, args: Slot },
        /// `call_indirect` of type `ty` through table `Aux.a` at `index`.
        CallIndirect { ty: u32, index: Slot, args: Slot },
        /// `global.set`.
        GlobalSet { global: u32, src: Slot },
        /// `table.set`.
        TableSet { table: u32, index: Slot, src: Slot },
        /// `memory.fill(dst, val, len)` on memory `Aux.a`.
        MemoryFill { dst: Slot, val: Slot, len: Slot },
        /// `memory.copy(dst, src, len)` from memory `Aux.b` to `Aux.a`.
        MemoryCopy { dst: Slot, src: Slot, len: Slot },
        /// `memory.init(dst, src, len)` of segment `Aux.b` into memory `Aux.a`.
        MemoryInit { dst: Slot, src: Slot, len: Slot },
        /// `data.drop`.
        DataDrop { data: u32 },
        /// `table.fill(i, val, n)` on table `Aux.a`.
        TableFill { index: Slot, val: Slot, len: Slot },
        /// `table.copy(dst, src, len)` from table `Aux.b` to `Aux.a`.
        TableCopy { dst: Slot, src: Slot, len: Slot },
        /// `table.init(dst, src, len)` of segment `Aux.b` into table `Aux.a`.
        TableInit { dst: Slot, src: Slot, len: Slot },
        /// `elem.drop`.
        ElemDrop { elem: u32 },
    }
}

/// Binary operations that have an immediate-operand form (`BinaryImm`,
/// and for comparisons `BrCmp`/`BrCmpImm`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum BinKind {
    I32Add,
    I32Sub,
    I32Mul,
    I32And,
    I32Or,
    I32Xor,
    I32Shl,
    I32ShrS,
    I32ShrU,
    I32Rotl,
    I32Rotr,
    I32Eq,
    I32Ne,
    I32LtS,
    I32LtU,
    I32GtS,
    I32GtU,
    I32LeS,
    I32LeU,
    I32GeS,
    I32GeU,
    I64Add,
    I64Sub,
    I64Mul,
    I64And,
    I64Or,
    I64Xor,
    I64Shl,
    I64ShrS,
    I64ShrU,
    I64Rotl,
    I64Rotr,
    I64Eq,
    I64Ne,
    I64LtS,
    I64LtU,
    I64GtS,
    I64GtU,
    I64LeS,
    I64LeU,
    I64GeS,
    I64GeU,
}

impl BinKind {
    /// Whether the operands may be swapped.
    pub fn commutative(self) -> bool {
        use BinKind::*;
        matches!(
            self,
            I32Add
                | I32Mul
                | I32And
                | I32Or
                | I32Xor
                | I32Eq
                | I32Ne
                | I64Add
                | I64Mul
                | I64And
                | I64Or
                | I64Xor
                | I64Eq
                | I64Ne
        )
    }

    /// Whether the right operand is 64 bits wide (its immediate form holds
    /// a sign-extended 32-bit value).
    pub fn wide(self) -> bool {
        self as u8 >= BinKind::I64Add as u8
    }

    /// For a comparison, the comparison with the opposite outcome.
    pub fn negate(self) -> Option<BinKind> {
        use BinKind::*;
        Some(match self {
            I32Eq => I32Ne,
            I32Ne => I32Eq,
            I32LtS => I32GeS,
            I32GeS => I32LtS,
            I32LtU => I32GeU,
            I32GeU => I32LtU,
            I32GtS => I32LeS,
            I32LeS => I32GtS,
            I32GtU => I32LeU,
            I32LeU => I32GtU,
            I64Eq => I64Ne,
            I64Ne => I64Eq,
            I64LtS => I64GeS,
            I64GeS => I64LtS,
            I64LtU => I64GeU,
            I64GeU => I64LtU,
            I64GtS => I64LeS,
            I64LeS => I64GtS,
            I64GtU => I64LeU,
            I64LeU => I64GtU,
            _ => return None,
        })
    }
}

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
