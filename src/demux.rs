//! [`Demuxer`]: reading a container through a [`CustomIo`].

use std::ffi::CStr;
use std::fmt;
use std::io::{Cursor, Read, Seek};
use std::ptr::{self, NonNull};
use std::time::Duration;

use ffmpeg_sys_next as ffi;

use crate::concat::{self, Concat};
use crate::dict::{c_string, Dictionary};
use crate::error::{Error, Result};
use crate::io::CustomIo;
use crate::metadata::Tags;
use crate::opener::{CoreConfig, CoreOwner, Opener, SharedOpener};
use crate::packet::Packet;
use crate::properties::Timestamp;
use crate::stream::{stream_at, MediaType, Stream};
use crate::truncation::{self, Truncation, TruncationReason, Watch};

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
    /// `(format, key, value)`: demuxer options applied only to that format.
    format_options: Vec<(String, String, String)>,
    find_stream_info: bool,
    format_whitelist: Option<String>,
    timeout: Option<Duration>,
    strict: bool,
    headers_only: bool,
    opener: Option<SharedOpener>,
    /// For a part of a concat list: how deep lists may still nest (`recursion_depth`).
    concat_depth: Option<i32>,
    /// For a part of a concat list: the list's format flags (`fflags`), which FFmpeg's
    /// concat demuxer gives its parts.
    inherit_flags: std::os::raw::c_int,
}

impl Default for DemuxerOptions {
    fn default() -> Self {
        DemuxerOptions {
            format: None,
            options: Vec::new(),
            format_options: Vec::new(),
            find_stream_info: true,
            format_whitelist: None,
            timeout: None,
            strict: false,
            headers_only: false,
            opener: None,
            concat_depth: None,
            inherit_flags: 0,
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

    /// Adds an option for one demuxer only: passed to `avformat_open_input` when the
    /// input's format is `format` (any of its names, e.g. `"mpegts"`, `"mp4"`), ignored
    /// otherwise. The `ffmpeg` and `ffprobe` tools open every input with
    /// `option_for("mpegts", "scan_all_pmts", "1")`; a value the demuxer refuses fails the
    /// open as [`option`](Self::option) does.
    ///
    /// Only the demuxer's own options can be given this way; a format-context option
    /// (`probesize`, `fflags`, …) fails the open with [`Error::InvalidOption`].
    pub fn option_for(mut self, format: &str, key: &str, value: &str) -> Self {
        self.format_options
            .push((format.to_owned(), key.to_owned(), value.to_owned()));
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

    /// Makes a truncated or damaged input an error (default `false`), like `ffmpeg
    /// -xerror`: the read that meets the [`Truncation`] fails with
    /// [`Error::Truncated`], naming the stream and byte offset, instead of only being
    /// reported by [`Demuxer::truncation`]. That is the read that returns a packet FFmpeg
    /// flagged corrupt, or the read that reaches an end of input the container did not
    /// announce. Intact inputs read exactly as without it.
    pub fn strict(mut self, yes: bool) -> Self {
        self.strict = yes;
        self
    }

    /// Opens for the description only (default `false`): the container's and streams'
    /// metadata, as `ffprobe -show_format -show_streams` prints it. By default an input
    /// whose packets cannot be read through a non-seekable reader (an MP4 whose `moov`
    /// follows its media data, on a pipe) fails at open with [`Error::NotSeekable`]; with
    /// this it opens, and its first [`read_packet`](Demuxer::read_packet) fails instead.
    pub fn headers_only(mut self, yes: bool) -> Self {
        self.headers_only = yes;
        self
    }

    /// Lets the demuxer open further files through `opener`: the segments and variant
    /// playlists of an HLS playlist (the `hls` format is refused without an opener), the
    /// segments of a DASH manifest on FFmpeg 7.0 and later, the external data references
    /// of a MOV/MP4 file (with the option `enable_drefs=1`), the parts of a concat list.
    /// Formats that name further files but bypass FFmpeg's `io_open` stay refused with
    /// [`Error::FormatRefused`], which says so: DASH before FFmpeg 7.0, SDP, IMF.
    ///
    /// **Concat lists** (`ffconcat version 1.0`, or any list opened with
    /// [`format("concat")`](Self::format)) are read by ffio's own concat demuxer, since
    /// FFmpeg's opens each part with FFmpeg's default opener. It gives the packets FFmpeg's
    /// gives (timestamps offset by the earlier parts' durations, `inpoint`, `outpoint`,
    /// `duration`, H.264 from MP4 parts converted to Annex B, per-file packet metadata as
    /// `AV_PKT_DATA_STRINGS_METADATA`, `stream`/`exact_stream_id` matching) and takes the
    /// concat demuxer's options: `safe` (default 1: part names must be plain relative
    /// names, FFmpeg's rule; `option` lines need 0), `auto_convert` (1),
    /// `segment_time_metadata` (0) and `recursion_depth` (10). Each part is asked of the
    /// opener by the name the list gives, in list order, when the one before it ends, and
    /// is read like an input of its own with this opener (so a part may be a playlist or
    /// another list). Its streams are the list's [`streams`](Demuxer::streams) once a part
    /// brought them: a part with more streams than the first adds streams while packets
    /// are read, as FFmpeg's does. [`seek`](Demuxer::seek) reaches any time when every
    /// part's duration is in the list (`duration`, or `inpoint` and `outpoint`), else only
    /// the start. A list is read whole at open, up to 16 MiB.
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

    /// Makes these the options of a concat list's part, `depth` levels of lists deep.
    pub(crate) fn set_concat_depth(&mut self, depth: i32) {
        self.concat_depth = Some(depth);
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
/// ([`DemuxerOptions::opener`]: HLS playlists, concat lists, DASH manifests on FFmpeg
/// 7.0 and later, MOV data references). See the README's "Untrusted input". `Demuxer<R>` is `Send` when `R` is. It is not `Sync`: every operation
/// drives FFmpeg's state machine and needs `&mut self`, so there is nothing to share.
///
/// A cut or damaged input is never silent: see [`truncation`](Demuxer::truncation) and
/// [`DemuxerOptions::strict`].
pub struct Demuxer<R> {
    /// For a concat list read by ffio ([`crate::concat`]): its parts and state. `fmt` is
    /// then the list's stream table, never opened.
    concat: Option<Box<Concat>>,
    /// Declared before `io`: fields drop in order, so the input is closed before the
    /// AVIOContext it reads through is freed.
    fmt: InputContext,
    /// The contexts opened through the opener; after `fmt`, which may still close them.
    opener: Option<CoreOwner>,
    io: CustomIo<R>,
    /// Truncation checks and what they found.
    watch: Watch,
    /// A packet read at open (to learn whether a non-seekable MP4 can be read at all),
    /// returned by the first read.
    peeked: Option<Packet>,
    /// A cut FFmpeg logged (Matroska), reported at the end unless the checks there found
    /// one.
    logged_cut: Option<Truncation>,
    /// The input's size in bytes, learned at open (`avio_size`), if the reader could tell.
    size: Option<u64>,
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
    /// Streamable formats work; an MP4 whose `moov` box comes last fails at open with
    /// [`Error::NotSeekable`] (FFmpeg reads the whole input to find the `moov`, then
    /// cannot go back to the media data; ffio reads the first packet at open to find out).
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
        // SAFETY: `pending.0` is our idle context; CUSTOM_IO stays set (apply_options set
        // it, and the list's flags never carry it here).
        unsafe {
            (*pending.0).flags |= options.inherit_flags & !ffi::AVFMT_FLAG_CUSTOM_IO;
        }
        if let Some(list) = &options.format_whitelist {
            pending.set_option("format_whitelist", list)?;
        }
        let raw = pending.0;
        let mut watch = Watch::new(options.strict);
        if input_format.is_null() {
            let pb = io.as_ptr();
            // With an opener the input has a name (see INPUT_NAME), which FFmpeg >= 7's
            // hls probe requires; without one, none.
            let url = if options.opener.is_some() {
                INPUT_NAME.as_ptr()
            } else {
                ptr::null()
            };
            // SAFETY: `pb` is our reading context and `raw` the format context it will
            // belong to (a logging context here); `url` is null or a static C string. The
            // probe reads through our callbacks and keeps what it read in `pb`'s buffer
            // (ffio_rewind_with_probe_data), so the open below starts from byte 0, exactly
            // as avformat_open_input's own probe would.
            let probed = io.call("avformat_open_input", || unsafe {
                ffi::av_probe_input_buffer2(
                    pb,
                    &mut input_format,
                    url,
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
            // SAFETY: the probe returned and left the input's first bytes in `pb`'s buffer
            // (ffio_rewind_with_probe_data); the slices are dropped before FFmpeg runs.
            unsafe {
                watch.segment_end = matroska_segment_end(input_format, io.as_ptr());
                walk_mov_boxes(&mut watch, input_format, io.as_ptr());
            }
        }
        let with_opener = options.opener.is_some();
        // SAFETY: a probed or found input format is a valid static description; `raw` is
        // our context, whose format_whitelist is null or a string FFmpeg owns.
        unsafe { check_input_format(input_format, (*raw).format_whitelist, with_opener)? };
        // SAFETY: a checked input format is a valid static description with a C name.
        let names = unsafe { CStr::from_ptr((*input_format).name) }.to_string_lossy();
        for (format, key, value) in &options.format_options {
            if names.split(',').any(|name| name == format) {
                pending.check_private_option(key, value)?;
                dict.set(key, value)?;
            }
        }
        if let Some(opener) = &options.opener {
            if names.split(',').any(|name| name == "concat") {
                return Self::open_concat(io, pending, dict, options, opener.clone(), input_format);
            }
        }
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
            concat: None,
            fmt: InputContext(fmt, Kind::Open),
            opener,
            io,
            watch,
            peeked: None,
            logged_cut: None,
            size: None,
        };
        demuxer.io.after_call("avformat_open_input", ret)?;
        let (format, pb) = (demuxer.raw().iformat, demuxer.io.as_ptr());
        // SAFETY: the input is open, FFmpeg is not running; the slices are dropped before
        // it runs again. A forced format was not probed, but its header may still be in
        // the buffer; what the open left buffered (a trailing `moov`) continues the walk
        // over the top-level boxes (before stream discovery moves the buffer on).
        unsafe {
            if demuxer.watch.segment_end.is_none() {
                demuxer.watch.segment_end = matroska_segment_end(format, pb);
            }
            walk_mov_boxes(&mut demuxer.watch, format, pb);
        }
        dict.ensure_consumed("avformat_open_input")?;
        if options.find_stream_info {
            let fmt = demuxer.fmt.0.as_ptr();
            // SAFETY: `fmt` is an open input context; null options are allowed.
            demuxer.io.call("avformat_find_stream_info", || unsafe {
                ffi::avformat_find_stream_info(fmt, ptr::null_mut())
            })?;
        }
        demuxer.size = demuxer.learn_size()?;
        if !options.headers_only {
            demuxer.check_readable_without_seeking()?;
        }
        Ok(demuxer)
    }

    /// Opens a concat list with ffio's own concat demuxer ([`crate::concat`]): reads the
    /// whole list from `io`, makes `pending` its stream table, and opens its first part
    /// through `opener`.
    fn open_concat(
        mut io: CustomIo<R>,
        pending: PendingContext,
        mut dict: Dictionary,
        options: &DemuxerOptions,
        opener: SharedOpener,
        input_format: *const ffi::AVInputFormat,
    ) -> Result<Self> {
        let settings = concat::Settings::take_from(&mut dict)?;
        dict.ensure_consumed("avformat_open_input")?;
        let list = concat::read_list(&mut io)?;
        let table = pending.into_table();
        let raw = table.0.as_ptr();
        // SAFETY: `raw` is our idle, never opened context. The table reads nothing: it has
        // no `pb`. Its `iformat` names the format (format_name, av_dump_format), but the
        // context is never opened, closed or read with it (InputContext::drop frees a table
        // with avformat_free_context, which calls no demuxer code without `priv_data`).
        let flags = unsafe {
            (*raw).pb = ptr::null_mut();
            (*raw).iformat = input_format as _;
            (*raw).flags
        };
        let part_options = DemuxerOptions {
            format_whitelist: options.format_whitelist.clone(),
            strict: options.strict,
            headers_only: options.headers_only,
            opener: Some(opener.clone()),
            inherit_flags: flags & !ffi::AVFMT_FLAG_CUSTOM_IO,
            ..DemuxerOptions::default()
        };
        // SAFETY: `raw` is the list's stream table, owned by `table`, which the Demuxer
        // keeps (after `concat` in field order) for as long as the Concat is used with it.
        let concat = unsafe {
            Concat::open(
                &list,
                raw,
                concat::Setup {
                    settings,
                    depth: options.concat_depth,
                    part_options,
                    opener,
                    interrupt: io.interrupt(),
                    discover: options.find_stream_info,
                },
            )?
        };
        let size = io.input_size()?;
        Ok(Demuxer {
            concat: Some(Box::new(concat)),
            fmt: table,
            opener: None,
            io,
            watch: Watch::new(options.strict),
            peeked: None,
            logged_cut: None,
            size,
        })
    }

    /// [`read_packet_into`](Self::read_packet_into) for a concat list.
    #[inline(never)]
    fn read_concat_into(&mut self, packet: &mut Packet) -> Result<bool> {
        let table = self.fmt.0.as_ptr();
        let concat = self.concat.as_deref_mut().expect("a concat list");
        // SAFETY: `table` is the list's stream table, idle (we hold `&mut self`).
        let read = unsafe { concat.read(table, packet) };
        if let Some(found) = concat.take_truncation() {
            self.watch.report(found)?;
        }
        if !read? {
            return self.end_of_input();
        }
        self.check_corrupt(packet)?;
        Ok(true)
    }

    /// The end of the input, after its checks: `Ok(false)`, or in strict mode the
    /// truncation found (reported already: an end after a truncation stays an error).
    #[cold]
    fn end_of_input(&self) -> Result<bool> {
        match (&self.watch.found, self.watch.strict) {
            (Some(found), true) => Err(Error::Truncated(found.clone())),
            _ => Ok(false),
        }
    }

    /// Reports a packet FFmpeg flagged corrupt (in strict mode, as the read's error).
    #[inline]
    fn check_corrupt(&mut self, packet: &Packet) -> Result<()> {
        if packet.is_corrupt() {
            self.watch.report(Truncation {
                reason: TruncationReason::CorruptPacket,
                stream: Some(packet.stream_index()),
                offset: packet.position(),
                expected_end: None,
            })?;
        }
        Ok(())
    }

    /// Fails with [`Error::NotSeekable`] now, not at the first read, when a non-seekable
    /// MP4 cannot be read: the mov demuxer reads the whole input to find a `moov` box
    /// that follows the media data, which is then gone, and only finds out when it seeks
    /// back for the first sample (stream discovery swallows that failure). So the first
    /// packet of a non-seekable MP4 is read here, and returned by the first read.
    fn check_readable_without_seeking(&mut self) -> Result<()> {
        if self.io.is_seekable() || !self.is_format("mov") {
            return Ok(());
        }
        let mut first = Packet::try_new()?;
        if self.read_frame(&mut first)? {
            self.peeked = Some(first);
            return Ok(());
        }
        // No packet at all although the streams say they have samples (an index, a frame
        // count, a duration): the demuxer could not seek back to them and gave up with a
        // plain end ("0 frames" is never the answer).
        let indexed = self.streams().any(|s| {
            // SAFETY: a stream of our open input; the call only reads its index.
            let entries = unsafe { ffi::avformat_index_get_entries_count(s.as_ptr()) };
            entries > 0 || s.frames().is_some() || s.duration().is_some_and(|d| d > 0)
        });
        if indexed {
            return Err(Error::NotSeekable {
                call: "av_read_frame",
                message: "the samples the streams declare could not be reached".into(),
                remedy: "use a seekable reader (Read + Seek), or a faststart or fragmented file",
            });
        }
        Ok(())
    }

    /// `true` if the demuxer is the one serving the format called `name` (one of the
    /// comma-separated names of [`format_name`](Self::format_name)).
    fn is_format(&self, name: &str) -> bool {
        self.format_name().split(',').any(|n| n == name)
    }

    /// What the truncation checks found so far: the first sign that the input is cut
    /// short or damaged, or `None`. A program checking uploads reads to the end and then
    /// asks; in [strict](DemuxerOptions::strict) mode the read that met it fails instead.
    ///
    /// It is filled when a packet FFmpeg flagged corrupt is read, and when the end of the
    /// input is reached and turns out to come before the end the container announced:
    /// an MP4 whose sample tables point past the end, a Matroska segment longer than the
    /// input, an MPEG-TS input that ends inside a TS packet. Intact files never report
    /// one. Some cuts cannot be told from a clean end (an MPEG-TS cut between PES
    /// packets, an FLV cut between tags): see the README's "Truncated input" for what is
    /// detectable per format. The input's size is learnt from a seekable reader by
    /// `avio_size`; for a non-seekable one, it is the number of bytes read when FFmpeg
    /// saw the end.
    pub fn truncation(&self) -> Option<&Truncation> {
        self.watch.found.as_ref()
    }

    fn raw(&self) -> &ffi::AVFormatContext {
        // SAFETY: `fmt` is a valid open input for our lifetime; FFmpeg mutates it only during
        // calls that take `&mut self`.
        unsafe { self.fmt.0.as_ref() }
    }

    /// The input's `AVFormatContext`, for FFmpeg calls ffio does not wrap that only read
    /// it: `av_dump_format`, its `chapters` and `programs`, a stream's index entries. See
    /// [raw access](crate#raw-access) for what the caller must not do.
    ///
    /// Read through it only, while the borrow of the demuxer lasts (FFmpeg changes the
    /// context only during ffio calls that take `&mut self`, which the borrow excludes);
    /// do not keep the pointer past it.
    ///
    /// For a concat list read through an opener, it is the list's stream table: a context
    /// never opened, with the list's streams, chapters, `duration` (when the list gives
    /// every part's) and `iformat` (FFmpeg's concat description, for its names), but no
    /// `pb` and no demuxer state: FFmpeg functions that read packets or run the demuxer
    /// must not be given it (nor may any of this one, as the raw-access rules say).
    ///
    /// ```
    /// # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mkv")).unwrap();
    /// let demuxer = ffio::Demuxer::from_slice(&bytes)?;
    /// // SAFETY: a plain field read while `demuxer` is borrowed.
    /// let chapters = unsafe { (*demuxer.as_ptr()).nb_chapters };
    /// assert_eq!(chapters, 0);
    /// # Ok::<(), ffio::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *const ffi::AVFormatContext {
        self.fmt.0.as_ptr()
    }

    /// The input's `AVFormatContext`, writable, for FFmpeg calls that need a mutable
    /// context but do no I/O (`av_guess_frame_rate`, `avformat_match_stream_specifier`,
    /// `av_find_best_stream` with a decoder) and for the fields a program may set on an
    /// open input: a stream's `discard` (what [`keep_streams`](Self::keep_streams) sets),
    /// the metadata dictionaries. Valid while the mutable borrow lasts.
    ///
    /// See [raw access](crate#raw-access) for what the caller must not do: in short, no
    /// reading, seeking or probing through it (`av_read_frame`, `avformat_seek_file`,
    /// `avformat_find_stream_info`: use this demuxer's methods), leave `pb`, `flags`,
    /// the callbacks and the streams alone, free nothing.
    pub fn as_mut_ptr(&mut self) -> *mut ffi::AVFormatContext {
        self.fmt.0.as_ptr()
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

    /// The input's size in bytes, if the reader could tell: always for a seekable reader
    /// (learned once at open, with `avio_size`, which asks your `Seek` for the end),
    /// never for a plain `Read`. What `ffprobe -show_format` prints as `size`.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// `avio_size` through the call path (it runs the seek callback). A reader that
    /// cannot tell its size is no error: the size is unknown.
    fn learn_size(&mut self) -> Result<Option<u64>> {
        self.io.input_size()
    }

    /// The container's metadata tags (`AVFormatContext.metadata`): `title`, `artist`,
    /// `encoder`, `major_brand`, …, as `ffprobe -show_format` prints them.
    pub fn tags(&self) -> Tags<'_> {
        // SAFETY: the dictionary is null or owned by our open input, and FFmpeg changes it
        // only during calls that take `&mut self`, which the borrow excludes.
        unsafe { Tags::from_raw(self.raw().metadata) }
    }

    /// The container's start time in microseconds (`AVFormatContext.start_time`), which
    /// unlike [`start_time`](Self::start_time) may be negative.
    pub fn start_timestamp(&self) -> Option<Timestamp> {
        let start = self.raw().start_time;
        (start != ffi::AV_NOPTS_VALUE).then_some(Timestamp {
            pts: start,
            time_base: crate::Rational::new(1, ffi::AV_TIME_BASE),
        })
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
        if let Some(concat) = self.concat.as_deref_mut() {
            // SAFETY: `fmt` is the list's stream table, idle.
            unsafe { concat.apply_discard(self.fmt.0.as_ptr()) };
        }
        Ok(())
    }

    /// Reads the next packet into `packet`, replacing what it held (`av_read_frame`).
    /// Returns `Ok(false)` at the end of the input. Reusing one `Packet` this way avoids an
    /// allocation per packet.
    ///
    /// A failing reader gives [`Error::Io`] (never a clean end); data FFmpeg cannot parse
    /// gives [`Error::Ffmpeg`].
    ///
    /// A packet FFmpeg flagged [corrupt](Packet::is_corrupt) is returned (and recorded in
    /// [`truncation`](Self::truncation)); in [strict](DemuxerOptions::strict) mode the
    /// read fails with [`Error::Truncated`] instead, leaving the packet in `packet`. At the
    /// end of the input the truncation checks run, and in strict mode a cut input gives
    /// [`Error::Truncated`] instead of `Ok(false)`.
    #[inline]
    pub fn read_packet_into(&mut self, packet: &mut Packet) -> Result<bool> {
        if self.concat.is_some() {
            return self.read_concat_into(packet);
        }
        let read = match self.peeked.take() {
            Some(mut peeked) => {
                std::mem::swap(packet, &mut peeked);
                Ok(true)
            }
            None => self.read_frame(packet),
        };
        let read = match read {
            Err(e) if self.is_partial_mov_end(&e) => {
                let fmt = self.fmt.0.as_ptr();
                // SAFETY: `fmt` is our open input, reading through `self.io`;
                // av_read_frame has returned.
                unsafe { self.watch.at_end(fmt, &mut self.io)? };
                if self.watch.found.is_none() {
                    return Err(e);
                }
                false
            }
            other => other?,
        };
        if !read {
            let fmt = self.fmt.0.as_ptr();
            // SAFETY: `fmt` is our open input, reading through `self.io`; av_read_frame
            // has returned.
            unsafe { self.watch.at_end(fmt, &mut self.io)? };
            if self.watch.found.is_none() {
                if let Some(cut) = self.logged_cut.take() {
                    self.watch.report(cut)?;
                }
            }
            return self.end_of_input();
        }
        self.check_corrupt(packet)?;
        Ok(true)
    }

    /// `true` for the error the mov demuxer returns on a non-seekable input when the
    /// input ended inside the media data: it logs "root atom offset …: partial file" (or
    /// "stream N, offset …: partial file") and returns `AVERROR_INVALIDDATA` once it has
    /// read everything, where a seekable input gives a plain end of file. When ffio has
    /// seen the truncation too (a sample cut short, the index past the end), that error
    /// is the end of a cut file: it is reported as such, as for seekable inputs (and as
    /// ffprobe does). The caller runs the end checks to find out.
    #[cold]
    fn is_partial_mov_end(&self, e: &Error) -> bool {
        let pb = self.io.as_ptr();
        // SAFETY: `pb` is our valid context and FFmpeg is not running; plain field reads.
        let clean_eof = unsafe { (*pb).eof_reached != 0 && (*pb).error == 0 };
        e.code() == Some(ffi::AVERROR_INVALIDDATA)
            && clean_eof
            && !self.io.is_seekable()
            && self.is_format("mov")
    }

    /// Reports what FFmpeg logged during the last read that says the input is cut: for
    /// Matroska, "File ended prematurely", the only sign of a cut live file (see
    /// [`truncation::truncation_from_log`]). The other formats' lines are left to the
    /// checks that see the same event with more precision (the packet's corrupt flag, the
    /// index): mov logs "partial file" also when an intact file merely needed a seek.
    #[cold]
    fn check_log(&mut self) -> Result<()> {
        if !self.is_format("matroska") {
            return Ok(());
        }
        let format = self.format_name().to_owned();
        let found: Vec<Truncation> = self
            .io
            .logged()
            .into_iter()
            .flatten()
            .filter_map(|(level, line)| truncation::truncation_from_log(&format, level, line))
            .collect();
        // Kept for the end of the input: the checks there know the offsets; this is what
        // is reported when they find nothing (a live file without a segment size).
        if self.logged_cut.is_none() {
            self.logged_cut = found.into_iter().next();
        }
        Ok(())
    }

    /// `av_read_frame` into `packet`; `Ok(false)` at the end.
    #[inline]
    fn read_frame(&mut self, packet: &mut Packet) -> Result<bool> {
        packet.clear_for_reuse();
        let fmt = self.fmt.0.as_ptr();
        let pkt = packet.as_mut_ptr();
        let read = self.io.call("av_read_frame", || {
            // SAFETY: `fmt` is an open input, `pkt` a valid blank packet av_read_frame fills.
            unsafe { ffi::av_read_frame(fmt, pkt) }
        });
        if self.io.logged().is_some() {
            self.check_log()?;
        }
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
        self.seek_interval(stream, i64::MIN, ts, ts)
    }

    /// `avformat_seek_file(stream, min, ts, max)`; `stream` is -1 or a checked index.
    pub(crate) fn seek_interval(&mut self, stream: i32, min: i64, ts: i64, max: i64) -> Result<()> {
        let fmt = self.fmt.0.as_ptr();
        if let Some(concat) = self.concat.as_deref_mut() {
            // SAFETY: `fmt` is the list's stream table, idle; the index was checked.
            unsafe { concat.seek(fmt, stream, (min, ts, max))? };
            self.watch.rearm();
            return Ok(());
        }
        // A seek restarts reading, so it may bring a demuxer whose reader failed back.
        // SAFETY: `fmt` is an open input; the stream index was checked (or is -1).
        self.io.call_recovering("avformat_seek_file", || unsafe {
            ffi::avformat_seek_file(fmt, stream, min, ts, max, 0)
        })?;
        // Reading restarts: the end may be reached again.
        self.peeked = None;
        self.watch.rearm();
        self.logged_cut = None;
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
        let Demuxer {
            concat,
            fmt,
            opener,
            io,
            ..
        } = self;
        drop(concat); // the parts, then
        drop(fmt); // the input, before the registry and the AVIOContext it reads through
        drop(opener);
        io.into_inner()
    }
}

/// The name (`AVFormatContext.url`, and the probe's file name) of an input opened with an
/// opener. It has no scheme and no directory, so names relative to it reach the opener
/// unchanged, and a playlist's extension: since FFmpeg 7 the hls demuxer is probed only
/// for names ending in `.m3u8` or `.m3u` ("Not detecting m3u8/hls with non standard
/// extension"). Other formats are probed by their content as before (an extension only
/// scores below any content match).
const INPUT_NAME: &std::ffi::CStr = c"ffio-input.m3u8";

/// Owns an input `AVFormatContext`: an open input, closed on drop, or a concat list's
/// stream table, never opened, freed on drop.
struct InputContext(NonNull<ffi::AVFormatContext>, Kind);

/// What an [`InputContext`] holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An input `avformat_open_input` opened.
    Open,
    /// The streams of a concat list ffio reads itself: a context never opened.
    Table,
}

impl Drop for InputContext {
    fn drop(&mut self) {
        let mut raw = self.0.as_ptr();
        if self.1 == Kind::Table {
            // SAFETY: we own the never-opened context; it has no `pb` and no `priv_data`,
            // so avformat_free_context frees its streams, chapters and options only.
            unsafe { ffi::avformat_free_context(raw) };
            return;
        }
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

    /// `Err(InvalidOption)` unless `key` is not a format-context option: options given for
    /// one demuxer reach `avformat_open_input`, which would apply format-context ones
    /// after ffio (an `fflags` there could take the custom I/O away from ffio).
    fn check_private_option(&self, key: &str, value: &str) -> Result<()> {
        let name = c_string(key, "option name")?;
        // SAFETY: `self.0` is a valid context with its AVClass; `name` a valid C string.
        let found = unsafe { ffi::av_opt_find(self.0.cast(), name.as_ptr(), ptr::null(), 0, 0) };
        if !found.is_null() {
            return Err(Error::InvalidOption {
                key: key.to_owned(),
                value: value.to_owned(),
                message: "a format-context option, not a demuxer's: give it with option()".into(),
            });
        }
        Ok(())
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

    /// Makes the context a concat list's stream table, owned (and freed) by the result.
    fn into_table(self) -> InputContext {
        let raw = NonNull::new(self.release()).expect("a pending context is never null");
        InputContext(raw, Kind::Table)
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

/// Where the Matroska segment of the input behind `pb` ends, when `format` is matroska and
/// `pb`'s buffer still holds the input's first bytes.
///
/// # Safety
/// `format` must be null or a valid input format description, `pb` a valid reading
/// context, and FFmpeg must not be running.
unsafe fn matroska_segment_end(
    format: *const ffi::AVInputFormat,
    pb: *const ffi::AVIOContext,
) -> Option<u64> {
    // SAFETY: per the contract; FFmpeg's names are static C strings.
    let name = unsafe { CStr::from_ptr(format.as_ref()?.name) };
    if !name
        .to_bytes()
        .split(|&b| b == b',')
        .any(|n| n == b"matroska")
    {
        return None;
    }
    // SAFETY: per the contract; the slice does not outlive this call.
    truncation::matroska_segment_end(unsafe { truncation::buffered_head(pb) }?)
}

/// Feeds the MP4 box walk with what `pb` has buffered, when `format` is mov.
///
/// # Safety
/// As [`matroska_segment_end`].
unsafe fn walk_mov_boxes(
    watch: &mut Watch,
    format: *const ffi::AVInputFormat,
    pb: *const ffi::AVIOContext,
) {
    // SAFETY: per the contract; FFmpeg's names are static C strings.
    let Some(format) = (unsafe { format.as_ref() }) else {
        return;
    };
    // SAFETY: as above.
    let name = unsafe { CStr::from_ptr(format.name) };
    if !name.to_bytes().split(|&b| b == b',').any(|n| n == b"mov") {
        return;
    }
    // SAFETY: per the contract; the slice does not outlive this call.
    if let Some((start, bytes)) = unsafe { truncation::buffered_window(pb) } {
        watch
            .boxes
            .get_or_insert_with(Default::default)
            .feed(start, bytes);
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
