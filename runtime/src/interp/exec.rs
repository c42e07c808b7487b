//! The interpreter's execution loop.
//!
//! One `loop { match }` over 16-byte instructions; frame pointer, pc, the
//! current function and instance, and the definition of memory 0 live in
//! locals that the compiler keeps in registers. Wasm→wasm calls between
//! interpreted functions push a [`Frame`] record instead of recursing on the
//! host stack, so guest recursion depth is bounded by kiln's own limits
//! (`max_wasm_stack`) and ends in the "call stack exhausted" trap. Calls to
//! any other callee (host functions, later native code) go through the
//! callee's array-call entry.
//!
//! Safety rests on invariants the translator establishes for validated
//! code: every slot an instruction names is below its function's
//! `frame_size`, every branch target is inside the code, and every frame
//! fits the interpreter stack (checked at each call).

use super::code::{Instr, InterpFunc};
use super::{Frame, InterpStack};
use crate::error::{FrameInfo, Trap};
use crate::instance::Instance;
use crate::libcalls;
use crate::store::StoreOpaque;
use kiln_aot_format::vm::{VMFuncRef, VMMemoryDefinition, ValRaw};
use kiln_aot_format::TrapCode;
use std::sync::atomic::Ordering;

/// Why execution stopped early.
pub(crate) enum Unwind {
    /// Guest code trapped.
    Trap(Trap),
    /// A callee failed; the error is in the store's pending error.
    Pending,
}

impl From<TrapCode> for Unwind {
    fn from(c: TrapCode) -> Self {
        Unwind::Trap(Trap::new(c))
    }
}

#[inline(always)]
fn charge(func: &InterpFunc) {
    let h = func.hotness.load(Ordering::Relaxed);
    func.hotness.store(h.wrapping_add(1), Ordering::Relaxed);
}

// Wasm `min`/`max` (spec §4.3.3 `fmin`/`fmax`): a NaN operand gives a
// NaN with the quiet bit set (arithmetic NaN; canonical stays canonical);
// `-0` is below `+0`. The quieting is explicit: LLVM may fold `nan + x` to
// the unquieted operand.
macro_rules! float_min_max {
    ($min:ident, $max:ident, $f:ty, $quiet:expr) => {
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

// Rounding (spec §4.3.3 `fceil`, `ffloor`, `ftrunc`, `fnearest`): a NaN
// operand gives an arithmetic NaN. Software rounding (hosts without SSE4.1)
// returns a signalling NaN unchanged, so quiet it explicitly.
#[inline]
fn round32(x: f32, f: fn(f32) -> f32) -> f32 {
    if x.is_nan() { f32::from_bits(x.to_bits() | 0x0040_0000) } else { f(x) }
}
#[inline]
fn round64(x: f64, f: fn(f64) -> f64) -> f64 {
    if x.is_nan() { f64::from_bits(x.to_bits() | 0x0008_0000_0000_0000) } else { f(x) }
}

/// Checked float → int truncation (spec §4.3.3 `trunc`): `lo < x < hi`
/// in f64 after excluding NaN.
#[inline]
fn trunc_check(x: f64, lo: f64, hi: f64) -> Result<(), TrapCode> {
    if x.is_nan() {
        Err(TrapCode::BadConversionToInteger)
    } else if x > lo && x < hi {
        Ok(())
    } else {
        Err(TrapCode::IntegerOverflow)
    }
}

/// Runs defined function `def` of `inst` with its frame at `fp` (arguments
/// already in place) until it returns; results are left in `fp[0..]`.
///
/// # Safety
/// `store` and `inst` are live and belong together; `fp` points into the
/// store's interpreter stack with the function's parameters written; no
/// Rust reference to the store is live across this call.
pub(crate) unsafe fn run(
    store: *mut StoreOpaque,
    stack: *mut InterpStack,
    mut inst: *mut Instance,
    mut func: *const InterpFunc,
    mut func_index: u32,
    mut fp: *mut u64,
) -> Result<(), Unwind> {
    // SAFETY: the caller passes live pointers; `frames_base` only reads.
    let frames_base = unsafe { (*stack).frames.len() };
    // SAFETY (for the whole loop): see the module docs. Slots named by
    // instructions are in-frame, frames are bounds-checked against
    // `stack_end` when pushed, `pc` stays within `code` because every
    // path ends in a return and branch targets are resolved in range, and
    // `inst`/`func` outlive the activation (the store owns the instances,
    // which own their module and its translated code).
    unsafe {
        let stack_end = (*stack).end();
        let max_frames = (*stack).max_frames;
        let mut pc: *const Instr = (*func).code.as_ptr();
        let mut mem: *mut VMMemoryDefinition = (*inst).memory0();
        enter_frame(&*func, fp);
        charge(&*func);

        macro_rules! slot {
            ($s:expr) => {
                *fp.add($s as usize)
            };
        }
        macro_rules! i32_ {
            ($s:expr) => {
                (*fp.add($s as usize)) as u32 as i32
            };
        }
        macro_rules! u32_ {
            ($s:expr) => {
                (*fp.add($s as usize)) as u32
            };
        }
        macro_rules! i64_ {
            ($s:expr) => {
                (*fp.add($s as usize)) as i64
            };
        }
        macro_rules! f32_ {
            ($s:expr) => {
                f32::from_bits((*fp.add($s as usize)) as u32)
            };
        }
        macro_rules! f64_ {
            ($s:expr) => {
                f64::from_bits(*fp.add($s as usize))
            };
        }
        macro_rules! put_i32 {
            ($s:expr, $v:expr) => {
                *fp.add($s as usize) = ($v) as u32 as u64
            };
        }
        macro_rules! put_i64 {
            ($s:expr, $v:expr) => {
                *fp.add($s as usize) = ($v) as u64
            };
        }
        macro_rules! put_f32 {
            ($s:expr, $v:expr) => {
                *fp.add($s as usize) = (($v) as f32).to_bits() as u64
            };
        }
        macro_rules! put_f64 {
            ($s:expr, $v:expr) => {
                *fp.add($s as usize) = (($v) as f64).to_bits()
            };
        }
        macro_rules! put_bool {
            ($s:expr, $v:expr) => {
                *fp.add($s as usize) = ($v) as u64
            };
        }
        macro_rules! trap {
            ($code:expr) => {{
                let code: TrapCode = $code;
                return Err(unwind_trap(stack, frames_base, Trap::new(code), inst, func_index));
            }};
        }
        macro_rules! try_trap {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(code) => trap!(code),
                }
            };
        }
        macro_rules! ea {
            ($addr:expr, $offset:expr, $n:expr) => {{
                let ea = u32_!($addr) as u64 + $offset as u64;
                if ea + $n > (*mem).current_length as u64 {
                    trap!(TrapCode::MemoryOutOfBounds);
                }
                (*mem).base.add(ea as usize)
            }};
        }
        macro_rules! load {
            ($dst:expr, $addr:expr, $off:expr, $t:ty, $conv:expr) => {{
                let p = ea!($addr, $off, core::mem::size_of::<$t>() as u64);
                let v = <$t>::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; core::mem::size_of::<$t>()]));
                *fp.add($dst as usize) = $conv(v);
            }};
        }
        macro_rules! store {
            ($addr:expr, $src:expr, $off:expr, $t:ty) => {{
                let p = ea!($addr, $off, core::mem::size_of::<$t>() as u64);
                let v = *fp.add($src as usize) as $t;
                core::ptr::write_unaligned(p as *mut [u8; core::mem::size_of::<$t>()], v.to_le_bytes());
            }};
        }
        macro_rules! aux {
            () => {{
                match *pc {
                    Instr::Aux { a, b, c } => {
                        pc = pc.add(1);
                        (a, b, c)
                    }
                    _ => trap!(TrapCode::InternalError),
                }
            }};
        }
        macro_rules! jump {
            ($t:expr) => {
                pc = (*func).code.as_ptr().add($t as usize)
            };
        }
        macro_rules! call_funcref {
            ($fref:expr, $args:expr, $ty:expr) => {{
                let fref: *const VMFuncRef = $fref;
                let args_fp = fp.add($args as usize);
                if let Some((callee_inst, callee_func, callee_index)) = interpreted_callee(fref) {
                    let callee_func = match callee_func {
                        Ok(f) => f,
                        Err(code) => trap!(code),
                    };
                    if (*stack).frames.len() >= max_frames
                        || args_fp.add((*callee_func).frame_size as usize) > stack_end
                    {
                        trap!(TrapCode::StackOverflow);
                    }
                    (*stack).frames.push(Frame { func, inst, pc, fp, func_index });
                    fp = args_fp;
                    func = callee_func;
                    func_index = callee_index;
                    if callee_inst != inst {
                        inst = callee_inst;
                        mem = (*inst).memory0();
                    }
                    pc = (*func).code.as_ptr();
                    enter_frame(&*func, fp);
                    charge(&*func);
                } else {
                    let saved_top = (*stack).top;
                    (*stack).top = fp.offset_from((*stack).base()) as usize + (*func).frame_size as usize;
                    let len = ($ty).array_call_len() as usize;
                    let ok = ((*fref).array_call)(fref, (*inst).vmctx(), args_fp as *mut ValRaw, len);
                    (*stack).top = saved_top;
                    if !ok {
                        return Err(unwind_pending(store, stack, frames_base, inst, func_index));
                    }
                }
            }};
        }

        loop {
            let instr = *pc;
            pc = pc.add(1);
            match instr {
                // ---- control ----
                Instr::Unreachable => trap!(TrapCode::UnreachableCodeReached),
                Instr::Aux { .. } => trap!(TrapCode::InternalError),
                Instr::Br { target } => jump!(target),
                Instr::BrIfNez { cond, target } => {
                    if u32_!(cond) != 0 {
                        jump!(target)
                    }
                }
                Instr::BrIfEqz { cond, target } => {
                    if u32_!(cond) == 0 {
                        jump!(target)
                    }
                }
                Instr::BrI32Eq { a, b, target } => {
                    if u32_!(a) == u32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32Ne { a, b, target } => {
                    if u32_!(a) != u32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32LtS { a, b, target } => {
                    if i32_!(a) < i32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32LtU { a, b, target } => {
                    if u32_!(a) < u32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32GtS { a, b, target } => {
                    if i32_!(a) > i32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32GtU { a, b, target } => {
                    if u32_!(a) > u32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32LeS { a, b, target } => {
                    if i32_!(a) <= i32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32LeU { a, b, target } => {
                    if u32_!(a) <= u32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32GeS { a, b, target } => {
                    if i32_!(a) >= i32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrI32GeU { a, b, target } => {
                    if u32_!(a) >= u32_!(b) {
                        jump!(target)
                    }
                }
                Instr::BrTable { index, len } => {
                    let i = u32_!(index).min(len);
                    pc = pc.add(i as usize);
                }
                Instr::LoopHeader => charge(&*func),
                Instr::Return0 | Instr::Return1 { .. } | Instr::ReturnN { .. } => {
                    match instr {
                        Instr::Return1 { src } => *fp = slot!(src),
                        Instr::ReturnN { src, n } => core::ptr::copy(fp.add(src as usize), fp, n as usize),
                        _ => {}
                    }
                    if (*stack).frames.len() == frames_base {
                        return Ok(());
                    }
                    let frame = (*stack).frames.pop().unwrap_unchecked();
                    func = frame.func;
                    pc = frame.pc;
                    fp = frame.fp;
                    func_index = frame.func_index;
                    if frame.inst != inst {
                        inst = frame.inst;
                        mem = (*inst).memory0();
                    }
                }
                Instr::Call { func: callee, args } => {
                    let fref = (*inst).func_ref(callee);
                    call_funcref!(fref, args, (*inst).func_type(callee));
                }
                Instr::CallIndirect { ty, index, args } => {
                    let (table, _, _) = aux!();
                    let fref = try_trap!((*inst).indirect_callee(table, u32_!(index), ty));
                    call_funcref!(fref, args, (*inst).module_type(ty));
                }
                Instr::Select { dst, cond, a } => {
                    let (b, _, _) = aux!();
                    slot!(dst) = if u32_!(cond) != 0 { slot!(a) } else { slot!(b) };
                }
                Instr::Copy { dst, src } => slot!(dst) = slot!(src),

                // ---- variables, references ----
                Instr::GlobalGet { dst, global } => slot!(dst) = *(*inst).global_ptr(global),
                Instr::GlobalSet { global, src } => *(*inst).global_ptr(global) = slot!(src),
                Instr::RefIsNull { dst, src } => put_bool!(dst, slot!(src) == 0),
                Instr::RefFunc { dst, func: f } => slot!(dst) = (*inst).func_ref(f) as usize as u64,

                // ---- memory ----
                Instr::I32Load { dst, addr, offset } => load!(dst, addr, offset, u32, |v: u32| v as u64),
                Instr::I64Load { dst, addr, offset } => load!(dst, addr, offset, u64, |v: u64| v),
                Instr::F32Load { dst, addr, offset } => load!(dst, addr, offset, u32, |v: u32| v as u64),
                Instr::F64Load { dst, addr, offset } => load!(dst, addr, offset, u64, |v: u64| v),
                Instr::I32Load8S { dst, addr, offset } => load!(dst, addr, offset, i8, |v: i8| v as i32 as u32 as u64),
                Instr::I32Load8U { dst, addr, offset } => load!(dst, addr, offset, u8, |v: u8| v as u64),
                Instr::I32Load16S { dst, addr, offset } => load!(dst, addr, offset, i16, |v: i16| v as i32 as u32 as u64),
                Instr::I32Load16U { dst, addr, offset } => load!(dst, addr, offset, u16, |v: u16| v as u64),
                Instr::I64Load8S { dst, addr, offset } => load!(dst, addr, offset, i8, |v: i8| v as i64 as u64),
                Instr::I64Load8U { dst, addr, offset } => load!(dst, addr, offset, u8, |v: u8| v as u64),
                Instr::I64Load16S { dst, addr, offset } => load!(dst, addr, offset, i16, |v: i16| v as i64 as u64),
                Instr::I64Load16U { dst, addr, offset } => load!(dst, addr, offset, u16, |v: u16| v as u64),
                Instr::I64Load32S { dst, addr, offset } => load!(dst, addr, offset, i32, |v: i32| v as i64 as u64),
                Instr::I64Load32U { dst, addr, offset } => load!(dst, addr, offset, u32, |v: u32| v as u64),
                Instr::I32Store { addr, src, offset } => store!(addr, src, offset, u32),
                Instr::I64Store { addr, src, offset } => store!(addr, src, offset, u64),
                Instr::F32Store { addr, src, offset } => store!(addr, src, offset, u32),
                Instr::F64Store { addr, src, offset } => store!(addr, src, offset, u64),
                Instr::I32Store8 { addr, src, offset } => store!(addr, src, offset, u8),
                Instr::I32Store16 { addr, src, offset } => store!(addr, src, offset, u16),
                Instr::I64Store8 { addr, src, offset } => store!(addr, src, offset, u8),
                Instr::I64Store16 { addr, src, offset } => store!(addr, src, offset, u16),
                Instr::I64Store32 { addr, src, offset } => store!(addr, src, offset, u32),
                Instr::MemorySize { dst, mem: m } => put_i32!(dst, libcalls::memory_size(inst, m)),
                Instr::MemoryGrow { dst, delta, mem: m } => put_i32!(dst, libcalls::memory_grow(inst, m, u32_!(delta))),
                Instr::MemoryFill { dst, val, len } => {
                    let (m, _, _) = aux!();
                    try_trap!(libcalls::memory_fill(inst, m, u32_!(dst), u32_!(val) as u8, u32_!(len)));
                }
                Instr::MemoryCopy { dst, src, len } => {
                    let (dm, sm, _) = aux!();
                    try_trap!(libcalls::memory_copy(inst, dm, u32_!(dst), sm, u32_!(src), u32_!(len)));
                }
                Instr::MemoryInit { dst, src, len } => {
                    let (m, data, _) = aux!();
                    try_trap!(libcalls::memory_init(inst, m, data, u32_!(dst), u32_!(src), u32_!(len)));
                }
                Instr::DataDrop { data } => libcalls::data_drop(inst, data),

                // ---- tables ----
                Instr::TableGet { dst, index, table } => slot!(dst) = try_trap!(libcalls::table_get(inst, table, u32_!(index))) as u64,
                Instr::TableSet { table, index, src } => {
                    try_trap!(libcalls::table_set(inst, table, u32_!(index), slot!(src) as usize))
                }
                Instr::TableSize { dst, table } => put_i32!(dst, libcalls::table_size(inst, table)),
                Instr::TableGrow { dst, init, delta } => {
                    let (table, _, _) = aux!();
                    put_i32!(dst, libcalls::table_grow(inst, table, slot!(init) as usize, u32_!(delta)));
                }
                Instr::TableFill { index, val, len } => {
                    let (table, _, _) = aux!();
                    try_trap!(libcalls::table_fill(inst, table, u32_!(index), slot!(val) as usize, u32_!(len)));
                }
                Instr::TableCopy { dst, src, len } => {
                    let (dt, st, _) = aux!();
                    try_trap!(libcalls::table_copy(inst, dt, u32_!(dst), st, u32_!(src), u32_!(len)));
                }
                Instr::TableInit { dst, src, len } => {
                    let (table, elem, _) = aux!();
                    try_trap!(libcalls::table_init(inst, table, elem, u32_!(dst), u32_!(src), u32_!(len)));
                }
                Instr::ElemDrop { elem } => libcalls::elem_drop(inst, elem),

                // ---- i32 ----
                Instr::I32Eqz { dst, src } => put_bool!(dst, u32_!(src) == 0),
                Instr::I32Eq { dst, a, b } => put_bool!(dst, u32_!(a) == u32_!(b)),
                Instr::I32Ne { dst, a, b } => put_bool!(dst, u32_!(a) != u32_!(b)),
                Instr::I32LtS { dst, a, b } => put_bool!(dst, i32_!(a) < i32_!(b)),
                Instr::I32LtU { dst, a, b } => put_bool!(dst, u32_!(a) < u32_!(b)),
                Instr::I32GtS { dst, a, b } => put_bool!(dst, i32_!(a) > i32_!(b)),
                Instr::I32GtU { dst, a, b } => put_bool!(dst, u32_!(a) > u32_!(b)),
                Instr::I32LeS { dst, a, b } => put_bool!(dst, i32_!(a) <= i32_!(b)),
                Instr::I32LeU { dst, a, b } => put_bool!(dst, u32_!(a) <= u32_!(b)),
                Instr::I32GeS { dst, a, b } => put_bool!(dst, i32_!(a) >= i32_!(b)),
                Instr::I32GeU { dst, a, b } => put_bool!(dst, u32_!(a) >= u32_!(b)),
                Instr::I32Clz { dst, src } => put_i32!(dst, u32_!(src).leading_zeros()),
                Instr::I32Ctz { dst, src } => put_i32!(dst, u32_!(src).trailing_zeros()),
                Instr::I32Popcnt { dst, src } => put_i32!(dst, u32_!(src).count_ones()),
                Instr::I32Add { dst, a, b } => put_i32!(dst, u32_!(a).wrapping_add(u32_!(b))),
                Instr::I32Sub { dst, a, b } => put_i32!(dst, u32_!(a).wrapping_sub(u32_!(b))),
                Instr::I32Mul { dst, a, b } => put_i32!(dst, u32_!(a).wrapping_mul(u32_!(b))),
                Instr::I32DivS { dst, a, b } => {
                    let (x, y) = (i32_!(a), i32_!(b));
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    if x == i32::MIN && y == -1 {
                        trap!(TrapCode::IntegerOverflow)
                    }
                    put_i32!(dst, x / y)
                }
                Instr::I32DivU { dst, a, b } => {
                    let y = u32_!(b);
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    put_i32!(dst, u32_!(a) / y)
                }
                Instr::I32RemS { dst, a, b } => {
                    let y = i32_!(b);
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    put_i32!(dst, i32_!(a).wrapping_rem(y))
                }
                Instr::I32RemU { dst, a, b } => {
                    let y = u32_!(b);
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    put_i32!(dst, u32_!(a) % y)
                }
                Instr::I32And { dst, a, b } => put_i32!(dst, u32_!(a) & u32_!(b)),
                Instr::I32Or { dst, a, b } => put_i32!(dst, u32_!(a) | u32_!(b)),
                Instr::I32Xor { dst, a, b } => put_i32!(dst, u32_!(a) ^ u32_!(b)),
                Instr::I32Shl { dst, a, b } => put_i32!(dst, u32_!(a).wrapping_shl(u32_!(b))),
                Instr::I32ShrS { dst, a, b } => put_i32!(dst, i32_!(a).wrapping_shr(u32_!(b))),
                Instr::I32ShrU { dst, a, b } => put_i32!(dst, u32_!(a).wrapping_shr(u32_!(b))),
                Instr::I32Rotl { dst, a, b } => put_i32!(dst, u32_!(a).rotate_left(u32_!(b) & 31)),
                Instr::I32Rotr { dst, a, b } => put_i32!(dst, u32_!(a).rotate_right(u32_!(b) & 31)),

                // ---- i64 ----
                Instr::I64Eqz { dst, src } => put_bool!(dst, slot!(src) == 0),
                Instr::I64Eq { dst, a, b } => put_bool!(dst, slot!(a) == slot!(b)),
                Instr::I64Ne { dst, a, b } => put_bool!(dst, slot!(a) != slot!(b)),
                Instr::I64LtS { dst, a, b } => put_bool!(dst, i64_!(a) < i64_!(b)),
                Instr::I64LtU { dst, a, b } => put_bool!(dst, slot!(a) < slot!(b)),
                Instr::I64GtS { dst, a, b } => put_bool!(dst, i64_!(a) > i64_!(b)),
                Instr::I64GtU { dst, a, b } => put_bool!(dst, slot!(a) > slot!(b)),
                Instr::I64LeS { dst, a, b } => put_bool!(dst, i64_!(a) <= i64_!(b)),
                Instr::I64LeU { dst, a, b } => put_bool!(dst, slot!(a) <= slot!(b)),
                Instr::I64GeS { dst, a, b } => put_bool!(dst, i64_!(a) >= i64_!(b)),
                Instr::I64GeU { dst, a, b } => put_bool!(dst, slot!(a) >= slot!(b)),
                Instr::I64Clz { dst, src } => put_i64!(dst, slot!(src).leading_zeros()),
                Instr::I64Ctz { dst, src } => put_i64!(dst, slot!(src).trailing_zeros()),
                Instr::I64Popcnt { dst, src } => put_i64!(dst, slot!(src).count_ones()),
                Instr::I64Add { dst, a, b } => put_i64!(dst, slot!(a).wrapping_add(slot!(b))),
                Instr::I64Sub { dst, a, b } => put_i64!(dst, slot!(a).wrapping_sub(slot!(b))),
                Instr::I64Mul { dst, a, b } => put_i64!(dst, slot!(a).wrapping_mul(slot!(b))),
                Instr::I64DivS { dst, a, b } => {
                    let (x, y) = (i64_!(a), i64_!(b));
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    if x == i64::MIN && y == -1 {
                        trap!(TrapCode::IntegerOverflow)
                    }
                    put_i64!(dst, x / y)
                }
                Instr::I64DivU { dst, a, b } => {
                    let y = slot!(b);
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    put_i64!(dst, slot!(a) / y)
                }
                Instr::I64RemS { dst, a, b } => {
                    let y = i64_!(b);
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    put_i64!(dst, i64_!(a).wrapping_rem(y))
                }
                Instr::I64RemU { dst, a, b } => {
                    let y = slot!(b);
                    if y == 0 {
                        trap!(TrapCode::IntegerDivisionByZero)
                    }
                    put_i64!(dst, slot!(a) % y)
                }
                Instr::I64And { dst, a, b } => put_i64!(dst, slot!(a) & slot!(b)),
                Instr::I64Or { dst, a, b } => put_i64!(dst, slot!(a) | slot!(b)),
                Instr::I64Xor { dst, a, b } => put_i64!(dst, slot!(a) ^ slot!(b)),
                Instr::I64Shl { dst, a, b } => put_i64!(dst, slot!(a).wrapping_shl(slot!(b) as u32)),
                Instr::I64ShrS { dst, a, b } => put_i64!(dst, i64_!(a).wrapping_shr(slot!(b) as u32)),
                Instr::I64ShrU { dst, a, b } => put_i64!(dst, slot!(a).wrapping_shr(slot!(b) as u32)),
                Instr::I64Rotl { dst, a, b } => put_i64!(dst, slot!(a).rotate_left((slot!(b) & 63) as u32)),
                Instr::I64Rotr { dst, a, b } => put_i64!(dst, slot!(a).rotate_right((slot!(b) & 63) as u32)),

                // ---- f32 ----
                Instr::F32Eq { dst, a, b } => put_bool!(dst, f32_!(a) == f32_!(b)),
                Instr::F32Ne { dst, a, b } => put_bool!(dst, f32_!(a) != f32_!(b)),
                Instr::F32Lt { dst, a, b } => put_bool!(dst, f32_!(a) < f32_!(b)),
                Instr::F32Gt { dst, a, b } => put_bool!(dst, f32_!(a) > f32_!(b)),
                Instr::F32Le { dst, a, b } => put_bool!(dst, f32_!(a) <= f32_!(b)),
                Instr::F32Ge { dst, a, b } => put_bool!(dst, f32_!(a) >= f32_!(b)),
                Instr::F32Abs { dst, src } => put_i32!(dst, u32_!(src) & 0x7fff_ffff),
                Instr::F32Neg { dst, src } => put_i32!(dst, u32_!(src) ^ 0x8000_0000),
                Instr::F32Copysign { dst, a, b } => put_i32!(dst, (u32_!(a) & 0x7fff_ffff) | (u32_!(b) & 0x8000_0000)),
                Instr::F32Ceil { dst, src } => put_f32!(dst, round32(f32_!(src), f32::ceil)),
                Instr::F32Floor { dst, src } => put_f32!(dst, round32(f32_!(src), f32::floor)),
                Instr::F32Trunc { dst, src } => put_f32!(dst, round32(f32_!(src), f32::trunc)),
                Instr::F32Nearest { dst, src } => put_f32!(dst, round32(f32_!(src), f32::round_ties_even)),
                Instr::F32Sqrt { dst, src } => put_f32!(dst, f32_!(src).sqrt()),
                Instr::F32Add { dst, a, b } => put_f32!(dst, f32_!(a) + f32_!(b)),
                Instr::F32Sub { dst, a, b } => put_f32!(dst, f32_!(a) - f32_!(b)),
                Instr::F32Mul { dst, a, b } => put_f32!(dst, f32_!(a) * f32_!(b)),
                Instr::F32Div { dst, a, b } => put_f32!(dst, f32_!(a) / f32_!(b)),
                Instr::F32Min { dst, a, b } => put_f32!(dst, f32_min(f32_!(a), f32_!(b))),
                Instr::F32Max { dst, a, b } => put_f32!(dst, f32_max(f32_!(a), f32_!(b))),

                // ---- f64 ----
                Instr::F64Eq { dst, a, b } => put_bool!(dst, f64_!(a) == f64_!(b)),
                Instr::F64Ne { dst, a, b } => put_bool!(dst, f64_!(a) != f64_!(b)),
                Instr::F64Lt { dst, a, b } => put_bool!(dst, f64_!(a) < f64_!(b)),
                Instr::F64Gt { dst, a, b } => put_bool!(dst, f64_!(a) > f64_!(b)),
                Instr::F64Le { dst, a, b } => put_bool!(dst, f64_!(a) <= f64_!(b)),
                Instr::F64Ge { dst, a, b } => put_bool!(dst, f64_!(a) >= f64_!(b)),
                Instr::F64Abs { dst, src } => put_i64!(dst, slot!(src) & 0x7fff_ffff_ffff_ffff),
                Instr::F64Neg { dst, src } => put_i64!(dst, slot!(src) ^ 0x8000_0000_0000_0000),
                Instr::F64Copysign { dst, a, b } => {
                    put_i64!(dst, (slot!(a) & 0x7fff_ffff_ffff_ffff) | (slot!(b) & 0x8000_0000_0000_0000))
                }
                Instr::F64Ceil { dst, src } => put_f64!(dst, round64(f64_!(src), f64::ceil)),
                Instr::F64Floor { dst, src } => put_f64!(dst, round64(f64_!(src), f64::floor)),
                Instr::F64Trunc { dst, src } => put_f64!(dst, round64(f64_!(src), f64::trunc)),
                Instr::F64Nearest { dst, src } => put_f64!(dst, round64(f64_!(src), f64::round_ties_even)),
                Instr::F64Sqrt { dst, src } => put_f64!(dst, f64_!(src).sqrt()),
                Instr::F64Add { dst, a, b } => put_f64!(dst, f64_!(a) + f64_!(b)),
                Instr::F64Sub { dst, a, b } => put_f64!(dst, f64_!(a) - f64_!(b)),
                Instr::F64Mul { dst, a, b } => put_f64!(dst, f64_!(a) * f64_!(b)),
                Instr::F64Div { dst, a, b } => put_f64!(dst, f64_!(a) / f64_!(b)),
                Instr::F64Min { dst, a, b } => put_f64!(dst, f64_min(f64_!(a), f64_!(b))),
                Instr::F64Max { dst, a, b } => put_f64!(dst, f64_max(f64_!(a), f64_!(b))),

                // ---- conversions ----
                Instr::I32WrapI64 { dst, src } => put_i32!(dst, slot!(src) as u32),
                Instr::I32TruncF32S { dst, src } => {
                    let x = f32_!(src);
                    try_trap!(trunc_check(x as f64, -2147483649.0, 2147483648.0));
                    put_i32!(dst, x as i32)
                }
                Instr::I32TruncF32U { dst, src } => {
                    let x = f32_!(src);
                    try_trap!(trunc_check(x as f64, -1.0, 4294967296.0));
                    put_i32!(dst, x as u32)
                }
                Instr::I32TruncF64S { dst, src } => {
                    let x = f64_!(src);
                    try_trap!(trunc_check(x, -2147483649.0, 2147483648.0));
                    put_i32!(dst, x as i32)
                }
                Instr::I32TruncF64U { dst, src } => {
                    let x = f64_!(src);
                    try_trap!(trunc_check(x, -1.0, 4294967296.0));
                    put_i32!(dst, x as u32)
                }
                Instr::I64ExtendI32S { dst, src } => put_i64!(dst, i32_!(src) as i64),
                Instr::I64ExtendI32U { dst, src } => put_i64!(dst, u32_!(src) as u64),
                Instr::I64TruncF32S { dst, src } => {
                    let x = f32_!(src);
                    try_trap!(trunc_check(x as f64, -9223373136366403584.0, 9223372036854775808.0));
                    put_i64!(dst, x as i64)
                }
                Instr::I64TruncF32U { dst, src } => {
                    let x = f32_!(src);
                    try_trap!(trunc_check(x as f64, -1.0, 18446744073709551616.0));
                    put_i64!(dst, x as u64)
                }
                Instr::I64TruncF64S { dst, src } => {
                    let x = f64_!(src);
                    try_trap!(trunc_check(x, -9223372036854777856.0, 9223372036854775808.0));
                    put_i64!(dst, x as i64)
                }
                Instr::I64TruncF64U { dst, src } => {
                    let x = f64_!(src);
                    try_trap!(trunc_check(x, -1.0, 18446744073709551616.0));
                    put_i64!(dst, x as u64)
                }
                Instr::F32ConvertI32S { dst, src } => put_f32!(dst, i32_!(src) as f32),
                Instr::F32ConvertI32U { dst, src } => put_f32!(dst, u32_!(src) as f32),
                Instr::F32ConvertI64S { dst, src } => put_f32!(dst, i64_!(src) as f32),
                Instr::F32ConvertI64U { dst, src } => put_f32!(dst, slot!(src) as f32),
                Instr::F32DemoteF64 { dst, src } => put_f32!(dst, f64_!(src) as f32),
                Instr::F64ConvertI32S { dst, src } => put_f64!(dst, i32_!(src) as f64),
                Instr::F64ConvertI32U { dst, src } => put_f64!(dst, u32_!(src) as f64),
                Instr::F64ConvertI64S { dst, src } => put_f64!(dst, i64_!(src) as f64),
                Instr::F64ConvertI64U { dst, src } => put_f64!(dst, slot!(src) as f64),
                Instr::F64PromoteF32 { dst, src } => put_f64!(dst, f32_!(src) as f64),
                Instr::I32Extend8S { dst, src } => put_i32!(dst, slot!(src) as i8 as i32),
                Instr::I32Extend16S { dst, src } => put_i32!(dst, slot!(src) as i16 as i32),
                Instr::I64Extend8S { dst, src } => put_i64!(dst, slot!(src) as i8 as i64),
                Instr::I64Extend16S { dst, src } => put_i64!(dst, slot!(src) as i16 as i64),
                Instr::I64Extend32S { dst, src } => put_i64!(dst, slot!(src) as i32 as i64),
                Instr::I32TruncSatF32S { dst, src } => put_i32!(dst, f32_!(src) as i32),
                Instr::I32TruncSatF32U { dst, src } => put_i32!(dst, f32_!(src) as u32),
                Instr::I32TruncSatF64S { dst, src } => put_i32!(dst, f64_!(src) as i32),
                Instr::I32TruncSatF64U { dst, src } => put_i32!(dst, f64_!(src) as u32),
                Instr::I64TruncSatF32S { dst, src } => put_i64!(dst, f32_!(src) as i64),
                Instr::I64TruncSatF32U { dst, src } => put_i64!(dst, f32_!(src) as u64),
                Instr::I64TruncSatF64S { dst, src } => put_i64!(dst, f64_!(src) as i64),
                Instr::I64TruncSatF64U { dst, src } => put_i64!(dst, f64_!(src) as u64),
            }
        }
    }
}

/// Initialises a new frame: zeroes declared locals, copies the constants.
///
/// # Safety
/// `fp` has `func.frame_size` slots.
#[inline(always)]
unsafe fn enter_frame(func: &InterpFunc, fp: *mut u64) {
    // SAFETY: `params <= locals`, and `locals + consts.len() <= frame_size`
    // slots are available at `fp` (checked by the caller).
    unsafe {
        let n = (func.locals - func.params) as usize;
        if n != 0 {
            core::ptr::write_bytes(fp.add(func.params as usize), 0, n);
        }
        if !func.consts.is_empty() {
            core::ptr::copy_nonoverlapping(func.consts.as_ptr(), fp.add(func.locals as usize), func.consts.len());
        }
    }
}

/// If `fref` is an interpreted wasm function, its instance, translated
/// code (or the trap translation failed with) and function index.
///
/// # Safety
/// `fref` points to a live `VMFuncRef`.
#[inline(always)]
unsafe fn interpreted_callee(
    fref: *const VMFuncRef,
) -> Option<(*mut Instance, Result<*const InterpFunc, TrapCode>, u32)> {
    // SAFETY: per the contract; an interpreted funcref's vmctx is an
    // instance VMContext whose header points back at its live `Instance`.
    unsafe {
        if (*fref).array_call as *const () != super::interp_array_call as *const () {
            return None;
        }
        let inst = Instance::from_vmctx((*fref).vmctx);
        let index = (*fref).func_index;
        Some((inst, (*inst).interp_func(index), index))
    }
}

fn frame_info(inst: *mut Instance, func_index: u32) -> FrameInfo {
    // SAFETY: frames only record live instances.
    let info = unsafe { &(*inst).module().info };
    FrameInfo {
        func_index,
        func_name: info.func_names.get(&func_index.into()).cloned(),
        module_name: info.name.clone(),
    }
}

/// Unwinds this activation's frames into `trap`'s backtrace.
#[cold]
#[inline(never)]
fn unwind_trap(
    stack: *mut InterpStack,
    frames_base: usize,
    mut trap: Trap,
    inst: *mut Instance,
    func_index: u32,
) -> Unwind {
    trap.push_frame(frame_info(inst, func_index));
    // SAFETY: `stack` is the live interpreter stack of this activation.
    let frames = unsafe { &mut (*stack).frames };
    for f in frames[frames_base..].iter().rev() {
        trap.push_frame(frame_info(f.inst, f.func_index));
    }
    frames.truncate(frames_base);
    Unwind::Trap(trap)
}

/// A callee failed: if its error is a trap, extend its backtrace with this
/// activation's frames.
#[cold]
#[inline(never)]
fn unwind_pending(
    store: *mut StoreOpaque,
    stack: *mut InterpStack,
    frames_base: usize,
    inst: *mut Instance,
    func_index: u32,
) -> Unwind {
    // SAFETY: the store is live; no other reference to it is active while
    // the interpreter unwinds.
    let pending = unsafe { &mut (*store).pending_error };
    if let Some(trap) = pending.as_mut().and_then(|e| e.as_trap_mut()) {
        trap.push_frame(frame_info(inst, func_index));
        // SAFETY: as in `unwind_trap`.
        let frames = unsafe { &(*stack).frames };
        for f in frames[frames_base..].iter().rev() {
            trap.push_frame(frame_info(f.inst, f.func_index));
        }
    }
    // SAFETY: as above.
    unsafe { (*stack).frames.truncate(frames_base) };
    Unwind::Pending
}
