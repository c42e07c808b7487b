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

/// One decoded `subscription`: what preview1 and preview0 share (they
/// differ only in layout, see [`decode_subscription`] and
/// `super::preview0`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Subscription {
    /// `subscription::userdata`, returned in the event.
    pub(crate) userdata: u64,
    pub(crate) kind: SubscriptionKind,
}

/// The variant of a [`Subscription`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SubscriptionKind {
    /// `eventtype::clock`: clock `id`, `timeout` in nanoseconds, `flags`
    /// (`subclockflags`). The `precision` is a hint and not kept.
    Clock { id: u32, timeout: u64, flags: u16 },
    /// `eventtype::fd_read` (`write: false`) or `eventtype::fd_write`.
    Fd { fd: u32, write: bool },
}

impl SubscriptionKind {
    /// The `eventtype` of the variant.
    fn eventtype(self) -> u8 {
        match self {
            SubscriptionKind::Clock { .. } => event::CLOCK,
            SubscriptionKind::Fd { write: false, .. } => event::FD_READ,
            SubscriptionKind::Fd { write: true, .. } => event::FD_WRITE,
        }
    }
}

/// Decodes the 48-byte preview1 `subscription` at `at` (layout in
/// [`SUBSCRIPTION_SIZE`]); `EINVAL` for an unknown tag.
pub(crate) fn decode_subscription(mem: &GuestMemory<'_>, at: u32) -> WasiResult<Subscription> {
    decode_subscription_with_clock_at(mem, at, 16)
}

/// Decodes a `subscription` whose clock record (`id: u32`, `timeout: u64`,
/// `precision: u64`, `flags: u16`) starts at byte `clock` (16 in preview1;
/// 24 in preview0, behind its `identifier`); userdata, tag and the fd
/// record are where both ABIs put them.
pub(crate) fn decode_subscription_with_clock_at(
    mem: &GuestMemory<'_>,
    at: u32,
    clock: u32,
) -> WasiResult<Subscription> {
    let field = |off: u32| at.checked_add(off).ok_or(Errno::Fault);
    let userdata = mem.read_u64(at)?;
    let kind = match mem.read_u8(field(8)?)? {
        event::CLOCK => SubscriptionKind::Clock {
            id: mem.read_u32(field(clock)?)?,
            timeout: mem.read_u64(field(clock + 8)?)?,
            flags: mem.read_u16(field(clock + 24)?)?,
        },
        ty @ (event::FD_READ | event::FD_WRITE) => {
            SubscriptionKind::Fd { fd: mem.read_u32(field(16)?)?, write: ty == event::FD_WRITE }
        }
        _ => return Err(Errno::Inval),
    };
    Ok(Subscription { userdata, kind })
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
    poll_oneoff_with(ctx, mem, input, output, nsubscriptions, nevents, SUBSCRIPTION_SIZE, decode_subscription)
}

/// [`poll_oneoff`] over subscriptions of `sub_size` bytes read by `decode`
/// (preview0's are 56 bytes); the events are the same 32 bytes in both.
#[allow(clippy::too_many_arguments)]
pub(crate) fn poll_oneoff_with(
    ctx: &mut WasiCtx,
    mem: &mut [u8],
    input: u32,
    output: u32,
    nsubscriptions: u32,
    nevents: u32,
    sub_size: u32,
    decode: fn(&GuestMemory<'_>, u32) -> WasiResult<Subscription>,
) -> WasiResult<()> {
    let mut mem = GuestMemory::new(mem);
    if nsubscriptions == 0 {
        return Err(Errno::Inval);
    }
    mem.check(nevents, 4)?;
    mem.array_range(input, nsubscriptions, sub_size)?;
    let out_start = mem.array_range(output, nsubscriptions, EVENT_SIZE)?.start;
    let out_start = u32::try_from(out_start).map_err(|_| Errno::Fault)?;
    let mut subs = Vec::with_capacity(nsubscriptions as usize);
    for i in 0..nsubscriptions {
        // In range: the whole array was checked above.
        subs.push(decode(&mem, input + i * sub_size)?);
    }
    let mut count = 0u32;
    for (userdata, ty, (err, nbytes, flags)) in poll(ctx, &subs)? {
        mem.write(out_start + count * EVENT_SIZE, &encode_event(userdata, err, ty, nbytes, flags))?;
        count += 1;
    }
    mem.write_u32(nevents, count)
}

/// A ready event: `(userdata, eventtype, (errno, nbytes, flags))`.
type ReadyEvent = (u64, u8, (Errno, u64, u16));

/// Waits for `subs` (at least one) as [`poll_oneoff`] describes; returns
/// a [`ReadyEvent`] for each that is ready, in subscription order.
fn poll(ctx: &mut WasiCtx, subs: &[Subscription]) -> WasiResult<Vec<ReadyEvent>> {
    let start = Instant::now();
    let subs: Vec<Sub> = subs
        .iter()
        .map(|s| {
            let wait = match s.kind {
                SubscriptionKind::Clock { id, timeout, flags } => match clock_deadline(id, timeout, flags, start) {
                    Ok(t) => Wait::Clock(t),
                    Err(e) => Wait::Ready(e, 0, 0),
                },
                SubscriptionKind::Fd { fd, write } => fd_wait(ctx, fd, write),
            };
            Sub { userdata: s.userdata, ty: s.kind.eventtype(), wait }
        })
        .collect();

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
    Ok(subs.iter().zip(fired).filter_map(|(s, f)| f.map(|f| (s.userdata, s.ty, f))).collect())
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
