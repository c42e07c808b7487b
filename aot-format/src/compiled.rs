//! The compiled-module model: machine code of a module's functions and
//! trampolines with everything needed to link it — relocations, trap sites
//! — described once for every producer and consumer.
//!
//! * The compiler (`kiln-compiler`) produces one [`CompiledCode`] per
//!   function or trampoline; the engine groups them into a
//!   [`CompiledModule`] (a whole module for `jit` and `aotc`, one function
//!   and its trampoline for a tier-up, one OSR entry).
//! * The runtime links a [`CompiledModule`] in memory
//!   (`kiln_runtime::native_code::NativeCode::load`): lays the code out, resolves
//!   every [`RelocTarget`], publishes it W^X and registers its trap sites.
//! * The `.aot` writer ([`crate::file::write_aot`]) serialises one,
//!   and [`crate::file::AotFile::compiled_module`] reads it back with
//!   its code borrowed from the file, for the same linker.
//!
//! No Cranelift types appear here: the compiler maps Cranelift's
//! `FinalizedMachReloc` kinds and library calls to [`RelocKind`] and
//! [`LibCall`] (and refuses any other kind with a clear error).

use kiln_environ::{DefinedFuncIndex, LibCall, TrapCode};
use std::borrow::Cow;

/// What a piece of compiled code is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CodeKind {
    /// A defined wasm function (wasm-call ABI); its `index` is its function
    /// index in the module's function space.
    Function = 0,
    /// An array→wasm trampoline (array-call ABI) for the module type
    /// `index`: how the host, the interpreter and other tiers enter
    /// compiled code.
    ArrayToWasm = 1,
    /// A wasm→array trampoline (wasm-call ABI) for the module type `index`:
    /// what compiled calls use for callees without native code.
    WasmToArray = 2,
    /// The on-stack-replacement entry of the function with index `index`
    /// (see `kiln_compiler::Compiler::compile_osr_entry`). Produced only by
    /// tier-up; never stored in an `.aot` file.
    OsrEntry = 3,
}

impl CodeKind {
    /// The kind encoded as `b` (its discriminant), if any.
    pub fn from_u8(b: u8) -> Option<CodeKind> {
        Some(match b {
            0 => CodeKind::Function,
            1 => CodeKind::ArrayToWasm,
            2 => CodeKind::WasmToArray,
            3 => CodeKind::OsrEntry,
            _ => return None,
        })
    }

    /// Whether code of this kind runs a wasm function's body (so a trap or
    /// frame in it is reported with the function's index).
    pub fn is_wasm_function(self) -> bool {
        matches!(self, CodeKind::Function | CodeKind::OsrEntry)
    }
}

/// How a relocation is patched: the subset of Cranelift's `Reloc` that
/// kiln's code uses (FORMAT.md, "Relocations").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RelocKind {
    /// 64-bit absolute address (Cranelift `Abs8`): `target + addend`.
    Abs8 = 1,
    /// x86-64 32-bit PC-relative (`X86PCRel4`): `target + addend - site`.
    X86PCRel4 = 2,
    /// x86-64 32-bit PC-relative call (`X86CallPCRel4`, `X86CallPLTRel4`):
    /// `target + addend - site`.
    X86CallPCRel4 = 3,
    /// AArch64 `bl`/`b` (`Arm64Call`): the low 26 bits of the instruction
    /// word get `(target + addend - site) / 4` (±128 MiB).
    Arm64Call = 4,
}

impl RelocKind {
    /// Bytes patched at the site.
    pub fn size(self) -> u32 {
        match self {
            RelocKind::Abs8 => 8,
            _ => 4,
        }
    }

    /// The kind encoded as `b` (its discriminant), if any.
    pub fn from_u8(b: u8) -> Option<RelocKind> {
        Some(match b {
            1 => RelocKind::Abs8,
            2 => RelocKind::X86PCRel4,
            3 => RelocKind::X86CallPCRel4,
            4 => RelocKind::Arm64Call,
            _ => return None,
        })
    }

    /// Whether the patched value depends on the site's address.
    pub fn is_pc_relative(self) -> bool {
        self != RelocKind::Abs8
    }

    /// Whether a displacement `delta = target + addend - site` can be
    /// encoded by this kind (always true for [`RelocKind::Abs8`]).
    pub fn fits(self, delta: i64) -> bool {
        match self {
            RelocKind::Abs8 => true,
            RelocKind::X86PCRel4 | RelocKind::X86CallPCRel4 => i32::try_from(delta).is_ok(),
            RelocKind::Arm64Call => delta % 4 == 0 && (-(1i64 << 27)..(1i64 << 27)).contains(&delta),
        }
    }
}

/// What a relocation refers to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RelocTarget {
    /// A runtime library call (e.g. `FloorF32` without SSE4.1), resolved
    /// by the loader to the runtime's implementation.
    LibCall(LibCall),
    /// The code of a defined function of the same module (direct calls):
    /// resolved through [`CompiledModule::defined`].
    Function(DefinedFuncIndex),
    /// The wasm→array trampoline of the module type with this index
    /// (funcref calls use it while the callee's `wasm_call` is null):
    /// resolved through [`CompiledModule::type_trampolines`] if the module
    /// carries one, else by the linker's caller (the engine's shared
    /// trampolines, for the JIT).
    Trampoline(u32),
    /// The start of entry `n` of the same [`CompiledModule::code`] (what
    /// the other internal targets become once the module is laid out; the
    /// form an `.aot` file stores).
    Code(u32),
}

/// A relocation of one [`CompiledCode`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Relocation {
    /// Byte offset of the patched bytes from the start of the code.
    pub offset: u32,
    /// How to patch.
    pub kind: RelocKind,
    /// What is referred to.
    pub target: RelocTarget,
    /// Added to the target's address.
    pub addend: i64,
}

/// A place in compiled code that can trap.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TrapSite {
    /// Byte offset of the trapping instruction from the start of the code.
    pub code_offset: u32,
    /// The trap raised when the instruction at `code_offset` faults.
    pub code: TrapCode,
}

/// One compiled function or trampoline: machine code with its entry at
/// offset 0. `'a` is the lifetime of borrowed code (an `.aot` file's
/// text); code from the compiler is owned (`CompiledCode<'static>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledCode<'a> {
    pub kind: CodeKind,
    /// Function index ([`CodeKind::Function`], [`CodeKind::OsrEntry`]) or
    /// module type index (trampolines).
    pub index: u32,
    /// The machine code.
    pub code: Cow<'a, [u8]>,
    /// Required alignment of the code in bytes (a power of two; 0 means 1).
    pub alignment: u32,
    /// Every instruction that can trap, sorted by offset (owned from the
    /// compiler, borrowed from an `.aot` file's trap table).
    pub traps: Cow<'a, [TrapSite]>,
    /// Relocations to resolve before the code runs (usually few:
    /// everything else is reached through the VMContext); owned or
    /// borrowed as `traps`.
    pub relocs: Cow<'a, [Relocation]>,
}

/// The entries of one defined function in a [`CompiledModule`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DefinedEntry {
    /// Which function.
    pub func: DefinedFuncIndex,
    /// Its code: an index into [`CompiledModule::code`].
    pub code: u32,
    /// The array→wasm trampoline of its type: an index into
    /// [`CompiledModule::code`].
    pub array_to_wasm: u32,
}

/// Compiled code of a module, or of part of one (a tier-up batch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompiledModule<'a> {
    /// Functions and trampolines, in layout order.
    pub code: Vec<CompiledCode<'a>>,
    /// The defined functions this batch provides entries for (every
    /// defined function in order for a whole module; one for a tier-up;
    /// none for an OSR entry or a batch of trampolines).
    pub defined: Vec<DefinedEntry>,
    /// For each module type, its wasm→array trampoline in `code`, if the
    /// batch carries one (an `.aot` file carries every one its code
    /// needs; the JIT links the engine's shared ones instead). May be
    /// shorter than the type section.
    pub type_trampolines: Vec<Option<u32>>,
}

impl CompiledModule<'_> {
    /// The entry of [`CompiledModule::code`] that an internal `target`
    /// refers to: `Some(Ok(n))`; `Some(Err(why))` for an internal target
    /// this batch does not contain (a function it has no entry for, an
    /// entry out of range); `None` for targets outside the batch (library
    /// calls, and trampolines the batch does not carry).
    pub fn internal_target(&self, target: RelocTarget) -> Option<Result<u32, String>> {
        let n = self.code.len();
        let entry = match target {
            RelocTarget::LibCall(_) => return None,
            RelocTarget::Code(j) => j,
            RelocTarget::Function(def) => {
                let d = self.defined.get(def.index()).filter(|d| d.func == def);
                match d.or_else(|| self.defined.iter().find(|d| d.func == def)) {
                    Some(d) => d.code,
                    None => return Some(Err(format!("relocation to defined function {} outside the batch", def.0))),
                }
            }
            RelocTarget::Trampoline(ty) => self.type_trampolines.get(ty as usize).copied().flatten()?,
        };
        Some(if (entry as usize) < n { Ok(entry) } else { Err(format!("relocation to code entry {entry} of {n}")) })
    }

    /// The function index to report for code entry `i` in backtraces and
    /// the code registry (`None` for trampolines).
    pub fn func_index(&self, i: usize) -> Option<u32> {
        self.code.get(i).filter(|c| c.kind.is_wasm_function()).map(|c| c.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(kind: CodeKind, index: u32) -> CompiledCode<'static> {
        CompiledCode {
            kind,
            index,
            code: Cow::Owned(vec![0xc3]),
            alignment: 16,
            traps: Cow::Owned(vec![]),
            relocs: Cow::Owned(vec![]),
        }
    }

    #[test]
    fn internal_targets_resolve_through_the_batch() {
        let m = CompiledModule {
            code: vec![code(CodeKind::Function, 3), code(CodeKind::ArrayToWasm, 0), code(CodeKind::WasmToArray, 1)],
            defined: vec![DefinedEntry { func: DefinedFuncIndex(2), code: 0, array_to_wasm: 1 }],
            type_trampolines: vec![None, Some(2)],
        };
        assert_eq!(m.internal_target(RelocTarget::LibCall(LibCall::FloorF32)), None);
        assert_eq!(m.internal_target(RelocTarget::Function(DefinedFuncIndex(2))), Some(Ok(0)));
        assert!(m.internal_target(RelocTarget::Function(DefinedFuncIndex(0))).unwrap().is_err());
        assert_eq!(m.internal_target(RelocTarget::Trampoline(1)), Some(Ok(2)));
        assert_eq!(m.internal_target(RelocTarget::Trampoline(0)), None);
        assert_eq!(m.internal_target(RelocTarget::Trampoline(7)), None);
        assert_eq!(m.internal_target(RelocTarget::Code(1)), Some(Ok(1)));
        assert!(m.internal_target(RelocTarget::Code(3)).unwrap().is_err());
        assert_eq!(m.func_index(0), Some(3));
        assert_eq!(m.func_index(1), None);
    }

    #[test]
    fn displacement_limits() {
        assert!(RelocKind::Abs8.fits(i64::MAX));
        assert!(RelocKind::X86PCRel4.fits(i32::MIN as i64) && !RelocKind::X86PCRel4.fits(1 << 31));
        assert!(RelocKind::Arm64Call.fits(-(1 << 27)) && !RelocKind::Arm64Call.fits(1 << 27));
        assert!(!RelocKind::Arm64Call.fits(2));
        for k in [RelocKind::Abs8, RelocKind::X86PCRel4, RelocKind::X86CallPCRel4, RelocKind::Arm64Call] {
            assert_eq!(RelocKind::from_u8(k as u8), Some(k));
        }
        for k in [CodeKind::Function, CodeKind::ArrayToWasm, CodeKind::WasmToArray, CodeKind::OsrEntry] {
            assert_eq!(CodeKind::from_u8(k as u8), Some(k));
        }
    }
}
