//! The `kiln` command-line interface.
//!
//! * `kiln run [--tier T] [--memory-reservation BYTES] [--tier-up-threshold N]
//!   [--tier-up-sync] [--compile-threads N] [--stats] [--dir HOST[::GUEST]]...
//!   [--env K[=V]]... [--preload NAME=FILE]... [--invoke NAME] FILE [ARGS...]`
//!   loads a module (binary `.wasm`, or `.wat` text when the file does not
//!   start with the `\0asm` magic) and instantiates it with WASI preview1
//!   (`wasi_snapshot_preview1`), WASI preview0 (`wasi_unstable`, over the
//!   same context) and the `--preload`ed modules available as imports.
//!   Without `--invoke` it runs the WASI command's `_start` with argv = FILE
//!   (as given) followed by `ARGS`; everything after FILE goes to the
//!   program, even words that look like kiln options. With `--invoke
//!   NAME` it calls the export `NAME` with `ARGS` parsed by the function's
//!   parameter types and prints each result on its own line. The guest's
//!   stdin, stdout and stderr are kiln's; it sees only the `--dir`
//!   preopens and only the `--env` variables.
//! * `kiln inspect FILE.aot` checks an `.aot` file (`aotc`'s output) and
//!   prints its header, compatibility record, sections and code summary.
//! * `kiln wast [--tier T] [--memory-reservation BYTES] FILES...` runs
//!   `.wast` scripts with [`kiln::wast`], printing `FAIL file:line: …` per
//!   failed directive and the closing line `P passed, F failed, S skipped`.
//!
//! Argument syntax (`kiln run`): `i32`/`i64` as decimal or `0x` hex, with an
//! optional `-` (unsigned spellings up to 2^32-1 / 2^64-1 wrap); `f32`/`f64`
//! as decimal floats, `inf`, `-inf` or `nan`; `funcref`/`externref` only as
//! `null`.
//!
//! Result format: `i32`/`i64` as signed decimal; `f32`/`f64` as Rust's
//! shortest round-trip representation (`1.5`, `-0.0`, `inf`, `-inf`,
//! `1e30`), a NaN as `nan:0x<bits in hex>` so its payload is visible;
//! references as `ref.null func`, `ref.func`, `ref.null extern` or
//! `ref.extern`.
//!
//! Exit status: 0 success; 1 any other error (unreadable, malformed or
//! invalid module, link error, bad argument, a `wast` script with failures);
//! 2 usage error (reported by clap); 3 the guest trapped (stderr shows
//! `error: <trap message>` and the wasm backtrace); a WASI `proc_exit` code
//! is passed through (its low 8 bits, as for a native process).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use kiln::wasi::{WasiCtx, WasiCtxBuilder};
use kiln::wast::{Features, Totals, WastOptions, run_wast_file};
use kiln::{Config, Engine, ErrorKind, Linker, Module, Store, Strategy, Val, ValType};

/// The default `--tier`: `tiered`, or `interp` in a build without the
/// compiler (`cranelift` feature off), where `.aot` files still run native.
const DEFAULT_TIER: &str = if cfg!(feature = "cranelift") { "tiered" } else { "interp" };

/// Exit status for a guest trap.
const EXIT_TRAP: u8 = 3;
/// Exit status for every other error.
const EXIT_ERROR: u8 = 1;
/// Native stack of the thread that runs guest code: the interpreter and
/// deep guest recursion need more than the main thread's default.
const MAIN_STACK: usize = 64 << 20;

const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  error (unreadable, malformed or invalid module, link error, bad argument,
     or a wast script with failed directives)
  2  usage error
  3  the guest trapped: stderr shows `error: <trap message>` and the wasm backtrace
  N  `kiln run`: the WASI program exited with status N (proc_exit, exit(N),
     or returning N from main)";

const RUN_AFTER_HELP: &str = "\
Examples:
  kiln run hello.wasm                    run a WASI command's _start
  kiln run --dir . app.wasm in.txt       with the current directory preopened as `.`
  kiln run --dir /tmp/data::/data --env LANG=C app.wasm -v
  kiln run --preload bench=bench.wasm benchmark.wasm
  kiln run --invoke add math.wat 2 3     call an export and print its results

Everything after FILE is passed to the program (argv[1..]), even words that
look like kiln options: put kiln's options before FILE. argv[0] is FILE as
given. The program sees no directory except the --dir preopens (`..`,
absolute paths and symlinks cannot leave them) and no environment variable
except the --env ones.

With --invoke, ARGS are the function's arguments, by parameter type:
  i32, i64     decimal or 0x hex, optionally negative (-5, 0x7f, -0x10)
  f32, f64     decimal float, inf, -inf or nan (1.5, -0.0, 1e10)
  funcref, externref   only `null`

Result format, one line per result:
  i32, i64     signed decimal
  f32, f64     shortest round-trip form (1.5, -0.0, inf, -inf); a NaN prints
               as nan:0x<bits in hex> so its payload is visible
  references   ref.null func, ref.func, ref.null extern, ref.extern

Exit status:
  0  success (_start returned, or the invoked function returned)
  1  error (unreadable, malformed or invalid module, link error, bad argument,
     a --dir that cannot be opened)
  2  usage error
  3  the guest trapped: stderr shows `error: <trap message>` and the wasm backtrace
  N  the WASI program exited with status N (proc_exit, exit(N), or returning N
     from main); only the low 8 bits reach the shell, as for a native program";

#[derive(Parser, Debug)]
#[command(
    name = "kiln",
    version,
    about = "A tiered WebAssembly runtime",
    after_long_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a WASI program's _start, or call an export (a .wasm binary or .wat text).
    #[command(
        after_long_help = RUN_AFTER_HELP,
        override_usage = "kiln run [OPTIONS] FILE [ARGS]..."
    )]
    Run(RunArgs),
    /// Run .wast scripts (the spec test-suite format).
    #[command(after_long_help = AFTER_HELP)]
    Wast(WastArgs),
    /// Print the header, compatibility record, sections and code summary of
    /// an .aot file (aotc's output), after checking it.
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The .aot file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Options shared by every subcommand that creates an engine.
#[derive(Args, Debug)]
struct EngineArgs {
    /// Execution tier: tiered (interpreter, then Cranelift for hot code),
    /// interp, jit (everything compiled up front) or aot.
    #[arg(long, value_name = "T", default_value = DEFAULT_TIER, value_parser = parse_strategy)]
    tier: Strategy,
    /// Bytes of address space reserved per linear memory.
    #[arg(long, value_name = "BYTES")]
    memory_reservation: Option<u64>,
    /// tiered: compile a function once its entries plus loop back-edges
    /// reach N (default 1000).
    #[arg(long, value_name = "N")]
    tier_up_threshold: Option<u64>,
    /// tiered: compile hot functions on the spot, waiting for the compiler,
    /// instead of on background threads (deterministic runs).
    #[arg(long)]
    tier_up_sync: bool,
    /// Compile threads (jit: per module; tiered: background workers);
    /// 0 = one per core.
    #[arg(long, value_name = "N")]
    compile_threads: Option<usize>,
}

impl EngineArgs {
    fn config(&self) -> Config {
        let mut config = Config::new();
        config.strategy(self.tier);
        if let Some(bytes) = self.memory_reservation {
            config.memory_reservation(bytes);
        }
        if let Some(n) = self.tier_up_threshold {
            config.tier_up_threshold(n);
        }
        config.tier_up_sync(self.tier_up_sync);
        if let Some(n) = self.compile_threads {
            config.compile_threads(n);
        }
        config
    }
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse::<Strategy>().map_err(|e| e.to_string())
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Preopen the host directory HOST for the guest as GUEST (default: HOST
    /// as written). Repeatable. `--dir .` gives the current directory as `.`.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set the guest environment variable K to V; `--env K` alone passes
    /// kiln's own value of K (if it has one). Repeatable.
    #[arg(long = "env", value_name = "K[=V]")]
    envs: Vec<String>,
    /// Instantiate FILE (with WASI available to it too) and register its
    /// exports as the import module NAME, before the main module. Repeatable.
    #[arg(long = "preload", value_name = "NAME=FILE")]
    preloads: Vec<String>,
    /// Call the export NAME with ARGS as its arguments and print its results,
    /// instead of running the WASI command's `_start`.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// After the run, print tier-up statistics of the module to stderr:
    /// per function its tier state, entries, loop back-edges, compile time
    /// and queue wait, OSR compilations and transfers; and the totals.
    #[arg(long)]
    stats: bool,
    /// The module (a .wasm binary or .wat text), then the program's
    /// arguments (or, with --invoke, the function's arguments).
    #[arg(
        value_name = "FILE",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..
    )]
    command: Vec<String>,
}

impl RunArgs {
    /// The module file: the first word of the command.
    fn file(&self) -> &str {
        &self.command[0]
    }

    /// The words after the module file.
    fn args(&self) -> &[String] {
        &self.command[1..]
    }
}

#[derive(Args, Debug)]
struct WastArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// The .wast scripts to run.
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let worker =
        std::thread::Builder::new().name("kiln-main".into()).stack_size(MAIN_STACK).spawn(move || dispatch(cli));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => {
            eprintln!("error: kiln panicked");
            ExitCode::from(EXIT_ERROR)
        }
        Err(e) => {
            eprintln!("error: cannot start the main thread: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run(args) => {
            let mut main_module = None;
            let result = run(&args, &mut main_module);
            if args.stats
                && let Some(module) = &main_module
            {
                print_stats(module, &args.engine);
            }
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => report_error(&err),
            }
        }
        Command::Wast(args) => wast(&args),
        Command::Inspect(args) => {
            let result = std::fs::read(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))
                .and_then(|bytes| kiln::aot::inspect(&bytes).with_context(|| format!("{}", args.file.display())));
            match result {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(err) => report_error(&err),
            }
        }
    }
}

/// Prints `err` and picks the exit status: 3 for a trap, the guest's code
/// for a WASI exit, 1 otherwise.
fn report_error(err: &anyhow::Error) -> ExitCode {
    if let Some(kiln_err) = err.downcast_ref::<kiln::Error>() {
        if let Some(code) = kiln_err.exit_code() {
            // Like a native process: the shell sees the low 8 bits.
            return ExitCode::from(code as u8);
        }
        if matches!(kiln_err.kind(), ErrorKind::Trap) {
            // The Display of a trap error carries the wasm backtrace.
            eprintln!("error: {kiln_err}");
            return ExitCode::from(EXIT_TRAP);
        }
    }
    eprintln!("error: {err:#}");
    ExitCode::from(EXIT_ERROR)
}

/// Prints `module`'s tier-up statistics (`kiln run --stats`) to stderr.
fn print_stats(module: &Module, engine: &EngineArgs) {
    let stats = module.tier_stats();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "kiln: tier-up statistics ({} tier, threshold {}{})",
        engine.tier,
        engine.tier_up_threshold.unwrap_or(kiln::DEFAULT_TIER_UP_THRESHOLD),
        if engine.tier_up_sync { ", synchronous" } else { "" }
    );
    let _ = writeln!(
        err,
        "{:>6} {:<32} {:<11} {:>12} {:>14} {:>11} {:>11} {:>5} {:>7}",
        "func", "name", "state", "entries", "back-edges", "compile ms", "queue ms", "osr", "osr-in"
    );
    let mut funcs: Vec<_> = stats
        .functions
        .iter()
        .filter(|f| f.entries + f.back_edges > 0 || f.state != kiln::TierState::Interpreted)
        .collect();
    funcs.sort_by_key(|f| std::cmp::Reverse(f.entries + f.back_edges));
    for f in &funcs {
        let mut name: String = f.name.clone().unwrap_or_default();
        if name.chars().count() > 32 {
            name = name.chars().take(31).collect::<String>() + "…";
        }
        let _ = writeln!(
            err,
            "{:>6} {:<32} {:<11} {:>12} {:>14} {:>11.3} {:>11.3} {:>5} {:>7}",
            f.func_index,
            name,
            f.state.name(),
            f.entries,
            f.back_edges,
            ms(f.compile_time),
            ms(f.queue_wait),
            f.osr_compiled,
            f.osr_entries
        );
        if let Some(why) = &f.failure {
            let _ = writeln!(err, "{:>6} stays interpreted: {why}", "");
        }
    }
    let _ = writeln!(
        err,
        "total: {} of {} functions compiled, {} OSR entries, {:.3} ms compiling; {} functions ran",
        stats.compiled,
        stats.functions.len(),
        stats.osr_entries,
        ms(stats.compile_time),
        funcs.len()
    );
}

/// `kiln run`; the main module is left in `main_module` (for `--stats`).
fn run(args: &RunArgs, main_module: &mut Option<Module>) -> anyhow::Result<()> {
    let engine = Engine::new(&args.engine.config())?;
    let file = Path::new(args.file());
    let module = load_module(&engine, file)?;
    *main_module = Some(module.clone());

    // `kiln run FILE --invoke NAME ARGS...` (--invoke after FILE) is
    // accepted for a module without `_start`: a WASI command keeps every
    // word after FILE as its argv.
    let has_start = module.exports().any(|e| e.name() == "_start");
    let (invoke, call_args): (Option<&str>, &[String]) = match (&args.invoke, args.args()) {
        (Some(name), rest) => (Some(name.as_str()), rest),
        (None, [flag, name, rest @ ..]) if flag == "--invoke" && !has_start => (Some(name.as_str()), rest),
        (None, rest) => (None, rest),
    };

    // WASI: argv[0] is the file name as given; with --invoke the ARGS are
    // the function's, so the program's argv is just the file name.
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio();
    wasi.arg(args.file());
    if invoke.is_none() {
        wasi.args(call_args);
    }
    for spec in &args.envs {
        match spec.split_once('=') {
            Some((key, value)) => {
                wasi.env(key, value);
            }
            None => {
                if let Some(value) = std::env::var_os(spec) {
                    let value = value.into_string().map_err(|_| anyhow!("--env {spec}: kiln's value is not UTF-8"))?;
                    wasi.env(spec, &value);
                }
            }
        }
    }
    for spec in &args.dirs {
        let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
        if host.is_empty() || guest.is_empty() {
            bail!("--dir {spec}: expected HOST or HOST::GUEST");
        }
        wasi.preopened_dir(host, guest).with_context(|| format!("--dir {spec}: cannot open {host}"))?;
    }

    let mut store = Store::new(&engine, wasi.build());
    let mut linker = Linker::<WasiCtx>::new(&engine);
    kiln::wasi::add_to_linker(&mut linker, |ctx| ctx)?;
    for spec in &args.preloads {
        let Some((name, path)) = spec.split_once('=') else {
            bail!("--preload {spec}: expected NAME=FILE");
        };
        let preload = load_module(&engine, Path::new(path))?;
        let instance = linker
            .instantiate(&mut store, &preload)
            .with_context(|| format!("cannot instantiate {path} (--preload {name})"))?;
        linker.instance(&mut store, name, instance).with_context(|| format!("--preload {spec}"))?;
    }
    let instance = linker.instantiate(&mut store, &module)?;

    let Some(name) = invoke else {
        let start = instance.get_func(&mut store, "_start").ok_or_else(|| {
            anyhow!(
                "no --invoke given and the module has no _start \
                 (kiln's options, --invoke included, go before FILE)"
            )
        })?;
        let ty = start.ty(&store);
        if !ty.params().is_empty() || !ty.results().is_empty() {
            bail!("_start must take and return nothing");
        }
        start.call(&mut store, &[], &mut [])?;
        return Ok(());
    };
    let func = instance.get_func(&mut store, name).ok_or_else(|| anyhow!("the module exports no function `{name}`"))?;
    let ty = func.ty(&store);
    let params = ty.params();
    if params.len() != call_args.len() {
        bail!("`{name}` takes {} argument(s) ({}), {} given", params.len(), type_list(params), call_args.len());
    }
    let vals = params
        .iter()
        .zip(call_args)
        .enumerate()
        .map(|(i, (ty, text))| parse_val(*ty, text).with_context(|| format!("argument {} (`{text}`)", i + 1)))
        .collect::<anyhow::Result<Vec<Val>>>()?;
    let mut results = vec![Val::I32(0); ty.results().len()];
    func.call(&mut store, &vals, &mut results)?;
    for result in &results {
        println!("{}", format_val(result));
    }
    Ok(())
}

/// Reads and compiles the module at `path`, or maps it if it is an `.aot`
/// file (`aotc`'s output).
fn load_module(engine: &Engine, path: &Path) -> anyhow::Result<Module> {
    if kiln::aot::is_aot_file(path) {
        return Module::from_aot_file(engine, path).with_context(|| format!("cannot load {}", path.display()));
    }
    let bytes = read_module_bytes(path)?;
    Module::new(engine, &bytes).with_context(|| format!("cannot compile {}", path.display()))
}

/// The module's binary: the file itself, or its `.wat` text encoded.
fn read_module_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{} is neither a wasm binary nor UTF-8 .wat text", path.display()))?;
    let with_location = |mut e: wast::Error| {
        e.set_path(path);
        e.set_text(text);
        anyhow!("{e}")
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(with_location)?;
    let mut wat = wast::parser::parse::<wast::Wat<'_>>(&buf).map_err(with_location)?;
    wat.encode().map_err(with_location)
}

fn type_list(types: &[ValType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| type_name(*t)).collect();
    names.join(", ")
}

fn type_name(ty: ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::FuncRef => "funcref",
        ValType::ExternRef => "externref",
    }
}

/// Parses a command-line argument as a value of type `ty` (syntax in the
/// module docs).
fn parse_val(ty: ValType, text: &str) -> anyhow::Result<Val> {
    Ok(match ty {
        ValType::I32 => {
            let v = parse_int(text)?;
            if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
                bail!("out of range for i32");
            }
            // Unsigned spellings above i32::MAX wrap to the same bits.
            Val::I32(v as u32 as i32)
        }
        ValType::I64 => {
            let v = parse_int(text)?;
            if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
                bail!("out of range for i64");
            }
            Val::I64(v as u64 as i64)
        }
        ValType::F32 => Val::F32(text.parse::<f32>().map_err(|e| anyhow!("not an f32: {e}"))?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>().map_err(|e| anyhow!("not an f64: {e}"))?.to_bits()),
        ValType::FuncRef if text == "null" => Val::FuncRef(None),
        ValType::ExternRef if text == "null" => Val::ExternRef(None),
        ValType::FuncRef | ValType::ExternRef => bail!("reference arguments can only be `null`"),
        ValType::V128 => bail!("v128 arguments are not supported"),
    })
}

/// Decimal or `0x` hex, optionally negative; `_` separators are not allowed.
fn parse_int(text: &str) -> anyhow::Result<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u128::from_str_radix(hex, 16),
        None => digits.parse::<u128>(),
    }
    .map_err(|e| anyhow!("not an integer: {e}"))?;
    let magnitude = i128::try_from(magnitude).map_err(|_| anyhow!("integer out of range"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Formats one result (format in the module docs).
fn format_val(val: &Val) -> String {
    match val {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(bits) => {
            let v = f32::from_bits(*bits);
            if v.is_nan() { format!("nan:{bits:#x}") } else { format!("{v:?}") }
        }
        Val::F64(bits) => {
            let v = f64::from_bits(*bits);
            if v.is_nan() { format!("nan:{bits:#x}") } else { format!("{v:?}") }
        }
        Val::FuncRef(None) => "ref.null func".into(),
        Val::FuncRef(Some(_)) => "ref.func".into(),
        Val::ExternRef(None) => "ref.null extern".into(),
        Val::ExternRef(Some(_)) => "ref.extern".into(),
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

/// `kiln wast`: exit 0 only if no directive failed.
fn wast(args: &WastArgs) -> ExitCode {
    let config = args.engine.config();
    // An unavailable tier is one error, not one failure per script.
    if let Err(e) = Engine::new(&config) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_ERROR);
    }
    let options = WastOptions { features: Features::Wasm2, verbose: false };
    let mut totals = Totals::default();
    let stdout = std::io::stdout();
    for path in &args.files {
        let report = run_wast_file(path, &config, &options);
        totals.add(&report);
        let mut out = stdout.lock();
        if let Err(e) = report.print_failures(&mut out) {
            eprintln!("error: cannot write to stdout: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    println!("{totals}");
    if totals.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_ERROR) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_parse_decimal_hex_and_negative() {
        assert_eq!(parse_int("42").ok(), Some(42));
        assert_eq!(parse_int("-0x10").ok(), Some(-16));
        assert_eq!(parse_int("0xffffffff").ok(), Some(0xffff_ffff));
        assert!(parse_int("1.5").is_err());
        assert!(matches!(parse_val(ValType::I32, "0xffffffff"), Ok(Val::I32(-1))));
        assert!(parse_val(ValType::I32, "4294967296").is_err());
        assert!(matches!(parse_val(ValType::I64, "-9223372036854775808"), Ok(Val::I64(i64::MIN))));
    }

    #[test]
    fn floats_print_round_trip_and_nan_bits() {
        assert_eq!(format_val(&Val::F64(1.5f64.to_bits())), "1.5");
        assert_eq!(format_val(&Val::F32((-0.0f32).to_bits())), "-0.0");
        assert_eq!(format_val(&Val::F64(f64::INFINITY.to_bits())), "inf");
        assert_eq!(format_val(&Val::F32(0x7fc0_0001)), "nan:0x7fc00001");
        let parsed = parse_val(ValType::F64, "0.1").ok();
        assert!(matches!(parsed, Some(Val::F64(b)) if b == 0.1f64.to_bits()));
    }
}
