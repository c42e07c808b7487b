//! Instances (spec §4.5.4 "Instantiation") and import matching (spec
//! §4.5.2 "Import subtyping").

use crate::store::{AsContextMut, StoreInner};
use crate::types::ExternType;
use crate::{Error, Extern, Func, Global, Memory, Module, Result, Table, TypedFunc, WasmParams, WasmResults};
use kiln_environ::EntityIndex;
use kiln_runtime::{Imports, Instance as RtInstance, StoreOpaque};

/// An instance in a store. A small `Copy` handle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Instance {
    pub(crate) store: u64,
    pub(crate) idx: usize,
}

/// The [`Extern`] for entity `index` of a live runtime instance.
pub(crate) fn extern_of(s: &mut StoreOpaque, inst: *mut RtInstance, index: EntityIndex) -> Extern {
    // SAFETY: `inst` is alive in `s`.
    let inst = unsafe { &*inst };
    match index {
        EntityIndex::Function(f) => Extern::Func(Func::from_raw(s, inst.func_ref(f.0))),
        EntityIndex::Memory(m) => Extern::Memory(Memory { store: s.id(), idx: inst.memories[m.index()] }),
        EntityIndex::Table(t) => Extern::Table(Table { store: s.id(), idx: inst.tables[t.index()] }),
        EntityIndex::Global(g) => {
            let ty = inst.module().info.globals[g.index()];
            let def = inst.global_ptr(g.0).cast();
            Extern::Global(Global { store: s.id(), idx: s.global_handle(def, ty) })
        }
    }
}

/// Checks `provided` against the import type `expected`.
fn matches(s: &StoreOpaque, provided: &Extern, expected: &ExternType) -> bool {
    match (provided, expected) {
        (Extern::Func(f), ExternType::Func(ty)) => *s.func_type(f.idx) == *ty,
        (Extern::Global(g), ExternType::Global(ty)) => {
            s.globals[g.idx as usize].ty == ty.0 && g.mutability(s) == ty.mutability()
        }
        (Extern::Table(t), ExternType::Table(ty)) => {
            let rt = &s.tables[t.idx];
            let mut actual = rt.ty();
            actual.limits.min = rt.len();
            actual.matches(&ty.0)
        }
        (Extern::Memory(m), ExternType::Memory(ty)) => {
            let rt = &s.memories[m.idx];
            let mut actual = rt.ty();
            actual.limits.min = rt.pages();
            actual.matches(&ty.0)
        }
        _ => false,
    }
}

fn provided_desc(s: &StoreOpaque, e: &Extern) -> String {
    match e {
        Extern::Func(f) => format!("function {}", s.func_type(f.idx)),
        Extern::Global(g) => {
            let ty = s.globals[g.idx as usize].ty;
            format!("global {}{}", if ty.mutable { "mut " } else { "" }, ty.ty)
        }
        Extern::Table(t) => format!("table {} of {} elements", s.tables[t.idx].ty().element, s.tables[t.idx].len()),
        Extern::Memory(m) => format!("memory of {} pages", s.memories[m.idx].pages()),
    }
}

impl Instance {
    /// Instantiates `module` with `imports` given in the module's import
    /// order: checks each against its import type, builds the instance,
    /// applies active segments and runs the start function.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Link`] for a missing or mismatched import;
    /// [`crate::ErrorKind::Trap`] when a segment is out of bounds or the
    /// start function traps.
    pub fn new<T>(mut store: impl AsContextMut<Data = T>, module: &Module, imports: &[Extern]) -> Result<Instance> {
        let inner: &mut StoreInner<T> = store.as_context_mut().0;
        if !crate::Engine::same(&inner.engine, &module.engine) {
            return Err(Error::msg("module and store belong to different engines"));
        }
        let s = &mut inner.opaque;
        let info = &module.rt.info;
        if imports.len() != info.imports.len() {
            return Err(Error::link(format!("module has {} imports, {} given", info.imports.len(), imports.len())));
        }
        let mut resolved = Imports::default();
        for (imp, ext) in info.imports.iter().zip(imports) {
            let expected = module.entity_type(imp.index);
            let store_id = match ext {
                Extern::Func(f) => f.store,
                Extern::Global(g) => g.store,
                Extern::Table(t) => t.store,
                Extern::Memory(m) => m.store,
            };
            if store_id != s.id() {
                return Err(Error::link(format!("import `{}::{}` comes from another store", imp.module, imp.name)));
            }
            if !matches(s, ext, &expected) {
                return Err(Error::link(format!(
                    "incompatible import type for `{}::{}`: expected {}, found {}",
                    imp.module,
                    imp.name,
                    expected.describe(),
                    provided_desc(s, ext)
                )));
            }
            match ext {
                Extern::Func(f) => resolved.funcs.push(s.func_ref(f.idx)),
                Extern::Global(g) => resolved.globals.push(s.globals[g.idx as usize].def),
                Extern::Table(t) => resolved.tables.push(t.idx),
                Extern::Memory(m) => resolved.memories.push(m.idx),
            }
        }
        let idx = s.instantiate(&module.rt, resolved)?;
        Ok(Instance { store: s.id(), idx })
    }

    fn check(&self, s: &StoreOpaque) {
        assert_eq!(s.id(), self.store, "instance used with the wrong store");
    }

    /// Export `name`, if any.
    pub fn get_export(&self, mut store: impl AsContextMut, name: &str) -> Option<Extern> {
        let s = &mut store.as_context_mut().0.opaque;
        self.check(s);
        let index = s.instance_export(self.idx, name)?;
        let inst: *mut RtInstance = &mut *s.instances[self.idx];
        Some(extern_of(s, inst, index))
    }

    /// Every export, in order.
    pub fn exports(&self, mut store: impl AsContextMut) -> Vec<(String, Extern)> {
        let s = &mut store.as_context_mut().0.opaque;
        self.check(s);
        let module = s.instances[self.idx].module().clone();
        let inst: *mut RtInstance = &mut *s.instances[self.idx];
        module.info.exports.iter().map(|e| (e.name.clone(), extern_of(s, inst, e.index))).collect()
    }

    /// Exported function `name`.
    pub fn get_func(&self, store: impl AsContextMut, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }
    /// Exported memory `name`.
    pub fn get_memory(&self, store: impl AsContextMut, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }
    /// Exported global `name`.
    pub fn get_global(&self, store: impl AsContextMut, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }
    /// Exported table `name`.
    pub fn get_table(&self, store: impl AsContextMut, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }
    /// The instance's VMContext, for tests of the runtime's VM interfaces
    /// (builtins, trampolines). Valid while the store and the instance
    /// live; not a stable API.
    #[doc(hidden)]
    pub fn vmctx_for_testing(&self, mut store: impl AsContextMut) -> *mut kiln_environ::vm::VMContext {
        let s = &mut store.as_context_mut().0.opaque;
        self.check(s);
        s.instances[self.idx].vmctx()
    }

    /// Exported function `name` with static types.
    ///
    /// # Errors
    /// When there is no such function or its type differs.
    pub fn get_typed_func<P: WasmParams, R: WasmResults>(
        &self,
        mut store: impl AsContextMut,
        name: &str,
    ) -> Result<TypedFunc<P, R>> {
        let f = self.get_func(&mut store, name).ok_or_else(|| Error::msg(format!("no exported function `{name}`")))?;
        f.typed(&store)
    }
}
