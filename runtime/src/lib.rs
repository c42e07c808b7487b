//! kiln's runtime: everything that exists while guest code runs.
//!
//! * [`stack`]: the native stack budget (`max_wasm_stack`) of every tier.
//! * [`store`]: the untyped store ([`StoreOpaque`]) owning instances,
//!   memories, tables, globals, host functions and externrefs.
//! * [`instance`]: VMContext allocation and instantiation.
//! * [`memory`]: linear memory on a reservation with a guard region.
//! * [`table`]: tables of funcrefs / externrefs.
//! * [`host`]: host functions behind the array-call ABI.
//! * [`builtins`]: the table of builtins compiled code calls.
//! * [`libcalls`]: helpers for memory, table and bulk operations shared by
//!   all tiers.
//! * [`interp`]: the interpreter tier; [`interp::code`] is its code object
//!   (data the core holds), [`interp_stack`] the per-store stack it runs on.
//! * [`module`]: the runtime's view of a validated module and the engine's
//!   type registry.
//! * [`code_memory`]: executable memory for native code and the code
//!   registry (PC → trap code / function).
//! * [`native_code`]: native code linked in memory (a compiled module laid
//!   out, relocated, published and registered), the code object the core
//!   holds.
//! * [`native`]: the native tier: the host→native entry (stack limit,
//!   traps, backtraces).
//! * [`tier`]: the tier entry interface and tier-up — hotness, the
//!   per-function tier state, publication of native code, OSR entries.
//! * [`traphandlers`]: signal handlers turning faults in native wasm into
//!   traps ([`traphandlers::catch_traps`]).
//! * [`error`]: the public `Error` and `Trap` types.
//! * [`wasi`]: WASI preview1 over a context and guest memory, and preview0
//!   (`wasi_unstable`) translated onto it.
//!
//! Layers: the core (store, instance, module, table, memory, host,
//! libcalls, builtins, tier, interp_stack) holds code objects
//! ([`interp::code`], [`native_code`]) and never names an executing tier;
//! the tiers ([`interp`], [`native`]) run on the core; [`tier_entries`]
//! wires them in. `tests/layering.rs` checks it.
//!
//! `unsafe` code is confined to the VM-facing modules (instance, memory,
//! interp, host, libcalls, store, code_memory, traphandlers); every block
//! states why it holds.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(unix)]
pub mod aot;
pub mod builtins;
#[cfg(unix)]
pub mod code_memory;
pub mod error;
pub mod host;
pub mod instance;
pub mod interp;
pub mod interp_stack;
pub mod libcalls;
pub mod memory;
pub mod module;
#[cfg(unix)]
pub mod native;
#[cfg(unix)]
pub mod native_code;
pub mod stack;
pub mod store;
pub mod table;
pub mod tier;
#[cfg(unix)]
pub mod traphandlers;
#[cfg(feature = "wasi")]
pub mod wasi;

pub use error::{Error, ErrorKind, FrameInfo, Result, Trap};
pub use instance::{Imports, Instance};
pub use memory::{LinearMemory, MemoryConfig};
pub use module::{RuntimeModule, TypeRegistry};
pub use store::{ExternRefData, GlobalEntry, StoreConfig, StoreOpaque};
pub use table::Table;
pub use tier::TierEntries;

/// The funcref entries of the runtime's tiers: the interpreter's
/// ([`interp::interp_array_call`]) and, on Unix, the native tier's
/// ([`native::native_array_call`]). This is where the tiers are wired into
/// the core (which never names them): every [`RuntimeModule`] is created
/// with these.
pub fn tier_entries() -> TierEntries {
    TierEntries {
        interpreter: interp::interp_array_call,
        #[cfg(unix)]
        native: native::native_array_call,
        // No native code without Unix: `FuncEntry::Native` never occurs.
        #[cfg(not(unix))]
        native: interp::interp_array_call,
    }
}
