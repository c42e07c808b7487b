//! Wasm values as the host sees them.

use crate::store::AsContext;
use crate::{AsContextMut, Func, ValType};
use kiln_environ::vm::{VMFuncRef, ValRaw};
use kiln_runtime::{ExternRefData, StoreOpaque};
use std::any::Any;

/// A reference to a host value, usable as a wasm `externref`. Lives as
/// long as its store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ExternRef {
    pub(crate) store: u64,
    pub(crate) id: u32,
}

impl ExternRef {
    /// Wraps `value` in a new externref owned by `store`.
    pub fn new(mut store: impl AsContextMut, value: impl Any + Send + Sync) -> ExternRef {
        let s = &mut store.as_context_mut().0.opaque;
        let p = s.new_externref(Box::new(value));
        // SAFETY: just created and owned by the store.
        ExternRef { store: s.id(), id: unsafe { (*p).id } }
    }
    /// The host value.
    ///
    /// # Panics
    /// When used with another store than its own.
    pub fn data<'a, S: AsContext + ?Sized>(&self, store: &'a S) -> &'a (dyn Any + Send + Sync) {
        let s = &store.as_context().0.opaque;
        assert_eq!(s.id(), self.store, "externref used with the wrong store");
        &*s.externrefs[self.id as usize].value
    }
    pub(crate) fn to_raw(self, s: &mut StoreOpaque) -> ValRaw {
        assert_eq!(s.id(), self.store, "externref used with the wrong store");
        let p: *const ExternRefData = &*s.externrefs[self.id as usize];
        ValRaw::ptr(p)
    }
    pub(crate) fn from_raw(s: &StoreOpaque, raw: ValRaw) -> Option<ExternRef> {
        let p: *mut ExternRefData = raw.get_ptr();
        if p.is_null() {
            None
        } else {
            // SAFETY: non-null externref values are pointers to records
            // owned by this store.
            Some(ExternRef { store: s.id(), id: unsafe { (*p).id } })
        }
    }
}

/// A reference value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ref {
    Func(Option<Func>),
    Extern(Option<ExternRef>),
}

impl Ref {
    /// Whether this is a null reference.
    pub fn is_null(&self) -> bool {
        matches!(self, Ref::Func(None) | Ref::Extern(None))
    }
    pub(crate) fn into_val(self) -> Val {
        match self {
            Ref::Func(f) => Val::FuncRef(f),
            Ref::Extern(e) => Val::ExternRef(e),
        }
    }
}

/// A wasm value. Floats are kept as bits so NaN payloads survive.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// Bits of an `f32`.
    F32(u32),
    /// Bits of an `f64`.
    F64(u64),
    FuncRef(Option<Func>),
    ExternRef(Option<ExternRef>),
}

impl Val {
    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }
    /// The default (zero or null) value of `ty`; `None` for `v128`.
    pub fn default_for(ty: ValType) -> Option<Val> {
        Some(match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
            ValType::V128 => return None,
        })
    }
    /// The `i32`, if this is one.
    pub fn i32(&self) -> Option<i32> {
        if let Val::I32(v) = self { Some(*v) } else { None }
    }
    /// The `i64`, if this is one.
    pub fn i64(&self) -> Option<i64> {
        if let Val::I64(v) = self { Some(*v) } else { None }
    }
    /// The `f32` value, if this is one.
    pub fn f32(&self) -> Option<f32> {
        if let Val::F32(v) = self { Some(f32::from_bits(*v)) } else { None }
    }
    /// The `f64` value, if this is one.
    pub fn f64(&self) -> Option<f64> {
        if let Val::F64(v) = self { Some(f64::from_bits(*v)) } else { None }
    }
    /// The reference, if this is one.
    pub fn ref_(&self) -> Option<Ref> {
        match self {
            Val::FuncRef(f) => Some(Ref::Func(*f)),
            Val::ExternRef(e) => Some(Ref::Extern(*e)),
            _ => None,
        }
    }
    /// The `i32`. # Panics if it is not one.
    pub fn unwrap_i32(&self) -> i32 {
        self.i32().expect("expected i32")
    }
    /// The `i64`. # Panics if it is not one.
    pub fn unwrap_i64(&self) -> i64 {
        self.i64().expect("expected i64")
    }
    /// The `f32`. # Panics if it is not one.
    pub fn unwrap_f32(&self) -> f32 {
        self.f32().expect("expected f32")
    }
    /// The `f64`. # Panics if it is not one.
    pub fn unwrap_f64(&self) -> f64 {
        self.f64().expect("expected f64")
    }

    pub(crate) fn to_raw(self, s: &mut StoreOpaque) -> ValRaw {
        match self {
            Val::I32(v) => ValRaw::i32(v),
            Val::I64(v) => ValRaw::i64(v),
            Val::F32(b) => ValRaw::f32(b),
            Val::F64(b) => ValRaw::f64(b),
            Val::FuncRef(None) | Val::ExternRef(None) => ValRaw(0),
            Val::FuncRef(Some(f)) => ValRaw::ptr(f.func_ref(s)),
            Val::ExternRef(Some(e)) => e.to_raw(s),
        }
    }

    pub(crate) fn from_raw(s: &mut StoreOpaque, ty: ValType, raw: ValRaw) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.get_i32()),
            ValType::I64 => Val::I64(raw.get_i64()),
            ValType::F32 => Val::F32(raw.get_f32()),
            ValType::F64 => Val::F64(raw.get_f64()),
            ValType::FuncRef => {
                let p: *const VMFuncRef = raw.get_ptr();
                Val::FuncRef(if p.is_null() { None } else { Some(Func::from_raw(s, p)) })
            }
            ValType::ExternRef => Val::ExternRef(ExternRef::from_raw(s, raw)),
            // v128 is rejected at validation until SIMD lands.
            ValType::V128 => Val::I64(raw.get_i64()),
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}
impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}
