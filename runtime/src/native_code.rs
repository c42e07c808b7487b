//! Native code in memory: a [`kiln_aot_format::compiled::CompiledModule`]
//! linked into executable memory.
//!
//! The runtime does not depend on Cranelift: the JIT (in the `kiln` crate),
//! tier-up and the `.aot` loader all hand over a
//! [`CompiledModule`] — machine code with trap sites and relocations,
//! kiln's one compiled-module model — and [`NativeCode::load`] (or
//! [`NativeCode::link`] for code already mapped) lays it out in
//! [`CodeMemory`] (W^X), resolves its relocations, publishes it and
//! registers it in the code registry that the signal handler and
//! backtraces consult. A [`NativeCode`] is a code object, like the
//! interpreter's `interp::code::InterpFunc`: modules own it; the native
//! tier (`crate::native`) runs it.

use crate::code_memory::{self, CodeMemory, CodeRegistration};
use crate::error::{Error, Result};
use kiln_aot_format::compiled::{CompiledModule, RelocTarget, Relocation};
use kiln_environ::vm::VMArrayCallFn;
use kiln_environ::{LibCall, VMSharedTypeIndex, WasmFuncType};
use std::sync::Arc;

/// `func_index` of code that is not a wasm function (trampolines) in the
/// code registry.
pub const TRAMPOLINE_INDEX: u32 = u32::MAX;

/// Published, registered native code of one module (or of a batch of
/// trampolines): see the module documentation.
pub struct NativeCode {
    code: Arc<CodeMemory>,
    registration: CodeRegistration,
    /// Entry (`wasm_call`) of each defined function.
    wasm_call: Box<[usize]>,
    /// Array→wasm trampoline (array-call ABI) of each defined function's
    /// signature.
    array_call: Box<[usize]>,
}

impl std::fmt::Debug for NativeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeCode").field("code", &self.code).field("defined", &self.wasm_call.len()).finish()
    }
}

impl NativeCode {
    /// Links `module` in memory: lays its code out in a fresh mapping,
    /// resolves every relocation, publishes it (W^X: written, relocated,
    /// then made read+execute) and registers its trap sites.
    /// Library calls resolve to the runtime's ([`libcall_address`]),
    /// internal targets through the batch
    /// ([`CompiledModule::internal_target`]), and a
    /// [`RelocTarget::Trampoline`] the batch does not carry through
    /// `external(type_index)` (the engine's shared wasm→array trampolines).
    ///
    /// # Errors
    /// A mapping failure, a relocation target that does not resolve, or a
    /// displacement its instruction cannot encode.
    pub fn load(module: &CompiledModule<'_>, external: &dyn Fn(u32) -> Result<usize>) -> Result<NativeCode> {
        let layout: Vec<(&[u8], u32)> = module.code.iter().map(|c| (&*c.code, c.alignment)).collect();
        let mem = CodeMemory::new(&layout).map_err(|e| Error::msg(format!("mapping native code: {e}")))?;
        Self::link(mem, module, external)
    }

    /// The address relocation `r` of `module` refers to, once `mem` holds
    /// the module's code (function `i` of `mem` = `module.code[i]`).
    ///
    /// # Errors
    /// A target that does not resolve (see [`NativeCode::load`]).
    fn resolve(
        mem: &CodeMemory,
        module: &CompiledModule<'_>,
        r: &Relocation,
        external: &dyn Fn(u32) -> Result<usize>,
    ) -> Result<usize> {
        match (module.internal_target(r.target), r.target) {
            (Some(Ok(j)), _) => Ok(mem.func_ptr(j as usize) as usize),
            (Some(Err(e)), _) => Err(Error::msg(format!("native code: {e}"))),
            (None, RelocTarget::LibCall(lc)) => Ok(libcall_address(lc)),
            (None, RelocTarget::Trampoline(ty)) => external(ty),
            (None, other) => Err(Error::msg(format!("native code: relocation to {other:?} does not resolve"))),
        }
    }

    /// Finishes `module`'s code already laid out in `mem` (writable;
    /// function `i` of `mem` is `module.code[i]`, e.g. mapped from an
    /// `.aot` file with [`CodeMemory::in_file_map`]): applies the
    /// relocations, publishes it read+execute and registers it; targets
    /// resolve as for [`NativeCode::load`].
    ///
    /// # Errors
    /// As [`NativeCode::load`].
    pub fn link(
        mem: CodeMemory,
        module: &CompiledModule<'_>,
        external: &dyn Fn(u32) -> Result<usize>,
    ) -> Result<NativeCode> {
        Self::link_reporting(mem, module, external, &|m| Error::msg(format!("relocating native code: {m}")))
    }

    /// [`NativeCode::link`], with `bad_displacement` making the error for a
    /// PC-relative relocation whose displacement its instruction cannot
    /// encode (given the message: entry, offset, kind, target, addend and
    /// displacement). The `.aot` loader reports it as a malformed file;
    /// each relocation is resolved once.
    ///
    /// # Errors
    /// As [`NativeCode::link`].
    pub fn link_reporting(
        mut mem: CodeMemory,
        module: &CompiledModule<'_>,
        external: &dyn Fn(u32) -> Result<usize>,
        bad_displacement: &dyn Fn(String) -> Error,
    ) -> Result<NativeCode> {
        let n = mem.len();
        if n != module.code.len() {
            return Err(Error::msg(format!("native code: {n} laid out of {} compiled", module.code.len())));
        }
        for (i, c) in module.code.iter().enumerate() {
            for r in c.relocs.iter() {
                let target = Self::resolve(&mem, module, r, external)?;
                let site = mem.func_ptr(i) as i64 + i64::from(r.offset);
                let delta = (target as i64).wrapping_add(r.addend).wrapping_sub(site);
                if !r.kind.fits(delta) {
                    return Err(bad_displacement(format!(
                        "code entry {i}: relocation at {} ({:?} to {:?}, addend {}): displacement {delta:#x} out of range",
                        r.offset, r.kind, r.target, r.addend
                    )));
                }
                mem.apply(i, r.offset, r.kind, target, r.addend)
                    .map_err(|e| Error::msg(format!("relocating native code: {e}")))?;
            }
        }
        if module.defined.iter().any(|d| d.code as usize >= n || d.array_to_wasm as usize >= n) {
            return Err(Error::msg("native code: entry index out of range"));
        }
        mem.publish().map_err(|e| Error::msg(format!("publishing native code: {e}")))?;
        let code = Arc::new(mem);
        let traps = module.code.iter().map(|c| c.traps.iter().map(|t| (t.code_offset, t.code)).collect()).collect();
        let indices = (0..n).map(|i| module.func_index(i).unwrap_or(TRAMPOLINE_INDEX)).collect();
        let registration = code_memory::register(code.clone(), traps, indices)
            .map_err(|e| Error::msg(format!("registering native code: {e}")))?;
        let wasm_call = module.defined.iter().map(|d| code.func_ptr(d.code as usize) as usize).collect();
        let array_call = module.defined.iter().map(|d| code.func_ptr(d.array_to_wasm as usize) as usize).collect();
        Ok(NativeCode { code, registration, wasm_call, array_call })
    }

    /// The id under which the code is registered (what
    /// [`code_memory::lookup_func`] reports).
    pub fn registration_id(&self) -> u64 {
        self.registration.id()
    }

    /// Entry address of `module.code[i]` as given to [`NativeCode::load`].
    pub fn func_ptr(&self, i: usize) -> *const u8 {
        self.code.func_ptr(i)
    }

    /// Number of defined functions with entries.
    pub fn num_defined(&self) -> usize {
        self.wasm_call.len()
    }

    /// The `wasm_call` entry of defined function `def`.
    pub fn wasm_call(&self, def: usize) -> *const u8 {
        self.wasm_call[def] as *const u8
    }

    /// The array→wasm trampoline for defined function `def`.
    #[inline]
    pub fn array_trampoline(&self, def: usize) -> VMArrayCallFn {
        // SAFETY: `array_call[def]` is the entry of published code compiled
        // with the array-call ABI (`NativeCode::load`'s contract).
        unsafe { core::mem::transmute::<usize, VMArrayCallFn>(self.array_call[def]) }
    }
}

/// Provides wasm→array trampolines per signature: what compiled code calls
/// for a funcref whose `wasm_call` is null (host functions, functions still
/// interpreted), linked by relocation ([`RelocTarget::Trampoline`]);
/// implemented by the engine that compiles code.
pub trait HostTrampolines: Send + Sync {
    /// The wasm→array trampoline for functions of type `ty` (canonical id
    /// `id`), compiled once per engine and kept alive as long as it.
    ///
    /// # Errors
    /// A type the compiler does not support, or a code generation failure.
    fn wasm_to_array(&self, id: VMSharedTypeIndex, ty: &WasmFuncType) -> Result<*const u8>;
}

/// The address of the runtime's implementation of `lc`.
pub fn libcall_address(lc: LibCall) -> usize {
    extern "C" fn floor_f32(x: f32) -> f32 {
        x.floor()
    }
    extern "C" fn floor_f64(x: f64) -> f64 {
        x.floor()
    }
    extern "C" fn ceil_f32(x: f32) -> f32 {
        x.ceil()
    }
    extern "C" fn ceil_f64(x: f64) -> f64 {
        x.ceil()
    }
    extern "C" fn trunc_f32(x: f32) -> f32 {
        x.trunc()
    }
    extern "C" fn trunc_f64(x: f64) -> f64 {
        x.trunc()
    }
    extern "C" fn nearest_f32(x: f32) -> f32 {
        x.round_ties_even()
    }
    extern "C" fn nearest_f64(x: f64) -> f64 {
        x.round_ties_even()
    }
    extern "C" fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    extern "C" fn fma_f64(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
    match lc {
        LibCall::FloorF32 => floor_f32 as *const () as usize,
        LibCall::FloorF64 => floor_f64 as *const () as usize,
        LibCall::CeilF32 => ceil_f32 as *const () as usize,
        LibCall::CeilF64 => ceil_f64 as *const () as usize,
        LibCall::TruncF32 => trunc_f32 as *const () as usize,
        LibCall::TruncF64 => trunc_f64 as *const () as usize,
        LibCall::NearestF32 => nearest_f32 as *const () as usize,
        LibCall::NearestF64 => nearest_f64 as *const () as usize,
        LibCall::FmaF32 => fma_f32 as *const () as usize,
        LibCall::FmaF64 => fma_f64 as *const () as usize,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use kiln_aot_format::compiled::{CodeKind, CompiledCode, DefinedEntry, RelocKind, TrapSite};
    use kiln_environ::{DefinedFuncIndex, TrapCode};
    use std::borrow::Cow;

    fn code(kind: CodeKind, index: u32, relocs: Vec<Relocation>) -> CompiledCode<'static> {
        CompiledCode {
            kind,
            index,
            code: Cow::Owned(vec![0xcc; 24]),
            alignment: 16,
            traps: vec![TrapSite { code_offset: 0, code: TrapCode::UnreachableCodeReached }].into(),
            relocs: relocs.into(),
        }
    }

    fn abs8(offset: u32, target: RelocTarget) -> Relocation {
        Relocation { offset, kind: RelocKind::Abs8, target, addend: 2 }
    }

    fn read_u64(p: *const u8) -> u64 {
        // SAFETY: `p` is inside published (readable) code of a live `NativeCode`.
        unsafe { p.cast::<u64>().read_unaligned() }
    }

    #[test]
    fn every_target_of_the_model_resolves() {
        let relocs = vec![
            abs8(0, RelocTarget::Function(DefinedFuncIndex(0))),
            abs8(8, RelocTarget::Trampoline(7)),
            abs8(16, RelocTarget::Code(1)),
        ];
        let module = CompiledModule {
            code: vec![code(CodeKind::Function, 3, relocs), code(CodeKind::ArrayToWasm, 0, vec![])],
            defined: vec![DefinedEntry { func: DefinedFuncIndex(0), code: 0, array_to_wasm: 1 }],
            type_trampolines: vec![],
        };
        let external = |ty: u32| -> Result<usize> { if ty == 7 { Ok(0x1000) } else { Err(Error::msg("no")) } };
        let native = NativeCode::load(&module, &external).unwrap();
        let (f, t) = (native.func_ptr(0), native.func_ptr(1));
        assert_eq!(native.wasm_call(0), f);
        assert_eq!(read_u64(f), f as u64 + 2, "defined function 0 is entry 0");
        assert_eq!(read_u64(f.wrapping_add(8)), 0x1002, "a trampoline the batch lacks comes from `external`");
        assert_eq!(read_u64(f.wrapping_add(16)), t as u64 + 2);
        // Trap sites and function indices are registered (trampolines have none).
        assert_eq!(code_memory::lookup_trap(f as usize), Some(TrapCode::UnreachableCodeReached));
        assert_eq!(code_memory::lookup_func(f as usize).map(|(_, i, _)| i), Some(3));
        assert_eq!(code_memory::lookup_func(t as usize).map(|(_, i, _)| i), Some(TRAMPOLINE_INDEX));
    }

    #[test]
    fn unresolved_targets_are_errors() {
        let one = |r: Relocation| CompiledModule {
            code: vec![code(CodeKind::Function, 0, vec![r])],
            defined: vec![],
            type_trampolines: vec![None],
        };
        let external = |ty: u32| -> Result<usize> { Err(Error::msg(format!("type {ty} refused"))) };
        let err = |m: CompiledModule<'_>| NativeCode::load(&m, &external).unwrap_err().to_string();
        assert!(err(one(abs8(0, RelocTarget::Function(DefinedFuncIndex(2))))).contains("defined function 2"));
        assert!(err(one(abs8(0, RelocTarget::Code(1)))).contains("code entry 1 of 1"));
        assert!(err(one(abs8(0, RelocTarget::Trampoline(4)))).contains("type 4 refused"));
        assert!(err(one(abs8(20, RelocTarget::Code(0)))).contains("outside function 0"));
    }

    #[test]
    fn a_displacement_out_of_range_is_reported_through_the_hook() {
        let kind = if cfg!(target_arch = "aarch64") { RelocKind::Arm64Call } else { RelocKind::X86CallPCRel4 };
        let far = Relocation { offset: 0, kind, target: RelocTarget::Code(0), addend: 1 << 40 };
        let module = CompiledModule {
            code: vec![code(CodeKind::Function, 0, vec![far])],
            defined: vec![],
            type_trampolines: vec![],
        };
        let layout = [(&*module.code[0].code, 16)];
        let no = |_: u32| -> Result<usize> { Err(Error::msg("no")) };
        let mem = CodeMemory::new(&layout).unwrap();
        let err = NativeCode::link_reporting(mem, &module, &no, &|m| Error::msg(format!("HOOK {m}"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("HOOK code entry 0: relocation at 0"), "{msg}");
        assert!(msg.contains("out of range"), "{msg}");
        // `link` reports the same site as a relocation failure.
        let mem = CodeMemory::new(&layout).unwrap();
        let msg = NativeCode::link(mem, &module, &no).unwrap_err().to_string();
        assert!(msg.contains("relocating native code: code entry 0"), "{msg}");
        // In range, the same relocation links.
        let near = Relocation { addend: 0, ..module.code[0].relocs[0] };
        let module = CompiledModule { code: vec![code(CodeKind::Function, 0, vec![near])], ..module };
        assert!(NativeCode::load(&module, &no).is_ok());
    }
}
