//! The `path_*` functions of `wasi_snapshot_preview1`.
//!
//! Paths are UTF-8 (`EILSEQ` otherwise) and always relative to a directory
//! descriptor; they are resolved by cap-std's [`Dir`], which refuses any
//! resolution that leaves the directory (absolute paths, `..` above it,
//! symlinks pointing outside, at any step): such attempts give
//! `ENOTCAPABLE`. A descriptor that is not a directory gives `ENOTDIR`;
//! a missing right `ENOTCAPABLE`.

use super::abi::{Errno, FILESTAT_SIZE, Filestat, WasiResult, lookupflags, oflags, rights};
use super::ctx::{DirDesc, Entry, Kind, WasiCtx, filetype_of};
use super::fd::{TimeSpec, times_spec, timestamp};
use super::mem::GuestMemory;
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, SystemTimeSpec};
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// The directory behind `fd`, after checking it has `needed`.
fn dir_of(ctx: &WasiCtx, fd: u32, needed: u64) -> WasiResult<(&Dir, &Entry)> {
    let e = ctx.table.get_ref(fd)?;
    let Kind::Dir(DirDesc { dir, .. }) = &e.kind else { return Err(Errno::Notdir) };
    e.require(needed)?;
    Ok((dir, e))
}

fn follow(flags: u32) -> WasiResult<bool> {
    if flags & !lookupflags::SYMLINK_FOLLOW != 0 {
        return Err(Errno::Inval);
    }
    Ok(flags & lookupflags::SYMLINK_FOLLOW != 0)
}

/// The `filestat` of cap-std metadata.
fn filestat(m: &cap_std::fs::Metadata) -> Filestat {
    Filestat {
        dev: m.dev(),
        ino: m.ino(),
        filetype: filetype_of(&m.file_type()),
        nlink: m.nlink(),
        size: m.len(),
        atim: timestamp(m.atime(), m.atime_nsec()),
        mtim: timestamp(m.mtime(), m.mtime_nsec()),
        ctim: timestamp(m.ctime(), m.ctime_nsec()),
    }
}

/// `path_create_directory(fd, path, path_len)`: `mkdirat`; needs
/// `PATH_CREATE_DIRECTORY`.
pub fn path_create_directory(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, path: u32, path_len: u32) -> WasiResult<()> {
    let mem = GuestMemory::new(mem);
    let path = mem.str(path, path_len)?;
    let (dir, _) = dir_of(ctx, fd, rights::PATH_CREATE_DIRECTORY)?;
    Ok(dir.create_dir(path)?)
}

/// `path_filestat_get(fd, flags: lookupflags, path, path_len, buf)`:
/// writes the 64-byte `filestat` of `path` (of the symlink itself unless
/// `SYMLINK_FOLLOW`); needs `PATH_FILESTAT_GET`.
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
    let st = path_filestat(ctx, &mem, fd, flags, path, path_len)?;
    mem.write(buf, &st.encode())
}

/// The [`Filestat`] of `path` under `fd` (the body of
/// [`path_filestat_get`] after the result pointer's check, shared with
/// preview0's 56-byte encoding).
pub(crate) fn path_filestat(
    ctx: &WasiCtx,
    mem: &GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
) -> WasiResult<Filestat> {
    let follow = follow(flags)?;
    let path = mem.str(path, path_len)?;
    let (dir, _) = dir_of(ctx, fd, rights::PATH_FILESTAT_GET)?;
    let m = if follow { dir.metadata(path)? } else { dir.symlink_metadata(path)? };
    Ok(filestat(&m))
}

fn system_time_spec(t: TimeSpec) -> WasiResult<Option<SystemTimeSpec>> {
    Ok(match t {
        TimeSpec::Omit => None,
        TimeSpec::Now => Some(SystemTimeSpec::SymbolicNow),
        TimeSpec::At(ns) => {
            let t = UNIX_EPOCH.checked_add(Duration::from_nanos(ns)).ok_or(Errno::Inval)?;
            Some(SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(t)))
        }
    })
}

/// `path_filestat_set_times(fd, flags, path, path_len, atim: u64, mtim:
/// u64, fst_flags: u16)`: sets the times of `path` (see
/// [`super::fd::fd_filestat_set_times`]); needs `PATH_FILESTAT_SET_TIMES`.
#[allow(clippy::too_many_arguments)]
pub fn path_filestat_set_times(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> WasiResult<()> {
    let mem = GuestMemory::new(mem);
    let follow = follow(flags)?;
    let (a, m) = times_spec(atim, mtim, fst_flags)?;
    let path = mem.str(path, path_len)?;
    let (dir, _) = dir_of(ctx, fd, rights::PATH_FILESTAT_SET_TIMES)?;
    let (a, m) = (system_time_spec(a)?, system_time_spec(m)?);
    if follow {
        dir.set_times(path, a, m)?;
    } else {
        dir.set_symlink_times(path, a, m)?;
    }
    Ok(())
}

/// Follows symlinks at the last component of `path` inside `dir` (at most
/// 40, then `ELOOP`), for `path_link` with `SYMLINK_FOLLOW`. Targets are
/// joined to the link's directory and resolved again by cap-std, so they
/// cannot leave `dir`.
fn resolve_last(dir: &Dir, path: &str) -> WasiResult<PathBuf> {
    let mut p = PathBuf::from(path);
    for _ in 0..40 {
        match dir.symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = dir.read_link_contents(&p)?;
                if target.is_absolute() {
                    return Err(Errno::Notcapable);
                }
                p = p.parent().unwrap_or(Path::new("")).join(target);
            }
            _ => return Ok(p),
        }
    }
    Err(Errno::Loop)
}

/// `path_link(old_fd, old_flags, old_path, old_path_len, new_fd, new_path,
/// new_path_len)`: a hard link `new_path` (under `new_fd`) to `old_path`
/// (under `old_fd`; with `SYMLINK_FOLLOW`, to what the symlink there
/// resolves to). Needs `PATH_LINK_SOURCE` on `old_fd` and
/// `PATH_LINK_TARGET` on `new_fd`.
#[allow(clippy::too_many_arguments)]
pub fn path_link(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_path_len: u32,
    new_fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> WasiResult<()> {
    let mem = GuestMemory::new(mem);
    let follow = follow(old_flags)?;
    let old_path = mem.str(old_path, old_path_len)?;
    let new_path = mem.str(new_path, new_path_len)?;
    let (old_dir, _) = dir_of(ctx, old_fd, rights::PATH_LINK_SOURCE)?;
    let (new_dir, _) = dir_of(ctx, new_fd, rights::PATH_LINK_TARGET)?;
    let src = if follow { resolve_last(old_dir, old_path)? } else { PathBuf::from(old_path) };
    Ok(old_dir.hard_link(src, new_dir, new_path)?)
}

/// `path_open(fd, dirflags, path, path_len, oflags: u16, fs_rights_base:
/// u64, fs_rights_inheriting: u64, fdflags: u16, opened_fd)`: opens (or
/// with `CREAT` creates) a file or directory under `fd` and writes the new
/// descriptor to `opened_fd`.
///
/// Needs `PATH_OPEN`, plus `PATH_CREATE_FILE` for `CREAT` and
/// `PATH_FILESTAT_SET_SIZE` for `TRUNC`. The new descriptor's rights are
/// the requested ones limited to `fd`'s inheriting rights and to what its
/// file type supports (asking for more is not an error: implementations
/// may grant fewer rights than requested); the host file is opened for
/// writing only when `FD_WRITE` is granted (or `CREAT`/`TRUNC` need it)
/// and `DIRECTORY` is not given.
/// `DIRECTORY` with a non-directory gives `ENOTDIR`; without
/// `SYMLINK_FOLLOW` a symlink at the last component gives `ELOOP`.
#[allow(clippy::too_many_arguments)]
pub fn path_open(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    dirflags: u32,
    path: u32,
    path_len: u32,
    oflags: u32,
    fs_rights_base: u64,
    fs_rights_inheriting: u64,
    fdflags: u32,
    opened_fd: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(opened_fd, 4)?;
    let follow = follow(dirflags)?;
    let of = u16::try_from(oflags).ok().filter(|f| f & !oflags::ALL == 0).ok_or(Errno::Inval)?;
    let ff = u16::try_from(fdflags).ok().filter(|f| f & !super::abi::fdflags::ALL == 0).ok_or(Errno::Inval)?;
    let path = mem.str(path, path_len)?;
    let (creat, excl, trunc, want_dir) =
        (of & oflags::CREAT != 0, of & oflags::EXCL != 0, of & oflags::TRUNC != 0, of & oflags::DIRECTORY != 0);
    let mut needed = rights::PATH_OPEN;
    if creat {
        needed |= rights::PATH_CREATE_FILE;
    }
    if trunc {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    let (dir, dir_entry) = dir_of(ctx, fd, needed)?;
    if want_dir && (creat || excl || trunc) {
        return Err(Errno::Inval);
    }
    let base = fs_rights_base & dir_entry.inheriting;
    let inheriting = fs_rights_inheriting & dir_entry.inheriting;

    // A directory is never opened for writing (that is `EISDIR`), whatever
    // rights were asked for.
    let write = base & rights::FD_WRITE != 0 && !want_dir;
    let read = base & (rights::FD_READ | rights::FD_READDIR) != 0 || !write;
    let mut opts = OpenOptions::new();
    opts.maybe_dir(true);
    opts.read(read);
    opts.write(write || creat || trunc);
    if creat && excl {
        opts.create_new(true);
    } else if creat {
        opts.create(true);
    }
    opts.truncate(trunc);
    if ff & super::abi::fdflags::APPEND != 0 {
        opts.append(true);
    }
    if ff & super::abi::fdflags::NONBLOCK != 0 {
        opts.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    opts.follow(if follow { FollowSymlinks::Yes } else { FollowSymlinks::No });
    let file = dir.open_with(path, &opts)?;
    let is_dir = file.metadata()?.is_dir();
    let entry = if is_dir {
        let dir = Dir::from_std_file(file.into_std());
        let desc = DirDesc { dir, preopen: None, snapshot: None };
        Entry::new(Kind::Dir(desc), base & rights::DIRECTORY_BASE, inheriting & rights::DIRECTORY_INHERITING)
    } else if want_dir {
        return Err(Errno::Notdir);
    } else {
        Entry::new(
            Kind::File(file.into_std()),
            base & rights::REGULAR_FILE_BASE,
            inheriting & rights::REGULAR_FILE_BASE,
        )
    };
    let mut entry = entry;
    entry.flags = ff;
    let new_fd = ctx.table.insert(entry)?;
    mem.write_u32(opened_fd, new_fd)
}

/// `path_readlink(fd, path, path_len, buf, buf_len, bufused)`: copies the
/// symlink's target (truncated to `buf_len`, no NUL) to `buf` and its
/// length to `bufused`; needs `PATH_READLINK`. Reading a target that
/// points outside the sandbox is allowed; following it is not.
#[allow(clippy::too_many_arguments)]
pub fn path_readlink(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    path: u32,
    path_len: u32,
    buf: u32,
    buf_len: u32,
    bufused: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(buf, buf_len)?;
    mem.check(bufused, 4)?;
    let path = mem.str(path, path_len)?;
    let (dir, _) = dir_of(ctx, fd, rights::PATH_READLINK)?;
    let target = dir.read_link_contents(path)?;
    let bytes = target.as_os_str().as_bytes();
    let n = bytes.len().min(buf_len as usize);
    mem.write(buf, &bytes[..n])?;
    mem.write_u32(bufused, n as u32)
}

/// `path_remove_directory(fd, path, path_len)`: removes an empty
/// directory (`ENOTEMPTY` otherwise); needs `PATH_REMOVE_DIRECTORY`.
pub fn path_remove_directory(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, path: u32, path_len: u32) -> WasiResult<()> {
    let mem = GuestMemory::new(mem);
    let path = mem.str(path, path_len)?;
    let (dir, _) = dir_of(ctx, fd, rights::PATH_REMOVE_DIRECTORY)?;
    Ok(dir.remove_dir(path)?)
}

/// `path_rename(fd, old_path, old_path_len, new_fd, new_path,
/// new_path_len)`: `renameat`; needs `PATH_RENAME_SOURCE` on `fd` and
/// `PATH_RENAME_TARGET` on `new_fd`.
#[allow(clippy::too_many_arguments)]
pub fn path_rename(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    old_path: u32,
    old_path_len: u32,
    new_fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> WasiResult<()> {
    let mem = GuestMemory::new(mem);
    let old_path = mem.str(old_path, old_path_len)?;
    let new_path = mem.str(new_path, new_path_len)?;
    let (old_dir, _) = dir_of(ctx, fd, rights::PATH_RENAME_SOURCE)?;
    let (new_dir, _) = dir_of(ctx, new_fd, rights::PATH_RENAME_TARGET)?;
    Ok(old_dir.rename(old_path, new_dir, new_path)?)
}

/// Whether a symlink at `link` (relative to the directory descriptor)
/// whose contents are `target` would point outside that directory,
/// judged lexically. Such links could never be followed (cap-std refuses),
/// but kiln does not create them at all.
pub(crate) fn symlink_escapes(target: &str, link: &str) -> bool {
    let target = Path::new(target);
    if target.has_root() {
        return true;
    }
    let mut depth: i64 = 0;
    let parent = Path::new(link).parent().unwrap_or(Path::new(""));
    for c in parent.components().chain(target.components()) {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// `path_symlink(old_path, old_path_len, fd, new_path, new_path_len)`:
/// creates the symlink `new_path` (under `fd`) with contents `old_path`;
/// needs `PATH_SYMLINK`. A target that is absolute or climbs out of `fd`'s
/// directory gives `ENOTCAPABLE`.
pub fn path_symlink(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    old_path: u32,
    old_path_len: u32,
    fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> WasiResult<()> {
    let mem = GuestMemory::new(mem);
    let old_path = mem.str(old_path, old_path_len)?;
    let new_path = mem.str(new_path, new_path_len)?;
    let (dir, _) = dir_of(ctx, fd, rights::PATH_SYMLINK)?;
    if old_path.is_empty() {
        return Err(Errno::Noent);
    }
    if symlink_escapes(old_path, new_path) {
        return Err(Errno::Notcapable);
    }
    Ok(dir.symlink(old_path, new_path)?)
}

/// `path_unlink_file(fd, path, path_len)`: removes a file or symlink
/// (`EISDIR` for a directory); needs `PATH_UNLINK_FILE`.
pub fn path_unlink_file(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, path: u32, path_len: u32) -> WasiResult<()> {
    let mem = GuestMemory::new(mem);
    let path = mem.str(path, path_len)?;
    let (dir, _) = dir_of(ctx, fd, rights::PATH_UNLINK_FILE)?;
    Ok(dir.remove_file(path)?)
}
