//! WASI preview0 (`wasi_unstable`, the ABI of older toolchains) as a thin
//! translation layer over the preview1 implementation.
//!
//! Sources: the WebAssembly/WASI repository's
//! `legacy/preview0/witx/typenames.witx` and `wasi_unstable.witx`, compared
//! with `legacy/preview1/witx/typenames.witx` and
//! `wasi_snapshot_preview1.witx`. Every function of this module has the same
//! name, core signature and semantics as in preview1 except for what the
//! type definitions change, which is only this:
//!
//! * `linkcount` is `u32` (preview1: `u64`), so `filestat` is 56 bytes:
//!   dev u64 @0, ino u64 @8, filetype u8 @16, nlink u32 @20, size u64 @24,
//!   atim u64 @32, mtim u64 @40, ctim u64 @48 (preview1: 64 bytes, nlink
//!   u64 @24 and everything after it 8 bytes later). Used by
//!   [`fd_filestat_get`] and [`path_filestat_get`]; a link count above
//!   `u32::MAX` is reported as `u32::MAX`.
//! * `whence` is `cur = 0, end = 1, set = 2` (preview1: `set = 0, cur = 1,
//!   end = 2`), for [`fd_seek`].
//! * `subscription_clock` starts with `identifier: userdata` (u64), so a
//!   `subscription` is 56 bytes: userdata u64 @0, tag u8 @8, then for
//!   `clock` identifier u64 @16, id u32 @24, timeout u64 @32, precision u64
//!   @40, flags u16 @48, and for `fd_read`/`fd_write` file_descriptor u32
//!   @16 (preview1: 48 bytes, id @16, timeout @24, precision @32, flags
//!   @40). The identifier is not used for anything (as in Wasmtime). The
//!   `event` is the same 32 bytes in both (userdata u64 @0, error u16 @8,
//!   type u8 @10, fd_readwrite.nbytes u64 @16, fd_readwrite.flags u16 @24),
//!   so [`poll_oneoff`] only reads its input differently.
//! * `rights` ends at `sock_shutdown` (bit 28): there is no `sock_accept`
//!   right and no `sock_accept` function. [`fd_fdstat_get`] reports only
//!   the preview0 rights; [`fd_fdstat_set_rights`] refuses bits outside them
//!   (`ENOTCAPABLE`, as preview1 does for rights a descriptor lacks) and
//!   leaves a descriptor's `sock_accept` right as it was, so a module that
//!   also imports preview1 keeps it.
//!
//! Everything else is identical and re-exported from
//! [`super::preview1`]: errno values, clock ids, `filetype`, `fdflags`,
//! `oflags`, `lookupflags`, `fstflags`, `advice`, `signal`, `fdstat`,
//! `prestat` and `dirent` layouts, `iovec`s, and every other function's
//! parameters (so `path_open` with preview0 rights behaves as in
//! preview1: rights that do not apply to the opened file are not granted,
//! and `sock_accept` never applies to a path).

use super::abi::{Errno, Filestat, WasiResult, whence as whence1};
use super::ctx::WasiCtx;
use super::mem::GuestMemory;
use super::poll::{Subscription, poll_oneoff_with};

pub use super::preview1::{
    args_get, args_sizes_get, clock_res_get, clock_time_get, environ_get, environ_sizes_get, fd_advise, fd_allocate,
    fd_close, fd_datasync, fd_fdstat_set_flags, fd_filestat_set_size, fd_filestat_set_times, fd_pread,
    fd_prestat_dir_name, fd_prestat_get, fd_pwrite, fd_read, fd_readdir, fd_renumber, fd_sync, fd_tell, fd_write,
    path_create_directory, path_filestat_set_times, path_link, path_open, path_readlink, path_remove_directory,
    path_rename, path_symlink, path_unlink_file, proc_raise, random_get, sched_yield, sock_recv, sock_send,
    sock_shutdown,
};

/// The import module name of WASI preview0.
pub const MODULE: &str = "wasi_unstable";

/// Every `wasi_unstable` function (all of preview1's but `sock_accept`),
/// `proc_exit` included: what a linker has to define.
pub const FUNCTIONS: [&str; 45] = [
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// preview0 `whence` (u8).
pub mod whence {
    pub const CUR: u8 = 0;
    pub const END: u8 = 1;
    pub const SET: u8 = 2;
}

/// Every right preview0 defines (`fd_datasync` = bit 0 to `sock_shutdown`
/// = bit 28; the bits are numbered as in preview1).
pub const RIGHTS_ALL: u64 = (1 << 29) - 1;

/// preview0 `filestat`: dev u64 @0, ino u64 @8, filetype u8 @16, nlink
/// u32 @20, size u64 @24, atim u64 @32, mtim u64 @40, ctim u64 @48.
pub const FILESTAT_SIZE: u32 = 56;

/// preview0 `subscription`: userdata u64 @0, tag u8 @8, then at 16 either
/// `subscription_clock` (identifier u64 @16, id u32 @24, timeout u64 @32,
/// precision u64 @40, flags u16 @48) or `subscription_fd_readwrite`
/// (file_descriptor u32 @16).
pub const SUBSCRIPTION_SIZE: u32 = 56;

/// The 56-byte preview0 encoding of a (preview1) [`Filestat`]; the link
/// count saturates at `u32::MAX`.
pub fn encode_filestat(st: &Filestat) -> [u8; FILESTAT_SIZE as usize] {
    let mut b = [0u8; FILESTAT_SIZE as usize];
    b[0..8].copy_from_slice(&st.dev.to_le_bytes());
    b[8..16].copy_from_slice(&st.ino.to_le_bytes());
    b[16] = st.filetype;
    b[20..24].copy_from_slice(&u32::try_from(st.nlink).unwrap_or(u32::MAX).to_le_bytes());
    b[24..32].copy_from_slice(&st.size.to_le_bytes());
    b[32..40].copy_from_slice(&st.atim.to_le_bytes());
    b[40..48].copy_from_slice(&st.mtim.to_le_bytes());
    b[48..56].copy_from_slice(&st.ctim.to_le_bytes());
    b
}

/// The preview1 `whence` of a preview0 one. Values that are invalid in
/// preview0 (3 and up) are passed on unchanged: they are invalid in
/// preview1 too, so `fd_seek` rejects them (`EINVAL`) at the same point
/// of its checks as preview1 does.
pub fn whence_to_preview1(w: u32) -> u32 {
    match u8::try_from(w) {
        Ok(whence::CUR) => u32::from(whence1::CUR),
        Ok(whence::END) => u32::from(whence1::END),
        Ok(whence::SET) => u32::from(whence1::SET),
        _ => w,
    }
}

/// Decodes the 56-byte preview0 `subscription` at `at` (layout in
/// [`SUBSCRIPTION_SIZE`]); the clock's `identifier` is skipped. `EINVAL`
/// for an unknown tag.
pub(crate) fn decode_subscription(mem: &GuestMemory<'_>, at: u32) -> WasiResult<Subscription> {
    super::poll::decode_subscription_with_clock_at(mem, at, 24)
}

/// `fd_fdstat_get(fd, buf)`: as preview1's (the `fdstat` layout is the
/// same 24 bytes), with the rights limited to [`RIGHTS_ALL`].
pub fn fd_fdstat_get(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, buf: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(buf, super::abi::FDSTAT_SIZE)?;
    let mut st = super::fd::fdstat(ctx, fd)?;
    st.rights_base &= RIGHTS_ALL;
    st.rights_inheriting &= RIGHTS_ALL;
    mem.write(buf, &st.encode())
}

/// `fd_fdstat_set_rights(fd, base: u64, inheriting: u64)`: as preview1's
/// for the preview0 rights; bits outside [`RIGHTS_ALL`] give
/// `ENOTCAPABLE`, and the descriptor's rights outside them (`sock_accept`)
/// are kept.
pub fn fd_fdstat_set_rights(ctx: &mut WasiCtx, fd: u32, base: u64, inheriting: u64) -> WasiResult<()> {
    let e = ctx.table.get_ref(fd)?;
    let (keep_base, keep_inheriting) = (e.base & !RIGHTS_ALL, e.inheriting & !RIGHTS_ALL);
    if (base | inheriting) & !RIGHTS_ALL != 0 {
        return Err(Errno::Notcapable);
    }
    super::fd::fd_fdstat_set_rights(ctx, fd, base | keep_base, inheriting | keep_inheriting)
}

/// `fd_filestat_get(fd, buf)`: as preview1's, writing the 56-byte preview0
/// `filestat` ([`encode_filestat`]).
pub fn fd_filestat_get(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, buf: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(buf, FILESTAT_SIZE)?;
    let st = super::fd::filestat(ctx, fd)?;
    mem.write(buf, &encode_filestat(&st))
}

/// `path_filestat_get(fd, flags, path, path_len, buf)`: as preview1's,
/// writing the 56-byte preview0 `filestat` ([`encode_filestat`]).
pub fn path_filestat_get(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    buf: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(buf, FILESTAT_SIZE)?;
    let st = super::path::path_filestat(ctx, &mem, fd, flags, path, path_len)?;
    mem.write(buf, &encode_filestat(&st))
}

/// `fd_seek(fd, offset: i64, whence, newoffset)`: preview1's with the
/// preview0 `whence` numbering ([`whence_to_preview1`]).
pub fn fd_seek(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, offset: i64, wh: u32, newoffset: u32) -> WasiResult<()> {
    super::fd::fd_seek(ctx, mem, fd, offset, whence_to_preview1(wh), newoffset)
}

/// `poll_oneoff(in, out, nsubscriptions, nevents)`: preview1's over the
/// 56-byte preview0 subscriptions ([`SUBSCRIPTION_SIZE`]); the 32-byte
/// events are written as in preview1.
pub fn poll_oneoff(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    input: u32,
    output: u32,
    nsubscriptions: u32,
    nevents: u32,
) -> WasiResult<()> {
    poll_oneoff_with(ctx, mem, input, output, nsubscriptions, nevents, SUBSCRIPTION_SIZE, decode_subscription)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::abi::{self, event, filetype, oflags, rights};
    use crate::wasi::poll::SubscriptionKind;
    use crate::wasi::{WasiCtxBuilder, preview1 as p1};
    use std::net::TcpListener;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }
    fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put_u64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// A preview0 clock subscription as the witx lays it out.
    fn clock_sub(userdata: u64, identifier: u64, id: u32, timeout: u64, flags: u16) -> [u8; 56] {
        let mut b = [0u8; 56];
        put_u64(&mut b, 0, userdata);
        b[8] = event::CLOCK;
        put_u64(&mut b, 16, identifier);
        put_u32(&mut b, 24, id);
        put_u64(&mut b, 32, timeout);
        put_u64(&mut b, 40, 1_000); // precision
        b[48..50].copy_from_slice(&flags.to_le_bytes());
        b
    }

    #[test]
    fn filestat_layout() {
        let st = Filestat { dev: 1, ino: 2, filetype: 3, nlink: 4, size: 5, atim: 6, mtim: 7, ctim: 8 };
        let b = encode_filestat(&st);
        assert_eq!(b.len(), 56);
        assert_eq!((u64_at(&b, 0), u64_at(&b, 8), b[16], u32_at(&b, 20)), (1, 2, 3, 4));
        assert_eq!((u64_at(&b, 24), u64_at(&b, 32), u64_at(&b, 40), u64_at(&b, 48)), (5, 6, 7, 8));
        assert_eq!(&b[17..20], [0, 0, 0], "padding after filetype");
        // preview1's is 64 bytes with nlink as u64 at 24.
        assert_eq!(abi::FILESTAT_SIZE, 64);
        assert_eq!(u64_at(&st.encode(), 24), 4);
        let big = Filestat { nlink: u64::from(u32::MAX) + 7, ..st };
        assert_eq!(u32_at(&encode_filestat(&big), 20), u32::MAX, "saturates");
    }

    #[test]
    fn whence_mapping() {
        assert_eq!(whence_to_preview1(u32::from(whence::CUR)), u32::from(abi::whence::CUR));
        assert_eq!(whence_to_preview1(u32::from(whence::END)), u32::from(abi::whence::END));
        assert_eq!(whence_to_preview1(u32::from(whence::SET)), u32::from(abi::whence::SET));
        assert_eq!([whence::CUR, whence::END, whence::SET], [0, 1, 2]);
        assert_eq!([abi::whence::SET, abi::whence::CUR, abi::whence::END], [0, 1, 2]);
        for bad in [3, 255, 256, u32::MAX] {
            assert_eq!(whence_to_preview1(bad), bad, "stays invalid");
        }
    }

    #[test]
    fn subscription_decoding() {
        let mut data = vec![0u8; 256];
        data[..56].copy_from_slice(&clock_sub(0x1122, 0xdead, 1, 5_000, 1));
        // fd_write on 7 at 56, and an unknown tag at 112.
        put_u64(&mut data, 56, 9);
        data[56 + 8] = event::FD_WRITE;
        put_u32(&mut data, 56 + 16, 7);
        data[112 + 8] = 3;
        let m = GuestMemory::new(&mut data);
        assert_eq!(
            decode_subscription(&m, 0),
            Ok(Subscription { userdata: 0x1122, kind: SubscriptionKind::Clock { id: 1, timeout: 5_000, flags: 1 } })
        );
        assert_eq!(
            decode_subscription(&m, 56),
            Ok(Subscription { userdata: 9, kind: SubscriptionKind::Fd { fd: 7, write: true } })
        );
        assert_eq!(decode_subscription(&m, 112), Err(Errno::Inval));
        assert_eq!(decode_subscription(&m, 250), Err(Errno::Fault));
        assert_eq!(decode_subscription(&m, u32::MAX - 3), Err(Errno::Fault));
        // The same bytes read as preview1: its clock id is preview0's
        // identifier, its timeout preview0's id, its flags the low bits of
        // preview0's precision.
        let p1 = crate::wasi::poll::decode_subscription(&m, 0).unwrap();
        assert_eq!(p1.kind, SubscriptionKind::Clock { id: 0xdead, timeout: 1, flags: 1_000 });
    }

    #[test]
    fn poll_oneoff_reports_userdata_and_type() {
        let mut ctx = WasiCtxBuilder::new().stdin_bytes("abc").build();
        let mut mem = vec![0xeeu8; 1024];
        // A relative monotonic 1 ms clock, and fd_read on stdin (ready).
        mem[0..56].copy_from_slice(&clock_sub(0xabcd, 0x5555, abi::clockid::MONOTONIC, 1_000_000, 0));
        mem[56..112].fill(0);
        put_u64(&mut mem, 56, 42);
        mem[56 + 8] = event::FD_READ;
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 0, 512, 2, 1000), Ok(()));
        assert_eq!(u32_at(&mem, 1000), 1, "only stdin is ready at once");
        assert_eq!((u64_at(&mem, 512), u16::from_le_bytes([mem[520], mem[521]]), mem[522]), (42, 0, event::FD_READ));
        assert_eq!(u64_at(&mem, 512 + 16), 3, "nbytes");
        // The clock alone: its userdata (not the identifier) comes back.
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 0, 512, 1, 1000), Ok(()));
        assert_eq!(u32_at(&mem, 1000), 1);
        assert_eq!((u64_at(&mem, 512), u16::from_le_bytes([mem[520], mem[521]]), mem[522]), (0xabcd, 0, event::CLOCK));
        // An absolute realtime deadline in the past fires at once; a
        // CPU-time clock gives an event with EINVAL.
        mem[0..56].copy_from_slice(&clock_sub(1, 0, abi::clockid::REALTIME, 1, event::SUBSCRIPTION_CLOCK_ABSTIME));
        mem[56..112].copy_from_slice(&clock_sub(2, 0, abi::clockid::PROCESS_CPUTIME_ID, 0, 0));
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 0, 512, 2, 1000), Ok(()));
        assert_eq!(u32_at(&mem, 1000), 2);
        assert_eq!((u64_at(&mem, 512), mem[522]), (1, event::CLOCK));
        assert_eq!((u64_at(&mem, 544), u16::from_le_bytes([mem[552], mem[553]])), (2, Errno::Inval.raw()));
        // Errors of the call itself.
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 0, 512, 0, 1000), Err(Errno::Inval));
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 1024 - 56 * 2 + 1, 0, 2, 1000), Err(Errno::Fault));
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 0, 1024 - 31, 1, 1000), Err(Errno::Fault));
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 0, 512, u32::MAX, 1000), Err(Errno::Fault));
        mem[8] = 9;
        assert_eq!(poll_oneoff(&mut ctx, &mut mem, 0, 512, 1, 1000), Err(Errno::Inval), "unknown tag");
    }

    #[test]
    fn seek_and_filestat_through_the_functions() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ctx = WasiCtxBuilder::new().preopened_dir(tmp.path(), ".").unwrap().build();
        let mut mem = vec![0u8; 4096];
        mem[0..5].copy_from_slice(b"f.txt");
        let base = rights::FD_READ | rights::FD_WRITE | rights::FD_SEEK | rights::FD_TELL | rights::FD_FILESTAT_GET;
        let r = path_open(&mut ctx, &mut mem, 3, 0, 0, 5, oflags::CREAT.into(), base, 0, 0, 16);
        assert_eq!(r, Ok(()));
        let fd = u32_at(&mem, 16);
        mem[100..110].copy_from_slice(b"0123456789");
        put_u32(&mut mem, 32, 100);
        put_u32(&mut mem, 36, 10);
        assert_eq!(fd_write(&mut ctx, &mut mem, fd, 32, 1, 40), Ok(()));
        let mut seek = |offset: i64, wh: u8| {
            fd_seek(&mut ctx, &mut mem, fd, offset, wh.into(), 48)?;
            Ok::<u64, Errno>(u64_at(&mem, 48))
        };
        assert_eq!(seek(3, whence::SET), Ok(3));
        assert_eq!(seek(2, whence::CUR), Ok(5));
        assert_eq!(seek(-1, whence::END), Ok(9));
        assert_eq!(seek(0, whence::CUR), Ok(9));
        assert_eq!(seek(0, 3), Err(Errno::Inval));
        assert_eq!(seek(-1, whence::SET), Err(Errno::Inval));
        assert_eq!(fd_seek(&mut ctx, &mut mem, fd, 0, 0, 4090), Err(Errno::Fault));

        // fd_filestat_get writes 56 bytes, with nlink as u32 at 20.
        mem[200..300].fill(0xaa);
        assert_eq!(fd_filestat_get(&mut ctx, &mut mem, fd, 200), Ok(()));
        assert_eq!((mem[216], u32_at(&mem, 220), u64_at(&mem, 224)), (filetype::REGULAR_FILE, 1, 10));
        assert!(u64_at(&mem, 240) > 0, "mtim");
        assert_eq!(mem[256], 0xaa, "nothing written past 56 bytes");
        // A 56-byte buffer at the very end is fine (preview1 needs 64).
        assert_eq!(fd_filestat_get(&mut ctx, &mut mem, fd, 4096 - 56), Ok(()));
        assert_eq!(p1::fd_filestat_get(&mut ctx, &mut mem, fd, 4096 - 56), Err(Errno::Fault));
        assert_eq!(fd_filestat_get(&mut ctx, &mut mem, fd, 4096 - 55), Err(Errno::Fault));
        assert_eq!(fd_filestat_get(&mut ctx, &mut mem, 99, 200), Err(Errno::Badf));

        // path_filestat_get: the same layout; the directory itself too.
        mem[200..300].fill(0xaa);
        assert_eq!(path_filestat_get(&mut ctx, &mut mem, 3, 0, 0, 5, 200), Ok(()));
        assert_eq!((mem[216], u32_at(&mem, 220), u64_at(&mem, 224)), (filetype::REGULAR_FILE, 1, 10));
        assert_eq!(mem[256], 0xaa);
        mem[0] = b'.';
        assert_eq!(path_filestat_get(&mut ctx, &mut mem, 3, 0, 0, 1, 200), Ok(()));
        assert_eq!(mem[216], filetype::DIRECTORY);
        assert!(u32_at(&mem, 220) >= 1);
        assert_eq!(path_filestat_get(&mut ctx, &mut mem, 3, 2, 0, 1, 200), Err(Errno::Inval), "lookupflags");
        mem[0] = b'n';
        assert_eq!(path_filestat_get(&mut ctx, &mut mem, 3, 0, 0, 1, 200), Err(Errno::Noent));
        assert_eq!(path_filestat_get(&mut ctx, &mut mem, fd, 0, 0, 1, 200), Err(Errno::Notdir));
    }

    #[test]
    fn rights_without_sock_accept() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut ctx = WasiCtxBuilder::new().preopened_socket(listener).build();
        let mut mem = vec![0u8; 64];
        let sock = 3;
        assert_eq!(p1::fd_fdstat_get(&mut ctx, &mut mem, sock, 0), Ok(()));
        assert_eq!(u64_at(&mem, 8), rights::LISTENER_BASE);
        assert_eq!(fd_fdstat_get(&mut ctx, &mut mem, sock, 0), Ok(()));
        assert_eq!(u64_at(&mem, 8), rights::LISTENER_BASE & !rights::SOCK_ACCEPT);
        assert_eq!(RIGHTS_ALL, rights::ALL & !rights::SOCK_ACCEPT);
        assert_eq!(RIGHTS_ALL.count_ones(), 29);
        // Bit 29 is no preview0 right.
        assert_eq!(fd_fdstat_set_rights(&mut ctx, sock, rights::SOCK_ACCEPT, 0), Err(Errno::Notcapable));
        assert_eq!(fd_fdstat_set_rights(&mut ctx, 9, 0, 0), Err(Errno::Badf));
        // Narrowing from preview0 keeps sock_accept for preview1.
        assert_eq!(fd_fdstat_set_rights(&mut ctx, sock, rights::FD_FILESTAT_GET, 0), Ok(()));
        assert_eq!(p1::fd_fdstat_get(&mut ctx, &mut mem, sock, 0), Ok(()));
        assert_eq!(u64_at(&mem, 8), rights::FD_FILESTAT_GET | rights::SOCK_ACCEPT);
        assert_eq!(fd_fdstat_set_rights(&mut ctx, sock, rights::FD_READ, 0), Err(Errno::Notcapable));
        assert_eq!(fd_fdstat_get(&mut ctx, &mut mem, sock, 60), Err(Errno::Fault));
    }

    #[test]
    fn the_function_list_is_preview1_without_sock_accept() {
        let mut names = FUNCTIONS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 45);
        assert!(!names.contains(&"sock_accept"));
        assert!(names.contains(&"proc_exit") && names.contains(&"fd_seek") && names.contains(&"poll_oneoff"));
    }
}
