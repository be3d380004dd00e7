//! Copies the H.264 video of a media file into a raw Annex B stream, writing through
//! ffio's custom-I/O write callback: the same bytes as
//! `ffmpeg -i INPUT -map 0:v:0 -c copy -f h264 OUTPUT`.
//!
//! ```text
//! extract_h264                          # the embedded sample MP4 -> output.h264
//! extract_h264 INPUT [OUTPUT]           # INPUT read through std::fs::File (constant memory);
//!                                       # OUTPUT defaults to output.h264
//! extract_h264 INPUT -                  # raw H.264 on standard output
//! extract_h264 --memory INPUT [OUTPUT]  # INPUT loaded into memory first, demuxed from there
//! extract_h264 --buffer-size BYTES ...  # AVIO buffer size for reading and writing
//! extract_h264 --flush-packets ...      # hand each packet to the writer at once (low latency)
//! ```
//!
//! A one-line summary (packets, bytes) goes to stderr; errors are one line on stderr and exit
//! status 1. `--stream`, which used to select reading through File, is still accepted: it is
//! the default now.

use std::io::{self, Read, Seek, Write};
use std::process::ExitCode;

use ffio::{CustomIo, CustomIoBuilder, Demuxer, MediaType, Muxer, Packet};

/// A 2-second 320x240 H.264 + AAC MP4 with its `moov` box at the end.
static SAMPLE: &[u8] = include_bytes!("../tests/data/h264_aac.mp4");

const USAGE: &str = "usage: extract_h264 [--buffer-size BYTES] [--flush-packets] \
                     [--memory] [INPUT [OUTPUT | -]]";

struct Args {
    input: Option<String>,
    output: String,
    buffer_size: Option<usize>,
    flush_packets: bool,
    memory: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut buffer_size = None;
    let mut flush_packets = false;
    let mut memory = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--buffer-size" => {
                let value = args.next().ok_or("--buffer-size needs a value")?;
                let size = value
                    .parse::<usize>()
                    .map_err(|_| format!("--buffer-size: {value:?} is not a number of bytes"))?;
                buffer_size = Some(size);
            }
            "--flush-packets" => flush_packets = true,
            "--memory" => memory = true,
            // Reading through File was `--stream` before it became the default.
            "--stream" => {}
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}; {USAGE}")),
            _ => paths.push(arg),
        }
    }
    if paths.len() > 2 {
        return Err(format!("too many arguments; {USAGE}"));
    }
    let mut paths = paths.into_iter();
    let input = paths.next();
    if input.as_deref() == Some("-") {
        return Err("INPUT is read from a file; - is only for OUTPUT".to_owned());
    }
    if memory && input.is_none() {
        return Err(format!("--memory needs an INPUT file; {USAGE}"));
    }
    Ok(Args {
        input,
        output: paths.next().unwrap_or_else(|| "output.h264".to_owned()),
        buffer_size,
        flush_packets,
        memory,
    })
}

/// Counts the bytes that reach the real writer.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W> Counting<W> {
    fn new(inner: W) -> Self {
        Self { inner, bytes: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The h264 muxer never seeks; this is here for the type (the count would only be of the
/// bytes written, not the size, if it did).
impl<W: Seek> Seek for Counting<W> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn builder(args: &Args) -> CustomIoBuilder {
    let builder = CustomIo::builder();
    match args.buffer_size {
        Some(size) => builder.buffer_size(size),
        None => builder,
    }
}

/// Copies the first video stream of `input` as raw H.264 into the writing context that
/// `output` makes from a builder.
fn extract<R: Read + Seek, W: Write>(
    args: &Args,
    input: R,
    output: impl FnOnce(CustomIoBuilder) -> ffio::Result<CustomIo<Counting<W>>>,
) -> Result<(u64, u64), String> {
    let io = builder(args)
        .seekable_reader(input)
        .map_err(|e| e.chain())?;
    let mut demuxer = Demuxer::open(io).map_err(|e| e.chain())?;

    // `-map 0:v:0`: the first video stream, which must be H.264.
    let video = demuxer
        .streams()
        .find(|s| s.media_type() == MediaType::Video)
        .ok_or("the input has no video stream")?;
    if video.codec_name() != "h264" {
        return Err(format!(
            "the input's video is {}, not H.264",
            video.codec_name()
        ));
    }
    let (video_index, time_base) = (video.index(), video.time_base());
    // Like `-map 0:v:0`: the other streams' packets are not even read.
    demuxer
        .keep_streams(&[video_index])
        .map_err(|e| e.chain())?;

    let io = output(builder(args).flush_packets(args.flush_packets)).map_err(|e| e.chain())?;
    let mut muxer = Muxer::new(io, "h264").map_err(|e| e.chain())?;
    let video = demuxer.stream(video_index).ok_or("video stream vanished")?;
    muxer.add_stream_from(&video).map_err(|e| e.chain())?;
    muxer.write_header(&[]).map_err(|e| e.chain())?;

    let mut packets = 0u64;
    let mut packet = Packet::new();
    while demuxer
        .read_packet_into(&mut packet)
        .map_err(|e| e.chain())?
    {
        if packet.stream_index() != video_index {
            continue;
        }
        packet.set_stream_index(0);
        muxer
            .write_packet(&mut packet, time_base)
            .map_err(|e| e.chain())?;
        packets += 1;
    }
    let written = muxer.finish().map_err(|e| e.error().chain())?;
    Ok((packets, written.bytes))
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let name = args.input.as_deref().unwrap_or("the built-in sample");
    let (packets, bytes) = match (&args.input, args.memory) {
        (None, _) => to_output(&args, io::Cursor::new(SAMPLE))?,
        (Some(path), true) => {
            let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            to_output(&args, io::Cursor::new(&data[..]))?
        }
        (Some(path), false) => {
            let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
            to_output(&args, file)?
        }
    };
    let to = if args.output == "-" {
        "standard output"
    } else {
        &args.output
    };
    eprintln!("extract_h264: {packets} packets, {bytes} bytes of H.264 from {name} to {to}");
    Ok(())
}

/// Runs the extraction from `input` into the output named on the command line.
fn to_output<R: Read + Seek>(args: &Args, input: R) -> Result<(u64, u64), String> {
    if args.output == "-" {
        let stdout = Counting::new(io::stdout().lock());
        return extract(args, input, |b| b.writer(stdout));
    }
    let path = &args.output;
    let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
    // A file can seek, and saying so lets FFmpeg gather full-buffer batches in its own
    // buffer; an unseekable writer (standard output) gets them from ffio, at the cost of
    // one more copy of the output (see CustomIoBuilder::buffer_size).
    extract(args, input, |b| b.seekable_writer(Counting::new(file))).inspect_err(|_| {
        // Leave no partial output behind.
        let _ = std::fs::remove_file(path);
    })
}

fn main() -> ExitCode {
    // SAFETY: nothing else runs FFmpeg yet: main has started no other thread.
    unsafe { ffio::set_log_level(ffio::LogLevel::Quiet) };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("extract_h264: {}", message.replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}
