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
//!
//! # Raw access
//!
//! For what ffio does not wrap (decoders above all), the FFmpeg structs behind its types
//! are reachable through [`sys`] (ffmpeg-sys-next): [`Packet::as_ptr`] and
//! [`as_mut_ptr`](Packet::as_mut_ptr) (`AVPacket`: `avcodec_send_packet` takes it without
//! a copy), [`Stream::as_ptr`] and [`Stream::codecpar_ptr`] (`AVStream`,
//! `AVCodecParameters`), [`Demuxer::as_ptr`], [`Muxer::as_ptr`] and their `as_mut_ptr`
//! (`AVFormatContext`). Getting a pointer is safe; using one is `unsafe`, and these rules
//! are what keeps ffio's own guarantees standing:
//!
//! * **Only while the borrow lasts.** Each pointer is valid while the `&` (or `&mut`) it
//!   came from lives; do not keep it past that. ffio may replace or free what it points
//!   to at its next `&mut self` call.
//! * **`as_ptr` is for reading.** Write through an `as_mut_ptr` pointer only, and only
//!   what its method's documentation allows.
//! * **Free nothing.** Not the struct, not what it points to (streams, codec parameters,
//!   dictionaries, packet data): ffio frees them, once.
//! * **Leave ffio's wiring alone.** A format context's `pb` (the [`CustomIo`]), its
//!   `flags` (`AVFMT_FLAG_CUSTOM_IO` tells FFmpeg not to free `pb`), `io_open` /
//!   `io_close2` / `opaque` (the [`Opener`] and the confinement that refuses every name
//!   otherwise), `interrupt_callback` (the [`CancelHandle`] and deadlines): replacing
//!   any of them breaks memory safety or the confinement.
//! * **No I/O through the pointer.** Calls that read, seek or write through the context
//!   (`av_read_frame`, `avformat_seek_file`, `avformat_find_stream_info`,
//!   `av_write_frame`, `av_write_trailer`, `avio_*`) go through the [`Demuxer`]'s and
//!   [`Muxer`]'s methods: only they run your reader's and writer's callbacks on the one
//!   path that returns their errors and resumes their panics, and keeps the truncation
//!   checks and failure state right.
//! * **Never from inside a callback.** Your `Read`, `Write`, `Seek`, [`ChunkWrite`] or
//!   [`Opener`] runs while FFmpeg is in the middle of a call on the context: calling
//!   FFmpeg on it (or its `pb`) from there, through a pointer kept from before, re-enters
//!   FFmpeg's state mid-update.
//!
//! Decoding with ffio's packets, through `sys` and through ffmpeg-next's types, is shown
//! at [`Packet::as_ptr`]; `examples/thumbnail.rs` decodes, seeks and scales a frame.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::missing_safety_doc)]

mod bsf;
mod capture;
mod chunks;
mod concat;
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
mod timing;
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
pub use side_data::{CpbProperties, DisplayMatrix, SideData, SkipSamples};
pub use stream::{MediaType, Rational, Stream};
pub use truncation::{Truncation, TruncationReason};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The raw FFmpeg bindings ffio is built on, for what ffio does not wrap.
pub use ffmpeg_sys_next as sys;
