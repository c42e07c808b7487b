//! Conversion of wast arguments to [`Val`]s, matching of results against
//! `assert_return` expectations, and their display.
//!
//! NaN patterns follow the spec's test-suite conventions (spec section 4.3.3,
//! "NaN propagation"): a *canonical* NaN has exactly the most significant
//! mantissa bit set and any sign (`0x7fc00000` / `0x7ff8000000000000` with
//! the sign masked off); an *arithmetic* NaN is any NaN with that bit set.

use std::collections::HashMap;

use wast::WastArg;
use wast::WastRet;
use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};

use crate::{ExternRef, Store, Val};

const F32_SIGN: u32 = 0x8000_0000;
const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F64_SIGN: u64 = 0x8000_0000_0000_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Why an argument or expectation cannot be handled.
pub(crate) enum Unsupported {
    /// A `v128` value: SIMD is not implemented.
    Simd,
    /// Anything else the runner cannot represent.
    Other(String),
}

/// One `ExternRef` per `ref.extern N` payload, so identical `N`s are the
/// same reference (identity-comparing tests such as `ref_is_null` and table
/// round-trips rely on that).
#[derive(Default)]
pub(crate) struct ExternRefs {
    by_payload: HashMap<u32, ExternRef>,
}

impl ExternRefs {
    fn get(&mut self, store: &mut Store<()>, n: u32) -> ExternRef {
        *self.by_payload.entry(n).or_insert_with(|| ExternRef::new(&mut *store, n))
    }
}

/// Converts an `invoke` argument to a [`Val`].
pub(crate) fn arg_to_val(
    arg: &WastArg<'_>,
    store: &mut Store<()>,
    externs: &mut ExternRefs,
) -> Result<Val, Unsupported> {
    let WastArg::Core(core) = arg else {
        return Err(Unsupported::Other("component-model argument".into()));
    };
    Ok(match core {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(_) => return Err(Unsupported::Simd),
        WastArgCore::RefNull(heap) => match null_kind(heap) {
            Some(NullKind::Func) => Val::FuncRef(None),
            Some(NullKind::Extern) => Val::ExternRef(None),
            None => return Err(Unsupported::Other(format!("ref.null {heap:?}"))),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(externs.get(store, *n))),
        WastArgCore::RefHost(n) => return Err(Unsupported::Other(format!("ref.host {n}"))),
    })
}

enum NullKind {
    Func,
    Extern,
}

fn null_kind(heap: &HeapType<'_>) -> Option<NullKind> {
    match heap {
        HeapType::Abstract { shared: false, ty } => match ty {
            AbstractHeapType::Func | AbstractHeapType::NoFunc => Some(NullKind::Func),
            AbstractHeapType::Extern | AbstractHeapType::NoExtern => Some(NullKind::Extern),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the expectations need SIMD (a `v128` result anywhere).
pub(crate) fn ret_needs_simd(ret: &WastRet<'_>) -> bool {
    fn core(r: &WastRetCore<'_>) -> bool {
        match r {
            WastRetCore::V128(_) => true,
            WastRetCore::Either(alts) => alts.iter().any(core),
            _ => false,
        }
    }
    matches!(ret, WastRet::Core(r) if core(r))
}

/// Whether `got` matches the expectation `ret`.
pub(crate) fn matches(ret: &WastRet<'_>, got: &Val, store: &Store<()>) -> bool {
    match ret {
        WastRet::Core(core) => matches_core(core, got, store),
        _ => false,
    }
}

fn matches_core(ret: &WastRetCore<'_>, got: &Val, store: &Store<()>) -> bool {
    match (ret, got) {
        (WastRetCore::I32(e), Val::I32(g)) => e == g,
        (WastRetCore::I64(e), Val::I64(g)) => e == g,
        (WastRetCore::F32(pattern), Val::F32(bits)) => f32_matches(pattern, *bits),
        (WastRetCore::F64(pattern), Val::F64(bits)) => f64_matches(pattern, *bits),
        (WastRetCore::RefNull(None), Val::FuncRef(None) | Val::ExternRef(None)) => true,
        (WastRetCore::RefNull(Some(heap)), Val::FuncRef(None)) => {
            matches!(null_kind(heap), Some(NullKind::Func))
        }
        (WastRetCore::RefNull(Some(heap)), Val::ExternRef(None)) => {
            matches!(null_kind(heap), Some(NullKind::Extern))
        }
        (WastRetCore::RefExtern(None), Val::ExternRef(Some(_))) => true,
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(Some(r))) => r.data(store).downcast_ref::<u32>() == Some(n),
        // The API gives no function index for a `Func`: any non-null
        // funcref matches, as in Wasmtime's runner.
        (WastRetCore::RefFunc(_), Val::FuncRef(Some(_))) => true,
        (WastRetCore::Either(alts), got) => alts.iter().any(|alt| matches_core(alt, got, store)),
        _ => false,
    }
}

/// `bits` against an f32 pattern: exact bits, or a NaN class.
fn f32_matches(pattern: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    match pattern {
        NanPattern::CanonicalNan => bits & !F32_SIGN == F32_CANONICAL_NAN,
        NanPattern::ArithmeticNan => bits & F32_CANONICAL_NAN == F32_CANONICAL_NAN,
        NanPattern::Value(v) => v.bits == bits,
    }
}

/// `bits` against an f64 pattern: exact bits, or a NaN class.
fn f64_matches(pattern: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    match pattern {
        NanPattern::CanonicalNan => bits & !F64_SIGN == F64_CANONICAL_NAN,
        NanPattern::ArithmeticNan => bits & F64_CANONICAL_NAN == F64_CANONICAL_NAN,
        NanPattern::Value(v) => v.bits == bits,
    }
}

/// Formats a list of expectations: `[i32.const 5, f32.const nan:canonical]`.
pub(crate) fn describe_rets(rets: &[WastRet<'_>]) -> String {
    let items: Vec<String> = rets
        .iter()
        .map(|r| match r {
            WastRet::Core(core) => describe_ret_core(core),
            other => format!("{other:?}"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn describe_ret_core(ret: &WastRetCore<'_>) -> String {
    match ret {
        WastRetCore::I32(v) => format!("i32.const {v}"),
        WastRetCore::I64(v) => format!("i64.const {v}"),
        WastRetCore::F32(p) => format!(
            "f32.const {}",
            match p {
                NanPattern::CanonicalNan => "nan:canonical".to_string(),
                NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
                NanPattern::Value(v) => f32_text(v.bits),
            }
        ),
        WastRetCore::F64(p) => format!(
            "f64.const {}",
            match p {
                NanPattern::CanonicalNan => "nan:canonical".to_string(),
                NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
                NanPattern::Value(v) => f64_text(v.bits),
            }
        ),
        WastRetCore::RefNull(None) => "ref.null".to_string(),
        WastRetCore::RefNull(Some(heap)) => match null_kind(heap) {
            Some(NullKind::Func) => "ref.null func".to_string(),
            Some(NullKind::Extern) => "ref.null extern".to_string(),
            None => format!("ref.null {heap:?}"),
        },
        WastRetCore::RefExtern(None) => "ref.extern".to_string(),
        WastRetCore::RefExtern(Some(n)) => format!("ref.extern {n}"),
        WastRetCore::RefFunc(_) => "ref.func".to_string(),
        WastRetCore::Either(alts) => {
            let items: Vec<String> = alts.iter().map(describe_ret_core).collect();
            format!("either({})", items.join(" | "))
        }
        other => format!("{other:?}"),
    }
}

/// Formats a list of values like [`describe_rets`].
pub(crate) fn describe_vals(vals: &[Val], store: &Store<()>) -> String {
    let items: Vec<String> = vals.iter().map(|v| describe_val(v, store)).collect();
    format!("[{}]", items.join(", "))
}

fn describe_val(val: &Val, store: &Store<()>) -> String {
    match val {
        Val::I32(v) => format!("i32.const {v}"),
        Val::I64(v) => format!("i64.const {v}"),
        Val::F32(bits) => format!("f32.const {}", f32_text(*bits)),
        Val::F64(bits) => format!("f64.const {}", f64_text(*bits)),
        Val::FuncRef(None) => "ref.null func".to_string(),
        Val::FuncRef(Some(_)) => "ref.func".to_string(),
        Val::ExternRef(None) => "ref.null extern".to_string(),
        Val::ExternRef(Some(r)) => match r.data(store).downcast_ref::<u32>() {
            Some(n) => format!("ref.extern {n}"),
            None => "ref.extern <foreign payload>".to_string(),
        },
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

/// `1.5`, `-0.0`, `inf`, or `nan:0x7fc00000` (bits, so payloads show).
fn f32_text(bits: u32) -> String {
    let v = f32::from_bits(bits);
    if v.is_nan() { format!("nan:{bits:#010x}") } else { format!("{v:?} ({bits:#010x})") }
}

/// `1.5`, `-0.0`, `inf`, or `nan:0x7ff8000000000000`.
fn f64_text(bits: u64) -> String {
    let v = f64::from_bits(bits);
    if v.is_nan() { format!("nan:{bits:#018x}") } else { format!("{v:?} ({bits:#018x})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_patterns_follow_the_spec_classes() {
        let canonical = NanPattern::CanonicalNan;
        let arithmetic = NanPattern::ArithmeticNan;
        // Canonical: exactly the quiet bit, either sign.
        assert!(f32_matches(&canonical, 0x7fc0_0000));
        assert!(f32_matches(&canonical, 0xffc0_0000));
        assert!(!f32_matches(&canonical, 0x7fc0_0001));
        assert!(!f32_matches(&canonical, 0x7f80_0000)); // +inf
        // Arithmetic: quiet bit set, any payload.
        assert!(f32_matches(&arithmetic, 0x7fc0_0001));
        assert!(f32_matches(&arithmetic, 0xffff_ffff));
        assert!(!f32_matches(&arithmetic, 0x7fa0_0000)); // signalling
        assert!(f64_matches(&NanPattern::CanonicalNan, 0xfff8_0000_0000_0000));
        assert!(!f64_matches(&NanPattern::CanonicalNan, 0x7ff8_0000_0000_0001));
        assert!(f64_matches(&NanPattern::ArithmeticNan, 0x7ff8_0000_0000_0001));
        assert!(!f64_matches(&NanPattern::ArithmeticNan, 0x7ff4_0000_0000_0000));
        // Values compare bitwise: -0.0 is not 0.0.
        let zero = NanPattern::Value(wast::token::F32 { bits: 0 });
        assert!(f32_matches(&zero, 0));
        assert!(!f32_matches(&zero, 0x8000_0000));
    }

    #[test]
    fn float_text_shows_value_and_bits() {
        assert_eq!(f32_text(1.5f32.to_bits()), "1.5 (0x3fc00000)");
        assert_eq!(f32_text(0x7fc0_0001), "nan:0x7fc00001");
        assert_eq!(f64_text((-0.0f64).to_bits()), "-0.0 (0x8000000000000000)");
    }
}
