//! Stream side data: the [`DisplayMatrix`] that says how to rotate or flip a video for
//! display (phone videos are stored landscape and rotated by it).
//!
//! Where FFmpeg keeps a stream's side data changed in FFmpeg 6.1: before, in
//! `AVStream.side_data` (read with `av_stream_get_side_data`, removed in 7.0); since, in
//! `AVCodecParameters.coded_side_data` (read with `av_packet_side_data_get`). `build.rs`
//! turns the version into `cfg(ffio_ffmpeg_6_1)`.

use std::fmt;

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

/// The display matrix of `stream`, if it has one.
pub(crate) fn display_matrix(stream: &ffi::AVStream) -> Option<DisplayMatrix> {
    let bytes = side_data(stream, ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX)?;
    let values = bytes.get(..36)?;
    let mut matrix = [0i32; 9];
    for (value, chunk) in matrix.iter_mut().zip(values.chunks_exact(4)) {
        *value = i32::from_ne_bytes(chunk.try_into().ok()?);
    }
    Some(DisplayMatrix(matrix))
}

/// The stream side data of type `kind` (FFmpeg 6.1 and later: the codec parameters'
/// coded side data).
#[cfg(ffio_ffmpeg_6_1)]
fn side_data(stream: &ffi::AVStream, kind: ffi::AVPacketSideDataType) -> Option<&[u8]> {
    // SAFETY: an open stream's codecpar is valid as long as the stream (borrowed here);
    // its `coded_side_data` holds `nb_coded_side_data` entries (or is null with 0), and
    // av_packet_side_data_get only reads them.
    let entry = unsafe {
        let par = &*stream.codecpar;
        ffi::av_packet_side_data_get(par.coded_side_data, par.nb_coded_side_data, kind)
    };
    // SAFETY: a non-null entry is one of those entries, valid while the stream is.
    let entry = unsafe { entry.as_ref() }?;
    // SAFETY: an entry's `data` points to `size` bytes it owns (or is null with size 0).
    unsafe { crate::io::buffer_ref(entry.data, c_size(entry.size)?) }
}

/// The stream side data of type `kind` (before FFmpeg 6.1: `AVStream.side_data`).
#[cfg(not(ffio_ffmpeg_6_1))]
fn side_data(stream: &ffi::AVStream, kind: ffi::AVPacketSideDataType) -> Option<&[u8]> {
    let mut size = 0;
    // SAFETY: `stream` is a valid stream; av_stream_get_side_data only reads its side data
    // array and writes the size of the entry it finds to `size`.
    let data = unsafe { ffi::av_stream_get_side_data(stream, kind, &mut size) };
    if data.is_null() {
        return None;
    }
    // SAFETY: the stream owns `size` bytes at `data`, valid while it is (borrowed here).
    unsafe { crate::io::buffer_ref(data, c_size(size)?) }
}

fn c_size(size: usize) -> Option<std::os::raw::c_int> {
    std::os::raw::c_int::try_from(size).ok()
}
