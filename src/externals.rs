//! Memories, globals, tables, and [`Extern`], the union of everything an
//! instance can import or export.

use crate::store::{AsContext, AsContextMut};
use crate::types::{ExternType, GlobalType, MemoryType, Mutability, TableType};
use crate::{Error, Func, Ref, Result, Val, ValType};
use kiln_environ::vm::ValRaw;
use kiln_runtime::{LinearMemory, StoreOpaque, Table as RtTable};

/// An importable/exportable entity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Extern {
    Func(Func),
    Global(Global),
    Table(Table),
    Memory(Memory),
}

impl Extern {
    /// The function, if this is one.
    pub fn into_func(self) -> Option<Func> {
        if let Extern::Func(f) = self { Some(f) } else { None }
    }
    /// The global, if this is one.
    pub fn into_global(self) -> Option<Global> {
        if let Extern::Global(g) = self { Some(g) } else { None }
    }
    /// The table, if this is one.
    pub fn into_table(self) -> Option<Table> {
        if let Extern::Table(t) = self { Some(t) } else { None }
    }
    /// The memory, if this is one.
    pub fn into_memory(self) -> Option<Memory> {
        if let Extern::Memory(m) = self { Some(m) } else { None }
    }
    /// The entity's current type (tables and memories report their current
    /// size as the minimum, as import matching requires).
    pub fn ty(&self, store: impl AsContext) -> ExternType {
        match self {
            Extern::Func(f) => ExternType::Func(f.ty(store)),
            Extern::Global(g) => ExternType::Global(g.ty(store)),
            Extern::Table(t) => ExternType::Table(t.ty(store)),
            Extern::Memory(m) => ExternType::Memory(m.ty(store)),
        }
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}
impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}
impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}

fn check(s: &StoreOpaque, id: u64, what: &str) {
    assert_eq!(s.id(), id, "{what} used with the wrong store");
}

/// A linear memory (spec §4.2.8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Memory {
    pub(crate) store: u64,
    pub(crate) idx: usize,
}

impl Memory {
    /// Creates a memory of `ty` owned by the store.
    ///
    /// # Errors
    /// When the memory cannot be mapped.
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        let s = &mut store.as_context_mut().0.opaque;
        let m = LinearMemory::new(ty.0, s.config.memory).map_err(Error::msg)?;
        Ok(Memory { store: s.id(), idx: s.push_memory(m) })
    }
    fn get<'a>(&self, s: &'a StoreOpaque) -> &'a LinearMemory {
        check(s, self.store, "memory");
        &s.memories[self.idx]
    }
    /// Current size in pages.
    pub fn size(&self, store: impl AsContext) -> u64 {
        self.get(&store.as_context().0.opaque).pages()
    }
    /// Current size in bytes.
    pub fn data_size(&self, store: impl AsContext) -> usize {
        self.get(&store.as_context().0.opaque).byte_len()
    }
    /// The memory's bytes.
    pub fn data<'a, S: AsContext + ?Sized>(&self, store: &'a S) -> &'a [u8] {
        let s = &store.as_context().0.opaque;
        self.get(s).data()
    }
    /// The memory's bytes, mutably.
    pub fn data_mut<'a, S: AsContextMut + ?Sized>(&self, store: &'a mut S) -> &'a mut [u8] {
        let s = &mut store.as_context_mut().0.opaque;
        check(s, self.store, "memory");
        s.memories[self.idx].data_mut()
    }
    /// The memory's bytes and the store's data, borrowed together (host
    /// functions such as WASI's need both at once).
    pub fn data_and_store_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::StoreContextMut<'a, T>>,
    ) -> (&'a mut [u8], &'a mut T) {
        let inner = store.into().0;
        check(&inner.opaque, self.store, "memory");
        (inner.opaque.memories[self.idx].data_mut(), &mut inner.data)
    }
    /// Grows by `delta` pages; returns the old size in pages.
    ///
    /// # Errors
    /// When the new size exceeds the maximum or cannot be mapped.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64) -> Result<u64> {
        let s = &mut store.as_context_mut().0.opaque;
        check(s, self.store, "memory");
        s.memories[self.idx].grow(delta).ok_or_else(|| Error::msg("failed to grow memory"))
    }
    /// Copies `buf.len()` bytes at `offset` into `buf`.
    ///
    /// # Errors
    /// When the range is out of bounds.
    pub fn read(&self, store: impl AsContext, offset: usize, buf: &mut [u8]) -> Result<()> {
        let data = self.get(&store.as_context().0.opaque).data();
        let src = offset
            .checked_add(buf.len())
            .and_then(|end| data.get(offset..end))
            .ok_or_else(|| Error::msg("out of bounds memory access"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    /// Copies `buf` into memory at `offset`.
    ///
    /// # Errors
    /// When the range is out of bounds.
    pub fn write(&self, mut store: impl AsContextMut, offset: usize, buf: &[u8]) -> Result<()> {
        let data = self.data_mut(&mut store);
        let dst = offset
            .checked_add(buf.len())
            .and_then(|end| data.get_mut(offset..end))
            .ok_or_else(|| Error::msg("out of bounds memory access"))?;
        dst.copy_from_slice(buf);
        Ok(())
    }
    /// The memory's type, with its current size as the minimum.
    pub fn ty(&self, store: impl AsContext) -> MemoryType {
        let m = self.get(&store.as_context().0.opaque);
        let mut ty = m.ty();
        ty.limits.min = m.pages();
        MemoryType(ty)
    }
}

/// A global (spec §4.2.9).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Global {
    pub(crate) store: u64,
    pub(crate) idx: u32,
}

impl Global {
    /// Creates a global of `ty` with value `init`.
    ///
    /// # Errors
    /// When `init` does not have the global's type.
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, init: Val) -> Result<Global> {
        let s = &mut store.as_context_mut().0.opaque;
        if init.ty() != ty.content() {
            return Err(Error::msg(format!("global of type {} initialised with {}", ty.content(), init.ty())));
        }
        let bits = init.to_raw(s).0 as u128;
        Ok(Global { store: s.id(), idx: s.new_global(ty.0, bits) })
    }
    /// The global's type.
    pub fn ty(&self, store: impl AsContext) -> GlobalType {
        let s = &store.as_context().0.opaque;
        check(s, self.store, "global");
        GlobalType(s.globals[self.idx as usize].ty)
    }
    /// The current value.
    pub fn get(&self, mut store: impl AsContextMut) -> Val {
        let s = &mut store.as_context_mut().0.opaque;
        check(s, self.store, "global");
        let e = &s.globals[self.idx as usize];
        // SAFETY: the definition lives in the store (an instance's
        // VMContext or a host-owned box) as long as the store.
        let raw = ValRaw(unsafe { (*e.def).bits } as u64);
        let ty = e.ty.ty;
        Val::from_raw(s, ty, raw)
    }
    /// Sets the value.
    ///
    /// # Errors
    /// When the global is immutable or `val` has another type.
    pub fn set(&self, mut store: impl AsContextMut, val: Val) -> Result<()> {
        let s = &mut store.as_context_mut().0.opaque;
        check(s, self.store, "global");
        let ty = s.globals[self.idx as usize].ty;
        if !ty.mutable {
            return Err(Error::msg("cannot set an immutable global"));
        }
        if val.ty() != ty.ty {
            return Err(Error::msg(format!("global of type {} set to {}", ty.ty, val.ty())));
        }
        let raw = val.to_raw(s);
        // SAFETY: as in `get`; `&mut` store access excludes guest code.
        unsafe { (*s.globals[self.idx as usize].def).bits = raw.0 as u128 };
        Ok(())
    }
    pub(crate) fn mutability(&self, s: &StoreOpaque) -> Mutability {
        if s.globals[self.idx as usize].ty.mutable { Mutability::Var } else { Mutability::Const }
    }
}

/// A table (spec §4.2.7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Table {
    pub(crate) store: u64,
    pub(crate) idx: usize,
}

fn ref_to_raw(s: &mut StoreOpaque, elem: ValType, r: Ref) -> Result<usize> {
    let v = r.into_val();
    if v.ty() != elem {
        return Err(Error::msg(format!("{} reference used with a table of {elem}", v.ty())));
    }
    Ok(v.to_raw(s).0 as usize)
}

impl Table {
    /// Creates a table of `ty` filled with `init`.
    ///
    /// # Errors
    /// When `init` has the wrong type or the size is beyond kiln's limit.
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Ref) -> Result<Table> {
        let s = &mut store.as_context_mut().0.opaque;
        let raw = ref_to_raw(s, ty.0.element, init)?;
        let t = RtTable::new(ty.0, raw).map_err(Error::msg)?;
        Ok(Table { store: s.id(), idx: s.push_table(t) })
    }
    fn get_table<'a>(&self, s: &'a StoreOpaque) -> &'a RtTable {
        check(s, self.store, "table");
        &s.tables[self.idx]
    }
    /// The table's type, with its current size as the minimum.
    pub fn ty(&self, store: impl AsContext) -> TableType {
        let t = self.get_table(&store.as_context().0.opaque);
        let mut ty = t.ty();
        ty.limits.min = t.len();
        TableType(ty)
    }
    /// Current size in elements.
    pub fn size(&self, store: impl AsContext) -> u64 {
        self.get_table(&store.as_context().0.opaque).len()
    }
    /// Element `index`, or `None` when out of bounds.
    pub fn get(&self, mut store: impl AsContextMut, index: u64) -> Option<Ref> {
        let s = &mut store.as_context_mut().0.opaque;
        let t = self.get_table(s);
        let elem = t.ty().element;
        let raw = *t.elements().get(usize::try_from(index).ok()?)?;
        Some(Val::from_raw(s, elem, ValRaw(raw as u64)).ref_().expect("tables hold references"))
    }
    /// Sets element `index`.
    ///
    /// # Errors
    /// Out of bounds, or a reference of the wrong type.
    pub fn set(&self, mut store: impl AsContextMut, index: u64, r: Ref) -> Result<()> {
        let s = &mut store.as_context_mut().0.opaque;
        check(s, self.store, "table");
        let raw = ref_to_raw(s, s.tables[self.idx].ty().element, r)?;
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| s.tables[self.idx].elements_mut().get_mut(i))
            .ok_or_else(|| Error::msg("out of bounds table access"))?;
        *slot = raw;
        Ok(())
    }
    /// Grows by `delta` elements of `init`; returns the old size.
    ///
    /// # Errors
    /// Beyond the maximum, or a reference of the wrong type.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64, init: Ref) -> Result<u64> {
        let s = &mut store.as_context_mut().0.opaque;
        check(s, self.store, "table");
        let raw = ref_to_raw(s, s.tables[self.idx].ty().element, init)?;
        s.tables[self.idx].grow(delta, raw).ok_or_else(|| Error::msg("failed to grow table"))
    }
}
