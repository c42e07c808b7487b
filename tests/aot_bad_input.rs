//! `.aot` files the loader must refuse, and how: truncated files, every
//! flipped byte, files for another format version, target, CPU, kiln
//! version, VMContext layout or engine configuration, and files whose
//! checksum is right but whose structures point out of bounds. Every
//! refusal must be an error of kind [`ErrorKind::Aot`] with the right
//! [`AotError`] variant and a message naming the problem — never a panic,
//! a crash, nor guest code running (the test module's start function
//! calls a host import that counts calls: loading alone must never call
//! it). Also the fallback to the embedded wasm, `Module::from_aot_file`,
//! `kiln run` on a corrupt file, and a bounded, deterministic mutation run
//! (`mutation_run`; the unbounded one is the `aot_load` target in `fuzz/`).
//!
//! The files are made with `kiln::aot::compile`, so this needs the
//! compiler (the default `cranelift` feature).

#![cfg(feature = "cranelift")]

mod support;

use kiln::aot::{AotOptions, compile};
use kiln::{Config, Engine, ErrorKind, Linker, Module, Store, TrapCode};
use kiln_aot_format::AotError;
use kiln_aot_format::file::{
    AotFile, CHECKSUM_OFFSET, Compat, FLAG_HAS_WASM, HEADER_SIZE, MAGIC, SECTION_ENTRY_SIZE, checksum, section,
};
use std::cell::Cell;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::OnceLock;
use support::TempDir;

// ---------------------------------------------------------------------
// The test module.
// ---------------------------------------------------------------------

/// Memory with a data segment, a table with an element segment, mutable
/// and immutable globals, a host import, a start function, direct and
/// indirect calls, a loop, and exports that trap.
const SMALL_WAT: &str = r#"(module
  (type $unop (func (param i32) (result i32)))
  (import "env" "mark" (func $mark (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "\01\02\03\04\05\06\07\08")
  (table 4 funcref)
  (elem (i32.const 0) $double $square $negate)
  (global $acc (mut i32) (i32.const 0))
  (global $base i32 (i32.const 100))
  (func $double (type $unop) (i32.shl (local.get 0) (i32.const 1)))
  (func $square (type $unop) (i32.mul (local.get 0) (local.get 0)))
  (func $negate (type $unop) (i32.sub (i32.const 0) (call $id (local.get 0))))
  (func $id (param i32) (result i32) (local.get 0))
  (func $start (call $mark (i32.const 1)))
  (start $start)
  ;; sum over i < n of table[i % 3](memory[64 + i % 8]), plus $base
  (func (export "compute") (param $n i32) (result i32)
    (local $i i32) (local $sum i32)
    (block $done
      (loop $top
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $sum
          (i32.add (local.get $sum)
            (call_indirect (type $unop)
              (i32.load8_u offset=64 (i32.rem_u (local.get $i) (i32.const 8)))
              (i32.rem_u (local.get $i) (i32.const 3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (global.set $acc (i32.add (global.get $acc) (local.get $sum)))
    (i32.add (local.get $sum) (global.get $base)))
  (func (export "acc") (result i32) (global.get $acc))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect (type $unop) (local.get 1) (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  ;; library calls (relocations in the file) without SSE4.1 / on baseline CPUs
  (func (export "round") (param f64) (result f64)
    (f64.add (f64.floor (local.get 0)) (f64.nearest (f64.mul (local.get 0) (f64.const 10))))))"#;

fn expected_compute(n: i32) -> i32 {
    let mut sum = 0i32;
    for i in 0..n {
        let v = i % 8 + 1;
        sum = sum.wrapping_add(match i % 3 {
            0 => 2 * v,
            1 => v * v,
            _ => -v,
        });
    }
    sum
}

thread_local! {
    /// Calls of the test module's `env.mark` on this thread (the host
    /// function runs on the thread that instantiates or calls).
    static MARKS: Cell<u32> = const { Cell::new(0) };
}

fn marks() -> u32 {
    MARKS.with(Cell::get)
}

fn small_wasm() -> Vec<u8> {
    kiln::wat_to_binary(SMALL_WAT.as_bytes()).expect("test module")
}

fn aot(config: &Config, wasm: &[u8], options: &AotOptions) -> Vec<u8> {
    compile(config, wasm, options).unwrap_or_else(|e| panic!("aotc: {e}"))
}

/// The small module compiled for this host with the default configuration.
fn small_aot() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| aot(&Config::new(), &small_wasm(), &AotOptions::default()))
}

/// The small module compiled for this host's architecture with Cranelift's
/// baseline CPU features: its float rounding goes through library calls,
/// so the file has relocations for the loader to apply.
fn small_baseline_aot() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let triple =
            if cfg!(target_arch = "aarch64") { "aarch64-unknown-linux-gnu" } else { "x86_64-unknown-linux-gnu" };
        aot(&Config::new(), &small_wasm(), &AotOptions { target: Some(triple.into()), ..Default::default() })
    })
}

/// A triple of the other 64-bit architecture than this host's.
fn other_target() -> &'static str {
    if cfg!(target_arch = "aarch64") { "x86_64-unknown-linux-gnu" } else { "aarch64-unknown-linux-gnu" }
}

/// Instantiates the small module and checks that it computes and traps
/// as it should (its start function runs exactly once).
fn run_small(engine: &Engine, module: &Module) {
    let before = marks();
    let mut store = Store::new(engine, ());
    let mut linker = Linker::new(engine);
    linker.func_wrap("env", "mark", |x: i32| MARKS.with(|m| m.set(m.get() + x as u32))).unwrap();
    let inst = linker.instantiate(&mut store, module).unwrap_or_else(|e| panic!("instantiate: {e}"));
    assert_eq!(marks(), before + 1, "the start function runs once");
    let compute = inst.get_typed_func::<i32, i32>(&mut store, "compute").unwrap();
    assert_eq!(compute.call(&mut store, 10).unwrap(), expected_compute(10) + 100);
    assert_eq!(compute.call(&mut store, 1000).unwrap(), expected_compute(1000) + 100);
    let acc = inst.get_typed_func::<(), i32>(&mut store, "acc").unwrap();
    assert_eq!(acc.call(&mut store, ()).unwrap(), expected_compute(10) + expected_compute(1000));
    let div = inst.get_typed_func::<(i32, i32), i32>(&mut store, "div").unwrap();
    assert_eq!(div.call(&mut store, (-7, 2)).unwrap(), -3);
    let trap = |e: kiln::Error| e.as_trap().unwrap_or_else(|| panic!("not a trap: {e}")).code();
    assert_eq!(trap(div.call(&mut store, (1, 0)).unwrap_err()), TrapCode::IntegerDivisionByZero);
    assert_eq!(trap(div.call(&mut store, (i32::MIN, -1)).unwrap_err()), TrapCode::IntegerOverflow);
    let indirect = inst.get_typed_func::<(i32, i32), i32>(&mut store, "indirect").unwrap();
    assert_eq!(indirect.call(&mut store, (1, 9)).unwrap(), 81);
    assert_eq!(indirect.call(&mut store, (2, 9)).unwrap(), -9);
    assert_eq!(trap(indirect.call(&mut store, (3, 9)).unwrap_err()), TrapCode::UninitializedElement);
    assert_eq!(trap(indirect.call(&mut store, (4, 9)).unwrap_err()), TrapCode::UndefinedElement);
    let load = inst.get_typed_func::<i32, i32>(&mut store, "load").unwrap();
    assert_eq!(load.call(&mut store, 64).unwrap(), 0x0403_0201);
    assert_eq!(trap(load.call(&mut store, 65534).unwrap_err()), TrapCode::MemoryOutOfBounds);
    let round = inst.get_typed_func::<f64, f64>(&mut store, "round").unwrap();
    assert_eq!(round.call(&mut store, 2.75).unwrap(), 2.0 + 28.0);
    assert_eq!(round.call(&mut store, -1.25).unwrap(), -2.0 - 12.0);
    assert_eq!(marks(), before + 1, "mark is called by the start function only");
}

/// Loads `bytes`, which must be refused with an `.aot` error; guest code
/// must not run. Returns the error.
fn refuse(engine: &Engine, bytes: &[u8], case: &str) -> AotError {
    let before = marks();
    let result = Module::from_aot_bytes(engine, bytes);
    assert_eq!(marks(), before, "{case}: guest code ran while loading");
    let e = match result {
        Ok(_) => panic!("{case}: the file was loaded"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::Aot, "{case}: error of kind {:?}: {e}", e.kind());
    let a = e.as_aot().unwrap_or_else(|| panic!("{case}: no AotError in {e}")).clone();
    assert_eq!(e.to_string(), a.to_string(), "{case}");
    a
}

/// `refuse`, then checks that the error is `Malformed` and its message
/// contains every one of `words`.
fn refuse_malformed(engine: &Engine, bytes: &[u8], case: &str, words: &[&str]) {
    match refuse(engine, bytes, case) {
        AotError::Malformed(m) => {
            for w in words {
                assert!(m.contains(w), "{case}: {w:?} not in the message {m:?}");
            }
        }
        e => panic!("{case}: expected Malformed, got {e:?}"),
    }
}

/// `refuse`, then checks that the error is `Incompatible` about `what`
/// and its message contains every one of `words`.
fn refuse_incompatible(engine: &Engine, bytes: &[u8], case: &str, what: &str, words: &[&str]) {
    match refuse(engine, bytes, case) {
        AotError::Incompatible { what: w, message } => {
            assert_eq!(w, what, "{case}: {message}");
            for word in words {
                assert!(message.contains(word), "{case}: {word:?} not in the message {message:?}");
            }
            let shown = AotError::Incompatible { what: w, message }.to_string();
            assert!(shown.contains(&format!("incompatible .aot file ({what})")), "{case}: {shown}");
        }
        e => panic!("{case}: expected Incompatible ({what}), got {e:?}"),
    }
}

// ---------------------------------------------------------------------
// Taking files apart and putting them back together.
// ---------------------------------------------------------------------

fn rd_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn rd_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn wr_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn wr_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Header field offsets (FORMAT.md).
const VERSION_AT: usize = 8;
const FLAGS_AT: usize = 12;
const LENGTH_AT: usize = 16;
const NSECTIONS_AT: usize = 28;
const TEXT_ALIGN_AT: usize = 32;

/// Writes the checksum of `b` into its header.
fn fix_checksum(b: &mut [u8]) {
    let sum = checksum(b);
    wr_u32(b, CHECKSUM_OFFSET, sum);
}

/// Sets the header's file length to the actual length and the checksum.
fn fix_header(b: &mut [u8]) {
    let len = b.len() as u64;
    if b.len() >= HEADER_SIZE {
        wr_u64(b, LENGTH_AT, len);
    }
    if b.len() >= CHECKSUM_OFFSET + 4 {
        fix_checksum(b);
    }
}

/// Offset of section-table entry `k`.
fn entry_at(k: usize) -> usize {
    HEADER_SIZE + k * SECTION_ENTRY_SIZE
}

/// Index of section `id` in the table of a valid file.
fn section_index(b: &[u8], id: u32) -> usize {
    (0..rd_u32(b, NSECTIONS_AT) as usize)
        .find(|&k| rd_u32(b, entry_at(k)) == id)
        .unwrap_or_else(|| panic!("no section {}", section::name(id)))
}

/// Byte range of section `id` in a valid file.
fn section_range(b: &[u8], id: u32) -> Range<usize> {
    let at = entry_at(section_index(b, id));
    let off = rd_u64(b, at + 8) as usize;
    off..off + rd_u64(b, at + 16) as usize
}

/// A file's header fields and sections, for rebuilding it with some
/// changed (possibly to another length).
#[derive(Clone)]
struct Layout {
    version: u32,
    flags: u32,
    text_align: u32,
    sections: Vec<(u32, Vec<u8>)>,
}

impl Layout {
    fn of(b: &[u8]) -> Layout {
        let sections = (0..rd_u32(b, NSECTIONS_AT) as usize)
            .map(|k| {
                let id = rd_u32(b, entry_at(k));
                (id, b[section_range(b, id)].to_vec())
            })
            .collect();
        Layout {
            version: rd_u32(b, VERSION_AT),
            flags: rd_u32(b, FLAGS_AT),
            text_align: rd_u32(b, TEXT_ALIGN_AT),
            sections,
        }
    }

    fn section_mut(&mut self, id: u32) -> &mut Vec<u8> {
        &mut self.sections.iter_mut().find(|(i, _)| *i == id).expect("section").1
    }

    /// The file, laid out as `write_aot` does: sections in order, 8-byte
    /// aligned, the text at `text_align`; length and checksum set.
    fn build(&self) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_SIZE + self.sections.len() * SECTION_ENTRY_SIZE];
        out[..8].copy_from_slice(&MAGIC);
        wr_u32(&mut out, VERSION_AT, self.version);
        wr_u32(&mut out, FLAGS_AT, self.flags);
        wr_u32(&mut out, NSECTIONS_AT, self.sections.len() as u32);
        wr_u32(&mut out, TEXT_ALIGN_AT, self.text_align);
        for (k, (id, bytes)) in self.sections.iter().enumerate() {
            let align = if *id == section::TEXT { self.text_align as usize } else { 8 };
            out.resize(out.len().next_multiple_of(align), 0);
            let at = entry_at(k);
            let off = out.len() as u64;
            wr_u32(&mut out, at, *id);
            wr_u64(&mut out, at + 8, off);
            wr_u64(&mut out, at + 16, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        fix_header(&mut out);
        out
    }
}

/// The compat record encoded as `aotc` does (FORMAT.md, section `compat`).
fn encode_compat(c: &Compat) -> Vec<u8> {
    use kiln_aot_format::file::{AotBounds, AotOptLevel};
    let mut w = Vec::new();
    let s = |w: &mut Vec<u8>, s: &str| {
        w.extend_from_slice(&(s.len() as u32).to_le_bytes());
        w.extend_from_slice(s.as_bytes());
    };
    s(&mut w, &c.kiln_version);
    s(&mut w, &c.target_triple);
    s(&mut w, &c.arch);
    s(&mut w, &c.os);
    w.push(c.pointer_bytes);
    w.extend_from_slice(&(c.cpu_features.len() as u32).to_le_bytes());
    for f in &c.cpu_features {
        s(&mut w, f);
    }
    w.push(match c.opt_level {
        AotOptLevel::None => 0,
        AotOptLevel::Speed => 1,
        AotOptLevel::SpeedAndSize => 2,
    });
    let (kind, reservation, guard) = match c.bounds {
        AotBounds::Explicit => (0, 0, 0),
        AotBounds::Guard { reservation, guard } => (1, reservation, guard),
    };
    w.push(kind);
    w.extend_from_slice(&reservation.to_le_bytes());
    w.extend_from_slice(&guard.to_le_bytes());
    w.push(c.epoch_interruption as u8);
    w.extend_from_slice(&c.wasm_features.to_le_bytes());
    w.extend_from_slice(&c.layout_fingerprint.to_le_bytes());
    w.extend_from_slice(&c.wasm_sha256);
    s(&mut w, &c.compiler);
    w
}

/// `valid` with its compat record changed by `f` (re-encoded, re-laid
/// out, checksum recomputed).
fn with_compat(valid: &[u8], f: impl FnOnce(&mut Compat)) -> Vec<u8> {
    let mut compat = AotFile::parse(valid).unwrap().compat;
    f(&mut compat);
    let mut layout = Layout::of(valid);
    *layout.section_mut(section::COMPAT) = encode_compat(&compat);
    layout.build()
}

/// `valid` with the bytes of section `id` changed in place by `f`, the
/// checksum recomputed.
fn patch_section(valid: &[u8], id: u32, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut b = valid.to_vec();
    let r = section_range(&b, id);
    f(&mut b[r]);
    fix_checksum(&mut b);
    b
}

/// `valid` with its header or section table changed in place by `f`, the
/// checksum recomputed.
fn patch_file(valid: &[u8], f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut b = valid.to_vec();
    f(&mut b);
    fix_checksum(&mut b);
    b
}

/// Offsets in the funcs section (FORMAT.md, section `funcs`): code entry
/// `i` and its fields.
fn code_entry_at(i: usize) -> usize {
    4 + i * 32
}
const ENTRY_TEXT_START: usize = 8;
const ENTRY_TEXT_LEN: usize = 12;
const ENTRY_TRAPS: usize = 16;
const ENTRY_RELOCS: usize = 24;

/// The layout helpers reproduce `aotc`'s output byte for byte.
#[test]
fn layout_helpers_round_trip() {
    let valid = small_aot();
    assert_eq!(Layout::of(valid).build(), valid);
    let file = AotFile::parse(valid).unwrap();
    assert_eq!(encode_compat(&file.compat), &valid[section_range(valid, section::COMPAT)]);
    assert_eq!(with_compat(valid, |_| ()), valid);
    let n = rd_u32(&valid[section_range(valid, section::FUNCS)], 0) as usize;
    assert_eq!(n, file.code.len());
    let funcs = &valid[section_range(valid, section::FUNCS)];
    for (i, e) in file.code.iter().enumerate() {
        let at = code_entry_at(i);
        assert_eq!((rd_u32(funcs, at + ENTRY_TEXT_START), rd_u32(funcs, at + ENTRY_TEXT_LEN)), e.text);
        assert_eq!((rd_u32(funcs, at + ENTRY_TRAPS), rd_u32(funcs, at + ENTRY_TRAPS + 4)), e.traps);
        assert_eq!((rd_u32(funcs, at + ENTRY_RELOCS), rd_u32(funcs, at + ENTRY_RELOCS + 4)), e.relocs);
    }
}

// ---------------------------------------------------------------------
// Valid files load and run.
// ---------------------------------------------------------------------

#[test]
fn valid_file_loads_and_runs_under_every_strategy() {
    let valid = small_aot();
    for tier in support::available_tiers("valid_file_loads_and_runs_under_every_strategy") {
        let mut config = Config::new();
        config.strategy(tier);
        let engine = Engine::new(&config).unwrap();
        let before = marks();
        let module = Module::from_aot_bytes(&engine, valid).unwrap_or_else(|e| panic!("{tier}: {e}"));
        assert_eq!(marks(), before, "loading runs nothing");
        run_small(&engine, &module);
    }
}

// ---------------------------------------------------------------------
// Truncated and corrupt files.
// ---------------------------------------------------------------------

/// The error a prefix of `len` bytes of the valid `full` must give.
fn check_truncated(engine: &Engine, full: &[u8], len: usize) {
    let case = format!("truncated to {len} of {} bytes", full.len());
    match refuse(engine, &full[..len], &case) {
        AotError::NotAot => assert!(len < MAGIC.len(), "{case}: NotAot"),
        AotError::Truncated(m) => {
            if len < HEADER_SIZE {
                assert!(len >= MAGIC.len(), "{case}: {m}");
                assert!(m.contains(&format!("{len} bytes, shorter than the 48-byte header")), "{case}: {m}");
            } else {
                assert!(
                    m.contains(&format!("the header says {} bytes, the file has {len}", full.len())),
                    "{case}: {m}"
                );
            }
        }
        e => panic!("{case}: {e:?}"),
    }
}

#[test]
fn truncated_small_file_at_every_length() {
    let engine = Engine::default();
    let valid = small_aot();
    for len in 0..valid.len() {
        check_truncated(&engine, valid, len);
    }
    // Longer than the header says.
    let mut long = valid.to_vec();
    long.push(0);
    match refuse(&engine, &long, "one byte appended") {
        AotError::Corrupt(m) => {
            assert!(m.contains(&format!("the header says {} bytes, the file has {}", valid.len(), long.len())), "{m}")
        }
        e => panic!("one byte appended: {e:?}"),
    }
}

/// What flipping the byte at `at` of a valid file must give (the checksum
/// is not recomputed): the magic, format version and length are checked
/// before the checksum, which catches everything else.
fn check_flipped(engine: &Engine, valid: &[u8], at: usize, mask: u8) {
    let mut b = valid.to_vec();
    b[at] ^= mask;
    let case = format!("byte {at} of {} xor {mask:#04x}", valid.len());
    let e = refuse(engine, &b, &case);
    match at {
        0..8 => assert_eq!(e, AotError::NotAot, "{case}"),
        8..12 => assert!(
            matches!(&e, AotError::Incompatible { what: "format version", message } if message.contains("the file has format version")),
            "{case}: {e:?}"
        ),
        16..24 => match &e {
            AotError::Truncated(m) | AotError::Corrupt(m) => {
                assert!(m.contains("the header says"), "{case}: {m}")
            }
            e => panic!("{case}: {e:?}"),
        },
        _ => match &e {
            AotError::Corrupt(m) => assert!(m.contains("checksum") && m.contains("does not match"), "{case}: {m}"),
            e => panic!("{case}: {e:?}"),
        },
    }
}

#[test]
fn flipped_byte_at_every_offset_of_the_small_file() {
    let engine = Engine::default();
    let valid = small_aot();
    for at in 0..valid.len() {
        check_flipped(&engine, valid, at, 0x01);
        check_flipped(&engine, valid, at, 0xff);
    }
}

/// A real program (`tests/programs/sort.wasm`) compiled for this host.
fn sort_aot() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let wasm = std::fs::read(program("sort.wasm")).expect("read sort.wasm");
        aot(&Config::new(), &wasm, &AotOptions::default())
    })
}

fn program(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs").join(name)
}

/// Offsets worth trying in `b`: the header and section table, the first,
/// middle and last byte of every section, and `random` more spread by a
/// fixed xorshift.
fn sample_offsets(b: &[u8], random: usize) -> Vec<usize> {
    let n = rd_u32(b, NSECTIONS_AT) as usize;
    let mut v: Vec<usize> = (0..entry_at(n)).collect();
    for k in 0..n {
        let off = rd_u64(b, entry_at(k) + 8) as usize;
        let len = rd_u64(b, entry_at(k) + 16) as usize;
        if len > 0 {
            v.extend([off, off + len / 2, off + len - 1]);
        }
        v.push(off + len);
    }
    let mut rng = Rng(0x5eed_0f50_aa07);
    v.extend((0..random).map(|_| rng.below(b.len())));
    v.push(b.len() - 1);
    v.retain(|&o| o < b.len());
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn real_program_truncated_and_flipped() {
    let engine = Engine::default();
    let valid = sort_aot();
    // The unmodified file loads and runs the program.
    let module = Module::from_aot_bytes(&engine, valid).unwrap();
    let stdout = kiln::wasi::MemoryOutputPipe::new();
    let ctx = kiln::wasi::WasiCtxBuilder::new().arg("sort").stdout(stdout.clone()).build();
    let mut store = Store::new(&engine, ctx);
    let mut linker = Linker::new(&engine);
    kiln::wasi::add_to_linker(&mut linker, |ctx: &mut kiln::wasi::WasiCtx| ctx).unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let start = inst.get_typed_func::<(), ()>(&mut store, "_start").unwrap();
    match start.call(&mut store, ()) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.exit_code(), Some(0), "sort: {e}"),
    }
    let expected = std::fs::read(program("expected/sort.stdout")).unwrap();
    assert!(stdout.contents() == expected, "sort.aot printed something else than expected/sort.stdout");

    let offsets = sample_offsets(valid, 400);
    for &at in &offsets {
        check_flipped(&engine, valid, at, 0x01);
        check_flipped(&engine, valid, at, 0xff);
    }
    let mut lens = sample_offsets(valid, 100);
    lens.extend([0, 7, 8, 47, 48]);
    for len in lens {
        check_truncated(&engine, valid, len);
    }
}

// ---------------------------------------------------------------------
// Files for something else.
// ---------------------------------------------------------------------

#[test]
fn wrong_magic_and_format_version() {
    let engine = Engine::default();
    let valid = small_aot();
    assert_eq!(refuse(&engine, b"", "empty"), AotError::NotAot);
    assert_eq!(refuse(&engine, &small_wasm(), "a wasm binary"), AotError::NotAot);
    let mut b = valid.to_vec();
    b[1..8].copy_from_slice(b"KILNAOT");
    fix_checksum(&mut b);
    let e = refuse(&engine, &b, "upper-case magic");
    assert_eq!(e, AotError::NotAot);
    assert!(e.to_string().contains("not a kiln .aot file"), "{e}");
    for version in [0, 2, u32::MAX] {
        let b = patch_file(valid, |b| wr_u32(b, VERSION_AT, version));
        refuse_incompatible(
            &engine,
            &b,
            &format!("format version {version}"),
            "format version",
            &[&format!("the file has format version {version}"), "this runtime reads version 1"],
        );
    }
}

#[test]
fn wrong_target() {
    let engine = Engine::default();
    let other =
        aot(&Config::new(), &small_wasm(), &AotOptions { target: Some(other_target().into()), ..Default::default() });
    let arch = other_target().split('-').next().unwrap();
    refuse_incompatible(
        &engine,
        &other,
        "compiled for another target",
        "target",
        &[
            &format!("compiled for {}", other_target()),
            &format!("this host is {}-{}", std::env::consts::ARCH, std::env::consts::OS),
            arch,
        ],
    );
    // Another OS or pointer size in an otherwise valid file.
    let valid = small_aot();
    let b = with_compat(valid, |c| c.os = "plan9".into());
    refuse_incompatible(&engine, &b, "another OS", "target", &["plan9"]);
    let b = with_compat(valid, |c| c.pointer_bytes = 4);
    refuse_incompatible(&engine, &b, "4-byte pointers", "target", &["4-byte pointers"]);
}

#[test]
fn wrong_cpu_features() {
    let engine = Engine::default();
    let valid = small_aot();
    // A name this runtime does not know is refused.
    let b = with_compat(valid, |c| c.cpu_features.push("cranelift:has_unknown".into()));
    refuse_incompatible(
        &engine,
        &b,
        "unknown CPU feature",
        "CPU features",
        &["the code uses cranelift:has_unknown which this CPU lacks"],
    );
    // A feature this CPU really lacks, if there is one.
    let known: &[&str] = if cfg!(target_arch = "aarch64") {
        &["lse", "paca", "fp16", "dotprod", "i8mm"]
    } else {
        &["avx512vbmi", "avx512bitalg", "avx512vnni", "avx512f", "avxvnni", "avx2", "bmi2", "sse4.2"]
    };
    match known.iter().find(|f| kiln_runtime::aot::host_has_cpu_feature(f) == Some(false)) {
        Some(f) => {
            let b = with_compat(valid, |c| c.cpu_features.push(f.to_string()));
            refuse_incompatible(&engine, &b, &format!("missing {f}"), "CPU features", &[&format!("uses {f} which")]);
        }
        None => println!("wrong_cpu_features: this CPU has every feature of {known:?}"),
    }
    // The features the file records are all present here.
    let file = AotFile::parse(valid).unwrap();
    for f in &file.compat.cpu_features {
        assert_eq!(kiln_runtime::aot::host_has_cpu_feature(f), Some(true), "{f}");
    }
}

#[test]
fn wrong_kiln_version_layout_and_features() {
    let engine = Engine::default();
    let valid = small_aot();
    let b = with_compat(valid, |c| c.kiln_version = "0.0.0-elsewhere".into());
    refuse_incompatible(
        &engine,
        &b,
        "another kiln version",
        "kiln version",
        &["written by kiln 0.0.0-elsewhere", &format!("this is kiln {}", env!("CARGO_PKG_VERSION"))],
    );
    let b = with_compat(valid, |c| c.layout_fingerprint ^= 1 << 17);
    refuse_incompatible(&engine, &b, "another layout", "VMContext layout", &["fingerprint"]);
    let b = with_compat(valid, |c| c.wasm_features |= 1 << 63);
    refuse_incompatible(&engine, &b, "more wasm features", "wasm features", &["validated with features"]);
}

#[test]
fn engine_configuration_mismatch() {
    let wasm = small_wasm();
    let mut no_epochs = Config::new();
    no_epochs.epoch_interruption(false);
    let default_engine = Engine::default();
    let no_epoch_engine = Engine::new(&no_epochs).unwrap();
    // Compiled without epoch checks, loaded by an engine that needs them,
    // and the other way round.
    let file = aot(&no_epochs, &wasm, &AotOptions::default());
    refuse_incompatible(
        &default_engine,
        &file,
        "epochs off in the code",
        "compiler settings",
        &["epoch interruption is off in the code and on in this engine"],
    );
    run_small(&no_epoch_engine, &Module::from_aot_bytes(&no_epoch_engine, &file).unwrap());
    refuse_incompatible(
        &no_epoch_engine,
        small_aot(),
        "epochs on in the code",
        "compiler settings",
        &["epoch interruption is on in the code and off in this engine"],
    );
    // Another memory reservation or guard size.
    let mut small_memories = Config::new();
    small_memories.memory_reservation(1 << 30);
    let file = aot(&small_memories, &wasm, &AotOptions::default());
    refuse_incompatible(
        &default_engine,
        &file,
        "1 GiB reservations",
        "compiler settings",
        &["the code assumes 1073741824-byte reservations"],
    );
    let small_engine = Engine::new(&small_memories).unwrap();
    run_small(&small_engine, &Module::from_aot_bytes(&small_engine, &file).unwrap());
    let mut guard = Config::new();
    guard.memory_guard_size(1 << 16);
    refuse_incompatible(
        &Engine::new(&guard).unwrap(),
        small_aot(),
        "64 KiB guards",
        "compiler settings",
        &["65536-byte guard regions"],
    );
}

// ---------------------------------------------------------------------
// Structures out of range (checksum recomputed).
// ---------------------------------------------------------------------

#[test]
fn header_and_section_table_out_of_range() {
    let engine = Engine::default();
    let valid = small_aot();
    let file_len = valid.len();
    let text = section_index(valid, section::TEXT);
    let text_range = section_range(valid, section::TEXT);
    let b = patch_file(valid, |b| wr_u64(b, entry_at(text) + 16, text_range.len() as u64 + 1));
    refuse_malformed(
        &engine,
        &b,
        "text one byte past the end",
        &[&format!(
            "section text at {} with {} bytes extends beyond the {file_len}-byte file",
            text_range.start,
            text_range.len() + 1
        )],
    );
    let compat = section_index(valid, section::COMPAT);
    let b = patch_file(valid, |b| wr_u64(b, entry_at(compat) + 8, u64::MAX - 3));
    refuse_malformed(&engine, &b, "compat offset near 2^64", &["section compat at", "extends beyond"]);
    let b = patch_file(valid, |b| wr_u64(b, entry_at(compat) + 8, file_len as u64 + 4096));
    refuse_malformed(&engine, &b, "compat offset past the end", &["section compat at", "extends beyond"]);
    let funcs = section_index(valid, section::FUNCS);
    let b = patch_file(valid, |b| wr_u64(b, entry_at(funcs) + 16, u64::MAX));
    refuse_malformed(&engine, &b, "funcs length 2^64-1", &["section funcs at", "extends beyond"]);
    // Section table.
    let b = patch_file(valid, |b| wr_u32(b, NSECTIONS_AT, u32::MAX));
    refuse_malformed(&engine, &b, "huge section count", &["section table of 4294967295 entries beyond the end"]);
    let b = patch_file(valid, |b| wr_u32(b, entry_at(funcs), section::COMPAT));
    refuse_malformed(&engine, &b, "duplicate section", &["section compat appears twice"]);
    let data = section_index(valid, section::DATA);
    let b = patch_file(valid, |b| wr_u32(b, entry_at(data), 99));
    refuse_malformed(&engine, &b, "missing data section", &["no data section"]);
    // Header fields after the checksum.
    let b = patch_file(valid, |b| wr_u32(b, FLAGS_AT, 0x10));
    refuse_malformed(&engine, &b, "unknown flag", &["unknown header flags 0x10"]);
    let b = patch_file(valid, |b| wr_u32(b, FLAGS_AT, FLAG_HAS_WASM));
    refuse_malformed(&engine, &b, "wasm flag without wasm", &["the wasm flag and the wasm section disagree"]);
    for align in [0, 1, 4095, 6000] {
        let b = patch_file(valid, |b| wr_u32(b, TEXT_ALIGN_AT, align));
        refuse_malformed(&engine, &b, &format!("text alignment {align}"), &[&format!("text alignment {align}")]);
    }
    // A compat record with a byte too many, one too few, a bad enum.
    let mut layout = Layout::of(valid);
    layout.section_mut(section::COMPAT).push(0);
    refuse_malformed(&engine, &layout.build(), "compat trailing byte", &["compat section", "1 trailing bytes"]);
    let mut layout = Layout::of(valid);
    layout.section_mut(section::COMPAT).pop();
    refuse_malformed(&engine, &layout.build(), "compat short", &["compat section", "bytes needed"]);
    let b = with_compat(valid, |c| c.cpu_features = vec!["x".repeat(3)]);
    let mut layout = Layout::of(&b);
    let compat_bytes = layout.section_mut(section::COMPAT);
    let at = compat_bytes.windows(3).position(|w| w == b"xxx").unwrap();
    wr_u32(compat_bytes, at - 8, u32::MAX); // the feature count
    refuse_malformed(&engine, &layout.build(), "huge feature count", &["compat section", "count 4294967295 exceeds"]);
}

/// The small file's code entries.
fn small_file() -> AotFile<'static> {
    AotFile::parse(small_aot()).unwrap()
}

#[test]
fn code_entries_out_of_range() {
    let engine = Engine::default();
    let valid = small_aot();
    let file = small_file();
    let text_len = file.text.len();
    let n = file.code.len();
    let last = n - 1;
    // A code entry reaching past the text.
    let (start, len) = file.code[last].text;
    let b = patch_section(valid, section::FUNCS, |f| {
        wr_u32(f, code_entry_at(last) + ENTRY_TEXT_LEN, text_len as u32 - start + 1)
    });
    refuse_malformed(
        &engine,
        &b,
        "code past the text",
        &[&format!("code entry {last}: code {start}..{} outside the {text_len}-byte text", text_len + 1)],
    );
    let b = patch_section(valid, section::FUNCS, |f| {
        wr_u32(f, code_entry_at(0) + ENTRY_TEXT_START, u32::MAX);
        wr_u32(f, code_entry_at(0) + ENTRY_TEXT_LEN, u32::MAX);
    });
    refuse_malformed(&engine, &b, "code at 2^32", &["code entry 0: code 4294967295..8589934590 outside"]);
    assert!(len > 0);
    // An entry without code (its entry point would be the next entry's
    // code), and a file with no text at all.
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, code_entry_at(last) + ENTRY_TEXT_LEN, 0));
    refuse_malformed(&engine, &b, "empty code entry", &[&format!("code entry {last}: no code (0 bytes at {start})")]);
    let mut layout = Layout::of(valid);
    layout.section_mut(section::TEXT).clear();
    let funcs = layout.section_mut(section::FUNCS);
    for i in 0..n {
        for field in [ENTRY_TEXT_START, ENTRY_TRAPS, ENTRY_RELOCS] {
            wr_u64(funcs, code_entry_at(i) + field, 0);
        }
    }
    refuse_malformed(&engine, &layout.build(), "no text", &["code entry 0: no code (0 bytes at 0)"]);
    // Trap and relocation ranges past their tables.
    let b = patch_section(valid, section::FUNCS, |f| {
        wr_u32(f, code_entry_at(1) + ENTRY_TRAPS + 4, file.traps.len() as u32 + 1)
    });
    refuse_malformed(&engine, &b, "trap range past the table", &["code entry 1: trap entries"]);
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, code_entry_at(1) + ENTRY_RELOCS, u32::MAX));
    refuse_malformed(&engine, &b, "relocation range past the table", &["code entry 1: relocations 4294967295+"]);
    // An unknown kind.
    let b = patch_section(valid, section::FUNCS, |f| f[code_entry_at(2)] = 7);
    refuse_malformed(&engine, &b, "code kind 7", &["funcs section", "code entry 2: kind 7"]);
    // A huge entry count.
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, 0, u32::MAX));
    refuse_malformed(&engine, &b, "huge code entry count", &["funcs section at byte 4: count 4294967295 exceeds the"]);
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, 0, n as u32 + 1));
    refuse_malformed(&engine, &b, "one code entry too many", &["funcs section"]);
    // Defined functions naming entries out of range or of the wrong kind.
    let defined_at = code_entry_at(n) + 4;
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, defined_at, n as u32 + 5));
    refuse_malformed(
        &engine,
        &b,
        "defined function entry out of range",
        &[&format!("defined function 0: entry {} of {n}", n + 5)],
    );
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, defined_at, u32::MAX));
    refuse_malformed(&engine, &b, "defined function entry 2^32-1", &["defined function 0: entry 4294967295 of"]);
    let tramp = file.defined[0].1;
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, defined_at, tramp));
    refuse_malformed(
        &engine,
        &b,
        "defined function naming a trampoline",
        &["defined function 0: entry", "is a ArrayToWasm, not a Function"],
    );
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, defined_at + 4, u32::MAX - 1));
    refuse_malformed(
        &engine,
        &b,
        "trampoline entry out of range",
        &["defined function 0's trampoline: entry 4294967294 of"],
    );
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, defined_at - 4, u32::MAX));
    refuse_malformed(&engine, &b, "huge defined count", &["count 4294967295 exceeds"]);
    // Defined functions swapped: the entries exist but name the wrong
    // functions (checked against the metadata).
    let b = patch_section(valid, section::FUNCS, |f| {
        let (a, c) = (rd_u32(f, defined_at), rd_u32(f, defined_at + 8));
        wr_u32(f, defined_at, c);
        wr_u32(f, defined_at + 8, a);
    });
    refuse_malformed(&engine, &b, "defined functions swapped", &["defined function 0: code for function"]);
    // One defined function too few (the last pair dropped from the count).
    let mut layout = Layout::of(valid);
    let funcs = layout.section_mut(section::FUNCS);
    let ndef = rd_u32(funcs, defined_at - 4);
    wr_u32(funcs, defined_at - 4, ndef - 1);
    let tail = funcs.split_off(defined_at + 8 * (ndef as usize - 1));
    funcs.extend_from_slice(&tail[8..]);
    refuse_malformed(
        &engine,
        &layout.build(),
        "a defined function missing",
        &[&format!("{} compiled functions for {ndef} defined functions", ndef - 1)],
    );
    // Type trampolines naming entries out of range.
    let types_at = defined_at + 8 * ndef as usize;
    let ntypes = rd_u32(&valid[section_range(valid, section::FUNCS)], types_at) as usize;
    assert!(ntypes > 0);
    let b = patch_section(valid, section::FUNCS, |f| wr_u32(f, types_at + 4, n as u32));
    refuse_malformed(&engine, &b, "type trampoline out of range", &[&format!("type 0's trampoline: entry {n} of {n}")]);
    // Trailing bytes.
    let mut layout = Layout::of(valid);
    layout.section_mut(section::FUNCS).extend_from_slice(&[0; 4]);
    refuse_malformed(&engine, &layout.build(), "funcs trailing bytes", &["funcs section", "4 trailing bytes"]);
}

#[test]
fn traps_and_relocations_out_of_range() {
    let engine = Engine::default();
    let valid = small_aot();
    let file = small_file();
    // A trap site at the first byte after its function.
    let (i, e) = file.code.iter().enumerate().find(|(_, e)| e.traps.1 > 0).expect("an entry with trap sites");
    let t = e.traps.0 as usize + e.traps.1 as usize - 1;
    let b = patch_section(valid, section::TRAPS, |s| wr_u32(s, t * 8, e.text.1));
    refuse_malformed(
        &engine,
        &b,
        "trap site past its function",
        &[&format!("code entry {i}: trap site {} outside its {} bytes", e.text.1, e.text.1)],
    );
    let b = patch_section(valid, section::TRAPS, |s| wr_u32(s, t * 8, u32::MAX));
    refuse_malformed(&engine, &b, "trap site 2^32-1", &[&format!("code entry {i}: trap site 4294967295 outside")]);
    let b = patch_section(valid, section::TRAPS, |s| s[t * 8 + 4] = 0xee);
    refuse_malformed(&engine, &b, "unknown trap code", &["traps section", "trap code 238"]);
    if e.traps.1 > 1 {
        let b = patch_section(valid, section::TRAPS, |s| wr_u32(s, e.traps.0 as usize * 8, e.text.1 - 1));
        refuse_malformed(&engine, &b, "unsorted trap table", &[&format!("code entry {i}: trap table not sorted")]);
    }
    let mut layout = Layout::of(valid);
    layout.section_mut(section::TRAPS).pop();
    refuse_malformed(&engine, &layout.build(), "traps length", &["traps section", "length is not a multiple of 8"]);

    // Relocations: the small module may have none left in the file (calls
    // between its own code are resolved by aotc), so give entry 0 one.
    let e0 = file.code[0];
    let reloc = |offset: u32, kind: u8, target_kind: u8, target: u32| {
        let mut r = Vec::new();
        r.extend_from_slice(&offset.to_le_bytes());
        r.extend_from_slice(&[kind, target_kind, 0, 0]);
        r.extend_from_slice(&target.to_le_bytes());
        r.extend_from_slice(&[0; 4]);
        r.extend_from_slice(&0i64.to_le_bytes());
        r
    };
    let with_reloc = |r: Vec<u8>| {
        let mut layout = Layout::of(valid);
        *layout.section_mut(section::RELOCS) = r;
        let funcs = layout.section_mut(section::FUNCS);
        for k in 0..file.code.len() {
            wr_u64(funcs, code_entry_at(k) + ENTRY_RELOCS, 0);
        }
        wr_u32(funcs, code_entry_at(0) + ENTRY_RELOCS + 4, 1);
        layout.build()
    };
    // In range, it loads (an absolute relocation to code entry 0 at its
    // first byte: the code is patched but never run here).
    let ok = with_reloc(reloc(0, 1, 1, 0));
    Module::from_aot_bytes(&engine, &ok).unwrap_or_else(|e| panic!("a valid relocation: {e}"));
    let b = with_reloc(reloc(e0.text.1 - 7, 1, 1, 0));
    refuse_malformed(
        &engine,
        &b,
        "8-byte relocation 1 byte past its function",
        &[&format!("code entry 0: relocation at {} outside its {} bytes", e0.text.1 - 7, e0.text.1)],
    );
    let b = with_reloc(reloc(e0.text.1 - 3, 2, 1, 0));
    refuse_malformed(
        &engine,
        &b,
        "4-byte relocation 1 byte past its function",
        &[&format!("code entry 0: relocation at {} outside", e0.text.1 - 3)],
    );
    let b = with_reloc(reloc(u32::MAX, 1, 1, 0));
    refuse_malformed(&engine, &b, "relocation at 2^32-1", &["code entry 0: relocation at 4294967295 outside"]);
    let n = file.code.len();
    let b = with_reloc(reloc(0, 1, 1, n as u32));
    refuse_malformed(
        &engine,
        &b,
        "relocation to a missing entry",
        &[&format!("code entry 0: relocation to code entry {n} of {n}")],
    );
    let b = with_reloc(reloc(0, 9, 1, 0));
    refuse_malformed(&engine, &b, "relocation kind 9", &["relocs section", "relocation kind 9"]);
    let b = with_reloc(reloc(0, 1, 5, 0));
    refuse_malformed(&engine, &b, "relocation target kind 5", &["relocs section", "relocation target kind 5"]);
    let b = with_reloc(reloc(0, 1, 0, 0xffff));
    refuse_malformed(&engine, &b, "library call 65535", &["relocs section", "library call 65535"]);
    let mut r = reloc(0, 1, 1, 0);
    r.pop();
    let b = with_reloc(r);
    refuse_malformed(&engine, &b, "relocs length", &["relocs section", "length is not a multiple of 24"]);
    // PC-relative relocations whose displacement cannot be encoded (only
    // known once the code is mapped: library calls are in the runtime).
    let addend = |mut r: Vec<u8>, a: i64| {
        r[16..24].copy_from_slice(&a.to_le_bytes());
        r
    };
    let pc_rel = if cfg!(target_arch = "aarch64") { 4 } else { 2 };
    let b = with_reloc(addend(reloc(0, pc_rel, 1, 0), 1 << 40));
    refuse_malformed(&engine, &b, "PC-relative relocation 2^40 away", &["code entry 0: relocation at 0", "out of"]);
    let b = with_reloc(addend(reloc(0, pc_rel, 0, 1), i64::MIN));
    refuse_malformed(&engine, &b, "PC-relative library call 2^63 away", &["code entry 0: relocation at 0", "out of"]);
}

#[test]
fn data_and_metadata_out_of_range() {
    let engine = Engine::default();
    let valid = small_aot();
    let file = small_file();
    let info = file.module_info().unwrap();
    assert_eq!(file.data.len(), 8);
    assert_eq!(info.data_segments[0].data, 0..8);
    // The data section one byte shorter than the segment.
    let data = section_index(valid, section::DATA);
    let b = patch_file(valid, |b| wr_u64(b, entry_at(data) + 16, 7));
    refuse_malformed(
        &engine,
        &b,
        "data section shorter than its segment",
        &["metadata: data segment 0: range 0..8 is outside the 7 bytes of data"],
    );
    // The segment one byte longer than the data section (metadata
    // re-encoded).
    for range in [0..9, 8..16, usize::MAX - 1..usize::MAX] {
        let mut info = info.clone();
        info.data_segments[0].data = range.clone();
        let mut w = kiln_aot_format::bytes::Writer::new();
        kiln_aot_format::metadata::encode_module_info(&info, &mut w);
        let mut layout = Layout::of(valid);
        *layout.section_mut(section::METADATA) = w.buf;
        refuse_malformed(
            &engine,
            &layout.build(),
            &format!("data segment {range:?}"),
            &[&format!(
                "metadata: data segment 0: range {}..{} is outside the 8 bytes of data",
                range.start, range.end
            )],
        );
    }
    // Metadata truncated, or with a byte too many.
    let mut layout = Layout::of(valid);
    layout.section_mut(section::METADATA).pop();
    refuse_malformed(&engine, &layout.build(), "metadata short", &["metadata section"]);
    let mut layout = Layout::of(valid);
    layout.section_mut(section::METADATA).push(0);
    refuse_malformed(&engine, &layout.build(), "metadata trailing byte", &["metadata section", "1 trailing bytes"]);
    // An export naming a function the module does not have.
    let mut info = info.clone();
    let nfuncs = info.functions.len() as u32;
    let export = info.exports.iter_mut().find(|e| e.name == "compute").unwrap();
    export.index = kiln_environ::EntityIndex::Function(kiln_environ::FuncIndex(nfuncs));
    let mut w = kiln_aot_format::bytes::Writer::new();
    kiln_aot_format::metadata::encode_module_info(&info, &mut w);
    let mut layout = Layout::of(valid);
    *layout.section_mut(section::METADATA) = w.buf;
    refuse_malformed(
        &engine,
        &layout.build(),
        "export out of range",
        &["metadata: export", &format!("function {nfuncs}")],
    );
}

// ---------------------------------------------------------------------
// The fallback to the embedded wasm.
// ---------------------------------------------------------------------

#[test]
fn fallback_to_the_embedded_wasm() {
    let wasm = small_wasm();
    let foreign = aot(
        &Config::new(),
        &wasm,
        &AotOptions { target: Some(other_target().into()), embed_wasm: true, ..Default::default() },
    );
    assert_ne!(rd_u32(&foreign, FLAGS_AT) & FLAG_HAS_WASM, 0);
    // Refused without the fallback.
    refuse_incompatible(&Engine::default(), &foreign, "foreign code, no fallback", "target", &[other_target()]);
    // Recompiled with it, in every strategy, and correct.
    for tier in support::available_tiers("fallback_to_the_embedded_wasm") {
        let mut config = Config::new();
        config.strategy(tier).aot_fallback(true);
        let engine = Engine::new(&config).unwrap();
        let before = marks();
        let module = Module::from_aot_bytes(&engine, &foreign).unwrap_or_else(|e| panic!("{tier}: {e}"));
        assert_eq!(marks(), before, "loading runs nothing");
        run_small(&engine, &module);
    }
    let mut config = Config::new();
    config.aot_fallback(true);
    let fallback = Engine::new(&config).unwrap();
    // Not for a file that is corrupt or malformed: only code that is
    // well-formed but unusable here falls back.
    let mut corrupt = foreign.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x40;
    assert!(matches!(refuse(&fallback, &corrupt, "corrupt foreign file with fallback"), AotError::Corrupt(_)));
    let b = patch_file(&foreign, |b| wr_u32(b, TEXT_ALIGN_AT, 3));
    refuse_malformed(&fallback, &b, "malformed foreign file with fallback", &["text alignment 3"]);
    let b = patch_file(&foreign, |b| wr_u32(b, VERSION_AT, 2));
    refuse_incompatible(&fallback, &b, "another format version with fallback", "format version", &["version 2"]);
    // Nothing to fall back on without the wasm.
    let no_wasm = aot(&Config::new(), &wasm, &AotOptions { target: Some(other_target().into()), ..Default::default() });
    refuse_incompatible(&fallback, &no_wasm, "foreign code without wasm, fallback on", "target", &[other_target()]);
    // A host file with the wasm, under another engine configuration.
    let host = aot(&Config::new(), &wasm, &AotOptions { embed_wasm: true, ..Default::default() });
    let mut config = Config::new();
    config.epoch_interruption(false);
    refuse_incompatible(&Engine::new(&config).unwrap(), &host, "epochs, no fallback", "compiler settings", &["epoch"]);
    config.aot_fallback(true);
    let engine = Engine::new(&config).unwrap();
    run_small(&engine, &Module::from_aot_bytes(&engine, &host).unwrap());
}

// ---------------------------------------------------------------------
// Files on disk and the CLI.
// ---------------------------------------------------------------------

#[test]
fn from_aot_file_valid_truncated_and_empty() {
    let dir = TempDir::new("aot-bad-input");
    let engine = Engine::default();
    let valid = small_aot();
    let path = dir.path().join("small.aot");
    std::fs::write(&path, valid).unwrap();
    let before = marks();
    let module = Module::from_aot_file(&engine, &path).unwrap();
    assert_eq!(marks(), before);
    run_small(&engine, &module);

    let from_file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let before = marks();
        let e = Module::from_aot_file(&engine, &path).err().unwrap_or_else(|| panic!("{name}: loaded"));
        assert_eq!(marks(), before);
        assert_eq!(e.kind(), ErrorKind::Aot, "{name}: {e}");
        e.as_aot().unwrap().clone()
    };
    let e = from_file("truncated.aot", &valid[..valid.len() - 100]);
    assert!(matches!(&e, AotError::Truncated(m) if m.contains("the header says")), "{e:?}");
    let e = from_file("header.aot", &valid[..20]);
    assert!(matches!(&e, AotError::Truncated(m) if m.contains("shorter than the 48-byte header")), "{e:?}");
    assert_eq!(from_file("empty.aot", b""), AotError::NotAot);
    let mut corrupt = valid.to_vec();
    let at = section_range(valid, section::TEXT).start + 5;
    corrupt[at] ^= 0x80;
    assert!(matches!(from_file("corrupt.aot", &corrupt), AotError::Corrupt(_)));
}

#[test]
fn cli_refuses_a_corrupt_file() {
    use std::process::Command;
    let dir = TempDir::new("aot-bad-input-cli");
    let valid = sort_aot();
    let good = dir.path().join("sort.aot");
    std::fs::write(&good, valid).unwrap();
    let run = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_kiln")).arg("run").arg(path).output().expect("run kiln")
    };
    // The valid file prints the program's output ...
    let out = run(&good);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == std::fs::read(program("expected/sort.stdout")).unwrap());
    // ... a corrupt one (a byte of code flipped) nothing.
    let mut bad = valid.to_vec();
    let at = section_range(valid, section::TEXT).start + 100;
    bad[at] ^= 0x01;
    let corrupt = dir.path().join("corrupt.aot");
    std::fs::write(&corrupt, &bad).unwrap();
    let out = run(&corrupt);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "guest output: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.starts_with("error: ") && stderr.contains("corrupt .aot file: checksum"), "{stderr}");
    assert!(stderr.contains("corrupt.aot"), "the message names the file: {stderr}");
    // Truncated: named as such.
    let truncated = dir.path().join("truncated.aot");
    std::fs::write(&truncated, &valid[..valid.len() / 2]).unwrap();
    let out = run(&truncated);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("truncated .aot file"), "{stderr}");
}

// ---------------------------------------------------------------------
// The bounded mutation run.
// ---------------------------------------------------------------------

/// xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Applies one random mutation to `b` (a mutant of `valid`), returning a
/// description. Most mutations aim at the structures in front of the text
/// (header, section table, compat, metadata, funcs, traps, relocs), where
/// the loader's checks are; a changed byte of code with a recomputed
/// checksum is a valid file with other code, which is out of scope.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>, valid: &[u8]) -> String {
    let text_start = section_range(valid, section::TEXT).start;
    let structure_end = text_start.min(b.len()).max(1);
    let offset = |rng: &mut Rng, len: usize| {
        if rng.chance(85) { rng.below(structure_end.min(len.max(1))) } else { rng.below(len.max(1)) }
    };
    let text_len = section_range(valid, section::TEXT).len() as u64;
    let interesting = |rng: &mut Rng| -> u64 {
        const V: [u64; 17] = [
            0,
            1,
            2,
            3,
            4,
            7,
            8,
            0x7f,
            0x80,
            0xff,
            0x100,
            0xffff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0xffff_ffff_ffff_ffff,
            4096,
        ];
        match rng.below(4) {
            0 => V[rng.below(V.len())],
            1 => text_len.wrapping_add(rng.below(5) as u64).wrapping_sub(2),
            2 => valid.len() as u64 + rng.below(9) as u64 - 4,
            _ => rng.next() >> (rng.below(64) as u32),
        }
    };
    if b.is_empty() {
        b.push(rng.next() as u8);
        return "push".into();
    }
    match rng.below(10) {
        0 => {
            let at = offset(rng, b.len());
            let bit = rng.below(8);
            b[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at}")
        }
        1 => {
            let at = offset(rng, b.len());
            let v = rng.next() as u8;
            b[at] = v;
            format!("byte {at} = {v:#x}")
        }
        2 => {
            let at = offset(rng, b.len());
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(at..at, bytes);
            format!("insert {n} bytes at {at}")
        }
        3 => {
            let at = offset(rng, b.len());
            let n = (1 + rng.below(16)).min(b.len() - at);
            b.drain(at..at + n);
            format!("delete {n} bytes at {at}")
        }
        4 | 5 => {
            // A field of the section table.
            let n = rd_u32(valid, NSECTIONS_AT) as usize;
            let k = rng.below(n);
            let field = [0, 4, 8, 16][rng.below(4)];
            let at = entry_at(k) + field;
            let v = interesting(rng);
            if at + 8 <= b.len() && field >= 8 {
                wr_u64(b, at, v);
            } else if at + 4 <= b.len() {
                wr_u32(b, at, v as u32);
            }
            format!("section entry {k} field {field} = {v:#x}")
        }
        6 | 7 => {
            // A u32 of the funcs, traps or relocs section.
            let id =
                [section::FUNCS, section::FUNCS, section::TRAPS, section::RELOCS, section::COMPAT, section::METADATA]
                    [rng.below(6)];
            let r = section_range(valid, id);
            if r.len() < 4 {
                return "nothing".into();
            }
            let at = r.start + rng.below(r.len() / 4) * 4;
            let v = interesting(rng) as u32;
            if at + 4 <= b.len() {
                wr_u32(b, at, v);
            }
            format!("u32 at {at} ({} + {}) = {v:#x}", section::name(id), at - r.start)
        }
        8 => {
            // Splice: bytes of one section copied over another's.
            let n = rd_u32(valid, NSECTIONS_AT) as usize;
            let (from, to) = (rng.below(n), rng.below(n));
            let fr = section_range(valid, rd_u32(valid, entry_at(from)));
            let tr = section_range(valid, rd_u32(valid, entry_at(to)));
            let len = fr.len().min(tr.len()).min(b.len().saturating_sub(tr.start));
            let chunk = valid[fr.start..fr.start + len].to_vec();
            if len > 0 {
                b[tr.start..tr.start + len].copy_from_slice(&chunk);
            }
            format!("section {from} copied over section {to} ({len} bytes)")
        }
        _ => {
            // Swap two section-table entries, or truncate.
            if rng.chance(50) {
                let n = rd_u32(valid, NSECTIONS_AT) as usize;
                let (i, j) = (rng.below(n), rng.below(n));
                let (a, c) = (entry_at(i), entry_at(j));
                if a.max(c) + SECTION_ENTRY_SIZE > b.len() {
                    return "nothing".into();
                }
                let ea = valid[a..a + SECTION_ENTRY_SIZE].to_vec();
                let ec = valid[c..c + SECTION_ENTRY_SIZE].to_vec();
                b[a..a + SECTION_ENTRY_SIZE].copy_from_slice(&ec);
                b[c..c + SECTION_ENTRY_SIZE].copy_from_slice(&ea);
                format!("section entries {i} and {j} swapped")
            } else {
                let len = rng.below(b.len());
                b.truncate(len);
                format!("truncate to {len}")
            }
        }
    }
}

/// What a loaded mutant is, compared with the original.
#[derive(Debug, PartialEq, Eq)]
enum Accepted {
    /// Only bytes the loader ignores changed (padding, reserved fields):
    /// the same module.
    Same,
    /// Everything but the machine code is the same: another program,
    /// which is not the loader's to detect (out of scope; not run).
    OtherCode,
    /// Some structure changed but is consistent (e.g. data bytes, an
    /// export name, a trap code, the recorded wasm hash): not run either.
    OtherModule,
}

/// How a mutant that loaded differs from the original: its class and the
/// parts that differ.
fn classify(mutant: &[u8], valid: &[u8]) -> (Accepted, Vec<&'static str>) {
    let (m, v) = (AotFile::parse(mutant).unwrap(), AotFile::parse(valid).unwrap());
    let (mc, vc) = (&m.compat, &v.compat);
    let parts = [
        ("flags", m.flags == v.flags),
        ("compat.target_triple", mc.target_triple == vc.target_triple),
        ("compat.compiler", mc.compiler == vc.compiler),
        ("compat.wasm_sha256", mc.wasm_sha256 == vc.wasm_sha256),
        ("compat.opt_level", mc.opt_level == vc.opt_level),
        ("compat.cpu_features", mc.cpu_features == vc.cpu_features),
        ("compat.wasm_features", mc.wasm_features == vc.wasm_features),
        ("compat (other)", mc == vc),
        ("data", m.data == v.data),
        ("wasm", m.wasm == v.wasm),
        ("metadata", m.metadata == v.metadata),
        ("code entries", m.code == v.code),
        ("defined", m.defined == v.defined),
        ("type trampolines", m.type_trampolines == v.type_trampolines),
        ("traps", m.traps == v.traps),
        ("relocs", m.relocs == v.relocs),
    ];
    let diff: Vec<&'static str> = parts.iter().filter(|(_, same)| !same).map(|(p, _)| *p).collect();
    let text_same = m.text == v.text;
    let class = match (diff.is_empty(), text_same) {
        (true, true) => Accepted::Same,
        (true, false) => Accepted::OtherCode,
        _ => Accepted::OtherModule,
    };
    (class, diff)
}

/// A deterministic mutation run over the small file (alternately the one
/// for this CPU and the one for the baseline CPU, which has library-call
/// relocations): `KILN_AOT_MUTANTS` mutants (default 2000) from seed
/// `KILN_AOT_SEED`, half of them with
/// the length and checksum fixed so that the checks behind the checksum
/// are reached. The loader must return an `.aot` error or a module, never
/// panic (each load runs under `catch_unwind`; the panicking mutants are
/// listed) nor crash (set `KILN_AOT_MUTANT_TRACE=1` to print each mutant
/// before loading it, to find the one that crashed). Mutants that load
/// and are the same module (only padding or reserved bytes changed) must
/// run correctly; ones with other code are not run.
#[test]
fn mutation_run() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let count = env("KILN_AOT_MUTANTS").unwrap_or(2000);
    let seed = env("KILN_AOT_SEED").unwrap_or(0x6b69_6c6e_0a07).max(1);
    let trace = std::env::var_os("KILN_AOT_MUTANT_TRACE").is_some();
    let engine = Engine::default();
    let sources = [small_aot(), small_baseline_aot()];
    let mut rng = Rng(seed);
    let mut panics = Vec::new();
    let mut other_kinds = Vec::new();
    let (mut not_aot, mut truncated, mut corrupt, mut incompatible, mut malformed) = (0, 0, 0, 0, 0);
    let (mut same, mut other_code, mut other_module) = (0, 0, 0);
    let mut changed = std::collections::BTreeMap::new();
    let started = std::time::Instant::now();
    for i in 0..count {
        let valid = sources[i as usize % 2];
        let mut b = valid.to_vec();
        let mut ops = Vec::new();
        for _ in 0..1 + rng.below(3) {
            ops.push(mutate(&mut rng, &mut b, valid));
        }
        if rng.chance(50) {
            fix_header(&mut b);
            ops.push("length and checksum fixed".into());
        }
        let what = format!("mutant {i} (seed {seed:#x}): {}", ops.join("; "));
        if trace {
            eprintln!("{what}");
        }
        let before = marks();
        let result = catch_unwind(AssertUnwindSafe(|| Module::from_aot_bytes(&engine, &b)));
        assert_eq!(marks(), before, "{what}: guest code ran while loading");
        match result {
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panics.push(format!("{what}: panicked: {msg}"));
            }
            Ok(Err(e)) => match e.as_aot() {
                Some(AotError::NotAot) => not_aot += 1,
                Some(AotError::Truncated(_)) => truncated += 1,
                Some(AotError::Corrupt(_)) => corrupt += 1,
                Some(AotError::Incompatible { .. }) => incompatible += 1,
                Some(AotError::Malformed(_)) => malformed += 1,
                None => other_kinds.push(format!("{what}: error of kind {:?}: {e}", e.kind())),
            },
            Ok(Ok(module)) => match classify(&b, valid) {
                (Accepted::Same, _) => {
                    same += 1;
                    run_small(&engine, &module);
                }
                (Accepted::OtherCode, _) => other_code += 1,
                (Accepted::OtherModule, parts) => {
                    other_module += 1;
                    for p in parts {
                        *changed.entry(p).or_insert(0usize) += 1;
                    }
                }
            },
        }
    }
    println!(
        "mutation_run: {count} mutants in {:.1?}: refused {not_aot} not .aot, {truncated} truncated, {corrupt} corrupt, \
         {incompatible} incompatible, {malformed} malformed; loaded {same} same module (run), {other_code} other code, \
         {other_module} other module (changed: {changed:?})",
        started.elapsed()
    );
    assert!(panics.is_empty(), "{} mutants made the loader panic:\n{}", panics.len(), panics.join("\n"));
    assert!(other_kinds.is_empty(), "{} mutants gave non-.aot errors:\n{}", other_kinds.len(), other_kinds.join("\n"));
    // The run reaches the checks behind the checksum.
    assert!(malformed > count / 20, "only {malformed} malformed of {count}");
    assert!(corrupt > count / 10, "only {corrupt} corrupt of {count}");
}

#[test]
fn baseline_file_has_relocations_and_runs() {
    let engine = Engine::default();
    let file = AotFile::parse(small_baseline_aot()).unwrap();
    // On x86-64 without SSE4.1, rounding is a library call.
    if cfg!(target_arch = "x86_64") {
        assert!(
            file.relocs.iter().any(|r| matches!(r.target, kiln_aot_format::compiled::RelocTarget::LibCall(_))),
            "{:?}",
            file.relocs
        );
    }
    let module = Module::from_aot_bytes(&engine, small_baseline_aot()).unwrap();
    run_small(&engine, &module);
}
