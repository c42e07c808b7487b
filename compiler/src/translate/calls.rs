//! `call` and `call_indirect`.
//!
//! Every call goes through a funcref (`VMFuncRef`), so interpreted, compiled
//! and host callees look alike and a tier-up only swaps the funcref's
//! entries:
//!
//! * `call f`: `funcref = func_ptrs[f]`; `call_indirect(funcref.wasm_call,
//!   funcref.vmctx, own vmctx, args…)`. The runtime guarantees `wasm_call`
//!   is never null (interpreted and host functions get a trampoline).
//!   With `CompilerOptions::direct_calls`, a call of a defined function is
//!   a direct `call` linked by the loader, with the caller's vmctx.
//! * `call_indirect (type ty) table t`: `index >= current_elements` traps
//!   `UndefinedElement`; a null element traps `UninitializedElement`;
//!   `funcref.type_index != header.type_ids[ty]` traps `BadSignature`.

use super::FuncTranslator;
use crate::env;
use crate::CompileError;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData, Value};
use kiln_aot_format::TrapCode;
use wasmparser::Operator;

impl<'a, 'm> FuncTranslator<'a, 'm> {
    /// The imported wasm-call signature of type `ty` (cached).
    fn signature(&mut self, ty: u32) -> Result<ir::SigRef, CompileError> {
        if let Some(s) = self.sigs.get(&ty) {
            return Ok(*s);
        }
        let fty = self.env.module.types.get(ty as usize).ok_or_else(|| CompileError::Codegen(format!("no type {ty}")))?;
        let sig = env::wasm_signature(self.env.ptr, fty)?;
        let s = self.b.import_signature(sig);
        self.sigs.insert(ty, s);
        Ok(s)
    }

    /// Calls through `funcref` (non-null) with signature `ty`, popping the
    /// arguments and pushing the results.
    fn call_funcref(&mut self, funcref: Value, ty: u32) -> Result<(), CompileError> {
        let sig = self.signature(ty)?;
        let nparams = self.env.module.types[ty as usize].params.len();
        let l = self.env.offsets.func_ref;
        // `wasm_call` changes on tier-up: not readonly. `vmctx` never changes.
        let code = self.b.ins().load(self.env.ptr, self.env.vm(), funcref, l.wasm_call as i32);
        // Not `can_move`: for `call_indirect` these loads must stay below
        // the null check (a hoisted load of a null funcref would fault).
        let fixed = MemFlagsData::trusted().with_readonly().with_alias_region(Some(self.env.regions.vm));
        let callee_vmctx = self.b.ins().load(self.env.ptr, fixed, funcref, l.vmctx as i32);
        let mut args = Vec::with_capacity(nparams + 2);
        args.push(callee_vmctx);
        args.push(self.vmctx);
        args.extend(self.popn(nparams)?);
        let call = self.b.ins().call_indirect(sig, code, &args);
        let results = self.b.inst_results(call).to_vec();
        self.stack.extend(results);
        self.reload_epoch_deadline()
    }

    /// Calls defined function `def` of this module directly (a colocated,
    /// PC-relative call the loader links; see
    /// [`crate::CompilerOptions::direct_calls`]): the callee's vmctx is
    /// this function's, as both belong to the same instance.
    fn call_direct(&mut self, def: u32, ty: u32) -> Result<(), CompileError> {
        let sig = self.signature(ty)?;
        let nparams = self.env.module.types[ty as usize].params.len();
        let name = self.b.func.declare_imported_user_function(ir::UserExternalName::new(crate::DIRECT_CALL_NAMESPACE, def));
        let callee = self.b.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature: sig,
            colocated: true,
            patchable: false,
        });
        let mut args = Vec::with_capacity(nparams + 2);
        args.push(self.vmctx);
        args.push(self.vmctx);
        args.extend(self.popn(nparams)?);
        let call = self.b.ins().call(callee, &args);
        let results = self.b.inst_results(call).to_vec();
        self.stack.extend(results);
        self.reload_epoch_deadline()
    }

    /// Call operators; `Ok(false)` if `op` is not one.
    pub(crate) fn call_op(&mut self, op: &Operator) -> Result<bool, CompileError> {
        match *op {
            Operator::Call { function_index } => {
                let ty = self
                    .env
                    .module
                    .functions
                    .get(function_index as usize)
                    .ok_or_else(|| CompileError::Codegen(format!("no function {function_index}")))?
                    .as_u32();
                let imported = self.env.module.num_imported_funcs;
                if self.opts.direct_calls && function_index >= imported {
                    self.call_direct(function_index - imported, ty)?;
                } else {
                    let funcref = self.env.func_ref(&mut self.b, self.vmctx, function_index)?;
                    self.call_funcref(funcref, ty)?;
                }
            }
            Operator::CallIndirect { type_index, table_index } => {
                let index = self.pop()?;
                let addr = self.table_elem_addr(table_index, index, TrapCode::UndefinedElement)?;
                let funcref = self.b.ins().load(self.env.ptr, self.env.table_flags(), addr, 0);
                self.trapz(funcref, TrapCode::UninitializedElement);
                let fixed = MemFlagsData::trusted().with_readonly().with_alias_region(Some(self.env.regions.vm));
                let actual = self.b.ins().load(types::I32, fixed, funcref, self.env.offsets.func_ref.type_index as i32);
                let expected = self.env.type_id(&mut self.b, self.vmctx, type_index)?;
                let mismatch = self.b.ins().icmp(IntCC::NotEqual, actual, expected);
                self.trapnz(mismatch, TrapCode::BadSignature);
                self.call_funcref(funcref, type_index)?;
            }
            Operator::ReturnCall { .. } | Operator::ReturnCallIndirect { .. } => {
                return Err(CompileError::Unsupported("tail calls (return_call*)".into()));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
