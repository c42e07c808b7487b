//! `aotc`: kiln's ahead-of-time compiler.
//!
//! `aotc app.wasm -o app.aot [--target TRIPLE] [--opt-level none|speed|speed_and_size]
//! [--embed-wasm] [--memory-reservation BYTES] [--memory-guard BYTES]
//! [--epoch-interruption on|off] [--compile-threads N]` validates the module
//! (binary or text), compiles every function and the trampolines it needs
//! with kiln's Cranelift translator (the JIT's code), and writes kiln's
//! `.aot` file (`aot-format/FORMAT.md`), which `kiln run app.aot` and
//! `kiln::Module::from_aot_file` load. The memory and epoch settings must
//! match the engine that loads the file (the defaults match kiln's).
//!
//! The output is written to a temporary file beside it and renamed into
//! place only when complete: on any error no output file is created or
//! changed. Exit status: 0 success, 1 error (message on stderr), 2 usage.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kiln::Config;
use kiln::aot::{AotOptLevel, AotOptions};

#[derive(Parser, Debug)]
#[command(name = "aotc", version, about = "Compile a WebAssembly module ahead of time into a kiln .aot file")]
struct Cli {
    /// The module to compile (.wasm binary or .wat text).
    input: PathBuf,
    /// The .aot file to write.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Target triple (e.g. aarch64-unknown-linux-gnu), with Cranelift's
    /// baseline CPU features; default: this host with all its CPU features.
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
    /// Cranelift optimisation level.
    #[arg(long, value_name = "LEVEL", default_value = "speed", value_parser = parse_opt)]
    opt_level: AotOptLevel,
    /// Embed the wasm in the file, so a runtime that cannot use the code can
    /// recompile it (when its embedder allows that).
    #[arg(long)]
    embed_wasm: bool,
    /// Bytes of address space per linear memory the loading engine reserves.
    #[arg(long, value_name = "BYTES")]
    memory_reservation: Option<u64>,
    /// Bytes of guard region after each memory in the loading engine.
    #[arg(long, value_name = "BYTES")]
    memory_guard: Option<u64>,
    /// Whether the code checks epoch deadlines (must match the engine).
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off)]
    epoch_interruption: bool,
    /// Compile threads; 0 = one per core.
    #[arg(long, value_name = "N", default_value_t = 0)]
    compile_threads: usize,
}

fn parse_opt(s: &str) -> Result<AotOptLevel, String> {
    s.parse()
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, not `{s}`")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aotc: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let wasm = std::fs::read(&cli.input).map_err(|e| format!("cannot read {}: {e}", cli.input.display()))?;
    let mut config = Config::new();
    if let Some(b) = cli.memory_reservation {
        config.memory_reservation(b);
    }
    if let Some(b) = cli.memory_guard {
        config.memory_guard_size(b);
    }
    config.epoch_interruption(cli.epoch_interruption);
    let options = AotOptions {
        target: cli.target.clone(),
        opt_level: cli.opt_level,
        embed_wasm: cli.embed_wasm,
        threads: cli.compile_threads,
    };
    let image = kiln::aot::compile(&config, &wasm, &options).map_err(|e| format!("{}: {e}", cli.input.display()))?;
    write_atomically(&cli.output, &image).map_err(|e| format!("cannot write {}: {e}", cli.output.display()))
}

/// Writes `bytes` to a temporary file in `path`'s directory, syncs it and
/// renames it to `path`; the temporary file is removed on failure.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| std::io::Error::other("the output path names no file"))?;
    let tmp = dir.join(format!(".{}.aotc-{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
