//! Output straight to a file descriptor: each chunk handed over is one `write(2)`.
//!
//! Rust's `Stdout` is line-buffered (it splits binary data at newline bytes and batches the
//! rest), so a live relay that wants each fragment, cluster or datagram-sized chunk to
//! leave as one unit writes to descriptor 1 itself. A file OUTPUT is opened (created,
//! truncated) only at the first write, so that errors found before any output leave
//! nothing behind.
//!
//! One chunk is one `write(2)` whenever the kernel takes it whole, which it does for a
//! blocking pipe (the call waits until every byte is in; up to `PIPE_BUF` = 4096 bytes
//! they are also never interleaved with another writer's), a regular file with room, a
//! terminal or `/dev/null`. It may take less only if a signal handler interrupts the call
//! after some bytes went in (this program installs none), on a full disk, or when the
//! descriptor is non-blocking and full. A partial write is not an error: the rest goes out
//! in further calls (waiting with `poll(2)` while the descriptor would block, retrying
//! after `EINTR`), so nothing is lost or reordered, but that chunk then took more than one
//! call (`FdOut::writes` then exceeds `FdOut::chunks`).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::rc::Rc;

/// Where the bytes go.
enum Target {
    /// Descriptor 1, borrowed: never closed here.
    Stdout(ManuallyDrop<File>),
    /// A file, opened at the first write.
    Path { path: PathBuf, file: Option<File> },
}

/// What the caller may still need to know once the writer went down with a failed muxer.
#[derive(Debug, Default)]
pub struct Progress {
    /// The regular file this writer created (or truncated), if it did.
    created: std::cell::RefCell<Option<PathBuf>>,
    /// Whether a write failed.
    failed: Cell<bool>,
}

impl Progress {
    /// Whether a write failed (rather than something before it).
    pub fn write_failed(&self) -> bool {
        self.failed.get()
    }

    /// Removes the regular file the writer created, if any (after a failed run).
    pub fn remove_created(&self) {
        if let Some(path) = self.created.borrow_mut().take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A writer on standard output or a lazily created file: one `write(2)` per chunk.
pub struct FdOut {
    target: Target,
    progress: Rc<Progress>,
    /// Bytes written.
    pub bytes: u64,
    /// Chunks handed over.
    pub chunks: u64,
    /// `write(2)` calls that took bytes.
    pub writes: u64,
}

impl FdOut {
    /// Standard output.
    pub fn stdout() -> Self {
        // SAFETY: descriptor 1 is open for the whole run (Rust's runtime opens /dev/null on
        // it if the process started without one), and the ManuallyDrop never closes it, so
        // this File never owns it.
        let file = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
        Self::new(Target::Stdout(file))
    }

    /// The file `path`, created (or truncated) at the first write.
    pub fn file(path: PathBuf) -> Self {
        Self::new(Target::Path { path, file: None })
    }

    fn new(target: Target) -> Self {
        FdOut {
            target,
            progress: Rc::default(),
            bytes: 0,
            chunks: 0,
            writes: 0,
        }
    }

    /// What a failed run may still ask about this writer.
    pub fn progress(&self) -> Rc<Progress> {
        self.progress.clone()
    }

    fn file_mut(&mut self) -> io::Result<&File> {
        match &mut self.target {
            Target::Stdout(file) => Ok(file),
            Target::Path { path, file } => {
                if file.is_none() {
                    let created = File::create(&*path)?;
                    // Only a regular file is ours to remove again: never a FIFO or a
                    // device such as /dev/null.
                    if created.metadata()?.is_file() {
                        *self.progress.created.borrow_mut() = Some(path.clone());
                    }
                    *file = Some(created);
                }
                Ok(file.as_ref().expect("opened above"))
            }
        }
    }

    /// Writes all of `chunk`: one `write(2)` unless the kernel takes less (see the module
    /// documentation).
    pub fn write_whole(&mut self, chunk: &[u8]) -> io::Result<()> {
        let result = self.write_calls(chunk);
        match result {
            Ok(calls) => {
                self.bytes += chunk.len() as u64;
                self.chunks += 1;
                self.writes += u64::from(calls);
                Ok(())
            }
            Err(e) => {
                self.progress.failed.set(true);
                Err(e)
            }
        }
    }

    /// Writes all of `chunk`; returns the number of `write(2)` calls that took bytes.
    fn write_calls(&mut self, chunk: &[u8]) -> io::Result<u32> {
        let mut file = self.file_mut()?;
        let mut rest = chunk;
        let mut calls = 0u32;
        while !rest.is_empty() {
            match file.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    rest = &rest[n..];
                    calls += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(file)?,
                Err(e) => return Err(e),
            }
        }
        Ok(calls)
    }
}

/// Waits until a non-blocking descriptor takes data again.
fn wait_writable(file: &File) -> io::Result<()> {
    let mut fd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: `fd` is one valid pollfd for the length of the call.
        let n = unsafe { libc::poll(&mut fd, 1, -1) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Plain writers (`--chunk`): each write FFmpeg (through ffio's alignment) makes is one
/// chunk.
impl Write for FdOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_whole(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Chunk writers (`--live`): each whole header, fragment, cluster is one chunk.
impl ffio::ChunkWrite for FdOut {
    fn write_chunk(&mut self, chunk: ffio::Chunk<'_>) -> io::Result<()> {
        self.write_whole(chunk.data)
    }
}
