//! Linear-memory bounds checks.
//!
//! ###################################################################
//! ##  SUBTLE, SECURITY-CRITICAL CODE. A mistake here lets a guest   ##
//! ##  read or write host memory. Change it only with a proof in the ##
//! ##  comments and a test in compiler/tests.                        ##
//! ###################################################################
//!
//! A wasm access `load/store offset=O` of `S` bytes at 32-bit index `i`
//! touches bytes `[i + O, i + O + S)` of the memory, all of which must be
//! `< current_length`, or the access traps with `MemoryOutOfBounds`.
//! `i < 2^32`, `O < 2^32` and `S <= 16`, so `i + O + S < 2^33 + 16`: the
//! sum never overflows 64-bit arithmetic, and we always compute it in
//! `I64` (also on 32-bit targets, where `current_length` is zero-extended).
//!
//! Two strategies:
//!
//! 1. **Guard region** (`BoundsChecks::Guard { reservation, guard }`): the
//!    runtime reserves `reservation` bytes of address space at `base` (the
//!    base never moves) followed by `guard` bytes that are never
//!    accessible; bytes in `[current_length, reservation)` are inaccessible
//!    too. If `reservation >= 2^32` and `O + S <= guard`, then the highest
//!    byte touched is `< 2^32 - 1 + O + S <= reservation + guard`, i.e.
//!    inside the reservation or its guard: an out-of-bounds access faults
//!    (never touches anything else), so **no explicit check** is emitted.
//!    The access instruction carries trap code `HEAP_OUT_OF_BOUNDS`, so its
//!    PC is a recorded trap site (reported as `MemoryOutOfBounds`) that the
//!    runtime's signal handler recognises. This also requires the address
//!    computation itself not to wrap: `base + zext(i) + O` with a 64-bit
//!    pointer cannot wrap for a valid reservation.
//! 2. **Explicit** (or when the conditions above fail): compute
//!    `zext64(i) + (O + S)` and `trapnz (that > zext64(current_length))`
//!    with `MemoryOutOfBounds`, then access `base + zext(i) + O`. After the
//!    check the address is in bounds, so it cannot wrap on 32-bit targets
//!    either.
//!
//! Accesses are never marked `aligned` (wasm allows misaligned accesses)
//! and are explicitly little-endian.

use super::FuncTranslator;
use crate::{BoundsChecks, CompileError};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, TrapCode as ClifTrap, Value, types};
use kiln_environ::TrapCode;

/// 4 GiB: the whole 32-bit index space.
const FOUR_GIB: u64 = 1 << 32;

impl<'a, 'm> FuncTranslator<'a, 'm> {
    /// Whether memory bases never move: a guard configuration whose
    /// reservation covers the whole 32-bit index space (memories grow in
    /// place), on a 64-bit target.
    pub(crate) fn base_is_fixed(&self) -> bool {
        matches!(self.opts.bounds, BoundsChecks::Guard { reservation, .. } if reservation >= FOUR_GIB && self.env.ptr == types::I64)
    }

    /// Whether an access with static `offset` and `size` bytes to a
    /// 32-bit memory needs an explicit bounds check.
    pub(crate) fn needs_explicit_check(&self, offset: u64, size: u32) -> bool {
        match self.opts.bounds {
            BoundsChecks::Explicit => true,
            BoundsChecks::Guard { reservation, guard } => {
                // 64-bit pointers are required: on a 32-bit target there is
                // no 4 GiB reservation to rely on.
                let end = offset.checked_add(u64::from(size));
                !(self.env.ptr == types::I64 && reservation >= FOUR_GIB && matches!(end, Some(e) if e <= guard))
            }
        }
    }

    /// Returns the native address for a `size`-byte access at wasm
    /// address `index` (`I32`) + static `offset` in memory `mem`, emitting
    /// the bounds check the configuration needs (see the module docs),
    /// and the flags the access must use.
    pub(crate) fn heap_addr(
        &mut self,
        mem: u32,
        index: Value,
        offset: u64,
        size: u32,
    ) -> Result<(Value, MemFlagsData), CompileError> {
        if offset >= FOUR_GIB {
            return Err(CompileError::Unsupported(format!("memory offset {offset:#x} beyond 32 bits")));
        }
        let flags = MemFlagsData::new()
            .with_trap_code(Some(ClifTrap::HEAP_OUT_OF_BOUNDS))
            .with_endianness(Endianness::Little)
            .with_alias_region(Some(self.env.regions.heap));
        if self.needs_explicit_check(offset, size) {
            // end = zext64(index) + offset + size; trap if end > length.
            let index64 = self.b.ins().uextend(types::I64, index);
            let end = self.b.ins().iadd_imm_u(index64, (offset + u64::from(size)) as i64);
            let len = self.env.memory_len(&mut self.b, self.vmctx, mem)?;
            let len64 = if self.env.ptr == types::I64 { len } else { self.b.ins().uextend(types::I64, len) };
            let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len64);
            self.trapnz(oob, TrapCode::MemoryOutOfBounds);
        }
        let fixed = self.base_is_fixed();
        let base = self.env.memory_base(&mut self.b, self.vmctx, mem, fixed)?;
        let index_ptr = self.index_to_ptr(index);
        let mut addr = self.b.ins().iadd(base, index_ptr);
        if offset != 0 {
            // Offsets up to 2^31 - 1 could be the load's immediate, but
            // keeping the add explicit is simplest and equally fast on x64
            // (folded into the addressing mode).
            addr = self.b.ins().iadd_imm_u(addr, offset as i64);
        }
        Ok((addr, flags))
    }
}
