//! kiln's compiler: translates wasm function bodies to Cranelift IR and
//! compiles them to machine code for kiln's VMContext ABI.
//!
//! This crate owns only the translation and code generation of *one
//! function (or trampoline) at a time*; laying the code out in memory,
//! signal handlers and the runtime wiring belong to the runtime.
//!
//! * [`Compiler`]: a configured Cranelift ISA (host or cross target);
//!   [`Compiler::compile_function`] is `&self` and may be called from many
//!   threads at once.
//! * `env`: every access to the VMContext (function, memory, table and
//!   global pointers, builtins, store context) through
//!   [`VMOffsets`](kiln_environ::VMOffsets) computed for the *target*
//!   pointer size.
//! * `translate/`: the operator translation, split by concern (control
//!   stack, numeric, memory, bounds checks, tables, calls).
//! * `trampolines`: per-signature array→wasm
//!   ([`Compiler::compile_array_to_wasm_trampoline`]) and wasm→array
//!   ([`Compiler::compile_wasm_to_array_trampoline`]) trampolines.
//!
//! # The wasm-call ABI
//! Every wasm function is a Cranelift function with [`CallConv::Tail`] and
//! signature `(callee_vmctx: ptr, caller_vmctx: ptr, params…) -> results`.
//! `i32/i64/f32/f64` map to `I32/I64/F32/F64`; `funcref`/`externref` are
//! pointer-sized integers (null = 0). Results that do not fit the return
//! registers are returned through an implicit return area
//! (`enable_multi_ret_implicit_sret`), so callers and trampolines must also
//! be compiled by Cranelift with this crate's flags (see [`Compiler::isa`]).
//!
//! # Example
//! ```
//! use kiln_compiler::{Compiler, CompilerOptions};
//! use kiln_environ::{DefinedFuncIndex, ModuleInfo, WasmFeatureSet};
//! // (module (func (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
//! let wasm = b"\0asm\x01\0\0\0\x01\x07\x01\x60\x02\x7f\x7f\x01\x7f\x03\x02\x01\0\
//!              \x0a\x09\x01\x07\0\x20\0\x20\x01\x6a\x0b";
//! let module = ModuleInfo::parse(wasm, WasmFeatureSet::wasm2()).unwrap();
//! let compiler = Compiler::native(CompilerOptions::default()).unwrap();
//! let f = compiler.compile_function(&module, wasm, DefinedFuncIndex(0)).unwrap();
//! assert!(!f.code.is_empty());
//! ```

use cranelift_codegen::ir;
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_frontend::FunctionBuilderContext;
use kiln_aot_format::compiled::{CodeKind, CompiledCode, RelocKind, RelocTarget, Relocation, TrapSite};
use kiln_environ::{DefinedFuncIndex, LibCall, ModuleInfo, TrapCode};
use std::str::FromStr;

mod env;
mod trampolines;
mod translate;

use cranelift_codegen::binemit::Reloc;

/// Cranelift optimisation level (`opt_level` setting).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum OptLevel {
    /// No optimisation: fastest compilation.
    None,
    /// Optimise for speed (the default).
    #[default]
    Speed,
    /// Optimise for speed and code size.
    SpeedAndSize,
}

/// How linear-memory accesses are bounds-checked (see `translate/bounds.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BoundsChecks {
    /// Every linear memory is a reservation of `reservation` bytes
    /// followed by `guard` bytes of inaccessible pages (the runtime's
    /// `Config`). For a 32-bit memory with `reservation >= 4 GiB`, an access
    /// whose static offset plus size is at most `guard` has no explicit
    /// check: it faults in the guard region, at a recorded trap site.
    Guard {
        /// Bytes reserved for the memory (accessible part included).
        reservation: u64,
        /// Bytes of guard region after the reservation.
        guard: u64,
    },
    /// Every access is compared with the memory's current length.
    Explicit,
}

impl Default for BoundsChecks {
    /// `Guard { 4 GiB, 32 MiB }`, the runtime's default on 64-bit hosts.
    fn default() -> Self {
        BoundsChecks::Guard { reservation: 1 << 32, guard: 32 << 20 }
    }
}

/// Options of a [`Compiler`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CompilerOptions {
    /// Cranelift optimisation level.
    pub opt_level: OptLevel,
    /// Bounds-check strategy for linear memories; must match how the
    /// runtime lays out memories (reservation and guard sizes).
    pub bounds: BoundsChecks,
    /// Run Cranelift's IR verifier on every function (slow; for tests).
    pub verifier: bool,
    /// Compile `call f` of a *defined* function `f` as a direct, PC-relative
    /// call to `f`'s code (a [`RelocTarget::Function`] relocation the
    /// loader resolves inside the module's code) with the caller's own
    /// vmctx, instead of loading `f`'s funcref. Right when every function
    /// of the module is compiled and loaded together (JIT, AOT); wrong for
    /// tier-up, where a callee's entry changes at run time. Calls to
    /// imported functions and `call_indirect` always use funcrefs.
    pub direct_calls: bool,
    /// Check the store's epoch deadline at function entry and loop headers
    /// (`Interrupt` trap once `epoch >= deadline`; the deadline is cached
    /// in a register and reloaded after calls). Without it, generated code
    /// cannot be interrupted.
    pub epoch_interruption: bool,
    /// The wasm→array trampolines ([`RelocTarget::Trampoline`]) will be
    /// laid out in the same code image as the functions (AOT): address
    /// them PC-relatively (a colocated symbol: `lea` on x86-64), so the
    /// image needs no load-time relocation for them. Without it (JIT: the
    /// trampolines live in the engine's own mappings) they are absolute
    /// 64-bit addresses (`Abs8`) the loader patches.
    pub trampolines_in_image: bool,
}

impl Default for CompilerOptions {
    /// Speed, guard-region bounds checks for the default 4 GiB + 32 MiB
    /// layout, no verifier, every call through funcrefs, epoch checks.
    fn default() -> Self {
        CompilerOptions {
            opt_level: OptLevel::Speed,
            bounds: BoundsChecks::default(),
            verifier: false,
            direct_calls: false,
            epoch_interruption: true,
            trampolines_in_image: false,
        }
    }
}

/// Why a function could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The function body could not be decoded (the module should have
    /// been validated by [`ModuleInfo::parse`] first).
    #[error("invalid wasm: {0}")]
    Wasm(#[from] wasmparser::BinaryReaderError),
    /// A construct this compiler does not translate (yet), or an
    /// unsupported target/option.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Cranelift rejected the function or the settings (a compiler bug or
    /// an implementation limit).
    #[error("code generation failed: {0}")]
    Codegen(String),
}

/// A configured Cranelift target. `Send + Sync`: share one across threads.
pub struct Compiler {
    isa: OwnedTargetIsa,
    options: CompilerOptions,
}

impl Compiler {
    /// A compiler for the host, with every ISA extension the CPU has
    /// (`cranelift_native::builder`).
    ///
    /// # Errors
    /// [`CompileError::Unsupported`] if Cranelift does not support the host.
    pub fn native(options: CompilerOptions) -> Result<Compiler, CompileError> {
        let builder = cranelift_native::builder().map_err(|e| CompileError::Unsupported(e.to_string()))?;
        Self::finish(builder, options)
    }

    /// A compiler for `triple` (e.g. `"x86_64-unknown-linux-gnu"`,
    /// `"aarch64-unknown-linux-gnu"`) with the baseline ISA flags.
    ///
    /// # Errors
    /// [`CompileError::Unsupported`] for an unknown or unsupported triple.
    pub fn for_target(triple: &str, options: CompilerOptions) -> Result<Compiler, CompileError> {
        let triple = target_lexicon::Triple::from_str(triple)
            .map_err(|e| CompileError::Unsupported(format!("target triple `{triple}`: {e}")))?;
        let builder = cranelift_codegen::isa::lookup(triple).map_err(|e| CompileError::Unsupported(e.to_string()))?;
        Self::finish(builder, options)
    }

    fn finish(builder: cranelift_codegen::isa::Builder, options: CompilerOptions) -> Result<Compiler, CompileError> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags.set(name, value).map_err(|e| CompileError::Codegen(format!("setting {name}={value}: {e}")))
        };
        let opt = match options.opt_level {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        };
        set(&mut flags, "opt_level", opt)?;
        set(&mut flags, "enable_verifier", if options.verifier { "true" } else { "false" })?;
        set(&mut flags, "preserve_frame_pointers", "true")?;
        set(&mut flags, "enable_probestack", "true")?;
        set(&mut flags, "probestack_strategy", "inline")?;
        // Multi-value results beyond the return registers go to an implicit
        // return area (deprecated in Cranelift but the only caller-agnostic
        // way without a StructReturn parameter in kiln's ABI).
        set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
        // Bounds checks are the translator's business (see bounds.rs).
        set(&mut flags, "enable_heap_access_spectre_mitigation", "false")?;
        set(&mut flags, "enable_table_access_spectre_mitigation", "false")?;
        let isa = builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| CompileError::Codegen(format!("building the target ISA: {e}")))?;
        let ptr = isa.pointer_bytes();
        if ptr != 4 && ptr != 8 {
            return Err(CompileError::Unsupported(format!("pointer size {ptr}")));
        }
        Ok(Compiler { isa, options })
    }

    /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub fn triple(&self) -> String {
        self.isa.triple().to_string()
    }

    /// The target's architecture and operating system as Rust names them
    /// (`std::env::consts::ARCH` / `OS`: `x86_64`, `aarch64`, `linux`,
    /// `macos`, …), for `.aot` compatibility records.
    pub fn arch_and_os(&self) -> (String, String) {
        use target_lexicon::{Architecture, OperatingSystem};
        let t = self.isa.triple();
        let arch = match t.architecture {
            Architecture::X86_64 => "x86_64".to_string(),
            Architecture::Aarch64(_) => "aarch64".to_string(),
            Architecture::Riscv64(_) => "riscv64".to_string(),
            Architecture::S390x => "s390x".to_string(),
            a => a.to_string(),
        };
        let os = match t.operating_system {
            OperatingSystem::Linux => "linux".to_string(),
            OperatingSystem::Darwin(_) | OperatingSystem::MacOSX(_) => "macos".to_string(),
            OperatingSystem::Windows => "windows".to_string(),
            OperatingSystem::Freebsd => "freebsd".to_string(),
            o => o.to_string(),
        };
        (arch, os)
    }

    /// The CPU features the generated code may use: every ISA flag
    /// `has_*` that is on, by the name Rust's `is_x86_feature_detected!` /
    /// `is_aarch64_feature_detected!` use (`sse4.1`, `avx2`, `lse`, …);
    /// a flag without a known Rust name is reported as `cranelift:has_…`
    /// (no runtime can confirm it, so a file needing it is refused).
    pub fn cpu_features(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in self.isa.isa_flags() {
            if v.as_bool() != Some(true) {
                continue;
            }
            let Some(flag) = v.name.strip_prefix("has_") else { continue };
            let name = match flag {
                "sse41" => "sse4.1",
                "sse42" => "sse4.2",
                "avx_vnni" => "avxvnni",
                "pauth" => "paca",
                "sse3" | "ssse3" | "popcnt" | "avx" | "avx2" | "fma" | "bmi1" | "bmi2" | "lzcnt" | "cmpxchg16b"
                | "avx512f" | "avx512dq" | "avx512vl" | "avx512vbmi" | "avx512bitalg" | "avx512vnni" | "lse"
                | "fp16" | "dotprod" | "i8mm" => flag,
                _ => {
                    out.push(format!("cranelift:{}", v.name));
                    continue;
                }
            };
            out.push(name.to_string());
        }
        out.sort();
        out
    }

    /// The target's pointer size in bytes (4 or 8).
    pub fn pointer_bytes(&self) -> u8 {
        self.isa.pointer_bytes()
    }

    /// The options this compiler was built with.
    pub fn options(&self) -> &CompilerOptions {
        &self.options
    }

    /// The Cranelift ISA (with kiln's flags), for the runtime's trampolines.
    pub fn isa(&self) -> &dyn cranelift_codegen::isa::TargetIsa {
        &*self.isa
    }

    /// The Cranelift signature of a wasm function of type `ty` under
    /// kiln's wasm-call ABI (see the crate docs).
    pub fn wasm_signature(&self, ty: &kiln_environ::WasmFuncType) -> Result<ir::Signature, CompileError> {
        env::wasm_signature(self.isa.pointer_type(), ty)
    }

    /// Translates defined function `def` of `module` to Cranelift IR
    /// without compiling it (for inspection and tests).
    ///
    /// # Errors
    /// As [`Compiler::compile_function`], without code-generation errors.
    pub fn translate_function(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        def: DefinedFuncIndex,
    ) -> Result<ir::Function, CompileError> {
        with_scratch(|scratch| {
            translate::translate_function(&*self.isa, &self.options, module, wasm, def, None, &mut scratch.fctx)
        })
    }

    /// Compiles the OSR entry of defined function `def` for the loops whose
    /// `loop` operators are at the byte offsets `loops` (of the module): the
    /// whole function, entered at the header of one of them.
    ///
    /// ABI: the array-call shape in the target's default C calling
    /// convention, `(callee: *const VMFuncRef, caller_vmctx, slots: *mut
    /// ValRaw, loop_index: usize) -> i8`. `loop_index` picks the loop
    /// (`loops[loop_index]`); on entry `slots` holds every local
    /// (parameters first) then the operand stack at that loop's header,
    /// bottom first (the loop's parameters on top), one 8-byte `ValRaw`
    /// slot each. The entry jumps into the loop with those values and runs
    /// the function to its end, then stores the results into `slots` from
    /// index 0 and returns `1`. Traps and failed calls unwind like any
    /// compiled code; an index out of range, or a loop in unreachable code,
    /// traps with `InternalError`. Used by the runtime's on-stack
    /// replacement (`kiln_runtime::tier`).
    ///
    /// # Errors
    /// As [`Compiler::compile_function`].
    pub fn compile_osr_entry(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        def: DefinedFuncIndex,
        loops: &[u32],
    ) -> Result<CompiledCode<'static>, CompileError> {
        let func = with_scratch(|scratch| {
            translate::translate_function(&*self.isa, &self.options, module, wasm, def, Some(loops), &mut scratch.fctx)
        })?;
        self.compile_ir(func, CodeKind::OsrEntry, module.func_index(def).0)
    }

    /// Compiles defined function `def` of `module` (whose binary is
    /// `wasm`, already validated by [`ModuleInfo::parse`]) to machine code
    /// with the wasm-call ABI.
    ///
    /// # Errors
    /// [`CompileError::Unsupported`] for constructs not translated (SIMD,
    /// memory64, …); [`CompileError::Wasm`] for a body that does not
    /// decode; [`CompileError::Codegen`] if Cranelift fails (verifier
    /// errors included).
    pub fn compile_function(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        def: DefinedFuncIndex,
    ) -> Result<CompiledCode<'static>, CompileError> {
        let func = self.translate_function(module, wasm, def)?;
        self.compile_ir(func, CodeKind::Function, module.func_index(def).0)
    }

    /// Cranelift's optimised IR and the lowered machine instructions
    /// (VCode text, after register allocation) of defined function `def`,
    /// for inspecting generated code (`examples/dump_native.rs`).
    ///
    /// # Errors
    /// As [`Compiler::compile_function`].
    pub fn disassemble_function(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        def: DefinedFuncIndex,
    ) -> Result<String, CompileError> {
        self.disassemble(self.translate_function(module, wasm, def)?)
    }

    /// As [`Compiler::disassemble_function`], for the OSR entry of `def`
    /// (see [`Compiler::compile_osr_entry`]).
    ///
    /// # Errors
    /// As [`Compiler::compile_osr_entry`].
    pub fn disassemble_osr_entry(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        def: DefinedFuncIndex,
        loops: &[u32],
    ) -> Result<String, CompileError> {
        let func = with_scratch(|scratch| {
            translate::translate_function(&*self.isa, &self.options, module, wasm, def, Some(loops), &mut scratch.fctx)
        })?;
        self.disassemble(func)
    }

    fn disassemble(&self, func: ir::Function) -> Result<String, CompileError> {
        let mut ctx = Context::for_function(func);
        ctx.set_disasm(true);
        let compiled = ctx
            .compile(&*self.isa, &mut Default::default())
            .map_err(|e| CompileError::Codegen(format!("{:?}", e.inner)))?;
        let vcode = compiled.vcode.clone().unwrap_or_default();
        Ok(format!("{}\n{vcode}", ctx.func.display()))
    }

    /// Compiles a function already translated to Cranelift IR, as code of
    /// `kind` for `index` (see [`CompiledCode::index`]).
    fn compile_ir(
        &self,
        func: ir::Function,
        kind: CodeKind,
        index: u32,
    ) -> Result<CompiledCode<'static>, CompileError> {
        // Direct-call targets: user external names in namespace
        // `DIRECT_CALL_NAMESPACE` whose index is the callee's defined index.
        let user_names: Vec<(ir::UserExternalNameRef, ir::UserExternalName)> =
            func.params.user_named_funcs().iter().map(|(r, n)| (r, n.clone())).collect();
        with_scratch(|scratch| {
            let ctx = &mut scratch.ctx;
            ctx.clear();
            ctx.func = func;
            let compiled = ctx
                .compile(&*self.isa, &mut Default::default())
                .map_err(|e| CompileError::Codegen(format!("{:?}", e.inner)))?;
            Self::finish_compiled(&*self.isa, compiled, &user_names, kind, index)
        })
    }

    /// Extracts kiln's [`CompiledCode`] from Cranelift's result: trap
    /// sites by kiln trap code, relocations in the model's kinds and
    /// targets (Cranelift libcalls by [`LibCall`]).
    fn finish_compiled(
        isa: &dyn cranelift_codegen::isa::TargetIsa,
        compiled: &cranelift_codegen::CompiledCode,
        user_names: &[(ir::UserExternalNameRef, ir::UserExternalName)],
        kind: CodeKind,
        index: u32,
    ) -> Result<CompiledCode<'static>, CompileError> {
        let buffer = &compiled.buffer;
        let mut traps = Vec::with_capacity(buffer.traps().len());
        for t in buffer.traps() {
            let code = trap_code_from_cranelift(t.code)
                .ok_or_else(|| CompileError::Codegen(format!("unknown trap code {} at {:#x}", t.code, t.offset)))?;
            traps.push(TrapSite { code_offset: t.offset, code });
        }
        traps.sort_by_key(|t| t.code_offset);
        let mut relocs = Vec::new();
        for r in buffer.relocs() {
            let target = match &r.target {
                FinalizedRelocTarget::ExternalName(ir::ExternalName::LibCall(lc)) => {
                    let name = format!("{lc:?}");
                    RelocTarget::LibCall(
                        LibCall::from_name(&name)
                            .ok_or_else(|| CompileError::Unsupported(format!("Cranelift library call {name}")))?,
                    )
                }
                FinalizedRelocTarget::ExternalName(ir::ExternalName::User(r)) => {
                    match user_names.iter().find(|(k, _)| k == r) {
                        Some((_, n)) if n.namespace == DIRECT_CALL_NAMESPACE => {
                            RelocTarget::Function(DefinedFuncIndex(n.index))
                        }
                        Some((_, n)) if n.namespace == TRAMPOLINE_NAMESPACE => RelocTarget::Trampoline(n.index),
                        _ => return Err(CompileError::Codegen(format!("unexpected relocation target {r:?}"))),
                    }
                }
                other => return Err(CompileError::Codegen(format!("unexpected relocation target {other:?}"))),
            };
            let reloc_kind = match r.kind {
                Reloc::Abs8 => RelocKind::Abs8,
                Reloc::X86PCRel4 => RelocKind::X86PCRel4,
                Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 => RelocKind::X86CallPCRel4,
                Reloc::Arm64Call => RelocKind::Arm64Call,
                other => return Err(CompileError::Unsupported(format!("relocation kind {other:?}"))),
            };
            relocs.push(Relocation { offset: r.offset, kind: reloc_kind, target, addend: r.addend });
        }
        Ok(CompiledCode {
            kind,
            index,
            code: std::borrow::Cow::Owned(buffer.data().to_vec()),
            alignment: compiled.buffer.alignment.max(isa.function_alignment().minimum),
            traps: traps.into(),
            relocs: relocs.into(),
        })
    }
}

/// Per-thread Cranelift contexts, reused from one function to the next so
/// that their buffers (IR, CFG, dominator tree, register allocator) are
/// not reallocated for every function (Cranelift's advice for `Context`).
struct Scratch {
    ctx: Context,
    fctx: FunctionBuilderContext,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Option<Scratch>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's [`Scratch`] (a fresh one if it is in use,
/// e.g. by a nested call, or if thread-locals are being torn down).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let taken = SCRATCH.try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.take())).ok().flatten();
    let mut scratch = taken.unwrap_or_else(|| Scratch { ctx: Context::new(), fctx: FunctionBuilderContext::new() });
    let r = f(&mut scratch);
    let _ = SCRATCH.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            *s = Some(scratch);
        }
    });
    r
}

/// The Cranelift trap code for a kiln trap: `TrapCode::user(code byte)`.
pub fn trap_code_to_cranelift(code: TrapCode) -> ir::TrapCode {
    // kiln codes are 1..=15 (never 0), within Cranelift's user range 1..=250.
    ir::TrapCode::unwrap_user(code.to_u8())
}

/// Maps a Cranelift trap code back to kiln's: user codes are kiln bytes,
/// Cranelift's reserved codes map to their kiln equivalent.
pub fn trap_code_from_cranelift(code: ir::TrapCode) -> Option<TrapCode> {
    Some(match code {
        ir::TrapCode::STACK_OVERFLOW => TrapCode::StackOverflow,
        ir::TrapCode::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ir::TrapCode::HEAP_OUT_OF_BOUNDS => TrapCode::MemoryOutOfBounds,
        ir::TrapCode::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
        ir::TrapCode::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        other => return TrapCode::from_u8(other.as_raw().get()),
    })
}

/// Namespace of the `UserExternalName`s naming direct-call targets (index
/// = defined function index); 2 and 3 name the trampolines.
pub(crate) const DIRECT_CALL_NAMESPACE: u32 = 0;

/// Namespace of the symbols naming the wasm→array trampoline of a type
/// (index = the module's type index): [`RelocTarget::Trampoline`].
pub(crate) const TRAMPOLINE_NAMESPACE: u32 = 1;

/// The calling convention of every wasm function.
pub const WASM_CALL_CONV: CallConv = CallConv::Tail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_codes_round_trip() {
        for code in TrapCode::ALL {
            assert_eq!(trap_code_from_cranelift(trap_code_to_cranelift(code)), Some(code));
        }
        assert_eq!(trap_code_from_cranelift(ir::TrapCode::HEAP_OUT_OF_BOUNDS), Some(TrapCode::MemoryOutOfBounds));
        assert_eq!(trap_code_from_cranelift(ir::TrapCode::INTEGER_OVERFLOW), Some(TrapCode::IntegerOverflow));
    }

    #[test]
    fn compiler_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Compiler>();
    }

    #[test]
    fn cpu_features_and_target_names() {
        let c = Compiler::for_target("x86_64-unknown-linux-gnu", CompilerOptions::default()).unwrap();
        assert_eq!(c.arch_and_os(), ("x86_64".to_string(), "linux".to_string()));
        // Baseline x86-64 for a cross target: no optional extension.
        assert!(c.cpu_features().iter().all(|f| !f.starts_with("avx")), "{:?}", c.cpu_features());
        let a = Compiler::for_target("aarch64-apple-darwin", CompilerOptions::default()).unwrap();
        assert_eq!(a.arch_and_os(), ("aarch64".to_string(), "macos".to_string()));
        let native = Compiler::native(CompilerOptions::default()).unwrap();
        assert_eq!(native.arch_and_os(), (std::env::consts::ARCH.to_string(), std::env::consts::OS.to_string()));
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("sse4.1") {
            assert!(native.cpu_features().contains(&"sse4.1".to_string()), "{:?}", native.cpu_features());
        }
    }

    #[test]
    fn targets() {
        let c = Compiler::for_target("aarch64-unknown-linux-gnu", CompilerOptions::default()).unwrap();
        assert_eq!(c.pointer_bytes(), 8);
        assert!(Compiler::for_target("not-a-triple-at-all", CompilerOptions::default()).is_err());
    }
}
