//! WASI preview1 (`wasi_snapshot_preview1`) as plain Rust over a
//! [`WasiCtx`] and a guest's linear memory, and preview0
//! (`wasi_unstable`) as a translation layer over it.
//!
//! Every function of the preview1 witx is in [`preview1`], named as in the
//! spec, taking `(ctx, memory, params...)` and returning
//! `Result<_, Errno>`; [`preview0`] has every `wasi_unstable` function the
//! same way (re-exported where the two agree, translated where their types
//! differ). The `kiln` crate's `kiln::wasi::add_to_linker` registers both
//! as host functions (so they run unchanged from every tier). This module
//! has no notion of a linker or a store.
//!
//! * [`ctx`]: [`WasiCtx`], [`WasiCtxBuilder`], [`MemoryOutputPipe`].
//! * [`abi`]: [`Errno`] and the preview1 constants and struct layouts.
//! * [`mem`]: bounds-checked guest memory access (bad pointers are
//!   `EFAULT`, never a host fault).
//! * [`fd`], [`path`], [`poll`], [`proc`], [`sock`]: the functions.
//! * [`preview0`]: the `wasi_unstable` differences (`filestat`, `whence`,
//!   `subscription`, rights).
//!
//! Files are reached only through preopened directories, resolved with
//! cap-std so nothing outside them is reachable; descriptor rights are
//! enforced (`ENOTCAPABLE`).

pub mod abi;
pub mod ctx;
pub mod fd;
pub mod mem;
pub mod path;
pub mod poll;
pub mod preview0;
pub mod proc;
pub mod sock;

#[cfg(test)]
mod tests;

pub use abi::{Errno, WasiResult};
pub use ctx::{MemoryOutputPipe, WasiCtx, WasiCtxBuilder};
pub use mem::GuestMemory;
pub use proc::Raise;

/// Every preview1 function (except `proc_exit`, which is only an exit
/// request and belongs to the embedder), by its spec name.
pub mod preview1 {
    pub use super::fd::{
        fd_advise, fd_allocate, fd_close, fd_datasync, fd_fdstat_get, fd_fdstat_set_flags, fd_fdstat_set_rights,
        fd_filestat_get, fd_filestat_set_size, fd_filestat_set_times, fd_pread, fd_prestat_dir_name, fd_prestat_get,
        fd_pwrite, fd_read, fd_readdir, fd_renumber, fd_seek, fd_sync, fd_tell, fd_write,
    };
    pub use super::path::{
        path_create_directory, path_filestat_get, path_filestat_set_times, path_link, path_open, path_readlink,
        path_remove_directory, path_rename, path_symlink, path_unlink_file,
    };
    pub use super::poll::{clock_res_get, clock_time_get, poll_oneoff};
    pub use super::proc::{
        args_get, args_sizes_get, environ_get, environ_sizes_get, proc_raise, random_get, sched_yield,
    };
    pub use super::sock::{sock_accept, sock_recv, sock_send, sock_shutdown};
}
