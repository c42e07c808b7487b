//! WASI preview1 through the public API: guest modules (in WAT) that
//! import every `wasi_snapshot_preview1` function and export thin
//! wrappers, driven from Rust, with results checked in guest memory, in
//! errnos and on the host file system. Every test runs in every available
//! tier: the WASI functions are host code, but how they are called differs
//! (in the JIT: a compiled wasm→array trampoline per signature, the calling
//! instance found from the caller's VMContext, errors such as `proc_exit`
//! unwound through native frames).

mod support;

use kiln::wasi::abi::{fdflags, filetype, oflags, rights};
use kiln::wasi::{MemoryOutputPipe, WasiCtx, WasiCtxBuilder};
use kiln::{ErrorKind, Instance, Linker, Memory, Module, Store, Strategy, Val};
use std::path::Path;
use std::time::{Duration, Instant};
use support::tiers::{engine, for_each_tier};

const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EISDIR: i32 = 31;
const ENOENT: i32 = 44;
const ENOTDIR: i32 = 54;
const ENOTEMPTY: i32 = 55;
const ENOTSOCK: i32 = 57;
const ENOTCAPABLE: i32 = 76;

/// Every preview1 import: name and core parameter types (all return an
/// errno `i32` except `proc_exit`).
const SIGNATURES: &[(&str, &str)] = &[
    ("args_get", "i32 i32"),
    ("args_sizes_get", "i32 i32"),
    ("environ_get", "i32 i32"),
    ("environ_sizes_get", "i32 i32"),
    ("clock_res_get", "i32 i32"),
    ("clock_time_get", "i32 i64 i32"),
    ("fd_advise", "i32 i64 i64 i32"),
    ("fd_allocate", "i32 i64 i64"),
    ("fd_close", "i32"),
    ("fd_datasync", "i32"),
    ("fd_fdstat_get", "i32 i32"),
    ("fd_fdstat_set_flags", "i32 i32"),
    ("fd_fdstat_set_rights", "i32 i64 i64"),
    ("fd_filestat_get", "i32 i32"),
    ("fd_filestat_set_size", "i32 i64"),
    ("fd_filestat_set_times", "i32 i64 i64 i32"),
    ("fd_pread", "i32 i32 i32 i64 i32"),
    ("fd_prestat_get", "i32 i32"),
    ("fd_prestat_dir_name", "i32 i32 i32"),
    ("fd_pwrite", "i32 i32 i32 i64 i32"),
    ("fd_read", "i32 i32 i32 i32"),
    ("fd_readdir", "i32 i32 i32 i64 i32"),
    ("fd_renumber", "i32 i32"),
    ("fd_seek", "i32 i64 i32 i32"),
    ("fd_sync", "i32"),
    ("fd_tell", "i32 i32"),
    ("fd_write", "i32 i32 i32 i32"),
    ("path_create_directory", "i32 i32 i32"),
    ("path_filestat_get", "i32 i32 i32 i32 i32"),
    ("path_filestat_set_times", "i32 i32 i32 i32 i64 i64 i32"),
    ("path_link", "i32 i32 i32 i32 i32 i32 i32"),
    ("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32"),
    ("path_readlink", "i32 i32 i32 i32 i32 i32"),
    ("path_remove_directory", "i32 i32 i32"),
    ("path_rename", "i32 i32 i32 i32 i32 i32"),
    ("path_symlink", "i32 i32 i32 i32 i32"),
    ("path_unlink_file", "i32 i32 i32"),
    ("poll_oneoff", "i32 i32 i32 i32"),
    ("proc_exit", "i32"),
    ("proc_raise", "i32"),
    ("sched_yield", ""),
    ("random_get", "i32 i32"),
    ("sock_accept", "i32 i32 i32"),
    ("sock_recv", "i32 i32 i32 i32 i32 i32"),
    ("sock_send", "i32 i32 i32 i32 i32"),
    ("sock_shutdown", "i32 i32"),
];

/// A module importing all of WASI and exporting `w_<name>` wrappers that
/// pass their parameters straight through, plus one page of `memory`.
fn wrapper_wat() -> String {
    let mut wat = String::from("(module\n");
    for (name, params) in SIGNATURES {
        let result = if *name == "proc_exit" { "" } else { "(result i32)" };
        wat += &format!("  (import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} (param {params}) {result}))\n");
    }
    wat += "  (memory (export \"memory\") 1)\n";
    for (name, params) in SIGNATURES {
        let result = if *name == "proc_exit" { "" } else { "(result i32)" };
        let n = params.split_whitespace().count();
        let gets: String = (0..n).map(|i| format!("local.get {i} ")).collect();
        wat += &format!("  (func (export \"w_{name}\") (param {params}) {result} {gets} call ${name})\n");
    }
    wat + ")"
}

fn i(v: i32) -> Val {
    Val::I32(v)
}
fn l(v: i64) -> Val {
    Val::I64(v)
}

/// A guest instance with its store.
struct Guest {
    store: Store<WasiCtx>,
    inst: Instance,
    mem: Memory,
}

/// Scratch layout in guest memory.
const PATH: i32 = 1024; // strings passed as paths
const PATH2: i32 = 2048;
const IOV: i32 = 3072; // iovec arrays
const OUT: i32 = 3584; // result slots
const BUF: i32 = 4096; // data buffers (up to 60 KiB)

impl Guest {
    fn new(tier: Strategy, ctx: WasiCtx) -> Guest {
        let engine = engine(tier);
        let module = Module::new(&engine, wrapper_wat()).expect("wrapper module compiles");
        let mut linker = Linker::new(&engine);
        kiln::wasi::add_to_linker(&mut linker, |c: &mut WasiCtx| c).unwrap();
        let mut store = Store::new(&engine, ctx);
        let inst = linker.instantiate(&mut store, &module).expect("all WASI imports resolve with matching types");
        let mem = inst.get_memory(&mut store, "memory").unwrap();
        Guest { store, inst, mem }
    }

    fn try_call(&mut self, name: &str, args: &[Val]) -> kiln::Result<i32> {
        let f = self.inst.get_func(&mut self.store, &format!("w_{name}")).unwrap();
        let mut out = [Val::I32(0)];
        let results = if name == "proc_exit" { &mut out[..0] } else { &mut out[..] };
        f.call(&mut self.store, args, results)?;
        Ok(out[0].unwrap_i32())
    }

    /// Calls WASI function `name`; returns its errno.
    fn call(&mut self, name: &str, args: &[Val]) -> i32 {
        self.try_call(name, args).unwrap_or_else(|e| panic!("{name} failed: {e}"))
    }

    fn write(&mut self, at: i32, bytes: &[u8]) {
        self.mem.write(&mut self.store, at as usize, bytes).unwrap();
    }
    fn read(&self, at: i32, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        self.mem.read(&self.store, at as usize, &mut b).unwrap();
        b
    }
    fn u32(&self, at: i32) -> u32 {
        u32::from_le_bytes(self.read(at, 4).try_into().unwrap())
    }
    fn u64(&self, at: i32) -> u64 {
        u64::from_le_bytes(self.read(at, 8).try_into().unwrap())
    }
    /// Puts `s` at `at`; returns `(ptr, len)` arguments.
    fn s(&mut self, at: i32, s: &str) -> [Val; 2] {
        self.write(at, s.as_bytes());
        [i(at), i(s.len() as i32)]
    }
    /// Writes iovecs at [`IOV`] for `(ptr, len)` pairs.
    fn iovs(&mut self, iovs: &[(i32, i32)]) -> [Val; 2] {
        let mut b = Vec::new();
        for (p, n) in iovs {
            b.extend_from_slice(&p.to_le_bytes());
            b.extend_from_slice(&n.to_le_bytes());
        }
        self.write(IOV, &b);
        [i(IOV), i(iovs.len() as i32)]
    }

    /// `path_open` under `dir`; the new fd or the errno.
    fn open(&mut self, dir: i32, path: &str, oflags: u16, base: u64, fdflags: u16) -> Result<i32, i32> {
        let [p, n] = self.s(PATH, path);
        let e = self.call(
            "path_open",
            &[i(dir), i(1), p, n, i(oflags.into()), l(base as i64), l(base as i64), i(fdflags.into()), i(OUT)],
        );
        if e == 0 { Ok(self.u32(OUT) as i32) } else { Err(e) }
    }

    /// `fd_write` of `data` (staged at [`BUF`]); returns (errno, nwritten).
    fn fd_write(&mut self, fd: i32, data: &[u8]) -> (i32, u32) {
        self.write(BUF, data);
        let [v, c] = self.iovs(&[(BUF, data.len() as i32)]);
        let e = self.call("fd_write", &[i(fd), v, c, i(OUT)]);
        (e, self.u32(OUT))
    }

    /// `fd_read` of up to `max` bytes into [`BUF`]; the bytes or the errno.
    fn fd_read(&mut self, fd: i32, max: usize) -> Result<Vec<u8>, i32> {
        let [v, c] = self.iovs(&[(BUF, max as i32)]);
        match self.call("fd_read", &[i(fd), v, c, i(OUT)]) {
            0 => {
                let n = self.u32(OUT) as usize;
                Ok(self.read(BUF, n))
            }
            e => Err(e),
        }
    }
}

const RW: u64 = rights::FD_READ
    | rights::FD_WRITE
    | rights::FD_SEEK
    | rights::FD_TELL
    | rights::FD_FILESTAT_GET
    | rights::FD_FILESTAT_SET_SIZE
    | rights::FD_FILESTAT_SET_TIMES
    | rights::FD_ALLOCATE
    | rights::FD_ADVISE
    | rights::FD_SYNC
    | rights::FD_DATASYNC
    | rights::FD_FDSTAT_SET_FLAGS;

fn sandbox(tier: Strategy, dir: &Path) -> Guest {
    Guest::new(tier, WasiCtxBuilder::new().preopened_dir(dir, "/sandbox").unwrap().build())
}

#[test]
fn args_and_environ_round_trip() {
    for_each_tier("args_and_environ_round_trip", |tier| {
        let ctx = WasiCtxBuilder::new().arg("prog.wasm").args(&["a b", "ü"]).env("FOO", "bar").env("EMPTY", "").build();
        let mut g = Guest::new(tier, ctx);
        assert_eq!(g.call("args_sizes_get", &[i(OUT), i(OUT + 4)]), 0);
        assert_eq!((g.u32(OUT), g.u32(OUT + 4)), (3, 10 + 4 + 3));
        assert_eq!(g.call("args_get", &[i(100), i(200)]), 0);
        let ptrs: Vec<u32> = (0..3).map(|k| g.u32(100 + 4 * k)).collect();
        assert_eq!(ptrs, [200, 210, 214]);
        assert_eq!(g.read(200, 17), b"prog.wasm\0a b\0\xc3\xbc\0");

        assert_eq!(g.call("environ_sizes_get", &[i(OUT), i(OUT + 4)]), 0);
        assert_eq!((g.u32(OUT), g.u32(OUT + 4)), (2, 8 + 7));
        assert_eq!(g.call("environ_get", &[i(100), i(300)]), 0);
        assert_eq!((g.u32(100), g.u32(104)), (300, 308));
        assert_eq!(g.read(300, 15), b"FOO=bar\0EMPTY=\0");
    });
}

#[test]
fn fd_write_to_memory_pipes() {
    for_each_tier("fd_write_to_memory_pipes", |tier| {
        let (out, err) = (MemoryOutputPipe::new(), MemoryOutputPipe::new());
        let mut g = Guest::new(tier, WasiCtxBuilder::new().stdout(out.clone()).stderr(err.clone()).build());
        g.write(BUF, b"hello world\n");
        let [v, c] = g.iovs(&[(BUF, 6), (BUF + 6, 0), (BUF + 6, 6)]);
        assert_eq!(g.call("fd_write", &[i(1), v, c, i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 12);
        assert_eq!(g.fd_write(2, b"oops"), (0, 4));
        assert_eq!(out.contents(), b"hello world\n");
        assert_eq!(err.contents(), b"oops");
        // Writing to stdin is not allowed by its rights.
        assert_eq!(g.fd_write(0, b"x").0, ENOTCAPABLE);
        // A bounded pipe reports ENOSPC (51) when full.
        let small = MemoryOutputPipe::with_limit(3);
        let mut g = Guest::new(tier, WasiCtxBuilder::new().stdout(small.clone()).build());
        assert_eq!(g.fd_write(1, b"abcdef").0, 51);
        assert_eq!(small.contents(), b"abc");
    });
}

#[test]
fn fd_read_from_stdin_bytes_and_defaults() {
    for_each_tier("fd_read_from_stdin_bytes_and_defaults", |tier| {
        let mut g = Guest::new(tier, WasiCtxBuilder::new().stdin_bytes(b"abcdef".to_vec()).build());
        let [v, c] = g.iovs(&[(BUF, 4), (BUF + 100, 4)]);
        assert_eq!(g.call("fd_read", &[i(0), v, c, i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 6);
        assert_eq!(g.read(BUF, 4), b"abcd");
        assert_eq!(g.read(BUF + 100, 2), b"ef");
        assert_eq!(g.fd_read(0, 10), Ok(vec![]), "end of input");

        // Defaults: empty stdin, stdout and stderr discarded (writes succeed).
        let mut g = Guest::new(tier, WasiCtxBuilder::new().build());
        assert_eq!(g.fd_read(0, 10), Ok(vec![]));
        assert_eq!(g.fd_write(1, b"gone"), (0, 4));
        assert_eq!(g.fd_write(2, b"gone"), (0, 4));
        assert_eq!(g.fd_read(1, 1), Err(ENOTCAPABLE));
        assert_eq!(g.fd_read(3, 1), Err(EBADF), "no preopens by default");
        assert_eq!(g.call("fd_prestat_get", &[i(3), i(OUT)]), EBADF);

        // A custom reader.
        let mut g = Guest::new(tier, WasiCtxBuilder::new().stdin(std::io::Cursor::new(b"xyz".to_vec())).build());
        assert_eq!(g.fd_read(0, 10), Ok(b"xyz".to_vec()));
    });
}

#[test]
fn fdstat_of_stdio() {
    for_each_tier("fdstat_of_stdio", |tier| {
        let mut g = Guest::new(tier, WasiCtxBuilder::new().stdout(MemoryOutputPipe::new()).build());
        assert_eq!(g.call("fd_fdstat_get", &[i(1), i(OUT)]), 0);
        assert_eq!(g.read(OUT, 1)[0], filetype::UNKNOWN);
        let base = g.u64(OUT + 8);
        assert_ne!(base & rights::FD_WRITE, 0);
        assert_eq!(base & (rights::FD_SEEK | rights::FD_TELL), 0);
        assert_eq!(g.call("fd_seek", &[i(1), l(0), i(0), i(OUT)]), 70, "ESPIPE");
        assert_eq!(g.call("fd_fdstat_get", &[i(9), i(OUT)]), EBADF);
    });
}

#[test]
fn files_in_a_preopen() {
    for_each_tier("files_in_a_preopen", |tier| {
        let tmp = tempfile::tempdir().unwrap();
        let mut g = sandbox(tier, tmp.path());
        // The preopen is fd 3, named "/sandbox".
        assert_eq!(g.call("fd_prestat_get", &[i(3), i(OUT)]), 0);
        assert_eq!((g.read(OUT, 1)[0], g.u32(OUT + 4)), (0, 8));
        assert_eq!(g.call("fd_prestat_dir_name", &[i(3), i(PATH), i(8)]), 0);
        assert_eq!(g.read(PATH, 8), b"/sandbox");
        assert_eq!(g.call("fd_prestat_dir_name", &[i(3), i(PATH), i(7)]), 37, "ENAMETOOLONG");
        assert_eq!(g.call("fd_fdstat_get", &[i(3), i(OUT)]), 0);
        assert_eq!(g.read(OUT, 1)[0], filetype::DIRECTORY);

        let fd = g.open(3, "f.txt", oflags::CREAT | oflags::EXCL, RW, 0).unwrap();
        assert_eq!(fd, 4);
        assert_eq!(g.open(3, "f.txt", oflags::CREAT | oflags::EXCL, RW, 0), Err(20), "EEXIST");
        assert_eq!(g.fd_write(fd, b"hello world"), (0, 11));
        assert_eq!(std::fs::read(tmp.path().join("f.txt")).unwrap(), b"hello world");
        assert_eq!(g.call("fd_tell", &[i(fd), i(OUT)]), 0);
        assert_eq!(g.u64(OUT), 11);
        assert_eq!(g.call("fd_seek", &[i(fd), l(0), i(0), i(OUT)]), 0);
        assert_eq!(g.u64(OUT), 0);
        assert_eq!(g.fd_read(fd, 5), Ok(b"hello".to_vec()));
        assert_eq!(g.call("fd_seek", &[i(fd), l(-5), i(2), i(OUT)]), 0);
        assert_eq!(g.u64(OUT), 6);
        assert_eq!(g.fd_read(fd, 100), Ok(b"world".to_vec()));
        assert_eq!(g.call("fd_seek", &[i(fd), l(-100), i(1), i(OUT)]), 28, "EINVAL for a negative position");

        assert_eq!(g.call("fd_filestat_get", &[i(fd), i(OUT)]), 0);
        assert_eq!(g.read(OUT + 16, 1)[0], filetype::REGULAR_FILE);
        assert_eq!(g.u64(OUT + 32), 11, "size");
        assert_eq!(g.u64(OUT + 24), 1, "nlink");
        let [p, n] = g.s(PATH, "f.txt");
        assert_eq!(g.call("path_filestat_get", &[i(3), i(0), p, n, i(OUT + 64)]), 0);
        assert_eq!(g.read(OUT, 64), g.read(OUT + 64, 64), "fd and path filestat agree");

        // pread/pwrite leave the position alone.
        g.write(BUF, b"HELLO");
        let [v, c] = g.iovs(&[(BUF, 5)]);
        assert_eq!(g.call("fd_pwrite", &[i(fd), v, c, l(0), i(OUT)]), 0);
        let [v, c] = g.iovs(&[(BUF + 10, 3), (BUF + 20, 3)]);
        assert_eq!(g.call("fd_pread", &[i(fd), v, c, l(3), i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 6);
        assert_eq!((g.read(BUF + 10, 3), g.read(BUF + 20, 3)), (b"LO ".to_vec(), b"wor".to_vec()));
        assert_eq!(g.call("fd_tell", &[i(fd), i(OUT)]), 0);
        assert_eq!(g.u64(OUT), 11);

        assert_eq!(g.call("fd_filestat_set_size", &[i(fd), l(4)]), 0);
        assert_eq!(std::fs::read(tmp.path().join("f.txt")).unwrap(), b"HELL");
        assert_eq!(g.call("fd_allocate", &[i(fd), l(0), l(100)]), 0);
        assert_eq!(std::fs::metadata(tmp.path().join("f.txt")).unwrap().len(), 100);
        assert_eq!(g.call("fd_advise", &[i(fd), l(0), l(0), i(1)]), 0);
        assert_eq!(g.call("fd_advise", &[i(fd), l(0), l(0), i(9)]), 28);
        assert_eq!(g.call("fd_sync", &[i(fd)]), 0);
        assert_eq!(g.call("fd_datasync", &[i(fd)]), 0);

        // Times, in nanoseconds.
        let t = 1_600_000_000_123_456_789i64;
        assert_eq!(g.call("fd_filestat_set_times", &[i(fd), l(0), l(t), i(4)]), 0);
        let m = std::fs::metadata(tmp.path().join("f.txt")).unwrap().modified().unwrap();
        assert_eq!(m.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos(), t as u128);
        assert_eq!(g.call("fd_filestat_set_times", &[i(fd), l(0), l(t), i(4 | 8)]), 28, "MTIM with MTIM_NOW");
        let [p, n] = g.s(PATH, "f.txt");
        assert_eq!(g.call("path_filestat_set_times", &[i(3), i(1), p, n, l(t), l(0), i(1)]), 0);
        assert_eq!(g.call("path_filestat_get", &[i(3), i(1), p, n, i(OUT)]), 0);
        assert_eq!(g.u64(OUT + 40), t as u64, "atim");

        // APPEND through fd_fdstat_set_flags.
        assert_eq!(g.call("fd_fdstat_set_flags", &[i(fd), i(fdflags::APPEND.into())]), 0);
        assert_eq!(g.call("fd_fdstat_get", &[i(fd), i(OUT)]), 0);
        assert_eq!(g.read(OUT + 2, 2), fdflags::APPEND.to_le_bytes());
        assert_eq!(g.call("fd_seek", &[i(fd), l(0), i(0), i(OUT)]), 0);
        assert_eq!(g.fd_write(fd, b"!"), (0, 1));
        assert_eq!(std::fs::metadata(tmp.path().join("f.txt")).unwrap().len(), 101);

        // renumber and close.
        let fd2 = g.open(3, "f.txt", 0, rights::FD_READ, 0).unwrap();
        assert_eq!(g.call("fd_renumber", &[i(fd2), i(fd)]), 0);
        assert_eq!(g.call("fd_close", &[i(fd2)]), EBADF, "moved away");
        assert_eq!(g.fd_read(fd, 4), Ok(b"HELL".to_vec()), "fd is now the read-only descriptor");
        assert_eq!(g.call("fd_close", &[i(fd)]), 0);
        assert_eq!(g.call("fd_close", &[i(fd)]), EBADF);
        assert_eq!(g.call("fd_renumber", &[i(1), i(77)]), EBADF);

        // O_TRUNC and the DIRECTORY flag.
        let fd = g.open(3, "f.txt", oflags::TRUNC, RW, 0).unwrap();
        assert_eq!(std::fs::metadata(tmp.path().join("f.txt")).unwrap().len(), 0);
        assert_eq!(g.call("fd_close", &[i(fd)]), 0);
        assert_eq!(g.open(3, "f.txt", oflags::DIRECTORY, RW, 0), Err(ENOTDIR));
        assert_eq!(g.open(3, "missing", 0, RW, 0), Err(ENOENT));
        // Reading a directory descriptor.
        assert_eq!(g.fd_read(3, 4), Err(EISDIR));
    });
}

/// Parses `(d_next, d_ino, name, d_type)` dirents from a readdir buffer.
fn dirents(buf: &[u8]) -> Vec<(u64, u64, String, u8)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 24 <= buf.len() {
        let h = &buf[at..at + 24];
        let next = u64::from_le_bytes(h[0..8].try_into().unwrap());
        let ino = u64::from_le_bytes(h[8..16].try_into().unwrap());
        let namlen = u32::from_le_bytes(h[16..20].try_into().unwrap()) as usize;
        let name = &buf[at + 24..(at + 24 + namlen).min(buf.len())];
        out.push((next, ino, String::from_utf8_lossy(name).into_owned(), h[20]));
        at += 24 + namlen;
    }
    out
}

#[test]
fn readdir_lists_entries_with_cookies() {
    for_each_tier("readdir_lists_entries_with_cookies", |tier| {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a"), b"1").unwrap();
        std::fs::write(tmp.path().join("bb"), b"22").unwrap();
        std::fs::create_dir(tmp.path().join("c")).unwrap();
        std::os::unix::fs::symlink("a", tmp.path().join("ln")).unwrap();
        let mut g = sandbox(tier, tmp.path());
        assert_eq!(g.call("fd_readdir", &[i(3), i(BUF), i(4096), l(0), i(OUT)]), 0);
        let used = g.u32(OUT) as usize;
        assert!(used < 4096, "whole listing fits");
        let ents = dirents(&g.read(BUF, used));
        let mut names: Vec<(String, u8)> = ents.iter().map(|e| (e.2.clone(), e.3)).collect();
        names.sort();
        assert_eq!(
            names,
            [
                (".".into(), filetype::DIRECTORY),
                ("..".into(), filetype::DIRECTORY),
                ("a".into(), filetype::REGULAR_FILE),
                ("bb".into(), filetype::REGULAR_FILE),
                ("c".into(), filetype::DIRECTORY),
                ("ln".into(), filetype::SYMBOLIC_LINK),
            ]
        );
        let cookies: Vec<u64> = ents.iter().map(|e| e.0).collect();
        assert_eq!(cookies, [1, 2, 3, 4, 5, 6]);
        use std::os::unix::fs::MetadataExt;
        let a = ents.iter().find(|e| e.2 == "a").unwrap();
        assert_eq!(a.1, std::fs::metadata(tmp.path().join("a")).unwrap().ino());

        // Resuming from a cookie gives the rest.
        assert_eq!(g.call("fd_readdir", &[i(3), i(BUF), i(4096), l(3), i(OUT)]), 0);
        let rest = dirents(&g.read(BUF, g.u32(OUT) as usize));
        assert_eq!(
            rest.iter().map(|e| e.2.clone()).collect::<Vec<_>>(),
            ents[3..].iter().map(|e| e.2.clone()).collect::<Vec<_>>()
        );
        // A small buffer is filled completely (bufused == buf_len means "more").
        assert_eq!(g.call("fd_readdir", &[i(3), i(BUF), i(30), l(0), i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 30);
        // Past the end: nothing.
        assert_eq!(g.call("fd_readdir", &[i(3), i(BUF), i(4096), l(6), i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 0);
        // Cookies stay valid while entries are removed.
        std::fs::remove_file(tmp.path().join("bb")).unwrap();
        assert_eq!(g.call("fd_readdir", &[i(3), i(BUF), i(4096), l(3), i(OUT)]), 0);
        assert_eq!(dirents(&g.read(BUF, g.u32(OUT) as usize)).len(), 3);
        // Not a directory.
        let fd = g.open(3, "a", 0, RW, 0).unwrap();
        assert_eq!(g.call("fd_readdir", &[i(fd), i(BUF), i(4096), l(0), i(OUT)]), ENOTDIR);
    });
}

#[test]
fn mkdir_rename_unlink_rmdir_link_symlink() {
    for_each_tier("mkdir_rename_unlink_rmdir_link_symlink", |tier| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("a"), b"data").unwrap();
        let mut g = sandbox(tier, root);
        let [p, n] = g.s(PATH, "d");
        assert_eq!(g.call("path_create_directory", &[i(3), p, n]), 0);
        assert!(root.join("d").is_dir());
        assert_eq!(g.call("path_create_directory", &[i(3), p, n]), 20, "EEXIST");
        let [op, on] = g.s(PATH, "a");
        let [np, nn] = g.s(PATH2, "d/a2");
        assert_eq!(g.call("path_rename", &[i(3), op, on, i(3), np, nn]), 0);
        assert!(!root.join("a").exists());
        assert_eq!(std::fs::read(root.join("d/a2")).unwrap(), b"data");
        let [p, n] = g.s(PATH, "d");
        assert_eq!(g.call("path_remove_directory", &[i(3), p, n]), ENOTEMPTY);
        assert_eq!(g.call("path_unlink_file", &[i(3), p, n]), EISDIR);

        // Hard link and symlink, readlink.
        let [op, on] = g.s(PATH, "d/a2");
        let [np, nn] = g.s(PATH2, "hard");
        assert_eq!(g.call("path_link", &[i(3), i(0), op, on, i(3), np, nn]), 0);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(root.join("hard")).unwrap().nlink(), 2);
        let [op, on] = g.s(PATH, "d/a2");
        let [np, nn] = g.s(PATH2, "sym");
        assert_eq!(g.call("path_symlink", &[op, on, i(3), np, nn]), 0);
        assert_eq!(std::fs::read_link(root.join("sym")).unwrap(), Path::new("d/a2"));
        let [p, n] = g.s(PATH, "sym");
        assert_eq!(g.call("path_readlink", &[i(3), p, n, i(BUF), i(100), i(OUT)]), 0);
        assert_eq!(g.read(BUF, g.u32(OUT) as usize), b"d/a2");
        assert_eq!(g.call("path_readlink", &[i(3), p, n, i(BUF), i(2), i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 2, "truncated to the buffer");
        // path_link following the symlink links the file itself.
        let [np, nn] = g.s(PATH2, "hard2");
        assert_eq!(g.call("path_link", &[i(3), i(1), p, n, i(3), np, nn]), 0);
        assert!(!std::fs::symlink_metadata(root.join("hard2")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::metadata(root.join("hard")).unwrap().nlink(), 3);
        // stat of the link vs. its target.
        assert_eq!(g.call("path_filestat_get", &[i(3), i(0), p, n, i(OUT)]), 0);
        assert_eq!(g.read(OUT + 16, 1)[0], filetype::SYMBOLIC_LINK);
        assert_eq!(g.call("path_filestat_get", &[i(3), i(1), p, n, i(OUT)]), 0);
        assert_eq!(g.read(OUT + 16, 1)[0], filetype::REGULAR_FILE);
        // Opening the link without SYMLINK_FOLLOW fails (ELOOP = 32).
        let e = g.call("path_open", &[i(3), i(0), p, n, i(0), l(RW as i64), l(0), i(0), i(OUT)]);
        assert_eq!(e, 32);

        for f in ["sym", "hard", "hard2", "d/a2"] {
            let [p, n] = g.s(PATH, f);
            assert_eq!(g.call("path_unlink_file", &[i(3), p, n]), 0, "{f}");
        }
        let [p, n] = g.s(PATH, "d");
        assert_eq!(g.call("path_remove_directory", &[i(3), p, n]), 0);
        assert_eq!(std::fs::read_dir(root).unwrap().count(), 0);
        assert_eq!(g.call("path_remove_directory", &[i(3), p, n]), ENOENT);
        // Path functions on a non-directory descriptor.
        assert_eq!(g.call("path_create_directory", &[i(1), p, n]), ENOTDIR);
    });
}

/// A preopen `root/inner` beside `root/outside/secret`, with symlinks in
/// the preopen pointing out of it.
struct Escape {
    _tmp: tempfile::TempDir,
    inner: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn escape_fixture() -> Escape {
    let tmp = tempfile::tempdir().unwrap();
    let inner = tmp.path().join("inner");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&inner).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    std::fs::write(inner.join("f"), b"inside").unwrap();
    std::fs::create_dir(inner.join("sub0")).unwrap();
    std::os::unix::fs::symlink("../outside", inner.join("out")).unwrap();
    std::os::unix::fs::symlink("..", inner.join("up")).unwrap();
    std::os::unix::fs::symlink("/etc", inner.join("abs")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), inner.join("abs_secret")).unwrap();
    Escape { _tmp: tmp, inner, outside }
}

#[test]
fn sandbox_escapes_fail() {
    for_each_tier("sandbox_escapes_fail", |tier| {
        let fx = escape_fixture();
        let mut g = sandbox(tier, &fx.inner);
        let attempts = [
            "../outside/secret",
            "/etc/passwd",
            "../../../../../../etc/passwd",
            "out/secret",
            "out",
            "up/outside/secret",
            "up",
            "abs/passwd",
            "abs_secret",
            "sub0/../../outside/secret",
        ];
        for path in attempts {
            for (dirflags, oflags) in [(1, 0), (0, 0), (1, oflags::CREAT)] {
                let [p, n] = g.s(PATH, path);
                let e =
                    g.call("path_open", &[i(3), i(dirflags), p, n, i(oflags.into()), l(RW as i64), l(0), i(0), i(OUT)]);
                assert_ne!(e, 0, "path_open({path}, dirflags {dirflags}, oflags {oflags}) must fail");
                if dirflags == 1 {
                    assert_eq!(e, ENOTCAPABLE, "path_open({path})");
                }
            }
            let [p, n] = g.s(PATH, path);
            assert_eq!(g.call("path_filestat_get", &[i(3), i(1), p, n, i(OUT)]), ENOTCAPABLE, "stat {path}");
        }
        // Reading a link that points outside is fine; following it is not.
        let [p, n] = g.s(PATH, "out");
        assert_eq!(g.call("path_readlink", &[i(3), p, n, i(BUF), i(100), i(OUT)]), 0);
        assert_eq!(g.read(BUF, g.u32(OUT) as usize), b"../outside");
        assert_eq!(g.call("path_filestat_get", &[i(3), i(0), p, n, i(OUT)]), 0, "lstat of the link itself");

        // Mutations that would leave the preopen.
        let mut try2 = |name: &str, a: &str, b: &str| {
            let [ap, an] = g.s(PATH, a);
            let [bp, bn] = g.s(PATH2, b);
            let args: Vec<Val> = match name {
                "path_rename" => vec![i(3), ap, an, i(3), bp, bn],
                "path_link" => vec![i(3), i(1), ap, an, i(3), bp, bn],
                "path_symlink" => vec![ap, an, i(3), bp, bn],
                _ => unreachable!(),
            };
            let e = g.call(name, &args);
            assert_ne!(e, 0, "{name}({a}, {b}) must fail");
            e
        };
        assert_eq!(try2("path_rename", "f", "../moved"), ENOTCAPABLE);
        assert_eq!(try2("path_rename", "../outside/secret", "stolen"), ENOTCAPABLE);
        assert_eq!(try2("path_rename", "f", "out/moved"), ENOTCAPABLE);
        assert_eq!(try2("path_link", "f", "../linked"), ENOTCAPABLE);
        assert_eq!(try2("path_link", "../outside/secret", "linked"), ENOTCAPABLE);
        assert_eq!(try2("path_link", "out/secret", "linked"), ENOTCAPABLE);
        assert_eq!(try2("path_link", "abs_secret", "linked"), ENOTCAPABLE, "following an absolute link");
        assert_eq!(try2("path_symlink", "../outside/secret", "evil"), ENOTCAPABLE);
        assert_eq!(try2("path_symlink", "/etc/passwd", "evil"), ENOTCAPABLE);
        assert_eq!(try2("path_symlink", "sub/../../x", "evil"), ENOTCAPABLE);
        assert_eq!(try2("path_symlink", "f", "../evil"), ENOTCAPABLE);
        assert_eq!(try2("path_symlink", "f", "up/evil"), ENOTCAPABLE);
        for (name, path) in [
            ("path_create_directory", "../newdir"),
            ("path_create_directory", "out/newdir"),
            ("path_unlink_file", "../outside/secret"),
            ("path_unlink_file", "out/secret"),
            ("path_remove_directory", "../outside"),
            ("path_remove_directory", "up/outside"),
        ] {
            let [p, n] = g.s(PATH, path);
            assert_eq!(g.call(name, &[i(3), p, n]), ENOTCAPABLE, "{name}({path})");
        }
        let [p, n] = g.s(PATH, "../outside/secret");
        assert_eq!(g.call("path_filestat_set_times", &[i(3), i(1), p, n, l(0), l(0), i(2 | 8)]), ENOTCAPABLE);

        // Nothing outside changed.
        let mut names: Vec<String> =
            std::fs::read_dir(&fx.outside).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["secret"]);
        assert_eq!(std::fs::read(fx.outside.join("secret")).unwrap(), b"secret");
        let parent = fx.inner.parent().unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(parent).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["inner", "outside"]);
        assert_eq!(std::fs::read(fx.inner.join("f")).unwrap(), b"inside");
        // A relative link that stays inside is allowed.
        let mut g = sandbox(tier, &fx.inner);
        std::fs::create_dir(fx.inner.join("sub")).unwrap();
        let [ap, an] = g.s(PATH, "../f");
        let [bp, bn] = g.s(PATH2, "sub/ok");
        assert_eq!(g.call("path_symlink", &[ap, an, i(3), bp, bn]), 0);
        assert_eq!(g.open(3, "sub/ok", 0, rights::FD_READ, 0).map(|_| ()), Ok(()));
    });
}

#[test]
fn rights_are_enforced() {
    for_each_tier("rights_are_enforced", |tier| {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"abc").unwrap();
        let mut g = sandbox(tier, tmp.path());
        // Read-only descriptor: writing is not capable, and the rights can only
        // shrink.
        let fd = g.open(3, "f", 0, rights::FD_READ | rights::FD_SEEK, 0).unwrap();
        assert_eq!(g.fd_write(fd, b"x").0, ENOTCAPABLE);
        assert_eq!(g.call("fd_filestat_get", &[i(fd), i(OUT)]), ENOTCAPABLE);
        assert_eq!(g.call("fd_fdstat_set_rights", &[i(fd), l(RW as i64), l(0)]), ENOTCAPABLE);
        assert_eq!(g.call("fd_fdstat_set_rights", &[i(fd), l(rights::FD_SEEK as i64), l(0)]), 0);
        assert_eq!(g.fd_read(fd, 3), Err(ENOTCAPABLE));
        assert_eq!(g.call("fd_fdstat_get", &[i(fd), i(OUT)]), 0);
        assert_eq!(g.u64(OUT + 8), rights::FD_SEEK);
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"abc");

        // Dropping PATH_OPEN from the preopen.
        let base = rights::DIRECTORY_BASE & !rights::PATH_OPEN;
        assert_eq!(g.call("fd_fdstat_set_rights", &[i(3), l(base as i64), l(rights::DIRECTORY_INHERITING as i64)]), 0);
        assert_eq!(g.open(3, "f", 0, rights::FD_READ, 0), Err(ENOTCAPABLE));

        // A read-only tree: no creating, and files opened for writing get no
        // FD_WRITE.
        let ro_inh = rights::DIRECTORY_INHERITING & !(rights::FD_WRITE | rights::PATH_CREATE_FILE);
        let ro_base = rights::DIRECTORY_BASE & !(rights::PATH_CREATE_FILE | rights::PATH_UNLINK_FILE);
        let ctx = WasiCtxBuilder::new().preopened_dir_with_rights(tmp.path(), "ro", ro_base, ro_inh).unwrap().build();
        let mut g = Guest::new(tier, ctx);
        assert_eq!(g.open(3, "new", oflags::CREAT, RW, 0), Err(ENOTCAPABLE));
        let fd = g.open(3, "f", 0, RW, 0).unwrap();
        assert_eq!(g.fd_write(fd, b"x").0, ENOTCAPABLE);
        assert_eq!(g.fd_read(fd, 3), Ok(b"abc".to_vec()));
        let [p, n] = g.s(PATH, "f");
        assert_eq!(g.call("path_unlink_file", &[i(3), p, n]), ENOTCAPABLE);
        assert!(tmp.path().join("f").exists() && !tmp.path().join("new").exists());
    });
}

#[test]
fn bad_pointers_are_efault() {
    for_each_tier("bad_pointers_are_efault", |tier| {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"abc").unwrap();
        let ctx =
            WasiCtxBuilder::new().arg("x").stdin_bytes(b"in".to_vec()).preopened_dir(tmp.path(), "/").unwrap().build();
        let mut g = Guest::new(tier, ctx);
        let end = 65536;
        // iovec array outside memory, and an iovec whose buffer is.
        assert_eq!(g.call("fd_write", &[i(1), i(end - 4), i(1), i(OUT)]), EFAULT);
        assert_eq!(g.call("fd_write", &[i(1), i(-8), i(1), i(OUT)]), EFAULT);
        assert_eq!(g.call("fd_write", &[i(1), i(IOV), i(0x2000_0000), i(OUT)]), EFAULT);
        let [v, c] = g.iovs(&[(end - 2, 4)]);
        assert_eq!(g.call("fd_write", &[i(1), v, c, i(OUT)]), EFAULT);
        let [v, c] = g.iovs(&[(BUF, 1), (-1, 2)]);
        assert_eq!(g.call("fd_read", &[i(0), v, c, i(OUT)]), EFAULT);
        // Nothing was consumed by the failed read.
        assert_eq!(g.fd_read(0, 10), Ok(b"in".to_vec()));
        // Result pointer outside memory.
        let [v, c] = g.iovs(&[(BUF, 1)]);
        assert_eq!(g.call("fd_write", &[i(1), v, c, i(end - 3)]), EFAULT);
        // Strings and paths.
        assert_eq!(g.call("path_open", &[i(3), i(1), i(end - 1), i(2), i(0), l(0), l(0), i(0), i(OUT)]), EFAULT);
        assert_eq!(g.call("path_open", &[i(3), i(1), i(-1), i(-1), i(0), l(0), l(0), i(0), i(OUT)]), EFAULT);
        let [p, n] = g.s(PATH, "f");
        assert_eq!(g.call("path_open", &[i(3), i(1), p, n, i(0), l(1 << 1), l(0), i(0), i(end)]), EFAULT);
        assert_eq!(g.call("fd_close", &[i(4)]), EBADF, "no descriptor leaked by the failed open");
        assert_eq!(g.call("args_get", &[i(end - 2), i(0)]), EFAULT);
        assert_eq!(g.call("args_get", &[i(0), i(end - 1)]), EFAULT);
        assert_eq!(g.call("args_sizes_get", &[i(end), i(0)]), EFAULT);
        assert_eq!(g.call("environ_sizes_get", &[i(0), i(-4)]), EFAULT);
        assert_eq!(g.call("random_get", &[i(end - 10), i(11)]), EFAULT);
        assert_eq!(g.call("clock_time_get", &[i(1), l(0), i(end - 7)]), EFAULT);
        assert_eq!(g.call("fd_fdstat_get", &[i(1), i(end - 23)]), EFAULT);
        assert_eq!(g.call("fd_filestat_get", &[i(3), i(end - 63)]), EFAULT);
        assert_eq!(g.call("fd_readdir", &[i(3), i(end - 10), i(100), l(0), i(OUT)]), EFAULT);
        assert_eq!(g.call("fd_prestat_dir_name", &[i(3), i(end), i(1)]), EFAULT);
        assert_eq!(g.call("poll_oneoff", &[i(end - 47), i(BUF), i(1), i(OUT)]), EFAULT);
        assert_eq!(g.call("poll_oneoff", &[i(BUF), i(end - 31), i(1), i(OUT)]), EFAULT);
        assert_eq!(g.call("poll_oneoff", &[i(BUF), i(BUF), i(0x7fff_ffff), i(OUT)]), EFAULT);
        assert_eq!(g.call("path_readlink", &[i(3), p, n, i(end - 1), i(100), i(OUT)]), EFAULT);
        // Invalid UTF-8 in a path is EILSEQ (25).
        g.write(PATH, &[0xff, 0xfe]);
        assert_eq!(g.call("path_create_directory", &[i(3), i(PATH), i(2)]), 25);
    });
}

#[test]
fn proc_exit_and_proc_raise() {
    for_each_tier("proc_exit_and_proc_raise", |tier| {
        let engine = engine(tier);
        let module = Module::new(
            &engine,
            r#"(module
                (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                (func (export "_start") (call $exit (i32.const 7)) unreachable))"#,
        )
        .unwrap();
        let mut linker = Linker::new(&engine);
        kiln::wasi::add_to_linker(&mut linker, |c: &mut WasiCtx| c).unwrap();
        let mut store = Store::new(&engine, WasiCtxBuilder::new().build());
        let inst = linker.instantiate(&mut store, &module).unwrap();
        let start = inst.get_typed_func::<(), ()>(&mut store, "_start").unwrap();
        let err = start.call(&mut store, ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Exit);
        assert_eq!(err.exit_code(), Some(7));

        let mut g = Guest::new(tier, WasiCtxBuilder::new().build());
        assert_eq!(g.try_call("proc_exit", &[i(0)]).unwrap_err().exit_code(), Some(0));
        assert_eq!(g.call("proc_raise", &[i(0)]), 0);
        assert_eq!(g.call("proc_raise", &[i(16)]), 0, "SIGCHLD is ignored by default");
        assert_eq!(g.call("proc_raise", &[i(99)]), 28);
        let err = g.try_call("proc_raise", &[i(15)]).unwrap_err();
        assert_eq!((err.kind(), err.exit_code()), (ErrorKind::Exit, Some(128 + 15)));
        assert_eq!(g.call("sched_yield", &[]), 0);
    });
}

#[test]
fn clocks_and_random() {
    for_each_tier("clocks_and_random", |tier| {
        let mut g = Guest::new(tier, WasiCtxBuilder::new().build());
        assert_eq!(g.call("clock_time_get", &[i(1), l(1), i(OUT)]), 0);
        let t0 = g.u64(OUT);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(g.call("clock_time_get", &[i(1), l(1), i(OUT)]), 0);
        let t1 = g.u64(OUT);
        assert!(t1 >= t0 + 2_000_000, "monotonic clock advances: {t0} -> {t1}");
        assert_eq!(g.call("clock_time_get", &[i(0), l(1), i(OUT)]), 0);
        let real = g.u64(OUT) as u128;
        let host = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        assert!(host.abs_diff(real) < 5_000_000_000, "realtime is the epoch time");
        for id in [2, 3] {
            assert_eq!(g.call("clock_time_get", &[i(id), l(1), i(OUT)]), 0);
            assert!(g.u64(OUT) > 0, "CPU-time clock {id}");
        }
        for id in 0..4 {
            assert_eq!(g.call("clock_res_get", &[i(id), i(OUT)]), 0);
            assert!((1..=1_000_000_000).contains(&g.u64(OUT)));
        }
        assert_eq!(g.call("clock_time_get", &[i(4), l(1), i(OUT)]), 28);

        g.write(BUF, &[0; 64]);
        assert_eq!(g.call("random_get", &[i(BUF), i(64)]), 0);
        let a = g.read(BUF, 64);
        assert_eq!(g.call("random_get", &[i(BUF), i(64)]), 0);
        let b = g.read(BUF, 64);
        assert!(a.iter().any(|&x| x != 0) && a != b);
        assert_eq!(g.call("random_get", &[i(BUF), i(0)]), 0);
    });
}

/// A clock subscription: userdata, clock id, timeout (ns), flags.
fn clock_sub(userdata: u64, id: u32, timeout: u64, flags: u16) -> Vec<u8> {
    let mut s = vec![0u8; 48];
    s[0..8].copy_from_slice(&userdata.to_le_bytes());
    s[8] = 0;
    s[16..20].copy_from_slice(&id.to_le_bytes());
    s[24..32].copy_from_slice(&timeout.to_le_bytes());
    s[40..42].copy_from_slice(&flags.to_le_bytes());
    s
}

fn fd_sub(userdata: u64, tag: u8, fd: u32) -> Vec<u8> {
    let mut s = vec![0u8; 48];
    s[0..8].copy_from_slice(&userdata.to_le_bytes());
    s[8] = tag;
    s[16..20].copy_from_slice(&fd.to_le_bytes());
    s
}

#[test]
fn poll_oneoff_clocks_and_fds() {
    for_each_tier("poll_oneoff_clocks_and_fds", |tier| {
        let mut g = Guest::new(tier, WasiCtxBuilder::new().stdin_bytes(b"abc".to_vec()).build());
        // A 10 ms relative sleep.
        g.write(BUF, &clock_sub(0x1234, 1, 10_000_000, 0));
        let t = Instant::now();
        assert_eq!(g.call("poll_oneoff", &[i(BUF), i(BUF + 1024), i(1), i(OUT)]), 0);
        assert!(t.elapsed() >= Duration::from_millis(10), "slept {:?}", t.elapsed());
        assert_eq!(g.u32(OUT), 1);
        let ev = g.read(BUF + 1024, 32);
        assert_eq!(u64::from_le_bytes(ev[0..8].try_into().unwrap()), 0x1234);
        assert_eq!((ev[8], ev[9], ev[10]), (0, 0, 0), "no error, type clock");

        // Absolute deadline on the monotonic and the realtime clocks.
        for id in [1u32, 0] {
            assert_eq!(g.call("clock_time_get", &[i(id as i32), l(1), i(OUT)]), 0);
            let now = g.u64(OUT);
            g.write(BUF, &clock_sub(7, id, now + 10_000_000, 1));
            let t = Instant::now();
            assert_eq!(g.call("poll_oneoff", &[i(BUF), i(BUF + 1024), i(1), i(OUT)]), 0);
            assert!(t.elapsed() >= Duration::from_millis(9), "clock {id}: {:?}", t.elapsed());
            assert_eq!(g.u32(OUT), 1);
        }

        // stdin is ready at once, with its byte count; the long clock does not
        // fire.
        let mut subs = clock_sub(1, 1, 5_000_000_000, 0);
        subs.extend(fd_sub(2, 1, 0));
        subs.extend(fd_sub(3, 2, 1));
        subs.extend(fd_sub(4, 1, 99));
        g.write(BUF, &subs);
        let t = Instant::now();
        assert_eq!(g.call("poll_oneoff", &[i(BUF), i(BUF + 1024), i(4), i(OUT)]), 0);
        assert!(t.elapsed() < Duration::from_secs(4));
        assert_eq!(g.u32(OUT), 3);
        let evs: Vec<(u64, u16, u8, u64)> = (0..3)
            .map(|k| {
                let e = g.read(BUF + 1024 + 32 * k, 32);
                (
                    u64::from_le_bytes(e[0..8].try_into().unwrap()),
                    u16::from_le_bytes([e[8], e[9]]),
                    e[10],
                    u64::from_le_bytes(e[16..24].try_into().unwrap()),
                )
            })
            .collect();
        assert_eq!(evs, [(2, 0, 1, 3), (3, 0, 2, 0), (4, EBADF as u16, 1, 0)]);
        assert_eq!(g.call("poll_oneoff", &[i(BUF), i(BUF + 1024), i(0), i(OUT)]), 28, "no subscriptions");
    });
}

#[test]
fn sockets() {
    for_each_tier("sockets", |tier| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"ping").unwrap();
            let mut reply = Vec::new();
            s.read_to_end(&mut reply).unwrap();
            reply
        });
        let mut g = Guest::new(tier, WasiCtxBuilder::new().preopened_socket(listener).build());
        assert_eq!(g.call("fd_fdstat_get", &[i(3), i(OUT)]), 0);
        assert_eq!(g.read(OUT, 1)[0], filetype::SOCKET_STREAM);
        assert_eq!(g.call("fd_prestat_get", &[i(3), i(OUT)]), EBADF, "a socket is not a preopened directory");
        // Wait for the connection with poll_oneoff, then accept it.
        g.write(BUF, &fd_sub(9, 1, 3));
        assert_eq!(g.call("poll_oneoff", &[i(BUF), i(BUF + 1024), i(1), i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 1);
        assert_eq!(g.call("sock_accept", &[i(3), i(0), i(OUT)]), 0);
        let conn = g.u32(OUT) as i32;
        // Peek leaves the data queued; WAITALL fills the buffer.
        let [v, c] = g.iovs(&[(BUF, 2)]);
        assert_eq!(g.call("sock_recv", &[i(conn), v, c, i(1), i(OUT), i(OUT + 4)]), 0);
        assert_eq!(g.read(BUF, g.u32(OUT) as usize), b"pi");
        let [v, c] = g.iovs(&[(BUF, 2), (BUF + 10, 2)]);
        assert_eq!(g.call("sock_recv", &[i(conn), v, c, i(2), i(OUT), i(OUT + 4)]), 0);
        assert_eq!(g.u32(OUT), 4);
        assert_eq!((g.read(BUF, 2), g.read(BUF + 10, 2)), (b"pi".to_vec(), b"ng".to_vec()));
        assert_eq!(&g.read(OUT + 4, 2), &[0, 0]);
        g.write(BUF, b"pong");
        let [v, c] = g.iovs(&[(BUF, 4)]);
        assert_eq!(g.call("sock_send", &[i(conn), v, c, i(0), i(OUT)]), 0);
        assert_eq!(g.u32(OUT), 4);
        assert_eq!(g.call("sock_shutdown", &[i(conn), i(0)]), 28);
        assert_eq!(g.call("sock_shutdown", &[i(conn), i(3)]), 0);
        assert_eq!(client.join().unwrap(), b"pong");
        // Listener-only and stream-only operations.
        assert_eq!(g.call("sock_accept", &[i(conn), i(0), i(OUT)]), ENOTCAPABLE);
        assert_eq!(g.call("sock_recv", &[i(3), v, c, i(0), i(OUT), i(OUT + 4)]), ENOTCAPABLE);
        // Non-blocking accept without a pending connection: EAGAIN (6).
        assert_eq!(g.call("fd_fdstat_set_flags", &[i(3), i(fdflags::NONBLOCK.into())]), 0);
        assert_eq!(g.call("sock_accept", &[i(3), i(0), i(OUT)]), 6);
        // Not sockets.
        for fd in [0, 1, 2] {
            assert_eq!(g.call("sock_recv", &[i(fd), v, c, i(0), i(OUT), i(OUT + 4)]), ENOTSOCK);
            assert_eq!(g.call("sock_send", &[i(fd), v, c, i(0), i(OUT)]), ENOTSOCK);
            assert_eq!(g.call("sock_shutdown", &[i(fd), i(3)]), ENOTSOCK);
            assert_eq!(g.call("sock_accept", &[i(fd), i(0), i(OUT)]), ENOTSOCK);
        }
        assert_eq!(g.call("sock_shutdown", &[i(42), i(3)]), EBADF);
    });
}

#[test]
fn caller_without_memory_gets_an_error() {
    for_each_tier("caller_without_memory_gets_an_error", |tier| {
        let engine = engine(tier);
        let module = Module::new(
            &engine,
            r#"(module
                (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
                (import "wasi_snapshot_preview1" "fd_close" (func $c (param i32) (result i32)))
                (func (export "write") (result i32) (call $w (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
                (func (export "close") (result i32) (call $c (i32.const 2))))"#,
        )
        .unwrap();
        let mut linker = Linker::new(&engine);
        kiln::wasi::add_to_linker(&mut linker, |c: &mut WasiCtx| c).unwrap();
        let mut store = Store::new(&engine, WasiCtxBuilder::new().build());
        let inst = linker.instantiate(&mut store, &module).unwrap();
        let write = inst.get_typed_func::<(), i32>(&mut store, "write").unwrap();
        let err = write.call(&mut store, ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Host);
        assert!(err.to_string().contains("memory"), "{err}");
        // Functions without pointers work without a memory.
        let close = inst.get_typed_func::<(), i32>(&mut store, "close").unwrap();
        assert_eq!(close.call(&mut store, ()).unwrap(), 0);
    });
}

#[test]
fn context_inside_embedder_state() {
    for_each_tier("context_inside_embedder_state", |tier| {
        struct State {
            wasi: WasiCtx,
            calls: u32,
        }
        let engine = engine(tier);
        let module = Module::new(
            &engine,
            r#"(module
                (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
                (import "host" "count" (func $count))
                (memory (export "memory") 1)
                (data (i32.const 8) "\10\00\00\00\02\00\00\00")
                (data (i32.const 16) "ok")
                (func (export "_start") (call $count) (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 0)))))"#,
        )
        .unwrap();
        let out = MemoryOutputPipe::new();
        let mut linker = Linker::new(&engine);
        kiln::wasi::add_to_linker(&mut linker, |s: &mut State| &mut s.wasi).unwrap();
        linker.func_wrap("host", "count", |mut c: kiln::Caller<'_, State>| c.data_mut().calls += 1).unwrap();
        // One module, many isolated runs (as a service would do per request).
        for _ in 0..3 {
            let wasi = WasiCtxBuilder::new().stdout(out.clone()).build();
            let mut store = Store::new(&engine, State { wasi, calls: 0 });
            let inst = linker.instantiate(&mut store, &module).unwrap();
            inst.get_typed_func::<(), ()>(&mut store, "_start").unwrap().call(&mut store, ()).unwrap();
            assert_eq!(store.data().calls, 1);
        }
        assert_eq!(out.take_contents(), b"okokok");
        assert!(out.contents().is_empty());
        // Defining WASI twice is an error unless shadowing is allowed.
        assert!(kiln::wasi::add_to_linker(&mut linker, |s: &mut State| &mut s.wasi).is_err());
    });
}

/// `wasi_unstable` (preview0): every one of its functions links with its
/// witx core signature (the same as preview1's) in every tier, through
/// `add_to_linker` and through `add_preview0_to_linker` alone; there is no
/// `sock_accept`. (Its behaviour is covered by the runtime's unit tests and
/// the `preview0` C program of tests/programs.)
#[test]
fn preview0_links_every_function() {
    let names = kiln::wasi::preview0::FUNCTIONS;
    assert_eq!(names.len(), SIGNATURES.len() - 1);
    let mut wat = String::from("(module\n");
    for name in names {
        let (_, params) = SIGNATURES.iter().find(|(n, _)| *n == name).expect("a preview1 function");
        let result = if name == "proc_exit" { "" } else { "(result i32)" };
        wat += &format!("  (import \"wasi_unstable\" \"{name}\" (func (param {params}) {result}))\n");
    }
    wat += "  (memory (export \"memory\") 1))";
    let accept = r#"(module (import "wasi_unstable" "sock_accept" (func (param i32 i32 i32) (result i32))))"#;
    let preview1 = r#"(module (import "wasi_snapshot_preview1" "fd_close" (func (param i32) (result i32))))"#;
    for_each_tier("preview0_links_every_function", |tier| {
        let engine = engine(tier);
        let module = Module::new(&engine, &wat).unwrap();
        let mut both = Linker::new(&engine);
        kiln::wasi::add_to_linker(&mut both, |c: &mut WasiCtx| c).unwrap();
        let mut p0 = Linker::new(&engine);
        kiln::wasi::add_preview0_to_linker(&mut p0, |c: &mut WasiCtx| c).unwrap();
        for linker in [&both, &p0] {
            let mut store = Store::new(&engine, WasiCtxBuilder::new().build());
            linker.instantiate(&mut store, &module).expect("every preview0 import resolves with matching types");
            let err = linker.instantiate(&mut store, &Module::new(&engine, accept).unwrap()).unwrap_err();
            assert!(err.to_string().contains("wasi_unstable::sock_accept"), "{err}");
        }
        let mut store = Store::new(&engine, WasiCtxBuilder::new().build());
        assert!(p0.instantiate(&mut store, &Module::new(&engine, preview1).unwrap()).is_err(), "preview0 only");
        assert!(both.instantiate(&mut store, &Module::new(&engine, preview1).unwrap()).is_ok());
    });
}
