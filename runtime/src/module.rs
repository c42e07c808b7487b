//! A validated module as the runtime holds it: metadata, the original
//! bytes, the VMContext layout, canonical type ids, each function's tier
//! state (`crate::tier`), and its code objects: the interpreter's code of
//! each function (translated on first use by the interpreter, which fills
//! the module's cells: `RuntimeModule::interp_func` in `crate::interp`) and
//! native code. The module holds code; it never runs it.

use crate::error::{Error, Result};
use crate::interp::code::InterpFunc;
#[cfg(unix)]
use crate::native_code::NativeCode;
use crate::tier::{FuncTier, TierEntries, TierPolicy};
use kiln_environ::{ModuleError, ModuleInfo, PtrSize, VMOffsets, VMSharedTypeIndex, WasmFeatureSet, WasmFuncType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// Engine-wide interning of function types into [`VMSharedTypeIndex`]es,
/// so `call_indirect` compares one integer across modules and hosts.
/// Entries are never removed (a registry lives as long as its engine).
#[derive(Default)]
pub struct TypeRegistry {
    map: Mutex<HashMap<WasmFuncType, VMSharedTypeIndex>>,
    types: RwLock<Vec<Arc<WasmFuncType>>>,
}

impl TypeRegistry {
    /// The canonical id of `ty`, registering it if new.
    pub fn intern(&self, ty: &WasmFuncType) -> VMSharedTypeIndex {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = map.get(ty) {
            return id;
        }
        let mut types = self.types.write().unwrap_or_else(|e| e.into_inner());
        let id = VMSharedTypeIndex(types.len() as u32);
        types.push(Arc::new(ty.clone()));
        map.insert(ty.clone(), id);
        id
    }

    /// The type with canonical id `id`.
    pub fn lookup(&self, id: VMSharedTypeIndex) -> Option<Arc<WasmFuncType>> {
        self.types.read().unwrap_or_else(|e| e.into_inner()).get(id.index()).cloned()
    }
}

impl std::fmt::Debug for TypeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeRegistry").finish_non_exhaustive()
    }
}

/// A validated module, shared by all its instances (in any store, on any
/// thread).
pub struct RuntimeModule {
    /// Decoded metadata.
    pub info: ModuleInfo,
    /// The original binary (function bodies point into it; empty for an
    /// `.aot` module that does not embed its wasm).
    pub wasm: Box<[u8]>,
    /// Data segment bytes when they are not in `wasm` (`.aot` modules:
    /// the file's data section); `None`: the ranges point into `wasm`.
    segment_data: Option<Box<[u8]>>,
    /// The VMContext layout of its instances on this host.
    pub offsets: VMOffsets,
    /// Canonical id of each entry of the type section.
    pub type_ids: Box<[VMSharedTypeIndex]>,
    /// The engine's registry the ids come from.
    pub registry: Arc<TypeRegistry>,
    /// The interpreter's code of each defined function, once translated.
    pub(crate) interp: Box<[OnceLock<std::result::Result<InterpFunc, ModuleError>>]>,
    /// The executing tiers' funcref entries (given at creation: see
    /// [`TierEntries`]).
    pub(crate) tier_entries: TierEntries,
    /// Native code of every defined function, once compiled (strategy
    /// `jit`); instances created after it is set enter native code.
    #[cfg(unix)]
    native: OnceLock<NativeCode>,
    /// Tier-up state of each defined function (`crate::tier`); in `jit`
    /// mode every slot is `Ready` from the start.
    pub(crate) tiers: Box<[FuncTier]>,
    policy: OnceLock<TierPolicy>,
    /// Native code published function by function (tier-up), kept mapped
    /// as long as the module.
    #[cfg(unix)]
    tiered_code: Mutex<Vec<NativeCode>>,
}

impl RuntimeModule {
    /// Decodes and validates `wasm` (see [`ModuleInfo::parse`]); its
    /// funcrefs will enter the tiers through `tier_entries` (normally
    /// [`crate::tier_entries`]).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Compile`] with the offset and reason.
    pub fn new(
        wasm: Vec<u8>,
        features: WasmFeatureSet,
        registry: Arc<TypeRegistry>,
        tier_entries: TierEntries,
    ) -> Result<Arc<RuntimeModule>> {
        let info = ModuleInfo::parse(&wasm, features).map_err(Error::compile)?;
        Ok(Self::from_parts(info, wasm, None, registry, tier_entries))
    }

    /// A module from metadata decoded elsewhere (an `.aot` file): `wasm`
    /// is the original binary if the file embeds it (else empty: no
    /// function can be interpreted), `segment_data` the bytes the data
    /// segments' ranges point into (`None`: into `wasm`). The caller
    /// guarantees `info` is consistent (`kiln_aot_format::file` checks it).
    /// `tier_entries` as for [`RuntimeModule::new`].
    pub fn from_parts(
        info: ModuleInfo,
        wasm: Vec<u8>,
        segment_data: Option<Vec<u8>>,
        registry: Arc<TypeRegistry>,
        tier_entries: TierEntries,
    ) -> Arc<RuntimeModule> {
        let offsets = VMOffsets::new(PtrSize::HOST, &info);
        let type_ids = info.types.iter().map(|t| registry.intern(t)).collect();
        let interp = (0..info.num_defined_funcs()).map(|_| OnceLock::new()).collect();
        let tiers = (0..info.num_defined_funcs()).map(|_| FuncTier::default()).collect();
        Arc::new(RuntimeModule {
            info,
            wasm: wasm.into_boxed_slice(),
            segment_data: segment_data.map(Vec::into_boxed_slice),
            offsets,
            type_ids,
            registry,
            interp,
            tier_entries,
            #[cfg(unix)]
            native: OnceLock::new(),
            tiers,
            policy: OnceLock::new(),
            #[cfg(unix)]
            tiered_code: Mutex::new(Vec::new()),
        })
    }

    /// The bytes of data segment `index` (spec §2.5.8).
    pub fn data_segment_bytes(&self, index: u32) -> &[u8] {
        let range = self.info.data_segments[index as usize].data.clone();
        let bytes = self.segment_data.as_deref().unwrap_or(&self.wasm);
        bytes.get(range).unwrap_or(&[])
    }

    /// Turns tier-up on for this module (before its first instance).
    ///
    /// # Errors
    /// If a policy was already set.
    pub fn set_tier_policy(&self, policy: TierPolicy) -> Result<()> {
        self.policy.set(policy).map_err(|_| Error::msg("the module already has a tier-up policy"))
    }

    /// The tier-up policy, if tier-up is on.
    #[inline]
    pub fn tier_policy(&self) -> Option<&TierPolicy> {
        self.policy.get()
    }

    /// The hotness threshold (`u64::MAX` without tier-up).
    #[inline]
    pub fn tier_threshold(&self) -> u64 {
        self.policy.get().map_or(u64::MAX, |p| p.threshold)
    }

    #[cfg(unix)]
    pub(crate) fn keep_code(&self, code: NativeCode) {
        self.tiered_code.lock().unwrap_or_else(|e| e.into_inner()).push(code);
    }

    /// Whether the code registered as `reg` (`code_memory::lookup_func`)
    /// belongs to this module.
    #[cfg(unix)]
    pub fn owns_code(&self, reg: u64) -> bool {
        self.native().is_some_and(|n| n.registration_id() == reg)
            || self.tiered_code.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|c| c.registration_id() == reg)
    }

    /// The backtrace frame of function `func_index` (names from the name
    /// section), as every tier reports it.
    pub fn frame_info(&self, func_index: u32) -> crate::error::FrameInfo {
        crate::error::FrameInfo {
            func_index,
            func_name: self.info.func_names.get(&func_index.into()).cloned(),
            module_name: self.info.name.clone(),
        }
    }

    /// The module's native code, if it was compiled as a whole.
    #[cfg(unix)]
    #[inline]
    pub fn native(&self) -> Option<&NativeCode> {
        self.native.get()
    }

    /// Installs the module's native code (one entry per defined function):
    /// every function is `Ready` from now on.
    ///
    /// # Errors
    /// If native code was already installed or has the wrong number of
    /// functions.
    #[cfg(unix)]
    pub fn set_native(&self, code: NativeCode) -> Result<()> {
        if code.num_defined() != self.info.num_defined_funcs() as usize {
            return Err(Error::msg("native code does not match the module's functions"));
        }
        for (d, t) in self.tiers.iter().enumerate() {
            t.array_call.store(code.array_trampoline(d) as *mut u8, std::sync::atomic::Ordering::Relaxed);
            t.wasm_call.store(code.wasm_call(d) as *mut u8, std::sync::atomic::Ordering::Release);
            t.set_state(crate::tier::TierState::Ready);
        }
        self.native.set(code).map_err(|_| Error::msg("the module already has native code"))
    }
}

impl std::fmt::Debug for RuntimeModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeModule").field("name", &self.info.name).finish_non_exhaustive()
    }
}
