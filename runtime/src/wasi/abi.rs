//! The `wasi_snapshot_preview1` ABI: the [`Errno`] codes and every other
//! enumeration, flag set and struct layout of the preview1 witx
//! (`typenames.witx`), with the values the spec assigns.
//!
//! Struct layouts (little-endian, sizes in bytes, fields at the offsets
//! given in each `*_SIZE` constant's documentation) are encoded by the
//! helpers at the end of this module.

use std::fmt;
use std::io;

/// A WASI error code (`errno`, a `u16`). [`Errno::Success`] is never used as
/// an error: functions return `Result<_, Errno>` and the binding layer turns
/// `Ok` into 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u16)]
#[allow(missing_docs)]
pub enum Errno {
    Success = 0,
    TooBig = 1,
    Acces = 2,
    Addrinuse = 3,
    Addrnotavail = 4,
    Afnosupport = 5,
    Again = 6,
    Already = 7,
    Badf = 8,
    Badmsg = 9,
    Busy = 10,
    Canceled = 11,
    Child = 12,
    Connaborted = 13,
    Connrefused = 14,
    Connreset = 15,
    Deadlk = 16,
    Destaddrreq = 17,
    Dom = 18,
    Dquot = 19,
    Exist = 20,
    Fault = 21,
    Fbig = 22,
    Hostunreach = 23,
    Idrm = 24,
    Ilseq = 25,
    Inprogress = 26,
    Intr = 27,
    Inval = 28,
    Io = 29,
    Isconn = 30,
    Isdir = 31,
    Loop = 32,
    Mfile = 33,
    Mlink = 34,
    Msgsize = 35,
    Multihop = 36,
    Nametoolong = 37,
    Netdown = 38,
    Netreset = 39,
    Netunreach = 40,
    Nfile = 41,
    Nobufs = 42,
    Nodev = 43,
    Noent = 44,
    Noexec = 45,
    Nolck = 46,
    Nolink = 47,
    Nomem = 48,
    Nomsg = 49,
    Noprotoopt = 50,
    Nospc = 51,
    Nosys = 52,
    Notconn = 53,
    Notdir = 54,
    Notempty = 55,
    Notrecoverable = 56,
    Notsock = 57,
    Notsup = 58,
    Notty = 59,
    Nxio = 60,
    Overflow = 61,
    Ownerdead = 62,
    Perm = 63,
    Pipe = 64,
    Proto = 65,
    Protonosupport = 66,
    Prototype = 67,
    Range = 68,
    Rofs = 69,
    Spipe = 70,
    Srch = 71,
    Stale = 72,
    Timedout = 73,
    Txtbsy = 74,
    Xdev = 75,
    Notcapable = 76,
}

impl Errno {
    /// The numeric code, as returned to the guest.
    pub fn raw(self) -> u16 {
        self as u16
    }

    /// The errno for a host error: the host's OS error code when there is
    /// one (via rustix's `Errno`), otherwise the [`io::ErrorKind`]. cap-std's
    /// sandbox-escape errors (`PermissionDenied` without an OS code) become
    /// [`Errno::Notcapable`].
    pub fn from_io(e: &io::Error) -> Errno {
        if let Some(errno) = rustix::io::Errno::from_io_error(e) {
            return Errno::from_host(errno);
        }
        use io::ErrorKind as K;
        match e.kind() {
            K::NotFound => Errno::Noent,
            K::PermissionDenied => Errno::Notcapable,
            K::ConnectionRefused => Errno::Connrefused,
            K::ConnectionReset => Errno::Connreset,
            K::ConnectionAborted => Errno::Connaborted,
            K::NotConnected => Errno::Notconn,
            K::AddrInUse => Errno::Addrinuse,
            K::AddrNotAvailable => Errno::Addrnotavail,
            K::BrokenPipe => Errno::Pipe,
            K::AlreadyExists => Errno::Exist,
            K::WouldBlock => Errno::Again,
            K::InvalidInput | K::InvalidData => Errno::Inval,
            K::TimedOut => Errno::Timedout,
            K::WriteZero => Errno::Io,
            K::Interrupted => Errno::Intr,
            K::Unsupported => Errno::Notsup,
            K::UnexpectedEof => Errno::Io,
            K::OutOfMemory => Errno::Nomem,
            K::IsADirectory => Errno::Isdir,
            K::NotADirectory => Errno::Notdir,
            K::DirectoryNotEmpty => Errno::Notempty,
            K::ReadOnlyFilesystem => Errno::Rofs,
            K::StorageFull => Errno::Nospc,
            K::NotSeekable => Errno::Spipe,
            K::FileTooLarge => Errno::Fbig,
            K::ResourceBusy => Errno::Busy,
            K::ExecutableFileBusy => Errno::Txtbsy,
            K::Deadlock => Errno::Deadlk,
            K::CrossesDevices => Errno::Xdev,
            K::TooManyLinks => Errno::Mlink,
            K::InvalidFilename => Errno::Nametoolong,
            K::ArgumentListTooLong => Errno::TooBig,
            K::HostUnreachable => Errno::Hostunreach,
            K::NetworkUnreachable => Errno::Netunreach,
            K::NetworkDown => Errno::Netdown,
            _ => Errno::Io,
        }
    }

    /// The WASI errno for a host (POSIX) errno.
    pub fn from_host(e: rustix::io::Errno) -> Errno {
        use rustix::io::Errno as H;
        match e {
            H::TOOBIG => Errno::TooBig,
            H::ACCESS => Errno::Acces,
            H::ADDRINUSE => Errno::Addrinuse,
            H::ADDRNOTAVAIL => Errno::Addrnotavail,
            H::AFNOSUPPORT => Errno::Afnosupport,
            H::AGAIN => Errno::Again,
            H::ALREADY => Errno::Already,
            H::BADF => Errno::Badf,
            H::BADMSG => Errno::Badmsg,
            H::BUSY => Errno::Busy,
            H::CANCELED => Errno::Canceled,
            H::CHILD => Errno::Child,
            H::CONNABORTED => Errno::Connaborted,
            H::CONNREFUSED => Errno::Connrefused,
            H::CONNRESET => Errno::Connreset,
            H::DEADLK => Errno::Deadlk,
            H::DESTADDRREQ => Errno::Destaddrreq,
            H::DOM => Errno::Dom,
            H::DQUOT => Errno::Dquot,
            H::EXIST => Errno::Exist,
            H::FAULT => Errno::Fault,
            H::FBIG => Errno::Fbig,
            H::HOSTUNREACH => Errno::Hostunreach,
            H::IDRM => Errno::Idrm,
            H::ILSEQ => Errno::Ilseq,
            H::INPROGRESS => Errno::Inprogress,
            H::INTR => Errno::Intr,
            H::INVAL => Errno::Inval,
            H::IO => Errno::Io,
            H::ISCONN => Errno::Isconn,
            H::ISDIR => Errno::Isdir,
            H::LOOP => Errno::Loop,
            H::MFILE => Errno::Mfile,
            H::MLINK => Errno::Mlink,
            H::MSGSIZE => Errno::Msgsize,
            H::MULTIHOP => Errno::Multihop,
            H::NAMETOOLONG => Errno::Nametoolong,
            H::NETDOWN => Errno::Netdown,
            H::NETRESET => Errno::Netreset,
            H::NETUNREACH => Errno::Netunreach,
            H::NFILE => Errno::Nfile,
            H::NOBUFS => Errno::Nobufs,
            H::NODEV => Errno::Nodev,
            H::NOENT => Errno::Noent,
            H::NOEXEC => Errno::Noexec,
            H::NOLCK => Errno::Nolck,
            H::NOLINK => Errno::Nolink,
            H::NOMEM => Errno::Nomem,
            H::NOMSG => Errno::Nomsg,
            H::NOPROTOOPT => Errno::Noprotoopt,
            H::NOSPC => Errno::Nospc,
            H::NOSYS => Errno::Nosys,
            H::NOTCONN => Errno::Notconn,
            H::NOTDIR => Errno::Notdir,
            H::NOTEMPTY => Errno::Notempty,
            H::NOTRECOVERABLE => Errno::Notrecoverable,
            H::NOTSOCK => Errno::Notsock,
            H::NOTSUP => Errno::Notsup,
            H::NOTTY => Errno::Notty,
            H::NXIO => Errno::Nxio,
            H::OVERFLOW => Errno::Overflow,
            H::OWNERDEAD => Errno::Ownerdead,
            H::PERM => Errno::Perm,
            H::PIPE => Errno::Pipe,
            H::PROTO => Errno::Proto,
            H::PROTONOSUPPORT => Errno::Protonosupport,
            H::PROTOTYPE => Errno::Prototype,
            H::RANGE => Errno::Range,
            H::ROFS => Errno::Rofs,
            H::SPIPE => Errno::Spipe,
            H::SRCH => Errno::Srch,
            H::STALE => Errno::Stale,
            H::TIMEDOUT => Errno::Timedout,
            H::TXTBSY => Errno::Txtbsy,
            H::XDEV => Errno::Xdev,
            _ => Errno::Io,
        }
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Errno {
        Errno::from_io(&e)
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Errno {
        Errno::from_host(e)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WASI errno {} ({:?})", self.raw(), self)
    }
}

impl std::error::Error for Errno {}

/// `Result` of a WASI function body.
pub type WasiResult<T> = Result<T, Errno>;

/// `filetype` (u8).
pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_DGRAM: u8 = 5;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `rights` (u64 flags): what a descriptor may be used for.
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;
    /// Every right preview1 defines.
    pub const ALL: u64 = (1 << 30) - 1;

    /// The most a regular file descriptor can have.
    pub const REGULAR_FILE_BASE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
    /// The most a directory descriptor can have.
    pub const DIRECTORY_BASE: u64 = FD_DATASYNC
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_ADVISE
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | POLL_FD_READWRITE;
    /// What descriptors opened beneath a directory can have at most.
    pub const DIRECTORY_INHERITING: u64 = DIRECTORY_BASE | REGULAR_FILE_BASE;
    /// A connected stream socket.
    pub const SOCKET_BASE: u64 =
        FD_READ | FD_WRITE | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE | SOCK_SHUTDOWN;
    /// A listening socket.
    pub const LISTENER_BASE: u64 = FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE | SOCK_ACCEPT;
    /// Standard input (no seek/tell, so wasi-libc's `isatty` can succeed).
    pub const STDIN_BASE: u64 = FD_READ | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE;
    /// Standard output and error.
    pub const STDOUT_BASE: u64 =
        FD_WRITE | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE | FD_SYNC | FD_DATASYNC;
}

/// `fdflags` (u16).
pub mod fdflags {
    pub const APPEND: u16 = 1 << 0;
    pub const DSYNC: u16 = 1 << 1;
    pub const NONBLOCK: u16 = 1 << 2;
    pub const RSYNC: u16 = 1 << 3;
    pub const SYNC: u16 = 1 << 4;
    pub const ALL: u16 = (1 << 5) - 1;
}

/// `oflags` (u16) for `path_open`.
pub mod oflags {
    pub const CREAT: u16 = 1 << 0;
    pub const DIRECTORY: u16 = 1 << 1;
    pub const EXCL: u16 = 1 << 2;
    pub const TRUNC: u16 = 1 << 3;
    pub const ALL: u16 = (1 << 4) - 1;
}

/// `lookupflags` (u32).
pub mod lookupflags {
    pub const SYMLINK_FOLLOW: u32 = 1 << 0;
}

/// `fstflags` (u16) for the `*_set_times` functions.
pub mod fstflags {
    pub const ATIM: u16 = 1 << 0;
    pub const ATIM_NOW: u16 = 1 << 1;
    pub const MTIM: u16 = 1 << 2;
    pub const MTIM_NOW: u16 = 1 << 3;
    pub const ALL: u16 = (1 << 4) - 1;
}

/// `whence` (u8) for `fd_seek`.
pub mod whence {
    pub const SET: u8 = 0;
    pub const CUR: u8 = 1;
    pub const END: u8 = 2;
}

/// `advice` (u8) for `fd_advise`.
pub mod advice {
    pub const NORMAL: u8 = 0;
    pub const SEQUENTIAL: u8 = 1;
    pub const RANDOM: u8 = 2;
    pub const WILLNEED: u8 = 3;
    pub const DONTNEED: u8 = 4;
    pub const NOREUSE: u8 = 5;
}

/// `clockid` (u32).
pub mod clockid {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME_ID: u32 = 2;
    pub const THREAD_CPUTIME_ID: u32 = 3;
}

/// `eventtype` (u8), `subclockflags` (u16) and `eventrwflags` (u16) for
/// `poll_oneoff`.
pub mod event {
    pub const CLOCK: u8 = 0;
    pub const FD_READ: u8 = 1;
    pub const FD_WRITE: u8 = 2;
    pub const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1 << 0;
    pub const FD_READWRITE_HANGUP: u16 = 1 << 0;
}

/// `riflags`, `roflags`, `siflags` and `sdflags` for the socket functions.
pub mod sock {
    pub const RECV_PEEK: u16 = 1 << 0;
    pub const RECV_WAITALL: u16 = 1 << 1;
    pub const RECV_DATA_TRUNCATED: u16 = 1 << 0;
    pub const SHUT_RD: u8 = 1 << 0;
    pub const SHUT_WR: u8 = 1 << 1;
}

/// `preopentype` (u8).
pub mod preopentype {
    pub const DIR: u8 = 0;
}

/// `iovec`/`ciovec`: `buf: u32` at 0, `buf_len: u32` at 4.
pub const IOVEC_SIZE: u32 = 8;
/// `filestat`: dev u64 @0, ino u64 @8, filetype u8 @16, nlink u64 @24,
/// size u64 @32, atim u64 @40, mtim u64 @48, ctim u64 @56.
pub const FILESTAT_SIZE: u32 = 64;
/// `fdstat`: fs_filetype u8 @0, fs_flags u16 @2, fs_rights_base u64 @8,
/// fs_rights_inheriting u64 @16.
pub const FDSTAT_SIZE: u32 = 24;
/// `dirent` header: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16,
/// d_type u8 @20; the name follows (not NUL-terminated).
pub const DIRENT_SIZE: u32 = 24;
/// `prestat`: tag u8 @0, then for `dir` pr_name_len u32 @4.
pub const PRESTAT_SIZE: u32 = 8;
/// `subscription`: userdata u64 @0, tag u8 @8, then at 16 either
/// `subscription_clock` (id u32 @16, timeout u64 @24, precision u64 @32,
/// flags u16 @40) or `subscription_fd_readwrite` (file_descriptor u32 @16).
pub const SUBSCRIPTION_SIZE: u32 = 48;
/// `event`: userdata u64 @0, error u16 @8, type u8 @10, then
/// `event_fd_readwrite` nbytes u64 @16, flags u16 @24.
pub const EVENT_SIZE: u32 = 32;

/// A `filestat`. Times are nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Filestat {
    /// The 64-byte encoding.
    pub fn encode(&self) -> [u8; FILESTAT_SIZE as usize] {
        let mut b = [0u8; FILESTAT_SIZE as usize];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16] = self.filetype;
        b[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        b[40..48].copy_from_slice(&self.atim.to_le_bytes());
        b[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        b[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        b
    }
}

/// An `fdstat`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Fdstat {
    pub filetype: u8,
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
}

impl Fdstat {
    /// The 24-byte encoding.
    pub fn encode(&self) -> [u8; FDSTAT_SIZE as usize] {
        let mut b = [0u8; FDSTAT_SIZE as usize];
        b[0] = self.filetype;
        b[2..4].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.rights_base.to_le_bytes());
        b[16..24].copy_from_slice(&self.rights_inheriting.to_le_bytes());
        b
    }
}

/// The 24-byte `dirent` header.
pub fn encode_dirent(next: u64, ino: u64, namlen: u32, filetype: u8) -> [u8; DIRENT_SIZE as usize] {
    let mut b = [0u8; DIRENT_SIZE as usize];
    b[0..8].copy_from_slice(&next.to_le_bytes());
    b[8..16].copy_from_slice(&ino.to_le_bytes());
    b[16..20].copy_from_slice(&namlen.to_le_bytes());
    b[20] = filetype;
    b
}

/// The 32-byte `event`.
pub fn encode_event(userdata: u64, error: Errno, ty: u8, nbytes: u64, flags: u16) -> [u8; EVENT_SIZE as usize] {
    let mut b = [0u8; EVENT_SIZE as usize];
    b[0..8].copy_from_slice(&userdata.to_le_bytes());
    b[8..10].copy_from_slice(&error.raw().to_le_bytes());
    b[10] = ty;
    b[16..24].copy_from_slice(&nbytes.to_le_bytes());
    b[24..26].copy_from_slice(&flags.to_le_bytes());
    b
}
