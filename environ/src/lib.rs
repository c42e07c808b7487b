//! kiln's environment: the vocabulary every tier shares, with no Cranelift
//! dependency.
//!
//! Everything that the interpreter, the Cranelift translator (JIT and `aotc`)
//! and the runtime must agree on lives here, defined exactly once:
//!
//! * [`index`]: entity index newtypes (`FuncIndex`, `DefinedFuncIndex`, ...).
//! * [`trap`]: [`TrapCode`], with the spec's message for each kind and a
//!   stable one-byte encoding used by trap tables and `.aot` files.
//! * [`types`]: value, function, table, memory and global types.
//! * [`module`]: the module metadata ([`ModuleInfo`]) decoded from a wasm
//!   binary with `wasmparser`, and its validation (Wasm 2.0 feature set).
//! * [`libcall`]: the Cranelift library calls machine code may reference
//!   by relocation.
//! * [`builtins`]: the runtime helpers compiled code calls through the
//!   VMContext's builtin table, with their indices and signatures.
//! * [`vm`]: the `#[repr(C)]` structures native code and the interpreter
//!   touch (`VMFuncRef`, `VMMemoryDefinition`, ...) and [`VMOffsets`], the
//!   layout of a VMContext, both generated from one declaration.
//!
//! The compiled-module model and the `.aot` file that serialises it live
//! in `kiln-aot-format`, on top of this crate.

pub mod builtins;
pub mod index;
pub mod libcall;
pub mod module;
pub mod trap;
pub mod types;
pub mod vm;

pub use index::*;
pub use libcall::LibCall;
pub use module::{
    ConstExpr, ConstOp, DataSegment, DataSegmentKind, ElemItems, ElemSegment, ElemSegmentKind, EntityIndex, Export,
    FunctionBody, Import, ModuleError, ModuleInfo, WasmFeatureSet,
};
pub use trap::TrapCode;
pub use types::*;
pub use vm::{PtrSize, VMOffsets};
