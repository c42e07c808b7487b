//! Modules: validated wasm, ready to instantiate any number of times in
//! any store of the same engine, on any thread.

use crate::types::{ExternType, GlobalType, MemoryType, TableType};
use crate::{Engine, Error, Result};
use kiln_environ::EntityIndex;
use kiln_runtime::RuntimeModule;
use std::path::Path;
use std::sync::Arc;

/// A validated module. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Module {
    pub(crate) engine: Engine,
    pub(crate) rt: Arc<RuntimeModule>,
}

/// An import of a module.
#[derive(Clone, Debug)]
pub struct ImportType<'a> {
    module: &'a str,
    name: &'a str,
    ty: ExternType,
}

impl<'a> ImportType<'a> {
    /// The module name imported from.
    pub fn module(&self) -> &'a str {
        self.module
    }
    /// The field name.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// The expected type.
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

/// An export of a module.
#[derive(Clone, Debug)]
pub struct ExportType<'a> {
    name: &'a str,
    ty: ExternType,
}

impl<'a> ExportType<'a> {
    /// The export's name.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// Its type.
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

impl Module {
    /// Decodes and validates a wasm binary (spec §5, §3) with the engine's
    /// feature set (Wasm 2.0 without SIMD by default). Input that does not
    /// start with the binary magic `\0asm` is read as the text format
    /// (spec §6) and encoded first. Function bodies are validated now and
    /// translated for the interpreter at their first call. Under `jit`
    /// every function is compiled now; under `tiered` (the default)
    /// nothing is compiled until it is hot; under `aot` the module is
    /// compiled to an `.aot` image in memory and loaded from it. Bytes
    /// that start with the `.aot` magic are loaded as by
    /// [`Module::from_aot_bytes`].
    ///
    /// # Errors
    /// [`crate::ErrorKind::Compile`], naming the byte offset and the reason
    /// (for text, the offset in the text).
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let bytes = bytes.as_ref();
        if crate::aot::is_aot(bytes) {
            return Module::from_aot_bytes(engine, bytes);
        }
        let config = &engine.inner.config;
        if config.strategy == crate::Strategy::Aot {
            let image = crate::aot::compile(config, bytes, &crate::aot::AotOptions::default())?;
            return Module::from_aot_bytes(engine, &image);
        }
        let binary = if bytes.starts_with(b"\0asm") { bytes.to_vec() } else { wat_to_binary(bytes)? };
        let rt = RuntimeModule::new(
            binary,
            engine.inner.config.features,
            engine.inner.registry.clone(),
            kiln_runtime::tier_entries(),
        )?;
        if let Some(jit) = &engine.inner.jit {
            match config.strategy {
                crate::Strategy::Tiered => rt.set_tier_policy(kiln_runtime::tier::TierPolicy {
                    threshold: config.tier_up_threshold,
                    compiler: jit.clone(),
                })?,
                _ => rt.set_native(jit.compile_module(&rt)?)?,
            }
        }
        Ok(Module { engine: engine.clone(), rt })
    }

    /// Tier-up statistics (strategy `tiered`): per defined function its
    /// tier state, entries and loop back-edges counted by the interpreter
    /// (summed over all instances; an instance's last partial chunk is
    /// added when it is dropped), compile time and queue wait, OSR
    /// compilations and transfers; in total the functions compiled, OSR
    /// transfers and compile time. Under `jit` every function is `ready`
    /// with no counts; under `interp` none is.
    pub fn tier_stats(&self) -> kiln_runtime::tier::TierStats {
        self.rt.tier_stats()
    }

    /// Reads and validates the wasm binary (or text) at `path`; a file that
    /// starts with the `.aot` magic is loaded with
    /// [`Module::from_aot_file`] instead.
    ///
    /// # Errors
    /// I/O errors and those of [`Module::new`] or
    /// [`Module::from_aot_file`].
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        if crate::aot::is_aot_file(path) {
            return Module::from_aot_file(engine, path);
        }
        let bytes = std::fs::read(path).map_err(|e| Error::msg(format!("cannot read {}: {e}", path.display())))?;
        Module::new(engine, bytes)
    }

    /// The module name from the name section.
    pub fn name(&self) -> Option<&str> {
        self.rt.info.name.as_deref()
    }

    /// The engine this module belongs to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn entity_type(&self, index: EntityIndex) -> ExternType {
        let info = &self.rt.info;
        match index {
            EntityIndex::Function(f) => ExternType::Func(info.func_type(f).clone()),
            EntityIndex::Table(t) => ExternType::Table(TableType(info.tables[t.index()])),
            EntityIndex::Memory(m) => ExternType::Memory(MemoryType(info.memories[m.index()])),
            EntityIndex::Global(g) => ExternType::Global(GlobalType(info.globals[g.index()])),
        }
    }

    /// The imports, in order.
    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> + '_ {
        self.rt.info.imports.iter().map(|i| ImportType {
            module: &i.module,
            name: &i.name,
            ty: self.entity_type(i.index),
        })
    }

    /// The exports, in order.
    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> + '_ {
        self.rt.info.exports.iter().map(|e| ExportType { name: &e.name, ty: self.entity_type(e.index) })
    }

    /// Translates every function for the interpreter now instead of at
    /// first call (useful to measure execution alone).
    ///
    /// # Errors
    /// A translation error (implementation limits).
    pub fn precompile(&self) -> Result<()> {
        self.rt.translate_all()
    }
}

/// Encodes a module in the text format (spec §6) as a binary, with the
/// `wast` crate.
///
/// # Errors
/// [`crate::ErrorKind::Compile`] with the text offset of the first error.
pub fn wat_to_binary(text: &[u8]) -> Result<Vec<u8>> {
    let compile_err =
        |offset: usize, message: String| Error::compile(kiln_environ::ModuleError { offset: offset as u64, message });
    let text = std::str::from_utf8(text).map_err(|e| {
        compile_err(e.valid_up_to(), "input is neither a wasm binary (no `\\0asm` magic) nor UTF-8 text".into())
    })?;
    let buf = wast::parser::ParseBuffer::new(text).map_err(|e| compile_err(e.span().offset(), e.message()))?;
    let mut wat =
        wast::parser::parse::<wast::Wat<'_>>(&buf).map_err(|e| compile_err(e.span().offset(), e.message()))?;
    wat.encode().map_err(|e| compile_err(e.span().offset(), e.message()))
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("name", &self.name()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::{Linker, Store};

    /// Entries and loop back-edges are charged to the function; instances
    /// add their counts to the module-wide counts in chunks (1024 entries,
    /// 256 back-edges), and the last partial chunks when dropped.
    #[test]
    fn hotness_counts_entries_and_back_edges() {
        let engine = Engine::new(Config::new().strategy(crate::Strategy::Interpreter)).unwrap();
        let module = Module::new(
            &engine,
            r#"(module
                (func (export "leaf"))
                (func (export "spin") (param i32)
                    (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let leaf = inst.get_typed_func::<(), ()>(&mut store, "leaf").unwrap();
        let stats = |d: usize| {
            let f = &module.tier_stats().functions[d];
            (f.entries, f.back_edges)
        };
        for _ in 0..1023 {
            leaf.call(&mut store, ()).unwrap();
        }
        assert_eq!(stats(0), (0, 0), "not flushed before a full chunk");
        leaf.call(&mut store, ()).unwrap();
        assert_eq!(stats(0), (1024, 0));
        // One entry plus 2047 back-edges (the loop runs 2048 times).
        let spin = inst.get_typed_func::<i32, ()>(&mut store, "spin").unwrap();
        spin.call(&mut store, 2048).unwrap();
        assert_eq!(stats(1), (0, 7 * 256));
        drop(store);
        assert_eq!(stats(1), (1, 2047), "partial chunks added when the instance is dropped");
        assert_eq!(module.tier_stats().functions[1].state, kiln_runtime::tier::TierState::Interpreted);
    }
}
