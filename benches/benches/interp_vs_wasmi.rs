//! Side-by-side benchmark of kiln's interpreter against wasmi 2.0.
//!
//! Every workload is one WebAssembly module exporting `run: (i32) -> i32`.
//! The module is compiled and instantiated once in each engine; then the
//! two engines take turns running it, so both see the same machine state
//! (frequency scaling, other load on the box) as nearly as possible. The
//! report is the median time per engine and the ratio kiln / wasmi, with the
//! geometric mean of the ratios on the last line (lower is better).
//!
//! Every call's result is checked against a value computed natively: a wrong
//! result aborts the benchmark instead of being timed.
//!
//! ```text
//! cargo bench --ignore-rust-version -p kiln-benches --bench interp_vs_wasmi [-- [--quick] [FILTER...]]
//! ```
//!
//! `--quick` takes fewer runs; each `FILTER` keeps the workloads whose name
//! contains it. See `benches/README.md` for what each workload measures.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kiln_benches::{Workload, geometric_mean, median_secs, workloads};

/// An instantiated workload in one engine, ready to be called.
trait Runner {
    /// Calls the workload's `run` export.
    fn run(&mut self, arg: i32) -> Result<i32>;
}

/// A workload instantiated in kiln.
struct KilnRunner {
    store: kiln::Store<()>,
    run: kiln::TypedFunc<i32, i32>,
}

impl KilnRunner {
    /// Compiles and instantiates `wasm` with `engine`.
    fn new(engine: &kiln::Engine, wasm: &[u8]) -> Result<Self> {
        let module = kiln::Module::new(engine, wasm)?;
        let mut store = kiln::Store::new(engine, ());
        let instance = kiln::Linker::<()>::new(engine).instantiate(&mut store, &module)?;
        let run = instance.get_typed_func::<i32, i32>(&mut store, "run")?;
        Ok(Self { store, run })
    }
}

impl Runner for KilnRunner {
    fn run(&mut self, arg: i32) -> Result<i32> {
        Ok(self.run.call(&mut self.store, arg)?)
    }
}

/// A workload instantiated in wasmi.
struct WasmiRunner {
    store: wasmi::Store<()>,
    run: wasmi::TypedFunc<i32, i32>,
}

impl WasmiRunner {
    /// Compiles and instantiates `wasm` with `engine`.
    fn new(engine: &wasmi::Engine, wasm: &[u8]) -> Result<Self> {
        let module = wasmi::Module::new(engine, wasm)?;
        let mut store = wasmi::Store::new(engine, ());
        let instance = wasmi::Linker::<()>::new(engine).instantiate_and_start(&mut store, &module)?;
        let run = instance.get_typed_func::<i32, i32>(&store, "run")?;
        Ok(Self { store, run })
    }
}

impl Runner for WasmiRunner {
    fn run(&mut self, arg: i32) -> Result<i32> {
        Ok(self.run.call(&mut self.store, arg)?)
    }
}

/// How many runs to time.
struct Plan {
    /// Runs per engine before timing starts; not counted, but checked.
    warmup_runs: usize,
    /// Timed runs per engine, at least.
    min_runs: usize,
    /// Timed runs per engine, at most.
    max_runs: usize,
    /// Once `min_runs` are done, no further runs start after the two engines
    /// have spent this long in timed runs of one workload.
    time_budget: Duration,
}

impl Plan {
    /// The default plan: up to 10 runs each, about 4 s per workload.
    const FULL: Plan = Plan { warmup_runs: 1, min_runs: 3, max_runs: 10, time_budget: Duration::from_secs(4) };

    /// `--quick`: a smoke test of the numbers, a few runs each.
    const QUICK: Plan = Plan { warmup_runs: 1, min_runs: 1, max_runs: 3, time_budget: Duration::from_secs(1) };
}

/// Parsed command line.
struct Options {
    /// The run plan (`--quick` or the default).
    plan: Plan,
    /// Substrings of workload names to keep; empty keeps all.
    filters: Vec<String>,
}

impl Options {
    /// Parses the arguments after the program name. `--bench`, which cargo
    /// passes to every benchmark binary, is ignored.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Options> {
        let mut options = Options { plan: Plan::FULL, filters: Vec::new() };
        for arg in args {
            match arg.as_str() {
                "--bench" => {}
                "--quick" => options.plan = Plan::QUICK,
                flag if flag.starts_with('-') => {
                    bail!("unknown option `{flag}`; usage: interp_vs_wasmi [--quick] [FILTER...]")
                }
                _ => options.filters.push(arg),
            }
        }
        Ok(options)
    }

    /// Whether the workload called `name` is selected.
    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

/// The timed runs of one workload.
struct Measurement {
    /// Time of each kiln run.
    kiln: Vec<Duration>,
    /// Time of each wasmi run.
    wasmi: Vec<Duration>,
}

/// Runs `runner` once, timed, and asserts that it returned `expected`.
fn timed_run(runner: &mut dyn Runner, engine: &str, workload: &Workload, expected: i32) -> Result<Duration> {
    let start = Instant::now();
    let result = runner.run(workload.arg);
    let elapsed = start.elapsed();
    let result = result.with_context(|| format!("{engine} failed to run `{}`", workload.name))?;
    assert_eq!(result, expected, "{engine} computed a wrong result for `{}`", workload.name);
    Ok(elapsed)
}

/// Warms up both engines on `workload`, then alternates timed runs as
/// `plan` says. The engine that goes first changes every round.
fn measure(
    kiln: &mut dyn Runner,
    wasmi: &mut dyn Runner,
    workload: &Workload,
    expected: i32,
    plan: &Plan,
) -> Result<Measurement> {
    for _ in 0..plan.warmup_runs {
        timed_run(kiln, "kiln", workload, expected)?;
        timed_run(wasmi, "wasmi", workload, expected)?;
    }
    let mut measurement =
        Measurement { kiln: Vec::with_capacity(plan.max_runs), wasmi: Vec::with_capacity(plan.max_runs) };
    let mut spent = Duration::ZERO;
    for round in 0..plan.max_runs {
        if round >= plan.min_runs && spent >= plan.time_budget {
            break;
        }
        let (kiln_time, wasmi_time) = if round.is_multiple_of(2) {
            let k = timed_run(kiln, "kiln", workload, expected)?;
            (k, timed_run(wasmi, "wasmi", workload, expected)?)
        } else {
            let w = timed_run(wasmi, "wasmi", workload, expected)?;
            (timed_run(kiln, "kiln", workload, expected)?, w)
        };
        measurement.kiln.push(kiln_time);
        measurement.wasmi.push(wasmi_time);
        spent += kiln_time + wasmi_time;
    }
    Ok(measurement)
}

fn main() -> ExitCode {
    match run_benchmarks() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line, measures every selected workload and prints the
/// table.
fn run_benchmarks() -> Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    let selected: Vec<Workload> = workloads().into_iter().filter(|w| options.selects(w.name)).collect();
    if selected.is_empty() {
        bail!("no workload matches the filter {:?}", options.filters);
    }

    let mut config = kiln::Config::new();
    config.strategy(kiln::Strategy::Interpreter);
    let kiln_engine = kiln::Engine::new(&config).context("creating the kiln engine")?;
    let wasmi_engine = wasmi::Engine::default();

    println!("{:<16} {:>12} {:>12} {:>11} {:>5}", "workload", "kiln (ms)", "wasmi (ms)", "kiln/wasmi", "runs");
    let mut ratios = Vec::with_capacity(selected.len());
    for workload in &selected {
        let wasm = workload.wasm()?;
        let expected = workload.expected_result();
        let mut kiln = KilnRunner::new(&kiln_engine, &wasm)
            .with_context(|| format!("instantiating `{}` in kiln", workload.name))?;
        let mut wasmi = WasmiRunner::new(&wasmi_engine, &wasm)
            .with_context(|| format!("instantiating `{}` in wasmi", workload.name))?;

        let measurement = measure(&mut kiln, &mut wasmi, workload, expected, &options.plan)?;
        let kiln_median = median_secs(&measurement.kiln);
        let wasmi_median = median_secs(&measurement.wasmi);
        let ratio = kiln_median / wasmi_median;
        ratios.push(ratio);
        println!(
            "{:<16} {:>12.1} {:>12.1} {:>11.2} {:>5}",
            workload.name,
            kiln_median * 1e3,
            wasmi_median * 1e3,
            ratio,
            measurement.kiln.len()
        );
    }
    if let Some(mean) = geometric_mean(&ratios) {
        println!("{:<16} {:>12} {:>12} {:>11.2}", "geometric mean", "", "", mean);
    }
    Ok(())
}
