//! Stream descriptions shared by the demuxer and the muxer: [`Stream`], [`MediaType`],
//! [`Rational`].

use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::c_int;
use std::time::Duration;

use ffmpeg_sys_next as ffi;

use crate::metadata::{Disposition, Tags};
use crate::properties::{
    ChromaLocation, ColorPrimaries, ColorRange, ColorSpace, ColorTransfer, FieldOrder, PixelFormat,
    Profile, SampleFormat, Timestamp,
};
use crate::side_data::{DisplayMatrix, SideData};

/// A rational number, as FFmpeg uses for time bases and frame rates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    /// Numerator.
    pub num: i32,
    /// Denominator.
    pub den: i32,
}

impl Rational {
    /// `num / den`.
    pub const fn new(num: i32, den: i32) -> Self {
        Rational { num, den }
    }

    /// The value as `f64` (`NaN` when the denominator is 0).
    pub fn as_f64(self) -> f64 {
        if self.den == 0 {
            f64::NAN
        } else {
            f64::from(self.num) / f64::from(self.den)
        }
    }

    /// `None` for FFmpeg's "unknown" value `0/0` (or any zero denominator).
    pub(crate) fn known(self) -> Option<Self> {
        (self.den != 0 && self.num != 0).then_some(self)
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

impl From<ffi::AVRational> for Rational {
    fn from(r: ffi::AVRational) -> Self {
        Rational {
            num: r.num,
            den: r.den,
        }
    }
}

impl From<Rational> for ffi::AVRational {
    fn from(r: Rational) -> Self {
        ffi::AVRational {
            num: r.num,
            den: r.den,
        }
    }
}

/// What kind of data a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// Video.
    Video,
    /// Audio.
    Audio,
    /// Subtitles.
    Subtitle,
    /// Opaque data (timed metadata, …).
    Data,
    /// Attachments (fonts in Matroska, …).
    Attachment,
    /// FFmpeg does not know.
    Unknown,
}

impl MediaType {
    pub(crate) fn from_raw(t: ffi::AVMediaType) -> Self {
        match t {
            ffi::AVMediaType::AVMEDIA_TYPE_VIDEO => MediaType::Video,
            ffi::AVMediaType::AVMEDIA_TYPE_AUDIO => MediaType::Audio,
            ffi::AVMediaType::AVMEDIA_TYPE_SUBTITLE => MediaType::Subtitle,
            ffi::AVMediaType::AVMEDIA_TYPE_DATA => MediaType::Data,
            ffi::AVMediaType::AVMEDIA_TYPE_ATTACHMENT => MediaType::Attachment,
            _ => MediaType::Unknown,
        }
    }

    /// The lowercase name FFmpeg uses (`"video"`, `"audio"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Video => "video",
            MediaType::Audio => "audio",
            MediaType::Subtitle => "subtitle",
            MediaType::Data => "data",
            MediaType::Attachment => "attachment",
            MediaType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stream `index` of a format context, if it has one.
///
/// # Safety
/// `fmt` must be a valid, open format context whose streams stay valid and unchanged while
/// it is borrowed (its owner hands out `&` only while no FFmpeg call runs on it).
pub(crate) unsafe fn stream_at(fmt: &ffi::AVFormatContext, index: usize) -> Option<Stream<'_>> {
    if index >= fmt.nb_streams as usize {
        return None;
    }
    // SAFETY: `streams` holds `nb_streams` valid stream pointers and `index` is below that;
    // per the contract they outlive the borrow of `fmt`.
    Some(unsafe { Stream::from_raw(*fmt.streams.add(index)) })
}

/// A view of one stream of a [`Demuxer`](crate::Demuxer) or [`Muxer`](crate::Muxer),
/// borrowed from it.
#[derive(Clone, Copy)]
pub struct Stream<'a> {
    raw: &'a ffi::AVStream,
    _owner: PhantomData<&'a ()>,
}

impl<'a> Stream<'a> {
    /// # Safety
    /// `raw` must point to a valid `AVStream` with valid `codecpar`, both unchanged for `'a`.
    pub(crate) unsafe fn from_raw(raw: *const ffi::AVStream) -> Self {
        Stream {
            // SAFETY: per the contract above.
            raw: unsafe { &*raw },
            _owner: PhantomData,
        }
    }

    fn par(&self) -> &'a ffi::AVCodecParameters {
        // SAFETY: every AVStream of an open format context has codecpar allocated (by
        // avformat_new_stream), valid as long as the stream.
        unsafe { &*self.raw.codecpar }
    }

    /// The stream's index in its container.
    pub fn index(&self) -> usize {
        usize::try_from(self.raw.index).unwrap_or(0)
    }

    /// Video, audio, …
    pub fn media_type(&self) -> MediaType {
        MediaType::from_raw(self.par().codec_type)
    }

    /// FFmpeg's short codec name (`"h264"`, `"aac"`, …; `"none"` if unknown).
    pub fn codec_name(&self) -> &'static str {
        // SAFETY: avcodec_get_name accepts any codec id and returns a static string.
        let name = unsafe { CStr::from_ptr(ffi::avcodec_get_name(self.par().codec_id)) };
        name.to_str().unwrap_or("unknown")
    }

    /// The codec id, for comparing with `ffmpeg_sys_next::AVCodecID` values.
    pub fn codec_id(&self) -> ffi::AVCodecID {
        self.par().codec_id
    }

    /// The time base of the stream's timestamps.
    pub fn time_base(&self) -> Rational {
        self.raw.time_base.into()
    }

    /// Average frame rate, if known.
    pub fn frame_rate(&self) -> Option<Rational> {
        Rational::from(self.raw.avg_frame_rate).known()
    }

    /// The lowest frame rate that represents all timestamps exactly (`r_frame_rate`).
    pub fn real_frame_rate(&self) -> Option<Rational> {
        Rational::from(self.raw.r_frame_rate).known()
    }

    /// Duration in [`time_base`](Self::time_base) units, if known.
    pub fn duration(&self) -> Option<i64> {
        (self.raw.duration != ffi::AV_NOPTS_VALUE).then_some(self.raw.duration)
    }

    /// Number of frames, if the container says.
    pub fn frames(&self) -> Option<u64> {
        u64::try_from(self.raw.nb_frames).ok().filter(|&n| n > 0)
    }

    /// Width in pixels (video).
    pub fn width(&self) -> Option<u32> {
        u32::try_from(self.par().width).ok().filter(|&n| n > 0)
    }

    /// Height in pixels (video).
    pub fn height(&self) -> Option<u32> {
        u32::try_from(self.par().height).ok().filter(|&n| n > 0)
    }

    /// Sample rate in Hz (audio).
    pub fn sample_rate(&self) -> Option<u32> {
        u32::try_from(self.par().sample_rate)
            .ok()
            .filter(|&n| n > 0)
    }

    /// Number of audio channels (audio).
    pub fn channels(&self) -> Option<u32> {
        u32::try_from(self.par().ch_layout.nb_channels)
            .ok()
            .filter(|&n| n > 0)
    }

    /// Bit rate in bits per second, if known.
    pub fn bit_rate(&self) -> Option<u64> {
        u64::try_from(self.par().bit_rate).ok().filter(|&n| n > 0)
    }

    /// The `AVStream` this view reads, for FFmpeg calls ffio does not wrap.
    ///
    /// The pointer is valid while the borrow of the demuxer or muxer lasts. Read through
    /// it only: do not write its fields, free it or anything it points to, or keep it past
    /// the borrow; FFmpeg changes the stream only during ffio calls that take `&mut`. See
    /// [raw access](crate#raw-access) for the rules of every raw pointer ffio hands out.
    pub fn as_ptr(&self) -> *const ffi::AVStream {
        self.raw
    }

    /// The stream's `AVCodecParameters`, e.g. for `avcodec_parameters_to_context` when
    /// opening a decoder. Same rules as [`as_ptr`](Self::as_ptr): read only, valid while
    /// the borrow lasts.
    ///
    /// ```
    /// # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
    /// use ffio::sys;
    /// let demuxer = ffio::Demuxer::from_slice(&bytes)?;
    /// let video = demuxer.stream(0).unwrap();
    /// // SAFETY: the parameters are valid while `video` borrows the demuxer, and
    /// // avcodec_parameters_to_context only reads them.
    /// unsafe {
    ///     let codec = sys::avcodec_find_decoder((*video.codecpar_ptr()).codec_id);
    ///     let mut ctx = sys::avcodec_alloc_context3(codec);
    ///     assert!(sys::avcodec_parameters_to_context(ctx, video.codecpar_ptr()) >= 0);
    ///     assert!(sys::avcodec_open2(ctx, codec, std::ptr::null_mut()) >= 0);
    ///     sys::avcodec_free_context(&mut ctx);
    /// }
    /// # Ok::<(), ffio::Error>(())
    /// ```
    pub fn codecpar_ptr(&self) -> *const ffi::AVCodecParameters {
        self.raw.codecpar
    }

    pub(crate) fn codecpar(&self) -> *const ffi::AVCodecParameters {
        self.raw.codecpar
    }
}

/// Reads a C-enum field of a stream's codec parameters as the `int` it is in C, without
/// forming a Rust enum (which a value unknown to the bindings would make invalid).
macro_rules! par_int {
    ($stream:expr, $field:ident) => {{
        let par = $stream.raw.codecpar;
        // SAFETY: `par` is the stream's valid codecpar (see `Stream::par`); the field is a C
        // enum, an `int` in memory (checked by `int_sized`), read through a raw pointer.
        unsafe {
            let field = std::ptr::addr_of!((*par).$field);
            int_sized(field);
            field.cast::<c_int>().read()
        }
    }};
}

/// Panics unless `T` has the size of a C `int` (a C enum); a no-op once compiled.
fn int_sized<T>(_: *const T) {
    assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<c_int>());
}

/// Metadata: what `ffprobe -show_streams` reports. Every accessor reads the stream's
/// `AVStream` and `AVCodecParameters` as FFmpeg filled them at open (after stream
/// discovery, if it ran) and as packets read since may have updated them.
impl<'a> Stream<'a> {
    /// FFmpeg's descriptive codec name, e.g. `"H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10"`
    /// (`avcodec_descriptor_get`). `None` when FFmpeg has no descriptor for the codec
    /// (a timecode track, an unknown codec), where `ffprobe` prints no codec name at all.
    pub fn codec_long_name(&self) -> Option<&'static str> {
        // SAFETY: avcodec_descriptor_get accepts any codec id and returns null or a static
        // descriptor whose names are static C strings (long_name may be null).
        unsafe {
            let desc = ffi::avcodec_descriptor_get(self.par().codec_id).as_ref()?;
            if desc.long_name.is_null() {
                return Some("unknown");
            }
            CStr::from_ptr(desc.long_name).to_str().ok()
        }
    }

    /// The codec tag: the container's FourCC for the codec (`avc1`, `hvc1`, `hev1`, …) as
    /// a little-endian number, 0 if the container has none (`AVCodecParameters.codec_tag`).
    pub fn codec_tag(&self) -> u32 {
        self.par().codec_tag
    }

    /// The codec tag as `ffprobe` prints it (`av_fourcc_make_string`): `"hvc1"`, with
    /// unprintable bytes as `[N]` (`"[0][0][0][0]"` for none).
    pub fn codec_tag_string(&self) -> String {
        let mut buf = [0u8; ffi::AV_FOURCC_MAX_STRING_SIZE as usize];
        // SAFETY: `buf` has the AV_FOURCC_MAX_STRING_SIZE bytes av_fourcc_make_string
        // writes at most, NUL included.
        unsafe { ffi::av_fourcc_make_string(buf.as_mut_ptr().cast(), self.codec_tag()) };
        CStr::from_bytes_until_nul(&buf)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// How many frames a video decoder must hold back before output (B-frame reordering
    /// delay, `AVCodecParameters.video_delay`; what `ffprobe` prints as `has_b_frames`).
    pub fn video_delay(&self) -> u32 {
        u32::try_from(self.par().video_delay).unwrap_or(0)
    }

    /// The codec profile, e.g. H.264 `High`, HEVC `Main 10`; `None` if unknown.
    pub fn profile(&self) -> Option<Profile> {
        Profile::new(self.par().codec_id, self.par().profile)
    }

    /// The codec level (H.264 `31` for 3.1, HEVC `93` for 3.1, …); `None` if unknown
    /// (FFmpeg's `-99`, which `ffprobe` prints as is).
    pub fn level(&self) -> Option<i32> {
        Some(self.par().level).filter(|&level| level != -99)
    }

    /// The pixel format of a video stream, e.g. `yuv420p` (`av_get_pix_fmt_name`).
    pub fn pixel_format(&self) -> Option<PixelFormat> {
        if self.media_type() != MediaType::Video {
            return None;
        }
        PixelFormat::from_raw(self.par().format)
    }

    /// The sample format of an audio stream, e.g. `fltp` (`av_get_sample_fmt_name`).
    pub fn sample_format(&self) -> Option<SampleFormat> {
        if self.media_type() != MediaType::Audio {
            return None;
        }
        SampleFormat::from_raw(self.par().format)
    }

    /// The channel layout of an audio stream as FFmpeg describes it
    /// (`av_channel_layout_describe`): `"mono"`, `"stereo"`, `"5.1(side)"`, `"2 channels"`
    /// for an unnamed native layout, … `None` if FFmpeg does not know the order of the
    /// channels (`AV_CHANNEL_ORDER_UNSPEC`); [`channels`](Self::channels) still counts them.
    pub fn channel_layout(&self) -> Option<String> {
        if self.media_type() != MediaType::Audio {
            return None;
        }
        let layout = &self.par().ch_layout;
        // AV_CHANNEL_ORDER_UNSPEC is 0; read the enum as the int it is.
        // SAFETY: `order` is a C enum field of a valid layout, read through a raw pointer.
        let order = unsafe {
            let field = std::ptr::addr_of!(layout.order);
            int_sized(field);
            field.cast::<c_int>().read()
        };
        if order == 0 {
            return None;
        }
        let mut buf = vec![0u8; 128];
        loop {
            // SAFETY: `layout` is a valid channel layout; `buf` is writable for its length;
            // the function writes a NUL-terminated (possibly truncated) description and
            // returns the size it needed including the NUL, or a negative AVERROR.
            let needed = unsafe {
                ffi::av_channel_layout_describe(layout, buf.as_mut_ptr().cast(), buf.len())
            };
            let needed = usize::try_from(needed).ok()?;
            if needed <= buf.len() {
                let text = CStr::from_bytes_until_nul(&buf).ok()?;
                return Some(text.to_string_lossy().into_owned());
            }
            buf.resize(needed, 0);
        }
    }

    /// The sample aspect ratio (the shape of a pixel), as FFmpeg guesses it from the
    /// container and the codec (`av_guess_sample_aspect_ratio`, what `ffprobe` prints);
    /// `None` if unknown.
    pub fn sample_aspect_ratio(&self) -> Option<Rational> {
        let stream = (self.raw as *const ffi::AVStream).cast_mut();
        // SAFETY: av_guess_sample_aspect_ratio only reads the stream's and its codecpar's
        // aspect ratios (it takes a non-const pointer but writes nothing); the format
        // context and frame may be null.
        let sar = unsafe {
            ffi::av_guess_sample_aspect_ratio(std::ptr::null_mut(), stream, std::ptr::null_mut())
        };
        (sar.num != 0).then(|| sar.into())
    }

    /// The display aspect ratio: width × sample aspect ratio over height, reduced as
    /// `ffprobe` reduces it (`av_reduce`, terms up to 1024×1024). `None` when the sample
    /// aspect ratio is unknown.
    pub fn display_aspect_ratio(&self) -> Option<Rational> {
        let sar = self.sample_aspect_ratio()?;
        let (mut num, mut den) = (0, 0);
        let par = self.par();
        // SAFETY: av_reduce writes the two ints it is given and reads nothing else.
        unsafe {
            ffi::av_reduce(
                &mut num,
                &mut den,
                i64::from(par.width) * i64::from(sar.num),
                i64::from(par.height) * i64::from(sar.den),
                1024 * 1024,
            );
        }
        Some(Rational::new(num, den))
    }

    /// Whether the video uses the limited (`tv`) or full (`pc`) range; `None` if
    /// unspecified.
    pub fn color_range(&self) -> Option<ColorRange> {
        ColorRange::from_raw(par_int!(self, color_range))
    }

    /// The colour space (YUV matrix), e.g. `bt709`, `bt2020nc`; `None` if unspecified.
    pub fn color_space(&self) -> Option<ColorSpace> {
        ColorSpace::from_raw(par_int!(self, color_space))
    }

    /// The colour primaries, e.g. `bt709`, `bt2020`; `None` if unspecified.
    pub fn color_primaries(&self) -> Option<ColorPrimaries> {
        ColorPrimaries::from_raw(par_int!(self, color_primaries))
    }

    /// The transfer characteristic, e.g. `bt709`, `smpte2084` (PQ); `None` if unspecified.
    pub fn color_transfer(&self) -> Option<ColorTransfer> {
        ColorTransfer::from_raw(par_int!(self, color_trc))
    }

    /// Where chroma samples sit, e.g. `left`; `None` if unspecified.
    pub fn chroma_location(&self) -> Option<ChromaLocation> {
        ChromaLocation::from_raw(par_int!(self, chroma_location))
    }

    /// Progressive or interlaced, and which field comes first; `None` if unknown.
    pub fn field_order(&self) -> Option<FieldOrder> {
        FieldOrder::from_raw(par_int!(self, field_order))
    }

    /// `AVStream.avg_frame_rate` as stored: `0/0` when unknown. See
    /// [`frame_rate`](Self::frame_rate) for an `Option`.
    pub fn avg_frame_rate(&self) -> Rational {
        self.raw.avg_frame_rate.into()
    }

    /// `AVStream.r_frame_rate` as stored: `0/0` when unknown. See
    /// [`real_frame_rate`](Self::real_frame_rate) for an `Option`.
    pub fn r_frame_rate(&self) -> Rational {
        self.raw.r_frame_rate.into()
    }

    /// The timestamp of the stream's first frame, in its time base, if known. It can be
    /// negative.
    pub fn start_time(&self) -> Option<Timestamp> {
        (self.raw.start_time != ffi::AV_NOPTS_VALUE).then(|| Timestamp {
            pts: self.raw.start_time,
            time_base: self.time_base(),
        })
    }

    /// The stream's duration as a `Duration`, if known; [`duration`](Self::duration) is
    /// the same in time-base units.
    pub fn duration_time(&self) -> Option<Duration> {
        Timestamp {
            pts: self.duration()?,
            time_base: self.time_base(),
        }
        .to_duration()
    }

    /// The codec's out-of-band configuration (`AVCodecParameters.extradata`: an H.264
    /// `avcC` record, AAC's AudioSpecificConfig, …); empty if there is none.
    pub fn extradata(&self) -> &'a [u8] {
        let par = self.par();
        // SAFETY: codecpar owns `extradata_size` bytes at `extradata` (or null with 0),
        // unchanged while the stream is borrowed; the helper rejects negative sizes.
        unsafe { crate::io::buffer_ref(par.extradata, par.extradata_size) }.unwrap_or(&[])
    }

    /// The stream's metadata tags (`AVStream.metadata`): `language`, `title`,
    /// `handler_name`, `encoder`, …
    pub fn tags(&self) -> Tags<'a> {
        // SAFETY: the dictionary is null or owned by the stream, unchanged for `'a`.
        unsafe { Tags::from_raw(self.raw.metadata) }
    }

    /// The `language` tag (ISO 639-2, e.g. `"eng"`, `"deu"`; `"und"` means undetermined),
    /// if there is one.
    pub fn language(&self) -> Option<Cow<'a, str>> {
        self.tags().get("language")
    }

    /// The stream's disposition: default track, attached picture, forced, …
    pub fn disposition(&self) -> Disposition {
        Disposition::from_bits(u32::from_ne_bytes(self.raw.disposition.to_ne_bytes()))
    }

    /// The stream's side data entries, in FFmpeg's order (`ffprobe` prints them as the
    /// stream's `side_data_list`).
    pub fn side_data(&self) -> impl Iterator<Item = SideData<'a>> + 'a {
        crate::side_data::side_data(self.raw)
    }

    /// The display matrix, for video that is to be rotated or flipped when shown.
    pub fn display_matrix(&self) -> Option<DisplayMatrix> {
        self.side_data().find_map(|sd| sd.display_matrix())
    }

    /// The rotation to apply for display, in degrees counter-clockwise, from the display
    /// matrix (`av_display_rotation_get`; `ffprobe` prints it as `rotation` in the stream's
    /// `side_data_list`): `-90` for a typical upright phone video. `None` without a matrix.
    pub fn rotation(&self) -> Option<f64> {
        self.display_matrix()?.rotation()
    }
}

impl fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("index", &self.index())
            .field("media_type", &self.media_type())
            .field("codec", &self.codec_name())
            .field("time_base", &self.time_base())
            .finish_non_exhaustive()
    }
}
