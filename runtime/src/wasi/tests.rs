//! Unit tests of the WASI implementation, called directly on a `Vec<u8>`
//! standing in for linear memory (the `kiln` crate's `tests/wasi_api.rs`
//! covers the same functions through real guest modules).

use super::abi::{self, Errno, Fdstat, Filestat, filetype, oflags, rights};
use super::ctx::{Entry, FdTable, Input, Kind};
use super::fd::{TimeSpec, times_spec};
use super::mem::{GuestMemory, Iovec, MAX_TRANSFER};
use super::path::symlink_escapes;
use super::preview1 as p;
use super::{MemoryOutputPipe, Raise, WasiCtxBuilder};
use std::io::{self, Write};

fn put_u32(mem: &mut [u8], at: usize, v: u32) {
    mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn get_u32(mem: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(mem[at..at + 4].try_into().unwrap())
}
fn get_u64(mem: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(mem[at..at + 8].try_into().unwrap())
}

#[test]
fn guest_memory_bounds() {
    let mut data = vec![0u8; 100];
    let mut m = GuestMemory::new(&mut data);
    assert_eq!(m.range(0, 100), Ok(0..100));
    assert_eq!(m.range(100, 0), Ok(100..100));
    assert_eq!(m.range(100, 1), Err(Errno::Fault));
    assert_eq!(m.range(u32::MAX, u32::MAX), Err(Errno::Fault));
    assert_eq!(m.array_range(0, u32::MAX, 8), Err(Errno::Fault));
    assert_eq!(m.array_range(0, 12, 8), Ok(0..96));
    assert_eq!(m.read_u64(93), Err(Errno::Fault));
    assert_eq!(m.write_u32(97, 1), Err(Errno::Fault));
    m.write_u32(96, 0xdead_beef).unwrap();
    assert_eq!(m.read_u32(96), Ok(0xdead_beef));
    assert_eq!(m.read_u16(96), Ok(0xbeef));
    m.write(0, &[0xff, 0xfe]).unwrap();
    assert_eq!(m.str(0, 2), Err(Errno::Ilseq));
    m.write(0, b"ok").unwrap();
    assert_eq!(m.str(0, 2), Ok("ok"));
}

#[test]
fn iovecs_are_checked_and_gathered() {
    let mut data = vec![0u8; 64];
    put_u32(&mut data, 0, 40);
    put_u32(&mut data, 4, 3);
    put_u32(&mut data, 8, 50);
    put_u32(&mut data, 12, 2);
    data[40..43].copy_from_slice(b"abc");
    data[50..52].copy_from_slice(b"de");
    let mut m = GuestMemory::new(&mut data);
    let iovs = m.iovecs(0, 2).unwrap();
    assert_eq!(iovs, [Iovec { ptr: 40, len: 3 }, Iovec { ptr: 50, len: 2 }]);
    assert_eq!(m.gather(&iovs).unwrap(), b"abcde");
    // Scatter stops when the bytes run out.
    assert_eq!(m.scatter(&iovs, b"XYZW").unwrap(), 4);
    assert_eq!(m.slice(40, 3).unwrap(), b"XYZ");
    assert_eq!(m.slice(50, 2).unwrap(), b"We");
    // A buffer past the end, or an array past the end.
    m.write_u32(12, 20).unwrap();
    assert_eq!(m.iovecs(0, 2), Err(Errno::Fault));
    assert_eq!(m.iovecs(60, 1), Err(Errno::Fault));
    // Gathering is capped, so overlapping huge iovecs cannot exhaust memory.
    let many = vec![Iovec { ptr: 0, len: 64 }; 10];
    assert_eq!(m.gather(&many).unwrap().len(), 640);
    const { assert!(MAX_TRANSFER >= 1 << 20) };
}

#[test]
fn host_errors_map_to_errnos() {
    use rustix::io::Errno as H;
    let os = |e: H| io::Error::from_raw_os_error(e.raw_os_error());
    assert_eq!(Errno::from_io(&os(H::NOENT)), Errno::Noent);
    assert_eq!(Errno::from_io(&os(H::ACCESS)), Errno::Acces);
    assert_eq!(Errno::from_io(&os(H::EXIST)), Errno::Exist);
    assert_eq!(Errno::from_io(&os(H::NOTEMPTY)), Errno::Notempty);
    assert_eq!(Errno::from_io(&os(H::LOOP)), Errno::Loop);
    assert_eq!(Errno::from_io(&os(H::XDEV)), Errno::Xdev);
    assert_eq!(Errno::from_io(&os(H::OPNOTSUPP)), Errno::Notsup);
    assert_eq!(Errno::from_io(&os(H::AGAIN)), Errno::Again);
    // cap-std's sandbox escape: PermissionDenied without an OS code.
    let escape = io::Error::new(io::ErrorKind::PermissionDenied, "a path led outside of the filesystem");
    assert_eq!(Errno::from_io(&escape), Errno::Notcapable);
    assert_eq!(Errno::from_io(&io::Error::from(io::ErrorKind::NotFound)), Errno::Noent);
    assert_eq!(Errno::from_io(&io::Error::other("?")), Errno::Io);
    assert_eq!(Errno::Fault.raw(), 21);
    assert_eq!(Errno::Notcapable.raw(), 76);
    assert_eq!(Errno::Spipe.raw(), 70);
}

#[test]
fn abi_layouts() {
    let st = Filestat { dev: 1, ino: 2, filetype: 3, nlink: 4, size: 5, atim: 6, mtim: 7, ctim: 8 };
    let b = st.encode();
    assert_eq!(b.len(), 64);
    let at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    assert_eq!([at(0), at(8), u64::from(b[16]), at(24), at(32), at(40), at(48), at(56)], [1, 2, 3, 4, 5, 6, 7, 8]);
    let fs = Fdstat { filetype: 4, flags: 0x11, rights_base: 0xaa, rights_inheriting: 0xbb }.encode();
    assert_eq!((fs.len(), fs[0], u16::from_le_bytes([fs[2], fs[3]])), (24, 4, 0x11));
    assert_eq!((get_u64(&fs, 8), get_u64(&fs, 16)), (0xaa, 0xbb));
    let d = abi::encode_dirent(9, 10, 11, 12);
    assert_eq!((get_u64(&d, 0), get_u64(&d, 8), get_u32(&d, 16), d[20]), (9, 10, 11, 12));
    let e = abi::encode_event(5, Errno::Badf, 2, 77, 1);
    assert_eq!((get_u64(&e, 0), u16::from_le_bytes([e[8], e[9]]), e[10], get_u64(&e, 16), e[24]), (5, 8, 2, 77, 1));
    assert_eq!(rights::ALL.count_ones(), 30);
    assert_eq!(rights::SOCK_ACCEPT, 1 << 29);
}

#[test]
fn symlink_targets_that_escape() {
    assert!(symlink_escapes("/etc", "l"));
    assert!(symlink_escapes("..", "l"));
    assert!(symlink_escapes("../x", "l"));
    assert!(symlink_escapes("a/../../x", "l"));
    assert!(symlink_escapes("../../x", "d/l"));
    assert!(!symlink_escapes("../x", "d/l"));
    assert!(!symlink_escapes("x", "l"));
    assert!(!symlink_escapes("./a/./b/..", "l"));
    assert!(!symlink_escapes("..", "d/e/l"));
}

#[test]
fn signals() {
    assert_eq!(p::proc_raise(0), Ok(Raise::Continue));
    assert_eq!(p::proc_raise(6), Ok(Raise::Terminate(128 + 6)), "SIGABRT");
    assert_eq!(p::proc_raise(16), Ok(Raise::Continue), "SIGCHLD");
    assert_eq!(p::proc_raise(23), Ok(Raise::Terminate(128 + 24)), "SIGXCPU is 24 on Linux");
    assert_eq!(p::proc_raise(31), Err(Errno::Inval));
}

#[test]
fn set_times_flags() {
    assert_eq!(times_spec(1, 2, 0), Ok((TimeSpec::Omit, TimeSpec::Omit)));
    assert_eq!(times_spec(1, 2, 1 | 8), Ok((TimeSpec::At(1), TimeSpec::Now)));
    assert_eq!(times_spec(1, 2, 1 | 2), Err(Errno::Inval));
    assert_eq!(times_spec(1, 2, 16), Err(Errno::Inval));
}

#[test]
fn fd_table_reuses_lowest_free() {
    let mut t = FdTable::default();
    let e = || Entry::new(Kind::Stdin(Input::Bytes { data: vec![], pos: 0 }), 0, 0);
    assert_eq!((t.insert(e()), t.insert(e()), t.insert(e())), (Ok(0), Ok(1), Ok(2)));
    t.remove(1).unwrap();
    assert!(t.remove(1).is_err());
    assert_eq!(t.insert(e()), Ok(1));
    assert!(t.put(10, e()).is_none());
    assert!(t.get(9).is_err());
    assert_eq!(t.insert(e()), Ok(3));
    assert!(t.get(10).is_ok());
}

#[test]
fn memory_output_pipe() {
    let p = MemoryOutputPipe::with_limit(5);
    let mut w = p.clone();
    assert_eq!(w.write(b"abc").unwrap(), 3);
    assert_eq!(w.write(b"defg").unwrap(), 2);
    assert_eq!(w.write(b"h").unwrap_err().kind(), io::ErrorKind::StorageFull);
    assert_eq!(p.contents(), b"abcde");
    assert_eq!(p.take_contents(), b"abcde");
    assert_eq!(w.write(b"h").unwrap(), 1);
}

#[test]
fn stdio_through_the_functions() {
    let out = MemoryOutputPipe::new();
    let mut ctx = WasiCtxBuilder::new().stdin_bytes("12345").stdout(out.clone()).build();
    let mut mem = vec![0u8; 256];
    // Two iovecs over the same bytes (overlap is allowed).
    mem[100..105].copy_from_slice(b"hello");
    for (k, (ptr, len)) in [(100, 5), (100, 2)].into_iter().enumerate() {
        put_u32(&mut mem, 8 * k, ptr);
        put_u32(&mut mem, 8 * k + 4, len);
    }
    assert_eq!(p::fd_write(&mut ctx, &mut mem, 1, 0, 2, 200), Ok(()));
    assert_eq!(get_u32(&mem, 200), 7);
    assert_eq!(out.contents(), b"hellohe");
    assert_eq!(p::fd_read(&mut ctx, &mut mem, 0, 0, 2, 200), Ok(()));
    assert_eq!(get_u32(&mem, 200), 5);
    assert_eq!(&mem[100..105], b"12345", "scattered: the first iovec takes all 5, the second none");
    assert_eq!(p::fd_read(&mut ctx, &mut mem, 0, 0, 1, 200), Ok(()));
    assert_eq!(get_u32(&mem, 200), 0);
    assert_eq!(p::fd_read(&mut ctx, &mut mem, 7, 0, 1, 200), Err(Errno::Badf));
    assert_eq!(p::fd_fdstat_get(&mut ctx, &mut mem, 0, 128), Ok(()));
    assert_eq!(mem[128], filetype::UNKNOWN);
    assert_eq!(get_u64(&mem, 136), rights::STDIN_BASE);
    assert_eq!(p::args_sizes_get(&mut ctx, &mut mem, 0, 4), Ok(()));
    assert_eq!((get_u32(&mem, 0), get_u32(&mem, 4)), (0, 0));
}

#[test]
fn preopen_ops_through_the_functions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ctx = WasiCtxBuilder::new().preopened_dir(tmp.path(), "/d").unwrap().build();
    let mut mem = vec![0u8; 4096];
    mem[0..5].copy_from_slice(b"x.txt");
    let base = rights::FD_READ | rights::FD_WRITE | rights::FD_SEEK;
    let r = p::path_open(&mut ctx, &mut mem, 3, 1, 0, 5, oflags::CREAT.into(), base, 0, 0, 16);
    assert_eq!(r, Ok(()));
    let fd = get_u32(&mem, 16);
    assert_eq!(fd, 4);
    assert!(tmp.path().join("x.txt").exists());
    // The new descriptor got only what a file can have.
    assert_eq!(p::fd_fdstat_get(&mut ctx, &mut mem, fd, 64), Ok(()));
    assert_eq!((mem[64], get_u64(&mem, 72)), (filetype::REGULAR_FILE, base));
    // A directory opened with DIRECTORY.
    mem[0] = b'.';
    let r = p::path_open(&mut ctx, &mut mem, 3, 1, 0, 1, oflags::DIRECTORY.into(), rights::ALL, rights::ALL, 0, 16);
    assert_eq!(r, Ok(()));
    let dfd = get_u32(&mem, 16);
    assert_eq!(p::fd_fdstat_get(&mut ctx, &mut mem, dfd, 64), Ok(()));
    assert_eq!(mem[64], filetype::DIRECTORY);
    assert_eq!(get_u64(&mem, 72), rights::DIRECTORY_BASE);
    assert_eq!(p::fd_prestat_get(&mut ctx, &mut mem, dfd, 64), Err(Errno::Badf), "not a preopen");
    assert_eq!(p::fd_readdir(&mut ctx, &mut mem, dfd, 1024, 2048, 0, 16), Ok(()));
    assert_eq!(get_u32(&mem, 16), 3 * 24 + 1 + 2 + 5);
    // A zero-length clock sleep in poll_oneoff.
    mem[512..560].fill(0);
    mem[512 + 16] = 1;
    assert_eq!(p::poll_oneoff(&mut ctx, &mut mem, 512, 600, 1, 16), Ok(()));
    assert_eq!(get_u32(&mem, 16), 1);
}

#[test]
fn context_is_send() {
    fn send<T: Send>() {}
    send::<super::WasiCtx>();
    send::<MemoryOutputPipe>();
}
