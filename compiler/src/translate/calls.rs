//! `call` and `call_indirect`.
//!
//! Every call goes through a funcref (`VMFuncRef`), so interpreted, compiled
//! and host callees look alike and a tier-up only swaps the funcref's
//! entries:
//!
//! * `call f`: `funcref = func_ptrs[f]` (for a defined function, the
//!   funcref's fixed place in the own VMContext); `call_indirect(entry,
//!   funcref, own vmctx, args…)` (the wasm-call ABI, `env::wasm_signature`)
//!   where `entry = funcref.wasm_call`, or — while that is null, i.e. the
//!   callee is still interpreted (tiered mode) — the wasm→array trampoline
//!   of the callee's type, which enters the callee through its
//!   `array_call`. The trampoline's address is a relocation
//!   ([`crate::RelocTarget::Trampoline`]) the loader resolves.
//!   With `CompilerOptions::direct_calls`, a call of a defined function is
//!   a direct `call` linked by the loader.
//! * `call_indirect (type ty) table t`: `index >= current_elements` traps
//!   `UndefinedElement`; a null element traps `UninitializedElement`;
//!   `funcref.type_index != header.type_ids[ty]` traps `BadSignature`.

use super::FuncTranslator;
use crate::CompileError;
use crate::env;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Value, types};

use kiln_environ::TrapCode;
use wasmparser::Operator;

impl<'a, 'm> FuncTranslator<'a, 'm> {
    /// The imported wasm-call signature of type `ty` (cached).
    fn signature(&mut self, ty: u32) -> Result<ir::SigRef, CompileError> {
        if let Some(s) = self.sigs.get(&ty) {
            return Ok(*s);
        }
        let fty =
            self.env.module.types.get(ty as usize).ok_or_else(|| CompileError::Codegen(format!("no type {ty}")))?;
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
        // `wasm_call` changes on tier-up: not readonly. Not `can_move`
        // either: for `call_indirect` it must stay below the null check (a
        // hoisted load of a null funcref would fault).
        let code = self.b.ins().load(self.env.ptr, self.env.vm(), funcref, l.wasm_call as i32);
        let tramp = self.trampoline_addr(ty);
        let code = self.b.ins().select(code, code, tramp);
        let mut args = Vec::with_capacity(nparams + 2);
        args.push(funcref);
        args.push(self.vmctx);
        args.extend(self.popn(nparams)?);
        let call = self.b.ins().call_indirect(sig, code, &args);
        let results = self.b.inst_results(call).to_vec();
        self.stack.extend(results);
        self.reload_epoch_deadline()
    }

    /// The address of the wasm→array trampoline for type `ty` (a symbol the
    /// loader resolves, one per type and function).
    fn trampoline_addr(&mut self, ty: u32) -> Value {
        let gv = match self.tramp_gvs.get(&ty) {
            Some(gv) => *gv,
            None => {
                let name = self
                    .b
                    .func
                    .declare_imported_user_function(ir::UserExternalName::new(crate::TRAMPOLINE_NAMESPACE, ty));
                let gv = self.b.create_global_value(ir::GlobalValueData::Symbol {
                    name: ir::ExternalName::User(name),
                    offset: 0.into(),
                    colocated: self.opts.trampolines_in_image,
                    tls: false,
                });
                self.tramp_gvs.insert(ty, gv);
                gv
            }
        };
        self.b.ins().symbol_value(self.env.ptr, gv)
    }

    /// Calls defined function `def` of this module directly (a colocated,
    /// PC-relative call the loader links; see
    /// [`crate::CompilerOptions::direct_calls`]), passing the callee's
    /// funcref (inside this instance's VMContext).
    fn call_direct(&mut self, def: u32, ty: u32) -> Result<(), CompileError> {
        let sig = self.signature(ty)?;
        let nparams = self.env.module.types[ty as usize].params.len();
        let name =
            self.b.func.declare_imported_user_function(ir::UserExternalName::new(crate::DIRECT_CALL_NAMESPACE, def));
        let callee = self.b.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature: sig,
            colocated: true,
            patchable: false,
        });
        let funcref = self.b.ins().iadd_imm_s(self.vmctx, self.env.offsets.func_ref(def) as i64);
        let mut args = Vec::with_capacity(nparams + 2);
        args.push(funcref);
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
                } else if function_index >= imported {
                    // A defined function's funcref has a fixed place.
                    let off = self.env.offsets.func_ref(function_index - imported);
                    let funcref = self.b.ins().iadd_imm_s(self.vmctx, off as i64);
                    self.call_funcref(funcref, ty)?;
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
