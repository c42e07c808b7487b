//! [`WasiCtx`] (one guest's WASI state: arguments, environment and the
//! descriptor table) and [`WasiCtxBuilder`], which makes one.

use super::abi::{Errno, WasiResult, filetype, rights};
use crate::{Error, Result};
use cap_std::fs::Dir;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Where a guest's standard input comes from.
pub(crate) enum Input {
    /// In-memory bytes, consumed from `pos`.
    Bytes { data: Vec<u8>, pos: usize },
    /// The host process's standard input (read unbuffered from its fd).
    Inherit(io::Stdin),
    /// Any reader.
    Reader(Box<dyn Read + Send>),
}

/// Where a guest's standard output or error goes.
pub(crate) enum Output {
    /// Dropped.
    Discard,
    /// The host process's standard output.
    Stdout(io::Stdout),
    /// The host process's standard error.
    Stderr(io::Stderr),
    /// Any writer (flushed after every `fd_write`).
    Writer(Box<dyn Write + Send>),
}

/// A `fd_readdir` snapshot entry.
pub(crate) struct DirSnapEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) ino: u64,
    pub(crate) filetype: u8,
}

/// An open directory.
pub(crate) struct DirDesc {
    pub(crate) dir: Dir,
    /// The guest path, for a preopened directory.
    pub(crate) preopen: Option<String>,
    /// The listing `fd_readdir` serves cookies from, taken at cookie 0 so
    /// cookies stay stable while the guest deletes entries as it iterates.
    pub(crate) snapshot: Option<Vec<DirSnapEntry>>,
}

/// What a descriptor refers to.
pub(crate) enum Kind {
    Stdin(Input),
    Stdout(Output),
    File(std::fs::File),
    Dir(DirDesc),
    Listener(TcpListener),
    Stream(TcpStream),
}

/// One descriptor: its object, rights and `fdflags`.
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) base: u64,
    pub(crate) inheriting: u64,
    pub(crate) flags: u16,
}

impl Entry {
    pub(crate) fn new(kind: Kind, base: u64, inheriting: u64) -> Entry {
        Entry { kind, base, inheriting, flags: 0 }
    }

    /// Fails with [`Errno::Notcapable`] unless the descriptor has every
    /// right in `needed`.
    pub(crate) fn require(&self, needed: u64) -> WasiResult<()> {
        if self.base & needed == needed { Ok(()) } else { Err(Errno::Notcapable) }
    }

    /// The host descriptor behind this one, if any.
    pub(crate) fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::Stdin(Input::Inherit(s)) => Some(s.as_fd()),
            Kind::Stdout(Output::Stdout(s)) => Some(s.as_fd()),
            Kind::Stdout(Output::Stderr(s)) => Some(s.as_fd()),
            Kind::Stdin(_) | Kind::Stdout(_) => None,
            Kind::File(f) => Some(f.as_fd()),
            Kind::Dir(d) => Some(d.dir.as_fd()),
            Kind::Listener(l) => Some(l.as_fd()),
            Kind::Stream(s) => Some(s.as_fd()),
        }
    }

    /// Whether this is a stream (no file position: seek gives `ESPIPE`).
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stdin(_) | Kind::Stdout(_) | Kind::Listener(_) | Kind::Stream(_))
    }

    /// The preview1 file type.
    pub(crate) fn filetype(&self) -> u8 {
        match &self.kind {
            Kind::Stdin(Input::Inherit(s)) if s.is_terminal() => filetype::CHARACTER_DEVICE,
            Kind::Stdout(Output::Stdout(s)) if s.is_terminal() => filetype::CHARACTER_DEVICE,
            Kind::Stdout(Output::Stderr(s)) if s.is_terminal() => filetype::CHARACTER_DEVICE,
            Kind::Stdin(_) | Kind::Stdout(_) => filetype::UNKNOWN,
            Kind::File(f) => match f.metadata() {
                Ok(m) => filetype_of(&m.file_type()),
                Err(_) => filetype::UNKNOWN,
            },
            Kind::Dir(_) => filetype::DIRECTORY,
            Kind::Listener(_) | Kind::Stream(_) => filetype::SOCKET_STREAM,
        }
    }
}

/// The preview1 file type of a host file type.
pub(crate) fn filetype_of(ft: &impl FileTypeLike) -> u8 {
    if ft.is_dir() {
        filetype::DIRECTORY
    } else if ft.is_file() {
        filetype::REGULAR_FILE
    } else if ft.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if ft.is_block_device() {
        filetype::BLOCK_DEVICE
    } else if ft.is_char_device() {
        filetype::CHARACTER_DEVICE
    } else if ft.is_socket() {
        filetype::SOCKET_STREAM
    } else {
        filetype::UNKNOWN
    }
}

/// std's and cap-std's `FileType`s alike.
pub(crate) trait FileTypeLike {
    fn is_dir(&self) -> bool;
    fn is_file(&self) -> bool;
    fn is_symlink(&self) -> bool;
    fn is_block_device(&self) -> bool;
    fn is_char_device(&self) -> bool;
    fn is_socket(&self) -> bool;
}

impl FileTypeLike for std::fs::FileType {
    fn is_dir(&self) -> bool {
        std::fs::FileType::is_dir(self)
    }
    fn is_file(&self) -> bool {
        std::fs::FileType::is_file(self)
    }
    fn is_symlink(&self) -> bool {
        std::fs::FileType::is_symlink(self)
    }
    fn is_block_device(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_block_device(self)
    }
    fn is_char_device(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_char_device(self)
    }
    fn is_socket(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_socket(self)
    }
}

impl FileTypeLike for cap_std::fs::FileType {
    fn is_dir(&self) -> bool {
        cap_std::fs::FileType::is_dir(self)
    }
    fn is_file(&self) -> bool {
        cap_std::fs::FileType::is_file(self)
    }
    fn is_symlink(&self) -> bool {
        cap_std::fs::FileType::is_symlink(self)
    }
    fn is_block_device(&self) -> bool {
        cap_std::fs::FileTypeExt::is_block_device(self)
    }
    fn is_char_device(&self) -> bool {
        cap_std::fs::FileTypeExt::is_char_device(self)
    }
    fn is_socket(&self) -> bool {
        cap_std::fs::FileTypeExt::is_socket(self)
    }
}

/// The descriptor table: guest fd → [`Entry`]. New descriptors take the
/// lowest free number, as POSIX does.
#[derive(Default)]
pub(crate) struct FdTable {
    slots: Vec<Option<Entry>>,
}

impl FdTable {
    pub(crate) fn get(&mut self, fd: u32) -> WasiResult<&mut Entry> {
        self.slots.get_mut(fd as usize).and_then(Option::as_mut).ok_or(Errno::Badf)
    }

    pub(crate) fn get_ref(&self, fd: u32) -> WasiResult<&Entry> {
        self.slots.get(fd as usize).and_then(Option::as_ref).ok_or(Errno::Badf)
    }

    pub(crate) fn insert(&mut self, e: Entry) -> WasiResult<u32> {
        let idx = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let fd = u32::try_from(idx).map_err(|_| Errno::Mfile)?;
        self.slots[idx] = Some(e);
        Ok(fd)
    }

    pub(crate) fn remove(&mut self, fd: u32) -> WasiResult<Entry> {
        self.slots.get_mut(fd as usize).and_then(Option::take).ok_or(Errno::Badf)
    }

    /// Puts `e` at `fd`, returning what was there.
    pub(crate) fn put(&mut self, fd: u32, e: Entry) -> Option<Entry> {
        let idx = fd as usize;
        if self.slots.len() <= idx {
            self.slots.resize_with(idx + 1, || None);
        }
        self.slots[idx].replace(e)
    }
}

/// The WASI state of one guest: `argv`, `environ` and the descriptor
/// table (0–2 are stdio, then the preopened directories in the order they
/// were added, then preopened sockets). Made by [`WasiCtxBuilder`]; the
/// `kiln` crate keeps it in the store's data and reaches it through the
/// closure given to `kiln::wasi::add_to_linker`.
pub struct WasiCtx {
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<String>,
    pub(crate) table: FdTable,
}

impl WasiCtx {
    /// A builder (the same as [`WasiCtxBuilder::new`]).
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::new()
    }

    /// The guest's arguments (`argv`, including `argv[0]`).
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The guest's environment as `KEY=VALUE` strings.
    pub fn env(&self) -> &[String] {
        &self.env
    }
}

impl std::fmt::Debug for WasiCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiCtx").field("args", &self.args).field("env", &self.env).finish_non_exhaustive()
    }
}

struct Preopen {
    dir: Dir,
    guest: String,
    base: u64,
    inheriting: u64,
}

/// Builds a [`WasiCtx`], in the style of Wasmtime's `WasiCtxBuilder`:
///
/// ```no_run
/// use kiln_runtime::wasi::{MemoryOutputPipe, WasiCtxBuilder};
/// let stdout = MemoryOutputPipe::new();
/// let ctx = WasiCtxBuilder::new()
///     .arg("app.wasm")
///     .env("LANG", "C")
///     .stdin_bytes(b"input".to_vec())
///     .stdout(stdout.clone())
///     .preopened_dir("/srv/data", "/data")?
///     .build();
/// // ... run the guest, then:
/// let text = stdout.contents();
/// # Ok::<(), kiln_runtime::Error>(())
/// ```
///
/// Defaults: no arguments, an empty environment, **empty stdin** (reads
/// return end-of-file), **stdout and stderr discarded**, no preopened
/// directories: a guest sees nothing of the host unless granted.
pub struct WasiCtxBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    preopens: Vec<Preopen>,
    sockets: Vec<TcpListener>,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder::new()
    }
}

impl WasiCtxBuilder {
    /// A builder with the defaults above.
    pub fn new() -> WasiCtxBuilder {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            stdin: Input::Bytes { data: Vec::new(), pos: 0 },
            stdout: Output::Discard,
            stderr: Output::Discard,
            preopens: Vec::new(),
            sockets: Vec::new(),
        }
    }

    /// Appends one argument (the first is the guest's `argv[0]`).
    pub fn arg(&mut self, arg: impl AsRef<str>) -> &mut Self {
        self.args.push(arg.as_ref().to_string());
        self
    }

    /// Appends arguments.
    pub fn args(&mut self, args: &[impl AsRef<str>]) -> &mut Self {
        self.args.extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Appends the host process's arguments (lossily converted to UTF-8).
    pub fn inherit_args(&mut self) -> &mut Self {
        self.args.extend(std::env::args_os().map(|a| a.to_string_lossy().into_owned()));
        self
    }

    /// Sets environment variable `key` to `value` (a later value replaces
    /// an earlier one).
    pub fn env(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        let (key, value) = (key.as_ref().to_string(), value.as_ref().to_string());
        match self.env.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.env.push((key, value)),
        }
        self
    }

    /// Sets several environment variables.
    pub fn envs(&mut self, vars: &[(impl AsRef<str>, impl AsRef<str>)]) -> &mut Self {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Adds the host process's environment (variables that are not UTF-8
    /// are converted lossily).
    pub fn inherit_env(&mut self) -> &mut Self {
        for (k, v) in std::env::vars_os() {
            self.env(k.to_string_lossy(), v.to_string_lossy());
        }
        self
    }

    /// Standard input reads from `reader`.
    pub fn stdin(&mut self, reader: impl Read + Send + 'static) -> &mut Self {
        self.stdin = Input::Reader(Box::new(reader));
        self
    }

    /// Standard input is these bytes, then end-of-file.
    pub fn stdin_bytes(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Input::Bytes { data: bytes.into(), pos: 0 };
        self
    }

    /// Standard output goes to `writer` (flushed after every write); pass a
    /// clone of a [`MemoryOutputPipe`] to capture it.
    pub fn stdout(&mut self, writer: impl Write + Send + 'static) -> &mut Self {
        self.stdout = Output::Writer(Box::new(writer));
        self
    }

    /// Standard error goes to `writer` (flushed after every write).
    pub fn stderr(&mut self, writer: impl Write + Send + 'static) -> &mut Self {
        self.stderr = Output::Writer(Box::new(writer));
        self
    }

    /// Standard input is the host process's.
    pub fn inherit_stdin(&mut self) -> &mut Self {
        self.stdin = Input::Inherit(io::stdin());
        self
    }

    /// Standard output is the host process's.
    pub fn inherit_stdout(&mut self) -> &mut Self {
        self.stdout = Output::Stdout(io::stdout());
        self
    }

    /// Standard error is the host process's.
    pub fn inherit_stderr(&mut self) -> &mut Self {
        self.stderr = Output::Stderr(io::stderr());
        self
    }

    /// All three standard streams are the host process's.
    pub fn inherit_stdio(&mut self) -> &mut Self {
        self.inherit_stdin().inherit_stdout().inherit_stderr()
    }

    /// Grants the guest the host directory `host_path`, visible to it as
    /// `guest_path` (what wasi-libc matches absolute and relative paths
    /// against; `.` for the current directory). Everything the guest does
    /// on files goes through such directories, resolved by cap-std so that
    /// `..`, absolute paths and symlinks cannot leave them. The directory
    /// gets every directory right, and descriptors opened beneath it every
    /// directory and file right.
    ///
    /// # Errors
    /// When `host_path` cannot be opened as a directory.
    pub fn preopened_dir(&mut self, host_path: impl AsRef<Path>, guest_path: impl AsRef<str>) -> Result<&mut Self> {
        self.preopened_dir_with_rights(host_path, guest_path, rights::DIRECTORY_BASE, rights::DIRECTORY_INHERITING)
    }

    /// Like [`preopened_dir`](Self::preopened_dir) with explicit WASI
    /// rights (bits of [`super::abi::rights`]): `base` for the directory
    /// descriptor, `inheriting` as the most that descriptors opened beneath
    /// it may have. For example, `DIRECTORY_INHERITING & !(FD_WRITE |
    /// PATH_CREATE_FILE | ...)` makes a read-only tree.
    ///
    /// # Errors
    /// When `host_path` cannot be opened as a directory.
    pub fn preopened_dir_with_rights(
        &mut self,
        host_path: impl AsRef<Path>,
        guest_path: impl AsRef<str>,
        base: u64,
        inheriting: u64,
    ) -> Result<&mut Self> {
        let host_path = host_path.as_ref();
        let dir = Dir::open_ambient_dir(host_path, cap_std::ambient_authority())
            .map_err(|e| Error::msg(format!("failed to open directory {} for WASI: {e}", host_path.display())))?;
        self.preopens.push(Preopen {
            dir,
            guest: guest_path.as_ref().to_string(),
            base: base & rights::DIRECTORY_BASE,
            inheriting: inheriting & rights::DIRECTORY_INHERITING,
        });
        Ok(self)
    }

    /// Grants the guest a listening TCP socket, for `sock_accept`. Sockets
    /// get the descriptors after all preopened directories (wasi-libc scans
    /// preopens from fd 3 up to the first that is not one).
    pub fn preopened_socket(&mut self, listener: TcpListener) -> &mut Self {
        self.sockets.push(listener);
        self
    }

    /// The context. The builder is left empty (with the defaults again),
    /// so it can be reused for the next guest.
    pub fn build(&mut self) -> WasiCtx {
        let b = std::mem::take(self);
        let mut table = FdTable::default();
        let mut push = |e: Entry| {
            // Fresh table: inserting cannot run out of descriptor numbers.
            let _ = table.insert(e);
        };
        push(Entry::new(Kind::Stdin(b.stdin), rights::STDIN_BASE, 0));
        push(Entry::new(Kind::Stdout(b.stdout), rights::STDOUT_BASE, 0));
        push(Entry::new(Kind::Stdout(b.stderr), rights::STDOUT_BASE, 0));
        for p in b.preopens {
            let desc = DirDesc { dir: p.dir, preopen: Some(p.guest), snapshot: None };
            push(Entry::new(Kind::Dir(desc), p.base, p.inheriting));
        }
        for l in b.sockets {
            push(Entry::new(Kind::Listener(l), rights::LISTENER_BASE, rights::SOCKET_BASE));
        }
        WasiCtx { args: b.args, env: b.env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(), table }
    }
}

/// A cloneable in-memory sink for a guest's stdout or stderr: give a clone
/// to [`WasiCtxBuilder::stdout`], read [`contents`](Self::contents) after
/// the run. Unbounded by default; [`with_limit`](Self::with_limit) caps it,
/// and writes beyond the cap fail (the guest sees `ENOSPC`).
#[derive(Clone, Debug, Default)]
pub struct MemoryOutputPipe {
    buf: Arc<Mutex<Vec<u8>>>,
    limit: Option<usize>,
}

impl MemoryOutputPipe {
    /// An empty, unbounded pipe.
    pub fn new() -> MemoryOutputPipe {
        MemoryOutputPipe::default()
    }

    /// An empty pipe that holds at most `limit` bytes.
    pub fn with_limit(limit: usize) -> MemoryOutputPipe {
        MemoryOutputPipe { buf: Arc::default(), limit: Some(limit) }
    }

    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.buf.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Takes everything written so far, leaving the pipe empty.
    pub fn take_contents(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for MemoryOutputPipe {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        let room = match self.limit {
            Some(l) => l.saturating_sub(buf.len()),
            None => data.len(),
        };
        if room == 0 && !data.is_empty() {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "memory output pipe is full"));
        }
        let n = data.len().min(room);
        buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
