//! Additional files: the [`Opener`] through which FFmpeg's `io_open` reaches the
//! application, and the registry of the contexts opened for one format context.
//!
//! Formats that read or write more than one file (faststart's second pass over an MP4, HLS
//! and DASH segments and playlists, the `segment` and `image2` muxers, playlist inputs) ask
//! for each further file by name through `AVFormatContext.io_open` and give it back through
//! `io_close2`. By default ffio refuses every such request (`crate::confine`). With an
//! opener, ffio installs the two trampolines of this file instead:
//!
//! * `io_open` hands the raw name FFmpeg asks for to the application's [`Opener`], wraps
//!   the stream it returns in a [`CustomIo`] (reader, writer, seekable or not), shares the
//!   parent's cancellation with it and keeps it in the registry ([`Core`]);
//! * `io_close2` flushes and frees contexts of the registry, spares the parent's own `pb`,
//!   and closes any other context the way FFmpeg's default does (`avio_close`): those are
//!   FFmpeg's own, never ffio's.
//!
//! Child format contexts (hls, dash and segment create them) copy `io_open`, `io_close2`
//! and `opaque`, so the trampolines find the registry through `opaque`, never through the
//! format context they are called with. The registry is linked to the parent's
//! [`CustomIo`] (`CustomIo::link`): errors and panics of the opener and of every opened
//! stream come back from the ffio call that ran them, exactly as the main stream's do. The
//! registry frees whatever FFmpeg did not close when its owner is dropped, after the format
//! context, so FFmpeg may close in any order.
//!
//! On FFmpeg 5.1 and 6.x, `ff_format_io_close` calls `io_close2` only while the deprecated
//! `io_close` is NULL or its default: ffio leaves `io_close` alone.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::raw::{c_char, c_int};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex, PoisonError};

use ffmpeg_sys_next as ffi;

use crate::error::io_error_to_averror;
use crate::interrupt::Interrupt;
use crate::io::{CustomIo, Linked, Reports, SharedReader};

/// What FFmpeg wants to do with a file it asks the [`Opener`] for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenMode {
    /// Read it (`AVIO_FLAG_READ`): a playlist's segment, a reference, an image.
    Read,
    /// Create or replace it and write it (`AVIO_FLAG_WRITE`): a segment, a playlist.
    Write,
}

/// A `Read + Seek + Send` stream, for [`Opened::SeekableReader`].
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send + ?Sized> ReadSeek for T {}

/// A `Write + Seek + Send` stream, for [`Opened::SeekableWriter`].
pub trait WriteSeek: Write + Seek + Send {}
impl<T: Write + Seek + Send + ?Sized> WriteSeek for T {}

/// The stream an [`Opener`] returns for a name. Its kind must match the [`OpenMode`]
/// asked for: a reader for [`OpenMode::Read`], a writer for [`OpenMode::Write`];
/// anything else fails the open with [`io::ErrorKind::InvalidInput`].
///
/// FFmpeg closes the stream when it is done with it: ffio then flushes a writer
/// (`Write::flush`) and drops it, so a writer that stores its bytes somewhere should do
/// so in `flush` or `Drop`. Streams FFmpeg never closed are dropped with their
/// [`Demuxer`](crate::Demuxer) or [`Muxer`](crate::Muxer).
pub enum Opened {
    /// A reader that cannot seek.
    Reader(Box<dyn Read + Send>),
    /// A reader that can seek (needed by MP4 inputs whose index comes last).
    SeekableReader(Box<dyn ReadSeek>),
    /// A writer that cannot seek (HLS/DASH segments and playlists need no more).
    Writer(Box<dyn Write + Send>),
    /// A writer that can seek (an MP4 segment or output that patches its header).
    SeekableWriter(Box<dyn WriteSeek>),
}

impl Opened {
    /// [`Opened::Reader`] of `reader`.
    pub fn reader(reader: impl Read + Send + 'static) -> Self {
        Opened::Reader(Box::new(reader))
    }

    /// [`Opened::SeekableReader`] of `reader`.
    pub fn seekable_reader(reader: impl Read + Seek + Send + 'static) -> Self {
        Opened::SeekableReader(Box::new(reader))
    }

    /// [`Opened::Writer`] of `writer`.
    pub fn writer(writer: impl Write + Send + 'static) -> Self {
        Opened::Writer(Box::new(writer))
    }

    /// [`Opened::SeekableWriter`] of `writer`.
    pub fn seekable_writer(writer: impl Write + Seek + Send + 'static) -> Self {
        Opened::SeekableWriter(Box::new(writer))
    }

    fn mode(&self) -> OpenMode {
        match self {
            Opened::Reader(_) | Opened::SeekableReader(_) => OpenMode::Read,
            Opened::Writer(_) | Opened::SeekableWriter(_) => OpenMode::Write,
        }
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Opened::Reader(_) => "Opened::Reader(..)",
            Opened::SeekableReader(_) => "Opened::SeekableReader(..)",
            Opened::Writer(_) => "Opened::Writer(..)",
            Opened::SeekableWriter(_) => "Opened::SeekableWriter(..)",
        })
    }
}

/// How the names FFmpeg asks for become streams: the application's side of FFmpeg's
/// `io_open`, for formats that read or write further files (HLS, DASH, `segment`,
/// `image2`, playlists).
///
/// `open` receives the name exactly as FFmpeg asks for it. For a muxer these are names
/// the muxer derived from the name you gave and its options (`out0.ts`, `init.mp4`). For
/// a demuxer they come **from the input itself**: a playlist from a stranger can name
/// `../../etc/passwd`, `/proc/self/environ`, `file:/…` or `http://169.254.169.254/`. An
/// opener for untrusted input must decide what each name may reach (see the README's
/// "Untrusted input"); ffio itself opens nothing.
///
/// Errors you return come back from the ffio call that asked (as [`Error::Io`](crate::Error::Io)
/// with your error), and so do errors of the streams you return; panics are resumed from
/// that call.
///
/// Any `FnMut(&str, OpenMode) -> io::Result<Opened> + Send` closure is an opener that
/// cannot delete:
///
/// ```
/// use std::io;
/// use ffio::{OpenMode, Opened};
///
/// let opener = |name: &str, mode: OpenMode| -> io::Result<Opened> {
///     match mode {
///         OpenMode::Write => Ok(Opened::writer(io::sink())),
///         _ => Err(io::Error::new(io::ErrorKind::NotFound, format!("no {name}"))),
///     }
/// };
/// # fn is_opener(_: impl ffio::Opener) {}
/// # is_opener(opener);
/// ```
pub trait Opener: Send {
    /// Opens `name` for `mode`.
    fn open(&mut self, name: &str, mode: OpenMode) -> io::Result<Opened>;

    /// Deletes `name`: a muxer no longer lists it (an HLS segment that left the sliding
    /// window with `hls_flags=delete_segments`, a DASH segment outside `window_size`).
    /// The default refuses with [`io::ErrorKind::Unsupported`], which fails the muxer.
    fn delete(&mut self, name: &str) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this opener cannot delete {name:?}"),
        ))
    }
}

impl<F> Opener for F
where
    F: FnMut(&str, OpenMode) -> io::Result<Opened> + Send,
{
    fn open(&mut self, name: &str, mode: OpenMode) -> io::Result<Opened> {
        self(name, mode)
    }
}

/// An opener shared between the options that name it and the objects opened with them.
#[derive(Clone)]
pub(crate) struct SharedOpener(Arc<Mutex<dyn Opener>>);

impl SharedOpener {
    pub(crate) fn new(opener: impl Opener + 'static) -> Self {
        SharedOpener(Arc::new(Mutex::new(opener)))
    }
}

impl SharedOpener {
    /// Asks the opener for `name` in `mode`: the opener's error is returned as it is, a
    /// stream of the other direction is an `InvalidInput` error, and a panic of the opener
    /// unwinds to the caller (the `io_open` trampoline catches it; ffio's concat, which
    /// calls this from Rust, resumes it).
    pub(crate) fn open_stream(&self, name: &str, mode: OpenMode) -> io::Result<ChildStream> {
        let mut opener = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let opened = opener.open(name, mode)?;
        drop(opener);
        if opened.mode() != mode {
            let direction = match mode {
                OpenMode::Read => "reading",
                OpenMode::Write => "writing",
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the opener returned {opened:?} for {name:?}, which FFmpeg opens for {direction}"),
            ));
        }
        Ok(ChildStream::from(opened))
    }
}

impl fmt::Debug for SharedOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Opener")
    }
}

/// The stream behind a context the registry opened.
pub(crate) enum ChildStream {
    Read(Box<dyn Read + Send>),
    ReadSeek(Box<dyn ReadSeek>),
    Write(Box<dyn Write + Send>),
    WriteSeek(Box<dyn WriteSeek>),
    /// Faststart's second pass: the main output, read back.
    Shared(SharedReader),
    /// The context FFmpeg gets for a delete request (`method=DELETE`); takes any bytes.
    Deleted,
}

impl From<Opened> for ChildStream {
    fn from(opened: Opened) -> Self {
        match opened {
            Opened::Reader(r) => ChildStream::Read(r),
            Opened::SeekableReader(r) => ChildStream::ReadSeek(r),
            Opened::Writer(w) => ChildStream::Write(w),
            Opened::SeekableWriter(w) => ChildStream::WriteSeek(w),
        }
    }
}

impl ChildStream {
    /// A [`CustomIo`] of the stream's kind over it.
    pub(crate) fn into_io(self) -> crate::Result<CustomIo<ChildStream>> {
        match self {
            s @ ChildStream::Read(_) => CustomIo::reader(s),
            s @ (ChildStream::ReadSeek(_) | ChildStream::Shared(_)) => CustomIo::seekable_reader(s),
            s @ ChildStream::Write(_) => CustomIo::writer(s),
            s @ ChildStream::WriteSeek(_) => CustomIo::seekable_writer(s),
            s @ ChildStream::Deleted => CustomIo::builder().buffer_size(4096).writer(s),
        }
    }
}

fn wrong_direction() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "wrong direction for this stream",
    )
}

impl Read for ChildStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ChildStream::Read(r) => r.read(buf),
            ChildStream::ReadSeek(r) => r.read(buf),
            ChildStream::Shared(r) => r.read(buf),
            _ => Err(wrong_direction()),
        }
    }
}

impl Write for ChildStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ChildStream::Write(w) => w.write(buf),
            ChildStream::WriteSeek(w) => w.write(buf),
            ChildStream::Deleted => Ok(buf.len()),
            _ => Err(wrong_direction()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ChildStream::Write(w) => w.flush(),
            ChildStream::WriteSeek(w) => w.flush(),
            _ => Ok(()),
        }
    }
}

impl Seek for ChildStream {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        match self {
            ChildStream::ReadSeek(s) => s.seek(target),
            ChildStream::WriteSeek(s) => s.seek(target),
            ChildStream::Shared(s) => s.seek(target),
            _ => Err(wrong_direction()),
        }
    }
}

/// What the registry needs to know to build itself for one format context.
#[derive(Default)]
pub(crate) struct CoreConfig {
    /// The application's opener, if it gave one.
    pub(crate) opener: Option<SharedOpener>,
    /// For an output that can be read back (faststart): a reader over it, served when
    /// FFmpeg re-opens `main_url` for reading.
    pub(crate) shared: Option<SharedReader>,
    /// The name FFmpeg knows the main input or output by (`AVFormatContext.url`).
    pub(crate) main_url: CString,
    /// Stripped from the start of names before the opener sees them: the scheme ffio gives
    /// names so that FFmpeg does not take them for local files.
    pub(crate) prefix: Option<&'static str>,
}

/// The registry of the contexts opened for one format context (and its children); the
/// format context's `opaque` points to it.
pub(crate) struct Core {
    config: CoreConfig,
    /// The parent's own `pb` (null for muxers that write no `pb`): never closed here.
    main_pb: *mut ffi::AVIOContext,
    interrupt: Arc<Interrupt>,
    children: Vec<CustomIo<ChildStream>>,
    /// Reports of the opener and of closed children, not yet collected.
    reports: Reports,
    /// Set once the opener or a stream panicked: nothing more is opened.
    poisoned: bool,
}

impl Core {
    /// The number of contexts opened and not closed yet.
    pub(crate) fn open_count(&self) -> usize {
        self.children.len()
    }

    fn park_error(&mut self, error: io::Error) -> c_int {
        let code = io_error_to_averror(&error);
        self.reports.merge(Reports {
            error: Some(error),
            panic: None,
        });
        code
    }

    fn park_panic(&mut self, payload: Box<dyn std::any::Any + Send>) {
        self.poisoned = true;
        self.reports.merge(Reports {
            error: None,
            panic: Some(payload),
        });
    }

    /// `io_open`'s work: a registered context for `url`, or an AVERROR.
    fn open(
        &mut self,
        url: &CStr,
        flags: c_int,
        delete: bool,
    ) -> Result<*mut ffi::AVIOContext, c_int> {
        if self.poisoned {
            return Err(ffi::AVERROR_EXTERNAL);
        }
        if self.interrupt.check().is_some() {
            return Err(ffi::AVERROR_EXIT);
        }
        let write = flags & ffi::AVIO_FLAG_WRITE as c_int != 0;
        if write && flags & ffi::AVIO_FLAG_READ as c_int != 0 {
            return Err(ffi::AVERROR(libc::EINVAL));
        }
        let mode = if write {
            OpenMode::Write
        } else {
            OpenMode::Read
        };
        let stream = if mode == OpenMode::Read
            && url == self.config.main_url.as_c_str()
            && self.config.shared.is_some()
        {
            ChildStream::Shared(self.config.shared.clone().expect("checked"))
        } else {
            let Some(opener) = self.config.opener.clone() else {
                return Err(ffi::AVERROR(libc::EPERM));
            };
            let Ok(raw) = url.to_str() else {
                return Err(self.park_error(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("FFmpeg asked to open a name that is not UTF-8: {url:?}"),
                )));
            };
            let name = match self.config.prefix {
                Some(prefix) => raw.strip_prefix(prefix).unwrap_or(raw),
                None => raw,
            };
            let opened = if delete {
                let mut opener = opener.0.lock().unwrap_or_else(PoisonError::into_inner);
                opener.delete(name).map(|()| ChildStream::Deleted)
            } else {
                opener.open_stream(name, mode)
            };
            match opened {
                Err(e) => return Err(self.park_error(e)),
                Ok(stream) => stream,
            }
        };
        let Ok(mut io) = stream.into_io() else {
            return Err(ffi::AVERROR(libc::ENOMEM));
        };
        io.set_interrupt(self.interrupt.clone());
        let ctx = io.as_ptr();
        self.children.push(io);
        Ok(ctx)
    }

    /// `io_close2`'s work for a registered context: flush, collect, free.
    fn close(&mut self, mut child: CustomIo<ChildStream>) -> c_int {
        let ret = child.flush_for_close();
        let reports = child.take_reports();
        self.reports.merge(reports);
        // Dropping runs the application's Drop for its stream.
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(child))) {
            self.park_panic(payload);
        }
        ret
    }
}

impl Linked for Core {
    fn pending(&self) -> bool {
        !self.reports.is_empty() || self.children.iter().any(CustomIo::has_reports)
    }

    fn take(&mut self) -> Reports {
        let mut reports = std::mem::take(&mut self.reports);
        for child in &mut self.children {
            reports.merge(child.take_reports());
        }
        if reports.panic.is_some() {
            self.poisoned = true;
        }
        reports
    }
}

/// Owns a [`Core`] at a fixed address (the `opaque` of its format context) and frees it,
/// with every context FFmpeg did not close, on drop. Must be dropped after the format
/// context, whose teardown may still close contexts through it.
pub(crate) struct CoreOwner(NonNull<Core>);

// SAFETY: the Core exclusively owns its contexts (`CustomIo<ChildStream>`, all of whose
// streams are `Send`) and an `Arc<Mutex<dyn Opener>>` with `Opener: Send`; it is touched
// only by its owner's `&mut self` calls (directly or from FFmpeg callbacks within them).
unsafe impl Send for CoreOwner {}

impl CoreOwner {
    /// Builds the registry for `fmt` and installs its trampolines: `io_open`, `io_close2`
    /// and `opaque`. `main` is the parent's context: its cancellation is shared with every
    /// opened context and their reports come back through its call path. `attach_pb`
    /// says whether `main` is `fmt`'s `pb` (spared by `io_close2`).
    ///
    /// # Safety
    /// `fmt` must be a valid format context that no FFmpeg call is using, and the returned
    /// owner must outlive both `fmt` and every ffio call on `main` (drop it after both).
    pub(crate) unsafe fn attach<S>(
        fmt: *mut ffi::AVFormatContext,
        config: CoreConfig,
        main: &mut CustomIo<S>,
        attach_pb: bool,
    ) -> CoreOwner {
        let core = Box::new(Core {
            config,
            main_pb: if attach_pb {
                main.as_ptr()
            } else {
                ptr::null_mut()
            },
            interrupt: main.interrupt(),
            children: Vec::new(),
            reports: Reports::default(),
            poisoned: false,
        });
        // SAFETY: Box::into_raw never returns null.
        let core = unsafe { NonNull::new_unchecked(Box::into_raw(core)) };
        // SAFETY: `fmt` is valid and idle (the contract); the core lives at a fixed address
        // until the owner drops it, after `fmt` and after `main`'s last call.
        unsafe {
            (*fmt).opaque = core.as_ptr().cast();
            (*fmt).io_open = Some(io_open_trampoline);
            (*fmt).io_close2 = Some(io_close2_trampoline);
            main.link(core);
        }
        CoreOwner(core)
    }

    /// The registry, while no FFmpeg call runs.
    pub(crate) fn get(&self) -> &Core {
        // SAFETY: the core is alive as long as `self`; callbacks touch it only during
        // FFmpeg calls, which need `&mut` on the owner that holds `self`.
        unsafe { self.0.as_ref() }
    }

    /// Sets the application's opener (before anything was opened).
    pub(crate) fn set_opener(&mut self, opener: SharedOpener) {
        // SAFETY: as in `get`, and `&mut self` makes this the only reference.
        unsafe { self.0.as_mut() }.config.opener = Some(opener);
    }
}

impl Drop for CoreOwner {
    fn drop(&mut self) {
        // SAFETY: the owner is dropped after the format context and the main context's last
        // call (the contract of `attach`), so nothing refers to the core any more.
        unsafe { drop(Box::from_raw(self.0.as_ptr())) };
    }
}

/// The registry behind a format context's `opaque` (null if the context has none: the
/// imf demuxer's child contexts get no `opaque` before FFmpeg 8).
///
/// # Safety
/// `s` must be a valid format context whose `opaque` is null or points to a live [`Core`]
/// that nothing else references during the callback.
unsafe fn core_of<'a>(s: *mut ffi::AVFormatContext) -> Option<&'a mut Core> {
    if s.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    unsafe { (*s).opaque.cast::<Core>().as_mut() }
}

/// `AVFormatContext.io_open` with an opener: see the module docs.
///
/// # Safety
/// Called by FFmpeg only, on a context whose `opaque` ffio set to a live [`Core`] (or
/// null), with a valid out-pointer, a C string and a null or valid dictionary pointer.
unsafe extern "C" fn io_open_trampoline(
    s: *mut ffi::AVFormatContext,
    pb: *mut *mut ffi::AVIOContext,
    url: *const c_char,
    flags: c_int,
    options: *mut *mut ffi::AVDictionary,
) -> c_int {
    if pb.is_null() || url.is_null() {
        return ffi::AVERROR(libc::EINVAL);
    }
    // SAFETY: FFmpeg's contract for io_open: `s` is the (possibly child) context whose
    // opaque ffio set, or copied from ffio's.
    let Some(core) = (unsafe { core_of(s) }) else {
        return ffi::AVERROR(libc::EPERM);
    };
    // SAFETY: `url` is a NUL-terminated string for the length of the call.
    let url = unsafe { CStr::from_ptr(url) };
    // hls and dash ask for deletes through io_open, with the option method=DELETE.
    let delete = !options.is_null() && {
        // SAFETY: `options` points to a valid (possibly null) dictionary; av_dict_get only
        // reads it and returns null or an entry it owns.
        let entry = unsafe { ffi::av_dict_get(*options, c"method".as_ptr(), ptr::null(), 0) };
        // SAFETY: a non-null entry has a valid value string.
        !entry.is_null() && unsafe { CStr::from_ptr((*entry).value) } == c"DELETE"
    };
    match panic::catch_unwind(AssertUnwindSafe(|| core.open(url, flags, delete))) {
        Ok(Ok(ctx)) => {
            // SAFETY: `pb` is FFmpeg's valid out-pointer.
            unsafe { *pb = ctx };
            0
        }
        Ok(Err(code)) => code,
        Err(payload) => {
            core.park_panic(payload);
            ffi::AVERROR_EXTERNAL
        }
    }
}

/// `AVFormatContext.io_close2` with an opener: see the module docs.
///
/// # Safety
/// Called by FFmpeg only, as for [`io_open_trampoline`], with a context `pb` it is done
/// with.
unsafe extern "C" fn io_close2_trampoline(
    s: *mut ffi::AVFormatContext,
    pb: *mut ffi::AVIOContext,
) -> c_int {
    if pb.is_null() {
        return 0;
    }
    // SAFETY: as in io_open_trampoline.
    match unsafe { core_of(s) } {
        Some(core) => {
            if let Some(i) = core.children.iter().position(|c| c.as_ptr() == pb) {
                let child = core.children.swap_remove(i);
                return core.close(child);
            }
            if pb == core.main_pb {
                return 0;
            }
        }
        // SAFETY: `s` is valid (FFmpeg's contract); comparing pointers reads nothing else.
        None if !s.is_null() && unsafe { (*s).pb } == pb => return 0,
        None => {}
    }
    // SAFETY: `pb` is not one of ffio's contexts (ffio's are all in the registry or the
    // parent's `pb`), so FFmpeg opened it itself and avio_close is its matching close.
    unsafe { ffi::avio_close(pb) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare format context for calling the trampolines as FFmpeg would.
    struct Fmt(*mut ffi::AVFormatContext);

    impl Drop for Fmt {
        fn drop(&mut self) {
            // SAFETY: allocated by avformat_alloc_context below, freed once.
            unsafe { ffi::avformat_free_context(self.0) };
        }
    }

    fn fmt() -> Fmt {
        // SAFETY: no preconditions; null is checked.
        let raw = unsafe { ffi::avformat_alloc_context() };
        assert!(!raw.is_null());
        Fmt(raw)
    }

    #[test]
    fn without_a_registry_nothing_opens() {
        let s = fmt();
        let mut pb = ptr::null_mut();
        // SAFETY: a valid context with a null opaque (as the imf demuxer's children get
        // before FFmpeg 8), a valid out-pointer and URL, no options.
        let ret = unsafe { io_open_trampoline(s.0, &mut pb, c"x.ts".as_ptr(), 1, ptr::null_mut()) };
        assert_eq!(ret, ffi::AVERROR(libc::EPERM));
        assert!(pb.is_null());
        // SAFETY: closing nothing is allowed.
        assert_eq!(unsafe { io_close2_trampoline(s.0, ptr::null_mut()) }, 0);
    }

    #[test]
    fn read_write_requests_and_missing_openers_are_refused() {
        let s = fmt();
        let mut main = CustomIo::writer(Vec::new()).unwrap();
        // SAFETY: `s` is idle; it and the owner are dropped explicitly below, before
        // `main`, and no ffio call runs on `main`.
        let owner = unsafe { CoreOwner::attach(s.0, CoreConfig::default(), &mut main, false) };
        let mut pb = ptr::null_mut();
        let flags = (ffi::AVIO_FLAG_READ | ffi::AVIO_FLAG_WRITE) as c_int;
        // SAFETY: as above, with the registry as opaque.
        let ret =
            unsafe { io_open_trampoline(s.0, &mut pb, c"x.ts".as_ptr(), flags, ptr::null_mut()) };
        assert_eq!(ret, ffi::AVERROR(libc::EINVAL));
        // No opener given: refused like confinement refuses.
        // SAFETY: as above.
        let ret = unsafe { io_open_trampoline(s.0, &mut pb, c"x.ts".as_ptr(), 2, ptr::null_mut()) };
        assert_eq!(ret, ffi::AVERROR(libc::EPERM));
        assert!(pb.is_null());
        assert_eq!(owner.get().open_count(), 0);
        drop(s);
        drop(owner);
    }

    #[test]
    fn opened_contexts_are_registered_and_closed_once() {
        let s = fmt();
        let mut main = CustomIo::writer(Vec::new()).unwrap();
        let config = CoreConfig {
            opener: Some(SharedOpener::new(|_: &str, _: OpenMode| {
                Ok(Opened::writer(Vec::new()))
            })),
            ..CoreConfig::default()
        };
        // SAFETY: as in the test above: `s`, then the owner, are dropped before `main`.
        let owner = unsafe { CoreOwner::attach(s.0, config, &mut main, false) };
        let (mut a, mut b) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                io_open_trampoline(s.0, &mut a, c"a".as_ptr(), 2, ptr::null_mut()),
                0
            );
            assert_eq!(
                io_open_trampoline(s.0, &mut b, c"b".as_ptr(), 2, ptr::null_mut()),
                0
            );
        }
        assert_eq!(owner.get().open_count(), 2);
        // SAFETY: `a` is a context the registry opened; closed once.
        assert_eq!(unsafe { io_close2_trampoline(s.0, a) }, 0);
        assert_eq!(owner.get().open_count(), 1);
        // `b` is never closed by "FFmpeg": the owner frees it.
        drop(s);
        drop(owner);
    }
}
