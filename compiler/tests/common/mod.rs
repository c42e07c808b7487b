//! Helpers shared by the execution tests.

#![allow(dead_code)]

/// Compiled code mapped read+execute.
pub struct Code {
    pub map: memmap2::Mmap,
    pub offsets: Vec<usize>,
}

/// Copies `funcs` into a fresh read-write mapping (64-byte aligned each),
/// then switches it to read+execute (never writable and executable).
pub fn map_code(funcs: &[Vec<u8>]) -> Code {
    let mut offsets = Vec::new();
    let mut len = 0usize;
    for f in funcs {
        len = (len + 63) & !63;
        offsets.push(len);
        len += f.len();
    }
    let mut map = memmap2::MmapMut::map_anon(len.max(1)).unwrap();
    for (f, off) in funcs.iter().zip(&offsets) {
        map[*off..*off + f.len()].copy_from_slice(f);
    }
    Code { map: map.make_exec().unwrap(), offsets }
}
