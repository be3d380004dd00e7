//! Typed codec properties of a stream, as FFmpeg names them: [`PixelFormat`],
//! [`SampleFormat`], [`ColorRange`], [`ColorSpace`], [`ColorPrimaries`],
//! [`ColorTransfer`], [`ChromaLocation`], [`FieldOrder`], [`Profile`], and [`Timestamp`].
//!
//! The FFmpeg enumerations grow with every release (new pixel formats, transfer
//! characteristics, …), so most types here wrap FFmpeg's own integer value rather than
//! list the variants: whatever the installed FFmpeg knows, [`name`](PixelFormat::name)
//! gives FFmpeg's name for it (`av_get_pix_fmt_name`, `av_color_range_name`, …), the
//! name `ffprobe` prints. A value FFmpeg calls unknown or unspecified is `None` at the
//! accessor ([`Stream::pixel_format`](crate::Stream::pixel_format) and friends), so a
//! value of these types always has a name.
//!
//! The values are read from `AVCodecParameters` as plain integers, never as Rust enums:
//! a demuxer may store a value this build's bindings do not list.

use std::ffi::CStr;
use std::fmt;
use std::os::raw::{c_char, c_int};

use ffmpeg_sys_next as ffi;

use crate::stream::Rational;

/// FFmpeg's name functions, declared with the `int` their enum parameter is at the C ABI,
/// so that a value unknown to the Rust bindings can be passed without forging a Rust enum.
mod names {
    use std::os::raw::{c_char, c_int};

    extern "C" {
        pub(super) fn av_get_pix_fmt_name(pix_fmt: c_int) -> *const c_char;
        pub(super) fn av_get_sample_fmt_name(sample_fmt: c_int) -> *const c_char;
        pub(super) fn av_color_range_name(range: c_int) -> *const c_char;
        pub(super) fn av_color_space_name(space: c_int) -> *const c_char;
        pub(super) fn av_color_primaries_name(primaries: c_int) -> *const c_char;
        pub(super) fn av_color_transfer_name(transfer: c_int) -> *const c_char;
        pub(super) fn av_chroma_location_name(location: c_int) -> *const c_char;
    }
}

/// A static C string from one of FFmpeg's name functions, `None` for null.
fn static_name(name: *const c_char) -> Option<&'static str> {
    if name.is_null() {
        return None;
    }
    // SAFETY: FFmpeg's name functions return null or a pointer into a static table of
    // NUL-terminated ASCII names, valid for the life of the process.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

macro_rules! named_value {
    (
        $(#[$doc:meta])*
        $name:ident, $lookup:ident, unspecified: $unspecified:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            raw: c_int,
            name: &'static str,
        }

        impl $name {
            /// The value for FFmpeg's integer `raw`: `None` if FFmpeg calls it unknown or
            /// unspecified, or has no name for it.
            pub fn from_raw(raw: c_int) -> Option<Self> {
                if raw == $unspecified {
                    return None;
                }
                // SAFETY: the name function takes any int (the C enum parameter) and
                // returns null for values it does not know.
                let name = static_name(unsafe { names::$lookup(raw) })?;
                Some($name { raw, name })
            }

            /// FFmpeg's integer value (of the C enum of the same name).
            pub fn as_raw(self) -> c_int {
                self.raw
            }

            /// FFmpeg's name for the value, as `ffprobe` prints it.
            pub fn name(self) -> &'static str {
                self.name
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.name)
            }
        }
    };
}

named_value! {
    /// A video stream's pixel format (`AVPixelFormat`), e.g. `yuv420p`, `yuv420p10le`;
    /// named by `av_get_pix_fmt_name`.
    PixelFormat, av_get_pix_fmt_name, unspecified: -1
}

named_value! {
    /// An audio stream's sample format (`AVSampleFormat`), e.g. `fltp`, `s16`; named by
    /// `av_get_sample_fmt_name`.
    SampleFormat, av_get_sample_fmt_name, unspecified: -1
}

named_value! {
    /// Whether video samples use the full range or the limited ("TV", MPEG) range
    /// (`AVColorRange`): `tv` or `pc`; named by `av_color_range_name`.
    ColorRange, av_color_range_name, unspecified: 0
}

named_value! {
    /// The YUV/RGB conversion matrix (`AVColorSpace`), e.g. `bt709`, `bt2020nc`; named by
    /// `av_color_space_name`.
    ColorSpace, av_color_space_name, unspecified: 2
}

named_value! {
    /// The colour primaries (`AVColorPrimaries`), e.g. `bt709`, `bt2020`; named by
    /// `av_color_primaries_name`.
    ColorPrimaries, av_color_primaries_name, unspecified: 2
}

named_value! {
    /// The transfer characteristic (`AVColorTransferCharacteristic`), e.g. `bt709`,
    /// `smpte2084` (PQ, HDR10), `arib-std-b67` (HLG); named by `av_color_transfer_name`.
    ColorTransfer, av_color_transfer_name, unspecified: 2
}

named_value! {
    /// Where chroma samples sit relative to luma (`AVChromaLocation`), e.g. `left`,
    /// `topleft`; named by `av_chroma_location_name`.
    ChromaLocation, av_chroma_location_name, unspecified: 0
}

impl ColorRange {
    /// Limited ("TV", MPEG) range: `tv`.
    pub fn is_limited(self) -> bool {
        self.raw == 1
    }

    /// Full ("PC", JPEG) range: `pc`.
    pub fn is_full(self) -> bool {
        self.raw == 2
    }
}

/// How the fields of interlaced video are stored (`AVFieldOrder`), or that it is
/// progressive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOrder {
    /// Progressive (not interlaced).
    Progressive,
    /// Interlaced, top field coded and displayed first (`tt`).
    TopFirst,
    /// Interlaced, bottom field coded and displayed first (`bb`).
    BottomFirst,
    /// Interlaced, top field coded first, bottom displayed first (`tb`).
    TopCodedBottomFirst,
    /// Interlaced, bottom field coded first, top displayed first (`bt`).
    BottomCodedTopFirst,
}

impl FieldOrder {
    /// The field order for FFmpeg's integer value; `None` for `AV_FIELD_UNKNOWN` or a
    /// value this version of ffio does not know.
    pub fn from_raw(raw: c_int) -> Option<Self> {
        match raw {
            1 => Some(FieldOrder::Progressive),
            2 => Some(FieldOrder::TopFirst),
            3 => Some(FieldOrder::BottomFirst),
            4 => Some(FieldOrder::TopCodedBottomFirst),
            5 => Some(FieldOrder::BottomCodedTopFirst),
            _ => None,
        }
    }

    /// The name `ffprobe` prints: `progressive`, `tt`, `bb`, `tb` or `bt`.
    pub fn name(self) -> &'static str {
        match self {
            FieldOrder::Progressive => "progressive",
            FieldOrder::TopFirst => "tt",
            FieldOrder::BottomFirst => "bb",
            FieldOrder::TopCodedBottomFirst => "tb",
            FieldOrder::BottomCodedTopFirst => "bt",
        }
    }

    /// `true` for every order but [`Progressive`](FieldOrder::Progressive).
    pub fn is_interlaced(self) -> bool {
        self != FieldOrder::Progressive
    }
}

impl fmt::Display for FieldOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// FFmpeg's "unknown profile" (`AV_PROFILE_UNKNOWN`, formerly `FF_PROFILE_UNKNOWN`).
pub(crate) const PROFILE_UNKNOWN: c_int = -99;

/// A codec profile, e.g. H.264 `High`, HEVC `Main 10`, AAC `LC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Profile {
    id: c_int,
    name: Option<&'static str>,
}

impl Profile {
    /// The profile `id` of codec `codec`, named by `avcodec_profile_name`; `None` for
    /// FFmpeg's unknown profile.
    pub(crate) fn new(codec: ffi::AVCodecID, id: c_int) -> Option<Self> {
        if id == PROFILE_UNKNOWN {
            return None;
        }
        // SAFETY: avcodec_profile_name accepts any codec id and profile number and returns
        // null or a static name.
        let name = static_name(unsafe { ffi::avcodec_profile_name(codec, id) });
        Some(Profile { id, name })
    }

    /// The codec-specific profile number (`AVCodecParameters.profile`).
    pub fn id(self) -> c_int {
        self.id
    }

    /// FFmpeg's name for the profile, if it has one (`avcodec_profile_name`).
    pub fn name(self) -> Option<&'static str> {
        self.name
    }
}

impl fmt::Display for Profile {
    /// What `ffprobe` prints: the name, or the number if FFmpeg has no name for it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.id),
        }
    }
}

/// A point in time in a stream's time base: `pts × time_base` seconds. Unlike
/// [`std::time::Duration`] it can be negative (an MP4 edit list can start a stream before
/// zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// The value in `time_base` units.
    pub pts: i64,
    /// The unit of `pts`, in seconds.
    pub time_base: Rational,
}

impl Timestamp {
    /// The timestamp in seconds, computed as FFmpeg does (`pts * av_q2d(time_base)`).
    pub fn as_secs_f64(self) -> f64 {
        self.pts as f64 * self.time_base.as_f64()
    }

    /// The timestamp as a `Duration` from zero; `None` if it is negative or the time base
    /// is not positive.
    pub fn to_duration(self) -> Option<std::time::Duration> {
        let (num, den) = (
            i128::from(self.time_base.num),
            i128::from(self.time_base.den),
        );
        if self.pts < 0 || num < 0 || den <= 0 {
            return None;
        }
        let nanos = i128::from(self.pts) * num * 1_000_000_000 / den;
        let nanos = u64::try_from(nanos).ok()?;
        Some(std::time::Duration::from_nanos(nanos))
    }
}

impl fmt::Display for Timestamp {
    /// Seconds with six decimals, as `ffprobe` prints times (`"1.480000"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}", self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_values_are_none_and_known_ones_named_by_ffmpeg() {
        assert_eq!(ColorRange::from_raw(0), None);
        assert_eq!(ColorRange::from_raw(1).map(ColorRange::name), Some("tv"));
        assert_eq!(ColorPrimaries::from_raw(2), None);
        assert_eq!(
            ColorPrimaries::from_raw(9).map(|p| p.name()),
            Some("bt2020")
        );
        assert_eq!(PixelFormat::from_raw(-1), None);
        assert_eq!(PixelFormat::from_raw(0).map(|p| p.name()), Some("yuv420p"));
        // A value no FFmpeg names is None, not a made-up name.
        assert_eq!(ColorTransfer::from_raw(12345), None);
        assert_eq!(FieldOrder::from_raw(0), None);
        assert_eq!(FieldOrder::from_raw(2).map(FieldOrder::name), Some("tt"));
    }

    #[test]
    fn timestamps_print_like_ffprobe_and_convert_exactly() {
        let t = Timestamp {
            pts: -1024,
            time_base: Rational::new(1, 44100),
        };
        assert_eq!(t.to_string(), "-0.023220");
        assert_eq!(t.to_duration(), None);
        let t = Timestamp {
            pts: 12800,
            time_base: Rational::new(1, 12800),
        };
        assert_eq!(t.to_string(), "1.000000");
        assert_eq!(t.to_duration(), Some(std::time::Duration::from_secs(1)));
    }
}
