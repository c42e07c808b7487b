//! Linear-memory operators: loads, stores, `memory.size`/`grow`, and bulk
//! memory (`fill`, `copy`, `init`, `data.drop`).
//!
//! Addresses and bounds checks come from `bounds.rs`. `memory.size` is
//! inline (`current_length >> 16`); everything that may resize memory or
//! touch many bytes calls a builtin (`kiln_environ::builtins`), whose
//! nonzero status becomes a trap with that kiln trap code.

use super::FuncTranslator;
use crate::CompileError;
use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Opcode, types};
use kiln_environ::builtins::BuiltinIndex;
use wasmparser::{MemArg, MemArgTarget, Operator};

/// The memory a `MemArg` addresses (GC array targets are not wasm 2.0).
fn mem_index(memarg: &MemArg) -> Result<u32, CompileError> {
    match memarg.target {
        MemArgTarget::Memory(m) => Ok(m),
        other => Err(CompileError::Unsupported(format!("memory access target {other:?}"))),
    }
}

/// How a load extends its value.
#[derive(Clone, Copy)]
enum Ext {
    None,
    S,
    U,
}

impl<'a, 'm> FuncTranslator<'a, 'm> {
    /// `result_ty` load of `size` bytes, extended per `ext`.
    fn load(&mut self, memarg: &MemArg, result_ty: types::Type, size: u32, ext: Ext) -> Result<(), CompileError> {
        let index = self.pop()?;
        let (addr, flags) = self.heap_addr(mem_index(memarg)?, index, memarg.offset, size)?;
        let ins = self.b.ins();
        let v = match (ext, size) {
            (Ext::None, _) => ins.load(result_ty, flags, addr, 0),
            (Ext::S, 1) => ins.sload8(result_ty, flags, addr, 0),
            (Ext::U, 1) => ins.uload8(result_ty, flags, addr, 0),
            (Ext::S, 2) => ins.sload16(result_ty, flags, addr, 0),
            (Ext::U, 2) => ins.uload16(result_ty, flags, addr, 0),
            (Ext::S, 4) => ins.sload32(flags, addr, 0),
            (Ext::U, 4) => ins.uload32(flags, addr, 0),
            _ => return Err(CompileError::Codegen(format!("bad load size {size}"))),
        };
        self.push(v);
        Ok(())
    }

    /// Store of the low `size` bytes of the popped value.
    fn store(&mut self, memarg: &MemArg, size: u32, narrow: bool) -> Result<(), CompileError> {
        let (index, value) = self.pop2()?;
        let (addr, flags) = self.heap_addr(mem_index(memarg)?, index, memarg.offset, size)?;
        let op = match (narrow, size) {
            (false, _) => Opcode::Store,
            (true, 1) => Opcode::Istore8,
            (true, 2) => Opcode::Istore16,
            (true, 4) => Opcode::Istore32,
            _ => return Err(CompileError::Codegen(format!("bad store size {size}"))),
        };
        let ins = self.b.ins();
        match op {
            Opcode::Store => ins.store(flags, value, addr, 0),
            Opcode::Istore8 => ins.istore8(flags, value, addr, 0),
            Opcode::Istore16 => ins.istore16(flags, value, addr, 0),
            _ => ins.istore32(flags, value, addr, 0),
        };
        Ok(())
    }

    /// Calls a status-returning builtin and traps on a nonzero status.
    pub(crate) fn call_checked_builtin(
        &mut self,
        index: BuiltinIndex,
        args: &[cranelift_codegen::ir::Value],
    ) -> Result<(), CompileError> {
        let status = self
            .env
            .call_builtin(&mut self.b, self.vmctx, index, args)?
            .ok_or_else(|| CompileError::Codegen(format!("builtin {} returns no status", index.builtin().name)))?;
        self.trap_on_status(status);
        Ok(())
    }

    /// Memory operators; `Ok(false)` if `op` is not one.
    pub(crate) fn memory_op(&mut self, op: &Operator) -> Result<bool, CompileError> {
        use Operator as O;
        match op {
            O::I32Load { memarg } => self.load(memarg, I32, 4, Ext::None)?,
            O::I64Load { memarg } => self.load(memarg, I64, 8, Ext::None)?,
            O::F32Load { memarg } => self.load(memarg, F32, 4, Ext::None)?,
            O::F64Load { memarg } => self.load(memarg, F64, 8, Ext::None)?,
            O::I32Load8S { memarg } => self.load(memarg, I32, 1, Ext::S)?,
            O::I32Load8U { memarg } => self.load(memarg, I32, 1, Ext::U)?,
            O::I32Load16S { memarg } => self.load(memarg, I32, 2, Ext::S)?,
            O::I32Load16U { memarg } => self.load(memarg, I32, 2, Ext::U)?,
            O::I64Load8S { memarg } => self.load(memarg, I64, 1, Ext::S)?,
            O::I64Load8U { memarg } => self.load(memarg, I64, 1, Ext::U)?,
            O::I64Load16S { memarg } => self.load(memarg, I64, 2, Ext::S)?,
            O::I64Load16U { memarg } => self.load(memarg, I64, 2, Ext::U)?,
            O::I64Load32S { memarg } => self.load(memarg, I64, 4, Ext::S)?,
            O::I64Load32U { memarg } => self.load(memarg, I64, 4, Ext::U)?,
            O::I32Store { memarg } | O::F32Store { memarg } => self.store(memarg, 4, false)?,
            O::I64Store { memarg } | O::F64Store { memarg } => self.store(memarg, 8, false)?,
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(memarg, 1, true)?,
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(memarg, 2, true)?,
            O::I64Store32 { memarg } => self.store(memarg, 4, true)?,
            O::MemorySize { mem } => {
                let len = self.env.memory_len(&mut self.b, self.vmctx, *mem)?;
                let pages = self.b.ins().ushr_imm_u(len, 16);
                let v = self.ptr_to_i32(pages);
                self.push(v);
            }
            O::MemoryGrow { mem } => {
                let delta = self.pop()?;
                let m = self.b.ins().iconst(I32, i64::from(*mem));
                let v = self
                    .env
                    .call_builtin(&mut self.b, self.vmctx, BuiltinIndex::memory_grow, &[m, delta])?
                    .ok_or_else(|| CompileError::Codegen("memory_grow returns nothing".into()))?;
                self.push(v);
            }
            O::MemoryFill { mem } => {
                let (dst, val, len) = self.pop3()?;
                let m = self.b.ins().iconst(I32, i64::from(*mem));
                self.call_checked_builtin(BuiltinIndex::memory_fill, &[m, dst, val, len])?;
            }
            O::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.pop3()?;
                let d = self.b.ins().iconst(I32, i64::from(*dst_mem));
                let s = self.b.ins().iconst(I32, i64::from(*src_mem));
                self.call_checked_builtin(BuiltinIndex::memory_copy, &[d, s, dst, src, len])?;
            }
            O::MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.pop3()?;
                let m = self.b.ins().iconst(I32, i64::from(*mem));
                let d = self.b.ins().iconst(I32, i64::from(*data_index));
                self.call_checked_builtin(BuiltinIndex::memory_init, &[m, d, dst, src, len])?;
            }
            O::DataDrop { data_index } => {
                let d = self.b.ins().iconst(I32, i64::from(*data_index));
                self.env.call_builtin(&mut self.b, self.vmctx, BuiltinIndex::data_drop, &[d])?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
