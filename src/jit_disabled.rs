//! The disabled twin of `jit.rs`, for builds without the `cranelift`
//! feature (an AOT-only runtime, like WAMR's): the same crate-internal API,
//! but no value of [`Jit`] can exist — [`Jit::new`] reports that this
//! build has no compiler, so `Engine::new` refuses the `jit`, `tiered` and
//! `aot` strategies with [`crate::ErrorKind::Unsupported`], while the
//! interpreter and `.aot` loading (`Module::from_aot_file`) work.

use crate::config::NO_COMPILER;
use crate::{Config, Error, Result};
use kiln_runtime::RuntimeModule;
use kiln_runtime::native_code::NativeCode;
use kiln_runtime::tier::{TierCompiler, TierJob};
use std::sync::Arc;

/// The engine's compiler: uninhabited in this build.
pub(crate) enum Jit {}

impl Jit {
    /// Always fails: there is no compiler in this build.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] with [`NO_COMPILER`].
    pub(crate) fn new(_config: &Config) -> Result<Arc<Jit>> {
        Err(Error::unsupported(NO_COMPILER))
    }

    /// Unreachable: no `Jit` exists.
    pub(crate) fn compile_module(&self, _module: &RuntimeModule) -> Result<NativeCode> {
        match *self {}
    }
}

impl TierCompiler for Jit {
    fn submit(&self, _job: TierJob) {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Engine, ErrorKind, Module, Strategy};

    /// The AOT-only build: the compiling strategies and `aotc` report that
    /// there is no compiler; the interpreter and the `.aot` loader work.
    #[test]
    fn compiling_strategies_report_that_there_is_no_compiler() {
        for s in [Strategy::Jit, Strategy::Tiered, Strategy::Aot] {
            assert!(!s.is_available());
            let e = Engine::new(Config::new().strategy(s)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains("no compiler"), "{e}");
        }
        let e = crate::aot::compile(&Config::new(), b"(module)", &Default::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        let engine = Engine::new(Config::new().strategy(Strategy::Interpreter)).unwrap();
        let m = Module::new(&engine, "(module (func (export \"f\") (result i32) i32.const 7))").unwrap();
        assert_eq!(m.exports().count(), 1);
        let e = Module::from_aot_bytes(&engine, b"\0asm\x01\0\0\0").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Aot, "{e}");
    }
}
