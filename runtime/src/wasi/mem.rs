//! Bounds-checked access to a guest's linear memory.
//!
//! Every guest pointer and length goes through [`GuestMemory`], which turns
//! an out-of-bounds range into [`Errno::Fault`] (arithmetic on guest values
//! is checked, so wrap-around is a fault too). Unaligned pointers are
//! accepted: linear memory has no alignment requirement.

use super::abi::{Errno, IOVEC_SIZE, WasiResult};
use std::ops::Range;

/// A guest's linear memory (`&mut [u8]`, offsets are guest addresses).
pub struct GuestMemory<'a> {
    data: &'a mut [u8],
}

/// One `iovec`/`ciovec` of a guest, already checked to lie in memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Iovec {
    /// Guest address of the buffer.
    pub ptr: u32,
    /// Length in bytes.
    pub len: u32,
}

/// Limit on the bytes one scatter/gather call moves through a host buffer
/// (a shorter transfer is a valid partial read or write).
pub(crate) const MAX_TRANSFER: usize = 64 << 20;

impl<'a> GuestMemory<'a> {
    /// A view of `data`.
    pub fn new(data: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { data }
    }

    /// Size of memory in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether memory is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The byte range `[ptr, ptr + len)`, or [`Errno::Fault`].
    pub fn range(&self, ptr: u32, len: u32) -> WasiResult<Range<usize>> {
        let start = ptr as usize;
        let end = start.checked_add(len as usize).ok_or(Errno::Fault)?;
        if end > self.data.len() {
            return Err(Errno::Fault);
        }
        Ok(start..end)
    }

    /// The range for `count` elements of `size` bytes at `ptr`.
    pub fn array_range(&self, ptr: u32, count: u32, size: u32) -> WasiResult<Range<usize>> {
        let bytes = u32::try_from(u64::from(count) * u64::from(size)).map_err(|_| Errno::Fault)?;
        self.range(ptr, bytes)
    }

    /// `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> WasiResult<&[u8]> {
        let r = self.range(ptr, len)?;
        Ok(&self.data[r])
    }

    /// `len` bytes at `ptr`, mutably.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> WasiResult<&mut [u8]> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.data[r])
    }

    /// Fails with [`Errno::Fault`] unless `[ptr, ptr + len)` is in memory
    /// (used to check result pointers before doing anything irreversible).
    pub fn check(&self, ptr: u32, len: u32) -> WasiResult<()> {
        self.range(ptr, len).map(|_| ())
    }

    /// Copies `bytes` to `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> WasiResult<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    fn read_array<const N: usize>(&self, ptr: u32) -> WasiResult<[u8; N]> {
        let s = self.slice(ptr, N as u32)?;
        let mut b = [0u8; N];
        b.copy_from_slice(s);
        Ok(b)
    }

    /// A little-endian `u8` at `ptr`.
    pub fn read_u8(&self, ptr: u32) -> WasiResult<u8> {
        Ok(self.read_array::<1>(ptr)?[0])
    }
    /// A little-endian `u16` at `ptr`.
    pub fn read_u16(&self, ptr: u32) -> WasiResult<u16> {
        Ok(u16::from_le_bytes(self.read_array(ptr)?))
    }
    /// A little-endian `u32` at `ptr`.
    pub fn read_u32(&self, ptr: u32) -> WasiResult<u32> {
        Ok(u32::from_le_bytes(self.read_array(ptr)?))
    }
    /// A little-endian `u64` at `ptr`.
    pub fn read_u64(&self, ptr: u32) -> WasiResult<u64> {
        Ok(u64::from_le_bytes(self.read_array(ptr)?))
    }
    /// Stores a little-endian `u32` at `ptr`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> WasiResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }
    /// Stores a little-endian `u64` at `ptr`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> WasiResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// The UTF-8 string of `len` bytes at `ptr` ([`Errno::Ilseq`] when it is
    /// not UTF-8).
    pub fn str(&self, ptr: u32, len: u32) -> WasiResult<&str> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::Ilseq)
    }

    /// The `count` iovecs at `ptr` (8 bytes each), each checked to lie in
    /// memory.
    pub fn iovecs(&self, ptr: u32, count: u32) -> WasiResult<Vec<Iovec>> {
        let r = self.array_range(ptr, count, IOVEC_SIZE)?;
        let mut out = Vec::with_capacity(count as usize);
        for chunk in self.data[r].chunks_exact(IOVEC_SIZE as usize) {
            let buf = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let len = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            self.check(buf, len)?;
            out.push(Iovec { ptr: buf, len });
        }
        Ok(out)
    }

    /// The bytes of `iovs` concatenated, at most `MAX_TRANSFER` of them.
    pub fn gather(&self, iovs: &[Iovec]) -> WasiResult<Vec<u8>> {
        let total: usize = iovs.iter().map(|v| v.len as usize).fold(0usize, usize::saturating_add);
        let mut out = Vec::with_capacity(total.min(MAX_TRANSFER));
        for v in iovs {
            let room = MAX_TRANSFER - out.len();
            if room == 0 {
                break;
            }
            let s = self.slice(v.ptr, v.len)?;
            out.extend_from_slice(&s[..s.len().min(room)]);
        }
        Ok(out)
    }

    /// Copies `bytes` across `iovs` in order; returns how many were copied.
    pub fn scatter(&mut self, iovs: &[Iovec], mut bytes: &[u8]) -> WasiResult<usize> {
        let mut copied = 0;
        for v in iovs {
            if bytes.is_empty() {
                break;
            }
            let n = (v.len as usize).min(bytes.len());
            let dst = self.slice_mut(v.ptr, n as u32)?;
            dst.copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            copied += n;
        }
        Ok(copied)
    }
}

/// Total length of `iovs` for a buffer allocation, capped at
/// [`MAX_TRANSFER`].
pub(crate) fn iov_total(iovs: &[Iovec]) -> usize {
    iovs.iter().map(|v| v.len as usize).fold(0usize, usize::saturating_add).min(MAX_TRANSFER)
}

/// The single non-empty iovec, when there is exactly one (the common case,
/// served without an intermediate buffer).
pub(crate) fn single_iov(iovs: &[Iovec]) -> Option<Iovec> {
    let mut it = iovs.iter().filter(|v| v.len > 0);
    let first = *it.next()?;
    if it.next().is_some() { None } else { Some(first) }
}
