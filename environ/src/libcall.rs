//! Library calls: the few helpers Cranelift may call by symbol instead of
//! through the builtins table (float rounding on CPUs without SSE4.1, fused
//! multiply-add without FMA). Machine code refers to them through
//! relocations that the loader (JIT or `.aot`) resolves to the runtime's
//! implementations; the one-byte encoding is stable for `.aot` files.

/// A Cranelift library call kiln's code may reference (Cranelift's
/// `ir::LibCall` names).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum LibCall {
    /// `f32.floor` (IEEE 754 roundTowardNegative).
    FloorF32 = 1,
    /// `f64.floor`.
    FloorF64 = 2,
    /// `f32.ceil`.
    CeilF32 = 3,
    /// `f64.ceil`.
    CeilF64 = 4,
    /// `f32.trunc`.
    TruncF32 = 5,
    /// `f64.trunc`.
    TruncF64 = 6,
    /// `f32.nearest` (round half to even).
    NearestF32 = 7,
    /// `f64.nearest`.
    NearestF64 = 8,
    /// Fused multiply-add `a * b + c` (f32).
    FmaF32 = 9,
    /// Fused multiply-add (f64).
    FmaF64 = 10,
}

impl LibCall {
    /// Every library call.
    pub const ALL: [LibCall; 10] = [
        LibCall::FloorF32,
        LibCall::FloorF64,
        LibCall::CeilF32,
        LibCall::CeilF64,
        LibCall::TruncF32,
        LibCall::TruncF64,
        LibCall::NearestF32,
        LibCall::NearestF64,
        LibCall::FmaF32,
        LibCall::FmaF64,
    ];

    /// Cranelift's name for it (`format!("{:?}", ir::LibCall::…)`).
    pub fn name(self) -> &'static str {
        match self {
            LibCall::FloorF32 => "FloorF32",
            LibCall::FloorF64 => "FloorF64",
            LibCall::CeilF32 => "CeilF32",
            LibCall::CeilF64 => "CeilF64",
            LibCall::TruncF32 => "TruncF32",
            LibCall::TruncF64 => "TruncF64",
            LibCall::NearestF32 => "NearestF32",
            LibCall::NearestF64 => "NearestF64",
            LibCall::FmaF32 => "FmaF32",
            LibCall::FmaF64 => "FmaF64",
        }
    }

    /// The library call with Cranelift name `name`.
    pub fn from_name(name: &str) -> Option<LibCall> {
        LibCall::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The stable byte encoding.
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    /// Decodes [`LibCall::to_u8`].
    pub fn from_u8(b: u8) -> Option<LibCall> {
        LibCall::ALL.into_iter().find(|l| l.to_u8() == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for l in LibCall::ALL {
            assert_eq!(LibCall::from_name(l.name()), Some(l));
            assert_eq!(LibCall::from_u8(l.to_u8()), Some(l));
        }
        assert_eq!(LibCall::from_name("Probestack"), None);
        assert_eq!(LibCall::from_u8(0), None);
    }
}
