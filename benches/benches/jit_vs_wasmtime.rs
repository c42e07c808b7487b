//! Side-by-side benchmark of kiln's JIT (`Strategy::Jit`) against Wasmtime 48.
//! Both compile wasm to native code with Cranelift 0.135 at opt-level
//! `speed`, so the differences measured are those of the translation to
//! Cranelift IR, the runtime and the calling conventions around it.
//!
//! Three measurements, in this order:
//!
//! 1. **Workloads**: the six modules of `interp_vs_wasmi` (the table in
//!    `src/lib.rs`), each exporting `run: (i32) -> i32`. A run creates a
//!    store, instantiates the module and calls `run(arg)`; the result is
//!    checked against the native reference.
//! 2. **Programs**: the Sightglass WASI commands of `../shared/bench-inputs`
//!    that need no SIMD, and QuickJS evaluating a small loop. A run creates a
//!    store with a WASI preview1 context (the module's folder preopened as
//!    `.`, argv = the file name, no environment, empty stdin, stdout and
//!    stderr captured in memory), instantiates the module and calls
//!    `_start`. The `bench.start`/`bench.end` imports are no-op host
//!    functions, defined the same way in both runtimes. A run must exit with
//!    status 0 and write exactly the expected stdout and stderr (where the
//!    folder has expected files); anything else is a failure, reported
//!    loudly and not timed. The section is skipped, with a note, when the
//!    folder is absent.
//! 3. **Compile**: `Module::new` for the largest modules, in kiln with
//!    `compile_threads(1)` and the default (all cores) and in Wasmtime with
//!    `parallel_compilation(false)` (one thread) and `(true)` (all cores),
//!    reported as bytes of the code section (the function bodies) per
//!    second.
//!
//! Timing. In sections 1 and 2 each runtime compiles a module once, untimed,
//! before its runs, and the timed part of a run is instantiation plus the
//! call, not creating the store (or WASI context) and not dropping it; in
//! section 3 a run is one `Module::new`, not counting the drop. The
//! contenders take turns (kiln, Wasmtime, kiln, …) so that both see the same
//! machine state. Each first does one warm-up run; then every contender does
//! `runs` timed runs (default 5). A measurement whose warm-up took at least
//! [`SLOW`] in some contender keeps the warm-up as its first timed run and
//! does at most 3 runs in all; one that took at least [`VERY_SLOW`] is run
//! only that once. The report is the median per contender and the ratio
//! kiln / Wasmtime of the medians (below 1.00 kiln is faster), with
//! geometric means per section and overall.
//!
//! Configurations. kiln: `Config::new()` with `Strategy::Jit`. Wasmtime:
//! `Config::new()` (Cranelift, opt-level speed), built without its `cache`
//! feature so that no compilation cache can be used. Two deviations, both
//! printed: Wasmtime's WASI contexts allow blocking the current thread, as
//! `wasmtime run` sets them up; and epoch interruption is the same in both
//! runtimes: `--epochs on` by default (kiln's default, while Wasmtime's is
//! off: its engine gets `epoch_interruption(true)` and its stores a
//! deadline that is never reached), or `--epochs off` (kiln's
//! `Config::epoch_interruption(false)`, Wasmtime's default). With epochs on,
//! the code of both checks the epoch at every function entry and loop
//! header.
//!
//! ```text
//! cargo bench --ignore-rust-version -p kiln-benches --bench jit_vs_wasmtime \
//!     [-- [--runs N] [--filter SUBSTR]... [--epochs on|off]]
//! ```
//!
//! Environment: `KILN_BENCH_RUNS` (like `--runs`), `KILN_BENCH_FILTER`
//! (comma-separated substrings, like `--filter`), `KILN_BENCH_EPOCHS` (like
//! `--epochs`), `KILN_BENCH_INPUTS` (the bench-inputs folder; default
//! `../shared/bench-inputs` beside the workspace).
//! A filter keeps the workloads, programs and compiled modules whose name
//! contains one of the substrings.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail, ensure};
use kiln_benches::measure::{Contender, DEFAULT_RUNS, Measured, Plan, SLOW, SLOW_RUNS, Timed, VERY_SLOW, ms, timed};
use kiln_benches::programs::{
    KilnCommand, Output, Program, WasmtimeCommand, inputs_dir, kiln_wasi_linker, programs, wasmtime_wasi_linker,
};
use kiln_benches::{Filters, Workload, env_var, geometric_mean, kiln_call_run, parse_runs, workloads};

/// Modules of the compile measurement (paths in the bench-inputs folder),
/// largest code section first; the C program workload is added to them.
const COMPILE_MODULES: &[&str] = &[
    "quickjs/qjs-wasi.wasm",
    "sqlite3/sqlite3.wasm",
    "hashset/benchmark.wasm",
    "gcc-loops/benchmark.wasm",
    "pulldown-cmark/benchmark.wasm",
    "rust-json/benchmark.wasm",
    "bz2/benchmark.wasm",
];

/// The workload whose module joins the compile measurement.
const COMPILE_WORKLOAD: &str = "c_program";

// ---------------------------------------------------------------------------
// The two runtimes behind one interface.

/// An engine under test, configured once.
trait Runtime {
    /// The name in the report.
    fn label(&self) -> &'static str;
    /// Decodes, validates and compiles `wasm`.
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled + '_>>;
}

/// A module compiled by a [`Runtime`]. Each method runs it once in a fresh
/// store and times instantiation plus the call, nothing else.
trait Compiled {
    /// Instantiates the module without imports and calls `run(arg)`.
    fn call_run(&self, arg: i32) -> Result<Timed<i32>>;
    /// Instantiates the module with WASI and the `bench` hooks as
    /// `program` says and calls `_start`.
    fn run_command(&self, program: &Program) -> Result<Timed<Output>>;
}

/// kiln with `Strategy::Jit`.
struct Kiln {
    label: &'static str,
    engine: kiln::Engine,
    /// Resolves nothing: the workloads have no imports.
    plain: kiln::Linker<()>,
    /// WASI preview1 and the `bench` hooks.
    wasi: kiln::Linker<kiln::wasi::WasiCtx>,
}

impl Kiln {
    /// `epochs` is `Config::epoch_interruption`, `threads` is
    /// `Config::compile_threads` (0 = all cores).
    fn new(label: &'static str, threads: usize, epochs: bool) -> Result<Kiln> {
        let mut config = kiln::Config::new();
        config.strategy(kiln::Strategy::Jit).epoch_interruption(epochs).compile_threads(threads);
        let engine = kiln::Engine::new(&config)?;
        Ok(Kiln { label, plain: kiln::Linker::new(&engine), wasi: kiln_wasi_linker(&engine)?, engine })
    }
}

impl Runtime for Kiln {
    fn label(&self) -> &'static str {
        self.label
    }

    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled + '_>> {
        let module = kiln::Module::new(&self.engine, wasm)?;
        Ok(Box::new(KilnModule { kiln: self, module }))
    }
}

struct KilnModule<'a> {
    kiln: &'a Kiln,
    module: kiln::Module,
}

impl Compiled for KilnModule<'_> {
    fn call_run(&self, arg: i32) -> Result<Timed<i32>> {
        let mut store = kiln::Store::new(&self.kiln.engine, ());
        let run = timed(|| kiln_call_run(&mut store, &self.kiln.plain, &self.module, arg));
        Ok(Timed { elapsed: run.elapsed, value: run.value? })
    }

    fn run_command(&self, program: &Program) -> Result<Timed<Output>> {
        let mut command = KilnCommand::new(&self.kiln.engine, program)?;
        let run = timed(|| command.start(&self.kiln.wasi, &self.module));
        Ok(Timed { elapsed: run.elapsed, value: command.finish(run.value)? })
    }
}

/// Wasmtime 48 with its default configuration, apart from the options.
struct Wasmtime {
    label: &'static str,
    engine: wasmtime::Engine,
    /// Whether the engine has epoch interruption on (stores then get a
    /// deadline that is never reached).
    epochs: bool,
    plain: wasmtime::Linker<()>,
    wasi: wasmtime::Linker<wasmtime_wasi::p1::WasiP1Ctx>,
}

impl Wasmtime {
    /// `parallel` is `Config::parallel_compilation`; `epochs` is
    /// `Config::epoch_interruption`.
    fn new(label: &'static str, parallel: bool, epochs: bool) -> Result<Wasmtime> {
        let mut config = wasmtime::Config::new();
        config.parallel_compilation(parallel).epoch_interruption(epochs);
        let engine = wasmtime::Engine::new(&config)?;
        Ok(Wasmtime {
            label,
            plain: wasmtime::Linker::new(&engine),
            wasi: wasmtime_wasi_linker(&engine)?,
            engine,
            epochs,
        })
    }

    /// A store for one run.
    fn store<T>(&self, data: T) -> wasmtime::Store<T> {
        let mut store = wasmtime::Store::new(&self.engine, data);
        if self.epochs {
            store.set_epoch_deadline(u64::MAX / 2);
        }
        store
    }
}

impl Runtime for Wasmtime {
    fn label(&self) -> &'static str {
        self.label
    }

    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled + '_>> {
        let module = wasmtime::Module::new(&self.engine, wasm)?;
        Ok(Box::new(WasmtimeModule { wasmtime: self, module }))
    }
}

struct WasmtimeModule<'a> {
    wasmtime: &'a Wasmtime,
    module: wasmtime::Module,
}

impl Compiled for WasmtimeModule<'_> {
    fn call_run(&self, arg: i32) -> Result<Timed<i32>> {
        let mut store = self.wasmtime.store(());
        let run = timed(|| {
            let instance = self.wasmtime.plain.instantiate(&mut store, &self.module)?;
            instance.get_typed_func::<i32, i32>(&mut store, "run")?.call(&mut store, arg)
        });
        Ok(Timed { elapsed: run.elapsed, value: run.value? })
    }

    fn run_command(&self, program: &Program) -> Result<Timed<Output>> {
        let mut command = WasmtimeCommand::new(program, |wasi| self.wasmtime.store(wasi))?;
        let run = timed(|| command.start(&self.wasmtime.wasi, &self.module));
        Ok(Timed { elapsed: run.elapsed, value: command.finish(run.value)? })
    }
}

// ---------------------------------------------------------------------------
// Measuring.

/// A contender for sections 1 and 2: one run of `module` as `check` sees it.
fn execution<'a, T>(
    module: &'a dyn Compiled,
    label: &'static str,
    run: impl Fn(&dyn Compiled) -> Result<Timed<T>> + 'a,
    check: impl Fn(&T) -> Result<()> + 'a,
) -> Contender<'a> {
    Contender::new(label, move || {
        let timed = run(module)?;
        check(&timed.value)?;
        Ok(timed.elapsed)
    })
}

/// Compiles `wasm` in kiln and Wasmtime and measures the runs `run` does,
/// checked by `check`.
fn measure_execution<T>(
    plan: &Plan,
    runtimes: [&dyn Runtime; 2],
    wasm: &[u8],
    run: impl Fn(&dyn Compiled) -> Result<Timed<T>> + Copy,
    check: impl Fn(&T) -> Result<()> + Copy,
) -> Result<Measured> {
    let compiled = runtimes
        .iter()
        .map(|rt| rt.compile(wasm).with_context(|| format!("{}: compiling", rt.label())))
        .collect::<Result<Vec<_>>>()?;
    let mut contenders: Vec<Contender<'_>> =
        compiled.iter().zip(runtimes).map(|(module, rt)| execution(module.as_ref(), rt.label(), run, check)).collect();
    plan.measure(&mut contenders)
}

/// Measures `Module::new` of `wasm` in each runtime.
fn measure_compile(plan: &Plan, runtimes: &[&dyn Runtime], wasm: &[u8]) -> Result<Measured> {
    let mut contenders: Vec<Contender<'_>> = runtimes
        .iter()
        .map(|rt| {
            Contender::new(rt.label(), move || {
                let compiled = timed(|| rt.compile(wasm));
                drop(compiled.value?);
                Ok(compiled.elapsed)
            })
        })
        .collect();
    plan.measure(&mut contenders)
}

/// Bytes of `wasm`'s code section (the function bodies).
fn code_section_size(wasm: &[u8]) -> Result<usize> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionStart { size, .. } = payload? {
            return Ok(size as usize);
        }
    }
    Ok(0)
}

// ---------------------------------------------------------------------------
// Reporting.

/// A section of the report.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Workloads,
    Programs,
    Compile,
}

impl Section {
    fn title(self) -> &'static str {
        match self {
            Section::Workloads => "workloads",
            Section::Programs => "programs",
            Section::Compile => "compile",
        }
    }
}

/// One measured line.
struct Row {
    section: Section,
    name: String,
    /// Code-section bytes (compile rows).
    code_bytes: usize,
    /// The measurement, or why the row could not be measured.
    result: Result<Measured, String>,
}

/// Rows and failures, printed as they come and summarised at the end.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// Records a row and prints it (or its failure) at once.
    fn add(&mut self, section: Section, name: &str, code_bytes: usize, result: Result<Measured>) {
        match &result {
            Ok(Measured { medians, runs }) => {
                let times: Vec<String> = medians.iter().map(|m| format!("{} ms", ms(*m, 0))).collect();
                println!("  {name:<20} {}  ({runs} runs)", times.join(" | "));
            }
            Err(error) => println!("  {name:<20} FAILED: {error:#}"),
        }
        let result = result.map_err(|e| format!("{e:#}"));
        self.rows.push(Row { section, name: name.to_string(), code_bytes, result });
    }

    fn rows(&self, section: Section) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.section == section)
    }

    /// The kiln / Wasmtime ratios of the successful rows of `sections`.
    fn execution_ratios(&self, sections: &[Section]) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| sections.contains(&r.section))
            .filter_map(|r| r.result.as_ref().ok())
            .map(|m| m.medians[0] / m.medians[1])
            .collect()
    }

    /// Prints the summary tables and the failures; returns whether there
    /// were none.
    fn print_summary(&self) -> bool {
        println!();
        println!("=== Summary: execution (instantiate + call, compile excluded), median per run ===");
        println!("ratio = kiln / wasmtime: below 1.00 kiln is faster");
        println!(
            "{:<10} {:<20} {:>12} {:>12} {:>8} {:>5}",
            "section", "name", "kiln ms", "wasmtime ms", "ratio", "runs"
        );
        for section in [Section::Workloads, Section::Programs] {
            for row in self.rows(section) {
                match &row.result {
                    Ok(Measured { medians: m, runs }) => println!(
                        "{:<10} {:<20} {} {} {:>8.2} {runs:>5}",
                        section.title(),
                        row.name,
                        ms(m[0], 12),
                        ms(m[1], 12),
                        m[0] / m[1]
                    ),
                    Err(_) => println!("{:<10} {:<20} {:>12}", section.title(), row.name, "FAILED"),
                }
            }
        }
        let means = [
            ("workloads", vec![Section::Workloads]),
            ("programs", vec![Section::Programs]),
            ("overall", vec![Section::Workloads, Section::Programs]),
        ];
        for (what, sections) in means {
            let ratios = self.execution_ratios(&sections);
            if let Some(mean) = geometric_mean(&ratios) {
                println!("{:<10} {:<20} {:>12} {:>12} {mean:>8.2} {:>5}", "geomean", what, "", "", ratios.len());
            }
        }

        if self.rows(Section::Compile).next().is_some() {
            self.print_compile_summary();
        }

        let failures: Vec<&Row> = self.rows.iter().filter(|r| r.result.is_err()).collect();
        if !failures.is_empty() {
            println!();
            println!("!!! {} FAILURE(S): these rows were not measured", failures.len());
            for row in failures {
                if let Err(error) = &row.result {
                    println!("!!! {}/{}: {error}", row.section.title(), row.name);
                }
            }
        }
        self.rows.iter().all(|r| r.result.is_ok())
    }

    fn print_compile_summary(&self) {
        println!();
        println!("=== Summary: compile (Module::new), median; MB/s = code-section bytes per second ===");
        println!("ratio = kiln / wasmtime throughput: above 1.00 kiln compiles faster");
        println!(
            "{:<16} {:>8} | {:>11} {:>6} | {:>11} {:>6} | {:>11} {:>6} | {:>11} {:>6} | {:>11} {:>10}",
            "module",
            "code KB",
            "kiln 1-thr ms",
            "MB/s",
            "kiln all ms",
            "MB/s",
            "wt 1-thr ms",
            "MB/s",
            "wt all ms",
            "MB/s",
            "ratio 1-thr",
            "ratio all"
        );
        let (mut single, mut all) = (Vec::new(), Vec::new());
        for row in self.rows(Section::Compile) {
            let Ok(Measured { medians: m, .. }) = &row.result else {
                println!("{:<16} {:>8.1} | FAILED", row.name, row.code_bytes as f64 / 1e3);
                continue;
            };
            let throughput = |secs: f64| row.code_bytes as f64 / secs / 1e6;
            // Contender order: kiln (all cores), kiln (1 thread), Wasmtime
            // (1 thread), Wasmtime (all cores).
            let [kiln_all, kiln_single, wasmtime_single, wasmtime_all] = [m[0], m[1], m[2], m[3]];
            let (ratio_single, ratio_all) = (wasmtime_single / kiln_single, wasmtime_all / kiln_all);
            single.push(ratio_single);
            all.push(ratio_all);
            println!(
                "{:<16} {:>8.1} | {} {:>6.2} | {} {:>6.2} | {} {:>6.2} | {} {:>6.2} | {ratio_single:>11.2} {ratio_all:>10.2}",
                row.name,
                row.code_bytes as f64 / 1e3,
                ms(kiln_single, 11),
                throughput(kiln_single),
                ms(kiln_all, 11),
                throughput(kiln_all),
                ms(wasmtime_single, 11),
                throughput(wasmtime_single),
                ms(wasmtime_all, 11),
                throughput(wasmtime_all),
            );
        }
        if let (Some(s1), Some(sa)) = (geometric_mean(&single), geometric_mean(&all)) {
            println!("{:<16} {:>8} | {:>95} {s1:>11.2} {sa:>10.2}", "geomean", "", "");
        }
        println!("wt = wasmtime; 1-thr: Config::compile_threads(1) / parallel_compilation(false)");
    }
}

// ---------------------------------------------------------------------------
// Options and main.

/// Command line and environment.
struct Options {
    plan: Plan,
    /// The names to keep.
    filters: Filters,
    /// The bench-inputs folder.
    inputs: PathBuf,
    /// Epoch interruption in both runtimes (`--epochs`).
    epochs: bool,
}

const USAGE: &str = "usage: jit_vs_wasmtime [--runs N] [--filter SUBSTR[,SUBSTR]]... [--epochs on|off]";

impl Options {
    /// Reads the environment, then the arguments after the program name
    /// (which win). `--bench`, which cargo passes to every benchmark, is
    /// ignored.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Options> {
        let parse_switch = |text: &str| -> Result<bool> {
            match text {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => bail!("--epochs takes `on` or `off`, not `{text}`"),
            }
        };
        let mut options = Options {
            plan: Plan {
                runs: env_var("KILN_BENCH_RUNS").as_deref().map_or(Ok(DEFAULT_RUNS), parse_runs)?,
                warmup: true,
                cap_slow: true,
            },
            filters: Filters::default(),
            inputs: inputs_dir(),
            epochs: env_var("KILN_BENCH_EPOCHS").as_deref().map_or(Ok(true), parse_switch)?,
        };
        if let Some(list) = env_var("KILN_BENCH_FILTER") {
            options.filters.add(&list);
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value; {USAGE}"));
            match arg.as_str() {
                "--bench" => {}
                "--runs" => options.plan.runs = parse_runs(&value("--runs")?)?,
                "--filter" => options.filters.add(&value("--filter")?),
                "--epochs" => options.epochs = parse_switch(&value("--epochs")?)?,
                _ => bail!("unexpected argument `{arg}`; {USAGE}"),
            }
        }
        Ok(options)
    }

    /// Whether the row called `name` is selected.
    fn selects(&self, name: &str) -> bool {
        self.filters.selects(name)
    }
}

fn main() -> ExitCode {
    match run_benchmarks() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the three sections and prints the summary; `Ok(false)` when a row
/// failed.
fn run_benchmarks() -> Result<bool> {
    let options = Options::parse(std::env::args().skip(1))?;
    let kiln = Kiln::new("kiln", 0, options.epochs).context("creating the kiln engine")?;
    let wasmtime = Wasmtime::new("wasmtime", true, options.epochs).context("creating the Wasmtime engine")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    println!("kiln JIT vs Wasmtime 48, {cores} cores, {} timed runs per contender", options.plan.runs);
    let epochs = if options.epochs { "on" } else { "off" };
    println!("  kiln:     Config::new() + Strategy::Jit, epoch_interruption({epochs})");
    println!("  wasmtime: Config::new() (Cranelift, opt-level speed, no compilation cache: built without `cache`)");
    println!("            deviations from it:");
    println!("            - WASI contexts allow blocking the current thread (as `wasmtime run`)");
    if options.epochs {
        println!(
            "            - epoch_interruption(true) to match kiln (Wasmtime's default is off; \
             deadline never reached); `--epochs off` turns it off in both"
        );
    }
    println!(
        "  timed: instantiate + call (compile excluded); first a warm-up; >= {SLOW:?}: <= {SLOW_RUNS} runs, \
         >= {VERY_SLOW:?}: 1 run"
    );
    if !options.filters.is_empty() {
        println!("  filter: {:?}", options.filters.substrings());
    }

    let mut report = Report::default();
    let runtimes: [&dyn Runtime; 2] = [&kiln, &wasmtime];
    let workloads: Vec<Workload> = workloads();

    println!("\n== workloads: kiln | wasmtime ==");
    for workload in workloads.iter().filter(|w| options.selects(w.name)) {
        let expected = workload.expected_result();
        let result = workload.wasm().and_then(|wasm| {
            measure_execution(
                &options.plan,
                runtimes,
                &wasm,
                |m| m.call_run(workload.arg),
                |&got| {
                    ensure!(got == expected, "WRONG RESULT: run({}) returned {got}, expected {expected}", workload.arg);
                    Ok(())
                },
            )
        });
        report.add(Section::Workloads, workload.name, 0, result);
    }

    let have_inputs = options.inputs.is_dir();
    println!("\n== programs: kiln | wasmtime ==");
    if have_inputs {
        for program in programs(&options.inputs)?.iter().filter(|p| options.selects(&p.name)) {
            let result = std::fs::read(&program.wasm)
                .with_context(|| format!("reading {}", program.wasm.display()))
                .and_then(|wasm| {
                    measure_execution(
                        &options.plan,
                        runtimes,
                        &wasm,
                        |m| m.run_command(program),
                        |out| program.check(out),
                    )
                });
            report.add(Section::Programs, &program.name, 0, result);
        }
    } else {
        println!("  skipped: {} is absent (set KILN_BENCH_INPUTS)", options.inputs.display());
    }

    println!("\n== compile: kiln (all cores) | kiln (1 thread) | wasmtime (1 thread) | wasmtime (all cores) ==");
    let kiln_single = Kiln::new("kiln (1 thread)", 1, options.epochs).context("creating the kiln engine")?;
    let wasmtime_single = Wasmtime::new("wasmtime (1 thread)", false, options.epochs)?;
    let compilers: [&dyn Runtime; 4] = [&kiln, &kiln_single, &wasmtime_single, &wasmtime];
    let mut modules: Vec<(String, Result<Vec<u8>>)> = Vec::new();
    if have_inputs {
        for path in COMPILE_MODULES {
            let name = path.split('/').next().unwrap_or(path).to_string();
            let file = options.inputs.join(path);
            modules.push((name, std::fs::read(&file).with_context(|| format!("reading {}", file.display()))));
        }
    } else {
        println!("  (bench-inputs absent: only the C program)");
    }
    if let Some(workload) = workloads.iter().find(|w| w.name == COMPILE_WORKLOAD) {
        modules.push((workload.name.to_string(), workload.wasm()));
    }
    for (name, wasm) in modules.into_iter().filter(|(name, _)| options.selects(name)) {
        let code_bytes = wasm.as_deref().map_or(Ok(0), code_section_size).unwrap_or(0);
        let result = wasm.and_then(|wasm| measure_compile(&options.plan, &compilers, &wasm));
        report.add(Section::Compile, &name, code_bytes, result);
    }

    Ok(report.print_summary())
}
