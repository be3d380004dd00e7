//! Marker-aware output: whole chunks (init segment, fragment, cluster) for live relays,
//! and writes aligned to a fixed size (1316-byte MPEG-TS datagrams).
//!
//! FFmpeg's muxers mark their output (`avio_write_marker`): the header, each fragment or
//! cluster start (a sync point at a keyframe, or a boundary point), the trailer. With a
//! `write_data_type` callback, FFmpeg flushes its buffer at each new marker and says which
//! kind of data each write carries, but a chunk larger than the buffer still arrives in
//! pieces, and the last bytes of a chunk only leave with the next flush. A
//! [`ChunkWrite`] writer gets neither: ffio gathers the pieces and hands over each chunk
//! whole, as soon as the muxer call that finished it returns (ffio flushes FFmpeg's buffer
//! at the end of every muxer call). So every init segment, every fragment (`moof` +
//! `mdat`), every Matroska cluster reaches the writer in one call, no later than the
//! `write_packet` of the next fragment's first packet (when FFmpeg writes the previous
//! fragment). MPEG-TS marks nothing: its chunks are what each call produced, whole
//! 188-byte packets.
//!
//! The trampolines are in io.rs, with the other callbacks; this file holds the types.

use std::fmt;
use std::io;

use ffmpeg_sys_next as ffi;

/// What a [`Chunk`] holds, from FFmpeg's write markers (`AVIODataMarkerType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChunkKind {
    /// The container's header: an init segment (`ftyp` + `moov`), Matroska's EBML header,
    /// segment info and tracks.
    Header,
    /// A point where a decoder can start: a fragment or cluster starting with a keyframe.
    SyncPoint,
    /// A fragment or cluster boundary that is not a sync point.
    BoundaryPoint,
    /// The trailer (`mfra`, cues, …).
    Trailer,
    /// Data the muxer did not mark (all of MPEG-TS; anything between markers).
    Unknown,
}

impl ChunkKind {
    pub(crate) fn from_raw(kind: ffi::AVIODataMarkerType) -> Self {
        use ffi::AVIODataMarkerType as T;
        match kind {
            T::AVIO_DATA_MARKER_HEADER => ChunkKind::Header,
            T::AVIO_DATA_MARKER_SYNC_POINT => ChunkKind::SyncPoint,
            T::AVIO_DATA_MARKER_BOUNDARY_POINT => ChunkKind::BoundaryPoint,
            T::AVIO_DATA_MARKER_TRAILER => ChunkKind::Trailer,
            _ => ChunkKind::Unknown,
        }
    }

    /// A short name: `"header"`, `"sync point"`, `"boundary point"`, `"trailer"`,
    /// `"unknown"`.
    pub fn name(self) -> &'static str {
        match self {
            ChunkKind::Header => "header",
            ChunkKind::SyncPoint => "sync point",
            ChunkKind::BoundaryPoint => "boundary point",
            ChunkKind::Trailer => "trailer",
            ChunkKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ChunkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One whole chunk of a muxer's output; see [`ChunkWrite`].
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// The bytes.
    pub data: &'a [u8],
    /// What they are.
    pub kind: ChunkKind,
    /// The marker's time in microseconds (`AV_TIME_BASE`), for sync and boundary points:
    /// the dts of the fragment's first packet.
    pub time: Option<i64>,
}

/// A writer that receives a muxer's output chunk by chunk, each whole and labelled: for
/// live relays that send each fragment as one WebSocket message or HTTP chunk. Build the
/// context with [`CustomIoBuilder::chunk_writer`](crate::CustomIoBuilder::chunk_writer) or
/// the muxer with [`Muxer::to_chunk_writer`](crate::Muxer::to_chunk_writer).
///
/// Closures `FnMut(Chunk<'_>) -> io::Result<()>` are chunk writers too.
///
/// ```
/// # fn main() -> Result<(), ffio::Error> {
/// # let input = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
/// let mut demuxer = ffio::Demuxer::from_slice(&input)?;
/// let mut kinds = Vec::new();
/// let mut muxer = ffio::Muxer::to_chunk_writer(
///     |chunk: ffio::Chunk<'_>| {
///         kinds.push(chunk.kind); // e.g. send chunk.data as one message
///         Ok(())
///     },
///     "mp4",
/// )?;
/// let mut time_bases = Vec::new();
/// for stream in demuxer.streams() {
///     muxer.add_stream_from(&stream)?;
///     time_bases.push(stream.time_base());
/// }
/// muxer.write_header(&[("movflags", "frag_keyframe+empty_moov+default_base_moof")])?;
/// while let Some(mut packet) = demuxer.read_packet()? {
///     let tb = time_bases[packet.stream_index()];
///     muxer.write_packet(&mut packet, tb)?;
/// }
/// drop(muxer.finish()?); // gives the writer (here the closure) back
/// assert_eq!(kinds[0], ffio::ChunkKind::Header); // ftyp + moov
/// assert_eq!(kinds[1], ffio::ChunkKind::SyncPoint); // moof + mdat
/// # Ok(())
/// # }
/// ```
pub trait ChunkWrite {
    /// Receives one whole chunk. An error fails the muxer call that produced it with
    /// [`Error::Io`](crate::Error::Io) (and the muxer with it).
    fn write_chunk(&mut self, chunk: Chunk<'_>) -> io::Result<()>;

    /// Called once when the muxer finishes, after the last chunk.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<F: FnMut(Chunk<'_>) -> io::Result<()>> ChunkWrite for F {
    fn write_chunk(&mut self, chunk: Chunk<'_>) -> io::Result<()> {
        self(chunk)
    }
}

/// The writer-side state of a context: the chunk being gathered, the unaligned tail.
#[derive(Debug)]
pub(crate) struct WriteSide {
    /// Writes go out in multiples of this many bytes (1 = unaligned).
    pub(crate) align: usize,
    /// Plain unseekable writers: output is gathered until this many bytes are held
    /// (0 = write at once). See `CustomIo::new` for why ffio batches, not FFmpeg.
    pub(crate) batch: usize,
    /// Bytes held back until `batch` and a multiple of `align` are reached (or the muxer
    /// finishes).
    pub(crate) tail: Vec<u8>,
    /// The chunk being gathered (chunk writers).
    pub(crate) chunk: Vec<u8>,
    pub(crate) kind: ChunkKind,
    pub(crate) time: Option<i64>,
}

impl WriteSide {
    pub(crate) fn new(align: usize, batch: usize) -> Self {
        WriteSide {
            align,
            batch,
            tail: Vec::new(),
            chunk: Vec::new(),
            kind: ChunkKind::Unknown,
            time: None,
        }
    }

    /// How many bytes of `tail ++ data` go out now: none below `batch`, else the largest
    /// multiple of `align`.
    pub(crate) fn ready_len(&self, data: &[u8]) -> usize {
        let total = self.tail.len() + data.len();
        if total < self.batch {
            0
        } else {
            total / self.align * self.align
        }
    }
}
