//! The interpreter's instruction set, declared once.
//!
//! The table at the end of this file (one `define_ops!` invocation) lists
//! every interpreter instruction. Each data operation (arithmetic,
//! comparisons, conversions, loads, stores) is one row: its name (the
//! `wasmparser::Operator` it implements), its handler, its operand and
//! result types and its semantics as a Rust expression (spec §4.3 numerics);
//! a binary row may add an immediate form (`imm`) and, for comparisons, the
//! fused compare-and-branch forms (`branch`). Structural instructions
//! (control, calls, variables, bulk memory and tables) are one row each too:
//! fields and handler; their translation and handler bodies are written by
//! hand in `translate.rs` and `handlers.rs` because each has its own logic.
//!
//! From the table come:
//!
//! * [`Instr`], the translator's instruction type, and [`Instr::dst_mut`];
//! * [`BinKind`], the binary operations with an immediate form, and its
//!   queries (commutative, wide, negation, the immediate and branch
//!   handlers);
//! * [`decode`]: which wasm operator is which data instruction, for the
//!   translator;
//! * [`Instr::lower`]: the handler and operand words of every instruction
//!   except branches, for the assembler (and which instructions fold the
//!   following `Aux` into their fourth word, [`Instr::folds_aux`]);
//! * the handlers of all data operations, their immediate forms and their
//!   compare-and-branch forms.
//!
//! Adding an operation is adding a row; the compiler rejects a row whose
//! handler, types or forms do not fit together.

#![allow(unsafe_op_in_unsafe_fn)]

use super::code::{Op, Slot};
use super::exec::{Exit, Handler, State, next, trap};
use super::handlers::{jump, target};
use kiln_environ::TrapCode;
use wasmparser::{MemArg, Operator};

/// A value type held in a frame slot (8 bytes, zero-extended from narrower
/// types; floats by their bits).
pub(super) trait SlotValue: Copy {
    /// Reads the value in slot `s` of the frame at `fp`.
    ///
    /// # Safety
    /// `fp + s` is a slot of a live frame.
    unsafe fn read(fp: *mut u64, s: Slot) -> Self;
    /// Writes the value to slot `s` of the frame at `fp`.
    ///
    /// # Safety
    /// As for [`SlotValue::read`].
    unsafe fn write(fp: *mut u64, s: Slot, v: Self);
}

macro_rules! slot_value {
    ($($t:ty: |$r:ident| $read:expr, |$w:ident| $write:expr;)*) => {$(
        impl SlotValue for $t {
            #[inline(always)]
            unsafe fn read(fp: *mut u64, s: Slot) -> Self {
                let $r = *fp.add(s as usize);
                $read
            }
            #[inline(always)]
            unsafe fn write(fp: *mut u64, s: Slot, $w: Self) {
                *fp.add(s as usize) = $write;
            }
        }
    )*};
}

slot_value! {
    u32: |r| r as u32, |v| v as u64;
    i32: |r| r as u32 as i32, |v| v as u32 as u64;
    u64: |r| r, |v| v;
    i64: |r| r as i64, |v| v as u64;
    f32: |r| f32::from_bits(r as u32), |v| v.to_bits() as u64;
    f64: |r| f64::from_bits(r), |v| v.to_bits();
    bool: |r| r != 0, |v| v as u64;
}

/// An integer type with an immediate operand form: the 32-bit immediate
/// word, sign-extended for 64-bit types.
pub(super) trait ImmValue {
    /// The operand value of immediate word `x`.
    fn from_imm(x: u32) -> Self;
}

impl ImmValue for u32 {
    #[inline(always)]
    fn from_imm(x: u32) -> Self {
        x
    }
}
impl ImmValue for i32 {
    #[inline(always)]
    fn from_imm(x: u32) -> Self {
        x as i32
    }
}
impl ImmValue for u64 {
    #[inline(always)]
    fn from_imm(x: u32) -> Self {
        x as i32 as i64 as u64
    }
}
impl ImmValue for i64 {
    #[inline(always)]
    fn from_imm(x: u32) -> Self {
        x as i32 as i64
    }
}

/// How the translator emits a data instruction (see [`decode`]).
#[derive(Clone, Copy)]
pub(super) enum Shape {
    /// `dst = op src`.
    Unary(fn(Slot, Slot) -> Instr),
    /// `dst = a op b`; with the kind of its immediate form, if it has one.
    Binary(fn(Slot, Slot, Slot) -> Instr, Option<BinKind>),
    /// `dst = load(addr + offset)` (the constructor's arguments in that order).
    Load(fn(Slot, Slot, u32) -> Instr, MemArg),
    /// `store(addr + offset, src)` (arguments `addr, src, offset`).
    Store(fn(Slot, Slot, u32) -> Instr, MemArg),
}

fn op(handler: Handler, a: u32, b: u32, c: u32, d: u32) -> Op {
    Op::new(handler, a, b, c, d)
}

/// The op of a structural instruction: its fields in order as words `a`,
/// `b`, `c`, and the folded `Aux` word (if any) as `d`.
fn pack(handler: Handler, words: &[u32], aux: Option<u32>) -> Op {
    let w = |i: usize| words.get(i).copied().unwrap_or(0);
    debug_assert!(words.len() <= 3 || aux.is_none(), "an op with four fields cannot fold an Aux");
    op(handler, w(0), w(1), w(2), aux.unwrap_or(w(3)))
}

/// `true` for a row marked `commutative`, `false` for an unmarked one.
macro_rules! marked {
    () => {
        false
    };
    (commutative) => {
        true
    };
    (aux) => {
        true
    };
}

macro_rules! define_ops {
    (
        binary: {
            $( $bn:ident $bh:ident: $bt:ty => $br:ty, |$bx:ident, $by:ident| $be:expr
               $(, imm($bhi:ident $(, $bcomm:ident)?))?
               $(, branch($bhb:ident, $bhbi:ident, not $bneg:ident))? ; )*
        }
        binary_trapping: { $( $tn:ident $th:ident: $tt:ty => $tr:ty, |$tx:ident, $ty:ident| $te:expr; )* }
        unary: { $( $un:ident $uh:ident: $ut:ty => $ur:ty, |$ux:ident| $ue:expr; )* }
        unary_trapping: { $( $vn:ident $vh:ident: $vt:ty => $vr:ty, |$vx:ident| $vcheck:expr => $ve:expr; )* }
        load: { $( $ln:ident $lh:ident $(: $lt:ty => |$lv:ident| $lconv:expr)?; )* }
        store: { $( $sn:ident $sh:ident $(: $st:ty)?; )* }
        with_dst: { $( $(#[$wm:meta])* $wn:ident $wh:ident { dst: Slot $(, $wf:ident: $wft:ty)* } $(+ $waux:ident)?; )* }
        plain: { $( $(#[$pm:meta])* $pn:ident $ph:ident $({ $($pf:ident: $pft:ty),* })? $(+ $paux:ident)?; )* }
        control: { $( $(#[$cm:meta])* $cn:ident $({ $($cf:ident: $cft:ty),* })?; )* }
    ) => {
        /// One interpreter instruction (16 bytes): the translator's output,
        /// lowered to an [`Op`] by the assembler.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Instr {
            $( #[doc = concat!("`", stringify!($bn), "`: `dst = ", stringify!($be), "` with `x = a`, `y = b`.")]
               $bn { dst: Slot, a: Slot, b: Slot }, )*
            $( #[doc = concat!("`", stringify!($tn), "`: `dst = ", stringify!($te), "` with `x = a`, `y = b`, or a trap.")]
               $tn { dst: Slot, a: Slot, b: Slot }, )*
            $( #[doc = concat!("`", stringify!($un), "`: `dst = ", stringify!($ue), "` with `x = src`.")]
               $un { dst: Slot, src: Slot }, )*
            $( #[doc = concat!("`", stringify!($vn), "`: `dst = ", stringify!($ve), "` with `x = src`, unless `",
                               stringify!($vcheck), "` traps.")]
               $vn { dst: Slot, src: Slot }, )*
            $( #[doc = concat!("`", stringify!($ln), "` from memory 0 at `addr + offset`.")]
               $ln { dst: Slot, addr: Slot, offset: u32 }, )*
            $( #[doc = concat!("`", stringify!($sn), "` of `src` to memory 0 at `addr + offset`.")]
               $sn { addr: Slot, src: Slot, offset: u32 }, )*
            $( $(#[$wm])* $wn { dst: Slot $(, $wf: $wft)* }, )*
            $( $(#[$pm])* $pn $({ $($pf: $pft),* })?, )*
            $( $(#[$cm])* $cn $({ $($cf: $cft),* })?, )*
            /// `dst = a kind imm` (for 64-bit kinds `imm` is sign-extended).
            BinaryImm { dst: Slot, a: Slot, imm: u32, kind: BinKind },
            /// Fused compare and branch: jump to `target` if `kind(a, b)`.
            BrCmp { a: Slot, b: Slot, target: u32, kind: BinKind },
            /// Fused compare with an immediate (sign-extended for 64-bit
            /// kinds) and branch.
            BrCmpImm { a: Slot, imm: u32, target: u32, kind: BinKind },
        }

        impl Instr {
            /// The slot this instruction writes its single result to, if it
            /// has one that may be retargeted.
            pub fn dst_mut(&mut self) -> Option<&mut Slot> {
                match self {
                    $( Instr::$bn { dst, .. } => Some(dst), )*
                    $( Instr::$tn { dst, .. } => Some(dst), )*
                    $( Instr::$un { dst, .. } => Some(dst), )*
                    $( Instr::$vn { dst, .. } => Some(dst), )*
                    $( Instr::$ln { dst, .. } => Some(dst), )*
                    $( Instr::$wn { dst, .. } => Some(dst), )*
                    Instr::BinaryImm { dst, .. } => Some(dst),
                    _ => None,
                }
            }

            /// For a comparison that has a compare-and-branch form: its
            /// operands and kind.
            pub fn compare(&self) -> Option<(Slot, Slot, BinKind)> {
                match *self {
                    $( $( Instr::$bn { a, b, .. } => {
                        let _ = stringify!($bhb);
                        Some((a, b, BinKind::$bn))
                    } )? )*
                    _ => None,
                }
            }

            /// Whether this instruction takes the word of the `Aux` that
            /// follows it as its fourth operand (the `Aux` then disappears).
            pub fn folds_aux(&self) -> bool {
                match self {
                    $( Instr::$wn { .. } => marked!($($waux)?), )*
                    $( Instr::$pn { .. } => marked!($($paux)?), )*
                    _ => false,
                }
            }

            /// The op of every instruction but branches (which need their
            /// relative targets: see `assemble.rs`); `aux_a` is the word of
            /// a following `Aux` (used if [`Instr::folds_aux`]).
            pub(super) fn lower(&self, aux_a: u32) -> Option<Op> {
                use super::handlers as h;
                let _ = aux_a;
                Some(match *self {
                    $( Instr::$bn { dst, a, b } => op($bh, dst, a, b, 0), )*
                    $( Instr::$tn { dst, a, b } => op($th, dst, a, b, 0), )*
                    $( Instr::$un { dst, src } => op($uh, dst, src, 0, 0), )*
                    $( Instr::$vn { dst, src } => op($vh, dst, src, 0, 0), )*
                    $( Instr::$ln { dst, addr, offset } => op($lh, dst, addr, offset, 0), )*
                    $( Instr::$sn { addr, src, offset } => op($sh, addr, src, offset, 0), )*
                    $( Instr::$wn { dst $(, $wf)* } => {
                        pack(h::$wh, &[dst $(, $wf)*], marked!($($waux)?).then_some(aux_a))
                    } )*
                    $( Instr::$pn $({ $($pf),* })? => {
                        pack(h::$ph, &[$($($pf),*)?], marked!($($paux)?).then_some(aux_a))
                    } )*
                    Instr::BinaryImm { dst, a, imm, kind } => op(kind.imm_handler(), dst, a, imm, 0),
                    _ => return None,
                })
            }
        }

        /// Binary operations that have an immediate-operand form
        /// ([`Instr::BinaryImm`]) and, for comparisons, compare-and-branch
        /// forms ([`Instr::BrCmp`], [`Instr::BrCmpImm`]).
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(u8)]
        pub enum BinKind {
            $( $( #[doc = concat!("`", stringify!($bn), "` (immediate form `", stringify!($bhi), "`).")] $bn, )? )*
        }

        impl BinKind {
            /// Whether the operands may be swapped.
            pub fn commutative(self) -> bool {
                match self {
                    $( $( BinKind::$bn => { let _ = stringify!($bhi); marked!($($bcomm)?) } )? )*
                }
            }

            /// Whether the right operand is 64 bits wide (its immediate form
            /// holds a sign-extended 32-bit value).
            pub fn wide(self) -> bool {
                match self {
                    $( $( BinKind::$bn => { let _ = stringify!($bhi); core::mem::size_of::<$bt>() == 8 } )? )*
                }
            }

            /// For a comparison, the comparison with the opposite outcome.
            pub fn negate(self) -> Option<BinKind> {
                match self {
                    $( $( BinKind::$bn => Some(BinKind::$bneg), )? )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The handler of `dst = a kind imm`.
            pub(super) fn imm_handler(self) -> Handler {
                match self {
                    $( $( BinKind::$bn => $bhi, )? )*
                }
            }

            /// The handler of a compare-and-branch on two slots (`back`:
            /// the branch is a back-edge); `None` if this is no comparison.
            pub(super) fn branch_handler(self, back: bool) -> Option<Handler> {
                match self {
                    $( $( BinKind::$bn => Some(if back { $bhb::<true> } else { $bhb::<false> }), )? )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The handler of a compare-with-immediate-and-branch.
            pub(super) fn branch_imm_handler(self, back: bool) -> Option<Handler> {
                match self {
                    $( $( BinKind::$bn => Some(if back { $bhbi::<true> } else { $bhbi::<false> }), )? )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }

        /// The data instruction implementing wasm operator `op`, if it is one.
        pub(super) fn decode(op: &Operator<'_>) -> Option<Shape> {
            Some(match *op {
                $( Operator::$bn => Shape::Binary(|dst, a, b| Instr::$bn { dst, a, b }, None $( .or({ let _ = stringify!($bhi); Some(BinKind::$bn) }) )?), )*
                $( Operator::$tn => Shape::Binary(|dst, a, b| Instr::$tn { dst, a, b }, None), )*
                $( Operator::$un => Shape::Unary(|dst, src| Instr::$un { dst, src }), )*
                $( Operator::$vn => Shape::Unary(|dst, src| Instr::$vn { dst, src }), )*
                $( Operator::$ln { memarg } => Shape::Load(|dst, addr, offset| Instr::$ln { dst, addr, offset }, memarg), )*
                $( Operator::$sn { memarg } => Shape::Store(|addr, src, offset| Instr::$sn { addr, src, offset }, memarg), )*
                _ => return None,
            })
        }

        // ---- the data operations' handlers (contract: `exec::Handler`) ----

        $(
            unsafe fn $bh(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                let op = &*pc;
                let $bx = <$bt as SlotValue>::read(fp, op.b);
                let $by = <$bt as SlotValue>::read(fp, op.c);
                <$br as SlotValue>::write(fp, op.a, $be);
                next!(pc.add(1), fp, st, mb, ml)
            }
            $(
                unsafe fn $bhi(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                    let op = &*pc;
                    let $bx = <$bt as SlotValue>::read(fp, op.b);
                    let $by = <$bt as ImmValue>::from_imm(op.c);
                    <$br as SlotValue>::write(fp, op.a, $be);
                    next!(pc.add(1), fp, st, mb, ml)
                }
            )?
            $(
                /// Compare and branch: `a`, `b` slots, `c` relative target.
                unsafe fn $bhb<const BACK: bool>(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                    let op = &*pc;
                    let $bx = <$bt as SlotValue>::read(fp, op.a);
                    let $by = <$bt as SlotValue>::read(fp, op.b);
                    if $be {
                        jump!(BACK, target(pc, op.c), fp, st, mb, ml)
                    }
                    next!(pc.add(1), fp, st, mb, ml)
                }
                /// Compare with an immediate and branch: `a` slot, `b`
                /// immediate, `c` relative target.
                unsafe fn $bhbi<const BACK: bool>(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                    let op = &*pc;
                    let $bx = <$bt as SlotValue>::read(fp, op.a);
                    let $by = <$bt as ImmValue>::from_imm(op.b);
                    if $be {
                        jump!(BACK, target(pc, op.c), fp, st, mb, ml)
                    }
                    next!(pc.add(1), fp, st, mb, ml)
                }
            )?
        )*

        $(
            unsafe fn $th(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                let op = &*pc;
                let $tx = <$tt as SlotValue>::read(fp, op.b);
                let $ty = <$tt as SlotValue>::read(fp, op.c);
                let r: Result<$tr, TrapCode> = $te;
                match r {
                    Ok(v) => <$tr as SlotValue>::write(fp, op.a, v),
                    Err(code) => return trap(pc, fp, st, mb, ml, code),
                }
                next!(pc.add(1), fp, st, mb, ml)
            }
        )*

        $(
            unsafe fn $uh(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                let op = &*pc;
                let $ux = <$ut as SlotValue>::read(fp, op.b);
                <$ur as SlotValue>::write(fp, op.a, $ue);
                next!(pc.add(1), fp, st, mb, ml)
            }
        )*

        $(
            unsafe fn $vh(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                let op = &*pc;
                let $vx = <$vt as SlotValue>::read(fp, op.b);
                if let Err(code) = $vcheck {
                    return trap(pc, fp, st, mb, ml, code);
                }
                <$vr as SlotValue>::write(fp, op.a, $ve);
                next!(pc.add(1), fp, st, mb, ml)
            }
        )*

        $( $(
            /// Load: `a` dst, `b` address slot, `c` static offset.
            unsafe fn $lh(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                let op = &*pc;
                let ea = <u32 as SlotValue>::read(fp, op.b) as u64 + op.c as u64;
                if ea + core::mem::size_of::<$lt>() as u64 > ml as u64 {
                    return trap(pc, fp, st, mb, ml, TrapCode::MemoryOutOfBounds);
                }
                let $lv = <$lt>::from_le_bytes(core::ptr::read_unaligned(
                    mb.add(ea as usize) as *const [u8; core::mem::size_of::<$lt>()],
                ));
                *fp.add(op.a as usize) = $lconv;
                next!(pc.add(1), fp, st, mb, ml)
            }
        )? )*

        $( $(
            /// Store: `a` address slot, `b` value slot (truncated to the
            /// stored width), `c` static offset.
            unsafe fn $sh(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
                let op = &*pc;
                let ea = <u32 as SlotValue>::read(fp, op.a) as u64 + op.c as u64;
                if ea + core::mem::size_of::<$st>() as u64 > ml as u64 {
                    return trap(pc, fp, st, mb, ml, TrapCode::MemoryOutOfBounds);
                }
                let v = *fp.add(op.b as usize) as $st;
                core::ptr::write_unaligned(mb.add(ea as usize) as *mut [u8; core::mem::size_of::<$st>()], v.to_le_bytes());
                next!(pc.add(1), fp, st, mb, ml)
            }
        )? )*
    };
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

/// Signed division (`div_s`, spec §4.3.2 `idiv_s`): traps on a zero divisor
/// and on the one overflowing quotient.
macro_rules! div_s {
    ($x:expr, $y:expr, $t:ty) => {
        if $y == 0 {
            Err(TrapCode::IntegerDivisionByZero)
        } else if $x == <$t>::MIN && $y == -1 {
            Err(TrapCode::IntegerOverflow)
        } else {
            Ok($x / $y)
        }
    };
}

// The table. Rows: `Name handler: operand type => result type, |x, y| value`
// (a `wasmparser::Operator` of the same name is what the translator maps to
// it); `imm(handler[, commutative])`: the form with the right operand an
// immediate (the translator uses it for constant operands that fit; 64-bit
// kinds take a sign-extended 32-bit immediate); `branch(slots handler,
// immediate handler, not Opposite)`: the fused compare-and-branch forms.
define_ops! {
    binary: {
        I32Eq i32_eq: u32 => bool, |x, y| x == y, imm(i32_eq_imm, commutative), branch(br_i32_eq, br_i32_eq_imm, not I32Ne);
        I32Ne i32_ne: u32 => bool, |x, y| x != y, imm(i32_ne_imm, commutative), branch(br_i32_ne, br_i32_ne_imm, not I32Eq);
        I32LtS i32_lt_s: i32 => bool, |x, y| x < y, imm(i32_lt_s_imm), branch(br_i32_lt_s, br_i32_lt_s_imm, not I32GeS);
        I32LtU i32_lt_u: u32 => bool, |x, y| x < y, imm(i32_lt_u_imm), branch(br_i32_lt_u, br_i32_lt_u_imm, not I32GeU);
        I32GtS i32_gt_s: i32 => bool, |x, y| x > y, imm(i32_gt_s_imm), branch(br_i32_gt_s, br_i32_gt_s_imm, not I32LeS);
        I32GtU i32_gt_u: u32 => bool, |x, y| x > y, imm(i32_gt_u_imm), branch(br_i32_gt_u, br_i32_gt_u_imm, not I32LeU);
        I32LeS i32_le_s: i32 => bool, |x, y| x <= y, imm(i32_le_s_imm), branch(br_i32_le_s, br_i32_le_s_imm, not I32GtS);
        I32LeU i32_le_u: u32 => bool, |x, y| x <= y, imm(i32_le_u_imm), branch(br_i32_le_u, br_i32_le_u_imm, not I32GtU);
        I32GeS i32_ge_s: i32 => bool, |x, y| x >= y, imm(i32_ge_s_imm), branch(br_i32_ge_s, br_i32_ge_s_imm, not I32LtS);
        I32GeU i32_ge_u: u32 => bool, |x, y| x >= y, imm(i32_ge_u_imm), branch(br_i32_ge_u, br_i32_ge_u_imm, not I32LtU);
        I64Eq i64_eq: u64 => bool, |x, y| x == y, imm(i64_eq_imm, commutative), branch(br_i64_eq, br_i64_eq_imm, not I64Ne);
        I64Ne i64_ne: u64 => bool, |x, y| x != y, imm(i64_ne_imm, commutative), branch(br_i64_ne, br_i64_ne_imm, not I64Eq);
        I64LtS i64_lt_s: i64 => bool, |x, y| x < y, imm(i64_lt_s_imm), branch(br_i64_lt_s, br_i64_lt_s_imm, not I64GeS);
        I64LtU i64_lt_u: u64 => bool, |x, y| x < y, imm(i64_lt_u_imm), branch(br_i64_lt_u, br_i64_lt_u_imm, not I64GeU);
        I64GtS i64_gt_s: i64 => bool, |x, y| x > y, imm(i64_gt_s_imm), branch(br_i64_gt_s, br_i64_gt_s_imm, not I64LeS);
        I64GtU i64_gt_u: u64 => bool, |x, y| x > y, imm(i64_gt_u_imm), branch(br_i64_gt_u, br_i64_gt_u_imm, not I64LeU);
        I64LeS i64_le_s: i64 => bool, |x, y| x <= y, imm(i64_le_s_imm), branch(br_i64_le_s, br_i64_le_s_imm, not I64GtS);
        I64LeU i64_le_u: u64 => bool, |x, y| x <= y, imm(i64_le_u_imm), branch(br_i64_le_u, br_i64_le_u_imm, not I64GtU);
        I64GeS i64_ge_s: i64 => bool, |x, y| x >= y, imm(i64_ge_s_imm), branch(br_i64_ge_s, br_i64_ge_s_imm, not I64LtS);
        I64GeU i64_ge_u: u64 => bool, |x, y| x >= y, imm(i64_ge_u_imm), branch(br_i64_ge_u, br_i64_ge_u_imm, not I64LtU);
        F32Eq f32_eq: f32 => bool, |x, y| x == y;
        F32Ne f32_ne: f32 => bool, |x, y| x != y;
        F32Lt f32_lt: f32 => bool, |x, y| x < y;
        F32Gt f32_gt: f32 => bool, |x, y| x > y;
        F32Le f32_le: f32 => bool, |x, y| x <= y;
        F32Ge f32_ge: f32 => bool, |x, y| x >= y;
        F64Eq f64_eq: f64 => bool, |x, y| x == y;
        F64Ne f64_ne: f64 => bool, |x, y| x != y;
        F64Lt f64_lt: f64 => bool, |x, y| x < y;
        F64Gt f64_gt: f64 => bool, |x, y| x > y;
        F64Le f64_le: f64 => bool, |x, y| x <= y;
        F64Ge f64_ge: f64 => bool, |x, y| x >= y;
        I32Add i32_add: u32 => u32, |x, y| x.wrapping_add(y), imm(i32_add_imm, commutative);
        I32Sub i32_sub: u32 => u32, |x, y| x.wrapping_sub(y), imm(i32_sub_imm);
        I32Mul i32_mul: u32 => u32, |x, y| x.wrapping_mul(y), imm(i32_mul_imm, commutative);
        I32And i32_and: u32 => u32, |x, y| x & y, imm(i32_and_imm, commutative);
        I32Or i32_or: u32 => u32, |x, y| x | y, imm(i32_or_imm, commutative);
        I32Xor i32_xor: u32 => u32, |x, y| x ^ y, imm(i32_xor_imm, commutative);
        I32Shl i32_shl: u32 => u32, |x, y| x.wrapping_shl(y), imm(i32_shl_imm);
        I32ShrS i32_shr_s: i32 => i32, |x, y| x.wrapping_shr(y as u32), imm(i32_shr_s_imm);
        I32ShrU i32_shr_u: u32 => u32, |x, y| x.wrapping_shr(y), imm(i32_shr_u_imm);
        I32Rotl i32_rotl: u32 => u32, |x, y| x.rotate_left(y & 31), imm(i32_rotl_imm);
        I32Rotr i32_rotr: u32 => u32, |x, y| x.rotate_right(y & 31), imm(i32_rotr_imm);
        I64Add i64_add: u64 => u64, |x, y| x.wrapping_add(y), imm(i64_add_imm, commutative);
        I64Sub i64_sub: u64 => u64, |x, y| x.wrapping_sub(y), imm(i64_sub_imm);
        I64Mul i64_mul: u64 => u64, |x, y| x.wrapping_mul(y), imm(i64_mul_imm, commutative);
        I64And i64_and: u64 => u64, |x, y| x & y, imm(i64_and_imm, commutative);
        I64Or i64_or: u64 => u64, |x, y| x | y, imm(i64_or_imm, commutative);
        I64Xor i64_xor: u64 => u64, |x, y| x ^ y, imm(i64_xor_imm, commutative);
        I64Shl i64_shl: u64 => u64, |x, y| x.wrapping_shl(y as u32), imm(i64_shl_imm);
        I64ShrS i64_shr_s: i64 => i64, |x, y| x.wrapping_shr(y as u32), imm(i64_shr_s_imm);
        I64ShrU i64_shr_u: u64 => u64, |x, y| x.wrapping_shr(y as u32), imm(i64_shr_u_imm);
        I64Rotl i64_rotl: u64 => u64, |x, y| x.rotate_left((y & 63) as u32), imm(i64_rotl_imm);
        I64Rotr i64_rotr: u64 => u64, |x, y| x.rotate_right((y & 63) as u32), imm(i64_rotr_imm);
        F32Add f32_add: f32 => f32, |x, y| x + y;
        F32Sub f32_sub: f32 => f32, |x, y| x - y;
        F32Mul f32_mul: f32 => f32, |x, y| x * y;
        F32Div f32_div: f32 => f32, |x, y| x / y;
        F32Min f32_min_op: f32 => f32, |x, y| f32_min(x, y);
        F32Max f32_max_op: f32 => f32, |x, y| f32_max(x, y);
        F32Copysign f32_copysign: u32 => u32, |x, y| (x & 0x7fff_ffff) | (y & 0x8000_0000);
        F64Add f64_add: f64 => f64, |x, y| x + y;
        F64Sub f64_sub: f64 => f64, |x, y| x - y;
        F64Mul f64_mul: f64 => f64, |x, y| x * y;
        F64Div f64_div: f64 => f64, |x, y| x / y;
        F64Min f64_min_op: f64 => f64, |x, y| f64_min(x, y);
        F64Max f64_max_op: f64 => f64, |x, y| f64_max(x, y);
        F64Copysign f64_copysign: u64 => u64, |x, y| (x & 0x7fff_ffff_ffff_ffff) | (y & 0x8000_0000_0000_0000);
    }
    binary_trapping: {
        I32DivS i32_div_s: i32 => i32, |x, y| div_s!(x, y, i32);
        I32DivU i32_div_u: u32 => u32, |x, y| x.checked_div(y).ok_or(TrapCode::IntegerDivisionByZero);
        I32RemS i32_rem_s: i32 => i32, |x, y| if y == 0 { Err(TrapCode::IntegerDivisionByZero) } else { Ok(x.wrapping_rem(y)) };
        I32RemU i32_rem_u: u32 => u32, |x, y| x.checked_rem(y).ok_or(TrapCode::IntegerDivisionByZero);
        I64DivS i64_div_s: i64 => i64, |x, y| div_s!(x, y, i64);
        I64DivU i64_div_u: u64 => u64, |x, y| x.checked_div(y).ok_or(TrapCode::IntegerDivisionByZero);
        I64RemS i64_rem_s: i64 => i64, |x, y| if y == 0 { Err(TrapCode::IntegerDivisionByZero) } else { Ok(x.wrapping_rem(y)) };
        I64RemU i64_rem_u: u64 => u64, |x, y| x.checked_rem(y).ok_or(TrapCode::IntegerDivisionByZero);
    }
    unary: {
        I32Eqz i32_eqz: u32 => bool, |x| x == 0;
        I64Eqz i64_eqz: u64 => bool, |x| x == 0;
        I32Clz i32_clz: u32 => u32, |x| x.leading_zeros();
        I32Ctz i32_ctz: u32 => u32, |x| x.trailing_zeros();
        I32Popcnt i32_popcnt: u32 => u32, |x| x.count_ones();
        I64Clz i64_clz: u64 => u64, |x| x.leading_zeros() as u64;
        I64Ctz i64_ctz: u64 => u64, |x| x.trailing_zeros() as u64;
        I64Popcnt i64_popcnt: u64 => u64, |x| x.count_ones() as u64;
        F32Abs f32_abs: u32 => u32, |x| x & 0x7fff_ffff;
        F32Neg f32_neg: u32 => u32, |x| x ^ 0x8000_0000;
        F32Ceil f32_ceil: f32 => f32, |x| round32(x, f32::ceil);
        F32Floor f32_floor: f32 => f32, |x| round32(x, f32::floor);
        F32Trunc f32_trunc: f32 => f32, |x| round32(x, f32::trunc);
        F32Nearest f32_nearest: f32 => f32, |x| round32(x, f32::round_ties_even);
        F32Sqrt f32_sqrt: f32 => f32, |x| x.sqrt();
        F64Abs f64_abs: u64 => u64, |x| x & 0x7fff_ffff_ffff_ffff;
        F64Neg f64_neg: u64 => u64, |x| x ^ 0x8000_0000_0000_0000;
        F64Ceil f64_ceil: f64 => f64, |x| round64(x, f64::ceil);
        F64Floor f64_floor: f64 => f64, |x| round64(x, f64::floor);
        F64Trunc f64_trunc: f64 => f64, |x| round64(x, f64::trunc);
        F64Nearest f64_nearest: f64 => f64, |x| round64(x, f64::round_ties_even);
        F64Sqrt f64_sqrt: f64 => f64, |x| x.sqrt();
        I32WrapI64 i32_wrap_i64: u64 => u32, |x| x as u32;
        I64ExtendI32S i64_extend_i32_s: i32 => i64, |x| x as i64;
        I64ExtendI32U i64_extend_i32_u: u32 => u64, |x| x as u64;
        F32ConvertI32S f32_convert_i32_s: i32 => f32, |x| x as f32;
        F32ConvertI32U f32_convert_i32_u: u32 => f32, |x| x as f32;
        F32ConvertI64S f32_convert_i64_s: i64 => f32, |x| x as f32;
        F32ConvertI64U f32_convert_i64_u: u64 => f32, |x| x as f32;
        F32DemoteF64 f32_demote_f64: f64 => f32, |x| x as f32;
        F64ConvertI32S f64_convert_i32_s: i32 => f64, |x| x as f64;
        F64ConvertI32U f64_convert_i32_u: u32 => f64, |x| x as f64;
        F64ConvertI64S f64_convert_i64_s: i64 => f64, |x| x as f64;
        F64ConvertI64U f64_convert_i64_u: u64 => f64, |x| x as f64;
        F64PromoteF32 f64_promote_f32: f32 => f64, |x| x as f64;
        I32Extend8S i32_extend8_s: u64 => i32, |x| x as i8 as i32;
        I32Extend16S i32_extend16_s: u64 => i32, |x| x as i16 as i32;
        I64Extend8S i64_extend8_s: u64 => i64, |x| x as i8 as i64;
        I64Extend16S i64_extend16_s: u64 => i64, |x| x as i16 as i64;
        I64Extend32S i64_extend32_s: u64 => i64, |x| x as i32 as i64;
        I32TruncSatF32S i32_trunc_sat_f32_s: f32 => i32, |x| x as i32;
        I32TruncSatF32U i32_trunc_sat_f32_u: f32 => u32, |x| x as u32;
        I32TruncSatF64S i32_trunc_sat_f64_s: f64 => i32, |x| x as i32;
        I32TruncSatF64U i32_trunc_sat_f64_u: f64 => u32, |x| x as u32;
        I64TruncSatF32S i64_trunc_sat_f32_s: f32 => i64, |x| x as i64;
        I64TruncSatF32U i64_trunc_sat_f32_u: f32 => u64, |x| x as u64;
        I64TruncSatF64S i64_trunc_sat_f64_s: f64 => i64, |x| x as i64;
        I64TruncSatF64U i64_trunc_sat_f64_u: f64 => u64, |x| x as u64;
        RefIsNull ref_is_null: u64 => bool, |x| x == 0;
    }
    unary_trapping: {
        I32TruncF32S i32_trunc_f32_s: f32 => i32, |x| trunc_check(x as f64, -2147483649.0, 2147483648.0) => x as i32;
        I32TruncF32U i32_trunc_f32_u: f32 => u32, |x| trunc_check(x as f64, -1.0, 4294967296.0) => x as u32;
        I32TruncF64S i32_trunc_f64_s: f64 => i32, |x| trunc_check(x, -2147483649.0, 2147483648.0) => x as i32;
        I32TruncF64U i32_trunc_f64_u: f64 => u32, |x| trunc_check(x, -1.0, 4294967296.0) => x as u32;
        I64TruncF32S i64_trunc_f32_s: f32 => i64,
            |x| trunc_check(x as f64, -9223373136366403584.0, 9223372036854775808.0) => x as i64;
        I64TruncF32U i64_trunc_f32_u: f32 => u64, |x| trunc_check(x as f64, -1.0, 18446744073709551616.0) => x as u64;
        I64TruncF64S i64_trunc_f64_s: f64 => i64,
            |x| trunc_check(x, -9223372036854777856.0, 9223372036854775808.0) => x as i64;
        I64TruncF64U i64_trunc_f64_u: f64 => u64, |x| trunc_check(x, -1.0, 18446744073709551616.0) => x as u64;
    }
    // `Name handler: stored type => |v| slot bits`; a row without a type
    // shares the handler of an earlier row (slots hold zero-extended bits,
    // so e.g. `f32.load` and `i64.load32_u` are `i32.load`).
    load: {
        I32Load i32_load: u32 => |v| v as u64;
        I64Load i64_load: u64 => |v| v;
        F32Load i32_load;
        F64Load i64_load;
        I32Load8S i32_load8_s: i8 => |v| v as i32 as u32 as u64;
        I32Load8U i32_load8_u: u8 => |v| v as u64;
        I32Load16S i32_load16_s: i16 => |v| v as i32 as u32 as u64;
        I32Load16U i32_load16_u: u16 => |v| v as u64;
        I64Load8S i64_load8_s: i8 => |v| v as i64 as u64;
        I64Load8U i32_load8_u;
        I64Load16S i64_load16_s: i16 => |v| v as i64 as u64;
        I64Load16U i32_load16_u;
        I64Load32S i64_load32_s: i32 => |v| v as i64 as u64;
        I64Load32U i32_load;
    }
    // `Name handler: stored type`; a row without a type shares a handler.
    store: {
        I32Store i32_store: u32;
        I64Store i64_store: u64;
        F32Store i32_store;
        F64Store i64_store;
        I32Store8 i32_store8: u8;
        I32Store16 i32_store16: u16;
        I64Store8 i32_store8;
        I64Store16 i32_store16;
        I64Store32 i32_store;
    }
    // Structural instructions with a result slot: fields become the op's
    // words in order (`dst` first); `+ aux` folds the following `Aux` into
    // the fourth word. Handlers are in `handlers.rs`.
    with_dst: {
        /// Copy `src` to `dst` (materialising an operand, carrying branch values).
        Copy copy { dst: Slot, src: Slot };
        /// `select`: `dst = cond != 0 ? a : b`; `b` is in the following `Aux`.
        Select select { dst: Slot, cond: Slot, a: Slot } + aux;
        /// `global.get`.
        GlobalGet global_get { dst: Slot, global: u32 };
        /// `memory.size` of memory `mem`, in pages.
        MemorySize memory_size { dst: Slot, mem: u32 };
        /// `memory.grow` of memory `mem` by `delta` pages; old size or -1.
        MemoryGrow memory_grow { dst: Slot, delta: Slot, mem: u32 };
        /// `table.get`.
        TableGet table_get { dst: Slot, index: Slot, table: u32 };
        /// `table.size`.
        TableSize table_size { dst: Slot, table: u32 };
        /// `table.grow` by `delta` elements of `init`; table in `Aux.a`.
        TableGrow table_grow { dst: Slot, init: Slot, delta: Slot } + aux;
        /// `ref.func`: the function's `VMFuncRef` pointer.
        RefFunc ref_func { dst: Slot, func: u32 };
    }
    // Structural instructions without a result slot (same conventions).
    plain: {
        /// `unreachable`: traps.
        Unreachable unreachable;
        /// Operand words of the preceding instruction.
        Aux aux { a: u32, b: u32, c: u32 };
        /// `br_table`: followed by `len + 1` `Br` entries; jumps to entry
        /// `min(index, len)`.
        BrTable br_table { index: Slot, len: u32 };
        /// Return without results.
        Return0 return0;
        /// Return one result from `src`.
        Return1 return1 { src: Slot };
        /// Return `n` results from `src ..`.
        ReturnN return_n { src: Slot, n: u32 };
        /// Call function `func` with arguments (and then results) at `args ..`.
        Call call { func: u32, args: Slot };
        /// `call_indirect` of type `ty` through table `Aux.a` at `index`.
        CallIndirect call_indirect { ty: u32, index: Slot, args: Slot } + aux;
        /// `global.set`.
        GlobalSet global_set { global: u32, src: Slot };
        /// `table.set`.
        TableSet table_set { table: u32, index: Slot, src: Slot };
        /// `memory.fill(dst, val, len)` on memory `Aux.a`.
        MemoryFill memory_fill { dst: Slot, val: Slot, len: Slot } + aux;
        /// `memory.copy(dst, src, len)` from memory `Aux.b` to `Aux.a`.
        MemoryCopy memory_copy { dst: Slot, src: Slot, len: Slot };
        /// `memory.init(dst, src, len)` of segment `Aux.b` into memory `Aux.a`.
        MemoryInit memory_init { dst: Slot, src: Slot, len: Slot };
        /// `data.drop`.
        DataDrop data_drop { data: u32 };
        /// `table.fill(i, val, n)` on table `Aux.a`.
        TableFill table_fill { index: Slot, val: Slot, len: Slot } + aux;
        /// `table.copy(dst, src, len)` from table `Aux.b` to `Aux.a`.
        TableCopy table_copy { dst: Slot, src: Slot, len: Slot };
        /// `table.init(dst, src, len)` of segment `Aux.b` into table `Aux.a`.
        TableInit table_init { dst: Slot, src: Slot, len: Slot };
        /// `elem.drop`.
        ElemDrop elem_drop { elem: u32 };
    }
    // Branches, assembled with relative targets by `assemble.rs` (with the
    // kind-generated `BrCmp`/`BrCmpImm`), and the loop marker it drops.
    control: {
        /// A loop header: back-edges jump here; charges the hotness count.
        LoopHeader;
        /// Jump.
        Br { target: u32 };
        /// Jump if `cond != 0`.
        BrIfNez { cond: Slot, target: u32 };
        /// Jump if `cond == 0`.
        BrIfEqz { cond: Slot, target: u32 };
    }
}
