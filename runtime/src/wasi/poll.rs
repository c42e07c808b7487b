//! Clocks and `poll_oneoff`.

use super::abi::{EVENT_SIZE, Errno, SUBSCRIPTION_SIZE, WasiResult, clockid, encode_event, event, rights};
use super::ctx::{Input, Kind, WasiCtx};
use super::fd::{host_ready, timestamp};
use super::mem::GuestMemory;
use rustix::event::{PollFd, PollFlags};
use rustix::time::ClockId;
use std::io::Seek;
use std::time::{Duration, Instant};

fn clock(id: u32) -> WasiResult<ClockId> {
    Ok(match id {
        clockid::REALTIME => ClockId::Realtime,
        clockid::MONOTONIC => ClockId::Monotonic,
        clockid::PROCESS_CPUTIME_ID => ClockId::ProcessCPUTime,
        clockid::THREAD_CPUTIME_ID => ClockId::ThreadCPUTime,
        _ => return Err(Errno::Inval),
    })
}

/// The current time of WASI clock `id` in nanoseconds (realtime: since the
/// Unix epoch; monotonic: the host's `CLOCK_MONOTONIC`; the CPU-time
/// clocks: of the host process and the thread running the guest).
pub fn now(id: u32) -> WasiResult<u64> {
    let t = rustix::time::clock_gettime(clock(id)?);
    Ok(timestamp(t.tv_sec, t.tv_nsec))
}

/// `clock_res_get(id: clockid, resolution)`: writes the clock's
/// resolution in nanoseconds (`EINVAL` for an unknown clock).
pub fn clock_res_get(mem: &mut [u8], id: u32, resolution: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(resolution, 8)?;
    let t = rustix::time::clock_getres(clock(id)?);
    mem.write_u64(resolution, timestamp(t.tv_sec, t.tv_nsec).max(1))
}

/// `clock_time_get(id: clockid, precision: u64, time)`: writes the clock's
/// current time in nanoseconds (see [`now`]); `precision` is a hint and
/// ignored.
pub fn clock_time_get(mem: &mut [u8], id: u32, _precision: u64, time: u32) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    mem.check(time, 8)?;
    let t = now(id)?;
    mem.write_u64(time, t)
}

/// What one subscription waits for.
enum Wait {
    /// Already decided: `(errno, nbytes, flags)`.
    Ready(Errno, u64, u16),
    /// A clock that fires at `Instant`.
    Clock(Instant),
    /// A host descriptor (of table entry `fd`) to poll for reading or
    /// writing.
    Host { fd: u32, write: bool },
}

struct Sub {
    userdata: u64,
    ty: u8,
    wait: Wait,
}

/// The deadline of a clock subscription, or the errno for its event.
fn clock_deadline(id: u32, timeout: u64, flags: u16, start: Instant) -> Result<Instant, Errno> {
    if id != clockid::REALTIME && id != clockid::MONOTONIC {
        return Err(Errno::Inval);
    }
    let rel = if flags & event::SUBSCRIPTION_CLOCK_ABSTIME != 0 { timeout.saturating_sub(now(id)?) } else { timeout };
    // Far-future deadlines are capped (about 30 years) so `Instant` math
    // cannot overflow.
    let rel = Duration::from_nanos(rel.min(1 << 60));
    Ok(start.checked_add(rel).unwrap_or(start))
}

/// The bytes available to read from a host descriptor, if known.
fn readable_bytes(fd: std::os::fd::BorrowedFd<'_>) -> u64 {
    rustix::io::ioctl_fionread(fd).unwrap_or(1)
}

/// `poll_oneoff(in, out, nsubscriptions, nevents)`: waits until at least
/// one of the `nsubscriptions` 48-byte subscriptions at `in` is ready,
/// writes a 32-byte event for each ready one to `out` and their count to
/// `nevents`.
///
/// * Clock subscriptions (realtime or monotonic; relative, or absolute
///   with `SUBSCRIPTION_CLOCK_ABSTIME`) fire when their time has come;
///   the CPU-time clocks give an event with `EINVAL`.
/// * `fd_read`/`fd_write` on files, directories and in-memory stdio are
///   always ready (`nbytes`: the bytes left for a file read, else 0);
///   inherited stdio and sockets are polled on the host (`nbytes` from
///   `FIONREAD`, `FD_READWRITE_HANGUP` on hang-up). A bad descriptor or a
///   missing `POLL_FD_READWRITE` gives an event with that errno.
///
/// `EINVAL` when `nsubscriptions` is 0 or a subscription's tag is unknown.
pub fn poll_oneoff(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    input: u32,
    output: u32,
    nsubscriptions: u32,
    nevents: u32,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    if nsubscriptions == 0 {
        return Err(Errno::Inval);
    }
    mem.check(nevents, 4)?;
    let in_range = mem.array_range(input, nsubscriptions, SUBSCRIPTION_SIZE)?;
    let out_start = mem.array_range(output, nsubscriptions, EVENT_SIZE)?.start;
    let _ = in_range;
    let start = Instant::now();
    let mut subs = Vec::with_capacity(nsubscriptions as usize);
    for i in 0..nsubscriptions {
        let at = input + i * SUBSCRIPTION_SIZE;
        let userdata = mem.read_u64(at)?;
        let ty = mem.read_u8(at + 8)?;
        let wait = match ty {
            event::CLOCK => {
                let id = mem.read_u32(at + 16)?;
                let timeout = mem.read_u64(at + 24)?;
                let flags = mem.read_u16(at + 40)?;
                match clock_deadline(id, timeout, flags, start) {
                    Ok(t) => Wait::Clock(t),
                    Err(e) => Wait::Ready(e, 0, 0),
                }
            }
            event::FD_READ | event::FD_WRITE => {
                let fd = mem.read_u32(at + 16)?;
                fd_wait(ctx, fd, ty == event::FD_WRITE)
            }
            _ => return Err(Errno::Inval),
        };
        subs.push(Sub { userdata, ty, wait });
    }

    // Block only when nothing is ready yet.
    let any_ready = subs.iter().any(|s| matches!(s.wait, Wait::Ready(..)));
    let deadline = subs.iter().filter_map(|s| if let Wait::Clock(t) = s.wait { Some(t) } else { None }).min();
    let mut fired = vec![None; subs.len()];
    loop {
        let now_i = Instant::now();
        let timeout =
            if any_ready { Some(Duration::ZERO) } else { deadline.map(|d| d.saturating_duration_since(now_i)) };
        let host: Vec<(usize, u32, bool)> = subs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| if let Wait::Host { fd, write } = s.wait { Some((i, fd, write)) } else { None })
            .collect();
        if host.is_empty() {
            if let Some(t) = timeout {
                std::thread::sleep(t);
            }
        } else {
            let mut pfds = Vec::with_capacity(host.len());
            for &(_, fd, write) in &host {
                let h = ctx.table.get_ref(fd).ok().and_then(|e| e.host_fd()).ok_or(Errno::Badf)?;
                pfds.push(PollFd::from_borrowed_fd(h, if write { PollFlags::OUT } else { PollFlags::IN }));
            }
            let ts = timeout.map(|t| rustix::event::Timespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(t.subsec_nanos()),
            });
            match rustix::event::poll(&mut pfds, ts.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            for (&(i, fd, write), p) in host.iter().zip(&pfds) {
                let re = p.revents();
                if re.is_empty() {
                    continue;
                }
                fired[i] = Some(if re.contains(PollFlags::NVAL) {
                    (Errno::Badf, 0, 0)
                } else {
                    let hup =
                        if re.intersects(PollFlags::HUP | PollFlags::ERR) { event::FD_READWRITE_HANGUP } else { 0 };
                    let nbytes = match ctx.table.get_ref(fd).ok().and_then(|e| e.host_fd()) {
                        Some(h) if !write => readable_bytes(h),
                        _ => 0,
                    };
                    (Errno::Success, nbytes, hup)
                });
            }
        }
        let now_i = Instant::now();
        for (i, s) in subs.iter().enumerate() {
            match s.wait {
                Wait::Ready(e, n, f) => fired[i] = Some((e, n, f)),
                Wait::Clock(t) if t <= now_i => fired[i] = Some((Errno::Success, 0, 0)),
                _ => {}
            }
        }
        if fired.iter().any(Option::is_some) {
            break;
        }
    }
    let mut count = 0u32;
    for (s, f) in subs.iter().zip(fired) {
        if let Some((err, nbytes, flags)) = f {
            let at = u32::try_from(out_start).map_err(|_| Errno::Fault)? + count * EVENT_SIZE;
            mem.write(at, &encode_event(s.userdata, err, s.ty, nbytes, flags))?;
            count += 1;
        }
    }
    mem.write_u32(nevents, count)
}

/// How an fd subscription waits.
fn fd_wait(ctx: &mut WasiCtx, fd: u32, write: bool) -> Wait {
    let e = match ctx.table.get_ref(fd) {
        Ok(e) => e,
        Err(err) => return Wait::Ready(err, 0, 0),
    };
    if e.base & rights::POLL_FD_READWRITE == 0 {
        return Wait::Ready(Errno::Notcapable, 0, 0);
    }
    match &e.kind {
        Kind::File(f) => {
            let nbytes = if write {
                0
            } else {
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                let mut r: &std::fs::File = f;
                let pos = r.stream_position().unwrap_or(0);
                size.saturating_sub(pos)
            };
            Wait::Ready(Errno::Success, nbytes, 0)
        }
        Kind::Dir(_) => Wait::Ready(Errno::Success, 0, 0),
        Kind::Stdin(Input::Bytes { data, pos }) => {
            let left = data.len().saturating_sub(*pos) as u64;
            Wait::Ready(Errno::Success, if write { 0 } else { left }, 0)
        }
        Kind::Stdin(Input::Inherit(_)) | Kind::Stream(_) | Kind::Listener(_) => Wait::Host { fd, write },
        Kind::Stdout(super::ctx::Output::Stdout(_) | super::ctx::Output::Stderr(_)) => {
            // Terminals and pipes are writable almost always; ask the host
            // without blocking, and otherwise wait with the rest.
            match e.host_fd() {
                Some(h) if host_ready(h, write) => Wait::Ready(Errno::Success, 0, 0),
                _ => Wait::Host { fd, write },
            }
        }
        Kind::Stdin(_) | Kind::Stdout(_) => Wait::Ready(Errno::Success, 0, 0),
    }
}
