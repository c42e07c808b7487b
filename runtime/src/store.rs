//! The untyped part of a store: everything instances, host functions and
//! guest execution need, owned in arenas with stable addresses (boxes), so
//! VMContexts and funcrefs can point into them.
//!
//! Handles used by the public API are indices into these arenas; a store
//! frees its entities only when it is dropped (like Wasmtime's `Store`).

use crate::error::{Error, Result};
use crate::host::{HostFunc, VMHostFuncContext, host_array_call};
use crate::instance::Instance;
use crate::interp_stack::InterpStack;
use crate::memory::{LinearMemory, MemoryConfig};
use crate::module::TypeRegistry;
use crate::table::Table;
use kiln_environ::vm::{VMFuncRef, VMGlobalDefinition, VMStoreContext, ValRaw};
use kiln_environ::{GlobalType, WasmFuncType};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Store-wide settings taken from the engine's configuration.
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// Linear memory reservation and guard.
    pub memory: MemoryConfig,
    /// Maximum bytes of wasm stack (interpreter frames) per store.
    pub max_wasm_stack: usize,
    /// Whether epoch deadlines are honoured ([`StoreOpaque::set_epoch_deadline`]);
    /// when `false`, compiled code has no epoch checks and deadlines are
    /// ignored by every tier.
    pub epoch_interruption: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { memory: MemoryConfig::default(), max_wasm_stack: 1 << 20, epoch_interruption: true }
    }
}

/// An externref's payload, owned by the store. Externref values (in
/// globals, tables, slots) are pointers to these records.
pub struct ExternRefData {
    /// Index in the store's externref arena.
    pub id: u32,
    /// The host value.
    pub value: Box<dyn Any + Send + Sync>,
}

/// A global the host can name: its definition and type.
pub struct GlobalEntry {
    /// Where the value lives (inside a VMContext, or `owned`).
    pub def: *mut VMGlobalDefinition,
    pub ty: GlobalType,
    /// Storage of host-created globals.
    _owned: Option<Box<VMGlobalDefinition>>,
}

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// The untyped store.
pub struct StoreOpaque {
    id: u64,
    /// Keeps the engine's epoch counter alive for `vm_store_context`.
    epoch: Arc<AtomicU64>,
    /// State generated code reads.
    pub vm_store_context: Box<VMStoreContext>,
    /// Instances, in creation order.
    pub instances: Vec<Box<Instance>>,
    /// Every linear memory (defined by an instance or created by the host).
    pub memories: Vec<Box<LinearMemory>>,
    /// Every table.
    pub tables: Vec<Box<Table>>,
    /// Globals the host has handles to.
    pub globals: Vec<GlobalEntry>,
    global_handles: HashMap<usize, u32>,
    /// Host functions.
    pub host_funcs: Vec<Box<VMHostFuncContext>>,
    /// Functions the host has handles to.
    funcs: Vec<*const VMFuncRef>,
    func_handles: HashMap<usize, u32>,
    /// Externref payloads.
    pub externrefs: Vec<Box<ExternRefData>>,
    /// The error of a failed call, set where it happened and taken by the
    /// host-side caller.
    pub pending_error: Option<Error>,
    /// The interpreter's stack.
    pub interp: InterpStack,
    /// Settings.
    pub config: StoreConfig,
    /// The engine's type registry.
    pub registry: Arc<TypeRegistry>,
}

// SAFETY: every raw pointer in the store points into the store itself (its
// arenas) or into modules kept alive by its instances; the store is used
// by one thread at a time (`&mut`), and moves as a whole.
unsafe impl Send for StoreOpaque {}
// SAFETY: shared access (`&StoreOpaque`) only reads.
unsafe impl Sync for StoreOpaque {}

impl StoreOpaque {
    /// A new, empty store. `epoch` is the engine's epoch counter, which
    /// must outlive the store; there is no epoch deadline until
    /// [`StoreOpaque::set_epoch_deadline`].
    pub fn new(config: StoreConfig, registry: Arc<TypeRegistry>, epoch: Arc<AtomicU64>) -> StoreOpaque {
        StoreOpaque {
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            vm_store_context: Box::new(VMStoreContext {
                stack_limit: 0,
                epoch_ptr: Arc::as_ptr(&epoch),
                epoch_deadline: u64::MAX,
            }),
            epoch,
            instances: Vec::new(),
            memories: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            global_handles: HashMap::new(),
            host_funcs: Vec::new(),
            funcs: Vec::new(),
            func_handles: HashMap::new(),
            externrefs: Vec::new(),
            pending_error: None,
            interp: InterpStack::new(config.max_wasm_stack),
            config,
            registry,
        }
    }

    /// Guest code in this store traps with "interrupt" once the engine's
    /// epoch is `ticks` beyond its current value (checked at loop
    /// back-edges and function calls).
    pub fn set_epoch_deadline(&mut self, ticks: u64) {
        if !self.config.epoch_interruption {
            return;
        }
        let now = self.epoch.load(Ordering::Relaxed);
        self.vm_store_context.epoch_deadline = now.saturating_add(ticks);
    }

    /// A process-unique id, to check that handles are used with their store.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Registers a host function and returns its funcref.
    pub fn new_host_func(&mut self, ty: WasmFuncType, func: Box<HostFunc>) -> *const VMFuncRef {
        let type_index = self.registry.intern(&ty);
        let store: *mut StoreOpaque = self;
        let mut ctx = Box::new(VMHostFuncContext {
            funcref: VMFuncRef {
                array_call: host_array_call,
                wasm_call: core::ptr::null(),
                type_index,
                func_index: u32::MAX,
                vmctx: core::ptr::null_mut(),
            },
            store,
            ty,
            func,
        });
        let ctx_ptr: *mut VMHostFuncContext = &mut *ctx;
        ctx.funcref.vmctx = ctx_ptr.cast();
        // `wasm_call` stays null: native callers enter through the
        // wasm→array trampoline of the type, which the loader links into
        // their code (see `VMFuncRef`), so creating host functions compiles
        // nothing.
        let fref: *const VMFuncRef = &ctx.funcref;
        self.host_funcs.push(ctx);
        fref
    }

    /// The handle (index) for funcref `fref`, creating one if needed.
    pub fn func_handle(&mut self, fref: *const VMFuncRef) -> u32 {
        if let Some(&h) = self.func_handles.get(&(fref as usize)) {
            return h;
        }
        let h = self.funcs.len() as u32;
        self.funcs.push(fref);
        self.func_handles.insert(fref as usize, h);
        h
    }

    /// The funcref of handle `h`.
    pub fn func_ref(&self, h: u32) -> *const VMFuncRef {
        self.funcs[h as usize]
    }

    /// The type of function handle `h`.
    pub fn func_type(&self, h: u32) -> Arc<WasmFuncType> {
        // SAFETY: funcrefs in the arena stay alive as long as the store.
        let id = unsafe { (*self.funcs[h as usize]).type_index };
        self.registry.lookup(id).expect("funcref types are registered")
    }

    /// The handle (index) for the global at `def`, creating one if needed.
    pub fn global_handle(&mut self, def: *mut VMGlobalDefinition, ty: GlobalType) -> u32 {
        if let Some(&h) = self.global_handles.get(&(def as usize)) {
            return h;
        }
        let h = self.globals.len() as u32;
        self.globals.push(GlobalEntry { def, ty, _owned: None });
        self.global_handles.insert(def as usize, h);
        h
    }

    /// Creates a host-owned global.
    pub fn new_global(&mut self, ty: GlobalType, bits: u128) -> u32 {
        let mut owned = Box::new(VMGlobalDefinition { bits });
        let def: *mut VMGlobalDefinition = &mut *owned;
        let h = self.globals.len() as u32;
        self.globals.push(GlobalEntry { def, ty, _owned: Some(owned) });
        self.global_handles.insert(def as usize, h);
        h
    }

    /// Creates an externref holding `value`; returns its pointer.
    pub fn new_externref(&mut self, value: Box<dyn Any + Send + Sync>) -> *mut ExternRefData {
        let id = self.externrefs.len() as u32;
        let mut data = Box::new(ExternRefData { id, value });
        let p: *mut ExternRefData = &mut *data;
        self.externrefs.push(data);
        p
    }

    /// Adds a memory; returns its index.
    pub fn push_memory(&mut self, m: Box<LinearMemory>) -> usize {
        self.memories.push(m);
        self.memories.len() - 1
    }

    /// Adds a table; returns its index.
    pub fn push_table(&mut self, t: Box<Table>) -> usize {
        self.tables.push(t);
        self.tables.len() - 1
    }

    /// Takes the error a failed call left in the store (an internal error
    /// if, against the array-call contract, the callee left none).
    pub fn take_pending_error(&mut self) -> Error {
        self.pending_error.take().unwrap_or_else(|| Error::msg("a call failed without reporting an error"))
    }

    /// Calls `fref` from the host with the array-call ABI.
    ///
    /// # Errors
    /// The trap or host error of the call.
    ///
    /// # Safety
    /// `store` is live and not borrowed elsewhere; `fref` belongs to it;
    /// `args` has room for the callee's parameters and results.
    pub unsafe fn call_raw(store: *mut StoreOpaque, fref: *const VMFuncRef, args: &mut [ValRaw]) -> Result<()> {
        // SAFETY: per the contract.
        let ok = unsafe { ((*fref).array_call)(fref, core::ptr::null_mut(), args.as_mut_ptr(), args.len()) };
        if ok {
            Ok(())
        } else {
            // SAFETY: the call is over; no other borrow of the store exists.
            Err(unsafe { (*store).take_pending_error() })
        }
    }
}
