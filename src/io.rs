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

use crate::capture::{self, Capture};
use crate::chunks::{Chunk, ChunkKind, ChunkWrite, WriteSide};
use crate::error::{check, io_error_to_averror, Error, Result};
use crate::interrupt::{CancelHandle, Interrupt};

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
    /// The part of the AVIO buffer known to hold initialised bytes; see [`ReadInit`].
    read_init: ReadInit,
    /// Bytes the reader has delivered so far.
    bytes_read: u64,
    /// Cancellation and deadline, checked before any user code runs.
    interrupt: std::sync::Arc<Interrupt>,
    /// Writers: the chunk being gathered, the unaligned tail.
    write: WriteSide,
}

/// What the read trampoline knows about which bytes of the AVIO buffer are initialised, so
/// it hands `Read::read` only initialised memory (std allows a safe `Read` to read `buf`
/// before writing it) while zeroing each byte of a buffer at most once.
///
/// Two facts make this work without ever destroying data FFmpeg still needs:
/// * FFmpeg's buffered data, `buffer..buf_end`, is initialised: it was read or copied from
///   read data. FFmpeg keeps it when a read returns end of file or an error (to seek back
///   without reading again), so those bytes are never touched; only the part of the
///   requested region at or past `buf_end` may need zeroing.
/// * Past `buf_end`, `av_malloc`'d memory is uninitialised until written. `start..end`
///   (offsets into the buffer at `buffer`, of `size` bytes) have been zeroed or read into.
///   FFmpeg may replace the buffer (probing, seekback, resizing), always allocating the
///   new one before freeing the old, so a different address or size means a new buffer;
///   the one replacement that happens with no read in between, the probe's
///   (`ffio_rewind_with_probe_data`, then a shrink that may reuse the old address), is
///   covered by [`CustomIo::forget_initialised`] right after the probe.
///
/// Reads FFmpeg directs into memory outside the AVIO buffer (large `avio_read`s go straight
/// into the packet) are zeroed every time: that memory is new on each call.
struct ReadInit {
    /// The context, to learn the current buffer (null until `CustomIo::new` sets it).
    ctx: *const ffi::AVIOContext,
    /// The buffer `start..end` refers to, and its size.
    buffer: *const u8,
    size: usize,
    start: usize,
    end: usize,
}

impl ReadInit {
    /// Makes `ptr[..len]` initialised, zeroing only bytes FFmpeg holds no data in and that
    /// are not known to be initialised.
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `len` bytes, and `self.ctx` null or a live context.
    unsafe fn prepare(&mut self, ptr: *mut u8, len: usize) {
        // SAFETY: `ctx` is null or the live context FFmpeg is calling us from; reading
        // its buffer fields while it waits for this callback is race-free.
        let (base, size, filled) = match unsafe { self.ctx.as_ref() } {
            Some(ctx) => (
                ctx.buffer as usize,
                usize::try_from(ctx.buffer_size).unwrap_or(0),
                (ctx.buf_end as usize).wrapping_sub(ctx.buffer as usize),
            ),
            None => (0, 0, 0),
        };
        let addr = ptr as usize;
        let offset = addr.wrapping_sub(base);
        if base == 0 || addr < base || offset > size || len > size - offset || filled > size {
            // SAFETY: `ptr` is valid for `len` writable bytes (the contract).
            unsafe { ptr::write_bytes(ptr, 0, len) };
            return;
        }
        if base != self.buffer as usize || size != self.size {
            (self.buffer, self.size, self.start, self.end) = (base as *const u8, size, 0, 0);
        }
        // Buffered data (`..filled`) is initialised; so is `start..end`: zero the rest.
        let (lo, hi) = (offset.max(filled), offset + len);
        if lo >= hi {
            return;
        }
        let (start, end) = (self.start, self.end);
        let zero = |from: usize, to: usize| {
            if from < to {
                // SAFETY: `from..to` lies within `lo..hi`, offsets into `ptr[..len]`
                // (`offset..offset + len`), valid for writes per the contract.
                unsafe { ptr::write_bytes(ptr.add(from - offset), 0, to - from) };
            }
        };
        if start == end || hi < start || lo > end {
            zero(lo, hi);
            (self.start, self.end) = (lo, hi);
        } else {
            zero(lo, hi.min(start));
            zero(lo.max(end), hi);
            (self.start, self.end) = (start.min(lo), end.max(hi));
        }
    }
}

impl<S> State<S> {
    /// Runs user code on the stream, catching panics, and parks any `io::Error` (when
    /// `latch` is true) or panic. On failure returns the `AVERROR` code for FFmpeg.
    ///
    /// Everything user-defined that happens here, the call and the drop of an error that is
    /// not kept (a custom error payload's `Drop` could panic too), runs inside
    /// `catch_unwind`, so nothing unwinds into C.
    fn run<T>(&mut self, latch: bool, f: impl FnOnce(&mut S) -> io::Result<T>) -> Result<T, c_int> {
        if self.poisoned {
            return Err(ffi::AVERROR_EXTERNAL);
        }
        if self.interrupt.check().is_some() {
            return Err(ffi::AVERROR_EXIT);
        }
        let State { stream, error, .. } = self;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| match f(stream) {
            Ok(value) => Ok(value),
            Err(e) => {
                let code = io_error_to_averror(&e);
                if latch && error.is_none() {
                    *error = Some(e);
                } else {
                    drop(e);
                }
                Err(code)
            }
        }));
        match outcome {
            Ok(result) => result,
            Err(payload) => {
                self.poisoned = true;
                if self.panic.is_none() {
                    self.panic = Some(payload);
                } else {
                    // Cannot happen (nothing runs once poisoned), but a second payload's
                    // Drop could panic outside catch_unwind: leak it rather than risk that.
                    std::mem::forget(payload);
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
#[must_use = "a builder does nothing until it makes a CustomIo"]
pub struct CustomIoBuilder {
    buffer_size: Option<usize>,
    flush_packets: bool,
    align: Option<usize>,
}

impl CustomIoBuilder {
    /// Sets the size of the `av_malloc`'d buffer FFmpeg reads into or writes from, in bytes
    /// (1 to [`MAX_BUFFER_SIZE`]). It is also the most a read callback is asked for and, for
    /// writers, the size of the batches handed to the writer (unseekable writers: every
    /// write but the last holds at least this much, less any alignment remainder, and
    /// under twice as much). It must hold the largest box or element a muxer patches
    /// after writing it (an MP4 `moov` or `moof`), as in FFmpeg itself.
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

    /// For plain writers ([`writer`](Self::writer)): hand the writer only multiples of
    /// `bytes` (1 to [`MAX_BUFFER_SIZE`]), holding the rest back until more comes; the
    /// remainder goes out when the muxer finishes. Nothing is lost, reordered or padded.
    /// For MPEG-TS over UDP or SRT, 1316 (7 × 188) makes every write one datagram.
    pub fn align_writes(mut self, bytes: usize) -> Self {
        self.align = Some(bytes);
        self
    }

    /// A context that reads from `reader` and cannot seek. Fine for streamable formats
    /// (MPEG-TS, Matroska, fragmented or faststart MP4); an MP4 whose `moov` box follows the
    /// media data then fails with [`Error::NotSeekable`].
    pub fn reader<R: Read>(self, reader: R) -> Result<CustomIo<R>> {
        self.no_align("reader")?;
        CustomIo::new(
            reader,
            Mode::Read { seekable: false },
            self.size(DEFAULT_READ_BUFFER_SIZE)?,
            false,
            (
                Some(read_trampoline::<R>),
                None,
                Some(refuse_seek_trampoline::<R>),
            ),
            Hooks::none(),
        )
    }

    /// A context that reads from and seeks in `reader`: every format FFmpeg can read.
    pub fn seekable_reader<R: Read + Seek>(self, reader: R) -> Result<CustomIo<R>> {
        self.no_align("reader")?;
        CustomIo::new(
            reader,
            Mode::Read { seekable: true },
            self.size(DEFAULT_READ_BUFFER_SIZE)?,
            false,
            (Some(read_trampoline::<R>), None, Some(seek_trampoline::<R>)),
            Hooks::none(),
        )
    }

    /// A context that writes to `writer` and cannot seek: for streamable output formats
    /// (MPEG-TS, fragmented MP4, raw streams, Matroska in live mode).
    pub fn writer<W: Write>(self, writer: W) -> Result<CustomIo<W>> {
        let flush = self.flush_packets;
        let align = match self.align {
            Some(n) if n == 0 || n > MAX_BUFFER_SIZE => {
                return Err(Error::InvalidArgument(format!(
                    "write alignment must be 1..={MAX_BUFFER_SIZE} bytes, got {n}"
                )))
            }
            other => other.unwrap_or(1),
        };
        CustomIo::new(
            writer,
            Mode::Write { seekable: false },
            self.size(DEFAULT_WRITE_BUFFER_SIZE)?,
            flush,
            (
                None,
                Some(write_trampoline::<W>),
                Some(refuse_seek_trampoline::<W>),
            ),
            Hooks {
                align,
                write_data_type: None,
                deliver: None,
                finish: Some(finish_writer::<W>),
            },
        )
    }

    /// A context that hands a muxer's output to `writer` chunk by chunk, each whole and
    /// labelled (header, sync point, boundary point, trailer): see [`ChunkWrite`]. Not
    /// seekable; every muxer call's output is handed over when the call returns, so
    /// there is no batching ([`flush_packets`](Self::flush_packets) is implied).
    pub fn chunk_writer<W: ChunkWrite>(self, writer: W) -> Result<CustomIo<W>> {
        self.no_align("chunk writer")?;
        CustomIo::new(
            writer,
            Mode::Write { seekable: false },
            self.size(DEFAULT_WRITE_BUFFER_SIZE)?,
            true,
            (
                None,
                Some(write_chunk_plain_trampoline::<W>),
                Some(refuse_seek_trampoline::<W>),
            ),
            Hooks {
                align: 1,
                write_data_type: Some(write_chunk_trampoline::<W>),
                deliver: Some(deliver_completed_chunk::<W>),
                finish: Some(finish_chunk_writer::<W>),
            },
        )
    }

    /// A context that writes to and seeks in `writer`: every output format, including plain
    /// MP4, which goes back to patch sizes when it finishes.
    pub fn seekable_writer<W: Write + Seek>(self, writer: W) -> Result<CustomIo<W>> {
        self.no_align("seekable writer")?;
        let flush = self.flush_packets;
        CustomIo::new(
            writer,
            Mode::Write { seekable: true },
            self.size(DEFAULT_WRITE_BUFFER_SIZE)?,
            flush,
            (
                None,
                Some(write_trampoline::<W>),
                Some(seek_trampoline::<W>),
            ),
            Hooks {
                align: 1,
                write_data_type: None,
                deliver: None,
                finish: Some(finish_writer::<W>),
            },
        )
    }

    fn no_align(&self, what: &str) -> Result<()> {
        match self.align {
            None => Ok(()),
            Some(_) => Err(Error::InvalidArgument(format!(
                "align_writes is for plain writers, not a {what}"
            ))),
        }
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
type WriteDataTypeFn =
    unsafe extern "C" fn(*mut c_void, WriteBuf, c_int, ffi::AVIODataMarkerType, i64) -> c_int;
/// Runs on the state after each call (chunk writers: hand over the gathered chunk).
type DeliverFn<S> = fn(&mut State<S>) -> Result<(), c_int>;

/// What a writing context does besides `write_packet`.
struct Hooks<S> {
    align: usize,
    write_data_type: Option<WriteDataTypeFn>,
    /// After each call, FFmpeg's buffer is flushed and this runs.
    deliver: Option<DeliverFn<S>>,
    /// When the muxer finishes: write what is held back, flush the writer.
    finish: Option<DeliverFn<S>>,
}

impl<S> Hooks<S> {
    fn none() -> Self {
        Hooks {
            align: 1,
            write_data_type: None,
            deliver: None,
            finish: None,
        }
    }
}

/// Numbers the contexts in forwarded log messages.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What [`Error::Failed`] says about the first failure.
#[derive(Clone, Debug)]
struct Failure {
    kind: Option<io::ErrorKind>,
    text: String,
}

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
    /// The first failure FFmpeg cannot recover from, once there was one: every later
    /// [`call`](Self::call) reports it as [`Error::Failed`] instead of running.
    failed: Option<Failure>,
    /// A seekable reader's size, once asked (`input_size`).
    known_size: Option<Option<u64>>,
    /// Chunk writers: hands over the chunk a call finished (see `crate::chunks`).
    deliver: Option<DeliverFn<S>>,
    /// Writers: run by [`flush`](Self::flush) when the muxer finishes.
    finish: Option<DeliverFn<S>>,
    /// FFmpeg's log lines during the current call (see `crate::capture`); boxed so its
    /// address stays put while the call runs.
    capture: Box<Capture>,
    /// The contexts an opener made for this one's format context (`crate::opener`), whose
    /// callbacks' errors and panics [`after_call`](Self::after_call) collects as if they
    /// were this context's own. Set by `link`; the owner keeps it alive while linked.
    linked: Option<NonNull<dyn Linked>>,
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
        (read, write, seek): (Option<ReadFn>, Option<WriteFn>, Option<SeekFn>),
        hooks: Hooks<S>,
    ) -> Result<Self> {
        capture::install();
        // Unseekable plain writers gather a buffer's worth before writing, in ffio rather
        // than by raising FFmpeg's `min_packet_size`: muxers patch box and element sizes
        // by seeking back inside FFmpeg's buffer (movenc's moof), which fails once the
        // buffer filled up and was written out in the middle of the box, leaving a size
        // of 0 and the patch bytes in the stream. Flushing at every packet, as FFmpeg
        // does by default, keeps each packet's output in the buffer until it is complete.
        let batch = match mode {
            Mode::Write { seekable: false } if !flush_packets => buffer_size as usize,
            _ => 0,
        };
        let state = Box::new(State {
            stream,
            error: None,
            panic: None,
            poisoned: false,
            seek_refused: false,
            size_unknown: false,
            bytes_read: 0,
            interrupt: Interrupt::new(),
            write: WriteSide::new(hooks.align.max(1), batch),
            read_init: ReadInit {
                ctx: ptr::null(),
                buffer: ptr::null(),
                size: 0,
                start: 0,
                end: 0,
            },
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
        // SAFETY: `state` is live and not shared yet (FFmpeg has not called back).
        unsafe { (*state).read_init.ctx = ctx.as_ptr() };
        let io = CustomIo {
            ctx,
            // SAFETY: Box::into_raw never returns null.
            state: unsafe { NonNull::new_unchecked(state) },
            mode,
            failed: None,
            known_size: None,
            deliver: hooks.deliver,
            finish: hooks.finish,
            capture: Box::new(Capture::new(format!(
                "ffio {} #{}",
                if writing { "writer" } else { "reader" },
                NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))),
            linked: None,
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
            if writing && !flush_packets && seekable {
                // Flush points (after every muxed packet) only flush once this much is
                // buffered: with the whole buffer, output goes out in full-buffer batches.
                // (Unseekable writers batch in ffio instead: see `batch` above.)
                ctx.min_packet_size = buffer_size;
            }
            // Chunk writers: FFmpeg calls this instead of write_packet, with the marker.
            ctx.write_data_type = hooks.write_data_type;
        }
        Ok(io)
    }

    /// The raw context, for attaching to an `AVFormatContext` as `pb`.
    pub(crate) fn as_ptr(&self) -> *mut ffi::AVIOContext {
        self.ctx.as_ptr()
    }

    /// How many bytes the reader has delivered to FFmpeg so far (seeks back included).
    pub fn bytes_read(&self) -> u64 {
        self.state_ref().bytes_read
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
        let mut this = ManuallyDrop::new(self);
        // Every field that owns something is taken out here (Drop does not run):
        // `failed`, `capture`, the context and the state.
        drop(this.failed.take());
        // SAFETY: `this` is never used or dropped again after these calls, so the
        // capture box is read (and dropped) once, the context freed exactly once and the
        // state box reclaimed exactly once.
        unsafe {
            drop(ptr::read(&this.capture));
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
    /// A poisoned context returns [`Error::Poisoned`] without calling `f`, a failed one
    /// (see [`mark_failed`](Self::mark_failed)) [`Error::Failed`]. An [`Error::Io`] marks
    /// the context failed: FFmpeg latches the error in the AVIOContext and reads or writes
    /// nothing more.
    #[inline]
    pub(crate) fn call(&mut self, call: &'static str, f: impl FnOnce() -> c_int) -> Result<c_int> {
        self.usable(call)?;
        let ret = self.captured(f);
        self.after_call(call, ret)
    }

    /// Runs `f` with FFmpeg's log lines on this thread going to this context's capture;
    /// for FFmpeg calls whose outcome is then checked with [`after_call`](Self::after_call).
    #[inline]
    pub(crate) fn captured(&mut self, f: impl FnOnce() -> c_int) -> c_int {
        // `--cfg ffio_no_capture` exists only for scripts/bench-probe.sh, to measure what
        // the capture costs per call.
        #[cfg(not(ffio_no_capture))]
        let _scope = {
            self.capture.clear();
            let capture: *mut Capture = &mut *self.capture;
            // SAFETY: the capture is boxed (a fixed address) and owned by `self`, which
            // `&mut` keeps from being touched or dropped until the scope ends right after
            // `f`, on this thread.
            unsafe { capture::enter(capture) }
        };
        let ret = f();
        if let Some(deliver) = self.deliver {
            let ctx = self.ctx.as_ptr();
            // SAFETY: `ctx` is our valid writing context and no other FFmpeg call runs;
            // avio_flush hands what the call left in the buffer to our trampolines. After
            // a failed write FFmpeg writes nothing more, and neither do we.
            if ret >= 0 && unsafe { (*ctx).error } == 0 {
                // SAFETY: as above.
                unsafe { ffi::avio_flush(ctx) };
                // An error is parked in the state like any other; after_call reports it.
                let _ = deliver(self.state_mut());
            }
        }
        ret
    }

    /// Like [`call`](Self::call), for a seek that restarts reading: it runs even on a
    /// failed context, after clearing FFmpeg's latched error and end-of-file state, and
    /// its success clears the failure. Poisoned contexts still refuse.
    pub(crate) fn call_recovering(
        &mut self,
        call: &'static str,
        f: impl FnOnce() -> c_int,
    ) -> Result<c_int> {
        if self.state_ref().poisoned {
            return Err(Error::Poisoned);
        }
        if let Some(reason) = self.state_ref().interrupt.check() {
            return Err(reason.error(call));
        }
        if self.failed.is_some() {
            // SAFETY: `ctx` is valid and FFmpeg is not running; these are plain fields
            // that avio_seek would otherwise leave latched (it resets neither on 5.1).
            unsafe {
                (*self.ctx.as_ptr()).error = 0;
                (*self.ctx.as_ptr()).eof_reached = 0;
            }
        }
        let ret = self.captured(f);
        let result = self.after_call(call, ret);
        if result.is_ok() {
            self.failed = None;
        }
        result
    }

    /// Forgets which bytes of the AVIO buffer past FFmpeg's buffered data are initialised.
    /// Called after probing, which replaces the buffer twice without a read in between
    /// (see `ReadInit`).
    pub(crate) fn forget_initialised(&mut self) {
        let init = &mut self.state_mut().read_init;
        (init.buffer, init.size, init.start, init.end) = (ptr::null(), 0, 0, 0);
    }

    /// Links the contexts an opener makes for this context's format context: from now on
    /// [`after_call`](Self::after_call) reports their callbacks' errors and panics as this
    /// context's own (a panic also poisons this context).
    ///
    /// # Safety
    /// `linked` must stay valid, and be touched by nothing else while an ffio call runs
    /// `after_call`, until this context is dropped or linked again.
    pub(crate) unsafe fn link(&mut self, linked: NonNull<dyn Linked>) {
        self.linked = Some(linked);
    }

    /// Takes what this context's callbacks reported and nobody collected yet.
    pub(crate) fn take_reports(&mut self) -> Reports {
        let state = self.state_mut();
        Reports {
            error: state.error.take(),
            panic: state.panic.take(),
        }
    }

    /// `true` if a callback of this context reported an error or a panic not yet taken.
    pub(crate) fn has_reports(&self) -> bool {
        let state = self.state_ref();
        state.error.is_some() || state.panic.is_some()
    }

    /// Makes `reports` this context's own: the first error and panic are kept, and a
    /// panic poisons the context.
    fn adopt(&mut self, reports: Reports) {
        let state = self.state_mut();
        if let Some(payload) = reports.panic {
            state.poisoned = true;
            if state.panic.is_none() {
                state.panic = Some(payload);
            } else {
                // The first panic is what is resumed.
                discard_payload(payload);
            }
        }
        if let Some(error) = reports.error {
            if state.error.is_none() {
                state.error = Some(error);
            }
        }
    }

    /// The cancellation state of this context, to share with the contexts opened for it.
    pub(crate) fn interrupt(&self) -> std::sync::Arc<Interrupt> {
        self.state_ref().interrupt.clone()
    }

    /// Makes this context obey `interrupt` (its parent's) instead of its own.
    pub(crate) fn set_interrupt(&mut self, interrupt: std::sync::Arc<Interrupt>) {
        self.state_mut().interrupt = interrupt;
    }

    /// For a context FFmpeg closes (`io_close2`): flushes FFmpeg's write buffer and the
    /// held-back batch into the writer, and the writer itself, leaving any failure in the reports. Returns 0 or
    /// FFmpeg's error code. Does nothing for readers.
    ///
    /// Must be called from within an FFmpeg call of the owner (or with no FFmpeg call
    /// running): it runs this context's callbacks.
    pub(crate) fn flush_for_close(&mut self) -> c_int
    where
        S: Write,
    {
        if !self.is_writer() {
            return 0;
        }
        let ctx = self.ctx.as_ptr();
        // SAFETY: `ctx` is a valid writing context; avio_flush only calls our trampolines,
        // which reach the state through `opaque` while we hold no reference to it.
        let latched = unsafe {
            ffi::avio_flush(ctx);
            (*ctx).error
        };
        if latched < 0 {
            return latched;
        }
        // What the writer side holds back (a batch), then the writer's own flush.
        let flushed = match self.finish {
            Some(finish) => finish(self.state_mut()),
            None => self.state_mut().run(true, |w| w.flush()),
        };
        match flushed {
            Ok(()) => 0,
            Err(code) => code,
        }
    }

    /// A handle that cancels this context's object, or gives it a deadline, from any
    /// thread; see [`CancelHandle`].
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle::new(self.state_ref().interrupt.clone())
    }

    /// The `interrupt_callback` for the format context this context belongs to. Its
    /// `opaque` stays valid as long as `self` (the state holds the `Arc`).
    pub(crate) fn interrupt_callback(&self) -> ffi::AVIOInterruptCB {
        self.state_ref().interrupt.callback()
    }

    /// `Err` if the context may not be used: poisoned, interrupted, or failed earlier.
    #[inline]
    pub(crate) fn usable(&self, call: &'static str) -> Result<()> {
        let state = self.state_ref();
        if state.poisoned {
            return Err(Error::Poisoned);
        }
        if let Some(reason) = state.interrupt.check() {
            state.interrupt.take_fired();
            return Err(reason.error(call));
        }
        match &self.failed {
            None => Ok(()),
            Some(first) => Err(Error::Failed {
                call,
                kind: first.kind,
                first: first.text.clone(),
            }),
        }
    }

    /// Marks the context failed with `error`, for failures the owner knows FFmpeg cannot
    /// recover from (a muxer whose header failed). The first failure is kept.
    pub(crate) fn mark_failed(&mut self, error: &Error) {
        if self.failed.is_none() {
            self.failed = Some(Failure {
                kind: error.io_error_kind(),
                text: error.chain(),
            });
        }
    }

    /// The checks of [`call`](Self::call) after FFmpeg returned `ret`.
    #[inline]
    pub(crate) fn after_call(&mut self, call: &'static str, ret: c_int) -> Result<c_int> {
        if let Some(mut linked) = self.linked {
            // SAFETY: `link`'s contract: the linked contexts outlive this link, and FFmpeg
            // is not running, so no callback holds a reference to them.
            let linked = unsafe { linked.as_mut() };
            if linked.pending() {
                let reports = linked.take();
                self.adopt(reports);
            }
        }
        // SAFETY: `ctx` is valid; FFmpeg is not running (f has returned).
        let latched = unsafe { (*self.ctx.as_ptr()).error };
        let state = self.state_ref();
        let fired = state.interrupt.take_fired();
        // The common case, once per packet: success and nothing reported by a callback.
        if ret >= 0 && latched == 0 && !fired && state.error.is_none() && state.panic.is_none() {
            self.state_mut().seek_refused = false;
            return Ok(ret);
        }
        self.after_call_slow(call, ret, latched, fired)
    }

    #[cold]
    fn after_call_slow(
        &mut self,
        call: &'static str,
        ret: c_int,
        latched: c_int,
        fired: bool,
    ) -> Result<c_int> {
        let state = self.state_mut();
        if let Some(payload) = state.panic.take() {
            panic::resume_unwind(payload);
        }
        if fired {
            // The interrupt stopped this call (or FFmpeg swallowed it and returned
            // success): the call failed, whatever FFmpeg says. An I/O error parked
            // before it is dropped; every later call reports the interrupt again.
            if let Some(reason) = state.interrupt.check() {
                state.error = None;
                state.seek_refused = false;
                // FFmpeg's state after a stopped call is not to be trusted: lifting the
                // deadline later does not revive it (a successful seek does).
                let error = reason.error(call);
                self.mark_failed(&error);
                return Err(error);
            }
        }
        if let Some(e) = state.error.take() {
            state.seek_refused = false;
            let error = Error::Io(e);
            self.mark_failed(&error);
            return Err(error);
        }
        let seek_refused = std::mem::take(&mut state.seek_refused);
        let poisoned = state.poisoned;
        let detail = self.capture.detail();
        if ret >= 0 {
            if latched < 0 && self.is_writer() {
                // A write failed earlier and FFmpeg latched it; it skips every later write,
                // so success now would be a lie.
                return check(call, latched).map_err(|e| e.with_detail(detail));
            }
            return Ok(ret);
        }
        if poisoned {
            return Err(Error::Poisoned);
        }
        if seek_refused {
            return Err(Error::NotSeekable {
                call,
                message: match detail {
                    Some(line) => format!("{}: {line}", crate::error::av_error_string(ret)),
                    None => crate::error::av_error_string(ret),
                },
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
            return check(call, latched).map_err(|e| e.with_detail(detail));
        }
        check(call, ret).map_err(|e| e.with_detail(detail))
    }

    /// The size of a seekable reader's input (`avio_size`, through the call path: it runs
    /// the seek callback), asked once and remembered; `None` for a non-seekable reader or
    /// one that cannot tell. Only the reader's own failure (it could not seek back) is an
    /// error.
    pub(crate) fn input_size(&mut self) -> Result<Option<u64>> {
        if !self.is_seekable() {
            return Ok(None);
        }
        if let Some(known) = self.known_size {
            return Ok(known);
        }
        let pb = self.as_ptr();
        let mut size = -1i64;
        // SAFETY: `pb` is our valid reading context; avio_size only runs our seek callback
        // (AVSEEK_SIZE, or an end-relative seek and back) and moves no read position.
        let asked = self.call("avio_size", || unsafe {
            size = ffi::avio_size(pb);
            if size < 0 {
                c_int::try_from(size).unwrap_or(ffi::AVERROR(libc::EINVAL))
            } else {
                0
            }
        });
        let known = match asked {
            Ok(_) => u64::try_from(size).ok(),
            Err(e @ (Error::Io(_) | Error::Poisoned)) => return Err(e),
            // Unknown: nothing to compare with.
            Err(_) => None,
        };
        self.known_size = Some(known);
        Ok(known)
    }

    /// The warning and error lines FFmpeg logged during the last call: `(level,
    /// message)`, oldest first (see `crate::capture`).
    pub(crate) fn logged(&self) -> Option<impl Iterator<Item = (c_int, &str)>> {
        (!self.capture.is_empty()).then(|| self.capture.lines())
    }

    /// For a muxer that finishes: flushes FFmpeg's write buffer into the writer, then what
    /// the writer side holds back (an unaligned tail, a gathered chunk), then the writer
    /// itself (`flush`), reporting the first error on the way.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let ctx = self.ctx.as_ptr();
        // SAFETY: `ctx` is a valid writing context; avio_flush only calls our trampolines.
        self.call("avio_flush", || unsafe {
            ffi::avio_flush(ctx);
            (*ctx).error
        })?;
        let Some(finish) = self.finish else {
            return Ok(());
        };
        match finish(self.state_mut()) {
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

/// What a context's callbacks reported and nobody has collected yet.
#[derive(Default)]
pub(crate) struct Reports {
    /// The first `io::Error` user code returned.
    pub(crate) error: Option<io::Error>,
    /// A panic payload caught in user code.
    pub(crate) panic: Option<Box<dyn Any + Send + 'static>>,
}

impl Reports {
    /// Keeps the first error and the first panic of `self` and `other`.
    pub(crate) fn merge(&mut self, other: Reports) {
        if self.panic.is_none() {
            self.panic = other.panic;
        } else if let Some(payload) = other.panic {
            // The first panic is what is resumed.
            discard_payload(payload);
        }
        if self.error.is_none() {
            self.error = other.error;
        }
    }

    /// `true` if nothing was reported.
    pub(crate) fn is_empty(&self) -> bool {
        self.error.is_none() && self.panic.is_none()
    }
}

/// Drops a panic payload that will not be resumed. Its `Drop` could panic in turn: that
/// is caught, and only that second payload is leaked.
pub(crate) fn discard_payload(payload: Box<dyn Any + Send + 'static>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Contexts linked to a main one (see [`CustomIo::link`]): the opener's registry.
pub(crate) trait Linked {
    /// `true` if something was reported since the last [`take`](Linked::take).
    fn pending(&self) -> bool;
    /// Everything reported since the last call.
    fn take(&mut self) -> Reports;
}

/// A reader over the stream of a reading-and-writing [`CustomIo`] with a position of its
/// own: FFmpeg's second context on one output (faststart's `ff_format_shift_data` reads the
/// output back while it rewrites it). Each read seeks the shared stream to this reader's
/// position, reads, and seeks back to where the writing context left it.
///
/// Holds a pointer to the main context's state; it is only read through while the main
/// context's owner runs an FFmpeg call (the reader's context is one of its opened contexts),
/// one callback at a time, and after a panic in the stream it refuses.
#[derive(Clone)]
pub(crate) struct SharedReader {
    state: NonNull<c_void>,
    pos: u64,
    read: unsafe fn(NonNull<c_void>, u64, &mut [u8]) -> io::Result<usize>,
    size: unsafe fn(NonNull<c_void>) -> io::Result<u64>,
}

// SAFETY: a SharedReader only reaches the state of the CustomIo<S> it was made from, which
// is owned by the same Muxer (moved with it; `S: Send` is required where it is made), and
// only during that Muxer's `&mut self` calls.
unsafe impl Send for SharedReader {}

impl<S: Read + Write + Seek + Send> CustomIo<S> {
    /// A [`SharedReader`] over this context's stream.
    ///
    /// # Safety
    /// The reader may only be used while this context is alive, from callbacks of an FFmpeg
    /// call made through this context's [`call`](Self::call).
    pub(crate) unsafe fn shared_reader(&self) -> SharedReader {
        SharedReader {
            state: self.state.cast(),
            pos: 0,
            read: shared_read::<S>,
            size: shared_size::<S>,
        }
    }
}

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the contract of `shared_reader`: the state is alive and no other
        // reference to it exists while this callback runs.
        let n = unsafe { (self.read)(self.state, self.pos, buf) }?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedReader {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "seek out of range");
        let pos = match target {
            SeekFrom::Start(pos) => Some(pos),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
            // SAFETY: as in `read`.
            SeekFrom::End(delta) => unsafe { (self.size)(self.state) }?.checked_add_signed(delta),
        };
        self.pos = pos.ok_or_else(invalid)?;
        Ok(self.pos)
    }
}

/// Sets the main context poisoned if user code unwinds through a shared read.
struct PoisonOnUnwind<'a>(&'a mut bool);

impl Drop for PoisonOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            *self.0 = true;
        }
    }
}

/// [`SharedReader`]'s read: at `pos`, then back to the writer's position.
///
/// # Safety
/// `state` must be the live state of a `CustomIo<S>` that nothing else references now.
unsafe fn shared_read<S: Read + Seek>(
    state: NonNull<c_void>,
    pos: u64,
    buf: &mut [u8],
) -> io::Result<usize> {
    // SAFETY: per the contract.
    let State {
        stream, poisoned, ..
    } = unsafe { state.cast::<State<S>>().as_mut() };
    if *poisoned {
        return Err(io::Error::other("the output stream panicked earlier"));
    }
    let _guard = PoisonOnUnwind(poisoned);
    let here = retry_interrupted(|| stream.stream_position())?;
    retry_interrupted(|| stream.seek(SeekFrom::Start(pos)))?;
    let read = retry_interrupted(|| stream.read(buf));
    let back = retry_interrupted(|| stream.seek(SeekFrom::Start(here)));
    let n = read?;
    back?;
    Ok(n)
}

/// [`SharedReader`]'s size: the stream's end, leaving its position alone.
///
/// # Safety
/// As for [`shared_read`].
unsafe fn shared_size<S: Read + Seek>(state: NonNull<c_void>) -> io::Result<u64> {
    // SAFETY: per the contract.
    let State {
        stream, poisoned, ..
    } = unsafe { state.cast::<State<S>>().as_mut() };
    if *poisoned {
        return Err(io::Error::other("the output stream panicked earlier"));
    }
    let _guard = PoisonOnUnwind(poisoned);
    let here = retry_interrupted(|| stream.stream_position())?;
    let end = retry_interrupted(|| stream.seek(SeekFrom::End(0)));
    retry_interrupted(|| stream.seek(SeekFrom::Start(here)))?;
    end
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

/// Borrows FFmpeg's write buffer as a slice (`None` for a bad pointer/size pair).
///
/// # Safety
/// If `ptr` is not null it must be valid for reads of `len` bytes for `'a`, and nothing may
/// write to that memory during `'a`.
pub(crate) unsafe fn buffer_ref<'a>(ptr: *const u8, len: c_int) -> Option<&'a [u8]> {
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
    let Some(len) = checked_len(buf, size).filter(|&len| len > 0) else {
        return ffi::AVERROR(libc::EINVAL);
    };
    // SAFETY: FFmpeg hands us `len` writable bytes at `buf` (non-null: checked_len) for the
    // length of the call; `read_init.ctx` is this context. After `prepare` they are
    // initialised, so they may become a `&mut [u8]` for user code.
    let buf = unsafe {
        state.read_init.prepare(buf, len);
        std::slice::from_raw_parts_mut(buf, len)
    };
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
        Ok(n) => {
            state.bytes_read += n as u64;
            n as c_int
        }
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
    let result = if state.write.align <= 1 && state.write.batch == 0 {
        state.run(true, |w| w.write_all(buf))
    } else {
        // Output waits in `tail` until a batch is full; then the largest multiple of
        // `align` goes out in one write, and the rest (fewer than `align` bytes) waits for
        // the next write or the finish.
        let n = state.write.ready_len(buf);
        if n == 0 {
            state.write.tail.extend_from_slice(buf);
            return size;
        }
        let mut tail = std::mem::take(&mut state.write.tail);
        let result = if tail.is_empty() {
            let result = state.run(true, |w| w.write_all(&buf[..n]));
            tail.extend_from_slice(&buf[n..]);
            result
        } else {
            tail.extend_from_slice(buf);
            let result = state.run(true, |w| w.write_all(&tail[..n]));
            tail.drain(..n);
            result
        };
        state.write.tail = tail;
        result
    };
    match result {
        Ok(()) => size,
        Err(code) => code,
    }
}

/// Writers, when the muxer finishes: the held-back tail, then `Write::flush`.
fn finish_writer<W: Write>(state: &mut State<W>) -> Result<(), c_int> {
    let tail = std::mem::take(&mut state.write.tail);
    state.run(true, |w| {
        if !tail.is_empty() {
            w.write_all(&tail)?;
        }
        w.flush()
    })
}

/// `write_data_type` for chunk writers: gathers FFmpeg's writes into chunks. A write that
/// starts a new chunk first hands over the previous one: a sync or boundary point (FFmpeg
/// labels only the first write after such a marker), a header or trailer after other data
/// (their label persists over all their writes), or unlabelled data after a header or
/// trailer.
///
/// # Safety
/// Called by FFmpeg only, with the `opaque` of a `CustomIo<W>` and `size` readable bytes.
unsafe extern "C" fn write_chunk_trampoline<W: ChunkWrite>(
    opaque: *mut c_void,
    buf: WriteBuf,
    size: c_int,
    kind: ffi::AVIODataMarkerType,
    time: i64,
) -> c_int {
    // SAFETY: FFmpeg passes back the opaque of a CustomIo<W> (installed only for that W).
    let state = unsafe { state_from::<W>(opaque) };
    // SAFETY: FFmpeg hands us `size` readable bytes at `buf` for the length of the call.
    let Some(buf) = (unsafe { buffer_ref(buf, size) }) else {
        return ffi::AVERROR(libc::EINVAL);
    };
    let kind = ChunkKind::from_raw(kind);
    let previous = state.write.kind;
    let starts_new = match kind {
        ChunkKind::SyncPoint | ChunkKind::BoundaryPoint => true,
        ChunkKind::Header | ChunkKind::Trailer => kind != previous,
        _ => matches!(previous, ChunkKind::Header | ChunkKind::Trailer),
    };
    if starts_new && !state.write.chunk.is_empty() {
        if let Err(code) = deliver_chunk(state) {
            return code;
        }
    }
    if state.write.chunk.is_empty() {
        state.write.kind = kind;
        state.write.time = (time != ffi::AV_NOPTS_VALUE).then_some(time);
    }
    state.write.chunk.extend_from_slice(buf);
    size
}

/// `write_packet` of chunk writers, in case FFmpeg writes without a marker type: the same
/// as an unknown-kind write.
///
/// # Safety
/// As for [`write_chunk_trampoline`].
unsafe extern "C" fn write_chunk_plain_trampoline<W: ChunkWrite>(
    opaque: *mut c_void,
    buf: WriteBuf,
    size: c_int,
) -> c_int {
    let unknown = ffi::AVIODataMarkerType::AVIO_DATA_MARKER_UNKNOWN;
    // SAFETY: the same contract.
    unsafe { write_chunk_trampoline::<W>(opaque, buf, size, unknown, ffi::AV_NOPTS_VALUE) }
}

/// Hands the gathered chunk (if any) to the chunk writer.
fn deliver_chunk<W: ChunkWrite>(state: &mut State<W>) -> Result<(), c_int> {
    if state.write.chunk.is_empty() {
        return Ok(());
    }
    let mut data = std::mem::take(&mut state.write.chunk);
    let (kind, time) = (state.write.kind, state.write.time);
    let result = state.run(true, |w| {
        w.write_chunk(Chunk {
            data: &data,
            kind,
            time,
        })
    });
    data.clear();
    state.write.chunk = data; // keep the allocation for the next chunk
    state.write.kind = ChunkKind::Unknown;
    state.write.time = None;
    result
}

/// After each muxer call: hands over the chunk the call finished, unless it is the header,
/// which may go on in the next call (movenc writes a delayed `moov` with the first packet).
fn deliver_completed_chunk<W: ChunkWrite>(state: &mut State<W>) -> Result<(), c_int> {
    if state.write.kind == ChunkKind::Header {
        return Ok(());
    }
    deliver_chunk(state)
}

/// Chunk writers, when the muxer finishes: the last chunk, then `ChunkWrite::flush`.
fn finish_chunk_writer<W: ChunkWrite>(state: &mut State<W>) -> Result<(), c_int> {
    deliver_chunk(state)?;
    state.run(true, |w| w.flush())
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
