//! kiln's tiered strategy (`Strategy::Tiered`, the default) against its two
//! single tiers, and QuickJS's time to first result against Wasmtime and
//! wasmi. Everything here counts compilation: that is what tiering trades.
//!
//! Three measurements, in this order:
//!
//! 1. **Time to completion**, per row, in kiln `tiered`, `jit` and
//!    `interp`: the workloads of `src/lib.rs` (`run(arg)`, checked against
//!    the native reference) and the long-running bench-inputs programs of
//!    [`LONG_PROGRAMS`] (WASI commands whose output is checked exactly). A
//!    run creates a fresh engine (so tiered starts cold: no counters, no
//!    compiled code, nothing cached from an earlier run), its linker and
//!    store, and then times `Module::new` + instantiation + the call. The
//!    report is the median per tier and the ratios tiered / jit and tiered
//!    / interp, with geometric means. The issue's goal: tiered / jit ≤
//!    [`JIT_GOAL`] on these long-running rows.
//! 2. **Time to first result**: QuickJS evaluating `console.log(6*7)`
//!    (`qjs -e`, must print `42`), from the bytes in memory to the exit of
//!    the program (`Module::new` + instantiation + `_start`), in kiln
//!    `tiered`, `jit` (which compiles all functions up front) and `interp`,
//!    in Wasmtime 48 (`Config::new()`: Cranelift, parallel compilation, no
//!    cache) and in wasmi 2.0 (`Config::default()`: lazy translation), each
//!    with a fresh engine per run. Goals: tiered / wasmi ≤ [`WASMI_GOAL`]
//!    and wasmtime / tiered ≥ [`WASMTIME_GOAL`]. Then the tier-up totals of
//!    one more tiered run (`Module::tier_stats`).
//! 3. **Threshold sweep**: for each of [`SWEEP_THRESHOLDS`]
//!    (`Config::tier_up_threshold`), the QuickJS time to first result and
//!    the geometric mean over the workloads of tiered / jit (jit measured
//!    alongside), to choose the default threshold with data.
//!
//! wasmi runs WASI through a minimal preview1 implementation in this file
//! ([`wasi_shim`]): `wasmi_wasi` 2.0 exists but brings `wasi-common` 36,
//! `wiggle` and cap-std (36 more crates in the workspace's `Cargo.lock`),
//! and QuickJS needs only a handful of calls for this script.
//!
//! Timing: the contenders of a measurement take turns run by run (see
//! `kiln_benches::measure`), after one untimed warm-up round; every
//! contender then does `--runs` timed runs (default 5). In section 1 a
//! slow row does fewer (a first round of 1 s or more: at most 3 runs, of
//! 10 s or more: that one run), since `interp` takes minutes on the
//! longest programs; sections 2 and 3 always do `--runs`.
//!
//! ```text
//! cargo bench --ignore-rust-version -p kiln-benches --bench tiered \
//!     [-- [--runs N] [--filter SUBSTR[,SUBSTR]]... [--quick] [--sweep | --no-sweep]]
//! ```
//!
//! `--filter` keeps the rows whose name contains one of the substrings (the
//! time-to-first-result row is called [`QJS_FIRST_RESULT`]); `--quick` does
//! 1 run per contender, no warm-up, and, without `--filter`, only the rows
//! of [`QUICK_ROWS`]; `--sweep` runs only the sweep, `--no-sweep` all but
//! it. Environment: `KILN_BENCH_RUNS`, `KILN_BENCH_FILTER` and
//! `KILN_BENCH_INPUTS` (the bench-inputs folder, default
//! `../shared/bench-inputs` beside the workspace), as in `jit_vs_wasmtime`.
//! A run that fails (error, trap, wrong result, non-zero exit, unexpected
//! output) is never timed: its row prints `FAILED`, the failures are listed
//! at the end, and the benchmark exits with status 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail, ensure};
use kiln_benches::measure::{Contender, DEFAULT_RUNS, Measured, Plan, Timed, ms, timed};
use kiln_benches::programs::{
    KilnCommand, Output, Program, WasmtimeCommand, inputs_dir, kiln_wasi_linker, programs, wasmtime_wasi_linker,
};
use kiln_benches::{Filters, Workload, env_var, geometric_mean, kiln_call_run, parse_runs, workloads};

/// The bench-inputs programs of the time-to-completion table, by report
/// name: those that run for 0.3 s or more in `jit` on a 2-core machine and
/// no more than about a minute in `interp` (sqlite3: ~50 s; gcc-loops,
/// shootout-ed25519 and shootout-seqhash take minutes there and are left
/// out). `quickjs` is QuickJS running a loop of a million iterations.
const LONG_PROGRAMS: &[&str] = &[
    "quickjs",
    "shootout-base64",
    "shootout-ctype",
    "shootout-fib2",
    "shootout-heapsort",
    "shootout-matrix",
    "shootout-minicsv",
    "shootout-sieve",
    "sqlite3",
];

/// The rows `--quick` keeps when no filter is given.
const QUICK_ROWS: &[&str] = &["int_loop", "c_program", "shootout-matrix", QJS_FIRST_RESULT];

/// The name of the time-to-first-result row (for `--filter`).
const QJS_FIRST_RESULT: &str = "qjs-first-result";
/// QuickJS's argv for the time to first result.
const QJS_FIRST_ARGV: &[&str] = &["qjs", "-e", "console.log(6*7)"];
/// What [`QJS_FIRST_ARGV`] prints.
const QJS_FIRST_STDOUT: &str = "42\n";

/// Goal of section 1: tiered / jit at most this on long-running rows.
const JIT_GOAL: f64 = 1.10;
/// Goal of section 2: tiered / wasmi at most this.
const WASMI_GOAL: f64 = 1.0;
/// Goal of section 2: wasmtime / tiered at least this.
const WASMTIME_GOAL: f64 = 20.0;

/// The tier-up thresholds of the sweep, with their labels.
const SWEEP_THRESHOLDS: [(u64, &str); 5] = [
    (100, "tiered@100"),
    (300, "tiered@300"),
    (1_000, "tiered@1000"),
    (3_000, "tiered@3000"),
    (10_000, "tiered@10000"),
];

// ---------------------------------------------------------------------------
// kiln's tiers, each run cold.

/// A kiln configuration under test.
#[derive(Clone, Copy)]
enum Tier {
    /// `Strategy::Tiered` with this `tier_up_threshold`.
    Tiered(u64),
    /// `Strategy::Jit`: every function compiled by `Module::new`.
    Jit,
    /// `Strategy::Interpreter`.
    Interp,
}

/// The three tiers of sections 1 and 2, in contender order, with their
/// labels.
const TIERS: [(Tier, &str); 3] =
    [(Tier::Tiered(kiln::DEFAULT_TIER_UP_THRESHOLD), "tiered"), (Tier::Jit, "jit"), (Tier::Interp, "interp")];

impl Tier {
    /// A fresh engine: `Config::new()` with this tier's strategy (and
    /// threshold); nothing else changed.
    fn engine(self) -> Result<kiln::Engine> {
        let mut config = kiln::Config::new();
        match self {
            Tier::Tiered(threshold) => config.strategy(kiln::Strategy::Tiered).tier_up_threshold(threshold),
            Tier::Jit => config.strategy(kiln::Strategy::Jit),
            Tier::Interp => config.strategy(kiln::Strategy::Interpreter),
        };
        Ok(kiln::Engine::new(&config)?)
    }

    /// One cold run of `workload` (`wasm` is its module): a fresh engine,
    /// then `Module::new` + instantiation + `run(arg)`, timed.
    fn run_workload(self, wasm: &[u8], workload: &Workload) -> Result<Timed<i32>> {
        let engine = self.engine()?;
        let linker = kiln::Linker::<()>::new(&engine);
        let mut store = kiln::Store::new(&engine, ());
        let run = timed(|| -> kiln::Result<_> {
            let module = kiln::Module::new(&engine, wasm)?;
            let result = kiln_call_run(&mut store, &linker, &module, workload.arg);
            Ok((module, result))
        });
        let (_module, result) = run.value.context("compiling")?;
        Ok(Timed { elapsed: run.elapsed, value: result? })
    }

    /// One cold run of `program` (`wasm` is its module): a fresh engine,
    /// then `Module::new` + instantiation + `_start`, timed. Also returns
    /// the module's tier-up statistics, taken when `_start` has returned.
    fn run_program(self, wasm: &[u8], program: &Program) -> Result<Timed<(Output, kiln::TierStats)>> {
        let engine = self.engine()?;
        let linker = kiln_wasi_linker(&engine)?;
        let mut command = KilnCommand::new(&engine, program)?;
        let run = timed(|| -> kiln::Result<_> {
            let module = kiln::Module::new(&engine, wasm)?;
            let started = command.start(&linker, &module);
            Ok((module, started))
        });
        let (module, started) = run.value.context("compiling")?;
        let stats = module.tier_stats();
        Ok(Timed { elapsed: run.elapsed, value: (command.finish(started)?, stats) })
    }
}

/// One cold run of `program` in Wasmtime 48: a fresh engine with
/// `Config::new()`, then `Module::new` + instantiation + `_start`, timed.
fn wasmtime_run_program(wasm: &[u8], program: &Program) -> Result<Timed<Output>> {
    let engine = wasmtime::Engine::new(&wasmtime::Config::new())?;
    let linker = wasmtime_wasi_linker(&engine)?;
    let mut command = WasmtimeCommand::new(program, |wasi| wasmtime::Store::new(&engine, wasi))?;
    let run = timed(|| -> wasmtime::Result<_> {
        let module = wasmtime::Module::new(&engine, wasm)?;
        let started = command.start(&linker, &module);
        Ok((module, started))
    });
    let (_module, started) = run.value.map_err(anyhow::Error::from).context("compiling")?;
    Ok(Timed { elapsed: run.elapsed, value: command.finish(started)? })
}

/// One cold run of `program` in wasmi 2.0: a fresh engine with
/// `Config::default()`, the [`wasi_shim`] linker, then `Module::new` +
/// instantiation + `_start`, timed.
fn wasmi_run_program(wasm: &[u8], program: &Program) -> Result<Timed<Output>> {
    let engine = wasmi::Engine::default();
    let linker = wasi_shim::linker(&engine, wasm)?;
    let mut store = wasmi::Store::new(&engine, wasi_shim::Ctx::new(program)?);
    let run = timed(|| -> Result<_, wasmi::Error> {
        let module = wasmi::Module::new(&engine, wasm)?;
        let started = linker
            .instantiate_and_start(&mut store, &module)
            .and_then(|instance| instance.get_typed_func::<(), ()>(&store, "_start")?.call(&mut store, ()));
        Ok((module, started))
    });
    let (_module, started) = run.value.context("compiling")?;
    let exit_code = match started {
        Ok(()) => 0,
        Err(error) => error.i32_exit_status().ok_or(error)?,
    };
    let ctx = store.into_data();
    Ok(Timed { elapsed: run.elapsed, value: Output { exit_code, stdout: ctx.stdout, stderr: ctx.stderr } })
}

/// A contender whose runs are `run`, each checked by `check`; only the
/// checked runs are timed.
fn checked<'a, T: 'a>(
    label: &'static str,
    run: impl Fn() -> Result<Timed<T>> + 'a,
    check: impl Fn(&T) -> Result<()> + 'a,
) -> Contender<'a> {
    Contender::new(label, move || {
        let timed = run()?;
        check(&timed.value)?;
        Ok(timed.elapsed)
    })
}

/// The kiln contenders `tiers` running `workload` cold.
fn workload_contenders<'a>(
    tiers: &[(Tier, &'static str)],
    wasm: &'a [u8],
    workload: &'a Workload,
) -> Vec<Contender<'a>> {
    let expected = workload.expected_result();
    tiers
        .iter()
        .map(|&(tier, label)| {
            checked(
                label,
                move || tier.run_workload(wasm, workload),
                move |&got| {
                    ensure!(got == expected, "WRONG RESULT: run({}) returned {got}, expected {expected}", workload.arg);
                    Ok(())
                },
            )
        })
        .collect()
}

/// The kiln contenders `tiers` running `program` cold.
fn program_contenders<'a>(tiers: &[(Tier, &'static str)], wasm: &'a [u8], program: &'a Program) -> Vec<Contender<'a>> {
    tiers
        .iter()
        .map(|&(tier, label)| {
            checked(label, move || tier.run_program(wasm, program), |(output, _)| program.check(output))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The minimal WASI for wasmi.

/// Just enough WASI preview1 for QuickJS evaluating a script given with
/// `-e` in wasmi: arguments, an empty environment, no preopened folder,
/// stdout and stderr captured in memory, stdin at end of file, clocks and
/// `proc_exit`. Every other function the module imports from
/// `wasi_snapshot_preview1` returns `ENOSYS`; an import from another
/// module is an error.
mod wasi_shim {
    use std::time::{Instant, SystemTime};

    use anyhow::{Context, Result, bail, ensure};
    use kiln_benches::programs::Program;
    use wasmi::{Caller, Extern, FuncType, Linker, Val, ValType};

    /// The WASI preview1 import module.
    const WASI: &str = "wasi_snapshot_preview1";

    /// A WASI error number (`errno`); 0 is success.
    type Errno = i32;
    const SUCCESS: Errno = 0;
    const EBADF: Errno = 8;
    const EFAULT: Errno = 21;
    const EINVAL: Errno = 28;
    const ENOSYS: Errno = 52;
    const ESPIPE: Errno = 70;

    /// The state of one program run.
    pub struct Ctx {
        /// argv, each without its NUL.
        args: Vec<Vec<u8>>,
        /// Everything written to fd 1.
        pub stdout: Vec<u8>,
        /// Everything written to fd 2.
        pub stderr: Vec<u8>,
        /// The origin of the monotonic clock.
        start: Instant,
    }

    impl Ctx {
        /// The state for `program`, which must preopen no folder.
        pub fn new(program: &Program) -> Result<Ctx> {
            ensure!(program.preopen.is_none(), "the wasmi WASI shim has no file system: it cannot preopen a folder");
            Ok(Ctx {
                args: program.argv.iter().map(|a| a.clone().into_bytes()).collect(),
                stdout: Vec::new(),
                stderr: Vec::new(),
                start: Instant::now(),
            })
        }
    }

    /// A view of the guest's linear memory, bounds-checked.
    struct Memory<'a>(&'a mut [u8]);

    impl Memory<'_> {
        /// The `len` bytes at `ptr`.
        fn bytes(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
            let start = ptr as usize;
            let end = start.checked_add(len as usize).ok_or(EFAULT)?;
            self.0.get_mut(start..end).ok_or(EFAULT)
        }

        fn read_u32(&mut self, ptr: u32) -> Result<u32, Errno> {
            let bytes = self.bytes(ptr, 4)?;
            Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        }

        fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), Errno> {
            self.bytes(ptr, data.len() as u32)?.copy_from_slice(data);
            Ok(())
        }

        fn write_u32(&mut self, ptr: u32, value: u32) -> Result<(), Errno> {
            self.write(ptr, &value.to_le_bytes())
        }

        fn write_u64(&mut self, ptr: u32, value: u64) -> Result<(), Errno> {
            self.write(ptr, &value.to_le_bytes())
        }

        /// The concatenated buffers of the `count` iovecs at `iovs`.
        fn gather(&mut self, iovs: u32, count: u32) -> Result<Vec<u8>, Errno> {
            let mut data = Vec::new();
            for i in 0..count {
                let iov = iovs.checked_add(i.checked_mul(8).ok_or(EFAULT)?).ok_or(EFAULT)?;
                let (buf, len) = (self.read_u32(iov)?, self.read_u32(iov + 4)?);
                data.extend_from_slice(self.bytes(buf, len)?);
            }
            Ok(data)
        }
    }

    /// Runs `f` on the guest's memory and the context, returning its errno.
    fn with_memory(
        caller: &mut Caller<'_, Ctx>,
        f: impl FnOnce(&mut Memory<'_>, &mut Ctx) -> Result<(), Errno>,
    ) -> Result<i32, wasmi::Error> {
        let memory = caller
            .get_export("memory")
            .and_then(Extern::into_memory)
            .ok_or_else(|| wasmi::Error::new("the module exports no `memory`"))?;
        let (bytes, ctx) = memory.data_and_store_mut(caller);
        Ok(f(&mut Memory(bytes), ctx).err().unwrap_or(SUCCESS))
    }

    /// Writes the sizes of the NUL-terminated `strings` (count at
    /// `count_ptr`, total bytes at `size_ptr`).
    fn sizes_get(memory: &mut Memory<'_>, strings: &[Vec<u8>], count_ptr: u32, size_ptr: u32) -> Result<(), Errno> {
        let size: usize = strings.iter().map(|s| s.len() + 1).sum();
        memory.write_u32(count_ptr, strings.len() as u32)?;
        memory.write_u32(size_ptr, size as u32)
    }

    /// Writes the NUL-terminated `strings` at `buf` and pointers to them at
    /// `ptrs`.
    fn strings_get(memory: &mut Memory<'_>, strings: &[Vec<u8>], ptrs: u32, buf: u32) -> Result<(), Errno> {
        let mut at = buf;
        for (i, s) in strings.iter().enumerate() {
            memory.write_u32(ptrs + 4 * i as u32, at)?;
            memory.write(at, s)?;
            memory.write(at + s.len() as u32, &[0])?;
            at += s.len() as u32 + 1;
        }
        Ok(())
    }

    /// Whether `fd` is stdin, stdout or stderr.
    fn is_stdio(fd: i32) -> bool {
        (0..=2).contains(&fd)
    }

    /// Defines the implemented function `name` in `linker`; false when the
    /// shim does not implement it.
    fn define(linker: &mut Linker<Ctx>, name: &str) -> Result<bool> {
        type C<'a> = Caller<'a, Ctx>;
        type R = Result<i32, wasmi::Error>;
        match name {
            "args_sizes_get" => linker.func_wrap(WASI, name, |mut c: C<'_>, count: i32, size: i32| -> R {
                with_memory(&mut c, |m, ctx| sizes_get(m, &ctx.args, count as u32, size as u32))
            }),
            "args_get" => linker.func_wrap(WASI, name, |mut c: C<'_>, ptrs: i32, buf: i32| -> R {
                with_memory(&mut c, |m, ctx| strings_get(m, &ctx.args, ptrs as u32, buf as u32))
            }),
            "environ_sizes_get" => linker.func_wrap(WASI, name, |mut c: C<'_>, count: i32, size: i32| -> R {
                with_memory(&mut c, |m, _| sizes_get(m, &[], count as u32, size as u32))
            }),
            "environ_get" => linker.func_wrap(WASI, name, |_: C<'_>, _ptrs: i32, _buf: i32| -> R { Ok(SUCCESS) }),
            "fd_write" => {
                linker.func_wrap(WASI, name, |mut c: C<'_>, fd: i32, iovs: i32, count: i32, written: i32| -> R {
                    with_memory(&mut c, |m, ctx| {
                        let out = match fd {
                            1 => &mut ctx.stdout,
                            2 => &mut ctx.stderr,
                            _ => return Err(EBADF),
                        };
                        let data = m.gather(iovs as u32, count as u32)?;
                        out.extend_from_slice(&data);
                        m.write_u32(written as u32, data.len() as u32)
                    })
                })
            }
            // Standard input is empty.
            "fd_read" => {
                linker.func_wrap(WASI, name, |mut c: C<'_>, fd: i32, _iovs: i32, _count: i32, read: i32| -> R {
                    with_memory(&mut c, |m, _| match fd {
                        0 => m.write_u32(read as u32, 0),
                        _ => Err(EBADF),
                    })
                })
            }
            "fd_close" => linker
                .func_wrap(WASI, name, |_: C<'_>, fd: i32| -> R { Ok(if is_stdio(fd) { SUCCESS } else { EBADF }) }),
            "fd_seek" => {
                linker.func_wrap(WASI, name, |_: C<'_>, fd: i32, _offset: i64, _whence: i32, _new: i32| -> R {
                    Ok(if is_stdio(fd) { ESPIPE } else { EBADF })
                })
            }
            // The standard streams are files of unknown type (pipes, as in
            // the other runtimes' in-memory pipes) with every right.
            "fd_fdstat_get" => linker.func_wrap(WASI, name, |mut c: C<'_>, fd: i32, stat: i32| -> R {
                with_memory(&mut c, |m, _| {
                    if !is_stdio(fd) {
                        return Err(EBADF);
                    }
                    let mut fdstat = [0u8; 24];
                    fdstat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
                    fdstat[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
                    m.write(stat as u32, &fdstat)
                })
            }),
            // No preopened folder: wasi-libc stops enumerating at fd 3.
            "fd_prestat_get" => linker.func_wrap(WASI, name, |_: C<'_>, _fd: i32, _buf: i32| -> R { Ok(EBADF) }),
            "clock_time_get" => {
                linker.func_wrap(WASI, name, |mut c: C<'_>, id: i32, _precision: i64, time: i32| -> R {
                    with_memory(&mut c, |m, ctx| {
                        let nanos = match id {
                            // realtime
                            0 => SystemTime::now()
                                .duration_since(SystemTime::UNIX_EPOCH)
                                .map_or(0, |d| d.as_nanos() as u64),
                            // monotonic, process and thread CPU time
                            1..=3 => ctx.start.elapsed().as_nanos() as u64,
                            _ => return Err(EINVAL),
                        };
                        m.write_u64(time as u32, nanos)
                    })
                })
            }
            "proc_exit" => linker.func_wrap(WASI, name, |_: C<'_>, status: i32| -> Result<(), wasmi::Error> {
                Err(wasmi::Error::i32_exit(status))
            }),
            _ => return Ok(false),
        }?;
        Ok(true)
    }

    /// A wasmi linker that provides every import of `wasm`: the
    /// implemented WASI functions, and `ENOSYS` for the other WASI ones.
    ///
    /// # Errors
    /// When `wasm` does not parse, or imports something other than a WASI
    /// function returning an errno.
    pub fn linker(engine: &wasmi::Engine, wasm: &[u8]) -> Result<Linker<Ctx>> {
        let mut linker = Linker::new(engine);
        let mut types = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload? {
                wasmparser::Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        types.push(ty?);
                    }
                }
                wasmparser::Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        let wasmparser::TypeRef::Func(index) = import.ty else {
                            bail!("the wasmi WASI shim cannot provide {}.{}", import.module, import.name);
                        };
                        if import.module != WASI {
                            bail!("the wasmi WASI shim cannot provide {}.{}", import.module, import.name);
                        }
                        if !define(&mut linker, import.name)? {
                            let ty = types
                                .get(index as usize)
                                .with_context(|| format!("{WASI}.{}: no type {index}", import.name))?;
                            define_enosys(&mut linker, import.name, ty)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(linker)
    }

    /// Defines WASI function `name` of type `ty` as returning `ENOSYS`.
    fn define_enosys(linker: &mut Linker<Ctx>, name: &str, ty: &wasmparser::FuncType) -> Result<()> {
        ensure!(
            ty.results() == [wasmparser::ValType::I32],
            "{WASI}.{name} does not return an errno: the shim cannot stub it"
        );
        let params = ty
            .params()
            .iter()
            .map(|p| match p {
                wasmparser::ValType::I32 => Ok(ValType::I32),
                wasmparser::ValType::I64 => Ok(ValType::I64),
                wasmparser::ValType::F32 => Ok(ValType::F32),
                wasmparser::ValType::F64 => Ok(ValType::F64),
                other => bail!("{WASI}.{name} has a parameter of type {other}"),
            })
            .collect::<Result<Vec<_>>>()?;
        let ty = FuncType::new(params, [ValType::I32]);
        linker.func_new(WASI, name, ty, |_, _, results| {
            results[0] = Val::I32(ENOSYS);
            Ok(())
        })?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Reporting.

/// The part of section 1 a row belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Workloads,
    Programs,
}

impl Part {
    fn title(self) -> &'static str {
        match self {
            Part::Workloads => "workloads",
            Part::Programs => "programs",
        }
    }
}

/// One row of section 1.
struct Row {
    part: Part,
    name: String,
    /// The medians in [`TIERS`] order, or why the row was not measured.
    result: Result<Measured, String>,
}

/// Everything measured, and every failure.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    /// `what: error` of every measurement that failed.
    failures: Vec<String>,
}

impl Report {
    /// Prints the measurement of `what` as it comes (its medians with
    /// `labels`, or its failure) and records a failure. Returns the
    /// measurement, or the failure's message.
    fn note(&mut self, what: &str, labels: &[&str], result: Result<Measured>) -> Result<Measured, String> {
        match result {
            Ok(measured) => {
                let times: Vec<String> = labels
                    .iter()
                    .zip(&measured.medians)
                    .map(|(label, m)| format!("{label} {} ms", ms(*m, 0)))
                    .collect();
                println!("  {what:<20} {}  ({} runs)", times.join(" | "), measured.runs);
                Ok(measured)
            }
            Err(error) => {
                let message = format!("{error:#}");
                println!("  {what:<20} FAILED: {message}");
                self.failures.push(format!("{what}: {message}"));
                Err(message)
            }
        }
    }

    /// Records (and prints) a row of section 1.
    fn add_row(&mut self, part: Part, name: &str, result: Result<Measured>) {
        let result = self.note(name, &TIERS.map(|(_, label)| label), result);
        self.rows.push(Row { part, name: name.to_string(), result });
    }

    /// Ratios tiered / jit and tiered / interp of the measured rows of
    /// `parts`.
    fn ratios(&self, parts: &[Part]) -> (Vec<f64>, Vec<f64>) {
        self.rows
            .iter()
            .filter(|r| parts.contains(&r.part))
            .filter_map(|r| r.result.as_ref().ok())
            .map(|m| (m.medians[0] / m.medians[1], m.medians[0] / m.medians[2]))
            .unzip()
    }

    /// Prints the table of section 1.
    fn print_completion(&self) {
        if self.rows.is_empty() {
            return;
        }
        println!();
        println!("=== Time to completion: fresh engine, Module::new + instantiate + run, median per run ===");
        println!(
            "{:<10} {:<18} {:>11} {:>11} {:>11} {:>10} {:>13} {:>5}",
            "part", "name", "tiered ms", "jit ms", "interp ms", "tiered/jit", "tiered/interp", "runs"
        );
        for row in &self.rows {
            let Ok(Measured { medians: m, runs }) = &row.result else {
                println!("{:<10} {:<18} {:>11}", row.part.title(), row.name, "FAILED");
                continue;
            };
            let over = if m[0] / m[1] > JIT_GOAL { " *" } else { "" };
            println!(
                "{:<10} {:<18} {} {} {} {:>10.2} {:>13.2} {runs:>5}{over}",
                row.part.title(),
                row.name,
                ms(m[0], 11),
                ms(m[1], 11),
                ms(m[2], 11),
                m[0] / m[1],
                m[0] / m[2],
            );
        }
        for (what, parts) in [
            ("workloads", &[Part::Workloads][..]),
            ("programs", &[Part::Programs][..]),
            ("overall", &[Part::Workloads, Part::Programs][..]),
        ] {
            let (jit, interp) = self.ratios(parts);
            if let (Some(jit_mean), Some(interp_mean)) = (geometric_mean(&jit), geometric_mean(&interp)) {
                println!(
                    "{:<10} {:<18} {:>11} {:>11} {:>11} {jit_mean:>10.2} {interp_mean:>13.2} {:>5}",
                    "geomean",
                    what,
                    "",
                    "",
                    "",
                    jit.len()
                );
            }
        }
        let (jit, _) = self.ratios(&[Part::Workloads, Part::Programs]);
        let met = jit.iter().filter(|&&r| r <= JIT_GOAL).count();
        println!("goal: tiered/jit <= {JIT_GOAL:.2} on long-running rows: met by {met} of {} (* = missed)", jit.len());
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
// The three sections.

/// Section 1: every selected workload and long-running program in the
/// three tiers.
fn completion(options: &Options, report: &mut Report) -> Result<()> {
    println!("\n== time to completion: {} ==", TIERS.map(|(_, l)| l).join(" | "));
    for workload in workloads().iter().filter(|w| options.selects(w.name)) {
        let result =
            workload.wasm().and_then(|wasm| options.plan.measure(&mut workload_contenders(&TIERS, &wasm, workload)));
        report.add_row(Part::Workloads, workload.name, result);
    }
    let Some(inputs) = options.inputs() else {
        return Ok(());
    };
    for program in
        programs(inputs)?.iter().filter(|p| LONG_PROGRAMS.contains(&p.name.as_str()) && options.selects(&p.name))
    {
        let result =
            program.read_wasm().and_then(|wasm| options.plan.measure(&mut program_contenders(&TIERS, &wasm, program)));
        report.add_row(Part::Programs, &program.name, result);
    }
    Ok(())
}

/// QuickJS printing `console.log(6*7)`, with no preopened folder.
fn qjs_first_result(inputs: &Path) -> Program {
    Program::quickjs(inputs, QJS_FIRST_RESULT, QJS_FIRST_ARGV, QJS_FIRST_STDOUT)
}

/// Section 2: QuickJS's time to first result in kiln's tiers, Wasmtime and
/// wasmi, then the tier-up totals of one more tiered run.
fn first_result(options: &Options, report: &mut Report) {
    if !options.selects(QJS_FIRST_RESULT) {
        return;
    }
    let Some(inputs) = options.inputs() else {
        return;
    };
    let program = qjs_first_result(inputs);
    println!("\n== QuickJS time to first result: qjs -e \"console.log(6*7)\", Module::new + instantiate + _start ==");
    let wasm = match program.read_wasm() {
        Ok(wasm) => wasm,
        Err(error) => {
            let _ = report.note(QJS_FIRST_RESULT, &[], Err(error));
            return;
        }
    };
    let check = |output: &Output| program.check(output);
    let mut contenders = program_contenders(&TIERS, &wasm, &program);
    contenders.push(checked("wasmtime", || wasmtime_run_program(&wasm, &program), check));
    contenders.push(checked("wasmi", || wasmi_run_program(&wasm, &program), check));
    let labels = ["kiln tiered", "kiln jit", "kiln interp", "wasmtime", "wasmi"];
    let result = options.uncapped_plan().measure(&mut contenders);
    drop(contenders);
    let Ok(Measured { medians: m, runs }) = report.note(QJS_FIRST_RESULT, &labels, result) else {
        return;
    };

    println!();
    println!("=== QuickJS time to first result (fresh engine per run, compile included), median of {runs} ===");
    println!("{:<12} {:>10}  configuration", "engine", "ms");
    let configs = [
        "Config::new(), Strategy::Tiered (default threshold)",
        "Config::new(), Strategy::Jit: compiles every function first",
        "Config::new(), Strategy::Interpreter",
        "Wasmtime 48, Config::new() (Cranelift, parallel compilation, no cache)",
        "wasmi 2.0, Config::default() (lazy translation), minimal WASI shim",
    ];
    for ((label, median), config) in labels.iter().zip(&m).zip(configs) {
        println!("{label:<12} {}  {config}", ms(*median, 10));
    }
    let (tiered, wasmtime, wasmi) = (m[0], m[3], m[4]);
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "tiered/wasmi    = {:>7.2}  (goal <= {WASMI_GOAL:.2}: {})",
        tiered / wasmi,
        verdict(tiered / wasmi <= WASMI_GOAL)
    );
    println!(
        "wasmtime/tiered = {:>7.2}  (goal >= {WASMTIME_GOAL:.2}: {})",
        wasmtime / tiered,
        verdict(wasmtime / tiered >= WASMTIME_GOAL)
    );
    println!("jit/tiered      = {:>7.2}", m[1] / tiered);

    match TIERS[0].0.run_program(&wasm, &program) {
        Ok(Timed { value: (_, stats), elapsed }) => println!(
            "tier stats of one more tiered run ({} ms): {} of {} functions compiled, {} OSR entries, {} ms compiling",
            ms(elapsed.as_secs_f64(), 0),
            stats.compiled,
            stats.functions.len(),
            stats.osr_entries,
            ms(stats.compile_time.as_secs_f64(), 0)
        ),
        Err(error) => {
            let _ = report.note("tier stats run", &[], Err(error));
        }
    }
}

/// Section 3: the sweep of [`SWEEP_THRESHOLDS`] over the QuickJS time to
/// first result and the workloads' tiered / jit.
fn sweep(options: &Options, report: &mut Report) -> Result<()> {
    let tiers: Vec<(Tier, &'static str)> =
        SWEEP_THRESHOLDS.iter().map(|&(threshold, label)| (Tier::Tiered(threshold), label)).collect();
    let labels: Vec<&str> = tiers.iter().map(|(_, label)| *label).collect();
    let plan = options.uncapped_plan();
    println!("\n== threshold sweep: {} ==", labels.join(" | "));

    let first = match options.inputs() {
        Some(inputs) if options.selects(QJS_FIRST_RESULT) => {
            let program = qjs_first_result(inputs);
            let result =
                program.read_wasm().and_then(|wasm| plan.measure(&mut program_contenders(&tiers, &wasm, &program)));
            report.note(QJS_FIRST_RESULT, &labels, result).ok()
        }
        _ => None,
    };

    // Per threshold, the tiered / jit ratio of every measured workload.
    let mut ratios = vec![Vec::new(); tiers.len()];
    let mut with_jit = vec![(Tier::Jit, "jit")];
    with_jit.extend(&tiers);
    let with_jit_labels: Vec<&str> = with_jit.iter().map(|(_, label)| *label).collect();
    for workload in workloads().iter().filter(|w| options.selects(w.name)) {
        let result =
            workload.wasm().and_then(|wasm| plan.measure(&mut workload_contenders(&with_jit, &wasm, workload)));
        if let Ok(Measured { medians, .. }) = report.note(workload.name, &with_jit_labels, result) {
            for (i, ratio) in ratios.iter_mut().enumerate() {
                ratio.push(medians[i + 1] / medians[0]);
            }
        }
    }

    println!();
    println!("=== Threshold sweep (Config::tier_up_threshold; default {}) ===", kiln::DEFAULT_TIER_UP_THRESHOLD);
    println!("{:>10} {:>16} {:>24}", "threshold", "qjs first ms", "workloads tiered/jit");
    for (i, &(threshold, _)) in SWEEP_THRESHOLDS.iter().enumerate() {
        let first_ms = first.as_ref().map_or_else(|| format!("{:>16}", "-"), |m| ms(m.medians[i], 16));
        let mean = geometric_mean(&ratios[i]).map_or_else(|| format!("{:>24}", "-"), |g| format!("{g:>24.2}"));
        println!("{threshold:>10} {first_ms} {mean}");
    }
    println!(
        "qjs first ms: median of {} cold runs of `qjs -e \"console.log(6*7)\"`; tiered/jit: geometric mean over {} workloads",
        plan.runs,
        ratios[0].len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Options and main.

/// Which sections run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sections {
    /// All three (the default).
    All,
    /// Sections 1 and 2 (`--no-sweep`).
    NoSweep,
    /// Only the sweep (`--sweep`).
    SweepOnly,
}

/// Command line and environment.
struct Options {
    /// Runs of section 1 (slow rows capped).
    plan: Plan,
    /// The names to keep.
    filters: Filters,
    /// The bench-inputs folder, when it exists.
    inputs: Option<PathBuf>,
    sections: Sections,
}

const USAGE: &str = "usage: tiered [--runs N] [--filter SUBSTR[,SUBSTR]]... [--quick] [--sweep | --no-sweep]";

impl Options {
    /// Reads the environment, then the arguments after the program name
    /// (which win). `--bench`, which cargo passes to every benchmark, is
    /// ignored.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Options> {
        let mut options = Options {
            plan: Plan {
                runs: env_var("KILN_BENCH_RUNS").as_deref().map_or(Ok(DEFAULT_RUNS), parse_runs)?,
                warmup: true,
                cap_slow: true,
            },
            filters: Filters::default(),
            inputs: Some(inputs_dir()),
            sections: Sections::All,
        };
        if let Some(list) = env_var("KILN_BENCH_FILTER") {
            options.filters.add(&list);
        }
        let mut quick = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value; {USAGE}"));
            match arg.as_str() {
                "--bench" => {}
                "--runs" => options.plan.runs = parse_runs(&value("--runs")?)?,
                "--filter" => options.filters.add(&value("--filter")?),
                "--quick" => quick = true,
                "--sweep" => options.sections = Sections::SweepOnly,
                "--no-sweep" => options.sections = Sections::NoSweep,
                _ => bail!("unexpected argument `{arg}`; {USAGE}"),
            }
        }
        if quick {
            options.plan.runs = 1;
            options.plan.warmup = false;
            if options.filters.is_empty() {
                options.filters.add(&QUICK_ROWS.join(","));
            }
        }
        options.inputs = options.inputs.filter(|dir| dir.is_dir());
        Ok(options)
    }

    /// Whether the row called `name` is selected.
    fn selects(&self, name: &str) -> bool {
        self.filters.selects(name)
    }

    /// The bench-inputs folder, or `None` after printing that the programs
    /// are skipped.
    fn inputs(&self) -> Option<&Path> {
        if self.inputs.is_none() {
            println!("  bench-inputs programs skipped: {} is absent (set KILN_BENCH_INPUTS)", inputs_dir().display());
        }
        self.inputs.as_deref()
    }

    /// The plan of sections 2 and 3: `--runs` runs whatever they take.
    fn uncapped_plan(&self) -> Plan {
        Plan { cap_slow: false, ..self.plan }
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

/// Runs the selected sections and prints their tables; `Ok(false)` when a
/// measurement failed.
fn run_benchmarks() -> Result<bool> {
    let options = Options::parse(std::env::args().skip(1))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("kiln tiered vs jit vs interp (and QuickJS's first result vs Wasmtime 48 and wasmi 2.0), {cores} cores");
    println!("  every run: a fresh engine (Config::new() + strategy), then timed Module::new + instantiate + run");
    println!(
        "  runs: {} timed per contender, {}{}",
        options.plan.runs,
        if options.plan.warmup { "after an untimed warm-up round" } else { "no warm-up" },
        if options.plan.cap_slow {
            "; time to completion: <= 3 runs if a first run takes >= 1 s, 1 if >= 10 s"
        } else {
            ""
        }
    );
    if !options.filters.is_empty() {
        println!("  filter: {:?}", options.filters.substrings());
    }

    let mut report = Report::default();
    if options.sections != Sections::SweepOnly {
        completion(&options, &mut report)?;
        report.print_completion();
        first_result(&options, &mut report);
    }
    if options.sections != Sections::NoSweep {
        sweep(&options, &mut report)?;
    }
    Ok(report.print_failures())
}
