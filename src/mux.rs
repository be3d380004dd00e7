//! [`Muxer`]: writing a container through a [`CustomIo`].

use std::ffi::CStr;
use std::fmt;
use std::io::{Read, Seek, Write};
use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use crate::dict::{c_string, Dictionary};
use crate::error::{check, Error, Result};
use crate::io::CustomIo;
use crate::opener::{CoreConfig, CoreOwner, Opener, SharedOpener};
use crate::packet::Packet;
use crate::stream::{stream_at, MediaType, Rational, Stream};

/// Codec parameters for a stream you describe yourself (rather than copy from a
/// [`Demuxer`](crate::Demuxer)'s stream with [`Muxer::add_stream_from`]). Owns an
/// `AVCodecParameters`.
///
/// ```
/// let params = ffio::CodecParameters::video("h264", 1280, 720)?;
/// # Ok::<(), ffio::Error>(())
/// ```
pub struct CodecParameters {
    raw: NonNull<ffi::AVCodecParameters>,
}

// SAFETY: CodecParameters exclusively owns a plain-data AVCodecParameters (and its
// extradata); nothing in it is tied to a thread.
unsafe impl Send for CodecParameters {}

impl CodecParameters {
    fn new(codec: &str, media_type: MediaType) -> Result<Self> {
        crate::capture::install();
        let name = c_string(codec, "codec name")?;
        // SAFETY: `name` is a valid C string; the result is null or a static descriptor.
        let descriptor = unsafe { ffi::avcodec_descriptor_get_by_name(name.as_ptr()) };
        if descriptor.is_null() {
            return Err(Error::InvalidArgument(format!(
                "FFmpeg knows no codec named {codec:?}"
            )));
        }
        // SAFETY: a non-null descriptor is a valid static struct.
        let (id, kind) = unsafe { ((*descriptor).id, (*descriptor).type_) };
        if MediaType::from_raw(kind) != media_type {
            return Err(Error::InvalidArgument(format!(
                "{codec:?} is a {} codec, not {media_type}",
                MediaType::from_raw(kind)
            )));
        }
        // SAFETY: no preconditions; null (out of memory) is checked.
        let raw = NonNull::new(unsafe { ffi::avcodec_parameters_alloc() })
            .ok_or_else(|| Error::ffmpeg("avcodec_parameters_alloc", ffi::AVERROR(libc::ENOMEM)))?;
        let params = CodecParameters { raw };
        // SAFETY: `raw` is a freshly allocated, exclusively owned struct.
        unsafe {
            let p = &mut *params.raw.as_ptr();
            p.codec_type = kind;
            p.codec_id = id;
        }
        Ok(params)
    }

    /// Parameters for a video stream of codec `codec` (FFmpeg's name: `"h264"`, `"hevc"`,
    /// `"av1"`, …) and the given size.
    pub fn video(codec: &str, width: u32, height: u32) -> Result<Self> {
        let params = Self::new(codec, MediaType::Video)?;
        let (w, h) = (int(width, "width")?, int(height, "height")?);
        // SAFETY: we own the struct exclusively.
        unsafe {
            (*params.raw.as_ptr()).width = w;
            (*params.raw.as_ptr()).height = h;
        }
        Ok(params)
    }

    /// Parameters for an audio stream of codec `codec` (`"aac"`, `"opus"`, …) with the given
    /// sample rate and channel count (default channel layout for that count).
    pub fn audio(codec: &str, sample_rate: u32, channels: u32) -> Result<Self> {
        let params = Self::new(codec, MediaType::Audio)?;
        let rate = int(sample_rate, "sample rate")?;
        let channels = int(channels, "channel count")?;
        // SAFETY: we own the struct exclusively; av_channel_layout_default fills the
        // (zeroed) layout in place.
        unsafe {
            let p = &mut *params.raw.as_ptr();
            p.sample_rate = rate;
            ffi::av_channel_layout_default(&mut p.ch_layout, channels);
        }
        Ok(params)
    }

    /// Sets the codec's global header (`extradata`: avcC for H.264 in MP4,
    /// AudioSpecificConfig for AAC, …).
    pub fn extradata(self, data: &[u8]) -> Result<Self> {
        // SAFETY: we own the struct exclusively; no FFmpeg call uses it.
        unsafe { set_extradata(self.raw.as_ptr(), data)? };
        Ok(self)
    }

    /// Sets the bit rate in bits per second.
    pub fn bit_rate(self, bits_per_second: u64) -> Self {
        // SAFETY: we own the struct exclusively.
        unsafe {
            (*self.raw.as_ptr()).bit_rate = i64::try_from(bits_per_second).unwrap_or(i64::MAX)
        };
        self
    }
}

/// Replaces the extradata of `par` with a copy of `data`, followed by FFmpeg's zeroed
/// padding; the old extradata (if any) is freed.
///
/// # Safety
/// `par` must be valid codec parameters, owning their extradata (allocated with
/// `av_malloc`, or null), that no FFmpeg call is using.
pub(crate) unsafe fn set_extradata(par: *mut ffi::AVCodecParameters, data: &[u8]) -> Result<()> {
    let len = int(
        u32::try_from(data.len()).unwrap_or(u32::MAX),
        "extradata size",
    )?;
    let padded = data.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: av_mallocz with any size; null is checked. The block is `padded` bytes,
    // enough for `data` plus FFmpeg's zeroed padding. `par` is valid and owns its old
    // extradata (the contract), freed once here.
    unsafe {
        let buf = ffi::av_mallocz(padded) as *mut u8;
        if buf.is_null() {
            return Err(Error::ffmpeg("av_mallocz", ffi::AVERROR(libc::ENOMEM)));
        }
        ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        ffi::av_freep(ptr::addr_of_mut!((*par).extradata).cast());
        (*par).extradata = buf;
        (*par).extradata_size = len;
    }
    Ok(())
}

fn int(value: u32, what: &str) -> Result<i32> {
    i32::try_from(value).map_err(|_| Error::InvalidArgument(format!("{what} {value} is too large")))
}

impl Drop for CodecParameters {
    fn drop(&mut self) {
        let mut raw = self.raw.as_ptr();
        // SAFETY: we own the struct; avcodec_parameters_free frees it and its extradata once.
        unsafe { ffi::avcodec_parameters_free(&mut raw) };
    }
}

impl fmt::Debug for CodecParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: we own the struct; reading plain fields.
        let (kind, id) = unsafe {
            (
                (*self.raw.as_ptr()).codec_type,
                (*self.raw.as_ptr()).codec_id,
            )
        };
        f.debug_struct("CodecParameters")
            .field("media_type", &MediaType::from_raw(kind))
            .field("codec_id", &id)
            .finish_non_exhaustive()
    }
}

/// A muxer writing to your own I/O: an output `AVFormatContext` whose `pb` is a
/// [`CustomIo`].
///
/// The steps: create it for a format ([`Muxer::new`]), add streams
/// ([`add_stream_from`](Muxer::add_stream_from), [`add_stream`](Muxer::add_stream)), write the
/// header ([`write_header`](Muxer::write_header)), write packets
/// ([`write_packet`](Muxer::write_packet)), and [`finish`](Muxer::finish), which writes the
/// trailer, flushes, reports every deferred error and gives your writer back.
///
/// ```
/// # fn main() -> Result<(), ffio::Error> {
/// # let input = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
/// // Remux an in-memory MP4 into MPEG-TS in memory.
/// let mut demuxer = ffio::Demuxer::from_slice(&input)?;
/// let mut muxer = ffio::Muxer::new(ffio::CustomIo::writer(Vec::new())?, "mpegts")?;
/// let mut time_bases = Vec::new();
/// for stream in demuxer.streams() {
///     muxer.add_stream_from(&stream)?;
///     time_bases.push(stream.time_base());
/// }
/// muxer.write_header(&[])?;
/// while let Some(mut packet) = demuxer.read_packet()? {
///     let tb = time_bases[packet.stream_index()];
///     muxer.write_packet(&mut packet, tb)?;
/// }
/// let ts: Vec<u8> = muxer.finish()?;
/// assert_eq!(ts.len() % 188, 0); // whole MPEG-TS packets
/// # Ok(())
/// # }
/// ```
///
/// Dropping a `Muxer` without finishing frees everything and writes nothing more; it never
/// panics. `Muxer<W>` is `Send` when `W` is; it is not `Sync`, as every operation needs
/// `&mut self`.
pub struct Muxer<W> {
    /// Declared before `opener` and `io`: fields drop in order, so the format context is
    /// freed before the registry it may still close contexts through and the AVIOContext
    /// it points to.
    fmt: OutputContext,
    /// The registry of contexts opened through `io_open` (an opener, faststart's second
    /// pass), if the muxer may open any.
    opener: Option<CoreOwner>,
    io: CustomIo<W>,
    /// The output can be read back: options that re-open it (faststart) are allowed.
    readable: bool,
    /// For muxers writing files of their own: the scheme their names are given under.
    file_scheme: Option<&'static str>,
    header_written: bool,
    /// The output streams' time bases, fixed once the header is written.
    time_bases: Vec<Rational>,
}

// SAFETY: the Muxer exclusively owns its AVFormatContext (streams, muxer state) and its
// CustomIo; FFmpeg muxers keep no thread-affine state, so the whole can move to another
// thread when the writer can (CustomIo<W>: Send needs W: Send).
unsafe impl<W: Send> Send for Muxer<W> {}

impl<W: Write> Muxer<W> {
    /// A muxer writing format `format` (FFmpeg's short name: `"mp4"`, `"mpegts"`,
    /// `"matroska"`, `"h264"`, …) into a plain writer. Formats that must seek back (plain
    /// MP4) fail at the header or trailer with [`Error::NotSeekable`]; use
    /// [`Muxer::to_seekable_writer`] for them.
    ///
    /// Output is batched into 256 KiB writes (also for fragmented MP4 and live
    /// Matroska): best throughput. For live output, where each fragment should leave as
    /// soon as it is complete, use [`Muxer::to_chunk_writer`] (whole, labelled chunks) or
    /// [`CustomIoBuilder::flush_packets`](crate::CustomIoBuilder::flush_packets).
    pub fn to_writer(writer: W, format: &str) -> Result<Self> {
        Self::new(CustomIo::writer(writer)?, format)
    }
}

impl<W: crate::ChunkWrite> Muxer<W> {
    /// A muxer writing format `format` into a chunk writer: every init segment,
    /// fragment, cluster (and, for MPEG-TS, every call's whole TS packets) reaches it in
    /// one piece, labelled, as soon as the call that finished it returns; see
    /// [`ChunkWrite`](crate::ChunkWrite).
    pub fn to_chunk_writer(writer: W, format: &str) -> Result<Self> {
        Self::new(CustomIo::builder().chunk_writer(writer)?, format)
    }
}

impl<W> Muxer<W> {
    /// A muxer for format `format` (FFmpeg's short name) writing through `io`, a writing
    /// [`CustomIo`] (`avformat_alloc_output_context2`).
    pub fn new(io: CustomIo<W>, format: &str) -> Result<Self> {
        let name = c_string(format, "format name")?;
        // SAFETY: `name` is a valid C string; the result is null or a static description.
        let oformat = unsafe { ffi::av_guess_format(name.as_ptr(), ptr::null(), ptr::null()) };
        if oformat.is_null() {
            return Err(Error::FormatNotFound {
                kind: "output format",
                name: format.to_owned(),
            });
        }
        Self::with_format(io, oformat, None)
    }

    /// A muxer for the format FFmpeg associates with `file_name`'s extension
    /// (`av_guess_format`): `"out.mkv"` gives Matroska. Nothing is opened by that name.
    pub fn for_file_name(io: CustomIo<W>, file_name: &str) -> Result<Self> {
        let oformat = guess_format_for_file_name(file_name)?;
        Self::with_format(io, oformat, None)
    }

    /// Lets FFmpeg open further files through `opener` (`io_open`), for formats that ask
    /// for more than their main output; see [`Opener`]. Must be called before
    /// [`write_header`](Self::write_header). Formats that write only files of their own
    /// (`hls`, `dash`, `segment`, `image2`) are made with [`Muxer::to_opener`] instead.
    ///
    /// Without an opener (the default), every such request is refused.
    pub fn with_opener(mut self, opener: impl Opener + 'static) -> Result<Self> {
        if self.header_written {
            return Err(Error::InvalidArgument(
                "the opener must be set before write_header".into(),
            ));
        }
        self.attach(CoreConfig {
            opener: Some(SharedOpener::new(opener)),
            ..CoreConfig::default()
        });
        Ok(self)
    }

    /// Installs the registry, or updates the existing one with `config`'s opener.
    fn attach(&mut self, config: CoreConfig) {
        if let Some(core) = &mut self.opener {
            if let Some(opener) = config.opener {
                core.set_opener(opener);
            }
            return;
        }
        let attach_pb = !self.raw().pb.is_null();
        // SAFETY: `fmt` is our valid, idle output context; the owner is stored in `self`,
        // whose field order drops it after `fmt` and before `io`, and it is never replaced.
        let core =
            unsafe { CoreOwner::attach(self.fmt.0.as_ptr(), config, &mut self.io, attach_pb) };
        self.opener = Some(core);
    }

    /// How many files opened through the opener FFmpeg has not closed yet.
    pub fn open_files(&self) -> usize {
        self.opener
            .as_ref()
            .map_or(0, |core| core.get().open_count())
    }

    fn with_format(
        io: CustomIo<W>,
        oformat: *const ffi::AVOutputFormat,
        files: Option<(&str, SharedOpener)>,
    ) -> Result<Self> {
        if !io.is_writer() {
            return Err(Error::InvalidArgument(
                "a Muxer needs a writing CustomIo, not a reader".into(),
            ));
        }
        // SAFETY: `oformat` is a valid static muxer description.
        let (flags, name) = unsafe { ((*oformat).flags, CStr::from_ptr((*oformat).name)) };
        let name = name.to_string_lossy();
        let nofile = flags & ffi::AVFMT_NOFILE != 0;
        if nofile && files.is_none() {
            return Err(Error::FormatRefused {
                format: name.into_owned(),
                reason: "this muxer writes files of its own, by name: make it with \
                         Muxer::to_opener, whose Opener turns each name into a writer"
                    .into(),
            });
        }
        if !nofile && files.is_some() {
            return Err(Error::FormatRefused {
                format: name.into_owned(),
                reason: "this muxer writes one output stream: make it with Muxer::to_writer, \
                         to_seekable_writer or to_seekable_stream (add an opener with \
                         Muxer::with_opener if it asks for further files)"
                    .into(),
            });
        }
        if REOPENING_FORMATS.contains(&&*name) {
            return Err(Error::FormatRefused {
                format: name.into_owned(),
                reason: "this muxer re-opens its output by name to finish it, which ffio does \
                         not allow"
                    .into(),
            });
        }
        if nofile && !name.split(',').any(|n| FILE_MUXERS.contains(&n)) {
            return Err(Error::FormatRefused {
                format: name.into_owned(),
                reason: "this muxer creates directories, renames or deletes files by itself; \
                         ffio supports hls, dash, segment, stream_segment and image2"
                    .into(),
            });
        }
        let scheme = if name == "dash" {
            DASH_SCHEME
        } else {
            FILE_SCHEME
        };
        let url = match &files {
            Some((name, _)) => Some(c_string(&format!("{scheme}{name}"), "file name")?),
            None => None,
        };
        let mut raw = ptr::null_mut();
        // SAFETY: `raw` is an out-pointer; `oformat` is valid; the file name (if any) is
        // only copied into the context's `url` (the format is given), nothing is opened.
        let ret = unsafe {
            ffi::avformat_alloc_output_context2(
                &mut raw,
                oformat,
                ptr::null(),
                url.as_ref().map_or(ptr::null(), |u| u.as_ptr()),
            )
        };
        check("avformat_alloc_output_context2", ret)?;
        let fmt = NonNull::new(raw).ok_or_else(|| {
            Error::ffmpeg("avformat_alloc_output_context2", ffi::AVERROR(libc::ENOMEM))
        })?;
        let fmt = OutputContext(fmt);
        // SAFETY: `fmt` is a fresh output context we own. Its `pb` is our context, which
        // avformat_free_context never frees (muxers writing files of their own get none);
        // confinement makes FFmpeg open nothing more, until an opener is attached.
        unsafe {
            if !nofile {
                (*fmt.0.as_ptr()).pb = io.as_ptr();
            }
            (*fmt.0.as_ptr()).interrupt_callback = io.interrupt_callback();
            crate::confine::confine(fmt.0.as_ptr())?;
        }
        let mut muxer = Muxer {
            fmt,
            opener: None,
            io,
            readable: false,
            file_scheme: None,
            header_written: false,
            time_bases: Vec::new(),
        };
        if let Some((_, opener)) = files {
            muxer.file_scheme = Some(scheme);
            muxer.attach(CoreConfig {
                opener: Some(opener),
                prefix: Some(scheme),
                ..CoreConfig::default()
            });
        }
        Ok(muxer)
    }

    fn raw(&self) -> &ffi::AVFormatContext {
        // SAFETY: `fmt` is valid for our lifetime; FFmpeg mutates it only during calls that
        // take `&mut self`.
        unsafe { self.fmt.0.as_ref() }
    }

    /// The output's `AVFormatContext`, for FFmpeg calls ffio does not wrap that only read
    /// it (`av_dump_format` with `is_output` 1, the streams' final time bases after the
    /// header). See [raw access](crate#raw-access) for what the caller must not do.
    ///
    /// Read through it only, while the borrow of the muxer lasts; do not keep the pointer
    /// past it.
    pub fn as_ptr(&self) -> *const ffi::AVFormatContext {
        self.fmt.0.as_ptr()
    }

    /// The output's `AVFormatContext`, writable, for what ffio does not wrap: before
    /// [`write_header`](Self::write_header), the container's and streams' metadata
    /// (`av_dict_set`), a stream's `disposition`, `avg_frame_rate` or
    /// `sample_aspect_ratio`, the context's `max_interleave_delta` or
    /// `avoid_negative_ts`. Valid while the mutable borrow lasts.
    ///
    /// See [raw access](crate#raw-access) for what the caller must not do: in short, no
    /// writing through it (`av_write_frame`, `av_interleaved_write_frame`,
    /// `avformat_write_header`, `av_write_trailer`, `avio_*`: use this muxer's methods),
    /// no options (`av_opt_set`: give them to `write_header`, which checks them), leave
    /// `pb`, `flags`, `url`, the callbacks and the streams alone, free nothing.
    ///
    /// ```
    /// # let input = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
    /// use ffio::sys;
    /// let mut demuxer = ffio::Demuxer::from_slice(&input)?;
    /// let time_base = demuxer.stream(0).unwrap().time_base();
    /// let mut muxer = ffio::Muxer::to_writer(Vec::new(), "matroska")?;
    /// muxer.add_stream_from(&demuxer.stream(0).unwrap())?;
    /// // SAFETY: before the header, the context's metadata dictionary is ours to set;
    /// // av_dict_set copies both strings. Nothing else is touched.
    /// let ret = unsafe {
    ///     sys::av_dict_set(&mut (*muxer.as_mut_ptr()).metadata, c"title".as_ptr(), c"raw".as_ptr(), 0)
    /// };
    /// assert!(ret >= 0);
    /// muxer.write_header(&[])?;
    /// while let Some(mut packet) = demuxer.read_packet()? {
    ///     if packet.stream_index() == 0 {
    ///         muxer.write_packet(&mut packet, time_base)?;
    ///     }
    /// }
    /// let mkv = muxer.finish()?;
    /// let demuxer = ffio::Demuxer::from_slice(&mkv)?;
    /// assert_eq!(demuxer.tags().get("title").as_deref(), Some("raw"));
    /// # Ok::<(), ffio::Error>(())
    /// ```
    pub fn as_mut_ptr(&mut self) -> *mut ffi::AVFormatContext {
        self.fmt.0.as_ptr()
    }

    /// The muxer's short name, e.g. `"mp4"`.
    pub fn format_name(&self) -> &str {
        // SAFETY: an output context has a non-null `oformat` with a static name.
        let name = unsafe { CStr::from_ptr((*self.raw().oformat).name) };
        name.to_str().unwrap_or("unknown")
    }

    /// The number of streams added so far.
    pub fn stream_count(&self) -> usize {
        self.raw().nb_streams as usize
    }

    /// The output stream with index `index`. Its time base is final only after
    /// [`write_header`](Self::write_header): muxers choose their own.
    pub fn stream(&self, index: usize) -> Option<Stream<'_>> {
        // SAFETY: a valid output context whose streams change only during `&mut self` calls.
        unsafe { stream_at(self.raw(), index) }
    }

    /// Adds a stream with the codec parameters of `source` (a demuxer's stream), with the
    /// codec tag cleared so the muxer picks its own (`avcodec_parameters_copy`). Returns the
    /// new stream's index.
    pub fn add_stream_from(&mut self, source: &Stream<'_>) -> Result<usize> {
        // SAFETY: a Stream view's codecpar is valid while it is borrowed.
        self.add_stream_raw(source.codecpar(), Some(source.time_base()))
    }

    /// Adds a stream described by `params`, whose timestamps will be in `time_base` (a hint:
    /// the muxer may choose another; [`write_packet`](Self::write_packet) rescales).
    /// Returns the new stream's index.
    pub fn add_stream(&mut self, params: &CodecParameters, time_base: Rational) -> Result<usize> {
        self.add_stream_raw(params.raw.as_ptr(), Some(time_base))
    }

    fn add_stream_raw(
        &mut self,
        params: *const ffi::AVCodecParameters,
        time_base: Option<Rational>,
    ) -> Result<usize> {
        if self.header_written {
            return Err(Error::InvalidArgument(
                "streams must be added before write_header".into(),
            ));
        }
        // SAFETY: `fmt` is a valid output context; a null codec is allowed.
        let stream = unsafe { ffi::avformat_new_stream(self.fmt.0.as_ptr(), ptr::null()) };
        if stream.is_null() {
            return Err(Error::ffmpeg(
                "avformat_new_stream",
                ffi::AVERROR(libc::ENOMEM),
            ));
        }
        // SAFETY: `stream` is the valid stream just added, with allocated codecpar; `params`
        // is a valid parameter set (caller's contract). The copy replaces the destination.
        unsafe {
            check(
                "avcodec_parameters_copy",
                ffi::avcodec_parameters_copy((*stream).codecpar, params),
            )?;
            (*(*stream).codecpar).codec_tag = 0;
            if let Some(tb) = time_base.filter(|tb| tb.num > 0 && tb.den > 0) {
                (*stream).time_base = tb.into();
            }
            Ok(usize::try_from((*stream).index).unwrap_or(0))
        }
    }

    /// Writes the container header (`avformat_init_output`, then `avformat_write_header`).
    ///
    /// `options` are muxer or format options such as `("movflags", "frag_keyframe")`.
    /// They are checked before anything is written: one FFmpeg does not recognise gives
    /// [`Error::UnknownOptions`]. Options that would make FFmpeg open something by name
    /// are refused (the protocol lists; `movflags` with `faststart`, however spelt, unless
    /// the muxer was made with [`Muxer::to_seekable_stream`]). For muxers made with
    /// [`Muxer::to_opener`], options that would make them touch the filesystem by
    /// themselves (`strftime_mkdir`, `atomic_writing`, …) give [`Error::InvalidOption`]
    /// naming the option, before anything is opened.
    ///
    /// If FFmpeg fails here, it has torn the muxer down: the muxer is then failed, and
    /// every later call returns [`Error::Failed`] naming this error, without touching
    /// FFmpeg. An output format that needs a seekable output gives
    /// [`Error::NotSeekable`] on a plain writer, and only when the same streams and
    /// options are accepted on a seekable one.
    pub fn write_header(&mut self, options: &[(&str, &str)]) -> Result<()> {
        if self.header_written {
            return Err(Error::InvalidArgument(
                "the header was already written".into(),
            ));
        }
        self.io.usable("avformat_write_header")?;
        if self.stream_count() == 0 {
            return Err(Error::InvalidArgument(
                "a muxer needs at least one stream".into(),
            ));
        }
        self.check_options(options)?;
        let adapted = match self.file_scheme {
            Some(scheme) => Some(self.file_options(options, scheme)?),
            None => None,
        };
        let adapted_refs: Vec<(&str, &str)>;
        let options = match &adapted {
            Some(list) => {
                adapted_refs = list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                &adapted_refs[..]
            }
            None => options,
        };
        let result = self.init_and_write_header(options);
        match &result {
            Ok(()) => self.header_written = true,
            Err(e) => self.io.mark_failed(e),
        }
        result
    }

    fn init_and_write_header(&mut self, options: &[(&str, &str)]) -> Result<()> {
        let mut dict = options_dict(options)?;
        let fmt = self.fmt.0.as_ptr();
        let opts = dict.as_mut_ptr();
        // SAFETY: `fmt` is a valid output context with streams; `opts` points to our
        // dictionary, from which FFmpeg removes the options it uses.
        let init = self.io.call("avformat_init_output", || unsafe {
            ffi::avformat_init_output(fmt, opts)
        });
        if let Err(e) = init {
            return Err(match e {
                Error::Ffmpeg { code, message, .. }
                    if code == ffi::AVERROR(libc::EINVAL)
                        && !self.io.is_seekable()
                        && self.seekable_output_would_work(options) =>
                {
                    Error::NotSeekable {
                        call: "avformat_init_output",
                        message,
                        remedy: if self.reopen_requested().is_some() {
                            READBACK_REMEDY
                        } else {
                            SEEKABLE_REMEDY
                        },
                    }
                }
                other => other,
            });
        }
        dict.ensure_consumed("avformat_init_output")?;
        if let Some(reopen) = self.reopen_requested().filter(|_| !self.readable) {
            return Err(Error::InvalidOption {
                key: reopen.option.into(),
                value: options
                    .iter()
                    .find(|(k, _)| *k == reopen.option)
                    .map_or_else(String::new, |(_, v)| (*v).to_owned()),
                message: format!(
                    "{} makes FFmpeg read the output back for a second pass, which needs an \
                     output that can be read: make the muxer with Muxer::to_seekable_stream \
                     and a Read + Write + Seek output (Cursor<Vec<u8>>, File); or {}",
                    reopen.what, reopen.remedy
                ),
            });
        }
        // SAFETY: `fmt` was initialised by avformat_init_output; no options remain.
        self.io.call("avformat_write_header", || unsafe {
            ffi::avformat_write_header(fmt, ptr::null_mut())
        })?;
        self.time_bases = (0..self.stream_count())
            .filter_map(|i| self.stream(i).map(|s| s.time_base()))
            .collect();
        Ok(())
    }

    /// Whether a muxer of the same format, streams and options initialises on a seekable
    /// output: then the failure on this plain writer is the missing seek.
    fn seekable_output_would_work(&self, options: &[(&str, &str)]) -> bool {
        let Ok(io) = CustomIo::seekable_writer(std::io::Cursor::new(Vec::new())) else {
            return false;
        };
        let Ok(mut trial) = Muxer::with_format(io, self.raw().oformat, None) else {
            return false;
        };
        for stream in (0..self.stream_count()).filter_map(|i| self.stream(i)) {
            if trial
                .add_stream_raw(stream.codecpar(), Some(stream.time_base()))
                .is_err()
            {
                return false;
            }
        }
        let Ok(mut dict) = options_dict(options) else {
            return false;
        };
        let fmt = trial.fmt.0.as_ptr();
        let opts = dict.as_mut_ptr();
        // SAFETY: `fmt` is the trial's valid output context with streams; `opts` our
        // dictionary. The trial is dropped (freed, deinitialised) right after.
        let init = trial.io.call("avformat_init_output", || unsafe {
            ffi::avformat_init_output(fmt, opts)
        });
        init.is_ok()
    }

    /// The first muxer option in [`REOPENING_OPTIONS`] that ended up set, whatever form it
    /// was given in (`+faststart`, a number, `all`): read back from the initialised muxer.
    fn reopen_requested(&self) -> Option<&'static ReopeningOption> {
        let priv_data = self.raw().priv_data;
        if priv_data.is_null() {
            return None;
        }
        REOPENING_OPTIONS.iter().find(|o| {
            // SAFETY: `priv_data` is the muxer's private context, whose first field is its
            // AVClass (FFmpeg's rule for objects with options); av_opt_find and
            // av_opt_get_int only read it. Options this muxer lacks give null / an error.
            unsafe {
                if ffi::av_opt_find(priv_data, o.c_option.as_ptr(), ptr::null(), 0, 0).is_null() {
                    return false;
                }
                let mut value = 0i64;
                if ffi::av_opt_get_int(priv_data, o.c_option.as_ptr(), 0, &mut value) < 0 {
                    return false;
                }
                match o.flag {
                    None => value != 0,
                    Some(flag) => {
                        let constant =
                            ffi::av_opt_find(priv_data, flag.as_ptr(), o.c_option.as_ptr(), 0, 0);
                        !constant.is_null() && value & (*constant).default_val.i64_ != 0
                    }
                }
            }
        })
    }

    /// Writes one packet, interleaved with the others by dts (`av_interleaved_write_frame`).
    ///
    /// The packet's [`stream_index`](Packet::stream_index) must be an output stream index;
    /// its timestamps are in `time_base` (the source stream's) and are rescaled to the
    /// output stream's time base. The muxer takes the packet's data: `packet` is left empty,
    /// ready for reuse.
    ///
    /// After your writer failed (or the header did), this returns [`Error::Failed`]
    /// naming that first error: FFmpeg writes nothing more once its output failed.
    pub fn write_packet(&mut self, packet: &mut Packet, time_base: Rational) -> Result<()> {
        if !self.header_written {
            self.io.usable("av_interleaved_write_frame")?;
            return Err(Error::InvalidArgument(
                "write_header must be called before write_packet".into(),
            ));
        }
        let index = packet.stream_index();
        let out_tb = *self.time_bases.get(index).ok_or_else(|| {
            Error::InvalidArgument(format!("no output stream with index {index}"))
        })?;
        packet.rescale_ts(time_base, out_tb);
        let fmt = self.fmt.0.as_ptr();
        let pkt = packet.as_mut_ptr();
        // SAFETY: `pkt` is a valid packet; the input byte position means nothing here.
        unsafe { (*pkt).pos = -1 };
        // SAFETY: `fmt` has its header written; `pkt` is a valid packet for an existing
        // stream. FFmpeg takes its reference and leaves it blank.
        self.io.call("av_interleaved_write_frame", || unsafe {
            ffi::av_interleaved_write_frame(fmt, pkt)
        })?;
        Ok(())
    }

    /// Writes what the interleaving queue still holds, the trailer (`av_write_trailer`), then
    /// flushes FFmpeg's buffer and your writer, and returns the writer.
    ///
    /// Every error met on the way is reported, including writes that failed earlier and
    /// were deferred by FFmpeg's buffering. On error your writer comes back too, inside
    /// the [`FinishError`] (a partial file to delete, a socket to reuse); `?` turns it
    /// into a plain [`Error`]. A muxer whose header or writer failed earlier does not try
    /// to write the trailer.
    pub fn finish(mut self) -> Result<W, FinishError<W>> {
        let result = self.write_trailer_and_flush();
        let Muxer {
            fmt, opener, io, ..
        } = self;
        drop(fmt); // before the registry and the AVIOContext it points to
        drop(opener);
        let writer = io.into_inner();
        match result {
            Ok(()) => Ok(writer),
            Err(error) => Err(FinishError { error, writer }),
        }
    }

    fn write_trailer_and_flush(&mut self) -> Result<()> {
        if !self.header_written {
            self.io.usable("av_write_trailer")?;
            return Err(Error::InvalidArgument(
                "finish called before write_header: nothing was written".into(),
            ));
        }
        let fmt = self.fmt.0.as_ptr();
        self.io.call("av_write_trailer", || {
            // SAFETY: `fmt` has its header written (successfully: a failed header marks
            // the io failed, and `call` then refuses); the trailer is written once
            // (`finish` consumes the muxer).
            unsafe { ffi::av_write_trailer(fmt) }
        })?;
        self.io.flush()
    }

    /// Makes the muxer write out what it holds now (`av_write_frame(ctx, NULL)`): with
    /// `movflags=frag_custom`, the fragment so far; other muxers that buffer (Matroska
    /// clusters, FLV) flush theirs. Packets still waiting in the interleaving queue of
    /// [`write_packet`](Self::write_packet) are not included. With a chunk writer, the
    /// fragment reaches it before this returns.
    pub fn flush_fragment(&mut self) -> Result<()> {
        if !self.header_written {
            self.io.usable("av_write_frame")?;
            return Err(Error::InvalidArgument(
                "write_header must be called before flush_fragment".into(),
            ));
        }
        let fmt = self.fmt.0.as_ptr();
        // SAFETY: `fmt` has its header written; a null packet asks the muxer to flush.
        self.io.call("av_write_frame", || unsafe {
            ffi::av_write_frame(fmt, ptr::null_mut())
        })?;
        Ok(())
    }

    /// A handle that cancels this muxer, or sets its deadline, from any thread.
    pub fn cancel_handle(&self) -> crate::CancelHandle {
        self.io.cancel_handle()
    }

    /// The [`CustomIo`] the muxer writes through.
    pub fn io(&self) -> &CustomIo<W> {
        &self.io
    }

    /// Your writer, borrowed. Bytes FFmpeg still buffers are not in it yet.
    pub fn get_ref(&self) -> &W {
        self.io.get_ref()
    }
}

impl<W> Muxer<W> {
    /// The options of a muxer writing files of its own, made safe: names given in options
    /// go under ffio's scheme (so FFmpeg never takes them for local files), hls gets
    /// `method=PUT` (so its deletes come through the opener), and options that make the
    /// muxer touch the filesystem by itself anyway are refused, naming the option. The
    /// values are read back from a trial context, so every spelling of a flag counts.
    fn file_options(
        &self,
        options: &[(&str, &str)],
        scheme: &str,
    ) -> Result<Vec<(String, String)>> {
        let format = self
            .format_name()
            .split(',')
            .next()
            .unwrap_or("")
            .to_owned();
        let mut out: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| {
                let named = NAME_OPTIONS.contains(&(&*format, *k));
                let value = if named && !v.contains("://") {
                    format!("{scheme}{v}")
                } else {
                    (*v).to_owned()
                };
                ((*k).to_owned(), value)
            })
            .collect();
        if format == "hls" && !options.iter().any(|(k, _)| *k == "method") {
            out.push(("method".into(), "PUT".into()));
        }
        // A trial context of the same muxer with these options, never initialised.
        let mut raw = ptr::null_mut();
        // SAFETY: `raw` is an out-pointer; the format is our muxer's static description.
        let ret = unsafe {
            ffi::avformat_alloc_output_context2(
                &mut raw,
                self.raw().oformat,
                ptr::null(),
                ptr::null(),
            )
        };
        check("avformat_alloc_output_context2", ret)?;
        let trial = OutputContext(NonNull::new(raw).ok_or_else(|| {
            Error::ffmpeg("avformat_alloc_output_context2", ffi::AVERROR(libc::ENOMEM))
        })?);
        let mut dict = Dictionary::from_pairs(&out)?;
        // SAFETY: the trial's priv_data is its muxer's private context (an AVClass
        // object); av_opt_set_dict2 copies what it uses. Nothing is opened or written.
        unsafe {
            let priv_data = (*trial.0.as_ptr()).priv_data;
            if !priv_data.is_null() {
                ffi::av_opt_set_dict2(priv_data, dict.as_mut_ptr(), ffi::AV_OPT_SEARCH_CHILDREN);
            }
        }
        for refused in REFUSED_FILE_OPTIONS.iter().filter(|r| r.format == format) {
            // SAFETY: as in `option_set`.
            if unsafe { option_set(&trial, refused.option, refused.flag) } {
                let key = refused.option.to_string_lossy().into_owned();
                let value = options
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or_else(String::new, |(_, v)| (*v).to_owned());
                return Err(Error::InvalidOption {
                    key,
                    value,
                    message: format!(
                        "{} makes the {format} muxer {}, bypassing the opener; ffio does not \
                         allow it",
                        refused.what, refused.does
                    ),
                });
            }
        }
        Ok(out)
    }

    /// Refuses, before FFmpeg sees them, options it would not recognise and options that
    /// would let it open resources by name.
    fn check_options(&self, options: &[(&str, &str)]) -> Result<()> {
        let mut unknown = Vec::new();
        for (key, value) in options {
            crate::confine::check_option_name(key, value)?;
            let name = c_string(key, "option name")?;
            // SAFETY: `fmt` is a valid output context whose class (and, through
            // AV_OPT_SEARCH_CHILDREN, its muxer's private class) describes its options;
            // `name` is a valid C string. Nothing is modified.
            let found = unsafe {
                ffi::av_opt_find(
                    self.fmt.0.as_ptr().cast(),
                    name.as_ptr(),
                    ptr::null(),
                    0,
                    ffi::AV_OPT_SEARCH_CHILDREN,
                )
            };
            if found.is_null() {
                unknown.push((*key).to_owned());
            }
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::UnknownOptions {
                call: "avformat_init_output",
                options: unknown,
            })
        }
    }
}

/// The options of `write_header` as an FFmpeg dictionary.
fn options_dict(options: &[(&str, &str)]) -> Result<Dictionary> {
    let pairs: Vec<(String, String)> = options
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Dictionary::from_pairs(&pairs)
}

/// A muxer option with which FFmpeg re-opens the output by name (`io_open` on the URL) to
/// move data in a second pass; ffio refuses it after `avformat_init_output`, before
/// anything is written.
struct ReopeningOption {
    /// The private option, as the user writes it.
    option: &'static str,
    c_option: &'static std::ffi::CStr,
    /// For flags options, the named constant (bit) that does it; `None` for booleans.
    flag: Option<&'static std::ffi::CStr>,
    what: &'static str,
    remedy: &'static str,
}

/// Every such option of the muxers that write through their `pb` (read from libavformat
/// 5.1 to 9.0: movenc, flvenc, matroskaenc all shift data through `io_open`).
const REOPENING_OPTIONS: &[ReopeningOption] = &[
    ReopeningOption {
        option: "movflags",
        c_option: c"movflags",
        flag: Some(c"faststart"),
        what: "movflags=faststart",
        remedy: "write fragmented MP4 (movflags=frag_keyframe+empty_moov), or a plain MP4 \
                 into a seekable writer without faststart",
    },
    ReopeningOption {
        option: "movflags",
        c_option: c"movflags",
        flag: Some(c"global_sidx"),
        what: "movflags=global_sidx",
        remedy: "leave global_sidx out",
    },
    ReopeningOption {
        option: "flvflags",
        c_option: c"flvflags",
        flag: Some(c"add_keyframe_index"),
        what: "flvflags=add_keyframe_index",
        remedy: "leave add_keyframe_index out",
    },
    ReopeningOption {
        option: "cues_to_front",
        c_option: c"cues_to_front",
        flag: None,
        what: "cues_to_front",
        remedy: "reserve space for the cues instead (reserve_index_space)",
    },
];

/// Output formats that always re-open their output by name (besides `AVFMT_NOFILE` ones).
const REOPENING_FORMATS: &[&str] = &["film_cpk"];

/// The output format FFmpeg associates with `file_name`'s extension (`av_guess_format`);
/// nothing is opened by that name.
fn guess_format_for_file_name(file_name: &str) -> Result<*const ffi::AVOutputFormat> {
    let name = c_string(file_name, "file name")?;
    // SAFETY: `name` is a valid C string; the result is null or a static description.
    let oformat = unsafe { ffi::av_guess_format(ptr::null(), name.as_ptr(), ptr::null()) };
    if oformat.is_null() {
        return Err(Error::FormatNotFound {
            kind: "output format for file name",
            name: file_name.to_owned(),
        });
    }
    Ok(oformat)
}

/// What to do when a muxer needs to seek and the writer cannot.
const SEEKABLE_REMEDY: &str =
    "use a seekable writer (Write + Seek, e.g. Cursor<Vec<u8>> or File), \
     or a streamable format; for MP4, fragmented output: movflags=frag_keyframe+empty_moov";

/// What to do when a muxer must read its output back (faststart) and the output cannot.
const READBACK_REMEDY: &str =
    "this option makes FFmpeg read the output back: use Muxer::to_seekable_stream with a \
     Read + Write + Seek output (Cursor<Vec<u8>>, File)";

/// The error of [`Muxer::finish`]: what went wrong, and your writer, given back.
///
/// `?` converts it into a plain [`Error`] (dropping the writer); keep the writer with
/// [`into_parts`](Self::into_parts) or [`into_inner`](Self::into_inner), like
/// `std::io::IntoInnerError`.
pub struct FinishError<W> {
    error: Error,
    writer: W,
}

impl<W> FinishError<W> {
    /// What went wrong.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// What went wrong, dropping the writer.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// Your writer, with whatever reached it, dropping the error.
    pub fn into_inner(self) -> W {
        self.writer
    }

    /// The error and your writer.
    pub fn into_parts(self) -> (Error, W) {
        (self.error, self.writer)
    }
}

impl<W> From<FinishError<W>> for Error {
    fn from(e: FinishError<W>) -> Error {
        e.error
    }
}

impl<W> fmt::Debug for FinishError<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinishError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<W> fmt::Display for FinishError<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<W> std::error::Error for FinishError<W> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl<W: Write + Seek> Muxer<W> {
    /// A muxer writing format `format` into a seekable writer (a `File`,
    /// `Cursor<Vec<u8>>`): every format works, including plain MP4.
    pub fn to_seekable_writer(writer: W, format: &str) -> Result<Self> {
        Self::new(CustomIo::seekable_writer(writer)?, format)
    }
}

impl<W: Read + Write + Seek + Send> Muxer<W> {
    /// A muxer writing format `format` into `stream`, an output it can also read back (a
    /// `File` opened for reading and writing, `Cursor<Vec<u8>>`): like
    /// [`to_seekable_writer`](Muxer::to_seekable_writer), and options that make FFmpeg
    /// read its output back for a second pass work too: `movflags=+faststart` (the index
    /// moved before the media data, what web players want), `movflags=+global_sidx`,
    /// `flvflags=+add_keyframe_index`, Matroska's `cues_to_front`.
    ///
    /// For the second pass FFmpeg opens the output again for reading while it rewrites
    /// it: ffio gives it a second context on `stream` with a position of its own (each
    /// read seeks there and back to where the writer was), so nothing is opened by name.
    ///
    /// ```
    /// # fn main() -> Result<(), ffio::Error> {
    /// # let input = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
    /// let mut demuxer = ffio::Demuxer::from_slice(&input)?;
    /// let out = std::io::Cursor::new(Vec::new());
    /// let mut muxer = ffio::Muxer::to_seekable_stream(out, "mp4")?;
    /// for stream in demuxer.streams() {
    ///     muxer.add_stream_from(&stream)?;
    /// }
    /// let time_bases: Vec<_> = demuxer.streams().map(|s| s.time_base()).collect();
    /// muxer.write_header(&[("movflags", "+faststart")])?;
    /// while let Some(mut packet) = demuxer.read_packet()? {
    ///     let tb = time_bases[packet.stream_index()];
    ///     muxer.write_packet(&mut packet, tb)?;
    /// }
    /// let mp4 = muxer.finish()?.into_inner();
    /// assert_eq!(&mp4[4..8], b"ftyp");
    /// assert_eq!(&mp4[mp4[3] as usize + 4..][..4], b"moov"); // the index comes first
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_seekable_stream(stream: W, format: &str) -> Result<Self> {
        let mut muxer = Self::new(CustomIo::seekable_writer(stream)?, format)?;
        // SAFETY: the reader is used only by the context the registry opens for it, from
        // callbacks of FFmpeg calls on this muxer, which all go through `muxer.io`; the
        // registry is dropped before `io` (field order, and `finish`).
        let shared = unsafe { muxer.io.shared_reader() };
        muxer.attach(CoreConfig {
            shared: Some(shared),
            ..CoreConfig::default()
        });
        muxer.readable = true;
        Ok(muxer)
    }
}

impl Muxer<std::io::Sink> {
    /// A muxer for a format that writes files of its own (`hls`, `dash`, `segment`,
    /// `stream_segment`, `image2`), each of which FFmpeg asks `opener` for by name. `name`
    /// is the main output's name, as you would give it to the `ffmpeg` CLI (`out.m3u8`,
    /// `manifest.mpd`, `out%03d.ts`, `img%03d.png`): the muxer derives the other names
    /// from it and its options, and the opener sees them as the CLI would write them
    /// (`out0.ts`, `init.mp4`).
    ///
    /// Nothing touches the filesystem by itself: ffio gives FFmpeg the names under a
    /// scheme of its own (`ffio://`, stripped before your opener sees them), so the
    /// muxers' own renames, deletes and directory creation for local files never run;
    /// options that would need them anyway are refused at
    /// [`write_header`](Muxer::write_header), naming the option.
    ///
    /// ```
    /// # fn main() -> Result<(), ffio::Error> {
    /// use std::collections::HashMap;
    /// use std::io::Write;
    /// use std::sync::{Arc, Mutex};
    ///
    /// /// A writer that stores its bytes under its name when FFmpeg closes it.
    /// struct File(String, Vec<u8>, Arc<Mutex<HashMap<String, Vec<u8>>>>);
    /// impl Write for File {
    ///     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
    ///         self.1.extend_from_slice(buf);
    ///         Ok(buf.len())
    ///     }
    ///     fn flush(&mut self) -> std::io::Result<()> {
    ///         Ok(())
    ///     }
    /// }
    /// impl Drop for File {
    ///     fn drop(&mut self) {
    ///         let data = std::mem::take(&mut self.1);
    ///         self.2.lock().unwrap().insert(std::mem::take(&mut self.0), data);
    ///     }
    /// }
    ///
    /// # let input = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
    /// let files = Arc::new(Mutex::new(HashMap::new()));
    /// let store = files.clone();
    /// let opener = move |name: &str, _mode: ffio::OpenMode| {
    ///     Ok(ffio::Opened::writer(File(name.to_owned(), Vec::new(), store.clone())))
    /// };
    /// let mut demuxer = ffio::Demuxer::from_slice(&input)?;
    /// let mut muxer = ffio::Muxer::to_opener(opener, "hls", "out.m3u8")?;
    /// for stream in demuxer.streams() {
    ///     muxer.add_stream_from(&stream)?;
    /// }
    /// let time_bases: Vec<_> = demuxer.streams().map(|s| s.time_base()).collect();
    /// muxer.write_header(&[("hls_time", "1"), ("hls_playlist_type", "vod")])?;
    /// while let Some(mut packet) = demuxer.read_packet()? {
    ///     let tb = time_bases[packet.stream_index()];
    ///     muxer.write_packet(&mut packet, tb)?;
    /// }
    /// muxer.finish()?;
    /// let files = files.lock().unwrap();
    /// assert!(files["out.m3u8"].starts_with(b"#EXTM3U"));
    /// assert!(files.contains_key("out0.ts"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_opener(opener: impl Opener + 'static, format: &str, name: &str) -> Result<Self> {
        let oformat = find_output_format(format)?;
        let io = CustomIo::writer(std::io::sink())?;
        Self::with_format(io, oformat, Some((name, SharedOpener::new(opener))))
    }

    /// The short name of the output format FFmpeg associates with `file_name`'s extension
    /// (`av_guess_format`): `"mp4"` for `out.mp4`, `"hls"` for `out.m3u8`.
    pub fn format_for_file_name(file_name: &str) -> Result<String> {
        let oformat = guess_format_for_file_name(file_name)?;
        // SAFETY: a static description with a static, NUL-terminated name.
        let short = unsafe { CStr::from_ptr((*oformat).name) };
        Ok(short.to_string_lossy().into_owned())
    }

    /// `true` if output format `format` writes files of its own (`AVFMT_NOFILE`: `hls`,
    /// `dash`, `segment`, `image2`): make it with [`Muxer::to_opener`]. Other formats
    /// write one stream ([`Muxer::to_writer`], [`Muxer::to_seekable_stream`], …).
    pub fn writes_files_of_its_own(format: &str) -> Result<bool> {
        let oformat = find_output_format(format)?;
        // SAFETY: a valid static muxer description.
        Ok(unsafe { (*oformat).flags } & ffi::AVFMT_NOFILE != 0)
    }
}

/// The muxer named `format` (its short name).
fn find_output_format(format: &str) -> Result<*const ffi::AVOutputFormat> {
    {
        let c_format = c_string(format, "format name")?;
        // SAFETY: `c_format` is a valid C string; the result is null or a static description.
        let oformat = unsafe { ffi::av_guess_format(c_format.as_ptr(), ptr::null(), ptr::null()) };
        if oformat.is_null() {
            return Err(Error::FormatNotFound {
                kind: "output format",
                name: format.to_owned(),
            });
        }
        Ok(oformat)
    }
}

/// Muxers writing files of their own that ffio supports through an opener. The others
/// (hds, smoothstreaming, webm_chunk, tee, fifo, rtsp, sap, …) create directories or
/// open outputs without `io_open`.
const FILE_MUXERS: &[&str] = &["hls", "dash", "segment", "stream_segment", "image2"];

/// Options (by muxer) whose value is a file name the muxer decides by protocol whether
/// to treat as a local file: their values are given under ffio's scheme.
const NAME_OPTIONS: &[(&str, &str)] = &[
    ("hls", "hls_segment_filename"),
    ("hls", "hls_subtitle_path"),
    ("segment", "segment_list"),
    ("stream_segment", "segment_list"),
];

/// An option that makes a muxer touch the filesystem without the opener.
struct RefusedFileOption {
    format: &'static str,
    option: &'static CStr,
    /// For flags options, the constant; `None` for booleans.
    flag: Option<&'static CStr>,
    what: &'static str,
    does: &'static str,
}

/// Read from libavformat 5.1 (hlsenc.c, dashenc.c, img2enc.c) and checked in 9.0.
const REFUSED_FILE_OPTIONS: &[RefusedFileOption] = &[
    RefusedFileOption {
        format: "hls",
        option: c"strftime_mkdir",
        flag: None,
        what: "strftime_mkdir",
        does: "create directories with mkdir",
    },
    RefusedFileOption {
        format: "hls",
        option: c"http_persistent",
        flag: None,
        what: "http_persistent",
        does: "reuse FFmpeg's own HTTP connections (it asserts on any other stream)",
    },
    RefusedFileOption {
        format: "hls",
        option: c"hls_flags",
        flag: Some(c"second_level_segment_size"),
        what: "hls_flags=second_level_segment_size",
        does: "rename finished segments",
    },
    RefusedFileOption {
        format: "hls",
        option: c"hls_flags",
        flag: Some(c"second_level_segment_duration"),
        what: "hls_flags=second_level_segment_duration",
        does: "rename finished segments",
    },
    // FFmpeg 5.1 writes the key file hls_enc makes through io_open, then closes it with
    // avio_close (hlsenc.c 781), which would treat ffio's context as FFmpeg's own (fixed
    // by 7.1: ff_format_io_close).
    #[cfg(not(ffio_ffmpeg_7))]
    RefusedFileOption {
        format: "hls",
        option: c"hls_enc",
        flag: None,
        what: "hls_enc",
        does: "close the key file it writes with avio_close (FFmpeg before 7)",
    },
    RefusedFileOption {
        format: "dash",
        option: c"http_persistent",
        flag: None,
        what: "http_persistent",
        does: "reuse FFmpeg's own HTTP connections (it asserts on any other stream)",
    },
    RefusedFileOption {
        format: "dash",
        option: c"single_file",
        flag: None,
        what: "single_file",
        does: "open its output with avio_open2 (FFmpeg 5.1)",
    },
    RefusedFileOption {
        format: "image2",
        option: c"atomic_writing",
        flag: None,
        what: "atomic_writing",
        does: "rename temporary files",
    },
];

/// Whether `option` (or, for flags, its constant `flag`) is set in `fmt`'s muxer options.
///
/// # Safety
/// `fmt` must own a valid output context.
unsafe fn option_set(fmt: &OutputContext, option: &CStr, flag: Option<&CStr>) -> bool {
    // SAFETY: per the contract; priv_data is null or the muxer's AVClass object, which
    // av_opt_find and av_opt_get_int only read.
    unsafe {
        let priv_data = (*fmt.0.as_ptr()).priv_data;
        if priv_data.is_null() {
            return false;
        }
        let found = ffi::av_opt_find(priv_data, option.as_ptr(), ptr::null(), 0, 0);
        if found.is_null() {
            return false;
        }
        let mut value = 0i64;
        if ffi::av_opt_get_int(priv_data, option.as_ptr(), 0, &mut value) < 0 {
            return false;
        }
        match flag {
            None => value != 0,
            Some(flag) => {
                // Constants belong to the option's unit (hls_flags' is "flags").
                let unit = (*found).unit;
                let unit = if unit.is_null() {
                    option.as_ptr()
                } else {
                    unit
                };
                let constant = ffi::av_opt_find(priv_data, flag.as_ptr(), unit, 0, 0);
                !constant.is_null() && value & (*constant).default_val.i64_ != 0
            }
        }
    }
}

/// The scheme ffio gives dash's names: dash routes deletes (`window_size`,
/// `remove_at_exit`) through `io_open` only for names it takes for HTTP
/// (`ff_is_http_proto`), and otherwise calls `ffurl_delete`; with this scheme no rename
/// or delete of local files runs either, and the `ffio` host part is stripped before the
/// opener sees a name.
pub(crate) const DASH_SCHEME: &str = "http://ffio/";

/// The scheme of the names ffio gives muxers that write files of their own. No FFmpeg
/// protocol has this name, so `avio_find_protocol_name` finds none and the muxers' code
/// for local files (`file` protocol: rename from `.tmp`, `unlink`, `mkdir`) never runs;
/// the part after `//` keeps `av_basename`/`av_dirname` giving the names the CLI would.
pub(crate) const FILE_SCHEME: &str = "ffio://";

/// Owns an output `AVFormatContext` and frees it, without writing anything more, on drop.
struct OutputContext(NonNull<ffi::AVFormatContext>);

impl Drop for OutputContext {
    fn drop(&mut self) {
        // SAFETY: we own the context and free it once. Its `pb` (a CustomIo that the Muxer
        // frees right after, its fields dropping in order) is still alive, in case a
        // muxer's deinit looks at it; avformat_free_context never frees `pb` itself.
        unsafe { ffi::avformat_free_context(self.0.as_ptr()) };
    }
}

impl<W> fmt::Debug for Muxer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Muxer")
            .field("format", &self.format_name())
            .field("streams", &self.stream_count())
            .field("header_written", &self.header_written)
            .field("io", &self.io)
            .finish()
    }
}
