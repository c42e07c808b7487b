//! # kiln
//!
//! A WebAssembly runtime with tiered execution: every function starts in
//! an interpreter, and hot functions are compiled by Cranelift (on
//! background threads, with on-stack replacement for long-running loops);
//! a whole module can also be compiled up front (`Strategy::Jit`) or ahead
//! of time into an `.aot` file. This crate is the public API (modelled on
//! Wasmtime's) and hosts the `kiln` CLI, `aotc` and the wast runner.
//!
//! ```
//! use kiln::{Engine, Linker, Module, Store};
//!
//! let engine = Engine::default();
//! // (module (func (export "add") (param i32 i32) (result i32)
//! //   local.get 0 local.get 1 i32.add))
//! let wasm = [
//!     0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01,
//!     0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x0a, 0x09,
//!     0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
//! ];
//! let module = Module::new(&engine, wasm)?;
//! let mut store = Store::new(&engine, ());
//! let instance = Linker::new(&engine).instantiate(&mut store, &module)?;
//! let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add")?;
//! assert_eq!(add.call(&mut store, (2, 3))?, 5);
//! # Ok::<(), kiln::Error>(())
//! ```

pub mod aot;
mod config;
mod externals;
mod func;
mod instance;
#[cfg(feature = "cranelift")]
mod jit;
#[cfg(not(feature = "cranelift"))]
#[path = "jit_disabled.rs"]
mod jit;
mod linker;
mod module;
mod store;
mod types;
mod values;
#[cfg(feature = "wasi")]
pub mod wasi;
pub mod wast;

pub use config::{Config, DEFAULT_TIER_UP_THRESHOLD, Engine, Strategy};
pub use externals::{Extern, Global, Memory, Table};
pub use func::{Func, IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};
pub use instance::Instance;
pub use kiln_environ::{TrapCode, WasmFeatureSet};
pub use kiln_runtime::tier::{FuncTierStats, TierState, TierStats};
pub use kiln_runtime::{Error, ErrorKind, FrameInfo, Result, Trap};
pub use linker::Linker;
pub use module::{ExportType, ImportType, Module, wat_to_binary};
pub use store::{AsContext, AsContextMut, Caller, Store, StoreContext, StoreContextMut};
pub use types::{ExternType, FuncType, GlobalType, MemoryType, Mutability, RefType, TableType, ValType};
pub use values::{ExternRef, Ref, Val};

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
