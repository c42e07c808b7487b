//! Tier-up: per-function hotness, the tier state machine, publication of
//! native code and on-stack replacement (OSR) entries. The whole tier-up
//! policy lives here — budgets and chunks, the threshold, when a function
//! is queued, when a looping frame asks for and moves to an OSR entry
//! (`FuncTier::entries_spent`, `FuncTier::back_edges_spent`); the
//! interpreter only counts down its budget and, when this module says so,
//! transfers its frame (`interp::exec::osr_transfer`).
//!
//! Every defined function of a [`RuntimeModule`] has one [`FuncTier`],
//! shared by all instances of the module in every store and thread:
//!
//! * **Hotness.** The interpreter charges a function's budget at each entry
//!   and at each loop back-edge (a back-edge counts like an entry, so a
//!   function entered once whose loop runs long becomes hot as surely as
//!   one called often). Each instance counts down a private budget
//!   (`HotCounters`, no shared cache line on the fast path) and adds what
//!   it used to the module-wide [`FuncTier::entries`] /
//!   [`FuncTier::back_edges`] in chunks of at most [`EDGE_CHUNK`] /
//!   [`ENTRY_CHUNK`], smaller near the threshold so that a threshold of 1
//!   triggers at the first entry.
//! * **States.** `Interpreted → Queued → Compiling → Ready` (or `Failed`
//!   when the compiler cannot translate the function: it then stays in the
//!   interpreter, and [`FuncTier::failure`] says why). The transition out
//!   of `Interpreted` is a compare-and-swap, so a function is queued once
//!   however many threads find it hot at the same time.
//! * **Publication.** The compiler (a [`TierCompiler`], implemented by the
//!   engine: background worker threads, or a synchronous compile for
//!   deterministic tests) hands back a [`NativeCode`] holding the function
//!   and its array→wasm trampoline; [`RuntimeModule::publish`] stores the
//!   trampoline, then the `wasm_call` entry with `Release` ordering, and
//!   keeps the code mapped as long as the module (no frame can outlive
//!   its module: instances hold it). Readers load `wasm_call` with
//!   `Acquire`.
//! * **Switching entries.** Funcrefs are per instance and only ever touched
//!   by the thread that owns the instance's store, so each instance
//!   switches its own funcref the first time it calls the function after
//!   publication (`Instance::promote`): the interpreter's call path checks
//!   the callee's `wasm_call` before pushing an interpreter frame, and the
//!   array-call entry of interpreted functions (`interp_array_call`, which
//!   compiled callers reach through the wasm→array trampoline) checks it
//!   before interpreting. Instances created after publication start with
//!   native entries. So every call after publication — from interpreted or
//!   native code, in any instance, including instances that import the
//!   function — runs native code.
//! * **OSR.** A frame that keeps looping in the interpreter after its
//!   function became hot asks for the function's OSR entry: a compiled
//!   variant of the whole function with one extra entry per loop the
//!   interpreter can leave, which takes the locals and the operand stack at
//!   that loop's header from an array and jumps into the loop (one compile
//!   serves a frame that moves on from loop to loop). At a later back-edge
//!   the interpreter hands its frame over to it.

use crate::module::RuntimeModule;
#[cfg(unix)]
use crate::native_code::NativeCode;
use kiln_environ::DefinedFuncIndex;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Back-edges an instance counts before it adds them to the module-wide
/// count (also the interpreter's epoch-check interval, see
/// `interp::exec::CHECK_INTERVAL`).
pub const EDGE_CHUNK: u32 = 256;
/// Entries an instance counts before it adds them to the module-wide count.
pub const ENTRY_CHUNK: u32 = 1024;

/// A function's place in the tier state machine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum TierState {
    /// Running in the interpreter, not hot yet.
    Interpreted = 0,
    /// Hot; waiting for a compile thread.
    Queued = 1,
    /// Being compiled.
    Compiling = 2,
    /// Native code is published; calls run it.
    Ready = 3,
    /// The compiler cannot translate it (see [`FuncTier::failure`]); it
    /// stays in the interpreter.
    Failed = 4,
}

impl TierState {
    fn from_u8(v: u8) -> TierState {
        match v {
            0 => TierState::Interpreted,
            1 => TierState::Queued,
            2 => TierState::Compiling,
            3 => TierState::Ready,
            _ => TierState::Failed,
        }
    }

    /// Lower-case name (`interpreted`, `queued`, `compiling`, `ready`,
    /// `failed`).
    pub fn name(self) -> &'static str {
        match self {
            TierState::Interpreted => "interpreted",
            TierState::Queued => "queued",
            TierState::Compiling => "compiling",
            TierState::Ready => "ready",
            TierState::Failed => "failed",
        }
    }
}

/// What a compile job produces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JobKind {
    /// The function's normal (wasm-call) code.
    Function,
    /// Its OSR entry, for every loop the interpreter can leave
    /// (`RuntimeModule::osr_loops`).
    Osr,
}

/// A request to compile something of defined function `def`.
#[derive(Clone, Debug)]
pub struct TierJob {
    /// The module (weak: a job for a module nobody uses any more is
    /// dropped instead of compiled).
    pub module: Weak<RuntimeModule>,
    /// The function.
    pub def: DefinedFuncIndex,
    /// What to compile.
    pub kind: JobKind,
    /// When the request was made (for the queue-wait statistic).
    pub queued_at: Instant,
}

/// The engine side of tier-up: compiles jobs and publishes the results
/// with [`RuntimeModule::publish`] / [`RuntimeModule::publish_osr`] (or
/// [`RuntimeModule::fail`]).
pub trait TierCompiler: Send + Sync {
    /// Takes a job. Must not block on compilation unless the engine is in
    /// synchronous mode (then it returns once the result is published).
    fn submit(&self, job: TierJob);
}

/// A module's tier-up policy.
pub struct TierPolicy {
    /// Hotness (entries + back-edges, summed over all instances) at which a
    /// function is compiled.
    pub threshold: u64,
    /// Who compiles.
    pub compiler: Arc<dyn TierCompiler>,
}

/// The OSR entry ABI: the array-call shape, `(callee funcref, caller
/// vmctx, slots, loop index) -> true`; `slots` holds the function's locals
/// then the operand stack at the loop's header on entry, its results on
/// return. Traps and failed calls unwind to the runtime's entry
/// (`catch_traps`), so a return is always `true`.
pub type OsrEntryFn = kiln_environ::vm::VMArrayCallFn;

/// Tier-up state and statistics of one defined function.
pub struct FuncTier {
    /// The native `wasm_call` entry, null while interpreted.
    pub(crate) wasm_call: AtomicPtr<u8>,
    /// The native array→wasm trampoline (`VMArrayCallFn`), stored before
    /// `wasm_call` is.
    pub(crate) array_call: AtomicPtr<u8>,
    state: AtomicU8,
    /// Entries counted by the interpreter (all instances).
    pub entries: AtomicU64,
    /// Loop back-edges counted by the interpreter (all instances).
    pub back_edges: AtomicU64,
    /// Nanoseconds spent compiling (function and OSR variants).
    pub compile_ns: AtomicU64,
    /// Nanoseconds the function's jobs waited in the queue.
    pub queue_wait_ns: AtomicU64,
    /// Interpreted frames handed over to native code.
    pub osr_entries: AtomicU64,
    /// Compiled OSR variants.
    pub osr_compiled: AtomicU64,
    /// The OSR entry (`OsrEntryFn`, every loop), null until compiled.
    pub(crate) osr_entry: AtomicPtr<u8>,
    /// Whether the OSR entry was asked for (it is compiled once).
    osr_requested: std::sync::atomic::AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Default for FuncTier {
    fn default() -> Self {
        FuncTier {
            wasm_call: AtomicPtr::new(core::ptr::null_mut()),
            array_call: AtomicPtr::new(core::ptr::null_mut()),
            state: AtomicU8::new(TierState::Interpreted as u8),
            entries: AtomicU64::new(0),
            back_edges: AtomicU64::new(0),
            compile_ns: AtomicU64::new(0),
            queue_wait_ns: AtomicU64::new(0),
            osr_entries: AtomicU64::new(0),
            osr_compiled: AtomicU64::new(0),
            osr_entry: AtomicPtr::new(core::ptr::null_mut()),
            osr_requested: std::sync::atomic::AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }
}

/// The array-call entries of the executing tiers: what the runtime core
/// (instances, tables, the store) puts into funcrefs without naming a tier.
/// A module is given them when it is created. Only the runtime's
/// composition root ([`crate::tier_entries`]) makes one (the fields are
/// private to the crate), so a funcref entry is always one of the
/// runtime's own, whose contracts the tiers rely on (the interpreter, for
/// one, recognises an interpreted callee by its entry).
#[derive(Clone, Copy, Debug)]
pub struct TierEntries {
    /// The `array_call` entry of every function the interpreter runs
    /// (`interp::interp_array_call`).
    pub(crate) interpreter: kiln_environ::vm::VMArrayCallFn,
    /// The `array_call` entry of every function with published native
    /// code (`native::native_array_call`).
    pub(crate) native: kiln_environ::vm::VMArrayCallFn,
}

/// How a defined function is entered now: the tier entry interface. A
/// funcref of a defined function always holds
/// [`FuncEntry::funcref_entries`] of its function's entry
/// ([`FuncTier::entry`]); instance, store, table and linker code never pick
/// a tier themselves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FuncEntry {
    /// Run by the interpreter, which translates the function at its first
    /// call ("not yet compiled" is this entry too: compiled code arrives by
    /// publication and switches the funcref).
    Interpreter,
    /// Published native code: its wasm-call entry.
    Native(*const u8),
}

impl FuncEntry {
    /// The funcref's `(array_call, wasm_call)` for this entry: the
    /// interpreter's array-call entry and a null `wasm_call` (compiled
    /// callers then take the wasm→array trampoline), or the native entry
    /// and the code.
    #[inline]
    pub fn funcref_entries(self, tiers: &TierEntries) -> (kiln_environ::vm::VMArrayCallFn, *const u8) {
        match self {
            FuncEntry::Interpreter => (tiers.interpreter, core::ptr::null()),
            FuncEntry::Native(code) => (tiers.native, code),
        }
    }
}

impl FuncTier {
    /// The current state.
    pub fn state(&self) -> TierState {
        TierState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// The native entry (`wasm_call`), if published.
    #[inline(always)]
    pub fn native_entry(&self) -> Option<*const u8> {
        let p = self.wasm_call.load(Ordering::Acquire);
        (!p.is_null()).then_some(p as *const u8)
    }

    /// The cell where the native entry is published (what an interpreter
    /// code object watches: `InterpFunc::has_native_entry`).
    pub(crate) fn native_entry_cell(&self) -> *const AtomicPtr<u8> {
        &self.wasm_call
    }

    /// How the function is entered now (`Acquire`: published code is
    /// visible once its entry is).
    #[inline]
    pub fn entry(&self) -> FuncEntry {
        match self.native_entry() {
            Some(code) => FuncEntry::Native(code),
            None => FuncEntry::Interpreter,
        }
    }

    /// Why compiling failed, for [`TierState::Failed`].
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Entries plus back-edges.
    pub fn hotness(&self) -> u64 {
        self.entries.load(Ordering::Relaxed) + self.back_edges.load(Ordering::Relaxed)
    }

    /// Moves `Interpreted → Queued`; true for the one caller that did.
    pub(crate) fn try_queue(&self) -> bool {
        self.state
            .compare_exchange(
                TierState::Interpreted as u8,
                TierState::Queued as u8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    pub(crate) fn set_state(&self, s: TierState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Marks the OSR entry as asked for; true for the one caller that did
    /// (it submits the job).
    pub(crate) fn try_request_osr(&self) -> bool {
        !self.osr_requested.swap(true, Ordering::AcqRel)
    }
}

/// Tier-up statistics of one function ([`RuntimeModule::tier_stats`]).
#[derive(Clone, Debug)]
pub struct FuncTierStats {
    /// Index in the module's function space.
    pub func_index: u32,
    /// Name from the name section.
    pub name: Option<String>,
    /// Tier state.
    pub state: TierState,
    /// Why it failed to compile, if it did.
    pub failure: Option<String>,
    /// Entries counted in the interpreter.
    pub entries: u64,
    /// Loop back-edges counted in the interpreter.
    pub back_edges: u64,
    /// Time spent compiling it (function and OSR variants).
    pub compile_time: Duration,
    /// Time its jobs waited for a compile thread.
    pub queue_wait: Duration,
    /// OSR variants compiled.
    pub osr_compiled: u64,
    /// Interpreted frames transferred to native code.
    pub osr_entries: u64,
}

/// Tier-up statistics of a module.
#[derive(Clone, Debug, Default)]
pub struct TierStats {
    /// Every defined function, in index order.
    pub functions: Vec<FuncTierStats>,
    /// Functions with published native code.
    pub compiled: usize,
    /// OSR transfers, in total.
    pub osr_entries: u64,
    /// Compile time, in total.
    pub compile_time: Duration,
}

impl RuntimeModule {
    /// The tier-up slot of defined function `def`.
    #[inline(always)]
    pub fn tier(&self, def: DefinedFuncIndex) -> &FuncTier {
        &self.tiers[def.index()]
    }

    /// Asks for `kind` of function `def` to be compiled (no-op without a
    /// tier policy).
    pub(crate) fn submit(self: &Arc<Self>, def: DefinedFuncIndex, kind: JobKind) {
        if let Some(p) = self.tier_policy() {
            p.compiler.submit(TierJob { module: Arc::downgrade(self), def, kind, queued_at: Instant::now() });
        }
    }

    /// Publishes the native code of function `def`: `code` holds the
    /// function as `defined[0]` (`NativeCode::wasm_call(0)` /
    /// `array_trampoline(0)`). Later calls in every instance run it.
    #[cfg(unix)]
    pub fn publish(&self, def: DefinedFuncIndex, code: NativeCode, compile: Duration, wait: Duration) {
        let t = self.tier(def);
        let (array_call, wasm_call) = (code.array_trampoline(0) as *mut u8, code.wasm_call(0) as *mut u8);
        // The module owns the code before any thread can run it: a trap in
        // it names its frames through `RuntimeModule::owns_code`.
        self.keep_code(code);
        t.array_call.store(array_call, Ordering::Relaxed);
        t.wasm_call.store(wasm_call, Ordering::Release);
        t.compile_ns.fetch_add(compile.as_nanos() as u64, Ordering::Relaxed);
        t.queue_wait_ns.fetch_add(wait.as_nanos() as u64, Ordering::Relaxed);
        t.set_state(TierState::Ready);
    }

    /// Publishes the OSR entry of function `def`: `code.func_ptr(0)` is an
    /// [`OsrEntryFn`] for the loops of [`RuntimeModule::osr_loops`].
    #[cfg(unix)]
    pub fn publish_osr(&self, def: DefinedFuncIndex, code: NativeCode, compile: Duration, wait: Duration) {
        let t = self.tier(def);
        let entry = code.func_ptr(0) as *mut u8;
        t.compile_ns.fetch_add(compile.as_nanos() as u64, Ordering::Relaxed);
        t.queue_wait_ns.fetch_add(wait.as_nanos() as u64, Ordering::Relaxed);
        t.osr_compiled.fetch_add(1, Ordering::Relaxed);
        self.keep_code(code);
        t.osr_entry.store(entry, Ordering::Release);
    }

    /// Byte offsets of the loops an interpreted frame of function `def`
    /// can leave by OSR, in the order of the OSR entry's loop index (empty
    /// if the function was never interpreted).
    pub fn osr_loops(&self, def: DefinedFuncIndex) -> Vec<u32> {
        match self.interp.get(def.index()).and_then(|c| c.get()) {
            Some(Ok(f)) => f.osr_points.iter().map(|p| p.loop_offset).collect(),
            _ => Vec::new(),
        }
    }

    /// Records that `kind` of function `def` cannot be compiled: the
    /// function (or loop) stays in the interpreter.
    pub fn fail(&self, def: DefinedFuncIndex, kind: JobKind, why: String) {
        let t = self.tier(def);
        match kind {
            JobKind::Function => {
                *t.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                t.set_state(TierState::Failed);
            }
            // The entry stays null: frames keep interpreting.
            JobKind::Osr => {}
        }
    }

    /// Marks function `def` as being compiled.
    pub fn mark_compiling(&self, def: DefinedFuncIndex) {
        self.tier(def).set_state(TierState::Compiling);
    }

    /// Per-function and total tier-up statistics.
    pub fn tier_stats(&self) -> TierStats {
        let mut s = TierStats::default();
        for (d, t) in self.tiers.iter().enumerate() {
            let fi = self.info.func_index(DefinedFuncIndex(d as u32));
            let f = FuncTierStats {
                func_index: fi.0,
                name: self.info.func_names.get(&fi).cloned(),
                state: t.state(),
                failure: t.failure(),
                entries: t.entries.load(Ordering::Relaxed),
                back_edges: t.back_edges.load(Ordering::Relaxed),
                compile_time: Duration::from_nanos(t.compile_ns.load(Ordering::Relaxed)),
                queue_wait: Duration::from_nanos(t.queue_wait_ns.load(Ordering::Relaxed)),
                osr_compiled: t.osr_compiled.load(Ordering::Relaxed),
                osr_entries: t.osr_entries.load(Ordering::Relaxed),
            };
            if f.state == TierState::Ready {
                s.compiled += 1;
            }
            s.osr_entries += f.osr_entries;
            s.compile_time += f.compile_time;
            s.functions.push(f);
        }
        s
    }
}

/// Back-edges per entry (module-wide) from which a function hot from its
/// loops gets an OSR entry for the frame that found it hot.
const OSR_MIN_TRIP: u64 = 64;

/// Adds a spent chunk of an instance's budget (`*chunk_size` units) to the
/// module-wide count `spent`, refills the budget (`*left`) with the next
/// chunk of at most `max` and returns the function's hotness (entries plus
/// back-edges, this chunk included).
#[inline(always)]
fn spend(spent: &AtomicU64, other: &AtomicU64, max: u32, threshold: u64, left: &mut i32, chunk_size: &mut i32) -> u64 {
    let used = *chunk_size as u64;
    let total = spent.fetch_add(used, Ordering::Relaxed) + used + other.load(Ordering::Relaxed);
    *chunk_size = chunk(max, threshold, total);
    *left = *chunk_size;
    total
}

/// The tier-up policy: what happens when an executing tier (today the
/// interpreter) has spent an instance's budget of a function.
impl FuncTier {
    /// An instance spent its chunk of entries of function `def` (this
    /// `FuncTier`): counts it module-wide, refills `hot`, and queues the
    /// function for compilation once it reaches the module's threshold.
    pub(crate) fn entries_spent(&self, module: &Arc<RuntimeModule>, def: DefinedFuncIndex, hot: &mut HotCounters) {
        let threshold = module.tier_threshold();
        let total =
            spend(&self.entries, &self.back_edges, ENTRY_CHUNK, threshold, &mut hot.entries, &mut hot.entry_chunk);
        if total >= threshold && self.try_queue() {
            module.submit(def, JobKind::Function);
        }
    }

    /// An instance spent its chunk of loop back-edges of function `def`:
    /// counts it, refills `hot`, and at the threshold queues the function
    /// and decides whether the frame that is looping should move to the
    /// OSR entry. `osr_point` finds the frame's OSR point (the loop it is
    /// at: `(loop index in the OSR entry, point)`); it is asked only when
    /// an OSR entry pays off. Returns the point with the published OSR
    /// entry ([`OsrEntryFn`]) to transfer to now, if there is one.
    ///
    /// An OSR entry pays off for a frame that stays in its loop: a function
    /// that became hot from its loops while being entered rarely (at least
    /// [`OSR_MIN_TRIP`] back-edges per entry), or a frame still
    /// interpreting after its function was compiled (it was entered
    /// before). Functions that are called often with short loops just get
    /// compiled.
    pub(crate) fn back_edges_spent<P>(
        &self,
        module: &Arc<RuntimeModule>,
        def: DefinedFuncIndex,
        hot: &mut HotCounters,
        osr_point: impl FnOnce() -> Option<P>,
    ) -> Option<(P, *mut u8)> {
        let threshold = module.tier_threshold();
        let total = spend(&self.back_edges, &self.entries, EDGE_CHUNK, threshold, &mut hot.edges, &mut hot.edge_chunk);
        if total < threshold {
            return None;
        }
        let state = self.state();
        let queue = state == TierState::Interpreted && self.try_queue();
        let long_loops =
            self.back_edges.load(Ordering::Relaxed) >= OSR_MIN_TRIP * self.entries.load(Ordering::Relaxed).max(1);
        let point = if (queue && long_loops) || state == TierState::Ready { osr_point() } else { None };
        // The OSR entry first (this frame is waiting for it), then the
        // function.
        if point.is_some() && self.try_request_osr() {
            module.submit(def, JobKind::Osr);
        }
        if queue {
            module.submit(def, JobKind::Function);
        }
        let point = point?;
        let entry = self.osr_entry.load(Ordering::Acquire);
        (!entry.is_null()).then_some((point, entry))
    }
}

/// An instance's private hotness budget of one function (see the module
/// documentation): counts down; at zero the interpreter's slow path adds
/// the chunk to the module-wide counts and refills.
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct HotCounters {
    /// Back-edges left in the current chunk.
    pub edges: i32,
    /// Entries left in the current chunk.
    pub entries: i32,
    /// Size of the current back-edge chunk.
    pub edge_chunk: i32,
    /// Size of the current entry chunk.
    pub entry_chunk: i32,
}

impl HotCounters {
    /// Fresh counters for a function under `threshold`.
    pub fn new(threshold: u64, already: u64) -> HotCounters {
        let e = chunk(EDGE_CHUNK, threshold, already);
        let n = chunk(ENTRY_CHUNK, threshold, already);
        HotCounters { edges: e, entries: n, edge_chunk: e, entry_chunk: n }
    }
}

/// The next chunk: `max`, or less when the threshold is closer.
#[inline]
pub(crate) fn chunk(max: u32, threshold: u64, hotness: u64) -> i32 {
    if hotness >= threshold { max as i32 } else { (threshold - hotness).clamp(1, max as u64) as i32 }
}
