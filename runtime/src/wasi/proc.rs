//! Arguments, environment, randomness, scheduling and process signals.

use super::abi::{Errno, WasiResult};
use super::ctx::WasiCtx;
use super::mem::GuestMemory;

/// `(count, bytes)` of NUL-terminated strings; `E2BIG` when they do not fit
/// a 32-bit memory.
fn sizes(list: &[String]) -> WasiResult<(u32, u32)> {
    let count = u32::try_from(list.len()).map_err(|_| Errno::TooBig)?;
    let bytes = list.iter().try_fold(0u32, |acc, s| {
        u32::try_from(s.len()).ok().and_then(|l| l.checked_add(1)).and_then(|l| acc.checked_add(l))
    });
    Ok((count, bytes.ok_or(Errno::TooBig)?))
}

/// Writes `list` as `argv`-style pointers at `ptrs` (4 bytes each) to
/// NUL-terminated strings packed at `buf`.
fn write_list(mem: &mut [u8], list: &[String], ptrs: u32, buf: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    let (count, bytes) = sizes(list)?;
    mem.array_range(ptrs, count, 4)?;
    mem.check(buf, bytes)?;
    let mut table = Vec::with_capacity(list.len() * 4);
    let mut blob = Vec::with_capacity(bytes as usize);
    for s in list {
        let at = u32::try_from(buf as usize + blob.len()).map_err(|_| Errno::Fault)?;
        table.extend_from_slice(&at.to_le_bytes());
        blob.extend_from_slice(s.as_bytes());
        blob.push(0);
    }
    mem.write(ptrs, &table)?;
    mem.write(buf, &blob)?;
    Ok(())
}

fn write_sizes(mem: &mut [u8], list: &[String], count_ptr: u32, bytes_ptr: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(count_ptr, 4)?;
    mem.check(bytes_ptr, 4)?;
    let (count, bytes) = sizes(list)?;
    mem.write_u32(count_ptr, count)?;
    mem.write_u32(bytes_ptr, bytes)
}

/// `args_get(argv, argv_buf)`: writes one pointer per argument at `argv`
/// and the NUL-terminated arguments at `argv_buf` (sized by
/// [`args_sizes_get`]).
pub fn args_get(ctx: &mut WasiCtx, mem: &mut [u8], argv: u32, argv_buf: u32) -> WasiResult<()> {
    write_list(mem, &ctx.args, argv, argv_buf)
}

/// `args_sizes_get(argc, argv_buf_size)`: writes the argument count and
/// the bytes `args_get` needs for the strings (with their NULs).
pub fn args_sizes_get(ctx: &mut WasiCtx, mem: &mut [u8], argc: u32, argv_buf_size: u32) -> WasiResult<()> {
    write_sizes(mem, &ctx.args, argc, argv_buf_size)
}

/// `environ_get(environ, environ_buf)`: as [`args_get`] for the
/// `KEY=VALUE` environment strings.
pub fn environ_get(ctx: &mut WasiCtx, mem: &mut [u8], environ: u32, environ_buf: u32) -> WasiResult<()> {
    write_list(mem, &ctx.env, environ, environ_buf)
}

/// `environ_sizes_get(environc, environ_buf_size)`: as [`args_sizes_get`].
pub fn environ_sizes_get(ctx: &mut WasiCtx, mem: &mut [u8], environc: u32, environ_buf_size: u32) -> WasiResult<()> {
    write_sizes(mem, &ctx.env, environc, environ_buf_size)
}

/// `random_get(buf, buf_len)`: fills the buffer from the host's CSPRNG
/// (`getrandom`); `EIO` if the host cannot provide randomness.
pub fn random_get(mem: &mut [u8], buf: u32, buf_len: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    let dst = mem.slice_mut(buf, buf_len)?;
    getrandom::fill(dst).map_err(|_| Errno::Io)
}

/// `sched_yield()`: yields the host thread.
pub fn sched_yield() -> WasiResult<()> {
    std::thread::yield_now();
    Ok(())
}

/// What `proc_raise` asks of the embedder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Raise {
    /// The signal's default action is to be ignored (or to stop, which a
    /// guest cannot): carry on, returning success.
    Continue,
    /// The signal's default action terminates the process: end the guest
    /// with this exit status (128 + the POSIX signal number, the shell's
    /// convention for a process killed by a signal).
    Terminate(i32),
}

/// `proc_raise(sig: signal)`: WASI has no signal handlers, so the default
/// action applies: `0` (none) and signals ignored or stopping by default
/// (`CHLD`, `CONT`, `STOP`, `TSTP`, `TTIN`, `TTOU`, `URG`, `WINCH`) return
/// [`Raise::Continue`]; every other signal [`Raise::Terminate`]. An unknown
/// signal number gives `EINVAL`.
pub fn proc_raise(sig: u32) -> WasiResult<Raise> {
    // preview1 `signal` numbering: hup=1 .. sys=30, in POSIX order but with
    // no gap for Linux's SIGSTKFLT (16).
    const IGNORED: [u32; 8] = [16, 17, 18, 19, 20, 21, 22, 27];
    match sig {
        0 => Ok(Raise::Continue),
        s if IGNORED.contains(&s) => Ok(Raise::Continue),
        1..=15 => Ok(Raise::Terminate(128 + sig as i32)),
        16..=30 => Ok(Raise::Terminate(128 + sig as i32 + 1)),
        _ => Err(Errno::Inval),
    }
}
