//! Stream and packet side data ([`SideData`]): the [`DisplayMatrix`] that says how to
//! rotate or flip a video for display (phone videos are stored landscape and rotated by
//! it), the [`CpbProperties`] of MPEG-2 and H.264, a packet's [`SkipSamples`] (encoder
//! delay and padding) and MPEG-TS stream id, and whatever else FFmpeg attaches.
//!
//! Where FFmpeg keeps a stream's side data changed in FFmpeg 6.1: before, in
//! `AVStream.side_data` (deprecated in 6.1, removed in 7.0); since, in
//! `AVCodecParameters.coded_side_data`. Both are arrays of `AVPacketSideData`; `build.rs`
//! turns the version into `cfg(ffio_ffmpeg_6_1)`.

use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

use ffmpeg_sys_next as ffi;

/// A 3×3 transformation matrix for displaying a video (`AV_PKT_DATA_DISPLAYMATRIX`), in
/// FFmpeg's layout: row-major, 16.16 fixed point except the last column (2.30).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DisplayMatrix([i32; 9]);

impl DisplayMatrix {
    /// The nine values, row by row, as stored.
    pub fn values(&self) -> [i32; 9] {
        self.0
    }

    /// The rotation in degrees, counter-clockwise, in `[-180, 180]`, as FFmpeg computes it
    /// (`av_display_rotation_get`) and `ffprobe` prints it (`rotation`: a phone video held
    /// upright is typically `-90`). `None` if the matrix does not describe a rotation
    /// (FFmpeg returns NaN for a degenerate one).
    pub fn rotation(&self) -> Option<f64> {
        // SAFETY: av_display_rotation_get reads exactly nine int32 values; `self.0` has them.
        let degrees = unsafe { ffi::av_display_rotation_get(self.0.as_ptr()) };
        (!degrees.is_nan()).then_some(degrees)
    }
}

impl fmt::Debug for DisplayMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisplayMatrix")
            .field("values", &self.0)
            .field("rotation", &self.rotation())
            .finish()
    }
}

/// One entry of a stream's or a packet's side data (`AVPacketSideData`): a typed blob
/// FFmpeg attaches to the stream (a display matrix, CPB properties, HDR mastering
/// metadata) or to one packet (samples to skip, the MPEG-TS stream id, new extradata).
#[derive(Clone, Copy)]
pub struct SideData<'a> {
    kind: c_int,
    data: &'a [u8],
}

impl<'a> SideData<'a> {
    /// FFmpeg's name for the type, as `ffprobe` prints it as `side_data_type`
    /// (`av_packet_side_data_name`: `"Display Matrix"`, `"CPB properties"`, …), or
    /// `"unknown"`.
    pub fn name(&self) -> &'static str {
        // SAFETY: av_packet_side_data_name takes any int (its enum parameter) and returns
        // null or a static NUL-terminated name.
        let name = unsafe { names::av_packet_side_data_name(self.kind) };
        if name.is_null() {
            return "unknown";
        }
        // SAFETY: non-null: a static C string.
        unsafe { CStr::from_ptr(name) }
            .to_str()
            .unwrap_or("unknown")
    }

    /// FFmpeg's type number (`AVPacketSideDataType`).
    pub fn kind_raw(&self) -> c_int {
        self.kind
    }

    /// The bytes, in FFmpeg's in-memory layout for the type.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// `true` if the entry is of type `kind`.
    pub fn is(&self, kind: ffi::AVPacketSideDataType) -> bool {
        self.kind == kind as c_int
    }

    /// The samples a decoder is to drop from the start and end of this packet's audio
    /// (`AV_PKT_DATA_SKIP_SAMPLES`: the encoder delay on an MP4's first AAC packet, the
    /// padding on the last MP3 or Opus one), if this is that entry.
    pub fn skip_samples(&self) -> Option<SkipSamples> {
        if !self.is(ffi::AVPacketSideDataType::AV_PKT_DATA_SKIP_SAMPLES) {
            return None;
        }
        // Little-endian whatever the machine (FFmpeg writes it with AV_WL32).
        let d = self.data.get(..10)?;
        let le32 = |at: usize| u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
        Some(SkipSamples {
            skip_start: le32(0),
            discard_padding: le32(4),
            skip_reason: d[8],
            discard_reason: d[9],
        })
    }

    /// The PES stream id an MPEG-TS demuxer found the packet under
    /// (`AV_PKT_DATA_MPEGTS_STREAM_ID`: `0xe0` for the first video stream, `0xc0` for
    /// the first MPEG audio one), if this is that entry.
    pub fn mpegts_stream_id(&self) -> Option<u8> {
        if !self.is(ffi::AVPacketSideDataType::AV_PKT_DATA_MPEGTS_STREAM_ID) {
            return None;
        }
        self.data.first().copied()
    }

    /// The display matrix, if this is one (`AV_PKT_DATA_DISPLAYMATRIX`).
    pub fn display_matrix(&self) -> Option<DisplayMatrix> {
        if self.kind != ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX as c_int {
            return None;
        }
        let mut matrix = [0i32; 9];
        for (value, chunk) in matrix.iter_mut().zip(self.data.get(..36)?.chunks_exact(4)) {
            *value = i32::from_ne_bytes(chunk.try_into().ok()?);
        }
        Some(DisplayMatrix(matrix))
    }

    /// The coded picture buffer properties, if this is them (`AV_PKT_DATA_CPB_PROPERTIES`,
    /// `AVCPBProperties`).
    pub fn cpb_properties(&self) -> Option<CpbProperties> {
        if self.kind != ffi::AVPacketSideDataType::AV_PKT_DATA_CPB_PROPERTIES as c_int
            || self.data.len() < std::mem::size_of::<ffi::AVCPBProperties>()
        {
            return None;
        }
        // SAFETY: the entry holds at least one AVCPBProperties (checked), made by
        // FFmpeg; it is plain integers, read unaligned from the byte slice.
        let p =
            unsafe { std::ptr::read_unaligned(self.data.as_ptr().cast::<ffi::AVCPBProperties>()) };
        Some(CpbProperties {
            max_bitrate: p.max_bitrate,
            min_bitrate: p.min_bitrate,
            avg_bitrate: p.avg_bitrate,
            buffer_size: p.buffer_size,
            vbv_delay: p.vbv_delay,
        })
    }
}

impl fmt::Debug for SideData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SideData")
            .field("type", &self.name())
            .field("size", &self.data.len())
            .finish()
    }
}

/// Coded picture buffer properties (`AVCPBProperties`), as an MPEG-2 or H.264 stream
/// declares them; 0 means unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpbProperties {
    /// Maximum bit rate, bits per second.
    pub max_bitrate: i64,
    /// Minimum bit rate, bits per second.
    pub min_bitrate: i64,
    /// Average bit rate, bits per second.
    pub avg_bitrate: i64,
    /// The decoder buffer size, in bits.
    pub buffer_size: i64,
    /// The VBV delay in 90 kHz ticks (`u64::MAX` if unknown).
    pub vbv_delay: u64,
}

/// What a decoder drops from a packet's decoded audio (`AV_PKT_DATA_SKIP_SAMPLES`), as
/// `ffprobe -show_entries packet_side_data` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SkipSamples {
    /// Samples to drop from the start (`skip_samples`).
    pub skip_start: u32,
    /// Samples to drop from the end (`discard_padding`).
    pub discard_padding: u32,
    /// Why the start is skipped (`skip_reason`; 0: unspecified).
    pub skip_reason: u8,
    /// Why the end is dropped (`discard_reason`; 0: unspecified).
    pub discard_reason: u8,
}

mod names {
    use std::os::raw::{c_char, c_int};

    extern "C" {
        /// Declared with the `int` its enum parameter is at the C ABI.
        pub(super) fn av_packet_side_data_name(kind: c_int) -> *const c_char;
    }
}

/// The side data entries of `stream`, in FFmpeg's order.
pub(crate) fn side_data(stream: &ffi::AVStream) -> impl Iterator<Item = SideData<'_>> + '_ {
    let (entries, count) = raw_entries(stream);
    // SAFETY: the stream (or its codecpar) owns the array, unchanged while it is borrowed.
    unsafe { entries_of(entries, count) }
}

/// The side data entries of `packet`, in FFmpeg's order.
pub(crate) fn packet_side_data(packet: &ffi::AVPacket) -> impl Iterator<Item = SideData<'_>> + '_ {
    // SAFETY: the packet owns its side data array, unchanged while it is borrowed.
    unsafe { entries_of(packet.side_data, packet.side_data_elems) }
}

/// The `count` entries at `entries` (null: none), as [`SideData`].
///
/// # Safety
/// `entries` must be null or hold `count` valid entries, each with `size` readable bytes at
/// `data`, that stay valid and unchanged for `'a`.
unsafe fn entries_of<'a>(
    entries: *const ffi::AVPacketSideData,
    count: c_int,
) -> impl Iterator<Item = SideData<'a>> + 'a {
    let count = if entries.is_null() {
        0
    } else {
        usize::try_from(count).unwrap_or(0)
    };
    (0..count).filter_map(move |i| {
        // SAFETY: `entries` holds `count` valid entries, unchanged for `'a` (the
        // contract). Each field is read through a raw pointer; the type, a C enum, as
        // the int it is.
        unsafe {
            let entry = entries.add(i);
            let kind = std::ptr::addr_of!((*entry).type_).cast::<c_int>().read();
            let size = c_int::try_from((*entry).size).ok()?;
            let data = crate::io::buffer_ref((*entry).data, size)?;
            Some(SideData { kind, data })
        }
    })
}

/// FFmpeg 6.1 and later: the codec parameters' coded side data.
#[cfg(ffio_ffmpeg_6_1)]
fn raw_entries(stream: &ffi::AVStream) -> (*const ffi::AVPacketSideData, c_int) {
    // SAFETY: an open stream's codecpar is valid as long as the stream (borrowed here).
    let par = unsafe { &*stream.codecpar };
    (par.coded_side_data, par.nb_coded_side_data)
}

/// Before FFmpeg 6.1: `AVStream.side_data` (gone in 7.0).
#[cfg(not(ffio_ffmpeg_6_1))]
fn raw_entries(stream: &ffi::AVStream) -> (*const ffi::AVPacketSideData, c_int) {
    (stream.side_data, stream.nb_side_data)
}
