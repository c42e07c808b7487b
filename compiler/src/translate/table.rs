//! Table and reference operators.
//!
//! `table.get`/`table.set`/`table.size`, `ref.null`, `ref.is_null` and
//! `ref.func` are inline: a table is a `VMTableDefinition { base,
//! current_elements }` of pointer-sized elements (null = 0); an index
//! `>= current_elements` traps with `TableOutOfBounds`. `table.grow`,
//! `fill`, `copy`, `init` and `elem.drop` call builtins.

use super::FuncTranslator;
use crate::CompileError;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I32;
use cranelift_codegen::ir::{InstBuilder, Value};
use kiln_environ::TrapCode;
use kiln_environ::builtins::BuiltinIndex;
use wasmparser::Operator;

impl<'a, 'm> FuncTranslator<'a, 'm> {
    /// Address of element `index` (`I32`) of `table`, trapping with
    /// `code` when `index >= current_elements`.
    pub(crate) fn table_elem_addr(&mut self, table: u32, index: Value, code: TrapCode) -> Result<Value, CompileError> {
        let (base, len) = self.env.table_base_len(&mut self.b, self.vmctx, table)?;
        let index = self.index_to_ptr(index);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.trapnz(oob, code);
        let shift = self.env.ptr.bytes().trailing_zeros();
        let scaled = self.b.ins().ishl_imm_u(index, i64::from(shift));
        Ok(self.b.ins().iadd(base, scaled))
    }

    /// Table and reference operators; `Ok(false)` if `op` is not one.
    pub(crate) fn table_op(&mut self, op: &Operator) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::RefNull { .. } => {
                let v = self.b.ins().iconst(self.env.ptr, 0);
                self.push(v);
            }
            O::RefIsNull => {
                let r = self.pop()?;
                let c = self.b.ins().icmp_imm_u(IntCC::Equal, r, 0);
                let v = self.b.ins().uextend(I32, c);
                self.push(v);
            }
            O::RefFunc { function_index } => {
                let v = self.env.func_ref(&mut self.b, self.vmctx, function_index)?;
                self.push(v);
            }
            O::TableGet { table } => {
                let index = self.pop()?;
                let addr = self.table_elem_addr(table, index, TrapCode::TableOutOfBounds)?;
                let v = self.b.ins().load(self.env.ptr, self.env.table_flags(), addr, 0);
                self.push(v);
            }
            O::TableSet { table } => {
                let (index, value) = self.pop2()?;
                let addr = self.table_elem_addr(table, index, TrapCode::TableOutOfBounds)?;
                self.b.ins().store(self.env.table_flags(), value, addr, 0);
            }
            O::TableSize { table } => {
                let len = self.env.table_len(&mut self.b, self.vmctx, table)?;
                let v = self.ptr_to_i32(len);
                self.push(v);
            }
            O::TableGrow { table } => {
                let (init, delta) = self.pop2()?;
                let t = self.b.ins().iconst(I32, i64::from(table));
                let v = self
                    .env
                    .call_builtin(&mut self.b, self.vmctx, BuiltinIndex::table_grow, &[t, delta, init])?
                    .ok_or_else(|| CompileError::Codegen("table_grow returns nothing".into()))?;
                self.push(v);
            }
            O::TableFill { table } => {
                let (dst, val, len) = self.pop3()?;
                let t = self.b.ins().iconst(I32, i64::from(table));
                self.call_checked_builtin(BuiltinIndex::table_fill, &[t, dst, val, len])?;
            }
            O::TableCopy { dst_table, src_table } => {
                let (dst, src, len) = self.pop3()?;
                let d = self.b.ins().iconst(I32, i64::from(dst_table));
                let s = self.b.ins().iconst(I32, i64::from(src_table));
                self.call_checked_builtin(BuiltinIndex::table_copy, &[d, s, dst, src, len])?;
            }
            O::TableInit { elem_index, table } => {
                let (dst, src, len) = self.pop3()?;
                let t = self.b.ins().iconst(I32, i64::from(table));
                let e = self.b.ins().iconst(I32, i64::from(elem_index));
                self.call_checked_builtin(BuiltinIndex::table_init, &[t, e, dst, src, len])?;
            }
            O::ElemDrop { elem_index } => {
                let e = self.b.ins().iconst(I32, i64::from(elem_index));
                self.env.call_builtin(&mut self.b, self.vmctx, BuiltinIndex::elem_drop, &[e])?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
