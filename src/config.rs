//! Engine configuration: execution strategy and resource limits.

use crate::{Error, Result};
use kiln_environ::WasmFeatureSet;
use kiln_runtime::{MemoryConfig, StoreConfig, TypeRegistry};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The default [`Config::tier_up_threshold`]: entries plus loop back-edges
/// after which a function is compiled (see the closing note of issue 5 in
/// README for the measurements behind it).
pub const DEFAULT_TIER_UP_THRESHOLD: u64 = 1000;

/// Why the compiling strategies are unavailable in a build without the
/// `cranelift` feature.
pub(crate) const NO_COMPILER: &str = "this build of kiln has no compiler (the `cranelift` cargo feature is off): \
     it runs the interpreter (`interp`) and loads .aot files made by `aotc`";

/// How an engine executes wasm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Strategy {
    /// Kiln's register-machine interpreter only (`interp`).
    Interpreter,
    /// Cranelift-compiled native code, every function compiled when the
    /// module is created (`jit`).
    Jit,
    /// The default (`tiered`; `interp` in a build without the `cranelift`
    /// feature): every function starts in the interpreter;
    /// functions that become hot (entries plus loop back-edges reach
    /// [`Config::tier_up_threshold`]) are compiled by Cranelift on
    /// background threads and their entries switched to native code; a
    /// frame that keeps looping in the interpreter moves to native code at
    /// a loop header (on-stack replacement). See `kiln_runtime::tier`.
    Tiered,
    /// Ahead-of-time compilation (`aot`): [`crate::Module::new`] compiles
    /// the whole module with `aotc`'s code path into an `.aot` image in
    /// memory and loads it with the `.aot` loader
    /// ([`crate::Module::from_aot_bytes`]), so every function is native
    /// from its first call and the code went through the file format.
    /// `.aot` files load under every strategy.
    Aot,
}

impl Default for Strategy {
    /// `tiered`, or `interp` in a build without the compiler.
    fn default() -> Strategy {
        if cfg!(feature = "cranelift") { Strategy::Tiered } else { Strategy::Interpreter }
    }
}

impl Strategy {
    /// Every strategy, in the order tiers were added.
    pub const ALL: [Strategy; 4] = [Strategy::Interpreter, Strategy::Jit, Strategy::Tiered, Strategy::Aot];

    /// Whether this build of kiln can execute with this strategy.
    pub fn is_available(self) -> bool {
        match self {
            Strategy::Interpreter => true,
            Strategy::Jit | Strategy::Tiered | Strategy::Aot => cfg!(feature = "cranelift"),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Interpreter => "interp",
            Strategy::Jit => "jit",
            Strategy::Tiered => "tiered",
            Strategy::Aot => "aot",
        })
    }
}

impl FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Strategy> {
        Ok(match s {
            "interp" | "interpreter" => Strategy::Interpreter,
            "jit" => Strategy::Jit,
            "tiered" => Strategy::Tiered,
            "aot" => Strategy::Aot,
            _ => return Err(Error::msg(format!("unknown strategy `{s}` (expected interp, jit, tiered or aot)"))),
        })
    }
}

/// Engine configuration (builder style).
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) strategy: Strategy,
    pub(crate) memory: MemoryConfig,
    pub(crate) max_wasm_stack: usize,
    pub(crate) epoch_interruption: bool,
    pub(crate) compile_threads: usize,
    pub(crate) tier_up_threshold: u64,
    pub(crate) tier_up_sync: bool,
    pub(crate) features: WasmFeatureSet,
    pub(crate) aot_fallback: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            strategy: Strategy::default(),
            memory: MemoryConfig::default(),
            max_wasm_stack: StoreConfig::default().max_wasm_stack,
            epoch_interruption: true,
            compile_threads: 0,
            tier_up_threshold: DEFAULT_TIER_UP_THRESHOLD,
            tier_up_sync: false,
            features: WasmFeatureSet::wasm2(),
            aot_fallback: false,
        }
    }
}

impl Config {
    /// The default configuration: interpreter, 4 GiB + 32 MiB guard per
    /// memory (64-bit hosts), 1 MiB of wasm stack, Wasm 2.0 without SIMD.
    pub fn new() -> Config {
        Config::default()
    }
    /// Sets the execution strategy.
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Self {
        self.strategy = strategy;
        self
    }
    /// The execution strategy.
    pub fn get_strategy(&self) -> Strategy {
        self.strategy
    }
    /// Address space reserved per linear memory, in bytes. With at least
    /// 4 GiB a 32-bit memory never moves when it grows; with less it moves
    /// (and later tiers use explicit bounds checks).
    pub fn memory_reservation(&mut self, bytes: u64) -> &mut Self {
        self.memory.reservation = bytes;
        self
    }
    /// Inaccessible bytes after each memory's reservation.
    pub fn memory_guard_size(&mut self, bytes: u64) -> &mut Self {
        self.memory.guard = bytes;
        self
    }
    /// Maximum wasm stack per store, in bytes: deeper recursion traps with
    /// "call stack exhausted".
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
        self
    }
    /// Whether guest code can be interrupted by epoch deadlines
    /// ([`crate::Store::set_epoch_deadline`], [`Engine::increment_epoch`]).
    /// On by default. Off, compiled code carries no epoch checks (one load
    /// and compare at every function entry and loop header: the setting
    /// Wasmtime uses by default) and deadlines are ignored by every tier, so
    /// a runaway guest can only be stopped by ending the process.
    pub fn epoch_interruption(&mut self, enable: bool) -> &mut Self {
        self.epoch_interruption = enable;
        self
    }
    /// Compile threads: for `jit`, the threads that compile a module's
    /// functions in parallel (`1` compiles on the calling thread; modules
    /// with less than 16 KiB of code always do); for `tiered`, the
    /// background tier-up workers of the engine (started on first need).
    /// `0` (the default) means one per core
    /// (`std::thread::available_parallelism`) for `jit`, and one per core
    /// but one (at least one) for `tiered`, so that compiling in the
    /// background leaves a core to the guest.
    pub fn compile_threads(&mut self, threads: usize) -> &mut Self {
        self.compile_threads = threads;
        self
    }
    /// Hotness at which `tiered` compiles a function: its entries plus its
    /// loop back-edges, summed over every instance of the module on every
    /// thread (default [`DEFAULT_TIER_UP_THRESHOLD`]; `1` compiles each
    /// function at its first call). Ignored by other strategies.
    pub fn tier_up_threshold(&mut self, threshold: u64) -> &mut Self {
        self.tier_up_threshold = threshold.max(1);
        self
    }
    /// Synchronous tier-up (`tiered`): a function that becomes hot is
    /// compiled at once while the thread that found it hot waits, instead
    /// of on a background thread — for deterministic tests. Off by default.
    pub fn tier_up_sync(&mut self, sync: bool) -> &mut Self {
        self.tier_up_sync = sync;
        self
    }
    /// Whether an `.aot` file whose code cannot run here (another CPU,
    /// target, kiln version or engine configuration) but that embeds its
    /// wasm (`aotc --embed-wasm`) is compiled from that wasm instead, as by
    /// [`crate::Module::new`], rather than refused. Off by default: a
    /// deployment usually wants to know that its precompiled code is not
    /// used.
    pub fn aot_fallback(&mut self, enable: bool) -> &mut Self {
        self.aot_fallback = enable;
        self
    }
    /// The wasm proposals modules may use (default: exactly Wasm 2.0
    /// without SIMD).
    pub fn wasm_features(&mut self, features: WasmFeatureSet) -> &mut Self {
        self.features = features;
        self
    }
}

pub(crate) struct EngineInner {
    pub(crate) config: Config,
    pub(crate) registry: Arc<TypeRegistry>,
    pub(crate) epoch: Arc<std::sync::atomic::AtomicU64>,
    /// The compiler, for strategies that generate native code.
    pub(crate) jit: Option<Arc<crate::jit::Jit>>,
}

/// A compilation and execution environment shared by modules and stores.
/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl Engine {
    /// Creates an engine.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] when the strategy is not built yet.
    pub fn new(config: &Config) -> Result<Engine> {
        if !config.strategy.is_available() {
            return Err(Error::unsupported(format!(
                "strategy `{}` is not available: {}",
                config.strategy, NO_COMPILER
            )));
        }
        let jit = match config.strategy {
            Strategy::Jit | Strategy::Tiered | Strategy::Aot => Some(crate::jit::Jit::new(config)?),
            _ => None,
        };
        Ok(Engine {
            inner: Arc::new(EngineInner {
                config: config.clone(),
                registry: Arc::new(TypeRegistry::default()),
                epoch: Arc::new(std::sync::atomic::AtomicU64::new(0)),
                jit,
            }),
        })
    }
    /// Advances the engine's epoch by one. Guest code in any store of this
    /// engine whose epoch deadline has been reached traps with "interrupt"
    /// at its next loop back-edge or call ([`crate::Store::set_epoch_deadline`]).
    /// Cheap and callable from any thread (e.g. a timer thread), like
    /// Wasmtime's epoch interruption.
    pub fn increment_epoch(&self) {
        self.inner.epoch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub(crate) fn store_config(&self) -> StoreConfig {
        StoreConfig {
            memory: self.inner.config.memory,
            max_wasm_stack: self.inner.config.max_wasm_stack,
            epoch_interruption: self.inner.config.epoch_interruption,
        }
    }
    /// Whether two handles name the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Config::default()).expect("the default strategy is always available")
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("strategy", &self.inner.config.strategy).finish()
    }
}
