//! Stores: the owners of all runtime state of a set of instances, with the
//! embedder's data `T`.

use crate::{Engine, Extern};
use kiln_runtime::StoreOpaque;

/// The store's contents. `#[repr(C)]` with the untyped store first, so a
/// `*mut StoreOpaque` handed to host functions converts back.
#[repr(C)]
pub(crate) struct StoreInner<T> {
    pub(crate) opaque: StoreOpaque,
    pub(crate) engine: Engine,
    pub(crate) data: T,
}

impl<T> StoreInner<T> {
    /// # Safety
    /// `p` points to the `opaque` field of a live `StoreInner<T>` (every
    /// `StoreOpaque` kiln creates is one, with the `T` of the closures that
    /// receive it) that nothing else borrows.
    pub(crate) unsafe fn from_opaque<'a>(p: *mut StoreOpaque) -> &'a mut StoreInner<T> {
        // SAFETY: `opaque` is the first field of a `#[repr(C)]` struct.
        unsafe { &mut *(p as *mut StoreInner<T>) }
    }
}

/// A store: instances, memories, tables, globals and host functions that
/// live together, and the embedder's data `T`. Everything created in a
/// store is freed when the store is dropped. `Send` when `T` is.
pub struct Store<T> {
    pub(crate) inner: Box<StoreInner<T>>,
}

impl<T> Store<T> {
    /// A new store for `engine` holding `data`.
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        let opaque = StoreOpaque::new(engine.store_config(), engine.inner.registry.clone(), engine.inner.epoch.clone());
        Store { inner: Box::new(StoreInner { opaque, engine: engine.clone(), data }) }
    }
    /// The embedder's data.
    pub fn data(&self) -> &T {
        &self.inner.data
    }
    /// The embedder's data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }
    /// Consumes the store, returning the data.
    pub fn into_data(self) -> T {
        self.inner.data
    }
    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
    /// Guest code in this store traps with "interrupt"
    /// ([`crate::TrapCode::Interrupt`]) once the engine's epoch has advanced
    /// `ticks` beyond its current value ([`Engine::increment_epoch`]).
    /// Without a deadline (the default) guest code is never interrupted.
    /// Checked at function entries and loop headers: native code stops
    /// within one loop iteration of the deadline, the interpreter within a
    /// few hundred. Has no effect when the engine's config turned
    /// [`crate::Config::epoch_interruption`] off.
    pub fn set_epoch_deadline(&mut self, ticks: u64) {
        self.inner.opaque.set_epoch_deadline(ticks);
    }
}

/// A shared borrow of a store.
pub struct StoreContext<'a, T>(pub(crate) &'a StoreInner<T>);
/// An exclusive borrow of a store.
pub struct StoreContextMut<'a, T>(pub(crate) &'a mut StoreInner<T>);

impl<T> StoreContext<'_, T> {
    /// The embedder's data.
    pub fn data(&self) -> &T {
        &self.0.data
    }
}

impl<T> StoreContextMut<'_, T> {
    /// The embedder's data.
    pub fn data(&self) -> &T {
        &self.0.data
    }
    /// The embedder's data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.0.data
    }
}

/// Anything that can lend a shared borrow of a store.
pub trait AsContext {
    /// The store's data type.
    type Data;
    /// Borrows the store.
    fn as_context(&self) -> StoreContext<'_, Self::Data>;
}

/// Anything that can lend an exclusive borrow of a store.
pub trait AsContextMut: AsContext {
    /// Borrows the store exclusively.
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(&self.inner)
    }
}
impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(&mut self.inner)
    }
}
impl<T> AsContext for StoreContext<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}
impl<T> AsContext for StoreContextMut<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}
impl<T> AsContextMut for StoreContextMut<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.0)
    }
}
impl<C: AsContext + ?Sized> AsContext for &C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}
impl<C: AsContext + ?Sized> AsContext for &mut C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}
impl<C: AsContextMut + ?Sized> AsContextMut for &mut C {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        (**self).as_context_mut()
    }
}

/// What a host function sees of its caller: the store and the calling
/// instance.
pub struct Caller<'a, T> {
    pub(crate) store: &'a mut StoreInner<T>,
    /// The calling instance, or null when the host called the function.
    pub(crate) instance: *mut kiln_runtime::Instance,
}

impl<T> Caller<'_, T> {
    /// The embedder's data.
    pub fn data(&self) -> &T {
        &self.store.data
    }
    /// The embedder's data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.store.data
    }
    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.store.engine
    }
    /// Export `name` of the calling instance (WASI uses this to reach the
    /// caller's `memory`). `None` when the host called, or no such export.
    pub fn get_export(&mut self, name: &str) -> Option<Extern> {
        if self.instance.is_null() {
            return None;
        }
        // SAFETY: a non-null caller instance is alive in this store.
        let index = unsafe { (*self.instance).module().info.export(name)?.index };
        Some(crate::instance::extern_of(&mut self.store.opaque, self.instance, index))
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.store)
    }
}
impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.store)
    }
}

impl<'a, T> From<&'a mut Store<T>> for StoreContextMut<'a, T> {
    fn from(s: &'a mut Store<T>) -> Self {
        StoreContextMut(&mut s.inner)
    }
}
impl<'a, T> From<&'a mut Caller<'_, T>> for StoreContextMut<'a, T> {
    fn from(c: &'a mut Caller<'_, T>) -> Self {
        StoreContextMut(c.store)
    }
}
