//! kiln's ahead-of-time compilation (`kiln::aot`, the `.aot` file) against
//! Wasmtime 48's precompiled modules (`Engine::precompile_module`, the
//! library call behind `wasmtime compile`, and its `.cwasm` file), and
//! code loaded from an `.aot` file against the same module under kiln's JIT.
//!
//! Programs: the C programs of `tests/programs` that compute something with
//! no input ([`TEST_PROGRAMS`]: `c-hash`, `c-sort`, `c-float`, run without
//! arguments, stdout and exit status checked against `expected/`), then the
//! bench-inputs programs of `jit_vs_wasmtime` (every Sightglass program that
//! needs no SIMD, and QuickJS running a loop), run and checked as there.
//!
//! Three measurements, in this order:
//!
//! 1. **Compile**: kiln `aot::compile(&config, wasm, &AotOptions::default())`
//!    (host target, opt-level speed, no embedded wasm, one thread per core;
//!    `config` is `Config::new()` with `Strategy::Jit`, which does not change
//!    `.aot` code) against Wasmtime `Engine::precompile_module` (opt-level speed, parallel
//!    compilation on all cores), both with epoch interruption on, each
//!    producing the bytes of its file. Reported: milliseconds, MB/s of wasm
//!    input (the whole module file), the ratio kiln / Wasmtime of the times
//!    and the sizes of the outputs. Goal: geometric mean ≤ [`COMPILE_GOAL`].
//! 2. **Load + instantiate**: the outputs of part 1 written to files in a
//!    temporary folder; kiln `Module::from_aot_file` (maps the file) and
//!    Wasmtime `Module::deserialize_file` (maps it too), each followed by an
//!    instantiation with the runtime's WASI linker (WASI preview1 and the
//!    `bench` hooks defined, as a real run needs; `_start` is not called).
//!    Then the same from bytes in memory: `Module::from_aot_bytes` and
//!    `Module::deserialize`. One engine per runtime loads the same file over
//!    and over; every iteration drops its module (and store). A measurement
//!    is the median of N iterations per contender, N chosen (from a warm-up
//!    round) so that the fastest contender's iterations add up to
//!    [`LOAD_MIN_TOTAL`], at least [`LOAD_MIN_ITERS`] and at most
//!    [`LOAD_MAX_ITERS`]. kiln's loader checks
//!    a CRC-32 of the whole file at every load; Wasmtime checks no checksum.
//!    Goal: geometric mean of kiln / Wasmtime ≤ [`LOAD_GOAL`].
//! 3. **Execution**: each program's `_start` from the `.aot` file (loaded
//!    once by `Module::from_aot_file`, untimed) against the same module
//!    under `Strategy::Jit` (`Module::new` once, untimed), in the same
//!    engine. A run times instantiation and `_start`; it must exit with
//!    status 0 and write exactly the expected output (where there is one:
//!    hashset, richards and sqlite3 have none, and hashset prints its own
//!    timing). The ratio aot / jit is expected to be about 1.0.
//!
//! Timing. The contenders of a measurement take turns run by run
//! (`kiln_benches::measure`); the store and WASI context of a run are made
//! before its timed region and dropped after it, as is the module in part 2.
//! In parts 1 and 3 each contender first does one warm-up run, then `--runs`
//! timed runs (default [`DEFAULT_RUNS`]); a measurement whose warm-up took
//! 1 s or more in some contender counts it as its first run and does at most
//! 3 in all, one of 10 s or more only that one.
//!
//! ```text
//! cargo bench --ignore-rust-version -p kiln-benches --bench aot \
//!     [-- [--runs N] [--filter SUBSTR[,SUBSTR]]... [--quick]]
//! ```
//!
//! `--filter` keeps the programs whose name contains one of the substrings;
//! `--quick` does one run per contender without warm-up in parts 1 and 3 and
//! [`LOAD_MIN_ITERS`] iterations in part 2. Environment: `KILN_BENCH_RUNS`,
//! `KILN_BENCH_FILTER` and `KILN_BENCH_INPUTS` (the bench-inputs folder,
//! default `../shared/bench-inputs` beside the workspace; when it is absent
//! only the `tests/programs` programs run), as in `jit_vs_wasmtime`. A run
//! that fails (error, trap, non-zero exit, unexpected output) is never
//! timed: its row prints `FAILED`, the failures are listed at the end, and
//! the benchmark exits with status 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use kiln_benches::measure::{Contender, Measured, Plan, SLOW, SLOW_RUNS, VERY_SLOW, ms, timed};
use kiln_benches::programs::{
    Expected, KilnCommand, Output, Program, WasmtimeCommand, inputs_dir, kiln_wasi_linker, programs,
    wasmtime_wasi_linker,
};
use kiln_benches::{Filters, env_var, geometric_mean, parse_runs};

/// Default timed runs per contender in parts 1 and 3.
const DEFAULT_RUNS: usize = 3;

/// Part 2: the fastest contender's iterations add up to at least this.
const LOAD_MIN_TOTAL: Duration = Duration::from_millis(200);
/// Part 2: iterations per contender, at least.
const LOAD_MIN_ITERS: usize = 5;
/// Part 2: iterations per contender, at most.
const LOAD_MAX_ITERS: usize = 5_000;

/// Goal of part 1: geometric mean of kiln / Wasmtime compile times.
const COMPILE_GOAL: f64 = 1.5;
/// Goal of part 2: geometric mean of kiln / Wasmtime load + instantiate.
const LOAD_GOAL: f64 = 1.0;

/// The C programs of `tests/programs` (run with no arguments, no stdin, no
/// preopened folder), reported as `c-NAME`.
const TEST_PROGRAMS: &[&str] = &["hash", "sort", "float"];

/// Contenders of part 2, in measurement order.
const LOAD_LABELS: [&str; 4] = ["kiln file", "wasmtime file", "kiln bytes", "wasmtime bytes"];

// ---------------------------------------------------------------------------
// The two runtimes.

/// kiln: one engine (`Strategy::Jit`, the rest default) for loading `.aot`
/// files and for the JIT of part 3; `config` is what `aot::compile` gets.
struct Kiln {
    config: kiln::Config,
    engine: kiln::Engine,
    wasi: kiln::Linker<kiln::wasi::WasiCtx>,
}

impl Kiln {
    fn new() -> Result<Kiln> {
        let mut config = kiln::Config::new();
        config.strategy(kiln::Strategy::Jit);
        let engine = kiln::Engine::new(&config)?;
        Ok(Kiln { wasi: kiln_wasi_linker(&engine)?, config, engine })
    }

    /// The `.aot` bytes of `wasm`, with the default options (host target,
    /// opt-level speed, no embedded wasm, one compile thread per core).
    fn compile(&self, wasm: &[u8]) -> kiln::Result<Vec<u8>> {
        kiln::aot::compile(&self.config, wasm, &kiln::aot::AotOptions::default())
    }

    /// Loads a module with `load`, then instantiates it in a store set up
    /// for `program`; only the load and the instantiation are timed.
    fn load_and_instantiate(
        &self,
        program: &Program,
        load: impl FnOnce() -> kiln::Result<kiln::Module>,
    ) -> Result<Duration> {
        let mut command = KilnCommand::new(&self.engine, program)?;
        let run = timed(|| -> kiln::Result<_> {
            let module = load()?;
            let instance = self.wasi.instantiate(&mut command.store, &module)?;
            Ok((module, instance))
        });
        let loaded = run.value?;
        drop(command);
        drop(loaded);
        Ok(run.elapsed)
    }

    /// Runs `program` from `module`: instantiation and `_start` are timed.
    fn run(&self, module: &kiln::Module, program: &Program) -> Result<(Duration, Output)> {
        let mut command = KilnCommand::new(&self.engine, program)?;
        let run = timed(|| command.start(&self.wasi, module));
        Ok((run.elapsed, command.finish(run.value)?))
    }
}

/// Wasmtime 48: `Config::new()` (Cranelift, opt-level speed, parallel
/// compilation, no compilation cache) with epoch interruption on, as kiln.
struct Wasmtime {
    engine: wasmtime::Engine,
    wasi: wasmtime::Linker<wasmtime_wasi::p1::WasiP1Ctx>,
}

impl Wasmtime {
    fn new() -> Result<Wasmtime> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = wasmtime::Engine::new(&config)?;
        Ok(Wasmtime { wasi: wasmtime_wasi_linker(&engine)?, engine })
    }

    /// A store for one run, with an epoch deadline that is never reached.
    fn store<T>(&self, data: T) -> wasmtime::Store<T> {
        let mut store = wasmtime::Store::new(&self.engine, data);
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }

    /// As [`Kiln::load_and_instantiate`].
    fn load_and_instantiate(
        &self,
        program: &Program,
        load: impl FnOnce() -> wasmtime::Result<wasmtime::Module>,
    ) -> Result<Duration> {
        let mut command = WasmtimeCommand::new(program, |wasi| self.store(wasi))?;
        let run = timed(|| -> wasmtime::Result<_> {
            let module = load()?;
            let instance = self.wasi.instantiate(&mut command.store, &module)?;
            Ok((module, instance))
        });
        let loaded = run.value?;
        drop(command);
        drop(loaded);
        Ok(run.elapsed)
    }
}

// ---------------------------------------------------------------------------
// The programs and their compiled files.

/// A program of the benchmark, with what part 1 made of it.
struct Subject {
    program: Program,
    /// Bytes of the wasm module.
    wasm_bytes: usize,
    /// The outputs of part 1, when both runtimes compiled the module.
    files: Option<Files>,
}

/// The compiled files of a program.
struct Files {
    aot: Vec<u8>,
    cwasm: Vec<u8>,
    aot_path: PathBuf,
    cwasm_path: PathBuf,
}

/// The C programs of `tests/programs` in [`TEST_PROGRAMS`].
fn test_programs() -> Result<Vec<Program>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs");
    TEST_PROGRAMS
        .iter()
        .map(|name| {
            let expected = |file: String| {
                let path = dir.join(&file);
                std::fs::read(&path).with_context(|| format!("reading {}", path.display())).map(|bytes| (file, bytes))
            };
            let (_, status) = expected(format!("expected/{name}.status"))?;
            ensure!(String::from_utf8_lossy(&status).trim() == "0", "tests/programs/expected/{name}.status is not 0");
            let (source, bytes) = expected(format!("expected/{name}.stdout"))?;
            Ok(Program {
                name: format!("c-{name}"),
                preopen: None,
                wasm: dir.join(format!("{name}.wasm")),
                argv: vec![format!("{name}.wasm")],
                stdout: Some(Expected { source, bytes }),
                stderr: None,
            })
        })
        .collect()
}

/// A folder removed, with what it holds, when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("kiln-bench-aot-{}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// The three parts.

/// Part 1: compiles `wasm` in both runtimes, in turns; returns the
/// measurement and the last outputs (`.aot`, `.cwasm`).
fn measure_compile(plan: &Plan, kiln: &Kiln, wasmtime: &Wasmtime, wasm: &[u8]) -> Result<(Measured, Vec<u8>, Vec<u8>)> {
    let (mut aot, mut cwasm) = (None, None);
    let measured = plan.measure(&mut [
        Contender::new("kiln aot::compile", || {
            let compiled = timed(|| kiln.compile(wasm));
            aot = Some(compiled.value?);
            Ok(compiled.elapsed)
        }),
        Contender::new("wasmtime precompile_module", || {
            let compiled = timed(|| wasmtime.engine.precompile_module(wasm));
            cwasm = Some(compiled.value?);
            Ok(compiled.elapsed)
        }),
    ])?;
    match (aot, cwasm) {
        (Some(aot), Some(cwasm)) => Ok((measured, aot, cwasm)),
        _ => bail!("no output"),
    }
}

/// Part 2: the four ways of loading `files` and instantiating the module.
fn measure_load(quick: bool, kiln: &Kiln, wasmtime: &Wasmtime, program: &Program, files: &Files) -> Result<Measured> {
    let mut contenders = [
        Contender::new(LOAD_LABELS[0], || {
            kiln.load_and_instantiate(program, || kiln::Module::from_aot_file(&kiln.engine, &files.aot_path))
        }),
        Contender::new(LOAD_LABELS[1], || {
            wasmtime.load_and_instantiate(program, || {
                // SAFETY: the file was written from the output of
                // `precompile_module` of this very engine, and nothing
                // changes it while a module mapped from it lives.
                unsafe { wasmtime::Module::deserialize_file(&wasmtime.engine, &files.cwasm_path) }
            })
        }),
        Contender::new(LOAD_LABELS[2], || {
            kiln.load_and_instantiate(program, || kiln::Module::from_aot_bytes(&kiln.engine, &files.aot))
        }),
        Contender::new(LOAD_LABELS[3], || {
            wasmtime.load_and_instantiate(program, || {
                // SAFETY: the bytes are the unmodified output of
                // `precompile_module` of this very engine.
                unsafe { wasmtime::Module::deserialize(&wasmtime.engine, &files.cwasm) }
            })
        }),
    ];
    // A warm-up round, which also sizes the measurement.
    let mut fastest = Duration::MAX;
    for contender in &mut contenders {
        fastest = fastest.min((contender.run)().with_context(|| contender.label)?);
    }
    let iterations = if quick {
        LOAD_MIN_ITERS
    } else {
        let wanted = LOAD_MIN_TOTAL.as_secs_f64() / fastest.as_secs_f64().max(1e-9);
        (wanted.ceil() as usize).clamp(LOAD_MIN_ITERS, LOAD_MAX_ITERS)
    };
    Plan { runs: iterations, warmup: false, cap_slow: false }.measure(&mut contenders)
}

/// Part 3: `program` from the `.aot` file against the JIT, in turns, the
/// output of every run checked.
fn measure_execution(plan: &Plan, kiln: &Kiln, wasm: &[u8], program: &Program, files: &Files) -> Result<Measured> {
    let aot = kiln::Module::from_aot_file(&kiln.engine, &files.aot_path).context("aot: Module::from_aot_file")?;
    let jit = kiln::Module::new(&kiln.engine, wasm).context("jit: Module::new")?;
    let mut contenders = [("aot", &aot), ("jit", &jit)].map(|(label, module)| {
        Contender::new(label, move || {
            let (elapsed, output) = kiln.run(module, program)?;
            program.check(&output)?;
            Ok(elapsed)
        })
    });
    plan.measure(&mut contenders)
}

// ---------------------------------------------------------------------------
// Reporting.

/// The parts of the benchmark.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Compile,
    Load,
    Execution,
}

impl Part {
    fn title(self) -> &'static str {
        match self {
            Part::Compile => "compile",
            Part::Load => "load",
            Part::Execution => "execution",
        }
    }
}

/// One measured row.
struct Row {
    part: Part,
    name: String,
    /// Bytes of the wasm module.
    wasm_bytes: usize,
    /// Bytes of the `.aot` and `.cwasm` files (compile rows).
    outputs: (usize, usize),
    /// The medians, or why the row was not measured.
    result: Result<Measured, String>,
}

/// Everything measured, and every failure.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    /// `part/name: error` of every measurement that failed.
    failures: Vec<String>,
}

impl Report {
    /// Records a row and prints it at once: its medians with `labels` (in
    /// µs for part 2, ms otherwise), or its failure.
    fn add(&mut self, part: Part, subject: &Subject, labels: &[&str], result: Result<Measured>) {
        let name = &subject.program.name;
        let result = match result {
            Ok(measured) => {
                let times: Vec<String> = labels
                    .iter()
                    .zip(&measured.medians)
                    .map(|(label, &m)| match part {
                        Part::Load => format!("{label} {:.0} µs", m * 1e6),
                        _ => format!("{label} {} ms", ms(m, 0)),
                    })
                    .collect();
                let unit = if part == Part::Load { "iterations" } else { "runs" };
                println!("  {name:<20} {}  ({} {unit})", times.join(" | "), measured.runs);
                Ok(measured)
            }
            Err(error) => {
                let message = format!("{error:#}");
                println!("  {name:<20} FAILED: {message}");
                self.failures.push(format!("{}/{name}: {message}", part.title()));
                Err(message)
            }
        };
        let outputs = subject.files.as_ref().map_or((0, 0), |f| (f.aot.len(), f.cwasm.len()));
        self.rows.push(Row { part, name: name.clone(), wasm_bytes: subject.wasm_bytes, outputs, result });
    }

    /// The measured rows of `part`, with their medians.
    fn measured(&self, part: Part) -> impl Iterator<Item = (&Row, &Measured)> {
        self.rows.iter().filter(move |r| r.part == part).filter_map(|r| r.result.as_ref().ok().map(|m| (r, m)))
    }

    /// Prints a row that was not measured.
    fn print_failed(&self, part: Part) {
        for row in self.rows.iter().filter(|r| r.part == part && r.result.is_err()) {
            println!("{:<20} FAILED", row.name);
        }
    }

    fn print_compile(&self, cores: usize) {
        println!();
        println!(
            "=== 1. Compile: kiln aot::compile vs wasmtime Engine::precompile_module, median; \
             MB/s = wasm input bytes per second ==="
        );
        println!(
            "both opt-level speed, epoch interruption on, all {cores} cores; ratio = kiln / wasmtime time: \
             below 1.00 kiln compiles faster"
        );
        println!(
            "{:<20} {:>8} | {:>9} {:>6} | {:>11} {:>6} | {:>6} | {:>8} {:>9} {:>5}",
            "program", "wasm KB", "kiln ms", "MB/s", "wasmtime ms", "MB/s", "ratio", ".aot KB", ".cwasm KB", "runs"
        );
        let mut ratios = Vec::new();
        for (row, m) in self.measured(Part::Compile) {
            let throughput = |secs: f64| row.wasm_bytes as f64 / secs / 1e6;
            let ratio = m.medians[0] / m.medians[1];
            ratios.push(ratio);
            let over = if ratio > COMPILE_GOAL { " *" } else { "" };
            println!(
                "{:<20} {:>8.1} | {} {:>6.2} | {} {:>6.2} | {ratio:>6.2} | {:>8.1} {:>9.1} {:>5}{over}",
                row.name,
                row.wasm_bytes as f64 / 1e3,
                ms(m.medians[0], 9),
                throughput(m.medians[0]),
                ms(m.medians[1], 11),
                throughput(m.medians[1]),
                row.outputs.0 as f64 / 1e3,
                row.outputs.1 as f64 / 1e3,
                m.runs,
            );
        }
        self.print_failed(Part::Compile);
        let (kiln_total, wasmtime_total, bytes) = self
            .measured(Part::Compile)
            .fold((0.0, 0.0, 0usize), |(k, w, b), (row, m)| (k + m.medians[0], w + m.medians[1], b + row.wasm_bytes));
        if let Some(mean) = geometric_mean(&ratios) {
            println!(
                "{:<20} {:>8.1} | {} {:>6.2} | {} {:>6.2} | {mean:>6.2} |",
                "total / geomean",
                bytes as f64 / 1e3,
                ms(kiln_total, 9),
                bytes as f64 / kiln_total / 1e6,
                ms(wasmtime_total, 11),
                bytes as f64 / wasmtime_total / 1e6,
            );
            println!(
                "goal: geomean kiln / wasmtime <= {COMPILE_GOAL:.2}: {} ({mean:.2}); rows above it: * ({} of {})",
                if mean <= COMPILE_GOAL { "met" } else { "NOT met" },
                ratios.iter().filter(|&&r| r > COMPILE_GOAL).count(),
                ratios.len()
            );
        }
    }

    fn print_load(&self) {
        println!();
        println!("=== 2. Load + instantiate (WASI imports defined, _start not called), median per iteration ===");
        println!(
            "file: kiln Module::from_aot_file vs wasmtime Module::deserialize_file (both mmap the file, in page cache); \
             bytes: from_aot_bytes vs Module::deserialize"
        );
        println!(
            "kiln's loader verifies a CRC-32 over the whole file at each load; Wasmtime checks no checksum. \
             ratio = kiln / wasmtime: below 1.00 kiln is faster"
        );
        println!(
            "{:<20} {:>8} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6} | {:>6}",
            "program", ".aot KB", "kiln µs", "wt µs", "ratio", "kiln µs", "wt µs", "ratio", "iters"
        );
        println!("{:<20} {:>8} | {:^26} | {:^26} |", "", "", "file", "bytes");
        let (mut file, mut bytes) = (Vec::new(), Vec::new());
        for (row, m) in self.measured(Part::Load) {
            let us = |secs: f64| format!("{:>9.1}", secs * 1e6);
            let (r_file, r_bytes) = (m.medians[0] / m.medians[1], m.medians[2] / m.medians[3]);
            file.push(r_file);
            bytes.push(r_bytes);
            let over = if r_file > LOAD_GOAL || r_bytes > LOAD_GOAL { " *" } else { "" };
            println!(
                "{:<20} {:>8.1} | {} {} {r_file:>6.2} | {} {} {r_bytes:>6.2} | {:>6}{over}",
                row.name,
                row.outputs.0 as f64 / 1e3,
                us(m.medians[0]),
                us(m.medians[1]),
                us(m.medians[2]),
                us(m.medians[3]),
                m.runs,
            );
        }
        self.print_failed(Part::Load);
        if let (Some(f), Some(b)) = (geometric_mean(&file), geometric_mean(&bytes)) {
            println!("{:<20} {:>8} | {:>19} {f:>6.2} | {:>19} {b:>6.2} |", "geomean", "", "", "");
            let verdict = |mean: f64| if mean <= LOAD_GOAL { "met" } else { "NOT met" };
            println!(
                "goal: geomean kiln / wasmtime <= {LOAD_GOAL:.2}: file {} ({f:.2}), bytes {} ({b:.2}); \
                 rows above it in either: *",
                verdict(f),
                verdict(b)
            );
        }
        println!("wt = wasmtime; iters = timed iterations per contender");
    }

    fn print_execution(&self) {
        println!();
        println!(
            "=== 3. Execution: _start from the .aot file vs Strategy::Jit (instantiate + run; load and compile excluded), median ==="
        );
        println!("ratio = aot / jit: expected about 1.00");
        println!("{:<20} {:>11} {:>11} {:>8} {:>5}", "program", "aot ms", "jit ms", "aot/jit", "runs");
        let mut ratios = Vec::new();
        for (row, m) in self.measured(Part::Execution) {
            let ratio = m.medians[0] / m.medians[1];
            ratios.push(ratio);
            println!("{:<20} {} {} {ratio:>8.2} {:>5}", row.name, ms(m.medians[0], 11), ms(m.medians[1], 11), m.runs);
        }
        self.print_failed(Part::Execution);
        if let Some(mean) = geometric_mean(&ratios) {
            println!("{:<20} {:>11} {:>11} {mean:>8.2} {:>5}", "geomean", "", "", ratios.len());
        }
    }

    /// Prints the failures; returns whether there were none.
    fn print_failures(&self) -> bool {
        if self.failures.is_empty() {
            return true;
        }
        println!();
        println!("!!! {} FAILURE(S): these were not measured", self.failures.len());
        for failure in &self.failures {
            println!("!!! {failure}");
        }
        false
    }
}

// ---------------------------------------------------------------------------
// Options and main.

/// Command line and environment.
struct Options {
    /// Parts 1 and 3.
    plan: Plan,
    /// Part 2 does [`LOAD_MIN_ITERS`] iterations.
    quick: bool,
    filters: Filters,
    inputs: PathBuf,
}

const USAGE: &str = "usage: aot [--runs N] [--filter SUBSTR[,SUBSTR]]... [--quick]";

impl Options {
    /// Reads the environment, then the arguments (which win). `--bench`,
    /// which cargo passes to every benchmark, is ignored.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Options> {
        let mut options = Options {
            plan: Plan {
                runs: env_var("KILN_BENCH_RUNS").as_deref().map_or(Ok(DEFAULT_RUNS), parse_runs)?,
                warmup: true,
                cap_slow: true,
            },
            quick: false,
            filters: Filters::default(),
            inputs: inputs_dir(),
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
                "--quick" => options.quick = true,
                _ => bail!("unexpected argument `{arg}`; {USAGE}"),
            }
        }
        if options.quick {
            options.plan.runs = 1;
            options.plan.warmup = false;
        }
        Ok(options)
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

/// Runs the three parts and prints the tables; `Ok(false)` when a row
/// failed.
fn run_benchmarks() -> Result<bool> {
    let options = Options::parse(std::env::args().skip(1))?;
    let kiln = Kiln::new().context("creating the kiln engine")?;
    let wasmtime = Wasmtime::new().context("creating the Wasmtime engine")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let temp = TempDir::new()?;

    println!("kiln AOT (.aot) vs Wasmtime 48 precompiled modules (.cwasm), and .aot vs kiln JIT, {cores} cores");
    println!(
        "  kiln:     aot::compile(config, AotOptions::default()): host CPU, opt-level speed, no embedded wasm, \
         threads 0 = one per core ({cores}; modules with < 16 KiB of code compile on one thread);"
    );
    println!(
        "            config = Config::new() + Strategy::Jit (epoch_interruption on, kiln's default; the strategy \
         does not change .aot code), one engine for the loads and the JIT"
    );
    println!(
        "  wasmtime: Config::new() (Cranelift, opt-level speed, parallel compilation on all {cores} cores, \
         no compilation cache: built without `cache`)"
    );
    println!("            deviations from it:");
    println!(
        "            - epoch_interruption(true) to match kiln (Wasmtime's default is off; deadline never reached)"
    );
    println!("            - WASI contexts allow blocking the current thread (as `wasmtime run`)");
    println!(
        "  parts 1, 3: first a warm-up, then {} timed runs per contender; >= {SLOW:?}: <= {SLOW_RUNS} runs, \
         >= {VERY_SLOW:?}: 1 run",
        options.plan.runs
    );
    println!(
        "  part 2: one engine per runtime, the same file loaded again and again, module dropped each time; \
         iterations: the fastest contender's add up to >= {LOAD_MIN_TOTAL:?}, {LOAD_MIN_ITERS}..={LOAD_MAX_ITERS}"
    );
    if !options.filters.is_empty() {
        println!("  filter: {:?}", options.filters.substrings());
    }

    let mut all = test_programs()?;
    if options.inputs.is_dir() {
        all.extend(programs(&options.inputs)?);
    } else {
        println!("  bench-inputs skipped: {} is absent (set KILN_BENCH_INPUTS)", options.inputs.display());
    }
    let mut subjects: Vec<Subject> = all
        .into_iter()
        .filter(|p| options.filters.selects(&p.name))
        .map(|program| Subject { program, wasm_bytes: 0, files: None })
        .collect();
    let mut report = Report::default();

    println!("\n== 1. compile: kiln aot::compile | wasmtime precompile_module ==");
    for subject in &mut subjects {
        let result = subject.program.read_wasm().and_then(|wasm| {
            subject.wasm_bytes = wasm.len();
            let (measured, aot, cwasm) = measure_compile(&options.plan, &kiln, &wasmtime, &wasm)?;
            let stem = &subject.program.name;
            let files = Files {
                aot_path: temp.0.join(format!("{stem}.aot")),
                cwasm_path: temp.0.join(format!("{stem}.cwasm")),
                aot,
                cwasm,
            };
            std::fs::write(&files.aot_path, &files.aot)
                .with_context(|| format!("writing {}", files.aot_path.display()))?;
            std::fs::write(&files.cwasm_path, &files.cwasm)
                .with_context(|| format!("writing {}", files.cwasm_path.display()))?;
            subject.files = Some(files);
            Ok(measured)
        });
        report.add(Part::Compile, subject, &["kiln", "wasmtime"], result);
    }

    println!("\n== 2. load + instantiate: {} ==", LOAD_LABELS.join(" | "));
    for subject in &subjects {
        let Some(files) = &subject.files else {
            println!("  {:<20} skipped: not compiled", subject.program.name);
            continue;
        };
        let result = measure_load(options.quick, &kiln, &wasmtime, &subject.program, files);
        report.add(Part::Load, subject, &LOAD_LABELS, result);
    }

    println!("\n== 3. execution: aot | jit ==");
    for subject in &subjects {
        let Some(files) = &subject.files else {
            println!("  {:<20} skipped: not compiled", subject.program.name);
            continue;
        };
        let result = subject
            .program
            .read_wasm()
            .and_then(|wasm| measure_execution(&options.plan, &kiln, &wasm, &subject.program, files));
        report.add(Part::Execution, subject, &["aot", "jit"], result);
    }

    report.print_compile(cores);
    report.print_load();
    report.print_execution();
    Ok(report.print_failures())
}
