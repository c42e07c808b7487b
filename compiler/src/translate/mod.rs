//! The translation driver: one wasm function body → one Cranelift function.
//!
//! [`translate_function`] sets up the signature (kiln's wasm-call ABI), the
//! stack-limit global value, the locals and the entry epoch check, then
//! feeds every operator to [`FuncTranslator::op`], which routes it to its
//! family: `control` (block structure and branches, unreachable code),
//! `numeric`, `memory` (with `bounds`), `table` and `calls`.
//!
//! The operand stack holds one Cranelift `Value` per wasm value, of that
//! value's Cranelift type (a future `v128` is one `I8X16` value, not two
//! slots); locals are frontend `Variable`s, so SSA construction is
//! Cranelift's.

use crate::env::{self, Env};
use crate::{CompileError, CompilerOptions};
use cranelift_codegen::ir::{self, types, Block, BlockArg, GlobalValueData, InstBuilder, UserFuncName, Value};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_aot_format::{DefinedFuncIndex, ModuleInfo, TrapCode, WasmValType};
use std::collections::HashMap;
use wasmparser::{BinaryReader, FunctionBody, Operator};

mod bounds;
mod calls;
mod control;
mod memory;
mod numeric;
mod table;

pub(crate) use control::ControlFrame;

/// Per-function translation state. The operator families add methods to
/// it in their own files.
pub(crate) struct FuncTranslator<'a, 'm> {
    pub b: FunctionBuilder<'a>,
    pub env: Env<'m>,
    pub opts: &'a CompilerOptions,
    /// The callee vmctx: this instance's VMContext.
    pub vmctx: Value,
    /// The wasm operand stack.
    pub stack: Vec<Value>,
    /// The control stack; entry 0 is the function body.
    pub control: Vec<ControlFrame>,
    /// Whether the current position is reachable. While not, only the
    /// block structure is tracked (`unreachable_depth`).
    pub reachable: bool,
    /// Blocks opened inside unreachable code, not yet closed.
    pub unreachable_depth: u32,
    /// Locals, parameters first, with their Cranelift type.
    pub locals: Vec<Variable>,
    /// Imported signatures by type index.
    pub sigs: HashMap<u32, ir::SigRef>,
    /// Shared cold block that traps with a dynamic kiln trap code (the
    /// status of a builtin), created on first use.
    pub trap_dispatch: Option<Block>,
    /// The store's epoch deadline, loaded at entry and after every call
    /// (only host code, reached through a call, can change it); `None`
    /// without epoch interruption.
    pub epoch_deadline: Option<Variable>,
}

/// Translates defined function `def` to Cranelift IR.
pub(crate) fn translate_function(
    isa: &dyn TargetIsa,
    opts: &CompilerOptions,
    module: &ModuleInfo,
    wasm: &[u8],
    def: DefinedFuncIndex,
    fctx: &mut FunctionBuilderContext,
) -> Result<ir::Function, CompileError> {
    if let Some(m) = module.memories.iter().find(|m| m.memory64 || m.shared) {
        return Err(CompileError::Unsupported(format!("memory type {m:?} (memory64/shared memories)")));
    }
    if module.tables.iter().any(|t| t.table64) {
        return Err(CompileError::Unsupported("64-bit tables".into()));
    }
    let range = module
        .function_bodies
        .get(def.index())
        .ok_or_else(|| CompileError::Unsupported(format!("no defined function {def}")))?
        .range
        .clone();
    let bytes = wasm
        .get(range.clone())
        .ok_or_else(|| CompileError::Unsupported(format!("body of function {def} is outside the binary")))?;
    let body = FunctionBody::new(BinaryReader::new(bytes, range.start as u64));
    let func_index = module.func_index(def);
    let ty = module
        .functions
        .get(func_index.index())
        .and_then(|t| module.types.get(t.index()))
        .ok_or_else(|| CompileError::Unsupported(format!("function {func_index} has no type")))?;

    let ptr = isa.pointer_type();
    let sig = env::wasm_signature(ptr, ty)?;
    let mut func = ir::Function::with_name_signature(UserFuncName::user(0, func_index.as_u32()), sig);
    let regions = env::Regions::declare(&mut func);
    let env = Env::new(isa, module, regions);

    // Stack limit: vmctx → header.store_context → stack_limit. Cranelift
    // compares sp with it in the prologue and traps with STACK_OVERFLOW.
    let gv_vmctx = func.create_global_value(GlobalValueData::VMContext);
    let ro = func.dfg.mem_flags.insert(env::readonly()).map_err(|_| CompileError::Codegen("memflags overflow".into()))?;
    let gv_store = func.create_global_value(GlobalValueData::Load {
        base: gv_vmctx,
        offset: (env.offsets.header.store_context as i32).into(),
        global_type: ptr,
        flags: ro,
    });
    let gv_limit = func.create_global_value(GlobalValueData::Load {
        base: gv_store,
        offset: (env.store.stack_limit as i32).into(),
        global_type: ptr,
        flags: ro,
    });
    func.stack_limit = Some(gv_limit);

    let mut b = FunctionBuilder::new(&mut func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params: Vec<Value> = b.block_params(entry).to_vec();
    let vmctx = params[0];

    let mut locals = Vec::new();
    for (i, p) in ty.params.iter().enumerate() {
        let var = b.declare_var(env::val_type(ptr, *p)?);
        b.def_var(var, params[i + 2]);
        locals.push(var);
    }
    let mut locals_reader = body.get_locals_reader()?;
    for _ in 0..locals_reader.get_count() {
        let (count, vt) = locals_reader.read()?;
        let wt = WasmValType::from_wasmparser(vt).ok_or_else(|| CompileError::Unsupported(format!("local type {vt:?}")))?;
        let cty = env::val_type(ptr, wt)?;
        let zero = match cty {
            types::F32 => b.ins().f32const(0.0),
            types::F64 => b.ins().f64const(0.0),
            t => b.ins().iconst(t, 0),
        };
        for _ in 0..count {
            let var = b.declare_var(cty);
            b.def_var(var, zero);
            locals.push(var);
        }
    }

    let mut t = FuncTranslator {
        b,
        env,
        opts,
        vmctx,
        stack: Vec::new(),
        control: Vec::new(),
        reachable: true,
        unreachable_depth: 0,
        locals,
        sigs: HashMap::new(),
        trap_dispatch: None,
        epoch_deadline: None,
    };
    if opts.epoch_interruption {
        let var = t.b.declare_var(types::I64);
        t.epoch_deadline = Some(var);
        t.reload_epoch_deadline()?;
    }
    t.epoch_check()?;
    let results: Vec<ir::Type> = ty.results.iter().map(|r| env::val_type(ptr, *r)).collect::<Result<_, _>>()?;
    t.push_function_frame(&results);

    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        let offset = ops.original_position();
        let op = ops.read()?;
        t.op(&op).map_err(|e| match e {
            CompileError::Unsupported(m) => CompileError::Unsupported(format!("{m} (at offset {offset:#x})")),
            e => e,
        })?;
    }
    if !t.control.is_empty() {
        return Err(CompileError::Codegen("function body ended inside a block".into()));
    }
    if t.reachable {
        let n = results.len();
        let vals = t.popn(n)?;
        t.b.ins().return_(&vals);
    }
    t.finish_trap_dispatch();
    t.b.seal_all_blocks();
    t.b.finalize(isa.frontend_config());
    Ok(func)
}

impl<'a, 'm> FuncTranslator<'a, 'm> {
    /// Translates one operator.
    fn op(&mut self, op: &Operator) -> Result<(), CompileError> {
        if !self.reachable {
            return self.unreachable_op(op);
        }
        if self.control_op(op)? || self.numeric_op(op)? || self.memory_op(op)? || self.table_op(op)? || self.call_op(op)? {
            return Ok(());
        }
        Err(CompileError::Unsupported(format!("operator {op:?}")))
    }

    // ----- operand stack -----

    pub fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    pub fn pop(&mut self) -> Result<Value, CompileError> {
        self.stack.pop().ok_or_else(|| CompileError::Codegen("operand stack underflow".into()))
    }

    pub fn pop2(&mut self) -> Result<(Value, Value), CompileError> {
        let b = self.pop()?;
        let a = self.pop()?;
        Ok((a, b))
    }

    pub fn pop3(&mut self) -> Result<(Value, Value, Value), CompileError> {
        let c = self.pop()?;
        let (a, b) = self.pop2()?;
        Ok((a, b, c))
    }

    /// Pops the top `n` values, in stack order.
    pub fn popn(&mut self, n: usize) -> Result<Vec<Value>, CompileError> {
        let at = self.stack.len().checked_sub(n).ok_or_else(|| CompileError::Codegen("operand stack underflow".into()))?;
        Ok(self.stack.split_off(at))
    }

    /// The top `n` values, in stack order, without popping them.
    pub fn peekn(&self, n: usize) -> Result<&[Value], CompileError> {
        let at = self.stack.len().checked_sub(n).ok_or_else(|| CompileError::Codegen("operand stack underflow".into()))?;
        Ok(&self.stack[at..])
    }

    // ----- helpers shared by the families -----

    /// `trap` with a kiln trap code.
    pub fn trap(&mut self, code: TrapCode) {
        self.b.ins().trap(crate::trap_code_to_cranelift(code));
    }

    /// `trapnz cond` with a kiln trap code.
    pub fn trapnz(&mut self, cond: Value, code: TrapCode) {
        self.b.ins().trapnz(cond, crate::trap_code_to_cranelift(code));
    }

    /// `trapz cond` with a kiln trap code.
    pub fn trapz(&mut self, cond: Value, code: TrapCode) {
        self.b.ins().trapz(cond, crate::trap_code_to_cranelift(code));
    }

    /// Traps with the kiln trap code `status` (an `I32` holding a
    /// `TrapCode` byte) unless it is 0. The trap itself happens in one
    /// shared cold block per function that switches on the status.
    pub fn trap_on_status(&mut self, status: Value) {
        let dispatch = match self.trap_dispatch {
            Some(b) => b,
            None => {
                let b = self.b.create_block();
                self.b.append_block_param(b, types::I32);
                self.b.set_cold_block(b);
                self.trap_dispatch = Some(b);
                b
            }
        };
        let cont = self.b.create_block();
        self.b.ins().brif(status, dispatch, &[BlockArg::Value(status)], cont, &[]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    fn finish_trap_dispatch(&mut self) {
        let Some(dispatch) = self.trap_dispatch else { return };
        self.b.switch_to_block(dispatch);
        let status = self.b.block_params(dispatch)[0];
        let internal = self.trap_block(TrapCode::InternalError);
        let mut targets = Vec::with_capacity(TrapCode::ALL.len() + 1);
        targets.push(internal);
        for code in TrapCode::ALL {
            let blk = if code == TrapCode::InternalError { internal } else { self.trap_block(code) };
            targets.push(blk);
        }
        let pool = &mut self.b.func.dfg.value_lists;
        let def = ir::BlockCall::new(internal, [], pool);
        let calls: Vec<ir::BlockCall> = targets.iter().map(|t| ir::BlockCall::new(*t, [], pool)).collect();
        let jt = self.b.create_jump_table(ir::JumpTableData::new(def, &calls));
        self.b.ins().br_table(status, jt);
    }

    fn trap_block(&mut self, code: TrapCode) -> Block {
        let blk = self.b.create_block();
        self.b.set_cold_block(blk);
        let cur = self.b.current_block();
        self.b.switch_to_block(blk);
        self.trap(code);
        if let Some(cur) = cur {
            self.b.switch_to_block(cur);
        }
        blk
    }

    /// Epoch interruption check (function entry and loop headers):
    /// traps with `Interrupt` once `*store.epoch_ptr >= epoch_deadline`.
    /// Nothing without [`crate::CompilerOptions::epoch_interruption`].
    pub fn epoch_check(&mut self) -> Result<(), CompileError> {
        let Some(deadline) = self.epoch_deadline else { return Ok(()) };
        let store = self.env.store_context(&mut self.b, self.vmctx)?;
        let epoch_ptr = self.env.load_ro(&mut self.b, store, self.env.store.epoch_ptr)?;
        // An atomic load: another thread increments the epoch, and a plain
        // load in a loop without stores or calls could be merged with the
        // one at function entry by redundant-load elimination.
        let epoch = self.b.ins().atomic_load(types::I64, self.env.vm(), epoch_ptr);
        let deadline = self.b.use_var(deadline);
        let expired = self.b.ins().icmp(ir::condcodes::IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
        self.trapnz(expired, TrapCode::Interrupt);
        Ok(())
    }

    /// Reloads the cached epoch deadline from the store context (at entry
    /// and after calls, where host code may have set a new deadline).
    pub fn reload_epoch_deadline(&mut self) -> Result<(), CompileError> {
        let Some(var) = self.epoch_deadline else { return Ok(()) };
        let store = self.env.store_context(&mut self.b, self.vmctx)?;
        let deadline = self.b.ins().load(types::I64, self.env.vm(), store, self.env.store.epoch_deadline as i32);
        self.b.def_var(var, deadline);
        Ok(())
    }

    /// The Cranelift type of a wasm value type.
    pub fn val_type(&self, ty: WasmValType) -> Result<ir::Type, CompileError> {
        env::val_type(self.env.ptr, ty)
    }

    /// Zero-extends an `I32` wasm index to the pointer type.
    pub fn index_to_ptr(&mut self, index: Value) -> Value {
        if self.env.ptr == types::I32 { index } else { self.b.ins().uextend(self.env.ptr, index) }
    }

    /// Converts a pointer-sized length to `I32` (wasm sizes fit 32 bits).
    pub fn ptr_to_i32(&mut self, v: Value) -> Value {
        if self.env.ptr == types::I32 { v } else { self.b.ins().ireduce(types::I32, v) }
    }

    /// The local variable `index`.
    pub fn local(&self, index: u32) -> Result<Variable, CompileError> {
        self.locals.get(index as usize).copied().ok_or_else(|| CompileError::Codegen(format!("no local {index}")))
    }
}
