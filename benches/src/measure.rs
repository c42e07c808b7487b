//! Taking turns and timing them: the measurement loop shared by the
//! benchmark binaries that compare several contenders side by side
//! (`jit_vs_wasmtime`, `tiered`).
//!
//! The contenders take turns (A, B, C, A, B, C, …) so that all of them see
//! the same machine state (other load, frequency scaling). Each first does
//! one warm-up run (unless the plan says not to); then every contender does
//! `runs` timed runs. Unless the plan says not to cap slow measurements, a
//! measurement whose warm-up took at least [`SLOW`] in some contender keeps
//! the warm-up as its first timed run and does at most [`SLOW_RUNS`] runs
//! in all; one that took at least [`VERY_SLOW`] is run only that once.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::median_secs;

/// A warm-up at least this long makes a measurement "slow": the warm-up is
/// its first timed run and it does at most [`SLOW_RUNS`] runs.
pub const SLOW: Duration = Duration::from_secs(1);
/// Timed runs, at most, of a slow measurement.
pub const SLOW_RUNS: usize = 3;
/// A warm-up at least this long is the measurement's only run.
pub const VERY_SLOW: Duration = Duration::from_secs(10);
/// Default timed runs per contender.
pub const DEFAULT_RUNS: usize = 5;

/// A result and the time it took.
pub struct Timed<T> {
    /// Wall-clock time of the timed region.
    pub elapsed: Duration,
    /// What the timed region returned.
    pub value: T,
}

/// Times `f`.
pub fn timed<T>(f: impl FnOnce() -> T) -> Timed<T> {
    let start = Instant::now();
    let value = f();
    Timed { elapsed: start.elapsed(), value }
}

/// One side of a measurement: does one checked run and returns the time to
/// count.
pub struct Contender<'a> {
    /// The name in the report and in error messages.
    pub label: &'static str,
    /// One run: its time, or why it failed (an error, a trap, a wrong
    /// result).
    pub run: Box<dyn FnMut() -> Result<Duration> + 'a>,
}

impl<'a> Contender<'a> {
    /// A contender called `label` whose runs are `run`.
    pub fn new(label: &'static str, run: impl FnMut() -> Result<Duration> + 'a) -> Contender<'a> {
        Contender { label, run: Box::new(run) }
    }
}

/// How many runs to time.
#[derive(Clone, Copy)]
pub struct Plan {
    /// Timed runs per contender of a measurement that is not slow.
    pub runs: usize,
    /// Whether each measurement starts with an untimed warm-up round (a
    /// slow one still counts as the first timed round, see the module
    /// docs). Without it every round is timed and [`SLOW`] and
    /// [`VERY_SLOW`] are judged on the first one.
    pub warmup: bool,
    /// Whether slow measurements do fewer runs ([`SLOW`], [`VERY_SLOW`]).
    pub cap_slow: bool,
}

impl Plan {
    /// Runs the contenders in turn, as the module docs describe, and
    /// returns the median time of each. The first error stops the
    /// measurement, labelled with the contender that failed.
    ///
    /// # Errors
    /// The first run that fails, with the contender's label as context.
    pub fn measure(&self, contenders: &mut [Contender<'_>]) -> Result<Measured> {
        let mut round =
            || -> Result<Vec<Duration>> { contenders.iter_mut().map(|c| (c.run)().with_context(|| c.label)).collect() };
        let first = round()?;
        let slowest = first.iter().copied().max().unwrap_or_default();
        let (runs, mut times) = if self.cap_slow && slowest >= VERY_SLOW {
            (1, vec![first])
        } else if self.cap_slow && slowest >= SLOW {
            (self.runs.min(SLOW_RUNS), vec![first])
        } else if self.warmup {
            (self.runs, Vec::new())
        } else {
            (self.runs, vec![first])
        };
        while times.len() < runs {
            times.push(round()?);
        }
        let medians = (0..contenders.len())
            .map(|c| median_secs(&times.iter().map(|round| round[c]).collect::<Vec<_>>()))
            .collect();
        Ok(Measured { medians, runs })
    }
}

/// The outcome of one measurement.
pub struct Measured {
    /// The median time per contender, in seconds, in contender order.
    pub medians: Vec<f64>,
    /// Timed runs per contender.
    pub runs: usize,
}

/// Milliseconds, right-aligned in `width`, two decimals.
pub fn ms(secs: f64, width: usize) -> String {
    format!("{:>width$.2}", secs * 1e3)
}
