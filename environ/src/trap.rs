//! [`TrapCode`]: every way guest execution can trap, defined once.
//!
//! The message of each kind is the text the official spec test suite uses
//! in `assert_trap` / `assert_exhaustion`. The byte encoding is stable: it is
//! what trap tables in compiled code and `.aot` files store, so values may be
//! added but never renumbered. `0` is never a valid code, so
//! `Option<TrapCode>` and `Result<(), TrapCode>` stay one byte.

/// A kind of trap (spec §4.4 "Instructions", the traps of each instruction;
/// plus the embedder-level traps: stack exhaustion, interrupts).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
#[non_exhaustive]
pub enum TrapCode {
    /// The call stack (interpreter frames or native wasm stack) is exhausted.
    StackOverflow = 1,
    /// A load, store or bulk memory operation went outside linear memory.
    MemoryOutOfBounds = 2,
    /// A table access (`table.get/set/fill/copy/init`, active element
    /// segments) went outside the table.
    TableOutOfBounds = 3,
    /// `call_indirect` with an index beyond the table's size.
    UndefinedElement = 4,
    /// `call_indirect` through a null table entry.
    UninitializedElement = 5,
    /// `call_indirect` whose callee has another type than the expected one.
    BadSignature = 6,
    /// Signed integer division overflow (`INT_MIN / -1`) or a float to int
    /// conversion whose result does not fit.
    IntegerOverflow = 7,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero = 8,
    /// Float to int conversion of NaN.
    BadConversionToInteger = 9,
    /// The `unreachable` instruction was executed.
    UnreachableCodeReached = 10,
    /// Execution was interrupted by the embedder.
    Interrupt = 11,
    // 12 is reserved for running out of fuel (fuel arrives with a later
    // issue; the byte keeps its meaning in trap tables).
    /// An unaligned atomic access (threads proposal; reserved).
    HeapMisaligned = 13,
    /// A null reference was dereferenced (function-references; reserved).
    NullReference = 14,
    /// The runtime reached a state that should be impossible. Reported
    /// instead of panicking the host.
    InternalError = 15,
}

impl TrapCode {
    /// Every trap code, in encoding order.
    pub const ALL: [TrapCode; 14] = [
        TrapCode::StackOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds,
        TrapCode::UndefinedElement,
        TrapCode::UninitializedElement,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::UnreachableCodeReached,
        TrapCode::Interrupt,
        TrapCode::HeapMisaligned,
        TrapCode::NullReference,
        TrapCode::InternalError,
    ];

    /// The message of this trap, as the spec test suite words it.
    pub const fn message(self) -> &'static str {
        match self {
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::UndefinedElement => "undefined element",
            TrapCode::UninitializedElement => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::UnreachableCodeReached => "unreachable",
            TrapCode::Interrupt => "interrupt",
            TrapCode::HeapMisaligned => "misaligned memory access",
            TrapCode::NullReference => "null reference",
            TrapCode::InternalError => "internal error in the runtime",
        }
    }

    /// The stable byte encoding (never 0).
    #[inline]
    pub const fn to_u8(self) -> u8 {
        self as u8
    }

    /// Decodes [`TrapCode::to_u8`]; `None` for bytes that name no trap.
    pub const fn from_u8(byte: u8) -> Option<TrapCode> {
        let mut i = 0;
        while i < Self::ALL.len() {
            if Self::ALL[i] as u8 == byte {
                return Some(Self::ALL[i]);
            }
            i += 1;
        }
        None
    }
}

impl core::fmt::Display for TrapCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for code in TrapCode::ALL {
            assert_ne!(code.to_u8(), 0);
            assert_eq!(TrapCode::from_u8(code.to_u8()), Some(code));
        }
        assert_eq!(TrapCode::from_u8(0), None);
        assert_eq!(TrapCode::from_u8(12), None, "reserved for fuel");
        assert_eq!(TrapCode::from_u8(TrapCode::InternalError as u8 + 1), None);
        assert_eq!(core::mem::size_of::<Option<TrapCode>>(), 1);
    }

    #[test]
    fn messages_match_spec_suite() {
        assert_eq!(TrapCode::IntegerDivisionByZero.to_string(), "integer divide by zero");
        assert_eq!(TrapCode::MemoryOutOfBounds.message(), "out of bounds memory access");
        assert_eq!(TrapCode::StackOverflow.message(), "call stack exhausted");
    }
}
