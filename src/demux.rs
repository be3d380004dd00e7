//! [`Demuxer`]: reading a container through a [`CustomIo`].

use std::ffi::CStr;
use std::fmt;
use std::io::{Cursor, Read, Seek};
use std::ptr::{self, NonNull};
use std::time::Duration;

use ffmpeg_sys_next as ffi;

use crate::dict::{c_string, Dictionary};
use crate::error::{Error, Result};
use crate::io::CustomIo;
use crate::opener::{CoreConfig, CoreOwner, Opener, SharedOpener};
use crate::packet::Packet;
use crate::stream::{stream_at, MediaType, Stream};

/// How to open an input: a format hint, FFmpeg options, whether to probe the streams.
///
/// ```no_run
/// # let bytes: &[u8] = &[];
/// let demuxer = ffio::DemuxerOptions::new()
///     .format("mpegts")
///     .option("analyzeduration", "500000")
///     .open(ffio::CustomIo::reader(bytes)?)?;
/// # Ok::<(), ffio::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "options do nothing until passed to `open`"]
pub struct DemuxerOptions {
    format: Option<String>,
    options: Vec<(String, String)>,
    find_stream_info: bool,
    format_whitelist: Option<String>,
    timeout: Option<Duration>,
    opener: Option<SharedOpener>,
}

impl Default for DemuxerOptions {
    fn default() -> Self {
        DemuxerOptions {
            format: None,
            options: Vec::new(),
            find_stream_info: true,
            format_whitelist: None,
            timeout: None,
            opener: None,
        }
    }
}

impl DemuxerOptions {
    /// Defaults: probe the format, no options, run stream discovery.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forces the input format by FFmpeg's short name (`"mp4"`, `"mpegts"`, `"matroska"`,
    /// …) instead of probing. An unknown name fails with [`Error::FormatNotFound`].
    pub fn format(mut self, name: &str) -> Self {
        self.format = Some(name.to_owned());
        self
    }

    /// Adds an option for the demuxer or the format context (`avformat_open_input`'s
    /// `options`), e.g. `probesize`. An option FFmpeg does not use fails the open with
    /// [`Error::UnknownOptions`], a value it refuses with [`Error::InvalidOption`].
    ///
    /// Format-context options are applied by ffio before FFmpeg opens anything, so none
    /// of them can take the custom I/O away from ffio (a plain `fflags` value keeps
    /// `AVFMT_FLAG_CUSTOM_IO`). `protocol_whitelist` and `protocol_blacklist` are refused:
    /// ffio never lets FFmpeg open anything by name.
    pub fn option(mut self, key: &str, value: &str) -> Self {
        self.options.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Whether to run `avformat_find_stream_info` after opening (default `true`). It reads
    /// ahead to fill in codec details and frame rates that some containers (MPEG-TS) do not
    /// store in their header; the packets it reads are still returned by
    /// [`Demuxer::read_packet`].
    pub fn find_stream_info(mut self, yes: bool) -> Self {
        self.find_stream_info = yes;
        self
    }

    /// Accepts only inputs whose format is one of `formats`, FFmpeg's demuxer names (short
    /// names as `-f` takes them: `"mp4"`, `"mov"`, `"matroska"`, `"webm"`, `"mpegts"`).
    /// A demuxer serving several names (`mov,mp4,m4a,3gp,3g2,mj2`; `matroska,webm`) is
    /// accepted when any of its names is listed. Anything else fails at open with
    /// [`Error::FormatRefused`], before FFmpeg parses more than the probe. FFmpeg's own
    /// `format_whitelist` option is set too, so the formats it opens for itself obey it.
    ///
    /// ```no_run
    /// # let upload: &[u8] = &[];
    /// let demuxer = ffio::DemuxerOptions::new()
    ///     .format_whitelist(&["mp4", "mov", "matroska", "webm"])
    ///     .open(ffio::CustomIo::seekable_reader(std::io::Cursor::new(upload))?)?;
    /// # Ok::<(), ffio::Error>(())
    /// ```
    pub fn format_whitelist(mut self, formats: &[&str]) -> Self {
        self.format_whitelist = Some(formats.join(","));
        self
    }

    /// A deadline `timeout` after the open starts, for the open and everything after it:
    /// past it, the call in progress fails with [`Error::DeadlineExceeded`] at its next
    /// read or FFmpeg interrupt check, and so does every later call. Change it later
    /// through [`Demuxer::cancel_handle`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Lets the demuxer open further files through `opener`: the segments and variant
    /// playlists of an HLS playlist (the `hls` format is refused without an opener), the
    /// external data references of a MOV/MP4 file (with the option `enable_drefs=1`).
    /// Other formats that name further files (concat lists, DASH, SDP, IMF) bypass
    /// FFmpeg's `io_open` and stay refused.
    ///
    /// **The names come from the input.** A hostile playlist names whatever it likes:
    /// `../../etc/passwd`, `/proc/self/environ`, `file:/…`, `http://169.254.169.254/`.
    /// Your opener sees each name exactly as FFmpeg asks for it and must decide what it may
    /// reach: see the README's "Untrusted input". The HLS demuxer's persistent HTTP
    /// connections (`http_persistent`) are turned off: they cannot work through your
    /// streams.
    ///
    /// Options reused for several opens share one opener. Errors and panics of the opener
    /// and of the streams it returns come back from the ffio call that ran them.
    ///
    /// ```no_run
    /// use std::io;
    /// use std::path::Path;
    /// // Serve plain file names from one directory, nothing else.
    /// let dir = Path::new("/srv/media/show1");
    /// let opener = move |name: &str, mode: ffio::OpenMode| -> io::Result<ffio::Opened> {
    ///     let plain = !name.is_empty()
    ///         && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    ///         && !name.starts_with('.');
    ///     if mode != ffio::OpenMode::Read || !plain {
    ///         return Err(io::Error::new(io::ErrorKind::PermissionDenied, name.to_owned()));
    ///     }
    ///     Ok(ffio::Opened::seekable_reader(std::fs::File::open(dir.join(name))?))
    /// };
    /// let playlist = std::fs::File::open(dir.join("index.m3u8"))?;
    /// let demuxer = ffio::DemuxerOptions::new()
    ///     .opener(opener)
    ///     .open(ffio::CustomIo::seekable_reader(playlist)?)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn opener(mut self, opener: impl Opener + 'static) -> Self {
        self.opener = Some(SharedOpener::new(opener));
        self
    }

    /// Opens `io` with these options; see [`Demuxer::open`].
    pub fn open<R>(&self, io: CustomIo<R>) -> Result<Demuxer<R>> {
        Demuxer::open_with(io, self)
    }
}

/// A demuxer reading from your own I/O: an `AVFormatContext` whose `pb` is a
/// [`CustomIo`].
///
/// ```
/// # fn main() -> Result<(), ffio::Error> {
/// # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
/// let mut demuxer = ffio::Demuxer::from_slice(&bytes)?;
/// let video = demuxer.best_stream(ffio::MediaType::Video).expect("a video stream");
/// let mut frames = 0;
/// for packet in demuxer.packets() {
///     if packet?.stream_index() == video {
///         frames += 1;
///     }
/// }
/// assert_eq!(frames, 50);
/// # Ok(())
/// # }
/// ```
///
/// Errors from your reader come back as [`Error::Io`] (after which the demuxer is
/// [failed](Error::Failed) until a successful [`seek`](Demuxer::seek)), panics in it are
/// resumed from the call that ran it. Nothing is ever opened by name: formats that would
/// open further files, URLs or sockets by themselves (concat lists, HLS and DASH
/// manifests, SDP, …) are refused at open with [`Error::FormatRefused`], and FFmpeg may
/// open nothing else either (MOV data references, protocols): ffio reads only through
/// your reader, and through your opener if you gave one
/// ([`DemuxerOptions::opener`]: HLS playlists, MOV data references). See the README's "Untrusted input". `Demuxer<R>` is `Send` when `R` is. It is not `Sync`: every operation
/// drives FFmpeg's state machine and needs `&mut self`, so there is nothing to share.
pub struct Demuxer<R> {
    /// Declared before `io`: fields drop in order, so the input is closed before the
    /// AVIOContext it reads through is freed.
    fmt: InputContext,
    /// The contexts opened through the opener; after `fmt`, which may still close them.
    opener: Option<CoreOwner>,
    io: CustomIo<R>,
}

// SAFETY: the Demuxer exclusively owns its AVFormatContext (and through it the streams and
// demuxer state) and its CustomIo; FFmpeg's demuxers keep no thread-affine state, so the
// whole can move to another thread when the reader can (CustomIo<R>: Send needs R: Send).
unsafe impl<R: Send> Send for Demuxer<R> {}

impl<'a> Demuxer<Cursor<&'a [u8]>> {
    /// Opens a container held in memory (seekable, so every format works).
    pub fn from_slice(data: &'a [u8]) -> Result<Self> {
        Self::open(CustomIo::seekable_reader(Cursor::new(data))?)
    }
}

impl<R: Read> Demuxer<R> {
    /// Opens a container from a reader that cannot seek (a pipe, a socket, an HTTP body).
    /// Streamable formats work; an MP4 whose `moov` box comes last fails with
    /// [`Error::NotSeekable`].
    pub fn from_reader(reader: R) -> Result<Self> {
        Self::open(CustomIo::reader(reader)?)
    }
}

impl<R: Read + Seek> Demuxer<R> {
    /// Opens a container from a seekable reader (a `File`, a `Cursor`): every format works,
    /// and memory use does not grow with the input.
    pub fn from_seekable_reader(reader: R) -> Result<Self> {
        Self::open(CustomIo::seekable_reader(reader)?)
    }
}

impl<R> Demuxer<R> {
    /// Opens the container behind `io` with default options: the format is probed and
    /// stream discovery runs (`avformat_open_input`, `avformat_find_stream_info`).
    ///
    /// Fails with [`Error::Io`] if your reader failed, [`Error::NotSeekable`] if the input
    /// needs seeking and `io` cannot, [`Error::Ffmpeg`] if FFmpeg cannot read the data.
    pub fn open(io: CustomIo<R>) -> Result<Self> {
        Self::open_with(io, &DemuxerOptions::default())
    }

    /// Opens the container behind `io` with `options`; see [`DemuxerOptions`].
    ///
    /// The format is probed (`av_probe_input_buffer2`) unless given, then checked: formats
    /// that read their data by name from other files or URLs, and formats outside the
    /// [format whitelist](DemuxerOptions::format_whitelist), fail with
    /// [`Error::FormatRefused`] before FFmpeg opens anything. The input is then opened
    /// (`avformat_open_input`) and, unless disabled, its streams discovered
    /// (`avformat_find_stream_info`).
    pub fn open_with(mut io: CustomIo<R>, options: &DemuxerOptions) -> Result<Self> {
        if io.is_writer() {
            return Err(Error::InvalidArgument(
                "a Demuxer needs a reading CustomIo, not a writer".into(),
            ));
        }
        if let Some(timeout) = options.timeout {
            io.cancel_handle().set_timeout(timeout);
        }
        let mut input_format = match &options.format {
            Some(name) => find_input_format(name)?,
            None => ptr::null(),
        };
        let mut pending = PendingContext::new(&io)?;
        let mut dict = pending.apply_options(&options.options)?;
        if let Some(list) = &options.format_whitelist {
            pending.set_option("format_whitelist", list)?;
        }
        let raw = pending.0;
        if input_format.is_null() {
            let pb = io.as_ptr();
            // SAFETY: `pb` is our reading context and `raw` the format context it will
            // belong to (a logging context here); a null URL is allowed. The probe reads
            // through our callbacks and keeps what it read in `pb`'s buffer
            // (ffio_rewind_with_probe_data), so the open below starts from byte 0, exactly
            // as avformat_open_input's own probe would.
            let probed = io.call("avformat_open_input", || unsafe {
                ffi::av_probe_input_buffer2(
                    pb,
                    &mut input_format,
                    ptr::null(),
                    raw.cast(),
                    0,
                    (*raw).format_probesize as std::os::raw::c_uint,
                )
            });
            // FFmpeg's probe fails without a word; say what it saw.
            probed.map_err(|e| {
                let seen = match io.bytes_read() {
                    0 => "the input is empty".to_owned(),
                    n => format!("no demuxer recognised the data (probed {n} bytes)"),
                };
                e.with_detail(Some(seen))
            })?;
            io.forget_initialised();
        }
        let with_opener = options.opener.is_some();
        // SAFETY: a probed or found input format is a valid static description; `raw` is
        // our context, whose format_whitelist is null or a string FFmpeg owns.
        unsafe { check_input_format(input_format, (*raw).format_whitelist, with_opener)? };
        // SAFETY: as above.
        let format_name = unsafe { CStr::from_ptr((*input_format).name) }.to_string_lossy();
        if with_opener
            && format_name
                .split(',')
                .any(|n| n == "hls" || n == "applehttp")
        {
            // Persistent HTTP connections assume FFmpeg's own http contexts (the hls
            // demuxer asserts on any other).
            match dict.get("http_persistent").as_deref() {
                None | Some("0") | Some("false") => dict.set("http_persistent", "0")?,
                Some(value) => {
                    return Err(Error::InvalidOption {
                        key: "http_persistent".into(),
                        value: value.to_owned(),
                        message: "persistent HTTP connections cannot go through an opener's \
                                  streams"
                            .into(),
                    })
                }
            }
        }
        // Declared before the context is released: dropped after FFmpeg is done with it.
        let opener = options.opener.clone().map(|opener| {
            // SAFETY: `raw` is our idle, pending context; the owner is dropped after the
            // context (the Demuxer's field order, or the end of this function if the open
            // fails, after avformat_open_input freed the context) and after `io`'s last
            // call from here.
            unsafe {
                CoreOwner::attach(
                    raw,
                    CoreConfig {
                        opener: Some(opener),
                        ..CoreConfig::default()
                    },
                    &mut io,
                    true,
                )
            }
        });
        // With an opener, the input gets a name: the hls demuxer needs one to resolve
        // the names in its playlist against (it keeps plain relative names as they are).
        let url = with_opener.then_some(INPUT_NAME);
        let mut raw = pending.release();
        let ret = {
            // SAFETY: `raw` is a fresh format context whose `pb` is ours (so FFmpeg leaves
            // the AVIOContext to us: AVFMT_FLAG_CUSTOM_IO is set, and set again after the
            // caller's options, which could have cleared it through `fflags`). With a null
            // URL it reads only through `pb`. On failure it frees `raw` and nulls it.
            // `input_format` is a checked static description; `dict` holds only the
            // options the format context did not take (the demuxer's private ones).
            io.captured(|| unsafe {
                ffi::avformat_open_input(
                    &mut raw,
                    url.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
                    input_format,
                    dict.as_mut_ptr(),
                )
            })
        };
        let Some(fmt) = NonNull::new(raw) else {
            // FFmpeg freed the context; `io` (and with it the reader) is dropped here, or on
            // the way out if a panic is resumed.
            io.after_call("avformat_open_input", ret)?;
            return Err(Error::ffmpeg("avformat_open_input", ret.min(-1)));
        };
        // From here on `demuxer`'s Drop closes the input, whatever happens.
        let mut demuxer = Demuxer {
            fmt: InputContext(fmt),
            opener,
            io,
        };
        demuxer.io.after_call("avformat_open_input", ret)?;
        dict.ensure_consumed("avformat_open_input")?;
        if options.find_stream_info {
            let fmt = demuxer.fmt.0.as_ptr();
            // SAFETY: `fmt` is an open input context; null options are allowed.
            demuxer.io.call("avformat_find_stream_info", || unsafe {
                ffi::avformat_find_stream_info(fmt, ptr::null_mut())
            })?;
        }
        Ok(demuxer)
    }

    fn raw(&self) -> &ffi::AVFormatContext {
        // SAFETY: `fmt` is a valid open input for our lifetime; FFmpeg mutates it only during
        // calls that take `&mut self`.
        unsafe { self.fmt.0.as_ref() }
    }

    /// The demuxer's short name, e.g. `"mov,mp4,m4a,3gp,3g2,mj2"` or `"mpegts"`.
    pub fn format_name(&self) -> &str {
        // SAFETY: an open input has a non-null `iformat` with a static, NUL-terminated name.
        let name = unsafe { CStr::from_ptr((*self.raw().iformat).name) };
        name.to_str().unwrap_or("unknown")
    }

    /// The demuxer's descriptive name, e.g. `"QuickTime / MOV"`.
    pub fn format_long_name(&self) -> &str {
        // SAFETY: as in `format_name`; `long_name` may be null, which we check.
        unsafe {
            let long = (*self.raw().iformat).long_name;
            if long.is_null() {
                return self.format_name();
            }
            CStr::from_ptr(long).to_str().unwrap_or("unknown")
        }
    }

    /// The container's duration, if known.
    pub fn duration(&self) -> Option<Duration> {
        let d = self.raw().duration;
        (d != ffi::AV_NOPTS_VALUE && d >= 0).then(|| Duration::from_micros(d as u64))
    }

    /// The container's overall bit rate in bits per second, if known.
    pub fn bit_rate(&self) -> Option<u64> {
        u64::try_from(self.raw().bit_rate).ok().filter(|&b| b > 0)
    }

    /// The number of streams. Some formats (MPEG-TS) can discover new streams while
    /// packets are read.
    pub fn stream_count(&self) -> usize {
        self.raw().nb_streams as usize
    }

    /// The stream with index `index`.
    pub fn stream(&self, index: usize) -> Option<Stream<'_>> {
        // SAFETY: an open input whose streams change only during `&mut self` calls.
        unsafe { stream_at(self.raw(), index) }
    }

    /// All streams, in index order.
    pub fn streams(&self) -> impl ExactSizeIterator<Item = Stream<'_>> + '_ {
        let streams = self.raw().streams;
        // SAFETY: `streams` holds `nb_streams` valid stream pointers, `i` stays below that,
        // and they stay valid while `self` is borrowed.
        (0..self.stream_count()).map(move |i| unsafe { Stream::from_raw(*streams.add(i)) })
    }

    /// The index of the "best" stream of a media type (`av_find_best_stream`): for video,
    /// the first one FFmpeg ranks highest (not an attached picture).
    pub fn best_stream(&self, media_type: MediaType) -> Option<usize> {
        let kind = match media_type {
            MediaType::Video => ffi::AVMediaType::AVMEDIA_TYPE_VIDEO,
            MediaType::Audio => ffi::AVMediaType::AVMEDIA_TYPE_AUDIO,
            MediaType::Subtitle => ffi::AVMediaType::AVMEDIA_TYPE_SUBTITLE,
            MediaType::Data => ffi::AVMediaType::AVMEDIA_TYPE_DATA,
            MediaType::Attachment => ffi::AVMediaType::AVMEDIA_TYPE_ATTACHMENT,
            MediaType::Unknown => return None,
        };
        // SAFETY: `fmt` is an open input; a null decoder_ret asks for no decoder lookup.
        let ret = unsafe {
            ffi::av_find_best_stream(self.fmt.0.as_ptr(), kind, -1, -1, ptr::null_mut(), 0)
        };
        usize::try_from(ret).ok()
    }

    /// Makes the demuxer skip every stream not in `keep` (`AVStream.discard =
    /// AVDISCARD_ALL`, what `ffmpeg -map` and `ffprobe -select_streams` do), so their packets
    /// are not read into memory or returned; the streams in `keep` are read again if they
    /// were skipped before. Packets FFmpeg queued before the call (during stream discovery)
    /// may still come back: filter by [`Packet::stream_index`] as well.
    ///
    /// Fails with [`Error::InvalidArgument`] if an index in `keep` does not exist.
    pub fn keep_streams(&mut self, keep: &[usize]) -> Result<()> {
        let count = self.stream_count();
        if let Some(bad) = keep.iter().find(|&&i| i >= count) {
            return Err(Error::InvalidArgument(format!(
                "no stream with index {bad}"
            )));
        }
        let streams = self.raw().streams;
        for i in 0..count {
            // SAFETY: `streams` holds `nb_streams` valid stream pointers and `i` is below
            // that; `discard` is a plain field the demuxer reads on its next packet, and we
            // hold `&mut self`, so no FFmpeg call is running.
            unsafe {
                (**streams.add(i)).discard = if keep.contains(&i) {
                    ffi::AVDiscard::AVDISCARD_DEFAULT
                } else {
                    ffi::AVDiscard::AVDISCARD_ALL
                };
            }
        }
        Ok(())
    }

    /// Reads the next packet into `packet`, replacing what it held (`av_read_frame`).
    /// Returns `Ok(false)` at the end of the input. Reusing one `Packet` this way avoids an
    /// allocation per packet.
    ///
    /// A failing reader gives [`Error::Io`] (never a clean end); data FFmpeg cannot parse
    /// gives [`Error::Ffmpeg`].
    #[inline]
    pub fn read_packet_into(&mut self, packet: &mut Packet) -> Result<bool> {
        packet.clear_for_reuse();
        let fmt = self.fmt.0.as_ptr();
        let pkt = packet.as_ptr();
        let read = self.io.call("av_read_frame", || {
            // SAFETY: `fmt` is an open input, `pkt` a valid blank packet av_read_frame fills.
            unsafe { ffi::av_read_frame(fmt, pkt) }
        });
        match read {
            Ok(_) => Ok(true),
            Err(e) if e.is_eof() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads the next packet; `Ok(None)` at the end of the input. See
    /// [`read_packet_into`](Self::read_packet_into).
    pub fn read_packet(&mut self) -> Result<Option<Packet>> {
        let mut packet = Packet::try_new()?;
        Ok(self.read_packet_into(&mut packet)?.then_some(packet))
    }

    /// An iterator over the remaining packets. It ends after the last packet, or after
    /// yielding the first error.
    pub fn packets(&mut self) -> Packets<'_, R> {
        Packets {
            demuxer: self,
            done: false,
        }
    }

    /// Seeks so that the next packets start at the keyframe at or before `position`, counted
    /// from the start of the file like the `ffmpeg` CLI's `-ss`: the container's start time
    /// (1.4 s in a typical MPEG-TS) is added (`avformat_seek_file` on all streams).
    ///
    /// Needs a seekable reader for most formats ([`Error::NotSeekable`] otherwise). A
    /// successful seek also brings back a demuxer that [failed](Error::Failed) because its
    /// reader returned an error: FFmpeg's latched error is cleared and reading restarts at
    /// the new position.
    pub fn seek(&mut self, position: Duration) -> Result<()> {
        let start = self.raw().start_time;
        let start = if start == ffi::AV_NOPTS_VALUE {
            0
        } else {
            start
        };
        let ts = i64::try_from(position.as_micros())
            .ok()
            .and_then(|us| us.checked_add(start))
            .ok_or_else(|| Error::InvalidArgument(format!("position {position:?} too large")))?;
        self.seek_raw(-1, ts)
    }

    /// The container's start time: the timestamp of its first frame, if known.
    pub fn start_time(&self) -> Option<Duration> {
        let start = self.raw().start_time;
        (start != ffi::AV_NOPTS_VALUE && start >= 0).then(|| Duration::from_micros(start as u64))
    }

    /// Seeks stream `stream` to the keyframe at or before `timestamp`, an absolute timestamp
    /// in that stream's time base, as packets carry (`avformat_seek_file`).
    pub fn seek_stream(&mut self, stream: usize, timestamp: i64) -> Result<()> {
        let index = i32::try_from(stream)
            .ok()
            .filter(|_| stream < self.stream_count())
            .ok_or_else(|| Error::InvalidArgument(format!("no stream with index {stream}")))?;
        self.seek_raw(index, timestamp)
    }

    fn seek_raw(&mut self, stream: i32, ts: i64) -> Result<()> {
        let fmt = self.fmt.0.as_ptr();
        // A seek restarts reading, so it may bring a demuxer whose reader failed back.
        // SAFETY: `fmt` is an open input; the stream index was checked (or is -1).
        self.io.call_recovering("avformat_seek_file", || unsafe {
            ffi::avformat_seek_file(fmt, stream, i64::MIN, ts, ts, 0)
        })?;
        Ok(())
    }

    /// A handle that cancels this demuxer, or sets its deadline, from any thread.
    pub fn cancel_handle(&self) -> crate::CancelHandle {
        self.io.cancel_handle()
    }

    /// The [`CustomIo`] the demuxer reads through.
    pub fn io(&self) -> &CustomIo<R> {
        &self.io
    }

    /// Your reader, borrowed. See [`CustomIo::get_mut`] for why mutating it is unwise.
    pub fn get_ref(&self) -> &R {
        self.io.get_ref()
    }

    /// Closes the input and gives your reader back.
    pub fn into_inner(self) -> R {
        let Demuxer { fmt, opener, io } = self;
        drop(fmt); // before the registry and the AVIOContext it reads through
        drop(opener);
        io.into_inner()
    }
}

/// The name (`AVFormatContext.url`) of an input opened with an opener. The name has no
/// scheme and no directory, so names relative to it reach the opener unchanged.
const INPUT_NAME: &std::ffi::CStr = c"ffio-input";

/// Owns an open input `AVFormatContext` and closes it on drop.
struct InputContext(NonNull<ffi::AVFormatContext>);

impl Drop for InputContext {
    fn drop(&mut self) {
        let mut raw = self.0.as_ptr();
        // SAFETY: we own the open input and close it once. With AVFMT_FLAG_CUSTOM_IO set,
        // avformat_close_input does not touch `pb`, which the Demuxer's CustomIo (dropped
        // right after, fields dropping in order) frees. No read callback runs while closing.
        unsafe { ffi::avformat_close_input(&mut raw) };
    }
}

fn find_input_format(name: &str) -> Result<*const ffi::AVInputFormat> {
    let c_name = c_string(name, "format name")?;
    // SAFETY: `c_name` is a valid C string; the result is null or a static description.
    let found = unsafe { ffi::av_find_input_format(c_name.as_ptr()) };
    if found.is_null() {
        Err(Error::FormatNotFound {
            kind: "input format",
            name: name.to_owned(),
        })
    } else {
        Ok(found)
    }
}

impl<R> fmt::Debug for Demuxer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demuxer")
            .field("format", &self.format_name())
            .field("streams", &self.stream_count())
            .field("io", &self.io)
            .finish()
    }
}

/// Iterator over a [`Demuxer`]'s packets; see [`Demuxer::packets`].
#[must_use = "iterators are lazy: nothing is read until the iterator is used"]
pub struct Packets<'a, R> {
    demuxer: &'a mut Demuxer<R>,
    done: bool,
}

impl<R> fmt::Debug for Packets<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packets")
            .field("demuxer", &self.demuxer)
            .field("done", &self.done)
            .finish()
    }
}

impl<R> Iterator for Packets<'_, R> {
    type Item = Result<Packet>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.demuxer.read_packet() {
            Ok(Some(packet)) => Some(Ok(packet)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R> std::iter::FusedIterator for Packets<'_, R> {}

/// A format context allocated for an input that is not open yet: freed (never closed) on
/// drop, until [`release`](Self::release) hands it to `avformat_open_input`.
struct PendingContext(*mut ffi::AVFormatContext);

impl PendingContext {
    /// A fresh context reading through `io`, confined: FFmpeg may open nothing by name.
    fn new<R>(io: &CustomIo<R>) -> Result<Self> {
        // SAFETY: no preconditions; null is checked.
        let raw = unsafe { ffi::avformat_alloc_context() };
        if raw.is_null() {
            return Err(Error::ffmpeg(
                "avformat_alloc_context",
                ffi::AVERROR(libc::ENOMEM),
            ));
        }
        let pending = PendingContext(raw);
        // SAFETY: `raw` is a fresh context we own. `pb` is our reading context, which
        // outlives it (the Demuxer drops the format context first); the flag tells FFmpeg
        // the AVIOContext is not its to close.
        unsafe {
            (*raw).pb = io.as_ptr();
            (*raw).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
            (*raw).interrupt_callback = io.interrupt_callback();
            crate::confine::confine(raw)?;
        }
        Ok(pending)
    }

    /// Applies the caller's format-context options (`probesize`, `fflags`, …) one by one,
    /// naming the one FFmpeg refuses, and returns the rest (the demuxer's private options,
    /// which only exist once the format is known) for `avformat_open_input`.
    fn apply_options(&mut self, options: &[(String, String)]) -> Result<Dictionary> {
        let mut private = Vec::new();
        for (key, value) in options {
            crate::confine::check_option_name(key, value)?;
            let name = c_string(key, "option name")?;
            // SAFETY: `self.0` is a valid context with its AVClass; `name` a valid C string.
            let found =
                unsafe { ffi::av_opt_find(self.0.cast(), name.as_ptr(), ptr::null(), 0, 0) };
            if found.is_null() {
                private.push((key.clone(), value.clone()));
            } else {
                self.set_option(key, value)?;
            }
        }
        // SAFETY: `self.0` is valid; a plain `fflags` value may have cleared the flag,
        // which would make FFmpeg close (free) our AVIOContext.
        unsafe { (*self.0).flags |= ffi::AVFMT_FLAG_CUSTOM_IO };
        Dictionary::from_pairs(&private)
    }

    /// Sets one format-context option (`av_opt_set`).
    fn set_option(&mut self, key: &str, value: &str) -> Result<()> {
        let c_key = c_string(key, "option name")?;
        let c_value = c_string(value, "option value")?;
        let (ret, detail) = crate::capture::with_capture(|| {
            // SAFETY: `self.0` is a valid context; key and value are valid C strings,
            // copied. Setting an option runs no I/O callback.
            unsafe { ffi::av_opt_set(self.0.cast(), c_key.as_ptr(), c_value.as_ptr(), 0) }
        });
        if ret < 0 {
            let message = crate::error::av_error_string(ret);
            return Err(Error::InvalidOption {
                key: key.to_owned(),
                value: value.to_owned(),
                message: match detail {
                    Some(line) => format!("{message} ({line})"),
                    None => message,
                },
            });
        }
        Ok(())
    }

    /// Gives up ownership, for `avformat_open_input` (which frees it on failure).
    fn release(self) -> *mut ffi::AVFormatContext {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }
}

impl Drop for PendingContext {
    fn drop(&mut self) {
        // SAFETY: we own the context, which was never opened; avformat_free_context frees
        // it and its options without touching `pb` (ours).
        unsafe { ffi::avformat_free_context(self.0) };
    }
}

/// Refuses input formats ffio cannot demux safely; see [`crate::confine`].
///
/// # Safety
/// `format` must be a valid input format description; `whitelist` null or a C string.
unsafe fn check_input_format(
    format: *const ffi::AVInputFormat,
    whitelist: *const std::os::raw::c_char,
    opener: bool,
) -> Result<()> {
    // SAFETY: per the contract; FFmpeg's names are static C strings.
    let (name, flags) = unsafe { (CStr::from_ptr((*format).name), (*format).flags) };
    let name = name.to_string_lossy();
    let whitelist = (!whitelist.is_null()).then(|| {
        // SAFETY: non-null, a C string per the contract.
        let list = unsafe { CStr::from_ptr(whitelist) };
        list.to_string_lossy().into_owned()
    });
    crate::confine::check_input_format(&name, flags, whitelist.as_deref(), opener)
}
