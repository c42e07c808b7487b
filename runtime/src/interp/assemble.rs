//! Lowers the translator's [`Instr`] code into executable [`Op`]s: picks
//! each op's handler, folds single `Aux` words into the op's fourth operand,
//! drops `LoopHeader`s (back-edges charge hotness themselves), and turns
//! branch targets into relative offsets, choosing the back-edge variant of
//! a branch when its target is not after it.
//!
//! Loop rotation: a loop compiled as `L: if cond goto EXIT; body; goto L`
//! runs `goto L` and the test on every iteration. When a back-edge `Br`
//! lands on such a test, it is assembled as `if !cond goto L+1; goto EXIT`
//! (the test reads only slots, so evaluating it at the bottom is
//! equivalent), saving one dispatch per iteration.

use super::code::{BinKind, Handler, Instr, Op};
use super::handlers as h;

fn op(handler: Handler, a: u32, b: u32, c: u32, d: u32) -> Op {
    Op { handler, a, b, c, d }
}

/// The handler of `dst = a kind imm`.
fn binary_imm_handler(kind: BinKind) -> Handler {
    use BinKind as K;
    match kind {
        K::I32Add => h::i32_add_imm,
        K::I32Sub => h::i32_sub_imm,
        K::I32Mul => h::i32_mul_imm,
        K::I32And => h::i32_and_imm,
        K::I32Or => h::i32_or_imm,
        K::I32Xor => h::i32_xor_imm,
        K::I32Shl => h::i32_shl_imm,
        K::I32ShrS => h::i32_shr_s_imm,
        K::I32ShrU => h::i32_shr_u_imm,
        K::I32Rotl => h::i32_rotl_imm,
        K::I32Rotr => h::i32_rotr_imm,
        K::I32Eq => h::i32_eq_imm,
        K::I32Ne => h::i32_ne_imm,
        K::I32LtS => h::i32_lt_s_imm,
        K::I32LtU => h::i32_lt_u_imm,
        K::I32GtS => h::i32_gt_s_imm,
        K::I32GtU => h::i32_gt_u_imm,
        K::I32LeS => h::i32_le_s_imm,
        K::I32LeU => h::i32_le_u_imm,
        K::I32GeS => h::i32_ge_s_imm,
        K::I32GeU => h::i32_ge_u_imm,
        K::I64Add => h::i64_add_imm,
        K::I64Sub => h::i64_sub_imm,
        K::I64Mul => h::i64_mul_imm,
        K::I64And => h::i64_and_imm,
        K::I64Or => h::i64_or_imm,
        K::I64Xor => h::i64_xor_imm,
        K::I64Shl => h::i64_shl_imm,
        K::I64ShrS => h::i64_shr_s_imm,
        K::I64ShrU => h::i64_shr_u_imm,
        K::I64Rotl => h::i64_rotl_imm,
        K::I64Rotr => h::i64_rotr_imm,
        K::I64Eq => h::i64_eq_imm,
        K::I64Ne => h::i64_ne_imm,
        K::I64LtS => h::i64_lt_s_imm,
        K::I64LtU => h::i64_lt_u_imm,
        K::I64GtS => h::i64_gt_s_imm,
        K::I64GtU => h::i64_gt_u_imm,
        K::I64LeS => h::i64_le_s_imm,
        K::I64LeU => h::i64_le_u_imm,
        K::I64GeS => h::i64_ge_s_imm,
        K::I64GeU => h::i64_ge_u_imm,
    }
}

/// `h::$f::<true>` for back-edges, `h::$f::<false>` otherwise.
macro_rules! pick {
    ($back:expr, $f:ident) => {
        if $back { h::$f::<true> as Handler } else { h::$f::<false> as Handler }
    };
}

/// The handler of a fused compare-and-branch on two slots; `None` for a
/// kind that is not a comparison.
fn branch_handler(kind: BinKind, back: bool) -> Option<Handler> {
    use BinKind as K;
    Some(match kind {
        K::I32Eq => pick!(back, br_i32_eq),
        K::I32Ne => pick!(back, br_i32_ne),
        K::I32LtS => pick!(back, br_i32_lt_s),
        K::I32LtU => pick!(back, br_i32_lt_u),
        K::I32GtS => pick!(back, br_i32_gt_s),
        K::I32GtU => pick!(back, br_i32_gt_u),
        K::I32LeS => pick!(back, br_i32_le_s),
        K::I32LeU => pick!(back, br_i32_le_u),
        K::I32GeS => pick!(back, br_i32_ge_s),
        K::I32GeU => pick!(back, br_i32_ge_u),
        K::I64Eq => pick!(back, br_i64_eq),
        K::I64Ne => pick!(back, br_i64_ne),
        K::I64LtS => pick!(back, br_i64_lt_s),
        K::I64LtU => pick!(back, br_i64_lt_u),
        K::I64GtS => pick!(back, br_i64_gt_s),
        K::I64GtU => pick!(back, br_i64_gt_u),
        K::I64LeS => pick!(back, br_i64_le_s),
        K::I64LeU => pick!(back, br_i64_le_u),
        K::I64GeS => pick!(back, br_i64_ge_s),
        K::I64GeU => pick!(back, br_i64_ge_u),
        _ => return None,
    })
}

/// The handler of a fused compare-with-immediate-and-branch.
fn branch_imm_handler(kind: BinKind, back: bool) -> Option<Handler> {
    use BinKind as K;
    Some(match kind {
        K::I32Eq => pick!(back, br_i32_eq_imm),
        K::I32Ne => pick!(back, br_i32_ne_imm),
        K::I32LtS => pick!(back, br_i32_lt_s_imm),
        K::I32LtU => pick!(back, br_i32_lt_u_imm),
        K::I32GtS => pick!(back, br_i32_gt_s_imm),
        K::I32GtU => pick!(back, br_i32_gt_u_imm),
        K::I32LeS => pick!(back, br_i32_le_s_imm),
        K::I32LeU => pick!(back, br_i32_le_u_imm),
        K::I32GeS => pick!(back, br_i32_ge_s_imm),
        K::I32GeU => pick!(back, br_i32_ge_u_imm),
        K::I64Eq => pick!(back, br_i64_eq_imm),
        K::I64Ne => pick!(back, br_i64_ne_imm),
        K::I64LtS => pick!(back, br_i64_lt_s_imm),
        K::I64LtU => pick!(back, br_i64_lt_u_imm),
        K::I64GtS => pick!(back, br_i64_gt_s_imm),
        K::I64GtU => pick!(back, br_i64_gt_u_imm),
        K::I64LeS => pick!(back, br_i64_le_s_imm),
        K::I64LeU => pick!(back, br_i64_le_u_imm),
        K::I64GeS => pick!(back, br_i64_ge_s_imm),
        K::I64GeU => pick!(back, br_i64_ge_u_imm),
        _ => return None,
    })
}

/// Whether the instruction at `i` disappears in the assembled code.
fn dropped(code: &[Instr], i: usize) -> bool {
    match code[i] {
        Instr::LoopHeader => true,
        Instr::Aux { .. } => matches!(
            i.checked_sub(1).map(|p| &code[p]),
            Some(
                Instr::Select { .. }
                    | Instr::CallIndirect { .. }
                    | Instr::TableGrow { .. }
                    | Instr::TableFill { .. }
                    | Instr::MemoryFill { .. }
            )
        ),
        _ => false,
    }
}

pub(crate) fn is_cond_branch(i: &Instr) -> Option<u32> {
    use Instr as I;
    match *i {
        I::BrIfNez { target, .. }
        | I::BrIfEqz { target, .. }
        | I::BrI32Eq { target, .. }
        | I::BrI32Ne { target, .. }
        | I::BrI32LtS { target, .. }
        | I::BrI32LtU { target, .. }
        | I::BrI32GtS { target, .. }
        | I::BrI32GtU { target, .. }
        | I::BrI32LeS { target, .. }
        | I::BrI32LeU { target, .. }
        | I::BrI32GeS { target, .. }
        | I::BrI32GeU { target, .. }
        | I::BrCmp { target, .. }
        | I::BrCmpImm { target, .. } => Some(target),
        _ => None,
    }
}

/// Which instructions are entries of a `br_table`: the `len + 1` branches
/// after each `BrTable`, which `h::br_table` indexes as consecutive ops, so
/// each must stay exactly one op.
fn table_entries(code: &[Instr]) -> Vec<bool> {
    let mut entry = vec![false; code.len()];
    for (i, instr) in code.iter().enumerate() {
        if let Instr::BrTable { len, .. } = *instr {
            for e in entry.iter_mut().skip(i + 1).take(len as usize + 1) {
                *e = true;
            }
        }
    }
    entry
}

/// For a back-edge `Br` at `i` that lands on a loop-exit test, the index
/// of that test. A `br_table` entry is never rotated: rotation makes two
/// ops of one branch, and the table's entries must stay one op each.
fn rotatable(code: &[Instr], i: usize, table_entry: &[bool]) -> Option<usize> {
    if table_entry[i] {
        return None;
    }
    let Instr::Br { target } = code[i] else { return None };
    let mut t = target as usize;
    if t > i {
        return None;
    }
    while t < code.len() && dropped(code, t) {
        t += 1;
    }
    let exit = is_cond_branch(code.get(t)?)?;
    (exit as usize > i).then_some(t)
}

/// The first instruction at or after `i` that is not dropped.
fn skip_dropped(code: &[Instr], mut i: usize) -> usize {
    while i < code.len() && dropped(code, i) {
        i += 1;
    }
    i
}

/// If control at `i` reaches a return at once (a return, or a forward
/// `Br` to one), that return.
fn reaches_return(code: &[Instr], i: usize) -> Option<Instr> {
    let i = skip_dropped(code, i);
    match code.get(i)? {
        r @ (Instr::Return0 | Instr::Return1 { .. } | Instr::ReturnN { .. }) => Some(*r),
        Instr::Br { target } if *target as usize > i => match code.get(skip_dropped(code, *target as usize))? {
            r @ (Instr::Return0 | Instr::Return1 { .. } | Instr::ReturnN { .. }) => Some(*r),
            _ => None,
        },
        _ => None,
    }
}

/// Which instructions some branch jumps to.
fn branch_targets(code: &[Instr]) -> Vec<bool> {
    let mut is_target = vec![false; code.len() + 1];
    for i in code {
        let t = match *i {
            Instr::Br { target } => Some(target),
            _ => is_cond_branch(i),
        };
        if let Some(t) = t {
            is_target[skip_dropped(code, t as usize)] = true;
        }
    }
    is_target
}

/// Jump threading to returns: a forward `Br` to a return becomes that
/// return, and `Copy { d <- s }` directly followed (with no branch landing
/// in between) by a return of `d` becomes a return of `s`.
fn thread_returns(code: &[Instr], i: usize, is_target: &[bool]) -> Option<Instr> {
    match code[i] {
        Instr::Br { target } if target as usize > i => reaches_return(code, i),
        Instr::Copy { dst, src } => {
            let next = skip_dropped(code, i + 1);
            match (is_target.get(next), reaches_return(code, next)) {
                (Some(false), Some(Instr::Return1 { src: r })) if r == dst => Some(Instr::Return1 { src }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether instruction `i` of `code` disappears in the assembled code.
pub(crate) fn is_dropped(code: &[Instr], i: usize) -> bool {
    dropped(code, i)
}

/// Assembles `code` (the translator's output for one function); also
/// returns, for every instruction index (and one past the end), the index
/// of the op that runs first from there.
pub(crate) fn assemble(code: &[Instr]) -> (Box<[Op]>, Vec<u32>) {
    let is_target = branch_targets(code);
    let table_entry = table_entries(code);
    let mut new_index = Vec::with_capacity(code.len() + 1);
    let mut n = 0u32;
    for i in 0..code.len() {
        new_index.push(n);
        if rotatable(code, i, &table_entry).is_some() {
            n += 2;
        } else if !dropped(code, i) {
            n += 1;
        }
    }
    new_index.push(n);

    let mut ops = Vec::with_capacity(n as usize);
    for (i, instr) in code.iter().enumerate() {
        if dropped(code, i) {
            continue;
        }
        let me = new_index[i] as i64;
        let aux_a = match code.get(i + 1) {
            Some(Instr::Aux { a, .. }) => *a,
            _ => 0,
        };
        if let Some(test) = rotatable(code, i, &table_entry) {
            let mut inverted = super::translate::negate_cmp(code[test]);
            let exit = is_cond_branch(&code[test]).expect("a conditional branch");
            super::translate::set_target(&mut inverted, test as u32 + 1);
            ops.push(assemble_one(&inverted, me, &new_index, 0));
            let to = new_index[exit as usize] as i64;
            ops.push(op(h::br::<false>, (to - me - 1) as i32 as u32, 0, 0, 0));
            continue;
        }
        let instr = thread_returns(code, i, &is_target).unwrap_or(*instr);
        ops.push(assemble_one(&instr, me, &new_index, aux_a));
    }
    (ops.into_boxed_slice(), new_index)
}

/// The op for `instr` placed at index `me`; `aux_a` is the word of a
/// following folded `Aux`.
fn assemble_one(instr: &Instr, me: i64, new_index: &[u32], aux_a: u32) -> Op {
    {
        // (relative offset, is a back-edge) of a branch to old index `t`.
        let rel = |t: u32| {
            let to = new_index[t as usize] as i64;
            ((to - me) as i32 as u32, to <= me)
        };
        macro_rules! branch {
            ($f:ident, $t:expr, $x:expr, $y:expr) => {{
                let (r, back) = rel($t);
                if back { op(h::$f::<true>, $x, $y, r, 0) } else { op(h::$f::<false>, $x, $y, r, 0) }
            }};
        }
        use Instr as I;
        match *instr {
            I::Unreachable => op(h::unreachable, 0, 0, 0, 0),
            I::Aux { a, b, c } => op(h::aux, a, b, c, 0),
            I::LoopHeader => unreachable!("dropped above"),
            I::Br { target } => {
                let (r, back) = rel(target);
                if back { op(h::br::<true>, r, 0, 0, 0) } else { op(h::br::<false>, r, 0, 0, 0) }
            }
            I::BrIfNez { cond, target } => {
                let (r, back) = rel(target);
                if back { op(h::br_if_nez::<true>, cond, r, 0, 0) } else { op(h::br_if_nez::<false>, cond, r, 0, 0) }
            }
            I::BrIfEqz { cond, target } => {
                let (r, back) = rel(target);
                if back { op(h::br_if_eqz::<true>, cond, r, 0, 0) } else { op(h::br_if_eqz::<false>, cond, r, 0, 0) }
            }
            I::BrI32Eq { a, b, target } => branch!(br_i32_eq, target, a, b),
            I::BrI32Ne { a, b, target } => branch!(br_i32_ne, target, a, b),
            I::BrI32LtS { a, b, target } => branch!(br_i32_lt_s, target, a, b),
            I::BrI32LtU { a, b, target } => branch!(br_i32_lt_u, target, a, b),
            I::BrI32GtS { a, b, target } => branch!(br_i32_gt_s, target, a, b),
            I::BrI32GtU { a, b, target } => branch!(br_i32_gt_u, target, a, b),
            I::BrI32LeS { a, b, target } => branch!(br_i32_le_s, target, a, b),
            I::BrI32LeU { a, b, target } => branch!(br_i32_le_u, target, a, b),
            I::BrI32GeS { a, b, target } => branch!(br_i32_ge_s, target, a, b),
            I::BrI32GeU { a, b, target } => branch!(br_i32_ge_u, target, a, b),
            I::BrCmp { a, b, target, kind } => {
                let (r, back) = rel(target);
                op(branch_handler(kind, back).unwrap_or(h::aux), a, b, r, 0)
            }
            I::BrCmpImm { a, imm, target, kind } => {
                let (r, back) = rel(target);
                op(branch_imm_handler(kind, back).unwrap_or(h::aux), a, imm, r, 0)
            }
            I::BinaryImm { dst, a, imm, kind } => op(binary_imm_handler(kind), dst, a, imm, 0),
            I::BrTable { index, len } => op(h::br_table, index, len, 0, 0),
            I::Return0 => op(h::return0, 0, 0, 0, 0),
            I::Return1 { src } => op(h::return1, src, 0, 0, 0),
            I::ReturnN { src, n } => op(h::return_n, src, n, 0, 0),
            I::Call { func, args } => op(h::call, func, args, 0, 0),
            I::CallIndirect { ty, index, args } => op(h::call_indirect, ty, index, args, aux_a),
            I::Select { dst, cond, a } => op(h::select, dst, cond, a, aux_a),
            I::Copy { dst, src } => op(h::copy, dst, src, 0, 0),
            I::GlobalGet { dst, global } => op(h::global_get, dst, global, 0, 0),
            I::GlobalSet { global, src } => op(h::global_set, global, src, 0, 0),
            I::RefIsNull { dst, src } => op(h::ref_is_null, dst, src, 0, 0),
            I::RefFunc { dst, func } => op(h::ref_func, dst, func, 0, 0),

            I::I32Load { dst, addr, offset }
            | I::F32Load { dst, addr, offset }
            | I::I64Load32U { dst, addr, offset } => op(h::i32_load, dst, addr, offset, 0),
            I::I64Load { dst, addr, offset } | I::F64Load { dst, addr, offset } => {
                op(h::i64_load, dst, addr, offset, 0)
            }
            I::I32Load8S { dst, addr, offset } => op(h::i32_load8_s, dst, addr, offset, 0),
            I::I32Load8U { dst, addr, offset } | I::I64Load8U { dst, addr, offset } => {
                op(h::i32_load8_u, dst, addr, offset, 0)
            }
            I::I32Load16S { dst, addr, offset } => op(h::i32_load16_s, dst, addr, offset, 0),
            I::I32Load16U { dst, addr, offset } | I::I64Load16U { dst, addr, offset } => {
                op(h::i32_load16_u, dst, addr, offset, 0)
            }
            I::I64Load8S { dst, addr, offset } => op(h::i64_load8_s, dst, addr, offset, 0),
            I::I64Load16S { dst, addr, offset } => op(h::i64_load16_s, dst, addr, offset, 0),
            I::I64Load32S { dst, addr, offset } => op(h::i64_load32_s, dst, addr, offset, 0),
            I::I32Store { addr, src, offset }
            | I::F32Store { addr, src, offset }
            | I::I64Store32 { addr, src, offset } => op(h::i32_store, addr, src, offset, 0),
            I::I64Store { addr, src, offset } | I::F64Store { addr, src, offset } => {
                op(h::i64_store, addr, src, offset, 0)
            }
            I::I32Store8 { addr, src, offset } | I::I64Store8 { addr, src, offset } => {
                op(h::i32_store8, addr, src, offset, 0)
            }
            I::I32Store16 { addr, src, offset } | I::I64Store16 { addr, src, offset } => {
                op(h::i32_store16, addr, src, offset, 0)
            }
            I::MemorySize { dst, mem } => op(h::memory_size, dst, mem, 0, 0),
            I::MemoryGrow { dst, delta, mem } => op(h::memory_grow, dst, delta, mem, 0),
            I::MemoryFill { dst, val, len } => op(h::memory_fill, dst, val, len, aux_a),
            I::MemoryCopy { dst, src, len } => op(h::memory_copy, dst, src, len, 0),
            I::MemoryInit { dst, src, len } => op(h::memory_init, dst, src, len, 0),
            I::DataDrop { data } => op(h::data_drop, data, 0, 0, 0),
            I::TableGet { dst, index, table } => op(h::table_get, dst, index, table, 0),
            I::TableSet { table, index, src } => op(h::table_set, table, index, src, 0),
            I::TableSize { dst, table } => op(h::table_size, dst, table, 0, 0),
            I::TableGrow { dst, init, delta } => op(h::table_grow, dst, init, delta, aux_a),
            I::TableFill { index, val, len } => op(h::table_fill, index, val, len, aux_a),
            I::TableCopy { dst, src, len } => op(h::table_copy, dst, src, len, 0),
            I::TableInit { dst, src, len } => op(h::table_init, dst, src, len, 0),
            I::ElemDrop { elem } => op(h::elem_drop, elem, 0, 0, 0),

            I::I32Eqz { dst, src } => op(h::i32_eqz, dst, src, 0, 0),
            I::I64Eqz { dst, src } => op(h::i64_eqz, dst, src, 0, 0),
            I::I32Clz { dst, src } => op(h::i32_clz, dst, src, 0, 0),
            I::I32Ctz { dst, src } => op(h::i32_ctz, dst, src, 0, 0),
            I::I32Popcnt { dst, src } => op(h::i32_popcnt, dst, src, 0, 0),
            I::I64Clz { dst, src } => op(h::i64_clz, dst, src, 0, 0),
            I::I64Ctz { dst, src } => op(h::i64_ctz, dst, src, 0, 0),
            I::I64Popcnt { dst, src } => op(h::i64_popcnt, dst, src, 0, 0),
            I::F32Abs { dst, src } => op(h::f32_abs, dst, src, 0, 0),
            I::F32Neg { dst, src } => op(h::f32_neg, dst, src, 0, 0),
            I::F32Ceil { dst, src } => op(h::f32_ceil, dst, src, 0, 0),
            I::F32Floor { dst, src } => op(h::f32_floor, dst, src, 0, 0),
            I::F32Trunc { dst, src } => op(h::f32_trunc, dst, src, 0, 0),
            I::F32Nearest { dst, src } => op(h::f32_nearest, dst, src, 0, 0),
            I::F32Sqrt { dst, src } => op(h::f32_sqrt, dst, src, 0, 0),
            I::F64Abs { dst, src } => op(h::f64_abs, dst, src, 0, 0),
            I::F64Neg { dst, src } => op(h::f64_neg, dst, src, 0, 0),
            I::F64Ceil { dst, src } => op(h::f64_ceil, dst, src, 0, 0),
            I::F64Floor { dst, src } => op(h::f64_floor, dst, src, 0, 0),
            I::F64Trunc { dst, src } => op(h::f64_trunc, dst, src, 0, 0),
            I::F64Nearest { dst, src } => op(h::f64_nearest, dst, src, 0, 0),
            I::F64Sqrt { dst, src } => op(h::f64_sqrt, dst, src, 0, 0),
            I::I32WrapI64 { dst, src } => op(h::i32_wrap_i64, dst, src, 0, 0),
            I::I32TruncF32S { dst, src } => op(h::i32_trunc_f32_s, dst, src, 0, 0),
            I::I32TruncF32U { dst, src } => op(h::i32_trunc_f32_u, dst, src, 0, 0),
            I::I32TruncF64S { dst, src } => op(h::i32_trunc_f64_s, dst, src, 0, 0),
            I::I32TruncF64U { dst, src } => op(h::i32_trunc_f64_u, dst, src, 0, 0),
            I::I64ExtendI32S { dst, src } => op(h::i64_extend_i32_s, dst, src, 0, 0),
            I::I64ExtendI32U { dst, src } => op(h::i64_extend_i32_u, dst, src, 0, 0),
            I::I64TruncF32S { dst, src } => op(h::i64_trunc_f32_s, dst, src, 0, 0),
            I::I64TruncF32U { dst, src } => op(h::i64_trunc_f32_u, dst, src, 0, 0),
            I::I64TruncF64S { dst, src } => op(h::i64_trunc_f64_s, dst, src, 0, 0),
            I::I64TruncF64U { dst, src } => op(h::i64_trunc_f64_u, dst, src, 0, 0),
            I::F32ConvertI32S { dst, src } => op(h::f32_convert_i32_s, dst, src, 0, 0),
            I::F32ConvertI32U { dst, src } => op(h::f32_convert_i32_u, dst, src, 0, 0),
            I::F32ConvertI64S { dst, src } => op(h::f32_convert_i64_s, dst, src, 0, 0),
            I::F32ConvertI64U { dst, src } => op(h::f32_convert_i64_u, dst, src, 0, 0),
            I::F32DemoteF64 { dst, src } => op(h::f32_demote_f64, dst, src, 0, 0),
            I::F64ConvertI32S { dst, src } => op(h::f64_convert_i32_s, dst, src, 0, 0),
            I::F64ConvertI32U { dst, src } => op(h::f64_convert_i32_u, dst, src, 0, 0),
            I::F64ConvertI64S { dst, src } => op(h::f64_convert_i64_s, dst, src, 0, 0),
            I::F64ConvertI64U { dst, src } => op(h::f64_convert_i64_u, dst, src, 0, 0),
            I::F64PromoteF32 { dst, src } => op(h::f64_promote_f32, dst, src, 0, 0),
            I::I32Extend8S { dst, src } => op(h::i32_extend8_s, dst, src, 0, 0),
            I::I32Extend16S { dst, src } => op(h::i32_extend16_s, dst, src, 0, 0),
            I::I64Extend8S { dst, src } => op(h::i64_extend8_s, dst, src, 0, 0),
            I::I64Extend16S { dst, src } => op(h::i64_extend16_s, dst, src, 0, 0),
            I::I64Extend32S { dst, src } => op(h::i64_extend32_s, dst, src, 0, 0),
            I::I32TruncSatF32S { dst, src } => op(h::i32_trunc_sat_f32_s, dst, src, 0, 0),
            I::I32TruncSatF32U { dst, src } => op(h::i32_trunc_sat_f32_u, dst, src, 0, 0),
            I::I32TruncSatF64S { dst, src } => op(h::i32_trunc_sat_f64_s, dst, src, 0, 0),
            I::I32TruncSatF64U { dst, src } => op(h::i32_trunc_sat_f64_u, dst, src, 0, 0),
            I::I64TruncSatF32S { dst, src } => op(h::i64_trunc_sat_f32_s, dst, src, 0, 0),
            I::I64TruncSatF32U { dst, src } => op(h::i64_trunc_sat_f32_u, dst, src, 0, 0),
            I::I64TruncSatF64S { dst, src } => op(h::i64_trunc_sat_f64_s, dst, src, 0, 0),
            I::I64TruncSatF64U { dst, src } => op(h::i64_trunc_sat_f64_u, dst, src, 0, 0),

            I::I32Eq { dst, a, b } => op(h::i32_eq, dst, a, b, 0),
            I::I32Ne { dst, a, b } => op(h::i32_ne, dst, a, b, 0),
            I::I32LtS { dst, a, b } => op(h::i32_lt_s, dst, a, b, 0),
            I::I32LtU { dst, a, b } => op(h::i32_lt_u, dst, a, b, 0),
            I::I32GtS { dst, a, b } => op(h::i32_gt_s, dst, a, b, 0),
            I::I32GtU { dst, a, b } => op(h::i32_gt_u, dst, a, b, 0),
            I::I32LeS { dst, a, b } => op(h::i32_le_s, dst, a, b, 0),
            I::I32LeU { dst, a, b } => op(h::i32_le_u, dst, a, b, 0),
            I::I32GeS { dst, a, b } => op(h::i32_ge_s, dst, a, b, 0),
            I::I32GeU { dst, a, b } => op(h::i32_ge_u, dst, a, b, 0),
            I::I64Eq { dst, a, b } => op(h::i64_eq, dst, a, b, 0),
            I::I64Ne { dst, a, b } => op(h::i64_ne, dst, a, b, 0),
            I::I64LtS { dst, a, b } => op(h::i64_lt_s, dst, a, b, 0),
            I::I64LtU { dst, a, b } => op(h::i64_lt_u, dst, a, b, 0),
            I::I64GtS { dst, a, b } => op(h::i64_gt_s, dst, a, b, 0),
            I::I64GtU { dst, a, b } => op(h::i64_gt_u, dst, a, b, 0),
            I::I64LeS { dst, a, b } => op(h::i64_le_s, dst, a, b, 0),
            I::I64LeU { dst, a, b } => op(h::i64_le_u, dst, a, b, 0),
            I::I64GeS { dst, a, b } => op(h::i64_ge_s, dst, a, b, 0),
            I::I64GeU { dst, a, b } => op(h::i64_ge_u, dst, a, b, 0),
            I::F32Eq { dst, a, b } => op(h::f32_eq, dst, a, b, 0),
            I::F32Ne { dst, a, b } => op(h::f32_ne, dst, a, b, 0),
            I::F32Lt { dst, a, b } => op(h::f32_lt, dst, a, b, 0),
            I::F32Gt { dst, a, b } => op(h::f32_gt, dst, a, b, 0),
            I::F32Le { dst, a, b } => op(h::f32_le, dst, a, b, 0),
            I::F32Ge { dst, a, b } => op(h::f32_ge, dst, a, b, 0),
            I::F64Eq { dst, a, b } => op(h::f64_eq, dst, a, b, 0),
            I::F64Ne { dst, a, b } => op(h::f64_ne, dst, a, b, 0),
            I::F64Lt { dst, a, b } => op(h::f64_lt, dst, a, b, 0),
            I::F64Gt { dst, a, b } => op(h::f64_gt, dst, a, b, 0),
            I::F64Le { dst, a, b } => op(h::f64_le, dst, a, b, 0),
            I::F64Ge { dst, a, b } => op(h::f64_ge, dst, a, b, 0),
            I::I32Add { dst, a, b } => op(h::i32_add, dst, a, b, 0),
            I::I32Sub { dst, a, b } => op(h::i32_sub, dst, a, b, 0),
            I::I32Mul { dst, a, b } => op(h::i32_mul, dst, a, b, 0),
            I::I32DivS { dst, a, b } => op(h::i32_div_s, dst, a, b, 0),
            I::I32DivU { dst, a, b } => op(h::i32_div_u, dst, a, b, 0),
            I::I32RemS { dst, a, b } => op(h::i32_rem_s, dst, a, b, 0),
            I::I32RemU { dst, a, b } => op(h::i32_rem_u, dst, a, b, 0),
            I::I32And { dst, a, b } => op(h::i32_and, dst, a, b, 0),
            I::I32Or { dst, a, b } => op(h::i32_or, dst, a, b, 0),
            I::I32Xor { dst, a, b } => op(h::i32_xor, dst, a, b, 0),
            I::I32Shl { dst, a, b } => op(h::i32_shl, dst, a, b, 0),
            I::I32ShrS { dst, a, b } => op(h::i32_shr_s, dst, a, b, 0),
            I::I32ShrU { dst, a, b } => op(h::i32_shr_u, dst, a, b, 0),
            I::I32Rotl { dst, a, b } => op(h::i32_rotl, dst, a, b, 0),
            I::I32Rotr { dst, a, b } => op(h::i32_rotr, dst, a, b, 0),
            I::I64Add { dst, a, b } => op(h::i64_add, dst, a, b, 0),
            I::I64Sub { dst, a, b } => op(h::i64_sub, dst, a, b, 0),
            I::I64Mul { dst, a, b } => op(h::i64_mul, dst, a, b, 0),
            I::I64DivS { dst, a, b } => op(h::i64_div_s, dst, a, b, 0),
            I::I64DivU { dst, a, b } => op(h::i64_div_u, dst, a, b, 0),
            I::I64RemS { dst, a, b } => op(h::i64_rem_s, dst, a, b, 0),
            I::I64RemU { dst, a, b } => op(h::i64_rem_u, dst, a, b, 0),
            I::I64And { dst, a, b } => op(h::i64_and, dst, a, b, 0),
            I::I64Or { dst, a, b } => op(h::i64_or, dst, a, b, 0),
            I::I64Xor { dst, a, b } => op(h::i64_xor, dst, a, b, 0),
            I::I64Shl { dst, a, b } => op(h::i64_shl, dst, a, b, 0),
            I::I64ShrS { dst, a, b } => op(h::i64_shr_s, dst, a, b, 0),
            I::I64ShrU { dst, a, b } => op(h::i64_shr_u, dst, a, b, 0),
            I::I64Rotl { dst, a, b } => op(h::i64_rotl, dst, a, b, 0),
            I::I64Rotr { dst, a, b } => op(h::i64_rotr, dst, a, b, 0),
            I::F32Add { dst, a, b } => op(h::f32_add, dst, a, b, 0),
            I::F32Sub { dst, a, b } => op(h::f32_sub, dst, a, b, 0),
            I::F32Mul { dst, a, b } => op(h::f32_mul, dst, a, b, 0),
            I::F32Div { dst, a, b } => op(h::f32_div, dst, a, b, 0),
            I::F32Min { dst, a, b } => op(h::f32_min_op, dst, a, b, 0),
            I::F32Max { dst, a, b } => op(h::f32_max_op, dst, a, b, 0),
            I::F32Copysign { dst, a, b } => op(h::f32_copysign, dst, a, b, 0),
            I::F64Add { dst, a, b } => op(h::f64_add, dst, a, b, 0),
            I::F64Sub { dst, a, b } => op(h::f64_sub, dst, a, b, 0),
            I::F64Mul { dst, a, b } => op(h::f64_mul, dst, a, b, 0),
            I::F64Div { dst, a, b } => op(h::f64_div, dst, a, b, 0),
            I::F64Min { dst, a, b } => op(h::f64_min_op, dst, a, b, 0),
            I::F64Max { dst, a, b } => op(h::f64_max_op, dst, a, b, 0),
            I::F64Copysign { dst, a, b } => op(h::f64_copysign, dst, a, b, 0),
        }
    }
}
