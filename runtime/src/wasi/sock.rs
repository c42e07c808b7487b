//! The socket functions: `sock_accept`, `sock_recv`, `sock_send`,
//! `sock_shutdown`. They work on TCP sockets (preopened listeners from
//! [`super::WasiCtxBuilder::preopened_socket`] and the connections
//! accepted on them); any other descriptor gives `ENOTSOCK`.

use super::abi::{Errno, WasiResult, fdflags, rights, sock};
use super::ctx::{Entry, Kind, WasiCtx};
use super::fd::{read_iovs, write_iovs};
use super::mem::GuestMemory;
use std::io::{self, Read, Write};
use std::net::Shutdown;

fn socket(e: &Entry) -> WasiResult<()> {
    match e.kind {
        Kind::Listener(_) | Kind::Stream(_) => Ok(()),
        _ => Err(Errno::Notsock),
    }
}

/// `sock_accept(fd, flags: fdflags, ro_fd)`: accepts a connection on a
/// listening socket and writes its new descriptor to `ro_fd`. `flags` may
/// be `NONBLOCK` (others: `EINVAL`); needs `SOCK_ACCEPT`. A non-blocking
/// listener without a pending connection gives `EAGAIN`; a connected
/// socket `EINVAL`.
pub fn sock_accept(ctx: &mut WasiCtx, mem: &mut [u8], fd: u32, flags: u32, ro_fd: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(ro_fd, 4)?;
    if flags & !u32::from(fdflags::NONBLOCK) != 0 {
        return Err(Errno::Inval);
    }
    let e = ctx.table.get(fd)?;
    socket(e)?;
    e.require(rights::SOCK_ACCEPT)?;
    let Kind::Listener(l) = &e.kind else { return Err(Errno::Inval) };
    let (stream, _) = super::fd::retry(|| l.accept())?;
    let nonblock = flags != 0;
    stream.set_nonblocking(nonblock)?;
    let mut entry = Entry::new(Kind::Stream(stream), rights::SOCKET_BASE & e.inheriting, 0);
    entry.flags = if nonblock { fdflags::NONBLOCK } else { 0 };
    let new_fd = ctx.table.insert(entry)?;
    mem.write_u32(ro_fd, new_fd)
}

/// `sock_recv(fd, ri_data, ri_data_len, ri_flags, ro_datalen, ro_flags)`:
/// receives into the iovecs; `ri_flags` may hold `RECV_PEEK` (leave the
/// data queued) and `RECV_WAITALL` (wait until the buffers are full or the
/// peer closes). Writes the byte count (0 at end of stream) to
/// `ro_datalen` and 0 to `ro_flags` (`u16`). Needs `FD_READ`.
#[allow(clippy::too_many_arguments)]
pub fn sock_recv(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    ri_data: u32,
    ri_data_len: u32,
    ri_flags: u32,
    ro_datalen: u32,
    ro_flags: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(ro_datalen, 4)?;
    mem.check(ro_flags, 2)?;
    if ri_flags & !u32::from(sock::RECV_PEEK | sock::RECV_WAITALL) != 0 {
        return Err(Errno::Inval);
    }
    let iovs = mem.iovecs(ri_data, ri_data_len)?;
    let e = ctx.table.get(fd)?;
    socket(e)?;
    e.require(rights::FD_READ)?;
    let Kind::Stream(s) = &mut e.kind else { return Err(Errno::Notconn) };
    let peek = ri_flags & u32::from(sock::RECV_PEEK) != 0;
    let waitall = ri_flags & u32::from(sock::RECV_WAITALL) != 0;
    let n = if peek {
        read_iovs(&mut mem, &iovs, |b| s.peek(b))?
    } else if waitall {
        read_iovs(&mut mem, &iovs, |b| {
            let mut got = 0;
            while got < b.len() {
                match s.read(&mut b[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) if got > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(got)
        })?
    } else {
        read_iovs(&mut mem, &iovs, |b| s.read(b))?
    };
    mem.write_u32(ro_datalen, n as u32)?;
    mem.write(ro_flags, &0u16.to_le_bytes())
}

/// `sock_send(fd, si_data, si_data_len, si_flags, so_datalen)`: sends the
/// iovecs and writes the byte count to `so_datalen`. `si_flags` has no
/// defined bits (non-zero: `EINVAL`). Needs `FD_WRITE`.
pub fn sock_send(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    fd: u32,
    si_data: u32,
    si_data_len: u32,
    si_flags: u32,
    so_datalen: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(so_datalen, 4)?;
    if si_flags != 0 {
        return Err(Errno::Inval);
    }
    let iovs = mem.iovecs(si_data, si_data_len)?;
    let e = ctx.table.get(fd)?;
    socket(e)?;
    e.require(rights::FD_WRITE)?;
    let Kind::Stream(s) = &mut e.kind else { return Err(Errno::Notconn) };
    let n = write_iovs(&mem, &iovs, |b| s.write(b))?;
    mem.write_u32(so_datalen, n as u32)
}

/// `sock_shutdown(fd, how: sdflags)`: shuts down the receive (`RD`), send
/// (`WR`) or both halves; `EINVAL` for no or unknown bits, `ENOTCONN` on a
/// listener. Needs `SOCK_SHUTDOWN`.
pub fn sock_shutdown(ctx: &mut WasiCtx, fd: u32, how: u32) -> WasiResult<()> {
    let how = match u8::try_from(how).map_err(|_| Errno::Inval)? {
        sock::SHUT_RD => Shutdown::Read,
        sock::SHUT_WR => Shutdown::Write,
        h if h == sock::SHUT_RD | sock::SHUT_WR => Shutdown::Both,
        _ => return Err(Errno::Inval),
    };
    let e = ctx.table.get(fd)?;
    socket(e)?;
    e.require(rights::SOCK_SHUTDOWN)?;
    let Kind::Stream(s) = &e.kind else { return Err(Errno::Notconn) };
    Ok(s.shutdown(how)?)
}
