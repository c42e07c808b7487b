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
use cranelift_codegen::ir::{self, Block, BlockArg, GlobalValueData, InstBuilder, UserFuncName, Value, types};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_environ::{DefinedFuncIndex, ModuleInfo, TrapCode, WasmValType};
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
    /// Locals, parameters first.
    pub locals: Vec<Variable>,
    /// The Cranelift type of each local.
    pub local_types: Vec<ir::Type>,
    /// Set when translating an OSR entry.
    pub osr: Option<OsrEntry>,
    /// Byte offset of the operator being translated.
    pub offset: u32,
    /// Imported signatures by type index.
    pub sigs: HashMap<u32, ir::SigRef>,
    /// Symbols of wasm→array trampolines by type index.
    pub tramp_gvs: HashMap<u32, ir::GlobalValue>,
    /// Shared cold block that traps with a dynamic kiln trap code (the
    /// status of a builtin), created on first use.
    pub trap_dispatch: Option<Block>,
    /// The store's epoch deadline, loaded at entry and after every call
    /// (only host code, reached through a call, can change it); `None`
    /// without epoch interruption.
    pub epoch_deadline: Option<Variable>,
}

/// The OSR entry being built (see `Compiler::compile_osr_entry`).
pub(crate) struct OsrEntry {
    /// Byte offsets of the loops it can enter, in entry-index order.
    pub loops: Vec<u32>,
    /// For each loop, the block that loads the frame and jumps to its
    /// header (filled when the translation reaches the loop).
    pub blocks: Vec<Block>,
    /// Which blocks are filled.
    pub filled: Vec<bool>,
    /// The slot array (entry parameter): frame values in, results out.
    pub slots: Value,
    /// One variable per operand-stack position and type: values below an
    /// open block live in them, so that every path — the function's start
    /// or any OSR block — defines them and SSA construction merges them
    /// where paths meet (loop headers, block ends, `else`).
    pub stack_vars: HashMap<(usize, ir::Type), Variable>,
}

/// A zero of Cranelift type `t`.
fn zero_of(b: &mut FunctionBuilder, t: ir::Type) -> Value {
    match t {
        types::F32 => b.ins().f32const(0.0),
        types::F64 => b.ins().f64const(0.0),
        t => b.ins().iconst(t, 0),
    }
}

/// Translates defined function `def` to Cranelift IR: its normal code
/// (wasm-call ABI), or with `osr_loop` its OSR entry at that loop.
pub(crate) fn translate_function(
    isa: &dyn TargetIsa,
    opts: &CompilerOptions,
    module: &ModuleInfo,
    wasm: &[u8],
    def: DefinedFuncIndex,
    osr_loops: Option<&[u32]>,
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
    let sig = match osr_loops {
        None => env::wasm_signature(ptr, ty)?,
        Some(_) => {
            // The array-call shape (see `Compiler::compile_osr_entry`).
            let mut sig = ir::Signature::new(isa.default_call_conv());
            sig.params.push(ir::AbiParam::special(ptr, ir::ArgumentPurpose::VMContext));
            sig.params.extend([ir::AbiParam::new(ptr); 3]);
            sig.returns.push(ir::AbiParam::new(types::I8));
            sig
        }
    };
    let name_space = if osr_loops.is_some() { 4 } else { 0 };
    let mut func = ir::Function::with_name_signature(UserFuncName::user(name_space, func_index.as_u32()), sig);
    let regions = env::Regions::declare(&mut func);
    let env = Env::new(isa, module, regions);

    // The first parameter is the callee's own funcref, which lives inside
    // its instance's VMContext at `func_ref(def)`: the vmctx is a constant
    // offset away (see `env::wasm_signature`).
    let funcref_offset = -(env.offsets.func_ref(def.as_u32()) as i64);
    // Stack limit: the store context (in the VMContext header, addressed
    // from the funcref) → stack_limit. Cranelift compares sp with it in the
    // prologue and traps with STACK_OVERFLOW.
    let ro =
        func.dfg.mem_flags.insert(env::readonly()).map_err(|_| CompileError::Codegen("memflags overflow".into()))?;
    let gv_funcref = func.create_global_value(GlobalValueData::VMContext);
    let gv_store = func.create_global_value(GlobalValueData::Load {
        base: gv_funcref,
        offset: (env.offsets.header.store_context as i32 + funcref_offset as i32).into(),
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
    let vmctx = b.ins().iadd_imm_s(params[0], funcref_offset);

    // An OSR entry branches on its (never null) slot array to a dispatch
    // on the loop index (its fourth parameter) over one block per loop,
    // each filled in when the translation reaches its loop; the function's
    // normal start stays in the IR (reachable on a null array only) so that
    // the code before the loops translates as usual.
    let mut osr = None;
    let mut wasm_params: Vec<Value> = params.get(2..).unwrap_or_default().to_vec();
    if let Some(loops) = osr_loops {
        let slots = params[2];
        let dispatch = b.create_block();
        let start = b.create_block();
        b.ins().brif(slots, dispatch, &[], start, &[]);
        b.seal_block(dispatch);
        b.seal_block(start);
        b.switch_to_block(dispatch);
        let index = if ptr == types::I32 { params[3] } else { b.ins().ireduce(types::I32, params[3]) };
        let blocks: Vec<Block> = loops.iter().map(|_| b.create_block()).collect();
        let bad = b.create_block();
        b.set_cold_block(bad);
        let pool = &mut b.func.dfg.value_lists;
        let def = ir::BlockCall::new(bad, [], pool);
        let calls: Vec<ir::BlockCall> = blocks.iter().map(|t| ir::BlockCall::new(*t, [], pool)).collect();
        let jt = b.create_jump_table(ir::JumpTableData::new(def, &calls));
        b.ins().br_table(index, jt);
        for blk in blocks.iter().chain([&bad]) {
            b.seal_block(*blk);
        }
        b.switch_to_block(bad);
        b.ins().trap(crate::trap_code_to_cranelift(TrapCode::InternalError));
        b.switch_to_block(start);
        wasm_params.clear();
        for p in ty.params.iter() {
            let t = env::val_type(ptr, *p)?;
            wasm_params.push(zero_of(&mut b, t));
        }
        osr = Some(OsrEntry {
            loops: loops.to_vec(),
            filled: vec![false; blocks.len()],
            blocks,
            slots,
            stack_vars: HashMap::new(),
        });
    }

    let mut locals = Vec::new();
    let mut local_types = Vec::new();
    for (i, p) in ty.params.iter().enumerate() {
        let t = env::val_type(ptr, *p)?;
        let var = b.declare_var(t);
        b.def_var(var, wasm_params[i]);
        locals.push(var);
        local_types.push(t);
    }
    let mut locals_reader = body.get_locals_reader()?;
    for _ in 0..locals_reader.get_count() {
        let (count, vt) = locals_reader.read()?;
        let wt =
            WasmValType::from_wasmparser(vt).ok_or_else(|| CompileError::Unsupported(format!("local type {vt:?}")))?;
        let cty = env::val_type(ptr, wt)?;
        let zero = zero_of(&mut b, cty);
        for _ in 0..count {
            let var = b.declare_var(cty);
            b.def_var(var, zero);
            locals.push(var);
            local_types.push(cty);
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
        local_types,
        osr,
        offset: 0,
        sigs: HashMap::new(),
        tramp_gvs: HashMap::new(),
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
        t.offset = offset as u32;
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
        t.emit_return(&vals);
    }
    // Loops the translation never reached (unreachable code) cannot be
    // entered: their blocks trap.
    if let Some(o) = t.osr.take() {
        for (blk, filled) in o.blocks.iter().zip(&o.filled) {
            if !filled {
                t.b.switch_to_block(*blk);
                t.trap(TrapCode::InternalError);
            }
        }
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
        if self.control_op(op)?
            || self.numeric_op(op)?
            || self.memory_op(op)?
            || self.table_op(op)?
            || self.call_op(op)?
        {
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
        let at =
            self.stack.len().checked_sub(n).ok_or_else(|| CompileError::Codegen("operand stack underflow".into()))?;
        Ok(self.stack.split_off(at))
    }

    /// The top `n` values, in stack order, without popping them.
    pub fn peekn(&self, n: usize) -> Result<&[Value], CompileError> {
        let at =
            self.stack.len().checked_sub(n).ok_or_else(|| CompileError::Codegen("operand stack underflow".into()))?;
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

    /// Returns `vals` from the function: a plain return, or in an OSR
    /// entry, stores into the slot array and returns 1.
    pub fn emit_return(&mut self, vals: &[Value]) {
        let Some(slots) = self.osr.as_ref().map(|o| o.slots) else {
            self.b.ins().return_(vals);
            return;
        };
        let flags = ir::MemFlagsData::trusted().with_endianness(ir::Endianness::Little);
        for (i, &v) in vals.iter().enumerate() {
            let v = match self.b.func.dfg.value_type(v) {
                types::F32 => {
                    let bits = self.b.ins().bitcast(types::I32, ir::MemFlagsData::new(), v);
                    self.b.ins().uextend(types::I64, bits)
                }
                types::F64 => self.b.ins().bitcast(types::I64, ir::MemFlagsData::new(), v),
                t if t.is_int() && t.bits() < 64 => self.b.ins().uextend(types::I64, v),
                _ => v,
            };
            self.b.ins().store(flags, v, slots, (i * 8) as i32);
        }
        let one = self.b.ins().iconst(types::I8, 1);
        self.b.ins().return_(&[one]);
    }

    /// The variable of operand-stack position `j` for values of type `ty`
    /// (OSR entries only).
    fn stack_var(&mut self, j: usize, ty: ir::Type) -> Option<Variable> {
        let osr = self.osr.as_mut()?;
        Some(*osr.stack_vars.entry((j, ty)).or_insert_with(|| self.b.declare_var(ty)))
    }

    /// In an OSR entry, at the start of a block, loop or `if` whose frame
    /// begins at height `upto`: defines the variables of the positions
    /// below it with their current values (see `OsrEntry::stack_vars`).
    pub fn osr_spill(&mut self, upto: usize) {
        if self.osr.is_none() {
            return;
        }
        for j in 0..upto {
            let v = self.stack[j];
            let ty = self.b.func.dfg.value_type(v);
            if let Some(var) = self.stack_var(j, ty) {
                self.b.def_var(var, v);
            }
        }
    }

    /// In an OSR entry, after switching to a block where paths may meet (a
    /// loop header, an `else`, a block's end): reads the positions below
    /// height `upto` from their variables.
    pub fn osr_refresh(&mut self, upto: usize) {
        if self.osr.is_none() {
            return;
        }
        for j in 0..upto {
            let ty = self.b.func.dfg.value_type(self.stack[j]);
            if let Some(var) = self.stack_var(j, ty) {
                self.stack[j] = self.b.use_var(var);
            }
        }
    }

    /// In an OSR entry, after the normal path's jump to the header of the
    /// loop being translated (operand stack below it in `self.stack`,
    /// parameter types `params`): if it is one of the entry's loops, fills
    /// its OSR block — every local and every value below the loop loaded
    /// from the slot array into their variables, the loop parameters
    /// loaded, then a jump to `header`. The caller switches to `header`
    /// next.
    pub fn osr_fill(&mut self, header: Block, params: &[ir::Type]) -> Result<(), CompileError> {
        let Some(osr) = self.osr.as_ref() else { return Ok(()) };
        let Some(k) = osr.loops.iter().position(|&o| o == self.offset) else { return Ok(()) };
        if osr.filled[k] {
            return Ok(());
        }
        let (block, slots) = (osr.blocks[k], osr.slots);
        if let Some(o) = self.osr.as_mut() {
            o.filled[k] = true;
        }
        let below: Vec<ir::Type> = self.stack.iter().map(|&v| self.b.func.dfg.value_type(v)).collect();
        self.b.switch_to_block(block);
        let flags = ir::MemFlagsData::trusted().with_endianness(ir::Endianness::Little);
        let mut slot = 0i32;
        for i in 0..self.locals.len() {
            let v = self.b.ins().load(self.local_types[i], flags, slots, slot * 8);
            self.b.def_var(self.locals[i], v);
            slot += 1;
        }
        for (j, ty) in below.into_iter().enumerate() {
            let v = self.b.ins().load(ty, flags, slots, slot * 8);
            if let Some(var) = self.stack_var(j, ty) {
                self.b.def_var(var, v);
            }
            slot += 1;
        }
        let mut args = Vec::with_capacity(params.len());
        for &ty in params {
            args.push(BlockArg::Value(self.b.ins().load(ty, flags, slots, slot * 8)));
            slot += 1;
        }
        self.reload_epoch_deadline()?;
        self.b.ins().jump(header, &args);
        Ok(())
    }

    /// The local variable `index`.
    pub fn local(&self, index: u32) -> Result<Variable, CompileError> {
        self.locals.get(index as usize).copied().ok_or_else(|| CompileError::Codegen(format!("no local {index}")))
    }
}
