//! WASI preview1 (`wasi_snapshot_preview1`) and preview0 (`wasi_unstable`)
//! for kiln, in the style of Wasmtime's `wasmtime_wasi::preview1`:
//!
//! ```
//! use kiln::wasi::{MemoryOutputPipe, WasiCtx, WasiCtxBuilder};
//! use kiln::{Engine, Linker, Module, Store};
//!
//! let engine = Engine::default();
//! let module = Module::new(&engine, r#"
//!     (module
//!       (import "wasi_snapshot_preview1" "fd_write"
//!         (func $fd_write (param i32 i32 i32 i32) (result i32)))
//!       (memory (export "memory") 1)
//!       (data (i32.const 16) "hi\n")
//!       (func (export "_start")
//!         (i32.store (i32.const 0) (i32.const 16))   ;; iovec.buf
//!         (i32.store (i32.const 4) (i32.const 3))    ;; iovec.buf_len
//!         (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
//! "#)?;
//! let stdout = MemoryOutputPipe::new();
//! let ctx = WasiCtxBuilder::new().arg("hello.wasm").stdout(stdout.clone()).build();
//! let mut store = Store::new(&engine, ctx);
//! let mut linker = Linker::new(&engine);
//! kiln::wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx)?;
//! let instance = linker.instantiate(&mut store, &module)?;
//! let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
//! start.call(&mut store, ())?;
//! assert_eq!(stdout.contents(), b"hi\n");
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! The implementation lives in `kiln_runtime::wasi` (plain Rust over a
//! [`WasiCtx`] and guest memory); this module registers it as host
//! functions, so it works the same from every execution tier.
//! [`add_to_linker`] defines both import modules: `wasi_unstable`, the
//! ABI of older toolchains, is a translation layer over preview1
//! ([`preview0`] lists what differs: the `filestat` layout, the `whence`
//! numbering, the clock `subscription` layout and the rights; it has no
//! `sock_accept`).
//!
//! Defaults of [`WasiCtxBuilder`]: no arguments or environment, empty
//! stdin, stdout and stderr discarded, no preopened directories; use
//! `inherit_stdio`, `stdin_bytes`/`stdout(MemoryOutputPipe)` and
//! `preopened_dir(host, guest)` to grant more. Descriptors: 0–2 stdio, then
//! the preopened directories in the order added, then preopened sockets.
//!
//! Termination: `proc_exit(code)` makes the guest call fail with an
//! [`Error`] of kind [`crate::ErrorKind::Exit`] whose
//! [`exit_code`](Error::exit_code) is `Some(code)`; `proc_raise` with a
//! signal whose default action terminates does the same with status
//! `128 + signal number` (see [`Raise`]); other signals are ignored.
//! Unlike Wasmtime, which traps on `proc_exit` codes of 126 and above,
//! every `i32` code is passed through (the CLI reduces it to a status).

use crate::{Caller, Error, Extern, Linker, Result};
use kiln_runtime::wasi::preview0 as p0;
use kiln_runtime::wasi::preview1 as p;
pub use kiln_runtime::wasi::{
    Errno, MemoryOutputPipe, Raise, WasiCtx, WasiCtxBuilder, WasiResult, abi, preview0, preview1,
};

/// The import module name of WASI preview1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The import module name of WASI preview0 (`wasi_unstable`), defined by
/// [`add_to_linker`] alongside [`MODULE`].
pub const PREVIEW0_MODULE: &str = p0::MODULE;

fn errno(r: WasiResult<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => i32::from(e.raw()),
    }
}

/// Runs `f` with the WASI context and the caller's exported `memory`.
/// A caller without one fails with a host error (as in Wasmtime: WASI
/// functions that take pointers need the memory they point into).
fn with_mem<T>(
    caller: &mut Caller<'_, T>,
    get: &impl Fn(&mut T) -> &mut WasiCtx,
    f: impl FnOnce(&mut WasiCtx, &mut [u8]) -> WasiResult<()>,
) -> Result<i32> {
    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| Error::host("WASI: the calling module has no exported memory named `memory`"))?;
    let (data, t) = memory.data_and_store_mut(&mut *caller);
    Ok(errno(f(get(t), data)))
}

/// Registers a function taking memory: `module.name(params) -> errno`,
/// calling `imp::name`, each parameter converted with `as` to the runtime
/// function's type.
macro_rules! mem_fn {
    ($linker:ident, $get:ident, $module:expr, $imp:ident :: $name:ident ( $($a:ident : $t:ty => $conv:ty),* )) => {
        $linker.func_wrap($module, stringify!($name), move |mut c: Caller<'_, T>, $($a: $t),*| -> Result<i32> {
            with_mem(&mut c, &$get, |ctx, m| $imp::$name(ctx, m, $($a as $conv),*))
        })?;
    };
}

/// Registers a function that needs only the context.
macro_rules! ctx_fn {
    ($linker:ident, $get:ident, $module:expr, $imp:ident :: $name:ident ( $($a:ident : $t:ty => $conv:ty),* )) => {
        $linker.func_wrap($module, stringify!($name), move |mut c: Caller<'_, T>, $($a: $t),*| -> Result<i32> {
            Ok(errno($imp::$name($get(c.data_mut()), $($a as $conv),*)))
        })?;
    };
}

/// Registers every function preview1 and preview0 have in common (all but
/// `sock_accept`) under `$module`, implemented by the functions of the same
/// names in `$imp` (`p` or `p0`; the core signatures are the same in both).
macro_rules! common_fns {
    ($linker:ident, $get:ident, $module:expr, $imp:ident) => {
        mem_fn!($linker, $get, $module, $imp::args_get(argv: i32 => u32, argv_buf: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::args_sizes_get(argc: i32 => u32, size: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::environ_get(environ: i32 => u32, buf: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::environ_sizes_get(count: i32 => u32, size: i32 => u32));
        $linker.func_wrap($module, "clock_res_get", move |mut c: Caller<'_, T>, id: i32, res: i32| -> Result<i32> {
            with_mem(&mut c, &$get, |_, m| $imp::clock_res_get(m, id as u32, res as u32))
        })?;
        $linker.func_wrap(
            $module,
            "clock_time_get",
            move |mut c: Caller<'_, T>, id: i32, precision: i64, time: i32| -> Result<i32> {
                with_mem(&mut c, &$get, |_, m| $imp::clock_time_get(m, id as u32, precision as u64, time as u32))
            },
        )?;
        ctx_fn!($linker, $get, $module, $imp::fd_advise(fd: i32 => u32, offset: i64 => u64, len: i64 => u64, advice: i32 => u32));
        ctx_fn!($linker, $get, $module, $imp::fd_allocate(fd: i32 => u32, offset: i64 => u64, len: i64 => u64));
        ctx_fn!($linker, $get, $module, $imp::fd_close(fd: i32 => u32));
        ctx_fn!($linker, $get, $module, $imp::fd_datasync(fd: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_fdstat_get(fd: i32 => u32, buf: i32 => u32));
        ctx_fn!($linker, $get, $module, $imp::fd_fdstat_set_flags(fd: i32 => u32, flags: i32 => u32));
        ctx_fn!($linker, $get, $module, $imp::fd_fdstat_set_rights(fd: i32 => u32, base: i64 => u64, inheriting: i64 => u64));
        mem_fn!($linker, $get, $module, $imp::fd_filestat_get(fd: i32 => u32, buf: i32 => u32));
        ctx_fn!($linker, $get, $module, $imp::fd_filestat_set_size(fd: i32 => u32, size: i64 => u64));
        ctx_fn!($linker, $get, $module, $imp::fd_filestat_set_times(fd: i32 => u32, atim: i64 => u64, mtim: i64 => u64, flags: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_pread(fd: i32 => u32, iovs: i32 => u32, iovs_len: i32 => u32, offset: i64 => u64, nread: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_prestat_get(fd: i32 => u32, buf: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_prestat_dir_name(fd: i32 => u32, path: i32 => u32, path_len: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_pwrite(fd: i32 => u32, iovs: i32 => u32, iovs_len: i32 => u32, offset: i64 => u64, nwritten: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_read(fd: i32 => u32, iovs: i32 => u32, iovs_len: i32 => u32, nread: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_readdir(fd: i32 => u32, buf: i32 => u32, buf_len: i32 => u32, cookie: i64 => u64, bufused: i32 => u32));
        ctx_fn!($linker, $get, $module, $imp::fd_renumber(fd: i32 => u32, to: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_seek(fd: i32 => u32, offset: i64 => i64, whence: i32 => u32, newoffset: i32 => u32));
        ctx_fn!($linker, $get, $module, $imp::fd_sync(fd: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_tell(fd: i32 => u32, offset: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::fd_write(fd: i32 => u32, iovs: i32 => u32, iovs_len: i32 => u32, nwritten: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::path_create_directory(fd: i32 => u32, path: i32 => u32, path_len: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::path_filestat_get(fd: i32 => u32, flags: i32 => u32, path: i32 => u32, path_len: i32 => u32, buf: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::path_filestat_set_times(
            fd: i32 => u32, flags: i32 => u32, path: i32 => u32, path_len: i32 => u32,
            atim: i64 => u64, mtim: i64 => u64, fst_flags: i32 => u32
        ));
        mem_fn!($linker, $get, $module, $imp::path_link(
            old_fd: i32 => u32, old_flags: i32 => u32, old_path: i32 => u32, old_path_len: i32 => u32,
            new_fd: i32 => u32, new_path: i32 => u32, new_path_len: i32 => u32
        ));
        mem_fn!($linker, $get, $module, $imp::path_open(
            fd: i32 => u32, dirflags: i32 => u32, path: i32 => u32, path_len: i32 => u32, oflags: i32 => u32,
            base: i64 => u64, inheriting: i64 => u64, fdflags: i32 => u32, opened_fd: i32 => u32
        ));
        mem_fn!($linker, $get, $module, $imp::path_readlink(
            fd: i32 => u32, path: i32 => u32, path_len: i32 => u32, buf: i32 => u32, buf_len: i32 => u32, bufused: i32 => u32
        ));
        mem_fn!($linker, $get, $module, $imp::path_remove_directory(fd: i32 => u32, path: i32 => u32, path_len: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::path_rename(
            fd: i32 => u32, old_path: i32 => u32, old_path_len: i32 => u32,
            new_fd: i32 => u32, new_path: i32 => u32, new_path_len: i32 => u32
        ));
        mem_fn!($linker, $get, $module, $imp::path_symlink(
            old_path: i32 => u32, old_path_len: i32 => u32, fd: i32 => u32, new_path: i32 => u32, new_path_len: i32 => u32
        ));
        mem_fn!($linker, $get, $module, $imp::path_unlink_file(fd: i32 => u32, path: i32 => u32, path_len: i32 => u32));
        mem_fn!($linker, $get, $module, $imp::poll_oneoff(input: i32 => u32, output: i32 => u32, nsubscriptions: i32 => u32, nevents: i32 => u32));
        $linker.func_wrap($module, "proc_exit", move |code: i32| -> Result<()> { Err(Error::exit(code)) })?;
        $linker.func_wrap($module, "proc_raise", move |sig: i32| -> Result<i32> {
            match $imp::proc_raise(sig as u32) {
                Ok(Raise::Continue) => Ok(0),
                Ok(Raise::Terminate(status)) => Err(Error::exit(status)),
                Err(e) => Ok(i32::from(e.raw())),
            }
        })?;
        $linker.func_wrap($module, "sched_yield", move || -> Result<i32> { Ok(errno($imp::sched_yield())) })?;
        $linker.func_wrap($module, "random_get", move |mut c: Caller<'_, T>, buf: i32, len: i32| -> Result<i32> {
            with_mem(&mut c, &$get, |_, m| $imp::random_get(m, buf as u32, len as u32))
        })?;
        mem_fn!($linker, $get, $module, $imp::sock_recv(
            fd: i32 => u32, ri_data: i32 => u32, ri_data_len: i32 => u32, ri_flags: i32 => u32,
            ro_datalen: i32 => u32, ro_flags: i32 => u32
        ));
        mem_fn!($linker, $get, $module, $imp::sock_send(
            fd: i32 => u32, si_data: i32 => u32, si_data_len: i32 => u32, si_flags: i32 => u32, so_datalen: i32 => u32
        ));
        ctx_fn!($linker, $get, $module, $imp::sock_shutdown(fd: i32 => u32, how: i32 => u32));
    };
}

/// Defines every WASI function in `linker`: all of
/// `wasi_snapshot_preview1` ([`add_preview1_to_linker`]) and all of
/// `wasi_unstable` ([`add_preview0_to_linker`]), both over the same
/// [`WasiCtx`], so programs built for either (or importing both) link.
/// `get` finds the [`WasiCtx`] in the store's data (`|ctx| ctx` when the
/// data is the context itself, `|s: &mut MyState| &mut s.wasi` otherwise).
///
/// Every function has its witx signature lowered to core wasm (`i32` for
/// pointers, sizes, descriptors and flags, `i64` for 64-bit values) and
/// returns the errno as `i32`, except `proc_exit` (no result; it ends the
/// call with an exit error). Bad guest pointers give `EFAULT`; a calling
/// module without an exported `memory` gets a host error from the
/// functions that use memory.
///
/// # Errors
/// When one of the names is already defined in `linker` (and shadowing is
/// off).
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiCtx + Send + Sync + Copy + 'static,
) -> Result<()> {
    add_preview1_to_linker(linker, get)?;
    add_preview0_to_linker(linker, get)
}

/// Defines the 46 `wasi_snapshot_preview1` functions in `linker` (see
/// [`add_to_linker`], which also defines preview0).
///
/// # Errors
/// When one of the names is already defined in `linker` (and shadowing is
/// off).
pub fn add_preview1_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiCtx + Send + Sync + Copy + 'static,
) -> Result<()> {
    common_fns!(linker, get, MODULE, p);
    mem_fn!(linker, get, MODULE, p::sock_accept(fd: i32 => u32, flags: i32 => u32, ro_fd: i32 => u32));
    Ok(())
}

/// Defines the 45 `wasi_unstable` (preview0) functions in `linker`: the
/// preview1 implementation with preview0's `filestat`, `whence`,
/// `subscription` and rights (see [`preview0`]); there is no
/// `sock_accept`.
///
/// # Errors
/// When one of the names is already defined in `linker` (and shadowing is
/// off).
pub fn add_preview0_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiCtx + Send + Sync + Copy + 'static,
) -> Result<()> {
    common_fns!(linker, get, PREVIEW0_MODULE, p0);
    Ok(())
}
