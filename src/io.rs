//! [`CustomIo`]: an `AVIOContext` whose reads, writes and seeks go to a Rust object.
//!
//! This is the only file where FFmpeg calls back into Rust. Everything that crosses the
//! boundary follows the contract in the crate's design notes:
//!
//! * the callback state (`State<S>`) lives in one heap allocation whose address is handed to
//!   FFmpeg as `opaque` and never changes until the `AVIOContext` is freed;
//! * every trampoline body runs inside `catch_unwind`; a panic is parked in the state and
//!   resumed by [`CustomIo::call`] once FFmpeg has returned, and after it no user code runs
//!   again;
//! * an `io::Error` from user code is parked in the state too, and [`CustomIo::call`] returns
//!   it as [`Error::Io`] whatever FFmpeg made of the failure;
//! * reads never return 0 (end of stream is `AVERROR_EOF`), writes are all-or-error,
//!   `Interrupted` is retried, and seeks validate their target before touching user code.

use std::any::Any;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::os::raw::{c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use crate::error::{check, io_error_to_averror, Error, Result};

/// Default AVIO buffer size for reading: 64 KiB.
///
/// FFmpeg's own default is 32 KiB; a larger buffer halves the number of read callbacks
/// without hurting the small seeks demuxers do inside the buffer.
pub const DEFAULT_READ_BUFFER_SIZE: usize = 64 * 1024;

/// Default AVIO buffer size for writing: 256 KiB, what FFmpeg's own `file:` protocol uses.
///
/// Together with batching (see [`CustomIoBuilder::flush_packets`]) this makes one write call
/// per 256 KiB of output instead of one per packet.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 256 * 1024;

/// The largest buffer size accepted: FFmpeg stores it in an `int`.
pub const MAX_BUFFER_SIZE: usize = 1 << 30;

/// The callback state: the user's stream and the slots the trampolines report into.
///
/// Lives in a `Box` whose raw pointer is FFmpeg's `opaque`; only the trampolines (while
/// FFmpeg runs) and [`CustomIo`]'s methods (while it does not) touch it, never both at once.
struct State<S> {
    stream: S,
    /// The first `io::Error` user code returned since the last [`CustomIo::call`].
    error: Option<io::Error>,
    /// A panic caught in a trampoline, waiting to be resumed on the caller's side.
    panic: Option<Box<dyn Any + Send + 'static>>,
    /// Set for good once user code panicked: no user code runs after that.
    poisoned: bool,
    /// A non-seekable stream was asked to seek since the last call.
    seek_refused: bool,
    /// The stream could not tell its size: later end-relative seeks may fail quietly.
    size_unknown: bool,
}

impl<S> State<S> {
    /// Runs user code on the stream, catching panics, and parks any `io::Error` (when
    /// `latch` is true) or panic. On failure returns the `AVERROR` code for FFmpeg.
    fn run<T>(&mut self, latch: bool, f: impl FnOnce(&mut S) -> io::Result<T>) -> Result<T, c_int> {
        if self.poisoned {
            return Err(ffi::AVERROR_EXTERNAL);
        }
        let stream = &mut self.stream;
        match panic::catch_unwind(AssertUnwindSafe(|| f(stream))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                let code = io_error_to_averror(&e);
                if latch && self.error.is_none() {
                    self.error = Some(e);
                }
                Err(code)
            }
            Err(payload) => {
                self.poisoned = true;
                if self.panic.is_none() {
                    self.panic = Some(payload);
                }
                Err(ffi::AVERROR_EXTERNAL)
            }
        }
    }
}

/// Which callbacks a [`CustomIo`] installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Read { seekable: bool },
    Write { seekable: bool },
}

/// Settings for a [`CustomIo`]; start with [`CustomIo::builder`].
#[derive(Clone, Debug, Default)]
pub struct CustomIoBuilder {
    buffer_size: Option<usize>,
    flush_packets: bool,
}

impl CustomIoBuilder {
    /// Sets the size of the `av_malloc`'d buffer FFmpeg reads into or writes from, in bytes
    /// (1 to [`MAX_BUFFER_SIZE`]). It is also the most a read callback is asked for and, for
    /// writers, the size of the batches handed to the writer.
    ///
    /// Defaults: [`DEFAULT_READ_BUFFER_SIZE`] for readers, [`DEFAULT_WRITE_BUFFER_SIZE`] for
    /// writers.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = Some(bytes);
        self
    }

    /// For writers: hand every packet to the writer as soon as the muxer has written it
    /// (low latency, many small writes) instead of batching a full buffer (the default,
    /// best throughput). Ignored for readers.
    pub fn flush_packets(mut self, yes: bool) -> Self {
        self.flush_packets = yes;
        self
    }

    /// A context that reads from `reader` and cannot seek. Fine for streamable formats
    /// (MPEG-TS, Matroska, fragmented or faststart MP4); an MP4 whose `moov` box follows the
    /// media data then fails with [`Error::NotSeekable`].
    pub fn reader<R: Read>(self, reader: R) -> Result<CustomIo<R>> {
        CustomIo::new(
            reader,
            Mode::Read { seekable: false },
            self.size(DEFAULT_READ_BUFFER_SIZE)?,
            false,
            Some(read_trampoline::<R>),
            None,
            Some(refuse_seek_trampoline::<R>),
        )
    }

    /// A context that reads from and seeks in `reader`: every format FFmpeg can read.
    pub fn seekable_reader<R: Read + Seek>(self, reader: R) -> Result<CustomIo<R>> {
        CustomIo::new(
            reader,
            Mode::Read { seekable: true },
            self.size(DEFAULT_READ_BUFFER_SIZE)?,
            false,
            Some(read_trampoline::<R>),
            None,
            Some(seek_trampoline::<R>),
        )
    }

    /// A context that writes to `writer` and cannot seek: for streamable output formats
    /// (MPEG-TS, fragmented MP4, raw streams, Matroska in live mode).
    pub fn writer<W: Write>(self, writer: W) -> Result<CustomIo<W>> {
        let flush = self.flush_packets;
        CustomIo::new(
            writer,
            Mode::Write { seekable: false },
            self.size(DEFAULT_WRITE_BUFFER_SIZE)?,
            flush,
            None,
            Some(write_trampoline::<W>),
            Some(refuse_seek_trampoline::<W>),
        )
    }

    /// A context that writes to and seeks in `writer`: every output format, including plain
    /// MP4, which goes back to patch sizes when it finishes.
    pub fn seekable_writer<W: Write + Seek>(self, writer: W) -> Result<CustomIo<W>> {
        let flush = self.flush_packets;
        CustomIo::new(
            writer,
            Mode::Write { seekable: true },
            self.size(DEFAULT_WRITE_BUFFER_SIZE)?,
            flush,
            None,
            Some(write_trampoline::<W>),
            Some(seek_trampoline::<W>),
        )
    }

    fn size(&self, default: usize) -> Result<c_int> {
        let size = self.buffer_size.unwrap_or(default);
        if size == 0 || size > MAX_BUFFER_SIZE {
            return Err(Error::InvalidArgument(format!(
                "buffer size must be 1..={MAX_BUFFER_SIZE} bytes, got {size}"
            )));
        }
        Ok(size as c_int)
    }
}

type ReadFn = unsafe extern "C" fn(*mut c_void, *mut u8, c_int) -> c_int;
#[cfg(ffio_ffmpeg_7)]
type WriteBuf = *const u8;
#[cfg(not(ffio_ffmpeg_7))]
type WriteBuf = *mut u8;
type WriteFn = unsafe extern "C" fn(*mut c_void, WriteBuf, c_int) -> c_int;
type SeekFn = unsafe extern "C" fn(*mut c_void, i64, c_int) -> i64;

/// An FFmpeg `AVIOContext` that reads from, writes to and seeks in a Rust object `S`.
///
/// `CustomIo` owns three things: the `AVIOContext`, its `av_malloc`'d buffer (which FFmpeg
/// may replace; ffio always frees the current one), and your stream `S` in a heap
/// allocation whose address FFmpeg keeps as `opaque`. `S` may be owned (`File`,
/// `Cursor<Vec<u8>>`, a socket, `Box<dyn Read + Send>`) or borrowed (`&[u8]`, `&mut File`).
///
/// You normally do not use it directly: [`Demuxer`](crate::Demuxer) and
/// [`Muxer`](crate::Muxer) build one for you. Build one yourself to choose the buffer size
/// or batching:
///
/// ```no_run
/// let io = ffio::CustomIo::builder()
///     .buffer_size(1 << 20)
///     .seekable_reader(std::fs::File::open("movie.mp4")?)?;
/// let demuxer = ffio::Demuxer::open(io)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// What happens in the callbacks:
/// * **read**: `Read::read` into FFmpeg's buffer; `Ok(0)` becomes `AVERROR_EOF` (never 0);
///   `Interrupted` is retried.
/// * **write**: `Write::write_all` of everything FFmpeg hands over (`Interrupted` retried),
///   or an error; a short write can never be lost.
/// * **seek**: `AVSEEK_FORCE` is ignored, `AVSEEK_SIZE` is answered by seeking to the end and
///   back, negative absolute targets are refused with `EINVAL` before your code runs.
/// * Errors your code returns come back from the ffio call as [`Error::Io`] with your
///   `io::Error`; panics are resumed from that call with their payload.
pub struct CustomIo<S> {
    ctx: NonNull<ffi::AVIOContext>,
    state: NonNull<State<S>>,
    mode: Mode,
    /// `CustomIo` owns an `S` (through `state`).
    _owns: PhantomData<S>,
}

// SAFETY: `CustomIo<S>` exclusively owns its AVIOContext, its buffer and the boxed state;
// none of them is shared with another object or tied to a thread (FFmpeg keeps no
// thread-local state for an AVIOContext). Moving it to another thread moves `S` and the
// state's `io::Error` / `Box<dyn Any + Send>` slots, which is sound exactly when `S: Send`.
unsafe impl<S: Send> Send for CustomIo<S> {}

impl CustomIo<()> {
    /// Starts building a context with custom settings.
    pub fn builder() -> CustomIoBuilder {
        CustomIoBuilder::default()
    }
}

impl<S> CustomIo<S> {
    /// A non-seekable reading context with default settings; see
    /// [`CustomIoBuilder::reader`].
    pub fn reader(reader: S) -> Result<Self>
    where
        S: Read,
    {
        CustomIoBuilder::default().reader(reader)
    }

    /// A seekable reading context with default settings; see
    /// [`CustomIoBuilder::seekable_reader`].
    pub fn seekable_reader(reader: S) -> Result<Self>
    where
        S: Read + Seek,
    {
        CustomIoBuilder::default().seekable_reader(reader)
    }

    /// A non-seekable writing context with default settings; see
    /// [`CustomIoBuilder::writer`].
    pub fn writer(writer: S) -> Result<Self>
    where
        S: Write,
    {
        CustomIoBuilder::default().writer(writer)
    }

    /// A seekable writing context with default settings; see
    /// [`CustomIoBuilder::seekable_writer`].
    pub fn seekable_writer(writer: S) -> Result<Self>
    where
        S: Write + Seek,
    {
        CustomIoBuilder::default().seekable_writer(writer)
    }

    fn new(
        stream: S,
        mode: Mode,
        buffer_size: c_int,
        flush_packets: bool,
        read: Option<ReadFn>,
        write: Option<WriteFn>,
        seek: Option<SeekFn>,
    ) -> Result<Self> {
        let state = Box::new(State {
            stream,
            error: None,
            panic: None,
            poisoned: false,
            seek_refused: false,
            size_unknown: false,
        });
        // SAFETY: av_malloc may be called with any size; a null return is handled below.
        let buffer = unsafe { ffi::av_malloc(buffer_size as usize) } as *mut u8;
        if buffer.is_null() {
            return Err(Error::ffmpeg("av_malloc", ffi::AVERROR(libc::ENOMEM)));
        }
        let state = Box::into_raw(state);
        let writing = matches!(mode, Mode::Write { .. });
        // SAFETY: `buffer` is an av_malloc'd block of `buffer_size` bytes, handed over to the
        // context; `state` is a live, uniquely owned heap pointer that outlives the context
        // (it is freed only in Drop/into_inner, after the context). The trampolines are
        // instantiated for this very `S`, so their cast of `opaque` back to `State<S>` is
        // correct.
        let ctx = unsafe {
            ffi::avio_alloc_context(
                buffer,
                buffer_size,
                c_int::from(writing),
                state.cast::<c_void>(),
                read,
                write,
                seek,
            )
        };
        let Some(ctx) = NonNull::new(ctx) else {
            // SAFETY: allocation failed, so FFmpeg took ownership of neither pointer: we free
            // the buffer with av_free (it came from av_malloc) and the state we boxed.
            unsafe {
                ffi::av_free(buffer.cast());
                drop(Box::from_raw(state));
            }
            return Err(Error::ffmpeg(
                "avio_alloc_context",
                ffi::AVERROR(libc::ENOMEM),
            ));
        };
        let io = CustomIo {
            ctx,
            // SAFETY: Box::into_raw never returns null.
            state: unsafe { NonNull::new_unchecked(state) },
            mode,
            _owns: PhantomData,
        };
        let seekable = matches!(
            mode,
            Mode::Read { seekable: true } | Mode::Write { seekable: true }
        );
        // SAFETY: `ctx` is the valid context just allocated and not yet shared with anything.
        unsafe {
            let ctx = &mut *io.ctx.as_ptr();
            if !seekable {
                // The refusing seek trampoline is installed only to learn that a demuxer or
                // muxer *wanted* to seek (see Error::NotSeekable); FFmpeg must still treat
                // the stream as unseekable.
                ctx.seekable = 0;
            }
            if writing && !flush_packets {
                // Flush points (after every muxed packet) only flush once this much is
                // buffered: with the whole buffer, output goes out in full-buffer batches.
                ctx.min_packet_size = buffer_size;
            }
        }
        Ok(io)
    }

    /// The raw context, for attaching to an `AVFormatContext` as `pb`.
    pub(crate) fn as_ptr(&self) -> *mut ffi::AVIOContext {
        self.ctx.as_ptr()
    }

    /// `true` if this context was built with a seekable stream.
    pub fn is_seekable(&self) -> bool {
        matches!(
            self.mode,
            Mode::Read { seekable: true } | Mode::Write { seekable: true }
        )
    }

    /// `true` for a writing context.
    pub fn is_writer(&self) -> bool {
        matches!(self.mode, Mode::Write { .. })
    }

    /// The size of the AVIO buffer in bytes (FFmpeg may have grown it while probing).
    pub fn buffer_size(&self) -> usize {
        // SAFETY: `ctx` is valid for as long as `self` lives.
        let size = unsafe { (*self.ctx.as_ptr()).buffer_size };
        usize::try_from(size).unwrap_or(0)
    }

    /// `true` once one of your callbacks has panicked (the panic was passed on to you): no
    /// more callbacks run and every ffio call on this object returns [`Error::Poisoned`].
    pub fn is_poisoned(&self) -> bool {
        self.state_ref().poisoned
    }

    /// A shared reference to your stream.
    pub fn get_ref(&self) -> &S {
        &self.state_ref().stream
    }

    /// A mutable reference to your stream.
    ///
    /// FFmpeg keeps its own idea of the stream position and has data buffered: reading,
    /// writing or seeking through this reference confuses it. Use it for things like
    /// statistics or timeouts.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.state_mut().stream
    }

    /// Frees the FFmpeg context and returns your stream. Data still in FFmpeg's write
    /// buffer is **not** written: finish muxing first ([`Muxer::finish`](crate::Muxer::finish)
    /// does).
    pub fn into_inner(self) -> S {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again after these two calls, so the
        // context is freed exactly once and the state box reclaimed exactly once.
        unsafe {
            free_context(this.ctx);
            Box::from_raw(this.state.as_ptr()).stream
        }
    }

    fn state_ref(&self) -> &State<S> {
        // SAFETY: the state is alive as long as `self`; FFmpeg only touches it during
        // `call`, which takes `&mut self`, so no callback runs while this borrow lives.
        unsafe { self.state.as_ref() }
    }

    fn state_mut(&mut self) -> &mut State<S> {
        // SAFETY: as in `state_ref`, and `&mut self` makes this the only reference.
        unsafe { self.state.as_mut() }
    }

    /// Runs `f`, an FFmpeg function that may call back into this context, and turns its
    /// outcome into a `Result`. This is the one path for every such call:
    ///
    /// 1. if a callback panicked, the panic is resumed here with its payload;
    /// 2. if a callback returned an `io::Error`, that error is returned as [`Error::Io`],
    ///    whatever `f` returned;
    /// 3. if FFmpeg reports the end of the stream but the context holds a latched error
    ///    from an earlier failure, the failure is reported instead of a clean end;
    /// 4. otherwise a negative return code becomes [`Error::Ffmpeg`] naming `call` (or
    ///    [`Error::NotSeekable`] when a non-seekable stream was asked to seek).
    ///
    /// A poisoned context returns [`Error::Poisoned`] without calling `f`.
    #[inline]
    pub(crate) fn call(&mut self, call: &'static str, f: impl FnOnce() -> c_int) -> Result<c_int> {
        if self.state_ref().poisoned {
            return Err(Error::Poisoned);
        }
        let ret = f();
        self.after_call(call, ret)
    }

    /// The checks of [`call`](Self::call) after FFmpeg returned `ret`.
    #[inline]
    pub(crate) fn after_call(&mut self, call: &'static str, ret: c_int) -> Result<c_int> {
        // SAFETY: `ctx` is valid; FFmpeg is not running (f has returned).
        let latched = unsafe { (*self.ctx.as_ptr()).error };
        let state = self.state_ref();
        // The common case, once per packet: success and nothing reported by a callback.
        if ret >= 0 && latched == 0 && state.error.is_none() && state.panic.is_none() {
            self.state_mut().seek_refused = false;
            return Ok(ret);
        }
        self.after_call_slow(call, ret, latched)
    }

    #[cold]
    fn after_call_slow(&mut self, call: &'static str, ret: c_int, latched: c_int) -> Result<c_int> {
        let state = self.state_mut();
        if let Some(payload) = state.panic.take() {
            panic::resume_unwind(payload);
        }
        if let Some(e) = state.error.take() {
            state.seek_refused = false;
            return Err(Error::Io(e));
        }
        let seek_refused = std::mem::take(&mut state.seek_refused);
        if ret >= 0 {
            if latched < 0 && self.is_writer() {
                // A write failed earlier and FFmpeg latched it; it skips every later write,
                // so success now would be a lie.
                return check(call, latched);
            }
            return Ok(ret);
        }
        if state.poisoned {
            return Err(Error::Poisoned);
        }
        if seek_refused {
            return Err(Error::NotSeekable {
                call,
                message: crate::error::av_error_string(ret),
                remedy: if self.is_writer() {
                    "use a seekable writer (Write + Seek), or a streamable format: for MP4, \
                     fragmented output (movflags=frag_keyframe+empty_moov)"
                } else {
                    "use a seekable reader (Read + Seek), or a faststart or fragmented file"
                },
            });
        }
        if ret == ffi::AVERROR_EOF && latched < 0 {
            // An earlier callback failure (already reported once) ended the stream; the
            // end is not clean.
            return check(call, latched);
        }
        check(call, ret)
    }

    /// Flushes FFmpeg's write buffer into the writer, then the writer itself
    /// (`Write::flush`), reporting the first error on the way.
    pub(crate) fn flush(&mut self) -> Result<()>
    where
        S: Write,
    {
        let ctx = self.ctx.as_ptr();
        // SAFETY: `ctx` is a valid writing context; avio_flush only calls our trampolines.
        self.call("avio_flush", || unsafe {
            ffi::avio_flush(ctx);
            (*ctx).error
        })?;
        let state = self.state_mut();
        match state.run(true, |w| w.flush()) {
            Ok(()) => Ok(()),
            Err(code) => self.after_call("flush", code).map(|_| ()),
        }
    }
}

impl<S> Drop for CustomIo<S> {
    fn drop(&mut self) {
        // SAFETY: the owner (Demuxer/Muxer) has already detached the context from its
        // format context; the context and the state are freed once, context first, because
        // FFmpeg could otherwise still hold `opaque`.
        unsafe {
            free_context(self.ctx);
            drop(Box::from_raw(self.state.as_ptr()));
        }
    }
}

impl<S> fmt::Debug for CustomIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomIo")
            .field("mode", &self.mode)
            .field("buffer_size", &self.buffer_size())
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

/// Frees an AVIOContext and its current buffer.
///
/// # Safety
/// `ctx` must be a live context from `avio_alloc_context`, not attached to any format
/// context that will still use it, and it must not be used afterwards.
unsafe fn free_context(ctx: NonNull<ffi::AVIOContext>) {
    let mut ctx = ctx.as_ptr();
    // SAFETY: per the contract above. FFmpeg may have replaced the buffer we passed in,
    // so we free whatever `ctx->buffer` holds now, then the context.
    unsafe {
        ffi::av_freep(ptr::addr_of_mut!((*ctx).buffer).cast());
        ffi::avio_context_free(&mut ctx);
    }
}

/// Checks a buffer FFmpeg hands to a callback: `Some(len)` unless the size is negative or
/// the pointer is null with a non-zero size.
fn checked_len(ptr: *const u8, len: c_int) -> Option<usize> {
    let len = usize::try_from(len).ok()?;
    (len == 0 || !ptr.is_null()).then_some(len)
}

/// Borrows FFmpeg's read buffer as a mutable slice (`None` for a bad pointer/size pair).
///
/// # Safety
/// If `ptr` is not null it must be valid for reads and writes of `len` bytes for `'a`, and
/// nothing else may access that memory during `'a`.
unsafe fn buffer_mut<'a>(ptr: *mut u8, len: c_int) -> Option<&'a mut [u8]> {
    let len = checked_len(ptr, len)?;
    if len == 0 {
        return Some(&mut []);
    }
    // SAFETY: non-null and valid for `len` bytes per the function's contract.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Borrows FFmpeg's write buffer as a slice (`None` for a bad pointer/size pair).
///
/// # Safety
/// If `ptr` is not null it must be valid for reads of `len` bytes for `'a`, and nothing may
/// write to that memory during `'a`.
unsafe fn buffer_ref<'a>(ptr: *const u8, len: c_int) -> Option<&'a [u8]> {
    let len = checked_len(ptr, len)?;
    if len == 0 {
        return Some(&[]);
    }
    // SAFETY: non-null and valid for `len` bytes per the function's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The state behind FFmpeg's `opaque` pointer.
///
/// # Safety
/// `opaque` must be the pointer a `CustomIo<S>` of the same `S` passed to
/// `avio_alloc_context`, and FFmpeg must be calling back from within `CustomIo::call` (or a
/// drop), so no other reference to the state exists.
unsafe fn state_from<'a, S>(opaque: *mut c_void) -> &'a mut State<S> {
    // SAFETY: per the contract above.
    unsafe { &mut *opaque.cast::<State<S>>() }
}

/// `read_packet`: fills FFmpeg's buffer from `R`.
///
/// # Safety
/// Called by FFmpeg only, with the `opaque` of a `CustomIo<R>` and a buffer of `size` bytes.
unsafe extern "C" fn read_trampoline<R: Read>(
    opaque: *mut c_void,
    buf: *mut u8,
    size: c_int,
) -> c_int {
    // SAFETY: FFmpeg passes back the opaque of a CustomIo<R> (installed only for that R).
    let state = unsafe { state_from::<R>(opaque) };
    // SAFETY: FFmpeg hands us `size` writable bytes at `buf` for the length of the call.
    let Some(buf) = (unsafe { buffer_mut(buf, size) }) else {
        return ffi::AVERROR(libc::EINVAL);
    };
    if buf.is_empty() {
        return ffi::AVERROR(libc::EINVAL);
    }
    let len = buf.len();
    let result = state.run(true, |r| loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(n) if n > len => {
                break Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("Read::read returned {n} bytes for a {len}-byte buffer"),
                ))
            }
            other => break other,
        }
    });
    match result {
        // `n <= len <= c_int::MAX`, so the cast is lossless.
        Ok(0) => ffi::AVERROR_EOF,
        Ok(n) => n as c_int,
        Err(code) => code,
    }
}

/// `write_packet`: writes all of FFmpeg's buffer to `W`.
///
/// # Safety
/// Called by FFmpeg only, with the `opaque` of a `CustomIo<W>` and `size` readable bytes.
unsafe extern "C" fn write_trampoline<W: Write>(
    opaque: *mut c_void,
    buf: WriteBuf,
    size: c_int,
) -> c_int {
    // SAFETY: FFmpeg passes back the opaque of a CustomIo<W> (installed only for that W).
    let state = unsafe { state_from::<W>(opaque) };
    // SAFETY: FFmpeg hands us `size` readable bytes at `buf` for the length of the call; we
    // only read through the slice.
    let Some(buf) = (unsafe { buffer_ref(buf, size) }) else {
        return ffi::AVERROR(libc::EINVAL);
    };
    match state.run(true, |w| w.write_all(buf)) {
        Ok(()) => size,
        Err(code) => code,
    }
}

/// `seek` for seekable streams.
///
/// # Safety
/// Called by FFmpeg only, with the `opaque` of a `CustomIo<S>`.
unsafe extern "C" fn seek_trampoline<S: Seek>(
    opaque: *mut c_void,
    offset: i64,
    whence: c_int,
) -> i64 {
    // SAFETY: FFmpeg passes back the opaque of a CustomIo<S> (installed only for that S).
    let state = unsafe { state_from::<S>(opaque) };
    if whence & ffi::AVSEEK_SIZE != 0 {
        return stream_size(state);
    }
    let target = match whence & !ffi::AVSEEK_FORCE {
        libc::SEEK_SET => match u64::try_from(offset) {
            Ok(pos) => SeekFrom::Start(pos),
            Err(_) => return i64::from(ffi::AVERROR(libc::EINVAL)),
        },
        libc::SEEK_CUR => SeekFrom::Current(offset),
        libc::SEEK_END => SeekFrom::End(offset),
        _ => return i64::from(ffi::AVERROR(libc::EINVAL)),
    };
    // An end-relative seek on a stream that could not tell its size is FFmpeg probing
    // (avio_size's fallback): its failure is an answer, not an I/O error.
    let latch = !(state.size_unknown && matches!(target, SeekFrom::End(_)));
    match state.run(latch, |s| retry_interrupted(|| s.seek(target))) {
        Ok(pos) => i64::try_from(pos).unwrap_or(i64::from(ffi::AVERROR(libc::EINVAL))),
        Err(code) => i64::from(code),
    }
}

/// Answers `AVSEEK_SIZE`: the stream's length, leaving the position where it was.
fn stream_size<S: Seek>(state: &mut State<S>) -> i64 {
    if state.size_unknown {
        return i64::from(ffi::AVERROR(libc::ENOSYS));
    }
    // Not knowing the size is allowed (FFmpeg copes), so these errors are not latched...
    let found = state.run(false, |s| {
        let here = retry_interrupted(|| s.stream_position())?;
        let end = retry_interrupted(|| s.seek(SeekFrom::End(0)))?;
        Ok((here, end))
    });
    let (here, end) = match found {
        Ok(found) => found,
        Err(code) => {
            state.size_unknown = true;
            return i64::from(code);
        }
    };
    // ...but failing to go back to where FFmpeg thinks we are would corrupt what it reads.
    if end != here {
        if let Err(code) = state.run(true, |s| {
            retry_interrupted(|| s.seek(SeekFrom::Start(here)))
        }) {
            return i64::from(code);
        }
    }
    i64::try_from(end).unwrap_or(i64::from(ffi::AVERROR(libc::EINVAL)))
}

/// `seek` for non-seekable streams: refuses, and remembers that a seek was wanted so the
/// caller can be told the input needs a seekable reader.
///
/// # Safety
/// Called by FFmpeg only, with the `opaque` of a `CustomIo<S>`.
unsafe extern "C" fn refuse_seek_trampoline<S>(
    opaque: *mut c_void,
    _offset: i64,
    whence: c_int,
) -> i64 {
    // SAFETY: FFmpeg passes back the opaque of a CustomIo<S> (installed only for that S).
    let state = unsafe { state_from::<S>(opaque) };
    if whence & ffi::AVSEEK_SIZE != 0 {
        return i64::from(ffi::AVERROR(libc::ENOSYS));
    }
    if whence & !ffi::AVSEEK_FORCE != libc::SEEK_END {
        state.seek_refused = true;
    }
    i64::from(ffi::AVERROR(libc::ESPIPE))
}

/// `AVFormatContext.io_open` for every format context ffio creates: refuses.
///
/// Some demuxers and muxers (HLS, DASH, concat, MOV data references, segmenting muxers)
/// open further files or URLs on their own. Input handed to ffio is often untrusted, and a
/// program that supplies its own I/O has said where the bytes come from and go to, so ffio
/// lets no format open anything else. Runs no user code.
///
/// # Safety
/// Called by FFmpeg only; it touches none of its arguments.
pub(crate) unsafe extern "C" fn refuse_io_open(
    _s: *mut ffi::AVFormatContext,
    _pb: *mut *mut ffi::AVIOContext,
    _url: *const std::os::raw::c_char,
    _flags: c_int,
    _options: *mut *mut ffi::AVDictionary,
) -> c_int {
    ffi::AVERROR(libc::EPERM)
}

fn retry_interrupted<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Calls the seek trampoline of `io` directly, as FFmpeg would.
    fn seek<S: Seek>(io: &mut CustomIo<S>, offset: i64, whence: c_int) -> i64 {
        let opaque = io.state.as_ptr().cast::<c_void>();
        // SAFETY: `opaque` is the state of a CustomIo<S>, no FFmpeg call is running, and we
        // hold `&mut io`, so the trampoline's reference is the only one.
        unsafe { seek_trampoline::<S>(opaque, offset, whence) }
    }

    fn position(io: &CustomIo<Cursor<Vec<u8>>>) -> u64 {
        io.get_ref().position()
    }

    #[test]
    fn seek_answers_size_without_moving_and_masks_force() {
        let mut io = CustomIo::seekable_reader(Cursor::new(vec![0u8; 1000])).unwrap();
        assert_eq!(seek(&mut io, 300, libc::SEEK_SET), 300);
        assert_eq!(seek(&mut io, 0, ffi::AVSEEK_SIZE), 1000);
        assert_eq!(position(&io), 300, "AVSEEK_SIZE must not move");
        assert_eq!(seek(&mut io, 0, ffi::AVSEEK_SIZE | ffi::AVSEEK_FORCE), 1000);
        assert_eq!(seek(&mut io, 10, libc::SEEK_SET | ffi::AVSEEK_FORCE), 10);
        assert_eq!(seek(&mut io, 5, libc::SEEK_CUR), 15);
        assert_eq!(seek(&mut io, -1, libc::SEEK_END), 999);
        assert!(io.state_ref().error.is_none());
    }

    #[test]
    fn seek_rejects_bad_targets_before_user_code() {
        let mut io = CustomIo::seekable_reader(Cursor::new(vec![0u8; 10])).unwrap();
        assert_eq!(seek(&mut io, 4, libc::SEEK_SET), 4);
        let einval = i64::from(ffi::AVERROR(libc::EINVAL));
        assert_eq!(seek(&mut io, -1, libc::SEEK_SET), einval);
        assert_eq!(seek(&mut io, i64::MIN, libc::SEEK_SET), einval);
        assert_eq!(seek(&mut io, 0, 12345), einval, "unknown whence");
        assert_eq!(position(&io), 4, "refused seeks do not move");
        // FFmpeg's own bad request is not the reader's I/O error.
        assert!(io.state_ref().error.is_none());
        // A relative seek before the start is refused by the reader itself: that is an
        // error of the reader, kept for the caller.
        assert!(seek(&mut io, -100, libc::SEEK_CUR) < 0);
        assert_eq!(
            io.state_ref().error.as_ref().map(io::Error::kind),
            Some(io::ErrorKind::InvalidInput)
        );
    }

    /// A stream whose `seek` claims a position beyond `i64::MAX`.
    struct Huge;

    impl Seek for Huge {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Ok(u64::MAX)
        }
    }

    impl Read for Huge {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    #[test]
    fn positions_beyond_i64_are_refused() {
        let mut io = CustomIo::seekable_reader(Huge).unwrap();
        let einval = i64::from(ffi::AVERROR(libc::EINVAL));
        assert_eq!(seek(&mut io, 1, libc::SEEK_SET), einval);
        assert_eq!(seek(&mut io, 0, ffi::AVSEEK_SIZE), einval);
    }

    #[test]
    fn non_seekable_streams_refuse_and_remember() {
        let mut io = CustomIo::reader(Cursor::new(vec![0u8; 10])).unwrap();
        let opaque = io.state.as_ptr().cast::<c_void>();
        // SAFETY: as in `seek` above.
        let size =
            unsafe { refuse_seek_trampoline::<Cursor<Vec<u8>>>(opaque, 0, ffi::AVSEEK_SIZE) };
        assert!(size < 0);
        assert!(!io.state_ref().seek_refused, "a size query is no seek");
        // SAFETY: as in `seek` above.
        let ret = unsafe { refuse_seek_trampoline::<Cursor<Vec<u8>>>(opaque, 0, libc::SEEK_SET) };
        assert_eq!(ret, i64::from(ffi::AVERROR(libc::ESPIPE)));
        assert!(io.state_mut().seek_refused);
    }

    #[test]
    fn read_never_returns_zero_and_bounds_the_reader() {
        let mut io = CustomIo::reader(Cursor::new(vec![7u8; 3])).unwrap();
        let opaque = io.state.as_ptr().cast::<c_void>();
        let mut buf = [0u8; 8];
        // SAFETY: as in `seek` above; `buf` is 8 writable bytes.
        let read = |buf: &mut [u8; 8]| unsafe {
            read_trampoline::<Cursor<Vec<u8>>>(opaque, buf.as_mut_ptr(), 8)
        };
        assert_eq!(read(&mut buf), 3);
        assert_eq!(&buf[..3], &[7, 7, 7]);
        assert_eq!(
            read(&mut buf),
            ffi::AVERROR_EOF,
            "the end is AVERROR_EOF, never 0"
        );
        // SAFETY: a negative size with a valid pointer: the trampoline must refuse it.
        let bad = unsafe { read_trampoline::<Cursor<Vec<u8>>>(opaque, buf.as_mut_ptr(), -1) };
        assert_eq!(bad, ffi::AVERROR(libc::EINVAL));
        // SAFETY: a null pointer with a non-zero size: refused without touching memory.
        let null = unsafe { read_trampoline::<Cursor<Vec<u8>>>(opaque, ptr::null_mut(), 8) };
        assert_eq!(null, ffi::AVERROR(libc::EINVAL));
        assert!(io.get_mut().get_ref().len() == 3);
    }

    #[test]
    fn buffer_sizes_are_checked() {
        let empty: &[u8] = &[];
        assert!(CustomIo::builder().buffer_size(0).reader(empty).is_err());
        assert!(CustomIo::builder()
            .buffer_size(MAX_BUFFER_SIZE + 1)
            .reader(empty)
            .is_err());
        let io = CustomIo::builder().buffer_size(1).reader(empty).unwrap();
        assert_eq!(io.buffer_size(), 1);
        assert_eq!(
            CustomIo::writer(Vec::new()).unwrap().buffer_size(),
            DEFAULT_WRITE_BUFFER_SIZE
        );
    }
}
