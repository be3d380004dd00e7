//! Stream descriptions shared by the demuxer and the muxer: [`Stream`], [`MediaType`],
//! [`Rational`].

use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;

use ffmpeg_sys_next as ffi;

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

    pub(crate) fn codecpar(&self) -> *const ffi::AVCodecParameters {
        self.raw.codecpar
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
