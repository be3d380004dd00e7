//! [`Truncation`]: how a [`Demuxer`](crate::Demuxer) tells that its input ended before the
//! container said it would, or that FFmpeg found a packet damaged.
//!
//! FFmpeg's demuxers mostly treat a cut file as a clean, shorter one: they return the
//! packets that are there, then `AVERROR_EOF`, and say "partial file" or "File ended
//! prematurely" only in the log. ffio looks for the signals a program can see without
//! reading anything extra:
//!
//! | signal | formats | when |
//! |---|---|---|
//! | `AV_PKT_FLAG_CORRUPT` on a packet ([`TruncationReason::CorruptPacket`]) | mov/mp4, flv, avi (short read by `av_get_packet`), mpegts (PES length mismatch, continuity error) | the packet is read |
//! | the stream index (`avformat_index_get_entry`) points past the input's end ([`TruncationReason::IndexPastEnd`]) | mov/mp4 (sample tables, `trun` of fragments), avi (`idx1`, when read) | the end is reached |
//! | the Matroska/WebM `Segment` size runs past the input's end ([`TruncationReason::SegmentCutShort`]) | matroska, webm (when the segment size is known and the header was probed or is still buffered) | the end is reached |
//! | the input's size is not a whole number of TS packets ([`TruncationReason::PartialTsPacket`]) | mpegts | the end is reached |
//! | a line FFmpeg logs ([`TruncationReason::Logged`]) | matroska, mov, … | not wired yet: see [`truncation_from_log`] |
//!
//! What cannot be told apart from a clean end: an MPEG-TS cut at a TS-packet boundary
//! between PES packets, or inside a video PES of unbounded length (length 0, FFmpeg's
//! and most encoders' default for video); an FLV cut at a tag boundary (no index); a
//! Matroska file written without a segment size (live streams) cut at a cluster or block
//! boundary; any raw elementary stream (ADTS, H.264 Annex B) cut at a frame boundary.
//!
//! The input's size is learnt through [`CustomIo`]'s one call path (`avio_size`) for
//! seekable readers; for the others it is the number of bytes read once FFmpeg saw the
//! end of the stream (the checks that need it are skipped when the demuxer stopped
//! before).

use std::fmt;
use std::os::raw::c_int;

use ffmpeg_sys_next as ffi;

use crate::error::{Error, Result};
use crate::io::CustomIo;

/// Why a [`Truncation`] was reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TruncationReason {
    /// FFmpeg flagged a packet corrupt ([`Packet::is_corrupt`](crate::Packet::is_corrupt)):
    /// its data ended before the size the container gave (mov, flv, avi: the input ended
    /// inside it), or the demuxer found it damaged (mpegts: a PES packet whose length does
    /// not match, lost TS packets).
    CorruptPacket,
    /// The stream's index (an MP4's sample tables, an AVI's `idx1`) places data past the
    /// end of the input: the rest of the media data is missing.
    IndexPastEnd,
    /// A top-level MP4 box (`moov`, `mdat`, `moof`, …) is longer than the input: its
    /// header, seen while FFmpeg had it buffered, gives a size that runs past the end.
    /// Catches cuts inside a `moov` that FFmpeg parses as far as it goes (streams with
    /// fewer or no samples, no error).
    BoxPastEnd,
    /// The Matroska/WebM `Segment` element is longer than the input: clusters are missing
    /// or cut short. FFmpeg 5.1's matroska demuxer logs "File ended prematurely" and
    /// returns a plain end of file, dropping the partial block.
    SegmentCutShort,
    /// An MPEG-TS input whose size is not a multiple of its TS packet size (188, 192 or
    /// 204 bytes): the last TS packet is cut, and FFmpeg drops it silently.
    PartialTsPacket,
    /// FFmpeg logged that the file is partial or ended prematurely ("File ended
    /// prematurely", "partial file"). Reserved for FFmpeg's log, once ffio captures it
    /// per demuxer; not reported yet.
    Logged,
}

impl TruncationReason {
    fn describe(self) -> &'static str {
        match self {
            TruncationReason::CorruptPacket => "FFmpeg flagged a packet corrupt",
            TruncationReason::IndexPastEnd => "the stream index points past the end of the input",
            TruncationReason::BoxPastEnd => "an MP4 box runs past the end of the input",
            TruncationReason::SegmentCutShort => "the Matroska segment is cut short",
            TruncationReason::PartialTsPacket => "the last MPEG-TS packet is cut short",
            TruncationReason::Logged => "FFmpeg reported a partial file",
        }
    }
}

/// The input ended before its container said it would, or FFmpeg found a packet damaged:
/// what [`Demuxer::truncation`](crate::Demuxer::truncation) reports, and what
/// [`Error::Truncated`] carries in [strict](crate::DemuxerOptions::strict) mode.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Truncation {
    /// Why.
    pub reason: TruncationReason,
    /// The stream concerned: the corrupt packet's, or the one whose index runs past the
    /// end (the one missing data earliest in the file). `None` when the container as a
    /// whole is cut (segment size, TS packet).
    pub stream: Option<usize>,
    /// The byte offset of the damage: for a corrupt packet, where the packet starts in the
    /// input (`None` if the demuxer does not say); otherwise the size of the input, i.e.
    /// where the data stops.
    pub offset: Option<u64>,
    /// Where the container says the data should go on to, when it says so: the end of
    /// the last indexed sample, or of the Matroska segment.
    pub expected_end: Option<u64>,
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason.describe())?;
        if let Some(stream) = self.stream {
            write!(f, " (stream {stream})")?;
        }
        match (self.reason, self.offset) {
            (TruncationReason::CorruptPacket, Some(offset)) => {
                write!(f, " at byte offset {offset}")?
            }
            (_, Some(offset)) => write!(f, ": the input ends at byte offset {offset}")?,
            (_, None) => {}
        }
        if let Some(end) = self.expected_end {
            write!(f, ", the container says its data goes on to byte {end}")?;
        }
        Ok(())
    }
}

/// The truncation bookkeeping of one [`Demuxer`](crate::Demuxer).
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Fail the read that meets a truncation ([`crate::DemuxerOptions::strict`]).
    pub(crate) strict: bool,
    /// Where the Matroska segment ends, when its size was read from the header.
    pub(crate) segment_end: Option<u64>,
    /// The top-level MP4 boxes seen so far, for mov inputs.
    pub(crate) boxes: Option<BoxWalk>,
    /// The first truncation found.
    pub(crate) found: Option<Truncation>,
    /// The end-of-input checks ran (they run once per end reached; a seek re-arms them),
    /// and what they found.
    end_checked: Option<Option<Truncation>>,
}

impl Watch {
    /// No checks run yet; `strict` as [`crate::DemuxerOptions::strict`].
    pub(crate) fn new(strict: bool) -> Self {
        Watch {
            strict,
            ..Watch::default()
        }
    }

    /// Records `truncation` (the first one is kept) and, in strict mode, turns it into the
    /// error the current read returns.
    pub(crate) fn report(&mut self, truncation: Truncation) -> Result<()> {
        if self.found.is_none() {
            self.found = Some(truncation.clone());
        }
        if self.strict {
            return Err(Error::Truncated(truncation));
        }
        Ok(())
    }

    /// Runs the end-of-input checks once `av_read_frame` returned `AVERROR_EOF`.
    ///
    /// # Safety
    /// `fmt` must be the open input reading through `io`, with no FFmpeg call running.
    pub(crate) unsafe fn at_end<R>(
        &mut self,
        fmt: *mut ffi::AVFormatContext,
        io: &mut CustomIo<R>,
    ) -> Result<()> {
        if let Some(found) = &self.end_checked {
            // Reading on at the end: say the same again (an error stays an error).
            return match found {
                Some(truncation) if self.strict => Err(Error::Truncated(truncation.clone())),
                _ => Ok(()),
            };
        }
        let found = match input_size(io)? {
            // SAFETY: per this function's contract.
            Some(size) => unsafe { index_past_end(fmt, size) }
                .or_else(|| segment_cut_short(self.segment_end, size))
                .or_else(|| self.boxes.as_ref().and_then(|b| b.past_end(size)))
                // SAFETY: per this function's contract.
                .or_else(|| unsafe { partial_ts_packet(fmt, size) }),
            None => None,
        };
        self.end_checked = Some(found.clone());
        match found {
            Some(truncation) => self.report(truncation),
            None => Ok(()),
        }
    }

    /// Reading restarts (after a seek): the end-of-input checks run again when it comes.
    pub(crate) fn rearm(&mut self) {
        self.end_checked = None;
    }
}

/// The number of bytes in the input, if it can be known without reading anything:
/// `avio_size` (through the one call path) for seekable readers, the bytes read so far for
/// the others once FFmpeg saw the end of the stream.
fn input_size<R>(io: &mut CustomIo<R>) -> Result<Option<u64>> {
    let pb = io.as_ptr();
    if !io.is_seekable() {
        // SAFETY: `pb` is valid and FFmpeg is not running; plain field reads. For a reading
        // context `pos` is the input offset of the end of the buffered data, i.e. every
        // byte read so far, once the stream's end was seen.
        let (eof, pos) = unsafe { ((*pb).eof_reached != 0, (*pb).pos) };
        return Ok(if eof { u64::try_from(pos).ok() } else { None });
    }
    io.input_size()
}

/// The first index entry, over all streams, whose data does not fit in `size` bytes.
///
/// # Safety
/// `fmt` must be an open input context, with no FFmpeg call running.
unsafe fn index_past_end(fmt: *mut ffi::AVFormatContext, size: u64) -> Option<Truncation> {
    // SAFETY: per the contract.
    let (streams, count) = unsafe { ((*fmt).streams, (*fmt).nb_streams as usize) };
    let mut first: Option<(u64, usize)> = None;
    let mut end_max = 0u64;
    for index in 0..count {
        // SAFETY: `streams` holds `nb_streams` valid stream pointers.
        let st = unsafe { *streams.add(index) };
        // SAFETY: `st` is a valid stream; these only read its index, no I/O.
        let entries = unsafe { ffi::avformat_index_get_entries_count(st) };
        for i in 0..entries {
            // SAFETY: `i` is below the entry count; the result is null or valid until the
            // index changes, which it cannot while we hold the demuxer.
            let Some(entry) = (unsafe { ffi::avformat_index_get_entry(st, i).as_ref() }) else {
                continue;
            };
            let Ok(pos) = u64::try_from(entry.pos) else {
                continue;
            };
            let end = pos.saturating_add(u64::try_from(entry.size()).unwrap_or(0));
            if end > size {
                end_max = end_max.max(end);
                if first.map_or(true, |(p, _)| pos < p) {
                    first = Some((pos, index));
                }
            }
        }
    }
    first.map(|(_, stream)| Truncation {
        reason: TruncationReason::IndexPastEnd,
        stream: Some(stream),
        offset: Some(size),
        expected_end: Some(end_max),
    })
}

fn segment_cut_short(segment_end: Option<u64>, size: u64) -> Option<Truncation> {
    let end = segment_end?;
    (end > size).then_some(Truncation {
        reason: TruncationReason::SegmentCutShort,
        stream: None,
        offset: Some(size),
        expected_end: Some(end),
    })
}

/// An MPEG-TS input that does not end on a TS packet boundary.
///
/// # Safety
/// `fmt` must be an open input context, with no FFmpeg call running.
unsafe fn partial_ts_packet(fmt: *mut ffi::AVFormatContext, size: u64) -> Option<Truncation> {
    // SAFETY: an open input has a valid `iformat` with a static C name.
    let name = unsafe { std::ffi::CStr::from_ptr((*(*fmt).iformat).name) };
    if name.to_bytes() != b"mpegts" {
        return None;
    }
    let mut packet_size = 0i64;
    // SAFETY: `fmt` is a valid AVClass-enabled object; "ts_packetsize" is the mpegts
    // demuxer's exported, read-only option (its private context is a child of `fmt`); the
    // output is a plain i64. No I/O.
    let ret = unsafe {
        ffi::av_opt_get_int(
            fmt.cast(),
            c"ts_packetsize".as_ptr(),
            ffi::AV_OPT_SEARCH_CHILDREN as c_int,
            &mut packet_size,
        )
    };
    let packet_size = u64::try_from(packet_size)
        .ok()
        .filter(|&p| ret >= 0 && p > 0)?;
    // The TS packets start at the phase of the first indexed packet (0 for files that
    // start with a sync byte, as FFmpeg writes them).
    // SAFETY: per the contract.
    let phase = unsafe { lowest_index_pos(fmt) }.unwrap_or(0) % packet_size;
    let whole = size.checked_sub(phase)? % packet_size == 0;
    (!whole).then_some(Truncation {
        reason: TruncationReason::PartialTsPacket,
        stream: None,
        offset: Some(size),
        expected_end: Some(size - (size - phase) % packet_size + packet_size),
    })
}

/// # Safety
/// `fmt` must be an open input context, with no FFmpeg call running.
unsafe fn lowest_index_pos(fmt: *mut ffi::AVFormatContext) -> Option<u64> {
    // SAFETY: per the contract.
    let (streams, count) = unsafe { ((*fmt).streams, (*fmt).nb_streams as usize) };
    (0..count)
        .filter_map(|index| {
            // SAFETY: `streams` holds `nb_streams` valid stream pointers; index 0 exists
            // when the count is positive; no I/O.
            unsafe {
                let st = *streams.add(index);
                if ffi::avformat_index_get_entries_count(st) <= 0 {
                    return None;
                }
                let entry = ffi::avformat_index_get_entry(st, 0).as_ref()?;
                u64::try_from(entry.pos).ok()
            }
        })
        .min()
}

/// The bytes at the very start of the input, if FFmpeg's buffer still holds them (right
/// after probing, or while the header fits in the first buffer fill).
///
/// # Safety
/// As [`buffered_window`].
pub(crate) unsafe fn buffered_head<'a>(pb: *const ffi::AVIOContext) -> Option<&'a [u8]> {
    // SAFETY: per the contract.
    match unsafe { buffered_window(pb) }? {
        (0, bytes) => Some(bytes),
        _ => None,
    }
}

/// FFmpeg's buffered input data and the input offset it starts at: what can be looked at
/// without reading anything.
///
/// # Safety
/// `pb` must be a valid reading context, with no FFmpeg call running; the slice must be
/// dropped before FFmpeg runs again.
pub(crate) unsafe fn buffered_window<'a>(pb: *const ffi::AVIOContext) -> Option<(u64, &'a [u8])> {
    // SAFETY: per the contract; plain field reads.
    let (buffer, end, pos) = unsafe { ((*pb).buffer, (*pb).buf_end, (*pb).pos) };
    if buffer.is_null() || end.is_null() {
        return None;
    }
    let len = (end as usize).checked_sub(buffer as usize)?;
    // `pos` is the input offset of `buf_end`.
    let start = u64::try_from(pos).ok()?.checked_sub(len as u64)?;
    if len == 0 {
        return None;
    }
    // SAFETY: `buffer..buf_end` is FFmpeg's buffered data, initialised and valid for
    // reads until FFmpeg runs again (the contract).
    Some((start, unsafe { std::slice::from_raw_parts(buffer, len) }))
}

/// A walk over an MP4's top-level boxes, fed with whatever input FFmpeg had buffered:
/// each box header seen gives where the next one starts and how far the file must go.
#[derive(Debug, Default)]
pub(crate) struct BoxWalk {
    /// Where the next top-level box starts.
    next: u64,
    /// The end of the furthest box seen.
    claimed_end: u64,
    /// The walk cannot go on (a box "to the end of the file", or a size that is no box).
    done: bool,
}

impl BoxWalk {
    /// Walks on through `bytes`, the input from offset `start`, as far as they go.
    pub(crate) fn feed(&mut self, start: u64, bytes: &[u8]) {
        while !self.done {
            let Some(at) = self
                .next
                .checked_sub(start)
                .and_then(|a| usize::try_from(a).ok())
            else {
                return;
            };
            let Some(header) = bytes.get(at..).filter(|h| h.len() >= 8) else {
                return;
            };
            let Some(small) = header.get(..4) else { return };
            let size = u32::from_be_bytes([small[0], small[1], small[2], small[3]]);
            let size = match size {
                0 => {
                    self.done = true; // to the end of the file, whatever it is
                    return;
                }
                1 => match header.get(8..16) {
                    Some(large) => u64::from_be_bytes(large.try_into().unwrap_or([0; 8])),
                    None => return, // wait for more bytes
                },
                n => u64::from(n),
            };
            if size < 8 {
                self.done = true;
                return;
            }
            let end = self.next.saturating_add(size);
            self.claimed_end = self.claimed_end.max(end);
            self.next = end;
        }
    }

    fn past_end(&self, size: u64) -> Option<Truncation> {
        (self.claimed_end > size).then_some(Truncation {
            reason: TruncationReason::BoxPastEnd,
            stream: None,
            offset: Some(size),
            expected_end: Some(self.claimed_end),
        })
    }
}

/// Where a Matroska/WebM `Segment` ends (offset of its data plus its size), from the first
/// bytes of the file: the EBML header element, then the Segment element's ID and size.
/// `None` if the bytes do not hold both, or the segment's size is unknown (live files).
pub(crate) fn matroska_segment_end(head: &[u8]) -> Option<u64> {
    const EBML: u64 = 0x1A45_DFA3;
    const SEGMENT: u64 = 0x1853_8067;
    let mut at = 0usize;
    let (id, len) = ebml_id(head.get(at..)?)?;
    if id != EBML {
        return None;
    }
    at += len;
    let (size, len) = ebml_size(head.get(at..)?)?;
    at = at
        .checked_add(len)?
        .checked_add(usize::try_from(size?).ok()?)?;
    // Void elements may sit between the EBML header and the segment.
    loop {
        let (id, len) = ebml_id(head.get(at..)?)?;
        let (size, size_len) = ebml_size(head.get(at + len..)?)?;
        let data = (at + len + size_len) as u64;
        if id == SEGMENT {
            return data.checked_add(size?);
        }
        if id != 0xEC {
            return None;
        }
        at = usize::try_from(data.checked_add(size?)?).ok()?;
    }
}

/// An EBML element ID (marker bits kept, as IDs are written): `(id, length)`.
fn ebml_id(bytes: &[u8]) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return None;
    }
    let id = bytes
        .get(..len)?
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Some((id, len))
}

/// An EBML size: `(Some(size) or None when "unknown", length)`.
fn ebml_size(bytes: &[u8]) -> Option<(Option<u64>, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let mut value = u64::from(first) & (0xFF >> len);
    for &b in bytes.get(1..len)? {
        value = (value << 8) | u64::from(b);
    }
    let unknown = value == (1u64 << (7 * len)) - 1;
    Some(((!unknown).then_some(value), len))
}

/// **The hook for log-based signals.** Classifies one line FFmpeg logged about a demuxer
/// (`format`: the demuxer's name as [`Demuxer::format_name`](crate::Demuxer::format_name)
/// gives it; `level`: `AV_LOG_*`) and returns the truncation it reports, if any.
///
/// Not wired yet: it needs the per-object log capture (an `av_log` callback attributing
/// each message to the ffio call that caused it), which is being built. Once it exists,
/// the demuxer should feed it every message captured during `av_read_frame` and pass a
/// `Some` to the same `Watch::report` the other checks use. The lines that mean
/// truncation, from the FFmpeg 5.1 to 9.0 sources:
///
/// * matroska/webm, `AV_LOG_ERROR`: `File ended prematurely at pos. N (0x…)` (an element
///   header cut; `N` is the offset) and `File ended prematurely` (an element's data cut).
///   The only signal when the segment size is unknown (live files).
/// * mov/mp4, `AV_LOG_ERROR`: `stream N, offset 0x…: partial file` (a sample's data is
///   past the end: the seek to it failed) and `root atom offset 0x…: partial file` (a
///   fragment's `moof`/`mdat` is missing).
/// * any demuxer (libavformat's demux.c), `AV_LOG_ERROR`: `Packet corrupt (stream = N,
///   dts = …)` — the same event as the packet's `CORRUPT` flag, already reported.
/// * mpegts, `AV_LOG_WARNING`: `PES packet size mismatch` — also flagged on the packet.
///
/// Lines already covered by a flag are recognised too (with their stream), so a capture
/// that sees only the log still reports them.
pub(crate) fn truncation_from_log(format: &str, level: c_int, line: &str) -> Option<Truncation> {
    if level > ffi::AV_LOG_WARNING as c_int {
        return None;
    }
    let line = line.trim_end();
    let logged = |stream: Option<usize>, offset: Option<u64>| Truncation {
        reason: TruncationReason::Logged,
        stream,
        offset,
        expected_end: None,
    };
    let family = |name: &str| format.split(',').any(|n| n == name);
    if family("matroska") || family("webm") {
        if let Some(rest) = line.strip_prefix("File ended prematurely") {
            let offset = rest
                .trim()
                .strip_prefix("at pos. ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok());
            return Some(logged(None, offset));
        }
    }
    if family("mov") {
        if let Some(head) = line.strip_suffix(": partial file") {
            let hex = |s: &str| {
                let s = s.trim().strip_prefix("0x")?;
                u64::from_str_radix(s, 16).ok()
            };
            if let Some(rest) = head.strip_prefix("stream ") {
                let (stream, offset) = rest.split_once(", offset ")?;
                return Some(logged(stream.trim().parse().ok(), hex(offset)));
            }
            if let Some(offset) = head.strip_prefix("root atom offset ") {
                return Some(logged(None, hex(offset)));
            }
        }
    }
    if let Some(rest) = line.strip_prefix("Packet corrupt (stream = ") {
        let stream = rest.split(',').next().and_then(|s| s.trim().parse().ok());
        return Some(logged(stream, None));
    }
    if format == "mpegts" && line == "PES packet size mismatch" {
        return Some(logged(None, None));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matroska_segment_end_reads_the_header() {
        // EBML header (ID, size 4, 4 bytes), Segment (ID, 8-byte size 1000).
        let mut head = vec![0x1A, 0x45, 0xDF, 0xA3, 0x84, 1, 2, 3, 4];
        head.extend([0x18, 0x53, 0x80, 0x67, 0x01, 0, 0, 0, 0, 0, 0x03, 0xE8]);
        assert_eq!(matroska_segment_end(&head), Some(9 + 12 + 1000));
        // Unknown size (live): nothing to compare with.
        let mut live = head[..13].to_vec();
        live.extend([0xFF; 7]);
        assert_eq!(matroska_segment_end(&live), None);
        assert_eq!(matroska_segment_end(&head[..15]), None, "cut header");
        assert_eq!(matroska_segment_end(b"RIFF...."), None);
    }

    #[test]
    fn box_walk_follows_top_level_sizes_across_windows() {
        let mut walk = BoxWalk::default();
        // ftyp (16 bytes), then mdat of 100 bytes whose header is in the first window.
        let mut head = vec![0, 0, 0, 16];
        head.extend(b"ftyp");
        head.extend([0; 8]);
        head.extend([0, 0, 0, 100]);
        head.extend(b"mdat");
        walk.feed(0, &head);
        assert_eq!(walk.claimed_end, 116);
        assert!(walk.past_end(116).is_none());
        assert_eq!(walk.past_end(115).unwrap().expected_end, Some(116));
        // A later window holding the moov header (64-bit size) at 116.
        let mut tail = vec![0u8; 6];
        tail.extend([0, 0, 0, 1]);
        tail.extend(b"moov");
        tail.extend(50u64.to_be_bytes());
        walk.feed(110, &tail);
        assert_eq!(walk.claimed_end, 166);
    }

    #[test]
    fn log_lines_that_mean_truncation() {
        let error = ffi::AV_LOG_ERROR as c_int;
        let mkv = "matroska,webm";
        let t = truncation_from_log(mkv, error, "File ended prematurely at pos. 4096 (0x1000)\n")
            .unwrap();
        assert_eq!((t.reason, t.offset), (TruncationReason::Logged, Some(4096)));
        assert!(truncation_from_log(mkv, error, "File ended prematurely\n").is_some());
        assert!(
            truncation_from_log(mkv, ffi::AV_LOG_DEBUG as c_int, "File ended prematurely")
                .is_none()
        );
        let mov = "mov,mp4,m4a,3gp,3g2,mj2";
        let t = truncation_from_log(mov, error, "stream 1, offset 0x9e3a: partial file\n").unwrap();
        assert_eq!((t.stream, t.offset), (Some(1), Some(0x9e3a)));
        let t = truncation_from_log(mov, error, "root atom offset 0x100: partial file").unwrap();
        assert_eq!((t.stream, t.offset), (None, Some(0x100)));
        let t =
            truncation_from_log(mov, error, "Packet corrupt (stream = 0, dts = 1024).").unwrap();
        assert_eq!(t.stream, Some(0));
        assert!(truncation_from_log(mov, error, "moov atom not found").is_none());
        assert!(truncation_from_log(mkv, error, "stream 1, offset 0x9e3a: partial file").is_none());
    }
}
