//! Translation of one validated function body into interpreter code
//! ([`InterpFunc`]), done once, at the function's first call.
//!
//! The translator keeps a compile-time operand stack whose entries are
//! either *lazy* (a local or a constant-pool slot, read in place by the
//! instruction that consumes it) or a *temp* living in its canonical slot
//! `temps + height`. Invariants that keep this sound:
//!
//! * Before a local is written, every lazy reference to it on the stack is
//!   materialised (copied to its temp) so it keeps the old value.
//! * At every block entry all lazy locals are materialised, so the entries
//!   below a block's base never change inside it, whatever path runs; block
//!   parameters are fully materialised.
//! * Values carried by a branch are copied to the target label's canonical
//!   slots (`temps + label height + i`) on the taken path only.
//!
//! Peepholes: `local.set`/`local.tee` retarget the instruction that just
//! computed the value; `br_if`/`if` fuse with a preceding i32 comparison
//! or `i32.eqz`.

use super::code::{InterpFunc, OsrPoint, OsrValue, Slot};
use super::ops::{self, BinKind, Instr, Shape};
use kiln_environ::{DefinedFuncIndex, ModuleError, ModuleInfo, WasmFuncType, WasmValType};
use std::collections::HashMap;
use wasmparser::{BinaryReader, BlockType, FunctionBody, Operator};

/// Largest frame (in slots) the interpreter accepts for one function.
const MAX_FRAME_SLOTS: u32 = 1 << 24;

/// Translates defined function `def` of a validated module.
///
/// # Errors
/// Only for implementation limits (a frame over 2^24 slots) or constructs
/// the interpreter does not execute (SIMD); the module was validated before.
pub fn translate(info: &ModuleInfo, wasm: &[u8], def: DefinedFuncIndex) -> Result<InterpFunc, ModuleError> {
    translate_impl(info, wasm, def, None)
}

/// [`translate`], also giving the translator's instruction list before
/// assembly, one line per instruction (a debugging aid: the
/// `dump_interp` example prints it; the code object does not keep it).
///
/// # Errors
/// As [`translate`].
pub fn translate_with_listing(
    info: &ModuleInfo,
    wasm: &[u8],
    def: DefinedFuncIndex,
) -> Result<(InterpFunc, Vec<String>), ModuleError> {
    let mut listing = Vec::new();
    let f = translate_impl(info, wasm, def, Some(&mut listing))?;
    Ok((f, listing))
}

fn translate_impl(
    info: &ModuleInfo,
    wasm: &[u8],
    def: DefinedFuncIndex,
    listing: Option<&mut Vec<String>>,
) -> Result<InterpFunc, ModuleError> {
    let body_range =
        info.function_bodies.get(def.index()).ok_or_else(|| err(0, "function body out of range"))?.range.clone();
    let body = FunctionBody::new(BinaryReader::new(&wasm[body_range.clone()], body_range.start as u64));
    let ty = info.func_type(info.func_index(def));
    let mut locals = ty.params.len() as u64;
    for t in ty.params.iter() {
        check_type(*t, body_range.start as u64)?;
    }
    let mut local_types: Vec<WasmValType> = ty.params.to_vec();
    for local in body.get_locals_reader()? {
        let (count, vt) = local?;
        let vt =
            WasmValType::from_wasmparser(vt).ok_or_else(|| err(body_range.start as u64, "unsupported local type"))?;
        check_type(vt, body_range.start as u64)?;
        locals += count as u64;
        if locals > MAX_FRAME_SLOTS as u64 {
            return Err(err(body_range.start as u64, "function has too many locals for the interpreter"));
        }
        local_types.extend(std::iter::repeat_n(vt, count as usize));
    }
    let locals = locals as u32;

    // Pre-scan: an upper bound of the constant pool, so that the temps can
    // start right after it.
    let mut const_cap = 0u32;
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        if matches!(
            ops.read()?,
            Operator::I32Const { .. }
                | Operator::I64Const { .. }
                | Operator::F32Const { .. }
                | Operator::F64Const { .. }
                | Operator::RefNull { .. }
        ) {
            const_cap += 1;
        }
    }
    if locals as u64 + const_cap as u64 > MAX_FRAME_SLOTS as u64 {
        return Err(err(body_range.start as u64, "function is too large for the interpreter"));
    }

    let mut t = Translator {
        info,
        code: Vec::new(),
        stack: Vec::new(),
        ctrl: Vec::new(),
        locals,
        temps: locals + const_cap,
        max_height: 0,
        consts: Vec::new(),
        const_map: HashMap::new(),
        dead_depth: 0,
        last: None,
        loops: Vec::new(),
    };
    t.ctrl.push(Ctrl {
        kind: CtrlKind::Func,
        height: 0,
        params: 0,
        results: ty.results.len() as u32,
        start: 0,
        fixups: Vec::new(),
        else_fixup: None,
        unreachable: false,
        has_else: false,
    });
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        let offset = ops.original_position();
        let op = ops.read()?;
        t.op(op, offset)?;
    }
    let frame_size = t.temps as u64 + t.max_height as u64 + 1;
    let frame_size = frame_size.max(ty.results.len() as u64);
    if frame_size > MAX_FRAME_SLOTS as u64 {
        return Err(err(body_range.start as u64, "function frame is too large for the interpreter"));
    }
    if let Some(listing) = listing {
        listing.extend(t.code.iter().map(|i| format!("{i:?}")));
    }
    let (ops, new_index) = super::assemble::assemble(&t.code);
    let mut osr_points: Vec<OsrPoint> = t
        .loops
        .iter()
        .map(|(at, loop_offset, stack)| {
            let first = (at + 1..t.code.len()).find(|&i| !super::assemble::is_dropped(&t.code, i));
            OsrPoint {
                op: new_index[*at],
                rotated: first.is_some_and(|i| super::assemble::is_cond_branch(&t.code[i]).is_some()),
                loop_offset: *loop_offset,
                stack: stack.clone(),
            }
        })
        .collect();
    osr_points.sort_by_key(|p| p.op);
    Ok(InterpFunc {
        ops,
        params: ty.params.len() as u32,
        locals,
        consts: t.consts.into_boxed_slice(),
        frame_size: frame_size as u32,
        native_entry: std::ptr::null(),
        osr_points: osr_points.into_boxed_slice(),
    })
}

fn err(offset: u64, message: &str) -> ModuleError {
    ModuleError { offset, message: message.to_string() }
}

fn check_type(t: WasmValType, offset: u64) -> Result<(), ModuleError> {
    if t == WasmValType::V128 {
        Err(err(offset, "SIMD (v128) is not supported by kiln's interpreter yet"))
    } else {
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Operand {
    /// Read in place from a local's slot.
    Local(Slot),
    /// A constant (its bits): an immediate operand where the consumer has
    /// an immediate form, else read in place from a constant-pool slot.
    Const(u64),
    /// In its canonical slot `temps + height`.
    Temp,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CtrlKind {
    Func,
    Block,
    Loop,
    If,
}

struct Ctrl {
    kind: CtrlKind,
    /// Operand stack height below the block's parameters.
    height: u32,
    params: u32,
    results: u32,
    /// Code index of a loop's header.
    start: u32,
    /// Branches to patch with the end's index.
    fixups: Vec<usize>,
    /// An `if`'s branch to its `else` (or end).
    else_fixup: Option<usize>,
    /// The rest of this block (until `else`/`end`) cannot be reached.
    unreachable: bool,
    has_else: bool,
}

impl Ctrl {
    fn branch_arity(&self) -> u32 {
        if self.kind == CtrlKind::Loop { self.params } else { self.results }
    }
}

struct Translator<'a> {
    info: &'a ModuleInfo,
    code: Vec<Instr>,
    stack: Vec<Operand>,
    ctrl: Vec<Ctrl>,
    locals: u32,
    /// First temp slot.
    temps: u32,
    max_height: u32,
    consts: Vec<u64>,
    const_map: HashMap<u64, u32>,
    /// Depth of blocks opened inside unreachable code.
    dead_depth: u32,
    /// Index of the last instruction, if it wrote the current top temp and
    /// nothing (no label) came after it.
    last: Option<usize>,
    /// Reachable loops: (index of the `LoopHeader`, byte offset of the
    /// `loop` operator, operand stack at the header) for OSR points.
    loops: Vec<(usize, u32, Box<[OsrValue]>)>,
}

/// A conditional branch with the opposite condition (other instructions
/// unchanged).
pub(super) fn negate_cmp(i: Instr) -> Instr {
    use Instr::*;
    match i {
        BrIfNez { cond, target } => BrIfEqz { cond, target },
        BrIfEqz { cond, target } => BrIfNez { cond, target },
        BrCmp { a, b, target, kind } => BrCmp { a, b, target, kind: kind.negate().unwrap_or(kind) },
        BrCmpImm { a, imm, target, kind } => BrCmpImm { a, imm, target, kind: kind.negate().unwrap_or(kind) },
        other => other,
    }
}

/// A branch condition: a slot tested against zero, or a fused comparison.
/// Holds the "jump if true" form with a placeholder target.
fn fused_branch(cmp: Instr) -> Option<Instr> {
    use Instr::*;
    let t = 0;
    if let Some((a, b, kind)) = cmp.compare() {
        return Some(BrCmp { a, b, target: t, kind });
    }
    Some(match cmp {
        I32Eqz { src, .. } => BrIfEqz { cond: src, target: t },
        I64Eqz { src, .. } => BrCmpImm { a: src, imm: 0, target: t, kind: BinKind::I64Eq },
        BinaryImm { a, imm, kind, .. } if kind.negate().is_some() => BrCmpImm { a, imm, target: t, kind },
        _ => return None,
    })
}

/// Sets the target of a branch instruction.
pub(super) fn set_target(i: &mut Instr, to: u32) {
    use Instr::*;
    match i {
        Br { target }
        | BrIfNez { target, .. }
        | BrIfEqz { target, .. }
        | BrCmp { target, .. }
        | BrCmpImm { target, .. } => *target = to,
        _ => debug_assert!(false, "patching a non-branch"),
    }
}

impl Translator<'_> {
    // ---- operand stack -------------------------------------------------

    fn height(&self) -> u32 {
        self.stack.len() as u32
    }

    fn slot_at(&mut self, idx: usize) -> Slot {
        match self.stack[idx] {
            Operand::Local(s) => s,
            Operand::Const(bits) => self.const_slot(bits),
            Operand::Temp => self.temps + idx as u32,
        }
    }

    /// The slot of the entry at `idx` if it has one without allocating
    /// (constants may still become immediates).
    fn placed_slot(&self, idx: usize) -> Option<Slot> {
        match self.stack[idx] {
            Operand::Local(s) => Some(s),
            Operand::Const(_) => None,
            Operand::Temp => Some(self.temps + idx as u32),
        }
    }

    fn pop(&mut self) -> Slot {
        let idx = self.stack.len() - 1;
        let s = self.slot_at(idx);
        self.stack.pop();
        s
    }

    fn push_temp(&mut self) -> Slot {
        self.stack.push(Operand::Temp);
        let h = self.height();
        if h > self.max_height {
            self.max_height = h;
        }
        self.temps + h - 1
    }

    fn reserve_height(&mut self, h: u32) {
        if h > self.max_height {
            self.max_height = h;
        }
    }

    fn push_const(&mut self, bits: u64) -> Result<(), ModuleError> {
        self.stack.push(Operand::Const(bits));
        Ok(())
    }

    /// The constant-pool slot holding `bits`, allocating it on first use.
    fn const_slot(&mut self, bits: u64) -> Slot {
        let idx = match self.const_map.get(&bits) {
            Some(&i) => i,
            None => {
                let i = self.consts.len() as u32;
                self.consts.push(bits);
                self.const_map.insert(bits, i);
                i
            }
        };
        self.locals + idx
    }

    /// Ensures the entry at `idx` lives in its canonical temp slot.
    fn materialize(&mut self, idx: usize) {
        if self.stack[idx] != Operand::Temp {
            let src = self.slot_at(idx);
            let dst = self.temps + idx as u32;
            self.emit(Instr::Copy { dst, src });
            self.stack[idx] = Operand::Temp;
        }
    }

    fn materialize_top(&mut self, n: u32) {
        let len = self.stack.len();
        for idx in len - n as usize..len {
            self.materialize(idx);
        }
    }

    fn materialize_locals(&mut self, only: Option<Slot>) {
        for idx in 0..self.stack.len() {
            if let Operand::Local(s) = self.stack[idx]
                && only.is_none_or(|o| o == s)
            {
                self.materialize(idx);
            }
        }
    }

    // ---- emission ------------------------------------------------------

    fn emit(&mut self, i: Instr) -> usize {
        self.code.push(i);
        self.last = None;
        self.code.len() - 1
    }

    /// Emits an instruction that writes the current top temp.
    fn emit_dst(&mut self, i: Instr) {
        self.code.push(i);
        self.last = Some(self.code.len() - 1);
    }

    /// The current code index as a branch target.
    fn label(&mut self) -> u32 {
        self.last = None;
        self.code.len() as u32
    }

    fn unary(&mut self, f: fn(Slot, Slot) -> Instr) {
        let src = self.pop();
        let dst = self.push_temp();
        self.emit_dst(f(dst, src));
    }

    /// A binary operation that has an immediate form: uses it when an
    /// operand is a constant that fits (for commutative ops, either one).
    fn binary_k(&mut self, f: fn(Slot, Slot, Slot) -> Instr, kind: BinKind) {
        let n = self.stack.len();
        let imm = |op: Operand| match op {
            Operand::Const(v) if !kind.wide() || v as i64 == v as i32 as i64 => Some(v as u32),
            _ => None,
        };
        if let Some(imm) = imm(self.stack[n - 1]) {
            self.stack.pop();
            let a = self.pop();
            let dst = self.push_temp();
            self.emit_dst(Instr::BinaryImm { dst, a, imm, kind });
            return;
        }
        if kind.commutative()
            && let Some(imm) = imm(self.stack[n - 2])
        {
            let a = self.pop();
            self.stack.pop();
            let dst = self.push_temp();
            self.emit_dst(Instr::BinaryImm { dst, a, imm, kind });
            return;
        }
        self.binary(f)
    }

    fn binary(&mut self, f: fn(Slot, Slot, Slot) -> Instr) {
        let b = self.pop();
        let a = self.pop();
        let dst = self.push_temp();
        self.emit_dst(f(dst, a, b));
    }

    fn load(
        &mut self,
        f: fn(Slot, Slot, u32) -> Instr,
        memarg: wasmparser::MemArg,
        offset: u64,
    ) -> Result<(), ModuleError> {
        let off = self.memarg(memarg, offset)?;
        let addr = self.pop();
        let dst = self.push_temp();
        self.emit_dst(f(dst, addr, off));
        Ok(())
    }

    fn store(
        &mut self,
        f: fn(Slot, Slot, u32) -> Instr,
        memarg: wasmparser::MemArg,
        offset: u64,
    ) -> Result<(), ModuleError> {
        let off = self.memarg(memarg, offset)?;
        let src = self.pop();
        let addr = self.pop();
        self.emit(f(addr, src, off));
        Ok(())
    }

    fn memarg(&self, memarg: wasmparser::MemArg, offset: u64) -> Result<u32, ModuleError> {
        if memarg.target != wasmparser::MemArgTarget::Memory(0) {
            return Err(err(offset, "multi-memory is not supported by the interpreter yet"));
        }
        u32::try_from(memarg.offset)
            .map_err(|_| err(offset, "memory offset beyond 32 bits (memory64) is not supported"))
    }

    fn block_type(&self, bt: BlockType, offset: u64) -> Result<(u32, u32), ModuleError> {
        Ok(match bt {
            BlockType::Empty => (0, 0),
            BlockType::Type(t) => {
                let vt = WasmValType::from_wasmparser(t).ok_or_else(|| err(offset, "unsupported block type"))?;
                check_type(vt, offset)?;
                (0, 1)
            }
            BlockType::FuncType(idx) => {
                let ft = self.info.types.get(idx as usize).ok_or_else(|| err(offset, "type index out of range"))?;
                for t in ft.params.iter().chain(ft.results.iter()) {
                    check_type(*t, offset)?;
                }
                (ft.params.len() as u32, ft.results.len() as u32)
            }
        })
    }

    // ---- control -------------------------------------------------------

    fn set_unreachable(&mut self) {
        let frame = self.ctrl.last_mut().expect("control stack is never empty inside a body");
        frame.unreachable = true;
        let h = frame.height as usize;
        self.stack.truncate(h);
    }

    fn frame_at_depth(&self, depth: u32) -> Result<usize, ModuleError> {
        (self.ctrl.len() as u32)
            .checked_sub(depth + 1)
            .map(|i| i as usize)
            .ok_or_else(|| err(0, "branch depth out of range"))
    }

    /// Whether branching to frame `fi` needs copies of the carried values.
    fn needs_copies(&self, fi: usize) -> bool {
        let frame = &self.ctrl[fi];
        if frame.kind == CtrlKind::Func {
            return true;
        }
        let arity = frame.branch_arity() as usize;
        let len = self.stack.len();
        (0..arity).any(|i| self.placed_slot(len - arity + i) != Some(self.temps + frame.height + i as u32))
    }

    /// Copies the values a branch carries to frame `fi` into its canonical
    /// slots.
    fn emit_branch_copies(&mut self, fi: usize) {
        self.emit_copies_to(fi, self.ctrl[fi].branch_arity() as usize);
    }

    /// Copies the top `arity` values into frame `fi`'s canonical slots
    /// (`temps + height + i`). Ascending order is safe: a source temp is
    /// never below the destination of an earlier value.
    fn emit_copies_to(&mut self, fi: usize, arity: usize) {
        let height = self.ctrl[fi].height;
        let len = self.stack.len();
        for i in 0..arity {
            let src = self.slot_at(len - arity + i);
            let dst = self.temps + height + i as u32;
            if src != dst {
                self.emit(Instr::Copy { dst, src });
            }
        }
    }

    /// Emits the function's return of the top values.
    ///
    /// Leaves the operand stack's description untouched: a return is often
    /// emitted on one path only (`br_if 0`, a `br_table` stub), and the
    /// fall-through path must still see its lazy operands (constants,
    /// locals) as lazy, because the copies below never ran on it.
    fn emit_return(&mut self) {
        let n = self.ctrl[0].results;
        match n {
            0 => {
                self.emit(Instr::Return0);
            }
            1 => {
                let src = self.slot_at(self.stack.len() - 1);
                self.emit(Instr::Return1 { src });
            }
            _ => {
                // `ReturnN` reads `n` consecutive slots: copy each lazy
                // operand into its canonical temp slot. That slot belongs to
                // no other live value (a temp only ever sits in its own
                // canonical slot), so the copies cannot clobber a source.
                let len = self.stack.len();
                for idx in len - n as usize..len {
                    if self.stack[idx] != Operand::Temp {
                        let src = self.slot_at(idx);
                        self.emit(Instr::Copy { dst: self.temps + idx as u32, src });
                    }
                }
                let src = self.temps + self.height() - n;
                self.emit(Instr::ReturnN { src, n });
            }
        }
    }

    /// Emits an unconditional jump (with copies) to frame `fi`.
    fn emit_jump(&mut self, fi: usize) {
        if self.ctrl[fi].kind == CtrlKind::Func {
            self.emit_return();
            return;
        }
        self.emit_branch_copies(fi);
        self.emit_branch_instr(fi, Instr::Br { target: 0 });
    }

    /// Emits `branch` (whose target is a placeholder) to frame `fi`'s label.
    fn emit_branch_instr(&mut self, fi: usize, mut branch: Instr) {
        if self.ctrl[fi].kind == CtrlKind::Loop {
            set_target(&mut branch, self.ctrl[fi].start);
            self.emit(branch);
        } else {
            let at = self.emit(branch);
            self.ctrl[fi].fixups.push(at);
        }
    }

    fn patch_to_here(&mut self, at: usize) {
        let here = self.label();
        set_target(&mut self.code[at], here);
    }

    /// Pops a branch condition, fusing it with the comparison that
    /// computed it when possible. Returns the "jump if true" branch.
    fn pop_condition(&mut self) -> Instr {
        let idx = self.stack.len() - 1;
        if self.stack[idx] == Operand::Temp && self.last == Some(self.code.len() - 1) {
            let top_slot = self.temps + idx as u32;
            let mut last = self.code[self.code.len() - 1];
            if last.dst_mut().copied() == Some(top_slot)
                && let Some(fused) = fused_branch(last)
            {
                self.code.pop();
                self.last = None;
                self.stack.pop();
                return fused;
            }
        }
        let cond = self.pop();
        Instr::BrIfNez { cond, target: 0 }
    }

    fn enter_block(&mut self, kind: CtrlKind, bt: BlockType, offset: u64) -> Result<(), ModuleError> {
        let (params, results) = self.block_type(bt, offset)?;
        let cond = if kind == CtrlKind::If { Some(self.pop_condition()) } else { None };
        self.materialize_locals(None);
        self.materialize_top(params);
        let height = self.height() - params;
        let mut frame = Ctrl {
            kind,
            height,
            params,
            results,
            start: 0,
            fixups: Vec::new(),
            else_fixup: None,
            unreachable: false,
            has_else: false,
        };
        match kind {
            CtrlKind::Loop => {
                frame.start = self.label();
                let at = self.emit(Instr::LoopHeader);
                // Locals were materialized above: every entry is a temp or
                // a constant.
                let stack: Box<[OsrValue]> = (0..self.stack.len())
                    .map(|idx| match self.stack[idx] {
                        Operand::Const(bits) => OsrValue::Const(bits),
                        _ => OsrValue::Slot(self.temps + idx as u32),
                    })
                    .collect();
                self.loops.push((at, offset as u32, stack));
            }
            CtrlKind::If => {
                let branch = negate_cmp(cond.expect("if has a condition"));
                frame.else_fixup = Some(self.emit(branch));
            }
            _ => {}
        }
        self.reserve_height(height + params.max(results));
        self.ctrl.push(frame);
        Ok(())
    }

    fn op_else(&mut self) {
        let fi = self.ctrl.len() - 1;
        if !self.ctrl[fi].unreachable {
            self.emit_branch_copies(fi);
            let at = self.emit(Instr::Br { target: 0 });
            self.ctrl[fi].fixups.push(at);
        }
        if let Some(at) = self.ctrl[fi].else_fixup.take() {
            self.patch_to_here(at);
        }
        let frame = &mut self.ctrl[fi];
        frame.unreachable = false;
        frame.has_else = true;
        let (h, p) = (frame.height as usize, frame.params);
        self.stack.truncate(h);
        for _ in 0..p {
            self.push_temp();
        }
        self.last = None;
    }

    fn op_end(&mut self) {
        let fi = self.ctrl.len() - 1;
        if self.ctrl[fi].kind == CtrlKind::Func {
            if !self.ctrl[fi].unreachable {
                self.emit_return();
            }
            self.ctrl.pop();
            return;
        }
        let fell_through = !self.ctrl[fi].unreachable;
        if fell_through {
            // At `end` a loop's results (not its parameters) are carried.
            self.emit_copies_to(fi, self.ctrl[fi].results as usize);
        }
        let frame = self.ctrl.pop().expect("frame exists");
        let mut reachable = fell_through || !frame.fixups.is_empty();
        if let Some(at) = frame.else_fixup {
            // An `if` without `else`: the false path reaches the end with
            // the parameters (= results) already in place.
            self.patch_to_here(at);
            reachable = true;
        }
        let here = self.label();
        for at in frame.fixups {
            set_target(&mut self.code[at], here);
        }
        self.stack.truncate(frame.height as usize);
        for _ in 0..frame.results {
            self.push_temp();
        }
        if !reachable {
            self.set_unreachable();
        }
        self.last = None;
    }

    fn op_br_if(&mut self, depth: u32) -> Result<(), ModuleError> {
        let branch = self.pop_condition();
        let fi = self.frame_at_depth(depth)?;
        if self.needs_copies(fi) {
            let skip = self.emit(negate_cmp(branch));
            self.emit_jump(fi);
            self.patch_to_here(skip);
        } else {
            self.emit_branch_instr(fi, branch);
        }
        Ok(())
    }

    fn op_br_table(&mut self, targets: wasmparser::BrTable<'_>, offset: u64) -> Result<(), ModuleError> {
        let index = self.pop();
        let depths: Vec<u32> =
            targets.targets().chain(std::iter::once(Ok(targets.default()))).collect::<Result<_, _>>()?;
        self.emit(Instr::BrTable { index, len: depths.len() as u32 - 1 });
        let mut stubs: Vec<(usize, usize)> = Vec::new();
        for &d in &depths {
            let fi = self.frame_at_depth(d).map_err(|_| err(offset, "br_table depth out of range"))?;
            if self.needs_copies(fi) {
                let at = self.emit(Instr::Br { target: 0 });
                stubs.push((at, fi));
            } else {
                self.emit_branch_instr(fi, Instr::Br { target: 0 });
            }
        }
        let mut stub_of: HashMap<usize, u32> = HashMap::new();
        for (at, fi) in stubs {
            let stub = match stub_of.get(&fi) {
                Some(&s) => s,
                None => {
                    let s = self.label();
                    self.emit_jump(fi);
                    stub_of.insert(fi, s);
                    s
                }
            };
            set_target(&mut self.code[at], stub);
        }
        self.set_unreachable();
        Ok(())
    }

    fn op_local_set(&mut self, local: u32, tee: bool) {
        let top = self.stack.len() - 1;
        let dst = local;
        if self.stack[top] == Operand::Temp
            && self.last == Some(self.code.len() - 1)
            && !self.stack[..top].contains(&Operand::Local(dst))
        {
            let top_slot = self.temps + top as u32;
            let last = self.code.len() - 1;
            if let Some(d) = self.code[last].dst_mut()
                && *d == top_slot
            {
                *d = dst;
                self.stack.pop();
                self.last = None;
                if tee {
                    self.stack.push(Operand::Local(dst));
                }
                return;
            }
        }
        if self.stack[top] == Operand::Local(dst) {
            // `local.get x; local.set x` is a no-op.
            if !tee {
                self.stack.pop();
            }
            return;
        }
        self.materialize_locals(Some(dst));
        let src = self.pop();
        self.emit(Instr::Copy { dst, src });
        if tee {
            self.stack.push(Operand::Local(dst));
        }
    }

    fn call(&mut self, ty: &WasmFuncType, make: impl FnOnce(Slot) -> Instr, aux: Option<Instr>) {
        let np = ty.params.len() as u32;
        let nr = ty.results.len() as u32;
        self.materialize_top(np);
        let base = self.height() - np;
        let args = self.temps + base;
        self.emit(make(args));
        if let Some(aux) = aux {
            self.emit(aux);
        }
        self.stack.truncate(base as usize);
        self.reserve_height(base + np.max(nr));
        for _ in 0..nr {
            self.push_temp();
        }
    }

    // ---- the operator switch --------------------------------------------

    fn op(&mut self, op: Operator<'_>, offset: u64) -> Result<(), ModuleError> {
        use Instr as I;
        if self.ctrl.is_empty() {
            return Err(err(offset, "operators after the end of the function"));
        }
        if self.ctrl.last().is_some_and(|c| c.unreachable) {
            match op {
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    self.dead_depth += 1;
                    return Ok(());
                }
                Operator::Else if self.dead_depth > 0 => return Ok(()),
                Operator::End if self.dead_depth > 0 => {
                    self.dead_depth -= 1;
                    return Ok(());
                }
                Operator::Else | Operator::End => {}
                _ => return Ok(()),
            }
        }
        match op {
            Operator::Unreachable => {
                self.emit(I::Unreachable);
                self.set_unreachable();
            }
            Operator::Nop => {}
            Operator::Block { blockty } => self.enter_block(CtrlKind::Block, blockty, offset)?,
            Operator::Loop { blockty } => self.enter_block(CtrlKind::Loop, blockty, offset)?,
            Operator::If { blockty } => self.enter_block(CtrlKind::If, blockty, offset)?,
            Operator::Else => self.op_else(),
            Operator::End => self.op_end(),
            Operator::Br { relative_depth } => {
                let fi = self.frame_at_depth(relative_depth)?;
                self.emit_jump(fi);
                self.set_unreachable();
            }
            Operator::BrIf { relative_depth } => self.op_br_if(relative_depth)?,
            Operator::BrTable { targets } => self.op_br_table(targets, offset)?,
            Operator::Return => {
                self.emit_return();
                self.set_unreachable();
            }
            Operator::Call { function_index } => {
                let ty = self.info.func_type(function_index.into()).clone();
                self.call(&ty, |args| I::Call { func: function_index, args }, None);
            }
            Operator::CallIndirect { type_index, table_index } => {
                let ty = self.info.types[type_index as usize].clone();
                let index = self.pop();
                self.call(
                    &ty,
                    |args| I::CallIndirect { ty: type_index, index, args },
                    Some(I::Aux { a: table_index, b: 0, c: 0 }),
                );
            }
            Operator::Drop => {
                self.stack.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let cond = self.pop();
                let b = self.pop();
                let a = self.pop();
                let dst = self.push_temp();
                self.code.push(I::Select { dst, cond, a });
                self.code.push(I::Aux { a: b, b: 0, c: 0 });
                self.last = Some(self.code.len() - 2);
            }
            Operator::LocalGet { local_index } => self.stack.push(Operand::Local(local_index)),
            Operator::LocalSet { local_index } => self.op_local_set(local_index, false),
            Operator::LocalTee { local_index } => self.op_local_set(local_index, true),
            Operator::GlobalGet { global_index } => {
                let dst = self.push_temp();
                self.emit_dst(I::GlobalGet { dst, global: global_index });
            }
            Operator::GlobalSet { global_index } => {
                let src = self.pop();
                self.emit(I::GlobalSet { global: global_index, src });
            }
            Operator::MemorySize { mem } => {
                let dst = self.push_temp();
                self.emit_dst(I::MemorySize { dst, mem });
            }
            Operator::MemoryGrow { mem } => {
                let delta = self.pop();
                let dst = self.push_temp();
                self.emit_dst(I::MemoryGrow { dst, delta, mem });
            }
            Operator::MemoryFill { mem } => {
                let len = self.pop();
                let val = self.pop();
                let dst = self.pop();
                self.emit(I::MemoryFill { dst, val, len });
                self.emit(I::Aux { a: mem, b: 0, c: 0 });
            }
            Operator::MemoryCopy { dst_mem, src_mem } => {
                let len = self.pop();
                let src = self.pop();
                let dst = self.pop();
                self.emit(I::MemoryCopy { dst, src, len });
                self.emit(I::Aux { a: dst_mem, b: src_mem, c: 0 });
            }
            Operator::MemoryInit { data_index, mem } => {
                let len = self.pop();
                let src = self.pop();
                let dst = self.pop();
                self.emit(I::MemoryInit { dst, src, len });
                self.emit(I::Aux { a: mem, b: data_index, c: 0 });
            }
            Operator::DataDrop { data_index } => {
                self.emit(I::DataDrop { data: data_index });
            }
            Operator::TableGet { table } => {
                let index = self.pop();
                let dst = self.push_temp();
                self.emit_dst(I::TableGet { dst, index, table });
            }
            Operator::TableSet { table } => {
                let src = self.pop();
                let index = self.pop();
                self.emit(I::TableSet { table, index, src });
            }
            Operator::TableSize { table } => {
                let dst = self.push_temp();
                self.emit_dst(I::TableSize { dst, table });
            }
            Operator::TableGrow { table } => {
                let delta = self.pop();
                let init = self.pop();
                let dst = self.push_temp();
                self.code.push(I::TableGrow { dst, init, delta });
                self.code.push(I::Aux { a: table, b: 0, c: 0 });
                self.last = Some(self.code.len() - 2);
            }
            Operator::TableFill { table } => {
                let len = self.pop();
                let val = self.pop();
                let index = self.pop();
                self.emit(I::TableFill { index, val, len });
                self.emit(I::Aux { a: table, b: 0, c: 0 });
            }
            Operator::TableCopy { dst_table, src_table } => {
                let len = self.pop();
                let src = self.pop();
                let dst = self.pop();
                self.emit(I::TableCopy { dst, src, len });
                self.emit(I::Aux { a: dst_table, b: src_table, c: 0 });
            }
            Operator::TableInit { elem_index, table } => {
                let len = self.pop();
                let src = self.pop();
                let dst = self.pop();
                self.emit(I::TableInit { dst, src, len });
                self.emit(I::Aux { a: table, b: elem_index, c: 0 });
            }
            Operator::ElemDrop { elem_index } => {
                self.emit(I::ElemDrop { elem: elem_index });
            }
            Operator::I32Const { value } => self.push_const(value as u32 as u64)?,
            Operator::I64Const { value } => self.push_const(value as u64)?,
            Operator::F32Const { value } => self.push_const(value.bits() as u64)?,
            Operator::F64Const { value } => self.push_const(value.bits())?,
            Operator::RefNull { .. } => self.push_const(0)?,
            Operator::RefFunc { function_index } => {
                let dst = self.push_temp();
                self.emit_dst(I::RefFunc { dst, func: function_index });
            }
            // Reinterpretations keep the bits: nothing to do.
            Operator::I32ReinterpretF32
            | Operator::I64ReinterpretF64
            | Operator::F32ReinterpretI32
            | Operator::F64ReinterpretI64 => {}
            op => return self.numeric(op, offset),
        }
        Ok(())
    }

    /// A data operation: its row in the instruction table (`ops`).
    fn numeric(&mut self, op: Operator<'_>, offset: u64) -> Result<(), ModuleError> {
        match ops::decode(&op) {
            Some(Shape::Unary(f)) => self.unary(f),
            Some(Shape::Binary(f, Some(kind))) => self.binary_k(f, kind),
            Some(Shape::Binary(f, None)) => self.binary(f),
            Some(Shape::Load(f, memarg)) => self.load(f, memarg, offset)?,
            Some(Shape::Store(f, memarg)) => self.store(f, memarg, offset)?,
            None => {
                return Err(err(offset, &format!("operator {op:?} is not supported by kiln's interpreter")));
            }
        }
        Ok(())
    }
}
