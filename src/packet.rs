//! [`Packet`]: an owned `AVPacket`.

use std::fmt;
use std::ptr::NonNull;

use ffmpeg_sys_next as ffi;

use crate::error::{Error, Result};
use crate::Rational;

/// One packet of compressed data: what [`Demuxer`](crate::Demuxer) reads and
/// [`Muxer`](crate::Muxer) writes. Owns an `AVPacket` (`av_packet_alloc` /
/// `av_packet_free`); its data is reference-counted by FFmpeg.
pub struct Packet {
    raw: NonNull<ffi::AVPacket>,
}

// SAFETY: a Packet exclusively owns its AVPacket; the data it points to is held through an
// AVBufferRef, whose reference count FFmpeg updates atomically, so the packet may be used
// and freed on any thread.
unsafe impl Send for Packet {}

// SAFETY: `&Packet` only reads plain fields and the data bytes; nothing mutates through it.
unsafe impl Sync for Packet {}

impl Packet {
    /// An empty packet.
    ///
    /// If FFmpeg cannot allocate the (small) `AVPacket` struct, this aborts the process
    /// like `Box::new` does (`handle_alloc_error`); [`try_new`](Self::try_new) returns an
    /// error instead, which matters when [`set_max_alloc`](crate::set_max_alloc) is set
    /// very low. ffio's own reads use `try_new`.
    pub fn new() -> Self {
        match Self::try_new() {
            Ok(packet) => packet,
            Err(_) => std::alloc::handle_alloc_error(std::alloc::Layout::new::<ffi::AVPacket>()),
        }
    }

    /// An empty packet, or `ENOMEM` as [`Error::Ffmpeg`] if FFmpeg cannot allocate one
    /// (`av_packet_alloc`).
    pub fn try_new() -> Result<Self> {
        crate::capture::install();
        // SAFETY: av_packet_alloc has no preconditions; null (out of memory) is checked.
        let raw = unsafe { ffi::av_packet_alloc() };
        NonNull::new(raw)
            .map(|raw| Packet { raw })
            .ok_or_else(|| Error::ffmpeg("av_packet_alloc", ffi::AVERROR(libc::ENOMEM)))
    }

    /// A new packet referring to the same data (`av_packet_ref`: the payload is shared,
    /// reference-counted, not copied, unless this packet's data is not reference-counted)
    /// with the same timestamps, flags and side data. `Clone` does the same and aborts on
    /// allocation failure, like `Vec::clone`.
    pub fn try_clone(&self) -> Result<Self> {
        let packet = Packet::try_new()?;
        // SAFETY: `packet` is blank and valid, `self` is valid; av_packet_ref makes the new
        // packet hold its own reference (or copy) and only reads `self`.
        let ret = unsafe { ffi::av_packet_ref(packet.as_ptr(), self.as_ptr()) };
        crate::error::check("av_packet_ref", ret)?;
        Ok(packet)
    }

    /// A packet holding a copy of `data`, with no timestamps, for stream 0.
    pub fn from_data(data: &[u8]) -> Result<Self> {
        let packet = Packet::try_new()?;
        let size = i32::try_from(data.len())
            .map_err(|_| Error::InvalidArgument(format!("packet of {} bytes", data.len())))?;
        // SAFETY: the packet is valid and empty; av_new_packet allocates `size` bytes (plus
        // padding) that we then fill from `data`, which is `size` bytes long.
        unsafe {
            crate::error::check("av_new_packet", ffi::av_new_packet(packet.as_ptr(), size))?;
            if size > 0 {
                std::ptr::copy_nonoverlapping(data.as_ptr(), (*packet.as_ptr()).data, data.len());
            }
        }
        Ok(packet)
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::AVPacket {
        self.raw.as_ptr()
    }

    fn raw(&self) -> &ffi::AVPacket {
        // SAFETY: `raw` is valid for the packet's lifetime and only mutated through &mut self.
        unsafe { self.raw.as_ref() }
    }

    fn raw_mut(&mut self) -> &mut ffi::AVPacket {
        // SAFETY: as in `raw`, and `&mut self` makes this the only reference.
        unsafe { self.raw.as_mut() }
    }

    /// Index of the stream this packet belongs to.
    pub fn stream_index(&self) -> usize {
        usize::try_from(self.raw().stream_index).unwrap_or(0)
    }

    /// Sets the stream index (for a muxer: the output stream to write to).
    pub fn set_stream_index(&mut self, index: usize) {
        self.raw_mut().stream_index = i32::try_from(index).unwrap_or(i32::MAX);
    }

    /// Presentation timestamp in the stream's time base, if known.
    pub fn pts(&self) -> Option<i64> {
        ts(self.raw().pts)
    }

    /// Sets the presentation timestamp.
    pub fn set_pts(&mut self, pts: Option<i64>) {
        self.raw_mut().pts = pts.unwrap_or(ffi::AV_NOPTS_VALUE);
    }

    /// Decoding timestamp in the stream's time base, if known.
    pub fn dts(&self) -> Option<i64> {
        ts(self.raw().dts)
    }

    /// Sets the decoding timestamp.
    pub fn set_dts(&mut self, dts: Option<i64>) {
        self.raw_mut().dts = dts.unwrap_or(ffi::AV_NOPTS_VALUE);
    }

    /// Duration in the stream's time base (0 if unknown).
    pub fn duration(&self) -> i64 {
        self.raw().duration
    }

    /// Sets the duration.
    pub fn set_duration(&mut self, duration: i64) {
        self.raw_mut().duration = duration;
    }

    /// Byte position in the input, if known.
    pub fn position(&self) -> Option<u64> {
        u64::try_from(self.raw().pos).ok()
    }

    /// `true` if the packet holds a keyframe.
    pub fn is_key(&self) -> bool {
        self.raw().flags & ffi::AV_PKT_FLAG_KEY != 0
    }

    /// The packet's payload.
    pub fn data(&self) -> &[u8] {
        let raw = self.raw();
        match usize::try_from(raw.size) {
            // SAFETY: a non-empty packet's `data` points to `size` readable bytes kept alive
            // by its buffer reference for as long as the packet is not modified.
            Ok(len) if len > 0 && !raw.data.is_null() => unsafe {
                std::slice::from_raw_parts(raw.data, len)
            },
            _ => &[],
        }
    }

    /// Payload size in bytes.
    pub fn size(&self) -> usize {
        self.data().len()
    }

    /// Converts the timestamps and duration from time base `from` to `to`
    /// (`av_packet_rescale_ts`).
    pub fn rescale_ts(&mut self, from: Rational, to: Rational) {
        // SAFETY: the packet is valid; av_packet_rescale_ts only rewrites its fields.
        unsafe { ffi::av_packet_rescale_ts(self.as_ptr(), from.into(), to.into()) };
    }

    /// Drops the payload and resets every field (`av_packet_unref`).
    pub fn clear(&mut self) {
        // SAFETY: the packet is valid; unref leaves it blank and reusable.
        unsafe { ffi::av_packet_unref(self.as_ptr()) };
    }

    /// Makes the packet blank for reuse, skipping the work when it already holds no data
    /// (after a muxer took it, or when new): what `av_read_frame` needs.
    pub(crate) fn clear_for_reuse(&mut self) {
        let raw = self.raw();
        if !raw.buf.is_null() || !raw.data.is_null() || raw.side_data_elems != 0 || raw.size != 0 {
            self.clear();
        }
    }
}

fn ts(value: i64) -> Option<i64> {
    (value != ffi::AV_NOPTS_VALUE).then_some(value)
}

impl Clone for Packet {
    fn clone(&self) -> Self {
        match self.try_clone() {
            Ok(packet) => packet,
            Err(_) => std::alloc::handle_alloc_error(std::alloc::Layout::new::<ffi::AVPacket>()),
        }
    }
}

impl Default for Packet {
    fn default() -> Self {
        Packet::new()
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        let mut raw = self.raw.as_ptr();
        // SAFETY: we own the packet; av_packet_free unrefs its data and frees it once.
        unsafe { ffi::av_packet_free(&mut raw) };
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("stream_index", &self.stream_index())
            .field("pts", &self.pts())
            .field("dts", &self.dts())
            .field("duration", &self.duration())
            .field("key", &self.is_key())
            .field("size", &self.size())
            .finish()
    }
}
