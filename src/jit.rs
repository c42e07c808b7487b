//! The `jit` strategy: every defined function of a module is compiled by
//! kiln's Cranelift translator (`kiln-compiler`) when the [`Module`] is
//! created, in parallel on all cores, and loaded as the module's
//! [`NativeCode`]. Funcref calls to host functions (and, in `tiered`, to
//! functions still interpreted) go through per-signature wasm→array
//! trampolines, compiled once per engine ([`HostTrampolines`]) and linked
//! into the calling code by relocation.
//!
//! The `tiered` strategy uses the same compiler function by function:
//! [`Jit`] implements the runtime's [`TierCompiler`] with a pool of
//! background worker threads (or on the spot, in synchronous mode) that
//! compile a hot function — or an OSR entry of one of its loops — and
//! publish it (`kiln_runtime::tier`).
//!
//! [`Module`]: crate::Module

use crate::{Config, Error, Result};
use kiln_aot_format::compiled::{CompiledCode, CompiledModule, DefinedEntry};
use kiln_compiler::{BoundsChecks, Compiler, CompilerOptions, OptLevel};
use kiln_environ::{DefinedFuncIndex, VMSharedTypeIndex, WasmFuncType};
use kiln_runtime::native_code::{HostTrampolines, NativeCode};
use kiln_runtime::tier::{JobKind, TierCompiler, TierJob};
use kiln_runtime::{MemoryConfig, RuntimeModule};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Instant;

/// An engine's compiler, its cache of host-call trampolines and (tiered)
/// its tier-up compile queue.
pub(crate) struct Jit {
    compiler: Compiler,
    /// Worker threads for module compilation and for tier-up.
    threads: usize,
    host: Mutex<HostTrampolineCache>,
    /// Tier-up: compile on the requesting thread (deterministic tests).
    sync: bool,
    queue: Arc<TierQueue>,
    me: Weak<Jit>,
}

/// Tier-up jobs waiting for a worker.
#[derive(Default)]
struct TierQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<TierJob>,
    /// Worker threads started (they live until the engine's compiler is
    /// dropped).
    workers: usize,
    shutdown: bool,
}

impl Drop for Jit {
    fn drop(&mut self) {
        let mut q = self.queue.state.lock().unwrap_or_else(|e| e.into_inner());
        q.shutdown = true;
        q.jobs.clear();
        self.queue.ready.notify_all();
    }
}

#[derive(Default)]
struct HostTrampolineCache {
    by_type: HashMap<VMSharedTypeIndex, usize>,
    /// Keeps the trampolines mapped and registered.
    code: Vec<NativeCode>,
}

/// The compiler options matching the runtime's memory layout: guard-region
/// bounds checks are elided only when the reservation covers 4 GiB (the
/// compiler decides per access; see `kiln_compiler::BoundsChecks`).
pub(crate) fn compiler_options(config: &Config) -> CompilerOptions {
    let memory: MemoryConfig = config.memory;
    CompilerOptions {
        opt_level: OptLevel::Speed,
        bounds: BoundsChecks::Guard { reservation: memory.reservation, guard: memory.guard },
        verifier: false,
        // The whole module is compiled and loaded at once (`jit`, `aot`);
        // tiered code calls through funcrefs, whose entries change on
        // tier-up.
        direct_calls: matches!(config.strategy, crate::Strategy::Jit | crate::Strategy::Aot),
        epoch_interruption: config.epoch_interruption,
        trampolines_in_image: false,
    }
}

impl Jit {
    /// A compiler for the host CPU (`cranelift_native`).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] when Cranelift does not support
    /// the host.
    pub(crate) fn new(config: &Config) -> Result<Arc<Jit>> {
        let compiler = Compiler::native(compiler_options(config))
            .map_err(|e| Error::unsupported(format!("the JIT cannot target this host: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = match (config.compile_threads, config.strategy) {
            // Tier-up workers leave a core to the threads running wasm.
            (0, crate::Strategy::Tiered) => cores.saturating_sub(1).max(1),
            (0, _) => cores,
            (n, _) => n,
        };
        Ok(Arc::new_cyclic(|me| Jit {
            compiler,
            threads,
            host: Mutex::new(HostTrampolineCache::default()),
            sync: config.tier_up_sync,
            queue: Arc::new(TierQueue::default()),
            me: me.clone(),
        }))
    }

    /// Links `module`'s compiled code in memory: trampolines it refers to
    /// but does not carry are the engine's shared wasm→array trampolines
    /// ([`HostTrampolines::wasm_to_array`], by module type index).
    /// Each distinct type's trampoline is looked up once per batch (the
    /// engine's cache is behind a mutex).
    fn load(&self, rt: &RuntimeModule, module: &CompiledModule<'_>) -> Result<NativeCode> {
        let seen = std::cell::RefCell::new(std::collections::HashMap::<u32, usize>::new());
        let external = |ty: u32| -> kiln_runtime::Result<usize> {
            if let Some(&addr) = seen.borrow().get(&ty) {
                return Ok(addr);
            }
            let (Some(fty), Some(&id)) = (rt.info.types.get(ty as usize), rt.type_ids.get(ty as usize)) else {
                return Err(Error::msg(format!("JIT: trampoline for type {ty}, which the module does not have")));
            };
            let addr = self.wasm_to_array(id, fty)? as usize;
            seen.borrow_mut().insert(ty, addr);
            Ok(addr)
        };
        NativeCode::load(module, &external)
    }

    /// Compiles every defined function of `module` and its array→wasm
    /// trampolines, in parallel, and loads the result.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] for constructs the translator
    /// does not handle; [`crate::ErrorKind::Other`] for code generation or
    /// mapping failures (with the function index).
    pub(crate) fn compile_module(&self, module: &RuntimeModule) -> Result<NativeCode> {
        let info = &module.info;
        let ndef = info.num_defined_funcs() as usize;
        // One array→wasm trampoline per distinct signature (named by the
        // first module type with it).
        let mut sig_slot: HashMap<VMSharedTypeIndex, usize> = HashMap::new();
        let mut sigs: Vec<u32> = Vec::new();
        let mut def_sig = Vec::with_capacity(ndef);
        for d in 0..ndef {
            let fi = info.func_index(DefinedFuncIndex(d as u32));
            let ty_index = info.functions[fi.index()].index();
            let id = module.type_ids[ty_index];
            let slot = *sig_slot.entry(id).or_insert_with(|| {
                sigs.push(ty_index as u32);
                sigs.len() - 1
            });
            def_sig.push(slot);
        }

        let jobs = ndef + sigs.len();
        let compile = |job: usize| -> Result<CompiledCode<'static>> {
            let r = if job < ndef {
                self.compiler.compile_function(info, &module.wasm, DefinedFuncIndex(job as u32))
            } else {
                let ty = sigs[job - ndef];
                self.compiler.compile_array_to_wasm_trampoline(&info.types[ty as usize], ty)
            };
            r.map_err(|e| {
                let what = if job < ndef {
                    format!("function {}", info.func_index(DefinedFuncIndex(job as u32)).0)
                } else {
                    "a trampoline".to_string()
                };
                compile_error(e, &what)
            })
        };
        let body_bytes: usize = info.function_bodies.iter().map(|b| b.range.len()).sum();
        let code = compile_jobs(self.threads, jobs, body_bytes, compile)?;
        let defined = (0..ndef)
            .map(|d| DefinedEntry {
                func: DefinedFuncIndex(d as u32),
                code: d as u32,
                array_to_wasm: (ndef + def_sig[d]) as u32,
            })
            .collect();
        self.load(module, &CompiledModule { code, defined, type_trampolines: Vec::new() })
    }

    /// Compiles and publishes what `job` asks for (see
    /// `kiln_runtime::tier`); a function the compiler cannot translate is
    /// marked failed and stays interpreted.
    fn run_job(&self, job: TierJob) {
        let Some(module) = job.module.upgrade() else { return };
        let module = &module;
        let started = Instant::now();
        let wait = started.saturating_duration_since(job.queued_at);
        let def = job.def;
        if job.kind == JobKind::Function {
            module.mark_compiling(def);
        }
        let result = match job.kind {
            JobKind::Function => self.compile_tiered_function(module, def),
            JobKind::Osr => self.compile_osr_entry(module, def),
        };
        let elapsed = started.elapsed();
        match (result, job.kind) {
            (Ok(code), JobKind::Function) => module.publish(def, code, elapsed, wait),
            (Ok(code), JobKind::Osr) => module.publish_osr(def, code, elapsed, wait),
            (Err(e), kind) => module.fail(def, kind, e.to_string()),
        }
    }

    /// One function and the array→wasm trampoline of its type, loaded
    /// (`defined[0]` of the batch).
    fn compile_tiered_function(&self, module: &RuntimeModule, def: DefinedFuncIndex) -> Result<NativeCode> {
        let info = &module.info;
        let fi = info.func_index(def);
        let ty = info.functions[fi.index()].0;
        let f = self
            .compiler
            .compile_function(info, &module.wasm, def)
            .map_err(|e| compile_error(e, &format!("function {}", fi.0)))?;
        let t = self
            .compiler
            .compile_array_to_wasm_trampoline(&info.types[ty as usize], ty)
            .map_err(|e| compile_error(e, "a trampoline"))?;
        let batch = CompiledModule {
            code: vec![f, t],
            defined: vec![DefinedEntry { func: def, code: 0, array_to_wasm: 1 }],
            type_trampolines: Vec::new(),
        };
        self.load(module, &batch)
    }

    /// The OSR entry of function `def` for every loop its interpreter code
    /// can leave (`RuntimeModule::osr_loops`), loaded (`func_ptr(0)`).
    fn compile_osr_entry(&self, module: &RuntimeModule, def: DefinedFuncIndex) -> Result<NativeCode> {
        let info = &module.info;
        let fi = info.func_index(def);
        let loops = module.osr_loops(def);
        let f = self
            .compiler
            .compile_osr_entry(info, &module.wasm, def, &loops)
            .map_err(|e| compile_error(e, &format!("the OSR entry of function {}", fi.0)))?;
        self.load(module, &CompiledModule { code: vec![f], ..Default::default() })
    }

    /// Starts another worker thread if the queue has fewer than `threads`.
    fn spawn_worker(&self, q: &mut QueueState) {
        if q.workers >= self.threads {
            return;
        }
        let queue = self.queue.clone();
        let jit = self.me.clone();
        let spawned = std::thread::Builder::new().name("kiln-tier-up".into()).spawn(move || worker(queue, jit));
        if spawned.is_ok() {
            q.workers += 1;
        }
    }
}

/// A tier-up worker: takes jobs until its engine's compiler is gone.
fn worker(queue: Arc<TierQueue>, jit: Weak<Jit>) {
    loop {
        let job = {
            let mut q = queue.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if q.shutdown {
                    return;
                }
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                q = queue.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(jit) = jit.upgrade() else { return };
        // A panic in the compiler must not kill the worker (nor leave the
        // function queued forever).
        let (module, def, kind) = (job.module.clone(), job.def, job.kind);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| jit.run_job(job))).is_err()
            && let Some(module) = module.upgrade()
        {
            module.fail(def, kind, "the compiler panicked".into());
        }
    }
}

impl TierCompiler for Jit {
    fn submit(&self, job: TierJob) {
        if self.sync {
            // Compile now, on a thread with a fresh stack (the requesting
            // thread may be deep in guest recursion), and wait for it.
            let (module, def, kind) = (job.module.clone(), job.def, job.kind);
            let done = std::thread::scope(|s| {
                std::thread::Builder::new()
                    .name("kiln-tier-up-sync".into())
                    .spawn_scoped(s, || jit_run_caught(self, job))
                    .map(|h| h.join().unwrap_or(false))
                    .unwrap_or(false)
            });
            if !done && let Some(module) = module.upgrade() {
                module.fail(def, kind, "the compiler panicked or could not start".into());
            }
            return;
        }
        let mut q = self.queue.state.lock().unwrap_or_else(|e| e.into_inner());
        q.jobs.push_back(job);
        self.spawn_worker(&mut q);
        self.queue.ready.notify_one();
    }
}

/// Runs `job`, returning false if the compiler panicked.
fn jit_run_caught(jit: &Jit, job: TierJob) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| jit.run_job(job))).is_ok()
}

/// A compiler error as kiln reports it.
fn compile_error(e: kiln_compiler::CompileError, what: &str) -> Error {
    match e {
        kiln_compiler::CompileError::Unsupported(m) => Error::unsupported(format!("JIT: {what}: {m}")),
        e => Error::msg(format!("JIT: compiling {what}: {e}")),
    }
}

/// Runs `compile(0..jobs)`: on the calling thread for small modules
/// (`body_bytes` of wasm code below 16 KiB), otherwise on up to `threads`
/// scoped workers pulling job numbers from a shared counter (jobs are not
/// reordered by size). Results are in job order; the first error (in job
/// order) is returned. Shared by `jit` module compilation and `aotc`.
pub(crate) fn compile_jobs(
    threads: usize,
    jobs: usize,
    body_bytes: usize,
    compile: impl Fn(usize) -> Result<CompiledCode<'static>> + Sync,
) -> Result<Vec<CompiledCode<'static>>> {
    let mut results: Vec<Option<Result<CompiledCode<'static>>>> = (0..jobs).map(|_| None).collect();
    let workers = threads.min(jobs).min(1 + body_bytes / (16 * 1024));
    if workers <= 1 {
        for (job, slot) in results.iter_mut().enumerate() {
            *slot = Some(compile(job));
        }
    } else {
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<(usize, Result<CompiledCode<'static>>)>> = Mutex::new(Vec::with_capacity(jobs));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    let mut local = Vec::new();
                    loop {
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= jobs {
                            break;
                        }
                        local.push((job, compile(job)));
                    }
                    done.lock().unwrap_or_else(|e| e.into_inner()).extend(local);
                });
            }
        });
        for (job, r) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
            results[job] = Some(r);
        }
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::msg("a compile job did not run")))).collect()
}

impl HostTrampolines for Jit {
    fn wasm_to_array(&self, id: VMSharedTypeIndex, ty: &WasmFuncType) -> kiln_runtime::Result<*const u8> {
        let mut cache = self.host.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&p) = cache.by_type.get(&id) {
            return Ok(p as *const u8);
        }
        // Shared by every module of the engine: the module type index it
        // records is meaningless and never resolved.
        let f = self
            .compiler
            .compile_wasm_to_array_trampoline(ty, u32::MAX)
            .map_err(|e| Error::unsupported(format!("JIT: host-call trampoline for {ty:?}: {e}")))?;
        let no_trampolines = |ty: u32| -> kiln_runtime::Result<usize> {
            Err(Error::msg(format!("JIT: a trampoline refers to the trampoline of type {ty}")))
        };
        let code = NativeCode::load(&CompiledModule { code: vec![f], ..Default::default() }, &no_trampolines)?;
        let p = code.func_ptr(0);
        cache.by_type.insert(id, p as usize);
        cache.code.push(code);
        Ok(p)
    }
}
