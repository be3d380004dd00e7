//! Counts the packets of every stream of a media file read through ffio's custom I/O,
//! and the frames of its first video stream.
//!
//! ```text
//! count_frames                      # the sample MP4 embedded in this binary (memory input)
//! count_frames FILE                 # FILE mapped into memory (av_file_map), demuxed from there
//! count_frames --stream FILE        # FILE read through std::fs::File (seekable, constant memory)
//! count_frames -                    # standard input (not seekable)
//! count_frames --buffer-size BYTES  # AVIO buffer size (default 64 KiB)
//! ```
//!
//! The last line on stdout is `There are N frames in total.`, N being the number of packets
//! of the first video stream. Errors are one line on stderr and exit status 1.
//!
//! `FILE` is demuxed from memory without being copied: it is mapped with FFmpeg's own
//! `av_file_map` (reached through `ffio::sys`), as the C programs this example replaces do.
//! As with any mapped file, another program writing FILE meanwhile can change the bytes
//! being demuxed, and shrinking it kills the process (SIGBUS): use `--stream` for files
//! that may change while they are read.

use std::io::{Read, Seek};
use std::process::ExitCode;

use ffio::{CustomIo, CustomIoBuilder, Demuxer, MediaType};

#[path = "common/count.rs"]
mod count;
#[path = "common/mapped.rs"]
mod mapped;
use mapped::MappedFile;

/// A 2-second 320x240 H.264 + AAC MP4 with its `moov` box at the end: the case the
/// original C program got wrong.
static SAMPLE: &[u8] = include_bytes!("../tests/data/h264_aac.mp4");

const USAGE: &str = "usage: count_frames [--buffer-size BYTES] [--stream] [FILE | -]";

enum Input {
    Sample,
    Mapped(String),
    Stream(String),
    Stdin,
}

struct Args {
    input: Input,
    buffer_size: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut buffer_size = None;
    let mut stream = false;
    let mut path = None;
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
            "--stream" => stream = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ if path.is_some() => return Err(format!("too many arguments\n{USAGE}")),
            _ => path = Some(arg),
        }
    }
    let input = match (path, stream) {
        (None, false) => Input::Sample,
        (None, true) => return Err(format!("--stream needs a FILE\n{USAGE}")),
        (Some(p), false) if p == "-" => Input::Stdin,
        (Some(p), true) if p == "-" => {
            return Err("--stream reads a file; standard input is read with -".to_owned())
        }
        (Some(p), false) => Input::Mapped(p),
        (Some(p), true) => Input::Stream(p),
    };
    Ok(Args { input, buffer_size })
}

fn builder(args: &Args) -> CustomIoBuilder {
    let mut builder = CustomIo::builder();
    if let Some(size) = args.buffer_size {
        builder = builder.buffer_size(size);
    }
    builder
}

fn seekable<R: Read + Seek>(args: &Args, reader: R) -> Result<Demuxer<R>, String> {
    let io = builder(args)
        .seekable_reader(reader)
        .map_err(|e| e.chain())?;
    Demuxer::open(io).map_err(|e| e.chain())
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    match &args.input {
        Input::Sample => count(seekable(&args, std::io::Cursor::new(SAMPLE))?),
        Input::Mapped(path) => {
            let file = MappedFile::open(path)?;
            let demuxer = seekable(&args, std::io::Cursor::new(file.as_slice()))?;
            count(demuxer)
        }
        Input::Stream(path) => {
            let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
            count(seekable(&args, file)?)
        }
        Input::Stdin => {
            let io = builder(&args)
                .reader(std::io::stdin().lock())
                .map_err(|e| e.chain())?;
            count(Demuxer::open(io).map_err(|e| e.chain())?)
        }
    }
}

fn count<R>(mut demuxer: Demuxer<R>) -> Result<(), String> {
    let packets = count::count_packets(&mut demuxer)?;
    // Everything is checked before anything is printed: on error, stdout stays empty.
    let mut lines = Vec::new();
    let mut first_video = None;
    for stream in demuxer.streams() {
        let n = packets.get(stream.index()).copied().unwrap_or(0);
        lines.push(format!(
            "stream {}: {} {}, {} packets",
            stream.index(),
            stream.media_type(),
            stream.codec_name(),
            n
        ));
        if first_video.is_none() && stream.media_type() == MediaType::Video {
            first_video = Some((stream.index(), n, stream.frames()));
        }
    }
    let (index, frames, declared) = first_video.ok_or("the input has no video stream")?;
    if let Some(declared) = declared.filter(|&d| frames < d) {
        // FFmpeg ends a file whose media data is cut short with a plain end of file; the
        // container's own frame count tells us it is incomplete.
        return Err(format!(
            "the input is truncated: stream {index} declares {declared} frames but only {frames} could be read"
        ));
    }
    for line in lines {
        println!("{line}");
    }
    println!("There are {frames} frames in total.");
    Ok(())
}

fn main() -> ExitCode {
    // Errors are reported once, by us, as one line.
    // SAFETY: nothing else runs FFmpeg yet: main has started no other thread.
    unsafe { ffio::set_log_level(ffio::LogLevel::Quiet) };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("count_frames: {}", message.replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}
