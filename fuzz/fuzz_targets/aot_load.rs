//! Fuzzes kiln's `.aot` loader: any bytes given to `Module::from_aot_bytes`
//! must give a module or an `.aot` error, never a panic or a crash.
//!
//! Each input is loaded twice: as it is (exercising the header checks and
//! the checksum), and with the header's file length and checksum fixed up
//! (so that mutations reach the section table, the compat record, the
//! funcs/traps/relocs sections and the metadata behind the checksum).
//! Only the loader runs: a module that loads is dropped without being
//! instantiated, since a file with a recomputed checksum can hold any
//! machine code.

#![no_main]

use kiln_aot_format::file::{CHECKSUM_OFFSET, HEADER_SIZE, checksum};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn engine() -> &'static kiln::Engine {
    static ENGINE: OnceLock<kiln::Engine> = OnceLock::new();
    ENGINE.get_or_init(kiln::Engine::default)
}

fn load(bytes: &[u8]) {
    if let Err(e) = kiln::Module::from_aot_bytes(engine(), bytes) {
        // Everything the loader refuses is an `.aot` error (kind `Aot`);
        // only failing to map memory for the code is another kind.
        if e.kind() != kiln::ErrorKind::Aot {
            assert!(e.to_string().contains("loading .aot code"), "non-.aot error: {e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    load(data);
    if data.len() >= HEADER_SIZE {
        let mut fixed = data.to_vec();
        let len = fixed.len() as u64;
        fixed[16..24].copy_from_slice(&len.to_le_bytes());
        let sum = checksum(&fixed);
        fixed[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].copy_from_slice(&sum.to_le_bytes());
        load(&fixed);
    }
});
