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

use super::code::Op;
use super::exec::Handler;
use super::handlers as h;
use super::ops::Instr;

/// Whether the instruction at `i` disappears in the assembled code: loop
/// headers, and an `Aux` folded into the preceding op.
fn dropped(code: &[Instr], i: usize) -> bool {
    match code[i] {
        Instr::LoopHeader => true,
        Instr::Aux { .. } => i.checked_sub(1).is_some_and(|p| code[p].folds_aux()),
        _ => false,
    }
}

pub(crate) fn is_cond_branch(i: &Instr) -> Option<u32> {
    use Instr as I;
    match *i {
        I::BrIfNez { target, .. }
        | I::BrIfEqz { target, .. }
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
            ops.push(Op::new(h::br::<false>, (to - me - 1) as i32 as u32, 0, 0, 0));
            continue;
        }
        let instr = thread_returns(code, i, &is_target).unwrap_or(*instr);
        ops.push(assemble_one(&instr, me, &new_index, aux_a));
    }
    (ops.into_boxed_slice(), new_index)
}

/// The op for `instr` placed at index `me`; `aux_a` is the word of a
/// following folded `Aux`. Branches get their targets as offsets relative
/// to `me` and the back-edge variant of their handler when the target is
/// not after them; everything else is lowered as its row in `ops` says.
fn assemble_one(instr: &Instr, me: i64, new_index: &[u32], aux_a: u32) -> Op {
    // (relative offset, is a back-edge) of a branch to old index `t`.
    let rel = |t: u32| {
        let to = new_index[t as usize] as i64;
        ((to - me) as i32 as u32, to <= me)
    };
    macro_rules! pick {
        ($back:expr, $f:ident) => {
            if $back { h::$f::<true> as Handler } else { h::$f::<false> as Handler }
        };
    }
    let op = |handler: Handler, a: u32, b: u32, c: u32| Op::new(handler, a, b, c, 0);
    use Instr as I;
    match *instr {
        I::Br { target } => {
            let (r, back) = rel(target);
            op(pick!(back, br), r, 0, 0)
        }
        I::BrIfNez { cond, target } => {
            let (r, back) = rel(target);
            op(pick!(back, br_if_nez), cond, r, 0)
        }
        I::BrIfEqz { cond, target } => {
            let (r, back) = rel(target);
            op(pick!(back, br_if_eqz), cond, r, 0)
        }
        I::BrCmp { a, b, target, kind } => {
            let (r, back) = rel(target);
            op(kind.branch_handler(back).unwrap_or(h::aux), a, b, r)
        }
        I::BrCmpImm { a, imm, target, kind } => {
            let (r, back) = rel(target);
            op(kind.branch_imm_handler(back).unwrap_or(h::aux), a, imm, r)
        }
        // Dropped by `assemble` (never reached), and a trap if it were.
        I::LoopHeader => op(h::aux, 0, 0, 0),
        _ => instr.lower(aux_a).unwrap_or(op(h::aux, 0, 0, 0)),
    }
}
