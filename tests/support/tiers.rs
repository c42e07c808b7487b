//! Running embedding-API tests in every tier: engines per tier and memory
//! bounds-check mode, a loop that names the tier a failure happened in,
//! and small assertions shared by the API-level test files
//! (`tests/api.rs`, `tests/jit_traps.rs`, `tests/jit_host_calls.rs`, …).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use kiln::{Config, Engine, ErrorKind, Instance, Linker, Module, Store, Strategy, Trap, TrapCode};

use super::available_tiers;

/// How a tier's memories are bounds-checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bounds {
    /// The default 4 GiB reservation plus guard region: compiled code
    /// relies on faults in the guard region for most accesses.
    Guard,
    /// `Config::memory_reservation(0)`: memories move when they grow and
    /// compiled code checks every access explicitly (the spec suite's
    /// `jit-explicit`).
    Explicit,
}

/// An engine configuration a test runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    pub tier: Strategy,
    pub bounds: Bounds,
}

impl Setup {
    /// The configuration for this setup; everything else is the default.
    /// `tiered` compiles every function synchronously at its first call
    /// (threshold 1), so that a test's first calls run interpreted and the
    /// later ones native, with mixed frames in between.
    pub fn config(self) -> Config {
        let mut config = Config::new();
        config.strategy(self.tier);
        if self.bounds == Bounds::Explicit {
            config.memory_reservation(0);
        }
        if self.tier == Strategy::Tiered {
            config.tier_up_threshold(1).tier_up_sync(true);
        }
        config
    }

    /// The `kiln run`/`kiln wast` options selecting this setup (the same
    /// tier-up settings as [`Setup::config`]).
    pub fn cli_args(self) -> Vec<String> {
        let mut args = vec!["--tier".to_string(), self.tier.to_string()];
        if self.bounds == Bounds::Explicit {
            args.extend(["--memory-reservation".to_string(), "0".to_string()]);
        }
        if self.tier == Strategy::Tiered {
            args.extend(["--tier-up-threshold".to_string(), "1".to_string(), "--tier-up-sync".to_string()]);
        }
        args
    }

    /// An engine for this setup.
    pub fn engine(self) -> Engine {
        self.engine_with(|_| {})
    }

    /// An engine for this setup with `configure` applied on top.
    pub fn engine_with(self, configure: impl FnOnce(&mut Config)) -> Engine {
        let mut config = self.config();
        configure(&mut config);
        Engine::new(&config).unwrap_or_else(|e| panic!("Engine::new for {self}: {e}"))
    }
}

impl fmt::Display for Setup {
    /// `interp`, `jit`, `jit-explicit`, … (the spec suite's tier names).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bounds {
            Bounds::Guard => write!(f, "{}", self.tier),
            Bounds::Explicit => write!(f, "{}-explicit", self.tier),
        }
    }
}

/// An engine for `tier` with the default configuration.
pub fn engine(tier: Strategy) -> Engine {
    Setup { tier, bounds: Bounds::Guard }.engine()
}

/// An engine for `tier` with `configure` applied to the default
/// configuration.
pub fn engine_with(tier: Strategy, configure: impl FnOnce(&mut Config)) -> Engine {
    Setup { tier, bounds: Bounds::Guard }.engine_with(configure)
}

/// Runs `f`; if it panics, prints in which `context` before the panic
/// continues (libtest shows the captured line with the failure).
pub fn in_context(context: &dyn fmt::Display, f: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
        eprintln!("failed in {context}");
        resume_unwind(panic);
    }
}

/// Runs `test` once for each available tier ([`available_tiers`]).
pub fn for_each_tier(name: &str, mut test: impl FnMut(Strategy)) {
    for tier in available_tiers(name) {
        in_context(&format_args!("{name}, tier {tier}"), || test(tier));
    }
}

/// Runs `test` once for each available tier in each [`Bounds`] mode.
pub fn for_each_setup(name: &str, mut test: impl FnMut(Setup)) {
    for tier in available_tiers(name) {
        for bounds in [Bounds::Guard, Bounds::Explicit] {
            let setup = Setup { tier, bounds };
            in_context(&format_args!("{name}, setup {setup}"), || test(setup));
        }
    }
}

/// The JIT tier, or `None` (with a line saying so) when this build or host
/// cannot run it — for tests about behaviour only the JIT has.
pub fn jit_tier(test: &str) -> Option<Strategy> {
    let jit = available_tiers(test).into_iter().find(|t| *t == Strategy::Jit);
    if jit.is_none() {
        println!("{test}: skipped: the JIT is not available");
    }
    jit
}

/// Compiles `wat` for `engine`.
#[track_caller]
pub fn module(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, wat).unwrap_or_else(|e| panic!("test module compiles: {e}"))
}

/// Compiles `wat` with the store's engine and instantiates it without
/// imports.
#[track_caller]
pub fn instantiate<T: 'static>(store: &mut Store<T>, wat: &str) -> Instance {
    let engine = store.engine().clone();
    let m = module(&engine, wat);
    Linker::new(&engine).instantiate(store, &m).unwrap_or_else(|e| panic!("instantiation: {e}"))
}

/// Asserts that `result` is a trap with `code` — error kind, trap code and
/// the spec's message in the error's text — and returns the trap.
#[track_caller]
pub fn expect_trap<T: fmt::Debug>(result: kiln::Result<T>, code: TrapCode) -> Trap {
    let err = match result {
        Ok(v) => panic!("expected the trap `{code}`, got Ok({v:?})"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Trap, "expected the trap `{code}`: {err}");
    let trap = err.as_trap().expect("a Trap error has a trap");
    assert_eq!(trap.code(), code, "{err}");
    assert_eq!(trap.message(), code.message());
    assert!(err.to_string().contains(code.message()), "{err}");
    trap.clone()
}

/// The function names of a trap's backtrace, innermost first (`?` for a
/// frame without a name).
pub fn frame_names(trap: &Trap) -> Vec<String> {
    trap.backtrace().iter().map(|f| f.func_name.clone().unwrap_or_else(|| "?".into())).collect()
}

/// Runs `f` on a new thread with a native stack of `stack_bytes` and
/// returns its result; a panic on that thread continues on this one.
pub fn on_thread<R: Send>(stack_bytes: usize, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        let handle =
            std::thread::Builder::new().stack_size(stack_bytes).spawn_scoped(s, f).expect("spawn a test thread");
        handle.join().unwrap_or_else(|panic| resume_unwind(panic))
    })
}
