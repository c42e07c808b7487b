//! The `jit` strategy: every defined function of a module is compiled by
//! kiln's Cranelift translator (`kiln-compiler`) when the [`Module`] is
//! created, in parallel on all cores, and loaded as the module's
//! [`NativeCode`]; host functions get per-signature wasm→array trampolines
//! from the engine ([`HostTrampolines`]).
//!
//! [`Module`]: crate::Module

use crate::{Config, Error, Result};
use kiln_aot_format::{DefinedFuncIndex, LibCall, TrapCode, VMSharedTypeIndex, WasmFuncType};
use kiln_compiler::{BoundsChecks, CompiledFunction, Compiler, CompilerOptions, OptLevel, Reloc, RelocTarget};
use kiln_runtime::code_memory::RelocKind;
use kiln_runtime::native::{HostTrampolines, NativeCode, NativeFunction, NativeReloc, NativeRelocTarget, TRAMPOLINE_INDEX};
use kiln_runtime::{MemoryConfig, RuntimeModule};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// An engine's compiler and its cache of host-call trampolines.
pub(crate) struct Jit {
    compiler: Compiler,
    /// Worker threads for module compilation.
    threads: usize,
    host: Mutex<HostTrampolineCache>,
}

#[derive(Default)]
struct HostTrampolineCache {
    by_type: HashMap<VMSharedTypeIndex, usize>,
    /// Keeps the trampolines mapped and registered.
    code: Vec<NativeCode>,
}

/// The compiler options matching the runtime's memory layout: guard-region
/// bounds checks are elided only when the reservation covers 4 GiB (the
/// compiler decides per access; see `kiln_compiler::BoundsChecks`).
pub(crate) fn compiler_options(config: &Config) -> CompilerOptions {
    let memory: MemoryConfig = config.memory;
    CompilerOptions {
        opt_level: OptLevel::Speed,
        bounds: BoundsChecks::Guard { reservation: memory.reservation, guard: memory.guard },
        verifier: false,
        // The whole module is compiled and loaded at once.
        direct_calls: true,
        epoch_interruption: config.epoch_interruption,
    }
}

impl Jit {
    /// A compiler for the host CPU (`cranelift_native`).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] when Cranelift does not support
    /// the host.
    pub(crate) fn new(config: &Config) -> Result<Jit> {
        let compiler = Compiler::native(compiler_options(config))
            .map_err(|e| Error::unsupported(format!("the JIT cannot target this host: {e}")))?;
        let threads = match config.compile_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Jit { compiler, threads, host: Mutex::new(HostTrampolineCache::default()) })
    }

    /// Compiles every defined function of `module` and its array→wasm
    /// trampolines, in parallel, and loads the result.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] for constructs the translator
    /// does not handle; [`crate::ErrorKind::Other`] for code generation or
    /// mapping failures (with the function index).
    pub(crate) fn compile_module(&self, module: &RuntimeModule) -> Result<NativeCode> {
        let info = &module.info;
        let ndef = info.num_defined_funcs() as usize;
        // One array→wasm trampoline per distinct signature.
        let mut sig_slot: HashMap<VMSharedTypeIndex, usize> = HashMap::new();
        let mut sigs: Vec<&WasmFuncType> = Vec::new();
        let mut def_sig = Vec::with_capacity(ndef);
        for d in 0..ndef {
            let fi = info.func_index(DefinedFuncIndex(d as u32));
            let ty_index = info.functions[fi.index()].index();
            let id = module.type_ids[ty_index];
            let slot = *sig_slot.entry(id).or_insert_with(|| {
                sigs.push(&info.types[ty_index]);
                sigs.len() - 1
            });
            def_sig.push(slot);
        }

        let jobs = ndef + sigs.len();
        let compile = |job: usize| -> Result<CompiledFunction> {
            let r = if job < ndef {
                self.compiler.compile_function(info, &module.wasm, DefinedFuncIndex(job as u32))
            } else {
                self.compiler.compile_array_to_wasm_trampoline(sigs[job - ndef])
            };
            r.map_err(|e| {
                let what = if job < ndef {
                    format!("function {}", info.func_index(DefinedFuncIndex(job as u32)).0)
                } else {
                    "a trampoline".to_string()
                };
                match e {
                    kiln_compiler::CompileError::Unsupported(m) => Error::unsupported(format!("JIT: {what}: {m}")),
                    e => Error::msg(format!("JIT: compiling {what}: {e}")),
                }
            })
        };
        let mut results: Vec<Option<Result<CompiledFunction>>> = (0..jobs).map(|_| None).collect();
        // Small modules compile on the calling thread; larger ones on up
        // to `threads` workers pulling jobs from a shared counter (largest
        // bodies are not scheduled first: jobs are in module order).
        let body_bytes: usize = info.function_bodies.iter().map(|b| b.range.len()).sum();
        let workers = self.threads.min(jobs).min(1 + body_bytes / (16 * 1024));
        if workers <= 1 {
            for (job, slot) in results.iter_mut().enumerate() {
                *slot = Some(compile(job));
            }
        } else {
            let next = AtomicUsize::new(0);
            let done: Mutex<Vec<(usize, Result<CompiledFunction>)>> = Mutex::new(Vec::with_capacity(jobs));
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(|| {
                        let mut local = Vec::new();
                        loop {
                            let job = next.fetch_add(1, Ordering::Relaxed);
                            if job >= jobs {
                                break;
                            }
                            local.push((job, compile(job)));
                        }
                        done.lock().unwrap_or_else(|e| e.into_inner()).extend(local);
                    });
                }
            });
            for (job, r) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
                results[job] = Some(r);
            }
        }
        let compiled: Vec<CompiledFunction> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::msg("JIT: a compile job did not run"))))
            .collect::<Result<_>>()?;

        let parts = compiled.iter().map(native_parts).collect::<Result<Vec<_>>>()?;
        let functions: Vec<NativeFunction<'_>> = compiled
            .iter()
            .zip(&parts)
            .enumerate()
            .map(|(job, (f, (traps, relocs)))| NativeFunction {
                code: &f.code,
                alignment: f.alignment,
                traps,
                relocs,
                func_index: if job < ndef { info.func_index(DefinedFuncIndex(job as u32)).0 } else { TRAMPOLINE_INDEX },
            })
            .collect();
        let defined: Vec<(u32, u32)> = (0..ndef).map(|d| (d as u32, (ndef + def_sig[d]) as u32)).collect();
        NativeCode::load(&functions, &defined)
    }
}

/// A function's trap table and relocations in the runtime's terms.
type NativeParts = (Vec<(u32, TrapCode)>, Vec<NativeReloc>);

/// A compiled function's trap table and relocations in the runtime's terms.
fn native_parts(f: &CompiledFunction) -> Result<NativeParts> {
    let traps = f.traps.iter().map(|t| (t.code_offset, t.code)).collect();
    let mut relocs = Vec::with_capacity(f.relocs.len());
    for r in &f.relocs {
        let kind = match r.kind {
            Reloc::Abs8 => RelocKind::Abs8,
            Reloc::X86PCRel4 => RelocKind::X86PCRel4,
            Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 => RelocKind::X86CallPCRel4,
            Reloc::Arm64Call => RelocKind::Arm64Call,
            other => return Err(Error::unsupported(format!("JIT: relocation kind {other:?}"))),
        };
        let target = match &r.target {
            RelocTarget::LibCall(name) => NativeRelocTarget::LibCall(
                LibCall::from_name(name).ok_or_else(|| Error::unsupported(format!("JIT: library call {name}")))?,
            ),
            // Defined functions come first in the module's batch, in order.
            RelocTarget::Function(def) => NativeRelocTarget::Function(def.0),
        };
        relocs.push(NativeReloc { offset: r.offset, kind, target, addend: r.addend });
    }
    Ok((traps, relocs))
}

impl HostTrampolines for Jit {
    fn wasm_to_array(&self, id: VMSharedTypeIndex, ty: &WasmFuncType) -> kiln_runtime::Result<*const u8> {
        let mut cache = self.host.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&p) = cache.by_type.get(&id) {
            return Ok(p as *const u8);
        }
        let f = self
            .compiler
            .compile_wasm_to_array_trampoline(ty)
            .map_err(|e| Error::unsupported(format!("JIT: host-call trampoline for {ty:?}: {e}")))?;
        let (traps, relocs) = native_parts(&f)?;
        let code = NativeCode::load(
            &[NativeFunction { code: &f.code, alignment: f.alignment, traps: &traps, relocs: &relocs, func_index: TRAMPOLINE_INDEX }],
            &[],
        )?;
        let p = code.func_ptr(0);
        cache.by_type.insert(id, p as usize);
        cache.code.push(code);
        Ok(p)
    }
}
