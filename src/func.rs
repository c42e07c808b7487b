//! Functions: calling wasm from the host, and host functions callable from
//! wasm, untyped ([`Val`]) or typed (Rust tuples).

use crate::store::{AsContext, AsContextMut, Caller, StoreInner};
use crate::{Error, ExternRef, FuncType, Result, Val, ValType};
use kiln_environ::vm::{VMContext, VMFuncRef, ValRaw};
use kiln_runtime::host::HostFunc;
use kiln_runtime::{Instance as RtInstance, StoreOpaque};
use std::marker::PhantomData;
use std::sync::Arc;

/// A function (wasm or host) in a store. A small `Copy` handle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Func {
    pub(crate) store: u64,
    pub(crate) idx: u32,
}

/// A type-erased host function shared by every store it is instantiated in.
pub(crate) type SharedHostFn = Arc<dyn Fn(*mut StoreOpaque, *mut VMContext, &mut [ValRaw]) -> Result<()> + Send + Sync>;

fn caller_instance(vmctx: *mut VMContext) -> *mut RtInstance {
    if vmctx.is_null() {
        core::ptr::null_mut()
    } else {
        // SAFETY: a non-null caller vmctx is a live instance's VMContext.
        unsafe { RtInstance::from_vmctx(vmctx) }
    }
}

impl Func {
    pub(crate) fn from_raw(s: &mut StoreOpaque, p: *const VMFuncRef) -> Func {
        Func { store: s.id(), idx: s.func_handle(p) }
    }

    pub(crate) fn func_ref(&self, s: &StoreOpaque) -> *const VMFuncRef {
        assert_eq!(s.id(), self.store, "function used with the wrong store");
        s.func_ref(self.idx)
    }

    pub(crate) fn from_host(s: &mut StoreOpaque, ty: FuncType, f: SharedHostFn) -> Func {
        let boxed: Box<HostFunc> = Box::new(move |sp, caller, slots| f(sp, caller, slots));
        let fref = s.new_host_func(ty, boxed);
        Func::from_raw(s, fref)
    }

    /// A host function with a dynamic signature: `f` receives the
    /// parameters as [`Val`]s and writes `ty`'s results.
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Func {
        let host = untyped_host(ty.clone(), f);
        Func::from_host(&mut store.as_context_mut().0.opaque, ty, host)
    }

    /// A host function from a Rust closure whose parameters and results
    /// are wasm types (`i32`, `u32`, `i64`, `u64`, `f32`, `f64`,
    /// `Option<Func>`, `Option<ExternRef>`), optionally taking a
    /// [`Caller`] first and returning `Result<_, Error>`.
    pub fn wrap<T: 'static, P, R>(mut store: impl AsContextMut<Data = T>, f: impl IntoFunc<T, P, R>) -> Func {
        let (ty, host) = f.into_host();
        Func::from_host(&mut store.as_context_mut().0.opaque, ty, host)
    }

    /// The function's type.
    pub fn ty(&self, store: impl AsContext) -> FuncType {
        let s = &store.as_context().0.opaque;
        assert_eq!(s.id(), self.store, "function used with the wrong store");
        (*s.func_type(self.idx)).clone()
    }

    /// Calls the function with `params`, writing `results`.
    ///
    /// # Errors
    /// A type or arity mismatch of `params`/`results` ([`crate::ErrorKind::Other`]),
    /// a trap, or a host function's error.
    pub fn call(&self, mut store: impl AsContextMut, params: &[Val], results: &mut [Val]) -> Result<()> {
        let ctx = store.as_context_mut();
        let s = &mut ctx.0.opaque;
        let fref = self.func_ref(s);
        let ty = s.func_type(self.idx);
        if params.len() != ty.params.len() || params.iter().zip(ty.params.iter()).any(|(v, t)| v.ty() != *t) {
            return Err(Error::msg(format!(
                "type mismatch: function {} called with ({})",
                ty,
                params.iter().map(|v| v.ty().to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        if results.len() != ty.results.len() {
            return Err(Error::msg(format!(
                "function {ty} has {} results, {} slots given",
                ty.results.len(),
                results.len()
            )));
        }
        let mut buf = vec![ValRaw::default(); ty.array_call_len() as usize];
        for (slot, v) in buf.iter_mut().zip(params) {
            *slot = v.to_raw(s);
        }
        // SAFETY: the store is exclusively borrowed for the call; `fref`
        // belongs to it (checked above); `buf` fits params and results.
        unsafe { StoreOpaque::call_raw(s, fref, &mut buf)? };
        for ((r, t), raw) in results.iter_mut().zip(ty.results.iter()).zip(buf) {
            *r = Val::from_raw(s, *t, raw);
        }
        Ok(())
    }

    /// This function with static types.
    ///
    /// # Errors
    /// When `P`/`R` do not match the function's type.
    pub fn typed<P: WasmParams, R: WasmResults>(&self, store: impl AsContext) -> Result<TypedFunc<P, R>> {
        let ty = self.ty(store);
        if ty.params() != P::types().as_slice() || ty.results() != R::types().as_slice() {
            return Err(Error::msg(format!(
                "type mismatch: function is {ty}, requested {}",
                FuncType::new(P::types(), R::types())
            )));
        }
        Ok(TypedFunc { func: *self, _marker: PhantomData })
    }
}

fn untyped_host<T: 'static>(
    ty: FuncType,
    f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
) -> SharedHostFn {
    Arc::new(move |sp: *mut StoreOpaque, caller_vmctx: *mut VMContext, slots: &mut [ValRaw]| {
        // SAFETY: host functions created for a `Store<T>` only run with
        // that store, which no one else borrows during the call.
        let inner = unsafe { StoreInner::<T>::from_opaque(sp) };
        let params: Vec<Val> =
            ty.params.iter().zip(slots.iter()).map(|(t, r)| Val::from_raw(&mut inner.opaque, *t, *r)).collect();
        let mut results: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t).unwrap_or(Val::I32(0))).collect();
        f(Caller { store: inner, instance: caller_instance(caller_vmctx) }, &params, &mut results)?;
        // SAFETY: as above; the caller borrow has ended.
        let inner = unsafe { StoreInner::<T>::from_opaque(sp) };
        for (i, (v, t)) in results.iter().zip(ty.results.iter()).enumerate() {
            if v.ty() != *t {
                return Err(Error::msg(format!("host function returned {} where {t} was expected", v.ty())));
            }
            slots[i] = v.to_raw(&mut inner.opaque);
        }
        Ok(())
    })
}

/// A [`Func`] with static parameter and result types.
pub struct TypedFunc<P, R> {
    func: Func,
    _marker: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    /// The untyped function.
    pub fn func(&self) -> &Func {
        &self.func
    }

    /// Calls the function.
    ///
    /// # Errors
    /// A trap or a host function's error.
    pub fn call(&self, mut store: impl AsContextMut, params: P) -> Result<R> {
        let ctx = store.as_context_mut();
        let s = &mut ctx.0.opaque;
        let fref = self.func.func_ref(s);
        let n = P::count().max(R::count());
        let mut small = [ValRaw::default(); 8];
        let mut large = Vec::new();
        let buf: &mut [ValRaw] = if n <= small.len() {
            &mut small[..n]
        } else {
            large.resize(n, ValRaw::default());
            &mut large
        };
        params.store(s, buf);
        // SAFETY: as in `Func::call`; the types were checked by `typed`.
        unsafe { StoreOpaque::call_raw(s, fref, buf)? };
        Ok(R::load(s, buf))
    }
}

/// A Rust type that is a wasm value type.
pub trait WasmTy: Sized + Send + 'static {
    /// The wasm type.
    fn valtype() -> ValType;
    #[doc(hidden)]
    fn into_raw(self, s: &mut StoreOpaque) -> ValRaw;
    #[doc(hidden)]
    fn from_raw(s: &mut StoreOpaque, raw: ValRaw) -> Self;
}

macro_rules! wasm_ty_num {
    ($($t:ty => $vt:ident, $to:expr, $from:expr;)*) => {$(
        impl WasmTy for $t {
            fn valtype() -> ValType { ValType::$vt }
            fn into_raw(self, _s: &mut StoreOpaque) -> ValRaw { $to(self) }
            fn from_raw(_s: &mut StoreOpaque, raw: ValRaw) -> Self { $from(raw) }
        }
    )*};
}

wasm_ty_num! {
    i32 => I32, |v: i32| ValRaw::i32(v), |r: ValRaw| r.get_i32();
    u32 => I32, |v: u32| ValRaw::i32(v as i32), |r: ValRaw| r.get_i32() as u32;
    i64 => I64, |v: i64| ValRaw::i64(v), |r: ValRaw| r.get_i64();
    u64 => I64, |v: u64| ValRaw::i64(v as i64), |r: ValRaw| r.get_i64() as u64;
    f32 => F32, |v: f32| ValRaw::f32(v.to_bits()), |r: ValRaw| f32::from_bits(r.get_f32());
    f64 => F64, |v: f64| ValRaw::f64(v.to_bits()), |r: ValRaw| f64::from_bits(r.get_f64());
}

impl WasmTy for Option<Func> {
    fn valtype() -> ValType {
        ValType::FuncRef
    }
    fn into_raw(self, s: &mut StoreOpaque) -> ValRaw {
        Val::FuncRef(self).to_raw(s)
    }
    fn from_raw(s: &mut StoreOpaque, raw: ValRaw) -> Self {
        match Val::from_raw(s, ValType::FuncRef, raw) {
            Val::FuncRef(f) => f,
            _ => None,
        }
    }
}

impl WasmTy for Option<ExternRef> {
    fn valtype() -> ValType {
        ValType::ExternRef
    }
    fn into_raw(self, s: &mut StoreOpaque) -> ValRaw {
        Val::ExternRef(self).to_raw(s)
    }
    fn from_raw(s: &mut StoreOpaque, raw: ValRaw) -> Self {
        ExternRef::from_raw(s, raw)
    }
}

/// A list of wasm values as a Rust value: `()`, one [`WasmTy`], or a tuple.
pub trait WasmParams: Sized {
    /// The wasm types, in order.
    fn types() -> Vec<ValType>;
    /// How many values.
    fn count() -> usize;
    #[doc(hidden)]
    fn store(self, s: &mut StoreOpaque, out: &mut [ValRaw]);
    #[doc(hidden)]
    fn load(s: &mut StoreOpaque, raw: &[ValRaw]) -> Self;
}

/// Results use the same encoding as parameters.
pub use WasmParams as WasmResults;

impl<T: WasmTy> WasmParams for T {
    fn types() -> Vec<ValType> {
        vec![T::valtype()]
    }
    fn count() -> usize {
        1
    }
    fn store(self, s: &mut StoreOpaque, out: &mut [ValRaw]) {
        out[0] = self.into_raw(s);
    }
    fn load(s: &mut StoreOpaque, raw: &[ValRaw]) -> Self {
        T::from_raw(s, raw[0])
    }
}

macro_rules! wasm_params_tuple {
    ($n:expr; $($t:ident $i:tt),*) => {
        #[allow(unused_variables, non_snake_case, clippy::unused_unit)]
        impl<$($t: WasmTy),*> WasmParams for ($($t,)*) {
            fn types() -> Vec<ValType> { vec![$($t::valtype()),*] }
            fn count() -> usize { $n }
            fn store(self, s: &mut StoreOpaque, out: &mut [ValRaw]) {
                $( out[$i] = self.$i.into_raw(s); )*
            }
            fn load(s: &mut StoreOpaque, raw: &[ValRaw]) -> Self {
                ($( $t::from_raw(s, raw[$i]), )*)
            }
        }
    };
}

wasm_params_tuple!(0;);
wasm_params_tuple!(1; A 0);
wasm_params_tuple!(2; A 0, B 1);
wasm_params_tuple!(3; A 0, B 1, C 2);
wasm_params_tuple!(4; A 0, B 1, C 2, D 3);
wasm_params_tuple!(5; A 0, B 1, C 2, D 3, E 4);
wasm_params_tuple!(6; A 0, B 1, C 2, D 3, E 4, F 5);
wasm_params_tuple!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
wasm_params_tuple!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
wasm_params_tuple!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
wasm_params_tuple!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
wasm_params_tuple!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
wasm_params_tuple!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// What a host closure may return: results, or `Result` of results.
pub trait WasmRet {
    /// The results.
    type Ok: WasmResults;
    #[doc(hidden)]
    fn into_result(self) -> Result<Self::Ok>;
}

impl<T: WasmResults> WasmRet for T {
    type Ok = T;
    fn into_result(self) -> Result<T> {
        Ok(self)
    }
}

impl<T: WasmResults> WasmRet for Result<T> {
    type Ok = T;
    fn into_result(self) -> Result<T> {
        self
    }
}

/// A Rust closure usable as a host function (see [`Func::wrap`]).
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_host(self) -> (FuncType, SharedHostFn);
}

macro_rules! impl_into_func {
    ($($a:ident)*) => {
        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<T: 'static, F, R, $($a,)*> IntoFunc<T, ($($a,)*), R> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            $($a: WasmTy,)*
            R: WasmRet,
        {
            fn into_host(self) -> (FuncType, SharedHostFn) {
                let ty = FuncType::new([$($a::valtype()),*], <R::Ok as WasmParams>::types());
                let f = move |sp: *mut StoreOpaque, _caller: *mut VMContext, slots: &mut [ValRaw]| -> Result<()> {
                    // SAFETY: see `untyped_host`.
                    let inner = unsafe { StoreInner::<T>::from_opaque(sp) };
                    let mut i = 0;
                    $( let $a = $a::from_raw(&mut inner.opaque, slots[i]); i += 1; )*
                    let r = (self)($($a),*).into_result()?;
                    r.store(&mut inner.opaque, slots);
                    Ok(())
                };
                (ty, Arc::new(f))
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<T: 'static, F, R, $($a,)*> IntoFunc<T, (Caller<'static, T>, $($a,)*), R> for F
        where
            F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
            $($a: WasmTy,)*
            R: WasmRet,
        {
            fn into_host(self) -> (FuncType, SharedHostFn) {
                let ty = FuncType::new([$($a::valtype()),*], <R::Ok as WasmParams>::types());
                let f = move |sp: *mut StoreOpaque, caller: *mut VMContext, slots: &mut [ValRaw]| -> Result<()> {
                    // SAFETY: see `untyped_host`.
                    let inner = unsafe { StoreInner::<T>::from_opaque(sp) };
                    let mut i = 0;
                    $( let $a = $a::from_raw(&mut inner.opaque, slots[i]); i += 1; )*
                    let r = (self)(Caller { store: inner, instance: caller_instance(caller) }, $($a),*).into_result()?;
                    // SAFETY: as above; the caller borrow has ended.
                    let inner = unsafe { StoreInner::<T>::from_opaque(sp) };
                    r.store(&mut inner.opaque, slots);
                    Ok(())
                };
                (ty, Arc::new(f))
            }
        }
    };
}

impl_into_func!();
impl_into_func!(A1);
impl_into_func!(A1 A2);
impl_into_func!(A1 A2 A3);
impl_into_func!(A1 A2 A3 A4);
impl_into_func!(A1 A2 A3 A4 A5);
impl_into_func!(A1 A2 A3 A4 A5 A6);
impl_into_func!(A1 A2 A3 A4 A5 A6 A7);
impl_into_func!(A1 A2 A3 A4 A5 A6 A7 A8);
impl_into_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
impl_into_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
impl_into_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
impl_into_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);

pub(crate) fn untyped_host_fn<T: 'static>(
    ty: FuncType,
    f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
) -> SharedHostFn {
    untyped_host(ty, f)
}
