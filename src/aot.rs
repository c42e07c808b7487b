//! Ahead-of-time compilation into kiln's `.aot` file (`aotc`), and loading
//! such files ([`Module::from_aot_bytes`], [`Module::from_aot_file`]).
//!
//! [`compile`] validates a module, compiles every defined function, one
//! array→wasm trampoline per function signature and one wasm→array
//! trampoline per signature that compiled calls need (callees without
//! native code: host functions, interpreted functions of other modules)
//! with the same compiler code as the JIT (`kiln-compiler`, direct calls
//! between the module's functions), and writes the file with
//! `kiln_aot_format::file::write_aot` (format: `aot-format/FORMAT.md`).
//!
//! Loading checks the file (`AotFile::parse`: magic, version, checksum,
//! bounds), its compatibility with this process and engine
//! (`kiln_runtime::aot::check_compat`), maps its code and links it
//! (`kiln_runtime::aot::load_code`), and makes a module whose functions
//! are all native from the first call. An incompatible file that embeds
//! its wasm is recompiled instead when the engine allows it
//! ([`Config::aot_fallback`](crate::Config::aot_fallback)).

use crate::{Config, Engine, Error, Module, Result};
use kiln_aot_format::AotError;
use kiln_aot_format::compiled::CodeKind;
use kiln_aot_format::file::{AotBounds, AotFile};
use kiln_runtime::RuntimeModule;
use kiln_runtime::aot::{AotRequirements, TextSource, check_compat};
use std::path::Path;

pub use kiln_aot_format::file::AotOptLevel;

/// Options of [`compile`] beyond the engine configuration.
#[derive(Clone, Debug, Default)]
pub struct AotOptions {
    /// Target triple (target-lexicon syntax, e.g.
    /// `aarch64-unknown-linux-gnu`) with Cranelift's baseline CPU features;
    /// `None`: this host, with every feature its CPU has.
    pub target: Option<String>,
    /// Optimisation level.
    pub opt_level: AotOptLevel,
    /// Embed the wasm binary in the file, so that a runtime that cannot use
    /// the code (another CPU, version or configuration) can recompile it.
    pub embed_wasm: bool,
    /// Compile threads (0: one per core).
    pub threads: usize,
}

/// What an engine's configuration requires of `.aot` code.
pub(crate) fn requirements(config: &Config) -> AotRequirements {
    AotRequirements {
        bounds: bounds_of(config),
        epoch_interruption: config.epoch_interruption,
        wasm_features: config.features.0.bits(),
    }
}

fn bounds_of(config: &Config) -> AotBounds {
    AotBounds::Guard { reservation: config.memory.reservation, guard: config.memory.guard }
}

/// Compiles `wasm` (binary or text) into the bytes of an `.aot` file for
/// engines configured like `config` (memory layout, epoch interruption and
/// wasm features must match where it is loaded).
///
/// # Errors
/// [`crate::ErrorKind::Compile`] for invalid wasm (offset and reason);
/// [`crate::ErrorKind::Unsupported`] for an unknown target or a construct
/// the compiler does not translate (SIMD); other errors name the function.
/// [`crate::ErrorKind::Unsupported`] as well in builds without the
/// `cranelift` feature.
pub fn compile(config: &Config, wasm: &[u8], options: &AotOptions) -> Result<Vec<u8>> {
    #[cfg(feature = "cranelift")]
    {
        compiler::compile(config, wasm, options)
    }
    #[cfg(not(feature = "cranelift"))]
    {
        let _ = (config, wasm, options);
        Err(Error::unsupported(crate::config::NO_COMPILER))
    }
}

#[cfg(feature = "cranelift")]
mod compiler {
    use super::*;
    use crate::jit::{compile_jobs, compiler_options};
    use kiln_aot_format::compiled::{CompiledModule, DefinedEntry, RelocTarget};
    use kiln_aot_format::file::{AotInput, Compat, write_aot};
    use kiln_compiler::{Compiler, OptLevel};
    use kiln_environ::{DefinedFuncIndex, ModuleInfo, PtrSize, WasmFuncType};
    use sha2::Digest;
    use std::collections::HashMap;

    pub(super) fn compile(config: &Config, wasm: &[u8], options: &AotOptions) -> Result<Vec<u8>> {
        let binary;
        let wasm = if wasm.starts_with(b"\0asm") {
            wasm
        } else {
            binary = crate::wat_to_binary(wasm)?;
            &binary
        };
        let info = ModuleInfo::parse(wasm, config.features).map_err(Error::compile)?;
        let mut copts = compiler_options(config);
        copts.direct_calls = true;
        // Trampolines are in the file's text: on x86-64 reference them
        // PC-relatively (resolved by aotc, no load-time relocation). AArch64
        // would need ADRP/ADD page relocations, which the format does not
        // carry yet: absolute addresses patched at load there.
        let target_is_x86_64 =
            options.target.as_deref().map_or(cfg!(target_arch = "x86_64"), |t| t.starts_with("x86_64"));
        copts.trampolines_in_image = target_is_x86_64;
        copts.opt_level = match options.opt_level {
            AotOptLevel::None => OptLevel::None,
            AotOptLevel::Speed => OptLevel::Speed,
            AotOptLevel::SpeedAndSize => OptLevel::SpeedAndSize,
        };
        let compiler = match &options.target {
            None => Compiler::native(copts),
            Some(t) => Compiler::for_target(t, copts),
        }
        .map_err(|e| {
            let why = match e {
                kiln_compiler::CompileError::Unsupported(m) => m,
                e => e.to_string(),
            };
            let target = options.target.as_deref().unwrap_or("this host");
            Error::unsupported(format!(
                "aotc: cannot compile for {target}: {why} (this kiln's Cranelift has the x86_64 and aarch64 back ends)"
            ))
        })?;

        // Structurally equal types share trampolines: `shape[ty]` is the
        // first type index with the same signature.
        let mut first: HashMap<&WasmFuncType, u32> = HashMap::new();
        let shape: Vec<u32> = info.types.iter().enumerate().map(|(i, t)| *first.entry(t).or_insert(i as u32)).collect();
        let ndef = info.num_defined_funcs() as usize;
        let def_type = |d: usize| info.functions[info.func_index(DefinedFuncIndex(d as u32)).index()].0;
        let (mut array_slot, mut array_types) = (HashMap::new(), Vec::new());
        for d in 0..ndef {
            intern(&mut array_slot, &mut array_types, shape[def_type(d) as usize]);
        }
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let what = |job: usize| {
            if job < ndef {
                format!("function {}", info.func_index(DefinedFuncIndex(job as u32)).0)
            } else {
                "a trampoline".into()
            }
        };
        let body_bytes: usize = info.function_bodies.iter().map(|b| b.range.len()).sum();
        let compiled = compile_jobs(threads, ndef + array_types.len(), body_bytes, |job| {
            let r = if job < ndef {
                compiler.compile_function(&info, wasm, DefinedFuncIndex(job as u32))
            } else {
                let ty = array_types[job - ndef];
                compiler.compile_array_to_wasm_trampoline(&info.types[ty as usize], ty)
            };
            r.map_err(|e| aot_compile_error(e, &what(job)))
        })?;
        // wasm→array trampolines for the types compiled calls fall back on.
        let (mut w2a_slot, mut w2a_types) = (HashMap::new(), Vec::new());
        for f in &compiled {
            for r in f.relocs.iter() {
                if let RelocTarget::Trampoline(ty) = r.target {
                    let s =
                        *shape.get(ty as usize).ok_or_else(|| Error::msg(format!("aotc: trampoline for type {ty}")))?;
                    intern(&mut w2a_slot, &mut w2a_types, s);
                }
            }
        }
        let w2a = compile_jobs(threads, w2a_types.len(), 0, |k| {
            compiler
                .compile_wasm_to_array_trampoline(&info.types[w2a_types[k] as usize], w2a_types[k])
                .map_err(|e| aot_compile_error(e, "a trampoline"))
        })?;
        let w2a_base = compiled.len();

        // Code entries: the defined functions in order, their array→wasm
        // trampolines, then the wasm→array trampolines (which the writer
        // resolves `RelocTarget::Trampoline` to, through
        // `type_trampolines`).
        let mut code = compiled;
        code.extend(w2a);
        let defined = (0..ndef)
            .map(|d| DefinedEntry {
                func: DefinedFuncIndex(d as u32),
                code: d as u32,
                array_to_wasm: (ndef + array_slot[&shape[def_type(d) as usize]]) as u32,
            })
            .collect();
        let type_trampolines = shape.iter().map(|s| w2a_slot.get(s).map(|&k| (w2a_base + k) as u32)).collect();
        let module = CompiledModule { code, defined, type_trampolines };
        let (arch, os) = compiler.arch_and_os();
        let compat = Compat {
            kiln_version: kiln_runtime::aot::KILN_VERSION.to_string(),
            target_triple: compiler.triple(),
            arch: arch.clone(),
            os,
            pointer_bytes: compiler.pointer_bytes(),
            cpu_features: compiler.cpu_features(),
            opt_level: options.opt_level,
            bounds: bounds_of(config),
            epoch_interruption: config.epoch_interruption,
            wasm_features: config.features.0.bits(),
            layout_fingerprint: kiln_environ::vm::layout_fingerprint(PtrSize(compiler.pointer_bytes())),
            wasm_sha256: sha2::Sha256::digest(wasm).into(),
            compiler: "cranelift 0.135".to_string(),
        };
        let input = AotInput {
            compat,
            info: &info,
            wasm,
            embed_wasm: options.embed_wasm,
            module: &module,
            text_align: if arch == "aarch64" { 65536 } else { 4096 },
        };
        write_aot(&input).map_err(|e| Error::msg(format!("aotc: {e}")))
    }

    /// The slot of type `ty` in `types` (the trampolines to compile, in
    /// first-use order), appending it the first time.
    fn intern(slots: &mut HashMap<u32, usize>, types: &mut Vec<u32>, ty: u32) -> usize {
        *slots.entry(ty).or_insert_with(|| {
            types.push(ty);
            types.len() - 1
        })
    }

    fn aot_compile_error(e: kiln_compiler::CompileError, what: &str) -> Error {
        match e {
            kiln_compiler::CompileError::Unsupported(m) => Error::unsupported(format!("aotc: {what}: {m}")),
            e => Error::msg(format!("aotc: compiling {what}: {e}")),
        }
    }
}

/// Loads a checked `.aot` image into a module of `engine`.
fn load(engine: &Engine, bytes: &[u8], source: TextSource) -> Result<Module> {
    let file = AotFile::parse(bytes).map_err(Error::aot)?;
    let config = &engine.inner.config;
    if let Err(e) = check_compat(&file.compat, &requirements(config)) {
        if matches!(e, AotError::Incompatible { .. })
            && config.aot_fallback
            && let Some(wasm) = file.wasm
        {
            // The code is unusable here but the wasm is in the file.
            return Module::new(engine, wasm);
        }
        return Err(Error::aot(e));
    }
    let info = file.module_info().map_err(Error::aot)?;
    let code = kiln_runtime::aot::load_code(&file, source)?;
    let wasm = file.wasm.map(<[u8]>::to_vec).unwrap_or_default();
    let rt = RuntimeModule::from_parts(
        info,
        wasm,
        Some(file.data.to_vec()),
        engine.inner.registry.clone(),
        kiln_runtime::tier_entries(),
    );
    rt.set_native(code)?;
    Ok(Module { engine: engine.clone(), rt })
}

impl Module {
    /// Loads an `.aot` file from bytes in memory (its code is copied into
    /// an executable mapping). Every function is native from the start.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Aot`] ([`Error::as_aot`]) when the bytes are not
    /// an `.aot` file, are truncated or corrupt (checksum), malformed
    /// (out-of-range offsets), or were compiled for another target, CPU,
    /// kiln version, VMContext layout or engine configuration — unless the
    /// file embeds its wasm and [`Config::aot_fallback`] is on, in which case
    /// the wasm is compiled as by [`Module::new`].
    pub fn from_aot_bytes(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        load(engine, bytes, TextSource::Bytes)
    }

    /// Loads the `.aot` file at `path`, memory-mapping it once (`memmap2`,
    /// private, pages populated up front): the code runs in place from that
    /// mapping (read+execute after linking, copy-on-write for the pages a
    /// relocation patches), and the mapping lives as long as the module.
    /// Errors as [`Module::from_aot_bytes`], plus I/O errors.
    ///
    /// The file must not be modified while the module lives (a truncated
    /// mapping faults, as for any mapped executable).
    pub fn from_aot_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let f = std::fs::File::open(path).map_err(|e| Error::msg(format!("cannot open {}: {e}", path.display())))?;
        // SAFETY: the mapping is private (copy-on-write) and read-only
        // except for the text pages, which the loader makes writable only
        // while relocating; kiln never writes the file. Another process
        // truncating or rewriting the file while it is mapped could change
        // unwritten pages under us (as for any mapped executable); the
        // checksum is verified on the mapped bytes before anything is used.
        let map = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&f) }
            .map_err(|e| Error::msg(format!("cannot map {}: {e}", path.display())))?;
        let map = std::sync::Arc::new(map);
        load(engine, &map, TextSource::Mapped(map.clone())).map_err(|e| {
            if e.kind() == crate::ErrorKind::Aot { e } else { Error::msg(format!("{}: {e}", path.display())) }
        })
    }
}

/// Whether `bytes` start like an `.aot` file.
pub fn is_aot(bytes: &[u8]) -> bool {
    bytes.starts_with(&kiln_aot_format::file::MAGIC)
}

/// Whether the file at `path` starts like an `.aot` file (reads its first
/// 8 bytes; `false` if it cannot be read).
pub fn is_aot_file(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| is_aot(&magic))
}

/// A human-readable description of an `.aot` file: header, compatibility
/// record, sections, code entries and the module's shape (`kiln inspect`).
///
/// # Errors
/// As [`AotFile::parse`].
pub fn inspect(bytes: &[u8]) -> Result<String> {
    use std::fmt::Write;
    let file = AotFile::parse(bytes).map_err(Error::aot)?;
    let info = file.module_info().map_err(Error::aot)?;
    let c = &file.compat;
    let mut s = String::new();
    let hex: String = c.wasm_sha256.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(s, "kiln .aot file, format version {}, {} bytes, checksum ok", file.version, bytes.len());
    let _ = writeln!(s, "  kiln version      {}", c.kiln_version);
    let _ = writeln!(s, "  compiler          {}", c.compiler);
    let _ =
        writeln!(s, "  target            {} ({}-{}, {}-byte pointers)", c.target_triple, c.arch, c.os, c.pointer_bytes);
    let _ = writeln!(
        s,
        "  cpu features      {}",
        if c.cpu_features.is_empty() { "(baseline)".to_string() } else { c.cpu_features.join(",") }
    );
    let _ = writeln!(s, "  opt level         {:?}", c.opt_level);
    let _ = writeln!(s, "  bounds checks     {:?}", c.bounds);
    let _ = writeln!(s, "  epoch checks      {}", c.epoch_interruption);
    let _ = writeln!(s, "  wasm features     {:#x}", c.wasm_features);
    let _ = writeln!(s, "  layout            {:016x}", c.layout_fingerprint);
    let _ = writeln!(s, "  wasm sha256       {hex}");
    let _ = writeln!(
        s,
        "  embedded wasm     {}",
        file.wasm.map_or("no".to_string(), |w| format!("yes, {} bytes", w.len()))
    );
    let _ = writeln!(s, "sections:");
    for sec in &file.sections {
        let _ = writeln!(
            s,
            "  {:<9} offset {:#010x}  {:>10} bytes",
            kiln_aot_format::file::section::name(sec.id),
            sec.offset,
            sec.len
        );
    }
    let count = |k: CodeKind| file.code.iter().filter(|e| e.kind == k).count();
    let _ = writeln!(
        s,
        "code: {} entries ({} functions, {} array→wasm and {} wasm→array trampolines), {} bytes of text, {} trap sites, {} relocations",
        file.code.len(),
        count(CodeKind::Function),
        count(CodeKind::ArrayToWasm),
        count(CodeKind::WasmToArray),
        file.text.len(),
        file.traps.len(),
        file.relocs.len()
    );
    let _ = writeln!(
        s,
        "module: {} types, {} imports, {} functions ({} defined), {} tables, {} memories, {} globals, {} exports, {} data segments ({} bytes), {} element segments, {} named functions",
        info.types.len(),
        info.imports.len(),
        info.functions.len(),
        info.num_defined_funcs(),
        info.tables.len(),
        info.memories.len(),
        info.globals.len(),
        info.exports.len(),
        info.data_segments.len(),
        file.data.len(),
        info.elem_segments.len(),
        info.func_names.len()
    );
    Ok(s)
}
