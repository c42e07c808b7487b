//! The control stack: `block`, `loop`, `if`/`else`, `end`, `br`, `br_if`,
//! `br_table`, `return`, `unreachable`, and skipping unreachable code.
//!
//! Every wasm block gets a continuation Cranelift block whose parameters are
//! the block's results; a loop also gets a header block whose parameters are
//! the loop's parameters (branches to a loop target the header). An `if`
//! gets an else block whose parameters are the `if`'s parameters (an `if`
//! without `else` falls through the else block straight to the
//! continuation: validation guarantees params == results then).
//!
//! After a branch, `return`, `unreachable` or `br_table` the code is dead
//! until the matching `else`/`end`: only nesting is counted then.

use super::FuncTranslator;
use crate::CompileError;
use cranelift_codegen::ir::{self, Block, BlockArg, InstBuilder, Value};
use kiln_environ::TrapCode;
use wasmparser::{BlockType, Operator};

/// What kind of wasm block a frame is.
pub(crate) enum FrameKind {
    /// The function body itself or a `block`.
    Block,
    /// A `loop`: branches go to `header`.
    Loop { header: Block },
    /// An `if`; `else_block` takes the `if`'s parameters; `has_else` once
    /// the `else` was seen.
    If { else_block: Block, has_else: bool },
}

/// One entry of the control stack.
pub(crate) struct ControlFrame {
    pub kind: FrameKind,
    /// Continuation block; its parameters are the results.
    pub next: Block,
    pub num_params: usize,
    pub num_results: usize,
    /// Operand-stack height below the block's parameters.
    pub height: usize,
    /// Whether any branch or fallthrough reaches `next`.
    pub exit_reached: bool,
}

fn args(vals: &[Value]) -> Vec<BlockArg> {
    vals.iter().map(|v| BlockArg::Value(*v)).collect()
}

impl<'a, 'm> FuncTranslator<'a, 'm> {
    /// Parameter and result types of a block type.
    fn block_types(&self, bt: BlockType) -> Result<(Vec<ir::Type>, Vec<ir::Type>), CompileError> {
        match bt {
            BlockType::Empty => Ok((vec![], vec![])),
            BlockType::Type(vt) => {
                let wt = kiln_environ::WasmValType::from_wasmparser(vt)
                    .ok_or_else(|| CompileError::Unsupported(format!("block type {vt:?}")))?;
                Ok((vec![], vec![self.val_type(wt)?]))
            }
            BlockType::FuncType(idx) => {
                let ty = self
                    .env
                    .module
                    .types
                    .get(idx as usize)
                    .ok_or_else(|| CompileError::Codegen(format!("no type {idx}")))?;
                let p = ty.params.iter().map(|t| self.val_type(*t)).collect::<Result<_, _>>()?;
                let r = ty.results.iter().map(|t| self.val_type(*t)).collect::<Result<_, _>>()?;
                Ok((p, r))
            }
        }
    }

    fn block_with_params(&mut self, tys: &[ir::Type]) -> Block {
        let blk = self.b.create_block();
        for t in tys {
            self.b.append_block_param(blk, *t);
        }
        blk
    }

    /// Opens the frame of the function body, whose continuation returns.
    pub(crate) fn push_function_frame(&mut self, results: &[ir::Type]) {
        let next = self.block_with_params(results);
        self.control.push(ControlFrame {
            kind: FrameKind::Block,
            next,
            num_params: 0,
            num_results: results.len(),
            height: 0,
            exit_reached: false,
        });
    }

    /// Handles an operator while the current position is unreachable:
    /// only nesting and the `else`/`end` that make code live again matter.
    pub(crate) fn unreachable_op(&mut self, op: &Operator) -> Result<(), CompileError> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.unreachable_depth += 1;
                Ok(())
            }
            Operator::Else if self.unreachable_depth == 0 => self.op_else(),
            Operator::End if self.unreachable_depth == 0 => self.op_end(),
            Operator::End => {
                self.unreachable_depth -= 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Control operators; `Ok(false)` if `op` is not one.
    pub(crate) fn control_op(&mut self, op: &Operator) -> Result<bool, CompileError> {
        match *op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.trap(TrapCode::UnreachableCodeReached);
                self.reachable = false;
            }
            Operator::Block { blockty } => {
                let (p, r) = self.block_types(blockty)?;
                let next = self.block_with_params(&r);
                let height = self.stack.len().checked_sub(p.len()).ok_or_else(underflow)?;
                self.osr_spill(height);
                self.control.push(ControlFrame {
                    kind: FrameKind::Block,
                    next,
                    num_params: p.len(),
                    num_results: r.len(),
                    height,
                    exit_reached: false,
                });
            }
            Operator::Loop { blockty } => {
                let (p, r) = self.block_types(blockty)?;
                let header = self.block_with_params(&p);
                let next = self.block_with_params(&r);
                let params = self.popn(p.len())?;
                let height = self.stack.len();
                self.osr_spill(height);
                self.b.ins().jump(header, &args(&params));
                self.osr_fill(header, &p)?;
                self.b.switch_to_block(header);
                // The loop's own parameters first: `use_var` may add block
                // parameters of its own to the header.
                let loop_params = self.b.block_params(header).to_vec();
                self.osr_refresh(height);
                self.stack.extend_from_slice(&loop_params);
                self.control.push(ControlFrame {
                    kind: FrameKind::Loop { header },
                    next,
                    num_params: p.len(),
                    num_results: r.len(),
                    height,
                    exit_reached: false,
                });
                self.epoch_check()?;
            }
            Operator::If { blockty } => {
                let (p, r) = self.block_types(blockty)?;
                let cond = self.pop()?;
                let else_block = self.block_with_params(&p);
                let next = self.block_with_params(&r);
                let then_block = self.b.create_block();
                let params = args(self.peekn(p.len())?);
                let below = self.stack.len() - p.len();
                self.osr_spill(below);
                self.b.ins().brif(cond, then_block, &[], else_block, &params);
                self.b.switch_to_block(then_block);
                self.b.seal_block(then_block);
                let height = self.stack.len() - p.len();
                self.control.push(ControlFrame {
                    kind: FrameKind::If { else_block, has_else: false },
                    next,
                    num_params: p.len(),
                    num_results: r.len(),
                    height,
                    exit_reached: false,
                });
            }
            Operator::Else => self.op_else()?,
            Operator::End => self.op_end()?,
            Operator::Br { relative_depth } => {
                self.branch(relative_depth)?;
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let cond = self.pop()?;
                let (target, n) = self.branch_target(relative_depth)?;
                let vals = args(self.peekn(n)?);
                let cont = self.b.create_block();
                self.b.ins().brif(cond, target, &vals, cont, &[]);
                self.b.switch_to_block(cont);
                self.b.seal_block(cont);
            }
            Operator::BrTable { ref targets } => {
                let index = self.pop()?;
                let default = targets.default();
                let (def_block, n) = self.branch_target(default)?;
                let vals = args(self.peekn(n)?);
                let mut calls = Vec::with_capacity(targets.len() as usize);
                for depth in targets.targets() {
                    let (blk, _) = self.branch_target(depth?)?;
                    calls.push(self.b.func.dfg.block_call(blk, &vals));
                }
                let def = self.b.func.dfg.block_call(def_block, &vals);
                let jt = self.b.create_jump_table(ir::JumpTableData::new(def, &calls));
                self.b.ins().br_table(index, jt);
                self.reachable = false;
            }
            Operator::Return => {
                let n = self.control.first().ok_or_else(underflow)?.num_results;
                let vals = self.peekn(n)?.to_vec();
                self.emit_return(&vals);
                self.reachable = false;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The Cranelift target of a branch to `depth` and the number of values
    /// it carries; marks a block's continuation as reached.
    fn branch_target(&mut self, depth: u32) -> Result<(Block, usize), CompileError> {
        let i = self.control.len().checked_sub(1 + depth as usize).ok_or_else(underflow)?;
        let frame = &mut self.control[i];
        Ok(match frame.kind {
            FrameKind::Loop { header } => (header, frame.num_params),
            _ => {
                frame.exit_reached = true;
                (frame.next, frame.num_results)
            }
        })
    }

    /// `br depth` (the caller marks the code after it unreachable).
    fn branch(&mut self, depth: u32) -> Result<(), CompileError> {
        let (target, n) = self.branch_target(depth)?;
        let vals = args(self.peekn(n)?);
        self.b.ins().jump(target, &vals);
        Ok(())
    }

    fn op_else(&mut self) -> Result<(), CompileError> {
        let frame = self.control.last_mut().ok_or_else(underflow)?;
        let FrameKind::If { else_block, ref mut has_else } = frame.kind else {
            return Err(CompileError::Codegen("`else` outside `if`".into()));
        };
        *has_else = true;
        let (next, n, height) = (frame.next, frame.num_results, frame.height);
        if self.reachable {
            frame.exit_reached = true;
            let vals = args(self.peekn(n)?);
            self.b.ins().jump(next, &vals);
        }
        self.stack.truncate(height);
        self.b.switch_to_block(else_block);
        self.b.seal_block(else_block);
        let params = self.b.block_params(else_block).to_vec();
        self.osr_refresh(height);
        self.stack.extend_from_slice(&params);
        // The `if` itself was reachable (else it would have no frame).
        self.reachable = true;
        Ok(())
    }

    fn op_end(&mut self) -> Result<(), CompileError> {
        let mut frame = self.control.pop().ok_or_else(underflow)?;
        if self.reachable {
            frame.exit_reached = true;
            let vals = args(self.peekn(frame.num_results)?);
            self.b.ins().jump(frame.next, &vals);
        }
        match frame.kind {
            FrameKind::If { else_block, has_else: false } => {
                // No `else`: the parameters fall through unchanged.
                self.b.switch_to_block(else_block);
                self.b.seal_block(else_block);
                let params = args(self.b.block_params(else_block));
                self.b.ins().jump(frame.next, &params);
                frame.exit_reached = true;
            }
            FrameKind::Loop { header } => self.b.seal_block(header),
            _ => {}
        }
        self.stack.truncate(frame.height);
        if frame.exit_reached {
            self.b.switch_to_block(frame.next);
            self.b.seal_block(frame.next);
            let results = self.b.block_params(frame.next).to_vec();
            self.osr_refresh(frame.height);
            self.stack.extend_from_slice(&results);
            self.reachable = true;
        } else {
            self.reachable = false;
        }
        Ok(())
    }
}

fn underflow() -> CompileError {
    CompileError::Codegen("control stack underflow".into())
}
