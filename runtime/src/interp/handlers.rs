//! The handlers of the interpreter's structural operations (control, calls,
//! variables, bulk memory and tables; the data operations' handlers are
//! generated from their rows in [`super::ops`]). See [`super::exec`] for
//! dispatch and [`super::exec::Handler`] for the contract every handler
//! relies on; all bodies below run under that contract, which is why this
//! module allows unsafe operations in its unsafe functions.
//!
//! Operand conventions (fields of [`Op`]): `a` is the destination slot of
//! value-producing ops; binary ops read `b` and `c`; unary ops read `b`;
//! loads read the address in `b` and the static offset in `c`; stores
//! write the value in `b` to the address in `a` plus offset `c`; branches
//! hold a relative target.

#![allow(unsafe_op_in_unsafe_fn)]

use super::code::Op;
use super::exec::{Exit, State, call_funcref, do_return, mem_regs, next, trap};
use crate::libcalls;
use kiln_environ::TrapCode;

// ---- slot access -----------------------------------------------------------

#[inline(always)]
unsafe fn u32_(fp: *mut u64, s: u32) -> u32 {
    *fp.add(s as usize) as u32
}
#[inline(always)]
unsafe fn u64_(fp: *mut u64, s: u32) -> u64 {
    *fp.add(s as usize)
}
#[inline(always)]
unsafe fn put_u32(fp: *mut u64, s: u32, v: u32) {
    *fp.add(s as usize) = v as u64;
}
#[inline(always)]
unsafe fn put_i32(fp: *mut u64, s: u32, v: i32) {
    *fp.add(s as usize) = v as u32 as u64;
}
#[inline(always)]
unsafe fn put_u64(fp: *mut u64, s: u32, v: u64) {
    *fp.add(s as usize) = v;
}

/// The target of the branch at `pc`.
#[inline(always)]
pub(super) unsafe fn target(pc: *const Op, rel: u32) -> *const Op {
    pc.offset(rel as i32 as isize)
}

/// Charges a back-edge; every [`super::exec::CHECK_INTERVAL`] of them,
/// checks the epoch deadline and resets the host stack.
macro_rules! jump {
    ($back:expr, $to:expr, $fp:expr, $st:expr, $mb:expr, $ml:expr) => {{
        let to = $to;
        if $back {
            if let Some(exit) = $crate::interp::exec::back_edge(to, $fp, $st, $mb, $ml) {
                return exit;
            }
        }
        next!(to, $fp, $st, $mb, $ml)
    }};
}
pub(super) use jump;

// ---- control ---------------------------------------------------------------

pub(super) unsafe fn unreachable(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    trap(pc, fp, st, mb, ml, TrapCode::UnreachableCodeReached)
}

/// Operand words of the preceding op; never executed.
pub(super) unsafe fn aux(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    trap(pc, fp, st, mb, ml, TrapCode::InternalError)
}

pub(super) unsafe fn br<const BACK: bool>(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    jump!(BACK, target(pc, (*pc).a), fp, st, mb, ml)
}

pub(super) unsafe fn br_if_nez<const BACK: bool>(
    pc: *const Op,
    fp: *mut u64,
    st: &mut State,
    mb: *mut u8,
    ml: usize,
) -> Exit {
    let op = &*pc;
    if u32_(fp, op.a) != 0 {
        jump!(BACK, target(pc, op.b), fp, st, mb, ml)
    }
    next!(pc.add(1), fp, st, mb, ml)
}

pub(super) unsafe fn br_if_eqz<const BACK: bool>(
    pc: *const Op,
    fp: *mut u64,
    st: &mut State,
    mb: *mut u8,
    ml: usize,
) -> Exit {
    let op = &*pc;
    if u32_(fp, op.a) == 0 {
        jump!(BACK, target(pc, op.b), fp, st, mb, ml)
    }
    next!(pc.add(1), fp, st, mb, ml)
}

/// `br_table`: `a` index slot, `b` number of targets; the `b + 1` entries
/// (branch ops) follow.
pub(super) unsafe fn br_table(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let i = u32_(fp, op.a).min(op.b);
    next!(pc.add(1 + i as usize), fp, st, mb, ml)
}

pub(super) unsafe fn return0(_pc: *const Op, _fp: *mut u64, st: &mut State, _mb: *mut u8, _ml: usize) -> Exit {
    do_return(st)
}

pub(super) unsafe fn return1(pc: *const Op, fp: *mut u64, st: &mut State, _mb: *mut u8, _ml: usize) -> Exit {
    *fp = *fp.add((*pc).a as usize);
    do_return(st)
}

pub(super) unsafe fn return_n(pc: *const Op, fp: *mut u64, st: &mut State, _mb: *mut u8, _ml: usize) -> Exit {
    let op = &*pc;
    core::ptr::copy(fp.add(op.a as usize), fp, op.b as usize);
    do_return(st)
}

/// `call`: `a` function index, `b` argument slot.
pub(super) unsafe fn call(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let fref = (*st.inst).func_ref(op.a);
    let f = op.a;
    call_funcref(pc, fp, st, mb, ml, fref, op.b, |inst| inst.func_type(f).array_call_len() as usize)
}

/// `call_indirect`: `a` type index, `b` index slot, `c` argument slot, `d` table.
pub(super) unsafe fn call_indirect(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let fref = match (*st.inst).indirect_callee(op.d, u32_(fp, op.b), op.a) {
        Ok(f) => f,
        Err(code) => return trap(pc, fp, st, mb, ml, code),
    };
    let ty = op.a;
    call_funcref(pc, fp, st, mb, ml, fref, op.c, |inst| inst.module_type(ty).array_call_len() as usize)
}

/// `select`: `a` dst, `b` condition, `c` / `d` the alternatives.
pub(super) unsafe fn select(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let v = if u32_(fp, op.b) != 0 { u64_(fp, op.c) } else { u64_(fp, op.d) };
    put_u64(fp, op.a, v);
    next!(pc.add(1), fp, st, mb, ml)
}

/// `copy`: `a` dst, `b` src.
pub(super) unsafe fn copy(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    put_u64(fp, op.a, u64_(fp, op.b));
    next!(pc.add(1), fp, st, mb, ml)
}

// ---- variables, references -------------------------------------------------

pub(super) unsafe fn global_get(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    put_u64(fp, op.a, *(*st.inst).global_ptr(op.b));
    next!(pc.add(1), fp, st, mb, ml)
}

pub(super) unsafe fn global_set(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    *(*st.inst).global_ptr(op.a) = u64_(fp, op.b);
    next!(pc.add(1), fp, st, mb, ml)
}

pub(super) unsafe fn ref_func(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    put_u64(fp, op.a, (*st.inst).func_ref(op.b) as usize as u64);
    next!(pc.add(1), fp, st, mb, ml)
}

// ---- memory ----------------------------------------------------------------

/// `memory.size`: `a` dst, `b` memory.
pub(super) unsafe fn memory_size(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    put_u32(fp, op.a, libcalls::memory_size(st.inst, op.b));
    next!(pc.add(1), fp, st, mb, ml)
}

/// `memory.grow`: `a` dst, `b` delta slot, `c` memory.
pub(super) unsafe fn memory_grow(pc: *const Op, fp: *mut u64, st: &mut State, _mb: *mut u8, _ml: usize) -> Exit {
    let op = &*pc;
    put_i32(fp, op.a, libcalls::memory_grow(st.inst, op.c, u32_(fp, op.b)));
    let (mb, ml) = mem_regs(st.inst);
    next!(pc.add(1), fp, st, mb, ml)
}

/// `memory.fill`: `a` dst, `b` value, `c` length slots, `d` memory.
pub(super) unsafe fn memory_fill(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    if let Err(code) = libcalls::memory_fill(st.inst, op.d, u32_(fp, op.a), u32_(fp, op.b) as u8, u32_(fp, op.c)) {
        return trap(pc, fp, st, mb, ml, code);
    }
    next!(pc.add(1), fp, st, mb, ml)
}

/// The (a, b) words of the `Aux` op after `pc`.
#[inline(always)]
unsafe fn aux_words(pc: *const Op) -> (u32, u32) {
    let aux = &*pc.add(1);
    (aux.a, aux.b)
}

/// `memory.copy`: `a` dst, `b` src, `c` length; aux (dst memory, src memory).
pub(super) unsafe fn memory_copy(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let (dm, sm) = aux_words(pc);
    if let Err(code) = libcalls::memory_copy(st.inst, dm, u32_(fp, op.a), sm, u32_(fp, op.b), u32_(fp, op.c)) {
        return trap(pc, fp, st, mb, ml, code);
    }
    next!(pc.add(2), fp, st, mb, ml)
}

/// `memory.init`: `a` dst, `b` src, `c` length; aux (memory, segment).
pub(super) unsafe fn memory_init(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let (m, data) = aux_words(pc);
    if let Err(code) = libcalls::memory_init(st.inst, m, data, u32_(fp, op.a), u32_(fp, op.b), u32_(fp, op.c)) {
        return trap(pc, fp, st, mb, ml, code);
    }
    next!(pc.add(2), fp, st, mb, ml)
}

/// `data.drop`: `a` segment.
pub(super) unsafe fn data_drop(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    libcalls::data_drop(st.inst, (*pc).a);
    next!(pc.add(1), fp, st, mb, ml)
}

// ---- tables ----------------------------------------------------------------

/// `table.get`: `a` dst, `b` index slot, `c` table.
pub(super) unsafe fn table_get(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    match libcalls::table_get(st.inst, op.c, u32_(fp, op.b)) {
        Ok(v) => put_u64(fp, op.a, v as u64),
        Err(code) => return trap(pc, fp, st, mb, ml, code),
    }
    next!(pc.add(1), fp, st, mb, ml)
}

/// `table.set`: `a` table, `b` index slot, `c` value slot.
pub(super) unsafe fn table_set(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    if let Err(code) = libcalls::table_set(st.inst, op.a, u32_(fp, op.b), u64_(fp, op.c) as usize) {
        return trap(pc, fp, st, mb, ml, code);
    }
    next!(pc.add(1), fp, st, mb, ml)
}

/// `table.size`: `a` dst, `b` table.
pub(super) unsafe fn table_size(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    put_u32(fp, op.a, libcalls::table_size(st.inst, op.b));
    next!(pc.add(1), fp, st, mb, ml)
}

/// `table.grow`: `a` dst, `b` init slot, `c` delta slot, `d` table.
pub(super) unsafe fn table_grow(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    put_i32(fp, op.a, libcalls::table_grow(st.inst, op.d, u64_(fp, op.b) as usize, u32_(fp, op.c)));
    next!(pc.add(1), fp, st, mb, ml)
}

/// `table.fill`: `a` index, `b` value, `c` length slots, `d` table.
pub(super) unsafe fn table_fill(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    if let Err(code) = libcalls::table_fill(st.inst, op.d, u32_(fp, op.a), u64_(fp, op.b) as usize, u32_(fp, op.c)) {
        return trap(pc, fp, st, mb, ml, code);
    }
    next!(pc.add(1), fp, st, mb, ml)
}

/// `table.copy`: `a` dst, `b` src, `c` length; aux (dst table, src table).
pub(super) unsafe fn table_copy(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let (dt, stb) = aux_words(pc);
    if let Err(code) = libcalls::table_copy(st.inst, dt, u32_(fp, op.a), stb, u32_(fp, op.b), u32_(fp, op.c)) {
        return trap(pc, fp, st, mb, ml, code);
    }
    next!(pc.add(2), fp, st, mb, ml)
}

/// `table.init`: `a` dst, `b` src, `c` length; aux (table, segment).
pub(super) unsafe fn table_init(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    let op = &*pc;
    let (t, e) = aux_words(pc);
    if let Err(code) = libcalls::table_init(st.inst, t, e, u32_(fp, op.a), u32_(fp, op.b), u32_(fp, op.c)) {
        return trap(pc, fp, st, mb, ml, code);
    }
    next!(pc.add(2), fp, st, mb, ml)
}

/// `elem.drop`: `a` segment.
pub(super) unsafe fn elem_drop(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    libcalls::elem_drop(st.inst, (*pc).a);
    next!(pc.add(1), fp, st, mb, ml)
}
