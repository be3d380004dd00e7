//! [`Packet`]: an owned `AVPacket`.

use std::fmt;
use std::ptr::NonNull;

use ffmpeg_sys_next as ffi;

use crate::error::{Error, Result};
use crate::side_data::SideData;
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
        let ret = unsafe { ffi::av_packet_ref(packet.raw.as_ptr(), self.as_ptr()) };
        crate::error::check("av_packet_ref", ret)?;
        Ok(packet)
    }

    /// A packet holding a copy of `data`, with no timestamps, for stream 0.
    pub fn from_data(data: &[u8]) -> Result<Self> {
        let mut packet = Packet::try_new()?;
        let size = i32::try_from(data.len())
            .map_err(|_| Error::InvalidArgument(format!("packet of {} bytes", data.len())))?;
        // SAFETY: the packet is valid and empty; av_new_packet allocates `size` bytes (plus
        // padding) that we then fill from `data`, which is `size` bytes long.
        unsafe {
            let raw = packet.as_mut_ptr();
            crate::error::check("av_new_packet", ffi::av_new_packet(raw, size))?;
            if size > 0 {
                std::ptr::copy_nonoverlapping(data.as_ptr(), (*raw).data, data.len());
            }
        }
        Ok(packet)
    }

    /// The `AVPacket`, for FFmpeg calls ffio does not wrap, above all a decoder's
    /// `avcodec_send_packet(ctx, packet.as_ptr())`, which takes its own reference to the
    /// data: nothing is copied. See [raw access](crate#raw-access) for the rules.
    ///
    /// Read through it only, while the borrow of the packet lasts: pass it where FFmpeg
    /// takes a `const AVPacket *`. Do not write its fields, unref or free it, or keep the
    /// pointer once the borrow ends (the next read into the packet replaces its data).
    ///
    /// Decoding the video of an MP4 through `ffio::sys` (FFmpeg's own API):
    ///
    /// ```
    /// # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
    /// use ffio::sys;
    /// let mut demuxer = ffio::Demuxer::from_slice(&bytes)?;
    /// let video = demuxer.best_stream(ffio::MediaType::Video).unwrap();
    /// let mut frames = 0;
    /// // SAFETY: the codec parameters are read (copied into the decoder) while `demuxer`
    /// // is borrowed; each packet pointer is passed while the packet is; the decoder and
    /// // frame are this block's own and freed at its end.
    /// unsafe {
    ///     let par = demuxer.stream(video).unwrap().codecpar_ptr();
    ///     let codec = sys::avcodec_find_decoder((*par).codec_id);
    ///     let mut ctx = sys::avcodec_alloc_context3(codec);
    ///     assert!(sys::avcodec_parameters_to_context(ctx, par) >= 0);
    ///     assert!(sys::avcodec_open2(ctx, codec, std::ptr::null_mut()) >= 0);
    ///     let mut frame = sys::av_frame_alloc();
    ///     let mut packet = ffio::Packet::new();
    ///     loop {
    ///         let more = demuxer.read_packet_into(&mut packet)?;
    ///         if more && packet.stream_index() != video {
    ///             continue;
    ///         }
    ///         // At the end, a null packet drains the decoder.
    ///         let pkt = if more { packet.as_ptr() } else { std::ptr::null() };
    ///         assert!(sys::avcodec_send_packet(ctx, pkt) >= 0);
    ///         while sys::avcodec_receive_frame(ctx, frame) >= 0 {
    ///             frames += 1;
    ///         }
    ///         if !more {
    ///             break;
    ///         }
    ///     }
    ///     sys::av_frame_free(&mut frame);
    ///     sys::avcodec_free_context(&mut ctx);
    /// }
    /// assert_eq!(frames, 50); // 2 s at 25 fps
    /// # Ok::<(), ffio::Error>(())
    /// ```
    ///
    /// With [ffmpeg-next](https://docs.rs/ffmpeg-next) (ffio does not depend on it): its
    /// decoders take any `ffmpeg_next::packet::Ref`, which a borrowed ffio packet can be,
    /// and its `codec::Parameters::wrap` takes the stream's parameters (with an owner, so
    /// that ffmpeg-next does not free them). Both crates must use the same
    /// ffmpeg-sys-next (ffmpeg-next 9 with ffio's 9), so the `AVPacket` types match.
    ///
    /// ```
    /// # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
    /// use ffmpeg_next as ffmpeg;
    ///
    /// /// An ffio packet lent to ffmpeg-next, not copied.
    /// struct Lent<'a>(&'a ffio::Packet);
    ///
    /// impl ffmpeg::packet::Ref for Lent<'_> {
    ///     fn as_ptr(&self) -> *const ffmpeg::ffi::AVPacket {
    ///         self.0.as_ptr()
    ///     }
    /// }
    ///
    /// let mut demuxer = ffio::Demuxer::from_slice(&bytes)?;
    /// let video = demuxer.best_stream(ffio::MediaType::Video).unwrap();
    /// let par = demuxer.stream(video).unwrap().codecpar_ptr();
    /// // SAFETY: the owner (any value) tells ffmpeg-next the parameters are not its to
    /// // free; from_parameters copies them into the new context while `demuxer` is
    /// // borrowed, and the wrapper is dropped with that call.
    /// let params = unsafe { ffmpeg::codec::Parameters::wrap(par.cast_mut(), Some(std::sync::Arc::new(()))) };
    /// let mut decoder = ffmpeg::codec::Context::from_parameters(params)?.decoder().video()?;
    /// let mut frame = ffmpeg::frame::Video::empty();
    /// let mut frames = 0;
    /// while let Some(packet) = demuxer.read_packet()? {
    ///     if packet.stream_index() == video {
    ///         decoder.send_packet(&Lent(&packet))?;
    ///         while decoder.receive_frame(&mut frame).is_ok() {
    ///             frames += 1;
    ///         }
    ///     }
    /// }
    /// decoder.send_eof()?;
    /// while decoder.receive_frame(&mut frame).is_ok() {
    ///     frames += 1;
    /// }
    /// assert_eq!(frames, 50);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_ptr(&self) -> *const ffi::AVPacket {
        self.raw.as_ptr()
    }

    /// The `AVPacket`, writable, for FFmpeg calls that fill or change a packet
    /// (`avcodec_receive_packet` from an encoder, `av_bsf_receive_packet` from a bitstream
    /// filter, `av_packet_make_writable`, `av_packet_copy_props`). See
    /// [raw access](crate#raw-access) for the rules.
    ///
    /// Valid while the mutable borrow lasts. Leave it a valid packet, as FFmpeg's own
    /// functions do: `data` and `size` within the reference-counted buffer `buf` (or both
    /// null and 0), side data allocated by FFmpeg. Whatever FFmpeg puts in it belongs to
    /// this `Packet` and is freed with it. Do not free the `AVPacket` itself
    /// (`av_packet_free`: dropping the `Packet` does) or keep the pointer past the borrow.
    pub fn as_mut_ptr(&mut self) -> *mut ffi::AVPacket {
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

    /// `true` if the packet holds a keyframe ([`PacketFlags::KEY`]).
    pub fn is_key(&self) -> bool {
        self.flags().contains(PacketFlags::KEY)
    }

    /// Marks the packet as a keyframe or not ([`PacketFlags::KEY`]). A muxer writes it
    /// as a sync sample (MP4 `stss`, Matroska `SimpleBlock` keyframe bit, MPEG-TS random
    /// access indicator) and starts fragments, segments and clusters there.
    pub fn set_key(&mut self, key: bool) {
        self.set_flag(PacketFlags::KEY, key);
    }

    /// `true` if FFmpeg flagged the packet corrupt ([`PacketFlags::CORRUPT`]): its data
    /// ended before the size the container gave (a short read at the end of a truncated
    /// MP4, FLV or AVI), or the demuxer found it damaged (MPEG-TS: a PES whose length
    /// does not match, a continuity error). The packet still holds what could be read.
    /// See [`Demuxer::truncation`](crate::Demuxer::truncation).
    pub fn is_corrupt(&self) -> bool {
        self.flags().contains(PacketFlags::CORRUPT)
    }

    /// Sets or clears [`PacketFlags::CORRUPT`]. A muxer ignores the flag (it writes the
    /// data as it is); a demuxer with `fflags +discardcorrupt` drops such packets, and
    /// decoders decode them.
    pub fn set_corrupt(&mut self, corrupt: bool) {
        self.set_flag(PacketFlags::CORRUPT, corrupt);
    }

    /// `true` if the packet is only needed to decode others and must not be shown
    /// ([`PacketFlags::DISCARD`]), e.g. the pre-roll before an edit list's start.
    pub fn is_discard(&self) -> bool {
        self.flags().contains(PacketFlags::DISCARD)
    }

    /// Sets or clears [`PacketFlags::DISCARD`]. A decoder decodes such a packet (to prime
    /// its state) but returns no frame for it; muxers ignore the flag.
    pub fn set_discard(&mut self, discard: bool) {
        self.set_flag(PacketFlags::DISCARD, discard);
    }

    /// All of FFmpeg's flags on the packet (`AVPacket.flags`).
    pub fn flags(&self) -> PacketFlags {
        PacketFlags(self.raw().flags)
    }

    /// Replaces the packet's flags (`AVPacket.flags`), e.g. to copy them from another
    /// packet. See [`PacketFlags`] for what each flag means to a muxer or a decoder.
    pub fn set_flags(&mut self, flags: PacketFlags) {
        self.raw_mut().flags = flags.0;
    }

    fn set_flag(&mut self, flag: PacketFlags, on: bool) {
        let mut flags = self.flags();
        if on {
            flags.insert(flag);
        } else {
            flags.remove(flag);
        }
        self.set_flags(flags);
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

    /// The packet's side data entries (`AVPacket.side_data`), in FFmpeg's order, as
    /// `ffprobe -show_entries packet_side_data` lists them: the samples to skip on an
    /// MP4's first AAC packet ([`SideData::skip_samples`]), the stream id on every
    /// MPEG-TS packet ([`SideData::mpegts_stream_id`]), new extradata when a stream's
    /// parameters change mid-stream, …
    pub fn side_data(&self) -> impl Iterator<Item = SideData<'_>> + '_ {
        crate::side_data::packet_side_data(self.raw())
    }

    /// The side data entry of type `kind`, if the packet has one (the one
    /// `av_packet_get_side_data` finds).
    pub fn side_data_of(&self, kind: ffi::AVPacketSideDataType) -> Option<SideData<'_>> {
        self.side_data().find(|entry| entry.is(kind))
    }

    /// Attaches a copy of `data` as side data of type `kind`, replacing an entry of that
    /// type the packet already has (`av_packet_new_side_data`). The bytes must be in
    /// FFmpeg's layout for the type (see `AVPacketSideDataType` in FFmpeg's
    /// `libavcodec/packet.h`): a muxer or decoder reading them trusts that layout's size.
    ///
    /// ```
    /// use ffio::sys::AVPacketSideDataType::AV_PKT_DATA_SKIP_SAMPLES;
    /// let mut packet = ffio::Packet::from_data(&[0; 8])?;
    /// // Skip 1024 samples at the start, none at the end.
    /// packet.add_side_data(AV_PKT_DATA_SKIP_SAMPLES, &[0, 4, 0, 0, 0, 0, 0, 0, 0, 0])?;
    /// let skip = packet.side_data_of(AV_PKT_DATA_SKIP_SAMPLES).unwrap().skip_samples();
    /// assert_eq!(skip.unwrap().skip_start, 1024);
    /// # Ok::<(), ffio::Error>(())
    /// ```
    pub fn add_side_data(&mut self, kind: ffi::AVPacketSideDataType, data: &[u8]) -> Result<()> {
        let raw = self.as_mut_ptr();
        // SAFETY: the packet is valid and ours (`&mut self`); FFmpeg allocates `len` bytes
        // (plus zeroed padding), adds or replaces the entry, and returns them or null.
        let dest = unsafe { ffi::av_packet_new_side_data(raw, kind, data.len()) };
        if dest.is_null() {
            return Err(Error::ffmpeg(
                "av_packet_new_side_data",
                ffi::AVERROR(libc::ENOMEM),
            ));
        }
        // SAFETY: `dest` has room for `data.len()` bytes, and is FFmpeg's new allocation,
        // so the two do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dest, data.len()) };
        Ok(())
    }

    /// Payload size in bytes.
    pub fn size(&self) -> usize {
        self.data().len()
    }

    /// Converts the timestamps and duration from time base `from` to `to`
    /// (`av_packet_rescale_ts`).
    pub fn rescale_ts(&mut self, from: Rational, to: Rational) {
        // SAFETY: the packet is valid; av_packet_rescale_ts only rewrites its fields.
        unsafe { ffi::av_packet_rescale_ts(self.as_mut_ptr(), from.into(), to.into()) };
    }

    /// Drops the payload and resets every field (`av_packet_unref`).
    pub fn clear(&mut self) {
        // SAFETY: the packet is valid; unref leaves it blank and reusable.
        unsafe { ffi::av_packet_unref(self.as_mut_ptr()) };
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
            .field("flags", &self.flags())
            .field("size", &self.size())
            .finish()
    }
}

/// FFmpeg's packet flags (`AV_PKT_FLAG_*`), a small bit set.
///
/// ```
/// use ffio::PacketFlags;
/// let flags = PacketFlags::KEY | PacketFlags::CORRUPT;
/// assert!(flags.contains(PacketFlags::KEY));
/// assert!(!flags.contains(PacketFlags::DISCARD));
/// assert_eq!(format!("{flags:?}"), "PacketFlags(KEY | CORRUPT)");
/// ```
///
/// Flags ffio has no constant for (future FFmpeg ones) are kept as they are by
/// [`Packet::set_flags`] and [`bits`](Self::bits).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PacketFlags(i32);

impl PacketFlags {
    /// `AV_PKT_FLAG_KEY`: the packet holds a keyframe (decoding can start here). Muxers
    /// mark it as a sync sample and cut fragments, segments and clusters at it.
    pub const KEY: PacketFlags = PacketFlags(ffi::AV_PKT_FLAG_KEY);
    /// `AV_PKT_FLAG_CORRUPT`: the demuxer found the packet damaged or cut short. Decoders
    /// still decode it (their output may show errors); `fflags +discardcorrupt` makes
    /// the demuxer drop such packets instead. Muxers ignore it.
    pub const CORRUPT: PacketFlags = PacketFlags(ffi::AV_PKT_FLAG_CORRUPT);
    /// `AV_PKT_FLAG_DISCARD`: needed to decode later packets, but its frames must be
    /// dropped after decoding (edit-list pre-roll). Muxers ignore it.
    pub const DISCARD: PacketFlags = PacketFlags(ffi::AV_PKT_FLAG_DISCARD);
    /// `AV_PKT_FLAG_TRUSTED`: the packet's data comes from a trusted source and may hold
    /// pointers (only FFmpeg-internal hardware paths set it). Set by no demuxer.
    pub const TRUSTED: PacketFlags = PacketFlags(ffi::AV_PKT_FLAG_TRUSTED);
    /// `AV_PKT_FLAG_DISPOSABLE`: no other frame depends on this one (a non-reference
    /// frame); it may be dropped to save work. Set by some demuxers (MP4 `sdtp`).
    pub const DISPOSABLE: PacketFlags = PacketFlags(ffi::AV_PKT_FLAG_DISPOSABLE);

    const NAMED: [(PacketFlags, &'static str); 5] = [
        (Self::KEY, "KEY"),
        (Self::CORRUPT, "CORRUPT"),
        (Self::DISCARD, "DISCARD"),
        (Self::TRUSTED, "TRUSTED"),
        (Self::DISPOSABLE, "DISPOSABLE"),
    ];

    /// No flag set.
    pub const fn empty() -> Self {
        PacketFlags(0)
    }

    /// The raw `AVPacket.flags` value.
    pub const fn bits(self) -> i32 {
        self.0
    }

    /// Flags from a raw `AVPacket.flags` value, unknown bits included.
    pub const fn from_bits_retain(bits: i32) -> Self {
        PacketFlags(bits)
    }

    /// `true` if every flag of `other` is set in `self`.
    pub const fn contains(self, other: PacketFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `true` if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: PacketFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: PacketFlags) {
        self.0 &= !other.0;
    }
}

impl std::ops::BitOr for PacketFlags {
    type Output = PacketFlags;

    fn bitor(self, rhs: PacketFlags) -> PacketFlags {
        PacketFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for PacketFlags {
    fn bitor_assign(&mut self, rhs: PacketFlags) {
        self.0 |= rhs.0;
    }
}

impl std::ops::BitAnd for PacketFlags {
    type Output = PacketFlags;

    fn bitand(self, rhs: PacketFlags) -> PacketFlags {
        PacketFlags(self.0 & rhs.0)
    }
}

impl fmt::Debug for PacketFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PacketFlags(")?;
        let mut rest = self.0;
        let mut first = true;
        for (flag, name) in Self::NAMED {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{rest:#x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_and_clear_only_their_bit() {
        let mut packet = Packet::new();
        assert!(packet.flags().is_empty());
        packet.set_key(true);
        packet.set_discard(true);
        assert_eq!(
            packet.raw().flags,
            ffi::AV_PKT_FLAG_KEY | ffi::AV_PKT_FLAG_DISCARD
        );
        assert!(packet.is_key() && packet.is_discard() && !packet.is_corrupt());
        packet.set_key(false);
        assert_eq!(packet.raw().flags, ffi::AV_PKT_FLAG_DISCARD);
        packet.set_corrupt(true);
        assert_eq!(
            packet.raw().flags,
            ffi::AV_PKT_FLAG_DISCARD | ffi::AV_PKT_FLAG_CORRUPT
        );
        packet.set_corrupt(false);
        packet.set_discard(false);
        assert!(packet.flags().is_empty());
        packet.set_flags(PacketFlags::from_bits_retain(0x102));
        assert!(packet.is_corrupt());
        assert_eq!(
            format!("{:?}", packet.flags()),
            "PacketFlags(CORRUPT | 0x100)"
        );
        assert_eq!(format!("{:?}", PacketFlags::empty()), "PacketFlags()");
    }
}
