//! Real machine code that faults, run under `catch_traps`: the faults come
//! back as traps with the registered trap code, repeatedly, on many threads,
//! and in nested activations. x86_64 and aarch64 Linux.

#![cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]

use std::sync::{Arc, OnceLock};

use kiln_environ::TrapCode;
use kiln_runtime::code_memory::{self, CodeMemory, CodeRegistration};
use kiln_runtime::traphandlers::{TrapInfo, catch_traps, trap_decision};

/// The test functions: (bytes, offset of the trapping instruction, code).
#[cfg(target_arch = "x86_64")]
const FUNCS: [(&[u8], u32, TrapCode); 4] = [
    // mov eax, 42; ret
    (&[0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3], u32::MAX, TrapCode::InternalError),
    // ud2
    (&[0x0f, 0x0b], 0, TrapCode::UnreachableCodeReached),
    // mov rax, [0]; ret
    (&[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0xc3], 0, TrapCode::MemoryOutOfBounds),
    // mov eax, 1; xor edx, edx; xor ecx, ecx; div ecx; ret
    (&[0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x31, 0xc9, 0xf7, 0xf1, 0xc3], 9, TrapCode::IntegerDivisionByZero),
];

/// aarch64 has no division fault; the third trap is a store to address 0.
#[cfg(target_arch = "aarch64")]
const FUNCS: [(&[u8], u32, TrapCode); 4] = [
    // mov w0, #42; ret
    (&[0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6], u32::MAX, TrapCode::InternalError),
    // udf #0
    (&[0x00, 0x00, 0x00, 0x00], 0, TrapCode::UnreachableCodeReached),
    // mov x1, #0; ldr x0, [x1]; ret
    (&[0x01, 0x00, 0x80, 0xd2, 0x20, 0x00, 0x40, 0xf9, 0xc0, 0x03, 0x5f, 0xd6], 4, TrapCode::MemoryOutOfBounds),
    // mov x1, #0; str x1, [x1]; ret
    (&[0x01, 0x00, 0x80, 0xd2, 0x21, 0x00, 0x00, 0xf9, 0xc0, 0x03, 0x5f, 0xd6], 4, TrapCode::IntegerDivisionByZero),
];

const RET42: usize = 0;
const UNREACHABLE: usize = 1;
const LOAD_NULL: usize = 2;
const DIV_ZERO: usize = 3;

/// The test code, published and registered once for the whole process.
fn code() -> &'static (Arc<CodeMemory>, CodeRegistration) {
    static CODE: OnceLock<(Arc<CodeMemory>, CodeRegistration)> = OnceLock::new();
    CODE.get_or_init(|| {
        let funcs: Vec<(&[u8], u32)> = FUNCS.iter().map(|&(b, _, _)| (b, 16)).collect();
        let mut mem = CodeMemory::new(&funcs).unwrap();
        mem.publish().unwrap();
        let mem = Arc::new(mem);
        let traps =
            FUNCS.iter().map(|&(_, off, code)| if off == u32::MAX { vec![] } else { vec![(off, code)] }).collect();
        let reg = code_memory::register(mem.clone(), traps, (0..FUNCS.len() as u32).collect()).unwrap();
        (mem, reg)
    })
}

fn func(i: usize) -> extern "C" fn() -> i32 {
    let (mem, _) = code();
    // SAFETY: every test function is a complete `extern "C" fn() -> i32`
    // (or traps before returning) for this architecture, published RX, and
    // `CODE` keeps it mapped for the rest of the process.
    unsafe { core::mem::transmute::<*const u8, extern "C" fn() -> i32>(mem.func_ptr(i)) }
}

fn trap_pc(i: usize) -> usize {
    code().0.func_range(i).start + FUNCS[i].1 as usize
}

/// Calls test function `i` under `catch_traps`.
fn run(i: usize) -> Result<i32, TrapInfo> {
    let f = func(i);
    let mut out = 0;
    let out_ptr: *mut i32 = &mut out;
    // SAFETY: the closure captures only a fn pointer and a raw pointer
    // (nothing with a destructor) and calls the registered native code
    // directly.
    unsafe { catch_traps(|| *out_ptr = f()) }?;
    Ok(out)
}

fn expect_trap(i: usize) {
    let info = run(i).unwrap_err();
    assert_eq!(info.code, FUNCS[i].2);
    assert_eq!(info.pc, trap_pc(i));
}

#[test]
fn returns_normally() {
    assert_eq!(run(RET42), Ok(42));
}

#[test]
fn each_fault_is_a_trap_with_its_code() {
    expect_trap(UNREACHABLE);
    expect_trap(LOAD_NULL);
    expect_trap(DIV_ZERO);
    assert_eq!(run(RET42), Ok(42));
}

#[test]
fn traps_repeat_on_many_threads() {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for n in 0..500 {
                    expect_trap(1 + (n + t) % 3);
                    if n % 50 == 0 {
                        assert_eq!(run(RET42), Ok(42));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn threads_come_and_go() {
    for _ in 0..50 {
        std::thread::spawn(|| expect_trap(UNREACHABLE)).join().unwrap();
    }
}

#[test]
fn nested_activations_catch_their_own_traps() {
    let inner_f = func(UNREACHABLE);
    let outer_f = func(DIV_ZERO);
    let mut inner: Option<Result<(), TrapInfo>> = None;
    let inner_ptr: *mut Option<Result<(), TrapInfo>> = &mut inner;
    // SAFETY: both closures capture only fn pointers and raw pointers; the
    // outer one runs the nested `catch_traps` (a host → wasm re-entry
    // stand-in) and then traps itself.
    let outer = unsafe {
        catch_traps(|| {
            *inner_ptr = Some(catch_traps(|| {
                inner_f();
            }));
            outer_f();
        })
    };
    let inner = inner.unwrap().unwrap_err();
    assert_eq!(inner.code, TrapCode::UnreachableCodeReached);
    assert_eq!(outer.unwrap_err().code, FUNCS[DIV_ZERO].2);
    // The thread is back outside wasm: the decision says "not ours".
    assert_eq!(trap_decision(trap_pc(UNREACHABLE)), None);
}

#[test]
fn decision_requires_activation_and_exact_registered_site() {
    let pc = trap_pc(LOAD_NULL);
    // Outside catch_traps a registered site is not ours.
    assert_eq!(trap_decision(pc), None);
    let mut seen = [None; 4];
    let seen_ptr: *mut [Option<TrapCode>; 4] = &mut seen;
    let unregistered = {
        let mut m = CodeMemory::new(&[(FUNCS[UNREACHABLE].0, 16)]).unwrap();
        m.publish().unwrap();
        m
    };
    let unregistered_pc = unregistered.func_range(0).start;
    // SAFETY: no native code runs; the closure captures raw pointers and
    // integers only.
    unsafe {
        catch_traps(|| {
            *seen_ptr = [trap_decision(pc), trap_decision(pc + 1), trap_decision(unregistered_pc), trap_decision(0)];
        })
    }
    .unwrap();
    assert_eq!(seen, [Some(TrapCode::MemoryOutOfBounds), None, None, None]);
}

/// A fault that is not ours (registered code run *outside* `catch_traps`)
/// is chained to the previous action and kills the process with its
/// signal: checked in a child process running this same test binary.
#[test]
fn foreign_faults_are_chained_to_the_previous_handler() {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(which) = std::env::var("KILN_TRAPHANDLERS_CHILD") {
        kiln_runtime::traphandlers::init();
        let i = if which == "segv" { LOAD_NULL } else { UNREACHABLE };
        func(i)();
        std::process::exit(0); // not reached
    }
    for (which, sig) in [("segv", libc::SIGSEGV), ("ill", libc::SIGILL)] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "foreign_faults_are_chained_to_the_previous_handler", "--nocapture", "--test-threads=1"])
            .env("KILN_TRAPHANDLERS_CHILD", which)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(sig), "{which}: {status:?}");
    }
}
