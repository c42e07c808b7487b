//! The `fd_*` functions of `wasi_snapshot_preview1`.
//!
//! Each takes the context, the guest's memory and the function's
//! parameters as the witx declares them (pointers and `u32`s as `u32`,
//! 64-bit values as `u64`/`i64`), writes results through the guest
//! pointers, and returns `Ok(())` or the errno. Order of checks: result
//! pointers and iovecs (`EFAULT`), the descriptor (`EBADF`), a directory
//! where a file is needed and vice versa, the rights (`ENOTCAPABLE`), then
//! the host operation, whose error is mapped by [`Errno::from_io`].

use super::abi::{
    Errno, FDSTAT_SIZE, FILESTAT_SIZE, Fdstat, Filestat, PRESTAT_SIZE, WasiResult, advice, encode_dirent, fdflags,
    filetype, fstflags, preopentype, rights, whence,
};
use super::ctx::{DirSnapEntry, Entry, Input, Kind, Output, WasiCtx, filetype_of};
use super::mem::{GuestMemory, Iovec, iov_total, single_iov};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;

/// Retries `f` while it fails with `EINTR`.
pub(crate) fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Reads into `iovs`: straight into guest memory for one buffer, through a
/// host buffer (one host read, then scattered) for several.
pub(crate) fn read_iovs(
    mem: &mut GuestMemory<'_>,
    iovs: &[Iovec],
    mut f: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> WasiResult<usize> {
    if let Some(v) = single_iov(iovs) {
        let dst = mem.slice_mut(v.ptr, v.len)?;
        return Ok(retry(|| f(dst))?);
    }
    let total = iov_total(iovs);
    if total == 0 {
        return Ok(0);
    }
    let mut tmp = vec![0u8; total];
    let n = retry(|| f(&mut tmp))?;
    mem.scatter(iovs, &tmp[..n.min(total)])
}

/// Writes the bytes of `iovs` with one host write.
pub(crate) fn write_iovs(
    mem: &GuestMemory<'_>,
    iovs: &[Iovec],
    mut f: impl FnMut(&[u8]) -> io::Result<usize>,
) -> WasiResult<usize> {
    if let Some(v) = single_iov(iovs) {
        let src = mem.slice(v.ptr, v.len)?;
        return Ok(retry(|| f(src))?);
    }
    let data = mem.gather(iovs)?;
    if data.is_empty() {
        return Ok(0);
    }
    Ok(retry(|| f(&data))?)
}

/// Whether a host descriptor is readable (or writable) right now.
pub(crate) fn host_ready(fd: BorrowedFd<'_>, write: bool) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let events = if write { PollFlags::OUT } else { PollFlags::IN };
    let mut fds = [PollFd::from_borrowed_fd(fd, events)];
    let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

fn read_input(input: &mut Input, nonblock: bool, buf: &mut [u8]) -> io::Result<usize> {
    match input {
        Input::Bytes { data, pos } => {
            let rest = data.get(*pos..).unwrap_or(&[]);
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            *pos += n;
            Ok(n)
        }
        Input::Inherit(stdin) => {
            if nonblock && !host_ready(stdin.as_fd(), false) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(rustix::io::read(stdin.as_fd(), buf)?)
        }
        Input::Reader(r) => r.read(buf),
    }
}

fn write_output(out: &mut Output, data: &[u8]) -> io::Result<usize> {
    match out {
        Output::Discard => {}
        Output::Stdout(s) => {
            let mut s = s.lock();
            s.write_all(data)?;
            s.flush()?;
        }
        Output::Stderr(s) => {
            let mut s = s.lock();
            s.write_all(data)?;
            s.flush()?;
        }
        Output::Writer(w) => {
            w.write_all(data)?;
            w.flush()?;
        }
    }
    Ok(data.len())
}

/// `O_SYNC`/`O_DSYNC` emulation: flush a file after a write.
fn sync_after_write(e: &Entry) -> WasiResult<()> {
    if let Kind::File(f) = &e.kind {
        if e.flags & fdflags::SYNC != 0 {
            f.sync_all()?;
        } else if e.flags & fdflags::DSYNC != 0 {
            f.sync_data()?;
        }
    }
    Ok(())
}

/// Nanoseconds since the epoch of `(seconds, nanoseconds)`, clamped to
/// `[0, u64::MAX]`.
pub(crate) fn timestamp(secs: i64, nsecs: i64) -> u64 {
    let ns = i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
    u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
}

/// The `filestat` of a host descriptor.
pub(crate) fn fd_stat(fd: BorrowedFd<'_>, ft: Option<u8>) -> WasiResult<Filestat> {
    let st = rustix::fs::fstat(fd)?;
    let host_ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
    use rustix::fs::FileType as F;
    let filetype = ft.unwrap_or(match host_ft {
        F::RegularFile => filetype::REGULAR_FILE,
        F::Directory => filetype::DIRECTORY,
        F::Symlink => filetype::SYMBOLIC_LINK,
        F::CharacterDevice => filetype::CHARACTER_DEVICE,
        F::BlockDevice => filetype::BLOCK_DEVICE,
        F::Socket => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    });
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Ok(Filestat {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        filetype,
        nlink: st.st_nlink as u64,
        size: u64::try_from(st.st_size).unwrap_or(0),
        atim: timestamp(st.st_atime as i64, st.st_atime_nsec as i64),
        mtim: timestamp(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctim: timestamp(st.st_ctime as i64, st.st_ctime_nsec as i64),
    })
}

/// `fd_advise(fd, offset: u64, len: u64, advice: u8)`: advisory, needs
/// `FD_ADVISE`. Streams give `ESPIPE`.
pub fn fd_advise(ctx: &mut WasiCtx, fd: u32, offset: u64, len: u64, adv: u32) -> WasiResult<()> {
    use rustix::fs::Advice;
    let a = match u8::try_from(adv).map_err(|_| Errno::Inval)? {
        advice::NORMAL => Advice::Normal,
        advice::SEQUENTIAL => Advice::Sequential,
        advice::RANDOM => Advice::Random,
        advice::WILLNEED => Advice::WillNeed,
        advice::DONTNEED => Advice::DontNeed,
        advice::NOREUSE => Advice::NoReuse,
        _ => return Err(Errno::Inval),
    };
    let e = ctx.table.get(fd)?;
    e.require(rights::FD_ADVISE)?;
    match &e.kind {
        Kind::File(f) => Ok(rustix::fs::fadvise(f, offset, NonZeroU64::new(len), a)?),
        Kind::Dir(_) => Ok(()),
        _ => Err(Errno::Spipe),
    }
}

/// `fd_allocate(fd, offset: u64, len: u64)`: makes the file at least
/// `offset + len` bytes long (`posix_fallocate`; where the filesystem
/// cannot preallocate, the size is extended instead). Needs
/// `FD_ALLOCATE`; `EFBIG` when the end overflows.
pub fn fd_allocate(ctx: &mut WasiCtx, fd: u32, offset: u64, len: u64) -> WasiResult<()> {
    let e = ctx.table.get(fd)?;
    e.require(rights::FD_ALLOCATE)?;
    let f = match &e.kind {
        Kind::File(f) => f,
        Kind::Dir(_) => return Err(Errno::Isdir),
        _ => return Err(Errno::Spipe),
    };
    let end = offset.checked_add(len).filter(|&e| e <= i64::MAX as u64).ok_or(Errno::Fbig)?;
    if len == 0 {
        return Err(Errno::Inval);
    }
    match rustix::fs::fallocate(f, rustix::fs::FallocateFlags::empty(), offset, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
            if f.metadata()?.len() < end {
                f.set_len(end)?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `fd_close(fd)`: removes the descriptor (`EBADF` when there is none).
pub fn fd_close(ctx: &mut WasiCtx, fd: u32) -> WasiResult<()> {
    ctx.table.remove(fd).map(drop)
}

fn sync(ctx: &mut WasiCtx, fd: u32, right: u64, data_only: bool) -> WasiResult<()> {
    let e = ctx.table.get(fd)?;
    e.require(right)?;
    match &mut e.kind {
        Kind::File(_) | Kind::Dir(_) => {
            let Some(h) = e.host_fd() else { return Err(Errno::Badf) };
            if data_only {
                rustix::fs::fdatasync(h)?;
            } else {
                rustix::fs::fsync(h)?;
            }
            Ok(())
        }
        Kind::Stdout(out) => {
            match out {
                Output::Discard => {}
                Output::Stdout(s) => s.flush()?,
                Output::Stderr(s) => s.flush()?,
                Output::Writer(w) => w.flush()?,
            }
            Ok(())
        }
        _ => Err(Errno::Inval),
    }
}

/// `fd_datasync(fd)`: `fdatasync`; needs `FD_DATASYNC`. On stdout/stderr
/// it flushes the sink; `EINVAL` for other streams.
pub fn fd_datasync(ctx: &mut WasiCtx, fd: u32) -> WasiResult<()> {
    sync(ctx, fd, rights::FD_DATASYNC, true)
}

/// `fd_sync(fd)`: `fsync`; needs `FD_SYNC`. As [`fd_datasync`] otherwise.
pub fn fd_sync(ctx: &mut WasiCtx, fd: u32) -> WasiResult<()> {
    sync(ctx, fd, rights::FD_SYNC, false)
}

/// `fd_fdstat_get(fd, buf)`: writes the 24-byte `fdstat` (file type,
/// `fdflags`, base and inheriting rights) to `buf`.
pub fn fd_fdstat_get(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, buf: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(buf, FDSTAT_SIZE)?;
    mem.write(buf, &fdstat(ctx, fd)?.encode())
}

/// The [`Fdstat`] of `fd` (the body of [`fd_fdstat_get`], shared with
/// preview0, which encodes it with fewer rights).
pub(crate) fn fdstat(ctx: &WasiCtx, fd: u32) -> WasiResult<Fdstat> {
    let e = ctx.table.get_ref(fd)?;
    Ok(Fdstat { filetype: e.filetype(), flags: e.flags, rights_base: e.base, rights_inheriting: e.inheriting })
}

/// `fd_fdstat_set_flags(fd, flags: u16)`: sets `fdflags`; needs
/// `FD_FDSTAT_SET_FLAGS`. `APPEND` and `NONBLOCK` change the host
/// descriptor (for sockets, `NONBLOCK` makes accept/recv/send return
/// `EAGAIN`; for inherited stdin it is emulated with a poll so the host's
/// stdin is left alone); `SYNC`/`DSYNC`/`RSYNC` are emulated by syncing
/// after every write. Unknown bits give `EINVAL`.
pub fn fd_fdstat_set_flags(ctx: &mut WasiCtx, fd: u32, flags: u32) -> WasiResult<()> {
    let flags = u16::try_from(flags).ok().filter(|f| f & !fdflags::ALL == 0).ok_or(Errno::Inval)?;
    let e = ctx.table.get(fd)?;
    e.require(rights::FD_FDSTAT_SET_FLAGS)?;
    let nonblock = flags & fdflags::NONBLOCK != 0;
    match &e.kind {
        Kind::File(f) => {
            use rustix::fs::OFlags;
            let mut fl = rustix::fs::fcntl_getfl(f)?;
            fl.set(OFlags::APPEND, flags & fdflags::APPEND != 0);
            fl.set(OFlags::NONBLOCK, nonblock);
            rustix::fs::fcntl_setfl(f, fl)?;
        }
        Kind::Stream(s) => s.set_nonblocking(nonblock)?,
        Kind::Listener(l) => l.set_nonblocking(nonblock)?,
        Kind::Dir(_) | Kind::Stdin(_) | Kind::Stdout(_) => {}
    }
    e.flags = flags;
    Ok(())
}

/// `fd_fdstat_set_rights(fd, base: u64, inheriting: u64)`: narrows the
/// rights; asking for any right the descriptor lacks gives `ENOTCAPABLE`.
pub fn fd_fdstat_set_rights(ctx: &mut WasiCtx, fd: u32, base: u64, inheriting: u64) -> WasiResult<()> {
    let e = ctx.table.get(fd)?;
    if base & !e.base != 0 || inheriting & !e.inheriting != 0 {
        return Err(Errno::Notcapable);
    }
    e.base = base;
    e.inheriting = inheriting;
    Ok(())
}

/// `fd_filestat_get(fd, buf)`: writes the 64-byte `filestat` of the open
/// file to `buf`; needs `FD_FILESTAT_GET`. In-memory stdio reports only
/// its file type.
pub fn fd_filestat_get(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, buf: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(buf, FILESTAT_SIZE)?;
    mem.write(buf, &filestat(ctx, fd)?.encode())
}

/// The [`Filestat`] of `fd` after the rights check (the body of
/// [`fd_filestat_get`], shared with preview0's 56-byte encoding).
pub(crate) fn filestat(ctx: &WasiCtx, fd: u32) -> WasiResult<Filestat> {
    let e = ctx.table.get_ref(fd)?;
    e.require(rights::FD_FILESTAT_GET)?;
    let ft = e.filetype();
    Ok(match (&e.kind, e.host_fd()) {
        (Kind::File(_) | Kind::Dir(_), Some(h)) => fd_stat(h, None)?,
        (_, Some(h)) => fd_stat(h, Some(ft))?,
        (_, None) => Filestat { filetype: ft, ..Filestat::default() },
    })
}

/// `fd_filestat_set_size(fd, size: u64)`: truncates or extends a file;
/// needs `FD_FILESTAT_SET_SIZE`.
pub fn fd_filestat_set_size(ctx: &mut WasiCtx, fd: u32, size: u64) -> WasiResult<()> {
    let e = ctx.table.get(fd)?;
    e.require(rights::FD_FILESTAT_SET_SIZE)?;
    match &e.kind {
        Kind::File(f) => Ok(f.set_len(size)?),
        Kind::Dir(_) => Err(Errno::Isdir),
        _ => Err(Errno::Inval),
    }
}

/// The `(atime, mtime)` for `futimens`/`utimensat` from WASI times and
/// `fstflags`: `EINVAL` for unknown bits or a time both given and `NOW`.
pub(crate) fn times_spec(atim: u64, mtim: u64, flags: u32) -> WasiResult<(TimeSpec, TimeSpec)> {
    let flags = u16::try_from(flags).ok().filter(|f| f & !fstflags::ALL == 0).ok_or(Errno::Inval)?;
    let one = |t: u64, set: u16, now: u16| -> WasiResult<TimeSpec> {
        match (flags & set != 0, flags & now != 0) {
            (true, true) => Err(Errno::Inval),
            (false, true) => Ok(TimeSpec::Now),
            (true, false) => Ok(TimeSpec::At(t)),
            (false, false) => Ok(TimeSpec::Omit),
        }
    };
    Ok((one(atim, fstflags::ATIM, fstflags::ATIM_NOW)?, one(mtim, fstflags::MTIM, fstflags::MTIM_NOW)?))
}

/// One timestamp to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeSpec {
    Omit,
    Now,
    /// Nanoseconds since the epoch.
    At(u64),
}

impl TimeSpec {
    fn timespec(self) -> rustix::fs::Timespec {
        match self {
            TimeSpec::Omit => rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
            TimeSpec::Now => rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_NOW },
            TimeSpec::At(ns) => {
                rustix::fs::Timespec { tv_sec: (ns / 1_000_000_000) as _, tv_nsec: (ns % 1_000_000_000) as _ }
            }
        }
    }
}

/// `fd_filestat_set_times(fd, atim: u64, mtim: u64, fst_flags: u16)`:
/// sets access/modification times (nanoseconds, or now per `fst_flags`);
/// needs `FD_FILESTAT_SET_TIMES`.
pub fn fd_filestat_set_times(ctx: &mut WasiCtx, fd: u32, atim: u64, mtim: u64, fst_flags: u32) -> WasiResult<()> {
    let (a, m) = times_spec(atim, mtim, fst_flags)?;
    let e = ctx.table.get_ref(fd)?;
    e.require(rights::FD_FILESTAT_SET_TIMES)?;
    let h = e.host_fd().ok_or(Errno::Badf)?;
    let ts = rustix::fs::Timestamps { last_access: a.timespec(), last_modification: m.timespec() };
    Ok(rustix::fs::futimens(h, &ts)?)
}

/// `fd_pread(fd, iovs, iovs_len, offset: u64, nread)`: reads at `offset`
/// without moving the position; needs `FD_READ | FD_SEEK`. Writes the
/// byte count to `nread`.
pub fn fd_pread(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nread: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(nread, 4)?;
    let iovs = mem.iovecs(iovs, iovs_len)?;
    let e = ctx.table.get(fd)?;
    if matches!(e.kind, Kind::Dir(_)) {
        return Err(Errno::Isdir);
    }
    e.require(rights::FD_READ | rights::FD_SEEK)?;
    let Kind::File(f) = &e.kind else { return Err(Errno::Spipe) };
    let n = read_iovs(&mut mem, &iovs, |buf| f.read_at(buf, offset))?;
    mem.write_u32(nread, n as u32)
}

/// `fd_pwrite(fd, iovs, iovs_len, offset: u64, nwritten)`: writes at
/// `offset` without moving the position; needs `FD_WRITE | FD_SEEK`.
pub fn fd_pwrite(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nwritten: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(nwritten, 4)?;
    let iovs = mem.iovecs(iovs, iovs_len)?;
    let e = ctx.table.get(fd)?;
    if matches!(e.kind, Kind::Dir(_)) {
        return Err(Errno::Isdir);
    }
    e.require(rights::FD_WRITE | rights::FD_SEEK)?;
    let Kind::File(f) = &e.kind else { return Err(Errno::Spipe) };
    let n = write_iovs(&mem, &iovs, |buf| f.write_at(buf, offset))?;
    sync_after_write(e)?;
    mem.write_u32(nwritten, n as u32)
}

/// `fd_prestat_get(fd, buf)`: for a preopened directory, writes the 8-byte
/// `prestat` (tag `dir`, length of its guest path); `EBADF` otherwise.
pub fn fd_prestat_get(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, buf: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(buf, PRESTAT_SIZE)?;
    let e = ctx.table.get_ref(fd)?;
    let Kind::Dir(d) = &e.kind else { return Err(Errno::Badf) };
    let name = d.preopen.as_ref().ok_or(Errno::Badf)?;
    let mut b = [0u8; PRESTAT_SIZE as usize];
    b[0] = preopentype::DIR;
    b[4..8].copy_from_slice(&u32::try_from(name.len()).map_err(|_| Errno::Nametoolong)?.to_le_bytes());
    mem.write(buf, &b)
}

/// `fd_prestat_dir_name(fd, path, path_len)`: writes a preopened
/// directory's guest path (no NUL) to `path`; `ENAMETOOLONG` when
/// `path_len` is too small, `EBADF` when `fd` is no preopen.
pub fn fd_prestat_dir_name(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, path: u32, path_len: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(path, path_len)?;
    let e = ctx.table.get_ref(fd)?;
    let Kind::Dir(d) = &e.kind else { return Err(Errno::Badf) };
    let name = d.preopen.as_ref().ok_or(Errno::Badf)?;
    if (path_len as usize) < name.len() {
        return Err(Errno::Nametoolong);
    }
    mem.write(path, name.as_bytes())
}

/// `fd_read(fd, iovs, iovs_len, nread)`: reads from the current position
/// (or the stream) into the iovecs; needs `FD_READ`. Writes the byte count
/// (0 at end-of-file) to `nread`.
pub fn fd_read(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, iovs: u32, iovs_len: u32, nread: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(nread, 4)?;
    let iovs = mem.iovecs(iovs, iovs_len)?;
    let e = ctx.table.get(fd)?;
    if matches!(e.kind, Kind::Dir(_)) {
        return Err(Errno::Isdir);
    }
    e.require(rights::FD_READ)?;
    let nonblock = e.flags & fdflags::NONBLOCK != 0;
    let n = match &mut e.kind {
        Kind::File(f) => read_iovs(&mut mem, &iovs, |b| f.read(b))?,
        Kind::Stdin(input) => read_iovs(&mut mem, &iovs, |b| read_input(input, nonblock, b))?,
        Kind::Stream(s) => read_iovs(&mut mem, &iovs, |b| s.read(b))?,
        Kind::Listener(_) => return Err(Errno::Notconn),
        Kind::Stdout(_) | Kind::Dir(_) => return Err(Errno::Badf),
    };
    mem.write_u32(nread, n as u32)
}

/// `fd_write(fd, iovs, iovs_len, nwritten)`: writes the iovecs at the
/// current position (or the end, with `APPEND`) or to the stream; needs
/// `FD_WRITE`. Writes the byte count to `nwritten`.
pub fn fd_write(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, iovs: u32, iovs_len: u32, nwritten: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(nwritten, 4)?;
    let iovs = mem.iovecs(iovs, iovs_len)?;
    let e = ctx.table.get(fd)?;
    if matches!(e.kind, Kind::Dir(_)) {
        return Err(Errno::Isdir);
    }
    e.require(rights::FD_WRITE)?;
    let n = match &mut e.kind {
        Kind::File(f) => write_iovs(&mem, &iovs, |b| f.write(b))?,
        Kind::Stdout(out) => write_iovs(&mem, &iovs, |b| write_output(out, b))?,
        Kind::Stream(s) => write_iovs(&mem, &iovs, |b| s.write(b))?,
        Kind::Listener(_) => return Err(Errno::Notconn),
        Kind::Stdin(_) | Kind::Dir(_) => return Err(Errno::Badf),
    };
    sync_after_write(e)?;
    mem.write_u32(nwritten, n as u32)
}

/// The listing of a directory for `fd_readdir`: `.`, `..`, then the
/// entries in the host's order.
fn snapshot(dir: &cap_std::fs::Dir) -> WasiResult<Vec<DirSnapEntry>> {
    use std::os::unix::fs::DirEntryExt;
    let meta = dir.dir_metadata()?;
    let ino = cap_std::fs::MetadataExt::ino(&meta);
    let mut out = vec![
        DirSnapEntry { name: b".".to_vec(), ino, filetype: filetype::DIRECTORY },
        DirSnapEntry { name: b"..".to_vec(), ino, filetype: filetype::DIRECTORY },
    ];
    for ent in dir.entries()? {
        let ent = ent?;
        let ft = match ent.file_type() {
            Ok(t) => filetype_of(&t),
            Err(_) => filetype::UNKNOWN,
        };
        out.push(DirSnapEntry { name: ent.file_name().as_bytes().to_vec(), ino: ent.ino(), filetype: ft });
    }
    Ok(out)
}

/// `fd_readdir(fd, buf, buf_len, cookie: u64, bufused)`: fills `buf` with
/// `dirent`s (24-byte header + name) starting at `cookie` (0 = start;
/// each entry's `d_next` is the cookie of the one after it), the last one
/// possibly truncated; `bufused < buf_len` means the end was reached.
/// Needs `FD_READDIR`; `ENOTDIR` on a non-directory. The listing is taken
/// at cookie 0 and kept, so cookies stay valid while entries are removed.
pub fn fd_readdir(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    buf: u32,
    buf_len: u32,
    cookie: u64,
    bufused: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(bufused, 4)?;
    let out = mem.range(buf, buf_len)?;
    let e = ctx.table.get(fd)?;
    let Kind::Dir(d) = &mut e.kind else { return Err(Errno::Notdir) };
    if e.base & rights::FD_READDIR == 0 {
        return Err(Errno::Notcapable);
    }
    if cookie == 0 || d.snapshot.is_none() {
        d.snapshot = Some(snapshot(&d.dir)?);
    }
    let entries = d.snapshot.as_deref().unwrap_or(&[]);
    let mut bytes = Vec::with_capacity(out.len().min(1 << 16));
    let start = usize::try_from(cookie).unwrap_or(usize::MAX);
    for (i, ent) in entries.iter().enumerate().skip(start) {
        if bytes.len() >= out.len() {
            break;
        }
        let namlen = u32::try_from(ent.name.len()).map_err(|_| Errno::Nametoolong)?;
        bytes.extend_from_slice(&encode_dirent(i as u64 + 1, ent.ino, namlen, ent.filetype));
        bytes.extend_from_slice(&ent.name);
    }
    bytes.truncate(out.len());
    mem.write(buf, &bytes)?;
    mem.write_u32(bufused, bytes.len() as u32)
}

/// `fd_renumber(from, to)`: moves descriptor `from` to number `to`,
/// closing what `to` was. Both must be open (`EBADF`).
pub fn fd_renumber(ctx: &mut WasiCtx, from: u32, to: u32) -> WasiResult<()> {
    ctx.table.get_ref(from)?;
    ctx.table.get_ref(to)?;
    if from == to {
        return Ok(());
    }
    let e = ctx.table.remove(from)?;
    drop(ctx.table.put(to, e));
    Ok(())
}

/// `fd_seek(fd, offset: i64, whence: u8, newoffset)`: moves the position
/// and writes the new one to `newoffset`. Needs `FD_SEEK` (or only
/// `FD_TELL` for `(0, CUR)`); `ESPIPE` on streams, `EINVAL` for a
/// negative result or unknown `whence`.
pub fn fd_seek(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, offset: i64, wh: u32, newoffset: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(newoffset, 8)?;
    let pos = match u8::try_from(wh).map_err(|_| Errno::Inval)? {
        whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::Inval)?),
        whence::CUR => SeekFrom::Current(offset),
        whence::END => SeekFrom::End(offset),
        _ => return Err(Errno::Inval),
    };
    let e = ctx.table.get(fd)?;
    if e.is_stream() {
        return Err(Errno::Spipe);
    }
    let needed = if pos == SeekFrom::Current(0) { rights::FD_TELL } else { rights::FD_SEEK };
    e.require(needed)?;
    let Kind::File(f) = &mut e.kind else { return Err(Errno::Badf) };
    let n = f.seek(pos)?;
    mem.write_u64(newoffset, n)
}

/// `fd_tell(fd, offset)`: writes the current position; needs `FD_TELL`.
pub fn fd_tell(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, offset: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(offset, 8)?;
    let e = ctx.table.get(fd)?;
    if e.is_stream() {
        return Err(Errno::Spipe);
    }
    e.require(rights::FD_TELL)?;
    let Kind::File(f) = &mut e.kind else { return Err(Errno::Badf) };
    let n = f.stream_position()?;
    mem.write_u64(offset, n)
}
