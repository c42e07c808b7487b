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

/// The WebAssembly text or binary of a workload, embedded in the binary so
/// that the benchmark runs from any working directory.
enum Source {
    /// WebAssembly text, converted to binary with the `wat` crate.
    Text(&'static str),
    /// A prebuilt WebAssembly binary.
    Binary(&'static [u8]),
}

/// One benchmark program.
struct Workload {
    /// Short name, used in the table and matched by the command-line filter.
    name: &'static str,
    /// The module; it exports `run: (i32) -> i32`.
    source: Source,
    /// The argument passed to `run`; it sizes the work.
    arg: i32,
    /// Computes, natively, what `run(arg)` must return.
    expected: fn(i32) -> i32,
}

/// The rounds `run` performs in the C program workload.
const PROG_ROUNDS: i32 = 12;

/// What `run(PROG_ROUNDS)` returns in `fixtures/c/prog.wasm`, as printed by
/// the natively compiled `prog.c` (`fixtures/c/build.sh` checks it).
const PROG_EXPECTED: u32 = 2_194_960_125;

/// All workloads, in the order they are reported.
fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "fib_recursive",
            source: Source::Text(include_str!("../fixtures/fib.wat")),
            arg: 34,
            expected: reference::fib,
        },
        Workload {
            name: "int_loop",
            source: Source::Text(include_str!("../fixtures/int_loop.wat")),
            arg: 25_000_000,
            expected: reference::int_loop,
        },
        Workload {
            name: "sieve",
            source: Source::Text(include_str!("../fixtures/sieve.wat")),
            arg: 16_000_000,
            expected: reference::sieve,
        },
        Workload {
            name: "matmul_f64",
            source: Source::Text(include_str!("../fixtures/matmul.wat")),
            arg: 300,
            expected: reference::matmul,
        },
        Workload {
            name: "call_indirect",
            source: Source::Text(include_str!("../fixtures/call_indirect.wat")),
            arg: 10_000_000,
            expected: reference::call_indirect,
        },
        Workload {
            name: "c_program",
            source: Source::Binary(include_bytes!("../fixtures/c/prog.wasm")),
            arg: PROG_ROUNDS,
            expected: |_| PROG_EXPECTED as i32,
        },
    ]
}

/// Native re-implementations of the text-format workloads, mirroring the
/// `.wat` files operation for operation (wrapping i32 arithmetic, the same
/// floating-point evaluation order).
mod reference {
    /// `fixtures/fib.wat`: the `n`th Fibonacci number, wrapped to i32.
    pub fn fib(n: i32) -> i32 {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..n {
            (a, b) = (b, a.wrapping_add(b));
        }
        a as i32
    }

    /// `fixtures/int_loop.wat`: xorshift32 feeding an LCG accumulator.
    pub fn int_loop(n: i32) -> i32 {
        let mut x: u32 = 0x2545_f491;
        let mut acc: u32 = 0;
        for i in 0..n as u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            acc = acc
                .wrapping_mul(1_664_525)
                .wrapping_add(x ^ i)
                .wrapping_add(1_013_904_223);
        }
        acc as i32
    }

    /// `fixtures/sieve.wat`: the number of primes below `n`.
    pub fn sieve(n: i32) -> i32 {
        let n = n as usize;
        let mut maybe_prime = vec![true; n];
        let mut i = 2;
        while i * i < n {
            if maybe_prime[i] {
                for j in (i * i..n).step_by(i) {
                    maybe_prime[j] = false;
                }
            }
            i += 1;
        }
        maybe_prime.iter().skip(2).filter(|&&p| p).count() as i32
    }

    /// `fixtures/matmul.wat`: folded bit pattern of the sum of A * B.
    pub fn matmul(n: i32) -> i32 {
        let n = n as usize;
        let a: Vec<f64> = (0..n * n)
            .map(|x| ((3 * (x / n) + 7 * (x % n)) % 17) as f64 * 0.25 - 1.0)
            .collect();
        let b: Vec<f64> = (0..n * n)
            .map(|x| ((5 * (x / n) + 11 * (x % n)) % 13) as f64 * 0.5 + 0.125)
            .collect();
        let mut sum = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let mut acc = 0.0f64;
                for k in 0..n {
                    acc += a[i * n + k] * b[k * n + j];
                }
                sum += acc;
            }
        }
        let bits = sum.to_bits();
        (bits ^ (bits >> 32)) as i32
    }

    /// `fixtures/call_indirect.wat`: `n` steps of table-driven dispatch.
    pub fn call_indirect(n: i32) -> i32 {
        let mut acc: u32 = 1;
        for i in 0..n as u32 {
            acc = match (acc ^ i) & 7 {
                0 => acc.wrapping_add(i),
                1 => acc.wrapping_sub(i),
                2 => acc ^ i.wrapping_mul(0x9e37_79b9),
                3 => (acc | 1).wrapping_mul(0x0100_0193),
                4 => acc.rotate_left(i & 31),
                5 => (acc >> 3).wrapping_add(i),
                6 => !acc,
                _ => (acc ^ (acc >> 15)).wrapping_add(0x2545_f491),
            };
        }
        acc as i32
    }
}

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
        let instance =
            wasmi::Linker::<()>::new(engine).instantiate_and_start(&mut store, &module)?;
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
    const FULL: Plan = Plan {
        warmup_runs: 1,
        min_runs: 3,
        max_runs: 10,
        time_budget: Duration::from_secs(4),
    };

    /// `--quick`: a smoke test of the numbers, a few runs each.
    const QUICK: Plan = Plan {
        warmup_runs: 1,
        min_runs: 1,
        max_runs: 3,
        time_budget: Duration::from_secs(1),
    };
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
        let mut options = Options {
            plan: Plan::FULL,
            filters: Vec::new(),
        };
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
fn timed_run(
    runner: &mut dyn Runner,
    engine: &str,
    workload: &Workload,
    expected: i32,
) -> Result<Duration> {
    let start = Instant::now();
    let result = runner.run(workload.arg);
    let elapsed = start.elapsed();
    let result = result.with_context(|| format!("{engine} failed to run `{}`", workload.name))?;
    assert_eq!(
        result, expected,
        "{engine} computed a wrong result for `{}`",
        workload.name
    );
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
    let mut measurement = Measurement {
        kiln: Vec::with_capacity(plan.max_runs),
        wasmi: Vec::with_capacity(plan.max_runs),
    };
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

/// The median of `times`, in seconds (`times` is not empty).
fn median_secs(times: &[Duration]) -> f64 {
    let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    let mid = secs.len() / 2;
    if secs.len().is_multiple_of(2) {
        f64::midpoint(secs[mid - 1], secs[mid])
    } else {
        secs[mid]
    }
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
    let selected: Vec<Workload> = workloads()
        .into_iter()
        .filter(|w| options.selects(w.name))
        .collect();
    if selected.is_empty() {
        bail!("no workload matches the filter {:?}", options.filters);
    }

    let mut config = kiln::Config::new();
    config.strategy(kiln::Strategy::Interpreter);
    let kiln_engine = kiln::Engine::new(&config).context("creating the kiln engine")?;
    let wasmi_engine = wasmi::Engine::default();

    println!(
        "{:<16} {:>12} {:>12} {:>11} {:>5}",
        "workload", "kiln (ms)", "wasmi (ms)", "kiln/wasmi", "runs"
    );
    let mut log_ratio_sum = 0.0;
    for workload in &selected {
        let wasm = match &workload.source {
            Source::Text(text) => wat::parse_str(text)
                .with_context(|| format!("parsing the text of `{}`", workload.name))?,
            Source::Binary(bytes) => bytes.to_vec(),
        };
        let expected = (workload.expected)(workload.arg);
        let mut kiln = KilnRunner::new(&kiln_engine, &wasm)
            .with_context(|| format!("instantiating `{}` in kiln", workload.name))?;
        let mut wasmi = WasmiRunner::new(&wasmi_engine, &wasm)
            .with_context(|| format!("instantiating `{}` in wasmi", workload.name))?;

        let measurement = measure(&mut kiln, &mut wasmi, workload, expected, &options.plan)?;
        let kiln_median = median_secs(&measurement.kiln);
        let wasmi_median = median_secs(&measurement.wasmi);
        let ratio = kiln_median / wasmi_median;
        log_ratio_sum += ratio.ln();
        println!(
            "{:<16} {:>12.1} {:>12.1} {:>11.2} {:>5}",
            workload.name,
            kiln_median * 1e3,
            wasmi_median * 1e3,
            ratio,
            measurement.kiln.len()
        );
    }
    let geometric_mean = (log_ratio_sum / selected.len() as f64).exp();
    println!(
        "{:<16} {:>12} {:>12} {:>11.2}",
        "geometric mean", "", "", geometric_mean
    );
    Ok(())
}
