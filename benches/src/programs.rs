//! WASI preview1 programs: the Sightglass commands of the bench-inputs
//! folder and QuickJS, what they must print, and how kiln and Wasmtime run
//! them with their output captured in memory.
//!
//! A program runs as its folder's README describes: a WASI command whose
//! folder is preopened as `.` (WASI preview1 has no working directory:
//! wasi-libc resolves relative paths such as `./default.input` against the
//! preopen named `.`), argv = the module's file name, no environment, empty
//! stdin, and the `bench.start`/`bench.end` imports defined as no-op host
//! functions. A run must exit with status 0 and write exactly the expected
//! stdout and stderr (where the folder has expected files).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

/// The environment variable naming the bench-inputs folder.
pub const INPUTS_VAR: &str = "KILN_BENCH_INPUTS";

/// Bytes a program may write to stdout or to stderr (pulldown-cmark writes
/// 1.2 MB to stderr); a program that writes more fails its check.
pub const OUTPUT_LIMIT: usize = 64 << 20;

/// Sightglass folders that need SIMD, which kiln's default configuration
/// (Wasm 2.0 without SIMD) does not accept.
pub const SIMD_FOLDERS: &[&str] = &["blake3-simd", "hex-simd", "intgemm-simd"];

/// The QuickJS folder in the bench-inputs folder.
pub const QUICKJS_DIR: &str = "quickjs";
/// The QuickJS module in [`QUICKJS_DIR`].
pub const QUICKJS_WASM: &str = "qjs-wasi.wasm";
/// QuickJS evaluating a loop of a million iterations: long enough for the
/// interpreter loop of QuickJS itself to dominate.
pub const QUICKJS_LOOP_ARGV: &[&str] = &["qjs", "-e", "let s=0;for(let i=0;i<1e6;i++)s+=i%7;console.log(s)"];
/// What [`QUICKJS_LOOP_ARGV`] prints.
pub const QUICKJS_LOOP_STDOUT: &str = "2999997\n";

/// Imports of the `bench` module that Sightglass programs call around their
/// measured region; every runtime defines them as no-op host functions.
pub const BENCH_HOOKS: [&str; 2] = ["start", "end"];

/// The bench-inputs folder: `$KILN_BENCH_INPUTS`, else
/// `../shared/bench-inputs` beside the workspace.
pub fn inputs_dir() -> PathBuf {
    match std::env::var(INPUTS_VAR) {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench-inputs"),
    }
}

/// What a WASI command left behind.
pub struct Output {
    /// 0 when `_start` returned, else the status passed to `proc_exit`.
    pub exit_code: i32,
    /// Everything written to fd 1.
    pub stdout: Vec<u8>,
    /// Everything written to fd 2.
    pub stderr: Vec<u8>,
}

/// A WASI command and what it must print.
pub struct Program {
    /// Name in the report: the folder, or the module's file stem when the
    /// folder holds several modules (`shootout-*`).
    pub name: String,
    /// The folder preopened as `.`, if any.
    pub preopen: Option<PathBuf>,
    /// The module file.
    pub wasm: PathBuf,
    /// The guest's argv, argv[0] included.
    pub argv: Vec<String>,
    /// What stdout must receive exactly; `None` checks nothing.
    pub stdout: Option<Expected>,
    /// What stderr must receive exactly; `None` checks nothing.
    pub stderr: Option<Expected>,
}

/// The exact output a stream must receive.
pub struct Expected {
    /// Where it comes from, for messages.
    pub source: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Expected {
    /// Output given literally in the benchmark.
    pub fn literal(text: &str) -> Expected {
        Expected { source: format!("{text:?}"), bytes: text.into() }
    }
}

impl Program {
    /// QuickJS (`qjs-wasi.wasm` in `inputs`) run with `argv` and no
    /// preopened folder: it must print exactly `stdout` and nothing on
    /// stderr.
    pub fn quickjs(inputs: &Path, name: &str, argv: &[&str], stdout: &str) -> Program {
        Program {
            name: name.to_string(),
            preopen: None,
            wasm: inputs.join(QUICKJS_DIR).join(QUICKJS_WASM),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            stdout: Some(Expected::literal(stdout)),
            stderr: Some(Expected::literal("")),
        }
    }

    /// Reads the module.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn read_wasm(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.wasm).with_context(|| format!("reading {}", self.wasm.display()))
    }

    /// Fails unless `output` is a clean exit with the expected output.
    ///
    /// # Errors
    /// A non-zero exit status, or output that differs from the expected
    /// one (the message says where).
    pub fn check(&self, output: &Output) -> Result<()> {
        ensure!(
            output.exit_code == 0,
            "exit status {} instead of 0; stderr: {}",
            output.exit_code,
            excerpt(&output.stderr, 0)
        );
        check_stream("stdout", &output.stdout, self.stdout.as_ref())?;
        check_stream("stderr", &output.stderr, self.stderr.as_ref())
    }
}

/// Fails, describing the first difference, unless `actual` is `expected`.
fn check_stream(stream: &str, actual: &[u8], expected: Option<&Expected>) -> Result<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    if actual == expected.bytes {
        return Ok(());
    }
    let at = actual.iter().zip(&expected.bytes).take_while(|(a, b)| a == b).count();
    bail!(
        "OUTPUT MISMATCH: {stream} differs from {} at byte {at} ({} bytes written, {} expected): \
         wrote {}, expected {}",
        expected.source,
        actual.len(),
        expected.bytes.len(),
        excerpt(actual, at),
        excerpt(&expected.bytes, at)
    )
}

/// Up to 80 bytes of `bytes` from `from`, quoted and escaped.
fn excerpt(bytes: &[u8], from: usize) -> String {
    let from = from.min(bytes.len());
    let end = bytes.len().min(from + 80);
    let ellipsis = if end < bytes.len() { "…" } else { "" };
    format!("{:?}{ellipsis}", String::from_utf8_lossy(&bytes[from..end]))
}

/// The expected output of module `stem` in `dir` on `stream`:
/// `<stem>.<stream>.expected`, else `default.<stream>.expected`, else none.
fn expected_output(dir: &Path, stem: &str, stream: &str) -> Result<Option<Expected>> {
    for file in [format!("{stem}.{stream}.expected"), format!("default.{stream}.expected")] {
        let path = dir.join(&file);
        if path.is_file() {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            return Ok(Some(Expected { source: file, bytes }));
        }
    }
    Ok(None)
}

/// The sorted entries of `dir` that `keep` accepts.
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if keep(&path) {
            entries.push(path);
        }
    }
    entries.sort();
    Ok(entries)
}

/// The file name of `path` as UTF-8 (`""` when it has none).
fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

/// Every Sightglass program in `inputs` that needs no SIMD, then QuickJS
/// running [`QUICKJS_LOOP_ARGV`] (named `quickjs`, with its folder
/// preopened like the others).
///
/// # Errors
/// When a folder cannot be listed or an expected-output file read.
pub fn programs(inputs: &Path) -> Result<Vec<Program>> {
    let mut programs = Vec::new();
    let folders =
        sorted_entries(inputs, |p| p.is_dir() && !SIMD_FOLDERS.contains(&file_name(p)) && file_name(p) != QUICKJS_DIR)?;
    for dir in folders {
        let modules = sorted_entries(&dir, |p| p.extension().is_some_and(|e| e == "wasm"))?;
        for wasm in &modules {
            let stem = wasm.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            programs.push(Program {
                name: if modules.len() == 1 { file_name(&dir) } else { stem }.to_string(),
                argv: vec![file_name(wasm).to_string()],
                stdout: expected_output(&dir, stem, "stdout")?,
                stderr: expected_output(&dir, stem, "stderr")?,
                wasm: wasm.clone(),
                preopen: Some(dir.clone()),
            });
        }
    }
    let mut quickjs = Program::quickjs(inputs, QUICKJS_DIR, QUICKJS_LOOP_ARGV, QUICKJS_LOOP_STDOUT);
    quickjs.preopen = Some(inputs.join(QUICKJS_DIR));
    quickjs.stderr = None;
    programs.push(quickjs);
    Ok(programs)
}

// ---------------------------------------------------------------------------
// Running a program in kiln and in Wasmtime.

/// A kiln linker with WASI preview1 and the `bench` hooks.
///
/// # Errors
/// When a definition clashes (never, in practice).
pub fn kiln_wasi_linker(engine: &kiln::Engine) -> Result<kiln::Linker<kiln::wasi::WasiCtx>> {
    let mut linker = kiln::Linker::<kiln::wasi::WasiCtx>::new(engine);
    kiln::wasi::add_to_linker(&mut linker, |ctx| ctx)?;
    for hook in BENCH_HOOKS {
        linker.func_wrap("bench", hook, || {})?;
    }
    Ok(linker)
}

/// One run of a program in kiln: the store with the program's WASI
/// context, and the pipes that capture its output.
pub struct KilnCommand {
    /// The store to instantiate the module in.
    pub store: kiln::Store<kiln::wasi::WasiCtx>,
    stdout: kiln::wasi::MemoryOutputPipe,
    stderr: kiln::wasi::MemoryOutputPipe,
}

impl KilnCommand {
    /// A store of `engine` set up as `program` says.
    ///
    /// # Errors
    /// When the folder cannot be preopened.
    pub fn new(engine: &kiln::Engine, program: &Program) -> Result<KilnCommand> {
        use kiln::wasi::{MemoryOutputPipe, WasiCtxBuilder};
        let stdout = MemoryOutputPipe::with_limit(OUTPUT_LIMIT);
        let stderr = MemoryOutputPipe::with_limit(OUTPUT_LIMIT);
        let mut wasi = WasiCtxBuilder::new();
        wasi.args(program.argv.as_slice()).stdout(stdout.clone()).stderr(stderr.clone());
        if let Some(dir) = &program.preopen {
            wasi.preopened_dir(dir, ".")?;
        }
        Ok(KilnCommand { store: kiln::Store::new(engine, wasi.build()), stdout, stderr })
    }

    /// Instantiates `module` with `linker` and calls `_start`.
    ///
    /// # Errors
    /// Those of instantiation and of the call, `proc_exit` included (see
    /// [`KilnCommand::finish`]).
    pub fn start(&mut self, linker: &kiln::Linker<kiln::wasi::WasiCtx>, module: &kiln::Module) -> kiln::Result<()> {
        let instance = linker.instantiate(&mut self.store, module)?;
        instance.get_typed_func::<(), ()>(&mut self.store, "_start")?.call(&mut self.store, ())
    }

    /// Drops the store and returns what the program wrote, with the exit
    /// status that `started` (what [`KilnCommand::start`] returned) stands
    /// for.
    ///
    /// # Errors
    /// `started`'s error when it is not an exit (a trap, a link error).
    pub fn finish(self, started: kiln::Result<()>) -> Result<Output> {
        let exit_code = match started {
            Ok(()) => 0,
            Err(error) => error.exit_code().ok_or(error)?,
        };
        drop(self.store);
        Ok(Output { exit_code, stdout: self.stdout.contents(), stderr: self.stderr.contents() })
    }
}

/// A Wasmtime linker with WASI preview1 and the `bench` hooks.
///
/// # Errors
/// When a definition clashes (never, in practice).
pub fn wasmtime_wasi_linker(engine: &wasmtime::Engine) -> Result<wasmtime::Linker<wasmtime_wasi::p1::WasiP1Ctx>> {
    let mut linker = wasmtime::Linker::<wasmtime_wasi::p1::WasiP1Ctx>::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    for hook in BENCH_HOOKS {
        linker.func_wrap("bench", hook, || {})?;
    }
    Ok(linker)
}

/// One run of a program in Wasmtime: the store with the program's WASI
/// context, and the pipes that capture its output.
pub struct WasmtimeCommand {
    /// The store to instantiate the module in.
    pub store: wasmtime::Store<wasmtime_wasi::p1::WasiP1Ctx>,
    stdout: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
    stderr: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
}

impl WasmtimeCommand {
    /// A store set up as `program` says, made by `new_store` from the WASI
    /// context (so that the caller can configure it, e.g. with an epoch
    /// deadline). The context may block the current thread, as `wasmtime
    /// run` sets it up.
    ///
    /// # Errors
    /// When the folder cannot be preopened.
    pub fn new(
        program: &Program,
        new_store: impl FnOnce(wasmtime_wasi::p1::WasiP1Ctx) -> wasmtime::Store<wasmtime_wasi::p1::WasiP1Ctx>,
    ) -> Result<WasmtimeCommand> {
        use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
        use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
        let stdout = MemoryOutputPipe::new(OUTPUT_LIMIT);
        let stderr = MemoryOutputPipe::new(OUTPUT_LIMIT);
        let mut wasi = WasiCtxBuilder::new();
        // As `wasmtime run` does; preopens copy the flag, so it comes first.
        wasi.allow_blocking_current_thread(true);
        wasi.args(program.argv.as_slice()).stdout(stdout.clone()).stderr(stderr.clone());
        if let Some(dir) = &program.preopen {
            wasi.preopened_dir(dir, ".", FsPerms::ReadWrite)?;
        }
        Ok(WasmtimeCommand { store: new_store(wasi.build_p1()), stdout, stderr })
    }

    /// Instantiates `module` with `linker` and calls `_start`.
    ///
    /// # Errors
    /// Those of instantiation and of the call, `proc_exit` included (see
    /// [`WasmtimeCommand::finish`]).
    pub fn start(
        &mut self,
        linker: &wasmtime::Linker<wasmtime_wasi::p1::WasiP1Ctx>,
        module: &wasmtime::Module,
    ) -> wasmtime::Result<()> {
        let instance = linker.instantiate(&mut self.store, module)?;
        instance.get_typed_func::<(), ()>(&mut self.store, "_start")?.call(&mut self.store, ())
    }

    /// Drops the store and returns what the program wrote, with the exit
    /// status that `started` (what [`WasmtimeCommand::start`] returned)
    /// stands for.
    ///
    /// # Errors
    /// `started`'s error when it is not an exit (a trap, a link error).
    pub fn finish(self, started: wasmtime::Result<()>) -> Result<Output> {
        let exit_code = match started {
            Ok(()) => 0,
            Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(wasmtime_wasi::I32Exit(code)) => *code,
                None => return Err(error.into()),
            },
        };
        drop(self.store);
        Ok(Output { exit_code, stdout: self.stdout.contents().to_vec(), stderr: self.stderr.contents().to_vec() })
    }
}
