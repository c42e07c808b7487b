//! The interpreter's handlers, one per operation (see [`super::exec`] for
//! dispatch and [`super::code::Handler`] for the contract every handler
//! relies on; all bodies below run under that contract, which is why this
//! module allows unsafe operations in its unsafe functions).
//!
//! Operand conventions (fields of [`Op`]): `a` is the destination slot of
//! value-producing ops; binary ops read `b` and `c`; unary ops read `b`;
//! loads read the address in `b` and the static offset in `c`; stores
//! write the value in `b` to the address in `a` plus offset `c`; branches
//! hold a relative target.

#![allow(unsafe_op_in_unsafe_fn)]

use super::code::Op;
use super::exec::{Exit, State, back_edge, call_funcref, do_return, mem_regs, next, trap};
use crate::libcalls;
use kiln_aot_format::TrapCode;

// ---- slot access -----------------------------------------------------------

#[inline(always)]
unsafe fn u32_(fp: *mut u64, s: u32) -> u32 {
    *fp.add(s as usize) as u32
}
#[inline(always)]
unsafe fn i32_(fp: *mut u64, s: u32) -> i32 {
    *fp.add(s as usize) as u32 as i32
}
#[inline(always)]
unsafe fn u64_(fp: *mut u64, s: u32) -> u64 {
    *fp.add(s as usize)
}
#[inline(always)]
unsafe fn i64_(fp: *mut u64, s: u32) -> i64 {
    *fp.add(s as usize) as i64
}
#[inline(always)]
unsafe fn f32_(fp: *mut u64, s: u32) -> f32 {
    f32::from_bits(*fp.add(s as usize) as u32)
}
#[inline(always)]
unsafe fn f64_(fp: *mut u64, s: u32) -> f64 {
    f64::from_bits(*fp.add(s as usize))
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
#[inline(always)]
unsafe fn put_i64(fp: *mut u64, s: u32, v: i64) {
    *fp.add(s as usize) = v as u64;
}
#[inline(always)]
unsafe fn put_f32(fp: *mut u64, s: u32, v: f32) {
    *fp.add(s as usize) = v.to_bits() as u64;
}
#[inline(always)]
unsafe fn put_f64(fp: *mut u64, s: u32, v: f64) {
    *fp.add(s as usize) = v.to_bits();
}
#[inline(always)]
unsafe fn put_bool(fp: *mut u64, s: u32, v: bool) {
    *fp.add(s as usize) = v as u64;
}

// ---- float semantics (spec §4.3.3) ------------------------------------------

// `min`/`max`: a NaN operand gives a NaN with the quiet bit set (arithmetic
// NaN; canonical stays canonical); `-0` is below `+0`. The quieting is
// explicit: LLVM may fold `nan + x` to the unquieted operand.
macro_rules! float_min_max {
    ($min:ident, $max:ident, $f:ty, $quiet:expr) => {
        #[inline(always)]
        fn $min(a: $f, b: $f) -> $f {
            if a.is_nan() {
                <$f>::from_bits(a.to_bits() | $quiet)
            } else if b.is_nan() {
                <$f>::from_bits(b.to_bits() | $quiet)
            } else if a == b {
                if a.is_sign_negative() { a } else { b }
            } else if a < b {
                a
            } else {
                b
            }
        }
        #[inline(always)]
        fn $max(a: $f, b: $f) -> $f {
            if a.is_nan() {
                <$f>::from_bits(a.to_bits() | $quiet)
            } else if b.is_nan() {
                <$f>::from_bits(b.to_bits() | $quiet)
            } else if a == b {
                if a.is_sign_positive() { a } else { b }
            } else if a > b {
                a
            } else {
                b
            }
        }
    };
}
float_min_max!(f32_min, f32_max, f32, 0x0040_0000);
float_min_max!(f64_min, f64_max, f64, 0x0008_0000_0000_0000);

// Rounding: a NaN operand gives an arithmetic NaN. Software rounding (hosts
// without SSE4.1) returns a signalling NaN unchanged, so quiet it here.
#[inline(always)]
fn round32(x: f32, f: fn(f32) -> f32) -> f32 {
    if x.is_nan() { f32::from_bits(x.to_bits() | 0x0040_0000) } else { f(x) }
}
#[inline(always)]
fn round64(x: f64, f: fn(f64) -> f64) -> f64 {
    if x.is_nan() { f64::from_bits(x.to_bits() | 0x0008_0000_0000_0000) } else { f(x) }
}

/// Checked float → int truncation (`trunc`): `lo < x < hi` after
/// excluding NaN (bounds exact in f64).
#[inline(always)]
fn trunc_check(x: f64, lo: f64, hi: f64) -> Result<(), TrapCode> {
    if x.is_nan() {
        Err(TrapCode::BadConversionToInteger)
    } else if x > lo && x < hi {
        Ok(())
    } else {
        Err(TrapCode::IntegerOverflow)
    }
}

// ---- handler generators ----------------------------------------------------

macro_rules! binary {
    ($($name:ident: $get:ident -> $put:ident, |$x:ident, $y:ident| $e:expr;)*) => {$(
        pub(super) unsafe fn $name(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let $x = $get(fp, op.b);
            let $y = $get(fp, op.c);
            $put(fp, op.a, $e);
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

macro_rules! binary_trapping {
    ($($name:ident: $get:ident -> $put:ident, |$x:ident, $y:ident| $e:expr;)*) => {$(
        pub(super) unsafe fn $name(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let $x = $get(fp, op.b);
            let $y = $get(fp, op.c);
            let r: Result<_, TrapCode> = $e;
            match r {
                Ok(v) => $put(fp, op.a, v),
                Err(code) => return trap(pc, fp, st, mb, ml, code),
            }
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

macro_rules! unary {
    ($($name:ident: $get:ident -> $put:ident, |$x:ident| $e:expr;)*) => {$(
        pub(super) unsafe fn $name(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let $x = $get(fp, op.b);
            $put(fp, op.a, $e);
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

macro_rules! unary_trapping {
    ($($name:ident: $get:ident -> $put:ident, |$x:ident| $check:expr => $e:expr;)*) => {$(
        pub(super) unsafe fn $name(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let $x = $get(fp, op.b);
            if let Err(code) = $check {
                return trap(pc, fp, st, mb, ml, code);
            }
            $put(fp, op.a, $e);
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

macro_rules! load {
    ($($name:ident: $t:ty => |$v:ident| $conv:expr;)*) => {$(
        pub(super) unsafe fn $name(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let ea = u32_(fp, op.b) as u64 + op.c as u64;
            if ea + core::mem::size_of::<$t>() as u64 > ml as u64 {
                return trap(pc, fp, st, mb, ml, TrapCode::MemoryOutOfBounds);
            }
            let $v = <$t>::from_le_bytes(core::ptr::read_unaligned(
                mb.add(ea as usize) as *const [u8; core::mem::size_of::<$t>()],
            ));
            *fp.add(op.a as usize) = $conv;
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

macro_rules! store {
    ($($name:ident: $t:ty;)*) => {$(
        pub(super) unsafe fn $name(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let ea = u32_(fp, op.a) as u64 + op.c as u64;
            if ea + core::mem::size_of::<$t>() as u64 > ml as u64 {
                return trap(pc, fp, st, mb, ml, TrapCode::MemoryOutOfBounds);
            }
            let v = *fp.add(op.b as usize) as $t;
            core::ptr::write_unaligned(mb.add(ea as usize) as *mut [u8; core::mem::size_of::<$t>()], v.to_le_bytes());
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

/// The target of the branch at `pc`.
#[inline(always)]
unsafe fn target(pc: *const Op, rel: u32) -> *const Op {
    pc.offset(rel as i32 as isize)
}

/// Charges a back-edge; every [`super::exec::CHECK_INTERVAL`] of them,
/// checks the epoch deadline and resets the host stack.
macro_rules! jump {
    ($back:expr, $to:expr, $fp:expr, $st:expr, $mb:expr, $ml:expr) => {{
        let to = $to;
        if $back {
            if let Some(exit) = back_edge(to, $fp, $st, $mb, $ml) {
                return exit;
            }
        }
        next!(to, $fp, $st, $mb, $ml)
    }};
}

macro_rules! branch_cmp {
    ($($name:ident: $get:ident, |$x:ident, $y:ident| $e:expr;)*) => {$(
        pub(super) unsafe fn $name<const BACK: bool>(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let $x = $get(fp, op.a);
            let $y = $get(fp, op.b);
            if $e {
                jump!(BACK, target(pc, op.c), fp, st, mb, ml)
            }
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

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

branch_cmp! {
    br_i32_eq: u32_, |x, y| x == y;
    br_i32_ne: u32_, |x, y| x != y;
    br_i32_lt_s: i32_, |x, y| x < y;
    br_i32_lt_u: u32_, |x, y| x < y;
    br_i32_gt_s: i32_, |x, y| x > y;
    br_i32_gt_u: u32_, |x, y| x > y;
    br_i32_le_s: i32_, |x, y| x <= y;
    br_i32_le_u: u32_, |x, y| x <= y;
    br_i32_ge_s: i32_, |x, y| x >= y;
    br_i32_ge_u: u32_, |x, y| x >= y;
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

unary! {
    copy: u64_ -> put_u64, |x| x;
    ref_is_null: u64_ -> put_bool, |x| x == 0;
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

load! {
    i32_load: u32 => |v| v as u64;
    i64_load: u64 => |v| v;
    i32_load8_s: i8 => |v| v as i32 as u32 as u64;
    i32_load8_u: u8 => |v| v as u64;
    i32_load16_s: i16 => |v| v as i32 as u32 as u64;
    i32_load16_u: u16 => |v| v as u64;
    i64_load8_s: i8 => |v| v as i64 as u64;
    i64_load16_s: i16 => |v| v as i64 as u64;
    i64_load32_s: i32 => |v| v as i64 as u64;
}

store! {
    i32_store: u32;
    i64_store: u64;
    i32_store8: u8;
    i32_store16: u16;
}

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

// ---- numeric ---------------------------------------------------------------

binary! {
    i32_eq: u32_ -> put_bool, |x, y| x == y;
    i32_ne: u32_ -> put_bool, |x, y| x != y;
    i32_lt_s: i32_ -> put_bool, |x, y| x < y;
    i32_lt_u: u32_ -> put_bool, |x, y| x < y;
    i32_gt_s: i32_ -> put_bool, |x, y| x > y;
    i32_gt_u: u32_ -> put_bool, |x, y| x > y;
    i32_le_s: i32_ -> put_bool, |x, y| x <= y;
    i32_le_u: u32_ -> put_bool, |x, y| x <= y;
    i32_ge_s: i32_ -> put_bool, |x, y| x >= y;
    i32_ge_u: u32_ -> put_bool, |x, y| x >= y;
    i64_eq: u64_ -> put_bool, |x, y| x == y;
    i64_ne: u64_ -> put_bool, |x, y| x != y;
    i64_lt_s: i64_ -> put_bool, |x, y| x < y;
    i64_lt_u: u64_ -> put_bool, |x, y| x < y;
    i64_gt_s: i64_ -> put_bool, |x, y| x > y;
    i64_gt_u: u64_ -> put_bool, |x, y| x > y;
    i64_le_s: i64_ -> put_bool, |x, y| x <= y;
    i64_le_u: u64_ -> put_bool, |x, y| x <= y;
    i64_ge_s: i64_ -> put_bool, |x, y| x >= y;
    i64_ge_u: u64_ -> put_bool, |x, y| x >= y;
    f32_eq: f32_ -> put_bool, |x, y| x == y;
    f32_ne: f32_ -> put_bool, |x, y| x != y;
    f32_lt: f32_ -> put_bool, |x, y| x < y;
    f32_gt: f32_ -> put_bool, |x, y| x > y;
    f32_le: f32_ -> put_bool, |x, y| x <= y;
    f32_ge: f32_ -> put_bool, |x, y| x >= y;
    f64_eq: f64_ -> put_bool, |x, y| x == y;
    f64_ne: f64_ -> put_bool, |x, y| x != y;
    f64_lt: f64_ -> put_bool, |x, y| x < y;
    f64_gt: f64_ -> put_bool, |x, y| x > y;
    f64_le: f64_ -> put_bool, |x, y| x <= y;
    f64_ge: f64_ -> put_bool, |x, y| x >= y;
    i32_add: u32_ -> put_u32, |x, y| x.wrapping_add(y);
    i32_sub: u32_ -> put_u32, |x, y| x.wrapping_sub(y);
    i32_mul: u32_ -> put_u32, |x, y| x.wrapping_mul(y);
    i32_and: u32_ -> put_u32, |x, y| x & y;
    i32_or: u32_ -> put_u32, |x, y| x | y;
    i32_xor: u32_ -> put_u32, |x, y| x ^ y;
    i32_shl: u32_ -> put_u32, |x, y| x.wrapping_shl(y);
    i32_shr_s: i32_ -> put_i32, |x, y| x.wrapping_shr(y as u32);
    i32_shr_u: u32_ -> put_u32, |x, y| x.wrapping_shr(y);
    i32_rotl: u32_ -> put_u32, |x, y| x.rotate_left(y & 31);
    i32_rotr: u32_ -> put_u32, |x, y| x.rotate_right(y & 31);
    i64_add: u64_ -> put_u64, |x, y| x.wrapping_add(y);
    i64_sub: u64_ -> put_u64, |x, y| x.wrapping_sub(y);
    i64_mul: u64_ -> put_u64, |x, y| x.wrapping_mul(y);
    i64_and: u64_ -> put_u64, |x, y| x & y;
    i64_or: u64_ -> put_u64, |x, y| x | y;
    i64_xor: u64_ -> put_u64, |x, y| x ^ y;
    i64_shl: u64_ -> put_u64, |x, y| x.wrapping_shl(y as u32);
    i64_shr_s: i64_ -> put_i64, |x, y| x.wrapping_shr(y as u32);
    i64_shr_u: u64_ -> put_u64, |x, y| x.wrapping_shr(y as u32);
    i64_rotl: u64_ -> put_u64, |x, y| x.rotate_left((y & 63) as u32);
    i64_rotr: u64_ -> put_u64, |x, y| x.rotate_right((y & 63) as u32);
    f32_add: f32_ -> put_f32, |x, y| x + y;
    f32_sub: f32_ -> put_f32, |x, y| x - y;
    f32_mul: f32_ -> put_f32, |x, y| x * y;
    f32_div: f32_ -> put_f32, |x, y| x / y;
    f32_min_op: f32_ -> put_f32, |x, y| f32_min(x, y);
    f32_max_op: f32_ -> put_f32, |x, y| f32_max(x, y);
    f32_copysign: u32_ -> put_u32, |x, y| (x & 0x7fff_ffff) | (y & 0x8000_0000);
    f64_add: f64_ -> put_f64, |x, y| x + y;
    f64_sub: f64_ -> put_f64, |x, y| x - y;
    f64_mul: f64_ -> put_f64, |x, y| x * y;
    f64_div: f64_ -> put_f64, |x, y| x / y;
    f64_min_op: f64_ -> put_f64, |x, y| f64_min(x, y);
    f64_max_op: f64_ -> put_f64, |x, y| f64_max(x, y);
    f64_copysign: u64_ -> put_u64, |x, y| (x & 0x7fff_ffff_ffff_ffff) | (y & 0x8000_0000_0000_0000);
}

binary_trapping! {
    i32_div_s: i32_ -> put_i32, |x, y| if y == 0 {
        Err(TrapCode::IntegerDivisionByZero)
    } else if x == i32::MIN && y == -1 {
        Err(TrapCode::IntegerOverflow)
    } else {
        Ok(x / y)
    };
    i32_div_u: u32_ -> put_u32, |x, y| x.checked_div(y).ok_or(TrapCode::IntegerDivisionByZero);
    i32_rem_s: i32_ -> put_i32, |x, y| if y == 0 { Err(TrapCode::IntegerDivisionByZero) } else { Ok(x.wrapping_rem(y)) };
    i32_rem_u: u32_ -> put_u32, |x, y| if y == 0 { Err(TrapCode::IntegerDivisionByZero) } else { Ok(x % y) };
    i64_div_s: i64_ -> put_i64, |x, y| if y == 0 {
        Err(TrapCode::IntegerDivisionByZero)
    } else if x == i64::MIN && y == -1 {
        Err(TrapCode::IntegerOverflow)
    } else {
        Ok(x / y)
    };
    i64_div_u: u64_ -> put_u64, |x, y| x.checked_div(y).ok_or(TrapCode::IntegerDivisionByZero);
    i64_rem_s: i64_ -> put_i64, |x, y| if y == 0 { Err(TrapCode::IntegerDivisionByZero) } else { Ok(x.wrapping_rem(y)) };
    i64_rem_u: u64_ -> put_u64, |x, y| if y == 0 { Err(TrapCode::IntegerDivisionByZero) } else { Ok(x % y) };
}

unary! {
    i32_eqz: u32_ -> put_bool, |x| x == 0;
    i64_eqz: u64_ -> put_bool, |x| x == 0;
    i32_clz: u32_ -> put_u32, |x| x.leading_zeros();
    i32_ctz: u32_ -> put_u32, |x| x.trailing_zeros();
    i32_popcnt: u32_ -> put_u32, |x| x.count_ones();
    i64_clz: u64_ -> put_u64, |x| x.leading_zeros() as u64;
    i64_ctz: u64_ -> put_u64, |x| x.trailing_zeros() as u64;
    i64_popcnt: u64_ -> put_u64, |x| x.count_ones() as u64;
    f32_abs: u32_ -> put_u32, |x| x & 0x7fff_ffff;
    f32_neg: u32_ -> put_u32, |x| x ^ 0x8000_0000;
    f32_ceil: f32_ -> put_f32, |x| round32(x, f32::ceil);
    f32_floor: f32_ -> put_f32, |x| round32(x, f32::floor);
    f32_trunc: f32_ -> put_f32, |x| round32(x, f32::trunc);
    f32_nearest: f32_ -> put_f32, |x| round32(x, f32::round_ties_even);
    f32_sqrt: f32_ -> put_f32, |x| x.sqrt();
    f64_abs: u64_ -> put_u64, |x| x & 0x7fff_ffff_ffff_ffff;
    f64_neg: u64_ -> put_u64, |x| x ^ 0x8000_0000_0000_0000;
    f64_ceil: f64_ -> put_f64, |x| round64(x, f64::ceil);
    f64_floor: f64_ -> put_f64, |x| round64(x, f64::floor);
    f64_trunc: f64_ -> put_f64, |x| round64(x, f64::trunc);
    f64_nearest: f64_ -> put_f64, |x| round64(x, f64::round_ties_even);
    f64_sqrt: f64_ -> put_f64, |x| x.sqrt();
    i32_wrap_i64: u64_ -> put_u32, |x| x as u32;
    i64_extend_i32_s: i32_ -> put_i64, |x| x as i64;
    i64_extend_i32_u: u32_ -> put_u64, |x| x as u64;
    f32_convert_i32_s: i32_ -> put_f32, |x| x as f32;
    f32_convert_i32_u: u32_ -> put_f32, |x| x as f32;
    f32_convert_i64_s: i64_ -> put_f32, |x| x as f32;
    f32_convert_i64_u: u64_ -> put_f32, |x| x as f32;
    f32_demote_f64: f64_ -> put_f32, |x| x as f32;
    f64_convert_i32_s: i32_ -> put_f64, |x| x as f64;
    f64_convert_i32_u: u32_ -> put_f64, |x| x as f64;
    f64_convert_i64_s: i64_ -> put_f64, |x| x as f64;
    f64_convert_i64_u: u64_ -> put_f64, |x| x as f64;
    f64_promote_f32: f32_ -> put_f64, |x| x as f64;
    i32_extend8_s: u64_ -> put_i32, |x| x as i8 as i32;
    i32_extend16_s: u64_ -> put_i32, |x| x as i16 as i32;
    i64_extend8_s: u64_ -> put_i64, |x| x as i8 as i64;
    i64_extend16_s: u64_ -> put_i64, |x| x as i16 as i64;
    i64_extend32_s: u64_ -> put_i64, |x| x as i32 as i64;
    i32_trunc_sat_f32_s: f32_ -> put_i32, |x| x as i32;
    i32_trunc_sat_f32_u: f32_ -> put_u32, |x| x as u32;
    i32_trunc_sat_f64_s: f64_ -> put_i32, |x| x as i32;
    i32_trunc_sat_f64_u: f64_ -> put_u32, |x| x as u32;
    i64_trunc_sat_f32_s: f32_ -> put_i64, |x| x as i64;
    i64_trunc_sat_f32_u: f32_ -> put_u64, |x| x as u64;
    i64_trunc_sat_f64_s: f64_ -> put_i64, |x| x as i64;
    i64_trunc_sat_f64_u: f64_ -> put_u64, |x| x as u64;
}

unary_trapping! {
    i32_trunc_f32_s: f32_ -> put_i32, |x| trunc_check(x as f64, -2147483649.0, 2147483648.0) => x as i32;
    i32_trunc_f32_u: f32_ -> put_u32, |x| trunc_check(x as f64, -1.0, 4294967296.0) => x as u32;
    i32_trunc_f64_s: f64_ -> put_i32, |x| trunc_check(x, -2147483649.0, 2147483648.0) => x as i32;
    i32_trunc_f64_u: f64_ -> put_u32, |x| trunc_check(x, -1.0, 4294967296.0) => x as u32;
    i64_trunc_f32_s: f32_ -> put_i64, |x| trunc_check(x as f64, -9223373136366403584.0, 9223372036854775808.0) => x as i64;
    i64_trunc_f32_u: f32_ -> put_u64, |x| trunc_check(x as f64, -1.0, 18446744073709551616.0) => x as u64;
    i64_trunc_f64_s: f64_ -> put_i64, |x| trunc_check(x, -9223372036854777856.0, 9223372036854775808.0) => x as i64;
    i64_trunc_f64_u: f64_ -> put_u64, |x| trunc_check(x, -1.0, 18446744073709551616.0) => x as u64;
}

// ---- immediate forms ---------------------------------------------------------

#[inline(always)]
fn imm_u32(x: u32) -> u32 {
    x
}
#[inline(always)]
fn imm_i32(x: u32) -> i32 {
    x as i32
}
#[inline(always)]
fn imm_u64(x: u32) -> u64 {
    x as i32 as i64 as u64
}
#[inline(always)]
fn imm_i64(x: u32) -> i64 {
    x as i32 as i64
}

macro_rules! binary_imm {
    ($($name:ident: $get:ident -> $put:ident, $conv:ident, |$x:ident, $y:ident| $e:expr;)*) => {$(
        pub(super) unsafe fn $name(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let $x = $get(fp, op.b);
            let $y = $conv(op.c);
            $put(fp, op.a, $e);
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

binary_imm! {
    i32_add_imm: u32_ -> put_u32, imm_u32, |x, y| x.wrapping_add(y);
    i32_sub_imm: u32_ -> put_u32, imm_u32, |x, y| x.wrapping_sub(y);
    i32_mul_imm: u32_ -> put_u32, imm_u32, |x, y| x.wrapping_mul(y);
    i32_and_imm: u32_ -> put_u32, imm_u32, |x, y| x & y;
    i32_or_imm: u32_ -> put_u32, imm_u32, |x, y| x | y;
    i32_xor_imm: u32_ -> put_u32, imm_u32, |x, y| x ^ y;
    i32_shl_imm: u32_ -> put_u32, imm_u32, |x, y| x.wrapping_shl(y);
    i32_shr_s_imm: i32_ -> put_i32, imm_u32, |x, y| x.wrapping_shr(y);
    i32_shr_u_imm: u32_ -> put_u32, imm_u32, |x, y| x.wrapping_shr(y);
    i32_rotl_imm: u32_ -> put_u32, imm_u32, |x, y| x.rotate_left(y & 31);
    i32_rotr_imm: u32_ -> put_u32, imm_u32, |x, y| x.rotate_right(y & 31);
    i32_eq_imm: u32_ -> put_bool, imm_u32, |x, y| x == y;
    i32_ne_imm: u32_ -> put_bool, imm_u32, |x, y| x != y;
    i32_lt_s_imm: i32_ -> put_bool, imm_i32, |x, y| x < y;
    i32_lt_u_imm: u32_ -> put_bool, imm_u32, |x, y| x < y;
    i32_gt_s_imm: i32_ -> put_bool, imm_i32, |x, y| x > y;
    i32_gt_u_imm: u32_ -> put_bool, imm_u32, |x, y| x > y;
    i32_le_s_imm: i32_ -> put_bool, imm_i32, |x, y| x <= y;
    i32_le_u_imm: u32_ -> put_bool, imm_u32, |x, y| x <= y;
    i32_ge_s_imm: i32_ -> put_bool, imm_i32, |x, y| x >= y;
    i32_ge_u_imm: u32_ -> put_bool, imm_u32, |x, y| x >= y;
    i64_add_imm: u64_ -> put_u64, imm_u64, |x, y| x.wrapping_add(y);
    i64_sub_imm: u64_ -> put_u64, imm_u64, |x, y| x.wrapping_sub(y);
    i64_mul_imm: u64_ -> put_u64, imm_u64, |x, y| x.wrapping_mul(y);
    i64_and_imm: u64_ -> put_u64, imm_u64, |x, y| x & y;
    i64_or_imm: u64_ -> put_u64, imm_u64, |x, y| x | y;
    i64_xor_imm: u64_ -> put_u64, imm_u64, |x, y| x ^ y;
    i64_shl_imm: u64_ -> put_u64, imm_u64, |x, y| x.wrapping_shl(y as u32);
    i64_shr_s_imm: i64_ -> put_i64, imm_u64, |x, y| x.wrapping_shr(y as u32);
    i64_shr_u_imm: u64_ -> put_u64, imm_u64, |x, y| x.wrapping_shr(y as u32);
    i64_rotl_imm: u64_ -> put_u64, imm_u64, |x, y| x.rotate_left((y & 63) as u32);
    i64_rotr_imm: u64_ -> put_u64, imm_u64, |x, y| x.rotate_right((y & 63) as u32);
    i64_eq_imm: u64_ -> put_bool, imm_u64, |x, y| x == y;
    i64_ne_imm: u64_ -> put_bool, imm_u64, |x, y| x != y;
    i64_lt_s_imm: i64_ -> put_bool, imm_i64, |x, y| x < y;
    i64_lt_u_imm: u64_ -> put_bool, imm_u64, |x, y| x < y;
    i64_gt_s_imm: i64_ -> put_bool, imm_i64, |x, y| x > y;
    i64_gt_u_imm: u64_ -> put_bool, imm_u64, |x, y| x > y;
    i64_le_s_imm: i64_ -> put_bool, imm_i64, |x, y| x <= y;
    i64_le_u_imm: u64_ -> put_bool, imm_u64, |x, y| x <= y;
    i64_ge_s_imm: i64_ -> put_bool, imm_i64, |x, y| x >= y;
    i64_ge_u_imm: u64_ -> put_bool, imm_u64, |x, y| x >= y;
}

branch_cmp! {
    br_i64_eq: u64_, |x, y| x == y;
    br_i64_ne: u64_, |x, y| x != y;
    br_i64_lt_s: i64_, |x, y| x < y;
    br_i64_lt_u: u64_, |x, y| x < y;
    br_i64_gt_s: i64_, |x, y| x > y;
    br_i64_gt_u: u64_, |x, y| x > y;
    br_i64_le_s: i64_, |x, y| x <= y;
    br_i64_le_u: u64_, |x, y| x <= y;
    br_i64_ge_s: i64_, |x, y| x >= y;
    br_i64_ge_u: u64_, |x, y| x >= y;
}

/// Fused compare with an immediate and branch: `a` slot, `b` immediate,
/// `c` relative target.
macro_rules! branch_cmp_imm {
    ($($name:ident: $get:ident, $conv:ident, |$x:ident, $y:ident| $e:expr;)*) => {$(
        pub(super) unsafe fn $name<const BACK: bool>(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
            let op = &*pc;
            let $x = $get(fp, op.a);
            let $y = $conv(op.b);
            if $e {
                jump!(BACK, target(pc, op.c), fp, st, mb, ml)
            }
            next!(pc.add(1), fp, st, mb, ml)
        }
    )*};
}

branch_cmp_imm! {
    br_i32_eq_imm: u32_, imm_u32, |x, y| x == y;
    br_i32_ne_imm: u32_, imm_u32, |x, y| x != y;
    br_i32_lt_s_imm: i32_, imm_i32, |x, y| x < y;
    br_i32_lt_u_imm: u32_, imm_u32, |x, y| x < y;
    br_i32_gt_s_imm: i32_, imm_i32, |x, y| x > y;
    br_i32_gt_u_imm: u32_, imm_u32, |x, y| x > y;
    br_i32_le_s_imm: i32_, imm_i32, |x, y| x <= y;
    br_i32_le_u_imm: u32_, imm_u32, |x, y| x <= y;
    br_i32_ge_s_imm: i32_, imm_i32, |x, y| x >= y;
    br_i32_ge_u_imm: u32_, imm_u32, |x, y| x >= y;
    br_i64_eq_imm: u64_, imm_u64, |x, y| x == y;
    br_i64_ne_imm: u64_, imm_u64, |x, y| x != y;
    br_i64_lt_s_imm: i64_, imm_i64, |x, y| x < y;
    br_i64_lt_u_imm: u64_, imm_u64, |x, y| x < y;
    br_i64_gt_s_imm: i64_, imm_i64, |x, y| x > y;
    br_i64_gt_u_imm: u64_, imm_u64, |x, y| x > y;
    br_i64_le_s_imm: i64_, imm_i64, |x, y| x <= y;
    br_i64_le_u_imm: u64_, imm_u64, |x, y| x <= y;
    br_i64_ge_s_imm: i64_, imm_i64, |x, y| x >= y;
    br_i64_ge_u_imm: u64_, imm_u64, |x, y| x >= y;
}
