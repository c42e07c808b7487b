//! Little-endian byte encoding for `.aot` files: a [`Writer`] that appends
//! to a `Vec<u8>`, and a [`Reader`] over a byte slice whose every read is
//! bounds-checked and returns an [`AotError`] instead of panicking.
//!
//! Encodings (FORMAT.md, "Primitive encodings"): integers are fixed-width
//! little-endian (`u8`, `u16`, `u32`, `u64`, `i64`); a *string* is a `u32`
//! byte length followed by that many bytes of UTF-8; a *byte vector* is a
//! `u32` length followed by the bytes.

use crate::AotError;

/// Appends little-endian values to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A `u32` length (which must fit: callers' counts come from wasm
    /// limits or from `usize` sizes below 4 GiB; panics otherwise).
    pub fn len32(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("length fits in u32"));
    }
    /// A string: `u32` length, UTF-8 bytes.
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    /// A byte vector: `u32` length, bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.len32(b.len());
        self.buf.extend_from_slice(b);
    }
    /// Raw bytes, no length.
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Zero bytes up to a multiple of `align` (a power of two).
    pub fn align(&mut self, align: usize) {
        let n = self.buf.len().next_multiple_of(align);
        self.buf.resize(n, 0);
    }
}

/// Reads little-endian values from a byte slice, bounds-checked.
///
/// `what` names the part of the file being read; errors say which part and
/// at which offset within it the data ran out or was invalid.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`, a part of the file called `what`
    /// in error messages.
    pub fn new(data: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { data, pos: 0, what }
    }
    /// Current position from the start of the slice.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    /// Whether every byte was read.
    pub fn is_at_end(&self) -> bool {
        self.pos == self.data.len()
    }
    /// An error at the current position.
    pub fn error(&self, message: impl Into<String>) -> AotError {
        AotError::Malformed(format!("{} at byte {}: {}", self.what, self.pos, message.into()))
    }
    /// The next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], AotError> {
        if n > self.remaining() {
            return Err(self.error(format!("{n} bytes needed, {} left", self.remaining())));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], AotError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    #[inline]
    pub fn u8(&mut self) -> Result<u8, AotError> {
        Ok(self.array::<1>()?[0])
    }
    #[inline]
    pub fn u16(&mut self) -> Result<u16, AotError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    #[inline]
    pub fn u32(&mut self) -> Result<u32, AotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    #[inline]
    pub fn u64(&mut self) -> Result<u64, AotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    #[inline]
    pub fn i64(&mut self) -> Result<i64, AotError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// A bool encoded as one byte, 0 or 1.
    pub fn bool(&mut self) -> Result<bool, AotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.error(format!("boolean byte {b}"))),
        }
    }
    /// A `u32` count of items each at least `min_item_bytes` long, checked
    /// against the bytes left (so a corrupt count cannot make the caller
    /// allocate gigabytes before failing).
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, AotError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(self.error(format!("count {n} exceeds the {} bytes left", self.remaining())));
        }
        Ok(n)
    }
    /// A byte vector (`u32` length, bytes).
    pub fn bytes(&mut self) -> Result<&'a [u8], AotError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A string (`u32` length, UTF-8 bytes).
    pub fn str(&mut self) -> Result<&'a str, AotError> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.error("string is not UTF-8"))
    }
    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), AotError> {
        if self.is_at_end() { Ok(()) } else { Err(self.error(format!("{} trailing bytes", self.remaining()))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut w = Writer::new();
        w.u8(7);
        w.u16(0x1234);
        w.u32(0xdead_beef);
        w.u64(u64::MAX - 1);
        w.i64(-5);
        w.str("héllo");
        w.bytes(&[1, 2, 3]);
        let mut r = Reader::new(&w.buf, "test");
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 0x1234);
        assert_eq!(r.u32().unwrap(), 0xdead_beef);
        assert_eq!(r.u64().unwrap(), u64::MAX - 1);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.str().unwrap(), "héllo");
        assert_eq!(r.bytes().unwrap(), &[1, 2, 3]);
        r.finish().unwrap();
        assert!(r.u8().is_err());
        // A length beyond the end, a huge count, bad UTF-8, a bad bool.
        let mut r = Reader::new(&[9, 0, 0, 0, 1], "t");
        assert!(r.bytes().unwrap_err().to_string().contains("9 bytes needed"));
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff], "t").count(1).is_err());
        assert!(Reader::new(&[1, 0, 0, 0, 0xff], "t").str().is_err());
        assert!(Reader::new(&[2], "t").bool().is_err());
    }
}
