//! CLIF-level checks of what matters: bounds checks, trap sites, and the
//! three `call_indirect` checks.

use kiln_compiler::{BoundsChecks, Compiler, CompilerOptions, OptLevel};
use kiln_environ::{DefinedFuncIndex, ModuleInfo, TrapCode, WasmFeatureSet};
use wast::parser::{self, ParseBuffer};

fn wasm(wat: &str) -> Vec<u8> {
    let buf = ParseBuffer::new(wat).unwrap();
    let mut module = parser::parse::<wast::Wat>(&buf).unwrap();
    module.encode().unwrap()
}

fn compiler(bounds: BoundsChecks) -> Compiler {
    Compiler::native(CompilerOptions { opt_level: OptLevel::Speed, bounds, verifier: true, ..Default::default() })
        .unwrap()
}

const GUARD: BoundsChecks = BoundsChecks::Guard { reservation: 1 << 32, guard: 32 << 20 };

/// The CLIF of defined function 0 of `wat`.
fn clif(wat: &str, bounds: BoundsChecks) -> String {
    let bytes = wasm(wat);
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).unwrap();
    compiler(bounds).translate_function(&info, &bytes, DefinedFuncIndex(0)).unwrap().display().to_string()
}

/// Lines of `clif` that are `trapnz`/`trapz` with kiln trap `code`.
fn traps_with(clif: &str, code: TrapCode) -> usize {
    let name = format!("user{}", code.to_u8());
    clif.lines().filter(|l| (l.contains("trapnz") || l.contains("trapz")) && l.trim_end().ends_with(&name)).count()
}

const LOAD0: &str = "(module (memory 1) (func (param i32) (result i32) local.get 0 i32.load))";

#[test]
fn guard_mode_load_has_no_explicit_check() {
    let s = clif(LOAD0, GUARD);
    assert_eq!(traps_with(&s, TrapCode::MemoryOutOfBounds), 0, "{s}");
    // The only compare is the entry epoch check.
    assert_eq!(s.matches("icmp").count(), 1, "{s}");
    assert_eq!(traps_with(&s, TrapCode::Interrupt), 1, "{s}");
    // The wasm load is neither `aligned` nor `notrap`, and little-endian.
    let load = s.lines().find(|l| l.contains("load.i32")).unwrap();
    assert!(!load.contains("aligned") && !load.contains("notrap") && load.contains("little"), "{load}");
}

#[test]
fn explicit_mode_load_has_one_check() {
    let s = clif(LOAD0, BoundsChecks::Explicit);
    assert_eq!(traps_with(&s, TrapCode::MemoryOutOfBounds), 1, "{s}");
    assert!(s.contains("icmp ugt"), "{s}");
}

#[test]
fn small_reservation_or_large_offset_needs_a_check() {
    let small = BoundsChecks::Guard { reservation: 1 << 20, guard: 64 << 10 };
    assert_eq!(traps_with(&clif(LOAD0, small), TrapCode::MemoryOutOfBounds), 1);
    let far = "(module (memory 1) (func (param i32) (result i32) local.get 0 i32.load offset=0x7fffffff))";
    assert_eq!(traps_with(&clif(far, GUARD), TrapCode::MemoryOutOfBounds), 1);
    // offset + size == guard: still elided; one byte more: checked.
    let edge = "(module (memory 1) (func (param i32) (result i32) local.get 0 i32.load offset=33554428))";
    assert_eq!(traps_with(&clif(edge, GUARD), TrapCode::MemoryOutOfBounds), 0);
    let over = "(module (memory 1) (func (param i32) (result i32) local.get 0 i32.load offset=33554429))";
    assert_eq!(traps_with(&clif(over, GUARD), TrapCode::MemoryOutOfBounds), 1);
}

#[test]
fn guard_mode_trap_table_has_the_load() {
    let bytes = wasm(LOAD0);
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).unwrap();
    let f = compiler(GUARD).compile_function(&info, &bytes, DefinedFuncIndex(0)).unwrap();
    assert!(f.traps.iter().any(|t| t.code == TrapCode::MemoryOutOfBounds), "{:?}", f.traps);
    assert!(f.traps.iter().any(|t| t.code == TrapCode::Interrupt), "{:?}", f.traps);
    assert!(f.traps.iter().all(|t| (t.code_offset as usize) < f.code.len()));
    assert!(f.relocs.is_empty(), "{:?}", f.relocs);
}

#[test]
fn call_indirect_emits_three_checks() {
    let wat = "(module (type $t (func (param i32) (result i32))) (table 4 funcref)
        (func (param i32 i32) (result i32) local.get 0 local.get 1 call_indirect (type $t)))";
    let s = clif(wat, GUARD);
    assert_eq!(traps_with(&s, TrapCode::UndefinedElement), 1, "{s}");
    assert_eq!(traps_with(&s, TrapCode::UninitializedElement), 1, "{s}");
    assert_eq!(traps_with(&s, TrapCode::BadSignature), 1, "{s}");
    assert!(s.contains("call_indirect"), "{s}");
    let bytes = wasm(wat);
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).unwrap();
    let f = compiler(GUARD).compile_function(&info, &bytes, DefinedFuncIndex(0)).unwrap();
    // A non-leaf function checks the stack limit in its prologue.
    for code in
        [TrapCode::UndefinedElement, TrapCode::UninitializedElement, TrapCode::BadSignature, TrapCode::StackOverflow]
    {
        assert!(f.traps.iter().any(|t| t.code == code), "{code:?} missing: {:?}", f.traps);
    }
}

#[test]
fn traps_of_arithmetic_are_recorded() {
    let wat = "(module (func (param i32 i32 f64) (result i32) local.get 0 local.get 1 i32.div_s local.get 2 i32.trunc_f64_s i32.add))";
    let bytes = wasm(wat);
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).unwrap();
    let f = compiler(GUARD).compile_function(&info, &bytes, DefinedFuncIndex(0)).unwrap();
    for code in [TrapCode::IntegerDivisionByZero, TrapCode::IntegerOverflow, TrapCode::BadConversionToInteger] {
        assert!(f.traps.iter().any(|t| t.code == code), "{code:?} missing: {:?}", f.traps);
    }
}

#[test]
fn loops_check_the_epoch_and_builtins_trap_on_status() {
    let wat = "(module (memory 1) (func (param i32) (loop local.get 0 br_if 0) local.get 0 i32.const 0 i32.const 1 memory.fill))";
    let s = clif(wat, GUARD);
    assert_eq!(traps_with(&s, TrapCode::Interrupt), 2, "{s}");
    assert!(s.contains("br_table"), "{s}");
    let wat = "(module (memory 1) (func (param i32) (result i32) local.get 0 memory.grow))";
    let s = clif(wat, GUARD);
    assert!(s.contains("call_indirect") && !s.contains("br_table"), "{s}");
}

#[test]
fn cross_compiles_for_aarch64() {
    let bytes = wasm(LOAD0);
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).unwrap();
    let c = Compiler::for_target(
        "aarch64-unknown-linux-gnu",
        CompilerOptions { verifier: true, ..CompilerOptions::default() },
    )
    .unwrap();
    let f = c.compile_function(&info, &bytes, DefinedFuncIndex(0)).unwrap();
    assert!(f.traps.iter().any(|t| t.code == TrapCode::MemoryOutOfBounds));
    assert_eq!(c.triple(), "aarch64-unknown-linux-gnu");
}

/// The deadline is loaded at entry and after calls only (loop headers
/// compare with the cached value); without epoch interruption there is no
/// check at all.
#[test]
fn epoch_deadline_is_cached_and_checks_can_be_disabled() {
    let wat =
        "(module (func $f (param i32) (loop local.get 0 br_if 0) local.get 0 call $f (loop local.get 0 br_if 0)))";
    let bytes = wasm(wat);
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).unwrap();
    let translate = |epoch_interruption: bool| {
        let opts = CompilerOptions { bounds: GUARD, verifier: true, epoch_interruption, ..Default::default() };
        let f = Compiler::native(opts).unwrap().translate_function(&info, &bytes, DefinedFuncIndex(0)).unwrap();
        f.display().to_string()
    };
    let on = translate(true);
    // Entry + two loop headers check; the deadline (its offset in the store
    // context) is loaded at entry and after the call.
    let deadline = kiln_environ::vm::VMStoreContextLayout::for_target(kiln_environ::vm::PtrSize::HOST).epoch_deadline;
    let suffix = format!("+{deadline}");
    assert_eq!(traps_with(&on, TrapCode::Interrupt), 3, "{on}");
    assert_eq!(on.lines().filter(|l| l.contains("atomic_load")).count(), 3, "{on}");
    assert_eq!(
        on.lines()
            .filter(|l| l.contains("load.i64 notrap aligned region1 ") && l.trim_end().ends_with(&suffix))
            .count(),
        2,
        "{on}"
    );
    let off = translate(false);
    assert_eq!(traps_with(&off, TrapCode::Interrupt), 0, "{off}");
    assert!(!off.contains("atomic_load"), "{off}");
}
