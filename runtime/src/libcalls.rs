//! Runtime helpers ("libcalls") for the operations generated code does not
//! inline: `memory.grow`/`size`, bulk memory, table operations. The
//! interpreter calls them directly; compiled code will reach the same
//! functions through the VMContext's builtin table.
//!
//! Each takes the calling instance and the wasm operands, and returns the
//! spec's result or the trap code (spec §4.4.6 "Table Instructions",
//! §4.4.7 "Memory Instructions"). Bounds are checked with 64-bit
//! arithmetic before anything is written, so a trapping bulk operation
//! changes nothing.

use crate::instance::Instance;
use kiln_environ::TrapCode;

type R<T> = Result<T, TrapCode>;

#[inline]
fn in_bounds(start: u32, len: u32, size: u64) -> bool {
    start as u64 + len as u64 <= size
}

/// `memory.size` in pages.
///
/// # Safety
/// `inst` is a live instance whose store is not otherwise borrowed; the
/// indices are validated.
pub unsafe fn memory_size(inst: *mut Instance, mem: u32) -> u32 {
    // SAFETY: per the contract.
    unsafe {
        let store = (*inst).store();
        (&(*store).memories)[(&(*inst).memories)[mem as usize]].pages() as u32
    }
}

/// `memory.grow`: the old size in pages, or -1.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn memory_grow(inst: *mut Instance, mem: u32, delta: u32) -> i32 {
    // SAFETY: per the contract.
    unsafe {
        let store = (*inst).store();
        match (&mut (*store).memories)[(&(*inst).memories)[mem as usize]].grow(delta as u64) {
            Some(old) => old as i32,
            None => -1,
        }
    }
}

/// `memory.fill`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn memory_fill(inst: *mut Instance, mem: u32, dst: u32, val: u8, len: u32) -> R<()> {
    // SAFETY: per the contract; the range is checked against the memory.
    unsafe {
        let def = &*(*inst).memory_def(mem);
        if !in_bounds(dst, len, def.current_length as u64) {
            return Err(TrapCode::MemoryOutOfBounds);
        }
        core::ptr::write_bytes(def.base.add(dst as usize), val, len as usize);
    }
    Ok(())
}

/// `memory.copy` (possibly overlapping).
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn memory_copy(inst: *mut Instance, dst_mem: u32, dst: u32, src_mem: u32, src: u32, len: u32) -> R<()> {
    // SAFETY: per the contract; both ranges are checked.
    unsafe {
        let d = &*(*inst).memory_def(dst_mem);
        let s = &*(*inst).memory_def(src_mem);
        if !in_bounds(dst, len, d.current_length as u64) || !in_bounds(src, len, s.current_length as u64) {
            return Err(TrapCode::MemoryOutOfBounds);
        }
        core::ptr::copy(s.base.add(src as usize), d.base.add(dst as usize), len as usize);
    }
    Ok(())
}

/// `memory.init` from data segment `data`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn memory_init(inst: *mut Instance, mem: u32, data: u32, dst: u32, src: u32, len: u32) -> R<()> {
    // SAFETY: per the contract; both ranges are checked. The segment
    // bytes belong to the module, never to the memory.
    unsafe {
        let seg = (*inst).data_segment(data);
        let d = &*(*inst).memory_def(mem);
        if !in_bounds(src, len, seg.len() as u64) || !in_bounds(dst, len, d.current_length as u64) {
            return Err(TrapCode::MemoryOutOfBounds);
        }
        core::ptr::copy_nonoverlapping(seg.as_ptr().add(src as usize), d.base.add(dst as usize), len as usize);
    }
    Ok(())
}

/// `data.drop`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn data_drop(inst: *mut Instance, data: u32) {
    // SAFETY: per the contract.
    unsafe { (*inst).drop_data(data) }
}

/// `table.get`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn table_get(inst: *mut Instance, table: u32, index: u32) -> R<usize> {
    // SAFETY: per the contract; the index is checked.
    unsafe {
        let def = &*(*inst).table_def(table);
        if index as usize >= def.current_elements {
            return Err(TrapCode::TableOutOfBounds);
        }
        Ok(*def.base.add(index as usize))
    }
}

/// `table.set`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn table_set(inst: *mut Instance, table: u32, index: u32, val: usize) -> R<()> {
    // SAFETY: per the contract; the index is checked.
    unsafe {
        let def = &*(*inst).table_def(table);
        if index as usize >= def.current_elements {
            return Err(TrapCode::TableOutOfBounds);
        }
        *def.base.add(index as usize) = val;
    }
    Ok(())
}

/// `table.size`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn table_size(inst: *mut Instance, table: u32) -> u32 {
    // SAFETY: per the contract.
    unsafe { (*(*inst).table_def(table)).current_elements as u32 }
}

/// `table.grow`: the old size, or -1.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn table_grow(inst: *mut Instance, table: u32, init: usize, delta: u32) -> i32 {
    // SAFETY: per the contract.
    unsafe {
        let store = (*inst).store();
        match (&mut (*store).tables)[(&(*inst).tables)[table as usize]].grow(delta as u64, init) {
            Some(old) => old as i32,
            None => -1,
        }
    }
}

/// `table.fill`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn table_fill(inst: *mut Instance, table: u32, index: u32, val: usize, len: u32) -> R<()> {
    // SAFETY: per the contract; the range is checked.
    unsafe {
        let def = &*(*inst).table_def(table);
        if !in_bounds(index, len, def.current_elements as u64) {
            return Err(TrapCode::TableOutOfBounds);
        }
        core::slice::from_raw_parts_mut(def.base.add(index as usize), len as usize).fill(val);
    }
    Ok(())
}

/// `table.copy` (possibly overlapping).
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn table_copy(inst: *mut Instance, dst_table: u32, dst: u32, src_table: u32, src: u32, len: u32) -> R<()> {
    // SAFETY: per the contract; both ranges are checked.
    unsafe {
        let d = &*(*inst).table_def(dst_table);
        let s = &*(*inst).table_def(src_table);
        if !in_bounds(dst, len, d.current_elements as u64) || !in_bounds(src, len, s.current_elements as u64) {
            return Err(TrapCode::TableOutOfBounds);
        }
        core::ptr::copy(s.base.add(src as usize), d.base.add(dst as usize), len as usize);
    }
    Ok(())
}

/// `table.init` from element segment `elem`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn table_init(inst: *mut Instance, table: u32, elem: u32, dst: u32, src: u32, len: u32) -> R<()> {
    // SAFETY: per the contract; both ranges are checked. Segment items
    // live in the instance, never in the table.
    unsafe {
        let seg = (*inst).elem_segment(elem);
        let d = &*(*inst).table_def(table);
        if !in_bounds(src, len, seg.len() as u64) || !in_bounds(dst, len, d.current_elements as u64) {
            return Err(TrapCode::TableOutOfBounds);
        }
        core::ptr::copy_nonoverlapping(seg.as_ptr().add(src as usize), d.base.add(dst as usize), len as usize);
    }
    Ok(())
}

/// `elem.drop`.
///
/// # Safety
/// As for [`memory_size`].
pub unsafe fn elem_drop(inst: *mut Instance, elem: u32) {
    // SAFETY: per the contract.
    unsafe { (*inst).drop_elem(elem) }
}
