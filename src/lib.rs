//! # ffio: FFmpeg custom I/O, safely
//!
//! FFmpeg's libavformat normally opens files and URLs itself. Its custom-I/O API
//! (`avio_alloc_context` with `read_packet`, `write_packet` and `seek` callbacks) lets a
//! program demux from memory, a socket or any byte source, and mux into memory or any sink.
//! ffio wraps that API so it can be driven from safe Rust:
//!
//! * [`CustomIo`] owns an `AVIOContext`, its buffer and your `Read`/`Write`/`Seek` object,
//!   and installs the callbacks;
//! * [`Demuxer`] reads a container through it: streams, packets, seeking;
//! * [`Muxer`] writes a container through it: streams, header, interleaved packets, trailer.
//!
//! The traps of the C API are handled for you: reads never return 0, writes are never
//! short, the buffer FFmpeg may have replaced is the one freed, MP4 files that need seeking
//! either work (seekable reader) or fail with [`Error::NotSeekable`] (never "0 frames"),
//! your `io::Error` comes back as [`Error::Io`], and a panic in your reader or writer is
//! resumed from the ffio call that ran it instead of aborting the process.
//!
//! ```
//! # fn main() -> Result<(), ffio::Error> {
//! # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/h264_aac.mp4")).unwrap();
//! // `bytes` holds an MP4 file, e.g. an HTTP request body.
//! let mut demuxer = ffio::Demuxer::from_slice(&bytes)?;
//! for stream in demuxer.streams() {
//!     println!("stream {}: {} {}", stream.index(), stream.media_type(), stream.codec_name());
//! }
//! let mut packets = 0;
//! while let Some(packet) = demuxer.read_packet()? {
//!     packets += 1;
//! }
//! assert_eq!(packets, 50 + 88); // 50 video frames, 88 AAC frames
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::missing_safety_doc)]

mod capture;
mod chunks;
mod confine;
mod demux;
mod dict;
mod error;
mod interrupt;
mod io;
mod limits;
mod log;
mod metadata;
mod mux;
mod opener;
mod packet;
mod properties;
mod side_data;
mod stream;
mod truncation;

pub use capture::{forward_to_ffio, VaList};
pub use chunks::{Chunk, ChunkKind, ChunkWrite};
pub use demux::{Demuxer, DemuxerOptions, Packets};
pub use error::{Error, Result};
pub use interrupt::CancelHandle;
pub use io::{
    CustomIo, CustomIoBuilder, DEFAULT_READ_BUFFER_SIZE, DEFAULT_WRITE_BUFFER_SIZE, MAX_BUFFER_SIZE,
};
pub use limits::set_max_alloc;
pub use log::{set_log_level, LogLevel};
pub use metadata::{Disposition, TagIter, Tags};
pub use mux::{CodecParameters, FinishError, Muxer};
pub use opener::{OpenMode, Opened, Opener, ReadSeek, WriteSeek};
pub use packet::{Packet, PacketFlags};
pub use properties::{
    ChromaLocation, ColorPrimaries, ColorRange, ColorSpace, ColorTransfer, FieldOrder, PixelFormat,
    Profile, SampleFormat, Timestamp,
};
pub use side_data::{CpbProperties, DisplayMatrix, SideData};
pub use stream::{MediaType, Rational, Stream};
pub use truncation::{Truncation, TruncationReason};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The raw FFmpeg bindings ffio is built on, for what ffio does not wrap.
pub use ffmpeg_sys_next as sys;
