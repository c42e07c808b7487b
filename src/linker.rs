//! [`Linker`]: resolves imports by name from host functions and registered
//! instances.

use crate::func::{SharedHostFn, untyped_host_fn};
use crate::store::{AsContext, AsContextMut};
use crate::{Caller, Engine, Error, Extern, Func, FuncType, Instance, IntoFunc, Module, Result, Val};
use std::collections::HashMap;

enum Definition {
    Extern(Extern),
    HostFunc(FuncType, SharedHostFn),
}

/// Name → definition map used to instantiate modules. Host functions
/// defined here are created anew in each store they are instantiated in.
pub struct Linker<T> {
    engine: Engine,
    defs: HashMap<(String, String), Definition>,
    allow_shadowing: bool,
    _marker: std::marker::PhantomData<fn(T)>,
}

impl<T: 'static> Linker<T> {
    /// An empty linker.
    pub fn new(engine: &Engine) -> Linker<T> {
        Linker {
            engine: engine.clone(),
            defs: HashMap::new(),
            allow_shadowing: false,
            _marker: std::marker::PhantomData,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether a later definition may replace an earlier one of the same
    /// name (default: no, it is an error).
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
        self
    }

    fn insert(&mut self, module: &str, name: &str, def: Definition) -> Result<&mut Self> {
        let key = (module.to_string(), name.to_string());
        if !self.allow_shadowing && self.defs.contains_key(&key) {
            return Err(Error::msg(format!("`{module}::{name}` is already defined")));
        }
        self.defs.insert(key, def);
        Ok(self)
    }

    /// Defines a host function from a Rust closure (see [`Func::wrap`]).
    ///
    /// # Errors
    /// When the name is taken and shadowing is off.
    pub fn func_wrap<P, R>(&mut self, module: &str, name: &str, f: impl IntoFunc<T, P, R>) -> Result<&mut Self> {
        let (ty, host) = f.into_host();
        self.insert(module, name, Definition::HostFunc(ty, host))
    }

    /// Defines a host function with a dynamic signature (see [`Func::new`]).
    ///
    /// # Errors
    /// When the name is taken and shadowing is off.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let host = untyped_host_fn(ty.clone(), f);
        self.insert(module, name, Definition::HostFunc(ty, host))
    }

    /// Defines `module::name` as an existing entity of a store.
    ///
    /// # Errors
    /// When the name is taken and shadowing is off.
    pub fn define(
        &mut self,
        _store: impl AsContext<Data = T>,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        self.insert(module, name, Definition::Extern(item.into()))
    }

    /// Registers every export of `instance` under `module_name`.
    ///
    /// # Errors
    /// When a name is taken and shadowing is off.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module_name: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        for (name, ext) in instance.exports(&mut store) {
            self.insert(module_name, &name, Definition::Extern(ext))?;
        }
        Ok(self)
    }

    /// The definition of `module::name` in `store`, creating host functions
    /// in the store as needed.
    pub fn get(&self, mut store: impl AsContextMut<Data = T>, module: &str, name: &str) -> Option<Extern> {
        match self.defs.get(&(module.to_string(), name.to_string()))? {
            Definition::Extern(e) => Some(*e),
            Definition::HostFunc(ty, host) => {
                Some(Extern::Func(Func::from_host(&mut store.as_context_mut().0.opaque, ty.clone(), host.clone())))
            }
        }
    }

    /// Instantiates `module`, resolving each import by name.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Link`] for an unknown or mismatched import, and
    /// those of [`Instance::new`].
    pub fn instantiate(&self, mut store: impl AsContextMut<Data = T>, module: &Module) -> Result<Instance> {
        let mut imports = Vec::with_capacity(module.rt.info.imports.len());
        for imp in module.imports() {
            let ext = self.get(&mut store, imp.module(), imp.name()).ok_or_else(|| {
                Error::link(format!("unknown import: `{}::{}` has not been defined", imp.module(), imp.name()))
            })?;
            imports.push(ext);
        }
        Instance::new(store, module, &imports)
    }
}
