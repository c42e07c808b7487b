//! Shared by kiln's benchmark binaries (`benches/*.rs`): the workload
//! table with the native references that check every result, the
//! statistics the reports use, the command-line pieces they have in common,
//! the measurement loop ([`measure`]) and the WASI programs with their
//! checks ([`programs`]).
//!
//! Every workload is one WebAssembly module exporting `run: (i32) -> i32`,
//! embedded in the binary so that the benchmarks run from any working
//! directory. `benches/README.md` says what each one measures.

use std::time::Duration;

use anyhow::{Context, Result, bail};

pub mod measure;
pub mod programs;

/// The WebAssembly text or binary of a workload, embedded in the binary so
/// that the benchmark runs from any working directory.
pub enum Source {
    /// WebAssembly text, converted to binary with the `wat` crate.
    Text(&'static str),
    /// A prebuilt WebAssembly binary.
    Binary(&'static [u8]),
}

/// One benchmark program.
pub struct Workload {
    /// Short name, used in the table and matched by the command-line filter.
    pub name: &'static str,
    /// The module; it exports `run: (i32) -> i32`.
    pub source: Source,
    /// The argument passed to `run`; it sizes the work.
    pub arg: i32,
    /// Computes, natively, what `run(arg)` must return.
    pub expected: fn(i32) -> i32,
}

/// The rounds `run` performs in the C program workload.
pub const PROG_ROUNDS: i32 = 12;

/// What `run(PROG_ROUNDS)` returns in `fixtures/c/prog.wasm`, as printed by
/// the natively compiled `prog.c` (`fixtures/c/build.sh` checks it).
pub const PROG_EXPECTED: u32 = 2_194_960_125;

/// All workloads, in the order they are reported.
pub fn workloads() -> Vec<Workload> {
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

impl Workload {
    /// The module as a WebAssembly binary (text is encoded with the `wat`
    /// crate).
    ///
    /// # Errors
    /// When the text of a fixture does not parse.
    pub fn wasm(&self) -> Result<Vec<u8>> {
        match &self.source {
            Source::Text(text) => wat::parse_str(text).with_context(|| format!("parsing the text of `{}`", self.name)),
            Source::Binary(bytes) => Ok(bytes.to_vec()),
        }
    }

    /// What `run(self.arg)` must return, computed natively.
    pub fn expected_result(&self) -> i32 {
        (self.expected)(self.arg)
    }
}

/// Instantiates `module` in `store` with `linker` and calls its
/// `run: (i32) -> i32` export with `arg`: one run of a workload in kiln.
///
/// # Errors
/// Those of instantiation, of the lookup of `run` and of the call.
pub fn kiln_call_run<T: 'static>(
    store: &mut kiln::Store<T>,
    linker: &kiln::Linker<T>,
    module: &kiln::Module,
    arg: i32,
) -> kiln::Result<i32> {
    let instance = linker.instantiate(&mut *store, module)?;
    instance.get_typed_func::<i32, i32>(&mut *store, "run")?.call(&mut *store, arg)
}

/// The median of `times`, in seconds (`times` is not empty).
pub fn median_secs(times: &[Duration]) -> f64 {
    let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    let mid = secs.len() / 2;
    if secs.len().is_multiple_of(2) { f64::midpoint(secs[mid - 1], secs[mid]) } else { secs[mid] }
}

/// The geometric mean of `ratios`, or `None` when there are none.
pub fn geometric_mean(ratios: &[f64]) -> Option<f64> {
    if ratios.is_empty() {
        return None;
    }
    let log_sum: f64 = ratios.iter().map(|r| r.ln()).sum();
    Some((log_sum / ratios.len() as f64).exp())
}

/// Parses a number of runs: a positive integer.
///
/// # Errors
/// When `text` is not one.
pub fn parse_runs(text: &str) -> Result<usize> {
    match text.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("the number of runs must be a positive integer, not `{text}`"),
    }
}

/// The value of environment variable `name`, when set and not empty.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The names a benchmark keeps: substrings given with `--filter` (or an
/// environment variable), comma-separated; no substring keeps everything.
#[derive(Default)]
pub struct Filters(Vec<String>);

impl Filters {
    /// Adds the comma-separated substrings of `list` (empty ones are
    /// dropped).
    pub fn add(&mut self, list: &str) {
        self.0.extend(list.split(',').filter(|f| !f.is_empty()).map(str::to_string));
    }

    /// Whether no substring was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The substrings, in order.
    pub fn substrings(&self) -> &[String] {
        &self.0
    }

    /// Whether the row called `name` is kept: it contains one of the
    /// substrings, or there are none.
    pub fn selects(&self, name: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|f| name.contains(f.as_str()))
    }
}

/// Native re-implementations of the text-format workloads, mirroring the
/// `.wat` files operation for operation (wrapping i32 arithmetic, the same
/// floating-point evaluation order).
pub mod reference {
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
            acc = acc.wrapping_mul(1_664_525).wrapping_add(x ^ i).wrapping_add(1_013_904_223);
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
        let a: Vec<f64> = (0..n * n).map(|x| ((3 * (x / n) + 7 * (x % n)) % 17) as f64 * 0.25 - 1.0).collect();
        let b: Vec<f64> = (0..n * n).map(|x| ((5 * (x / n) + 11 * (x % n)) % 13) as f64 * 0.5 + 0.125).collect();
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
