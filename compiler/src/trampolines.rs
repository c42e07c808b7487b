//! Per-signature trampolines between the array-call ABI and the wasm-call
//! ABI, generated with Cranelift (so that they agree with the translator's
//! code on every detail of `CallConv::Tail`, including the implicit return
//! area of multi-value results).
//!
//! * **array → wasm** ([`Compiler::compile_array_to_wasm_trampoline`]):
//!   the host (or the interpreter) calls a compiled function through its
//!   `VMFuncRef::array_call` entry. Signature: the target's default C
//!   calling convention (System V on x86-64 Linux, AAPCS64 on aarch64),
//!   exactly [`VMArrayCallFn`](kiln_environ::vm::VMArrayCallFn):
//!   `(callee: *const VMFuncRef, caller_vmctx, args: *mut ValRaw,
//!   args_len: usize) -> bool` (`bool` = `I8`, 0 or 1).
//! * **wasm → array** ([`Compiler::compile_wasm_to_array_trampoline`]):
//!   the `wasm_call` entry of a function that only has an array-call entry
//!   (host functions), and what compiled code calls instead of a null
//!   `wasm_call` (a function still interpreted). Signature: kiln's
//!   wasm-call ABI for the type, whose first argument is the callee's
//!   funcref — exactly the `*const VMFuncRef` the array call needs.
//!   When the array call returns `false`, the trampoline calls the `raise`
//!   builtin (through the caller's `VMContextHeader::builtins`), which
//!   unwinds to the host entry with the store's pending error; should
//!   `raise` ever return, the trampoline traps with
//!   [`TrapCode::InternalError`] rather than hand garbage results to wasm.
//!
//! Value slots follow [`ValRaw`](kiln_environ::vm::ValRaw): 8 bytes
//! each, little-endian, `i32`/`f32` bits zero-extended, references
//! pointer-sized zero-extended, a `v128` in two consecutive slots (not
//! translated yet: types with `v128` are rejected as unsupported).
//! The slots of the array ABI are written by the host: their memory
//! accesses are `notrap + aligned` (trusted) with explicit little-endian
//! byte order.

use crate::env;
use crate::{CompileError, Compiler, trap_code_to_cranelift};
use cranelift_codegen::ir::{
    self, AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, UserFuncName, Value, types,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_aot_format::compiled::{CodeKind, CompiledCode};
use kiln_environ::builtins::BuiltinIndex;
use kiln_environ::vm::{VMContextHeaderLayout, VMFuncRefLayout};
use kiln_environ::{PtrSize, TrapCode, WasmFuncType, WasmValType};

/// Size of one [`ValRaw`](kiln_environ::vm::ValRaw) slot in bytes.
const SLOT: u32 = 8;

/// Number of `ValRaw` slots a value of type `ty` takes.
fn slots_of(ty: WasmValType) -> u32 {
    if ty == WasmValType::V128 { 2 } else { 1 }
}

/// Byte offset of each value's first slot, and the total slot count.
fn slot_offsets(tys: &[WasmValType]) -> (Vec<i32>, u32) {
    let mut at = 0u32;
    let offs = tys
        .iter()
        .map(|t| {
            let o = at * SLOT;
            at += slots_of(*t);
            o as i32
        })
        .collect();
    (offs, at)
}

/// Flags for `ValRaw` slots: trusted, little-endian.
fn slot_flags() -> MemFlagsData {
    MemFlagsData::trusted().with_endianness(ir::Endianness::Little)
}

/// Loads a value of Cranelift type `ty` from the slot at `base + off`
/// (the low bytes of the little-endian slot).
fn load_slot(b: &mut FunctionBuilder, ty: ir::Type, base: Value, off: i32) -> Value {
    b.ins().load(ty, slot_flags(), base, off)
}

/// Stores `v` (Cranelift type `ty`) as a full 8-byte slot at `base + off`:
/// integers narrower than 64 bits are zero-extended, `f32` is stored as
/// its zero-extended bits, `f64` as its bits.
fn store_slot(b: &mut FunctionBuilder, ty: ir::Type, v: Value, base: Value, off: i32) {
    let v = match ty {
        types::F32 => {
            let bits = b.ins().bitcast(types::I32, MemFlagsData::new(), v);
            b.ins().uextend(types::I64, bits)
        }
        types::F64 => v,
        t if t.is_int() && t.bits() < 64 => b.ins().uextend(types::I64, v),
        _ => v,
    };
    b.ins().store(slot_flags(), v, base, off);
}

/// Cranelift types of `tys` (errors on `v128`).
fn cl_types(ptr: ir::Type, tys: &[WasmValType]) -> Result<Vec<ir::Type>, CompileError> {
    tys.iter().map(|t| env::val_type(ptr, *t)).collect()
}

/// Offset within the table of builtin `index` as an `i32`.
fn builtin_offset(ptr: PtrSize, index: BuiltinIndex) -> i32 {
    (index.0 * ptr.0 as u32) as i32
}

impl Compiler {
    /// The Cranelift signature of the array-call ABI
    /// ([`VMArrayCallFn`](kiln_environ::vm::VMArrayCallFn)) on this
    /// target: the ISA's default C calling convention, `(callee: ptr,
    /// caller_vmctx: ptr, args: ptr, args_len: ptr) -> i8`.
    pub fn array_call_signature(&self) -> Signature {
        let isa = self.isa();
        let ptr = isa.pointer_type();
        let mut sig = Signature::new(isa.default_call_conv());
        sig.params.extend([AbiParam::new(ptr); 4]);
        sig.returns.push(AbiParam::new(types::I8));
        sig
    }

    /// Compiles the host→wasm trampoline for functions of type `ty`: a
    /// function with the array-call ABI
    /// ([`VMArrayCallFn`](kiln_environ::vm::VMArrayCallFn), the target's
    /// default C calling convention) that loads each parameter from its
    /// `ValRaw` slot in `args`, calls `callee.wasm_call` with
    /// `(callee, caller_vmctx, params…)` under the wasm-call ABI,
    /// stores the results into the slots from index 0 and returns `true`.
    ///
    /// `args` must hold at least `max(param slots, result slots)` slots;
    /// `args_len` is not checked (the runtime sizes the buffer from the
    /// type). Traps inside the callee are delivered by the runtime's
    /// signal handlers and never return here. The runtime sets
    /// `VMStoreContext::stack_limit` before entering.
    ///
    /// `type_index` is the module type the trampoline is for
    /// ([`CompiledCode::index`]); the code depends only on `ty`.
    ///
    /// # Errors
    /// [`CompileError::Unsupported`] for a type with `v128`;
    /// [`CompileError::Codegen`] if Cranelift fails.
    pub fn compile_array_to_wasm_trampoline(
        &self,
        ty: &WasmFuncType,
        type_index: u32,
    ) -> Result<CompiledCode<'static>, CompileError> {
        let isa = self.isa();
        let ptr = isa.pointer_type();
        let fref = VMFuncRefLayout::for_target(PtrSize(isa.pointer_bytes()));
        let wasm_sig = self.wasm_signature(ty)?;
        let params = cl_types(ptr, &ty.params)?;
        let results = cl_types(ptr, &ty.results)?;
        let (param_offs, _) = slot_offsets(&ty.params);
        let (result_offs, _) = slot_offsets(&ty.results);

        let mut func = ir::Function::with_name_signature(UserFuncName::user(2, 0), self.array_call_signature());
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let p = b.block_params(entry).to_vec();
        let (callee, caller_vmctx, args) = (p[0], p[1], p[2]);

        // The entry's stack limit and trap landing are set up by the
        // runtime's caller (`native_array_call`), not here.

        // `wasm_call` changes on tier-up (plain trusted load); the callee
        // gets its own funcref (the wasm-call ABI).
        let code = b.ins().load(ptr, MemFlagsData::trusted(), callee, fref.wasm_call as i32);
        let mut call_args = Vec::with_capacity(params.len() + 2);
        call_args.push(callee);
        call_args.push(caller_vmctx);
        for (t, off) in params.iter().zip(&param_offs) {
            call_args.push(load_slot(&mut b, *t, args, *off));
        }
        let sig = b.import_signature(wasm_sig);
        let call = b.ins().call_indirect(sig, code, &call_args);
        let rets = b.inst_results(call).to_vec();
        for ((v, t), off) in rets.into_iter().zip(&results).zip(&result_offs) {
            store_slot(&mut b, *t, v, args, *off);
        }
        let ok = b.ins().iconst(types::I8, 1);
        b.ins().return_(&[ok]);
        b.finalize(isa.frontend_config());
        self.compile_ir(func, CodeKind::ArrayToWasm, type_index)
    }

    /// Compiles the wasm→array trampoline for functions of type `ty`: a
    /// function with kiln's wasm-call ABI for `ty` (`CallConv::Tail`,
    /// `(callee funcref, caller_vmctx, params…) -> results`) to be stored as
    /// the `wasm_call` of an array-only funcref.
    ///
    /// It stores the parameters into `max(param slots, result slots, 1)`
    /// `ValRaw` slots of an explicit stack slot, calls
    /// `funcref.array_call(funcref, caller_vmctx, slots, n)` (the first
    /// argument of the wasm-call ABI is the callee's funcref), and on
    /// `true` loads and returns the results. On `false` it calls the
    /// `raise` builtin of `caller_vmctx` with its frame pointer (which unwinds to the host entry
    /// with the store's pending error) followed by a trap with
    /// [`TrapCode::InternalError`] that is reached only if `raise` returns.
    /// `type_index` as for [`Compiler::compile_array_to_wasm_trampoline`].
    ///
    /// # Errors
    /// As [`Compiler::compile_array_to_wasm_trampoline`].
    pub fn compile_wasm_to_array_trampoline(
        &self,
        ty: &WasmFuncType,
        type_index: u32,
    ) -> Result<CompiledCode<'static>, CompileError> {
        let isa = self.isa();
        let ptr = isa.pointer_type();
        let ptr_size = PtrSize(isa.pointer_bytes());
        let fref = VMFuncRefLayout::for_target(ptr_size);
        let header = VMContextHeaderLayout::for_target(ptr_size);
        let params = cl_types(ptr, &ty.params)?;
        let results = cl_types(ptr, &ty.results)?;
        let (param_offs, nparam_slots) = slot_offsets(&ty.params);
        let (result_offs, nresult_slots) = slot_offsets(&ty.results);
        let nslots = nparam_slots.max(nresult_slots).max(1);
        let bytes = nslots
            .checked_mul(SLOT)
            .ok_or_else(|| CompileError::Unsupported("too many parameters or results".into()))?;

        let mut func = ir::Function::with_name_signature(UserFuncName::user(3, 0), self.wasm_signature(ty)?);
        let slot = func.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 3));
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let p = b.block_params(entry).to_vec();
        let (funcref, caller_vmctx) = (p[0], p[1]);

        let slots = b.ins().stack_addr(ptr, slot, 0);
        for ((v, t), off) in p[2..].iter().zip(&params).zip(&param_offs) {
            store_slot(&mut b, *t, *v, slots, *off);
        }
        let array_call = b.ins().load(ptr, MemFlagsData::trusted(), funcref, fref.array_call as i32);
        let len = b.ins().iconst(ptr, nslots as i64);
        let sig = b.import_signature(self.array_call_signature());
        let call = b.ins().call_indirect(sig, array_call, &[funcref, caller_vmctx, slots, len]);
        let ok = b.inst_results(call)[0];

        let done = b.create_block();
        let failed = b.create_block();
        b.set_cold_block(failed);
        b.ins().brif(ok, done, &[], failed, &[]);

        b.switch_to_block(done);
        b.seal_block(done);
        let mut rets = Vec::with_capacity(results.len());
        for (t, off) in results.iter().zip(&result_offs) {
            rets.push(load_slot(&mut b, *t, slots, *off));
        }
        b.ins().return_(&rets);

        b.switch_to_block(failed);
        b.seal_block(failed);
        // `raise(caller_vmctx, fp)` through the caller's builtins table,
        // with the target's default C calling convention (see
        // builtins.rs); `fp` is this trampoline's frame pointer, from which
        // the runtime walks the wasm frames for the backtrace.
        let mut raise_sig = Signature::new(isa.default_call_conv());
        raise_sig.params.extend([AbiParam::new(ptr); 2]);
        let raise_sig = b.import_signature(raise_sig);
        let fp = b.ins().get_frame_pointer(ptr);
        let ro = MemFlagsData::trusted().with_readonly();
        let table = b.ins().load(ptr, ro, caller_vmctx, header.builtins as i32);
        let raise = b.ins().load(ptr, ro, table, builtin_offset(ptr_size, BuiltinIndex::raise));
        b.ins().call_indirect(raise_sig, raise, &[caller_vmctx, fp]);
        b.ins().trap(trap_code_to_cranelift(TrapCode::InternalError));
        b.finalize(isa.frontend_config());
        self.compile_ir(func, CodeKind::WasmToArray, type_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots() {
        use WasmValType::*;
        assert_eq!(slot_offsets(&[I32, V128, F64]), (vec![0, 8, 24], 4));
        assert_eq!(slot_offsets(&[]), (vec![], 0));
    }
}
